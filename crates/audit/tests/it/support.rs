//! Real git repositories in temp dirs, made with the `git` CLI, for the audit to read.

use std::path::{Path, PathBuf};
use std::process::Command;

use gitops_audit::{AuditConfig, Expected, ExpectedList, audit, parse_expected_list};
use gitops_report::{Repo, Report};

/// Runs `git` in `dir` with a fixed identity and no user or system config, and panics on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    git_with_env(dir, args, &[])
}

pub(crate) fn git_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .envs(env.iter().copied())
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A temp folder with `remotes/<owner>/<name>.git` bare repositories and a `root/` of clones.
pub(crate) struct Fixture {
    pub(crate) temp: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().join("root");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(temp.path().join("remotes")).expect("remotes");
        Self { temp, root }
    }

    /// The path of `owner/name`'s bare "remote".
    pub(crate) fn remote_path(&self, owner: &str, name: &str) -> PathBuf {
        self.temp.path().join("remotes").join(owner).join(format!("{name}.git"))
    }

    /// Creates `owner/name` as a bare repository with one commit (README.md and .gitignore).
    pub(crate) fn make_remote(&self, owner: &str, name: &str) -> PathBuf {
        let remote = self.remote_path(owner, name);
        std::fs::create_dir_all(&remote).expect("remote dir");
        git(&remote, &["init", "--bare", "--quiet"]);
        let seed = self.temp.path().join(format!("seed-{owner}-{name}"));
        std::fs::create_dir_all(&seed).expect("seed dir");
        git(&seed, &["init", "--quiet"]);
        std::fs::write(seed.join("README.md"), "# hello\n").expect("readme");
        std::fs::write(seed.join(".gitignore"), "target/\n").expect("gitignore");
        git(&seed, &["add", "."]);
        git(&seed, &["commit", "--quiet", "-m", "first"]);
        git(&seed, &["push", "--quiet", remote.to_str().expect("utf-8 path"), "main"]);
        remote
    }

    /// Clones `owner/name` into `root/<folder>` and returns the clone's path.
    pub(crate) fn clone(&self, owner: &str, name: &str, folder: &str) -> PathBuf {
        let remote = self.remote_path(owner, name);
        if !remote.exists() {
            self.make_remote(owner, name);
        }
        git(&self.root, &["clone", "--quiet", remote.to_str().expect("utf-8 path"), folder]);
        self.root.join(folder)
    }

    /// Audits the root against a plain expected list.
    pub(crate) fn audit(&self, expected: &str) -> Report {
        let list = self.expected(expected);
        let config = self.config(&list);
        audit(&config, &list).expect("root is readable")
    }

    pub(crate) fn expected(&self, text: &str) -> ExpectedList {
        parse_expected_list(text).expect("valid expected list")
    }

    pub(crate) fn config(&self, list: &ExpectedList) -> AuditConfig {
        AuditConfig::new(&self.root, Expected::List(list.clone()))
    }
}

/// The row named `name`, or a panic listing the names there are.
pub(crate) fn row<'a>(report: &'a Report, name: &str) -> &'a Repo {
    report.repos.iter().find(|repo| repo.name == name).unwrap_or_else(|| {
        let names: Vec<&str> = report.repos.iter().map(|repo| repo.name.as_str()).collect();
        panic!("no row {name:?} in {names:?}")
    })
}

/// An extra field of a row.
pub(crate) fn extra<'a>(repo: &'a Repo, key: &str) -> &'a serde_json::Value {
    repo.extra.get(key).unwrap_or(&serde_json::Value::Null)
}
