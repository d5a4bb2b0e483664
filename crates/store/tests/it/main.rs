//! The store's integration tests: real SQLite files in temp dirs, real child processes killed
//! with SIGKILL, a real full filesystem (a small tmpfs).

mod child;
mod common;
mod crash;
mod round_trip;
