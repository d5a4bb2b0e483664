//! Push (ahead) and fast-forward pull (behind).

use gitops_actions::{Action, Error, Preview};
use gitops_report::Status;

use crate::support::{Fixture, git};

#[test]
fn push_sends_local_commits_to_the_upstream() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    std::fs::write(path.join("a.txt"), "a").unwrap();
    git(&path, &["add", "."]);
    git(&path, &["commit", "--quiet", "-m", "local work"]);
    let row = fixture.row("halo", Status::Clean);
    let actions = fixture.actions();
    let Preview::Push(preview) = actions.preview(&row, &Action::Push).unwrap() else {
        panic!("not a push preview")
    };
    assert_eq!((preview.ahead, preview.behind), (1, 0));
    assert_eq!(preview.upstream, "origin/main");
    assert_eq!(preview.commits.len(), 1);
    assert_eq!(preview.commits[0].summary, "local work");
    let remote = fixture.remote_path("alice", "halo");
    assert_ne!(git(&remote, &["rev-parse", "main"]), git(&path, &["rev-parse", "HEAD"]));

    let outcome = actions.run(&row, &Action::Push).unwrap();
    assert_eq!(git(&remote, &["rev-parse", "main"]), git(&path, &["rev-parse", "HEAD"]));
    assert!(outcome.output.contains("refs/heads/main"), "{}", outcome.output);
    let error = actions.run(&row, &Action::Push).unwrap_err();
    assert!(matches!(error, Error::NothingToDo { .. }), "{error}");
}

#[test]
fn pull_fast_forwards_and_refuses_to_merge() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    let other = fixture.path().join("other");
    git(
        &fixture.path(),
        &[
            "clone",
            "--quiet",
            "--",
            fixture.remote_path("alice", "halo").to_str().unwrap(),
            "other",
        ],
    );
    std::fs::write(other.join("b.txt"), "b").unwrap();
    git(&other, &["add", "."]);
    git(&other, &["commit", "--quiet", "-m", "pushed elsewhere"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    git(&path, &["fetch", "--quiet"]);
    let row = fixture.row("halo", Status::Clean);
    let actions = fixture.actions();
    let Preview::Pull(preview) = actions.preview(&row, &Action::Pull).unwrap() else {
        panic!("not a pull preview")
    };
    assert_eq!((preview.ahead, preview.behind), (0, 1));
    assert_eq!(preview.commits[0].summary, "pushed elsewhere");
    let outcome = actions.run(&row, &Action::Pull).unwrap();
    assert_eq!(git(&path, &["rev-parse", "HEAD"]), git(&other, &["rev-parse", "HEAD"]));
    assert_eq!(outcome.commit.as_deref(), Some(git(&path, &["rev-parse", "HEAD"]).trim()));
    assert_eq!(std::fs::read_to_string(path.join("b.txt")).unwrap(), "b");

    // Diverged: a local commit and a new upstream one.
    git(&path, &["commit", "--quiet", "--allow-empty", "-m", "mine"]);
    git(&other, &["commit", "--quiet", "--allow-empty", "-m", "theirs"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    git(&path, &["fetch", "--quiet"]);
    let error = actions.run(&row, &Action::Pull).unwrap_err();
    assert!(matches!(error, Error::NotFastForward { ahead: 1, .. }), "{error}");
}

#[test]
fn no_upstream_means_nothing_to_push_to() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    git(&path, &["checkout", "--quiet", "--detach"]);
    let row = fixture.row("halo", Status::Clean);
    for action in [Action::Push, Action::Pull] {
        let error = fixture.actions().preview(&row, &action).unwrap_err();
        assert!(matches!(error, Error::NoUpstream { .. }), "{error}");
    }
    git(&path, &["checkout", "--quiet", "-b", "feature"]);
    let error = fixture.actions().run(&row, &Action::Push).unwrap_err();
    assert!(matches!(error, Error::NoUpstream { .. }), "{error}");
}

#[test]
fn push_to_a_remote_outside_the_policy_is_refused() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    git(&path, &["commit", "--quiet", "--allow-empty", "-m", "local"]);
    let elsewhere = fixture.outside().join("copy.git");
    git(
        &fixture.path(),
        &[
            "clone",
            "--quiet",
            "--bare",
            "--",
            fixture.remote_path("alice", "halo").to_str().unwrap(),
            elsewhere.to_str().unwrap(),
        ],
    );
    git(&path, &["remote", "set-url", "--push", "origin", elsewhere.to_str().unwrap()]);
    let before = git(&elsewhere, &["rev-parse", "main"]);
    let error =
        fixture.actions().run(&fixture.row("halo", Status::Clean), &Action::Push).unwrap_err();
    assert!(matches!(error, Error::UrlRefused { .. }), "{error}");
    assert_eq!(git(&elsewhere, &["rev-parse", "main"]), before);
}
