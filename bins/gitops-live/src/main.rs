//! gitops-live: a live dashboard for a homelab's GitOps audit report.
//!
//! Subcommands: `demo` (serve a bundled sample that changes by itself), `serve` (watch a report
//! and push every change to browsers, or audit clones in-process), `check` (read a report and
//! print what is wrong with it), `audit` (scan clones and write a report), `status` (a running
//! server's health, for scripts) and `config` (check the config file).

mod action_log;
mod assets;
mod audit_cmd;
mod check;
mod cli;
mod config;
mod demo;
mod engine;
mod history;
mod import;
mod live_audit;
mod notifications;
mod outbox;
mod remediate;
mod serve;
mod state;
mod status_cmd;
mod watch_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Live dashboard for a homelab's GitOps audit report, pushed over WebSockets.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info`, `debug`, `gitops_transport=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info", global = true)]
    log: String,
    /// A TOML file of settings for serve, demo and audit (flags and environment variables
    /// override it; `none` reads none). [default: the first that exists of
    /// $XDG_CONFIG_HOME/gitops-live/config.toml and /etc/gitops-live/config.toml]
    #[arg(long, env = "GITOPS_CONFIG", global = true, value_name = "FILE|none")]
    config: Option<PathBuf>,
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
    /// Print the report's health and what needs attention, from a running server; exit 0
    /// green, 1 yellow, 2 red, 3 unreachable or not signed in (for scripts and cron).
    Status(status_cmd::StatusArgs),
    /// A live terminal view of a running server: health, repositories by status, the latest
    /// changes, and whether the view is live (`q` quits).
    Watch(watch_cmd::WatchArgs),
    /// Work with the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check a config file: every key known, every value valid (exit 1 with each problem and
    /// its line and column otherwise).
    Check {
        /// The file.
        file: PathBuf,
    },
    /// Print where the config file is looked for, and which one would be read.
    Where,
}

/// Whether the log is coloured: only on a terminal, and never when `NO_COLOR` is set to
/// anything but the empty string (<https://no-color.org>). A log sent to a file, a pipe or the
/// journal is plain text.
fn log_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// `gitops-live config check FILE`.
fn config_check(file: &std::path::Path) -> anyhow::Result<ExitCode> {
    let parsed = config::read(file)?;
    let problems = config::check(&parsed.settings, &<Cli as clap::CommandFactory>::command());
    if problems.is_empty() {
        println!("{}: {} settings, all valid", file.display(), parsed.settings.len());
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &problems {
        println!("{}:{problem}", file.display());
    }
    Ok(ExitCode::FAILURE)
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let (args, config_file) = match config::expand(args, &<Cli as clap::CommandFactory>::command())
    {
        Ok(expanded) => expanded,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(args);
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
    if let Some(path) = &config_file {
        tracing::info!("settings from {}", path.display());
    }
    let result = match &cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Check(args) => check::run(args),
        Command::Audit(args) => audit_cmd::run(args),
        Command::Status(args) => status_cmd::run(args),
        Command::Watch(args) => watch_cmd::run(args),
        Command::Config(ConfigCommand::Check { file }) => config_check(file),
        Command::Config(ConfigCommand::Where) => {
            for path in config::default_paths() {
                let found = if path.is_file() { "  (exists)" } else { "" };
                println!("{}{found}", path.display());
            }
            let given = cli.config.iter().map(|path| path.clone().into_os_string());
            let args: Vec<std::ffi::OsString> =
                given.flat_map(|path| [std::ffi::OsString::from("--config"), path]).collect();
            match config::locate(&args) {
                Some(path) => println!("reads {}", path.display()),
                None => println!("reads none"),
            }
            Ok(ExitCode::SUCCESS)
        }
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
