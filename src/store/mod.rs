//! The sharded keyspace: databases of keys, each database split into shards by a fixed hash of
//! the key, each shard a hash table behind its own `RwLock`.
//!
//! Locking. A command locks every shard it touches before it reads or writes, through a
//! `ShardSet` (keys, whole databases, or everything) that takes the locks in ascending global
//! shard order (`db * shards_per_db + shard`), so two lockers never wait on each other in a
//! cycle. The resulting `Locks` guard is the only way to reach keys: its accessors assert that
//! the key's shard is held, so a command that forgot to declare a key fails loudly in tests
//! instead of racing. Readers share shards; apply, the only writer, takes them exclusively, so
//! a multi-key command is atomic with respect to every reader. A thread holds one `Locks` at a
//! time (locks are not reentrant).
//!
//! Time. Nothing here reads a clock: every accessor that cares about expiry takes the time from
//! its caller (the entry's `time_ms` at apply, the node's `now_ms` for reads). A key whose
//! deadline is at or before that time is missing. Reads never change the keyspace; writers
//! (apply) delete an expired key they come across, which every replica does identically.
//!
//! Determinism. The layout (shard, bucket, chain order) depends only on the sequence of writes
//! (see `dict` and `hash`), so replicas that applied the same log agree on it, and `digest()`
//! proves they agree on the data.
//!
//! Values. Every Redis type: strings, and hashes, sets, sorted sets and lists in Redis's
//! encodings (listpack, intset, hashtable, skiplist, quicklist; see `value` and the type
//! modules), converting at Redis 7.0's default thresholds so OBJECT ENCODING agrees. Commands
//! reach a container through `EntryMut::{hash,set,zset,list}_mut` and the read-only views of
//! `Entry::as_*`; `WriteLocks::get_or_create` makes a missing key of the right type.
//!
//! Memory. A key costs a 32-byte node (key+value blob pointer, key length, LRU field, chain
//! link), its blob (the deadline if it has one, the key and the string value in one
//! allocation) and 8 bytes per bucket at a load factor between 0.5 and 1. With mimalloc, 1M
//! keys of 16 bytes with 32-byte values: 88 bytes of used_memory per key (redis-server 7.0.15:
//! 136); 100k hashes of 10 fields `field:N`/`value:N`, packed in the same blob as their key:
//! 266.5 (Redis: 266.7). `benches/memory.py bytes` measures both side by side.
//!
//! Accounting (`mem`). Every shard keeps its byte count current as it changes: the dictionary
//! counts entries it inserts and removes, an entry changed in place through an `EntryMut` is
//! counted when its `Locks` are next used or released (`settle`), and big containers keep
//! their own counts, so an entry's cost is O(1). Write locks mirror what changed into
//! per-database and store totals when released; readers (INFO, the leader's eviction) read
//! those atomics without locking. Sizes are the allocator's (`mem::alloc_size`).
//!
//! Eviction support: `sample_entries` (Redis's dictGetSomeKeys across a database's shards),
//! `key_info`, `touch_key` (an access a follower reported) and the access log a follower keeps
//! of its reads (`access_log`). The leader decides (`node::evict`); apply deletes what its
//! entries name.
//!
//! Freeing. A big value that leaves the keyspace (DEL, overwrite, FLUSHDB ASYNC) is dropped on a
//! background thread (`lazyfree`), so apply does not stall on it.
//!
//! Not here: command parsing and replies (`command`), deciding what expires or is evicted (the
//! leader proposes it), memory limits (`node::evict`).

mod access_log;
mod dict;
mod hash;
mod hashes;
mod intset;
mod lazyfree;
mod lists;
pub mod lru;
pub mod mem;
mod pack;
mod sets;
mod sha1;
mod snapshot;
mod table;
mod value;
mod zsets;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use dict::{Dict, Found};
pub use hash::hash_key;
pub use hashes::{HashIter, HashMut, HashRef, HASH_MAX_LISTPACK_ENTRIES, HASH_MAX_LISTPACK_VALUE};
pub use lazyfree::{deferred as lazyfreed, LAZYFREE_THRESHOLD};
pub use lists::{ListIter, ListMut, ListRef, LIST_MAX_NODE_BYTES};
pub use lru::AccessPolicy;
pub use pack::{fmt_i64, parse_i64, IntBuf, Item};
pub use sets::{SetIter, SetMut, SetRef, SET_MAX_INTSET_ENTRIES};
pub use value::{Entry, Kind, ValueRef, SHARED_REFCOUNT};
pub use zsets::{
    Inserted, LexBound, LexRange, ScoreRange, ZIter, ZSetMut, ZSetRef, ZSET_MAX_LISTPACK_ENTRIES,
    ZSET_MAX_LISTPACK_VALUE,
};

/// A command expected another type of value at the key (WRONGTYPE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// One shard of one database.
pub struct Shard {
    dict: Dict,
    /// How many entries have a deadline (INFO keyspace's `expires`; lets the expire sampler
    /// skip shards with none).
    volatile: usize,
    /// How much the entries grew (or shrank) in place since the dictionary counted them at
    /// insert (see `Locks::settle`). With the dictionary's own count this keeps the shard's
    /// memory current at every mutation (see `mem`). Atomic only so that a lock guard generic
    /// over reading and writing can settle it; only the holder of the write lock changes it.
    resized: AtomicIsize,
}

impl Shard {
    fn new() -> Shard {
        Shard {
            dict: Dict::new(),
            volatile: 0,
            resized: AtomicIsize::new(0),
        }
    }

    /// What the shard's keys cost now (nodes, keys, values). O(1).
    fn entry_bytes(&self) -> usize {
        (self.dict.entry_bytes() + self.resized.load(Ordering::Relaxed)) as usize
    }

    /// The counts the store mirrors: (keys, keys with a TTL, entry bytes, table bytes).
    fn counts(&self) -> Counts {
        Counts {
            keys: self.dict.len(),
            volatile: self.volatile,
            entries: self.entry_bytes(),
            table: self.dict.table_bytes(),
        }
    }

    fn account_removed(&mut self, e: &Entry) {
        if e.deadline_ms() != 0 {
            self.volatile -= 1;
        }
    }

    /// Forget `e`, which has left the dictionary: fix the TTL count, free it (lazily if big).
    fn dispose(&mut self, e: Entry) {
        dispose(&mut self.volatile, e);
    }
}

/// `Shard::dispose` for when the shard's dictionary is borrowed.
fn dispose(volatile: &mut usize, e: Entry) {
    if e.deadline_ms() != 0 {
        *volatile -= 1;
    }
    let effort = e.free_effort();
    lazyfree::free(e, effort);
}

/// A shard on its own cache lines, so readers of neighbouring shards do not contend on the
/// lock word.
#[repr(align(128))]
struct Slot(RwLock<Shard>);

/// A shard's figures, mirrored per database and for the store in atomics that readers (INFO,
/// the leader's eviction) read without locks.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
struct Counts {
    keys: usize,
    volatile: usize,
    entries: usize,
    table: usize,
}

/// A database's share of the store's figures (sums of its shards' `Counts`), updated when a
/// write lock on one of its shards is released.
#[derive(Default)]
struct DbTotals {
    keys: AtomicU64,
    volatile: AtomicU64,
    entries: AtomicU64,
    table: AtomicU64,
}

impl DbTotals {
    fn apply(&self, from: Counts, to: Counts) {
        adjust(&self.keys, from.keys, to.keys);
        adjust(&self.volatile, from.volatile, to.volatile);
        adjust(&self.entries, from.entries, to.entries);
        adjust(&self.table, from.table, to.table);
    }
}

/// Move an atomic total by `to - from`.
#[inline]
fn adjust(total: &AtomicU64, from: usize, to: usize) {
    if to > from {
        total.fetch_add((to - from) as u64, Ordering::Relaxed);
    } else if from > to {
        total.fetch_sub((from - to) as u64, Ordering::Relaxed);
    }
}

/// What the store costs in memory, from its running counts (INFO memory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// The store's fixed structures (shard array, locks, counters), from its creation.
    pub startup: u64,
    /// The shards' bucket arrays.
    pub tables: u64,
    /// Keys and values: dictionary nodes, keys, values and their containers.
    pub dataset: u64,
    /// The highest `total()` seen when a write finished.
    pub peak: u64,
}

impl MemoryUsage {
    /// What eviction compares with `maxmemory` (INFO's `used_memory`).
    pub fn total(&self) -> u64 {
        self.startup + self.tables + self.dataset
    }
}

/// Where the leader's active expire cycle resumes in a database.
#[derive(Default)]
struct ExpireCursor {
    shard: usize,
    bucket: u64,
}

/// How FLUSHDB/FLUSHALL free the old keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Free {
    /// Free them before returning.
    Sync,
    /// Free large keyspaces on a background thread (the keys are already gone from the store).
    Async,
}

/// Below this many keys, FLUSHDB ASYNC frees inline: handing over costs more than the work.
const FLUSH_ASYNC_THRESHOLD: usize = 64 * 1024;

/// How many buckets `sample_expired` may visit per key it is asked for.
const EXPIRE_SCAN_BUCKETS_PER_KEY: usize = 10;

pub struct Store {
    databases: usize,
    shards_per_db: usize,
    slots: Box<[Slot]>,
    expire_cursors: Box<[Mutex<ExpireCursor>]>,
    /// Per database: sums of its shards' `Counts` (see `Locks`'s drop).
    totals: Box<[DbTotals]>,
    /// Sum over databases of entry and table bytes; the highest it reached.
    used: AtomicU64,
    peak: AtomicU64,
    /// Keys deleted by applied eviction entries (INFO's `evicted_keys`).
    evicted: AtomicU64,
    /// A follower's sample of the keys its reads found (node-local, see `access_log`).
    access_log: access_log::AccessLog,
    /// Whether small integers count as Redis's shared objects (OBJECT REFCOUNT).
    shared_integers: AtomicBool,
    /// The access field's meaning (see `lru`): 0 = LRU, else LFU (top bit) with the log
    /// factor in the low 32 bits and the decay time in the next 31 (one word, so readers see a
    /// consistent pair).
    access: AtomicU64,
}

impl Store {
    /// `databases` (Redis's default is 16) of `shards_per_db` shards each. Both come from the
    /// validated configuration: zero, or more than `u32::MAX` shards in all, is a bug.
    pub fn new(databases: usize, shards_per_db: usize) -> Store {
        assert!(
            databases > 0 && shards_per_db > 0,
            "a store needs a database and a shard"
        );
        assert!(
            databases
                .checked_mul(shards_per_db)
                .is_some_and(|n| n <= u32::MAX as usize),
            "too many shards"
        );
        Store {
            databases,
            shards_per_db,
            slots: (0..databases * shards_per_db)
                .map(|_| Slot(RwLock::new(Shard::new())))
                .collect(),
            expire_cursors: (0..databases).map(|_| Mutex::default()).collect(),
            totals: (0..databases).map(|_| DbTotals::default()).collect(),
            used: AtomicU64::new(0),
            peak: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            access_log: access_log::AccessLog::default(),
            shared_integers: AtomicBool::new(true),
            access: AtomicU64::new(0),
        }
    }

    /// What the store costs in memory now (O(1): running counts, no scan).
    pub fn memory(&self) -> MemoryUsage {
        let tables: u64 = self
            .totals
            .iter()
            .map(|t| t.table.load(Ordering::Relaxed))
            .sum();
        let used = self.used.load(Ordering::Relaxed);
        let startup = self.startup_bytes();
        MemoryUsage {
            startup,
            tables,
            dataset: used.saturating_sub(tables),
            peak: self.peak.load(Ordering::Relaxed).max(startup + used),
        }
    }

    /// The store's own fixed structures.
    fn startup_bytes(&self) -> u64 {
        (mem::alloc_size(std::mem::size_of::<Store>())
            + mem::vec_bytes::<Slot>(self.slots.len())
            + mem::vec_bytes::<Mutex<ExpireCursor>>(self.expire_cursors.len())
            + mem::vec_bytes::<DbTotals>(self.totals.len())) as u64
    }

    /// What eviction compares with `maxmemory`: `memory().total()` with one load.
    pub fn used_memory(&self) -> u64 {
        self.startup_bytes() + self.used.load(Ordering::Relaxed)
    }

    /// `(keys, keys with a TTL)` of `db` from the running counts, without locking.
    pub fn db_counts(&self, db: u32) -> (u64, u64) {
        let t = &self.totals[db as usize];
        (
            t.keys.load(Ordering::Relaxed),
            t.volatile.load(Ordering::Relaxed),
        )
    }

    /// Recompute the running totals from the shards (after replacing shards wholesale, as a
    /// snapshot restore does). O(shards).
    pub fn recount(&self) {
        let mut used = 0u64;
        for db in 0..self.databases as u32 {
            let mut sum = Counts::default();
            for idx in self.db_shards(db) {
                let c = self.slots[idx as usize].0.read().counts();
                sum.keys += c.keys;
                sum.volatile += c.volatile;
                sum.entries += c.entries;
                sum.table += c.table;
            }
            let t = &self.totals[db as usize];
            t.keys.store(sum.keys as u64, Ordering::Relaxed);
            t.volatile.store(sum.volatile as u64, Ordering::Relaxed);
            t.entries.store(sum.entries as u64, Ordering::Relaxed);
            t.table.store(sum.table as u64, Ordering::Relaxed);
            used += (sum.entries + sum.table) as u64;
        }
        self.used.store(used, Ordering::Relaxed);
    }

    /// Count keys deleted by an applied eviction entry (every replica counts the same).
    pub fn note_evicted(&self, keys: u64) {
        self.evicted.fetch_add(keys, Ordering::Relaxed);
    }

    /// Keys deleted by applied eviction entries since the process started.
    pub fn evicted_keys(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// A read found `e` in `db` and recorded an access in its LRU/LFU field: note it for the
    /// leader too, if this node samples its accesses (`set_access_log_max`).
    #[inline]
    pub fn note_read(&self, db: u32, e: &Entry) {
        self.access_log.note(db, e.key());
    }

    /// How many accesses per interval `note_read` keeps (0 = none, as on a leader).
    pub fn set_access_log_max(&self, max: u32) {
        self.access_log.set_max(max);
    }

    /// The accesses noted since the last call.
    pub fn take_access_log(&self) -> Vec<(u32, Bytes)> {
        self.access_log.take()
    }

    /// What the keys' access field tracks, from the node's `maxmemory-policy`. Node-local:
    /// OBJECT FREQ / IDLETIME and eviction read it; the replicated data does not depend on it.
    pub fn set_access_policy(&self, policy: AccessPolicy) {
        let word = match policy {
            AccessPolicy::Lru => 0,
            AccessPolicy::Lfu {
                log_factor,
                decay_minutes,
            } => {
                (1 << 63)
                    | (u64::from(decay_minutes.min(i32::MAX as u32)) << 32)
                    | u64::from(log_factor)
            }
        };
        self.access.store(word, Ordering::Relaxed);
    }

    /// Redis shares the objects of small integers unless maxmemory is set with an LRU or LFU
    /// policy (each key then needs its own access field): OBJECT REFCOUNT follows. Node-local,
    /// from the node's settings.
    pub fn set_shares_integers(&self, shared: bool) {
        self.shared_integers.store(shared, Ordering::Relaxed);
    }

    pub fn shares_integers(&self) -> bool {
        self.shared_integers.load(Ordering::Relaxed)
    }

    pub fn access_policy(&self) -> AccessPolicy {
        let word = self.access.load(Ordering::Relaxed);
        if word == 0 {
            AccessPolicy::Lru
        } else {
            AccessPolicy::Lfu {
                log_factor: word as u32,
                decay_minutes: ((word >> 32) as u32) & (i32::MAX as u32),
            }
        }
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    pub fn shards_per_db(&self) -> usize {
        self.shards_per_db
    }

    /// The global index of the shard holding `key` in `db`.
    #[inline]
    fn shard_of(&self, db: u32, hash: u64) -> u32 {
        assert!((db as usize) < self.databases, "db {db} out of range");
        let within = ((hash >> 32) * self.shards_per_db as u64) >> 32;
        (db as usize * self.shards_per_db + within as usize) as u32
    }

    fn db_shards(&self, db: u32) -> std::ops::Range<u32> {
        assert!((db as usize) < self.databases, "db {db} out of range");
        let first = db as usize * self.shards_per_db;
        first as u32..(first + self.shards_per_db) as u32
    }

    /// An empty set of shards to lock.
    pub fn shards(&self) -> ShardSet<'_> {
        ShardSet {
            store: self,
            ids: Ids::Empty,
        }
    }

    /// A digest of the whole dataset: 40 lowercase hex digits, all zeros when it is empty.
    ///
    /// Order-independent within a database. It covers each key's database, key, type, value and
    /// deadline, and includes keys that are logically expired but not yet deleted, so it is a
    /// function of the applied log alone. On a dataset without TTLs it equals Redis 7.0's DEBUG
    /// DIGEST; for a key with a TTL, Redis mixes in only the fact that it has one, raftis also
    /// mixes in the deadline (replicas must agree on it).
    pub fn digest(&self) -> String {
        let mut set = self.shards();
        set.add_all();
        let locks = set.read();
        let mut total = [0u8; 20];
        for db in 0..self.databases as u32 {
            let mut first = true;
            for idx in self.db_shards(db) {
                for e in locks.shard(idx).dict.iter() {
                    if first {
                        mix_digest(&mut total, &db.to_be_bytes());
                        first = false;
                    }
                    let mut d = [0u8; 20];
                    mix_digest(&mut d, e.key());
                    object_digest(&mut d, e);
                    xor_digest(&mut total, &d);
                }
            }
        }
        sha1::hex(&total)
    }

    /// `(keys, keys with a TTL)` in `db`, for INFO keyspace. Counts keys that are logically
    /// expired but not yet deleted, as Redis does. Not atomic across shards.
    pub fn db_stats(&self, db: u32) -> (u64, u64) {
        let (mut keys, mut expires) = (0u64, 0u64);
        for idx in self.db_shards(db) {
            let s = self.slots[idx as usize].0.read();
            keys += s.dict.len() as u64;
            expires += s.volatile as u64;
        }
        (keys, expires)
    }

    /// Up to `max` keys of `db` whose deadline is at or before `now_ms`, for the leader's active
    /// expire cycle to propose as deletions. Cheap: it skips shards without TTLs and resumes
    /// where the previous call stopped, visiting at most `10 * max` buckets and each shard at
    /// most once per call; a full round over the database takes as many calls as it needs.
    pub fn sample_expired(&self, db: u32, now_ms: u64, max: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let range = self.db_shards(db);
        if max == 0 {
            return out;
        }
        let mut cur = self.expire_cursors[db as usize].lock();
        let mut budget = max.saturating_mul(EXPIRE_SCAN_BUCKETS_PER_KEY);
        let mut shards_left = self.shards_per_db;
        while out.len() < max && budget > 0 && shards_left > 0 {
            let shard = self.slots[(range.start as usize) + cur.shard].0.read();
            let mut done_with_shard = shard.volatile == 0;
            while !done_with_shard && out.len() < max && budget > 0 {
                cur.bucket = shard.dict.scan(cur.bucket, |e| {
                    if e.deadline_ms() != 0 && !e.live_at(now_ms) && out.len() < max {
                        out.push(Bytes::copy_from_slice(e.key()));
                    }
                });
                budget -= 1;
                done_with_shard = cur.bucket == 0;
            }
            if done_with_shard {
                cur.shard = (cur.shard + 1) % self.shards_per_db;
                cur.bucket = 0;
                shards_left -= 1;
            }
        }
        out
    }

    /// Check every running count against a walk of everything (tests only).
    #[cfg(test)]
    pub fn check_accounting(&self) {
        let mut used = 0usize;
        for db in 0..self.databases as u32 {
            let mut sum = Counts::default();
            for idx in self.db_shards(db) {
                let shard = self.slots[idx as usize].0.read();
                let c = shard.counts();
                assert_eq!(
                    c.entries + c.table,
                    shard.dict.walk_bytes(),
                    "shard {idx}: running bytes differ from a walk"
                );
                let volatile = shard.dict.iter().filter(|e| e.deadline_ms() != 0).count();
                assert_eq!(c.volatile, volatile, "shard {idx}: TTL count");
                sum.keys += c.keys;
                sum.volatile += c.volatile;
                sum.entries += c.entries;
                sum.table += c.table;
            }
            let t = &self.totals[db as usize];
            let mirrored = Counts {
                keys: t.keys.load(Ordering::Relaxed) as usize,
                volatile: t.volatile.load(Ordering::Relaxed) as usize,
                entries: t.entries.load(Ordering::Relaxed) as usize,
                table: t.table.load(Ordering::Relaxed) as usize,
            };
            assert_eq!(mirrored, sum, "db {db}: totals differ from its shards");
            used += sum.entries + sum.table;
        }
        assert_eq!(self.used.load(Ordering::Relaxed) as usize, used);
    }

    /// Up to `count` entries of `db` from around a random place, for the leader's eviction
    /// sampling (Redis's `dictGetSomeKeys`): a random shard and bucket, then the buckets after
    /// it, into the next shards, visiting at most `10 * count` buckets (scaled up when only
    /// keys with a TTL are wanted and few have one), or the whole database if `thorough`
    /// (for a caller that must know whether any key is left). `volatile` keeps only keys with
    /// a TTL. Each entry is visited under its shard's read lock; `visit` returns false for an
    /// entry it does not count as a sample (the walk goes on); `rand` supplies the randomness.
    pub fn sample_entries(
        &self,
        db: u32,
        count: usize,
        (volatile, thorough): (bool, bool),
        rand: &mut dyn FnMut() -> u64,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) {
        let range = self.db_shards(db);
        let n = self.shards_per_db;
        let (keys, with_ttl) = self.db_counts(db);
        let wanted = if volatile { with_ttl } else { keys };
        if count == 0 || wanted == 0 {
            return;
        }
        let sparse = (keys / wanted.max(1)).clamp(1, 100) as usize;
        let mut budget = if thorough {
            usize::MAX
        } else {
            count
                .saturating_mul(10)
                .saturating_mul(if volatile { sparse } else { 1 })
        };
        let mut seen = 0usize;
        let first = (rand() % n as u64) as usize;
        // A thorough walk takes every shard whole.
        let mut bucket = if thorough { 0 } else { rand() };
        for step in 0..n {
            let idx = range.start as usize + (first + step) % n;
            let shard = self.slots[idx].0.read();
            if shard.dict.len() == 0 || (volatile && shard.volatile == 0) {
                continue;
            }
            loop {
                bucket = shard.dict.scan(bucket, |e| {
                    if seen < count && (!volatile || e.deadline_ms() != 0) && visit(e) {
                        seen += 1;
                    }
                });
                budget = budget.saturating_sub(1);
                if seen >= count || budget == 0 {
                    return;
                }
                if bucket == 0 {
                    break;
                }
            }
        }
    }

    /// Record an access to `key` in `db` at `now_ms` (a follower's read reported to the
    /// leader): node-local metadata only, under a read lock. False if the key is missing.
    pub fn touch_key(&self, db: u32, key: &[u8], now_ms: u64, coin: f64) -> bool {
        if db as usize >= self.databases {
            return false;
        }
        let h = hash_key(key);
        let shard = self.slots[self.shard_of(db, h) as usize].0.read();
        match shard.dict.get(h, key).filter(|e| e.live_at(now_ms)) {
            Some(e) => {
                lru::touch(e.lru(), self.access_policy(), now_ms, coin);
                true
            }
            None => false,
        }
    }
}

impl Store {
    /// `(cost, deadline)` of `key` in `db` if it is stored, expired or not (for the leader's
    /// eviction to check a candidate it sampled earlier). One read lock.
    pub fn key_info(&self, db: u32, key: &[u8]) -> Option<(u64, u64)> {
        if db as usize >= self.databases {
            return None;
        }
        let h = hash_key(key);
        let shard = self.slots[self.shard_of(db, h) as usize].0.read();
        let e = shard.dict.get(h, key)?;
        Some((entry_bytes(e) as u64, e.deadline_ms()))
    }
}

/// What `e` costs in the keyspace (MEMORY USAGE): its node, key, value and containers, as the
/// allocator counts them. O(1).
pub fn entry_bytes(e: &Entry) -> usize {
    dict::entry_bytes(e)
}

fn xor_digest_raw(d: &mut [u8; 20], other: &[u8; 20]) {
    for (a, b) in d.iter_mut().zip(other) {
        *a ^= b;
    }
}

/// Redis's `xorDigest`: xor SHA1(data) into the digest.
fn xor_digest(d: &mut [u8; 20], data: &[u8]) {
    xor_digest_raw(d, &sha1::sha1(data));
}

/// Redis's `mixDigest`: xor SHA1(data) in, then replace the digest by its own SHA1.
fn mix_digest(d: &mut [u8; 20], data: &[u8]) {
    xor_digest(d, data);
    *d = sha1::sha1(&d[..]);
}

/// Redis's `xorObjectDigest` for the value of `e`, plus its deadline (see `Store::digest`).
/// Elements are digested as the strings they stand for, whatever their encoding, so every
/// encoding of the same value digests alike, as in Redis.
fn object_digest(d: &mut [u8; 20], e: &Entry) {
    mix_digest(d, &e.kind().code().to_be_bytes());
    let mut buf = IntBuf::default();
    match e.value() {
        ValueRef::Str(s) => mix_digest(d, s),
        // Order matters for a list: mixed in sequence.
        ValueRef::List(l) => {
            for x in l.iter() {
                mix_digest(d, x.as_bytes(&mut buf));
            }
        }
        ValueRef::Set(set) => {
            for m in set.iter() {
                xor_digest(d, m.as_bytes(&mut buf));
            }
        }
        ValueRef::ZSet(z) => {
            for (m, score) in z.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, m.as_bytes(&mut buf));
                mix_digest(&mut ele, crate::reply::format_double(score).as_bytes());
                xor_digest(d, &ele);
            }
        }
        ValueRef::Hash(h) => {
            for (f, v) in h.iter() {
                let mut ele = [0u8; 20];
                mix_digest(&mut ele, f.as_bytes(&mut buf));
                mix_digest(&mut ele, v.as_bytes(&mut buf));
                xor_digest(d, &ele);
            }
        }
    }
    if e.deadline_ms() != 0 {
        xor_digest(d, b"!!expire!!");
        mix_digest(d, &e.deadline_ms().to_be_bytes());
    }
}

/// What WATCH remembers of a key and EXEC compares: the digest of its type, value and
/// deadline (all zeros for a missing key). The same on every replica for the same state.
pub fn key_fingerprint(e: Option<&Entry>) -> [u8; 20] {
    let mut d = [0u8; 20];
    if let Some(e) = e {
        object_digest(&mut d, e);
    }
    d
}

/// DEBUG DIGEST-VALUE of one entry (40 hex digits; all zeros for a missing key).
pub fn value_digest(e: Option<&Entry>) -> String {
    sha1::hex(&key_fingerprint(e))
}

enum Ids {
    Empty,
    One(u32),
    /// Unsorted, possibly with duplicates, until locked.
    Many(Vec<u32>),
}

/// The shards one command (or one transaction) will lock. Adding the same shard twice is fine.
pub struct ShardSet<'s> {
    store: &'s Store,
    ids: Ids,
}

impl<'s> ShardSet<'s> {
    /// How many databases the store has (for a `Scope::Custom` to check an index).
    pub fn databases(&self) -> usize {
        self.store.databases
    }

    fn push(&mut self, id: u32) {
        self.ids = match std::mem::replace(&mut self.ids, Ids::Empty) {
            Ids::Empty => Ids::One(id),
            Ids::One(a) if a == id => Ids::One(a),
            Ids::One(a) => Ids::Many(vec![a, id]),
            Ids::Many(mut v) => {
                v.push(id);
                Ids::Many(v)
            }
        };
    }

    /// The shard of `key` in `db`.
    pub fn add_key(&mut self, db: u32, key: &[u8]) {
        let id = self.store.shard_of(db, hash_key(key));
        self.push(id);
    }

    /// Every shard of `db` (DBSIZE, FLUSHDB, KEYS, SCAN).
    pub fn add_db(&mut self, db: u32) {
        for id in self.store.db_shards(db) {
            self.push(id);
        }
    }

    /// Every shard of every database (FLUSHALL, DEBUG DIGEST).
    pub fn add_all(&mut self) {
        for db in 0..self.store.databases as u32 {
            self.add_db(db);
        }
    }

    fn sorted(self) -> (&'s Store, Ids) {
        let ids = match self.ids {
            Ids::Many(mut v) => {
                v.sort_unstable();
                v.dedup();
                Ids::Many(v)
            }
            other => other,
        };
        (self.store, ids)
    }

    /// Lock the set for reading, in ascending shard order.
    pub fn read(self) -> ReadLocks<'s> {
        let (store, ids) = self.sorted();
        Locks::take(store, ids, |slot| slot.0.read())
    }

    /// Lock the set for writing, in ascending shard order.
    pub fn write(self) -> WriteLocks<'s> {
        let (store, ids) = self.sorted();
        let mut locks = Locks::take(store, ids, |slot| slot.0.write());
        locks.before = match &locks.held {
            Held::One(id, g) => vec![(*id, g.counts())],
            Held::Many(v) => v.iter().map(|(id, g)| (*id, g.counts())).collect(),
        };
        locks
    }
}

enum Held<G> {
    One(u32, G),
    /// Sorted by shard index.
    Many(Vec<(u32, G)>),
}

/// A set of locked shards and the accessors to the keys in them.
pub struct Locks<'s, G: Deref<Target = Shard>> {
    store: &'s Store,
    held: Held<G>,
    /// Write locks: each held shard's counts when it was locked, to mirror what changed into
    /// the store's totals when the locks are released (empty for read locks).
    before: Vec<(u32, Counts)>,
    /// The entry last handed out as an `EntryMut`, whose change in size is counted
    /// (`settle`) before anything else touches the shards: the `EntryMut` borrowed these locks,
    /// so once they are used again (or dropped) it is gone.
    pending: Option<Pending>,
    pending_key: Vec<u8>,
}

/// An entry handed out for writing: where it is and its heap bytes then.
struct Pending {
    id: u32,
    hash: u64,
    before: usize,
}

pub type ReadLocks<'s> = Locks<'s, RwLockReadGuard<'s, Shard>>;
pub type WriteLocks<'s> = Locks<'s, RwLockWriteGuard<'s, Shard>>;

impl<'s, G: Deref<Target = Shard>> Locks<'s, G> {
    fn take(store: &'s Store, ids: Ids, lock: impl Fn(&'s Slot) -> G) -> Locks<'s, G> {
        let held = match ids {
            Ids::Empty => Held::Many(Vec::new()),
            Ids::One(id) => Held::One(id, lock(&store.slots[id as usize])),
            Ids::Many(v) => Held::Many(
                v.into_iter()
                    .map(|id| (id, lock(&store.slots[id as usize])))
                    .collect(),
            ),
        };
        Locks {
            store,
            held,
            before: Vec::new(),
            pending: None,
            pending_key: Vec::new(),
        }
    }

    /// Count the size change of the entry last handed out as an `EntryMut` (see `pending`).
    /// Every method that changes the keyspace calls it first, and so does `drop`.
    fn settle(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let shard = self.shard(p.id);
        // Only these locks can remove it, and they settle first: the entry is still there.
        if let Some(e) = shard.dict.get(p.hash, &self.pending_key) {
            shard.resized.fetch_add(
                e.heap_bytes() as isize - p.before as isize,
                Ordering::Relaxed,
            );
        }
    }

    fn position(&self, id: u32) -> usize {
        let found = match &self.held {
            Held::One(h, _) => (*h == id).then_some(0),
            Held::Many(v) => v.binary_search_by_key(&id, |(i, _)| *i).ok(),
        };
        found.unwrap_or_else(|| panic!("shard {id} is used but was not locked"))
    }

    fn shard(&self, id: u32) -> &Shard {
        match &self.held {
            Held::One(_, g) => {
                self.position(id);
                g
            }
            Held::Many(v) => &v[self.position(id)].1,
        }
    }

    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// The entry for `key` in `db` if it exists at `now_ms`.
    pub fn get(&self, db: u32, key: &[u8], now_ms: u64) -> Option<&Entry> {
        self.get_any(db, key).filter(|e| e.live_at(now_ms))
    }

    /// The entry for `key` even if it is logically expired (DEBUG DIGEST-VALUE).
    pub fn get_any(&self, db: u32, key: &[u8]) -> Option<&Entry> {
        let h = hash_key(key);
        self.shard(self.store.shard_of(db, h)).dict.get(h, key)
    }

    /// How many keys `db` holds, counting logically expired keys not yet deleted (DBSIZE, as
    /// Redis counts them). Requires every shard of `db` to be locked.
    pub fn db_len(&self, db: u32) -> usize {
        self.store
            .db_shards(db)
            .map(|id| self.shard(id).dict.len())
            .sum()
    }
}

impl<G: Deref<Target = Shard>> Drop for Locks<'_, G> {
    /// Mirror what the writes changed into the per-database and store totals, before the
    /// shards are unlocked.
    fn drop(&mut self) {
        if self.before.is_empty() {
            return;
        }
        self.settle();
        let store = self.store;
        let (mut from, mut to) = (0usize, 0usize);
        for &(id, was) in &self.before {
            let now = self.shard(id).counts();
            if now != was {
                store.totals[id as usize / store.shards_per_db].apply(was, now);
                from += was.entries + was.table;
                to += now.entries + now.table;
            }
        }
        if from != to {
            adjust(&store.used, from, to);
            if to > from {
                let used = store.used.load(Ordering::Relaxed);
                store
                    .peak
                    .fetch_max(store.startup_bytes() + used, Ordering::Relaxed);
            }
        }
    }
}

/// Keyspace walks for KEYS, SCAN and RANDOMKEY. Read-only; each needs every shard of `db`
/// locked.
impl<'s, G: Deref<Target = Shard>> Locks<'s, G> {
    /// Call `visit` with every entry of `db`, logically expired ones included, shard by shard in
    /// bucket order.
    pub fn for_each_in_db(&self, db: u32, mut visit: impl FnMut(&Entry)) {
        for id in self.store.db_shards(db) {
            self.shard(id).dict.iter().for_each(&mut visit);
        }
    }

    /// One SCAN step over `db` from `cursor`; returns the next cursor, 0 when the scan is over.
    ///
    /// A cursor names a shard and a bucket cursor within that shard's table:
    /// `bucket * shards_per_db + shard`, so cursor 0 is shard 0's first bucket, and a shard's
    /// scan ending (its bucket cursor back to 0) moves on to the next shard's bucket 0 — or ends
    /// the whole scan after the last shard. Each shard is walked with the table's own
    /// reverse-binary cursor (see `dict`), so Redis's guarantee holds for the database: a full
    /// iteration returns every key present from its start to its end at least once, whatever
    /// was written between calls, and replicas that applied the same log return the same keys
    /// for the same cursor.
    ///
    /// As Redis's `scanGenericCommand`, it visits buckets until `count` entries were visited
    /// (expired ones included: the caller filters) or `10 * count` further buckets were
    /// visited, and always at least one bucket. A cursor whose bucket part exceeds its shard's
    /// table is masked by it, as Redis masks a cursor with its table size.
    pub fn scan_db(
        &self,
        db: u32,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&Entry),
    ) -> u64 {
        let shards = self.store.db_shards(db);
        let n = u64::from(shards.end - shards.start);
        let mut shard = cursor % n;
        let mut bucket = cursor / n;
        let mut seen = 0usize;
        let mut budget = count.saturating_mul(10);
        loop {
            let dict = &self.shard(shards.start + shard as u32).dict;
            bucket = dict.scan(bucket, |e| {
                seen += 1;
                visit(e);
            });
            if bucket == 0 {
                shard += 1;
                if shard == n {
                    return 0;
                }
            }
            if budget == 0 || seen >= count {
                break;
            }
            budget -= 1;
        }
        // A bucket cursor is below its table's size; a table of 2^64 / shards_per_db buckets
        // (2^58 with 64 shards) cannot exist in memory.
        bucket
            .checked_mul(n)
            .and_then(|c| c.checked_add(shard))
            .expect("a shard's table is far smaller than 2^64 / shards_per_db buckets")
    }

    /// A key of `db` chosen at random among the keys live at `now_ms` (near uniformly: a shard
    /// in proportion to its size, a random non-empty bucket, a random key of its chain), or
    /// `None` if there is none. `rand` supplies the randomness. An expired key is never
    /// returned: after 100 expired picks it walks the database for a live key.
    pub fn random_key(&self, db: u32, now_ms: u64, mut rand: impl FnMut() -> u64) -> Option<Bytes> {
        const PICKS: usize = 100;
        const BUCKET_TRIES: usize = 256;
        let shards = self.store.db_shards(db);
        let total: usize = shards.clone().map(|id| self.shard(id).dict.len()).sum();
        if total == 0 {
            return None;
        }
        for _ in 0..PICKS {
            let mut r = (rand() % total as u64) as usize;
            let Some(id) = shards.clone().find(|&id| {
                let len = self.shard(id).dict.len();
                if r < len {
                    return true;
                }
                r -= len;
                false
            }) else {
                continue;
            };
            let dict = &self.shard(id).dict;
            let mut picked: Option<(bool, Bytes)> = None;
            for _ in 0..BUCKET_TRIES {
                // `scan` masks the cursor with the table size: a uniformly random bucket.
                let cursor = rand();
                let mut chain = 0u64;
                dict.scan(cursor, |_| chain += 1);
                if chain == 0 {
                    continue;
                }
                let mut k = rand() % chain;
                dict.scan(cursor, |e| {
                    if k == 0 {
                        picked = Some((e.live_at(now_ms), Bytes::copy_from_slice(e.key())));
                    }
                    k = k.wrapping_sub(1);
                });
                break;
            }
            let picked = picked.or_else(|| {
                // Buckets are at least a tenth full, so this is rare: take the r-th entry.
                let e = dict.iter().nth(r)?;
                Some((e.live_at(now_ms), Bytes::copy_from_slice(e.key())))
            });
            if let Some((true, key)) = picked {
                return Some(key);
            }
        }
        let n = shards.end - shards.start;
        let first = (rand() % u64::from(n)) as u32;
        (0..n).find_map(|i| {
            let id = shards.start + (first + i) % n;
            let e = self.shard(id).dict.iter().find(|e| e.live_at(now_ms))?;
            Some(Bytes::copy_from_slice(e.key()))
        })
    }
}

/// Write access to one entry; changes to its deadline keep the shard's TTL count right.
/// Changes to its size are counted by the `Locks` it came from (see `Pending`).
pub struct EntryMut<'a> {
    entry: &'a mut Entry,
    volatile: &'a mut usize,
}

impl EntryMut<'_> {
    /// Set the absolute deadline (0 removes the TTL).
    pub fn set_deadline(&mut self, deadline_ms: u64) {
        match (self.entry.deadline_ms() != 0, deadline_ms != 0) {
            (false, true) => *self.volatile += 1,
            (true, false) => *self.volatile -= 1,
            _ => {}
        }
        self.entry.set_deadline(deadline_ms);
    }

    /// Replace the value by a string, keeping the deadline.
    pub fn set_str(&mut self, value: &[u8]) {
        if let Some(old) = self.entry.set_str(value) {
            let effort = old.len();
            lazyfree::free(old, effort);
        }
    }

    /// Replace the value by a string that Redis would hold "raw" (the result of APPEND,
    /// SETRANGE, SETBIT: OBJECT ENCODING says raw whatever its length), keeping the deadline.
    pub fn set_str_raw(&mut self, value: &[u8]) {
        if let Some(old) = self.entry.set_str_raw(value) {
            let effort = old.len();
            lazyfree::free(old, effort);
        }
    }

    /// The string value for changing in place, grown with zero bytes to at least `len` bytes
    /// and "raw" from now on (SETRANGE, SETBIT, BITFIELD); `None` if the value is not a
    /// string. The growth is counted when the locks settle, as every change through `EntryMut`.
    pub fn str_raw_mut(&mut self, len: usize) -> Option<&mut [u8]> {
        self.entry.str_raw_mut(len)
    }

    /// Replace the value by a string Redis never encodes as "int" (INCRBYFLOAT's result).
    pub fn set_str_noint(&mut self, value: &[u8]) {
        if let Some(old) = self.entry.set_str_noint(value) {
            let effort = old.len();
            lazyfree::free(old, effort);
        }
    }

    /// The hash, if the value is one.
    pub fn hash_mut(&mut self) -> Option<HashMut<'_>> {
        (self.entry.kind() == Kind::Hash).then(|| HashMut::new(self.entry))
    }

    /// The set, if the value is one.
    pub fn set_mut(&mut self) -> Option<SetMut<'_>> {
        (self.entry.kind() == Kind::Set).then(|| SetMut::new(self.entry))
    }

    /// The sorted set, if the value is one.
    pub fn zset_mut(&mut self) -> Option<ZSetMut<'_>> {
        (self.entry.kind() == Kind::ZSet).then(|| ZSetMut::new(self.entry))
    }

    /// The list, if the value is one.
    pub fn list_mut(&mut self) -> Option<ListMut<'_>> {
        (self.entry.kind() == Kind::List).then(|| ListMut::new(self.entry))
    }
}

impl Deref for EntryMut<'_> {
    type Target = Entry;
    fn deref(&self) -> &Entry {
        self.entry
    }
}

/// Whether `e` is a container left empty by a command (to be deleted, as Redis does).
fn is_empty_container(e: &Entry) -> bool {
    match e.value() {
        ValueRef::Str(_) => false,
        ValueRef::Hash(h) => h.is_empty(),
        ValueRef::Set(s) => s.is_empty(),
        ValueRef::ZSet(z) => z.is_empty(),
        ValueRef::List(l) => l.is_empty(),
    }
}

impl<'s, G: DerefMut<Target = Shard>> Locks<'s, G> {
    fn shard_mut(&mut self, id: u32) -> &mut Shard {
        let pos = self.position(id);
        match &mut self.held {
            Held::One(_, g) => g,
            Held::Many(v) => &mut v[pos].1,
        }
    }

    /// The entry for `key` if it exists at `now_ms`, for writing. An expired entry found on the
    /// way is deleted (every replica does the same at the same log position).
    pub fn get_mut(&mut self, db: u32, key: &[u8], now_ms: u64) -> Option<EntryMut<'_>> {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        if let Some(e) = self
            .shard(id)
            .dict
            .get(h, key)
            .filter(|e| e.live_at(now_ms))
        {
            self.pending = Some(Pending {
                id,
                hash: h,
                before: e.heap_bytes(),
            });
            self.pending_key.clear();
            self.pending_key.extend_from_slice(key);
        }
        let shard = self.shard_mut(id);
        let found = shard.dict.find_mut(h, key, now_ms);
        match found {
            Found::Live(entry) => Some(EntryMut {
                entry,
                volatile: &mut shard.volatile,
            }),
            Found::Expired(old) => {
                dispose(&mut shard.volatile, old);
                None
            }
            Found::Missing => None,
        }
    }

    /// The entry for `key` if it exists at `now_ms` and holds a `kind`; a new empty `kind`
    /// (in its smallest encoding) if it does not exist. The command must leave the container
    /// non-empty, or delete it (`remove_if_empty`).
    pub fn get_or_create(
        &mut self,
        db: u32,
        key: &[u8],
        now_ms: u64,
        kind: Kind,
    ) -> Result<(EntryMut<'_>, bool), WrongType> {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        let access = lru::initial(self.store.access_policy(), now_ms);
        let shard = self.shard_mut(id);
        let created = match shard.dict.find_mut(h, key, now_ms) {
            Found::Live(e) if e.kind() != kind => return Err(WrongType),
            Found::Live(_) => false,
            Found::Expired(old) => {
                dispose(&mut shard.volatile, old);
                true
            }
            Found::Missing => true,
        };
        if created {
            let e = Entry::new_container(key, kind);
            e.lru().store(access, Ordering::Relaxed);
            shard.dict.insert(h, e);
        }
        let before = shard.dict.get(h, key).map_or(0, Entry::heap_bytes);
        self.pending = Some(Pending {
            id,
            hash: h,
            before,
        });
        self.pending_key.clear();
        self.pending_key.extend_from_slice(key);
        let shard = self.shard_mut(id);
        let Found::Live(entry) = shard.dict.find_mut(h, key, now_ms) else {
            unreachable!("the entry was just found or inserted");
        };
        Ok((
            EntryMut {
                entry,
                volatile: &mut shard.volatile,
            },
            created,
        ))
    }

    /// Delete `key` if it holds an empty container (a command removed its last element).
    pub fn remove_if_empty(&mut self, db: u32, key: &[u8]) {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        let shard = self.shard_mut(id);
        if shard.dict.get(h, key).is_some_and(is_empty_container) {
            if let Some(e) = shard.dict.remove(h, key) {
                shard.dispose(e);
            }
        }
    }

    /// Set `key` to a string value with the given deadline (0: none), creating it or replacing
    /// whatever it held, at `now_ms` (the access field's stamp).
    pub fn set_str(&mut self, db: u32, key: &[u8], value: &[u8], deadline_ms: u64, now_ms: u64) {
        self.set_str_as(db, key, value, deadline_ms, now_ms, false)
    }

    /// `set_str` for a string Redis would hold "raw" whatever its length (BITOP's result).
    pub fn set_str_raw(
        &mut self,
        db: u32,
        key: &[u8],
        value: &[u8],
        deadline_ms: u64,
        now_ms: u64,
    ) {
        self.set_str_as(db, key, value, deadline_ms, now_ms, true)
    }

    fn set_str_as(
        &mut self,
        db: u32,
        key: &[u8],
        value: &[u8],
        deadline_ms: u64,
        now_ms: u64,
        raw: bool,
    ) {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        let policy = self.store.access_policy();
        let shard = self.shard_mut(id);
        // Reuse the existing node (and its blob when the length matches) if there is one.
        match shard.dict.find_mut(h, key, 0) {
            Found::Live(entry) if entry.as_str().is_some() => {
                // A new value is a new object to Redis: a fresh LRU stamp (LFU keeps its
                // counter, as Redis's dbSetValue does).
                if policy == AccessPolicy::Lru {
                    entry
                        .lru()
                        .store(lru::initial(policy, now_ms), Ordering::Relaxed);
                }
                let before = entry.heap_bytes();
                let mut e = EntryMut {
                    entry,
                    volatile: &mut shard.volatile,
                };
                if raw {
                    e.set_str_raw(value);
                } else {
                    e.set_str(value);
                }
                e.set_deadline(deadline_ms);
                let after = e.heap_bytes();
                shard
                    .resized
                    .fetch_add(after as isize - before as isize, Ordering::Relaxed);
            }
            _ => {
                let new = if raw {
                    Entry::new_str_raw(key, value, deadline_ms)
                } else {
                    Entry::new_str(key, value, deadline_ms)
                };
                new.lru()
                    .store(lru::initial(policy, now_ms), Ordering::Relaxed);
                if deadline_ms != 0 {
                    shard.volatile += 1;
                }
                if let Some(old) = shard.dict.insert(h, new) {
                    shard.dispose(old);
                }
            }
        }
    }

    /// Add `entry` under its own key, replacing (and freeing) whatever the key held. A new
    /// entry (access field 0) is stamped at `now_ms`; a moved one keeps its field (RENAME).
    pub fn insert(&mut self, db: u32, entry: Entry, now_ms: u64) {
        self.settle();
        let h = hash_key(entry.key());
        let id = self.store.shard_of(db, h);
        if entry.lru().load(Ordering::Relaxed) == 0 {
            let access = lru::initial(self.store.access_policy(), now_ms);
            entry.lru().store(access, Ordering::Relaxed);
        }
        let shard = self.shard_mut(id);
        if entry.deadline_ms() != 0 {
            shard.volatile += 1;
        }
        if let Some(old) = shard.dict.insert(h, entry) {
            shard.dispose(old);
        }
    }

    /// Remove `key` and return its entry if it exists at `now_ms` (RENAME, MOVE); an expired
    /// entry is deleted and `None` returned.
    pub fn take_entry(&mut self, db: u32, key: &[u8], now_ms: u64) -> Option<Entry> {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        let shard = self.shard_mut(id);
        let e = shard.dict.remove(h, key)?;
        shard.account_removed(&e);
        if e.live_at(now_ms) {
            Some(e)
        } else {
            let effort = e.free_effort();
            lazyfree::free(e, effort);
            None
        }
    }

    /// Delete `key`. True if it existed at `now_ms` (an expired key is deleted too, but it did
    /// not exist, so DEL does not count it).
    pub fn remove(&mut self, db: u32, key: &[u8], now_ms: u64) -> bool {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        let shard = self.shard_mut(id);
        match shard.dict.remove(h, key) {
            Some(e) => {
                let live = e.live_at(now_ms);
                shard.dispose(e);
                live
            }
            None => false,
        }
    }

    /// Delete `key` if its deadline is at or before `now_ms` (the leader's expire proposals:
    /// by the time one applies, the key may have been given a new life). True if deleted.
    pub fn remove_if_expired(&mut self, db: u32, key: &[u8], now_ms: u64) -> bool {
        self.settle();
        let h = hash_key(key);
        let id = self.store.shard_of(db, h);
        let shard = self.shard_mut(id);
        match shard.dict.find_mut(h, key, now_ms) {
            Found::Expired(old) => {
                shard.dispose(old);
                true
            }
            Found::Live(_) | Found::Missing => false,
        }
    }

    /// Delete every key of `db` (its shards must be locked). Returns how many there were.
    pub fn clear_db(&mut self, db: u32, free: Free) -> usize {
        self.settle();
        let mut old = Vec::with_capacity(self.store.shards_per_db);
        for id in self.store.db_shards(db) {
            let shard = self.shard_mut(id);
            shard.volatile = 0;
            shard.resized.store(0, Ordering::Relaxed);
            old.push(shard.dict.take());
        }
        let n = old.iter().map(Dict::len).sum();
        if free == Free::Async && n >= FLUSH_ASYNC_THRESHOLD {
            lazyfree::free(old, usize::MAX);
        }
        n
    }

    /// Exchange the contents of databases `a` and `b` (SWAPDB; every shard of both locked).
    pub fn swap_dbs(&mut self, a: u32, b: u32) {
        self.settle();
        if a == b {
            return;
        }
        for (ia, ib) in self.store.db_shards(a).zip(self.store.db_shards(b)) {
            let sa = std::mem::replace(self.shard_mut(ia), Shard::new());
            let sb = std::mem::replace(self.shard_mut(ib), sa);
            *self.shard_mut(ia) = sb;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(store: &Store, db: u32, k: &[u8], v: &[u8], deadline: u64) {
        let mut s = store.shards();
        s.add_key(db, k);
        s.write().set_str(db, k, v, deadline, 0);
    }

    fn get(store: &Store, db: u32, k: &[u8], now: u64) -> Option<Vec<u8>> {
        let mut s = store.shards();
        s.add_key(db, k);
        let locks = s.read();
        locks.get(db, k, now).map(|e| e.as_str().unwrap().to_vec())
    }

    #[test]
    fn databases_are_separate_keyspaces() {
        let store = Store::new(4, 8);
        set(&store, 0, b"k", b"zero", 0);
        set(&store, 3, b"k", b"three", 0);
        assert_eq!(get(&store, 0, b"k", 0).as_deref(), Some(&b"zero"[..]));
        assert_eq!(get(&store, 3, b"k", 0).as_deref(), Some(&b"three"[..]));
        assert_eq!(get(&store, 1, b"k", 0), None);
        assert_eq!(store.db_stats(0), (1, 0));
        assert_eq!(store.db_stats(1), (0, 0));
    }

    #[test]
    fn expired_keys_read_as_missing_and_reads_do_not_delete_them() {
        let store = Store::new(1, 4);
        set(&store, 0, b"k", b"v", 1000);
        assert_eq!(get(&store, 0, b"k", 999).as_deref(), Some(&b"v"[..]));
        assert_eq!(get(&store, 0, b"k", 1000), None);
        // Still stored: only a write (apply) or the leader's expire proposal deletes it.
        assert_eq!(store.db_stats(0), (1, 1));
        let mut s = store.shards();
        s.add_key(0, b"k");
        let mut w = s.write();
        assert!(w.get_mut(0, b"k", 1000).is_none());
        drop(w);
        assert_eq!(store.db_stats(0), (0, 0));
    }

    #[test]
    fn ttl_count_follows_every_kind_of_change() {
        let store = Store::new(1, 2);
        let mut s = store.shards();
        s.add_db(0);
        let mut w = s.write();
        w.set_str(0, b"a", b"1", 500, 0);
        w.set_str(0, b"b", b"2", 0, 0);
        w.set_str(0, b"c", b"3", 700, 0);
        w.get_mut(0, b"b", 0).unwrap().set_deadline(900);
        w.get_mut(0, b"a", 0).unwrap().set_deadline(0);
        w.set_str(0, b"c", b"x", 0, 0);
        w.set_str(0, b"c", b"y", 800, 0);
        assert!(w.remove(0, b"b", 0));
        drop(w);
        assert_eq!(store.db_stats(0), (2, 1));
        let mut s = store.shards();
        s.add_db(0);
        let mut w = s.write();
        assert!(w.remove_if_expired(0, b"c", 800));
        assert!(!w.remove_if_expired(0, b"a", u64::MAX));
        assert_eq!(w.clear_db(0, Free::Sync), 1);
        drop(w);
        assert_eq!(store.db_stats(0), (0, 0));
    }

    #[test]
    fn remove_counts_only_live_keys() {
        let store = Store::new(1, 1);
        set(&store, 0, b"old", b"v", 10);
        let mut s = store.shards();
        s.add_key(0, b"old");
        let mut w = s.write();
        assert!(!w.remove(0, b"old", 10));
        assert!(!w.remove(0, b"old", 0));
    }

    #[test]
    #[should_panic(expected = "was not locked")]
    fn touching_a_key_whose_shard_is_not_locked_panics() {
        let store = Store::new(1, 64);
        let mut s = store.shards();
        s.add_key(0, b"a");
        let locks = s.read();
        // With 64 shards, some key lands elsewhere than "a".
        for i in 0..1000 {
            locks.get(0, format!("other{i}").as_bytes(), 0);
        }
    }

    #[test]
    fn empty_dataset_digest_is_forty_zeros() {
        let store = Store::new(16, 4);
        assert_eq!(store.digest(), "0".repeat(40));
        set(&store, 2, b"k", b"v", 0);
        assert_ne!(store.digest(), "0".repeat(40));
        let mut s = store.shards();
        s.add_all();
        s.write().clear_db(2, Free::Sync);
        assert_eq!(store.digest(), "0".repeat(40));
    }

    #[test]
    fn digest_ignores_insertion_order_and_shard_count_but_not_content() {
        let a = Store::new(16, 8);
        let b = Store::new(16, 3);
        for i in 0..200 {
            set(
                &a,
                i % 3,
                format!("k{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                0,
            );
        }
        for i in (0..200).rev() {
            set(
                &b,
                i % 3,
                format!("k{i}").as_bytes(),
                format!("v{i}").as_bytes(),
                0,
            );
        }
        assert_eq!(a.digest(), b.digest());
        let before = a.digest();
        // Same key and value in another database: different digest.
        set(&a, 0, b"k1", b"v1", 0);
        {
            let mut s = a.shards();
            s.add_key(1, b"k1");
            assert!(s.write().remove(1, b"k1", 0));
        }
        assert_ne!(a.digest(), before);
        // A deadline changes it too.
        set(&b, 0, b"k1", b"v1", 0);
        {
            let mut s = b.shards();
            s.add_key(1, b"k1");
            assert!(s.write().remove(1, b"k1", 0));
        }
        assert_eq!(a.digest(), b.digest());
        set(&b, 0, b"k1", b"v1", 123);
        assert_ne!(a.digest(), b.digest());
        set(&a, 0, b"k1", b"v1", 124);
        assert_ne!(a.digest(), b.digest());
        set(&a, 0, b"k1", b"v1", 123);
        assert_eq!(a.digest(), b.digest());
    }

    /// Values produced by redis-server 7.0.15 (see `command::server` tests for the commands):
    /// `FLUSHALL`, `SET a 1`, `SET b hello`, `SELECT 3`, `SET a 1`, `DEBUG DIGEST`.
    #[test]
    fn digest_equals_redis_on_a_dataset_without_ttls() {
        let store = Store::new(16, 4);
        set(&store, 0, b"a", b"1", 0);
        set(&store, 0, b"b", b"hello", 0);
        set(&store, 3, b"a", b"1", 0);
        assert_eq!(store.digest(), REDIS_DIGEST);
        let mut s = store.shards();
        s.add_key(0, b"b");
        let locks = s.read();
        assert_eq!(value_digest(locks.get_any(0, b"b")), REDIS_DIGEST_VALUE_B);
        assert_eq!(value_digest(None), "0".repeat(40));
    }
    const REDIS_DIGEST: &str = "0111b681706c5da52a6be7bef3f3a02621270a5c";

    /// Lists and sorted sets have no commands yet: build them through the store and compare
    /// with redis-server 7.0.15, which answered (after FLUSHALL):
    /// `RPUSH l a 1 b 12345 "" -7`, `RPUSH l2 element:0 .. element:2999`, `LPUSH l2 head 42`,
    /// `ZADD z 1 a 2.5 b -0 c 1e300 d 3 7 0.1 x` (listpack),
    /// `ZADD z2 0.5 member:0 .. 199.5 member:199` (skiplist),
    /// `ZADD z3 1 m...m (65 bytes) 2 b` (skiplist), then DEBUG DIGEST-VALUE of each and DEBUG
    /// DIGEST.
    #[test]
    fn digest_equals_redis_for_lists_and_sorted_sets() {
        let store = Store::new(16, 4);
        let mut s = store.shards();
        s.add_db(0);
        let mut w = s.write();
        let mut list = |key: &[u8], front: &[&[u8]], back: &[Vec<u8>]| {
            let (mut e, _) = w.get_or_create(0, key, 0, Kind::List).unwrap();
            let mut l = e.list_mut().unwrap();
            for v in back {
                l.push(v, false);
            }
            for v in front {
                l.push(v, true);
            }
        };
        list(
            b"l",
            &[],
            &["a", "1", "b", "12345", "", "-7"].map(|v| v.as_bytes().to_vec()),
        );
        let elements: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("element:{i}").into_bytes())
            .collect();
        list(b"l2", &[b"head", b"42"], &elements);
        let mut zset = |key: &[u8], members: &[(f64, Vec<u8>)]| {
            let (mut e, _) = w.get_or_create(0, key, 0, Kind::ZSet).unwrap();
            let mut z = e.zset_mut().unwrap();
            if members
                .first()
                .is_some_and(|(_, m)| m.len() > ZSET_MAX_LISTPACK_VALUE)
            {
                z.reserve(0, members[0].1.len());
            }
            for (score, m) in members {
                z.insert(m, *score);
            }
        };
        let z: Vec<(f64, Vec<u8>)> = [
            (1.0, "a"),
            (2.5, "b"),
            (-0.0, "c"),
            (1e300, "d"),
            (3.0, "7"),
            (0.1, "x"),
        ]
        .iter()
        .map(|(s, m)| (*s, m.as_bytes().to_vec()))
        .collect();
        zset(b"z", &z);
        let z2: Vec<(f64, Vec<u8>)> = (0..200)
            .map(|i| (f64::from(i) + 0.5, format!("member:{i}").into_bytes()))
            .collect();
        zset(b"z2", &z2);
        zset(b"z3", &[(1.0, vec![b'm'; 65]), (2.0, b"b".to_vec())]);
        let digests: Vec<(String, &str)> = [
            (&b"l"[..], "3a21f333007c9e584d509273b851b531b665ad3b"),
            (b"l2", "c9a34aa01d264748557a3d5db1cf77c74b882446"),
            (b"z", "56eaa91e644dd39dd3572d41d9c56848452409f0"),
            (b"z2", "24d8e9782a216b6627eee2baeabfdb52f4b32100"),
            (b"z3", "a4f61510a61013ee6e8409d511ea640ac021b11e"),
        ]
        .iter()
        .map(|(k, want)| (value_digest(w.get_any(0, k)), *want))
        .collect();
        let encodings: Vec<&str> = [&b"l"[..], b"l2", b"z", b"z2", b"z3"]
            .iter()
            .map(|k| w.get_any(0, k).unwrap().encoding())
            .collect();
        drop(w);
        for (got, want) in digests {
            assert_eq!(got, want);
        }
        assert_eq!(
            encodings,
            ["quicklist", "quicklist", "listpack", "skiplist", "skiplist"]
        );
        assert_eq!(store.digest(), "9830918cd0c636aef1041ca1f44a7c10902b0f7f");
    }
    const REDIS_DIGEST_VALUE_B: &str = "36b23a1456b2dce2c3ed252c456761301dba8060";

    #[test]
    fn sample_expired_finds_due_keys_without_returning_live_ones() {
        let store = Store::new(2, 8);
        for i in 0..1000u64 {
            let deadline = match i % 4 {
                0 => 0,
                1 => 100,
                2 => 200,
                _ => 10_000,
            };
            set(&store, 1, format!("k{i}").as_bytes(), b"v", deadline);
        }
        let mut found = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let batch = store.sample_expired(1, 150, 20);
            assert!(batch.len() <= 20);
            for k in batch {
                let i: u64 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
                assert_eq!(i % 4, 1, "k{i} is not due at 150");
                found.insert(i);
            }
        }
        assert_eq!(found.len(), 250);
        assert!(store.sample_expired(0, u64::MAX, 20).is_empty());
        assert!(store.sample_expired(1, 150, 0).is_empty());
    }

    #[test]
    fn sample_expired_work_per_call_is_bounded() {
        let store = Store::new(1, 1);
        // One due key among many live ones: a call visits at most 10 buckets per key asked.
        for i in 0..10_000 {
            set(&store, 0, format!("k{i}").as_bytes(), b"v", 1_000_000);
        }
        set(&store, 0, b"due", b"v", 5);
        let mut calls = 0;
        loop {
            calls += 1;
            let got = store.sample_expired(0, 10, 1);
            if !got.is_empty() {
                assert_eq!(&got[0][..], b"due");
                break;
            }
            assert!(calls < 20_000, "never found the due key");
        }
        // 16384 buckets at 10 per call: it takes many calls, each of them short.
        assert!(calls > 100, "{calls}");
    }
}

/// Tests of the memory accounting: the running counts against a walk of everything.
#[cfg(test)]
mod memory_tests {
    use super::*;

    /// xorshift64*, so every run is the same.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// A member or value: small, long (past the packed limits), or an integer.
    fn element(rng: &mut Rng) -> Vec<u8> {
        match rng.below(6) {
            0 => vec![b'x'; 65 + rng.below(200) as usize],
            1 => rng.below(100_000).to_string().into_bytes(),
            _ => format!("e{}", rng.below(700)).into_bytes(),
        }
    }

    /// One random change to key `k` of `db`, through the same calls commands make.
    fn mutate(w: &mut WriteLocks<'_>, rng: &mut Rng, db: u32, k: &[u8], now: u64) {
        let kinds = [Kind::Hash, Kind::Set, Kind::ZSet, Kind::List];
        match rng.below(16) {
            0 => w.set_str(db, k, &element(rng), rng.below(3) * (now + 50), now),
            1 => {
                w.remove(db, k, now);
            }
            2 => {
                if let Some(mut e) = w.get_mut(db, k, now) {
                    let d = if rng.below(2) == 0 {
                        0
                    } else {
                        now + rng.below(100)
                    };
                    e.set_deadline(d);
                    if e.as_str().is_some() {
                        let mut v = e.as_str().unwrap().to_vec();
                        v.extend_from_slice(&element(rng));
                        e.set_str_raw(&v);
                    }
                    // SETRANGE / SETBIT: grown in place with zeros, then changed in place.
                    let len = e.as_str().map(<[u8]>::len);
                    if let (Some(len), 0) = (len, rng.below(2)) {
                        let grown = len + rng.below(3000) as usize;
                        if let Some(s) = e.str_raw_mut(grown).filter(|s| !s.is_empty()) {
                            s[grown / 2] ^= 1;
                        }
                    }
                }
            }
            6 if rng.below(2) == 0 => {
                // SETBIT on a missing key: an empty string, grown before the locks settle.
                if let Ok((mut e, _)) = w.get_or_create(db, k, now, Kind::String) {
                    if let Some(s) = e.str_raw_mut(1 + rng.below(1000) as usize) {
                        s[0] |= 1;
                    }
                }
            }
            3 => {
                // RENAME / MOVE: the entry leaves and comes back under another key.
                if let Some(e) = w.take_entry(db, k, now) {
                    let to = format!("k{}", rng.below(30)).into_bytes();
                    let to_db = rng.below(2) as u32;
                    w.insert(to_db, e.rekey(&to), now);
                }
            }
            4 => {
                // COPY.
                let copy = w.get(db, k, now).map(|e| e.duplicate(b"copy", 0));
                if let Some(c) = copy {
                    w.insert(db, c, now);
                }
            }
            5 => {
                w.remove_if_expired(db, k, now);
            }
            _ => {
                // Each key keeps to one type, so containers grow past the packed forms.
                let kind = kinds[k.iter().map(|&b| usize::from(b)).sum::<usize>() % 4];
                let Ok((mut e, _)) = w.get_or_create(db, k, now, kind) else {
                    return;
                };
                let many = rng.below(4) == 0;
                let n = 1 + rng.below(if many { 600 } else { 20 });
                for _ in 0..n {
                    let m = element(rng);
                    let add = rng.below(3) != 0;
                    match kind {
                        Kind::Hash => {
                            let mut h = e.hash_mut().unwrap();
                            if add {
                                h.set(&m, &element(rng));
                            } else {
                                h.remove(&m);
                            }
                        }
                        Kind::Set => {
                            let mut st = e.set_mut().unwrap();
                            if add {
                                st.add(&m);
                            } else if rng.below(2) == 0 {
                                st.remove(&m);
                            } else {
                                st.pop(rng.next());
                            }
                        }
                        Kind::ZSet => {
                            let mut z = e.zset_mut().unwrap();
                            if add {
                                z.insert(&m, rng.below(1000) as f64);
                            } else if rng.below(2) == 0 {
                                z.remove(&m);
                            } else {
                                z.pop(rng.below(2) == 0);
                            }
                        }
                        Kind::List => {
                            let mut l = e.list_mut().unwrap();
                            let len = l.len();
                            match rng.below(8) {
                                0..=2 => l.push(&m, rng.below(2) == 0),
                                3 => {
                                    l.pop(rng.below(2) == 0);
                                }
                                4 if len > 0 => {
                                    l.set(rng.below(len as u64) as usize, &m);
                                }
                                5 | 6 => l.insert_at(rng.below(len as u64 + 1) as usize, &m),
                                7 if len > 0 => {
                                    let start = rng.below(len as u64) as usize;
                                    l.remove_range(start, 1 + rng.below(50) as usize);
                                }
                                _ => l.push(&m, false),
                            }
                        }
                        Kind::String => {}
                    }
                }
                w.remove_if_empty(db, k);
            }
        }
    }

    #[test]
    fn running_counts_equal_a_walk_after_random_changes_to_every_type() {
        for seed in 1..=6u64 {
            let store = Store::new(2, 4);
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let mut now = 1000;
            for step in 0..3000 {
                now += rng.below(3);
                let db = rng.below(2) as u32;
                let k = format!("k{}", rng.below(30)).into_bytes();
                let mut set = store.shards();
                set.add_all();
                let mut w = set.write();
                // Several changes under one set of locks, as a transaction makes them.
                for _ in 0..1 + rng.below(3) {
                    mutate(&mut w, &mut rng, db, &k, now);
                }
                match rng.below(300) {
                    0 => {
                        w.clear_db(db, Free::Sync);
                    }
                    1 => w.swap_dbs(0, 1),
                    _ => {}
                }
                drop(w);
                if step % 50 == 0 {
                    store.check_accounting();
                }
            }
            store.check_accounting();
            let m = store.memory();
            assert_eq!(m.total(), m.startup + m.tables + m.dataset);
        }
    }

    #[test]
    fn an_entry_changed_by_a_read_lock_holder_is_not_possible_and_reads_cost_nothing() {
        let store = Store::new(1, 2);
        let mut s = store.shards();
        s.add_db(0);
        s.write().set_str(0, b"k", b"v", 0, 0);
        let before = store.memory();
        let mut s = store.shards();
        s.add_db(0);
        let r = s.read();
        assert!(r.get(0, b"k", 0).is_some());
        drop(r);
        assert_eq!(store.memory(), before);
        // One key: its node, and its blob of key and value.
        let node = mem::alloc_size(32);
        assert_eq!(before.dataset as usize, node + mem::alloc_size(2));
        assert_eq!(store.used_memory(), before.total());
        assert_eq!(store.db_counts(0), (1, 0));
    }

    #[test]
    fn recount_restores_totals_from_the_shards() {
        let store = Store::new(2, 4);
        let mut s = store.shards();
        s.add_all();
        let mut w = s.write();
        for i in 0..100 {
            w.set_str(
                i % 2,
                format!("k{i}").as_bytes(),
                b"value",
                u64::from(i % 3),
                0,
            );
        }
        drop(w);
        let want = store.memory();
        store.used.store(0, Ordering::Relaxed);
        store.totals[1].keys.store(7, Ordering::Relaxed);
        store.recount();
        assert_eq!(store.memory().dataset, want.dataset);
        store.check_accounting();
    }
}

/// Tests of the keyspace walks (KEYS, SCAN, RANDOMKEY).
#[cfg(test)]
mod walk_tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// xorshift64*, so every run is the same.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn write(store: &Store, db: u32, f: impl FnOnce(&mut WriteLocks<'_>)) {
        let mut s = store.shards();
        s.add_db(db);
        f(&mut s.write());
    }

    /// One SCAN call: (next cursor, keys visited).
    fn scan(store: &Store, db: u32, cursor: u64, count: usize) -> (u64, Vec<Vec<u8>>) {
        let mut s = store.shards();
        s.add_db(db);
        let locks = s.read();
        let mut keys = Vec::new();
        let next = locks.scan_db(db, cursor, count, |e| keys.push(e.key().to_vec()));
        (next, keys)
    }

    #[test]
    fn scan_of_an_empty_database_ends_at_once() {
        let store = Store::new(2, 8);
        assert_eq!(scan(&store, 1, 0, 10), (0, vec![]));
        // Any cursor a client may send is safe.
        for c in [1, 7, 8, 9, 12345, u64::MAX] {
            assert_eq!(scan(&store, 1, c, 1).0, 0, "cursor {c}");
        }
    }

    #[test]
    fn scan_of_a_stable_database_returns_each_key_exactly_once_across_shards() {
        let store = Store::new(2, 8);
        write(&store, 1, |w| {
            for i in 0..3000 {
                w.set_str(1, format!("k{i}").as_bytes(), b"v", 0, 0);
            }
        });
        let mut seen = BTreeMap::new();
        let (mut cursor, mut calls) = (0, 0);
        loop {
            let (next, keys) = scan(&store, 1, cursor, 10);
            calls += 1;
            if next != 0 {
                // COUNT is a lower bound per call, plus at most the rest of a bucket's chain.
                assert!((10..40).contains(&keys.len()), "{} keys", keys.len());
            }
            for k in keys {
                *seen.entry(k).or_insert(0) += 1;
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 3000);
        assert!(seen.values().all(|&n| n == 1));
        assert!(calls > 100, "{calls} calls");
        // The other database was not visited.
        assert_eq!(scan(&store, 0, 0, 10), (0, vec![]));
    }

    /// Redis's SCAN guarantee, for a database split into shards: a full iteration returns every
    /// key present from start to end at least once, while keys are added and removed between
    /// calls (so tables grow and shrink under the cursor).
    #[test]
    fn full_scan_returns_every_key_present_throughout_despite_writes_between_calls() {
        for seed in 1..=20u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let store = Store::new(1, 1 + (seed as usize % 9));
            let stay: Vec<Vec<u8>> = (0..500).map(|i| format!("stay{i}").into_bytes()).collect();
            let mut tmp: BTreeSet<Vec<u8>> = BTreeSet::new();
            write(&store, 0, |w| {
                for k in &stay {
                    w.set_str(0, k, b"v", 0, 0);
                }
            });
            let mut seen = BTreeSet::new();
            let (mut cursor, mut calls) = (0u64, 0u32);
            loop {
                let count = 1 + (rng.next() % 40) as usize;
                let (next, keys) = scan(&store, 0, cursor, count);
                seen.extend(keys);
                cursor = next;
                calls += 1;
                if cursor == 0 {
                    break;
                }
                assert!(calls < 100_000, "seed {seed}: the scan does not end");
                // Grow a lot early, then shrink: resizes in every shard between calls.
                let grow = calls < 30;
                write(&store, 0, |w| {
                    for _ in 0..(rng.next() % 200) {
                        let k = format!("tmp{}", rng.next() % 20_000).into_bytes();
                        if grow || rng.next().is_multiple_of(4) {
                            w.set_str(0, &k, b"v", 0, 0);
                            tmp.insert(k);
                        } else if let Some(k) = tmp.pop_first() {
                            assert!(w.remove(0, &k, 0));
                        }
                    }
                });
            }
            for k in &stay {
                assert!(
                    seen.contains(k),
                    "seed {seed}: missed {}",
                    String::from_utf8_lossy(k)
                );
            }
        }
    }

    #[test]
    fn scan_cursors_name_the_shard_and_walk_shards_in_order() {
        let store = Store::new(1, 4);
        write(&store, 0, |w| {
            for i in 0..400 {
                w.set_str(0, format!("k{i}").as_bytes(), b"v", 0, 0);
            }
        });
        // The shard part of the cursor never goes back.
        let (mut cursor, mut shards) = (0u64, vec![0u64]);
        loop {
            let (next, keys) = scan(&store, 0, cursor, 3);
            // A call may finish one shard and go on into the next ones.
            let last = if next == 0 { 3 } else { next % 4 };
            for k in keys {
                let shard = store.shard_of(0, hash_key(&k)) as u64;
                assert!((cursor % 4..=last).contains(&shard), "key of shard {shard}");
            }
            cursor = next;
            if cursor == 0 {
                break;
            }
            shards.push(cursor % 4);
        }
        assert!(shards.windows(2).all(|w| w[0] <= w[1]), "{shards:?}");
        assert_eq!(shards.last(), Some(&3));
        // Cursor 2 is shard 2's first bucket: from there, exactly the keys of shards 2 and 3.
        let (mut cursor, mut seen) = (2u64, BTreeSet::new());
        loop {
            let (next, keys) = scan(&store, 0, cursor, 50);
            seen.extend(keys);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
        let expected: BTreeSet<Vec<u8>> = (0..400)
            .map(|i| format!("k{i}").into_bytes())
            .filter(|k| store.shard_of(0, hash_key(k)) >= 2)
            .collect();
        assert_eq!(seen, expected);
    }

    fn random(store: &Store, db: u32, now: u64, rng: &mut Rng) -> Option<Bytes> {
        let mut s = store.shards();
        s.add_db(db);
        let locks = s.read();
        locks.random_key(db, now, || rng.next())
    }

    #[test]
    fn random_key_never_returns_an_expired_key() {
        let store = Store::new(1, 8);
        let mut rng = Rng(3);
        assert_eq!(random(&store, 0, 0, &mut rng), None);
        write(&store, 0, |w| {
            for i in 0..2000 {
                w.set_str(0, format!("gone{i}").as_bytes(), b"v", 100, 0);
            }
        });
        assert!(random(&store, 0, 99, &mut rng).is_some());
        assert_eq!(random(&store, 0, 100, &mut rng), None);
        write(&store, 0, |w| w.set_str(0, b"live", b"v", 0, 0));
        for _ in 0..50 {
            assert_eq!(
                random(&store, 0, 100, &mut rng).as_deref(),
                Some(&b"live"[..])
            );
        }
    }

    #[test]
    fn random_key_picks_every_key_about_as_often() {
        let store = Store::new(1, 8);
        write(&store, 0, |w| {
            for i in 0..8 {
                w.set_str(0, format!("k{i}").as_bytes(), b"v", 0, 0);
            }
        });
        let mut rng = Rng(11);
        let mut counts = BTreeMap::new();
        for _ in 0..8000 {
            let k = random(&store, 0, 0, &mut rng).unwrap();
            *counts.entry(k).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 8);
        // Expected 1000 each; shards of different sizes must not skew it much.
        assert!(
            counts.values().all(|&n| (800..1200).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn for_each_in_db_visits_every_stored_entry_of_that_database_only() {
        let store = Store::new(3, 4);
        write(&store, 2, |w| {
            for i in 0..300 {
                w.set_str(
                    2,
                    format!("k{i}").as_bytes(),
                    b"v",
                    if i % 2 == 0 { 5 } else { 0 },
                    0,
                );
            }
        });
        write(&store, 1, |w| w.set_str(1, b"elsewhere", b"v", 0, 0));
        let mut s = store.shards();
        s.add_db(2);
        let locks = s.read();
        let mut n = 0;
        locks.for_each_in_db(2, |e| {
            assert!(e.key().starts_with(b"k"));
            n += 1;
        });
        // Logically expired entries are included: the caller decides.
        assert_eq!(n, 300);
    }
}
