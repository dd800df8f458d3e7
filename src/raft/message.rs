//! Messages between Raft nodes, and their binary encoding for the peer bus.
//!
//! The encoding is little-endian and length-checked: `decode` never panics on bad input, it
//! returns `None`, and the transport disconnects a peer that sends such bytes. Entry payloads
//! are `Bytes` slices of the received frame (no copy).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::types::{Entry, EntryKind, NodeId};

/// A client write's id, unique per node across restarts (the node starts its counter from the
/// wall clock in nanoseconds), so that an answer can never be matched to the wrong proposal.
pub type ProposalId = u64;
/// A read request's id, unique per node like `ProposalId`.
pub type ReadId = u64;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub from: NodeId,
    pub to: NodeId,
    pub term: u64,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// AppendEntries (§5.3): `entries` follow (prev_index, prev_term); `commit` is the leader's
    /// commit index.
    Append {
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    },
    /// Answer to Append. On success `index` is the last index the follower now matches. On
    /// reject `index` is the rejected `prev_index` and (hint_index, hint_term) where the follower
    /// thinks the logs may match.
    AppendResp {
        reject: bool,
        index: u64,
        hint_index: u64,
        hint_term: u64,
    },
    /// Leader liveness and lease round; carries a commit index the follower can use safely
    /// (never past what the leader knows it matches).
    Heartbeat {
        commit: u64,
        round: u64,
    },
    HeartbeatResp {
        round: u64,
    },
    /// RequestVote (§5.2), or the pre-vote that asks "would you vote for me?" without
    /// disturbing anyone's term (thesis §9.6). `transfer` marks a leadership transfer, which
    /// may bypass check-quorum's lease on votes.
    Vote {
        pre: bool,
        last_index: u64,
        last_term: u64,
        transfer: bool,
    },
    VoteResp {
        pre: bool,
        reject: bool,
    },
    /// A follower forwards client writes to the leader.
    Propose {
        proposals: Vec<(ProposalId, Bytes)>,
    },
    /// Where each forwarded write went: `Some((term, index))`, or `None` if it was not
    /// appended (the receiver is not the leader) and is safe to retry.
    ProposeResp {
        results: Vec<(ProposalId, Option<(u64, u64)>)>,
    },
    /// A follower asks the leader for a read index (thesis §6.4).
    ReadIndex {
        ids: Vec<ReadId>,
    },
    /// `index`: the commit index the reads must wait for; `None` if refused.
    ReadIndexResp {
        ids: Vec<ReadId>,
        index: Option<u64>,
    },
    /// Leadership transfer: start an election now, bypassing the lease (thesis §3.10).
    TimeoutNow,
    /// A follower asks the leader to hand leadership to `to` (RAFT.TRANSFER-LEADER sent to a
    /// follower).
    TransferLeader {
        to: NodeId,
    },
    /// Part of a snapshot file the leader's node streams to a follower's node (§7
    /// InstallSnapshot). Handled by the nodes, never by the core.
    SnapshotChunk {
        index: u64,
        term: u64,
        offset: u64,
        total: u64,
        data: Bytes,
    },
    /// The follower's node has the snapshot up to `next` bytes (`next == total`: installed or
    /// already covered; `u64::MAX`: refused).
    SnapshotAck {
        index: u64,
        next: u64,
    },
    /// The leader refused these forwarded writes before proposing them (nothing was
    /// appended); `reason` is the node's code for why, opaque to Raft.
    ProposeRefused {
        ids: Vec<ProposalId>,
        reason: u8,
    },
    /// Between the node shells, opaque to Raft and never given to `Raft::step` (a follower's
    /// report of the keys read there, for the leader's eviction). `kind` says what `data` is.
    Node {
        kind: u8,
        data: Bytes,
    },
}

impl Body {
    fn tag(&self) -> u8 {
        match self {
            Body::Append { .. } => 1,
            Body::AppendResp { .. } => 2,
            Body::Heartbeat { .. } => 3,
            Body::HeartbeatResp { .. } => 4,
            Body::Vote { .. } => 5,
            Body::VoteResp { .. } => 6,
            Body::Propose { .. } => 7,
            Body::ProposeResp { .. } => 8,
            Body::ReadIndex { .. } => 9,
            Body::ReadIndexResp { .. } => 10,
            Body::TimeoutNow => 11,
            Body::TransferLeader { .. } => 12,
            Body::SnapshotChunk { .. } => 13,
            Body::SnapshotAck { .. } => 14,
            // Numbered apart from the rest, which other branches extend.
            Body::ProposeRefused { .. } => 20,
            Body::Node { .. } => 21,
        }
    }
}

impl Message {
    /// Appends this message's encoding to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.body.tag());
        out.put_u64_le(self.from);
        out.put_u64_le(self.to);
        out.put_u64_le(self.term);
        match &self.body {
            Body::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => {
                out.put_u64_le(*prev_index);
                out.put_u64_le(*prev_term);
                out.put_u64_le(*commit);
                out.put_u32_le(entries.len() as u32);
                for e in entries {
                    out.put_u64_le(e.term);
                    out.put_u64_le(e.index);
                    out.put_u8(e.kind as u8);
                    out.put_u32_le(e.data.len() as u32);
                    out.put_slice(&e.data);
                }
            }
            Body::AppendResp {
                reject,
                index,
                hint_index,
                hint_term,
            } => {
                out.put_u8(*reject as u8);
                out.put_u64_le(*index);
                out.put_u64_le(*hint_index);
                out.put_u64_le(*hint_term);
            }
            Body::Heartbeat { commit, round } => {
                out.put_u64_le(*commit);
                out.put_u64_le(*round);
            }
            Body::HeartbeatResp { round } => out.put_u64_le(*round),
            Body::Vote {
                pre,
                last_index,
                last_term,
                transfer,
            } => {
                out.put_u8(*pre as u8);
                out.put_u64_le(*last_index);
                out.put_u64_le(*last_term);
                out.put_u8(*transfer as u8);
            }
            Body::VoteResp { pre, reject } => {
                out.put_u8(*pre as u8);
                out.put_u8(*reject as u8);
            }
            Body::Propose { proposals } => {
                out.put_u32_le(proposals.len() as u32);
                for (id, data) in proposals {
                    out.put_u64_le(*id);
                    out.put_u32_le(data.len() as u32);
                    out.put_slice(data);
                }
            }
            Body::ProposeResp { results } => {
                out.put_u32_le(results.len() as u32);
                for (id, r) in results {
                    out.put_u64_le(*id);
                    match r {
                        Some((term, index)) => {
                            out.put_u8(1);
                            out.put_u64_le(*term);
                            out.put_u64_le(*index);
                        }
                        None => out.put_u8(0),
                    }
                }
            }
            Body::ReadIndex { ids } => put_ids(out, ids),
            Body::ReadIndexResp { ids, index } => {
                put_ids(out, ids);
                match index {
                    Some(i) => {
                        out.put_u8(1);
                        out.put_u64_le(*i);
                    }
                    None => out.put_u8(0),
                }
            }
            Body::TimeoutNow => {}
            Body::TransferLeader { to } => out.put_u64_le(*to),
            Body::SnapshotChunk {
                index,
                term,
                offset,
                total,
                data,
            } => {
                out.put_u64_le(*index);
                out.put_u64_le(*term);
                out.put_u64_le(*offset);
                out.put_u64_le(*total);
                out.put_u32_le(data.len() as u32);
                out.put_slice(data);
            }
            Body::SnapshotAck { index, next } => {
                out.put_u64_le(*index);
                out.put_u64_le(*next);
            }
            Body::ProposeRefused { ids, reason } => {
                put_ids(out, ids);
                out.put_u8(*reason);
            }
            Body::Node { kind, data } => {
                out.put_u8(*kind);
                out.put_u32_le(data.len() as u32);
                out.put_slice(data);
            }
        }
    }

    /// Decodes one message that fills `buf` exactly. `None` on any malformation.
    pub fn decode(mut buf: Bytes) -> Option<Message> {
        let r = &mut buf;
        let tag = get_u8(r)?;
        let from = get_u64(r)?;
        let to = get_u64(r)?;
        let term = get_u64(r)?;
        let body = match tag {
            1 => {
                let prev_index = get_u64(r)?;
                let prev_term = get_u64(r)?;
                let commit = get_u64(r)?;
                let n = get_u32(r)? as usize;
                let mut entries = Vec::with_capacity(n.min(r.remaining() / 21));
                for _ in 0..n {
                    let term = get_u64(r)?;
                    let index = get_u64(r)?;
                    let kind = EntryKind::from_u8(get_u8(r)?)?;
                    let data = get_bytes(r)?;
                    entries.push(Entry {
                        term,
                        index,
                        kind,
                        data,
                    });
                }
                Body::Append {
                    prev_index,
                    prev_term,
                    entries,
                    commit,
                }
            }
            2 => Body::AppendResp {
                reject: get_bool(r)?,
                index: get_u64(r)?,
                hint_index: get_u64(r)?,
                hint_term: get_u64(r)?,
            },
            3 => Body::Heartbeat {
                commit: get_u64(r)?,
                round: get_u64(r)?,
            },
            4 => Body::HeartbeatResp { round: get_u64(r)? },
            5 => Body::Vote {
                pre: get_bool(r)?,
                last_index: get_u64(r)?,
                last_term: get_u64(r)?,
                transfer: get_bool(r)?,
            },
            6 => Body::VoteResp {
                pre: get_bool(r)?,
                reject: get_bool(r)?,
            },
            7 => {
                let n = get_u32(r)? as usize;
                let mut proposals = Vec::with_capacity(n.min(r.remaining() / 12));
                for _ in 0..n {
                    let id = get_u64(r)?;
                    proposals.push((id, get_bytes(r)?));
                }
                Body::Propose { proposals }
            }
            8 => {
                let n = get_u32(r)? as usize;
                let mut results = Vec::with_capacity(n.min(r.remaining() / 9));
                for _ in 0..n {
                    let id = get_u64(r)?;
                    let res = if get_bool(r)? {
                        Some((get_u64(r)?, get_u64(r)?))
                    } else {
                        None
                    };
                    results.push((id, res));
                }
                Body::ProposeResp { results }
            }
            9 => Body::ReadIndex { ids: get_ids(r)? },
            10 => {
                let ids = get_ids(r)?;
                let index = if get_bool(r)? {
                    Some(get_u64(r)?)
                } else {
                    None
                };
                Body::ReadIndexResp { ids, index }
            }
            11 => Body::TimeoutNow,
            12 => Body::TransferLeader { to: get_u64(r)? },
            13 => Body::SnapshotChunk {
                index: get_u64(r)?,
                term: get_u64(r)?,
                offset: get_u64(r)?,
                total: get_u64(r)?,
                data: get_bytes(r)?,
            },
            14 => Body::SnapshotAck {
                index: get_u64(r)?,
                next: get_u64(r)?,
            },
            20 => Body::ProposeRefused {
                ids: get_ids(r)?,
                reason: get_u8(r)?,
            },
            21 => Body::Node {
                kind: get_u8(r)?,
                data: get_bytes(r)?,
            },
            _ => return None,
        };
        if r.has_remaining() {
            return None;
        }
        Some(Message {
            from,
            to,
            term,
            body,
        })
    }
}

fn put_ids(out: &mut BytesMut, ids: &[u64]) {
    out.put_u32_le(ids.len() as u32);
    for id in ids {
        out.put_u64_le(*id);
    }
}

fn get_ids(r: &mut Bytes) -> Option<Vec<u64>> {
    let n = get_u32(r)? as usize;
    if n > r.remaining() / 8 {
        return None;
    }
    (0..n).map(|_| get_u64(r)).collect()
}

fn get_u8(r: &mut Bytes) -> Option<u8> {
    (r.remaining() >= 1).then(|| r.get_u8())
}

fn get_bool(r: &mut Bytes) -> Option<bool> {
    match get_u8(r)? {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

fn get_u32(r: &mut Bytes) -> Option<u32> {
    (r.remaining() >= 4).then(|| r.get_u32_le())
}

fn get_u64(r: &mut Bytes) -> Option<u64> {
    (r.remaining() >= 8).then(|| r.get_u64_le())
}

fn get_bytes(r: &mut Bytes) -> Option<Bytes> {
    let n = get_u32(r)? as usize;
    (r.remaining() >= n).then(|| r.split_to(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_bodies() -> Vec<Body> {
        let e = |i, t, d: &'static [u8]| Entry {
            term: t,
            index: i,
            kind: EntryKind::Normal,
            data: Bytes::from_static(d),
        };
        vec![
            Body::Append {
                prev_index: 3,
                prev_term: 2,
                entries: vec![],
                commit: 1,
            },
            Body::Append {
                prev_index: 3,
                prev_term: 2,
                entries: vec![e(4, 2, b"set a 1"), e(5, 3, b"")],
                commit: 4,
            },
            Body::AppendResp {
                reject: true,
                index: 9,
                hint_index: 4,
                hint_term: 2,
            },
            Body::Heartbeat {
                commit: 7,
                round: 99,
            },
            Body::HeartbeatResp { round: 99 },
            Body::Vote {
                pre: true,
                last_index: 10,
                last_term: 3,
                transfer: false,
            },
            Body::VoteResp {
                pre: false,
                reject: true,
            },
            Body::Propose {
                proposals: vec![(1, Bytes::from_static(b"x")), (2, Bytes::new())],
            },
            Body::ProposeResp {
                results: vec![(1, Some((3, 10))), (2, None)],
            },
            Body::ReadIndex { ids: vec![5, 6] },
            Body::ReadIndexResp {
                ids: vec![5],
                index: Some(12),
            },
            Body::ReadIndexResp {
                ids: vec![],
                index: None,
            },
            Body::TimeoutNow,
            Body::TransferLeader { to: 3 },
            Body::SnapshotChunk {
                index: 9,
                term: 2,
                offset: 0,
                total: 3,
                data: Bytes::from_static(b"abc"),
            },
            Body::SnapshotAck { index: 9, next: 3 },
            Body::ProposeRefused {
                ids: vec![7, 8],
                reason: 1,
            },
            Body::Node {
                kind: 1,
                data: Bytes::from_static(b"\x00hints"),
            },
        ]
    }

    #[test]
    fn every_message_round_trips() {
        for body in all_bodies() {
            let m = Message {
                from: 1,
                to: 2,
                term: 7,
                body,
            };
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            assert_eq!(Message::decode(buf.freeze()), Some(m));
        }
    }

    #[test]
    fn truncated_or_padded_messages_are_refused() {
        for body in all_bodies() {
            let m = Message {
                from: 1,
                to: 2,
                term: 7,
                body,
            };
            let mut buf = BytesMut::new();
            m.encode(&mut buf);
            let full = buf.freeze();
            for cut in 0..full.len() {
                assert_eq!(
                    Message::decode(full.slice(..cut)),
                    None,
                    "{m:?} cut at {cut}"
                );
            }
            let mut padded = BytesMut::from(&full[..]);
            padded.put_u8(0);
            assert_eq!(Message::decode(padded.freeze()), None);
        }
    }

    #[test]
    fn unknown_tag_and_huge_counts_are_refused() {
        assert_eq!(Message::decode(Bytes::from(vec![200u8; 25])), None);
        let mut buf = BytesMut::new();
        buf.put_u8(9);
        buf.put_bytes(0, 24);
        buf.put_u32_le(u32::MAX);
        assert_eq!(Message::decode(buf.freeze()), None);
    }
}
