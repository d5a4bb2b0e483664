//! Rebuilding a state: a checkpoint's report with the messages after it applied, as a client
//! applies them.

use gitops_diff::{Changes, Meta, apply_in_place};
use gitops_protocol::ServerMessage;
use gitops_report::Report;

use crate::error::{Error, Result};

/// Reads a checkpoint's report.
pub(crate) fn decode_checkpoint(seq: u64, bytes: &[u8]) -> Result<Report> {
    serde_json::from_slice(bytes)
        .map_err(|error| Error::Replay { seq, detail: format!("checkpoint: {error}") })
}

/// Applies `messages` (encoded, with their sequence numbers, which must follow `after_seq`
/// without a gap) to `report`.
///
/// All of them are decoded into one [`Changes`] and applied at once: applying a `Changes` is
/// defined as applying its repository changes one after the other, and top-level field changes
/// are shallow merge patches, so consecutive ones merge key by key.
pub(crate) fn apply_messages<'a>(
    report: &mut Report,
    after_seq: u64,
    messages: impl IntoIterator<Item = (u64, &'a [u8])>,
) -> Result<()> {
    let mut changes = Changes::default();
    let mut expected = after_seq + 1;
    for (seq, bytes) in messages {
        if seq != expected {
            return Err(Error::Replay {
                seq: expected,
                detail: format!("the message is missing (the next one is {seq})"),
            });
        }
        expected += 1;
        let decoded = ServerMessage::decode(bytes)
            .map_err(|error| Error::Replay { seq, detail: error.to_string() })?;
        match decoded {
            ServerMessage::RepoStatusChange { data, .. } => changes.repos.push(data),
            ServerMessage::HealthMetricsUpdate { data, .. } => merge_meta(&mut changes.meta, data),
            other => {
                return Err(Error::Replay {
                    seq,
                    detail: format!("not a change message: {:?}", other.cursor()),
                });
            }
        }
    }
    if changes.is_empty() {
        return Ok(());
    }
    apply_in_place(report, &changes)
        .map_err(|error| Error::Replay { seq: expected - 1, detail: error.to_string() })
}

/// Merges a later shallow merge patch into an earlier one: each of its fields wins.
fn merge_meta(into: &mut Option<Meta>, later: Meta) {
    match into {
        Some(earlier) => earlier.extend(later),
        None => *into = Some(later),
    }
}

#[cfg(test)]
mod tests {
    use gitops_diff::{diff, meta_of, same_state};
    use gitops_protocol::{Cursor, Epoch, encode_meta, encode_repo_change};

    use super::*;

    /// The messages a publish of `new` over `old` sends, from `seq + 1` on.
    fn publish(old: &Report, new: &Report, seq: &mut u64) -> Vec<(u64, Vec<u8>)> {
        let changes = diff(old, new);
        let mut out = Vec::new();
        for change in &changes.repos {
            *seq += 1;
            out.push((*seq, encode_repo_change(Cursor::new(Epoch(1), *seq), change).to_vec()));
        }
        if let Some(meta) = &changes.meta {
            *seq += 1;
            out.push((*seq, encode_meta(Cursor::new(Epoch(1), *seq), meta).to_vec()));
        }
        out
    }

    #[test]
    fn several_publishes_replayed_at_once_give_the_last_state() {
        let first = gitops_report::generate_report(40, 3);
        let mut second = first.clone();
        second.repos.remove(5);
        second.repos[0].status = gitops_report::Status::Dirty;
        second.github_user = Some("bob".to_owned());
        let mut third = second.clone();
        third.repos.push(gitops_report::generate_report(1, 9).repos.remove(0));
        third.github_user = None;
        third.local_git_root = Some("/elsewhere".to_owned());
        let mut seq = 10;
        let mut messages = publish(&first, &second, &mut seq);
        messages.extend(publish(&second, &third, &mut seq));
        let mut report = first.clone();
        apply_messages(&mut report, 10, messages.iter().map(|(s, b)| (*s, b.as_slice()))).unwrap();
        assert!(same_state(&report, &third));
        assert_eq!(meta_of(&report), meta_of(&third));
    }

    #[test]
    fn a_missing_message_is_a_replay_error() {
        let first = gitops_report::generate_report(10, 3);
        let mut second = first.clone();
        second.repos[1].status = gitops_report::Status::Missing;
        second.repos[2].status = gitops_report::Status::Missing;
        let mut seq = 0;
        let messages = publish(&first, &second, &mut seq);
        let mut report = first.clone();
        let skipping = messages.iter().skip(1).map(|(s, b)| (*s, b.as_slice()));
        let error = apply_messages(&mut report, 0, skipping).unwrap_err();
        assert!(matches!(error, Error::Replay { seq: 1, .. }), "{error:?}");
    }
}
