//! Integration tests: every destination against real local servers on 127.0.0.1, and delivery.
#![allow(clippy::unwrap_used)]

mod delivery;
mod email;
mod http;
mod support;
