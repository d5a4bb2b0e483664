//! `gitops-live check`: parse a report and print its summary and findings.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `gitops-live check`.
#[derive(Debug, clap::Args)]
pub(crate) struct CheckArgs {
    /// The report file to read.
    pub(crate) report: PathBuf,
}

/// Runs the check; placeholder until the report crate's parser lands.
pub(crate) fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let _ = &args.report;
    Ok(ExitCode::SUCCESS)
}
