//! One real-time session, WebSocket or SSE: [`Session`] decides what happens next and how a
//! session ends (a pure state machine over plain values), [`Driver`] waits for the next event
//! and asks it. Both transports run the same driver and only write what it returns.
//!
//! The driver is pulled, not pushed: [`Driver::next`] returns one [`Step`] at a time, so the
//! WebSocket task loops over it and the SSE body (a `Stream` hyper polls) turns each step into a
//! chunk, with no extra task or channel per client.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt as _;
use gitops_hub::{CloseReason, Delivery, Subscription};
use gitops_protocol::{CloseCode, format_retry_reason};
use tokio::sync::watch;
use tokio::time::{Instant, Interval, Sleep};

use crate::drain::Departure;

/// Where a session is with shutdown, and what its one planned-end timer stands for (a timer is
/// ~100 bytes of every idle connection, so session expiry and the drain share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Serving; the timer is the viewer's session expiry (or never).
    Live,
    /// Shutdown began, but the session expires before this client's moment of the drain
    /// window: the timer is still the expiry.
    DrainingExpiresFirst,
    /// Shutdown began; the timer is this client's moment of the drain window.
    Leaving {
        /// The reconnect delay to give.
        retry_ms: u64,
    },
}

/// Something that happened to a session.
#[derive(Debug)]
pub(crate) enum SessionEvent {
    /// Shutdown began; `departure` is this client's draw of the drain window, `planned_end`
    /// when the planned-end timer fires now.
    ShutdownBegan {
        /// This client's draw of the drain window.
        departure: Departure,
        /// The planned-end timer's deadline (decades away for "never").
        planned_end: Instant,
    },
    /// The planned-end timer fired.
    PlannedEndFired,
    /// The hub has messages for this client (one or more, in order).
    Delivery(Vec<Delivery>),
    /// The hub closed the subscription. `late` is the departure of a client closed at the end
    /// of the drain window (used when `reason` is shutdown).
    Closed(CloseReason, Departure),
    /// The heartbeat interval ticked.
    HeartbeatDue,
    /// Something that ends the session whatever its state.
    Fault(Fault),
}

/// What ends a session whatever its state: the peer or the socket failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The peer closed (a close frame, or end of stream) or its socket failed on read.
    PeerClosed,
    /// The peer sent nothing for a ping interval plus the pong timeout.
    PeerSilent,
    /// A write failed.
    WriteFailed,
    /// A batch of writes took longer than the send timeout (a client that stopped reading).
    WriteTimedOut,
    /// The peer broke a rule of the protocol.
    Broke(Violation),
}

/// A rule of the inbound protocol a WebSocket peer broke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Violation {
    /// More messages than the rate limit allows.
    TooManyMessages,
    /// A message over the size limit.
    MessageTooLarge,
    /// A frame over the size limit.
    FrameTooLarge,
    /// Text that is not UTF-8.
    InvalidUtf8,
    /// A broken frame (reserved bits, an unmasked client frame, a bad opcode or length).
    Protocol(String),
}

/// What a session does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing to write; keep waiting.
    Wait,
    /// Nothing to write; move the planned-end timer to this moment and keep waiting.
    Rearm(Instant),
    /// Send these messages, in order.
    Send(Vec<Delivery>),
    /// Send a heartbeat (a WebSocket ping, an SSE comment).
    Heartbeat,
    /// End the session.
    End(Ending),
}

/// How a session ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Ended on purpose: a WebSocket sends a close frame with `code` and `reason`; an SSE stream
    /// ends, after a `retry:` field when `retry_ms` is set.
    Close {
        /// The close code, always one of the protocol's.
        code: CloseCode,
        /// The close frame's reason.
        reason: String,
        /// The reconnect delay the client is given (shutdown only).
        retry_ms: Option<u64>,
    },
    /// The peer is gone or cannot be written to: nothing more is sent.
    Gone {
        /// Whether it was found dead by the silence deadline (a policy close in the metrics).
        silent: bool,
    },
}

impl Ending {
    /// The close on shutdown: 1001 with a reconnect delay (see [`Departure`]).
    fn going_away(retry_ms: u64) -> Self {
        Ending::Close {
            code: CloseCode::GoingAway,
            reason: format_retry_reason(retry_ms),
            retry_ms: Some(retry_ms),
        }
    }

    fn close(code: CloseCode, reason: impl Into<String>) -> Self {
        Ending::Close { code, reason: reason.into(), retry_ms: None }
    }

    /// Whether the server ended the session for the client's own doing (counted as a policy
    /// close): every close but the shutdown's, and a peer found dead.
    pub(crate) fn is_policy_close(&self) -> bool {
        match self {
            Ending::Close { code, .. } => *code != CloseCode::GoingAway,
            Ending::Gone { silent } => *silent,
        }
    }
}

impl Fault {
    /// How a session ends on this fault.
    pub(crate) fn ending(self) -> Ending {
        match self {
            Fault::PeerClosed | Fault::WriteFailed => Ending::Gone { silent: false },
            Fault::PeerSilent => Ending::Gone { silent: true },
            Fault::WriteTimedOut => Ending::close(CloseCode::Stalled, STALLED),
            Fault::Broke(Violation::TooManyMessages) => {
                Ending::close(CloseCode::Policy, "too many messages")
            }
            Fault::Broke(Violation::MessageTooLarge) => {
                Ending::close(CloseCode::TooBig, "message too large")
            }
            Fault::Broke(Violation::FrameTooLarge) => {
                Ending::close(CloseCode::TooBig, "frame too large")
            }
            Fault::Broke(Violation::InvalidUtf8) => {
                Ending::close(CloseCode::InvalidData, "text is not valid UTF-8")
            }
            Fault::Broke(Violation::Protocol(what)) => {
                Ending::close(CloseCode::ProtocolError, what)
            }
        }
    }
}

const STALLED: &str = "stalled: resume with your cursor";

/// The decisions of one real-time session: sync, no IO, no clock of its own (`now` is given).
/// One word and a tag: it lives in every idle connection.
#[derive(Debug)]
pub(crate) struct Session {
    phase: Phase,
}

impl Session {
    /// A session just opened.
    pub(crate) fn new() -> Self {
        Self { phase: Phase::Live }
    }

    /// Whether shutdown has begun for this session.
    pub(crate) fn draining(&self) -> bool {
        self.phase != Phase::Live
    }

    /// What to do after `event`, which happened at `now`.
    pub(crate) fn on(&mut self, event: SessionEvent, now: Instant) -> Action {
        match event {
            SessionEvent::ShutdownBegan { .. } if self.draining() => Action::Wait,
            // The client leaves at its moment of the drain window unless its session ends sooner.
            SessionEvent::ShutdownBegan { departure, planned_end } => {
                let at = now + departure.after;
                if planned_end <= at {
                    self.phase = Phase::DrainingExpiresFirst;
                    return Action::Wait;
                }
                self.phase = Phase::Leaving { retry_ms: departure.retry_ms };
                Action::Rearm(at)
            }
            SessionEvent::PlannedEndFired => Action::End(match self.phase {
                Phase::Live | Phase::DrainingExpiresFirst => {
                    Ending::close(CloseCode::SessionExpired, "session expired: sign in again")
                }
                Phase::Leaving { retry_ms } => Ending::going_away(retry_ms),
            }),
            SessionEvent::Delivery(batch) => Action::Send(batch),
            SessionEvent::Closed(CloseReason::Stalled, _) => {
                Action::End(Ending::close(CloseCode::Stalled, STALLED))
            }
            // The drain window is over (this client's own moment came late, on a busy machine,
            // or shutdown reached it while it was writing): come back within the next one.
            SessionEvent::Closed(CloseReason::Shutdown, late) => {
                Action::End(Ending::going_away(late.retry_ms))
            }
            SessionEvent::HeartbeatDue => Action::Heartbeat,
            SessionEvent::Fault(fault) => Action::End(fault.ending()),
        }
    }
}

/// Whose turn it is to write to a client's socket, where the publisher may write to it too (a
/// WebSocket over plain TCP, see `ws::outlet`): the session gives its turn away while it waits
/// and takes it back before it does anything else, so everything it takes from the subscription
/// and writes goes out in order with what the publisher wrote.
pub(crate) trait Turn {
    /// What the publisher could not finish writing and left to the session.
    type Left;
    /// The session is about to wait: the publisher may write until it is back.
    fn give(&self);
    /// The session is back: `Err(Busy)` while the publisher is writing (it wakes the
    /// subscription when done); `Ok(Some(left))` when it left a write to finish first.
    fn take(&self) -> Result<Option<Self::Left>, Busy>;
}

/// The publisher is writing to this client; it wakes the subscription when it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// The turn of a session only it writes to (SSE, WebSocket over TLS).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Alone;

impl Turn for Alone {
    type Left = std::convert::Infallible;

    fn give(&self) {}

    fn take(&self) -> Result<Option<Self::Left>, Busy> {
        Ok(None)
    }
}

/// What a transport writes next.
#[derive(Debug)]
pub(crate) enum Step<M, L = std::convert::Infallible> {
    /// Finish the write the publisher left (before anything else).
    Finish(L),
    /// Send these messages, in order (what was ready, at most the driver's batch size).
    Send(Vec<Delivery>),
    /// Send a heartbeat.
    Heartbeat,
    /// The transport's own inbound message (a WebSocket's text or binary message) to handle.
    Received(M),
    /// End the session this way.
    End(Ending),
}

/// What a transport's inbound source yields: a message to hand back, or an event for the session.
#[derive(Debug)]
pub(crate) enum Inbound<M> {
    /// A message for the transport to handle.
    Message(M),
    /// Something the session decides on (the peer closing, falling silent or breaking a rule).
    Event(Fault),
}

/// The one loop of a real-time session: waits on the subscription, the planned-end timer, the
/// heartbeat and the transport's own inbound source, notices shutdown, and asks [`Session`]
/// what to do. `T` owns or borrows the pinned planned-end timer (inline in a WebSocket task,
/// boxed in an SSE body).
///
/// A change reaches every client, so the loop is cheap on that path: the subscription is
/// looked at first, its messages are taken in one batch under one lock, and shutdown is not a
/// future of its own (whose waiter would be registered and removed on every wake) but a flag
/// read on every wake: [`Live::shutdown`](crate::Live::shutdown) wakes every subscription
/// after raising it.
pub(crate) struct Driver<T, M, U: Turn = Alone> {
    session: Session,
    subscription: Subscription,
    shutdown: watch::Receiver<bool>,
    planned_end: Pin<T>,
    heartbeat: Interval,
    drain: Duration,
    /// The most messages taken for one step.
    batch_max: usize,
    /// Whether the subscription may hold messages not yet taken: at the start (a subscription
    /// begins with its answer queued) and after a wake.
    maybe_ready: bool,
    /// The last batch was full: more is queued, taken once the other sources had their turn
    /// (a flood of messages must not hold back the heartbeat, the expiry or the peer's reads).
    backlog: bool,
    /// Who else may write to the client (see [`Turn`]).
    turn: U,
    /// A step found while the publisher had left a write to finish: returned after it.
    queued: Option<Step<M, U::Left>>,
}

/// What a wait ended with.
enum Waited<M> {
    /// The subscription was woken (a message, a close, shutdown, the publisher done writing).
    Woken,
    /// The backlog's turn came.
    Backlog,
    /// Something for the session to decide on.
    Event(SessionEvent),
    /// The transport's own inbound message.
    Received(M),
}

impl<T: std::ops::DerefMut<Target = Sleep>, M, U: Turn> Driver<T, M, U> {
    /// A driver over `subscription`; `planned_end` is a timer set to the viewer's session expiry
    /// (or [`far_future`](crate::far_future)), `heartbeat` ticks for heartbeats, `drain` is the
    /// drain window, `batch_max` the most messages one [`Step::Send`] carries, `turn` who else
    /// writes to the client.
    pub(crate) fn new(
        subscription: Subscription,
        mut shutdown: watch::Receiver<bool>,
        planned_end: Pin<T>,
        heartbeat: Interval,
        drain: Duration,
        batch_max: usize,
        turn: U,
    ) -> Self {
        // A session that opens while the server already drains leaves like the others.
        if *shutdown.borrow() {
            shutdown.mark_changed();
        }
        Self {
            session: Session::new(),
            subscription,
            shutdown,
            planned_end,
            heartbeat,
            drain,
            batch_max: batch_max.max(1),
            maybe_ready: true,
            backlog: false,
            turn,
            queued: None,
        }
    }

    /// The subscription, for the transport's answers to client messages.
    pub(crate) fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// Whether shutdown was asked for since the last look (or the signal's sender is gone).
    fn shutdown_asked(&mut self) -> bool {
        match self.shutdown.has_changed() {
            Ok(false) => false,
            Ok(true) => *self.shutdown.borrow_and_update(),
            Err(_) => true,
        }
    }

    /// Waits for the next thing to write. `inbound` is the transport's own source (a
    /// WebSocket's reads; SSE has none and passes a future that never resolves); it must be
    /// cancel-safe, as it is dropped whenever another source is ready first.
    ///
    /// The session holds its [`Turn`] whenever this returns; it gives it away only while it
    /// waits here.
    pub(crate) async fn next(
        &mut self,
        inbound: impl Future<Output = Inbound<M>>,
    ) -> Step<M, U::Left> {
        if let Some(step) = self.queued.take() {
            return step;
        }
        let mut inbound = std::pin::pin!(inbound.fuse());
        loop {
            let event = if !self.session.draining() && self.shutdown_asked() {
                SessionEvent::ShutdownBegan {
                    departure: Departure::draw(self.drain),
                    planned_end: self.planned_end.deadline(),
                }
            } else if let Some(event) = self.take() {
                event
            } else {
                self.turn.give();
                let waited = tokio::select! {
                    biased;
                    () = self.subscription.woken() => Waited::Woken,
                    () = self.planned_end.as_mut() => Waited::Event(SessionEvent::PlannedEndFired),
                    _ = self.heartbeat.tick() => Waited::Event(SessionEvent::HeartbeatDue),
                    received = &mut inbound => match received {
                        Inbound::Message(message) => Waited::Received(message),
                        Inbound::Event(fault) => Waited::Event(SessionEvent::Fault(fault)),
                    },
                    () = std::future::ready(()), if self.backlog => Waited::Backlog,
                };
                let left = self.take_turn().await;
                let event = match waited {
                    Waited::Woken => {
                        self.maybe_ready = true;
                        None
                    }
                    Waited::Backlog => {
                        self.backlog = false;
                        self.maybe_ready = true;
                        None
                    }
                    Waited::Event(event) => Some(event),
                    Waited::Received(message) => {
                        let step = Step::Received(message);
                        return match left {
                            Some(left) => {
                                self.queued = Some(step);
                                Step::Finish(left)
                            }
                            None => step,
                        };
                    }
                };
                if let Some(left) = left {
                    if let Some(event) = event {
                        self.queued = self.decide(event);
                    }
                    return Step::Finish(left);
                }
                match event {
                    Some(event) => event,
                    None => continue,
                }
            };
            if let Some(step) = self.decide(event) {
                return step;
            }
        }
    }

    /// Asks the session about `event`: the step to return, or none (keep waiting).
    fn decide(&mut self, event: SessionEvent) -> Option<Step<M, U::Left>> {
        match self.session.on(event, Instant::now()) {
            Action::Wait => None,
            Action::Rearm(at) => {
                self.planned_end.as_mut().reset(at);
                None
            }
            Action::Send(batch) => Some(Step::Send(batch)),
            Action::Heartbeat => Some(Step::Heartbeat),
            Action::End(ending) => Some(Step::End(ending)),
        }
    }

    /// Takes the turn back after a wait: waits while the publisher writes (it wakes the
    /// subscription when it is done; that wake may also have been a message's, so the
    /// subscription is looked at again).
    async fn take_turn(&mut self) -> Option<U::Left> {
        loop {
            match self.turn.take() {
                Ok(left) => return left,
                Err(Busy) => {
                    self.maybe_ready = true;
                    self.subscription.woken().await;
                }
            }
        }
    }

    /// What the subscription holds, when it may hold something: a batch, its close, or nothing.
    fn take(&mut self) -> Option<SessionEvent> {
        if !self.maybe_ready {
            return None;
        }
        let mut batch = Vec::new();
        match self.subscription.take(&mut batch, self.batch_max) {
            Ok(0) => {
                self.maybe_ready = false;
                None
            }
            Ok(n) => {
                self.maybe_ready = false;
                self.backlog = n == self.batch_max;
                Some(SessionEvent::Delivery(batch))
            }
            Err(reason) => Some(SessionEvent::Closed(reason, Departure::late(self.drain))),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use gitops_hub::DeliveryKind;

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    fn departure(after_ms: u64, retry_ms: u64) -> Departure {
        Departure { after: Duration::from_millis(after_ms), retry_ms }
    }

    /// The 1001 close asking to come back in `retry_ms`, in the form the clients parse.
    /// Shutdown beginning at a timer set to `planned_end`.
    fn shutdown(after_ms: u64, retry_ms: u64, planned_end: Instant) -> SessionEvent {
        SessionEvent::ShutdownBegan { departure: departure(after_ms, retry_ms), planned_end }
    }

    fn going_away(retry_ms: u64) -> Action {
        let reason = format_retry_reason(retry_ms);
        assert_eq!(gitops_protocol::parse_retry_ms(&reason), Some(retry_ms));
        Action::End(Ending::Close { code: CloseCode::GoingAway, reason, retry_ms: Some(retry_ms) })
    }

    fn closed_with(code: CloseCode) -> impl Fn(&Action) -> bool {
        move |action| matches!(action, Action::End(Ending::Close { code: c, retry_ms: None, .. }) if *c == code)
    }

    #[test]
    fn an_expired_session_is_closed_with_4001_and_no_retry() {
        let now = Instant::now();
        let mut session = Session::new();
        let action = session.on(SessionEvent::PlannedEndFired, now + SECOND);
        assert!(closed_with(CloseCode::SessionExpired)(&action), "{action:?}");
    }

    #[test]
    fn shutdown_moves_the_timer_to_the_drain_moment_and_closes_with_1001_and_its_retry() {
        let now = Instant::now();
        let mut session = Session::new();
        let at = now + Duration::from_millis(300);
        assert_eq!(session.on(shutdown(300, 2500, crate::far_future()), now), Action::Rearm(at));
        assert!(session.draining());
        assert_eq!(session.on(SessionEvent::PlannedEndFired, at), going_away(2500));
    }

    #[test]
    fn a_session_expiring_inside_the_drain_window_still_ends_as_expired() {
        let now = Instant::now();
        let mut session = Session::new();
        let expiry = now + Duration::from_millis(100);
        assert_eq!(session.on(shutdown(300, 2500, expiry), now), Action::Wait);
        assert!(session.draining());
        let action = session.on(SessionEvent::PlannedEndFired, now + Duration::from_millis(100));
        assert!(closed_with(CloseCode::SessionExpired)(&action), "{action:?}");
    }

    #[test]
    fn a_session_expiring_after_the_drain_moment_leaves_with_the_drain() {
        let now = Instant::now();
        let mut session = Session::new();
        let at = now + Duration::from_millis(300);
        assert_eq!(session.on(shutdown(300, 2500, now + 10 * SECOND), now), Action::Rearm(at));
        assert_eq!(session.on(SessionEvent::PlannedEndFired, at), going_away(2500));
    }

    #[test]
    fn a_second_shutdown_signal_changes_nothing() {
        let now = Instant::now();
        let mut session = Session::new();
        session.on(shutdown(300, 2500, crate::far_future()), now);
        assert_eq!(session.on(shutdown(10, 7, now + SECOND), now), Action::Wait);
        assert_eq!(session.on(SessionEvent::PlannedEndFired, now + SECOND), going_away(2500));
    }

    #[test]
    fn a_hub_close_at_the_windows_end_asks_to_come_back_within_the_next_window() {
        let now = Instant::now();
        // Before this client saw the shutdown signal (it was writing) and after it.
        let mut unaware = Session::new();
        let action =
            unaware.on(SessionEvent::Closed(CloseReason::Shutdown, departure(0, 900)), now);
        assert_eq!(action, going_away(900));
        let mut draining = Session::new();
        draining.on(shutdown(1500, 2500, crate::far_future()), now);
        let action =
            draining.on(SessionEvent::Closed(CloseReason::Shutdown, departure(0, 40)), now);
        assert_eq!(action, going_away(40));
    }

    #[test]
    fn a_stalled_subscription_is_closed_with_4000_also_while_draining() {
        let now = Instant::now();
        let mut session = Session::new();
        let stalled = || SessionEvent::Closed(CloseReason::Stalled, departure(0, 900));
        assert!(closed_with(CloseCode::Stalled)(&session.on(stalled(), now)));
        session.on(shutdown(300, 2500, crate::far_future()), now);
        assert!(closed_with(CloseCode::Stalled)(&session.on(stalled(), now)));
        // A writer that stopped reading while the server drains: the same close.
        let action = session.on(SessionEvent::Fault(Fault::WriteTimedOut), now);
        assert!(closed_with(CloseCode::Stalled)(&action));
    }

    #[test]
    fn deliveries_and_heartbeats_are_sent_and_change_no_state() {
        let now = Instant::now();
        let mut session = Session::new();
        let delivery = Delivery {
            bytes: Bytes::from_static(b"{}"),
            kind: DeliveryKind::Control,
            cursor: None,
        };
        assert_eq!(
            session.on(SessionEvent::Delivery(vec![delivery.clone()]), now),
            Action::Send(vec![delivery])
        );
        assert_eq!(session.on(SessionEvent::HeartbeatDue, now), Action::Heartbeat);
        assert!(!session.draining());
    }

    #[test]
    fn every_fault_ends_with_its_own_close() {
        let cases = [
            (Fault::PeerClosed, None, false),
            (Fault::WriteFailed, None, false),
            (Fault::PeerSilent, None, true),
            (Fault::WriteTimedOut, Some(CloseCode::Stalled), true),
            (Fault::Broke(Violation::TooManyMessages), Some(CloseCode::Policy), true),
            (Fault::Broke(Violation::MessageTooLarge), Some(CloseCode::TooBig), true),
            (Fault::Broke(Violation::FrameTooLarge), Some(CloseCode::TooBig), true),
            (Fault::Broke(Violation::InvalidUtf8), Some(CloseCode::InvalidData), true),
            (Fault::Broke(Violation::Protocol("bad".into())), Some(CloseCode::ProtocolError), true),
        ];
        for (fault, code, policy) in cases {
            let mut session = Session::new();
            let Action::End(ending) =
                session.on(SessionEvent::Fault(fault.clone()), Instant::now())
            else {
                panic!("{fault:?} must end the session");
            };
            assert_eq!(ending.is_policy_close(), policy, "{fault:?}");
            match (&ending, code) {
                (Ending::Close { code: got, retry_ms: None, .. }, Some(want)) => {
                    assert_eq!(*got, want, "{fault:?}");
                }
                (Ending::Gone { .. }, None) => {}
                _ => panic!("{fault:?} ended as {ending:?}"),
            }
        }
    }

    #[test]
    fn only_the_shutdown_close_is_not_a_policy_close() {
        assert!(!Ending::going_away(5).is_policy_close());
        assert!(Ending::close(CloseCode::SessionExpired, "x").is_policy_close());
    }
}
