//! The diff/apply/compose laws, as properties over generated reports.

use std::collections::HashMap;

use gitops_diff::{
    Changes, RepoChange, RepoChangeKind, apply, apply_in_place, apply_repo_change, catch_up,
    compose, diff, meta_of, same_state,
};
use gitops_report::{Repo, Report};
use proptest::prelude::*;

use crate::strategy::{report, report_and_edited, report_sequence, three_reports};

const CASES: u32 = 512;

/// Every repository by `(name, dup)`.
fn by_key(report: &Report) -> HashMap<(&str, u32), &Repo> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    report
        .repos
        .iter()
        .map(|repo| {
            let dup = seen.entry(repo.name.as_str()).or_default();
            *dup += 1;
            ((repo.name.as_str(), *dup - 1), repo)
        })
        .collect()
}

/// Checks what `changes`, which take `from` to `to`, say about statuses and repositories:
/// every key names the repository it claims in `from` and `to`.
fn check_keys(changes: &Changes, from: &Report, to: &Report) -> Result<(), TestCaseError> {
    let (from, to) = (by_key(from), by_key(to));
    for RepoChange { name, dup, kind } in &changes.repos {
        let key = (name.as_str(), *dup);
        match kind {
            RepoChangeKind::Added { repo } => {
                prop_assert!(!from.contains_key(&key), "added {key:?} was there before");
                prop_assert_eq!(to.get(&key).copied(), Some(repo));
            }
            RepoChangeKind::Removed { old_status } => {
                prop_assert!(!to.contains_key(&key), "removed {key:?} is still there");
                prop_assert_eq!(from.get(&key).map(|repo| &repo.status), Some(old_status));
            }
            RepoChangeKind::Changed { old_status, new_status, .. } => {
                prop_assert_eq!(from.get(&key).map(|repo| &repo.status), Some(old_status));
                prop_assert_eq!(to.get(&key).map(|repo| &repo.status), Some(new_status));
            }
        }
    }
    Ok(())
}

/// Each change's wire form, sorted: the changes as a set, order aside.
fn as_set(changes: &Changes) -> Vec<String> {
    let mut wire: Vec<String> =
        changes.repos.iter().map(|change| serde_json::to_string(change).unwrap()).collect();
    wire.sort();
    wire
}

/// `report`'s repositories shuffled by `order`, keeping the relative order of same-named ones.
fn shuffled_keeping_names(report: &Report, order: &[usize]) -> Report {
    let mut queues: HashMap<&str, std::collections::VecDeque<&Repo>> = HashMap::new();
    for repo in &report.repos {
        queues.entry(repo.name.as_str()).or_default().push_back(repo);
    }
    let repos = order
        .iter()
        .map(|&position| {
            let name = report.repos[position].name.as_str();
            (*queues.get_mut(name).unwrap().pop_front().unwrap()).clone()
        })
        .collect();
    Report { repos, ..report.clone() }
}

/// The changes `diff` must find, by the plainest keyed algorithm, as `(name, dup, change, old
/// status, new status)` in canonical order: changes and additions in `new`'s order, then removals
/// backwards through `old`.
fn reference_changes(
    old: &Report,
    new: &Report,
) -> Vec<(String, u32, &'static str, String, String)> {
    let keys = |report: &Report| -> Vec<(String, u32)> {
        let mut seen: HashMap<&str, u32> = HashMap::new();
        report
            .repos
            .iter()
            .map(|repo| {
                let dup = seen.entry(repo.name.as_str()).or_default();
                *dup += 1;
                (repo.name.clone(), *dup - 1)
            })
            .collect()
    };
    let (old_keys, new_keys) = (keys(old), keys(new));
    let mut changes = Vec::new();
    for (new_at, key) in new_keys.iter().enumerate() {
        let new_repo = &new.repos[new_at];
        match old_keys.iter().position(|old_key| old_key == key) {
            Some(old_at) if old.repos[old_at] == *new_repo => {}
            Some(old_at) => changes.push((
                key.0.clone(),
                key.1,
                "changed",
                old.repos[old_at].status.to_string(),
                new_repo.status.to_string(),
            )),
            None => changes.push((
                key.0.clone(),
                key.1,
                "added",
                String::new(),
                new_repo.status.to_string(),
            )),
        }
    }
    for (old_at, key) in old_keys.iter().enumerate().rev() {
        if !new_keys.contains(key) {
            changes.push((
                key.0.clone(),
                key.1,
                "removed",
                old.repos[old_at].status.to_string(),
                String::new(),
            ));
        }
    }
    changes
}

/// `changes` in the same form as [`reference_changes`].
fn summarised(changes: &Changes) -> Vec<(String, u32, &'static str, String, String)> {
    changes
        .repos
        .iter()
        .map(|change| {
            let tag = match change.kind {
                RepoChangeKind::Added { .. } => "added",
                RepoChangeKind::Removed { .. } => "removed",
                RepoChangeKind::Changed { .. } => "changed",
            };
            let text = |status: Option<&gitops_report::Status>| {
                status.map(ToString::to_string).unwrap_or_default()
            };
            (
                change.name.clone(),
                change.dup,
                tag,
                text(change.kind.old_status()),
                text(change.kind.new_status()),
            )
        })
        .collect()
}

/// What a history of the publishes `reports[0] → reports[1] → …` remembers, as the hub keeps it.
struct History {
    /// Each step's diff.
    steps: Vec<Changes>,
    /// For each repository change, oldest first, its key and the state that key held just before.
    befores: Vec<((String, u32), Option<Repo>)>,
    /// Every top-level field a step changed.
    touched_meta: Vec<String>,
}

fn history_of(reports: &[Report]) -> History {
    let mut history = History { steps: Vec::new(), befores: Vec::new(), touched_meta: Vec::new() };
    for pair in reports.windows(2) {
        let changes = diff(&pair[0], &pair[1]);
        let old = by_key(&pair[0]);
        for change in &changes.repos {
            let before = match change.kind {
                RepoChangeKind::Added { .. } => None,
                _ => old.get(&(change.name.as_str(), change.dup)).map(|repo| (*repo).clone()),
            };
            history.befores.push(((change.name.clone(), change.dup), before));
        }
        history.touched_meta.extend(changes.meta.iter().flat_map(|meta| meta.keys().cloned()));
        history.steps.push(changes);
    }
    history
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn catch_up_over_a_history_takes_the_first_report_to_the_last(reports in report_sequence()) {
        let (first, last) = (&reports[0], &reports[reports.len() - 1]);
        let History { steps, befores, touched_meta } = history_of(&reports);
        let merged = catch_up(
            befores.iter().map(|((name, dup), before)| ((name.as_str(), *dup), before.as_ref())),
            touched_meta.iter().map(String::as_str),
            last,
        );
        let applied = apply(&merged, first).unwrap();
        prop_assert!(same_state(&applied, last), "applied {applied:#?}\nwanted {last:#?}\nmerged {merged:#?}");
        check_keys(&merged, first, last)?;
        // Its repository changes are exactly the direct diff's, order aside: flips that came back
        // cost nothing.
        prop_assert_eq!(as_set(&merged), as_set(&diff(first, last)));
        // Never larger than composing the single diffs: no more changes, no key they lack, the
        // same top-level fields. (Not fewer bytes in every case: a repository removed and added
        // back with three new fields is three small `add` ops here but one whole-object
        // `replace` composed; the hub weighs the encoded sizes when it chooses.)
        let composed = steps.into_iter().reduce(compose).unwrap_or_default();
        prop_assert!(merged.repos.len() <= composed.repos.len());
        let composed_keys: std::collections::HashSet<_> =
            composed.repos.iter().map(|change| (&change.name, change.dup)).collect();
        for change in &merged.repos {
            prop_assert!(composed_keys.contains(&(&change.name, change.dup)), "{} {} is not in the composition", change.name, change.dup);
        }
        prop_assert_eq!(&merged.meta, &composed.meta);
    }

    #[test]
    fn apply_of_diff_gives_the_new_state((a, b) in report_and_edited()) {
        let changes = diff(&a, &b);
        let applied = apply(&changes, &a).unwrap();
        prop_assert!(same_state(&applied, &b), "applied {applied:#?}\nwanted {b:#?}\nchanges {changes:#?}");
        check_keys(&changes, &a, &b)?;
    }

    #[test]
    fn apply_of_diff_gives_the_new_state_for_unrelated_reports(a in report(), b in report()) {
        let changes = diff(&a, &b);
        prop_assert!(same_state(&apply(&changes, &a).unwrap(), &b));
        check_keys(&changes, &a, &b)?;
    }

    #[test]
    fn diff_finds_exactly_what_the_plain_keyed_algorithm_finds((a, b) in report_and_edited()) {
        prop_assert_eq!(summarised(&diff(&a, &b)), reference_changes(&a, &b));
    }

    #[test]
    fn diff_of_a_report_with_itself_is_empty(a in report()) {
        prop_assert!(diff(&a, &a).is_empty());
        prop_assert!(same_state(&a, &a));
    }

    #[test]
    fn applying_one_by_one_is_applying_all_at_once((a, b) in report_and_edited()) {
        let changes = diff(&a, &b);
        let mut one_by_one = a.clone();
        for change in &changes.repos {
            apply_repo_change(&mut one_by_one, change).unwrap();
        }
        let mut at_once = a;
        apply_in_place(&mut at_once, &Changes { repos: changes.repos.clone(), meta: None }).unwrap();
        prop_assert_eq!(one_by_one, at_once);
    }

    #[test]
    fn compose_of_two_diffs_takes_the_first_report_to_the_last((a, b, c) in three_reports()) {
        let composed = compose(diff(&a, &b), diff(&b, &c));
        let applied = apply(&composed, &a).unwrap();
        prop_assert!(same_state(&applied, &c), "applied {applied:#?}\nwanted {c:#?}\ncomposed {composed:#?}");
        check_keys(&composed, &a, &c)?;
        // At most one change per key, so a catch-up is never longer than the diffs it merges.
        let keys: std::collections::HashSet<_> = composed.repos.iter().map(|change| (&change.name, change.dup)).collect();
        prop_assert_eq!(keys.len(), composed.repos.len());
    }

    #[test]
    fn compose_is_associative_in_effect((a, b, c) in three_reports(), d_edits in crate::strategy::edits()) {
        let d = crate::strategy::edited(&c, &d_edits);
        let (ab, bc, cd) = (diff(&a, &b), diff(&b, &c), diff(&c, &d));
        let left = compose(compose(ab.clone(), bc.clone()), cd.clone());
        let right = compose(ab, compose(bc, cd));
        prop_assert!(same_state(&apply(&left, &a).unwrap(), &d));
        prop_assert!(same_state(&apply(&right, &a).unwrap(), &d));
    }

    #[test]
    fn changes_survive_a_json_round_trip((a, b) in report_and_edited()) {
        let changes = diff(&a, &b);
        let text = serde_json::to_string(&changes).unwrap();
        let read: Changes = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&read, &changes);
        for change in &changes.repos {
            let read: RepoChange = serde_json::from_str(&serde_json::to_string(change).unwrap()).unwrap();
            prop_assert_eq!(&read, change);
        }
        // A client that reads the changes off the wire reaches the same state.
        prop_assert!(same_state(&apply(&read, &a).unwrap(), &b));
    }

    #[test]
    fn meta_is_the_report_without_repos_and_changes_carry_only_changed_fields((a, b) in report_and_edited()) {
        let changes = diff(&a, &b);
        let mut b_json = serde_json::to_value(&b).unwrap();
        b_json.as_object_mut().unwrap().remove("repos");
        prop_assert_eq!(serde_json::Value::Object(meta_of(&b)), b_json);
        if let Some(delta) = changes.meta {
            let (old, new) = (meta_of(&a), meta_of(&b));
            prop_assert!(!delta.is_empty());
            for (key, value) in &delta {
                match new.get(key) {
                    Some(now) => prop_assert_eq!(value, now, "{} carries its new value", key),
                    None => prop_assert!(value.is_null() && old.contains_key(key), "{} was removed", key),
                }
                prop_assert_ne!(old.get(key), new.get(key), "{} did change", key);
            }
            for (key, value) in &new {
                if old.get(key) != Some(value) && !value.is_null() {
                    prop_assert!(delta.contains_key(key), "changed field {} is in the delta", key);
                }
            }
        }
    }

    #[test]
    fn reordering_the_new_report_gives_the_same_changes(
        (a, b) in report_and_edited(),
        order in Just((0..64).collect::<Vec<usize>>()).prop_shuffle(),
    ) {
        let order: Vec<usize> = order.into_iter().filter(|&position| position < b.repos.len()).collect();
        prop_assume!(order.len() == b.repos.len());
        let shuffled = shuffled_keeping_names(&b, &order);
        prop_assert!(same_state(&shuffled, &b));
        let (plain, reordered) = (diff(&a, &b), diff(&a, &shuffled));
        prop_assert_eq!(as_set(&plain), as_set(&reordered));
        prop_assert_eq!(plain.meta, reordered.meta);
        prop_assert!(diff(&b, &shuffled).is_empty());
    }
}
