//! The Raft state machine of one node: roles, elections, replication, commitment, leases and
//! read indexes. Sans-IO and deterministic: time arrives through `tick(now_ms)`, messages
//! through `step`, client work through `propose` and `read_index`, durability through
//! `persisted`; everything the node must do comes out of `ready()`.
//!
//! What the node must do with a `Ready`, in this order of obligations:
//! 1. `messages`: send now (they depend on nothing unsynced).
//! 2. `hard_state` then `entries`: append to the WAL and sync (group commit). When that sync
//!    completes, send `persist_messages` and call `persisted(last.index, last.term)`.
//!    Persistence completes in the order Readies were produced.
//! 3. `committed`: apply in order (they may be applied before they are durable locally: they
//!    are durable on a majority).
//! 4. `proposals` and `reads`: tell the waiting clients where their writes went and which read
//!    index their reads must wait for.
//!
//! Safety choices, each a rule of DESIGN.md section 3:
//! - Pre-vote and check-quorum are always on. A node that heard from a leader less than
//!   `election_timeout_ms` ago ignores votes (a leader ignores them while it leads): this is
//!   what makes the leader lease sound.
//! - The lease starts at the time a heartbeat round was *sent* (the `now` of that tick, which
//!   is no later than the real send) and lasts `election_timeout_ms - lease_margin_ms`; it is
//!   valid only once the leader has committed an entry of its own term.
//! - A read index is the commit index once the leader has committed in its term, confirmed
//!   either by a valid lease or by a quorum acknowledging a heartbeat round sent after the read
//!   arrived.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;

use super::log::RaftLog;
use super::message::{Body, Message, ProposalId, ReadId};
use super::progress::{Progress, ProgressState};
use super::types::{
    ConfChange, Entry, EntryKind, HardState, Membership, NodeId, Restored, SnapshotMeta,
};

/// A learner trailing the commit index by more entries than this is not promoted.
const PROMOTE_LAG_ENTRIES_MAX: u64 = 1024;

#[derive(Clone, Debug)]
pub struct Config {
    pub id: NodeId,
    /// The minimum election timeout; each timeout is drawn from [min, 2*min).
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    /// How much shorter than the election timeout the lease is, to absorb clock drift.
    pub lease_margin_ms: u64,
    /// Entry bytes per AppendEntries, at most (one entry is always sent).
    pub max_msg_bytes: usize,
    /// AppendEntries in flight per follower, at most.
    pub max_inflight_msgs: usize,
    /// Seed for election timeout randomization.
    pub seed: u64,
}

impl Config {
    pub fn lease_ms(&self) -> u64 {
        self.election_timeout_ms
            .saturating_sub(self.lease_margin_ms)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::PreCandidate | Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposeError {
    /// No leader is known: nothing was proposed.
    NoLeader,
    /// The node it was forwarded to is not the leader: nothing was appended.
    NotLeader,
    /// Forwarded in `term`, and the node it went to never said where it went (it stopped, or
    /// the message was lost). If appended at all, it was appended in `term` (a leader takes a
    /// forward only in the term it was sent in): see `fate` for how the node settles it.
    Unanswered { term: u64 },
    /// A membership change that cannot be made now, and why.
    Rejected(&'static str),
    /// The leader refused the forwarded write before proposing it (`Raft::refuse_forwarded`):
    /// nothing was appended. The code is the node's, opaque here.
    Refused(u8),
}

/// How many election timeouts a follower waits for the leader's answer to a forwarded
/// proposal while that leader stays in place. Once it is replaced, the follower gives up at
/// once: where the proposal went no longer matters, the node learns its fate from the entries
/// it applies (`fate`).
const FORWARD_SILENCE_TIMEOUTS: u64 = 10;

/// Forwarded proposals a leader remembers, to answer a duplicated Propose message without
/// appending its writes again (the bus does not resend, but a network may duplicate).
const FORWARDS_REMEMBERED: usize = 16_384;

/// A proposal forwarded to `to` in `term` (keyed by its id), answered `Unanswered` if no
/// answer came by `give_up`.
#[derive(Clone, Copy, Debug)]
struct InFlight {
    to: NodeId,
    term: u64,
    give_up: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalOutcome {
    pub id: ProposalId,
    /// `(term, index)` of the entry holding the proposal. It is applied if and only if the
    /// entry applied at `index` has this `term`.
    pub result: Result<(u64, u64), ProposeError>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    NoLeader,
    /// The leader refused or changed before answering: safe to retry.
    Refused,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    pub ids: Vec<ReadId>,
    /// The index the reads may be served at once applied.
    pub result: Result<u64, ReadError>,
}

#[derive(Debug, Default)]
pub struct Ready {
    pub messages: Vec<Message>,
    pub hard_state: Option<HardState>,
    pub entries: Vec<Entry>,
    pub persist_messages: Vec<Message>,
    pub committed: Vec<Entry>,
    pub proposals: Vec<ProposalOutcome>,
    pub reads: Vec<ReadOutcome>,
    /// The membership in force changed (a ConfChange entry was appended or truncated away).
    pub membership: Option<Membership>,
    /// Leader: stream the latest snapshot to these followers (their next entries were
    /// compacted away), then report with `snapshot_sent`.
    pub send_snapshots: Vec<NodeId>,
    /// Follower: a snapshot was installed with `restore`. The bool says whether the whole log
    /// was discarded (the WAL must then be reset to continue after the snapshot) before any
    /// entry of this Ready is persisted.
    pub restored: Option<(SnapshotMeta, bool)>,
}

impl Ready {
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
            && self.hard_state.is_none()
            && self.entries.is_empty()
            && self.persist_messages.is_empty()
            && self.committed.is_empty()
            && self.proposals.is_empty()
            && self.reads.is_empty()
            && self.membership.is_none()
            && self.send_snapshots.is_empty()
            && self.restored.is_none()
    }
}

/// A read waiting for a quorum to acknowledge heartbeat round `round` (or a later one).
#[derive(Debug)]
struct PendingRead {
    from: NodeId,
    ids: Vec<ReadId>,
    index: u64,
    round: u64,
}

pub struct Raft {
    cfg: Config,
    id: NodeId,
    term: u64,
    vote: NodeId,
    role: Role,
    leader: NodeId,
    log: RaftLog,
    now: u64,
    rng: u64,
    election_deadline: u64,
    /// When this node last heard from the leader it follows (its clock).
    leader_contact: u64,
    /// Votes received while (pre-)candidate.
    votes: BTreeMap<NodeId, bool>,
    /// The membership in force: the latest in the log (committed or not).
    membership: Membership,
    /// The membership before the log's first ConfChange entry (bootstrap or snapshot).
    base_membership: Membership,
    /// (index, term, membership) of every ConfChange entry in the log, ascending.
    conf_history: Vec<(u64, u64, Membership)>,
    membership_changed: bool,
    snapshot_sends: Vec<NodeId>,
    restored: Option<(SnapshotMeta, bool)>,

    // Leader state.
    progress: BTreeMap<NodeId, Progress>,
    heartbeat_due: u64,
    quorum_check_due: u64,
    /// The last heartbeat round sent, and when each recent round was sent.
    round: u64,
    round_sent: VecDeque<(u64, u64)>,
    lease_until: u64,
    pending_reads: Vec<PendingRead>,
    /// Reads that arrived before the leader committed an entry of its term.
    reads_before_commit: Vec<(NodeId, Vec<ReadId>)>,
    heartbeat_now: bool,
    bcast_needed: bool,
    /// Leadership transfer in progress to this node (0: none), until `transfer_deadline`.
    transferee: NodeId,
    transfer_deadline: u64,
    /// A TimeoutNow was sent in this term: voters may now elect another leader while ignoring
    /// their lease, so this leader must not serve lease reads again in this term.
    lease_forfeited: bool,
    /// Until this time the node refuses (pre-)votes whatever it remembers: before it crashed it
    /// may have acknowledged the heartbeat round a live leader's lease rests on (§6.4.1).
    started_lease_until: u64,

    // Follower state: work forwarded to the leader and not yet answered.
    forward_props: Vec<(ProposalId, Bytes)>,
    forward_reads: Vec<ReadId>,
    /// Proposals sent to a leader and not yet answered. An answer is a fact whatever the
    /// term, so it is taken from the node the proposal went to. When leadership moves they
    /// are reported `Unanswered` at once: the node settles them from the entries it applies
    /// (`fate`), whether or not the old leader's answer ever comes.
    props_in_flight: BTreeMap<ProposalId, InFlight>,
    /// Leader: forwarded proposals appended in this term, (from, id) -> (term, index), the
    /// last `FORWARDS_REMEMBERED` of them, oldest first in `forwards_order`.
    forwards_taken: HashMap<(NodeId, ProposalId), (u64, u64)>,
    forwards_order: VecDeque<(NodeId, ProposalId)>,
    reads_in_flight: Vec<ReadId>,

    // Output.
    msgs: Vec<Message>,
    persist_msgs: Vec<Message>,
    proposals_out: Vec<ProposalOutcome>,
    reads_out: Vec<ReadOutcome>,
    last_hard_state: HardState,
}

impl Raft {
    /// A node restarting from its durable state: `hs` and the log entries recovered from the
    /// WAL, `entries[0].index == first_index`.
    ///
    /// `bootstrap` is the membership before any ConfChange entry and snapshot: the voters a
    /// new group starts with (`--peers`), or empty for a node that waits to be added to an
    /// existing group. The node has loaded `restored.snapshot` into its state machine.
    pub fn new(cfg: Config, restored: Restored, bootstrap: Membership, now: u64) -> Raft {
        let Restored {
            hard_state: hs,
            snapshot,
            entries,
        } = restored;
        let (snap_index, snap_term, base) = match snapshot {
            Some(m) => (m.index, m.term, m.membership),
            None => (0, 0, bootstrap),
        };
        let first_index = snap_index + 1;
        assert!(
            cfg.heartbeat_interval_ms > 0 && cfg.election_timeout_ms > cfg.heartbeat_interval_ms
        );
        let conf_history: Vec<(u64, u64, Membership)> = entries
            .iter()
            .filter(|e| e.kind == EntryKind::ConfChange)
            .map(|e| {
                let m = Membership::decode(&e.data)
                    .expect("raft: undecodable membership entry in the log");
                (e.index, e.term, m)
            })
            .collect();
        let membership = conf_history
            .last()
            .map_or_else(|| base.clone(), |(_, _, m)| m.clone());
        let mut log = RaftLog::new(first_index, snap_term, entries, hs.commit.max(snap_index));
        log.applied = snap_index;
        let cfg_eto = cfg.election_timeout_ms;
        let mut r = Raft {
            id: cfg.id,
            rng: cfg.seed ^ cfg.id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            cfg,
            term: hs.term,
            vote: hs.vote,
            role: Role::Follower,
            leader: 0,
            log,
            now,
            election_deadline: 0,
            leader_contact: 0,
            votes: BTreeMap::new(),
            membership,
            base_membership: base,
            conf_history,
            membership_changed: true,
            snapshot_sends: Vec::new(),
            restored: None,
            progress: BTreeMap::new(),
            heartbeat_due: 0,
            quorum_check_due: 0,
            round: 0,
            round_sent: VecDeque::new(),
            lease_until: 0,
            pending_reads: Vec::new(),
            reads_before_commit: Vec::new(),
            heartbeat_now: false,
            bcast_needed: false,
            transferee: 0,
            transfer_deadline: 0,
            lease_forfeited: false,
            started_lease_until: now + cfg_eto,
            forward_props: Vec::new(),
            forward_reads: Vec::new(),
            props_in_flight: BTreeMap::new(),
            forwards_taken: HashMap::new(),
            forwards_order: VecDeque::new(),
            reads_in_flight: Vec::new(),
            msgs: Vec::new(),
            persist_msgs: Vec::new(),
            proposals_out: Vec::new(),
            reads_out: Vec::new(),
            last_hard_state: hs,
        };
        r.reset_election_deadline();
        if r.membership.voters.len() == 1 && r.membership.is_voter(r.id) {
            // A group of one needs nobody's vote: lead at the first tick.
            r.election_deadline = now;
        }
        r
    }

    // ---- queries ----

    pub fn id(&self) -> NodeId {
        self.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn leader(&self) -> NodeId {
        self.leader
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn vote(&self) -> NodeId {
        self.vote
    }
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    fn is_voter(&self, id: NodeId) -> bool {
        self.membership.is_voter(id)
    }
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn commit_index(&self) -> u64 {
        self.log.committed
    }
    pub fn applied_index(&self) -> u64 {
        self.log.applied
    }
    pub fn persisted_index(&self) -> u64 {
        self.log.persisted
    }
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    pub fn log(&self) -> &RaftLog {
        &self.log
    }
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.durable_commit(),
        }
    }

    /// True once this leader has committed an entry of its own term: only then does its
    /// commit index cover every entry committed by earlier leaders (§5.4.2, thesis §6.4).
    pub fn committed_in_term(&self) -> bool {
        self.role == Role::Leader && self.log.term(self.log.committed) == Some(self.term)
    }

    /// Until when (this node's clock, ms) reads may be served locally as leader; 0 if not.
    pub fn lease_until(&self) -> u64 {
        if self.committed_in_term() {
            self.lease_until
        } else {
            0
        }
    }

    /// The leader's view of each follower: (id, match index, last contact ms).
    pub fn followers(&self) -> impl Iterator<Item = (NodeId, u64, u64)> + '_ {
        self.progress
            .iter()
            .map(|(id, p)| (*id, p.matched, p.last_contact_ms))
    }

    /// The leader's replication state, for debugging and checker failure messages.
    pub fn debug_progress(&self) -> String {
        format!("{:?}", self.progress)
    }

    fn quorum(&self) -> usize {
        self.membership.voters.len() / 2 + 1
    }

    fn durable_commit(&self) -> u64 {
        // Never claim commitment of an entry that is not yet durable here: on recovery the
        // hard state may survive while the entries of the same batch do not.
        self.log.committed.min(self.log.persisted)
    }

    // ---- inputs ----

    /// Advances this node's clock. `now` is monotonic milliseconds. The node must call it
    /// whenever time may have passed (a wake-up, a pause of the process) before any `step`,
    /// `propose` or `read_index`: the lease is judged by the last time given here.
    pub fn tick(&mut self, now: u64) {
        self.now = self.now.max(now);
        self.give_up_forwarded();
        if self.role == Role::Leader {
            if self.transferee != 0 && self.now >= self.transfer_deadline {
                // The target did not take over in time: lead on (without a lease if a
                // TimeoutNow already went out).
                self.transferee = 0;
            }
            if self.now >= self.heartbeat_due {
                self.bcast_heartbeat();
            }
            if self.now >= self.quorum_check_due {
                self.check_quorum();
            }
        } else if self.now >= self.election_deadline {
            if self.can_campaign() {
                // Pre-vote unless this node is the whole group: a server whose removal is
                // pending counts only others' votes, and must not bump their terms blindly.
                let alone = self.membership.voters.len() == 1 && self.is_voter(self.id);
                self.campaign(!alone, false);
            } else {
                self.reset_election_deadline();
            }
        }
    }

    /// Proposes one entry. Where it went (or why not) comes out in `Ready::proposals`.
    pub fn propose(&mut self, id: ProposalId, data: Bytes) {
        if self.role == Role::Leader && self.transferee != 0 {
            // Handing over: the client retries against the next leader.
            self.proposals_out.push(ProposalOutcome {
                id,
                result: Err(ProposeError::NotLeader),
            });
        } else if self.role == Role::Leader {
            let (term, index) = self.append_new(data);
            self.proposals_out.push(ProposalOutcome {
                id,
                result: Ok((term, index)),
            });
        } else if self.leader != 0 {
            self.forward_props.push((id, data));
        } else {
            self.proposals_out.push(ProposalOutcome {
                id,
                result: Err(ProposeError::NoLeader),
            });
        }
    }

    /// Leader: answer writes forwarded by `to` that the node refused before proposing them
    /// (a decision Raft knows nothing of, such as an out-of-memory refusal): their outcome on
    /// the follower is `ProposeError::Refused(reason)`. Nothing is appended.
    pub fn refuse_forwarded(&mut self, to: NodeId, ids: Vec<ProposalId>, reason: u8) {
        if self.role == Role::Leader && !ids.is_empty() {
            self.send(to, Body::ProposeRefused { ids, reason });
        }
    }

    /// Asks for a read index. The answer comes out in `Ready::reads`.
    pub fn read_index(&mut self, id: ReadId) {
        if self.role == Role::Leader {
            self.leader_read(self.id, vec![id]);
        } else if self.leader != 0 {
            self.forward_reads.push(id);
        } else {
            self.reads_out.push(ReadOutcome {
                ids: vec![id],
                result: Err(ReadError::NoLeader),
            });
        }
    }

    /// Hands leadership to `to` (thesis §3.10): stop taking proposals, end the lease, bring
    /// `to` up to date, then tell it to start an election at once (TimeoutNow), which voters
    /// honour even while they hear from this leader. Gives up after an election timeout. On a
    /// follower, the request is passed to the leader.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), &'static str> {
        if !self.is_voter(to) {
            return Err("the target is not a voter");
        }
        if self.role != Role::Leader {
            if self.leader == 0 {
                return Err("no leader");
            }
            if self.leader != to {
                self.send(self.leader, Body::TransferLeader { to });
            }
            return Ok(());
        }
        if to == self.id {
            return Ok(());
        }
        self.transferee = to;
        self.transfer_deadline = self.now + self.cfg.election_timeout_ms;
        self.lease_until = 0;
        if self
            .progress
            .get(&to)
            .is_some_and(|p| p.matched == self.log.last_index())
        {
            self.send_timeout_now(to);
        } else {
            self.send_append_forced(to);
        }
        Ok(())
    }

    /// The follower whose log is most up to date (for a transfer without a named target).
    pub fn best_transfer_target(&self) -> Option<NodeId> {
        self.progress
            .iter()
            .max_by_key(|(id, p)| (p.matched, std::cmp::Reverse(**id)))
            .map(|(id, _)| *id)
    }

    fn send_timeout_now(&mut self, to: NodeId) {
        self.lease_forfeited = true;
        self.lease_until = 0;
        self.send(to, Body::TimeoutNow);
    }

    /// The WAL made every entry up to `(index, term)` durable.
    pub fn persisted(&mut self, index: u64, term: u64) {
        if self.log.persisted_to(index, term) && self.role == Role::Leader && self.maybe_commit() {
            self.bcast_needed = true;
        }
    }

    pub fn step(&mut self, m: Message) {
        // Messages are processed whatever this node's membership says (thesis §4.1): a node
        // being added hears from a leader it does not know yet.
        let own_vote = m.from == self.id && matches!(m.body, Body::VoteResp { pre: false, .. });
        if m.to != self.id || (m.from == self.id && !own_vote) || m.from == 0 {
            return;
        }
        // Answers to forwarded proposals are facts about the sender's log in any term.
        match m.body {
            Body::ProposeResp { results } => {
                for (id, r) in results {
                    self.answer_forwarded(m.from, id, r.ok_or(ProposeError::NotLeader));
                }
                return;
            }
            Body::ProposeRefused { ids, reason } => {
                for id in ids {
                    self.answer_forwarded(m.from, id, Err(ProposeError::Refused(reason)));
                }
                return;
            }
            _ => {}
        }
        if m.term > self.term {
            match m.body {
                Body::Vote { transfer, .. } if !transfer && self.in_lease() => return,
                Body::Vote { pre: true, .. } => {}
                Body::VoteResp {
                    pre: true,
                    reject: false,
                } => {}
                Body::Append { .. } | Body::Heartbeat { .. } => {
                    self.become_follower(m.term, m.from)
                }
                _ => self.become_follower(m.term, 0),
            }
        } else if m.term < self.term {
            self.answer_stale(m);
            return;
        }

        match m.body {
            Body::Vote {
                pre,
                last_index,
                last_term,
                ..
            } => self.handle_vote(m.from, m.term, pre, last_index, last_term),
            Body::VoteResp { pre, reject } => self.handle_vote_resp(m.from, pre, reject),
            Body::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            } => self.handle_append(m.from, prev_index, prev_term, entries, commit),
            Body::Heartbeat { commit, round } => self.handle_heartbeat(m.from, commit, round),
            Body::AppendResp {
                reject,
                index,
                hint_index,
                hint_term,
            } => self.handle_append_resp(m.from, reject, index, hint_index, hint_term),
            Body::HeartbeatResp { round } => self.handle_heartbeat_resp(m.from, round),
            Body::Propose { proposals } => self.handle_propose(m.from, proposals),
            // Taken above, before the term check.
            Body::ProposeResp { .. } | Body::ProposeRefused { .. } => {}
            Body::ReadIndex { ids } => {
                if self.role == Role::Leader {
                    self.leader_read(m.from, ids);
                } else {
                    self.send(m.from, Body::ReadIndexResp { ids, index: None });
                }
            }
            Body::ReadIndexResp { ids, index } => self.handle_read_index_resp(m.from, ids, index),
            Body::TransferLeader { to } => {
                if self.role == Role::Leader {
                    let _ = self.transfer_leader(to);
                }
            }
            // Snapshot streaming is the nodes' business (they never hand these to the core).
            Body::SnapshotChunk { .. } | Body::SnapshotAck { .. } => {}
            Body::TimeoutNow => {
                if m.from == self.leader && self.role == Role::Follower {
                    self.campaign(false, true);
                }
            }
            // The node shell's own traffic: it never reaches here, and means nothing to Raft.
            Body::Node { .. } => {}
        }
    }

    /// Everything the node must do now. See the module header for the obligations.
    pub fn ready(&mut self) -> Ready {
        if self.role == Role::Leader {
            if self.heartbeat_now {
                self.bcast_heartbeat();
            }
            if self.bcast_needed {
                self.bcast_append();
            }
        } else {
            self.flush_forwarded();
        }
        self.heartbeat_now = false;
        self.bcast_needed = false;

        let entries = self.log.take_unpersisted();
        let hs = self.hard_state();
        // Term and vote must be durable before anything depends on them; the commit index is
        // only a hint for restarts, so it rides along with entries but never costs a sync of
        // its own.
        let vote_changed =
            (hs.term, hs.vote) != (self.last_hard_state.term, self.last_hard_state.vote);
        let hard_state = if vote_changed || (!entries.is_empty() && hs != self.last_hard_state) {
            self.last_hard_state = hs;
            Some(hs)
        } else {
            None
        };
        Ready {
            messages: std::mem::take(&mut self.msgs),
            hard_state,
            entries,
            persist_messages: std::mem::take(&mut self.persist_msgs),
            committed: self.log.take_committed(),
            proposals: std::mem::take(&mut self.proposals_out),
            reads: std::mem::take(&mut self.reads_out),
            membership: std::mem::take(&mut self.membership_changed)
                .then(|| self.membership.clone()),
            send_snapshots: std::mem::take(&mut self.snapshot_sends),
            restored: self.restored.take(),
        }
    }

    /// True if `ready()` would return something to do.
    pub fn has_ready(&self) -> bool {
        !self.msgs.is_empty()
            || !self.persist_msgs.is_empty()
            || !self.proposals_out.is_empty()
            || !self.reads_out.is_empty()
            || self.log.has_unpersisted()
            || self.log.has_unapplied()
            || {
                let hs = self.hard_state();
                (hs.term, hs.vote) != (self.last_hard_state.term, self.last_hard_state.vote)
            }
            || self.membership_changed
            || !self.snapshot_sends.is_empty()
            || self.restored.is_some()
            || (self.role == Role::Leader && (self.heartbeat_now || self.bcast_needed))
            || (self.role != Role::Leader
                && (!self.forward_props.is_empty() || !self.forward_reads.is_empty()))
    }

    // ---- roles ----

    fn become_follower(&mut self, term: u64, leader: NodeId) {
        if term > self.term {
            self.term = term;
            self.vote = 0;
        }
        if self.role == Role::Leader {
            self.step_down_leader();
        }
        if leader != self.leader {
            self.fail_forwarded();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_deadline();
    }

    /// Ends leadership: no more lease, and every read waiting on this leader is refused (safe
    /// to retry). Proposals already appended keep their (term, index): the node learns their
    /// fate when it applies that index.
    fn step_down_leader(&mut self) {
        self.lease_until = 0;
        self.transferee = 0;
        self.progress.clear();
        self.round_sent.clear();
        let pending = std::mem::take(&mut self.pending_reads);
        let early = std::mem::take(&mut self.reads_before_commit);
        for (from, ids) in pending.into_iter().map(|p| (p.from, p.ids)).chain(early) {
            self.answer_read(from, ids, None);
        }
    }

    fn fail_forwarded(&mut self) {
        for (id, p) in std::mem::take(&mut self.props_in_flight) {
            self.proposals_out.push(ProposalOutcome {
                id,
                result: Err(ProposeError::Unanswered { term: p.term }),
            });
        }
        for (id, _) in self.forward_props.drain(..) {
            self.proposals_out.push(ProposalOutcome {
                id,
                result: Err(ProposeError::NoLeader),
            });
        }
        let ids: Vec<ReadId> = self
            .reads_in_flight
            .drain(..)
            .chain(self.forward_reads.drain(..))
            .collect();
        if !ids.is_empty() {
            self.reads_out.push(ReadOutcome {
                ids,
                result: Err(ReadError::Refused),
            });
        }
    }

    fn campaign(&mut self, pre: bool, transfer: bool) {
        let msg_term;
        if pre {
            if self.role == Role::Leader {
                self.step_down_leader();
            }
            if self.leader != 0 {
                self.fail_forwarded();
            }
            self.role = Role::PreCandidate;
            self.leader = 0;
            msg_term = self.term + 1;
        } else {
            self.become_candidate();
            msg_term = self.term;
        }
        self.votes.clear();
        self.reset_election_deadline();
        if pre {
            self.votes.insert(self.id, true);
            if self.votes_granted() >= self.quorum() {
                self.campaign(false, transfer);
                return;
            }
        } else {
            // Even our own vote counts only once it is durable: a candidate that won alone
            // and crashed before syncing its term could win the same term again with a
            // different log (the node loops this message back to us after the sync).
            self.persist_msgs.push(Message {
                from: self.id,
                to: self.id,
                term: self.term,
                body: Body::VoteResp {
                    pre: false,
                    reject: false,
                },
            });
        }
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        let voters: Vec<NodeId> = self.membership.voters.keys().copied().collect();
        for v in voters {
            if v == self.id {
                continue;
            }
            let m = Message {
                from: self.id,
                to: v,
                term: msg_term,
                body: Body::Vote {
                    pre,
                    last_index,
                    last_term,
                    transfer,
                },
            };
            if pre {
                self.msgs.push(m);
            } else {
                // Our vote for ourselves must be durable before anyone can act on it.
                self.persist_msgs.push(m);
            }
        }
    }

    fn become_candidate(&mut self) {
        if self.role == Role::Leader {
            self.step_down_leader();
        }
        if self.leader != 0 {
            self.fail_forwarded();
        }
        self.term += 1;
        self.vote = self.id;
        self.role = Role::Candidate;
        self.leader = 0;
    }

    fn become_leader(&mut self) {
        self.forwards_taken.clear();
        self.forwards_order.clear();
        self.role = Role::Leader;
        self.leader = self.id;
        self.votes.clear();
        self.fail_forwarded();
        self.progress.clear();
        self.sync_progress();
        self.round = 0;
        self.round_sent.clear();
        self.lease_until = 0;
        self.lease_forfeited = false;
        self.transferee = 0;
        self.quorum_check_due = self.now + self.cfg.election_timeout_ms;
        // The no-op: committing it commits every earlier entry (§5.4.2).
        self.append_new(Bytes::new());
        self.bcast_heartbeat();
        self.bcast_needed = true;
    }

    fn append_new(&mut self, data: Bytes) -> (u64, u64) {
        self.append_kind(EntryKind::Normal, data)
    }

    fn append_kind(&mut self, kind: EntryKind, data: Bytes) -> (u64, u64) {
        let index = self.log.last_index() + 1;
        self.log.push(Entry {
            term: self.term,
            index,
            kind,
            data,
        });
        self.bcast_needed = true;
        (self.term, index)
    }

    // ---- membership ----

    /// Proposes one membership change (thesis §4.2: one server at a time). Only the leader
    /// takes it, once it has committed an entry of its term (the fix for the single-server
    /// change bug) and while no other change is uncommitted. The outcome comes out in
    /// `Ready::proposals`, like a write's.
    pub fn propose_conf_change(&mut self, id: ProposalId, change: ConfChange) {
        let result = self.check_conf_change(&change).map(|m| {
            let data = m.encode();
            self.append_kind(EntryKind::ConfChange, data)
        });
        let result = result.map_err(ProposeError::Rejected);
        self.proposals_out.push(ProposalOutcome { id, result });
        self.refresh_membership();
    }

    // ---- snapshots ----

    /// The membership in force at `index` (for a snapshot taken there).
    pub fn membership_at(&self, index: u64) -> Membership {
        self.conf_history
            .iter()
            .rev()
            .find(|(i, _, _)| *i <= index)
            .map_or_else(|| self.base_membership.clone(), |(_, _, m)| m.clone())
    }

    /// The node holds a durable snapshot covering every entry up to `index`: drop them from
    /// memory (§7). Entries not yet applied or persisted stay.
    pub fn compact(&mut self, index: u64) {
        let index = index.min(self.log.applied).min(self.log.persisted);
        if index <= self.log.prev().0 {
            return;
        }
        self.base_membership = self.membership_at(index);
        self.conf_history.retain(|(i, _, _)| *i > index);
        self.log.compact(index);
    }

    /// Leader: the node finished streaming its snapshot to `to` (`ok`), or gave up.
    pub fn snapshot_sent(&mut self, to: NodeId, ok: bool) {
        let Some(pr) = self.progress.get_mut(&to) else {
            return;
        };
        let ProgressState::Snapshot { pending } = pr.state else {
            return;
        };
        pr.become_probe();
        if ok {
            pr.next = pr.next.max(pending + 1);
        } else {
            // Wait for the next heartbeat answer before trying again.
            pr.probe_sent = true;
        }
    }

    /// Follower: the node received a complete snapshot from the leader and loaded it into its
    /// state machine. The log is reset to continue after it (or keeps the entries after it that
    /// match, §7). Returns false, changing nothing, if the snapshot is older than what this
    /// node has committed (the node then keeps its state machine as it was).
    pub fn restore(&mut self, meta: SnapshotMeta) -> bool {
        if meta.index <= self.log.committed {
            return false;
        }
        let discarded = self.log.restore(meta.index, meta.term);
        self.base_membership = meta.membership.clone();
        self.conf_history.retain(|(i, _, _)| *i > meta.index);
        self.refresh_membership();
        self.membership_changed = true;
        if self.leader != 0 {
            let index = meta.index;
            self.send_after_persist(
                self.leader,
                Body::AppendResp {
                    reject: false,
                    index,
                    hint_index: 0,
                    hint_term: 0,
                },
            );
        }
        self.restored = Some((meta, discarded));
        true
    }

    fn check_conf_change(&self, change: &ConfChange) -> Result<Membership, &'static str> {
        if self.role != Role::Leader {
            return Err("membership changes must be sent to the leader");
        }
        if !self.committed_in_term() {
            return Err("the leader has not committed an entry of its term yet");
        }
        if self
            .conf_history
            .last()
            .is_some_and(|(i, _, _)| *i > self.log.committed)
        {
            return Err("another membership change is not committed yet");
        }
        if self.transferee != 0 {
            return Err("a leadership transfer is in progress");
        }
        let mut m = self.membership.clone();
        match change {
            ConfChange::AddLearner { id, addr } => {
                if *id == 0 {
                    return Err("node ids are positive");
                }
                if m.contains(*id) {
                    return Err("the node is already a member");
                }
                m.learners.insert(*id, addr.clone());
            }
            ConfChange::Promote { id } => {
                let Some(addr) = m.learners.remove(id) else {
                    return Err("the node is not a learner");
                };
                // A voter that cannot keep up would stall commits (thesis §4.2.1): promote a
                // learner only once it is replicating, was heard from within an election
                // timeout, and trails the commit index by at most a few batches.
                let caught_up = self.progress.get(id).is_some_and(|p| {
                    p.state == ProgressState::Replicate
                        && self.now < p.last_contact_ms + self.cfg.election_timeout_ms
                        && p.matched + PROMOTE_LAG_ENTRIES_MAX >= self.log.committed
                });
                if !caught_up {
                    return Err("the learner has not caught up with the log yet");
                }
                m.voters.insert(*id, addr);
            }
            ConfChange::Remove { id } => {
                if m.voters.remove(id).is_none() && m.learners.remove(id).is_none() {
                    return Err("the node is not a member");
                }
                if m.voters.is_empty() {
                    return Err("cannot remove the last voter");
                }
            }
        }
        Ok(m)
    }

    /// Recomputes the membership in force from the log's ConfChange entries.
    fn refresh_membership(&mut self) {
        let log = &self.log;
        self.conf_history
            .retain(|(i, t, _)| log.term(*i) == Some(*t));
        let after = self.conf_history.last().map_or(0, |(i, _, _)| *i);
        for e in log.entries().filter(|e| e.index > after) {
            if e.kind == EntryKind::ConfChange {
                let m = Membership::decode(&e.data).expect("raft: undecodable membership entry");
                self.conf_history.push((e.index, e.term, m));
            }
        }
        let current = self
            .conf_history
            .last()
            .map_or_else(|| self.base_membership.clone(), |(_, _, m)| m.clone());
        if current != self.membership {
            self.membership = current;
            self.membership_changed = true;
            if self.role == Role::Leader {
                self.sync_progress();
            }
        }
    }

    /// The leader tracks every member but itself.
    fn sync_progress(&mut self) {
        let next = self.log.last_index() + 1;
        let members: Vec<NodeId> = self
            .membership
            .members()
            .map(|(id, _, _)| id)
            .filter(|&id| id != self.id)
            .collect();
        self.progress.retain(|id, _| members.contains(id));
        for id in members {
            self.progress
                .entry(id)
                .or_insert_with(|| Progress::new(next, self.cfg.max_inflight_msgs));
        }
        if self.transferee != 0 && !self.is_voter(self.transferee) {
            self.transferee = 0;
        }
    }

    /// A node that heard from a live leader within the minimum election timeout refuses to
    /// vote for anyone else (check-quorum's lease; thesis §4.2.3 and §6.4.1).
    /// A node that has just started counts as in a lease too: it may have acknowledged a
    /// leader's heartbeat round just before it crashed, and forgot it.
    fn in_lease(&self) -> bool {
        match self.role {
            Role::Leader => true,
            _ => {
                self.now < self.started_lease_until
                    || (self.leader != 0
                        && self.now < self.leader_contact + self.cfg.election_timeout_ms)
            }
        }
    }

    fn reset_election_deadline(&mut self) {
        let eto = self.cfg.election_timeout_ms;
        self.election_deadline = self.now + eto + self.next_rand() % eto;
    }

    fn next_rand(&mut self) -> u64 {
        // xorshift64*: deterministic from the configured seed.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn check_quorum(&mut self) {
        let me = usize::from(self.is_voter(self.id));
        let active = me
            + self
                .progress
                .iter()
                .filter(|(id, p)| p.recent_active && self.membership.is_voter(**id))
                .count();
        for p in self.progress.values_mut() {
            p.recent_active = false;
        }
        self.quorum_check_due = self.now + self.cfg.election_timeout_ms;
        if active < self.quorum() {
            self.become_follower(self.term, 0);
        }
    }

    // ---- messages by kind ----

    fn send(&mut self, to: NodeId, body: Body) {
        self.msgs.push(Message {
            from: self.id,
            to,
            term: self.term,
            body,
        });
    }

    /// Sends once everything handed out for persistence so far (votes, terms, entries) is
    /// durable.
    fn send_after_persist(&mut self, to: NodeId, body: Body) {
        self.persist_msgs.push(Message {
            from: self.id,
            to,
            term: self.term,
            body,
        });
    }

    fn answer_stale(&mut self, m: Message) {
        match m.body {
            // Tell a deposed leader about the newer term, so that it steps down.
            Body::Append { .. } | Body::Heartbeat { .. } => {
                self.send(m.from, Body::HeartbeatResp { round: 0 })
            }
            // A candidate behind in term learns the newer one from the refusal, so that its
            // next campaign is not stale again (its RequestVote reply carries our term).
            Body::Vote { pre, .. } => self.send(m.from, Body::VoteResp { pre, reject: true }),
            Body::Propose { proposals } => {
                let results = proposals.into_iter().map(|(id, _)| (id, None)).collect();
                self.send(m.from, Body::ProposeResp { results });
            }
            Body::ReadIndex { ids } => self.send(m.from, Body::ReadIndexResp { ids, index: None }),
            _ => {}
        }
    }

    fn handle_vote(&mut self, from: NodeId, term: u64, pre: bool, last_index: u64, last_term: u64) {
        let can_vote =
            self.vote == from || (self.vote == 0 && self.leader == 0) || (pre && term > self.term);
        if can_vote && self.log.is_up_to_date(last_index, last_term) {
            if pre {
                self.msgs.push(Message {
                    from: self.id,
                    to: from,
                    term,
                    body: Body::VoteResp {
                        pre: true,
                        reject: false,
                    },
                });
            } else {
                self.vote = from;
                self.reset_election_deadline();
                self.send_after_persist(
                    from,
                    Body::VoteResp {
                        pre: false,
                        reject: false,
                    },
                );
            }
        } else {
            self.send(from, Body::VoteResp { pre, reject: true });
        }
    }

    fn handle_vote_resp(&mut self, from: NodeId, pre: bool, reject: bool) {
        let expected = match self.role {
            Role::PreCandidate => pre,
            Role::Candidate => !pre,
            _ => return,
        };
        if !expected || !self.is_voter(from) {
            return;
        }
        self.votes.insert(from, !reject);
        let granted = self.votes_granted();
        let rejected = self
            .votes
            .iter()
            .filter(|(id, g)| !**g && self.membership.is_voter(**id))
            .count();
        if granted >= self.quorum() {
            if pre {
                self.campaign(false, false);
            } else {
                self.become_leader();
            }
        } else if rejected >= self.quorum() {
            self.become_follower(self.term, 0);
        }
    }

    /// Votes granted by voters of the membership in force (a removed candidate's own vote
    /// does not count).
    fn votes_granted(&self) -> usize {
        self.votes
            .iter()
            .filter(|(id, g)| **g && self.membership.is_voter(**id))
            .count()
    }

    /// Voters campaign. So does a server whose removal is not committed yet: until it is, the
    /// group may still need it to elect a leader (thesis §4.2.2).
    fn can_campaign(&self) -> bool {
        if self.is_voter(self.id) {
            return true;
        }
        let n = self.conf_history.len();
        match self.conf_history.last() {
            Some((index, _, _)) if *index > self.log.committed => {
                let previous = if n >= 2 {
                    &self.conf_history[n - 2].2
                } else {
                    &self.base_membership
                };
                previous.is_voter(self.id)
            }
            _ => false,
        }
    }

    fn heard_from_leader(&mut self, from: NodeId) {
        if self.role != Role::Follower || self.leader != from {
            assert!(
                self.role != Role::Leader,
                "raft: two leaders in term {}",
                self.term
            );
            self.become_follower(self.term, from);
        }
        self.leader_contact = self.now;
        self.reset_election_deadline();
    }

    fn handle_append(
        &mut self,
        from: NodeId,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    ) {
        self.heard_from_leader(from);
        if prev_index < self.log.committed {
            let index = self.log.committed;
            self.send_after_persist(
                from,
                Body::AppendResp {
                    reject: false,
                    index,
                    hint_index: 0,
                    hint_term: 0,
                },
            );
            return;
        }
        if self.log.matches(prev_index, prev_term) {
            let last = prev_index + entries.len() as u64;
            if !entries.is_empty() {
                let conf = entries.iter().any(|e| e.kind == EntryKind::ConfChange);
                let conflict = entries
                    .iter()
                    .any(|e| self.log.term(e.index).is_some_and(|t| t != e.term));
                self.log.append_from_leader(entries);
                if conf || conflict {
                    self.refresh_membership();
                }
            }
            self.log.commit_to(commit.min(last));
            self.send_after_persist(
                from,
                Body::AppendResp {
                    reject: false,
                    index: last,
                    hint_index: 0,
                    hint_term: 0,
                },
            );
        } else {
            let hint = prev_index.min(self.log.last_index());
            let hint_index = self.log.find_conflict_by_term(hint, prev_term);
            let hint_term = self.log.term(hint_index).unwrap_or(0);
            self.send(
                from,
                Body::AppendResp {
                    reject: true,
                    index: prev_index,
                    hint_index,
                    hint_term,
                },
            );
        }
    }

    fn handle_heartbeat(&mut self, from: NodeId, commit: u64, round: u64) {
        self.heard_from_leader(from);
        // The leader never sends a commit index beyond what it knows this log matches.
        self.log.commit_to(commit);
        self.send(from, Body::HeartbeatResp { round });
    }

    fn handle_append_resp(
        &mut self,
        from: NodeId,
        reject: bool,
        index: u64,
        hint_index: u64,
        hint_term: u64,
    ) {
        if self.role != Role::Leader {
            return;
        }
        let now = self.now;
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        pr.last_contact_ms = now;
        if reject {
            let hint = if hint_term > 0 {
                self.log.find_conflict_by_term(hint_index, hint_term)
            } else {
                hint_index
            };
            if pr.maybe_decr_to(index, hint) {
                if pr.state == ProgressState::Replicate {
                    pr.become_probe();
                }
                self.send_append(from);
            }
            return;
        }
        if pr.maybe_update(index) {
            match pr.state {
                ProgressState::Probe => pr.become_replicate(),
                ProgressState::Snapshot { pending } if pr.matched >= pending => {
                    pr.become_replicate()
                }
                _ => {}
            }
            if self.maybe_commit() {
                self.bcast_needed = true;
            }
        }
        if let Some(pr) = self.progress.get_mut(&from) {
            pr.inflights.free_to(index);
        }
        if from == self.transferee
            && self
                .progress
                .get(&from)
                .is_some_and(|p| p.matched == self.log.last_index())
        {
            self.send_timeout_now(from);
        }
        while self.send_append(from) {}
    }

    fn handle_heartbeat_resp(&mut self, from: NodeId, round: u64) {
        if self.role != Role::Leader {
            return;
        }
        let now = self.now;
        let last = self.log.last_index();
        let Some(pr) = self.progress.get_mut(&from) else {
            return;
        };
        pr.recent_active = true;
        pr.last_contact_ms = now;
        pr.probe_sent = false;
        pr.acked_round = pr.acked_round.max(round);
        if pr.matched < last || pr.state == ProgressState::Probe {
            // Also when the in-flight window is full or everything was sent: if those
            // messages were lost, the (possibly empty) append exposes the gap and the
            // follower's rejection moves it back to probing.
            self.send_append_forced(from);
        }
        self.on_round_acked();
    }

    fn handle_propose(&mut self, from: NodeId, proposals: Vec<(ProposalId, Bytes)>) {
        let leading = self.role == Role::Leader;
        let mut results = Vec::with_capacity(proposals.len());
        for (id, data) in proposals {
            // A duplicated message must not append the write twice: the same answer again.
            let seen = self.forwards_taken.get(&(from, id)).copied();
            let r = match seen {
                Some(placed) if leading => Some(placed),
                None if leading && self.transferee == 0 => {
                    let placed = self.append_new(data);
                    self.forwards_taken.insert((from, id), placed);
                    self.forwards_order.push_back((from, id));
                    if self.forwards_order.len() > FORWARDS_REMEMBERED {
                        if let Some(old) = self.forwards_order.pop_front() {
                            self.forwards_taken.remove(&old);
                        }
                    }
                    Some(placed)
                }
                _ => None,
            };
            results.push((id, r));
        }
        self.send(from, Body::ProposeResp { results });
    }

    /// Takes an answer about a forwarded proposal from the node it went to, in any term.
    fn answer_forwarded(
        &mut self,
        from: NodeId,
        id: ProposalId,
        result: Result<(u64, u64), ProposeError>,
    ) {
        if self.props_in_flight.get(&id).is_some_and(|p| p.to == from) {
            self.props_in_flight.remove(&id);
            self.proposals_out.push(ProposalOutcome { id, result });
        }
    }

    /// Forwarded proposals the leader never answered although it stayed in place (a lost
    /// message): reported unanswered.
    fn give_up_forwarded(&mut self) {
        let now = self.now;
        if !self.props_in_flight.values().any(|p| p.give_up <= now) {
            return;
        }
        let out = &mut self.proposals_out;
        self.props_in_flight.retain(|&id, p| {
            if p.give_up > now {
                return true;
            }
            out.push(ProposalOutcome {
                id,
                result: Err(ProposeError::Unanswered { term: p.term }),
            });
            false
        });
    }

    fn handle_read_index_resp(&mut self, from: NodeId, ids: Vec<ReadId>, index: Option<u64>) {
        if from != self.leader {
            return;
        }
        let ids: Vec<ReadId> = ids
            .into_iter()
            .filter(
                |id| match self.reads_in_flight.iter().position(|r| r == id) {
                    Some(pos) => {
                        self.reads_in_flight.swap_remove(pos);
                        true
                    }
                    None => false,
                },
            )
            .collect();
        if !ids.is_empty() {
            self.reads_out.push(ReadOutcome {
                ids,
                result: index.ok_or(ReadError::Refused),
            });
        }
    }

    fn flush_forwarded(&mut self) {
        if self.leader == 0 {
            return;
        }
        if !self.forward_props.is_empty() {
            let proposals = std::mem::take(&mut self.forward_props);
            let (to, term) = (self.leader, self.term);
            // A leader that stays in place answers at once unless the message was lost (a
            // connection reset): then nobody knows, and the id must not stay here forever.
            let give_up = self.now + FORWARD_SILENCE_TIMEOUTS * self.cfg.election_timeout_ms;
            let sent = InFlight { to, term, give_up };
            self.props_in_flight
                .extend(proposals.iter().map(|(id, _)| (*id, sent)));
            self.send(self.leader, Body::Propose { proposals });
        }
        if !self.forward_reads.is_empty() {
            let ids = std::mem::take(&mut self.forward_reads);
            self.reads_in_flight.extend(&ids);
            self.send(self.leader, Body::ReadIndex { ids });
        }
    }

    // ---- leader: replication ----

    fn bcast_append(&mut self) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for p in peers {
            // Send entries, or an empty append to carry a new commit index.
            if !self.send_append(p) {
                self.send_commit(p);
            }
        }
    }

    /// Sends the follower its next entries if it is not paused and has some to receive.
    /// Returns whether a message was sent.
    fn send_append(&mut self, to: NodeId) -> bool {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get(&to) else {
            return false;
        };
        if pr.paused() || pr.next > last {
            return false;
        }
        let prev_index = pr.next - 1;
        let Some(prev_term) = self.log.term(prev_index) else {
            self.start_snapshot(to);
            return false;
        };
        let entries = self.log.slice(pr.next, last, self.cfg.max_msg_bytes);
        let sent_last = prev_index + entries.len() as u64;
        let commit = self.log.committed;
        self.progress
            .get_mut(&to)
            .expect("peer")
            .sent(sent_last, !entries.is_empty());
        self.send(
            to,
            Body::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
        true
    }

    /// The entries `to` needs were compacted away: it gets the snapshot instead (§7).
    fn start_snapshot(&mut self, to: NodeId) {
        let pending = self.log.prev().0;
        if let Some(pr) = self.progress.get_mut(&to) {
            pr.become_snapshot(pending);
            self.snapshot_sends.push(to);
        }
    }

    /// Sends one append even if the window is full, empty if everything was sent already.
    fn send_append_forced(&mut self, to: NodeId) {
        let last = self.log.last_index();
        let Some(pr) = self.progress.get(&to) else {
            return;
        };
        if matches!(pr.state, ProgressState::Snapshot { .. }) {
            return;
        }
        let prev_index = pr.next - 1;
        let Some(prev_term) = self.log.term(prev_index) else {
            self.start_snapshot(to);
            return;
        };
        let entries = if pr.state == ProgressState::Probe || !pr.inflights.full() {
            self.log.slice(pr.next, last, self.cfg.max_msg_bytes)
        } else {
            Vec::new()
        };
        let sent_last = prev_index + entries.len() as u64;
        let commit = self.log.committed;
        let pr = self.progress.get_mut(&to).expect("peer");
        if !entries.is_empty() || pr.state == ProgressState::Probe {
            pr.sent(sent_last, !entries.is_empty());
        }
        self.send(
            to,
            Body::Append {
                prev_index,
                prev_term,
                entries,
                commit,
            },
        );
    }

    /// An empty append that carries the commit index, when the follower is up to date.
    fn send_commit(&mut self, to: NodeId) {
        let Some(pr) = self.progress.get(&to) else {
            return;
        };
        if pr.state != ProgressState::Replicate || pr.next != self.log.last_index() + 1 {
            return;
        }
        let prev_index = pr.next - 1;
        let Some(prev_term) = self.log.term(prev_index) else {
            return;
        };
        let commit = self.log.committed;
        self.send(
            to,
            Body::Append {
                prev_index,
                prev_term,
                entries: Vec::new(),
                commit,
            },
        );
    }

    fn bcast_heartbeat(&mut self) {
        self.round += 1;
        self.round_sent.push_back((self.round, self.now));
        self.heartbeat_due = self.now + self.cfg.heartbeat_interval_ms;
        self.heartbeat_now = false;
        let round = self.round;
        let targets: Vec<(NodeId, u64)> = self
            .progress
            .iter()
            .map(|(id, p)| (*id, p.matched.min(self.log.committed)))
            .collect();
        for (to, commit) in targets {
            self.send(to, Body::Heartbeat { commit, round });
        }
        self.on_round_acked();
    }

    /// The commit rule (§5.3, §5.4.2): the highest index stored on a quorum, if it is of this
    /// term. The leader counts itself only for what it has persisted.
    fn maybe_commit(&mut self) -> bool {
        let mut matched: Vec<u64> = self
            .progress
            .iter()
            .filter(|(id, _)| self.membership.is_voter(**id))
            .map(|(_, p)| p.matched)
            .collect();
        if self.is_voter(self.id) {
            matched.push(self.log.persisted);
        }
        if matched.len() < self.quorum() {
            return false;
        }
        matched.sort_unstable_by(|a, b| b.cmp(a));
        let index = matched[self.quorum() - 1];
        if index > self.log.committed && self.log.term(index) == Some(self.term) {
            let first_in_term = !self.committed_in_term();
            self.log.commit_to(index);
            if !self.is_voter(self.id)
                && self
                    .conf_history
                    .last()
                    .is_some_and(|(i, _, _)| *i <= self.log.committed)
            {
                // Thesis §4.2.2: a leader removed from the group leads until that change
                // commits, then steps down.
                self.become_follower(self.term, 0);
                return true;
            }
            if first_in_term {
                for (from, ids) in std::mem::take(&mut self.reads_before_commit) {
                    self.leader_read(from, ids);
                }
                self.on_round_acked();
            }
            return true;
        }
        false
    }

    // ---- leader: lease and read index ----

    fn leader_read(&mut self, from: NodeId, ids: Vec<ReadId>) {
        if !self.committed_in_term() {
            self.reads_before_commit.push((from, ids));
            return;
        }
        let index = self.log.committed;
        if self.now < self.lease_until {
            self.answer_read(from, ids, Some(index));
        } else {
            self.pending_reads.push(PendingRead {
                from,
                ids,
                index,
                round: self.round + 1,
            });
            self.heartbeat_now = true;
        }
    }

    fn answer_read(&mut self, from: NodeId, ids: Vec<ReadId>, index: Option<u64>) {
        if from == self.id {
            let result = index.ok_or(ReadError::Refused);
            self.reads_out.push(ReadOutcome { ids, result });
        } else {
            self.send(from, Body::ReadIndexResp { ids, index });
        }
    }

    /// The highest heartbeat round a quorum (this leader included) has acknowledged.
    fn quorum_round(&self) -> u64 {
        let mut rounds: Vec<u64> = self
            .progress
            .iter()
            .filter(|(id, _)| self.membership.is_voter(**id))
            .map(|(_, p)| p.acked_round)
            .collect();
        if self.is_voter(self.id) {
            rounds.push(self.round);
        }
        rounds.sort_unstable_by(|a, b| b.cmp(a));
        rounds.get(self.quorum() - 1).copied().unwrap_or(0)
    }

    fn on_round_acked(&mut self) {
        let acked = self.quorum_round();
        while let Some(&(round, sent)) = self.round_sent.front() {
            if round > acked {
                break;
            }
            if self.transferee == 0 && !self.lease_forfeited {
                self.lease_until = self.lease_until.max(sent + self.cfg.lease_ms());
            }
            self.round_sent.pop_front();
        }
        if !self.committed_in_term() || self.pending_reads.is_empty() {
            return;
        }
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_reads)
            .into_iter()
            .partition(|p| p.round <= acked);
        self.pending_reads = waiting;
        for p in ready {
            self.answer_read(p.from, p.ids, Some(p.index));
        }
    }
}
