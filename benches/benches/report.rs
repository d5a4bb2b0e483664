//! Placeholder bench, replaced by the report bench.
fn main() {}
