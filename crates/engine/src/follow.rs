//! Following the stream: what every instance reads from Redis (on a connection of its own,
//! with blocking `XREAD`s) to apply to its hub.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use gitops_protocol::{Cursor, Epoch};
use gitops_report::Report;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;

use crate::{Error, RedisEngine, Snapshot, meta_cursor, parse_snapshot, snapshot_cmd};

/// The most stream entries one read takes.
const READ_COUNT: usize = 512;

/// What a follower should do to its hub next.
#[derive(Debug, Clone)]
pub enum Followed {
    /// Apply these messages (see `Hub::follow_messages`): `messages[i]` has seq `first_seq + i`.
    Messages {
        /// Their epoch.
        epoch: Epoch,
        /// The seq of the first.
        first_seq: u64,
        /// The encoded messages, exactly as the writer's hub sent them.
        messages: Vec<Bytes>,
    },
    /// Replace the state (see `Hub::follow_reset`): the writer began a new epoch, Redis lost
    /// what this follower had, or the follower fell behind the stream's cap.
    Reset {
        /// The state's cursor.
        cursor: Cursor,
        /// The state.
        state: Box<Report>,
    },
    /// Redis cannot be reached (or answers errors): keep serving the last state, say so, and
    /// wait; the follower reconnects with backoff and says [`Followed::Available`] when back.
    Unavailable {
        /// What went wrong.
        reason: String,
    },
    /// Redis is reachable again; what was missed follows.
    Available,
}

/// Reads the stream from a cursor on, yielding [`Followed`] items; see [`RedisEngine::follow`].
#[derive(Debug)]
pub struct Follower {
    engine: Arc<RedisEngine>,
    con: Option<MultiplexedConnection>,
    /// The cursor of what has been yielded so far.
    position: Option<Cursor>,
    /// The stream entry to read after; `None`: find out from the state first.
    last_id: Option<String>,
    /// Whether the position is to be checked against Redis before reading on (after a reconnect).
    check: bool,
    /// An epoch Redis went backwards in: its entries are ignored until another epoch begins.
    poisoned: Option<Epoch>,
    available: bool,
    failures: u32,
    pending: VecDeque<Followed>,
}

impl RedisEngine {
    /// Follows the stream from `from` (the cursor the local hub is at, or `None`): the first
    /// item is a [`Followed::Reset`] to Redis's checkpoint unless `from` is in Redis's epoch at
    /// or past the checkpoint (then the stream after the checkpoint is read, skipping what
    /// `from` already has). Reads on a connection of its own; never ends (drop it to stop).
    pub fn follow(self: &Arc<Self>, from: Option<Cursor>) -> Follower {
        Follower {
            engine: self.clone(),
            con: None,
            position: from,
            last_id: None,
            check: false,
            poisoned: None,
            available: true,
            failures: 0,
            pending: VecDeque::new(),
        }
    }
}

impl Follower {
    /// The next thing to apply. Each wait is bounded by the engine's block and io timeouts, and
    /// after a failure by the backoff.
    pub async fn next(&mut self) -> Followed {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return item;
            }
            if self.failures > 0 && self.con.is_none() {
                tokio::time::sleep(backoff(&self.engine.options, self.failures)).await;
            }
            if let Err(error) = self.step().await {
                self.con = None;
                self.check = true;
                self.failures = self.failures.saturating_add(1);
                if self.available {
                    self.available = false;
                    tracing::warn!(%error, "redis is unavailable; serving the last state");
                    return Followed::Unavailable { reason: error.to_string() };
                }
            }
        }
    }

    /// The items as a stream (it never ends).
    pub fn into_stream(self) -> impl Stream<Item = Followed> {
        futures_util::stream::unfold(self, |mut follower| async move {
            let item = follower.next().await;
            Some((item, follower))
        })
    }

    /// The cursor of what has been yielded so far.
    pub fn position(&self) -> Option<Cursor> {
        self.position
    }

    /// Connects when needed, finds its place, reads once; what to yield goes to `pending`.
    async fn step(&mut self) -> Result<(), Error> {
        if self.con.is_none() {
            let options = &self.engine.options;
            let config = redis::AsyncConnectionConfig::new()
                .set_connection_timeout(Some(options.connect_timeout))
                .set_response_timeout(Some(options.block + options.io_timeout));
            let con =
                self.engine.client.get_multiplexed_async_connection_with_config(&config).await?;
            self.con = Some(con);
        }
        if self.last_id.is_none() || self.check {
            self.sync().await?;
            self.check = false;
        }
        if !self.available {
            tracing::info!("redis is available again");
            self.available = true;
            self.failures = 0;
            self.pending.push_front(Followed::Available);
        }
        self.read().await
    }

    fn con(&mut self) -> Result<&mut MultiplexedConnection, Error> {
        self.con.as_mut().ok_or_else(|| Error::Corrupt("no connection".to_owned()))
    }

    /// Finds where to read from: the state Redis holds (its last checkpoint) and its head,
    /// compared with the position.
    async fn sync(&mut self) -> Result<(), Error> {
        let mut pipe = redis::pipe();
        pipe.add_command(snapshot_cmd(&self.engine.keys));
        pipe.cmd("HMGET").arg(&self.engine.keys.meta).arg("epoch").arg("seq");
        type Fields = Vec<Option<Vec<u8>>>;
        let (fields, meta): (Fields, Fields) = pipe.query_async(self.con()?).await?;
        let head = meta_cursor(&meta);
        let Some(Snapshot { cursor, state, stream_id }) = parse_snapshot(&fields)? else {
            // Redis holds nothing (it restarted empty): keep serving, and read the stream from
            // its start, where the writer's next epoch will begin.
            if self.position.is_some() {
                tracing::warn!(
                    "redis holds no state; serving the last one until a writer begins a new epoch"
                );
            }
            self.last_id = Some("0-0".to_owned());
            return Ok(());
        };
        let resumable = self.check && self.last_id.is_some();
        // Redis is behind this follower in its epoch only if its head is: the checkpoint
        // usually is, and the stream holds every message after it.
        let lost = |position: Cursor| {
            head.is_none_or(|head| head.epoch != position.epoch || head.seq < position.seq)
        };
        match self.position {
            Some(position) if position == cursor => self.last_id = Some(stream_id),
            Some(position)
                if position.epoch == cursor.epoch
                    && cursor.seq < position.seq
                    && (lost(position) || self.poisoned == Some(position.epoch)) =>
            {
                if self.poisoned != Some(position.epoch) {
                    self.poison(position, head.unwrap_or(cursor)).await?;
                }
                self.last_id = Some(stream_id);
            }
            Some(position) if position.epoch == cursor.epoch && cursor.seq < position.seq => {
                // Ahead of the checkpoint: read on from where this follower was, or from the
                // checkpoint, skipping what it has already applied.
                if !resumable {
                    self.last_id = Some(stream_id);
                }
            }
            Some(position)
                if position.epoch == cursor.epoch && resumable && self.poisoned.is_none() =>
            {
                // Reconnected behind Redis in the same epoch: read on from where we were (a gap,
                // if the cap trimmed it meanwhile, turns into a reset).
            }
            _ if self.poisoned == Some(cursor.epoch) => self.last_id = Some(stream_id),
            _ => {
                self.position = Some(cursor);
                self.poisoned = None;
                self.last_id = Some(stream_id);
                self.pending.push_back(Followed::Reset { cursor, state: Box::new(state) });
            }
        }
        Ok(())
    }

    /// Redis is behind this follower in the same epoch: it lost writes. Whatever it gets next
    /// under that epoch may name another state by the same seq, so the epoch is marked in
    /// Redis (the writer's next continue is refused and it begins a new epoch) and ignored here.
    async fn poison(&mut self, position: Cursor, redis_cursor: Cursor) -> Result<(), Error> {
        tracing::warn!(%position, redis = %redis_cursor, "redis went backwards in this epoch; waiting for a new epoch");
        self.poisoned = Some(position.epoch);
        let script = self.engine.poison.clone();
        let meta = self.engine.keys.meta.clone();
        let epoch = position.epoch.to_string();
        let _: i64 = script.key(meta).arg(epoch).invoke_async(self.con()?).await?;
        Ok(())
    }

    /// One blocking read of the stream.
    async fn read(&mut self) -> Result<(), Error> {
        let options = &self.engine.options;
        let block = u64::try_from(options.block.as_millis()).unwrap_or(u64::MAX);
        let stream = self.engine.keys.stream.clone();
        let last_id = self.last_id.clone().unwrap_or_else(|| "0-0".to_owned());
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT")
            .arg(READ_COUNT)
            .arg("BLOCK")
            .arg(block)
            .arg("STREAMS")
            .arg(stream)
            .arg(last_id);
        let reply: Option<StreamReadReply> = cmd.query_async(self.con()?).await?;
        let entries =
            reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids).collect::<Vec<_>>();
        if entries.is_empty() {
            return self.idle_check().await;
        }
        let mut batch: Option<(Epoch, u64, Vec<Bytes>)> = None;
        for entry in entries {
            let kind: Option<String> = entry.get("t");
            let at = entry
                .get::<String>("e")
                .zip(entry.get::<String>("s"))
                .and_then(|(e, s)| crate::parse_cursor(e.as_bytes(), s.as_bytes()))
                .ok_or_else(|| {
                    Error::Corrupt(format!("stream entry {} has no cursor", entry.id))
                })?;
            if self.poisoned == Some(at.epoch) {
                self.last_id = Some(entry.id);
                continue;
            }
            let expected = self.position.filter(|p| p.epoch == at.epoch).map(|p| p.seq + 1);
            match (kind.as_deref(), expected) {
                (Some("m"), Some(expected)) if at.seq < expected => {}
                (Some("m"), Some(expected)) if at.seq == expected => {
                    let bytes: Vec<u8> = entry.get("m").ok_or_else(|| {
                        Error::Corrupt(format!("stream entry {} has no message", entry.id))
                    })?;
                    let (_, _, messages) =
                        batch.get_or_insert_with(|| (at.epoch, at.seq, Vec::new()));
                    messages.push(Bytes::from(bytes));
                    self.position = Some(at);
                }
                // A new epoch began, or entries were trimmed before this follower read them:
                // take the state instead (entries up to it are not read again).
                _ => {
                    self.flush(batch.take());
                    self.last_id = None;
                    return Ok(());
                }
            }
            self.last_id = Some(entry.id);
        }
        self.flush(batch);
        Ok(())
    }

    fn flush(&mut self, batch: Option<(Epoch, u64, Vec<Bytes>)>) {
        if let Some((epoch, first_seq, messages)) = batch {
            self.pending.push_back(Followed::Messages { epoch, first_seq, messages });
        }
    }

    /// Nothing new for a whole block: checks that Redis still holds this follower's epoch at
    /// or past its seq (a restart or failover without a dropped connection shows up here).
    async fn idle_check(&mut self) -> Result<(), Error> {
        let meta = self.engine.keys.meta.clone();
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(meta).arg("epoch").arg("seq");
        let fields: Vec<Option<Vec<u8>>> = cmd.query_async(self.con()?).await?;
        let redis_cursor = meta_cursor(&fields);
        let moved = match (self.position, redis_cursor) {
            (Some(position), Some(redis)) => {
                redis.epoch != position.epoch && self.poisoned != Some(redis.epoch)
                    || (redis.epoch == position.epoch && redis.seq < position.seq)
            }
            (None, Some(_)) => true,
            (_, None) => self.last_id.as_deref() != Some("0-0"),
        };
        if moved {
            self.last_id = None;
        }
        Ok(())
    }
}

/// The wait before reconnect attempt `failures` (1, 2, …): doubling from the minimum up to the
/// maximum, with ±25 % jitter so instances do not reconnect in step.
fn backoff(options: &crate::EngineOptions, failures: u32) -> Duration {
    let doubled = options.backoff_min.saturating_mul(1 << failures.min(16).saturating_sub(1));
    let base = doubled.min(options.backoff_max);
    let jitter = (random_u64() % 500) as f64 / 1000.0 + 0.75;
    base.mul_f64(jitter)
}

fn random_u64() -> u64 {
    // RandomState is seeded per process; the time keeps successive values apart.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    hasher.finish()
}

/// A fresh random epoch.
/// A fresh epoch: random, so two writers beginning epochs never pick the same one.
pub fn random_epoch() -> Epoch {
    Epoch(random_u64())
}
