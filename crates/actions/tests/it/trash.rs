//! Delete to the trash, restore from it, purge it by age.

use std::time::Duration;

use gitops_actions::{Action, Error, Preview};
use gitops_report::Status;

use crate::support::{Fixture, all_paths, git, tree};

fn delete(name: &str) -> Action {
    Action::Delete { confirm: name.to_owned() }
}

#[test]
fn delete_then_restore_round_trips_the_folder() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "scratch", "scratch");
    std::fs::write(path.join("work.txt"), "uncommitted work").unwrap();
    std::fs::create_dir_all(path.join("target")).unwrap();
    std::fs::write(path.join("target/ignored.bin"), [0u8, 1, 2]).unwrap();
    let before = tree(&path);
    let head = git(&path, &["rev-parse", "HEAD"]);
    let actions = fixture.actions();
    let row = fixture.row("scratch", Status::Extra);

    let Preview::Delete(preview) = actions.preview(&row, &delete("")).unwrap() else {
        panic!("not a delete preview")
    };
    assert_eq!(preview.from, path.to_string_lossy());
    assert!(preview.to.starts_with(&*fixture.trash().to_string_lossy()), "{}", preview.to);
    assert!(preview.counted_all && preview.files >= 4, "{preview:?}");
    assert_eq!(preview.changed_paths, Some(1));
    assert!(path.exists(), "a preview moves nothing");

    let error = actions.run(&row, &delete("scratc")).unwrap_err();
    assert!(matches!(error, Error::NotConfirmed { .. }), "{error}");
    let outcome = actions.run(&row, &delete("scratch")).unwrap();
    assert!(!path.exists());
    let entry = outcome.trash_entry.unwrap();
    assert!(entry.starts_with("scratch-"), "{entry}");
    let entries = actions.trash_entries().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].entry.as_str(), entries[0].folder.as_str()),
        (entry.as_str(), "scratch")
    );
    assert_eq!(tree(&fixture.trash().join(&entry)), before, "moved whole, not copied in part");

    let Preview::Restore(restore) = actions.preview_restore(&entry).unwrap() else {
        panic!("not a restore preview")
    };
    assert_eq!(restore.to, path.to_string_lossy());
    let outcome = actions.restore(&entry).unwrap();
    assert_eq!(outcome.changed, ["scratch"]);
    assert_eq!(tree(&path), before);
    assert_eq!(git(&path, &["rev-parse", "HEAD"]), head);
    assert!(actions.trash_entries().unwrap().is_empty());
    let error = actions.restore(&entry).unwrap_err();
    assert!(matches!(error, Error::NoTrashEntry { .. }), "{error}");
}

#[test]
fn restore_never_overwrites_a_folder_that_came_back() {
    let fixture = Fixture::new();
    let actions = fixture.actions();
    fixture.clone("alice", "halo", "halo");
    let entry = actions
        .run(&fixture.row("halo", Status::Extra), &delete("halo"))
        .unwrap()
        .trash_entry
        .unwrap();
    // Meanwhile a new, empty folder of that name appeared: a plain rename would replace it.
    std::fs::create_dir(fixture.root.join("halo")).unwrap();
    let error = actions.restore(&entry).unwrap_err();
    assert!(matches!(error, Error::FolderExists { .. }), "{error}");
    assert!(fixture.trash().join(&entry).join(".git").exists());
    for hostile in
        ["../../etc", "halo", "-rf-20261201T030405.678Z", "x/../../y-20261201T030405.678Z"]
    {
        let error = actions.restore(hostile).unwrap_err();
        assert!(
            matches!(error, Error::NoTrashEntry { .. } | Error::BadName { .. }),
            "{hostile}: {error}"
        );
    }
}

#[test]
fn purge_removes_only_entries_older_than_the_retention() {
    let fixture = Fixture::new();
    let actions = fixture.actions();
    fixture.clone("alice", "young", "young");
    let young = actions
        .run(&fixture.row("young", Status::Extra), &delete("young"))
        .unwrap()
        .trash_entry
        .unwrap();
    // An entry deleted long ago, named as a delete names it.
    let old = "old-20200101T000000.000Z";
    std::fs::create_dir_all(fixture.trash().join(old).join("deep")).unwrap();
    std::fs::write(fixture.trash().join(old).join("deep/file"), "old").unwrap();
    // A file that is no entry of ours is never purged.
    std::fs::write(fixture.trash().join("README"), "not an entry").unwrap();
    let listed: Vec<String> =
        actions.trash_entries().unwrap().into_iter().map(|e| e.entry).collect();
    assert_eq!(listed, [old.to_owned(), young.clone()], "oldest first");

    let now = jiff::Timestamp::now();
    let thirty_days = Duration::from_secs(30 * 86_400);
    let purged = actions.purge_trash(thirty_days, now).unwrap();
    assert_eq!(purged.iter().map(|entry| entry.entry.as_str()).collect::<Vec<_>>(), [old]);
    assert!(!fixture.trash().join(old).exists());
    assert!(fixture.trash().join(&young).join(".git").exists());

    let purged =
        actions.purge_trash(Duration::ZERO, now + jiff::SignedDuration::from_secs(1)).unwrap();
    assert_eq!(
        purged.iter().map(|entry| entry.entry.as_str()).collect::<Vec<_>>(),
        [young.as_str()]
    );
    assert_eq!(all_paths(&fixture.trash()), [fixture.trash().join("README")]);
}

#[test]
fn a_trash_inside_the_root_must_be_hidden() {
    let fixture = Fixture::new();
    let mut config = gitops_actions::ActionsConfig::new(&fixture.root, fixture.root.join("trash"));
    config.network_timeout = Duration::from_secs(5);
    let error = gitops_actions::Actions::new(config).unwrap_err();
    assert!(matches!(error, Error::BadName { .. }), "{error}");
    let config = gitops_actions::ActionsConfig::new(&fixture.root, fixture.root.join(".trash"));
    let actions = gitops_actions::Actions::new(config).unwrap();
    fixture.clone("alice", "halo", "halo");
    actions.run(&fixture.row("halo", Status::Extra), &delete("halo")).unwrap();
    assert_eq!(actions.trash_entries().unwrap().len(), 1);
    let config = gitops_actions::ActionsConfig::new(&fixture.root, fixture.path());
    assert!(matches!(gitops_actions::Actions::new(config), Err(Error::TrashInsideTarget { .. })));
}
