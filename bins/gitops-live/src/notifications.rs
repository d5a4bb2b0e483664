//! Notifications: the destinations on the command line (or config file), the rules, and the
//! tasks that feed `gitops-notify`'s [`Notifier`] with every published report and every change of
//! the source's health, submit its digests to the [`Dispatcher`], and tick it once a minute (so
//! "dirty for an hour" and recoveries go out on time).
//!
//! The report is followed as a hub subscriber would: each wake-up compares the state before with
//! the current one, so a burst of publishes is one observation and one message. Nothing here runs
//! on the publish path: a slow destination, or the outbox, never delays a client.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use gitops_feed::Feed;
use gitops_hub::Next;
use gitops_notify::{
    Destination, Digest, DispatchConfig, Dispatcher, DispatcherHandle, MemoryOutbox, Notifier,
    NotifierConfig, NotifierState, Outbox, OutboxError, OutboxId, OutboxItem, Rendered, Retry,
    Rules, Secret, Sender, SenderConfig,
};
use gitops_protocol::ReportState;
use gitops_report::{Report, Status};
use gitops_transport::{Notifications, NotifyError};

use crate::cli;

/// Where notifications go and when (see `docs/operations.md`, "Notifications").
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct NotifyArgs {
    /// A destination, as an Apprise-style URL: https://… (a JSON webhook), ntfy://…, gotify://…,
    /// apprise://…, slack://…, discord://…, mmost://…, mailto://…. Repeat for more (in the
    /// environment, separate them with spaces). URLs hold secrets: prefer --notify-url-file.
    #[arg(
        long = "notify-url",
        env = "GITOPS_NOTIFY_URLS",
        value_delimiter = ' ',
        value_name = "URL",
        hide_env_values = true
    )]
    pub(crate) urls: Vec<String>,
    /// A file of destinations, one URL per line (`#` starts a comment).
    #[arg(long, env = "GITOPS_NOTIFY_URL_FILE", value_name = "FILE")]
    pub(crate) notify_url_file: Option<PathBuf>,
    /// File holding the shared secret webhooks are signed with (X-Gitops-Signature-256).
    #[arg(long, env = "GITOPS_NOTIFY_SECRET_FILE", value_name = "FILE")]
    pub(crate) notify_secret_file: Option<PathBuf>,
    /// PEM file of certificates to trust for https destinations besides the public roots (a
    /// homelab CA, or a self-hosted ntfy/Gotify's self-signed certificate).
    #[arg(long, env = "GITOPS_NOTIFY_CA_FILE", value_name = "FILE")]
    pub(crate) notify_ca_file: Option<PathBuf>,
    /// The dashboard's address as people open it (e.g. `https://gitops.lan`): messages link to it.
    #[arg(long, env = "GITOPS_DASHBOARD_URL", value_name = "URL")]
    pub(crate) dashboard_url: Option<String>,
    /// How long a repository must stay dirty before it is notified (0s: at once).
    #[arg(long, env = "GITOPS_NOTIFY_DIRTY_AFTER", value_name = "DURATION", default_value = "1h", value_parser = cli::duration)]
    pub(crate) notify_dirty_after: Duration,
    /// How long an extra folder must stay before it is notified.
    #[arg(long, env = "GITOPS_NOTIFY_EXTRA_AFTER", value_name = "DURATION", default_value = "1h", value_parser = cli::duration)]
    pub(crate) notify_extra_after: Duration,
    /// A repository that flips back within this window is not notified.
    #[arg(long, env = "GITOPS_NOTIFY_FLAP_WINDOW", value_name = "DURATION", default_value = "10m", value_parser = cli::duration)]
    pub(crate) notify_flap_window: Duration,
    /// How long the report may fail to parse before it is notified.
    #[arg(long, env = "GITOPS_NOTIFY_FAILING_AFTER", value_name = "DURATION", default_value = "15m", value_parser = cli::duration)]
    pub(crate) notify_failing_after: Duration,
    /// Do not send recoveries (a repository clean again, the report readable again).
    #[arg(long, env = "GITOPS_NOTIFY_NO_RECOVERIES")]
    pub(crate) notify_no_recoveries: bool,
}

/// The destinations by their ids: `<kind>-<8 hex digits of the URL's hash>`, stable across
/// restarts (the outbox keeps ids, never URLs) and never showing the URL.
pub(crate) fn destinations(args: &NotifyArgs) -> anyhow::Result<Vec<(String, Destination)>> {
    let mut urls = args.urls.clone();
    if let Some(path) = &args.notify_url_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the notification URLs in {}", path.display()))?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_owned),
        );
    }
    let secret = match &args.notify_secret_file {
        Some(path) => Some(Secret::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the webhook secret in {}", path.display()))?
                .trim()
                .to_owned(),
        )),
        None => None,
    };
    let mut out = Vec::new();
    for (index, url) in urls.iter().filter(|u| !u.trim().is_empty()).enumerate() {
        let destination = Destination::parse(url.trim())
            .map_err(|e| anyhow::anyhow!("notification destination {}: {e}", index + 1))?;
        let destination = match (&secret, destination.kind()) {
            (Some(secret), gitops_notify::DestinationKind::Webhook) => {
                destination.with_secret(secret.clone()).map_err(|e| anyhow::anyhow!("{e}"))?
            }
            _ => destination,
        };
        let id = format!("{}-{:08x}", kind_name(&destination), fnv(url.trim()));
        if !out.iter().any(|(existing, _)| *existing == id) {
            out.push((id, destination));
        }
    }
    Ok(out)
}

fn kind_name(destination: &Destination) -> String {
    format!("{:?}", destination.kind()).to_ascii_lowercase()
}

/// FNV-1a, 32 bits: a short stable id, not a security measure.
fn fnv(text: &str) -> u32 {
    text.bytes()
        .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

fn rules(args: &NotifyArgs) -> Rules {
    let mut rules = Rules::default();
    rules.problems.insert(Status::Dirty, args.notify_dirty_after);
    rules.problems.insert(Status::Extra, args.notify_extra_after);
    rules.flap_window = args.notify_flap_window;
    rules.report_failed_after = args.notify_failing_after;
    rules.recoveries = !args.notify_no_recoveries;
    rules
}

/// The durable queue behind the dispatcher, with what the dashboard shows of it.
pub(crate) trait Queue: Outbox + std::fmt::Debug {
    /// The newest deliveries (pending, delivered and dead), newest first.
    fn recent(&self, limit: usize) -> Result<Vec<Delivery>, String>;
    /// A dead letter back in the queue.
    fn requeue(&self, id: OutboxId, now: SystemTime) -> Result<(), String>;
    /// The notifier's state kept across restarts (JSON), if any.
    fn load_state(&self) -> Option<String>;
    /// Keeps the notifier's state.
    fn save_state(&self, json: &str, now: SystemTime);
    /// How many deliveries are in each state, by destination id.
    fn counts(&self) -> Result<BTreeMap<(String, String), u64>, String>;
}

/// One delivery as the dashboard lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Delivery {
    pub(crate) id: u64,
    pub(crate) destination: String,
    /// `pending`, `delivered` or `dead`.
    pub(crate) state: String,
    pub(crate) attempts: u32,
    pub(crate) created_at: String,
    pub(crate) ended_at: Option<String>,
    pub(crate) last_error: Option<String>,
    /// The message's title or subject, when the payload has one.
    pub(crate) title: Option<String>,
}

pub(crate) fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// The title or subject of a rendered payload.
pub(crate) fn title_of(payload: &[u8]) -> Option<String> {
    match Rendered::from_bytes(payload).ok()? {
        Rendered::Email { subject, .. } => Some(subject),
        Rendered::Json { body } => {
            let value: serde_json::Value = serde_json::from_str(&body).ok()?;
            value.get("title").and_then(|t| t.as_str()).map(str::to_owned)
        }
    }
}

/// The queue in memory (`--state-dir none`): the newest 1,000 deliveries are listed.
#[derive(Debug)]
pub(crate) struct MemoryQueue {
    outbox: MemoryOutbox,
    log: Mutex<VecDeque<Delivery>>,
    dead: Mutex<BTreeMap<OutboxId, OutboxItem>>,
    state: Mutex<Option<String>>,
}

const MEMORY_DELIVERIES: usize = 1_000;

impl MemoryQueue {
    pub(crate) fn new() -> Self {
        Self {
            outbox: MemoryOutbox::new(10_000),
            log: Mutex::new(VecDeque::new()),
            dead: Mutex::new(BTreeMap::new()),
            state: Mutex::new(None),
        }
    }

    fn update(&self, id: OutboxId, change: impl FnOnce(&mut Delivery)) {
        if let Some(entry) = lock(&self.log).iter_mut().find(|d| d.id == id) {
            change(entry);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Outbox for MemoryQueue {
    fn enqueue(
        &self,
        destination: &str,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<OutboxId, OutboxError> {
        let id = self.outbox.enqueue(destination, payload, now)?;
        let mut log = lock(&self.log);
        if log.len() >= MEMORY_DELIVERIES {
            log.pop_front();
        }
        log.push_back(Delivery {
            id,
            destination: destination.to_owned(),
            state: "pending".to_owned(),
            attempts: 0,
            created_at: rfc3339(now),
            ended_at: None,
            last_error: None,
            title: title_of(payload),
        });
        Ok(id)
    }

    fn due(
        &self,
        destination: &str,
        now: SystemTime,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, OutboxError> {
        self.outbox.due(destination, now, limit)
    }

    fn next_due(&self, destination: &str) -> Result<Option<SystemTime>, OutboxError> {
        self.outbox.next_due(destination)
    }

    fn delivered(&self, id: OutboxId, now: SystemTime) -> Result<(), OutboxError> {
        self.outbox.delivered(id, now)?;
        self.update(id, |d| {
            d.state = "delivered".to_owned();
            d.ended_at = Some(rfc3339(now));
        });
        Ok(())
    }

    fn failed(
        &self,
        id: OutboxId,
        error: &str,
        retry: Retry,
        now: SystemTime,
    ) -> Result<(), OutboxError> {
        let item = self.outbox.pending().into_iter().find(|item| item.id == id);
        self.outbox.failed(id, error, retry, now)?;
        if let (Retry::Dead, Some(item)) = (retry, item) {
            lock(&self.dead).insert(id, item);
        }
        self.update(id, |d| {
            d.attempts += 1;
            d.last_error = Some(error.to_owned());
            if retry == Retry::Dead {
                d.state = "dead".to_owned();
                d.ended_at = Some(rfc3339(now));
            }
        });
        Ok(())
    }
}

impl Queue for MemoryQueue {
    fn recent(&self, limit: usize) -> Result<Vec<Delivery>, String> {
        Ok(lock(&self.log).iter().rev().take(limit).cloned().collect())
    }

    fn requeue(&self, id: OutboxId, now: SystemTime) -> Result<(), String> {
        let item = lock(&self.dead).remove(&id).ok_or("no such dead letter")?;
        self.enqueue(&item.destination, &item.payload, now).map_err(|e| e.to_string())?;
        self.update(id, |d| d.state = "requeued".to_owned());
        Ok(())
    }

    fn load_state(&self) -> Option<String> {
        lock(&self.state).clone()
    }

    fn save_state(&self, json: &str, _now: SystemTime) {
        *lock(&self.state) = Some(json.to_owned());
    }

    /// Over the deliveries kept in memory (the most recent ones).
    fn counts(&self) -> Result<BTreeMap<(String, String), u64>, String> {
        let mut counts = BTreeMap::new();
        for delivery in lock(&self.log).iter() {
            *counts.entry((delivery.destination.clone(), delivery.state.clone())).or_insert(0) += 1;
        }
        Ok(counts)
    }
}

/// The running notifications: the notifier, the dispatcher and the queue.
pub(crate) struct Service {
    notifier: Mutex<Notifier>,
    dispatcher: DispatcherHandle,
    queue: Arc<dyn Queue>,
    destinations: Vec<(String, Destination)>,
    dashboard_url: Option<String>,
    feed: Arc<Feed>,
    /// With several instances, only the writer sends (the others keep their notifier's state
    /// current, so a new writer neither repeats nor misses a message).
    sends: Option<gitops_feed::PublishGate>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("destinations", &self.destinations)
            .field("queue", &self.queue)
            .field("shared stream", &self.sends.is_some())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Submits a digest (if any) and keeps the notifier's state.
    fn handle(&self, digest: Option<Digest>, notifier: &Notifier) {
        let digest = digest.filter(|_| self.sends.as_ref().is_none_or(|sends| sends()));
        if let Some(digest) = digest {
            tracing::info!(title = %digest.title(), "notifying");
            for (destination, queued) in self.dispatcher.submit(&digest) {
                if let Err(error) = queued {
                    tracing::warn!(%destination, %error, "cannot queue a notification");
                }
            }
        }
        match serde_json::to_string(notifier.state()) {
            Ok(json) => self.queue.save_state(&json, SystemTime::now()),
            Err(error) => tracing::warn!(%error, "cannot keep the notifier's state"),
        }
    }

    fn observe(&self, before: Option<(&str, &Report)>, cursor: &str, report: &Report) {
        let mut notifier = lock(&self.notifier);
        let (from, prev) = before.map_or((None, None), |(c, r)| (Some(c), Some(r)));
        let digest = notifier.observe(prev, report, from, cursor, SystemTime::now());
        self.handle(digest, &notifier);
    }

    fn with_notifier(&self, call: impl FnOnce(&mut Notifier) -> Option<Digest>) {
        let mut notifier = lock(&self.notifier);
        let digest = call(&mut notifier);
        self.handle(digest, &notifier);
    }
}

impl Notifications for Service {
    fn counts(&self) -> Vec<(String, String, u64)> {
        match self.queue.counts() {
            Ok(counts) => counts.into_iter().map(|((d, state), n)| (d, state, n)).collect(),
            Err(error) => {
                tracing::debug!(%error, "cannot count the deliveries for /metrics");
                Vec::new()
            }
        }
    }

    fn overview(&self) -> Result<serde_json::Value, NotifyError> {
        let deliveries = self.queue.recent(100).map_err(NotifyError::unavailable)?;
        let destinations: Vec<serde_json::Value> = self
            .destinations
            .iter()
            .map(|(id, destination)| {
                serde_json::json!({
                    "id": id,
                    "kind": kind_name(destination),
                    "target": destination.to_string(),
                    "signed": destination.is_signed(),
                })
            })
            .collect();
        let notifier = lock(&self.notifier);
        let snoozes: Vec<serde_json::Value> = notifier
            .snoozed()
            .map(|(repo, until)| serde_json::json!({ "repo": repo, "until": rfc3339(until) }))
            .collect();
        Ok(serde_json::json!({
            "destinations": destinations,
            "deliveries": deliveries,
            "snoozes": snoozes,
            "dashboard_url": self.dashboard_url,
        }))
    }

    fn send_test(&self, destination: Option<&str>) -> Result<serde_json::Value, NotifyError> {
        let chosen: Vec<&(String, Destination)> = self
            .destinations
            .iter()
            .filter(|(id, _)| destination.is_none_or(|wanted| wanted == id))
            .collect();
        if chosen.is_empty() {
            return Err(NotifyError::not_found(
                "unknown-destination",
                format!("no destination {:?}", destination.unwrap_or_default()),
            ));
        }
        let health = self.feed.hub().current().map_or(gitops_report::Health::Green, |(_, r)| {
            r.health_status.clone().unwrap_or_else(|| r.computed_health())
        });
        let now = SystemTime::now();
        let digest = Digest::test(now, health, self.dashboard_url.clone());
        let mut queued = Vec::new();
        for (id, dest) in chosen {
            let payload =
                gitops_notify::render(&digest, dest, &gitops_notify::RenderOptions::default())
                    .to_bytes();
            let item = self
                .queue
                .enqueue(id, &payload, now)
                .map_err(|e| NotifyError::unavailable(e.to_string()))?;
            self.dispatcher.wake(id);
            queued.push(serde_json::json!({ "destination": id, "id": item }));
        }
        Ok(serde_json::json!({ "queued": queued }))
    }

    fn retry(&self, id: u64) -> Result<(), NotifyError> {
        self.queue
            .requeue(id, SystemTime::now())
            .map_err(|message| NotifyError::not_found("not-found", message))?;
        for (destination, _) in &self.destinations {
            self.dispatcher.wake(destination);
        }
        Ok(())
    }

    fn snooze(&self, repo: &str, until: Option<SystemTime>) -> Result<(), NotifyError> {
        self.with_notifier(|notifier| {
            match until {
                Some(until) => notifier.snooze(repo, until),
                None => notifier.unsnooze(repo),
            }
            None
        });
        Ok(())
    }
}

/// Starts notifications when destinations are configured: the dispatcher, and the tasks that
/// follow the report and the source. Returns the service (for the HTTP endpoints), or `None`.
pub(crate) fn start(
    feed: &Arc<Feed>,
    args: &NotifyArgs,
    queue: Arc<dyn Queue>,
    sends: Option<gitops_feed::PublishGate>,
) -> anyhow::Result<Option<Arc<Service>>> {
    let destinations = destinations(args)?;
    if destinations.is_empty() {
        return Ok(None);
    }
    let extra_roots = match &args.notify_ca_file {
        Some(path) => gitops_client::read_ca_file(path)
            .with_context(|| "--notify-ca-file: the certificates to trust".to_owned())?,
        None => Vec::new(),
    };
    let sender = Sender::new(SenderConfig { extra_roots, ..SenderConfig::default() })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let dispatcher = Dispatcher::new(
        queue.clone() as Arc<dyn Outbox>,
        sender,
        destinations.clone(),
        DispatchConfig::default(),
    )
    .spawn();
    let config = NotifierConfig {
        rules: rules(args),
        dashboard_url: args.dashboard_url.clone(),
        history: feed.has_history(),
    };
    let state =
        queue.load_state().and_then(|json| serde_json::from_str::<NotifierState>(&json).ok());
    let resumed = state.is_some();
    let notifier = match state {
        Some(state) => Notifier::with_state(config, state),
        None => Notifier::new(config),
    };
    let names: Vec<String> = destinations.iter().map(|(id, d)| format!("{id} ({d})")).collect();
    tracing::info!(destinations = ?names, resumed, "notifications are on");
    let service = Arc::new(Service {
        notifier: Mutex::new(notifier),
        dispatcher,
        queue,
        destinations,
        dashboard_url: args.dashboard_url.clone(),
        feed: feed.clone(),
        sends,
    });
    tokio::spawn(follow_reports(service.clone()));
    tokio::spawn(follow_source(service.clone()));
    tokio::spawn(tick(service.clone()));
    Ok(Some(service))
}

/// Observes the report after every wake-up of a hub subscription (bursts are one observation).
async fn follow_reports(service: Arc<Service>) {
    let hub = service.feed.hub().clone();
    let subscription = hub.subscribe(None);
    let mut last: Option<(String, Arc<Report>)> = None;
    loop {
        // Drain what is queued; only the current state matters.
        loop {
            match subscription.try_next() {
                Next::Message(_) => {}
                Next::Empty => break,
                Next::Closed(_) => return,
            }
        }
        if let Some((cursor, report)) = hub.current() {
            let cursor = cursor.to_string();
            if last.as_ref().is_none_or(|(c, _)| *c != cursor) {
                let before = last.as_ref().map(|(c, r)| (c.as_str(), r.as_ref()));
                service.observe(before, &cursor, &report);
                last = Some((cursor, report));
            }
        }
        if subscription.next().await.is_err() {
            return;
        }
    }
}

/// Tells the notifier when the report starts or stops failing, and goes stale or fresh.
async fn follow_source(service: Arc<Service>) {
    let mut changes = service.feed.subscribe_source();
    let (mut failing, mut stale) = (false, false);
    loop {
        let source = service.feed.source();
        let now = SystemTime::now();
        let is_failing = source.state == ReportState::Error;
        if is_failing != failing {
            failing = is_failing;
            let since = source
                .last_error
                .as_ref()
                .and_then(|e| e.since.parse::<jiff::Timestamp>().ok())
                .and_then(|t| SystemTime::try_from(t).ok())
                .unwrap_or(now);
            service.with_notifier(|n| {
                if failing { n.report_failed(since, now) } else { n.report_recovered(now) }
            });
        }
        let is_stale = source.stale.is_some();
        if is_stale != stale {
            stale = is_stale;
            let since = source
                .stale
                .as_ref()
                .and_then(|s| s.since.parse::<jiff::Timestamp>().ok())
                .and_then(|t| SystemTime::try_from(t).ok())
                .unwrap_or(now);
            service.with_notifier(|n| if stale { n.stale(since, now) } else { n.fresh(now) });
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Once a minute: delayed notifications (dirty for an hour) and recoveries after the flap window.
async fn tick(service: Arc<Service>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        service.with_notifier(|n| n.tick(SystemTime::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(urls: &[&str]) -> NotifyArgs {
        NotifyArgs {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            notify_url_file: None,
            notify_secret_file: None,
            notify_ca_file: None,
            dashboard_url: None,
            notify_dirty_after: Duration::from_secs(3600),
            notify_extra_after: Duration::from_secs(3600),
            notify_flap_window: Duration::from_secs(600),
            notify_failing_after: Duration::from_secs(900),
            notify_no_recoveries: false,
        }
    }

    #[test]
    fn destination_ids_are_stable_named_by_kind_and_never_show_the_url() {
        let list = destinations(&args(&["ntfy://secret-topic", "https://hooks.example.org/abc"]))
            .expect("valid");
        let ids: Vec<&str> = list.iter().map(|(id, _)| id.as_str()).collect();
        assert!(ids[0].starts_with("ntfy-") && ids[1].starts_with("webhook-"), "{ids:?}");
        assert!(!ids.iter().any(|id| id.contains("secret")));
        let again = destinations(&args(&["https://hooks.example.org/abc"])).expect("valid");
        assert_eq!(again[0].0, list[1].0, "the same URL keeps its id");
        let error = destinations(&args(&["nope://x"])).expect_err("refused").to_string();
        assert!(error.contains("destination 1"), "{error}");
    }
}
