//! A connection's socket with a write deadline: a peer that stops reading cannot hold a
//! connection (and its client slot) for ever.
//!
//! hyper writes a streaming body (SSE) only while the socket accepts bytes; once the peer stops
//! reading and the kernel's buffers fill, hyper stops polling the body, so nothing above the
//! socket ever learns that the hub closed the subscription. The deadline lives here, under
//! hyper, where every pending write is seen: WebSocket, SSE, long-poll and plain responses alike.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Live;

/// `I` with a deadline on writes that make no progress.
pub(crate) struct WriteDeadline<I> {
    io: I,
    timeout: Duration,
    /// Armed when a write first finds the socket full; disarmed by any progress. Boxed and
    /// allocated only then, so an idle connection pays for a pointer, not a timer.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    live: Arc<Live>,
}

impl<I> WriteDeadline<I> {
    pub(crate) fn new(io: I, live: Arc<Live>) -> Self {
        let timeout = live.config.write_timeout;
        Self { io, timeout, timer: None, live }
    }

    /// Called when the socket could not take bytes: arms the timer if it is not armed, and fails
    /// the write once it has run out.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.timeout;
        let timer = self.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.live.metrics.write_timeouts.fetch_add(1, Ordering::Relaxed);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer has not read anything for the write timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn progressed<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Ready(result) => {
                self.timer = None;
                Poll::Ready(result)
            }
            Poll::Pending => self.stalled(cx),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        self.progressed(result, cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.progressed(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_flush(cx);
        self.progressed(result, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.io).poll_shutdown(cx);
        self.progressed(result, cx)
    }
}

impl<I> WriteDeadline<I> {
    /// The connection under the deadline.
    pub(crate) fn get_ref(&self) -> &I {
        &self.io
    }

    /// The same deadline over `f(io)`.
    pub(crate) fn map<J>(self, f: impl FnOnce(I) -> J) -> WriteDeadline<J> {
        WriteDeadline { io: f(self.io), timeout: self.timeout, timer: None, live: self.live }
    }
}

impl WriteDeadline<tokio::net::TcpStream> {
    /// The connection's read half, and its write half under the same deadline (a WebSocket
    /// session reads and writes its socket apart).
    pub(crate) fn into_split(
        self,
    ) -> (tokio::net::tcp::OwnedReadHalf, WriteDeadline<tokio::net::tcp::OwnedWriteHalf>) {
        let (read, write) = self.io.into_split();
        (read, WriteDeadline { io: write, timeout: self.timeout, timer: None, live: self.live })
    }
}
