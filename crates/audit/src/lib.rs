//! The auditor: scans a folder of git repositories, compares it with the repositories that should
//! exist (a GitHub user's or organisation's, or a plain list), and produces a gitops report.
//!
//! ```no_run
//! use gitops_audit::{AuditConfig, Expected, audit, load_expected, write_report_atomic};
//!
//! let config = AuditConfig::new("/srv/git", Expected::File("/srv/expected.txt".into()));
//! let expected = load_expected(&config)?;
//! let report = audit(&config, &expected)?;
//! write_report_atomic("/srv/GitRepoReport.json".as_ref(), &report)?;
//! # Ok::<(), gitops_audit::Error>(())
//! ```
//!
//! Every top-level folder of the root (less the skipped names) is read with libgit2, in parallel;
//! a folder that cannot be read gets an `error` field, never a failed audit. Statuses, links,
//! mitigations, summary and health follow the report format that old readers accept; what the old
//! scripts did not report (branch, ahead/behind, stashes, last commit, ...) goes in extra fields.
//!
//! # Statuses
//!
//! | folder | expected | status | mitigation |
//! | --- | --- | --- | --- |
//! | none | yes | `missing` | `clone_missing` |
//! | any (git, plain, unreadable) | no | `extra` | `review_or_delete` (`repair_or_reclone` if unreadable) |
//! | plain folder | yes | `extra`, with `expected_url` and `error` | `review_or_delete` |
//! | git, `origin` absent or naming another repository | yes | `mismatched` | `fix_remote_or_rename` |
//! | git, staged, unstaged, untracked or conflicted changes | yes | `dirty` | `commit_or_discard` |
//! | git that cannot be opened or read (corrupt, unreadable, foreign owner) | yes | `dirty`, with `error` | `repair_or_reclone` |
//! | git, none of the above | yes | `clean` | none |
//!
//! Being ahead, behind, detached, on a branch without upstream or with stashes does not change
//! the status; it shows in the extra fields `ahead`, `behind`, `detached`, `upstream`,
//! `unpushed_commits` and `stash_count`. Bare repositories are compared by `origin` only.
#![warn(missing_docs)]

mod classify;
mod expected;
mod github;
mod inspect;
mod remote_url;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use gitops_report::{Repo, Report, Timestamp};

pub use expected::{ExpectedList, ExpectedRepo, parse_expected_list, read_expected_file};
pub use github::{GITHUB_API, GithubAccount, GithubOptions, Token, fetch_github};
pub use remote_url::{RepoId, parse_remote_url, redact_credentials};
pub use write::{LATEST_NAME, prune_history, write_history, write_report_atomic};

/// Everything that can go wrong in an audit as a whole. Per-repository problems are not errors:
/// they are reported in the repository's `error` field.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The root folder could not be listed. Check that it exists and is readable; no report is
    /// produced, because every expected repository would wrongly show as missing.
    #[error("cannot list the audit root {path}: {cause}")]
    Root {
        /// The root folder.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The expected-list file could not be read. Check its path and permissions.
    #[error("cannot read the expected list {path}: {cause}")]
    ExpectedFile {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// A line of the expected list names no repository. Fix or comment out the line.
    #[error("expected list line {line} names no repository: {text:?}")]
    ExpectedLine {
        /// The 1-based line number.
        line: usize,
        /// The line as written.
        text: String,
    },
    /// The token file could not be read. Check its path and permissions.
    #[error("cannot read the token file {path}: {cause}")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The token file is empty. Put the token in it, or leave the token out.
    #[error("the token file {path} is empty")]
    EmptyTokenFile {
        /// The file.
        path: PathBuf,
    },
    /// The GitHub account name has characters GitHub does not allow. Check the name.
    #[error("{name:?} is not a valid github account name")]
    InvalidAccount {
        /// The name given.
        name: String,
    },
    /// The request to the API failed below HTTP (DNS, connection, TLS, timeout, body too large).
    /// Check the network and `api_base`, then retry.
    #[error("request to {url} failed: {cause}")]
    Http {
        /// The URL requested.
        url: String,
        /// Why.
        cause: ureq::Error,
    },
    /// GitHub's rate limit is used up. Wait until the reset, or use a token (5,000 requests an
    /// hour instead of 60).
    #[error("github rate limit reached{}; wait, or give a token (GITHUB_TOKEN or a token file) if none was used", rate_limit_detail(*.retry_after_seconds, .reset_at.as_deref()))]
    RateLimited {
        /// The server's `retry-after`, in seconds.
        retry_after_seconds: Option<u64>,
        /// When the limit resets (RFC 3339), from `x-ratelimit-reset`.
        reset_at: Option<String>,
    },
    /// The API refused the token. Check that it is valid and not expired.
    #[error("github refused the token (401): {message}")]
    GithubUnauthorized {
        /// GitHub's message.
        message: String,
    },
    /// No such user or organisation (or it is not visible to the token). Check the name and
    /// whether it is a user or an organisation.
    #[error("github has no user or organisation {account:?} (404)")]
    GithubNotFound {
        /// The account asked for.
        account: String,
    },
    /// The API answered with another error status. Read the message; retry if it is a 5xx.
    #[error("github answered {status}: {message}")]
    GithubStatus {
        /// The HTTP status.
        status: u16,
        /// GitHub's message, if it sent one.
        message: String,
    },
    /// The API's answer was not the expected JSON list. Check `api_base` points at a GitHub API.
    #[error("unexpected answer from {url}: {cause}")]
    GithubJson {
        /// The URL requested.
        url: String,
        /// Why.
        cause: serde_json::Error,
    },
    /// A `next` page link pointed at another server than the API base; it was not followed, so
    /// the token went nowhere else. Check `api_base`.
    #[error("refusing to follow a next-page link to another server: {link}")]
    ForeignNextLink {
        /// The link.
        link: String,
    },
    /// The listing had more pages than allowed; the server's paging is probably looping.
    #[error("the listing went on past {pages} pages")]
    TooManyPages {
        /// The limit.
        pages: usize,
    },
    /// A report file or symlink could not be written. Check the folder exists, is writable and has space.
    #[error("cannot write {path}: {cause}")]
    Write {
        /// The file being written.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The history folder could not be listed, or an old snapshot could not be deleted. Check
    /// the folder's permissions; the new snapshot itself was written.
    #[error("cannot prune the history {path}: {cause}")]
    Prune {
        /// The folder, or the snapshot that could not be deleted.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
}

fn rate_limit_detail(retry_after_seconds: Option<u64>, reset_at: Option<&str>) -> String {
    match (retry_after_seconds, reset_at) {
        (Some(seconds), _) => format!(" (retry after {seconds} s)"),
        (None, Some(at)) => format!(" (resets at {at})"),
        (None, None) => String::new(),
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the list of repositories that should exist comes from.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A GitHub user's or organisation's repositories, fetched with [`AuditConfig::github`].
    Github(GithubAccount),
    /// A plain file, one name or URL per line (see [`parse_expected_list`]).
    File(PathBuf),
    /// A list already in hand.
    List(ExpectedList),
}

/// Folder names skipped by default, besides hidden ones.
pub const DEFAULT_SKIP: [&str; 5] = ["temp", "tmp", "cache", "logs", "output"];

/// The files a clone must have for `file_status` to be `complete`, by default: a README (any
/// case, any extension). A `.gitignore` is not required by default: many configuration
/// repositories have nothing to ignore.
pub const DEFAULT_REQUIRED_FILES: [&str; 1] = ["README"];

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// The folder whose top-level folders are the local clones.
    pub root: PathBuf,
    /// Where the expected list comes from.
    pub expected: Expected,
    /// Top-level folder names not audited (compared ignoring case); [`DEFAULT_SKIP`] by default.
    pub skip: Vec<String>,
    /// Whether folders whose names start with `.` are skipped (true by default).
    pub skip_hidden: bool,
    /// Threads reading repositories at once; 0 means twice the available cores, since much of
    /// the time is spent waiting on the filesystem.
    pub parallelism: usize,
    /// How to reach GitHub when `expected` is [`Expected::Github`].
    pub github: GithubOptions,
    /// The top-level files every clone should have ([`DEFAULT_REQUIRED_FILES`] by default).
    /// A name without a dot (`README`, `LICENSE`) matches in any case and with any extension or
    /// suffix (`readme.md`, `LICENSE-MIT`); a name with a dot (`.gitignore`) matches as written,
    /// ignoring case; a name with a `/` is a path below the worktree. Those absent are listed in
    /// the row's `missing_files`, and `file_status` is `complete`, `missing_readme` (only the
    /// README is absent) or `missing_files`. An empty list makes every worktree `complete`.
    pub required_files: Vec<String>,
}

impl AuditConfig {
    /// A config with the default skip list, automatic parallelism and the public GitHub API.
    pub fn new(root: impl Into<PathBuf>, expected: Expected) -> Self {
        Self {
            root: root.into(),
            expected,
            skip: DEFAULT_SKIP.iter().map(|name| (*name).to_owned()).collect(),
            skip_hidden: true,
            parallelism: 0,
            github: GithubOptions::default(),
            required_files: DEFAULT_REQUIRED_FILES.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    fn threads(&self) -> usize {
        match self.parallelism {
            0 => std::thread::available_parallelism().map_or(2, |cores| cores.get() * 2),
            threads => threads,
        }
    }
}

/// Resolves `config.expected` into a list: fetches from GitHub, reads the file, or clones the list.
pub fn load_expected(config: &AuditConfig) -> Result<ExpectedList> {
    match &config.expected {
        Expected::Github(account) => fetch_github(account, &config.github),
        Expected::File(path) => read_expected_file(path),
        Expected::List(list) => Ok(list.clone()),
    }
}

/// One row to produce.
#[derive(Debug)]
enum Planned<'a> {
    /// A local folder, paired with its expected entry if it has one.
    Folder {
        /// The report's key: the expected name when paired, else the folder name.
        key: String,
        folder_name: String,
        path: PathBuf,
        expected: Option<&'a ExpectedRepo>,
    },
    /// An expected repository with no local folder.
    Missing(&'a ExpectedRepo),
}

impl Planned<'_> {
    fn key(&self) -> &str {
        match self {
            Self::Folder { key, .. } => key,
            Self::Missing(expected) => &expected.name,
        }
    }
}

/// One way of finding a folder's expected entry: folder name to index in the expected list.
type PairingPass<'a> = dyn Fn(&str) -> Option<usize> + 'a;

/// Lists the root and pairs its folders with the expected list.
///
/// A folder pairs with the expected entry of the same name; failing that, the same name ignoring
/// case; failing that, its name less a `.git` suffix (bare clones). Exact pairs are made first, so
/// the result does not depend on listing order.
fn plan<'a>(config: &AuditConfig, expected: &'a ExpectedList) -> Result<Vec<Planned<'a>>> {
    let root_error = |cause| Error::Root { path: config.root.clone(), cause };
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(&config.root).map_err(root_error)? {
        let entry = entry.map_err(root_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skipped = (config.skip_hidden && name.starts_with('.'))
            || config.skip.iter().any(|skip| skip.eq_ignore_ascii_case(&name));
        // `metadata` follows symlinks, so a link to a clone elsewhere is audited like the clone.
        if skipped || !std::fs::metadata(entry.path()).is_ok_and(|meta| meta.is_dir()) {
            continue;
        }
        folders.push((name, entry.path()));
    }
    folders.sort();

    let mut paired: Vec<Option<usize>> = vec![None; folders.len()];
    let mut claimed = vec![false; expected.repos.len()];
    let exact: HashMap<&str, usize> = expected
        .repos
        .iter()
        .enumerate()
        .map(|(index, repo)| (repo.name.as_str(), index))
        .collect();
    let folded: HashMap<String, usize> = expected
        .repos
        .iter()
        .enumerate()
        .map(|(index, repo)| (repo.name.to_lowercase(), index))
        .collect();
    let passes: [&PairingPass<'_>; 3] = [
        &|name| exact.get(name).copied(),
        &|name| folded.get(&name.to_lowercase()).copied(),
        &|name| {
            let stem = name
                .get(..name.len().checked_sub(4)?)
                .filter(|_| name.to_lowercase().ends_with(".git"))?;
            folded.get(&stem.to_lowercase()).copied()
        },
    ];
    for pass in passes {
        for (folder_index, (name, _)) in folders.iter().enumerate() {
            if paired[folder_index].is_some() {
                continue;
            }
            if let Some(index) = pass(name).filter(|index| !claimed[*index]) {
                claimed[index] = true;
                paired[folder_index] = Some(index);
            }
        }
    }

    let mut planned: Vec<Planned<'a>> = folders
        .into_iter()
        .zip(paired)
        .map(|((folder_name, path), pair)| {
            let expected = pair.map(|index| &expected.repos[index]);
            let key = expected.map_or_else(|| folder_name.clone(), |repo| repo.name.clone());
            Planned::Folder { key, folder_name, path, expected }
        })
        .collect();
    planned.extend(
        expected
            .repos
            .iter()
            .zip(claimed)
            .filter(|(_, claimed)| !claimed)
            .map(|(repo, _)| Planned::Missing(repo)),
    );
    Ok(planned)
}

/// Produces one row. A panic while reading one repository (a bug, in this crate or libgit2)
/// becomes that row's `error` rather than the end of the whole audit.
fn evaluate(planned: &Planned<'_>, now_seconds: i64, required_files: &[String]) -> Repo {
    let read = || match planned {
        Planned::Folder { key, path, expected, .. } => {
            let local = inspect::inspect(path, required_files);
            classify::local(key, path, &local, *expected, now_seconds)
        }
        Planned::Missing(expected) => classify::missing(expected),
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)).unwrap_or_else(|_| match planned {
        Planned::Folder { key, path, expected, .. } => {
            let local =
                inspect::Local::Broken("internal error while reading this repository".into());
            classify::local(key, path, &local, *expected, now_seconds)
        }
        Planned::Missing(expected) => classify::missing(expected),
    })
}

/// Audits every folder of `config.root` against `expected` and builds the report.
///
/// Repositories are read on `config.parallelism` threads. The report's repositories are sorted
/// by name; `summary` and `health_status` are computed from them.
///
/// Fails only when the root itself cannot be listed.
pub fn audit(config: &AuditConfig, expected: &ExpectedList) -> Result<Report> {
    let now = jiff::Timestamp::now();
    let planned = plan(config, expected)?;
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<(usize, Repo)>> = Mutex::new(Vec::with_capacity(planned.len()));
    let threads = config.threads().clamp(1, planned.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(row) = planned.get(index) else { break };
                    mine.push((index, evaluate(row, now.as_second(), &config.required_files)));
                }
                // A poisoned lock only means another worker panicked; its rows are lost, ours are fine.
                rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(mine);
            });
        }
    });
    let mut repos: Vec<Repo> = rows
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|(_, repo)| repo)
        .collect();
    repos.sort_by(|a, b| {
        a.name.to_lowercase().cmp(&b.name.to_lowercase()).then_with(|| a.name.cmp(&b.name))
    });
    Ok(build_report(config, expected, repos, now))
}

/// Re-audits the one repository the report knows as `name` (its report key or its folder name),
/// exactly as [`audit`] would: for the live path, when one clone's `.git` changes.
///
/// Returns `None` when `name` is neither a local folder nor expected, so the caller removes it
/// from the report. Lists the root (cheap, no git) so that pairing matches a full audit.
pub fn audit_one(
    config: &AuditConfig,
    name: &str,
    expected: &ExpectedList,
) -> Result<Option<Repo>> {
    let now = jiff::Timestamp::now();
    let planned = plan(config, expected)?;
    let row = planned.iter().find(|row| row.key() == name).or_else(|| {
        planned
            .iter()
            .find(|row| matches!(row, Planned::Folder { folder_name, .. } if folder_name == name))
    });
    Ok(row.map(|row| evaluate(row, now.as_second(), &config.required_files)))
}

fn build_report(
    config: &AuditConfig,
    expected: &ExpectedList,
    repos: Vec<Repo>,
    now: jiff::Timestamp,
) -> Report {
    let mitigation_actions: BTreeMap<String, String> = classify::MITIGATION_ACTIONS
        .iter()
        .map(|(key, text)| ((*key).to_owned(), (*text).to_owned()))
        .collect();
    let mut extra = serde_json::Map::new();
    extra.insert(
        "generated_by".into(),
        concat!("gitops-live audit ", env!("CARGO_PKG_VERSION")).into(),
    );
    let mut report = Report {
        timestamp: Some(Timestamp::from_unix_seconds(now.as_second())),
        mitigation_actions,
        local_git_root: Some(config.root.to_string_lossy().into_owned()),
        local_scan_active: Some(true),
        github_user: expected.github_account.clone(),
        repos,
        extra,
        ..Report::default()
    };
    report.health_status = Some(report.computed_health());
    report.summary = Some(report.computed_summary());
    report
}
