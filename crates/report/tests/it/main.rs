//! Property tests of gitops-report's public API: round trips and robustness against any input.
#![allow(clippy::unwrap_used)]

mod robustness;
mod round_trip;
