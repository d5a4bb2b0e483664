//! The epochs a log has had, so a cursor of any of them can be checked against the log.
//!
//! Sequence numbers never repeat within a log, whatever the epoch: each seq belongs to the epoch
//! that was current when it was written, the one with the highest first sequence number at or
//! below it. A new epoch may also name the state just before its first sequence number (a hub
//! restored from the log under a new epoch serves that state with the new epoch's name), so a
//! cursor `epoch:seq` names a point of the log when `seq` lies in
//! `first_seq - 1 ..= next epoch's first_seq - 1`.

use std::time::SystemTime;

use gitops_protocol::{Cursor, Epoch};
use rusqlite::params;

use crate::error::{Error, Result};
use crate::time::from_unix_ms;
use crate::{Db, Handle, Store};

/// One epoch of a log: from where on its cursors name points of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochStart {
    /// The first sequence number written in it.
    pub first_seq: u64,
    /// The epoch.
    pub epoch: Epoch,
    /// When it began.
    pub time: SystemTime,
    /// Why it began, in a word or a sentence (`created`, `behind`, `unclean-reboot`, ...).
    pub reason: String,
}

/// The epochs of a log, oldest first: which epoch a sequence number belongs to, and whether a
/// cursor names a point of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Epochs(Vec<EpochStart>);

impl Epochs {
    /// Wraps a list of epochs; they are sorted by their first sequence number.
    pub fn new(mut epochs: Vec<EpochStart>) -> Self {
        epochs.sort_by_key(|e| e.first_seq);
        Self(epochs)
    }

    /// Every epoch, oldest first.
    pub fn as_slice(&self) -> &[EpochStart] {
        &self.0
    }

    /// The epoch `seq` was written in, if the log had one then.
    pub fn epoch_of(&self, seq: u64) -> Option<Epoch> {
        let index = self.0.partition_point(|e| e.first_seq <= seq);
        index.checked_sub(1).map(|i| self.0[i].epoch)
    }

    /// The cursor of `seq` as it was written.
    pub fn cursor_of(&self, seq: u64) -> Option<Cursor> {
        self.epoch_of(seq).map(|epoch| Cursor::new(epoch, seq))
    }

    /// Whether `cursor` names a point of this log's sequence (retention aside): its epoch is the
    /// one `cursor.seq` was written in, or the next epoch and `cursor.seq` is the last seq before
    /// it (the state a new epoch starts from).
    pub fn names(&self, cursor: Cursor) -> bool {
        let Some(index) = self.0.iter().position(|e| e.epoch == cursor.epoch) else {
            return false;
        };
        let start = self.0[index].first_seq.saturating_sub(1);
        let end = self.0.get(index + 1).map_or(u64::MAX, |next| next.first_seq - 1);
        (start..=end).contains(&cursor.seq)
    }
}

impl Db {
    fn epochs(&self) -> Result<Epochs> {
        let sqlite = |e| self.sqlite(e);
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT first_seq, epoch, time_ms, reason FROM epochs ORDER BY first_seq",
            )
            .map_err(sqlite)?;
        let rows = statement
            .query_map(params![], |row| {
                Ok((row.get::<_, u64>(0)?, row.get::<_, String>(1)?, row.get(2)?, row.get(3)?))
            })
            .map_err(sqlite)?;
        let mut epochs = Vec::new();
        for row in rows {
            let (first_seq, epoch, time_ms, reason) = row.map_err(sqlite)?;
            let epoch = epoch.parse().map_err(|error: gitops_protocol::Error| Error::Replay {
                seq: first_seq,
                detail: format!("the stored epoch is unreadable: {error}"),
            })?;
            epochs.push(EpochStart { first_seq, epoch, time: from_unix_ms(time_ms), reason });
        }
        Ok(Epochs::new(epochs))
    }
}

impl Handle {
    /// Every epoch the log has had, oldest first: to tell which epoch a point was written in and
    /// whether a cursor a client holds names a point of this log.
    pub fn epochs(&self) -> Result<Epochs> {
        self.db.epochs()
    }
}

impl Store {
    /// See [`Handle::epochs`].
    pub fn epochs(&self) -> Result<Epochs> {
        self.db.epochs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(first_seq: u64, epoch: u64) -> EpochStart {
        EpochStart {
            first_seq,
            epoch: Epoch(epoch),
            time: SystemTime::UNIX_EPOCH,
            reason: String::new(),
        }
    }

    #[test]
    fn a_seq_belongs_to_the_epoch_it_was_written_in_and_the_next_may_name_its_last() {
        let epochs = Epochs::new(vec![start(11, 2), start(1, 1), start(20, 3)]);
        assert_eq!(epochs.epoch_of(0), None);
        assert_eq!(epochs.epoch_of(1), Some(Epoch(1)));
        assert_eq!(epochs.epoch_of(10), Some(Epoch(1)));
        assert_eq!(epochs.epoch_of(11), Some(Epoch(2)));
        assert_eq!(epochs.epoch_of(1_000), Some(Epoch(3)));
        assert!(epochs.names(Cursor::new(Epoch(1), 10)));
        assert!(
            epochs.names(Cursor::new(Epoch(2), 10)),
            "a new epoch starts from the state before it"
        );
        assert!(epochs.names(Cursor::new(Epoch(2), 19)));
        assert!(!epochs.names(Cursor::new(Epoch(2), 20)), "seq 20 is epoch 3's");
        assert!(!epochs.names(Cursor::new(Epoch(1), 11)));
        assert!(!epochs.names(Cursor::new(Epoch(2), 9)));
        assert!(!epochs.names(Cursor::new(Epoch(9), 5)), "an epoch the log never had");
        assert!(
            epochs.names(Cursor::new(Epoch(3), 5_000)),
            "retention and the end are checked elsewhere"
        );
    }
}
