//! Rough latency from a producer's write to the event: from just before `rename()` (temp file +
//! rename) and just before `std::fs::write` (in place, seen on close-after-write) to the
//! `Changed` event in hand, with the default debounce. Run: `cargo run --release -p gitops-watch --example latency [rounds]`.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use gitops_watch::{WatchConfig, WatchEvent, Watcher, watch};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(200, |rounds| rounds.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("GitRepoReport.json");
    let temp = dir.path().join("GitRepoReport.json.tmp");
    std::fs::write(&report, payload(0)).unwrap();
    let config = WatchConfig::new(&report);
    let debounce = config.debounce;
    let mut watcher = watch(config).unwrap();
    // The mode, then the initial read.
    next_changed(&mut watcher, &payload(0)).await;

    let mut rename = Vec::with_capacity(rounds);
    let mut in_place = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        std::fs::write(&temp, payload(2 * round)).unwrap();
        // Taken before the call: on a loaded machine the thread can be descheduled after the
        // call returns, which would make the latency look shorter than the debounce.
        let renamed = Instant::now();
        std::fs::rename(&temp, &report).unwrap();
        next_changed(&mut watcher, &payload(2 * round)).await;
        rename.push(renamed.elapsed());

        let written = Instant::now();
        std::fs::write(&report, payload(2 * round + 1)).unwrap();
        next_changed(&mut watcher, &payload(2 * round + 1)).await;
        in_place.push(written.elapsed());
    }
    println!("debounce {debounce:?}, {rounds} rounds, ~8 KiB report");
    summarise("rename() -> Changed received", &mut rename);
    summarise("fs::write() -> Changed received", &mut in_place);
}

/// Waits for the change to `expected`, reporting any other payload on the way.
async fn next_changed(watcher: &mut Watcher, expected: &[u8]) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), watcher.next()).await {
            Ok(Some(WatchEvent::Changed { bytes, .. })) if bytes == expected => return,
            Ok(Some(WatchEvent::Changed { bytes, .. })) => {
                let head = String::from_utf8_lossy(&bytes[..bytes.len().min(20)]).into_owned();
                println!("unexpected payload on the way: {head:?} ({} bytes)", bytes.len());
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no change seen"),
        }
    }
}

fn payload(n: usize) -> Vec<u8> {
    format!("{{\"version\":{n},\"pad\":\"{}\"}}\n", "x".repeat(8 * 1024)).into_bytes()
}

fn summarise(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |quantile: f64| {
        let index = ((samples.len() as f64 - 1.0) * quantile).round() as usize;
        samples[index].as_secs_f64() * 1000.0
    };
    println!(
        "{what}: min {:.2} ms, median {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        at(0.0),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}
