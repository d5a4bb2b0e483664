//! `gitops-live watch` in a real pseudo-terminal (a tmux pane of its own server), against the
//! real server: the screen shows the report, follows a change, and `q` leaves the terminal as
//! it was.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::{ReportFile, Server, Style};

fn report(statuses: &[(&str, &str)]) -> Vec<u8> {
    let repos: Vec<serde_json::Value> = statuses
        .iter()
        .map(|(name, status)| serde_json::json!({ "name": name, "status": status }))
        .collect();
    serde_json::json!({ "repos": repos }).to_string().into_bytes()
}

/// A tmux server on a socket of its own (in a temporary folder), killed through that socket on
/// drop.
struct Tmux {
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// `None` when tmux is not installed.
    fn available() -> Option<Tmux> {
        let version = Command::new("tmux").arg("-V").output().ok()?;
        if !version.status.success() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        Some(Tmux { socket: dir.path().join("tmux.sock"), _dir: dir })
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            // No user configuration; never the tmux the tests may be running in.
            .args(["-f", "/dev/null", "-S"])
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("tmux runs")
    }

    /// Starts `gitops-live watch <args>` in a 120 × 40 session named `name`, kept on screen
    /// after the process ends so its exit can be read.
    fn start_watch(&self, name: &str, args: &[&str]) {
        // The exit status goes to a file: tmux 3.3 sometimes leaves `pane_dead_status` empty.
        let command = format!(
            "env GITOPS_CONFIG=none RUST_LOG=warn {} watch {}; echo $? > {}",
            env!("CARGO_BIN_EXE_gitops-live"),
            args.join(" "),
            self.status_file(name).display()
        );
        let started = self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            &command,
            ";",
            "set-option",
            "-t",
            name,
            "remain-on-exit",
            "on",
        ]);
        assert!(started.status.success(), "tmux: {}", String::from_utf8_lossy(&started.stderr));
    }

    /// Where session `name`'s command writes its exit status.
    fn status_file(&self, name: &str) -> std::path::PathBuf {
        self._dir.path().join(format!("{name}.status"))
    }

    /// The text on session `name`'s screen.
    fn screen(&self, name: &str) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", name]).stdout).into_owned()
    }

    /// A pane variable of session `name`, e.g. `pane_dead`.
    fn pane(&self, name: &str, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", name, format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits (bounded) until the screen holds every fragment; panics with the screen otherwise.
    fn wait_for_screen(&self, name: &str, fragments: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let screen = self.screen(name);
            if fragments.iter().all(|f| screen.contains(f)) {
                return screen;
            }
            assert!(Instant::now() < deadline, "{fragments:?} not on the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `key` and waits (bounded) for the process to exit; returns its exit status.
    fn quit_with(&self, name: &str, key: &str) -> String {
        let sent = self.run(&["send-keys", "-t", name, key]);
        assert!(sent.status.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(status) = std::fs::read_to_string(self.status_file(name))
                && !status.trim().is_empty()
            {
                return status.trim().to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "watch did not exit after {key}:\n{}",
                self.screen(name)
            );
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
        panic!("tmux is missing: .ci/run installs it (apt-get install tmux)");
    };
    let initial =
        [("halo", "clean"), ("nova", "clean"), ("esphome", "dirty"), ("scratch", "extra")];
    let mut file = ReportFile::new(&report(&initial));
    let path = file.path_str();
    let server = Server::start(&["serve", "--report", &path]);
    tmux.start_watch("watch", &[&format!("http://{}", server.addr)]);

    let screen = tmux.wait_for_screen(
        "watch",
        &[
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
        ],
    );
    assert_eq!(tmux.pane("watch", "#{alternate_on}"), "1", "the view is on the alternate screen");
    let lines: Vec<&str> = screen.lines().collect();
    let row = |text: &str| lines.iter().position(|l| l.contains(text)).expect(text);
    assert!(row("dirty (1)") < row("extra (1)") && row("extra (1)") < row("clean (2)"), "{screen}");

    // halo goes from clean to missing: the health turns red and the change is listed.
    let changed =
        [("halo", "missing"), ("nova", "clean"), ("esphome", "dirty"), ("scratch", "extra")];
    file.write(&report(&changed), Style::AtomicRename);
    let screen = tmux.wait_for_screen(
        "watch",
        &[
            "health RED",
            "4 repositories: 1 missing, 0 mismatched, 1 dirty, 1 extra, 1 clean",
            "missing (1)",
            "clean (1)",
            "halo clean → missing",
        ],
    );
    let lines: Vec<&str> = screen.lines().collect();
    let row = |text: &str| lines.iter().position(|l| l.contains(text)).expect(text);
    assert!(row("missing (1)") < row("dirty (1)"), "missing comes first:\n{screen}");
    assert!(!screen.contains("no changes seen yet"), "{screen}");

    // q quits: the process ends by itself, successfully, off the alternate screen.
    assert_eq!(tmux.quit_with("watch", "q"), "0", "{}", tmux.screen("watch"));
    assert_eq!(tmux.pane("watch", "#{alternate_on}"), "0", "the alternate screen was left");
    assert!(!tmux.screen("watch").contains("health RED"), "the view is gone from the screen");
}

#[test]
fn watch_says_when_the_server_wants_a_viewer_token_and_signs_in_with_one() {
    let Some(tmux) = Tmux::available() else {
        panic!("tmux is missing: .ci/run installs it (apt-get install tmux)");
    };
    let file = ReportFile::new(&report(&[("halo", "clean"), ("nova", "missing")]));
    let path = file.path_str();
    let dir = tempfile::tempdir().expect("temp dir");
    let viewer = dir.path().join("viewer");
    std::fs::write(&viewer, "viewer-token-0123456789ab\n").expect("write");
    let viewer = viewer.display().to_string();
    let server = Server::start(&["serve", "--report", &path, "--viewer-token-file", &viewer]);
    let url = format!("http://{}", server.addr);

    tmux.start_watch("anonymous", &[&url]);
    let screen = tmux.wait_for_screen("anonymous", &["● not signed in", "401"]);
    assert!(screen.contains("waiting for the first report"), "{screen}");
    assert!(!screen.contains("nova"), "nothing of the report without the token:\n{screen}");

    tmux.start_watch("signed-in", &[&url, "--viewer-token-file", &viewer]);
    tmux.wait_for_screen(
        "signed-in",
        &["● live", "health RED", "2 repositories: 1 missing", "missing (1)", "nova"],
    );
    assert_eq!(tmux.quit_with("signed-in", "Escape"), "0");
    assert_eq!(tmux.quit_with("anonymous", "C-c"), "0", "Ctrl-C quits while reconnecting");
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
