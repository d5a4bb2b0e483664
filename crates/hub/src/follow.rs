//! Following another hub: an instance that does not publish applies the messages another
//! instance's hub published (read from a shared log), so both serve the same cursors, the same
//! bytes and the same resume answers.

use bytes::Bytes;
use gitops_protocol::{Cursor, Epoch};
use gitops_report::Report;

use crate::history::decode_entry;
use crate::{Hub, Published, RestoreError};

/// Why [`Hub::follow_messages`] or [`Hub::follow_reset`] left the hub as it was. The follower
/// should get the log's current state and cursor and call [`Hub::follow_reset`] with them
/// (or, for [`FollowError::Backwards`], wait for the writer to start a new epoch).
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// The hub has no state yet: it needs a [`Hub::follow_reset`] first.
    #[error("the hub has no state to apply messages to")]
    NoState,
    /// The messages belong to another epoch than the hub's.
    #[error("the messages are of epoch {found}, the hub serves {current}")]
    OtherEpoch {
        /// The hub's epoch.
        current: Epoch,
        /// The messages' epoch.
        found: Epoch,
    },
    /// The messages start after the hub's seq: some were missed.
    #[error("a gap: the hub is at seq {current}, the messages start at {first_seq}")]
    Gap {
        /// The hub's seq.
        current: u64,
        /// The first message's seq.
        first_seq: u64,
    },
    /// A message the hub already holds under the same seq has other bytes: the log and the hub
    /// have told different stories under one epoch.
    #[error("message {seq} differs from the one the hub served under that seq")]
    Diverged {
        /// The seq of the message.
        seq: u64,
    },
    /// A reset to an earlier seq of the hub's own epoch: serving it would let a subscriber mix
    /// two histories. The writer must start a new epoch.
    #[error("the log is at {log}, behind the hub's {current} in the same epoch")]
    Backwards {
        /// The hub's cursor.
        current: Cursor,
        /// The cursor the reset was for.
        log: Cursor,
    },
    /// A message could not be read or applied (see [`RestoreError`]).
    #[error(transparent)]
    Invalid(#[from] RestoreError),
}

impl Hub {
    /// Applies messages another hub published in `epoch` (the first at `first_seq`) exactly as
    /// a publish would: the state moves on, the same bytes are queued to every subscriber under
    /// the same seqs and kept for resume.
    ///
    /// Messages the hub already has (the publishing instance following its own log) are
    /// skipped after checking that their bytes are the ones it served; those older than its
    /// history cannot be checked and are skipped. On an error nothing changes.
    pub fn follow_messages(
        &self,
        epoch: Epoch,
        first_seq: u64,
        messages: &[Bytes],
    ) -> Result<Published, FollowError> {
        let _publisher = self.publish_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (state, current_epoch, seq) = {
            let inner = self.lock();
            let Some(state) = inner.state.clone() else { return Err(FollowError::NoState) };
            if inner.epoch != epoch {
                return Err(FollowError::OtherEpoch { current: inner.epoch, found: epoch });
            }
            if first_seq > inner.seq + 1 {
                return Err(FollowError::Gap { current: inner.seq, first_seq });
            }
            // Messages at or below the hub's seq: check those still in the history.
            for (i, bytes) in messages.iter().enumerate() {
                let at = first_seq + i as u64;
                if at > inner.seq {
                    break;
                }
                if at > inner.base_seq {
                    let index = (at - inner.base_seq - 1) as usize;
                    if inner.history.get(index).is_none_or(|entry| entry.bytes != *bytes) {
                        return Err(FollowError::Diverged { seq: at });
                    }
                }
            }
            (state, inner.epoch, inner.seq)
        };
        let skip = (seq + 1 - first_seq) as usize;
        let Some(new_messages) = messages.get(skip..).filter(|rest| !rest.is_empty()) else {
            return Ok(Published::Unchanged);
        };
        let mut state = Report::clone(&state);
        let mut entries = Vec::with_capacity(new_messages.len());
        for (i, bytes) in new_messages.iter().enumerate() {
            let at = Cursor::new(current_epoch, seq + 1 + i as u64);
            entries.push(decode_entry(&mut state, at, bytes.clone())?);
        }
        let last_seq = seq + entries.len() as u64;
        Ok(self.deliver(state, current_epoch, last_seq, entries))
    }

    /// Makes `state` the current state at `cursor`, as the first state of its epoch: every
    /// subscriber gets a snapshot when it next reads (a follower that joined, fell behind the
    /// log, or saw the log start a new epoch).
    ///
    /// A reset to the hub's own cursor changes nothing (the state is taken to be the same); one
    /// to an earlier seq of the hub's epoch is refused with [`FollowError::Backwards`].
    pub fn follow_reset(&self, cursor: Cursor, state: Report) -> Result<Published, FollowError> {
        let _publisher = self.publish_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        {
            let inner = self.lock();
            if inner.state.is_some() && inner.epoch == cursor.epoch {
                if cursor.seq == inner.seq {
                    return Ok(Published::Unchanged);
                }
                if cursor.seq < inner.seq {
                    let current = Cursor::new(inner.epoch, inner.seq);
                    return Err(FollowError::Backwards { current, log: cursor });
                }
            }
        }
        Ok(self.publish_first(state, cursor.epoch, cursor.seq))
    }
}
