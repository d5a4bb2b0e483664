//! Integration tests of the gitops-live binary: real processes, real sockets on 127.0.0.1,
//! real files written the ways producers write them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod actions;
mod audit_live;
mod check;
mod engine;
mod faults;
mod first_hour;
mod glance;
mod history;
mod live;
mod notify;
mod restart;
mod support;
mod watch;
