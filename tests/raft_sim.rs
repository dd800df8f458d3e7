//! Deterministic simulation of a raftis Raft group: the sans-IO core, with each node's log in
//! the real WAL (`raftis::wal::Wal`) on the fault-injecting in-memory disk (`MemDisk`).
//!
//! One seed drives everything: message delay, loss, duplication and reordering, asymmetric
//! partitions, nodes that pause (SIGSTOP) and resume, crashes that are power losses (whatever
//! was written but not synced is lost or torn, page by page), failed syncs and full disks (the
//! node stops and restarts), and flipped bits in a down node's WAL segments (on one node per
//! seed, where membership is static, so a majority's disks stay healthy). Writes reach the WAL
//! when the core hands them out and are reported durable only after a sync that covered them;
//! a restart recovers from the WAL exactly as the node does (snapshot, then the log after it).
//!
//! After every step the checkers verify Raft's safety properties (§5.2 election safety, §5.3
//! log matching, §5.4 leader completeness, state-machine safety) plus two client properties:
//! an acknowledged write is never lost, a read index is never below a write acknowledged
//! before the read was asked for (linearizable reads, including lease reads), and a write a
//! node answered "not committed" (its tracker, `raftis::raft::fate`, the node's own) is never
//! applied anywhere, and no write is applied twice (a duplicated Propose message is not
//! appended again). At each restart
//! the WAL must return everything its last sync covered, unless a bit was flipped: then the
//! node refuses to start when recovery says synced records are lost. Half the seeds run with
//! `wal-marker-before-ack yes` (a sync is reported only once the marker after it is durable):
//! there every flip that loses synced records must be reported. In the others a flip in the
//! last synced batch, which recovery cannot tell from a torn write, is counted and the node
//! kept down (docs/ARCHITECTURE.md, "Recovery rules"). Each run ends with the faults healed and
//! requires the group to converge (liveness).
//!
//! `RAFT_SIM_SEEDS=n` runs seeds 0..n (default 10,000); `RAFT_SIM_SEED=s` runs one seed and
//! prints its trace. A failure prints the seed that reproduces it.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use std::path::PathBuf;

use bytes::Bytes;
use raftis::raft::fate::{Fate, Tracker};
use raftis::raft::{
    ConfChange, Config, Entry, EntryKind, HardState, Membership, Message, NodeId, ProposeError,
    Raft, Ready, Restored, Role, SnapshotMeta,
};
use raftis::wal::{MemDisk, Wal, WalOptions};

/// Proposal ids of membership changes (not client writes: not checked for durability).
const CONF_CHANGE_IDS: u64 = 1 << 62;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// A node's storage: the real WAL on a fault-injecting in-memory disk, and the snapshot file
/// (modelled: written and synced before the core is told about it).
struct Disk {
    snapshot: Option<SnapshotMeta>,
    mem: MemDisk,
    /// Open while the node runs.
    wal: Option<Wal>,
    /// Bits of synced records were flipped while the node was down (at most one node per
    /// seed): if recovery says synced records are lost, the node refuses to start for good.
    damaged: bool,
    refused: bool,
    /// What the last successful sync made durable: the hard state and the last entry.
    durable_hs: HardState,
    durable_last: Option<(u64, u64)>,
    /// A write pending at the last crash could have replaced the durable last entry (a reset,
    /// or an entry at or below it), and may have survived: recovery may rightly differ there.
    superseded: bool,
}

/// Written to the WAL (not yet synced): what to report once a sync covers it.
struct PendingWrite {
    hs: Option<HardState>,
    /// The last entry this write leaves in the log (after a reset: the snapshot's).
    durable: Option<(u64, u64)>,
    /// The lowest index this write may replace from (a reset: 0).
    replaces_from: Option<u64>,
    last: Option<(u64, u64)>,
    msgs: Vec<Message>,
}

/// WAL segments this small roll over every few entries, so recovery crosses segments.
const SIM_SEGMENT_BYTES: u64 = 2048;

fn wal_dir(id: NodeId) -> PathBuf {
    PathBuf::from(format!("/sim/n{id}/wal"))
}

struct Node {
    id: NodeId,
    raft: Option<Raft>,
    disk: Disk,
    unsynced: VecDeque<PendingWrite>,
    down_until: u64,
    paused_until: u64,
    /// Applied entries (index -> term) in this incarnation, for state-machine safety.
    applied_upto: u64,
    /// What became of this incarnation's client writes (the node's tracker): the waiter is
    /// the written value.
    writes: Tracker<u64>,
    /// Reads asked for on this node: read id -> highest acknowledged index when asked.
    reads: HashMap<u64, u64>,
    /// Client proposals made on this incarnation and not answered yet: each gets exactly one
    /// outcome while the node runs.
    unanswered: HashSet<u64>,
}

struct Faults {
    drop: u64,
    dup: u64,
    crash: u64,
    pause: u64,
    partition: u64,
    transfer: u64,
    conf_change: u64,
    snapshot: u64,
    max_delay: u64,
    /// Per mille of WAL writes that meet a full disk, and of syncs that fail.
    disk: u64,
    /// Per mille of restarts preceded by a flipped bit in the node's WAL files (only where
    /// membership is static, and on one node per seed: a majority's disks stay healthy).
    flip: u64,
    /// Nodes run with `wal-marker-before-ack yes`: a sync is reported only once the sync
    /// marker after it is durable too (`Wal::flush_marker`).
    marker_before_ack: bool,
}

struct Sim {
    seed: u64,
    /// The voters the group starts with; the other nodes wait to be added.
    initial: usize,
    rng: Rng,
    now: u64,
    nodes: Vec<Node>,
    net: Vec<(u64, Message)>,
    /// Directed links that drop everything.
    cut: Vec<(NodeId, NodeId)>,
    cfg: Config,
    faults: Faults,
    // Global knowledge for the checkers.
    leaders: HashMap<u64, NodeId>,
    /// (term, index) -> (data, term of the entry before it): log matching.
    entries_seen: HashMap<(u64, u64), (Bytes, u64)>,
    /// index -> (term, data) of every applied (hence committed) entry.
    committed: BTreeMap<u64, (u64, Bytes)>,
    /// index -> the lowest term a node was in when it applied the entry: the entry was
    /// committed in that term or earlier, so every leader of a later term must hold it.
    committed_by_term: BTreeMap<u64, u64>,
    /// value -> index of acknowledged writes.
    acked: HashMap<u64, u64>,
    max_acked_index: u64,
    /// Snapshots on their way: (arrival, from, to, meta, lost).
    snapshots_in_flight: Vec<(u64, NodeId, NodeId, SnapshotMeta, bool)>,
    next_value: u64,
    next_read: u64,
    trace: bool,
    steps: u64,
    reads_checked: u64,
    /// Disk faults that struck: failed syncs, full disks, flipped bits, refused restarts,
    /// undetectable damage to a last synced batch.
    disk_faults: [u64; 5],
    /// Client proposals as the core answered them: placed at an index, refused (nothing
    /// appended), forwarded and unanswered.
    outcomes: [u64; 3],
    /// Client writes as the trackers settled them: applied, not committed, unknown.
    fates: [u64; 3],
    /// Values of applied writes (-> the index they were applied at), and of writes a node
    /// answered "not committed".
    committed_values: HashMap<u64, u64>,
    declared_not_committed: HashSet<u64>,
}

impl Sim {
    fn new(seed: u64, n: usize, trace: bool) -> Sim {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let cfg = Config {
            id: 0,
            election_timeout_ms: 100,
            heartbeat_interval_ms: 20,
            lease_margin_ms: 10,
            max_msg_bytes: 64 + (rng.below(4) as usize) * 64,
            max_inflight_msgs: 1 + rng.below(4) as usize,
            seed,
        };
        let mut faults = Faults {
            drop: rng.below(80),
            dup: rng.below(30),
            crash: rng.below(4),
            pause: rng.below(3),
            partition: rng.below(6),
            transfer: rng.below(8),
            conf_change: rng.below(10),
            snapshot: rng.below(20),
            max_delay: 1 + rng.below(12),
            disk: 0,
            flip: 0,
            marker_before_ack: false,
        };
        // Disk faults come from their own sequence, so that the other faults of a seed stay
        // what they were before disks could fail.
        let mut disk_rng = Rng(seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1);
        if disk_rng.chance(500) {
            faults.disk = 1 + disk_rng.below(6);
        }
        if faults.conf_change == 0 {
            faults.flip = 100 + disk_rng.below(400);
        }
        faults.marker_before_ack = disk_rng.chance(500);
        let mut sim = Sim {
            seed,
            initial: n,
            rng,
            now: 0,
            nodes: Vec::new(),
            net: Vec::new(),
            cut: Vec::new(),
            cfg,
            faults,
            leaders: HashMap::new(),
            entries_seen: HashMap::new(),
            committed: BTreeMap::new(),
            committed_by_term: BTreeMap::new(),
            acked: HashMap::new(),
            max_acked_index: 0,
            snapshots_in_flight: Vec::new(),
            next_value: 1,
            next_read: 1,
            trace,
            steps: 0,
            reads_checked: 0,
            disk_faults: [0; 5],
            outcomes: [0; 3],
            fates: [0; 3],
            committed_values: HashMap::new(),
            declared_not_committed: HashSet::new(),
        };
        for id in 1..=n as u64 + 2 {
            sim.nodes.push(Node {
                id,
                raft: None,
                disk: Disk {
                    snapshot: None,
                    mem: MemDisk::new(seed ^ id.wrapping_mul(0x2545_F491_4F6C_DD1D)),
                    wal: None,
                    damaged: false,
                    refused: false,
                    durable_hs: HardState::default(),
                    durable_last: None,
                    superseded: false,
                },
                unsynced: VecDeque::new(),
                down_until: 0,
                paused_until: 0,
                applied_upto: 0,
                writes: Tracker::new(0, 0),
                unanswered: HashSet::new(),
                reads: HashMap::new(),
            });
            sim.start(id);
        }
        sim
    }

    fn fail(&self, what: String) -> ! {
        panic!("raft_sim seed {} failed at t={}ms: {what}\n  reproduce: RAFT_SIM_SEED={} cargo test --test raft_sim -- --nocapture", self.seed, self.now, self.seed);
    }

    fn log(&self, s: impl FnOnce() -> String) {
        if self.trace {
            println!("{:>6} {}", self.now, s());
        }
    }

    fn start(&mut self, id: NodeId) {
        let mut cfg = self.cfg.clone();
        cfg.id = id;
        cfg.seed = self.rng.next();
        let n = &mut self.nodes[id as usize - 1];
        let mut bootstrap = Membership::default();
        if (id as usize) <= self.initial {
            for v in 1..=self.initial as u64 {
                bootstrap.voters.insert(v, format!("n{v}"));
            }
        }
        // Recovery, as the node does it: the WAL first (a torn or unsynced tail is cut), then
        // §7: the log continues after the snapshot if it holds the snapshot's last entry;
        // otherwise it is reset, durably, to continue after the snapshot.
        let (snap, mem, damaged) = (n.disk.snapshot.clone(), n.disk.mem.clone(), n.disk.damaged);
        let opts = WalOptions {
            dir: wal_dir(id),
            segment_bytes: SIM_SEGMENT_BYTES,
        };
        let (mut wal, rec) = match Wal::open_with(opts, Box::new(mem)) {
            Ok(x) => x,
            Err(e) => self.fail(format!("n{id}: the WAL does not open: {e}")),
        };
        self.log(|| {
            format!(
                "n{id} recovers entries {}..{} (prev term {}), {:?}, cut {:?}, damage {:?}",
                rec.first_index,
                rec.first_index + rec.entries.len() as u64,
                rec.prev_term,
                rec.hard_state,
                rec.cut,
                rec.damage
            )
        });
        // What the last sync covered must be there (or compacted behind the snapshot).
        let (dhs, dlast) = {
            let d = &self.nodes[id as usize - 1].disk;
            (d.durable_hs, d.durable_last.filter(|_| !d.superseded))
        };
        let snap_index = snap.as_ref().map_or(0, |m| m.index);
        let entry_kept = |(index, term): (u64, u64)| {
            index <= snap_index
                || index < rec.first_index && rec.first_index > 1
                || rec
                    .entries
                    .iter()
                    .any(|e| e.index == index && e.term == term)
        };
        let lost = rec.hard_state.term < dhs.term
            || (rec.hard_state.term == dhs.term
                && dhs.vote != 0
                && rec.hard_state.vote != dhs.vote)
            || dlast.is_some_and(|l| !entry_kept(l));
        if lost && rec.lost_synced.is_none() {
            if !damaged {
                self.fail(format!(
                    "n{id}: recovery lost synced records with no damage: durable {dhs:?} {dlast:?}"
                ));
            }
            if self.faults.marker_before_ack {
                self.fail(format!(
                    "n{id}: damage to synced records went unreported although every reported \
                     sync had its marker durable: durable {dhs:?} {dlast:?}"
                ));
            }
            // A flipped bit in the last synced batch, whose sync marker was not durable yet,
            // looks like a torn write of an unfinished sync: recovery cannot tell, and cuts it
            // (docs/ARCHITECTURE.md). The known limit of `wal-marker-before-ack no`: the node
            // is kept down, as an operator who knows the disk was damaged would, and the case
            // is counted.
            self.disk_faults[4] += 1;
            let n = &mut self.nodes[id as usize - 1];
            n.disk.refused = true;
            n.down_until = u64::MAX;
            self.log(|| {
                format!("n{id}: damage to its last synced batch went undetected; kept down")
            });
            return;
        }
        if rec.lost_synced.is_some() {
            if !damaged {
                self.fail(format!(
                    "n{id}: recovery reports lost synced records without damage: {:?}",
                    rec.lost_synced
                ));
            }
            // The node refuses to start (it may have acknowledged what it lost).
            let n = &mut self.nodes[id as usize - 1];
            n.disk.refused = true;
            self.disk_faults[3] += 1;
            n.down_until = u64::MAX;
            self.log(|| format!("n{id} refuses to start: its WAL lost synced records"));
            return;
        }
        let entries: Vec<Entry> = match &snap {
            None => {
                if rec.first_index != 1 {
                    self.fail(format!(
                        "n{id}: log starts at {} with no snapshot",
                        rec.first_index
                    ));
                }
                rec.entries
            }
            Some(m) => {
                let holds = rec
                    .entries
                    .iter()
                    .any(|e| e.index == m.index && e.term == m.term)
                    || (rec.first_index == m.index + 1 && rec.prev_term == m.term);
                if holds {
                    rec.entries
                        .into_iter()
                        .filter(|e| e.index > m.index)
                        .collect()
                } else if rec.first_index > m.index + 1 {
                    self.fail(format!(
                        "n{id}: log starts at {} after the snapshot at {}",
                        rec.first_index, m.index
                    ));
                } else {
                    if let Err(e) = wal
                        .reset(m.index, m.term, &rec.hard_state)
                        .and_then(|_| wal.sync())
                    {
                        self.fail(format!("n{id}: reset after the snapshot failed: {e}"));
                    }
                    Vec::new()
                }
            }
        };
        let n = &mut self.nodes[id as usize - 1];
        // What recovery returned is durable: later checks start from it.
        n.disk.durable_hs = rec.hard_state;
        n.disk.durable_last = entries.last().map(|e| (e.index, e.term));
        n.disk.superseded = false;
        n.disk.wal = Some(wal);
        let restored = Restored {
            hard_state: rec.hard_state,
            snapshot: snap.clone(),
            entries,
        };
        let raft = Raft::new(cfg, restored, bootstrap, self.now);
        n.raft = Some(raft);
        n.applied_upto = snap.as_ref().map_or(0, |m| m.index);
        n.writes = Tracker::new(
            snap.as_ref().map_or(0, |m| m.index),
            snap.as_ref().map_or(0, |m| m.term),
        );
        n.reads.clear();
        n.unanswered.clear();
    }

    fn crash(&mut self, id: NodeId) {
        let down = 20 + self.rng.below(300);
        let n = &mut self.nodes[id as usize - 1];
        n.raft = None;
        let durable_index = n.disk.durable_last.map_or(0, |(i, _)| i);
        n.disk.superseded = n
            .unsynced
            .iter()
            .any(|w| w.replaces_from.is_some_and(|f| f <= durable_index));
        n.unsynced.clear();
        // Power loss: what was not synced is lost or torn, page by page.
        n.disk.wal = None;
        n.disk.mem.crash();
        n.disk.mem.set_capacity(None);
        n.down_until = self.now + down;
        n.paused_until = 0;
        self.log(|| format!("n{id} crashes (loses unsynced writes), down {down}ms"));
    }

    /// Flips one bit somewhere in node `i`'s WAL files (it is down), if no other node's disk
    /// was damaged in this seed.
    fn flip_a_bit(&mut self, i: usize) {
        if self
            .nodes
            .iter()
            .enumerate()
            .any(|(j, n)| j != i && n.disk.damaged)
        {
            return;
        }
        let files = self.nodes[i].disk.mem.files();
        let files: Vec<_> = files
            .into_iter()
            .filter(|(p, len)| *len > 0 && p.extension().is_some_and(|e| e == "log"))
            .collect();
        if files.is_empty() {
            return;
        }
        let (path, len) = files[self.rng.below(files.len() as u64) as usize].clone();
        let offset = self.rng.below(len as u64) as usize;
        if self.nodes[i].disk.mem.corrupt(&path, offset) {
            self.nodes[i].disk.damaged = true;
            self.disk_faults[2] += 1;
            let id = self.nodes[i].id;
            self.log(|| format!("n{id}: a bit flips in {} at {offset}", path.display()));
        }
    }

    fn is_running(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.raft.is_some() && n.paused_until <= self.now
    }

    fn step_once(&mut self, faults_on: bool) {
        self.steps += 1;
        self.now += 1 + self.rng.below(3);
        let count = self.nodes.len();

        // Faults.
        if faults_on {
            for i in 0..count {
                let id = self.nodes[i].id;
                if self.nodes[i].raft.is_some() && self.rng.chance(self.faults.crash) {
                    self.crash(id);
                } else if self.is_running(i) && self.rng.chance(self.faults.pause) {
                    let p = 50 + self.rng.below(400);
                    self.nodes[i].paused_until = self.now + p;
                    self.log(|| format!("n{id} pauses for {p}ms"));
                }
            }
            if self.rng.chance(self.faults.partition * 2) {
                self.cut.clear();
                if self.rng.chance(700) {
                    for a in 1..=count as u64 {
                        for b in 1..=count as u64 {
                            if a != b && self.rng.chance(350) {
                                self.cut.push((a, b));
                            }
                        }
                    }
                }
                let cut = self.cut.clone();
                self.log(|| format!("partition now {cut:?}"));
            }
        }
        for i in 0..count {
            if self.nodes[i].raft.is_none() && self.nodes[i].down_until <= self.now {
                let id = self.nodes[i].id;
                if faults_on && self.faults.flip > 0 && self.rng.chance(self.faults.flip) {
                    self.flip_a_bit(i);
                }
                self.log(|| format!("n{id} restarts from its disk"));
                self.start(id);
            }
        }

        // Time.
        for i in 0..count {
            if self.is_running(i) {
                let now = self.now;
                self.nodes[i].raft.as_mut().unwrap().tick(now);
            }
        }

        // Clients: writes and reads on random running nodes.
        if faults_on && self.rng.chance(300) {
            let i = self.rng.below(count as u64) as usize;
            if self.is_running(i) {
                let v = self.next_value;
                self.next_value += 1;
                self.client_write(i, v, Bytes::from(v.to_le_bytes().to_vec()));
            }
        }
        if faults_on && self.rng.chance(200) {
            let i = self.rng.below(count as u64) as usize;
            if self.is_running(i) {
                let id = self.next_read;
                self.next_read += 1;
                let floor = self.max_acked_index;
                self.nodes[i].reads.insert(id, floor);
                self.nodes[i].raft.as_mut().unwrap().read_index(id);
            }
        }

        // Membership changes, one server at a time (RAFT.NODE ADD / PROMOTE / REMOVE).
        if faults_on && self.rng.chance(self.faults.conf_change * 3) {
            if let Some(l) = (0..count).find(|&i| {
                self.is_running(i) && self.nodes[i].raft.as_ref().unwrap().role() == Role::Leader
            }) {
                let m = self.nodes[l].raft.as_ref().unwrap().membership().clone();
                let target = 1 + self.rng.below(count as u64);
                let change = if !m.contains(target) {
                    ConfChange::AddLearner {
                        id: target,
                        addr: format!("n{target}"),
                    }
                } else if m.learners.contains_key(&target) && self.rng.chance(700) {
                    ConfChange::Promote { id: target }
                } else {
                    ConfChange::Remove { id: target }
                };
                let id = CONF_CHANGE_IDS + self.next_value;
                self.next_value += 1;
                let from = self.nodes[l].id;
                self.log(|| format!("n{from} proposes {change:?}"));
                self.nodes[l]
                    .raft
                    .as_mut()
                    .unwrap()
                    .propose_conf_change(id, change);
            }
        }

        // Leadership transfers (RAFT.TRANSFER-LEADER, graceful shutdown).
        if faults_on && self.rng.chance(self.faults.transfer) {
            let i = self.rng.below(count as u64) as usize;
            let to = 1 + self.rng.below(count as u64);
            if self.is_running(i) {
                let r = self.nodes[i].raft.as_mut().unwrap();
                if r.role() == Role::Leader && r.transfer_leader(to).is_ok() {
                    let from = r.id();
                    self.log(|| format!("n{from} hands leadership to n{to}"));
                }
            }
        }

        // Network: deliver what is due, in random order.
        let mut due = Vec::new();
        let mut k = 0;
        while k < self.net.len() {
            if self.net[k].0 <= self.now {
                due.push(self.net.swap_remove(k).1);
            } else {
                k += 1;
            }
        }
        while !due.is_empty() {
            let m = due.swap_remove(self.rng.below(due.len() as u64) as usize);
            let to = m.to as usize - 1;
            if self.nodes[to].raft.is_none() {
                continue;
            }
            if self.nodes[to].paused_until > self.now {
                // A stopped process: the bytes wait in its socket buffer.
                let at = self.nodes[to].paused_until;
                self.net.push((at, m));
                continue;
            }
            if faults_on && self.rng.chance(self.faults.dup) {
                self.nodes[to].raft.as_mut().unwrap().step(m.clone());
            }
            self.nodes[to].raft.as_mut().unwrap().step(m);
        }

        self.deliver_snapshots();
        if faults_on {
            for i in 0..count {
                if self.is_running(i) && self.rng.chance(self.faults.snapshot) {
                    self.take_snapshot(i);
                }
            }
        }

        // Disks: some pending writes complete.
        for i in 0..count {
            if self.is_running(i) && !self.nodes[i].unsynced.is_empty() && self.rng.chance(600) {
                self.sync_one(i);
            }
        }

        // Each running node handles its Ready.
        for i in 0..count {
            if !self.is_running(i) {
                continue;
            }
            while self.nodes[i].raft.as_ref().is_some_and(|r| r.has_ready()) {
                let rd = self.nodes[i].raft.as_mut().unwrap().ready();
                self.handle_ready(i, rd, faults_on);
            }
        }
        self.check_leaders();
    }

    /// The disk completes the oldest pending write: one sync (which covers every write
    /// before it too). A failed sync stops the node (the real one refuses writes until it is
    /// restarted; here it is restarted) and nothing it covered is reported durable.
    fn sync_one(&mut self, i: usize) {
        let id = self.nodes[i].id;
        if self.faults.disk > 0 && self.rng.chance(self.faults.disk) {
            self.nodes[i].disk.mem.fail_next_sync();
        }
        let wal = self.nodes[i].disk.wal.as_mut().unwrap();
        let synced = wal.sync().and_then(|()| {
            if self.faults.marker_before_ack {
                wal.flush_marker()
            } else {
                Ok(())
            }
        });
        // A sync with nothing new to flush leaves a planted failure armed: disarm it.
        self.nodes[i].disk.mem.fail_next_syncs(0);
        if let Err(e) = synced {
            self.disk_faults[0] += 1;
            self.log(|| format!("n{id}: sync failed ({e}), the node stops"));
            self.crash(id);
            return;
        }
        let w = self.nodes[i].unsynced.pop_front().unwrap();
        let disk = &mut self.nodes[i].disk;
        if let Some(hs) = w.hs {
            disk.durable_hs = hs;
        }
        if w.durable.is_some() {
            disk.durable_last = w.durable;
        }
        for m in w.msgs {
            self.send(m);
        }
        if let Some((index, term)) = w.last {
            self.nodes[i].raft.as_mut().unwrap().persisted(index, term);
        }
    }

    fn send(&mut self, m: Message) {
        if m.from == m.to {
            // A node's message to itself (its own durable vote) never crosses the network.
            self.net.push((self.now, m));
            return;
        }
        if self.cut.contains(&(m.from, m.to)) {
            return;
        }
        if self.faults.drop > 0 && self.rng.chance(self.faults.drop) {
            return;
        }
        let at = self.now + 1 + self.rng.below(self.faults.max_delay);
        self.net.push((at, m));
    }

    fn handle_ready(&mut self, i: usize, rd: Ready, _faults_on: bool) {
        let id = self.nodes[i].id;
        for m in rd.messages {
            self.send(m);
        }
        // Log matching, checked on every entry any node is asked to persist.
        for e in &rd.entries {
            let prev_term = if e.index == 1 {
                0
            } else {
                match self.nodes[i].raft.as_ref().unwrap().log().term(e.index - 1) {
                    Some(t) => t,
                    None => self.fail(format!(
                        "n{id} persists entry {} with no entry before it",
                        e.index
                    )),
                }
            };
            match self.entries_seen.get(&(e.term, e.index)) {
                Some((data, pt)) => {
                    if *data != e.data || *pt != prev_term {
                        self.fail(format!(
                            "log matching: n{id} has a different entry at (term {}, index {})",
                            e.term, e.index
                        ));
                    }
                }
                None => {
                    self.entries_seen
                        .insert((e.term, e.index), (e.data.clone(), prev_term));
                }
            }
        }
        let mut reset = None;
        if let Some((meta, discarded)) = rd.restored {
            // The snapshot file was synced before the core was told; the log reset is a WAL
            // record, durable with the next sync.
            self.nodes[i].disk.snapshot = Some(meta.clone());
            self.nodes[i].applied_upto = meta.index;
            self.nodes[i]
                .writes
                .installed_snapshot(meta.index, meta.term);
            reset = discarded.then_some((meta.index, meta.term));
            self.log(|| format!("n{id} installed a snapshot at {}", meta.index));
        }
        for to in rd.send_snapshots {
            self.ship_snapshot(i, to);
        }
        if reset.is_some()
            || rd.hard_state.is_some()
            || !rd.entries.is_empty()
            || !rd.persist_messages.is_empty()
        {
            // Written now, as the WAL thread does, durable at the next sync; a crash before
            // it may lose or tear any of it. A full disk fails the write: the node stops.
            if self.faults.disk > 0 && self.rng.chance(self.faults.disk) {
                let used: u64 = self.nodes[i]
                    .disk
                    .mem
                    .files()
                    .iter()
                    .map(|(_, l)| *l as u64)
                    .sum();
                self.nodes[i].disk.mem.set_capacity(Some(used));
            }
            let wal = self.nodes[i].disk.wal.as_mut().unwrap();
            let mut written = Ok(());
            if let Some((index, term)) = reset {
                let hs = wal.hard_state();
                written = wal.reset(index, term, &hs);
            }
            if written.is_ok() && (rd.hard_state.is_some() || !rd.entries.is_empty()) {
                written = wal.append(rd.hard_state.as_ref(), &rd.entries);
            }
            // The disk was full for this write only.
            self.nodes[i].disk.mem.set_capacity(None);
            if let Err(e) = written {
                self.disk_faults[1] += 1;
                self.log(|| format!("n{id}: WAL write failed ({e}), the node stops"));
                self.crash(id);
                // Part of the failed write may be on disk (unsynced), and may survive.
                self.nodes[i].disk.superseded = true;
                return;
            }
            self.nodes[i].unsynced.push_back(PendingWrite {
                hs: rd.hard_state,
                durable: rd.entries.last().map(|e| (e.index, e.term)).or(reset),
                replaces_from: if reset.is_some() {
                    Some(0)
                } else {
                    rd.entries.first().map(|e| e.index)
                },
                last: rd.entries.last().map(|e| (e.index, e.term)),
                msgs: rd.persist_messages,
            });
        }
        let committer = self.nodes[i]
            .raft
            .as_ref()
            .filter(|r| r.role() == Role::Leader)
            .map(|r| r.term());
        for e in rd.committed {
            if let Some(term) = committer {
                self.check_later_leaders_have(term, &e);
            }
            self.apply(i, e);
        }
        for p in rd.proposals {
            if p.id >= CONF_CHANGE_IDS {
                continue;
            }
            if p.id != u64::MAX && !self.nodes[i].unanswered.remove(&p.id) {
                self.fail(format!("n{id} answered proposal {} twice or unasked", p.id));
            }
            self.outcomes[match p.result {
                Ok(_) => 0,
                Err(ProposeError::Unanswered { .. }) => 2,
                Err(_) => 1,
            }] += 1;
            self.nodes[i].writes.outcome(p);
        }
        self.check_fates(i);
        for r in rd.reads {
            for rid in r.ids {
                let Some(floor) = self.nodes[i].reads.remove(&rid) else {
                    self.fail(format!("n{id} answered read {rid} it never asked for"));
                };
                if let Ok(index) = r.result {
                    self.reads_checked += 1;
                    if index < floor {
                        self.fail(format!("stale read on n{id}: read index {index} below acknowledged write at {floor}"));
                    }
                }
            }
        }
    }

    /// The leader's node streams its latest snapshot to `to`: it arrives after a delay, or is
    /// lost (the leader then hears it failed).
    fn ship_snapshot(&mut self, i: usize, to: NodeId) {
        let Some(meta) = self.nodes[i].disk.snapshot.clone() else {
            self.fail(format!(
                "n{} must send a snapshot but has none",
                self.nodes[i].id
            ));
        };
        // The snapshot holds exactly the committed entries up to its index.
        match self.committed.get(&meta.index) {
            Some((t, _)) if *t == meta.term => {}
            _ => self.fail(format!(
                "n{}'s snapshot at {} is not of committed entries",
                self.nodes[i].id, meta.index
            )),
        }
        let lost = self.faults.drop > 0 && self.rng.chance(self.faults.drop * 3);
        let at = self.now + 5 + self.rng.below(50);
        self.snapshots_in_flight
            .push((at, self.nodes[i].id, to, meta, lost));
    }

    fn deliver_snapshots(&mut self) {
        let mut k = 0;
        while k < self.snapshots_in_flight.len() {
            if self.snapshots_in_flight[k].0 > self.now {
                k += 1;
                continue;
            }
            let (_, from, to, meta, lost) = self.snapshots_in_flight.swap_remove(k);
            let (fi, ti) = (from as usize - 1, to as usize - 1);
            if self.nodes[fi].raft.is_some() && self.nodes[fi].paused_until > self.now {
                // The sending node is stopped: the stream resumes with it.
                let at = self.nodes[fi].paused_until;
                self.snapshots_in_flight.push((at, from, to, meta, lost));
                continue;
            }
            let ok = !lost && self.is_running(ti) && !self.cut.contains(&(from, to));
            if ok {
                let accepted = self.nodes[ti].raft.as_mut().unwrap().restore(meta.clone());
                if accepted {
                    // The node wrote and synced the snapshot file before telling the core.
                    self.nodes[ti].disk.snapshot = Some(meta.clone());
                }
            }
            if self.is_running(fi) {
                self.nodes[fi].raft.as_mut().unwrap().snapshot_sent(to, ok);
            }
        }
    }

    /// A node snapshots its state machine at its applied index and compacts its log.
    fn take_snapshot(&mut self, i: usize) {
        let r = self.nodes[i].raft.as_ref().unwrap();
        let index = r.applied_index();
        let have = self.nodes[i].disk.snapshot.as_ref().map_or(0, |m| m.index);
        if index <= have + 5 || index > r.persisted_index() {
            return;
        }
        let Some(term) = r.log().term(index) else {
            return;
        };
        let meta = SnapshotMeta {
            index,
            term,
            membership: r.membership_at(index),
        };
        let id = self.nodes[i].id;
        self.log(|| format!("n{id} snapshots at {index} and compacts its log"));
        let n = &mut self.nodes[i];
        n.disk.snapshot = Some(meta);
        n.raft.as_mut().unwrap().compact(index);
        // The WAL drops the segments the snapshot covers (`index` is synced: see above).
        if let Err(e) = n.disk.wal.as_mut().unwrap().compact(index) {
            self.log(|| format!("n{id}: WAL compaction failed ({e}), the node stops"));
            self.crash(id);
        }
    }

    fn apply(&mut self, i: usize, e: Entry) {
        let id = self.nodes[i].id;
        if e.index != self.nodes[i].applied_upto + 1 {
            self.fail(format!(
                "n{id} applies {} after {}",
                e.index, self.nodes[i].applied_upto
            ));
        }
        self.nodes[i].applied_upto = e.index;
        let node_term = self.nodes[i].raft.as_ref().map_or(u64::MAX, |r| r.term());
        let known = self.committed_by_term.entry(e.index).or_insert(u64::MAX);
        *known = (*known).min(node_term);
        match self.committed.get(&e.index) {
            Some((t, d)) => {
                if *t != e.term || *d != e.data {
                    self.fail(format!(
                        "state machine safety: n{id} applies a different entry at index {}",
                        e.index
                    ));
                }
            }
            None => {
                self.committed.insert(e.index, (e.term, e.data.clone()));
            }
        }
        let value = <[u8; 8]>::try_from(&e.data[..])
            .ok()
            .map(u64::from_le_bytes)
            .filter(|_| e.kind == EntryKind::Normal);
        if let Some(v) = value {
            // A write is appended once, however often its message was delivered (the
            // convergence probe, u64::MAX, is proposed again and again).
            match self.committed_values.get(&v) {
                Some(&at) if at != e.index && v != u64::MAX => self.fail(format!(
                    "write {v} applied twice: at {at} and, on n{id}, at {}",
                    e.index
                )),
                _ => {}
            }
            if self.declared_not_committed.contains(&v) {
                self.fail(format!(
                    "write {v} was answered not committed, and n{id} applies it at {}",
                    e.index
                ));
            }
            self.committed_values.insert(v, e.index);
        }
        let mine = value;
        if let Some(v) = self.nodes[i].writes.applied(e.index, e.term, mine) {
            // Acknowledged to the client now.
            self.fates[0] += 1;
            self.acked.insert(v, e.index);
            self.max_acked_index = self.max_acked_index.max(e.index);
        }
        self.check_fates(i);
    }

    /// A client writes `data` on node `i`, as proposal `id`. The value is its own tag: a node
    /// recognises a write it proposed when it applies it, as the node does with the payload's
    /// origin (values are unique across nodes).
    fn client_write(&mut self, i: usize, id: u64, data: Bytes) {
        let n = &mut self.nodes[i];
        n.unanswered.insert(id);
        n.writes.propose(id, id, u64::MAX, true);
        n.raft.as_mut().unwrap().propose(id, data);
    }

    /// A write answered "not committed" must never be applied, anywhere, ever.
    fn check_fates(&mut self, i: usize) {
        let settled: Vec<(u64, Fate)> = self.nodes[i].writes.drain_settled().collect();
        for (v, fate) in settled {
            match fate {
                Fate::NotCommitted => {
                    self.fates[1] += 1;
                    if self.committed_values.contains_key(&v) {
                        self.fail(format!(
                            "n{} answers write {v} not committed, but it was applied",
                            self.nodes[i].id
                        ));
                    }
                    self.declared_not_committed.insert(v);
                }
                Fate::Uncertain => self.fates[2] += 1,
                Fate::Failed(_) => {}
            }
        }
    }

    /// Leader completeness for an entry the leader of `commit_term` just committed, against
    /// leaders of later terms that already lead (a stale leader may count its commit late).
    fn check_later_leaders_have(&self, commit_term: u64, e: &Entry) {
        for n in &self.nodes {
            if let Some(r) = &n.raft {
                if r.role() == Role::Leader
                    && r.term() > commit_term
                    && r.log().term(e.index) != Some(e.term)
                    && e.index > r.log().prev().0
                {
                    self.fail(format!(
                        "leader completeness: leader n{} of term {} lacks entry {} committed in term {commit_term}",
                        n.id,
                        r.term(),
                        e.index
                    ));
                }
            }
        }
    }

    fn check_leaders(&mut self) {
        for i in 0..self.nodes.len() {
            let Some(r) = &self.nodes[i].raft else {
                continue;
            };
            if r.role() != Role::Leader {
                continue;
            }
            let (term, id) = (r.term(), r.id());
            match self.leaders.get(&term) {
                Some(&l) if l != id => self.fail(format!(
                    "election safety: n{l} and n{id} both lead term {term}"
                )),
                Some(_) => {}
                None => {
                    self.leaders.insert(term, id);
                    self.log(|| format!("n{id} leads term {term}"));
                    // Leader completeness (§5.4) is about entries committed in earlier
                    // terms: a leader elected late in a lower term than one that already
                    // committed may lack that leader's entries (it cannot commit anything).
                    for (&index, (t, _)) in &self.committed {
                        let by = self.committed_by_term.get(&index).copied().unwrap_or(0);
                        if by < term && r.log().term(index) != Some(*t) && index > r.log().prev().0
                        {
                            self.fail(format!("leader completeness: new leader n{id} of term {term} lacks committed entry {index}"));
                        }
                    }
                }
            }
        }
    }

    /// Heals every fault and requires the group to converge.
    fn converge(&mut self) {
        self.cut.clear();
        self.faults.drop = 0;
        self.faults.disk = 0;
        for n in &mut self.nodes {
            n.paused_until = 0;
        }
        let deadline = self.now + 5_000;
        let probe_value = u64::MAX;
        let mut next_probe = 0;
        loop {
            // Every write waiting on a disk completes eventually.
            for i in 0..self.nodes.len() {
                while self.nodes[i].raft.is_some() && !self.nodes[i].unsynced.is_empty() {
                    self.sync_one(i);
                }
            }
            self.step_once(false);
            let leader = self
                .nodes
                .iter()
                .position(|n| n.raft.as_ref().is_some_and(|r| r.role() == Role::Leader));
            let probe_in = self
                .committed
                .values()
                .any(|(_, d)| d[..] == probe_value.to_le_bytes());
            if let Some(l) = leader {
                if !probe_in && self.now >= next_probe {
                    // Proposed again until it lands: a leader may lose it with its leadership.
                    let data = Bytes::from(probe_value.to_le_bytes().to_vec());
                    self.nodes[l]
                        .raft
                        .as_mut()
                        .unwrap()
                        .propose(probe_value, data);
                    next_probe = self.now + 500;
                }
                let last = self.nodes[l].raft.as_ref().unwrap().last_index();
                let members = self.nodes[l].raft.as_ref().unwrap().membership().clone();
                let all_applied = self
                    .nodes
                    .iter()
                    .filter(|n| members.contains(n.id) && !n.disk.refused)
                    .all(|n| n.applied_upto == last && n.raft.is_some());
                // Every running node has answered every proposal made on it.
                let answered = self
                    .nodes
                    .iter()
                    .all(|n| n.raft.is_none() || n.unanswered.is_empty());
                if all_applied && probe_in && answered {
                    break;
                }
            }
            if self.now > deadline {
                let states: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|n| match &n.raft {
                        Some(r) => format!(
                            "n{} {:?} t{} last {} commit {} applied {} unsynced {} unanswered {} voters {:?} learners {:?} followers {:?}",
                            n.id,
                            r.role(),
                            r.term(),
                            r.last_index(),
                            r.commit_index(),
                            n.applied_upto,
                            n.unsynced.len(),
                            n.unanswered.len(),
                            r.membership().voters.keys().collect::<Vec<_>>(),
                            r.membership().learners.keys().collect::<Vec<_>>(),
                            r.debug_progress()
                        ),
                        None => format!("n{} down", n.id),
                    })
                    .collect();
                self.fail(format!(
                    "no convergence within 5s after healing: {states:?}"
                ));
            }
        }
        // Durability: every acknowledged write is in the committed log, where it was acked.
        for (v, index) in &self.acked {
            match self.committed.get(index) {
                Some((_, d)) if d[..] == v.to_le_bytes() => {}
                _ => self.fail(format!("acknowledged write {v} at index {index} is lost")),
            }
        }
    }
}

struct SeedStats {
    steps: u64,
    reads: u64,
    disk: [u64; 5],
    outcomes: [u64; 3],
    fates: [u64; 3],
}

fn run_seed(seed: u64, trace: bool) -> SeedStats {
    let n = if seed.is_multiple_of(3) { 5 } else { 3 };
    let mut sim = Sim::new(seed, n, trace);
    let steps = 1_500;
    for _ in 0..steps {
        sim.step_once(true);
    }
    sim.converge();
    SeedStats {
        steps: sim.steps,
        reads: sim.reads_checked,
        disk: sim.disk_faults,
        outcomes: sim.outcomes,
        fates: sim.fates,
    }
}

#[test]
fn simulated_cluster_is_safe_and_live_under_faults() {
    if let Ok(s) = std::env::var("RAFT_SIM_SEED") {
        let seed: u64 = s.parse().expect("RAFT_SIM_SEED is a number");
        let st = run_seed(seed, true);
        println!(
            "seed {seed}: {} steps, {} reads checked, disk faults {:?}, proposals placed / \
             refused / uncertain {:?}",
            st.steps, st.reads, st.disk, st.outcomes
        );
        return;
    }
    let seeds: u64 = std::env::var("RAFT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let (mut steps, mut reads, mut disk, mut outcomes) = (0, 0, [0u64; 5], [0u64; 3]);
    let mut fates = [0u64; 3];
    for seed in 0..seeds {
        let st = run_seed(seed, false);
        steps += st.steps;
        reads += st.reads;
        for (sum, d) in disk.iter_mut().zip(st.disk) {
            *sum += d;
        }
        for (sum, o) in outcomes.iter_mut().zip(st.outcomes) {
            *sum += o;
        }
        for (sum, f) in fates.iter_mut().zip(st.fates) {
            *sum += f;
        }
    }
    println!(
        "raft_sim: {seeds} seeds, {steps} steps, {reads} reads checked; disk faults: {} failed \
         syncs, {} full disks, {} flipped bits, {} restarts refused for lost synced records, {} \
         flips in a last synced batch that recovery cannot tell from a torn write; proposals: {} \
         placed, {} refused, {} forwarded and unanswered; writes: {} applied, {} not committed, \
         {} unknown",
        disk[0],
        disk[1],
        disk[2],
        disk[3],
        disk[4],
        outcomes[0],
        outcomes[1],
        outcomes[2],
        fates[0],
        fates[1],
        fates[2]
    );
}

fn run_until_leader(sim: &mut Sim) -> usize {
    loop {
        if let Some(l) = sim
            .nodes
            .iter()
            .position(|n| n.raft.as_ref().is_some_and(|r| r.role() == Role::Leader))
        {
            return l;
        }
        sim.step_once(false);
        assert!(sim.now < 10_000, "no leader without faults");
    }
}

/// The checkers must be able to fail: a planted stale read is caught.
#[test]
#[should_panic(expected = "stale read")]
fn read_checker_catches_a_stale_read() {
    let mut sim = Sim::new(7, 3, false);
    let l = run_until_leader(&mut sim);
    sim.client_write(l, 1 << 40, Bytes::from_static(b"x"));
    while sim.max_acked_index == 0 {
        sim.step_once(false);
        assert!(sim.now < 10_000);
    }
    // A read that a (planted) bug answers at index 0.
    sim.nodes[0].reads.insert(999_999, sim.max_acked_index);
    let rd = Ready {
        reads: vec![raftis::raft::ReadOutcome {
            ids: vec![999_999],
            result: Ok(0),
        }],
        ..Default::default()
    };
    sim.handle_ready(0, rd, false);
}

/// The checkers must be able to fail: a write answered "not committed" (a planted bug) that
/// is applied is caught.
#[test]
#[should_panic(expected = "answered not committed")]
fn fate_checker_catches_a_committed_write_answered_not_committed() {
    let mut sim = Sim::new(5, 3, false);
    let l = run_until_leader(&mut sim);
    sim.client_write(l, 1 << 41, Bytes::from((1u64 << 41).to_le_bytes().to_vec()));
    // Answered on the leader before the followers apply it; a bug then says the opposite.
    while sim.max_acked_index == 0 {
        sim.step_once(false);
        assert!(sim.now < 10_000);
    }
    sim.declared_not_committed.insert(1 << 41);
    while sim.now < 20_000 {
        sim.step_once(false);
    }
}

/// The checkers must be able to fail: two leaders in one term are caught.
#[test]
#[should_panic(expected = "election safety")]
fn election_checker_catches_two_leaders() {
    let mut sim = Sim::new(11, 3, false);
    let l = run_until_leader(&mut sim);
    let term = sim.nodes[l].raft.as_ref().unwrap().term();
    sim.leaders.insert(term, 100);
    sim.check_leaders();
}

/// Thesis §6.4.1: a leader paused past its lease (SIGSTOP) must not serve a read from its lease
/// when it resumes, although it still believes it leads.
#[test]
fn paused_leader_does_not_serve_stale_lease_read() {
    let mut sim = Sim::new(3, 3, false);
    sim.faults.drop = 0;
    let old = run_until_leader(&mut sim);
    // Let the old leader commit its no-op and renew its lease.
    for _ in 0..40 {
        sim.step_once(false);
    }
    assert_eq!(sim.nodes[old].raft.as_ref().unwrap().role(), Role::Leader);
    sim.nodes[old].paused_until = sim.now + 1_000;
    // A new leader is elected among the others and acknowledges a write.
    let mut proposed = false;
    while sim.max_acked_index == 0 || !proposed {
        sim.step_once(false);
        if let Some(l) = sim.nodes.iter().position(|n| {
            n.paused_until <= sim.now && n.raft.as_ref().is_some_and(|r| r.role() == Role::Leader)
        }) {
            if !proposed {
                sim.client_write(l, 77, Bytes::from(77u64.to_le_bytes().to_vec()));
                proposed = true;
            }
        }
        assert!(sim.now < 900, "no new leader while the old one is paused");
    }
    let floor = sim.max_acked_index;
    // The old leader resumes as soon as that write is acknowledged: its clock jumps, then a
    // read arrives before any message does.
    sim.nodes[old].paused_until = 0;
    let now = sim.now;
    let r = sim.nodes[old].raft.as_mut().unwrap();
    r.tick(now);
    assert_eq!(
        r.role(),
        Role::Leader,
        "it has not heard of the new leader yet"
    );
    r.read_index(424_242);
    let rd = r.ready();
    for out in rd.reads {
        assert!(
            out.result.is_err() || out.result.unwrap() >= floor,
            "stale lease read"
        );
    }
}
