//! One key and its value, laid out to cost little memory per key.
//!
//! An `Entry` is 24 bytes, in one of two forms:
//! - inline: one heap block (the blob) holding the absolute deadline (only when the key has a
//!   TTL), the key and the value's bytes; a `meta` word (the value's form in the top 4 bits, a
//!   has-a-deadline bit, the key's length below) and the 32-bit LRU/LFU field. Strings always
//!   live here, and so do small containers, packed as Redis packs them: hashes and sorted sets
//!   as a listpack (`pack`), sets of integers as an intset (`intset`), lists of up to one
//!   quicklist node as a listpack. A small hash is then one allocation, like Redis's listpack
//!   but without a separate `robj` and key.
//! - boxed: a pointer to an `Obj` holding the key, deadline, LRU field and a big container
//!   (hashtable, skiplist, quicklist), for containers past Redis's conversion thresholds.
//!
//! The compiler stores the form's tag in the inline blob pointer's niche, so both fit in 24
//! bytes (a test guards it); a dictionary node adds one pointer: 32 bytes, one of the
//! allocator's size classes exactly (see `dict`, `mem`). A key without a TTL pays nothing for
//! the deadline; one with a TTL pays 8 bytes in its blob (Redis pays an `expires` entry).
//!
//! Blob layout: `[deadline u64 LE, if it has one][key length u64 LE, if long][key][payload]`.
//!
//! Invariants: the key and the value live in their own allocations, never in a network buffer
//! (a `Bytes` slice would pin the whole buffer it came from); `deadline_ms == 0` means no TTL
//! (an inline blob holds a deadline exactly when `meta` says so, and it is never 0);
//! an inline container's tag says how its bytes are encoded and a boxed one's `Big` variant
//! says the same; a container is never empty once a command has finished with it (commands
//! delete emptied keys, as Redis does). Conversions between forms keep the key, deadline and
//! LRU field.
//!
//! Not here: the container operations (`hashes`, `sets`, `zsets`, `lists`), the LRU/LFU
//! arithmetic (`lru`), locking and expiry (`store`).

use std::sync::atomic::{AtomicU32, Ordering};

use super::hashes::{FieldValue, HashRef};
use super::lists::{ListRef, QuickList};
use super::mem::alloc_size;
use super::pack::parse_i64;
use super::sets::SetRef;
use super::table::Table;
use super::zsets::{ZSetRef, ZSkip};

/// The type of a value, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
}

impl Kind {
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
        }
    }

    /// Redis's object type code (`OBJ_STRING` = 0, ...), which the digest covers.
    pub(super) fn code(self) -> u32 {
        match self {
            Kind::String => 0,
            Kind::List => 1,
            Kind::Set => 2,
            Kind::ZSet => 3,
            Kind::Hash => 4,
        }
    }
}

/// A borrowed view of a value.
#[derive(Clone, Copy)]
pub enum ValueRef<'a> {
    Str(&'a [u8]),
    Hash(HashRef<'a>),
    Set(SetRef<'a>),
    ZSet(ZSetRef<'a>),
    List(ListRef<'a>),
}

// Inline forms (top 4 bits of `meta`).
pub(super) const TAG_STR: u32 = 0;
/// A string Redis would hold with the "raw" encoding whatever its length (APPEND, SETRANGE).
pub(super) const TAG_STR_RAW: u32 = 1;
pub(super) const TAG_HASH_PACK: u32 = 2;
pub(super) const TAG_ZSET_PACK: u32 = 3;
pub(super) const TAG_SET_INT16: u32 = 4;
pub(super) const TAG_SET_INT32: u32 = 5;
pub(super) const TAG_SET_INT64: u32 = 6;
pub(super) const TAG_LIST_PACK: u32 = 7;
/// A string Redis holds without the "int" encoding (INCRBYFLOAT's result): embstr or raw by
/// length, even when it reads as an integer.
pub(super) const TAG_STR_NOINT: u32 = 8;

const TAG_SHIFT: u32 = 28;
/// Everything in `meta` but the tag.
const UNTAGGED: u32 = (1 << TAG_SHIFT) - 1;
/// The blob starts with the deadline.
const HAS_DEADLINE: u32 = 1 << 27;
const KLEN_MASK: u32 = HAS_DEADLINE - 1;
/// `klen` value meaning: the key is at least this long, its length is in the blob (8 bytes,
/// after the deadline if any).
const KLEN_LONG: u32 = if cfg!(test) { 300 } else { KLEN_MASK };

/// Redis keeps strings of up to 44 bytes in the object's own allocation ("embstr").
const EMBSTR_SIZE_LIMIT: usize = 44;
/// OBJECT REFCOUNT of Redis's shared integer objects (`OBJ_SHARED_REFCOUNT`).
pub const SHARED_REFCOUNT: i64 = i32::MAX as i64;
/// Integers 0..10000 are shared objects in Redis (`OBJ_SHARED_INTEGERS`).
const SHARED_INTEGERS: i64 = 10_000;

enum Repr {
    Inline {
        blob: Box<[u8]>,
        meta: u32,
        lru: AtomicU32,
    },
    Boxed(Box<Obj>),
}

pub(super) struct Obj {
    key: Box<[u8]>,
    deadline_ms: u64,
    lru: AtomicU32,
    pub(super) value: Big,
}

/// A container past the packed forms' limits.
#[derive(Clone)]
pub(super) enum Big {
    Hash(Table<FieldValue>),
    Set(Table<Box<[u8]>>),
    ZSet(Box<ZSkip>),
    List(QuickList),
}

/// A key with its value, deadline and access metadata.
pub struct Entry(Repr);

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("kind", &self.kind())
            .field("encoding", &self.encoding())
            .field("deadline_ms", &self.deadline_ms())
            .finish()
    }
}

/// The inline blob for `deadline_ms` (0: none), `key` and `payload`, and the `meta` word's
/// bits below the tag.
fn make_blob(deadline_ms: u64, key: &[u8], payload: &[u8]) -> (Box<[u8]>, u32) {
    let long = key.len() >= KLEN_LONG as usize;
    let mut meta = if long { KLEN_LONG } else { key.len() as u32 };
    let extra = if long { 8 } else { 0 } + if deadline_ms != 0 { 8 } else { 0 };
    let mut blob = Vec::with_capacity(extra + key.len() + payload.len());
    if deadline_ms != 0 {
        blob.extend_from_slice(&deadline_ms.to_le_bytes());
        meta |= HAS_DEADLINE;
    }
    if long {
        blob.extend_from_slice(&(key.len() as u64).to_le_bytes());
    }
    blob.extend_from_slice(key);
    blob.extend_from_slice(payload);
    (blob.into_boxed_slice(), meta)
}

/// Bytes before the long key length or the key: the deadline's, if any.
#[inline]
fn deadline_len(meta: u32) -> usize {
    if meta & HAS_DEADLINE != 0 {
        8
    } else {
        0
    }
}

#[inline]
fn read_u64(blob: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(blob[at..at + 8].try_into().expect("8 bytes in the blob"))
}

/// Where the key ends in an inline blob (the payload starts there).
#[inline]
fn key_end(blob: &[u8], meta: u32) -> usize {
    match meta & KLEN_MASK {
        KLEN_LONG => key_start(meta) + read_u64(blob, deadline_len(meta)) as usize,
        k => deadline_len(meta) + k as usize,
    }
}

#[inline]
fn key_start(meta: u32) -> usize {
    deadline_len(meta) + if meta & KLEN_MASK == KLEN_LONG { 8 } else { 0 }
}

impl Entry {
    /// A string entry.
    pub fn new_str(key: &[u8], value: &[u8], deadline_ms: u64) -> Entry {
        Entry::inline(key, TAG_STR, value, deadline_ms)
    }

    /// A string entry Redis would hold "raw" whatever its length (BITOP's result).
    pub fn new_str_raw(key: &[u8], value: &[u8], deadline_ms: u64) -> Entry {
        Entry::inline(key, TAG_STR_RAW, value, deadline_ms)
    }

    /// An inline entry of form `tag` whose value bytes are `payload`.
    pub(super) fn inline(key: &[u8], tag: u32, payload: &[u8], deadline_ms: u64) -> Entry {
        let (blob, bits) = make_blob(deadline_ms, key, payload);
        Entry(Repr::Inline {
            blob,
            meta: (tag << TAG_SHIFT) | bits,
            lru: AtomicU32::new(0),
        })
    }

    /// An empty container of `kind` in its smallest form, for a command to fill before it
    /// finishes (an empty container must not outlive the command).
    pub(super) fn new_container(key: &[u8], kind: Kind) -> Entry {
        let tag = match kind {
            Kind::String => TAG_STR,
            Kind::Hash => TAG_HASH_PACK,
            Kind::ZSet => TAG_ZSET_PACK,
            Kind::Set => TAG_SET_INT16,
            Kind::List => TAG_LIST_PACK,
        };
        Entry::inline(key, tag, &[], 0)
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { blob, meta, .. } => &blob[key_start(*meta)..key_end(blob, *meta)],
            Repr::Boxed(o) => &o.key,
        }
    }

    /// The inline form's tag, `None` when boxed.
    #[inline]
    pub(super) fn tag(&self) -> Option<u32> {
        match &self.0 {
            Repr::Inline { meta, .. } => Some(meta >> TAG_SHIFT),
            Repr::Boxed(_) => None,
        }
    }

    /// The inline value bytes (empty when boxed).
    #[inline]
    pub(super) fn payload(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { blob, meta, .. } => &blob[key_end(blob, *meta)..],
            Repr::Boxed(_) => &[],
        }
    }

    pub(super) fn big(&self) -> Option<&Big> {
        match &self.0 {
            Repr::Inline { .. } => None,
            Repr::Boxed(o) => Some(&o.value),
        }
    }

    pub(super) fn big_mut(&mut self) -> Option<&mut Big> {
        match &mut self.0 {
            Repr::Inline { .. } => None,
            Repr::Boxed(o) => Some(&mut o.value),
        }
    }

    /// Change the inline payload in place: `f` gets the blob as a vector and the offset where
    /// the payload starts, and must leave the key alone. Reallocates at most once when `f`
    /// reserves exactly what it adds (`Vec::reserve_exact`).
    ///
    /// # Panics
    /// If the entry is boxed (a caller that did not check the form).
    pub(super) fn edit_payload<R>(&mut self, f: impl FnOnce(&mut Vec<u8>, usize) -> R) -> R {
        let Repr::Inline { blob, meta, .. } = &mut self.0 else {
            panic!("edit_payload on a boxed entry");
        };
        let start = key_end(blob, *meta);
        let mut v = std::mem::take(blob).into_vec();
        let r = f(&mut v, start);
        debug_assert!(v.len() >= start);
        *blob = v.into_boxed_slice();
        r
    }

    /// Set the inline form's tag (the payload must already be in that form).
    pub(super) fn set_tag(&mut self, tag: u32) {
        if let Repr::Inline { meta, .. } = &mut self.0 {
            *meta = (tag << TAG_SHIFT) | (*meta & UNTAGGED);
        }
    }

    /// Turn the entry into the boxed form holding `value`; the old inline payload is dropped.
    pub(super) fn promote(&mut self, value: Big) {
        let obj = Obj {
            key: self.key().into(),
            deadline_ms: self.deadline_ms(),
            lru: AtomicU32::new(self.lru().load(Ordering::Relaxed)),
            value,
        };
        self.0 = Repr::Boxed(Box::new(obj));
    }

    /// Turn the entry into the inline form `tag` with `payload`; returns the old container (to
    /// drop wherever is convenient).
    pub(super) fn demote(&mut self, tag: u32, payload: &[u8]) -> Option<Big> {
        let (blob, bits) = make_blob(self.deadline_ms(), self.key(), payload);
        let new = Repr::Inline {
            blob,
            meta: (tag << TAG_SHIFT) | bits,
            lru: AtomicU32::new(self.lru().load(Ordering::Relaxed)),
        };
        match std::mem::replace(&mut self.0, new) {
            Repr::Boxed(o) => Some(o.value),
            Repr::Inline { .. } => None,
        }
    }

    pub fn kind(&self) -> Kind {
        match &self.0 {
            Repr::Inline { meta, .. } => match meta >> TAG_SHIFT {
                TAG_STR | TAG_STR_RAW | TAG_STR_NOINT => Kind::String,
                TAG_HASH_PACK => Kind::Hash,
                TAG_ZSET_PACK => Kind::ZSet,
                TAG_LIST_PACK => Kind::List,
                _ => Kind::Set,
            },
            Repr::Boxed(o) => match o.value {
                Big::Hash(_) => Kind::Hash,
                Big::Set(_) => Kind::Set,
                Big::ZSet(_) => Kind::ZSet,
                Big::List(_) => Kind::List,
            },
        }
    }

    /// The encoding OBJECT ENCODING names, as Redis 7.0 would hold this value.
    pub fn encoding(&self) -> &'static str {
        match (self.tag(), self.big()) {
            (Some(TAG_STR_RAW), _) => "raw",
            (Some(TAG_STR_NOINT), _) => {
                if self.payload().len() <= EMBSTR_SIZE_LIMIT {
                    "embstr"
                } else {
                    "raw"
                }
            }
            (Some(TAG_STR), _) => {
                let s = self.payload();
                if s.len() <= 20 && parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= EMBSTR_SIZE_LIMIT {
                    "embstr"
                } else {
                    "raw"
                }
            }
            (Some(TAG_HASH_PACK | TAG_ZSET_PACK), _) => "listpack",
            (Some(TAG_SET_INT16 | TAG_SET_INT32 | TAG_SET_INT64), _) => "intset",
            // Redis 7.0 keeps every list in a quicklist, however short.
            (Some(_), _) | (None, Some(Big::List(_))) => "quicklist",
            (None, Some(Big::Hash(_) | Big::Set(_))) => "hashtable",
            (None, Some(Big::ZSet(_))) => "skiplist",
            (None, None) => unreachable!("a boxed entry has a container"),
        }
    }

    /// OBJECT REFCOUNT: Redis shares the objects of small integer strings when `shared` (no
    /// maxmemory, or a policy that ranks no keys by their own access field: see
    /// `Store::shares_integers`); every other value is referenced once.
    pub fn refcount(&self, shared: bool) -> i64 {
        if shared && self.tag() == Some(TAG_STR) {
            if let Some(n) = parse_i64(self.payload()) {
                if (0..SHARED_INTEGERS).contains(&n) && self.payload().len() <= 20 {
                    return SHARED_REFCOUNT;
                }
            }
        }
        1
    }

    pub fn value(&self) -> ValueRef<'_> {
        match self.kind() {
            Kind::String => ValueRef::Str(self.payload()),
            Kind::Hash => ValueRef::Hash(HashRef::of(self)),
            Kind::Set => ValueRef::Set(SetRef::of(self)),
            Kind::ZSet => ValueRef::ZSet(ZSetRef::of(self)),
            Kind::List => ValueRef::List(ListRef::of(self)),
        }
    }

    /// The string value, or `None` when the value is of another type (WRONGTYPE).
    pub fn as_str(&self) -> Option<&[u8]> {
        match self.tag() {
            Some(TAG_STR | TAG_STR_RAW | TAG_STR_NOINT) => Some(self.payload()),
            _ => None,
        }
    }

    pub fn as_hash(&self) -> Option<HashRef<'_>> {
        (self.kind() == Kind::Hash).then(|| HashRef::of(self))
    }

    pub fn as_set(&self) -> Option<SetRef<'_>> {
        (self.kind() == Kind::Set).then(|| SetRef::of(self))
    }

    pub fn as_zset(&self) -> Option<ZSetRef<'_>> {
        (self.kind() == Kind::ZSet).then(|| ZSetRef::of(self))
    }

    pub fn as_list(&self) -> Option<ListRef<'_>> {
        (self.kind() == Kind::List).then(|| ListRef::of(self))
    }

    /// Absolute deadline in unix ms, 0 if the key has no TTL.
    #[inline]
    pub fn deadline_ms(&self) -> u64 {
        match &self.0 {
            Repr::Inline { blob, meta, .. } if *meta & HAS_DEADLINE != 0 => read_u64(blob, 0),
            Repr::Inline { .. } => 0,
            Repr::Boxed(o) => o.deadline_ms,
        }
    }

    /// Whether the key exists at `now_ms`: a key whose deadline is at or before now is gone.
    #[inline]
    pub fn live_at(&self, now_ms: u64) -> bool {
        let d = self.deadline_ms();
        d == 0 || d > now_ms
    }

    pub(super) fn set_deadline(&mut self, deadline_ms: u64) {
        match &mut self.0 {
            Repr::Inline { blob, meta, .. } => match (*meta & HAS_DEADLINE != 0, deadline_ms) {
                (true, 0) => {
                    *blob = blob[8..].into();
                    *meta &= !HAS_DEADLINE;
                }
                (true, d) => blob[..8].copy_from_slice(&d.to_le_bytes()),
                (false, 0) => {}
                (false, d) => {
                    let mut v = Vec::with_capacity(8 + blob.len());
                    v.extend_from_slice(&d.to_le_bytes());
                    v.extend_from_slice(blob);
                    *blob = v.into_boxed_slice();
                    *meta |= HAS_DEADLINE;
                }
            },
            Repr::Boxed(o) => o.deadline_ms = deadline_ms,
        }
    }

    /// The LRU clock or LFU counter (see `lru`). Node-local metadata: outside the replicated
    /// state and the digest, updated by readers under a shared lock.
    #[inline]
    pub fn lru(&self) -> &AtomicU32 {
        match &self.0 {
            Repr::Inline { lru, .. } => lru,
            Repr::Boxed(o) => &o.lru,
        }
    }

    /// Replace the value with a string, keeping the key, the deadline and the LRU field. The
    /// old value, if it was a big container, is returned to be dropped wherever is convenient.
    pub(super) fn set_str(&mut self, value: &[u8]) -> Option<Big> {
        self.set_inline(TAG_STR, value)
    }

    /// Like `set_str`, for a string Redis never encodes as "int" (INCRBYFLOAT's result).
    pub(super) fn set_str_noint(&mut self, value: &[u8]) -> Option<Big> {
        self.set_inline(TAG_STR_NOINT, value)
    }

    /// Like `set_str`, for a string Redis would encode as "raw" whatever its length.
    pub(super) fn set_str_raw(&mut self, value: &[u8]) -> Option<Big> {
        self.set_inline(TAG_STR_RAW, value)
    }

    /// The string value for changing in place, first grown with zero bytes to at least `len`
    /// bytes, and from now on "raw" (Redis's `dbUnshareStringValue` then `sdsgrowzero`:
    /// SETRANGE, SETBIT, BITFIELD). `None` when the value is not a string.
    pub(super) fn str_raw_mut(&mut self, len: usize) -> Option<&mut [u8]> {
        let Repr::Inline { blob, meta, .. } = &mut self.0 else {
            return None;
        };
        if !matches!(*meta >> TAG_SHIFT, TAG_STR | TAG_STR_RAW | TAG_STR_NOINT) {
            return None;
        }
        *meta = (TAG_STR_RAW << TAG_SHIFT) | (*meta & UNTAGGED);
        let k = key_end(blob, *meta);
        if blob.len() - k < len {
            // One zeroed allocation (calloc), then the old bytes: pages fresh from the OS are
            // not written twice, and the old blob is the only other copy (a string grown to
            // hundreds of MB by SETRANGE or SETBIT at a large offset).
            let mut grown = vec![0u8; k + len];
            grown[..blob.len()].copy_from_slice(blob);
            *blob = grown.into_boxed_slice();
        }
        Some(&mut blob[k..])
    }

    fn set_inline(&mut self, tag: u32, value: &[u8]) -> Option<Big> {
        if let Repr::Inline { blob, meta, .. } = &mut self.0 {
            let k = key_end(blob, *meta);
            *meta = (tag << TAG_SHIFT) | (*meta & UNTAGGED);
            if blob.len() - k == value.len() {
                // Same length (INCR within the same number of digits): no allocation.
                blob[k..].copy_from_slice(value);
            } else {
                let mut v = Vec::with_capacity(k + value.len());
                v.extend_from_slice(&blob[..k]);
                v.extend_from_slice(value);
                *blob = v.into_boxed_slice();
            }
            return None;
        }
        self.demote(tag, value)
    }

    /// The same value and deadline under another key (RENAME, MOVE): no copy of a big container.
    pub fn rekey(self, key: &[u8]) -> Entry {
        let deadline_ms = self.deadline_ms();
        match self.0 {
            Repr::Inline { blob, meta, lru } => {
                let (blob, bits) = make_blob(deadline_ms, key, &blob[key_end(&blob, meta)..]);
                Entry(Repr::Inline {
                    blob,
                    meta: (meta & !UNTAGGED) | bits,
                    lru,
                })
            }
            Repr::Boxed(mut o) => {
                o.key = key.into();
                Entry(Repr::Boxed(o))
            }
        }
    }

    /// A deep copy of the value under another key, with the given deadline (COPY).
    pub fn duplicate(&self, key: &[u8], deadline_ms: u64) -> Entry {
        let mut e = match (&self.0, self.big()) {
            (Repr::Inline { meta, .. }, _) => {
                Entry::inline(key, meta >> TAG_SHIFT, self.payload(), deadline_ms)
            }
            (Repr::Boxed(_), Some(big)) => Entry(Repr::Boxed(Box::new(Obj {
                key: key.into(),
                deadline_ms,
                lru: AtomicU32::new(0),
                value: big.clone(),
            }))),
            (Repr::Boxed(_), None) => unreachable!("a boxed entry has a container"),
        };
        e.set_deadline(deadline_ms);
        e
    }

    /// Heap bytes this entry owns beyond its own 24 bytes, as the allocator counts them
    /// (`mem::alloc_size`). O(1): big containers keep their count current.
    #[inline]
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { blob, .. } => alloc_size(blob.len()),
            Repr::Boxed(o) => {
                alloc_size(std::mem::size_of::<Obj>())
                    + alloc_size(o.key.len())
                    + o.value.heap_bytes()
            }
        }
    }

    /// `heap_bytes` recomputed by walking the container (to check the running counts).
    #[cfg(test)]
    pub(super) fn walk_heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { blob, .. } => alloc_size(blob.len()),
            Repr::Boxed(o) => {
                alloc_size(std::mem::size_of::<Obj>())
                    + alloc_size(o.key.len())
                    + match &o.value {
                        Big::Hash(t) => t.walk_heap_bytes(),
                        Big::Set(t) => t.walk_heap_bytes(),
                        Big::ZSet(z) => {
                            alloc_size(std::mem::size_of::<ZSkip>()) + z.walk_heap_bytes()
                        }
                        Big::List(l) => l.walk_heap_bytes(),
                    }
            }
        }
    }

    /// How many allocations dropping this entry frees, roughly (Redis's "free effort"): the
    /// store drops entries above a threshold on a background thread.
    pub fn free_effort(&self) -> usize {
        match self.big() {
            None => 1,
            Some(big) => big.len(),
        }
    }
}

impl Big {
    /// Number of elements.
    pub(super) fn len(&self) -> usize {
        match self {
            Big::Hash(t) => t.len(),
            Big::Set(t) => t.len(),
            Big::ZSet(z) => z.len(),
            Big::List(l) => l.len(),
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Big::Hash(t) => t.heap_bytes(),
            Big::Set(t) => t.heap_bytes(),
            Big::ZSet(z) => alloc_size(std::mem::size_of::<ZSkip>()) + z.heap_bytes(),
            Big::List(l) => l.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 24);
    }

    #[test]
    fn a_deadline_lives_in_the_blob_only_while_there_is_one() {
        let long_key = vec![b'k'; KLEN_LONG as usize + 1];
        for key in [&b"key"[..], &b""[..], &long_key[..]] {
            let len_field = if key.len() >= KLEN_LONG as usize {
                8
            } else {
                0
            };
            let mut e = Entry::new_str(key, b"value", 0);
            assert_eq!(e.heap_bytes(), alloc_size(len_field + key.len() + 5));
            let plain = e.heap_bytes();
            e.set_deadline(1234);
            assert_eq!(
                (e.key(), e.as_str(), e.deadline_ms()),
                (key, Some(&b"value"[..]), 1234)
            );
            e.set_str(b"another value");
            e.set_deadline(99);
            assert_eq!(
                (e.key(), e.as_str(), e.deadline_ms()),
                (key, Some(&b"another value"[..]), 99)
            );
            let d = e.duplicate(b"copy", 5);
            assert_eq!(
                (d.key(), d.as_str(), d.deadline_ms()),
                (&b"copy"[..], Some(&b"another value"[..]), 5)
            );
            let r = e.rekey(b"renamed");
            assert_eq!((r.key(), r.deadline_ms()), (&b"renamed"[..], 99));
            let mut e = r.rekey(key);
            e.set_deadline(0);
            e.set_str(b"value");
            assert_eq!(
                (e.key(), e.as_str(), e.deadline_ms()),
                (key, Some(&b"value"[..]), 0)
            );
            assert_eq!(e.heap_bytes(), plain);
            // Tags and payload edits keep the deadline and the key.
            let mut c = Entry::inline(key, TAG_HASH_PACK, &[], 777);
            c.edit_payload(|v, start| {
                assert_eq!(start, 8 + len_field + key.len());
                v.extend_from_slice(b"xyz");
            });
            c.set_tag(TAG_ZSET_PACK);
            assert_eq!(
                (c.key(), c.payload(), c.deadline_ms()),
                (key, &b"xyz"[..], 777)
            );
        }
    }

    #[test]
    fn entry_keeps_key_and_value_apart() {
        let mut e = Entry::new_str(b"key", b"value", 0);
        assert_eq!(e.key(), b"key");
        assert_eq!(e.as_str(), Some(&b"value"[..]));
        e.set_str(b"vaLue");
        assert_eq!(e.as_str(), Some(&b"vaLue"[..]));
        e.set_str(b"");
        assert_eq!((e.key(), e.as_str()), (&b"key"[..], Some(&b""[..])));
        e.set_str(b"a longer value than before");
        assert_eq!(e.key(), b"key");
        assert_eq!(e.as_str(), Some(&b"a longer value than before"[..]));
        let empty_key = Entry::new_str(b"", b"v", 0);
        assert_eq!(
            (empty_key.key(), empty_key.as_str()),
            (&b""[..], Some(&b"v"[..]))
        );
    }

    #[test]
    fn key_is_live_strictly_before_its_deadline() {
        let e = Entry::new_str(b"k", b"v", 1000);
        assert!(e.live_at(999));
        assert!(!e.live_at(1000));
        assert!(!e.live_at(1001));
        assert!(Entry::new_str(b"k", b"v", 0).live_at(u64::MAX));
    }

    #[test]
    fn a_key_longer_than_the_length_field_is_kept_whole() {
        let key = vec![b'k'; KLEN_LONG as usize + 3];
        let mut e = Entry::new_str(&key, b"value", 7);
        assert_eq!(e.key(), &key[..]);
        assert_eq!(e.as_str(), Some(&b"value"[..]));
        e.set_str(b"v2");
        assert_eq!((e.key().len(), e.as_str()), (key.len(), Some(&b"v2"[..])));
        let e = e.rekey(b"short");
        assert_eq!((e.key(), e.as_str()), (&b"short"[..], Some(&b"v2"[..])));
        assert_eq!(e.deadline_ms(), 7);
    }

    #[test]
    fn string_encodings_follow_redis_rules() {
        let enc = |v: &[u8]| Entry::new_str(b"k", v, 0).encoding();
        assert_eq!(enc(b"123"), "int");
        assert_eq!(enc(b"-9223372036854775808"), "int");
        assert_eq!(enc(b"0123"), "embstr");
        assert_eq!(enc(&[b'a'; 44]), "embstr");
        assert_eq!(enc(&[b'a'; 45]), "raw");
        let mut e = Entry::new_str(b"k", b"x", 0);
        e.set_str_raw(b"12");
        assert_eq!(e.encoding(), "raw");
        e.set_str(b"12");
        assert_eq!(e.encoding(), "int");
        assert_eq!(e.refcount(true), SHARED_REFCOUNT);
        assert_eq!(e.refcount(false), 1);
        e.set_str(b"10000");
        assert_eq!(e.refcount(true), 1);
    }

    #[test]
    fn rekey_and_duplicate_keep_value_and_form() {
        let e = Entry::new_str(b"a", b"value", 5);
        e.lru().store(77, Ordering::Relaxed);
        let d = e.duplicate(b"b", 9);
        assert_eq!(
            (d.key(), d.as_str(), d.deadline_ms()),
            (&b"b"[..], Some(&b"value"[..]), 9)
        );
        let r = e.rekey(b"c");
        assert_eq!(
            (r.key(), r.as_str(), r.deadline_ms()),
            (&b"c"[..], Some(&b"value"[..]), 5)
        );
        assert_eq!(r.lru().load(Ordering::Relaxed), 77);
    }
}
