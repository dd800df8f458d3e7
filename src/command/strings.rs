//! String commands (Redis's src/t_string.c): GET SET MGET MSET INCR INCRBY DECR DECRBY SETNX
//! SETEX PSETEX GETSET GETDEL GETEX MSETNX APPEND STRLEN GETRANGE SUBSTR SETRANGE INCRBYFLOAT
//! LCS.
//!
//! Each write parses its arguments with one function used twice: by `check` on the receiving
//! node, to refuse a malformed command before it is proposed, and by `apply` on every replica,
//! which must not trust that `check` ran. Errors that depend on the entry's time (an EX whose
//! deadline overflows) can only be found at apply; they are found identically everywhere.

use bytes::Bytes;

use super::{key, parse_i64, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::longdouble::{self, IncrError};
use crate::reply::Reply;
use crate::store::Kind;

pub(super) const GET: Exec = Exec::Read {
    run: get,
    scope: Scope::Keys,
};
pub(super) const SET: Exec = Exec::Write {
    check: set_check,
    apply: set,
    scope: Scope::Keys,
};
pub(super) const MGET: Exec = Exec::Read {
    run: mget,
    scope: Scope::Keys,
};
pub(super) const MSET: Exec = Exec::Write {
    check: mset_check,
    apply: mset,
    scope: Scope::Keys,
};
pub(super) const INCR: Exec = Exec::Write {
    check: no_check,
    apply: incr,
    scope: Scope::Keys,
};
pub(super) const DECR: Exec = Exec::Write {
    check: no_check,
    apply: decr,
    scope: Scope::Keys,
};
pub(super) const INCRBY: Exec = Exec::Write {
    check: incrby_check,
    apply: incrby,
    scope: Scope::Keys,
};
pub(super) const DECRBY: Exec = Exec::Write {
    check: decrby_check,
    apply: decrby,
    scope: Scope::Keys,
};

pub(super) fn no_check(_: &[Bytes]) -> Result<(), Reply> {
    Ok(())
}

fn wrongtype() -> Reply {
    Reply::error(errors::WRONGTYPE)
}

fn get(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match ctx.get(&args[1]) {
        None => Reply::Nil,
        Some(e) => match e.as_str() {
            Some(s) => Reply::Bulk(Bytes::copy_from_slice(s)),
            None => wrongtype(),
        },
    }
}

fn mget(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    Reply::Array(
        args[1..]
            .iter()
            .map(|k| match ctx.get(k).and_then(|e| e.as_str()) {
                Some(s) => Reply::Bulk(Bytes::copy_from_slice(s)),
                None => Reply::Nil,
            })
            .collect(),
    )
}

/// How SET's (and later GETEX's) expire argument is to be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// EX: relative seconds.
    Ex,
    /// PX: relative milliseconds.
    Px,
    /// EXAT: absolute unix seconds.
    ExAt,
    /// PXAT: absolute unix milliseconds.
    PxAt,
}

#[derive(Default)]
struct SetOpts {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// The unit and the value in milliseconds (relative for EX/PX), validated as positive.
    expire: Option<(Unit, i64)>,
}

impl SetOpts {
    /// The absolute deadline at `time_ms` (0: none), or Redis's invalid-expire error when the
    /// relative time overflows.
    fn deadline(&self, time_ms: u64) -> Result<u64, Reply> {
        match self.expire {
            None => Ok(0),
            Some((Unit::ExAt | Unit::PxAt, ms)) => Ok(ms as u64),
            Some((Unit::Ex | Unit::Px, ms)) => ms
                .checked_add(time_ms as i64)
                .map(|d| d as u64)
                .ok_or_else(|| Reply::error(errors::invalid_expire("set"))),
        }
    }
}

/// Redis's `parseExtendedStringArgumentsOrReply` for SET, then the expire value's checks of
/// `getExpireMillisecondsOrReply` that do not depend on the time.
fn parse_set(args: &[Bytes]) -> Result<SetOpts, Reply> {
    let mut o = SetOpts::default();
    let mut raw_expire: Option<(Unit, &Bytes)> = None;
    let mut j = 3;
    while j < args.len() {
        let opt = c_str(&args[j]);
        let next = args.get(j + 1);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let unit = raw_expire.map(|(u, _)| u);
        // An expire option may repeat itself (the last wins) but not follow another unit.
        let expire_ok = |u: Unit| !o.keepttl && unit.is_none_or(|x| x == u) && next.is_some();
        if is("nx") && !o.xx {
            o.nx = true;
        } else if is("xx") && !o.nx {
            o.xx = true;
        } else if is("get") {
            o.get = true;
        } else if is("keepttl") && unit.is_none() {
            o.keepttl = true;
        } else if let Some(u) = [
            ("ex", Unit::Ex),
            ("px", Unit::Px),
            ("exat", Unit::ExAt),
            ("pxat", Unit::PxAt),
        ]
        .into_iter()
        .find_map(|(name, u)| is(name).then_some(u))
        .filter(|&u| expire_ok(u))
        {
            raw_expire = next.map(|v| (u, v));
            j += 1;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    if let Some((unit, raw)) = raw_expire {
        let v = parse_i64(raw).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
        let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
        if v <= 0 || (seconds && v > i64::MAX / 1000) {
            return Err(Reply::error(errors::invalid_expire("set")));
        }
        o.expire = Some((unit, if seconds { v * 1000 } else { v }));
    }
    Ok(o)
}

/// SET's key and its flags: it only overwrites, unless GET makes it read the old value too
/// (Redis's `setGetKeys`).
pub(super) fn set_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    let options = args.get(3..).unwrap_or_default();
    let reads = options.iter().any(|a| opt_is(a, "get"));
    visit(
        1,
        if reads {
            key::RW | key::ACCESS | key::UPDATE
        } else {
            key::OW | key::UPDATE
        },
    );
    true
}

fn set_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_set(args).map(|_| ())
}

fn set(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let o = match parse_set(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let deadline = match o.deadline(ctx.time_ms()) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let key = &args[1];
    let (found, old_deadline, old_value) = match ctx.get(key) {
        None => (false, 0, None),
        Some(e) => {
            if o.get && e.as_str().is_none() {
                return wrongtype();
            }
            let old = o.get.then(|| e.as_str().map(Bytes::copy_from_slice));
            (true, e.deadline_ms(), old.flatten())
        }
    };
    let old_reply = || old_value.clone().map_or(Reply::Nil, Reply::Bulk);
    if (o.nx && found) || (o.xx && !found) {
        return if o.get { old_reply() } else { Reply::Nil };
    }
    let deadline = if o.keepttl { old_deadline } else { deadline };
    ctx.set_str(key, &args[2], deadline);
    if o.get {
        old_reply()
    } else {
        Reply::OK
    }
}

fn mset_check(args: &[Bytes]) -> Result<(), Reply> {
    if args.len().is_multiple_of(2) {
        return Err(Reply::error(errors::wrong_arity("mset")));
    }
    Ok(())
}

fn mset(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    if let Err(e) = mset_check(args) {
        return e;
    }
    for pair in args[1..].chunks_exact(2) {
        ctx.set_str(&pair[0], &pair[1], 0);
    }
    Reply::OK
}

/// Decimal digits of `n` in `buf`, without allocating.
fn int_bytes(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut v = n.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// INCR and friends: the value must be an integer string; the TTL is kept.
fn incr_by(ctx: &mut WriteCtx<'_, '_>, key: &[u8], delta: i64) -> Reply {
    let mut buf = [0u8; 20];
    match ctx.get_mut(key) {
        Some(mut e) => {
            let Some(s) = e.as_str() else {
                return wrongtype();
            };
            let Some(old) = parse_i64(s) else {
                return Reply::error(errors::NOT_INTEGER);
            };
            let Some(new) = old.checked_add(delta) else {
                return Reply::error(errors::OVERFLOW);
            };
            e.set_str(int_bytes(new, &mut buf));
            Reply::Int(new)
        }
        None => {
            ctx.set_str(key, int_bytes(delta, &mut buf), 0);
            Reply::Int(delta)
        }
    }
}

fn incr(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    incr_by(ctx, &args[1], -1)
}

fn parse_increment(args: &[Bytes]) -> Result<i64, Reply> {
    parse_i64(&args[2]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))
}

fn incrby_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_increment(args).map(|_| ())
}

fn incrby(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_increment(args) {
        Ok(d) => incr_by(ctx, &args[1], d),
        Err(e) => e,
    }
}

/// DECRBY's decrement, negated; i64::MIN cannot be negated.
fn parse_decrement(args: &[Bytes]) -> Result<i64, Reply> {
    let d = parse_increment(args)?;
    d.checked_neg()
        .ok_or_else(|| Reply::error(errors::DECREMENT_OVERFLOW))
}

fn decrby_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_decrement(args).map(|_| ())
}

fn decrby(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_decrement(args) {
        Ok(d) => incr_by(ctx, &args[1], d),
        Err(e) => e,
    }
}

// ---------------------------------------------------------------------------------------------
// SETNX SETEX PSETEX GETSET GETDEL GETEX MSETNX APPEND STRLEN GETRANGE SUBSTR SETRANGE
// INCRBYFLOAT LCS
//
// `check` refuses only what Redis refuses before it looks the key up; an error Redis gives
// after its lookup (GETEX's expire value, INCRBYFLOAT's float, SETRANGE's and APPEND's length
// limit) is left to apply, so its precedence over WRONGTYPE or a missing key stays Redis's.
// ---------------------------------------------------------------------------------------------

pub(super) const SETNX: Exec = Exec::Write {
    check: no_check,
    apply: setnx,
    scope: Scope::Keys,
};
pub(super) const SETEX: Exec = Exec::Write {
    check: setex_check,
    apply: setex,
    scope: Scope::Keys,
};
pub(super) const PSETEX: Exec = Exec::Write {
    check: psetex_check,
    apply: psetex,
    scope: Scope::Keys,
};
pub(super) const GETSET: Exec = Exec::Write {
    check: no_check,
    apply: getset,
    scope: Scope::Keys,
};
pub(super) const GETDEL: Exec = Exec::Write {
    check: no_check,
    apply: getdel,
    scope: Scope::Keys,
};
pub(super) const GETEX: Exec = Exec::Write {
    check: getex_check,
    apply: getex,
    scope: Scope::Keys,
};
pub(super) const MSETNX: Exec = Exec::Write {
    check: msetnx_check,
    apply: msetnx,
    scope: Scope::Keys,
};
pub(super) const APPEND: Exec = Exec::Write {
    check: no_check,
    apply: append,
    scope: Scope::Keys,
};
pub(super) const STRLEN: Exec = Exec::Read {
    run: strlen,
    scope: Scope::Keys,
};
pub(super) const GETRANGE: Exec = Exec::Read {
    run: getrange,
    scope: Scope::Keys,
};
/// SUBSTR is GETRANGE's old name.
pub(super) const SUBSTR: Exec = GETRANGE;
pub(super) const SETRANGE: Exec = Exec::Write {
    check: setrange_check,
    apply: setrange,
    scope: Scope::Keys,
};
/// No check: Redis reports a malformed increment only after the key's type (WRONGTYPE wins).
pub(super) const INCRBYFLOAT: Exec = Exec::Write {
    check: no_check,
    apply: incrbyfloat,
    scope: Scope::Keys,
};
pub(super) const LCS: Exec = Exec::Read {
    run: lcs,
    scope: Scope::Keys,
};

/// The largest string a command may build: redis-server's default `proto-max-bulk-len`. Fixed
/// rather than read from the node's configuration, because apply must give the same answer on
/// every replica whatever each one's CONFIG SET did (Rule 1).
pub(super) const MAX_STRING_BYTES: u64 = 512 << 20;

/// An option as C's `strcasecmp` sees it: the bytes before the first NUL (Redis compares option
/// names as C strings, so `NX\0junk` is NX).
pub(super) fn c_str(arg: &[u8]) -> &[u8] {
    arg.split(|&b| b == 0).next().unwrap_or_default()
}

/// `arg` names option `name` (any case), as Redis's `strcasecmp` decides.
pub(super) fn opt_is(arg: &[u8], name: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(name.as_bytes())
}

/// Redis's `checkStringLength`: may a string of `size` bytes grow by `append` bytes?
fn check_string_length(size: u64, append: u64) -> Result<(), Reply> {
    match size.checked_add(append) {
        Some(total) if total <= MAX_STRING_BYTES => Ok(()),
        _ => Err(Reply::error(errors::STRING_TOO_LONG)),
    }
}

fn bulk(s: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s))
}

fn setnx(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    if ctx.get(&args[1]).is_some() {
        return Reply::Int(0);
    }
    ctx.set_str(&args[1], &args[2], 0);
    Reply::Int(1)
}

/// SETEX/PSETEX's TTL in milliseconds, checked as Redis's `getExpireMillisecondsOrReply` does
/// before it adds the time.
fn parse_setex_ttl(args: &[Bytes], seconds: bool, cmd: &str) -> Result<i64, Reply> {
    let v = parse_i64(&args[2]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(Reply::error(errors::invalid_expire(cmd)));
    }
    Ok(if seconds { v * 1000 } else { v })
}

fn setex_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_setex_ttl(args, true, "setex").map(|_| ())
}

fn psetex_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_setex_ttl(args, false, "psetex").map(|_| ())
}

fn setex_generic(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], seconds: bool, cmd: &str) -> Reply {
    let ttl = match parse_setex_ttl(args, seconds, cmd) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let Some(deadline) = ttl.checked_add(ctx.time_ms() as i64) else {
        return Reply::error(errors::invalid_expire(cmd));
    };
    ctx.set_str(&args[1], &args[3], deadline as u64);
    Reply::OK
}

fn setex(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    setex_generic(ctx, args, true, "setex")
}

fn psetex(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    setex_generic(ctx, args, false, "psetex")
}

/// The string at `key` (copied), `Ok(None)` if there is no key, WRONGTYPE for another type.
fn get_string(ctx: &mut WriteCtx<'_, '_>, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    match ctx.get(key) {
        None => Ok(None),
        Some(e) => match e.as_str() {
            Some(s) => Ok(Some(Bytes::copy_from_slice(s))),
            None => Err(wrongtype()),
        },
    }
}

fn getset(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let old = match get_string(ctx, &args[1]) {
        Ok(old) => old,
        Err(e) => return e,
    };
    // As SET: the old TTL goes.
    ctx.set_str(&args[1], &args[2], 0);
    old.map_or(Reply::Nil, Reply::Bulk)
}

fn getdel(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match get_string(ctx, &args[1]) {
        Ok(Some(v)) => {
            ctx.remove(&args[1]);
            Reply::Bulk(v)
        }
        Ok(None) => Reply::Nil,
        Err(e) => e,
    }
}

/// What GETEX does to the TTL.
enum GetexTtl<'a> {
    Keep,
    Persist,
    /// The unit and the raw value, validated at apply (after the key is looked up, as Redis).
    Expire(Unit, &'a Bytes),
}

/// Redis's `parseExtendedStringArgumentsOrReply` for GETEX: EX, PX, EXAT, PXAT (one unit, which
/// may repeat, the last value winning) or PERSIST, each followed by its value.
fn parse_getex(args: &[Bytes]) -> Result<GetexTtl<'_>, Reply> {
    let mut ttl = GetexTtl::Keep;
    let mut j = 2;
    while j < args.len() {
        let opt = &args[j];
        let next = args.get(j + 1);
        let unit = [
            ("ex", Unit::Ex),
            ("px", Unit::Px),
            ("exat", Unit::ExAt),
            ("pxat", Unit::PxAt),
        ]
        .into_iter()
        .find_map(|(name, u)| opt_is(opt, name).then_some(u));
        match (unit, &ttl, next) {
            (None, GetexTtl::Keep | GetexTtl::Persist, _) if opt_is(opt, "persist") => {
                ttl = GetexTtl::Persist;
            }
            (Some(u), GetexTtl::Keep, Some(v)) => {
                ttl = GetexTtl::Expire(u, v);
                j += 1;
            }
            (Some(u), GetexTtl::Expire(prev, _), Some(v)) if *prev == u => {
                ttl = GetexTtl::Expire(u, v);
                j += 1;
            }
            _ => return Err(Reply::error(errors::SYNTAX)),
        }
        j += 1;
    }
    Ok(ttl)
}

fn getex_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_getex(args).map(|_| ())
}

/// An expire option's value as an absolute deadline at `time_ms`, checked as Redis's
/// `getExpireMillisecondsOrReply`.
fn expire_deadline(raw: &[u8], unit: Unit, time_ms: u64, cmd: &str) -> Result<i64, Reply> {
    let v = parse_i64(raw).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    let seconds = matches!(unit, Unit::Ex | Unit::ExAt);
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(Reply::error(errors::invalid_expire(cmd)));
    }
    let ms = if seconds { v * 1000 } else { v };
    match unit {
        Unit::ExAt | Unit::PxAt => Ok(ms),
        Unit::Ex | Unit::Px => ms
            .checked_add(time_ms as i64)
            .ok_or_else(|| Reply::error(errors::invalid_expire(cmd))),
    }
}

fn getex(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let ttl = match parse_getex(args) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let key = &args[1];
    let value = match get_string(ctx, key) {
        Ok(Some(v)) => v,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    match ttl {
        GetexTtl::Keep => {}
        GetexTtl::Persist => {
            if let Some(mut e) = ctx.get_mut(key) {
                e.set_deadline(0);
            }
        }
        GetexTtl::Expire(unit, raw) => {
            let now = ctx.time_ms();
            let when = match expire_deadline(raw, unit, now, "getex") {
                Ok(w) => w,
                Err(e) => return e,
            };
            // An absolute time already past deletes the key (the reply is still its value).
            if when as u64 <= now {
                ctx.remove(key);
            } else if let Some(mut e) = ctx.get_mut(key) {
                e.set_deadline(when as u64);
            }
        }
    }
    Reply::Bulk(value)
}

fn msetnx_check(args: &[Bytes]) -> Result<(), Reply> {
    if args.len().is_multiple_of(2) {
        return Err(Reply::error(errors::wrong_arity("msetnx")));
    }
    Ok(())
}

fn msetnx(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    if let Err(e) = msetnx_check(args) {
        return e;
    }
    if args[1..].chunks_exact(2).any(|p| ctx.get(&p[0]).is_some()) {
        return Reply::Int(0);
    }
    for pair in args[1..].chunks_exact(2) {
        ctx.set_str(&pair[0], &pair[1], 0);
    }
    Reply::Int(1)
}

fn append(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (key, tail) = (&args[1], &args[2]);
    match ctx.get_mut(key) {
        None => {
            ctx.set_str(key, tail, 0);
            Reply::Int(tail.len() as i64)
        }
        Some(mut e) => {
            let Some(old) = e.as_str() else {
                return wrongtype();
            };
            if let Err(err) = check_string_length(old.len() as u64, tail.len() as u64) {
                return err;
            }
            let mut v = Vec::with_capacity(old.len() + tail.len());
            v.extend_from_slice(old);
            v.extend_from_slice(tail);
            // Redis unshares the value and appends to it: OBJECT ENCODING says raw.
            e.set_str_raw(&v);
            Reply::Int(v.len() as i64)
        }
    }
}

fn strlen(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match ctx.get(&args[1]) {
        None => Reply::Int(0),
        Some(e) => match e.as_str() {
            Some(s) => Reply::Int(s.len() as i64),
            None => wrongtype(),
        },
    }
}

/// GETRANGE / SUBSTR: Redis's `getrangeCommand`, quirks included (both ends negative with
/// start after end is empty; otherwise ends are clamped into the string).
fn getrange(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
        return Reply::error(errors::NOT_INTEGER);
    };
    let s = match ctx.get(&args[1]) {
        None => return Reply::Bulk(Bytes::new()),
        Some(e) => match e.as_str() {
            Some(s) => s,
            None => return wrongtype(),
        },
    };
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    let len = s.len() as i64;
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return Reply::Bulk(Bytes::new());
    }
    bulk(&s[start as usize..=end as usize])
}

/// SETRANGE's offset: an integer, not negative (checked before the key is looked up).
fn parse_offset(args: &[Bytes]) -> Result<u64, Reply> {
    let off = parse_i64(&args[2]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    u64::try_from(off).map_err(|_| Reply::error(errors::OFFSET_OUT_OF_RANGE))
}

fn setrange_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_offset(args).map(|_| ())
}

fn setrange(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let offset = match parse_offset(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (key, value) = (&args[1], &args[3]);
    // Look first without recording an access: the checks below come before any change, and
    // the access is recorded once, by `get` or `get_or_create`.
    let old_len = match ctx.peek_in(ctx.db(), key) {
        None => None,
        Some(e) => match e.as_str() {
            Some(s) => Some(s.len() as i64),
            None => {
                ctx.get(key);
                return wrongtype();
            }
        },
    };
    if value.is_empty() {
        // Redis looks the key up (an access) and changes nothing.
        ctx.get(key);
        return Reply::Int(old_len.unwrap_or(0));
    }
    if let Err(e) = check_string_length(offset, value.len() as u64) {
        ctx.get(key);
        return e;
    }
    // Both fit in memory once the length check passed: offset + len <= 512 MB.
    let (start, end) = (offset as usize, offset as usize + value.len());
    // The string is grown in place (zero bytes up to `offset`) and patched: no other copy of
    // it is made. A new SETRANGE value is a raw string in Redis, whatever its length.
    let mut e = match ctx.get_or_create(key, Kind::String) {
        Ok(e) => e,
        Err(err) => return err,
    };
    let Some(s) = e.str_raw_mut(end) else {
        return wrongtype();
    };
    s[start..end].copy_from_slice(value);
    Reply::Int(s.len() as i64)
}

/// INCRBYFLOAT in x87 80-bit arithmetic, as redis-server computes it on x86-64 (see
/// `crate::longdouble`); the TTL is kept. Deterministic: integer code only.
fn incrbyfloat(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let result = match ctx.get(key) {
        None => longdouble::incr_by_float(None, &args[2]),
        Some(e) => match e.as_str() {
            Some(s) => longdouble::incr_by_float(Some(s), &args[2]),
            None => return wrongtype(),
        },
    };
    let v = match result {
        Ok(v) => v,
        Err(IncrError::NotFloat) => return Reply::error(errors::NOT_FLOAT),
        Err(IncrError::NanOrInf) => return Reply::error(errors::INCR_NAN_OR_INFINITY),
    };
    // Redis stores the result without trying the int encoding: OBJECT ENCODING says embstr.
    if ctx.get_mut(key).is_none() {
        ctx.set_str(key, v.as_bytes(), 0);
    }
    if let Some(mut e) = ctx.get_mut(key) {
        e.set_str_noint(v.as_bytes());
    }
    Reply::Bulk(Bytes::from(v))
}

/// LCS's options.
#[derive(Default)]
struct LcsOpts {
    idx: bool,
    len: bool,
    with_match_len: bool,
    min_match_len: i64,
}

fn parse_lcs(args: &[Bytes]) -> Result<LcsOpts, Reply> {
    let mut o = LcsOpts::default();
    let mut j = 3;
    while j < args.len() {
        let opt = &args[j];
        let more = j + 1 < args.len();
        if opt_is(opt, "idx") {
            o.idx = true;
        } else if opt_is(opt, "len") {
            o.len = true;
        } else if opt_is(opt, "withmatchlen") {
            o.with_match_len = true;
        } else if opt_is(opt, "minmatchlen") && more {
            let v = parse_i64(&args[j + 1]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
            o.min_match_len = v.max(0);
            j += 1;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    if o.idx && o.len {
        return Err(Reply::error(errors::LCS_IDX_AND_LEN));
    }
    Ok(o)
}

/// LCS: Redis's `lcsCommand`, the same dynamic programming table (so the same common
/// subsequence is chosen when several are longest), the same ranges and the same limit on the
/// table's size. Missing keys are empty strings.
fn lcs(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let (ea, eb) = (ctx.get(&args[1]), ctx.get(&args[2]));
    let (a, b) = match (ea.map(|e| e.as_str()), eb.map(|e| e.as_str())) {
        (Some(None), _) | (_, Some(None)) => return Reply::error(errors::LCS_NOT_STRINGS),
        (a, b) => (
            a.flatten().unwrap_or_default(),
            b.flatten().unwrap_or_default(),
        ),
    };
    let o = match parse_lcs(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen as u64 + 1) * (blen as u64 + 1);
    if cells * 4 > MAX_STRING_BYTES {
        return Reply::error(errors::LCS_TOO_BIG);
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells as usize).is_err() {
        return Reply::error(errors::LCS_ALLOC_FAILED);
    }
    // table[i * w + j]: LCS length of a[..i] and b[..j].
    let w = blen + 1;
    table.resize(w, 0);
    for i in 1..=alen {
        table.push(0);
        for j in 1..=blen {
            let v = if a[i - 1] == b[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
            table.push(v);
        }
    }
    let total = table[alen * w + blen];
    if o.len {
        return Reply::Int(total.into());
    }
    // Walk back from the end, collecting the subsequence and, for IDX, the ranges of
    // contiguous matches (latest first). `None`: no range open.
    let mut result = vec![0u8; total as usize];
    let mut matches = Vec::new();
    let mut range: Option<(usize, usize, usize, usize)> = None; // a_start, a_end, b_start, b_end
    let (mut i, mut j, mut idx) = (alen, blen, total as usize);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            range = match range {
                None => Some((i - 1, i - 1, j - 1, j - 1)),
                // Contiguous: the previous step matched at (i, j).
                Some((_, ae, _, be)) => Some((i - 1, ae, j - 1, be)),
            };
            if i == 1 || j == 1 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = range.is_some();
        }
        if emit {
            if let Some((a_start, a_end, b_start, b_end)) = range.take() {
                let len = a_end - a_start + 1;
                if o.idx && (o.min_match_len == 0 || len as i64 >= o.min_match_len) {
                    let pos = |s: usize, e: usize| {
                        Reply::Array(vec![Reply::Int(s as i64), Reply::Int(e as i64)])
                    };
                    let mut m = vec![pos(a_start, a_end), pos(b_start, b_end)];
                    if o.with_match_len {
                        m.push(Reply::Int(len as i64));
                    }
                    matches.push(Reply::Array(m));
                }
            }
        }
    }
    if o.idx {
        return Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Int(total.into())),
        ]);
    }
    Reply::Bulk(Bytes::from(result))
}

#[cfg(test)]
mod tests {
    use super::int_bytes;

    #[test]
    fn int_bytes_writes_decimal_like_redis() {
        let mut b = [0u8; 20];
        for n in [0, 1, -1, 9, 10, -10, 1234567890, i64::MAX, i64::MIN] {
            assert_eq!(int_bytes(n, &mut b), n.to_string().as_bytes());
        }
    }
}
