//! The resume cursor: an epoch (one per server run) and a sequence number within it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One server run's identity: 64 random bits, written as 16 lowercase hex digits.
///
/// A cursor from another epoch cannot be resumed from history; the client gets a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Epoch {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        if text.len() != 16 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidCursor(text.to_owned()));
        }
        u64::from_str_radix(text, 16).map(Epoch).map_err(|_| Error::InvalidCursor(text.to_owned()))
    }
}

impl Serialize for Epoch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A position in the stream of state-bearing messages: the state after applying message `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cursor {
    /// The server run the sequence number belongs to.
    pub epoch: Epoch,
    /// The sequence number of the last applied state-bearing message.
    pub seq: u64,
}

impl Cursor {
    /// Makes a cursor.
    pub fn new(epoch: Epoch, seq: u64) -> Self {
        Self { epoch, seq }
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.epoch, self.seq)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    /// Reads `"<epoch>:<seq>"`; surrounding double quotes (as in an `ETag`) are accepted.
    fn from_str(text: &str) -> Result<Self, Error> {
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix("W/").unwrap_or(trimmed);
        let trimmed =
            trimmed.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(trimmed);
        let invalid = || Error::InvalidCursor(text.to_owned());
        let (epoch, seq) = trimmed.split_once(':').ok_or_else(invalid)?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        Ok(Cursor {
            epoch: epoch.parse().map_err(|_| invalid())?,
            seq: seq.parse().map_err(|_| invalid())?,
        })
    }
}

impl Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cursor_is_written_as_epoch_colon_seq() {
        let cursor = Cursor::new(Epoch(0x9f2c_4a1b_77d0_e3aa), 42);
        assert_eq!(cursor.to_string(), "9f2c4a1b77d0e3aa:42");
    }

    #[test]
    fn etag_quotes_are_accepted() {
        let cursor: Cursor = "\"00000000000000ff:7\"".parse().expect("quoted cursor");
        assert_eq!(cursor, Cursor::new(Epoch(255), 7));
        let weak: Cursor = "W/\"00000000000000ff:7\"".parse().expect("weak etag");
        assert_eq!(weak, cursor);
    }

    #[test]
    fn malformed_cursors_are_refused() {
        for text in [
            "",
            ":",
            "abc:1",
            "00000000000000ff:",
            "00000000000000ff:-1",
            "00000000000000ff",
            "0000000000000zff:1",
            "00000000000000ff:1x",
            "+0000000000000ff:1",
        ] {
            assert!(text.parse::<Cursor>().is_err(), "{text:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn cursor_round_trips(epoch in any::<u64>(), seq in any::<u64>()) {
            let cursor = Cursor::new(Epoch(epoch), seq);
            prop_assert_eq!(cursor.to_string().parse::<Cursor>().expect("round trip"), cursor);
        }

        #[test]
        fn parsing_any_text_never_panics(text in ".{0,40}") {
            let _ = text.parse::<Cursor>();
        }
    }
}
