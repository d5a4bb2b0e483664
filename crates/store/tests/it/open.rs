//! Opening: missing, read-only and not-a-directory state dirs, the lock, damaged and emptied
//! files, newer schemas, restored backups and reboots.

use std::fs;
use std::process::Command;

use gitops_diff::same_state;
use gitops_store::{
    DB_FILE, Error, HistoryLimit, LOCK_FILE, NewEpochReason, Notice, Store, StoreConfig, SyncLevel,
};

use crate::child::spawn;
use crate::common::{Mount, Publisher, config};

/// A state dir with a log of `n` publishes over a `n_repos` report, closed.
fn make_log(dir: &std::path::Path, n_repos: usize, n: usize) -> Publisher {
    let mut store = Store::open(dir, config(10)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(n_repos, 11));
    publisher.run(&mut store, n, 11);
    publisher
}

#[test]
fn a_missing_dir_is_created_with_its_parents() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("a/b/state");
    let opened = Store::open(&dir, StoreConfig::default()).unwrap();
    assert!(dir.join(DB_FILE).is_file());
    assert!(
        matches!(opened.notices.as_slice(), [Notice::Created { path }] if *path == dir.join(DB_FILE))
    );
    assert!(opened.store.latest(HistoryLimit::default()).unwrap().is_none());
}

#[test]
fn a_file_instead_of_a_dir_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("state");
    fs::write(&file, "not a directory").unwrap();
    let error = Store::open(&file, StoreConfig::default()).unwrap_err();
    println!("{error}");
    assert!(matches!(&error, Error::NotADirectory { path } if *path == file), "{error:?}");
    let below = file.join("inside");
    let error = Store::open(&below, StoreConfig::default()).unwrap_err();
    assert!(matches!(error, Error::NotADirectory { .. }), "{error:?}");
    assert_eq!(fs::read_to_string(&file).unwrap(), "not a directory", "the file is untouched");
}

#[test]
fn a_read_only_dir_is_refused() {
    // Root ignores permission bits, so the read-only directory is a read-only mount.
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("ro");
    let mount = match Mount::tmpfs(&dir, "size=1m") {
        Ok(mount) => mount,
        Err(reason) => {
            println!("skipped: {reason}");
            return;
        }
    };
    mount.remount("remount,ro");
    let error = Store::open(&dir, StoreConfig::default()).unwrap_err();
    println!("{error}");
    assert!(matches!(error, Error::NotWritable { .. }), "{error:?}");
    let error = Store::open(&dir.join("sub"), StoreConfig::default()).unwrap_err();
    assert!(matches!(error, Error::NotWritable { .. }), "{error:?}");
}

#[test]
fn a_second_open_in_this_process_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let error = Store::open(dir.path(), StoreConfig::default()).unwrap_err();
    println!("{error}");
    let Error::Locked { holder, path } = &error else { panic!("{error:?}") };
    assert_eq!(*path, dir.path());
    assert!(holder.contains(&format!("process {} ", std::process::id())), "{holder}");

    // A handle keeps the directory locked after the store is gone.
    let handle = store.handle().unwrap();
    drop(store);
    assert!(matches!(Store::open(dir.path(), StoreConfig::default()), Err(Error::Locked { .. })));
    drop(handle);
    let reopened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert!(reopened.notices.is_empty(), "{:?}", reopened.notices);
}

#[test]
fn a_second_process_is_refused_naming_the_holder_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    // This process holds it; a child tries.
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap().store;
    let output = spawn("open", dir.path(), 0, SyncLevel::Normal).wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stdout);
    // libtest writes the test's name on the same line before the child's own output.
    let line = said.find("error: ").map_or("", |at| said[at..].lines().next().unwrap_or_default());
    println!("child: {line}");
    assert!(
        line.starts_with("error: the state directory")
            && line.contains(&format!("in use by process {} ", std::process::id())),
        "{said}"
    );
    drop(store);

    // A child holds it (it is appending); this process tries.
    let mut child = spawn("append", dir.path(), 3, SyncLevel::Normal);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.starts_with("committed") {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0,
            "the child ended"
        );
    }
    let error = Store::open(dir.path(), StoreConfig::default()).unwrap_err();
    println!("{error}");
    child.kill().unwrap();
    child.wait().unwrap();
    let Error::Locked { holder, .. } = &error else { panic!("{error:?}") };
    assert!(holder.contains(&format!("process {} ", child.id())), "{holder}");

    // The kill released it; the next opener is told the holder did not close.
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert!(
        opened.notices.contains(&Notice::UncleanStop { pid: child.id() }),
        "{:?}",
        opened.notices
    );
}

#[test]
fn garbage_in_the_database_file_is_moved_aside_and_a_fresh_log_started() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(DB_FILE);
    let garbage: Vec<u8> =
        (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    fs::write(&db, &garbage).unwrap();
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    println!("{:?}", opened.notices);
    let [Notice::MovedAside { moved_to, reason }] = opened.notices.as_slice() else {
        panic!("{:?}", opened.notices)
    };
    assert!(opened.notices[0].is_alarming());
    assert!(moved_to.file_name().unwrap().to_string_lossy().starts_with("gitops-live.db.corrupt-"));
    assert_eq!(fs::read(moved_to).unwrap(), garbage, "the damaged file is kept as it was");
    assert!(reason.contains("not a database"), "{reason}");
    let mut store = opened.store;
    assert!(store.latest(HistoryLimit::default()).unwrap().is_none());
    Publisher::start(&mut store, gitops_report::generate_report(5, 1)).run(&mut store, 3, 1);
}

#[test]
fn a_truncated_database_file_is_moved_aside_and_a_fresh_log_started() {
    let dir = tempfile::tempdir().unwrap();
    let publisher = make_log(dir.path(), 300, 60);
    let db = dir.path().join(DB_FILE);
    let length = fs::metadata(&db).unwrap().len();
    assert!(length > 1 << 20, "a log of a few MB: {length}");
    assert!(!dir.path().join("gitops-live.db-wal").exists(), "closing folded the WAL in");
    fs::OpenOptions::new().write(true).open(&db).unwrap().set_len(length / 2).unwrap();

    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    println!("{:?}", opened.notices);
    let [Notice::MovedAside { moved_to, .. }] = opened.notices.as_slice() else {
        panic!("{:?}", opened.notices)
    };
    assert_eq!(fs::metadata(moved_to).unwrap().len(), length / 2);
    let store = opened.store;
    assert!(store.cursor().is_none(), "a fresh log");
    assert_ne!(store.epoch(), publisher.epoch, "a new epoch: every client gets a snapshot");
}

#[test]
fn an_emptied_database_file_starts_over_and_says_the_log_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let publisher = make_log(dir.path(), 20, 5);
    fs::write(dir.path().join(DB_FILE), b"").unwrap();
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let served = gitops_protocol::Cursor::new(publisher.epoch, publisher.seq);
    assert!(opened.notices.contains(&Notice::LogLost { served }), "{:?}", opened.notices);
    assert_ne!(opened.store.epoch(), publisher.epoch);
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    make_log(dir.path(), 10, 3);
    let db = dir.path().join(DB_FILE);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = fs::read(&db).unwrap();
    let error = Store::open(dir.path(), StoreConfig::default()).unwrap_err();
    println!("{error}");
    assert!(
        matches!(
            error,
            Error::NewerSchema { found: 99, supported: gitops_store::SCHEMA_VERSION, .. }
        ),
        "{error:?}"
    );
    assert_eq!(fs::read(&db).unwrap(), before, "the file is unchanged");
}

/// Copies the live database with `sqlite3 .backup`, as docs/operations.md says to.
fn sqlite3_backup(db: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    let output = Command::new("sqlite3")
        .arg(db)
        .arg(format!(".backup '{}'", to.display()))
        .output()
        .map_err(|e| format!("cannot run sqlite3: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[test]
fn a_backup_taken_while_running_restores_and_an_older_one_starts_a_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let backup = backups.path().join("backup.db");
    let mut store = Store::open(dir.path(), config(10)).unwrap().store;
    let mut publisher = Publisher::start(&mut store, gitops_report::generate_report(50, 2));
    publisher.run(&mut store, 20, 2);
    let at_backup = (publisher.seq, publisher.state.clone());
    if let Err(reason) = sqlite3_backup(&dir.path().join(DB_FILE), &backup) {
        println!("skipped: sqlite3 .backup failed: {reason}");
        return;
    }
    publisher.run(&mut store, 10, 3);
    drop(store);

    // The backup is a whole store: opened in a new state dir it resumes the same epoch.
    let elsewhere = tempfile::tempdir().unwrap();
    fs::copy(&backup, elsewhere.path().join(DB_FILE)).unwrap();
    let opened = Store::open(elsewhere.path(), StoreConfig::default()).unwrap();
    assert!(opened.notices.is_empty(), "{:?}", opened.notices);
    assert_eq!(opened.store.epoch(), publisher.epoch);
    let restored = opened.store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert_eq!(restored.cursor.seq, at_backup.0);
    assert!(same_state(&restored.state, &at_backup.1));

    // Restored over the live state dir, it is behind what was served: a new epoch.
    fs::copy(&backup, dir.path().join(DB_FILE)).unwrap();
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    println!("{:?}", opened.notices);
    let served = gitops_protocol::Cursor::new(publisher.epoch, publisher.seq);
    let new_epoch = opened.store.epoch();
    assert_ne!(new_epoch, publisher.epoch);
    assert!(opened.notices.contains(&Notice::NewEpoch {
        epoch: new_epoch,
        reason: NewEpochReason::Behind { served, log: at_backup.0 },
    }));
    let restored = opened.store.latest(HistoryLimit::default()).unwrap().unwrap();
    assert_eq!(restored.cursor, gitops_protocol::Cursor::new(new_epoch, at_backup.0));
    assert!(restored.history.is_empty(), "no history reaches into the old epoch");
    assert!(same_state(&restored.state, &at_backup.1));
    drop(opened);
    let again = Store::open(dir.path(), StoreConfig::default()).unwrap();
    assert!(again.notices.is_empty(), "the new epoch is kept: {:?}", again.notices);
    assert_eq!(again.store.epoch(), new_epoch);
}

/// Rewrites the lock file as a holder that died with another boot of the machine would leave it.
fn pretend_the_machine_went_down(dir: &std::path::Path) {
    let path = dir.join(LOCK_FILE);
    let text = fs::read_to_string(&path).unwrap();
    let text: String = text
        .lines()
        .map(|line| {
            if line.starts_with("boot ") {
                format!("boot {:<36}", "00000000-0000-0000-0000-000000000000")
            } else if line.starts_with("state ") {
                format!("state {:<7}", "running")
            } else {
                line.to_owned()
            }
        })
        .map(|line| line + "\n")
        .collect();
    fs::write(&path, text).unwrap();
}

#[test]
fn a_reboot_with_the_log_open_starts_a_new_epoch_unless_every_commit_was_synced() {
    if fs::metadata("/proc/sys/kernel/random/boot_id").is_err() {
        println!("skipped: no boot id on this system");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let publisher = make_log(dir.path(), 10, 3);
    pretend_the_machine_went_down(dir.path());
    let full = StoreConfig { sync: SyncLevel::Full, ..StoreConfig::default() };
    let opened = Store::open(dir.path(), full).unwrap();
    assert_eq!(opened.store.epoch(), publisher.epoch, "with FULL nothing committed can be lost");
    assert!(
        matches!(opened.notices.as_slice(), [Notice::UncleanStop { .. }]),
        "{:?}",
        opened.notices
    );
    drop(opened);

    pretend_the_machine_went_down(dir.path());
    let opened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    println!("{:?}", opened.notices);
    assert_ne!(opened.store.epoch(), publisher.epoch);
    assert!(
        opened
            .notices
            .iter()
            .any(|n| matches!(n, Notice::NewEpoch { reason: NewEpochReason::UncleanReboot, .. }))
    );
}
