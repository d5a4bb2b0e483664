//! The inbox between the OS watcher's callback thread and the watch task: which paths matter, and
//! what has happened to them since the last read, coalesced into a few fields.
//!
//! The callback runs on notify's own thread and must never block for long, so it does not queue
//! events: it filters each one against the watched paths and folds it into [`Pending`] under a
//! briefly held lock, then wakes the task. Memory stays bounded whatever the event rate, and a
//! storm of events on other files in the directory costs a few path comparisons each (opens,
//! closes and renames of other files are counted, at most 256 names: [`OpenElsewhere`]), no
//! read.
//! Everything here is sync and free of IO, so the debounce rules are tested without a runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};

/// Whether the platform's watcher reports "closed after writing" (inotify's `IN_CLOSE_WRITE`).
///
/// Only then can an in-place write be recognised as still in progress; elsewhere every
/// modification is treated as complete and the plain trailing-edge debounce applies.
const CLOSE_WRITE_REPORTED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Whether the platform's watcher reports a watched directory being opened (inotify's
/// `IN_OPEN` on the directory itself), which is what a read fence needs.
pub(crate) const OPEN_REPORTED: bool = CLOSE_WRITE_REPORTED;

/// Counters for diagnostics and tests; they only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatchStats {
    /// OS events that concerned the watched file, its symlink chain or their directories.
    pub relevant_events: u64,
    /// OS events about other files in the watched directories, and our own reads; dropped unread.
    pub ignored_events: u64,
    /// Times the file was read after a debounce, a trigger or a poll.
    pub reads: u64,
}

/// State shared by the callback thread (writer of events) and the task (reader and filter owner).
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// Every path of the current symlink chain, from the configured path to the final target,
    /// each as canonical parent directory plus file name.
    pub(crate) files: Vec<PathBuf>,
    /// The canonical directories holding `files`; an event about one of them (removed, renamed)
    /// means the watches must be set up again.
    pub(crate) dirs: Vec<PathBuf>,
    /// What happened since the last read.
    pub(crate) pending: Pending,
    /// The watched directory the task opens after a read as a fence (see [`Inbox::record`]).
    pub(crate) fence_dir: Option<PathBuf>,
    /// How many opens of `fence_dir` the callback has seen.
    pub(crate) fences_seen: u64,
    /// Opens and write-closes of the watched file, to tell when every writer has closed it.
    pub(crate) opens: OpenCounts,
    /// `opens` when the last read began: only what happened since counts.
    pub(crate) opens_at_read: OpenCounts,
    /// Other files in the watched directories that are open now, as far as the events tell.
    pub(crate) open_elsewhere: OpenElsewhere,
    /// Counters.
    pub(crate) stats: WatchStats,
}

/// Files in the watched directories other than the watched ones, with how many opens of each
/// have not been closed after writing yet: a temp file renamed onto the watched path is complete
/// only if its writer closed it first (a writer may rename a file it still holds open and go
/// on writing it).
///
/// Read-only closes are not reported, so a file a reader opened stays counted until it is
/// renamed or removed; that only makes a rename of it wait out the debounce. Names are dropped
/// when their count is back to zero or they are renamed away or removed, and at most
/// [`OpenElsewhere::MAX_NAMES`] are kept: beyond that nothing is known, and no rename is taken as
/// complete until the count is back under it.
#[derive(Debug, Default)]
pub(crate) struct OpenElsewhere {
    open: HashMap<PathBuf, u32>,
    /// A name could not be counted because `open` was full.
    overflowed: bool,
    /// The last file renamed away from its name, and whether it was closed by every writer
    /// then. notify reports a rename as `From`, `To`, then `Both` with the two paths.
    moved: Option<(PathBuf, bool)>,
}

impl OpenElsewhere {
    /// The most names counted at once.
    pub(crate) const MAX_NAMES: usize = 256;

    fn opened(&mut self, path: &Path) {
        if let Some(count) = self.open.get_mut(path) {
            *count = count.saturating_add(1);
        } else if self.open.len() < Self::MAX_NAMES {
            self.open.insert(path.to_path_buf(), 1);
        } else {
            self.overflowed = true;
        }
    }

    fn closed_after_writing(&mut self, path: &Path) {
        if let Some(count) = self.open.get_mut(path) {
            *count -= 1;
            if *count == 0 {
                self.open.remove(path);
            }
        }
    }

    /// The name is gone (removed): whatever is open is no longer under it.
    fn gone(&mut self, path: &Path) {
        self.open.remove(path);
        if self.open.is_empty() {
            self.overflowed = false;
        }
    }

    /// The file at `path` was renamed away (the first half of a rename).
    fn moved_away(&mut self, path: &Path) {
        let closed = !self.overflowed && !self.open.contains_key(path);
        self.gone(path);
        self.moved = Some((path.to_path_buf(), closed));
    }

    /// Whether the file just renamed away from `path` had been closed by every writer.
    fn moved_closed(&self, path: &Path) -> bool {
        self.moved.as_ref().is_some_and(|(moved, closed)| moved == path && *closed)
    }
}

/// Opens of the watched file and closes after writing, as the OS watcher reported them.
///
/// inotify reports every open (`IN_OPEN`, any mode) and every close of a file opened for writing
/// (`IN_CLOSE_WRITE`); notify does not ask for read-only closes. Since the last read began, an
/// opener that is not one of our reads and has not closed after writing is a writer still at
/// work or a reader; either way the close of another writer does not prove the file complete.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenCounts {
    /// `IN_OPEN` events about the file, from anyone, our own reads included.
    pub(crate) opened: u64,
    /// Our own reads' opens of the file, counted just before each open.
    pub(crate) own: u64,
    /// `IN_CLOSE_WRITE` events about the file.
    pub(crate) write_closed: u64,
}

impl OpenCounts {
    /// Whether every opener since `since` other than our own reads has closed the file after
    /// writing. Asked only between reads: a read's own open is counted before it happens and
    /// its event arrives before the read's fence, so by then the two agree (after a fence that
    /// timed out, an own open still on its way would hide one foreign open).
    fn all_closed_since(&self, since: &OpenCounts) -> bool {
        let opened = self.opened.saturating_sub(since.opened);
        let own = self.own.saturating_sub(since.own);
        let closed = self.write_closed.saturating_sub(since.write_closed);
        opened.saturating_sub(own) <= closed
    }
}

/// What happened since the last read, coalesced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Pending {
    /// When the last relevant event was seen; the trailing-edge debounce counts from here.
    last_raw_event: Option<Instant>,
    /// The last relevant event completed a write: a writer closed the file after writing, or
    /// another file was renamed onto it.
    write_complete: bool,
    /// Every opener of the file since the last read began has closed it after writing (set by
    /// [`Inbox::step`] from [`OpenCounts`]). With `write_complete`, the in-place write is
    /// complete, so the read need not wait out the debounce (see [`Pending::deadline`]). A
    /// reader that opened the file and has not closed it looks like a writer, so it also sends
    /// a rename back to the debounce: cautious, and rare.
    openers_closed: bool,
    /// When the last read of a completed in-place write began; kept across reads (see
    /// [`Pending::deadline`]).
    last_fast_read: Option<Instant>,
    /// A modification was seen and the writer has not closed the file yet: reading now could
    /// catch a half-written file, so wait for the close (or for `max_write_wait`).
    write_in_progress: bool,
    /// A watched directory was removed or renamed: set the OS watches up again.
    dir_changed: bool,
    /// The consumer asked for a forced re-read at this time.
    forced_at: Option<Instant>,
    /// The OS watcher reported an error: fall back to polling.
    failure: Option<String>,
}

/// Locks the inbox. Nothing panics while holding the lock, but if something ever did, the
/// inbox is still consistent field by field, so carry on rather than stop watching.
pub(crate) fn lock(inbox: &Mutex<Inbox>) -> MutexGuard<'_, Inbox> {
    inbox.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The two durations the debounce depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// Quiet time after the last relevant event before reading.
    pub(crate) debounce: Duration,
    /// Longest wait for a writer to close the file after its last modification.
    pub(crate) max_write_wait: Duration,
}

/// A read that has become due, with what the read must take into account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    /// When the last raw event (or the trigger) was seen.
    pub(crate) last_raw_event: Instant,
    /// Emit even if the bytes did not change.
    pub(crate) forced: bool,
    /// Set the OS watches up again before reading.
    pub(crate) dir_changed: bool,
    /// The read follows a completed write (a close after writing or a rename onto the file,
    /// every opener closed): with a read fence, the status-change-time quiet check is not
    /// needed.
    pub(crate) write_complete: bool,
}

/// What the task should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The OS watcher failed with this message: switch to polling.
    Failed(String),
    /// Read the file now.
    Read(Due),
    /// Nothing to do before this time (or before the next wake-up, when `None`).
    Wait(Option<Instant>),
}

/// How one OS event affects the watched file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Bytes were written in place; more may follow until the writer closes the file.
    DataWritten,
    /// A writer closed the file after writing: the in-place write is complete.
    WriteClosed,
    /// The name now points at another inode, or at nothing (create, remove, rename).
    Replaced,
    /// Metadata or something unspecified changed: worth a (deduplicated) read.
    Touched,
}

/// Classifies an event kind; `None` for kinds that never change the bytes, such as the opens
/// and read-only closes our own reads cause.
fn effect_of(kind: &EventKind) -> Option<Effect> {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(Effect::WriteClosed),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Data(_)) if CLOSE_WRITE_REPORTED => Some(Effect::DataWritten),
        EventKind::Modify(ModifyKind::Name(_)) | EventKind::Create(_) | EventKind::Remove(_) => {
            Some(Effect::Replaced)
        }
        EventKind::Modify(_) | EventKind::Any | EventKind::Other => Some(Effect::Touched),
    }
}

/// Whether an event about a watched directory itself means that directory is gone from its place.
fn moves_directory(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)))
}

impl Pending {
    /// Notes a relevant event seen at `now` that does not say anything about in-place writes.
    pub(crate) fn note_raw_event(&mut self, now: Instant) {
        self.last_raw_event = Some(now);
        self.write_complete = false;
    }

    /// Notes at `now` that an in-place write seems to have begun without its event (the file
    /// was found empty): the next read waits for the writer's close, or for `max_write_wait`.
    pub(crate) fn note_write_begun(&mut self, now: Instant) {
        self.note_raw_event(now);
        self.write_in_progress = true;
    }

    /// Notes a forced re-read requested at `now`.
    pub(crate) fn note_trigger(&mut self, now: Instant) {
        self.forced_at.get_or_insert(now);
    }

    /// Whether a relevant event arrived since the last [`Pending::step`] that returned a read.
    pub(crate) fn has_raw_event(&self) -> bool {
        self.last_raw_event.is_some()
    }

    /// When the next read is due, if anything is pending. `None` also when the configured wait
    /// is too long to represent, which means "until the next event".
    ///
    /// After a completed write the read is due at once: the writer's close, or the rename of a
    /// written file onto the path, is the end of the write, and waiting out the debounce only
    /// delays it. Within one debounce of
    /// the last such read it waits for the rest of that debounce, so a burst of closes is read
    /// about once per debounce rather than once per close; never later than the debounce
    /// after the close would be.
    pub(crate) fn deadline(&self, timing: Timing) -> Option<Instant> {
        match self.last_raw_event {
            Some(last) if self.write_complete && self.openers_closed => {
                let after_last_read =
                    self.last_fast_read.and_then(|read| read.checked_add(timing.debounce));
                Some(after_last_read.map_or(last, |after| after.max(last)))
            }
            Some(last) => {
                let quiet = if self.write_in_progress {
                    timing.max_write_wait.max(timing.debounce)
                } else {
                    timing.debounce
                };
                last.checked_add(quiet)
            }
            None => self.forced_at,
        }
    }

    /// Decides what to do at `now`, taking (and clearing) whatever a due read covers.
    pub(crate) fn step(&mut self, now: Instant, timing: Timing) -> Step {
        if let Some(error) = self.failure.take() {
            return Step::Failed(error);
        }
        match self.deadline(timing) {
            Some(deadline) if deadline <= now => {
                let due = Due {
                    last_raw_event: self.last_raw_event.or(self.forced_at).unwrap_or(now),
                    forced: self.forced_at.is_some(),
                    dir_changed: self.dir_changed,
                    write_complete: self.write_complete && self.openers_closed,
                };
                let last_fast_read =
                    if due.write_complete { Some(now) } else { self.last_fast_read };
                *self = Pending { last_fast_read, ..Pending::default() };
                Step::Read(due)
            }
            deadline => Step::Wait(deadline),
        }
    }

    /// Puts back what a discarded read was meant to cover, so the next read covers it.
    pub(crate) fn restore(&mut self, due: Due, now: Instant) {
        if due.forced {
            self.note_trigger(now);
        }
        self.dir_changed |= due.dir_changed;
    }
}

impl Inbox {
    /// Whether `event` renamed a complete file onto a watched path: another file of a watched
    /// directory, closed by every writer that opened it, moved onto one of `files` (notify's
    /// `Both`, which follows the `To`). A file moved in from elsewhere (`To` alone) is not known
    /// to be closed, and the watched file renamed away is not a write.
    fn moved_in(&self, event: &notify::Event) -> bool {
        let [from, to] = &event.paths[..] else { return false };
        matches!(event.kind, EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            && self.files.contains(to)
            && !self.files.contains(from)
            && self.open_elsewhere.moved_closed(from)
    }

    /// Keeps [`OpenElsewhere`] up to date with an event about other files.
    fn count_elsewhere(&mut self, event: &notify::Event) {
        let counted = matches!(
            event.kind,
            EventKind::Access(AccessKind::Open(_) | AccessKind::Close(AccessMode::Write))
                | EventKind::Modify(ModifyKind::Name(RenameMode::From))
                | EventKind::Remove(_)
        );
        let Some(path) = event.paths.first().filter(|_| counted) else { return };
        if self.files.contains(path) {
            return;
        }
        let open = &mut self.open_elsewhere;
        match event.kind {
            EventKind::Access(AccessKind::Open(_)) => open.opened(path),
            EventKind::Access(AccessKind::Close(_)) => open.closed_after_writing(path),
            EventKind::Modify(_) => open.moved_away(path),
            _ => open.gone(path),
        }
    }

    /// Decides what to do at `now` (see [`Pending::step`]); a read begins here, so the open
    /// counts start again from this point.
    pub(crate) fn step(&mut self, now: Instant, timing: Timing) -> Step {
        self.pending.openers_closed = self.opens.all_closed_since(&self.opens_at_read);
        let step = self.pending.step(now, timing);
        if matches!(step, Step::Read(_)) {
            self.opens_at_read = self.opens;
        }
        step
    }

    /// Folds one OS watcher callback into the pending state. Returns whether the task should be
    /// woken; events about other files return `false` and change nothing but a counter.
    ///
    /// An open of `fence_dir` is counted in `fences_seen` and wakes the task too: inotify keeps
    /// one queue per instance, in order, so once the callback has seen the open the task did
    /// after a read, it has seen every event queued before it, including a writer's truncate
    /// that raced the read. That makes "nothing happened during the read" exact even when this
    /// thread runs late.
    pub(crate) fn record(&mut self, event: notify::Result<notify::Event>, now: Instant) -> bool {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                self.stats.relevant_events += 1;
                self.pending.failure = Some(error.to_string());
                self.pending.note_raw_event(now);
                return true;
            }
        };
        if event.need_rescan() {
            // The kernel queue overflowed: events were lost, so re-read to be sure.
            self.stats.relevant_events += 1;
            self.pending.note_raw_event(now);
            return true;
        }
        if matches!(event.kind, EventKind::Access(AccessKind::Open(_)))
            && self.fence_dir.as_ref().is_some_and(|dir| event.paths.contains(dir))
        {
            self.fences_seen += 1;
            tracing::trace!(fences_seen = self.fences_seen, "os event: read fence seen");
            return true;
        }
        let about_file = event.paths.iter().any(|path| self.files.contains(path));
        if about_file && matches!(event.kind, EventKind::Access(AccessKind::Open(_))) {
            self.opens.opened += 1;
        }
        self.count_elsewhere(&event);
        let Some(effect) = effect_of(&event.kind) else {
            self.stats.ignored_events += 1;
            if tracing::enabled!(tracing::Level::TRACE)
                && event.paths.iter().any(|path| self.files.contains(path))
            {
                tracing::trace!(kind = ?event.kind, "os event: about the file, not a change");
            }
            return false;
        };
        let about_dir =
            moves_directory(&event.kind) && event.paths.iter().any(|path| self.dirs.contains(path));
        if !about_file && !about_dir {
            self.stats.ignored_events += 1;
            return false;
        }
        self.stats.relevant_events += 1;
        tracing::trace!(kind = ?event.kind, ?effect, about_dir, "os event: relevant");
        self.pending.note_raw_event(now);
        self.pending.dir_changed |= about_dir;
        if about_file {
            match effect {
                Effect::DataWritten => self.pending.write_in_progress = true,
                Effect::WriteClosed => {
                    self.pending.write_in_progress = false;
                    self.opens.write_closed += 1;
                    self.pending.write_complete = true;
                }
                Effect::Replaced => {
                    self.pending.write_in_progress = false;
                    // Another file renamed onto a watched path, closed by every writer that
                    // opened it, is a whole file: as complete as a close after writing, unless
                    // a watched directory moved too.
                    self.pending.write_complete = !about_dir && self.moved_in(&event);
                }
                Effect::Touched => {}
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, DataChange, MetadataKind, RemoveKind};
    use proptest::prelude::*;

    use super::*;

    const TIMING: Timing =
        Timing { debounce: Duration::from_millis(20), max_write_wait: Duration::from_secs(2) };

    fn inbox() -> Inbox {
        Inbox {
            files: vec![PathBuf::from("/d/latest.json"), PathBuf::from("/t/2026.json")],
            dirs: vec![PathBuf::from("/d"), PathBuf::from("/t")],
            ..Inbox::default()
        }
    }

    fn event(kind: EventKind, path: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(kind).add_path(PathBuf::from(path)))
    }

    const MODIFY: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    const CLOSE_WRITE: EventKind = EventKind::Access(AccessKind::Close(AccessMode::Write));

    fn all_kinds() -> Vec<EventKind> {
        vec![
            MODIFY,
            CLOSE_WRITE,
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Create(CreateKind::File),
            EventKind::Create(CreateKind::Folder),
            EventKind::Remove(RemoveKind::File),
            EventKind::Remove(RemoveKind::Folder),
            EventKind::Modify(ModifyKind::Name(RenameMode::From)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)),
            EventKind::Any,
            EventKind::Other,
        ]
    }

    const OPEN: EventKind = EventKind::Access(AccessKind::Open(AccessMode::Any));

    fn fast(last_raw_event: Instant) -> Step {
        Step::Read(Due { last_raw_event, forced: false, dir_changed: false, write_complete: true })
    }

    fn debounced(last_raw_event: Instant) -> Step {
        Step::Read(Due { last_raw_event, forced: false, dir_changed: false, write_complete: false })
    }

    /// One writer (`cp`, a shell's `>`): open, modify, close. Nothing before the close; the
    /// close is read at once.
    #[test]
    fn in_place_write_waits_for_close_then_reads_at_once() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        assert!(!inbox.record(event(OPEN, "/t/2026.json"), t0), "an open is not a change");
        assert!(inbox.record(event(MODIFY, "/t/2026.json"), t0));
        let half_time = t0 + Duration::from_millis(500);
        assert_eq!(
            inbox.step(half_time, TIMING),
            Step::Wait(Some(t0 + TIMING.max_write_wait)),
            "an unclosed in-place write must not be read after the plain debounce"
        );
        let closed = t0 + Duration::from_millis(600);
        assert!(inbox.record(event(CLOSE_WRITE, "/t/2026.json"), closed));
        assert_eq!(inbox.step(closed, TIMING), fast(closed));
        assert_eq!(inbox.step(closed + TIMING.debounce, TIMING), Step::Wait(None));
    }

    /// Two writers have the file open; the first one's close does not make the file complete,
    /// the second one's does.
    #[test]
    fn a_close_while_another_opener_is_at_work_waits_out_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(OPEN, "/t/2026.json"), t0);
        inbox.record(event(OPEN, "/t/2026.json"), t0);
        inbox.record(event(MODIFY, "/t/2026.json"), t0);
        let first_close = t0 + Duration::from_millis(1);
        inbox.record(event(CLOSE_WRITE, "/t/2026.json"), first_close);
        assert_eq!(
            inbox.step(first_close, TIMING),
            Step::Wait(Some(first_close + TIMING.debounce))
        );
        let second_close = first_close + Duration::from_millis(1);
        inbox.record(event(CLOSE_WRITE, "/t/2026.json"), second_close);
        assert_eq!(inbox.step(second_close, TIMING), fast(second_close));
    }

    /// inotify does not report read-only closes to us, so a reader's open since the last read
    /// looks like a writer still at work: back to the debounce, until a read starts the count
    /// again.
    #[test]
    fn a_reader_since_the_last_read_sends_the_close_back_to_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(OPEN, "/t/2026.json"), t0);
        for _ in 0..2 {
            inbox.record(event(OPEN, "/t/2026.json"), t0);
            inbox.record(event(MODIFY, "/t/2026.json"), t0);
            inbox.record(event(CLOSE_WRITE, "/t/2026.json"), t0);
        }
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
        let read_at = t0 + TIMING.debounce;
        assert_eq!(inbox.step(read_at, TIMING), debounced(t0));
        inbox.record(event(OPEN, "/t/2026.json"), read_at);
        inbox.record(event(MODIFY, "/t/2026.json"), read_at);
        inbox.record(event(CLOSE_WRITE, "/t/2026.json"), read_at);
        assert_eq!(inbox.step(read_at, TIMING), fast(read_at));
    }

    /// Our own reads open the file too; counted before they open, they are not writers.
    #[test]
    fn our_own_opens_are_not_taken_for_writers() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.opens.own += 1;
        inbox.record(event(OPEN, "/t/2026.json"), t0);
        inbox.record(event(OPEN, "/t/2026.json"), t0);
        inbox.record(event(MODIFY, "/t/2026.json"), t0);
        inbox.record(event(CLOSE_WRITE, "/t/2026.json"), t0);
        assert_eq!(inbox.step(t0, TIMING), fast(t0));
    }

    /// A change after the close (a `chmod`, a `touch`, a new write) is not covered by it.
    #[test]
    fn an_event_after_the_close_waits_out_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(MODIFY, "/t/2026.json"), t0);
        inbox.record(event(CLOSE_WRITE, "/t/2026.json"), t0);
        let touched = EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any));
        inbox.record(event(touched, "/t/2026.json"), t0);
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
    }

    /// A burst of writers that each close: read at once, then at most once per debounce.
    #[test]
    fn a_burst_of_closes_is_read_once_per_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(CLOSE_WRITE, "/t/2026.json"), t0);
        assert_eq!(inbox.step(t0, TIMING), fast(t0));
        let next = t0 + Duration::from_millis(1);
        for n in 0..5 {
            inbox.record(event(MODIFY, "/t/2026.json"), next);
            inbox.record(event(CLOSE_WRITE, "/t/2026.json"), next + Duration::from_micros(n));
        }
        let last = next + Duration::from_micros(4);
        assert_eq!(inbox.step(last, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
        assert_eq!(inbox.step(t0 + TIMING.debounce, TIMING), fast(last));
    }

    #[test]
    fn unclosed_write_is_read_after_max_write_wait() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(MODIFY, "/t/2026.json"), t0);
        assert!(matches!(inbox.pending.step(t0 + TIMING.max_write_wait, TIMING), Step::Read(_)));
    }

    fn renamed(from: &str, to: &str) -> notify::Result<notify::Event> {
        Ok(notify::Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path(PathBuf::from(from))
            .add_path(PathBuf::from(to)))
    }

    /// A rename as notify reports it: `From`, `To`, then `Both` with the two paths.
    fn rename(inbox: &mut Inbox, from: &str, to: &str, now: Instant) -> bool {
        let from_kind = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        let to_kind = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        let a = inbox.record(event(from_kind, from), now);
        let b = inbox.record(event(to_kind, to), now);
        let c = inbox.record(renamed(from, to), now);
        a || b || c
    }

    /// An atomic writer: the temp file's own events are about another path; the rename onto
    /// the watched one, of a temp file its writer has closed, ends a write in progress and is
    /// read at once, like a close after writing.
    #[test]
    fn a_rename_onto_the_file_ends_a_write_in_progress_and_is_read_at_once() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(MODIFY, "/d/latest.json"), t0);
        assert!(!inbox.record(event(OPEN, "/d/latest.json.tmp"), t0));
        assert!(!inbox.record(event(MODIFY, "/d/latest.json.tmp"), t0));
        assert!(!inbox.record(event(CLOSE_WRITE, "/d/latest.json.tmp"), t0));
        let t1 = t0 + Duration::from_millis(3);
        assert!(rename(&mut inbox, "/d/latest.json.tmp", "/d/latest.json", t1));
        assert_eq!(inbox.step(t1, TIMING), fast(t1));
        // A burst of renames is read at most once per debounce.
        let t2 = t1 + Duration::from_millis(1);
        rename(&mut inbox, "/d/latest.json.tmp", "/d/latest.json", t2);
        assert_eq!(inbox.step(t2, TIMING), Step::Wait(Some(t1 + TIMING.debounce)));
        assert_eq!(inbox.step(t1 + TIMING.debounce, TIMING), fast(t2));
    }

    /// A writer may rename its temp file while it still holds it open and go on writing: that
    /// rename waits out the debounce, and the writer's close (reported under the new name)
    /// ends the write.
    #[test]
    fn a_temp_file_renamed_while_its_writer_holds_it_open_waits_for_its_close() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(OPEN, "/d/latest.json.tmp"), t0);
        inbox.record(event(MODIFY, "/d/latest.json.tmp"), t0);
        assert!(rename(&mut inbox, "/d/latest.json.tmp", "/d/latest.json", t0));
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
        let t1 = t0 + Duration::from_millis(2);
        assert!(inbox.record(event(MODIFY, "/d/latest.json"), t1));
        assert!(inbox.record(event(CLOSE_WRITE, "/d/latest.json"), t1));
        assert_eq!(inbox.step(t1, TIMING), fast(t1));
    }

    /// A file renamed in from outside the watched directories (`To` alone) is not known to be
    /// closed, nor is one whose `From` was another file's.
    #[test]
    fn a_rename_from_elsewhere_or_unmatched_waits_out_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        let to = EventKind::Modify(ModifyKind::Name(RenameMode::To));
        assert!(inbox.record(event(to, "/d/latest.json"), t0));
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
        let mut inbox = self::inbox();
        let from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        inbox.record(event(from, "/d/other.tmp"), t0);
        assert!(inbox.record(renamed("/d/latest.json.tmp", "/d/latest.json"), t0));
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
    }

    /// Beyond the names it can count, nothing is known: renames wait out the debounce until
    /// the counted files are gone.
    #[test]
    fn too_many_open_files_elsewhere_send_renames_back_to_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        for n in 0..=OpenElsewhere::MAX_NAMES {
            inbox.record(event(OPEN, &format!("/d/reader-{n}.log")), t0);
        }
        rename(&mut inbox, "/d/latest.json.tmp", "/d/latest.json", t0);
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
        for n in 0..OpenElsewhere::MAX_NAMES {
            let remove = EventKind::Remove(RemoveKind::File);
            inbox.record(event(remove, &format!("/d/reader-{n}.log")), t0);
        }
        let t1 = t0 + TIMING.debounce;
        assert!(matches!(inbox.step(t1, TIMING), Step::Read(_)));
        let t2 = t1 + TIMING.debounce;
        rename(&mut inbox, "/d/latest.json.tmp", "/d/latest.json", t2);
        assert_eq!(inbox.step(t2, TIMING), fast(t2));
    }

    /// The watched file renamed away is gone from its path, not complete: the debounce lets a
    /// replacement arrive first.
    #[test]
    fn the_file_renamed_away_waits_out_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        let from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        assert!(inbox.record(event(from, "/d/latest.json"), t0));
        assert!(inbox.record(renamed("/d/latest.json", "/d/latest.json.bak"), t0));
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
        assert_eq!(inbox.step(t0 + TIMING.debounce, TIMING), debounced(t0));
    }

    /// A process that opened the file and has not closed it could be a writer: a rename onto
    /// the file then waits out the debounce, as a close does.
    #[test]
    fn a_rename_while_an_opener_is_at_work_waits_out_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.record(event(OPEN, "/d/latest.json"), t0);
        assert!(rename(&mut inbox, "/d/latest.json.tmp", "/d/latest.json", t0));
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
    }

    /// A rename that also moves a watched directory sets the watches up again after the
    /// debounce.
    #[test]
    fn a_rename_that_moves_a_watched_directory_waits_out_the_debounce() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        assert!(inbox.record(renamed("/t", "/d/latest.json"), t0));
        assert_eq!(inbox.step(t0, TIMING), Step::Wait(Some(t0 + TIMING.debounce)));
    }

    #[test]
    fn our_own_reads_are_ignored() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        assert!(!inbox.record(
            event(EventKind::Access(AccessKind::Open(AccessMode::Any)), "/t/2026.json"),
            t0
        ));
        assert!(!inbox.record(
            event(EventKind::Access(AccessKind::Close(AccessMode::Read)), "/t/2026.json"),
            t0
        ));
        assert_eq!(inbox.pending, Pending::default());
        assert_eq!(inbox.stats.ignored_events, 2);
    }

    #[test]
    fn opening_the_fence_directory_is_counted_and_nothing_else() {
        let mut inbox = Inbox { fence_dir: Some(PathBuf::from("/t")), ..inbox() };
        let t0 = Instant::now();
        let open = EventKind::Access(AccessKind::Open(AccessMode::Any));
        assert!(inbox.record(event(open, "/t"), t0));
        assert!(!inbox.record(event(open, "/d"), t0));
        assert!(!inbox.record(event(open, "/t/2026.json"), t0));
        assert_eq!(inbox.fences_seen, 1);
        assert_eq!(inbox.pending, Pending::default(), "a fence is not a change");
    }

    #[test]
    fn removed_directory_asks_for_new_watches() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        assert!(inbox.record(event(EventKind::Remove(RemoveKind::Folder), "/t"), t0));
        let Step::Read(due) = inbox.pending.step(t0 + TIMING.debounce, TIMING) else {
            panic!("a removed directory must cause a read");
        };
        assert!(due.dir_changed);
    }

    #[test]
    fn watcher_error_and_overflow_are_reported() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        assert!(inbox.record(Err(notify::Error::generic("inotify read failed")), t0));
        assert_eq!(inbox.pending.step(t0, TIMING), Step::Failed("inotify read failed".into()));
        // The failure also leaves a read pending, so the fallback re-reads the file.
        assert!(matches!(inbox.pending.step(t0 + TIMING.debounce, TIMING), Step::Read(_)));

        let overflow = notify::Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(inbox.record(Ok(overflow), t0));
        assert!(matches!(inbox.pending.step(t0 + TIMING.debounce, TIMING), Step::Read(_)));
    }

    #[test]
    fn trigger_reads_at_once_when_idle_and_is_carried_over_a_discarded_read() {
        let mut inbox = inbox();
        let t0 = Instant::now();
        inbox.pending.note_trigger(t0);
        let Step::Read(due) = inbox.pending.step(t0, TIMING) else {
            panic!("a trigger on an idle watch must read at once");
        };
        assert!(due.forced);
        inbox.pending.restore(due, t0);
        assert!(matches!(inbox.pending.step(t0, TIMING), Step::Read(Due { forced: true, .. })));
    }

    #[test]
    fn huge_max_write_wait_means_wait_for_the_close() {
        let mut inbox = inbox();
        let timing = Timing { max_write_wait: Duration::MAX, ..TIMING };
        inbox.record(event(MODIFY, "/t/2026.json"), Instant::now());
        assert_eq!(inbox.pending.deadline(timing), None);
    }

    fn kind_strategy() -> impl Strategy<Value = EventKind> {
        proptest::sample::select(all_kinds())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Other files in the watched directories never wake the task nor schedule a read.
        #[test]
        fn other_files_never_schedule_a_read(
            events in proptest::collection::vec(
                (kind_strategy(), proptest::sample::select(vec![
                    "/d/app.log", "/d/latest.json.tmp", "/d/2026.json", "/t/latest.json",
                    "/t/sub", "/other/latest.json", "/d/latest.json/x",
                ])),
                0..64,
            )
        ) {
            let mut inbox = inbox();
            let t0 = Instant::now();
            for (kind, path) in events {
                prop_assert!(!inbox.record(event(kind, path), t0));
            }
            prop_assert_eq!(&inbox.pending, &Pending::default());
            prop_assert_eq!(inbox.pending.step(t0 + Duration::from_secs(3600), TIMING), Step::Wait(None));
        }

        /// The read comes on the trailing edge: never before the quiet period after the last
        /// relevant event, always once it has passed, and never before an in-place write closed
        /// unless `max_write_wait` has passed. The quiet period is none when the last event is
        /// a close and every opener seen has closed after writing.
        #[test]
        fn reads_come_on_the_trailing_edge(
            events in proptest::collection::vec(
                (kind_strategy(), proptest::sample::select(vec!["/d/latest.json", "/t/2026.json"]), 0u64..50),
                1..64,
            )
        ) {
            let mut inbox = inbox();
            let t0 = Instant::now();
            let mut now = t0;
            let mut last_relevant = None;
            let mut open_write = false;
            let (mut opens, mut closes, mut closed_last) = (0, 0, false);
            for (kind, path, gap_ms) in events {
                now += Duration::from_millis(gap_ms);
                if inbox.record(event(kind, path), now) {
                    last_relevant = Some(now);
                    closed_last = false;
                }
                match effect_of(&kind) {
                    Some(Effect::DataWritten) => open_write = true,
                    Some(Effect::WriteClosed) => {
                        open_write = false;
                        closes += 1;
                        closed_last = true;
                    }
                    // Each event has one path: no rename here is known to bring a closed file.
                    Some(Effect::Replaced) => open_write = false,
                    Some(Effect::Touched) => {}
                    None if matches!(kind, EventKind::Access(AccessKind::Open(_))) => opens += 1,
                    None => {}
                }
            }
            let Some(last) = last_relevant else {
                prop_assert_eq!(inbox.step(now, TIMING), Step::Wait(None));
                return Ok(());
            };
            let write_complete = closed_last && opens <= closes;
            let quiet = if write_complete {
                Duration::ZERO
            } else if open_write {
                TIMING.max_write_wait
            } else {
                TIMING.debounce
            };
            if quiet > Duration::ZERO {
                let just_before = last + quiet - Duration::from_nanos(1);
                prop_assert_eq!(inbox.step(just_before, TIMING), Step::Wait(Some(last + quiet)));
            }
            prop_assert_eq!(
                inbox.step(last + quiet, TIMING),
                Step::Read(Due { last_raw_event: last, forced: false, dir_changed: false, write_complete })
            );
            prop_assert_eq!(inbox.step(last + quiet, TIMING), Step::Wait(None));
        }
    }
}
