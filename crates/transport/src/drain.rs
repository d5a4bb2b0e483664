//! How real-time clients leave on shutdown: each at its own moment of the drain window, with a
//! reconnect delay spread over the next.

use std::time::Duration;

/// A deadline decades away: a timer that stands for "never" until it is reset.
pub(crate) fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// A pseudo-random number in `[0, bound)`, good enough to spread reconnects.
pub(crate) fn jitter(bound: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(bound);
    hasher.finish() % bound.max(1)
}

/// How a real-time client leaves on shutdown. Each picks a random moment of the drain window to
/// be closed at, and is asked to come back at a random moment of the window after it: what is
/// left of this window (until the old server is gone) plus a draw from the next. So a thousand
/// clients neither leave nor return in the same millisecond, and none knocks on a server that
/// is still going away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Departure {
    /// How long after shutdown began this client is closed.
    pub(crate) after: Duration,
    /// The reconnect delay it is given (`retry-ms=` on a WebSocket, `retry:` on SSE).
    pub(crate) retry_ms: u64,
}

impl Departure {
    /// A fresh draw for one client, over `drain`.
    pub(crate) fn draw(drain: Duration) -> Self {
        let window = drain.as_millis() as u64;
        let delay = jitter(window);
        Self { after: Duration::from_millis(delay), retry_ms: window - delay + jitter(window) }
    }

    /// The departure of a client still there when the window is over: at once, and back
    /// within the next window.
    pub(crate) fn late(drain: Duration) -> Self {
        Self { after: Duration::ZERO, retry_ms: jitter(drain.as_millis() as u64) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_departure_falls_in_the_window_and_returns_after_it() {
        let drain = Duration::from_millis(2000);
        for _ in 0..100 {
            let departure = Departure::draw(drain);
            assert!(departure.after < drain, "{departure:?}");
            let back = departure.after.as_millis() as u64 + departure.retry_ms;
            assert!((2000..4000).contains(&back), "{departure:?}");
            let late = Departure::late(drain);
            assert!(late.after.is_zero() && late.retry_ms < 2000, "{late:?}");
        }
    }
}
