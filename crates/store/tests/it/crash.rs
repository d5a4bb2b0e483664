//! kill -9 during appends: a child process publishes in a loop and is killed at a random moment,
//! a hundred times over the same state directory; after each kill the reopened log must be
//! consistent and hold at least everything the child said it committed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gitops_diff::{diff, same_state};
use gitops_report::Report;
use gitops_store::{HistoryLimit, Notice, Store, SyncLevel};

use crate::child::{crash_config, first_report, next_report, spawn};
use crate::common::{Rng, fresh_seed};

/// The one sequence of publishes every child follows, computed on demand: the state at the end
/// of each publish, by its last sequence number.
struct Expected {
    seed: u64,
    boundaries: BTreeMap<u64, Report>,
}

impl Expected {
    fn new(seed: u64) -> Self {
        Self { seed, boundaries: BTreeMap::from([(1, first_report(seed))]) }
    }

    /// The state after the publish ending at `seq`, or `None` if no publish ends there.
    fn at(&mut self, seq: u64) -> Option<&Report> {
        loop {
            let (&last, state) = self.boundaries.last_key_value().expect("the first report");
            if last >= seq {
                break;
            }
            let next = next_report(state, self.seed, last);
            let changes = diff(state, &next);
            let n = changes.repos.len() as u64 + u64::from(changes.meta.is_some());
            assert!(n > 0, "every publish of the test changes something");
            self.boundaries.insert(last + n, next);
        }
        self.boundaries.get(&seq)
    }
}

#[test]
fn kill_9_during_appends_leaves_a_consistent_log_with_everything_committed() {
    let seed = fresh_seed();
    println!("seed {seed}");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(seed);
    let mut expected = Expected::new(seed);
    let mut epoch = None;
    let mut committed_total = 0u64;
    let mut rounds = 0;
    let mut killed_before_any_commit = 0;
    let deadline = Instant::now() + Duration::from_secs(240);

    for round in 0..100 {
        if Instant::now() > deadline {
            println!("stopping after {round} rounds: time is up");
            break;
        }
        let sync = if round % 2 == 0 { SyncLevel::Normal } else { SyncLevel::Full };
        let mut child = spawn("append", dir.path(), seed, sync);
        let stdout = child.stdout.take().expect("piped stdout");
        let (lines, seqs) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let seq = line.strip_prefix("committed ").and_then(|s| s.parse::<u64>().ok());
                if let Some(seq) = seq
                    && lines.send(seq).is_err()
                {
                    break;
                }
            }
        });
        // Kill at a random moment: after 0..8 commits have been reported, plus up to 3 ms.
        let wait_for = rng.below(8);
        let mut printed = Vec::new();
        for _ in 0..wait_for {
            match seqs.recv_timeout(Duration::from_secs(20)) {
                Ok(seq) => printed.push(seq),
                Err(_) => panic!("round {round}: the child reported nothing for 20 s"),
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("the child is reaped");
        assert!(!status.success(), "round {round}: the child was killed, not finished: {status}");
        reader.join().expect("the reader ends with the pipe");
        printed.extend(seqs.try_iter());
        if printed.is_empty() {
            killed_before_any_commit += 1;
        }
        committed_total += printed.len() as u64;

        let opened = Store::open(dir.path(), crash_config(sync))
            .unwrap_or_else(|e| panic!("round {round}: reopening failed: {e}"));
        for notice in &opened.notices {
            assert!(
                matches!(notice, Notice::UncleanStop { .. } | Notice::Created { .. }),
                "round {round}: unexpected {notice:?}"
            );
        }
        let store = opened.store;
        let Some(cursor) = store.cursor() else {
            assert!(
                printed.is_empty(),
                "round {round}: the log is empty but {printed:?} were committed"
            );
            continue;
        };
        assert_eq!(
            *epoch.get_or_insert(cursor.epoch),
            cursor.epoch,
            "round {round}: the epoch is kept"
        );
        let last = cursor.seq;
        let max_printed = printed.iter().copied().max().unwrap_or(0);
        assert!(
            last >= max_printed,
            "round {round}: {max_printed} was committed, the log ends at {last}"
        );

        // Contiguous: seqs 2..=last are all there, once each, and nothing after.
        let stats = store.stats().unwrap();
        assert_eq!(stats.last_seq, Some(last));
        assert_eq!(stats.oldest_seq, Some(1));
        assert_eq!(
            stats.messages,
            last - 1,
            "round {round}: one message per seq after the snapshot"
        );
        assert!(store.messages(last, 10).unwrap().is_empty());
        if last > 1 {
            let newest = store.messages(last - 1, 10).unwrap();
            assert_eq!(newest.iter().map(|m| m.seq).collect::<Vec<_>>(), [last]);
        }

        // A prefix of what the children wrote: the log ends at a publish's end, with its state.
        let want = expected
            .at(last)
            .unwrap_or_else(|| panic!("round {round}: the log ends at {last}, inside a publish"))
            .clone();
        let restored = store.latest(HistoryLimit::default()).unwrap().expect("a log");
        assert!(same_state(&restored.state, &want), "round {round}: the state at {last} differs");
        assert!(same_state(&store.state_at(last).unwrap(), &want));
        let boundaries: Vec<u64> = expected.boundaries.range(..=last).map(|(s, _)| *s).collect();
        for _ in 0..2 {
            let seq = boundaries[rng.below(boundaries.len() as u64) as usize];
            let rebuilt = store.state_at(seq).unwrap();
            assert!(
                same_state(&rebuilt, &expected.boundaries[&seq]),
                "round {round}: state at {seq}"
            );
        }
        rounds += 1;
    }
    println!(
        "{rounds} rounds checked, {committed_total} commits reported, {killed_before_any_commit} kills before any commit reported, log at {:?}",
        expected.boundaries.last_key_value().map(|(s, _)| *s)
    );
    assert!(rounds >= 20, "too few rounds ran to mean anything: {rounds}");
    assert!(committed_total > 0, "the children committed nothing");
}
