//! The child process of the multi-process tests: this test binary run again with one test
//! selected and `GITOPS_STORE_CHILD` saying what to do.
//!
//! - `append`: open the store in `GITOPS_STORE_DIR` and publish forever (bounded in time and
//!   count), printing `committed <seq>` after each append returns. The parent kills it.
//! - `open`: try to open the store and print `opened` or `error: <message>`, then exit.
//! - `actions`: open the store and log actions forever from two threads (bounded in time and
//!   count), printing `begun <id>`, `finished <id>` and `recorded <id>` after each call returns
//!   (see `crate::actions::action_loop`). The parent kills it.
//! - `outbox`: open the store and work the outbox forever from two threads (bounded in time and
//!   count), printing `enqueued <id>`, `delivered <id>`, `retry <id>`, `dead <id>`,
//!   `requeued <id>` and `kv<thread> <count>` after each call returns (see
//!   `crate::outbox::outbox_loop`). The parent kills it.
//!
//! Run without the variable, the same test runs the append loop in-process for a few publishes
//! and checks that every sequence number it reported is in the log.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitops_report::Report;
use gitops_store::{HistoryLimit, Store, StoreConfig, SyncLevel};

use crate::common::{Publisher, mutate};

const ROLE: &str = "GITOPS_STORE_CHILD";
const DIR: &str = "GITOPS_STORE_DIR";
const SEED: &str = "GITOPS_STORE_SEED";
const SYNC: &str = "GITOPS_STORE_SYNC";

/// The test this binary runs as a child.
const ENTRY: &str = "child::child_process_entry";

/// Starts this test binary as a child with `role` on `dir`; stdout is piped.
pub(crate) fn spawn(role: &str, dir: &Path, seed: u64, sync: SyncLevel) -> std::process::Child {
    let exe = std::env::current_exe().expect("the test binary's path");
    Command::new(exe)
        .args([ENTRY, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .env(DIR, dir)
        .env(SEED, seed.to_string())
        .env(SYNC, if sync == SyncLevel::Full { "full" } else { "normal" })
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the child starts")
}

/// The settings every process of the kill test uses: frequent checkpoints, so kills land in
/// them too.
pub(crate) fn crash_config(sync: SyncLevel) -> StoreConfig {
    StoreConfig { sync, checkpoint_every_messages: 16, ..StoreConfig::default() }
}

/// The first report of the kill test's log.
pub(crate) fn first_report(seed: u64) -> Report {
    gitops_report::generate_report(200, seed)
}

/// The report published after sequence number `seq`: a function of the state and `seq` only, so
/// the parent can compute what any child wrote. Always a change (a top-level field counts).
pub(crate) fn next_report(state: &Report, seed: u64, seq: u64) -> Report {
    let mut next = mutate(state, seed ^ seq.wrapping_mul(0x2545_f491_4f6c_dd1d));
    next.extra.insert("published_after".to_owned(), seq.into());
    next
}

/// Publishes until `limit` publishes or `deadline`, reporting each committed cursor.
fn append_loop(
    dir: &Path,
    seed: u64,
    sync: SyncLevel,
    limit: usize,
    deadline: Instant,
    mut committed: impl FnMut(u64),
) {
    let mut store = Store::open(dir, crash_config(sync)).expect("the child opens the store").store;
    let mut publisher = match store.latest(HistoryLimit { messages: 0, bytes: 0 }).expect("latest")
    {
        None => {
            let publisher = Publisher::start(&mut store, first_report(seed));
            committed(1);
            publisher
        }
        Some(restored) => {
            let mut publisher =
                Publisher::start_from(store.epoch(), restored.cursor.seq, restored.state);
            publisher.tick = Duration::from_millis(1);
            publisher
        }
    };
    for _ in 0..limit {
        if Instant::now() > deadline {
            break;
        }
        let next = next_report(&publisher.state, seed, publisher.seq);
        publisher.publish(&mut store, next).expect("an append").expect("a change");
        committed(publisher.seq);
    }
}

#[test]
fn child_process_entry() {
    let seed = |default| std::env::var(SEED).ok().and_then(|s| s.parse().ok()).unwrap_or(default);
    let sync = match std::env::var(SYNC).as_deref() {
        Ok("full") => SyncLevel::Full,
        _ => SyncLevel::Normal,
    };
    match (std::env::var(ROLE).as_deref(), std::env::var(DIR)) {
        (Ok("append"), Ok(dir)) => {
            let deadline = Instant::now() + Duration::from_secs(60);
            let stdout = std::io::stdout();
            append_loop(Path::new(&dir), seed(0), sync, 100_000, deadline, |seq| {
                let mut out = stdout.lock();
                // The parent counts on this line meaning "committed": print only after append.
                let _ = writeln!(out, "committed {seq}");
                let _ = out.flush();
            });
        }
        (Ok("actions"), Ok(dir)) => {
            let deadline = Instant::now() + Duration::from_secs(60);
            crate::actions::action_loop(Path::new(&dir), seed(0), sync, 100_000, deadline);
        }
        (Ok("outbox"), Ok(dir)) => {
            let deadline = Instant::now() + Duration::from_secs(60);
            crate::outbox::outbox_loop(Path::new(&dir), seed(0), sync, 100_000, deadline);
        }
        (Ok("open"), Ok(dir)) => match Store::open(Path::new(&dir), StoreConfig::default()) {
            Ok(_) => println!("opened"),
            Err(error) => println!("error: {error}"),
        },
        (Ok(role), _) => panic!("unknown child role {role:?}"),
        (Err(_), _) => {
            // Not a child: the append loop in-process, checked against the log.
            let dir = tempfile::tempdir().unwrap();
            let mut reported = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            append_loop(dir.path(), 42, sync, 20, deadline, |seq| reported.push(seq));
            append_loop(dir.path(), 42, sync, 5, deadline, |seq| reported.push(seq));
            assert_eq!(reported.len(), 26, "a snapshot and 25 publishes");
            let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
            let last = store.cursor().unwrap().seq;
            assert_eq!(reported.last(), Some(&last));
            for seq in reported {
                store.state_at(seq).unwrap_or_else(|e| panic!("seq {seq} reported but: {e}"));
            }
        }
    }
}
