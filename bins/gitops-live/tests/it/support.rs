//! Starting the real binary and talking to it over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `gitops-live` process, killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) addr: SocketAddr,
    /// The server's own state directory (unless the test gave one), gone with the server.
    _state: tempfile::TempDir,
}

impl Server {
    /// Starts `gitops-live <args> --bind 127.0.0.1:0` and waits for it to print its address.
    pub(crate) fn start(args: &[&str]) -> Server {
        Self::start_with_env(args, &[])
    }

    pub(crate) fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::spawn(args, env, Stdio::inherit()).0
    }

    /// Starts the server with its log (stderr) going to a pipe, as under systemd or `| tee`,
    /// and collected line by line.
    pub(crate) fn start_logging(args: &[&str], env: &[(&str, &str)]) -> (Server, Log) {
        let (server, stderr) = Self::spawn(args, env, Stdio::piped());
        let stderr = stderr.expect("piped stderr");
        let log = Log::default();
        let lines = log.lines.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut line = Vec::new();
            // Raw bytes, so escape codes reach the test exactly as written.
            while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
                lines.lock().unwrap().push(String::from_utf8_lossy(&line).into_owned());
                line.clear();
            }
        });
        (server, log)
    }

    fn spawn(
        args: &[&str],
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> (Server, Option<std::process::ChildStderr>) {
        let state = tempfile::tempdir().expect("a state directory");
        let mut command = Command::new(env!("CARGO_BIN_EXE_gitops-live"));
        command.args(args).args(["--bind", "127.0.0.1:0"]).env("RUST_LOG", "warn");
        // Each server its own log, so tests running side by side never share one.
        command.env("GITOPS_STATE_DIR", state.path());
        // No config file from the machine running the tests.
        command.env("GITOPS_CONFIG", "none");
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child =
            command.stdout(Stdio::piped()).stderr(stderr).spawn().expect("the binary starts");
        let stderr = child.stderr.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            assert!(Instant::now() < deadline, "the server did not print its address");
            let line = lines.next().expect("the server prints its address").expect("utf-8 output");
            if let Some(rest) = line.strip_prefix("gitops-live listening on http://") {
                break rest.trim_end_matches('/').parse().expect("a socket address");
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        (Server { child, addr, _state: state }, stderr)
    }

    /// Sends SIGINT, as Ctrl-C on a terminal does, and waits for the process to exit (bounded).
    pub(crate) fn interrupt(self, limit: Duration) -> std::process::ExitStatus {
        self.signal("-INT", limit)
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Sends SIGTERM and waits for the process to exit (bounded).
    pub(crate) fn terminate(self) -> std::process::ExitStatus {
        self.signal("-TERM", Duration::from_secs(10))
    }

    fn signal(mut self, signal: &str, limit: Duration) -> std::process::ExitStatus {
        let _ = Command::new("kill").args([signal, &self.child.id().to_string()]).status();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {limit:?} after {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a server logged so far.
#[derive(Debug, Default, Clone)]
pub(crate) struct Log {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Log {
    /// Waits (bounded) for a line that contains every one of `fragments`, and returns it.
    pub(crate) fn wait_for(&self, fragments: &[&str]) -> String {
        let found = |lines: &Vec<String>| {
            lines.iter().find(|line| fragments.iter().all(|f| line.contains(f))).cloned()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = found(&self.lines.lock().unwrap()) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {fragments:?}; the log:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything logged so far.
    pub(crate) fn text(&self) -> String {
        self.lines.lock().unwrap().concat()
    }
}

/// A minimal HTTP/1.1 response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Sends one request with `Connection: close` and reads the whole response.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    http_with_body(addr, method, path, headers, b"")
}

/// [`http`] with a request body.
pub(crate) fn http_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header end");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else { return out };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

/// Polls `check` every 20 ms until it returns `Some`, for at most `limit`.
pub(crate) fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "condition not met within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The ways producers write a report.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    /// Truncate and write the file itself.
    InPlace,
    /// Write a temporary file in the same folder and rename it over the report.
    AtomicRename,
    /// Write a new file under `audit-history/` and swap the `latest.json` symlink to it.
    SymlinkSwap,
}

/// A report location that can be written in every style: `dir/latest.json` is a symlink to a
/// file in `dir/audit-history/`.
pub(crate) struct ReportFile {
    pub(crate) dir: tempfile::TempDir,
    n: u64,
}

impl ReportFile {
    pub(crate) fn new(initial: &[u8]) -> ReportFile {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("audit-history")).expect("history dir");
        let mut file = ReportFile { dir, n: 0 };
        file.write(initial, Style::SymlinkSwap);
        file
    }

    pub(crate) fn path(&self) -> PathBuf {
        self.dir.path().join("latest.json")
    }

    pub(crate) fn path_str(&self) -> String {
        self.path().display().to_string()
    }

    fn target(&self) -> PathBuf {
        std::fs::canonicalize(self.path()).expect("latest.json resolves")
    }

    pub(crate) fn write(&mut self, bytes: &[u8], style: Style) {
        self.n += 1;
        match style {
            Style::InPlace => std::fs::write(self.target(), bytes).expect("write in place"),
            Style::AtomicRename => {
                let target = self.target();
                let temp = target.with_file_name(format!(".tmp-{}", self.n));
                std::fs::write(&temp, bytes).expect("write temp");
                std::fs::rename(&temp, &target).expect("rename");
            }
            Style::SymlinkSwap => {
                let name = format!("{:06}.json", self.n);
                std::fs::write(self.dir.path().join("audit-history").join(&name), bytes)
                    .expect("write history");
                let link = self.dir.path().join(format!(".latest-{}", self.n));
                std::os::unix::fs::symlink(Path::new("audit-history").join(&name), &link)
                    .expect("symlink");
                std::fs::rename(&link, self.path()).expect("swap");
            }
        }
    }
}

/// Runs `git` in `dir` with a fixed identity and no user or system configuration.
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

/// A TLS front for `backend` on a free port of 127.0.0.1 (as a reverse proxy with a homelab
/// certificate would be): its address, the certificate's PEM, and the runtime serving it.
pub(crate) fn tls_front(
    backend: std::net::SocketAddr,
) -> (std::net::SocketAddr, String, tokio::runtime::Runtime) {
    let key =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("certificate");
    let pem = key.cert.pem();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![key.cert.der().clone()], private)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut front) = acceptor.accept(stream).await else { return };
                let Ok(mut back) = tokio::net::TcpStream::connect(backend).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut front, &mut back).await;
            });
        }
    });
    (addr, pem, runtime)
}
