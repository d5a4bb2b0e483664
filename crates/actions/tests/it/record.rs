//! The action record the caller logs.

use gitops_actions::{Action, ActionKind, ActionRecord, Error, ErrorClass, RecordResult};
use gitops_report::Status;

use crate::support::Fixture;

#[test]
fn records_say_who_what_when_and_how_it_ended() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    std::fs::write(path.join("a.txt"), "a").unwrap();
    let actions = fixture.actions();
    let row = fixture.row("halo", Status::Dirty);
    let at: jiff::Timestamp = "2026-12-01T03:00:00Z".parse().unwrap();
    let commit = Action::Commit { message: "record me".into() };

    let previewed = ActionRecord::previewed(
        "token:ops",
        ActionKind::Commit,
        "halo",
        at,
        &actions.preview(&row, &commit),
    );
    assert_eq!(previewed.result, RecordResult::Previewed);
    let done =
        ActionRecord::ran("token:ops", ActionKind::Commit, "halo", at, &actions.run(&row, &commit));
    assert_eq!(done.result, RecordResult::Done);
    assert!(done.summary.starts_with("committed 1 paths as "), "{}", done.summary);
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["who"], "token:ops");
    assert_eq!(json["action"], "commit");
    assert_eq!(json["repo"], "halo");
    assert_eq!(json["at"], "2026-12-01T03:00:00Z");
    assert_eq!(json["result"], "done");
    assert_eq!(json["error_class"], serde_json::Value::Null);

    let refused =
        ActionRecord::ran("session:7", ActionKind::Commit, "halo", at, &actions.run(&row, &commit));
    assert_eq!(
        (refused.result, refused.error_class),
        (RecordResult::Refused, Some(ErrorClass::Conflict))
    );
    assert!(refused.summary.contains("nothing to do"), "{}", refused.summary);

    let failed: Result<gitops_actions::Outcome, Error> = Err(Error::GitFailed {
        operation: "clone",
        code: Some(128),
        output: "fatal: repository not found".into(),
    });
    let failed = ActionRecord::ran("session:7", ActionKind::Clone, "halo", at, &failed);
    assert_eq!(
        (failed.result, failed.output.as_str()),
        (RecordResult::Failed, "fatal: repository not found")
    );
    assert_eq!(ActionKind::parse("fix_remote"), Some(ActionKind::FixRemote));
    assert_eq!(ActionKind::parse("fix-remote").map(ActionKind::as_str), Some("fix-remote"));
    assert_eq!(ActionKind::parse("rm"), None);
}
