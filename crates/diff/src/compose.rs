//! [`compose`]: two consecutive [`Changes`] merged into one, without the report they apply to.

use std::cmp::Reverse;
use std::collections::HashMap;

use json_patch::{Patch, PatchOperation, ReplaceOperation};

use crate::apply::{patch_repo, repo_to_value};
use crate::{Changes, RepoChange, RepoChangeKind};

/// One [`Changes`] that does what `first` then `second` do.
///
/// Both must be in the canonical form [`crate::diff`] produces (see the crate docs), `second`
/// taking up where `first` left off; the result is canonical too. Changes are merged per
/// `(name, dup)`:
///
/// | first   | second  | result |
/// | ------- | ------- | ------ |
/// | added   | changed | added, with the patched repository |
/// | added   | removed | nothing |
/// | changed | changed | changed: first `old_status`, second `new_status`, both patches in turn |
/// | changed | removed | removed, with first `old_status` |
/// | removed | added   | changed, with a patch that replaces the whole repository |
///
/// Top-level field changes are merged, the later value of a field winning. Any other pair cannot come from consistent changes; both are
/// kept, one after the other, so that applying the result reports the inconsistency. A
/// `changed` whose patches cancel out is kept: finding that out would need the report.
pub fn compose(first: Changes, second: Changes) -> Changes {
    // Every key's changes so far, normally one; more only when inconsistent ones could not merge.
    let mut chains: Vec<(String, u32, Vec<RepoChangeKind>)> = Vec::with_capacity(first.repos.len());
    let mut index: HashMap<(String, u32), usize> = HashMap::with_capacity(first.repos.len());
    for RepoChange { name, dup, kind } in first.repos.into_iter().chain(second.repos) {
        match index.get(&(name.clone(), dup)) {
            Some(&at) => {
                let chain = &mut chains[at].2;
                match chain.pop() {
                    Some(earlier) => chain.extend(merge(earlier, kind, &name, dup)),
                    None => chain.push(kind),
                }
            }
            None => {
                index.insert((name.clone(), dup), chains.len());
                chains.push((name, dup, vec![kind]));
            }
        }
    }
    chains.retain(|(_, _, chain)| !chain.is_empty());
    // Canonical order: changes, then removals with each name's highest `dup` first, then
    // additions in rising `dup`. The sort is stable, so equal keys keep their first appearance.
    chains.sort_by_key(|(_, dup, chain)| match chain.first() {
        Some(RepoChangeKind::Changed { .. }) | None => (0, Reverse(0), 0),
        Some(RepoChangeKind::Removed { .. }) => (1, Reverse(*dup), 0),
        Some(RepoChangeKind::Added { .. }) => (2, Reverse(0), *dup),
    });
    let repos = chains
        .into_iter()
        .flat_map(|(name, dup, chain)| {
            chain.into_iter().map(move |kind| RepoChange { name: name.clone(), dup, kind })
        })
        .collect();
    let meta = match (first.meta, second.meta) {
        // Both are top-level merge patches: the later one's fields win, the others stay.
        (Some(mut earlier), Some(later)) => {
            earlier.extend(later);
            Some(earlier)
        }
        (earlier, later) => later.or(earlier),
    };
    Changes { repos, meta }
}

/// What `earlier` then `later`, both for the repository `(name, dup)`, come to: none, one or both.
fn merge(
    earlier: RepoChangeKind,
    later: RepoChangeKind,
    name: &str,
    dup: u32,
) -> Vec<RepoChangeKind> {
    use RepoChangeKind::{Added, Changed, Removed};
    match (earlier, later) {
        (Added { repo }, Changed { old_status, new_status, ops }) => {
            match patch_repo(&repo, name, dup, &ops) {
                Ok(patched) => vec![Added { repo: patched }],
                // The patch does not fit the repository it follows: keep both, so that applying
                // the result fails just as applying the two in turn would.
                Err(_) => vec![Added { repo }, Changed { old_status, new_status, ops }],
            }
        }
        (Added { .. }, Removed { .. }) => Vec::new(),
        (Changed { old_status, ops: mut first_ops, .. }, Changed { new_status, ops, .. }) => {
            first_ops.0.extend(ops.0);
            vec![Changed { old_status, new_status, ops: first_ops }]
        }
        (Changed { old_status, .. }, Removed { .. }) => vec![Removed { old_status }],
        (Removed { old_status }, Added { repo }) => {
            let replace_whole = PatchOperation::Replace(ReplaceOperation {
                value: repo_to_value(&repo),
                ..ReplaceOperation::default()
            });
            vec![Changed { old_status, new_status: repo.status, ops: Patch(vec![replace_whole]) }]
        }
        (earlier, later) => vec![earlier, later],
    }
}

#[cfg(test)]
mod tests {
    use gitops_report::{Repo, Report, Status};
    use serde_json::json;

    use super::*;

    fn repo(name: &str, status: Status) -> Repo {
        Repo { name: name.to_owned(), status, ..Repo::default() }
    }

    fn report(repos: Vec<Repo>) -> Report {
        Report { repos, ..Report::default() }
    }

    #[test]
    fn added_then_changed_is_added_with_the_new_repo() {
        let a = report(vec![]);
        let b = report(vec![repo("x", Status::Dirty)]);
        let c = report(vec![repo("x", Status::Clean)]);
        let composed = compose(crate::diff(&a, &b), crate::diff(&b, &c));
        assert_eq!(
            composed.repos,
            [RepoChange {
                name: "x".to_owned(),
                dup: 0,
                kind: RepoChangeKind::Added { repo: repo("x", Status::Clean) }
            }]
        );
    }

    #[test]
    fn added_then_removed_is_nothing() {
        let a = report(vec![]);
        let b = report(vec![repo("x", Status::Dirty)]);
        assert!(compose(crate::diff(&a, &b), crate::diff(&b, &a)).is_empty());
    }

    #[test]
    fn removed_then_added_replaces_the_whole_repo() {
        let a = report(vec![repo("x", Status::Dirty)]);
        let b = report(vec![]);
        let c = report(vec![repo("x", Status::Clean)]);
        let composed = compose(crate::diff(&a, &b), crate::diff(&b, &c));
        let [RepoChange { kind: RepoChangeKind::Changed { old_status, new_status, ops }, .. }] =
            &composed.repos[..]
        else {
            panic!("expected one change, got {composed:?}")
        };
        assert_eq!((old_status, new_status), (&Status::Dirty, &Status::Clean));
        assert_eq!(
            serde_json::to_value(ops).unwrap(),
            json!([{"op": "replace", "path": "", "value": {"name": "x", "status": "clean"}}])
        );
        assert_eq!(crate::apply(&composed, &a).unwrap(), c);
    }

    #[test]
    fn changed_twice_keeps_the_first_old_and_last_new_status() {
        let a = report(vec![repo("x", Status::Missing)]);
        let b = report(vec![repo("x", Status::Dirty)]);
        let c = report(vec![repo("x", Status::Clean)]);
        let composed = compose(crate::diff(&a, &b), crate::diff(&b, &c));
        let [RepoChange { kind: RepoChangeKind::Changed { old_status, new_status, ops }, .. }] =
            &composed.repos[..]
        else {
            panic!("expected one change, got {composed:?}")
        };
        assert_eq!((old_status, new_status, ops.len()), (&Status::Missing, &Status::Clean, 2));
    }

    #[test]
    fn changed_then_removed_is_removed_with_the_first_status() {
        let a = report(vec![repo("x", Status::Missing)]);
        let b = report(vec![repo("x", Status::Dirty)]);
        let c = report(vec![]);
        let composed = compose(crate::diff(&a, &b), crate::diff(&b, &c));
        assert_eq!(
            composed.repos,
            [RepoChange {
                name: "x".to_owned(),
                dup: 0,
                kind: RepoChangeKind::Removed { old_status: Status::Missing }
            }]
        );
    }

    #[test]
    fn the_later_meta_wins() {
        let first =
            Changes { repos: vec![], meta: Some(crate::Meta::from_iter([("a".into(), json!(1))])) };
        let second =
            Changes { repos: vec![], meta: Some(crate::Meta::from_iter([("a".into(), json!(2))])) };
        assert_eq!(compose(first.clone(), second.clone()).meta, second.meta);
        assert_eq!(compose(first.clone(), Changes::default()).meta, first.meta);
    }

    #[test]
    fn inconsistent_pairs_are_kept_so_apply_fails() {
        let removed = RepoChange {
            name: "x".to_owned(),
            dup: 0,
            kind: RepoChangeKind::Removed { old_status: Status::Clean },
        };
        let first = Changes { repos: vec![removed.clone()], meta: None };
        let second = Changes { repos: vec![removed], meta: None };
        let composed = compose(first, second);
        assert_eq!(composed.repos.len(), 2);
        let a = report(vec![repo("x", Status::Clean)]);
        assert!(matches!(crate::apply(&composed, &a), Err(crate::Error::MissingRepo { .. })));
    }
}
