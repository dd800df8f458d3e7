//! Redis's error strings, in one table. Byte for byte what redis-server 7.0 sends, without the
//! leading `-` and the trailing CRLF. Strings with a variable part have a function.

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const INVALID_DB: &str = "ERR DB index is out of range";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// No leader is known: the command was not proposed; it is safe to retry.
pub const NO_LEADER: &str = "TRYAGAIN no leader";
/// The write was proposed but its entry was replaced by another leader's: it was not applied;
/// it is safe to retry.
pub const NOT_COMMITTED: &str = "TRYAGAIN write not committed: leadership changed";
/// A read could not be confirmed linearizable (the leader changed or did not answer in time):
/// nothing was read; it is safe to retry.
pub const READ_REFUSED: &str = "TRYAGAIN read not confirmed by the leader";
/// A graceful shutdown (SIGTERM, SHUTDOWN) has begun: the command was not run; it is safe to
/// retry, on another node.
pub const SHUTTING_DOWN: &str = "TRYAGAIN the node is shutting down";
/// The write was proposed but this node cannot tell whether it was committed.
pub const UNCERTAIN: &str =
    "UNCERTAIN write outcome unknown: leadership changed or timed out before commit";

/// Redis's unknown-command error: the name (to 128 bytes) and the arguments quoted one by one
/// until the list reaches 128 bytes, each cut at its first NUL byte (they are C strings there).
pub fn unknown_command(name: &[u8], args: &[bytes::Bytes]) -> Vec<u8> {
    fn c_str(b: &[u8]) -> &[u8] {
        &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
    }
    let mut list: Vec<u8> = Vec::new();
    for a in args {
        if list.len() >= 128 {
            break;
        }
        let a = c_str(a);
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&a[..a.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    let name = c_str(name);
    let mut out = b"ERR unknown command '".to_vec();
    out.extend_from_slice(&name[..name.len().min(128)]);
    out.extend_from_slice(b"', with args beginning with: ");
    out.extend_from_slice(&list);
    out
}

pub fn wrong_arity(name: &str) -> String {
    format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    )
}

pub fn invalid_expire(cmd: &str) -> String {
    format!(
        "ERR invalid expire time in '{}' command",
        cmd.to_ascii_lowercase()
    )
}

// Request framing errors (networking.c). redis-server closes the connection after sending any
// of them.
pub const PROTO_TOO_BIG_INLINE: &str = "ERR Protocol error: too big inline request";
pub const PROTO_UNBALANCED_QUOTES: &str = "ERR Protocol error: unbalanced quotes in request";
pub const PROTO_TOO_BIG_MBULK_COUNT: &str = "ERR Protocol error: too big mbulk count string";
pub const PROTO_INVALID_MBULK_LEN: &str = "ERR Protocol error: invalid multibulk length";
pub const PROTO_UNAUTH_MBULK_LEN: &str = "ERR Protocol error: unauthenticated multibulk length";
pub const PROTO_TOO_BIG_BULK_COUNT: &str = "ERR Protocol error: too big bulk count string";
pub const PROTO_INVALID_BULK_LEN: &str = "ERR Protocol error: invalid bulk length";
pub const PROTO_UNAUTH_BULK_LEN: &str = "ERR Protocol error: unauthenticated bulk length";
/// `ERR Protocol error: expected '$', got 'X'`: the offending byte goes, raw, between the two
/// parts (CR and LF become spaces, as addReplyErrorFormat maps them).
pub const PROTO_EXPECTED_DOLLAR: [&str; 2] = ["ERR Protocol error: expected '$', got '", "'"];
/// `prefix`, a client's argument as Redis's `%s` (or `%.<max>s`) prints it, then `suffix`:
/// the bytes as sent, up to the first NUL (a C string), at most `max` of them.
pub fn with_arg(prefix: &str, arg: &[u8], max: usize, suffix: &str) -> Vec<u8> {
    let arg = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
    let arg = &arg[..arg.len().min(max)];
    let mut out = Vec::with_capacity(prefix.len() + arg.len() + suffix.len());
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(arg);
    out.extend_from_slice(suffix.as_bytes());
    out
}

/// `%.128s`: Redis quotes at most 128 bytes of a subcommand.
pub fn unknown_subcommand(sub: &[u8], container: &str) -> Vec<u8> {
    let suffix = format!("'. Try {} HELP.", container.to_ascii_uppercase());
    with_arg("ERR unknown subcommand '", sub, 128, &suffix)
}

pub fn unsupported_option(opt: &[u8]) -> Vec<u8> {
    with_arg("ERR Unsupported option ", opt, usize::MAX, "")
}

pub const EXPIRE_NX_CONFLICT: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_GT_LT_CONFLICT: &str = "ERR GT and LT options at the same time are not compatible";
pub const DECREMENT_OVERFLOW: &str = "ERR decrement would overflow";
pub const GETKEYS_INVALID_COMMAND: &str = "ERR Invalid command specified";
pub const GETKEYS_NO_KEYS: &str = "ERR The command has no key arguments";
pub const GETKEYS_BAD_ARITY: &str = "ERR Invalid number of arguments specified for command";
pub const GETKEYS_BAD_ARGS: &str = "ERR Invalid arguments specified for command";

// String and key commands (t_string.c, db.c).
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
pub const BITOP_NOT_ONE_KEY: &str = "ERR BITOP NOT must be called with a single source key.";
pub const BITFIELD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_OVERFLOW_TYPE: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const LCS_NOT_STRINGS: &str = "ERR The specified keys must contain string values";
pub const LCS_IDX_AND_LEN: &str =
    "ERR If you want both the length and indexes, please just use IDX.";
pub const LCS_TOO_BIG: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
pub const LCS_ALLOC_FAILED: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
// Container commands (t_hash.c, t_set.c, db.c, object.c, util.c).
pub const HASH_VALUE_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_VALUE_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const NAN_OR_INFINITY: &str = "ERR value is NaN or Infinity";
pub const INCR_NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";
/// HRANDFIELD's count with WITHVALUES beyond +-LONG_MAX/2.
pub const VALUE_OUT_OF_RANGE: &str = "ERR value is out of range";
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)` (HRANDFIELD, SRANDMEMBER counts).
pub const COUNT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
/// `getPositiveLongFromObjectOrReply` without a message (SPOP's count).
pub const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";
pub const NUMKEYS_NOT_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
/// `getIntFromObjectOrReply` without a message, for an integer beyond 32 bits.
pub const INT_OUT_OF_RANGE: &str =
    "ERR value is out of range, value must between -2147483648 and 2147483647";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const INVALID_FIRST_DB: &str = "ERR invalid first DB index";
pub const INVALID_SECOND_DB: &str = "ERR invalid second DB index";
pub const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
pub const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
// List commands (t_list.c) and blocking timeouts (timeout.c).
pub const INDEX_OUT_OF_RANGE: &str = "ERR index out of range";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
/// LMPOP/ZMPOP's COUNT.
pub const COUNT_NOT_POSITIVE: &str = "ERR count should be greater than 0";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const TIMEOUT_NEGATIVE: &str = "ERR timeout is negative";
// Sorted set commands (t_zset.c).
pub const MIN_MAX_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const MIN_MAX_NOT_LEX: &str = "ERR min or max not valid string range item";
pub const ZADD_XX_NX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const ZADD_INCR_PAIRS: &str = "ERR INCR option supports a single increment-element pair";
pub const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
pub const LIMIT_NEEDS_BY: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const WITHSCORES_WITH_BYLEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";

/// ZUNION/ZINTER/ZDIFF (and their STORE forms, ZINTERCARD) with numkeys below 1.
pub fn at_least_one_key(cmd: &str) -> String {
    format!(
        "ERR at least 1 input key is needed for '{}' command",
        cmd.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Arguments are quoted as the client sent them (any bytes), as C strings (cut at NUL), and
    // `%.128s` cuts at 128 bytes.
    #[test]
    fn quoted_arguments_keep_their_bytes() {
        assert_eq!(
            unsupported_option(b"\xff\x00z"),
            b"ERR Unsupported option \xff".to_vec()
        );
        let long = [b'q'; 200];
        let e = unknown_subcommand(&long, "client");
        assert_eq!(
            e.len(),
            "ERR unknown subcommand ''. Try CLIENT HELP.".len() + 128
        );
        assert_eq!(
            unknown_command(b"F\xfe", &[bytes::Bytes::from_static(b"a\x00b")]),
            b"ERR unknown command 'F\xfe', with args beginning with: 'a' ".to_vec()
        );
    }
}
