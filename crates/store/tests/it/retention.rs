//! Retention by age and by size, and pruning from another thread while the store appends: every
//! point kept can still be rebuilt.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gitops_diff::same_state;
use gitops_store::{Error, HistoryLimit, RetentionPolicy, Store};

use crate::common::{Publisher, assert_rebuilds, config};

/// Checks that `oldest` is the oldest point kept: it and everything after rebuild, the point
/// before it does not, and the messages after it are all there.
fn assert_kept_from(store: &Store, publisher: &Publisher, oldest: u64) {
    assert_rebuilds(store, publisher, oldest);
    assert!(matches!(store.state_at(oldest - 1), Err(Error::NotRetained { .. })));
    let messages = store.messages(0, usize::MAX).unwrap();
    let seqs: Vec<u64> = messages.iter().map(|m| m.seq).collect();
    let want: Vec<u64> = (oldest + 1..=publisher.seq).collect();
    assert_eq!(seqs, want, "exactly the messages after the oldest point are kept");
    let restored = store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert!(same_state(&restored.state, &publisher.state));
    assert_eq!(restored.history_base, oldest);
}

#[test]
fn pruning_by_age_keeps_everything_newer_and_every_kept_point_rebuildable() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(10)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(60, 8));
    publisher.run(&mut store, 100, 8);
    let start = publisher.clock - publisher.tick * 100;

    let now = publisher.clock;
    let max_age = Duration::from_secs(50 * 60);
    let policy = RetentionPolicy {
        max_age: Some(max_age),
        max_bytes: None,
        max_source_events: None,
        max_actions: None,
        max_outbox: None,
    };
    let pruned = store.prune(&policy, now).unwrap();
    println!("{pruned:?}");
    let oldest = pruned.oldest_seq.unwrap();
    assert!(oldest > 1 && pruned.messages > 0 && pruned.checkpoints > 0);

    // The publishes within the last 50 minutes are all rebuildable; the oldest point kept was
    // published before the cutoff (history is cut at a checkpoint, never after the cutoff).
    let cutoff = now - max_age;
    let time_of = |index: usize| start + publisher.tick * index as u32;
    let first_recent = (0..publisher.boundaries.len()).find(|&i| time_of(i) >= cutoff).unwrap();
    assert!(oldest <= publisher.boundaries[first_recent]);
    let oldest_index =
        publisher.boundaries.iter().position(|&b| b == oldest).expect("a publish boundary");
    assert!(time_of(oldest_index) <= cutoff);
    assert_kept_from(&store, &publisher, oldest);

    let again = store.prune(&policy, now).unwrap();
    assert_eq!((again.messages, again.checkpoints, again.oldest_seq), (0, 0, Some(oldest)));
}

#[test]
fn pruning_by_size_keeps_the_total_under_the_limit_and_gives_space_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(10)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(150, 9));
    publisher.run(&mut store, 150, 9);
    drop(store);
    let store = Store::open(dir.path(), config(10)).unwrap().store;
    let before = store.stats().unwrap();
    println!("{before:?}");

    let max_bytes = before.payload_bytes / 3;
    let policy = RetentionPolicy {
        max_age: None,
        max_bytes: Some(max_bytes),
        max_source_events: None,
        max_actions: None,
        max_outbox: None,
    };
    let pruned = store.prune(&policy, std::time::SystemTime::now()).unwrap();
    let after = store.stats().unwrap();
    println!("{pruned:?}\n{after:?}");
    assert!(after.payload_bytes <= max_bytes, "{} > {max_bytes}", after.payload_bytes);
    assert!(after.payload_bytes > max_bytes / 2, "it keeps as much as fits, not much less");
    assert_eq!(before.payload_bytes - after.payload_bytes, pruned.bytes);
    assert_kept_from(&store, &publisher, after.oldest_seq.unwrap());
    drop(store);
    let store = Store::open(dir.path(), config(10)).unwrap().store;
    let reopened = store.stats().unwrap();
    assert!(
        reopened.db_file_bytes < before.db_file_bytes * 2 / 3,
        "freed pages go back to the filesystem: {} then {}",
        before.db_file_bytes,
        reopened.db_file_bytes
    );

    // However small the limit, the latest checkpoint and what follows it stay.
    let tiny = RetentionPolicy { max_bytes: Some(1), ..policy };
    let pruned = store.prune(&tiny, std::time::SystemTime::now()).unwrap();
    assert_eq!(store.stats().unwrap().checkpoints, 1);
    assert_kept_from(&store, &publisher, pruned.oldest_seq.unwrap());
}

#[test]
fn pruning_from_another_thread_while_appending_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(8)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(80, 10));
    let handle = store.handle().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let pruner = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<u64, Error> {
            let policy = RetentionPolicy {
                max_age: None,
                max_bytes: Some(96 << 10),
                max_source_events: None,
                max_actions: None,
                max_outbox: None,
            };
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut removed = 0;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                removed += handle.prune(&policy, std::time::SystemTime::now())?.messages;
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(removed)
        })
    };
    publisher.run(&mut store, 300, 10);
    stop.store(true, Ordering::Relaxed);
    let removed = pruner.join().expect("the pruner thread").expect("every prune succeeds");
    println!("the pruner removed {removed} messages while 300 publishes were appended");
    assert!(removed > 0, "the pruner ran while the store appended");

    // One last prune, so the messages before the oldest point are gone too.
    let policy = RetentionPolicy {
        max_age: None,
        max_bytes: Some(96 << 10),
        max_source_events: None,
        max_actions: None,
        max_outbox: None,
    };
    let oldest = store.prune(&policy, std::time::SystemTime::now()).unwrap().oldest_seq.unwrap();
    assert_kept_from(&store, &publisher, oldest);
}
