//! Set commands: SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP SRANDMEMBER SMOVE SINTER
//! SINTERCARD SINTERSTORE SUNION SUNIONSTORE SDIFF SDIFFSTORE SSCAN (Redis 7.0's src/t_set.c).
//!
//! SPOP chooses at random on a write: its numbers come from `WriteCtx::rng`, seeded from the
//! log entry, and the member a number selects depends on the set's content alone
//! (`SetRef::pick`), so every replica pops the same members. SRANDMEMBER is a read and uses a
//! local generator.
//!
//! Reply order follows Redis where Redis's is defined: an intset in ascending order, SINTER in
//! the order of the smallest set, SUNION/SDIFF in the order of the set they build (ascending
//! when it is an intset). A hashtable's order is Redis's random one; raftis's is its table
//! order (insertion order, but for removals).

use bytes::Bytes;

use super::hashes::random_positions;
use super::scan::{self, ScanOpts};
use super::strings::no_check;
use super::{item_reply, parse_i64, wrong_type, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::Reply;
use crate::store::{Entry, IntBuf, Item, Kind, SetRef};

pub(super) const SADD: Exec = Exec::Write {
    check: no_check,
    apply: sadd,
    scope: Scope::Keys,
};
pub(super) const SREM: Exec = Exec::Write {
    check: no_check,
    apply: srem,
    scope: Scope::Keys,
};
pub(super) const SMEMBERS: Exec = Exec::Read {
    run: smembers,
    scope: Scope::Keys,
};
pub(super) const SISMEMBER: Exec = Exec::Read {
    run: sismember,
    scope: Scope::Keys,
};
pub(super) const SMISMEMBER: Exec = Exec::Read {
    run: smismember,
    scope: Scope::Keys,
};
pub(super) const SCARD: Exec = Exec::Read {
    run: scard,
    scope: Scope::Keys,
};
pub(super) const SPOP: Exec = Exec::Write {
    check: spop_check,
    apply: spop,
    scope: Scope::Keys,
};
pub(super) const SRANDMEMBER: Exec = Exec::Read {
    run: srandmember,
    scope: Scope::Keys,
};
pub(super) const SMOVE: Exec = Exec::Write {
    check: no_check,
    apply: smove,
    scope: Scope::Keys,
};
pub(super) const SINTER: Exec = Exec::Read {
    run: sinter,
    scope: Scope::Keys,
};
pub(super) const SINTERCARD: Exec = Exec::Read {
    run: sintercard,
    scope: Scope::Keys,
};
pub(super) const SINTERSTORE: Exec = Exec::Write {
    check: no_check,
    apply: sinterstore,
    scope: Scope::Keys,
};
pub(super) const SUNION: Exec = Exec::Read {
    run: sunion,
    scope: Scope::Keys,
};
pub(super) const SUNIONSTORE: Exec = Exec::Write {
    check: no_check,
    apply: sunionstore,
    scope: Scope::Keys,
};
pub(super) const SDIFF: Exec = Exec::Read {
    run: sdiff,
    scope: Scope::Keys,
};
pub(super) const SDIFFSTORE: Exec = Exec::Write {
    check: no_check,
    apply: sdiffstore,
    scope: Scope::Keys,
};
pub(super) const SSCAN: Exec = Exec::Read {
    run: sscan,
    scope: Scope::Keys,
};

fn as_set(e: Option<&Entry>) -> Result<Option<SetRef<'_>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.as_set().map(Some).ok_or_else(wrong_type),
    }
}

fn sadd(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let mut e = match ctx.get_or_create(&args[1], Kind::Set) {
        Ok(e) => e,
        Err(r) => return r,
    };
    let Some(mut s) = e.set_mut() else {
        return wrong_type();
    };
    let added = args[2..].iter().filter(|m| s.add(m)).count();
    Reply::Int(added as i64)
}

fn srem(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let Some(mut e) = ctx.get_mut(key) else {
        return Reply::Int(0);
    };
    let Some(mut s) = e.set_mut() else {
        return wrong_type();
    };
    let mut removed = 0;
    for m in &args[2..] {
        if s.remove(m) {
            removed += 1;
            if s.is_empty() {
                break;
            }
        }
    }
    ctx.remove_if_empty(key);
    Reply::Int(removed)
}

fn smembers(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_set(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(None) => Reply::Set(vec![]),
        Ok(Some(s)) => Reply::Set(s.iter().map(item_reply).collect()),
    }
}

fn sismember(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_set(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(s) => Reply::Int(i64::from(s.is_some_and(|s| s.contains(&args[2])))),
    }
}

fn smismember(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_set(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(s) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| Reply::Int(i64::from(s.is_some_and(|s| s.contains(m)))))
                .collect(),
        ),
    }
}

fn scard(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_set(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(s) => Reply::Int(s.map_or(0, |s| s.len() as i64)),
    }
}

/// SPOP's count, if any: a non-negative integer (`getPositiveLongFromObjectOrReply`).
fn parse_spop(args: &[Bytes]) -> Result<Option<u64>, Reply> {
    match args.len() {
        2 => Ok(None),
        3 => parse_i64(&args[2])
            .filter(|&n| n >= 0)
            .map(|n| Some(n as u64))
            .ok_or_else(|| Reply::error(errors::MUST_BE_POSITIVE)),
        _ => Err(Reply::error(errors::SYNTAX)),
    }
}

fn spop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_spop(args).map(|_| ())
}

fn spop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let count = match parse_spop(args) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let key = &args[1];
    let size = match ctx.get(key) {
        None => {
            return match count {
                None => Reply::Nil,
                Some(_) => Reply::Set(vec![]),
            }
        }
        Some(e) => match e.as_set() {
            None => return wrong_type(),
            Some(s) => s.len() as u64,
        },
    };
    let n = count.unwrap_or(1);
    if count.is_some() && n >= size {
        // The whole set, in its order; the key goes.
        let all = ctx
            .peek_in(ctx.db(), key)
            .and_then(Entry::as_set)
            .map(|s| s.iter().map(item_reply).collect())
            .unwrap_or_default();
        ctx.remove(key);
        return Reply::Set(all);
    }
    // One number per member popped.
    let draws: Vec<u64> = (0..n).map(|_| ctx.rng().next_u64()).collect();
    let Some(mut e) = ctx.get_mut(key) else {
        return Reply::Nil;
    };
    let Some(mut s) = e.set_mut() else {
        return wrong_type();
    };
    let popped: Vec<Vec<u8>> = draws.into_iter().filter_map(|r| s.pop(r)).collect();
    ctx.remove_if_empty(key);
    match count {
        None => popped
            .into_iter()
            .next()
            .map_or(Reply::Nil, |m| Reply::Bulk(Bytes::from(m))),
        Some(_) => Reply::Set(
            popped
                .into_iter()
                .map(|m| Reply::Bulk(Bytes::from(m)))
                .collect(),
        ),
    }
}

fn srandmember(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let count = match args.len() {
        2 => None,
        3 => match parse_i64(&args[2]) {
            None => return Reply::error(errors::NOT_INTEGER),
            Some(i64::MIN) => return Reply::error(errors::COUNT_OUT_OF_RANGE),
            Some(n) => Some(n),
        },
        _ => return Reply::error(errors::SYNTAX),
    };
    let s = match as_set(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(s) => s,
    };
    let Some(count) = count else {
        return match s {
            None => Reply::Nil,
            Some(s) => {
                let i = ctx.random_below(s.len() as u64) as usize;
                s.nth(i).map_or(Reply::Nil, item_reply)
            }
        };
    };
    let Some(s) = s else {
        return Reply::Array(vec![]);
    };
    match random_positions(ctx, s.len(), count) {
        Err(e) => e,
        Ok(picks) => Reply::Array(
            picks
                .into_iter()
                .map(|i| item_reply(s.nth(i).expect("position within the set")))
                .collect(),
        ),
    }
}

fn smove(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (src, dst, member) = (&args[1], &args[2], &args[3]);
    let src_kind = ctx.get(src).map(Entry::kind);
    let dst_kind = ctx.get(dst).map(Entry::kind);
    let Some(src_kind) = src_kind else {
        return Reply::Int(0);
    };
    if src_kind != Kind::Set || dst_kind.is_some_and(|k| k != Kind::Set) {
        return wrong_type();
    }
    if src == dst {
        let member_of = ctx
            .peek_in(ctx.db(), src)
            .and_then(Entry::as_set)
            .is_some_and(|s| s.contains(member));
        return Reply::Int(i64::from(member_of));
    }
    let removed = ctx
        .get_mut(src)
        .and_then(|mut e| e.set_mut().map(|mut s| s.remove(member)))
        .unwrap_or(false);
    if !removed {
        return Reply::Int(0);
    }
    ctx.remove_if_empty(src);
    match ctx.get_or_create(dst, Kind::Set) {
        Ok(mut e) => {
            if let Some(mut s) = e.set_mut() {
                s.add(member);
            }
            Reply::Int(1)
        }
        Err(r) => r,
    }
}

/// Look up every key as a set: WRONGTYPE if any holds another type (after all missing keys are
/// tolerated, as Redis checks every key).
fn gather<'c>(
    keys: &[Bytes],
    mut get: impl FnMut(&[u8]) -> Option<&'c Entry>,
) -> Result<Vec<Option<SetRef<'c>>>, Reply> {
    keys.iter().map(|k| as_set(get(k))).collect()
}

/// The members of the intersection, in the order of the smallest set (ties: the first named),
/// stopping at `limit` (0: no limit).
fn intersect<'c>(sets: &[Option<SetRef<'c>>], limit: usize) -> Vec<Item<'c>> {
    if sets.iter().any(Option::is_none) {
        return Vec::new();
    }
    let mut sets: Vec<SetRef<'c>> = sets.iter().flatten().copied().collect();
    sets.sort_by_key(SetRef::len);
    let (first, rest) = sets.split_first().expect("at least one key");
    let mut out = Vec::new();
    let mut buf = IntBuf::default();
    for m in first.iter() {
        let mb = m.as_bytes(&mut buf);
        if rest.iter().all(|s| s.contains(mb)) {
            out.push(m);
            if limit != 0 && out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// The union as the temporary set Redis builds (its reply order).
fn union(key: &[u8], sets: &[Option<SetRef<'_>>]) -> Entry {
    Entry::new_set(key, sets.iter().flatten().flat_map(|s| s.iter()))
}

/// The difference (first minus the others) as the temporary set Redis builds.
fn difference(key: &[u8], sets: &[Option<SetRef<'_>>]) -> Entry {
    let Some(Some(first)) = sets.first() else {
        return Entry::new_set(key, std::iter::empty());
    };
    let mut buf = IntBuf::default();
    let rest = &sets[1..];
    let members: Vec<Item<'_>> = first
        .iter()
        .filter(|m| {
            let mb = m.as_bytes(&mut buf);
            !rest.iter().flatten().any(|s| s.contains(mb))
        })
        .collect();
    Entry::new_set(key, members)
}

fn set_reply(e: &Entry) -> Reply {
    Reply::Set(
        e.as_set()
            .map(|s| s.iter().map(item_reply).collect())
            .unwrap_or_default(),
    )
}

fn sinter(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match gather(&args[1..], |k| ctx.get(k)) {
        Err(e) => e,
        Ok(sets) => Reply::Set(intersect(&sets, 0).into_iter().map(item_reply).collect()),
    }
}

fn sunion(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match gather(&args[1..], |k| ctx.get(k)) {
        Err(e) => e,
        Ok(sets) => set_reply(&union(b"", &sets)),
    }
}

fn sdiff(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match gather(&args[1..], |k| ctx.get(k)) {
        Err(e) => e,
        Ok(sets) => set_reply(&difference(b"", &sets)),
    }
}

/// SINTERCARD numkeys key... [LIMIT n]: the keys and the limit.
fn parse_sintercard(args: &[Bytes]) -> Result<(&[Bytes], usize), Reply> {
    let numkeys = parse_i64(&args[1])
        .filter(|&n| n >= 1)
        .ok_or_else(|| Reply::error(errors::NUMKEYS_NOT_POSITIVE))?;
    if numkeys > (args.len() - 2) as i64 {
        return Err(Reply::error(errors::NUMKEYS_TOO_MANY));
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0usize;
    let mut j = end;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"limit") && j + 1 < args.len() {
            let n = parse_i64(&args[j + 1])
                .filter(|&n| n >= 0)
                .ok_or_else(|| Reply::error(errors::LIMIT_NEGATIVE))?;
            limit = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
    }
    Ok((&args[2..end], limit))
}

/// SINTERCARD's keys when its key spec cannot find them (Redis's `sintercardGetKeys`, i.e.
/// `genericGetKeys` with `atoi` of numkeys): none when numkeys is out of range.
pub(super) fn sintercard_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    let num = args.get(1).map_or(0, |a| atoi(a));
    if num < 1 || num as usize > args.len().saturating_sub(2) {
        return false;
    }
    for i in 0..num as usize {
        visit(2 + i, 0);
    }
    true
}

/// C's `atoi`: leading space, a sign, digits, anything after ignored; 0 if no digits.
fn atoi(s: &[u8]) -> i64 {
    let s = match s.iter().position(|b| !b.is_ascii_whitespace()) {
        Some(i) => &s[i..],
        None => return 0,
    };
    let (neg, s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for &d in s.iter().take_while(|d| d.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(i64::from(d - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

fn sintercard(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let (keys, limit) = match parse_sintercard(args) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match gather(keys, |k| ctx.get(k)) {
        Err(e) => e,
        Ok(sets) => Reply::Int(intersect(&sets, limit).len() as i64),
    }
}

/// The *STORE commands: compute from the source keys, then replace the destination with the
/// result (no TTL), or delete it when the result is empty. Replies with the result's size.
fn store_result(
    ctx: &mut WriteCtx<'_, '_>,
    args: &[Bytes],
    compute: impl FnOnce(&[u8], &[Option<SetRef<'_>>]) -> Entry,
) -> Reply {
    let (dst, keys) = (&args[1], &args[2..]);
    // Record the reads' accesses first: the views below borrow the store immutably.
    for k in keys {
        ctx.get(k);
    }
    let db = ctx.db();
    let result = {
        let sets = match gather(keys, |k| ctx.peek_in(db, k)) {
            Ok(s) => s,
            Err(e) => return e,
        };
        compute(dst, &sets)
    };
    let n = result.as_set().map_or(0, |s| s.len());
    if n == 0 {
        ctx.remove(dst);
    } else {
        ctx.insert_in(db, result);
    }
    Reply::Int(n as i64)
}

fn sinterstore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    store_result(ctx, args, |dst, sets| {
        Entry::new_set(dst, intersect(sets, 0))
    })
}

fn sunionstore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    store_result(ctx, args, union)
}

fn sdiffstore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    store_result(ctx, args, difference)
}

fn sscan(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let cursor = match scan::parse_cursor(&args[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let s = match as_set(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(None) => return scan::reply(0, vec![]),
        Ok(Some(s)) => s,
    };
    match scan::parse_options(&args[3..], false) {
        Ok((opts, _)) => sscan_from(s, cursor, &opts),
        Err(e) => e,
    }
}

fn sscan_from(s: SetRef<'_>, cursor: u64, opts: &ScanOpts<'_>) -> Reply {
    let found = std::cell::RefCell::new(Vec::new());
    let next = if s.is_intset() {
        s.scan_step(0, |m| found.borrow_mut().push(m))
    } else {
        scan::scan_loop(
            cursor,
            opts.count,
            |c| s.scan_step(c, |m| found.borrow_mut().push(m)),
            || found.borrow().len(),
        )
    };
    let mut buf = IntBuf::default();
    let items = found
        .into_inner()
        .into_iter()
        .filter(|m| opts.keeps(m.as_bytes(&mut buf)))
        .map(item_reply)
        .collect();
    scan::reply(next, items)
}
