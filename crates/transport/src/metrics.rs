//! Counters and a latency histogram, rendered as Prometheus text at `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use gitops_feed::FeedStats;
use gitops_hub::HubStats;
use gitops_protocol::ClientsByTransport;

/// Upper bounds of the delivery-latency histogram buckets, in seconds.
const BUCKETS: [f64; 14] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];

/// How many sets of the per-message counters there are (see [`Delivered`]).
const SHARDS: usize = 8;

/// The counters every message written to every client touches: one set per shard, each on
/// cache lines of its own, chosen by the writing thread. A counter shared by every thread is a
/// cache line the cores pass back and forth on every increment (at 1,000 clients, thousands of
/// times per change); the sums are taken when `/metrics` is read.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Delivered {
    /// Messages written to clients (all transports).
    messages: AtomicU64,
    /// Bytes of messages written to clients.
    bytes: AtomicU64,
    /// Deliveries per bucket of [`BUCKETS`], each counted in its own bucket only (the rendered
    /// histogram is cumulative).
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// This thread's shard of [`Delivered`]: threads take shards in turn as they first count.
fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|shard| *shard)
}

/// The server's counters. Every field is updated with relaxed atomics: metrics need no ordering.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages and bytes written and delivery delays, per shard.
    delivered: [Delivered; SHARDS],
    /// Real-time clients refused for limits.
    pub refused: AtomicU64,
    /// Requests refused for their Origin.
    pub origin_refused: AtomicU64,
    /// Requests refused for their Host (foreign, missing, duplicated or malformed).
    pub host_refused: AtomicU64,
    /// Requests refused because their headers exceeded the configured size.
    pub oversized_heads: AtomicU64,
    /// Real-time connections closed because they could not write for the write timeout.
    pub write_timeouts: AtomicU64,
    /// Batches the publisher could not write to a client at once and handed to the client's
    /// session to finish (a client reading slower than changes come, or gone).
    pub handovers: AtomicU64,
    /// WebSocket connections closed for a policy violation (rate, size, stall, dead peer).
    pub policy_closes: AtomicU64,
    /// Failed accepts.
    pub accept_errors: AtomicU64,
    /// Data requests refused because no viewer was signed in.
    pub unauthenticated: AtomicU64,
    /// Sign-ins with a wrong viewer token.
    pub sign_in_failures: AtomicU64,
    /// Action requests refused because the request was not the operator's.
    pub operator_refused: AtomicU64,
    /// Actions that ended done.
    pub actions_done: AtomicU64,
    /// Actions that ended refused or failed after they were accepted.
    pub actions_failed: AtomicU64,
}

impl Metrics {
    /// Records `messages` messages of `bytes` bytes in all written to a client.
    pub(crate) fn observe_sent(&self, messages: usize, bytes: usize) {
        let delivered = &self.delivered[shard()];
        delivered.messages.fetch_add(messages as u64, Ordering::Relaxed);
        delivered.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Records one delay from a file change to the last byte of its message written to a client.
    pub fn observe_delivery(&self, delay: Duration) {
        // One counter per observation (its own bucket), summed when rendered.
        let delivered = &self.delivered[shard()];
        let seconds = delay.as_secs_f64();
        if let Some((bucket, _)) =
            delivered.buckets.iter().zip(BUCKETS).find(|(_, bound)| seconds <= *bound)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        delivered.count.fetch_add(1, Ordering::Relaxed);
        delivered.sum_micros.fetch_add(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// The sum of one counter over every shard.
    fn delivered(&self, counter: impl Fn(&Delivered) -> &AtomicU64) -> u64 {
        self.delivered.iter().map(|shard| counter(shard).load(Ordering::Relaxed)).sum()
    }

    /// Renders every metric in the Prometheus text format.
    pub(crate) fn render(
        &self,
        clients: ClientsByTransport,
        hub: &HubStats,
        feed: &FeedStats,
        uptime: Duration,
    ) -> String {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let mut out = String::with_capacity(4096);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "gitops_live_clients",
            "gauge",
            "Connected real-time clients by transport.",
            &[
                ("{transport=\"ws\"}", clients.ws),
                ("{transport=\"sse\"}", clients.sse),
                ("{transport=\"long_poll\"}", clients.long_poll),
            ],
        );
        metric(
            "gitops_live_messages_sent_total",
            "counter",
            "Messages written to clients.",
            &[("", self.delivered(|d| &d.messages))],
        );
        metric(
            "gitops_live_bytes_sent_total",
            "counter",
            "Bytes of messages written to clients.",
            &[("", self.delivered(|d| &d.bytes))],
        );
        metric(
            "gitops_live_resume_total",
            "counter",
            "Subscribe and resume answers by kind.",
            &[
                ("{kind=\"up_to_date\"}", hub.answers_up_to_date),
                ("{kind=\"replay\"}", hub.answers_replay),
                ("{kind=\"catch_up\"}", hub.answers_catch_up),
                ("{kind=\"snapshot\"}", hub.answers_snapshot),
            ],
        );
        metric(
            "gitops_live_conflations_total",
            "counter",
            "Lagging client queues conflated into a catch-up.",
            &[("", hub.conflations)],
        );
        metric(
            "gitops_live_stalled_total",
            "counter",
            "Clients closed for not reading.",
            &[("", hub.stalls)],
        );
        metric(
            "gitops_live_report_load_errors_total",
            "counter",
            "Report loads that failed.",
            &[("", feed.load_errors)],
        );
        metric(
            "gitops_live_publishes_total",
            "counter",
            "Report changes published.",
            &[("", feed.publishes)],
        );
        metric(
            "gitops_live_log_failures_total",
            "counter",
            "Publishes the durable log could not keep (served anyway, under a new epoch).",
            &[("", feed.log_failures)],
        );
        metric(
            "gitops_live_hub_messages_total",
            "counter",
            "Messages published by the hub.",
            &[("", hub.messages_published)],
        );
        metric(
            "gitops_live_refused_total",
            "counter",
            "Real-time clients refused by connection limits.",
            &[("", load(&self.refused))],
        );
        metric(
            "gitops_live_origin_refused_total",
            "counter",
            "Requests refused for their Origin.",
            &[("", load(&self.origin_refused))],
        );
        metric(
            "gitops_live_operator_refused_total",
            "counter",
            "Action requests refused because they were not the operator's.",
            &[("", load(&self.operator_refused))],
        );
        metric(
            "gitops_live_actions_total",
            "counter",
            "Accepted actions on repositories, by how they ended.",
            &[
                ("{result=\"done\"}", load(&self.actions_done)),
                ("{result=\"not-done\"}", load(&self.actions_failed)),
            ],
        );
        metric(
            "gitops_live_host_refused_total",
            "counter",
            "Requests refused for their Host header (DNS rebinding defence).",
            &[("", load(&self.host_refused))],
        );
        metric(
            "gitops_live_oversized_heads_total",
            "counter",
            "Requests refused because their headers exceeded the configured size.",
            &[("", load(&self.oversized_heads))],
        );
        metric(
            "gitops_live_write_timeouts_total",
            "counter",
            "Connections closed because they could not write for the write timeout.",
            &[("", load(&self.write_timeouts))],
        );
        metric(
            "gitops_live_handovers_total",
            "counter",
            "Batches the publisher could not write to a WebSocket client at once and left to its session.",
            &[("", load(&self.handovers))],
        );
        metric(
            "gitops_live_policy_closes_total",
            "counter",
            "WebSocket connections closed for a policy violation.",
            &[("", load(&self.policy_closes))],
        );
        metric(
            "gitops_live_accept_errors_total",
            "counter",
            "Failed accepts.",
            &[("", load(&self.accept_errors))],
        );
        metric(
            "gitops_live_unauthenticated_total",
            "counter",
            "Data requests refused because no viewer was signed in.",
            &[("", load(&self.unauthenticated))],
        );
        metric(
            "gitops_live_sign_in_failures_total",
            "counter",
            "Sign-ins with a wrong viewer token.",
            &[("", load(&self.sign_in_failures))],
        );
        metric(
            "gitops_live_uptime_seconds",
            "gauge",
            "Seconds since start.",
            &[("", uptime.as_secs())],
        );

        let name = "gitops_live_change_to_delivery_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Delay from a report file change to the last byte of its message written to a client.\n# TYPE {name} histogram"
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += self.delivered(|d| &d.buckets[i]);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.delivered(|d| &d.count);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.delivered(|d| &d.sum_micros) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative_and_counts_every_observation() {
        let metrics = Metrics::default();
        metrics.observe_delivery(Duration::from_micros(500));
        metrics.observe_delivery(Duration::from_millis(30));
        let text = metrics.render(
            ClientsByTransport::default(),
            &HubStats::default(),
            &FeedStats::default(),
            Duration::ZERO,
        );
        assert!(
            text.contains("gitops_live_change_to_delivery_seconds_bucket{le=\"0.001\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gitops_live_change_to_delivery_seconds_bucket{le=\"0.05\"} 2"),
            "{text}"
        );
        assert!(text.contains("gitops_live_change_to_delivery_seconds_count 2"), "{text}");
    }
}
