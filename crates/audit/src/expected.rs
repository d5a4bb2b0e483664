//! The list of repositories that should exist locally, and the plain-file form of it.

use std::path::Path;

use crate::remote_url::{RepoId, parse_remote_url, redact_credentials};
use crate::{Error, Result};

/// One repository that should have a local clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRepo {
    /// Its name, which is also the local folder's name and the report's key.
    pub name: String,
    /// Its owner (GitHub user or organisation), when known.
    pub owner: Option<String>,
    /// Where to clone it from, when known (credentials removed).
    pub clone_url: Option<String>,
}

impl ExpectedRepo {
    /// The owner and name to compare a clone's `origin` against.
    pub fn id(&self) -> RepoId {
        RepoId { owner: self.owner.clone(), name: self.name.clone() }
    }
}

/// Every repository that should exist locally, and where the list came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpectedList {
    /// The repositories, one per name (names are unique ignoring case).
    pub repos: Vec<ExpectedRepo>,
    /// The GitHub user or organisation the list was fetched for, written to the report's `github_user`.
    pub github_account: Option<String>,
}

impl ExpectedList {
    /// Builds a list from repositories, keeping the first of any names that differ only in case.
    pub fn from_repos(repos: impl IntoIterator<Item = ExpectedRepo>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let repos =
            repos.into_iter().filter(|repo| seen.insert(repo.name.to_lowercase())).collect();
        Self { repos, github_account: None }
    }
}

/// Reads a plain expected-list file; see [`parse_expected_list`] for its form.
pub fn read_expected_file(path: &Path) -> Result<ExpectedList> {
    let text = std::fs::read_to_string(path)
        .map_err(|cause| Error::ExpectedFile { path: path.to_owned(), cause })?;
    parse_expected_list(&text)
}

/// Parses an expected list: one repository per line, as a name (`halo`), `owner/name`, or any
/// remote URL git accepts. Blank lines and lines starting with `#` are skipped, as is a trailing
/// ` # comment`.
///
/// An `owner/name` line gets the clone URL `https://github.com/owner/name.git`, since the
/// listing this file replaces is GitHub's.
pub fn parse_expected_list(text: &str) -> Result<ExpectedList> {
    let mut repos = Vec::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = strip_comment(raw_line).trim();
        if line.is_empty() {
            continue;
        }
        let repo = parse_line(line)
            .ok_or_else(|| Error::ExpectedLine { line: index + 1, text: raw_line.to_owned() })?;
        repos.push(repo);
    }
    Ok(ExpectedList::from_repos(repos))
}

/// Drops a whole-line `#` comment or a ` #` comment after the entry.
fn strip_comment(line: &str) -> &str {
    if line.trim_start().starts_with('#') {
        return "";
    }
    match line.find(" #").or_else(|| line.find("\t#")) {
        Some(at) => &line[..at],
        None => line,
    }
}

fn parse_line(line: &str) -> Option<ExpectedRepo> {
    let is_url = line.contains(':');
    if !is_url {
        let segments: Vec<&str> = line.split('/').collect();
        match segments.as_slice() {
            [name] if is_valid_name(name) => {
                return Some(ExpectedRepo {
                    name: (*name).to_owned(),
                    owner: None,
                    clone_url: None,
                });
            }
            [owner, name] if is_valid_name(owner) && is_valid_name(name) => {
                let name = name.strip_suffix(".git").unwrap_or(name);
                return Some(ExpectedRepo {
                    name: name.to_owned(),
                    owner: Some((*owner).to_owned()),
                    clone_url: Some(format!("https://github.com/{owner}/{name}.git")),
                });
            }
            _ => {}
        }
    }
    let RepoId { owner, name } = parse_remote_url(line)?;
    is_valid_name(&name).then(|| ExpectedRepo {
        name,
        owner,
        clone_url: Some(redact_credentials(line)),
    })
}

/// A name that can be a folder name and a URL segment: not empty, no separators, not `.`/`..`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_owner_names_and_urls_are_read() {
        let text = "\
# my repositories
halo
alice/kitshn
git@github.com:alice/esphome.git   # the ssh one
https://bob:pw@github.com/bob/ha-notify.git

HALO
";
        let list = parse_expected_list(text).expect("valid list");
        let names: Vec<&str> = list.repos.iter().map(|repo| repo.name.as_str()).collect();
        assert_eq!(names, ["halo", "kitshn", "esphome", "ha-notify"]);
        assert_eq!(list.repos[0].owner, None);
        assert_eq!(list.repos[1].clone_url.as_deref(), Some("https://github.com/alice/kitshn.git"));
        assert_eq!(list.repos[2].owner.as_deref(), Some("alice"));
        assert_eq!(list.repos[2].clone_url.as_deref(), Some("git@github.com:alice/esphome.git"));
        assert_eq!(
            list.repos[3].clone_url.as_deref(),
            Some("https://github.com/bob/ha-notify.git")
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics_and_keeps_names_unique(text in "(\\PC{0,30}\n){0,20}") {
            if let Ok(list) = parse_expected_list(&text) {
                let mut names: Vec<String> = list.repos.iter().map(|repo| repo.name.to_lowercase()).collect();
                let count = names.len();
                names.sort();
                names.dedup();
                proptest::prop_assert_eq!(names.len(), count);
                proptest::prop_assert!(list.repos.iter().all(|repo| is_valid_name(&repo.name)));
            }
        }
    }

    #[test]
    fn a_line_naming_no_repository_is_an_error_with_its_number() {
        let error = parse_expected_list("halo\nhttps://github.com/\n").expect_err("bad line");
        assert!(matches!(error, Error::ExpectedLine { line: 2, .. }), "{error}");
    }
}
