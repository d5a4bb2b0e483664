//! Deterministic synthetic reports for benches, load tests and property tests.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{FileStatus, Repo, Report, Status, Timestamp};

/// A report with `n_repos` repositories, the same for the same `(n_repos, seed)`.
///
/// Field sizes follow real reports (about 500 bytes of JSON per repository, with unknown fields
/// such as `last_commit` and `branch`). The first six repositories have the statuses `missing`,
/// `extra`, `dirty`, `mismatched`, `clean` and the unknown `archived`, so every status appears once
/// `n_repos >= 6`; the rest are drawn from a realistic mix. Every 97th name has non-ASCII letters
/// and every 89th a `/` and a `~`. `summary` and `health_status` agree with the repositories, and
/// each repository has the fields the auditor writes for its status (the unknown `archived` is
/// there on purpose, for readers' handling of unknown statuses; no auditor writes it).
pub fn generate_report(n_repos: usize, seed: u64) -> Report {
    let mut rng = SplitMix64(seed);
    let repos: Vec<Repo> = (0..n_repos).map(|index| generate_repo(index, &mut rng)).collect();
    let start = jiff::Timestamp::from_second(1_750_388_400).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let offset = jiff::SignedDuration::from_secs((rng.next() % 20_000_000) as i64);
    let when = start.checked_add(offset).unwrap_or(start);
    let mut extra = Map::new();
    extra.insert("generator".to_owned(), Value::from("gitops-report generate_report"));
    extra.insert("audit_duration_ms".to_owned(), Value::from(rng.next() % 60_000));
    let mut report = Report {
        timestamp: Some(Timestamp::from_text(&when.to_string())),
        health_status: None,
        summary: None,
        repos,
        mitigation_actions: mitigation_actions(),
        local_git_root: Some("/srv/git".to_owned()),
        local_scan_active: Some(true),
        github_user: Some("alice".to_owned()),
        extra,
    };
    report.health_status = Some(report.computed_health());
    report.summary = Some(report.computed_summary());
    report
}

/// The mitigation keys real producers use, with their texts.
fn mitigation_actions() -> BTreeMap<String, String> {
    [
        ("clone_missing", "Clone missing repositories from GitHub"),
        ("review_or_delete", "Review extra local repositories: push them to GitHub or delete them"),
        ("commit_or_discard", "Commit or discard uncommitted changes"),
        ("fix_remote_or_rename", "Point origin at the expected repository, or rename it"),
    ]
    .into_iter()
    .map(|(key, text)| (key.to_owned(), text.to_owned()))
    .collect()
}

const PROJECTS: &[&str] = &[
    "esphome",
    "home-assistant",
    "frigate",
    "zigbee2mqtt",
    "nextcloud",
    "jellyfin",
    "traefik",
    "pihole",
    "grafana",
    "prometheus",
    "ansible",
    "terraform",
    "k3s",
    "dotfiles",
    "nixos",
    "paperless",
    "immich",
    "vaultwarden",
    "gitea",
    "syncthing",
    "wireguard",
    "restic",
    "node-red",
    "mosquitto",
    "kitshn",
    "halo",
    "tandoor",
    "authelia",
    "uptime-kuma",
    "ha-notify",
];

const COMMIT_SUBJECTS: &[&str] = &[
    "Update dependencies and pin image digests",
    "Add living-room sensors and rename the hallway motion automation",
    "Fix backup retention so weekly snapshots are kept for three months",
    "WIP",
    "Move secrets to sops and document the restore procedure",
];

const KINDS: &[&str] = &["config", "stack", "scripts", "backup", "infra", "tools", "ui", "docs"];

fn generate_repo(index: usize, rng: &mut SplitMix64) -> Repo {
    let project = PROJECTS[(rng.next() % PROJECTS.len() as u64) as usize];
    let kind = KINDS[(rng.next() % KINDS.len() as u64) as usize];
    let name = if index % 97 == 96 {
        format!("café-ツール-{project}-{index}")
    } else if index % 89 == 88 {
        format!("team/{project}~{kind}-{index}")
    } else {
        format!("{project}-{kind}-{index}")
    };
    let status = match index {
        0 => Status::Missing,
        1 => Status::Extra,
        2 => Status::Dirty,
        3 => Status::Mismatched,
        4 => Status::Clean,
        5 => Status::Other("archived".to_owned()),
        _ => match rng.next() % 100 {
            0..55 => Status::Clean,
            55..70 => Status::Dirty,
            70..80 => Status::Missing,
            80..88 => Status::Extra,
            88..96 => Status::Mismatched,
            _ => Status::Other("archived".to_owned()),
        },
    };
    let clone_url = format!("https://github.com/alice/{name}.git");
    let local_path = format!("/srv/git/{name}");
    let file_status = match rng.next() % 10 {
        0..7 => FileStatus::Complete,
        7 => FileStatus::MissingFiles,
        8 => FileStatus::MissingReadme,
        _ => FileStatus::Unknown,
    };
    let mut repo = Repo { name, status, ..Repo::default() };
    // The fields each status gets are those the auditor (`gitops-audit`) writes for it, so a
    // generated report never contradicts itself (see `validate`'s `contradiction` findings).
    let (action, mitigation) = match &repo.status {
        Status::Missing => {
            repo.clone_url = Some(clone_url);
            ("clone", Some("clone_missing"))
        }
        Status::Extra => {
            repo.local_path = Some(local_path);
            repo.remote_url = Some(String::new());
            repo.file_status = Some(file_status);
            ("review", Some("review_or_delete"))
        }
        Status::Dirty => {
            repo.local_path = Some(local_path);
            repo.remote_url = Some(clone_url.clone());
            repo.clone_url = Some(clone_url);
            repo.file_status = Some(file_status);
            ("commit", Some("commit_or_discard"))
        }
        Status::Mismatched => {
            repo.local_path = Some(local_path);
            repo.remote_url = Some(format!("https://github.com/alice/{}-old.git", repo.name));
            repo.expected_url = Some(clone_url.clone());
            repo.clone_url = Some(clone_url);
            repo.file_status = Some(file_status);
            ("fix_remote", Some("fix_remote_or_rename"))
        }
        Status::Clean | Status::Other(_) => {
            repo.local_path = Some(local_path);
            repo.remote_url = Some(clone_url.clone());
            repo.clone_url = Some(clone_url);
            repo.file_status = Some(file_status);
            ("view", None)
        }
    };
    repo.dashboard_link = Some(format!("/audit/{}?action={action}", repo.name));
    repo.mitigation = mitigation.map(str::to_owned);
    if !matches!(repo.status, Status::Missing) {
        let branch =
            ["main", "master", "develop", "feature/zigbee-rework"][(rng.next() % 4) as usize];
        repo.extra.insert("branch".to_owned(), Value::from(branch));
        repo.extra.insert(
            "last_commit".to_owned(),
            Value::from(format!("{:016x}{:016x}{:08x}", rng.next(), rng.next(), rng.next() as u32)),
        );
        let commit_time = 1_700_000_000 + rng.next() % 50_000_000;
        let commit_time = jiff::Timestamp::from_second(commit_time as i64)
            .map(|time| time.to_string())
            .unwrap_or_default();
        repo.extra.insert("last_commit_date".to_owned(), Value::from(commit_time));
        repo.extra.insert("size_kb".to_owned(), Value::from(rng.next() % 500_000));
        let subject = COMMIT_SUBJECTS[(rng.next() % COMMIT_SUBJECTS.len() as u64) as usize];
        repo.extra.insert("last_commit_message".to_owned(), Value::from(subject));
        repo.extra.insert(
            "last_commit_author".to_owned(),
            Value::from("Alice Example <alice@users.noreply.github.com>"),
        );
    }
    repo
}

/// A small, fast, seedable generator (splitmix64): enough for test data, not for secrets.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_report_and_other_seed_other_report() {
        assert_eq!(generate_report(200, 7), generate_report(200, 7));
        assert_ne!(generate_report(200, 7), generate_report(200, 8));
    }

    #[test]
    fn every_status_appears_and_summary_agrees() {
        let report = generate_report(6, 1);
        let summary = report.summary.clone().expect("generated reports have a summary");
        assert_eq!((summary.missing, summary.extra, summary.dirty, summary.clean), (1, 1, 1, 1));
        assert_eq!(summary.mismatched, Some(1));
        assert_eq!(summary.extra_counts.get("archived"), Some(&Value::from(1)));
        let findings = crate::validate(&report);
        let codes: Vec<&str> = findings.iter().map(|finding| finding.code.as_str()).collect();
        assert_eq!(codes, ["unknown-status"], "{findings:?}");
    }

    #[test]
    fn generated_repositories_never_contradict_their_status() {
        for seed in 0..20 {
            let report = generate_report(500, seed);
            let warnings: Vec<_> = crate::validate(&report)
                .into_iter()
                .filter(|finding| finding.severity == crate::Severity::Warning)
                .collect();
            assert!(warnings.is_empty(), "seed {seed}: {warnings:?}");
        }
    }

    #[test]
    fn names_are_unique_and_include_the_awkward_ones() {
        let report = generate_report(1_000, 3);
        let names: std::collections::HashSet<&str> =
            report.repos.iter().map(|repo| repo.name.as_str()).collect();
        assert_eq!(names.len(), 1_000);
        assert!(names.iter().any(|name| name.contains('/') && name.contains('~')));
        assert!(names.iter().any(|name| !name.is_ascii()));
    }

    #[test]
    fn size_is_about_half_a_kilobyte_per_repository() {
        let bytes = generate_report(1_000, 11).to_json_bytes().len();
        assert!((350_000..700_000).contains(&bytes), "1,000 repositories took {bytes} bytes");
    }
}
