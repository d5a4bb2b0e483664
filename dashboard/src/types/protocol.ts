// The gitops-live wire protocol (docs/protocol.md). The types are generated from the Rust crate
// gitops-protocol into ./generated/ by `cargo xtask types`; this file is the one import point.
export * from './generated/protocol';
