//! Times as the store keeps them: milliseconds since the Unix epoch, and two text forms.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (negative before it), saturating far outside any real date.
pub(crate) fn unix_ms(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time `ms` milliseconds after the Unix epoch.
pub(crate) fn from_unix_ms(ms: i64) -> SystemTime {
    let magnitude = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(magnitude).unwrap_or(UNIX_EPOCH)
    } else {
        UNIX_EPOCH.checked_sub(magnitude).unwrap_or(UNIX_EPOCH)
    }
}

/// RFC 3339 in UTC to the second (`2026-12-01T10:00:00Z`).
pub(crate) fn rfc3339(time: SystemTime) -> Option<String> {
    let timestamp = jiff::Timestamp::try_from(time).ok()?;
    Some(timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// A compact UTC stamp for file names (`20261201T100000Z`).
pub(crate) fn file_stamp(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|t| t.strftime("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|_| unix_ms(time).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_on_both_sides_of_the_epoch() {
        for ms in [0, 1, 1_750_388_400_123, -5_000] {
            assert_eq!(unix_ms(from_unix_ms(ms)), ms);
        }
    }

    #[test]
    fn text_forms_are_utc() {
        let time = from_unix_ms(1_750_388_400_000);
        assert_eq!(rfc3339(time).as_deref(), Some("2025-06-20T03:00:00Z"));
        assert_eq!(file_stamp(time), "20250620T030000Z");
    }
}
