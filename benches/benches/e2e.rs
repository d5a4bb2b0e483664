//! End-to-end bench: report file write finished → every WebSocket client has the message.
//!
//! For each client count it starts the release `gitops-live serve` on a 1,000-repo report, starts
//! `gitops-loadgen` in a separate process with that many idle clients, measures the server's RSS
//! before and after they connect, then writes the report K times (alternating temp + rename and
//! in-place writes, or one writer style chosen with `--writer`, such as the real `cp`, a shell's
//! `>` or Python's buffered file; one repository's status flipped each time) and reports, per write, the time
//! until the last client had the `repo-status-change`, and per client and write the time until
//! that client had it.
//!
//! ```text
//! cargo build --release -p gitops-live
//! cargo bench -p gitops-benches --bench e2e              # 100, 1,000 and 10,000 clients
//! cargo bench -p gitops-benches --bench e2e -- --quick   # 100 and 1,000
//! ```
//!
//! Without `--bench` (as under `cargo test --all-targets`) it does nothing. Every wait is bounded;
//! everything listens on and connects to 127.0.0.1 only. See `gitops_benches::e2e` for why both
//! processes stamp times with `SystemTime`.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use gitops_benches::e2e::{
    Distribution, LoadSummary, MessageRecord, OutputLine, cpu_ticks, now_ns, open_files_limit,
    server_frame_bytes, vm_rss_kib,
};
use gitops_report::{Report, Status};

/// The end-to-end latency, memory and size bench of gitops-live.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// Set by `cargo bench`; without it nothing runs (so `cargo test --all-targets` stays fast).
    #[arg(long)]
    bench: bool,
    /// Only 100 and 1,000 clients, for routine runs.
    #[arg(long)]
    quick: bool,
    /// Client counts to run, e.g. `100,1000,10000` (overrides --quick).
    #[arg(long, value_delimiter = ',')]
    clients: Vec<usize>,
    /// Report writes per client count.
    #[arg(long, default_value_t = 200)]
    writes: usize,
    /// Time between writes in ms; by default 50 ms + 60 µs per client, so each write is delivered
    /// before the next one lands (writes closer than the debounce would be merged).
    #[arg(long)]
    spacing_ms: Option<u64>,
    /// Repositories in the generated report.
    #[arg(long, default_value_t = 1000)]
    repos: usize,
    /// Seed of the generated report.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The gitops-live binary; by default `gitops-live` beside this bench's target folder
    /// (build it with `cargo build --release -p gitops-live`).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Passed to `gitops-live serve --debounce-ms`; by default the server's own default.
    #[arg(long)]
    debounce_ms: Option<u64>,
    /// Worker threads of the load generator.
    #[arg(long, default_value_t = 2)]
    loadgen_threads: usize,
    /// Another load generator binary (same arguments and output), to compare two of them; by
    /// default the `gitops-loadgen` built with this bench.
    #[arg(long)]
    loadgen: Option<PathBuf>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Clients connect without a cursor and so first get a snapshot, as browsers opening the
    /// dashboard do (the memory figure then includes what a snapshot leaves behind).
    #[arg(long)]
    fresh_clients: bool,
    /// Flip only `status` (leave `dashboard_link` and `mitigation` as they were): the smallest
    /// one-repo change, for the bytes-on-the-wire figure.
    #[arg(long)]
    status_only: bool,
    /// How the report is written: `mixed` (alternating `rename` and `inplace`, the default),
    /// `rename` (temp file + `rename()`), `inplace` (one `write()` after `open(O_TRUNC)`), or a
    /// real writer process: `cp` (`cp next.json report`), `shell` (`sh -c 'cat next.json >
    /// report'`), `tee` (`sh -c 'tee report < next.json > /dev/null'`), `python-chunks` (Python's
    /// buffered text `open('w').write()` in 1,000-character pieces, flushed in 8 KiB chunks).
    /// A process writer's write is "finished" when the process has exited (Python: when its
    /// `close()` returned, printed by the writer itself).
    #[arg(long, default_value = "mixed")]
    writer: WriterChoice,
    /// The server's `--log` filter (default `warn`); its log goes to this bench's stderr. For a
    /// trace of the watcher: `--server-log gitops_watch=trace,gitops_live=debug --verbose`
    /// (the verbose lines give each write's start and finish in ns since the epoch).
    #[arg(long, default_value = "warn")]
    server_log: String,
    /// Print one line per write (style, first and last client latency).
    #[arg(long)]
    verbose: bool,
    /// A bench name filter as `cargo bench` passes it; anything not matching `e2e` skips this bench.
    filter: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.bench || args.filter.as_deref().is_some_and(|filter| !"e2e".contains(filter)) {
        println!("e2e: skipped (run with `cargo bench -p gitops-benches --bench e2e`)");
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
    let counts = match (&args.clients[..], args.quick) {
        ([], true) => vec![100, 1_000],
        ([], false) => vec![100, 1_000, 10_000],
        (counts, _) => counts.to_vec(),
    };
    println!("e2e: server {} ({})", server.display(), modified(&server));
    println!(
        "e2e: {} repos, {} writes per run, writer {:?}, clients {counts:?}",
        args.repos, args.writes, args.writer
    );
    let mut results = Vec::new();
    for &n_clients in &counts {
        let result = run_once(&args, &server, n_clients)
            .with_context(|| format!("the run with {n_clients} clients"))?;
        print_result(&result);
        results.push(result);
    }
    println!();
    print_table(&results);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&results)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `gitops-live` in the same profile folder as this bench (`target/release/deps/e2e-*` →
/// `target/release/gitops-live`).
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

/// Which writes a run makes (`--writer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum WriterChoice {
    /// Alternating temp + rename and in place.
    Mixed,
    /// Temp file + `rename()`.
    Rename,
    /// `open(O_TRUNC)`, one `write()`, `close()`.
    Inplace,
    /// The real `cp`.
    Cp,
    /// `sh -c 'cat next.json > report'`.
    Shell,
    /// `sh -c 'tee report < next.json > /dev/null'`.
    Tee,
    /// Python's buffered text file.
    PythonChunks,
}

/// How a write reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
enum WriteStyle {
    /// Write a temporary file in the same folder, then `rename()` it over the report.
    AtomicRename,
    /// Truncate and write the report itself (`open(O_TRUNC)`, `write`, `close`).
    InPlace,
    /// `cp next.json GitRepoReport.json` (coreutils 9.1 here: `copy_file_range` into the
    /// truncated file).
    Cp,
    /// `sh -c 'cat next.json > GitRepoReport.json'`: the shell truncates, `cat` writes in
    /// 128 KiB pieces, the file is closed when `cat` exits.
    Shell,
    /// `sh -c 'tee GitRepoReport.json < next.json > /dev/null'`: `tee` writes 8 KiB pieces.
    Tee,
    /// Python's `open(path, 'w')` and many small `write()`s, flushed in 8 KiB chunks.
    PythonChunks,
}

impl WriteStyle {
    /// The style of the `k`th write for `choice`.
    fn of(choice: WriterChoice, k: usize) -> WriteStyle {
        match choice {
            WriterChoice::Mixed if k.is_multiple_of(2) => WriteStyle::AtomicRename,
            WriterChoice::Mixed | WriterChoice::Inplace => WriteStyle::InPlace,
            WriterChoice::Rename => WriteStyle::AtomicRename,
            WriterChoice::Cp => WriteStyle::Cp,
            WriterChoice::Shell => WriteStyle::Shell,
            WriterChoice::Tee => WriteStyle::Tee,
            WriterChoice::PythonChunks => WriteStyle::PythonChunks,
        }
    }
}

/// The Python writer: a buffered text file written in 1,000-character pieces (Python flushes
/// its 8 KiB buffer as it fills), then the time `close()` returned, in ns since the epoch
/// (`time.time_ns()` reads CLOCK_REALTIME, as `now_ns` does).
const PYTHON_WRITER: &str = "import sys, time
text = open(sys.argv[1], encoding='utf-8').read()
f = open(sys.argv[2], 'w', encoding='utf-8')
for i in range(0, len(text), 1000):
    f.write(text[i:i + 1000])
f.close()
print(time.time_ns(), flush=True)
";

/// One prepared write: the repository whose status it flips and the whole new file.
struct PlannedWrite {
    name: String,
    style: WriteStyle,
    bytes: Vec<u8>,
}

/// What each write changes besides the repository's status and the summary.
#[derive(Debug, Clone, Copy)]
struct WriteContent {
    /// Leave `dashboard_link` and `mitigation` alone.
    status_only: bool,
}

/// Flips one `clean`/`dirty` repository per write (with the link and mitigation a producer would
/// write for the new status, unless `status_only`) and recomputes the summary, as the auditor
/// does. Each write builds on the previous one and names a different repository.
fn plan_writes(
    base: &Report,
    n_writes: usize,
    content: WriteContent,
    writer: WriterChoice,
) -> anyhow::Result<Vec<PlannedWrite>> {
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
    for (k, &index) in candidates.iter().take(n_writes).enumerate() {
        let repo = &mut report.repos[index];
        let (status, action, mitigation) = match repo.status {
            Status::Clean => (Status::Dirty, "commit", Some("commit_or_discard".to_owned())),
            _ => (Status::Clean, "view", None),
        };
        repo.status = status;
        if !content.status_only {
            repo.dashboard_link = Some(format!("/audit/{}?action={action}", repo.name));
            repo.mitigation = mitigation;
        }
        let name = repo.name.clone();
        report.summary = Some(report.computed_summary());
        report.health_status = Some(report.computed_health());
        let style = WriteStyle::of(writer, k);
        plan.push(PlannedWrite { name, style, bytes: report.to_json_bytes() });
    }
    Ok(plan)
}

/// One write as it happened.
struct DoneWrite {
    name: String,
    style: WriteStyle,
    /// When the writer began (before creating or truncating a file), in `now_ns` nanoseconds.
    started_ns: u64,
    /// When `rename()` or `close()` returned, in `now_ns` nanoseconds.
    finished_ns: u64,
}

/// The file a process writer copies from, written before the write's clock starts.
fn staged_path(path: &Path) -> PathBuf {
    path.with_file_name("next.json")
}

/// Gets a process writer's input ready (outside the timed write). Nothing for the others.
fn stage_write(path: &Path, write: &PlannedWrite) -> anyhow::Result<()> {
    match write.style {
        WriteStyle::AtomicRename | WriteStyle::InPlace => Ok(()),
        WriteStyle::Cp | WriteStyle::Shell | WriteStyle::Tee | WriteStyle::PythonChunks => {
            std::fs::write(staged_path(path), &write.bytes).context("staging the next report")
        }
    }
}

/// Makes one write; returns when it finished (`now_ns`), as the writer itself saw it when it
/// can say so (Python prints it), or else right after `rename()`/`close()` returned or the writer
/// process exited.
fn write_report(path: &Path, write: &PlannedWrite) -> anyhow::Result<u64> {
    let run = |command: &mut Command| -> anyhow::Result<std::process::Output> {
        let output = command.stderr(Stdio::inherit()).output().context("running the writer")?;
        ensure!(output.status.success(), "the writer failed: {}", output.status);
        Ok(output)
    };
    let staged = staged_path(path);
    match write.style {
        WriteStyle::AtomicRename => {
            let temp = path.with_file_name(".GitRepoReport.json.tmp");
            std::fs::write(&temp, &write.bytes).context("writing the temporary file")?;
            std::fs::rename(&temp, path).context("renaming over the report")?;
        }
        // `fs::write` opens with O_TRUNC, writes everything and closes on return.
        WriteStyle::InPlace => {
            std::fs::write(path, &write.bytes).context("writing the report in place")?
        }
        WriteStyle::Cp => {
            run(Command::new("cp").arg(&staged).arg(path))?;
        }
        WriteStyle::Shell => {
            run(Command::new("sh")
                .args(["-c", "cat \"$1\" > \"$2\"", "sh"])
                .arg(&staged)
                .arg(path))?;
        }
        WriteStyle::Tee => {
            run(Command::new("sh")
                .args(["-c", "tee \"$2\" < \"$1\" > /dev/null", "sh"])
                .arg(&staged)
                .arg(path))?;
        }
        WriteStyle::PythonChunks => {
            let output =
                run(Command::new("python3").args(["-c", PYTHON_WRITER]).arg(&staged).arg(path))?;
            let text = String::from_utf8_lossy(&output.stdout);
            return text.trim().parse().context("the Python writer's close time");
        }
    }
    Ok(now_ns())
}

/// The figures of one client count.
#[derive(Debug, serde::Serialize)]
struct RunResult {
    clients: usize,
    connected: usize,
    failed: usize,
    closed_early: usize,
    connect_ms: u64,
    writes: usize,
    spacing_ms: u64,
    /// Per write: ms from write finished until the last client had the change.
    all_clients_ms: Option<DistributionMs>,
    /// The same for temp + rename writes only.
    all_clients_atomic_ms: Option<DistributionMs>,
    /// The same for in-place writes only (every writer but temp + rename).
    all_clients_in_place_ms: Option<DistributionMs>,
    /// Per client and write: ms from write finished until that client had the change.
    per_client_ms: Option<DistributionMs>,
    /// Per write: ms from write finished until the first client had the change.
    first_client_ms: Option<DistributionMs>,
    /// How long each write took, from before the first syscall to after `rename()`/`close()`.
    write_duration_ms: Option<DistributionMs>,
    /// Writes whose change did not reach every connected client.
    incomplete_writes: usize,
    /// Deliveries missing, summed over writes (connected clients × writes − received).
    missing_deliveries: u64,
    /// Deliveries stamped before the writer's "finished" stamp, counted as 0 ms: the server read
    /// the new bytes before the writer got to `close()`/`rename()` returning and its clock read
    /// (a writer descheduled for longer than the debounce), or the read of an earlier write saw
    /// this one's bytes. Counted per write style: (temp + rename, in place).
    negative_latencies: (u64, u64),
    server_rss_before_kib: u64,
    server_rss_idle_kib: u64,
    server_rss_end_kib: u64,
    /// (idle − before) / clients.
    kib_per_idle_client: f64,
    loadgen_rss_idle_kib: u64,
    /// Payload bytes of the `repo-status-change` messages (min, median, max).
    change_payload_bytes: (usize, usize, usize),
    /// The same as WebSocket frames (payload plus frame header).
    change_frame_bytes: (usize, usize, usize),
    /// Median payload bytes of the `health-metrics-update` that follows each change.
    meta_payload_bytes: Option<usize>,
    /// What the clients received, by type.
    received: LoadSummary,
    /// The 1-minute load average before and after the writes (other work on the machine skews
    /// every figure; 2 cores).
    load_average: (f64, f64),
    /// CPU time the server used from the first write until the load generator was stopped.
    server_cpu_ms: u64,
    /// The same for the load generator.
    loadgen_cpu_ms: u64,
    /// `server_cpu_ms` per message received by a client (every type), in µs.
    server_cpu_us_per_delivery: f64,
    /// The same for the load generator.
    loadgen_cpu_us_per_delivery: f64,
}

/// The 1-minute load average from `/proc/loadavg` (0 when unreadable).
fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|value| value.parse().ok()).unwrap_or(0.0)
}

/// A [`Distribution`] in milliseconds with microsecond precision.
#[derive(Debug, Clone, Copy, serde::Serialize)]
struct DistributionMs {
    n: usize,
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

fn to_ms(distribution: Option<Distribution>) -> Option<DistributionMs> {
    let ms = |us: u64| us as f64 / 1_000.0;
    distribution.map(|d| DistributionMs {
        n: d.n,
        p50: ms(d.p50),
        p90: ms(d.p90),
        p99: ms(d.p99),
        max: ms(d.max),
    })
}

fn run_once(args: &Args, server_bin: &Path, n_clients: usize) -> anyhow::Result<RunResult> {
    println!();
    println!("e2e: --- {n_clients} clients ---");
    let spacing_ms = args.spacing_ms.unwrap_or(50 + n_clients as u64 * 60 / 1_000);
    let dir = tempfile::tempdir().context("making a temp dir")?;
    let report_path = dir.path().join("GitRepoReport.json");
    let base = gitops_report::generate_report(args.repos, args.seed);
    std::fs::write(&report_path, base.to_json_bytes()).context("writing the first report")?;
    let plan = plan_writes(
        &base,
        args.writes,
        WriteContent { status_only: args.status_only },
        args.writer,
    )?;

    // Both processes need a descriptor per client plus some slack; children inherit the limit.
    let needed_files = n_clients as u64 + 1_024;
    let mut server_command = command_with_open_files(server_bin, needed_files)?;
    server_command
        .args(["serve", "--log", &args.server_log, "--bind", "127.0.0.1:0"])
        // Every bench client comes from 127.0.0.1: lift the per-address cap (a tenth of the total).
        .args(["--max-clients-per-ip", "20000", "--report"])
        .arg(&report_path)
        // The log in the state directory is on the publish path: measure with it.
        .arg("--state-dir")
        .arg(dir.path().join("state"));
    if let Some(debounce) = args.debounce_ms {
        server_command.args(["--debounce-ms", &debounce.to_string()]);
    }
    let mut server = Process::start(server_command, "gitops-live")?;
    let addr: SocketAddr = server
        .wait_for_line(Duration::from_secs(20), |line| {
            line.strip_prefix("gitops-live listening on http://").map(str::to_owned)
        })?
        .trim_end_matches('/')
        .parse()
        .context("the server's address")?;
    wait_until(Duration::from_secs(20), "the server to load the report", || {
        Ok(http_get(addr, "/readyz")?.0 == 200)
    })?;
    // Warm the snapshot and its gzip cache so they do not count as per-connection memory.
    http_get(addr, "/api/audit")?;
    std::thread::sleep(Duration::from_millis(500));
    let server_rss_before_kib = vm_rss_kib(server.id()).context("reading the server's RSS")?;

    let loadgen_out = dir.path().join("loadgen.jsonl");
    let loadgen =
        args.loadgen.as_deref().unwrap_or(Path::new(env!("CARGO_BIN_EXE_gitops-loadgen")));
    let mut loadgen_command = command_with_open_files(loadgen, needed_files)?;
    loadgen_command
        .args(["--url", &format!("http://{addr}"), "--clients", &n_clients.to_string(), "--out"])
        .arg(&loadgen_out)
        .args(["--threads", &args.loadgen_threads.to_string()]);
    if args.fresh_clients {
        loadgen_command.arg("--fresh");
    }
    let mut loadgen = Process::start(loadgen_command, "gitops-loadgen")?;
    let connect_limit = Duration::from_secs(30) + Duration::from_millis(10) * n_clients as u32;
    let connected_line = loadgen.wait_for_line(connect_limit, |line| {
        line.starts_with("connected ").then(|| line.to_owned())
    })?;
    println!("e2e: loadgen {connected_line}");
    let connected: usize = connected_line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .context("a client count")?;
    ensure!(connected > 0, "no client connected");
    wait_until(Duration::from_secs(30), "the server to count every client", || {
        let (_, body) = http_get(addr, "/api/ws/status")?;
        let status: serde_json::Value = serde_json::from_slice(&body).context("the status JSON")?;
        Ok(status["clients"]["ws"].as_u64() == Some(connected as u64))
    })?;
    // Let the client-count `connection-status` broadcast (at most every 2 s) go out and drain.
    std::thread::sleep(Duration::from_secs(3));
    let server_rss_idle_kib = vm_rss_kib(server.id()).context("reading the server's RSS")?;
    let loadgen_rss_idle_kib = vm_rss_kib(loadgen.id()).unwrap_or(0);
    let kib_per_idle_client =
        (server_rss_idle_kib as f64 - server_rss_before_kib as f64) / connected as f64;
    println!(
        "e2e: server RSS {server_rss_before_kib} KiB → {server_rss_idle_kib} KiB with {connected} idle clients: \
         {kib_per_idle_client:.2} KiB each"
    );

    println!("e2e: {} writes, one every {spacing_ms} ms", plan.len());
    let spacing = Duration::from_millis(spacing_ms);
    let load_before = load_average();
    let server_ticks_before = cpu_ticks(server.id()).unwrap_or(0);
    let loadgen_ticks_before = cpu_ticks(loadgen.id()).unwrap_or(0);
    let start = Instant::now();
    let mut done = Vec::with_capacity(plan.len());
    for (k, write) in plan.iter().enumerate() {
        let due = start + spacing * k as u32;
        stage_write(&report_path, write)?;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let started_ns = now_ns();
        let finished_ns = write_report(&report_path, write)?;
        done.push(DoneWrite {
            name: write.name.clone(),
            style: write.style,
            started_ns,
            finished_ns,
        });
    }
    // Give the last write time to reach everyone, then stop the load generator.
    std::thread::sleep(
        Duration::from_millis(1_000 + spacing_ms) + Duration::from_micros(100) * n_clients as u32,
    );
    let server_rss_end_kib = vm_rss_kib(server.id()).unwrap_or(0);
    let server_cpu_ms =
        cpu_ticks(server.id()).unwrap_or(0).saturating_sub(server_ticks_before) * 10;
    let loadgen_cpu_ms =
        cpu_ticks(loadgen.id()).unwrap_or(0).saturating_sub(loadgen_ticks_before) * 10;
    loadgen.send_line("stop")?;
    loadgen.wait_for_line(Duration::from_secs(120), |line| (line == "done").then_some(()))?;
    loadgen.wait_exit(Duration::from_secs(30))?;
    server.terminate(Duration::from_secs(15));

    let (messages, received) = read_loadgen_output(&loadgen_out)?;
    if args.verbose {
        print_writes(&done, &messages);
    }
    let mut result = analyse(&done, &messages, received, connected);
    result.load_average = (load_before, load_average());
    let deliveries =
        result.received.by_type.values().map(|count| count.messages).sum::<u64>().max(1);
    result.server_cpu_ms = server_cpu_ms;
    result.loadgen_cpu_ms = loadgen_cpu_ms;
    result.server_cpu_us_per_delivery = server_cpu_ms as f64 * 1_000.0 / deliveries as f64;
    result.loadgen_cpu_us_per_delivery = loadgen_cpu_ms as f64 * 1_000.0 / deliveries as f64;
    result.spacing_ms = spacing_ms;
    result.server_rss_before_kib = server_rss_before_kib;
    result.server_rss_idle_kib = server_rss_idle_kib;
    result.server_rss_end_kib = server_rss_end_kib;
    result.kib_per_idle_client = kib_per_idle_client;
    result.loadgen_rss_idle_kib = loadgen_rss_idle_kib;
    Ok(result)
}

/// Runs `program` directly when the open-file limit allows `needed` descriptors, or through
/// `sh -c 'ulimit -n <needed> && exec ...'` when it must be raised (raising the hard limit needs
/// root; the bench machine runs as root).
fn command_with_open_files(program: &Path, needed: u64) -> anyhow::Result<Command> {
    let (soft, _hard) = open_files_limit().context("reading the open-file limit")?;
    if soft >= needed {
        return Ok(Command::new(program));
    }
    let mut command = Command::new("sh");
    command.arg("-c").arg(format!("ulimit -n {needed} && exec \"$0\" \"$@\"")).arg(program);
    Ok(command)
}

/// A child process whose stdout lines are read by a thread, killed on drop.
struct Process {
    child: Child,
    name: &'static str,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn start(mut command: Command, name: &'static str) -> anyhow::Result<Process> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let stdin = child.stdin.take();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The receiver may be gone; keep draining so the child never blocks on a full pipe.
                let _ = sender.send(line);
            }
        });
        Ok(Process { child, name, stdin, lines })
    }

    fn id(&self) -> u32 {
        self.child.id()
    }

    fn wait_for_line<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(value) = pick(&line) {
                        return Ok(value);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} said nothing expected within {limit:?}", self.name)
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("{} exited early ({:?})", self.name, self.child.try_wait())
                }
            }
        }
    }

    fn send_line(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .with_context(|| format!("writing to {}", self.name))
    }

    fn wait_exit(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                ensure!(status.success(), "{} exited with {status}", self.name);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{} did not exit within {limit:?}", self.name)
    }

    /// SIGTERM (through `kill`, as std has no signals), then SIGKILL after `limit`.
    fn terminate(&mut self, limit: Duration) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` every 50 ms until it is true, for at most `limit`.
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

/// A `GET` with `Connection: close`: the status and the body (not de-chunked; enough for the
/// JSON endpoints used here, which send a length).
fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.take(16 << 20).read_to_end(&mut raw)?;
    let split =
        raw.windows(4).position(|window| window == b"\r\n\r\n").context("no end of headers")?;
    let status = String::from_utf8_lossy(&raw[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("no status line")?;
    Ok((status, raw[split + 4..].to_vec()))
}

fn read_loadgen_output(path: &Path) -> anyhow::Result<(Vec<MessageRecord>, LoadSummary)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut messages = Vec::new();
    let mut summary = None;
    for line in text.lines() {
        match serde_json::from_str(line).context("a load generator line")? {
            OutputLine::Message(message) => messages.push(message),
            OutputLine::Summary(total) => summary = Some(total),
        }
    }
    Ok((messages, summary.context("the load generator wrote no summary")?))
}

fn analyse(
    done: &[DoneWrite],
    messages: &[MessageRecord],
    received: LoadSummary,
    connected: usize,
) -> RunResult {
    let changes: std::collections::HashMap<&str, &MessageRecord> = messages
        .iter()
        .filter(|message| message.kind == "repo-status-change")
        .filter_map(|message| Some((message.name.as_deref()?, message)))
        .collect();
    let (mut all_clients, mut atomic, mut in_place, mut per_client, mut first_client) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut incomplete_writes, mut missing_deliveries, mut negative_latencies) =
        (0, 0u64, (0u64, 0u64));
    let mut change_sizes = Vec::new();
    for write in done {
        let Some(message) = changes.get(write.name.as_str()) else {
            incomplete_writes += 1;
            missing_deliveries += connected as u64;
            continue;
        };
        change_sizes.push(message.payload_bytes);
        let latencies_us: Vec<u64> = message
            .receive_times_ns()
            .map(|received_ns| {
                if received_ns < write.finished_ns {
                    match write.style {
                        WriteStyle::AtomicRename => negative_latencies.0 += 1,
                        _ => negative_latencies.1 += 1,
                    }
                }
                received_ns.saturating_sub(write.finished_ns) / 1_000
            })
            .collect();
        missing_deliveries += connected.saturating_sub(message.receivers) as u64;
        if let Some(&first) = latencies_us.first() {
            first_client.push(first);
        }
        if message.receivers >= connected {
            let last = latencies_us.last().copied().unwrap_or(0);
            all_clients.push(last);
            match write.style {
                WriteStyle::AtomicRename => atomic.push(last),
                _ => in_place.push(last),
            }
        } else {
            incomplete_writes += 1;
        }
        per_client.extend(latencies_us);
    }
    change_sizes.sort_unstable();
    let write_durations_us = done
        .iter()
        .map(|write| write.finished_ns.saturating_sub(write.started_ns) / 1_000)
        .collect();
    let size_summary = |sizes: &[usize], frame: fn(usize) -> usize| {
        let at = |index: usize| sizes.get(index).copied().map_or(0, frame);
        (at(0), at(sizes.len() / 2), at(sizes.len().saturating_sub(1)))
    };
    let mut meta_sizes: Vec<usize> = messages
        .iter()
        .filter(|message| message.kind == "health-metrics-update")
        .map(|message| message.payload_bytes)
        .collect();
    meta_sizes.sort_unstable();
    RunResult {
        clients: received.clients,
        connected,
        failed: received.failed,
        closed_early: received.closed_early,
        connect_ms: received.connect_ms,
        writes: done.len(),
        spacing_ms: 0,
        all_clients_ms: to_ms(Distribution::of(all_clients)),
        all_clients_atomic_ms: to_ms(Distribution::of(atomic)),
        all_clients_in_place_ms: to_ms(Distribution::of(in_place)),
        per_client_ms: to_ms(Distribution::of(per_client)),
        first_client_ms: to_ms(Distribution::of(first_client)),
        write_duration_ms: to_ms(Distribution::of(write_durations_us)),
        incomplete_writes,
        missing_deliveries,
        negative_latencies,
        server_rss_before_kib: 0,
        server_rss_idle_kib: 0,
        server_rss_end_kib: 0,
        kib_per_idle_client: 0.0,
        loadgen_rss_idle_kib: 0,
        change_payload_bytes: size_summary(&change_sizes, |n| n),
        change_frame_bytes: size_summary(&change_sizes, server_frame_bytes),
        meta_payload_bytes: meta_sizes.get(meta_sizes.len() / 2).copied(),
        received,
        load_average: (0.0, 0.0),
        server_cpu_ms: 0,
        loadgen_cpu_ms: 0,
        server_cpu_us_per_delivery: 0.0,
        loadgen_cpu_us_per_delivery: 0.0,
    }
}

fn print_writes(done: &[DoneWrite], messages: &[MessageRecord]) {
    let mut previous_ns = None;
    for (k, write) in done.iter().enumerate() {
        let gap_ms =
            previous_ns.map_or(0.0, |previous| (write.finished_ns - previous) as f64 / 1e6);
        previous_ns = Some(write.finished_ns);
        let change = messages
            .iter()
            .find(|m| m.kind == "repo-status-change" && m.name.as_deref() == Some(&write.name));
        let Some(change) = change else {
            println!("e2e: write {k:>4} {:?} +{gap_ms:.1} ms: no message", write.style);
            continue;
        };
        let latency = |ns: u64| (ns as f64 - write.finished_ns as f64) / 1e6;
        let last_ns = change.receive_times_ns().last().unwrap_or(change.first_ns);
        println!(
            "e2e: write {k:>4} {:<12?} +{gap_ms:>6.1} ms: seq {:>4} first {:>7.2} ms last {:>7.2} ms ({} clients) \
             started {} finished {} first {} ns",
            write.style,
            change.seq,
            latency(change.first_ns),
            latency(last_ns),
            change.receivers,
            write.started_ns,
            write.finished_ns,
            change.first_ns
        );
    }
}

fn print_result(result: &RunResult) {
    let show = |label: &str, distribution: &Option<DistributionMs>| match distribution {
        Some(d) => println!(
            "e2e: {label:<28} n={:<7} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms",
            d.n, d.p50, d.p90, d.p99, d.max
        ),
        None => println!("e2e: {label:<28} no data"),
    };
    show("every client has it", &result.all_clients_ms);
    show("  temp + rename writes", &result.all_clients_atomic_ms);
    show("  in-place writes", &result.all_clients_in_place_ms);
    show("first client has it", &result.first_client_ms);
    show("per client and write", &result.per_client_ms);
    show("writer: start to rename/close", &result.write_duration_ms);
    println!(
        "e2e: connected {} of {} (failed {}, closed early {}) in {} ms; incomplete writes {}, missing deliveries {}, \
         stamped before the write finished {} (rename) / {} (in place)",
        result.connected,
        result.clients,
        result.failed,
        result.closed_early,
        result.connect_ms,
        result.incomplete_writes,
        result.missing_deliveries,
        result.negative_latencies.0,
        result.negative_latencies.1
    );
    let (min, median, max) = result.change_payload_bytes;
    let (frame_min, frame_median, frame_max) = result.change_frame_bytes;
    println!(
        "e2e: repo-status-change payload {min}/{median}/{max} B (min/median/max), frames {frame_min}/{frame_median}/{frame_max} B; \
         health-metrics-update {:?} B",
        result.meta_payload_bytes
    );
    println!(
        "e2e: server RSS before {} KiB, idle {} KiB, end {} KiB; loadgen RSS {} KiB",
        result.server_rss_before_kib,
        result.server_rss_idle_kib,
        result.server_rss_end_kib,
        result.loadgen_rss_idle_kib
    );
    let types: Vec<String> = result
        .received
        .by_type
        .iter()
        .map(|(kind, count)| format!("{kind} {} msgs / {} B", count.messages, count.bytes))
        .collect();
    println!("e2e: received {}", types.join(", "));
    for (kind, text) in &result.received.samples {
        println!("e2e: sample {kind} ({} B): {text}", text.len());
    }
    println!(
        "e2e: load average {:.2} before the writes, {:.2} after",
        result.load_average.0, result.load_average.1
    );
    println!(
        "e2e: CPU during the writes: server {} ms ({:.1} µs per delivered message), loadgen {} ms ({:.1} µs)",
        result.server_cpu_ms,
        result.server_cpu_us_per_delivery,
        result.loadgen_cpu_ms,
        result.loadgen_cpu_us_per_delivery
    );
}

/// The Markdown table for docs/performance.md.
fn print_table(results: &[RunResult]) {
    println!(
        "| clients | every client has it: p50 / p90 / p99 / max (ms) | p99 rename / in-place (ms) | per client p50 / p99 (ms) | missed | server RSS per idle client | change on the wire |"
    );
    println!("| ---: | --- | --- | --- | ---: | ---: | ---: |");
    let ms = |value: Option<f64>| value.map_or_else(|| "–".to_owned(), |v| format!("{v:.1}"));
    for result in results {
        let all = result.all_clients_ms;
        println!(
            "| {} | {} / {} / {} / {} | {} / {} | {} / {} | {} | {:.1} KiB | {} B |",
            result.clients,
            ms(all.map(|d| d.p50)),
            ms(all.map(|d| d.p90)),
            ms(all.map(|d| d.p99)),
            ms(all.map(|d| d.max)),
            ms(result.all_clients_atomic_ms.map(|d| d.p99)),
            ms(result.all_clients_in_place_ms.map(|d| d.p99)),
            ms(result.per_client_ms.map(|d| d.p50)),
            ms(result.per_client_ms.map(|d| d.p99)),
            result.missing_deliveries,
            result.kib_per_idle_client,
            result.change_frame_bytes.1,
        );
    }
}
