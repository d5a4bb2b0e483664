//! Delete and restore: a folder moves into the trash as `<folder>-<UTC time>` by one rename, and
//! back the same way. Nothing is removed until the trash is purged of entries older than the
//! caller's retention.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::outcome::{ActionKind, Outcome};
use crate::root::{Root, Target, check_folder_name};

/// The length of an entry's time suffix, `20261201T030000.123Z`.
const STAMP_LEN: usize = 20;

/// Entries counted at most when previewing a delete.
const MAX_COUNTED: u64 = 100_000;

/// One folder in the trash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrashEntry {
    /// The entry's name in the trash folder: `<folder>-<time>`.
    pub entry: String,
    /// The folder name it had in the root, and gets back on restore.
    pub folder: String,
    /// When it was deleted.
    pub deleted_at: Timestamp,
    /// Its path now.
    pub path: String,
}

/// What a delete would move, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeletePreview {
    /// The folder.
    pub from: String,
    /// The trash entry it would become.
    pub to: String,
    /// Files and links inside (counted up to 100,000).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Whether every entry was counted.
    pub counted_all: bool,
    /// Changed paths a git repository has (`None`: not a repository libgit2 can read).
    pub changed_paths: Option<usize>,
}

/// What a restore would move back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestorePreview {
    /// The trash entry.
    pub entry: String,
    /// Where it is now.
    pub from: String,
    /// The folder it comes back to.
    pub to: String,
    /// When it was deleted.
    pub deleted_at: Timestamp,
}

/// The entry name for `folder` deleted at `at`. Pure.
pub(crate) fn entry_name(folder: &str, at: Timestamp) -> String {
    let time = at.to_zoned_datetime(TimeZone::UTC).datetime();
    format!(
        "{folder}-{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        time.year(),
        time.month(),
        time.day(),
        time.hour(),
        time.minute(),
        time.second(),
        time.millisecond()
    )
}

/// The folder and time an entry name holds, or `None` for a name this crate did not make. Pure.
pub(crate) fn parse_entry_name(entry: &str) -> Option<(String, Timestamp)> {
    let split = entry.len().checked_sub(STAMP_LEN)?;
    if split < 2 || !entry.is_char_boundary(split) || entry.as_bytes()[split - 1] != b'-' {
        return None;
    }
    let (folder, stamp) = (&entry[..split - 1], &entry.as_bytes()[split..]);
    let digits = |range: std::ops::Range<usize>| -> Option<i32> {
        let text = std::str::from_utf8(stamp.get(range)?).ok()?;
        text.bytes().all(|b| b.is_ascii_digit()).then(|| text.parse().ok())?
    };
    if stamp[8] != b'T' || stamp[15] != b'.' || stamp[19] != b'Z' {
        return None;
    }
    let narrow = |value: i32| i8::try_from(value).ok();
    let time = jiff::civil::DateTime::new(
        i16::try_from(digits(0..4)?).ok()?,
        narrow(digits(4..6)?)?,
        narrow(digits(6..8)?)?,
        narrow(digits(9..11)?)?,
        narrow(digits(11..13)?)?,
        narrow(digits(13..15)?)?,
        digits(16..19)? * 1_000_000,
    )
    .ok()?;
    let at = time.to_zoned_datetime(TimeZone::UTC).ok()?.timestamp();
    check_folder_name(folder).ok()?;
    Some((folder.to_owned(), at))
}

/// Renames `from` to `to` unless `to` exists (a folder there is never replaced, not even an
/// empty one, which a plain rename would).
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // A filesystem without RENAME_NOREPLACE: check, then rename (callers hold the lock).
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
            if std::fs::symlink_metadata(to).is_ok() {
                return Err(std::io::ErrorKind::AlreadyExists.into());
            }
            std::fs::rename(from, to)
        }
        Err(errno) => Err(errno.into()),
    }
}

/// The trash folder: where deleted folders go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trash {
    pub(crate) path: PathBuf,
}

impl Trash {
    /// Creates the trash folder if needed and checks it can take folders from `root`.
    pub(crate) fn open(path: &Path, root: &Root) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(|cause| Error::Io {
            operation: "cannot create the trash",
            path: path.to_owned(),
            cause,
        })?;
        let path = std::fs::canonicalize(path).map_err(|cause| Error::Io {
            operation: "cannot resolve the trash",
            path: path.to_owned(),
            cause,
        })?;
        if root.path().starts_with(&path) {
            return Err(Error::TrashInsideTarget { trash: path });
        }
        // Inside the root, the trash must be hidden, or the auditor reports it as an extra folder
        // and offers to delete it.
        if let Ok(inside) = path.strip_prefix(root.path())
            && !inside
                .components()
                .next()
                .is_some_and(|first| first.as_os_str().to_string_lossy().starts_with('.'))
        {
            return Err(Error::BadName {
                name: path.to_string_lossy().into_owned(),
                reason: "a trash inside the audit root must be a hidden folder (such as .trash)",
            });
        }
        Ok(Self { path })
    }

    fn entry_path(&self, entry: &str) -> Result<(PathBuf, String, Timestamp)> {
        let missing = || Error::NoTrashEntry { entry: entry.to_owned() };
        let (folder, at) = parse_entry_name(entry).ok_or_else(missing)?;
        let path = self.path.join(entry);
        std::fs::symlink_metadata(&path).map_err(|_| missing())?;
        Ok((path, folder, at))
    }

    /// Every entry this crate made, oldest first.
    pub(crate) fn list(&self) -> Result<Vec<TrashEntry>> {
        let read = std::fs::read_dir(&self.path).map_err(|cause| Error::Io {
            operation: "cannot list the trash",
            path: self.path.clone(),
            cause,
        })?;
        let mut entries: Vec<TrashEntry> = read
            .filter_map(|item| item.ok())
            .filter_map(|item| {
                let entry = item.file_name().to_str()?.to_owned();
                let (folder, deleted_at) = parse_entry_name(&entry)?;
                let path = item.path().to_string_lossy().into_owned();
                Some(TrashEntry { entry, folder, deleted_at, path })
            })
            .collect();
        entries.sort_by(|a, b| (a.deleted_at, &a.entry).cmp(&(b.deleted_at, &b.entry)));
        Ok(entries)
    }

    /// What deleting `target` at `now` would do. Reads only.
    pub(crate) fn preview_delete(&self, target: &Target, now: Timestamp) -> Result<DeletePreview> {
        let folder = target.existing()?;
        if self.path.starts_with(folder) || self.path.starts_with(target.path()) {
            return Err(Error::TrashInsideTarget { trash: self.path.clone() });
        }
        let (files, bytes, counted_all) = count(folder);
        let changed_paths = crate::repo::open(target, true)
            .ok()
            .and_then(|repo| crate::repo::status_entries(target, &repo, false).ok())
            .map(|entries| entries.len());
        Ok(DeletePreview {
            from: target.path().to_string_lossy().into_owned(),
            to: self.path.join(entry_name(target.folder(), now)).to_string_lossy().into_owned(),
            files,
            bytes,
            counted_all,
            changed_paths,
        })
    }

    /// Moves `target`'s folder (a link as a link) into the trash.
    pub(crate) fn delete(&self, target: &Target, now: Timestamp) -> Result<Outcome> {
        self.preview_delete(target, now)?;
        let entry = entry_name(target.folder(), now);
        let to = self.path.join(&entry);
        rename_no_replace(target.path(), &to).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::CrossesDevices {
                Error::TrashOnOtherFilesystem { trash: self.path.clone() }
            } else if cause.kind() == std::io::ErrorKind::AlreadyExists {
                Error::FolderExists { name: entry.clone() }
            } else {
                Error::Io { operation: "cannot move to the trash", path: to.clone(), cause }
            }
        })?;
        Ok(Outcome {
            action: ActionKind::Delete,
            repo: target.name().to_owned(),
            summary: format!("moved {} to the trash as {entry}", target.folder()),
            changed: vec![target.folder().to_owned()],
            commit: None,
            trash_entry: Some(entry),
            output: format!("renamed {} to {}", target.path().display(), to.display()),
        })
    }

    /// What restoring `entry` would do, and the folder it goes back to.
    pub(crate) fn preview_restore(
        &self,
        root: &Root,
        entry: &str,
    ) -> Result<(RestorePreview, Target)> {
        let (from, folder, deleted_at) = self.entry_path(entry)?;
        let target = root.target(&folder, &folder)?;
        if target.exists() || std::fs::symlink_metadata(target.path()).is_ok() {
            return Err(Error::FolderExists { name: folder });
        }
        let preview = RestorePreview {
            entry: entry.to_owned(),
            from: from.to_string_lossy().into_owned(),
            to: target.path().to_string_lossy().into_owned(),
            deleted_at,
        };
        Ok((preview, target))
    }

    /// Moves `entry` back into the root under its old folder name.
    pub(crate) fn restore(&self, preview: &RestorePreview, target: &Target) -> Result<Outcome> {
        rename_no_replace(Path::new(&preview.from), target.path()).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::AlreadyExists {
                Error::FolderExists { name: target.folder().to_owned() }
            } else {
                Error::Io { operation: "cannot restore to", path: target.path().to_owned(), cause }
            }
        })?;
        Ok(Outcome {
            action: ActionKind::Restore,
            repo: target.name().to_owned(),
            summary: format!("restored {} from the trash", target.folder()),
            changed: vec![target.folder().to_owned()],
            commit: None,
            trash_entry: Some(preview.entry.clone()),
            output: format!("renamed {} to {}", preview.from, preview.to),
        })
    }

    /// Removes the entries deleted more than `older_than` before `now`; returns them. An entry is
    /// removed only while `lock(folder)` gives a guard, so a restore of it cannot run meanwhile.
    pub(crate) fn purge<G>(
        &self,
        older_than: Duration,
        now: Timestamp,
        lock: impl Fn(&str) -> Option<G>,
    ) -> Result<Vec<TrashEntry>> {
        let older_than =
            jiff::SignedDuration::try_from(older_than).unwrap_or(jiff::SignedDuration::MAX);
        let mut purged = Vec::new();
        for entry in self.list()? {
            if now.duration_since(entry.deleted_at) < older_than {
                continue;
            }
            let Some(_guard) = lock(&entry.folder) else { continue };
            let path = self.path.join(&entry.entry);
            let removed = match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
                Ok(_) => std::fs::remove_file(&path),
                Err(error) => Err(error),
            };
            removed.map_err(|cause| Error::Io { operation: "cannot purge", path, cause })?;
            purged.push(entry);
        }
        Ok(purged)
    }
}

/// Files (and links) and bytes under `folder`, not following links, up to [`MAX_COUNTED`].
fn count(folder: &Path) -> (u64, u64, bool) {
    let (mut files, mut bytes, mut seen) = (0u64, 0u64, 0u64);
    let mut stack = vec![folder.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&dir) else { continue };
        for item in read.filter_map(|item| item.ok()) {
            seen += 1;
            if seen > MAX_COUNTED {
                return (files, bytes, false);
            }
            let Ok(meta) = item.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(item.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    (files, bytes, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_round_trip() {
        let at: Timestamp = "2026-12-01T03:04:05.678Z".parse().expect("time");
        for folder in ["halo", "a-b-c", "x-20261201T030405.678Z", "日本語 x", "-"] {
            let name = entry_name(folder, at);
            let parsed = parse_entry_name(&name);
            if folder == "-" {
                assert_eq!(parsed, None, "a bad folder name is never restored");
            } else {
                assert_eq!(parsed, Some((folder.to_owned(), at)), "{name}");
            }
        }
        assert_eq!(entry_name("halo", at), "halo-20261201T030405.678Z");
    }

    #[test]
    fn foreign_names_are_not_entries() {
        for name in [
            "halo",
            "halo-2026",
            "-20261201T030405.678Z",
            "halo20261201T030405.678Z",
            "halo-20261301T030405.678Z",
            "halo-20261201X030405.678Z",
            "../x-20261201T030405.678Z",
        ] {
            assert_eq!(parse_entry_name(name), None, "{name}");
        }
    }
}
