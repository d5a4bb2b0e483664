//! View changes: status, per-file stats, binary files named, the byte cap.

use std::fs;

use gitops_actions::{ChangeKind, ChangesLimits, Error};
use gitops_report::Status;

use crate::support::{Fixture, git};

#[test]
fn changes_lists_status_and_a_diff_per_file_with_stats() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    fs::write(path.join("README.md"), "# hello\nsecond line\n").unwrap();
    fs::remove_file(path.join(".gitignore")).unwrap();
    fs::write(path.join("notes.txt"), "one\ntwo\nthree\n").unwrap();
    fs::create_dir_all(path.join("new/deeper")).unwrap();
    fs::write(path.join("new/deeper/file.rs"), "fn main() {}\n").unwrap();
    fs::write(path.join("staged.txt"), "staged\n").unwrap();
    git(&path, &["add", "staged.txt"]);
    fs::write(path.join("logo.png"), [0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2, 3]).unwrap();

    let changes = fixture.actions().changes(&fixture.row("halo", Status::Dirty)).unwrap();
    assert_eq!(changes.branch.as_deref(), Some("main"));
    assert_eq!(changes.head.as_ref().map(String::len), Some(40));
    let status: Vec<(&str, &str)> =
        changes.status.iter().map(|entry| (entry.path.as_str(), entry.code.as_str())).collect();
    assert_eq!(
        status,
        [
            (".gitignore", " D"),
            ("README.md", " M"),
            ("logo.png", "??"),
            ("new/", "??"),
            ("notes.txt", "??"),
            ("staged.txt", "A "),
        ]
    );
    let file = |path: &str| {
        changes.files.iter().find(|file| file.path == path).unwrap_or_else(|| {
            panic!("no {path} in {:?}", changes.files.iter().map(|f| &f.path).collect::<Vec<_>>())
        })
    };
    let readme = file("README.md");
    assert_eq!((readme.kind, readme.additions, readme.deletions), (ChangeKind::Modified, 1, 0));
    assert!(readme.patch.as_deref().unwrap().contains("+second line"), "{readme:?}");
    let gitignore = file(".gitignore");
    assert_eq!((gitignore.kind, gitignore.deletions), (ChangeKind::Deleted, 1));
    let notes = file("notes.txt");
    assert_eq!((notes.kind, notes.additions), (ChangeKind::Added, 3));
    assert!(notes.patch.as_deref().unwrap().contains("+three"));
    assert_eq!(file("new/deeper/file.rs").kind, ChangeKind::Added);
    assert_eq!(file("staged.txt").kind, ChangeKind::Added);
    let logo = file("logo.png");
    assert!(logo.binary, "{logo:?}");
    assert_eq!((logo.patch.as_deref(), logo.additions), (None, 0));
    assert!(!changes.truncated);
    assert_eq!(
        changes.patch_bytes,
        changes.files.iter().filter_map(|f| f.patch.as_ref()).map(String::len).sum::<usize>()
    );
}

#[test]
fn a_diff_past_the_byte_cap_says_truncated_and_keeps_stats() {
    let fixture = Fixture::new();
    let path = fixture.clone("alice", "halo", "halo");
    for index in 0..5 {
        fs::write(path.join(format!("file{index}.txt")), "line\n".repeat(200)).unwrap();
    }
    fs::write(path.join("huge.txt"), "x\n".repeat(100_000)).unwrap();
    let actions = fixture.actions_with(|config| {
        config.changes_limits =
            ChangesLimits { max_patch_bytes: 3000, max_files: 3, max_file_bytes: 100_000 };
    });
    let changes = actions.changes(&fixture.row("halo", Status::Dirty)).unwrap();
    assert!(changes.truncated);
    assert_eq!(changes.files.len(), 3);
    assert_eq!(changes.files_not_listed, 3);
    assert!(changes.patch_bytes <= 3000, "{}", changes.patch_bytes);
    assert!(changes.files.iter().all(|file| file.additions == 200), "stats kept past the cap");
    assert_eq!(changes.files.iter().filter(|file| file.patch.is_some()).count(), 2);

    let actions = fixture.actions_with(|config| {
        config.changes_limits =
            ChangesLimits { max_patch_bytes: 1 << 20, max_files: 100, max_file_bytes: 100_000 };
    });
    let changes = actions.changes(&fixture.row("halo", Status::Dirty)).unwrap();
    let huge = changes.files.iter().find(|file| file.path == "huge.txt").unwrap();
    assert!(huge.too_large && huge.patch.is_none() && !huge.binary, "{huge:?}");
}

#[test]
fn a_clean_repository_has_no_changes_and_a_bare_one_has_no_worktree() {
    let fixture = Fixture::new();
    fixture.clone("alice", "halo", "halo");
    let changes = fixture.actions().changes(&fixture.row("halo", Status::Clean)).unwrap();
    assert!(changes.status.is_empty() && changes.files.is_empty());

    git(&fixture.root, &["init", "--bare", "--quiet", "bare.git"]);
    let error = fixture.actions().changes(&fixture.row("bare.git", Status::Clean)).unwrap_err();
    assert!(matches!(error, Error::NotARepository { .. }), "{error}");
}

#[test]
fn a_plain_folder_inside_a_repository_is_not_that_repository() {
    let fixture = Fixture::new();
    // The root itself is a repository; a plain folder in it must not be taken for the root's.
    git(&fixture.root, &["init", "--quiet"]);
    fs::create_dir_all(fixture.root.join("plain")).unwrap();
    fs::write(fixture.root.join("plain/file"), "x").unwrap();
    let error = fixture.actions().changes(&fixture.row("plain", Status::Extra)).unwrap_err();
    assert!(matches!(error, Error::NotARepository { .. }), "{error}");
}
