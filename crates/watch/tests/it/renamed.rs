//! Atomic writers: a file renamed onto the watched path is complete, so it is read at once,
//! without waiting out the debounce. The watches here have a debounce of an hour: a read that
//! still waited for it would never come within the test's wait, so "emitted at all" shows the
//! rename was enough, and no timing is asserted. Each starts with the path missing (a first read
//! of a file younger than the debounce would wait for it too).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_watch::WatchConfig;

use crate::support::{
    OnTheWay, Scene, config, expect_bytes, expect_no_event, start_watching, swap_symlink, version,
};

/// A debounce no test waits out.
fn rename_only(path: &Path) -> WatchConfig {
    WatchConfig { debounce: Duration::from_secs(3600), ..config(path) }
}

fn run(command: &mut Command) {
    let status = command.status().unwrap();
    assert!(status.success(), "{command:?} failed: {status}");
}

/// `mv` of a finished temp file, and Python's `os.replace` after writing the temp file in
/// pieces: each rename is one emission of the whole file, although the debounce is an hour.
#[tokio::test]
async fn a_real_writers_rename_is_read_without_the_debounce_as_one_whole_emission() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let temp = scene.path("GitRepoReport.json.tmp");
    let mut writers: Vec<(&str, Command)> = Vec::new();
    let mut mv = Command::new("sh");
    mv.args(["-c", "printf '%s' \"$1\" > \"$2\" && mv \"$2\" \"$3\"", "sh"]);
    writers.push(("mv", mv));
    if Command::new("python3").args(["-c", "pass"]).status().is_ok_and(|s| s.success()) {
        let mut python = Command::new("python3");
        python.args([
            "-c",
            "import os, sys\n\
             text, temp, report = sys.argv[1:]\n\
             with open(temp, 'w') as f:\n    \
                 for i in range(0, len(text), 7):\n        f.write(text[i:i + 7])\n\
             os.replace(temp, report)\n",
        ]);
        writers.push(("python os.replace", python));
    } else {
        eprintln!("python3 is not here: its writer is left out");
    }
    for (n, (name, mut writer)) in writers.into_iter().enumerate() {
        // A watch per writer: a rename within a debounce of the last such read waits for the
        // rest of it, and this debounce is an hour.
        let _ = std::fs::remove_file(&report);
        let mut watcher = start_watching(rename_only(&report), None).await;
        let text = String::from_utf8(version(10 + n)).unwrap();
        run(writer.arg(&text).arg(&temp).arg(&report));
        eprintln!("{name}: renamed");
        expect_bytes(&mut watcher, text.as_bytes(), &[], OnTheWay::Nothing).await;
        expect_no_event(&mut watcher, Duration::from_millis(300)).await;
    }
}

/// A writer that renames its temp file while it still holds it open, then writes the rest:
/// the half file must never be emitted; the writer's close ends the write and is read at once.
#[tokio::test]
async fn a_temp_file_renamed_while_still_being_written_is_read_only_when_closed() {
    if !Command::new("python3").args(["-c", "pass"]).status().is_ok_and(|s| s.success()) {
        eprintln!("python3 is not here: skipped");
        return;
    }
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let temp = scene.path("GitRepoReport.json.tmp");
    let mut watcher = start_watching(rename_only(&report), None).await;
    let text = String::from_utf8(version(21)).unwrap();
    let mut writer = Command::new("python3");
    writer.args([
        "-c",
        "import os, sys, time\n\
         text, temp, report = sys.argv[1:]\n\
         half = len(text) // 2\n\
         f = open(temp, 'w')\n\
         f.write(text[:half])\n\
         f.flush()\n\
         os.replace(temp, report)\n\
         time.sleep(0.3)\n\
         f.write(text[half:])\n\
         f.close()\n",
    ]);
    writer.arg(&text).arg(&temp).arg(&report);
    // On a thread of its own: the watch runs on this test's runtime while the writer pauses.
    let writing = tokio::task::spawn_blocking(move || run(&mut writer));
    expect_bytes(&mut watcher, text.as_bytes(), &[], OnTheWay::Nothing).await;
    writing.await.unwrap();
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

/// A symlink swapped by renaming a new link over it is read at once too, through the new link.
#[tokio::test]
async fn a_link_renamed_over_the_watched_link_is_read_without_the_debounce() {
    let scene = Scene::new();
    let link = scene.path("latest.json");
    let target = scene.path("2026-12-05.json");
    std::fs::write(&target, version(3)).unwrap();
    let mut watcher = start_watching(rename_only(&link), None).await;
    swap_symlink(&link, &target);
    let resolved = expect_bytes(&mut watcher, &version(3), &[], OnTheWay::Nothing).await;
    assert_eq!(resolved, target);
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

/// The watched file renamed away is not a complete write: with an hour's debounce nothing is
/// emitted (the default debounce reports it missing; see `lifecycle`).
#[tokio::test]
async fn the_file_renamed_away_waits_out_the_debounce() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let mut watcher = start_watching(rename_only(&report), None).await;
    let temp = scene.path("GitRepoReport.json.tmp");
    std::fs::write(&temp, version(1)).unwrap();
    std::fs::rename(&temp, &report).unwrap();
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
    std::fs::rename(&report, scene.path("GitRepoReport.json.bak")).unwrap();
    expect_no_event(&mut watcher, Duration::from_millis(500)).await;
}
