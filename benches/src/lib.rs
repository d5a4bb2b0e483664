//! Shared pieces of the benches: the criterion benches live in `benches/`, the end-to-end bench's
//! driver in `benches/e2e.rs` and its load generator in `src/bin/loadgen.rs`; both speak the
//! record format in [`e2e`].
#![warn(missing_docs)]

pub mod e2e;

/// The calling thread's time on a CPU so far, in nanoseconds (Linux only).
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Best-of-5 on-CPU nanoseconds per call of `routine`, each round running at least 300 ms.
pub fn on_cpu_per_call(mut routine: impl FnMut()) -> Option<f64> {
    let mut calls_per_round = 1u64;
    loop {
        let start = thread_cpu_ns()?;
        for _ in 0..calls_per_round {
            routine();
        }
        if thread_cpu_ns()? - start >= 300_000_000 {
            break;
        }
        calls_per_round *= 2;
    }
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = thread_cpu_ns()?;
        for _ in 0..calls_per_round {
            routine();
        }
        best = best.min((thread_cpu_ns()? - start) as f64 / calls_per_round as f64);
    }
    Some(best)
}
