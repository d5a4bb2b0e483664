//! Real git repositories in temp dirs, made with the `git` CLI, and report rows naming them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use gitops_actions::{Actions, ActionsConfig, Identity, UrlPolicy};
use gitops_report::{Repo, Status};

/// Runs `git` in `dir` with a fixed identity and no user or system config, and panics on failure.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "protocol.file.allow=always",
            "-c",
            "core.fsmonitor=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A temp folder with `remotes/<owner>/<name>.git` bare repositories, a `root/` of clones, a
/// `state/trash` and an `outside/` folder that no action may touch.
pub(crate) struct Fixture {
    pub(crate) temp: tempfile::TempDir,
    pub(crate) root: PathBuf,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let temp = tempfile::tempdir().expect("temp dir");
        let temp_path = std::fs::canonicalize(temp.path()).expect("canonical temp");
        let root = temp_path.join("root");
        for folder in ["root", "remotes", "state", "outside"] {
            std::fs::create_dir_all(temp_path.join(folder)).expect("folder");
        }
        Self { temp, root }
    }

    pub(crate) fn path(&self) -> PathBuf {
        std::fs::canonicalize(self.temp.path()).expect("canonical temp")
    }

    pub(crate) fn remotes(&self) -> PathBuf {
        self.path().join("remotes")
    }

    pub(crate) fn trash(&self) -> PathBuf {
        self.path().join("state/trash")
    }

    pub(crate) fn outside(&self) -> PathBuf {
        self.path().join("outside")
    }

    /// The path of `owner/name`'s bare "remote".
    pub(crate) fn remote_path(&self, owner: &str, name: &str) -> PathBuf {
        self.remotes().join(owner).join(format!("{name}.git"))
    }

    /// Creates `owner/name` as a bare repository with one commit (README.md and .gitignore).
    pub(crate) fn make_remote(&self, owner: &str, name: &str) -> PathBuf {
        let remote = self.remote_path(owner, name);
        std::fs::create_dir_all(&remote).expect("remote dir");
        git(&remote, &["init", "--bare", "--quiet"]);
        let seed = self.path().join(format!("seed-{owner}-{name}"));
        std::fs::create_dir_all(&seed).expect("seed dir");
        git(&seed, &["init", "--quiet"]);
        std::fs::write(seed.join("README.md"), "# hello\n").expect("readme");
        std::fs::write(seed.join(".gitignore"), "target/\n").expect("gitignore");
        git(&seed, &["add", "."]);
        git(&seed, &["commit", "--quiet", "-m", "first"]);
        git(&seed, &["push", "--quiet", remote.to_str().expect("utf-8 path"), "main"]);
        remote
    }

    /// Clones `owner/name` into `root/<folder>` and returns the clone's path.
    pub(crate) fn clone(&self, owner: &str, name: &str, folder: &str) -> PathBuf {
        let remote = self.remote_path(owner, name);
        if !remote.exists() {
            self.make_remote(owner, name);
        }
        git(&self.root, &["clone", "--quiet", "--", remote.to_str().expect("utf-8 path"), folder]);
        self.root.join(folder)
    }

    /// The actions on this root, with local remotes allowed and a fixed author.
    pub(crate) fn actions(&self) -> Actions {
        self.actions_with(|_| {})
    }

    pub(crate) fn actions_with(&self, change: impl FnOnce(&mut ActionsConfig)) -> Actions {
        let mut config = ActionsConfig::new(&self.root, self.trash());
        config.url_policy = UrlPolicy { file_roots: vec![self.remotes()], allow_http: false };
        config.author =
            Some(Identity { name: "Operator".into(), email: "operator@example.invalid".into() });
        config.network_timeout = Duration::from_secs(120);
        change(&mut config);
        Actions::new(config).expect("actions")
    }

    /// The row the auditor writes for a folder of the root.
    pub(crate) fn row(&self, folder: &str, status: Status) -> Repo {
        Repo {
            name: folder.to_owned(),
            status,
            local_path: Some(self.root.join(folder).to_string_lossy().into_owned()),
            ..Repo::default()
        }
    }
}

/// A row for a missing repository with this clone URL.
pub(crate) fn missing_row(name: &str, clone_url: &str) -> Repo {
    Repo {
        name: name.to_owned(),
        status: Status::Missing,
        clone_url: Some(clone_url.to_owned()),
        ..Repo::default()
    }
}

/// Every file under `dir` (relative path → content), `.git` left out, links as `-> target`.
pub(crate) fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).expect("read dir") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(dir).expect("inside").to_string_lossy().into_owned();
            if relative == ".git" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).expect("meta");
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).expect("link");
                files.insert(relative, format!("-> {}", target.display()).into_bytes());
            } else if meta.is_dir() {
                files.insert(format!("{relative}/"), Vec::new());
                stack.push(path);
            } else {
                files.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

/// Every path (files and folders) under `dir`, recursively, `.git` included: to prove a test
/// left nothing behind or created nothing.
pub(crate) fn all_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        let Ok(read) = std::fs::read_dir(&folder) else { continue };
        for entry in read {
            let path = entry.expect("entry").path();
            if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.is_dir()) {
                stack.push(path.clone());
            }
            paths.push(path);
        }
    }
    paths.sort();
    paths
}

/// A TCP server on 127.0.0.1 that accepts connections and never answers: a git server that hangs.
pub(crate) struct SilentServer {
    pub(crate) port: u16,
    accepted: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentServer {
    pub(crate) fn start() -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("address").port();
        let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                // Bounded: stopped by the test, and never longer than five minutes.
                let end = std::time::Instant::now() + Duration::from_secs(300);
                while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < end {
                    match listener.accept() {
                        Ok((stream, _)) => accepted.lock().expect("lock").push(stream),
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Self { port, accepted, stop, thread: Some(thread) }
    }

    pub(crate) fn n_accepted(&self) -> usize {
        self.accepted.lock().expect("lock").len()
    }

    /// Waits (bounded) until every accepted connection is closed by its client; false if one
    /// is still open at the deadline.
    pub(crate) fn peers_closed(&self, within: Duration) -> bool {
        use std::io::Read;
        let deadline = std::time::Instant::now() + within;
        let streams = self.accepted.lock().expect("lock");
        for mut stream in streams.iter() {
            stream.set_nonblocking(false).expect("blocking");
            stream.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
            let mut buffer = [0u8; 4096];
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(error)
                        if matches!(
                            error.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
                if std::time::Instant::now() >= deadline {
                    return false;
                }
            }
        }
        true
    }

    /// Closes every accepted connection, so a client waiting on it fails.
    pub(crate) fn hang_up(&self) {
        for stream in self.accepted.lock().expect("lock").drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.hang_up();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs `work` on a thread and waits for it at most `within`, so a hang fails the test instead
/// of stalling it.
pub(crate) fn bounded<T: Send + 'static>(
    within: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(work());
    });
    receiver.recv_timeout(within).expect("the action finished within the bound")
}
