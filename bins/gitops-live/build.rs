//! Embeds the built dashboard (`dashboard/dist`) into the binary when it exists.
//!
//! Writes `$OUT_DIR/assets.rs` with one `(path, bytes)` entry per file. Without a built
//! dashboard the list is empty and the server answers `/` with a page saying how to build it,
//! so `cargo build` works on a machine without Node.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let dist = manifest_dir.join("../../dashboard/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed={}", dist.join("index.html").display());
    println!("cargo:rerun-if-changed={}", dist.join("assets").display());
    let mut files = Vec::new();
    if dist.join("index.html").is_file() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut out = String::from(
        "/// The dashboard's files, by path relative to `dashboard/dist`, each with its gzip form\n\
         /// when that is smaller by a tenth or more.\n\
         pub(crate) static FILES: &[File] = &[\n",
    );
    for (index, (relative, absolute)) in files.iter().enumerate() {
        let gzip = gzip_if_smaller(absolute, &out_dir.join(format!("asset-{index}.gz")))
            .map_or_else(
                || "None".to_owned(),
                |path| format!("Some(include_bytes!({:?}))", path.display().to_string()),
            );
        let _ = writeln!(
            out,
            "    File {{ path: {relative:?}, bytes: include_bytes!({:?}), gzip: {gzip} }},",
            absolute.display().to_string()
        );
    }
    out.push_str("];\n");
    std::fs::write(out_dir.join("assets.rs"), out).expect("OUT_DIR is writable");
}

/// Writes `source` gzipped (best compression: this runs once per build) to `target` and returns
/// it, when text-like and at least 10 % smaller.
fn gzip_if_smaller(source: &Path, target: &Path) -> Option<PathBuf> {
    use std::io::Write as _;
    let compressible = matches!(
        source.extension().and_then(|e| e.to_str()),
        Some("js" | "mjs" | "css" | "html" | "svg" | "json" | "map" | "txt" | "webmanifest")
    );
    let bytes = std::fs::read(source).ok().filter(|b| compressible && b.len() > 1024)?;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&bytes).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() * 10 <= bytes.len() * 9).then_some(())?;
    std::fs::write(target, compressed).ok()?;
    Some(target.to_path_buf())
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            collect(root, &path, files);
        } else if let Ok(relative) = path.strip_prefix(root) {
            let relative = relative.to_string_lossy().replace('\\', "/");
            let absolute = path.canonicalize().unwrap_or(path);
            files.push((relative, absolute));
        }
    }
}
