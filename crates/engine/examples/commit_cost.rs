//! Measures `RedisLog::commit` on loopback: starts a private redis-server, publishes N one-repo
//! changes of a generated report through a hub whose log is Redis, and prints p50/p99/max and
//! the bytes Redis read per commit (`total_net_input_bytes`, less the first commit's).
//!
//! `cargo run --release -p gitops-engine --example commit_cost -- [N] [REPOS] [CHECKPOINT_MESSAGES]`
//! (default 3000, 1000, the engine's default; 1 stores the state with every commit, as before
//! checkpoints).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gitops_engine::{EngineOptions, RedisEngine, RedisLog};
use gitops_feed::Log as _;
use gitops_hub::{Hub, HubConfig};
use gitops_report::{Status, generate_report};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3000);
    let n_repos: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let defaults = EngineOptions::default();
    let checkpoint_messages: u64 =
        args.next().and_then(|a| a.parse().ok()).unwrap_or(defaults.checkpoint_messages);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Command::new("/usr/bin/redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path())
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server");
    let url = format!("redis://127.0.0.1:{port}/0");
    let options = EngineOptions { checkpoint_messages, ..defaults };
    let engine = Arc::new(RedisEngine::connect(&url, options).unwrap());
    let lease = (0..200)
        .find_map(|_| {
            std::thread::sleep(Duration::from_millis(25));
            engine.acquire_lease("bench", Duration::from_secs(600)).ok().flatten()
        })
        .expect("redis answers within 5 s");
    let mut info = redis::Client::open(url.as_str()).unwrap().get_connection().unwrap();
    let input_bytes = |con: &mut redis::Connection| -> u64 {
        let text: String = redis::cmd("INFO").arg("stats").query(con).unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("total_net_input_bytes:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut log = RedisLog::new(engine, Arc::new(Mutex::new(Some(lease))));
    let hub = Hub::new(HubConfig::default());
    let mut report = generate_report(n_repos, 1);
    let mut input_before = 0;
    for i in 0..=n {
        let repo = &mut report.repos[i % n_repos];
        repo.status = if repo.status == Status::Clean { Status::Dirty } else { Status::Clean };
        hub.publish_with(report.clone(), |commit| log.commit(commit).is_ok());
        if i == 0 {
            input_before = input_bytes(&mut info);
        }
    }
    let input_per_commit = (input_bytes(&mut info) - input_before) / n.max(1) as u64;
    // The first commit is the epoch's first state; the rest one change each.
    let mut timings: Vec<Duration> = log.timings()[1..].to_vec();
    timings.sort();
    let pick = |q: f64| timings[((timings.len() as f64 * q) as usize).min(timings.len() - 1)];
    let state_bytes = serde_json::to_vec(&report).unwrap().len();
    println!(
        "{} commits, {n_repos} repositories ({state_bytes} bytes of state): p50 {:?}, p99 {:?}, max {:?}; Redis read {input_per_commit} bytes per commit",
        timings.len(),
        pick(0.5),
        pick(0.99),
        timings[timings.len() - 1]
    );
    let _ = server.kill();
    let _ = server.wait();
}
