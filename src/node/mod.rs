//! The node: the I/O shell around one Raft core. It owns the WAL (written inline by the driver
//! in a group of one, by the WAL thread otherwise: see `Persist`), the peer transport, the store, and the driver thread that runs
//! `collect input -> core -> persist -> send -> apply -> reply`.
//!
//! The front end sees only `Node::write` (propose a batch of writes, get their replies once
//! committed and applied here) and `Node::read_barrier` (wait until this node may answer a
//! read linearizably), plus facts for INFO.
//!
//! Rules kept here (DESIGN.md section 3):
//! - The leader stamps every entry with its clock (`stamp`: wall-clock ms, never below any
//!   entry already in its log) before it is appended, including writes forwarded by
//!   followers; apply reads time only from the entry.
//! - The leader alone proposes expirations (the active expire cycle).
//! - A write is answered only from the apply of the entry that holds it: the entry at the
//!   proposal's index must carry the proposal's term, else the write was not committed. A
//!   write whose fate this node cannot learn within `raft-write-timeout` is answered UNCERTAIN.
//! - The commit index is published before the messages that tell followers about it, so a
//!   leader's lease read can never miss a write another node already acknowledged.

pub mod blocking;
mod evict;
mod persist;
pub mod pubsub;
mod snapfile;

use std::collections::HashMap;
use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use crossbeam::channel::{self, Receiver, Sender};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{oneshot, watch};

use crate::config::Settings;
use crate::errors;
use crate::machine::{self, Op};
use crate::raft::fate::{Fate, Tracker};
use crate::raft::{
    self, Body, Message, NodeId, ProposeError, Raft, ReadError as CoreReadError, Role,
};
use crate::reply::Reply;
use crate::store::Store;
use crate::transport::{Transport, TransportStats};
use crate::wal::{Disk, FsDisk, Wal, WalOptions};
use crate::{log_notice, log_verbose, log_warning};
use persist::{PersistDone, PersistJob, Persister};

/// Why a write got no result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteError {
    /// Not proposed, or proposed and certainly not committed: safe to retry.
    NoLeader,
    NotCommitted,
    /// Proposed; this node cannot tell whether it was committed.
    Uncertain,
    /// This node cannot persist its log.
    WalFailed(String),
    /// A membership change refused, and why.
    Rejected(&'static str),
    /// The leader refused the write before proposing it (the error line, e.g. -OOM).
    Refused(&'static str),
}

impl WriteError {
    pub fn reply(&self) -> Reply {
        match self {
            WriteError::NoLeader => Reply::error(errors::NO_LEADER),
            WriteError::NotCommitted => Reply::error(errors::NOT_COMMITTED),
            WriteError::Uncertain => Reply::error(errors::UNCERTAIN),
            WriteError::Rejected(why) => Reply::error(format!("ERR {why}")),
            WriteError::Refused(error) => Reply::error(*error),
            WriteError::WalFailed(why) => {
                Reply::error(format!("MISCONF Errors writing to the Raft log: {why}"))
            }
        }
    }
}

/// Why a read cannot be answered linearizably now (safe to retry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadError {
    NoLeader,
    Refused,
}

impl ReadError {
    pub fn reply(&self) -> Reply {
        match self {
            ReadError::NoLeader => Reply::error(errors::NO_LEADER),
            ReadError::Refused => Reply::error(errors::READ_REFUSED),
        }
    }
}

enum ClientEvent {
    Propose {
        payload: BytesMut,
        reply: Option<oneshot::Sender<Result<Vec<Reply>, WriteError>>>,
    },
    ReadIndex {
        reply: oneshot::Sender<Result<u64, ReadError>>,
    },
    ConfChange {
        change: raft::ConfChange,
        reply: oneshot::Sender<Result<Vec<Reply>, WriteError>>,
    },
    Transfer {
        to: Option<NodeId>,
        reply: oneshot::Sender<Result<NodeId, String>>,
    },
    /// SAVE (`wait`) / BGSAVE: take a snapshot now.
    Save {
        wait: bool,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Stop,
}

/// One member as INFO shows it.
#[derive(Clone, Debug)]
pub struct MemberStatus {
    pub id: NodeId,
    /// Client address, `host:port`.
    pub addr: String,
    pub voter: bool,
    /// Leader's view: match index and ms since last contact (None when not leader).
    pub matched: Option<u64>,
    pub last_contact_ms: Option<u64>,
}

/// Counters for INFO stats.
#[derive(Default)]
pub struct NodeStats {
    pub proposals: AtomicU64,
    pub entries_applied: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub read_index_requests: AtomicU64,
    pub lease_reads: AtomicU64,
    pub uncertain_writes: AtomicU64,
    pub expired_keys_proposed: AtomicU64,
    pub evicted_keys_proposed: AtomicU64,
}

/// What the driver publishes for the front end.
struct Shared {
    settings: Arc<RwLock<Settings>>,
    store: Arc<Store>,
    epoch: Instant,
    events: Sender<ClientEvent>,
    applied_rx: watch::Receiver<u64>,
    commit_index: AtomicU64,
    applied_index: AtomicU64,
    /// Until when (ms on `epoch`'s clock) the leader may serve reads from its lease; 0 if not.
    lease_until_ms: AtomicU64,
    term: AtomicU64,
    leader: AtomicU64,
    role: AtomicU8,
    applied_time_ms: AtomicU64,
    wal_error: Mutex<Option<String>>,
    members: Mutex<Vec<MemberStatus>>,
    stats: NodeStats,
    transport: Arc<TransportStats>,
    stopped: AtomicBool,
    /// Unix seconds of the last snapshot written (or of startup), for LASTSAVE.
    last_save_unix: AtomicU64,
    /// A snapshot is being written, for INFO.
    saving: AtomicBool,
    /// The index of the last snapshot written or installed, for INFO.
    snapshot_index: AtomicU64,
    pubsub: pubsub::PubSub,
    blocked: Arc<blocking::Blocked>,
    /// The driver thread (which joins the WAL thread it runs, if any), joined by
    /// `stop_and_wait`.
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

#[derive(Clone)]
pub struct Node {
    shared: Arc<Shared>,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn role_code(r: Role) -> u8 {
    match r {
        Role::Follower => 0,
        Role::PreCandidate | Role::Candidate => 1,
        Role::Leader => 2,
    }
}

/// A node's view of the group, for INFO raft.
#[derive(Clone, Debug)]
pub struct RaftStatus {
    pub node_id: NodeId,
    pub role: &'static str,
    pub leader_id: NodeId,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub members: Vec<MemberStatus>,
    pub wal_error: Option<String>,
}

impl Node {
    /// Recovers the WAL, rebuilds nothing yet (committed entries are re-applied by the driver
    /// as soon as it starts), binds the peer bus and starts the driver. Call inside a tokio
    /// runtime.
    pub async fn start(settings: Arc<RwLock<Settings>>) -> Result<Node, String> {
        Node::start_with_disk(settings, Box::new(FsDisk::default())).await
    }

    /// `start`, with the Raft log on `disk` (tests put a fault-injecting `MemDisk` here; the
    /// snapshot file stays on the real file system).
    pub async fn start_with_disk(
        settings: Arc<RwLock<Settings>>,
        disk: Box<dyn Disk>,
    ) -> Result<Node, String> {
        let s = settings.read().clone();
        std::fs::create_dir_all(&s.dir)
            .map_err(|e| format!("can't create dir {}: {e}", s.dir.display()))?;
        let started = Instant::now();
        let opts = WalOptions {
            dir: s.dir.join("wal"),
            segment_bytes: s.wal_segment_bytes,
        };
        let (mut wal, rec) = Wal::open_with(opts, disk)
            .map_err(|e| format!("can't open the Raft log in {}: {e}", s.dir.display()))?;
        if let Some(cut) = &rec.cut {
            log_warning!("Raft log recovery cut a damaged tail: {cut}");
        }
        if let Some(d) = &rec.damage {
            log_warning!("Raft log damage found at recovery: {d}");
        }
        if let Some(lost) = &rec.lost_synced {
            // Records this node had synced, and so may have acknowledged to a leader, are
            // gone. Voting with such a log could elect a leader that lacks committed entries:
            // refuse to start rather than forget them silently.
            return Err(format!(
                "Refusing to start: the Raft log in {} lost records that were synced ({lost}). \
                 This node may have acknowledged entries it no longer has, so it must not vote. \
                 Remove it from the group (RAFT.NODE REMOVE {} on the leader), delete its data \
                 directory, start it empty and add it back (RAFT.NODE ADD, then PROMOTE).",
                s.dir.display(),
                s.node_id
            ));
        }
        log_notice!(
            "Raft log recovered in {:.3}s: {} records, entries {}..{}, term {}, vote {}, commit {}",
            started.elapsed().as_secs_f64(),
            rec.records_replayed,
            rec.first_index,
            rec.first_index + rec.entries.len() as u64,
            rec.hard_state.term,
            rec.hard_state.vote,
            rec.hard_state.commit
        );
        let last_time = rec
            .entries
            .iter()
            .filter_map(|e| machine::entry_time(&e.data))
            .max()
            .unwrap_or(0);

        let epoch = Instant::now();
        let bootstrap = s.bootstrap_membership();
        let cfg = raft::Config {
            id: s.node_id,
            election_timeout_ms: s.election_timeout_ms,
            heartbeat_interval_ms: s.heartbeat_interval_ms,
            lease_margin_ms: s.lease_margin_ms,
            max_msg_bytes: s.raft_max_batch_bytes as usize,
            max_inflight_msgs: s.raft_max_inflight,
            seed: wall_ms() ^ (std::process::id() as u64) << 32,
        };
        // The latest snapshot, if any, then the log after it (§7: the log continues after the
        // snapshot only if it holds the snapshot's last entry; otherwise it is discarded).
        let snap = snapfile::read(&s.dir)?;
        let mut snap_time = 0;
        let (store, snapshot) = match &snap {
            None => (Store::new(s.databases, STORE_SHARDS_PER_DB), None),
            Some(bytes) => {
                let loading = Instant::now();
                let (header, range) = snapfile::decode(bytes)?;
                let meta = header.meta;
                if header.databases != s.databases {
                    return Err(format!(
                        "the snapshot in {} has {} databases; this node is configured with {}",
                        s.dir.display(),
                        header.databases,
                        s.databases
                    ));
                }
                snap_time = header.time_ms;
                let store = Store::deserialize(s.databases, STORE_SHARDS_PER_DB, &bytes[range])?;
                log_notice!(
                    "Snapshot at index {} (term {}) loaded in {:.3}s",
                    meta.index,
                    meta.term,
                    loading.elapsed().as_secs_f64()
                );
                (store, Some(meta))
            }
        };
        let entries = match &snapshot {
            None => {
                if rec.first_index != 1 {
                    return Err(format!(
                        "the Raft log in {} starts at index {} but no snapshot covers the entries before it",
                        s.dir.display(),
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
                } else {
                    if rec.first_index > m.index + 1 {
                        return Err(format!(
                            "the Raft log in {} starts at index {}, after the snapshot at {}",
                            s.dir.display(),
                            rec.first_index,
                            m.index
                        ));
                    }
                    wal.reset(m.index, m.term, &rec.hard_state)
                        .and_then(|_| wal.sync())
                        .map_err(|e| format!("can't reset the Raft log after the snapshot: {e}"))?;
                    Vec::new()
                }
            }
        };
        let snapshot_index = snapshot.as_ref().map_or(0, |m| m.index);
        let last_time = last_time.max(snap_time);
        // Proposal ids start at the wall clock in ns, and above every id this node tagged in
        // the log it recovered (a clock stepped back must not reuse one: the replayed entry
        // would be taken for the new write).
        let first_id = entries
            .iter()
            .filter(|e| e.kind == raft::EntryKind::Normal)
            .filter_map(|e| machine::origin(&e.data))
            .filter(|&(node, _)| node == s.node_id)
            .map(|(_, id)| id.saturating_add(1))
            .fold(wall_ms().saturating_mul(1_000_000), u64::max);
        let restored = raft::Restored {
            hard_state: rec.hard_state,
            snapshot: snapshot.clone(),
            entries,
        };
        let replay_to = rec.hard_state.commit.max(snapshot_index);
        let core = Raft::new(cfg, restored, bootstrap, 0);
        let store = Arc::new(store);

        let (events_tx, events_rx) = channel::unbounded();
        let (peer_tx, peer_rx) = channel::bounded::<Message>(PEER_INBOX_MESSAGES_MAX);
        let (persist_tx, persist_rx) = channel::unbounded();
        let (done_tx, done_rx) = channel::unbounded();
        let (applied_tx, applied_rx) = watch::channel(snapshot_index);

        let listen = format!("{}:{}", s.bind, s.bus_port());
        let listen = listen
            .to_socket_addrs()
            .map_err(|e| format!("bad bus address {listen}: {e}"))?
            .next()
            .ok_or_else(|| format!("bad bus address {listen}"))?;
        let deliver = Arc::new(move |m: Message| {
            // A full inbox drops the message; Raft retransmits.
            let _ = peer_tx.try_send(m);
        });
        let advertised = bus_addr(&s.advertised_addr());
        let transport = Transport::start(
            s.node_id,
            listen,
            advertised,
            s.raft_secret.clone(),
            s.bind_source_addr,
            deliver,
        )
        .await
        .map_err(|e| format!("can't bind the peer bus on {listen}: {e}"))?;

        let members = Vec::new();
        let shared = Arc::new(Shared {
            settings: settings.clone(),
            store,
            epoch,
            events: events_tx,
            applied_rx,
            commit_index: AtomicU64::new(0),
            applied_index: AtomicU64::new(snapshot_index),
            lease_until_ms: AtomicU64::new(0),
            term: AtomicU64::new(0),
            leader: AtomicU64::new(0),
            role: AtomicU8::new(0),
            applied_time_ms: AtomicU64::new(last_time.min(wall_ms())),
            wal_error: Mutex::new(None),
            members: Mutex::new(members),
            stats: NodeStats::default(),
            transport: transport.stats.clone(),
            stopped: AtomicBool::new(false),
            last_save_unix: AtomicU64::new(wall_ms() / 1000),
            saving: AtomicBool::new(false),
            snapshot_index: AtomicU64::new(snapshot_index),
            pubsub: pubsub::PubSub::default(),
            blocked: Arc::default(),
            threads: Mutex::new(Vec::new()),
        });

        // A group of one persists inline; a node with peers hands its log to the WAL thread
        // (see `Persist`).
        let persister = Persister::new(wal, settings.clone());
        let persist = if s.peers.is_empty() {
            Persist::Inline {
                p: Box::new(persister),
                queued: Vec::new(),
                thread: Some((persist_tx, persist_rx, done_tx)),
            }
        } else {
            Persist::spawn(persister, persist_tx, persist_rx, done_tx)?
        };
        let driver = Driver {
            core,
            shared: shared.clone(),
            transport,
            persist,
            next_id: first_id,
            writes: Tracker::new(snapshot_index, snapshot.as_ref().map_or(0, |m| m.term)),
            reads: HashMap::new(),
            last_time_ms: last_time,
            applied_tx,
            replies: Vec::new(),
            wal_failed: false,
            expire_pending_until: 0,
            expire_db_cursor: 0,
            last_role: Role::Follower,
            last_leader: 0,
            snapshot,
            snapshot_time_ms: snap_time,
            snapshot_running: false,
            save_waiters: Vec::new(),
            snap_done: channel::unbounded(),
            senders: HashMap::new(),
            receiving: None,
            evict: evict::Evictor::new(wall_ms()),
            applied_bytes: 0,
            last_keyspace_bytes: 0,
            restart: Some(Restart {
                started,
                snapshot_index,
                replay_to,
            }),
        };
        let driver_thread = std::thread::Builder::new()
            .name("raftis-raft".into())
            .spawn(move || driver.run(events_rx, peer_rx, done_rx))
            .map_err(|e| e.to_string())?;
        *shared.threads.lock() = vec![driver_thread];
        log_notice!("Raft node {} started", s.node_id);
        let node = Node { shared };
        node.settings_changed(&s);
        Ok(node)
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// This node's subscribers (SUBSCRIBE, PSUBSCRIBE, PUBSUB).
    pub fn pubsub(&self) -> &pubsub::PubSub {
        &self.shared.pubsub
    }

    /// Clients blocked in BLPOP and its kind on this node.
    pub fn blocked(&self) -> &Arc<blocking::Blocked> {
        &self.shared.blocked
    }

    pub fn settings(&self) -> &Arc<RwLock<Settings>> {
        &self.shared.settings
    }

    fn mono_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    /// The time reads judge expiry by: this node's clock, never behind the last applied
    /// entry's time (so a read never sees a key that apply already treats as expired).
    pub fn read_time_ms(&self) -> u64 {
        wall_ms().max(self.shared.applied_time_ms.load(Ordering::Acquire))
    }

    /// Proposes one batch of write operations as one log entry; resolves to one reply per
    /// operation once the entry is applied here.
    pub async fn write(&self, ops: &[Op]) -> Result<Vec<Reply>, WriteError> {
        if let Some(why) = self.shared.wal_error.lock().clone() {
            return Err(WriteError::WalFailed(why));
        }
        if self.shared.leader.load(Ordering::Acquire) == 0 {
            return Err(WriteError::NoLeader);
        }
        // The time is a placeholder: the leader stamps its own before appending.
        let payload = machine::encode_mut(0, ops);
        let (tx, rx) = oneshot::channel();
        self.shared.stats.proposals.fetch_add(1, Ordering::Relaxed);
        if self
            .shared
            .events
            .send(ClientEvent::Propose {
                payload,
                reply: Some(tx),
            })
            .is_err()
        {
            return Err(WriteError::NoLeader);
        }
        rx.await.unwrap_or(Err(WriteError::Uncertain))
    }

    /// Waits until this node may serve a linearizable read: the leader under a valid lease
    /// takes its commit index at once; otherwise the leader confirms a read index (one round
    /// trip, no disk). Then waits until this node has applied up to that index.
    pub async fn read_barrier(&self) -> Result<(), ReadError> {
        let index = if self.mono_ms() < self.shared.lease_until_ms.load(Ordering::Acquire) {
            self.shared
                .stats
                .lease_reads
                .fetch_add(1, Ordering::Relaxed);
            self.shared.commit_index.load(Ordering::Acquire)
        } else {
            if self.shared.leader.load(Ordering::Acquire) == 0 {
                return Err(ReadError::NoLeader);
            }
            self.shared
                .stats
                .read_index_requests
                .fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            if self
                .shared
                .events
                .send(ClientEvent::ReadIndex { reply: tx })
                .is_err()
            {
                return Err(ReadError::Refused);
            }
            rx.await.unwrap_or(Err(ReadError::Refused))?
        };
        if self.shared.applied_index.load(Ordering::Acquire) >= index {
            return Ok(());
        }
        let mut rx = self.shared.applied_rx.clone();
        let timeout = Duration::from_millis(self.shared.settings.read().write_timeout_ms);
        let reached = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|&a| a >= index)).await,
            Ok(Ok(_))
        );
        if reached {
            Ok(())
        } else {
            Err(ReadError::Refused)
        }
    }

    pub fn is_leader(&self) -> bool {
        self.shared.role.load(Ordering::Acquire) == 2
    }

    pub fn status(&self) -> RaftStatus {
        let sh = &self.shared;
        RaftStatus {
            node_id: sh.settings.read().node_id,
            role: match sh.role.load(Ordering::Acquire) {
                2 => "leader",
                1 => "candidate",
                _ => "follower",
            },
            leader_id: sh.leader.load(Ordering::Acquire),
            term: sh.term.load(Ordering::Acquire),
            commit_index: sh.commit_index.load(Ordering::Acquire),
            applied_index: sh.applied_index.load(Ordering::Acquire),
            members: sh.members.lock().clone(),
            wal_error: sh.wal_error.lock().clone(),
        }
    }

    pub fn stats(&self) -> &NodeStats {
        &self.shared.stats
    }

    pub fn transport_stats(&self) -> &TransportStats {
        &self.shared.transport
    }

    /// Proposes one membership change (RAFT.NODE ADD / PROMOTE / REMOVE) and waits until it
    /// is committed and applied here.
    pub async fn change_membership(&self, change: raft::ConfChange) -> Result<(), WriteError> {
        let (tx, rx) = oneshot::channel();
        if self
            .shared
            .events
            .send(ClientEvent::ConfChange { change, reply: tx })
            .is_err()
        {
            return Err(WriteError::NoLeader);
        }
        rx.await.unwrap_or(Err(WriteError::Uncertain)).map(|_| ())
    }

    /// SAVE (`wait`: answered once the snapshot is written and synced) / BGSAVE (answered
    /// when it starts): a snapshot of this node's keyspace at its applied index, now (the log
    /// behind it is compacted as after any snapshot).
    pub async fn save(&self, wait: bool) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        if self
            .shared
            .events
            .send(ClientEvent::Save { wait, reply: tx })
            .is_err()
        {
            return Err("the node is stopping".into());
        }
        rx.await.map_err(|_| "the node is stopping".to_string())?
    }

    /// LASTSAVE: unix seconds of the last snapshot this node wrote (its start if none since).
    pub fn last_save_unix(&self) -> u64 {
        self.shared.last_save_unix.load(Ordering::Relaxed)
    }

    /// The log index of the last snapshot written or installed on this node (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.shared.snapshot_index.load(Ordering::Relaxed)
    }

    /// Whether a snapshot is being written now.
    pub fn saving(&self) -> bool {
        self.shared.saving.load(Ordering::Relaxed)
    }

    /// Hands leadership to `to`, or to the most up-to-date follower, and waits (up to twice
    /// the election timeout) until another node leads. Ok(id of the new leader).
    pub async fn transfer_leader(&self, to: Option<NodeId>) -> Result<NodeId, String> {
        let (tx, rx) = oneshot::channel();
        if self
            .shared
            .events
            .send(ClientEvent::Transfer { to, reply: tx })
            .is_err()
        {
            return Err("the node is stopping".into());
        }
        let target = rx.await.map_err(|_| "the node is stopping".to_string())??;
        let eto = self.shared.settings.read().election_timeout_ms;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(2 * eto);
        loop {
            let leader = self.shared.leader.load(Ordering::Acquire);
            if leader == target {
                return Ok(leader);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(format!("leadership did not move to node {target} in time"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Stops the driver after it has handed out everything queued; the driver then closes the
    /// WAL (syncing what it holds), or ends the WAL thread, which does.
    pub fn stop(&self) {
        if !self.shared.stopped.swap(true, Ordering::AcqRel) {
            let _ = self.shared.events.send(ClientEvent::Stop);
        }
    }

    /// `stop`, then waits (blocking) until the driver has ended and the WAL has synced what it
    /// holds: once this returns, everything written is durable (whatever
    /// `appendfsync` says) unless the WAL had failed.
    pub fn stop_and_wait(&self) {
        self.stop();
        let threads = std::mem::take(&mut *self.shared.threads.lock());
        for t in threads {
            let _ = t.join();
        }
    }
}

/// Shards per database in the store (each behind its own lock).
const STORE_SHARDS_PER_DB: usize = 64;
/// What an entry costs in the log beyond its payload (index, term, kind, WAL record header),
/// roughly, for `raft-snapshot-log-size`.
const ENTRY_OVERHEAD_BYTES: usize = 48;
/// Snapshot bytes per chunk on the peer bus.
const SNAPSHOT_CHUNK_BYTES: usize = 1 << 20;
/// A snapshot stream with no answer for this long is abandoned (the leader retries later).
const SNAPSHOT_STALL_MS: u64 = 10_000;

/// Peer messages waiting for the driver, at most; more are dropped (Raft retransmits).
const PEER_INBOX_MESSAGES_MAX: usize = 1 << 16;
/// Client events the driver takes per loop turn, at most, so peer traffic is never starved.
const CLIENT_EVENTS_PER_TURN_MAX: usize = 8192;
const TICK_MS: u64 = 5;
const HOUSEKEEPING_MS: u64 = 100;
/// Keys sampled per database per expire cycle, at most.
const EXPIRE_KEYS_PER_CYCLE_MAX: usize = 256;

/// Where a proposal's outcome goes (none for the node's own expire and evict proposals).
type Waiter = Option<oneshot::Sender<Result<Vec<Reply>, WriteError>>>;

fn answer(w: Waiter, r: Result<Vec<Reply>, WriteError>) {
    if let Some(tx) = w {
        let _ = tx.send(r);
    }
}

struct ReadWaiter {
    tx: oneshot::Sender<Result<u64, ReadError>>,
    deadline_ms: u64,
}

/// A restart in progress: done once the entries committed before it are applied again.
struct Restart {
    started: Instant,
    snapshot_index: u64,
    replay_to: u64,
}

struct Driver {
    /// Until the log recovered at startup is applied again.
    restart: Option<Restart>,
    /// Bytes of the entries applied since the last snapshot started (`raft-snapshot-log-size`).
    applied_bytes: u64,
    /// The size of the last keyspace this node serialized, to size the next one's buffer.
    last_keyspace_bytes: usize,
    core: Raft,
    shared: Arc<Shared>,
    transport: Transport,
    persist: Persist,
    next_id: u64,
    /// What became of each proposal: applied, not committed, or unknown.
    writes: Tracker<Waiter>,
    reads: HashMap<raft::ReadId, ReadWaiter>,
    /// The highest entry time in this node's log; the next stamp is never below it.
    last_time_ms: u64,
    applied_tx: watch::Sender<u64>,
    replies: Vec<Reply>,
    wal_failed: bool,
    /// An expire proposal is in flight until this index is applied (0: none).
    expire_pending_until: u64,
    expire_db_cursor: usize,
    last_role: Role,
    last_leader: NodeId,
    /// The leader's eviction state (maxmemory), see `evict`.
    evict: evict::Evictor,
    /// The latest durable snapshot, and the time of its last entry.
    snapshot: Option<raft::SnapshotMeta>,
    snapshot_time_ms: u64,
    /// A snapshot is being written by the background thread.
    snapshot_running: bool,
    /// SAVE requests waiting for the snapshot being written.
    save_waiters: Vec<oneshot::Sender<Result<(), String>>>,
    snap_done: (Sender<SnapDone>, Receiver<SnapDone>),
    /// Leader: snapshot streams to followers.
    senders: HashMap<NodeId, SnapSender>,
    /// Follower: the snapshot being received, from which leader, and when a chunk last came.
    receiving: Option<(NodeId, snapfile::Receiving, u64)>,
}

/// Who writes the Raft log.
///
/// A group of one persists inline: the driver runs one round (one sync for everything the turn
/// proposed) at the end of each turn. Nothing else waits on the driver while it syncs, and a
/// write takes two hand-offs between threads (client to driver and back) instead of four.
/// Measured with redis-benchmark SET on one node: 1.1 to 1.2 times the writes per second of
/// the WAL thread at 1 and 10 clients, the same within noise at 50 and 200. A node with peers
/// uses the WAL thread, so a leader keeps sending entries to its followers and counting their
/// acknowledgements while its own sync runs, and a slow disk does not hold up its heartbeats
/// (three nodes inline measured no better, within the noise of a 2-core machine). A group of
/// one that gains a member moves to the thread for good (`persist_on_thread`).
enum Persist {
    /// The WAL thread runs the rounds, in parallel with the driver.
    Thread {
        tx: Sender<PersistJob>,
        handle: std::thread::JoinHandle<()>,
    },
    /// The driver runs the rounds; `thread` keeps the channels the WAL thread would use (the
    /// driver selects on the completion queue either way).
    Inline {
        p: Box<Persister>,
        queued: Vec<PersistJob>,
        thread: Option<PersistChannels>,
    },
    /// The driver has stopped.
    Closed,
}

type PersistChannels = (
    Sender<PersistJob>,
    Receiver<PersistJob>,
    Sender<PersistDone>,
);

impl Persist {
    fn spawn(
        p: Persister,
        tx: Sender<PersistJob>,
        rx: Receiver<PersistJob>,
        done: Sender<PersistDone>,
    ) -> Result<Persist, String> {
        let handle = std::thread::Builder::new()
            .name("raftis-wal".into())
            .spawn(move || persist::run(p, rx, done))
            .map_err(|e| e.to_string())?;
        Ok(Persist::Thread { tx, handle })
    }
}

/// The background thread finished writing a snapshot.
struct SnapDone {
    meta: raft::SnapshotMeta,
    time_ms: u64,
    result: Result<(), String>,
    pause_ms: f64,
    write_ms: f64,
    bytes: usize,
}

/// A snapshot file on its way to one follower.
struct SnapSender {
    bytes: Arc<Vec<u8>>,
    index: u64,
    term: u64,
    /// Bytes the follower confirmed.
    acked: u64,
    last_activity_ms: u64,
}

impl Driver {
    fn mono_ms(&self) -> u64 {
        self.shared.epoch.elapsed().as_millis() as u64
    }

    fn stamp(&mut self) -> u64 {
        self.last_time_ms = self.last_time_ms.max(wall_ms());
        self.last_time_ms
    }

    fn run(
        mut self,
        events: Receiver<ClientEvent>,
        peers: Receiver<Message>,
        done: Receiver<PersistDone>,
    ) {
        self.turns(events, peers, done);
        // Everything written is durable once the WAL is closed (the thread closes it when its
        // queue does).
        match std::mem::replace(&mut self.persist, Persist::Closed) {
            Persist::Inline { mut p, .. } => p.close(),
            Persist::Thread { tx, handle } => {
                drop(tx);
                let _ = handle.join();
            }
            Persist::Closed => {}
        }
    }

    fn turns(
        &mut self,
        events: Receiver<ClientEvent>,
        peers: Receiver<Message>,
        done: Receiver<PersistDone>,
    ) {
        // Nothing to replay beyond the snapshot: the restart is complete already.
        let snapshot_index = self.restart.as_ref().map_or(0, |r| r.snapshot_index);
        self.restart_done(snapshot_index);
        let mut next_housekeeping = 0;
        loop {
            let now = self.mono_ms();
            let wait = Duration::from_millis(TICK_MS.saturating_sub(now % TICK_MS).max(1));
            enum Woken {
                Client(ClientEvent),
                Peer(Message),
                Persisted(PersistDone),
                Nothing,
            }
            let woken = crossbeam::select! {
                recv(events) -> ev => match ev {
                    Ok(ClientEvent::Stop) | Err(_) => return,
                    Ok(ev) => Woken::Client(ev),
                },
                recv(peers) -> m => m.map_or(Woken::Nothing, Woken::Peer),
                recv(done) -> d => d.map_or(Woken::Nothing, Woken::Persisted),
                default(wait) => Woken::Nothing,
            };
            // Time first: after a pause (SIGSTOP, a long GC-like stall of the host) the core
            // must see how late it is before it judges anything by its lease.
            self.core.tick(self.mono_ms());
            match woken {
                Woken::Client(ev) => self.on_client(ev),
                Woken::Peer(m) => self.on_peer(m),
                Woken::Persisted(d) => self.on_persisted(d),
                Woken::Nothing => {}
            }
            while let Ok(d) = done.try_recv() {
                self.on_persisted(d);
            }
            while let Ok(d) = self.snap_done.1.try_recv() {
                self.on_snapshot_written(d);
            }
            let mut took = 0;
            while took < CLIENT_EVENTS_PER_TURN_MAX {
                // Each event may have arrived after the last tick (even across a pause of
                // the process): a lease is judged at the time of the event, never earlier.
                self.core.tick(self.mono_ms());
                let mut progressed = false;
                if let Ok(ev) = events.try_recv() {
                    if matches!(ev, ClientEvent::Stop) {
                        return;
                    }
                    self.on_client(ev);
                    progressed = true;
                    took += 1;
                }
                if let Ok(m) = peers.try_recv() {
                    self.on_peer(m);
                    progressed = true;
                    took += 1;
                }
                if !progressed {
                    break;
                }
            }
            let now = self.mono_ms();
            self.core.tick(now);
            if now >= next_housekeeping {
                next_housekeeping = now + HOUSEKEEPING_MS;
                self.housekeeping(now);
            }
            self.hints_tick(now);
            while self.core.has_ready() {
                let rd = self.core.ready();
                self.handle_ready(rd);
            }
            if self.persist_inline(!events.is_empty() || !peers.is_empty()) {
                while self.core.has_ready() {
                    let rd = self.core.ready();
                    self.handle_ready(rd);
                }
            }
            self.publish();
        }
    }

    fn on_client(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Propose { mut payload, reply } => {
                if self.wal_failed {
                    if let Some(tx) = reply {
                        let why = self.shared.wal_error.lock().clone().unwrap_or_default();
                        let _ = tx.send(Err(WriteError::WalFailed(why)));
                    }
                    return;
                }
                let mut reply = reply;
                let mut cost = 0;
                if self.core.role() == Role::Leader {
                    // maxmemory: evict first, or refuse (see `evict`).
                    match self.admit_local(&mut payload, &mut reply) {
                        Some(c) => cost = c,
                        None => return,
                    }
                    let t = self.stamp();
                    machine::set_time(&mut payload, t);
                }
                let deadline_ms = self.mono_ms() + self.shared.settings.read().write_timeout_ms;
                self.propose_write(payload, reply, deadline_ms);
                self.evict.note_write(self.core.last_index(), cost);
            }
            ClientEvent::ReadIndex { reply } => {
                let id = self.next_id;
                self.next_id += 1;
                let deadline_ms = self.mono_ms() + self.shared.settings.read().write_timeout_ms;
                self.reads.insert(
                    id,
                    ReadWaiter {
                        tx: reply,
                        deadline_ms,
                    },
                );
                self.core.read_index(id);
            }
            ClientEvent::ConfChange { change, reply } => {
                let id = self.next_id;
                self.next_id += 1;
                let deadline_ms = self.mono_ms() + self.shared.settings.read().write_timeout_ms;
                self.writes.propose(id, Some(reply), deadline_ms, false);
                self.core.propose_conf_change(id, change);
            }
            ClientEvent::Transfer { to, reply } => {
                let target = match to {
                    Some(t) => Some(t),
                    None if self.core.role() == Role::Leader => self.core.best_transfer_target(),
                    None => None,
                };
                let r = match target {
                    None => Err("no other voter to take over".to_string()),
                    Some(t) => self
                        .core
                        .transfer_leader(t)
                        .map(|_| t)
                        .map_err(str::to_string),
                };
                let _ = reply.send(r);
            }
            ClientEvent::Save { wait, reply } => self.on_save(wait, reply),
            ClientEvent::Stop => {}
        }
    }

    fn on_peer(&mut self, mut m: Message) {
        match m.body {
            Body::SnapshotChunk {
                index,
                term,
                offset,
                total,
                data,
            } => {
                return self.on_snapshot_chunk(m.from, m.term, index, term, offset, total, data);
            }
            Body::SnapshotAck { index, next } => return self.on_snapshot_ack(m.from, index, next),
            Body::Node { kind, data } => return self.on_node_message(kind, &data),
            _ => {}
        }
        let mut cost = 0;
        if self.core.role() == Role::Leader {
            if let Body::Propose { proposals } = &mut m.body {
                // maxmemory: evict first, or refuse (see `evict`).
                cost = self.admit_forwarded(m.from, proposals);
                // Forwarded writes carry the follower's clock: the leader stamps its own.
                for (_, data) in proposals.iter_mut() {
                    let t = self.stamp();
                    let mut b = BytesMut::from(&data[..]);
                    machine::set_time(&mut b, t);
                    *data = b.freeze();
                }
            }
        }
        self.core.step(m);
        self.evict.note_write(self.core.last_index(), cost);
    }

    /// Hands a job to the WAL thread, or queues it for this turn's inline round.
    fn persist(&mut self, job: PersistJob) {
        match &mut self.persist {
            Persist::Thread { tx, .. } => {
                if tx.send(job).is_err() {
                    self.wal_failed = true;
                }
            }
            Persist::Inline { queued, .. } => queued.push(job),
            Persist::Closed => {}
        }
    }

    /// From inline persistence to the WAL thread, for good: the group is no longer this node
    /// alone. The jobs queued this turn go first, in order.
    fn persist_on_thread(&mut self) {
        let Persist::Inline { thread, .. } = &mut self.persist else {
            return;
        };
        let Some((tx, rx, done)) = thread.take() else {
            return;
        };
        let Persist::Inline { p, queued, .. } =
            std::mem::replace(&mut self.persist, Persist::Closed)
        else {
            unreachable!("matched above");
        };
        for job in queued {
            let _ = tx.send(job);
        }
        match Persist::spawn(*p, tx, rx, done) {
            Ok(t) => {
                log_verbose!(
                    "The group has other members: the Raft log is written by the WAL thread"
                );
                self.persist = t;
            }
            Err(why) => self.on_persisted(PersistDone::Failed(why)),
        }
    }

    /// `appendfsync everysec` with inline persistence: the sync due on the timer.
    fn persist_timer(&mut self) {
        if self.wal_failed {
            return;
        }
        if let Persist::Inline { p, .. } = &mut self.persist {
            let mut out = Vec::new();
            let r = p.round(&mut [], &mut out);
            for d in out {
                self.on_persisted(d);
            }
            if let Err(why) = r {
                self.on_persisted(PersistDone::Failed(why));
            }
        }
    }

    /// Inline persistence: one round (one sync) for every job this turn queued, then their
    /// completions. True if anything completed.
    fn persist_inline(&mut self, more_waiting: bool) -> bool {
        let Persist::Inline { p, queued, .. } = &mut self.persist else {
            return false;
        };
        if self.wal_failed {
            // A failed write or sync is never retried (as the WAL thread stops for good): the
            // writes waiting on this round time out unanswered by the log.
            queued.clear();
            return false;
        }
        if queued.is_empty() && !p.has_unmarked() {
            return false;
        }
        let mut out = Vec::new();
        let mut batch = std::mem::take(queued);
        let mut r = p.round(&mut batch, &mut out);
        // A round left waiting for its sync marker (`wal-marker-before-ack yes`) completes
        // with the next turn's sync when more work is already waiting, as on the WAL thread;
        // otherwise its marker is flushed alone now.
        if r.is_ok() && !more_waiting {
            r = p.release_unmarked(&mut out);
        }
        for d in out {
            self.on_persisted(d);
        }
        if let Err(why) = r {
            self.on_persisted(PersistDone::Failed(why));
        }
        true
    }

    fn on_persisted(&mut self, d: PersistDone) {
        match d {
            PersistDone::Durable {
                last,
                messages,
                syncs,
            } => {
                self.shared
                    .stats
                    .wal_syncs
                    .fetch_add(syncs, Ordering::Relaxed);
                for m in messages {
                    if m.to == m.from {
                        // The core's own vote, durable now.
                        self.core.step(m);
                    } else {
                        self.transport.send(m);
                    }
                }
                if let Some((index, term)) = last {
                    self.core.persisted(index, term);
                }
            }
            PersistDone::Failed(why) => {
                log_warning!(
                    "Writing the Raft log failed: {why}. This node refuses writes until restarted."
                );
                self.wal_failed = true;
                *self.shared.wal_error.lock() = Some(why);
            }
        }
    }

    fn handle_ready(&mut self, rd: raft::Ready) {
        // Before any message can tell another node about a new commit index (see the header).
        self.shared
            .commit_index
            .store(self.core.commit_index(), Ordering::Release);
        // Also the lease: a leadership transfer ends it before its TimeoutNow leaves.
        self.shared
            .lease_until_ms
            .store(self.core.lease_until(), Ordering::Release);
        if let Some(m) = rd.membership {
            self.on_membership(m);
        }
        for m in rd.messages {
            self.transport.send(m);
        }
        for e in &rd.entries {
            if let Some(t) = machine::entry_time(&e.data) {
                self.last_time_ms = self.last_time_ms.max(t);
            }
        }
        let mut reset = None;
        if let Some((meta, discarded)) = rd.restored {
            reset = discarded.then_some((meta.index, meta.term));
            self.installed_snapshot(meta);
        }
        for to in rd.send_snapshots {
            self.start_sending_snapshot(to);
        }
        if !self.wal_failed
            && (reset.is_some()
                || rd.hard_state.is_some()
                || !rd.entries.is_empty()
                || !rd.persist_messages.is_empty())
        {
            let job = PersistJob {
                reset,
                compact_upto: None,
                hard_state: rd.hard_state,
                entries: rd.entries,
                messages: rd.persist_messages,
            };
            self.persist(job);
        }
        // Register where proposals went before applying: this Ready may commit them too.
        for p in rd.proposals {
            self.writes.outcome(p);
        }
        if !rd.committed.is_empty() {
            self.apply(rd.committed);
        }
        self.answer_settled();
        for r in rd.reads {
            let result = match r.result {
                Ok(index) => Ok(index),
                Err(CoreReadError::NoLeader) => Err(ReadError::NoLeader),
                Err(CoreReadError::Refused) => Err(ReadError::Refused),
            };
            for id in r.ids {
                if let Some(w) = self.reads.remove(&id) {
                    let _ = w.tx.send(result.clone());
                }
            }
        }
    }

    /// Proposes a client write (or the node's own expire or evict batch), tagged with this
    /// node and its proposal id so this node recognises it when applied.
    fn propose_write(&mut self, mut payload: BytesMut, waiter: Waiter, deadline_ms: u64) {
        let id = self.next_id;
        self.next_id += 1;
        machine::set_origin(&mut payload, self.core.id(), id);
        self.writes.propose(id, waiter, deadline_ms, true);
        self.core.propose(id, payload.freeze());
    }

    /// Answers the proposals the tracker settled without applying them.
    fn answer_settled(&mut self) {
        for (w, fate) in self.writes.drain_settled() {
            let err = match fate {
                Fate::NotCommitted => WriteError::NotCommitted,
                Fate::Uncertain => WriteError::Uncertain,
                Fate::Failed(ProposeError::NoLeader | ProposeError::NotLeader) => {
                    WriteError::NoLeader
                }
                Fate::Failed(ProposeError::Rejected(why)) => WriteError::Rejected(why),
                Fate::Failed(ProposeError::Refused(code)) => evict::refused(code),
                // The tracker settles these itself.
                Fate::Failed(ProposeError::Unanswered { .. }) => WriteError::Uncertain,
            };
            // Counted only when a client is told: the node's own expire and evict proposals
            // have no waiter.
            if matches!(err, WriteError::Uncertain) && w.is_some() {
                self.shared
                    .stats
                    .uncertain_writes
                    .fetch_add(1, Ordering::Relaxed);
            }
            answer(w, Err(err));
        }
    }

    fn apply(&mut self, entries: Vec<raft::Entry>) {
        let mut last = 0;
        let mut time = 0;
        let count = entries.len() as u64;
        for e in entries {
            self.applied_bytes += (e.data.len() + ENTRY_OVERHEAD_BYTES) as u64;
            self.replies.clear();
            if e.kind == raft::EntryKind::ConfChange {
                // The core put the membership in force when the entry was appended.
                self.replies.push(Reply::OK);
            } else if !e.data.is_empty() {
                let shared = &self.shared;
                let mut effects = LocalEffects(&shared.pubsub, &shared.blocked);
                machine::apply(
                    &shared.store,
                    e.index,
                    &e.data,
                    &mut self.replies,
                    &mut effects,
                );
                if let Some(t) = machine::entry_time(&e.data) {
                    time = time.max(t);
                }
            }
            // This node's own write, whoever was leader when it was appended.
            let mine = match e.kind {
                raft::EntryKind::ConfChange => None,
                _ => machine::origin(&e.data)
                    .filter(|&(node, _)| node == self.core.id())
                    .map(|(_, id)| id),
            };
            if let Some(w) = self.writes.applied(e.index, e.term, mine) {
                answer(w, Ok(std::mem::take(&mut self.replies)));
            }
            last = e.index;
        }
        if self.expire_pending_until != 0 && last >= self.expire_pending_until {
            self.expire_pending_until = 0;
        }
        self.evict.applied(last);
        self.shared
            .stats
            .entries_applied
            .fetch_add(count, Ordering::Relaxed);
        self.shared
            .applied_time_ms
            .fetch_max(time, Ordering::AcqRel);
        self.shared.applied_index.store(last, Ordering::Release);
        self.applied_tx.send_replace(last);
        self.restart_done(last);
    }

    /// Logs, once, how long the restart took: WAL recovery, snapshot load and replay of the
    /// entries this node knew were committed.
    fn restart_done(&mut self, applied: u64) {
        if self
            .restart
            .as_ref()
            .is_some_and(|r| applied >= r.replay_to)
        {
            let r = self.restart.take().unwrap();
            log_notice!(
                "Restart complete in {:.3}s: snapshot at index {}, {} committed log entries replayed, {} keys",
                r.started.elapsed().as_secs_f64(),
                r.snapshot_index,
                r.replay_to - r.snapshot_index,
                (0..self.shared.store.databases() as u32)
                    .map(|db| self.shared.store.db_counts(db).0)
                    .sum::<u64>()
            );
        }
    }

    fn housekeeping(&mut self, now: u64) {
        self.persist_timer();
        // Timeouts: a write or read that waited too long is answered, never left hanging.
        self.writes.expire(now);
        self.answer_settled();
        let expired: Vec<_> = self
            .reads
            .iter()
            .filter(|(_, w)| w.deadline_ms <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(w) = self.reads.remove(&id) {
                let _ = w.tx.send(Err(ReadError::Refused));
            }
        }
        self.expire_cycle();
        self.evict_cycle();
        self.publish_members(now);
        self.maybe_snapshot();
        self.snapshot_stalls(now);
    }

    /// The leader proposes the deletion of keys whose deadline passed (as a Redis primary
    /// sends DEL to its replicas). One proposal in flight at a time.
    fn expire_cycle(&mut self) {
        if !self.core.committed_in_term() || self.expire_pending_until != 0 || self.wal_failed {
            return;
        }
        let store = self.shared.store.clone();
        let now = wall_ms().max(self.last_time_ms);
        let dbs = store.databases();
        let mut ops = Vec::new();
        for step in 0..dbs {
            let db = (self.expire_db_cursor + step) % dbs;
            let keys = store.sample_expired(db as u32, now, EXPIRE_KEYS_PER_CYCLE_MAX);
            if !keys.is_empty() {
                self.shared
                    .stats
                    .expired_keys_proposed
                    .fetch_add(keys.len() as u64, Ordering::Relaxed);
                ops.push(Op::ExpireKeys {
                    db: db as u32,
                    keys,
                });
            }
        }
        self.expire_db_cursor = (self.expire_db_cursor + 1) % dbs.max(1);
        if ops.is_empty() {
            return;
        }
        let t = self.stamp();
        let payload = machine::encode_mut(t, &ops);
        self.expire_pending_until = self.core.last_index() + 1;
        self.propose_write(payload, None, self.mono_ms() + 60_000);
    }

    fn publish(&mut self) {
        let sh = &self.shared;
        let role = self.core.role();
        sh.commit_index
            .store(self.core.commit_index(), Ordering::Release);
        sh.lease_until_ms
            .store(self.core.lease_until(), Ordering::Release);
        sh.term.store(self.core.term(), Ordering::Release);
        sh.leader.store(self.core.leader(), Ordering::Release);
        sh.role.store(role_code(role), Ordering::Release);
        if role != self.last_role || self.core.leader() != self.last_leader {
            crate::logging::set_role(
                role == Role::Leader,
                role == Role::Follower && self.core.leader() != 0,
            );
            match role {
                Role::Leader => log_notice!("Raft: this node leads term {}", self.core.term()),
                Role::Follower if self.core.leader() != 0 => {
                    log_notice!(
                        "Raft: following node {} in term {}",
                        self.core.leader(),
                        self.core.term()
                    )
                }
                _ => log_verbose!(
                    "Raft: {} in term {}, no leader known",
                    role.as_str(),
                    self.core.term()
                ),
            }
            self.last_role = role;
            self.last_leader = self.core.leader();
            if role != Role::Leader {
                self.expire_pending_until = 0;
                self.senders.clear();
            }
            self.evict_role_changed(role);
        }
    }

    fn on_membership(&mut self, m: raft::Membership) {
        let me = self.core.id();
        let peers: Vec<(NodeId, String)> = m
            .members()
            .filter(|(id, _, _)| *id != me)
            .map(|(id, addr, _)| (id, bus_addr(addr)))
            .collect();
        // A joining node is not in the membership it knows (empty until the leader's entries
        // arrive): it keeps the peers that dialed in, among them the leader.
        self.transport.set_peers(&peers, m.contains(me));
        if !peers.is_empty() {
            self.persist_on_thread();
        }
        let described: Vec<String> = m
            .members()
            .map(|(id, addr, voter)| {
                format!(
                    "{id}@{}{}",
                    client_addr(addr),
                    if voter { "" } else { "(learner)" }
                )
            })
            .collect();
        log_notice!("Raft membership: {}", described.join(" "));
        *self.shared.members.lock() = m
            .members()
            .map(|(id, addr, voter)| MemberStatus {
                id,
                addr: client_addr(addr).to_string(),
                voter,
                matched: None,
                last_contact_ms: None,
            })
            .collect();
        self.publish_members(self.mono_ms());
    }

    fn publish_members(&self, now: u64) {
        let leader = self.core.role() == Role::Leader;
        let me = self.core.id();
        let progress: HashMap<NodeId, (u64, u64)> = self
            .core
            .followers()
            .map(|(id, matched, contact)| (id, (matched, contact)))
            .collect();
        let mut members = self.shared.members.lock();
        for m in members.iter_mut() {
            if !leader {
                m.matched = None;
                m.last_contact_ms = None;
            } else if m.id == me {
                m.matched = Some(self.core.persisted_index());
                m.last_contact_ms = Some(0);
            } else if let Some((matched, contact)) = progress.get(&m.id) {
                m.matched = Some(*matched);
                m.last_contact_ms = Some(now.saturating_sub(*contact));
            }
        }
    }
}

/// Snapshots (§7): taking them, compacting the log behind them, streaming them to followers
/// whose next entries were compacted away, and installing one received from the leader.
impl Driver {
    /// Takes a snapshot once `raft-snapshot-entries` entries were applied since the last one.
    /// Apply pauses while the keyspace is serialized in memory (this thread applies, so the
    /// image is exactly the state at the applied index; readers keep going); a background
    /// thread writes and syncs the file.
    /// Snapshots when enough entries, or enough bytes of them, were applied since the last
    /// snapshot: the log (in memory and in the WAL) stays bounded either way.
    fn maybe_snapshot(&mut self) {
        let (every, bytes) = {
            let s = self.shared.settings.read();
            (s.raft_snapshot_entries, s.raft_snapshot_log_bytes)
        };
        let last = self.snapshot.as_ref().map_or(0, |m| m.index);
        let applied = self.core.applied_index();
        if applied > last && (applied >= last.saturating_add(every) || self.applied_bytes >= bytes)
        {
            self.snapshot_now();
        }
    }

    /// SAVE / BGSAVE, as Redis answers them: refused while a snapshot is being written.
    fn on_save(&mut self, wait: bool, reply: oneshot::Sender<Result<(), String>>) {
        if self.snapshot_running {
            let _ = reply.send(Err("Background save already in progress".into()));
            return;
        }
        if !self.snapshot_now() {
            let _ = reply.send(Err("the snapshot could not be started on this node".into()));
            return;
        }
        if wait {
            self.save_waiters.push(reply);
        } else {
            let _ = reply.send(Ok(()));
        }
    }

    /// Starts a snapshot at the applied index; false if one cannot start now.
    fn snapshot_now(&mut self) -> bool {
        if self.snapshot_running || self.wal_failed {
            return false;
        }
        let applied = self.core.applied_index();
        let Some(term) = self.core.log().term(applied) else {
            return false;
        };
        let meta = raft::SnapshotMeta {
            index: applied,
            term,
            membership: self.core.membership_at(applied),
        };
        let time_ms = self.shared.applied_time_ms.load(Ordering::Acquire);
        let started = Instant::now();
        self.applied_bytes = 0;
        // Sized for about what the last one held: growing a buffer of hundreds of megabytes
        // by doubling copies it again and again while applying waits (measured: most of the
        // pause with 860k keys).
        let guess = self.last_keyspace_bytes + self.last_keyspace_bytes / 8;
        let mut keyspace = Vec::with_capacity(guess);
        self.shared.store.serialize(&mut keyspace);
        self.last_keyspace_bytes = keyspace.len();
        let pause_ms = started.elapsed().as_secs_f64() * 1000.0;
        let databases = self.shared.store.databases();
        let dir = self.shared.settings.read().dir.clone();
        let tx = self.snap_done.0.clone();
        self.snapshot_running = true;
        let spawned = std::thread::Builder::new()
            .name("raftis-snapshot".into())
            .spawn(move || {
                let started = Instant::now();
                let (head, crc) = snapfile::frame(&meta, time_ms, databases, &keyspace);
                let result = snapfile::write_parts(&dir, &[&head, &keyspace, &crc])
                    .map_err(|e| e.to_string());
                let file_bytes = head.len() + keyspace.len() + crc.len();
                drop(keyspace);
                let write_ms = started.elapsed().as_secs_f64() * 1000.0;
                let _ = tx.send(SnapDone {
                    meta,
                    time_ms,
                    result,
                    pause_ms,
                    write_ms,
                    bytes: file_bytes,
                });
            });
        if spawned.is_err() {
            self.snapshot_running = false;
            return false;
        }
        self.shared.saving.store(true, Ordering::Relaxed);
        true
    }

    fn on_snapshot_written(&mut self, d: SnapDone) {
        self.snapshot_running = false;
        self.shared.saving.store(false, Ordering::Relaxed);
        let waiters = std::mem::take(&mut self.save_waiters);
        if let Err(e) = d.result {
            log_warning!("Writing the snapshot at index {} failed: {e}", d.meta.index);
            for w in waiters {
                let _ = w.send(Err(format!("writing the snapshot failed: {e}")));
            }
            return;
        }
        self.shared
            .last_save_unix
            .store(wall_ms() / 1000, Ordering::Relaxed);
        self.shared
            .snapshot_index
            .store(d.meta.index, Ordering::Relaxed);
        log_notice!(
            "Snapshot at index {} written ({} bytes): apply paused {:.1} ms to serialize, file written in {:.1} ms",
            d.meta.index,
            d.bytes,
            d.pause_ms,
            d.write_ms
        );
        for w in waiters {
            let _ = w.send(Ok(()));
        }
        let (keep, keep_bytes) = {
            let s = self.shared.settings.read();
            // The entries kept for slow followers hold at most a quarter of the snapshot
            // trigger's bytes, so that large values cannot keep a huge log in memory.
            (s.raft_log_keep_entries, s.raft_snapshot_log_bytes / 4)
        };
        let mut upto = d.meta.index.saturating_sub(keep);
        let mut kept_bytes = 0u64;
        for i in (upto + 1..=d.meta.index).rev() {
            let Some(e) = self.core.log().entry(i) else {
                break;
            };
            kept_bytes += (e.data.len() + ENTRY_OVERHEAD_BYTES) as u64;
            if kept_bytes > keep_bytes {
                upto = i;
                break;
            }
        }
        self.snapshot = Some(d.meta);
        self.snapshot_time_ms = d.time_ms;
        self.core.compact(upto);
        if !self.wal_failed {
            let job = PersistJob {
                reset: None,
                compact_upto: Some(upto),
                hard_state: None,
                entries: Vec::new(),
                messages: Vec::new(),
            };
            self.persist(job);
        }
    }

    fn start_sending_snapshot(&mut self, to: NodeId) {
        if self.senders.contains_key(&to) {
            return;
        }
        let dir = self.shared.settings.read().dir.clone();
        let (Some(meta), Ok(Some(bytes))) = (self.snapshot.clone(), snapfile::read(&dir)) else {
            log_warning!("Node {to} needs a snapshot and this node has none to send");
            self.core.snapshot_sent(to, false);
            return;
        };
        log_notice!(
            "Sending the snapshot at index {} ({} bytes) to node {to}",
            meta.index,
            bytes.len()
        );
        let now = self.mono_ms();
        self.senders.insert(
            to,
            SnapSender {
                bytes: Arc::new(bytes),
                index: meta.index,
                term: meta.term,
                acked: 0,
                last_activity_ms: now,
            },
        );
        self.send_snapshot_chunk(to);
    }

    fn send_snapshot_chunk(&mut self, to: NodeId) {
        let Some(s) = self.senders.get(&to) else {
            return;
        };
        let start = s.acked as usize;
        let end = (start + SNAPSHOT_CHUNK_BYTES).min(s.bytes.len());
        let body = Body::SnapshotChunk {
            index: s.index,
            term: s.term,
            offset: s.acked,
            total: s.bytes.len() as u64,
            data: Bytes::copy_from_slice(&s.bytes[start..end]),
        };
        self.transport.send(Message {
            from: self.core.id(),
            to,
            term: self.core.term(),
            body,
        });
    }

    fn on_snapshot_ack(&mut self, from: NodeId, index: u64, next: u64) {
        let now = self.mono_ms();
        let Some(s) = self.senders.get_mut(&from) else {
            return;
        };
        if s.index != index {
            return;
        }
        let total = s.bytes.len() as u64;
        if next == u64::MAX {
            self.senders.remove(&from);
            log_warning!("Node {from} refused the snapshot at index {index}");
            self.core.snapshot_sent(from, false);
        } else if next >= total {
            self.senders.remove(&from);
            log_notice!("Node {from} installed the snapshot at index {index}");
            self.core.snapshot_sent(from, true);
        } else {
            s.acked = next;
            s.last_activity_ms = now;
            self.send_snapshot_chunk(from);
        }
    }

    fn ack_snapshot(&mut self, to: NodeId, index: u64, next: u64) {
        let body = Body::SnapshotAck { index, next };
        self.transport.send(Message {
            from: self.core.id(),
            to,
            term: self.core.term(),
            body,
        });
    }

    #[allow(clippy::too_many_arguments)] // one message's fields
    fn on_snapshot_chunk(
        &mut self,
        from: NodeId,
        msg_term: u64,
        index: u64,
        _term: u64,
        offset: u64,
        total: u64,
        data: Bytes,
    ) {
        if msg_term < self.core.term() {
            return;
        }
        let dir = self.shared.settings.read().dir.clone();
        let now = self.mono_ms();
        if offset == 0 {
            if index <= self.core.commit_index() {
                // Already covered: nothing to install.
                return self.ack_snapshot(from, index, total);
            }
            match snapfile::Receiving::start(&dir, index) {
                Ok(r) => self.receiving = Some((from, r, now)),
                Err(e) => {
                    log_warning!("Can't receive a snapshot: {e}");
                    return self.ack_snapshot(from, index, u64::MAX);
                }
            }
        }
        let expected = match &self.receiving {
            Some((_, r, _)) if r.index == index => r.received,
            _ => 0,
        };
        if expected != offset || self.receiving.is_none() {
            // Out of step (a lost chunk, or a restarted stream): ask for what is missing.
            return self.ack_snapshot(from, index, expected);
        }
        let (_, r, last) = self.receiving.as_mut().expect("receiving");
        if let Err(e) = r.append(&data) {
            log_warning!("Can't write a received snapshot: {e}");
            self.receiving = None;
            return self.ack_snapshot(from, index, u64::MAX);
        }
        *last = now;
        if r.received < total {
            let next = r.received;
            return self.ack_snapshot(from, index, next);
        }
        let (_, r, _) = self.receiving.take().expect("receiving");
        match self.install_received(r, &dir) {
            Ok(()) => self.ack_snapshot(from, index, total),
            Err(e) => {
                log_warning!("Refusing the snapshot at index {index} from node {from}: {e}");
                self.ack_snapshot(from, index, u64::MAX)
            }
        }
    }

    /// A complete snapshot from the leader: checked, made this node's durable snapshot, loaded
    /// into the store (replacing it, atomically for readers) and handed to the core. Apply
    /// pauses meanwhile; the core learns of it only once the store holds it.
    fn install_received(
        &mut self,
        r: snapfile::Receiving,
        dir: &std::path::Path,
    ) -> Result<(), String> {
        let started = Instant::now();
        let bytes = r.finish(dir)?;
        let (header, range) = snapfile::decode(&bytes)?;
        let meta = header.meta;
        if meta.index <= self.core.commit_index() {
            return Ok(());
        }
        let store = self.shared.store.as_ref();
        if header.databases != store.databases() {
            return Err(format!(
                "it has {} databases, this node {}",
                header.databases,
                store.databases()
            ));
        }
        let fresh = Store::deserialize(store.databases(), store.shards_per_db(), &bytes[range])?;
        snapfile::Receiving::install(dir).map_err(|e| e.to_string())?;
        store.replace_with(fresh);
        self.snapshot_time_ms = header.time_ms;
        self.last_time_ms = self.last_time_ms.max(header.time_ms);
        self.snapshot = Some(meta.clone());
        let index = meta.index;
        if !self.core.restore(meta) {
            return Err("the core refused it".into());
        }
        log_notice!(
            "Installed the snapshot at index {index} ({} bytes) in {:.3}s",
            bytes.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    /// The core accepted an installed snapshot: this node's state is now at its index.
    fn installed_snapshot(&mut self, meta: raft::SnapshotMeta) {
        let sh = &self.shared;
        sh.snapshot_index.store(meta.index, Ordering::Relaxed);
        sh.applied_time_ms
            .fetch_max(self.snapshot_time_ms, Ordering::AcqRel);
        sh.applied_index.store(meta.index, Ordering::Release);
        self.applied_tx.send_replace(meta.index);
        sh.blocked.wake_all();
        // Proposals the snapshot may hold: applied or not, their replies are unknown.
        self.writes.installed_snapshot(meta.index, meta.term);
        self.answer_settled();
        self.expire_pending_until = 0;
    }

    /// Streams that stopped moving are given up (the leader will try again).
    fn snapshot_stalls(&mut self, now: u64) {
        let stalled: Vec<NodeId> = self
            .senders
            .iter()
            .filter(|(_, s)| now > s.last_activity_ms + SNAPSHOT_STALL_MS)
            .map(|(id, _)| *id)
            .collect();
        for to in stalled {
            self.senders.remove(&to);
            log_warning!("Snapshot stream to node {to} stalled; it will be retried");
            self.core.snapshot_sent(to, false);
        }
        if self
            .receiving
            .as_ref()
            .is_some_and(|(_, _, last)| now > last + SNAPSHOT_STALL_MS)
        {
            self.receiving = None;
        }
    }
}

/// Applying an entry on this node reaches its local subscribers.
struct LocalEffects<'a>(&'a pubsub::PubSub, &'a blocking::Blocked);

impl machine::Effects for LocalEffects<'_> {
    fn publish(&mut self, channel: &[u8], message: &bytes::Bytes) -> i64 {
        self.0.publish(channel, message)
    }

    fn applied(&mut self, args: &[bytes::Bytes], reply: &Reply) {
        self.1.applied(args, reply)
    }
}

/// A member's address is `host:port@busport`: the client address and the bus port.
pub fn client_addr(member: &str) -> &str {
    member.split_once('@').map_or(member, |(a, _)| a)
}

/// The bus address (`host:busport`) of a member address `host:port@busport`.
pub fn bus_addr(member: &str) -> String {
    match member.split_once('@') {
        Some((client, bus)) => {
            let host = client.rsplit_once(':').map_or(client, |(h, _)| h);
            format!("{host}:{bus}")
        }
        None => member.to_string(),
    }
}
