//! `gitops-live watch` in a real pseudo-terminal (a tmux pane of its own server), against the
//! real server: the screen shows the report, follows a change, and `q` leaves the terminal as
//! it was.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::support::{ReportFile, Server, Style};

fn report(statuses: &[(&str, &str)]) -> Vec<u8> {
    let repos: Vec<serde_json::Value> = statuses
        .iter()
        .map(|(name, status)| serde_json::json!({ "name": name, "status": status }))
        .collect();
    serde_json::json!({ "repos": repos }).to_string().into_bytes()
}

/// A tmux server on a socket of its own, killed (by that socket) on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// `None` when tmux is not installed.
    fn available() -> Option<Tmux> {
        static N: AtomicU32 = AtomicU32::new(0);
        let version = Command::new("tmux").arg("-V").output().ok()?;
        if !version.status.success() {
            return None;
        }
        let n = N.fetch_add(1, Ordering::Relaxed);
        Some(Tmux { socket: format!("gitops-watch-test-{}-{n}", std::process::id()) })
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            // No user configuration; never the tmux the tests may be running in.
            .args(["-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs")
    }

    /// The pane's text.
    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "watch"]).stdout)
            .into_owned()
    }

    /// A pane variable, e.g. `pane_dead`.
    fn pane(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", "watch", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits (bounded) until the screen holds every fragment; panics with the screen otherwise.
    fn wait_for_screen(&self, fragments: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen();
            if fragments.iter().all(|f| screen.contains(f)) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{fragments:?} not on the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn watch_shows_the_report_follows_a_change_and_quits_cleanly() {
    let Some(tmux) = Tmux::available() else {
        eprintln!("SKIPPED watch_shows_the_report_follows_a_change_and_quits_cleanly: no tmux");
        return;
    };
    let initial =
        [("halo", "clean"), ("nova", "clean"), ("esphome", "dirty"), ("scratch", "extra")];
    let mut file = ReportFile::new(&report(&initial));
    let path = file.path_str();
    let server = Server::start(&["serve", "--report", &path]);
    let command = format!(
        "env GITOPS_CONFIG=none RUST_LOG=warn {} watch http://{}",
        env!("CARGO_BIN_EXE_gitops-live"),
        server.addr
    );
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "watch",
        "-x",
        "120",
        "-y",
        "40",
        &command,
        ";",
        "set-option",
        "-t",
        "watch",
        "remain-on-exit",
        "on",
    ]);
    assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));

    let screen = tmux.wait_for_screen(&[
        "● live",
        "health YELLOW",
        "4 repositories: 0 missing, 0 mismatched, 1 dirty, 1 extra, 2 clean",
        "dirty (1)",
        "esphome",
        "extra (1)",
        "scratch",
        "clean (2)",
        "halo  nova",
        "no changes seen yet",
    ]);
    assert_eq!(tmux.pane("#{alternate_on}"), "1", "the view is on the alternate screen");
    let lines: Vec<&str> = screen.lines().collect();
    let row = |text: &str| lines.iter().position(|l| l.contains(text)).expect(text);
    assert!(row("dirty (1)") < row("extra (1)") && row("extra (1)") < row("clean (2)"), "{screen}");

    // halo goes from clean to missing: the health turns red and the change is listed.
    let changed =
        [("halo", "missing"), ("nova", "clean"), ("esphome", "dirty"), ("scratch", "extra")];
    file.write(&report(&changed), Style::AtomicRename);
    let screen = tmux.wait_for_screen(&[
        "health RED",
        "4 repositories: 1 missing, 0 mismatched, 1 dirty, 1 extra, 1 clean",
        "missing (1)",
        "clean (1)",
        "halo clean → missing",
    ]);
    let lines: Vec<&str> = screen.lines().collect();
    let row = |text: &str| lines.iter().position(|l| l.contains(text)).expect(text);
    assert!(row("missing (1)") < row("dirty (1)"), "missing comes first:\n{screen}");
    assert!(!screen.contains("no changes seen yet"), "{screen}");

    // q quits: the process ends by itself, successfully, off the alternate screen.
    let sent = tmux.run(&["send-keys", "-t", "watch", "q"]);
    assert!(sent.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.pane("#{pane_dead}") != "1" {
        assert!(Instant::now() < deadline, "watch did not exit after q:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(tmux.pane("#{pane_dead_status}"), "0", "{}", tmux.screen());
    assert_eq!(tmux.pane("#{alternate_on}"), "0", "the alternate screen was left");
    assert!(!tmux.screen().contains("health RED"), "the view is gone from the screen");
}

#[test]
fn watch_without_a_terminal_points_to_status() {
    let output = Command::new(env!("CARGO_BIN_EXE_gitops-live"))
        .args(["watch", "http://127.0.0.1:9"])
        .env("GITOPS_CONFIG", "none")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs a terminal") && stderr.contains("gitops-live status"),
        "{stderr}"
    );
}
