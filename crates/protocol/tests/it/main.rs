//! Integration tests of `gitops-protocol`: one binary, one module per subject.

mod live_state_cases;
