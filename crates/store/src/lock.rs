//! The lock file: one holder per state directory, who it is, and how far it had written.
//!
//! The holder takes an exclusive `flock`-style lock (`File::try_lock`) on `gitops-live.lock` and
//! writes a small fixed-size text record into it. The record has two parts:
//! - who holds the lock (process id and start time), written as soon as it is taken, so that a
//!   second opener that finds the lock taken can name the holder;
//! - what the log's last writer left: its boot id, whether it was still running, and the last
//!   cursor it committed. A new holder reads these before it claims the log (at the end of a
//!   successful open), which tells it two things the database cannot: the log is behind what was
//!   served (the database file was replaced by an older copy), and the previous writer died with
//!   the machine (a crash or power cut, not a clean stop), which with `synchronous=NORMAL` may
//!   have cost its last commits. An open that fails before claiming leaves this part as it was.
//!
//! The record is rewritten in place after every append without an fsync: it is a hint for the
//! next opener, never the source of truth, and a stale record only errs on the safe side (see
//! `open.rs`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use gitops_protocol::{Cursor, Epoch};

use crate::error::{Error, Result};
use crate::time::{rfc3339, unix_ms};

/// The lock file's name inside the state directory.
pub(crate) const LOCK_FILE: &str = "gitops-live.lock";

/// What a previous holder left in the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) pid: u32,
    pub(crate) started: String,
    pub(crate) boot_id: Option<String>,
    pub(crate) running: bool,
    pub(crate) head: Option<Cursor>,
}

impl Record {
    /// The record as written: fixed-width fields, so that rewriting it in place never leaves the
    /// tail of a longer earlier record behind.
    fn encode(&self) -> String {
        let boot: String = self.boot_id.as_deref().unwrap_or("-").chars().take(36).collect();
        let (epoch, seq) = match self.head {
            Some(cursor) => (cursor.epoch.to_string(), cursor.seq),
            None => ("-".to_owned(), 0),
        };
        format!(
            "gitops-live state directory lock\npid {:<10}\nstarted {:<25}\nboot {:<36}\nstate {:<7}\nepoch {:<16}\nseq {:020}\n",
            self.pid,
            self.started,
            boot,
            if self.running { "running" } else { "closed" },
            epoch,
            seq,
        )
    }

    /// Reads a record; `None` when the text is not one (an empty file, or one being written).
    fn decode(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != "gitops-live state directory lock" {
            return None;
        }
        let mut field = |name: &str| {
            let line = lines.next()?;
            line.strip_prefix(name)?.strip_prefix(' ').map(|v| v.trim_end().to_owned())
        };
        let pid = field("pid")?.parse().ok()?;
        let started = field("started")?;
        let boot = field("boot")?;
        let running = field("state")? == "running";
        let epoch = field("epoch")?;
        let seq: u64 = field("seq")?.parse().ok()?;
        let head = epoch.parse::<Epoch>().ok().map(|epoch| Cursor::new(epoch, seq));
        let boot_id = (boot != "-").then_some(boot);
        Some(Self { pid, started, boot_id, running, head })
    }

    /// The holder as an error message names it.
    fn holder(&self) -> String {
        format!("process {} (started {})", self.pid, self.started)
    }
}

/// The held lock. Dropping it marks a claimed log closed and releases the lock.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    path: PathBuf,
    state: std::sync::Mutex<State>,
}

#[derive(Debug)]
struct State {
    record: Record,
    /// Whether this holder has claimed the log (see the module docs).
    claimed: bool,
}

impl Lock {
    /// Takes the lock on `dir`, returning it and the previous record, if any. The log part of
    /// the record is kept as the previous writer left it until [`Lock::claim`].
    ///
    /// A taken lock is retried for up to `wait`: a process being started anywhere in this one
    /// holds a copy of every open file, the lock included, from its fork until its exec, so a
    /// store closed and reopened at that moment would otherwise find its own lock taken.
    pub(crate) fn acquire(dir: &Path, wait: Duration) -> Result<(Self, Option<Record>)> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| crate::open::io_error(&path, source))?;
        let deadline = Instant::now() + wait;
        let mut locked = file.try_lock();
        while matches!(locked, Err(TryLockError::WouldBlock)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            locked = file.try_lock();
        }
        match locked {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|text| Record::decode(&text))
                    .map_or_else(
                        || "another process (it has not written its name yet)".to_owned(),
                        |record| record.holder(),
                    );
                return Err(Error::Locked { path: dir.to_owned(), holder });
            }
            Err(TryLockError::Error(source)) => return Err(Error::Io { path, source }),
        }
        let mut text = String::new();
        // A lock file that cannot be read as text is treated as having no previous record.
        let previous = match file.read_to_string(&mut text) {
            Ok(_) => Record::decode(&text),
            Err(_) => None,
        };
        let now = SystemTime::now();
        let record = Record {
            pid: std::process::id(),
            started: rfc3339(now).unwrap_or_else(|| unix_ms(now).to_string()),
            boot_id: previous.as_ref().and_then(|p| p.boot_id.clone()),
            running: previous.as_ref().is_some_and(|p| p.running),
            head: previous.as_ref().and_then(|p| p.head),
        };
        let lock =
            Self { file, path, state: std::sync::Mutex::new(State { record, claimed: false }) };
        let text = lock.lock_state().record.encode();
        lock.file.set_len(0).map_err(|source| lock.io(source))?;
        lock.write(&text).map_err(|source| lock.io(source))?;
        Ok((lock, previous))
    }

    /// Claims the log for this process: this boot, running, at `head`.
    pub(crate) fn claim(&self, head: Option<Cursor>) -> Result<()> {
        let text = {
            let mut state = self.lock_state();
            state.claimed = true;
            state.record.boot_id = boot_id();
            state.record.running = true;
            state.record.head = head;
            state.record.encode()
        };
        self.write(&text).and_then(|()| self.file.sync_data()).map_err(|source| self.io(source))
    }

    /// Records that clients may hold cursors up to `head`: the last committed cursor, or one
    /// served beyond the log. Within an epoch it never goes back. Best effort: the record is a
    /// hint (see the module docs), and rewriting it in place needs no free space.
    pub(crate) fn write_head(&self, head: Cursor) {
        let text = {
            let mut state = self.lock_state();
            let behind = |old: Cursor| old.epoch == head.epoch && old.seq >= head.seq;
            if state.record.head.is_some_and(behind) {
                return;
            }
            state.record.head = Some(head);
            state.record.encode()
        };
        let _ = self.write(&text);
    }

    fn write(&self, text: &str) -> std::io::Result<()> {
        let mut file = &self.file;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(text.as_bytes())
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        // The record is plain data; a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn io(&self, source: std::io::Error) -> Error {
        crate::open::io_error(&self.path, source)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let text = {
            let mut state = self.lock_state();
            if !state.claimed {
                return;
            }
            state.record.running = false;
            state.record.encode()
        };
        // Best effort: a record left "running" only makes the next opener more careful.
        let _ = self.write(&text);
        let _ = self.file.sync_data();
    }
}

/// The kernel's id of this boot, which changes when the machine restarts (Linux).
pub(crate) fn boot_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = text.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_keeps_its_length() {
        let short = Record {
            pid: 7,
            started: "2026-12-01T10:00:00Z".to_owned(),
            boot_id: Some("0b5e7a4c-2f7e-4a43-8f0e-1f1f3c1d2e3f".to_owned()),
            running: true,
            head: Some(Cursor::new(Epoch(0xabc), 3)),
        };
        let long = Record {
            pid: 4_000_000,
            boot_id: None,
            running: false,
            head: Some(Cursor::new(Epoch(u64::MAX), u64::MAX)),
            ..short.clone()
        };
        assert_eq!(Record::decode(&short.encode()), Some(short.clone()));
        assert_eq!(Record::decode(&long.encode()), Some(long.clone()));
        assert_eq!(short.encode().len(), long.encode().len());
        let none = Record { head: None, ..short };
        assert_eq!(Record::decode(&none.encode()), Some(none));
    }

    #[test]
    fn text_that_is_not_a_record_is_none() {
        assert_eq!(Record::decode(""), None);
        assert_eq!(Record::decode("gitops-live state directory lock\npid x\n"), None);
    }
}
