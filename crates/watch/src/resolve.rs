//! Resolving the watched path: its symlink chain, the directories to watch, and a cheap stamp of
//! the file for polling.
//!
//! Every hop of the chain is written as canonical parent directory plus file name, which is
//! exactly how the OS watcher names events in a watched (canonical) directory, so the filter in
//! [`crate::inbox`] can compare paths for equality.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How many symlinks to follow before giving up (as the kernel's `ELOOP` limit).
const MAX_HOPS: usize = 40;

/// A directory of the chain that does not exist (or cannot be resolved) right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MissingDir {
    /// The directory as the chain names it.
    pub(crate) directory: PathBuf,
    /// Why it could not be resolved.
    pub(crate) error: String,
}

/// The watched path resolved at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resolution {
    /// The configured path, then each symlink target in turn; the last entry is the file to
    /// read. Never empty.
    pub(crate) chain: Vec<PathBuf>,
    /// The canonical directories holding the chain's entries, without duplicates.
    pub(crate) dirs: Vec<PathBuf>,
    /// The first directory on the way that could not be resolved, which ends the chain.
    pub(crate) missing_dir: Option<MissingDir>,
}

impl Resolution {
    /// The file to read: the end of the chain.
    pub(crate) fn target(&self) -> &Path {
        self.chain.last().map_or(Path::new(""), PathBuf::as_path)
    }
}

/// Follows `path` (absolute) through its symlinks.
pub(crate) fn resolve(path: &Path) -> Resolution {
    let mut chain = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut missing_dir = None;
    let mut current = path.to_path_buf();
    for _ in 0..MAX_HOPS {
        let (Some(parent), Some(name)) = (current.parent(), current.file_name()) else {
            // A link to `/` or to `..`: nothing to split, read it as it is.
            chain.push(current);
            break;
        };
        let dir = match fs::canonicalize(parent) {
            Ok(dir) => dir,
            Err(error) => {
                missing_dir =
                    Some(MissingDir { directory: parent.to_path_buf(), error: error.to_string() });
                chain.push(current);
                break;
            }
        };
        let entry = dir.join(name);
        if !dirs.contains(&dir) {
            dirs.push(dir.clone());
        }
        chain.push(entry.clone());
        match fs::read_link(&entry) {
            Ok(target) => current = dir.join(target),
            // Not a symlink, or not there: this is the file to read.
            Err(_) => break,
        }
    }
    Resolution { chain, dirs, missing_dir }
}

/// What polling compares between two looks at the file: the chain, and the identity, size and
/// times of the final target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signature {
    chain: Vec<PathBuf>,
    missing_dir: bool,
    target: Option<FileStamp>,
}

/// Identity, size and change times of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
    changed: (i64, i64),
}

impl FileStamp {
    pub(crate) fn of(metadata: &fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let (device, inode, changed) = {
            use std::os::unix::fs::MetadataExt;
            (metadata.dev(), metadata.ino(), (metadata.ctime(), metadata.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let (device, inode, changed) = (0, 0, (0, 0));
        FileStamp {
            device,
            inode,
            len: metadata.len(),
            modified: metadata.modified().ok(),
            changed,
        }
    }
}

/// Takes the signature of a resolution now.
pub(crate) fn signature(resolution: &Resolution) -> Signature {
    Signature {
        chain: resolution.chain.clone(),
        missing_dir: resolution.missing_dir.is_some(),
        target: fs::metadata(resolution.target()).ok().map(|metadata| FileStamp::of(&metadata)),
    }
}

/// What a careful read of the file found.
#[derive(Debug)]
pub(crate) enum ReadOutcome {
    /// The whole file, unchanged while it was read, and quiet for the debounce before.
    Settled {
        /// The file's bytes.
        bytes: Vec<u8>,
        /// The file's stamp after reading, to check later that it still holds.
        stamp: FileStamp,
    },
    /// The file changed while it was read, or was changed within the debounce: read again later.
    Unsettled,
    /// The file could not be read.
    Failed(io::Error),
}

impl ReadOutcome {
    /// A short description for trace logs.
    pub(crate) fn describe(&self) -> String {
        match self {
            ReadOutcome::Settled { bytes, .. } => format!("settled, {} bytes", bytes.len()),
            ReadOutcome::Unsettled => "unsettled".to_owned(),
            ReadOutcome::Failed(error) => format!("failed: {error}"),
        }
    }
}

/// Limits on one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadLimits {
    /// A status change younger than this means a write we have not heard of yet.
    pub(crate) quiet: Duration,
    /// Files larger than this are not read.
    pub(crate) max_bytes: u64,
}

/// Reads the whole file, and checks the read was not torn by a writer.
///
/// The OS event of a write reaches us a little after the write itself, so a read started just
/// after the debounce could still race a writer that resumed at that moment. Two checks catch
/// that: the file's stamp is taken before and after reading through the same handle, and a
/// status change time younger than `limits.quiet` means a write we have not heard of yet.
/// (When OS watching, the task's read fence then closes the remaining gap: a writer paused
/// between its truncate and its write for longer than `quiet`.)
///
/// Only regular files are opened: opening a FIFO would block until a writer came, and reading a
/// device might never end, which would wedge a blocking thread for good.
///
/// `before_open` is called just before the file is opened (the watch counts its own opens).
pub(crate) fn read_settled(
    path: &Path,
    limits: ReadLimits,
    before_open: impl FnOnce(),
) -> ReadOutcome {
    use std::io::Read;
    let regular_or_error = |metadata: &fs::Metadata| {
        if !metadata.is_file() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
        }
        if metadata.len() > limits.max_bytes {
            return Err(too_large(limits.max_bytes));
        }
        Ok(())
    };
    if let Err(error) = fs::metadata(path).and_then(|metadata| regular_or_error(&metadata)) {
        return ReadOutcome::Failed(error);
    }
    before_open();
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) => return ReadOutcome::Failed(error),
    };
    let before = match file.metadata() {
        Ok(metadata) => metadata,
        Err(error) => return ReadOutcome::Failed(error),
    };
    if let Err(error) = regular_or_error(&before) {
        return ReadOutcome::Failed(error);
    }
    let capacity = usize::try_from(before.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity.saturating_add(1));
    // One byte over the limit tells a file that grew past it from one that fits exactly.
    if let Err(error) = (&file).take(limits.max_bytes.saturating_add(1)).read_to_end(&mut bytes) {
        return ReadOutcome::Failed(error);
    }
    if u64::try_from(bytes.len()).map_or(true, |len| len > limits.max_bytes) {
        return ReadOutcome::Failed(too_large(limits.max_bytes));
    }
    let after = match file.metadata() {
        Ok(metadata) => metadata,
        Err(error) => return ReadOutcome::Failed(error),
    };
    let stamp_moved = FileStamp::of(&before) != FileStamp::of(&after)
        || u64::try_from(bytes.len()).ok() != Some(after.len());
    let changed_recently = changed_within(changed_at(&after), limits.quiet);
    if stamp_moved || changed_recently {
        tracing::trace!(stamp_moved, changed_recently, "read unsettled");
        return ReadOutcome::Unsettled;
    }
    ReadOutcome::Settled { bytes, stamp: FileStamp::of(&after) }
}

fn too_large(max_bytes: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("larger than the limit of {max_bytes} bytes"),
    )
}

/// The file's status change time (any write, truncate, rename, chmod updates it).
fn changed_at(metadata: &fs::Metadata) -> Option<SystemTime> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (seconds, nanos) = (metadata.ctime(), metadata.ctime_nsec());
        match (u64::try_from(seconds), u32::try_from(nanos)) {
            (Ok(seconds), Ok(nanos)) => {
                SystemTime::UNIX_EPOCH.checked_add(Duration::new(seconds, nanos))
            }
            _ => None,
        }
    }
    #[cfg(not(unix))]
    {
        metadata.modified().ok()
    }
}

/// Whether `changed` lies within `window` before now. A time in the future (another host's
/// clock, a clock step) counts as settled, so a skewed clock cannot stall reads.
fn changed_within(changed: Option<SystemTime>, window: Duration) -> bool {
    match changed.map(|changed| SystemTime::now().duration_since(changed)) {
        Some(Ok(age)) => age < window,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(quiet: Duration) -> ReadLimits {
        ReadLimits { quiet, max_bytes: 1024 }
    }

    #[test]
    fn refuses_files_over_the_limit() {
        let root = tempfile::tempdir().expect("temp dir");
        let path = root.path().join("report.json");
        fs::write(&path, vec![b' '; 1024]).expect("write");
        assert!(matches!(
            read_settled(&path, limits(Duration::ZERO), || {}),
            ReadOutcome::Settled { .. }
        ));
        fs::write(&path, vec![b' '; 1025]).expect("write");
        let ReadOutcome::Failed(error) = read_settled(&path, limits(Duration::ZERO), || {}) else {
            panic!("a file over the limit must not be read");
        };
        assert_eq!(error.kind(), io::ErrorKind::FileTooLarge);
    }

    #[cfg(unix)]
    #[test]
    fn never_opens_a_fifo_or_a_device() {
        let root = tempfile::tempdir().expect("temp dir");
        let fifo = root.path().join("fifo");
        let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
        assert!(status.success());
        // Opening the FIFO would block this test forever.
        assert!(matches!(
            read_settled(&fifo, limits(Duration::ZERO), || {}),
            ReadOutcome::Failed(_)
        ));
        assert!(matches!(
            read_settled(Path::new("/dev/zero"), limits(Duration::ZERO), || {}),
            ReadOutcome::Failed(_)
        ));
        assert!(matches!(
            read_settled(root.path(), limits(Duration::ZERO), || {}),
            ReadOutcome::Failed(_)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn follows_a_symlink_chain_across_directories() {
        let root = tempfile::tempdir().expect("temp dir");
        let root_path = fs::canonicalize(root.path()).expect("canonical temp dir");
        let history = root_path.join("audit-history");
        let store = root_path.join("store");
        fs::create_dir(&history).expect("mkdir");
        fs::create_dir(&store).expect("mkdir");
        fs::write(store.join("2026.json"), "{}").expect("write");
        std::os::unix::fs::symlink("../store/2026.json", history.join("current")).expect("symlink");
        std::os::unix::fs::symlink("current", history.join("latest.json")).expect("symlink");

        let resolution = resolve(&history.join("latest.json"));
        assert_eq!(
            resolution.chain,
            vec![history.join("latest.json"), history.join("current"), store.join("2026.json")]
        );
        assert_eq!(resolution.missing_dir, None);
        assert_eq!(resolution.target(), store.join("2026.json"));
        assert_eq!(resolution.dirs, vec![history, store]);
    }

    #[test]
    fn missing_directory_ends_the_chain() {
        let root = tempfile::tempdir().expect("temp dir");
        let path = root.path().join("gone").join("report.json");
        let resolution = resolve(&path);
        assert_eq!(resolution.chain, vec![path.clone()]);
        assert!(resolution.dirs.is_empty());
        assert_eq!(
            resolution.missing_dir.map(|missing| missing.directory),
            path.parent().map(Path::to_path_buf)
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlink_loop_stops() {
        let root = tempfile::tempdir().expect("temp dir");
        let a = root.path().join("a");
        std::os::unix::fs::symlink("b", &a).expect("symlink");
        std::os::unix::fs::symlink("a", root.path().join("b")).expect("symlink");
        let resolution = resolve(&a);
        assert_eq!(resolution.chain.len(), MAX_HOPS);
        assert!(matches!(
            read_settled(resolution.target(), limits(Duration::ZERO), || {}),
            ReadOutcome::Failed(_)
        ));
    }

    #[test]
    fn signature_sees_a_replaced_file() {
        let root = tempfile::tempdir().expect("temp dir");
        let path = root.path().join("report.json");
        fs::write(&path, "one").expect("write");
        let before = signature(&resolve(&path));
        let temp = root.path().join("report.json.tmp");
        fs::write(&temp, "two").expect("write");
        fs::rename(&temp, &path).expect("rename");
        assert_ne!(signature(&resolve(&path)), before);
    }

    #[test]
    fn fresh_write_is_unsettled_within_the_debounce_and_settled_after() {
        let root = tempfile::tempdir().expect("temp dir");
        let path = root.path().join("report.json");
        fs::write(&path, "{}").expect("write");
        assert!(matches!(
            read_settled(&path, limits(Duration::from_secs(3600)), || {}),
            ReadOutcome::Unsettled
        ));
        let ReadOutcome::Settled { bytes, .. } = read_settled(&path, limits(Duration::ZERO), || {})
        else {
            panic!("a quiet file must read as settled");
        };
        assert_eq!(bytes, b"{}");
    }
}
