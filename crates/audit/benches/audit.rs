//! Audits 1,000 generated repositories (goal: ≤ 2 s on 2 cores) and re-audits one of them.
//!
//! One template repository is made with the `git` CLI (README, .gitignore, one commit, an
//! `origin` and an upstream), then copied 1,000 times with std::fs; each copy's `origin` is
//! rewritten to its own name. Every tenth copy gets an untracked file, and ten expected names
//! have no folder, so dirty, missing and clean paths are all exercised.
//!
//! A copied index's stat data (inode, times) no longer matches the copied files, so libgit2 would
//! re-hash every file on every audit, which real clones do not need. `1000_repos` therefore
//! refreshes each copy's index once (with libgit2, files dated a minute back so the entries are not
//! "racily clean"), as a real `git commit` leaves it; `1000_repos_stale_index` keeps the copies as
//! they are, the worst case.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gitops_audit::{AuditConfig, Expected, ExpectedList, ExpectedRepo, audit, audit_one};

const N_REPOS: usize = 1000;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.invalid",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read template") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Dates the worktree files a minute back and rewrites the index's stat data to match them.
fn refresh_index(clone: &Path) {
    let a_minute_ago = std::time::SystemTime::now() - Duration::from_secs(60);
    for file in ["README.md", ".gitignore", "src/main.rs"] {
        let file = std::fs::File::options().write(true).open(clone.join(file)).expect("open");
        file.set_modified(a_minute_ago).expect("set mtime");
    }
    let repo = git2::Repository::open(clone).expect("open copy");
    let mut index = repo.index().expect("index");
    // `add_path` re-reads each file's stat data even when its content is unchanged.
    for file in ["README.md", ".gitignore", "src/main.rs"] {
        index.add_path(Path::new(file)).expect("refresh index entry");
    }
    index.write().expect("write index");
}

/// Makes the root of `N_REPOS` clones and the expected list (with ten missing names).
fn generate(base: &Path, fresh_index: bool) -> (PathBuf, ExpectedList) {
    let template = base.join("template");
    std::fs::create_dir_all(&template).expect("mkdir");
    git(&template, &["init", "--quiet"]);
    std::fs::write(template.join("README.md"), "# bench\n").expect("write");
    std::fs::write(template.join(".gitignore"), "target/\n").expect("write");
    std::fs::create_dir_all(template.join("src")).expect("mkdir");
    std::fs::write(template.join("src/main.rs"), "fn main() {}\n").expect("write");
    git(&template, &["add", "."]);
    git(&template, &["commit", "--quiet", "-m", "first"]);
    git(&template, &["remote", "add", "origin", "https://github.com/bench/TEMPLATE.git"]);
    git(&template, &["update-ref", "refs/remotes/origin/main", "HEAD"]);
    git(&template, &["branch", "--quiet", "--set-upstream-to=origin/main", "main"]);
    let config = std::fs::read_to_string(template.join(".git/config")).expect("config");

    let root = base.join("root");
    let mut expected = Vec::new();
    for index in 0..N_REPOS {
        let name = format!("repo-{index:04}");
        let clone = root.join(&name);
        copy_dir(&template, &clone);
        std::fs::write(clone.join(".git/config"), config.replace("TEMPLATE", &name))
            .expect("config");
        if fresh_index {
            refresh_index(&clone);
        }
        if index % 10 == 0 {
            std::fs::write(clone.join("notes.txt"), "untracked\n").expect("write");
        }
        expected.push(ExpectedRepo {
            name: name.clone(),
            owner: Some("bench".into()),
            clone_url: Some(format!("https://github.com/bench/{name}.git")),
        });
    }
    expected.extend((0..10).map(|index| ExpectedRepo {
        name: format!("missing-{index}"),
        owner: Some("bench".into()),
        clone_url: None,
    }));
    (root, ExpectedList::from_repos(expected))
}

fn bench_audit(c: &mut Criterion) {
    let mut group = c.benchmark_group("audit");
    group.sample_size(10).measurement_time(Duration::from_secs(20));
    for (bench_name, fresh_index) in [("1000_repos", true), ("1000_repos_stale_index", false)] {
        let base = tempfile::tempdir().expect("temp dir");
        let (root, list) = generate(base.path(), fresh_index);
        let config = AuditConfig::new(&root, Expected::List(list.clone()));
        // Sanity: the generated tree audits as intended before anything is timed.
        let report = audit(&config, &list).expect("audit");
        let summary = report.summary.as_ref().expect("summary");
        assert_eq!(
            (summary.total, summary.clean, summary.dirty, summary.missing),
            (1010, 900, 100, 10)
        );
        group.bench_function(bench_name, |b| b.iter(|| audit(&config, &list).expect("audit")));
        if fresh_index {
            group.bench_function("audit_one_of_1000", |b| {
                b.iter(|| audit_one(&config, "repo-0500", &list).expect("audit").expect("known"))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench_audit);
criterion_main!(benches);
