//! The hub's memory, measured by counting every allocation the process makes.
//!
//! This binary holds a single test on purpose: the allocator's counters are global, so a test
//! running beside it would blur the figure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::System;

use gitops_hub::{Hub, HubConfig};
use gitops_report::{Report, Status, generate_report};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A repository with one large field whose status flips back and forth: each change message is
/// a few hundred bytes, but the history keeps the whole repository as it was before each flip.
/// The history's budget must bound what it holds, not only its messages.
#[test]
fn history_of_a_flipping_large_repository_stays_within_its_byte_budget() {
    const BIG_FIELD: usize = 1 << 20;
    const FLIPS: usize = 100;
    const BUDGET: usize = 8 << 20;
    let mut report: Report = generate_report(20, 7);
    report.repos[3]
        .extra
        .insert("notes".to_owned(), serde_json::Value::String("x".repeat(BIG_FIELD)));
    let hub = Hub::new(HubConfig { history_max_bytes: BUDGET, ..HubConfig::default() });
    hub.publish(report.clone());

    let region = Region::new(GLOBAL);
    for flip in 0..FLIPS {
        report.repos[3].status = if flip.is_multiple_of(2) { Status::Dirty } else { Status::Clean };
        hub.publish(report.clone());
    }
    let stats = region.change();
    let held = stats.bytes_allocated as i64 - stats.bytes_deallocated as i64;
    // What may stay: the history within its budget, plus the current state the hub holds (the
    // old one was freed) and this test's own copy, which both existed before the region.
    let allowed = (BUDGET + 2 * BIG_FIELD) as i64;
    println!(
        "{FLIPS} flips of a {} KiB repository: {} KiB held (budget {} KiB)",
        BIG_FIELD >> 10,
        held >> 10,
        BUDGET >> 10
    );
    assert!(
        held <= allowed,
        "the hub holds {held} bytes after {FLIPS} flips; at most {allowed} allowed"
    );
    // Resume still works from the oldest point kept, and further back means a snapshot.
    let cursor = hub.cursor().expect("a cursor");
    let answer = hub.answer(Some(gitops_protocol::Cursor::new(cursor.epoch, cursor.seq - 2)));
    assert_ne!(answer.kind, gitops_hub::AnswerKind::Snapshot);
    let answer = hub.answer(Some(gitops_protocol::Cursor::new(cursor.epoch, 2)));
    assert_eq!(answer.kind, gitops_hub::AnswerKind::Snapshot);
}
