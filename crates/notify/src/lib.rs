//! Notifications on transitions of the gitops audit: rules, digests, destinations, durable delivery.
//!
//! The pieces, pure core first:
//!
//! - [`Notifier`] takes each published report (and the report source's failures and staleness)
//!   with the time, and returns at most one [`Digest`] per call: what changed since the last
//!   notification, grouped by status, with the health light's change and a link to the dashboard's
//!   diff of the two points (`<dashboard_url>/history?from=<cursor>&to=<cursor>`). The [`Rules`]
//!   say which statuses notify at once (missing, mismatched) and which only once held for a while
//!   (dirty, extra: an hour); recoveries wait out a flap window, so a repository that flips back
//!   to what was last notified is not notified; repositories can be snoozed. No clock inside.
//! - [`render`] turns a digest into each destination's format ([`Rendered`]), with bounded sizes.
//! - [`Sender::send`] delivers one rendered digest over the destination's real protocol (HTTP(S)
//!   through hyper and rustls, SMTP through lettre) and classifies failures as retryable or not.
//! - [`Outbox`] is the durable queue's contract (the store implements it; [`MemoryOutbox`] is the
//!   in-memory one) and [`Dispatcher`] drains it with one task per destination, so a slow or dead
//!   destination never delays another, retrying with exponential backoff and full jitter (base
//!   5 s, cap 1 h) and keeping what it gives up on as dead letters.
//!
//! # Destination URLs
//!
//! | URL | Sends |
//! |---|---|
//! | `https://host/path`, `http://host/path` | generic webhook: `POST` the JSON below; signed when given a secret ([`Destination::with_secret`]) |
//! | `ntfy://topic` | ntfy.sh over HTTPS, topic `topic` |
//! | `ntfy://[user:pass@]host[:port][/prefix]/topic`, `ntfys://…` | ntfy's JSON publish: `POST /` (under the prefix) with `topic`, `title`, `message`, `priority`, `tags`, `click`; `?token=tk_…` for a bearer token |
//! | `gotify://host[:port][/prefix]/token`, `gotifys://…` | `POST /message` with `X-Gotify-Key`, JSON `title`, `message`, `priority`, `extras` |
//! | `apprise://host[:port][/prefix]/key`, `apprises://…` | Apprise API: `POST /notify/<key>` with `title`, `body`, `type`, `format` |
//! | `slack://TokenA/TokenB/TokenC`, `https://hooks.slack.com/services/…` | Slack incoming webhook, `{"text"}` in mrkdwn |
//! | `discord://WebhookID/WebhookToken`, `https://discord.com/api/webhooks/…` | Discord webhook, `{"content"}` of at most 2,000 characters |
//! | `mmost://host[:port][/prefix]/token`, `mmosts://…` | Mattermost incoming webhook `POST /hooks/<token>`, `{"text"}` in Markdown; plain HTTP defaults to port 8065 as in Apprise |
//! | `mailto://[user:pass@]host[:port]?to=a@b[,c@d]&from=x@y`, `mailtos://…` | email with a plain-text and an HTML part; `mailto` uses STARTTLS on 587, `mailtos` TLS on 465; `mode=starttls\|tls\|plain` overrides, and `plain` is allowed only to a loopback address |
//!
//! The `ntfy`, `gotify`, `apprise` and `mmost` schemes are plain HTTP and their `s` forms HTTPS, as
//! in Apprise. Slack and Discord live at fixed hosts; `?base=https://relay.example.org` sends to
//! another base instead (a self-hosted relay; plain `http://` only to a loopback address, which is
//! how the tests reach a local server). The `from` address defaults to the user when it is an
//! address. Every secret (tokens, passwords, ntfy topics, webhook paths) is hidden by `Display`
//! and `Debug`, and no error message repeats one.
//!
//! # The generic webhook
//!
//! `POST` with `Content-Type: application/json`, `X-Gitops-Event: digest`, `X-Gitops-Timestamp:
//! <unix seconds>` and, when signed, `X-Gitops-Signature-256: sha256=<hex HMAC-SHA256 of the exact
//! body bytes under the shared secret>` (as GitHub signs; compare in constant time). The timestamp
//! is not covered by the signature. The body:
//!
//! ```json
//! {
//!   "version": 1,
//!   "title": "gitops: 3 repositories need attention (red)",
//!   "level": "info" | "warning" | "failure",
//!   "at": "2026-12-04T19:00:00Z",
//!   "from_cursor": "7:120" | null,
//!   "to_cursor": "7:131" | null,
//!   "link": "https://gitops.example.org/history?from=7:120&to=7:131" | null,
//!   "health": { "from": "green", "to": "red" } | null,
//!   "current_health": "red",
//!   "attention": 3,
//!   "groups": [
//!     { "status": "missing" | … | null, "recovery": false, "count": 2, "more": 0,
//!       "repos": [ { "name": "halo", "dup": 0, "from": "clean" | null, "to": "missing" | null,
//!                    "since": "2026-12-04T18:59:00Z" } ] }
//!   ],
//!   "source": [ { "event": "report_failing" | "report_recovered" | "report_stale" | "report_fresh" | "test",
//!                 "since": "…" } ]
//! }
//! ```
//!
//! A group's `status` is `null` for repositories that left the report; `from` is `null` for a
//! repository new to it. At most [`RenderOptions::max_listed_json`] repositories are listed per
//! group; `more` counts the rest.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod destination;
mod digest;
mod dispatch;
mod notifier;
mod outbox;
mod render;
mod secret;
mod send;

pub use destination::{Destination, DestinationKind};
pub use digest::{Digest, DigestEntry, DigestGroup, HealthChange, Level, SourceChange};
pub use dispatch::{DispatchConfig, Dispatcher, DispatcherHandle, backoff};
pub use notifier::{Notifier, NotifierConfig, NotifierState, Rules};
pub use outbox::{DeadLetter, MemoryOutbox, Outbox, OutboxError, OutboxId, OutboxItem, Retry};
pub use render::{RenderOptions, Rendered, render};
/// A DER certificate, for [`SenderConfig::extra_roots`].
pub use rustls::pki_types::CertificateDer;
pub use secret::Secret;
pub use send::{DeliveryError, SIGNATURE_HEADER, Sender, SenderConfig, TIMESTAMP_HEADER, sign};

/// Why a destination or payload could not be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The destination is not a URL. Fix the configuration.
    #[error("not a url: {reason}")]
    InvalidUrl {
        /// What the URL parser found wrong (never the URL itself, which may hold secrets).
        reason: String,
    },
    /// The URL's scheme is not one this crate speaks. Use one listed in the crate docs.
    #[error("unknown destination scheme {scheme:?}")]
    UnknownScheme {
        /// The scheme as written.
        scheme: String,
    },
    /// The URL has the right scheme but not the right parts. Fix the configuration as the
    /// reason says.
    #[error("bad {kind} destination: {reason}")]
    InvalidDestination {
        /// The kind the scheme names.
        kind: DestinationKind,
        /// What is wrong.
        reason: String,
    },
    /// The TLS configuration could not be built. A bug in this crate's TLS setup.
    #[error("tls configuration failed")]
    Tls(#[source] rustls::Error),
    /// An outbox payload is not a rendered digest (written by another version?). Drop it.
    #[error("the payload is not a rendered digest")]
    Payload(#[source] serde_json::Error),
}

/// A result whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
