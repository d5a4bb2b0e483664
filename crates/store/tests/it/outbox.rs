//! The notification outbox and the key-value table: an item's life (due, retried, delivered,
//! dead, requeued), per-destination isolation, paging and filters, the caps, values kept across
//! a reopen, a version 2 file migrated, retention, and kill -9 while items are enqueued and
//! marked.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use gitops_diff::same_state;
use gitops_store::{
    ActionEnd, ActionFilter, DB_FILE, Error, Handle, HistoryLimit, MAX_KV_VALUE_BYTES,
    MAX_OUTBOX_ERROR_BYTES, MAX_OUTBOX_PAYLOAD_BYTES, NewAction, Notice, OUTBOX_DEAD,
    OUTBOX_DELIVERED, OUTBOX_PENDING, OutboxFilter, OutboxItem, Result, RetentionPolicy,
    SCHEMA_VERSION, Store, StoreConfig, SyncLevel, TRUNCATED_MARKER,
};

use crate::child::spawn;
use crate::common::{
    Publisher, Rng, assert_rebuilds, config, fresh_seed, no_limits, older_file, schema_of,
    table_rows,
};

/// A fixed, whole-millisecond time `secs` seconds into the test's day.
fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000 + secs)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn open(dir: &Path) -> Store {
    Store::open(dir, StoreConfig::default()).unwrap().store
}

/// Every item, newest first.
fn all(store: &Store) -> Vec<OutboxItem> {
    store.outbox(None, usize::MAX, OutboxFilter::any()).unwrap()
}

fn ids(items: &[OutboxItem]) -> Vec<u64> {
    items.iter().map(|item| item.id).collect()
}

#[test]
fn an_item_is_due_retried_at_its_time_then_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let handle = store.handle().unwrap();
    let t0 = at(100);
    let payload = b"{\"title\":\"2 repositories dirty\"}".to_vec();
    let id = store.enqueue("ntfy", &payload, t0).unwrap();

    let want = OutboxItem {
        id,
        destination: "ntfy".to_owned(),
        payload,
        created: t0,
        next_attempt: Some(t0),
        attempts: 0,
        state: OUTBOX_PENDING.to_owned(),
        last_error: None,
        ended: None,
    };
    // Due at once, read from the other connection; not before it was enqueued.
    assert_eq!(handle.due("ntfy", t0, 10).unwrap(), std::slice::from_ref(&want));
    assert_eq!(handle.due("ntfy", t0 - ms(1), 10).unwrap(), []);
    assert_eq!(handle.next_due("ntfy").unwrap(), Some(t0));

    // The attempt fails: retried 30 s later.
    let retry_at = t0 + Duration::from_secs(30);
    handle.failed(id, "HTTP 503 from ntfy.example", Some(retry_at), t0 + ms(200)).unwrap();
    assert_eq!(store.due("ntfy", t0 + ms(200), 10).unwrap(), []);
    assert_eq!(store.due("ntfy", retry_at - ms(1), 10).unwrap(), [], "not due before its time");
    assert_eq!(store.next_due("ntfy").unwrap(), Some(retry_at));
    let retried = OutboxItem {
        next_attempt: Some(retry_at),
        attempts: 1,
        last_error: Some("HTTP 503 from ntfy.example".to_owned()),
        ..want
    };
    assert_eq!(
        store.due("ntfy", retry_at, 10).unwrap(),
        std::slice::from_ref(&retried),
        "due at its time"
    );
    assert_eq!(store.due("ntfy", retry_at + ms(1), 10).unwrap(), std::slice::from_ref(&retried));

    // Delivered on the second attempt: no longer due, the last error kept for the log.
    let done = retry_at + ms(80);
    store.delivered(id, done).unwrap();
    assert_eq!(store.due("ntfy", at(1_000_000), 10).unwrap(), []);
    assert_eq!(store.next_due("ntfy").unwrap(), None);
    let delivered = OutboxItem {
        next_attempt: None,
        state: OUTBOX_DELIVERED.to_owned(),
        ended: Some(done),
        ..retried
    };
    assert_eq!(all(&store), std::slice::from_ref(&delivered));

    // Finished items cannot be marked again; nothing changes.
    for error in [
        store.delivered(id, done).unwrap_err(),
        handle.failed(id, "late", Some(done), done).unwrap_err(),
        handle.failed(id, "late", None, done).unwrap_err(),
        store.requeue(id, done).unwrap_err(),
    ] {
        println!("{error}");
        assert!(
            matches!(&error, Error::OutboxItemState { id: got, found, .. }
                if *got == id && found == OUTBOX_DELIVERED),
            "{error:?}"
        );
    }
    for missing in [id + 1, 0, u64::MAX] {
        let error = handle.delivered(missing, done).unwrap_err();
        assert!(matches!(error, Error::NoSuchOutboxItem { id: got } if got == missing), "{error}");
        let error = handle.failed(missing, "x", None, done).unwrap_err();
        assert!(matches!(error, Error::NoSuchOutboxItem { .. }), "{error}");
        let error = handle.requeue(missing, done).unwrap_err();
        assert!(matches!(error, Error::NoSuchOutboxItem { .. }), "{error}");
    }
    assert_eq!(all(&store), [delivered]);
}

#[test]
fn a_dead_letter_keeps_its_error_and_is_requeued_with_its_attempts_reset() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let t0 = at(10);
    let id = store.enqueue("mail", b"digest", t0).unwrap();
    store.failed(id, "connection refused", Some(t0 + ms(10)), t0).unwrap();
    store.failed(id, "connection refused", Some(t0 + ms(20)), t0 + ms(10)).unwrap();
    // A huge error (a server's whole HTML page) is cut at a character boundary and marked.
    let page = format!("<html>{}</html>", "🦀".repeat(MAX_OUTBOX_ERROR_BYTES));
    let died = t0 + ms(20);
    store.failed(id, &page, None, died).unwrap();

    let dead = store.outbox(None, 10, OutboxFilter::dead()).unwrap();
    let [letter] = dead.as_slice() else { panic!("{dead:?}") };
    assert_eq!((letter.id, letter.attempts, letter.state.as_str()), (id, 3, OUTBOX_DEAD));
    assert_eq!((letter.next_attempt, letter.ended), (None, Some(died)));
    let error = letter.last_error.as_deref().unwrap();
    assert!(error.len() <= MAX_OUTBOX_ERROR_BYTES, "{}", error.len());
    assert!(error.len() > MAX_OUTBOX_ERROR_BYTES - TRUNCATED_MARKER.len() - 4);
    assert!(page.starts_with(error.strip_suffix(TRUNCATED_MARKER).expect("marked as cut")));
    assert_eq!(store.due("mail", at(1_000_000), 10).unwrap(), [], "a dead letter is never due");
    assert_eq!(store.next_due("mail").unwrap(), None);
    // A dead letter cannot be delivered or failed; a pending item cannot be requeued.
    let error = store.delivered(id, died).unwrap_err();
    assert!(
        matches!(&error, Error::OutboxItemState { found, expected, .. }
            if found == OUTBOX_DEAD && *expected == OUTBOX_PENDING),
        "{error:?}"
    );

    // The operator's retry: pending again, due now, attempts from 0, the last error kept.
    let retry = at(500);
    store.handle().unwrap().requeue(id, retry).unwrap();
    let requeued = store.due("mail", retry, 10).unwrap();
    assert_eq!(
        requeued,
        [OutboxItem {
            next_attempt: Some(retry),
            attempts: 0,
            state: OUTBOX_PENDING.to_owned(),
            ended: None,
            ..letter.clone()
        }]
    );
    assert_eq!(requeued[0].created, t0, "the same item, not a new one");
    let error = store.requeue(id, retry).unwrap_err();
    assert!(
        matches!(&error, Error::OutboxItemState { found, expected, .. }
            if found == OUTBOX_PENDING && *expected == OUTBOX_DEAD),
        "{error:?}"
    );
    store.failed(id, "still down", None, retry).unwrap();
    assert_eq!(store.outbox(None, 10, OutboxFilter::dead()).unwrap()[0].attempts, 1);
    store.requeue(id, retry + ms(1)).unwrap();
    store.delivered(id, retry + ms(2)).unwrap();
    assert_eq!(all(&store)[0].state, OUTBOX_DELIVERED);
}

#[test]
fn due_and_next_due_are_per_destination_and_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let handle = store.handle().unwrap();
    // Interleaved enqueues for three destinations, one of them a prefix of another.
    let destinations = ["ntfy", "ntfy-2", "discord"];
    let mut by_destination: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for i in 0..30u64 {
        let destination = destinations[(i % 3) as usize];
        let id = store.enqueue(destination, format!("item {i}").as_bytes(), at(i)).unwrap();
        by_destination.entry(destination).or_default().push(id);
    }
    for (destination, want) in &by_destination {
        let due = handle.due(destination, at(100), 100).unwrap();
        assert!(due.iter().all(|item| item.destination == *destination));
        assert_eq!(&ids(&due), want, "{destination}: oldest first");
        assert_eq!(ids(&handle.due(destination, at(100), 3).unwrap()), want[..3], "the limit");
        assert_eq!(handle.due(destination, at(100), 0).unwrap(), []);
        let first = at(destinations.iter().position(|d| d == destination).unwrap() as u64);
        assert_eq!(handle.next_due(destination).unwrap(), Some(first));
    }
    // Due at 10 s: only the items enqueued by then.
    assert_eq!(ids(&store.due("ntfy", at(10), 100).unwrap()), by_destination["ntfy"][..4]);
    assert_eq!(store.due("ntfy-", at(100), 100).unwrap(), [], "an exact match only");
    assert_eq!(store.next_due("nowhere").unwrap(), None);

    // One destination fails and waits; the others are not held back by it.
    for id in &by_destination["ntfy"] {
        store.failed(*id, "timeout", Some(at(1000 + id)), at(100)).unwrap();
    }
    assert_eq!(store.due("ntfy", at(100), 100).unwrap(), []);
    assert_eq!(store.next_due("ntfy").unwrap(), Some(at(1000 + by_destination["ntfy"][0])));
    assert_eq!(ids(&store.due("discord", at(100), 100).unwrap()), by_destination["discord"]);
    // Delivering one destination's items leaves the others' as they were.
    for id in &by_destination["discord"] {
        handle.delivered(*id, at(101)).unwrap();
    }
    assert_eq!(store.next_due("discord").unwrap(), None);
    assert_eq!(ids(&store.due("ntfy-2", at(100), 100).unwrap()), by_destination["ntfy-2"]);
    assert_eq!(store.due("ntfy", at(999), 100).unwrap(), []);
    let later = store.due("ntfy", at(1000 + by_destination["ntfy"][1]), 100).unwrap();
    assert_eq!(ids(&later), by_destination["ntfy"][..2]);

    // When retries put a later item first, it is still given in id order.
    let [a, b] = [store.enqueue("order", b"a", at(0)), store.enqueue("order", b"b", at(0))]
        .map(|id| id.unwrap());
    store.failed(a, "x", Some(at(50)), at(1)).unwrap();
    store.failed(b, "x", Some(at(40)), at(1)).unwrap();
    assert_eq!(store.next_due("order").unwrap(), Some(at(40)));
    assert_eq!(ids(&store.due("order", at(45), 10).unwrap()), [b]);
    assert_eq!(ids(&store.due("order", at(50), 10).unwrap()), [a, b]);
}

#[test]
fn the_log_pages_newest_first_filters_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let destinations = ["ntfy", "mail", "discord"];
    let mut written: Vec<(u64, &str, &str)> = Vec::new();
    for i in 0..40u64 {
        let destination = destinations[(i % 3) as usize];
        let id = store.enqueue(destination, &i.to_be_bytes(), at(i)).unwrap();
        let state = match i % 4 {
            0 => OUTBOX_PENDING,
            1 => {
                store.delivered(id, at(i + 1)).unwrap();
                OUTBOX_DELIVERED
            }
            2 => {
                store.failed(id, "refused", None, at(i + 1)).unwrap();
                OUTBOX_DEAD
            }
            _ => {
                store.failed(id, "busy", Some(at(i + 60)), at(i + 1)).unwrap();
                OUTBOX_PENDING
            }
        };
        written.push((id, destination, state));
    }
    assert!(written.windows(2).all(|w| w[0].0 < w[1].0), "ids increase");

    let filters = [
        OutboxFilter::any(),
        OutboxFilter::dead(),
        OutboxFilter::destination("mail"),
        OutboxFilter { destination: Some("ntfy"), state: Some(OUTBOX_PENDING) },
        OutboxFilter { destination: Some("discord"), state: Some(OUTBOX_DELIVERED) },
        OutboxFilter { destination: Some("nowhere"), state: None },
        OutboxFilter { destination: None, state: Some("no-such-state") },
    ];
    for filter in filters {
        let want: Vec<u64> = written
            .iter()
            .rev()
            .filter(|(_, d, _)| filter.destination.is_none_or(|f| f == *d))
            .filter(|(_, _, s)| filter.state.is_none_or(|f| f == *s))
            .map(|(id, _, _)| *id)
            .collect();
        for page_size in [1, 4, 100] {
            let mut paged = Vec::new();
            let mut before = None;
            for _ in 0..100 {
                let page = store.outbox(before, page_size, filter).unwrap();
                assert!(page.len() <= page_size);
                let Some(last) = page.last() else { break };
                before = Some(last.id);
                paged.extend(ids(&page));
            }
            assert_eq!(paged, want, "{filter:?} by {page_size}");
        }
    }
    assert_eq!(store.outbox(Some(written[0].0), 10, OutboxFilter::any()).unwrap(), []);
    assert_eq!(store.outbox(None, 0, OutboxFilter::any()).unwrap(), []);
    // Payloads come back as written, whatever the filter.
    for item in all(&store) {
        let i = written.iter().position(|w| w.0 == item.id).unwrap() as u64;
        assert_eq!(item.payload, i.to_be_bytes());
    }

    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for (_, destination, state) in &written {
        *want.entry(((*destination).to_owned(), (*state).to_owned())).or_default() += 1;
    }
    let counts = store.handle().unwrap().outbox_counts().unwrap();
    assert_eq!(counts, want);
    assert_eq!(counts.values().sum::<u64>(), 40);
    assert_eq!(counts[&("ntfy".to_owned(), OUTBOX_PENDING.to_owned())], 8);
}

#[test]
fn payloads_are_kept_byte_for_byte_up_to_the_cap_and_refused_above_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let every_byte: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let exact = vec![0xa5; MAX_OUTBOX_PAYLOAD_BYTES];
    let hostile = "'; DROP TABLE outbox; -- 🦀 \u{202e}";
    let mut kept = Vec::new();
    for (destination, payload) in [
        ("bin", every_byte.as_slice()),
        ("big", exact.as_slice()),
        (hostile, &b""[..]),
        ("nul\0name", &b"\0"[..]),
    ] {
        let id = store.enqueue(destination, payload, at(1)).unwrap();
        kept.push((id, destination, payload.to_vec()));
    }
    let over = vec![0; MAX_OUTBOX_PAYLOAD_BYTES + 1];
    let error = store.enqueue("big", &over, at(2)).unwrap_err();
    println!("{error}");
    assert!(
        matches!(error, Error::TooLarge { size, max, .. }
            if size == MAX_OUTBOX_PAYLOAD_BYTES + 1 && max == MAX_OUTBOX_PAYLOAD_BYTES),
        "{error:?}"
    );
    assert!(error.to_string().contains("1048577") && error.to_string().contains("1048576"));
    for (id, destination, payload) in &kept {
        let due = store.due(destination, at(1), 10).unwrap();
        assert_eq!(ids(&due), [*id], "{destination:?}");
        assert_eq!(&due[0].payload, payload);
    }
    assert_eq!(all(&store).len(), kept.len(), "nothing written for the refused one");
}

#[test]
fn kv_values_are_set_overwritten_and_kept_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (epoch, state) = {
        let store = open(dir.path());
        let handle = store.handle().unwrap();
        assert_eq!(store.kv_get("notifier").unwrap(), None);
        store.kv_set("notifier", r#"{"last":{"halo":"dirty"}}"#, at(1)).unwrap();
        assert_eq!(
            handle.kv_get("notifier").unwrap().as_deref(),
            Some(r#"{"last":{"halo":"dirty"}}"#)
        );
        let state = r#"{"last":{"halo":"clean"},"muted":["scratch"]}"#;
        handle.kv_set("notifier", state, at(2)).unwrap();
        assert_eq!(store.kv_get("notifier").unwrap().as_deref(), Some(state), "overwritten");
        // Keys are exact, and a caller's key named like the store's own changes nothing of it.
        store.kv_set("epoch", "not an epoch", at(3)).unwrap();
        store.kv_set("", "empty key", at(3)).unwrap();
        store.kv_set("🦀 key", "", at(3)).unwrap();
        assert_eq!(store.kv_get("Notifier").unwrap(), None);
        let too_big = "x".repeat(MAX_KV_VALUE_BYTES + 1);
        let error = store.kv_set("notifier", &too_big, at(4)).unwrap_err();
        assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
        let error = store.kv_set(&too_big, "v", at(4)).unwrap_err();
        assert!(matches!(error, Error::TooLarge { .. }), "{error:?}");
        (store.epoch(), state)
    };
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert_eq!(opened.notices, [], "a clean reopen");
    let store = opened.store;
    assert_eq!(store.epoch(), epoch, "the store's epoch is its own");
    assert_eq!(store.kv_get("notifier").unwrap().as_deref(), Some(state));
    assert_eq!(store.kv_get("epoch").unwrap().as_deref(), Some("not an epoch"));
    assert_eq!(store.kv_get("").unwrap().as_deref(), Some("empty key"));
    assert_eq!(store.kv_get("🦀 key").unwrap().as_deref(), Some(""));
    // The timestamp of the last write is kept with it.
    drop(store);
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
    let updated: i64 = conn
        .query_row("SELECT updated_ms FROM kv WHERE key = 'notifier'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(updated, 1_750_000_002_000);
}

#[test]
fn a_version_2_file_migrates_with_its_data_intact() {
    // A log with history and actions written at the current version, then a version 2 file
    // made from it: every table and index but the outbox's and the key-value table's.
    let root = tempfile::tempdir().unwrap();
    let (new_dir, old_dir) = (root.path().join("new"), root.path().join("v2"));
    let (publisher, actions) = {
        let mut store = Store::open(&new_dir, config(10)).unwrap().store;
        let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(40, 31));
        publisher.run(&mut store, 30, 31);
        store.record_source_event(at(50), "loaded", "the report was read").unwrap();
        for i in 0..5 {
            let action = NewAction {
                who: "alice".to_owned(),
                action: "pull".to_owned(),
                repo: format!("repo-{i}"),
                dry_run: i % 2 == 0,
                time: at(60 + i),
            };
            let end = ActionEnd {
                result: "done".to_owned(),
                error_class: None,
                summary: "pulled".to_owned(),
                output: format!("output {i}"),
                detail: None,
                time: at(61 + i),
            };
            store.record_action(&action, &end).unwrap();
        }
        let actions = store.actions(None, 100, ActionFilter::any()).unwrap();
        (publisher, actions)
    };
    let v2_tables = older_file(&new_dir, &old_dir, &["outbox", "kv"], 2);
    assert!(v2_tables.iter().any(|t| t == "actions"), "{v2_tables:?}");
    assert!(!v2_tables.iter().any(|t| t == "outbox" || t == "kv"), "{v2_tables:?}");
    let v2_rows: Vec<Vec<String>> = {
        let conn = rusqlite::Connection::open(old_dir.join(DB_FILE)).unwrap();
        v2_tables.iter().map(|t| table_rows(&conn, t)).collect()
    };
    assert!(v2_rows.iter().all(|rows| !rows.is_empty()), "every table has rows");

    let opened = Store::open(&old_dir, config(10)).unwrap();
    assert_eq!(opened.notices, [Notice::Migrated { from: 2, to: SCHEMA_VERSION }]);
    let store = opened.store;
    assert_eq!(store.epoch(), publisher.epoch);
    let restored = store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert!(same_state(&restored.state, &publisher.state));
    assert_rebuilds(&store, &publisher, 1);
    assert_eq!(store.actions(None, 100, ActionFilter::any()).unwrap(), actions);
    assert_eq!(store.source_events(None, 10).unwrap().len(), 1);
    assert_eq!(all(&store), []);
    assert_eq!(store.outbox_counts().unwrap(), BTreeMap::new());
    let id = store.enqueue("ntfy", b"first", at(70)).unwrap();
    assert_eq!(id, 1);
    store.delivered(id, at(71)).unwrap();
    store.kv_set("notifier", "{}", at(71)).unwrap();
    assert_eq!(store.kv_get("notifier").unwrap().as_deref(), Some("{}"));
    drop(store);

    let migrated = rusqlite::Connection::open(old_dir.join(DB_FILE)).unwrap();
    let fresh = rusqlite::Connection::open(new_dir.join(DB_FILE)).unwrap();
    for (table, rows) in v2_tables.iter().zip(&v2_rows) {
        assert_eq!(&table_rows(&migrated, table), rows, "{table}");
    }
    assert_eq!(schema_of(&migrated), schema_of(&fresh));
    let version: u32 = migrated.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    // A file at the current version opens without a migration.
    drop(migrated);
    let opened = Store::open(&old_dir, config(10)).unwrap();
    assert_eq!(opened.notices, []);
}

#[test]
fn retention_keeps_the_newest_finished_items_and_never_a_pending_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Pending items older than everything: one never tried, one waiting to be retried.
    let fresh = store.enqueue("ntfy", b"never tried", at(0)).unwrap();
    let waiting = store.enqueue("mail", b"retry later", at(1)).unwrap();
    store.failed(waiting, "down", Some(at(1_000_000)), at(2)).unwrap();
    let pending = [fresh, waiting];
    // Then 1,200 finished items ending a second apart, delivered and dead by turns.
    let mut finished = Vec::new();
    for i in 0..1200u64 {
        let id = store.enqueue("ntfy", &[7; 100], at(10 + i)).unwrap();
        if i % 2 == 0 {
            store.delivered(id, at(10 + i)).unwrap();
        } else {
            store.failed(id, "gone", None, at(10 + i)).unwrap();
        }
        finished.push(id);
    }
    let kept_ids = |store: &Store| -> Vec<u64> { all(store).iter().rev().map(|i| i.id).collect() };

    let count = RetentionPolicy { max_outbox: Some(100), ..no_limits() };
    let pruned = store.prune(&count, at(5000)).unwrap();
    assert_eq!(pruned.outbox, 1100);
    assert_eq!((pruned.actions, pruned.source_events), (0, 0));
    let want: Vec<u64> = pending.iter().chain(&finished[1100..]).copied().collect();
    assert_eq!(kept_ids(&store), want, "the newest 100 finished and the pending ones");
    assert_eq!(store.prune(&count, at(5000)).unwrap().outbox, 0);

    // By age, by when they ended: those that ended more than 60 s before now go.
    let age = RetentionPolicy { max_age: Some(Duration::from_secs(60)), ..no_limits() };
    let now = at(10 + 1140 + 60);
    assert_eq!(store.prune(&age, now).unwrap().outbox, 40);
    let want: Vec<u64> = pending.iter().chain(&finished[1140..]).copied().collect();
    assert_eq!(kept_ids(&store), want);

    // A limit of 0 drops every finished item; the pending ones stay, whole, and still work.
    let none = RetentionPolicy { max_outbox: Some(0), ..no_limits() };
    assert_eq!(store.prune(&none, at(u32::MAX as u64)).unwrap().outbox, 60);
    assert_eq!(kept_ids(&store), pending);
    let all_limits = RetentionPolicy { max_outbox: Some(0), ..RetentionPolicy::default() };
    assert_eq!(store.prune(&all_limits, at(100_000_000)).unwrap().outbox, 0);
    assert_eq!(store.due("ntfy", at(5), 10).unwrap()[0].payload, b"never tried");
    assert_eq!(store.next_due("mail").unwrap(), Some(at(1_000_000)));
    store.delivered(waiting, at(3)).unwrap();
    assert_eq!(store.prune(&none, at(3)).unwrap().outbox, 1);
    assert_eq!(kept_ids(&store), [fresh]);

    // Ids are never given twice, even once the newest items are gone.
    let next = store.enqueue("ntfy", b"next", at(4)).unwrap();
    assert_eq!(next, finished.last().unwrap() + 1);
    assert_eq!(RetentionPolicy::default().max_outbox, Some(10_000));
}

/// A payload the parent can check from its own bytes: `destination|nonce|len|` and `len`
/// bytes that follow from the nonce.
fn child_payload(destination: &str, nonce: u64, len: usize) -> Vec<u8> {
    let mut payload = format!("{destination}|{nonce}|{len}|").into_bytes();
    let mut rng = Rng(nonce);
    payload.extend((0..len).map(|_| rng.next() as u8));
    payload
}

/// Whether `item`'s payload is whole: the one [`child_payload`] makes from its own header.
fn payload_is_whole(item: &OutboxItem) -> bool {
    let mut fields = item.payload.splitn(4, |b| *b == b'|');
    let (Some(destination), Some(nonce), Some(len)) = (fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let number = |bytes: &[u8]| std::str::from_utf8(bytes).ok()?.parse::<u64>().ok();
    let (Some(nonce), Some(len)) = (number(nonce), number(len)) else { return false };
    destination == item.destination.as_bytes()
        && item.payload == child_payload(&item.destination, nonce, len as usize)
}

/// The key the `outbox` child's thread `thread` counts under in the key-value table.
fn kv_key(thread: u64) -> String {
    format!("child-{thread}")
}

/// What the `outbox` child does: from this thread through the store and from a second through
/// a handle, each on destinations of its own, enqueues, takes due items and marks them
/// delivered, failed (retry soon) or dead, requeues dead letters and counts in the key-value
/// table, until `limit` steps each or `deadline`, printing each call once it returned.
pub(crate) fn outbox_loop(dir: &Path, seed: u64, sync: SyncLevel, limit: usize, deadline: Instant) {
    let store = Store::open(dir, StoreConfig { sync, ..StoreConfig::default() })
        .expect("the child opens the store")
        .store;
    let say = |what: &str, n: u64| {
        let mut out = std::io::stdout().lock();
        // The parent counts on these lines meaning "committed": print only after the call.
        let _ = writeln!(out, "{what} {n}");
        let _ = out.flush();
    };
    let work = |db: &dyn OutboxCalls, thread: u64| {
        let mut rng = Rng(seed ^ thread.wrapping_mul(0x9e37_79b9));
        let destinations = [format!("t{thread}-a"), format!("t{thread}-b")];
        let key = kv_key(thread);
        let mut counter: u64 =
            db.kv_get(&key).expect("a kv read").map_or(0, |v| v.parse().expect("a count"));
        for _ in 0..limit {
            if Instant::now() > deadline {
                break;
            }
            let destination = &destinations[rng.below(2) as usize];
            let now = SystemTime::now();
            match rng.below(10) {
                0..=3 => {
                    // Mostly small payloads, sometimes a few hundred KiB, so kills land in big
                    // writes too.
                    let len = if rng.below(15) == 0 {
                        100_000 + rng.below(300_000)
                    } else {
                        rng.below(2000)
                    };
                    let payload = child_payload(destination, rng.next(), len as usize);
                    say("enqueued", db.enqueue(destination, &payload, now).expect("an enqueue"));
                }
                4..=7 => {
                    for item in db.due(destination, now, 4).expect("due items") {
                        match rng.below(10) {
                            0..=4 => {
                                db.delivered(item.id, now).expect("delivered");
                                say("delivered", item.id);
                            }
                            5..=7 => {
                                let retry = now + ms(rng.below(20));
                                db.failed(item.id, "HTTP 503", Some(retry), now).expect("failed");
                                say("retry", item.id);
                            }
                            _ => {
                                db.failed(item.id, "HTTP 404", None, now).expect("dead");
                                say("dead", item.id);
                            }
                        }
                    }
                }
                8 => {
                    let filter =
                        OutboxFilter { destination: Some(destination), state: Some("dead") };
                    if let Some(letter) = db.newest(filter).expect("dead letters").first() {
                        db.requeue(letter.id, now).expect("a requeue");
                        say("requeued", letter.id);
                    }
                }
                _ => {
                    counter += 1;
                    db.kv_set(&key, &counter.to_string(), now).expect("a kv write");
                    say(&format!("kv{thread}"), counter);
                }
            }
        }
    };
    let handle = store.handle().expect("a handle");
    std::thread::scope(|scope| {
        // The handle moves to its thread: a connection is used by one thread at a time.
        scope.spawn(move || work(&handle, 1));
        work(&store, 0);
    });
}

/// The outbox calls of a store and of a handle, so one loop drives either.
trait OutboxCalls {
    fn enqueue(&self, destination: &str, payload: &[u8], now: SystemTime) -> Result<u64>;
    fn due(&self, destination: &str, now: SystemTime, limit: usize) -> Result<Vec<OutboxItem>>;
    fn delivered(&self, id: u64, now: SystemTime) -> Result<()>;
    fn failed(
        &self,
        id: u64,
        error: &str,
        retry: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<()>;
    fn requeue(&self, id: u64, now: SystemTime) -> Result<()>;
    /// The newest item that passes `filter`.
    fn newest(&self, filter: OutboxFilter<'_>) -> Result<Vec<OutboxItem>>;
    fn kv_get(&self, key: &str) -> Result<Option<String>>;
    fn kv_set(&self, key: &str, value: &str, now: SystemTime) -> Result<()>;
}

macro_rules! outbox_calls {
    ($type:ty) => {
        impl OutboxCalls for $type {
            fn enqueue(&self, destination: &str, payload: &[u8], now: SystemTime) -> Result<u64> {
                <$type>::enqueue(self, destination, payload, now)
            }
            fn due(
                &self,
                destination: &str,
                now: SystemTime,
                limit: usize,
            ) -> Result<Vec<OutboxItem>> {
                <$type>::due(self, destination, now, limit)
            }
            fn delivered(&self, id: u64, now: SystemTime) -> Result<()> {
                <$type>::delivered(self, id, now)
            }
            fn failed(
                &self,
                id: u64,
                error: &str,
                retry: Option<SystemTime>,
                now: SystemTime,
            ) -> Result<()> {
                <$type>::failed(self, id, error, retry, now)
            }
            fn requeue(&self, id: u64, now: SystemTime) -> Result<()> {
                <$type>::requeue(self, id, now)
            }
            fn newest(&self, filter: OutboxFilter<'_>) -> Result<Vec<OutboxItem>> {
                <$type>::outbox(self, None, 1, filter)
            }
            fn kv_get(&self, key: &str) -> Result<Option<String>> {
                <$type>::kv_get(self, key)
            }
            fn kv_set(&self, key: &str, value: &str, now: SystemTime) -> Result<()> {
                <$type>::kv_set(self, key, value, now)
            }
        }
    };
}
outbox_calls!(Store);
outbox_calls!(Handle);

/// What the parent expects of an item: its state and its failed attempts.
type Expected = (String, u32);

/// Whether `found` is one call past `expected`: the call a kill landed between committing and
/// printing.
fn one_call_past(expected: &Expected, found: &Expected) -> bool {
    let (state, attempts) = (expected.0.as_str(), expected.1);
    match (state, found.0.as_str()) {
        (OUTBOX_PENDING, OUTBOX_PENDING) | (OUTBOX_PENDING, OUTBOX_DEAD) => found.1 == attempts + 1,
        (OUTBOX_PENDING, OUTBOX_DELIVERED) => found.1 == attempts,
        (OUTBOX_DEAD, OUTBOX_PENDING) => found.1 == 0,
        _ => false,
    }
}

#[test]
fn kill_9_while_items_are_enqueued_and_marked_leaves_a_consistent_outbox() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(120);
    // The parent's model of every item, from what the children printed; and each thread's count.
    let mut expected: BTreeMap<u64, Expected> = BTreeMap::new();
    let mut counters = [0u64; 2];
    let (mut rounds, mut printed_total, mut ahead_total) = (0, 0usize, 0usize);

    for round in 0..40 {
        if Instant::now() > deadline {
            println!("stopping after {round} rounds: time is up");
            break;
        }
        let sync = if round % 2 == 0 { SyncLevel::Normal } else { SyncLevel::Full };
        let mut child = spawn("outbox", dir.path(), seed.wrapping_add(round), sync);
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, received) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The last two words: the test harness may print its own text before the
                // child's first line, on the same line.
                let mut words = line.split(' ').rev();
                let (Some(n), Some(what)) = (words.next(), words.next()) else { continue };
                let Ok(n) = n.parse::<u64>() else { continue };
                if lines.send((what.to_owned(), n)).is_err() {
                    break;
                }
            }
        });
        // Kill at a random moment: after 0..60 lines, plus up to 3 ms.
        let mut printed = Vec::new();
        for _ in 0..rng.below(60) {
            match received.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => printed.push(line),
                Err(_) => panic!("round {round}: the child reported nothing for 20 s"),
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("the child is reaped");
        assert!(!status.success(), "round {round}: the child was killed, not finished: {status}");
        reader.join().expect("the reader ends with the pipe");
        printed.extend(received.try_iter());
        printed_total += printed.len();

        // What the child said it did, applied to the model in order.
        let newest_known = expected.keys().next_back().copied().unwrap_or(0);
        for (what, n) in &printed {
            if let Some(thread) = what.strip_prefix("kv") {
                let thread: usize = thread.parse().expect("kv0 or kv1");
                assert_eq!(*n, counters[thread] + 1, "round {round}: {what} counts by one");
                counters[thread] = *n;
                continue;
            }
            let id = *n;
            let item = expected.get(&id).cloned();
            let next = match (what.as_str(), item) {
                ("enqueued", None) => (OUTBOX_PENDING, 0),
                ("retry", Some((state, a))) if state == OUTBOX_PENDING => (OUTBOX_PENDING, a + 1),
                ("dead", Some((state, a))) if state == OUTBOX_PENDING => (OUTBOX_DEAD, a + 1),
                ("delivered", Some((state, a))) if state == OUTBOX_PENDING => (OUTBOX_DELIVERED, a),
                ("requeued", Some((state, _))) if state == OUTBOX_DEAD => (OUTBOX_PENDING, 0),
                (what, item) => {
                    panic!(
                        "round {round}: the child said {what} {id} of {item:?}; it said {printed:?}"
                    )
                }
            };
            expected.insert(id, (next.0.to_owned(), next.1));
        }

        let opened = Store::open(dir.path(), StoreConfig { sync, ..StoreConfig::default() })
            .unwrap_or_else(|e| panic!("round {round}: reopening failed: {e}"));
        for notice in &opened.notices {
            match notice {
                Notice::UncleanStop { .. } | Notice::Created { .. } => {}
                other => panic!("round {round}: unexpected {other:?}"),
            }
        }
        let store = opened.store;
        let rows = all(&store);
        assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "round {round}: ids decrease");

        // Every row whole and in one of the three states, each with the fields its state has.
        for item in &rows {
            assert!(payload_is_whole(item), "round {round}: item {} has a torn payload", item.id);
            assert!(item.destination.starts_with('t'), "round {round}: {}", item.destination);
            match item.state.as_str() {
                OUTBOX_PENDING => {
                    assert!(item.next_attempt.is_some() && item.ended.is_none(), "{item:?}")
                }
                OUTBOX_DELIVERED => {
                    assert!(item.next_attempt.is_none() && item.ended.is_some(), "{item:?}")
                }
                OUTBOX_DEAD => {
                    assert!(item.next_attempt.is_none() && item.ended.is_some(), "{item:?}");
                    assert_eq!(item.last_error.as_deref(), Some("HTTP 404"));
                }
                other => panic!("round {round}: item {} is {other:?}", item.id),
            }
            if item.attempts > 0 {
                assert!(item.last_error.is_some(), "round {round}: {item:?}");
            }
            assert!(item.created <= item.ended.unwrap_or(item.created));
        }

        // Every call the child saw return is in the file; at most one more call per thread
        // (committed, killed before it printed) is.
        let found: BTreeMap<u64, Expected> =
            rows.iter().map(|item| (item.id, (item.state.clone(), item.attempts))).collect();
        for id in expected.keys() {
            assert!(found.contains_key(id), "round {round}: item {id} was lost");
        }
        let mut ahead = 0;
        for (id, now) in &found {
            match expected.get(id) {
                Some(want) if want == now => {}
                Some(want) => {
                    assert!(
                        one_call_past(want, now),
                        "round {round}: item {id} is {now:?}, the child left it {want:?}"
                    );
                    ahead += 1;
                }
                None => {
                    assert!(
                        *id > newest_known && now == &(OUTBOX_PENDING.to_owned(), 0),
                        "round {round}: item {id} ({now:?}) was never reported"
                    );
                    ahead += 1;
                }
            }
        }
        for (thread, counter) in counters.iter_mut().enumerate() {
            let value: u64 = store
                .kv_get(&kv_key(thread as u64))
                .unwrap()
                .map_or(0, |v| v.parse().expect("a whole count"));
            if value == *counter + 1 {
                ahead += 1;
            } else {
                assert_eq!(value, *counter, "round {round}: thread {thread}'s count");
            }
            *counter = value;
        }
        assert!(ahead <= 2, "round {round}: {ahead} calls past what two threads printed");
        ahead_total += ahead;

        // The due index agrees with the rows: every pending item of a destination, in order.
        let destinations: BTreeSet<&str> = rows.iter().map(|i| i.destination.as_str()).collect();
        for destination in destinations {
            let pending: Vec<&OutboxItem> = rows
                .iter()
                .rev()
                .filter(|i| i.destination == destination && i.state == OUTBOX_PENDING)
                .collect();
            let due = store.due(destination, at(1 << 40), usize::MAX).unwrap();
            assert_eq!(due.iter().collect::<Vec<_>>(), pending, "round {round}: {destination}");
            let next = pending.iter().filter_map(|i| i.next_attempt).min();
            assert_eq!(store.next_due(destination).unwrap(), next, "round {round}");
        }
        let counts = store.outbox_counts().unwrap();
        assert_eq!(counts.values().sum::<u64>(), rows.len() as u64);

        expected = found;
        rounds += 1;
    }
    let states = expected.values().fold(BTreeMap::new(), |mut counts, (state, _)| {
        *counts.entry(state.clone()).or_insert(0u64) += 1;
        counts
    });
    println!(
        "{rounds} rounds checked, {printed_total} calls reported, {} items {states:?}, \
         {ahead_total} calls committed but not reported, counts {counters:?}",
        expected.len()
    );
    assert!(rounds >= 10, "too few rounds ran to mean anything: {rounds}");
    assert!(printed_total > 0, "the children did nothing");
    for state in [OUTBOX_PENDING, OUTBOX_DELIVERED, OUTBOX_DEAD] {
        assert!(states.contains_key(state), "no item ended {state}: {states:?}");
    }
}
