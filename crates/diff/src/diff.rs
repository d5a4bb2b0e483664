//! [`diff`]: the changes that take one report to another, keyed by repository name and occurrence.

use std::collections::HashMap;

use gitops_report::{Repo, Report};

use crate::state::{meta_of, same_meta};
use crate::{Changes, RepoChange, RepoChangeKind};

/// The changes that take `old` to `new`.
///
/// Repositories are paired by `(name, dup)`; a pair that is `==` costs nothing more, a pair that
/// differs becomes a [`RepoChangeKind::Changed`] with a JSON Patch between the two repository
/// objects. The output is in the canonical order described in the crate docs: changes and
/// additions in `new`'s order, then removals from the end of `old` backwards.
pub fn diff(old: &Report, new: &Report) -> Changes {
    let mut by_name = index_by_name(&old.repos);
    let mut repos = Vec::new();
    let mut n_paired = 0;
    for new_repo in &new.repos {
        let occurrences = by_name.entry(new_repo.name.as_str()).or_default();
        let dup = occurrences.n_seen_in_new;
        occurrences.n_seen_in_new += 1;
        let kind = match occurrences.old_positions.get(dup) {
            Some(position) => {
                n_paired += 1;
                let old_repo = &old.repos[position];
                if old_repo == new_repo {
                    continue;
                }
                changed(old_repo, new_repo)
            }
            None => RepoChangeKind::Added { repo: new_repo.clone() },
        };
        repos.push(RepoChange { name: new_repo.name.clone(), dup, kind });
    }
    if n_paired < old.repos.len() {
        // Walk `old` backwards so each name's highest `dup` is removed first, which keeps the
        // lower ones valid while the removals are applied one by one.
        for old_repo in old.repos.iter().rev() {
            let occurrences =
                by_name.get_mut(old_repo.name.as_str()).expect("every old name was indexed");
            occurrences.n_unvisited_old -= 1;
            let dup = occurrences.n_unvisited_old;
            if dup >= occurrences.n_seen_in_new {
                repos.push(RepoChange {
                    name: old_repo.name.clone(),
                    dup,
                    kind: RepoChangeKind::Removed { old_status: old_repo.status.clone() },
                });
            }
        }
    }
    let meta = if same_meta(old, new) { None } else { Some(meta_of(new)) };
    Changes { repos, meta }
}

/// A [`RepoChangeKind::Changed`] from `old` to `new`, which must differ.
fn changed(old: &Repo, new: &Repo) -> RepoChangeKind {
    RepoChangeKind::Changed {
        old_status: old.status.clone(),
        new_status: new.status.clone(),
        ops: json_patch::diff(&crate::apply::repo_to_value(old), &crate::apply::repo_to_value(new)),
    }
}

/// What the diff knows about one name.
#[derive(Default)]
struct Occurrences {
    /// Where the repositories of this name sit in the old report, in order: index `dup`.
    old_positions: Positions,
    /// How many repositories of this name the new report had so far.
    n_seen_in_new: u32,
    /// How many repositories of this name the backwards walk over the old report has yet to visit.
    n_unvisited_old: u32,
}

/// Positions in a list, stored without allocating for the usual single one.
#[derive(Default)]
struct Positions {
    first: Option<usize>,
    rest: Vec<usize>,
}

impl Positions {
    fn push(&mut self, position: usize) {
        if self.first.is_none() {
            self.first = Some(position);
        } else {
            self.rest.push(position);
        }
    }

    fn get(&self, dup: u32) -> Option<usize> {
        match dup.checked_sub(1) {
            None => self.first,
            Some(rest_index) => self.rest.get(usize::try_from(rest_index).ok()?).copied(),
        }
    }
}

/// Every name in `repos` with the positions of its occurrences.
fn index_by_name(repos: &[Repo]) -> HashMap<&str, Occurrences> {
    let mut by_name: HashMap<&str, Occurrences> = HashMap::with_capacity(repos.len());
    for (position, repo) in repos.iter().enumerate() {
        let occurrences = by_name.entry(repo.name.as_str()).or_default();
        occurrences.old_positions.push(position);
        occurrences.n_unvisited_old += 1;
    }
    by_name
}

#[cfg(test)]
mod tests {
    use gitops_report::{Health, Status};
    use serde_json::json;

    use super::*;

    fn repo(name: &str, status: Status) -> Repo {
        Repo { name: name.to_owned(), status, ..Repo::default() }
    }

    fn report(repos: Vec<Repo>) -> Report {
        Report { repos, ..Report::default() }
    }

    fn keys(changes: &Changes) -> Vec<(&str, u32, &'static str)> {
        changes
            .repos
            .iter()
            .map(|change| {
                let kind = match change.kind {
                    RepoChangeKind::Added { .. } => "added",
                    RepoChangeKind::Removed { .. } => "removed",
                    RepoChangeKind::Changed { .. } => "changed",
                };
                (change.name.as_str(), change.dup, kind)
            })
            .collect()
    }

    #[test]
    fn identical_reports_have_no_changes() {
        let a = report(vec![repo("x", Status::Clean), repo("x", Status::Dirty)]);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn reordering_is_not_a_change() {
        let a = report(vec![
            repo("x", Status::Clean),
            repo("y", Status::Dirty),
            repo("z", Status::Extra),
        ]);
        let mut b = a.clone();
        b.repos.reverse();
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn inserting_at_the_front_is_one_added() {
        let a = report((0..50).map(|i| repo(&format!("repo-{i}"), Status::Clean)).collect());
        let mut b = a.clone();
        b.repos.insert(0, repo("new", Status::Extra));
        let changes = diff(&a, &b);
        assert_eq!(keys(&changes), [("new", 0, "added")]);
        assert_eq!(changes.meta, None);
    }

    #[test]
    fn a_status_change_is_a_patch_of_the_repo_object() {
        let a = report(vec![repo("halo", Status::Missing)]);
        let mut b = a.clone();
        b.repos[0].status = Status::Clean;
        b.repos[0].local_path = Some("/srv/git/halo".to_owned());
        let changes = diff(&a, &b);
        let RepoChangeKind::Changed { old_status, new_status, ops } = &changes.repos[0].kind else {
            panic!("expected a change, got {changes:?}")
        };
        assert_eq!((old_status, new_status), (&Status::Missing, &Status::Clean));
        assert_eq!(
            serde_json::to_value(ops).unwrap(),
            json!([
                {"op": "add", "path": "/local_path", "value": "/srv/git/halo"},
                {"op": "replace", "path": "/status", "value": "clean"},
            ])
        );
    }

    #[test]
    fn slash_and_tilde_in_keys_are_escaped_in_paths() {
        let a = report(vec![repo("a/b~c", Status::Clean)]);
        let mut b = a.clone();
        b.repos[0].extra.insert("odd/key~".to_owned(), json!(1));
        let changes = diff(&a, &b);
        assert_eq!(changes.repos[0].name, "a/b~c");
        let RepoChangeKind::Changed { ops, .. } = &changes.repos[0].kind else {
            panic!("expected a change, got {changes:?}")
        };
        assert_eq!(
            serde_json::to_value(ops).unwrap(),
            json!([{"op": "add", "path": "/odd~1key~0", "value": 1}])
        );
    }

    #[test]
    fn repeated_names_pair_by_occurrence_and_remove_from_the_top() {
        let a = report(vec![
            repo("x", Status::Clean),
            repo("y", Status::Clean),
            repo("x", Status::Dirty),
            repo("x", Status::Missing),
        ]);
        let b = report(vec![repo("x", Status::Clean), repo("y", Status::Clean)]);
        assert_eq!(keys(&diff(&a, &b)), [("x", 2, "removed"), ("x", 1, "removed")]);
        assert_eq!(keys(&diff(&b, &a)), [("x", 1, "added"), ("x", 2, "added")]);
    }

    #[test]
    fn removing_the_first_of_a_repeated_name_shifts_the_rest() {
        let a = report(vec![repo("x", Status::Clean), repo("x", Status::Dirty)]);
        let b = report(vec![repo("x", Status::Dirty)]);
        assert_eq!(keys(&diff(&a, &b)), [("x", 0, "changed"), ("x", 1, "removed")]);
    }

    #[test]
    fn changed_top_level_fields_give_the_whole_new_meta() {
        let a = report(vec![repo("x", Status::Clean)]);
        let mut b = a.clone();
        b.health_status = Some(Health::Yellow);
        b.github_user = Some("alice".to_owned());
        let changes = diff(&a, &b);
        assert!(changes.repos.is_empty());
        assert_eq!(
            changes.meta.map(serde_json::Value::Object),
            Some(json!({"health_status": "yellow", "github_user": "alice"}))
        );
    }
}
