//! The tree watch on real git repositories in a temp directory: one event per clone per burst,
//! nothing for skipped and hidden folders, reads or files beside the clones, new clones seen,
//! and honest events when the OS watcher is missing or loses events.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_watch::{TreeConfig, TreeEvent, TreeWatcher, watch_tree};

use crate::support::{
    INSTANCES, LoweredLimit, QUEUED_EVENTS, Scene, WAIT, exclusive_inotify, shared_inotify,
};

/// Long enough that the few git processes of one burst, started one after another on a busy
/// machine, fall within one quiet period; nothing below asserts how long anything took.
const QUIET: Duration = Duration::from_millis(800);

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?} failed: {status}");
}

/// A clone with one commit.
fn clone_in(root: &Path, name: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    git(&dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), format!("{name}\n")).unwrap();
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
}

/// A burst as a person makes one: a few files, `git add`, `git commit`.
fn commit_some_files(root: &Path, name: &str, tag: &str) {
    let dir = root.join(name);
    for n in 0..5 {
        std::fs::write(dir.join(format!("{tag}-{n}.txt")), format!("{tag} {n}\n")).unwrap();
    }
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", tag]);
}

fn config(root: &Path) -> TreeConfig {
    TreeConfig {
        skip: vec!["tmp".to_owned()],
        quiet: QUIET,
        max_delay: Duration::from_secs(60),
        ..TreeConfig::new(root)
    }
}

/// Starts a tree watch (never while another test has an inotify limit lowered).
fn start(config: TreeConfig) -> TreeWatcher {
    let _shared = shared_inotify();
    watch_tree(config).unwrap()
}

async fn next(watcher: &mut TreeWatcher) -> TreeEvent {
    tokio::time::timeout(WAIT, watcher.next())
        .await
        .expect("no event within the wait")
        .expect("the watch ended")
}

async fn expect_changed(watcher: &mut TreeWatcher, name: &str) {
    match next(watcher).await {
        TreeEvent::Changed { name: changed, .. } if changed == name => {}
        other => panic!("expected {name} to change, got {other:?}"),
    }
}

/// Asserts no event arrives for a few quiet periods.
async fn expect_no_event(watcher: &mut TreeWatcher) {
    if let Ok(event) = tokio::time::timeout(QUIET * 3, watcher.next()).await {
        panic!("expected no event, got {event:?}");
    }
}

#[tokio::test]
async fn commits_in_two_clones_yield_one_change_each() {
    let scene = Scene::new();
    for name in ["alpha", "beta", "quiet"] {
        clone_in(&scene.root, name);
    }
    let mut watcher = start(config(&scene.root));

    commit_some_files(&scene.root, "alpha", "a");
    commit_some_files(&scene.root, "beta", "b");
    let mut changes = BTreeMap::new();
    while changes.len() < 2 {
        match next(&mut watcher).await {
            TreeEvent::Changed { name, .. } => *changes.entry(name).or_insert(0) += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    expect_no_event(&mut watcher).await;
    assert_eq!(changes, BTreeMap::from([("alpha".to_owned(), 1), ("beta".to_owned(), 1)]));
    assert_eq!(watcher.stats().dropped_events, 0);
}

#[tokio::test]
async fn skipped_hidden_folders_root_files_and_reads_yield_nothing() {
    let scene = Scene::new();
    clone_in(&scene.root, "alpha");
    clone_in(&scene.root, "beta");
    for folder in ["tmp", "TMP-not-skipped-by-prefix-only", ".cache"] {
        std::fs::create_dir(scene.path(folder)).unwrap();
    }
    let mut watcher = start(config(&scene.root));
    let before = watcher.stats();

    for n in 0..100 {
        std::fs::write(scene.path("tmp").join(format!("{n}.log")), "x").unwrap();
        std::fs::write(scene.path(".cache").join(format!("{n}.bin")), "x").unwrap();
        std::fs::write(scene.path("audit.log"), format!("line {n}\n")).unwrap();
        // What an auditor does to a clone: list it and read its files.
        for entry in std::fs::read_dir(scene.path("alpha")).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                std::fs::read(&path).unwrap();
            }
        }
        std::fs::read(scene.path("alpha/.git/HEAD")).unwrap();
    }
    // The reads and the root's file did reach the watch, so this tells filtering from deafness
    // (skipped and hidden folders are not watched at all) ...
    let deadline = std::time::Instant::now() + WAIT;
    while watcher.stats().ignored_events < before.ignored_events + 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "events never arrived: {:?}",
            watcher.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... and none of it is a change.
    expect_no_event(&mut watcher).await;
    assert_eq!(watcher.stats().relevant_events, before.relevant_events);

    // A folder whose name merely starts like a skipped one is a clone.
    std::fs::write(scene.path("TMP-not-skipped-by-prefix-only/x"), "x").unwrap();
    expect_changed(&mut watcher, "TMP-not-skipped-by-prefix-only").await;
    commit_some_files(&scene.root, "beta", "b");
    expect_changed(&mut watcher, "beta").await;
    expect_no_event(&mut watcher).await;
}

#[tokio::test]
async fn clones_created_renamed_and_removed_after_start_are_seen() {
    let scene = Scene::new();
    clone_in(&scene.root, "alpha");
    let mut watcher = start(config(&scene.root));

    clone_in(&scene.root, "gamma");
    expect_changed(&mut watcher, "gamma").await;
    // The new folder is watched inside too, not just seen arriving.
    commit_some_files(&scene.root, "gamma", "g");
    expect_changed(&mut watcher, "gamma").await;
    std::fs::create_dir_all(scene.path("gamma/src/deep")).unwrap();
    expect_changed(&mut watcher, "gamma").await;
    std::fs::write(scene.path("gamma/src/deep/new.rs"), "fn main() {}\n").unwrap();
    expect_changed(&mut watcher, "gamma").await;

    // A clone made elsewhere and moved in.
    let outside = Scene::new();
    clone_in(&outside.root, "delta");
    std::fs::rename(outside.path("delta"), scene.path("delta")).unwrap();
    expect_changed(&mut watcher, "delta").await;
    commit_some_files(&scene.root, "delta", "d");
    expect_changed(&mut watcher, "delta").await;

    std::fs::rename(scene.path("gamma"), scene.path("gamma-renamed")).unwrap();
    let mut renamed = vec![name_of(next(&mut watcher).await), name_of(next(&mut watcher).await)];
    renamed.sort();
    assert_eq!(renamed, ["gamma", "gamma-renamed"]);
    commit_some_files(&scene.root, "gamma-renamed", "r");
    expect_changed(&mut watcher, "gamma-renamed").await;

    std::fs::remove_dir_all(scene.path("alpha")).unwrap();
    expect_changed(&mut watcher, "alpha").await;
    expect_no_event(&mut watcher).await;
}

fn name_of(event: TreeEvent) -> String {
    match event {
        TreeEvent::Changed { name, .. } => name,
        other => panic!("expected a change, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_root_is_unavailable_until_it_appears() {
    let scene = Scene::new();
    let root = scene.path("git");
    let config = TreeConfig { watcher_retry_interval: Duration::from_millis(200), ..config(&root) };
    let mut watcher = start(config);
    match next(&mut watcher).await {
        TreeEvent::Unavailable { reason } => {
            assert!(reason.contains(&root.display().to_string()), "{reason}");
        }
        other => panic!("expected the watch to be unavailable, got {other:?}"),
    }
    clone_in(&root, "alpha");
    // Another test may lower the inotify limits for a moment, which a retry can meet.
    loop {
        match next(&mut watcher).await {
            TreeEvent::Watching => break,
            TreeEvent::Unavailable { .. } => {}
            other => panic!("expected the watch to come back, got {other:?}"),
        }
    }
    commit_some_files(&root, "alpha", "a");
    expect_changed(&mut watcher, "alpha").await;

    std::fs::rename(&root, scene.path("git-moved")).unwrap();
    loop {
        match next(&mut watcher).await {
            TreeEvent::Unavailable { reason } => {
                assert!(reason.contains("removed or moved"), "{reason}");
                break;
            }
            // The clone moved with the root: its own watch may say so first.
            TreeEvent::Changed { name, .. } if name == "alpha" => {}
            other => panic!("expected the watch to be unavailable, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn without_inotify_the_watch_is_unavailable_then_recovers() {
    let scene = Scene::new();
    clone_in(&scene.root, "alpha");
    let config =
        TreeConfig { watcher_retry_interval: Duration::from_millis(200), ..config(&scene.root) };
    let watcher = {
        let _exclusive = exclusive_inotify();
        let Some(lowered) = LoweredLimit::lower(INSTANCES, 0) else { return };
        let watcher = watch_tree(config).unwrap();
        drop(lowered);
        watcher
    };
    let mut watcher = watcher;
    match next(&mut watcher).await {
        TreeEvent::Unavailable { reason } => {
            assert!(reason.contains("could not be set up"), "{reason}");
        }
        other => panic!("expected the watch to be unavailable, got {other:?}"),
    }
    assert_eq!(next(&mut watcher).await, TreeEvent::Watching);
    commit_some_files(&scene.root, "alpha", "a");
    expect_changed(&mut watcher, "alpha").await;
}

#[tokio::test]
async fn lost_events_are_a_rescan() {
    let scene = Scene::new();
    clone_in(&scene.root, "alpha");
    let config = TreeConfig { quiet: Duration::from_millis(50), ..config(&scene.root) };
    // An inotify queue of one event: any two events before notify's thread reads overflow it.
    let mut watcher = {
        let _exclusive = exclusive_inotify();
        let Some(lowered) = LoweredLimit::lower(QUEUED_EVENTS, 1) else { return };
        let watcher = watch_tree(config).unwrap();
        drop(lowered);
        watcher
    };
    for burst in 0..100 {
        for n in 0..100 {
            std::fs::write(scene.path("alpha").join(format!("{burst}-{n}.txt")), "x").unwrap();
        }
        // A rescan comes before the clone's change when both are due; a change alone means
        // no event was lost this time, so write another burst.
        match next(&mut watcher).await {
            TreeEvent::Rescan { .. } => return,
            TreeEvent::Changed { name, .. } if name == "alpha" => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("a queue of one event never overflowed in 10,000 writes");
}
