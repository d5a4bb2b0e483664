//! The protocol's client rules as a pure state machine: what a client does with each server
//! message, whatever transport carried it.

use gitops_diff::{Changes, apply_in_place, apply_repo_change};
use gitops_report::Report;

use crate::{ConnectionStatus, Cursor, Result, ServerMessage};

/// What applying one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The state advanced to this cursor.
    Advanced(Cursor),
    /// The message was older than the state (or a repeat) and was ignored.
    Stale,
    /// The message does not follow the cursor (a gap, another epoch, or no snapshot yet): send
    /// `resume` with the cursor, or `request-update` without one.
    Gap,
    /// Not a state-bearing message.
    NotState,
}

/// The report as a client sees it, kept by the client rules of `docs/protocol.md`.
#[derive(Debug, Clone, Default)]
pub struct LiveState {
    /// The current report, once a snapshot has arrived.
    pub report: Option<Report>,
    /// The cursor of the last applied state-bearing message.
    pub cursor: Option<Cursor>,
    /// The last `connection-status` received.
    pub status: Option<ConnectionStatus>,
}

impl LiveState {
    /// Applies one server message by the client rules of `docs/protocol.md`.
    ///
    /// A snapshot (`audit-update`) replaces the state, unless it is older than the cursor in the
    /// same epoch (stale: an instance behind, or a slow answer overtaken). A delta applies only when its seq
    /// is the next one of the same epoch; a `catch-up` only when it starts at the cursor. The
    /// error is a change that does not fit the state (the caller should ask for a snapshot);
    /// the state and cursor are then left as they were.
    pub fn apply(&mut self, message: ServerMessage) -> Result<Applied> {
        let Some(cursor) = message.cursor() else {
            if let ServerMessage::ConnectionStatus { data } = message {
                self.status = Some(data);
            }
            return Ok(Applied::NotState);
        };
        if let ServerMessage::AuditUpdate { data, .. } = message {
            // An older snapshot of the same epoch (an instance behind, a slow answer overtaken)
            // would take the state back in time: keep the newer one.
            if self
                .cursor
                .is_some_and(|current| current.epoch == cursor.epoch && cursor.seq < current.seq)
            {
                return Ok(Applied::Stale);
            }
            self.report = Some(data);
            self.cursor = Some(cursor);
            return Ok(Applied::Advanced(cursor));
        }
        let (Some(current), Some(report)) = (self.cursor, self.report.as_mut()) else {
            return Ok(Applied::Gap);
        };
        if current.epoch != cursor.epoch {
            return Ok(Applied::Gap);
        }
        if cursor.seq <= current.seq {
            return Ok(Applied::Stale);
        }
        match message {
            ServerMessage::RepoStatusChange { data, .. } => {
                if cursor.seq != current.seq + 1 {
                    return Ok(Applied::Gap);
                }
                apply_repo_change(report, &data)?;
            }
            ServerMessage::HealthMetricsUpdate { data, .. } => {
                if cursor.seq != current.seq + 1 {
                    return Ok(Applied::Gap);
                }
                apply_in_place(report, &Changes { repos: Vec::new(), meta: Some(data) })?;
            }
            ServerMessage::CatchUp { data, .. } => {
                if data.since != current {
                    return Ok(Applied::Gap);
                }
                apply_in_place(report, &data.into_changes())?;
            }
            _ => return Ok(Applied::NotState),
        }
        self.cursor = Some(cursor);
        Ok(Applied::Advanced(cursor))
    }
}

#[cfg(test)]
mod tests {
    use gitops_diff::{RepoChange, RepoChangeKind};
    use gitops_report::{Repo, Status};

    use super::*;
    use crate::{CatchUp, ClientsByTransport, Epoch, Pong, ReportSource, ReportState, WatchState};

    const EPOCH: Epoch = Epoch(0x51);

    fn snapshot(epoch: Epoch, seq: u64, names: &[&str]) -> ServerMessage {
        let repos = names
            .iter()
            .map(|name| Repo { name: (*name).to_owned(), status: Status::Clean, ..Repo::default() })
            .collect();
        ServerMessage::AuditUpdate { epoch, seq, data: Report { repos, ..Report::default() } }
    }

    fn removal(name: &str) -> RepoChange {
        RepoChange {
            name: name.to_owned(),
            dup: 0,
            kind: RepoChangeKind::Removed { old_status: Status::Clean },
        }
    }

    fn removed(seq: u64, name: &str) -> ServerMessage {
        ServerMessage::RepoStatusChange { epoch: EPOCH, seq, data: removal(name) }
    }

    fn names(state: &LiveState) -> Vec<&str> {
        state.report.as_ref().map_or(Vec::new(), |r| r.repos.iter().map(|r| &*r.name).collect())
    }

    fn applied(state: &mut LiveState, message: ServerMessage) -> Applied {
        state.apply(message).expect("the change fits the state")
    }

    #[test]
    fn a_snapshot_then_the_next_delta_advance_the_cursor() {
        let mut state = LiveState::default();
        let at = |seq| Applied::Advanced(Cursor::new(EPOCH, seq));
        assert_eq!(applied(&mut state, snapshot(EPOCH, 4, &["a", "b"])), at(4));
        assert_eq!(applied(&mut state, removed(5, "a")), at(5));
        assert_eq!(names(&state), ["b"]);
        assert_eq!(state.cursor, Some(Cursor::new(EPOCH, 5)));
    }

    #[test]
    fn a_delta_before_any_snapshot_is_a_gap() {
        let mut state = LiveState::default();
        assert_eq!(applied(&mut state, removed(1, "a")), Applied::Gap);
        assert_eq!(state.cursor, None);
    }

    #[test]
    fn a_skipped_seq_is_a_gap_and_leaves_the_state_alone() {
        let mut state = LiveState::default();
        applied(&mut state, snapshot(EPOCH, 4, &["a", "b"]));
        assert_eq!(applied(&mut state, removed(6, "a")), Applied::Gap);
        assert_eq!(names(&state), ["a", "b"]);
        assert_eq!(state.cursor, Some(Cursor::new(EPOCH, 4)));
    }

    #[test]
    fn a_repeated_or_older_delta_is_stale() {
        let mut state = LiveState::default();
        applied(&mut state, snapshot(EPOCH, 4, &["a", "b"]));
        applied(&mut state, removed(5, "a"));
        assert_eq!(applied(&mut state, removed(5, "a")), Applied::Stale);
        assert_eq!(applied(&mut state, removed(2, "b")), Applied::Stale);
        assert_eq!(names(&state), ["b"]);
    }

    #[test]
    fn a_delta_of_another_epoch_is_a_gap_and_its_snapshot_replaces_the_state() {
        let mut state = LiveState::default();
        applied(&mut state, snapshot(EPOCH, 4, &["a"]));
        let other = Epoch(0x52);
        let delta = ServerMessage::RepoStatusChange { epoch: other, seq: 5, data: removal("a") };
        assert_eq!(applied(&mut state, delta), Applied::Gap);
        assert_eq!(
            applied(&mut state, snapshot(other, 1, &["z"])),
            Applied::Advanced(Cursor::new(other, 1))
        );
        assert_eq!(names(&state), ["z"]);
    }

    #[test]
    fn a_catch_up_applies_only_from_the_cursor_it_starts_at() {
        let mut state = LiveState::default();
        applied(&mut state, snapshot(EPOCH, 4, &["a", "b", "c"]));
        let catch_up = |since| ServerMessage::CatchUp {
            epoch: EPOCH,
            seq: 9,
            data: CatchUp {
                since: Cursor::new(EPOCH, since),
                repos: vec![removal("a"), removal("c")],
                meta: None,
            },
        };
        assert_eq!(applied(&mut state, catch_up(3)), Applied::Gap);
        assert_eq!(applied(&mut state, catch_up(4)), Applied::Advanced(Cursor::new(EPOCH, 9)));
        assert_eq!(names(&state), ["b"]);
        assert_eq!(applied(&mut state, catch_up(4)), Applied::Stale, "already applied");
    }

    #[test]
    fn an_older_snapshot_of_the_same_epoch_is_stale() {
        let mut state = LiveState::default();
        applied(&mut state, snapshot(EPOCH, 5, &["a"]));
        assert_eq!(applied(&mut state, snapshot(EPOCH, 3, &["b"])), Applied::Stale);
        assert_eq!(names(&state), ["a"]);
        assert_eq!(
            applied(&mut state, snapshot(EPOCH, 5, &["c"])),
            Applied::Advanced(Cursor::new(EPOCH, 5))
        );
        assert_eq!(names(&state), ["c"]);
    }

    #[test]
    fn a_delta_that_does_not_fit_is_an_error() {
        let mut state = LiveState::default();
        applied(&mut state, snapshot(EPOCH, 4, &["a"]));
        assert!(matches!(state.apply(removed(5, "not-there")), Err(crate::Error::Apply(_))));
        assert_eq!(names(&state), ["a"]);
        assert_eq!(state.cursor, Some(Cursor::new(EPOCH, 4)));
    }

    #[test]
    fn status_is_kept_and_other_messages_are_not_state() {
        let mut state = LiveState::default();
        let pong = ServerMessage::Pong { data: Pong { ts: None, server_time: "t".into() } };
        assert_eq!(applied(&mut state, pong), Applied::NotState);
        assert!(state.status.is_none());
        let status = ConnectionStatus {
            server_time: "t".into(),
            uptime_s: 9,
            realtime: true,
            clients: ClientsByTransport::default(),
            cursor: None,
            report: ReportSource {
                path: "/srv/report.json".into(),
                state: ReportState::Waiting,
                last_loaded: None,
                last_error: None,
                watch: WatchState::Watching,
                watch_note: None,
                stale: None,
            },
            log: None,
        };
        let message = ServerMessage::ConnectionStatus { data: status.clone() };
        assert_eq!(applied(&mut state, message), Applied::NotState);
        assert_eq!(state.status, Some(status));
        assert_eq!(state.cursor, None);
    }
}
