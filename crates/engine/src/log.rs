//! [`RedisLog`]: the feed's write-ahead log on Redis, for the instance that holds the lease.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gitops_feed::Log;
use gitops_hub::Commit;
use gitops_protocol::Cursor;

use crate::{Error, Lease, RedisEngine};

/// The lease this instance holds, if any: set by whoever keeps the lease (acquires and renews
/// it), read by [`RedisLog`] on every commit.
pub type SharedLease = Arc<Mutex<Option<Lease>>>;

/// The feed's log on Redis. Each commit is one [`RedisEngine::publish`] (blocking, on the
/// engine's writer connection), or [`RedisEngine::publish_messages`] between checkpoints (see
/// [`EngineOptions::checkpoint_messages`](crate::EngineOptions::checkpoint_messages)).
///
/// When Redis does not hold what the hub's epoch continues (it restarted empty, lost writes in
/// a failover, or this log failed before and the hub moved to a new epoch), the commit's state
/// begins its epoch in Redis instead, so followers reset to it. A commit without the lease
/// fails: the hub then serves it under a new epoch of its own, and the instance should follow
/// the log again (its follower resets the hub to Redis's state).
#[derive(Debug)]
pub struct RedisLog {
    engine: Arc<RedisEngine>,
    lease: SharedLease,
    /// The last commit failed: the next one writes the whole state.
    needs_begin: bool,
    /// Messages and their bytes published since this log's last checkpoint, and that
    /// checkpoint's size; `None` before its first commit (which stores one: this writer does not
    /// know how old Redis's is).
    since_checkpoint: Option<SinceCheckpoint>,
    /// How long each commit took, most recent last (at most [`TIMINGS_KEPT`]).
    timings: Vec<Duration>,
}

/// How many commit durations a [`RedisLog`] keeps for [`RedisLog::timings`].
pub const TIMINGS_KEPT: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct SinceCheckpoint {
    messages: u64,
    bytes: u64,
    checkpoint_bytes: u64,
}

impl RedisLog {
    /// A log writing through `engine` under whatever lease `lease` holds at each commit.
    pub fn new(engine: Arc<RedisEngine>, lease: SharedLease) -> Self {
        Self { engine, lease, needs_begin: false, since_checkpoint: None, timings: Vec::new() }
    }

    /// How long the commits took (the first [`TIMINGS_KEPT`]), for measurements.
    pub fn timings(&self) -> &[Duration] {
        &self.timings
    }

    fn checkpointed(&mut self, size: usize) {
        let checkpoint_bytes = size as u64;
        self.since_checkpoint = Some(SinceCheckpoint { messages: 0, bytes: 0, checkpoint_bytes });
    }

    fn try_commit(&mut self, commit: &Commit<'_>) -> Result<(), Error> {
        let lease = self.lease.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let Some(lease) = lease else {
            return Err(Error::Fenced { token: 0 });
        };
        let last_seq = commit.first_seq + (commit.messages.len() as u64).saturating_sub(1);
        if self.needs_begin {
            let cursor = Cursor::new(commit.epoch, last_seq);
            let size = self.engine.begin_epoch_inner(&lease, cursor, commit.state)?;
            self.checkpointed(size);
            return Ok(());
        }
        let messages = commit.messages.len() as u64;
        let bytes: u64 = commit.messages.iter().map(|message| message.len() as u64).sum();
        let checkpoint = self.since_checkpoint.is_none_or(|since| {
            let every = self
                .engine
                .options()
                .checkpoint_messages
                .min(self.engine.options().stream_max_len / 2)
                .max(1);
            since.messages + messages >= every || since.bytes + bytes >= since.checkpoint_bytes
        });
        match self.engine.publish_inner(&lease, commit, checkpoint) {
            Ok(Some(size)) => {
                self.checkpointed(size);
                Ok(())
            }
            Ok(None) => {
                if let Some(since) = &mut self.since_checkpoint {
                    since.messages += messages;
                    since.bytes += bytes;
                }
                Ok(())
            }
            // Redis does not hold what the hub continues (it restarted empty, lost writes, or a
            // follower saw this epoch go backwards). The epoch is ambiguous now: seqs of it may
            // name different states on different instances, so nobody may continue it. Redis
            // gets the state under a fresh epoch at once (followers reset to it), and the error
            // moves this hub to a new epoch too (its follower then resets it to Redis's).
            Err(Error::Diverged { redis_cursor }) => {
                let fresh = Cursor::new(crate::follow::random_epoch(), last_seq);
                tracing::warn!(
                    redis = %crate::show(redis_cursor),
                    hub = %Cursor::new(commit.epoch, last_seq),
                    new_epoch = %fresh.epoch,
                    "redis does not hold what this writer continues; beginning a new epoch with the whole state"
                );
                let size = self.engine.begin_epoch_inner(&lease, fresh, commit.state)?;
                self.checkpointed(size);
                Err(Error::Diverged { redis_cursor })
            }
            Err(error) => Err(error),
        }
    }
}

impl Log for RedisLog {
    fn location(&self) -> String {
        self.engine.location()
    }

    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), String> {
        let started = Instant::now();
        let result = self.try_commit(commit);
        if self.timings.len() < TIMINGS_KEPT {
            self.timings.push(started.elapsed());
        }
        match result {
            Ok(()) => {
                self.needs_begin = false;
                Ok(())
            }
            Err(error) => {
                // The hub moves to a new epoch on any error; its next commit is that epoch's
                // first write to Redis.
                self.needs_begin = true;
                Err(match error {
                    Error::Fenced { token: 0 } => {
                        "this instance does not hold the writer lease".to_owned()
                    }
                    other => other.to_string(),
                })
            }
        }
    }
}
