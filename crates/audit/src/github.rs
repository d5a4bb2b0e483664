//! The remote listing: every repository of a GitHub user or organisation, over the REST API.
//!
//! HTTP goes through `ureq` (blocking, rustls with ring, no async runtime): the listing is a
//! handful of sequential GETs, so a small synchronous client fits the sync auditor better than
//! hyper's client plus a runtime, and it speaks plain `http://` too, which the tests use against a
//! local server. It builds from crates.io alone (no system OpenSSL).

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::expected::{ExpectedList, ExpectedRepo, is_valid_name};
use crate::remote_url::redact_credentials;
use crate::{Error, Result};

/// The public GitHub API.
pub const GITHUB_API: &str = "https://api.github.com";

/// Whose repositories to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GithubAccount {
    /// A user: `GET /users/{name}/repos`.
    User(String),
    /// An organisation: `GET /orgs/{name}/repos`.
    Org(String),
}

impl GithubAccount {
    /// The account's name.
    pub fn name(&self) -> &str {
        match self {
            Self::User(name) | Self::Org(name) => name,
        }
    }
}

/// An API token. Its `Debug` form hides the value, so it never reaches a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token value (surrounding whitespace removed); `None` when it is empty.
    pub fn new(value: &str) -> Option<Self> {
        let value = value.trim();
        (!value.is_empty()).then(|| Self(value.to_owned()))
    }

    /// The token in the `GITHUB_TOKEN` environment variable, if set and not empty.
    pub fn from_env() -> Option<Self> {
        std::env::var("GITHUB_TOKEN").ok().and_then(|value| Self::new(&value))
    }

    /// Reads a token from a file holding only the token (a trailing newline is fine).
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|cause| Error::TokenFile { path: path.to_owned(), cause })?;
        Self::new(&text).ok_or_else(|| Error::EmptyTokenFile { path: path.to_owned() })
    }

    fn authorization(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// The API's base URL, without a trailing slash; [`GITHUB_API`] unless testing or on GitHub Enterprise.
    pub api_base: String,
    /// Sent as `Authorization: Bearer`; without one, only public repositories are listed and the
    /// rate limit is 60 requests an hour.
    pub token: Option<Token>,
    /// The time one request may take in all.
    pub timeout: Duration,
    /// Stops a server whose `next` links never end; 1,000 pages is 100,000 repositories.
    pub max_pages: usize,
}

impl Default for GithubOptions {
    fn default() -> Self {
        Self {
            api_base: GITHUB_API.to_owned(),
            token: None,
            timeout: Duration::from_secs(30),
            max_pages: 1000,
        }
    }
}

/// The fields of a repository in the API's answer that the audit uses.
#[derive(Debug, Deserialize)]
struct ApiRepo {
    name: String,
    #[serde(default)]
    clone_url: Option<String>,
    #[serde(default)]
    owner: Option<ApiOwner>,
}

#[derive(Debug, Deserialize)]
struct ApiOwner {
    login: String,
}

#[derive(Debug, Default, Deserialize)]
struct ApiMessage {
    #[serde(default)]
    message: String,
}

/// Largest page body accepted (a full page of 100 repositories is about 600 KB).
const MAX_PAGE_BYTES: u64 = 32 * 1024 * 1024;

/// Lists every repository of `account`, following `Link: rel="next"` over all pages.
///
/// Rate-limit answers (403 or 429 with `x-ratelimit-remaining: 0` or `retry-after`) become
/// [`Error::RateLimited`]; a `next` link to another origin than `api_base` is refused, so the
/// token is only ever sent where it was meant to go.
pub fn fetch_github(account: &GithubAccount, options: &GithubOptions) -> Result<ExpectedList> {
    let name = account.name();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.is_empty()
    {
        return Err(Error::InvalidAccount { name: name.to_owned() });
    }
    let base = options.api_base.trim_end_matches('/');
    let path = match account {
        GithubAccount::User(_) => "users",
        GithubAccount::Org(_) => "orgs",
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(options.timeout))
        .user_agent(concat!("gitops-live/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();

    let mut next = Some(format!("{base}/{path}/{name}/repos?per_page=100"));
    let mut repos = Vec::new();
    let mut pages = 0;
    while let Some(url) = next.take() {
        pages += 1;
        if pages > options.max_pages {
            return Err(Error::TooManyPages { pages: options.max_pages });
        }
        let page = fetch_page(&agent, &url, options.token.as_ref(), account)?;
        repos.extend(page.repos.into_iter().filter(|repo| is_valid_name(&repo.name)).map(|repo| {
            ExpectedRepo {
                owner: Some(repo.owner.map_or_else(|| name.to_owned(), |owner| owner.login)),
                clone_url: repo.clone_url.map(|url| redact_credentials(&url)),
                name: repo.name,
            }
        }));
        next = match page.next {
            Some(link) => Some(same_origin_link(base, &link)?),
            None => None,
        };
    }
    let mut list = ExpectedList::from_repos(repos);
    list.github_account = Some(name.to_owned());
    Ok(list)
}

struct Page {
    repos: Vec<ApiRepo>,
    next: Option<String>,
}

fn fetch_page(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&Token>,
    account: &GithubAccount,
) -> Result<Page> {
    let mut request = agent
        .get(url)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    if let Some(token) = token {
        request = request.header("Authorization", token.authorization());
    }
    let mut response =
        request.call().map_err(|cause| Error::Http { url: url.to_owned(), cause })?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    };
    let remaining = header("x-ratelimit-remaining");
    let retry_after = header("retry-after").and_then(|value| value.trim().parse::<u64>().ok());
    let reset = header("x-ratelimit-reset")
        .and_then(|value| value.trim().parse::<i64>().ok())
        .and_then(|seconds| jiff::Timestamp::from_second(seconds).ok());
    let link = header("link");
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_PAGE_BYTES)
        .read_to_string()
        .map_err(|cause| Error::Http { url: url.to_owned(), cause })?;

    let rate_limited = status == 429
        || (status == 403
            && (remaining.as_deref().map(str::trim) == Some("0") || retry_after.is_some()));
    if rate_limited {
        return Err(Error::RateLimited {
            retry_after_seconds: retry_after,
            reset_at: reset.map(|at| at.to_string()),
        });
    }
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<ApiMessage>(&body).unwrap_or_default().message;
        return Err(match status {
            401 => Error::GithubUnauthorized { message },
            404 => Error::GithubNotFound { account: account.name().to_owned() },
            _ => Error::GithubStatus { status, message },
        });
    }
    let repos = serde_json::from_str(&body)
        .map_err(|cause| Error::GithubJson { url: url.to_owned(), cause })?;
    Ok(Page { repos, next: link.as_deref().and_then(next_link) })
}

/// The `rel="next"` target of a `Link` header, e.g.
/// `<https://api.github.com/user/1/repos?page=2>; rel="next", <...?page=5>; rel="last"`.
pub(crate) fn next_link(header: &str) -> Option<String> {
    let mut rest = header;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |next| close + next);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|param| {
            let Some((key, value)) = param.split_once('=') else { return false };
            key.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.trim().to_owned());
        }
        rest = &rest[params_end..];
    }
    None
}

/// Resolves a `next` link against the API base and refuses any other origin.
fn same_origin_link(base: &str, link: &str) -> Result<String> {
    let base_origin = origin(base);
    if link.starts_with('/') && !link.starts_with("//") {
        return Ok(format!("{base_origin}{link}"));
    }
    if origin(link).eq_ignore_ascii_case(base_origin) {
        Ok(link.to_owned())
    } else {
        Err(Error::ForeignNextLink { link: link.to_owned() })
    }
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let end = url[authority_start..].find('/').map_or(url.len(), |slash| authority_start + slash);
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_found_among_others() {
        let header = r#"<https://api.github.com/user/1/repos?per_page=100&page=1>; rel="prev", <https://api.github.com/user/1/repos?per_page=100&page=3>; rel="next", <https://api.github.com/user/1/repos?page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/user/1/repos?per_page=100&page=3")
        );
        assert_eq!(next_link(r#"<https://x/a?page=1>; rel="first""#), None);
        assert_eq!(next_link(""), None);
        assert_eq!(next_link("<broken"), None);
    }

    #[test]
    fn next_links_to_another_origin_are_refused() {
        let base = "https://api.github.com";
        assert_eq!(
            same_origin_link(base, "https://api.github.com/x?page=2").ok().as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert_eq!(
            same_origin_link(base, "/x?page=2").ok().as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert!(same_origin_link(base, "https://evil.example/x").is_err());
        assert!(same_origin_link(base, "https://api.github.com.evil.example/x").is_err());
        assert!(same_origin_link(base, "//evil.example/x").is_err());
    }

    #[test]
    fn token_debug_hides_the_value() {
        let token = Token::new(" ghp_secret\n").expect("not empty");
        assert!(!format!("{token:?}").contains("ghp_secret"));
        assert_eq!(token.authorization(), "Bearer ghp_secret");
        assert_eq!(Token::new("  \n"), None);
    }

    #[test]
    fn account_names_that_could_change_the_path_are_refused() {
        let error =
            fetch_github(&GithubAccount::User("../orgs/x".into()), &GithubOptions::default())
                .expect_err("invalid name");
        assert!(matches!(error, Error::InvalidAccount { .. }));
    }
}
