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
              typecheck + unit tests + build, browser tests against the release binary,
              WebSocket conformance (Autobahn)
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
    let started = Instant::now();
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
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
    let mut args = vec!["run", "--release", "--quiet", "--package", "gitops-live", "--", "demo"];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
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
    let root = root();
    dashboard()?;
    cargo(&["build", "--release", "--package", "gitops-live"])?;
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let binary = target.join("release/gitops-live");
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
    if !have("kosoku") {
        // The Autobahn suite, packaged for Python; PyPI is reachable from every machine here.
        run(&root(), "python3", &["-m", "pip", "install", "--quiet", "kosoku"])?;
    }
    cargo(&[
        "test",
        "--package",
        "gitops-transport",
        "--features",
        "conformance",
        "--test",
        "it",
        "conformance",
    ])
}

fn ci() -> anyhow::Result<()> {
    let started = Instant::now();
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
