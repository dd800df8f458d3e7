//! Bitmap commands (Redis's src/bitops.c): SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD
//! BITFIELD_RO.
//!
//! Bits are numbered from the most significant bit of the first byte, as Redis numbers them; a
//! missing key reads as an endless run of zero bits. Writes that reach past the end of a string
//! grow it in place with zero bytes (`EntryMut::str_raw_mut`), and the string is "raw" from then
//! on, as Redis's `dbUnshareStringValue` leaves it.
//!
//! As in `strings`, every write parses its arguments with one function used by `check` on the
//! receiving node and again by `apply` on every replica. The order of the checks is Redis 7.0's,
//! because it decides which error a bad command gets: BITCOUNT looks its key up before it reads
//! its range (a missing key is 0 whatever follows), BITPOS reads its bit argument first, and
//! BITFIELD parses every operation before it looks at the key.

use bytes::Bytes;

use super::strings::{c_str, opt_is, MAX_STRING_BYTES};
use super::{key, parse_i64, Exec, ReadCtx, Scope, WriteCtx};
use crate::errors;
use crate::reply::Reply;
use crate::store::Kind;

pub(super) const SETBIT: Exec = Exec::Write {
    check: setbit_check,
    apply: setbit,
    scope: Scope::Keys,
};
pub(super) const GETBIT: Exec = Exec::Read {
    run: getbit,
    scope: Scope::Keys,
};
pub(super) const BITCOUNT: Exec = Exec::Read {
    run: bitcount,
    scope: Scope::Keys,
};
pub(super) const BITPOS: Exec = Exec::Read {
    run: bitpos,
    scope: Scope::Keys,
};
pub(super) const BITOP: Exec = Exec::Write {
    check: bitop_check,
    apply: bitop,
    scope: Scope::Keys,
};
pub(super) const BITFIELD: Exec = Exec::Write {
    check: bitfield_check,
    apply: bitfield,
    scope: Scope::Keys,
};
pub(super) const BITFIELD_RO: Exec = Exec::Read {
    run: bitfield_ro,
    scope: Scope::Keys,
};

fn err(msg: &'static str) -> Reply {
    Reply::error(msg)
}

/// The string at a looked-up entry: `Ok(None)` for no key, WRONGTYPE for another type.
fn as_string(e: Option<&crate::store::Entry>) -> Result<Option<&[u8]>, Reply> {
    match e {
        None => Ok(None),
        Some(e) => e.as_str().map(Some).ok_or_else(|| err(errors::WRONGTYPE)),
    }
}

/// Redis's `getBitOffsetFromArgument`: a bit offset, not negative, whose byte lies below the
/// 512 MB limit. With `hash_bits` (BITFIELD), `#N` means N fields of that width; the product
/// wraps as Redis's C multiplication does on x86-64, and the range check then judges it.
fn parse_bit_offset(arg: &[u8], hash_bits: Option<u32>) -> Result<u64, Reply> {
    let (digits, unit) = match (arg.first(), hash_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let offset = parse_i64(digits)
        .map(|n| n.wrapping_mul(unit))
        .ok_or_else(|| err(errors::BIT_OFFSET))?;
    if offset < 0 || (offset >> 3) as u64 >= MAX_STRING_BYTES {
        return Err(err(errors::BIT_OFFSET));
    }
    Ok(offset as u64)
}

/// The bit at `offset` (0 past the end).
fn bit_at(s: &[u8], offset: u64) -> u64 {
    let byte = (offset >> 3) as usize;
    s.get(byte)
        .map_or(0, |b| u64::from(b >> (7 - (offset & 7))) & 1)
}

// --- SETBIT / GETBIT -------------------------------------------------------------------------

/// SETBIT's offset and bit: the offset first, then the bit (0 or 1).
fn parse_setbit(args: &[Bytes]) -> Result<(u64, bool), Reply> {
    let offset = parse_bit_offset(&args[2], None)?;
    match parse_i64(&args[3]) {
        Some(0) => Ok((offset, false)),
        Some(1) => Ok((offset, true)),
        _ => Err(err(errors::BIT_VALUE)),
    }
}

fn setbit_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_setbit(args).map(|_| ())
}

fn setbit(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (offset, on) = match parse_setbit(args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let byte = (offset >> 3) as usize;
    let mut e = match ctx.get_or_create(&args[1], Kind::String) {
        Ok(e) => e,
        Err(e) => return e,
    };
    // The offset check bounds the string to 512 MB.
    let Some(s) = e.str_raw_mut(byte + 1) else {
        return err(errors::WRONGTYPE);
    };
    let mask = 1u8 << (7 - (offset & 7));
    let old = s[byte] & mask != 0;
    if on {
        s[byte] |= mask;
    } else {
        s[byte] &= !mask;
    }
    Reply::Int(i64::from(old))
}

fn getbit(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let offset = match parse_bit_offset(&args[2], None) {
        Ok(o) => o,
        Err(e) => return e,
    };
    match as_string(ctx.get(&args[1])) {
        Ok(s) => Reply::Int(s.map_or(0, |s| bit_at(s, offset)) as i64),
        Err(e) => e,
    }
}

// --- BITCOUNT / BITPOS -----------------------------------------------------------------------

/// A range unit argument (BYTE or BIT): true for BIT.
fn parse_unit(arg: &[u8]) -> Result<bool, Reply> {
    if opt_is(arg, "bit") {
        Ok(true)
    } else if opt_is(arg, "byte") {
        Ok(false)
    } else {
        Err(err(errors::SYNTAX))
    }
}

/// A byte range of a string and the masks of the bits of its first and last byte that lie
/// outside a bit range (Redis's `first_byte_neg_mask`, `last_byte_neg_mask`).
struct Span {
    start: i64,
    end: i64,
    first_mask: u8,
    last_mask: u8,
}

/// Redis's range arithmetic shared by BITCOUNT and BITPOS: negative ends count from the end,
/// both are clamped into the string (`end` may stay -1 for an empty one), and a bit range is
/// turned into its bytes and edge masks when it is not empty.
fn span(start: i64, end: i64, strlen: i64, bit_unit: bool) -> Span {
    let totlen = if bit_unit { strlen << 3 } else { strlen };
    let mut start = if start < 0 { totlen + start } else { start }.max(0);
    let mut end = if end < 0 { totlen + end } else { end }.max(0);
    if end >= totlen {
        end = totlen - 1;
    }
    let (mut first_mask, mut last_mask) = (0u8, 0u8);
    if bit_unit && start <= end {
        first_mask = !((1u32 << (8 - (start & 7))) - 1) as u8;
        last_mask = ((1u32 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Span {
        start,
        end,
        first_mask,
        last_mask,
    }
}

fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n: u64 = chunks
        .by_ref()
        .map(|c| u64::from(u64::from_ne_bytes(c.try_into().expect("8 bytes")).count_ones()))
        .sum();
    n += chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>();
    n
}

fn bitcount(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let s = match as_string(ctx.get(&args[1])) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(0),
        Err(e) => return e,
    };
    let strlen = s.len() as i64;
    let sp = match args.len() {
        4 | 5 => {
            let (Some(start), Some(end)) = (parse_i64(&args[2]), parse_i64(&args[3])) else {
                return err(errors::NOT_INTEGER);
            };
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let bit_unit = match args.get(4).map(|a| parse_unit(a)) {
                Some(Err(e)) => return e,
                Some(Ok(b)) => b,
                None => false,
            };
            span(start, end, strlen, bit_unit)
        }
        2 => span(0, strlen - 1, strlen, false),
        _ => return err(errors::SYNTAX),
    };
    if sp.start > sp.end {
        return Reply::Int(0);
    }
    let (start, end) = (sp.start as usize, sp.end as usize);
    let mut n = popcount(&s[start..=end]);
    n -= u64::from((s[start] & sp.first_mask).count_ones());
    n -= u64::from((s[end] & sp.last_mask).count_ones());
    Reply::Int(n as i64)
}

/// Redis's `redisBitpos`: the position of the first bit equal to `bit` in `s`; when there is
/// none, -1 for a set bit and the bit just past the end for a clear one.
fn bitpos_bytes(s: &[u8], bit: bool) -> i64 {
    let skip = if bit { 0u8 } else { 0xff };
    let mut base = 0usize;
    let mut chunks = s.chunks_exact(8);
    for c in chunks.by_ref() {
        if c.iter().all(|&b| b == skip) {
            base += 8;
        } else {
            break;
        }
    }
    for (i, &b) in s[base..].iter().enumerate() {
        let b = if bit { b } else { !b };
        if b != 0 {
            return ((base + i) * 8 + b.leading_zeros() as usize) as i64;
        }
    }
    if bit {
        -1
    } else {
        (s.len() * 8) as i64
    }
}

fn bitpos(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let bit = match parse_i64(&args[2]) {
        None => return err(errors::NOT_INTEGER),
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return err(errors::BIT_ARG),
    };
    let s = match as_string(ctx.get(&args[1])) {
        Ok(Some(s)) => s,
        Ok(None) => return Reply::Int(if bit { -1 } else { 0 }),
        Err(e) => return e,
    };
    let strlen = s.len() as i64;
    let mut end_given = false;
    let sp = match args.len() {
        4..=6 => {
            let Some(start) = parse_i64(&args[3]) else {
                return err(errors::NOT_INTEGER);
            };
            let bit_unit = match args.get(5).map(|a| parse_unit(a)) {
                Some(Err(e)) => return e,
                Some(Ok(b)) => b,
                None => false,
            };
            let end = match args.get(4) {
                Some(a) => {
                    end_given = true;
                    match parse_i64(a) {
                        Some(e) => e,
                        None => return err(errors::NOT_INTEGER),
                    }
                }
                // Clamped to the last bit or byte by `span`.
                None if bit_unit => (strlen << 3) + 7,
                None => strlen - 1,
            };
            span(start, end, strlen, bit_unit)
        }
        3 => span(0, strlen - 1, strlen, false),
        _ => return err(errors::SYNTAX),
    };
    // An empty range holds neither a 0 nor a 1.
    if sp.start > sp.end {
        return Reply::Int(-1);
    }
    // Redis's walk: the masked first byte, the whole bytes, the masked last byte.
    let (mut start, end) = (sp.start as usize, sp.end as usize);
    let mut bytes = end - start + 1;
    let edge = |b: u8, mask: u8| if bit { b & !mask } else { b | mask };
    let pos = 'found: {
        if sp.first_mask != 0 {
            let mut b = edge(s[start], sp.first_mask);
            if sp.last_mask != 0 && bytes == 1 {
                b = edge(b, sp.last_mask);
            }
            let pos = bitpos_bytes(&[b], bit);
            if bytes == 1 || (pos != -1 && pos != 8) {
                break 'found pos;
            }
            start += 1;
            bytes -= 1;
        }
        let whole = bytes - usize::from(sp.last_mask != 0);
        if whole > 0 {
            let pos = bitpos_bytes(&s[start..start + whole], bit);
            if bytes == whole || (pos != -1 && pos != (whole as i64) << 3) {
                break 'found pos;
            }
            start += whole;
            bytes -= whole;
        }
        bitpos_bytes(&[edge(s[end], sp.last_mask)], bit)
    };
    // With an explicit end, the bits right of the range are not zero padding: no clear bit.
    if end_given && !bit && pos == (bytes as i64) << 3 {
        return Reply::Int(-1);
    }
    Reply::Int(if pos == -1 {
        -1
    } else {
        pos + ((start as i64) << 3)
    })
}

// --- BITOP -----------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn parse_bitop(args: &[Bytes]) -> Result<BitOp, Reply> {
    let op = [
        ("and", BitOp::And),
        ("or", BitOp::Or),
        ("xor", BitOp::Xor),
        ("not", BitOp::Not),
    ]
    .into_iter()
    .find_map(|(name, op)| opt_is(&args[1], name).then_some(op))
    .ok_or_else(|| err(errors::SYNTAX))?;
    if op == BitOp::Not && args.len() != 4 {
        return Err(err(errors::BITOP_NOT_ONE_KEY));
    }
    Ok(op)
}

fn bitop_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_bitop(args).map(|_| ())
}

fn bitop(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let op = match parse_bitop(args) {
        Ok(op) => op,
        Err(e) => return e,
    };
    // One pass per source: a missing key or a shorter string reads as zero bytes, so the
    // result so far is padded with zeros when a longer source comes (for AND the padding is
    // already the answer). The result is as long as the longest source.
    let mut res: Vec<u8> = Vec::new();
    for (i, k) in args[3..].iter().enumerate() {
        let src = match as_string(ctx.get(k)) {
            Ok(s) => s.unwrap_or_default(),
            Err(e) => return e,
        };
        if i == 0 {
            res.extend_from_slice(src);
            if op == BitOp::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        if src.len() > res.len() {
            res.resize(src.len(), 0);
        }
        let (head, tail) = res.split_at_mut(src.len());
        match op {
            BitOp::And => {
                head.iter_mut().zip(src).for_each(|(r, s)| *r &= s);
                tail.fill(0);
            }
            BitOp::Or => head.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
            BitOp::Xor => head.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            BitOp::Not => unreachable!("NOT has one source"),
        }
    }
    let dest = &args[2];
    if res.is_empty() {
        ctx.remove(dest);
        return Reply::Int(0);
    }
    // A new object in Redis (raw, no TTL), whatever the key held before.
    ctx.set_str_raw(dest, &res, 0);
    Reply::Int(res.len() as i64)
}

// --- BITFIELD --------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldCmd {
    Get,
    Set,
    Incrby,
}

struct FieldOp {
    cmd: FieldCmd,
    signed: bool,
    bits: u32,
    offset: u64,
    /// SET's value or INCRBY's increment.
    value: i64,
    overflow: Overflow,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63` (the width read as a C
/// string, up to a NUL).
fn parse_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err(errors::BITFIELD_TYPE)),
    };
    match parse_i64(c_str(&arg[1..])) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(err(errors::BITFIELD_TYPE)),
    }
}

/// The operations of a BITFIELD, each with the OVERFLOW mode in force where it appears, and
/// the highest bit a SET or INCRBY writes (`None` when there is none: a read-only BITFIELD).
fn parse_bitfield(args: &[Bytes]) -> Result<(Vec<FieldOp>, Option<u64>), Reply> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest: Option<u64> = None;
    let mut j = 2;
    while j < args.len() {
        let rest = args.len() - j - 1;
        let sub = &args[j];
        let cmd = if opt_is(sub, "get") && rest >= 2 {
            FieldCmd::Get
        } else if opt_is(sub, "set") && rest >= 3 {
            FieldCmd::Set
        } else if opt_is(sub, "incrby") && rest >= 3 {
            FieldCmd::Incrby
        } else if opt_is(sub, "overflow") && rest >= 1 {
            let mode = &args[j + 1];
            overflow = if opt_is(mode, "wrap") {
                Overflow::Wrap
            } else if opt_is(mode, "sat") {
                Overflow::Sat
            } else if opt_is(mode, "fail") {
                Overflow::Fail
            } else {
                return Err(err(errors::BITFIELD_OVERFLOW_TYPE));
            };
            j += 2;
            continue;
        } else {
            return Err(err(errors::SYNTAX));
        };
        let (signed, bits) = parse_type(&args[j + 1])?;
        let offset = parse_bit_offset(&args[j + 2], Some(bits))?;
        let mut value = 0;
        if cmd != FieldCmd::Get {
            let last = offset + u64::from(bits) - 1;
            highest = Some(highest.map_or(last, |h| h.max(last)));
            value = parse_i64(&args[j + 3]).ok_or_else(|| err(errors::NOT_INTEGER))?;
        }
        ops.push(FieldOp {
            cmd,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if cmd == FieldCmd::Get { 3 } else { 4 };
    }
    Ok((ops, highest))
}

/// BITFIELD's key flags (Redis's `bitfieldGetKeys`): read-only and an access when it only
/// GETs, else read-write; a malformed operation counts as a write.
pub(super) fn bitfield_keys(args: &[Bytes], visit: &mut dyn FnMut(usize, u32)) -> bool {
    let mut readonly = true;
    let mut i = 2;
    while i < args.len() {
        let rest = args.len() - i - 1;
        let a = &args[i];
        if opt_is(a, "get") && rest >= 2 {
            i += 2;
        } else if opt_is(a, "overflow") && rest >= 1 {
            i += 1;
        } else {
            // SET/INCRBY, or a syntax error: safer taken as a write.
            readonly = false;
            break;
        }
        i += 1;
    }
    visit(
        1,
        if readonly {
            key::RO | key::ACCESS
        } else {
            key::RW | key::ACCESS | key::UPDATE
        },
    );
    true
}

fn get_unsigned(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |v, j| (v << 1) | bit_at(s, offset + j))
}

fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(s, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

/// Write the low `bits` bits of `value` at `offset` (inside `s`).
fn set_bits(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for j in 0..u64::from(bits) {
        let on = value & (1 << (u64::from(bits) - 1 - j)) != 0;
        let o = offset + j;
        let mask = 1u8 << (7 - (o & 7));
        let b = &mut s[(o >> 3) as usize];
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves a `bits`-wide
/// unsigned field, and the value to store instead for WRAP and SAT (`None`: it fits).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX << bits);
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if mode == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        Some(if mode == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`, its wrapping comparisons included (they decide SAT's
/// side for a SET of a value far out of range).
fn signed_overflow(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if mode == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if mode == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

/// A GET's reply: the field read from `s`, zero past its end.
fn field_get(s: &[u8], op: &FieldOp) -> Reply {
    if op.signed {
        Reply::Int(get_signed(s, op.offset, op.bits))
    } else {
        Reply::Int(get_unsigned(s, op.offset, op.bits) as i64)
    }
}

/// A SET's or INCRBY's reply (the old value for SET, the new one for INCRBY, nil when FAIL
/// refused it), writing the field into `s`, which reaches the field's last bit.
fn field_write(s: &mut [u8], op: &FieldOp) -> Reply {
    let fail = op.overflow == Overflow::Fail;
    if op.signed {
        let old = get_signed(s, op.offset, op.bits);
        let (new, over, reply) = if op.cmd == FieldCmd::Incrby {
            let over = signed_overflow(old, op.value, op.bits, op.overflow);
            let new = over.unwrap_or(old.wrapping_add(op.value));
            (new, over.is_some(), new)
        } else {
            let over = signed_overflow(op.value, 0, op.bits, op.overflow);
            (over.unwrap_or(op.value), over.is_some(), old)
        };
        if over && fail {
            return Reply::Nil;
        }
        set_bits(s, op.offset, op.bits, new as u64);
        Reply::Int(reply)
    } else {
        let old = get_unsigned(s, op.offset, op.bits);
        let (new, over, reply) = if op.cmd == FieldCmd::Incrby {
            let over = unsigned_overflow(old, op.value, op.bits, op.overflow);
            let new = over.unwrap_or(old.wrapping_add(op.value as u64));
            (new, over.is_some(), new)
        } else {
            let value = op.value as u64;
            let over = unsigned_overflow(value, 0, op.bits, op.overflow);
            (over.unwrap_or(value), over.is_some(), old)
        };
        if over && fail {
            return Reply::Nil;
        }
        set_bits(s, op.offset, op.bits, new);
        Reply::Int(reply as i64)
    }
}

/// The replies of a BITFIELD that only GETs, from the string (`None`: no key).
fn read_fields(s: Option<&[u8]>, ops: &[FieldOp]) -> Reply {
    let s = s.unwrap_or_default();
    Reply::Array(ops.iter().map(|op| field_get(s, op)).collect())
}

fn bitfield_check(args: &[Bytes]) -> Result<(), Reply> {
    parse_bitfield(args).map(|_| ())
}

fn bitfield(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    let (ops, highest) = match parse_bitfield(args) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let Some(highest) = highest else {
        // Only GETs: a missing key is read as zeros and not created.
        return match as_string(ctx.get(&args[1])) {
            Ok(s) => read_fields(s, &ops),
            Err(e) => e,
        };
    };
    // The string is created or grown (with zeros) up to the highest bit written before any
    // operation runs, as Redis does, even when OVERFLOW FAIL then refuses every write.
    let mut e = match ctx.get_or_create(&args[1], Kind::String) {
        Ok(e) => e,
        Err(e) => return e,
    };
    // The offset check bounds the highest bit below 2^32 + 64.
    let Some(s) = e.str_raw_mut((highest >> 3) as usize + 1) else {
        return err(errors::WRONGTYPE);
    };
    Reply::Array(
        ops.iter()
            .map(|op| match op.cmd {
                FieldCmd::Get => field_get(s, op),
                FieldCmd::Set | FieldCmd::Incrby => field_write(s, op),
            })
            .collect(),
    )
}

fn bitfield_ro(ctx: &ReadCtx<'_>, args: &[Bytes]) -> Reply {
    let ops = match parse_bitfield(args) {
        Ok((_, Some(_))) => return err(errors::BITFIELD_RO_GET_ONLY),
        Ok((ops, None)) => ops,
        Err(e) => return e,
    };
    match as_string(ctx.get(&args[1])) {
        Ok(s) => read_fields(s, &ops),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitpos_bytes_finds_the_first_bit_or_the_end() {
        assert_eq!(bitpos_bytes(&[0, 0, 0, 0, 0, 0, 0, 0, 0x10], true), 67);
        assert_eq!(bitpos_bytes(&[0; 9], true), -1);
        assert_eq!(bitpos_bytes(&[0xff; 9], false), 72);
        assert_eq!(bitpos_bytes(&[0xff, 0xfe], false), 15);
        assert_eq!(bitpos_bytes(&[], false), 0);
    }

    #[test]
    fn fields_are_big_endian_across_bytes() {
        let mut s = [0u8; 3];
        set_bits(&mut s, 4, 12, 0xabc);
        assert_eq!(s, [0x0a, 0xbc, 0x00]);
        assert_eq!(get_unsigned(&s, 4, 12), 0xabc);
        assert_eq!(get_signed(&s, 4, 12), 0xabc - 0x1000);
        // Past the end reads as zeros.
        assert_eq!(get_unsigned(&s, 20, 8), 0);
    }

    #[test]
    fn overflow_modes_as_redis() {
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Wrap), Some(4));
        assert_eq!(unsigned_overflow(250, 10, 8, Overflow::Sat), Some(255));
        assert_eq!(unsigned_overflow(5, -10, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(5, -5, 8, Overflow::Sat), None);
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(-1000, 0, 8, Overflow::Sat), Some(-128));
        // Redis's wrapping comparison puts a SET of i64::MIN into i8 on the high side.
        assert_eq!(signed_overflow(i64::MIN, 0, 8, Overflow::Sat), Some(127));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Sat),
            Some(i64::MAX)
        );
    }
}
