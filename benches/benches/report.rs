//! Report benches: parse, validate and serialise generated 1,000- and 10,000-repository reports,
//! with `serde_json::Value` parsing of the same bytes as the baseline.
//!
//! Run: `cargo bench -p gitops-benches --bench report`.
//!
//! With `GITOPS_BENCH_CPU=1` it also prints on-CPU time per call (the thread's own scheduler time,
//! best of 5 rounds of at least 300 ms): on a 2-core machine shared with other builds, wall time
//! swings several-fold while on-CPU time stays within a few percent.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use gitops_benches::on_cpu_per_call;
use gitops_report::{SAMPLE_REPORT, generate_report, parse, validate};

const SIZES: [usize; 2] = [1_000, 10_000];

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("report/parse");
    for n_repos in SIZES {
        let bytes = generate_report(n_repos, 42).to_json_bytes();
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("gitops_report::parse", n_repos),
            &bytes,
            |b, bytes| {
                b.iter(|| parse(black_box(bytes)).expect("generated reports parse"));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("serde_json::Value", n_repos),
            &bytes,
            |b, bytes| {
                b.iter(|| {
                    serde_json::from_slice::<serde_json::Value>(black_box(bytes))
                        .expect("generated reports are JSON")
                });
            },
        );
    }
    let sample = SAMPLE_REPORT.as_bytes();
    group.throughput(Throughput::Bytes(sample.len() as u64));
    group.bench_function("gitops_report::parse/sample-50", |b| {
        b.iter(|| parse(black_box(sample)).expect("the sample parses"));
    });
    group.finish();
}

fn validating_and_writing(c: &mut Criterion) {
    let mut group = c.benchmark_group("report");
    for n_repos in SIZES {
        let report = generate_report(n_repos, 42);
        group.bench_with_input(BenchmarkId::new("validate", n_repos), &report, |b, report| {
            b.iter(|| validate(black_box(report)));
        });
        group.bench_with_input(BenchmarkId::new("to_json_bytes", n_repos), &report, |b, report| {
            b.iter(|| black_box(report).to_json_bytes());
        });
    }
    group.finish();
}

criterion_group!(benches, parsing, validating_and_writing);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::var_os("GITOPS_BENCH_CPU").is_some() {
        on_cpu_table();
    }
}

fn on_cpu_table() {
    println!("\non-CPU time per call (best of 5 rounds of >= 300 ms):");
    for n_repos in SIZES {
        let report = generate_report(n_repos, 42);
        let bytes = report.to_json_bytes();
        let rows: [(&str, Option<f64>); 4] = [
            ("gitops_report::parse", on_cpu_per_call(|| drop(black_box(parse(black_box(&bytes)))))),
            (
                "serde_json::Value",
                on_cpu_per_call(|| {
                    drop(black_box(serde_json::from_slice::<serde_json::Value>(black_box(&bytes))))
                }),
            ),
            ("validate", on_cpu_per_call(|| drop(black_box(validate(black_box(&report)))))),
            (
                "to_json_bytes",
                on_cpu_per_call(|| drop(black_box(black_box(&report).to_json_bytes()))),
            ),
        ];
        for (name, nanos) in rows {
            match nanos {
                Some(nanos) => println!(
                    "  {name:<22} {n_repos:>6} repos ({:>5} KB): {:>9.3} ms",
                    bytes.len() / 1000,
                    nanos / 1e6
                ),
                None => println!("  {name}: /proc/thread-self/schedstat is not readable here"),
            }
        }
    }
}
