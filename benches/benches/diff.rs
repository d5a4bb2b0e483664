//! Diff benches: one repository changed or inserted at the front of a 1,000- and 10,000-repository
//! report, with and without parsing the new report first, and the wire size of the one-repo change.
//!
//! Run: `cargo bench -p gitops-benches --bench diff`.
//!
//! With `GITOPS_BENCH_CPU=1` it also prints on-CPU time per call (the thread's own scheduler time,
//! best of 5 rounds of at least 300 ms), as the report bench does: on this 2-core machine shared
//! with other builds, wall time swings several-fold while on-CPU time stays steady.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group};
use gitops_benches::on_cpu_per_call;
use gitops_diff::{RepoChangeKind, diff};
use gitops_report::{Report, Status, generate_report};

const SIZES: [usize; 2] = [1_000, 10_000];

/// `report` with the repository in the middle changed as an audit would see it: a dirty one
/// committed (clean), anything else turned dirty; summary and health recomputed.
fn one_changed(report: &Report) -> Report {
    let mut new = report.clone();
    let middle = new.repos.len() / 2;
    let repo = &mut new.repos[middle];
    if repo.status == Status::Dirty {
        repo.status = Status::Clean;
        repo.mitigation = None;
        repo.dashboard_link = Some(format!("/audit/{}?action=view", repo.name));
    } else {
        repo.status = Status::Dirty;
        repo.mitigation = Some("commit_or_discard".to_owned());
        repo.dashboard_link = Some(format!("/audit/{}?action=commit", repo.name));
    }
    new.summary = Some(new.computed_summary());
    new.health_status = Some(new.computed_health());
    new
}

/// `report` with a new repository inserted at the front.
fn one_inserted_at_front(report: &Report) -> Report {
    let mut new = report.clone();
    let mut repo = new.repos[1].clone();
    repo.name = "a-brand-new-repository".to_owned();
    new.repos.insert(0, repo);
    new.summary = Some(new.computed_summary());
    new.health_status = Some(new.computed_health());
    new
}

/// Prints the wire sizes the benches' changes come to, once per report size.
fn print_sizes(n_repos: usize, old: &Report, changed: &Report, inserted: &Report) {
    let report_bytes = serde_json::to_vec(old).expect("a report serialises").len();
    let changes = diff(old, changed);
    assert_eq!(changes.repos.len(), 1, "one repository changed");
    assert!(matches!(changes.repos[0].kind, RepoChangeKind::Changed { .. }));
    let change_bytes = serde_json::to_vec(&changes.repos[0]).expect("a change serialises").len();
    let meta_bytes = changes
        .meta
        .as_ref()
        .map_or(0, |meta| serde_json::to_vec(meta).expect("meta serialises").len());
    let inserted = diff(old, inserted);
    assert_eq!(inserted.repos.len(), 1, "one repository inserted");
    let inserted_bytes = serde_json::to_vec(&inserted.repos[0]).expect("a change serialises").len();
    println!(
        "sizes/{n_repos}: report {report_bytes} B; one-repo change {change_bytes} B \
         (repo-status-change data) + {meta_bytes} B top-level fields; insertion at front {inserted_bytes} B"
    );
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("diff");
    for n_repos in SIZES {
        let old = generate_report(n_repos, 7);
        let changed = one_changed(&old);
        let inserted = one_inserted_at_front(&old);
        let changed_bytes = serde_json::to_vec(&changed).expect("a report serialises");
        print_sizes(n_repos, &old, &changed, &inserted);

        group.bench_with_input(BenchmarkId::new("one_changed", n_repos), &changed, |b, new| {
            b.iter(|| diff(black_box(&old), black_box(new)));
        });
        group.bench_with_input(
            BenchmarkId::new("one_inserted_at_front", n_repos),
            &inserted,
            |b, new| {
                b.iter(|| diff(black_box(&old), black_box(new)));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("parse_and_diff_one_changed", n_repos),
            &changed_bytes,
            |b, bytes| {
                b.iter(|| {
                    let parsed = gitops_report::parse(black_box(bytes))
                        .expect("the generated report parses");
                    diff(black_box(&old), &parsed.report)
                });
            },
        );
        group.bench_with_input(
            BenchmarkId::new("serialise_one_change", n_repos),
            &diff(&old, &changed),
            |b, changes| {
                b.iter(|| serde_json::to_vec(black_box(&changes.repos[0])));
            },
        );
    }
    group.finish();
}

criterion_group!(diff_benches, benches);

fn main() {
    diff_benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::var_os("GITOPS_BENCH_CPU").is_some() {
        on_cpu_table();
    }
}

fn on_cpu_table() {
    println!("\non-CPU time per call (best of 5 rounds of >= 300 ms):");
    for n_repos in SIZES {
        let old = generate_report(n_repos, 7);
        let (changed, inserted) = (one_changed(&old), one_inserted_at_front(&old));
        let changed_bytes = serde_json::to_vec(&changed).expect("a report serialises");
        let rows: [(&str, Option<f64>); 4] = [
            (
                "diff one_changed",
                on_cpu_per_call(|| drop(black_box(diff(&old, black_box(&changed))))),
            ),
            (
                "diff one_inserted_at_front",
                on_cpu_per_call(|| drop(black_box(diff(&old, black_box(&inserted))))),
            ),
            (
                "parse only",
                on_cpu_per_call(|| {
                    drop(black_box(gitops_report::parse(black_box(&changed_bytes))))
                }),
            ),
            (
                "parse_and_diff",
                on_cpu_per_call(|| {
                    let parsed = gitops_report::parse(black_box(&changed_bytes)).expect("parses");
                    drop(black_box(diff(&old, &parsed.report)));
                }),
            ),
        ];
        for (name, nanos) in rows {
            match nanos {
                Some(nanos) => println!("  {name:<28} {n_repos:>6} repos: {:>9.3} ms", nanos / 1e6),
                None => println!("  {name}: /proc/thread-self/schedstat is not readable here"),
            }
        }
    }
}
