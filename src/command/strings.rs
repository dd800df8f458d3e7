//! String commands: GET SET MGET MSET INCR INCRBY DECR DECRBY (Redis's src/t_string.c).
//!
//! Each write parses its arguments with one function used twice: by `check` on the receiving
//! node, to refuse a malformed command before it is proposed, and by `apply` on every replica,
//! which must not trust that `check` ran. Errors that depend on the entry's time (an EX whose
//! deadline overflows) can only be found at apply; they are found identically everywhere.

use bytes::Bytes;

use super::{key, parse_i64, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::Reply;

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
        let opt = &args[j][..];
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
    let reads = options.iter().any(|a| a.eq_ignore_ascii_case(b"get"));
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
