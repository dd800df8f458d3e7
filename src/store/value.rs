//! One key and its value, laid out to cost little memory per key.
//!
//! An `Entry` is 32 bytes: one heap block holding the key followed by the string value (like
//! Redis's embedded strings, but for every length), the absolute deadline, the key's length, and
//! a 32-bit LRU/LFU field. A dictionary node adds one pointer (40 bytes, see `dict`).
//!
//! Invariants: `klen <= blob.len()`; `deadline_ms == 0` means the key has no TTL; the key and the
//! value live in their own allocation, never in a network buffer (a `Bytes` slice would pin the
//! whole buffer it came from for as long as the key lives).
//!
//! Not here: the other Redis types. Issue 3 adds Hash/List/Set/ZSet values as a pointer next to
//! the blob (the blob then holds the key only), and `Kind`/`ValueRef` gain their variants.

use std::sync::atomic::AtomicU32;

/// The type of a value, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
}

impl Kind {
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
        }
    }

    /// Redis's object type code (`OBJ_STRING` = 0, ...), which the digest covers.
    pub(super) fn code(self) -> u32 {
        match self {
            Kind::String => 0,
        }
    }
}

/// A borrowed view of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueRef<'a> {
    Str(&'a [u8]),
}

/// A key with its value, deadline and access metadata.
#[derive(Debug)]
pub struct Entry {
    /// The key's bytes, then the string value's bytes.
    blob: Box<[u8]>,
    /// Absolute expiry time in unix ms; 0 = no TTL.
    deadline_ms: u64,
    klen: u32,
    /// Reserved for the LRU clock / LFU counter of eviction (issue 4). Atomic because readers
    /// will update it while holding only a read lock on the shard; it is node-local metadata,
    /// outside the replicated state and the digest.
    #[allow(dead_code)] // reason: read and written by the eviction policy of issue 4
    lru: AtomicU32,
}

impl Entry {
    /// A string entry. The key length is bounded by the front end's bulk limit (Rule 5), far
    /// below `u32::MAX`, so a longer key is a broken invariant.
    pub fn new_str(key: &[u8], value: &[u8], deadline_ms: u64) -> Entry {
        let klen = u32::try_from(key.len()).expect("key longer than 4 GiB reached the store");
        let mut blob = Vec::with_capacity(key.len() + value.len());
        blob.extend_from_slice(key);
        blob.extend_from_slice(value);
        Entry {
            blob: blob.into_boxed_slice(),
            deadline_ms,
            klen,
            lru: AtomicU32::new(0),
        }
    }

    #[inline]
    pub fn key(&self) -> &[u8] {
        &self.blob[..self.klen as usize]
    }

    pub fn kind(&self) -> Kind {
        Kind::String
    }

    pub fn value(&self) -> ValueRef<'_> {
        ValueRef::Str(&self.blob[self.klen as usize..])
    }

    /// The string value, or `None` when the value is of another type (WRONGTYPE).
    pub fn as_str(&self) -> Option<&[u8]> {
        match self.value() {
            ValueRef::Str(s) => Some(s),
        }
    }

    /// Absolute deadline in unix ms, 0 if the key has no TTL.
    #[inline]
    pub fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Whether the key exists at `now_ms`: a key whose deadline is at or before now is gone.
    #[inline]
    pub fn live_at(&self, now_ms: u64) -> bool {
        self.deadline_ms == 0 || self.deadline_ms > now_ms
    }

    pub(super) fn set_deadline(&mut self, deadline_ms: u64) {
        self.deadline_ms = deadline_ms;
    }

    /// Replace the value with a string, keeping the key and the deadline.
    pub(super) fn set_str(&mut self, value: &[u8]) {
        let k = self.klen as usize;
        if self.blob.len() - k == value.len() {
            // Same length (INCR within the same number of digits): no allocation.
            self.blob[k..].copy_from_slice(value);
            return;
        }
        let mut blob = Vec::with_capacity(k + value.len());
        blob.extend_from_slice(&self.blob[..k]);
        blob.extend_from_slice(value);
        self.blob = blob.into_boxed_slice();
    }

    /// Heap bytes this entry owns beyond its own 32 bytes (for memory estimates).
    pub fn heap_bytes(&self) -> usize {
        self.blob.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
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
}
