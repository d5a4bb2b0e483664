//! What every subcommand's flags share: one duration syntax, and the auditor's options, defined
//! once for `audit` and `serve --audit-*`.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use gitops_audit::{AuditConfig, Expected, GITHUB_API, GithubAccount, Token};

/// Reads a duration: a whole number and a unit, `ms`, `s`, `m` or `h` (`250ms`, `30s`, `5m`,
/// `1h`); a bare number is seconds. Zero is allowed (`0s`); flags where it makes no sense use
/// [`positive_duration`].
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    parse_duration(text, Unit::Seconds)
}

/// [`duration`], refusing zero.
pub(crate) fn positive_duration(text: &str) -> Result<Duration, String> {
    nonzero(duration(text)?)
}

/// [`positive_duration`] for the older `…-ms` flags, where a bare number is milliseconds.
pub(crate) fn positive_millis(text: &str) -> Result<Duration, String> {
    nonzero(parse_duration(text, Unit::Millis)?)
}

/// [`duration`] for the older `…-ms` flags, where a bare number is milliseconds.
pub(crate) fn millis(text: &str) -> Result<Duration, String> {
    parse_duration(text, Unit::Millis)
}

#[derive(Debug, Clone, Copy)]
enum Unit {
    Millis,
    Seconds,
}

fn nonzero(duration: Duration) -> Result<Duration, String> {
    if duration.is_zero() {
        return Err("must be longer than zero".to_owned());
    }
    Ok(duration)
}

fn parse_duration(text: &str, bare: Unit) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 250ms, 30s, 5m or 1h"))?;
    let millis_per_unit: u64 = match (unit.trim(), bare) {
        ("", Unit::Millis) | ("ms", _) => 1,
        ("", Unit::Seconds) | ("s", _) => 1_000,
        ("m", _) => 60_000,
        ("h", _) => 3_600_000,
        (other, _) => return Err(format!("{text:?}: unknown unit {other:?}; use ms, s, m or h")),
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// The long names the auditor's options have in one subcommand: `audit --root` is
/// `serve --audit-root`. Environment variables are the same in both (`GITOPS_AUDIT_ROOT`).
pub(crate) trait AuditFlagNames: Clone + Send + Sync + 'static {
    const ROOT: &'static str;
    const EXPECTED: &'static str;
    const GITHUB_USER: &'static str;
    const GITHUB_ORG: &'static str;
    const GITHUB_API: &'static str;
    const GITHUB_TOKEN_FILE: &'static str;
    const SKIP: &'static str;
    const INCLUDE_HIDDEN: &'static str;
    const PARALLELISM: &'static str;
    const REQUIRED_FILES: &'static str;
    /// Whether the root must be given (`audit`), or turns the mode on (`serve`).
    const ROOT_REQUIRED: bool;
}

/// The names in `gitops-live audit`.
#[derive(Debug, Clone)]
pub(crate) struct AuditCommand;

impl AuditFlagNames for AuditCommand {
    const ROOT: &'static str = "root";
    const EXPECTED: &'static str = "expected";
    const GITHUB_USER: &'static str = "github-user";
    const GITHUB_ORG: &'static str = "github-org";
    const GITHUB_API: &'static str = "github-api";
    const GITHUB_TOKEN_FILE: &'static str = "github-token-file";
    const SKIP: &'static str = "skip";
    const INCLUDE_HIDDEN: &'static str = "include-hidden";
    const PARALLELISM: &'static str = "parallelism";
    const REQUIRED_FILES: &'static str = "required-files";
    const ROOT_REQUIRED: bool = true;
}

/// The names in `gitops-live serve`, where they all start with `audit-`.
#[derive(Debug, Clone)]
pub(crate) struct ServeCommand;

impl AuditFlagNames for ServeCommand {
    const ROOT: &'static str = "audit-root";
    const EXPECTED: &'static str = "audit-expected";
    const GITHUB_USER: &'static str = "audit-github-user";
    const GITHUB_ORG: &'static str = "audit-github-org";
    const GITHUB_API: &'static str = "audit-github-api";
    const GITHUB_TOKEN_FILE: &'static str = "audit-github-token-file";
    const SKIP: &'static str = "audit-skip";
    const INCLUDE_HIDDEN: &'static str = "audit-include-hidden";
    const PARALLELISM: &'static str = "audit-parallelism";
    const REQUIRED_FILES: &'static str = "audit-required-files";
    const ROOT_REQUIRED: bool = false;
}

/// [`gitops_audit::DEFAULT_SKIP`] as the flag reads it (a test keeps the two equal).
const DEFAULT_SKIP: &str = "temp,tmp,cache,logs,output";

/// [`gitops_audit::DEFAULT_REQUIRED_FILES`] as the flag reads it (a test keeps the two equal).
const DEFAULT_REQUIRED_FILES: &str = "README";

/// The auditor's options: what to scan, what to compare it with, and how. The same struct is
/// flattened into `audit` and `serve`, with the names of `N`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct AuditOptions<N: AuditFlagNames> {
    /// The folder whose top-level folders are the local clones. For `serve`: audit them
    /// in-process and write the report to --report, instead of watching a report another job writes.
    #[arg(long = N::ROOT, env = "GITOPS_AUDIT_ROOT", value_name = "DIR", required = N::ROOT_REQUIRED)]
    pub(crate) root: Option<PathBuf>,
    /// The expected repositories from a file: one name, owner/name or URL per line, # comments.
    #[arg(
        long = N::EXPECTED,
        env = "GITOPS_AUDIT_EXPECTED",
        value_name = "FILE",
        requires = "root",
        conflicts_with_all = ["github_user", "github_org"]
    )]
    pub(crate) expected: Option<PathBuf>,
    /// Expect the repositories of this GitHub user.
    #[arg(
        long = N::GITHUB_USER,
        env = "GITOPS_AUDIT_GITHUB_USER",
        value_name = "NAME",
        requires = "root",
        conflicts_with = "github_org"
    )]
    pub(crate) github_user: Option<String>,
    /// Expect the repositories of this GitHub organisation.
    #[arg(long = N::GITHUB_ORG, env = "GITOPS_AUDIT_GITHUB_ORG", value_name = "NAME", requires = "root")]
    pub(crate) github_org: Option<String>,
    /// The GitHub API's base URL (GitHub Enterprise, or a test server).
    #[arg(long = N::GITHUB_API, env = "GITOPS_AUDIT_GITHUB_API", value_name = "URL", default_value = GITHUB_API)]
    pub(crate) github_api: String,
    /// A file holding a GitHub token; without it the GITHUB_TOKEN environment variable is used.
    #[arg(
        long = N::GITHUB_TOKEN_FILE,
        env = "GITOPS_AUDIT_GITHUB_TOKEN_FILE",
        value_name = "FILE",
        requires = "root"
    )]
    pub(crate) github_token_file: Option<PathBuf>,
    /// Top-level folder names not to audit, comma-separated (replaces the default list).
    #[arg(
        long = N::SKIP,
        env = "GITOPS_AUDIT_SKIP",
        value_name = "NAMES",
        value_delimiter = ',',
        default_value = DEFAULT_SKIP
    )]
    pub(crate) skip: Vec<String>,
    /// Also audit folders whose names start with a dot.
    #[arg(long = N::INCLUDE_HIDDEN, env = "GITOPS_AUDIT_INCLUDE_HIDDEN", requires = "root")]
    pub(crate) include_hidden: bool,
    /// Repositories read at once (0: twice the cores).
    #[arg(long = N::PARALLELISM, env = "GITOPS_AUDIT_PARALLELISM", value_name = "N", default_value_t = 0)]
    pub(crate) parallelism: usize,
    /// Files every clone should have, comma-separated; the absent ones make its file status
    /// "missing files" ("missing README" when only the README is absent). A name without a dot
    /// matches any case and extension (README matches readme.md, LICENSE matches LICENSE-MIT);
    /// a name with a dot matches as written (.gitignore); an empty value requires nothing.
    #[arg(
        long = N::REQUIRED_FILES,
        env = "GITOPS_AUDIT_REQUIRED_FILES",
        value_name = "NAMES",
        value_delimiter = ',',
        default_value = DEFAULT_REQUIRED_FILES
    )]
    pub(crate) required_files: Vec<String>,
    #[arg(skip)]
    names: PhantomData<N>,
}

impl<N: AuditFlagNames> AuditOptions<N> {
    /// The auditor's configuration, or `None` when no root is given (`serve` then watches a file).
    pub(crate) fn config(&self) -> anyhow::Result<Option<AuditConfig>> {
        let Some(root) = &self.root else { return Ok(None) };
        let expected = match (&self.expected, &self.github_user, &self.github_org) {
            (Some(file), None, None) => Expected::File(file.clone()),
            (None, Some(user), None) => Expected::Github(GithubAccount::User(user.clone())),
            (None, None, Some(org)) => Expected::Github(GithubAccount::Org(org.clone())),
            _ => anyhow::bail!(
                "give one of --{}, --{} or --{}: the repositories that should exist",
                N::EXPECTED,
                N::GITHUB_USER,
                N::GITHUB_ORG
            ),
        };
        // Absolute, so the report's `local_path`s mean something to whoever reads it elsewhere.
        let root = std::path::absolute(root)
            .with_context(|| format!("bad --{} {}", N::ROOT, root.display()))?;
        let mut config = AuditConfig::new(root, expected);
        config.skip = self.skip.iter().filter(|name| !name.is_empty()).cloned().collect();
        config.skip_hidden = !self.include_hidden;
        config.parallelism = self.parallelism;
        config.required_files = self
            .required_files
            .iter()
            .map(|name| name.trim())
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        config.github.api_base.clone_from(&self.github_api);
        config.github.token = match &self.github_token_file {
            Some(path) => Some(Token::read_file(path)?),
            None => Token::from_env(),
        };
        Ok(Some(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_ms_s_m_h_and_bare_numbers_in_the_flags_unit() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration(" 5m "), Ok(Duration::from_secs(300)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7_200)));
        assert_eq!(duration("300"), Ok(Duration::from_secs(300)));
        assert_eq!(millis("300"), Ok(Duration::from_millis(300)));
        assert_eq!(millis("2s"), Ok(Duration::from_secs(2)));
    }

    #[test]
    fn zero_is_allowed_only_where_it_means_something() {
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert_eq!(millis("0"), Ok(Duration::ZERO));
        assert!(positive_duration("0s").is_err());
        assert!(positive_duration("0ms").is_err());
        assert!(positive_millis("0").is_err());
        assert_eq!(positive_millis("5"), Ok(Duration::from_millis(5)));
    }

    #[test]
    fn bad_durations_say_what_is_expected() {
        for bad in ["", "s", "5 minutes", "1.5s", "-1s", "5d", "99999999999999999999h"] {
            assert!(duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(duration("5d").expect_err("no such unit").contains("use ms, s, m or h"));
        assert!(duration("soon").expect_err("no number").contains("250ms, 30s, 5m or 1h"));
    }

    #[test]
    fn flag_defaults_are_the_auditors_defaults() {
        assert_eq!(DEFAULT_SKIP, gitops_audit::DEFAULT_SKIP.join(","));
        assert_eq!(DEFAULT_REQUIRED_FILES, gitops_audit::DEFAULT_REQUIRED_FILES.join(","));
    }
}
