//! The publisher's own way to a WebSocket client over plain TCP: a [`Sink`] the hub hands a
//! publish's messages to, so that a change reaches an idle client with one non-blocking
//! `sendmsg` on the publisher's thread, and no wake-up of the client's task.
//!
//! The right to write is the [`Turn`] the session gives away only while it waits. The publisher
//! claims it under the hub's lock (so no message is taken by one side while the other writes),
//! writes the whole batch or hands what the socket did not take to the session with the turn
//! ([`Left`]), which finishes it under its send timeout before anything else. A session that
//! wakes while the publisher writes waits to be woken again: the publisher's write never waits,
//! so that is the length of one system call.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, ready};

use gitops_hub::{Delivery, DeliveryKind, Sink, Wake};
use tokio::io::AsyncWrite;
use tokio::net::tcp::OwnedWriteHalf;

use super::wire::{Frames, Header, MAX_FRAME_BYTES, OP_TEXT};
use crate::Live;
use crate::session::{Busy, Turn};

/// Who may write to the socket now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// The session: it is running (or finishing what the publisher left).
    Session,
    /// Nobody: the session waits; the publisher may claim.
    Nobody,
    /// The publisher, for one batch.
    Publisher,
}

#[derive(Debug)]
struct State {
    owner: Owner,
    /// A batch the publisher could not finish, for the session.
    left: Option<Left>,
    /// The session came back while the publisher wrote: wake it when done.
    session_waiting: bool,
}

/// A batch the publisher could not finish: its messages, how many bytes of their frames went
/// out, and whether the socket failed.
#[derive(Debug)]
pub(crate) struct Left {
    /// The messages, in order.
    pub(crate) batch: Vec<Delivery>,
    /// Bytes of the batch's frames already written (the peer may hold a cut frame).
    pub(crate) written: usize,
    /// The write failed: the peer is gone.
    pub(crate) failed: bool,
}

/// One client's socket, shared by its session and the publisher.
#[derive(Debug)]
pub(crate) struct Outlet {
    write: OwnedWriteHalf,
    state: Mutex<State>,
    live: Arc<Live>,
    /// The client's cursor in the registry (see `ClientGuard::set_cursor`).
    cursor: Arc<AtomicU64>,
    /// Wakes the session (the subscription's reader).
    wake: Wake,
}

impl Outlet {
    /// An outlet over `write`; the session holds the turn.
    pub(crate) fn new(
        write: OwnedWriteHalf,
        live: Arc<Live>,
        cursor: Arc<AtomicU64>,
        wake: Wake,
    ) -> Arc<Self> {
        let state = State { owner: Owner::Session, left: None, session_waiting: false };
        Arc::new(Self { write, state: Mutex::new(state), live, cursor, wake })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Gives the turn to the session with `left` to finish, and wakes it.
    fn hand_over(&self, left: Left) {
        self.live.metrics.handovers.fetch_add(1, Ordering::Relaxed);
        let mut state = self.state();
        state.owner = Owner::Session;
        state.left = Some(left);
        state.session_waiting = false;
        drop(state);
        self.wake.wake();
    }
}

impl Sink for Outlet {
    fn claim(&self) -> bool {
        let mut state = self.state();
        if state.owner == Owner::Nobody && state.left.is_none() {
            state.owner = Owner::Publisher;
            true
        } else {
            false
        }
    }

    fn write(&self, batch: &[Delivery]) {
        let written = self.try_write(batch);
        let written = match written {
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => {
                self.hand_over(Left { batch: batch.to_vec(), written: 0, failed: true });
                return;
            }
        };
        let total: usize = batch.iter().map(|delivery| frame_len(delivery.bytes.len())).sum();
        if written < total {
            self.hand_over(Left { batch: batch.to_vec(), written, failed: false });
            return;
        }
        delivered(&self.live, &self.cursor, batch);
        let mut state = self.state();
        state.owner = Owner::Nobody;
        let waiting = std::mem::take(&mut state.session_waiting);
        drop(state);
        if waiting {
            self.wake.wake();
        }
    }

    fn warm(&self) {
        std::hint::black_box(self.state.is_poisoned());
        std::hint::black_box(self.cursor.load(Ordering::Relaxed));
        std::hint::black_box(self.write.as_ref().as_fd().as_raw_fd());
    }
}

/// The most messages the publisher frames on its stack; a longer batch (rare: a change of many
/// repositories) is framed in vectors.
const ON_STACK: usize = 4;

/// Bytes of a message's frame or frames on the wire (see [`Frames::message`]).
fn frame_len(payload: usize) -> usize {
    let frames = payload.div_ceil(MAX_FRAME_BYTES).max(1);
    let header = |len: usize| Header::new(OP_TEXT, true, len).as_bytes().len();
    let last = payload - (frames - 1) * MAX_FRAME_BYTES;
    payload + (frames - 1) * header(MAX_FRAME_BYTES) + header(last)
}

impl Outlet {
    /// One `sendmsg` of `batch`'s frames, straight to the socket: the publisher does not wait,
    /// and this skips tokio's readiness bookkeeping (a socket the publisher finds full is the
    /// session's to wait for, and tokio learns it is full on the session's first try).
    fn try_write(&self, batch: &[Delivery]) -> io::Result<usize> {
        let small = batch.len() <= ON_STACK
            && batch.iter().all(|delivery| delivery.bytes.len() <= MAX_FRAME_BYTES);
        if small {
            let mut headers = [Header::NONE; ON_STACK];
            let mut slices = [IoSlice::new(&[]); ON_STACK * 2];
            for (i, delivery) in batch.iter().enumerate() {
                headers[i] = Header::new(OP_TEXT, true, delivery.bytes.len());
            }
            for (i, delivery) in batch.iter().enumerate() {
                slices[2 * i] = IoSlice::new(headers[i].as_bytes());
                slices[2 * i + 1] = IoSlice::new(&delivery.bytes);
            }
            return send_slices(self.write.as_ref(), &slices[..batch.len() * 2]);
        }
        let mut frames = Frames::with_capacity(batch.len());
        for delivery in batch {
            frames.message(OP_TEXT, &delivery.bytes);
        }
        let mut slices = Vec::with_capacity(batch.len() * 2);
        frames.slices(&mut slices);
        send_slices(self.write.as_ref(), &slices)
    }
}

/// `sendmsg(2)` of the slices on the socket (not `writev(2)`: a write goes through the file
/// layer, whose bookkeeping on every call was 8 % of the server's CPU at 10,000 clients), without
/// `SIGPIPE` for a peer that is gone; its errors as `std::io` ones.
fn send_slices(socket: &tokio::net::TcpStream, slices: &[IoSlice<'_>]) -> io::Result<usize> {
    let mut control = rustix::net::SendAncillaryBuffer::default();
    rustix::net::sendmsg(socket, slices, &mut control, rustix::net::SendFlags::NOSIGNAL)
        .map_err(io::Error::from)
}

impl Turn for Arc<Outlet> {
    type Left = Left;

    fn give(&self) {
        let mut state = self.state();
        if state.owner == Owner::Session && state.left.is_none() {
            state.owner = Owner::Nobody;
        }
    }

    fn take(&self) -> Result<Option<Left>, Busy> {
        let mut state = self.state();
        match state.owner {
            Owner::Nobody => {
                state.owner = Owner::Session;
                Ok(None)
            }
            Owner::Publisher => {
                state.session_waiting = true;
                Err(Busy)
            }
            Owner::Session => Ok(state.left.take()),
        }
    }
}

/// The bookkeeping of a batch written to a client, whoever wrote it: the counters, the delivery
/// delays of live changes, and the client's cursor.
pub(crate) fn delivered(live: &Live, cursor: &AtomicU64, batch: &[Delivery]) {
    let mut last_cursor = None;
    let mut bytes = 0;
    for delivery in batch {
        bytes += delivery.bytes.len();
        last_cursor = delivery.cursor.or(last_cursor);
    }
    live.metrics.observe_sent(batch.len(), bytes);
    live.observe_deliveries(
        batch
            .iter()
            .filter(|delivery| delivery.kind == DeliveryKind::Live)
            .filter_map(|delivery| delivery.cursor.map(|cursor| cursor.seq)),
    );
    if let Some(last) = last_cursor {
        cursor.store(last.seq, Ordering::Relaxed);
    }
}

/// The session's writes to an [`Outlet`]'s socket (made only while it holds the turn).
#[derive(Debug)]
pub(crate) struct OutletWrite(pub(crate) Arc<Outlet>);

impl AsyncWrite for OutletWrite {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let stream = self.0.write.as_ref();
        loop {
            ready!(stream.poll_write_ready(cx))?;
            match stream.try_write_vectored(bufs) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                result => return Poll::Ready(result),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = rustix::net::shutdown(self.0.write.as_ref(), rustix::net::Shutdown::Write);
        Poll::Ready(result.map_err(io::Error::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_len_is_the_length_of_the_frames_written() {
        let payload = vec![b'x'; 2 * MAX_FRAME_BYTES + 5];
        for n in
            [0, 1, 125, 126, 65_535, 65_536, MAX_FRAME_BYTES, MAX_FRAME_BYTES + 1, payload.len()]
        {
            let mut frames = Frames::with_capacity(3);
            frames.message(OP_TEXT, &payload[..n]);
            let mut slices = Vec::new();
            frames.slices(&mut slices);
            let written: usize = slices.iter().map(|slice| slice.len()).sum();
            assert_eq!(frame_len(n), written, "{n} bytes");
        }
    }
}
