//! `serve --engine redis://…`: several instances serve one stream through Redis.
//!
//! Every instance follows the Redis stream into its own hub (so a cursor means the same on every
//! instance and a client may resume on any of them). Every instance also runs its report source,
//! but only the one holding the writer lease publishes: the lease keeper acquires or renews the
//! lease every third of its time, and hands it to the feed's [`gitops_engine::RedisLog`] only once this
//! instance's hub has caught up with Redis (a new writer never continues from behind). While
//! Redis cannot be reached the instance keeps serving its last state, is not ready
//! (`/readyz` 503, so a balancer sends new clients elsewhere) and says so in its status.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use gitops_engine::{EngineOptions, Followed, RedisEngine, SharedLease};
use gitops_feed::Feed;
use gitops_transport::Live;

use crate::cli;

/// Several instances, one stream (see `docs/operations.md`, "Several instances").
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EngineArgs {
    /// Serve one stream from several instances through Redis 6.2+ (or Valkey):
    /// redis://host:6379/0 or rediss:// for TLS. Without it, the state directory is the log.
    #[arg(long, env = "GITOPS_ENGINE", value_name = "URL")]
    pub(crate) engine: Option<String>,
    /// File holding the Redis password (its first line).
    #[arg(long, env = "GITOPS_ENGINE_PASSWORD_FILE", value_name = "FILE")]
    pub(crate) engine_password_file: Option<std::path::PathBuf>,
    /// The stream's name in Redis: instances with the same name serve the same stream.
    #[arg(long, env = "GITOPS_ENGINE_NAME", default_value = "default")]
    pub(crate) engine_name: String,
    /// How long the writer's lease lasts without renewal: after a writer dies, another instance
    /// takes over within this time.
    #[arg(long, env = "GITOPS_ENGINE_LEASE", value_name = "DURATION", default_value = "10s", value_parser = cli::positive_duration)]
    pub(crate) engine_lease: Duration,
}

/// Whether this instance may publish: it holds the lease and has caught up with Redis.
#[derive(Debug, Default)]
pub(crate) struct WriterGate {
    writer: AtomicBool,
}

impl WriterGate {
    /// Whether the report source may publish now.
    pub(crate) fn may_publish(&self) -> bool {
        self.writer.load(Ordering::Acquire)
    }
}

/// The engine and this instance's part in it.
#[derive(Debug, Clone)]
pub(crate) struct Engine {
    pub(crate) engine: Arc<RedisEngine>,
    pub(crate) lease: SharedLease,
    pub(crate) gate: Arc<WriterGate>,
    ttl: Duration,
}

impl Engine {
    /// Connects (lazily: Redis may be down at start).
    pub(crate) fn connect(args: &EngineArgs, url: &str) -> anyhow::Result<Self> {
        let options = EngineOptions {
            name: args.engine_name.clone(),
            password_file: args.engine_password_file.clone(),
            ..EngineOptions::default()
        };
        let engine = RedisEngine::connect(url, options).context("setting up the Redis engine")?;
        Ok(Self {
            engine: Arc::new(engine),
            lease: Arc::new(Mutex::new(None)),
            gate: Arc::new(WriterGate::default()),
            ttl: args.engine_lease,
        })
    }

    /// Starts following the stream into `feed`'s hub and keeping the lease.
    pub(crate) fn start(&self, feed: &Arc<Feed>, live: &Arc<Live>) {
        tokio::spawn(follow(self.clone(), feed.clone(), live.clone()));
        tokio::spawn(keep_lease(self.clone(), feed.clone()));
    }
}

/// Applies the stream to the hub; resets it to Redis's state when they disagree.
async fn follow(engine: Engine, feed: Arc<Feed>, live: Arc<Live>) {
    let hub = feed.hub().clone();
    let mut follower = engine.engine.follow(hub.cursor());
    loop {
        let applied = match follower.next().await {
            Followed::Messages { epoch, first_seq, messages } => {
                hub.follow_messages(epoch, first_seq, &messages).map(|_| ())
            }
            Followed::Reset { cursor, state } => {
                tracing::info!(%cursor, "following the stream from a new state");
                hub.follow_reset(cursor, *state).map(|_| ())
            }
            Followed::Unavailable { reason } => {
                let message = format!("redis cannot be reached ({reason}); serving the last state");
                tracing::warn!("{message}");
                live.set_unready(Some(message.clone()));
                feed.log_unavailable(&message);
                continue;
            }
            Followed::Available => {
                tracing::info!("redis can be reached again");
                live.set_unready(None);
                feed.log_available();
                continue;
            }
        };
        if let Err(error) = applied {
            // The hub went its own way (a publish this instance could not log) or missed
            // something: follow Redis afresh from the hub's cursor. Another epoch than Redis's
            // resets the hub to Redis's checkpoint, then the stream after it brings it to the
            // head (the checkpoint alone may be behind); the same epoch reads on from the
            // checkpoint, skipping what the hub has.
            tracing::info!(%error, "the hub does not follow the stream; following redis afresh");
            follower = engine.engine.follow(hub.cursor());
        }
    }
}

/// Acquires or renews the writer lease every third of its time. A new writer waits until its
/// hub has caught up with Redis, then asks its source for a fresh read.
async fn keep_lease(engine: Engine, feed: Arc<Feed>) {
    let owner = format!(
        "{}-{}-{:x}",
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim(),
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let mut every = tokio::time::interval((engine.ttl / 3).max(Duration::from_millis(50)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let held = engine.lease.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (redis, owner_now, ttl) = (engine.engine.clone(), owner.clone(), engine.ttl);
        let result = tokio::task::spawn_blocking(move || match held {
            Some(lease) => redis.renew_lease(&lease).map(|kept| kept.then_some(lease)),
            None => redis.acquire_lease(&owner_now, ttl),
        })
        .await;
        let lease = match result {
            Ok(Ok(lease)) => lease,
            Ok(Err(error)) => {
                tracing::debug!(%error, "the lease could not be kept");
                None
            }
            Err(_) => None,
        };
        let was_writer = engine.gate.may_publish();
        match lease {
            Some(lease) if !was_writer => {
                // Catch up before writing: the first publish must continue Redis's stream.
                let caught_up = catch_up(&engine, &feed, &lease).await;
                if !caught_up {
                    tracing::info!("holding the lease but not caught up with redis yet; waiting");
                }
                *engine.lease.lock().unwrap_or_else(PoisonError::into_inner) = Some(lease);
                if caught_up {
                    engine.gate.writer.store(true, Ordering::Release);
                    tracing::info!("this instance is the writer now");
                    feed.trigger();
                }
            }
            Some(lease) => {
                *engine.lease.lock().unwrap_or_else(PoisonError::into_inner) = Some(lease);
            }
            None => {
                if was_writer {
                    tracing::warn!("this instance lost the writer lease; following only");
                }
                engine.gate.writer.store(false, Ordering::Release);
                *engine.lease.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
        }
    }
}

/// Waits (a little) until the hub is at Redis's cursor; true when it is, or Redis has none.
/// When Redis has none but the hub has a state (Redis restarted empty), the hub's state begins
/// a fresh epoch in Redis: every instance resets to it (one snapshot each client), and none
/// keeps serving the old epoch, which Redis no longer vouches for.
async fn catch_up(engine: &Engine, feed: &Feed, lease: &gitops_engine::Lease) -> bool {
    for _ in 0..50 {
        let redis = engine.engine.clone();
        let cursor = tokio::task::spawn_blocking(move || redis.cursor()).await;
        match cursor {
            Ok(Ok(None)) => {
                let Some((cursor, state)) = feed.hub().current() else { return true };
                let fresh = gitops_protocol::Cursor::new(gitops_engine::random_epoch(), cursor.seq);
                let (redis, lease) = (engine.engine.clone(), lease.clone());
                let begun =
                    tokio::task::spawn_blocking(move || redis.begin_epoch(&lease, fresh, &state))
                        .await;
                return match begun {
                    Ok(Ok(())) => {
                        tracing::warn!(
                            old = %cursor,
                            new = %fresh,
                            "redis holds no stream (restarted empty?): beginning a new epoch with the state served"
                        );
                        false
                    }
                    _ => false,
                };
            }
            Ok(Ok(Some(cursor))) if feed.hub().cursor() == Some(cursor) => return true,
            Ok(Ok(Some(_))) => tokio::time::sleep(Duration::from_millis(20)).await,
            _ => return false,
        }
    }
    false
}
