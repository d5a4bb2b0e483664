//! gitops-loadgen: opens many idle WebSocket clients to a gitops-live server and records when each
//! state-bearing message reaches each client, for the end-to-end bench (`--bench e2e`).
//!
//! It is deliberately lean: no state reconstruction, a small read buffer, one task per client. Each
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
use futures_util::StreamExt as _;
use gitops_benches::e2e::{LoadSummary, MessageRecord, OutputLine, TypeCount, now_ns};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

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
        let Ok(head) = serde_json::from_slice::<Head<'_>>(text) else {
            self.count("other", text.len());
            return;
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
    let request_url: Arc<str> = if args.fresh {
        format!("ws://{addr}/ws").into()
    } else {
        format!("ws://{addr}/ws?since={since}").into()
    };
    let config = WebSocketConfig::default()
        .read_buffer_size(args.read_buffer_bytes)
        .write_buffer_size(0)
        .max_write_buffer_size(64 << 10);

    let shared = Arc::new(Shared::default());
    let (stop_sender, stop) = watch::channel(false);
    let handshakes = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|_| {
            tokio::spawn(client(
                addr,
                request_url.clone(),
                config,
                handshakes.clone(),
                shared.clone(),
                stop.clone(),
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
    stop_sender.send_replace(true);

    let mut logs = Vec::with_capacity(clients.len());
    for handle in clients {
        logs.push(handle.await.context("a client task panicked")?);
    }
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

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Connects (at most three tries, each bounded), then records every message until stopped.
async fn client(
    addr: SocketAddr,
    url: Arc<str>,
    config: WebSocketConfig,
    handshakes: Arc<Semaphore>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> ClientLog {
    let mut log = ClientLog::default();
    let socket = {
        let Ok(_permit) = handshakes.acquire().await else { return log };
        connect_with_retries(addr, &url, config).await
    };
    let Some(mut socket) = socket else {
        shared.failed.fetch_add(1, Ordering::Relaxed);
        return log;
    };
    log.connected = true;
    shared.connected.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            next = socket.next() => {
                let received_ns = now_ns();
                match next {
                    Some(Ok(Message::Text(text))) => log.record(&shared, text.as_bytes(), received_ns),
                    // tungstenite answers pings by itself; binary frames are not part of the protocol.
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_) | Message::Frame(_))) => {}
                    Some(Ok(Message::Close(_)) | Err(_)) | None => {
                        log.closed_early = true;
                        break;
                    }
                }
            }
        }
    }
    log
}

async fn connect_with_retries(
    addr: SocketAddr,
    url: &str,
    config: WebSocketConfig,
) -> Option<Socket> {
    for attempt in 0..3u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        }
        let connect = async {
            let stream = TcpStream::connect(addr).await.ok()?;
            stream.set_nodelay(true).ok()?;
            let request = url.into_client_request().ok()?;
            let (socket, _) =
                tokio_tungstenite::client_async_with_config(request, stream, Some(config))
                    .await
                    .ok()?;
            Some(socket)
        };
        if let Ok(Some(socket)) = tokio::time::timeout(Duration::from_secs(10), connect).await {
            return Some(socket);
        }
    }
    None
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
