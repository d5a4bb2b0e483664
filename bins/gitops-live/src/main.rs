//! gitops-live: a live dashboard for a homelab's GitOps audit report.
//!
//! Subcommands: `check` (read a report and print what is wrong with it), `serve` (watch a report
//! and push every change to browsers), `demo` (serve a bundled sample that changes by itself) and
//! `audit` (scan a folder of git repositories and write a report).

mod check;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Live dashboard for a homelab's GitOps audit report, pushed over WebSockets.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a report, print its summary and every finding; exit 1 when it cannot be parsed.
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
