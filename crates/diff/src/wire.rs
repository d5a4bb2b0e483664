//! The JSON form of a [`RepoChange`]: `repo-status-change` data in `docs/protocol.md`.

use gitops_report::{Repo, Status};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{RepoChange, RepoChangeKind};

/// Which kind of change, as the `change` field writes it.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ChangeTag {
    Added,
    Removed,
    Changed,
}

/// A [`RepoChange`] as written: a flat object, fields in the order `docs/protocol.md` shows them.
#[derive(Serialize)]
struct WireOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    dup: u32,
    change: ChangeTag,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_status: Option<&'a Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_status: Option<&'a Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ops: Option<&'a json_patch::Patch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repo: Option<&'a Repo>,
}

fn is_zero(dup: &u32) -> bool {
    *dup == 0
}

/// A [`RepoChange`] as read: every field optional here, required per kind below. Unknown fields
/// are ignored, so a later protocol version may add some.
#[derive(Deserialize)]
struct WireIn {
    name: String,
    #[serde(default)]
    dup: u32,
    change: ChangeTag,
    old_status: Option<Status>,
    new_status: Option<Status>,
    ops: Option<json_patch::Patch>,
    repo: Option<Repo>,
}

impl Serialize for RepoChange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut wire = WireOut {
            name: &self.name,
            dup: self.dup,
            change: ChangeTag::Added,
            old_status: None,
            new_status: None,
            ops: None,
            repo: None,
        };
        match &self.kind {
            RepoChangeKind::Added { repo } => {
                wire.new_status = Some(&repo.status);
                wire.repo = Some(repo);
            }
            RepoChangeKind::Removed { old_status } => {
                wire.change = ChangeTag::Removed;
                wire.old_status = Some(old_status);
            }
            RepoChangeKind::Changed { old_status, new_status, ops } => {
                wire.change = ChangeTag::Changed;
                wire.old_status = Some(old_status);
                wire.new_status = Some(new_status);
                wire.ops = Some(ops);
            }
        }
        wire.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RepoChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let WireIn { name, dup, change, old_status, new_status, ops, repo } =
            WireIn::deserialize(deserializer)?;
        let kind = match change {
            ChangeTag::Added => {
                let repo = repo.ok_or_else(|| D::Error::missing_field("repo"))?;
                if repo.name != name {
                    return Err(D::Error::custom(format!(
                        "added repository is named {:?}, the change says {name:?}",
                        repo.name
                    )));
                }
                if new_status.is_some_and(|status| status != repo.status) {
                    return Err(D::Error::custom(
                        "new_status disagrees with the added repository's status",
                    ));
                }
                RepoChangeKind::Added { repo }
            }
            ChangeTag::Removed => RepoChangeKind::Removed {
                old_status: old_status.ok_or_else(|| D::Error::missing_field("old_status"))?,
            },
            ChangeTag::Changed => RepoChangeKind::Changed {
                old_status: old_status.ok_or_else(|| D::Error::missing_field("old_status"))?,
                new_status: new_status.ok_or_else(|| D::Error::missing_field("new_status"))?,
                ops: ops.ok_or_else(|| D::Error::missing_field("ops"))?,
            },
        };
        Ok(Self { name, dup, kind })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::Changes;

    fn round_trip(change: &RepoChange) -> RepoChange {
        serde_json::from_str(&serde_json::to_string(change).unwrap()).unwrap()
    }

    #[test]
    fn changed_is_written_as_the_protocol_shows() {
        let change = RepoChange {
            name: "halo".to_owned(),
            dup: 0,
            kind: RepoChangeKind::Changed {
                old_status: Status::Missing,
                new_status: Status::Clean,
                ops: serde_json::from_value(json!([
                    {"op": "replace", "path": "/status", "value": "clean"},
                    {"op": "add", "path": "/local_path", "value": "/srv/git/halo"},
                ]))
                .unwrap(),
            },
        };
        assert_eq!(
            serde_json::to_string(&change).unwrap(),
            r#"{"name":"halo","change":"changed","old_status":"missing","new_status":"clean","ops":[{"op":"replace","path":"/status","value":"clean"},{"op":"add","path":"/local_path","value":"/srv/git/halo"}]}"#
        );
        assert_eq!(round_trip(&change), change);
    }

    #[test]
    fn added_is_written_as_the_protocol_shows() {
        let change = RepoChange {
            name: "scratch".to_owned(),
            dup: 0,
            kind: RepoChangeKind::Added {
                repo: Repo { name: "scratch".to_owned(), status: Status::Extra, ..Repo::default() },
            },
        };
        assert_eq!(
            serde_json::to_string(&change).unwrap(),
            r#"{"name":"scratch","change":"added","new_status":"extra","repo":{"name":"scratch","status":"extra"}}"#
        );
        assert_eq!(round_trip(&change), change);
    }

    #[test]
    fn removed_is_written_as_the_protocol_shows() {
        let change = RepoChange {
            name: "old-tool".to_owned(),
            dup: 0,
            kind: RepoChangeKind::Removed { old_status: Status::Clean },
        };
        assert_eq!(
            serde_json::to_string(&change).unwrap(),
            r#"{"name":"old-tool","change":"removed","old_status":"clean"}"#
        );
        assert_eq!(round_trip(&change), change);
    }

    #[test]
    fn dup_is_written_only_when_not_zero() {
        let change = RepoChange {
            name: "x".to_owned(),
            dup: 2,
            kind: RepoChangeKind::Removed { old_status: Status::Other("archived".to_owned()) },
        };
        assert_eq!(
            serde_json::to_string(&change).unwrap(),
            r#"{"name":"x","dup":2,"change":"removed","old_status":"archived"}"#
        );
        assert_eq!(round_trip(&change), change);
    }

    #[test]
    fn changes_are_catch_up_data_without_since() {
        let changes = Changes {
            repos: vec![RepoChange {
                name: "x".to_owned(),
                dup: 0,
                kind: RepoChangeKind::Removed { old_status: Status::Dirty },
            }],
            meta: None,
        };
        assert_eq!(
            serde_json::to_value(&changes).unwrap(),
            json!({"repos": [{"name": "x", "change": "removed", "old_status": "dirty"}], "meta": null})
        );
        let with_meta: Changes =
            serde_json::from_value(json!({"repos": [], "meta": {"health_status": "green"}}))
                .unwrap();
        assert_eq!(with_meta.meta.unwrap()["health_status"], "green");
        let without_meta: Changes = serde_json::from_value(json!({"repos": []})).unwrap();
        assert!(without_meta.is_empty());
    }

    #[test]
    fn malformed_changes_are_rejected() {
        for bad in [
            json!({"name": "x", "change": "changed", "old_status": "clean", "new_status": "dirty"}),
            json!({"name": "x", "change": "removed"}),
            json!({"name": "x", "change": "added", "new_status": "clean"}),
            json!({"name": "x", "change": "added", "repo": {"name": "y", "status": "clean"}}),
            json!({"name": "x", "change": "added", "new_status": "dirty", "repo": {"name": "x", "status": "clean"}}),
            json!({"name": "x", "change": "renamed"}),
            json!({"name": "x", "dup": -1, "change": "removed", "old_status": "clean"}),
        ] {
            assert!(serde_json::from_value::<RepoChange>(bad.clone()).is_err(), "accepted {bad}");
        }
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let change: RepoChange = serde_json::from_value(
            json!({"name": "x", "change": "removed", "old_status": "clean", "reason": "archived"}),
        )
        .unwrap();
        assert_eq!(change.kind, RepoChangeKind::Removed { old_status: Status::Clean });
    }
}
