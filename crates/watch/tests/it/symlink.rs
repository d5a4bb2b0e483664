//! `latest.json -> <timestamp>.json` symlinks swapped by the producer, in one directory and
//! across directories.

use std::time::Duration;

use crate::support::{
    OnTheWay, Scene, config, expect_bytes, expect_no_event, sh, start_watching, swap_symlink,
    version, versions,
};

#[tokio::test]
async fn atomic_symlink_swap_is_seen_and_reports_the_target() {
    let scene = Scene::new();
    let history = scene.path("audit-history");
    std::fs::create_dir(&history).unwrap();
    let latest = history.join("latest.json");
    std::fs::write(history.join("2026-01-01T03-00-00Z.json"), version(0)).unwrap();
    std::os::unix::fs::symlink("2026-01-01T03-00-00Z.json", &latest).unwrap();
    let mut watcher = start_watching(config(&latest), Some(&version(0))).await;

    for n in 1..5 {
        let name = format!("2026-01-0{}T03-00-00Z.json", n + 1);
        std::fs::write(history.join(&name), version(n)).unwrap();
        swap_symlink(&latest, std::path::Path::new(&name));
        let resolved = expect_bytes(&mut watcher, &version(n), &[], OnTheWay::Nothing).await;
        assert_eq!(resolved, history.join(&name));
    }

    // The current target is watched too: writing it in place is seen ...
    std::fs::write(history.join("2026-01-05T03-00-00Z.json"), version(10)).unwrap();
    expect_bytes(&mut watcher, &version(10), &[], OnTheWay::Nothing).await;
    // ... and an old snapshot is just another file.
    std::fs::write(history.join("2026-01-02T03-00-00Z.json"), version(11)).unwrap();
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn ln_sf_is_seen() {
    let scene = Scene::new();
    let latest = scene.path("latest.json");
    std::fs::write(scene.path("a.json"), version(0)).unwrap();
    sh(&scene.root, "ln -sf a.json latest.json");
    let mut watcher = start_watching(config(&latest), Some(&version(0))).await;
    for n in 1..4 {
        std::fs::write(scene.path(&format!("s{n}.json")), version(n)).unwrap();
        sh(&scene.root, &format!("ln -sf s{n}.json latest.json"));
        // `ln -sf` may unlink before it links: a `Missing` in between is honest.
        expect_bytes(&mut watcher, &version(n), &versions(0..n), OnTheWay::MissingAndModes).await;
    }
}

#[tokio::test]
async fn swap_to_a_target_in_another_directory_moves_the_watch() {
    let scene = Scene::new();
    let old_store = scene.path("store-a");
    let new_store = scene.path("store-b");
    let links = scene.path("links");
    for dir in [&old_store, &new_store, &links] {
        std::fs::create_dir(dir).unwrap();
    }
    let latest = links.join("latest.json");
    std::fs::write(old_store.join("report.json"), version(0)).unwrap();
    std::os::unix::fs::symlink("../store-a/report.json", &latest).unwrap();
    let mut watcher = start_watching(config(&latest), Some(&version(0))).await;

    // In-place writes to the target in its own directory are seen.
    std::fs::write(old_store.join("report.json"), version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;

    std::fs::write(new_store.join("report.json"), version(2)).unwrap();
    swap_symlink(&latest, &new_store.join("report.json"));
    let resolved = expect_bytes(&mut watcher, &version(2), &[], OnTheWay::Nothing).await;
    assert_eq!(resolved, new_store.join("report.json"));

    // The new target's directory is now watched, the old one is not.
    std::fs::write(new_store.join("report.json"), version(3)).unwrap();
    expect_bytes(&mut watcher, &version(3), &[], OnTheWay::Nothing).await;
    let reads = watcher.stats().reads;
    std::fs::write(old_store.join("report.json"), version(4)).unwrap();
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
    assert_eq!(watcher.stats().reads, reads, "a write to the old target caused a read");
}
