//! The URL policy: which clone and remote URLs may reach git, and in which form.
//!
//! Allowed: `https://`, `ssh://` (and git's `git+ssh://` spellings), scp-like `[user@]host:path`,
//! and `file://` URLs or absolute paths under [`UrlPolicy::file_roots`]; plain `http://` only when
//! [`UrlPolicy::allow_http`] says so. Everything else is refused before git sees it: remote-helper
//! syntax (`ext::sh -c ...`, `fd::`), `git://` and other schemes, relative paths, anything that
//! starts with `-` (git would read `--upload-pack=...` as an option), hosts or users that start
//! with `-` (`ssh://-oProxyCommand=...`), whitespace and control characters. The check is
//! syntactic except for `file` URLs, whose path is resolved (symlinks followed) before it is
//! compared with the allowed roots.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// The longest URL accepted.
const MAX_URL_BYTES: usize = 2048;

/// Which URLs may be cloned from or set as a remote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Folders whose repositories may be named by `file://` URLs or absolute paths. Empty (the
    /// default): no local URLs at all. Compared after resolving symlinks on both sides.
    pub file_roots: Vec<PathBuf>,
    /// Whether plain `http://` URLs are allowed (off by default: nothing on the way is checked).
    pub allow_http: bool,
}

impl UrlPolicy {
    /// The value of git's `GIT_ALLOW_PROTOCOL` under this policy: the transports git itself may
    /// use, also for redirects and anything git starts on its own.
    pub(crate) fn git_allow_protocol(&self) -> String {
        let mut protocols = vec!["https", "ssh"];
        if self.allow_http {
            protocols.push("http");
        }
        if !self.file_roots.is_empty() {
            protocols.push("file");
        }
        protocols.join(":")
    }
}

/// The transport a [`CloneUrl`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UrlKind {
    /// `https://`.
    Https,
    /// `http://`, when allowed.
    Http,
    /// `ssh://`, `git+ssh://`, `ssh+git://`.
    Ssh,
    /// scp-like `[user@]host:path` (ssh).
    Scp,
    /// `file://` or an absolute path, under an allowed root.
    File,
}

/// A URL that passed [`check_clone_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloneUrl {
    given: String,
    for_git: String,
    kind: UrlKind,
}

impl CloneUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.given
    }

    /// The URL with any password or token replaced by `***`, for previews and logs.
    pub fn redacted(&self) -> String {
        redact_url(&self.given)
    }

    /// Its transport.
    pub fn kind(&self) -> UrlKind {
        self.kind
    }

    /// What is handed to git: the URL as given, or for local repositories a `file://` URL of
    /// the resolved path (so the path git opens is the one that was checked).
    pub(crate) fn for_git(&self) -> &str {
        &self.for_git
    }
}

/// Checks `url` against `policy` and returns it in the form git will be given.
///
/// Refused URLs come back as [`Error::UrlRefused`] with the rule they break; nothing is run.
pub fn check_clone_url(url: &str, policy: &UrlPolicy) -> Result<CloneUrl> {
    let refuse = |reason| Error::UrlRefused { url: redact_url(url), reason };
    let parsed = parse(url).map_err(refuse)?;
    let (kind, for_git) = match parsed {
        Parsed::Remote(UrlKind::Http) if !policy.allow_http => {
            return Err(refuse("plain http is not allowed; use https"));
        }
        Parsed::Remote(kind) => (kind, url.to_owned()),
        Parsed::Local(path) => (UrlKind::File, local_url(&path, policy).map_err(refuse)?),
    };
    Ok(CloneUrl { given: url.to_owned(), for_git, kind })
}

/// A URL's syntactic reading.
#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    /// A remote transport; the URL goes to git as written.
    Remote(UrlKind),
    /// A local repository at this (decoded, absolute) path.
    Local(PathBuf),
}

/// Reads `url` without touching the disk. Pure.
fn parse(url: &str) -> Result<Parsed, &'static str> {
    if url.is_empty() {
        return Err("it is empty");
    }
    if url.len() > MAX_URL_BYTES {
        return Err("it is longer than 2048 bytes");
    }
    if url.chars().any(char::is_control) {
        return Err("it has a control character (NUL, newline, tab, ...)");
    }
    if url.starts_with('-') {
        return Err("it starts with '-' and would be read as an option");
    }
    let scheme_end = url.find("://");
    if let Some(helper) = url.find("::")
        && scheme_end.is_none_or(|scheme_end| helper < scheme_end)
    {
        return Err("remote-helper syntax (<transport>::<address>, such as ext::) is not allowed");
    }
    if let Some(scheme_end) = scheme_end {
        let scheme = url[..scheme_end].to_ascii_lowercase();
        let rest = &url[scheme_end + 3..];
        if scheme == "file" {
            return parse_file_url(rest).map(Parsed::Local);
        }
        let kind = match scheme.as_str() {
            "https" => UrlKind::Https,
            "http" => UrlKind::Http,
            "ssh" | "git+ssh" | "ssh+git" => UrlKind::Ssh,
            _ => return Err("only https, ssh and file urls (under allowed roots) are allowed"),
        };
        if url.contains(char::is_whitespace) {
            return Err("it has whitespace");
        }
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, path) = rest.split_at(authority_end);
        check_authority(authority)?;
        if path.trim_matches('/').is_empty() {
            return Err("it names no repository path");
        }
        return Ok(Parsed::Remote(kind));
    }
    if url.starts_with('/') {
        return parse_local_path(url).map(Parsed::Local);
    }
    // git's rule for scp-like ssh: a colon before the first slash.
    let slash = url.find('/').unwrap_or(url.len());
    match url.find(':') {
        Some(colon) if colon < slash => {
            if url.contains(char::is_whitespace) {
                return Err("it has whitespace");
            }
            let (authority, path) = (&url[..colon], &url[colon + 1..]);
            if authority.starts_with('[') {
                return Err("bracketed hosts are not allowed in scp-like urls; use ssh://");
            }
            check_authority(authority)?;
            if path.is_empty() || path.trim_matches('/').is_empty() {
                return Err("it names no repository path");
            }
            if path.starts_with('-') {
                return Err("its path starts with '-'");
            }
            Ok(Parsed::Remote(UrlKind::Scp))
        }
        _ => Err("relative paths are not allowed; use a url or an absolute file path"),
    }
}

/// Checks `[user[:password]@]host[:port]`.
fn check_authority(authority: &str) -> Result<(), &'static str> {
    let (user_info, host_port) = match authority.rfind('@') {
        Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
        None => (None, authority),
    };
    if let Some(user_info) = user_info {
        if user_info.is_empty() {
            return Err("it has an empty user name");
        }
        if user_info.starts_with('-') {
            return Err("its user name starts with '-'");
        }
    }
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let close = bracketed.find(']').ok_or("it has an unclosed '[' in its host")?;
        let (address, after) = bracketed.split_at(close);
        if address.is_empty() || !address.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err("its bracketed host is not an ipv6 address");
        }
        let after = &after[1..];
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => return Err("it has text after its bracketed host"),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(host_port), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err("it has no host");
        }
        if host.starts_with('-') {
            return Err("its host starts with '-'");
        }
        if !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            return Err("its host has characters a host name cannot have");
        }
    }
    if let Some(port) = port
        && !port.is_empty()
        && (port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()))
    {
        return Err("its port is not a number");
    }
    Ok(())
}

/// The path of `file://<rest>`, percent-decoded as git decodes it.
fn parse_file_url(rest: &str) -> Result<PathBuf, &'static str> {
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err("file urls must name a local absolute path (file:///...)");
    }
    let decoded = percent_decode(path)?;
    if decoded.iter().any(|byte| byte.is_ascii_control()) {
        return Err("it has a control character (NUL, newline, tab, ...)");
    }
    parse_local_path_bytes(&decoded)
}

fn parse_local_path(path: &str) -> Result<PathBuf, &'static str> {
    parse_local_path_bytes(path.as_bytes())
}

fn parse_local_path_bytes(path: &[u8]) -> Result<PathBuf, &'static str> {
    let path = Path::new(std::ffi::OsStr::from_bytes(path));
    if path.components().any(|part| matches!(part, Component::ParentDir)) {
        return Err("file paths must not have '..' components");
    }
    Ok(path.to_owned())
}

fn percent_decode(text: &str) -> Result<Vec<u8>, &'static str> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3).ok_or("it has a broken %-escape")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "it has a broken %-escape")?;
            let byte = u8::from_str_radix(hex, 16).map_err(|_| "it has a broken %-escape")?;
            decoded.push(byte);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    Ok(decoded)
}

/// Resolves a local repository path, checks it against the allowed roots, and writes it back as
/// a `file://` URL with everything but plain characters escaped.
fn local_url(path: &Path, policy: &UrlPolicy) -> Result<String, &'static str> {
    if policy.file_roots.is_empty() {
        return Err("local repositories are not allowed (no file roots are configured)");
    }
    let real = std::fs::canonicalize(path).map_err(|_| "the local repository does not exist")?;
    let allowed = policy
        .file_roots
        .iter()
        .filter_map(|root| std::fs::canonicalize(root).ok())
        .any(|root| real.starts_with(&root) && real != root);
    if !allowed {
        return Err("the local repository is not under an allowed file root");
    }
    let mut url = String::from("file://");
    for &byte in real.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'.' | b'_' | b'~' | b'-') {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    Ok(url)
}

/// `url` with the credentials of a `scheme://user:secret@host` authority replaced: the whole user
/// part for http(s) (a token is often put in the user name), only the password for other schemes.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return url.to_owned();
    };
    let (user_info, host) = (&authority[..at], &authority[at + 1..]);
    let is_http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    match user_info.split_once(':') {
        _ if is_http => format!("{scheme}://***@{host}{path}"),
        Some((user, _secret)) => format!("{scheme}://{user}:***@{host}{path}"),
        None => url.to_owned(),
    }
}

/// Free text (git's output) with every `scheme://user:secret@` credential redacted.
pub(crate) fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find("://") {
        let scheme_start = rest[..found]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
            .map_or(0, |index| index + 1);
        out.push_str(&rest[..scheme_start]);
        let url_end = rest[found..]
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '<' | '>'))
            .map_or(rest.len(), |end| found + end);
        out.push_str(&redact_url(&rest[scheme_start..url_end]));
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UrlPolicy {
        UrlPolicy::default()
    }

    #[test]
    fn ordinary_urls_pass() {
        for (url, kind) in [
            ("https://github.com/alice/halo.git", UrlKind::Https),
            ("https://token@github.com/alice/halo", UrlKind::Https),
            ("https://[::1]:8443/alice/halo.git", UrlKind::Https),
            ("ssh://git@github.com:22/alice/halo.git", UrlKind::Ssh),
            ("git+ssh://git@github.com/alice/halo.git", UrlKind::Ssh),
            ("git@github.com:alice/halo.git", UrlKind::Scp),
            ("github-work:alice/halo.git", UrlKind::Scp),
            ("gitea.lan:alice/my.site", UrlKind::Scp),
        ] {
            let checked = check_clone_url(url, &policy()).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(checked.kind(), kind, "{url}");
            assert_eq!(checked.for_git(), url);
        }
    }

    #[test]
    fn hostile_and_foreign_urls_are_refused() {
        for url in [
            "",
            "--upload-pack=touch x",
            "-u touch x",
            "ext::sh -c touch% /tmp/pwned",
            "fd::17",
            "EXT::sh",
            "git://github.com/alice/halo",
            "ftp://example.org/x.git",
            "http://example.org/x.git",
            "ssh://-oProxyCommand=touch x/foo",
            "ssh://-oProxyCommand=touch/foo",
            "ssh://--upload-pack@host/x",
            "-oProxyCommand=touch:x",
            "host:--upload-pack=touch x",
            "host:-x",
            "https://github.com/alice/halo.git\n--upload-pack=x",
            "https://github.com/a\0b",
            "https://git hub.com/alice/halo",
            "https://github.com",
            "https://github.com/",
            "https://ex;ample.org/x",
            "; rm -rf ~",
            "../../etc",
            "halo",
            "file:///etc",
            "/etc/passwd",
            "file://otherhost/srv/x.git",
        ] {
            match check_clone_url(url, &policy()) {
                Err(Error::UrlRefused { .. }) => {}
                other => panic!("{url:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn http_only_when_allowed() {
        let allow = UrlPolicy { allow_http: true, ..UrlPolicy::default() };
        assert!(check_clone_url("http://gitea.lan/alice/x.git", &allow).is_ok());
        assert!(check_clone_url("http://gitea.lan/alice/x.git", &policy()).is_err());
        assert_eq!(allow.git_allow_protocol(), "https:ssh:http");
        assert_eq!(policy().git_allow_protocol(), "https:ssh");
    }

    #[test]
    fn file_urls_only_under_allowed_roots_after_resolving_symlinks() {
        let temp = tempfile::tempdir().expect("temp");
        let allowed = temp.path().join("mirrors");
        let elsewhere = temp.path().join("elsewhere");
        std::fs::create_dir_all(allowed.join("a b.git")).expect("mkdir");
        std::fs::create_dir_all(elsewhere.join("x.git")).expect("mkdir");
        std::os::unix::fs::symlink(elsewhere.join("x.git"), allowed.join("link.git"))
            .expect("symlink");
        let policy = UrlPolicy { file_roots: vec![allowed.clone()], ..UrlPolicy::default() };
        let real_allowed = std::fs::canonicalize(&allowed).expect("canonical");

        let spaced = format!("file://{}/a%20b.git", allowed.display());
        let checked = check_clone_url(&spaced, &policy).expect("allowed");
        assert_eq!(checked.kind(), UrlKind::File);
        assert_eq!(checked.for_git(), format!("file://{}/a%20b.git", real_allowed.display()));
        let plain = allowed.join("a b.git");
        let checked = check_clone_url(plain.to_str().expect("utf-8"), &policy).expect("allowed");
        assert_eq!(checked.for_git(), format!("file://{}/a%20b.git", real_allowed.display()));

        for refused in [
            format!("file://{}/link.git", allowed.display()),
            format!("file://{}/x.git", elsewhere.display()),
            format!("file://{}/../elsewhere/x.git", allowed.display()),
            format!("file://{}", allowed.display()),
            format!("file://{}/absent.git", allowed.display()),
            format!("file://{}/a%2", allowed.display()),
            format!("file://{}/a%0Ab", allowed.display()),
        ] {
            assert!(
                matches!(check_clone_url(&refused, &policy), Err(Error::UrlRefused { .. })),
                "{refused}"
            );
        }
    }

    #[test]
    fn credentials_are_redacted_in_urls_and_text() {
        assert_eq!(redact_url("https://tok@github.com/a/b"), "https://***@github.com/a/b");
        assert_eq!(redact_url("https://u:p@github.com/a/b"), "https://***@github.com/a/b");
        assert_eq!(redact_url("ssh://git:pw@host/a"), "ssh://git:***@host/a");
        assert_eq!(redact_url("ssh://git@host/a"), "ssh://git@host/a");
        assert_eq!(redact_url("git@host:a/b"), "git@host:a/b");
        assert_eq!(
            redact_text("fatal: unable to access 'https://u:secret@h/x/': 403"),
            "fatal: unable to access 'https://***@h/x/': 403"
        );
        assert_eq!(redact_text("no urls here"), "no urls here");
    }

    proptest::proptest! {
        #[test]
        fn no_accepted_url_starts_with_a_dash_or_uses_a_helper(url in "\\PC{0,30}|[-:/@a-z ]{0,12}") {
            if let Ok(checked) = check_clone_url(&url, &UrlPolicy::default()) {
                proptest::prop_assert!(!checked.for_git().starts_with('-'));
                proptest::prop_assert!(!checked.for_git().contains(char::is_whitespace));
                let helper = checked.for_git().find("::");
                let scheme = checked.for_git().find("://");
                proptest::prop_assert!(helper.is_none() || scheme.is_some_and(|s| s < helper.unwrap_or(0)));
            }
        }
    }
}
