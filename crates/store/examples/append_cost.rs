//! What an append costs on the publish path, at `synchronous=NORMAL` and `FULL` (WAL mode), with
//! a real report: the figures behind `StoreConfig::sync` and docs/operations.md.
//!
//! ```text
//! cargo run --release -p gitops-store --example append_cost -- [--repos 1000] [--publishes 1500] [--dir /path]
//! ```
//!
//! Each publish is what an audit run typically changes: one to three repositories change status,
//! so the summary, health and timestamp change too (a `health-metrics-update`). Diffing and
//! encoding happen before the clock starts: the hub does them anyway. Reported per sync level:
//! append latency percentiles (all appends, and those that wrote a checkpoint), the same while
//! another thread prunes continuously, a publish that touches every repository, and the restart
//! path (`latest` with the hub's default history).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use gitops_diff::diff;
use gitops_protocol::{Bytes, Cursor, Epoch, encode_meta, encode_repo_change};
use gitops_report::{Report, Status};
use gitops_store::{Batch, HistoryLimit, RetentionPolicy, Store, StoreConfig, SyncLevel};

struct Options {
    repos: usize,
    publishes: usize,
    dir: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options { repos: 1000, publishes: 1500, dir: None };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--repos" => options.repos = value().parse().expect("--repos N"),
            "--publishes" => options.publishes = value().parse().expect("--publishes N"),
            "--dir" => options.dir = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

/// The encoded messages of a publish from `old` to `new` after `seq`.
fn encode(epoch: Epoch, seq: u64, old: &Report, new: &Report) -> Vec<Bytes> {
    let changes = diff(old, new);
    let mut next = seq;
    let mut messages = Vec::new();
    for change in &changes.repos {
        next += 1;
        messages.push(encode_repo_change(Cursor::new(epoch, next), change));
    }
    if let Some(meta) = &changes.meta {
        next += 1;
        messages.push(encode_meta(Cursor::new(epoch, next), meta));
    }
    messages
}

/// A typical audit change: 1-3 repositories flip status; the summary follows.
fn typical_change(report: &Report, i: usize) -> Report {
    let mut next = report.clone();
    let n = report.repos.len();
    for k in 0..1 + i % 3 {
        let repo = &mut next.repos[(i * 7919 + k * 104_729) % n];
        repo.status = if repo.status == Status::Clean { Status::Dirty } else { Status::Clean };
    }
    next.extra.insert("audit_run".to_owned(), (i as u64).into());
    next.summary = Some(next.computed_summary());
    next.health_status = Some(next.computed_health());
    next
}

/// Every repository changes (a field every repository has).
fn change_everything(report: &Report, i: usize) -> Report {
    let mut next = report.clone();
    for repo in &mut next.repos {
        repo.extra.insert("last_audit".to_owned(), (i as u64).into());
    }
    next.extra.insert("audit_run".to_owned(), (i as u64).into());
    next
}

struct Prepared {
    messages: Vec<Bytes>,
    state: Report,
}

/// Builds `n` publishes from `first`, starting after `seq`.
fn prepare(
    epoch: Epoch,
    mut seq: u64,
    first: &Report,
    n: usize,
    step: fn(&Report, usize) -> Report,
) -> Vec<Prepared> {
    let mut state = first.clone();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let next = step(&state, i + seq as usize);
        let messages = encode(epoch, seq, &state, &next);
        seq += messages.len() as u64;
        out.push(Prepared { messages, state: next.clone() });
        state = next;
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn line(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<34} n={:<5} p50 {:>7.3} ms  p90 {:>7.3} ms  p99 {:>7.3} ms  max {:>7.3} ms",
        samples.len(),
        ms(percentile(&samples, 0.5)),
        ms(percentile(&samples, 0.9)),
        ms(percentile(&samples, 0.99)),
        ms(samples.last().copied().unwrap_or_default()),
    );
}

/// Appends `batches`, returning every append's time and those that wrote a checkpoint.
fn append_all(store: &mut Store, batches: &[Prepared]) -> (Vec<Duration>, Vec<Duration>) {
    let mut all = Vec::with_capacity(batches.len());
    let mut checkpoints = Vec::new();
    for prepared in batches {
        let batch = Batch::changes(SystemTime::now(), &prepared.messages, &prepared.state);
        let started = Instant::now();
        let appended = store.append(&batch).expect("append");
        let took = started.elapsed();
        all.push(took);
        if appended.checkpoint {
            checkpoints.push(took);
        }
    }
    (all, checkpoints)
}

/// The samples of one sync level, over every round.
#[derive(Default)]
struct Samples {
    snapshot: Vec<Duration>,
    typical: Vec<Duration>,
    checkpoints: Vec<Duration>,
    pruning: Vec<Duration>,
    prunes: u64,
    pruned_messages: u64,
    everything: Vec<Duration>,
    everything_bytes: usize,
    latest: Vec<Duration>,
    history: usize,
}

fn open(parent: &std::path::Path, config: StoreConfig) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir_in(parent).expect("a temp dir");
    let store = Store::open(dir.path(), config).expect("open").store;
    (dir, store)
}

fn run(sync: SyncLevel, options: &Options, samples: &mut Samples) {
    let parent = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let first = gitops_report::generate_report(options.repos, 1);

    // Typical publishes with the default settings, then a publish touching every repository,
    // then the restart path.
    let (_dir, mut store) = open(&parent, StoreConfig { sync, ..StoreConfig::default() });
    let epoch = store.epoch();
    let started = Instant::now();
    store.append(&Batch::snapshot(SystemTime::now(), 1, &first)).expect("snapshot");
    samples.snapshot.push(started.elapsed());
    let batches = prepare(epoch, 1, &first, options.publishes, typical_change);
    let (all, checkpoints) = append_all(&mut store, &batches);
    samples.typical.extend(all);
    samples.checkpoints.extend(checkpoints);
    let seq = store.cursor().expect("a log").seq;
    let last = batches.last().map_or(first.clone(), |b| b.state.clone());
    let big = prepare(epoch, seq, &last, 20, change_everything);
    samples.everything_bytes = big[0].messages.iter().map(|m| m.len()).sum();
    samples.everything.extend(append_all(&mut store, &big).0);
    let started = Instant::now();
    let restored = store.latest(HistoryLimit::default()).expect("latest").expect("a log");
    samples.latest.push(started.elapsed());
    samples.history = restored.history.len();
    drop(store);

    // Typical publishes while another thread prunes as fast as it can: checkpoints every 500
    // messages and a 2 MiB limit, so that every prune finds something to cut.
    let config = StoreConfig { sync, checkpoint_every_messages: 500, ..StoreConfig::default() };
    let (_dir, mut store) = open(&parent, config);
    let epoch = store.epoch();
    store.append(&Batch::snapshot(SystemTime::now(), 1, &first)).expect("snapshot");
    let batches = prepare(epoch, 1, &first, options.publishes, typical_change);
    let handle = store.handle().expect("a handle");
    let stop = Arc::new(AtomicBool::new(false));
    let pruner = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let policy = RetentionPolicy {
                max_age: None,
                max_bytes: Some(2 << 20),
                max_source_events: None,
                max_actions: None,
                max_outbox: None,
            };
            let mut prunes = 0u64;
            let mut removed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                removed += handle.prune(&policy, SystemTime::now()).expect("prune").messages;
                prunes += 1;
            }
            (prunes, removed)
        })
    };
    let (all, _) = append_all(&mut store, &batches);
    stop.store(true, Ordering::Relaxed);
    let (prunes, removed) = pruner.join().expect("the pruner");
    samples.pruning.extend(all);
    samples.prunes += prunes;
    samples.pruned_messages += removed;
}

fn main() {
    let options = options();
    let parent = options.dir.clone().unwrap_or_else(std::env::temp_dir);
    let rounds = 3;
    let first = gitops_report::generate_report(options.repos, 1);
    let batches = prepare(Epoch(1), 1, &first, 100, typical_change);
    let messages: usize = batches.iter().map(|b| b.messages.len()).sum();
    let bytes: usize = batches.iter().flat_map(|b| &b.messages).map(|m| m.len()).sum();
    println!(
        "{} repositories; {rounds} rounds of {} typical publishes per sync level, interleaved; \
         {:.1} messages of {} bytes per publish on average; files in {}",
        options.repos,
        options.publishes,
        messages as f64 / batches.len() as f64,
        bytes / messages.max(1),
        parent.display(),
    );
    let mut normal = Samples::default();
    let mut full = Samples::default();
    for _ in 0..rounds {
        run(SyncLevel::Normal, &options, &mut normal);
        run(SyncLevel::Full, &options, &mut full);
    }
    for (sync, samples) in [(SyncLevel::Normal, normal), (SyncLevel::Full, full)] {
        println!("\n{sync:?}");
        line("first snapshot", samples.snapshot);
        line("append (typical publish)", samples.typical);
        line("  of which wrote a checkpoint", samples.checkpoints);
        line(&format!("append while pruning ({} prunes)", samples.prunes), samples.pruning);
        println!("  (the pruner removed {} messages meanwhile)", samples.pruned_messages);
        line(
            &format!("append (every repo, {} KB)", samples.everything_bytes / 1000),
            samples.everything,
        );
        line(&format!("latest() with {} messages", samples.history), samples.latest);
    }
}
