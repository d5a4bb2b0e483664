//! [`diff`]: the changes that take one report to another, keyed by repository name and occurrence.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use gitops_report::{Repo, Report};

use crate::state::{meta_delta, meta_of, same_meta};
use crate::{Changes, RepoChange, RepoChangeKind};

/// The changes that take `old` to `new`.
///
/// Repositories are paired by `(name, dup)`; a pair that is `==` costs nothing more, a pair that
/// differs becomes a [`RepoChangeKind::Changed`] with a JSON Patch between the two repository
/// objects. The output is in the canonical order described in the crate docs: changes and
/// additions in `new`'s order, then removals from the end of `old` backwards.
pub fn diff(old: &Report, new: &Report) -> Changes {
    let found = pair_up(&old.repos, &new.repos);
    let old_dups = dups_at(&old.repos, found.iter().filter_map(Found::old_position));
    let new_dups = dups_at(&new.repos, found.iter().filter_map(Found::added_position));
    let (mut old_dups, mut new_dups) = (old_dups.into_iter(), new_dups.into_iter());
    let repos = found
        .into_iter()
        .map(|found| {
            let (repo, dup, kind) = match found {
                Found::Changed { old_at, new_at } => {
                    let (old_repo, new_repo) = (&old.repos[old_at], &new.repos[new_at]);
                    (old_repo, old_dups.next(), changed(old_repo, new_repo))
                }
                Found::Removed { old_at } => {
                    let old_repo = &old.repos[old_at];
                    let kind = RepoChangeKind::Removed { old_status: old_repo.status.clone() };
                    (old_repo, old_dups.next(), kind)
                }
                Found::Added { new_at } => {
                    let new_repo = &new.repos[new_at];
                    (new_repo, new_dups.next(), RepoChangeKind::Added { repo: new_repo.clone() })
                }
            };
            let dup = dup.expect("one dup was counted per position asked for");
            RepoChange { name: repo.name.clone(), dup, kind }
        })
        .collect();
    let meta = if same_meta(old, new) {
        None
    } else {
        Some(meta_delta(&meta_of(old), &meta_of(new))).filter(|delta| !delta.is_empty())
    };
    Changes { repos, meta }
}

/// A difference [`pair_up`] found, by position in the old and new lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// `old[old_at]` and `new[new_at]` have the same key and differ.
    Changed { old_at: usize, new_at: usize },
    /// `new[new_at]`'s key is not in `old`.
    Added { new_at: usize },
    /// `old[old_at]`'s key is not in `new`.
    Removed { old_at: usize },
}

impl Found {
    /// The position in `old` whose `dup` the change carries, if it carries an old one.
    fn old_position(&self) -> Option<usize> {
        match *self {
            Self::Changed { old_at, .. } | Self::Removed { old_at } => Some(old_at),
            Self::Added { .. } => None,
        }
    }

    /// The position in `new` whose `dup` the change carries, for an addition.
    fn added_position(&self) -> Option<usize> {
        match *self {
            Self::Added { new_at } => Some(new_at),
            Self::Changed { .. } | Self::Removed { .. } => None,
        }
    }
}

/// Every difference between `old` and `new` paired by `(name, dup)`, in canonical order.
///
/// Reports usually differ in a few places: the common prefix and suffix of names are paired
/// position by position, which costs one `==` per repository and no hashing; only the middle
/// goes through a name index. That is exact, not a heuristic: within the prefix the names before
/// each repository are the same in both lists, so are their `dup`s; within the suffix too, as long
/// as every name in it occurs as often in the old middle as in the new one, which is checked.
fn pair_up(old: &[Repo], new: &[Repo]) -> Vec<Found> {
    let prefix = old.iter().zip(new).take_while(|(old, new)| old.name == new.name).count();
    let (old_rest, new_rest) = (&old[prefix..], &new[prefix..]);
    let suffix = old_rest
        .iter()
        .rev()
        .zip(new_rest.iter().rev())
        .take_while(|(old, new)| old.name == new.name)
        .count();

    let mut found: Vec<Found> = (0..prefix)
        .filter(|&at| old[at] != new[at])
        .map(|at| Found::Changed { old_at: at, new_at: at })
        .collect();
    let (old_end, new_end) = (old.len() - suffix, new.len() - suffix);
    let n_before_middle = found.len();
    let middle = pair_up_by_name(old, new, prefix..old_end, prefix..new_end, &mut found);
    if any_named(&new[new_end..], &middle.unbalanced_names) {
        // A name in the suffix occurs more often in one middle than the other, so position and
        // key disagree there: pair everything after the prefix by name instead.
        found.truncate(n_before_middle);
        let all_rest = pair_up_by_name(old, new, prefix..old.len(), prefix..new.len(), &mut found);
        found.extend(all_rest.removed);
        return found;
    }
    found.extend(
        (0..suffix)
            .map(|offset| (old_end + offset, new_end + offset))
            .filter(|&(old_at, new_at)| old[old_at] != new[new_at])
            .map(|(old_at, new_at)| Found::Changed { old_at, new_at }),
    );
    found.extend(middle.removed);
    found
}

/// What [`pair_up_by_name`] leaves to its caller.
struct MiddlePairing<'a> {
    /// Removals, already in canonical order (backwards through `old`).
    removed: Vec<Found>,
    /// Names that occur a different number of times in the two ranges.
    unbalanced_names: Vec<&'a str>,
}

/// Pairs `old[old_range]` with `new[new_range]` by `(name, dup within the range)`, pushing changes
/// and additions to `found` in `new`'s order. Both ranges must start at the same position after a
/// common prefix, so that `dup`s within the ranges pair exactly as whole-list `dup`s do.
fn pair_up_by_name<'a>(
    old: &'a [Repo],
    new: &'a [Repo],
    old_range: Range<usize>,
    new_range: Range<usize>,
    found: &mut Vec<Found>,
) -> MiddlePairing<'a> {
    let mut by_name: HashMap<&str, Occurrences> = HashMap::with_capacity(old_range.len());
    for old_at in old_range.clone() {
        let occurrences = by_name.entry(old[old_at].name.as_str()).or_default();
        occurrences.old_positions.push(old_at);
        occurrences.n_unvisited_old += 1;
    }
    let mut n_paired = 0;
    for new_at in new_range {
        let new_repo = &new[new_at];
        let occurrences = by_name.entry(new_repo.name.as_str()).or_default();
        let dup = occurrences.n_seen_in_new;
        occurrences.n_seen_in_new += 1;
        match occurrences.old_positions.get(dup) {
            Some(old_at) => {
                n_paired += 1;
                if old[old_at] != *new_repo {
                    found.push(Found::Changed { old_at, new_at });
                }
            }
            None => found.push(Found::Added { new_at }),
        }
    }
    let mut removed = Vec::new();
    if n_paired < old_range.len() {
        // Walk `old` backwards so each name's highest `dup` is removed first, which keeps the
        // lower ones valid while the removals are applied one by one.
        for old_at in old_range.rev() {
            let occurrences =
                by_name.get_mut(old[old_at].name.as_str()).expect("every old name was indexed");
            occurrences.n_unvisited_old -= 1;
            if occurrences.n_unvisited_old >= occurrences.n_seen_in_new {
                removed.push(Found::Removed { old_at });
            }
        }
    }
    let unbalanced_names = by_name
        .into_iter()
        .filter(|(_, occurrences)| occurrences.old_positions.len() != occurrences.n_seen_in_new)
        .map(|(name, _)| name)
        .collect();
    MiddlePairing { removed, unbalanced_names }
}

/// Whether any of `repos` has one of `names`.
fn any_named(repos: &[Repo], names: &[&str]) -> bool {
    if names.len() <= FEW_NAMES {
        return repos.iter().any(|repo| names.contains(&repo.name.as_str()));
    }
    let names: HashSet<&str> = names.iter().copied().collect();
    repos.iter().any(|repo| names.contains(repo.name.as_str()))
}

/// Up to this many names, [`any_named`] compares each instead of hashing.
const FEW_NAMES: usize = 8;

/// For each of `positions` (in any order), how many repositories before it in `repos` share its name.
fn dups_at(repos: &[Repo], positions: impl Iterator<Item = usize>) -> Vec<u32> {
    let positions: Vec<usize> = positions.collect();
    let Some(&last) = positions.iter().max() else { return Vec::new() };
    if positions.len() <= FEW_POSITIONS {
        // A few scans comparing names, which mostly differ in length, beat hashing every name.
        return positions
            .iter()
            .map(|&at| {
                let name = &repos[at].name;
                repos[..at].iter().fold(0, |dup, repo| dup + u32::from(repo.name == *name))
            })
            .collect();
    }
    let mut n_seen: HashMap<&str, u32> = HashMap::new();
    let dup_of: Vec<u32> = repos[..=last]
        .iter()
        .map(|repo| {
            let seen = n_seen.entry(repo.name.as_str()).or_default();
            *seen += 1;
            *seen - 1
        })
        .collect();
    positions.iter().map(|&at| dup_of[at]).collect()
}

/// Up to this many positions, [`dups_at`] scans instead of building a name index.
const FEW_POSITIONS: usize = 8;

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

    fn len(&self) -> u32 {
        u32::from(self.first.is_some()) + u32::try_from(self.rest.len()).unwrap_or(u32::MAX)
    }
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
    fn a_repeated_name_inserted_before_an_aligned_suffix_still_pairs_by_key() {
        // Position by position, `x` at the end would pair with `x` at the end, but by key the old
        // second `x` is the new second one, and the new third one is added.
        let a = report(vec![
            repo("x", Status::Clean),
            repo("y", Status::Clean),
            repo("x", Status::Dirty),
        ]);
        let b = report(vec![
            repo("x", Status::Missing),
            repo("x", Status::Clean),
            repo("y", Status::Clean),
            repo("x", Status::Dirty),
        ]);
        assert_eq!(
            keys(&diff(&a, &b)),
            [("x", 0, "changed"), ("x", 1, "changed"), ("x", 2, "added")]
        );
    }

    #[test]
    fn dups_are_counted_over_the_whole_list_whatever_the_number_of_changes() {
        let names = ["x", "y", "x", "z", "x", "y", "x", "x", "y", "x", "z", "x"];
        let a = report(names.iter().map(|name| repo(name, Status::Clean)).collect());
        for n_changed in [1, FEW_POSITIONS, FEW_POSITIONS + 1, names.len()] {
            let mut b = a.clone();
            for repo in &mut b.repos[names.len() - n_changed..] {
                repo.status = Status::Dirty;
            }
            let changes = diff(&a, &b);
            let dups: Vec<u32> = changes.repos.iter().map(|change| change.dup).collect();
            let expected = [0, 0, 1, 0, 2, 1, 3, 4, 2, 5, 1, 6];
            assert_eq!(dups, expected[names.len() - n_changed..], "{n_changed} changed");
        }
    }

    #[test]
    fn changes_in_prefix_middle_and_suffix_come_in_new_order_then_removals_backwards() {
        let names = ["a", "b", "c", "d", "e", "f"];
        let a = report(names.iter().map(|name| repo(name, Status::Clean)).collect());
        let mut b = a.clone();
        b.repos[0].status = Status::Dirty;
        b.repos[5].status = Status::Dirty;
        b.repos.remove(3);
        b.repos.remove(2);
        b.repos.insert(2, repo("new", Status::Extra));
        assert_eq!(
            keys(&diff(&a, &b)),
            [
                ("a", 0, "changed"),
                ("new", 0, "added"),
                ("f", 0, "changed"),
                ("d", 0, "removed"),
                ("c", 0, "removed")
            ]
        );
    }

    #[test]
    fn changed_top_level_fields_give_only_those_fields() {
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
