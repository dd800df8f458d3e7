//! A hash table for the members of big containers (hash fields, set members, sorted set
//! members), shaped like Redis's `dict` where it matters and compact where it does not.
//!
//! Items live in one array (`slots`), chained per bucket by 32-bit indices; a removal moves the
//! last item into the hole, so the array has no holes and a big container costs one slot per
//! member (24 bytes for a set member or a hash field/value pair, plus its bytes) and 4 bytes per
//! bucket. The caller learns of the move (`Moved`), for structures that point into the table
//! (the sorted set's skiplist).
//!
//! Determinism: the hash is the keyspace's fixed `hash_key`, so the layout depends only on the
//! history of inserts and removes. Two operations do not even depend on that:
//! - `pick(r)` chooses an item from a random number by the item's content alone (the first item
//!   at or after `r` in the order of bit-reversed hashes, then bytes), so SPOP's choice is the
//!   same on a replica whose table was built in another order (restored from a snapshot).
//! - `scan` uses Redis's reverse-binary cursor over buckets, so HSCAN/SSCAN/ZSCAN return every
//!   item present for the whole iteration at least once, across any resize between calls.
//!
//! Invariants: `buckets.len()` is a power of two >= 4 (or 0 when empty and never used); every
//! slot is on exactly one chain, the chain of bucket `hash & mask`; keys are unique; the table
//! grows when `len > buckets` and shrinks when `len * 10 < buckets`, as Redis's dict.
//!
//! Not here: what an item holds beyond its key (see the `Keyed` implementations).

use super::hash::hash_key;
use super::mem::{alloc_size, vec_bytes};

/// An item stored in a `Table`, found by its key bytes.
pub trait Keyed {
    fn key(&self) -> &[u8];
    /// Bytes the item owns on the heap beyond its slot, as the allocator counts them
    /// (`mem::alloc_size`). Must not change while the item is in a table (see `get_mut`).
    fn heap_bytes(&self) -> usize;
}

const NIL: u32 = u32::MAX;
const MIN_BUCKETS: usize = 4;

#[derive(Clone)]
struct Slot<T> {
    item: T,
    next: u32,
    /// Low 32 bits of the key's hash (the bucket index never needs more).
    hash: u32,
}

/// After a removal, the item that was at index `from` is now at index `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moved {
    pub from: u32,
    pub to: u32,
}

#[derive(Clone)]
pub struct Table<T> {
    buckets: Vec<u32>,
    slots: Vec<Slot<T>>,
    /// The sum of the items' `heap_bytes`, kept current by every insert, replace and remove.
    item_bytes: usize,
}

#[inline]
fn hash32(key: &[u8]) -> u32 {
    hash_key(key) as u32
}

impl<T: Keyed> Table<T> {
    pub fn new() -> Table<T> {
        Table {
            buckets: Vec::new(),
            slots: Vec::new(),
            item_bytes: 0,
        }
    }

    /// A table sized for `n` items.
    pub fn with_capacity(n: usize) -> Table<T> {
        let mut t = Table {
            buckets: Vec::new(),
            slots: Vec::with_capacity(n),
            item_bytes: 0,
        };
        t.resize(n.next_power_of_two().max(MIN_BUCKETS));
        t
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    #[inline]
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// The index of the item whose key is `key`.
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let h = hash32(key);
        let mut i = self.buckets[h as usize & self.mask()];
        while i != NIL {
            let s = &self.slots[i as usize];
            if s.hash == h && s.item.key() == key {
                return Some(i);
            }
            i = s.next;
        }
        None
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &T {
        &self.slots[idx as usize].item
    }

    /// The item at `idx`, to change anything but its key and its heap size (use `replace`
    /// for that: the table counts its items' bytes).
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut T {
        &mut self.slots[idx as usize].item
    }

    /// Put `item`, whose key must be the same, in place of the item at `idx`; returns the old.
    pub fn replace(&mut self, idx: u32, item: T) -> T {
        debug_assert!(item.key() == self.slots[idx as usize].item.key());
        self.item_bytes += item.heap_bytes();
        let old = std::mem::replace(&mut self.slots[idx as usize].item, item);
        self.item_bytes -= old.heap_bytes();
        old
    }

    /// Insert an item whose key is not in the table; returns its index.
    ///
    /// # Panics
    /// If the table already holds 2^32 - 1 items (memory runs out long before).
    pub fn insert(&mut self, item: T) -> u32 {
        debug_assert!(self.find(item.key()).is_none(), "duplicate key inserted");
        let idx = u32::try_from(self.slots.len())
            .ok()
            .filter(|&i| i != NIL)
            .expect("container of 2^32 items");
        if self.slots.len() + 1 > self.buckets.len() {
            self.resize((self.slots.len() + 1).next_power_of_two().max(MIN_BUCKETS));
        }
        let hash = hash32(item.key());
        let b = hash as usize & self.mask();
        self.item_bytes += item.heap_bytes();
        self.slots.push(Slot {
            item,
            next: self.buckets[b],
            hash,
        });
        self.buckets[b] = idx;
        idx
    }

    /// Replace the link that points to `from` (in the chain of bucket `b`) by `to`.
    fn relink(&mut self, b: usize, from: u32, to: u32) {
        if self.buckets[b] == from {
            self.buckets[b] = to;
            return;
        }
        let mut i = self.buckets[b];
        loop {
            let next = self.slots[i as usize].next;
            if next == from {
                self.slots[i as usize].next = to;
                return;
            }
            assert!(next != NIL, "table chain is missing an item");
            i = next;
        }
    }

    /// Remove the item at `idx`. The last item moves into its place (reported when it is
    /// another item).
    pub fn remove(&mut self, idx: u32) -> (T, Option<Moved>) {
        let mask = self.mask();
        let b = self.slots[idx as usize].hash as usize & mask;
        let next = self.slots[idx as usize].next;
        self.relink(b, idx, next);
        let last = (self.slots.len() - 1) as u32;
        let moved = if last != idx {
            let lb = self.slots[last as usize].hash as usize & mask;
            self.relink(lb, last, idx);
            Some(Moved {
                from: last,
                to: idx,
            })
        } else {
            None
        };
        let slot = self.slots.swap_remove(idx as usize);
        self.item_bytes -= slot.item.heap_bytes();
        if self.buckets.len() > MIN_BUCKETS && self.slots.len() * 10 < self.buckets.len() {
            self.resize(self.slots.len().next_power_of_two().max(MIN_BUCKETS));
        }
        if self.slots.capacity() > 64 && self.slots.len() * 4 < self.slots.capacity() {
            self.slots.shrink_to(self.slots.len() * 2);
        }
        (slot.item, moved)
    }

    /// Remove the item whose key is `key`.
    pub fn remove_key(&mut self, key: &[u8]) -> Option<T> {
        let idx = self.find(key)?;
        Some(self.remove(idx).0)
    }

    fn resize(&mut self, size: usize) {
        debug_assert!(size.is_power_of_two() && size >= self.slots.len());
        self.buckets.clear();
        self.buckets.resize(size, NIL);
        self.buckets.shrink_to_fit();
        let mask = size - 1;
        for i in 0..self.slots.len() {
            let b = self.slots[i].hash as usize & mask;
            self.slots[i].next = self.buckets[b];
            self.buckets[b] = i as u32;
        }
    }

    /// Every item, in slot order (insertion order, but for removals' moves).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.slots.iter().map(|s| &s.item)
    }

    /// Every item with its index.
    pub fn iter_indexed(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u32, &s.item))
    }

    /// The items, consuming the table.
    pub fn into_items(self) -> impl Iterator<Item = T> {
        self.slots.into_iter().map(|s| s.item)
    }

    /// Visit the bucket at `cursor` and return the next cursor, 0 when the scan is complete
    /// (Redis's `dictScan` on one table).
    pub fn scan<'s>(&'s self, cursor: u64, mut visit: impl FnMut(&'s T)) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let mask = self.mask() as u64;
        let mut i = self.buckets[(cursor & mask) as usize];
        while i != NIL {
            let s = &self.slots[i as usize];
            visit(&s.item);
            i = s.next;
        }
        let v = cursor | !mask;
        v.reverse_bits().wrapping_add(1).reverse_bits()
    }

    /// An item chosen from the random number `r` by content alone: the first item at or after
    /// `r` in the cyclic order of (bit-reversed hash, key). Cost: the buckets until a non-empty
    /// one, a few on average at the table's load factor.
    pub fn pick(&self, r: u32) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let k = self.buckets.len().trailing_zeros();
        let blocks = 1u64 << k;
        // Items of bucket b have positions (reversed hashes) whose top k bits are b reversed:
        // walk the blocks of positions from r's, in position order.
        let first = u64::from(r >> (32 - k));
        for step in 0..=blocks {
            let q = ((first + step) % blocks) as u32;
            let b = (q.reverse_bits() >> (32 - k)) as usize;
            // In r's own block, only items at or after r count until we come back round.
            let floor = if step == 0 { Some(r) } else { None };
            let mut best: Option<(u32, u32)> = None;
            let mut i = self.buckets[b];
            while i != NIL {
                let s = &self.slots[i as usize];
                let pos = s.hash.reverse_bits();
                if floor.is_none_or(|f| pos >= f) {
                    let better = match best {
                        None => true,
                        Some((bp, bi)) => {
                            (pos, s.item.key()) < (bp, self.slots[bi as usize].item.key())
                        }
                    };
                    if better {
                        best = Some((pos, i));
                    }
                }
                i = s.next;
            }
            if let Some((_, i)) = best {
                return Some(i);
            }
        }
        unreachable!("a non-empty table has an item in some bucket")
    }

    /// Heap bytes as the allocator counts them: buckets, slots (with spare capacity) and the
    /// items' own bytes. O(1).
    pub fn heap_bytes(&self) -> usize {
        vec_bytes::<u32>(self.buckets.capacity())
            + vec_bytes::<Slot<T>>(self.slots.capacity())
            + self.item_bytes
    }

    /// `heap_bytes` recomputed from every item (to check the running count).
    #[cfg(test)]
    pub fn walk_heap_bytes(&self) -> usize {
        vec_bytes::<u32>(self.buckets.capacity())
            + vec_bytes::<Slot<T>>(self.slots.capacity())
            + self.iter().map(Keyed::heap_bytes).sum::<usize>()
    }
}

impl<T: Keyed> Default for Table<T> {
    fn default() -> Table<T> {
        Table::new()
    }
}

impl Keyed for Box<[u8]> {
    fn key(&self) -> &[u8] {
        self
    }

    fn heap_bytes(&self) -> usize {
        alloc_size(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    fn member(s: &str) -> Box<[u8]> {
        s.as_bytes().into()
    }

    #[test]
    fn slot_of_a_bytes_item_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Slot<Box<[u8]>>>(), 24);
    }

    #[test]
    fn insert_find_remove_match_a_model_and_moves_are_reported() {
        let mut t: Table<Box<[u8]>> = Table::new();
        let mut model = BTreeSet::new();
        let mut rng = Rng(3);
        for _ in 0..50_000 {
            let k = format!("m{}", rng.next() % 700);
            if rng.next().is_multiple_of(3) {
                if let Some(idx) = t.find(k.as_bytes()) {
                    let last = t.len() as u32 - 1;
                    let last_key = t.get(last).clone();
                    let (item, moved) = t.remove(idx);
                    assert_eq!(&item[..], k.as_bytes());
                    if idx != last {
                        assert_eq!(
                            moved,
                            Some(Moved {
                                from: last,
                                to: idx
                            })
                        );
                        assert_eq!(t.get(idx), &last_key);
                    } else {
                        assert_eq!(moved, None);
                    }
                }
                assert!(t.find(k.as_bytes()).is_none());
                model.remove(&k);
            } else if t.find(k.as_bytes()).is_none() {
                t.insert(member(&k));
                model.insert(k);
            }
            assert_eq!(t.len(), model.len());
        }
        let got: BTreeSet<String> = t
            .iter()
            .map(|m| String::from_utf8(m.to_vec()).unwrap())
            .collect();
        assert_eq!(got, model);
        for k in &model {
            assert!(t.find(k.as_bytes()).is_some());
        }
    }

    #[test]
    fn grows_at_load_one_and_shrinks_below_a_tenth() {
        let mut t: Table<Box<[u8]>> = Table::new();
        for i in 0..1000 {
            t.insert(member(&i.to_string()));
        }
        assert_eq!(t.buckets.len(), 1024);
        for i in 0..990 {
            assert!(t.remove_key(i.to_string().as_bytes()).is_some());
        }
        assert_eq!(t.buckets.len(), 16);
        assert!(t.slots.capacity() <= 64);
        for i in 990..1000 {
            assert!(t.find(i.to_string().as_bytes()).is_some());
        }
    }

    #[test]
    fn scan_returns_every_item_present_throughout_despite_resizes() {
        let mut t: Table<Box<[u8]>> = Table::new();
        for i in 0..500 {
            t.insert(member(&format!("stay{i}")));
        }
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            cursor = t.scan(cursor, |m| {
                seen.insert(m.to_vec());
            });
            step += 1;
            if step < 30 {
                for j in 0..200 {
                    t.insert(member(&format!("tmp{step}-{j}")));
                }
            } else if step == 30 {
                let tmp: Vec<Box<[u8]>> = t
                    .iter()
                    .filter(|m| m.starts_with(b"tmp"))
                    .cloned()
                    .collect();
                for k in tmp {
                    t.remove_key(&k);
                }
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(
                seen.contains(format!("stay{i}").as_bytes()),
                "missed stay{i}"
            );
        }
    }

    #[test]
    fn pick_depends_on_content_not_on_history() {
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        // a: presized far beyond its contents; b: the same members in another order, after
        // growing and shrinking.
        let mut a: Table<Box<[u8]>> = Table::with_capacity(2048);
        for k in &keys {
            a.insert(member(k));
        }
        let mut b: Table<Box<[u8]>> = Table::new();
        for i in 0..5000 {
            b.insert(member(&format!("junk{i}")));
        }
        for k in keys.iter().rev() {
            b.insert(member(k));
        }
        for i in 0..5000 {
            b.remove_key(format!("junk{i}").as_bytes());
        }
        assert_ne!(a.buckets.len(), b.buckets.len());
        let mut rng = Rng(9);
        let mut counts = BTreeMap::new();
        for _ in 0..3000 {
            let r = rng.next() as u32;
            let pa = a.get(a.pick(r).unwrap());
            let pb = b.get(b.pick(r).unwrap());
            assert_eq!(pa, pb);
            *counts.entry(pa.clone()).or_insert(0) += 1;
        }
        // Not fair, but no member is starved or hugely favoured.
        assert!(counts.len() > 250, "{}", counts.len());
        assert!(counts.values().all(|&c| c < 80));
    }

    #[test]
    fn pick_on_a_sparse_or_tiny_table_still_finds_an_item() {
        let mut t: Table<Box<[u8]>> = Table::new();
        assert_eq!(t.pick(5), None);
        t.insert(member("only"));
        for r in [0, 1, u32::MAX, 0x8000_0000] {
            assert_eq!(t.pick(r), Some(0));
        }
    }
}
