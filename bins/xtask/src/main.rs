//! Project automation that plain cargo cannot do: build the dashboard, run every check, run the
//! browser tests and the end-to-end bench. Run as `cargo xtask <command>`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  demo        build the dashboard if needed, then run `gitops-live demo` (release build)
  dashboard   install the dashboard's npm packages and build it into dashboard/dist
  ci          every check: rustfmt, clippy, Rust tests, docs, generated types, dashboard
              typecheck + ESLint + unit tests + build, browser tests against the release
              binary, WebSocket conformance (Autobahn)
  e2e         the browser tests only (builds what they need)
  conformance the Autobahn WebSocket suite against the echo route
  types       regenerate dashboard/src/types/generated/protocol.ts from the Rust types
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(&args[1..]),
        Some("dashboard") => dashboard(),
        Some("ci") => ci(),
        Some("e2e") => e2e(),
        Some("conformance") => conformance(),
        Some("types") => types(),
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// Runs a command in `dir`, echoing it, failing on a non-zero exit.
fn run(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    run_with(dir, program, args, &[])
}

/// [`run`] with environment variables set for the command.
fn run_with(
    dir: &Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &std::ffi::OsStr)],
) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    eprintln!("  ({:.1} s)", started.elapsed().as_secs_f64());
    Ok(())
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    run(&root(), env!("CARGO"), args)
}

fn have(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// Installs the dashboard's packages (from the lock file) when they are missing or stale.
fn npm_install(dashboard: &Path) -> anyhow::Result<()> {
    let lock = dashboard.join("package-lock.json");
    let marker = dashboard.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&marker)) {
        (Ok(lock), Ok(marker)) => marker.modified()? >= lock.modified()?,
        _ => false,
    };
    if !fresh {
        run(dashboard, "npm", &["ci", "--no-audit", "--no-fund"])?;
    }
    Ok(())
}

fn dashboard() -> anyhow::Result<()> {
    if !have("npm") {
        bail!("npm is needed to build the dashboard (apt-get install nodejs npm)");
    }
    let dir = root().join("dashboard");
    npm_install(&dir)?;
    run(&dir, "npm", &["run", "build"])
}

/// Whether `dashboard/dist` is older than any dashboard source.
fn dashboard_stale(root: &Path) -> bool {
    let Ok(built) =
        std::fs::metadata(root.join("dashboard/dist/index.html")).and_then(|m| m.modified())
    else {
        return true;
    };
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for path in
        ["src", "index.html", "package.json", "package-lock.json", "vite.config.ts", "public"]
    {
        newest = newest.max(newest_in(&root.join("dashboard").join(path)));
    }
    newest > built
}

fn newest_in(path: &Path) -> std::time::SystemTime {
    let Ok(meta) = std::fs::metadata(path) else { return std::time::SystemTime::UNIX_EPOCH };
    let mut newest = meta.modified().unwrap_or(std::time::SystemTime::UNIX_EPOCH);
    if meta.is_dir()
        && let Ok(entries) = std::fs::read_dir(path)
    {
        for entry in entries.flatten() {
            newest = newest.max(newest_in(&entry.path()));
        }
    }
    newest
}

fn demo(extra: &[String]) -> anyhow::Result<()> {
    let root = root();
    if dashboard_stale(&root) {
        if have("npm") {
            dashboard()?;
        } else {
            eprintln!(
                "xtask: npm not found; the demo will serve a page explaining how to build the dashboard"
            );
        }
    }
    eprintln!(
        "xtask: building gitops-live (release); the first build takes a few minutes, later ones seconds"
    );
    cargo(&demo_args(extra))
}

/// The cargo command line of `cargo xtask demo`. Not `--quiet`: the first release build takes
/// minutes, and cargo's progress is what says it is not stuck.
fn demo_args(extra: &[String]) -> Vec<&str> {
    let mut args = vec!["run", "--release", "--package", "gitops-live", "--", "demo"];
    args.extend(extra.iter().map(String::as_str));
    args
}

/// Where cargo puts what it builds, as cargo itself resolves it: `CARGO_TARGET_DIR`, the
/// `build.target-dir` setting, or `target/` in the workspace.
fn target_dir() -> anyhow::Result<PathBuf> {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .current_dir(root())
        .output()
        .context("starting cargo metadata")?;
    if !output.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).context("reading cargo metadata")?;
    let dir = metadata["target_directory"]
        .as_str()
        .context("cargo metadata names no target_directory")?;
    Ok(PathBuf::from(dir))
}

/// Where the dashboard's generated protocol types live, relative to the workspace root.
const GENERATED_TYPES: &str = "dashboard/src/types/generated/protocol.ts";

fn types() -> anyhow::Result<()> {
    generate_types(&root().join(GENERATED_TYPES))
}

/// Writes the TypeScript declarations the Rust protocol crate renders to `path`.
fn generate_types(path: &Path) -> anyhow::Result<()> {
    let path = path.display().to_string();
    cargo(&[
        "run",
        "--quiet",
        "--package",
        "gitops-protocol",
        "--example",
        "generate-ts",
        "--",
        &path,
    ])
}

fn e2e() -> anyhow::Result<()> {
    if let Some(missing) = missing_chromium() {
        bail!("missing prerequisite: {missing}");
    }
    let root = root();
    dashboard()?;
    cargo(&["build", "--release", "--package", "gitops-live"])?;
    let binary = target_dir()?.join("release/gitops-live");
    let dir = root.join("dashboard");
    let status = Command::new("npm")
        .args(["run", "e2e"])
        .current_dir(&dir)
        .env("GITOPS_LIVE_BIN", &binary)
        .status()
        .context("starting npm run e2e")?;
    if !status.success() {
        bail!("browser tests failed ({status})");
    }
    Ok(())
}

fn conformance() -> anyhow::Result<()> {
    let tools = python_tools(&target_dir()?)?;
    // The test runs `kosoku` by name: the project's virtualenv comes first on the PATH.
    let path = path_with(&tools, std::env::var_os("PATH").as_deref())?;
    run_with(
        &root(),
        env!("CARGO"),
        &[
            "test",
            "--package",
            "gitops-transport",
            "--features",
            "conformance",
            "--test",
            "it",
            "conformance",
        ],
        &[("PATH", &path)],
    )
}

/// The Python packages the project's tests use, in a virtualenv the project owns under the
/// target folder (never the system's Python: Debian's and Ubuntu's refuse `pip install`, and
/// it is not ours to change). Made on first use; returns its `bin` folder.
fn python_tools(target: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(target);
    let bin = venv.join("bin");
    if bin.join("kosoku").exists() {
        return Ok(bin);
    }
    if !bin.join("python").exists() {
        let venv_text = venv.display().to_string();
        run(&root(), "python3", &["-m", "venv", &venv_text]).context(
            "cannot make a Python virtualenv: install Python 3 with its venv module \
             (Debian/Ubuntu: apt-get install python3-venv)",
        )?;
    }
    // The Autobahn WebSocket suite, packaged for Python.
    let python = bin.join("python").display().to_string();
    run(
        &root(),
        &python,
        &["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "kosoku"],
    )
    .context("cannot install kosoku (the Autobahn suite) into the project's virtualenv")?;
    Ok(bin)
}

/// The project's virtualenv: `<target>/python-venv`.
fn venv_dir(target: &Path) -> PathBuf {
    target.join("python-venv")
}

/// `PATH` with `first` in front of `path`.
fn path_with(first: &Path, path: Option<&std::ffi::OsStr>) -> anyhow::Result<std::ffi::OsString> {
    let mut paths = vec![first.to_path_buf()];
    if let Some(path) = path {
        paths.extend(std::env::split_paths(path));
    }
    std::env::join_paths(paths).context("a PATH entry holds the path separator")
}

/// What `ci` needs besides Rust, checked up front so a missing one fails in seconds with what to
/// install, not minutes into the run.
fn prerequisites() -> anyhow::Result<()> {
    let mut missing = Vec::new();
    match node_version() {
        Some(version) if node_supported(version) => {}
        Some((major, minor)) => missing.push(format!(
            "Node.js 20.19+ or 22.12+ (found {major}.{minor}): https://nodejs.org or your distribution's nodejs"
        )),
        None => missing.push("Node.js 20.19+ and npm (Debian/Ubuntu: apt-get install nodejs npm)".to_owned()),
    }
    if !have("npm") && node_version().is_some() {
        missing.push("npm (Debian/Ubuntu: apt-get install npm)".to_owned());
    }
    missing.extend(missing_chromium());
    // Each answers its own version flag (tmux has no --version).
    for (program, version_flag, why) in [
        (
            "redis-server",
            "--version",
            "redis-server for the tests of several instances (apt-get install redis-server)",
        ),
        ("tmux", "-V", "tmux for the terminal view's test (apt-get install tmux)"),
    ] {
        let found = Command::new(program).arg(version_flag).output();
        if !found.is_ok_and(|output| output.status.success()) {
            missing.push(why.to_owned());
        }
    }
    let venv_works = Command::new("python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !venv_works && !venv_dir(&target_dir()?).join("bin/kosoku").exists() {
        missing.push("Python 3 with venv for the conformance suite (Debian/Ubuntu: apt-get install python3-venv)".to_owned());
    }
    if !missing.is_empty() {
        bail!(
            "missing prerequisites (.ci/run installs them on Debian):\n  - {}",
            missing.join("\n  - ")
        );
    }
    Ok(())
}

/// What the browser tests lack: Chromium where the harness looks for it.
fn missing_chromium() -> Option<String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    (!chromium.exists()).then(|| {
        format!(
            "Chromium at {} for the browser tests (Debian/Ubuntu: apt-get install chromium; \
             or set CHROMIUM to its path)",
            chromium.display()
        )
    })
}

/// `node --version` as (major, minor).
fn node_version() -> Option<(u32, u32)> {
    let output = Command::new("node").arg("--version").output().ok()?;
    parse_node_version(&String::from_utf8_lossy(&output.stdout))
}

fn parse_node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// The dashboard's tools (Vite 8, jsdom) need Node 20.19+ or 22.12+.
fn node_supported((major, minor): (u32, u32)) -> bool {
    match major {
        20 => minor >= 19,
        22 => minor >= 12,
        21 => false,
        major => major > 22,
    }
}

fn ci() -> anyhow::Result<()> {
    let started = Instant::now();
    prerequisites()?;
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    types_are_fresh()?;
    cargo(&["test", "--workspace"])?;
    let rustdoc = Command::new(env!("CARGO"))
        .args(["doc", "--workspace", "--no-deps", "--quiet"])
        .current_dir(root())
        .env("RUSTDOCFLAGS", "-D warnings")
        .status()
        .context("starting cargo doc")?;
    if !rustdoc.success() {
        bail!("cargo doc found problems");
    }
    let dir = root().join("dashboard");
    npm_install(&dir)?;
    run(&dir, "npm", &["run", "typecheck"])?;
    // ESLint prints what it found; the run stops here with the command that failed.
    run(&dir, "npm", &["run", "eslint"])?;
    run(&dir, "npm", &["test"])?;
    e2e()?;
    conformance()?;
    eprintln!("xtask ci: every check passed in {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Fails when the checked-in TypeScript types differ from what the Rust types generate.
fn types_are_fresh() -> anyhow::Result<()> {
    let root = root();
    let checked_in = root.join(GENERATED_TYPES);
    let fresh =
        std::env::temp_dir().join(format!("gitops-live-protocol-{}.ts", std::process::id()));
    generate_types(&fresh)?;
    let want = std::fs::read_to_string(&fresh).context("reading the generated types")?;
    let _ = std::fs::remove_file(&fresh);
    let have = std::fs::read_to_string(&checked_in).unwrap_or_default();
    if want != have {
        bail!("{} is stale: run `cargo xtask types` and commit the result", checked_in.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_shows_cargos_progress() {
        let extra = ["--bind".to_owned(), "0.0.0.0:3070".to_owned()];
        let args = demo_args(&extra);
        assert!(!args.contains(&"--quiet"), "{args:?}");
        assert_eq!(args[args.len() - 3..], ["demo", "--bind", "0.0.0.0:3070"]);
    }

    #[test]
    fn the_target_folder_follows_cargo_target_dir() {
        // As cargo itself resolves it: run under a CARGO_TARGET_DIR of our choosing.
        let chosen = std::env::temp_dir().join(format!("xtask-target-{}", std::process::id()));
        let output = Command::new(env!("CARGO"))
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .current_dir(root())
            .env("CARGO_TARGET_DIR", &chosen)
            .output()
            .expect("cargo runs");
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(metadata["target_directory"].as_str(), Some(chosen.to_str().expect("utf-8")));
        // And ours is where this very test binary was built.
        let target = target_dir().expect("cargo metadata");
        let exe = std::env::current_exe().expect("the test binary");
        assert!(exe.starts_with(&target), "{} is not under {}", exe.display(), target.display());
        assert_eq!(venv_dir(&target), target.join("python-venv"));
    }

    #[test]
    fn the_virtualenv_comes_first_on_the_path() {
        let path = path_with(Path::new("/t/python-venv/bin"), Some("/usr/bin:/bin".as_ref()))
            .expect("joins");
        assert_eq!(path, "/t/python-venv/bin:/usr/bin:/bin");
        assert_eq!(path_with(Path::new("/v"), None).expect("joins"), "/v");
    }

    #[test]
    fn node_versions_are_read_and_compared_with_what_the_tools_need() {
        assert_eq!(parse_node_version("v20.20.2\n"), Some((20, 20)));
        assert_eq!(parse_node_version("garbage"), None);
        assert!(node_supported((20, 19)));
        assert!(!node_supported((20, 18)));
        assert!(!node_supported((18, 20)));
        assert!(!node_supported((21, 7)));
        assert!(!node_supported((22, 11)));
        assert!(node_supported((22, 12)));
        assert!(node_supported((24, 0)));
    }
}
