//! TODO crate docs.
#![warn(missing_docs)]
