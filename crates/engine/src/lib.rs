//! The log for several gitops-live instances: epoch, seq and the stream of changes in Redis
//! (Redis 6.2+ or Valkey, through the `redis` crate), one fenced writer, every instance a
//! follower that serves any cursor.
//!
//! - [`RedisEngine`] holds the connection settings and the key names. Its writer side is
//!   blocking (the feed commits synchronously while it publishes): [`RedisEngine::acquire_lease`],
//!   [`RedisEngine::renew_lease`], [`RedisEngine::publish`], all on one connection kept between
//!   calls and re-opened after an error.
//! - [`RedisLog`] is the feed's [`gitops_feed::Log`] on top of it, for the instance that holds
//!   the lease.
//! - [`RedisEngine::follow`] reads the stream on a dedicated connection (blocking `XREAD`) and
//!   yields what to apply to the local hub ([`Followed`]), with resets when Redis starts a new
//!   epoch, lost data or trimmed what this instance had not read yet.
//!
//! A publish is one Lua script (see `scripts.rs`): it checks the lease's fencing token, checks
//! that the commit continues Redis's epoch and seq, appends each message to the stream, moves
//! the seq and, now and then ([`EngineOptions::checkpoint_messages`]), stores the whole state as
//! a checkpoint that followers start from. Two writers can never both publish, and a writer that was
//! paused past its lease cannot publish when it wakes.
#![warn(missing_docs)]

mod follow;
mod log;
mod scripts;

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use gitops_hub::Commit;
use gitops_protocol::{Cursor, Epoch};
use gitops_report::Report;
use redis::IntoConnectionInfo as _;

pub use follow::{Followed, Follower, random_epoch};
pub use log::{RedisLog, SharedLease, TIMINGS_KEPT};

/// How to reach Redis and how to use it.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// The name the keys are kept under: `gitops:{<name>}:…` (a hash tag, so one script's keys
    /// share a slot on a Redis Cluster). Instances serving the same stream use the same name.
    pub name: String,
    /// A file holding the password (its first line), instead of one in the URL.
    pub password_file: Option<PathBuf>,
    /// About how many entries the stream keeps (`XADD MAXLEN ~`); a follower further behind
    /// gets the state instead.
    pub stream_max_len: u64,
    /// The whole state is stored (a checkpoint) with the first publish of an epoch and of each
    /// writer, then again once this many messages have been published since the last one, or
    /// once they add up to the checkpoint's own size; in between a publish stores only its
    /// messages (a 1,000-repository state is ~0.5 MB, a change ~0.5 KB). A follower that
    /// starts, or is reset, reads the checkpoint and then the stream after it, so the stream
    /// must keep every entry since: at most half of `stream_max_len` is used.
    pub checkpoint_messages: u64,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// How long to wait for an answer (beyond a blocking read's own wait).
    pub io_timeout: Duration,
    /// How long one blocking read of the stream waits for entries.
    pub block: Duration,
    /// The first and the longest wait between reconnects of a follower (with ±25 % jitter).
    pub backoff_min: Duration,
    /// See `backoff_min`.
    pub backoff_max: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            password_file: None,
            stream_max_len: 10_000,
            checkpoint_messages: 1_000,
            connect_timeout: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
            block: Duration::from_secs(5),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

/// What went wrong with Redis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be used; fix the configuration.
    #[error("the engine url {url} is not usable: {reason}")]
    InvalidUrl {
        /// The URL, with any password redacted.
        url: String,
        /// Why.
        reason: String,
    },
    /// The password file cannot be read; fix the configuration.
    #[error("cannot read the password file {path}: {source}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// Redis could not be reached or answered with an error: try again later (the connection
    /// is re-opened on the next call).
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    /// The lease is not (or no longer) this writer's: another instance writes now, or the
    /// lease expired while this one was paused. Stop writing; follow instead.
    #[error("fenced: the writer lease with token {token} is no longer held")]
    Fenced {
        /// The stale token.
        token: u64,
    },
    /// The commit does not continue what Redis holds (Redis restarted empty, failed over and
    /// lost writes, or a follower saw the epoch go backwards): begin a new epoch with the whole
    /// state ([`RedisEngine::begin_epoch`]).
    #[error("redis is at {}, which the commit does not continue", show(*.redis_cursor))]
    Diverged {
        /// Where Redis is, if it holds anything.
        redis_cursor: Option<Cursor>,
    },
    /// Redis holds something this engine cannot read (another program's keys under the same
    /// name, or a newer format): use another name, or clear the keys.
    #[error("redis holds unreadable data: {0}")]
    Corrupt(String),
}

fn show(cursor: Option<Cursor>) -> String {
    cursor.map_or_else(|| "nothing".to_owned(), |c| c.to_string())
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The writer role, held until `ttl` after the last renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it (unique per process run).
    pub owner: String,
    /// The fencing token: a publish with an older one is refused.
    pub token: u64,
    /// How long it lasts without a renewal.
    pub ttl: Duration,
}

impl Lease {
    fn value(&self) -> String {
        format!("{}:{}", self.token, self.owner)
    }
}

/// The last checkpoint of the state kept in Redis, and where in the stream it was written.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Its cursor.
    pub cursor: Cursor,
    /// The report.
    pub state: Report,
    /// The id of the stream entry written with it: reading on from there follows it.
    pub stream_id: String,
}

#[derive(Debug, Clone)]
struct Keys {
    lease: String,
    fence: String,
    meta: String,
    stream: String,
    state: String,
}

impl Keys {
    fn new(name: &str) -> Self {
        let key = |suffix: &str| format!("gitops:{{{name}}}:{suffix}");
        Self {
            lease: key("lease"),
            fence: key("fence"),
            meta: key("meta"),
            stream: key("stream"),
            state: key("state"),
        }
    }
}

/// The engine: connection settings, key names, and the writer's connection.
pub struct RedisEngine {
    client: redis::Client,
    display: String,
    keys: Keys,
    options: EngineOptions,
    writer: Mutex<Option<redis::Connection>>,
    acquire: redis::Script,
    renew: redis::Script,
    release: redis::Script,
    publish: redis::Script,
    poison: redis::Script,
}

impl std::fmt::Debug for RedisEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let password = self.client.get_connection_info().redis_settings().password().is_some();
        f.debug_struct("RedisEngine")
            .field("url", &self.display)
            .field("password", &if password { "<redacted>" } else { "none" })
            .field("keys", &format!("gitops:{{{}}}:*", self.options.name))
            .finish_non_exhaustive()
    }
}

impl RedisEngine {
    /// Checks `url` (`redis://host:port/db` or `rediss://…`) and reads the password file; the
    /// connection itself is opened on first use, so an instance can start while Redis is down.
    pub fn connect(url: &str, options: EngineOptions) -> Result<Self> {
        let display = redact(url);
        let invalid = |reason: String| Error::InvalidUrl { url: display.clone(), reason };
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(invalid("it must start with redis:// or rediss://".to_owned()));
        }
        let mut info = url.into_connection_info().map_err(|e| invalid(e.to_string()))?;
        if let Some(path) = &options.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::PasswordFile { path: path.clone(), source })?;
            let password = text.lines().next().unwrap_or_default().trim_end();
            let settings = info.redis_settings().clone().set_password(password);
            info = info.set_redis_settings(settings);
        }
        let client = redis::Client::open(info).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            client,
            display,
            keys: Keys::new(&options.name),
            options,
            writer: Mutex::new(None),
            acquire: redis::Script::new(scripts::ACQUIRE),
            renew: redis::Script::new(scripts::RENEW),
            release: redis::Script::new(scripts::RELEASE),
            publish: redis::Script::new(scripts::PUBLISH),
            poison: redis::Script::new(scripts::POISON),
        })
    }

    /// Where the engine is, as shown to operators (no password).
    pub fn location(&self) -> String {
        format!("{} (gitops:{{{}}})", self.display, self.options.name)
    }

    /// The options it was made with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Takes the writer lease for `owner` (unique per process run) for `ttl`, when nobody else
    /// holds it; `owner` already holding it gets it extended with the same token.
    pub fn acquire_lease(&self, owner: &str, ttl: Duration) -> Result<Option<Lease>> {
        let token: Option<String> = self.with_writer(|con| {
            self.acquire
                .key(&self.keys.lease)
                .key(&self.keys.fence)
                .arg(owner)
                .arg(millis(ttl))
                .invoke(con)
        })?;
        token
            .map(|token| {
                let token = token.parse().map_err(|_| Error::Corrupt(format!("token {token}")))?;
                Ok(Lease { owner: owner.to_owned(), token, ttl })
            })
            .transpose()
    }

    /// Extends `lease` by its ttl; `false` when it is no longer held (expired or taken over).
    pub fn renew_lease(&self, lease: &Lease) -> Result<bool> {
        let held: i64 = self.with_writer(|con| {
            self.renew.key(&self.keys.lease).arg(lease.value()).arg(millis(lease.ttl)).invoke(con)
        })?;
        Ok(held == 1)
    }

    /// Gives `lease` up so another instance can take over at once; `false` when it was no
    /// longer held.
    pub fn release_lease(&self, lease: &Lease) -> Result<bool> {
        let held: i64 = self
            .with_writer(|con| self.release.key(&self.keys.lease).arg(lease.value()).invoke(con))?;
        Ok(held == 1)
    }

    /// Appends `commit` under `lease`, in one script: its messages continue Redis's epoch and
    /// seq ([`Error::Diverged`] if not); a commit without messages (the first state of an
    /// epoch) begins its epoch. [`Error::Fenced`] when the lease is not held.
    pub fn publish(&self, lease: &Lease, commit: &Commit<'_>) -> Result<()> {
        self.publish_inner(lease, commit, true).map(|_| ())
    }

    /// [`publish`](Self::publish) without storing the state: only the messages and the new seq
    /// (the last checkpoint stays; see [`EngineOptions::checkpoint_messages`]). A commit without
    /// messages begins its epoch with the state all the same.
    pub fn publish_messages(&self, lease: &Lease, commit: &Commit<'_>) -> Result<()> {
        self.publish_inner(lease, commit, false).map(|_| ())
    }

    /// Publishes, with the state when `checkpoint`; the size of the state stored, if any.
    pub(crate) fn publish_inner(
        &self,
        lease: &Lease,
        commit: &Commit<'_>,
        checkpoint: bool,
    ) -> Result<Option<usize>> {
        if commit.messages.is_empty() {
            return self
                .begin_epoch_inner(lease, Cursor::new(commit.epoch, commit.first_seq), commit.state)
                .map(Some);
        }
        let last_seq = commit.first_seq + commit.messages.len() as u64 - 1;
        let state = if checkpoint {
            serde_json::to_vec(commit.state).map_err(|e| Error::Corrupt(e.to_string()))?
        } else {
            Vec::new()
        };
        let mut invocation = self.publish.prepare_invoke();
        invocation
            .key(&self.keys.lease)
            .key(&self.keys.meta)
            .key(&self.keys.stream)
            .key(&self.keys.state)
            .arg(lease.value())
            .arg("c")
            .arg(commit.epoch.to_string())
            .arg(commit.first_seq - 1)
            .arg(last_seq)
            .arg(self.options.stream_max_len)
            .arg(&state);
        for (i, message) in commit.messages.iter().enumerate() {
            invocation.arg(commit.first_seq + i as u64).arg(message.as_ref());
        }
        let reply: Vec<String> = self.with_writer(|con| invocation.invoke(con))?;
        self.publish_reply(lease, &reply)?;
        Ok(checkpoint.then_some(state.len()))
    }

    /// Begins epoch `cursor.epoch` at `cursor.seq` with the whole `state` under `lease`, whatever
    /// Redis held: followers reset to it and send their clients a snapshot.
    pub fn begin_epoch(&self, lease: &Lease, cursor: Cursor, state: &Report) -> Result<()> {
        self.begin_epoch_inner(lease, cursor, state).map(|_| ())
    }

    /// [`begin_epoch`](Self::begin_epoch); the size of the state stored.
    pub(crate) fn begin_epoch_inner(
        &self,
        lease: &Lease,
        cursor: Cursor,
        state: &Report,
    ) -> Result<usize> {
        let state = serde_json::to_vec(state).map_err(|e| Error::Corrupt(e.to_string()))?;
        let reply: Vec<String> = self.with_writer(|con| {
            self.publish
                .key(&self.keys.lease)
                .key(&self.keys.meta)
                .key(&self.keys.stream)
                .key(&self.keys.state)
                .arg(lease.value())
                .arg("b")
                .arg(cursor.epoch.to_string())
                .arg("")
                .arg(cursor.seq)
                .arg(self.options.stream_max_len)
                .arg(&state)
                .invoke(con)
        })?;
        self.publish_reply(lease, &reply)?;
        Ok(state.len())
    }

    fn publish_reply(&self, lease: &Lease, reply: &[String]) -> Result<()> {
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(()),
            Some("fenced") => Err(Error::Fenced { token: lease.token }),
            Some("diverged") => {
                let epoch = reply.get(1).map_or("", String::as_str);
                let seq = reply.get(2).map_or("", String::as_str);
                Err(Error::Diverged {
                    redis_cursor: parse_cursor(epoch.as_bytes(), seq.as_bytes()),
                })
            }
            _ => Err(Error::Corrupt(format!("the publish script answered {reply:?}"))),
        }
    }

    /// Redis's cursor, or `None` when it holds nothing.
    pub fn cursor(&self) -> Result<Option<Cursor>> {
        let fields: Vec<Option<Vec<u8>>> = self.with_writer(|con| {
            redis::cmd("HMGET").arg(&self.keys.meta).arg("epoch").arg("seq").query(con)
        })?;
        Ok(meta_cursor(&fields))
    }

    /// The last checkpoint of the state kept in Redis (the stream holds every message after
    /// it, from [`Snapshot::stream_id`]), or `None` when it holds nothing.
    pub fn snapshot(&self) -> Result<Option<Snapshot>> {
        let fields: Vec<Option<Vec<u8>>> =
            self.with_writer(|con| snapshot_cmd(&self.keys).query(con))?;
        parse_snapshot(&fields)
    }

    /// Runs `f` on the writer's connection, opening it first when needed. A connection that
    /// fails is dropped; when it was an old one (Redis restarted, or closed it while idle), `f`
    /// runs once more on a new one. Every script is safe to run twice: a repeated publish finds
    /// the seq moved on and is refused, a repeated lease call finds its own lease.
    fn with_writer<T>(
        &self,
        mut f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut slot = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        for attempt in 0..2 {
            let reused = slot.is_some();
            let con = match slot.as_mut() {
                Some(con) => con,
                None => {
                    let con =
                        self.client.get_connection_with_timeout(self.options.connect_timeout)?;
                    con.set_read_timeout(Some(self.options.io_timeout))?;
                    con.set_write_timeout(Some(self.options.io_timeout))?;
                    slot.insert(con)
                }
            };
            match f(con) {
                Ok(value) => return Ok(value),
                Err(error) if is_connection_error(&error) => {
                    *slot = None;
                    if !(reused && attempt == 0 && !error.is_timeout()) {
                        return Err(error.into());
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        Err(Error::Corrupt("unreachable: the second attempt returns".to_owned()))
    }
}

fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_timeout()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_unrecoverable_error()
}

fn snapshot_cmd(keys: &Keys) -> redis::Cmd {
    let mut cmd = redis::cmd("HMGET");
    cmd.arg(&keys.state).arg("epoch").arg("seq").arg("id").arg("report");
    cmd
}

fn parse_snapshot(fields: &[Option<Vec<u8>>]) -> Result<Option<Snapshot>> {
    let [Some(epoch), Some(seq), Some(id), Some(report)] = fields else { return Ok(None) };
    let cursor = parse_cursor(epoch, seq)
        .ok_or_else(|| Error::Corrupt("the state's cursor cannot be read".to_owned()))?;
    let state = serde_json::from_slice(report)
        .map_err(|e| Error::Corrupt(format!("the state cannot be read: {e}")))?;
    let stream_id = String::from_utf8(id.clone())
        .map_err(|_| Error::Corrupt("the state's stream id is not text".to_owned()))?;
    Ok(Some(Snapshot { cursor, state, stream_id }))
}

fn meta_cursor(fields: &[Option<Vec<u8>>]) -> Option<Cursor> {
    match fields {
        [Some(epoch), Some(seq), ..] => parse_cursor(epoch, seq),
        _ => None,
    }
}

fn parse_cursor(epoch: &[u8], seq: &[u8]) -> Option<Cursor> {
    let epoch: Epoch = std::str::from_utf8(epoch).ok()?.parse().ok()?;
    let seq = std::str::from_utf8(seq).ok()?.parse().ok()?;
    Some(Cursor::new(epoch, seq))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// `url` with any password replaced by `<redacted>`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info.split_once(':').map_or(user_info, |(user, _)| user);
            let user = if user_info.contains(':') {
                format!("{user}:<redacted>")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{user}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(redact("redis://:s3cret@host:6379/2"), "redis://:<redacted>@host:6379/2");
        assert_eq!(redact("rediss://user:pw@host/0"), "rediss://user:<redacted>@host/0");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        let engine =
            RedisEngine::connect("redis://:s3cret@127.0.0.1:1/0", EngineOptions::default());
        let shown = format!("{engine:?}");
        assert!(!shown.contains("s3cret") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_password_file_is_read_and_never_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("password");
        std::fs::write(&path, "hunter2\n").expect("write");
        let options = EngineOptions { password_file: Some(path), ..EngineOptions::default() };
        let engine = RedisEngine::connect("redis://127.0.0.1:1/0", options).expect("valid");
        let shown = format!("{engine:?}");
        assert!(!shown.contains("hunter2") && shown.contains("<redacted>"), "{shown}");
        let missing = EngineOptions {
            password_file: Some(dir.path().join("absent")),
            ..EngineOptions::default()
        };
        assert!(matches!(
            RedisEngine::connect("redis://127.0.0.1:1/0", missing),
            Err(Error::PasswordFile { .. })
        ));
        assert!(matches!(
            RedisEngine::connect("http://127.0.0.1/", EngineOptions::default()),
            Err(Error::InvalidUrl { .. })
        ));
    }
}
