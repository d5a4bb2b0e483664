//! Discard: the preview lists exactly what is lost, and the run loses exactly that.

use std::collections::BTreeSet;
use std::fs;

use gitops_actions::{Action, DiscardPreview, Error, Fingerprint, Loss, Preview};
use gitops_report::Status;

use crate::support::{Fixture, git, tree};

fn preview_discard(fixture: &Fixture, name: &str) -> DiscardPreview {
    let action = Action::Discard { confirm: String::new(), fingerprint: None };
    match fixture.actions().preview(&fixture.row(name, Status::Dirty), &action).unwrap() {
        Preview::Discard(preview) => preview,
        other => panic!("not a discard preview: {other:?}"),
    }
}

fn discard(name: &str, fingerprint: &Fingerprint) -> Action {
    Action::Discard { confirm: name.to_owned(), fingerprint: Some(fingerprint.clone()) }
}

#[test]
fn discard_preview_equals_what_was_actually_lost() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    let clean = tree(&path);
    fs::write(path.join("README.md"), "# edited\n").unwrap();
    // Ignored through info/exclude, since .gitignore itself is deleted here.
    fs::write(path.join(".git/info/exclude"), "target/\n").unwrap();
    fs::remove_file(path.join(".gitignore")).unwrap();
    fs::write(path.join("untracked.txt"), "new").unwrap();
    fs::create_dir_all(path.join("scratch/deeper")).unwrap();
    fs::write(path.join("scratch/deeper/notes.md"), "notes").unwrap();
    fs::write(path.join("staged-new.txt"), "staged").unwrap();
    git(&path, &["add", "staged-new.txt"]);
    std::os::unix::fs::symlink(fixture.outside(), path.join("link-out")).unwrap();
    fs::write(fixture.outside().join("precious"), "keep me").unwrap();
    // Kept: ignored files, and a repository nested in the tree.
    fs::create_dir_all(path.join("target")).unwrap();
    fs::write(path.join("target/build.log"), "ignored").unwrap();
    fs::create_dir_all(path.join("nested")).unwrap();
    git(&path.join("nested"), &["init", "--quiet"]);
    fs::write(path.join("nested/inner.txt"), "inner").unwrap();

    let preview = preview_discard(&fixture, "halo");
    let lost: Vec<(&str, Loss)> =
        preview.lost.iter().map(|item| (item.path.as_str(), item.loss)).collect();
    assert_eq!(
        lost,
        [
            (".gitignore", Loss::Deleted),
            ("README.md", Loss::Modified),
            ("link-out", Loss::Untracked),
            ("scratch/deeper/notes.md", Loss::Untracked),
            ("staged-new.txt", Loss::Added),
            ("untracked.txt", Loss::Untracked),
        ]
    );
    assert_eq!(preview.kept, ["nested/"]);
    let before = tree(&path);

    let outcome = fixture
        .actions()
        .run(&fixture.row("halo", Status::Dirty), &discard("halo", &preview.fingerprint))
        .unwrap();
    let after = tree(&path);
    // What changed on disk, file by file: removed, restored or reverted.
    let changed: BTreeSet<String> = before
        .keys()
        .chain(after.keys())
        .filter(|path| !path.ends_with('/') && before.get(*path) != after.get(*path))
        .cloned()
        .collect();
    let previewed: BTreeSet<String> = preview.lost.iter().map(|item| item.path.clone()).collect();
    assert_eq!(changed, previewed, "the preview named exactly what the run changed");
    assert_eq!(
        outcome.changed,
        preview.lost.iter().map(|item| item.path.clone()).collect::<Vec<_>>()
    );
    assert_eq!(after.get("README.md"), clean.get("README.md"));
    assert_eq!(after.get(".gitignore"), clean.get(".gitignore"));
    assert!(!path.join("scratch").exists(), "folders left empty by the discard go too");
    assert_eq!(fs::read_to_string(fixture.outside().join("precious")).unwrap(), "keep me");
    assert!(path.join("target/build.log").exists() && path.join("nested/.git").exists());
    assert_eq!(git(&path, &["status", "--porcelain"]), "?? nested/\n");
}

#[test]
fn a_change_after_the_preview_makes_it_stale_and_nothing_is_lost() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    fs::write(path.join("README.md"), "# edited\n").unwrap();
    let preview = preview_discard(&fixture, "halo");
    fs::write(path.join("written-after-preview.txt"), "unseen").unwrap();
    let error = fixture
        .actions()
        .run(&fixture.row("halo", Status::Dirty), &discard("halo", &preview.fingerprint))
        .unwrap_err();
    assert!(matches!(error, Error::PreviewStale { .. }), "{error}");
    assert_eq!(fs::read_to_string(path.join("README.md")).unwrap(), "# edited\n");
    assert!(path.join("written-after-preview.txt").exists());

    // An edit to a file already listed changes what would be lost, too.
    let preview = preview_discard(&fixture, "halo");
    fs::write(path.join("README.md"), "# edited again, longer\n").unwrap();
    let error = fixture
        .actions()
        .run(&fixture.row("halo", Status::Dirty), &discard("halo", &preview.fingerprint))
        .unwrap_err();
    assert!(matches!(error, Error::PreviewStale { .. }), "{error}");
    assert_eq!(fs::read_to_string(path.join("README.md")).unwrap(), "# edited again, longer\n");
}

#[test]
fn discard_needs_the_typed_name_and_a_preview() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    fs::write(path.join("README.md"), "# edited\n").unwrap();
    let preview = preview_discard(&fixture, "halo");
    let row = fixture.row("halo", Status::Dirty);
    let actions = fixture.actions();
    let error = actions.run(&row, &discard("Halo", &preview.fingerprint)).unwrap_err();
    assert!(matches!(error, Error::NotConfirmed { .. }), "{error}");
    let error = actions
        .run(&row, &Action::Discard { confirm: "halo".into(), fingerprint: None })
        .unwrap_err();
    assert!(matches!(error, Error::PreviewRequired), "{error}");
    let error = actions.run(&row, &discard("halo", &Fingerprint("0".into()))).unwrap_err();
    assert!(matches!(error, Error::PreviewStale { .. }), "{error}");
    assert_eq!(fs::read_to_string(path.join("README.md")).unwrap(), "# edited\n");
    actions.run(&row, &discard("halo", &preview.fingerprint)).unwrap();
    assert_eq!(fs::read_to_string(path.join("README.md")).unwrap(), "# hello\n");
}
