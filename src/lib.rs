//! raftis: a Redis-compatible cache server whose data is replicated by Raft.
//!
//! Imports run one way, top to bottom (docs/ARCHITECTURE.md):
//! `server` -> `node` -> (`raft`, `wal`, `transport`, `machine`) -> `command` -> `store`.
//! `raft` imports none of the others.

pub mod command;
pub mod config;
pub mod errors;
pub mod glob;
pub mod logging;
pub mod longdouble;
pub mod machine;
pub mod node;
pub mod raft;
pub mod reply;
pub mod server;
pub mod store;
pub mod transport;
pub mod wal;
