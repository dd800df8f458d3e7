//! What HSCAN, SSCAN (and ZSCAN, SCAN) share: the cursor and options parsing of Redis's
//! `parseScanCursorOrReply` and `scanGenericCommand`, the loop over a table's buckets, the
//! MATCH filter and the reply's shape.
//!
//! Guarantee (Redis's): a full iteration returns every element present from its start to its
//! end at least once, whatever the writes in between, because the cursor walks buckets in
//! reverse-binary order (`store::Table::scan`). A packed container (listpack, intset) is
//! returned whole with cursor 0, as Redis does.
//!
//! Not here: the element types (the family files turn elements into replies).

use bytes::Bytes;

use super::parse_i64;
use crate::errors;
use crate::glob::glob_match;
use crate::reply::Reply;

/// Parsed SCAN options.
pub(super) struct ScanOpts<'a> {
    /// COUNT, 10 by default.
    pub count: usize,
    /// MATCH, `None` when absent or exactly `*` (which matches everything).
    pub pattern: Option<&'a [u8]>,
}

/// `strtoul(s, &end, 10)` as Redis checks it: no leading space, everything consumed (up to a
/// NUL, as in a C string), no overflow. A leading `-` wraps, as strtoul does; "" is 0.
pub(super) fn parse_cursor(arg: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::error(errors::INVALID_CURSOR);
    let s = &arg[..arg.iter().position(|&b| b == 0).unwrap_or(arg.len())];
    if s.is_empty() {
        return Ok(0);
    }
    if s[0].is_ascii_whitespace() || s[0] == 0x0b {
        return Err(invalid());
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// The options after the cursor: `MATCH pattern`, `COUNT n` (n >= 1), and `TYPE t` only when
/// `allow_type` (SCAN itself; its value is returned).
pub(super) fn parse_options(
    opts: &[Bytes],
    allow_type: bool,
) -> Result<(ScanOpts<'_>, Option<&[u8]>), Reply> {
    let mut out = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut kind = None;
    let mut i = 0;
    while i < opts.len() {
        let more = opts.len() - i >= 2;
        let opt = &opts[i];
        if opt.eq_ignore_ascii_case(b"count") && more {
            let n = parse_i64(&opts[i + 1]).ok_or_else(|| Reply::error(errors::NOT_INTEGER))?;
            if n < 1 {
                return Err(Reply::error(errors::SYNTAX));
            }
            out.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") && more {
            let p = &opts[i + 1][..];
            out.pattern = (p != b"*").then_some(p);
        } else if opt.eq_ignore_ascii_case(b"type") && allow_type && more {
            kind = Some(&opts[i + 1][..]);
        } else {
            return Err(Reply::error(errors::SYNTAX));
        }
        i += 2;
    }
    Ok((out, kind))
}

impl ScanOpts<'_> {
    /// Whether `s` passes the MATCH filter.
    pub fn keeps(&self, s: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, s, false))
    }
}

/// Call `step(cursor)` (one bucket; it returns the next cursor and pushes what it found) until
/// the iteration ends, `target` elements were collected (`collected()`), or `10 * target`
/// buckets were visited (a sparse table must not block for long): Redis's loop.
pub(super) fn scan_loop(
    mut cursor: u64,
    target: usize,
    mut step: impl FnMut(u64) -> u64,
    collected: impl Fn() -> usize,
) -> u64 {
    let mut max_iterations = target.saturating_mul(10);
    loop {
        cursor = step(cursor);
        if cursor == 0 || max_iterations == 0 || collected() >= target {
            return cursor;
        }
        max_iterations -= 1;
    }
}

/// `[cursor, [elements...]]`.
pub(super) fn reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_parses_like_strtoul_as_redis_checks_it() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"007"), Ok(7));
        assert_eq!(parse_cursor(b"+5"), Ok(5));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"5\0junk"), Ok(5));
        for bad in [
            &b" 1"[..],
            b"1 ",
            b"x",
            b"-",
            b"+",
            b"18446744073709551616",
            b"1.0",
        ] {
            assert_eq!(
                parse_cursor(bad),
                Err(Reply::error(errors::INVALID_CURSOR)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn options_parse_like_scan_generic_command() {
        let b = |v: &[&str]| -> Vec<Bytes> {
            v.iter()
                .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                .collect()
        };
        let args = b(&["MATCH", "a*", "count", "3"]);
        let (o, t) = parse_options(&args, false).unwrap();
        assert_eq!((o.count, o.pattern, t), (3, Some(&b"a*"[..]), None));
        let args = b(&["match", "*"]);
        assert_eq!(parse_options(&args, false).unwrap().0.pattern, None);
        for (bad, err) in [
            (vec!["COUNT", "0"], errors::SYNTAX),
            (vec!["COUNT", "x"], errors::NOT_INTEGER),
            (vec!["COUNT"], errors::SYNTAX),
            (vec!["TYPE", "string"], errors::SYNTAX),
            (vec!["FOO", "1"], errors::SYNTAX),
        ] {
            let args = b(&bad);
            assert_eq!(parse_options(&args, false).err(), Some(Reply::error(err)));
        }
        let args = b(&["TYPE", "hash"]);
        assert_eq!(parse_options(&args, true).unwrap().1, Some(&b"hash"[..]));
    }
}
