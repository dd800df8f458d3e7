//! The vocabulary shared by the Raft core, the WAL and the node: log entries, the durable
//! hard state, node ids and log positions.

use bytes::Bytes;

/// A voter's id, as given on the command line (`--node-id`). Zero means "none".
pub type NodeId = u64;

/// What a log entry carries. The core never looks inside `data` of a `Normal` entry: it is the
/// state machine's business. A leader's no-op on election is a `Normal` entry with empty data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EntryKind {
    Normal = 0,
    /// A membership change; `data` is the encoded configuration (issue 5).
    ConfChange = 1,
}

impl EntryKind {
    pub fn from_u8(b: u8) -> Option<EntryKind> {
        match b {
            0 => Some(EntryKind::Normal),
            1 => Some(EntryKind::ConfChange),
            _ => None,
        }
    }
}

/// One log entry. `(term, index)` identifies it uniquely across the cluster (Log Matching).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    pub kind: EntryKind,
    pub data: Bytes,
}

impl Entry {
    /// Bytes this entry costs in messages and memory, for batch limits.
    pub fn size(&self) -> usize {
        self.data.len() + 24
    }
}

/// What must be durable before a node sends any message that depends on it: the current term
/// and the vote cast in it. `commit` is persisted as a hint only (it may lag; a restarted node
/// never applies beyond what it can prove committed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: u64,
    /// The candidate voted for in `term`, or 0.
    pub vote: NodeId,
    pub commit: u64,
}
