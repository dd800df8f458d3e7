//! Sorted set commands: ZADD ZINCRBY ZREM ZSCORE ZMSCORE ZCARD ZCOUNT ZLEXCOUNT ZRANGE
//! ZRANGEBYSCORE ZREVRANGE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX ZRANGESTORE ZRANK
//! ZREVRANK ZPOPMIN ZPOPMAX ZMPOP ZUNION ZINTER ZINTERCARD ZDIFF ZUNIONSTORE ZINTERSTORE
//! ZDIFFSTORE ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX ZRANDMEMBER ZSCAN, and the
//! blocking BZPOPMIN BZPOPMAX BZMPOP (Redis 7.0's src/t_zset.c).
//!
//! Numbers are parsed as Redis parses them, with glibc's `strtod` reproduced here (`strtod`):
//! a score, an increment or a weight must be the whole argument (`getDoubleFromObject`: no
//! leading space, no NaN, no overflow or underflow to zero), a range bound only has to be
//! consumed up to a NUL (`zslParseRange`: leading space, `1e400` and even an empty string
//! pass). Scores are replied as `Reply::Double` (RESP2: `%.17g` bulk strings).
//!
//! Argument errors come in Redis's order. Most are found before the key is looked up, and
//! the writes' `check` refuses those on the receiving node; ZUNION/ZINTER/ZDIFF look their keys
//! up (WRONGTYPE) before they parse WEIGHTS and AGGREGATE, so their STORE forms check only
//! numkeys there.
//!
//! Results that become keys (ZRANGESTORE, Z*STORE) are built as new sorted sets: a listpack
//! when they have at most 128 members of at most 64 bytes, as Redis's conversions end up.
//!
//! Blocking pops: as the list ones (see `lists`): the pop when a key has data, otherwise
//! Redis's timeout reply, `Reply::NilArray`; `bzpopmin_keys` and `bzmpop_keys` describe the
//! wait.
//!
//! Not here: the skiplist and listpack (`store::zsets`).

use std::cmp::Ordering;
use std::collections::HashMap;

use bytes::Bytes;

use super::hashes::random_positions;
use super::lists::{nothing_to_pop, parse_mpop, parse_timeout, rank_range, Blocking};
use super::scan::{self, ScanOpts};
use super::strings::no_check;
use super::{item_reply, parse_i64, wrong_type, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::{format_double, Reply};
use crate::store::{Entry, IntBuf, Item, Kind, LexBound, LexRange, ScoreRange, SetRef, ZSetRef};

pub(super) const ZADD: Exec = Exec::Write {
    check: zadd_check,
    apply: zadd,
    scope: Scope::Keys,
};
pub(super) const ZINCRBY: Exec = Exec::Write {
    check: zincrby_check,
    apply: zincrby,
    scope: Scope::Keys,
};
pub(super) const ZREM: Exec = Exec::Write {
    check: no_check,
    apply: zrem,
    scope: Scope::Keys,
};
pub(super) const ZSCORE: Exec = Exec::Read {
    run: zscore,
    scope: Scope::Keys,
};
pub(super) const ZMSCORE: Exec = Exec::Read {
    run: zmscore,
    scope: Scope::Keys,
};
pub(super) const ZCARD: Exec = Exec::Read {
    run: zcard,
    scope: Scope::Keys,
};
pub(super) const ZCOUNT: Exec = Exec::Read {
    run: zcount,
    scope: Scope::Keys,
};
pub(super) const ZLEXCOUNT: Exec = Exec::Read {
    run: zlexcount,
    scope: Scope::Keys,
};
pub(super) const ZRANGE: Exec = Exec::Read {
    run: zrange,
    scope: Scope::Keys,
};
pub(super) const ZRANGEBYSCORE: Exec = Exec::Read {
    run: zrangebyscore,
    scope: Scope::Keys,
};
pub(super) const ZREVRANGEBYSCORE: Exec = Exec::Read {
    run: zrevrangebyscore,
    scope: Scope::Keys,
};
pub(super) const ZREVRANGE: Exec = Exec::Read {
    run: zrevrange,
    scope: Scope::Keys,
};
pub(super) const ZRANGEBYLEX: Exec = Exec::Read {
    run: zrangebylex,
    scope: Scope::Keys,
};
pub(super) const ZREVRANGEBYLEX: Exec = Exec::Read {
    run: zrevrangebylex,
    scope: Scope::Keys,
};
pub(super) const ZRANGESTORE: Exec = Exec::Write {
    check: zrangestore_check,
    apply: zrangestore,
    scope: Scope::Keys,
};
pub(super) const ZRANK: Exec = Exec::Read {
    run: zrank,
    scope: Scope::Keys,
};
pub(super) const ZREVRANK: Exec = Exec::Read {
    run: zrevrank,
    scope: Scope::Keys,
};
pub(super) const ZPOPMIN: Exec = Exec::Write {
    check: zpop_check,
    apply: zpopmin,
    scope: Scope::Keys,
};
pub(super) const ZPOPMAX: Exec = Exec::Write {
    check: zpop_check,
    apply: zpopmax,
    scope: Scope::Keys,
};
pub(super) const ZMPOP: Exec = Exec::Write {
    check: zmpop_check,
    apply: zmpop,
    scope: Scope::Keys,
};
pub(super) const BZPOPMIN: Exec = Exec::Write {
    check: bzpop_check,
    apply: bzpopmin,
    scope: Scope::Keys,
};
pub(super) const BZPOPMAX: Exec = Exec::Write {
    check: bzpop_check,
    apply: bzpopmax,
    scope: Scope::Keys,
};
pub(super) const BZMPOP: Exec = Exec::Write {
    check: bzmpop_check,
    apply: bzmpop,
    scope: Scope::Keys,
};
pub(super) const ZUNION: Exec = Exec::Read {
    run: zunion,
    scope: Scope::Keys,
};
pub(super) const ZINTER: Exec = Exec::Read {
    run: zinter,
    scope: Scope::Keys,
};
pub(super) const ZINTERCARD: Exec = Exec::Read {
    run: zintercard,
    scope: Scope::Keys,
};
pub(super) const ZDIFF: Exec = Exec::Read {
    run: zdiff,
    scope: Scope::Keys,
};
pub(super) const ZUNIONSTORE: Exec = Exec::Write {
    check: store_check,
    apply: zunionstore,
    scope: Scope::Keys,
};
pub(super) const ZINTERSTORE: Exec = Exec::Write {
    check: store_check,
    apply: zinterstore,
    scope: Scope::Keys,
};
pub(super) const ZDIFFSTORE: Exec = Exec::Write {
    check: store_check,
    apply: zdiffstore,
    scope: Scope::Keys,
};
pub(super) const ZREMRANGEBYRANK: Exec = Exec::Write {
    check: zremrangebyrank_check,
    apply: zremrangebyrank,
    scope: Scope::Keys,
};
pub(super) const ZREMRANGEBYSCORE: Exec = Exec::Write {
    check: zremrangebyscore_check,
    apply: zremrangebyscore,
    scope: Scope::Keys,
};
pub(super) const ZREMRANGEBYLEX: Exec = Exec::Write {
    check: zremrangebylex_check,
    apply: zremrangebylex,
    scope: Scope::Keys,
};
pub(super) const ZRANDMEMBER: Exec = Exec::Read {
    run: zrandmember,
    scope: Scope::Keys,
};
pub(super) const ZSCAN: Exec = Exec::Read {
    run: zscan,
    scope: Scope::Keys,
};

// --- Numbers ---------------------------------------------------------------------------

/// What `strtod` read.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Strtod {
    value: f64,
    /// Bytes consumed; 0 when nothing was converted (`endptr == nptr`).
    end: usize,
    /// `errno == ERANGE`: overflow to infinity or underflow to zero.
    range_error: bool,
}

/// C's `isspace` in the "C" locale.
fn c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn starts_with_ci(s: &[u8], word: &[u8]) -> bool {
    s.len() >= word.len() && s[..word.len()].eq_ignore_ascii_case(word)
}

/// glibc's `strtod` on `s` (which holds no NUL): leading space, a sign, then `inf[inity]`,
/// `nan[(chars)]`, a hexadecimal float or a decimal one, correctly rounded.
fn strtod(s: &[u8]) -> Strtod {
    let none = Strtod {
        value: 0.0,
        end: 0,
        range_error: false,
    };
    let mut i = s.iter().take_while(|&&b| c_space(b)).count();
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let sign = |v: f64| if neg { -v } else { v };
    let rest = &s[i..];
    if starts_with_ci(rest, b"inf") {
        let n = if starts_with_ci(rest, b"infinity") {
            8
        } else {
            3
        };
        return Strtod {
            value: sign(f64::INFINITY),
            end: i + n,
            range_error: false,
        };
    }
    if starts_with_ci(rest, b"nan") {
        let mut n = 3;
        if rest.get(3) == Some(&b'(') {
            let close = rest[4..]
                .iter()
                .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'));
            if let Some(k) = close {
                if rest[4 + k] == b')' {
                    n = 4 + k + 1;
                }
            }
        }
        return Strtod {
            value: f64::NAN,
            end: i + n,
            range_error: false,
        };
    }
    let hexdigit = |k: usize| rest.get(k).is_some_and(u8::is_ascii_hexdigit);
    if rest.len() > 2
        && rest[0] == b'0'
        && (rest[1] | 0x20) == b'x'
        && (hexdigit(2) || (rest[2] == b'.' && hexdigit(3)))
    {
        let (value, n, range_error) = strtod_hex(&rest[2..]);
        return Strtod {
            value: sign(value),
            end: i + 2 + n,
            range_error,
        };
    }
    // Decimal: digits [. digits] (at least one digit), then an optional exponent.
    let mut j = 0;
    let mut nonzero = false;
    let mut digits = 0;
    while j < rest.len() && rest[j].is_ascii_digit() {
        nonzero |= rest[j] != b'0';
        digits += 1;
        j += 1;
    }
    if j < rest.len() && rest[j] == b'.' {
        j += 1;
        while j < rest.len() && rest[j].is_ascii_digit() {
            nonzero |= rest[j] != b'0';
            digits += 1;
            j += 1;
        }
    }
    if digits == 0 {
        return none;
    }
    if j < rest.len() && (rest[j] | 0x20) == b'e' {
        let mut k = j + 1;
        if matches!(rest.get(k), Some(b'+' | b'-')) {
            k += 1;
        }
        if rest.get(k).is_some_and(u8::is_ascii_digit) {
            while k < rest.len() && rest[k].is_ascii_digit() {
                k += 1;
            }
            j = k;
        }
    }
    // The prefix is ASCII in Rust's float grammar (which also takes "5." and ".5").
    let text = std::str::from_utf8(&rest[..j]).unwrap_or("0");
    let value: f64 = text.parse().unwrap_or(0.0);
    Strtod {
        value: sign(value),
        end: i + j,
        range_error: value.is_infinite() || (value == 0.0 && nonzero),
    }
}

/// The hexadecimal float after "0x": (magnitude, bytes consumed, range error), correctly
/// rounded to nearest even, subnormals included.
fn strtod_hex(s: &[u8]) -> (f64, usize, bool) {
    let hex = |b: u8| (b as char).to_digit(16).map(u64::from);
    // The value is mant * 2^exp2, plus something nonzero below when `sticky`.
    let mut mant: u64 = 0;
    let mut exp2: i64 = 0;
    let mut sticky = false;
    let mut i = 0;
    let mut take = |d: u64, frac: bool, mant: &mut u64, exp2: &mut i64| {
        if *mant >> 60 == 0 {
            *mant = *mant * 16 + d;
            if frac {
                *exp2 -= 4;
            }
        } else {
            sticky |= d != 0;
            if !frac {
                *exp2 += 4;
            }
        }
    };
    while let Some(d) = s.get(i).and_then(|&b| hex(b)) {
        take(d, false, &mut mant, &mut exp2);
        i += 1;
    }
    if s.get(i) == Some(&b'.') {
        i += 1;
        while let Some(d) = s.get(i).and_then(|&b| hex(b)) {
            take(d, true, &mut mant, &mut exp2);
            i += 1;
        }
    }
    if s.get(i).is_some_and(|&b| (b | 0x20) == b'p') {
        let mut k = i + 1;
        let eneg = match s.get(k) {
            Some(b'-') => {
                k += 1;
                true
            }
            Some(b'+') => {
                k += 1;
                false
            }
            _ => false,
        };
        if s.get(k).is_some_and(u8::is_ascii_digit) {
            let mut e: i64 = 0;
            while k < s.len() && s[k].is_ascii_digit() {
                e = (e * 10 + i64::from(s[k] - b'0')).min(1 << 40);
                k += 1;
            }
            exp2 += if eneg { -e } else { e };
            i = k;
        }
    }
    if mant == 0 {
        return (0.0, i, false);
    }
    let lz = i64::from(mant.leading_zeros());
    let mant = mant << lz;
    let exp2 = exp2 - lz;
    // Leading bit's exponent; the result's unit in the last place.
    let top = exp2 + 63;
    let ulp = if top >= -1022 { top - 52 } else { -1074 };
    let drop = ulp - exp2;
    let (q, half, below) = if drop >= 128 {
        (0u64, false, true)
    } else {
        let wide = u128::from(mant) << 64;
        let shift = (drop + 64) as u32;
        let q = if shift >= 128 {
            0
        } else {
            (wide >> shift) as u64
        };
        let half = (1..=128).contains(&shift) && (wide >> (shift - 1)) & 1 == 1;
        let mask = if shift >= 129 {
            u128::MAX
        } else if shift >= 1 {
            (1u128 << (shift - 1)) - 1
        } else {
            0
        };
        (q, half, wide & mask != 0 || sticky)
    };
    let mut q = q;
    if half && (below || q & 1 == 1) {
        q += 1;
    }
    let mut top = top;
    if top >= -1022 {
        if q == 1 << 53 {
            q >>= 1;
            top += 1;
        }
        if top > 1023 {
            return (f64::INFINITY, i, true);
        }
        let bits = (((top + 1023) as u64) << 52) | (q & ((1 << 52) - 1));
        (f64::from_bits(bits), i, false)
    } else {
        // Subnormal (or rounded up to the smallest normal, whose bits are the same).
        (f64::from_bits(q), i, q == 0)
    }
}

/// Redis's `getDoubleFromObject`: the whole argument is a double; no leading space, not NaN,
/// no overflow nor underflow to zero.
fn parse_double(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || c_space(arg[0]) || arg.contains(&0) {
        return None;
    }
    let r = strtod(arg);
    let out_of_range = r.range_error && (r.value.is_infinite() || r.value == 0.0);
    (r.end == arg.len() && !out_of_range && !r.value.is_nan()).then_some(r.value)
}

/// One end of `zslParseRange`: `(` makes it exclusive; the rest, as a C string, must be read
/// whole by `strtod` (an empty rest reads as 0) and not be NaN.
fn parse_score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let c = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    let (rest, ex) = match c.first() {
        Some(b'(') => (&c[1..], true),
        _ => (c, false),
    };
    let r = strtod(rest);
    (r.end == rest.len() && !r.value.is_nan()).then_some((r.value, ex))
}

fn parse_score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reply> {
    match (parse_score_bound(min), parse_score_bound(max)) {
        (Some((min, minex)), Some((max, maxex))) => Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        }),
        _ => Err(Reply::error(errors::MIN_MAX_NOT_FLOAT)),
    }
}

/// `zslParseLexRangeItem`: `+`, `-` (alone), `(x` or `[x`.
fn parse_lex_bound(arg: &[u8]) -> Option<LexBound<'_>> {
    match arg.first() {
        // A C string: `+` followed by a NUL is `+`.
        Some(b'+') if arg.get(1).is_none_or(|&b| b == 0) => Some(LexBound::PosInf),
        Some(b'-') if arg.get(1).is_none_or(|&b| b == 0) => Some(LexBound::NegInf),
        Some(b'(') => Some(LexBound::Excl(&arg[1..])),
        Some(b'[') => Some(LexBound::Incl(&arg[1..])),
        _ => None,
    }
}

fn parse_lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> Result<LexRange<'a>, Reply> {
    match (parse_lex_bound(min), parse_lex_bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(Reply::error(errors::MIN_MAX_NOT_LEX)),
    }
}

fn int_arg(arg: &[u8]) -> Result<i64, Reply> {
    parse_i64(arg).ok_or_else(|| Reply::error(errors::NOT_INTEGER))
}

/// The text a listpack holds for a score: an integer when Redis's `double2ll` takes it (whole
/// and within +-2^62), else `%.17g`. ZSCAN of a listpack returns this text.
fn packed_score_text(s: f64) -> String {
    const LIMIT: f64 = 4_611_686_018_427_387_904.0;
    if (-LIMIT..=LIMIT).contains(&s) && (s as i64) as f64 == s {
        (s as i64).to_string()
    } else {
        format_double(s)
    }
}

// --- Lookups and replies ---------------------------------------------------------------

fn as_zset(e: Option<&Entry>) -> Result<Option<ZSetRef<'_>>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.as_zset().map(Some).ok_or_else(wrong_type),
    }
}

/// Members with scores: pairs with WITHSCORES (RESP3 nests them), members alone otherwise.
fn members_reply<'a>(items: impl Iterator<Item = (Item<'a>, f64)>, withscores: bool) -> Reply {
    if withscores {
        Reply::Pairs(
            items
                .map(|(m, s)| (item_reply(m), Reply::Double(s)))
                .collect(),
        )
    } else {
        Reply::Array(items.map(|(m, _)| item_reply(m)).collect())
    }
}

fn owned_reply(items: Vec<(Vec<u8>, f64)>, withscores: bool) -> Reply {
    members_reply(items.iter().map(|(m, s)| (Item::Bytes(m), *s)), withscores)
}

/// Replace `dst` by a new sorted set of `items` (no TTL), or delete it when there are none.
/// Replies with the size.
fn store_zset(ctx: &mut WriteCtx<'_, '_>, dst: &[u8], items: &[(Vec<u8>, f64)]) -> Reply {
    ctx.remove(dst);
    if items.is_empty() {
        return Reply::Int(0);
    }
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut e = match ctx.get_or_create(dst, Kind::ZSet) {
        Ok(e) => e,
        Err(r) => return r,
    };
    if let Some(mut z) = e.zset_mut() {
        z.reserve(items.len(), longest);
        for (m, s) in items {
            z.insert(m, *s);
        }
    }
    Reply::Int(items.len() as i64)
}

/// Redis's `zzlIsInLexRange` / `zslIsInLexRange`, which every lex operation asks first: the
/// last member must reach the minimum and the first the maximum. Only meaningful when all
/// scores are equal (as Redis documents), but with mixed scores it decides what Redis answers
/// for a listpack, so raftis asks it too.
fn lex_reachable(z: ZSetRef<'_>, r: &LexRange<'_>) -> bool {
    let (Some((first, _)), Some((last, _))) = (z.iter().next(), z.from_rank(0, true).next()) else {
        return false;
    };
    let (mut a, mut b) = (IntBuf::default(), IntBuf::default());
    !r.is_empty() && r.gte_min(last.as_bytes(&mut a)) && r.lte_max(first.as_bytes(&mut b))
}

// --- ZADD, ZINCRBY, ZREM -----------------------------------------------------------------

/// ZADD's (score, member) pairs.
type Pairs<'a> = Vec<(f64, &'a Bytes)>;

#[derive(Clone, Copy, Default)]
struct ZaddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ZADD's (and ZINCRBY's) options and (score, member) pairs, errors in Redis's order.
fn parse_zadd(args: &[Bytes], incr: bool) -> Result<(ZaddFlags, Pairs<'_>), Reply> {
    let mut f = ZaddFlags {
        incr,
        ..ZaddFlags::default()
    };
    let mut i = 2;
    while i < args.len() {
        let o = &args[i][..];
        let flag = if o.eq_ignore_ascii_case(b"nx") {
            &mut f.nx
        } else if o.eq_ignore_ascii_case(b"xx") {
            &mut f.xx
        } else if o.eq_ignore_ascii_case(b"ch") {
            &mut f.ch
        } else if o.eq_ignore_ascii_case(b"incr") {
            &mut f.incr
        } else if o.eq_ignore_ascii_case(b"gt") {
            &mut f.gt
        } else if o.eq_ignore_ascii_case(b"lt") {
            &mut f.lt
        } else {
            break;
        };
        *flag = true;
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || rest.len() % 2 == 1 {
        return Err(Reply::error(errors::SYNTAX));
    }
    if f.nx && f.xx {
        return Err(Reply::error(errors::ZADD_XX_NX));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(Reply::error(errors::ZADD_GT_LT_NX));
    }
    if f.incr && rest.len() > 2 {
        return Err(Reply::error(errors::ZADD_INCR_PAIRS));
    }
    let pairs = rest
        .chunks_exact(2)
        .map(|p| {
            parse_double(&p[0])
                .map(|s| (s, &p[1]))
                .ok_or_else(|| Reply::error(errors::NOT_FLOAT))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((f, pairs))
}

fn zadd_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_zadd(args, false).map(|_| ())
}

fn zincrby_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_zadd(args, true).map(|_| ())
}

fn zadd(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, false)
}

fn zincrby(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    zadd_generic(ctx, args, true)
}

fn zadd_generic(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], incr: bool) -> Reply {
    let (f, pairs) = match parse_zadd(args, incr) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let key = &args[1];
    let exists = match ctx.get(key).map(Entry::kind) {
        None => false,
        Some(Kind::ZSet) => true,
        Some(_) => return wrong_type(),
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    if exists || !f.xx {
        let mut e = match ctx.get_or_create(key, Kind::ZSet) {
            Ok(e) => e,
            Err(r) => return r,
        };
        let Some(mut z) = e.zset_mut() else {
            return wrong_type();
        };
        if !exists {
            // Redis sizes a new set by its first member alone.
            z.reserve(0, pairs[0].1.len());
        }
        for &(score, member) in &pairs {
            match z.as_ref().score(member) {
                Some(cur) => {
                    if f.nx {
                        continue;
                    }
                    let new = if f.incr { score + cur } else { score };
                    if new.is_nan() {
                        return Reply::error(errors::SCORE_NAN);
                    }
                    if (f.lt && new >= cur) || (f.gt && new <= cur) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    // -0 and 0 are the same score (C's ==): not an update.
                    if new != cur {
                        z.insert(member, new);
                        updated += 1;
                    }
                }
                None => {
                    if f.xx {
                        continue;
                    }
                    z.insert(member, score);
                    added += 1;
                    processed += 1;
                    last = score;
                }
            }
        }
    }
    ctx.remove_if_empty(key);
    if f.incr {
        if processed > 0 {
            Reply::Double(last)
        } else {
            Reply::Nil
        }
    } else {
        Reply::Int(if f.ch { added + updated } else { added })
    }
}

fn zrem(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let key = &args[1];
    let removed = {
        let Some(mut e) = ctx.get_mut(key) else {
            return Reply::Int(0);
        };
        let Some(mut z) = e.zset_mut() else {
            return wrong_type();
        };
        let mut removed = 0;
        for m in &args[2..] {
            if z.remove(m).is_some() {
                removed += 1;
            }
            if z.is_empty() {
                break;
            }
        }
        removed
    };
    ctx.remove_if_empty(key);
    Reply::Int(removed)
}

// --- Reads of one set --------------------------------------------------------------------

fn zscore(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(z) => z
            .and_then(|z| z.score(&args[2]))
            .map_or(Reply::Nil, Reply::Double),
    }
}

fn zmscore(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(z) => Reply::Array(
            args[2..]
                .iter()
                .map(|m| z.and_then(|z| z.score(m)).map_or(Reply::Nil, Reply::Double))
                .collect(),
        ),
    }
}

fn zcard(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(z) => Reply::Int(z.map_or(0, |z| z.len() as i64)),
    }
}

fn zcount(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let r = match parse_score_range(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(z) => Reply::Int(z.map_or(0, |z| z.count_by_score(r) as i64)),
    }
}

fn zlexcount(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let r = match parse_lex_range(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(None) => Reply::Int(0),
        Ok(Some(z)) if !lex_reachable(z, &r) => Reply::Int(0),
        // A listpack is counted as Redis walks it (the skiplist's count is by rank).
        Ok(Some(z)) if z.is_packed() => Reply::Int(z.by_lex(r, false).count() as i64),
        Ok(Some(z)) => Reply::Int(z.count_by_lex(r) as i64),
    }
}

fn zrank(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    rank_generic(ctx, args, true)
}

fn rank_generic(ctx: &ReadCtx<'_>, args: &[Bytes], rev: bool) -> Reply {
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(z) => z
            .and_then(|z| z.rank(&args[2], rev))
            .map_or(Reply::Nil, |(r, _)| Reply::Int(r as i64)),
    }
}

// --- ZRANGE and friends ------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeType {
    Auto,
    Rank,
    Score,
    Lex,
}

enum By<'a> {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange<'a>),
}

/// A parsed ZRANGE-family request.
struct RangeReq<'a> {
    by: By<'a>,
    rev: bool,
    offset: i64,
    /// -1: no limit (as Redis, any negative limit takes everything).
    limit: i64,
    withscores: bool,
}

/// Redis's `zrangeGenericCommand` parsing: the key at `key_idx`, min and max after it, then
/// options. `rangetype` and `rev` are fixed by the older commands (ZRANGEBYSCORE, ...).
fn parse_range(
    args: &[Bytes],
    key_idx: usize,
    store: bool,
    mut rangetype: RangeType,
    mut rev: Option<bool>,
) -> Result<RangeReq<'_>, Reply> {
    let (mut minidx, mut maxidx) = (key_idx + 1, key_idx + 2);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = key_idx + 3;
    while j < args.len() {
        let a = &args[j][..];
        let left = args.len() - j - 1;
        if !store && a.eq_ignore_ascii_case(b"withscores") {
            withscores = true;
        } else if a.eq_ignore_ascii_case(b"limit") && left >= 2 {
            offset = int_arg(&args[j + 1])?;
            limit = int_arg(&args[j + 2])?;
            j += 2;
        } else if rev.is_none() && a.eq_ignore_ascii_case(b"rev") {
            rev = Some(true);
        } else if rangetype == RangeType::Auto && a.eq_ignore_ascii_case(b"bylex") {
            rangetype = RangeType::Lex;
        } else if rangetype == RangeType::Auto && a.eq_ignore_ascii_case(b"byscore") {
            rangetype = RangeType::Score;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if rangetype == RangeType::Auto {
        rangetype = RangeType::Rank;
    }
    if limit != -1 && rangetype == RangeType::Rank {
        return Err(Reply::error(errors::LIMIT_NEEDS_BY));
    }
    if withscores && rangetype == RangeType::Lex {
        return Err(Reply::error(errors::WITHSCORES_WITH_BYLEX));
    }
    if rev && rangetype != RangeType::Rank {
        std::mem::swap(&mut minidx, &mut maxidx);
    }
    let by = match rangetype {
        RangeType::Score => By::Score(parse_score_range(&args[minidx], &args[maxidx])?),
        RangeType::Lex => By::Lex(parse_lex_range(&args[minidx], &args[maxidx])?),
        _ => By::Rank(int_arg(&args[minidx])?, int_arg(&args[maxidx])?),
    };
    Ok(RangeReq {
        by,
        rev,
        offset,
        limit,
        withscores,
    })
}

/// The members a range request selects, in reply order.
fn range_items<'a>(z: ZSetRef<'a>, req: &RangeReq<'a>) -> Vec<(Item<'a>, f64)> {
    let (iter, skip) = match req.by {
        By::Rank(start, end) => {
            return match rank_range(start, end, z.len()) {
                None => Vec::new(),
                Some((s, e)) => z.from_rank(s, req.rev).take(e - s + 1).collect(),
            };
        }
        By::Score(r) => {
            if req.offset > 0 && req.offset as u64 >= z.len() as u64 {
                return Vec::new();
            }
            (z.by_score(r, req.rev), req.offset)
        }
        By::Lex(r) => {
            if !lex_reachable(z, &r) {
                return Vec::new();
            }
            (z.by_lex(r, req.rev), req.offset)
        }
    };
    // A negative offset skips everything in Redis's loop (`while (ln && offset--)`).
    let Ok(skip) = usize::try_from(skip) else {
        return Vec::new();
    };
    let take = usize::try_from(req.limit).unwrap_or(usize::MAX);
    iter.skip(skip).take(take).collect()
}

fn range_read(ctx: &ReadCtx<'_>, args: &[Bytes], t: RangeType, rev: Option<bool>) -> Reply {
    let req = match parse_range(args, 1, false, t, rev) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match as_zset(ctx.get(&args[1])) {
        Err(e) => e,
        Ok(None) => Reply::Array(vec![]),
        Ok(Some(z)) => members_reply(range_items(z, &req).into_iter(), req.withscores),
    }
}

fn zrange(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    range_read(ctx, args, RangeType::Auto, None)
}

fn zrangebyscore(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    range_read(ctx, args, RangeType::Score, Some(false))
}

fn zrevrangebyscore(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    range_read(ctx, args, RangeType::Score, Some(true))
}

fn zrevrange(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    range_read(ctx, args, RangeType::Rank, Some(true))
}

fn zrangebylex(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    range_read(ctx, args, RangeType::Lex, Some(false))
}

fn zrevrangebylex(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    range_read(ctx, args, RangeType::Lex, Some(true))
}

fn zrangestore_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_range(args, 2, true, RangeType::Auto, None).map(|_| ())
}

fn zrangestore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let req = match parse_range(args, 2, true, RangeType::Auto, None) {
        Ok(r) => r,
        Err(e) => return e,
    };
    ctx.get(&args[2]);
    let items: Vec<(Vec<u8>, f64)> = match as_zset(ctx.peek_in(ctx.db(), &args[2])) {
        Err(e) => return e,
        Ok(None) => Vec::new(),
        Ok(Some(z)) => range_items(z, &req)
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect(),
    };
    store_zset(ctx, &args[1], &items)
}

// --- Pops ------------------------------------------------------------------------------

/// MIN (false) or MAX (true).
fn parse_minmax(arg: &[u8]) -> Result<bool, Reply> {
    if arg.eq_ignore_ascii_case(b"min") {
        Ok(false)
    } else if arg.eq_ignore_ascii_case(b"max") {
        Ok(true)
    } else {
        Err(Reply::error(errors::SYNTAX))
    }
}

/// The first of `keys` that holds a sorted set (`Ok(None)` if none exists); WRONGTYPE if one
/// before it holds another type.
fn first_zset<'k>(
    ctx: &mut WriteCtx<'_, '_>,
    keys: &'k [Bytes],
) -> Result<Option<&'k Bytes>, Reply> {
    for k in keys {
        match ctx.get(k).map(Entry::kind) {
            None => continue,
            Some(Kind::ZSet) => return Ok(Some(k)),
            Some(_) => return Err(wrong_type()),
        }
    }
    Ok(None)
}

/// Pop up to `n` members from the lowest scores (the highest when `max`); deletes the key when
/// it empties.
fn pop_n(ctx: &mut WriteCtx<'_, '_>, key: &[u8], max: bool, n: usize) -> Vec<(Vec<u8>, f64)> {
    let popped = match ctx.get_mut(key) {
        None => Vec::new(),
        Some(mut e) => match e.zset_mut() {
            None => Vec::new(),
            Some(mut z) => {
                let n = n.min(z.len());
                (0..n).filter_map(|_| z.pop(max)).collect()
            }
        },
    };
    ctx.remove_if_empty(key);
    popped
}

fn parse_zpop(args: &[Bytes]) -> Result<Option<usize>, Reply> {
    match args.len() {
        0..=2 => Ok(None),
        3 => parse_i64(&args[2])
            .filter(|&n| n >= 0)
            .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
            .ok_or_else(|| Reply::error(errors::MUST_BE_POSITIVE)),
        _ => Err(Reply::error(errors::SYNTAX)),
    }
}

fn zpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_zpop(args).map(|_| ())
}

fn zpopmin(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    zpop(ctx, args, false)
}

fn zpopmax(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    zpop(ctx, args, true)
}

fn zpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], max: bool) -> Reply {
    let count = match parse_zpop(args) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let key = match first_zset(ctx, &args[1..2]) {
        Err(e) => return e,
        Ok(None) => return Reply::Array(vec![]),
        Ok(Some(k)) => k,
    };
    if count == Some(0) {
        return Reply::Array(vec![]);
    }
    let popped = pop_n(ctx, key, max, count.unwrap_or(1));
    let pairs = popped
        .into_iter()
        .map(|(m, s)| (Reply::Bulk(Bytes::from(m)), Reply::Double(s)));
    match count {
        // RESP3 nests the pairs only when a count was given.
        Some(_) => Reply::Pairs(pairs.collect()),
        None => Reply::Array(pairs.flat_map(|(m, s)| [m, s]).collect()),
    }
}

/// ZMPOP/BZMPOP's pop: `[key, [[member, score]...]]`, `None` if no key holds a sorted set.
fn mpop(
    ctx: &mut WriteCtx<'_, '_>,
    keys: &[Bytes],
    max: bool,
    count: usize,
) -> Result<Option<Reply>, Reply> {
    let Some(key) = first_zset(ctx, keys)? else {
        return Ok(None);
    };
    let popped = pop_n(ctx, key, max, count);
    Ok(Some(Reply::Array(vec![
        Reply::Bulk(key.clone()),
        Reply::Array(
            popped
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(Bytes::from(m)), Reply::Double(s)]))
                .collect(),
        ),
    ])))
}

fn zmpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_mpop(args, 1, parse_minmax).map(|_| ())
}

fn zmpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (keys, max, count) = match parse_mpop(args, 1, parse_minmax) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match mpop(ctx, keys, max, count) {
        Ok(r) => r.unwrap_or(Reply::NilArray),
        Err(e) => e,
    }
}

/// BZPOPMIN/BZPOPMAX key... timeout.
pub fn bzpopmin_keys(args: &[Bytes]) -> Result<Blocking, Reply> {
    let (timeout, keys) = args
        .get(1..)
        .and_then(<[Bytes]>::split_last)
        .ok_or_else(|| Reply::error(errors::wrong_arity("bzpopmin")))?;
    Ok(Blocking {
        keys: keys.to_vec(),
        timeout_ms: parse_timeout(timeout)?,
    })
}

fn bzpop_check(args: &[Bytes]) -> Result<(), Reply> {
    bzpopmin_keys(args).map(|_| ())
}

fn bzpopmin(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, false)
}

fn bzpopmax(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    bzpop(ctx, args, true)
}

fn bzpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], max: bool) -> Reply {
    let b = match bzpopmin_keys(args) {
        Ok(b) => b,
        Err(e) => return e,
    };
    let key = match first_zset(ctx, &b.keys) {
        Err(e) => return e,
        Ok(None) => return nothing_to_pop(ctx, Reply::NilArray),
        Ok(Some(k)) => k.clone(),
    };
    let mut reply = vec![Reply::Bulk(key.clone())];
    for (m, s) in pop_n(ctx, &key, max, 1) {
        reply.push(Reply::Bulk(Bytes::from(m)));
        reply.push(Reply::Double(s));
    }
    Reply::Array(reply)
}

/// BZMPOP timeout numkeys key... MIN|MAX [COUNT count]: numkeys, MIN|MAX and COUNT are
/// checked before the timeout, as Redis does.
pub fn bzmpop_keys(args: &[Bytes]) -> Result<Blocking, Reply> {
    parse_bzmpop(args).map(|(keys, _, _, timeout_ms)| Blocking {
        keys: keys.to_vec(),
        timeout_ms,
    })
}

fn parse_bzmpop(args: &[Bytes]) -> Result<(&[Bytes], bool, usize, u64), Reply> {
    if args.len() < 5 {
        return Err(Reply::error(errors::wrong_arity("bzmpop")));
    }
    let (keys, max, count) = parse_mpop(args, 2, parse_minmax)?;
    Ok((keys, max, count, parse_timeout(&args[1])?))
}

fn bzmpop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_bzmpop(args).map(|_| ())
}

fn bzmpop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (keys, max, count, _) = match parse_bzmpop(args) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match mpop(ctx, keys, max, count) {
        Ok(Some(r)) => r,
        Ok(None) => nothing_to_pop(ctx, Reply::NilArray),
        Err(e) => e,
    }
}

// --- ZUNION, ZINTER, ZDIFF ---------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// One input: a sorted set, or a set whose members all score 1 (missing: empty).
#[derive(Clone, Copy)]
enum Input<'a> {
    Missing,
    Set(SetRef<'a>),
    ZSet(ZSetRef<'a>),
}

impl<'a> Input<'a> {
    fn of(e: Option<&'a Entry>) -> Result<Input<'a>, Reply> {
        let Some(e) = e else {
            return Ok(Input::Missing);
        };
        if let Some(z) = e.as_zset() {
            Ok(Input::ZSet(z))
        } else if let Some(s) = e.as_set() {
            Ok(Input::Set(s))
        } else {
            Err(wrong_type())
        }
    }

    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Set(s) => s.len(),
            Input::ZSet(z) => z.len(),
        }
    }

    fn members(&self) -> Vec<(Item<'a>, f64)> {
        match self {
            Input::Missing => Vec::new(),
            Input::Set(s) => s.iter().map(|m| (m, 1.0)).collect(),
            Input::ZSet(z) => z.iter().collect(),
        }
    }

    fn find(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Set(s) => s.contains(member).then_some(1.0),
            Input::ZSet(z) => z.score(member),
        }
    }
}

/// The parsed options after the keys.
struct SetOpOpts {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0: none).
    limit: usize,
}

/// numkeys at `idx`: at least 1, and no more than the arguments after it.
fn parse_numkeys(args: &[Bytes], idx: usize, name: &str) -> Result<usize, Reply> {
    let n = int_arg(&args[idx])?;
    if n < 1 {
        return Err(Reply::error(errors::at_least_one_key(name)));
    }
    if n > (args.len() - idx - 1) as i64 {
        return Err(Reply::error(errors::SYNTAX));
    }
    Ok(n as usize)
}

/// The options of `zunionInterDiffGenericCommand`, from `j` on.
fn parse_setop_opts(
    args: &[Bytes],
    mut j: usize,
    setnum: usize,
    op: SetOp,
    store: bool,
    card: bool,
) -> Result<SetOpOpts, Reply> {
    let mut o = SetOpOpts {
        weights: vec![1.0; setnum],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    while j < args.len() {
        let remaining = args.len() - j;
        let a = &args[j][..];
        if op != SetOp::Diff && !card && remaining > setnum && a.eq_ignore_ascii_case(b"weights") {
            for (i, w) in o.weights.iter_mut().enumerate() {
                *w = parse_double(&args[j + 1 + i])
                    .ok_or_else(|| Reply::error(errors::WEIGHT_NOT_FLOAT))?;
            }
            j += 1 + setnum;
        } else if op != SetOp::Diff
            && !card
            && remaining >= 2
            && a.eq_ignore_ascii_case(b"aggregate")
        {
            let v = &args[j + 1][..];
            o.aggregate = if v.eq_ignore_ascii_case(b"sum") {
                Aggregate::Sum
            } else if v.eq_ignore_ascii_case(b"min") {
                Aggregate::Min
            } else if v.eq_ignore_ascii_case(b"max") {
                Aggregate::Max
            } else {
                return Err(Reply::error(errors::SYNTAX));
            };
            j += 2;
        } else if !store && !card && a.eq_ignore_ascii_case(b"withscores") {
            o.withscores = true;
            j += 1;
        } else if card && remaining >= 2 && a.eq_ignore_ascii_case(b"limit") {
            let n = parse_i64(&args[j + 1])
                .filter(|&n| n >= 0)
                .ok_or_else(|| Reply::error(errors::LIMIT_NEGATIVE))?;
            o.limit = usize::try_from(n).unwrap_or(usize::MAX);
            j += 2;
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
    }
    Ok(o)
}

/// `zunionInterAggregate`: a sum that is NaN (inf + -inf) becomes 0; MIN and MAX keep the
/// target unless the value is strictly beyond it.
fn aggregate(target: &mut f64, val: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggregate::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

/// The result of a set operation, sorted as a sorted set (score, then member bytes); for
/// ZINTERCARD (`card`) only the count matters and at most `limit` members are found.
fn compute(inputs: &[Input<'_>], op: SetOp, o: &SetOpOpts, card: bool) -> Vec<(Vec<u8>, f64)> {
    let mut buf = IntBuf::default();
    // Redis sorts the inputs by size (a stable sort) except for DIFF, whose first is special;
    // the order decides which weight multiplies first, so sums round alike.
    let mut src: Vec<(Input<'_>, f64)> = inputs
        .iter()
        .copied()
        .zip(o.weights.iter().copied())
        .collect();
    if op != SetOp::Diff {
        src.sort_by_key(|(i, _)| i.len());
    }
    let mut out: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Inter => {
            let (first, w0) = src[0];
            for (m, s) in first.members() {
                let mb = m.as_bytes(&mut buf).to_vec();
                let mut score = w0 * s;
                if score.is_nan() {
                    score = 0.0;
                }
                let all = src[1..].iter().all(|(input, w)| match input.find(&mb) {
                    Some(v) => {
                        aggregate(&mut score, v * w, o.aggregate);
                        true
                    }
                    None => false,
                });
                if all {
                    out.push((mb, score));
                    if card && o.limit != 0 && out.len() >= o.limit {
                        break;
                    }
                }
            }
        }
        SetOp::Union => {
            let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
            for (input, w) in &src {
                for (m, s) in input.members() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mb = m.as_bytes(&mut buf);
                    match acc.get_mut(mb) {
                        Some(t) => aggregate(t, score, o.aggregate),
                        None => {
                            acc.insert(mb.to_vec(), score);
                        }
                    }
                }
            }
            out = acc.into_iter().collect();
        }
        SetOp::Diff => {
            let (first, _) = src[0];
            for (m, s) in first.members() {
                let mb = m.as_bytes(&mut buf).to_vec();
                if !src[1..].iter().any(|(input, _)| input.find(&mb).is_some()) {
                    out.push((mb, s));
                }
            }
        }
    }
    out.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    out
}

fn setop_read(ctx: &ReadCtx<'_>, args: &[Bytes], op: SetOp, name: &str, card: bool) -> Reply {
    let n = match parse_numkeys(args, 1, name) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let inputs = match args[2..2 + n]
        .iter()
        .map(|k| Input::of(ctx.get(k)))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(i) => i,
        Err(e) => return e,
    };
    let o = match parse_setop_opts(args, 2 + n, n, op, false, card) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let result = compute(&inputs, op, &o, card);
    if card {
        Reply::Int(result.len() as i64)
    } else {
        owned_reply(result, o.withscores)
    }
}

fn zunion(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    setop_read(ctx, args, SetOp::Union, "zunion", false)
}

fn zinter(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    setop_read(ctx, args, SetOp::Inter, "zinter", false)
}

fn zintercard(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    setop_read(ctx, args, SetOp::Inter, "zintercard", true)
}

fn zdiff(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    setop_read(ctx, args, SetOp::Diff, "zdiff", false)
}

/// The STORE forms: only numkeys can be refused before the keys are looked up.
fn store_check(args: &[Bytes]) -> Result<(), Reply> {
    let name = args[0].to_ascii_lowercase();
    parse_numkeys(args, 2, &String::from_utf8_lossy(&name)).map(|_| ())
}

fn setop_store(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes], op: SetOp, name: &str) -> Reply {
    let n = match parse_numkeys(args, 2, name) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let keys = &args[3..3 + n];
    // Record the reads' accesses first: the views below borrow the store immutably.
    for k in keys {
        ctx.get(k);
    }
    let db = ctx.db();
    let result = {
        let inputs = match keys
            .iter()
            .map(|k| Input::of(ctx.peek_in(db, k)))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(i) => i,
            Err(e) => return e,
        };
        let o = match parse_setop_opts(args, 3 + n, n, op, true, false) {
            Ok(o) => o,
            Err(e) => return e,
        };
        compute(&inputs, op, &o, false)
    };
    store_zset(ctx, &args[1], &result)
}

fn zunionstore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    setop_store(ctx, args, SetOp::Union, "zunionstore")
}

fn zinterstore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    setop_store(ctx, args, SetOp::Inter, "zinterstore")
}

fn zdiffstore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    setop_store(ctx, args, SetOp::Diff, "zdiffstore")
}

/// ZUNION/ZINTER/ZDIFF/ZINTERCARD's keys when the key spec cannot find them (Redis's
/// `zunionInterDiffGetKeys`, `genericGetKeys` with `atoi` of numkeys).
pub(super) fn setop_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    super::lists::numkeys_getkeys(args, 1, visit)
}

/// The STORE forms' keys (`zunionInterDiffStoreGetKeys`): the sources, then the destination.
pub(super) fn setop_store_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    let mut sources = Vec::new();
    if !super::lists::numkeys_getkeys(args, 2, &mut |i, f| sources.push((i, f))) {
        return false;
    }
    for (i, f) in sources {
        visit(i, f);
    }
    visit(1, 0);
    true
}

/// ZMPOP's keys (`zmpopGetKeys`) and BZMPOP's (`bzmpopGetKeys`).
pub(super) fn zmpop_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    super::lists::numkeys_getkeys(args, 1, visit)
}

pub(super) fn bzmpop_keys_proc(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    super::lists::numkeys_getkeys(args, 2, visit)
}

// --- ZREMRANGEBY* --------------------------------------------------------------------------

fn zremrangebyrank_check(args: &[Bytes]) -> Result<(), Reply> {
    int_arg(&args[2]).and(int_arg(&args[3])).map(|_| ())
}

fn zremrangebyscore_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_score_range(&args[2], &args[3]).map(|_| ())
}

fn zremrangebylex_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_lex_range(&args[2], &args[3]).map(|_| ())
}

fn zremrangebyrank(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    remove_range(ctx, &args[1], |z| match rank_range(start, end, z.len()) {
        None => 0,
        Some((s, e)) => z.remove_by_rank(s, e),
    })
}

fn zremrangebyscore(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_score_range(&args[2], &args[3]) {
        Ok(r) => remove_range(ctx, &args[1], |z| z.remove_by_score(r)),
        Err(e) => e,
    }
}

fn zremrangebylex(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match parse_lex_range(&args[2], &args[3]) {
        Ok(r) => remove_range(ctx, &args[1], |z| {
            if lex_reachable(z.as_ref(), &r) {
                z.remove_by_lex(r)
            } else {
                0
            }
        }),
        Err(e) => e,
    }
}

fn remove_range(
    ctx: &mut WriteCtx<'_, '_>,
    key: &[u8],
    remove: impl FnOnce(&mut crate::store::ZSetMut<'_>) -> usize,
) -> Reply {
    let removed = {
        let Some(mut e) = ctx.get_mut(key) else {
            return Reply::Int(0);
        };
        let Some(mut z) = e.zset_mut() else {
            return wrong_type();
        };
        remove(&mut z)
    };
    ctx.remove_if_empty(key);
    Reply::Int(removed as i64)
}

// --- ZRANDMEMBER, ZSCAN --------------------------------------------------------------------

/// ZRANDMEMBER's count and WITHSCORES, checked before the key is looked up.
fn parse_randmember(args: &[Bytes]) -> Result<Option<(i64, bool)>, Reply> {
    if args.len() < 3 {
        return Ok(None);
    }
    let count = int_arg(&args[2])?;
    if count == i64::MIN {
        return Err(Reply::error(errors::COUNT_OUT_OF_RANGE));
    }
    let withscores = match &args[3..] {
        [] => false,
        [w] if w.eq_ignore_ascii_case(b"withscores") => true,
        _ => return Err(Reply::error(errors::SYNTAX)),
    };
    if withscores && !(-i64::MAX / 2..=i64::MAX / 2).contains(&count) {
        return Err(Reply::error(errors::VALUE_OUT_OF_RANGE));
    }
    Ok(Some((count, withscores)))
}

fn zrandmember(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let opts = match parse_randmember(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let z = match as_zset(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(z) => z,
    };
    let Some((count, withscores)) = opts else {
        return match z {
            None => Reply::Nil,
            Some(z) => {
                let i = ctx.random_below(z.len() as u64) as usize;
                z.from_rank(i, false)
                    .next()
                    .map_or(Reply::Nil, |(m, _)| item_reply(m))
            }
        };
    };
    let Some(z) = z else {
        return Reply::Array(vec![]);
    };
    let len = z.len();
    if count > 0 && count as u64 >= len as u64 {
        // All of them, in the order Redis's iterator walks a sorted set: from the highest.
        return members_reply(z.from_rank(0, true), withscores);
    }
    let picks = match random_positions(ctx, len, count) {
        Err(e) => return e,
        Ok(p) => p,
    };
    if z.is_packed() {
        // A listpack is reached by walking it: walk it once (at most 128 members).
        let all: Vec<(Item<'_>, f64)> = z.iter().collect();
        members_reply(picks.into_iter().map(|i| all[i]), withscores)
    } else {
        members_reply(
            picks
                .into_iter()
                .filter_map(|i| z.from_rank(i, false).next()),
            withscores,
        )
    }
}

fn zscan(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let cursor = match scan::parse_cursor(&args[2]) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let z = match as_zset(ctx.get(&args[1])) {
        Err(e) => return e,
        Ok(None) => return scan::reply(0, vec![]),
        Ok(Some(z)) => z,
    };
    match scan::parse_options(&args[3..], false) {
        Ok((opts, _)) => zscan_from(z, cursor, &opts),
        Err(e) => e,
    }
}

fn zscan_from(z: ZSetRef<'_>, cursor: u64, opts: &ScanOpts<'_>) -> Reply {
    // As Redis: a COUNT's worth of members and scores (counted as two each), then MATCH.
    let found = std::cell::RefCell::new(Vec::new());
    let next = if z.is_packed() {
        z.scan_step(0, |m, s| found.borrow_mut().push((m, s)))
    } else {
        scan::scan_loop(
            cursor,
            opts.count.saturating_mul(2),
            |c| z.scan_step(c, |m, s| found.borrow_mut().push((m, s))),
            || found.borrow().len() * 2,
        )
    };
    let mut buf = IntBuf::default();
    let mut items = Vec::new();
    for (m, s) in found.into_inner() {
        if opts.keeps(m.as_bytes(&mut buf)) {
            let text = if z.is_packed() {
                packed_score_text(s)
            } else {
                format_double(s)
            };
            items.push(item_reply(m));
            items.push(Reply::Bulk(Bytes::from(text)));
        }
    }
    scan::reply(next, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Option<f64> {
        parse_double(s.as_bytes())
    }

    #[test]
    fn scores_parse_like_get_double_from_object() {
        assert_eq!(d("1"), Some(1.0));
        assert_eq!(d("-2.5e3"), Some(-2500.0));
        assert_eq!(d(".5"), Some(0.5));
        assert_eq!(d("5."), Some(5.0));
        assert_eq!(d("+inf"), Some(f64::INFINITY));
        assert_eq!(d("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(d("0x10"), Some(16.0));
        assert_eq!(d("0x1.8p1"), Some(3.0));
        assert_eq!(d("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(d("1e-320"), Some(1e-320));
        assert_eq!(d("-0").map(f64::is_sign_negative), Some(true));
        for bad in [
            "",
            " 1",
            "1 ",
            "abc",
            "nan",
            "-nan",
            "1e",
            "0x",
            "1e400",
            "1e-400",
            "1_0",
            "1\0",
            "0x1p99999",
            "0x1p-1080",
        ] {
            assert_eq!(d(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hex_floats_round_to_nearest_even() {
        // 2^53 + 1 is a tie between 2^53 and 2^53 + 2: even wins.
        assert_eq!(d("0x20000000000001"), Some(9007199254740992.0));
        assert_eq!(d("0x20000000000003"), Some(9007199254740996.0));
        // A nonzero digit far below the tie breaks it upwards.
        assert_eq!(
            d("0x20000000000001000000000000001"),
            Some(d("0x20000000000002000000000000000").unwrap())
        );
        assert_eq!(d("0x1.fffffffffffff8p0"), Some(2.0));
        assert_eq!(d("0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(d("0x1.fffffffffffff8p1023"), None);
        assert_eq!(d("0x1p1023"), Some(8.98846567431158e307));
        assert_eq!(d("0x1p1024"), None);
        // Subnormal halfway cases.
        assert_eq!(d("0x1.8p-1074"), Some(f64::from_bits(2)));
        assert_eq!(d("0x1p-1075"), None);
        assert_eq!(d("0x1.0000001p-1075"), Some(f64::from_bits(1)));
    }

    #[test]
    fn range_bounds_parse_like_zsl_parse_range() {
        let b = |s: &[u8]| parse_score_bound(s);
        assert_eq!(b(b"1.5"), Some((1.5, false)));
        assert_eq!(b(b"(1.5"), Some((1.5, true)));
        assert_eq!(b(b"("), Some((0.0, true)));
        assert_eq!(b(b""), Some((0.0, false)));
        assert_eq!(b(b" 1"), Some((1.0, false)));
        assert_eq!(b(b"1e400"), Some((f64::INFINITY, false)));
        assert_eq!(b(b"1\x002"), Some((1.0, false)));
        assert_eq!(b(b"1 "), None);
        assert_eq!(b(b"nan"), None);
        assert_eq!(b(b"(nan"), None);
        assert_eq!(b(b"abc"), None);
        assert_eq!(parse_lex_bound(b"+"), Some(LexBound::PosInf));
        assert_eq!(parse_lex_bound(b"+\x00x"), Some(LexBound::PosInf));
        assert_eq!(parse_lex_bound(b"-x"), None);
        assert_eq!(parse_lex_bound(b"[a"), Some(LexBound::Incl(b"a")));
        assert_eq!(parse_lex_bound(b"("), Some(LexBound::Excl(b"")));
        assert_eq!(parse_lex_bound(b""), None);
        assert_eq!(parse_lex_bound(b"a"), None);
    }

    #[test]
    fn packed_scores_print_as_a_listpack_holds_them() {
        assert_eq!(packed_score_text(1e17), "100000000000000000");
        assert_eq!(packed_score_text(-0.0), "0");
        assert_eq!(
            packed_score_text(4611686018427387904.0),
            "4611686018427387904"
        );
        assert_eq!(
            packed_score_text(9223372036854775808.0),
            "9.2233720368547758e+18"
        );
        assert_eq!(packed_score_text(0.1), "0.10000000000000001");
        assert_eq!(packed_score_text(f64::INFINITY), "inf");
    }

    #[test]
    fn aggregate_turns_nan_sums_into_zero_and_keeps_ties() {
        let mut t = f64::INFINITY;
        aggregate(&mut t, f64::NEG_INFINITY, Aggregate::Sum);
        assert_eq!(t, 0.0);
        let mut t = 0.0;
        aggregate(&mut t, -0.0, Aggregate::Min);
        assert!(t.is_sign_positive());
        let mut t = 1.0;
        aggregate(&mut t, f64::NAN, Aggregate::Max);
        assert_eq!(t, 1.0);
    }
}
