//! The dashboard's files, embedded at build time by `build.rs`.

use gitops_transport::{Asset, Assets};

/// One embedded file.
pub(crate) struct File {
    /// Its path relative to `dashboard/dist`.
    path: &'static str,
    /// Its bytes.
    bytes: &'static [u8],
    /// Its gzip form, when that is worth sending.
    gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The page served when the binary was built without the dashboard.
const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gitops-live</title></head>
<body>
<h1>gitops-live is running</h1>
<p>This binary was built without the dashboard. Build it with <code>cargo xtask dashboard</code>
(needs Node.js and npm), then rebuild the binary. Meanwhile the API works:
<a href="/api/ws/status">/api/ws/status</a>, <a href="/audit">/audit</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
"#;

/// The embedded dashboard.
#[derive(Debug, Default)]
pub(crate) struct EmbeddedDashboard;

impl EmbeddedDashboard {
    /// Whether the dashboard was embedded.
    pub(crate) fn is_built() -> bool {
        FILES.iter().any(|file| file.path == "index.html")
    }
}

impl Assets for EmbeddedDashboard {
    fn get(&self, path: &str) -> Option<Asset> {
        let found = FILES.iter().find(|file| file.path == path);
        match found {
            Some(file) => Some(Asset {
                bytes: bytes::Bytes::from_static(file.bytes),
                content_type: content_type(file.path),
                // Vite puts a content hash in every file name under assets/.
                immutable: file.path.starts_with("assets/"),
                gzip: file.gzip.map(bytes::Bytes::from_static),
            }),
            None if path == "index.html" && !Self::is_built() => Some(Asset {
                bytes: bytes::Bytes::from_static(NOT_BUILT.as_bytes()),
                content_type: "text/html; charset=utf-8",
                immutable: false,
                gzip: None,
            }),
            None => None,
        }
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        "webmanifest" => "application/manifest+json",
        _ => "application/octet-stream",
    }
}
