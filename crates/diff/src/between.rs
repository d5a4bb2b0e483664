//! [`change_between`]: the change that takes one repository state to another, for callers that
//! track repositories themselves (the hub's catch-ups).

use gitops_report::Repo;

use crate::{RepoChange, RepoChangeKind};

/// The change for key `(name, dup)` from `before` to `after`, where `None` means absent.
///
/// `None` when both are absent or equal. Equal repositories cost one `==`; only differing ones
/// are turned into JSON for the patch.
pub fn change_between(
    name: &str,
    dup: u32,
    before: Option<&Repo>,
    after: Option<&Repo>,
) -> Option<RepoChange> {
    let kind = match (before, after) {
        (None, None) => return None,
        (Some(old), Some(new)) if old == new => return None,
        (None, Some(new)) => RepoChangeKind::Added { repo: new.clone() },
        (Some(old), None) => RepoChangeKind::Removed { old_status: old.status.clone() },
        (Some(old), Some(new)) => RepoChangeKind::Changed {
            old_status: old.status.clone(),
            new_status: new.status.clone(),
            ops: json_patch::diff(
                &crate::apply::repo_to_value(old),
                &crate::apply::repo_to_value(new),
            ),
        },
    };
    Some(RepoChange { name: name.to_owned(), dup, kind })
}

#[cfg(test)]
mod tests {
    use gitops_report::Status;

    use super::*;

    fn repo(status: Status) -> Repo {
        Repo { name: "halo".to_owned(), status, ..Repo::default() }
    }

    #[test]
    fn each_presence_pair_gives_its_kind() {
        let (clean, dirty) = (repo(Status::Clean), repo(Status::Dirty));
        assert_eq!(change_between("halo", 0, None, None), None);
        assert_eq!(change_between("halo", 0, Some(&clean), Some(&clean)), None);
        let added = change_between("halo", 1, None, Some(&clean)).expect("added");
        assert!(matches!(added.kind, RepoChangeKind::Added { .. }) && added.dup == 1);
        let removed = change_between("halo", 0, Some(&dirty), None).expect("removed");
        assert_eq!(removed.kind, RepoChangeKind::Removed { old_status: Status::Dirty });
        let changed = change_between("halo", 0, Some(&clean), Some(&dirty)).expect("changed");
        let RepoChangeKind::Changed { old_status, new_status, ops } = changed.kind else {
            panic!("expected changed")
        };
        assert_eq!((old_status, new_status), (Status::Clean, Status::Dirty));
        assert_eq!(ops.0.len(), 1);
    }
}
