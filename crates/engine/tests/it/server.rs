//! A private redis-server for one test: on a free port, in a temporary directory, persistence
//! off, killed by PID when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

pub(crate) struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = tempfile::tempdir().expect("a temp dir");
        let mut server = Self { child: None, port, dir };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let child = Command::new("/usr/bin/redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts (Debian's /usr/bin/redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let client = redis::Client::open(self.url());
            if let Ok(mut con) = client.and_then(|c| c.get_connection())
                && redis::cmd("PING").query::<String>(&mut con).is_ok()
            {
                return;
            }
            assert!(Instant::now() < deadline, "redis-server did not answer within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn pid(&self) -> Pid {
        let child = self.child.as_ref().expect("running");
        Pid::from_raw(child.id() as i32).expect("a pid")
    }

    /// Kills the server and starts an empty one on the same port.
    pub(crate) fn restart_empty(&mut self) {
        self.kill();
        self.spawn();
    }

    /// SIGSTOP: the server keeps its sockets but answers nothing.
    pub(crate) fn pause(&self) {
        kill_process(self.pid(), Signal::STOP).expect("SIGSTOP");
    }

    pub(crate) fn resume(&self) {
        kill_process(self.pid(), Signal::CONT).expect("SIGCONT");
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32).expect("a pid");
            let _ = kill_process(pid, Signal::KILL);
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
