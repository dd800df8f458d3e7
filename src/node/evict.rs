//! Bounded memory: the leader keeps used memory under `maxmemory` by proposing evictions, or
//! refuses writes that would grow it (`noeviction`), and followers tell the leader which keys
//! they read.
//!
//! Rule 1 (apply is a pure function of state and entry): only the leader measures memory and
//! chooses victims. It proposes their deletion as `Op::EvictKeys` entries, which every replica
//! applies alike (a key already gone is skipped), and it refuses `denyoom` writes before
//! proposing them: a refused op never reaches the log, or reaches it as `Op::Refused` when its
//! batch also holds ops that may run. Apply never looks at memory.
//!
//! What the leader compares with `maxmemory`: the store's used memory (`Store::used_memory`,
//! from its running counts) plus what the entries it appended and has not applied yet may add
//! (their payload bytes and `OP_OVERHEAD_BYTES` per op), minus what its eviction entries in
//! flight will free. So eviction answers a write at once, before the write applies, and used
//! memory never exceeds `maxmemory` by more than the last batch admitted (Redis, too, checks
//! before a command and lets that command grow memory).
//!
//! Choosing victims follows Redis's evict.c: a pool of `POOL_SIZE` candidates kept across
//! rounds, refilled with `maxmemory-samples` keys sampled from each database that has keys
//! (only keys with a TTL for `volatile-*`), ranked by idle time (LRU, from the key's access
//! field), by 255 minus the decayed logarithmic counter (LFU) or by nearness of the deadline
//! (volatile-ttl); the best candidate still present is the victim. The random policies take a
//! random key of the next database, round robin. Unlike Redis's pool this one holds a key at
//! most once, and it skips keys already proposed for eviction (they stay in the store until
//! their entry applies).
//!
//! Followers' reads. A read served by a follower changes only that follower's access field.
//! Each follower samples the accesses its reads record (`Store::note_read`: the keys a read
//! found, every one while under `raft-access-hints` keys per second, then a uniform sample)
//! and sends them to the leader every `HINT_INTERVAL_MS` (20 ms) in one message (`Body::Node`);
//! the leader records an access to each, with its own clock, as if it had served the read. So
//! the leader ranks keys by the accesses of the whole group, at the cost of up to 50 messages
//! per second per follower, carrying at most `raft-access-hints` keys per second.
//!
//! Not here: the accounting itself (`store::mem`), the `EvictKeys` apply (`machine`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Driver, Node};
use crate::command;
use crate::config::EvictionPolicy;
use crate::errors;
use crate::machine::{self, Op, Screened};
use crate::raft::{Body, Message, NodeId, ProposalId, Role};
use crate::reply::Reply;
use crate::store::{hash_key, lru, AccessPolicy, Entry, Store};
use crate::{log_notice, log_warning};

/// Candidates kept between rounds (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;
/// Victims chosen per call at most (a write, or a housekeeping turn): bounds the time the
/// driver spends sampling; past it the write proceeds and the next call goes on, as Redis's
/// eviction time limit does.
const VICTIMS_PER_CALL_MAX: usize = 4096;
/// Keys per eviction entry at most.
const VICTIMS_PER_ENTRY_MAX: usize = 1024;
/// Pool refills per victim at most before giving up (all candidates already in flight).
const REFILLS_PER_VICTIM_MAX: usize = 8;
/// What one op of an entry in flight is assumed to add beyond its payload bytes: a key's
/// dictionary node and rounding (see `store::mem`).
const OP_OVERHEAD_BYTES: u64 = 48;

/// `ProposeError::Refused` codes for forwarded writes the leader refused.
pub const REFUSED_OOM: u8 = 1;
pub const REFUSED_OOM_EXEC: u8 = 2;

/// `Body::Node` kinds.
const NODE_ACCESS_HINTS: u8 = 1;
/// How often a follower sends its hints. Short, because a hint arrives as late as this: a key
/// created on a miss and read again at once must not look unread to the leader meanwhile (LFU
/// evicts the least counted keys, and a new key's counter is low).
const HINT_INTERVAL_MS: u64 = 20;

/// The error a refused forwarded write answers on the follower.
pub fn refusal_error(code: u8) -> &'static str {
    match code {
        REFUSED_OOM_EXEC => EXECABORT_OOM,
        _ => errors::OOM,
    }
}

/// EXEC refused because its transaction holds a `denyoom` command (Redis's execCommandAbort).
const EXECABORT_OOM: &str =
    "EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.";

/// A key considered for eviction: the higher `score`, the sooner it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub score: u64,
    pub db: u32,
    pub key: Bytes,
}

/// Redis's eviction pool: up to `POOL_SIZE` candidates in ascending score.
#[derive(Default, Debug)]
pub struct Pool {
    slots: Vec<Candidate>,
}

impl Pool {
    /// Whether a candidate of `score` would enter the pool (checked before copying its key).
    pub fn accepts(&self, score: u64) -> bool {
        self.slots.len() < POOL_SIZE || self.slots[0].score < score
    }

    /// Insert as `evictionPoolPopulate` does: when full, a candidate below the worst is
    /// dropped, otherwise the worst leaves to make room. A key already in the pool keeps its
    /// place (its score is refreshed).
    pub fn insert(&mut self, c: Candidate) {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.db == c.db && s.key == c.key)
        {
            self.slots.remove(i);
        }
        let k = self.slots.partition_point(|s| s.score < c.score);
        if self.slots.len() == POOL_SIZE {
            if k == 0 {
                return;
            }
            self.slots.remove(0);
            self.slots.insert(k - 1, c);
        } else {
            self.slots.insert(k, c);
        }
    }

    /// The best candidate (highest score), removed.
    pub fn pop_best(&mut self) -> Option<Candidate> {
        self.slots.pop()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn clear(&mut self) {
        self.slots.clear();
    }
}

/// How `e` ranks for eviction under `policy` at `now_ms`: higher goes first.
pub fn score(policy: EvictionPolicy, access: AccessPolicy, e: &Entry, now_ms: u64) -> u64 {
    let field = e.lru().load(Ordering::Relaxed);
    match policy {
        EvictionPolicy::VolatileTtl => u64::MAX - e.deadline_ms(),
        EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
            let decay = match access {
                AccessPolicy::Lfu { decay_minutes, .. } => decay_minutes,
                AccessPolicy::Lru => 0,
            };
            255 - u64::from(lru::lfu_counter(field, now_ms, decay))
        }
        _ => lru::idle_ms(field, now_ms),
    }
}

/// xorshift64*: the leader's sampling needs no agreement with anyone.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What eviction may do now, from the settings.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub maxmemory: u64,
    pub policy: EvictionPolicy,
    pub samples: usize,
}

/// The victims of one round and what they free.
#[derive(Debug, Default)]
pub struct Chosen {
    pub victims: Vec<(u32, Bytes)>,
    pub bytes: u64,
    /// No more candidates: the policy has nothing (else) to evict.
    pub exhausted: bool,
}

/// A key of a database, hashed (`key_id`): what the evictor remembers of the keys it chose.
/// Two keys with the same id are 2^-64 likely; the cost would be one key not chosen for a while.
type KeyId = u64;

/// An eviction entry proposed and not applied yet: its index, what it frees, its keys.
type InFlight = (u64, u64, Vec<KeyId>);

fn key_id(db: u32, key: &[u8]) -> KeyId {
    hash_key(key) ^ u64::from(db).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The leader's eviction state. Node-local; reset whenever leadership changes.
#[derive(Debug)]
pub struct Evictor {
    pool: Pool,
    rng: Rng,
    next_db: usize,
    /// Entries this leader appended and has not applied yet: (index, bytes they may add).
    writes: VecDeque<(u64, u64)>,
    writes_bytes: u64,
    /// Eviction entries in flight: (index, bytes they free, their keys).
    evictions: VecDeque<InFlight>,
    evictions_bytes: u64,
    /// Keys of `evictions` (with how many entries hold each), never chosen again meanwhile.
    in_flight: HashMap<KeyId, u32>,
    /// Whether the last check found memory over the limit with nothing to evict (logged once
    /// per episode).
    oom: bool,
    /// When a follower sends its next hints (driver's clock).
    hints_due_ms: u64,
}

impl Evictor {
    pub fn new(seed: u64) -> Evictor {
        Evictor {
            pool: Pool::default(),
            rng: Rng(seed | 1),
            next_db: 0,
            writes: VecDeque::new(),
            writes_bytes: 0,
            evictions: VecDeque::new(),
            evictions_bytes: 0,
            in_flight: HashMap::new(),
            oom: false,
            hints_due_ms: 0,
        }
    }

    /// Leadership changed: what was in flight is someone else's business now.
    pub fn reset(&mut self) {
        self.pool.clear();
        self.writes.clear();
        self.writes_bytes = 0;
        self.evictions.clear();
        self.evictions_bytes = 0;
        self.in_flight.clear();
    }

    /// An entry ending at `index` was appended that may add `bytes`.
    pub fn note_write(&mut self, index: u64, bytes: u64) {
        if bytes > 0 {
            self.writes.push_back((index, bytes));
            self.writes_bytes += bytes;
        }
    }

    /// Everything up to `index` is applied: its effect is in the store's counts now.
    pub fn applied(&mut self, index: u64) {
        while let Some(&(i, b)) = self.writes.front() {
            if i > index {
                break;
            }
            self.writes.pop_front();
            self.writes_bytes -= b;
        }
        while self.evictions.front().is_some_and(|(i, _, _)| *i <= index) {
            let (_, b, keys) = self.evictions.pop_front().expect("checked");
            self.evictions_bytes -= b;
            for k in keys {
                if let Some(n) = self.in_flight.get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        self.in_flight.remove(&k);
                    }
                }
            }
        }
    }

    /// Used memory as it will be once the entries in flight apply.
    pub fn projected(&self, used: u64) -> u64 {
        (used + self.writes_bytes).saturating_sub(self.evictions_bytes)
    }

    /// Choose victims freeing at least `to_free` bytes (or as many as the policy allows, up to
    /// `VICTIMS_PER_CALL_MAX`).
    pub fn choose(&mut self, store: &Store, limits: Limits, to_free: u64, now_ms: u64) -> Chosen {
        let mut out = Chosen::default();
        let volatile = limits.policy.volatile_only();
        let random = matches!(
            limits.policy,
            EvictionPolicy::AllKeysRandom | EvictionPolicy::VolatileRandom
        );
        let mut chosen: HashSet<KeyId> = HashSet::new();
        while out.bytes < to_free && out.victims.len() < VICTIMS_PER_CALL_MAX {
            let picked = if random {
                self.pick_random(store, volatile, &chosen)
            } else {
                self.pick_from_pool(store, limits, now_ms, &chosen)
            };
            let Some((db, key, bytes)) = picked else {
                out.exhausted = true;
                break;
            };
            chosen.insert(key_id(db, &key));
            out.victims.push((db, key));
            out.bytes += bytes;
        }
        out
    }

    /// Redis's pool path: refill from every database with keys, then take the best candidate
    /// still present (a candidate deleted since it was sampled is a ghost, skipped).
    fn pick_from_pool(
        &mut self,
        store: &Store,
        limits: Limits,
        now_ms: u64,
        chosen: &HashSet<KeyId>,
    ) -> Option<(u32, Bytes, u64)> {
        let volatile = limits.policy.volatile_only();
        let access = store.access_policy();
        for refill in 0..REFILLS_PER_VICTIM_MAX {
            // The last refill walks whole databases: giving up must mean nothing is left.
            let thorough = refill + 1 == REFILLS_PER_VICTIM_MAX;
            let mut total = 0;
            for db in 0..store.databases() as u32 {
                let (keys, with_ttl) = store.db_counts(db);
                let n = if volatile { with_ttl } else { keys };
                if n == 0 {
                    continue;
                }
                total += n;
                let pool = &mut self.pool;
                let rng = &mut self.rng;
                let in_flight = &self.in_flight;
                let mut rand = || rng.next();
                let (n, how) = (limits.samples, (volatile, thorough));
                store.sample_entries(db, n, how, &mut rand, &mut |e| {
                    // A key already going is no sample: it would crowd out the keys that may
                    // still go.
                    let id = key_id(db, e.key());
                    if chosen.contains(&id) || in_flight.contains_key(&id) {
                        return false;
                    }
                    let s = score(limits.policy, access, e, now_ms);
                    if pool.accepts(s) {
                        pool.insert(Candidate {
                            score: s,
                            db,
                            key: Bytes::copy_from_slice(e.key()),
                        });
                    }
                    true
                });
            }
            if total == 0 {
                return None;
            }
            while let Some(c) = self.pool.pop_best() {
                let id = key_id(c.db, &c.key);
                if chosen.contains(&id) || self.in_flight.contains_key(&id) {
                    continue;
                }
                match store.key_info(c.db, &c.key) {
                    Some((bytes, deadline)) if !volatile || deadline != 0 => {
                        return Some((c.db, c.key, bytes));
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// Redis's random path: a random key of the next database that has one.
    fn pick_random(
        &mut self,
        store: &Store,
        volatile: bool,
        chosen: &HashSet<KeyId>,
    ) -> Option<(u32, Bytes, u64)> {
        let dbs = store.databases();
        for refill in 0..REFILLS_PER_VICTIM_MAX {
            let thorough = refill + 1 == REFILLS_PER_VICTIM_MAX;
            let mut any = false;
            for _ in 0..dbs {
                self.next_db = (self.next_db + 1) % dbs;
                let db = self.next_db as u32;
                let (keys, with_ttl) = store.db_counts(db);
                if (if volatile { with_ttl } else { keys }) == 0 {
                    continue;
                }
                any = true;
                // The first key from a random place that is not already going.
                let mut found: Option<(Bytes, u64)> = None;
                let rng = &mut self.rng;
                let mut rand = || rng.next();
                let in_flight = &self.in_flight;
                store.sample_entries(db, 1, (volatile, thorough), &mut rand, &mut |e| {
                    let id = key_id(db, e.key());
                    if found.is_some() || chosen.contains(&id) || in_flight.contains_key(&id) {
                        return false;
                    }
                    found = Some((
                        Bytes::copy_from_slice(e.key()),
                        crate::store::entry_bytes(e) as u64,
                    ));
                    true
                });
                if let Some((key, bytes)) = found {
                    return Some((db, key, bytes));
                }
                break;
            }
            if !any {
                return None;
            }
        }
        None
    }
}

/// Keys a follower sends per `HINT_INTERVAL_MS`, from `raft-access-hints` (keys per second).
fn hints_per_interval(s: &crate::config::Settings) -> u32 {
    match u64::from(s.access_hints) * HINT_INTERVAL_MS / 1000 {
        0 if s.access_hints > 0 => 1,
        n => n.min(u64::from(u32::MAX)) as u32,
    }
}

/// `[u32 db][u32 len][key]...`
fn encode_hints(keys: &[(u32, Bytes)]) -> Bytes {
    let mut out = BytesMut::with_capacity(keys.iter().map(|(_, k)| 8 + k.len()).sum());
    for (db, k) in keys {
        out.put_u32_le(*db);
        out.put_u32_le(k.len() as u32);
        out.put_slice(k);
    }
    out.freeze()
}

/// The keys of a hints message; `None` if it is malformed (the message is then ignored).
fn decode_hints(data: &Bytes) -> Option<Vec<(u32, Bytes)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let word = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
        };
        let db = word(pos)?;
        let len = word(pos + 4)? as usize;
        let start = pos + 8;
        let end = start.checked_add(len).filter(|&e| e <= data.len())?;
        out.push((db, data.slice(start..end)));
        pos = end;
    }
    Some(out)
}

impl Node {
    /// The settings changed (CONFIG SET): what the store's access field tracks and how many
    /// keys a follower reports take effect now, not at the next housekeeping turn.
    pub fn settings_changed(&self, s: &crate::config::Settings) {
        self.shared.store.set_access_policy(s.access_policy());
        self.shared
            .store
            .set_shares_integers(s.maxmemory == 0 || !s.maxmemory_policy.ranks_by_access());
        let follower = self.shared.role.load(Ordering::Relaxed) == 0;
        self.shared
            .store
            .set_access_log_max(if follower { hints_per_interval(s) } else { 0 });
    }
}

/// What the leader decides about a client's payload when memory is over the limit: ops that
/// may grow memory (a `denyoom` command, a transaction holding one) are refused.
fn refuse_denyoom(op: &Op) -> Option<String> {
    let denyoom = |args: &[Bytes]| command::resolve(args).is_ok_and(|s| s.is_denyoom());
    match op {
        Op::Command { args, .. } if denyoom(args) => Some(errors::OOM.to_string()),
        Op::Transaction { cmds, .. } if cmds.iter().any(|(_, args)| denyoom(args)) => {
            Some(EXECABORT_OOM.to_string())
        }
        _ => None,
    }
}

/// What an entry in flight may add to used memory.
fn write_cost(payload: &[u8]) -> u64 {
    payload.len() as u64 + OP_OVERHEAD_BYTES * machine::op_count(payload)
}

impl Driver {
    fn limits(&self) -> Option<Limits> {
        let s = self.shared.settings.read();
        (s.maxmemory != 0).then(|| Limits {
            maxmemory: s.maxmemory,
            policy: s.maxmemory_policy,
            samples: s.maxmemory_samples.clamp(1, 1 << 16) as usize,
        })
    }

    /// Leader: bring projected memory under the limit by proposing evictions. False when it
    /// stays over the limit because the policy has nothing to evict (or is `noeviction`): then
    /// `denyoom` writes are refused.
    fn make_room(&mut self, limits: Limits) -> bool {
        let store = self.shared.store.clone();
        let projected = self.evict.projected(store.used_memory());
        if projected <= limits.maxmemory {
            self.evict.oom = false;
            return true;
        }
        if limits.policy == EvictionPolicy::NoEviction {
            return self.note_oom(projected, limits);
        }
        let now = self.last_time_ms.max(super::wall_ms());
        let chosen = self
            .evict
            .choose(&store, limits, projected - limits.maxmemory, now);
        let short = chosen.exhausted && chosen.bytes < projected - limits.maxmemory;
        if !chosen.victims.is_empty() {
            self.propose_evictions(chosen.victims, chosen.bytes);
        }
        if short {
            return self.note_oom(self.evict.projected(store.used_memory()), limits);
        }
        self.evict.oom = false;
        true
    }

    fn note_oom(&mut self, projected: u64, limits: Limits) -> bool {
        if !self.evict.oom {
            self.evict.oom = true;
            log_warning!(
                "Used memory {projected} is over maxmemory {} and policy {} has nothing to evict: refusing writes that may grow memory",
                limits.maxmemory,
                limits.policy.as_str()
            );
        }
        false
    }

    fn propose_evictions(&mut self, victims: Vec<(u32, Bytes)>, bytes: u64) {
        let total = victims.len() as u64;
        let mut remaining = victims;
        while !remaining.is_empty() {
            let rest = remaining.split_off(remaining.len().min(VICTIMS_PER_ENTRY_MAX));
            let batch = std::mem::replace(&mut remaining, rest);
            let mut by_db: Vec<Op> = Vec::new();
            let mut sorted = batch.clone();
            sorted.sort_by_key(|(db, _)| *db);
            for (db, key) in sorted {
                match by_db.last_mut() {
                    Some(Op::EvictKeys { db: d, keys }) if *d == db => keys.push(key),
                    _ => by_db.push(Op::EvictKeys {
                        db,
                        keys: vec![key],
                    }),
                }
            }
            let t = self.stamp();
            let payload = machine::encode_mut(t, &by_db);
            self.propose_write(payload, None, self.mono_ms() + 60_000);
            // Bytes are spread over the entries in proportion to their keys.
            let share = bytes * batch.len() as u64 / total.max(1);
            let index = self.core.last_index();
            let ids: Vec<KeyId> = batch.iter().map(|(db, k)| key_id(*db, k)).collect();
            for id in &ids {
                *self.evict.in_flight.entry(*id).or_insert(0) += 1;
            }
            self.evict.evictions_bytes += share;
            self.evict.evictions.push_back((index, share, ids));
        }
        self.shared
            .stats
            .evicted_keys_proposed
            .fetch_add(total, Ordering::Relaxed);
    }

    /// Leader, before proposing a client's payload: make room, and if there is none, refuse
    /// what may grow memory. `None`: everything was refused and `reply` answered. Otherwise
    /// what the entry may add while in flight (0 without a limit).
    pub(super) fn admit_local(
        &mut self,
        payload: &mut BytesMut,
        reply: &mut Option<tokio::sync::oneshot::Sender<Result<Vec<Reply>, super::WriteError>>>,
    ) -> Option<u64> {
        let Some(limits) = self.limits() else {
            return Some(0);
        };
        if self.make_room(limits) {
            return Some(write_cost(payload));
        }
        match machine::screen(payload, refuse_denyoom) {
            Ok(Screened::Keep) | Err(_) => {}
            Ok(Screened::Rewrite(p)) => *payload = p,
            Ok(Screened::RefuseAll(errs)) => {
                if let Some(tx) = reply.take() {
                    let _ = tx.send(Ok(errs.into_iter().map(Reply::error).collect()));
                }
                return None;
            }
        }
        Some(write_cost(payload))
    }

    /// Leader, before appending writes forwarded by `from`: as `admit_local`; refused
    /// proposals are taken out and answered with `Raft::refuse_forwarded`. Returns what the
    /// remaining ones may add while in flight.
    pub(super) fn admit_forwarded(
        &mut self,
        from: NodeId,
        proposals: &mut Vec<(ProposalId, Bytes)>,
    ) -> u64 {
        let Some(limits) = self.limits() else {
            return 0;
        };
        if !self.make_room(limits) {
            let mut refused: [Vec<ProposalId>; 2] = [Vec::new(), Vec::new()];
            proposals.retain_mut(|(id, data)| match machine::screen(data, refuse_denyoom) {
                Ok(Screened::Keep) | Err(_) => true,
                Ok(Screened::Rewrite(p)) => {
                    *data = p.freeze();
                    true
                }
                Ok(Screened::RefuseAll(errs)) => {
                    let exec = errs.first().is_some_and(|e| e.starts_with("EXECABORT"));
                    refused[usize::from(exec)].push(*id);
                    false
                }
            });
            let [plain, exec] = refused;
            self.core.refuse_forwarded(from, plain, REFUSED_OOM);
            self.core.refuse_forwarded(from, exec, REFUSED_OOM_EXEC);
        }
        proposals.iter().map(|(_, d)| write_cost(d)).sum()
    }

    /// Housekeeping: the leader evicts when over the limit with no write to prompt it (after
    /// CONFIG SET maxmemory, or while evictions catch up).
    pub(super) fn evict_cycle(&mut self) {
        if self.core.role() == Role::Leader && self.core.committed_in_term() && !self.wal_failed {
            if let Some(limits) = self.limits() {
                self.make_room(limits);
            }
        }
    }

    /// Every turn of the driver: a follower sends its read hints every `HINT_INTERVAL_MS`.
    /// The sampling is set for the role again each time, in case a CONFIG SET read the role
    /// while it changed.
    pub(super) fn hints_tick(&mut self, now_ms: u64) {
        if now_ms < self.evict.hints_due_ms {
            return;
        }
        self.evict.hints_due_ms = now_ms + HINT_INTERVAL_MS;
        if self.core.role() == Role::Follower {
            let max = hints_per_interval(&self.shared.settings.read());
            self.shared.store.set_access_log_max(max);
            self.send_hints();
        } else {
            self.shared.store.set_access_log_max(0);
        }
    }

    fn send_hints(&mut self) {
        let keys = self.shared.store.take_access_log();
        let leader = self.core.leader();
        if keys.is_empty() || leader == 0 || leader == self.core.id() {
            return;
        }
        self.transport.send(Message {
            from: self.core.id(),
            to: leader,
            term: self.core.term(),
            body: Body::Node {
                kind: NODE_ACCESS_HINTS,
                data: encode_hints(&keys),
            },
        });
    }

    /// A `Body::Node` message from a peer (never given to the Raft core).
    pub(super) fn on_node_message(&mut self, kind: u8, data: &Bytes) {
        if kind != NODE_ACCESS_HINTS || self.core.role() != Role::Leader {
            return;
        }
        let Some(keys) = decode_hints(data) else {
            return;
        };
        let store = self.shared.store.clone();
        let now = super::wall_ms().max(self.last_time_ms);
        for (db, key) in keys {
            let coin = self.evict.rng.unit();
            store.touch_key(db, &key, now, coin);
        }
    }

    /// A role change: eviction state belongs to a term's leader.
    pub(super) fn evict_role_changed(&mut self, role: Role) {
        self.evict.reset();
        // Only a follower samples its reads for the leader.
        let max = match role {
            Role::Follower => hints_per_interval(&self.shared.settings.read()),
            _ => 0,
        };
        self.shared.store.set_access_log_max(max);
        if role == Role::Leader {
            if let Some(l) = self.limits() {
                log_notice!(
                    "maxmemory {} with policy {}: this leader evicts",
                    l.maxmemory,
                    l.policy.as_str()
                );
            }
        }
    }
}

/// A write refused by the leader, as the follower's client sees it.
pub fn refused(code: u8) -> super::WriteError {
    super::WriteError::Refused(refusal_error(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(score: u64, key: &str) -> Candidate {
        Candidate {
            score,
            db: 0,
            key: Bytes::copy_from_slice(key.as_bytes()),
        }
    }

    #[test]
    fn pool_keeps_the_best_candidates_in_ascending_order() {
        let mut p = Pool::default();
        for (i, s) in [50u64, 10, 70, 30].iter().enumerate() {
            p.insert(cand(*s, &format!("k{i}")));
        }
        assert_eq!(
            p.slots.iter().map(|c| c.score).collect::<Vec<_>>(),
            [10, 30, 50, 70]
        );
        assert_eq!(p.pop_best().map(|c| c.score), Some(70));
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn a_full_pool_drops_the_worst_and_refuses_worse_candidates() {
        let mut p = Pool::default();
        for i in 0..POOL_SIZE as u64 {
            p.insert(cand(100 + i, &format!("k{i}")));
        }
        assert_eq!(p.len(), POOL_SIZE);
        // Worse than everything: refused, as Redis refuses it (k == 0 with a full pool).
        assert!(!p.accepts(50));
        p.insert(cand(50, "low"));
        assert!(p.slots.iter().all(|c| c.key != "low"));
        // Better than the worst: the worst (100) leaves.
        assert!(p.accepts(105));
        p.insert(cand(105, "mid"));
        assert_eq!(p.len(), POOL_SIZE);
        assert_eq!(p.slots[0].score, 101);
        assert!(p.slots.windows(2).all(|w| w[0].score <= w[1].score));
        p.insert(cand(1000, "top"));
        assert_eq!(
            p.pop_best().map(|c| c.key),
            Some(Bytes::from_static(b"top"))
        );
    }

    #[test]
    fn a_key_is_in_the_pool_once_with_its_latest_score() {
        let mut p = Pool::default();
        p.insert(cand(10, "a"));
        p.insert(cand(20, "b"));
        p.insert(cand(30, "a"));
        assert_eq!(p.len(), 2);
        assert_eq!(p.pop_best(), Some(cand(30, "a")));
        assert_eq!(p.pop_best(), Some(cand(20, "b")));
        assert!(p.is_empty());
    }

    fn store_with(keys: &[(&str, u64, u32)]) -> Store {
        // (key, deadline, access field)
        let store = Store::new(2, 4);
        for (k, deadline, field) in keys {
            let mut s = store.shards();
            s.add_key(0, k.as_bytes());
            let mut w = s.write();
            w.set_str(0, k.as_bytes(), b"value", *deadline, 0);
            drop(w);
            let mut s = store.shards();
            s.add_key(0, k.as_bytes());
            let r = s.read();
            r.get_any(0, k.as_bytes())
                .unwrap()
                .lru()
                .store(*field, Ordering::Relaxed);
        }
        store
    }

    fn limits(policy: EvictionPolicy) -> Limits {
        Limits {
            maxmemory: 1,
            policy,
            samples: 5,
        }
    }

    /// 1_000_000 s on the LRU clock.
    const NOW: u64 = 1_000_000_000;

    #[test]
    fn lru_evicts_the_longest_idle_keys_first() {
        // k0 idle 1000 s, k1 999 s, ... with the LRU clock in seconds.
        let keys: Vec<(String, u64, u32)> = (0..40)
            .map(|i| (format!("k{i}"), 0, lru::lru_clock(NOW - (1000 - i) * 1000)))
            .collect();
        let refs: Vec<(&str, u64, u32)> =
            keys.iter().map(|(k, d, f)| (k.as_str(), *d, *f)).collect();
        let store = store_with(&refs);
        let mut ev = Evictor::new(7);
        let chosen = ev.choose(&store, limits(EvictionPolicy::AllKeysLru), 1, NOW);
        assert_eq!(chosen.victims.len(), 1);
        // Sampling is approximate (as Redis's): the victim is among the idlest.
        let i: u64 = std::str::from_utf8(&chosen.victims[0].1[1..])
            .unwrap()
            .parse()
            .unwrap();
        assert!(i < 20, "victim k{i} is among the most recently used");
        // Asking for everything takes every key once, then runs out.
        let all = ev.choose(&store, limits(EvictionPolicy::AllKeysLru), u64::MAX, NOW);
        let distinct: HashSet<_> = all.victims.iter().collect();
        assert_eq!(distinct.len(), 40);
        assert_eq!(all.victims.len(), 40);
        assert!(all.exhausted);
    }

    #[test]
    fn volatile_policies_never_choose_keys_without_a_ttl() {
        let mut keys: Vec<(String, u64, u32)> = Vec::new();
        for i in 0..50 {
            let deadline = if i % 5 == 0 { NOW + 1_000_000 + i } else { 0 };
            keys.push((format!("k{i}"), deadline, lru::lru_clock(NOW - 500_000)));
        }
        let refs: Vec<(&str, u64, u32)> =
            keys.iter().map(|(k, d, f)| (k.as_str(), *d, *f)).collect();
        for policy in [
            EvictionPolicy::VolatileLru,
            EvictionPolicy::VolatileLfu,
            EvictionPolicy::VolatileRandom,
            EvictionPolicy::VolatileTtl,
        ] {
            let store = store_with(&refs);
            let mut ev = Evictor::new(3);
            let all = ev.choose(&store, limits(policy), u64::MAX, NOW);
            let names: HashSet<Bytes> = all.victims.iter().map(|(_, k)| k.clone()).collect();
            let want: HashSet<Bytes> = (0..50)
                .filter(|i| i % 5 == 0)
                .map(|i| Bytes::from(format!("k{i}")))
                .collect();
            assert_eq!(names, want, "{policy:?}");
            assert!(all.exhausted, "{policy:?}");
        }
    }

    #[test]
    fn volatile_ttl_evicts_the_nearest_deadline_first() {
        let keys: Vec<(String, u64, u32)> = (0..10)
            .map(|i| (format!("k{i}"), NOW + 1000 * (10 - i), 0))
            .collect();
        let refs: Vec<(&str, u64, u32)> =
            keys.iter().map(|(k, d, f)| (k.as_str(), *d, *f)).collect();
        let store = store_with(&refs);
        let mut ev = Evictor::new(5);
        // Ten keys, five samples per refill: the first refill sees some of them; every
        // victim is the nearest deadline among what the pool has seen, so k9 (nearest) goes
        // once it has been sampled, and the order of victims never skips a nearer key seen.
        let all = ev.choose(&store, limits(EvictionPolicy::VolatileTtl), u64::MAX, NOW);
        assert_eq!(all.victims.len(), 10);
        let first: u64 = std::str::from_utf8(&all.victims[0].1[1..])
            .unwrap()
            .parse()
            .unwrap();
        assert!(first >= 5, "first victim k{first}");
    }

    #[test]
    fn lfu_evicts_the_least_frequently_used_first() {
        let minutes = ((NOW / 60_000) & 0xffff) as u32;
        // counters 0..40 (no decay: the access minute is now).
        let keys: Vec<(String, u64, u32)> = (0..40)
            .map(|i| (format!("k{i}"), 0, (minutes << 8) | (i as u32 * 6)))
            .collect();
        let refs: Vec<(&str, u64, u32)> =
            keys.iter().map(|(k, d, f)| (k.as_str(), *d, *f)).collect();
        let store = store_with(&refs);
        store.set_access_policy(AccessPolicy::Lfu {
            log_factor: 10,
            decay_minutes: 1,
        });
        let mut ev = Evictor::new(11);
        let mut firsts = Vec::new();
        for _ in 0..10 {
            let c = ev.choose(&store, limits(EvictionPolicy::AllKeysLfu), 1, NOW);
            firsts.extend(c.victims.into_iter().map(|(_, k)| k));
        }
        let mean: f64 = firsts
            .iter()
            .map(|k| {
                std::str::from_utf8(&k[1..])
                    .unwrap()
                    .parse::<f64>()
                    .unwrap()
            })
            .sum::<f64>()
            / firsts.len() as f64;
        // Uniform choice would average 19.5.
        assert!(mean < 12.0, "victims {firsts:?}");
    }

    #[test]
    fn keys_in_flight_are_not_chosen_again_until_their_entry_applies() {
        let keys: Vec<(String, u64, u32)> = (0..5).map(|i| (format!("k{i}"), 0, 0)).collect();
        let refs: Vec<(&str, u64, u32)> =
            keys.iter().map(|(k, d, f)| (k.as_str(), *d, *f)).collect();
        let store = store_with(&refs);
        let mut ev = Evictor::new(1);
        let a = ev.choose(&store, limits(EvictionPolicy::AllKeysRandom), 1, NOW);
        assert_eq!(a.victims.len(), 1);
        let ids: Vec<KeyId> = a.victims.iter().map(|(db, k)| key_id(*db, k)).collect();
        for id in &ids {
            ev.in_flight.insert(*id, 1);
        }
        ev.evictions.push_back((10, a.bytes, ids));
        ev.evictions_bytes += a.bytes;
        let rest = ev.choose(&store, limits(EvictionPolicy::AllKeysRandom), u64::MAX, NOW);
        assert_eq!(rest.victims.len(), 4);
        assert!(!rest.victims.contains(&a.victims[0]));
        assert_eq!(ev.projected(1000), 1000 - a.bytes);
        ev.applied(9);
        assert_eq!(ev.in_flight.len(), 1);
        ev.applied(10);
        assert!(ev.in_flight.is_empty());
        assert_eq!(ev.projected(1000), 1000);
    }

    #[test]
    fn writes_in_flight_count_until_applied() {
        let mut ev = Evictor::new(1);
        ev.note_write(5, 100);
        ev.note_write(6, 50);
        assert_eq!(ev.projected(1000), 1150);
        ev.applied(5);
        assert_eq!(ev.projected(1000), 1050);
        ev.reset();
        assert_eq!(ev.projected(1000), 1000);
    }

    #[test]
    fn denyoom_ops_are_refused_and_others_kept() {
        let cmd = |w: &[&str]| Op::Command {
            db: 0,
            args: w
                .iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect(),
        };
        assert_eq!(
            refuse_denyoom(&cmd(&["SET", "k", "v"])).as_deref(),
            Some(errors::OOM)
        );
        assert_eq!(refuse_denyoom(&cmd(&["del", "k"])), None);
        assert_eq!(refuse_denyoom(&cmd(&["EXPIRE", "k", "5"])), None);
        let tx = Op::Transaction {
            cmds: vec![
                (
                    0,
                    vec![Bytes::from_static(b"DEL"), Bytes::from_static(b"a")],
                ),
                (
                    0,
                    vec![Bytes::from_static(b"INCR"), Bytes::from_static(b"b")],
                ),
            ],
            watched: Vec::new(),
        };
        assert_eq!(refuse_denyoom(&tx).as_deref(), Some(EXECABORT_OOM));
        let payload = machine::encode(1, &[cmd(&["SET", "a", "1"]), cmd(&["DEL", "b"])]);
        match machine::screen(&payload, refuse_denyoom).unwrap() {
            Screened::Rewrite(p) => {
                let b = machine::decode(&p.freeze()).unwrap();
                assert_eq!(
                    b.ops[0],
                    Op::Refused {
                        error: Bytes::from_static(errors::OOM.as_bytes())
                    }
                );
                assert_eq!(b.ops[1], cmd(&["DEL", "b"]));
            }
            other => panic!("{other:?}"),
        }
        let payload = machine::encode(1, &[cmd(&["SET", "a", "1"]), cmd(&["APPEND", "b", "x"])]);
        assert_eq!(
            machine::screen(&payload, refuse_denyoom).unwrap(),
            Screened::RefuseAll(vec![errors::OOM.into(), errors::OOM.into()])
        );
        assert_eq!(machine::op_count(&payload), 2);
        assert_eq!(
            write_cost(&payload),
            payload.len() as u64 + 2 * OP_OVERHEAD_BYTES
        );
    }

    #[test]
    fn hints_round_trip_and_malformed_ones_are_ignored() {
        let keys = vec![(0, Bytes::from_static(b"a")), (15, Bytes::from_static(b""))];
        let data = encode_hints(&keys);
        assert_eq!(decode_hints(&data), Some(keys));
        assert_eq!(decode_hints(&data.slice(..data.len() - 1)), None);
        assert_eq!(decode_hints(&Bytes::from_static(&[1, 0, 0])), None);
        let mut huge = BytesMut::new();
        huge.put_u32_le(0);
        huge.put_u32_le(u32::MAX);
        assert_eq!(decode_hints(&huge.freeze()), None);
    }

    /// Redis's pool keeps its candidates across rounds; here keys already chosen (or in
    /// flight) must not crowd the pool, or a policy with few candidates left gives up early.
    #[test]
    fn few_keys_with_a_ttl_among_many_are_all_found_one_call_at_a_time() {
        let store = Store::new(16, 64);
        let mut s = store.shards();
        s.add_db(0);
        let mut w = s.write();
        for i in 0..4000 {
            w.set_str(0, format!("keep:{i}").as_bytes(), b"v", 0, NOW);
        }
        for i in 0..30 {
            w.set_str(0, format!("ttl:{i}").as_bytes(), b"v", NOW * 2, NOW);
        }
        drop(w);
        for policy in [EvictionPolicy::VolatileLru, EvictionPolicy::VolatileRandom] {
            let mut ev = Evictor::new(3);
            let mut seen = HashSet::new();
            for call in 0..30 {
                let c = ev.choose(&store, limits(policy), 1, NOW);
                assert_eq!(c.victims.len(), 1, "{policy:?}: call {call} found nothing");
                let (db, key) = c.victims[0].clone();
                assert!(key.starts_with(b"ttl:"));
                assert!(seen.insert(key.clone()), "{policy:?}: chosen twice");
                // Proposed, not applied: it stays in the store.
                ev.in_flight.insert(key_id(db, &key), 1);
            }
            assert!(ev.choose(&store, limits(policy), 1, NOW).exhausted);
        }
    }
}
