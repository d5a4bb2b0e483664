//! Atomic report writing and the history folder with its `latest.json` symlink.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};

use gitops_audit::{Error, LATEST_NAME, prune_history, write_history, write_report_atomic};
use gitops_report::{Repo, Report, Status, Timestamp};

fn report(timestamp: &str, n_repos: usize) -> Report {
    Report {
        timestamp: Some(Timestamp::from_text(timestamp)),
        repos: (0..n_repos)
            .map(|index| Repo {
                name: format!("repo \"{index}\" \\ ü"),
                status: Status::Clean,
                ..Repo::default()
            })
            .collect(),
        ..Report::default()
    }
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn written_report_reads_back_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("GitRepoReport.json");
    fs::write(&path, "old contents").unwrap();
    let report = report("2025-06-20T03:00:00Z", 3);
    write_report_atomic(&path, &report).unwrap();
    let value: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(value, serde_json::to_value(&report).unwrap());
    assert_eq!(value["repos"][1]["name"], "repo \"1\" \\ ü");
    assert_eq!(entries(dir.path()), ["GitRepoReport.json"]);
}

#[test]
fn a_reader_never_sees_a_half_written_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    write_report_atomic(&path, &report("2025-06-20T03:00:00Z", 1)).unwrap();
    let done = AtomicBool::new(false);
    let reads = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut reads = 0;
            while !done.load(Ordering::Relaxed) {
                let bytes = fs::read(&path).expect("the file always exists");
                let value: serde_json::Value =
                    serde_json::from_slice(&bytes).expect("always whole json");
                assert!(value["repos"].is_array());
                reads += 1;
            }
            reads
        });
        // Big and small reports alternate, so a torn read would be visible as invalid JSON.
        for round in 0..100 {
            write_report_atomic(
                &path,
                &report("2025-06-20T03:00:00Z", if round % 2 == 0 { 2000 } else { 1 }),
            )
            .unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    });
    assert!(reads > 0);
    assert_eq!(entries(dir.path()), ["report.json"]);
}

#[test]
fn writing_into_a_missing_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let error = write_report_atomic(
        &dir.path().join("no/such/dir/r.json"),
        &report("2025-06-20T03:00:00Z", 1),
    )
    .unwrap_err();
    assert!(matches!(error, Error::Write { .. }), "{error:?}");
}

#[test]
fn history_keeps_every_snapshot_and_latest_points_at_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("audit-history");
    let first = write_history(&history, &report("2025-06-20T03:00:00Z", 1)).unwrap();
    assert_eq!(first, history.join("2025-06-20T03-00-00Z.json"));
    let latest = history.join(LATEST_NAME);
    assert_eq!(fs::read_link(&latest).unwrap(), std::path::Path::new("2025-06-20T03-00-00Z.json"));

    let second = write_history(&history, &report("2025-06-20T04:00:00Z", 2)).unwrap();
    assert_eq!(fs::read_link(&latest).unwrap(), std::path::Path::new("2025-06-20T04-00-00Z.json"));
    assert_eq!(fs::read(&latest).unwrap(), fs::read(&second).unwrap());
    assert!(fs::symlink_metadata(&latest).unwrap().file_type().is_symlink());
    assert_eq!(
        entries(&history),
        ["2025-06-20T03-00-00Z.json", "2025-06-20T04-00-00Z.json", "latest.json"]
    );

    // The hyphenated timestamp form that file names use is read back as a time.
    let stem = second.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(Timestamp::from_text(&stem).instant.is_some());
}

#[test]
fn latest_replaces_a_plain_file_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(LATEST_NAME), "an old producer's copy").unwrap();
    write_history(dir.path(), &report("2025-06-20T03:00:00Z", 1)).unwrap();
    assert!(fs::symlink_metadata(dir.path().join(LATEST_NAME)).unwrap().file_type().is_symlink());
}

/// The snapshot file name of the audit `hour` hours after 2025-06-01T00:00:00Z.
fn snapshot_name(hour: u32) -> String {
    format!("2025-06-{:02}T{:02}-00-00Z.json", 1 + hour / 24, hour % 24)
}

fn snapshots(dir: &std::path::Path) -> Vec<String> {
    entries(dir).into_iter().filter(|name| name.starts_with("2025-")).collect()
}

#[test]
fn pruning_keeps_the_newest_snapshots_latest_and_anything_that_is_no_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("audit-history");
    // 35 audits an hour apart, written out of order (listing order cannot pass for age), the
    // last one written being the third oldest, so `latest.json` points at an old snapshot.
    let mut hours: Vec<u32> = (0..35).filter(|hour| *hour != 2).rev().collect();
    hours.push(2);
    for hour in &hours {
        let stamp = format!("2025-06-{:02}T{:02}:00:00Z", 1 + hour / 24, hour % 24);
        write_history(&history, &report(&stamp, 1)).unwrap();
    }
    assert_eq!(
        fs::read_link(history.join(LATEST_NAME)).unwrap().to_string_lossy(),
        snapshot_name(2)
    );
    fs::write(history.join("notes.txt"), "mine").unwrap();
    fs::write(history.join("not-a-time.json"), "{}").unwrap();

    let deleted: Vec<String> = prune_history(&history, 30)
        .unwrap()
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(deleted, [0, 1, 3, 4].map(snapshot_name), "the oldest, oldest first");
    let mut kept: Vec<String> = (5..35).map(snapshot_name).collect();
    kept.push(snapshot_name(2));
    kept.sort();
    assert_eq!(snapshots(&history), kept, "the newest 30 and the one latest.json points at");
    assert!(history.join("notes.txt").exists());
    assert!(history.join("not-a-time.json").exists());
    assert!(!fs::read(history.join(LATEST_NAME)).unwrap().is_empty(), "latest still resolves");

    // Pruning again changes nothing, 0 keeps everything, and 1 keeps the newest and latest's.
    assert!(prune_history(&history, 30).unwrap().is_empty());
    assert!(prune_history(&history, 0).unwrap().is_empty());
    assert_eq!(prune_history(&history, 1).unwrap().len(), 29);
    assert_eq!(snapshots(&history), [snapshot_name(2), snapshot_name(34)]);
}
