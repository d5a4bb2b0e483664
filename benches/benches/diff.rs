//! Placeholder bench, replaced by the diff bench.
fn main() {}
