//! gitops-live: a live dashboard for a homelab's GitOps audit report.
//!
//! Subcommands: `demo` (serve a bundled sample that changes by itself), `serve` (watch a report
//! and push every change to browsers, or audit clones in-process), `check` (read a report and
//! print what is wrong with it) and `audit` (scan clones and write a report).

mod assets;
mod audit_cmd;
mod check;
mod cli;
mod demo;
mod history;
mod import;
mod live_audit;
mod remediate;
mod serve;
mod state;

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
    Demo(Box<demo::DemoArgs>),
    /// Watch a report file and push every change to every open dashboard.
    Serve(Box<serve::ServeArgs>),
    /// Read a report, print its summary and every finding; exit 1 when it cannot be parsed.
    Check(check::CheckArgs),
    /// Scan a folder of git repositories, compare it with the expected list and write a report.
    Audit(Box<audit_cmd::AuditArgs>),
}

/// Whether the log is coloured: only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>). A log sent to a file, a pipe or the
/// journal is plain text.
fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = log_colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// Every flag of every subcommand, as `(command path, flag name)`, with whether it has an
    /// environment variable.
    fn flags(command: &clap::Command, path: &str, out: &mut Vec<(String, String, bool)>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_positional() || id == "help" || id == "version" {
                continue;
            }
            let name = arg.get_long().map_or_else(|| id.to_owned(), |long| format!("--{long}"));
            out.push((path.to_owned(), name, arg.get_env().is_some()));
        }
        for sub in command.get_subcommands() {
            flags(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_of_every_subcommand_has_an_environment_variable() {
        let mut all = Vec::new();
        flags(&Cli::command(), "gitops-live", &mut all);
        let without: Vec<String> = all
            .iter()
            .filter(|(_, _, has_env)| !has_env)
            .map(|(path, name, _)| format!("{path} {name}"))
            .collect();
        assert!(without.is_empty(), "flags without an environment variable: {without:?}");
        // The walk reached every subcommand, flattened options included.
        for flag in
            ["--audit-skip", "--skip", "--history-keep", "--max-report-bytes", "--drain-window"]
        {
            assert!(all.iter().any(|(_, name, _)| name == flag), "{flag} not found");
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn list_defaults_are_shown_as_they_are_typed() {
        let mut command = Cli::command();
        let help = command
            .find_subcommand_mut("audit")
            .expect("audit exists")
            .render_long_help()
            .to_string();
        assert!(help.contains("[default: temp,tmp,cache,logs,output]"), "{help}");
        let parsed = Cli::try_parse_from([
            "gitops-live",
            "audit",
            "--root",
            "r",
            "--expected",
            "e",
            "--out",
            "o",
        ])
        .expect("parses");
        let Command::Audit(args) = parsed.command else { panic!("audit") };
        assert_eq!(args.audit.skip, gitops_audit::DEFAULT_SKIP);
        let parsed = Cli::try_parse_from([
            "gitops-live",
            "serve",
            "--report",
            "r",
            "--audit-root",
            "d",
            "--audit-expected",
            "e",
            "--audit-skip",
            "a,b",
            "--audit-required-files",
            "README,.gitignore",
            "--drain-window",
            "0s",
        ])
        .expect("parses");
        let Command::Serve(args) = parsed.command else { panic!("serve") };
        assert_eq!(args.audit.skip, ["a", "b"]);
        assert_eq!(args.audit.required_files, ["README", ".gitignore"]);
        assert_eq!(args.server.drain_window, std::time::Duration::ZERO);
    }

    #[test]
    fn old_flag_spellings_still_work() {
        let parsed = Cli::try_parse_from([
            "gitops-live",
            "serve",
            "--report",
            "r",
            "--debounce-ms",
            "20",
            "--poll-interval-ms",
            "250",
        ])
        .expect("parses");
        let Command::Serve(args) = parsed.command else { panic!("serve") };
        assert_eq!(args.debounce_ms, Some(std::time::Duration::from_millis(20)));
        assert_eq!(args.poll_interval_ms, Some(std::time::Duration::from_millis(250)));
        let parsed = Cli::try_parse_from(["gitops-live", "check", "--max-bytes", "1000", "f"])
            .expect("parses");
        let Command::Check(args) = parsed.command else { panic!("check") };
        assert_eq!(args.max_report_bytes, 1000);
        assert!(
            Cli::try_parse_from([
                "gitops-live",
                "serve",
                "--report",
                "r",
                "--audit-interval",
                "0s"
            ])
            .is_err()
        );
        assert!(
            Cli::try_parse_from(["gitops-live", "serve", "--report", "r", "--audit-skip", "x"])
                .is_ok(),
            "skip has a default, so it needs no root"
        );
        assert!(
            Cli::try_parse_from(["gitops-live", "serve", "--report", "r", "--audit-expected", "x"])
                .is_err(),
            "needs --audit-root"
        );
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(log_colour(true, None));
        assert!(log_colour(true, Some(OsStr::new(""))));
        assert!(!log_colour(true, Some(OsStr::new("1"))));
        assert!(!log_colour(false, None));
    }
}
