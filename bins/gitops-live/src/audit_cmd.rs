//! `gitops-live audit`: scan a folder of git repositories, compare it with the expected list and
//! write the report (atomically, and optionally into a history folder).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{AuditCommand, AuditOptions};

/// Arguments of `gitops-live audit`.
#[derive(Debug, clap::Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    pub(crate) audit: AuditOptions<AuditCommand>,
    /// Where to write the report (replaced atomically).
    #[arg(long, env = "GITOPS_AUDIT_OUT", value_name = "PATH")]
    pub(crate) out: PathBuf,
    /// Also write `DIR/<timestamp>.json` and point `DIR/latest.json` at it.
    #[arg(long, env = "GITOPS_AUDIT_HISTORY", value_name = "DIR")]
    pub(crate) history: Option<PathBuf>,
    /// With --history: keep the newest N snapshots (and the one latest.json points at) and
    /// delete older ones; 0 keeps every snapshot.
    #[arg(long, env = "GITOPS_AUDIT_HISTORY_KEEP", value_name = "N", default_value_t = 30)]
    pub(crate) history_keep: usize,
}

/// Runs the audit and writes the report. Exits 0 whatever the report's health: a red report is a
/// result, not a failure; only a failed listing, scan or write exits non-zero.
pub(crate) fn run(args: &AuditArgs) -> anyhow::Result<ExitCode> {
    let config = args.audit.config()?.context("give --root: the folder of clones to audit")?;
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
        let pruned = gitops_audit::prune_history(history, args.history_keep)?;
        if !pruned.is_empty() {
            eprintln!(
                "deleted {} old snapshots, keeping the newest {}",
                pruned.len(),
                args.history_keep
            );
        }
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
