//! The engine against a real redis-server: publish and follow, the lease and its fencing,
//! takeover, Redis restarted empty, Redis paused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_diff::same_state;
use gitops_engine::{
    EngineOptions, Error, Followed, Follower, Lease, RedisEngine, RedisLog, SharedLease,
};
use gitops_feed::Log as _;
use gitops_hub::{Hub, HubConfig, Published};
use gitops_protocol::Cursor;
use gitops_report::{Report, Status, generate_report};

use server::RedisServer;

/// Every wait in these tests is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

fn options(name: &str) -> EngineOptions {
    EngineOptions {
        name: name.to_owned(),
        connect_timeout: Duration::from_millis(500),
        io_timeout: Duration::from_millis(500),
        block: Duration::from_millis(300),
        backoff_min: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..EngineOptions::default()
    }
}

fn engine(server: &RedisServer) -> Arc<RedisEngine> {
    Arc::new(RedisEngine::connect(&server.url(), options("test")).expect("a valid url"))
}

/// The `n`th version of a 30-repository report: repository `n % 30` flips its status.
fn version(n: usize) -> Report {
    let mut report = generate_report(30, 7);
    for i in 0..n {
        let repo = &mut report.repos[i % 30];
        repo.status = if repo.status == Status::Clean { Status::Dirty } else { Status::Clean };
    }
    report
}

/// A writing instance: a hub whose log is Redis, under a shared lease.
struct Writer {
    hub: Arc<Hub>,
    log: RedisLog,
    lease: SharedLease,
}

impl Writer {
    fn new(engine: &Arc<RedisEngine>, lease: Option<Lease>, hub: Arc<Hub>) -> Self {
        let lease: SharedLease = Arc::new(Mutex::new(lease));
        Self { hub, log: RedisLog::new(engine.clone(), lease.clone()), lease }
    }

    /// Publishes `report`; whether the log kept it.
    fn publish(&mut self, report: Report) -> bool {
        let mut kept = true;
        let log = &mut self.log;
        self.hub.publish_with(report, |commit| {
            kept = log.commit(commit).is_ok();
            kept
        });
        kept
    }
}

/// Applies what `follower` yields to `hub` until `done(hub)` holds; returns the items seen.
async fn follow_until(
    follower: &mut Follower,
    hub: &Hub,
    done: impl Fn(&Hub) -> bool,
) -> Vec<&'static str> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    while !done(hub) {
        let item = tokio::time::timeout_at(deadline, follower.next()).await.unwrap_or_else(|_| {
            panic!("not done within {WAIT:?}; seen {seen:?}, hub at {:?}", hub.cursor())
        });
        seen.push(apply(hub, item));
    }
    seen
}

fn apply(hub: &Hub, item: Followed) -> &'static str {
    match item {
        Followed::Messages { epoch, first_seq, messages } => {
            hub.follow_messages(epoch, first_seq, &messages).expect("followed messages apply");
            "messages"
        }
        Followed::Reset { cursor, state } => {
            hub.follow_reset(cursor, *state).expect("a reset applies");
            "reset"
        }
        Followed::Unavailable { .. } => "unavailable",
        Followed::Available => "available",
    }
}

fn at(cursor: Option<Cursor>) -> impl Fn(&Hub) -> bool {
    move |hub| hub.cursor().is_some() && hub.cursor() == cursor
}

fn same_as(writer: &Hub, follower: &Hub) -> bool {
    let (a, b) = (writer.current().expect("writer state"), follower.current().expect("state"));
    a.0 == b.0 && same_state(&a.1, &b.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_published_once_reaches_every_instance() {
    let server = RedisServer::start();
    let writer_engine = engine(&server);
    let lease = writer_engine.acquire_lease("writer", Duration::from_secs(30)).unwrap();
    assert!(lease.is_some());
    let mut writer = Writer::new(&writer_engine, lease, Hub::new(HubConfig::default()));
    assert!(writer.publish(version(0)));

    let mut instances: Vec<(Follower, Arc<Hub>)> =
        (0..3).map(|_| (engine(&server).follow(None), Hub::new(HubConfig::default()))).collect();
    for (follower, hub) in &mut instances {
        let seen = follow_until(follower, hub, at(writer.hub.cursor())).await;
        assert_eq!(seen, ["reset"], "a new follower starts from the state");
    }
    for n in 1..5 {
        assert!(writer.publish(version(n)));
    }
    for (follower, hub) in &mut instances {
        let seen = follow_until(follower, hub, at(writer.hub.cursor())).await;
        assert!(seen.iter().all(|s| *s == "messages"), "{seen:?}");
        assert!(same_as(&writer.hub, hub));
        // The same resume answer on every instance.
        let since = Some(Cursor::new(hub.epoch(), 2));
        assert_eq!(hub.answer(since).messages, writer.hub.answer(since).messages);
    }
    // The writer following its own log changes nothing: a follower started from its cursor
    // (past Redis's checkpoint, at its head) reads the writer's next messages, which the
    // writer's hub already has, without a reset.
    let mut own = writer_engine.follow(writer.hub.cursor());
    assert!(writer.publish(version(5)));
    let item = tokio::time::timeout(WAIT, own.next()).await.expect("an item");
    let Followed::Messages { epoch, first_seq, messages } = item else { panic!("{item:?}") };
    assert_eq!(
        writer.hub.follow_messages(epoch, first_seq, &messages).unwrap(),
        Published::Unchanged
    );
    assert_eq!(
        writer.hub.cursor(),
        Some(Cursor::new(epoch, first_seq + messages.len() as u64 - 1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_lease_holder_publishes() {
    let server = RedisServer::start();
    let (a, b) = (engine(&server), engine(&server));
    let lease_a = a.acquire_lease("a", Duration::from_secs(30)).unwrap().expect("free");
    assert_eq!(b.acquire_lease("b", Duration::from_secs(30)).unwrap(), None, "held by a");
    // The same owner asking again keeps its token.
    assert_eq!(
        a.acquire_lease("a", Duration::from_secs(30)).unwrap().map(|l| l.token),
        Some(lease_a.token)
    );

    let mut writer_a = Writer::new(&a, Some(lease_a.clone()), Hub::new(HubConfig::default()));
    assert!(writer_a.publish(version(0)));
    assert!(writer_a.publish(version(1)));
    let cursor = a.cursor().unwrap();
    assert_eq!(cursor, writer_a.hub.cursor());

    // b, following, tries to publish with a's token under its own name, or with no lease.
    let hub_b = Hub::new(HubConfig::default());
    follow_until(&mut b.follow(None), &hub_b, at(cursor)).await;
    let forged = Lease { owner: "b".to_owned(), ..lease_a.clone() };
    let mut refused = None;
    hub_b.publish_with(version(2), |commit| {
        refused = Some(b.publish(&forged, commit));
        false
    });
    assert!(matches!(refused, Some(Err(Error::Fenced { .. }))), "{refused:?}");
    let mut writer_b = Writer::new(&b, None, hub_b);
    assert!(!writer_b.publish(version(3)));
    assert_eq!(b.cursor().unwrap(), cursor, "nothing reached redis");
    // a goes on.
    assert!(writer_a.publish(version(2)));
    assert!(a.release_lease(&lease_a).unwrap());
    assert!(!a.renew_lease(&lease_a).unwrap(), "released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_takes_over_when_the_lease_expires_and_continues_the_epoch() {
    let server = RedisServer::start();
    let (a, b) = (engine(&server), engine(&server));
    let ttl = Duration::from_millis(500);
    let lease_a = a.acquire_lease("a", ttl).unwrap().expect("free");
    let mut writer_a = Writer::new(&a, Some(lease_a.clone()), Hub::new(HubConfig::default()));
    for n in 0..3 {
        assert!(writer_a.publish(version(n)));
    }
    let hub_b = Hub::new(HubConfig::default());
    let mut follower_b = b.follow(None);
    follow_until(&mut follower_b, &hub_b, at(writer_a.hub.cursor())).await;

    // a stops renewing (it died); b tries every 50 ms, as a lease keeper would.
    let started = Instant::now();
    let lease_b = loop {
        if let Some(lease) = b.acquire_lease("b", ttl).unwrap() {
            break lease;
        }
        assert!(started.elapsed() < WAIT, "b never got the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(lease_b.token > lease_a.token, "a newer fencing token");
    let mut writer_b = Writer::new(&b, Some(lease_b), hub_b.clone());
    let before = b.cursor().unwrap().expect("a cursor");
    assert!(writer_b.publish(version(3)));
    let after = b.cursor().unwrap().expect("a cursor");
    assert_eq!(after.epoch, before.epoch, "the same epoch goes on");
    assert_eq!(after, hub_b.cursor().expect("published"));
    assert!(after.seq > before.seq);
    // a wakes up and tries: fenced, and nothing reaches redis.
    assert!(!writer_a.publish(version(9)));
    assert_eq!(b.cursor().unwrap(), Some(after));
    // A fresh follower sees b's state under the old epoch.
    let hub_c = Hub::new(HubConfig::default());
    follow_until(&mut engine(&server).follow(None), &hub_c, at(Some(after))).await;
    assert!(same_as(&hub_b, &hub_c));
}

#[test]
fn a_writer_paused_past_its_lease_cannot_publish_when_it_wakes() {
    let server = RedisServer::start();
    let (a, b) = (engine(&server), engine(&server));
    let ttl = Duration::from_millis(300);
    let lease_a = a.acquire_lease("a", ttl).unwrap().expect("free");
    let hub_a = Hub::new(HubConfig::default());
    let mut writer_a = Writer::new(&a, Some(lease_a), hub_a);
    assert!(writer_a.publish(version(0)));
    // a's thread is paused mid-publish (a GC pause, a SIGSTOP): it holds the commit while its
    // lease runs out and b takes over.
    let paused = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(900));
        writer_a.publish(version(1))
    });
    let started = Instant::now();
    let lease_b = loop {
        if let Some(lease) = b.acquire_lease("b", Duration::from_secs(30)).unwrap() {
            break lease;
        }
        assert!(started.elapsed() < WAIT, "b never got the lease");
        std::thread::sleep(Duration::from_millis(20));
    };
    let before = b.cursor().unwrap();
    assert!(!paused.join().expect("the paused writer"), "the paused writer's publish is fenced");
    assert_eq!(b.cursor().unwrap(), before, "nothing of the paused writer reached redis");
    assert!(b.renew_lease(&lease_b).unwrap(), "b still holds the lease");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_empty_means_a_new_epoch_and_snapshots() {
    let mut server = RedisServer::start();
    let writer_engine = engine(&server);
    let owner = "writer";
    let lease = writer_engine.acquire_lease(owner, Duration::from_secs(30)).unwrap();
    let mut writer = Writer::new(&writer_engine, lease, Hub::new(HubConfig::default()));
    for n in 0..3 {
        assert!(writer.publish(version(n)));
    }
    let old = writer.hub.cursor().expect("published");
    let hub = Hub::new(HubConfig::default());
    let mut follower = engine(&server).follow(None);
    follow_until(&mut follower, &hub, at(Some(old))).await;
    let subscriber = hub.subscribe(Some(old));

    server.restart_empty();
    // The old lease went with the data: the writer takes a new one, and its next commit finds
    // Redis empty: Diverged, so Redis gets the state under a fresh epoch at once.
    let lease = writer_engine.acquire_lease(owner, Duration::from_secs(30)).unwrap().expect("free");
    let direct = {
        // A hub of the old epoch continuing it, as the writer's does.
        let mut result = None;
        let probe = Hub::new(HubConfig { epoch: Some(old.epoch), ..HubConfig::default() });
        probe.publish(version(2));
        probe.publish_with(version(3), |commit| {
            result = Some(writer_engine.publish(&lease, commit));
            true
        });
        result
    };
    assert!(matches!(direct, Some(Err(Error::Diverged { redis_cursor: None }))), "{direct:?}");
    *writer.lease.lock().unwrap() = Some(lease);
    assert!(!writer.publish(version(4)), "the commit that found redis diverged is an error");
    let redis_cursor = writer_engine.cursor().unwrap().expect("a new epoch began");
    assert_ne!(redis_cursor.epoch, old.epoch);

    let seen = follow_until(&mut follower, &hub, at(Some(redis_cursor))).await;
    assert!(seen.contains(&"reset"), "{seen:?}");
    assert_ne!(hub.epoch(), old.epoch);
    assert!(same_state(&hub.current().unwrap().1, &version(4)));
    // The follower's subscriber gets one snapshot of the new epoch, never a mix.
    let mut last = None;
    while let gitops_hub::Next::Message(delivery) = subscriber.try_next() {
        last = Some(delivery);
    }
    let last = last.expect("a snapshot");
    assert_eq!(last.kind, gitops_hub::DeliveryKind::Answer(gitops_hub::AnswerKind::Snapshot));
    assert_eq!(last.cursor, Some(redis_cursor));

    // The writer's next commit begins its own new epoch (its hub moved on), and the follower
    // resets once more to it.
    assert!(writer.publish(version(5)));
    let now = writer_engine.cursor().unwrap();
    assert_eq!(now, writer.hub.cursor());
    follow_until(&mut follower, &hub, at(now)).await;
    assert!(same_as(&writer.hub, &hub));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_paused_makes_followers_unavailable_then_they_catch_up_without_loss() {
    let server = RedisServer::start();
    let writer_engine = engine(&server);
    let lease = writer_engine.acquire_lease("writer", Duration::from_secs(60)).unwrap();
    let mut writer = Writer::new(&writer_engine, lease, Hub::new(HubConfig::default()));
    assert!(writer.publish(version(0)));
    let hub = Hub::new(HubConfig::default());
    let mut follower = engine(&server).follow(None);
    follow_until(&mut follower, &hub, at(writer.hub.cursor())).await;
    let epoch = hub.epoch();

    server.pause();
    let item = tokio::time::timeout(WAIT, follower.next()).await.expect("noticed within the wait");
    assert!(matches!(item, Followed::Unavailable { .. }), "{item:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.resume();
    // Changes made once Redis is back reach the follower as messages of the same epoch.
    for n in 1..4 {
        assert!(writer.publish(version(n)), "publishes once redis is back");
    }
    let seen = follow_until(&mut follower, &hub, at(writer.hub.cursor())).await;
    assert!(seen.contains(&"available"), "{seen:?}");
    assert!(!seen.contains(&"reset"), "caught up without a snapshot: {seen:?}");
    assert_eq!(hub.epoch(), epoch);
    assert!(same_as(&writer.hub, &hub));
}

/// A Redis connection of the test's own.
fn redis_connection(server: &RedisServer) -> redis::Connection {
    redis::Client::open(server.url()).unwrap().get_connection().unwrap()
}

/// The state is stored now and then, not with every publish; a new follower starts from that
/// checkpoint and reads the stream after it to the head; followers past the checkpoint (a
/// reconnect, a new follower from a hub's cursor) read on without a reset and do not take the
/// older checkpoint for lost writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_now_and_then_and_followers_start_from_them_exactly() {
    let server = RedisServer::start();
    let every = 5;
    let writer_engine = Arc::new(
        RedisEngine::connect(
            &server.url(),
            EngineOptions { checkpoint_messages: every, ..options("test") },
        )
        .expect("a valid url"),
    );
    let lease = writer_engine.acquire_lease("writer", Duration::from_secs(60)).unwrap();
    let mut writer = Writer::new(&writer_engine, lease, Hub::new(HubConfig::default()));
    let mut checkpoints = std::collections::BTreeSet::new();
    for n in 0..12 {
        assert!(writer.publish(version(n)));
        let head = writer_engine.cursor().unwrap().expect("a head");
        let checkpoint = writer_engine.snapshot().unwrap().expect("a checkpoint").cursor;
        assert_eq!(head.epoch, checkpoint.epoch);
        assert!(head.seq - checkpoint.seq < every + 2, "{checkpoint} is too far behind {head}");
        checkpoints.insert(checkpoint.seq);
    }
    let head = writer.hub.cursor();
    assert!(
        checkpoints.len() >= 2 && checkpoints.len() < 12,
        "stored now and then, not every time: {checkpoints:?}"
    );

    // A new follower: the checkpoint, then the messages after it.
    let hub = Hub::new(HubConfig::default());
    let mut follower = engine(&server).follow(None);
    let seen = follow_until(&mut follower, &hub, at(head)).await;
    assert_eq!(seen.first(), Some(&"reset"), "{seen:?}");
    assert!(same_as(&writer.hub, &hub));

    // Every connection cut: the follower reconnects past the checkpoint and reads on; the
    // writer continues the epoch (nothing was poisoned).
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut redis_connection(&server))
        .unwrap();
    assert!(killed >= 2, "the writer's and the follower's connections ({killed})");
    for n in 12..15 {
        assert!(writer.publish(version(n)), "the writer continues its epoch");
    }
    let seen = follow_until(&mut follower, &hub, at(writer.hub.cursor())).await;
    assert!(!seen.contains(&"reset"), "{seen:?}");
    assert_eq!(hub.epoch(), writer.hub.epoch());
    assert!(same_as(&writer.hub, &hub));

    // A new follower from that hub's cursor, past the checkpoint (publish until the checkpoint
    // is the head, so that the next publish does not store one): no reset either.
    let mut n = 15;
    while writer_engine.snapshot().unwrap().map(|s| s.cursor) != writer_engine.cursor().unwrap() {
        assert!(writer.publish(version(n)));
        n += 1;
        assert!(n < 40, "no checkpoint within 25 publishes");
    }
    follow_until(&mut follower, &hub, at(writer.hub.cursor())).await;
    drop(follower);
    let mut follower = engine(&server).follow(hub.cursor());
    assert!(writer.publish(version(n)));
    let checkpoint = writer_engine.snapshot().unwrap().expect("a checkpoint").cursor;
    let (past, writer_at) = (hub.cursor().expect("a cursor"), writer.hub.cursor().expect("one"));
    assert!(checkpoint.seq <= past.seq && past.seq < writer_at.seq, "{checkpoint} {past}");
    let seen = follow_until(&mut follower, &hub, at(writer.hub.cursor())).await;
    assert!(seen.iter().all(|s| *s == "messages"), "{seen:?}");
    assert!(same_as(&writer.hub, &hub));
}
