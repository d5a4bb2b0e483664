//! The registry of real-time clients: who is connected, over what, from where, at which cursor;
//! per-address and global caps.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::MutexGuard;
use std::sync::atomic::{AtomicU64, Ordering};

use gitops_protocol::{ClientsByTransport, Cursor};

use crate::{Live, lock, now_rfc3339};

/// The kinds of real-time clients, for counts and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKind {
    /// A WebSocket connection.
    Ws,
    /// A Server-Sent Events stream.
    Sse,
    /// A long-poll request.
    LongPoll,
}

impl ClientKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ws => "ws",
            Self::Sse => "sse",
            Self::LongPoll => "long_poll",
        }
    }
}

/// One connected client, as `GET /api/ws/clients` lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientInfo {
    /// A number unique within this server run.
    pub id: u64,
    /// `ws`, `sse` or `long_poll`.
    pub transport: &'static str,
    /// The peer's address.
    pub remote: SocketAddr,
    /// When it connected, RFC 3339.
    pub connected_at: String,
    /// The cursor of the last state-bearing message sent to it (serialised as `"<epoch>:<seq>"`).
    pub cursor: Option<Cursor>,
}

/// A registered client: what the listing shows, and the seq of its last state-bearing message,
/// which the client's own task updates without the registry lock (0 = none yet).
#[derive(Debug)]
pub(crate) struct Registered {
    info: ClientInfo,
    last_seq: Arc<AtomicU64>,
}

#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) next_id: u64,
    pub(crate) clients: HashMap<u64, Registered>,
    pub(crate) per_ip: HashMap<IpAddr, usize>,
    pub(crate) counts: ClientsByTransport,
}

/// Why a real-time client was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    TooManyFromIp,
    TooMany,
}

/// A registered client; unregisters on drop.
pub(crate) struct ClientGuard {
    live: Arc<Live>,
    id: u64,
    last_seq: Arc<AtomicU64>,
}

impl ClientGuard {
    /// Notes the cursor of the last state-bearing message sent: once per delivered batch per
    /// client, so a plain atomic store, not the registry's lock (the hub's epoch is the same for
    /// every cursor of a run).
    pub(crate) fn set_cursor(&self, cursor: Cursor) {
        self.last_seq.store(cursor.seq, Ordering::Relaxed);
    }

    /// Where [`ClientGuard::set_cursor`] writes, for a writer that is not the session's.
    pub(crate) fn cursor_cell(&self) -> &Arc<AtomicU64> {
        &self.last_seq
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut registry = self.live.registry();
        if let Some(Registered { info, .. }) = registry.clients.remove(&self.id) {
            if let Some(n) = registry.per_ip.get_mut(&info.remote.ip()) {
                *n -= 1;
                if *n == 0 {
                    registry.per_ip.remove(&info.remote.ip());
                }
            }
            match info.transport {
                "ws" => registry.counts.ws -= 1,
                "sse" => registry.counts.sse -= 1,
                _ => registry.counts.long_poll -= 1,
            }
        }
        drop(registry);
        self.live.counts_changed.fetch_add(1, Ordering::Relaxed);
    }
}

impl Live {
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        lock(&self.clients)
    }

    pub(crate) fn register(
        self: &Arc<Self>,
        kind: ClientKind,
        remote: SocketAddr,
    ) -> Result<ClientGuard, Refusal> {
        let mut registry = self.registry();
        let total = registry.clients.len();
        if total >= self.config.max_clients {
            return Err(Refusal::TooMany);
        }
        let from_ip = registry.per_ip.get(&remote.ip()).copied().unwrap_or(0);
        if from_ip >= self.config.max_clients_per_ip {
            return Err(Refusal::TooManyFromIp);
        }
        let id = registry.next_id;
        registry.next_id += 1;
        *registry.per_ip.entry(remote.ip()).or_insert(0) += 1;
        match kind {
            ClientKind::Ws => registry.counts.ws += 1,
            ClientKind::Sse => registry.counts.sse += 1,
            ClientKind::LongPoll => registry.counts.long_poll += 1,
        }
        let last_seq = Arc::new(AtomicU64::new(0));
        let info = ClientInfo {
            id,
            transport: kind.as_str(),
            remote,
            connected_at: now_rfc3339(),
            cursor: None,
        };
        registry.clients.insert(id, Registered { info, last_seq: last_seq.clone() });
        drop(registry);
        self.counts_changed.fetch_add(1, Ordering::Relaxed);
        Ok(ClientGuard { live: self.clone(), id, last_seq })
    }

    /// Every connected client, by id, with its cursor.
    pub(crate) fn client_list(&self) -> (Vec<ClientInfo>, ClientsByTransport) {
        let epoch = self.hub.epoch();
        let registry = self.registry();
        let mut list: Vec<ClientInfo> = registry
            .clients
            .values()
            .map(|registered| {
                let seq = registered.last_seq.load(Ordering::Relaxed);
                let cursor = (seq > 0).then(|| Cursor::new(epoch, seq));
                ClientInfo { cursor, ..registered.info.clone() }
            })
            .collect();
        let counts = registry.counts;
        drop(registry);
        list.sort_by_key(|c| c.id);
        (list, counts)
    }
}
