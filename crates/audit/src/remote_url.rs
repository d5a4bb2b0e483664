//! Reading a repository's owner and name out of a git remote URL, in every spelling git accepts.
//!
//! Remote URLs come as `https://github.com/alice/halo.git`, with credentials
//! (`https://user:token@github.com/alice/halo`), scp-like ssh (`git@github.com:alice/halo.git`),
//! `ssh://git@github.com:22/alice/halo.git`, `git://...`, `file:///srv/alice/halo.git` or a plain
//! path. Two URLs name the same repository when their owner and name agree, ignoring case and a
//! trailing `.git`; the host is not compared, because ssh host aliases (`github-work:`) are common.

/// A repository as named by a URL or an expected-list line: its owner (when known) and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoId {
    /// The path segment before the name (the GitHub user or organisation), if the URL has one.
    pub owner: Option<String>,
    /// The repository's name, without a trailing `.git`.
    pub name: String,
}

impl RepoId {
    /// Whether `self` (what was expected) and `actual` name the same repository.
    ///
    /// Names are compared case-insensitively; owners too, but only when both sides know one, so an
    /// expected list of bare names still catches a clone of another repository.
    pub fn same_repo(&self, actual: &RepoId) -> bool {
        let same_name = self.name.to_lowercase() == actual.name.to_lowercase();
        let same_owner = match (&self.owner, &actual.owner) {
            (Some(expected), Some(actual)) => expected.to_lowercase() == actual.to_lowercase(),
            _ => true,
        };
        same_name && same_owner
    }
}

/// Reads owner and name out of a remote URL or path; `None` when it names no repository at all.
pub fn parse_remote_url(url: &str) -> Option<RepoId> {
    let url = url.trim();
    if url.is_empty() {
        return None;
    }
    let path = url_path(url);
    let path = path.trim_end_matches('/');
    let path = strip_git_suffix(path).trim_end_matches('/');
    let mut segments =
        path.split(['/', '\\']).filter(|segment| !segment.is_empty() && *segment != ".");
    let name = segments.next_back()?;
    if name == ".." {
        return None;
    }
    let owner = segments.next_back().filter(|owner| *owner != "..").map(str::to_owned);
    Some(RepoId { owner, name: name.to_owned() })
}

/// The path part of a URL: after the authority for `scheme://` URLs, after the colon for scp-like ones.
fn url_path(url: &str) -> &str {
    if let Some((_scheme, rest)) = url.split_once("://") {
        // `file:///srv/x` has an empty authority; every other scheme has `[user@]host[:port]`.
        return match rest.find('/') {
            Some(slash) => &rest[slash..],
            None => "",
        };
    }
    if let Some(colon) = scp_colon(url) {
        return &url[colon + 1..];
    }
    url
}

/// Where the colon of an scp-like `[user@]host:path` sits; git's rule is that it comes before any slash.
fn scp_colon(url: &str) -> Option<usize> {
    let colon = url.find(':')?;
    let slash = url.find('/').unwrap_or(url.len());
    // A one-letter "host" is a Windows drive (`C:\repos\x`), not a host.
    (colon < slash && colon > 1).then_some(colon)
}

/// Drops a trailing `.git` (any case), leaving names with other dots (`my.site`, `a.github.io`) alone.
fn strip_git_suffix(path: &str) -> &str {
    let len = path.len();
    if len > 4 && path.is_char_boundary(len - 4) && path[len - 4..].eq_ignore_ascii_case(".git") {
        &path[..len - 4]
    } else {
        path
    }
}

/// Removes credentials from a URL before it goes into a report that browsers will see.
///
/// For `http(s)://` the whole user-info part goes (a token is often the user name:
/// `https://TOKEN@github.com/...`); for other schemes only a `:password` part goes, so
/// `ssh://git@host/...` keeps its harmless `git@`. scp-like and plain paths carry no secret.
pub fn redact_credentials(url: &str) -> String {
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
    if is_http {
        format!("{scheme}://{host}{path}")
    } else {
        let user = user_info.split(':').next().unwrap_or_default();
        format!("{scheme}://{user}@{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(owner: &str, name: &str) -> Option<RepoId> {
        Some(RepoId { owner: Some(owner.to_owned()), name: name.to_owned() })
    }

    #[test]
    fn every_url_form_gives_owner_and_name() {
        let cases = [
            "https://github.com/alice/halo.git",
            "https://github.com/alice/halo",
            "https://github.com/alice/halo/",
            "https://github.com/alice/halo.git/",
            "http://github.com/alice/halo.git",
            "https://user:secret@github.com/alice/halo.git",
            "https://TOKEN@github.com/alice/halo",
            "git@github.com:alice/halo.git",
            "github.com:alice/halo",
            "github-work:alice/halo.git",
            "ssh://git@github.com/alice/halo.git",
            "ssh://git@github.com:22/alice/halo.git",
            "git://github.com/alice/halo.git",
            "file:///srv/git/alice/halo.git",
            "/srv/remotes/alice/halo.git",
            "/srv/remotes/alice/halo.GIT",
        ];
        for url in cases {
            assert_eq!(parse_remote_url(url), id("alice", "halo"), "{url}");
        }
    }

    #[test]
    fn names_with_dots_keep_them() {
        assert_eq!(
            parse_remote_url("git@github.com:alice/alice.github.io.git"),
            id("alice", "alice.github.io")
        );
        assert_eq!(parse_remote_url("https://github.com/alice/my.site"), id("alice", "my.site"));
        assert_eq!(
            parse_remote_url("https://github.com/alice/.dotfiles.git"),
            id("alice", ".dotfiles")
        );
    }

    #[test]
    fn urls_without_a_repository_give_none() {
        for url in ["", "  ", "https://github.com", "https://github.com/", "git@github.com:", ".."]
        {
            assert_eq!(parse_remote_url(url), None, "{url:?}");
        }
    }

    #[test]
    fn comparison_ignores_case_and_missing_owner() {
        let expected = RepoId { owner: Some("Alice".into()), name: "HA-Notify".into() };
        assert!(
            expected.same_repo(&RepoId { owner: Some("alice".into()), name: "ha-notify".into() })
        );
        assert!(
            !expected.same_repo(&RepoId { owner: Some("bob".into()), name: "ha-notify".into() })
        );
        assert!(
            !expected.same_repo(&RepoId {
                owner: Some("alice".into()),
                name: "ha_person_notify".into()
            })
        );
        let name_only = RepoId { owner: None, name: "halo".into() };
        assert!(name_only.same_repo(&RepoId { owner: Some("anyone".into()), name: "Halo".into() }));
    }

    #[test]
    fn credentials_are_removed_from_http_urls_only_where_secret() {
        assert_eq!(
            redact_credentials("https://u:tok@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(redact_credentials("https://tok@github.com/a/b"), "https://github.com/a/b");
        assert_eq!(redact_credentials("ssh://git:pw@host/a/b"), "ssh://git@host/a/b");
        assert_eq!(redact_credentials("ssh://git@host/a/b"), "ssh://git@host/a/b");
        assert_eq!(redact_credentials("git@github.com:a/b.git"), "git@github.com:a/b.git");
        assert_eq!(redact_credentials("https://github.com/a@b/c"), "https://github.com/a@b/c");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn parsing_never_panics(url in "\\PC{0,60}") {
            let _ = parse_remote_url(&url);
            let _ = redact_credentials(&url);
        }

        #[test]
        fn every_spelling_of_one_repo_compares_equal(
            owner in "[A-Za-z0-9][A-Za-z0-9-]{0,15}",
            name in "[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}",
            user in "[a-z]{1,8}",
            secret in "[A-Za-z0-9]{1,12}",
        ) {
            prop_assume!(!name.to_lowercase().ends_with(".git") && name != "..");
            let expected = RepoId { owner: Some(owner.to_uppercase()), name: name.to_uppercase() };
            let spellings = [
                format!("https://github.com/{owner}/{name}"),
                format!("https://github.com/{owner}/{name}.git"),
                format!("https://{user}:{secret}@github.com/{owner}/{name}.git"),
                format!("git@github.com:{owner}/{name}.git"),
                format!("ssh://git@github.com:22/{owner}/{name}.git"),
                format!("ssh://git@github.com/{owner}/{name}"),
            ];
            for url in &spellings {
                let actual = parse_remote_url(url).expect("a well-formed url names a repository");
                prop_assert!(expected.same_repo(&actual), "{url} -> {actual:?}");
                let redacted = redact_credentials(url);
                prop_assert!(!redacted.contains(&format!(":{secret}@")), "{}", redacted);
            }
        }
    }
}
