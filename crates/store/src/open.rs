//! Opening a state directory: check the directory, take the lock, open or recover the database,
//! migrate the schema, decide the epoch, and mark the actions a previous process left running.

use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use gitops_protocol::{Cursor, Epoch};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::error::{Error, Failure, Result, failure, from_sqlite};
use crate::lock::{Lock, Record};
use crate::time::{file_stamp, unix_ms};
use crate::{
    DB_FILE, Db, NewEpochReason, Notice, Opened, Shared, SinceCheckpoint, Store, StoreConfig,
    SyncLevel, schema,
};

/// The most bytes the WAL file keeps after a checkpoint empties it; more is given back.
const JOURNAL_SIZE_LIMIT: i64 = 16 << 20;

pub(crate) fn open(dir: &Path, config: StoreConfig) -> Result<Opened> {
    prepare_dir(dir)?;
    let (lock, previous) = Lock::acquire(dir, config.lock_wait)?;
    let db_path = dir.join(DB_FILE);
    let mut notices = Vec::new();

    let mut moved_aside = false;
    let mut conn = match open_checked(&db_path, &config)? {
        Ok(conn) => conn,
        Err(reason) => {
            let moved_to = move_aside(&db_path)?;
            notices.push(Notice::MovedAside { moved_to, reason });
            moved_aside = true;
            match open_checked(&db_path, &config)? {
                Ok(conn) => conn,
                Err(reason) => {
                    return Err(Error::Corrupt { path: db_path, detail: reason });
                }
            }
        }
    };

    let sqlite = |error| from_sqlite(&db_path, error);
    let version = schema::version(&conn).map_err(sqlite)?;
    if version < schema::CURRENT {
        schema::migrate(&mut conn, version).map_err(sqlite)?;
        if version > 0 {
            notices.push(Notice::Migrated { from: version, to: schema::CURRENT });
        }
    }

    let now = SystemTime::now();
    let stored_epoch = read_epoch(&conn).map_err(sqlite)?;
    let last_seq = crate::read::last_seq(&conn).map_err(sqlite)?;
    let epoch = match stored_epoch {
        None => {
            let epoch = random_epoch();
            start_epoch(&mut conn, epoch, 1, now, "created").map_err(sqlite)?;
            if !moved_aside {
                notices.push(Notice::Created { path: db_path.clone() });
                if let Some(served) = previous.as_ref().and_then(|record| record.head) {
                    notices.push(Notice::LogLost { served });
                }
            }
            epoch
        }
        Some(epoch) => {
            let reason = new_epoch_reason(previous.as_ref(), epoch, last_seq, &config);
            if let Some(record) = previous.as_ref().filter(|record| record.running) {
                notices.push(Notice::UncleanStop { pid: record.pid });
            }
            match reason {
                Some(reason) => {
                    let new = random_epoch();
                    let first_seq = last_seq.unwrap_or(0) + 1;
                    let why = match reason {
                        NewEpochReason::Behind { .. } => "behind",
                        NewEpochReason::UncleanReboot => "unclean-reboot",
                    };
                    start_epoch(&mut conn, new, first_seq, now, why).map_err(sqlite)?;
                    notices.push(Notice::NewEpoch { epoch: new, reason });
                    new
                }
                None => epoch,
            }
        }
    };
    // The directory is locked: an action still running can only be a previous process's.
    let interrupted = crate::actions::interrupt_running(&conn, now).map_err(sqlite)?;
    if interrupted > 0 {
        notices.push(Notice::ActionsInterrupted { count: interrupted });
    }
    lock.claim(last_seq.map(|seq| Cursor::new(epoch, seq)))?;

    let since_checkpoint = since_checkpoint(&conn).map_err(sqlite)?;
    let shared = Arc::new(Shared { db_path, config, lock, write_gate: Default::default() });
    let store =
        Store { db: Db { conn, shared }, epoch, last_seq, since_checkpoint, wal_unchecked: 0 };
    Ok(Opened { store, notices })
}

/// Makes sure `dir` is a directory, creating it (and its parents) when missing.
fn prepare_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(Error::NotADirectory { path: dir.to_owned() }),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|source| io_error(dir, source))
        }
        Err(source) => Err(io_error(dir, source)),
    }
}

/// The store's error for a file operation on `path` that failed.
pub(crate) fn io_error(path: &Path, source: io::Error) -> Error {
    match source.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            Error::NotWritable { path: path.to_owned(), source }
        }
        io::ErrorKind::NotADirectory => Error::NotADirectory { path: path.to_owned() },
        io::ErrorKind::StorageFull => Error::DiskFull { path: path.to_owned() },
        _ => Error::Io { path: path.to_owned(), source },
    }
}

/// Opens the database and checks it: `Ok(Err(reason))` when it is damaged and should be moved
/// aside, an error for every other failure (a newer schema is refused before anything is written).
fn open_checked(path: &Path, config: &StoreConfig) -> Result<Result<Connection, String>> {
    let conn = Connection::open(path).map_err(|error| from_sqlite(path, error))?;
    let checked = (|| {
        // Read before anything writes: a newer schema must be left exactly as it is.
        let version = schema::version(&conn)?;
        if version > schema::CURRENT {
            return Ok(Some(version));
        }
        if version == 0 {
            schema::prepare_new(&conn)?;
        }
        configure(&conn, config)?;
        if config.check_on_open {
            let verdict: String = conn.query_row("PRAGMA quick_check", [], |row| row.get(0))?;
            if verdict != "ok" {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some(format!("quick_check: {verdict}")),
                ));
            }
        }
        Ok(None)
    })();
    match checked {
        Ok(None) => Ok(Ok(conn)),
        Ok(Some(found)) => {
            Err(Error::NewerSchema { path: path.to_owned(), found, supported: schema::CURRENT })
        }
        Err(error) if failure(&error) == Failure::Corrupt => Ok(Err(error.to_string())),
        Err(error) => Err(from_sqlite(path, error)),
    }
}

/// Sets a connection up: WAL, the sync level, the busy timeout, a bounded WAL file.
pub(crate) fn configure(conn: &Connection, config: &StoreConfig) -> rusqlite::Result<()> {
    conn.busy_timeout(config.busy_timeout)?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("the database stays in journal mode {mode:?}, not WAL")),
        ));
    }
    let sync = match config.sync {
        SyncLevel::Normal => "NORMAL",
        SyncLevel::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT)?;
    // No connection folds the WAL into the database on commit (SQLite's default does, every
    // 1,000 pages, in whichever commit crosses the line: an fsync and a copy of 4 MB on the
    // publish path). `prune` folds it from the background; `append` does when it passes
    // `WAL_FOLD_BYTES`; closing the last connection always does.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(())
}

/// Moves a damaged database (and its WAL) aside as `<db>.corrupt-<time>`, returning the new path.
fn move_aside(db_path: &Path) -> Result<PathBuf> {
    let stamp = file_stamp(SystemTime::now());
    let with_suffix = |path: &Path, suffix: &str| {
        let mut name: OsString = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let mut target = with_suffix(db_path, &format!(".corrupt-{stamp}"));
    let mut n = 1;
    while target.exists() {
        target = with_suffix(db_path, &format!(".corrupt-{stamp}-{n}"));
        n += 1;
    }
    std::fs::rename(db_path, &target).map_err(|source| io_error(db_path, source))?;
    // The WAL goes with it, named so that `sqlite3 <moved file>` reads both.
    for suffix in ["-wal", "-journal"] {
        let from = with_suffix(db_path, suffix);
        if from.exists() {
            std::fs::rename(&from, with_suffix(&target, suffix))
                .map_err(|source| io_error(&from, source))?;
        }
    }
    // The shared-memory index is rebuilt from the WAL; it is only in the way.
    let shm = with_suffix(db_path, "-shm");
    if shm.exists() {
        std::fs::remove_file(&shm).map_err(|source| io_error(&shm, source))?;
    }
    Ok(target)
}

fn read_epoch(conn: &Connection) -> rusqlite::Result<Option<Epoch>> {
    let text: Option<String> = conn
        .query_row("SELECT value FROM store_meta WHERE key = 'epoch'", [], |row| row.get(0))
        .optional()?;
    text.map(|text| {
        text.parse::<Epoch>().map_err(|error| {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("the stored epoch is unreadable: {error}")),
            )
        })
    })
    .transpose()
}

/// Makes `epoch` the store's epoch from `first_seq` on.
pub(crate) fn start_epoch(
    conn: &mut Connection,
    epoch: Epoch,
    first_seq: u64,
    now: SystemTime,
    reason: &str,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR REPLACE INTO store_meta (key, value) VALUES ('epoch', ?1)",
        params![epoch.to_string()],
    )?;
    tx.execute(
        "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('created_ms', ?1)",
        params![unix_ms(now).to_string()],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO epochs (first_seq, epoch, time_ms, reason) VALUES (?1, ?2, ?3, ?4)",
        params![first_seq, epoch.to_string(), unix_ms(now), reason],
    )?;
    tx.commit()
}

/// Whether the previous holder's record says the log may lack what clients were sent.
fn new_epoch_reason(
    previous: Option<&Record>,
    epoch: Epoch,
    last_seq: Option<u64>,
    config: &StoreConfig,
) -> Option<NewEpochReason> {
    let previous = previous?;
    let log = last_seq.unwrap_or(0);
    if let Some(served) = previous.head.filter(|head| head.epoch == epoch && head.seq > log) {
        return Some(NewEpochReason::Behind { served, log });
    }
    // The record is rewritten without an fsync, so after a power cut it may be older than the
    // log (then the check above passes) or lost; the boot id catches that case whatever it says.
    let rebooted = match (&previous.boot_id, crate::lock::boot_id()) {
        (Some(then), Some(now)) => *then != now,
        _ => false,
    };
    (previous.running && rebooted && config.sync == SyncLevel::Normal)
        .then_some(NewEpochReason::UncleanReboot)
}

/// What was appended since the last checkpoint; `None` with no checkpoint.
fn since_checkpoint(conn: &Connection) -> rusqlite::Result<Option<SinceCheckpoint>> {
    let last: Option<(u64, u64)> = conn
        .query_row("SELECT seq, size FROM checkpoints ORDER BY seq DESC LIMIT 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let Some((seq, checkpoint_size)) = last else { return Ok(None) };
    conn.query_row(
        "SELECT COALESCE(SUM(last_seq - first_seq + 1), 0), COALESCE(SUM(bytes), 0)
         FROM publishes WHERE first_seq > ?1 AND kind = 'changes'",
        params![seq],
        |row| {
            Ok(Some(SinceCheckpoint { messages: row.get(0)?, bytes: row.get(1)?, checkpoint_size }))
        },
    )
}

/// A fresh random epoch.
fn random_epoch() -> Epoch {
    // RandomState is seeded from the operating system's randomness; the time and the process id
    // keep two epochs drawn in one process, or in two at the same instant, apart as well.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    Epoch(hasher.finish())
}
