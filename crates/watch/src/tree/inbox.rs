//! The pure part of a tree watch: which OS events say something changed inside a clone, and
//! which clones have been quiet long enough to be reported.
//!
//! [`Filter::classify`] runs on notify's thread for every event and only looks at paths; the
//! [`Quiet`] bookkeeping runs in the task. Both are sync and free of IO, so the rules are tested
//! without a runtime, as the file watch's inbox is.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind, RemoveKind};

/// Which top-level folders of the root are clones, and the root itself.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    /// The watched root, as given to the OS watcher (its events carry this prefix).
    pub(crate) root: PathBuf,
    /// Folder names that are not clones, compared ignoring ASCII case.
    pub(crate) skip: Vec<String>,
    /// Whether names starting with `.` are not clones either.
    pub(crate) skip_hidden: bool,
}

/// What one OS event tells the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Raw {
    /// Something inside clone `name` (or the clone folder itself) changed.
    Touched {
        /// The top-level folder's name.
        name: String,
        /// The folder appeared at the top level (created, or renamed into the root): it is not
        /// watched yet, so the task adds a watch for it.
        new_folder: bool,
    },
    /// The OS event queue overflowed: events were lost, any clone may have changed.
    Overflow,
    /// The OS watcher reported an error.
    Failed(String),
    /// The root itself was removed or renamed: its watch is gone.
    RootGone,
}

impl Filter {
    /// Whether a top-level folder called `name` is left out.
    pub(crate) fn is_skipped(&self, name: &str) -> bool {
        (self.skip_hidden && name.starts_with('.'))
            || self.skip.iter().any(|skip| skip.eq_ignore_ascii_case(name))
    }

    /// The clone `path` is in (or is), unless it is outside the root, the root itself, not
    /// UTF-8, or a skipped folder.
    pub(crate) fn clone_name<'a>(&self, path: &'a Path) -> Option<&'a str> {
        let relative = path.strip_prefix(&self.root).ok()?;
        let Some(Component::Normal(first)) = relative.components().next() else { return None };
        let name = first.to_str()?;
        (!self.is_skipped(name)).then_some(name)
    }

    /// What an OS event means for the tree; empty for events that change nothing in a clone.
    ///
    /// Opens and read-only closes are dropped first: the auditor reads every clone it audits,
    /// and counting its own reads as changes would re-audit the clones forever. A file written
    /// directly in the root (beside the clones, not in one) is not a clone's change either.
    pub(crate) fn classify(&self, event: &notify::Result<notify::Event>) -> Vec<Raw> {
        let event = match event {
            Ok(event) => event,
            Err(error) => return vec![Raw::Failed(error.to_string())],
        };
        if event.need_rescan() {
            return vec![Raw::Overflow];
        }
        let kind = event.kind;
        if matches!(kind, EventKind::Access(access) if access != AccessKind::Close(AccessMode::Write))
        {
            return Vec::new();
        }
        let mut raws = Vec::new();
        for path in &event.paths {
            if *path == self.root {
                if matches!(kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))) {
                    raws.push(Raw::RootGone);
                }
                continue;
            }
            let Some(name) = self.clone_name(path) else { continue };
            let top_level = path.parent() == Some(self.root.as_path());
            if top_level && is_about_a_file(kind) {
                continue;
            }
            let new_folder = top_level
                && matches!(
                    kind,
                    EventKind::Create(CreateKind::Folder)
                        | EventKind::Modify(ModifyKind::Name(notify::event::RenameMode::To))
                );
            raws.push(Raw::Touched { name: name.to_owned(), new_folder });
        }
        raws
    }
}

/// Whether an event kind names a file, not a folder (inotify says which on create and remove;
/// only files are written to).
fn is_about_a_file(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Create(CreateKind::File)
            | EventKind::Remove(RemoveKind::File)
            | EventKind::Modify(ModifyKind::Data(_))
            | EventKind::Access(_)
    )
}

/// The two durations a report waits on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Quiet time after a clone's last event before it is reported.
    pub(crate) quiet: Duration,
    /// The longest a clone's first unreported event waits, quiet or not.
    pub(crate) max_delay: Duration,
}

/// The first and the last event of something not reported yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    first: Instant,
    last: Instant,
}

impl Seen {
    fn new(now: Instant) -> Seen {
        Seen { first: now, last: now }
    }

    /// When it is due: `quiet` after the last event, or `max_delay` after the first, whichever
    /// comes first. `None` when both are too far off to represent (wait for the next event).
    fn due_at(self, timing: Timing) -> Option<Instant> {
        let quiet = self.last.checked_add(timing.quiet);
        let longest = self.first.checked_add(timing.max_delay);
        match (quiet, longest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Something the task should report now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ready {
    /// Clone `name` changed; its first unreported event was at `first_event`.
    Changed { name: String, first_event: Instant },
    /// Events were lost; the first loss not reported yet was at `first_event`.
    Rescan { first_event: Instant },
}

/// The clones (and the rescan) waiting for quiet. At most one entry per clone, however many
/// events arrive, so memory is bounded by the number of top-level folders.
#[derive(Debug, Default)]
pub(crate) struct Quiet {
    clones: HashMap<String, Seen>,
    rescan: Option<Seen>,
}

impl Quiet {
    /// Notes an event inside clone `name` at `now`.
    pub(crate) fn note(&mut self, name: &str, now: Instant) {
        match self.clones.get_mut(name) {
            Some(seen) => seen.last = now,
            None => {
                self.clones.insert(name.to_owned(), Seen::new(now));
            }
        }
    }

    /// Notes at `now` that events were lost.
    pub(crate) fn note_rescan(&mut self, now: Instant) {
        match &mut self.rescan {
            Some(seen) => seen.last = now,
            None => self.rescan = Some(Seen::new(now)),
        }
    }

    /// When the next report is due; `None` when nothing waits (or nothing can become due
    /// before another event).
    pub(crate) fn deadline(&self, timing: Timing) -> Option<Instant> {
        self.rescan.iter().chain(self.clones.values()).filter_map(|seen| seen.due_at(timing)).min()
    }

    /// Takes the report due at `now`, if any: a rescan first (it covers every clone), then the
    /// clone due earliest.
    pub(crate) fn take_due(&mut self, now: Instant, timing: Timing) -> Option<Ready> {
        let is_due = |seen: &Seen| seen.due_at(timing).is_some_and(|at| at <= now);
        if let Some(seen) = self.rescan.filter(is_due) {
            self.rescan = None;
            return Some(Ready::Rescan { first_event: seen.first });
        }
        let name = self
            .clones
            .iter()
            .filter(|(_, seen)| is_due(seen))
            .min_by_key(|(_, seen)| seen.due_at(timing))
            .map(|(name, _)| name.clone())?;
        let seen = self.clones.remove(&name)?;
        Some(Ready::Changed { name, first_event: seen.first })
    }

    /// How many clones wait.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.clones.len()
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{DataChange, MetadataKind, RenameMode};
    use proptest::prelude::*;

    use super::*;

    fn filter() -> Filter {
        Filter { root: PathBuf::from("/srv/git"), skip: vec!["tmp".to_owned()], skip_hidden: true }
    }

    fn event(kind: EventKind, paths: &[&str]) -> notify::Result<notify::Event> {
        let mut event = notify::Event::new(kind);
        for path in paths {
            event = event.add_path(PathBuf::from(path));
        }
        Ok(event)
    }

    fn touched(name: &str) -> Raw {
        Raw::Touched { name: name.to_owned(), new_folder: false }
    }

    const MODIFY: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    const OPEN: EventKind = EventKind::Access(AccessKind::Open(AccessMode::Any));
    const CLOSE_READ: EventKind = EventKind::Access(AccessKind::Close(AccessMode::Read));
    const CLOSE_WRITE: EventKind = EventKind::Access(AccessKind::Close(AccessMode::Write));

    const TIMING: Timing =
        Timing { quiet: Duration::from_millis(150), max_delay: Duration::from_secs(2) };

    #[test]
    fn paths_map_to_their_clone_unless_skipped() {
        let filter = filter();
        let name = |path: &str| filter.clone_name(Path::new(path)).map(str::to_owned);
        assert_eq!(name("/srv/git/halo/.git/index").as_deref(), Some("halo"));
        assert_eq!(name("/srv/git/halo/src/new.rs").as_deref(), Some("halo"));
        assert_eq!(name("/srv/git/halo").as_deref(), Some("halo"));
        assert_eq!(name("/srv/git/tmp/x"), None);
        assert_eq!(name("/srv/git/TMP/x"), None, "the skip list ignores case");
        assert_eq!(name("/srv/git/.cache/x"), None);
        assert_eq!(name("/srv/git"), None);
        assert_eq!(name("/srv/gitlab/x"), None, "a sibling sharing the prefix is outside");
        assert_eq!(name("/elsewhere/x"), None);
        let shown = Filter { skip_hidden: false, ..filter.clone() };
        assert_eq!(shown.clone_name(Path::new("/srv/git/.dotfiles/x")), Some(".dotfiles"));
    }

    #[test]
    fn writes_inside_a_clone_are_changes() {
        let filter = filter();
        for kind in [
            MODIFY,
            CLOSE_WRITE,
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Any,
        ] {
            assert_eq!(
                filter.classify(&event(kind, &["/srv/git/halo/.git/index.lock"])),
                vec![touched("halo")],
                "{kind:?}"
            );
        }
    }

    #[test]
    fn reads_are_not_changes() {
        let filter = filter();
        for kind in [OPEN, CLOSE_READ, EventKind::Access(AccessKind::Any)] {
            assert_eq!(filter.classify(&event(kind, &["/srv/git/halo/.git/HEAD"])), vec![]);
            assert_eq!(filter.classify(&event(kind, &["/srv/git/halo"])), vec![]);
        }
    }

    #[test]
    fn a_rename_between_clones_touches_both() {
        let both = EventKind::Modify(ModifyKind::Name(RenameMode::Both));
        assert_eq!(
            filter().classify(&event(both, &["/srv/git/halo/a", "/srv/git/kitshn/a"])),
            vec![touched("halo"), touched("kitshn")]
        );
        assert_eq!(
            filter().classify(&event(both, &["/srv/git/tmp/a", "/srv/git/kitshn/a"])),
            vec![touched("kitshn")]
        );
    }

    #[test]
    fn new_top_level_folders_are_marked_for_a_watch() {
        let filter = filter();
        let new = |name: &str| Raw::Touched { name: name.to_owned(), new_folder: true };
        let created = EventKind::Create(CreateKind::Folder);
        let renamed_in = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert_eq!(filter.classify(&event(created, &["/srv/git/gamma"])), vec![new("gamma")]);
        assert_eq!(filter.classify(&event(renamed_in, &["/srv/git/gamma"])), vec![new("gamma")]);
        // Deeper folders are watched by the clone's recursive watch already.
        assert_eq!(
            filter.classify(&event(created, &["/srv/git/gamma/src"])),
            vec![touched("gamma")]
        );
        assert_eq!(filter.classify(&event(created, &["/srv/git/.hidden"])), vec![]);
        assert_eq!(filter.classify(&event(created, &["/srv/git/tmp"])), vec![]);
    }

    #[test]
    fn a_removed_or_renamed_clone_is_a_change() {
        let filter = filter();
        for kind in [
            EventKind::Remove(RemoveKind::Folder),
            EventKind::Remove(RemoveKind::Other),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
        ] {
            assert_eq!(filter.classify(&event(kind, &["/srv/git/halo"])), vec![touched("halo")]);
        }
    }

    #[test]
    fn files_beside_the_clones_are_not_changes() {
        let filter = filter();
        for kind in [
            MODIFY,
            CLOSE_WRITE,
            EventKind::Create(CreateKind::File),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert_eq!(filter.classify(&event(kind, &["/srv/git/audit.log"])), vec![], "{kind:?}");
        }
    }

    #[test]
    fn root_removed_overflow_and_errors_are_told() {
        let filter = filter();
        for kind in [
            EventKind::Remove(RemoveKind::Folder),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
        ] {
            assert_eq!(filter.classify(&event(kind, &["/srv/git"])), vec![Raw::RootGone]);
        }
        let touched_root = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any));
        assert_eq!(filter.classify(&event(touched_root, &["/srv/git"])), vec![]);
        let overflow = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert_eq!(filter.classify(&Ok(overflow)), vec![Raw::Overflow]);
        let error = notify::Error::generic("inotify read failed");
        assert_eq!(filter.classify(&Err(error)), vec![Raw::Failed("inotify read failed".into())]);
    }

    #[test]
    fn a_burst_is_reported_once_after_the_quiet_time() {
        let mut quiet = Quiet::default();
        let t0 = Instant::now();
        for ms in (0..100).step_by(10) {
            quiet.note("halo", t0 + Duration::from_millis(ms));
        }
        let last = t0 + Duration::from_millis(90);
        assert_eq!(quiet.deadline(TIMING), Some(last + TIMING.quiet));
        assert_eq!(quiet.take_due(last + TIMING.quiet - Duration::from_nanos(1), TIMING), None);
        assert_eq!(
            quiet.take_due(last + TIMING.quiet, TIMING),
            Some(Ready::Changed { name: "halo".into(), first_event: t0 })
        );
        assert_eq!(quiet.take_due(last + TIMING.quiet, TIMING), None);
        assert_eq!(quiet.deadline(TIMING), None);
    }

    #[test]
    fn clones_are_reported_separately_earliest_first() {
        let mut quiet = Quiet::default();
        let t0 = Instant::now();
        quiet.note("kitshn", t0 + Duration::from_millis(5));
        quiet.note("halo", t0);
        let later = t0 + Duration::from_secs(1);
        let names: Vec<_> = std::iter::from_fn(|| quiet.take_due(later, TIMING)).collect();
        assert_eq!(
            names,
            vec![
                Ready::Changed { name: "halo".into(), first_event: t0 },
                Ready::Changed {
                    name: "kitshn".into(),
                    first_event: t0 + Duration::from_millis(5)
                },
            ]
        );
    }

    #[test]
    fn a_clone_never_quiet_is_reported_after_max_delay() {
        let mut quiet = Quiet::default();
        let t0 = Instant::now();
        let mut now = t0;
        while now < t0 + TIMING.max_delay {
            quiet.note("ha-config", now);
            now += Duration::from_millis(100);
        }
        assert_eq!(quiet.deadline(TIMING), Some(t0 + TIMING.max_delay));
        assert_eq!(
            quiet.take_due(t0 + TIMING.max_delay, TIMING),
            Some(Ready::Changed { name: "ha-config".into(), first_event: t0 })
        );
        // The next report counts from the next event.
        quiet.note("ha-config", now);
        assert_eq!(quiet.deadline(TIMING), Some(now + TIMING.quiet));
    }

    #[test]
    fn a_rescan_comes_before_the_clones() {
        let mut quiet = Quiet::default();
        let t0 = Instant::now();
        quiet.note("halo", t0);
        quiet.note_rescan(t0 + Duration::from_millis(1));
        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            quiet.take_due(later, TIMING),
            Some(Ready::Rescan { first_event: t0 + Duration::from_millis(1) })
        );
        assert!(matches!(quiet.take_due(later, TIMING), Some(Ready::Changed { .. })));
    }

    #[test]
    fn durations_too_long_to_represent_wait_for_the_other_bound() {
        let mut quiet = Quiet::default();
        let t0 = Instant::now();
        quiet.note("halo", t0);
        let no_max = Timing { max_delay: Duration::MAX, ..TIMING };
        assert_eq!(quiet.deadline(no_max), Some(t0 + TIMING.quiet));
        let neither = Timing { quiet: Duration::MAX, max_delay: Duration::MAX };
        assert_eq!(quiet.deadline(neither), None);
        assert_eq!(quiet.take_due(t0 + Duration::from_secs(3600), neither), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Whatever the events, each clone is reported exactly once, never before it was quiet
        /// for `quiet` (or waited `max_delay`), and with its first event's time.
        #[test]
        fn each_clone_once_on_the_trailing_edge(
            events in proptest::collection::vec((0usize..4, 0u64..400), 1..64)
        ) {
            let names = ["halo", "kitshn", "esphome", "scratch"];
            let mut quiet = Quiet::default();
            let t0 = Instant::now();
            let mut now = t0;
            let mut seen: HashMap<&str, (Instant, Instant)> = HashMap::new();
            for (index, gap_ms) in events {
                now += Duration::from_millis(gap_ms);
                // Reports due before this event go out first, as the task does.
                while let Some(Ready::Changed { name, first_event }) = quiet.take_due(now, TIMING) {
                    let (first, last) = seen.remove(name.as_str()).expect("reported once");
                    prop_assert_eq!(first_event, first);
                    prop_assert!(now >= (last + TIMING.quiet).min(first + TIMING.max_delay));
                }
                let name = names[index];
                quiet.note(name, now);
                seen.entry(name).and_modify(|(_, last)| *last = now).or_insert((now, now));
                prop_assert_eq!(quiet.len(), seen.len());
            }
            let end = now + TIMING.max_delay;
            while let Some(Ready::Changed { name, first_event }) = quiet.take_due(end, TIMING) {
                let (first, _) = seen.remove(name.as_str()).expect("reported once");
                prop_assert_eq!(first_event, first);
            }
            prop_assert!(seen.is_empty(), "never reported: {:?}", seen.keys());
            prop_assert_eq!(quiet.deadline(TIMING), None);
        }
    }
}
