//! Fix remote: origin set to the expected URL, old → new in the preview.

use gitops_actions::{Action, Error, Preview};
use gitops_report::{Repo, Status};

use crate::support::{Fixture, git};

fn mismatched(fixture: &Fixture, folder: &str, expected_url: &str) -> Repo {
    Repo { expected_url: Some(expected_url.to_owned()), ..fixture.row(folder, Status::Mismatched) }
}

#[test]
fn fix_remote_previews_old_and_new_and_sets_origin() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "ha-notify", "ha-notify");
    git(
        &path,
        &[
            "remote",
            "set-url",
            "origin",
            "https://bob:secret@github.com/alice/ha_person_notify.git",
        ],
    );
    let row = mismatched(&fixture, "ha-notify", "https://github.com/alice/ha-notify.git");
    let actions = fixture.actions();
    let Preview::FixRemote(preview) = actions.preview(&row, &Action::FixRemote).unwrap() else {
        panic!("not a fix-remote preview")
    };
    assert_eq!(preview.old.as_deref(), Some("https://***@github.com/alice/ha_person_notify.git"));
    assert_eq!(preview.new, "https://github.com/alice/ha-notify.git");
    let outcome = actions.run(&row, &Action::FixRemote).unwrap();
    assert_eq!(
        outcome.changed,
        [
            "origin: https://***@github.com/alice/ha_person_notify.git → https://github.com/alice/ha-notify.git"
        ]
    );
    assert_eq!(
        git(&path, &["remote", "get-url", "origin"]).trim(),
        "https://github.com/alice/ha-notify.git"
    );
    let error = actions.run(&row, &Action::FixRemote).unwrap_err();
    assert!(matches!(error, Error::NothingToDo { .. }), "{error}");
}

#[test]
fn a_missing_origin_is_created_and_a_bare_repository_works_too() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    git(&path, &["remote", "remove", "origin"]);
    git(&fixture.root, &["init", "--bare", "--quiet", "mirror.git"]);
    let actions = fixture.actions();
    for folder in ["halo", "mirror.git"] {
        let url = format!("git@github.com:alice/{folder}");
        let row = mismatched(&fixture, folder, &url);
        let Preview::FixRemote(preview) = actions.preview(&row, &Action::FixRemote).unwrap() else {
            panic!("not a fix-remote preview")
        };
        assert_eq!(preview.old, None);
        actions.run(&row, &Action::FixRemote).unwrap();
        assert_eq!(git(&fixture.root.join(folder), &["remote", "get-url", "origin"]).trim(), url);
    }
}

#[test]
fn a_hostile_expected_url_is_refused_and_origin_is_unchanged() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    let before = git(&path, &["remote", "get-url", "origin"]);
    for url in ["--upload-pack=touch x", "ext::sh -c touch% x", "-rf", "; rm -rf ~", "file:///etc"]
    {
        let row = mismatched(&fixture, "halo", url);
        for result in [
            fixture.actions().preview(&row, &Action::FixRemote).map(drop),
            fixture.actions().run(&row, &Action::FixRemote).map(drop),
        ] {
            assert!(matches!(result, Err(Error::UrlRefused { .. })), "{url}: {result:?}");
        }
    }
    assert_eq!(git(&path, &["remote", "get-url", "origin"]), before);
    let no_url =
        Repo { expected_url: None, clone_url: None, ..fixture.row("halo", Status::Mismatched) };
    assert!(matches!(fixture.actions().run(&no_url, &Action::FixRemote), Err(Error::NoUrl { .. })));
}
