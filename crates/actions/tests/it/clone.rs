//! Clone: from the checked URL into the root, all or nothing, stopped at the deadline.

use std::time::Duration;

use gitops_actions::{Action, Error, Preview};

use crate::support::{Fixture, SilentServer, all_paths, bounded, git, missing_row};

#[test]
fn clone_previews_then_clones_a_missing_repository_into_the_root() {
    let fixture = Fixture::new();
    let remote = fixture.make_remote("alice", "halo");
    let url = format!("file://{}", remote.display());
    let row = missing_row("halo", &url);
    let actions = fixture.actions();
    let Preview::Clone(preview) = actions.preview(&row, &Action::Clone).unwrap() else {
        panic!("not a clone preview")
    };
    assert_eq!((preview.url.as_str(), preview.folder.as_str()), (url.as_str(), "halo"));
    assert!(!fixture.root.join("halo").exists(), "a preview clones nothing");

    let outcome = actions.run(&row, &Action::Clone).unwrap();
    let path = fixture.root.join("halo");
    assert_eq!(std::fs::read_to_string(path.join("README.md")).unwrap(), "# hello\n");
    assert_eq!(outcome.commit.as_deref(), Some(git(&path, &["rev-parse", "HEAD"]).trim()));
    assert_eq!(outcome.changed, ["halo"]);
    assert_eq!(git(&path, &["status", "--porcelain"]), "");
    // Only the clone is left in the root: no temporary folder.
    assert_eq!(std::fs::read_dir(&fixture.root).unwrap().count(), 1);

    let error = actions.run(&row, &Action::Clone).unwrap_err();
    assert!(matches!(error, Error::FolderExists { .. }), "{error}");
}

#[test]
fn a_clone_that_fails_leaves_nothing_behind_and_reports_git_output() {
    let fixture = Fixture::new();
    let not_a_repo = fixture.remotes().join("alice/empty.git");
    std::fs::create_dir_all(&not_a_repo).unwrap();
    let row = missing_row("empty", &format!("file://{}", not_a_repo.display()));
    let error = fixture.actions().run(&row, &Action::Clone).unwrap_err();
    let Error::GitFailed { output, .. } = &error else { panic!("{error}") };
    assert!(output.contains("does not appear to be a git repository"), "{output}");
    assert!(all_paths(&fixture.root).is_empty(), "{:?}", all_paths(&fixture.root));
}

#[test]
fn a_clone_from_a_server_that_never_answers_is_stopped_and_reported() {
    let fixture = Fixture::new();
    let server = SilentServer::start();
    let row = missing_row("halo", &format!("https://127.0.0.1:{}/alice/halo.git", server.port));
    let actions = fixture.actions_with(|config| config.network_timeout = Duration::from_secs(2));
    let result = bounded(Duration::from_secs(120), move || actions.run(&row, &Action::Clone));
    let error = result.unwrap_err();
    assert!(matches!(error, Error::TimedOut { operation: "clone", .. }), "{error}");
    assert!(server.n_accepted() >= 1, "git reached the server");
    assert!(
        server.peers_closed(Duration::from_secs(30)),
        "git's transport helper was killed with it and its connection closed"
    );
    assert!(all_paths(&fixture.root).is_empty(), "{:?}", all_paths(&fixture.root));
}
