//! A full disk: appends fail with [`Error::DiskFull`], nothing is damaged, and appends resume
//! when space returns. The disk is a 2 MiB tmpfs the test mounts (it runs as root).

use gitops_diff::same_state;
use gitops_store::{Error, HistoryLimit, Store};

use crate::common::{Mount, Publisher, Rng, assert_rebuilds, config, encode_publish, mutate};

#[test]
fn a_full_disk_fails_appends_cleanly_and_they_resume_when_space_returns() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("small");
    let _mount = match Mount::tmpfs(&dir, "size=2m") {
        Ok(mount) => mount,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    let mut store = Store::open(&dir, config(1000)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(200, 4));
    let filler = dir.join("filler");
    std::fs::write(&filler, vec![7u8; 1 << 20]).unwrap();

    let mut rng = Rng(4);
    let mut appended = 0;
    let (error, refused) = loop {
        assert!(appended < 100_000, "2 MiB never filled up");
        let next = mutate(&publisher.state, rng.next());
        match publisher.publish(&mut store, next.clone()) {
            Ok(_) => appended += 1,
            Err(error) => break (error, next),
        }
    };
    println!("after {appended} appends: {error}");
    assert!(appended > 0, "the disk was full from the start: the test shows nothing");
    assert!(matches!(error, Error::DiskFull { .. }), "{error:?}");

    // Nothing is damaged: the log still reads back exactly what was committed.
    let full_at = publisher.seq;
    assert_eq!(store.cursor().unwrap().seq, full_at);
    let restored = store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert!(same_state(&restored.state, &publisher.state));

    // The same batch fails again while the disk is full, and goes in once space returns.
    let messages = encode_publish(publisher.epoch, publisher.seq, &publisher.state, &refused);
    let retry = gitops_store::Batch::changes(std::time::SystemTime::now(), &messages, &refused);
    for _ in 0..3 {
        let error = store.append(&retry).unwrap_err();
        assert!(matches!(error, Error::DiskFull { .. }), "{error:?}");
    }
    assert_eq!(store.cursor().unwrap().seq, full_at, "the failed appends wrote nothing");
    std::fs::remove_file(&filler).unwrap();
    publisher.publish(&mut store, refused).expect("space is back");
    publisher.run(&mut store, 20, 5);
    drop(store);

    let opened = Store::open(&dir, config(1000)).unwrap();
    assert!(opened.notices.is_empty(), "{:?}", opened.notices);
    let store = opened.store;
    assert_eq!(store.cursor().unwrap().seq, publisher.seq);
    assert_rebuilds(&store, &publisher, 1);
}

#[test]
fn serving_past_the_log_makes_the_next_open_start_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(1000)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(20, 6));
    publisher.run(&mut store, 5, 6);
    // Appends failed while the hub went on to seq + 4 and sent it.
    let served = gitops_protocol::Cursor::new(publisher.epoch, publisher.seq + 4);
    store.note_served(served);
    // A later, lower cursor does not take it back.
    store.note_served(gitops_protocol::Cursor::new(publisher.epoch, publisher.seq + 1));
    drop(store);

    let opened = Store::open(dir.path(), config(1000)).unwrap();
    println!("{:?}", opened.notices);
    assert_ne!(opened.store.epoch(), publisher.epoch);
    assert!(opened.notices.iter().any(|n| matches!(
        n,
        gitops_store::Notice::NewEpoch {
            reason: gitops_store::NewEpochReason::Behind { served: s, log },
            ..
        } if *s == served && *log == publisher.seq
    )));
}

#[test]
fn a_log_that_missed_publishes_follows_the_server_into_its_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), config(1000)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(20, 8));
    publisher.run(&mut store, 4, 8);
    let old_epoch = store.epoch();
    // The server served on under a new epoch while appends failed; the log catches up with the
    // state it reached, at a seq above everything the old epoch held.
    let new_epoch = gitops_protocol::Epoch(old_epoch.0 ^ 0x5a5a);
    let later = mutate(&publisher.state, 42);
    let seq = publisher.seq + 7;
    let appended = store.begin_epoch(new_epoch, std::time::SystemTime::now(), seq, &later).unwrap();
    assert_eq!(appended.cursor, gitops_protocol::Cursor::new(new_epoch, seq));
    // Changes of the new epoch follow.
    let next = mutate(&later, 99);
    let messages = encode_publish(new_epoch, seq, &later, &next);
    store
        .append(&gitops_store::Batch::changes(std::time::SystemTime::now(), &messages, &next))
        .unwrap();
    drop(store);

    let opened = Store::open(dir.path(), config(1000)).unwrap();
    assert_eq!(opened.store.epoch(), new_epoch, "the new epoch survives a restart");
    let restored = opened.store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert_eq!(restored.cursor.epoch, new_epoch);
    assert!(restored.history_base >= seq, "history never reaches back into the old epoch");
    assert!(same_state(&restored.state, &next));
}
