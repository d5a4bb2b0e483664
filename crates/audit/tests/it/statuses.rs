//! Every repository state the auditor must tell apart, on real repositories.

use std::fs;

use gitops_audit::{AuditConfig, Error, Expected, ExpectedList, audit, audit_one};
use gitops_report::{FileStatus, Health, Status};
use serde_json::json;

use crate::support::{Fixture, extra, git, git_with_env, row};

#[test]
fn clean_clone_is_clean_with_branch_upstream_and_complete_files() {
    let fixture = Fixture::new();
    fixture.clone("alice", "halo", "halo");
    let report = fixture.audit("alice/halo");
    let repo = row(&report, "halo");
    assert_eq!(repo.status, Status::Clean);
    assert_eq!(repo.file_status, Some(FileStatus::Complete));
    assert_eq!(repo.dashboard_link.as_deref(), Some("/audit/halo?action=view"));
    assert_eq!(repo.mitigation, None);
    assert_eq!(extra(repo, "branch"), &json!("main"));
    assert_eq!(extra(repo, "detached"), &json!(false));
    assert_eq!(extra(repo, "upstream"), &json!("origin/main"));
    assert_eq!((extra(repo, "ahead"), extra(repo, "behind")), (&json!(0), &json!(0)));
    assert_eq!(extra(repo, "unpushed_commits"), &json!(0));
    assert_eq!(extra(repo, "stash_count"), &json!(0));
    assert_eq!(extra(repo, "last_commit_age_days"), &json!(0));
    let last_commit = extra(repo, "last_commit").as_str().expect("last_commit is a string");
    assert!(
        last_commit.parse::<jiff::Timestamp>().is_ok() && last_commit.ends_with('Z'),
        "{last_commit}"
    );
    assert_eq!(report.health_status, Some(Health::Green));
}

#[test]
fn each_kind_of_change_makes_a_repository_dirty() {
    let fixture = Fixture::new();
    let tracked = fixture.clone("alice", "tracked", "tracked");
    fs::write(tracked.join("README.md"), "# changed\n").expect("write");
    let untracked = fixture.clone("alice", "untracked", "untracked");
    fs::write(untracked.join("notes.txt"), "new\n").expect("write");
    let staged = fixture.clone("alice", "staged", "staged");
    fs::write(staged.join("added.txt"), "new\n").expect("write");
    git(&staged, &["add", "added.txt"]);
    let deleted = fixture.clone("alice", "deleted", "deleted");
    fs::remove_file(deleted.join(".gitignore")).expect("remove");
    let untracked_dir = fixture.clone("alice", "untracked-dir", "untracked-dir");
    fs::create_dir_all(untracked_dir.join("new/deeper")).expect("mkdir");
    fs::write(untracked_dir.join("new/deeper/file"), "x").expect("write");

    let report = fixture
        .audit("alice/tracked\nalice/untracked\nalice/staged\nalice/deleted\nalice/untracked-dir");
    let counts = |name: &str| {
        let repo = row(&report, name);
        assert_eq!(repo.status, Status::Dirty, "{name}");
        assert_eq!(repo.mitigation.as_deref(), Some("commit_or_discard"), "{name}");
        assert_eq!(
            repo.dashboard_link.as_deref(),
            Some(format!("/audit/{name}?action=commit").as_str())
        );
        (
            extra(repo, "staged").clone(),
            extra(repo, "unstaged").clone(),
            extra(repo, "untracked").clone(),
        )
    };
    assert_eq!(counts("tracked"), (json!(0), json!(1), json!(0)));
    assert_eq!(counts("untracked"), (json!(0), json!(0), json!(1)));
    assert_eq!(counts("staged"), (json!(1), json!(0), json!(0)));
    assert_eq!(counts("deleted"), (json!(0), json!(1), json!(0)));
    // An untracked directory counts once, as `git status` shows it.
    assert_eq!(counts("untracked-dir"), (json!(0), json!(0), json!(1)));
    // A .gitignore is not required by default (see the required-files test).
    assert_eq!(row(&report, "deleted").file_status, Some(FileStatus::Complete));
    assert_eq!(report.health_status, Some(Health::Yellow));
}

#[test]
fn ignored_files_and_empty_directories_do_not_make_a_repository_dirty() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    fs::create_dir_all(path.join("target/debug")).expect("mkdir");
    fs::write(path.join("target/debug/build.log"), "ignored").expect("write");
    fs::create_dir_all(path.join("empty/dir")).expect("mkdir");
    let report = fixture.audit("alice/halo");
    assert_eq!(row(&report, "halo").status, Status::Clean);
}

#[test]
fn ahead_behind_and_unpushed_are_counted_and_do_not_change_the_status() {
    let fixture = Fixture::new();
    let ahead = fixture.clone("alice", "ahead", "ahead");
    fs::write(ahead.join("a.txt"), "a").expect("write");
    git(&ahead, &["add", "."]);
    git(&ahead, &["commit", "--quiet", "-m", "local one"]);
    git(&ahead, &["commit", "--quiet", "--allow-empty", "-m", "local two"]);

    let behind = fixture.clone("alice", "behind", "behind");
    let other = fixture.temp.path().join("other-clone");
    git(
        fixture.temp.path(),
        &[
            "clone",
            "--quiet",
            fixture.remote_path("alice", "behind").to_str().expect("utf-8"),
            "other-clone",
        ],
    );
    git(&other, &["commit", "--quiet", "--allow-empty", "-m", "pushed elsewhere"]);
    git(&other, &["push", "--quiet", "origin", "main"]);
    git(&behind, &["fetch", "--quiet"]);

    let report = fixture.audit("alice/ahead\nalice/behind");
    let ahead = row(&report, "ahead");
    assert_eq!(ahead.status, Status::Clean);
    assert_eq!((extra(ahead, "ahead"), extra(ahead, "behind")), (&json!(2), &json!(0)));
    assert_eq!(extra(ahead, "unpushed_commits"), &json!(2));
    let behind = row(&report, "behind");
    assert_eq!(behind.status, Status::Clean);
    assert_eq!((extra(behind, "ahead"), extra(behind, "behind")), (&json!(0), &json!(1)));
}

#[test]
fn detached_head_and_branch_without_upstream_are_reported() {
    let fixture = Fixture::new();
    let detached = fixture.clone("alice", "detached", "detached");
    git(&detached, &["checkout", "--quiet", "--detach"]);
    let feature = fixture.clone("alice", "feature", "feature");
    git(&feature, &["checkout", "--quiet", "-b", "feature"]);
    git(&feature, &["commit", "--quiet", "--allow-empty", "-m", "not pushed"]);

    let report = fixture.audit("alice/detached\nalice/feature");
    let detached = row(&report, "detached");
    assert_eq!(detached.status, Status::Clean);
    assert_eq!(extra(detached, "detached"), &json!(true));
    assert_eq!(extra(detached, "branch"), &json!(null));
    assert_eq!(extra(detached, "upstream"), &json!(null));
    assert_eq!(extra(detached, "unpushed_commits"), &json!(0));
    let feature = row(&report, "feature");
    assert_eq!(feature.status, Status::Clean);
    assert_eq!(extra(feature, "branch"), &json!("feature"));
    assert_eq!(extra(feature, "upstream"), &json!(null));
    assert_eq!((extra(feature, "ahead"), extra(feature, "behind")), (&json!(null), &json!(null)));
    // Without an upstream, unpushed means "on no remote-tracking branch".
    assert_eq!(extra(feature, "unpushed_commits"), &json!(1));
}

#[test]
fn stashes_are_counted() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    for text in ["one", "two"] {
        fs::write(path.join("README.md"), text).expect("write");
        git(&path, &["stash", "--quiet"]);
    }
    let report = fixture.audit("alice/halo");
    let repo = row(&report, "halo");
    assert_eq!(repo.status, Status::Clean);
    assert_eq!(extra(repo, "stash_count"), &json!(2));
}

#[test]
fn old_commits_have_their_age_in_days() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    let date = [
        ("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z"),
        ("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z"),
    ];
    git_with_env(&path, &["commit", "--quiet", "--allow-empty", "-m", "old"], &date);
    let report = fixture.audit("alice/halo");
    let repo = row(&report, "halo");
    assert_eq!(extra(repo, "last_commit"), &json!("2020-01-01T00:00:00Z"));
    let age = extra(repo, "last_commit_age_days").as_i64().expect("age is a number");
    let expected_age = (jiff::Timestamp::now().as_second() - 1_577_836_800) / 86_400;
    assert!((expected_age - 1..=expected_age).contains(&age), "{age} vs {expected_age}");
}

#[test]
fn origin_naming_another_repository_is_mismatched_in_every_url_form() {
    let fixture = Fixture::new();
    let other_repo_urls = [
        "https://github.com/alice/ha_person_notify.git",
        "https://github.com/alice/ha_person_notify",
        "https://bob:secret@github.com/alice/other.git",
        "git@github.com:alice/other.git",
        "ssh://git@github.com/alice/other.git",
        "ssh://git@github.com:22/bob/app.git",
        "git://github.com/bob/app",
        "https://github.com/alice/app.github.io.git",
    ];
    let mut expected = String::new();
    for (index, url) in other_repo_urls.iter().enumerate() {
        let name = format!("app{index}");
        let path = fixture.clone("alice", &name, &name);
        git(&path, &["remote", "set-url", "origin", url]);
        expected.push_str(&format!("alice/{name}\n"));
    }
    let report = fixture.audit(&expected);
    for (index, url) in other_repo_urls.iter().enumerate() {
        let name = format!("app{index}");
        let repo = row(&report, &name);
        assert_eq!(repo.status, Status::Mismatched, "{url}");
        assert_eq!(
            repo.expected_url.as_deref(),
            Some(format!("https://github.com/alice/{name}.git").as_str())
        );
        assert_eq!(repo.mitigation.as_deref(), Some("fix_remote_or_rename"));
        assert_eq!(
            repo.dashboard_link.as_deref(),
            Some(format!("/audit/{name}?action=fix_remote").as_str())
        );
    }
    // Credentials never reach the report.
    assert_eq!(
        row(&report, "app2").remote_url.as_deref(),
        Some("https://github.com/alice/other.git")
    );
}

#[test]
fn every_spelling_of_the_expected_repository_matches() {
    let fixture = Fixture::new();
    let same_repo_urls = [
        "https://github.com/alice/my.site.git",
        "https://github.com/Alice/My.Site",
        "https://alice:token@github.com/alice/my.site.git",
        "git@github.com:alice/my.site.git",
        "github-work:alice/my.site",
        "ssh://git@github.com/alice/MY.SITE.git",
        "ssh://git@github.com:22/alice/my.site.git",
    ];
    for url in same_repo_urls {
        let path = fixture.clone("alice", "my.site", "my.site");
        git(&path, &["remote", "set-url", "origin", url]);
        let report = fixture.audit("alice/my.site");
        assert_eq!(row(&report, "my.site").status, Status::Clean, "{url}");
        fs::remove_dir_all(&path).expect("cleanup");
    }
}

#[test]
fn a_name_only_expected_list_compares_names_only() {
    let fixture = Fixture::new();
    fixture.clone("alice", "halo", "halo");
    let other = fixture.clone("alice", "kitshn", "kitshn");
    git(&other, &["remote", "set-url", "origin", "git@github.com:bob/not-kitshn.git"]);
    let report = fixture.audit("halo\nkitshn");
    assert_eq!(row(&report, "halo").status, Status::Clean);
    assert_eq!(row(&report, "kitshn").status, Status::Mismatched);
    // A bare name gives no URL to expect, and `expected_url` only ever holds URLs.
    assert_eq!(row(&report, "kitshn").expected_url, None);
}

#[test]
fn a_clone_without_origin_is_mismatched() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    git(&path, &["remote", "remove", "origin"]);
    let report = fixture.audit("alice/halo");
    let repo = row(&report, "halo");
    assert_eq!(repo.status, Status::Mismatched);
    assert_eq!(repo.remote_url.as_deref(), Some(""));
}

#[test]
fn missing_extra_and_non_git_folders() {
    let fixture = Fixture::new();
    fixture.clone("alice", "scratch", "scratch");
    fs::create_dir_all(fixture.root.join("photos")).expect("mkdir");
    fs::write(fixture.root.join("photos/cat.jpg"), "meow").expect("write");
    fs::create_dir_all(fixture.root.join("notes")).expect("mkdir");
    let report = fixture.audit("alice/halo\nalice/notes");

    let missing = row(&report, "halo");
    assert_eq!(missing.status, Status::Missing);
    assert_eq!(missing.clone_url.as_deref(), Some("https://github.com/alice/halo.git"));
    assert_eq!(missing.dashboard_link.as_deref(), Some("/audit/halo?action=clone"));
    assert_eq!(missing.mitigation.as_deref(), Some("clone_missing"));
    assert_eq!(missing.local_path, None);

    let scratch = row(&report, "scratch");
    assert_eq!(scratch.status, Status::Extra);
    assert_eq!(scratch.dashboard_link.as_deref(), Some("/audit/scratch?action=review"));
    assert_eq!(scratch.mitigation.as_deref(), Some("review_or_delete"));
    assert!(scratch.remote_url.as_deref().is_some_and(|url| url.ends_with("alice/scratch.git")));

    let photos = row(&report, "photos");
    assert_eq!(photos.status, Status::Extra);
    assert_eq!(extra(photos, "error"), &json!("not a git repository"));
    assert_eq!(photos.remote_url.as_deref(), Some(""));

    // A plain folder where a clone was expected stays one row, extra, naming what was expected.
    let notes = row(&report, "notes");
    assert_eq!(notes.status, Status::Extra);
    assert_eq!(notes.expected_url.as_deref(), Some("https://github.com/alice/notes.git"));

    assert_eq!(report.health_status, Some(Health::Red));
    let summary = report.summary.as_ref().expect("summary");
    assert_eq!(
        (summary.total, summary.missing, summary.extra, summary.dirty, summary.clean),
        (4, 1, 3, 0, 0)
    );
    assert_eq!(summary.mismatched, Some(0));
}

#[test]
fn a_folder_inside_another_repository_is_not_taken_for_it() {
    let fixture = Fixture::new();
    // The root itself is a git repository; its plain sub-folders must still read as non-git.
    git(&fixture.root, &["init", "--quiet"]);
    fs::create_dir_all(fixture.root.join("plain")).expect("mkdir");
    let report = fixture.audit("");
    assert_eq!(extra(row(&report, "plain"), "error"), &json!("not a git repository"));
}

#[test]
fn bare_repositories_are_read_without_a_worktree() {
    let fixture = Fixture::new();
    fixture.make_remote("alice", "vault");
    let remote = fixture.remote_path("alice", "vault");
    git(
        &fixture.root,
        &["clone", "--quiet", "--bare", remote.to_str().expect("utf-8"), "vault.git"],
    );
    let report = fixture.audit("alice/vault");
    let repo = row(&report, "vault");
    assert_eq!(repo.status, Status::Clean);
    assert_eq!(extra(repo, "bare"), &json!(true));
    assert_eq!(repo.file_status, Some(FileStatus::Unknown));
    assert!(repo.local_path.as_deref().is_some_and(|path| path.ends_with("vault.git")));
}

#[test]
fn corrupt_repositories_get_an_error_and_a_status_never_a_crash() {
    let fixture = Fixture::new();
    // `.git` with garbage in it.
    let garbage = fixture.root.join("garbage");
    fs::create_dir_all(garbage.join(".git")).expect("mkdir");
    fs::write(garbage.join(".git/HEAD"), "not a ref at all").expect("write");
    // A `.git` file pointing nowhere.
    let dangling = fixture.root.join("dangling");
    fs::create_dir_all(&dangling).expect("mkdir");
    fs::write(dangling.join(".git"), "gitdir: /nonexistent/place\n").expect("write");
    // A real clone whose index is destroyed.
    let broken_index = fixture.clone("alice", "broken-index", "broken-index");
    fs::write(broken_index.join(".git/index"), "DIRCgarbage").expect("write");
    // A real clone whose HEAD commit object is gone.
    let no_objects = fixture.clone("alice", "no-objects", "no-objects");
    fs::remove_dir_all(no_objects.join(".git/objects")).expect("remove");
    fs::create_dir_all(no_objects.join(".git/objects")).expect("mkdir");

    let report = fixture.audit("alice/garbage\nalice/broken-index\nalice/no-objects");
    for name in ["garbage", "broken-index", "no-objects"] {
        let repo = row(&report, name);
        assert_eq!(repo.status, Status::Dirty, "{name}: expected but unreadable stays in view");
        assert_eq!(repo.mitigation.as_deref(), Some("repair_or_reclone"), "{name}");
        assert!(
            extra(repo, "error").as_str().is_some_and(|error| !error.is_empty()),
            "{name}: {:?}",
            repo.extra
        );
    }
    let dangling = row(&report, "dangling");
    assert_eq!(dangling.status, Status::Extra);
    assert!(
        extra(dangling, "error")
            .as_str()
            .is_some_and(|error| error.starts_with("cannot open repository"))
    );
}

/// Whether this process ignores file permissions (root, or CAP_DAC_OVERRIDE): then chmod 000
/// cannot make a folder unreadable and the test checks the other branch.
fn permissions_are_bypassed(probe: &std::path::Path) -> bool {
    fs::read_dir(probe).is_ok()
}

#[test]
fn unreadable_folder_gets_an_error_or_when_running_as_root_its_real_status() {
    use std::os::unix::fs::PermissionsExt;
    let fixture = Fixture::new();
    let locked = fixture.clone("alice", "locked", "locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    let bypassed = permissions_are_bypassed(&locked);
    let report = fixture.audit("alice/locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod back");
    let repo = row(&report, "locked");
    if bypassed {
        // As root the folder is readable after all; the audit must see through it like git does.
        assert_eq!(repo.status, Status::Clean);
    } else {
        assert_eq!(repo.status, Status::Dirty);
        assert!(
            extra(repo, "error")
                .as_str()
                .is_some_and(|error| error.starts_with("cannot read folder"))
        );
    }
}

#[test]
fn repository_owned_by_another_user_gets_a_clear_error() {
    // libgit2 refuses repositories owned by another user (git's safe.directory), even for root;
    // the row must say so instead of failing the audit. Needs chown, so only runs where it works.
    let fixture = Fixture::new();
    let foreign = fixture.clone("alice", "foreign", "foreign");
    let chowned = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&foreign)
        .status()
        .is_ok_and(|status| status.success());
    let report = fixture.audit("alice/foreign");
    let repo = row(&report, "foreign");
    if chowned {
        assert_eq!(repo.status, Status::Dirty);
        let error = extra(repo, "error").as_str().expect("an error");
        assert!(
            error.contains("owned by another user") && error.contains("safe.directory"),
            "{error}"
        );
    } else {
        assert_eq!(repo.status, Status::Clean);
    }
}

#[test]
fn unborn_repositories_have_a_branch_and_no_commit() {
    let fixture = Fixture::new();
    let fresh = fixture.root.join("fresh");
    fs::create_dir_all(&fresh).expect("mkdir");
    git(&fresh, &["init", "--quiet"]);
    let report = fixture.audit("");
    let repo = row(&report, "fresh");
    assert_eq!(repo.status, Status::Extra);
    assert_eq!(extra(repo, "branch"), &json!("main"));
    assert_eq!(extra(repo, "last_commit"), &json!(null));
    // Only a README is required by default.
    assert_eq!(repo.file_status, Some(FileStatus::MissingReadme));
    assert_eq!(extra(repo, "missing_files"), &json!(["README"]));
}

#[test]
fn required_files_are_configurable_and_matched_by_name_or_stem() {
    let fixture = Fixture::new();
    // Every clone has README.md and .gitignore from its remote; each then differs.
    let complete = fixture.clone("alice", "complete", "complete");
    fs::write(complete.join("LICENSE-MIT"), "mit\n").expect("write");
    fs::create_dir_all(complete.join(".github/workflows")).expect("mkdir");
    let no_ignore = fixture.clone("alice", "no-ignore", "no-ignore");
    fs::write(no_ignore.join("license.txt"), "mit\n").expect("write");
    fs::create_dir_all(no_ignore.join(".github/workflows")).expect("mkdir");
    fs::remove_file(no_ignore.join(".gitignore")).expect("remove");
    let no_readme = fixture.clone("alice", "no-readme", "no-readme");
    fs::write(no_readme.join("LICENSE"), "mit\n").expect("write");
    fs::create_dir_all(no_readme.join(".github/workflows")).expect("mkdir");
    git(&no_readme, &["mv", "README.md", "NOTES.md"]);
    git(&no_readme, &["commit", "--quiet", "-m", "rename"]);
    let list = fixture.expected("alice/complete\nalice/no-ignore\nalice/no-readme");

    // The default: a README only, so a missing .gitignore is no concern.
    let report = audit(&fixture.config(&list), &list).expect("audit");
    assert_eq!(row(&report, "no-ignore").file_status, Some(FileStatus::Complete));
    assert_eq!(extra(row(&report, "no-ignore"), "missing_files"), &json!(null));
    assert_eq!(row(&report, "no-readme").file_status, Some(FileStatus::MissingReadme));

    let mut config = fixture.config(&list);
    config.required_files =
        ["README", ".gitignore", "LICENSE", ".github/workflows"].map(String::from).to_vec();
    let report = audit(&config, &list).expect("audit");
    let complete = row(&report, "complete");
    assert_eq!(complete.file_status, Some(FileStatus::Complete), "{:?}", complete.extra);
    let no_ignore = row(&report, "no-ignore");
    assert_eq!(no_ignore.file_status, Some(FileStatus::MissingFiles));
    assert_eq!(extra(no_ignore, "missing_files"), &json!([".gitignore"]));
    let no_readme = row(&report, "no-readme");
    assert_eq!(no_readme.file_status, Some(FileStatus::MissingReadme));
    assert_eq!(extra(no_readme, "missing_files"), &json!(["README"]));
    // The single-clone re-audit uses the same list.
    let again = audit_one(&config, "no-ignore", &list).expect("audit").expect("a row");
    assert_eq!(&again, no_ignore);

    // Nothing required: every worktree is complete.
    config.required_files.clear();
    let report = audit(&config, &list).expect("audit");
    assert!(report.repos.iter().all(|repo| repo.file_status == Some(FileStatus::Complete)));
}

#[test]
fn skipped_and_hidden_folders_and_plain_files_are_not_audited() {
    let fixture = Fixture::new();
    for folder in ["tmp", "Temp", "cache", "logs", "output", ".hidden", ".git"] {
        fs::create_dir_all(fixture.root.join(folder)).expect("mkdir");
    }
    fs::write(fixture.root.join("README.md"), "a file, not a folder").expect("write");
    fixture.clone("alice", "halo", "halo");
    let report = fixture.audit("alice/halo");
    let names: Vec<&str> = report.repos.iter().map(|repo| repo.name.as_str()).collect();
    assert_eq!(names, ["halo"]);

    let list = fixture.expected("alice/halo");
    let mut config = fixture.config(&list);
    config.skip = vec!["halo".into()];
    config.skip_hidden = false;
    let report = audit(&config, &list).expect("audit");
    let mut names: Vec<&str> = report.repos.iter().map(|repo| repo.name.as_str()).collect();
    names.sort_unstable();
    // `halo` is skipped locally, so it is missing; `.hidden` and `.git` are now audited.
    assert_eq!(names, [".git", ".hidden", "Temp", "cache", "halo", "logs", "output", "tmp"]);
    assert_eq!(row(&report, "halo").status, Status::Missing);
}

#[test]
fn folders_pair_with_expected_names_ignoring_case_exact_first() {
    let fixture = Fixture::new();
    fixture.clone("alice", "Halo", "Halo");
    fixture.clone("alice", "halo", "halo");
    fixture.clone("alice", "Kitshn", "KITSHN");
    let report = fixture.audit("alice/halo\nalice/Kitshn");
    assert_eq!(row(&report, "halo").status, Status::Clean);
    assert!(row(&report, "halo").local_path.as_deref().is_some_and(|path| path.ends_with("/halo")));
    assert_eq!(row(&report, "Halo").status, Status::Extra);
    let kitshn = row(&report, "Kitshn");
    assert_eq!(kitshn.status, Status::Clean);
    assert!(kitshn.local_path.as_deref().is_some_and(|path| path.ends_with("/KITSHN")));
}

#[test]
fn unusual_names_make_valid_json_and_links() {
    let fixture = Fixture::new();
    let names = ["my repo", "quo\"te", "back\\slash", "ünïcødé ✓", "tab\tname", "new\nline"];
    for name in names {
        let path = fixture.root.join(name);
        fs::create_dir_all(&path).expect("mkdir");
        git(&path, &["init", "--quiet"]);
    }
    let report = fixture.audit("");
    let out = fixture.temp.path().join("report.json");
    gitops_audit::write_report_atomic(&out, &report).expect("write");
    let value: serde_json::Value =
        serde_json::from_slice(&fs::read(&out).expect("read")).expect("valid json");
    let mut written: Vec<&str> = value["repos"]
        .as_array()
        .expect("repos")
        .iter()
        .map(|repo| repo["name"].as_str().expect("name"))
        .collect();
    written.sort_unstable();
    let mut sorted = names.to_vec();
    sorted.sort_unstable();
    assert_eq!(written, sorted);
    for repo in value["repos"].as_array().expect("repos") {
        let link = repo["dashboard_link"].as_str().expect("link");
        assert!(
            link.starts_with("/audit/")
                && link.is_ascii()
                && !link.contains([' ', '"', '\\', '\n', '\t']),
            "{link}"
        );
        assert!(
            repo["local_path"]
                .as_str()
                .expect("path")
                .ends_with(repo["name"].as_str().expect("name"))
        );
    }
}

#[test]
fn summary_and_health_follow_the_rows() {
    let fixture = Fixture::new();
    fixture.clone("alice", "clean", "clean");
    let dirty = fixture.clone("alice", "dirty", "dirty");
    fs::write(dirty.join("x"), "x").expect("write");
    let mismatched = fixture.clone("alice", "mismatched", "mismatched");
    git(&mismatched, &["remote", "set-url", "origin", "git@github.com:alice/else.git"]);
    fixture.clone("alice", "extra", "extra");

    let report = fixture.audit("alice/clean\nalice/dirty\nalice/mismatched");
    let summary = report.summary.as_ref().expect("summary");
    assert_eq!(
        (summary.total, summary.missing, summary.extra, summary.dirty, summary.clean),
        (4, 0, 1, 1, 1)
    );
    assert_eq!(summary.mismatched, Some(1));
    assert_eq!(report.health_status, Some(Health::Yellow));
    assert_eq!(report.local_scan_active, Some(true));
    assert_eq!(report.local_git_root.as_deref(), fixture.root.to_str());
    for key in ["clone_missing", "review_or_delete", "commit_or_discard", "fix_remote_or_rename"] {
        assert!(report.mitigation_actions.contains_key(key), "{key}");
    }
    let timestamp = report.timestamp.as_ref().expect("timestamp");
    assert!(
        timestamp.instant.is_some() && timestamp.raw.ends_with('Z') && !timestamp.raw.contains('.'),
        "{}",
        timestamp.raw
    );

    let names: Vec<&str> = report.repos.iter().map(|repo| repo.name.as_str()).collect();
    assert_eq!(names, ["clean", "dirty", "extra", "mismatched"]);

    let green = Fixture::new();
    green.clone("alice", "clean", "clean");
    assert_eq!(green.audit("alice/clean").health_status, Some(Health::Green));
}

#[test]
fn audit_one_matches_the_full_audit_and_follows_changes() {
    let fixture = Fixture::new();
    let halo = fixture.clone("alice", "halo", "halo");
    fixture.clone("alice", "kitshn", "KITSHN");
    fixture.clone("alice", "scratch", "scratch");
    let list = fixture.expected("alice/halo\nalice/kitshn\nalice/ghost");
    let config = fixture.config(&list);
    let full = audit(&config, &list).expect("audit");
    for repo in &full.repos {
        let one = audit_one(&config, &repo.name, &list).expect("audit one").expect("known name");
        assert_eq!(&one, repo);
    }
    // By folder name too.
    let by_folder = audit_one(&config, "KITSHN", &list).expect("audit one").expect("known folder");
    assert_eq!(by_folder.name, "kitshn");
    assert_eq!(audit_one(&config, "nobody", &list).expect("audit one"), None);

    fs::write(halo.join("new.txt"), "x").expect("write");
    let changed = audit_one(&config, "halo", &list).expect("audit one").expect("known");
    assert_eq!(changed.status, Status::Dirty);
    fs::remove_dir_all(&halo).expect("remove");
    let gone = audit_one(&config, "halo", &list).expect("audit one").expect("expected");
    assert_eq!(gone.status, Status::Missing);
}

#[test]
fn an_unreadable_root_is_an_error_not_an_all_missing_report() {
    let fixture = Fixture::new();
    let list = fixture.expected("alice/halo");
    let config =
        AuditConfig::new(fixture.temp.path().join("no-such-root"), Expected::List(list.clone()));
    assert!(matches!(audit(&config, &list), Err(Error::Root { .. })));
    assert!(matches!(audit_one(&config, "halo", &list), Err(Error::Root { .. })));
}

#[test]
fn parallel_and_serial_audits_agree() {
    let fixture = Fixture::new();
    let mut expected = String::new();
    for index in 0..12 {
        let name = format!("repo{index:02}");
        let path = fixture.clone("alice", &name, &name);
        if index % 3 == 0 {
            fs::write(path.join("dirty"), "x").expect("write");
        }
        if index % 4 != 0 {
            expected.push_str(&format!("alice/{name}\n"));
        }
    }
    let list: ExpectedList = fixture.expected(&expected);
    let mut config = fixture.config(&list);
    config.parallelism = 1;
    let serial = audit(&config, &list).expect("audit");
    config.parallelism = 8;
    let parallel = audit(&config, &list).expect("audit");
    assert_eq!(serial.repos, parallel.repos);
    assert_eq!(serial.summary, parallel.summary);
}

#[test]
fn load_expected_reads_files_and_lists() {
    let fixture = Fixture::new();
    let file = fixture.temp.path().join("expected.txt");
    fs::write(&file, "# mine\nalice/halo\nkitshn  # name only\n").expect("write");
    let config = AuditConfig::new(&fixture.root, Expected::File(file));
    let list = gitops_audit::load_expected(&config).expect("file");
    let names: Vec<&str> = list.repos.iter().map(|repo| repo.name.as_str()).collect();
    assert_eq!(names, ["halo", "kitshn"]);
    let config = AuditConfig::new(&fixture.root, Expected::List(list.clone()));
    assert_eq!(gitops_audit::load_expected(&config).expect("list"), list);
    let config =
        AuditConfig::new(&fixture.root, Expected::File(fixture.temp.path().join("absent")));
    assert!(matches!(gitops_audit::load_expected(&config), Err(Error::ExpectedFile { .. })));
}
