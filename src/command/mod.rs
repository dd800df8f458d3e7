//! The command table and the commands that read or change the keyspace.
//!
//! A client's command is `args: &[Bytes]`, `args[0]` its name in any case. The connection
//! resolves it against the table (`resolve`: name, subcommand, arity, with Redis's errors), then
//! acts on the entry's `exec`:
//! - `Exec::Read`: after the read gate, `execute_read` locks the shards of the command's keys for
//!   reading and runs it against the local store at the node's `now_ms`.
//! - `Exec::Write`: `check` runs on the receiving node (syntax and argument errors, answered at
//!   once, nothing proposed); otherwise the command is proposed, and when its entry commits every
//!   replica runs it through `execute_write` (called by `machine::apply`) at the entry's time.
//! - `Exec::Session`: answered by the server module; the table only describes it.
//!
//! Gates decide by flag (`CommandSpec::is_write`, `is_denyoom`, `is_no_multi`, ...), never by
//! name. Which shards a command locks is decided here, from the table's key specs (`Scope`), so
//! a command body never locks anything itself and a transaction can lock the union of its
//! commands' shards.
//!
//! Rule 1 lives here too: a write's apply function reads time only from `WriteCtx::time_ms`,
//! random numbers only from `WriteCtx::rng` (seeded from the entry's log index and position,
//! `op_seed`), and nothing else from its node; relative TTLs become absolute deadlines against
//! that time. Reads that choose at random (SRANDMEMBER) use a local generator.
//!
//! Blocking commands (BLPOP, BZPOPMIN, ...) apply as the pop they perform when a key has data;
//! when none has, their reply is Redis's timeout reply and `blocking_keys` tells the connection
//! what to wait for. The waiting is the connection's.
//!
//! Accesses: `ReadCtx::get` and the `WriteCtx` lookups record an access in the key's LRU/LFU
//! field, as Redis's lookupKey does; `ReadCtx::peek` does not (Redis's LOOKUP_NOTOUCH: TYPE,
//! OBJECT, and EXISTS/TTL should use it too).
//!
//! Not here: sessions (SELECT, HELLO, AUTH, MULTI state), the read gate, Raft.

mod bits;
mod float80;
mod hashes;
mod keys;
mod keyspace;
mod lists;
mod raft;
mod scan;
mod server;
mod sets;
mod spec;
mod strings;
mod table;
mod zsets;

use bytes::Bytes;

use crate::errors;
use crate::reply::Reply;
use crate::store::{
    key_fingerprint, lru, AccessPolicy, Entry, EntryMut, Free, Item, Kind, ReadLocks, ShardSet,
    Store, WriteLocks, WrongType,
};

pub use crate::glob::glob_match;
pub use lists::{blmove_keys, blmpop_keys, blpop_keys, brpoplpush_keys, timeout_reply, Blocking};
pub use server::{command_cmd, debug_digest, debug_digest_value};
pub use spec::{
    acl, arg, doc, flag, info_reply, key, Arg, ArgType, BeginSearch, CommandSpec, Docs, FindKeys,
    GetKeysFn, KeySpec,
};
pub use zsets::{bzmpop_keys, bzpopmin_keys};

/// A read command: runs on a node's local store after the read gate.
pub type ReadFn = fn(&ReadCtx<'_>, &[Bytes]) -> Reply;
/// A write's validation on the receiving node: `Err(reply)` answers the client, nothing is
/// proposed. Pure: it sees only the arguments.
pub type CheckFn = fn(&[Bytes]) -> Result<(), Reply>;
/// A write's apply, run by every replica when the entry commits.
pub type ApplyFn = fn(&mut WriteCtx<'_, '_>, &[Bytes]) -> Reply;

/// How a command is executed.
#[derive(Clone, Copy)]
pub enum Exec {
    Read {
        run: ReadFn,
        scope: Scope,
    },
    Write {
        check: CheckFn,
        apply: ApplyFn,
        scope: Scope,
    },
    /// Answered by the server module (PING, HELLO, SELECT, CONFIG, ...).
    Session,
}

impl std::fmt::Debug for Exec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exec::Read { scope, .. } => write!(f, "Read({scope:?})"),
            Exec::Write { scope, .. } => write!(f, "Write({scope:?})"),
            Exec::Session => write!(f, "Session"),
        }
    }
}

/// Which shards a command locks.
#[derive(Clone, Copy, Debug)]
pub enum Scope {
    /// The shards of the keys its key specs name (the whole database if they cannot be found,
    /// e.g. a malformed command that will reply with an error anyway).
    Keys,
    /// Every shard of the selected database (DBSIZE, FLUSHDB).
    Db,
    /// Every shard of every database (FLUSHALL, SWAPDB).
    All,
    /// Whatever the function adds for (selected db, arguments): commands whose keys live in
    /// another database (MOVE, COPY ... DB). It must check database indices itself.
    Custom(fn(&mut ShardSet<'_>, u32, &[Bytes])),
}

/// The table generated from redis-server's own description, sorted by name.
pub fn table() -> &'static [CommandSpec] {
    table::TABLE
}

/// Every command raftis answers: Redis's and raftis's own (RAFT.*).
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> + Clone {
    table::TABLE.iter().chain(raft::COMMANDS.iter())
}

/// Compare `name` (any case) with a lowercase table name.
fn cmp_name(name: &[u8], table_name: &str) -> std::cmp::Ordering {
    let t = table_name.as_bytes();
    for (a, b) in name.iter().zip(t) {
        match a.to_ascii_lowercase().cmp(b) {
            std::cmp::Ordering::Equal => {}
            other => return other,
        }
    }
    name.len().cmp(&t.len())
}

fn find_in(specs: &'static [CommandSpec], name: &[u8]) -> Option<&'static CommandSpec> {
    specs
        .binary_search_by(|s| cmp_name(name, s.short_name()).reverse())
        .ok()
        .map(|i| &specs[i])
}

/// The top-level command called `name`, in any case. No allocation.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    find_in(table::TABLE, name).or_else(|| find_in(raft::COMMANDS, name))
}

/// A command by full name, `name` or `container|sub` (COMMAND INFO / DOCS accept both).
pub fn lookup_full(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.splitn(3, |&b| b == b'|');
    let base = lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) => find_in(base.subcommands, sub),
        (Some(_), Some(_)) => None,
    }
}

/// Whether `argc` arguments (the name included) satisfy the arity.
#[inline]
pub fn arity_ok(spec: &CommandSpec, argc: usize) -> bool {
    let arity = spec.arity as i64;
    let argc = argc as i64;
    if arity >= 0 {
        argc == arity
    } else {
        argc >= -arity
    }
}

/// Find the spec that runs `args`: the command, or its subcommand for a container, with the
/// arity checked. Errors are Redis's, byte for byte.
pub fn resolve(args: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let Some(name) = args.first() else {
        return Err(Reply::error_bytes(errors::unknown_command(b"", &[])));
    };
    let Some(mut spec) = lookup(name) else {
        return Err(Reply::error_bytes(errors::unknown_command(
            name,
            &args[1..],
        )));
    };
    if !spec.subcommands.is_empty() && args.len() >= 2 {
        match find_in(spec.subcommands, &args[1]) {
            Some(sub) => spec = sub,
            None => {
                return Err(Reply::error_bytes(errors::unknown_subcommand(
                    &args[1], spec.name,
                )))
            }
        }
    }
    if !arity_ok(spec, args.len()) {
        return Err(Reply::error(errors::wrong_arity(spec.name)));
    }
    Ok(spec)
}

/// Call `visit` with the position and key-spec flags of every key in `args`, as Redis's
/// `getKeysUsingKeySpecs` finds them. Returns false if the key specs do not fit the arguments
/// (Redis: "Invalid arguments specified for command"); keys already visited stay visited.
pub fn for_each_key(spec: &CommandSpec, args: &[Bytes], mut visit: impl FnMut(usize, u32)) -> bool {
    // As Redis's getKeysFromCommandWithSpecs: the specs when their flags are reliable, else
    // (or when they fail) the command's own function.
    let variable = spec
        .key_specs
        .iter()
        .any(|k| k.flags & key::VARIABLE_FLAGS != 0);
    if !spec.key_specs.is_empty() && !variable {
        // A failing spec voids the keys the others found: with several specs, check first.
        // One spec fails before it visits anything.
        let valid = spec.key_specs.len() == 1 || keys_from_specs(spec, args, |_, _| {});
        if valid && keys_from_specs(spec, args, &mut visit) {
            return true;
        }
    }
    match spec.getkeys {
        Some(getkeys) => getkeys(args, &mut visit),
        None => spec.key_specs.is_empty(),
    }
}

/// Redis's `getKeysUsingKeySpecs`.
fn keys_from_specs(spec: &CommandSpec, args: &[Bytes], mut visit: impl FnMut(usize, u32)) -> bool {
    let argc = args.len() as i64;
    for ks in spec.key_specs {
        let first: i64 = match ks.begin {
            BeginSearch::Index(i) => i.into(),
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = i64::from(startfrom);
                let (start, end) = if startfrom > 0 {
                    (startfrom, argc - 1)
                } else {
                    (argc + startfrom, 1)
                };
                let mut found = 0;
                let mut i = start;
                // As Redis: the end index itself is not searched.
                while i != end && (1..argc).contains(&i) {
                    if args[i as usize].eq_ignore_ascii_case(keyword.as_bytes()) {
                        found = i + 1;
                        break;
                    }
                    i += if start <= end { 1 } else { -1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return false,
        };
        let (first, last, step) = match ks.find {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, i64::from(keystep))
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                let idx = first + i64::from(keynumidx);
                if idx >= argc {
                    return false;
                }
                let Some(numkeys) = parse_i64(&args[idx as usize]).filter(|&n| n >= 0) else {
                    return false;
                };
                let first = first + i64::from(firstkey);
                // A numkeys near i64::MAX (ZUNION 9223372036854775807 ...) must not overflow.
                let Some(last) = first.checked_add(numkeys - 1) else {
                    return false;
                };
                (first, last, i64::from(keystep))
            }
            FindKeys::Unknown => return false,
        };
        if first >= argc || last >= argc || last < first || step <= 0 {
            return false;
        }
        let mut i = first;
        while i <= last {
            visit(i as usize, ks.flags);
            i += step;
        }
    }
    true
}

/// Add the shards a command touches in `db` to `set`.
fn add_shards(set: &mut ShardSet<'_>, spec: &CommandSpec, db: u32, args: &[Bytes]) {
    let scope = match spec.exec {
        Exec::Read { scope, .. } | Exec::Write { scope, .. } => scope,
        Exec::Session => return,
    };
    match scope {
        Scope::Keys => {
            if !for_each_key(spec, args, |i, _| set.add_key(db, &args[i])) {
                set.add_db(db);
            }
        }
        Scope::Db => set.add_db(db),
        Scope::All => set.add_all(),
        Scope::Custom(add) => add(set, db, args),
    }
}

/// A small, fast, seedable generator (SplitMix64). Apply's only source of randomness: seeded
/// from the entry, so every replica draws the same numbers.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded from the process's random state, for reads (SRANDMEMBER,
    /// HRANDFIELD), whose choices need not agree across nodes.
    pub fn local() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x5eed);
        Rng(h.finish())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias worth mentioning for n < 2^32.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The seed of the `n`th operation of the entry at log index `index` (see `execute_write`).
pub fn op_seed(index: u64, n: u64) -> u64 {
    let mut r = Rng::new(index ^ n.rotate_left(32) ^ 0x6a09_e667_f3bc_c908);
    r.next_u64()
}

/// Run a read command (`Exec::Read`) on `store` as of `now_ms`. The node has passed the read
/// gate; `now_ms` is its clock, never less than the last applied entry's time.
pub fn execute_read(
    store: &Store,
    spec: &'static CommandSpec,
    db: u32,
    now_ms: u64,
    args: &[Bytes],
) -> Reply {
    let Exec::Read { run, .. } = spec.exec else {
        return Reply::error(format!("ERR '{}' is not a read command", spec.name));
    };
    if db as usize >= store.databases() {
        return Reply::error(errors::INVALID_DB);
    }
    let mut set = store.shards();
    add_shards(&mut set, spec, db, args);
    let locks = set.read();
    let ctx = ReadCtx {
        db,
        now_ms,
        view: View::Read(&locks),
        rng: std::cell::RefCell::new(None),
    };
    run(&ctx, args)
}

/// Run a committed command at `time_ms` (the entry's time): a write's apply, or a read that
/// went through the log. `seed` (from the entry's log index and the operation's position,
/// `op_seed`) seeds the command's random choices. Deterministic: same store, same arguments,
/// same time and seed, same result and reply on every replica.
pub fn execute_write(
    store: &Store,
    spec: &'static CommandSpec,
    db: u32,
    time_ms: u64,
    seed: u64,
    args: &[Bytes],
) -> Reply {
    run_committed(store, time_ms, seed, &[(db, spec, args)], false, &[])
        .and_then(|mut r| r.pop())
        .expect("one reply per command")
}

/// A key WATCH saw: its database, name and `key_fingerprint` at that time.
pub type Watched = (u32, Bytes, Bytes);

/// WATCH: the fingerprint of each key of `db` as it reads at `now_ms` (a key past its deadline
/// reads as missing), to be carried by EXEC's entry.
pub fn watch_fingerprints(store: &Store, db: u32, keys: &[Bytes], now_ms: u64) -> Vec<Bytes> {
    if db as usize >= store.databases() {
        return Vec::new();
    }
    let mut set = store.shards();
    for k in keys {
        set.add_key(db, k);
    }
    let locks = set.read();
    keys.iter()
        .map(|k| Bytes::copy_from_slice(&key_fingerprint(locks.get(db, k, now_ms))))
        .collect()
}

/// Run committed commands `(db, spec, args)` at `time_ms` as one atomic step: the union of
/// their shards is locked (in ascending order) before the first runs and released after the
/// last, so no reader sees part of them (MULTI/EXEC). One reply per command, in order; command
/// `i` draws its random numbers from a generator seeded with `seed` and `i`.
///
/// `watched` (WATCH): if any of those keys no longer has the fingerprint WATCH saw, nothing
/// runs and the answer is `None` (EXEC's null reply). Checked under the same locks, at the
/// entry's time, so every replica decides the same.
pub fn execute_transaction(
    store: &Store,
    time_ms: u64,
    seed: u64,
    cmds: &[(u32, &'static CommandSpec, &[Bytes])],
    watched: &[Watched],
) -> Option<Vec<Reply>> {
    run_committed(store, time_ms, seed, cmds, true, watched)
}

/// `execute_write` and `execute_transaction`; `in_transaction` tells the commands they run
/// inside MULTI/EXEC (where Redis never blocks).
fn run_committed(
    store: &Store,
    time_ms: u64,
    seed: u64,
    cmds: &[(u32, &'static CommandSpec, &[Bytes])],
    in_transaction: bool,
    watched: &[Watched],
) -> Option<Vec<Reply>> {
    let mut set = store.shards();
    for &(db, spec, args) in cmds {
        if (db as usize) < store.databases() {
            add_shards(&mut set, spec, db, args);
        }
    }
    for (db, key, _) in watched {
        if (*db as usize) < store.databases() {
            set.add_key(*db, key);
        }
    }
    let mut locks = set.write();
    let changed = watched.iter().any(|(db, key, fingerprint)| {
        (*db as usize) < store.databases()
            && key_fingerprint(locks.get(*db, key, time_ms))[..] != fingerprint[..]
    });
    if changed {
        return None;
    }
    let replies = cmds
        .iter()
        .enumerate()
        .map(|(i, &(db, spec, args))| {
            if db as usize >= store.databases() {
                return Reply::error(errors::INVALID_DB);
            }
            let seed = op_seed(seed, i as u64);
            match spec.exec {
                Exec::Write { apply, .. } => apply(
                    &mut WriteCtx {
                        db,
                        time_ms,
                        locks: &mut locks,
                        rng: Rng::new(seed),
                        coin: Rng::new(!seed),
                        in_transaction,
                    },
                    args,
                ),
                Exec::Read { run, .. } => run(
                    &ReadCtx {
                        db,
                        now_ms: time_ms,
                        view: View::Write(&locks),
                        rng: std::cell::RefCell::new(Some(Rng::new(seed))),
                    },
                    args,
                ),
                Exec::Session => {
                    Reply::error(format!("ERR '{}' cannot run through the log", spec.name))
                }
            }
        })
        .collect();
    Some(replies)
}

enum View<'a> {
    Read(&'a ReadLocks<'a>),
    Write(&'a WriteLocks<'a>),
}

thread_local! {
    /// LFU's coin for reads (node-local metadata; see `store::lru`).
    static COIN: std::cell::RefCell<Rng> = std::cell::RefCell::new(Rng::local());
}

/// Record a read access to `e` at `now_ms` in its LRU/LFU field.
fn touch_read(store: &Store, e: &Entry, now_ms: u64) {
    let policy = store.access_policy();
    let coin = if policy.is_lfu() {
        COIN.with(|c| c.borrow_mut().unit())
    } else {
        0.0
    };
    lru::touch(e.lru(), policy, now_ms, coin);
}

/// What a read command sees: its database, the time, and the shards locked for it.
pub struct ReadCtx<'a> {
    db: u32,
    now_ms: u64,
    view: View<'a>,
    /// Created on first use: a local generator for a read, the entry's for a read in the log.
    rng: std::cell::RefCell<Option<Rng>>,
}

impl ReadCtx<'_> {
    pub fn db(&self) -> u32 {
        self.db
    }

    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn store(&self) -> &Store {
        match &self.view {
            View::Read(l) => l.store(),
            View::Write(l) => l.store(),
        }
    }

    /// The entry for `key` if it exists now, recording the access (Redis's lookupKeyRead),
    /// and noting it for the leader on a follower that samples its reads (`Store::note_read`).
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        let e = self.peek(key)?;
        touch_read(self.store(), e, self.now_ms);
        if let View::Read(_) = self.view {
            self.store().note_read(self.db, e);
        }
        Some(e)
    }

    /// The entry for `key` if it exists now, without recording an access (Redis's
    /// LOOKUP_NOTOUCH: TYPE, EXISTS, TTL, OBJECT).
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        match &self.view {
            View::Read(l) => l.get(self.db, key, self.now_ms),
            View::Write(l) => l.get(self.db, key, self.now_ms),
        }
    }

    /// Keys in the selected database (needs `Scope::Db`).
    pub fn db_len(&self) -> usize {
        match &self.view {
            View::Read(l) => l.db_len(self.db),
            View::Write(l) => l.db_len(self.db),
        }
    }

    /// What the keys' access field tracks (OBJECT FREQ / IDLETIME).
    pub fn access_policy(&self) -> AccessPolicy {
        self.store().access_policy()
    }

    /// A random number, for reads that choose at random (SRANDMEMBER, HRANDFIELD).
    pub fn random(&self) -> u64 {
        self.rng
            .borrow_mut()
            .get_or_insert_with(Rng::local)
            .next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn random_below(&self, n: u64) -> u64 {
        self.rng
            .borrow_mut()
            .get_or_insert_with(Rng::local)
            .below(n)
    }
}

/// What a write's apply sees: its database, the entry's time, the shards locked for it, and a
/// generator seeded from the entry.
pub struct WriteCtx<'a, 's> {
    db: u32,
    time_ms: u64,
    locks: &'a mut WriteLocks<'s>,
    rng: Rng,
    /// LFU's coin for accesses, apart from `rng` so metadata never shifts a command's draws.
    coin: Rng,
    /// Whether the command runs inside MULTI/EXEC (a property of the entry, so replicas agree).
    in_transaction: bool,
}

impl<'s> WriteCtx<'_, 's> {
    pub fn db(&self) -> u32 {
        self.db
    }

    /// The leader's clock when it proposed the entry (unix ms). The only time apply may use.
    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    pub fn databases(&self) -> usize {
        self.locks.store().databases()
    }

    /// Whether the command runs inside MULTI/EXEC: a blocking command then answers at once,
    /// as Redis's do there.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    /// The command's deterministic generator (SPOP): the same numbers on every replica.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The access policy and, for LFU, a coin for the next access.
    fn access(&mut self) -> (AccessPolicy, f64) {
        let policy = self.locks.store().access_policy();
        let coin = if policy.is_lfu() {
            self.coin.unit()
        } else {
            0.0
        };
        (policy, coin)
    }

    /// The entry for `key` if it exists at `time_ms`, recording the access.
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        let db = self.db;
        self.get_in(db, key)
    }

    /// The entry for `key` in database `db` (whose shards the command's scope locked).
    pub fn get_in(&mut self, db: u32, key: &[u8]) -> Option<&Entry> {
        let (policy, coin) = self.access();
        let e = self.locks.get(db, key, self.time_ms)?;
        lru::touch(e.lru(), policy, self.time_ms, coin);
        Some(e)
    }

    /// The entry for `key` without recording an access.
    pub fn peek_in(&self, db: u32, key: &[u8]) -> Option<&Entry> {
        self.locks.get(db, key, self.time_ms)
    }

    /// The entry for `key` for writing, if it exists at `time_ms` (an expired one is deleted).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<EntryMut<'_>> {
        let (policy, coin) = self.access();
        let e = self.locks.get_mut(self.db, key, self.time_ms)?;
        lru::touch(e.lru(), policy, self.time_ms, coin);
        Some(e)
    }

    /// The container of `kind` at `key`, created empty if the key does not exist; WRONGTYPE if
    /// it holds another type. A command that may leave it empty calls `remove_if_empty`.
    pub fn get_or_create(&mut self, key: &[u8], kind: Kind) -> Result<EntryMut<'_>, Reply> {
        let (policy, coin) = self.access();
        match self.locks.get_or_create(self.db, key, self.time_ms, kind) {
            Ok((e, created)) => {
                if !created {
                    lru::touch(e.lru(), policy, self.time_ms, coin);
                }
                Ok(e)
            }
            Err(WrongType) => Err(Reply::error(errors::WRONGTYPE)),
        }
    }

    /// Delete `key` if a command emptied its container (Redis deletes empty containers).
    pub fn remove_if_empty(&mut self, key: &[u8]) {
        self.locks.remove_if_empty(self.db, key);
    }

    /// Set `key` to a string, with an absolute deadline (0: no TTL).
    pub fn set_str(&mut self, key: &[u8], value: &[u8], deadline_ms: u64) {
        self.locks
            .set_str(self.db, key, value, deadline_ms, self.time_ms)
    }

    /// `set_str` for a string Redis would hold "raw" whatever its length (BITOP's result).
    pub fn set_str_raw(&mut self, key: &[u8], value: &[u8], deadline_ms: u64) {
        self.locks
            .set_str_raw(self.db, key, value, deadline_ms, self.time_ms)
    }

    /// Store `entry` under its key in database `db`, replacing whatever was there.
    pub fn insert_in(&mut self, db: u32, entry: Entry) {
        self.locks.insert(db, entry, self.time_ms)
    }

    /// Remove `key` from database `db` and return its entry, if it exists at `time_ms`.
    pub fn take_in(&mut self, db: u32, key: &[u8]) -> Option<Entry> {
        self.locks.take_entry(db, key, self.time_ms)
    }

    /// Delete `key`; true if it existed at `time_ms`.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        self.locks.remove(self.db, key, self.time_ms)
    }

    /// Delete `key` from database `db`; true if it existed at `time_ms`.
    pub fn remove_in(&mut self, db: u32, key: &[u8]) -> bool {
        self.locks.remove(db, key, self.time_ms)
    }

    /// Delete every key of database `db` (needs its shards: `Scope::Db` or `Scope::All`).
    pub fn clear_db(&mut self, db: u32, free: Free) -> usize {
        self.locks.clear_db(db, free)
    }

    /// Exchange two databases (needs `Scope::All`).
    pub fn swap_dbs(&mut self, a: u32, b: u32) {
        self.locks.swap_dbs(a, b)
    }
}

/// What the blocking command `args` waits for when its pop found nothing (its reply is then
/// `Reply::NilArray`, Redis's timeout reply): the keys to watch and the timeout, or Redis's
/// error for its arguments. `None` for a command that does not block. The connection waits
/// until a committed write touches one of the keys (then proposes the command again) or the
/// timeout passes (then replies `timeout_reply()`).
pub fn blocking_keys(args: &[Bytes]) -> Option<Result<Blocking, Reply>> {
    let parse: fn(&[Bytes]) -> Result<Blocking, Reply> = match lookup(args.first()?)?.name {
        "blpop" | "brpop" => blpop_keys,
        "blmove" => blmove_keys,
        "brpoplpush" => brpoplpush_keys,
        "blmpop" => blmpop_keys,
        "bzpopmin" | "bzpopmax" => bzpopmin_keys,
        "bzmpop" => bzmpop_keys,
        _ => return None,
    };
    Some(parse(args))
}

/// WRONGTYPE.
pub(super) fn wrong_type() -> Reply {
    Reply::error(errors::WRONGTYPE)
}

/// A container's element as a bulk reply.
pub(super) fn item_reply(item: Item<'_>) -> Reply {
    Reply::Bulk(item.to_bytes())
}

/// Parse an integer exactly as Redis's `string2ll`: optional `-`, no `+`, no spaces, no leading
/// zeros (but "0"), not "-0", at most 20 bytes, within i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    crate::store::parse_i64(s)
}

/// An integer's decimal form, as Redis writes it.
pub fn fmt_i64(n: i64) -> Bytes {
    Bytes::from(n.to_string())
}

#[cfg(test)]
mod tests;
