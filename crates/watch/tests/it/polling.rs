//! `force_polling`: all three producer styles are still seen.

use std::time::Duration;

use gitops_watch::{PollingReason, WatchConfig, WatchEvent, WatchMode};

use crate::support::{
    OnTheWay, Scene, config, expect_bytes, expect_missing, next_event, start, swap_symlink,
    version, write_atomically,
};

#[tokio::test]
async fn forced_polling_sees_in_place_rename_and_symlink_swap() {
    let scene = Scene::new();
    let latest = scene.path("latest.json");
    std::fs::write(scene.path("a.json"), version(0)).unwrap();
    std::os::unix::fs::symlink("a.json", &latest).unwrap();
    let config = WatchConfig {
        force_polling: true,
        poll_interval: Duration::from_millis(50),
        ..config(&latest)
    };
    let mut watcher = start(config);
    match next_event(&mut watcher).await {
        WatchEvent::Mode(WatchMode::Polling { reason: PollingReason::Forced }) => {}
        other => panic!("expected forced polling, got {other:?}"),
    }
    expect_bytes(&mut watcher, &version(0), &[], OnTheWay::Nothing).await;

    // In place, through the link.
    std::fs::write(scene.path("a.json"), version(1)).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
    // Temp file and rename over the target.
    write_atomically(&scene.path("a.json"), &version(2));
    expect_bytes(&mut watcher, &version(2), &[], OnTheWay::Nothing).await;
    // Symlink swap.
    std::fs::write(scene.path("b.json"), version(3)).unwrap();
    swap_symlink(&latest, std::path::Path::new("b.json"));
    let resolved = expect_bytes(&mut watcher, &version(3), &[], OnTheWay::Nothing).await;
    assert_eq!(resolved, scene.path("b.json"));
    // In place again: a new stamp on the same inode.
    std::fs::write(scene.path("b.json"), version(4)).unwrap();
    expect_bytes(&mut watcher, &version(4), &[], OnTheWay::Nothing).await;
    // Removed and back.
    std::fs::remove_file(scene.path("b.json")).unwrap();
    expect_missing(&mut watcher, OnTheWay::Nothing).await;
    std::fs::write(scene.path("b.json"), version(5)).unwrap();
    expect_bytes(&mut watcher, &version(5), &[], OnTheWay::Nothing).await;
    assert_eq!(watcher.mode(), WatchMode::Polling { reason: PollingReason::Forced });
}
