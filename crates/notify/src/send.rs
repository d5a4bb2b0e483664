//! Delivery over the wire: HTTP(S) requests through hyper and rustls, email through lettre.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;

use crate::destination::{EmailTarget, Endpoint, NtfyAuth, SmtpSecurity, Target};
use crate::{Destination, DestinationKind, Error, Rendered, Result, Secret};

/// The signature header on signed webhook requests: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "x-gitops-signature-256";
/// The timestamp header on webhook requests: Unix seconds when the request was made.
pub const TIMESTAMP_HEADER: &str = "x-gitops-timestamp";

/// How the sender behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// The most one delivery may take, connection and answer included; `None` waits forever
    /// (only for tests on paused time, where a timer would fire while a real socket is pending).
    pub timeout: Option<Duration>,
    /// Root certificates trusted besides the Mozilla roots (webpki-roots), for HTTPS and SMTP:
    /// a homelab's own certificate authority, or a test's self-signed certificate.
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl Default for SenderConfig {
    /// 30 seconds per delivery; the Mozilla roots only.
    fn default() -> Self {
        Self { timeout: Some(Duration::from_secs(30)), extra_roots: Vec::new() }
    }
}

/// Sends rendered digests to destinations. Cheap to clone; holds the TLS configuration.
#[derive(Clone)]
pub struct Sender {
    tls: tokio_rustls::TlsConnector,
    timeout: Option<Duration>,
    extra_roots: Arc<[CertificateDer<'static>]>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// Why a delivery failed. [`DeliveryError::is_retryable`] says whether to try again.
///
/// No variant carries a destination's URL or secret.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The TCP connection failed (refused, unreachable, no such host). Retry later.
    #[error("could not connect: {0}")]
    Connect(#[source] std::io::Error),
    /// The TLS handshake failed. Retry later; if it keeps failing, check the server's certificate.
    #[error("tls handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    /// No answer in time. Retry later.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The HTTP exchange broke off. Retry later.
    #[error("http exchange failed: {0}")]
    Http(#[source] hyper::Error),
    /// The server closed the connection without answering. Retry later.
    #[error("the connection closed before an answer")]
    Closed,
    /// The server answered with an error status: retry on 408, 429 and 5xx (after `retry_after`
    /// when given); any other status is permanent (a wrong token, a removed webhook).
    #[error("the destination answered {status}")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's `Retry-After`, when it gave one in seconds.
        retry_after: Option<Duration>,
    },
    /// The SMTP exchange failed; permanent when the server refused with a 5xx reply.
    #[error("smtp delivery failed: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The email could not be built (an address lettre refuses). Permanent: fix the destination.
    #[error("the email could not be built: {0}")]
    Message(String),
    /// The payload was rendered for another kind of destination. Permanent: a bug in the caller.
    #[error("a payload rendered as {rendered} cannot go to a {kind} destination")]
    Mismatch {
        /// The destination's kind.
        kind: DestinationKind,
        /// What the payload is (`json` or `email`).
        rendered: &'static str,
    },
    /// The payload bytes could not be read. Permanent.
    #[error("the payload cannot be read: {0}")]
    Payload(String),
}

impl DeliveryError {
    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Connect(_) | Self::Tls(_) | Self::Timeout(_) | Self::Http(_) | Self::Closed => {
                true
            }
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::Smtp(error) => !error.is_permanent(),
            Self::Message(_) | Self::Mismatch { .. } | Self::Payload(_) => false,
        }
    }

    /// How long the server asked to wait before retrying, if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`, as in `X-Gitops-Signature-256`.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.expose().as_bytes());
    let tag = ring::hmac::sign(&key, body);
    let mut out = String::from("sha256=");
    for byte in tag.as_ref() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

impl Sender {
    /// A sender that trusts the Mozilla root certificates (webpki-roots) for HTTPS.
    pub fn new(config: SenderConfig) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for root in &config.extra_roots {
            roots.add(root.clone()).map_err(Error::Tls)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(Error::Tls)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            tls: tokio_rustls::TlsConnector::from(Arc::new(tls)),
            timeout: config.timeout,
            extra_roots: config.extra_roots.into(),
        })
    }

    /// Delivers one rendered digest. Never logs; the error names no secret.
    pub async fn send(
        &self,
        destination: &Destination,
        rendered: &Rendered,
    ) -> Result<(), DeliveryError> {
        let attempt = self.send_once(destination, rendered);
        match self.timeout {
            Some(limit) => tokio::time::timeout(limit, attempt)
                .await
                .map_err(|_| DeliveryError::Timeout(limit))?,
            None => attempt.await,
        }
    }

    async fn send_once(
        &self,
        destination: &Destination,
        rendered: &Rendered,
    ) -> Result<(), DeliveryError> {
        let kind = destination.kind();
        match (&destination.target, rendered) {
            (Target::Email(email), Rendered::Email { subject, text, html }) => {
                send_email(email, subject, text, html, self.timeout, &self.extra_roots).await
            }
            (Target::Email(_), Rendered::Json { .. }) => {
                Err(DeliveryError::Mismatch { kind, rendered: "json" })
            }
            (_, Rendered::Email { .. }) => Err(DeliveryError::Mismatch { kind, rendered: "email" }),
            (target, Rendered::Json { body }) => {
                let (endpoint, headers) = http_parts(target, body.as_bytes())?;
                self.post(endpoint, headers, Bytes::from(body.clone())).await
            }
        }
    }

    async fn post(
        &self,
        endpoint: &Endpoint,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(), DeliveryError> {
        let bare_host = endpoint.host.trim_start_matches('[').trim_end_matches(']');
        let default_port = if endpoint.tls { 443 } else { 80 };
        let host_header = if endpoint.port == default_port {
            endpoint.host.clone()
        } else {
            format!("{}:{}", endpoint.host, endpoint.port)
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(endpoint.path.as_str())
            .header(HOST, host_header)
            .header(USER_AGENT, concat!("gitops-notify/", env!("CARGO_PKG_VERSION")))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|error| DeliveryError::Payload(error.to_string()))?;
        request.headers_mut().extend(headers);

        let tcp =
            TcpStream::connect((bare_host, endpoint.port)).await.map_err(DeliveryError::Connect)?;
        // Small requests: send them without waiting for Nagle.
        let _ = tcp.set_nodelay(true);
        if endpoint.tls {
            let name = rustls::pki_types::ServerName::try_from(bare_host.to_owned())
                .map_err(|error| DeliveryError::Tls(std::io::Error::other(error.to_string())))?;
            let stream = self.tls.connect(name, tcp).await.map_err(DeliveryError::Tls)?;
            exchange(TokioIo::new(stream), request).await
        } else {
            exchange(TokioIo::new(tcp), request).await
        }
    }
}

/// One HTTP/1.1 request on a fresh connection; the connection ends with this future, so a
/// timeout that drops it closes the socket.
async fn exchange<I>(io: I, request: Request<Full<Bytes>>) -> Result<(), DeliveryError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut requests, connection) =
        hyper::client::conn::http1::handshake(io).await.map_err(DeliveryError::Http)?;
    let mut connection = std::pin::pin!(connection);
    let mut send = std::pin::pin!(requests.send_request(request));
    let response = tokio::select! {
        biased;
        response = &mut send => response.map_err(DeliveryError::Http)?,
        ended = &mut connection => match ended {
            Err(error) => return Err(DeliveryError::Http(error)),
            // A server that answers and closes (`Connection: close`) ends the connection in the
            // same turn as the answer arrives: the answer is ready now, or there was none.
            Ok(()) => send.await.map_err(|_| DeliveryError::Closed)?,
        },
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    Err(DeliveryError::Status { status: status.as_u16(), retry_after })
}

/// The endpoint and extra headers for an HTTP destination.
fn http_parts<'a>(
    target: &'a Target,
    body: &[u8],
) -> Result<(&'a Endpoint, HeaderMap), DeliveryError> {
    let mut headers = HeaderMap::new();
    let header = |value: String| {
        HeaderValue::from_str(&value)
            .map_err(|_| DeliveryError::Payload("a header value is not valid".to_owned()))
    };
    let endpoint = match target {
        Target::Webhook { endpoint, secret } => {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_secs())
                .unwrap_or(0);
            headers.insert(HeaderName::from_static(TIMESTAMP_HEADER), header(now.to_string())?);
            headers.insert(
                HeaderName::from_static("x-gitops-event"),
                HeaderValue::from_static("digest"),
            );
            if let Some(secret) = secret {
                let mut value = header(sign(secret, body))?;
                value.set_sensitive(true);
                headers.insert(HeaderName::from_static(SIGNATURE_HEADER), value);
            }
            endpoint
        }
        Target::Ntfy { endpoint, auth, .. } => {
            let value = match auth {
                Some(NtfyAuth::Basic { user, password }) => Some(format!(
                    "Basic {}",
                    base64(format!("{user}:{}", password.expose()).as_bytes())
                )),
                Some(NtfyAuth::Token(token)) => Some(format!("Bearer {}", token.expose())),
                None => None,
            };
            if let Some(value) = value {
                let mut value = header(value)?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            endpoint
        }
        Target::Gotify { endpoint, token } => {
            let mut value = header(token.expose().to_owned())?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-gotify-key"), value);
            endpoint
        }
        Target::Apprise { endpoint }
        | Target::Slack { endpoint }
        | Target::Discord { endpoint }
        | Target::Mattermost { endpoint } => endpoint,
        Target::Email(_) => {
            return Err(DeliveryError::Mismatch { kind: DestinationKind::Email, rendered: "json" });
        }
    };
    Ok((endpoint, headers))
}

async fn send_email(
    email: &EmailTarget,
    subject: &str,
    text: &str,
    html: &str,
    timeout: Option<Duration>,
    extra_roots: &[CertificateDer<'static>],
) -> Result<(), DeliveryError> {
    let host = email.host.trim_start_matches('[').trim_end_matches(']');
    let tls_parameters = || {
        let mut parameters = TlsParameters::builder(host.to_owned());
        for root in extra_roots {
            let root = Certificate::from_der(root.to_vec()).map_err(DeliveryError::Smtp)?;
            parameters = parameters.add_root_certificate(root);
        }
        parameters.build_rustls().map_err(DeliveryError::Smtp)
    };
    let tls = match email.security {
        SmtpSecurity::Plain => Tls::None,
        SmtpSecurity::StartTls => Tls::Required(tls_parameters()?),
        SmtpSecurity::Tls => Tls::Wrapper(tls_parameters()?),
    };
    // "Dangerous" only names the builder that starts without TLS settings; they are set here.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(email.port)
        .tls(tls)
        .timeout(timeout);
    if let Some((user, password)) = &email.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
    }
    let transport = builder.build();

    let mailbox = |address: &str| {
        address.parse::<Mailbox>().map_err(|error| DeliveryError::Message(error.to_string()))
    };
    let mut message = Message::builder().from(mailbox(&email.from)?).subject(subject);
    for to in &email.to {
        message = message.to(mailbox(to)?);
    }
    let message = message
        .multipart(MultiPart::alternative_plain_html(text.to_owned(), html.to_owned()))
        .map_err(|error| DeliveryError::Message(error.to_string()))?;
    transport.send(message).await.map_err(DeliveryError::Smtp)?;
    Ok(())
}

/// Standard base64 with padding, for HTTP Basic credentials.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors =
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn signature_is_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        let signature = sign(&Secret::new("Jefe"), b"what do ya want for nothing?");
        assert_eq!(
            signature,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn statuses_are_classified() {
        let status = |status| DeliveryError::Status { status, retry_after: None };
        for retryable in [408, 429, 500, 502, 503] {
            assert!(status(retryable).is_retryable(), "{retryable}");
        }
        for permanent in [400, 401, 403, 404, 410, 413] {
            assert!(!status(permanent).is_retryable(), "{permanent}");
        }
        assert!(DeliveryError::Closed.is_retryable());
        assert!(!DeliveryError::Payload("x".into()).is_retryable());
    }
}
