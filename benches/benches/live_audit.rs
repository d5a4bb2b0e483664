//! The live auditor's latency: a change inside a clone (a new untracked file, then `git commit`)
//! until a connected WebSocket client has the repository's new status, with no report file in
//! between. Runs the release binary: `cargo build --release -p gitops-live` first, or set
//! `GITOPS_LIVE_BIN`. Run with `cargo bench -p gitops-benches --bench live_audit`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitops_client::{Connection, LiveState};
use gitops_report::Status;

const ROUNDS: usize = 25;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing useful. Only measure
    // when asked to, so `cargo test` never runs this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let binary = std::env::var_os("GITOPS_LIVE_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"), PathBuf::from);
        target.join("release/gitops-live")
    });
    assert!(
        binary.exists(),
        "build the release binary first: cargo build --release -p gitops-live"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("git");
    let clone = root.join("alpha");
    std::fs::create_dir_all(&clone).expect("mkdir");
    git(&clone, &["init", "-q", "-b", "main"]);
    std::fs::write(clone.join("README.md"), "alpha\n").expect("write");
    std::fs::write(clone.join(".gitignore"), "target\n").expect("write");
    git(&clone, &["add", "."]);
    git(&clone, &["commit", "-q", "-m", "first"]);
    git(&clone, &["remote", "add", "origin", "https://github.com/alice/alpha.git"]);
    // 99 more clones, so each re-audit lists a realistic root.
    for i in 0..99 {
        let other = root.join(format!("repo-{i:02}"));
        std::fs::create_dir_all(&other).expect("mkdir");
        git(&other, &["init", "-q", "-b", "main"]);
    }
    let expected = dir.path().join("expected.txt");
    std::fs::write(&expected, "alice/alpha\n").expect("write");

    let mut child = Command::new(&binary)
        .args(["serve", "--bind", "127.0.0.1:0", "--audit-interval", "1h"])
        .arg("--report")
        .arg(dir.path().join("GitRepoReport.json"))
        .arg("--audit-root")
        .arg(&root)
        .arg("--audit-expected")
        .arg(&expected)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("the server prints its address").expect("utf-8");
        if let Some(rest) = line.strip_prefix("gitops-live listening on http://") {
            break rest.trim_end_matches('/').to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let (untracked, committed) = runtime.block_on(async {
        let mut connection =
            Connection::open(&format!("ws://{addr}/ws"), None, None).await.expect("connect");
        let mut state = LiveState::default();
        wait_for(&mut connection, &mut state, Status::Clean).await;
        let (mut untracked, mut committed) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let file = clone.join(format!("notes-{round}.txt"));
            std::fs::write(&file, "untracked\n").expect("write");
            let written = Instant::now();
            wait_for(&mut connection, &mut state, Status::Dirty).await;
            untracked.push(written.elapsed());

            git(&clone, &["add", "."]);
            git(&clone, &["commit", "-q", "-m", "notes"]);
            let commit_returned = Instant::now();
            wait_for(&mut connection, &mut state, Status::Clean).await;
            committed.push(commit_returned.elapsed());
        }
        (untracked, committed)
    });
    let _ = child.kill();
    let _ = child.wait();
    report("new untracked file written → client has `dirty`", untracked);
    report("`git commit` returned → client has `clean`", committed);
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.invalid")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.invalid")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

async fn wait_for(connection: &mut Connection, state: &mut LiveState, want: Status) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let now = state
            .report
            .as_ref()
            .and_then(|r| r.repos.iter().find(|r| r.name == "alpha"))
            .map(|r| &r.status);
        if now == Some(&want) {
            return;
        }
        let message = tokio::time::timeout_at(deadline, connection.recv())
            .await
            .expect("the change arrives within 20 s")
            .expect("healthy")
            .expect("open");
        state.apply(message).expect("applies");
    }
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}: n={} p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
        samples.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(1.0))
    );
}
