//! List commands: LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LLEN LRANGE LINDEX LSET LINSERT LREM
//! LTRIM LPOS LMOVE RPOPLPUSH LMPOP, and the blocking BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP
//! (Redis 7.0's src/t_list.c).
//!
//! Each write parses its arguments with one function used twice: by `check` on the receiving
//! node, for the errors Redis gives before it looks the key up, and again by `apply`. Errors
//! Redis gives only after the lookup (LSET's index, after "no such key" and WRONGTYPE) are left
//! to apply.
//!
//! Blocking commands. Their apply is the pop Redis performs when a key has data: a write
//! through the log like any other. When every key is empty it changes nothing and returns the
//! reply Redis sends when the wait times out (`Reply::NilArray`, `*-1` in RESP2), the signal
//! for the connection to wait; inside MULTI, where Redis never blocks, it returns what Redis
//! answers there instead (BLMOVE and BRPOPLPUSH: `Reply::Nil`). The waiting itself is the
//! connection's: `Blocking` (from `blpop_keys` and the others, `command::blocking_keys`) says
//! which keys to watch and for how long, with Redis's errors for a bad timeout.
//!
//! Not here: the waiting, the quicklist itself (`store::lists`).

use bytes::Bytes;

use super::float80::F80;
use super::strings::no_check;
use super::{item_reply, parse_i64, wrong_type, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::Reply;
use crate::store::{Entry, Item, Kind, ListRef};

pub(super) const LPUSH: Exec = Exec::Write {
    check: no_check,
    apply: lpush,
    scope: Scope::Keys,
};
pub(super) const RPUSH: Exec = Exec::Write {
    check: no_check,
    apply: rpush,
    scope: Scope::Keys,
};
pub(super) const LPUSHX: Exec = Exec::Write {
    check: no_check,
    apply: lpushx,
    scope: Scope::Keys,
};
pub(super) const RPUSHX: Exec = Exec::Write {
    check: no_check,
    apply: rpushx,
    scope: Scope::Keys,
};
pub(super) const LPOP: Exec = Exec::Write {
    check: lpop_check,
    apply: lpop,
    scope: Scope::Keys,
};
pub(super) const RPOP: Exec = Exec::Write {
    check: rpop_check,
    apply: rpop,
    scope: Scope::Keys,
};
pub(super) const LLEN: Exec = Exec::Read {
    run: llen,
    scope: Scope::Keys,
};
pub(super) const LRANGE: Exec = Exec::Read {
    run: lrange,
    scope: Scope::Keys,
};
pub(super) const LINDEX: Exec = Exec::Read {
    run: lindex,
    scope: Scope::Keys,
};
pub(super) const LSET: Exec = Exec::Write {
    check: no_check,
    apply: lset,
    scope: Scope::Keys,
};
pub(super) const LINSERT: Exec = Exec::Write {
    check: linsert_check,
    apply: linsert,
    scope: Scope::Keys,
};
pub(super) const LREM: Exec = Exec::Write {
    check: lrem_check,
    apply: lrem,
    scope: Scope::Keys,
};
pub(super) const LTRIM: Exec = Exec::Write {
    check: ltrim_check,
    apply: ltrim,
    scope: Scope::Keys,
};
pub(super) const LPOS: Exec = Exec::Read {
    run: lpos,
    scope: Scope::Keys,
};
pub(super) const LMOVE: Exec = Exec::Write {
    check: lmove_check,
    apply: lmove,
    scope: Scope::Keys,
};
pub(super) const RPOPLPUSH: Exec = Exec::Write {
    check: no_check,
    apply: rpoplpush,
    scope: Scope::Keys,
};
pub(super) const LMPOP: Exec = Exec::Write {
    check: lmpop_check,
    apply: lmpop,
    scope: Scope::Keys,
};
pub(super) const BLPOP: Exec = Exec::Write {
    check: blpop_check,
    apply: blpop,
    scope: Scope::Keys,
};
pub(super) const BRPOP: Exec = Exec::Write {
    check: blpop_check,
    apply: brpop,
    scope: Scope::Keys,
};
pub(super) const BLMOVE: Exec = Exec::Write {
    check: blmove_check,
    apply: blmove,
    scope: Scope::Keys,
};
pub(super) const BRPOPLPUSH: Exec = Exec::Write {
    check: brpoplpush_check,
    apply: brpoplpush,
    scope: Scope::Keys,
};
pub(super) const BLMPOP: Exec = Exec::Write {
    check: blmpop_check,
    apply: blmpop,
    scope: Scope::Keys,
};

/// What a blocking command waits for when it found nothing to pop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// The keys, as the command names them: a committed write to any of them may let the pop
    /// succeed (Redis's `blockForKeys`).
    pub keys: Vec<Bytes>,
    /// How long to wait, in ms from when the wait starts; 0 waits forever.
    pub timeout_ms: u64,
}

/// The reply Redis sends a blocking command whose wait timed out, whatever the command:
/// `*-1` in RESP2, `_` in RESP3.
pub fn timeout_reply() -> Reply {
    Reply::NilArray
}

/// Redis's `getTimeoutFromObjectOrReply(..., UNIT_SECONDS)`: seconds as a `long double`,
/// `(long long) ceill(seconds * 1000.0)` ms (so 0.0001 waits 1 ms, not forever), negative
/// refused (an overflowing product is the x87 integer indefinite, negative). Redis 7.0 does
/// not check that the deadline fits.
pub(super) fn parse_timeout(arg: &[u8]) -> Result<u64, Reply> {
    let secs = F80::parse(arg).ok_or_else(|| Reply::error(errors::TIMEOUT_NOT_FLOAT))?;
    let ms = secs.mul_ceil(1000);
    u64::try_from(ms).map_err(|_| Reply::error(errors::TIMEOUT_NEGATIVE))
}

/// The list at `key` for a read: `Ok(None)` if missing, WRONGTYPE if not a list.
fn as_list(e: Option<&Entry>) -> Result<Option<ListRef<'_>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.as_list().map(Some).ok_or_else(wrong_type),
    }
}

fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(|| Reply::error(errors::NOT_INTEGER))
}

/// Redis's range normalization (LRANGE, ZRANGE, ZREMRANGEBYRANK): negative indices count from
/// the end, the start is clamped to 0 and the end to the last element. `None` for an empty
/// range.
pub(super) fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

fn lpush(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    push(ctx, args, true, false)
}

fn rpush(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    push(ctx, args, false, false)
}

fn lpushx(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    push(ctx, args, true, true)
}

fn rpushx(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    push(ctx, args, false, true)
}

/// [LR]PUSH[X]: push every value in order at the head (`front`) or the tail; with `xx` only
/// onto an existing list.
fn push(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], front: bool, xx: bool) -> Reply {
    let key = &args[1];
    let mut e = if xx {
        match ctx.get_mut(key) {
            None => return Reply::Int(0),
            Some(e) => e,
        }
    } else {
        match ctx.get_or_create(key, Kind::List) {
            Ok(e) => e,
            Err(r) => return r,
        }
    };
    let Some(mut l) = e.list_mut() else {
        return wrong_type();
    };
    for v in &args[2..] {
        l.push(v, front);
    }
    Reply::Int(l.len() as i64)
}

/// LPOP/RPOP's count: `None` without one. More than one optional argument is an arity error.
fn parse_pop(args: &[Bytes], name: &str) -> Result<Option<usize>, Reply> {
    match args.len() {
        0..=2 => Ok(None),
        3 => parse_i64(&args[2])
            .filter(|&n| n >= 0)
            .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
            .ok_or_else(|| Reply::error(errors::MUST_BE_POSITIVE)),
        _ => Err(Reply::error(errors::wrong_arity(name))),
    }
}

fn lpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_pop(args, "lpop").map(|_| ())
}

fn rpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_pop(args, "rpop").map(|_| ())
}

fn lpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    pop(ctx, args, true, "lpop")
}

fn rpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    pop(ctx, args, false, "rpop")
}

fn pop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], front: bool, name: &str) -> Reply {
    let count = match parse_pop(args, name) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let key = &args[1];
    let reply = {
        let Some(mut e) = ctx.get_mut(key) else {
            return if count.is_some() {
                Reply::NilArray
            } else {
                Reply::Nil
            };
        };
        let Some(mut l) = e.list_mut() else {
            return wrong_type();
        };
        match count {
            Some(0) => return Reply::Array(vec![]),
            None => l
                .pop(front)
                .map_or(Reply::Nil, |v| Reply::Bulk(Bytes::from(v))),
            Some(n) => Reply::Array(pop_many(&mut l, front, n)),
        }
    };
    ctx.remove_if_empty(key);
    reply
}

/// Pop up to `n` elements from one end, in the order they leave the list.
fn pop_many(l: &mut crate::store::ListMut<'_>, front: bool, n: usize) -> Vec<Reply> {
    let len = l.len();
    let n = n.min(len);
    let items: Vec<Reply> = l
        .as_ref()
        .iter_from(0, !front)
        .take(n)
        .map(item_reply)
        .collect();
    if front {
        l.remove_range(0, n);
    } else {
        l.remove_range(len - n, n);
    }
    items
}

fn llen(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_list(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(l) => Reply::Int(l.map_or(0, |l| l.len() as i64)),
    }
}

fn lrange(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let l = match as_list(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![]),
        Ok(Some(l)) => l,
    };
    match rank_range(start, end, l.len()) {
        None => Reply::Array(vec![]),
        Some((s, e)) => Reply::Array(
            l.iter_from(s, false)
                .take(e - s + 1)
                .map(item_reply)
                .collect(),
        ),
    }
}

/// A possibly negative index into a list of `len` elements, if it is inside.
fn list_index(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 {
        (len as i64).checked_add(index)?
    } else {
        index
    };
    usize::try_from(i).ok().filter(|&i| i < len)
}

fn lindex(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let l = match as_list(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(None) => return Reply::Nil,
        Ok(Some(l)) => l,
    };
    let index = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    list_index(index, l.len())
        .and_then(|i| l.get(i))
        .map_or(Reply::Nil, item_reply)
}

fn lset(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let Some(mut e) = ctx.get_mut(&args[1]) else {
        return Reply::error(errors::NO_SUCH_KEY);
    };
    let Some(mut l) = e.list_mut() else {
        return wrong_type();
    };
    let index = match int_arg(&args[2]) {
        Ok(i) => i,
        Err(e) => return e,
    };
    match list_index(index, l.len()) {
        Some(i) if l.set(i, &args[3]) => Reply::OK,
        _ => Reply::error(errors::INDEX_OUT_OF_RANGE),
    }
}

/// LINSERT's BEFORE/AFTER: true for AFTER.
fn parse_linsert(args: &[Bytes]) -> Result<bool, Reply> {
    if args[2].eq_ignore_ascii_case(b"after") {
        Ok(true)
    } else if args[2].eq_ignore_ascii_case(b"before") {
        Ok(false)
    } else {
        Err(Reply::error(errors::SYNTAX))
    }
}

fn linsert_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_linsert(args).map(|_| ())
}

fn linsert(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let after = match parse_linsert(args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    let Some(mut e) = ctx.get_mut(&args[1]) else {
        return Reply::Int(0);
    };
    let Some(mut l) = e.list_mut() else {
        return wrong_type();
    };
    match l.insert(&args[3], &args[4], after) {
        Some(len) => Reply::Int(len as i64),
        None => Reply::Int(-1),
    }
}

fn lrem_check(args: &[Bytes]) -> Result<(), Reply> {
    int_arg(&args[2]).map(|_| ())
}

fn lrem(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let count = match int_arg(&args[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let key = &args[1];
    let removed = {
        let Some(mut e) = ctx.get_mut(key) else {
            return Reply::Int(0);
        };
        let Some(mut l) = e.list_mut() else {
            return wrong_type();
        };
        // LONG_MIN negates to itself in Redis: a count no run of removals reaches, i.e. all
        // of them from the tail, which is what the store does with it.
        l.remove(&args[3], count)
    };
    ctx.remove_if_empty(key);
    Reply::Int(removed as i64)
}

fn parse_two_ints(args: &[Bytes]) -> Result<(i64, i64), Reply> {
    Ok((int_arg(&args[2])?, int_arg(&args[3])?))
}

fn ltrim_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_two_ints(args).map(|_| ())
}

fn ltrim(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (start, end) = match parse_two_ints(args) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let key = &args[1];
    {
        let Some(mut e) = ctx.get_mut(key) else {
            return Reply::OK;
        };
        let Some(mut l) = e.list_mut() else {
            return wrong_type();
        };
        match rank_range(start, end, l.len()) {
            None => l.trim(0, 0, false),
            Some((s, e)) => l.trim(s, e, true),
        }
    }
    ctx.remove_if_empty(key);
    Reply::OK
}

/// LPOS's options: rank (negative: from the tail), count (`None`: not given), maxlen.
struct LposOpts {
    rank: i64,
    count: Option<i64>,
    maxlen: i64,
}

fn parse_lpos(args: &[Bytes]) -> Result<LposOpts, Reply> {
    let mut o = LposOpts {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = j + 1 < args.len();
        if opt.eq_ignore_ascii_case(b"rank") && more {
            j += 1;
            o.rank = int_arg(&args[j])?;
            if o.rank == 0 {
                return Err(Reply::error(errors::LPOS_RANK_ZERO));
            }
        } else if opt.eq_ignore_ascii_case(b"count") && more {
            j += 1;
            o.count = Some(
                parse_i64(&args[j])
                    .filter(|&n| n >= 0)
                    .ok_or_else(|| Reply::error(errors::LPOS_COUNT_NEGATIVE))?,
            );
        } else if opt.eq_ignore_ascii_case(b"maxlen") && more {
            j += 1;
            o.maxlen = parse_i64(&args[j])
                .filter(|&n| n >= 0)
                .ok_or_else(|| Reply::error(errors::LPOS_MAXLEN_NEGATIVE))?;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

fn lpos(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let o = match parse_lpos(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let l = match as_list(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(None) if o.count.is_some() => return Reply::Array(vec![]),
        Ok(None) => return Reply::Nil,
        Ok(Some(l)) => l,
    };
    // As Redis, in its (wrapping) arithmetic: a rank of LONG_MIN negates to itself.
    let from_tail = o.rank < 0;
    let rank = if from_tail {
        o.rank.wrapping_neg()
    } else {
        o.rank
    };
    let len = l.len();
    let needle = Item::of(&args[2]);
    let mut matches: i64 = 0;
    let mut found = Vec::new();
    for (index, x) in l.iter_from(0, from_tail).enumerate() {
        if o.maxlen != 0 && index as i64 >= o.maxlen {
            break;
        }
        if !x.matches(&needle) {
            continue;
        }
        matches += 1;
        if matches >= rank {
            let at = if from_tail { len - index - 1 } else { index };
            found.push(Reply::Int(at as i64));
            match o.count {
                None => break,
                Some(c) if c != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= c => break,
                Some(_) => {}
            }
        }
    }
    match o.count {
        Some(_) => Reply::Array(found),
        None => found.pop().unwrap_or(Reply::Nil),
    }
}

/// LEFT (true: the head) or RIGHT.
fn parse_end(arg: &[u8]) -> Result<bool, Reply> {
    if arg.eq_ignore_ascii_case(b"right") {
        Ok(false)
    } else if arg.eq_ignore_ascii_case(b"left") {
        Ok(true)
    } else {
        Err(Reply::error(errors::SYNTAX))
    }
}

fn parse_lmove(args: &[Bytes]) -> Result<(bool, bool), Reply> {
    Ok((parse_end(&args[3])?, parse_end(&args[4])?))
}

fn lmove_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_lmove(args).map(|_| ())
}

fn lmove(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_lmove(args) {
        Ok((from, to)) => move_reply(move_one(ctx, &args[1], &args[2], from, to)),
        Err(e) => e,
    }
}

fn rpoplpush(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    move_reply(move_one(ctx, &args[1], &args[2], false, true))
}

fn move_reply(r: Result<Option<Bytes>, Reply>) -> Reply {
    match r {
        Ok(Some(v)) => Reply::Bulk(v),
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

/// LMOVE's work: pop from `src` (its head if `from_front`), push onto `dst`. `Ok(None)` when
/// `src` does not exist (then `dst` is not looked at, as in Redis).
fn move_one(
    ctx: &mut WriteCtx<'_, '_>,
    src: &[u8],
    dst: &[u8],
    from_front: bool,
    to_front: bool,
) -> Result<Option<Bytes>, Reply> {
    match ctx.get(src).map(Entry::kind) {
        None => return Ok(None),
        Some(Kind::List) => {}
        Some(_) => return Err(wrong_type()),
    }
    if ctx.get(dst).is_some_and(|e| e.kind() != Kind::List) {
        return Err(wrong_type());
    }
    let value = ctx
        .get_mut(src)
        .and_then(|mut e| e.list_mut().and_then(|mut l| l.pop(from_front)));
    let Some(value) = value else {
        return Ok(None);
    };
    // Pushed before the source is deleted when empty: with src == dst the list lives on.
    let mut e = ctx.get_or_create(dst, Kind::List)?;
    if let Some(mut l) = e.list_mut() {
        l.push(&value, to_front);
    }
    ctx.remove_if_empty(src);
    Ok(Some(Bytes::from(value)))
}

/// LMPOP/BLMPOP/ZMPOP/BZMPOP's arguments from the numkeys at `numkeys_idx`: the keys, the
/// position of the end keyword (parsed by `end`), and COUNT (1 when absent).
pub(super) fn parse_mpop<T>(
    args: &[Bytes],
    numkeys_idx: usize,
    end: impl Fn(&[u8]) -> Result<T, Reply>,
) -> Result<(&[Bytes], T, usize), Reply> {
    let numkeys = parse_i64(&args[numkeys_idx])
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::error(errors::NUMKEYS_NOT_POSITIVE))?;
    // numkeys_idx + numkeys + 1, without overflow: at or past the end is a syntax error.
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_idx + 1))
        .filter(|&i| i < args.len())
        .ok_or_else(|| Reply::error(errors::SYNTAX))?;
    let which = end(&args[where_idx])?;
    let mut count = None;
    let mut j = where_idx + 1;
    while j < args.len() {
        if count.is_none() && args[j].eq_ignore_ascii_case(b"count") && j + 1 < args.len() {
            j += 1;
            let n = parse_i64(&args[j])
                .filter(|&n| n >= 1)
                .ok_or_else(|| Reply::error(errors::COUNT_NOT_POSITIVE))?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    Ok((&args[numkeys_idx + 1..where_idx], which, count.unwrap_or(1)))
}

fn lmpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_mpop(args, 1, parse_end).map(|_| ())
}

fn lmpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_mpop(args, 1, parse_end) {
        Ok((keys, front, count)) => mpop(ctx, keys, front, count).unwrap_or(Reply::NilArray),
        Err(e) => e,
    }
}

/// Pop up to `count` elements from the first non-empty list of `keys`: `[key, [elements]]`,
/// `None` if every key is missing.
fn mpop(ctx: &mut WriteCtx<'_, '_>, keys: &[Bytes], front: bool, count: usize) -> Option<Reply> {
    for key in keys {
        let popped = {
            let Some(mut e) = ctx.get_mut(key) else {
                continue;
            };
            let Some(mut l) = e.list_mut() else {
                return Some(wrong_type());
            };
            if l.is_empty() {
                continue;
            }
            pop_many(&mut l, front, count)
        };
        ctx.remove_if_empty(key);
        return Some(Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Array(popped),
        ]));
    }
    None
}

/// The reply of a blocking command that found nothing to pop: Redis's timeout reply, or inside
/// MULTI (where Redis does not block) `in_multi`, what it answers there.
pub(super) fn nothing_to_pop(ctx: &WriteCtx<'_, '_>, in_multi: Reply) -> Reply {
    if ctx.in_transaction() {
        in_multi
    } else {
        timeout_reply()
    }
}

/// BLPOP/BRPOP key... timeout.
pub fn blpop_keys(args: &[Bytes]) -> Result<Blocking, Reply> {
    let (timeout, keys) = args
        .get(1..)
        .and_then(<[Bytes]>::split_last)
        .ok_or_else(|| Reply::error(errors::wrong_arity("blpop")))?;
    Ok(Blocking {
        keys: keys.to_vec(),
        timeout_ms: parse_timeout(timeout)?,
    })
}

fn blpop_check(args: &[Bytes]) -> Result<(), Reply> {
    blpop_keys(args).map(|_| ())
}

fn blpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    bpop(ctx, args, true)
}

fn brpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    bpop(ctx, args, false)
}

fn bpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], front: bool) -> Reply {
    let b = match blpop_keys(args) {
        Ok(b) => b,
        Err(e) => return e,
    };
    for key in &b.keys {
        let value = {
            let Some(mut e) = ctx.get_mut(key) else {
                continue;
            };
            let Some(mut l) = e.list_mut() else {
                return wrong_type();
            };
            match l.pop(front) {
                Some(v) => v,
                None => continue,
            }
        };
        ctx.remove_if_empty(key);
        return Reply::Array(vec![
            Reply::Bulk(key.clone()),
            Reply::Bulk(Bytes::from(value)),
        ]);
    }
    nothing_to_pop(ctx, Reply::NilArray)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout: waits on the source only.
pub fn blmove_keys(args: &[Bytes]) -> Result<Blocking, Reply> {
    parse_blmove(args).map(|(_, _, timeout_ms)| Blocking {
        keys: vec![args[1].clone()],
        timeout_ms,
    })
}

fn parse_blmove(args: &[Bytes]) -> Result<(bool, bool, u64), Reply> {
    if args.len() < 6 {
        return Err(Reply::error(errors::wrong_arity("blmove")));
    }
    let (from, to) = parse_lmove(args)?;
    Ok((from, to, parse_timeout(&args[5])?))
}

fn blmove_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_blmove(args).map(|_| ())
}

fn blmove(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_blmove(args) {
        Ok((from, to, _)) => bmove(ctx, args, from, to),
        Err(e) => e,
    }
}

/// BRPOPLPUSH source destination timeout: waits on the source only.
pub fn brpoplpush_keys(args: &[Bytes]) -> Result<Blocking, Reply> {
    if args.len() < 4 {
        return Err(Reply::error(errors::wrong_arity("brpoplpush")));
    }
    Ok(Blocking {
        keys: vec![args[1].clone()],
        timeout_ms: parse_timeout(&args[3])?,
    })
}

fn brpoplpush_check(args: &[Bytes]) -> Result<(), Reply> {
    brpoplpush_keys(args).map(|_| ())
}

fn brpoplpush(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match brpoplpush_keys(args) {
        Ok(_) => bmove(ctx, args, false, true),
        Err(e) => e,
    }
}

fn bmove(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], from: bool, to: bool) -> Reply {
    match move_one(ctx, &args[1], &args[2], from, to) {
        Ok(None) => nothing_to_pop(ctx, Reply::Nil),
        other => move_reply(other),
    }
}

/// BLMPOP timeout numkeys key... LEFT|RIGHT [COUNT count]: the arguments are checked in
/// Redis's order (numkeys, the end, COUNT, then the timeout).
pub fn blmpop_keys(args: &[Bytes]) -> Result<Blocking, Reply> {
    parse_blmpop(args).map(|(keys, _, _, timeout_ms)| Blocking {
        keys: keys.to_vec(),
        timeout_ms,
    })
}

fn parse_blmpop(args: &[Bytes]) -> Result<(&[Bytes], bool, usize, u64), Reply> {
    if args.len() < 5 {
        return Err(Reply::error(errors::wrong_arity("blmpop")));
    }
    let (keys, front, count) = parse_mpop(args, 2, parse_end)?;
    Ok((keys, front, count, parse_timeout(&args[1])?))
}

fn blmpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_blmpop(args).map(|_| ())
}

fn blmpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_blmpop(args) {
        Ok((keys, front, count, _)) => match mpop(ctx, keys, front, count) {
            Some(r) => r,
            None => nothing_to_pop(ctx, Reply::NilArray),
        },
        Err(e) => e,
    }
}

/// LMPOP/BLMPOP's keys when the key spec cannot find them (Redis's `lmpopGetKeys` and
/// `blmpopGetKeys`, `genericGetKeys` with `atoi` of numkeys): none when numkeys is out of range.
pub(super) fn lmpop_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    numkeys_getkeys(args, 1, visit)
}

pub(super) fn blmpop_keys_proc(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    numkeys_getkeys(args, 2, visit)
}

/// Redis's `genericGetKeys(0, numkeys_idx, numkeys_idx + 1, 1, ...)`.
pub(super) fn numkeys_getkeys(
    args: &[Bytes],
    numkeys_idx: usize,
    visit: &mut dyn FnMut(usize, u32),
) -> bool {
    let first = numkeys_idx + 1;
    let num = args.get(numkeys_idx).map_or(0, |a| atoi(a));
    if num < 1 || num as usize > args.len().saturating_sub(first) {
        return false;
    }
    for i in 0..num as usize {
        visit(first + i, 0);
    }
    true
}

/// C's `atoi` as glibc has it, `(int)strtol(s, NULL, 10)`: leading space, a sign, digits,
/// anything after ignored, 0 without digits; saturated to `long`, then cut to 32 bits.
fn atoi(s: &[u8]) -> i64 {
    let start = s
        .iter()
        .position(|&b| !(b.is_ascii_whitespace() || b == 0x0b))
        .unwrap_or(s.len());
    let s = &s[start..];
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i128 = 0;
    for &d in s.iter().take_while(|d| d.is_ascii_digit()) {
        v = (v * 10 + i128::from(d - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let v = if neg { -v } else { v };
    let long = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    i64::from(long as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[&str]) -> Vec<Bytes> {
        v.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    #[test]
    fn rank_range_normalizes_like_redis() {
        assert_eq!(rank_range(0, -1, 5), Some((0, 4)));
        assert_eq!(rank_range(-100, 1, 5), Some((0, 1)));
        assert_eq!(rank_range(3, 1, 5), None);
        assert_eq!(rank_range(5, 10, 5), None);
        assert_eq!(rank_range(2, -100, 5), None);
        assert_eq!(rank_range(i64::MIN, i64::MAX, 5), Some((0, 4)));
        assert_eq!(rank_range(0, 0, 0), None);
    }

    #[test]
    fn timeouts_parse_like_get_timeout_from_object() {
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"0.01"), Ok(10));
        assert_eq!(parse_timeout(b"1.5"), Ok(1500));
        assert_eq!(parse_timeout(b"0.0001"), Ok(1));
        assert_eq!(parse_timeout(b"-0.0001"), Ok(0));
        for bad in ["abc", "nan", "", " 1", "1 "] {
            assert_eq!(
                parse_timeout(bad.as_bytes()),
                Err(Reply::error(errors::TIMEOUT_NOT_FLOAT)),
                "{bad}"
            );
        }
        for neg in ["-1", "-inf", "inf", "1e20"] {
            assert_eq!(
                parse_timeout(neg.as_bytes()),
                Err(Reply::error(errors::TIMEOUT_NEGATIVE)),
                "{neg}"
            );
        }
    }

    #[test]
    fn blocking_keys_name_what_the_connection_waits_on() {
        assert_eq!(
            blpop_keys(&b(&["BLPOP", "a", "b", "2.5"])),
            Ok(Blocking {
                keys: b(&["a", "b"]),
                timeout_ms: 2500
            })
        );
        assert_eq!(
            blmove_keys(&b(&["BLMOVE", "src", "dst", "LEFT", "RIGHT", "0"])),
            Ok(Blocking {
                keys: b(&["src"]),
                timeout_ms: 0
            })
        );
        assert_eq!(
            brpoplpush_keys(&b(&["BRPOPLPUSH", "src", "dst", "1"])),
            Ok(Blocking {
                keys: b(&["src"]),
                timeout_ms: 1000
            })
        );
        assert_eq!(
            blmpop_keys(&b(&["BLMPOP", "0.5", "2", "x", "y", "RIGHT", "COUNT", "3"])),
            Ok(Blocking {
                keys: b(&["x", "y"]),
                timeout_ms: 500
            })
        );
        // Redis's order: the end keyword before the timeout.
        assert_eq!(
            blmove_keys(&b(&["BLMOVE", "s", "d", "UP", "LEFT", "abc"])),
            Err(Reply::error(errors::SYNTAX))
        );
        assert_eq!(
            blmpop_keys(&b(&["BLMPOP", "abc", "0", "x", "LEFT"])),
            Err(Reply::error(errors::NUMKEYS_NOT_POSITIVE))
        );
        assert_eq!(
            blmpop_keys(&b(&["BLMPOP", "abc", "1", "x", "LEFT"])),
            Err(Reply::error(errors::TIMEOUT_NOT_FLOAT))
        );
        assert_eq!(
            blpop_keys(&b(&["BLPOP", "a", "-1"])),
            Err(Reply::error(errors::TIMEOUT_NEGATIVE))
        );
    }

    #[test]
    fn mpop_numkeys_beyond_the_arguments_is_a_syntax_error() {
        let e = |v: &[&str]| parse_mpop(&b(v), 1, parse_end).err();
        assert_eq!(
            e(&["LMPOP", "9223372036854775807", "a", "LEFT"]),
            Some(Reply::error(errors::SYNTAX))
        );
        assert_eq!(
            e(&["LMPOP", "2", "a", "LEFT"]),
            Some(Reply::error(errors::SYNTAX))
        );
        assert_eq!(
            e(&["LMPOP", "1", "a", "LEFT", "COUNT", "0"]),
            Some(Reply::error(errors::COUNT_NOT_POSITIVE))
        );
        let args = b(&["LMPOP", "2", "a", "b", "right", "count", "7"]);
        let (keys, front, count) = parse_mpop(&args, 1, parse_end).unwrap();
        assert_eq!((keys, front, count), (&args[2..4], false, 7));
    }

    #[test]
    fn getkeys_follow_generic_get_keys() {
        let keys = |args: &[&str], idx| {
            let mut v = Vec::new();
            let ok = numkeys_getkeys(&b(args), idx, &mut |i, _| v.push(i));
            (ok, v)
        };
        assert_eq!(
            keys(&["LMPOP", "2", "a", "b", "LEFT"], 1),
            (true, vec![2, 3])
        );
        assert_eq!(
            keys(&["LMPOP", "2x", "a", "b", "LEFT"], 1),
            (true, vec![2, 3])
        );
        assert_eq!(keys(&["LMPOP", "5", "a", "LEFT"], 1), (false, vec![]));
        assert_eq!(keys(&["BLMPOP", "0", "1", "a", "LEFT"], 2), (true, vec![3]));
        assert_eq!(keys(&["BLMPOP", "0", "0", "a", "LEFT"], 2), (false, vec![]));
        // atoi is (int)strtol: 2^32 + 1 is 1.
        assert_eq!(
            keys(&["LMPOP", "4294967297", "a", "LEFT"], 1),
            (true, vec![2])
        );
        assert_eq!(atoi(b" -3x"), -3);
        assert_eq!(atoi(b"99999999999999999999"), -1);
    }
}
