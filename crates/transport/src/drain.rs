//! How real-time clients leave on shutdown: each at its own moment of the drain window, with a
//! reconnect delay spread over the next.

use std::time::Duration;

use crate::ws;

/// A deadline decades away: a timer that stands for "never" until it is reset.
pub(crate) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// How a real-time client leaves on shutdown. Each picks a random moment of the drain window to
/// be closed at, and is asked to come back at a random moment of the window after it: what is
/// left of this window (until the old server is gone) plus a draw from the next. So a thousand
/// clients neither leave nor return in the same millisecond, and none knocks on a server that
/// is still going away.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Departure {
    /// How long after shutdown began this client is closed.
    after: Duration,
    /// The reconnect delay it is given (`retry-ms=` on a WebSocket, `retry:` on SSE).
    retry_ms: u64,
}

impl Departure {
    /// A fresh draw for one client, over `drain`.
    pub(crate) fn draw(drain: Duration) -> Self {
        let window = drain.as_millis() as u64;
        let delay = ws::jitter(window);
        Self { after: Duration::from_millis(delay), retry_ms: window - delay + ws::jitter(window) }
    }
}

/// What the one planned-end timer of a real-time client stands for (a timer is ~100 bytes of
/// every idle connection, so session expiry and the drain share one).
#[derive(Debug, Clone, Copy)]
pub(crate) enum PlannedEnd {
    /// The viewer's session expires.
    SessionExpired,
    /// Shutdown: this client's moment of the drain window, and its reconnect delay.
    Drain {
        /// The reconnect delay to give.
        retry_ms: u64,
    },
}

impl PlannedEnd {
    /// On shutdown: moves `timer` to this client's moment of the drain window unless its session
    /// ends sooner, and says what the timer then stands for.
    pub(crate) fn on_shutdown(
        self,
        timer: std::pin::Pin<&mut tokio::time::Sleep>,
        drain: Duration,
    ) -> PlannedEnd {
        let departure = Departure::draw(drain);
        let at = tokio::time::Instant::now() + departure.after;
        if at < timer.deadline() {
            timer.reset(at);
            return PlannedEnd::Drain { retry_ms: departure.retry_ms };
        }
        self
    }
}
