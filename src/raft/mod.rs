//! The Raft consensus core, sans-IO and deterministic.
//!
//! No sockets, files, clocks, threads or randomness it was not handed: the node feeds it time
//! (`tick`), messages (`step`), client writes (`propose`) and reads (`read_index`), and reports
//! durability (`persisted`); the core answers with a `Ready` saying what to persist, send,
//! apply and answer. The same core runs in production and in the deterministic simulation
//! (tests/raft_sim.rs).
//!
//! Files by concern: `log` (the in-memory log and its positions), `progress` (the leader's
//! view of each follower, with its in-flight window), `message` (wire format), `core` (roles,
//! elections, replication, commit, lease, read index).

mod core;
pub mod fate;
mod log;
mod message;
mod progress;
mod types;

pub use self::core::{
    Config, ProposalOutcome, ProposeError, Raft, ReadError, ReadOutcome, Ready, Role,
};
pub use self::log::RaftLog;
pub use self::message::{Body, Message, ProposalId, ReadId};
pub use self::types::*;
