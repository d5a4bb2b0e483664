//! `gitops-live watch [URL]`: a live terminal view of a running server, through the same
//! WebSocket the dashboard uses: the health and counts, the repositories grouped by status, the
//! latest status changes, and whether the view is live. `q`, `Esc` or Ctrl-C quits.
//!
//! The view is a pure function of [`View`] (tested with ratatui's `TestBackend`); the client runs
//! in a task of its own that updates the `View` in a watch channel, so a key press never cancels
//! a reconnect delay halfway.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use crossterm::event::{
    Event as TermEvent, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
};
use futures_util::StreamExt as _;
use gitops_client::{Client, ClientConfig, Event, LiveState};
use gitops_protocol::{Cursor, ReportSource, ReportState};
use gitops_report::{Health, Report, Status};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

/// Arguments of `gitops-live watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) server: crate::status_cmd::ServerArgs,
}

/// How many status changes the view keeps.
const MAX_CHANGES: usize = 20;

/// The shortest time between two redraws (at most 20 a second).
const MIN_FRAME: Duration = Duration::from_millis(50);

pub(crate) fn run(args: &WatchArgs) -> anyhow::Result<ExitCode> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "watch draws a live view and needs a terminal, but its output is not one; for \
             scripts and pipes use `gitops-live status {}` (or `status --json`)",
            args.server.url
        );
    }
    let (url, connect) = args.server.connection()?;
    let config = ClientConfig { connect, ..ClientConfig::new(url) };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let (view, views) = tokio::sync::watch::channel(View::new(args.server.url.clone()));
        let client = tokio::spawn(follow(Client::new(config), view));
        let shown = show(views).await;
        client.abort();
        shown
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the client for ever, folding every event into the view.
async fn follow(mut client: Client, view: tokio::sync::watch::Sender<View>) {
    loop {
        let event = client.next().await;
        let clock = local_clock();
        view.send_modify(|view| view.on_event(&event, client.state(), Instant::now(), &clock));
        if view.is_closed() {
            return;
        }
    }
}

/// The wall clock as `HH:MM:SS` in the local time zone.
fn local_clock() -> String {
    jiff::ZonedDateTime::now().strftime("%H:%M:%S").to_string()
}

/// The terminal in raw mode on the alternate screen; left as it was found when dropped, on an
/// error as much as on `q`. (ratatui's `try_init` also installs a panic hook that restores it.)
struct Screen;

impl Drop for Screen {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

/// Draws the view until the user quits.
async fn show(mut views: tokio::sync::watch::Receiver<View>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut hangup = signal(SignalKind::hangup())?;
    // The guard first, so a half-done setup is undone too.
    let _screen = Screen;
    let mut terminal = ratatui::try_init()?;
    let mut keys = EventStream::new();
    // The countdown to a reconnect, and the clock, move once a second without any event.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_draw: Option<Instant> = None;
    let mut dirty = true;
    loop {
        let next_frame = last_draw.map_or_else(Instant::now, |at| at + MIN_FRAME);
        if dirty && Instant::now() >= next_frame {
            let view = views.borrow_and_update();
            let now = Instant::now();
            terminal.draw(|frame| render(frame, &view, now))?;
            drop(view);
            last_draw = Some(now);
            dirty = false;
        }
        let frame_due = tokio::time::Instant::from_std(next_frame);
        tokio::select! {
            changed = views.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the connection task ended");
                }
                dirty = true;
            }
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(key))) if is_quit(&key) => return Ok(()),
                Some(Ok(TermEvent::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(anyhow::anyhow!("reading the terminal: {error}")),
                None => return Ok(()),
            },
            _ = tick.tick() => dirty = true,
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
            () = tokio::time::sleep_until(frame_due), if dirty => {}
        }
    }
}

/// `q`, `Esc` and Ctrl-C quit (raw mode turns Ctrl-C into a key, not a signal).
fn is_quit(key: &KeyEvent) -> bool {
    if key.kind == KeyEventKind::Release {
        return false;
    }
    match key.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    }
}

/// Whether the view is live.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    /// Before the first connection.
    Connecting,
    /// Connected; `resumed` when the connection brought a cursor.
    Live {
        /// Whether this connection resumed from a cursor.
        resumed: bool,
    },
    /// Disconnected; the client tries again at `at`.
    Retrying {
        /// When the next attempt starts.
        at: Instant,
        /// Why the last attempt ended.
        reason: String,
        /// Whether the server asked for the viewer token (HTTP 401 or close code 4001).
        signed_out: bool,
    },
}

/// One repository's status change, as seen by diffing two reports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Change {
    /// When it was seen, `HH:MM:SS`.
    at: String,
    /// The repository.
    name: String,
    /// The status before, `None` when the repository is new.
    old: Option<Status>,
    /// The status after, `None` when the repository is gone.
    new: Option<Status>,
}

/// Everything the screen shows.
#[derive(Debug, Clone)]
struct View {
    /// The server as the user gave it.
    server: String,
    link: Link,
    report: Option<Report>,
    cursor: Option<Cursor>,
    /// The report source as the server last described it.
    source: Option<ReportSource>,
    /// The latest changes, oldest first, at most [`MAX_CHANGES`].
    changes: VecDeque<Change>,
}

impl View {
    fn new(server: String) -> Self {
        Self {
            server,
            link: Link::Connecting,
            report: None,
            cursor: None,
            source: None,
            changes: VecDeque::new(),
        }
    }

    /// Folds one client event into the view; `state` is the client's state after it.
    fn on_event(&mut self, event: &Event, state: &LiveState, now: Instant, clock: &str) {
        match event {
            Event::Connected { since } => self.link = Link::Live { resumed: since.is_some() },
            Event::Applied { .. } => {
                if !matches!(self.link, Link::Live { .. }) {
                    self.link = Link::Live { resumed: false };
                }
                if let Some(report) = &state.report {
                    self.set_report(report.clone(), clock);
                }
            }
            Event::Message(_) => {}
            Event::Disconnected { reason, retry_in } => {
                let signed_out = reason.contains("401") || reason.contains("Some(4001)");
                self.link =
                    Link::Retrying { at: now + *retry_in, reason: reason.clone(), signed_out };
            }
        }
        self.cursor = state.cursor;
        if let Some(status) = &state.status {
            self.source = Some(status.report.clone());
        }
    }

    /// Replaces the report, recording each repository whose status changed.
    fn set_report(&mut self, report: Report, clock: &str) {
        if let Some(old) = &self.report {
            for (name, old, new) in status_changes(old, &report) {
                self.push_change(Change { at: clock.to_owned(), name, old, new });
            }
        }
        self.report = Some(report);
    }

    fn push_change(&mut self, change: Change) {
        if self.changes.len() == MAX_CHANGES {
            self.changes.pop_front();
        }
        self.changes.push_back(change);
    }
}

/// Each repository whose status differs between two reports, as `(name, old, new)`: changed
/// and added ones in the new report's order, then removed ones. A name that appears twice
/// counts by its first entry.
fn status_changes(old: &Report, new: &Report) -> Vec<(String, Option<Status>, Option<Status>)> {
    fn by_name(report: &Report) -> BTreeMap<&str, &Status> {
        let mut map = BTreeMap::new();
        for repo in &report.repos {
            map.entry(repo.name.as_str()).or_insert(&repo.status);
        }
        map
    }
    let (before, after) = (by_name(old), by_name(new));
    let mut out = Vec::new();
    for repo in &new.repos {
        if after.get(repo.name.as_str()) != Some(&&repo.status) {
            continue; // a later duplicate
        }
        let was = before.get(repo.name.as_str()).copied();
        if was != Some(&repo.status) {
            out.push((repo.name.clone(), was.cloned(), Some(repo.status.clone())));
        }
    }
    for repo in &old.repos {
        if !after.contains_key(repo.name.as_str())
            && !out.iter().any(|(name, _, _)| name == &repo.name)
        {
            out.push((repo.name.clone(), Some(repo.status.clone()), None));
        }
    }
    out
}

/// Where a status sorts: what needs action first, clean last.
fn rank(status: &Status) -> u8 {
    match status {
        Status::Missing => 0,
        Status::Mismatched => 1,
        Status::Dirty => 2,
        Status::Extra => 3,
        Status::Other(_) => 4,
        Status::Clean => 5,
    }
}

/// The colour of a status.
fn status_colour(status: &Status) -> Color {
    match status {
        Status::Missing => Color::Red,
        Status::Mismatched => Color::Magenta,
        Status::Dirty => Color::Yellow,
        Status::Extra => Color::Cyan,
        Status::Clean => Color::Green,
        Status::Other(_) => Color::Gray,
    }
}

fn health_colour(health: &Health) -> Color {
    match health {
        Health::Green => Color::Green,
        Health::Yellow => Color::Yellow,
        Health::Red => Color::Red,
        Health::Other(_) => Color::Gray,
    }
}

/// The repositories by status, in [`rank`] order, names sorted.
fn groups(report: &Report) -> Vec<(Status, Vec<&str>)> {
    let mut by_status: BTreeMap<(u8, &str), (Status, Vec<&str>)> = BTreeMap::new();
    for repo in &report.repos {
        by_status
            .entry((rank(&repo.status), repo.status.as_str()))
            .or_insert_with(|| (repo.status.clone(), Vec::new()))
            .1
            .push(repo.name.as_str());
    }
    by_status
        .into_values()
        .map(|(status, mut names)| {
            names.sort_unstable();
            (status, names)
        })
        .collect()
}

/// One line of the repositories pane.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Row {
    /// A status and how many have it; `listed` is false when the names are left out.
    Heading { status: Status, count: usize, listed: bool },
    /// Names of that status, flowed across the pane.
    Names { status: Status, text: String },
    /// Rows that did not fit.
    More(usize),
}

/// The repositories pane in `width` × `height` cells: each status with its names flowed two
/// spaces apart; when that is too tall, clean ones become a count, and what still does not fit
/// is cut with a "more" line.
fn repo_rows(groups: &[(Status, Vec<&str>)], width: usize, height: usize) -> Vec<Row> {
    let build = |collapse_clean: bool| -> Vec<Row> {
        let mut rows = Vec::new();
        for (status, names) in groups {
            let listed = !(collapse_clean && *status == Status::Clean);
            rows.push(Row::Heading { status: status.clone(), count: names.len(), listed });
            if listed {
                for text in flow(names, width) {
                    rows.push(Row::Names { status: status.clone(), text });
                }
            }
        }
        rows
    };
    let mut rows = build(false);
    if rows.len() > height {
        rows = build(true);
    }
    if rows.len() > height {
        let keep = height.saturating_sub(1);
        let cut = rows.len() - keep;
        rows.truncate(keep);
        rows.push(Row::More(cut));
    }
    rows
}

/// Names two spaces apart, indented by two, in lines of at most `width` characters (a longer
/// name gets a line of its own and is cut by the pane).
fn flow(names: &[&str], width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for name in names {
        let used = line.chars().count();
        if !line.is_empty() && used + 2 + name.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        line.push_str("  ");
        line.push_str(name);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The connection state in words.
fn link_text(link: &Link, now: Instant) -> String {
    match link {
        Link::Connecting => "connecting".to_owned(),
        Link::Live { resumed: false } => "live".to_owned(),
        Link::Live { resumed: true } => "live (resumed)".to_owned(),
        Link::Retrying { at, signed_out, .. } => {
            let seconds = at.saturating_duration_since(now).as_secs_f64().ceil() as u64;
            let when = if seconds == 0 {
                "reconnecting now".to_owned()
            } else {
                format!("reconnecting in {seconds} s")
            };
            if *signed_out {
                format!("not signed in (give --viewer-token-file), {when}")
            } else {
                when
            }
        }
    }
}

/// `N repositories: a missing, b mismatched, c dirty, d extra, e clean`.
fn counts_text(report: &Report) -> String {
    let counts = report.computed_summary();
    let others = report.repos.iter().filter(|r| matches!(r.status, Status::Other(_))).count();
    let mut text = format!(
        "{} repositories: {} missing, {} mismatched, {} dirty, {} extra, {} clean",
        report.repos.len(),
        counts.missing,
        counts.mismatched.unwrap_or(0),
        counts.dirty,
        counts.extra,
        counts.clean
    );
    if others > 0 {
        text.push_str(&format!(", {others} other"));
    }
    text
}

/// The source's trouble, if any, with its colour.
fn source_text(source: Option<&ReportSource>) -> Option<(String, Color)> {
    let source = source?;
    if let Some(error) = &source.last_error {
        let serving = match source.state {
            ReportState::Waiting => "no good report yet",
            _ => "showing the last good report",
        };
        return Some((
            format!("report unreadable since {}: {} ({serving})", error.since, error.message),
            Color::Red,
        ));
    }
    if let Some(stale) = &source.stale {
        return Some((
            format!(
                "no new report since {} (expected every {} s)",
                stale.since, stale.expected_every_s
            ),
            Color::Yellow,
        ));
    }
    (source.state == ReportState::Waiting)
        .then(|| ("the server has no report yet".to_owned(), Color::Yellow))
}

/// The header's lines: connection and health, counts, and the source's state.
fn header_lines(view: &View, now: Instant) -> Vec<Line<'static>> {
    let link_colour = match &view.link {
        Link::Live { .. } => Color::Green,
        Link::Retrying { signed_out: true, .. } => Color::Red,
        _ => Color::Yellow,
    };
    let mut first = vec![
        Span::styled(
            format!("● {}", link_text(&view.link, now)),
            Style::new().fg(link_colour).add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!("   {}", view.server)),
    ];
    let mut lines = Vec::new();
    match &view.report {
        Some(report) => {
            let health = report.health_status.clone().unwrap_or_else(|| report.computed_health());
            first.push(Span::raw("   health "));
            first.push(Span::styled(
                health.as_str().to_uppercase(),
                Style::new().fg(health_colour(&health)).add_modifier(Modifier::BOLD),
            ));
            if let Some(timestamp) = &report.timestamp {
                first.push(Span::raw(format!("   audit {}", timestamp.raw)));
            }
            lines.push(Line::from(first));
            lines.push(Line::raw(counts_text(report)));
        }
        None => {
            lines.push(Line::from(first));
            lines.push(Line::raw("waiting for the first report"));
        }
    }
    if let Some((text, colour)) = source_text(view.source.as_ref()) {
        lines.push(Line::styled(text, Style::new().fg(colour)));
    } else if let Link::Retrying { reason, .. } = &view.link {
        lines.push(Line::styled(format!("last attempt: {reason}"), Style::new().fg(Color::Gray)));
    }
    lines
}

/// The latest changes, newest first.
fn change_lines(changes: &VecDeque<Change>) -> Vec<Line<'static>> {
    let word = |status: &Option<Status>, absent: &str| {
        status.as_ref().map_or_else(|| absent.to_owned(), |s| s.as_str().to_owned())
    };
    let colour = |status: &Option<Status>| status.as_ref().map_or(Color::Gray, status_colour);
    changes
        .iter()
        .rev()
        .map(|change| {
            Line::from(vec![
                Span::styled(format!("{} ", change.at), Style::new().fg(Color::Gray)),
                Span::styled(change.name.clone(), Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" "),
                Span::styled(word(&change.old, "new"), Style::new().fg(colour(&change.old))),
                Span::raw(" → "),
                Span::styled(word(&change.new, "removed"), Style::new().fg(colour(&change.new))),
            ])
        })
        .collect()
}

/// Draws the whole screen.
fn render(frame: &mut Frame<'_>, view: &View, now: Instant) {
    let header = header_lines(view, now);
    let header_height = u16::try_from(header.len()).unwrap_or(u16::MAX).saturating_add(2);
    let [top, body, footer] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(
        Paragraph::new(header).block(Block::bordered().title(" gitops-live watch ")),
        top,
    );
    let [repos, changes] =
        Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(body);
    render_repos(frame, view, repos);
    frame.render_widget(
        Paragraph::new(if view.changes.is_empty() {
            vec![Line::styled("no changes seen yet", Style::new().fg(Color::Gray))]
        } else {
            change_lines(&view.changes)
        })
        .block(Block::bordered().title(" latest changes ")),
        changes,
    );
    let cursor = view.cursor.map_or_else(String::new, |cursor| format!("   at {cursor}"));
    frame.render_widget(
        Paragraph::new(Line::styled(format!(" q quit{cursor}"), Style::new().fg(Color::Gray))),
        footer,
    );
}

fn render_repos(frame: &mut Frame<'_>, view: &View, area: Rect) {
    let block = Block::bordered().title(" repositories ");
    let inner = block.inner(area);
    let lines: Vec<Line<'static>> = match &view.report {
        None => vec![Line::styled("waiting for the first report", Style::new().fg(Color::Gray))],
        Some(report) => {
            let groups = groups(report);
            repo_rows(&groups, usize::from(inner.width), usize::from(inner.height))
                .into_iter()
                .map(|row| match row {
                    Row::Heading { status, count, listed } => {
                        let note = if listed { "" } else { ", not listed: the terminal is short" };
                        Line::styled(
                            format!("{status} ({count}){note}"),
                            Style::new().fg(status_colour(&status)).add_modifier(Modifier::BOLD),
                        )
                    }
                    Row::Names { status, text } => {
                        Line::styled(text, Style::new().fg(status_colour(&status)))
                    }
                    Row::More(n) => Line::styled(
                        format!("… {n} more lines: enlarge the terminal"),
                        Style::new().fg(Color::Gray),
                    ),
                })
                .collect()
        }
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;

    fn report(statuses: &[(&str, &str)]) -> Report {
        let repos: Vec<serde_json::Value> = statuses
            .iter()
            .map(|(name, status)| serde_json::json!({ "name": name, "status": status }))
            .collect();
        let text = serde_json::json!({ "repos": repos }).to_string();
        gitops_report::parse(text.as_bytes()).expect("a report").report
    }

    /// The screen as text, one string per row.
    fn screen(view: &View, width: u16, height: u16, now: Instant) -> Vec<String> {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("a terminal");
        terminal.draw(|frame| render(frame, view, now)).expect("drawn");
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| (0..width).map(|x| buffer[(x, y)].symbol()).collect::<String>())
            .collect()
    }

    #[test]
    fn groups_put_what_needs_action_first_and_clean_last() {
        let report = report(&[
            ("nova", "clean"),
            ("zeta", "extra"),
            ("halo", "missing"),
            ("odd", "archived"),
            ("alpha", "clean"),
            ("esp", "dirty"),
            ("ha", "mismatched"),
        ]);
        let order: Vec<(String, Vec<&str>)> =
            groups(&report).into_iter().map(|(s, names)| (s.to_string(), names)).collect();
        assert_eq!(
            order,
            [
                ("missing".to_owned(), vec!["halo"]),
                ("mismatched".to_owned(), vec!["ha"]),
                ("dirty".to_owned(), vec!["esp"]),
                ("extra".to_owned(), vec!["zeta"]),
                ("archived".to_owned(), vec!["odd"]),
                ("clean".to_owned(), vec!["alpha", "nova"]),
            ]
        );
    }

    #[test]
    fn a_short_pane_collapses_clean_to_a_count_then_cuts() {
        let names: Vec<String> = (0..30).map(|i| format!("repo-{i:02}")).collect();
        let clean: Vec<&str> = names.iter().map(String::as_str).collect();
        let groups = vec![(Status::Missing, vec!["halo"]), (Status::Clean, clean)];
        let tall = repo_rows(&groups, 20, 100);
        assert!(tall.iter().filter(|r| matches!(r, Row::Names { .. })).count() > 2, "{tall:?}");
        let short = repo_rows(&groups, 20, 4);
        assert_eq!(
            short,
            [
                Row::Heading { status: Status::Missing, count: 1, listed: true },
                Row::Names { status: Status::Missing, text: "  halo".into() },
                Row::Heading { status: Status::Clean, count: 30, listed: false },
            ]
        );
        let tiny = repo_rows(&groups, 20, 2);
        assert_eq!(tiny.len(), 2);
        assert_eq!(tiny[1], Row::More(2));
        for line in flow(&groups[1].1, 20) {
            assert!(line.chars().count() <= 20, "{line:?}");
        }
    }

    #[test]
    fn status_changes_name_each_repository_once() {
        let old = report(&[("halo", "clean"), ("esp", "dirty"), ("gone", "extra")]);
        let new = report(&[("halo", "missing"), ("esp", "dirty"), ("fresh", "clean")]);
        assert_eq!(
            status_changes(&old, &new),
            [
                ("halo".to_owned(), Some(Status::Clean), Some(Status::Missing)),
                ("fresh".to_owned(), None, Some(Status::Clean)),
                ("gone".to_owned(), Some(Status::Extra), None),
            ]
        );
        assert!(status_changes(&new, &new).is_empty());
    }

    #[test]
    fn the_change_list_keeps_the_latest_twenty() {
        let mut view = View::new("http://h:1".into());
        view.set_report(report(&[("halo", "clean")]), "00:00:00");
        assert!(view.changes.is_empty(), "the first report is not a change");
        for i in 0..50 {
            let status = if i % 2 == 0 { "missing" } else { "clean" };
            view.set_report(report(&[("halo", status)]), &format!("00:00:{i:02}"));
        }
        assert_eq!(view.changes.len(), MAX_CHANGES);
        assert_eq!(view.changes.back().map(|c| c.at.as_str()), Some("00:00:49"));
        assert_eq!(view.changes.front().map(|c| c.at.as_str()), Some("00:00:30"));
    }

    #[test]
    fn the_header_says_how_live_the_view_is() {
        let now = Instant::now();
        assert_eq!(link_text(&Link::Connecting, now), "connecting");
        assert_eq!(link_text(&Link::Live { resumed: false }, now), "live");
        let retrying = Link::Retrying {
            at: now + Duration::from_millis(2_100),
            reason: "refused".into(),
            signed_out: false,
        };
        assert_eq!(link_text(&retrying, now), "reconnecting in 3 s");
        assert_eq!(link_text(&retrying, now + Duration::from_secs(5)), "reconnecting now");
        let refused = Link::Retrying { at: now, reason: "401".into(), signed_out: true };
        assert!(link_text(&refused, now).starts_with("not signed in"));
        let report = report(&[("halo", "missing"), ("a", "clean"), ("b", "clean"), ("x", "odd")]);
        assert_eq!(
            counts_text(&report),
            "4 repositories: 1 missing, 0 mismatched, 0 dirty, 0 extra, 2 clean, 1 other"
        );
    }

    #[test]
    fn the_screen_shows_health_groups_and_changes() {
        let now = Instant::now();
        let mut view = View::new("http://nas.lan:3070".into());
        let waiting = screen(&view, 80, 12, now).join("\n");
        assert!(waiting.contains("connecting") && waiting.contains("waiting for the first report"));
        view.link = Link::Live { resumed: false };
        view.set_report(report(&[("halo", "clean"), ("esp", "dirty")]), "10:00:00");
        view.set_report(report(&[("halo", "missing"), ("esp", "dirty")]), "10:00:05");
        let rows = screen(&view, 80, 12, now);
        let text = rows.join("\n");
        assert!(text.contains("● live   http://nas.lan:3070   health RED"), "{text}");
        assert!(text.contains("2 repositories: 1 missing, 0 mismatched, 1 dirty"), "{text}");
        assert!(text.contains("10:00:05 halo clean → missing"), "{text}");
        let missing = rows.iter().position(|r| r.contains("missing (1)")).expect("missing");
        let dirty = rows.iter().position(|r| r.contains("dirty (1)")).expect("dirty");
        assert!(missing < dirty, "{text}");
        view.link = Link::Retrying {
            at: now + Duration::from_secs(4),
            reason: "connection refused".into(),
            signed_out: false,
        };
        let text = screen(&view, 80, 12, now).join("\n");
        assert!(text.contains("reconnecting in 4 s"), "{text}");
        assert!(text.contains("last attempt: connection refused"), "{text}");
        assert!(text.contains("halo"), "the last state stays on screen while reconnecting");
    }

    #[test]
    fn quit_keys() {
        let key = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(is_quit(&key(KeyCode::Char('q'), KeyModifiers::NONE)));
        assert!(is_quit(&key(KeyCode::Esc, KeyModifiers::NONE)));
        assert!(is_quit(&key(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!is_quit(&key(KeyCode::Char('c'), KeyModifiers::NONE)));
        assert!(!is_quit(&key(KeyCode::Char('x'), KeyModifiers::NONE)));
    }
}
