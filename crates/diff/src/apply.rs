//! Applying [`Changes`] and single [`RepoChange`]s to a report.

use std::collections::HashMap;

use gitops_report::{Repo, Report};
use serde_json::Value;

use crate::state::{merge_meta, meta_of, parse_meta, replace_meta};
use crate::{Changes, Error, RepoChange, RepoChangeKind, Result};

/// `old` with `changes` applied: the old repositories in their order minus the removed ones,
/// changed ones patched in place, added ones at the end.
///
/// The changes are applied one after the other, each to the result of the ones before, exactly as
/// a client applies `repo-status-change` messages one by one.
pub fn apply(changes: &Changes, old: &Report) -> Result<Report> {
    let mut report = old.clone();
    apply_in_place(&mut report, changes)?;
    Ok(report)
}

/// Applies `changes` to `report`, as [`apply`] does; on error `report` is left as it was.
pub fn apply_in_place(report: &mut Report, changes: &Changes) -> Result<()> {
    let Plan { mut patched_old, removed_old, added, meta } = plan(report, changes)?;
    if !changes.repos.is_empty() {
        let old_repos = std::mem::take(&mut report.repos);
        report.repos = old_repos
            .into_iter()
            .enumerate()
            .filter(|(position, _)| !removed_old[*position])
            .map(|(position, repo)| patched_old.remove(&position).unwrap_or(repo))
            .chain(added.into_iter().flatten())
            .collect();
    }
    if let Some(meta) = meta {
        replace_meta(report, meta);
    }
    Ok(())
}

/// Applies one change to `report`; on error `report` is left as it was.
///
/// An added repository goes at the end of the list. Finding the repository is a scan of the list:
/// to apply many changes at once, [`apply_in_place`] is faster.
pub fn apply_repo_change(report: &mut Report, change: &RepoChange) -> Result<()> {
    let repos = &mut report.repos;
    match &change.kind {
        RepoChangeKind::Added { repo } => {
            let existing = repos.iter().filter(|other| other.name == change.name).count();
            check_added(change, repo, existing)?;
            repos.push(repo.clone());
        }
        RepoChangeKind::Removed { .. } => {
            let position = find(repos, change)?;
            repos.remove(position);
        }
        RepoChangeKind::Changed { ops, .. } => {
            let position = find(repos, change)?;
            repos[position] = patch_repo(&repos[position], &change.name, change.dup, ops)?;
        }
    }
    Ok(())
}

/// The position of the repository `change` names.
fn find(repos: &[Repo], change: &RepoChange) -> Result<usize> {
    repos
        .iter()
        .enumerate()
        .filter(|(_, repo)| repo.name == change.name)
        .nth(usize::try_from(change.dup).unwrap_or(usize::MAX))
        .map(|(position, _)| position)
        .ok_or_else(|| missing(change))
}

fn missing(change: &RepoChange) -> Error {
    Error::MissingRepo { name: change.name.clone(), dup: change.dup }
}

/// Checks that `repo` may be added as `change` says, with `existing` repositories of its name.
fn check_added(change: &RepoChange, repo: &Repo, existing: usize) -> Result<()> {
    if repo.name != change.name {
        return Err(Error::NameMismatch { name: change.name.clone(), found: repo.name.clone() });
    }
    if usize::try_from(change.dup).ok() != Some(existing) {
        return Err(Error::AddedOutOfPlace {
            name: change.name.clone(),
            dup: change.dup,
            existing,
        });
    }
    Ok(())
}

/// `repo` as a JSON value: the document a [`RepoChangeKind::Changed`] patch applies to.
pub(crate) fn repo_to_value(repo: &Repo) -> Value {
    serde_json::to_value(repo)
        .expect("a repository's fields are strings and JSON values, so it always serialises")
}

/// `repo` patched with `ops`, which must leave a repository still called `name`; `dup` is for errors.
pub(crate) fn patch_repo(
    repo: &Repo,
    name: &str,
    dup: u32,
    ops: &json_patch::Patch,
) -> Result<Repo> {
    let mut value = repo_to_value(repo);
    // `patch_unsafe` leaves a half-patched value on error, which is fine: it is thrown away. The
    // undoing `patch` would copy every operation's old value for nothing.
    json_patch::patch_unsafe(&mut value, ops).map_err(|source| Error::Patch {
        name: name.to_owned(),
        dup,
        source,
    })?;
    let patched: Repo = serde_json::from_value(value).map_err(|source| Error::InvalidRepo {
        name: name.to_owned(),
        dup,
        source,
    })?;
    if patched.name != name {
        return Err(Error::NameMismatch { name: name.to_owned(), found: patched.name });
    }
    Ok(patched)
}

/// What applying a [`Changes`] does, worked out without touching the report.
struct Plan {
    /// New values for old repositories, by position.
    patched_old: HashMap<usize, Repo>,
    /// Which old repositories are gone, by position.
    removed_old: Vec<bool>,
    /// Added repositories in order; `None` for those removed again by a later change.
    added: Vec<Option<Repo>>,
    /// The new top-level fields, if they change.
    meta: Option<Report>,
}

/// Where a repository of the result comes from.
#[derive(Clone, Copy)]
enum Slot {
    /// The old report, at this position.
    Old(usize),
    /// [`Plan::added`], at this index.
    Added(usize),
}

fn plan(report: &Report, changes: &Changes) -> Result<Plan> {
    let meta = changes
        .meta
        .as_ref()
        .map(|delta| parse_meta(&merge_meta(meta_of(report), delta)))
        .transpose()?;
    let mut plan = Plan {
        patched_old: HashMap::new(),
        removed_old: vec![false; report.repos.len()],
        added: Vec::new(),
        meta,
    };
    if changes.repos.is_empty() {
        return Ok(plan);
    }
    // Every name's repositories, index `dup`, as they stand after the changes applied so far.
    let mut by_name: HashMap<&str, Vec<Slot>> = HashMap::with_capacity(report.repos.len());
    for (position, repo) in report.repos.iter().enumerate() {
        by_name.entry(repo.name.as_str()).or_default().push(Slot::Old(position));
    }
    for change in &changes.repos {
        let slots = by_name.entry(change.name.as_str()).or_default();
        let dup = usize::try_from(change.dup).unwrap_or(usize::MAX);
        match &change.kind {
            RepoChangeKind::Added { repo } => {
                check_added(change, repo, slots.len())?;
                slots.push(Slot::Added(plan.added.len()));
                plan.added.push(Some(repo.clone()));
            }
            RepoChangeKind::Removed { .. } => {
                if dup >= slots.len() {
                    return Err(missing(change));
                }
                match slots.remove(dup) {
                    Slot::Old(position) => {
                        plan.removed_old[position] = true;
                        plan.patched_old.remove(&position);
                    }
                    Slot::Added(index) => plan.added[index] = None,
                }
            }
            RepoChangeKind::Changed { ops, .. } => {
                let slot = *slots.get(dup).ok_or_else(|| missing(change))?;
                match slot {
                    Slot::Old(position) => {
                        let current =
                            plan.patched_old.get(&position).unwrap_or(&report.repos[position]);
                        let patched = patch_repo(current, &change.name, change.dup, ops)?;
                        plan.patched_old.insert(position, patched);
                    }
                    Slot::Added(index) => {
                        let current = plan.added[index]
                            .as_mut()
                            .expect("a slot stays indexed only while its repository is there");
                        *current = patch_repo(current, &change.name, change.dup, ops)?;
                    }
                }
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use gitops_report::Status;
    use serde_json::json;

    use super::*;

    fn repo(name: &str, status: Status) -> Repo {
        Repo { name: name.to_owned(), status, ..Repo::default() }
    }

    fn report(repos: Vec<Repo>) -> Report {
        Report { repos, ..Report::default() }
    }

    fn change(name: &str, dup: u32, kind: RepoChangeKind) -> RepoChange {
        RepoChange { name: name.to_owned(), dup, kind }
    }

    fn ops(value: Value) -> json_patch::Patch {
        serde_json::from_value(value).unwrap()
    }

    fn one(change: RepoChange) -> Changes {
        Changes { repos: vec![change], meta: None }
    }

    #[test]
    fn apply_keeps_order_drops_removed_and_appends_added() {
        let old = report(vec![
            repo("a", Status::Clean),
            repo("b", Status::Dirty),
            repo("c", Status::Extra),
        ]);
        let changes = Changes {
            repos: vec![
                change("new", 0, RepoChangeKind::Added { repo: repo("new", Status::Missing) }),
                change("b", 0, RepoChangeKind::Removed { old_status: Status::Dirty }),
                change(
                    "c",
                    0,
                    RepoChangeKind::Changed {
                        old_status: Status::Extra,
                        new_status: Status::Clean,
                        ops: ops(json!([{"op": "replace", "path": "/status", "value": "clean"}])),
                    },
                ),
            ],
            meta: None,
        };
        let new = apply(&changes, &old).unwrap();
        assert_eq!(
            new.repos,
            [repo("a", Status::Clean), repo("c", Status::Clean), repo("new", Status::Missing)]
        );
        let mut one_by_one = old;
        for change in &changes.repos {
            apply_repo_change(&mut one_by_one, change).unwrap();
        }
        assert_eq!(one_by_one, new);
    }

    #[test]
    fn removing_a_repo_that_is_not_there_is_an_error_and_changes_nothing() {
        let old = report(vec![repo("a", Status::Clean)]);
        let changes = Changes {
            repos: vec![
                change("a", 0, RepoChangeKind::Removed { old_status: Status::Clean }),
                change("a", 0, RepoChangeKind::Removed { old_status: Status::Clean }),
            ],
            meta: None,
        };
        let mut report = old.clone();
        let error = apply_in_place(&mut report, &changes).unwrap_err();
        assert!(
            matches!(error, Error::MissingRepo { ref name, dup: 0 } if name == "a"),
            "{error:?}"
        );
        assert_eq!(report, old);
        let mut single = old;
        let missing = change("zz", 1, RepoChangeKind::Removed { old_status: Status::Clean });
        assert!(matches!(apply_repo_change(&mut single, &missing), Err(Error::MissingRepo { .. })));
    }

    #[test]
    fn adding_out_of_place_is_an_error() {
        let old = report(vec![repo("a", Status::Clean)]);
        let added = change("a", 0, RepoChangeKind::Added { repo: repo("a", Status::Dirty) });
        let error = apply(&one(added.clone()), &old).unwrap_err();
        assert!(matches!(error, Error::AddedOutOfPlace { existing: 1, .. }), "{error:?}");
        let mut single = old;
        assert!(matches!(
            apply_repo_change(&mut single, &added),
            Err(Error::AddedOutOfPlace { .. })
        ));
    }

    #[test]
    fn a_failing_patch_is_an_error_value() {
        let old = report(vec![repo("a", Status::Clean)]);
        let bad = change(
            "a",
            0,
            RepoChangeKind::Changed {
                old_status: Status::Clean,
                new_status: Status::Clean,
                ops: ops(json!([{"op": "remove", "path": "/no_such_field"}])),
            },
        );
        let error = apply(&one(bad), &old).unwrap_err();
        assert!(matches!(error, Error::Patch { .. }), "{error:?}");
    }

    #[test]
    fn a_patch_that_breaks_the_repo_or_renames_it_is_an_error() {
        let old = report(vec![repo("a", Status::Clean)]);
        let patch = |value| {
            one(change(
                "a",
                0,
                RepoChangeKind::Changed {
                    old_status: Status::Clean,
                    new_status: Status::Clean,
                    ops: ops(value),
                },
            ))
        };
        let removes_name = patch(json!([{"op": "remove", "path": "/name"}]));
        assert!(matches!(apply(&removes_name, &old), Err(Error::InvalidRepo { .. })));
        let renames = patch(json!([{"op": "replace", "path": "/name", "value": "b"}]));
        assert!(matches!(apply(&renames, &old), Err(Error::NameMismatch { .. })));
    }

    #[test]
    fn meta_changes_merge_into_the_top_level_fields_and_keep_odd_ones_as_written() {
        let old = Report {
            github_user: Some("alice".to_owned()),
            local_git_root: Some("/srv/git".to_owned()),
            ..report(vec![repo("a", Status::Clean)])
        };
        let mut meta = crate::Meta::new();
        meta.insert("summary".to_owned(), json!("not an object"));
        meta.insert("health_status".to_owned(), json!("green"));
        meta.insert("local_git_root".to_owned(), serde_json::Value::Null);
        let changes = Changes { repos: vec![], meta: Some(meta) };
        let new = apply(&changes, &old).unwrap();
        assert_eq!(new.repos, old.repos);
        assert_eq!(
            new.github_user.as_deref(),
            Some("alice"),
            "fields the change does not name stay"
        );
        assert_eq!(new.local_git_root, None, "null removes a field");
        assert_eq!(new.extra.get("summary"), Some(&json!("not an object")));
        assert_eq!(
            serde_json::Value::Object(crate::meta_of(&new)),
            json!({"github_user": "alice", "health_status": "green", "summary": "not an object"})
        );
    }

    #[test]
    fn changes_to_a_repo_added_in_the_same_batch_apply_to_it() {
        let old = report(vec![]);
        let changes = Changes {
            repos: vec![
                change("a", 0, RepoChangeKind::Added { repo: repo("a", Status::Dirty) }),
                change(
                    "a",
                    0,
                    RepoChangeKind::Changed {
                        old_status: Status::Dirty,
                        new_status: Status::Clean,
                        ops: ops(json!([{"op": "replace", "path": "/status", "value": "clean"}])),
                    },
                ),
                change("b", 0, RepoChangeKind::Added { repo: repo("b", Status::Dirty) }),
                change("b", 0, RepoChangeKind::Removed { old_status: Status::Dirty }),
            ],
            meta: None,
        };
        assert_eq!(apply(&changes, &old).unwrap().repos, [repo("a", Status::Clean)]);
    }
}
