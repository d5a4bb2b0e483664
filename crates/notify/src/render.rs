//! Rendering a [`Digest`] in each destination's own format, with bounded sizes.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::destination::Target;
use crate::digest::{Digest, DigestGroup, Level, SourceChange};
use crate::{Destination, Error, Result};

/// A digest rendered for one destination: what the outbox keeps and the sender sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rendered {
    /// A JSON request body, sent as is (and, for a signed webhook, signed as these exact bytes).
    Json {
        /// The JSON text.
        body: String,
    },
    /// An email with a plain-text and an HTML part.
    Email {
        /// The subject line.
        subject: String,
        /// The plain-text part.
        text: String,
        /// The HTML part.
        html: String,
    },
}

impl Rendered {
    /// The bytes an outbox keeps.
    pub fn to_bytes(&self) -> Vec<u8> {
        // A `Rendered` is strings only: serialising it cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads bytes made by [`Rendered::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(Error::Payload)
    }
}

/// Size bounds for rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderOptions {
    /// At most this many repositories are listed in a human-readable message; the rest are
    /// counted (`and 12 more`).
    pub max_listed: usize,
    /// At most this many repositories are listed in the generic webhook's JSON.
    pub max_listed_json: usize,
}

impl Default for RenderOptions {
    /// 20 repositories in a message, 1,000 in webhook JSON.
    fn default() -> Self {
        Self { max_listed: 20, max_listed_json: 1000 }
    }
}

/// Discord refuses a `content` longer than 2,000 characters.
const DISCORD_MAX_CHARS: usize = 2000;
/// ntfy turns a message longer than 4,096 bytes into an attachment.
const NTFY_MAX_BYTES: usize = 4096;

/// Renders `digest` in `destination`'s format.
pub fn render(digest: &Digest, destination: &Destination, options: &RenderOptions) -> Rendered {
    let title = digest.title();
    let json = |value: Value| Rendered::Json { body: value.to_string() };
    match &destination.target {
        Target::Webhook { .. } => json(webhook_json(digest, options)),
        Target::Ntfy { topic, .. } => {
            let (priority, tag) = match digest.level {
                Level::Failure => (5, "rotating_light"),
                Level::Warning => (4, "warning"),
                Level::Info => (3, "white_check_mark"),
            };
            let mut body = json!({
                "topic": topic,
                "title": title,
                "message": truncate_bytes(&text(digest, options, Style::Plain), NTFY_MAX_BYTES),
                "priority": priority,
                "tags": [tag, "gitops"],
            });
            if let (Some(link), Some(object)) = (&digest.link, body.as_object_mut()) {
                object.insert("click".to_owned(), Value::from(link.as_str()));
            }
            json(body)
        }
        Target::Gotify { .. } => {
            let priority = match digest.level {
                Level::Failure => 8,
                Level::Warning => 5,
                Level::Info => 2,
            };
            let mut extras = json!({ "client::display": { "contentType": "text/markdown" } });
            if let (Some(link), Some(object)) = (&digest.link, extras.as_object_mut()) {
                object
                    .insert("client::notification".to_owned(), json!({ "click": { "url": link } }));
            }
            json(json!({
                "title": title,
                "message": text(digest, options, Style::Markdown),
                "priority": priority,
                "extras": extras,
            }))
        }
        Target::Apprise { .. } => json(json!({
            "title": title,
            "body": text(digest, options, Style::Plain),
            "type": digest.level.as_str(),
            "format": "text",
        })),
        Target::Slack { .. } => {
            let body =
                format!("*{}*\n{}", slack_escape(&title), text(digest, options, Style::Slack));
            json(json!({ "text": body }))
        }
        Target::Mattermost { .. } => {
            let body = format!("#### {title}\n{}", text(digest, options, Style::Markdown));
            json(json!({ "text": body }))
        }
        Target::Discord { .. } => {
            let body = format!("**{title}**\n{}", text(digest, options, Style::Markdown));
            json(json!({ "content": truncate_chars(&body, DISCORD_MAX_CHARS) }))
        }
        Target::Email(_) => Rendered::Email {
            subject: title,
            text: text(digest, options, Style::Plain),
            html: html(digest, options),
        },
    }
}

/// RFC 3339 in UTC, whole seconds.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .map(|stamp| stamp.round(jiff::Unit::Second).unwrap_or(stamp).to_string())
        .unwrap_or_default()
}

fn status_text(status: Option<&gitops_report::Status>, absent: &str) -> String {
    status.map_or_else(|| absent.to_owned(), |status| status.as_str().to_owned())
}

/// The generic webhook's JSON (schema in the crate docs).
fn webhook_json(digest: &Digest, options: &RenderOptions) -> Value {
    let groups: Vec<Value> = digest
        .groups
        .iter()
        .map(|group| {
            let repos: Vec<Value> = group
                .entries
                .iter()
                .take(options.max_listed_json)
                .map(|entry| {
                    json!({
                        "name": entry.name,
                        "dup": entry.dup,
                        "from": entry.from.as_ref().map(|status| status.as_str()),
                        "to": entry.to.as_ref().map(|status| status.as_str()),
                        "since": rfc3339(entry.since),
                    })
                })
                .collect();
            json!({
                "status": group.status.as_ref().map(|status| status.as_str()),
                "recovery": group.recovery,
                "count": group.entries.len(),
                "repos": repos,
                "more": group.entries.len().saturating_sub(options.max_listed_json),
            })
        })
        .collect();
    let source: Vec<Value> = digest
        .source
        .iter()
        .map(|change| match change {
            SourceChange::ReportFailing { since } => {
                json!({ "event": "report_failing", "since": rfc3339(*since) })
            }
            SourceChange::ReportRecovered => json!({ "event": "report_recovered" }),
            SourceChange::ReportStale { since } => {
                json!({ "event": "report_stale", "since": rfc3339(*since) })
            }
            SourceChange::ReportFresh => json!({ "event": "report_fresh" }),
            SourceChange::Test => json!({ "event": "test" }),
        })
        .collect();
    json!({
        "version": 1,
        "title": digest.title(),
        "level": digest.level.as_str(),
        "at": rfc3339(digest.at),
        "from_cursor": digest.from_cursor,
        "to_cursor": digest.to_cursor,
        "link": digest.link,
        "health": digest.health.as_ref().map(|change| json!({
            "from": change.from.as_str(),
            "to": change.to.as_str(),
        })),
        "current_health": digest.current_health.as_str(),
        "attention": digest.attention,
        "groups": groups,
        "source": source,
    })
}

/// How the human-readable text marks up emphasis and links.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Markdown,
    Slack,
}

impl Style {
    fn bold(self, text: &str) -> String {
        match self {
            Self::Plain => text.to_owned(),
            Self::Markdown => format!("**{}**", markdown_escape(text)),
            Self::Slack => format!("*{}*", slack_escape(text)),
        }
    }

    fn name(self, text: &str) -> String {
        match self {
            Self::Plain => text.to_owned(),
            Self::Markdown => markdown_escape(text),
            Self::Slack => slack_escape(text),
        }
    }

    fn link(self, url: &str) -> String {
        match self {
            Self::Plain => format!("Changes: {url}"),
            Self::Markdown => format!("[Open the changes in the dashboard]({url})"),
            Self::Slack => format!("<{}|Open the changes in the dashboard>", slack_escape(url)),
        }
    }
}

fn group_heading(group: &DigestGroup) -> String {
    let n = group.entries.len();
    if group.recovery {
        format!("Recovered, now {} ({n})", group.title())
    } else {
        format!("Now {} ({n})", group.title())
    }
}

/// The message body shared by every human-readable destination.
fn text(digest: &Digest, options: &RenderOptions, style: Style) -> String {
    let mut out = String::new();
    for change in &digest.source {
        let line = match change {
            SourceChange::ReportFailing { since } => {
                format!("The report cannot be read since {}.", rfc3339(*since))
            }
            SourceChange::ReportRecovered => "The report is read again.".to_owned(),
            SourceChange::ReportStale { since } => {
                format!("The report is stale since {}.", rfc3339(*since))
            }
            SourceChange::ReportFresh => "The report is fresh again.".to_owned(),
            SourceChange::Test => {
                "This is a test message from gitops-live: this destination works.".to_owned()
            }
        };
        let _ = writeln!(out, "{line}");
    }
    if let Some(change) = &digest.health {
        let _ = writeln!(out, "Health: {} → {}", change.from, change.to);
    }
    let mut budget = options.max_listed;
    for group in &digest.groups {
        let _ = writeln!(out, "{}", style.bold(&group_heading(group)));
        let shown = group.entries.len().min(budget);
        for entry in &group.entries[..shown] {
            let was = status_text(entry.from.as_ref(), "new");
            let _ = writeln!(out, "- {} (was {was})", style.name(&entry.label()));
        }
        budget -= shown;
        let more = group.entries.len() - shown;
        if more > 0 {
            let _ = writeln!(out, "- and {more} more");
        }
    }
    if let Some(link) = &digest.link {
        let _ = writeln!(out, "{}", style.link(link));
    }
    out.trim_end().to_owned()
}

/// The email's HTML part.
fn html(digest: &Digest, options: &RenderOptions) -> String {
    let mut out = String::from("<!DOCTYPE html>\n<html><body>\n");
    let _ = writeln!(out, "<h2>{}</h2>", html_escape(&digest.title()));
    for line in text(digest, &RenderOptions { max_listed: 0, ..*options }, Style::Plain).lines() {
        // Source and health lines come first; the group headings follow and are written below.
        if line.starts_with("Now ")
            || line.starts_with("Recovered, ")
            || line.starts_with("Changes: ")
            || line.starts_with("- ")
        {
            break;
        }
        let _ = writeln!(out, "<p>{}</p>", html_escape(line));
    }
    let mut budget = options.max_listed;
    for group in &digest.groups {
        let _ = writeln!(out, "<h3>{}</h3>\n<ul>", html_escape(&group_heading(group)));
        let shown = group.entries.len().min(budget);
        for entry in &group.entries[..shown] {
            let was = status_text(entry.from.as_ref(), "new");
            let _ = writeln!(
                out,
                "<li>{} (was {})</li>",
                html_escape(&entry.label()),
                html_escape(&was)
            );
        }
        budget -= shown;
        let more = group.entries.len() - shown;
        if more > 0 {
            let _ = writeln!(out, "<li>and {more} more</li>");
        }
        out.push_str("</ul>\n");
    }
    if let Some(link) = &digest.link {
        let _ = writeln!(
            out,
            "<p><a href=\"{}\">Open the changes in the dashboard</a></p>",
            html_escape(link)
        );
    }
    out.push_str("</body></html>\n");
    out
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Slack's mrkdwn needs only `&`, `<` and `>` escaped.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Escapes Markdown's emphasis and link characters in a repository name.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '`' | '[' | ']' | '~' | '<' | '>' | '#' | '|') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// At most `max` characters, ending with `…` when cut.
fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// At most `max` bytes, cut on a character boundary, ending with `…` when cut.
fn truncate_bytes(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use gitops_report::{Health, Status};
    use proptest::prelude::*;

    use super::*;
    use crate::digest::{DigestEntry, HealthChange};

    fn digest(names: &[String]) -> Digest {
        let since = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let entries = names
            .iter()
            .map(|name| DigestEntry {
                name: name.clone(),
                dup: 0,
                from: Some(Status::Clean),
                to: Some(Status::Missing),
                since,
            })
            .collect();
        Digest {
            at: since,
            from_cursor: Some("1:1".into()),
            to_cursor: Some("1:2".into()),
            link: Some("https://g.example.org/history?from=1:1&to=1:2".into()),
            groups: vec![DigestGroup { status: Some(Status::Missing), recovery: false, entries }],
            health: Some(HealthChange { from: Health::Green, to: Health::Red }),
            source: vec![],
            level: Level::Failure,
            attention: names.len(),
            current_health: Health::Red,
        }
    }

    fn json_of(rendered: &Rendered) -> Value {
        match rendered {
            Rendered::Json { body } => serde_json::from_str(body).unwrap(),
            Rendered::Email { .. } => panic!("json expected"),
        }
    }

    #[test]
    fn hostile_repository_names_are_escaped_in_html_and_markup() {
        let names = ["<script>x</script>".to_owned(), "a*b_[c](d)".to_owned()];
        let email = Destination::parse("mailto://smtp.lan?to=a@b.org&from=c@d.org").unwrap();
        let Rendered::Email { html, text, .. } =
            render(&digest(&names), &email, &RenderOptions::default())
        else {
            panic!("email")
        };
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;") && !html.contains("<script>"));
        assert!(text.contains("- <script>x</script> (was clean)"), "plain text stays plain");

        let discord = Destination::parse("discord://1/t").unwrap();
        let content = json_of(&render(&digest(&names), &discord, &RenderOptions::default()));
        assert!(content["content"].as_str().unwrap().contains("a\\*b\\_\\[c\\](d)"));
        let slack = Destination::parse("slack://a/b/c").unwrap();
        let text = json_of(&render(&digest(&names), &slack, &RenderOptions::default()));
        assert!(text["text"].as_str().unwrap().contains("&lt;script&gt;"));
    }

    #[test]
    fn lists_stop_at_the_bound_and_count_the_rest() {
        let names: Vec<String> = (0..45).map(|i| format!("r{i:02}")).collect();
        let options = RenderOptions { max_listed: 10, max_listed_json: 30 };
        let apprise = Destination::parse("apprise://a.lan/k").unwrap();
        let body = json_of(&render(&digest(&names), &apprise, &options));
        let body = body["body"].as_str().unwrap();
        assert!(body.contains("- r09 (was clean)") && !body.contains("- r10 "), "{body}");
        assert!(body.contains("- and 35 more"), "{body}");
        let hook = Destination::parse("https://h.org/x").unwrap();
        let json = json_of(&render(&digest(&names), &hook, &options));
        assert_eq!(json["groups"][0]["repos"].as_array().unwrap().len(), 30);
        assert_eq!(
            (json["groups"][0]["count"].clone(), json["groups"][0]["more"].clone()),
            (45.into(), 15.into())
        );
    }

    #[test]
    fn payloads_round_trip_through_bytes() {
        let email = Destination::parse("mailto://smtp.lan?to=a@b.org&from=c@d.org").unwrap();
        let rendered = render(&digest(&["x".to_owned()]), &email, &RenderOptions::default());
        assert_eq!(Rendered::from_bytes(&rendered.to_bytes()).unwrap(), rendered);
        assert!(Rendered::from_bytes(b"{\"kind\":\"fax\"}").is_err());
    }

    proptest! {
        #[test]
        fn discord_content_and_ntfy_message_stay_within_limits(
            names in proptest::collection::vec("[a-zé🦀*<>]{1,120}", 1..80),
        ) {
            let options = RenderOptions { max_listed: 1000, ..RenderOptions::default() };
            let discord = Destination::parse("discord://1/t").unwrap();
            let content = json_of(&render(&digest(&names), &discord, &options));
            prop_assert!(content["content"].as_str().unwrap().chars().count() <= DISCORD_MAX_CHARS);
            let ntfy = Destination::parse("ntfy://t").unwrap();
            let message = json_of(&render(&digest(&names), &ntfy, &options));
            prop_assert!(message["message"].as_str().unwrap().len() <= NTFY_MAX_BYTES);
        }
    }
}
