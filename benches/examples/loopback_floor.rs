//! The loopback floor: what it costs the kernel alone to send one small message to N connected
//! loopback sockets, with the receivers in another process blocked in epoll as the load
//! generator's are. It separates the server's own per-client work from the kernel's.
//!
//!     cargo run --release -p gitops-benches --example loopback_floor -- --clients 10000
//!
//! The sender is one thread writing `--bytes` to each socket with a plain `write(2)` (or two
//! writes, `--split`, as a change and its health update were before they shared one send); the
//! receiver is this program again (`--receive`), one tokio task per socket reading into 1 KiB,
//! on `--threads` worker threads. Each round writes to every socket, waits until the receiver has
//! read everything, then pauses 50 ms. Printed: the sender thread's CPU time per send (from
//! `/proc/thread-self/schedstat`, nanoseconds) and the receiver process's CPU per message.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;

/// Sends one small buffer to N loopback sockets and reports the CPU time per send.
#[derive(Debug, Parser)]
struct Args {
    /// How many connected sockets.
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// Bytes per message (a one-repo change and its health update are ~560 B as frames).
    #[arg(long, default_value_t = 560)]
    bytes: usize,
    /// Rounds (one send to every socket each).
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    /// Send each message as two writes (376 B and the rest), as two frames sent apart.
    #[arg(long)]
    split: bool,
    /// Receiver worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Run as the receiver, connecting to this port (used by the sender itself).
    #[arg(long)]
    receive: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(port) = args.receive {
        return receive(port, args.clients, args.threads);
    }
    send(&args)
}

/// The calling thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> anyhow::Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    text.split_whitespace().next().context("schedstat is empty")?.parse().context("schedstat")
}

/// This process's user + system CPU time so far, in nanoseconds (clock ticks of 10 ms).
fn process_cpu_ns() -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').context("stat")?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks * 10_000_000)
}

fn send(args: &Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let exe = std::env::current_exe()?;
    let mut receiver = Command::new(exe)
        .args(["--receive", &port.to_string(), "--clients", &args.clients.to_string()])
        .args(["--threads", &args.threads.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut sockets = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let (socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        sockets.push(socket);
    }
    let mut lines = BufReader::new(receiver.stdout.take().context("receiver stdout")?).lines();
    let mut control = receiver.stdin.take().context("receiver stdin")?;
    let message = vec![b'x'; args.bytes];
    let (first, second) = message.split_at(376.min(args.bytes));
    let mut cpu = 0u64;
    let mut wall = Duration::ZERO;
    for round in 0..args.rounds {
        let started = Instant::now();
        let cpu_before = thread_cpu_ns()?;
        for socket in &mut sockets {
            if args.split {
                socket.write_all(first)?;
                socket.write_all(second)?;
            } else {
                socket.write_all(&message)?;
            }
        }
        cpu += thread_cpu_ns()? - cpu_before;
        // The receiver says when it has read every byte of this round.
        writeln!(control, "{}", (round + 1) * args.clients * args.bytes)?;
        let line = lines.next().context("receiver ended")??;
        if line != "ok" {
            bail!("receiver: {line}");
        }
        wall += started.elapsed();
        std::thread::sleep(Duration::from_millis(50));
    }
    writeln!(control, "stop")?;
    let receiver_cpu: f64 = lines.next().context("receiver cpu")??.parse()?;
    let _ = receiver.wait();
    let sends = (args.rounds * args.clients) as f64;
    println!(
        "clients {} bytes {} writes per message {} rounds {}: sender CPU {:.2} µs per message \
         ({:.1} ms per round), every socket read after {:.1} ms per round, receiver CPU {:.2} µs \
         per message",
        args.clients,
        args.bytes,
        if args.split { 2 } else { 1 },
        args.rounds,
        cpu as f64 / sends / 1e3,
        cpu as f64 / args.rounds as f64 / 1e6,
        wall.as_secs_f64() * 1e3 / args.rounds as f64,
        receiver_cpu / sends / 1e3,
    );
    Ok(())
}

fn receive(port: u16, clients: usize, threads: usize) -> anyhow::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    let received = Arc::new(AtomicUsize::new(0));
    runtime.block_on(async {
        for _ in 0..clients {
            let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            socket.set_nodelay(true)?;
            let received = received.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt as _;
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    received.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
        anyhow::Ok(())
    })?;
    let cpu_start = process_cpu_ns()?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let line = line?;
        if line == "stop" {
            break;
        }
        let target: usize = line.parse()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while received.load(Ordering::Relaxed) < target {
            if Instant::now() > deadline {
                writeln!(
                    out,
                    "timed out at {} of {target} bytes",
                    received.load(Ordering::Relaxed)
                )?;
                return Ok(());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        writeln!(out, "ok")?;
        out.flush()?;
    }
    writeln!(out, "{}", process_cpu_ns()? - cpu_start)?;
    out.flush()?;
    // The runtime's tasks are still reading; leave without waiting for them.
    runtime.shutdown_background();
    Ok(())
}
