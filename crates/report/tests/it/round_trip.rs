//! `parse(to_json(report)) == report` for reports with unknown fields, awkward names and every status.

use std::collections::BTreeMap;

use gitops_report::{
    FileStatus, Health, Repo, Report, Shape, Status, Summary, Timestamp, generate_report, parse,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

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
];
const SUMMARY_FIELDS: &[&str] = &["total", "missing", "extra", "dirty", "mismatched", "clean"];

/// Text with the characters that break naive code: `/`, `~`, quotes, escapes, non-ASCII, emoji.
fn awkward_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9._-]{0,12}",
        "[a-z/~]{1,6}(/[a-z~0-9]{1,6}){0,2}",
        "\\PC{0,10}",
        Just("~0~1/\"\\\u{0}\u{7f}é😀".to_owned()),
    ]
}

/// Any JSON value a producer could write, with numbers that survive a text round trip exactly.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        awkward_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(awkward_text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Unknown fields: any key but the known ones, any value.
fn extra_fields(known: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map(awkward_text(), json_value(), 0..4).prop_map(move |fields| {
        fields.into_iter().filter(|(key, _)| !known.contains(&key.as_str())).collect()
    })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![
        Just(Status::Missing),
        Just(Status::Extra),
        Just(Status::Dirty),
        Just(Status::Mismatched),
        Just(Status::Clean),
        awkward_text().prop_map(|text| Status::from_text(&text)),
    ]
}

fn repo() -> impl Strategy<Value = Repo> {
    let texts = prop::collection::vec(prop::option::of(awkward_text()), 6);
    let file_status = prop::option::of(prop_oneof![
        Just(FileStatus::Complete),
        Just(FileStatus::MissingFiles),
        Just(FileStatus::MissingReadme),
        Just(FileStatus::Unknown),
        awkward_text().prop_map(|text| FileStatus::from_text(&text)),
    ]);
    (awkward_text(), status(), texts, file_status, extra_fields(REPO_FIELDS)).prop_map(
        |(name, status, mut texts, file_status, extra)| {
            let mut next = || texts.pop().flatten();
            Repo {
                name,
                status,
                clone_url: next(),
                local_path: next(),
                remote_url: next(),
                expected_url: next(),
                dashboard_link: next(),
                mitigation: next(),
                file_status,
                extra,
            }
        },
    )
}

fn summary() -> impl Strategy<Value = Summary> {
    (
        prop::collection::vec(any::<u64>(), 5),
        prop::option::of(any::<u64>()),
        extra_fields(SUMMARY_FIELDS),
    )
        .prop_map(|(counts, mismatched, extra_counts)| Summary {
            total: counts[0],
            missing: counts[1],
            extra: counts[2],
            dirty: counts[3],
            mismatched,
            clean: counts[4],
            extra_counts,
        })
}

fn timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (0i64..4_000_000_000).prop_map(|second| {
            let instant = jiff::Timestamp::from_second(second).unwrap();
            Timestamp::from_text(&instant.to_string())
        }),
        (0i64..4_000_000_000).prop_map(|second| {
            let instant = jiff::Timestamp::from_second(second).unwrap();
            Timestamp::from_text(&instant.strftime("%Y-%m-%dT%H-%M-%SZ").to_string())
        }),
        awkward_text().prop_map(|text| Timestamp::from_text(&text)),
    ]
}

fn report() -> impl Strategy<Value = Report> {
    let health = prop_oneof![
        Just(Health::Green),
        Just(Health::Yellow),
        Just(Health::Red),
        awkward_text().prop_map(|text| Health::from_text(&text)),
    ];
    let top = (
        prop::option::of(timestamp()),
        prop::option::of(health),
        prop::option::of(summary()),
        prop::collection::btree_map(awkward_text(), awkward_text(), 0..4),
        prop::option::of(awkward_text()),
        prop::option::of(any::<bool>()),
        prop::option::of(awkward_text()),
        extra_fields(REPORT_FIELDS),
    );
    (top, prop::collection::vec(repo(), 0..12)).prop_map(
        |(
            (
                timestamp,
                health_status,
                summary,
                mitigation_actions,
                local_git_root,
                local_scan_active,
                github_user,
                extra,
            ),
            repos,
        )| Report {
            timestamp,
            health_status,
            summary,
            repos,
            mitigation_actions: mitigation_actions.into_iter().collect::<BTreeMap<_, _>>(),
            local_git_root,
            local_scan_active,
            github_user,
            extra,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn written_report_parses_back_equal(report in report()) {
        let parsed = parse(&report.to_json_bytes()).unwrap();
        prop_assert_eq!(parsed.shape, Shape::Current);
        prop_assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
        prop_assert_eq!(&parsed.report, &report);
        let pretty = parse(&report.to_json_pretty_bytes()).unwrap();
        prop_assert_eq!(&pretty.report, &report);
    }

    #[test]
    fn unknown_fields_are_written_out_exactly(report in report()) {
        let written: Value = serde_json::from_slice(&report.to_json_bytes()).unwrap();
        for (key, value) in &report.extra {
            prop_assert_eq!(written.get(key), Some(value));
        }
        for (index, repo) in report.repos.iter().enumerate() {
            for (key, value) in &repo.extra {
                prop_assert_eq!(written["repos"][index].get(key), Some(value));
            }
        }
    }

    #[test]
    fn serde_value_round_trip_agrees_with_parse(report in report()) {
        let value = serde_json::to_value(&report).unwrap();
        let back: Report = serde_json::from_value(value).unwrap();
        prop_assert_eq!(back, report);
    }

    #[test]
    fn generated_reports_round_trip(n_repos in 0usize..120, seed in any::<u64>()) {
        let report = generate_report(n_repos, seed);
        prop_assert_eq!(parse(&report.to_json_bytes()).unwrap().report, report);
    }
}

#[test]
fn legacy_report_written_in_the_current_shape_reads_back_equal() {
    let legacy = parse(gitops_report::SAMPLE_LEGACY_ARRAY.as_bytes()).unwrap();
    let again = parse(&legacy.report.to_json_bytes()).unwrap();
    assert_eq!(again.shape, Shape::Current);
    assert!(again.notes.is_empty());
    assert_eq!(again.report, legacy.report);
}
