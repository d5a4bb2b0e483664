//! The rules engine: transitions in, at most one [`Digest`] out per call. Pure: time is passed in.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use gitops_report::{Health, Report, Status};
use serde::{Deserialize, Serialize};

use crate::digest::{Digest, DigestEntry, DigestGroup, HealthChange, Level, SourceChange};

/// Which transitions notify, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// The statuses that notify, each with how long a repository must hold it before it is
    /// notified (zero: at once). A repository that leaves the status sooner is never notified.
    /// Entering any other status (clean, an unknown one, leaving the report) is a recovery.
    pub problems: BTreeMap<Status, Duration>,
    /// How long a recovery must hold before it is notified. A repository that returns to the
    /// status last notified within this window (a flap) is not notified at all.
    pub flap_window: Duration,
    /// Whether recoveries are notified at all (they still update what recipients are told).
    pub recoveries: bool,
    /// How long the report must fail to be read before that is notified.
    pub report_failed_after: Duration,
    /// How long the report must be stale before that is notified.
    pub stale_after: Duration,
}

impl Default for Rules {
    /// Missing and mismatched at once; dirty and extra after an hour; a ten-minute flap window;
    /// recoveries on; a failing report after 15 minutes; a stale one at once (the source decides
    /// when a report is stale).
    fn default() -> Self {
        let hour = Duration::from_secs(3600);
        let problems = BTreeMap::from([
            (Status::Missing, Duration::ZERO),
            (Status::Mismatched, Duration::ZERO),
            (Status::Dirty, hour),
            (Status::Extra, hour),
        ]);
        Self {
            problems,
            flap_window: Duration::from_secs(600),
            recoveries: true,
            report_failed_after: Duration::from_secs(900),
            stale_after: Duration::ZERO,
        }
    }
}

/// The notifier's configuration.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NotifierConfig {
    /// Which transitions notify, and when.
    pub rules: Rules,
    /// The dashboard's base URL (`https://gitops.example.org`), for the digest's link to
    /// `/history?from=<cursor>&to=<cursor>`. No link without it.
    pub dashboard_url: Option<String>,
    /// Whether the dashboard serves `/history` (not without a state directory, nor with several
    /// instances on Redis): without it the link goes to the dashboard's front page.
    pub history: bool,
}

/// What the notifier remembers between calls: what recipients were told and what is pending.
///
/// Serialisable so that the server can keep it across restarts (nothing is then notified twice or
/// lost); its fields are private and its JSON form is not a stable format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NotifierState {
    /// Every repository that is in the report or still owes a notification, by name then dup.
    repos: BTreeMap<String, BTreeMap<u32, Tracked>>,
    /// Repositories whose changes wait until the given time.
    snoozes: BTreeMap<String, SystemTime>,
    /// The light recipients were told, once a first report was seen.
    health: Option<Health>,
    report_failing: Condition,
    report_stale: Condition,
    /// The cursor the last digest (or the first report) described.
    last_cursor: Option<String>,
    /// The cursor of the latest report observed.
    latest_cursor: Option<String>,
}

/// One repository: what recipients know and what it is now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tracked {
    notified: Option<Status>,
    current: Option<Status>,
    since: SystemTime,
}

/// A source condition (failing, stale) and whether it was notified.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
struct Condition {
    since: Option<SystemTime>,
    notified: bool,
    recovered: bool,
}

/// Turns reports and source events into digests, by the [`Rules`].
///
/// Every call that can notify returns at most one [`Digest`]: everything due at that moment. Time
/// only moves through the `now` arguments; [`Notifier::tick`] emits what became due in between
/// (a repository dirty for longer than its delay, a recovery past the flap window).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use gitops_report::{Report, Repo, Status};
/// let report = |status: Status| Report {
///     repos: vec![Repo { name: "halo".into(), status, ..Repo::default() }],
///     ..Report::default()
/// };
/// let mut notifier = gitops_notify::Notifier::new(gitops_notify::NotifierConfig::default());
/// let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
/// assert!(notifier.observe(None, &report(Status::Clean), None, "1:1", t0).is_none());
/// let digest = notifier
///     .observe(Some(&report(Status::Clean)), &report(Status::Missing), Some("1:1"), "1:2", t0)
///     .expect("missing notifies at once");
/// assert_eq!(digest.title(), "gitops: 1 repository needs attention (red)");
/// ```
#[derive(Debug, Clone)]
pub struct Notifier {
    config: NotifierConfig,
    state: NotifierState,
    /// Whether any report has been seen (a fresh state takes its first report as the baseline).
    started: bool,
}

impl Notifier {
    /// A notifier that has seen nothing: its first report is the baseline, not notified.
    pub fn new(config: NotifierConfig) -> Self {
        Self { config, state: NotifierState::default(), started: false }
    }

    /// A notifier that goes on from a state kept by [`Notifier::state`].
    pub fn with_state(config: NotifierConfig, state: NotifierState) -> Self {
        let started = state.health.is_some();
        Self { config, state, started }
    }

    /// The state to keep across restarts.
    pub fn state(&self) -> &NotifierState {
        &self.state
    }

    /// Takes a newly published report (`next`, at `to_cursor`) after `prev` (at `from_cursor`).
    ///
    /// A notifier that has seen nothing takes `prev` as its baseline when given, else `next`
    /// (then nothing is notified). A published report was read, so a failing report is recovered.
    pub fn observe(
        &mut self,
        prev: Option<&Report>,
        next: &Report,
        from_cursor: Option<&str>,
        to_cursor: &str,
        now: SystemTime,
    ) -> Option<Digest> {
        if !self.started {
            let (baseline, cursor) = match prev {
                Some(prev) => (prev, from_cursor),
                None => (next, Some(to_cursor)),
            };
            self.baseline(baseline, cursor, now);
        }
        self.state.latest_cursor = Some(to_cursor.to_owned());
        self.apply(next, now);
        recover(&mut self.state.report_failing);
        self.flush(now)
    }

    /// Emits what became due since the last call (delayed statuses, recoveries, snoozes ended).
    pub fn tick(&mut self, now: SystemTime) -> Option<Digest> {
        self.flush(now)
    }

    /// The report has failed to be read since `since`; notified once that lasts longer than
    /// [`Rules::report_failed_after`].
    pub fn report_failed(&mut self, since: SystemTime, now: SystemTime) -> Option<Digest> {
        self.state.report_failing.since.get_or_insert(since);
        self.flush(now)
    }

    /// The report is read again; a recovery when the failure had been notified.
    pub fn report_recovered(&mut self, now: SystemTime) -> Option<Digest> {
        recover(&mut self.state.report_failing);
        self.flush(now)
    }

    /// The report has been stale since `since`; notified once that lasts longer than
    /// [`Rules::stale_after`].
    pub fn stale(&mut self, since: SystemTime, now: SystemTime) -> Option<Digest> {
        self.state.report_stale.since.get_or_insert(since);
        self.flush(now)
    }

    /// The report is fresh again; a recovery when staleness had been notified.
    pub fn fresh(&mut self, now: SystemTime) -> Option<Digest> {
        recover(&mut self.state.report_stale);
        self.flush(now)
    }

    /// Holds back every change of repository `name` until `until`; what is still changed then is
    /// notified at the first call after it.
    pub fn snooze(&mut self, name: &str, until: SystemTime) {
        self.state.snoozes.insert(name.to_owned(), until);
    }

    /// Ends a snooze early.
    pub fn unsnooze(&mut self, name: &str) {
        self.state.snoozes.remove(name);
    }

    /// The repositories snoozed, with when each snooze ends.
    pub fn snoozed(&self) -> impl Iterator<Item = (&str, SystemTime)> {
        self.state.snoozes.iter().map(|(name, until)| (name.as_str(), *until))
    }

    fn baseline(&mut self, report: &Report, cursor: Option<&str>, now: SystemTime) {
        for ((name, dup), status) in keyed(report) {
            let tracked = Tracked {
                notified: Some(status.clone()),
                current: Some(status.clone()),
                since: now,
            };
            self.state.repos.entry(name.to_owned()).or_default().insert(dup, tracked);
        }
        self.state.health = Some(self.notified_health());
        self.state.last_cursor = cursor.map(str::to_owned);
        self.started = true;
    }

    /// Records each repository's current status, and when it entered it.
    fn apply(&mut self, report: &Report, now: SystemTime) {
        let mut seen: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
        for ((name, dup), status) in keyed(report) {
            seen.entry(name).or_default().push(dup);
            let by_dup = self.state.repos.entry(name.to_owned()).or_default();
            match by_dup.get_mut(&dup) {
                Some(tracked) if tracked.current.as_ref() == Some(status) => {}
                Some(tracked) => {
                    tracked.current = Some(status.clone());
                    tracked.since = now;
                }
                None => {
                    let tracked =
                        Tracked { notified: None, current: Some(status.clone()), since: now };
                    by_dup.insert(dup, tracked);
                }
            }
        }
        for (name, by_dup) in &mut self.state.repos {
            let present = seen.get(name.as_str());
            for (dup, tracked) in by_dup.iter_mut() {
                let is_present = present.is_some_and(|dups| dups.contains(dup));
                if !is_present && tracked.current.is_some() {
                    tracked.current = None;
                    tracked.since = now;
                }
            }
        }
    }

    fn is_problem(&self, status: Option<&Status>) -> bool {
        status.is_some_and(|status| self.config.rules.problems.contains_key(status))
    }

    /// How long a repository must hold `status` before it is notified.
    fn hold(&self, status: Option<&Status>) -> Duration {
        match status.and_then(|status| self.config.rules.problems.get(status)) {
            Some(delay) => *delay,
            None => self.config.rules.flap_window,
        }
    }

    fn notified_health(&self) -> Health {
        let statuses = self.state.repos.values().flat_map(|by_dup| by_dup.values());
        health_of(statuses.filter_map(|tracked| tracked.notified.as_ref()))
    }

    /// Everything due at `now`, as one digest.
    fn flush(&mut self, now: SystemTime) -> Option<Digest> {
        if !self.started {
            return None;
        }
        self.state.snoozes.retain(|_, until| *until > now);
        let mut entries = Vec::new();
        let mut updates = Vec::new();
        for (name, by_dup) in &self.state.repos {
            for (dup, tracked) in by_dup {
                if tracked.current == tracked.notified {
                    continue;
                }
                let was_problem = self.is_problem(tracked.notified.as_ref());
                let is_problem = self.is_problem(tracked.current.as_ref());
                // Between two quiet statuses (new and clean, clean and gone): nothing to tell.
                let silent = !was_problem && !is_problem;
                if !silent {
                    if self.state.snoozes.contains_key(name) {
                        continue;
                    }
                    let due = tracked.since.checked_add(self.hold(tracked.current.as_ref()));
                    if due.is_none_or(|due| now < due) {
                        continue;
                    }
                }
                updates.push((name.clone(), *dup, tracked.current.clone()));
                if silent || (!is_problem && !self.config.rules.recoveries) {
                    continue;
                }
                entries.push(DigestEntry {
                    name: name.clone(),
                    dup: *dup,
                    from: tracked.notified.clone(),
                    to: tracked.current.clone(),
                    since: tracked.since,
                });
            }
        }
        for (name, dup, status) in updates {
            if let Some(tracked) = self.state.repos.get_mut(&name).and_then(|by| by.get_mut(&dup)) {
                tracked.notified = status;
            }
        }
        // Forget repositories that are gone and owe nothing.
        for by_dup in self.state.repos.values_mut() {
            by_dup.retain(|_, tracked| tracked.current.is_some() || tracked.notified.is_some());
        }
        self.state.repos.retain(|_, by_dup| !by_dup.is_empty());

        let rules = &self.config.rules;
        let mut source = Vec::new();
        condition_changes(
            &mut self.state.report_failing,
            rules.report_failed_after,
            now,
            &mut source,
            |since| SourceChange::ReportFailing { since },
            SourceChange::ReportRecovered,
        );
        condition_changes(
            &mut self.state.report_stale,
            rules.stale_after,
            now,
            &mut source,
            |since| SourceChange::ReportStale { since },
            SourceChange::ReportFresh,
        );

        let health_now = self.notified_health();
        let health = match self.state.health.replace(health_now.clone()) {
            Some(before) if before != health_now => {
                Some(HealthChange { from: before, to: health_now.clone() })
            }
            _ => None,
        };
        if entries.is_empty() && health.is_none() && source.is_empty() {
            return None;
        }
        let groups = self.group(entries);
        let level = self.level(&groups, health.as_ref(), &source);
        let attention = self
            .state
            .repos
            .values()
            .flat_map(|by_dup| by_dup.values())
            .filter(|tracked| self.is_problem(tracked.notified.as_ref()))
            .count();
        let from_cursor = self.state.last_cursor.clone();
        let to_cursor = self.state.latest_cursor.clone();
        self.state.last_cursor.clone_from(&to_cursor);
        let link = self.link(from_cursor.as_deref(), to_cursor.as_deref());
        Some(Digest {
            at: now,
            from_cursor,
            to_cursor,
            link,
            groups,
            health,
            source,
            level,
            attention,
            current_health: health_now,
        })
    }

    /// Groups entries by the status entered: problems first in a fixed order, then recoveries.
    fn group(&self, entries: Vec<DigestEntry>) -> Vec<DigestGroup> {
        let mut by_status: BTreeMap<(u8, Option<Status>), Vec<DigestEntry>> = BTreeMap::new();
        for entry in entries {
            let rank = status_rank(entry.to.as_ref(), self.is_problem(entry.to.as_ref()));
            by_status.entry((rank, entry.to.clone())).or_default().push(entry);
        }
        by_status
            .into_iter()
            .map(|((_, status), mut entries)| {
                entries.sort_by(|a, b| (&a.name, a.dup).cmp(&(&b.name, b.dup)));
                let recovery = !self.is_problem(status.as_ref());
                DigestGroup { status, recovery, entries }
            })
            .collect()
    }

    fn level(
        &self,
        groups: &[DigestGroup],
        health: Option<&HealthChange>,
        source: &[SourceChange],
    ) -> Level {
        let failing =
            source.iter().any(|change| matches!(change, SourceChange::ReportFailing { .. }));
        let red = health.is_some_and(|change| change.to == Health::Red);
        let missing =
            groups.iter().any(|group| group.status == Some(Status::Missing) && !group.recovery);
        if failing || red || missing {
            return Level::Failure;
        }
        let problem = groups.iter().any(|group| !group.recovery);
        let stale = source.iter().any(|change| matches!(change, SourceChange::ReportStale { .. }));
        let worse =
            health.is_some_and(|change| health_rank(&change.to) > health_rank(&change.from));
        if problem || stale || worse { Level::Warning } else { Level::Info }
    }

    fn link(&self, from: Option<&str>, to: Option<&str>) -> Option<String> {
        let base = self.config.dashboard_url.as_deref()?.trim_end_matches('/');
        if !self.config.history {
            return Some(format!("{base}/"));
        }
        let encode =
            |cursor: &str| percent_encoding::utf8_percent_encode(cursor, QUERY).to_string();
        Some(match (from, to) {
            (Some(from), Some(to)) => {
                format!("{base}/history?from={}&to={}", encode(from), encode(to))
            }
            (None, Some(to)) => format!("{base}/history?to={}", encode(to)),
            _ => format!("{base}/"),
        })
    }
}

/// Characters escaped in a cursor put in a query value (a cursor is `epoch:seq`; be safe anyway).
const QUERY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':');

/// Ends a condition: a recovery is owed when it had been notified.
fn recover(condition: &mut Condition) {
    if condition.since.take().is_some() && condition.notified {
        condition.notified = false;
        condition.recovered = true;
    }
}

fn condition_changes(
    condition: &mut Condition,
    after: Duration,
    now: SystemTime,
    out: &mut Vec<SourceChange>,
    entered: impl Fn(SystemTime) -> SourceChange,
    left: SourceChange,
) {
    if std::mem::take(&mut condition.recovered) {
        out.push(left);
    }
    if let Some(since) = condition.since
        && !condition.notified
        && since.checked_add(after).is_some_and(|due| now >= due)
    {
        condition.notified = true;
        out.push(entered(since));
    }
}

/// Each repository keyed by `(name, dup)`: dup counts earlier repositories of the same name.
fn keyed(report: &Report) -> impl Iterator<Item = ((&str, u32), &Status)> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    report.repos.iter().map(move |repo| {
        let count = counts.entry(repo.name.as_str()).or_insert(0);
        let dup = *count;
        *count += 1;
        ((repo.name.as_str(), dup), &repo.status)
    })
}

/// The report's health rule over the given statuses: red if any missing, else yellow if any
/// dirty, extra or mismatched, else green.
fn health_of<'a>(statuses: impl Iterator<Item = &'a Status>) -> Health {
    let mut health = Health::Green;
    for status in statuses {
        match status {
            Status::Missing => return Health::Red,
            Status::Dirty | Status::Extra | Status::Mismatched => health = Health::Yellow,
            Status::Clean | Status::Other(_) => {}
        }
    }
    health
}

fn health_rank(health: &Health) -> u8 {
    match health {
        Health::Green => 0,
        Health::Yellow => 1,
        Health::Red => 2,
        Health::Other(_) => 1,
    }
}

/// Problems first (missing, mismatched, dirty, extra, others), then recoveries (clean, others, removed).
fn status_rank(status: Option<&Status>, problem: bool) -> u8 {
    let within = match status {
        Some(Status::Missing) => 0,
        Some(Status::Mismatched) => 1,
        Some(Status::Dirty) => 2,
        Some(Status::Extra) => 3,
        Some(Status::Clean) => 4,
        Some(Status::Other(_)) => 5,
        None => 6,
    };
    if problem { within } else { 10 + within }
}

#[cfg(test)]
mod tests {
    use gitops_report::Repo;
    use proptest::prelude::*;

    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + MIN * minutes as u32
    }

    fn report(repos: &[(&str, Status)]) -> Report {
        let repos = repos
            .iter()
            .map(|(name, status)| Repo {
                name: (*name).to_owned(),
                status: status.clone(),
                ..Repo::default()
            })
            .collect();
        Report { repos, ..Report::default() }
    }

    /// A notifier fed reports in order, one every call, with cursors `1:<n>`.
    struct Feed {
        notifier: Notifier,
        last: Option<Report>,
        seq: u32,
    }

    impl Feed {
        fn new() -> Self {
            let config = NotifierConfig {
                dashboard_url: Some("https://gitops.example.org/".to_owned()),
                history: true,
                ..NotifierConfig::default()
            };
            Self { notifier: Notifier::new(config), last: None, seq: 0 }
        }

        fn observe(&mut self, repos: &[(&str, Status)], minutes: u64) -> Option<Digest> {
            let next = report(repos);
            let from = format!("1:{}", self.seq);
            self.seq += 1;
            let to = format!("1:{}", self.seq);
            let from = self.last.as_ref().map(|_| from.as_str());
            let digest = self.notifier.observe(self.last.as_ref(), &next, from, &to, at(minutes));
            self.last = Some(next);
            digest
        }
    }

    fn names(digest: &Digest) -> Vec<(String, Option<Status>)> {
        digest
            .groups
            .iter()
            .flat_map(|group| {
                group.entries.iter().map(|entry| (entry.name.clone(), entry.to.clone()))
            })
            .collect()
    }

    #[test]
    fn without_a_history_the_link_is_the_front_page() {
        let mut feed = Feed::new();
        feed.notifier.config.history = false;
        feed.observe(&[("a", Status::Clean)], 0);
        let digest = feed.observe(&[("a", Status::Missing)], 1).unwrap();
        assert_eq!(digest.link.as_deref(), Some("https://gitops.example.org/"));
    }

    #[test]
    fn the_first_report_is_the_baseline_and_missing_notifies_at_once() {
        let mut feed = Feed::new();
        assert_eq!(feed.observe(&[("a", Status::Missing), ("b", Status::Clean)], 0), None);
        let digest = feed.observe(&[("a", Status::Missing), ("b", Status::Missing)], 1).unwrap();
        assert_eq!(names(&digest), [("b".to_owned(), Some(Status::Missing))]);
        assert_eq!(digest.level, Level::Failure);
        assert_eq!(digest.attention, 2);
        assert_eq!(digest.title(), "gitops: 2 repositories need attention (red)");
        assert_eq!(
            digest.link.as_deref(),
            Some("https://gitops.example.org/history?from=1:1&to=1:2")
        );
        // Nothing changed: nothing to say, and the next link starts where this one ended.
        assert_eq!(feed.observe(&[("a", Status::Missing), ("b", Status::Missing)], 2), None);
        let digest = feed.observe(&[("a", Status::Missing), ("b", Status::Mismatched)], 3).unwrap();
        assert_eq!(digest.from_cursor.as_deref(), Some("1:2"));
        assert_eq!(digest.to_cursor.as_deref(), Some("1:4"));
    }

    #[test]
    fn fifty_repositories_changing_at_once_make_one_digest_listing_all() {
        let mut feed = Feed::new();
        let names_: Vec<String> = (0..50).map(|i| format!("repo-{i:02}")).collect();
        let clean: Vec<(&str, Status)> =
            names_.iter().map(|n| (n.as_str(), Status::Clean)).collect();
        let missing: Vec<(&str, Status)> =
            names_.iter().map(|n| (n.as_str(), Status::Missing)).collect();
        feed.observe(&clean, 0);
        let digest = feed.observe(&missing, 1).unwrap();
        assert_eq!(digest.groups.len(), 1);
        assert_eq!(digest.n_changes(), 50);
        let listed: Vec<String> = names(&digest).into_iter().map(|(name, _)| name).collect();
        assert_eq!(listed, names_);
        assert_eq!(digest.health, Some(HealthChange { from: Health::Green, to: Health::Red }));
        assert_eq!(feed.notifier.tick(at(2)), None);
    }

    #[test]
    fn dirty_for_59_minutes_then_clean_is_never_notified() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean)], 0);
        assert_eq!(feed.observe(&[("a", Status::Dirty)], 1), None);
        assert_eq!(feed.notifier.tick(at(60)), None);
        assert_eq!(feed.observe(&[("a", Status::Clean)], 60), None);
        for minute in [61, 62, 120, 600] {
            assert_eq!(feed.notifier.tick(at(minute)), None);
        }
    }

    #[test]
    fn dirty_for_61_minutes_is_notified_once_by_tick() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean)], 0);
        assert_eq!(feed.observe(&[("a", Status::Dirty)], 1), None);
        let digest = feed.notifier.tick(at(62)).unwrap();
        assert_eq!(names(&digest), [("a".to_owned(), Some(Status::Dirty))]);
        assert_eq!(digest.health, Some(HealthChange { from: Health::Green, to: Health::Yellow }));
        assert_eq!(digest.level, Level::Warning);
        assert_eq!(feed.notifier.tick(at(63)), None);
        assert_eq!(feed.observe(&[("a", Status::Dirty)], 64), None);
    }

    #[test]
    fn a_notified_repository_flapping_within_the_window_is_not_notified_again() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Missing)], 0);
        for minute in 1..=30 {
            let status = if minute % 2 == 1 { Status::Clean } else { Status::Missing };
            assert_eq!(feed.observe(&[("a", status)], minute), None, "minute {minute}");
        }
        assert_eq!(feed.notifier.tick(at(100)), None, "it ended missing, as notified");
    }

    #[test]
    fn a_clean_repository_that_starts_flapping_gives_one_notification_then_one_recovery() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean)], 0);
        let mut digests = Vec::new();
        for minute in 1..=20 {
            let status = if minute % 2 == 1 { Status::Missing } else { Status::Clean };
            digests.extend(feed.observe(&[("a", status)], minute));
        }
        assert_eq!(digests.len(), 1);
        assert_eq!(names(&digests[0]), [("a".to_owned(), Some(Status::Missing))]);
        // It settles clean at minute 20: one recovery after the ten-minute window.
        assert_eq!(feed.notifier.tick(at(29)), None);
        let recovery = feed.notifier.tick(at(30)).unwrap();
        assert!(recovery.groups[0].recovery);
        assert_eq!(names(&recovery), [("a".to_owned(), Some(Status::Clean))]);
        assert_eq!(recovery.health, Some(HealthChange { from: Health::Red, to: Health::Green }));
        assert_eq!(recovery.level, Level::Info);
        assert_eq!(recovery.title(), "gitops: all repositories fine (green)");
    }

    #[test]
    fn groups_come_problems_first_and_removed_repositories_recover() {
        let mut feed = Feed::new();
        feed.observe(
            &[
                ("gone", Status::Missing),
                ("m", Status::Clean),
                ("x", Status::Clean),
                ("fixed", Status::Mismatched),
            ],
            0,
        );
        let digest = feed
            .observe(
                &[
                    ("m", Status::Mismatched),
                    ("x", Status::Missing),
                    ("fixed", Status::Clean),
                    ("new", Status::Missing),
                ],
                1,
            )
            .unwrap();
        let titles: Vec<&str> = digest.groups.iter().map(DigestGroup::title).collect();
        assert_eq!(titles, ["missing", "mismatched"]);
        assert_eq!(
            digest.groups[0].entries.iter().map(|e| e.from.clone()).collect::<Vec<_>>(),
            [None, Some(Status::Clean)]
        );
        let digest = feed.notifier.tick(at(11)).unwrap();
        let titles: Vec<&str> = digest.groups.iter().map(DigestGroup::title).collect();
        assert_eq!(titles, ["clean", "removed"]);
        assert!(digest.groups.iter().all(|group| group.recovery));
    }

    #[test]
    fn a_snoozed_repository_waits_until_the_snooze_ends() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean), ("b", Status::Clean)], 0);
        feed.notifier.snooze("a", at(30));
        let digest = feed.observe(&[("a", Status::Missing), ("b", Status::Missing)], 1).unwrap();
        assert_eq!(names(&digest), [("b".to_owned(), Some(Status::Missing))]);
        assert_eq!(feed.notifier.tick(at(29)), None);
        let digest = feed.notifier.tick(at(30)).unwrap();
        assert_eq!(names(&digest), [("a".to_owned(), Some(Status::Missing))]);
        assert_eq!(feed.notifier.snoozed().count(), 0);
    }

    #[test]
    fn a_report_failing_longer_than_the_rule_is_notified_and_so_is_its_recovery() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean)], 0);
        assert_eq!(feed.notifier.report_failed(at(1), at(1)), None);
        assert_eq!(feed.notifier.report_failed(at(1), at(15)), None);
        let digest = feed.notifier.tick(at(16)).unwrap();
        assert_eq!(digest.source, [SourceChange::ReportFailing { since: at(1) }]);
        assert_eq!(digest.level, Level::Failure);
        assert_eq!(digest.title(), "gitops: the report cannot be read (green)");
        assert_eq!(feed.notifier.report_failed(at(1), at(20)), None);
        // A published report was read: the failure is over.
        let digest = feed.observe(&[("a", Status::Clean)], 21).unwrap();
        assert_eq!(digest.source, [SourceChange::ReportRecovered]);
        // A short failure is never told, nor is its end.
        assert_eq!(feed.notifier.report_failed(at(30), at(31)), None);
        assert_eq!(feed.notifier.report_recovered(at(32)), None);
    }

    #[test]
    fn staleness_and_freshness_are_notified() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean)], 0);
        let digest = feed.notifier.stale(at(5), at(6)).unwrap();
        assert_eq!(digest.source, [SourceChange::ReportStale { since: at(5) }]);
        assert_eq!(digest.level, Level::Warning);
        assert_eq!(feed.notifier.stale(at(5), at(7)), None);
        assert_eq!(feed.notifier.fresh(at(8)).unwrap().source, [SourceChange::ReportFresh]);
    }

    #[test]
    fn the_state_survives_a_restart() {
        let mut feed = Feed::new();
        feed.observe(&[("a", Status::Clean)], 0);
        feed.observe(&[("a", Status::Dirty)], 1);
        let kept = serde_json::to_string(feed.notifier.state()).unwrap();
        let state: NotifierState = serde_json::from_str(&kept).unwrap();
        let mut restarted = Notifier::with_state(NotifierConfig::default(), state);
        let digest = restarted.tick(at(62)).unwrap();
        assert_eq!(names(&digest), [("a".to_owned(), Some(Status::Dirty))]);
    }

    proptest! {
        /// However a repository's status moves, nothing is notified twice in a row for the same
        /// status, and once it holds still past every delay, recipients know its status.
        #[test]
        fn recipients_end_up_knowing_the_settled_status(
            steps in proptest::collection::vec((0usize..5, 1u64..90), 1..40),
        ) {
            let statuses = [Status::Clean, Status::Missing, Status::Dirty, Status::Mismatched, Status::Extra];
            let mut feed = Feed::new();
            feed.observe(&[("a", Status::Clean)], 0);
            let mut minute = 0;
            let mut told = Status::Clean;
            for (index, gap) in steps {
                minute += gap;
                let status = statuses[index].clone();
                if let Some(digest) = feed.observe(&[("a", status)], minute) {
                    for (_, to) in names(&digest) {
                        let to = to.unwrap();
                        prop_assert_ne!(&to, &told);
                        told = to;
                    }
                }
            }
            let settled = feed.last.as_ref().unwrap().repos[0].status.clone();
            if let Some(digest) = feed.notifier.tick(at(minute + 61)) {
                for (_, to) in names(&digest) {
                    told = to.unwrap();
                }
            }
            prop_assert_eq!(told, settled);
        }
    }
}
