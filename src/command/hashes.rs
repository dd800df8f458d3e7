//! Hash commands: HSET HSETNX HGET HMGET HMSET HDEL HLEN HSTRLEN HEXISTS HKEYS HVALS HGETALL
//! HINCRBY HINCRBYFLOAT HRANDFIELD HSCAN (Redis 7.0's src/t_hash.c).
//!
//! Each write parses its arguments with one function used twice: by `check` on the receiving
//! node, to refuse a malformed command before it is proposed, and by `apply` on every replica.
//! HINCRBYFLOAT is computed at apply, in emulated `long double` (`float80`), so every replica
//! stores the same text Redis would.
//!
//! Errors come in Redis's order: argument errors first, then WRONGTYPE, then value errors.

use bytes::Bytes;

use super::float80::F80;
use super::scan::{self, ScanOpts};
use super::strings::no_check;
use super::{item_reply, parse_i64, wrong_type, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::Reply;
use crate::store::{HashRef, Item, Kind};

pub(super) const HSET: Exec = Exec::Write {
    check: hset_check,
    apply: hset,
    scope: Scope::Keys,
};
pub(super) const HMSET: Exec = Exec::Write {
    check: hmset_check,
    apply: hmset,
    scope: Scope::Keys,
};
pub(super) const HSETNX: Exec = Exec::Write {
    check: no_check,
    apply: hsetnx,
    scope: Scope::Keys,
};
pub(super) const HGET: Exec = Exec::Read {
    run: hget,
    scope: Scope::Keys,
};
pub(super) const HMGET: Exec = Exec::Read {
    run: hmget,
    scope: Scope::Keys,
};
pub(super) const HDEL: Exec = Exec::Write {
    check: no_check,
    apply: hdel,
    scope: Scope::Keys,
};
pub(super) const HLEN: Exec = Exec::Read {
    run: hlen,
    scope: Scope::Keys,
};
pub(super) const HSTRLEN: Exec = Exec::Read {
    run: hstrlen,
    scope: Scope::Keys,
};
pub(super) const HEXISTS: Exec = Exec::Read {
    run: hexists,
    scope: Scope::Keys,
};
pub(super) const HKEYS: Exec = Exec::Read {
    run: hkeys,
    scope: Scope::Keys,
};
pub(super) const HVALS: Exec = Exec::Read {
    run: hvals,
    scope: Scope::Keys,
};
pub(super) const HGETALL: Exec = Exec::Read {
    run: hgetall,
    scope: Scope::Keys,
};
pub(super) const HINCRBY: Exec = Exec::Write {
    check: hincrby_check,
    apply: hincrby,
    scope: Scope::Keys,
};
pub(super) const HINCRBYFLOAT: Exec = Exec::Write {
    check: hincrbyfloat_check,
    apply: hincrbyfloat,
    scope: Scope::Keys,
};
pub(super) const HRANDFIELD: Exec = Exec::Read {
    run: hrandfield,
    scope: Scope::Keys,
};
pub(super) const HSCAN: Exec = Exec::Read {
    run: hscan,
    scope: Scope::Keys,
};

/// The hash at `key` for a read: `Ok(None)` if missing, WRONGTYPE if not a hash.
fn lookup<'c>(ctx: &'c ReadCtx<'_>, key: &[u8]) -> Result<Option<HashRef<'c>>, Reply> {
    match ctx.get(key) {
        None => Ok(None),
        Some(e) => e.as_hash().map(Some).ok_or_else(wrong_type),
    }
}

fn pairs_check(args: &[Bytes], name: &str) -> Result<(), Reply> {
    if args.len() % 2 == 1 {
        return Err(Reply::error(errors::wrong_arity(name)));
    }
    Ok(())
}

fn hset_check(args: &[Bytes]) -> Result<(), Reply> {
    pairs_check(args, "hset")
}

fn hmset_check(args: &[Bytes]) -> Result<(), Reply> {
    pairs_check(args, "hmset")
}

/// HSET/HMSET's work: how many fields are new.
fn set_pairs(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Result<i64, Reply> {
    let mut e = ctx.get_or_create(&args[1], Kind::Hash)?;
    let mut h = e.hash_mut().ok_or_else(wrong_type)?;
    h.prepare(args[2..].iter().map(|a| &a[..]));
    let mut created = 0;
    for pair in args[2..].chunks_exact(2) {
        if h.set(&pair[0], &pair[1]) {
            created += 1;
        }
    }
    Ok(created)
}

fn hset(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    if let Err(e) = hset_check(args) {
        return e;
    }
    set_pairs(ctx, args).map_or_else(|e| e, Reply::Int)
}

fn hmset(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    if let Err(e) = hmset_check(args) {
        return e;
    }
    set_pairs(ctx, args).map_or_else(|e| e, |_| Reply::OK)
}

fn hsetnx(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let mut e = match ctx.get_or_create(&args[1], Kind::Hash) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(mut h) = e.hash_mut() else {
        return wrong_type();
    };
    if h.get(&args[2]).is_some() {
        return Reply::Int(0);
    }
    h.prepare([&args[2][..], &args[3][..]]);
    h.set(&args[2], &args[3]);
    Reply::Int(1)
}

fn hget(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Nil,
        Ok(Some(h)) => h.get(&args[2]).map_or(Reply::Nil, item_reply),
    }
}

fn hmget(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let h = match lookup(ctx, &args[1]) {
        Err(e) => return e,
        Ok(h) => h,
    };
    Reply::Array(
        args[2..]
            .iter()
            .map(|f| h.and_then(|h| h.get(f)).map_or(Reply::Nil, item_reply))
            .collect(),
    )
}

fn hdel(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(mut e) = ctx.get_mut(key) else {
        return Reply::Int(0);
    };
    let Some(mut h) = e.hash_mut() else {
        return wrong_type();
    };
    let mut deleted = 0;
    for f in &args[2..] {
        if h.remove(f) {
            deleted += 1;
            if h.is_empty() {
                break;
            }
        }
    }
    ctx.remove_if_empty(key);
    Reply::Int(deleted)
}

fn hlen(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Int(h.map_or(0, |h| h.len() as i64)),
    }
}

fn hstrlen(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Int(
            h.and_then(|h| h.get(&args[2]))
                .map_or(0, |v| v.str_len() as i64),
        ),
    }
}

fn hexists(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(h) => Reply::Int(i64::from(h.is_some_and(|h| h.get(&args[2]).is_some()))),
    }
}

fn hkeys(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(h)) => Reply::Array(h.iter().map(|(f, _)| item_reply(f)).collect()),
    }
}

fn hvals(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(h)) => Reply::Array(h.iter().map(|(_, v)| item_reply(v)).collect()),
    }
}

fn hgetall(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match lookup(ctx, &args[1]) {
        Err(e) => e,
        Ok(None) => Reply::Map(vec![]),
        Ok(Some(h)) => Reply::Map(
            h.iter()
                .map(|(f, v)| (item_reply(f), item_reply(v)))
                .collect(),
        ),
    }
}

fn hincrby_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_i64(&args[3])
        .map(|_| ())
        .ok_or_else(|| Reply::error(errors::NOT_INTEGER))
}

fn hincrby(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let Some(incr) = parse_i64(&args[3]) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let mut e = match ctx.get_or_create(&args[1], Kind::Hash) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(mut h) = e.hash_mut() else {
        return wrong_type();
    };
    // A value is an integer when it parses as one, whichever encoding holds it (a hashtable
    // keeps "0" as bytes where a listpack keeps it as an integer).
    let old = match h.get(&args[2]) {
        None => 0,
        Some(Item::Int(n)) => n,
        Some(other) => match parse_i64(&other.to_vec()) {
            Some(n) => n,
            None => return Reply::error(errors::HASH_VALUE_NOT_INTEGER),
        },
    };
    let Some(new) = old.checked_add(incr) else {
        return Reply::error(errors::OVERFLOW);
    };
    h.set(&args[2], new.to_string().as_bytes());
    Reply::Int(new)
}

/// HINCRBYFLOAT's increment: a valid `long double`, and finite.
fn parse_float_incr(arg: &[u8]) -> Result<F80, Reply> {
    let incr = F80::parse(arg).ok_or_else(|| Reply::error(errors::NOT_FLOAT))?;
    if incr.is_infinite() {
        return Err(Reply::error(errors::NAN_OR_INFINITY));
    }
    Ok(incr)
}

fn hincrbyfloat_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_float_incr(&args[3]).map(|_| ())
}

fn hincrbyfloat(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let incr = match parse_float_incr(&args[3]) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let mut e = match ctx.get_or_create(&args[1], Kind::Hash) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(mut h) = e.hash_mut() else {
        return wrong_type();
    };
    let old = match h.get(&args[2]) {
        None => F80::ZERO,
        Some(Item::Int(n)) => F80::from_i64(n),
        Some(other) => match F80::parse(&other.to_vec()) {
            Some(v) => v,
            None => return Reply::error(errors::HASH_VALUE_NOT_FLOAT),
        },
    };
    let new = old.add(incr);
    if new.is_infinite() {
        return Reply::error(errors::INCR_NAN_OR_INFINITY);
    }
    let text = new.to_human();
    h.set(&args[2], text.as_bytes());
    Reply::Bulk(Bytes::from(text))
}

/// HRANDFIELD's count and WITHVALUES, checked before the key is looked up.
fn parse_randfield(args: &[Bytes]) -> Result<Option<(i64, bool)>, Reply> {
    if args.len() < 3 {
        return Ok(None);
    }
    let count = parse_i64(&args[2]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    if count == i64::MIN {
        return Err(Reply::error(errors::COUNT_OUT_OF_RANGE));
    }
    let withvalues = match &args[3..] {
        [] => false,
        [w] if w.eq_ignore_ascii_case(b"withvalues") => true,
        _ => return Err(Reply::error(errors::SYNTAX)),
    };
    if withvalues && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(Reply::error(errors::VALUE_OUT_OF_RANGE));
    }
    Ok(Some((count, withvalues)))
}

fn hrandfield(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let opts = match parse_randfield(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Some((count, withvalues)) = opts else {
        return match lookup(ctx, &args[1]) {
            Err(e) => e,
            Ok(None) => Reply::Nil,
            Ok(Some(h)) => {
                let i = ctx.random_below(h.len() as u64) as usize;
                h.nth(i).map_or(Reply::Nil, |(f, _)| item_reply(f))
            }
        };
    };
    let h = match lookup(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![]),
        Ok(Some(h)) => h,
    };
    let picks = match random_positions(ctx, h.len(), count) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let pair = |i: usize| h.nth(i).expect("position within the hash");
    if withvalues {
        Reply::Pairs(
            picks
                .into_iter()
                .map(|i| {
                    let (f, v) = pair(i);
                    (item_reply(f), item_reply(v))
                })
                .collect(),
        )
    } else {
        Reply::Array(picks.into_iter().map(|i| item_reply(pair(i).0)).collect())
    }
}

/// Most elements a random-members reply with repeats may hold. Redis has no limit (a count of
/// -10^15 would exhaust its memory); raftis refuses such a count (Rule 5).
pub(super) const MAX_RANDOM_REPLY: u64 = 1 << 24;

/// Positions in `0..size` for a random-members reply of `count` (Redis's HRANDFIELD and
/// SRANDMEMBER rules): a negative count allows repeats and returns exactly `-count`; a
/// positive one returns distinct positions, all of them (in order) when `count >= size`.
/// Refused when repeats would make the reply longer than `MAX_RANDOM_REPLY`.
pub(super) fn random_positions(
    ctx: &ReadCtx<'_>,
    size: usize,
    count: i64,
) -> Result<Vec<usize>, Reply> {
    if count == 0 || size == 0 {
        return Ok(Vec::new());
    }
    if count < 0 {
        let n = count.unsigned_abs();
        if n > MAX_RANDOM_REPLY {
            return Err(Reply::error(errors::VALUE_OUT_OF_RANGE));
        }
        return Ok((0..n)
            .map(|_| ctx.random_below(size as u64) as usize)
            .collect());
    }
    let count = count as u64;
    if count >= size as u64 {
        return Ok((0..size).collect());
    }
    // A partial Fisher-Yates shuffle of the positions: distinct, uniformly chosen.
    let count = count as usize;
    let mut pos: Vec<usize> = (0..size).collect();
    for i in 0..count {
        let j = i + ctx.random_below((size - i) as u64) as usize;
        pos.swap(i, j);
    }
    pos.truncate(count);
    Ok(pos)
}

fn hscan(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let cursor = match scan::parse_cursor(&args[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let h = match lookup(ctx, &args[1]) {
        Err(e) => return e,
        Ok(None) => return scan::reply(0, vec![]),
        Ok(Some(h)) => h,
    };
    let opts = match scan::parse_options(&args[3..], false) {
        Ok((o, _)) => o,
        Err(e) => return e,
    };
    hscan_from(h, cursor, &opts)
}

fn hscan_from(h: HashRef<'_>, cursor: u64, opts: &ScanOpts<'_>) -> Reply {
    // As Redis: collect a COUNT's worth of pairs (counted as field + value), then filter.
    let found = std::cell::RefCell::new(Vec::new());
    let next = if h.is_packed() {
        h.scan_step(0, |f, v| found.borrow_mut().push((f, v)))
    } else {
        scan::scan_loop(
            cursor,
            opts.count.saturating_mul(2),
            |c| h.scan_step(c, |f, v| found.borrow_mut().push((f, v))),
            || found.borrow().len() * 2,
        )
    };
    let mut buf = crate::store::IntBuf::default();
    let mut items = Vec::new();
    for (f, v) in found.into_inner() {
        if opts.keeps(f.as_bytes(&mut buf)) {
            items.push(item_reply(f));
            items.push(item_reply(v));
        }
    }
    scan::reply(next, items)
}
