//! The dispatcher over real sockets: retries until a sink returns, lanes that do not wait on each
//! other, dead letters, and one message per audit run.

use std::sync::Arc;
use std::time::Duration;

use gitops_notify::{
    Destination, DispatchConfig, Dispatcher, DispatcherHandle, MemoryOutbox, Notifier, Outbox,
    Sender, SenderConfig,
};
use gitops_report::Status;
use tokio::net::TcpListener;

use crate::support::{Sink, at, config, digest_of_missing, report, silent_server};

fn dispatcher(
    outbox: &Arc<MemoryOutbox>,
    destinations: &[(&str, String)],
    timeout: Option<Duration>,
    config: DispatchConfig,
) -> DispatcherHandle {
    let destinations =
        destinations.iter().map(|(id, url)| ((*id).to_owned(), Destination::parse(url).unwrap()));
    let sender = Sender::new(SenderConfig { timeout, ..SenderConfig::default() }).unwrap();
    let outbox: Arc<dyn Outbox> = Arc::clone(outbox) as Arc<dyn Outbox>;
    Dispatcher::new(outbox, sender, destinations, config).spawn()
}

/// Waits (on tokio's clock, which may be paused) until `done`, checking ten times a second, for
/// at most `seconds`.
async fn until(seconds: u32, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..seconds * 10 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_is_down_gets_the_digest_once_it_returns() {
    // A port with nothing listening: connections are refused until the sink starts on it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let outbox = Arc::new(MemoryOutbox::new(16));
    let config = DispatchConfig { max_attempts: 40, ..DispatchConfig::default() };
    // No per-request timer: on paused time it would fire while a real socket is pending.
    let handle = dispatcher(&outbox, &[("ntfy", format!("ntfy://{addr}/alerts"))], None, config);
    let queued = handle.submit(&digest_of_missing(2));
    let id = *queued[0].1.as_ref().unwrap();

    // Three refused attempts, each after a backoff that paused time skips (no real sleeping).
    let refused =
        until(3600, || outbox.pending().first().is_some_and(|item| item.attempts >= 3)).await;
    assert!(refused, "three attempts were made: {:?}", outbox.pending());
    assert!(outbox.delivered_ids().is_empty());

    let mut sink = Sink::on(TcpListener::bind(addr).await.unwrap());
    let delivered = until(4 * 3600, || !outbox.delivered_ids().is_empty()).await;
    assert!(delivered, "delivered after the sink returned: {:?}", outbox.pending());
    assert_eq!(outbox.delivered_ids()[0].0, id);
    assert!(outbox.dead_letters().is_empty());
    let request = sink.next().await;
    assert_eq!(request.json()["topic"], "alerts");
    handle.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_destination_down_for_good_ends_as_a_dead_letter_after_max_attempts() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let outbox = Arc::new(MemoryOutbox::new(16));
    let config = DispatchConfig { max_attempts: 4, ..DispatchConfig::default() };
    let handle = dispatcher(&outbox, &[("hook", format!("http://{addr}/x"))], None, config);
    handle.submit(&digest_of_missing(1));
    assert!(until(4 * 3600, || !outbox.dead_letters().is_empty()).await);
    let dead = &outbox.dead_letters()[0];
    assert_eq!(dead.item.attempts, 4);
    assert!(dead.error.starts_with("could not connect"), "{}", dead.error);
    assert!(outbox.pending().is_empty());
    handle.shutdown().await;
}

#[tokio::test]
async fn a_silent_destination_does_not_delay_another() {
    let (silent, _silent_task) = silent_server().await;
    let mut sink = Sink::start().await;
    let outbox = Arc::new(MemoryOutbox::new(16));
    let destinations = [
        ("a-silent", format!("http://{silent}/hook")),
        ("b-fast", format!("apprise://{}/key", sink.addr)),
    ];
    // The silent one would hold its lane for a minute; the other must not wait for it.
    let handle = dispatcher(
        &outbox,
        &destinations,
        Some(Duration::from_secs(60)),
        DispatchConfig::default(),
    );
    handle.submit(&digest_of_missing(1));

    let request = sink.next().await;
    assert_eq!(request.path, "/notify/key");
    assert!(until(10, || outbox.delivered_ids().len() == 1).await);
    let pending = outbox.pending();
    assert_eq!(pending.len(), 1, "the silent destination's item is still in flight");
    assert_eq!((pending[0].destination.as_str(), pending[0].attempts), ("a-silent", 0));
    // Shutting down drops the attempt in flight; the item stays for the next run.
    handle.shutdown().await;
    assert_eq!(outbox.pending().len(), 1);
}

#[tokio::test]
async fn a_permanent_refusal_is_a_dead_letter_after_one_attempt() {
    let sink = Sink::start().await;
    sink.status.store(401, std::sync::atomic::Ordering::SeqCst);
    let outbox = Arc::new(MemoryOutbox::new(16));
    let url = format!("gotify://{}/wrong-token", sink.addr);
    let handle = dispatcher(&outbox, &[("gotify", url)], None, DispatchConfig::default());
    handle.submit(&digest_of_missing(1));
    assert!(until(10, || !outbox.dead_letters().is_empty()).await);
    let dead = &outbox.dead_letters()[0];
    assert_eq!(dead.item.attempts, 1);
    assert_eq!(dead.error, "the destination answered 401");
    assert!(!dead.error.contains("wrong-token"));
    handle.shutdown().await;
}

#[tokio::test]
async fn fifty_repositories_changing_in_one_audit_send_one_message_per_destination() {
    let mut sink = Sink::start().await;
    let outbox = Arc::new(MemoryOutbox::new(16));
    let destinations = [
        ("hook", format!("http://{}/hook", sink.addr)),
        ("slack", format!("slack://A/B/C?base=http://{}", sink.addr)),
    ];
    let handle = dispatcher(&outbox, &destinations, None, DispatchConfig::default());

    let names: Vec<String> = (0..50).map(|i| format!("repo-{i:02}")).collect();
    let before: Vec<(String, Status)> = names.iter().map(|n| (n.clone(), Status::Clean)).collect();
    let after: Vec<(String, Status)> = names.iter().map(|n| (n.clone(), Status::Missing)).collect();
    let mut notifier = Notifier::new(config());
    let mut digests = Vec::new();
    digests.extend(notifier.observe(None, &report(&before), None, "1:1", at(0)));
    digests.extend(notifier.observe(
        Some(&report(&before)),
        &report(&after),
        Some("1:1"),
        "1:2",
        at(1),
    ));
    assert_eq!(digests.len(), 1);
    handle.submit(&digests[0]);

    assert!(until(10, || outbox.delivered_ids().len() == 2).await);
    let mut paths = [sink.next().await, sink.next().await];
    paths.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(paths[0].path, "/hook");
    assert_eq!(paths[0].json()["groups"][0]["count"], 50);
    assert_eq!(paths[0].json()["groups"][0]["repos"].as_array().unwrap().len(), 50);
    assert_eq!(paths[1].path, "/services/A/B/C");
    assert!(paths[1].json()["text"].as_str().unwrap().contains("- and 30 more"));
    handle.shutdown().await;
    assert!(sink.received.try_recv().is_err(), "one message each, nothing more");
}

#[tokio::test]
async fn a_flapping_repository_sends_one_message() {
    let mut sink = Sink::start().await;
    let outbox = Arc::new(MemoryOutbox::new(64));
    let handle = dispatcher(
        &outbox,
        &[("hook", format!("http://{}/hook", sink.addr))],
        None,
        DispatchConfig::default(),
    );
    let mut notifier = Notifier::new(config());
    let mut previous = report(&[("halo".to_owned(), Status::Clean)]);
    notifier.observe(None, &previous, None, "1:0", at(0));
    // An audit every minute for 9 minutes, flipping between missing and clean.
    for minute in 1..=9u64 {
        let status = if minute % 2 == 1 { Status::Missing } else { Status::Clean };
        let next = report(&[("halo".to_owned(), status)]);
        let (from, to) = (format!("1:{}", minute - 1), format!("1:{minute}"));
        if let Some(digest) = notifier.observe(Some(&previous), &next, Some(&from), &to, at(minute))
        {
            handle.submit(&digest);
        }
        previous = next;
    }
    assert!(until(10, || outbox.delivered_ids().len() == 1).await);
    let request = sink.next().await;
    assert_eq!(request.json()["groups"][0]["repos"][0]["to"], "missing");
    handle.shutdown().await;
    assert!(sink.received.try_recv().is_err(), "the flips back were not sent");
    assert_eq!(outbox.delivered_ids().len(), 1);
}
