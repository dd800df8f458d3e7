//! The replicated state machine: what a log entry's payload holds, and how every replica
//! applies it to the store.
//!
//! A payload is one batch of operations proposed together, stamped with the leader's clock:
//!
//! ```text
//! u8 version (2) | u64 LE time_ms | u64 LE origin node | u64 LE origin proposal id
//!    | varint op count | op...
//! op = u8 tag | varint db | varint n | n x (varint len | len bytes)
//!      tag 0: Command (the n items are the command's arguments, name first)
//!      tag 1: ExpireKeys (the n items are keys)
//!      tag 2: Transaction header (db = how many Command ops follow and belong to it; the
//!             items are WATCHed keys as triples: db (u32 LE), key, fingerprint)
//!      tag 3: Publish (items: channel, message)
//!      tag 4: EvictKeys (the n items are keys)
//!      tag 5: Refused (one item: the error the op answers)
//! ```
//!
//! Varints are LEB128. `decode` is zero-copy: every argument is a slice of the payload.
//! The origin (node 0: none) names the node that proposed the batch and its proposal id, so
//! that node recognises its own write when it applies it, whoever was leader (see
//! `raft::fate`); applying ignores it. Version 1 payloads (no origin) still decode.
//!
//! Rule 1 (apply is a pure function of state and entry): `apply` takes its time from the
//! payload's `time_ms` (the leader's unix ms, monotonic across entries), never from a clock, and
//! its random numbers (SPOP) from a generator seeded with the entry's log index and the
//! operation's position in the batch (`command::op_seed`), never from the OS, so all replicas
//! compute the same deadlines, expirations, choices and replies. An empty payload (the
//! leader's no-op) applies nothing.
//!
//! A committed payload that does not decode cannot be skipped (this replica would diverge) nor
//! applied: `apply` panics with a clear message, stopping the replica. The WAL's CRC makes this
//! a broken invariant (a bug or a version mismatch), not bad input.
//!
//! Not here: which entries commit (raft), sending replies to clients (node).

use bytes::{BufMut, Bytes, BytesMut};

use crate::command;
use crate::errors;
use crate::reply::Reply;
use crate::store::Store;

/// The payload format written by this build.
pub const VERSION: u8 = 2;
/// The format before the origin tag; still read.
const VERSION_1: u8 = 1;
/// Bytes before the op count: version, time and (since version 2) origin.
const HEADER: usize = 1 + 8 + 16;

const TAG_COMMAND: u8 = 0;
const TAG_EXPIRE_KEYS: u8 = 1;
/// A transaction header: its `db` field holds the number of Command ops that follow and
/// belong to it; its items are the watched keys, three per key (db as u32 LE, key,
/// fingerprint).
const TAG_TRANSACTION: u8 = 2;
const TAG_PUBLISH: u8 = 3;
const TAG_EVICT_KEYS: u8 = 4;
const TAG_REFUSED: u8 = 5;

/// One operation of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// A client's write (or a read that must go through the log), run in database `db`.
    Command { db: u32, args: Vec<Bytes> },
    /// The leader's active expire cycle: delete each key whose deadline is at or before the
    /// entry's time. A key rewritten since the leader sampled it survives.
    ExpireKeys { db: u32, keys: Vec<Bytes> },
    /// MULTI ... EXEC: commands `(db, args)` run as one atomic step; one reply, the array of
    /// their replies. If a `watched` key's fingerprint changed since WATCH, nothing runs and
    /// the reply is EXEC's null array.
    Transaction {
        cmds: Vec<(u32, Vec<Bytes>)>,
        watched: Vec<command::Watched>,
    },
    /// PUBLISH: every node hands the message to its local subscribers when the entry applies,
    /// so subscribers everywhere see messages once, in log order. `items` = [channel, message].
    Publish { items: Vec<Bytes> },
    /// The leader's eviction (maxmemory): delete each key that still exists, whatever it
    /// holds now; a key already gone is skipped. The leader chose the victims; apply never
    /// looks at memory. Replies with how many were deleted.
    EvictKeys { db: u32, keys: Vec<Bytes> },
    /// A client's operation the leader refused before proposing it (a `denyoom` write while
    /// over `maxmemory`), kept in place so the rest of its batch keeps its order: apply
    /// answers `error` (a Redis error line without the `-`) and changes nothing.
    Refused { error: Bytes },
}

/// What applying an entry does outside the keyspace. Apply stays a pure function of (state,
/// entry) for the store; these effects reach only local connections.
pub trait Effects {
    /// Hands a published message to this node's subscribers; returns how many received it.
    fn publish(&mut self, channel: &[u8], message: &Bytes) -> i64;

    /// Told of every command applied, with its reply (wakes clients blocked on its keys).
    fn applied(&mut self, _args: &[Bytes], _reply: &Reply) {}
}

/// For stores applied without connections (tests, tools).
pub struct NoEffects;

impl Effects for NoEffects {
    fn publish(&mut self, _channel: &[u8], _message: &Bytes) -> i64 {
        0
    }
}

/// A decoded payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub time_ms: u64,
    pub ops: Vec<Op>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Written by a build with a payload format this one does not know.
    UnknownVersion(u8),
    UnknownOp(u8),
    /// The payload ends in the middle of a field.
    Truncated,
    /// A varint longer than 64 bits, or a db index beyond u32.
    BadNumber,
    /// Bytes left after the last operation.
    TrailingBytes,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownVersion(v) => write!(f, "unknown payload version {v}"),
            DecodeError::UnknownOp(t) => write!(f, "unknown operation tag {t}"),
            DecodeError::Truncated => write!(f, "payload truncated"),
            DecodeError::BadNumber => write!(f, "malformed number"),
            DecodeError::TrailingBytes => write!(f, "trailing bytes after the last operation"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Calls `f` with each encoded op of `op`, as (tag, db, items): a transaction is its header
/// followed by one Command op per command.
fn for_each_part(op: &Op, mut f: impl FnMut(u8, u32, &[Bytes])) {
    match op {
        Op::Command { db, args } => f(TAG_COMMAND, *db, args),
        Op::ExpireKeys { db, keys } => f(TAG_EXPIRE_KEYS, *db, keys),
        Op::EvictKeys { db, keys } => f(TAG_EVICT_KEYS, *db, keys),
        Op::Refused { error } => f(TAG_REFUSED, 0, std::slice::from_ref(error)),
        Op::Publish { items } => f(TAG_PUBLISH, 0, items),
        Op::Transaction { cmds, watched } => {
            let items: Vec<Bytes> = watched
                .iter()
                .flat_map(|(db, key, fp)| {
                    [
                        Bytes::copy_from_slice(&db.to_le_bytes()),
                        key.clone(),
                        fp.clone(),
                    ]
                })
                .collect();
            f(TAG_TRANSACTION, cmds.len() as u32, &items);
            for (db, args) in cmds {
                f(TAG_COMMAND, *db, args);
            }
        }
    }
}

/// Encode a batch. Never empty (an empty payload is the leader's no-op).
pub fn encode(time_ms: u64, ops: &[Op]) -> Bytes {
    encode_mut(time_ms, ops).freeze()
}

/// Overwrites the entry time of an encoded payload: the leader stamps its clock on every entry
/// just before appending it (a follower's forwarded payload carries the follower's clock).
pub fn set_time(payload: &mut [u8], time_ms: u64) {
    if payload.len() >= 9 {
        payload[1..9].copy_from_slice(&time_ms.to_le_bytes());
    }
}

/// Tags an encoded payload with the node that proposes it and its proposal id there.
pub fn set_origin(payload: &mut [u8], node: u64, id: u64) {
    if payload.len() >= HEADER && payload[0] == VERSION {
        payload[9..17].copy_from_slice(&node.to_le_bytes());
        payload[17..25].copy_from_slice(&id.to_le_bytes());
    }
}

/// The (node, proposal id) a payload was tagged with, without decoding the rest.
pub fn origin(payload: &[u8]) -> Option<(u64, u64)> {
    if payload.len() < HEADER || payload[0] != VERSION {
        return None;
    }
    let node = u64::from_le_bytes(payload[9..17].try_into().expect("8 bytes"));
    let id = u64::from_le_bytes(payload[17..25].try_into().expect("8 bytes"));
    (node != 0).then_some((node, id))
}

/// `encode` into a buffer the leader can still stamp in place with `set_time`.
pub fn encode_mut(time_ms: u64, ops: &[Op]) -> BytesMut {
    let (mut parts, mut body) = (0u64, 0usize);
    for op in ops {
        for_each_part(op, |_, db, items| {
            parts += 1;
            body += 1 + varint_len(db.into()) + varint_len(items.len() as u64);
            body += items
                .iter()
                .map(|a| varint_len(a.len() as u64) + a.len())
                .sum::<usize>();
        });
    }
    let size = HEADER + varint_len(parts) + body;
    let mut buf = BytesMut::with_capacity(size);
    buf.put_u8(VERSION);
    buf.put_u64_le(time_ms);
    buf.put_u64_le(0);
    buf.put_u64_le(0);
    put_varint(&mut buf, parts);
    for op in ops {
        for_each_part(op, |tag, db, items| {
            buf.put_u8(tag);
            put_varint(&mut buf, db.into());
            put_varint(&mut buf, items.len() as u64);
            for a in items {
                put_varint(&mut buf, a.len() as u64);
                buf.put_slice(a);
            }
        });
    }
    debug_assert_eq!(buf.len(), size);
    buf
}

/// The leader's time stamped on a payload, without decoding the rest.
pub fn entry_time(payload: &[u8]) -> Option<u64> {
    match payload {
        [VERSION | VERSION_1, t @ ..] if t.len() >= 8 => {
            Some(u64::from_le_bytes(t[..8].try_into().expect("8 bytes")))
        }
        _ => None,
    }
}

/// The op count of an encoded payload, read from its header (0 if it has none).
pub fn op_count(payload: &[u8]) -> u64 {
    let skip = match payload.first() {
        Some(&VERSION) => HEADER,
        Some(&VERSION_1) => 9,
        _ => return 0,
    };
    let mut v = 0u64;
    for (i, b) in payload.iter().skip(skip).take(10).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

struct Reader<'a> {
    payload: &'a Bytes,
    pos: usize,
}

impl Reader<'_> {
    fn left(&self) -> usize {
        self.payload.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.payload.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(DecodeError::BadNumber);
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::BadNumber)
    }

    /// A count of items that each take at least one byte: never more than the bytes left, so
    /// a corrupt count cannot make us allocate a huge vector.
    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        if n > self.left() as u64 {
            return Err(DecodeError::Truncated);
        }
        Ok(n as usize)
    }

    fn slice(&mut self, len: u64) -> Result<Bytes, DecodeError> {
        if len > self.left() as u64 {
            return Err(DecodeError::Truncated);
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(self.payload.slice(start..self.pos))
    }
}

/// Decode a payload written by `encode`. Arguments are slices of `payload` (no copy).
pub fn decode(payload: &Bytes) -> Result<Batch, DecodeError> {
    let mut r = Reader { payload, pos: 0 };
    let version = r.byte()?;
    if version != VERSION && version != VERSION_1 {
        return Err(DecodeError::UnknownVersion(version));
    }
    let time_ms = entry_time(payload).ok_or(DecodeError::Truncated)?;
    r.pos += 8;
    if version == VERSION {
        r.slice(16)?;
    }
    let n_ops = r.count()?;
    let mut ops = Vec::with_capacity(n_ops);
    // Commands still to collect into the transaction opened last.
    let mut open_tx = 0u32;
    for _ in 0..n_ops {
        let tag = r.byte()?;
        let db = u32::try_from(r.varint()?).map_err(|_| DecodeError::BadNumber)?;
        let n = r.count()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.varint()?;
            items.push(r.slice(len)?);
        }
        if open_tx > 0 {
            if tag != TAG_COMMAND {
                return Err(DecodeError::UnknownOp(tag));
            }
            if let Some(Op::Transaction { cmds, .. }) = ops.last_mut() {
                cmds.push((db, items));
            }
            open_tx -= 1;
            continue;
        }
        ops.push(match tag {
            TAG_COMMAND => Op::Command { db, args: items },
            TAG_EXPIRE_KEYS => Op::ExpireKeys { db, keys: items },
            TAG_EVICT_KEYS => Op::EvictKeys { db, keys: items },
            TAG_REFUSED if items.len() == 1 => Op::Refused {
                error: items.into_iter().next().expect("one item"),
            },
            TAG_PUBLISH if items.len() == 2 => Op::Publish { items },
            TAG_TRANSACTION if items.len() % 3 == 0 => {
                open_tx = db;
                let mut watched = Vec::with_capacity(items.len() / 3);
                for w in items.chunks_exact(3) {
                    let db = <[u8; 4]>::try_from(&w[0][..]).map_err(|_| DecodeError::BadNumber)?;
                    watched.push((u32::from_le_bytes(db), w[1].clone(), w[2].clone()));
                }
                Op::Transaction {
                    cmds: Vec::with_capacity(db.min(1024) as usize),
                    watched,
                }
            }
            t => return Err(DecodeError::UnknownOp(t)),
        });
    }
    if open_tx != 0 {
        return Err(DecodeError::Truncated);
    }
    if r.left() != 0 {
        return Err(DecodeError::TrailingBytes);
    }
    Ok(Batch { time_ms, ops })
}

/// What the leader does with a client's payload after `screen`.
#[derive(Debug, PartialEq, Eq)]
pub enum Screened {
    /// No op was refused: propose the payload as it is.
    Keep,
    /// Every op was refused: propose nothing; these are the errors, one per op, in order.
    RefuseAll(Vec<String>),
    /// Some ops were refused: propose this payload instead, where each refused op is a
    /// `Refused` op answering its error (the others are unchanged and keep their order).
    Rewrite(BytesMut),
}

/// The leader's check of a client's payload before it proposes it: `refuse` says, per op,
/// whether it is refused and with which error (an -OOM under `noeviction`, for instance).
/// Deciding here, not at apply, keeps apply blind to the node's circumstances (rule 1).
pub fn screen(
    payload: &[u8],
    mut refuse: impl FnMut(&Op) -> Option<String>,
) -> Result<Screened, DecodeError> {
    let batch = decode(&Bytes::copy_from_slice(payload))?;
    let verdicts: Vec<Option<String>> = batch.ops.iter().map(&mut refuse).collect();
    let refused = verdicts.iter().filter(|v| v.is_some()).count();
    if refused == 0 {
        return Ok(Screened::Keep);
    }
    if refused == verdicts.len() {
        return Ok(Screened::RefuseAll(
            verdicts.into_iter().flatten().collect(),
        ));
    }
    let ops: Vec<Op> = batch
        .ops
        .into_iter()
        .zip(verdicts)
        .map(|(op, v)| match v {
            Some(error) => Op::Refused {
                error: Bytes::from(error),
            },
            None => op,
        })
        .collect();
    let mut out = encode_mut(batch.time_ms, &ops);
    // Still the proposer's write: it must recognise it when applied.
    if let Some((node, id)) = origin(payload) {
        set_origin(&mut out, node, id);
    }
    Ok(Screened::Rewrite(out))
}

/// Apply the payload of the committed entry at log `index`; push exactly one reply per op, in
/// order. An empty payload (the leader's no-op) applies nothing and pushes nothing.
///
/// # Panics
/// If the payload does not decode: a replica that cannot apply a committed entry must stop
/// rather than diverge (see the module header).
pub fn apply(
    store: &Store,
    index: u64,
    payload: &Bytes,
    replies: &mut Vec<Reply>,
    effects: &mut dyn Effects,
) {
    if payload.is_empty() {
        return;
    }
    let batch = decode(payload).unwrap_or_else(|e| {
        panic!("committed log entry cannot be decoded ({e}); this replica must stop")
    });
    replies.reserve(batch.ops.len());
    for (n, op) in batch.ops.iter().enumerate() {
        let seed = command::op_seed(index, n as u64);
        replies.push(apply_op(store, batch.time_ms, seed, op, effects));
    }
}

fn apply_op(store: &Store, time_ms: u64, seed: u64, op: &Op, effects: &mut dyn Effects) -> Reply {
    match op {
        Op::Command { db, args } => {
            let reply = match command::resolve(args) {
                Ok(spec) => command::execute_write(store, spec, *db, time_ms, seed, args),
                Err(e) => e,
            };
            effects.applied(args, &reply);
            reply
        }
        Op::ExpireKeys { db, keys } => {
            if *db as usize >= store.databases() {
                return Reply::error(errors::INVALID_DB);
            }
            let mut set = store.shards();
            for k in keys {
                set.add_key(*db, k);
            }
            let mut locks = set.write();
            let n = keys
                .iter()
                .filter(|k| locks.remove_if_expired(*db, k, time_ms))
                .count();
            Reply::Int(n as i64)
        }
        Op::EvictKeys { db, keys } => {
            if *db as usize >= store.databases() {
                return Reply::error(errors::INVALID_DB);
            }
            let mut set = store.shards();
            for k in keys {
                set.add_key(*db, k);
            }
            let mut locks = set.write();
            // A key past its deadline at the entry's time is deleted too but not counted: it
            // had expired, not been evicted (the same on every replica).
            let n = keys
                .iter()
                .filter(|k| locks.remove(*db, k, time_ms))
                .count();
            drop(locks);
            store.note_evicted(n as u64);
            Reply::Int(n as i64)
        }
        Op::Refused { error } => Reply::error_bytes(error.to_vec()),
        Op::Publish { items } => Reply::Int(effects.publish(&items[0], &items[1])),
        Op::Transaction { cmds, watched } => {
            // Every command was resolved when it was queued; one that no longer resolves
            // (cannot happen with the same table) answers its error in place.
            let mut resolved = Vec::with_capacity(cmds.len());
            let mut errors_at = Vec::new();
            for (i, (db, args)) in cmds.iter().enumerate() {
                match command::resolve(args) {
                    Ok(spec) => resolved.push((*db, spec, &args[..])),
                    Err(e) => errors_at.push((i, e)),
                }
            }
            let Some(mut replies) =
                command::execute_transaction(store, time_ms, seed, &resolved, watched)
            else {
                return Reply::NilArray;
            };
            for (i, e) in errors_at {
                replies.insert(i, e);
            }
            for ((_, args), reply) in cmds.iter().zip(&replies) {
                effects.applied(args, reply);
            }
            Reply::Array(replies)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(db: u32, words: &[&str]) -> Op {
        Op::Command {
            db,
            args: words
                .iter()
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect(),
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// A tiny deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn encode_decode_round_trip_with_binary_and_empty_args() {
        let ops = vec![
            cmd(0, &["SET", "k", "v"]),
            Op::Command {
                db: 15,
                args: vec![b("SET"), Bytes::from_static(b"\x00\xff\r\n"), Bytes::new()],
            },
            Op::ExpireKeys {
                db: 3,
                keys: vec![b("a"), Bytes::new(), Bytes::from(vec![7u8; 300])],
            },
            Op::Command {
                db: u32::MAX,
                args: vec![],
            },
        ];
        for time in [0, 1, 1_700_000_000_000, u64::MAX] {
            let payload = encode(time, &ops);
            assert_eq!(payload[0], VERSION);
            assert_eq!(entry_time(&payload), Some(time));
            let batch = decode(&payload).unwrap();
            assert_eq!(
                batch,
                Batch {
                    time_ms: time,
                    ops: ops.clone()
                }
            );
        }
        let empty = encode(5, &[]);
        assert_eq!(
            decode(&empty).unwrap(),
            Batch {
                time_ms: 5,
                ops: vec![]
            }
        );
    }

    #[test]
    fn the_origin_tag_is_set_in_place_and_version_1_still_decodes() {
        let ops = vec![cmd(0, &["SET", "k", "v"]), cmd(1, &["DEL", "k"])];
        let mut payload = encode_mut(7, &ops);
        assert_eq!(origin(&payload), None);
        set_origin(&mut payload, 3, u64::MAX - 1);
        set_time(&mut payload, 9);
        assert_eq!(origin(&payload), Some((3, u64::MAX - 1)));
        assert_eq!(entry_time(&payload), Some(9));
        let payload = payload.freeze();
        assert_eq!(
            decode(&payload).unwrap(),
            Batch {
                time_ms: 9,
                ops: ops.clone()
            }
        );
        // The same batch as an older build wrote it: no origin.
        let mut v1 = vec![VERSION_1];
        v1.extend_from_slice(&payload[1..9]);
        v1.extend_from_slice(&payload[HEADER..]);
        let v1 = Bytes::from(v1);
        assert_eq!(origin(&v1), None);
        assert_eq!(entry_time(&v1), Some(9));
        assert_eq!(decode(&v1).unwrap(), Batch { time_ms: 9, ops });
        let mut tagged = v1.to_vec();
        set_origin(&mut tagged, 1, 1);
        assert_eq!(
            &tagged[..],
            &v1[..],
            "a version 1 payload has no room for a tag"
        );
    }

    #[test]
    fn decode_is_zero_copy() {
        let payload = encode(1, &[cmd(0, &["SET", "key", "value"])]);
        let batch = decode(&payload).unwrap();
        let Op::Command { args, .. } = &batch.ops[0] else {
            panic!()
        };
        let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
        for a in args {
            assert!(
                range.contains(&(a.as_ptr() as usize)),
                "argument copied out of the payload"
            );
        }
    }

    #[test]
    fn every_damaged_payload_is_an_error_not_a_panic() {
        let payload = encode(
            42,
            &[cmd(2, &["MSET", "a", "1", "b", "2"]), cmd(0, &["DEL", "a"])],
        );
        for cut in 0..payload.len() {
            assert!(
                decode(&payload.slice(..cut)).is_err(),
                "prefix of {cut} bytes decoded"
            );
        }
        let mut longer = payload.to_vec();
        longer.push(0);
        assert_eq!(
            decode(&Bytes::from(longer)),
            Err(DecodeError::TrailingBytes)
        );
        let mut v3 = payload.to_vec();
        v3[0] = 3;
        assert_eq!(
            decode(&Bytes::from(v3)),
            Err(DecodeError::UnknownVersion(3))
        );
        let mut bad_tag = payload.to_vec();
        bad_tag[HEADER + 1] = 9;
        assert_eq!(
            decode(&Bytes::from(bad_tag)),
            Err(DecodeError::UnknownOp(9))
        );
        // A huge op count with nothing behind it must not allocate for it.
        let mut huge = vec![VERSION];
        huge.extend_from_slice(&[0; 24]);
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(decode(&Bytes::from(huge)), Err(DecodeError::Truncated));
        // A varint that does not fit 64 bits.
        let mut long = vec![VERSION_1];
        long.extend_from_slice(&0u64.to_le_bytes());
        long.extend_from_slice(&[0xff; 10]);
        long.push(0x01);
        assert_eq!(decode(&Bytes::from(long)), Err(DecodeError::BadNumber));
        assert_eq!(entry_time(&[]), None);
        assert_eq!(entry_time(&[VERSION, 1, 2]), None);
    }

    fn watched(store: &Store, db: u32, key: &str, now: u64) -> command::Watched {
        let fp = command::watch_fingerprints(store, db, &[b(key)], now).remove(0);
        (db, b(key), fp)
    }

    fn transaction(cmds: &[&[&str]], watched: Vec<command::Watched>) -> Op {
        Op::Transaction {
            cmds: cmds
                .iter()
                .map(|c| (0, c.iter().map(|w| b(w)).collect()))
                .collect(),
            watched,
        }
    }

    /// WATCH's keys travel in EXEC's entry; every replica runs the transaction only if each
    /// key still holds what WATCH saw (value, type and deadline) at the entry's time.
    #[test]
    fn a_transaction_runs_only_if_its_watched_keys_are_unchanged() {
        let store = Store::new(16, 4);
        let mut replies = Vec::new();
        let run = |store: &Store, index: u64, time: u64, ops: &[Op], replies: &mut Vec<Reply>| {
            replies.clear();
            apply(store, index, &encode(time, ops), replies, &mut NoEffects);
        };
        run(&store, 1, 1000, &[cmd(0, &["SET", "x", "1"])], &mut replies);
        let w = watched(&store, 0, "x", 1000);
        let missing = watched(&store, 0, "nokey", 1000);
        let tx = transaction(&[&["INCR", "x"]], vec![w.clone(), missing.clone()]);
        let payload = encode(1001, std::slice::from_ref(&tx));
        assert_eq!(decode(&payload).unwrap().ops, vec![tx.clone()]);
        // Unchanged: it runs.
        run(&store, 2, 1001, std::slice::from_ref(&tx), &mut replies);
        assert_eq!(replies, vec![Reply::Array(vec![Reply::Int(2)])]);
        // x is now 2, not what was watched: nothing runs, EXEC's null array.
        run(&store, 3, 1002, std::slice::from_ref(&tx), &mut replies);
        assert_eq!(replies, vec![Reply::NilArray]);
        let get = |store: &Store| {
            let mut r = Vec::new();
            apply(
                store,
                9,
                &encode(1003, &[cmd(0, &["GET", "x"])]),
                &mut r,
                &mut NoEffects,
            );
            r
        };
        assert_eq!(get(&store), vec![Reply::Bulk(b("2"))]);
        // A new deadline is a change (EXPIRE touches the key in Redis too).
        let w = watched(&store, 0, "x", 1003);
        run(
            &store,
            4,
            1003,
            &[cmd(0, &["PEXPIRE", "x", "100"])],
            &mut replies,
        );
        let tx = transaction(&[&["INCR", "x"]], vec![w]);
        run(&store, 5, 1004, std::slice::from_ref(&tx), &mut replies);
        assert_eq!(replies, vec![Reply::NilArray]);
        // A key that expires between WATCH and EXEC changed; one already expired at WATCH
        // and still missing did not.
        let w = watched(&store, 0, "x", 1004);
        let tx = transaction(&[&["SET", "y", "1"]], vec![w.clone()]);
        run(&store, 6, 1200, std::slice::from_ref(&tx), &mut replies);
        assert_eq!(replies, vec![Reply::NilArray]);
        let stale = watched(&store, 0, "x", 1200);
        let tx = transaction(&[&["SET", "y", "1"]], vec![stale, missing]);
        run(&store, 7, 1201, std::slice::from_ref(&tx), &mut replies);
        assert_eq!(replies, vec![Reply::Array(vec![Reply::OK])]);
        // A transaction of session commands only still checks its watched keys.
        let w = watched(&store, 0, "y", 1201);
        run(&store, 8, 1202, &[cmd(0, &["DEL", "y"])], &mut replies);
        run(&store, 9, 1203, &[transaction(&[], vec![w])], &mut replies);
        assert_eq!(replies, vec![Reply::NilArray]);
    }

    #[test]
    fn apply_pushes_one_reply_per_op_and_nothing_for_the_no_op() {
        let store = Store::new(16, 4);
        let mut replies = Vec::new();
        apply(&store, 1, &Bytes::new(), &mut replies, &mut NoEffects);
        assert!(replies.is_empty());
        let payload = encode(
            1000,
            &[
                cmd(0, &["SET", "k", "v"]),
                cmd(0, &["NOSUCH"]),
                cmd(0, &["incr", "k"]),
                cmd(1, &["INCR", "k"]),
                cmd(99, &["INCR", "k"]),
                Op::ExpireKeys {
                    db: 0,
                    keys: vec![b("k")],
                },
            ],
        );
        apply(&store, 2, &payload, &mut replies, &mut NoEffects);
        assert_eq!(
            replies,
            vec![
                Reply::OK,
                Reply::error("ERR unknown command 'NOSUCH', with args beginning with: "),
                Reply::error(errors::NOT_INTEGER),
                Reply::Int(1),
                Reply::error(errors::INVALID_DB),
                Reply::Int(0),
            ]
        );
    }

    #[test]
    fn relative_ttls_become_deadlines_at_the_entry_time() {
        let store = Store::new(1, 2);
        let mut replies = Vec::new();
        apply(
            &store,
            1,
            &encode(
                10_000,
                &[
                    cmd(0, &["SET", "a", "v", "EX", "5"]),
                    cmd(0, &["SET", "b", "v"]),
                ],
            ),
            &mut replies,
            &mut NoEffects,
        );
        apply(
            &store,
            2,
            &encode(20_000, &[cmd(0, &["PEXPIRE", "b", "250"])]),
            &mut replies,
            &mut NoEffects,
        );
        let spec = command::resolve(&[b("PTTL"), b("a")]).unwrap();
        let pttl =
            |key: &str, now| command::execute_read(&store, spec, 0, now, &[b("PTTL"), b(key)]);
        assert_eq!(pttl("a", 10_000), Reply::Int(5000));
        assert_eq!(pttl("a", 14_999), Reply::Int(1));
        assert_eq!(pttl("a", 15_000), Reply::Int(-2));
        assert_eq!(pttl("b", 20_000), Reply::Int(250));
    }

    #[test]
    fn expire_keys_deletes_only_keys_due_at_the_entry_time() {
        let store = Store::new(1, 2);
        let mut replies = Vec::new();
        apply(
            &store,
            1,
            &encode(
                0,
                &[
                    cmd(0, &["SET", "due", "v", "PXAT", "100"]),
                    cmd(0, &["SET", "later", "v", "PXAT", "500"]),
                    cmd(0, &["SET", "forever", "v"]),
                ],
            ),
            &mut replies,
            &mut NoEffects,
        );
        // The leader asks for all four at 100: only "due" is due; the others stay.
        let keys = vec![b("due"), b("later"), b("forever"), b("missing")];
        apply(
            &store,
            2,
            &encode(100, &[Op::ExpireKeys { db: 0, keys }]),
            &mut replies,
            &mut NoEffects,
        );
        assert_eq!(replies.last(), Some(&Reply::Int(1)));
        assert_eq!(store.db_stats(0), (2, 1));
    }

    /// A random workload over a few keys, with TTLs, in several databases.
    fn random_entries(seed: u64, n: usize) -> Vec<Bytes> {
        let mut rng = Rng(seed);
        let mut time = 1_000_000u64;
        let mut out = Vec::new();
        for _ in 0..n {
            time += rng.below(50);
            let ops: Vec<Op> = (0..1 + rng.below(4))
                .map(|_| {
                    let db = rng.below(3) as u32;
                    let k = format!("k{}", rng.below(20));
                    let v = format!("{}", rng.below(1000));
                    let ttl = format!("{}", rng.below(200));
                    let m = format!("{}", rng.below(40));
                    let words: Vec<String> = match rng.below(17) {
                        0 => vec!["SET".into(), k, v],
                        1 => vec!["SET".into(), k, v, "PX".into(), ttl],
                        2 => vec!["INCRBY".into(), k, v],
                        3 => vec!["DEL".into(), k],
                        4 => vec!["PEXPIRE".into(), k, ttl],
                        5 => vec![
                            "MSET".into(),
                            k,
                            v.clone(),
                            format!("k{}", rng.below(20)),
                            v,
                        ],
                        6 => vec!["PERSIST".into(), k],
                        7 => vec!["SET".into(), k, v, "NX".into(), "GET".into()],
                        9 => vec!["SADD".into(), k, m, v],
                        10 => vec!["SPOP".into(), k, format!("{}", rng.below(3))],
                        11 => vec!["HSET".into(), k, m, v],
                        12 => vec!["HINCRBYFLOAT".into(), k, m, "0.1".into()],
                        13 => vec!["SREM".into(), k, m],
                        14 => vec!["HDEL".into(), k, m],
                        15 => vec!["RENAME".into(), k, format!("k{}", rng.below(20))],
                        _ => {
                            return Op::ExpireKeys {
                                db,
                                keys: vec![Bytes::from(k)],
                            }
                        }
                    };
                    Op::Command {
                        db,
                        args: words.into_iter().map(Bytes::from).collect(),
                    }
                })
                .collect();
            out.push(encode(time, &ops));
        }
        out
    }

    #[test]
    fn replicas_applying_the_same_entries_have_the_same_digest_and_replies() {
        // Different shard counts: the layout differs, the data must not.
        let a = Store::new(16, 8);
        let b = Store::new(16, 3);
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        for (i, entry) in random_entries(11, 2000).iter().enumerate() {
            apply(&a, i as u64 + 1, entry, &mut ra, &mut NoEffects);
            apply(&b, i as u64 + 1, entry, &mut rb, &mut NoEffects);
            if i % 100 == 0 {
                assert_eq!(a.digest(), b.digest(), "diverged at entry {i}");
            }
        }
        assert_eq!(ra, rb);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), "0".repeat(40));
        // And a different history gives a different dataset.
        let c = Store::new(16, 8);
        for (i, entry) in random_entries(12, 2000).iter().enumerate() {
            apply(&c, i as u64 + 1, entry, &mut Vec::new(), &mut NoEffects);
        }
        assert_ne!(a.digest(), c.digest());
    }

    /// The same set, built in two different orders (so its table has another history), on two
    /// stores with different shard counts: the same SPOP entries pop the same members.
    #[test]
    fn spop_pops_the_same_members_on_every_replica() {
        let a = Store::new(16, 8);
        let b = Store::new(16, 3);
        let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        let sadd = |ms: &mut dyn Iterator<Item = &String>| {
            let mut words = vec!["SADD", "s"];
            words.extend(ms.map(String::as_str));
            encode(
                1,
                &[
                    cmd(0, &words),
                    cmd(0, &["SADD", "ints", "1", "2", "3", "4", "5"]),
                ],
            )
        };
        apply(
            &a,
            1,
            &sadd(&mut members.iter()),
            &mut Vec::new(),
            &mut NoEffects,
        );
        apply(
            &b,
            1,
            &sadd(&mut members.iter().rev()),
            &mut Vec::new(),
            &mut NoEffects,
        );
        // Churn b's table so its layout differs more.
        let junk: Vec<String> = (0..2000).map(|i| format!("junk{i}")).collect();
        let mut add = vec!["SADD", "s"];
        add.extend(junk.iter().map(String::as_str));
        let mut rem = vec!["SREM", "s"];
        rem.extend(junk.iter().map(String::as_str));
        apply(
            &b,
            2,
            &encode(2, &[cmd(0, &add), cmd(0, &rem)]),
            &mut Vec::new(),
            &mut NoEffects,
        );
        assert_eq!(a.digest(), b.digest());
        let (mut ra, mut rb) = (Vec::new(), Vec::new());
        for index in 10..60u64 {
            let entry = encode(
                index,
                &[
                    cmd(0, &["SPOP", "s"]),
                    cmd(0, &["SPOP", "s", "3"]),
                    cmd(0, &["SPOP", "ints"]),
                ],
            );
            apply(&a, index, &entry, &mut ra, &mut NoEffects);
            apply(&b, index, &entry, &mut rb, &mut NoEffects);
        }
        assert_eq!(ra, rb);
        assert_eq!(a.digest(), b.digest());
        // 200 members popped from s (the set had 300), all 5 from ints.
        let popped: std::collections::BTreeSet<String> = ra
            .iter()
            .flat_map(|r| match r {
                Reply::Bulk(m) => vec![String::from_utf8(m.to_vec()).unwrap()],
                Reply::Set(v) => v
                    .iter()
                    .map(|m| match m {
                        Reply::Bulk(m) => String::from_utf8(m.to_vec()).unwrap(),
                        other => panic!("{other:?}"),
                    })
                    .collect(),
                _ => vec![],
            })
            .collect();
        assert_eq!(popped.len(), 205);
        // The entry's index seeds the choice: the same SPOP at another index picks otherwise.
        let c = Store::new(16, 8);
        apply(
            &c,
            1,
            &sadd(&mut members.iter()),
            &mut Vec::new(),
            &mut NoEffects,
        );
        let (mut rc, mut rd) = (Vec::new(), Vec::new());
        let d = Store::new(16, 8);
        apply(
            &d,
            1,
            &sadd(&mut members.iter()),
            &mut Vec::new(),
            &mut NoEffects,
        );
        for i in 0..20 {
            let entry = encode(1, &[cmd(0, &["SPOP", "s"])]);
            apply(&c, 100 + i, &entry, &mut rc, &mut NoEffects);
            apply(&d, 500 + i, &entry, &mut rd, &mut NoEffects);
        }
        assert_ne!(rc, rd);
    }

    #[test]
    fn mset_is_atomic_for_a_concurrent_mget() {
        let store = Store::new(1, 16);
        let keys: Vec<String> = (0..8).map(|i| format!("key{i}")).collect();
        let mset = |n: u64| {
            let mut words = vec!["MSET".to_string()];
            for k in &keys {
                words.push(k.clone());
                words.push(n.to_string());
            }
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            encode(n, &[cmd(0, &words)])
        };
        apply(&store, 1, &mset(0), &mut Vec::new(), &mut NoEffects);
        let mget: Vec<Bytes> = std::iter::once(b("MGET"))
            .chain(keys.iter().map(|k| b(k)))
            .collect();
        let spec = command::resolve(&mget).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut reads = 0u64;
                while !done.load(std::sync::atomic::Ordering::Relaxed) || reads < 1000 {
                    let Reply::Array(values) = command::execute_read(&store, spec, 0, 0, &mget)
                    else {
                        panic!("MGET did not reply with an array")
                    };
                    assert!(
                        values.windows(2).all(|w| w[0] == w[1]),
                        "torn MSET: {values:?}"
                    );
                    reads += 1;
                }
                reads
            });
            for n in 1..=5000 {
                apply(&store, n + 1, &mset(n), &mut Vec::new(), &mut NoEffects);
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            assert!(reader.join().unwrap() >= 1000);
        });
    }

    #[test]
    fn evict_keys_deletes_what_is_there_and_skips_what_is_gone() {
        let store = Store::new(16, 4);
        let mut replies = Vec::new();
        apply(
            &store,
            1,
            &encode(
                100,
                &[
                    cmd(0, &["SET", "a", "1"]),
                    cmd(0, &["HSET", "h", "f", "v"]),
                    cmd(0, &["SET", "dying", "x", "PX", "50"]),
                    cmd(1, &["SET", "a", "other db"]),
                ],
            ),
            &mut replies,
            &mut NoEffects,
        );
        replies.clear();
        let evict = Op::EvictKeys {
            db: 0,
            keys: vec![b("a"), b("h"), b("gone"), b("dying"), b("a")],
        };
        // At 200 "dying" has expired: deleted, but not counted as evicted.
        apply(
            &store,
            2,
            &encode(200, std::slice::from_ref(&evict)),
            &mut replies,
            &mut NoEffects,
        );
        assert_eq!(replies, vec![Reply::Int(2)]);
        assert_eq!(store.evicted_keys(), 2);
        assert_eq!(store.db_stats(0), (0, 0));
        assert_eq!(store.db_stats(1), (1, 0));
        // Applying it again changes nothing: the keys are gone.
        replies.clear();
        apply(
            &store,
            3,
            &encode(300, &[evict]),
            &mut replies,
            &mut NoEffects,
        );
        assert_eq!(replies, vec![Reply::Int(0)]);
        assert_eq!(store.evicted_keys(), 2);
        replies.clear();
        apply(
            &store,
            4,
            &encode(
                300,
                &[Op::EvictKeys {
                    db: 99,
                    keys: vec![b("a")],
                }],
            ),
            &mut replies,
            &mut NoEffects,
        );
        assert_eq!(replies, vec![Reply::error(errors::INVALID_DB)]);
    }

    #[test]
    fn refused_ops_answer_their_error_and_change_nothing() {
        let store = Store::new(16, 4);
        let ops = vec![
            Op::Refused {
                error: Bytes::from_static(errors::OOM.as_bytes()),
            },
            cmd(0, &["SET", "k", "v"]),
            Op::EvictKeys {
                db: 2,
                keys: vec![b("x")],
            },
        ];
        let payload = encode(5, &ops);
        assert_eq!(decode(&payload).unwrap().ops, ops);
        let mut replies = Vec::new();
        apply(&store, 1, &payload, &mut replies, &mut NoEffects);
        assert_eq!(
            replies,
            vec![Reply::error(errors::OOM), Reply::OK, Reply::Int(0)]
        );
        // A Refused op carries exactly one item.
        let mut bad = encode(
            5,
            &[Op::Publish {
                items: vec![b("c"), b("m")],
            }],
        )
        .to_vec();
        bad[HEADER + 1] = TAG_REFUSED;
        assert_eq!(
            decode(&Bytes::from(bad)),
            Err(DecodeError::UnknownOp(TAG_REFUSED))
        );
    }

    #[test]
    fn screen_keeps_refuses_or_rewrites_a_batch() {
        let refuse_sets = |op: &Op| match op {
            Op::Command { args, .. } if args[0] == "SET" => Some("ERR no".to_string()),
            _ => None,
        };
        let keep = encode(7, &[cmd(0, &["DEL", "a"])]);
        assert_eq!(screen(&keep, refuse_sets), Ok(Screened::Keep));
        let all = encode(7, &[cmd(0, &["SET", "a", "1"]), cmd(0, &["SET", "b", "2"])]);
        assert_eq!(
            screen(&all, refuse_sets),
            Ok(Screened::RefuseAll(vec!["ERR no".into(), "ERR no".into()]))
        );
        let mut mixed = encode_mut(7, &[cmd(0, &["SET", "a", "1"]), cmd(0, &["DEL", "b"])]);
        set_origin(&mut mixed, 2, 40);
        let Ok(Screened::Rewrite(p)) = screen(&mixed, refuse_sets) else {
            panic!("not rewritten")
        };
        assert_eq!(
            origin(&p),
            Some((2, 40)),
            "the rewrite keeps the proposer's tag"
        );
        let batch = decode(&p.freeze()).unwrap();
        assert_eq!(batch.time_ms, 7);
        assert_eq!(
            batch.ops,
            vec![Op::Refused { error: b("ERR no") }, cmd(0, &["DEL", "b"])]
        );
        assert!(screen(&[1, 2, 3], refuse_sets).is_err());
    }
}
