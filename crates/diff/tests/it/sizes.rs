//! Wire sizes of typical changes in a large report: a one-repository change stays small.

use gitops_diff::{RepoChangeKind, diff};
use gitops_report::{FileStatus, Health, Repo, Report, Status, Summary, Timestamp};

/// A report of `n` repositories shaped like a real producer's, every fifth one dirty.
fn report_of(n: usize) -> Report {
    let repos: Vec<Repo> = (0..n)
        .map(|i| {
            let name = format!("repo-{i:05}");
            let dirty = i % 5 == 0;
            Repo {
                status: if dirty { Status::Dirty } else { Status::Clean },
                clone_url: Some(format!("https://github.com/alice/{name}.git")),
                local_path: Some(format!("/srv/git/{name}")),
                dashboard_link: Some(format!(
                    "/audit/{name}?action={}",
                    if dirty { "commit" } else { "view" }
                )),
                mitigation: dirty.then(|| "commit_or_discard".to_owned()),
                file_status: Some(FileStatus::Complete),
                name,
                ..Repo::default()
            }
        })
        .collect();
    let mut report = Report {
        timestamp: Some(Timestamp::from_text("2025-06-20T03:00:00Z")),
        health_status: Some(Health::Yellow),
        repos,
        local_git_root: Some("/srv/git".to_owned()),
        github_user: Some("alice".to_owned()),
        ..Report::default()
    };
    report.summary = Some(summary_of(&report));
    report
}

/// The counts of a report whose repositories are all dirty or clean.
fn summary_of(report: &Report) -> Summary {
    let dirty = report.repos.iter().filter(|repo| repo.status == Status::Dirty).count() as u64;
    let total = report.repos.len() as u64;
    Summary { total, dirty, clean: total - dirty, mismatched: Some(0), ..Summary::default() }
}

/// `report` with the repository at `position` committed: dirty becomes clean.
fn committed(report: &Report, position: usize) -> Report {
    let mut new = report.clone();
    let repo = &mut new.repos[position];
    repo.status = Status::Clean;
    repo.mitigation = None;
    repo.dashboard_link = Some(format!("/audit/{}?action=view", repo.name));
    new.summary = Some(summary_of(&new));
    new
}

#[test]
fn a_one_repo_status_change_in_a_thousand_repo_report_is_at_most_300_bytes() {
    let old = report_of(1_000);
    let new = committed(&old, 500);
    let changes = diff(&old, &new);
    assert_eq!(changes.repos.len(), 1);
    assert!(matches!(changes.repos[0].kind, RepoChangeKind::Changed { .. }));
    let repo_change = serde_json::to_string(&changes.repos[0]).unwrap();
    assert!(repo_change.len() <= 300, "{} bytes: {repo_change}", repo_change.len());
    // The summary moved too, so the top-level fields travel as well, in their own small message.
    let meta = serde_json::to_string(&changes.meta.unwrap()).unwrap();
    assert!(meta.len() <= 300, "{} bytes: {meta}", meta.len());
}

#[test]
fn inserting_at_the_front_of_a_thousand_repo_report_is_one_small_addition() {
    let old = report_of(1_000);
    let mut new = old.clone();
    let mut repo = old.repos[1].clone();
    repo.name = "newcomer".to_owned();
    new.repos.insert(0, repo);
    let changes = diff(&old, &new);
    assert_eq!(changes.repos.len(), 1);
    assert!(matches!(changes.repos[0].kind, RepoChangeKind::Added { .. }));
    assert!(serde_json::to_string(&changes).unwrap().len() <= 400);
}

#[test]
fn a_status_change_in_a_generated_thousand_repo_report_is_at_most_300_bytes() {
    let old = gitops_report::generate_report(1_000, 7);
    for position in [0, 1, 2, 3, 4, 5, 500, 999] {
        let mut new = old.clone();
        let repo = &mut new.repos[position];
        repo.status = if repo.status == Status::Dirty { Status::Clean } else { Status::Dirty };
        let changes = diff(&old, &new);
        assert_eq!(changes.repos.len(), 1);
        let repo_change = serde_json::to_string(&changes.repos[0]).unwrap();
        assert!(repo_change.len() <= 300, "{} bytes: {repo_change}", repo_change.len());
    }
}
