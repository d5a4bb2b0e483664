//! Integration tests: real files in temp directories, written the ways real producers write them.
#![allow(clippy::unwrap_used)]

mod fallback;
mod in_place;
mod lifecycle;
mod noise;
mod polling;
mod producers;
mod renamed;
mod support;
mod symlink;
mod tree;
