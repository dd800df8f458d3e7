//! The Raft consensus core, sans-IO and deterministic.

mod types;

pub use types::*;
