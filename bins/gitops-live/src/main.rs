//! gitops-live: a live dashboard for a homelab's GitOps audit report.
//!
//! Subcommands: `demo` (serve a bundled sample that changes by itself), `serve` (watch a report
//! and push every change to browsers, or audit clones in-process), `check` (read a report and
//! print what is wrong with it) and `audit` (scan clones and write a report).

mod assets;
mod audit_cmd;
mod check;
mod demo;
mod live_audit;
mod serve;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Live dashboard for a homelab's GitOps audit report, pushed over WebSockets.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `gitops_transport=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the bundled sample report, changed by a simulator about every second: the
    /// quickest way to see the dashboard live.
    Demo(demo::DemoArgs),
    /// Watch a report file and push every change to every open dashboard.
    Serve(serve::ServeArgs),
    /// Read a report, print its summary and every finding; exit 1 when it cannot be parsed.
    Check(check::CheckArgs),
    /// Scan a folder of git repositories, compare it with the expected list and write a report.
    Audit(audit_cmd::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let result = match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(args),
        Command::Audit(args) => audit_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
