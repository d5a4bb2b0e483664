//! The value an action log keeps for every action, previewed, done, refused or failed. This
//! crate makes it; the caller stores it.

use jiff::Timestamp;
use serde::Serialize;

use crate::error::{Error, ErrorClass};
use crate::outcome::{ActionKind, Outcome, Preview};

/// Output kept in a record, in bytes.
const MAX_RECORD_OUTPUT: usize = 16 * 1024;

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordResult {
    /// Only previewed; nothing changed.
    Previewed,
    /// Done.
    Done,
    /// Refused before anything changed (a bad name or URL, busy, stale preview, ...).
    Refused,
    /// Failed while acting (git failed or timed out, the disk refused).
    Failed,
}

/// One line of the action log: who did what to which repository, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRecord {
    /// Who: a session or token name, as the caller knows them.
    pub who: String,
    /// Which action.
    pub action: ActionKind,
    /// The repository's name (for a restore, the trash entry's folder).
    pub repo: String,
    /// When it ended.
    pub at: Timestamp,
    /// How it ended.
    pub result: RecordResult,
    /// For a refusal or failure, how an HTTP layer answers it.
    pub error_class: Option<ErrorClass>,
    /// One line: the outcome's summary, or the error.
    pub summary: String,
    /// git's output (capped at 16 KiB), credentials redacted.
    pub output: String,
}

impl ActionRecord {
    /// The record of a preview (or of its refusal).
    pub fn previewed(
        who: &str,
        action: ActionKind,
        repo: &str,
        at: Timestamp,
        preview: &Result<Preview, Error>,
    ) -> Self {
        let (result, error_class, summary, output) = match preview {
            Ok(_) => (RecordResult::Previewed, None, format!("previewed {action}"), String::new()),
            Err(error) => error_parts(error),
        };
        Self::new(who, action, repo, at, result, error_class, summary, output)
    }

    /// The record of a run.
    pub fn ran(
        who: &str,
        action: ActionKind,
        repo: &str,
        at: Timestamp,
        outcome: &Result<Outcome, Error>,
    ) -> Self {
        let (result, error_class, summary, output) = match outcome {
            Ok(outcome) => {
                (RecordResult::Done, None, outcome.summary.clone(), outcome.output.clone())
            }
            Err(error) => error_parts(error),
        };
        Self::new(who, action, repo, at, result, error_class, summary, output)
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        who: &str,
        action: ActionKind,
        repo: &str,
        at: Timestamp,
        result: RecordResult,
        error_class: Option<ErrorClass>,
        summary: String,
        mut output: String,
    ) -> Self {
        if output.len() > MAX_RECORD_OUTPUT {
            let mut end = MAX_RECORD_OUTPUT;
            while !output.is_char_boundary(end) {
                end -= 1;
            }
            output.truncate(end);
            output.push_str("\n[truncated]");
        }
        Self {
            who: who.to_owned(),
            action,
            repo: repo.to_owned(),
            at,
            result,
            error_class,
            summary,
            output,
        }
    }
}

fn error_parts(error: &Error) -> (RecordResult, Option<ErrorClass>, String, String) {
    let result = if error.is_refusal() { RecordResult::Refused } else { RecordResult::Failed };
    (result, Some(error.class()), error.to_string(), error.output().unwrap_or_default().to_owned())
}
