//! Packed sequences of small strings and numbers: Redis's listpack entry encoding.
//!
//! A pack is a byte string of entries, each `encoding+data` followed by `backlen`, the length
//! of `encoding+data` written so it can be read from its last byte backwards; so a pack can be
//! walked in both directions. Small hashes, sorted sets and lists live in one pack each (in the
//! key's own allocation, see `value`), as Redis keeps them in one listpack: a few bytes of
//! overhead per element instead of a node and a pointer.
//!
//! Entry encodings (as listpack.c):
//! - `0xxxxxxx`: an integer 0..=127.
//! - `10llllll` + data: a string of up to 63 bytes.
//! - `110xxxxx yyyyyyyy`: a 13-bit signed integer.
//! - `1110llll llllllll` + data: a string of up to 4095 bytes.
//! - `0xF0` + u32 LE length + data: a longer string.
//! - `0xF1`/`0xF2`/`0xF3`/`0xF4`: a 16/24/32/64-bit signed integer, little endian.
//! - `0xF5` + f64 LE (raftis only): a sorted set's score that is not a small integer, so a
//!   score is read back without parsing text.
//! - `0xF6` + u64 LE length + data (raftis only): a string of 4 GiB or more.
//!
//! Invariants: a string is stored as an integer exactly when it is the canonical decimal form
//! of an i64 (`parse_i64` accepts it), so `Item::Int` and `Item::Bytes` never describe the same
//! string, and equality of items is equality of the strings they stand for. The layout of a pack
//! is a function of the sequence of operations applied to it (deterministic).
//!
//! Not here: what the entries mean (hash field/value pairs, sorted set member/score pairs,
//! list elements: see `hashes`, `zsets`, `lists`), nor where the pack is stored.

use bytes::Bytes;

/// One element of a pack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Item<'a> {
    Bytes(&'a [u8]),
    Int(i64),
    /// Only sorted set scores use this form.
    Float(f64),
}

/// Room for the decimal form of any i64, or the %.17g form of any f64.
pub type IntBuf = [u8; 32];

impl<'a> Item<'a> {
    /// The item for a string: an integer when the string is an i64's canonical form.
    pub fn of(s: &'a [u8]) -> Item<'a> {
        match parse_i64(s) {
            Some(n) => Item::Int(n),
            None => Item::Bytes(s),
        }
    }

    /// The string this item stands for, formatted into `buf` when it is a number.
    pub fn as_bytes<'b>(&'b self, buf: &'b mut IntBuf) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Item::Bytes(b) => b,
            Item::Int(n) => fmt_i64(*n, buf),
            Item::Float(f) => {
                let s = crate::reply::format_double(*f);
                let n = s.len().min(buf.len());
                buf[..n].copy_from_slice(&s.as_bytes()[..n]);
                &buf[..n]
            }
        }
    }

    /// An owned copy of the string.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Item::Bytes(b) => Bytes::copy_from_slice(b),
            Item::Int(n) => Bytes::from(n.to_string()),
            Item::Float(f) => Bytes::from(crate::reply::format_double(*f)),
        }
    }

    /// An owned copy as a vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut buf = IntBuf::default();
        self.as_bytes(&mut buf).to_vec()
    }

    /// Length of the string this item stands for (HSTRLEN).
    pub fn str_len(&self) -> usize {
        let mut buf = IntBuf::default();
        match self {
            Item::Bytes(b) => b.len(),
            _ => self.as_bytes(&mut buf).len(),
        }
    }

    /// The item as a number (a sorted set's score).
    pub fn as_f64(&self) -> f64 {
        match self {
            Item::Int(n) => *n as f64,
            Item::Float(f) => *f,
            // Scores are always written as numbers; a string here is a broken invariant, but
            // a best-effort parse keeps a read from failing.
            Item::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0),
        }
    }

    /// Whether this item stands for the string `s` (whose `Item::of` form is `needle`).
    #[inline]
    pub fn matches(&self, needle: &Item<'_>) -> bool {
        match (self, needle) {
            (Item::Bytes(a), Item::Bytes(b)) => a == b,
            (Item::Int(a), Item::Int(b)) => a == b,
            _ => false,
        }
    }

    /// Compare the strings two items stand for, as memcmp does (lexicographic order).
    pub fn cmp_bytes(&self, other: &[u8]) -> std::cmp::Ordering {
        let mut buf = IntBuf::default();
        self.as_bytes(&mut buf).cmp(other)
    }
}

/// Parse an integer exactly as Redis's `string2ll` (and listpack's `lpStringToInt64`):
/// optional `-`, no `+`, no spaces, no leading zeros (but "0"), not "-0", within i64.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// Decimal digits of `n` in `buf`, without allocating.
pub fn fmt_i64(n: i64, buf: &mut IntBuf) -> &[u8] {
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

const ENC_STR32: u8 = 0xF0;
const ENC_INT16: u8 = 0xF1;
const ENC_INT24: u8 = 0xF2;
const ENC_INT32: u8 = 0xF3;
const ENC_INT64: u8 = 0xF4;
const ENC_FLOAT: u8 = 0xF5;
const ENC_STR64: u8 = 0xF6;

/// Bytes the backlen of an entry of `l` bytes takes.
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Bytes of `encoding+data` for `item`.
fn body_len(item: &Item<'_>) -> usize {
    match *item {
        Item::Int(n) => match n {
            0..=127 => 1,
            -4096..=4095 => 2,
            -32768..=32767 => 3,
            -8388608..=8388607 => 4,
            -2147483648..=2147483647 => 5,
            _ => 9,
        },
        Item::Float(_) => 9,
        Item::Bytes(b) => {
            let l = b.len();
            l + match l {
                0..=63 => 1,
                64..=4095 => 2,
                _ if l <= u32::MAX as usize => 5,
                _ => 9,
            }
        }
    }
}

/// Bytes `item` takes in a pack, backlen included.
pub fn encoded_len(item: &Item<'_>) -> usize {
    let l = body_len(item);
    l + backlen_size(l)
}

/// Append `item`'s entry to `out`.
pub fn write(out: &mut Vec<u8>, item: &Item<'_>) {
    let start = out.len();
    match *item {
        Item::Int(n) => match n {
            0..=127 => out.push(n as u8),
            -4096..=4095 => {
                let u = (n as u16) & 0x1fff;
                out.push(0xC0 | (u >> 8) as u8);
                out.push(u as u8);
            }
            -32768..=32767 => {
                out.push(ENC_INT16);
                out.extend_from_slice(&(n as i16).to_le_bytes());
            }
            -8388608..=8388607 => {
                out.push(ENC_INT24);
                out.extend_from_slice(&(n as i32).to_le_bytes()[..3]);
            }
            -2147483648..=2147483647 => {
                out.push(ENC_INT32);
                out.extend_from_slice(&(n as i32).to_le_bytes());
            }
            _ => {
                out.push(ENC_INT64);
                out.extend_from_slice(&n.to_le_bytes());
            }
        },
        Item::Float(f) => {
            out.push(ENC_FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Item::Bytes(b) => {
            let l = b.len();
            if l <= 63 {
                out.push(0x80 | l as u8);
            } else if l <= 4095 {
                out.push(0xE0 | (l >> 8) as u8);
                out.push(l as u8);
            } else if let Ok(l32) = u32::try_from(l) {
                out.push(ENC_STR32);
                out.extend_from_slice(&l32.to_le_bytes());
            } else {
                out.push(ENC_STR64);
                out.extend_from_slice(&(l as u64).to_le_bytes());
            }
            out.extend_from_slice(b);
        }
    }
    let l = out.len() - start;
    // The backlen: 7 bits per byte, the low bits last, every byte but the first (leftmost)
    // flagged with the high bit, so it parses from its last byte backwards.
    let n = backlen_size(l);
    for i in (0..n).rev() {
        let bits = ((l >> (7 * i)) & 127) as u8;
        out.push(if i == n - 1 { bits } else { bits | 128 });
    }
    debug_assert_eq!(out.len() - start, encoded_len(item));
}

fn le(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// The entry at `pos` and the position just after it.
///
/// # Panics
/// If `pos` is not the start of an entry of `buf` (a broken invariant: packs are only written
/// by `write`).
pub fn read(buf: &[u8], pos: usize) -> (Item<'_>, usize) {
    let b0 = buf[pos];
    let (item, body) = if b0 < 0x80 {
        (Item::Int(i64::from(b0)), 1)
    } else if b0 & 0xC0 == 0x80 {
        let l = usize::from(b0 & 0x3f);
        (Item::Bytes(&buf[pos + 1..pos + 1 + l]), 1 + l)
    } else if b0 & 0xE0 == 0xC0 {
        let u = (u16::from(b0 & 0x1f) << 8) | u16::from(buf[pos + 1]);
        // Sign-extend 13 bits.
        let n = i64::from(((u << 3) as i16) >> 3);
        (Item::Int(n), 2)
    } else if b0 & 0xF0 == 0xE0 {
        let l = (usize::from(b0 & 0x0f) << 8) | usize::from(buf[pos + 1]);
        (Item::Bytes(&buf[pos + 2..pos + 2 + l]), 2 + l)
    } else {
        match b0 {
            ENC_STR32 => {
                let l = le(&buf[pos + 1..pos + 5]) as usize;
                (Item::Bytes(&buf[pos + 5..pos + 5 + l]), 5 + l)
            }
            ENC_STR64 => {
                let l = le(&buf[pos + 1..pos + 9]) as usize;
                (Item::Bytes(&buf[pos + 9..pos + 9 + l]), 9 + l)
            }
            ENC_INT16 => (
                Item::Int(i64::from(i16::from_le_bytes([buf[pos + 1], buf[pos + 2]]))),
                3,
            ),
            ENC_INT24 => {
                let u = le(&buf[pos + 1..pos + 4]) as u32;
                (Item::Int(i64::from(((u << 8) as i32) >> 8)), 4)
            }
            ENC_INT32 => (
                Item::Int(i64::from(le(&buf[pos + 1..pos + 5]) as u32 as i32)),
                5,
            ),
            ENC_INT64 => (Item::Int(le(&buf[pos + 1..pos + 9]) as i64), 9),
            ENC_FLOAT => (Item::Float(f64::from_bits(le(&buf[pos + 1..pos + 9]))), 9),
            other => panic!("corrupt pack: encoding byte {other:#x}"),
        }
    };
    (item, pos + body + backlen_size(body))
}

/// The start of the entry that ends at `end` (its successor's start, or the pack's length).
pub fn prev(buf: &[u8], end: usize) -> usize {
    let mut l = 0usize;
    let mut shift = 0;
    let mut p = end;
    loop {
        p -= 1;
        l |= usize::from(buf[p] & 127) << shift;
        shift += 7;
        if buf[p] & 128 == 0 {
            break;
        }
    }
    p - l
}

/// Entries from the front.
#[derive(Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Iter<'a> {
    pub fn new(buf: &'a [u8]) -> Iter<'a> {
        Iter { buf, pos: 0 }
    }

    /// Entries starting at byte `pos` (the start of an entry, or the end).
    pub fn at(buf: &'a [u8], pos: usize) -> Iter<'a> {
        Iter { buf, pos }
    }

    /// Byte offset of the next entry.
    pub fn pos(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Item<'a>;
    #[inline]
    fn next(&mut self) -> Option<Item<'a>> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let (item, next) = read(self.buf, self.pos);
        self.pos = next;
        Some(item)
    }
}

/// Entries from the back.
#[derive(Clone)]
pub struct RevIter<'a> {
    buf: &'a [u8],
    /// End of the next entry to return.
    end: usize,
}

impl<'a> RevIter<'a> {
    pub fn new(buf: &'a [u8]) -> RevIter<'a> {
        RevIter {
            buf,
            end: buf.len(),
        }
    }

    /// Entries ending at byte `end`, backwards.
    pub fn at(buf: &'a [u8], end: usize) -> RevIter<'a> {
        RevIter { buf, end }
    }

    /// Byte offset just after the next entry to return.
    pub fn end(&self) -> usize {
        self.end
    }
}

impl<'a> Iterator for RevIter<'a> {
    type Item = Item<'a>;
    #[inline]
    fn next(&mut self) -> Option<Item<'a>> {
        if self.end == 0 {
            return None;
        }
        let start = prev(self.buf, self.end);
        self.end = start;
        Some(read(self.buf, start).0)
    }
}

/// Number of entries (a walk: packs are small).
pub fn count(buf: &[u8]) -> usize {
    Iter::new(buf).count()
}

/// Byte offset of entry number `index` (or the end when `index` is the count).
pub fn offset_of(buf: &[u8], index: usize) -> Option<usize> {
    let mut it = Iter::new(buf);
    for _ in 0..index {
        it.next()?;
    }
    Some(it.pos())
}

/// The encoded entries of `items`, to splice into a pack.
pub fn encode_all<'i>(items: impl IntoIterator<Item = Item<'i>>) -> Vec<u8> {
    let mut out = Vec::new();
    for it in items {
        write(&mut out, &it);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(items: &[Item<'_>]) {
        let buf = encode_all(items.iter().copied());
        assert_eq!(
            buf.len(),
            items.iter().map(encoded_len).sum::<usize>(),
            "encoded_len disagrees with write"
        );
        let fwd: Vec<Item<'_>> = Iter::new(&buf).collect();
        assert_eq!(fwd, items);
        let mut back: Vec<Item<'_>> = RevIter::new(&buf).collect();
        back.reverse();
        assert_eq!(back, items);
    }

    #[test]
    fn every_encoding_reads_back_forwards_and_backwards() {
        let long63 = vec![b'x'; 63];
        let long64 = vec![b'y'; 64];
        let long4095 = vec![b'z'; 4095];
        let long4096 = vec![b'w'; 4096];
        let long20000 = vec![b'v'; 20000];
        let mut items = vec![
            Item::Bytes(b""),
            Item::Bytes(b"a"),
            Item::Bytes(&long63),
            Item::Bytes(&long64),
            Item::Bytes(&long4095),
            Item::Bytes(&long4096),
            Item::Bytes(&long20000),
            Item::Float(1.5),
            Item::Float(-0.0),
            Item::Float(f64::INFINITY),
        ];
        for n in [
            0,
            1,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MAX,
            i64::MIN,
        ] {
            items.push(Item::Int(n));
        }
        roundtrip(&items);
    }

    #[test]
    fn sizes_match_redis_listpack_entries() {
        // listpack.c: a 7-bit uint is 1+1 bytes, "field:1" 1+7+1, a 13-bit int 2+1.
        assert_eq!(encoded_len(&Item::Int(5)), 2);
        assert_eq!(encoded_len(&Item::Bytes(b"field:1")), 9);
        assert_eq!(encoded_len(&Item::Int(1000)), 3);
        assert_eq!(encoded_len(&Item::Int(100_000)), 5);
        assert_eq!(encoded_len(&Item::Bytes(&[0; 100])), 103);
    }

    #[test]
    fn strings_become_integers_only_in_canonical_form() {
        assert_eq!(Item::of(b"123"), Item::Int(123));
        assert_eq!(Item::of(b"-5"), Item::Int(-5));
        assert_eq!(Item::of(b"0"), Item::Int(0));
        for s in [
            &b"0123"[..],
            b"+1",
            b"-0",
            b" 1",
            b"1 ",
            b"",
            b"9223372036854775808",
            b"1.0",
        ] {
            assert_eq!(Item::of(s), Item::Bytes(s), "{s:?}");
        }
        assert_eq!(Item::of(b"-9223372036854775808"), Item::Int(i64::MIN));
        let mut buf = IntBuf::default();
        assert_eq!(
            Item::Int(i64::MIN).as_bytes(&mut buf),
            b"-9223372036854775808"
        );
        assert!(Item::Int(7).matches(&Item::of(b"7")));
        assert!(!Item::Bytes(b"07").matches(&Item::of(b"7")));
    }

    #[test]
    fn offsets_and_counts() {
        let items = [Item::Int(1), Item::Bytes(b"two"), Item::Int(3000)];
        let buf = encode_all(items);
        assert_eq!(count(&buf), 3);
        assert_eq!(offset_of(&buf, 0), Some(0));
        assert_eq!(offset_of(&buf, 1), Some(2));
        assert_eq!(offset_of(&buf, 3), Some(buf.len()));
        assert_eq!(offset_of(&buf, 4), None);
        assert_eq!(prev(&buf, buf.len()), offset_of(&buf, 2).unwrap());
    }
}
