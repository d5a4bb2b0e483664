//! The WebSocket connection's socket: server frames written straight from the shared bytes, and
//! tungstenite's parser on the read half with its own replies caught in a small buffer.
//!
//! Server frames are never masked (RFC 6455 §5.1), so a message's frame is the same bytes for
//! every client: a header of 2 to 10 bytes followed by the encoded message the hub shares. The
//! [`Writer`] writes the header and the shared `Bytes` with one vectored write per batch, so no
//! connection copies a message or keeps a buffer the size of the largest one it sent.
//!
//! Reading stays with tungstenite (masking, reserved bits, opcodes, control frame rules, UTF-8
//! across fragments, size limits, close codes): it reads from the socket's read half through
//! [`ReadSide`], whose write side only collects what tungstenite answers on its own (a pong, the
//! reply to a peer's close). The session's loop takes those bytes ([`ReadSide::take_replies`])
//! and writes them between its own frames, so they never land inside one.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{FutureExt as _, SinkExt as _};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::io::WriteDeadline;

/// The opcode of a frame that continues a fragmented message.
const OP_CONTINUE: u8 = 0x0;
/// The opcode of a text message's first (or only) frame.
pub(crate) const OP_TEXT: u8 = 0x1;
/// The opcode of a binary message's first (or only) frame.
#[cfg_attr(not(feature = "conformance"), allow(dead_code))]
pub(crate) const OP_BINARY: u8 = 0x2;
/// The opcode of a close frame.
const OP_CLOSE: u8 = 0x8;
/// The opcode of a ping.
const OP_PING: u8 = 0x9;

/// The largest frame written. A larger message goes out as a text frame and continuation frames
/// of this size. Fragments no longer cost memory (every frame is written from the shared bytes,
/// with a 10-byte header); the limit is for clients with a frame size limit of their own
/// (tungstenite's default is 16 MiB, 64 MiB per message). A 1,000-repository snapshot (545 KB)
/// is one frame.
pub(crate) const MAX_FRAME_BYTES: usize = 1 << 20;

/// The most bytes of tungstenite's own replies held for the writer. A pong is at most 127 bytes;
/// while this holds more (a peer that pings faster than it reads), tungstenite keeps only the
/// newest pong (RFC 6455 §5.5.3 allows answering only the most recent ping).
const REPLIES_MAX: usize = 512;

/// tungstenite's own write buffer on the read half: the replies it formats before handing them
/// to [`ReadSide`]. A close reply is at most 127 bytes; above this a reply waits.
const TUNGSTENITE_WRITE_MAX: usize = 1 << 10;

/// An unmasked server frame's header: 2, 4 or 10 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    bytes: [u8; 10],
    len: u8,
}

impl Header {
    pub(crate) fn new(opcode: u8, fin: bool, payload_len: usize) -> Self {
        let mut bytes = [0u8; 10];
        bytes[0] = opcode | if fin { 0x80 } else { 0 };
        let len = if payload_len < 126 {
            bytes[1] = payload_len as u8;
            2
        } else if let Ok(short) = u16::try_from(payload_len) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&short.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
            10
        };
        Self { bytes, len }
    }

    /// No header: the part is already a whole frame (tungstenite's replies).
    pub(crate) const NONE: Header = Header { bytes: [0; 10], len: 0 };

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The frames of one write: each a header and a borrowed payload (a message's bytes or a slice
/// of them), written in order by [`Writer::write`].
#[derive(Debug, Default)]
pub(crate) struct Frames<'a> {
    parts: Vec<(Header, &'a [u8])>,
}

impl<'a> Frames<'a> {
    /// An empty write with room for `n` frames.
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self { parts: Vec::with_capacity(n) }
    }

    /// Bytes that are already whole frames (tungstenite's replies).
    pub(crate) fn raw(&mut self, frames: &'a [u8]) {
        if !frames.is_empty() {
            self.parts.push((Header::NONE, frames));
        }
    }

    /// A data message (`OP_TEXT` or `OP_BINARY`): one frame, or a first frame and continuations
    /// of at most [`MAX_FRAME_BYTES`].
    pub(crate) fn message(&mut self, opcode: u8, payload: &'a [u8]) {
        if payload.len() <= MAX_FRAME_BYTES {
            self.parts.push((Header::new(opcode, true, payload.len()), payload));
            return;
        }
        let mut chunks = payload.chunks(MAX_FRAME_BYTES).peekable();
        let mut op = opcode;
        while let Some(chunk) = chunks.next() {
            let fin = chunks.peek().is_none();
            self.parts.push((Header::new(op, fin, chunk.len()), chunk));
            op = OP_CONTINUE;
        }
    }

    /// A ping with no payload.
    pub(crate) fn ping(&mut self) {
        self.parts.push((Header::new(OP_PING, true, 0), &[]));
    }

    /// A close frame whose payload (`code` and reason) was made by [`close_payload`].
    pub(crate) fn close(&mut self, payload: &'a [u8]) {
        self.parts.push((Header::new(OP_CLOSE, true, payload.len()), payload));
    }

    /// The write's slices, in order, appended to `out` (empty parts left out).
    pub(crate) fn slices<'s>(&'s self, out: &mut Vec<IoSlice<'s>>) {
        for (header, payload) in &self.parts {
            if header.len > 0 {
                out.push(IoSlice::new(header.as_bytes()));
            }
            if !payload.is_empty() {
                out.push(IoSlice::new(payload));
            }
        }
    }

    /// Whether there is nothing to write.
    pub(crate) fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The bytes on the wire.
    #[cfg(test)]
    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (header, payload) in &self.parts {
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(payload);
        }
        out
    }
}

/// A close frame's payload: the code, then the reason cut to the 123 bytes a control frame
/// leaves it (at a character boundary).
pub(crate) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    payload
}

/// The write half of a connection: frames go from the callers' slices to the socket, with no
/// buffer of its own.
#[derive(Debug)]
pub(crate) struct Writer<W> {
    io: W,
    /// A write was dropped (timed out) after part of it went out: the peer holds a cut frame,
    /// so nothing more may be written.
    torn: bool,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    pub(crate) fn new(io: W) -> Self {
        Self { io, torn: false }
    }

    /// Whether an earlier write stopped inside a frame (see [`Writer::write`]).
    pub(crate) fn is_torn(&self) -> bool {
        self.torn
    }

    /// Writes `frames` in order, one vectored write for all of them while the socket takes
    /// everything, continuing after partial writes, then flushes (a no-op on TCP, needed on TLS).
    /// The caller bounds it in time; dropped after a partial write, the writer is torn.
    pub(crate) async fn write(&mut self, frames: &Frames<'_>) -> io::Result<()> {
        self.write_from(frames, 0).await
    }

    /// [`Writer::write`] of what is left of `frames` after its first `skip` bytes, which went out
    /// before (the publisher's cut write): the writer is torn until the rest is out.
    pub(crate) async fn write_from(&mut self, frames: &Frames<'_>, skip: usize) -> io::Result<()> {
        let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.parts.len() * 2);
        frames.slices(&mut slices);
        let mut rest = &mut slices[..];
        if skip > 0 {
            IoSlice::advance_slices(&mut rest, skip);
            self.torn = !rest.is_empty();
        }
        while !rest.is_empty() {
            let n = self.io.write_vectored(rest).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            IoSlice::advance_slices(&mut rest, n);
            self.torn = !rest.is_empty();
        }
        self.io.flush().await
    }

    /// Ends the writing side (a FIN on TCP).
    pub(crate) async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }
}

/// The read half as tungstenite's stream: reads come from the socket; what tungstenite writes
/// (its automatic pong and close replies, whole frames) is kept, at most [`REPLIES_MAX`] bytes
/// and only whole writes, for the [`Writer`] to send between frames.
#[derive(Debug)]
pub(crate) struct ReadSide<R> {
    read: R,
    replies: Vec<u8>,
}

impl<R> ReadSide<R> {
    /// Takes the replies tungstenite wrote (whole frames), leaving none.
    pub(crate) fn take_replies(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.replies)
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // All or nothing, so the kept bytes are always whole frames. tungstenite treats the
        // refusal as a full socket: it keeps the reply (only the newest pong) and reads on.
        if self.replies.is_empty() || self.replies.len() + buf.len() <= REPLIES_MAX {
            self.replies.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        } else {
            Poll::Ready(Err(io::ErrorKind::WouldBlock.into()))
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// tungstenite over a connection's read half.
pub(crate) type Reader<R> = WebSocketStream<ReadSide<R>>;

/// Asks tungstenite to hand over a reply it holds (it formats a pong or a close reply on the
/// read after the ping or close, or when flushed), then takes every reply kept so far.
pub(crate) fn replies<R: AsyncRead + Unpin>(reader: &mut Reader<R>) -> Vec<u8> {
    // Taken first, so what tungstenite still holds (a close reply behind a full buffer of
    // pongs) has room. Never waits: `ReadSide` answers every write and flush at once.
    let mut out = reader.get_mut().take_replies();
    let _ = reader.flush().now_or_never();
    out.append(&mut reader.get_mut().replies);
    out
}

/// The replies tungstenite has already handed over, without asking it for more: the send
/// path's. A pong is asked for by the step that read its ping ([`replies`]), and one tungstenite
/// held back (the buffer was full) it hands over on its next read; asking here too cost every
/// client a pass through tungstenite's waker bookkeeping on every change.
pub(crate) fn replies_kept<R: AsyncRead + Unpin>(reader: &mut Reader<R>) -> Vec<u8> {
    reader.get_mut().take_replies()
}

/// tungstenite's settings on the read half: `limits`' read settings, and its own write buffer
/// (replies only) small and written at once.
pub(crate) fn reader_config(
    read_buffer_bytes: usize,
    max_message: usize,
    max_frame: usize,
) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer_bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(TUNGSTENITE_WRITE_MAX)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_frame))
}

/// A connection split for the session: tungstenite reads, [`Writer`] writes. On plain TCP the
/// socket itself is taken from hyper (`Upgraded::downcast`), with the bytes hyper read past the
/// handshake handed to tungstenite first; any other stream (TLS) is split with a lock.
pub(crate) enum Split {
    /// The server's own TCP connection, its write half under its write deadline (the session
    /// shares it with the publisher, see `outlet`).
    Tcp(Reader<OwnedReadHalf>, WriteDeadline<OwnedWriteHalf>),
    /// A TCP connection without a write deadline (the echo server's).
    Bare(Reader<OwnedReadHalf>, Writer<OwnedWriteHalf>),
    /// Anything else hyper upgraded (TLS).
    Other(
        Reader<tokio::io::ReadHalf<TokioIo<Upgraded>>>,
        Writer<tokio::io::WriteHalf<TokioIo<Upgraded>>>,
    ),
}

impl Split {
    /// Splits `upgraded`, a connection hyper served over `TokioIo<WriteDeadline<TcpStream>>`,
    /// `TokioIo<TcpStream>` or anything else.
    pub(crate) async fn new(upgraded: Upgraded, config: WebSocketConfig) -> Split {
        let upgraded = match upgraded.downcast::<TokioIo<WriteDeadline<TcpStream>>>() {
            Ok(parts) => {
                let (read, write) = parts.io.into_inner().into_split();
                let reader = reader(read, &parts.read_buf, config).await;
                return Split::Tcp(reader, write);
            }
            Err(upgraded) => upgraded,
        };
        let upgraded = match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let (read, write) = parts.io.into_inner().into_split();
                let reader = reader(read, &parts.read_buf, config).await;
                return Split::Bare(reader, Writer::new(write));
            }
            Err(upgraded) => upgraded,
        };
        let (read, write) = tokio::io::split(TokioIo::new(upgraded));
        Split::Other(reader(read, &[], config).await, Writer::new(write))
    }
}

/// tungstenite over `read`, starting with `already_read` (what hyper read past the handshake: a
/// client may send its first frames before it has seen the 101).
async fn reader<R: AsyncRead + Unpin>(
    read: R,
    already_read: &[u8],
    config: WebSocketConfig,
) -> Reader<R> {
    let side = ReadSide { read, replies: Vec::new() };
    if already_read.is_empty() {
        WebSocketStream::from_raw_socket(side, Role::Server, Some(config)).await
    } else {
        WebSocketStream::from_partially_read(
            side,
            already_read.to_vec(),
            Role::Server,
            Some(config),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn headers_use_the_shortest_length_form() {
        assert_eq!(Header::new(OP_TEXT, true, 0).as_bytes(), [0x81, 0]);
        assert_eq!(Header::new(OP_TEXT, true, 125).as_bytes(), [0x81, 125]);
        assert_eq!(Header::new(OP_TEXT, false, 126).as_bytes(), [0x01, 126, 0, 126]);
        assert_eq!(Header::new(OP_PING, true, 65_535).as_bytes(), [0x89, 126, 0xff, 0xff]);
        assert_eq!(
            Header::new(OP_CONTINUE, true, 65_536).as_bytes(),
            [0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn a_message_over_the_frame_limit_is_a_text_frame_and_continuations() {
        let message = vec![b'x'; MAX_FRAME_BYTES * 2 + 1];
        let mut frames = Frames::default();
        frames.message(OP_TEXT, &message);
        let opcodes: Vec<(u8, bool, usize)> = frames
            .parts
            .iter()
            .map(|(h, p)| (h.bytes[0] & 0x0f, h.bytes[0] & 0x80 != 0, p.len()))
            .collect();
        assert_eq!(
            opcodes,
            [
                (OP_TEXT, false, MAX_FRAME_BYTES),
                (OP_CONTINUE, false, MAX_FRAME_BYTES),
                (OP_CONTINUE, true, 1)
            ]
        );
    }

    /// Bytes to read; whatever is written (a client's own replies) is dropped.
    struct Wire(std::io::Cursor<Vec<u8>>);

    impl std::io::Read for Wire {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl std::io::Write for Wire {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// What tungstenite, as a client, reads back from our bytes.
    fn read_back(wire: Vec<u8>) -> Vec<tokio_tungstenite::tungstenite::Message> {
        let mut socket = tokio_tungstenite::tungstenite::WebSocket::from_raw_socket(
            Wire(std::io::Cursor::new(wire)),
            Role::Client,
            None,
        );
        let mut out = Vec::new();
        while let Ok(message) = socket.read() {
            out.push(message);
        }
        out
    }

    #[test]
    fn frames_read_back_as_the_messages_written() {
        use tokio_tungstenite::tungstenite::Message;
        let big = "é".repeat(MAX_FRAME_BYTES); // fragments split characters; the message is whole
        let close = close_payload(4000, &"ü".repeat(100));
        let mut frames = Frames::default();
        frames.raw(&[0x8a, 0x01, b'p']); // a pong tungstenite formatted
        frames.message(OP_TEXT, b"{\"type\":\"x\"}");
        frames.ping();
        frames.message(OP_TEXT, big.as_bytes());
        frames.close(&close);
        let messages = read_back(frames.to_vec());
        assert_eq!(messages.len(), 5, "{:?}", messages.iter().map(|m| m.len()).collect::<Vec<_>>());
        assert_eq!(messages[0], Message::Pong(Bytes::from_static(b"p")));
        assert_eq!(messages[1], Message::text("{\"type\":\"x\"}"));
        assert_eq!(messages[2], Message::Ping(Bytes::new()));
        assert_eq!(messages[3], Message::text(big));
        let Message::Close(Some(frame)) = &messages[4] else { panic!("{:?}", messages[4]) };
        assert_eq!(u16::from(frame.code), 4000);
        assert_eq!(frame.reason.len(), 122, "cut at a character boundary within 123 bytes");
    }

    #[tokio::test]
    async fn a_partial_write_continues_where_the_socket_stopped() {
        // A pipe that takes 7 bytes at a time: every write is partial, mid-header and mid-payload.
        let (client, server) = tokio::io::duplex(7);
        let message = Bytes::from(vec![b'a'; 70_000]);
        let writer = tokio::spawn(async move {
            let mut writer = Writer::new(server);
            let mut frames = Frames::default();
            frames.message(OP_TEXT, &message);
            frames.ping();
            writer.write(&frames).await.expect("write");
            writer.shutdown().await.expect("shutdown");
        });
        let mut client = client;
        let mut wire = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut client, &mut wire).await.expect("read");
        writer.await.expect("writer");
        let messages = read_back(wire);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].len(), 70_000);
    }

    /// A masked client frame with a short payload.
    fn client_frame(first_byte: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1, 2, 3, 4];
        let mut frame = vec![first_byte, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    #[tokio::test]
    async fn a_ping_flood_keeps_at_most_a_few_hundred_bytes_of_replies() {
        use futures_util::StreamExt as _;
        let mut wire: Vec<u8> = (0..10_000).flat_map(|_| client_frame(0x89, &[7; 100])).collect();
        wire.extend(client_frame(0x88, &1000u16.to_be_bytes()));
        let config = reader_config(1 << 10, 64 << 10, 64 << 10);
        let mut reader = super::reader(&wire[..], &[], config).await;
        let mut pings = 0;
        // Nobody takes the replies: what tungstenite hands over must stay bounded.
        while let Some(Ok(message)) = reader.next().await {
            assert!(reader.get_ref().replies.len() <= REPLIES_MAX.max(TUNGSTENITE_WRITE_MAX));
            if message.is_ping() {
                pings += 1;
            }
        }
        assert_eq!(pings, 10_000);
        // What is kept is whole frames: pongs and, last, the reply to the close.
        let kept = replies(&mut reader);
        assert!(
            !kept.is_empty() && kept.len() <= REPLIES_MAX + TUNGSTENITE_WRITE_MAX,
            "{}",
            kept.len()
        );
        let messages = read_back(kept);
        assert!(messages.iter().all(|m| m.is_pong() || m.is_close()), "{messages:?}");
        assert!(messages.iter().any(|m| m.is_pong()));
        assert!(messages.last().is_some_and(|m| m.is_close()), "the close is answered");
    }
}
