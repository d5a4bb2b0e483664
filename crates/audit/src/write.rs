//! Writing reports so that a reader never sees half a file: temp file in the same folder, fsync,
//! rename, fsync the folder; and the history form, `DIR/<timestamp>.json` plus a `latest.json`
//! symlink swapped by rename.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use gitops_report::Report;

use crate::{Error, Result};

/// The name of the symlink in a history folder that points at the newest snapshot.
pub const LATEST_NAME: &str = "latest.json";

/// Writes `report` to `path` atomically: a reader sees the old file or the new one, never a mix,
/// and after a crash the file is one of the two.
pub fn write_report_atomic(path: &Path, report: &Report) -> Result<()> {
    let mut bytes = report.to_json_pretty_bytes();
    bytes.push(b'\n');
    write_bytes_atomic(path, &bytes)
}

/// Writes `report` as `dir/<timestamp>.json` (the timestamp in the file-name form
/// `2026-02-11T03-00-00Z`) and points `dir/latest.json` at it, swapping the symlink atomically.
/// Creates `dir` if needed. Returns the snapshot's path.
///
/// Two audits within one second share a snapshot name; the later one replaces the earlier.
pub fn write_history(dir: &Path, report: &Report) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|cause| Error::Write { path: dir.to_owned(), cause })?;
    let file_name = format!("{}.json", snapshot_stem(report));
    let snapshot = dir.join(&file_name);
    write_report_atomic(&snapshot, report)?;
    swap_latest(dir, &file_name)?;
    Ok(snapshot)
}

/// Deletes the oldest snapshots in the history folder `dir` so that at most `keep` remain, and
/// returns the paths deleted, oldest first. `keep == 0` keeps everything.
///
/// A snapshot is a `<timestamp>.json` file as [`write_history`] names them (either timestamp form
/// the report format accepts); they are ordered by that timestamp. Anything else in the folder
/// (`latest.json`, temp files, notes) is left alone, and so is the snapshot `latest.json` points
/// at, whatever its age.
pub fn prune_history(dir: &Path, keep: usize) -> Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let list_error = |cause| Error::Prune { path: dir.to_owned(), cause };
    let latest_target = std::fs::read_link(dir.join(LATEST_NAME))
        .ok()
        .and_then(|target| target.file_name().map(std::ffi::OsStr::to_os_string));
    let mut snapshots = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|name| name.strip_suffix(".json")) else {
            continue;
        };
        let Some(instant) = gitops_report::Timestamp::from_text(stem).instant else { continue };
        if entry.file_type().is_ok_and(|kind| kind.is_file()) {
            snapshots.push((instant, name));
        }
    }
    snapshots.sort();
    let excess = snapshots.len().saturating_sub(keep);
    let mut deleted = Vec::new();
    for (_, name) in snapshots.into_iter().take(excess) {
        if latest_target.as_deref() == Some(name.as_os_str()) {
            continue;
        }
        let path = dir.join(&name);
        match std::fs::remove_file(&path) {
            Ok(()) => deleted.push(path),
            // Another pruner got there first: the goal is reached all the same.
            Err(cause) if cause.kind() == std::io::ErrorKind::NotFound => {}
            Err(cause) => return Err(Error::Prune { path, cause }),
        }
    }
    Ok(deleted)
}

/// The snapshot's file-name stem: the report's timestamp with `:` as `-`, or now when it has none
/// or it holds characters unfit for a file name.
fn snapshot_stem(report: &Report) -> String {
    let raw = report.timestamp.as_ref().map(|timestamp| timestamp.raw.replace(':', "-"));
    match raw {
        Some(stem)
            if !stem.is_empty()
                && stem.chars().all(|c| c.is_ascii_alphanumeric() || "-+.".contains(c)) =>
        {
            stem
        }
        _ => jiff::Timestamp::now().to_string().replace(':', "-"),
    }
}

/// A name for a temp file beside `target` that no other writer (thread or process) picks.
fn temp_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name =
        target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    target.with_file_name(format!(".{name}.{}.{count}.tmp", std::process::id()))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let write_error = |cause| Error::Write { path: path.to_owned(), cause };
    let temp = temp_path(path);
    let result = (|| {
        let mut file = File::create_new(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(error) = result {
        // Best effort: the temp file is ours and useless now; the original error is what matters.
        let _ = std::fs::remove_file(&temp);
        return Err(write_error(error));
    }
    sync_dir(parent_dir(path)).map_err(write_error)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(unix)]
fn swap_latest(dir: &Path, file_name: &str) -> Result<()> {
    let latest = dir.join(LATEST_NAME);
    let temp = temp_path(&latest);
    // A relative target keeps the link valid when the whole history folder moves.
    let result =
        std::os::unix::fs::symlink(file_name, &temp).and_then(|()| std::fs::rename(&temp, &latest));
    if let Err(cause) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(Error::Write { path: latest, cause });
    }
    sync_dir(dir).map_err(|cause| Error::Write { path: latest, cause })
}

#[cfg(not(unix))]
fn swap_latest(dir: &Path, file_name: &str) -> Result<()> {
    // Without cheap symlinks, `latest.json` is an atomically replaced copy.
    let bytes = std::fs::read(dir.join(file_name))
        .map_err(|cause| Error::Write { path: dir.join(file_name), cause })?;
    write_bytes_atomic(&dir.join(LATEST_NAME), &bytes)
}
