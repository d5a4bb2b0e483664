//! Proptest strategies for reports, and for edits that turn one report into a related one.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use gitops_report::{FileStatus, Health, Repo, Report, Status, Summary, Timestamp};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::{Map, Value};

/// Names that collide often, with `/`, `~`, empty and non-ASCII ones among them.
const NAMES: &[&str] = &[
    "halo",
    "kitshn",
    "esphome",
    "ha-notify",
    "a/b",
    "~0",
    "x~1/y",
    "/",
    "~",
    "",
    "ünïcødé",
    "日本語",
    "🚀 launch",
];

/// Field names the report model reads itself, which `extra` maps must not use: a known name with a
/// value of the right type would be read back into the typed field.
const REPO_FIELDS: &[&str] = &[
    "name",
    "status",
    "clone_url",
    "local_path",
    "remote_url",
    "expected_url",
    "dashboard_link",
    "mitigation",
    "file_status",
    "path",
    "remote",
    "branch",
    "uncommittedChanges",
];
const REPORT_FIELDS: &[&str] = &[
    "timestamp",
    "health_status",
    "summary",
    "repos",
    "mitigation_actions",
    "local_git_root",
    "local_scan_active",
    "github_user",
];
const SUMMARY_FIELDS: &[&str] = &["total", "missing", "extra", "dirty", "mismatched", "clean"];

const URL_CHARS: &[char] = &['a', 'l', 'i', 'c', 'e', 'h', 'o', '/', ':', '.', '?', '=', '_', '-'];
const KEY_CHARS: &[char] = &['a', 'b', 'c', 'x', 'y', 'z', '_'];
const POINTER_CHARS: &[char] = &['a', 'b', '/', '~', '0', '1', 'ü'];

/// Text of `len` characters from `chars`.
fn text_from(chars: &'static [char], len: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(select(chars), len).prop_map(String::from_iter)
}

/// Text of `len` characters: mostly ASCII letters, with JSON and JSON Pointer specials, non-ASCII
/// letters and emoji, and now and then any `char` at all. (Cheaper than a `\PC` regex strategy,
/// which proptest would compile again for every value.)
fn any_text(len: RangeInclusive<usize>) -> impl Strategy<Value = String> {
    const SPECIAL: &[char] =
        &['/', '~', '0', '1', '"', '\\', ' ', '\n', 'ü', 'é', '日', '🚀', '\u{7f}', '\u{0}'];
    let one =
        prop_oneof![6 => prop::char::range('a', 'z'), 3 => select(SPECIAL), 1 => any::<char>()];
    vec(one, len).prop_map(String::from_iter)
}

pub(crate) fn name() -> impl Strategy<Value = String> {
    prop_oneof![4 => select(NAMES).prop_map(str::to_owned), 1 => any_text(0..=10)]
}

pub(crate) fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Missing),
        Just(Status::Extra),
        Just(Status::Dirty),
        Just(Status::Mismatched),
        Just(Status::Clean),
        // `from_text` turns known strings into known statuses, as reading does, so `Other` only
        // ever holds unknown text.
        prop_oneof![Just("archived".to_owned()), any_text(0..=8)]
            .prop_map(|text| Status::from_text(&text)),
    ]
}

fn file_status() -> impl Strategy<Value = FileStatus> {
    prop_oneof![
        Just(FileStatus::Complete),
        Just(FileStatus::MissingFiles),
        Just(FileStatus::MissingReadme),
        Just(FileStatus::Unknown),
        any_text(0..=8).prop_map(|text| FileStatus::from_text(&text)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), text_from(URL_CHARS, 1..=20), any_text(0..=12)]
}

pub(crate) fn json_value() -> impl Strategy<Value = Value> {
    // No floats: serde_json's text round trip of some doubles is off by one unit in the last place.
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any_text(0..=12).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(any_text(0..=6), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A key for an `extra` map: often with `/`, `~` or non-ASCII characters, never one of `known`.
pub(crate) fn extra_key(known: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![text_from(KEY_CHARS, 1..=8), text_from(POINTER_CHARS, 1..=6), any_text(1..=6)]
        .prop_filter("known field", move |key| !known.contains(&key.as_str()))
}

fn extra(known: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    btree_map(extra_key(known), json_value(), 0..3).prop_map(|map| map.into_iter().collect())
}

pub(crate) fn repo() -> impl Strategy<Value = Repo> {
    (
        name(),
        status(),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(text()),
        option::of(file_status()),
        extra(REPO_FIELDS),
    )
        .prop_map(
            |(
                name,
                status,
                clone_url,
                local_path,
                remote_url,
                expected_url,
                dashboard_link,
                mitigation,
                file_status,
                extra,
            )| Repo {
                name,
                status,
                clone_url,
                local_path,
                remote_url,
                expected_url,
                dashboard_link,
                mitigation,
                file_status,
                extra,
            },
        )
}

fn health() -> impl Strategy<Value = Health> {
    prop_oneof![
        Just(Health::Green),
        Just(Health::Yellow),
        Just(Health::Red),
        any_text(0..=8).prop_map(|text| Health::from_text(&text)),
    ]
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        Just("2025-06-20T03:00:00Z".to_owned()),
        Just("2026-02-11T03-00-00Z".to_owned()),
        any_text(0..=20),
    ]
    .prop_map(|text| Timestamp::from_text(&text))
}

fn summary() -> impl Strategy<Value = Summary> {
    let count = 0..2_000u64;
    (
        count.clone(),
        count.clone(),
        count.clone(),
        count.clone(),
        option::of(count.clone()),
        count,
        btree_map(extra_key(SUMMARY_FIELDS), json_value(), 0..2),
    )
        .prop_map(|(total, missing, extra, dirty, mismatched, clean, extra_counts)| Summary {
            total,
            missing,
            extra,
            dirty,
            mismatched,
            clean,
            extra_counts: extra_counts.into_iter().collect(),
        })
}

/// Every top-level field but `repos`, as a report with no repositories.
pub(crate) fn meta() -> impl Strategy<Value = Report> {
    (
        option::of(timestamp()),
        option::of(health()),
        option::of(summary()),
        btree_map(text_from(KEY_CHARS, 1..=12), any_text(0..=20), 0..3),
        option::of(text()),
        option::of(any::<bool>()),
        option::of(text()),
        extra(REPORT_FIELDS),
    )
        .prop_map(
            |(
                timestamp,
                health_status,
                summary,
                mitigation_actions,
                local_git_root,
                local_scan_active,
                github_user,
                extra,
            )| Report {
                timestamp,
                health_status,
                summary,
                repos: Vec::new(),
                mitigation_actions: mitigation_actions.into_iter().collect::<BTreeMap<_, _>>(),
                local_git_root,
                local_scan_active,
                github_user,
                extra,
            },
        )
}

pub(crate) fn report() -> impl Strategy<Value = Report> {
    (meta(), vec(repo(), 0..14)).prop_map(|(meta, repos)| Report { repos, ..meta })
}

/// One edit of a report, with positions as [`Index`] so that it fits any length.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    SetStatus(Index, Status),
    SetLocalPath(Index, Option<String>),
    SetExtra(Index, String, Value),
    ClearExtra(Index),
    Remove(Index),
    Insert(Index, Repo),
    /// Inserts a copy of one repository elsewhere: a repeated name.
    Duplicate(Index, Index),
    Rename(Index, String),
    /// Moves one repository; across same-named ones this changes which one is which.
    Move(Index, Index),
    SetMeta(Box<Report>),
    ReplaceAll(Box<Report>),
}

pub(crate) fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<Index>(), status()).prop_map(|(at, status)| Edit::SetStatus(at, status)),
        2 => (any::<Index>(), option::of(text())).prop_map(|(at, path)| Edit::SetLocalPath(at, path)),
        2 => (any::<Index>(), extra_key(REPO_FIELDS), json_value())
            .prop_map(|(at, key, value)| Edit::SetExtra(at, key, value)),
        1 => any::<Index>().prop_map(Edit::ClearExtra),
        2 => any::<Index>().prop_map(Edit::Remove),
        2 => (any::<Index>(), repo()).prop_map(|(at, repo)| Edit::Insert(at, repo)),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Edit::Duplicate(from, to)),
        1 => (any::<Index>(), name()).prop_map(|(at, name)| Edit::Rename(at, name)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(from, to)| Edit::Move(from, to)),
        1 => meta().prop_map(|meta| Edit::SetMeta(Box::new(meta))),
        1 => report().prop_map(|report| Edit::ReplaceAll(Box::new(report))),
    ]
}

pub(crate) fn edits() -> impl Strategy<Value = Vec<Edit>> {
    vec(edit(), 0..6)
}

/// `report` with `edits` made, in order; an edit that needs a repository does nothing to an empty list.
pub(crate) fn edited(report: &Report, edits: &[Edit]) -> Report {
    let mut report = report.clone();
    for edit in edits {
        let repos = &mut report.repos;
        let n = repos.len();
        match edit {
            Edit::Insert(at, repo) => repos.insert(at.index(n + 1), repo.clone()),
            Edit::SetMeta(meta) => {
                report = Report { repos: std::mem::take(repos), ..(**meta).clone() }
            }
            Edit::ReplaceAll(other) => report = (**other).clone(),
            _ if n == 0 => {}
            Edit::SetStatus(at, status) => repos[at.index(n)].status = status.clone(),
            Edit::SetLocalPath(at, path) => repos[at.index(n)].local_path = path.clone(),
            Edit::SetExtra(at, key, value) => {
                repos[at.index(n)].extra.insert(key.clone(), value.clone());
            }
            Edit::ClearExtra(at) => repos[at.index(n)].extra.clear(),
            Edit::Remove(at) => {
                repos.remove(at.index(n));
            }
            Edit::Duplicate(from, to) => {
                let copy = repos[from.index(n)].clone();
                repos.insert(to.index(n + 1), copy);
            }
            Edit::Rename(at, name) => repos[at.index(n)].name = name.clone(),
            Edit::Move(from, to) => {
                let repo = repos.remove(from.index(n));
                repos.insert(to.index(n), repo);
            }
        }
    }
    report
}

/// Two related reports: the second is the first edited.
pub(crate) fn report_and_edited() -> impl Strategy<Value = (Report, Report)> {
    (report(), edits()).prop_map(|(a, edits)| {
        let b = edited(&a, &edits);
        (a, b)
    })
}

/// Three related reports, each the one before edited.
pub(crate) fn three_reports() -> impl Strategy<Value = (Report, Report, Report)> {
    (report(), edits(), edits()).prop_map(|(a, first, second)| {
        let b = edited(&a, &first);
        let c = edited(&b, &second);
        (a, b, c)
    })
}

/// Two to seven related reports, each the one before edited: a history of publishes.
pub(crate) fn report_sequence() -> impl Strategy<Value = Vec<Report>> {
    (report(), vec(edits(), 1..=6)).prop_map(|(first, steps)| {
        let mut reports = vec![first];
        for edits in &steps {
            let next = edited(reports.last().expect("starts with one report"), edits);
            reports.push(next);
        }
        reports
    })
}
