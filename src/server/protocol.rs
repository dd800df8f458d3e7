//! Request framing: turns the bytes a client sent into commands (argument vectors), exactly as
//! redis-server 7.0 does in `processInlineBuffer` / `processMultibulkBuffer` (networking.c) and
//! `sdssplitargs` (sds.c).
//!
//! - A request starting with `*` is a multibulk command: `*<count>\r\n` then `count` times
//!   `$<len>\r\n<len bytes>\r\n`. Anything else is an inline command: one line ended by `\n`
//!   (a `\r` before it is dropped), split into arguments by `sdssplitargs` quoting rules.
//! - A count <= 0 and an inline line with no arguments are empty commands: skipped, no reply.
//! - Every error is a [`ProtocolError`]; redis-server replies with it and then closes the
//!   connection, and so must the caller. The parser's state after an error is meaningless.
//!
//! Redis's quirks are kept on purpose, because clients and tests observe them:
//! - Line terminators are searched as C's `strchr` does, so a NUL byte before the terminator
//!   hides it: such a line never completes and ends as a "too big" error once more than
//!   [`PROTO_INLINE_MAX_SIZE`] bytes wait without a terminator.
//! - In a multibulk request, the byte after a header's `\r` and the two bytes after a bulk
//!   payload are skipped without being checked to be `\n` / `\r\n`.
//! - The "too big" limits apply to all buffered bytes that hold no terminator, not to one line.
//!
//! Zero copy: multibulk arguments, and inline arguments written without quotes, are `Bytes`
//! slices split off the caller's read buffer. Only quoted inline arguments are copied (their
//! escapes must be decoded).
//!
//! Invariants between calls: the parser owns the bytes it has consumed; the caller only appends
//! to the buffer, never removes or edits bytes at its front. Partial progress (the header of a
//! multibulk, complete arguments, how far a line was searched) is kept in [`RequestParser`], so
//! a huge bulk arriving in small reads is never rescanned.
//!
//! Not done here: the query buffer limit (`client-query-buffer-limit`), command lookup, arity,
//! authentication itself (the caller says whether the client is authenticated).

use std::borrow::Cow;
use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::errors;

/// Redis's `PROTO_INLINE_MAX_SIZE`: at most this many bytes may wait for the end of an inline
/// line or of a `*`/`$` header line.
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;
/// Largest multibulk count (Redis checks `ll > INT_MAX`).
pub const MULTIBULK_COUNT_MAX: i64 = i32::MAX as i64;
/// Largest multibulk count from a client that must still authenticate.
pub const MULTIBULK_COUNT_MAX_UNAUTHENTICATED: i64 = 10;
/// Largest bulk length from a client that must still authenticate.
pub const BULK_LEN_MAX_UNAUTHENTICATED: i64 = 16384;
/// Default of `proto-max-bulk-len` (512 MiB).
pub const PROTO_MAX_BULK_LEN_DEFAULT: u64 = 512 * 1024 * 1024;
/// A declared count reserves at most this many argument slots up front, as Redis caps its argv
/// allocation, so a client cannot make us allocate by announcing a huge count.
const ARGS_RESERVED_MAX: usize = 1024;
/// Redis's `LONG_STR_SIZE`: `string2ll` refuses strings this long or longer.
const LONG_STR_SIZE: usize = 21;

/// The limits a request is checked against; they may change between calls (CONFIG SET, AUTH).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// `proto-max-bulk-len`: the longest bulk argument accepted, in bytes.
    pub proto_max_bulk_len: u64,
    /// False only while the server requires a password and this client has not authenticated
    /// (Redis's `authRequired(c)`); such a client gets the much lower unauthenticated limits.
    pub authenticated: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            proto_max_bulk_len: PROTO_MAX_BULK_LEN_DEFAULT,
            authenticated: true,
        }
    }
}

/// A request that breaks the protocol. The connection must be closed after the error is sent.
///
/// An enum rather than a string because one variant carries a raw byte that redis-server echoes
/// as is (it need not be UTF-8); [`ProtocolError::encode`] writes the exact bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInlineRequest,
    UnbalancedQuotes,
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    /// A bulk header did not start with `$`; carries the byte found instead.
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error line without the leading `-` and the CRLF. Exact except for
    /// `ExpectedDollar` with a byte >= 0x80, which redis-server sends raw and a `str` cannot
    /// hold (it becomes U+FFFD here); use [`ProtocolError::encode`] for the wire.
    pub fn message(&self) -> Cow<'static, str> {
        match *self {
            ProtocolError::TooBigInlineRequest => Cow::Borrowed(errors::PROTO_TOO_BIG_INLINE),
            ProtocolError::UnbalancedQuotes => Cow::Borrowed(errors::PROTO_UNBALANCED_QUOTES),
            ProtocolError::TooBigMultibulkCount => Cow::Borrowed(errors::PROTO_TOO_BIG_MBULK_COUNT),
            ProtocolError::InvalidMultibulkLength => Cow::Borrowed(errors::PROTO_INVALID_MBULK_LEN),
            ProtocolError::UnauthenticatedMultibulkLength => {
                Cow::Borrowed(errors::PROTO_UNAUTH_MBULK_LEN)
            }
            ProtocolError::TooBigBulkCount => Cow::Borrowed(errors::PROTO_TOO_BIG_BULK_COUNT),
            ProtocolError::InvalidBulkLength => Cow::Borrowed(errors::PROTO_INVALID_BULK_LEN),
            ProtocolError::UnauthenticatedBulkLength => {
                Cow::Borrowed(errors::PROTO_UNAUTH_BULK_LEN)
            }
            ProtocolError::ExpectedDollar(got) => {
                let mut line = Vec::with_capacity(48);
                put_expected_dollar(&mut line, got);
                Cow::Owned(String::from_utf8_lossy(&line).into_owned())
            }
        }
    }

    /// Appends the error reply exactly as redis-server sends it: `-<message>\r\n`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(b'-');
        match *self {
            ProtocolError::ExpectedDollar(got) => put_expected_dollar(out, got),
            _ => out.extend_from_slice(self.message().as_bytes()),
        }
        out.extend_from_slice(b"\r\n");
    }
}

fn put_expected_dollar(line: &mut impl BufMut, got: u8) {
    let [before, after] = errors::PROTO_EXPECTED_DOLLAR;
    line.put_slice(before.as_bytes());
    // addReplyErrorFormat maps CR and LF to spaces so the reply stays one line.
    line.put_u8(if got == b'\r' || got == b'\n' {
        b' '
    } else {
        got
    });
    line.put_slice(after.as_bytes());
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProtocolError {}

/// Resumable request parser for one connection. Feed it the connection's read buffer after
/// every read; it consumes complete commands from the front.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Complete arguments of the multibulk command being read.
    args: Vec<Bytes>,
    /// Arguments the current multibulk command still lacks; 0 between commands.
    multibulk_remaining: usize,
    /// Payload length of the bulk argument whose `$` header was consumed; the buffer starts
    /// with its payload.
    bulk_len: Option<usize>,
    /// Bytes at the front of the buffer already searched for the current line's terminator
    /// (or the index of a NUL that ends the search for good, as it ends `strchr`'s).
    line_scanned: usize,
}

/// Where a `*` or `$` header line stands.
enum Header {
    /// No `\r` visible yet.
    Missing,
    /// The `\r` is there, the byte after it is not.
    Partial,
    /// Complete; the index of its `\r`.
    Complete(usize),
}

enum Inline {
    NeedMore,
    Empty,
    Command(Vec<Bytes>),
}

impl RequestParser {
    pub fn new() -> RequestParser {
        RequestParser::default()
    }

    /// Consumes one command from the front of `buf`.
    ///
    /// `Ok(Some(args))`: one complete command, never empty. `Ok(None)`: more bytes are needed;
    /// everything consumed so far is remembered, call again after the next read.
    /// `Err(e)`: send `e` and close the connection.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        loop {
            if self.multibulk_remaining == 0 {
                let Some(&first) = buf.first() else {
                    return Ok(None);
                };
                if first != b'*' {
                    match self.parse_inline(buf)? {
                        Inline::NeedMore => return Ok(None),
                        Inline::Empty => continue,
                        Inline::Command(args) => return Ok(Some(args)),
                    }
                }
                match self.parse_multibulk_count(buf, limits)? {
                    None => return Ok(None),
                    Some(0) => continue,
                    Some(count) => {
                        self.multibulk_remaining = count;
                        self.args = Vec::with_capacity(count.min(ARGS_RESERVED_MAX));
                    }
                }
            }
            while self.multibulk_remaining > 0 {
                let len = match self.bulk_len {
                    Some(len) => len,
                    None => match self.parse_bulk_len(buf, limits)? {
                        Some(len) => {
                            self.bulk_len = Some(len);
                            len
                        }
                        None => return Ok(None),
                    },
                };
                if buf.len() < len.saturating_add(2) {
                    return Ok(None);
                }
                self.args.push(buf.split_to(len).freeze());
                buf.advance(2);
                self.bulk_len = None;
                self.multibulk_remaining -= 1;
            }
            return Ok(Some(std::mem::take(&mut self.args)));
        }
    }

    /// How many bytes `buf` must hold before the next call can complete the bulk argument in
    /// progress (its payload and CRLF), or 0 when no bulk payload is awaited. Lets the caller
    /// reserve once for a large argument instead of growing the buffer read by read.
    pub fn bytes_needed(&self) -> usize {
        self.bulk_len.map_or(0, |len| len.saturating_add(2))
    }

    /// Finds `terminator` in `buf` the way `strchr` would, resuming where the previous call
    /// stopped. Returns its index, or `None` if it is not (yet) visible.
    fn find_line_end(&mut self, buf: &[u8], terminator: u8) -> Option<usize> {
        let from = self.line_scanned.min(buf.len());
        let Some(i) = buf[from..].iter().position(|&b| b == terminator || b == 0) else {
            self.line_scanned = buf.len();
            return None;
        };
        let found = from + i;
        // Parking on a NUL makes every later search stop there again at once, as strchr would.
        self.line_scanned = found;
        (buf[found] == terminator).then_some(found)
    }

    /// Called whenever the current line has been consumed from the buffer.
    fn line_consumed(&mut self) {
        self.line_scanned = 0;
    }

    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Inline, ProtocolError> {
        let Some(newline) = self.find_line_end(buf, b'\n') else {
            if buf.len() > PROTO_INLINE_MAX_SIZE {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            return Ok(Inline::NeedMore);
        };
        let end = if newline > 0 && buf[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let line = buf.split_to(newline + 1).freeze().slice(..end);
        self.line_consumed();
        let args = split_args(&line).ok_or(ProtocolError::UnbalancedQuotes)?;
        Ok(if args.is_empty() {
            Inline::Empty
        } else {
            Inline::Command(args)
        })
    }

    /// Reads a `*<count>\r\n` header. `Some(0)` for an empty command (count <= 0).
    fn parse_multibulk_count(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<usize>, ProtocolError> {
        let cr = match self.header_line(buf) {
            Header::Complete(cr) => cr,
            Header::Missing if buf.len() > PROTO_INLINE_MAX_SIZE => {
                return Err(ProtocolError::TooBigMultibulkCount)
            }
            Header::Missing | Header::Partial => return Ok(None),
        };
        let count = match string_to_i64(&buf[1..cr]) {
            Some(n) if n <= MULTIBULK_COUNT_MAX => n,
            _ => return Err(ProtocolError::InvalidMultibulkLength),
        };
        if count > MULTIBULK_COUNT_MAX_UNAUTHENTICATED && !limits.authenticated {
            return Err(ProtocolError::UnauthenticatedMultibulkLength);
        }
        buf.advance(cr + 2);
        self.line_consumed();
        // `count` <= i32::MAX, so it fits usize on every supported target.
        Ok(Some(usize::try_from(count.max(0)).unwrap_or(0)))
    }

    /// Reads a `$<len>\r\n` header.
    fn parse_bulk_len(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<usize>, ProtocolError> {
        let cr = match self.header_line(buf) {
            Header::Complete(cr) => cr,
            Header::Missing if buf.len() > PROTO_INLINE_MAX_SIZE => {
                return Err(ProtocolError::TooBigBulkCount)
            }
            Header::Missing | Header::Partial => return Ok(None),
        };
        if buf[0] != b'$' {
            return Err(ProtocolError::ExpectedDollar(buf[0]));
        }
        let len = match string_to_i64(&buf[1..cr]) {
            Some(n) if n >= 0 && n.unsigned_abs() <= limits.proto_max_bulk_len => n,
            _ => return Err(ProtocolError::InvalidBulkLength),
        };
        if len > BULK_LEN_MAX_UNAUTHENTICATED && !limits.authenticated {
            return Err(ProtocolError::UnauthenticatedBulkLength);
        }
        let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
        buf.advance(cr + 2);
        self.line_consumed();
        Ok(Some(len))
    }

    /// Looks for the `\r` ending a header line at the front of `buf`. The line is complete
    /// once the byte after it has arrived too (Redis skips that byte without checking it).
    fn header_line(&mut self, buf: &[u8]) -> Header {
        match self.find_line_end(buf, b'\r') {
            None => Header::Missing,
            Some(cr) if cr + 2 <= buf.len() => Header::Complete(cr),
            // Redis waits here without applying the "too big" limit: the `\r` was found.
            Some(_) => Header::Partial,
        }
    }
}

/// Redis's `string2ll`: optional `-`, then digits with no leading zero (except "0" itself), no
/// `+`, no spaces, fewer than 21 bytes, within i64.
fn string_to_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= LONG_STR_SIZE {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if v > i64::MIN.unsigned_abs() {
            return None;
        }
        Some(0i64.wrapping_sub_unsigned(v))
    } else {
        i64::try_from(v).ok()
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: splits one inline line into arguments, or `None` for unbalanced
/// quotes. Reads past the end as NUL, as the C code reads the string's terminator.
///
/// Quirks kept: leading blanks are any `isspace` byte, but an unquoted argument ends only at
/// space, tab, CR, LF (so `\v` and `\f` inside it are kept); a quote inside an unquoted
/// argument opens a quoted part; a closing quote must be followed by a blank or the end.
fn split_args(line: &Bytes) -> Option<Vec<Bytes>> {
    let s: &[u8] = line;
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_c_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(args);
        }
        let start = p;
        // Stays `None` while the argument is plain bytes of the line (then it is sliced, not
        // copied); becomes the decoded argument once a quote starts.
        let mut decoded: Option<Vec<u8>> = None;
        let mut end = start;
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = at(p);
            if in_double {
                let out = decoded.as_mut()?;
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(hi), Some(lo)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        out.push(hi * 16 + lo);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    out.push(c);
                }
            } else if in_single {
                let out = decoded.as_mut()?;
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return None;
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        end = p;
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' | b'\'' => {
                        in_double = c == b'"';
                        in_single = c == b'\'';
                        decoded = Some(s[start..p].to_vec());
                    }
                    _ => {}
                }
            }
            p += 1;
        }
        args.push(match decoded {
            Some(bytes) => Bytes::from(bytes),
            None => line.slice(start..end),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNAUTH: Limits = Limits {
        proto_max_bulk_len: PROTO_MAX_BULK_LEN_DEFAULT,
        authenticated: false,
    };

    fn args(list: &[&[u8]]) -> Vec<Bytes> {
        list.iter().map(|a| Bytes::copy_from_slice(a)).collect()
    }

    /// Parses everything in `input` (one buffer), returning the commands and the final outcome.
    fn parse_all(
        input: &[u8],
        limits: &Limits,
    ) -> (Vec<Vec<Bytes>>, Result<(), ProtocolError>, BytesMut) {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(input);
        let mut cmds = Vec::new();
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(cmd)) => cmds.push(cmd),
                Ok(None) => return (cmds, Ok(()), buf),
                Err(e) => return (cmds, Err(e), buf),
            }
        }
    }

    /// Feeds `input` in the given chunk sizes, parsing after each chunk like a connection.
    fn parse_chunked(
        input: &[u8],
        chunks: &[usize],
        limits: &Limits,
    ) -> (Vec<Vec<Bytes>>, Result<(), ProtocolError>) {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut cmds = Vec::new();
        let mut fed = 0;
        for &n in chunks.iter().chain(std::iter::once(&usize::MAX)) {
            let take = n.min(input.len() - fed);
            buf.extend_from_slice(&input[fed..fed + take]);
            fed += take;
            loop {
                match parser.parse(&mut buf, limits) {
                    Ok(Some(cmd)) => cmds.push(cmd),
                    Ok(None) => break,
                    Err(e) => return (cmds, Err(e)),
                }
            }
            if fed == input.len() {
                break;
            }
        }
        (cmds, Ok(()))
    }

    fn error_of(input: &[u8], limits: &Limits) -> ProtocolError {
        match parse_all(input, limits).1 {
            Err(e) => e,
            Ok(()) => panic!("no error for {:?}", String::from_utf8_lossy(input)),
        }
    }

    fn wire(e: ProtocolError) -> Vec<u8> {
        let mut out = BytesMut::new();
        e.encode(&mut out);
        out.to_vec()
    }

    #[test]
    fn multibulk_command_is_parsed() {
        let (cmds, end, rest) = parse_all(
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
            &Limits::default(),
        );
        assert_eq!(cmds, vec![args(&[b"SET", b"k", b"value"])]);
        assert_eq!(end, Ok(()));
        assert!(rest.is_empty());
    }

    #[test]
    fn multibulk_arguments_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let cmd = RequestParser::new()
            .parse(&mut buf, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(cmd[0].as_ptr() as usize, base + 8);
        assert_eq!(cmd[1].as_ptr() as usize, base + 18);
    }

    #[test]
    fn plain_inline_arguments_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::from(&b"SET key \"q\"\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let cmd = RequestParser::new()
            .parse(&mut buf, &Limits::default())
            .unwrap()
            .unwrap();
        assert_eq!(cmd, args(&[b"SET", b"key", b"q"]));
        assert_eq!(cmd[0].as_ptr() as usize, base);
        assert_eq!(cmd[1].as_ptr() as usize, base + 4);
    }

    #[test]
    fn bulk_payload_may_hold_crlf_and_any_byte() {
        let payload: Vec<u8> = (0..=255u8).chain(*b"\r\n*1\r\n$0\r\n\r\n").collect();
        let mut input = format!("*2\r\n$3\r\nSET\r\n${}\r\n", payload.len()).into_bytes();
        input.extend_from_slice(&payload);
        input.extend_from_slice(b"\r\n");
        let (cmds, end, _) = parse_all(&input, &Limits::default());
        assert_eq!(end, Ok(()));
        assert_eq!(
            cmds,
            vec![vec![Bytes::from_static(b"SET"), Bytes::from(payload)]]
        );
    }

    #[test]
    fn empty_bulk_strings_are_arguments() {
        let (cmds, _, _) = parse_all(b"*3\r\n$0\r\n\r\n$0\r\n\r\n$1\r\nx\r\n", &Limits::default());
        assert_eq!(cmds, vec![args(&[b"", b"", b"x"])]);
    }

    #[test]
    fn pipeline_of_many_commands_in_one_buffer() {
        let mut input = Vec::new();
        let mut expected = Vec::new();
        for i in 0..1000 {
            let key = format!("key:{i}");
            if i % 3 == 0 {
                input.extend_from_slice(format!("GET {key}\r\n").as_bytes());
                expected.push(args(&[b"GET", key.as_bytes()]));
            } else {
                input.extend_from_slice(
                    format!(
                        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\n{}\r\n",
                        key.len(),
                        i % 10
                    )
                    .as_bytes(),
                );
                expected.push(args(&[
                    b"SET",
                    key.as_bytes(),
                    format!("{}", i % 10).as_bytes(),
                ]));
            }
        }
        let (cmds, end, rest) = parse_all(&input, &Limits::default());
        assert_eq!(end, Ok(()));
        assert!(rest.is_empty());
        assert_eq!(cmds, expected);
    }

    #[test]
    fn empty_commands_are_skipped_without_reply() {
        let input = b"*0\r\n*-1\r\n*-5\r\n\r\n\n   \t\r\nPING\r\n*0\r\n";
        let (cmds, end, rest) = parse_all(input, &Limits::default());
        assert_eq!(cmds, vec![args(&[b"PING"])]);
        assert_eq!(end, Ok(()));
        assert!(rest.is_empty());
    }

    #[test]
    fn incomplete_input_waits_and_keeps_the_buffer() {
        for input in [
            &b"*2\r\n$4\r\nECHO\r\n$5\r\nhel"[..],
            b"*2",
            b"*2\r",
            b"PING",
            b"PING\r",
        ] {
            let (cmds, end, rest) = parse_all(input, &Limits::default());
            assert!(cmds.is_empty());
            assert_eq!(end, Ok(()));
            assert!(!rest.is_empty() || input.is_empty());
        }
    }

    /// Tricky inline lines, with the arguments redis-server 7.0.15 stored for them (captured
    /// with `RPUSH l <line>` then `LRANGE l 0 -1`); `None` means "unbalanced quotes".
    #[test]
    fn inline_quoting_matches_redis() {
        // A line and the arguments after `RPUSH l`, or `None` for unbalanced quotes.
        type Case = (&'static [u8], Option<&'static [&'static [u8]]>);
        let table: &[Case] = &[
            (b"RPUSH l a b  c", Some(&[b"a", b"b", b"c"])),
            (b"RPUSH l \"a b\" 'c d'", Some(&[b"a b", b"c d"])),
            (
                b"RPUSH l \"a\\nb\\r\\t\\b\\a\\\\\\\"z\"",
                Some(&[b"a\nb\r\t\x08\x07\\\"z"]),
            ),
            (b"RPUSH l \"\\x41\\x4a\\x4g\\x\"", Some(&[b"AJx4gx"])),
            (
                b"RPUSH l 'it\\'s' 'a\\nb' 'x\\\\y'",
                Some(&[b"it's", b"a\\nb", b"x\\\\y"]),
            ),
            (b"RPUSH l \"a\"b", None),
            (b"RPUSH l 'a'b", None),
            (b"RPUSH l \"abc", None),
            (b"RPUSH l a\"b c\"", Some(&[b"ab c"])),
            (b"RPUSH l a\"b c\"d", None),
            (b"RPUSH l \"\"", Some(&[b""])),
            (b"RPUSH l \"a\"\tb", Some(&[b"a", b"b"])),
            (b"RPUSH l a\x0bb \x0cc", Some(&[b"a\x0bb", b"c"])),
            (b"  RPUSH l x  ", Some(&[b"x"])),
            (b"RPUSH l a\rb", Some(&[b"a", b"b"])),
            (b"RPUSH l \"a\\\"", None),
            (b"RPUSH l \"\\q\"", Some(&[b"q"])),
            (b"RPUSH l \"a\"\x0b", Some(&[b"a"])),
            (b"RPUSH l 'a\\'", None),
            (b"RPUSH l \"\\xZZ\"", Some(&[b"xZZ"])),
            (b"RPUSH l \xff\xfe", Some(&[b"\xff\xfe"])),
            (b"RPUSH l \"a\"\r", Some(&[b"a"])),
            (b"RPUSH l \"", None),
            (b"RPUSH l '\\x41'", Some(&[b"\\x41"])),
            (b"RPUSH l \"\\\\x41\"", Some(&[b"\\x41"])),
            (b"RPUSH l \"\\x4\"", Some(&[b"x4"])),
            (b"RPUSH l ''", Some(&[b""])),
            (b"RPUSH l 'a'\"b\"", None),
            (b"RPUSH l x\"y\"'z'", None),
            (b"RPUSH l \"\\xfF\\x00\"", Some(&[b"\xff\x00"])),
            (b"RPUSH l \"a\rb\"", Some(&[b"a\rb"])),
            (b"\tRPUSH\tl\t\tq", Some(&[b"q"])),
            (b"RPUSH l a\"", None),
            (b"RPUSH l 'a b", None),
        ];
        for (line, expected) in table {
            let mut input = line.to_vec();
            input.extend_from_slice(b"\r\n");
            let (cmds, end, _) = parse_all(&input, &Limits::default());
            let shown = String::from_utf8_lossy(line);
            match expected {
                Some(list) => {
                    let mut want = args(&[b"RPUSH", b"l"]);
                    want.extend(args(list));
                    assert_eq!(end, Ok(()), "{shown}");
                    assert_eq!(cmds, vec![want], "{shown}");
                }
                None => {
                    assert_eq!(end, Err(ProtocolError::UnbalancedQuotes), "{shown}");
                    assert!(cmds.is_empty(), "{shown}");
                }
            }
        }
    }

    #[test]
    fn inline_line_ends_at_lf_with_one_optional_cr() {
        let (cmds, _, _) = parse_all(b"ECHO a\nECHO b\r\nECHO c\r\r\n", &Limits::default());
        assert_eq!(
            cmds,
            vec![
                args(&[b"ECHO", b"a"]),
                args(&[b"ECHO", b"b"]),
                args(&[b"ECHO", b"c"])
            ]
        );
    }

    #[test]
    fn every_error_has_redis_exact_text() {
        let cases: &[(ProtocolError, &[u8])] = &[
            (
                ProtocolError::TooBigInlineRequest,
                b"-ERR Protocol error: too big inline request\r\n",
            ),
            (
                ProtocolError::UnbalancedQuotes,
                b"-ERR Protocol error: unbalanced quotes in request\r\n",
            ),
            (
                ProtocolError::TooBigMultibulkCount,
                b"-ERR Protocol error: too big mbulk count string\r\n",
            ),
            (
                ProtocolError::InvalidMultibulkLength,
                b"-ERR Protocol error: invalid multibulk length\r\n",
            ),
            (
                ProtocolError::UnauthenticatedMultibulkLength,
                b"-ERR Protocol error: unauthenticated multibulk length\r\n",
            ),
            (
                ProtocolError::TooBigBulkCount,
                b"-ERR Protocol error: too big bulk count string\r\n",
            ),
            (
                ProtocolError::ExpectedDollar(b'x'),
                b"-ERR Protocol error: expected '$', got 'x'\r\n",
            ),
            (
                ProtocolError::ExpectedDollar(b'\r'),
                b"-ERR Protocol error: expected '$', got ' '\r\n",
            ),
            (
                ProtocolError::ExpectedDollar(b'\n'),
                b"-ERR Protocol error: expected '$', got ' '\r\n",
            ),
            (
                ProtocolError::ExpectedDollar(0xff),
                b"-ERR Protocol error: expected '$', got '\xff'\r\n",
            ),
            (
                ProtocolError::InvalidBulkLength,
                b"-ERR Protocol error: invalid bulk length\r\n",
            ),
            (
                ProtocolError::UnauthenticatedBulkLength,
                b"-ERR Protocol error: unauthenticated bulk length\r\n",
            ),
        ];
        for (e, expected) in cases {
            assert_eq!(wire(*e), *expected, "{e:?}");
            if e != &ProtocolError::ExpectedDollar(0xff) {
                assert_eq!(e.message().as_bytes(), &expected[1..expected.len() - 2]);
            }
        }
    }

    /// Each input with the error redis-server 7.0.15 answered (observed over TCP, default
    /// config; `UNAUTH` cases with `requirepass` set).
    #[test]
    fn errors_are_raised_where_redis_raises_them() {
        let d = Limits::default();
        let cases: &[(&[u8], &Limits, ProtocolError)] = &[
            (b"*1\r\n\xff\r\n", &d, ProtocolError::ExpectedDollar(0xff)),
            (b"*1\r\n\r\n", &d, ProtocolError::ExpectedDollar(b'\r')),
            (
                b"*1\r\n$4\r\nPING\r\n*1\r\n:1\r\n",
                &d,
                ProtocolError::ExpectedDollar(b':'),
            ),
            (
                b"*2\r\n$4\r\nECHO\r\n:1\r\n",
                &d,
                ProtocolError::ExpectedDollar(b':'),
            ),
            (
                b"*3000000000\r\n",
                &d,
                ProtocolError::InvalidMultibulkLength,
            ),
            (
                b"*2147483648\r\n",
                &d,
                ProtocolError::InvalidMultibulkLength,
            ),
            (b"*01\r\n", &d, ProtocolError::InvalidMultibulkLength),
            (b"*+1\r\n", &d, ProtocolError::InvalidMultibulkLength),
            (b"*\r\n", &d, ProtocolError::InvalidMultibulkLength),
            (b"*-0\r\n", &d, ProtocolError::InvalidMultibulkLength),
            (b"* 1\r\n", &d, ProtocolError::InvalidMultibulkLength),
            (b"*1\r\n$-1\r\n", &d, ProtocolError::InvalidBulkLength),
            (b"*1\r\n$\r\n", &d, ProtocolError::InvalidBulkLength),
            (b"*1\r\n$01\r\n", &d, ProtocolError::InvalidBulkLength),
            (
                b"*1\r\n$536870913\r\n",
                &d,
                ProtocolError::InvalidBulkLength,
            ),
            (
                b"*1\r\n$99999999999999999999\r\n",
                &d,
                ProtocolError::InvalidBulkLength,
            ),
            (
                b"*11\r\n",
                &UNAUTH,
                ProtocolError::UnauthenticatedMultibulkLength,
            ),
            (
                b"*1\r\n$16385\r\n",
                &UNAUTH,
                ProtocolError::UnauthenticatedBulkLength,
            ),
            (
                b"*1\r\n$536870913\r\n",
                &UNAUTH,
                ProtocolError::InvalidBulkLength,
            ),
            (
                b"*2147483648\r\n",
                &UNAUTH,
                ProtocolError::InvalidMultibulkLength,
            ),
            (b"PING \"a\r\n", &d, ProtocolError::UnbalancedQuotes),
        ];
        for (input, limits, expected) in cases {
            assert_eq!(
                error_of(input, limits),
                *expected,
                "{}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn limits_that_redis_accepts_are_accepted() {
        let d = Limits::default();
        let cases: &[(&[u8], &Limits)] = &[
            (b"*2147483647\r\n", &d),
            (b"*1\r\n$536870912\r\n", &d),
            (b"*10\r\n", &UNAUTH),
            (b"*-1\r\n", &UNAUTH),
            (b"*1\r\n$16384\r\n", &UNAUTH),
            (b"*11\r\n", &d),
            (b"*1\r\n$16385\r\n", &d),
        ];
        for (input, limits) in cases {
            let (cmds, end, _) = parse_all(input, limits);
            assert!(cmds.is_empty());
            assert_eq!(end, Ok(()), "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn proto_max_bulk_len_is_configurable() {
        let limits = Limits {
            proto_max_bulk_len: 3,
            authenticated: true,
        };
        assert_eq!(
            parse_all(b"*1\r\n$3\r\nabc\r\n", &limits).0,
            vec![args(&[b"abc"])]
        );
        assert_eq!(
            error_of(b"*1\r\n$4\r\n", &limits),
            ProtocolError::InvalidBulkLength
        );
    }

    #[test]
    fn huge_declared_bulk_is_refused_before_any_payload() {
        let input = format!("*1\r\n${}\r\n", PROTO_MAX_BULK_LEN_DEFAULT + 1);
        assert_eq!(
            error_of(input.as_bytes(), &Limits::default()),
            ProtocolError::InvalidBulkLength
        );
        let input = format!("*1\r\n${}\r\n", u64::MAX);
        let limits = Limits {
            proto_max_bulk_len: u64::MAX,
            authenticated: true,
        };
        assert_eq!(
            error_of(input.as_bytes(), &limits),
            ProtocolError::InvalidBulkLength
        );
    }

    #[test]
    fn huge_count_reserves_little() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2147483647\r\n$1\r\na\r\n"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert!(parser.args.capacity() <= ARGS_RESERVED_MAX);
        assert_eq!(parser.args.len(), 1);
    }

    #[test]
    fn too_big_inline_request_only_past_64k_without_newline() {
        let d = Limits::default();
        let (_, end, _) = parse_all(&vec![b'P'; PROTO_INLINE_MAX_SIZE], &d);
        assert_eq!(end, Ok(()));
        assert_eq!(
            error_of(&vec![b'P'; PROTO_INLINE_MAX_SIZE + 1], &d),
            ProtocolError::TooBigInlineRequest
        );
        // A long line whose newline is already buffered is accepted, as redis does.
        let mut long = b"ECHO ".to_vec();
        long.extend(std::iter::repeat_n(b'P', 70_000));
        long.extend_from_slice(b"\r\n");
        let (cmds, end, _) = parse_all(&long, &d);
        assert_eq!(end, Ok(()));
        assert_eq!(cmds[0][1].len(), 70_000);
    }

    #[test]
    fn too_big_count_strings_only_past_64k_without_cr() {
        let d = Limits::default();
        let mut mbulk = vec![b'*'];
        mbulk.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE - 1));
        assert_eq!(parse_all(&mbulk, &d).1, Ok(()));
        mbulk.push(b'1');
        assert_eq!(error_of(&mbulk, &d), ProtocolError::TooBigMultibulkCount);

        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE - 1));
        assert_eq!(parse_all(&bulk, &d).1, Ok(()));
        bulk.push(b'1');
        assert_eq!(error_of(&bulk, &d), ProtocolError::TooBigBulkCount);
    }

    #[test]
    fn nul_before_the_terminator_stalls_the_line_like_strchr() {
        let d = Limits::default();
        for input in [
            &b"PING\0\r\n"[..],
            b"*1\0\r\n$4\r\nPING\r\n",
            b"*1\r\n$4\0\r\nPING\r\n",
        ] {
            let (cmds, end, _) = parse_all(input, &d);
            assert!(cmds.is_empty());
            assert_eq!(end, Ok(()));
        }
        let mut stalled = b"PING\0\r\n".to_vec();
        stalled.resize(PROTO_INLINE_MAX_SIZE + 1, b'\n');
        assert_eq!(error_of(&stalled, &d), ProtocolError::TooBigInlineRequest);
        // Inside a bulk payload a NUL is just data.
        assert_eq!(
            parse_all(b"*1\r\n$4\r\nPI\0G\r\n", &d).0,
            vec![args(&[b"PI\0G"])]
        );
    }

    #[test]
    fn header_cr_without_next_byte_waits_even_past_64k() {
        let mut mbulk = vec![b'*'];
        mbulk.extend(std::iter::repeat_n(b'1', PROTO_INLINE_MAX_SIZE + 10));
        mbulk.push(b'\r');
        assert_eq!(parse_all(&mbulk, &Limits::default()).1, Ok(()));
        mbulk.push(b'\n');
        assert_eq!(
            error_of(&mbulk, &Limits::default()),
            ProtocolError::InvalidMultibulkLength
        );
    }

    #[test]
    fn line_search_resumes_where_it_stopped() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"GET ke"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert_eq!(parser.line_scanned, 6);
        buf.extend_from_slice(b"y\r");
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert_eq!(parser.line_scanned, 8);
        buf.extend_from_slice(b"\n*1\r");
        assert_eq!(
            parser.parse(&mut buf, &Limits::default()),
            Ok(Some(args(&[b"GET", b"key"])))
        );
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert_eq!(parser.line_scanned, 2);
    }

    #[test]
    fn stalled_line_stays_stalled_across_calls() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"GET\0"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        buf.extend_from_slice(b" k\r\nPING\r\n");
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
    }

    #[test]
    fn bytes_after_cr_and_after_payload_are_not_checked() {
        let (cmds, end, _) = parse_all(b"*1\rx$4\r\nPINGxx*1\r\n$4\ryPING\r\n", &Limits::default());
        assert_eq!(end, Ok(()));
        assert_eq!(cmds, vec![args(&[b"PING"]), args(&[b"PING"])]);
    }

    #[test]
    fn good_commands_before_a_bad_one_are_returned_first() {
        let (cmds, end, _) = parse_all(
            b"PING\r\n*1\r\n$1\r\na\r\n*x\r\nPING\r\n",
            &Limits::default(),
        );
        assert_eq!(cmds, vec![args(&[b"PING"]), args(&[b"a"])]);
        assert_eq!(end, Err(ProtocolError::InvalidMultibulkLength));
    }

    #[test]
    fn bytes_needed_reports_a_pending_bulk() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$100000\r\nabc"[..]);
        assert_eq!(parser.bytes_needed(), 0);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert_eq!(parser.bytes_needed(), 100_002);
        assert_eq!(buf.len(), 3);
        buf.extend_from_slice(&vec![b'v'; 99_997]);
        buf.extend_from_slice(b"\r\n");
        let cmd = parser.parse(&mut buf, &Limits::default()).unwrap().unwrap();
        assert_eq!(cmd[1].len(), 100_000);
        assert_eq!(parser.bytes_needed(), 0);
    }

    fn split_corpus() -> Vec<u8> {
        let mut input = Vec::new();
        input.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$4\r\nk\r\nx\r\n$0\r\n\r\n");
        input.extend_from_slice(b"GET \"a b\\x41\" 'c\\'d' plain\r\n");
        input.extend_from_slice(b"*0\r\n\r\n");
        input.extend_from_slice(b"*2\r\n$4\r\nECHO\r\n$12\r\n\r\n\0\xff\r\n*1\r\n$x\r\n");
        input.extend_from_slice(b"PING\n");
        input.extend_from_slice(b"*1\r\n$4\r\nQUIT\r\n");
        input
    }

    fn split_corpus_commands() -> Vec<Vec<Bytes>> {
        vec![
            args(&[b"SET", b"k\r\nx", b""]),
            args(&[b"GET", b"a bA", b"c'd", b"plain"]),
            args(&[b"ECHO", b"\r\n\0\xff\r\n*1\r\n$x"]),
            args(&[b"PING"]),
            args(&[b"QUIT"]),
        ]
    }

    #[test]
    fn split_at_every_byte_boundary_gives_the_same_commands() {
        let input = split_corpus();
        let d = Limits::default();
        assert_eq!(
            parse_chunked(&input, &[], &d),
            (split_corpus_commands(), Ok(()))
        );
        for cut in 0..=input.len() {
            assert_eq!(
                parse_chunked(&input, &[cut], &d),
                (split_corpus_commands(), Ok(())),
                "cut {cut}"
            );
        }
        assert_eq!(
            parse_chunked(&input, &vec![1; input.len()], &d),
            (split_corpus_commands(), Ok(()))
        );
    }

    #[test]
    fn seeded_random_splits_give_the_same_commands() {
        let input = split_corpus();
        let d = Limits::default();
        let mut rng = XorShift(0x5eed_cafe_f00d_0001);
        for _ in 0..2000 {
            let mut chunks = Vec::new();
            let mut total = 0;
            while total < input.len() {
                let n = (rng.next() % 9) as usize;
                chunks.push(n);
                total += n;
            }
            assert_eq!(
                parse_chunked(&input, &chunks, &d),
                (split_corpus_commands(), Ok(())),
                "{chunks:?}"
            );
        }
    }

    #[test]
    fn split_error_input_gives_the_same_error() {
        let input = b"PING\r\n*2\r\n$4\r\nECHO\r\n#1\r\n";
        let d = Limits::default();
        for cut in 0..=input.len() {
            assert_eq!(
                parse_chunked(input, &[cut], &d),
                (
                    vec![args(&[b"PING"])],
                    Err(ProtocolError::ExpectedDollar(b'#'))
                ),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn string_to_i64_matches_string2ll() {
        assert_eq!(string_to_i64(b"0"), Some(0));
        assert_eq!(string_to_i64(b"-1"), Some(-1));
        assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1a",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"000000000000000000001",
        ] {
            assert_eq!(string_to_i64(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }
}
