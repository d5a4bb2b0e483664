//! The file and its directory coming and going.

use gitops_watch::{PollingReason, WatchMode};

use crate::support::{
    OnTheWay, Scene, config, expect_bytes, expect_missing, expect_mode, start, start_watching,
    version,
};

#[tokio::test]
async fn delete_then_recreate_reports_missing_then_the_file_again() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;

    std::fs::remove_file(&report).unwrap();
    expect_missing(&mut watcher, OnTheWay::Nothing).await;
    // The same bytes as before the removal are news again: the consumer saw the file go.
    std::fs::write(&report, version(0)).unwrap();
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::Nothing).await;

    std::fs::rename(&report, scene.path("moved-away.json")).unwrap();
    expect_missing(&mut watcher, OnTheWay::Nothing).await;
    std::fs::write(scene.path("next.json"), version(1)).unwrap();
    std::fs::rename(scene.path("next.json"), &report).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
}

#[tokio::test]
async fn file_created_after_the_watch_started_is_seen() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let mut watcher = start_watching(config(&report), None).await;
    std::fs::write(&report, version(0)).unwrap();
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::Nothing).await;
}

#[tokio::test]
async fn directory_removed_and_recreated_is_watched_again() {
    let scene = Scene::new();
    let dir = scene.path("reports");
    std::fs::create_dir(&dir).unwrap();
    let report = dir.join("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;

    std::fs::remove_dir_all(&dir).unwrap();
    expect_missing(&mut watcher, OnTheWay::MissingAndModes).await;
    assert!(
        matches!(
            watcher.mode(),
            WatchMode::Polling { reason: PollingReason::DirectoryMissing { .. } }
        ),
        "a missing directory is polled for, and the mode says so: {:?}",
        watcher.mode()
    );

    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&report, version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::MissingAndModes).await;
    assert_eq!(watcher.mode(), WatchMode::Watching);

    // Watched by the OS again: in-place writes and renames in the new directory are seen.
    std::fs::write(&report, version(2)).unwrap();
    expect_bytes(&mut watcher, &version(2), &[], OnTheWay::Nothing).await;
    crate::support::write_atomically(&report, &version(3));
    expect_bytes(&mut watcher, &version(3), &[], OnTheWay::Nothing).await;
}

#[tokio::test]
async fn watch_started_before_its_directory_exists_picks_it_up() {
    let scene = Scene::new();
    let dir = scene.path("not-yet");
    let report = dir.join("GitRepoReport.json");
    let mut watcher = start(config(&report));
    expect_mode(&mut watcher, |mode| {
        matches!(mode, WatchMode::Polling { reason: PollingReason::DirectoryMissing { .. } })
    })
    .await;
    expect_missing(&mut watcher, OnTheWay::Nothing).await;

    std::fs::create_dir(&dir).unwrap();
    std::fs::write(&report, version(0)).unwrap();
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::MissingAndModes).await;
    assert_eq!(watcher.mode(), WatchMode::Watching);
    std::fs::write(&report, version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
}

#[tokio::test]
async fn unreadable_path_is_reported_and_recovers() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&version(0))).await;

    std::fs::remove_file(&report).unwrap();
    std::fs::create_dir(&report).unwrap();
    loop {
        match crate::support::next_event(&mut watcher).await {
            gitops_watch::WatchEvent::Unreadable { resolved, .. } => {
                assert_eq!(resolved, report);
                break;
            }
            // The removal may be read before the directory appears.
            gitops_watch::WatchEvent::Missing { .. } => {}
            other => panic!("expected unreadable, got {other:?}"),
        }
    }
    std::fs::remove_dir(&report).unwrap();
    std::fs::write(&report, version(0)).unwrap();
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::MissingAndModes).await;
}

#[tokio::test]
async fn dangling_symlink_is_missing_until_its_target_appears() {
    let scene = Scene::new();
    let latest = scene.path("latest.json");
    std::os::unix::fs::symlink("snapshot.json", &latest).unwrap();
    let mut watcher = start_watching(config(&latest), None).await;
    std::fs::write(scene.path("snapshot.json"), version(0)).unwrap();
    let resolved = expect_bytes(&mut watcher, &version(0), &[], OnTheWay::Nothing).await;
    assert_eq!(resolved, scene.path("snapshot.json"));
}
