//! [`change_between`] and [`catch_up`]: changes built from repository states a caller kept
//! itself (the hub's history), not from two whole reports.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};

use gitops_report::{Repo, Report};

use crate::{Changes, RepoChange, RepoChangeKind, meta_of};

/// The change for key `(name, dup)` from `before` to `after`, where `None` means absent.
///
/// `None` when both are absent or equal. Equal repositories cost one `==`; only differing ones
/// are turned into JSON for the patch.
pub fn change_between(
    name: &str,
    dup: u32,
    before: Option<&Repo>,
    after: Option<&Repo>,
) -> Option<RepoChange> {
    let kind = match (before, after) {
        (None, None) => return None,
        (Some(old), Some(new)) if old == new => return None,
        (None, Some(new)) => RepoChangeKind::Added { repo: new.clone() },
        (Some(old), None) => RepoChangeKind::Removed { old_status: old.status.clone() },
        (Some(old), Some(new)) => RepoChangeKind::Changed {
            old_status: old.status.clone(),
            new_status: new.status.clone(),
            ops: json_patch::diff(
                &crate::apply::repo_to_value(old),
                &crate::apply::repo_to_value(new),
            ),
        },
    };
    Some(RepoChange { name: name.to_owned(), dup, kind })
}

/// The one [`Changes`] that takes a report from a past state to `current`, given only what a
/// history of changes since then remembers: the state each change replaced.
///
/// `befores` lists, oldest first, every repository change made since the past state as its key
/// `(name, dup)` and the repository that key held just before the change (`None` when the change
/// added it). Only the first entry per key counts: that is the key's state in the past report.
/// `touched_meta` names every top-level field changed since then, repeats allowed.
///
/// The result has, per key, one [`change_between`] its past state and its state in `current`
/// (nothing when they are equal), in the canonical order [`crate::diff`] gives (additions
/// in rising `dup`, removals with the highest `dup` first), and every touched top-level field
/// with its value in `current` (`null` when gone). Unlike [`crate::compose`] over the single
/// changes, it stays one diff per key however often a repository flipped meanwhile.
pub fn catch_up<'a>(
    befores: impl IntoIterator<Item = ((&'a str, u32), Option<&'a Repo>)>,
    touched_meta: impl IntoIterator<Item = &'a str>,
    current: &Report,
) -> Changes {
    let mut seen = HashSet::new();
    let first_befores: Vec<_> = befores.into_iter().filter(|(key, _)| seen.insert(*key)).collect();
    let now_by_key = index_by_key(&current.repos);
    let mut repos = Vec::new();
    let mut removed = Vec::new();
    for ((name, dup), before) in first_befores {
        let after = now_by_key.get(&(name, dup)).copied();
        match change_between(name, dup, before, after) {
            Some(change @ RepoChange { kind: RepoChangeKind::Removed { .. }, .. }) => {
                removed.push(change)
            }
            Some(change) => repos.push(change),
            None => {}
        }
    }
    // Additions in ascending `dup`, removals in descending `dup`, so each applies to the
    // occurrence its key names while the others are applied one by one.
    repos.sort_by(|a, b| (a.name.as_str(), a.dup).cmp(&(b.name.as_str(), b.dup)));
    removed
        .sort_by(|a, b| (a.name.as_str(), Reverse(a.dup)).cmp(&(b.name.as_str(), Reverse(b.dup))));
    repos.extend(removed);
    let touched_meta: BTreeSet<&str> = touched_meta.into_iter().collect();
    let meta = (!touched_meta.is_empty()).then(|| {
        let now = meta_of(current);
        touched_meta
            .into_iter()
            .map(|key| (key.to_owned(), now.get(key).cloned().unwrap_or(serde_json::Value::Null)))
            .collect()
    });
    Changes { repos, meta }
}

/// Every repository by `(name, dup)`, `dup` counting earlier repositories of the same name.
fn index_by_key(repos: &[Repo]) -> HashMap<(&str, u32), &Repo> {
    let mut seen: HashMap<&str, u32> = HashMap::with_capacity(repos.len());
    let mut by_key = HashMap::with_capacity(repos.len());
    for repo in repos {
        let dup = seen.entry(repo.name.as_str()).or_insert(0);
        by_key.insert((repo.name.as_str(), *dup), repo);
        *dup += 1;
    }
    by_key
}

#[cfg(test)]
mod tests {
    use gitops_report::Status;

    use super::*;

    fn repo(status: Status) -> Repo {
        Repo { name: "halo".to_owned(), status, ..Repo::default() }
    }

    #[test]
    fn each_presence_pair_gives_its_kind() {
        let (clean, dirty) = (repo(Status::Clean), repo(Status::Dirty));
        assert_eq!(change_between("halo", 0, None, None), None);
        assert_eq!(change_between("halo", 0, Some(&clean), Some(&clean)), None);
        let added = change_between("halo", 1, None, Some(&clean)).expect("added");
        assert!(matches!(added.kind, RepoChangeKind::Added { .. }) && added.dup == 1);
        let removed = change_between("halo", 0, Some(&dirty), None).expect("removed");
        assert_eq!(removed.kind, RepoChangeKind::Removed { old_status: Status::Dirty });
        let changed = change_between("halo", 0, Some(&clean), Some(&dirty)).expect("changed");
        let RepoChangeKind::Changed { old_status, new_status, ops } = changed.kind else {
            panic!("expected changed")
        };
        assert_eq!((old_status, new_status), (Status::Clean, Status::Dirty));
        assert_eq!(ops.0.len(), 1);
    }
}
