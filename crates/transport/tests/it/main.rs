//! Integration tests of the HTTP service: a real server on 127.0.0.1, real clients.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
#[cfg(feature = "conformance")]
mod conformance;
mod fallbacks;
mod hostile;
mod http;
mod tls;
