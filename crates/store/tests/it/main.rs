//! The store's integration tests: real SQLite files in temp dirs, real child processes killed
//! with SIGKILL, a real full filesystem (a small tmpfs).
#![allow(clippy::unwrap_used)]

mod actions;
mod child;
mod common;
mod crash;
mod disk_full;
mod open;
mod outbox;
mod retention;
mod round_trip;
