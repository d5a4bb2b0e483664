//! Draining the outbox: one task per destination, exponential backoff with full jitter, dead letters.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::outbox::{Outbox, OutboxError, OutboxId, Retry};
use crate::{DeliveryError, Destination, Digest, RenderOptions, Rendered, Sender, render};

/// How the dispatcher retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchConfig {
    /// The backoff's first ceiling; it doubles with each failed attempt.
    pub base_delay: Duration,
    /// The backoff's highest ceiling (and the most a `Retry-After` is honoured).
    pub max_delay: Duration,
    /// Attempts before an item becomes a dead letter.
    pub max_attempts: u32,
    /// Items taken from the outbox at once, per destination.
    pub batch: usize,
    /// How digests are rendered by [`DispatcherHandle::submit`].
    pub render: RenderOptions,
}

impl Default for DispatchConfig {
    /// Base 5 s, cap 1 h, 12 attempts (about 3 to 4 hours of trying), batches of 16.
    fn default() -> Self {
        Self {
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(3600),
            max_attempts: 12,
            batch: 16,
            render: RenderOptions::default(),
        }
    }
}

/// The wait before attempt `failed + 1`: "full jitter" — uniform in
/// `[0, min(max_delay, base_delay × 2^(failed−1))]` given a `random` draw — but never less than a
/// `retry_after` the server asked for (itself capped at `max_delay`).
pub fn backoff(
    failed: u32,
    config: &DispatchConfig,
    retry_after: Option<Duration>,
    random: u64,
) -> Duration {
    let factor = 2u32.checked_pow(failed.saturating_sub(1)).unwrap_or(u32::MAX);
    let ceiling = config.base_delay.saturating_mul(factor).min(config.max_delay);
    let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    let jittered = Duration::from_millis(random % ceiling_ms.saturating_add(1));
    match retry_after {
        Some(asked) => jittered.max(asked.min(config.max_delay)),
        None => jittered,
    }
}

/// A random draw for the jitter; 0 (no wait) if the system's randomness fails.
fn random_u64() -> u64 {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 8];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}

/// The dispatcher's clock: wall time at start, advanced by tokio's clock, so that tests on
/// paused tokio time see the outbox's times move with it.
#[derive(Debug, Clone, Copy)]
struct Clock {
    wall: SystemTime,
    start: tokio::time::Instant,
}

impl Clock {
    fn start() -> Self {
        Self { wall: SystemTime::now(), start: tokio::time::Instant::now() }
    }

    fn now(&self) -> SystemTime {
        self.wall + self.start.elapsed()
    }

    /// The tokio instant at wall time `at` (now, for a time already past).
    fn instant_at(&self, at: SystemTime) -> tokio::time::Instant {
        let now = self.now();
        tokio::time::Instant::now() + at.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// Delivers the outbox's items: build it with the destinations, then [`Dispatcher::spawn`].
pub struct Dispatcher {
    outbox: Arc<dyn Outbox>,
    sender: Sender,
    destinations: BTreeMap<String, Destination>,
    config: DispatchConfig,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("destinations", &self.destinations)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// A running dispatcher: submit digests, wake it, stop it.
pub struct DispatcherHandle {
    outbox: Arc<dyn Outbox>,
    destinations: BTreeMap<String, (Destination, Arc<Notify>)>,
    render: RenderOptions,
    clock: Clock,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for DispatcherHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let destinations: Vec<_> = self.destinations.iter().map(|(id, (d, _))| (id, d)).collect();
        f.debug_struct("DispatcherHandle")
            .field("destinations", &destinations)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher for `destinations` (id → destination; the id is what the outbox keeps).
    pub fn new(
        outbox: Arc<dyn Outbox>,
        sender: Sender,
        destinations: impl IntoIterator<Item = (String, Destination)>,
        config: DispatchConfig,
    ) -> Self {
        Self { outbox, sender, destinations: destinations.into_iter().collect(), config }
    }

    /// Starts one task per destination, so a slow or dead destination never delays another.
    /// Items already in the outbox (from before a restart) are delivered too.
    pub fn spawn(self) -> DispatcherHandle {
        let clock = Clock::start();
        let (stop, stopped) = watch::channel(false);
        let mut tasks = Vec::new();
        let mut destinations = BTreeMap::new();
        let config = Arc::new(self.config);
        for (id, destination) in self.destinations {
            let wake = Arc::new(Notify::new());
            let lane = Lane {
                id: id.clone(),
                destination: destination.clone(),
                outbox: Arc::clone(&self.outbox),
                sender: self.sender.clone(),
                config: Arc::clone(&config),
                clock,
                wake: Arc::clone(&wake),
                stopped: stopped.clone(),
            };
            tasks.push(tokio::spawn(lane.run()));
            destinations.insert(id, (destination, wake));
        }
        let outbox = self.outbox;
        DispatcherHandle { outbox, destinations, render: config.render, clock, stop, tasks }
    }
}

impl DispatcherHandle {
    /// Renders `digest` for every destination, keeps each in the outbox and wakes its task.
    /// Returns the outbox ids by destination id; a destination whose enqueue failed is an error
    /// in its place (the others are kept).
    pub fn submit(&self, digest: &Digest) -> Vec<(String, Result<OutboxId, OutboxError>)> {
        let now = self.clock.now();
        self.destinations
            .iter()
            .map(|(id, (destination, wake))| {
                let payload = render(digest, destination, &self.render).to_bytes();
                let queued = self.outbox.enqueue(id, &payload, now);
                if queued.is_ok() {
                    wake.notify_one();
                }
                (id.clone(), queued)
            })
            .collect()
    }

    /// Wakes destination `id`'s task, after something was put in the outbox for it directly.
    pub fn wake(&self, id: &str) {
        if let Some((_, wake)) = self.destinations.get(id) {
            wake.notify_one();
        }
    }

    /// The dispatcher's current time (wall time at start advanced by tokio's clock).
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Stops every task; an attempt in flight is dropped and its item stays due for the next run.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// One destination's delivery loop.
struct Lane {
    id: String,
    destination: Destination,
    outbox: Arc<dyn Outbox>,
    sender: Sender,
    config: Arc<DispatchConfig>,
    clock: Clock,
    wake: Arc<Notify>,
    stopped: watch::Receiver<bool>,
}

impl Lane {
    async fn run(mut self) {
        loop {
            if self.stopping() {
                return;
            }
            // After a retryable failure the destination is probably down: wait out the backoff
            // before anything else goes to it.
            let hold = self.deliver_due().await;
            let next = match hold {
                Some(until) => Some(until),
                None => self
                    .outbox
                    .next_due(&self.id)
                    .unwrap_or(Some(self.clock.now() + self.config.base_delay)),
            };
            let wake = Arc::clone(&self.wake);
            match next {
                Some(at) => {
                    let sleep = tokio::time::sleep_until(self.clock.instant_at(at));
                    tokio::select! {
                        () = sleep => {}
                        () = wake.notified(), if hold.is_none() => {}
                        _ = self.stopped.changed() => return,
                    }
                }
                None => {
                    tokio::select! {
                        () = wake.notified() => {}
                        _ = self.stopped.changed() => return,
                    }
                }
            }
        }
    }

    /// Tries every due item once; returns when to resume if the destination looks down.
    async fn deliver_due(&self) -> Option<SystemTime> {
        let Ok(items) = self.outbox.due(&self.id, self.clock.now(), self.config.batch) else {
            return Some(self.clock.now() + self.config.base_delay);
        };
        for item in items {
            let outcome = match Rendered::from_bytes(&item.payload) {
                Ok(rendered) => {
                    // Shutting down drops an attempt in flight: the item stays due, uncounted.
                    let mut stopped = self.stopped.clone();
                    tokio::select! {
                        outcome = self.sender.send(&self.destination, &rendered) => outcome,
                        _ = stopped.wait_for(|stop| *stop) => return None,
                    }
                }
                Err(error) => Err(DeliveryError::Payload(error.to_string())),
            };
            let now = self.clock.now();
            match outcome {
                Ok(()) => {
                    // Delivered. If the outbox cannot record it, the item stays due: wait before
                    // it is sent again (at least once, never in a tight loop).
                    if self.outbox.delivered(item.id, now).is_err() {
                        return Some(now + self.config.base_delay);
                    }
                }
                Err(error) => {
                    let failed = item.attempts.saturating_add(1);
                    let retryable = error.is_retryable() && failed < self.config.max_attempts;
                    let retry = if retryable {
                        let wait = backoff(failed, &self.config, error.retry_after(), random_u64());
                        Retry::At(now + wait)
                    } else {
                        Retry::Dead
                    };
                    if self.outbox.failed(item.id, &error.to_string(), retry, now).is_err() {
                        return Some(now + self.config.base_delay);
                    }
                    if let Retry::At(at) = retry
                        && error.is_retryable()
                    {
                        return Some(at);
                    }
                }
            }
            if self.stopping() {
                return None;
            }
        }
        None
    }

    /// Whether to stop: asked to, or the handle is gone.
    fn stopping(&self) -> bool {
        *self.stopped.borrow() || self.stopped.has_changed().is_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let config = DispatchConfig::default();
        let top = u64::MAX;
        assert_eq!(backoff(1, &config, None, 5000), Duration::from_secs(5));
        assert_eq!(backoff(1, &config, None, 0), Duration::ZERO);
        assert_eq!(backoff(2, &config, None, 10_000), Duration::from_secs(10));
        assert_eq!(backoff(4, &config, None, 40_000), Duration::from_secs(40));
        for failed in [11, 12, 40, u32::MAX] {
            assert_eq!(backoff(failed, &config, None, 3_600_000), Duration::from_secs(3600));
            assert!(backoff(failed, &config, None, top) <= Duration::from_secs(3600));
        }
        let asked = Some(Duration::from_secs(120));
        assert_eq!(backoff(1, &config, asked, 0), Duration::from_secs(120));
        assert_eq!(
            backoff(1, &config, Some(Duration::from_secs(86_400)), 0),
            Duration::from_secs(3600)
        );
    }
}
