//! The durable outbox's contract, and an in-memory implementation for tests and single runs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

/// An outbox item's id, unique within its outbox.
pub type OutboxId = u64;

/// A payload waiting for (another) delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// The item's id.
    pub id: OutboxId,
    /// The destination's id (its name in the configuration, never its URL).
    pub destination: String,
    /// The payload: a [`crate::Rendered`] as [`crate::Rendered::to_bytes`] wrote it.
    pub payload: Vec<u8>,
    /// How many attempts failed so far.
    pub attempts: u32,
    /// When it was enqueued.
    pub created_at: SystemTime,
    /// When it is due (again).
    pub next_attempt_at: SystemTime,
}

/// What to do with an item whose attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Try again at this time.
    At(SystemTime),
    /// Give up: keep it as a dead letter.
    Dead,
}

/// A dead letter: an item given up on, with the last error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The item as it was last tried.
    pub item: OutboxItem,
    /// The last error, as text (it names no secret).
    pub error: String,
    /// When it was given up on.
    pub at: SystemTime,
}

/// Why the outbox could not do what was asked. The dispatcher retries later.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox holds as many items as it may; the payload was not kept. Deliver or drop some
    /// (a destination that stays down fills it; its dead letters say why).
    #[error("the outbox is full ({capacity} items)")]
    Full {
        /// The most items it holds.
        capacity: usize,
    },
    /// No item has this id (already delivered or dead). Nothing to do.
    #[error("no outbox item {0}")]
    UnknownItem(OutboxId),
    /// The storage behind the outbox failed. Retry later.
    #[error("outbox storage failed")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where payloads wait until delivered: the seam for a durable, store-backed outbox.
///
/// Calls are synchronous and expected to be quick (an SQLite row); the dispatcher calls them from
/// its tasks. Every method takes the time from the caller, so implementations hold no clock.
pub trait Outbox: Send + Sync {
    /// Keeps `payload` for `destination`, due at `now`.
    fn enqueue(
        &self,
        destination: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<OutboxId, OutboxError>;

    /// Up to `limit` items for `destination` due at `now`, oldest first.
    fn due(
        &self,
        destination: &str,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, OutboxError>;

    /// When the next item for `destination` is due, if any is waiting.
    fn next_due(&self, destination: &str) -> Result<Option<SystemTime>, OutboxError>;

    /// Item `id` was delivered at `now`: it leaves the outbox.
    fn delivered(&self, id: OutboxId, now: SystemTime) -> Result<(), OutboxError>;

    /// An attempt on item `id` failed with `error` at `now`: count it, and either schedule the
    /// next attempt or keep the item as a dead letter.
    fn failed(
        &self,
        id: OutboxId,
        error: &str,
        retry: Retry,
        now: SystemTime,
    ) -> Result<(), OutboxError>;
}

/// An outbox in memory, bounded: for tests, and for a server run without a store (lost on exit).
#[derive(Debug)]
pub struct MemoryOutbox {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: OutboxId,
    pending: BTreeMap<OutboxId, OutboxItem>,
    delivered: VecDeque<(OutboxId, SystemTime)>,
    dead: VecDeque<DeadLetter>,
}

impl MemoryOutbox {
    /// An outbox that holds at most `capacity` pending items (and remembers as many delivered
    /// ids and dead letters, the oldest forgotten first).
    pub fn new(capacity: usize) -> Self {
        Self { capacity, inner: Mutex::new(Inner { next_id: 1, ..Inner::default() }) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind: go on with it.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The items waiting, by id.
    pub fn pending(&self) -> Vec<OutboxItem> {
        self.lock().pending.values().cloned().collect()
    }

    /// The ids delivered, with when, oldest first.
    pub fn delivered_ids(&self) -> Vec<(OutboxId, SystemTime)> {
        self.lock().delivered.iter().copied().collect()
    }

    /// The dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead.iter().cloned().collect()
    }
}

fn push_bounded<T>(queue: &mut VecDeque<T>, value: T, capacity: usize) {
    if queue.len() >= capacity.max(1) {
        queue.pop_front();
    }
    queue.push_back(value);
}

impl Outbox for MemoryOutbox {
    fn enqueue(
        &self,
        destination: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<OutboxId, OutboxError> {
        let mut inner = self.lock();
        if inner.pending.len() >= self.capacity {
            return Err(OutboxError::Full { capacity: self.capacity });
        }
        let id = inner.next_id;
        inner.next_id += 1;
        let item = OutboxItem {
            id,
            destination: destination.to_owned(),
            payload: payload.to_vec(),
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
        };
        inner.pending.insert(id, item);
        Ok(id)
    }

    fn due(
        &self,
        destination: &str,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, OutboxError> {
        let inner = self.lock();
        Ok(inner
            .pending
            .values()
            .filter(|item| item.destination == destination && item.next_attempt_at <= now)
            .take(limit)
            .cloned()
            .collect())
    }

    fn next_due(&self, destination: &str) -> Result<Option<SystemTime>, OutboxError> {
        let inner = self.lock();
        Ok(inner
            .pending
            .values()
            .filter(|item| item.destination == destination)
            .map(|item| item.next_attempt_at)
            .min())
    }

    fn delivered(&self, id: OutboxId, now: SystemTime) -> Result<(), OutboxError> {
        let mut inner = self.lock();
        inner.pending.remove(&id).ok_or(OutboxError::UnknownItem(id))?;
        push_bounded(&mut inner.delivered, (id, now), self.capacity);
        Ok(())
    }

    fn failed(
        &self,
        id: OutboxId,
        error: &str,
        retry: Retry,
        now: SystemTime,
    ) -> Result<(), OutboxError> {
        let mut inner = self.lock();
        let item = inner.pending.get_mut(&id).ok_or(OutboxError::UnknownItem(id))?;
        item.attempts = item.attempts.saturating_add(1);
        match retry {
            Retry::At(at) => item.next_attempt_at = at,
            Retry::Dead => {
                let item = inner.pending.remove(&id).ok_or(OutboxError::UnknownItem(id))?;
                let letter = DeadLetter { item, error: error.to_owned(), at: now };
                push_bounded(&mut inner.dead, letter, self.capacity);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn items_are_due_in_order_retried_later_then_dead() {
        let outbox = MemoryOutbox::new(2);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let a = outbox.enqueue("ntfy", b"a", t0).unwrap();
        let b = outbox.enqueue("ntfy", b"b", t0).unwrap();
        assert!(matches!(outbox.enqueue("ntfy", b"c", t0), Err(OutboxError::Full { capacity: 2 })));
        assert_eq!(
            outbox.due("ntfy", t0, 10).unwrap().iter().map(|i| i.id).collect::<Vec<_>>(),
            [a, b]
        );
        assert!(outbox.due("mail", t0, 10).unwrap().is_empty());

        let later = t0 + Duration::from_secs(5);
        outbox.failed(a, "could not connect", Retry::At(later), t0).unwrap();
        assert_eq!(outbox.due("ntfy", t0, 10).unwrap().len(), 1);
        assert_eq!(outbox.next_due("ntfy").unwrap(), Some(t0));
        outbox.delivered(b, t0).unwrap();
        assert_eq!(outbox.next_due("ntfy").unwrap(), Some(later));
        assert_eq!(outbox.due("ntfy", later, 10).unwrap()[0].attempts, 1);

        outbox.failed(a, "answered 404", Retry::Dead, later).unwrap();
        assert_eq!(outbox.next_due("ntfy").unwrap(), None);
        let dead = outbox.dead_letters();
        assert_eq!(
            (dead[0].item.id, dead[0].item.attempts, dead[0].error.as_str()),
            (a, 2, "answered 404")
        );
        assert!(matches!(outbox.delivered(a, later), Err(OutboxError::UnknownItem(_))));
    }
}
