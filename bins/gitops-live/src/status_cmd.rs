//! `gitops-live status [URL]`: the report's health for scripts and cron, through the same
//! WebSocket the dashboard uses. Exit 0 green, 1 yellow, 2 red, 3 when the server cannot be
//! reached, refuses (sign in), or has no report yet.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use gitops_client::{ConnectOptions, Connection, LiveState};
use gitops_report::{Health, Report};

/// The server a client command reads, and how to reach it: shared by `status` and `watch`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServerArgs {
    /// The server, e.g. `http://nas.lan:3070` or `https://dash.example.org` behind a proxy
    /// (its WebSocket is asked).
    #[arg(default_value = "http://127.0.0.1:3070", env = "GITOPS_URL")]
    pub(crate) url: String,
    /// File holding the viewer token, for a server that asks viewers to sign in.
    #[arg(long, env = "GITOPS_VIEWER_TOKEN_FILE")]
    pub(crate) viewer_token_file: Option<PathBuf>,
    /// The viewer token itself (prefer --viewer-token-file). Never printed.
    #[arg(long = "viewer-token", env = "GITOPS_VIEWER_TOKEN", hide_env_values = true, hide = true)]
    pub(crate) viewer_token: Option<String>,
    /// PEM file of certificates to trust for https besides the public roots: a homelab CA, or
    /// a self-signed server's own certificate.
    #[arg(long, env = "GITOPS_CA_FILE")]
    pub(crate) ca_file: Option<PathBuf>,
}

impl ServerArgs {
    /// The WebSocket address and connection options these arguments name.
    pub(crate) fn connection(&self) -> anyhow::Result<(String, ConnectOptions)> {
        let url = ws_url(&self.url).map_err(anyhow::Error::msg)?;
        let bearer = viewer_token(self.viewer_token_file.as_deref(), self.viewer_token.as_deref())?;
        let extra_roots = match &self.ca_file {
            Some(path) => gitops_client::read_ca_file(path)?,
            None => Vec::new(),
        };
        Ok((url, ConnectOptions { bearer, extra_roots, ..ConnectOptions::default() }))
    }
}

/// Arguments of `gitops-live status`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub(crate) server: ServerArgs,
    /// Print the whole report as JSON instead of the summary.
    #[arg(long, env = "GITOPS_STATUS_JSON")]
    pub(crate) json: bool,
    /// How long to wait for the server.
    #[arg(long, env = "GITOPS_STATUS_TIMEOUT", default_value = "10s", value_parser = crate::cli::positive_duration)]
    pub(crate) timeout: Duration,
}

/// The viewer token for a client command: from its file (first), or as given.
fn viewer_token(
    file: Option<&std::path::Path>,
    value: Option<&str>,
) -> anyhow::Result<Option<String>> {
    Ok(match (file, value) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?
                .trim()
                .to_owned(),
        ),
        (None, token) => token.map(str::to_owned),
    })
}

/// The exit code when the state cannot be had.
const UNREACHABLE: u8 = 3;

/// The WebSocket address of a server given as `http(s)://host[:port][/]` or `ws(s)://.../ws`.
pub(crate) fn ws_url(url: &str) -> Result<String, String> {
    let url = url.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or_else(|| format!("{url:?} is not a URL"))?;
    let scheme = match scheme {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        other => {
            return Err(format!("{other}:// is not a server address (use http:// or https://)"));
        }
    };
    let rest = rest.strip_suffix("/ws").unwrap_or(rest);
    if rest.is_empty() {
        return Err(format!("{url:?} has no host"));
    }
    Ok(format!("{scheme}://{rest}/ws"))
}

pub(crate) fn run(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let (url, options) = match args.server.connection() {
        Ok(connection) => connection,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(ExitCode::from(UNREACHABLE));
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let fetched = runtime.block_on(async {
        tokio::time::timeout(args.timeout, fetch(&url, options)).await.unwrap_or_else(|_| {
            Err(format!("{} did not answer within {:?}", args.server.url, args.timeout))
        })
    });
    let report = match fetched {
        Ok(report) => report,
        Err(message) => {
            eprintln!("error: {message}");
            return Ok(ExitCode::from(UNREACHABLE));
        }
    };
    let health = report.health_status.clone().unwrap_or_else(|| report.computed_health());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", summary(&report, &health));
    }
    Ok(ExitCode::from(match health {
        Health::Green => 0,
        Health::Yellow => 1,
        _ => 2,
    }))
}

/// Connects and waits for the first state.
async fn fetch(url: &str, options: ConnectOptions) -> Result<Report, String> {
    let mut connection = Connection::open_with(url, None, &options).await.map_err(|e| {
        let text = e.to_string();
        if text.contains("401") {
            "the server asks viewers to sign in: give the viewer token (--viewer-token-file or \
             GITOPS_VIEWER_TOKEN)"
                .to_owned()
        } else {
            format!("cannot reach {url}: {text}")
        }
    })?;
    let mut state = LiveState::default();
    loop {
        let message = match connection.recv().await {
            Ok(Ok(message)) => message,
            Ok(Err(closed)) => return Err(format!("the server closed the connection: {closed:?}")),
            Err(e) => return Err(format!("the connection failed: {e}")),
        };
        state.apply(message).map_err(|e| format!("the server sent a bad message: {e}"))?;
        if let Some(report) = state.report.take() {
            return Ok(report);
        }
    }
}

/// The summary: health, counts, and the repositories that need attention, by status.
fn summary(report: &Report, health: &Health) -> String {
    use std::fmt::Write as _;
    let counts = report.computed_summary();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{health}: {} repositories: {} missing, {} extra, {} dirty, {} mismatched, {} clean",
        report.repos.len(),
        counts.missing,
        counts.extra,
        counts.dirty,
        counts.mismatched.unwrap_or(0),
        counts.clean
    );
    for status in ["missing", "mismatched", "dirty", "extra"] {
        let names: Vec<&str> = report
            .repos
            .iter()
            .filter(|r| r.status.to_string() == status)
            .map(|r| r.name.as_str())
            .collect();
        if !names.is_empty() {
            let _ = writeln!(out, "  {status}: {}", names.join(", "));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_become_websocket_addresses() {
        assert_eq!(ws_url("http://nas.lan:3070").as_deref(), Ok("ws://nas.lan:3070/ws"));
        assert_eq!(ws_url("http://127.0.0.1:3070/").as_deref(), Ok("ws://127.0.0.1:3070/ws"));
        assert_eq!(ws_url("ws://h:1/ws").as_deref(), Ok("ws://h:1/ws"));
        assert_eq!(ws_url("https://dash.example.org").as_deref(), Ok("wss://dash.example.org/ws"));
        assert_eq!(ws_url("wss://h/ws").as_deref(), Ok("wss://h/ws"));
        assert!(ws_url("nas.lan:3070").is_err());
        assert!(ws_url("ftp://x").is_err());
        assert!(ws_url("http://").is_err());
    }
}
