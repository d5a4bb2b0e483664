//! The producers' ways of writing the file: in place, slowly, through a temp file, and the real
//! shell tools (`>` redirection, `mv`, `sed -i`).

use std::io::Write;
use std::time::Duration;

use gitops_watch::{WatchConfig, WatchEvent};

use crate::support::{
    OnTheWay, Scene, config, expect_bytes, next_event, sh, start_watching, version, versions,
    write_atomically,
};

#[tokio::test]
async fn in_place_writes_are_each_seen() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;
    for n in 1..6 {
        std::fs::write(&report, version(n)).unwrap();
        let resolved = expect_bytes(&mut watcher, &version(n), &[], OnTheWay::Nothing).await;
        assert_eq!(resolved, report);
    }
}

/// A writer that stops halfway for far longer than the debounce must not have its half file
/// emitted: the read waits for the writer to close the file.
#[tokio::test]
async fn slow_writer_half_file_is_never_emitted() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;
    for n in 1..4 {
        let bytes = version(n);
        let (first, rest) = bytes.split_at(bytes.len() / 2);
        let mut file = std::fs::File::create(&report).unwrap();
        file.write_all(first).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        file.write_all(rest).unwrap();
        drop(file);
        // Only the complete version may arrive: a half file is in no allowed list.
        expect_bytes(&mut watcher, &bytes, &[], OnTheWay::Nothing).await;
    }
}

#[tokio::test]
async fn temp_file_and_rename_is_seen_every_time() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;
    for n in 1..6 {
        write_atomically(&report, &version(n));
        expect_bytes(&mut watcher, &version(n), &[], OnTheWay::Nothing).await;
    }
}

#[tokio::test]
async fn shell_redirect_mv_and_sed_in_place_are_seen() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, "{\"health_status\":\"green\"}\n").unwrap();
    let mut watcher =
        start_watching(config(&report), Some(b"{\"health_status\":\"green\"}\n")).await;

    std::fs::write(scene.path("source.json"), version(1)).unwrap();
    sh(&scene.root, "cat source.json > GitRepoReport.json");
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;

    std::fs::write(scene.path("staged.json"), version(2)).unwrap();
    sh(&scene.root, "mv staged.json GitRepoReport.json");
    expect_bytes(&mut watcher, &version(2), &[], OnTheWay::Nothing).await;

    sh(&scene.root, "sed -i 's/\"version\":2/\"version\":3/' GitRepoReport.json");
    expect_bytes(&mut watcher, &version(3), &[], OnTheWay::Nothing).await;

    sh(
        &scene.root,
        "echo '{\"health_status\":' > GitRepoReport.json; echo '\"red\"}' >> GitRepoReport.json",
    );
    expect_bytes(
        &mut watcher,
        b"{\"health_status\":\n\"red\"}\n",
        &[b"{\"health_status\":\n".to_vec()],
        OnTheWay::Nothing,
    )
    .await;
}

#[tokio::test]
async fn trigger_emits_unchanged_bytes_and_unchanged_rewrites_are_not_emitted() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;

    // The same bytes written again are not news ...
    std::fs::write(&report, version(0)).unwrap();
    write_atomically(&report, &version(0));
    // ... so the trigger's forced read is the next event.
    tokio::time::sleep(Duration::from_millis(200)).await;
    watcher.trigger();
    match next_event(&mut watcher).await {
        WatchEvent::Changed { bytes, forced, .. } => {
            assert!(forced, "a triggered read says so");
            assert_eq!(&bytes[..], &version(0)[..]);
        }
        other => panic!("expected the forced read, got {other:?}"),
    }
    std::fs::write(&report, version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &versions(0..1), OnTheWay::Nothing).await;
}

/// A file truncated and left empty is still emitted: an empty read is held back as a write
/// that has begun, for at most `max_write_wait`.
#[tokio::test]
async fn a_file_left_empty_is_emitted_after_the_write_wait() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let config = WatchConfig { max_write_wait: Duration::from_millis(200), ..config(&report) };
    let mut watcher = start_watching(config, Some(&version(0))).await;
    drop(std::fs::File::create(&report).unwrap());
    expect_bytes(&mut watcher, b"", &[], OnTheWay::Nothing).await;
    std::fs::write(&report, version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
}

/// Truncating on open empties the file a moment before the kernel queues the event, so a read
/// in that moment saw an empty file that no writer meant (3 to 17 of 300 writes of a 330 KB
/// report before the fix). Many in-place rewrites of a large file, each right after the last,
/// must only ever emit whole versions.
#[tokio::test]
async fn rapid_in_place_rewrites_of_a_large_file_never_emit_it_empty() {
    const WRITES: usize = 150;
    let large = |n: usize| {
        format!("{{\"version\":{n},\"pad\":\"{}\"}}\n", "x".repeat(320 * 1024)).into_bytes()
    };
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, large(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&large(0))).await;
    let path = report.clone();
    let writer = std::thread::spawn(move || {
        for n in 1..=WRITES {
            std::fs::write(&path, large(n)).unwrap();
            // Pauses around the debounce, so reads often fall just as the next write opens.
            std::thread::sleep(Duration::from_micros(3_000 + (n as u64 * 7_919) % 6_000));
        }
    });
    let all: Vec<Vec<u8>> = (0..=WRITES).map(large).collect();
    expect_bytes(&mut watcher, &large(WRITES), &all, OnTheWay::Nothing).await;
    writer.join().unwrap();
}
