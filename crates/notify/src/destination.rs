//! Destinations written as Apprise/shoutrrr-style URLs: parsed once, shown with secrets hidden.

use std::net::IpAddr;

use url::Url;

use crate::{Error, Result, Secret};

/// Where a notification goes, parsed from a URL string with [`Destination::parse`].
///
/// `Display` and `Debug` hide every secret (tokens, passwords, topics, webhook paths), so a
/// destination can be logged; the URL it was parsed from should not be. See the crate docs for the
/// URL forms.
#[derive(Clone)]
pub struct Destination {
    pub(crate) target: Target,
    /// The URL with its secrets replaced by `***`, made once at parse time.
    shown: String,
}

/// Which protocol a destination speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DestinationKind {
    /// A generic JSON webhook (`https://…`, `http://…`), signed when given a secret.
    Webhook,
    /// An ntfy server (`ntfy://`, `ntfys://`).
    Ntfy,
    /// A Gotify server (`gotify://`, `gotifys://`).
    Gotify,
    /// An Apprise API server (`apprise://`, `apprises://`).
    Apprise,
    /// A Slack incoming webhook (`slack://`, `https://hooks.slack.com/services/…`).
    Slack,
    /// A Discord webhook (`discord://`, `https://discord.com/api/webhooks/…`).
    Discord,
    /// A Mattermost incoming webhook (`mmost://`, `mmosts://`).
    Mattermost,
    /// Email over SMTP (`mailto://`, `mailtos://`).
    Email,
}

/// An HTTP endpoint: where to connect and what to ask for. The path may hold secrets.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// HTTPS when true, plain HTTP otherwise.
    pub(crate) tls: bool,
    /// The host as written in a URL (IPv6 in brackets).
    pub(crate) host: String,
    /// The TCP port.
    pub(crate) port: u16,
    /// Path and query, starting with `/`.
    pub(crate) path: String,
}

/// How to reach the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SmtpSecurity {
    /// Plain SMTP upgraded with STARTTLS (required).
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No TLS at all: only allowed to a loopback address (tests, a local relay).
    Plain,
}

/// An SMTP destination.
#[derive(Clone)]
pub(crate) struct EmailTarget {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) security: SmtpSecurity,
    pub(crate) credentials: Option<(String, Secret)>,
    pub(crate) from: String,
    pub(crate) to: Vec<String>,
}

/// What each kind needs to send.
#[derive(Clone)]
pub(crate) enum Target {
    Webhook { endpoint: Endpoint, secret: Option<Secret> },
    Ntfy { endpoint: Endpoint, topic: String, auth: Option<NtfyAuth> },
    Gotify { endpoint: Endpoint, token: Secret },
    Apprise { endpoint: Endpoint },
    Slack { endpoint: Endpoint },
    Discord { endpoint: Endpoint },
    Mattermost { endpoint: Endpoint },
    Email(EmailTarget),
}

/// How to sign in to ntfy.
#[derive(Clone)]
pub(crate) enum NtfyAuth {
    Basic { user: String, password: Secret },
    Token(Secret),
}

impl Destination {
    /// Parses a destination URL. The error names what is wrong, never the secret parts.
    ///
    /// ```
    /// let ntfy = gitops_notify::Destination::parse("ntfys://alice:pw@ntfy.example.org/homelab")?;
    /// assert_eq!(ntfy.kind(), gitops_notify::DestinationKind::Ntfy);
    /// assert_eq!(ntfy.to_string(), "ntfys://alice:***@ntfy.example.org:443/***");
    /// # Ok::<(), gitops_notify::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        let url = Url::parse(text.trim())
            .map_err(|source| Error::InvalidUrl { reason: source.to_string() })?;
        let scheme = url.scheme().to_ascii_lowercase();
        match scheme.as_str() {
            "http" | "https" => parse_web(&url, scheme == "https"),
            "ntfy" | "ntfys" => parse_ntfy(&url, scheme == "ntfys"),
            "gotify" | "gotifys" => parse_gotify(&url, scheme == "gotifys"),
            "apprise" | "apprises" => parse_apprise(&url, scheme == "apprises"),
            "slack" => parse_slack(&url),
            "discord" => parse_discord(&url),
            "mmost" | "mmosts" => parse_mattermost(&url, scheme == "mmosts"),
            "mailto" | "mailtos" => parse_mailto(&url, scheme == "mailtos"),
            _ => Err(Error::UnknownScheme { scheme }),
        }
    }

    /// Gives a webhook the shared secret its requests are signed with (`X-Gitops-Signature-256`).
    ///
    /// Only generic webhooks are signed; for any other kind this is [`Error::InvalidDestination`].
    pub fn with_secret(mut self, secret: Secret) -> Result<Self> {
        match &mut self.target {
            Target::Webhook { secret: slot, .. } => {
                *slot = Some(secret);
                if !self.shown.ends_with(" (signed)") {
                    self.shown.push_str(" (signed)");
                }
                Ok(self)
            }
            _ => Err(invalid(self.kind(), "only generic webhooks take a signing secret")),
        }
    }

    /// Which protocol this destination speaks.
    pub fn kind(&self) -> DestinationKind {
        match &self.target {
            Target::Webhook { .. } => DestinationKind::Webhook,
            Target::Ntfy { .. } => DestinationKind::Ntfy,
            Target::Gotify { .. } => DestinationKind::Gotify,
            Target::Apprise { .. } => DestinationKind::Apprise,
            Target::Slack { .. } => DestinationKind::Slack,
            Target::Discord { .. } => DestinationKind::Discord,
            Target::Mattermost { .. } => DestinationKind::Mattermost,
            Target::Email(_) => DestinationKind::Email,
        }
    }

    /// Whether requests to this destination are signed (a webhook given a secret).
    pub fn is_signed(&self) -> bool {
        matches!(self.target, Target::Webhook { secret: Some(_), .. })
    }
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Destination").field(&self.shown).finish()
    }
}

impl std::fmt::Display for DestinationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Webhook => "webhook",
            Self::Ntfy => "ntfy",
            Self::Gotify => "gotify",
            Self::Apprise => "apprise",
            Self::Slack => "slack",
            Self::Discord => "discord",
            Self::Mattermost => "mattermost",
            Self::Email => "email",
        })
    }
}

fn invalid(kind: DestinationKind, reason: impl Into<String>) -> Error {
    Error::InvalidDestination { kind, reason: reason.into() }
}

/// Percent-decodes one URL component.
fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// The URL's path segments, decoded, without empty ones.
fn segments(url: &Url) -> Vec<String> {
    url.path_segments()
        .map(|parts| parts.filter(|part| !part.is_empty()).map(decode).collect())
        .unwrap_or_default()
}

/// The value of query parameter `name`, if given.
fn param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

/// Whether `host` (as written in a URL) is a loopback IP address (127.0.0.0/8 or ::1).
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn host_of(url: &Url, kind: DestinationKind) -> Result<String> {
    match url.host_str() {
        Some(host) if !host.is_empty() => Ok(host.to_owned()),
        _ => Err(invalid(kind, "the url has no host")),
    }
}

/// Encodes one path segment for a request path.
fn encode_segment(segment: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    percent_encoding::utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Joins decoded segments into an absolute path prefix (`""` for none, else `/a/b`).
fn join_path(parts: &[String]) -> String {
    parts.iter().map(|part| format!("/{}", encode_segment(part))).collect()
}

/// The `?base=` override: where a fixed-host service (Slack, Discord) is reached instead, for
/// tests and self-hosted relays. HTTPS anywhere, plain HTTP only to a loopback address.
fn base_override(url: &Url, kind: DestinationKind) -> Result<Option<(Endpoint, String)>> {
    let Some(base) = param(url, "base") else { return Ok(None) };
    let base = Url::parse(&base)
        .map_err(|source| invalid(kind, format!("the base parameter is not a url: {source}")))?;
    let tls = match base.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(invalid(kind, "the base parameter must be an http or https url")),
    };
    let host = host_of(&base, kind)?;
    if !tls && !is_loopback(&host) {
        return Err(invalid(kind, "a plain-http base is only allowed to a loopback address"));
    }
    let port = base.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    let shown = format!("{}://{host}:{port}", base.scheme());
    Ok(Some((Endpoint { tls, host, port, path: join_path(&segments(&base)) }, shown)))
}

fn parse_web(url: &Url, tls: bool) -> Result<Destination> {
    let host = host_of(url, DestinationKind::Webhook)?;
    let port = url.port_or_known_default().unwrap_or(if tls { 443 } else { 80 });
    let path = url[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
    let path = if path.is_empty() { "/".to_owned() } else { path };
    let endpoint = Endpoint { tls, host: host.clone(), port, path: path.clone() };
    let lower = host.to_ascii_lowercase();
    if tls && lower == "hooks.slack.com" && path.starts_with("/services/") {
        let shown = "slack://***".to_owned();
        return Ok(Destination { target: Target::Slack { endpoint }, shown });
    }
    let discord_hosts = ["discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"];
    if tls && discord_hosts.contains(&lower.as_str()) && path.starts_with("/api/webhooks/") {
        let shown = "discord://***".to_owned();
        return Ok(Destination { target: Target::Discord { endpoint }, shown });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(DestinationKind::Webhook, "credentials in a webhook url are not sent"));
    }
    let hidden = if path == "/" { "/" } else { "/***" };
    let shown = format!("{}://{host}:{port}{hidden}", if tls { "https" } else { "http" });
    Ok(Destination { target: Target::Webhook { endpoint, secret: None }, shown })
}

fn parse_ntfy(url: &Url, tls: bool) -> Result<Destination> {
    let kind = DestinationKind::Ntfy;
    let scheme = if tls { "ntfys" } else { "ntfy" };
    let host = host_of(url, kind)?;
    let mut parts = segments(url);
    let auth = match (url.username(), url.password(), param(url, "token")) {
        (_, _, Some(token)) => Some(NtfyAuth::Token(Secret::new(token))),
        ("", None, None) => None,
        (user, password, None) => Some(NtfyAuth::Basic {
            user: decode(user),
            password: Secret::new(decode(password.unwrap_or(""))),
        }),
    };
    // `ntfy://topic` is a topic on the public ntfy.sh, always over HTTPS.
    let (endpoint, topic) = if parts.is_empty() {
        if url.port().is_some() || auth.is_some() {
            return Err(invalid(kind, "no topic: write ntfy://host/topic"));
        }
        let endpoint =
            Endpoint { tls: true, host: "ntfy.sh".to_owned(), port: 443, path: "/".to_owned() };
        (endpoint, host)
    } else {
        let topic = parts.pop().unwrap_or_default();
        let port = url.port().unwrap_or(if tls { 443 } else { 80 });
        let path = format!("{}/", join_path(&parts));
        (Endpoint { tls, host, port, path }, topic)
    };
    if topic.is_empty() || topic.contains(',') {
        return Err(invalid(kind, "one topic per destination"));
    }
    let who = match &auth {
        Some(NtfyAuth::Basic { user, .. }) => format!("{user}:***@"),
        Some(NtfyAuth::Token(_)) => "token:***@".to_owned(),
        None => String::new(),
    };
    let shown = format!("{scheme}://{who}{}:{}/***", endpoint.host, endpoint.port);
    Ok(Destination { target: Target::Ntfy { endpoint, topic, auth }, shown })
}

/// `scheme://host[:port][/prefix…]/secret`: the last segment is the secret, the rest a prefix.
fn host_prefix_secret(
    url: &Url,
    kind: DestinationKind,
    tls: bool,
    default_port: u16,
) -> Result<(String, u16, String, Secret)> {
    let host = host_of(url, kind)?;
    let mut parts = segments(url);
    let Some(secret) = parts.pop() else {
        return Err(invalid(kind, "no token: write scheme://host/token"));
    };
    let port = url.port().unwrap_or(if tls { 443 } else { default_port });
    Ok((host, port, join_path(&parts), Secret::new(secret)))
}

fn parse_gotify(url: &Url, tls: bool) -> Result<Destination> {
    let (host, port, prefix, token) = host_prefix_secret(url, DestinationKind::Gotify, tls, 80)?;
    let shown = format!("{}://{host}:{port}/***", if tls { "gotifys" } else { "gotify" });
    let endpoint = Endpoint { tls, host, port, path: format!("{prefix}/message") };
    Ok(Destination { target: Target::Gotify { endpoint, token }, shown })
}

fn parse_apprise(url: &Url, tls: bool) -> Result<Destination> {
    let (host, port, prefix, key) = host_prefix_secret(url, DestinationKind::Apprise, tls, 80)?;
    let shown = format!("{}://{host}:{port}/***", if tls { "apprises" } else { "apprise" });
    let path = format!("{prefix}/notify/{}", encode_segment(key.expose()));
    Ok(Destination {
        target: Target::Apprise { endpoint: Endpoint { tls, host, port, path } },
        shown,
    })
}

fn parse_mattermost(url: &Url, tls: bool) -> Result<Destination> {
    // Apprise's default port for Mattermost over plain HTTP is the server's own, 8065.
    let (host, port, prefix, token) =
        host_prefix_secret(url, DestinationKind::Mattermost, tls, 8065)?;
    let shown = format!("{}://{host}:{port}/***", if tls { "mmosts" } else { "mmost" });
    let path = format!("{prefix}/hooks/{}", encode_segment(token.expose()));
    let endpoint = Endpoint { tls, host, port, path };
    Ok(Destination { target: Target::Mattermost { endpoint }, shown })
}

fn parse_slack(url: &Url) -> Result<Destination> {
    let kind = DestinationKind::Slack;
    let first = host_of(url, kind)?;
    let rest = segments(url);
    if rest.len() != 2 {
        return Err(invalid(kind, "write slack://TokenA/TokenB/TokenC"));
    }
    let tokens = [first.as_str(), rest[0].as_str(), rest[1].as_str()];
    let path: String =
        tokens.iter().map(|token| format!("/{}", encode_segment(token))).collect::<String>();
    let (endpoint, shown) = match base_override(url, kind)? {
        Some((base, shown)) => {
            (Endpoint { path: format!("{}/services{path}", base.path), ..base }, shown)
        }
        None => (
            Endpoint {
                tls: true,
                host: "hooks.slack.com".to_owned(),
                port: 443,
                path: format!("/services{path}"),
            },
            "slack:/".to_owned(),
        ),
    };
    Ok(Destination { target: Target::Slack { endpoint }, shown: format!("{shown}/***") })
}

fn parse_discord(url: &Url) -> Result<Destination> {
    let kind = DestinationKind::Discord;
    let id = host_of(url, kind)?;
    let rest = segments(url);
    if rest.len() != 1 {
        return Err(invalid(kind, "write discord://WebhookID/WebhookToken"));
    }
    let path = format!("/api/webhooks/{}/{}", encode_segment(&id), encode_segment(&rest[0]));
    let (endpoint, shown) = match base_override(url, kind)? {
        Some((base, shown)) => (Endpoint { path: format!("{}{path}", base.path), ..base }, shown),
        None => (
            Endpoint { tls: true, host: "discord.com".to_owned(), port: 443, path },
            "discord:/".to_owned(),
        ),
    };
    Ok(Destination { target: Target::Discord { endpoint }, shown: format!("{shown}/{id}/***") })
}

fn parse_mailto(url: &Url, implicit_tls: bool) -> Result<Destination> {
    let kind = DestinationKind::Email;
    let host = host_of(url, kind)?;
    let security = match param(url, "mode").as_deref() {
        None if implicit_tls => SmtpSecurity::Tls,
        None | Some("starttls") => SmtpSecurity::StartTls,
        Some("tls" | "ssl") => SmtpSecurity::Tls,
        Some("plain") if is_loopback(&host) => SmtpSecurity::Plain,
        Some("plain") => {
            return Err(invalid(
                kind,
                "plain smtp (mode=plain) is only allowed to a loopback address",
            ));
        }
        Some(_) => return Err(invalid(kind, "mode must be starttls, tls or plain")),
    };
    let port = url.port().unwrap_or(match security {
        SmtpSecurity::Tls => 465,
        SmtpSecurity::StartTls => 587,
        SmtpSecurity::Plain => 25,
    });
    let user = decode(url.username());
    let credentials = match (user.is_empty(), url.password()) {
        (true, None) => None,
        (true, Some(_)) => return Err(invalid(kind, "a password without a user")),
        (false, password) => Some((user.clone(), Secret::new(decode(password.unwrap_or(""))))),
    };
    let to: Vec<String> = url
        .query_pairs()
        .filter(|(key, _)| key == "to")
        .flat_map(|(_, value)| {
            value.split(',').map(str::trim).map(str::to_owned).collect::<Vec<_>>()
        })
        .filter(|address| !address.is_empty())
        .collect();
    if to.is_empty() {
        return Err(invalid(kind, "no recipient: add ?to=someone@example.org"));
    }
    let from = match param(url, "from") {
        Some(from) => from,
        None if user.contains('@') => user.clone(),
        None => return Err(invalid(kind, "no sender: add &from=gitops@example.org")),
    };
    for address in to.iter().chain([&from]) {
        if address.parse::<lettre::Address>().is_err() {
            return Err(invalid(kind, format!("{address:?} is not an email address")));
        }
    }
    let who = if user.is_empty() { String::new() } else { format!("{user}:***@") };
    let shown = format!(
        "{}://{who}{host}:{port}?to={}",
        if implicit_tls { "mailtos" } else { "mailto" },
        to.join(",")
    );
    let email = EmailTarget { host, port, security, credentials, from, to };
    Ok(Destination { target: Target::Email(email), shown })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Destination {
        Destination::parse(text).unwrap()
    }

    fn endpoint(destination: &Destination) -> (bool, String, u16, String) {
        let endpoint = match &destination.target {
            Target::Webhook { endpoint, .. }
            | Target::Ntfy { endpoint, .. }
            | Target::Gotify { endpoint, .. }
            | Target::Apprise { endpoint }
            | Target::Slack { endpoint }
            | Target::Discord { endpoint }
            | Target::Mattermost { endpoint } => endpoint,
            Target::Email(_) => panic!("not http"),
        };
        (endpoint.tls, endpoint.host.clone(), endpoint.port, endpoint.path.clone())
    }

    #[test]
    fn each_scheme_reaches_its_service() {
        let cases = [
            (
                "https://hooks.example.org/in/abc?x=1",
                (true, "hooks.example.org", 443, "/in/abc?x=1"),
            ),
            ("http://10.0.0.5:8080/hook", (false, "10.0.0.5", 8080, "/hook")),
            ("ntfy://homelab-alerts", (true, "ntfy.sh", 443, "/")),
            ("ntfy://127.0.0.1:9000/alerts", (false, "127.0.0.1", 9000, "/")),
            ("ntfys://ntfy.example.org/sub/alerts", (true, "ntfy.example.org", 443, "/sub/")),
            ("gotify://gotify.lan/AbCd", (false, "gotify.lan", 80, "/message")),
            (
                "gotifys://gotify.example.org/base/AbCd",
                (true, "gotify.example.org", 443, "/base/message"),
            ),
            ("apprise://apprise.lan:8000/mykey", (false, "apprise.lan", 8000, "/notify/mykey")),
            (
                "apprises://apprise.example.org/mykey",
                (true, "apprise.example.org", 443, "/notify/mykey"),
            ),
            ("slack://T1/B2/C3", (true, "hooks.slack.com", 443, "/services/T1/B2/C3")),
            (
                "https://hooks.slack.com/services/T1/B2/C3",
                (true, "hooks.slack.com", 443, "/services/T1/B2/C3"),
            ),
            (
                "slack://T1/B2/C3?base=http://127.0.0.1:5000",
                (false, "127.0.0.1", 5000, "/services/T1/B2/C3"),
            ),
            ("discord://123/tok", (true, "discord.com", 443, "/api/webhooks/123/tok")),
            (
                "https://discord.com/api/webhooks/123/tok",
                (true, "discord.com", 443, "/api/webhooks/123/tok"),
            ),
            (
                "discord://123/tok?base=http://127.0.0.1:5001/x",
                (false, "127.0.0.1", 5001, "/x/api/webhooks/123/tok"),
            ),
            ("mmost://chat.lan/tokn", (false, "chat.lan", 8065, "/hooks/tokn")),
            (
                "mmosts://chat.example.org/mm/tokn",
                (true, "chat.example.org", 443, "/mm/hooks/tokn"),
            ),
        ];
        for (text, (tls, host, port, path)) in cases {
            let got = endpoint(&parse(text));
            assert_eq!(got, (tls, host.to_owned(), port, path.to_owned()), "{text}");
        }
        assert_eq!(parse("slack://T1/B2/C3").kind(), DestinationKind::Slack);
        assert_eq!(
            parse("https://discordapp.com/api/webhooks/1/t").kind(),
            DestinationKind::Discord
        );
        assert_eq!(parse("https://hooks.slack.com/other").kind(), DestinationKind::Webhook);
    }

    #[test]
    fn mailto_defaults_to_starttls_on_587_and_mailtos_to_tls_on_465() {
        let Target::Email(email) =
            parse("mailto://me%40x.org:pw@smtp.x.org?to=a@b.org,c@d.org").target
        else {
            panic!("email")
        };
        assert_eq!((email.security, email.port), (SmtpSecurity::StartTls, 587));
        assert_eq!(email.to, ["a@b.org", "c@d.org"]);
        assert_eq!(email.from, "me@x.org");
        let Target::Email(email) =
            parse("mailtos://u:pw@smtp.x.org?to=a@b.org&from=g@x.org").target
        else {
            panic!("email")
        };
        assert_eq!((email.security, email.port), (SmtpSecurity::Tls, 465));
        let Target::Email(email) =
            parse("mailto://127.0.0.1:2525?to=a@b.org&from=g@x.org&mode=plain").target
        else {
            panic!("email")
        };
        assert_eq!((email.security, email.port), (SmtpSecurity::Plain, 2525));
    }

    #[test]
    fn display_and_debug_hide_every_secret() {
        let cases = [
            (
                "https://hooks.example.org/in/s3cret?token=s3cret",
                "https://hooks.example.org:443/***",
            ),
            (
                "ntfys://alice:s3cret@ntfy.example.org/s3cret",
                "ntfys://alice:***@ntfy.example.org:443/***",
            ),
            ("ntfy://127.0.0.1:9/t?token=s3cret", "ntfy://token:***@127.0.0.1:9/***"),
            ("gotify://g.lan/s3cret", "gotify://g.lan:80/***"),
            ("apprise://a.lan/s3cret", "apprise://a.lan:80/***"),
            ("slack://s3cret/s3cret/s3cret", "slack://***"),
            ("https://hooks.slack.com/services/s3cret/s3cret/s3cret", "slack://***"),
            ("discord://42/s3cret", "discord://42/***"),
            ("mmost://m.lan/s3cret", "mmost://m.lan:8065/***"),
            (
                "mailto://bob:s3cret@smtp.lan?to=a@b.org&from=c@d.org",
                "mailto://bob:***@smtp.lan:587?to=a@b.org",
            ),
        ];
        for (text, shown) in cases {
            let destination = parse(text);
            assert_eq!(destination.to_string(), shown, "{text}");
            assert!(!format!("{destination:?}").contains("s3cret"), "{text}");
        }
        let signed = parse("https://h.org/x").with_secret(Secret::new("s3cret")).unwrap();
        assert!(signed.is_signed());
        assert_eq!(format!("{signed:?}"), "Destination(\"https://h.org:443/*** (signed)\")");
    }

    #[test]
    fn bad_urls_say_why_without_echoing_secrets() {
        let cases = [
            ("not a url", "not a url"),
            ("ftp://h/x", "unknown destination scheme \"ftp\""),
            ("gotify://g.lan", "no token"),
            ("slack://a/b", "slack://TokenA/TokenB/TokenC"),
            ("discord://1", "discord://WebhookID/WebhookToken"),
            ("slack://a/b/c?base=http://10.0.0.1", "loopback"),
            ("mailto://smtp.lan?to=a@b.org&from=c@d.org&mode=plain", "loopback"),
            ("mailto://smtp.lan?from=c@d.org", "no recipient"),
            ("mailto://smtp.lan?to=a@b.org", "no sender"),
            ("mailto://smtp.lan?to=nobody&from=c@d.org", "not an email address"),
            ("ntfy://a,b", "one topic"),
            ("https://user:s3cret@h.org/x", "credentials"),
        ];
        for (text, reason) in cases {
            let error = Destination::parse(text).unwrap_err().to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(!error.contains("s3cret"), "{text}: {error}");
        }
        let error = parse("ntfy://t").with_secret(Secret::new("x")).unwrap_err();
        assert!(error.to_string().contains("only generic webhooks"));
    }
}

#[cfg(test)]
mod laws {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Parsing never panics, and what parses shows none of a secret written into it.
        #[test]
        fn parsing_arbitrary_text_never_panics_or_shows_the_secret(
            scheme in "(https?|ntfys?|gotifys?|apprises?|slack|discord|mmosts?|mailtos?|x)",
            rest in "[a-z0-9:@/?=&.%,]{0,40}",
        ) {
            let text = format!("{scheme}://{rest}");
            let _ = Destination::parse(&text);
            let secret = format!("{scheme}://u:zz9SECRETzz9@127.0.0.1:1/a/zz9SECRETzz9?to=a@b.org&from=c@d.org&mode=plain");
            if let Ok(destination) = Destination::parse(&secret) {
                prop_assert!(!destination.to_string().contains("zz9SECRETzz9"), "{}", destination);
            }
        }
    }

    #[test]
    fn topics_and_tokens_keep_their_case() {
        let Target::Ntfy { topic, .. } = Destination::parse("ntfy://MyTopic").unwrap().target
        else {
            panic!("ntfy")
        };
        assert_eq!(topic, "MyTopic");
    }
}
