//! Replies as values, and their encoding in RESP2 and RESP3.
//!
//! Command handlers return a `Reply`; the connection encodes it for the protocol version the
//! client chose with HELLO. Apply produces replies on every replica, so a `Reply` must be cheap
//! to build and to drop when no client waits for it.

use std::borrow::Cow;

use bytes::Bytes;

/// One reply, independent of the protocol version.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Simple string: `+OK`.
    Status(Cow<'static, str>),
    /// Error line without the leading `-` and trailing CRLF, e.g. `ERR syntax error`.
    Error(Cow<'static, str>),
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
        Reply::Error(msg.into())
    }

    pub fn bulk(b: impl Into<Bytes>) -> Reply {
        Reply::Bulk(b.into())
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
