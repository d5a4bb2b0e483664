//! In-place writes by real writer processes, read when the writer closes the file: each close
//! of a complete write is one emission of the whole file, without waiting out the debounce;
//! a file another process still has open waits.
//!
//! Several tests here set a debounce of an hour: a read that still waited for it would never
//! come within the test's wait, so "emitted at all" shows the close was enough, and no timing
//! is asserted. Those start with the file missing (a first read of a file younger than the
//! debounce would wait for it too), so their writers create the file; the tests with the
//! default debounce truncate an existing one.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use gitops_watch::WatchConfig;

use crate::support::{
    OnTheWay, Scene, config, expect_bytes, expect_no_event, start_watching, version,
};

/// A report of about 490 KB, as the 1,000-repository report is: writers write it in many
/// pieces (`cat` 128 KiB, `tee` and Python 8 KiB).
fn large(n: usize) -> Vec<u8> {
    format!("{{\"version\":{n},\"pad\":\"{}\"}}\n", "x".repeat(490 * 1024)).into_bytes()
}

/// A debounce no test waits out.
fn close_only(path: &Path) -> WatchConfig {
    WatchConfig { debounce: Duration::from_secs(3600), ..config(path) }
}

fn run(command: &mut Command) {
    let status = command.status().unwrap();
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The writers real producers use, each copying `source` over `report` in place.
fn writers(source: &Path, report: &Path) -> Vec<(&'static str, Command)> {
    let mut cp = Command::new("cp");
    cp.arg(source).arg(report);
    let mut shell = Command::new("sh");
    shell.args(["-c", "cat \"$1\" > \"$2\"", "sh"]).arg(source).arg(report);
    let mut tee = Command::new("sh");
    tee.args(["-c", "tee \"$2\" < \"$1\" > /dev/null", "sh"]).arg(source).arg(report);
    let mut python = Command::new("python3");
    python
        .args([
            "-c",
            "import sys\n\
             text = open(sys.argv[1]).read()\n\
             f = open(sys.argv[2], 'w')\n\
             for i in range(0, len(text), 1000):\n    f.write(text[i:i + 1000])\n\
             f.close()\n",
        ])
        .arg(source)
        .arg(report);
    let mut all = vec![("cp", cp), ("shell >", shell), ("tee", tee)];
    match Command::new("python3").args(["-c", "pass"]).status() {
        Ok(status) if status.success() => all.push(("python", python)),
        _ => eprintln!("python3 is not here: its writer is left out"),
    }
    all
}

/// Each writer's close is one emission of the complete file, although the debounce is an hour:
/// the close ends the write. Nothing else is emitted.
#[tokio::test]
async fn a_real_writers_close_is_read_without_the_debounce_as_one_whole_emission() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let source = scene.path("next.json");
    let names: Vec<&str> = writers(&source, &report).into_iter().map(|(name, _)| name).collect();
    for (n, name) in names.iter().enumerate() {
        // A watch per writer: a close within a debounce of the last such read waits for the
        // rest of it, and this debounce is an hour.
        let _ = std::fs::remove_file(&report);
        let mut watcher = start_watching(close_only(&report), None).await;
        std::fs::write(&source, large(n)).unwrap();
        let (_, mut writer) = writers(&source, &report).into_iter().nth(n).unwrap();
        run(&mut writer);
        eprintln!("{name}: written");
        expect_bytes(&mut watcher, &large(n), &[], OnTheWay::Nothing).await;
        expect_no_event(&mut watcher, Duration::from_millis(300)).await;
    }
}

/// The same writers truncating an existing file in turn (default debounce): every write is
/// emitted once, whole, in order.
#[tokio::test]
async fn real_writers_truncating_the_file_are_each_emitted_once_and_whole() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let source = scene.path("next.json");
    std::fs::write(&report, large(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&large(0))).await;
    let n_writers = writers(&source, &report).len();
    for round in 0..3 {
        for n in 0..n_writers {
            let version = 1 + round * n_writers + n;
            std::fs::write(&source, large(version)).unwrap();
            let (_, mut writer) = writers(&source, &report).into_iter().nth(n).unwrap();
            run(&mut writer);
            expect_bytes(&mut watcher, &large(version), &[], OnTheWay::Nothing).await;
        }
    }
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

/// A process that has the file open and has not closed it makes another writer's close not
/// the end: here the test holds the file open after writing it, `cp` rewrites it, and only the
/// test's own close, which ends the last write, is read (the debounce is an hour).
#[tokio::test]
async fn a_close_while_another_writer_has_the_file_open_is_not_read_until_it_closes() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    let source = scene.path("next.json");
    std::fs::write(&source, large(2)).unwrap();
    let mut watcher = start_watching(close_only(&report), None).await;

    let mut held = std::fs::File::create(&report).unwrap();
    held.write_all(&large(1)).unwrap();
    run(Command::new("cp").arg(&source).arg(&report));
    expect_no_event(&mut watcher, Duration::from_millis(500)).await;
    drop(held);
    expect_bytes(&mut watcher, &large(2), &[], OnTheWay::Nothing).await;
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

/// A writer that keeps the file open and writes in pieces with pauses far longer than the
/// debounce, while another process reads the file: nothing is emitted before the writer
/// closes, then the whole file once.
#[tokio::test]
async fn a_file_still_being_written_is_never_emitted_half_written() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, large(0)).unwrap();
    let mut watcher = start_watching(config(&report), Some(&large(0))).await;
    let whole = large(1);
    let mut file = std::fs::File::create(&report).unwrap();
    for piece in whole.chunks(whole.len() / 4 + 1) {
        file.write_all(piece).unwrap();
        run(Command::new("sh").args(["-c", "cat \"$1\" > /dev/null", "sh"]).arg(&report));
        expect_no_event(&mut watcher, Duration::from_millis(100)).await;
    }
    drop(file);
    expect_bytes(&mut watcher, &whole, &[], OnTheWay::Nothing).await;
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

/// `O_APPEND` loggers (`>>`): every append is a complete file, each one emitted once, in order.
#[tokio::test]
async fn appends_are_each_emitted_whole_and_in_order() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, "line 0\n").unwrap();
    let mut watcher = start_watching(config(&report), Some(b"line 0\n")).await;
    let mut expected = String::from("line 0\n");
    for n in 1..6 {
        run(Command::new("sh")
            .args(["-c", "echo \"line $1\" >> \"$2\"", "sh"])
            .arg(n.to_string())
            .arg(&report));
        expected.push_str(&format!("line {n}\n"));
        expect_bytes(&mut watcher, expected.as_bytes(), &[], OnTheWay::Nothing).await;
    }
    expect_no_event(&mut watcher, Duration::from_millis(300)).await;
}

/// A close that empties the file (`: > report`) is still held back as a write that has begun,
/// then emitted as empty; the next writer's close is read as usual.
#[tokio::test]
async fn a_file_emptied_by_a_writer_is_emitted_empty_then_the_next_write() {
    let scene = Scene::new();
    let report = scene.path("GitRepoReport.json");
    std::fs::write(&report, version(0)).unwrap();
    let config = WatchConfig { max_write_wait: Duration::from_millis(200), ..config(&report) };
    let mut watcher = start_watching(config, Some(&version(0))).await;
    run(Command::new("sh").args(["-c", ": > \"$1\"", "sh"]).arg(&report));
    expect_bytes(&mut watcher, b"", &[], OnTheWay::Nothing).await;
    std::fs::write(scene.path("next.json"), version(1)).unwrap();
    run(Command::new("cp").arg(scene.path("next.json")).arg(&report));
    expect_bytes(&mut watcher, &version(1), &[], OnTheWay::Nothing).await;
}
