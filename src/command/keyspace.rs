//! Generic key commands that move or inspect values whatever their type: RENAME RENAMENX COPY
//! MOVE SWAPDB OBJECT MEMORY (Redis 7.0's src/db.c and src/object.c).
//!
//! MOVE and COPY ... DB touch a key in another database: their `Scope::Custom` functions add
//! that database's shard to the command's locks (only for a valid index: an invalid one makes
//! the command fail before it touches anything). SWAPDB locks everything.
//!
//! OBJECT reads without recording an access (Redis's LOOKUP_NOTOUCH); FREQ and IDLETIME read
//! the access field as the node's eviction policy defines it, with Redis's errors when the
//! policy does not track what is asked.
//!
//! MEMORY USAGE answers what the key costs in the store's own accounting (`store::mem`: its
//! node, key, value and containers at the allocator's sizes), exact and O(1) whatever the
//! value's size, so SAMPLES is checked as Redis checks it and otherwise has nothing to do.

use bytes::Bytes;

use super::strings::no_check;
use super::{parse_i64, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::Reply;
use crate::store::{entry_bytes, lru, AccessPolicy, ShardSet};

pub(super) const RENAME: Exec = Exec::Write {
    check: no_check,
    apply: rename,
    scope: Scope::Keys,
};
pub(super) const RENAMENX: Exec = Exec::Write {
    check: no_check,
    apply: renamenx,
    scope: Scope::Keys,
};
pub(super) const COPY: Exec = Exec::Write {
    check: copy_check,
    apply: copy,
    scope: Scope::Custom(copy_shards),
};
pub(super) const MOVE: Exec = Exec::Write {
    check: move_check,
    apply: move_,
    scope: Scope::Custom(move_shards),
};
pub(super) const SWAPDB: Exec = Exec::Write {
    check: swapdb_check,
    apply: swapdb,
    scope: Scope::All,
};
/// OBJECT itself: never run (the table resolves OBJECT to a subcommand, or fails on arity).
pub(super) const OBJECT: Exec = Exec::Read {
    run: object_help,
    scope: Scope::Keys,
};
pub(super) const OBJECT_ENCODING: Exec = Exec::Read {
    run: object_encoding,
    scope: Scope::Keys,
};
pub(super) const OBJECT_REFCOUNT: Exec = Exec::Read {
    run: object_refcount,
    scope: Scope::Keys,
};
pub(super) const OBJECT_IDLETIME: Exec = Exec::Read {
    run: object_idletime,
    scope: Scope::Keys,
};
pub(super) const OBJECT_FREQ: Exec = Exec::Read {
    run: object_freq,
    scope: Scope::Keys,
};
pub(super) const OBJECT_HELP: Exec = Exec::Read {
    run: object_help,
    scope: Scope::Keys,
};
/// MEMORY itself: never run (the table resolves MEMORY to a subcommand, or fails on arity).
pub(super) const MEMORY: Exec = Exec::Read {
    run: memory_help,
    scope: Scope::Keys,
};
pub(super) const MEMORY_USAGE: Exec = Exec::Read {
    run: memory_usage,
    scope: Scope::Keys,
};
pub(super) const MEMORY_HELP: Exec = Exec::Read {
    run: memory_help,
    scope: Scope::Keys,
};

/// Redis's `getIntFromObjectOrReply` without a message: an integer that fits 32 bits.
fn parse_i32(arg: &[u8]) -> Result<i32, Reply> {
    let n = parse_i64(arg).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
    i32::try_from(n).map_err(|_| Reply::error(errors::INT_OUT_OF_RANGE))
}

/// A database index given by a client, if it names one of `databases`.
fn db_index(n: i32, databases: usize) -> Option<u32> {
    u32::try_from(n).ok().filter(|&d| (d as usize) < databases)
}

fn rename(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, false)
}

fn renamenx(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    rename_generic(ctx, args, true)
}

/// Redis's `renameGenericCommand`: the value (with its TTL and access field) changes key.
fn rename_generic(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&args[1], &args[2]);
    let done = if nx { Reply::Int(1) } else { Reply::OK };
    if ctx.get(src).is_none() {
        return Reply::error(errors::NO_SUCH_KEY);
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::OK };
    }
    if ctx.get(dst).is_some() && nx {
        return Reply::Int(0);
    }
    let db = ctx.db();
    let Some(e) = ctx.take_in(db, src) else {
        return Reply::error(errors::NO_SUCH_KEY);
    };
    ctx.insert_in(db, e.rekey(dst));
    done
}

struct CopyOpts {
    replace: bool,
    /// The DB option's value, unchecked against the number of databases.
    db: Option<i32>,
}

/// COPY's options, checked in order as Redis does: a DB index out of range (when `databases`
/// is known) is refused before any later option is looked at.
fn parse_copy(args: &[Bytes], databases: Option<usize>) -> Result<CopyOpts, Reply> {
    let mut o = CopyOpts {
        replace: false,
        db: None,
    };
    let mut j = 3;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if args[j].eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            let n = parse_i32(&args[j + 1])?;
            // The index is checked here, in order, as Redis's selectDb does; the bound is the
            // node's, so `check` cannot know it: a negative index is always out of range.
            if n < 0 || databases.is_some_and(|d| n as usize >= d) {
                return Err(Reply::error(errors::INVALID_DB));
            }
            o.db = Some(n);
            j += 1;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    Ok(o)
}

fn copy_check(args: &[Bytes]) -> Result<(), Reply> {
    // The number of databases is not known here: with a DB option, apply decides, so that an
    // out-of-range index is reported before a later syntax error, as in Redis.
    match parse_copy(args, None) {
        Err(e) if !args.iter().any(|a| a.eq_ignore_ascii_case(b"db")) => Err(e),
        _ => Ok(()),
    }
}

fn copy_shards(set: &mut ShardSet<'_>, db: u32, args: &[Bytes]) {
    set.add_key(db, &args[1]);
    let target = parse_copy(args, Some(set.databases()))
        .ok()
        .and_then(|o| o.db)
        .and_then(|n| db_index(n, set.databases()))
        .unwrap_or(db);
    set.add_key(target, &args[2]);
}

fn copy(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let o = match parse_copy(args, Some(ctx.databases())) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let db = ctx.db();
    let target = match o.db {
        None => db,
        Some(n) => match db_index(n, ctx.databases()) {
            Some(t) => t,
            None => return Reply::error(errors::INVALID_DB),
        },
    };
    let (src, dst) = (&args[1], &args[2]);
    if target == db && src == dst {
        return Reply::error(errors::SAME_OBJECT);
    }
    let copied = match ctx.get(src) {
        None => return Reply::Int(0),
        Some(e) => e.duplicate(dst, e.deadline_ms()),
    };
    if ctx.get_in(target, dst).is_some() && !o.replace {
        return Reply::Int(0);
    }
    ctx.insert_in(target, copied);
    Reply::Int(1)
}

fn move_check(args: &[Bytes]) -> Result<(), Reply> {
    match parse_i32(&args[2])? {
        n if n < 0 => Err(Reply::error(errors::INVALID_DB)),
        _ => Ok(()),
    }
}

fn move_shards(set: &mut ShardSet<'_>, db: u32, args: &[Bytes]) {
    set.add_key(db, &args[1]);
    if let Some(target) = parse_i32(&args[2])
        .ok()
        .and_then(|n| db_index(n, set.databases()))
    {
        set.add_key(target, &args[1]);
    }
}

fn move_(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let n = match parse_i32(&args[2]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let Some(target) = db_index(n, ctx.databases()) else {
        return Reply::error(errors::INVALID_DB);
    };
    let db = ctx.db();
    if target == db {
        return Reply::error(errors::SAME_OBJECT);
    }
    let key = &args[1];
    if ctx.get(key).is_none() {
        return Reply::Int(0);
    }
    if ctx.get_in(target, key).is_some() {
        return Reply::Int(0);
    }
    match ctx.take_in(db, key) {
        Some(e) => {
            ctx.insert_in(target, e);
            Reply::Int(1)
        }
        None => Reply::Int(0),
    }
}

/// SWAPDB's indices: with a message, `getIntFromObjectOrReply` uses it for every failure.
fn parse_swapdb(args: &[Bytes]) -> Result<(i32, i32), Reply> {
    let a = parse_i32(&args[1]).map_err(|_| Reply::error(errors::INVALID_FIRST_DB))?;
    let b = parse_i32(&args[2]).map_err(|_| Reply::error(errors::INVALID_SECOND_DB))?;
    Ok((a, b))
}

fn swapdb_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_swapdb(args).map(|_| ())
}

fn swapdb(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (a, b) = match parse_swapdb(args) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let n = ctx.databases();
    match (db_index(a, n), db_index(b, n)) {
        (Some(a), Some(b)) => {
            ctx.swap_dbs(a, b);
            Reply::OK
        }
        _ => Reply::error(errors::INVALID_DB),
    }
}

fn object_encoding(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    ctx.peek(&args[2]).map_or(Reply::Nil, |e| {
        Reply::Bulk(Bytes::from_static(e.encoding().as_bytes()))
    })
}

fn object_refcount(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    ctx.peek(&args[2]).map_or(Reply::Nil, |e| {
        Reply::Int(e.refcount(ctx.store().shares_integers()))
    })
}

fn object_idletime(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let Some(e) = ctx.peek(&args[2]) else {
        return Reply::Nil;
    };
    if ctx.access_policy().is_lfu() {
        return Reply::error(errors::LFU_SELECTED);
    }
    let field = e.lru().load(std::sync::atomic::Ordering::Relaxed);
    Reply::Int((lru::idle_ms(field, ctx.now_ms()) / 1000) as i64)
}

fn object_freq(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let Some(e) = ctx.peek(&args[2]) else {
        return Reply::Nil;
    };
    let AccessPolicy::Lfu { decay_minutes, .. } = ctx.access_policy() else {
        return Reply::error(errors::LFU_NOT_SELECTED);
    };
    let field = e.lru().load(std::sync::atomic::Ordering::Relaxed);
    Reply::Int(i64::from(lru::lfu_counter(
        field,
        ctx.now_ms(),
        decay_minutes,
    )))
}

const OBJECT_HELP_LINES: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

fn object_help(_: &ReadCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Array(
        OBJECT_HELP_LINES
            .iter()
            .map(|l| Reply::Status((*l).into()))
            .collect(),
    )
}

/// MEMORY USAGE key [SAMPLES count]: options are checked before the key is looked up, as in
/// Redis (a negative count is a syntax error, 0 means all); the key's access is not recorded.
fn memory_usage(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let mut j = 3;
    while j < args.len() {
        if !args[j].eq_ignore_ascii_case(b"samples") || j + 1 >= args.len() {
            return Reply::error(errors::SYNTAX);
        }
        match parse_i64(&args[j + 1]) {
            None => return Reply::error(errors::NOT_INTEGER),
            Some(n) if n < 0 => return Reply::error(errors::SYNTAX),
            Some(_) => {}
        }
        j += 2;
    }
    ctx.peek(&args[2])
        .map_or(Reply::Nil, |e| Reply::Int(entry_bytes(e) as i64))
}

const MEMORY_HELP_LINES: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn memory_help(_: &ReadCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Array(
        MEMORY_HELP_LINES
            .iter()
            .map(|l| Reply::Status((*l).into()))
            .collect(),
    )
}
