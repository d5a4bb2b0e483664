//! Hub tests: each promise on its own, then a property test over random interleavings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use gitops_diff::same_state;
use gitops_protocol::{Applied, LiveState, MessageKind, ServerMessage};
use gitops_report::{Repo, Report, Status};
use proptest::prelude::*;

use super::*;

fn repo(name: &str, status: Status) -> Repo {
    Repo { name: name.to_owned(), status, ..Repo::default() }
}

fn report(repos: &[(&str, Status)]) -> Report {
    Report { repos: repos.iter().map(|(n, s)| repo(n, s.clone())).collect(), ..Report::default() }
}

fn pinned(config: &HubConfig) -> Arc<Hub> {
    Hub::new(HubConfig { epoch: Some(Epoch(0xabc)), ..config.clone() })
}

/// A client that applies what it reads by the protocol's client rules ([`LiveState`]) and
/// insists on every message: a state-bearing one must advance it (no gap, no duplicate, no
/// stale message, nothing before the first snapshot), and its seq must increase.
#[derive(Debug, Default)]
struct Client {
    live: LiveState,
    seqs_seen: Vec<u64>,
}

impl Client {
    fn apply(&mut self, bytes: &[u8]) {
        let message = ServerMessage::decode(bytes).expect("hub sends valid messages");
        let kind = message.kind();
        assert_eq!(MessageKind::of_encoded(bytes), Some(kind), "the bytes name their kind");
        let before = self.live.cursor;
        let cursor = match self.live.apply(message).expect("every change fits the state") {
            Applied::Advanced(cursor) => cursor,
            Applied::NotState => return,
            Applied::Stale => panic!("duplicate: at {before:?} got a {kind} already applied"),
            Applied::Gap => panic!("gap: at {before:?} got a {kind} that does not follow"),
        };
        if let Some(last) = self.seqs_seen.last() {
            // A requested snapshot may repeat the current seq; it replaces, so that is harmless.
            let is_snapshot = kind == MessageKind::AuditUpdate;
            assert!(
                cursor.seq > *last || (is_snapshot && cursor.seq == *last),
                "seq must increase: {last} then {}",
                cursor.seq
            );
        }
        self.seqs_seen.push(cursor.seq);
    }

    fn cursor(&self) -> Option<Cursor> {
        self.live.cursor
    }

    fn drain(&mut self, sub: &Subscription) -> usize {
        let mut n = 0;
        loop {
            match sub.try_next() {
                Next::Message(delivery) => {
                    self.apply(&delivery.bytes);
                    n += 1;
                }
                Next::Empty => return n,
                Next::Closed(reason) => panic!("closed unexpectedly: {reason:?}"),
            }
        }
    }

    fn assert_matches(&self, hub: &Hub) {
        let (cursor, current) = hub.current().expect("hub has a report");
        assert_eq!(self.cursor(), Some(cursor));
        assert!(
            same_state(self.live.report.as_ref().expect("client has state"), &current),
            "client state differs from hub"
        );
    }
}

#[test]
fn subscriber_before_first_report_gets_snapshot_when_it_lands() {
    let hub = pinned(&HubConfig::default());
    let sub = hub.subscribe(None);
    assert_eq!(sub.try_next(), Next::Empty);
    assert_eq!(
        hub.publish(report(&[("a", Status::Clean)])),
        Published::First { cursor: Cursor::new(Epoch(0xabc), 1) }
    );
    let mut client = Client::default();
    assert_eq!(client.drain(&sub), 1);
    client.assert_matches(&hub);
}

#[test]
fn one_repo_change_is_one_small_message_to_every_subscriber() {
    let hub = pinned(&HubConfig::default());
    let many: Vec<(String, Status)> =
        (0..1000).map(|i| (format!("repo-{i}"), Status::Clean)).collect();
    let as_refs: Vec<(&str, Status)> = many.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
    hub.publish(report(&as_refs));
    let subs: Vec<_> = (0..3).map(|_| hub.subscribe(None)).collect();
    let mut clients: Vec<Client> = subs.iter().map(|_| Client::default()).collect();
    for (client, sub) in clients.iter_mut().zip(&subs) {
        client.drain(sub);
    }
    let mut changed = as_refs.clone();
    changed[500].1 = Status::Dirty;
    let published = hub.publish(report(&changed));
    let Published::Changed { messages, bytes, .. } = published else {
        panic!("expected a change, got {published:?}")
    };
    assert_eq!(messages, 1, "no health fields in these reports, so only the repo change");
    assert!(bytes <= 300, "a one-repo change took {bytes} bytes");
    for (client, sub) in clients.iter_mut().zip(&subs) {
        assert_eq!(client.drain(sub), 1);
        client.assert_matches(&hub);
    }
}

#[test]
fn unchanged_report_sends_nothing() {
    let hub = pinned(&HubConfig::default());
    hub.publish(report(&[("a", Status::Clean)]));
    let sub = hub.subscribe(None);
    Client::default().drain(&sub);
    assert_eq!(hub.publish(report(&[("a", Status::Clean)])), Published::Unchanged);
    assert_eq!(sub.try_next(), Next::Empty);
}

#[test]
fn resume_within_small_history_replays_missed_messages() {
    let hub = pinned(&HubConfig::default());
    hub.publish(report(&[("a", Status::Clean), ("b", Status::Clean)]));
    let cursor = hub.cursor().expect("cursor");
    hub.publish(report(&[("a", Status::Dirty), ("b", Status::Clean)]));
    hub.publish(report(&[("a", Status::Dirty), ("b", Status::Missing)]));
    let answer = hub.answer(Some(cursor));
    assert_eq!(answer.kind, AnswerKind::Replay);
    assert_eq!(answer.messages.len(), 2);
}

#[test]
fn resume_over_large_history_sends_one_catch_up() {
    let hub = pinned(&HubConfig { replay_max_bytes: 0, ..HubConfig::default() });
    let names: Vec<String> = (0..50).map(|i| format!("repo-{i}")).collect();
    let build = |dirty_upto: usize| {
        report(
            &names
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    (n.as_str(), if i < dirty_upto { Status::Dirty } else { Status::Clean })
                })
                .collect::<Vec<_>>(),
        )
    };
    hub.publish(build(0));
    let mut client = Client::default();
    let sub = hub.subscribe(None);
    client.drain(&sub);
    let since = client.cursor().expect("cursor");
    // The same repository flips back and forth: merged, that is one change, not forty.
    for round in 0..40 {
        hub.publish(build(round % 2));
    }
    let answer = hub.answer(Some(since));
    assert_eq!(answer.kind, AnswerKind::CatchUp);
    assert_eq!(answer.messages.len(), 1);
    drop(sub);
    let sub = hub.subscribe(Some(since));
    client.drain(&sub);
    client.assert_matches(&hub);
}

#[test]
fn resume_from_unknown_epoch_or_evicted_history_gets_snapshot() {
    let hub = pinned(&HubConfig { history_max_messages: 2, ..HubConfig::default() });
    hub.publish(report(&[("a", Status::Clean)]));
    let old = hub.cursor().expect("cursor");
    for status in [Status::Dirty, Status::Missing, Status::Extra, Status::Clean] {
        hub.publish(report(&[("a", status)]));
    }
    assert_eq!(hub.answer(Some(old)).kind, AnswerKind::Snapshot);
    assert_eq!(hub.answer(Some(Cursor::new(Epoch(1), 1))).kind, AnswerKind::Snapshot);
    assert_eq!(hub.answer(None).kind, AnswerKind::Snapshot);
    assert_eq!(hub.answer(hub.cursor()).kind, AnswerKind::UpToDate);
    let future = Cursor::new(Epoch(0xabc), 99);
    assert_eq!(
        hub.answer(Some(future)).kind,
        AnswerKind::Snapshot,
        "a cursor from the future is not trusted"
    );
}

#[test]
fn slow_subscriber_is_conflated_and_does_not_hold_others() {
    let hub = pinned(&HubConfig { queue_max_bytes: 600, ..HubConfig::default() });
    hub.publish(report(&[("a", Status::Clean)]));
    let slow = hub.subscribe(None);
    let fast = hub.subscribe(None);
    let (mut slow_client, mut fast_client) = (Client::default(), Client::default());
    slow_client.drain(&slow);
    fast_client.drain(&fast);
    let statuses =
        [Status::Dirty, Status::Missing, Status::Extra, Status::Mismatched, Status::Clean];
    for i in 0..100 {
        hub.publish(report(&[
            ("a", statuses[i % statuses.len()].clone()),
            ("b", Status::Other(format!("s{i}"))),
        ]));
        fast_client.drain(&fast);
        fast_client.assert_matches(&hub);
        assert!(slow.queued_bytes() <= 600, "slow queue grew to {}", slow.queued_bytes());
    }
    assert!(hub.stats().conflations >= 1);
    let read = slow_client.drain(&slow);
    assert!(read <= 2, "a lagging subscriber gets one catch-up, not {read} messages");
    slow_client.assert_matches(&hub);
}

#[tokio::test(start_paused = true)]
async fn subscriber_lagging_past_the_deadline_is_closed_as_stalled() {
    let stall_timeout = Duration::from_secs(30);
    let hub = pinned(&HubConfig { queue_max_bytes: 100, stall_timeout, ..HubConfig::default() });
    hub.publish(report(&[("a", Status::Clean)]));
    let stalled = hub.subscribe(None);
    let statuses = [Status::Dirty, Status::Missing, Status::Extra, Status::Clean];
    let publish = |i: usize| hub.publish(report(&[("a", statuses[i % statuses.len()].clone())]));
    // The unread snapshot plus a change overflow the queue: the subscriber lags from now on.
    for i in 0..20 {
        publish(i);
    }
    assert_eq!(hub.stats().conflations, 1);
    // At the deadline it is still only lagging; just past it, the next publish closes it.
    tokio::time::advance(stall_timeout).await;
    publish(20);
    assert_eq!(hub.stats().stalls, 0, "closed before its deadline");
    tokio::time::advance(Duration::from_millis(1)).await;
    publish(21);
    assert_eq!(hub.stats().stalls, 1);
    assert_eq!(stalled.try_next(), Next::Closed(CloseReason::Stalled));
}

#[test]
fn control_and_status_messages_come_first_and_are_bounded() {
    let hub = pinned(&HubConfig { control_queue_max: 2, ..HubConfig::default() });
    hub.publish(report(&[("a", Status::Clean)]));
    let sub = hub.subscribe(None);
    hub.set_status(Bytes::from_static(b"{\"type\":\"connection-status\"}"));
    for i in 0..5 {
        sub.push_control(Bytes::from(format!("{{\"n\":{i}}}")));
    }
    let kinds: Vec<_> = std::iter::from_fn(|| match sub.try_next() {
        Next::Message(d) => Some((d.kind, d.bytes)),
        _ => None,
    })
    .collect();
    assert_eq!(kinds[0], (DeliveryKind::Control, Bytes::from_static(b"{\"n\":3}")));
    assert_eq!(kinds[1], (DeliveryKind::Control, Bytes::from_static(b"{\"n\":4}")));
    assert_eq!(kinds[2].0, DeliveryKind::Status);
    assert_eq!(kinds[3].0, DeliveryKind::Answer(AnswerKind::Snapshot));
    assert_eq!(kinds.len(), 4);
}

#[test]
fn a_broadcast_control_message_reaches_every_subscriber_once_and_is_not_kept() {
    let hub = pinned(&HubConfig { control_queue_max: 2, ..HubConfig::default() });
    hub.publish(report(&[("a", Status::Clean)]));
    let (first, second) = (hub.subscribe(None), hub.subscribe(None));
    for i in 0..3 {
        hub.broadcast_control(&Bytes::from(format!("{{\"action\":{i}}}")));
    }
    for sub in [&first, &second] {
        let mut controls = Vec::new();
        while let Next::Message(delivery) = sub.try_next() {
            if delivery.kind == DeliveryKind::Control {
                controls.push(delivery.bytes);
            }
        }
        // Bounded: the oldest went; the two newest arrive, in order, once.
        assert_eq!(controls, [Bytes::from("{\"action\":1}"), Bytes::from("{\"action\":2}")]);
    }
    let late = hub.subscribe(None);
    while let Next::Message(delivery) = late.try_next() {
        assert_ne!(delivery.kind, DeliveryKind::Control, "a late subscriber gets no old broadcast");
    }
}

#[test]
fn dropping_a_subscription_unsubscribes() {
    let hub = pinned(&HubConfig::default());
    let sub = hub.subscribe(None);
    assert_eq!(hub.stats().subscribers, 1);
    drop(sub);
    assert_eq!(hub.stats().subscribers, 0);
}

#[tokio::test]
async fn async_next_wakes_on_publish() {
    let hub = pinned(&HubConfig::default());
    let sub = hub.subscribe(None);
    let publisher = {
        let hub = hub.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            hub.publish(report(&[("a", Status::Clean)]));
        })
    };
    let delivery = sub.next().await.expect("open");
    assert_eq!(delivery.kind, DeliveryKind::Answer(AnswerKind::Snapshot));
    publisher.await.expect("publisher");
    hub.close_all(CloseReason::Shutdown);
    assert_eq!(sub.next().await, Err(CloseReason::Shutdown));
}

/// One step of the random schedule.
#[derive(Debug, Clone)]
enum Step {
    Publish(Vec<(u8, u8)>),
    Read { client: usize, max: usize },
    Reconnect { client: usize },
    Resume { client: usize },
    RequestSnapshot { client: usize },
}

const STATUSES: [&str; 6] = ["missing", "extra", "dirty", "mismatched", "clean", "archived"];

fn build(spec: &[(u8, u8)]) -> Report {
    Report {
        health_status: spec.first().map(|(_, s)| {
            gitops_report::Health::from_text(["green", "yellow", "red"][*s as usize % 3])
        }),
        repos: spec
            .iter()
            .map(|(name, status)| {
                let mut repo = repo(
                    &format!("r{}", name % 12),
                    Status::from_text(STATUSES[*status as usize % 6]),
                );
                repo.local_path = Some(format!("/srv/git/r{name}"));
                repo
            })
            .collect(),
        ..Report::default()
    }
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop::collection::vec((any::<u8>(), any::<u8>()), 0..10).prop_map(Step::Publish),
        3 => (0..4usize, 0..6usize).prop_map(|(client, max)| Step::Read { client, max }),
        1 => (0..4usize).prop_map(|client| Step::Reconnect { client }),
        1 => (0..4usize).prop_map(|client| Step::Resume { client }),
        1 => (0..4usize).prop_map(|client| Step::RequestSnapshot { client }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// For any interleaving of publishes, slow reads, reconnects and resumes, every subscriber's
    /// reconstructed state equals the hub's once it drains, with seq strictly increasing, no gap
    /// and no duplicate (checked on every message by `Client::apply`, through `LiveState`).
    #[test]
    fn every_subscriber_converges_to_the_hub_state(
        steps in prop::collection::vec(step(), 1..60),
        queue_max_bytes in 100usize..2000,
        history_max_messages in 1usize..12,
        replay_max_bytes in 0usize..400,
    ) {
        let hub = pinned(&HubConfig { queue_max_bytes, history_max_messages, replay_max_bytes, ..HubConfig::default() });
        let mut subs: Vec<Subscription> = (0..4).map(|_| hub.subscribe(None)).collect();
        let mut clients: Vec<Client> = (0..4).map(|_| Client::default()).collect();
        for step in steps {
            match step {
                Step::Publish(spec) => { hub.publish(build(&spec)); }
                Step::Read { client, max } => {
                    for _ in 0..max {
                        match subs[client].try_next() {
                            Next::Message(d) => clients[client].apply(&d.bytes),
                            Next::Empty => break,
                            Next::Closed(reason) => panic!("closed: {reason:?}"),
                        }
                    }
                }
                Step::Reconnect { client } => {
                    let since = clients[client].cursor();
                    subs[client] = hub.subscribe(since);
                }
                Step::Resume { client } => { subs[client].resume(clients[client].cursor()); }
                Step::RequestSnapshot { client } => subs[client].request_snapshot(),
            }
        }
        if hub.current().is_some() {
            for (client, sub) in clients.iter_mut().zip(&subs) {
                client.drain(sub);
                client.assert_matches(&hub);
            }
        }
    }
}

#[test]
fn take_moves_at_most_max_messages_in_order_then_says_closed() {
    let hub = pinned(&HubConfig::default());
    hub.publish(report(&[("a", Status::Clean), ("b", Status::Clean), ("c", Status::Clean)]));
    let sub = hub.subscribe(None);
    let mut client = Client::default();
    client.drain(&sub);
    hub.publish(report(&[("a", Status::Dirty), ("b", Status::Missing), ("c", Status::Extra)]));
    let mut out = Vec::new();
    // Three repositories changed: three messages.
    assert_eq!(sub.take(&mut out, 2), Ok(2), "max is respected");
    assert_eq!(sub.take(&mut out, 10), Ok(1), "the rest");
    assert_eq!(sub.take(&mut out, 10), Ok(0), "nothing left");
    for delivery in &out {
        client.apply(&delivery.bytes);
    }
    client.assert_matches(&hub);
    hub.close_all(CloseReason::Shutdown);
    assert_eq!(sub.take(&mut out, 10), Err(CloseReason::Shutdown), "closed, and says so");
    assert_eq!(out.len(), 3, "a closed subscription moves nothing");
    assert_eq!(sub.try_next(), Next::Closed(CloseReason::Shutdown));
}

#[test]
fn the_slot_id_hasher_spreads_consecutive_ids_over_the_high_bits() {
    let tags: std::collections::BTreeSet<u64> =
        (0..256u64).map(|id| SlotIdHash.hash_one(id) >> 57).collect();
    assert!(tags.len() > 100, "hashbrown's 7-bit tags vary: {} distinct", tags.len());
    assert_ne!(SlotIdHash.hash_one(1u64), SlotIdHash.hash_one(2u64));
}

/// A log kept in memory: what `publish_with` committed, and whether it accepts more.
#[derive(Default)]
struct MemoryLog {
    base: Option<(u64, Report)>,
    messages: Vec<Bytes>,
    failing: bool,
}

impl MemoryLog {
    fn commit(&mut self, commit: &Commit<'_>) -> bool {
        if self.failing {
            return false;
        }
        if commit.messages.is_empty() {
            self.base = Some((commit.first_seq, commit.state.clone()));
        } else {
            self.messages.extend(commit.messages.iter().cloned());
        }
        true
    }
}

fn flipped(round: usize) -> Report {
    let statuses = [Status::Clean, Status::Dirty, Status::Missing];
    let names = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let repos: Vec<(&str, Status)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (*name, statuses[(i + round) % statuses.len()].clone()))
        .collect();
    report(&repos)
}

#[test]
fn a_restored_hub_answers_every_cursor_as_the_original_did() {
    let config = HubConfig { replay_max_bytes: 600, ..HubConfig::default() };
    let original = pinned(&config);
    let mut log = MemoryLog::default();
    for round in 0..12 {
        original.publish_with(flipped(round), |commit| log.commit(commit));
    }
    let (base_seq, base) = log.base.clone().expect("the first state was logged");
    let restored = Hub::restore(
        &config,
        Restore { epoch: Epoch(0xabc), base_seq, base, messages: log.messages },
    )
    .expect("the log restores");
    assert_eq!(restored.cursor(), original.cursor());
    let now = original.cursor().expect("a cursor");
    let mut kinds = std::collections::HashSet::new();
    for seq in base_seq..=now.seq {
        let since = Some(Cursor::new(now.epoch, seq));
        let (want, got) = (original.answer(since), restored.answer(since));
        assert_eq!(got.kind, want.kind, "from seq {seq}");
        assert_eq!(got.messages, want.messages, "from seq {seq}");
        kinds.insert(got.kind);
    }
    assert!(
        kinds.contains(&AnswerKind::Replay) && kinds.contains(&AnswerKind::CatchUp),
        "{kinds:?}"
    );
    // A client of the restored hub converges from any of those cursors.
    let mut client = Client::default();
    client.drain(&restored.subscribe(None));
    restored.publish(flipped(13));
    let sub = restored.subscribe(client.cursor());
    client.drain(&sub);
    client.assert_matches(&restored);
}

#[test]
fn a_log_that_fails_moves_the_hub_to_a_new_epoch_and_subscribers_to_a_snapshot() {
    let hub = pinned(&HubConfig::default());
    let mut log = MemoryLog::default();
    hub.publish_with(flipped(0), |commit| log.commit(commit));
    let mut client = Client::default();
    let sub = hub.subscribe(None);
    client.drain(&sub);
    hub.publish_with(flipped(1), |commit| log.commit(commit));
    client.drain(&sub);
    let logged = hub.cursor().expect("a cursor");

    log.failing = true;
    let published = hub.publish_with(flipped(2), |commit| log.commit(commit));
    let Published::First { cursor } = published else {
        panic!("expected a new epoch: {published:?}")
    };
    assert_ne!(cursor.epoch, logged.epoch, "unlogged states are never in the log's epoch");
    assert!(cursor.seq > logged.seq, "seqs keep counting up");
    client.drain(&sub);
    client.assert_matches(&hub);
    // A client that brings a cursor of the log's epoch gets a snapshot, never a wrong delta.
    assert_eq!(hub.answer(Some(logged)).kind, AnswerKind::Snapshot);
}

#[test]
fn a_log_that_does_not_continue_is_refused() {
    let hub = pinned(&HubConfig::default());
    let mut log = MemoryLog::default();
    for round in 0..3 {
        hub.publish_with(flipped(round), |commit| log.commit(commit));
    }
    let (base_seq, base) = log.base.clone().expect("a base");
    let mut skipped = log.messages.clone();
    skipped.remove(1);
    let restore = Restore { epoch: Epoch(0xabc), base_seq, base: base.clone(), messages: skipped };
    assert!(matches!(
        Hub::restore(&HubConfig::default(), restore),
        Err(RestoreError::OutOfOrder { .. })
    ));
    let other_epoch = Restore { epoch: Epoch(0xdef), base_seq, base, messages: log.messages };
    assert!(Hub::restore(&HubConfig::default(), other_epoch).is_err());
}

/// What a writer hub's log was handed, to feed a follower hub.
#[derive(Debug, Clone)]
struct Logged {
    epoch: Epoch,
    first_seq: u64,
    messages: Vec<Bytes>,
    state: Report,
}

fn follow(follower: &Hub, logged: &Logged) -> Published {
    if logged.messages.is_empty() {
        let cursor = Cursor::new(logged.epoch, logged.first_seq);
        follower.follow_reset(cursor, logged.state.clone()).expect("a reset applies")
    } else {
        follower
            .follow_messages(logged.epoch, logged.first_seq, &logged.messages)
            .expect("logged messages apply in order")
    }
}

/// The same bytes, except that a snapshot may list repositories of different names in another
/// order: a follower's state is the writer's with each change applied, and applying places an
/// added repository where the diff crate puts it, not where the writer's report had it.
fn same_message(a: &Bytes, b: &Bytes) -> bool {
    if a == b {
        return true;
    }
    match (ServerMessage::decode(a), ServerMessage::decode(b)) {
        (
            Ok(ServerMessage::AuditUpdate { epoch: ea, seq: sa, data: da }),
            Ok(ServerMessage::AuditUpdate { epoch: eb, seq: sb, data: db }),
        ) => ea == eb && sa == sb && same_state(&da, &db),
        _ => false,
    }
}

fn drain(sub: &Subscription) -> Vec<Bytes> {
    let mut out = Vec::new();
    while let Next::Message(delivery) = sub.try_next() {
        out.push(delivery.bytes);
    }
    out
}

#[test]
fn a_follower_refuses_gaps_other_epochs_rewrites_and_going_back() {
    let writer = pinned(&HubConfig::default());
    let follower = Hub::new(HubConfig::default());
    let mut logged = Vec::new();
    for spec in [&[(1, 1)][..], &[(1, 2), (2, 1)], &[(1, 3), (2, 1), (3, 4)]] {
        writer.publish_with(build(spec), |commit| {
            logged.push(Logged {
                epoch: commit.epoch,
                first_seq: commit.first_seq,
                messages: commit.messages.to_vec(),
                state: commit.state.clone(),
            });
            true
        });
    }
    let first = &logged[1];
    assert!(matches!(
        follower.follow_messages(first.epoch, first.first_seq, &first.messages),
        Err(FollowError::NoState)
    ));
    follow(&follower, &logged[0]);
    assert!(matches!(
        follower.follow_messages(Epoch(7), first.first_seq, &first.messages),
        Err(FollowError::OtherEpoch { .. })
    ));
    let last = &logged[2];
    assert!(matches!(
        follower.follow_messages(last.epoch, last.first_seq, &last.messages),
        Err(FollowError::Gap { .. })
    ));
    follow(&follower, first);
    // The same batch again (the writer following its own log) changes nothing.
    assert_eq!(follow(&follower, first), Published::Unchanged);
    // Other bytes under a seq the follower already served are a divergence.
    let rewritten = vec![last.messages[0].clone()];
    assert!(matches!(
        follower.follow_messages(first.epoch, first.first_seq, &rewritten),
        Err(FollowError::Diverged { .. })
    ));
    let back = Cursor::new(first.epoch, first.first_seq - 1);
    assert!(matches!(
        follower.follow_reset(back, logged[0].state.clone()),
        Err(FollowError::Backwards { .. })
    ));
    follow(&follower, last);
    assert_eq!(
        follower.current().map(|(c, s)| (c, (*s).clone())),
        writer.current().map(|(c, s)| (c, (*s).clone()))
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A follower hub fed the writer hub's commits (some twice, as a writer following its own
    /// log sees them) ends with the same state and cursor, delivers the same bytes to a
    /// subscriber, and answers every resume cursor with the same bytes.
    #[test]
    fn a_follower_serves_what_the_writer_serves(
        publishes in prop::collection::vec(prop::collection::vec((any::<u8>(), any::<u8>()), 0..10), 1..30),
        repeats in prop::collection::vec(any::<bool>(), 30),
        history_max_messages in 1usize..40,
        replay_max_bytes in 0usize..600,
        fail_at in prop::option::of(0usize..30),
    ) {
        let config = HubConfig { history_max_messages, replay_max_bytes, ..HubConfig::default() };
        let writer = pinned(&config);
        let follower = Hub::new(config);
        let writer_sub = writer.subscribe(None);
        let follower_sub = follower.subscribe(None);
        for (i, spec) in publishes.iter().enumerate() {
            let mut logged = None;
            writer.publish_with(build(spec), |commit| {
                logged = Some(Logged {
                    epoch: commit.epoch,
                    first_seq: commit.first_seq,
                    messages: commit.messages.to_vec(),
                    state: commit.state.clone(),
                });
                // A failing log moves the writer to a new epoch; the follower then gets that
                // epoch's first state, as a follower of a log would after the writer's next commit.
                fail_at != Some(i)
            });
            if fail_at == Some(i) {
                let (cursor, state) = writer.current().expect("published");
                follower.follow_reset(cursor, (*state).clone()).expect("a new epoch applies");
            } else if let Some(logged) = logged {
                follow(&follower, &logged);
                if repeats[i] {
                    prop_assert_eq!(follow(&follower, &logged), Published::Unchanged);
                }
            }
        }
        let (cursor, state) = writer.current().expect("at least one publish");
        let (follower_cursor, follower_state) = follower.current().expect("followed");
        prop_assert_eq!(cursor, follower_cursor);
        prop_assert!(same_state(&state, &follower_state));
        if fail_at.is_none() {
            let (a, b) = (drain(&writer_sub), drain(&follower_sub));
            prop_assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(&b) {
                prop_assert!(same_message(a, b), "{:?} vs {:?}", a, b);
            }
        }
        for seq in 0..=cursor.seq + 1 {
            let since = Some(Cursor::new(cursor.epoch, seq));
            let (a, b) = (writer.answer(since), follower.answer(since));
            prop_assert_eq!(a.kind, b.kind, "resume from {}", seq);
            prop_assert_eq!(a.messages.len(), b.messages.len());
            for (a, b) in a.messages.iter().zip(&b.messages) {
                prop_assert!(same_message(a, b), "resume from {}: {:?} vs {:?}", seq, a, b);
            }
        }
    }
}

/// Whether `future` is ready at its first poll.
fn ready_now(future: impl std::future::Future<Output = ()>) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    std::pin::pin!(future).poll(&mut cx).is_ready()
}

#[test]
fn a_reader_that_takes_everything_then_waits_is_woken_by_each_later_publish_and_by_wake_all() {
    let hub = pinned(&HubConfig::default());
    hub.publish(report(&[("a", Status::Clean)]));
    let sub = hub.subscribe(None);
    let mut out = Vec::new();
    // The snapshot is queued at subscribe, with no wake: a reader takes before it first waits.
    assert_eq!(sub.take(&mut out, 64), Ok(1));
    assert!(!ready_now(sub.woken()), "nothing happened since");
    // A publish while the reader is busy (not waiting) is kept as one wake.
    hub.publish(report(&[("a", Status::Dirty)]));
    hub.publish(report(&[("a", Status::Missing)]));
    assert!(ready_now(sub.woken()));
    assert!(!ready_now(sub.woken()), "two wakes while busy are one");
    assert_eq!(sub.take(&mut out, 64), Ok(2), "both changes are there");
    assert!(!ready_now(sub.woken()));
    // `wake_all` wakes with nothing to take.
    hub.wake_all();
    assert!(ready_now(sub.woken()));
    assert_eq!(sub.take(&mut out, 64), Ok(0));
}

/// A sink that records what the publisher handed it, and may be claimed while `open`.
#[derive(Default)]
struct RecordingSink {
    open: std::sync::atomic::AtomicBool,
    written: Mutex<Vec<Vec<Delivery>>>,
}

impl Sink for RecordingSink {
    fn claim(&self) -> bool {
        self.open.swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    fn write(&self, batch: &[Delivery]) {
        self.written.lock().expect("lock").push(batch.to_vec());
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A hub with a first report, a subscriber that has read it (and its client's view), and a
/// closed [`RecordingSink`] set on it.
fn subscribed_with_sink() -> (Arc<Hub>, Subscription, Client, Arc<RecordingSink>) {
    let hub = pinned(&HubConfig::default());
    hub.publish(report(&[("a", Status::Clean), ("b", Status::Clean)]));
    let sub = hub.subscribe(None);
    let mut client = Client::default();
    client.drain(&sub);
    let sink = Arc::new(RecordingSink::default());
    sub.set_sink(sink.clone());
    (hub, sub, client, sink)
}

#[test]
fn a_claimed_sink_gets_the_publish_and_the_reader_is_not_woken_and_a_busy_one_leaves_it_queued() {
    let (hub, sub, mut client, sink) = subscribed_with_sink();

    // The reader waits (the sink may be claimed): the publisher writes, the reader sleeps on.
    sink.open.store(true, std::sync::atomic::Ordering::SeqCst);
    hub.publish(report(&[("a", Status::Dirty), ("b", Status::Clean)]));
    assert!(!ready_now(sub.woken()), "the reader is not woken for what the sink wrote");
    let mut out = Vec::new();
    assert_eq!(sub.take(&mut out, 64), Ok(0), "nothing is left queued");
    let written = std::mem::take(&mut *sink.written.lock().expect("lock"));
    assert_eq!(written.len(), 1);
    for delivery in &written[0] {
        client.apply(&delivery.bytes);
    }
    client.assert_matches(&hub);

    // The reader holds the turn (the sink refuses): queued, and the reader is woken.
    sink.open.store(false, std::sync::atomic::Ordering::SeqCst);
    hub.publish(report(&[("a", Status::Missing), ("b", Status::Clean)]));
    assert!(ready_now(sub.woken()));
    assert!(sink.written.lock().expect("lock").is_empty());
    let mut out = Vec::new();
    assert!(sub.take(&mut out, 64).is_ok_and(|n| n >= 1), "the change is queued");
    for delivery in &out {
        client.apply(&delivery.bytes);
    }
    client.assert_matches(&hub);

    // A control message waiting goes first, through the reader: the publish is not direct.
    sink.open.store(true, std::sync::atomic::Ordering::SeqCst);
    sub.push_control(bytes::Bytes::from_static(br#"{"type":"pong"}"#));
    assert!(ready_now(sub.woken()));
    hub.publish(report(&[("a", Status::Clean), ("b", Status::Clean)]));
    assert!(sink.written.lock().expect("lock").is_empty());
    let mut out = Vec::new();
    assert!(sub.take(&mut out, 64).is_ok_and(|n| n >= 2), "the pong, then the change");
    assert_eq!(out[0].kind, DeliveryKind::Control);
    assert_eq!(out[1].kind, DeliveryKind::Live);
}

/// A change queued while the reader held the turn goes out with the next publish the sink
/// takes, in one batch and in order: the sink gets its own queue then, not just the publish.
#[test]
fn a_sink_claimed_behind_a_queued_change_writes_the_queue_and_the_publish_in_order() {
    let (hub, sub, mut client, sink) = subscribed_with_sink();

    hub.publish(report(&[("a", Status::Dirty), ("b", Status::Clean)]));
    assert!(sink.written.lock().expect("lock").is_empty(), "the reader's turn: queued");
    sink.open.store(true, std::sync::atomic::Ordering::SeqCst);
    hub.publish(report(&[("a", Status::Dirty), ("b", Status::Missing)]));
    let written = std::mem::take(&mut *sink.written.lock().expect("lock"));
    assert_eq!(written.len(), 1, "one write");
    let seqs: Vec<u64> =
        written[0].iter().filter_map(|delivery| delivery.cursor.map(|c| c.seq)).collect();
    assert!(seqs.len() >= 2 && seqs.windows(2).all(|w| w[1] == w[0] + 1), "in order: {seqs:?}");
    for delivery in &written[0] {
        client.apply(&delivery.bytes);
    }
    client.assert_matches(&hub);
    let mut out = Vec::new();
    assert_eq!(sub.take(&mut out, 64), Ok(0), "nothing is left queued");
}

#[test]
fn a_fan_out_shared_with_a_second_thread_writes_every_sink_once() {
    let hub = pinned(&HubConfig::default());
    hub.publish(report(&[("a", Status::Clean)]));
    let n = SINKS_SHARED_FROM + 500;
    let mut subs = Vec::with_capacity(n);
    let mut sinks = Vec::with_capacity(n);
    for _ in 0..n {
        let sub = hub.subscribe(None);
        let mut out = Vec::new();
        assert_eq!(sub.take(&mut out, 64), Ok(1), "the snapshot");
        let sink = Arc::new(RecordingSink::default());
        sink.open.store(true, std::sync::atomic::Ordering::SeqCst);
        sub.set_sink(sink.clone());
        subs.push(sub);
        sinks.push(sink);
    }
    hub.publish(report(&[("a", Status::Dirty)]));
    for (i, sink) in sinks.iter().enumerate() {
        let written = sink.written.lock().expect("lock");
        assert_eq!(written.len(), 1, "sink {i} was written once");
        assert!(sink.open.load(std::sync::atomic::Ordering::SeqCst), "and given back");
    }
}
