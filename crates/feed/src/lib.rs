//! The gitops-live application core: what is being served, and how healthy its source is.
//!
//! Every report source goes through one [`Feed`]: the file watcher hands it bytes
//! ([`Feed::load`]), the in-process auditor and the demo hand it reports ([`Feed::publish`]), and
//! any of them says when it could not produce one ([`Feed::source_failed`]). The feed publishes
//! to the [`Hub`], keeps the source's health ([`ReportSource`]), remembers when each published
//! change happened (for the change-to-delivery histogram), and carries the trigger an operator
//! pulls to ask the source for a fresh read.
//!
//! Whoever serves clients (the transport) reads the health with [`Feed::source`] and learns of
//! changes worth telling clients through [`Feed::subscribe_source`]; the feed itself never
//! touches a socket, a timer or the filesystem.
#![warn(missing_docs)]

mod history;

pub use history::{History, HistoryError, NAMES_MAX, POINTS_MAX, TIMELINE_MAX};

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use gitops_hub::{Commit, Hub, Published};
use gitops_protocol::{
    LastError, LogState, LogStatus, ReportSource, ReportState, Staleness, WatchState,
};
use gitops_report::{ParseOptions, Report};
use tokio::sync::{Notify, watch};

/// What a [`Feed`] serves from.
#[derive(Debug, Clone)]
pub struct FeedConfig {
    /// The report's path, or the audited folder, as shown to clients.
    pub path: String,
    /// How changes are detected at the start ([`WatchState::Auditing`] for the in-process auditor).
    pub watch: WatchState,
    /// Limits for parsing the bytes [`Feed::load`] is given.
    pub parse: ParseOptions,
}

/// Where the feed keeps each publish before any client sees it (write-ahead), so that a restart
/// continues the same stream: the store in the state directory, or another engine.
pub trait Log: Send {
    /// Where the log is, as shown to operators.
    fn location(&self) -> String;

    /// Keeps `commit`, or says why it could not. On an error the feed serves the publish anyway
    /// under a new epoch (see [`Hub::publish_with`]) and reports the log as failing until a
    /// later commit succeeds; the next commit is then the first state of that epoch.
    fn commit(&mut self, commit: &Commit<'_>) -> Result<(), String>;

    /// Keeps an event of the source's health (`failed`, `recovered`, `watch`), for the record.
    /// Best effort: a log that cannot keep it says so in its own way; the feed goes on.
    fn record_source_event(&mut self, kind: &str, message: &str) {
        let _ = (kind, message);
    }
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Times the source failed to produce a report (parse errors, unreadable or missing files,
    /// failed audits), each counted once.
    pub load_errors: u64,
    /// Publishes that changed the served state.
    pub publishes: u64,
    /// Publishes the log could not keep.
    pub log_failures: u64,
}

/// How many recent publishes keep their change time.
const CHANGE_TIMES_KEPT: usize = 256;

/// The application core. Share it as `Arc<Feed>`.
pub struct Feed {
    hub: Arc<Hub>,
    /// The durable log, if any, and its health. Publishers are serialised by the hub anyway.
    log: Mutex<Option<Box<dyn Log>>>,
    log_status: Mutex<Option<LogStatus>>,
    log_failures: AtomicU64,
    parse: ParseOptions,
    source: Mutex<ReportSource>,
    /// Bumped whenever the source's health changes in a way clients show.
    source_version: watch::Sender<u64>,
    /// When the change behind each recent publish happened: (last seq of the publish, instant).
    change_times: Mutex<VecDeque<(u64, Instant)>>,
    trigger: Notify,
    load_errors: AtomicU64,
    publishes: AtomicU64,
    history: history::HistoryState,
    watchdog: Mutex<Watchdog>,
    /// When set, the source may publish only while it says yes (several instances share one
    /// stream and one of them writes).
    gate: std::sync::OnceLock<PublishGate>,
}

/// Whether this instance's source may publish now.
pub type PublishGate = Arc<dyn Fn() -> bool + Send + Sync>;

/// When the source last produced a report, and how often it is expected to.
#[derive(Debug)]
struct Watchdog {
    /// How often a report is expected; `None`: no expectation.
    every: Option<Duration>,
    /// The last arrival (publish or confirm), or the feed's creation; tokio's clock, so tests
    /// can pause it.
    last: tokio::time::Instant,
    /// The same moment on the wall clock, RFC 3339.
    last_wall: String,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").field("source", &self.source()).finish_non_exhaustive()
    }
}

impl Feed {
    /// A feed publishing to `hub`, keeping every publish in `log` first; `notice` is what
    /// opening the log found that operators should know. The source is waiting for a first
    /// report (a hub restored from the log already serves its last state meanwhile).
    pub fn with_log(
        hub: Arc<Hub>,
        config: FeedConfig,
        log: Box<dyn Log>,
        notice: Option<String>,
    ) -> Arc<Self> {
        let status =
            LogStatus { location: log.location(), state: LogState::Ok, last_error: None, notice };
        let feed = Self::new(hub, config);
        *lock(&feed.log) = Some(log);
        *lock(&feed.log_status) = Some(status);
        feed
    }

    /// A feed publishing to `hub`, with no durable log; its source is waiting for a first report.
    pub fn new(hub: Arc<Hub>, config: FeedConfig) -> Arc<Self> {
        let source = ReportSource {
            path: config.path,
            state: ReportState::Waiting,
            last_loaded: None,
            last_error: None,
            watch: config.watch,
            watch_note: None,
            stale: None,
        };
        Arc::new(Self {
            hub,
            log: Mutex::new(None),
            log_status: Mutex::new(None),
            log_failures: AtomicU64::new(0),
            parse: config.parse,
            source: Mutex::new(source),
            source_version: watch::Sender::new(0),
            change_times: Mutex::new(VecDeque::new()),
            trigger: Notify::new(),
            load_errors: AtomicU64::new(0),
            publishes: AtomicU64::new(0),
            history: history::HistoryState::default(),
            gate: std::sync::OnceLock::new(),
            watchdog: Mutex::new(Watchdog {
                every: None,
                last: tokio::time::Instant::now(),
                last_wall: now_rfc3339(),
            }),
        })
    }

    /// Lets the source publish only while `gate` says yes: while it says no, what the source
    /// reads, confirms or fails to read is ignored (another instance writes the shared stream,
    /// and this one follows it). Once per feed; a second call is ignored and returns false.
    pub fn set_publish_gate(&self, gate: PublishGate) -> bool {
        self.gate.set(gate).is_ok()
    }

    /// Whether the source may publish now.
    fn may_publish(&self) -> bool {
        self.gate.get().is_none_or(|gate| gate())
    }

    /// Expects a report (a publish or a confirmation) at least every `every`; once none has
    /// come for longer, [`Feed::check_staleness`] marks the source stale. The clock starts at
    /// the last arrival, or now if none came yet.
    pub fn expect_reports_every(&self, every: Duration) {
        lock(&self.watchdog).every = Some(every);
    }

    /// Marks the source stale when no report has arrived for longer than expected (and says so
    /// once: a log line, a source event, a `connection-status`), and returns the staleness. The
    /// caller calls it on a timer; the feed keeps no timer of its own.
    pub fn check_staleness(&self) -> Option<Staleness> {
        let watchdog = lock(&self.watchdog);
        let every = watchdog.every?;
        if watchdog.last.elapsed() <= every {
            return None;
        }
        let stale = Staleness {
            since: watchdog.last_wall.clone(),
            expected_every_s: every.as_secs().max(1),
        };
        drop(watchdog);
        let mut source = lock(&self.source);
        if source.stale.is_none() {
            source.stale = Some(stale.clone());
            let path = source.path.clone();
            drop(source);
            let message = format!(
                "no new report since {} (one is expected every {} s): is the audit job running?",
                stale.since, stale.expected_every_s
            );
            tracing::warn!(source = %path, "{message}");
            self.record_source_event("stale", &message);
            self.source_changed();
        }
        Some(stale)
    }

    /// How long since the source last produced a report (or since the feed was made).
    pub fn since_last_report(&self) -> Duration {
        lock(&self.watchdog).last.elapsed()
    }

    /// Notes that the source produced a report now; a stale source is fresh again.
    fn arrived(&self) {
        {
            let mut watchdog = lock(&self.watchdog);
            watchdog.last = tokio::time::Instant::now();
            watchdog.last_wall = now_rfc3339();
        }
        let mut source = lock(&self.source);
        if let Some(stale) = source.stale.take() {
            drop(source);
            tracing::info!("a new report arrived; the source is no longer stale");
            self.record_source_event(
                "fresh",
                &format!("a new report after none since {}", stale.since),
            );
            self.source_changed();
        }
    }

    /// The hub this feed publishes to.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Parses `bytes` (one read of the watched report, whose change happened at `changed_at`)
    /// and publishes the report. A report that does not parse is a [`Feed::source_failed`]
    /// with the parser's message (which says where), and the last good state stays served.
    pub fn load(
        &self,
        bytes: &[u8],
        changed_at: Instant,
    ) -> Result<Published, gitops_report::Error> {
        if !self.may_publish() {
            return Ok(Published::Unchanged);
        }
        match gitops_report::parse_with(bytes, &self.parse) {
            Ok(parsed) => {
                // Validation only feeds a debug line, so it runs only when that line is on (it
                // was 1.5 % of the server's CPU under load, by perf).
                if tracing::enabled!(tracing::Level::DEBUG) {
                    let findings = gitops_report::validate(&parsed.report);
                    if !findings.is_empty() {
                        tracing::debug!(
                            n = findings.len(),
                            "the report has findings; run `gitops-live check` for them"
                        );
                    }
                }
                Ok(self.publish(parsed.report, changed_at))
            }
            Err(error) => {
                self.source_failed(&format!("the report is not valid: {error}"));
                Err(error)
            }
        }
    }

    /// Publishes `report`, produced by a change at `changed_at`, and marks the source healthy.
    ///
    /// Clients are told about the source only when that changes what they show (it was waiting
    /// or failing): the load time changes on every publish, and clients ask for it when they
    /// want it.
    pub fn publish(&self, report: Report, changed_at: Instant) -> Published {
        if !self.may_publish() {
            return Published::Unchanged;
        }
        let published = self.publish_logged(report);
        self.arrived();
        if let Published::Changed { cursor, .. } | Published::First { cursor } = published {
            self.publishes.fetch_add(1, Ordering::Relaxed);
            let mut times = lock(&self.change_times);
            times.push_back((cursor.seq, changed_at));
            while times.len() > CHANGE_TIMES_KEPT {
                times.pop_front();
            }
        }
        let mut source = lock(&self.source);
        source.last_loaded = Some(now_rfc3339());
        if source.state != ReportState::Ok || source.last_error.is_some() {
            let recovered = source.last_error.take().map(|error| error.message);
            if source.state == ReportState::Error {
                tracing::info!(path = %source.path, "the report source recovered");
            }
            source.state = ReportState::Ok;
            drop(source);
            if let Some(failure) = recovered {
                self.record_source_event("recovered", &format!("recovered from: {failure}"));
            }
            self.source_changed();
        }
        published
    }

    /// Hands a source-health event to the log, if there is one.
    fn record_source_event(&self, kind: &str, message: &str) {
        if let Some(log) = lock(&self.log).as_mut() {
            log.record_source_event(kind, message);
        }
    }

    /// Publishes through the log, when there is one, and keeps its health.
    fn publish_logged(&self, report: Report) -> Published {
        let mut log = lock(&self.log);
        let Some(log) = log.as_mut() else { return self.hub.publish(report) };
        let mut failure = None;
        let published = self.hub.publish_with(report, |commit| match log.commit(commit) {
            Ok(()) => true,
            Err(error) => {
                failure = Some(error);
                false
            }
        });
        let changed = {
            let mut status = lock(&self.log_status);
            let Some(status) = status.as_mut() else { return published };
            match failure {
                Some(error) => {
                    self.log_failures.fetch_add(1, Ordering::Relaxed);
                    let was_ok = status.state == LogState::Ok;
                    if was_ok {
                        tracing::error!(%error, location = %status.location, "the log cannot keep publishes; serving on under a new epoch");
                    }
                    let since =
                        status.last_error.as_ref().map_or_else(now_rfc3339, |e| e.since.clone());
                    status.state = LogState::Failing;
                    status.last_error = Some(LastError { message: error, since });
                    was_ok
                }
                None if status.state == LogState::Failing => {
                    tracing::info!(location = %status.location, "the log keeps publishes again");
                    status.state = LogState::Ok;
                    status.last_error = None;
                    true
                }
                None => false,
            }
        };
        if changed {
            self.source_changed();
        }
        published
    }

    /// Says the log cannot be reached now (a shared engine that is down), while serving goes
    /// on: clients see it in `connection-status`. Cleared by [`Feed::log_available`] or the next
    /// commit that succeeds.
    pub fn log_unavailable(&self, message: &str) {
        let changed = {
            let mut status = lock(&self.log_status);
            let Some(status) = status.as_mut() else { return };
            let since = status.last_error.as_ref().map_or_else(now_rfc3339, |e| e.since.clone());
            let changed = status.state != LogState::Failing
                || status.last_error.as_ref().is_none_or(|e| e.message != message);
            status.state = LogState::Failing;
            status.last_error = Some(LastError { message: message.to_owned(), since });
            changed
        };
        if changed {
            self.source_changed();
        }
    }

    /// Says the log can be reached again.
    pub fn log_available(&self) {
        let changed = {
            let mut status = lock(&self.log_status);
            let Some(status) = status.as_mut() else { return };
            let changed = status.state == LogState::Failing;
            status.state = LogState::Ok;
            status.last_error = None;
            changed
        };
        if changed {
            self.source_changed();
        }
    }

    /// The durable log's health, when there is one.
    pub fn log_status(&self) -> Option<LogStatus> {
        lock(&self.log_status).clone()
    }

    /// Records that the source could not produce a report, for `reason` (which says what and
    /// where, e.g. a parse error with its line): counted once, and shown to clients with the
    /// moment the source started failing and what is shown meanwhile: "serving the last good
    /// report" when one was published, "no good report yet" before the first (the source then
    /// stays waiting). A failure is logged when its message is new, not on every repeat.
    pub fn source_failed(&self, reason: &str) {
        if !self.may_publish() {
            return;
        }
        self.load_errors.fetch_add(1, Ordering::Relaxed);
        let has_report = self.hub.cursor().is_some();
        let fallback =
            if has_report { "serving the last good report" } else { "no good report yet" };
        let message = format!("{reason}; {fallback}");
        let mut source = lock(&self.source);
        let state_before = source.state;
        if has_report {
            source.state = ReportState::Error;
        }
        let since = source.last_error.as_ref().map_or_else(now_rfc3339, |e| e.since.clone());
        let repeated = source.last_error.as_ref().is_some_and(|e| e.message == message);
        let event = (!repeated).then(|| message.clone());
        if !repeated {
            tracing::warn!(source = %source.path, "{message}");
        }
        source.last_error = Some(LastError { message, since });
        let state_changed = state_before != source.state;
        drop(source);
        if let Some(event) = event {
            self.record_source_event("failed", &event);
        }
        if !repeated || state_changed {
            self.source_changed();
        }
    }

    /// Records that the source looked again and the report being served is still current (an
    /// audit that found nothing new): the load time is refreshed, and a failing source recovers.
    pub fn confirm(&self) {
        if self.hub.cursor().is_none() || !self.may_publish() {
            return;
        }
        self.arrived();
        let mut source = lock(&self.source);
        source.last_loaded = Some(now_rfc3339());
        if source.state != ReportState::Ok || source.last_error.is_some() {
            source.state = ReportState::Ok;
            source.last_error = None;
            drop(source);
            self.source_changed();
        }
    }

    /// Records how changes are detected now, with a reason when it is not the normal way.
    pub fn set_watch(&self, watch: WatchState, note: Option<String>) {
        let mut source = lock(&self.source);
        if source.watch == watch && source.watch_note == note {
            return;
        }
        if let Some(reason) = &note {
            tracing::warn!(%reason, ?watch, "the report source changed how it watches");
        }
        let event = match &note {
            Some(reason) => format!("{watch:?}: {reason}"),
            None => format!("{watch:?}"),
        };
        source.watch = watch;
        source.watch_note = note;
        drop(source);
        self.record_source_event("watch", &event.to_lowercase());
        self.source_changed();
    }

    /// The source's health now.
    pub fn source(&self) -> ReportSource {
        lock(&self.source).clone()
    }

    /// A receiver that is marked changed whenever the source's or the log's health changes in a
    /// way clients show (waiting, ok, failing, watch mode). The transport turns each into a `connection-status`.
    pub fn subscribe_source(&self) -> watch::Receiver<u64> {
        self.source_version.subscribe()
    }

    /// When the change that produced message `seq` happened, while it is among the recent ones.
    pub fn changed_at(&self, seq: u64) -> Option<Instant> {
        // The entry for a publish is keyed by its last seq; a message belongs to the first
        // publish whose last seq is at or after it.
        lock(&self.change_times).iter().find(|(last, _)| *last >= seq).map(|(_, at)| *at)
    }

    /// Calls `each` with the change time of every seq in `seqs` that has one, under one lock.
    pub fn each_changed_at(&self, seqs: impl Iterator<Item = u64>, mut each: impl FnMut(Instant)) {
        let times = lock(&self.change_times);
        for seq in seqs {
            if let Some((_, at)) = times.iter().find(|(last, _)| *last >= seq) {
                each(*at);
            }
        }
    }

    /// Asks the source for a fresh read (an operator's `trigger-update`). Triggers that come
    /// while the source has not yet looked are one.
    pub fn trigger(&self) {
        self.trigger.notify_one();
    }

    /// Resolves when [`Feed::trigger`] has been called (once per call, coalesced).
    pub async fn triggered(&self) {
        self.trigger.notified().await;
    }

    /// Counters for metrics.
    pub fn stats(&self) -> FeedStats {
        FeedStats {
            load_errors: self.load_errors.load(Ordering::Relaxed),
            publishes: self.publishes.load(Ordering::Relaxed),
            log_failures: self.log_failures.load(Ordering::Relaxed),
        }
    }

    fn source_changed(&self) {
        self.source_version.send_modify(|version| *version += 1);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a few field updates that cannot panic half-way.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Now, as RFC 3339 in UTC with seconds.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests;
