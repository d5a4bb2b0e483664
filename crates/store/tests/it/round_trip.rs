//! Publishes built from real diffs go in, a reopened store gives back the same states and bytes.

use gitops_diff::same_state;
use gitops_protocol::{Bytes, Cursor, encode_audit_update, encode_meta};
use gitops_store::{
    Batch, Error, HistoryLimit, MessageKind, Notice, PublishKind, Store, StoreConfig,
};
use proptest::prelude::*;

use crate::common::{Publisher, assert_rebuilds, config, fresh_seed, mutate};

#[test]
fn a_reopened_store_gives_back_every_state_and_the_bytes_clients_were_sent() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let (epoch, publisher) = {
        let opened = Store::open(dir.path(), config(25)).unwrap();
        assert!(
            matches!(opened.notices.as_slice(), [Notice::Created { .. }]),
            "{:?}",
            opened.notices
        );
        let mut store = opened.store;
        let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(300, seed));
        publisher.run(&mut store, 200, seed);
        (store.epoch(), publisher)
    };

    let opened = Store::open(dir.path(), config(25)).unwrap();
    assert!(opened.notices.is_empty(), "a clean reopen says nothing: {:?}", opened.notices);
    let store = opened.store;
    assert_eq!(store.epoch(), epoch, "the epoch is kept");
    assert_eq!(store.cursor(), Some(Cursor::new(epoch, publisher.seq)));

    let restored = store.latest(HistoryLimit::default()).unwrap().expect("a log");
    assert_eq!(restored.cursor, Cursor::new(epoch, publisher.seq));
    assert!(same_state(&restored.state, &publisher.state));
    // All messages fit the default limit: the history starts right after the first snapshot.
    assert_eq!(restored.history_base, 1);
    assert!(same_state(&restored.base_state, &publisher.states[&1]));
    let sent: Vec<(u64, &Bytes)> = publisher.sent.iter().map(|(s, b)| (*s, b)).collect();
    let history: Vec<(u64, &Bytes)> = restored.history.iter().map(|m| (m.seq, &m.bytes)).collect();
    assert_eq!(history, sent, "the history is the bytes clients were sent");

    assert_rebuilds(&store, &publisher, 1);
    assert!(matches!(store.state_at(0), Err(Error::NotRetained { .. })));
    assert!(matches!(store.state_at(publisher.seq + 1), Err(Error::NotRetained { .. })));

    let stats = store.stats().unwrap();
    assert_eq!(stats.last_seq, Some(publisher.seq));
    assert_eq!(stats.oldest_seq, Some(1));
    assert_eq!(stats.messages, publisher.seq - 1);
    assert!(stats.checkpoints > 3, "checkpoints every 25 messages: {}", stats.checkpoints);
}

#[test]
fn latest_returns_at_most_the_limit_and_a_base_that_replays_to_the_state() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(10)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(50, seed));
    publisher.run(&mut store, 60, seed);

    let restored = store.latest(HistoryLimit { messages: 7, bytes: usize::MAX }).unwrap().unwrap();
    assert_eq!(restored.history.len(), 7);
    assert_eq!(restored.history_base, publisher.seq - 7);
    assert!(same_state(&restored.base_state, &publisher.states[&restored.history_base]));
    assert!(same_state(&restored.state, &publisher.state));

    let newest = publisher.sent[&publisher.seq].len();
    let by_bytes = store.latest(HistoryLimit { messages: 1000, bytes: newest }).unwrap().unwrap();
    assert_eq!(by_bytes.history.len(), 1, "the byte limit holds exactly the newest message");
    let none = store.latest(HistoryLimit { messages: 0, bytes: usize::MAX }).unwrap().unwrap();
    assert!(none.history.is_empty());
    assert_eq!(none.history_base, publisher.seq);
    assert!(same_state(&none.state, &publisher.state));
}

#[test]
fn bad_batches_are_refused_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let first = gitops_report::generate_report(20, 1);
    let mut second = first.clone();
    second.github_user = Some("bob".to_owned());
    let meta = gitops_diff::diff(&first, &second).meta.unwrap();
    let now = std::time::SystemTime::now();
    let epoch = store.epoch();

    let early = [encode_meta(Cursor::new(epoch, 1), &meta)];
    assert!(matches!(
        store.append(&Batch::changes(now, &early, &second)),
        Err(Error::NeedsSnapshot)
    ));
    store.append(&Batch::snapshot(now, 1, &first)).unwrap();

    let gap = [encode_meta(Cursor::new(epoch, 3), &meta)];
    let repeat = [encode_meta(Cursor::new(epoch, 1), &meta)];
    let other_epoch = [encode_meta(Cursor::new(gitops_protocol::Epoch(epoch.0 ^ 1), 2), &meta)];
    let not_a_change = [encode_audit_update(Cursor::new(epoch, 2), &second)];
    let not_json = [Bytes::from_static(b"{\"type\":")];
    let inner_gap =
        [encode_meta(Cursor::new(epoch, 2), &meta), encode_meta(Cursor::new(epoch, 4), &meta)];
    let check = |result: gitops_store::Result<_>, what: &str| {
        let error = result.expect_err(what);
        println!("{what}: {error}");
        error
    };
    let mut append = |messages: &[Bytes]| store.append(&Batch::changes(now, messages, &second));
    assert!(matches!(check(append(&gap), "gap"), Error::OutOfSequence { expected: 2, found: 3 }));
    assert!(matches!(
        check(append(&repeat), "repeat"),
        Error::OutOfSequence { expected: 2, found: 1 }
    ));
    assert!(matches!(check(append(&other_epoch), "epoch"), Error::WrongEpoch { .. }));
    assert!(matches!(
        check(append(&not_a_change), "snapshot bytes"),
        Error::InvalidMessage { index: 0, .. }
    ));
    assert!(matches!(check(append(&not_json), "not json"), Error::InvalidMessage { index: 0, .. }));
    assert!(matches!(
        check(append(&inner_gap), "inner gap"),
        Error::OutOfSequence { expected: 3, found: 4 }
    ));
    assert!(matches!(check(append(&[]), "empty"), Error::EmptyBatch));
    assert!(matches!(
        store.append(&Batch::snapshot(now, 1, &second)),
        Err(Error::OutOfSequence { expected: 2, found: 1 })
    ));

    assert_eq!(store.cursor(), Some(Cursor::new(epoch, 1)), "nothing was written");
    assert_eq!(store.stats().unwrap().messages, 0);
    let good = [encode_meta(Cursor::new(epoch, 2), &meta)];
    store.append(&Batch::changes(now, &good, &second)).unwrap();
    assert!(same_state(&store.state_at(2).unwrap(), &second));
}

#[test]
fn a_snapshot_after_a_gap_starts_over_and_the_gap_cannot_be_rebuilt() {
    let seed = fresh_seed();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(1000)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(30, seed));
    publisher.run(&mut store, 5, seed);
    let before_gap = publisher.seq;

    // Serving went on while appends failed: the hub is at seq + 10 with another state.
    let resumed = mutate(&publisher.state, seed ^ 7);
    let resumed_seq = before_gap + 10;
    store.append(&Batch::snapshot(std::time::SystemTime::now(), resumed_seq, &resumed)).unwrap();
    assert_eq!(store.cursor().unwrap().seq, resumed_seq);

    assert!(same_state(&store.state_at(before_gap).unwrap(), &publisher.state));
    for inside in before_gap + 1..resumed_seq {
        assert!(matches!(store.state_at(inside), Err(Error::NotRetained { .. })), "{inside}");
    }
    assert!(same_state(&store.state_at(resumed_seq).unwrap(), &resumed));
    let restored = store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert_eq!(restored.history_base, resumed_seq, "history never reaches back past a snapshot");
    assert!(restored.history.is_empty());

    let pages = store.publishes(None, 2).unwrap();
    assert_eq!(pages[0].kind, PublishKind::Snapshot);
    assert_eq!((pages[0].first_seq, pages[0].last_seq), (before_gap + 1, resumed_seq));
    assert_eq!(pages[1].kind, PublishKind::Changes);
}

#[test]
fn publishes_and_repository_history_page_backwards_with_what_was_touched() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let first = gitops_report::generate_report(20, 5);
    let mut publisher = Publisher::start(&mut store, first.clone());
    let name = first.repos[3].name.clone();
    for status in [gitops_report::Status::Dirty, gitops_report::Status::Clean] {
        let mut next = publisher.state.clone();
        let position = next.repos.iter().position(|r| r.name == name).unwrap();
        next.repos[position].status = status;
        next.summary = Some(next.computed_summary());
        next.health_status = Some(next.computed_health());
        publisher.publish(&mut store, next).unwrap();
    }
    let mut next = publisher.state.clone();
    next.repos.retain(|r| r.name != name);
    next.summary = Some(next.computed_summary());
    next.health_status = Some(next.computed_health());
    publisher.publish(&mut store, next).unwrap();

    let all = store.publishes(None, 100).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].kind, PublishKind::Snapshot);
    let removal = &all[0];
    assert_eq!(removal.repos.len(), 1);
    assert_eq!(removal.repos[0].name, name);
    assert_eq!(removal.repos[0].change, gitops_store::ChangeKind::Removed);
    assert_eq!(removal.repos[0].old_status, Some(gitops_report::Status::Clean));
    assert!(removal.meta_changed, "the summary changed too");
    let page = store.publishes(Some(removal.first_seq), 1).unwrap();
    assert_eq!(page, all[1..2]);

    let history = store.repo_history(&name, None, 10).unwrap();
    let changes: Vec<_> =
        history.iter().map(|e| (e.change.change, e.change.new_status.clone())).collect();
    assert_eq!(
        changes,
        [
            (gitops_store::ChangeKind::Removed, None),
            (gitops_store::ChangeKind::Changed, Some(gitops_report::Status::Clean)),
            (gitops_store::ChangeKind::Changed, Some(gitops_report::Status::Dirty)),
        ]
    );
    let older = store.repo_history(&name, Some(history[0].change.seq), 1).unwrap();
    assert_eq!(older, history[1..2]);

    let messages = store.messages(1, 100).unwrap();
    assert_eq!(messages.len() as u64, publisher.seq - 1);
    assert!(messages.iter().any(|m| m.kind == MessageKind::HealthMetricsUpdate));
}

#[test]
fn source_events_are_kept_newest_first_and_pruned_by_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let start = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_750_000_000);
    for i in 0..5u64 {
        let time = start + std::time::Duration::from_secs(i);
        store
            .record_source_event(
                time,
                if i % 2 == 0 { "failed" } else { "loaded" },
                &format!("event {i}"),
            )
            .unwrap();
    }
    let events = store.source_events(None, 3).unwrap();
    let messages: Vec<&str> = events.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(messages, ["event 4", "event 3", "event 2"]);
    assert_eq!(events[0].time, start + std::time::Duration::from_secs(4));
    let older = store.source_events(Some(events[2].id), 10).unwrap();
    assert_eq!(older.len(), 2);

    let policy = gitops_store::RetentionPolicy {
        max_age: None,
        max_bytes: None,
        max_source_events: Some(2),
        max_actions: None,
        max_outbox: None,
    };
    let pruned = store.prune(&policy, std::time::SystemTime::now()).unwrap();
    assert_eq!(pruned.source_events, 3);
    let kept: Vec<String> =
        store.source_events(None, 10).unwrap().into_iter().map(|e| e.message).collect();
    assert_eq!(kept, ["event 4", "event 3"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Any run of publishes, with any checkpoint interval, rebuilds every state after a reopen.
    #[test]
    fn every_point_rebuilds_after_reopen(
        seed in any::<u64>(),
        n_repos in 1usize..40,
        n_publishes in 0usize..40,
        checkpoint_every in 1u64..20,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let publisher = {
            let mut store = Store::open(dir.path(), config(checkpoint_every)).unwrap().store;
            let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(n_repos, seed));
            publisher.run(&mut store, n_publishes, seed);
            publisher
        };
        let store = Store::open(dir.path(), config(checkpoint_every))
            .unwrap_or_else(|e| panic!("reopening: {e:?}"))
            .store;
        prop_assert_eq!(store.cursor().map(|c| c.seq), Some(publisher.seq));
        assert_rebuilds(&store, &publisher, 1);
        let restored = store.latest(HistoryLimit::default()).unwrap().unwrap();
        prop_assert!(same_state(&restored.state, &publisher.state));
    }
}
