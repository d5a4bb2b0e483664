//! Helpers shared by the tests: a publisher that does what the hub does (diff, encode with
//! contiguous sequence numbers, append), deterministic report mutations, and a client's view of
//! the state after every sequence number.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, SystemTime};

use gitops_diff::{Changes, apply_in_place, apply_repo_change, diff};
use gitops_protocol::{Bytes, Cursor, Epoch, ServerMessage, encode_meta, encode_repo_change};
use gitops_report::{Report, Status};
use gitops_store::{Appended, Batch, DB_FILE, RetentionPolicy, Store, StoreConfig};

/// A small deterministic generator (SplitMix64), so a failing run can be repeated from its seed.
#[derive(Debug, Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// A seed that differs from run to run, printed by the tests that use it.
pub(crate) fn fresh_seed() -> u64 {
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}

/// A store config with frequent checkpoints, so tests cross many of them.
pub(crate) fn config(checkpoint_every_messages: u64) -> StoreConfig {
    StoreConfig { checkpoint_every_messages, ..StoreConfig::default() }
}

/// A retention policy that keeps everything; tests set the one limit they check.
pub(crate) fn no_limits() -> RetentionPolicy {
    RetentionPolicy {
        max_age: None,
        max_bytes: None,
        max_source_events: None,
        max_actions: None,
        max_outbox: None,
    }
}

/// The next report after `report`: a few repositories change status, go or come (sometimes
/// with a name that already exists), and sometimes the top-level fields change. Repositories are
/// picked by their sorted `(name, dup)` keys, so the result depends on the state only, not on
/// the order of the list (a state rebuilt from the log has added repositories last).
pub(crate) fn mutate(report: &Report, seed: u64) -> Report {
    let mut rng = Rng(seed);
    let mut next = report.clone();
    let n_ops = 1 + rng.below(3);
    for _ in 0..n_ops {
        let keys = sorted_positions(&next);
        match rng.below(10) {
            0..=5 if !keys.is_empty() => {
                let position = keys[rng.below(keys.len() as u64) as usize];
                let repo = &mut next.repos[position];
                repo.status = match rng.below(5) {
                    0 => Status::Clean,
                    1 => Status::Dirty,
                    2 => Status::Missing,
                    3 => Status::Extra,
                    _ => Status::Mismatched,
                };
                repo.local_path = Some(format!("/srv/git/{}-{}", repo.name, rng.below(1000)));
            }
            6 if keys.len() > 3 => {
                let position = keys[rng.below(keys.len() as u64) as usize];
                next.repos.remove(position);
            }
            7 if !keys.is_empty() => {
                // A repository with a name that is already there: a second `dup`.
                let position = keys[rng.below(keys.len() as u64) as usize];
                let mut twin = next.repos[position].clone();
                twin.status = Status::Extra;
                next.repos.push(twin);
            }
            _ => {
                let mut repo = gitops_report::generate_report(1, rng.next()).repos.remove(0);
                repo.name = format!("added-{}", rng.below(1_000_000));
                next.repos.push(repo);
            }
        }
    }
    if rng.below(3) == 0 {
        next.extra.insert("audit_duration_ms".to_owned(), rng.below(60_000).into());
    }
    next.summary = Some(next.computed_summary());
    next.health_status = Some(next.computed_health());
    next
}

/// Positions of the repositories in sorted `(name, dup)` order.
fn sorted_positions(report: &Report) -> Vec<usize> {
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    let mut keyed: Vec<((&str, u32), usize)> = report
        .repos
        .iter()
        .enumerate()
        .map(|(position, repo)| {
            let dup = seen.entry(repo.name.as_str()).or_default();
            let key = (repo.name.as_str(), *dup);
            *dup += 1;
            (key, position)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, position)| position).collect()
}

/// The encoded messages of a publish from `old` to `new`, from `seq + 1` on, as the hub makes them.
pub(crate) fn encode_publish(epoch: Epoch, seq: u64, old: &Report, new: &Report) -> Vec<Bytes> {
    let Changes { repos, meta } = diff(old, new);
    let mut messages = Vec::with_capacity(repos.len() + 1);
    let mut next = seq;
    for change in &repos {
        next += 1;
        messages.push(encode_repo_change(Cursor::new(epoch, next), change));
    }
    if let Some(meta) = &meta {
        next += 1;
        messages.push(encode_meta(Cursor::new(epoch, next), meta));
    }
    messages
}

/// Applies one encoded change message to `report`, as a client does.
pub(crate) fn client_apply(report: &mut Report, bytes: &[u8]) {
    match ServerMessage::decode(bytes).expect("a message the test encoded") {
        ServerMessage::RepoStatusChange { data, .. } => {
            apply_repo_change(report, &data).expect("a change that fits")
        }
        ServerMessage::HealthMetricsUpdate { data, .. } => {
            apply_in_place(report, &Changes { repos: Vec::new(), meta: Some(data) })
                .expect("top-level fields that fit")
        }
        other => panic!("not a change message: {other:?}"),
    }
}

/// Does what the hub does against a store, and remembers everything it sent.
pub(crate) struct Publisher {
    pub(crate) epoch: Epoch,
    pub(crate) seq: u64,
    pub(crate) state: Report,
    /// Every message sent, by sequence number.
    pub(crate) sent: BTreeMap<u64, Bytes>,
    /// The state a client holds after each sequence number (mid-publish points included).
    pub(crate) states: BTreeMap<u64, Report>,
    /// The last sequence number of each publish.
    pub(crate) boundaries: Vec<u64>,
    /// The time stamped on the next publish.
    pub(crate) clock: SystemTime,
    /// How far the clock moves per publish.
    pub(crate) tick: Duration,
}

impl Publisher {
    /// Starts a log with `first` as its snapshot at seq 1.
    pub(crate) fn start(store: &mut Store, first: Report) -> Self {
        let clock = SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000);
        store.append(&Batch::snapshot(clock, 1, &first)).expect("the first snapshot");
        let mut states = BTreeMap::new();
        states.insert(1, first.clone());
        Self {
            epoch: store.epoch(),
            seq: 1,
            state: first,
            sent: BTreeMap::new(),
            states,
            boundaries: vec![1],
            clock,
            tick: Duration::from_secs(60),
        }
    }

    /// Continues a log that is at `seq` with `state` (after a reopen).
    pub(crate) fn start_from(epoch: Epoch, seq: u64, state: Report) -> Self {
        let mut states = BTreeMap::new();
        states.insert(seq, state.clone());
        Self {
            epoch,
            seq,
            state,
            sent: BTreeMap::new(),
            states,
            boundaries: vec![seq],
            clock: SystemTime::now(),
            tick: Duration::from_secs(60),
        }
    }

    /// Publishes `new`: appends it (write-ahead) and, once committed, records what was sent.
    /// Returns `None` when `new` equals the current state.
    pub(crate) fn publish(
        &mut self,
        store: &mut Store,
        new: Report,
    ) -> gitops_store::Result<Option<Appended>> {
        let messages = encode_publish(self.epoch, self.seq, &self.state, &new);
        if messages.is_empty() {
            return Ok(None);
        }
        let time = self.clock + self.tick;
        let appended = store.append(&Batch::changes(time, &messages, &new))?;
        self.clock = time;
        let mut client = self.states[&self.seq].clone();
        for bytes in messages {
            self.seq += 1;
            client_apply(&mut client, &bytes);
            self.states.insert(self.seq, client.clone());
            self.sent.insert(self.seq, bytes);
        }
        assert!(gitops_diff::same_state(&client, &new), "the client's view is the new report");
        assert_eq!(appended.cursor, Cursor::new(self.epoch, self.seq));
        self.boundaries.push(self.seq);
        self.state = new;
        Ok(Some(appended))
    }

    /// Publishes `n` mutations; `seed` makes them repeatable.
    pub(crate) fn run(&mut self, store: &mut Store, n: usize, seed: u64) {
        let mut rng = Rng(seed);
        for _ in 0..n {
            let next = mutate(&self.state, rng.next());
            self.publish(store, next).expect("an append");
        }
    }
}

/// Checks that the store can rebuild the state at every point from `from` on, equal to what a
/// client that applied the messages holds.
pub(crate) fn assert_rebuilds(store: &Store, publisher: &Publisher, from: u64) {
    for (seq, expected) in publisher.states.range(from..) {
        let rebuilt = store.state_at(*seq).unwrap_or_else(|e| panic!("state at {seq}: {e}"));
        assert!(gitops_diff::same_state(&rebuilt, expected), "the state at {seq} differs");
    }
}

/// A tmpfs mounted for a test, unmounted when dropped.
pub(crate) struct Mount {
    path: std::path::PathBuf,
}

impl Mount {
    /// Mounts a tmpfs with `options` (e.g. `size=2m`) on `path`; `Err` says why not (not root,
    /// no mount permission in this container), for the test to print as its reason to skip.
    pub(crate) fn tmpfs(path: &std::path::Path, options: &str) -> Result<Self, String> {
        std::fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        let output = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs -o {options} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self { path: path.to_owned() })
    }

    /// Remounts it with `options` (e.g. `remount,ro`).
    pub(crate) fn remount(&self, options: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", options])
            .arg(&self.path)
            .status()
            .expect("mount runs");
        assert!(status.success(), "mount -o {options} failed");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let unmounted = std::process::Command::new("umount")
            .arg(&self.path)
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Something still has a file open there: detach it now, it goes when that closes.
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// The rows of a table as text, to compare two files' contents.
pub(crate) fn table_rows(conn: &rusqlite::Connection, table: &str) -> Vec<String> {
    let mut statement = conn.prepare(&format!("SELECT * FROM {table} ORDER BY 1")).unwrap();
    let n = statement.column_count();
    statement
        .query_map([], |row| {
            let mut cells = Vec::new();
            for i in 0..n {
                cells.push(format!("{:?}", row.get_ref(i)?));
            }
            Ok(cells.join("|"))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The schema of a file: every table and index with the SQL that made it.
pub(crate) fn schema_of(conn: &rusqlite::Connection) -> BTreeSet<(String, String, String)> {
    let mut statement =
        conn.prepare("SELECT type, name, COALESCE(sql, '') FROM sqlite_master").unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// Makes the database of `old_dir` (a new directory) an older version's file from the current
/// one in `new_dir`: the same SQL for every table and index but those of the tables `without`
/// (added after `version`), the same rows, and `user_version` set to `version`. Returns the
/// tables it has.
pub(crate) fn older_file(
    new_dir: &Path,
    old_dir: &Path,
    without: &[&str],
    version: u32,
) -> Vec<String> {
    std::fs::create_dir(old_dir).unwrap();
    let conn = rusqlite::Connection::open(old_dir.join(DB_FILE)).unwrap();
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.execute("ATTACH ?1 AS new", [new_dir.join(DB_FILE).to_str().unwrap()]).unwrap();
    let objects: Vec<(String, String, String, String)> = conn
        .prepare(
            "SELECT type, name, tbl_name, sql FROM new.sqlite_master
             WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
             ORDER BY rowid",
        )
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut tables = Vec::new();
    for (kind, name, table, sql) in &objects {
        if without.contains(&table.as_str()) {
            continue;
        }
        conn.execute_batch(sql).unwrap();
        if kind == "table" {
            tables.push(name.clone());
        }
    }
    for table in &tables {
        conn.execute_batch(&format!("INSERT INTO main.{table} SELECT * FROM new.{table}")).unwrap();
    }
    conn.execute_batch("DETACH new").unwrap();
    conn.pragma_update(None, "user_version", version).unwrap();
    tables
}
