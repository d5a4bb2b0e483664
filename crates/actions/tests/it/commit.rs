//! Commit: stage everything and commit with the user's message and the configured author.

use std::fs;

use gitops_actions::{Action, Error, Preview};
use gitops_report::Status;

use crate::support::{Fixture, git};

fn commit(message: &str) -> Action {
    Action::Commit { message: message.to_owned() }
}

#[test]
fn commit_preview_lists_every_path_and_run_commits_them_all() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    fs::write(path.join("README.md"), "# changed\n").unwrap();
    // Ignored through info/exclude, since .gitignore itself is deleted here.
    fs::write(path.join(".git/info/exclude"), "target/\n").unwrap();
    fs::remove_file(path.join(".gitignore")).unwrap();
    fs::create_dir_all(path.join("src/deep")).unwrap();
    fs::write(path.join("src/deep/main.rs"), "fn main() {}\n").unwrap();
    fs::write(path.join(".env.example"), "A=1\n").unwrap();
    fs::create_dir_all(path.join("target")).unwrap();
    fs::write(path.join("target/ignored.o"), "ignored").unwrap();
    let actions = fixture.actions();
    let row = fixture.row("halo", Status::Dirty);

    let Preview::Commit(preview) = actions.preview(&row, &commit("  tidy up\n\n")).unwrap() else {
        panic!("not a commit preview")
    };
    let paths: Vec<&str> = preview.files.iter().map(|entry| entry.path.as_str()).collect();
    assert_eq!(paths, [".env.example", ".gitignore", "README.md", "src/deep/main.rs"]);
    assert_eq!(preview.message, "tidy up\n");
    assert_eq!(preview.author, "Operator <operator@example.invalid>");
    assert_eq!(preview.branch.as_deref(), Some("main"));
    assert_eq!(git(&path, &["rev-list", "--count", "HEAD"]).trim(), "1", "preview committed");

    let outcome = actions.run(&row, &commit("  tidy up\n\n")).unwrap();
    assert_eq!(outcome.changed, paths);
    let head = git(&path, &["rev-parse", "HEAD"]);
    assert_eq!(outcome.commit.as_deref(), Some(head.trim()));
    assert_eq!(git(&path, &["status", "--porcelain"]), "", "everything was committed");
    assert_eq!(
        git(&path, &["log", "-1", "--format=%an <%ae>|%s"]).trim(),
        "Operator <operator@example.invalid>|tidy up"
    );
    let committed = git(&path, &["show", "--name-status", "--format=", "HEAD"]);
    assert_eq!(committed, "A\t.env.example\nD\t.gitignore\nM\tREADME.md\nA\tsrc/deep/main.rs\n");
    assert!(path.join("target/ignored.o").exists());
    assert_eq!(git(&path, &["ls-files", "target"]), "", "ignored files stay out");
}

#[test]
fn the_author_comes_from_git_config_when_none_is_configured() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    git(&path, &["config", "user.name", "Repo Owner"]);
    git(&path, &["config", "user.email", "owner@example.invalid"]);
    fs::write(path.join("a.txt"), "a").unwrap();
    let actions = fixture.actions_with(|config| config.author = None);
    actions.run(&fixture.row("halo", Status::Dirty), &commit("from config")).unwrap();
    assert_eq!(
        git(&path, &["log", "-1", "--format=%an <%ae>"]).trim(),
        "Repo Owner <owner@example.invalid>"
    );
}

#[test]
fn bad_messages_clean_trees_and_merges_are_refused_without_a_commit() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    let actions = fixture.actions();
    let row = fixture.row("halo", Status::Dirty);
    let error = actions.run(&row, &commit("nothing changed")).unwrap_err();
    assert!(matches!(error, Error::NothingToDo { .. }), "{error}");

    fs::write(path.join("a.txt"), "a").unwrap();
    for message in ["", "  \n\t", "a\0b"] {
        let error = actions.run(&row, &commit(message)).unwrap_err();
        assert!(matches!(error, Error::BadMessage { .. }), "{message:?}: {error}");
    }
    fs::write(path.join(".git/MERGE_HEAD"), git(&path, &["rev-parse", "HEAD"])).unwrap();
    let error = actions.run(&row, &commit("during a merge")).unwrap_err();
    assert!(matches!(error, Error::InProgress { .. }), "{error}");
    assert_eq!(git(&path, &["rev-list", "--count", "HEAD"]).trim(), "1");
}

#[test]
fn a_first_commit_on_an_unborn_branch_has_no_parent() {
    let fixture = Fixture::new();
    let path = fixture.root.join("fresh");
    fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "--quiet"]);
    fs::write(path.join("README.md"), "# fresh\n").unwrap();
    let outcome =
        fixture.actions().run(&fixture.row("fresh", Status::Extra), &commit("first")).unwrap();
    assert!(outcome.summary.contains("on main"), "{}", outcome.summary);
    assert_eq!(git(&path, &["rev-list", "--count", "HEAD"]).trim(), "1");
}
