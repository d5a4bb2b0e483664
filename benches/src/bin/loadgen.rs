//! gitops-loadgen: opens many idle WebSocket clients to a gitops-live server and records when each
//! state-bearing message reaches each client, for the end-to-end bench (`--bench e2e`).
//!
//! It is deliberately lean, because it shares the cores with the server it measures: no state
//! reconstruction, a small read buffer, one task per client, and its own minimal WebSocket
//! reader (handshake, frames, pongs) rather than a general client library. Each
//! client connects with `?since=<cursor>` taken from `HEAD /api/audit`'s `ETag`, so an idle client
//! gets no snapshot. Once every connect attempt has finished it prints
//! `connected <n> failed <n> ms <n>` on stdout; it stops on a `stop` line or end of stdin (or after
//! `--max-seconds`), then writes JSON lines (see `gitops_benches::e2e::OutputLine`) and prints `done`.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use gitops_benches::e2e::{LoadSummary, MessageRecord, OutputLine, TypeCount, now_ns};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Opens many idle WebSocket clients and records when each message reaches each of them.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// The server's base URL, e.g. http://127.0.0.1:3070 (127.0.0.1 only: this is a local bench).
    #[arg(long)]
    url: String,
    /// How many WebSocket clients to open.
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// How many handshakes may be in flight at once (the server's listen backlog is 1,024).
    #[arg(long, default_value_t = 128)]
    connect_concurrency: usize,
    /// Where to write the JSON-lines results.
    #[arg(long)]
    out: PathBuf,
    /// Stop by itself after this many seconds, whatever stdin says.
    #[arg(long, default_value_t = 900)]
    max_seconds: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The read buffer of each client, in bytes.
    #[arg(long, default_value_t = 1024)]
    read_buffer_bytes: usize,
    /// Connect without `?since=`, so every client first gets a snapshot (`audit-update`), as a
    /// browser opening the dashboard does.
    #[arg(long)]
    fresh: bool,
}

/// The message types counted separately; anything else is counted as `other`.
const TYPES: [&str; 8] = [
    "audit-update",
    "repo-status-change",
    "health-metrics-update",
    "catch-up",
    "connection-status",
    "pong",
    "error",
    "other",
];

/// The first fields of any server message; `data` is skipped unread.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    seq: Option<u64>,
}

/// The head of a message that opens as the server writes state-bearing ones,
/// `{"type":"…","epoch":"…","seq":N,`, read without parsing the rest (`serde` would read the
/// whole `data` to skip it); `None` for any other opening, which is then parsed whole.
fn opening(text: &[u8]) -> Option<Head<'_>> {
    /// A string's contents up to its closing quote (none with escapes), and what follows.
    fn string(text: &[u8]) -> Option<(&[u8], &[u8])> {
        let end = text.iter().position(|&byte| byte == b'"' || byte == b'\\')?;
        (text[end] == b'"').then(|| (&text[..end], &text[end + 1..]))
    }
    let (kind, rest) = string(text.strip_prefix(b"{\"type\":\"")?)?;
    let (_, rest) = string(rest.strip_prefix(b",\"epoch\":\"")?)?;
    let rest = rest.strip_prefix(b",\"seq\":")?;
    let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
    if !matches!(rest.get(digits), Some(b',' | b'}')) {
        return None;
    }
    let seq = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    Some(Head { kind: std::str::from_utf8(kind).ok()?, seq: Some(seq) })
}

/// `data.name` of a `repo-status-change`.
#[derive(Deserialize)]
struct ChangeName {
    data: NameOnly,
}

#[derive(Deserialize)]
struct NameOnly {
    name: String,
}

/// What every client shares: progress counters and, once per seq, what the message was.
#[derive(Default)]
struct Shared {
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// The highest seq whose description is in `described`; messages arrive in seq order on
    /// every connection, so a client only takes the lock for a seq past this.
    described_up_to: AtomicU64,
    described: Mutex<HashMap<u64, Description>>,
    /// The first message of each type with a seq, as text.
    samples: Mutex<std::collections::BTreeMap<String, String>>,
}

/// What a message with a given seq was, taken from the first client that received it.
#[derive(Clone)]
struct Description {
    kind: String,
    name: Option<String>,
    payload_bytes: usize,
}

/// What one client saw.
#[derive(Default)]
struct ClientLog {
    connected: bool,
    closed_early: bool,
    /// (seq, receive time in ns) of every state-bearing message.
    received: Vec<(u64, u64)>,
    counts: [TypeCount; TYPES.len()],
}

impl ClientLog {
    fn record(&mut self, shared: &Shared, text: &[u8], received_ns: u64) {
        let head = match opening(text) {
            Some(head) => head,
            None => match serde_json::from_slice::<Head<'_>>(text) {
                Ok(head) => head,
                Err(_) => {
                    self.count("other", text.len());
                    return;
                }
            },
        };
        self.count(head.kind, text.len());
        let Some(seq) = head.seq else { return };
        self.received.push((seq, received_ns));
        if seq > shared.described_up_to.load(Ordering::Relaxed) {
            let name = if head.kind == "repo-status-change" {
                serde_json::from_slice::<ChangeName>(text).ok().map(|change| change.data.name)
            } else {
                None
            };
            let mut described =
                shared.described.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            described.entry(seq).or_insert_with(|| Description {
                kind: head.kind.to_owned(),
                name,
                payload_bytes: text.len(),
            });
            drop(described);
            shared.described_up_to.fetch_max(seq, Ordering::Relaxed);
            let mut samples =
                shared.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if !samples.contains_key(head.kind) && text.len() <= 4 << 10 {
                samples.insert(head.kind.to_owned(), String::from_utf8_lossy(text).into_owned());
            }
        }
    }

    fn count(&mut self, kind: &str, bytes: usize) {
        let index = TYPES.iter().position(|known| *known == kind).unwrap_or(TYPES.len() - 1);
        self.counts[index].messages += 1;
        self.counts[index].bytes += bytes as u64;
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let addr: SocketAddr = args
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .with_context(|| format!("{} is not http://<ip>:<port>", args.url))?;
    if !addr.ip().is_loopback() {
        bail!("the load generator only talks to loopback addresses, not {addr}");
    }
    let since = cursor_from_etag(addr).await?;
    let path: Arc<str> =
        if args.fresh { "/ws".into() } else { format!("/ws?since={since}").into() };

    let shared = Arc::new(Shared::default());
    let handshakes = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let started = Instant::now();
    let logs: Vec<Arc<Mutex<ClientLog>>> =
        (0..args.clients).map(|_| Arc::new(Mutex::new(ClientLog::default()))).collect();
    let clients: Vec<_> = logs
        .iter()
        .map(|log| {
            tokio::spawn(client(
                addr,
                path.clone(),
                handshakes.clone(),
                shared.clone(),
                log.clone(),
                args.read_buffer_bytes,
            ))
        })
        .collect();

    // Report once every connect attempt has finished (bounded by the overall deadline).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.max_seconds);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < args.clients
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connect_ms = started.elapsed().as_millis() as u64;
    println!(
        "connected {} failed {} ms {connect_ms}",
        shared.connected.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed)
    );
    std::io::stdout().flush().context("writing to stdout")?;

    // Wait for `stop` or the end of stdin, within the deadline.
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let wait_for_stop = async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.trim() == "stop" {
                break;
            }
        }
    };
    let _ = tokio::time::timeout_at(deadline, wait_for_stop).await;
    for handle in &clients {
        handle.abort();
    }
    for handle in clients {
        if let Err(error) = handle.await
            && error.is_panic()
        {
            bail!("a client task panicked: {error}");
        }
    }
    let logs: Vec<ClientLog> = logs.iter().map(|log| std::mem::take(&mut *lock(log))).collect();
    let summary = LoadSummary {
        clients: args.clients,
        connected: logs.iter().filter(|log| log.connected).count(),
        failed: shared.failed.load(Ordering::Relaxed),
        closed_early: logs.iter().filter(|log| log.closed_early).count(),
        since,
        connect_ms,
        by_type: TYPES
            .iter()
            .enumerate()
            .map(|(index, kind)| {
                let total = logs.iter().fold(TypeCount::default(), |total, log| TypeCount {
                    messages: total.messages + log.counts[index].messages,
                    bytes: total.bytes + log.counts[index].bytes,
                });
                ((*kind).to_owned(), total)
            })
            .filter(|(_, total)| total.messages > 0)
            .collect(),
        samples: std::mem::take(
            &mut *shared.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        ),
    };
    let described = std::mem::take(
        &mut *shared.described.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    write_output(&args.out, logs, &described, summary)?;
    println!("done");
    std::io::stdout().flush().context("writing to stdout")?;
    Ok(())
}

/// Reads the current cursor from `HEAD /api/audit`'s `ETag` (`"<epoch>:<seq>"`).
async fn cursor_from_etag(addr: SocketAddr) -> anyhow::Result<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request =
            format!("HEAD /api/audit HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut head = Vec::new();
        stream.take(64 << 10).read_to_end(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    let head = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .context("HEAD /api/audit timed out")?
        .context("HEAD /api/audit")?;
    let head = String::from_utf8_lossy(&head);
    let etag = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("etag"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned());
    match etag {
        Some(cursor) if !cursor.is_empty() => Ok(cursor),
        _ => bail!(
            "HEAD /api/audit gave no ETag (is a report loaded?): {}",
            head.lines().next().unwrap_or("")
        ),
    }
}

/// Connects (at most three tries, each bounded), then records every message until aborted.
/// The log is shared so that the main task can read it after aborting the client's task: a
/// `select!` on a stop signal cost a waiter registration on a shared list per message (6 % of
/// this process's CPU at 10,000 clients).
async fn client(
    addr: SocketAddr,
    path: Arc<str>,
    handshakes: Arc<Semaphore>,
    shared: Arc<Shared>,
    log: Arc<Mutex<ClientLog>>,
    read_buffer_bytes: usize,
) {
    let connection = {
        let Ok(_permit) = handshakes.acquire().await else { return };
        connect_with_retries(addr, &path, read_buffer_bytes).await
    };
    let Some(mut connection) = connection else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    lock(&log).connected = true;
    shared.connected.fetch_add(1, Ordering::Relaxed);
    let ended =
        connection.receive(|text, received_ns| lock(&log).record(&shared, text, received_ns));
    if ended.await.is_err() {
        lock(&log).closed_early = true;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn connect_with_retries(
    addr: SocketAddr,
    path: &str,
    read_buffer_bytes: usize,
) -> Option<Connection> {
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        let connect = Connection::open(addr, path, read_buffer_bytes);
        if let Ok(Ok(connection)) = tokio::time::timeout(Duration::from_secs(10), connect).await {
            return Some(connection);
        }
    }
    None
}

/// A WebSocket client reduced to what a load generator needs, so that its own CPU takes as
/// little as possible from the server it measures on the same cores: the opening handshake,
/// then server frames read straight from the socket (text messages, fragmented or not, handed
/// over whole; pings answered; the rest ignored). tokio-tungstenite cost ~2 µs more per message.
struct Connection {
    stream: TcpStream,
    /// Bytes read and not yet parsed are `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The buffer's usual size.
    chunk: usize,
    /// A text message whose later fragments are still to come.
    fragments: Vec<u8>,
    in_text: bool,
}

/// A frame's header: whether it ends its message, its opcode, and where its payload lies.
struct FrameHead {
    fin: bool,
    opcode: u8,
    header_len: usize,
    payload_len: usize,
}

/// Parses the header of a server frame at the start of `bytes` (`None`: not all there yet).
fn frame_head(bytes: &[u8]) -> anyhow::Result<Option<FrameHead>> {
    let [first, second, rest @ ..] = bytes else { return Ok(None) };
    if second & 0x80 != 0 {
        bail!("a server frame is masked");
    }
    let (header_len, payload_len) = match second & 0x7f {
        126 if rest.len() >= 2 => (4, usize::from(u16::from_be_bytes([rest[0], rest[1]]))),
        127 if rest.len() >= 8 => {
            let mut len = [0u8; 8];
            len.copy_from_slice(&rest[..8]);
            (10, usize::try_from(u64::from_be_bytes(len)).context("a frame too long")?)
        }
        126 | 127 => return Ok(None),
        len => (2, usize::from(len)),
    };
    Ok(Some(FrameHead { fin: first & 0x80 != 0, opcode: first & 0x0f, header_len, payload_len }))
}

impl Connection {
    /// Connects and upgrades to a WebSocket on `path`.
    async fn open(addr: SocketAddr, path: &str, read_buffer_bytes: usize) -> anyhow::Result<Self> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let chunk = read_buffer_bytes.max(512);
        let mut buf = vec![0u8; chunk];
        let mut filled = 0;
        let head_end = loop {
            if filled == buf.len() {
                bail!("the handshake's answer is too long");
            }
            let n = stream.read(&mut buf[filled..]).await?;
            if n == 0 {
                bail!("closed during the handshake");
            }
            filled += n;
            if let Some(at) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let line = String::from_utf8_lossy(&buf[..head_end]);
            bail!("not upgraded: {}", line.lines().next().unwrap_or(""));
        }
        // Frames sent right after the answer stay in the buffer.
        Ok(Self {
            stream,
            buf,
            start: head_end,
            end: filled,
            chunk,
            fragments: Vec::new(),
            in_text: false,
        })
    }

    /// Reads until the server closes or the socket fails (an `Err` either way), calling
    /// `on_text` with every text message and the time its last bytes were read.
    async fn receive(&mut self, mut on_text: impl FnMut(&[u8], u64)) -> anyhow::Result<()> {
        let mut received_ns = now_ns();
        loop {
            // The room the next read needs: a whole frame, once its header is in.
            let mut room = self.chunk;
            while let Some(head) = frame_head(&self.buf[self.start..self.end])? {
                let frame_len = head.header_len + head.payload_len;
                if self.end - self.start < frame_len {
                    room = room.max(frame_len + 1);
                    break;
                }
                let payload_at = self.start + head.header_len;
                let payload = payload_at..payload_at + head.payload_len;
                self.start += frame_len;
                match head.opcode {
                    0x1 if head.fin => on_text(&self.buf[payload], received_ns),
                    0x1 => {
                        self.fragments.clear();
                        self.fragments.extend_from_slice(&self.buf[payload]);
                        self.in_text = true;
                    }
                    0x0 if self.in_text => {
                        self.fragments.extend_from_slice(&self.buf[payload]);
                        if head.fin {
                            on_text(&self.fragments, received_ns);
                            self.in_text = false;
                            self.fragments = Vec::new();
                        }
                    }
                    0x9 => {
                        // A pong with the ping's payload, masked with a zero key.
                        let len = head.payload_len.min(125);
                        let mut pong = vec![0x8a, 0x80 | len as u8, 0, 0, 0, 0];
                        pong.extend_from_slice(&self.buf[payload][..len]);
                        self.stream.write_all(&pong).await?;
                    }
                    0x8 => bail!("closed by the server"),
                    _ => {}
                }
            }
            // Keep the unparsed bytes at the front, then read more after them.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            // Grown for a large frame (a snapshot), back to its usual size once that is read.
            if self.buf.len() < room {
                self.buf.resize(room, 0);
            } else if self.buf.len() > room && self.end < room {
                self.buf.truncate(room);
                self.buf.shrink_to_fit();
            }
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            received_ns = now_ns();
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.end += n;
        }
    }
}

/// Groups every client's receive times by seq and writes one line per message, then the summary.
fn write_output(
    path: &std::path::Path,
    logs: Vec<ClientLog>,
    described: &HashMap<u64, Description>,
    summary: LoadSummary,
) -> anyhow::Result<()> {
    let mut by_seq: HashMap<u64, Vec<u64>> = HashMap::new();
    for log in logs {
        for (seq, received_ns) in log.received {
            by_seq.entry(seq).or_default().push(received_ns);
        }
    }
    let mut seqs: Vec<u64> = by_seq.keys().copied().collect();
    seqs.sort_unstable();
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    for seq in seqs {
        let mut times = by_seq.remove(&seq).unwrap_or_default();
        times.sort_unstable();
        let first_ns = times.first().copied().unwrap_or(0);
        let Description { kind, name, payload_bytes } =
            described.get(&seq).cloned().unwrap_or_else(|| Description {
                kind: "unknown".to_owned(),
                name: None,
                payload_bytes: 0,
            });
        let record = MessageRecord {
            seq,
            kind,
            name,
            payload_bytes,
            receivers: times.len(),
            first_ns,
            offsets_us: times.iter().map(|time| (time - first_ns) / 1_000).collect(),
        };
        serde_json::to_writer(&mut out, &OutputLine::Message(record))?;
        out.write_all(b"\n")?;
    }
    serde_json::to_writer(&mut out, &OutputLine::Summary(summary))?;
    out.write_all(b"\n")?;
    out.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_opening_gives_the_type_and_seq_of_a_state_message_and_nothing_of_another_shape() {
        let text = br#"{"type":"repo-status-change","epoch":"e6a9","seq":42,"data":{"name":"a"}}"#;
        let head = opening(text).unwrap();
        assert_eq!((head.kind, head.seq), ("repo-status-change", Some(42)));
        let last = br#"{"type":"catch-up","epoch":"e6a9","seq":7}"#;
        assert_eq!(opening(last).unwrap().seq, Some(7));
        for other in [
            &br#"{"type":"pong"}"#[..],
            br#"{"epoch":"e6a9","type":"x","seq":1,"data":1}"#,
            br#"{"type":"a\"b","epoch":"e","seq":1,"data":1}"#,
            br#"{"type":"x","epoch":"e","seq":,"data":1}"#,
            br#"{"type":"x","epoch":"e","seq":1x}"#,
            br#"{"type":"x","epoch":"e","seq":99999999999999999999999,"data":1}"#,
        ] {
            assert!(opening(other).is_none(), "{}", String::from_utf8_lossy(other));
        }
    }

    #[test]
    fn frame_heads_of_each_length_form_and_of_partial_or_masked_frames() {
        let head = frame_head(&[0x81, 5, b'h']).unwrap().unwrap();
        assert_eq!((head.fin, head.opcode, head.header_len, head.payload_len), (true, 1, 2, 5));
        let head = frame_head(&[0x01, 126, 0x01, 0x00]).unwrap().unwrap();
        assert_eq!((head.fin, head.opcode, head.header_len, head.payload_len), (false, 1, 4, 256));
        let head = frame_head(&[0x80, 127, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap().unwrap();
        assert_eq!((head.opcode, head.header_len, head.payload_len), (0, 10, 65_536));
        assert!(frame_head(&[0x81]).unwrap().is_none());
        assert!(frame_head(&[0x81, 126, 1]).unwrap().is_none());
        assert!(frame_head(&[0x81, 127, 0, 0, 0]).unwrap().is_none());
        assert!(frame_head(&[0x81, 0x85, 0, 0, 0, 0]).is_err(), "a masked server frame");
    }
}
