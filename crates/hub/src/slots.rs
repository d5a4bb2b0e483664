//! The subscribers' side: one bounded queue per subscriber (a [`Slot`]), what a read takes from
//! it (conflation answered lazily, control and status first), and the [`Subscription`] handle.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use gitops_protocol::Cursor;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{
    Answer, AnswerKind, CloseReason, Delivery, DeliveryKind, Hub, HubConfig, Inner, Next,
    SINK_BATCH_MAX, Sink,
};

/// One subscriber's queue and read state, kept by the hub under its lock.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) queue: VecDeque<Delivery>,
    pub(crate) queued_bytes: usize,
    /// The seq of the last state-bearing message this subscriber read, in the hub's epoch.
    pub(crate) consumed: Option<u64>,
    pub(crate) lagging_since: Option<Instant>,
    pub(crate) status_pending: bool,
    pub(crate) control: VecDeque<Bytes>,
    pub(crate) closed: Option<CloseReason>,
    pub(crate) notify: Arc<Notify>,
    /// The publisher's way to write to this subscriber itself (see [`Sink`]).
    pub(crate) sink: Option<Arc<dyn Sink>>,
}

impl std::fmt::Debug for dyn Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sink")
    }
}

impl Slot {
    pub(crate) fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            queued_bytes: 0,
            consumed: None,
            lagging_since: None,
            status_pending: false,
            control: VecDeque::new(),
            closed: None,
            notify: Arc::new(Notify::new()),
            sink: None,
        }
    }

    /// The whole queue for the sink, when the publisher may write it itself: a sink is set and
    /// claimed, and the queue holds only state messages, at most [`SINK_BATCH_MAX`] of them
    /// (control and status messages go through the reader, whose turn it is to write them).
    pub(crate) fn take_for_sink(&mut self) -> Option<Vec<Delivery>> {
        if !self.may_claim(self.queue.len()) {
            return None;
        }
        let batch: Vec<Delivery> = self.queue.drain(..).collect();
        self.queued_bytes = 0;
        self.consumed_up_to(&batch);
        Some(batch)
    }

    /// Claims the sink for `batch` without queueing it, as [`Slot::take_for_sink`] would after
    /// queueing it behind an empty queue: the caller hands `batch` to the sink. Whether it did.
    pub(crate) fn claim_for(&mut self, batch: &[Delivery]) -> bool {
        debug_assert!(self.queue.is_empty());
        if !self.may_claim(batch.len()) {
            return false;
        }
        self.consumed_up_to(batch);
        true
    }

    /// Whether the publisher may write `n` messages itself: a sink is set and claimed, no
    /// control or status message waits for the reader, and `n` is at most [`SINK_BATCH_MAX`].
    fn may_claim(&self, n: usize) -> bool {
        let Some(sink) = self.sink.as_ref() else { return false };
        self.control.is_empty() && !self.status_pending && n <= SINK_BATCH_MAX && sink.claim()
    }

    fn consumed_up_to(&mut self, batch: &[Delivery]) {
        if let Some(cursor) = batch.iter().rev().find_map(|delivery| delivery.cursor) {
            self.consumed = Some(cursor.seq);
        }
    }

    pub(crate) fn replace_queue(&mut self, answer: &Answer) {
        self.queue.clear();
        self.queued_bytes = 0;
        let n = answer.messages.len();
        for (i, bytes) in answer.messages.iter().enumerate() {
            // Each replayed message brings the subscriber one seq further; the last (or only)
            // message of any answer brings it to the answer's cursor.
            let cursor = answer.cursor.map(|c| Cursor::new(c.epoch, c.seq - (n - 1 - i) as u64));
            self.queued_bytes += bytes.len();
            self.queue.push_back(Delivery {
                bytes: bytes.clone(),
                kind: DeliveryKind::Answer(answer.kind),
                cursor,
            });
        }
    }
}

impl Inner {
    pub(crate) fn next_for(&mut self, id: u64, config: &HubConfig) -> Next {
        let epoch = self.epoch;
        let Inner { slots, status, .. } = self;
        let Some(slot) = slots.get_mut(&id) else {
            return Next::Closed(CloseReason::Shutdown);
        };
        if let Some(reason) = slot.closed {
            return Next::Closed(reason);
        }
        if let Some(bytes) = slot.control.pop_front() {
            return Next::Message(Delivery { bytes, kind: DeliveryKind::Control, cursor: None });
        }
        if slot.status_pending {
            slot.status_pending = false;
            if let Some(bytes) = status.clone() {
                return Next::Message(Delivery { bytes, kind: DeliveryKind::Status, cursor: None });
            }
        }
        if slot.lagging_since.is_some() {
            let since = slot.consumed.map(|seq| Cursor::new(epoch, seq));
            let answer = self.answer(since, config);
            let Some(slot) = self.slots.get_mut(&id) else {
                return Next::Closed(CloseReason::Shutdown);
            };
            slot.lagging_since = None;
            slot.replace_queue(&answer);
        }
        let Some(slot) = self.slots.get_mut(&id) else {
            return Next::Closed(CloseReason::Shutdown);
        };
        match slot.queue.pop_front() {
            Some(delivery) => {
                slot.queued_bytes -= delivery.bytes.len();
                if let Some(cursor) = delivery.cursor {
                    slot.consumed = Some(cursor.seq);
                }
                Next::Message(delivery)
            }
            None => Next::Empty,
        }
    }
}

/// Hashes subscriber ids (consecutive numbers) with one multiplication instead of SipHash: the
/// map is looked up once per delivered message, under the hub's lock. The multiplier (2^64 / φ)
/// spreads consecutive ids over the high bits too, which hashbrown uses to tag its slots.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct SlotIdHash;

impl BuildHasher for SlotIdHash {
    type Hasher = SlotIdHasher;

    fn build_hasher(&self) -> SlotIdHasher {
        SlotIdHasher(0)
    }
}

/// The hasher of [`SlotIdHash`].
#[derive(Debug, Default)]
pub(crate) struct SlotIdHasher(u64);

impl Hasher for SlotIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; this fallback keeps any other key correct.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Wakes one subscription's reader ([`Subscription::woken`]); see [`Subscription::wake_handle`].
#[derive(Debug, Clone)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Wakes the reader (or makes its next wait return at once).
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// A subscriber's end: read messages in order with [`try_next`](Self::try_next) or
/// [`next`](Self::next). Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    pub(crate) hub: Arc<Hub>,
    pub(crate) id: u64,
    pub(crate) notify: Arc<Notify>,
}

impl Subscription {
    /// The next message, if one is ready.
    pub fn try_next(&self) -> Next {
        let mut inner = self.hub.lock();
        inner.next_for(self.id, &self.hub.config)
    }

    /// Moves up to `max` queued messages into `out`, in order, under one lock (a writer taking
    /// a batch); returns how many it moved, 0 when nothing is queued. `Err` with the reason
    /// when the hub has closed this subscription (nothing is moved then).
    ///
    /// With [`Subscription::woken`] this is a reader's whole loop: take until fewer than `max`
    /// come back, then wait to be woken, then take again. Every queued message wakes the reader
    /// after it is queued, so a reader that took everything and then waits misses nothing.
    pub fn take(&self, out: &mut Vec<Delivery>, max: usize) -> Result<usize, CloseReason> {
        let mut inner = self.hub.lock();
        let mut taken = 0;
        while taken < max {
            match inner.next_for(self.id, &self.hub.config) {
                Next::Message(delivery) => {
                    out.push(delivery);
                    taken += 1;
                }
                Next::Empty => break,
                Next::Closed(reason) if taken == 0 => return Err(reason),
                Next::Closed(_) => break,
            }
        }
        Ok(taken)
    }

    /// Resolves when this subscriber has been woken since it last waited: a message queued, the
    /// subscription closed, or [`Hub::wake_all`]. A wake while nobody waits is kept (one), so
    /// it is never lost between a [`take`](Self::take) and this. It may resolve with nothing to
    /// take (a message taken in the batch before its wake was seen): take, and wait again.
    pub async fn woken(&self) {
        self.notify.notified().await;
    }

    /// Waits for the next message; returns the close reason when the hub closed this subscription.
    pub async fn next(&self) -> Result<Delivery, CloseReason> {
        loop {
            match self.try_next() {
                Next::Message(delivery) => return Ok(delivery),
                Next::Closed(reason) => return Err(reason),
                // `notify_one` stores a permit when nobody waits, so a wake-up between
                // `try_next` and here is not lost.
                Next::Empty => self.notify.notified().await,
            }
        }
    }

    /// Replaces whatever is queued with the answer from `since` (a client's `resume`).
    pub fn resume(&self, since: Option<Cursor>) -> AnswerKind {
        let mut inner = self.hub.lock();
        let answer = inner.answer(since, &self.hub.config);
        let epoch = inner.epoch;
        let seq = inner.seq;
        let Some(slot) = inner.slots.get_mut(&self.id) else {
            return answer.kind;
        };
        slot.lagging_since = None;
        slot.consumed = since.filter(|c| c.epoch == epoch && c.seq <= seq).map(|c| c.seq);
        if answer.kind == AnswerKind::Waiting {
            slot.queue.clear();
            slot.queued_bytes = 0;
        } else {
            slot.replace_queue(&answer);
        }
        slot.notify.notify_one();
        answer.kind
    }

    /// Queues a snapshot of the current state (a client's `request-update`), replacing the queue.
    pub fn request_snapshot(&self) {
        let mut inner = self.hub.lock();
        let answer = inner.snapshot_answer();
        let Some(slot) = inner.slots.get_mut(&self.id) else { return };
        if answer.kind == AnswerKind::Snapshot {
            slot.lagging_since = None;
            slot.replace_queue(&answer);
        }
        slot.notify.notify_one();
    }

    /// Queues a control message (a `pong` or an `error`) ahead of state messages; past
    /// [`HubConfig::control_queue_max`] the oldest is dropped.
    pub fn push_control(&self, bytes: Bytes) {
        let mut inner = self.hub.lock();
        let max = self.hub.config.control_queue_max;
        let Some(slot) = inner.slots.get_mut(&self.id) else { return };
        if slot.control.len() >= max {
            slot.control.pop_front();
        }
        slot.control.push_back(bytes);
        slot.notify.notify_one();
    }

    /// Queues the current `connection-status` again (a client's `get-status`).
    pub fn request_status(&self) {
        let mut inner = self.hub.lock();
        let Some(slot) = inner.slots.get_mut(&self.id) else { return };
        slot.status_pending = true;
        slot.notify.notify_one();
    }

    /// Bytes queued for this subscriber now.
    pub fn queued_bytes(&self) -> usize {
        let inner = self.hub.lock();
        inner.slots.get(&self.id).map_or(0, |slot| slot.queued_bytes)
    }

    /// Lets the publisher write this subscriber's messages itself, through `sink` (see [`Sink`]).
    pub fn set_sink(&self, sink: Arc<dyn Sink>) {
        let mut inner = self.hub.lock();
        if let Some(slot) = inner.slots.get_mut(&self.id) {
            slot.sink = Some(sink);
        }
    }

    /// A handle that wakes this subscription's reader, as a message would (for a [`Sink`] that
    /// hands work back to the reader).
    pub fn wake_handle(&self) -> Wake {
        Wake(self.notify.clone())
    }

    /// The hub this subscription reads from.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        inner.slots.remove(&self.id);
    }
}
