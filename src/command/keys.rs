//! Generic key commands (Redis's src/expire.c and src/db.c): DEL EXISTS EXPIRE PEXPIRE TTL PTTL
//! PERSIST TYPE UNLINK TOUCH EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME KEYS SCAN RANDOMKEY.
//!
//! EXPIRE turns its relative TTL into an absolute deadline against the entry's time at apply,
//! so every replica computes the same deadline; a deadline at or before that time deletes the
//! key at once, as Redis does (EXPIREAT/PEXPIREAT too, with a base time of 0).
//!
//! KEYS, SCAN and RANDOMKEY lock every shard of the database for reading and walk it through
//! the store's keyspace walks (`Locks::for_each_in_db`, `scan_db`, `random_key`); none of them
//! ever returns a key that is expired at the read's time. A SCAN cursor spans the database's
//! shards (see `Locks::scan_db`); since the dict layout is a function of the applied log, a
//! cursor from one node is good on another with the same shard count. RANDOMKEY is a read and
//! uses local randomness: its choice changes nothing replicated.

use bytes::Bytes;

use super::strings::{c_str, no_check, opt_is};
use super::{glob_match, parse_i64, Exec, ReadCtx, Scope, View, WriteCtx};
use crate::errors;
use crate::reply::Reply;

pub(super) const DEL: Exec = Exec::Write {
    check: no_check,
    apply: del,
    scope: Scope::Keys,
};
pub(super) const EXISTS: Exec = Exec::Read {
    run: exists,
    scope: Scope::Keys,
};
pub(super) const EXPIRE: Exec = Exec::Write {
    check: expire_check,
    apply: expire,
    scope: Scope::Keys,
};
pub(super) const PEXPIRE: Exec = Exec::Write {
    check: pexpire_check,
    apply: pexpire,
    scope: Scope::Keys,
};
pub(super) const TTL: Exec = Exec::Read {
    run: ttl,
    scope: Scope::Keys,
};
pub(super) const PTTL: Exec = Exec::Read {
    run: pttl,
    scope: Scope::Keys,
};
pub(super) const PERSIST: Exec = Exec::Write {
    check: no_check,
    apply: persist,
    scope: Scope::Keys,
};
pub(super) const TYPE: Exec = Exec::Read {
    run: type_,
    scope: Scope::Keys,
};

fn del(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let n = args[1..].iter().filter(|k| ctx.remove(k)).count();
    Reply::Int(n as i64)
}

fn exists(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    // Counts a key as often as it is named, as Redis does.
    let n = args[1..].iter().filter(|k| ctx.get(k).is_some()).count();
    Reply::Int(n as i64)
}

#[derive(Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Redis's `parseExtendedExpireArgumentsOrReply`, then the TTL value's checks that do not
/// depend on the time. Returns the flags and the TTL (or, for EXPIREAT/PEXPIREAT, the unix
/// time) in milliseconds. `cmd` names the command in the invalid-expire error.
fn parse_expire(args: &[Bytes], seconds: bool, cmd: &str) -> Result<(ExpireFlags, i64), Reply> {
    let mut f = ExpireFlags::default();
    for opt in &args[3..] {
        if opt_is(opt, "nx") {
            f.nx = true;
        } else if opt_is(opt, "xx") {
            f.xx = true;
        } else if opt_is(opt, "gt") {
            f.gt = true;
        } else if opt_is(opt, "lt") {
            f.lt = true;
        } else {
            return Err(Reply::error_bytes(errors::unsupported_option(c_str(opt))));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(Reply::error(errors::EXPIRE_NX_CONFLICT));
    }
    if f.gt && f.lt {
        return Err(Reply::error(errors::EXPIRE_GT_LT_CONFLICT));
    }
    let when = parse_i64(&args[2]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    let when = if seconds {
        when.checked_mul(1000)
            .ok_or_else(|| Reply::error(errors::invalid_expire(cmd)))?
    } else {
        when
    };
    Ok((f, when))
}

/// The four commands of Redis's `expireGenericCommand`.
#[derive(Clone, Copy)]
struct ExpireCmd {
    name: &'static str,
    seconds: bool,
    /// EXPIREAT/PEXPIREAT: the argument is a unix time (Redis's basetime 0), not a TTL.
    absolute: bool,
}

const EXPIRE_CMD: ExpireCmd = ExpireCmd {
    name: "expire",
    seconds: true,
    absolute: false,
};
const PEXPIRE_CMD: ExpireCmd = ExpireCmd {
    name: "pexpire",
    seconds: false,
    absolute: false,
};
const EXPIREAT_CMD: ExpireCmd = ExpireCmd {
    name: "expireat",
    seconds: true,
    absolute: true,
};
const PEXPIREAT_CMD: ExpireCmd = ExpireCmd {
    name: "pexpireat",
    seconds: false,
    absolute: true,
};

fn expire_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_expire(args, true, EXPIRE_CMD.name).map(|_| ())
}

fn pexpire_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_expire(args, false, PEXPIRE_CMD.name).map(|_| ())
}

fn expire(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, EXPIRE_CMD)
}

fn pexpire(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, PEXPIRE_CMD)
}

/// Redis's `expireGenericCommand` with `basetime` = the entry's time (0 for the absolute forms).
fn expire_generic(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], cmd: ExpireCmd) -> Reply {
    let (f, ttl) = match parse_expire(args, cmd.seconds, cmd.name) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let now = ctx.time_ms() as i64;
    let base = if cmd.absolute { 0 } else { now };
    let Some(when) = ttl.checked_add(base) else {
        return Reply::error(errors::invalid_expire(cmd.name));
    };
    let key = &args[1];
    let Some(mut e) = ctx.get_mut(key) else {
        return Reply::Int(0);
    };
    // -1: no TTL, which GT and LT treat as infinite.
    let current = match e.deadline_ms() {
        0 => -1,
        d => d as i64,
    };
    let refused = (f.nx && current != -1)
        || (f.xx && current == -1)
        || (f.gt && (current == -1 || when <= current))
        || (f.lt && current != -1 && when >= current);
    if refused {
        return Reply::Int(0);
    }
    if when > now {
        e.set_deadline(when as u64);
    } else {
        ctx.remove(key);
    }
    Reply::Int(1)
}

/// Milliseconds left, -1 without a TTL, -2 for a missing key.
fn ttl_ms(ctx: &ReadCtx<'_>, key: &[u8]) -> i64 {
    match ctx.get(key) {
        None => -2,
        Some(e) if e.deadline_ms() == 0 => -1,
        Some(e) => e.deadline_ms().saturating_sub(ctx.now_ms()) as i64,
    }
}

fn ttl(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match ttl_ms(ctx, &args[1]) {
        t if t < 0 => Reply::Int(t),
        t => Reply::Int((t + 500) / 1000),
    }
}

fn pttl(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    Reply::Int(ttl_ms(ctx, &args[1]))
}

fn persist(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match ctx.get_mut(&args[1]) {
        Some(mut e) if e.deadline_ms() != 0 => {
            e.set_deadline(0);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    }
}

fn type_(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    // No access recorded, as Redis's LOOKUP_NOTOUCH.
    let name = ctx.peek(&args[1]).map_or("none", |e| e.kind().name());
    Reply::Status(name.into())
}

// ---------------------------------------------------------------------------------------------
// UNLINK TOUCH EXPIREAT PEXPIREAT EXPIRETIME PEXPIRETIME KEYS SCAN RANDOMKEY
// ---------------------------------------------------------------------------------------------

/// UNLINK frees in the background in Redis; here a key's memory is freed at once (it is one
/// allocation per key), so UNLINK is DEL.
pub(super) const UNLINK: Exec = Exec::Write {
    check: no_check,
    apply: del,
    scope: Scope::Keys,
};
pub(super) const TOUCH: Exec = Exec::Read {
    run: touch,
    scope: Scope::Keys,
};
pub(super) const EXPIREAT: Exec = Exec::Write {
    check: expireat_check,
    apply: expireat,
    scope: Scope::Keys,
};
pub(super) const PEXPIREAT: Exec = Exec::Write {
    check: pexpireat_check,
    apply: pexpireat,
    scope: Scope::Keys,
};
pub(super) const EXPIRETIME: Exec = Exec::Read {
    run: expiretime,
    scope: Scope::Keys,
};
pub(super) const PEXPIRETIME: Exec = Exec::Read {
    run: pexpiretime,
    scope: Scope::Keys,
};
pub(super) const KEYS: Exec = Exec::Read {
    run: keys,
    scope: Scope::Db,
};
pub(super) const SCAN: Exec = Exec::Read {
    run: scan,
    scope: Scope::Db,
};
pub(super) const RANDOMKEY: Exec = Exec::Read {
    run: randomkey,
    scope: Scope::Db,
};

/// Runs `$body` with `$l` bound to the locks behind a read context, whichever kind they are (a
/// read on the local store, or a read that went through the log).
macro_rules! with_locks {
    ($ctx:expr, |$l:ident| $body:expr) => {
        match &$ctx.view {
            View::Read($l) => $body,
            View::Write($l) => $body,
        }
    };
}

/// Counts the keys that exist. (It will also refresh their LRU/LFU field once eviction keeps
/// one; nothing replicated changes.)
fn touch(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let n = args[1..].iter().filter(|k| ctx.get(k).is_some()).count();
    Reply::Int(n as i64)
}

fn expireat_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_expire(args, true, EXPIREAT_CMD.name).map(|_| ())
}

fn pexpireat_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_expire(args, false, PEXPIREAT_CMD.name).map(|_| ())
}

fn expireat(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, EXPIREAT_CMD)
}

fn pexpireat(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, PEXPIREAT_CMD)
}

/// The absolute deadline in ms, -1 without a TTL, -2 for a missing key.
fn deadline_of(ctx: &ReadCtx<'_>, key: &[u8]) -> i64 {
    match ctx.get(key) {
        None => -2,
        Some(e) if e.deadline_ms() == 0 => -1,
        Some(e) => e.deadline_ms() as i64,
    }
}

fn expiretime(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match deadline_of(ctx, &args[1]) {
        t if t < 0 => Reply::Int(t),
        // Rounded to the nearest second, as Redis's ttlGenericCommand; widened so a deadline
        // near i64::MAX rounds as redis-server answers (9223372036854776), not wraps.
        t => Reply::Int(((i128::from(t) + 500) / 1000) as i64),
    }
}

fn pexpiretime(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    Reply::Int(deadline_of(ctx, &args[1]))
}

fn keys(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut out = Vec::new();
    with_locks!(ctx, |l| l.for_each_in_db(db, |e| {
        if e.live_at(now) && (all || glob_match(pattern, e.key(), false)) {
            out.push(Reply::Bulk(Bytes::copy_from_slice(e.key())));
        }
    }));
    Reply::Array(out)
}

/// Redis's `parseScanCursorOrReply`: C's `strtoul(s, &end, 10)` over the argument up to its
/// first NUL, which must consume it all. So "" is 0, a leading space is refused, "+5" is 5,
/// "-5" is 2^64 - 5, and a magnitude beyond u64 is refused.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let s = c_str(arg);
    if s.is_empty() {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().try_fold(0u64, |v, &c| {
        v.checked_mul(10)?.checked_add(u64::from(c - b'0'))
    })?;
    Some(if neg { v.wrapping_neg() } else { v })
}

/// SCAN's arguments after the cursor.
struct ScanOpts<'a> {
    count: usize,
    /// None: every key (no MATCH, or MATCH *).
    pattern: Option<&'a [u8]>,
    /// TYPE's name, compared as C strings, in any case.
    type_name: Option<&'a [u8]>,
}

fn parse_scan(args: &[Bytes]) -> Result<(u64, ScanOpts<'_>), Reply> {
    let cursor = parse_cursor(&args[1]).ok_or_else(|| Reply::error(errors::INVALID_CURSOR))?;
    let mut o = ScanOpts {
        count: 10,
        pattern: None,
        type_name: None,
    };
    let mut i = 2;
    while i < args.len() {
        let more = i + 1 < args.len();
        if opt_is(&args[i], "count") && more {
            let n = parse_i64(&args[i + 1]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
            if n < 1 {
                return Err(Reply::error(errors::SYNTAX));
            }
            o.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt_is(&args[i], "match") && more {
            let p = &args[i + 1][..];
            o.pattern = (p != b"*").then_some(p);
        } else if opt_is(&args[i], "type") && more {
            o.type_name = Some(c_str(&args[i + 1]));
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        i += 2;
    }
    Ok((cursor, o))
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]: one step of the cursor described at
/// `Locks::scan_db`. COUNT counts the keys visited before MATCH, TYPE and expiry filter them,
/// as in Redis; a call returns at least every live matching key of the buckets it visited.
fn scan(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let (cursor, o) = match parse_scan(args) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let (db, now) = (ctx.db, ctx.now_ms);
    let mut found = Vec::new();
    let next = with_locks!(ctx, |l| l.scan_db(db, cursor, o.count, |e| {
        let wanted = o.pattern.is_none_or(|p| glob_match(p, e.key(), false))
            && o.type_name
                .is_none_or(|t| t.eq_ignore_ascii_case(e.kind().name().as_bytes()))
            && e.live_at(now);
        if wanted {
            found.push(Reply::Bulk(Bytes::copy_from_slice(e.key())));
        }
    }));
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(found),
    ])
}

/// A fresh random number per call, from a per-thread generator (xorshift64*) seeded from the
/// OS. RANDOMKEY is a read: its choice changes nothing replicated, so local randomness is fine.
fn random_u64() -> u64 {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

fn randomkey(ctx: &ReadCtx<'_>, _: &[Bytes]) -> Reply {
    let (db, now) = (ctx.db, ctx.now_ms);
    match with_locks!(ctx, |l| l.random_key(db, now, random_u64)) {
        Some(k) => Reply::Bulk(k),
        None => Reply::Nil,
    }
}
