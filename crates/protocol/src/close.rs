//! How a WebSocket ends: the close codes the server sends and the `retry-ms=` reconnect hint.
//!
//! The server picks a [`CloseCode`] and, on shutdown, writes the reason with
//! [`format_retry_reason`]; clients read the delay back with [`parse_retry_ms`]. The dashboard
//! gets the same codes and a twin of the parser from [`crate::typescript`], so the two
//! languages cannot drift apart.

/// A WebSocket close code of this protocol, and what a client should do when it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// 1000: an ordinary end, asked for by whichever side no longer needs the connection.
    Normal,
    /// 1001: the server is going away (shutting down); reconnect with the cursor after the delay
    /// in the reason ([`parse_retry_ms`]).
    GoingAway,
    /// 1002: the client broke the WebSocket framing; fix the client.
    ProtocolError,
    /// 1007: the client sent text that is not UTF-8; fix the client.
    InvalidData,
    /// 1008: the client sent too many messages per second; reconnect later, more slowly.
    Policy,
    /// 1009: a message or frame over the size limit; fix the client.
    TooBig,
    /// 1011: an internal error of the server; reconnect with backoff. Listed in
    /// `docs/protocol.md` for clients; this server does not send it today.
    InternalError,
    /// 4000: the client did not read past the deadline; reconnect at once and resume.
    Stalled,
    /// 4001: the viewer's session ended; sign in again, then reconnect and resume.
    SessionExpired,
}

impl CloseCode {
    /// Every close code, in numeric order.
    pub const ALL: [CloseCode; 9] = [
        Self::Normal,
        Self::GoingAway,
        Self::ProtocolError,
        Self::InvalidData,
        Self::Policy,
        Self::TooBig,
        Self::InternalError,
        Self::Stalled,
        Self::SessionExpired,
    ];

    /// The number on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Self::Normal => 1000,
            Self::GoingAway => 1001,
            Self::ProtocolError => 1002,
            Self::InvalidData => 1007,
            Self::Policy => 1008,
            Self::TooBig => 1009,
            Self::InternalError => 1011,
            Self::Stalled => 4000,
            Self::SessionExpired => 4001,
        }
    }

    /// The close code with this number, if it is one of this protocol's.
    pub fn from_code(code: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|close| close.code() == code)
    }

    /// The key of this code in the TypeScript `CLOSE_CODES` object.
    pub(crate) const fn ts_name(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::GoingAway => "goingAway",
            Self::ProtocolError => "protocolError",
            Self::InvalidData => "invalidData",
            Self::Policy => "policy",
            Self::TooBig => "tooBig",
            Self::InternalError => "internalError",
            Self::Stalled => "stalled",
            Self::SessionExpired => "sessionExpired",
        }
    }
}

impl From<CloseCode> for u16 {
    fn from(close: CloseCode) -> u16 {
        close.code()
    }
}

/// The key that names the reconnect delay, in milliseconds, in a close reason.
pub const RETRY_MS_KEY: &str = "retry-ms=";

/// What the shutdown close reason says before the delay.
pub(crate) const RESTARTING: &str = "server restarting; ";

/// The largest delay [`parse_retry_ms`] accepts: 2⁵³ − 1, the largest integer JavaScript holds
/// exactly, so the dashboard's twin of the parser reads every reason the same way.
pub const MAX_RETRY_MS: u64 = (1 << 53) - 1;

/// The reason of the [`CloseCode::GoingAway`] close the server sends on shutdown:
/// `server restarting; retry-ms=<ms>`.
pub fn format_retry_reason(ms: u64) -> String {
    format!("{RESTARTING}{RETRY_MS_KEY}{ms}")
}

/// The reconnect delay a close reason asks for: the decimal digits right after the first
/// `retry-ms=`, wherever it sits and whatever follows them.
///
/// `None` when the reason has no `retry-ms=`, when no digit follows it, or when the number is
/// over [`MAX_RETRY_MS`]. The dashboard's `parseRetryMs` gives the same answers.
pub fn parse_retry_ms(reason: &str) -> Option<u64> {
    let (_, rest) = reason.split_once(RETRY_MS_KEY)?;
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let ms: u64 = rest[..end].parse().ok()?;
    (ms <= MAX_RETRY_MS).then_some(ms)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn close_codes_are_the_numbers_on_the_wire() {
        let codes: Vec<u16> = CloseCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [1000, 1001, 1002, 1007, 1008, 1009, 1011, 4000, 4001]);
        for close in CloseCode::ALL {
            assert_eq!(CloseCode::from_code(close.code()), Some(close));
            assert_eq!(u16::from(close), close.code());
        }
        assert_eq!(CloseCode::from_code(1005), None);
    }

    #[test]
    fn the_retry_delay_is_read_from_the_reasons_seen() {
        assert_eq!(parse_retry_ms("server restarting; retry-ms=1234"), Some(1234));
        assert_eq!(parse_retry_ms("retry-ms=5"), Some(5));
        assert_eq!(parse_retry_ms("retry-ms=20; then more"), Some(20));
        assert_eq!(parse_retry_ms("retry-ms=007"), Some(7));
        assert_eq!(parse_retry_ms(&format_retry_reason(MAX_RETRY_MS)), Some(MAX_RETRY_MS));
    }

    #[test]
    fn junk_has_no_retry_delay() {
        for reason in [
            "",
            "server restarting",
            "stalled: resume with your cursor",
            "retry-ms=",
            "retry-ms=soon",
            "retry-ms= 7",
            "retry-ms=-5",
            "retry_ms=5",
            "RETRY-MS=5",
            "retry-ms=9007199254740992",
            "retry-ms=99999999999999999999999",
            "retry-ms=x; retry-ms=5",
        ] {
            assert_eq!(parse_retry_ms(reason), None, "{reason:?}");
        }
    }

    #[test]
    fn the_shutdown_reason_fits_a_close_frame() {
        // A close frame's reason is at most 123 bytes (RFC 6455 §5.5: 125 less the code).
        assert!(format_retry_reason(u64::MAX).len() <= 123);
        assert_eq!(format_retry_reason(1234), "server restarting; retry-ms=1234");
    }

    proptest! {
        #[test]
        fn a_formatted_reason_parses_back(ms in 0..=MAX_RETRY_MS) {
            prop_assert_eq!(parse_retry_ms(&format_retry_reason(ms)), Some(ms));
        }

        #[test]
        fn parsing_any_reason_never_panics(reason in ".{0,130}") {
            let _ = parse_retry_ms(&reason);
        }
    }
}
