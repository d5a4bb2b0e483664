//! Report benches: parse, validate and serialise generated 1,000- and 10,000-repository reports,
//! with `serde_json::Value` parsing of the same bytes as the baseline.
//!
//! Run: `cargo bench -p gitops-benches --bench report`.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
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
criterion_main!(benches);
