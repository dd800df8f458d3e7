//! Generic key commands: DEL EXISTS EXPIRE PEXPIRE TTL PTTL PERSIST TYPE (Redis's src/expire.c
//! and src/db.c).
//!
//! EXPIRE turns its relative TTL into an absolute deadline against the entry's time at apply,
//! so every replica computes the same deadline; a deadline at or before that time deletes the
//! key at once, as Redis does.

use bytes::Bytes;

use super::strings::no_check;
use super::{parse_i64, Exec, ReadCtx, Scope, WriteCtx};
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
/// depend on the time. Returns the flags and the TTL in milliseconds.
fn parse_expire(args: &[Bytes], seconds: bool) -> Result<(ExpireFlags, i64), Reply> {
    let mut f = ExpireFlags::default();
    for opt in &args[3..] {
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        if is("nx") {
            f.nx = true;
        } else if is("xx") {
            f.xx = true;
        } else if is("gt") {
            f.gt = true;
        } else if is("lt") {
            f.lt = true;
        } else {
            return Err(Reply::error(errors::unsupported_option(opt)));
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
            .ok_or_else(|| Reply::error(errors::invalid_expire("expire")))?
    } else {
        when
    };
    Ok((f, when))
}

fn expire_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_expire(args, true).map(|_| ())
}

fn pexpire_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_expire(args, false).map(|_| ())
}

fn expire(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, true)
}

fn pexpire(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    expire_generic(ctx, args, false)
}

/// Redis's `expireGenericCommand` with `basetime` = the entry's time.
fn expire_generic(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], seconds: bool) -> Reply {
    let (f, ttl) = match parse_expire(args, seconds) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let now = ctx.time_ms() as i64;
    let Some(when) = ttl.checked_add(now) else {
        return Reply::error(errors::invalid_expire(if seconds {
            "expire"
        } else {
            "pexpire"
        }));
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
