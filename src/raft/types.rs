//! The vocabulary shared by the Raft core, the WAL and the node: log entries, the durable
//! hard state, node ids and log positions.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};

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

/// The members of the group. Voters elect leaders and count towards quorums; learners receive
/// the log but do neither. Each member's address is opaque to the core (the node stores
/// `host:port@busport` there). Carried by `EntryKind::ConfChange` entries and snapshots; a node
/// always acts on the latest membership in its log, committed or not (Raft thesis §4.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Membership {
    pub voters: BTreeMap<NodeId, String>,
    pub learners: BTreeMap<NodeId, String>,
}

impl Membership {
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains_key(&id)
    }

    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.contains_key(&id) || self.learners.contains_key(&id)
    }

    /// Every member: (id, address, is voter).
    pub fn members(&self) -> impl Iterator<Item = (NodeId, &str, bool)> {
        self.voters
            .iter()
            .map(|(id, a)| (*id, a.as_str(), true))
            .chain(self.learners.iter().map(|(id, a)| (*id, a.as_str(), false)))
    }

    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        for set in [&self.voters, &self.learners] {
            out.put_u32_le(set.len() as u32);
            for (id, addr) in set {
                out.put_u64_le(*id);
                out.put_u16_le(addr.len() as u16);
                out.put_slice(addr.as_bytes());
            }
        }
        out.freeze()
    }

    /// `None` on malformed input.
    pub fn decode(mut b: &[u8]) -> Option<Membership> {
        let mut m = Membership::default();
        for set in [&mut m.voters, &mut m.learners] {
            if b.remaining() < 4 {
                return None;
            }
            let n = b.get_u32_le();
            for _ in 0..n {
                if b.remaining() < 10 {
                    return None;
                }
                let id = b.get_u64_le();
                let len = b.get_u16_le() as usize;
                if b.remaining() < len {
                    return None;
                }
                let addr = std::str::from_utf8(&b[..len]).ok()?.to_string();
                b.advance(len);
                set.insert(id, addr);
            }
        }
        (!b.has_remaining()).then_some(m)
    }
}

/// One change to the membership, one server at a time (thesis §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfChange {
    /// A new node joins as a learner: it receives the log and catches up.
    AddLearner { id: NodeId, addr: String },
    /// A learner becomes a voter.
    Promote { id: NodeId },
    /// A voter or learner leaves.
    Remove { id: NodeId },
}

/// What a snapshot of the state machine covers: every entry up to `index` (whose term is
/// `term`), and the membership in force at that index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub index: u64,
    pub term: u64,
    pub membership: Membership,
}

/// A node's durable Raft state at start: the hard state, the latest snapshot (if any), and the
/// log entries after it (contiguous, starting at `snapshot.index + 1`, or at 1).
#[derive(Clone, Debug, Default)]
pub struct Restored {
    pub hard_state: HardState,
    pub snapshot: Option<SnapshotMeta>,
    pub entries: Vec<Entry>,
}
