//! Shared pieces of the benches: the criterion benches live in `benches/`, the end-to-end bench's
//! driver in `benches/e2e.rs` and its load generator in `src/bin/loadgen.rs`; both speak the
//! record format in [`e2e`].
#![warn(missing_docs)]

pub mod e2e;
