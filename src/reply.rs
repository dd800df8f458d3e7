//! Replies as values, and their encoding in RESP2 and RESP3.
//!
//! Command handlers return a `Reply`; the connection encodes it for the protocol version the
//! client chose with HELLO. Apply produces replies on every replica, so a `Reply` must be cheap
//! to build and to drop when no client waits for it.
//!
//! Encoding matches redis-server 7.0 byte for byte (networking.c `addReply*`): RESP2 renders
//! the RESP3-only types as the older types Redis falls back to, doubles are formatted as
//! `%.17g` (see [`format_double`]), and a status or error line never contains CR or LF (each
//! becomes a space, as Redis maps them), so a reply can never break the framing.
//!
//! Encoding runs for every reply: it allocates nothing except growth of the output buffer
//! (numbers are formatted on the stack).
//!
//! Not here: RESP3 attributes and big numbers (Redis 7.0 sends them only for DEBUG PROTOCOL).

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// One reply, independent of the protocol version.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Simple string: `+OK`.
    Status(Cow<'static, str>),
    /// Error line without the leading `-` and trailing CRLF, e.g. `ERR syntax error`. Bytes,
    /// not text: Redis quotes a client's arguments in some errors exactly as they were sent.
    Error(Cow<'static, [u8]>),
    Int(i64),
    Bulk(Bytes),
    /// Null bulk string: RESP2 `$-1`, RESP3 `_`.
    Nil,
    /// Null array: RESP2 `*-1`, RESP3 `_`.
    NilArray,
    Array(Vec<Reply>),
    /// RESP3 map `%`; RESP2 flat array of key, value, key, value...
    Map(Vec<(Reply, Reply)>),
    /// RESP3 set `~`; RESP2 array.
    Set(Vec<Reply>),
    /// RESP3 array of two-element arrays; RESP2 flat array of first, second, first, second...
    /// (HRANDFIELD WITHVALUES, ZRANGE WITHSCORES).
    Pairs(Vec<(Reply, Reply)>),
    /// RESP3 double `,`; RESP2 bulk string formatted as Redis 7.0 does.
    Double(f64),
    /// RESP3 boolean `#t`/`#f`; RESP2 integer 1/0.
    Bool(bool),
    /// RESP3 verbatim string `=` with a three-letter format (`txt`); RESP2 bulk string.
    Verbatim(&'static str, Bytes),
    /// RESP3 push `>`; RESP2 array.
    Push(Vec<Reply>),
}

impl Reply {
    pub const OK: Reply = Reply::Status(Cow::Borrowed("OK"));

    pub fn error(msg: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(match msg.into() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        })
    }

    /// An error whose text may hold any bytes (a client's argument quoted in it).
    pub fn error_bytes(msg: Vec<u8>) -> Reply {
        Reply::Error(Cow::Owned(msg))
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

impl Reply {
    /// Appends this reply to `out` in RESP3 when `resp3`, else in RESP2.
    pub fn encode(&self, resp3: bool, out: &mut BytesMut) {
        match self {
            Reply::Status(text) => put_line(out, b'+', text.as_bytes()),
            Reply::Error(text) => put_line(out, b'-', text),
            Reply::Int(n) => put_int(out, b':', *n),
            Reply::Bulk(data) => put_bulk(out, data),
            Reply::Nil => out.put_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => put_aggregate(out, b'*', items, resp3),
            Reply::Set(items) => put_aggregate(out, if resp3 { b'~' } else { b'*' }, items, resp3),
            Reply::Push(items) => put_aggregate(out, if resp3 { b'>' } else { b'*' }, items, resp3),
            Reply::Map(pairs) => {
                if resp3 {
                    put_len(out, b'%', pairs.len());
                } else {
                    put_len(out, b'*', pairs.len().saturating_mul(2));
                }
                for (key, value) in pairs {
                    key.encode(resp3, out);
                    value.encode(resp3, out);
                }
            }
            Reply::Pairs(pairs) => {
                put_len(
                    out,
                    b'*',
                    if resp3 {
                        pairs.len()
                    } else {
                        pairs.len().saturating_mul(2)
                    },
                );
                for (first, second) in pairs {
                    if resp3 {
                        put_len(out, b'*', 2);
                    }
                    first.encode(resp3, out);
                    second.encode(resp3, out);
                }
            }
            Reply::Double(d) => {
                let text = DoubleText::new(*d);
                if resp3 {
                    out.reserve(text.as_bytes().len() + 3);
                    out.put_u8(b',');
                    out.put_slice(text.as_bytes());
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, text.as_bytes());
                }
            }
            Reply::Bool(b) => out.put_slice(match (resp3, b) {
                (true, true) => b"#t\r\n",
                (true, false) => b"#f\r\n",
                (false, true) => b":1\r\n",
                (false, false) => b":0\r\n",
            }),
            Reply::Verbatim(format, data) => {
                if resp3 {
                    let len = format.len() + 1 + data.len();
                    out.reserve(len + 26);
                    put_len(out, b'=', len);
                    out.put_slice(format.as_bytes());
                    out.put_u8(b':');
                    out.put_slice(data);
                    out.put_slice(b"\r\n");
                } else {
                    put_bulk(out, data);
                }
            }
        }
    }

    /// The encoded bytes in a fresh vector; for tests and one-off uses, not the reply path.
    pub fn encode_to_vec(&self, resp3: bool) -> Vec<u8> {
        let mut out = BytesMut::new();
        self.encode(resp3, &mut out);
        out.to_vec()
    }
}

/// Formats a double as Redis 7.0's `addReplyDouble` does: C's `"%.17g"` (17 significant
/// digits, exponent form when the exponent is < -4 or >= 17, trailing zeros dropped), with
/// `inf`, `-inf`, and glibc's `nan` / `-nan`.
///
/// Not for INCRBYFLOAT / HINCRBYFLOAT, whose results Redis formats from a long double with
/// `%.17Lf` and trailing zeros removed.
pub fn format_double(d: f64) -> String {
    String::from_utf8_lossy(DoubleText::new(d).as_bytes()).into_owned()
}

/// Longest `%.17g` output: `-1.2345678901234567e-308` is 24 bytes.
const DOUBLE_TEXT_CAPACITY: usize = 32;

/// `%.17g` text of a double, on the stack.
struct DoubleText {
    buf: [u8; DOUBLE_TEXT_CAPACITY],
    len: usize,
}

impl DoubleText {
    fn new(d: f64) -> DoubleText {
        let mut text = DoubleText {
            buf: [0; DOUBLE_TEXT_CAPACITY],
            len: 0,
        };
        if d.is_nan() {
            text.push(if d.is_sign_negative() {
                b"-nan"
            } else {
                b"nan"
            });
            return text;
        }
        if d.is_infinite() {
            text.push(if d > 0.0 { b"inf" } else { b"-inf" });
            return text;
        }
        // Rust's `{:.16e}` rounds exactly, ties to even, like glibc's printf: it yields the
        // same 17 significant digits and exponent as C's `%.16e`, which `%.17g` is defined by.
        let mut sci = DoubleText {
            buf: [0; DOUBLE_TEXT_CAPACITY],
            len: 0,
        };
        let written = write!(sci, "{d:.16e}");
        debug_assert!(
            written.is_ok(),
            "{{:.16e}} of a finite double fits 32 bytes"
        );
        let sci = sci.as_bytes();
        let (negative, sci) = match sci.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, sci),
        };
        // `sci` is `d.dddddddddddddddde<exp>`: 17 digits around the point, then the exponent.
        let mut digits = [b'0'; 17];
        if let (Some(&first), Some(rest)) = (sci.first(), sci.get(2..18)) {
            digits[0] = first;
            digits[1..].copy_from_slice(rest);
        }
        let exp = sci.get(19..).map_or(0, parse_exponent);
        let mut significant = digits.len();
        while significant > 1 && digits[significant - 1] == b'0' {
            significant -= 1;
        }
        if negative {
            text.push(b"-");
        }
        if (-4..17).contains(&exp) {
            if exp >= 0 {
                let int_len = exp as usize + 1;
                text.push(&digits[..int_len]);
                if significant > int_len {
                    text.push(b".");
                    text.push(&digits[int_len..significant]);
                }
            } else {
                text.push(b"0.");
                for _ in 0..(-exp - 1) {
                    text.push(b"0");
                }
                text.push(&digits[..significant]);
            }
        } else {
            text.push(&digits[..1]);
            if significant > 1 {
                text.push(b".");
                text.push(&digits[1..significant]);
            }
            text.push(if exp < 0 { b"e-" } else { b"e+" });
            let abs = exp.unsigned_abs();
            if abs < 10 {
                text.push(b"0");
            }
            let mut num = [0u8; 20];
            text.push(decimal(&mut num, u64::from(abs)));
        }
        text
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = (self.len + bytes.len()).min(DOUBLE_TEXT_CAPACITY);
        let n = end - self.len;
        self.buf[self.len..end].copy_from_slice(&bytes[..n]);
        self.len = end;
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.len + s.len() > DOUBLE_TEXT_CAPACITY {
            return Err(std::fmt::Error);
        }
        self.push(s.as_bytes());
        Ok(())
    }
}

fn parse_exponent(text: &[u8]) -> i32 {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    let magnitude = digits.iter().fold(0i32, |acc, &d| {
        acc.saturating_mul(10)
            .saturating_add(i32::from(d.wrapping_sub(b'0')))
    });
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// Writes `n` in decimal at the end of `buf` and returns the digits.
fn decimal(buf: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[start..];
        }
    }
}

/// `<prefix><n>\r\n`.
fn put_int(out: &mut BytesMut, prefix: u8, n: i64) {
    let mut buf = [0u8; 20];
    let digits = decimal(&mut buf, n.unsigned_abs());
    out.reserve(digits.len() + 4);
    out.put_u8(prefix);
    if n < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(digits);
    out.put_slice(b"\r\n");
}

/// `<prefix><len>\r\n`: an aggregate's element count or a bulk's length.
fn put_len(out: &mut BytesMut, prefix: u8, len: usize) {
    let mut buf = [0u8; 20];
    let digits = decimal(&mut buf, len as u64);
    out.reserve(digits.len() + 3);
    out.put_u8(prefix);
    out.put_slice(digits);
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 25);
    put_len(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

fn put_aggregate(out: &mut BytesMut, prefix: u8, items: &[Reply], resp3: bool) {
    put_len(out, prefix, items.len());
    for item in items {
        item.encode(resp3, out);
    }
}

/// `<prefix><text>\r\n`, with CR and LF in `text` turned into spaces.
fn put_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(reply: &Reply) -> (Vec<u8>, Vec<u8>) {
        (reply.encode_to_vec(false), reply.encode_to_vec(true))
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn status_and_error_lines() {
        assert_eq!(both(&Reply::OK), (b"+OK\r\n".to_vec(), b"+OK\r\n".to_vec()));
        let err = Reply::error("ERR syntax error");
        assert_eq!(
            both(&err),
            (
                b"-ERR syntax error\r\n".to_vec(),
                b"-ERR syntax error\r\n".to_vec()
            )
        );
    }

    #[test]
    fn cr_and_lf_in_status_and_error_become_spaces() {
        let err = Reply::error("ERR unknown command 'a\r\nb\n'");
        assert_eq!(err.encode_to_vec(true), b"-ERR unknown command 'a  b '\r\n");
        let status = Reply::Status("x\ry".into());
        assert_eq!(status.encode_to_vec(false), b"+x y\r\n");
    }

    #[test]
    fn integers_including_extremes() {
        for (n, wire) in [
            (0, &b":0\r\n"[..]),
            (1, b":1\r\n"),
            (-1, b":-1\r\n"),
            (1234567890, b":1234567890\r\n"),
            (i64::MAX, b":9223372036854775807\r\n"),
            (i64::MIN, b":-9223372036854775808\r\n"),
        ] {
            assert_eq!(both(&Reply::Int(n)), (wire.to_vec(), wire.to_vec()));
        }
    }

    #[test]
    fn bulk_strings_binary_and_empty() {
        assert_eq!(bulk("hello").encode_to_vec(false), b"$5\r\nhello\r\n");
        assert_eq!(bulk("").encode_to_vec(true), b"$0\r\n\r\n");
        let binary = Reply::bulk(Bytes::from_static(b"a\r\n\0\xff"));
        assert_eq!(binary.encode_to_vec(true), b"$5\r\na\r\n\0\xff\r\n");
    }

    /// Captured from redis-server 7.0.15: `GET nokey` and `LPOP nokey 2`, before and after
    /// `HELLO 3`.
    #[test]
    fn nulls_in_both_protocols() {
        assert_eq!(both(&Reply::Nil), (b"$-1\r\n".to_vec(), b"_\r\n".to_vec()));
        assert_eq!(
            both(&Reply::NilArray),
            (b"*-1\r\n".to_vec(), b"_\r\n".to_vec())
        );
    }

    #[test]
    fn arrays_nested_and_empty() {
        assert_eq!(
            both(&Reply::Array(vec![])),
            (b"*0\r\n".to_vec(), b"*0\r\n".to_vec())
        );
        let nested = Reply::Array(vec![
            Reply::Array(vec![bulk("a"), Reply::Double(1.5)]),
            Reply::Array(vec![bulk("b"), Reply::Double(2.0)]),
        ]);
        // `ZRANGE z 0 -1 WITHSCORES` in RESP3 on redis-server 7.0.15.
        assert_eq!(
            nested.encode_to_vec(true),
            b"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n"
        );
        assert_eq!(
            nested.encode_to_vec(false),
            b"*2\r\n*2\r\n$1\r\na\r\n$3\r\n1.5\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
    }

    /// `ZRANGE z 0 -1 WITHSCORES` (and HRANDFIELD ... WITHVALUES), redis-server 7.0.15: flat
    /// in RESP2, pairs in RESP3.
    #[test]
    fn pairs_are_flat_in_resp2_and_nested_in_resp3() {
        let pairs = Reply::Pairs(vec![
            (bulk("a"), Reply::Double(1.5)),
            (bulk("b"), Reply::Double(2.0)),
        ]);
        assert_eq!(
            both(&pairs),
            (
                b"*4\r\n$1\r\na\r\n$3\r\n1.5\r\n$1\r\nb\r\n$1\r\n2\r\n".to_vec(),
                b"*2\r\n*2\r\n$1\r\na\r\n,1.5\r\n*2\r\n$1\r\nb\r\n,2\r\n".to_vec()
            )
        );
        assert_eq!(
            both(&Reply::Pairs(vec![])),
            (b"*0\r\n".to_vec(), b"*0\r\n".to_vec())
        );
    }

    /// `HGETALL h` with one field, redis-server 7.0.15.
    #[test]
    fn map_is_flat_array_in_resp2() {
        let map = Reply::Map(vec![(bulk("f"), bulk("v"))]);
        assert_eq!(
            both(&map),
            (
                b"*2\r\n$1\r\nf\r\n$1\r\nv\r\n".to_vec(),
                b"%1\r\n$1\r\nf\r\n$1\r\nv\r\n".to_vec()
            )
        );
        assert_eq!(
            both(&Reply::Map(vec![])),
            (b"*0\r\n".to_vec(), b"%0\r\n".to_vec())
        );
    }

    /// `SMEMBERS s` with one member, redis-server 7.0.15.
    #[test]
    fn set_is_array_in_resp2() {
        let set = Reply::Set(vec![bulk("a")]);
        assert_eq!(
            both(&set),
            (b"*1\r\n$1\r\na\r\n".to_vec(), b"~1\r\n$1\r\na\r\n".to_vec())
        );
    }

    /// `SUBSCRIBE ch`, redis-server 7.0.15.
    #[test]
    fn push_is_array_in_resp2() {
        let push = Reply::Push(vec![bulk("subscribe"), bulk("ch"), Reply::Int(1)]);
        assert_eq!(
            both(&push),
            (
                b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".to_vec(),
                b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n".to_vec()
            )
        );
    }

    #[test]
    fn bool_is_integer_in_resp2() {
        assert_eq!(
            both(&Reply::Bool(true)),
            (b":1\r\n".to_vec(), b"#t\r\n".to_vec())
        );
        assert_eq!(
            both(&Reply::Bool(false)),
            (b":0\r\n".to_vec(), b"#f\r\n".to_vec())
        );
    }

    /// `LOLWUT` answers 70 bytes in RESP2 and `=74\r\ntxt:...` in RESP3 on redis-server 7.0.15.
    #[test]
    fn verbatim_is_bulk_in_resp2() {
        let v = Reply::Verbatim("txt", Bytes::from_static(b"a\nb"));
        assert_eq!(
            both(&v),
            (b"$3\r\na\nb\r\n".to_vec(), b"=7\r\ntxt:a\nb\r\n".to_vec())
        );
    }

    /// `ZADD z <score> a` then `ZSCORE z a`, in RESP2 and after `HELLO 3`, on redis-server
    /// 7.0.15 (which formats with `%.17g`, not 7.2's shortest round trip).
    #[test]
    fn doubles_match_redis_zscore() {
        let table: &[(f64, &str)] = &[
            (1.1, "1.1000000000000001"),
            (0.1, "0.10000000000000001"),
            (1.0, "1"),
            (0.0, "0"),
            (-0.0, "-0"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e-4, "0.0001"),
            (1e-5, "1.0000000000000001e-05"),
            (0.0001234, "0.00012339999999999999"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (3.0000000000000004, "3.0000000000000004"),
            (1e300, "1.0000000000000001e+300"),
            (2.5e-308, "2.4999999999999998e-308"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (100.0, "100"),
            (-1.5, "-1.5"),
            (12345678901234567.0, "12345678901234568"),
            (0.30000000000000004, "0.30000000000000004"),
        ];
        for &(d, text) in table {
            assert_eq!(format_double(d), text, "{d:e}");
            let resp2 = format!("${}\r\n{text}\r\n", text.len());
            assert_eq!(
                Reply::Double(d).encode_to_vec(false),
                resp2.as_bytes(),
                "{d:e}"
            );
            let resp3 = format!(",{text}\r\n");
            assert_eq!(
                Reply::Double(d).encode_to_vec(true),
                resp3.as_bytes(),
                "{d:e}"
            );
        }
    }

    #[test]
    fn double_ties_round_to_even_like_glibc() {
        // Exactly halfway between two 17-digit decimals.
        assert_eq!(format_double(1e15 + 0.25), "1000000000000000.2");
        assert_eq!(format_double(1e15 + 0.75), "1000000000000000.8");
    }

    #[test]
    fn nan_is_formatted_like_glibc() {
        assert_eq!(format_double(f64::NAN), "nan");
        assert_eq!(format_double(-f64::NAN), "-nan");
        assert_eq!(Reply::Double(f64::NAN).encode_to_vec(true), b",nan\r\n");
    }

    /// C's printf with `%.17g`, the reference `format_double` must equal.
    fn c_format(d: f64) -> String {
        let mut buf = [0u8; 64];
        // SAFETY: the buffer is 64 bytes and its length is passed, the format string is
        // NUL-terminated and consumes exactly one double argument.
        let n = unsafe { libc::snprintf(buf.as_mut_ptr().cast(), buf.len(), c"%.17g".as_ptr(), d) };
        let n = usize::try_from(n).expect("snprintf failed");
        String::from_utf8(buf[..n].to_vec()).expect("ascii")
    }

    #[test]
    fn doubles_equal_c_printf_for_seeded_random_values() {
        let mut state: u64 = 0x0dd_ba11_5eed;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for i in 0..200_000 {
            let d = match i % 4 {
                // Any bit pattern: every exponent, subnormals, NaNs.
                0 => f64::from_bits(next()),
                // Numbers near the fixed/exponent switch points 1e-5 and 1e17.
                1 => (next() % 1_000_000) as f64 * 1e-10,
                2 => (next() >> 8) as f64 * 16.0,
                // Short decimals, the usual scores.
                _ => (next() % 100_000) as f64 / 100.0 - 500.0,
            };
            assert_eq!(format_double(d), c_format(d), "bits {:#x}", d.to_bits());
        }
        for d in [
            1e-5,
            f64::from_bits(1e-4f64.to_bits() - 1),
            1e-4,
            99999999999999999.0,
            1e17,
            1e16,
            0.5,
            5e-324,
        ] {
            assert_eq!(format_double(d), c_format(d), "{d:e}");
        }
    }

    #[test]
    fn encode_appends_without_touching_earlier_bytes() {
        let mut out = BytesMut::from(&b"+OK\r\n"[..]);
        Reply::Int(7).encode(false, &mut out);
        Reply::Nil.encode(true, &mut out);
        assert_eq!(&out[..], b"+OK\r\n:7\r\n_\r\n");
    }
}
