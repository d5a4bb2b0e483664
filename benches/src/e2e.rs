//! What the load generator (`gitops-loadgen`) hands the end-to-end driver (`--bench e2e`), and the
//! small measurements both need: wall-clock nanoseconds, percentiles, RSS and open-file limits.
//!
//! # Clocks
//!
//! The driver stamps "write finished" and the load generator stamps "message received" in two
//! processes. `std::time::Instant` reads `CLOCK_MONOTONIC` on Linux, which is one clock for the
//! whole machine, but std gives no way to turn an `Instant` into a number another process can
//! compare with. Both sides therefore use [`now_ns`], `SystemTime` (`CLOCK_REALTIME`) in
//! nanoseconds since the Unix epoch: the same kernel clock read through the same vDSO call, so
//! values from the two processes are directly comparable. NTP slewing moves both sides alike; a
//! step of the clock during a run would corrupt that run (nothing steps the clock on the bench
//! machine).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Wall-clock time in nanoseconds since the Unix epoch (see the module notes on clocks).
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_nanos() as u64)
}

/// One state-bearing message as every client of the load generator received it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// The message's `seq`.
    pub seq: u64,
    /// The message's `type`, e.g. `repo-status-change`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `data.name` for `repo-status-change`, the repository the driver changed.
    pub name: Option<String>,
    /// The text frame's payload length in bytes, as received.
    pub payload_bytes: usize,
    /// How many clients received it.
    pub receivers: usize,
    /// The earliest receive time, in [`now_ns`] nanoseconds.
    pub first_ns: u64,
    /// Every client's receive time as microseconds after `first_ns`, ascending.
    pub offsets_us: Vec<u64>,
}

impl MessageRecord {
    /// Each client's receive time in nanoseconds, ascending (microsecond resolution).
    pub fn receive_times_ns(&self) -> impl Iterator<Item = u64> + '_ {
        self.offsets_us.iter().map(|offset| self.first_ns + offset * 1_000)
    }
}

/// Counts of one message type over every client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCount {
    /// Messages received, summed over clients.
    pub messages: u64,
    /// Their payload bytes, summed over clients.
    pub bytes: u64,
}

/// What the load generator did as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadSummary {
    /// Clients asked for.
    pub clients: usize,
    /// Clients whose WebSocket handshake completed.
    pub connected: usize,
    /// Clients that could not connect after their retries.
    pub failed: usize,
    /// Connected clients whose connection ended before the driver said stop.
    pub closed_early: usize,
    /// The cursor the clients connected with (`?since=`), from `GET /api/audit`'s `ETag`.
    pub since: String,
    /// Milliseconds from the first connect attempt until every attempt had finished.
    pub connect_ms: u64,
    /// Messages and bytes received, by `type`, summed over clients.
    pub by_type: BTreeMap<String, TypeCount>,
    /// The text of the first state-bearing message of each `type`, as received.
    #[serde(default)]
    pub samples: BTreeMap<String, String>,
}

/// One line of the load generator's output file (JSON lines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "kebab-case")]
pub enum OutputLine {
    /// One state-bearing message.
    Message(MessageRecord),
    /// The totals, written last.
    Summary(LoadSummary),
}

/// The nearest-rank percentile of ascending `sorted` values: the smallest value with at least
/// `fraction` of all values at or below it. `None` for no values.
pub fn percentile(sorted: &[u64], fraction: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (fraction.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The usual summary of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distribution {
    /// How many values.
    pub n: usize,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest value.
    pub max: u64,
}

impl Distribution {
    /// Summarises `values` (any order); `None` when there are none.
    pub fn of(mut values: Vec<u64>) -> Option<Distribution> {
        values.sort_unstable();
        Some(Distribution {
            n: values.len(),
            p50: percentile(&values, 0.50)?,
            p90: percentile(&values, 0.90)?,
            p99: percentile(&values, 0.99)?,
            max: *values.last()?,
        })
    }
}

/// The size on the wire of a server-to-client WebSocket frame (unmasked) with `payload` bytes:
/// a 2-byte header up to 125 bytes, 4 bytes up to 65,535, 10 beyond.
pub fn server_frame_bytes(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    header + payload
}

/// The resident set size of process `pid` in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_field_kib(&status, "VmRSS")
}

/// CPU time (user + system) process `pid` has used, in clock ticks (`/proc/<pid>/stat` fields
/// 14 and 15; 100 ticks per second on Linux).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_cpu_ticks(&stat)
}

/// User + system ticks from a `/proc/<pid>/stat` line (fields after the command name, which may
/// contain spaces and parentheses, so the line is split after its last `)`).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let mut fields = rest.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// A `Name:   1234 kB` field of a `/proc/<pid>/status` text, in KiB.
pub fn status_field_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.split(':').next() == Some(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// This process's open-file limit, soft and hard (`Max open files` in `/proc/self/limits`);
/// `u64::MAX` stands for unlimited.
pub fn open_files_limit() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    limits_open_files(&limits)
}

/// The `Max open files` row of a `/proc/<pid>/limits` text.
pub fn limits_open_files(limits: &str) -> Option<(u64, u64)> {
    let row = limits.lines().find(|line| line.starts_with("Max open files"))?;
    let mut values = row.trim_start_matches("Max open files").split_whitespace();
    let parse = |text: Option<&str>| match text? {
        "unlimited" => Some(u64::MAX),
        number => number.parse().ok(),
    };
    Some((parse(values.next())?, parse(values.next())?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&values, 0.5), Some(50));
        assert_eq!(percentile(&values, 0.99), Some(99));
        assert_eq!(percentile(&values, 1.0), Some(100));
        assert_eq!(percentile(&values, 0.0), Some(1));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
        // With 200 values the 99th percentile is the 198th: two values lie above it.
        let values: Vec<u64> = (1..=200).collect();
        assert_eq!(percentile(&values, 0.99), Some(198));
    }

    #[test]
    fn distribution_sorts_its_input() {
        let distribution = Distribution::of(vec![5, 1, 4, 2, 3]).unwrap();
        assert_eq!(distribution, Distribution { n: 5, p50: 3, p90: 5, p99: 5, max: 5 });
        assert_eq!(Distribution::of(Vec::new()), None);
    }

    #[test]
    fn frame_header_grows_with_the_payload() {
        assert_eq!(server_frame_bytes(125), 127);
        assert_eq!(server_frame_bytes(126), 130);
        assert_eq!(server_frame_bytes(65_535), 65_539);
        assert_eq!(server_frame_bytes(65_536), 65_546);
    }

    #[test]
    fn proc_texts_are_read() {
        let status = "Name:\tgitops-live\nVmHWM:\t   20000 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(status_field_kib(status, "VmRSS"), Some(12345));
        assert_eq!(status_field_kib(status, "VmSwap"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             95000                95000                processes \n\
                      Max open files            20000                unlimited            files     \n";
        assert_eq!(limits_open_files(limits), Some((20000, u64::MAX)));
        assert!(open_files_limit().is_some_and(|(soft, hard)| soft <= hard));
        assert!(vm_rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        let stat =
            "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 3 0 100 0 0";
        assert_eq!(stat_cpu_ticks(stat), Some(1290));
        assert!(cpu_ticks(std::process::id()).is_some());
    }

    #[test]
    fn output_lines_round_trip() {
        let lines = [
            OutputLine::Message(MessageRecord {
                seq: 3,
                kind: "repo-status-change".into(),
                name: Some("halo".into()),
                payload_bytes: 212,
                receivers: 2,
                first_ns: 1_000_000,
                offsets_us: vec![0, 15],
            }),
            OutputLine::Summary(LoadSummary { clients: 2, connected: 2, ..LoadSummary::default() }),
        ];
        for line in lines {
            let text = serde_json::to_string(&line).unwrap();
            assert_eq!(serde_json::from_str::<OutputLine>(&text).unwrap(), line);
        }
        let record = MessageRecord {
            seq: 1,
            kind: "x".into(),
            name: None,
            payload_bytes: 0,
            receivers: 2,
            first_ns: 5_000,
            offsets_us: vec![0, 2],
        };
        assert_eq!(record.receive_times_ns().collect::<Vec<_>>(), vec![5_000, 7_000]);
    }
}
