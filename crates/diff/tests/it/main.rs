//! Integration tests of gitops-diff: the laws as properties over generated reports, and wire sizes.
#![allow(clippy::unwrap_used)]

mod laws;
mod sizes;
mod strategy;
