//! A chained hash table of entries, shaped like Redis's `dict`.
//!
//! Why not `std::collections::HashMap`: SCAN needs a cursor that stays meaningful while the
//! table is written between calls, and every replica must walk keys in the same order. A table
//! of power-of-two size, bucket chains, and Redis's reverse-binary cursor give both: a full scan
//! returns every key that was present for the whole scan, even across resizes, and the layout
//! depends only on the history of inserts and removes (the hash is fixed, see `hash`). It is
//! also small: 8 bytes per bucket plus a 32-byte node per key (an allocator size class exactly).
//!
//! Invariants: `table.len()` is 0 or a power of two; every node in bucket `i` has a key whose
//! hash has low bits `i`; no two nodes hold the same key; `len` counts the nodes. The table grows
//! (doubles) when an insert would make `len > table.len()` and shrinks when fewer than 10% of
//! buckets would be used, as Redis does; a resize rehashes everything at once (shards keep each
//! table small, so the pause is short).
//!
//! Not here: locking, expiry, and which shard a key belongs to (see `store`).

use super::hash::hash_key;
use super::mem::{alloc_size, vec_bytes};
use super::value::Entry;

type Link = Option<Box<Node>>;

struct Node {
    entry: Entry,
    next: Link,
}

const MIN_SIZE: usize = 4;

pub struct Dict {
    table: Vec<Link>,
    len: usize,
    /// The entries' cost (`entry_bytes`) added at insert and taken at remove. A caller that
    /// changes an entry in place counts the change itself (see `store::Shard`), so this alone
    /// may even go below zero (an entry that grew in place, then was removed); with the
    /// caller's count it is exact.
    bytes: isize,
}

/// What one key costs in the keyspace: its node (the entry and the chain link) and the heap
/// bytes the entry owns, as the allocator counts them.
#[inline]
pub fn entry_bytes(e: &Entry) -> usize {
    alloc_size(std::mem::size_of::<Node>()) + e.heap_bytes()
}

/// What a lookup for writing found.
pub enum Found<'a> {
    Live(&'a mut Entry),
    /// The key had expired: it was removed, here it is (to free wherever is convenient).
    Expired(Entry),
    Missing,
}

impl Dict {
    pub fn new() -> Dict {
        Dict {
            table: Vec::new(),
            len: 0,
            bytes: 0,
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// The entries' cost as inserted and removed (see `bytes`). O(1).
    #[inline]
    pub fn entry_bytes(&self) -> isize {
        self.bytes
    }

    /// The bucket array's allocation. O(1).
    #[inline]
    pub fn table_bytes(&self) -> usize {
        vec_bytes::<Link>(self.table.capacity())
    }

    #[inline]
    fn bucket(&self, hash: u64) -> usize {
        (hash as usize) & (self.table.len() - 1)
    }

    pub fn get(&self, hash: u64, key: &[u8]) -> Option<&Entry> {
        if self.table.is_empty() {
            return None;
        }
        let mut link = &self.table[self.bucket(hash)];
        while let Some(node) = link {
            if node.entry.key() == key {
                return Some(&node.entry);
            }
            link = &node.next;
        }
        None
    }

    /// The chain link that holds `key` (or the `None` at the end of its chain).
    fn link_mut(&mut self, hash: u64, key: &[u8]) -> &mut Link {
        let b = self.bucket(hash);
        let mut link = &mut self.table[b];
        while link.as_ref().is_some_and(|n| n.entry.key() != key) {
            link = &mut link.as_mut().expect("checked by the loop condition").next;
        }
        link
    }

    /// The entry for `key` if it is live at `now_ms`; an expired one is removed and returned.
    pub fn find_mut(&mut self, hash: u64, key: &[u8], now_ms: u64) -> Found<'_> {
        let live = match self.get(hash, key) {
            None => return Found::Missing,
            Some(e) => e.live_at(now_ms),
        };
        if live {
            // A second walk of a short chain: returning a borrow from the first walk on one
            // path and removing on the other is beyond today's borrow checker.
            let node = self.link_mut(hash, key).as_mut();
            return Found::Live(&mut node.expect("found by get").entry);
        }
        Found::Expired(self.remove(hash, key).expect("found by get"))
    }

    fn unlink(link: &mut Link) -> Entry {
        let mut node = link.take().expect("unlink of an empty link");
        *link = node.next.take();
        node.entry
    }

    /// Insert `entry`, replacing the entry with the same key. Returns the replaced entry.
    pub fn insert(&mut self, hash: u64, entry: Entry) -> Option<Entry> {
        self.bytes += entry_bytes(&entry) as isize;
        if !self.table.is_empty() {
            if let Some(node) = self.link_mut(hash, entry.key()) {
                let old = std::mem::replace(&mut node.entry, entry);
                self.bytes -= entry_bytes(&old) as isize;
                return Some(old);
            }
        }
        if self.len + 1 > self.table.len() {
            self.resize((self.len + 1).next_power_of_two().max(MIN_SIZE));
        }
        let b = self.bucket(hash);
        let next = self.table[b].take();
        self.table[b] = Some(Box::new(Node { entry, next }));
        self.len += 1;
        None
    }

    pub fn remove(&mut self, hash: u64, key: &[u8]) -> Option<Entry> {
        if self.table.is_empty() {
            return None;
        }
        let link = self.link_mut(hash, key);
        link.as_ref()?;
        let entry = Self::unlink(link);
        self.len -= 1;
        self.bytes -= entry_bytes(&entry) as isize;
        self.maybe_shrink();
        Some(entry)
    }

    fn maybe_shrink(&mut self) {
        if self.table.len() > MIN_SIZE && self.len * 10 < self.table.len() {
            self.resize(self.len.next_power_of_two().max(MIN_SIZE));
        }
    }

    fn resize(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two() && size >= self.len);
        let old = std::mem::take(&mut self.table);
        self.table.resize_with(size, || None);
        for mut link in old {
            while let Some(mut node) = link {
                link = node.next.take();
                let b = self.bucket(hash_key(node.entry.key()));
                node.next = self.table[b].take();
                self.table[b] = Some(node);
            }
        }
    }

    /// Every entry, in bucket order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter().flat_map(|head| {
            let mut link = head;
            std::iter::from_fn(move || {
                let node = link.as_ref()?;
                link = &node.next;
                Some(&node.entry)
            })
        })
    }

    /// Visit the bucket at `cursor` and return the next cursor, 0 when the scan is complete
    /// (Redis's `dictScan` on one table: the cursor's bits are incremented from the top, so
    /// growing or shrinking the table between calls neither skips buckets nor restarts).
    pub fn scan(&self, cursor: u64, mut visit: impl FnMut(&Entry)) -> u64 {
        if self.table.is_empty() {
            return 0;
        }
        let mask = (self.table.len() - 1) as u64;
        let mut link = &self.table[(cursor & mask) as usize];
        while let Some(node) = link {
            visit(&node.entry);
            link = &node.next;
        }
        let mut v = cursor | !mask;
        v = v.reverse_bits().wrapping_add(1).reverse_bits();
        v
    }

    /// Empty the table, returning its contents as a `Dict` to drop wherever is convenient.
    pub fn take(&mut self) -> Dict {
        std::mem::take(self)
    }

    /// The entries' current cost and the bucket array, recomputed by walking everything (to
    /// check the running counts).
    #[cfg(test)]
    pub fn walk_bytes(&self) -> usize {
        self.table_bytes()
            + self
                .iter()
                .map(|e| alloc_size(std::mem::size_of::<Node>()) + e.walk_heap_bytes())
                .sum::<usize>()
    }
}

impl Default for Dict {
    fn default() -> Dict {
        Dict::new()
    }
}

impl Drop for Dict {
    /// Free chains iteratively: the default recursive drop of a long chain would overflow the
    /// stack.
    fn drop(&mut self) {
        for head in &mut self.table {
            let mut link = head.take();
            while let Some(mut node) = link {
                link = node.next.take();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn put(d: &mut Dict, k: &[u8], v: &[u8]) -> Option<Entry> {
        d.insert(hash_key(k), Entry::new_str(k, v, 0))
    }

    fn get<'a>(d: &'a Dict, k: &[u8]) -> Option<&'a [u8]> {
        d.get(hash_key(k), k).and_then(|e| e.as_str())
    }

    /// A tiny deterministic generator (xorshift64*), so tests are reproducible.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn node_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 32);
        assert_eq!(std::mem::size_of::<Link>(), 8);
    }

    #[test]
    fn insert_get_replace_remove_match_a_model() {
        let mut d = Dict::new();
        let mut model = BTreeMap::new();
        let mut rng = Rng(7);
        for _ in 0..20_000 {
            let k = format!("k{}", rng.next() % 500).into_bytes();
            match rng.next() % 3 {
                0 | 1 => {
                    let v = rng.next().to_string().into_bytes();
                    let old = put(&mut d, &k, &v).map(|e| e.as_str().unwrap().to_vec());
                    assert_eq!(old, model.insert(k, v));
                }
                _ => {
                    let old = d
                        .remove(hash_key(&k), &k)
                        .map(|e| e.as_str().unwrap().to_vec());
                    assert_eq!(old, model.remove(&k));
                }
            }
            assert_eq!(d.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(get(&d, k), Some(&v[..]));
        }
        let keys: BTreeSet<Vec<u8>> = d.iter().map(|e| e.key().to_vec()).collect();
        assert_eq!(keys, model.keys().cloned().collect());
    }

    #[test]
    fn table_grows_at_load_one_and_shrinks_below_a_tenth() {
        let mut d = Dict::new();
        for i in 0..4 {
            put(&mut d, format!("{i}").as_bytes(), b"v");
        }
        assert_eq!(d.table.len(), 4);
        put(&mut d, b"4", b"v");
        assert_eq!(d.table.len(), 8);
        for i in 5..1000 {
            put(&mut d, format!("{i}").as_bytes(), b"v");
        }
        assert_eq!(d.table.len(), 1024);
        for i in 0..990 {
            let k = format!("{i}");
            assert!(d.remove(hash_key(k.as_bytes()), k.as_bytes()).is_some());
        }
        assert_eq!(d.len(), 10);
        assert_eq!(d.table.len(), 16);
        for i in 990..1000 {
            assert_eq!(get(&d, format!("{i}").as_bytes()), Some(&b"v"[..]));
        }
    }

    #[test]
    fn find_mut_removes_an_expired_entry() {
        let mut d = Dict::new();
        d.insert(hash_key(b"a"), Entry::new_str(b"a", b"1", 100));
        d.insert(hash_key(b"b"), Entry::new_str(b"b", b"2", 0));
        let h = hash_key(b"a");
        assert!(matches!(d.find_mut(h, b"a", 99), Found::Live(_)));
        assert!(matches!(d.find_mut(h, b"a", 100), Found::Expired(_)));
        assert!(matches!(d.find_mut(h, b"a", 0), Found::Missing));
        assert_eq!(d.len(), 1);
        assert!(matches!(
            d.find_mut(hash_key(b"b"), b"b", u64::MAX),
            Found::Live(_)
        ));
    }

    #[test]
    fn full_scan_returns_every_key_present_throughout_despite_resizes() {
        let mut d = Dict::new();
        for i in 0..300 {
            put(&mut d, format!("stay{i}").as_bytes(), b"v");
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = d.scan(cursor, |e| {
                seen.insert(e.key().to_vec());
            });
            // Grow the table a lot, then shrink it, between calls.
            step += 1;
            if step < 40 {
                for j in 0..100 {
                    put(&mut d, format!("tmp{step}-{j}").as_bytes(), b"v");
                }
            } else if step == 40 {
                let tmp: Vec<Vec<u8>> = d
                    .iter()
                    .filter(|e| e.key().starts_with(b"tmp"))
                    .map(|e| e.key().to_vec())
                    .collect();
                for k in tmp {
                    d.remove(hash_key(&k), &k);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..300 {
            assert!(
                seen.contains(format!("stay{i}").as_bytes()),
                "missed stay{i}"
            );
        }
    }

    #[test]
    fn scan_of_a_stable_table_visits_each_key_once() {
        let mut d = Dict::new();
        for i in 0..1000 {
            put(&mut d, format!("{i}").as_bytes(), b"v");
        }
        let mut count = BTreeMap::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, |e| *count.entry(e.key().to_vec()).or_insert(0) += 1);
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(count.len(), 1000);
        assert!(count.values().all(|&c| c == 1));
    }

    #[test]
    fn same_history_gives_same_iteration_order() {
        let build = || {
            let mut d = Dict::new();
            let mut rng = Rng(42);
            for _ in 0..5000 {
                let k = format!("{}", rng.next() % 2000).into_bytes();
                if rng.next().is_multiple_of(4) {
                    d.remove(hash_key(&k), &k);
                } else {
                    put(&mut d, &k, b"v");
                }
            }
            d.iter().map(|e| e.key().to_vec()).collect::<Vec<_>>()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn dropping_a_very_long_chain_does_not_overflow_the_stack() {
        // Force every key into bucket 0 by lying about the hash: a worst-case chain.
        let mut d = Dict::new();
        d.table.resize_with(4, || None);
        for i in 0..200_000u32 {
            let next = d.table[0].take();
            let entry = Entry::new_str(&i.to_le_bytes(), b"", 0);
            d.table[0] = Some(Box::new(Node { entry, next }));
        }
        d.len = 200_000;
        drop(d);
    }
}
