//! The audit root and the repositories in it: which folder a report row names, and the check that
//! it is one folder directly inside the root, symlinks resolved.

use std::path::{Component, Path, PathBuf};

use gitops_report::Repo;

use crate::error::{Error, Result};

/// Folder names starting with this are this crate's own (clones in progress) and never a target.
pub(crate) const RESERVED_PREFIX: &str = ".gitops-";

/// The longest folder name accepted, in bytes (the common filesystem limit).
const MAX_NAME_BYTES: usize = 255;

/// Checks that `name` can be used as one folder name directly inside the root. Pure.
///
/// Refused: empty, `.` and `..`, anything with `/` or `\`, NUL or another control character
/// (newline, tab, escape), a leading `-` (git or another program could read it as an option),
/// names longer than 255 bytes and this crate's reserved `.gitops-` prefix. Spaces, other
/// punctuation and any Unicode letter are fine: the name never passes through a shell.
pub fn check_folder_name(name: &str) -> Result<()> {
    let refuse = |reason| Err(Error::BadName { name: name.to_owned(), reason });
    if name.is_empty() {
        return refuse("it is empty");
    }
    if name == "." || name == ".." {
        return refuse("it names the root or its parent");
    }
    if name.contains(['/', '\\']) {
        return refuse("it has a path separator");
    }
    if name.chars().any(char::is_control) {
        return refuse("it has a control character (NUL, newline, tab, ...)");
    }
    if name.starts_with('-') {
        return refuse("it starts with '-'");
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse("it is longer than 255 bytes");
    }
    if name.starts_with(RESERVED_PREFIX) {
        return refuse("the .gitops- prefix is reserved for this tool's own folders");
    }
    Ok(())
}

/// The audit root: the folder whose direct subfolders are the clones. Canonical (absolute, no
/// symlinks), so that "inside the root" can be checked by comparing resolved paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    path: PathBuf,
}

impl Root {
    /// Canonicalises `path` and checks that it is a folder.
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        let given = path.as_ref();
        let root_error = |cause| Error::Root { path: given.to_owned(), cause };
        let path = std::fs::canonicalize(given).map_err(root_error)?;
        let meta = std::fs::metadata(&path).map_err(root_error)?;
        if !meta.is_dir() {
            return Err(root_error(std::io::Error::new(
                std::io::ErrorKind::NotADirectory,
                "not a folder",
            )));
        }
        Ok(Self { path })
    }

    /// The canonical root folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder a report row names, checked to lie inside the root.
    ///
    /// The folder is the last component of the row's `local_path` (or legacy `path`), whose parent
    /// must be the root; a row without one (a missing repository) names the folder `name`. Both
    /// the row's name and the folder name must pass [`check_folder_name`]. When the folder exists
    /// it must resolve, symlinks followed, to a folder strictly inside the root.
    pub fn resolve(&self, repo: &Repo) -> Result<Target> {
        check_folder_name(&repo.name)?;
        let reported = repo.local_path.as_deref().or_else(|| {
            repo.extra
                .get("path")
                .and_then(serde_json::Value::as_str)
                .filter(|path| !path.is_empty())
        });
        let folder = match reported {
            None => repo.name.clone(),
            Some(reported) => self.folder_of_reported_path(&repo.name, Path::new(reported))?,
        };
        self.target(&repo.name, &folder)
    }

    /// The folder named `folder` directly inside the root, acted on under the repository name
    /// `name`. Both names must pass [`check_folder_name`]; an existing folder must resolve inside
    /// the root.
    pub fn target(&self, name: &str, folder: &str) -> Result<Target> {
        check_folder_name(name)?;
        check_folder_name(folder)?;
        let path = self.path.join(folder);
        let real = match std::fs::symlink_metadata(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(cause) => return Err(Error::Io { operation: "cannot read", path, cause }),
            Ok(meta) => {
                let real = if meta.file_type().is_symlink() {
                    // A link whose target is absent resolves nowhere; it is outside for our purposes.
                    std::fs::canonicalize(&path).map_err(|_| Error::OutsideRoot {
                        name: name.to_owned(),
                        path: std::fs::read_link(&path).unwrap_or_else(|_| path.clone()),
                    })?
                } else {
                    path.clone()
                };
                if real == self.path || !real.starts_with(&self.path) {
                    return Err(Error::OutsideRoot { name: name.to_owned(), path: real });
                }
                if !std::fs::metadata(&real).is_ok_and(|meta| meta.is_dir()) {
                    return Err(Error::NotARepository {
                        name: name.to_owned(),
                        reason: "not a folder".to_owned(),
                    });
                }
                Some(real)
            }
        };
        Ok(Target {
            name: name.to_owned(),
            folder: folder.to_owned(),
            root: self.path.clone(),
            path,
            real,
        })
    }

    /// The folder name in a row's reported path, whose parent must be the root.
    fn folder_of_reported_path(&self, name: &str, reported: &Path) -> Result<String> {
        let outside = || Error::OutsideRoot { name: name.to_owned(), path: reported.to_owned() };
        if !reported.is_absolute()
            || reported.components().any(|part| matches!(part, Component::ParentDir))
        {
            return Err(outside());
        }
        let folder = reported.file_name().and_then(|folder| folder.to_str()).ok_or_else(outside)?;
        let parent = reported.parent().ok_or_else(outside)?;
        // The auditor writes the root as it was configured, which may differ from the canonical
        // root by a symlink; compare them resolved.
        let same_root = parent == self.path
            || std::fs::canonicalize(parent).is_ok_and(|parent| parent == self.path);
        if !same_root {
            return Err(outside());
        }
        Ok(folder.to_owned())
    }
}

/// One repository's folder inside the root, as checked by [`Root::resolve`]. It may not exist yet
/// (a repository to clone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    name: String,
    folder: String,
    root: PathBuf,
    path: PathBuf,
    real: Option<PathBuf>,
}

impl Target {
    /// The repository's name in the report.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The folder's name directly inside the root.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// `<root>/<folder>`, as named (a symlink stays a symlink).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The canonical root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder with symlinks resolved, when it exists; always inside the root.
    pub fn real_path(&self) -> Option<&Path> {
        self.real.as_deref()
    }

    /// Whether the folder existed when it was resolved.
    pub fn exists(&self) -> bool {
        self.real.is_some()
    }

    /// The folder to work in, or [`Error::NoFolder`].
    pub(crate) fn existing(&self) -> Result<&Path> {
        self.real.as_deref().ok_or_else(|| Error::NoFolder { name: self.name.clone() })
    }

    /// The key two actions on this repository share: the resolved folder, or where it would be.
    pub(crate) fn lock_key(&self) -> &Path {
        self.real.as_deref().unwrap_or(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass() {
        for name in ["halo", "ha-notify", "my.site", "a b", "日本語", ".github", "x_y", "a-"] {
            assert!(check_folder_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        let long = "a".repeat(256);
        for name in [
            "",
            ".",
            "..",
            "../../etc",
            "/etc",
            "a/b",
            "a\\b",
            "-rf",
            "--upload-pack=touch x",
            "a\0b",
            "a\nb",
            "a\rb",
            "tab\there",
            "\u{1b}[31m",
            long.as_str(),
            ".gitops-clone-1",
        ] {
            assert!(
                matches!(check_folder_name(name), Err(Error::BadName { .. })),
                "{name:?} passed"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn an_accepted_name_is_exactly_one_normal_component(name in "\\PC{0,40}|[-./\\\\a\0\n]{0,6}") {
            if check_folder_name(&name).is_ok() {
                let mut components = Path::new(&name).components();
                proptest::prop_assert!(
                    matches!(components.next(), Some(Component::Normal(part)) if part == name.as_str())
                );
                proptest::prop_assert!(components.next().is_none());
                proptest::prop_assert!(!name.starts_with('-'));
            }
        }
    }
}
