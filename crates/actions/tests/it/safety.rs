//! Hostile names and URLs, symlinks out of the root, racing actions, and programs a repository's
//! config names: refused or handled safely, and nothing executed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use gitops_actions::{Action, Error, Preview};
use gitops_report::{Repo, Status};

use crate::support::{Fixture, SilentServer, all_paths, bounded, git, missing_row, tree};

/// Every action, as a run would be asked for it.
fn every_action(name: &str) -> Vec<Action> {
    vec![
        Action::Clone,
        Action::Commit { message: "x".into() },
        Action::Discard {
            confirm: name.into(),
            fingerprint: Some(gitops_actions::Fingerprint("0".into())),
        },
        Action::FixRemote,
        Action::Delete { confirm: name.into() },
        Action::Push,
        Action::Pull,
    ]
}

/// No file named `x` (what `touch x` would make) anywhere the test could have run something.
fn assert_nothing_ran(fixture: &Fixture) {
    let cwd = std::env::current_dir().unwrap();
    for dir in [cwd.as_path(), fixture.root.as_path(), &fixture.path(), Path::new("/tmp")] {
        assert!(!dir.join("x").exists(), "a file x appeared in {}", dir.display());
    }
    let made: Vec<_> =
        all_paths(&fixture.path()).into_iter().filter(|path| path.ends_with("x")).collect();
    assert!(made.is_empty(), "{made:?}");
}

#[test]
fn hostile_names_are_refused_before_anything_runs() {
    let fixture = Fixture::new();
    let remote = fixture.make_remote("alice", "halo");
    let url = format!("file://{}", remote.display());
    let actions = fixture.actions();
    let before = all_paths(&fixture.path());
    for name in
        ["--upload-pack=touch x", "-rf", "../../etc", "..", "/etc", "a/b", "a\nb", "a\0b", ""]
    {
        let row = Repo {
            clone_url: Some(url.clone()),
            expected_url: Some(url.clone()),
            ..missing_row(name, &url)
        };
        for action in every_action(name) {
            for result in
                [actions.preview(&row, &action).map(drop), actions.run(&row, &action).map(drop)]
            {
                assert!(
                    matches!(result, Err(Error::BadName { .. })),
                    "{name:?} {action:?}: {result:?}"
                );
            }
        }
        assert!(matches!(actions.changes(&row), Err(Error::BadName { .. })));
    }
    assert_eq!(all_paths(&fixture.path()), before, "nothing was created or removed");
    assert_nothing_ran(&fixture);
}

#[test]
fn hostile_clone_urls_are_refused_and_nothing_runs() {
    let fixture = Fixture::new();
    let actions = fixture.actions();
    let before = all_paths(&fixture.path());
    for url in [
        "--upload-pack=touch x",
        "--upload-pack=touch x ssh://host/x",
        "-u touch x",
        "ext::sh -c touch% x",
        "ext::touch x",
        "fd::3",
        "ssh://-oProxyCommand=touch x/y",
        "-oProxyCommand=touch x:y",
        "host:--upload-pack=touch x",
        "; rm -rf ~",
        "$(touch x)",
        "`touch x`",
        "file:///etc",
        "git://github.com/alice/halo",
        "http://github.com/alice/halo",
        "https://github.com/alice/halo\n--upload-pack=touch x",
    ] {
        let row = missing_row("halo", url);
        for result in [
            actions.preview(&row, &Action::Clone).map(drop),
            actions.run(&row, &Action::Clone).map(drop),
        ] {
            assert!(matches!(result, Err(Error::UrlRefused { .. })), "{url:?}: {result:?}");
        }
    }
    assert_eq!(all_paths(&fixture.path()), before);
    assert_nothing_ran(&fixture);
}

#[test]
fn shell_words_unicode_and_spaces_are_plain_folder_names() {
    let fixture = Fixture::new();
    let remote = fixture.make_remote("alice", "halo");
    let url = format!("file://{}", remote.display());
    let actions = fixture.actions();
    for name in
        ["; rm -rf ~", "$(touch x)", "`touch x`", "日本語 répo", "with spaces", "a'b\"c", "x"]
    {
        let row = missing_row(name, &url);
        actions.run(&row, &Action::Clone).unwrap_or_else(|error| panic!("{name:?}: {error}"));
        let path = fixture.root.join(name);
        assert!(path.join(".git").is_dir(), "{name:?} cloned under its own name");
        std::fs::write(path.join("change.txt"), name).unwrap();
        let local = fixture.row(name, Status::Dirty);
        let changes = actions.changes(&local).unwrap();
        assert_eq!(changes.status.len(), 1);
        actions.run(&local, &Action::Commit { message: format!("commit in {name}") }).unwrap();
        assert_eq!(git(&path, &["log", "-1", "--format=%s"]).trim(), format!("commit in {name}"));
        let entry = actions
            .run(&local, &Action::Delete { confirm: name.into() })
            .unwrap()
            .trash_entry
            .unwrap();
        assert!(!path.exists());
        actions.restore(&entry).unwrap();
        assert!(path.join("change.txt").exists());
    }
    // The folder literally named `x` is the only `x`: no `touch x` ran anywhere.
    assert!(!fixture.root.join("x/x").exists());
    assert!(!std::env::current_dir().unwrap().join("x").exists());
    let stray: Vec<_> = all_paths(&fixture.path())
        .into_iter()
        .filter(|path| {
            path.file_name().is_some_and(|name| name == "x") && *path != fixture.root.join("x")
        })
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}

#[test]
fn a_symlink_in_the_root_pointing_outside_is_refused_for_every_action() {
    let fixture = Fixture::new();
    // A real, dirty, ahead repository outside the root, reached by a link inside it.
    let outside = fixture.outside().join("victim");
    git(
        &fixture.path(),
        &[
            "clone",
            "--quiet",
            "--",
            fixture.make_remote("alice", "victim").to_str().unwrap(),
            outside.to_str().unwrap(),
        ],
    );
    std::fs::write(outside.join("README.md"), "# precious edit\n").unwrap();
    std::fs::write(outside.join("untracked.txt"), "precious").unwrap();
    std::os::unix::fs::symlink(&outside, fixture.root.join("evil")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dangling", fixture.root.join("dangling")).unwrap();
    let outside_before = tree(&outside);
    let head_before = git(&outside, &["rev-parse", "HEAD"]);
    let actions = fixture.actions();
    for folder in ["evil", "dangling"] {
        let row = Repo {
            expected_url: Some("https://github.com/alice/x.git".into()),
            ..fixture.row(folder, Status::Dirty)
        };
        assert!(matches!(actions.changes(&row), Err(Error::OutsideRoot { .. })));
        for action in every_action(folder) {
            for result in
                [actions.preview(&row, &action).map(drop), actions.run(&row, &action).map(drop)]
            {
                assert!(
                    matches!(result, Err(Error::OutsideRoot { .. })),
                    "{folder} {action:?}: {result:?}"
                );
            }
        }
    }
    // A report that places the folder outside the root is refused the same way.
    for local_path in [
        outside.to_str().unwrap().to_owned(),
        format!("{}/../outside/victim", fixture.root.display()),
    ] {
        let row =
            Repo { local_path: Some(local_path.clone()), ..fixture.row("victim", Status::Dirty) };
        let result = actions.run(&row, &Action::Commit { message: "x".into() });
        assert!(matches!(result, Err(Error::OutsideRoot { .. })), "{local_path}: {result:?}");
    }
    assert_eq!(tree(&outside), outside_before);
    assert_eq!(git(&outside, &["rev-parse", "HEAD"]), head_before);
    assert!(fixture.root.join("evil").exists(), "the link itself was not moved");
    assert!(actions.trash_entries().unwrap().is_empty());
}

#[test]
fn a_symlink_to_a_folder_inside_the_root_is_the_same_repository() {
    let fixture = Fixture::new();
    fixture.clone("alice", "halo", "halo");
    std::os::unix::fs::symlink(fixture.root.join("halo"), fixture.root.join("alias")).unwrap();
    std::fs::write(fixture.root.join("halo/a.txt"), "a").unwrap();
    let actions = fixture.actions();
    let halo = actions.root().resolve(&fixture.row("halo", Status::Dirty)).unwrap();
    let guard = actions.locks().try_lock(&halo).unwrap();
    let error = actions
        .run(&fixture.row("alias", Status::Dirty), &Action::Commit { message: "m".into() })
        .unwrap_err();
    assert!(matches!(error, Error::Busy { .. }), "{error}");
    drop(guard);
    actions
        .run(&fixture.row("alias", Status::Dirty), &Action::Commit { message: "m".into() })
        .unwrap();
    assert_eq!(git(&fixture.root.join("halo"), &["log", "-1", "--format=%s"]).trim(), "m");
}

#[test]
fn two_actions_racing_on_one_repository_one_gets_busy() {
    let fixture = Fixture::new();
    let server = SilentServer::start();
    let row = missing_row("halo", &format!("https://127.0.0.1:{}/alice/halo.git", server.port));
    let actions = std::sync::Arc::new(
        fixture.actions_with(|config| config.network_timeout = Duration::from_secs(300)),
    );
    let first = {
        let (actions, row) = (actions.clone(), row.clone());
        std::thread::spawn(move || actions.run(&row, &Action::Clone))
    };
    let target = actions.root().resolve(&row).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(actions.locks().is_locked(&target) && server.n_accepted() > 0) {
        assert!(Instant::now() < deadline, "the first clone never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The first clone is waiting on the silent server, holding the repository.
    for result in [
        actions.run(&row, &Action::Clone).map(drop),
        actions.preview(&row, &Action::Clone).map(drop),
        actions.changes(&row).map(drop),
        actions.run(&row, &Action::Delete { confirm: "halo".into() }).map(drop),
    ] {
        assert!(matches!(result, Err(Error::Busy { .. })), "{result:?}");
    }
    server.hang_up();
    let first = bounded(Duration::from_secs(120), move || first.join().unwrap());
    assert!(matches!(first, Err(Error::GitFailed { .. })), "{first:?}");
    assert!(!actions.locks().is_locked(&target));
    assert!(matches!(actions.preview(&row, &Action::Clone), Ok(Preview::Clone(_))));
    assert!(all_paths(&fixture.root).is_empty());
}

#[test]
fn hooks_fsmonitor_and_remote_programs_in_a_repository_config_never_run() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    let marker = fixture.outside().join("ran");
    let touch = format!("touch {}", marker.display());
    git(&path, &["config", "core.fsmonitor", &touch]);
    git(&path, &["config", "remote.origin.receivepack", &format!("{touch}; git-receive-pack")]);
    git(&path, &["config", "remote.origin.uploadpack", &format!("{touch}; git-upload-pack")]);
    for hook in [
        "pre-commit",
        "commit-msg",
        "post-commit",
        "pre-push",
        "post-merge",
        "post-checkout",
        "reference-transaction",
        "pre-auto-gc",
    ] {
        let file = path.join(".git/hooks").join(hook);
        std::fs::write(&file, format!("#!/bin/sh\n{touch}\n")).unwrap();
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&file).unwrap().permissions(),
            0o755,
        );
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    // The trap is live: plain git runs the fsmonitor command.
    let status =
        Command::new("git").args(["-C", path.to_str().unwrap(), "status"]).output().unwrap();
    assert!(status.status.success());
    assert!(marker.exists(), "control: plain git status runs core.fsmonitor");
    std::fs::remove_file(&marker).unwrap();

    let actions = fixture.actions();
    let row = fixture.row("halo", Status::Dirty);
    std::fs::write(path.join("a.txt"), "a").unwrap();
    actions.changes(&row).unwrap();
    assert!(!marker.exists(), "changes");
    actions.run(&row, &Action::Commit { message: "local".into() }).unwrap();
    assert!(!marker.exists(), "commit");
    actions.run(&row, &Action::Push).unwrap();
    assert!(!marker.exists(), "push");
    std::fs::write(path.join("b.txt"), "b").unwrap();
    let Preview::Discard(preview) = actions
        .preview(&row, &Action::Discard { confirm: String::new(), fingerprint: None })
        .unwrap()
    else {
        panic!("not a discard preview")
    };
    actions
        .run(
            &row,
            &Action::Discard { confirm: "halo".into(), fingerprint: Some(preview.fingerprint) },
        )
        .unwrap();
    assert!(!marker.exists(), "discard");
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
    git(&other, &["commit", "--quiet", "--allow-empty", "-m", "upstream"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    // The test's own fetch pins the upload program, as the pull does, or it would spring the trap.
    git(&path, &["fetch", "--quiet", "--upload-pack=git-upload-pack"]);
    assert!(!marker.exists(), "the test's fetch");
    actions.run(&row, &Action::Pull).unwrap();
    assert_eq!(git(&path, &["log", "-1", "--format=%s"]).trim(), "upstream");
    assert!(!marker.exists(), "a program from the repository's config ran");
}
