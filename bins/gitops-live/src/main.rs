//! The gitops-live binary.
fn main() {}
