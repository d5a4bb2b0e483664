//! The client rules' shared cases (`tests/fixtures/live_state_cases.json`), driven through
//! `LiveState::apply`. The dashboard runs the same file through its own rules
//! (`dashboard/src/lib/liveRules.test.ts`), so the two cannot disagree unnoticed.

use gitops_protocol::{Applied, Cursor, LiveState, ServerMessage};
use gitops_report::Report;
use serde::Deserialize;
use serde_json::Value;

const CASES: &str = include_str!("../fixtures/live_state_cases.json");

#[derive(Deserialize)]
struct Fixture {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    initial: Option<Initial>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
struct Initial {
    cursor: String,
    report: Value,
}

#[derive(Deserialize)]
struct Step {
    message: Value,
    outcome: String,
    cursor: Option<String>,
    repos: Option<Vec<(String, String)>>,
    effect: Option<String>,
    /// Absent: not checked; `null`: the field is gone.
    #[serde(default, deserialize_with = "present")]
    health_status: Option<Option<String>>,
}

/// Tells an absent field (`None`) from one given as `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

fn initial_state(initial: Option<&Initial>) -> LiveState {
    let Some(initial) = initial else { return LiveState::default() };
    let report: Report = serde_json::from_value(initial.report.clone())
        .expect("the fixture's initial report parses");
    let cursor: Cursor = initial.cursor.parse().expect("the fixture's initial cursor parses");
    LiveState { report: Some(report), cursor: Some(cursor), status: None }
}

/// The step's outcome in the fixture's words, and the effect the Rust docs of `Applied` name.
fn outcome_of(
    state: &LiveState,
    result: &gitops_protocol::Result<Applied>,
) -> (String, Option<String>) {
    let resync =
        || Some(if state.cursor.is_some() { "resume" } else { "request-update" }.to_owned());
    match result {
        Ok(Applied::Advanced(_)) => ("advanced".to_owned(), None),
        Ok(Applied::Stale) => ("stale".to_owned(), None),
        Ok(Applied::Gap) => ("gap".to_owned(), resync()),
        Ok(Applied::NotState) => ("not-state".to_owned(), None),
        Err(_) => ("error".to_owned(), Some("request-update".to_owned())),
    }
}

fn sorted_repos(state: &LiveState) -> Option<Vec<(String, String)>> {
    let report = state.report.as_ref()?;
    let mut repos: Vec<(String, String)> =
        report.repos.iter().map(|repo| (repo.name.to_string(), repo.status.to_string())).collect();
    repos.sort();
    Some(repos)
}

fn health_status(state: &LiveState) -> Option<String> {
    let value = serde_json::to_value(state.report.as_ref()?).expect("a report serialises");
    value.get("health_status").and_then(Value::as_str).map(str::to_owned)
}

#[test]
fn live_state_follows_every_shared_case() {
    let fixture: Fixture = serde_json::from_str(CASES).expect("the fixture is valid JSON");
    assert!(fixture.cases.len() >= 8, "the fixture holds the cases");
    for case in &fixture.cases {
        let mut state = initial_state(case.initial.as_ref());
        for (index, step) in case.steps.iter().enumerate() {
            let at = format!("{} (step {})", case.name, index + 1);
            let bytes = serde_json::to_vec(&step.message).expect("a JSON value serialises");
            // A message that does not decode is a change that does not fit too (an `added`
            // whose repository has another name is refused here, by the dashboard when applied).
            let result = ServerMessage::decode(&bytes).and_then(|message| state.apply(message));
            let (outcome, effect) = outcome_of(&state, &result);
            assert_eq!(outcome, step.outcome, "{at}: outcome ({result:?})");
            assert_eq!(effect, step.effect, "{at}: effect");
            assert_eq!(state.cursor.map(|c| c.to_string()), step.cursor, "{at}: cursor");
            let mut expected = step.repos.clone();
            if let Some(repos) = expected.as_mut() {
                repos.sort();
            }
            assert_eq!(sorted_repos(&state), expected, "{at}: repositories");
            if let Some(health) = &step.health_status {
                assert_eq!(&health_status(&state), health, "{at}: health_status");
            }
        }
    }
}
