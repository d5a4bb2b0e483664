//! Bursts of writes, and other files written in the watched directory.

use std::io::Write;
use std::time::Duration;

use crate::support::{
    OnTheWay, Scene, WAIT, config, expect_bytes, expect_no_event, start_watching, version,
    versions, write_atomically,
};

#[tokio::test]
async fn burst_of_in_place_writes_ends_with_the_last_version() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;
    for n in 1..=1000 {
        std::fs::write(&report, version(n)).unwrap();
    }
    // Whatever arrives on the way must be a whole version; the last one must arrive.
    expect_bytes(&mut watcher, &version(1000), &versions(0..1000), OnTheWay::Nothing).await;
    expect_no_event(&mut watcher, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn burst_of_renames_ends_with_the_last_version() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;
    for n in 1..=1000 {
        write_atomically(&report, &version(n));
    }
    expect_bytes(&mut watcher, &version(1000), &versions(0..1000), OnTheWay::Nothing).await;
    expect_no_event(&mut watcher, Duration::from_millis(200)).await;
}

/// A log written next to the report must not cause reads, let alone a feedback loop.
#[tokio::test]
async fn other_files_in_the_directory_cause_no_read_and_no_event() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;
    let before = watcher.stats();

    let mut log = std::fs::File::create(scene.path("audit.log")).unwrap();
    for n in 0..1000 {
        writeln!(log, "line {n}").unwrap();
        std::fs::write(scene.path("scratch.json"), version(n)).unwrap();
    }
    drop(log);

    // The events did reach the watch (so this test can tell filtering from deafness) ...
    let deadline = std::time::Instant::now() + WAIT;
    while watcher.stats().ignored_events < before.ignored_events + 1000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the events never arrived: {:?}",
            watcher.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... and were dropped without a read or an event.
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
    let after = watcher.stats();
    assert_eq!(after.reads, before.reads, "other files caused reads: {after:?}");
    assert_eq!(after.relevant_events, before.relevant_events);

    // The watch is still alive for the report itself.
    std::fs::write(&report, version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
}
