//! The notification queue kept in the store (the `outbox` and `kv` tables of the state
//! directory's database): what waits for delivery survives a restart, and so does the
//! notifier's state (who was told what), so a restart neither repeats nor loses a message.

use std::sync::Mutex;
use std::time::SystemTime;

use gitops_notify::{Outbox, OutboxError, OutboxId, OutboxItem, Retry};
use gitops_store::{Handle, OutboxFilter};

use crate::notifications::{Delivery, Queue, rfc3339, title_of};

/// The key the notifier's state is kept under.
const STATE_KEY: &str = "notify.state";

/// The store's outbox over one connection, one call at a time (SQLite connections are not
/// `Sync`; each call is a short transaction).
#[derive(Debug)]
pub(crate) struct StoreQueue {
    handle: Mutex<Handle>,
}

impl StoreQueue {
    pub(crate) fn new(handle: Handle) -> Self {
        Self { handle: Mutex::new(handle) }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Handle) -> gitops_store::Result<T>,
    ) -> Result<T, OutboxError> {
        let handle = self.handle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&handle).map_err(|error| match error {
            gitops_store::Error::NoSuchOutboxItem { id } => OutboxError::UnknownItem(id),
            gitops_store::Error::OutboxItemState { id, .. } => OutboxError::UnknownItem(id),
            other => OutboxError::Storage(Box::new(other)),
        })
    }
}

fn item(stored: gitops_store::OutboxItem) -> OutboxItem {
    OutboxItem {
        id: stored.id,
        destination: stored.destination,
        payload: stored.payload,
        attempts: stored.attempts,
        created_at: stored.created,
        next_attempt_at: stored.next_attempt.unwrap_or(stored.created),
    }
}

impl Outbox for StoreQueue {
    fn enqueue(
        &self,
        destination: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<OutboxId, OutboxError> {
        self.with(|h| h.enqueue(destination, payload, now))
    }

    fn due(
        &self,
        destination: &str,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, OutboxError> {
        Ok(self.with(|h| h.due(destination, now, limit))?.into_iter().map(item).collect())
    }

    fn next_due(&self, destination: &str) -> Result<Option<SystemTime>, OutboxError> {
        self.with(|h| h.next_due(destination))
    }

    fn delivered(&self, id: OutboxId, now: SystemTime) -> Result<(), OutboxError> {
        self.with(|h| h.delivered(id, now))
    }

    fn failed(
        &self,
        id: OutboxId,
        error: &str,
        retry: Retry,
        now: SystemTime,
    ) -> Result<(), OutboxError> {
        let at = match retry {
            Retry::At(at) => Some(at),
            Retry::Dead => None,
        };
        self.with(|h| h.failed(id, error, at, now))
    }
}

impl Queue for StoreQueue {
    fn recent(&self, limit: usize) -> Result<Vec<Delivery>, String> {
        let rows =
            self.with(|h| h.outbox(None, limit, OutboxFilter::any())).map_err(|e| e.to_string())?;
        Ok(rows
            .into_iter()
            .map(|row| Delivery {
                id: row.id,
                title: title_of(&row.payload),
                destination: row.destination,
                state: row.state,
                attempts: row.attempts,
                created_at: rfc3339(row.created),
                ended_at: row.ended.map(rfc3339),
                last_error: row.last_error,
            })
            .collect())
    }

    fn requeue(&self, id: OutboxId, now: SystemTime) -> Result<(), String> {
        self.with(|h| h.requeue(id, now)).map_err(|e| e.to_string())
    }

    fn load_state(&self) -> Option<String> {
        self.with(|h| h.kv_get(STATE_KEY)).ok().flatten()
    }

    fn save_state(&self, json: &str, now: SystemTime) {
        if let Err(error) = self.with(|h| h.kv_set(STATE_KEY, json, now)) {
            tracing::warn!(%error, "cannot keep the notifier's state");
        }
    }

    fn counts(&self) -> Result<std::collections::BTreeMap<(String, String), u64>, String> {
        self.with(|h| h.outbox_counts()).map_err(|e| e.to_string())
    }
}
