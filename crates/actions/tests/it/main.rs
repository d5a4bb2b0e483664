//! Integration tests of the actions: real repositories in temp dirs, real git, real sockets.
#![allow(clippy::unwrap_used)]

mod changes;
mod clone;
mod commit;
mod discard;
mod record;
mod remote;
mod safety;
mod support;
mod sync;
mod trash;
