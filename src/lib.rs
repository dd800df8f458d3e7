//! raftis: a Redis-compatible cache server whose data is replicated by Raft.
//!
//! Imports run one way, top to bottom (docs/ARCHITECTURE.md):
//! `server` -> `node` -> (`raft`, `wal`, `transport`, `machine`) -> `command` -> `store`.
//! `raft` imports none of the others.

pub mod raft;
pub mod errors;
pub mod reply;
pub mod store;
pub mod command;
pub mod machine;
