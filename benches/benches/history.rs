//! History bench: the latency of `GET /api/history/<cursor>` and `GET /api/history/diff` on a
//! log of 100,000 changes to a 1,000-repository report, and the log's bytes per change.
//!
//! It writes the log with the store, encoded as the hub encodes a publish (one repository's
//! status changed per publish, the report's timestamp too every 50th, spread over the last 20
//! days), starts the
//! release `gitops-live serve` on it, and asks for random points and random pairs, one request
//! at a time, each on a new connection, from this process on the same machine.
//!
//! ```text
//! cargo build --release -p gitops-live
//! cargo bench -p gitops-benches --bench history
//! cargo bench -p gitops-benches --bench history -- --changes 20000 --requests 100   # quicker
//! ```
//!
//! Without `--bench` (as under `cargo test --all-targets`) it does nothing. Every wait is bounded;
//! everything listens on and connects to 127.0.0.1 only.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, ensure};
use clap::Parser;
use gitops_benches::e2e::Distribution;
use gitops_protocol::{Cursor, encode_meta, encode_repo_change};
use gitops_report::{Report, Status, Timestamp};
use gitops_store::{Batch, Store, StoreConfig};

/// The history bench of gitops-live.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// Set by `cargo bench`; without it nothing runs.
    #[arg(long)]
    bench: bool,
    /// Repository changes in the log.
    #[arg(long, default_value_t = 100_000)]
    changes: usize,
    /// Repositories in the report.
    #[arg(long, default_value_t = 1_000)]
    repos: usize,
    /// Requests per measured endpoint.
    #[arg(long, default_value_t = 400)]
    requests: usize,
    /// The gitops-live binary; by default `gitops-live` beside this bench's target folder.
    #[arg(long)]
    server: Option<PathBuf>,
    /// Keep the state directory here (and reuse it when it already holds a log).
    #[arg(long)]
    keep: Option<PathBuf>,
    /// A bench name filter as `cargo bench` passes it.
    filter: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.bench || args.filter.as_deref().is_some_and(|filter| !"history".contains(filter)) {
        println!("history: skipped (run with `cargo bench -p gitops-benches --bench history`)");
        return Ok(());
    }
    let server = match &args.server {
        Some(path) => path.clone(),
        None => {
            let exe = std::env::current_exe().context("locating this bench")?;
            exe.parent()
                .and_then(Path::parent)
                .context("not in a target folder")?
                .join("gitops-live")
        }
    };
    ensure!(
        server.is_file(),
        "{} not found: cargo build --release -p gitops-live",
        server.display()
    );

    let temp = tempfile::tempdir().context("a temp dir")?;
    let state_dir = args.keep.clone().unwrap_or_else(|| temp.path().join("state"));
    let report_path = temp.path().join("GitRepoReport.json");
    let started = Instant::now();
    let log = write_log(&state_dir, args.repos, args.changes)?;
    println!(
        "history: log of {} messages ({} repository changes) over {} repositories written in {:.1} s",
        log.messages,
        args.changes,
        args.repos,
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&report_path, log.last.to_json_bytes()).context("writing the report")?;

    let files = file_bytes(&state_dir);
    println!(
        "history: database {:.1} MiB on disk: {:.0} bytes per change ({:.0} of them messages and checkpoints, {} checkpoints)",
        files as f64 / (1 << 20) as f64,
        files as f64 / log.messages as f64,
        log.payload_bytes as f64 / log.messages as f64,
        log.checkpoints,
    );

    let mut child = Command::new(&server)
        .args(["serve", "--log", "warn", "--bind", "127.0.0.1:0", "--report"])
        .arg(&report_path)
        .arg("--state-dir")
        .arg(&state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting gitops-live")?;
    let result = measure(&mut child, &args, &log);
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// What was written.
struct Log {
    epoch: gitops_protocol::Epoch,
    last_seq: u64,
    messages: u64,
    payload_bytes: u64,
    checkpoints: u64,
    last: Report,
}

/// Writes (or, with `--keep` on an existing log, reads) the log.
fn write_log(dir: &Path, n_repos: usize, n_changes: usize) -> anyhow::Result<Log> {
    let opened = Store::open(dir, StoreConfig::default()).context("opening the store")?;
    let mut store = opened.store;
    if store.cursor().is_none() {
        let mut report = gitops_report::generate_report(n_repos, 42);
        let epoch = store.epoch();
        let start = SystemTime::now() - Duration::from_secs(20 * 24 * 3600);
        let step = Duration::from_secs(20 * 24 * 3600) / (n_changes as u32 + 1);
        store.append(&Batch::snapshot(start, 1, &report)).context("the first state")?;
        let mut seq = 1u64;
        let statuses =
            [Status::Clean, Status::Dirty, Status::Missing, Status::Extra, Status::Mismatched];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut changed = 0;
        let mut i = 0u32;
        while changed < n_changes {
            i += 1;
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let index = (rng % n_repos as u64) as usize;
            let old = report.repos[index].clone();
            let mut new = old.clone();
            new.status = statuses[((rng >> 20) % 5) as usize].clone();
            if new.status == old.status {
                continue;
            }
            // Encoded as the hub encodes a publish: the repository's change, then the
            // top-level fields that changed, each with the next sequence number.
            let dup = report.repos[..index].iter().filter(|r| r.name == old.name).count() as u32;
            let change = gitops_diff::change_between(&old.name, dup, Some(&old), Some(&new))
                .context("a status change is a change")?;
            report.repos[index] = new;
            changed += 1;
            let time = start + step * i;
            seq += 1;
            let mut messages = vec![encode_repo_change(Cursor::new(epoch, seq), &change)];
            if changed % 50 == 0 {
                let seconds =
                    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                let timestamp = Timestamp::from_unix_seconds(seconds as i64);
                let mut meta = gitops_diff::Meta::new();
                meta.insert("timestamp".to_owned(), serde_json::Value::from(timestamp.raw.clone()));
                report.timestamp = Some(timestamp);
                seq += 1;
                messages.push(encode_meta(Cursor::new(epoch, seq), &meta));
            }
            store
                .append(&Batch::changes(time, &messages, &report))
                .with_context(|| format!("appending change {changed}"))?;
        }
    }
    let stats = store.stats().context("the store's stats")?;
    let last = store.latest(Default::default())?.context("a log")?.state;
    Ok(Log {
        epoch: store.epoch(),
        last_seq: stats.last_seq.context("a last seq")?,
        messages: stats.messages,
        payload_bytes: stats.payload_bytes,
        checkpoints: stats.checkpoints,
        last,
    })
}

/// The database and its WAL, after the store closed (which folds the WAL in).
fn file_bytes(dir: &Path) -> u64 {
    ["gitops-live.db", "gitops-live.db-wal"]
        .iter()
        .map(|name| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len()))
        .sum()
}

fn measure(child: &mut Child, args: &Args, log: &Log) -> anyhow::Result<()> {
    let stdout = child.stdout.take().context("piped stdout")?;
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr: SocketAddr = loop {
        let line = lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .context("the server did not print its address")?;
        if let Some(rest) = line.strip_prefix("gitops-live listening on http://") {
            break rest.trim_end_matches('/').parse().context("an address")?;
        }
    };
    let ready = Instant::now() + Duration::from_secs(30);
    while get(addr, "/readyz", false)?.0 != 200 {
        ensure!(Instant::now() < ready, "the server did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut pick = || {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        1 + (rng >> 33) % log.last_seq
    };
    let cursor = |seq: u64| Cursor::new(log.epoch, seq);
    println!();
    println!("| request | n | p50 ms | p90 ms | p99 ms | max ms | body |");
    println!("|---|---|---|---|---|---|---|");
    let run = |name: &str, paths: Vec<String>, compressed: bool| -> anyhow::Result<()> {
        let mut times = Vec::with_capacity(paths.len());
        let mut bytes = 0usize;
        for path in &paths {
            let started = Instant::now();
            let (status, body) = get(addr, path, compressed)?;
            times.push(started.elapsed().as_micros() as u64);
            ensure!(status == 200, "{path}: {status} {}", String::from_utf8_lossy(&body));
            bytes += body.len();
        }
        let d = Distribution::of(times).context("no requests")?;
        let ms = |us: u64| us as f64 / 1000.0;
        println!(
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} KiB |",
            d.n,
            ms(d.p50),
            ms(d.p90),
            ms(d.p99),
            ms(d.max),
            bytes as f64 / paths.len() as f64 / 1024.0
        );
        Ok(())
    };
    let n = args.requests;
    let states: Vec<String> = (0..n).map(|_| format!("/api/history/{}", cursor(pick()))).collect();
    run("`/api/history/<cursor>`", states, false)?;
    let states: Vec<String> = (0..n).map(|_| format!("/api/history/{}", cursor(pick()))).collect();
    run("`/api/history/<cursor>`, gzip/br accepted", states, true)?;
    let diffs: Vec<String> = (0..n)
        .map(|_| format!("/api/history/diff?from={}&to={}", cursor(pick()), cursor(pick())))
        .collect();
    run("`/api/history/diff` (random pair)", diffs, false)?;
    let near: Vec<String> = (0..n)
        .map(|_| {
            let to = pick().max(2);
            format!("/api/history/diff?from={}&to={}", cursor(to - 1), cursor(to))
        })
        .collect();
    run("`/api/history/diff` (one change apart)", near, false)?;
    let pages: Vec<String> =
        (0..n).map(|_| format!("/api/history?limit=50&before={}", cursor(pick()))).collect();
    run("`/api/history?limit=50`", pages, false)?;
    println!();
    Ok(())
}

/// A `GET` with `Connection: close`: the status and the body as sent (compressed when asked).
fn get(addr: SocketAddr, path: &str, compressed: bool) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let encoding = if compressed { "Accept-Encoding: gzip, deflate, br\r\n" } else { "" };
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{encoding}Connection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.take(64 << 20).read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").context("no end of headers")?;
    let status = String::from_utf8_lossy(&raw[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    Ok((status, raw[split + 4..].to_vec()))
}
