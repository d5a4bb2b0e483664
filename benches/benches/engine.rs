//! Scale-out bench: three `gitops-live serve --engine redis://…` instances on one private Redis.
//!
//! It starts its own `redis-server` on a free port and three instances of the release binary on one
//! shared report (`--state-dir none`, `--engine-lease 1s`), opens `--clients-per-instance`
//! WebSocket clients on each (without a cursor, so each first gets the snapshot) and waits until
//! every client has it. Then it measures:
//!
//! 1. write → the last client over all three instances has the `repo-status-change`, for
//!    `--writes` atomic-rename writes that each flip one repository's status, one at a time;
//! 2. Redis commands per change, from `INFO commandstats` around those writes less an idle window
//!    of the same length, and per instance from `MONITOR` around a second batch of writes;
//! 3. failover: `kill -9` of the writer, a write at once, and the time from the kill until every
//!    client of the two survivors has the change (lease expiry + takeover + catch-up + re-read);
//!    the killed instance is replaced (with fresh clients) before the next round.
//!
//! ```text
//! cargo build --release -p gitops-live
//! cargo bench -p gitops-benches --bench engine -- --clients-per-instance 1000 --writes 20
//! ```
//!
//! Without `--bench` (as under `cargo test --all-targets`) it does nothing. Every wait is bounded;
//! everything listens on and connects to 127.0.0.1 only; every process it starts is stopped by
//! its PID.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use futures_util::StreamExt as _;
use gitops_benches::e2e::{Distribution, open_files_limit};
use gitops_report::{Report, Status};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// The scale-out bench of gitops-live on Redis.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// Set by `cargo bench`; without it nothing runs (so `cargo test --all-targets` stays fast).
    #[arg(long)]
    bench: bool,
    /// WebSocket clients on each of the three instances.
    #[arg(long, default_value_t = 1000)]
    clients_per_instance: usize,
    /// Report writes for the latency figures (and as many again for the per-instance count).
    #[arg(long, default_value_t = 20)]
    writes: usize,
    /// Failover rounds (kill -9 of the writer, then replace it).
    #[arg(long, default_value_t = 3)]
    failovers: usize,
    /// Repositories in the generated report.
    #[arg(long, default_value_t = 1000)]
    repos: usize,
    /// Seed of the generated report.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Pause after a change has reached every client, before the next write.
    #[arg(long, default_value_t = 300)]
    gap_ms: u64,
    /// The idle window whose Redis commands are subtracted from the writes' (seconds).
    #[arg(long, default_value_t = 10)]
    idle_seconds: u64,
    /// Clients connecting (handshake + snapshot) at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// The gitops-live binary; by default `gitops-live` beside this bench's target folder.
    #[arg(long)]
    server: Option<PathBuf>,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_server: PathBuf,
    /// A bench name filter as `cargo bench` passes it; anything not matching `engine` skips.
    filter: Option<String>,
}

/// The line an instance logs when it takes the writer lease.
const WRITER_LINE: &str = "this instance is the writer now";
const INSTANCES: usize = 3;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.bench || args.filter.as_deref().is_some_and(|filter| !"engine".contains(filter)) {
        println!("engine: skipped (run with `cargo bench -p gitops-benches --bench engine`)");
        return Ok(());
    }
    let server = match &args.server {
        Some(path) => path.clone(),
        None => default_server_path()?,
    };
    ensure!(
        server.is_file(),
        "{} not found: build it first with `cargo build --release -p gitops-live` (or pass --server)",
        server.display()
    );
    // The clients live in this process: one descriptor each, and some slack.
    let needed = (INSTANCES * args.clients_per_instance) as u64 + 1_024;
    let (soft, _) = open_files_limit().context("reading the open-file limit")?;
    ensure!(soft >= needed, "the open-file limit is {soft}; run with `ulimit -n {needed}` or more");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the clients' runtime")?;
    println!("engine: server {} ({})", server.display(), modified(&server));
    println!(
        "engine: {INSTANCES} instances × {} clients, {} repos, {} writes, {} failovers, load average {:.2}",
        args.clients_per_instance,
        args.repos,
        args.writes,
        args.failovers,
        load_average()
    );
    let result = run(&args, &server, &runtime)?;
    print_result(&args, &result);
    runtime.shutdown_timeout(Duration::from_secs(5));
    Ok(())
}

/// `gitops-live` in the same profile folder as this bench.
fn default_server_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this bench")?;
    let profile_dir =
        exe.parent().and_then(Path::parent).context("the bench is not in a target folder")?;
    Ok(profile_dir.join("gitops-live"))
}

fn modified(path: &Path) -> String {
    let age =
        std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.map_or_else(|| "age unknown".to_owned(), |age| format!("built {} s ago", age.as_secs()))
}

/// The 1-minute load average from `/proc/loadavg` (0 when unreadable).
fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|value| value.parse().ok()).unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A redis-server of the bench's own on a free port, killed by its PID on drop.
struct Redis {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    fn start(program: &Path) -> anyhow::Result<Redis> {
        let port = free_port()?;
        let dir = tempfile::tempdir().context("a temp dir for redis")?;
        let child = Command::new(program)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let redis = Redis { child, port, _dir: dir };
        wait_until(Duration::from_secs(10), "redis to listen", || {
            Ok(redis_command(redis.port, &["PING"]).is_ok())
        })?;
        Ok(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One `gitops-live serve --engine` instance: its address and its log lines (stamped when read),
/// killed on drop.
struct Instance {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Instance {
    fn start(
        server: &Path,
        report: &Path,
        redis_url: &str,
        open_files: u64,
    ) -> anyhow::Result<Instance> {
        let mut command = command_with_open_files(server, open_files)?;
        command
            .args(["serve", "--log", "warn,gitops_live::engine=info", "--bind", "127.0.0.1:0"])
            .args(["--max-clients-per-ip", "20000", "--state-dir", "none"])
            .args(["--engine", redis_url, "--engine-lease", "1s", "--report"])
            .arg(report)
            .env("GITOPS_CONFIG", "none")
            .env_remove("RUST_LOG");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting gitops-live")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_sender, address) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().context("piped stdout")?;
        let stderr = child.stderr.take().context("piped stderr")?;
        for (stream, is_stdout) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, true),
            (Box::new(stderr) as Box<dyn std::io::Read + Send>, false),
        ] {
            let (log, address_sender) = (log.clone(), address_sender.clone());
            std::thread::spawn(move || {
                // Keep draining so the child never blocks on a full pipe.
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let now = Instant::now();
                    if is_stdout
                        && let Some(rest) = line.strip_prefix("gitops-live listening on http://")
                    {
                        let _ = address_sender.send(rest.trim_end_matches('/').to_owned());
                    }
                    log.lock().unwrap_or_else(PoisonError::into_inner).push((now, line));
                }
            });
        }
        let addr = match address.recv_timeout(Duration::from_secs(20)) {
            Ok(text) => text.parse().context("the instance's address")?,
            Err(_) => bail!("gitops-live did not print its address ({:?})", child.try_wait()),
        };
        let instance = Instance { child, addr, log };
        wait_until(Duration::from_secs(30), "the instance to be ready", || {
            Ok(http_status(instance.addr, "/readyz")? == 200)
        })?;
        Ok(instance)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// When this instance last logged that it became the writer.
    fn became_writer_at(&self) -> Option<Instant> {
        let log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().rev().find(|(_, line)| line.contains(WRITER_LINE)).map(|(at, _)| *at)
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `program` directly when the open-file limit allows `needed` descriptors, or through
/// `sh -c 'ulimit -n <needed> && exec ...'` (the PID stays the program's).
fn command_with_open_files(program: &Path, needed: u64) -> anyhow::Result<Command> {
    let (soft, _hard) = open_files_limit().context("reading the open-file limit")?;
    if soft >= needed {
        return Ok(Command::new(program));
    }
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("ulimit -n {needed} && exec \"$0\" \"$@\"")).arg(program);
    Ok(command)
}

/// The live instance that became the writer last (the one that took the lease most recently).
fn current_writer(instances: &[Option<Instance>]) -> Option<usize> {
    instances
        .iter()
        .enumerate()
        .filter_map(|(slot, instance)| Some((slot, instance.as_ref()?.became_writer_at()?)))
        .max_by_key(|(_, at)| *at)
        .map(|(slot, _)| slot)
}

// ---------------------------------------------------------------------------------------------
// HTTP and Redis over plain sockets

/// The status of a `GET` with `Connection: close`.
fn http_status(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    String::from_utf8_lossy(&head[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status line")
}

/// One command on a new connection; the reply's bulk string or simple string.
fn redis_command(port: u16, words: &[&str]) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let first = first.trim_end();
    if let Some(simple) = first.strip_prefix('+') {
        return Ok(simple.to_owned());
    }
    let Some(length) = first.strip_prefix('$') else { bail!("redis answered {first:?}") };
    let length: usize = length.parse().context("a bulk length")?;
    let mut body = vec![0u8; length + 2];
    reader.read_exact(&mut body)?;
    body.truncate(length);
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// `INFO commandstats` as command → calls (commands run inside scripts count too).
fn command_stats(port: u16) -> anyhow::Result<BTreeMap<String, u64>> {
    let text = redis_command(port, &["INFO", "commandstats"])?;
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let Some((name, fields)) = line.strip_prefix("cmdstat_").and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        let count = fields
            .split(',')
            .find_map(|field| field.strip_prefix("calls="))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        calls.insert(name.to_owned(), count);
    }
    Ok(calls)
}

/// `total_net_input_bytes` and `total_net_output_bytes` from `INFO stats`: what Redis read and
/// wrote on every connection.
fn net_bytes(port: u16) -> anyhow::Result<(u64, u64)> {
    let text = redis_command(port, &["INFO", "stats"])?;
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':')?.trim().parse().ok())
            .with_context(|| format!("INFO stats has no {name}"))
    };
    Ok((field("total_net_input_bytes")?, field("total_net_output_bytes")?))
}

/// `after - before` by command, without the bench's own `info`.
fn stats_delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .map(|(name, &calls)| {
            (name.clone(), calls.saturating_sub(before.get(name).copied().unwrap_or(0)))
        })
        .filter(|(_, calls)| *calls > 0)
        .collect()
}

/// The local ports of `pid`'s TCP connections to `remote_port` on 127.0.0.1, from
/// `/proc/<pid>/fd` (socket inodes) and `/proc/net/tcp`.
fn ports_to(pid: u32, remote_port: u16) -> HashSet<u16> {
    let mut inodes = HashSet::new();
    if let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for entry in entries.flatten() {
            if let Ok(target) = std::fs::read_link(entry.path()) {
                let target = target.to_string_lossy().into_owned();
                if let Some(inode) =
                    target.strip_prefix("socket:[").and_then(|rest| rest.strip_suffix(']'))
                {
                    inodes.insert(inode.to_owned());
                }
            }
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let port_of = |address: &str| {
        address.rsplit_once(':').and_then(|(_, port)| u16::from_str_radix(port, 16).ok())
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, inode) = (fields.get(1)?, fields.get(2)?, fields.get(9)?);
            (port_of(remote)? == remote_port && inodes.contains(*inode))
                .then(|| port_of(local))
                .flatten()
        })
        .collect()
}

/// Counts every command `MONITOR` shows, by the client's address and command, while `counting`.
struct Monitor {
    counts: Arc<Mutex<HashMap<(String, String), u64>>>,
    counting: Arc<AtomicBool>,
    stream: TcpStream,
}

impl Monitor {
    fn start(port: u16) -> anyhow::Result<Monitor> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.write_all(b"*1\r\n$7\r\nMONITOR\r\n")?;
        let counts = Arc::new(Mutex::new(HashMap::new()));
        let counting = Arc::new(AtomicBool::new(false));
        let reader = BufReader::new(stream.try_clone()?);
        let (thread_counts, thread_counting) = (counts.clone(), counting.clone());
        std::thread::spawn(move || {
            // `+1700000000.123456 [0 127.0.0.1:40000] "evalsha" "…" …`, or `[0 lua]` for a
            // command run by a script.
            for line in reader.lines().map_while(Result::ok) {
                if !thread_counting.load(Ordering::Relaxed) {
                    continue;
                }
                let Some((_, rest)) = line.split_once('[') else { continue };
                let Some((client, rest)) = rest.split_once(']') else { continue };
                let client = client.split_whitespace().nth(1).unwrap_or("?").to_owned();
                let command =
                    rest.split('"').nth(1).map(str::to_ascii_lowercase).unwrap_or_default();
                *thread_counts
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry((client, command))
                    .or_insert(0) += 1;
            }
        });
        Ok(Monitor { counts, counting, stream })
    }

    /// Starts counting from zero.
    fn restart(&self) {
        self.counting.store(false, Ordering::SeqCst);
        // Lines already read but not yet counted may land either side: a few at most.
        std::thread::sleep(Duration::from_millis(50));
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clear();
        self.counting.store(true, Ordering::SeqCst);
    }

    /// What was counted since `restart`, and stops counting.
    fn take(&self) -> HashMap<(String, String), u64> {
        // MONITOR lines trail the commands a little.
        std::thread::sleep(Duration::from_millis(100));
        self.counting.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.counts.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

/// What the clients of one instance saw.
#[derive(Default)]
struct Tally {
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// Clients that have their first state-bearing message (the snapshot).
    with_state: AtomicUsize,
    closed: AtomicUsize,
    /// State-bearing messages other than `repo-status-change` after the first (snapshots,
    /// catch-ups): a takeover that made clients start over would show here.
    later_snapshots: AtomicUsize,
    /// `repo-status-change` by repository: how many clients got it, first and last receipt.
    changes: Mutex<HashMap<String, Arrival>>,
}

#[derive(Clone, Copy)]
struct Arrival {
    clients: usize,
    last: Instant,
}

impl Tally {
    fn arrival(&self, name: &str) -> Option<Arrival> {
        self.changes.lock().unwrap_or_else(PoisonError::into_inner).get(name).copied()
    }
}

/// The first fields of a server message; `data` is skipped unread.
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    seq: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ChangeName {
    data: NameOnly,
}

#[derive(serde::Deserialize)]
struct NameOnly {
    name: String,
}

/// Opens `n` clients on `addr` (without a cursor: each first gets the snapshot), counting into a
/// new tally. A client holds its connect permit until it has the snapshot, so at most
/// `concurrency` snapshots are in flight.
fn open_clients(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    n: usize,
    concurrency: usize,
) -> Arc<Tally> {
    let tally = Arc::new(Tally::default());
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    for _ in 0..n {
        runtime.spawn(client(addr, permits.clone(), tally.clone()));
    }
    tally
}

async fn client(addr: SocketAddr, permits: Arc<Semaphore>, tally: Arc<Tally>) {
    let Ok(permit) = permits.acquire_owned().await else { return };
    let mut socket = None;
    for attempt in 0..3u64 {
        tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
        let connect = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"));
        if let Ok(Ok((connected, _))) = tokio::time::timeout(Duration::from_secs(10), connect).await
        {
            socket = Some(connected);
            break;
        }
    }
    let Some(mut socket) = socket else {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let mut permit = Some(permit);
    while let Some(Ok(message)) = socket.next().await {
        let received = Instant::now();
        let Message::Text(text) = message else { continue };
        let Ok(head) = serde_json::from_str::<Head<'_>>(text.as_str()) else { continue };
        if head.seq.is_none() {
            continue;
        }
        if permit.take().is_some() {
            tally.with_state.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if head.kind != "repo-status-change" {
            if matches!(head.kind, "audit-update" | "catch-up") {
                tally.later_snapshots.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        let Ok(change) = serde_json::from_str::<ChangeName>(text.as_str()) else { continue };
        let mut changes = tally.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let arrival =
            changes.entry(change.data.name).or_insert(Arrival { clients: 0, last: received });
        arrival.clients += 1;
        arrival.last = arrival.last.max(received);
    }
    tally.closed.fetch_add(1, Ordering::Relaxed);
}

/// Waits until every client of `tally` has connected (or failed) and has its first state.
fn wait_for_clients(tally: &Tally, n: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let limit = Duration::from_secs(60) + Duration::from_millis(60) * n as u32;
    wait_until(limit, "every client to have the snapshot", || {
        let failed = tally.failed.load(Ordering::Relaxed);
        ensure!(failed == 0, "{failed} clients could not connect");
        Ok(tally.with_state.load(Ordering::Relaxed) == n)
    })?;
    Ok(started.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Writes

/// One prepared write: the repository whose status it flips and the whole new file.
struct PlannedWrite {
    name: String,
    bytes: Vec<u8>,
}

/// Flips one `clean`/`dirty` repository per write (with the link and mitigation a producer would
/// write) and recomputes the summary; each write builds on the previous one and names a different
/// repository.
fn plan_writes(base: &Report, n_writes: usize) -> anyhow::Result<Vec<PlannedWrite>> {
    let candidates: Vec<usize> = base
        .repos
        .iter()
        .enumerate()
        .filter(|(_, repo)| matches!(repo.status, Status::Clean | Status::Dirty))
        .map(|(index, _)| index)
        .collect();
    ensure!(
        n_writes <= candidates.len(),
        "{n_writes} writes need as many clean or dirty repositories; the report has {}",
        candidates.len()
    );
    let mut report = base.clone();
    let mut plan = Vec::with_capacity(n_writes);
    for &index in candidates.iter().take(n_writes) {
        let repo = &mut report.repos[index];
        let (status, action, mitigation) = match repo.status {
            Status::Clean => (Status::Dirty, "commit", Some("commit_or_discard".to_owned())),
            _ => (Status::Clean, "view", None),
        };
        repo.status = status;
        repo.dashboard_link = Some(format!("/audit/{}?action={action}", repo.name));
        repo.mitigation = mitigation;
        let name = repo.name.clone();
        report.summary = Some(report.computed_summary());
        report.health_status = Some(report.computed_health());
        plan.push(PlannedWrite { name, bytes: report.to_json_bytes() });
    }
    Ok(plan)
}

/// Writes a temporary file beside the report and renames it over the report; returns when
/// `rename()` has returned.
fn write_report(path: &Path, write: &PlannedWrite) -> anyhow::Result<Instant> {
    let temp = path.with_file_name(".GitRepoReport.json.tmp");
    std::fs::write(&temp, &write.bytes).context("writing the temporary file")?;
    std::fs::rename(&temp, path).context("renaming over the report")?;
    Ok(Instant::now())
}

/// Waits until every client of the given tallies (`expected` each) has the change to `name`;
/// the last receipt per tally.
fn wait_for_change(
    tallies: &[(usize, &Tally, usize)],
    name: &str,
    limit: Duration,
) -> anyhow::Result<Vec<(usize, Instant)>> {
    let deadline = Instant::now() + limit;
    loop {
        let arrivals: Vec<Option<Arrival>> =
            tallies.iter().map(|(_, tally, _)| tally.arrival(name)).collect();
        let complete = arrivals
            .iter()
            .zip(tallies)
            .all(|(arrival, (_, _, expected))| arrival.is_some_and(|a| a.clients >= *expected));
        if complete {
            return Ok(arrivals
                .iter()
                .zip(tallies)
                .filter_map(|(arrival, (slot, _, _))| Some((*slot, arrival.as_ref()?.last)))
                .collect());
        }
        if Instant::now() >= deadline {
            let got: Vec<usize> = arrivals.iter().map(|a| a.map_or(0, |a| a.clients)).collect();
            bail!("the change to {name} did not reach every client within {limit:?}: {got:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// The figures of one run.
struct RunResult {
    connect: Duration,
    /// Per write: write → last client over all instances, in µs.
    all_us: Vec<u64>,
    /// Per instance and write: write → that instance's last client, in µs.
    per_instance_us: [Vec<u64>; INSTANCES],
    /// `INFO commandstats` over the latency writes, the idle window before them, and how long
    /// each took.
    writes_stats: BTreeMap<String, u64>,
    idle_stats: BTreeMap<String, u64>,
    writes_window: Duration,
    idle_window: Duration,
    /// Bytes Redis read and wrote (in, out) over the idle window and over the latency writes.
    idle_net: (u64, u64),
    writes_net: (u64, u64),
    /// `MONITOR` counts by (instance or `lua`/`other`, command) over a second batch of writes and
    /// an idle window, and how long each took.
    monitor_writes: BTreeMap<(String, String), u64>,
    monitor_idle: BTreeMap<(String, String), u64>,
    monitor_writes_window: Duration,
    monitor_idle_window: Duration,
    monitor_n_writes: usize,
    failovers: Vec<Failover>,
    later_snapshots: usize,
    load_average: (f64, f64),
}

/// One kill -9 of the writer.
struct Failover {
    killed_slot: usize,
    /// Kill → another instance logs that it is the writer.
    takeover: Option<Duration>,
    /// Kill → every client of the survivors has the change written right after the kill.
    all_clients: Duration,
    /// Write (right after the kill) → the same.
    from_write: Duration,
}

fn run(args: &Args, server: &Path, runtime: &tokio::runtime::Runtime) -> anyhow::Result<RunResult> {
    let redis = Redis::start(&args.redis_server)?;
    println!("engine: redis on 127.0.0.1:{}", redis.port);
    let dir = tempfile::tempdir().context("making a temp dir")?;
    let report_path = dir.path().join("GitRepoReport.json");
    let base = gitops_report::generate_report(args.repos, args.seed);
    std::fs::write(&report_path, base.to_json_bytes()).context("writing the first report")?;
    let mut plan = plan_writes(&base, 2 * args.writes + args.failovers)?.into_iter();
    let open_files = args.clients_per_instance as u64 + 1_024;

    let mut instances: Vec<Option<Instance>> = Vec::new();
    for _ in 0..INSTANCES {
        instances.push(Some(Instance::start(server, &report_path, &redis.url(), open_files)?));
    }
    wait_until(Duration::from_secs(20), "a writer", || Ok(current_writer(&instances).is_some()))?;
    println!("engine: instance {} is the writer", current_writer(&instances).unwrap_or(0));

    let started = Instant::now();
    let mut tallies: Vec<Arc<Tally>> = Vec::new();
    for instance in instances.iter().flatten() {
        tallies.push(open_clients(
            runtime,
            instance.addr,
            args.clients_per_instance,
            args.connect_concurrency,
        ));
    }
    for tally in &tallies {
        wait_for_clients(tally, args.clients_per_instance)?;
    }
    let connect = started.elapsed();
    println!(
        "engine: {} clients have the snapshot after {:.1} s",
        INSTANCES * args.clients_per_instance,
        connect.as_secs_f64()
    );
    // Let the client-count broadcasts (at most every 2 s) go out and settle.
    std::thread::sleep(Duration::from_secs(3));
    let load_before = load_average();
    let gap = Duration::from_millis(args.gap_ms);
    let expected = args.clients_per_instance;
    let change_limit = Duration::from_secs(30);

    // Idle window, then the latency writes, each between two `INFO commandstats`.
    let idle_before = command_stats(redis.port)?;
    let net_idle_before = net_bytes(redis.port)?;
    let idle_started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.idle_seconds));
    let idle_after = command_stats(redis.port)?;
    let net_idle_after = net_bytes(redis.port)?;
    let idle_window = idle_started.elapsed();
    let writes_started = Instant::now();
    let mut all_us = Vec::new();
    let mut per_instance_us: [Vec<u64>; INSTANCES] = Default::default();
    for k in 0..args.writes {
        let write = plan.next().context("the plan is long enough")?;
        let done = write_report(&report_path, &write)?;
        let all: Vec<(usize, &Tally, usize)> =
            tallies.iter().enumerate().map(|(slot, tally)| (slot, &**tally, expected)).collect();
        let lasts = wait_for_change(&all, &write.name, change_limit)?;
        let mut last_overall = Duration::ZERO;
        for (slot, last) in lasts {
            let latency = last.saturating_duration_since(done);
            per_instance_us[slot].push(latency.as_micros() as u64);
            last_overall = last_overall.max(latency);
        }
        all_us.push(last_overall.as_micros() as u64);
        println!(
            "engine: write {k:>3} {:<24} every client has it after {:>7.2} ms",
            write.name,
            last_overall.as_secs_f64() * 1e3
        );
        std::thread::sleep(gap);
    }
    let writes_window = writes_started.elapsed();
    let writes_after = command_stats(redis.port)?;
    let net_writes_after = net_bytes(redis.port)?;
    let net_delta = |before: (u64, u64), after: (u64, u64)| {
        (after.0.saturating_sub(before.0), after.1.saturating_sub(before.1))
    };
    let idle_net = net_delta(net_idle_before, net_idle_after);
    let writes_net = net_delta(net_idle_after, net_writes_after);
    let idle_stats = stats_delta(&idle_before, &idle_after);
    let writes_stats = stats_delta(&idle_after, &writes_after);

    // The same again under MONITOR, attributed to instances by their connections' ports.
    let monitor = Monitor::start(redis.port)?;
    let owner_of = |instances: &[Option<Instance>]| {
        let mut owners = HashMap::new();
        for (slot, instance) in instances.iter().enumerate() {
            if let Some(instance) = instance {
                for port in ports_to(instance.pid(), redis.port) {
                    owners.insert(format!("127.0.0.1:{port}"), format!("instance {slot}"));
                }
            }
        }
        owners
    };
    let attribute = |counts: HashMap<(String, String), u64>, owners: &HashMap<String, String>| {
        let mut by_owner = BTreeMap::new();
        for ((client, command), n) in counts {
            let owner = match owners.get(&client) {
                Some(owner) => owner.clone(),
                None if client == "lua" => "lua".to_owned(),
                None => "other".to_owned(),
            };
            *by_owner.entry((owner, command)).or_insert(0) += n;
        }
        by_owner
    };
    monitor.restart();
    let monitor_idle_started = Instant::now();
    std::thread::sleep(Duration::from_secs(args.idle_seconds));
    let monitor_idle_raw = monitor.take();
    let monitor_idle_window = monitor_idle_started.elapsed();
    let owners = owner_of(&instances);
    let monitor_idle = attribute(monitor_idle_raw, &owners);
    monitor.restart();
    let monitor_started = Instant::now();
    for _ in 0..args.writes {
        let write = plan.next().context("the plan is long enough")?;
        write_report(&report_path, &write)?;
        let all: Vec<(usize, &Tally, usize)> =
            tallies.iter().enumerate().map(|(slot, tally)| (slot, &**tally, expected)).collect();
        wait_for_change(&all, &write.name, change_limit)?;
        std::thread::sleep(gap);
    }
    let monitor_writes_raw = monitor.take();
    let monitor_writes_window = monitor_started.elapsed();
    let owners = owner_of(&instances);
    let monitor_writes = attribute(monitor_writes_raw, &owners);
    drop(monitor);
    let load_after = load_average();

    // Failover rounds: kill -9 the writer, write at once, wait for the survivors' clients.
    let mut failovers = Vec::new();
    for round in 0..args.failovers {
        let writer = current_writer(&instances).context("no writer")?;
        let write = plan.next().context("the plan is long enough")?;
        let victim = instances[writer].take().context("the writer is running")?;
        let killed_at = Instant::now();
        victim.kill();
        let written = write_report(&report_path, &write)?;
        let survivors: Vec<(usize, &Tally, usize)> = (0..INSTANCES)
            .filter(|slot| *slot != writer)
            .map(|slot| (slot, &*tallies[slot], expected))
            .collect();
        let lasts = wait_for_change(&survivors, &write.name, change_limit)?;
        let last = lasts.iter().map(|(_, at)| *at).max().unwrap_or(killed_at);
        let takeover = instances
            .iter()
            .flatten()
            .filter_map(Instance::became_writer_at)
            .filter(|at| *at > killed_at)
            .min()
            .map(|at| at - killed_at);
        let failover = Failover {
            killed_slot: writer,
            takeover,
            all_clients: last - killed_at,
            from_write: last.saturating_duration_since(written),
        };
        println!(
            "engine: failover {round}: killed instance {writer}; new writer after {}, every surviving client has the change {:.0} ms after the kill",
            failover
                .takeover
                .map_or("?".to_owned(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3)),
            failover.all_clients.as_secs_f64() * 1e3
        );
        failovers.push(failover);
        if round + 1 < args.failovers {
            // Replace the killed instance, with fresh clients, before the next round.
            let instance = Instance::start(server, &report_path, &redis.url(), open_files)?;
            let tally = open_clients(
                runtime,
                instance.addr,
                args.clients_per_instance,
                args.connect_concurrency,
            );
            instances[writer] = Some(instance);
            wait_for_clients(&tally, args.clients_per_instance)?;
            tallies[writer] = tally;
            std::thread::sleep(Duration::from_secs(3));
        }
    }
    let later_snapshots =
        tallies.iter().map(|tally| tally.later_snapshots.load(Ordering::Relaxed)).sum();
    drop(instances);
    Ok(RunResult {
        connect,
        all_us,
        per_instance_us,
        writes_stats,
        idle_stats,
        writes_window,
        idle_window,
        idle_net,
        writes_net,
        monitor_writes,
        monitor_idle,
        monitor_writes_window,
        monitor_idle_window,
        monitor_n_writes: args.writes,
        failovers,
        later_snapshots,
        load_average: (load_before, load_after),
    })
}

// ---------------------------------------------------------------------------------------------
// Output

fn ms(us: u64) -> f64 {
    us as f64 / 1_000.0
}

fn distribution_line(values: &[u64]) -> String {
    match Distribution::of(values.to_vec()) {
        Some(d) => format!(
            "p50 {:.1} / p99 {:.1} / max {:.1} ms (n={})",
            ms(d.p50),
            ms(d.p99),
            ms(d.max),
            d.n
        ),
        None => "no data".to_owned(),
    }
}

/// Commands per change: (during writes − idle rate × writes window) / writes.
fn per_change(during: u64, idle: u64, window: Duration, idle_window: Duration, n: usize) -> f64 {
    let idle_rate = idle as f64 / idle_window.as_secs_f64().max(1e-9);
    (during as f64 - idle_rate * window.as_secs_f64()) / n.max(1) as f64
}

fn print_result(args: &Args, result: &RunResult) {
    println!();
    println!(
        "engine: {} clients ({} per instance) had the snapshot {:.1} s after the first connect; load average {:.2} → {:.2}",
        INSTANCES * args.clients_per_instance,
        args.clients_per_instance,
        result.connect.as_secs_f64(),
        result.load_average.0,
        result.load_average.1
    );
    println!("engine: write → every client (3 instances): {}", distribution_line(&result.all_us));
    for (slot, values) in result.per_instance_us.iter().enumerate() {
        println!("engine:   instance {slot}'s last client: {}", distribution_line(values));
    }
    println!(
        "engine: snapshots or catch-ups after the first state (all clients): {}",
        result.later_snapshots
    );

    println!();
    println!(
        "engine: INFO commandstats over {} writes ({:.1} s), less an idle {:.1} s window:",
        result.all_us.len(),
        result.writes_window.as_secs_f64(),
        result.idle_window.as_secs_f64()
    );
    println!("| command | calls during the writes | idle calls per s | per change (net) |");
    println!("| --- | ---: | ---: | ---: |");
    let names: std::collections::BTreeSet<&String> =
        result.writes_stats.keys().chain(result.idle_stats.keys()).collect();
    let (mut total_during, mut total_idle) = (0, 0);
    for name in names {
        let during = result.writes_stats.get(name).copied().unwrap_or(0);
        let idle = result.idle_stats.get(name).copied().unwrap_or(0);
        total_during += during;
        total_idle += idle;
        println!(
            "| {name} | {during} | {:.1} | {:.2} |",
            idle as f64 / result.idle_window.as_secs_f64(),
            per_change(during, idle, result.writes_window, result.idle_window, result.all_us.len())
        );
    }
    println!(
        "| **total** | {total_during} | {:.1} | {:.2} |",
        total_idle as f64 / result.idle_window.as_secs_f64(),
        per_change(
            total_during,
            total_idle,
            result.writes_window,
            result.idle_window,
            result.all_us.len()
        )
    );

    let n = result.all_us.len();
    println!(
        "engine: bytes Redis read per change {:.0} (idle {:.0}/s), wrote per change {:.0} (idle {:.0}/s)",
        per_change(
            result.writes_net.0,
            result.idle_net.0,
            result.writes_window,
            result.idle_window,
            n
        ),
        result.idle_net.0 as f64 / result.idle_window.as_secs_f64(),
        per_change(
            result.writes_net.1,
            result.idle_net.1,
            result.writes_window,
            result.idle_window,
            n
        ),
        result.idle_net.1 as f64 / result.idle_window.as_secs_f64(),
    );

    println!();
    println!(
        "engine: MONITOR over {} more writes ({:.1} s), less an idle {:.1} s window, by instance:",
        result.monitor_n_writes,
        result.monitor_writes_window.as_secs_f64(),
        result.monitor_idle_window.as_secs_f64()
    );
    println!(
        "| instance | command | calls during the writes | idle calls per s | per change (net) |"
    );
    println!("| --- | --- | ---: | ---: | ---: |");
    let keys: std::collections::BTreeSet<&(String, String)> =
        result.monitor_writes.keys().chain(result.monitor_idle.keys()).collect();
    let mut owner_totals: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for key in keys {
        let during = result.monitor_writes.get(key).copied().unwrap_or(0);
        let idle = result.monitor_idle.get(key).copied().unwrap_or(0);
        let totals = owner_totals.entry(key.0.as_str()).or_default();
        totals.0 += during;
        totals.1 += idle;
        println!(
            "| {} | {} | {during} | {:.1} | {:.2} |",
            key.0,
            key.1,
            idle as f64 / result.monitor_idle_window.as_secs_f64(),
            per_change(
                during,
                idle,
                result.monitor_writes_window,
                result.monitor_idle_window,
                result.monitor_n_writes
            )
        );
    }
    for (owner, (during, idle)) in &owner_totals {
        println!(
            "| {owner} | **all** | {during} | {:.1} | {:.2} |",
            *idle as f64 / result.monitor_idle_window.as_secs_f64(),
            per_change(
                *during,
                *idle,
                result.monitor_writes_window,
                result.monitor_idle_window,
                result.monitor_n_writes
            )
        );
    }

    println!();
    println!(
        "| failover | killed | kill → new writer logs it | kill → every surviving client has the change | write → same |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (round, failover) in result.failovers.iter().enumerate() {
        println!(
            "| {round} | instance {} | {} | {:.0} ms | {:.0} ms |",
            failover.killed_slot,
            failover
                .takeover
                .map_or("–".to_owned(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3)),
            failover.all_clients.as_secs_f64() * 1e3,
            failover.from_write.as_secs_f64() * 1e3
        );
    }
}

/// Polls `check` every 50 ms until it is true, for at most `limit` (an error counts as not yet).
fn wait_until(
    limit: Duration,
    what: &str,
    mut check: impl FnMut() -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut last_error = None;
    while Instant::now() < deadline {
        match check() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(error) => last_error = Some(error),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("waited {limit:?} for {what}; last error: {last_error:?}")
}
