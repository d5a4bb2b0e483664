//! Running the `git` program for the network actions (clone, push, pull): an argument vector, no
//! shell, no prompts, a hardened configuration, and a deadline after which git and everything it
//! started are killed.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::url::redact_text;

/// Output kept per stream; the rest is counted and dropped.
const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// How often a running git is checked on.
const POLL: Duration = Duration::from_millis(20);

/// How long the output readers are waited for once git has ended (a grandchild that escaped the
/// process group could keep a pipe open forever).
const READER_GRACE: Duration = Duration::from_secs(2);

/// Configuration given on every git command line; `-c` outranks every config file, the
/// repository's own included.
const HARDENING: [&str; 10] = [
    // Never run `ext::` or `fd::` remote helpers, whatever a config file says.
    "protocol.ext.allow=never",
    "protocol.fd.allow=never",
    // No hooks: a hook is a program from the repository's folder.
    "core.hooksPath=/dev/null",
    // No filesystem monitor: `core.fsmonitor` in a repository's config is a command.
    "core.fsmonitor=false",
    // No password programs; with GIT_TERMINAL_PROMPT=0 a missing credential is an error.
    "core.askPass=",
    "credential.interactive=false",
    // Submodules are not fetched: their URLs are not checked by the policy.
    "submodule.recurse=false",
    // Nothing opens an editor.
    "core.editor=false",
    // No background maintenance detached from the process group (it would outlive a timeout).
    "maintenance.auto=false",
    "gc.auto=0",
];

/// Variables that would point git at another repository, inject configuration or run programs.
const REMOVED_ENV: [&str; 16] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_EXTERNAL_DIFF",
    "GIT_PAGER",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PROTOCOL_FROM_USER",
    "SSH_ASKPASS",
];

/// One git invocation.
#[derive(Debug)]
pub(crate) struct GitCommand<'a> {
    /// The git program.
    pub(crate) program: &'a Path,
    /// Where git runs.
    pub(crate) cwd: &'a Path,
    /// The folder git must not look above for a repository (the audit root).
    pub(crate) ceiling: &'a Path,
    /// Arguments after the hardening options; every path and URL after a `--`.
    pub(crate) args: Vec<OsString>,
    /// `GIT_ALLOW_PROTOCOL`.
    pub(crate) protocols: String,
    /// Killed after this long.
    pub(crate) timeout: Duration,
    /// What is being done, for errors.
    pub(crate) operation: &'static str,
}

/// Runs `command`: its combined output (stdout then stderr, credentials redacted) on success,
/// [`Error::GitFailed`] on a failing exit, [`Error::TimedOut`] once killed at the deadline.
pub(crate) fn run(command: &GitCommand<'_>) -> Result<String> {
    let mut git = Command::new(command.program);
    for option in HARDENING {
        git.arg("-c").arg(option);
    }
    git.args(&command.args).current_dir(command.cwd);
    for name in REMOVED_ENV {
        git.env_remove(name);
    }
    git.env("GIT_TERMINAL_PROMPT", "0")
        // Set and empty: git then runs no askpass program at all (unset would fall back to
        // SSH_ASKPASS).
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS_REQUIRE", "never")
        .env("GIT_ALLOW_PROTOCOL", &command.protocols)
        .env("GIT_CEILING_DIRECTORIES", command.ceiling)
        .env("GIT_MERGE_AUTOEDIT", "no")
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a timeout kills git-remote-https or ssh with it, and so
    // that nothing it starts can read the server's terminal.
    std::os::unix::process::CommandExt::process_group(&mut git, 0);

    let mut child = git
        .spawn()
        .map_err(|cause| Error::Spawn { program: PathBuf::from(command.program), cause })?;
    let readers = [
        child.stdout.take().map(|stream| read_capped(Box::new(stream))),
        child.stderr.take().map(|stream| read_capped(Box::new(stream))),
    ];

    let deadline = Instant::now() + command.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(cause) => {
                return Err(Error::Spawn { program: PathBuf::from(command.program), cause });
            }
        }
        let now = Instant::now();
        if now >= deadline {
            // git has not been reaped (try_wait said it runs), so its process group id is still
            // its own and cannot name anyone else's processes.
            let group = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(POLL.min(deadline - now));
    };

    let mut output = String::new();
    for reader in readers.into_iter().flatten() {
        match reader.recv_timeout(READER_GRACE) {
            Ok(text) => output.push_str(&text),
            Err(_) => output.push_str("[output incomplete: a process git started kept it open]\n"),
        }
    }
    let output = redact_text(output.trim_end());
    match status {
        None => {
            Err(Error::TimedOut { operation: command.operation, after: command.timeout, output })
        }
        Some(status) if status.success() => Ok(output),
        Some(status) => {
            Err(Error::GitFailed { operation: command.operation, code: status.code(), output })
        }
    }
}

/// Reads a stream to its end on a thread, keeping the first [`MAX_OUTPUT_BYTES`].
fn read_capped(mut stream: Box<dyn Read + Send>) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut dropped = 0usize;
        let mut buffer = [0u8; 8192];
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = MAX_OUTPUT_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&buffer[..n.min(room)]);
                    dropped += n.saturating_sub(room);
                }
            }
        }
        let mut text = String::from_utf8_lossy(&kept).into_owned();
        if dropped > 0 {
            text.push_str(&format!("\n[{dropped} more bytes of output not kept]\n"));
        }
        let _ = sender.send(text);
    });
    receiver
}
