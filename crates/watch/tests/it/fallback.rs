//! OS watcher failure: with the inotify instance limit lowered, setting the watcher up fails, the
//! watch says it is polling, still sees every change, and goes back to OS watching when it can.

use std::path::Path;
use std::time::Duration;

use gitops_watch::{PollingReason, WatchConfig, WatchEvent, WatchMode, Watcher, watch};

use crate::support::{
    INSTANCES, LoweredLimit, OnTheWay, Scene, config, exclusive_inotify, expect_bytes, expect_mode,
    next_event, version, write_atomically,
};

/// Starts a watch while no new inotify instance can be created. The limit is lowered only for
/// the moment the watch is set up, and no other test creates a watcher meanwhile.
fn start_without_inotify(config: WatchConfig) -> Option<Watcher> {
    let _exclusive = exclusive_inotify();
    let lowered = LoweredLimit::lower(INSTANCES, 0)?;
    let watcher = watch(config);
    drop(lowered);
    Some(watcher.unwrap())
}

fn assert_unavailable(event: WatchEvent) {
    match event {
        WatchEvent::Mode(WatchMode::Polling {
            reason: PollingReason::WatcherUnavailable { error },
        }) => {
            assert!(!error.is_empty());
        }
        other => panic!("expected polling because the watcher is unavailable, got {other:?}"),
    }
}

fn report_in(scene: &Scene) -> std::path::PathBuf {
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    report
}

fn symlink_swap(dir: &Path, n: usize) {
    let name = format!("snapshot-{n}.json");
    std::fs::write(dir.join(&name), version(n)).unwrap();
    crate::support::swap_symlink(&dir.join("latest.json"), Path::new(&name));
}

#[tokio::test]
async fn setup_failure_falls_back_to_polling_and_sees_changes() {
    let scene = Scene::new();
    report_in(&scene);
    std::os::unix::fs::symlink("GitRepoReport.json", scene.path("latest.json")).unwrap();
    // Never retry during the test: it must see the changes by polling alone.
    let config = WatchConfig {
        watcher_retry_interval: Duration::from_secs(3600),
        ..config(&scene.path("latest.json"))
    };
    let Some(mut watcher) = start_without_inotify(config) else { return };
    assert!(matches!(watcher.mode(), WatchMode::Polling { .. }));
    assert_unavailable(next_event(&mut watcher).await);
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::Nothing).await;

    std::fs::write(scene.path("GitRepoReport.json"), version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
    write_atomically(&scene.path("GitRepoReport.json"), &version(2));
    expect_bytes(&mut watcher, &version(2), &[], OnTheWay::Nothing).await;
    symlink_swap(&scene.root, 3);
    expect_bytes(&mut watcher, &version(3), &[], OnTheWay::Nothing).await;
    assert!(matches!(
        watcher.mode(),
        WatchMode::Polling { reason: PollingReason::WatcherUnavailable { .. } }
    ));
}

#[tokio::test]
async fn polling_goes_back_to_os_watching_when_it_can() {
    let scene = Scene::new();
    let report = report_in(&scene);
    let config = WatchConfig {
        watcher_retry_interval: Duration::from_millis(200),
        // Slow polling, so a change seen quickly afterwards was seen by the OS watcher.
        poll_interval: Duration::from_secs(3600),
        ..config(&report)
    };
    let Some(mut watcher) = start_without_inotify(config) else { return };
    assert_unavailable(next_event(&mut watcher).await);
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::Nothing).await;
    expect_mode(&mut watcher, |mode| *mode == WatchMode::Watching).await;
    std::fs::write(&report, version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
}
