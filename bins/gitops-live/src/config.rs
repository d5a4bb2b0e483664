//! The config file: every flag of `serve`, `demo` and `audit` in one TOML file, so a homelab's
//! thirty settings live in `/etc/gitops-live/config.toml` instead of a unit file's command line.
//!
//! A key is a flag's long name (`bind`, `audit-root`, `operator-token-file`; `_` may stand for
//! `-`), at the top level or in a table whose name is the flag's first word (`[audit] root =`
//! is `audit-root`). Values are strings, numbers, booleans (for switches) or arrays (for flags
//! that repeat). Precedence: a flag on the command line, then its environment variable, then the
//! file, then the default. An unknown key or a bad value is an error that names the key and its
//! line and column; `gitops-live config check FILE` checks a file without starting anything.
//!
//! The file is found at `--config FILE` (or `GITOPS_CONFIG`), else the first that exists of
//! `$XDG_CONFIG_HOME/gitops-live/config.toml` (`~/.config/...`) and
//! `/etc/gitops-live/config.toml`. `GITOPS_CONFIG=none` reads none.
//!
//! It works on the argument list before clap parses it: each setting the command line and the
//! environment leave open becomes `--flag value`, so clap's own parsers check every value.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::ArgAction;
use toml_edit::{Document, Item, Table, Value};

/// The subcommands a config file configures.
pub(crate) const CONFIGURED: [&str; 3] = ["serve", "demo", "audit"];

/// One setting: its flag's long name, its values, and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Setting {
    pub(crate) key: String,
    pub(crate) values: Vec<SettingValue>,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// One value of a setting.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SettingValue {
    Text(String),
    Switch(bool),
}

/// A parsed config file.
#[derive(Debug)]
pub(crate) struct ConfigFile {
    pub(crate) settings: Vec<Setting>,
}

/// Reads and parses `path`.
pub(crate) fn read(path: &Path) -> anyhow::Result<ConfigFile> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the config file {}", path.display()))?;
    parse(&text)
        .map(|settings| ConfigFile { settings })
        .map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))
}

/// Parses config text into settings, or says what is wrong and where (`line:column: ...`).
pub(crate) fn parse(text: &str) -> anyhow::Result<Vec<Setting>> {
    let document = Document::parse(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |span| position(text, span.start));
        anyhow::anyhow!("{line}:{column}: {}", e.message())
    })?;
    let mut settings = Vec::new();
    collect(text, document.as_table(), "", &mut settings)?;
    Ok(settings)
}

fn collect(text: &str, table: &Table, prefix: &str, out: &mut Vec<Setting>) -> anyhow::Result<()> {
    for (key, item) in table.iter() {
        let span = table.key(key).and_then(toml_edit::Key::span).map_or(0, |s| s.start);
        let (line, column) = position(text, span);
        let name = format!("{prefix}{}", key.replace('_', "-").to_ascii_lowercase());
        match item {
            Item::Table(inner) if prefix.is_empty() => {
                collect(text, inner, &format!("{name}-"), out)?
            }
            Item::Table(_) => bail!("{line}:{column}: `{name}`: tables go one level deep"),
            Item::ArrayOfTables(_) => {
                bail!("{line}:{column}: `{name}`: arrays of tables are not settings")
            }
            Item::Value(value) => {
                let values = values(value)
                    .map_err(|why| anyhow::anyhow!("{line}:{column}: `{name}`: {why}"))?;
                out.push(Setting { key: name, values, line, column });
            }
            Item::None => {}
        }
    }
    Ok(())
}

fn values(value: &Value) -> Result<Vec<SettingValue>, String> {
    let one = |value: &Value| match value {
        Value::String(s) => Ok(SettingValue::Text(s.value().clone())),
        Value::Integer(i) => Ok(SettingValue::Text(i.value().to_string())),
        Value::Float(f) => Ok(SettingValue::Text(f.value().to_string())),
        Value::Boolean(b) => Ok(SettingValue::Switch(*b.value())),
        Value::Datetime(d) => Ok(SettingValue::Text(d.value().to_string())),
        Value::Array(_) => Err("an array inside an array is not a setting".to_owned()),
        Value::InlineTable(_) => Err("an inline table is not a setting".to_owned()),
    };
    match value {
        Value::Array(array) => array.iter().map(one).collect(),
        value => one(value).map(|v| vec![v]),
    }
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where the config file is, if there is one: `--config`, `GITOPS_CONFIG`, or the first default
/// that exists. `none` means none.
pub(crate) fn locate(args: &[OsString]) -> Option<PathBuf> {
    let given = flag_value(args, "config").or_else(|| std::env::var_os("GITOPS_CONFIG"));
    if let Some(given) = given {
        return (given != "none" && !given.is_empty()).then(|| PathBuf::from(given));
    }
    default_paths().into_iter().find(|path| path.is_file())
}

/// The default places, in order.
pub(crate) fn default_paths() -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")));
    if let Some(home) = config_home {
        paths.push(home.join("gitops-live/config.toml"));
    }
    paths.push(PathBuf::from("/etc/gitops-live/config.toml"));
    paths
}

/// The value of `--name VALUE` or `--name=VALUE` in `args`, if given.
fn flag_value(args: &[OsString], name: &str) -> Option<OsString> {
    let long = format!("--{name}");
    let prefix = format!("--{name}=");
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            return None;
        }
        if text == long {
            return iter.next().cloned();
        }
        if let Some(value) = text.strip_prefix(&prefix) {
            return Some(OsString::from(value));
        }
    }
    None
}

/// Whether `args` names flag `--name` (alone or with `=`).
fn has_flag(args: &[OsString], name: &str) -> bool {
    let long = format!("--{name}");
    let prefix = format!("--{name}=");
    args.iter()
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| a == long || a.starts_with(&prefix))
}

/// The subcommand `args` runs (its position and name), if it is one a config file configures.
fn configured_subcommand(args: &[OsString]) -> Option<(usize, String)> {
    args.iter()
        .enumerate()
        .skip(1)
        .find_map(|(i, arg)| {
            let text = arg.to_string_lossy();
            if text.starts_with('-') {
                return None;
            }
            Some((i, text.into_owned()))
        })
        .filter(|(_, name)| CONFIGURED.contains(&name.as_str()))
}

/// Checks every setting against the flags of the configured subcommands: unknown keys and bad
/// values are errors with their line and column.
pub(crate) fn check(settings: &[Setting], cli: &clap::Command) -> Vec<String> {
    let mut problems = Vec::new();
    for setting in settings {
        let mut known = false;
        for sub in CONFIGURED {
            let Some(command) = cli.find_subcommand(sub) else { continue };
            let Some(arg) = find_arg(command, &setting.key) else { continue };
            known = true;
            if let Err(why) = validate(command, arg, setting) {
                problems
                    .push(format!("{}:{}: `{}`: {why}", setting.line, setting.column, setting.key));
            }
            break;
        }
        if !known {
            let hint = suggestion(cli, &setting.key)
                .map(|s| format!(" (did you mean `{s}`?)"))
                .unwrap_or_default();
            problems.push(format!(
                "{}:{}: unknown key `{}`{hint}",
                setting.line, setting.column, setting.key
            ));
        }
    }
    problems
}

fn find_arg<'a>(command: &'a clap::Command, key: &str) -> Option<&'a clap::Arg> {
    command.get_arguments().find(|arg| {
        arg.get_long() == Some(key)
            && !matches!(arg.get_action(), ArgAction::Help | ArgAction::Version)
    })
}

/// The closest known key, when one is close.
fn suggestion(cli: &clap::Command, key: &str) -> Option<String> {
    CONFIGURED
        .iter()
        .filter_map(|sub| cli.find_subcommand(sub))
        .flat_map(|command| command.get_arguments().filter_map(clap::Arg::get_long))
        .map(|long| (strsim_distance(key, long), long))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, long)| long.to_owned())
}

/// Levenshtein distance, for suggestions.
fn strsim_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

/// The command-line words a setting stands for under `arg`.
fn words(arg: &clap::Arg, setting: &Setting) -> Result<Vec<OsString>, String> {
    let long = format!("--{}", arg.get_long().unwrap_or_default());
    let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    let repeats =
        matches!(arg.get_action(), ArgAction::Append) || arg.get_value_delimiter().is_some();
    if setting.values.len() > 1 && !repeats {
        return Err("takes one value, not a list".to_owned());
    }
    let mut out = Vec::new();
    for value in &setting.values {
        match (value, switch) {
            (SettingValue::Switch(true), true) => out.push(OsString::from(&long)),
            (SettingValue::Switch(false), true) => {}
            (SettingValue::Text(_), true) => {
                return Err("is a switch: write true or false".to_owned());
            }
            (SettingValue::Switch(b), false) => {
                out.push(OsString::from(&long));
                out.push(OsString::from(b.to_string()));
            }
            (SettingValue::Text(text), false) => {
                out.push(OsString::from(&long));
                out.push(OsString::from(text));
            }
        }
    }
    Ok(out)
}

/// Runs clap's parser for `arg` on the setting alone (other required flags relaxed).
fn validate(command: &clap::Command, arg: &clap::Arg, setting: &Setting) -> Result<(), String> {
    let words = words(arg, setting)?;
    let probe = command
        .clone()
        .mut_args(|a| a.required(false))
        .subcommand_required(false)
        .no_binary_name(true);
    match probe.try_get_matches_from(words) {
        Ok(_) => Ok(()),
        // Flags that need others (`audit-expected` needs `audit-root`) are checked when the
        // command runs with all of its settings; here only the value counts.
        Err(e) if e.kind() == clap::error::ErrorKind::MissingRequiredArgument => Ok(()),
        Err(e) => Err(e),
    }
    .map_err(|e| {
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
        first.to_owned()
    })
}

/// `args` with the config file's settings added after the subcommand's name, for every flag the
/// command line and the environment leave open, and the file read. Errors on a bad file, an
/// unknown key or a bad value. Arguments of other commands, or without a file, come back
/// unchanged.
pub(crate) fn expand(
    args: Vec<OsString>,
    cli: &clap::Command,
) -> anyhow::Result<(Vec<OsString>, Option<PathBuf>)> {
    let Some((position, sub)) = configured_subcommand(&args) else { return Ok((args, None)) };
    let Some(path) = locate(&args) else { return Ok((args, None)) };
    let file = read(&path)?;
    let problems = check(&file.settings, cli);
    if !problems.is_empty() {
        bail!(
            "the config file {} has {}:\n  {}",
            path.display(),
            if problems.len() == 1 {
                "a problem".to_owned()
            } else {
                format!("{} problems", problems.len())
            },
            problems.join("\n  ")
        );
    }
    let Some(command) = cli.find_subcommand(&sub) else { return Ok((args, None)) };
    let mut added = Vec::new();
    for setting in &file.settings {
        // A key of another subcommand (`audit-interval` while running `demo`) is not this one's.
        let Some(arg) = find_arg(command, &setting.key) else { continue };
        let long = arg.get_long().unwrap_or_default();
        let from_env = arg.get_env().is_some_and(|name| std::env::var_os(name).is_some());
        if has_flag(&args[position + 1..], long) || from_env {
            continue;
        }
        added.extend(words(arg, setting).map_err(|why| anyhow::anyhow!("{why}"))?);
    }
    let mut expanded = args;
    expanded.splice(position + 1..position + 1, added);
    Ok((expanded, Some(path)))
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use super::*;

    fn cli() -> clap::Command {
        crate::Cli::command()
    }

    #[test]
    fn keys_tables_and_values_become_settings_with_their_positions() {
        let text = "bind = \"0.0.0.0:3070\"\nforce_polling = true\n\n[audit]\nroot = \"/srv/git\"\nskip = [\"a\", \"b\"]\n";
        let settings = parse(text).expect("parses");
        let keys: Vec<(&str, usize, usize)> =
            settings.iter().map(|s| (s.key.as_str(), s.line, s.column)).collect();
        assert_eq!(
            keys,
            [("bind", 1, 1), ("force-polling", 2, 1), ("audit-root", 5, 1), ("audit-skip", 6, 1)]
        );
        assert_eq!(settings[3].values.len(), 2);
        assert_eq!(settings[1].values, [SettingValue::Switch(true)]);
        assert!(check(&settings, &cli()).is_empty(), "{:?}", check(&settings, &cli()));
    }

    #[test]
    fn an_unknown_key_or_a_bad_value_names_the_key_and_where() {
        let text =
            "bind = \"0.0.0.0:3070\"\n  bnd = 1\nmax-clients = \"many\"\nforce-polling = \"yes\"\n";
        let problems = check(&parse(text).expect("parses"), &cli());
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("2:3: unknown key `bnd`"), "{}", problems[0]);
        assert!(problems[0].contains("did you mean `bind`"), "{}", problems[0]);
        assert!(problems[1].starts_with("3:1: `max-clients`"), "{}", problems[1]);
        assert!(problems[2].contains("is a switch"), "{}", problems[2]);
        let broken = parse("bind = \n").expect_err("not TOML");
        assert!(broken.to_string().starts_with("1:"), "{broken}");
    }

    #[test]
    fn the_command_line_and_the_environment_win_over_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "report = \"/from/file.json\"\nmax-clients = 5\ndrain-window = \"7s\"\nforce-polling = true\n")
            .expect("write");
        let args: Vec<OsString> = [
            "gitops-live",
            "serve",
            "--config",
            path.to_str().expect("utf-8"),
            "--max-clients",
            "9",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let (expanded, used) = expand(args, &cli()).expect("expands");
        assert_eq!(used.as_deref(), Some(path.as_path()));
        let text: Vec<String> = expanded.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(text.windows(2).any(|w| w == ["--report", "/from/file.json"]), "{text:?}");
        assert!(text.contains(&"--force-polling".to_owned()));
        let max: Vec<&String> = text.iter().filter(|t| *t == "--max-clients").collect();
        assert_eq!(max.len(), 1, "the command line's value only: {text:?}");
        let parsed = crate::Cli::try_parse_from(&expanded).expect("clap accepts it");
        let crate::Command::Serve(serve) = parsed.command else { panic!("serve") };
        assert_eq!(serve.server.max_clients, 9);
        assert_eq!(serve.report, PathBuf::from("/from/file.json"));
        assert_eq!(serve.server.drain_window, std::time::Duration::from_secs(7));
        assert!(serve.force_polling);
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let example = include_str!("../../../docs/config.example.toml");
        let settings = parse(example).expect("parses");
        assert!(settings.len() >= 10, "the example shows the common settings");
        assert_eq!(check(&settings, &cli()), Vec::<String>::new());
    }

    #[test]
    fn positions_count_lines_and_characters() {
        assert_eq!(position("ab\ncé\nx", 6), (2, 3));
        assert_eq!(position("", 0), (1, 1));
        assert_eq!(strsim_distance("bnd", "bind"), 1);
    }
}
