//! `gitops-live audit`: scan a folder of git repositories, compare it with the expected list and
//! write the report (atomically, and optionally into a history folder).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use gitops_audit::{AuditConfig, DEFAULT_SKIP, Expected, GITHUB_API, GithubAccount, Token};

/// Arguments of `gitops-live audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    /// The folder whose top-level folders are the local clones.
    #[arg(long, value_name = "DIR")]
    pub(crate) root: PathBuf,
    #[command(flatten)]
    pub(crate) source: ExpectedSource,
    /// Where to write the report (replaced atomically).
    #[arg(long, value_name = "PATH")]
    pub(crate) out: PathBuf,
    /// Also write `DIR/<timestamp>.json` and point `DIR/latest.json` at it.
    #[arg(long, value_name = "DIR")]
    pub(crate) history: Option<PathBuf>,
    /// The GitHub API's base URL (GitHub Enterprise, or a test server).
    #[arg(long, value_name = "URL", default_value = GITHUB_API)]
    pub(crate) github_api: String,
    /// A file holding a GitHub token; otherwise the GITHUB_TOKEN environment variable is used.
    #[arg(long, value_name = "FILE")]
    pub(crate) github_token_file: Option<PathBuf>,
    /// Top-level folder names not to audit, comma-separated (replaces the default list).
    #[arg(long, value_name = "NAMES", value_delimiter = ',', default_values_t = DEFAULT_SKIP.map(String::from))]
    pub(crate) skip: Vec<String>,
    /// Also audit folders whose names start with a dot.
    #[arg(long)]
    pub(crate) include_hidden: bool,
    /// Repositories read at once (0: twice the cores).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) parallelism: usize,
}

/// Where the expected list comes from: exactly one of these.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ExpectedSource {
    /// List the repositories of this GitHub user.
    #[arg(long, value_name = "NAME")]
    pub(crate) github_user: Option<String>,
    /// List the repositories of this GitHub organisation.
    #[arg(long, value_name = "NAME")]
    pub(crate) github_org: Option<String>,
    /// Read the expected repositories from a file: one name, owner/name or URL per line, # comments.
    #[arg(long, value_name = "FILE")]
    pub(crate) expected: Option<PathBuf>,
}

/// Runs the audit and writes the report. Exits 0 whatever the report's health: a red report is a
/// result, not a failure; only a failed listing, scan or write exits non-zero.
pub(crate) fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let expected = match (&args.source.github_user, &args.source.github_org, &args.source.expected)
    {
        (Some(user), _, _) => Expected::Github(GithubAccount::User(user.clone())),
        (_, Some(org), _) => Expected::Github(GithubAccount::Org(org.clone())),
        (_, _, Some(file)) => Expected::File(file.clone()),
        (None, None, None) => {
            anyhow::bail!("give one of --github-user, --github-org or --expected")
        }
    };
    // Absolute, so the report's `local_path`s mean something to whoever reads it elsewhere.
    let root = std::path::absolute(&args.root)
        .with_context(|| format!("bad --root {}", args.root.display()))?;
    let mut config = AuditConfig::new(root, expected);
    config.skip.clone_from(&args.skip);
    config.skip_hidden = !args.include_hidden;
    config.parallelism = args.parallelism;
    config.github.api_base.clone_from(&args.github_api);
    config.github.token = match &args.github_token_file {
        Some(path) => Some(Token::read_file(path)?),
        None => Token::from_env(),
    };

    let started = std::time::Instant::now();
    let list = gitops_audit::load_expected(&config).context("cannot get the expected list")?;
    let report = gitops_audit::audit(&config, &list)?;
    if let Some(parent) = args.out.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    gitops_audit::write_report_atomic(&args.out, &report)?;
    if let Some(history) = &args.history {
        let snapshot = gitops_audit::write_history(history, &report)?;
        eprintln!("snapshot: {}", snapshot.display());
    }

    let health = report.health_status.as_ref().map_or("unknown", |health| health.as_str());
    let summary = report.summary.clone().unwrap_or_default();
    eprintln!(
        "audited {} repositories in {:.2} s: {health} ({} missing, {} extra, {} dirty, {} mismatched, {} clean); wrote {}",
        summary.total,
        started.elapsed().as_secs_f64(),
        summary.missing,
        summary.extra,
        summary.dirty,
        summary.mismatched.unwrap_or(0),
        summary.clean,
        args.out.display(),
    );
    for repo in report.repos.iter().filter(|repo| repo.extra.contains_key("error")) {
        if let Some(error) = repo.extra.get("error").and_then(|error| error.as_str()) {
            eprintln!("  {}: {error}", repo.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
