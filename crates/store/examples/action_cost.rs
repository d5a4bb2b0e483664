//! What logging an action costs: `begin_action` then `finish_action` (two commits) with a few
//! KiB of output, at `synchronous=NORMAL` and `FULL`, and a one-shot `record_action`.
//!
//! ```text
//! cargo run --release -p gitops-store --example action_cost -- [--actions 2000] [--dir /path]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use gitops_store::{ActionEnd, NewAction, Store, StoreConfig, SyncLevel};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    println!(
        "{label:<32} p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().map_or(0.0, |t| t.as_secs_f64() * 1e3),
    );
}

fn main() {
    let mut n = 2000usize;
    let mut dir: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--actions" => n = value().parse().expect("--actions N"),
            "--dir" => dir = Some(PathBuf::from(value())),
            other => panic!("unknown argument {other}"),
        }
    }
    let output = "remote: Counting objects: 100% (12/12), done.\n".repeat(60);
    for sync in [SyncLevel::Normal, SyncLevel::Full] {
        let temp = tempfile::tempdir_in(dir.as_deref().unwrap_or(&std::env::temp_dir()))
            .expect("a temp dir");
        let store = Store::open(temp.path(), StoreConfig { sync, ..StoreConfig::default() })
            .expect("the store opens")
            .store;
        let handle = store.handle().expect("a handle");
        let (mut both, mut one_shot) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for i in 0..n {
            let action = NewAction {
                who: "operator".to_owned(),
                action: "pull".to_owned(),
                repo: format!("repo-{}", i % 50),
                dry_run: false,
                time: SystemTime::now(),
            };
            let end = ActionEnd {
                result: "done".to_owned(),
                error_class: None,
                summary: "fast-forwarded 3 commits".to_owned(),
                output: output.clone(),
                detail: Some(r#"{"from":"abc","to":"def"}"#.to_owned()),
                time: SystemTime::now(),
            };
            let start = Instant::now();
            let id = handle.begin_action(&action).expect("begin");
            handle.finish_action(id, &end).expect("finish");
            both.push(start.elapsed());
            let start = Instant::now();
            handle.record_action(&action, &end).expect("record");
            one_shot.push(start.elapsed());
        }
        println!("{sync:?}, {n} actions, {} bytes of output each:", output.len());
        report("begin + finish", both);
        report("record (one-shot)", one_shot);
    }
}
