//! Atomic report writing and the history folder with its `latest.json` symlink.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};

use gitops_audit::{Error, LATEST_NAME, write_history, write_report_atomic};
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
