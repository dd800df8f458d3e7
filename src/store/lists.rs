//! List values: a quicklist, a deque of listpack nodes of at most `LIST_MAX_NODE_BYTES` each
//! (Redis's `list-max-listpack-size -2`, t_list.c / quicklist.c).
//!
//! A list that fits one node lives inline, in the key's allocation (`TAG_LIST_PACK`); a longer
//! one is a boxed `QuickList`, which goes back inline when it shrinks to one node of half the
//! limit (the hysteresis keeps a list at the boundary from converting on every push and pop).
//! OBJECT ENCODING says "quicklist" for both, as Redis 7.0 does for every list.
//!
//! Costs, as Redis's: push and pop at either end O(1) (plus moving one node's bytes when
//! pushing at the front), indexing O(nodes) to find the node then O(node) within it.
//!
//! Invariants: no node is empty; `QuickList::len` is the sum of the nodes' counts; a node
//! exceeds the byte limit only when it holds a single element.
//!
//! Not here: command parsing and replies (the list commands), blocking pops.

use std::collections::VecDeque;

use super::mem::{alloc_size, vec_bytes};
use super::pack::{self, Item};
use super::value::{Big, Entry, TAG_LIST_PACK};

/// Bytes of a node's listpack, from `list-max-listpack-size -2` (8 KiB).
pub const LIST_MAX_NODE_BYTES: usize = 8192;

#[derive(Clone, Default)]
struct Node {
    pack: Vec<u8>,
    count: usize,
}

impl Node {
    fn from_items<'i>(items: impl IntoIterator<Item = Item<'i>>) -> Node {
        let mut n = Node::default();
        for it in items {
            pack::write(&mut n.pack, &it);
            n.count += 1;
        }
        n
    }

    fn fits(&self, extra: usize) -> bool {
        self.count == 0 || self.pack.len() + extra <= LIST_MAX_NODE_BYTES
    }
}

/// The boxed form: nodes in order.
#[derive(Default)]
pub struct QuickList {
    nodes: VecDeque<Node>,
    len: usize,
    /// The nodes' listpack allocations (`alloc_size` of each capacity), kept current by every
    /// change to a node (`edit_node`, `insert_node`, `remove_node`).
    pack_bytes: usize,
}

impl Clone for QuickList {
    /// A clone's buffers are allocated to their length, so its byte count is its own.
    fn clone(&self) -> QuickList {
        let nodes: VecDeque<Node> = self.nodes.clone();
        let pack_bytes = nodes.iter().map(|n| alloc_size(n.pack.capacity())).sum();
        QuickList {
            nodes,
            len: self.len,
            pack_bytes,
        }
    }
}

impl QuickList {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A quicklist of the elements of `items`, in order, nodes filled to the limit.
    pub(super) fn from_items<'i>(items: impl IntoIterator<Item = Item<'i>>) -> QuickList {
        let mut q = QuickList::default();
        for it in items {
            q.push(it, false);
        }
        q
    }

    /// Run `f` on node `k`, keeping `pack_bytes` current.
    fn edit_node<R>(&mut self, k: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        let n = &mut self.nodes[k];
        let before = alloc_size(n.pack.capacity());
        let r = f(n);
        self.pack_bytes = self.pack_bytes + alloc_size(n.pack.capacity()) - before;
        r
    }

    /// Insert `node` at position `k`.
    fn insert_node(&mut self, k: usize, node: Node) {
        self.pack_bytes += alloc_size(node.pack.capacity());
        self.nodes.insert(k, node);
    }

    /// Remove node `k` (which must exist).
    fn remove_node(&mut self, k: usize) -> Node {
        let n = self.nodes.remove(k).expect("node index in range");
        self.pack_bytes -= alloc_size(n.pack.capacity());
        n
    }

    fn push(&mut self, item: Item<'_>, front: bool) {
        let need = pack::encoded_len(&item);
        let k = if front {
            0
        } else {
            self.nodes.len().wrapping_sub(1)
        };
        match self.nodes.get(k).map(|n| n.fits(need)) {
            Some(true) => self.edit_node(k, |n| {
                if front {
                    let enc = pack::encode_all([item]);
                    n.pack.splice(0..0, enc);
                } else {
                    pack::write(&mut n.pack, &item);
                }
                n.count += 1;
            }),
            found => {
                // The node we leave will not grow at this end again soon: give back its spare
                // capacity.
                if found.is_some() {
                    self.edit_node(k, |n| n.pack.shrink_to_fit());
                }
                let n = Node::from_items([item]);
                let at = if front { 0 } else { self.nodes.len() };
                self.insert_node(at, n);
            }
        }
        self.len += 1;
    }

    fn pop(&mut self, front: bool) -> Option<Vec<u8>> {
        if self.nodes.is_empty() {
            return None;
        }
        let k = if front { 0 } else { self.nodes.len() - 1 };
        let (v, emptied) = self.edit_node(k, |n| {
            let v = if front {
                let (item, end) = pack::read(&n.pack, 0);
                let v = item.to_vec();
                n.pack.drain(..end);
                v
            } else {
                let start = pack::prev(&n.pack, n.pack.len());
                let v = pack::read(&n.pack, start).0.to_vec();
                n.pack.truncate(start);
                v
            };
            n.count -= 1;
            (v, n.count == 0)
        });
        if emptied {
            self.remove_node(k);
        }
        self.len -= 1;
        Some(v)
    }

    /// (node, byte offset in the node) of element `index` (< len), walking from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        let (node, within) = if index < self.len / 2 {
            let mut i = index;
            let mut k = 0;
            while i >= self.nodes[k].count {
                i -= self.nodes[k].count;
                k += 1;
            }
            (k, i)
        } else {
            let mut from_end = self.len - 1 - index;
            let mut k = self.nodes.len() - 1;
            while from_end >= self.nodes[k].count {
                from_end -= self.nodes[k].count;
                k -= 1;
            }
            (k, self.nodes[k].count - 1 - from_end)
        };
        let n = &self.nodes[node];
        let pos = if within <= n.count / 2 {
            pack::offset_of(&n.pack, within).expect("index within the node")
        } else {
            let mut end = n.pack.len();
            for _ in 0..n.count - within {
                end = pack::prev(&n.pack, end);
            }
            end
        };
        (node, pos)
    }

    /// Split node `k` in two halves if it holds more than one element and exceeds the limit.
    fn split_if_needed(&mut self, k: usize) {
        let n = &self.nodes[k];
        if n.count < 2 || n.pack.len() <= LIST_MAX_NODE_BYTES {
            return;
        }
        let half = n.count / 2;
        let at = pack::offset_of(&n.pack, half).expect("half is within the node");
        let tail = Node {
            pack: n.pack[at..].to_vec(),
            count: n.count - half,
        };
        self.edit_node(k, |n| {
            n.pack.truncate(at);
            n.pack.shrink_to_fit();
            n.count = half;
        });
        self.insert_node(k + 1, tail);
        // Each half may still be too big if one element is huge.
        self.split_if_needed(k + 1);
        self.split_if_needed(k);
    }

    /// Remove node `k` if empty, else merge it with a neighbour when both fit in one node.
    fn tidy(&mut self, k: usize) {
        if self.nodes[k].count == 0 {
            self.remove_node(k);
            return;
        }
        for (a, b) in [(k, k + 1), (k.wrapping_sub(1), k)] {
            if a < self.nodes.len() && b < self.nodes.len() {
                let total = self.nodes[a].pack.len() + self.nodes[b].pack.len();
                if total <= LIST_MAX_NODE_BYTES / 2 {
                    let nb = self.remove_node(b);
                    self.edit_node(a, |na| {
                        na.pack.extend_from_slice(&nb.pack);
                        na.count += nb.count;
                    });
                    return;
                }
            }
        }
    }

    /// Heap bytes as the allocator counts them: the node array and every node's listpack.
    /// O(1).
    pub(super) fn heap_bytes(&self) -> usize {
        vec_bytes::<Node>(self.nodes.capacity()) + self.pack_bytes
    }

    /// `heap_bytes` recomputed from every node (to check the running count).
    #[cfg(test)]
    pub(super) fn walk_heap_bytes(&self) -> usize {
        vec_bytes::<Node>(self.nodes.capacity())
            + self
                .nodes
                .iter()
                .map(|n| alloc_size(n.pack.capacity()))
                .sum::<usize>()
    }
}

/// A list, read only.
#[derive(Clone, Copy)]
pub enum ListRef<'a> {
    Pack(&'a [u8]),
    Quick(&'a QuickList),
}

impl<'a> ListRef<'a> {
    pub(super) fn of(e: &'a Entry) -> ListRef<'a> {
        match e.big() {
            Some(Big::List(q)) => ListRef::Quick(q),
            _ => ListRef::Pack(e.payload()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ListRef::Pack(b) => pack::count(b),
            ListRef::Quick(q) => q.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `index` (0 = head).
    pub fn get(&self, index: usize) -> Option<Item<'a>> {
        match *self {
            ListRef::Pack(b) => pack::Iter::new(b).nth(index),
            ListRef::Quick(q) => {
                if index >= q.len {
                    return None;
                }
                let (k, pos) = q.locate(index);
                Some(pack::read(&q.nodes[k].pack, pos).0)
            }
        }
    }

    /// Elements from `index` towards the tail, or towards the head when `rev` (then `index`
    /// counts from the tail: 0 is the last element).
    pub fn iter_from(&self, index: usize, rev: bool) -> ListIter<'a> {
        let len = self.len();
        if index >= len {
            return ListIter::Done;
        }
        match *self {
            ListRef::Pack(b) => {
                if rev {
                    let mut it = pack::RevIter::new(b);
                    for _ in 0..index {
                        it.next();
                    }
                    ListIter::PackRev(it)
                } else {
                    let pos = pack::offset_of(b, index).unwrap_or(b.len());
                    ListIter::PackFwd(pack::Iter::at(b, pos))
                }
            }
            ListRef::Quick(q) => {
                let at = if rev { len - 1 - index } else { index };
                let (k, pos) = q.locate(at);
                let node = &q.nodes[k].pack;
                if rev {
                    let (_, end) = pack::read(node, pos);
                    ListIter::QuickRev {
                        q,
                        node: k,
                        it: pack::RevIter::at(node, end),
                    }
                } else {
                    ListIter::QuickFwd {
                        q,
                        node: k,
                        it: pack::Iter::at(node, pos),
                    }
                }
            }
        }
    }

    /// Every element, head to tail.
    pub fn iter(&self) -> ListIter<'a> {
        self.iter_from(0, false)
    }
}

/// Iterator over a list's elements in one direction.
pub enum ListIter<'a> {
    Done,
    PackFwd(pack::Iter<'a>),
    PackRev(pack::RevIter<'a>),
    QuickFwd {
        q: &'a QuickList,
        node: usize,
        it: pack::Iter<'a>,
    },
    QuickRev {
        q: &'a QuickList,
        node: usize,
        it: pack::RevIter<'a>,
    },
}

impl<'a> Iterator for ListIter<'a> {
    type Item = Item<'a>;
    fn next(&mut self) -> Option<Item<'a>> {
        match self {
            ListIter::Done => None,
            ListIter::PackFwd(it) => it.next(),
            ListIter::PackRev(it) => it.next(),
            ListIter::QuickFwd { q, node, it } => loop {
                if let Some(x) = it.next() {
                    return Some(x);
                }
                *node += 1;
                let n = q.nodes.get(*node)?;
                *it = pack::Iter::new(&n.pack);
            },
            ListIter::QuickRev { q, node, it } => loop {
                if let Some(x) = it.next() {
                    return Some(x);
                }
                *node = node.checked_sub(1)?;
                *it = pack::RevIter::new(&q.nodes[*node].pack);
            },
        }
    }
}

/// A list, for writing. Obtained from a live entry of kind List.
pub struct ListMut<'a> {
    e: &'a mut Entry,
}

impl<'a> ListMut<'a> {
    pub(super) fn new(e: &'a mut Entry) -> ListMut<'a> {
        ListMut { e }
    }

    pub fn as_ref(&self) -> ListRef<'_> {
        ListRef::of(self.e)
    }

    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn quick(&mut self) -> Option<&mut QuickList> {
        match self.e.big_mut() {
            Some(Big::List(q)) => Some(q),
            _ => None,
        }
    }

    /// Move an inline list that outgrew one node into a quicklist.
    fn promote_if_needed(&mut self) {
        if self.e.tag() == Some(TAG_LIST_PACK) && self.e.payload().len() > LIST_MAX_NODE_BYTES {
            let q = QuickList::from_items(pack::Iter::new(self.e.payload()));
            self.e.promote(Big::List(q));
        }
    }

    /// Move a quicklist back inline when it is one node of at most half the limit.
    fn demote_if_small(&mut self) {
        let Some(q) = self.quick() else {
            return;
        };
        if q.nodes.len() <= 1
            && q.nodes
                .front()
                .is_none_or(|n| n.pack.len() <= LIST_MAX_NODE_BYTES / 2)
        {
            let payload = q.nodes.front().map(|n| n.pack.clone()).unwrap_or_default();
            self.e.demote(TAG_LIST_PACK, &payload);
        }
    }

    /// Push `value` at the head (`front`) or the tail.
    pub fn push(&mut self, value: &[u8], front: bool) {
        let item = Item::of(value);
        if let Some(q) = self.quick() {
            q.push(item, front);
            return;
        }
        let enc = pack::encode_all([item]);
        self.e.edit_payload(|v, base| {
            v.reserve_exact(enc.len());
            let at = if front { base } else { v.len() };
            v.splice(at..at, enc);
        });
        self.promote_if_needed();
    }

    /// Remove and return the head (`front`) or tail element. The caller deletes the key if the
    /// list is now empty.
    pub fn pop(&mut self, front: bool) -> Option<Vec<u8>> {
        if let Some(q) = self.quick() {
            let v = q.pop(front);
            self.demote_if_small();
            return v;
        }
        self.e.edit_payload(|v, base| {
            if v.len() == base {
                return None;
            }
            let (start, end) = if front {
                (base, pack::read(v, base).1)
            } else {
                (base + pack::prev(&v[base..], v.len() - base), v.len())
            };
            let out = pack::read(v, start).0.to_vec();
            v.drain(start..end);
            Some(out)
        })
    }

    /// Replace element `index` (0 = head) by `value`; false if out of range.
    pub fn set(&mut self, index: usize, value: &[u8]) -> bool {
        if index >= self.len() {
            return false;
        }
        let enc = pack::encode_all([Item::of(value)]);
        if let Some(q) = self.quick() {
            let (k, pos) = q.locate(index);
            q.edit_node(k, |n| {
                let end = pack::read(&n.pack, pos).1;
                n.pack.splice(pos..end, enc);
            });
            q.split_if_needed(k);
            return true;
        }
        self.e.edit_payload(|v, base| {
            let pos = base + pack::offset_of(&v[base..], index).expect("index < len");
            let end = pack::read(v, pos).1;
            if enc.len() > end - pos {
                v.reserve_exact(enc.len() - (end - pos));
            }
            v.splice(pos..end, enc);
        });
        self.promote_if_needed();
        true
    }

    /// Insert `value` before (or `after`) the first element equal to `pivot`; the new length,
    /// or `None` if there is no such element (LINSERT).
    pub fn insert(&mut self, pivot: &[u8], value: &[u8], after: bool) -> Option<usize> {
        let needle = Item::of(pivot);
        let index = self.as_ref().iter().position(|x| x.matches(&needle))?;
        let at = if after { index + 1 } else { index };
        self.insert_at(at, value);
        Some(self.len())
    }

    /// Insert `value` so that it becomes element `index` (`index <= len`).
    pub fn insert_at(&mut self, index: usize, value: &[u8]) {
        let len = self.len();
        if index == 0 || index >= len {
            self.push(value, index == 0 && len > 0);
            return;
        }
        let enc = pack::encode_all([Item::of(value)]);
        if let Some(q) = self.quick() {
            let (k, pos) = q.locate(index);
            q.edit_node(k, |n| {
                n.pack.splice(pos..pos, enc);
                n.count += 1;
            });
            q.len += 1;
            q.split_if_needed(k);
            return;
        }
        self.e.edit_payload(|v, base| {
            let pos = base + pack::offset_of(&v[base..], index).expect("index < len");
            v.reserve_exact(enc.len());
            v.splice(pos..pos, enc);
        });
        self.promote_if_needed();
    }

    /// Remove elements equal to `value`: the first `count` from the head if `count > 0`, the
    /// last `-count` from the tail if negative, all if 0 (LREM). Returns how many.
    pub fn remove(&mut self, value: &[u8], count: i64) -> usize {
        let needle = Item::of(value);
        let limit = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs() as usize
        };
        let from_tail = count < 0;
        // Indices (head-based) of the elements to delete, in the order found.
        let len = self.len();
        let mut hits: Vec<usize> = self
            .as_ref()
            .iter_from(0, from_tail)
            .enumerate()
            .filter(|(_, x)| x.matches(&needle))
            .map(|(i, _)| if from_tail { len - 1 - i } else { i })
            .take(limit)
            .collect();
        hits.sort_unstable();
        self.remove_indices(&hits);
        hits.len()
    }

    /// Keep only elements `start..=stop` (already clamped by the caller, `start <= stop <
    /// len`); or empty the list when `keep` is false (LTRIM with an empty range).
    pub fn trim(&mut self, start: usize, stop: usize, keep: bool) {
        let len = self.len();
        let (head, tail) = if keep {
            (start, len - 1 - stop.min(len - 1))
        } else {
            (len, 0)
        };
        self.remove_range(0, head);
        let len = self.len();
        self.remove_range(len - tail.min(len), tail.min(len));
    }

    /// Remove `count` elements starting at `start` (LTRIM's work, LREM's runs).
    pub fn remove_range(&mut self, start: usize, count: usize) {
        let count = count.min(self.len().saturating_sub(start));
        if count == 0 {
            return;
        }
        if let Some(q) = self.quick() {
            let mut left = count;
            while left > 0 {
                let (k, pos) = q.locate(start);
                let n = &q.nodes[k];
                // Remove as many as this node holds from `pos` on.
                let mut end = pos;
                let mut removed = 0;
                while removed < left && end < n.pack.len() {
                    end = pack::read(&n.pack, end).1;
                    removed += 1;
                }
                if pos == 0 && end == n.pack.len() {
                    q.remove_node(k);
                } else {
                    q.edit_node(k, |n| {
                        n.pack.drain(pos..end);
                        n.count -= removed;
                    });
                    q.tidy(k);
                }
                q.len -= removed;
                left -= removed;
            }
            self.demote_if_small();
            return;
        }
        self.e.edit_payload(|v, base| {
            let b = &v[base..];
            let pos = pack::offset_of(b, start).expect("start < len");
            let end = pack::offset_of(b, start + count).expect("start + count <= len");
            v.drain(base + pos..base + end);
        });
    }

    fn remove_indices(&mut self, sorted: &[usize]) {
        // From the back, so earlier indices stay valid; runs of neighbours go at once.
        let mut i = sorted.len();
        while i > 0 {
            let mut j = i - 1;
            while j > 0 && sorted[j - 1] + 1 == sorted[j] {
                j -= 1;
            }
            self.remove_range(sorted[j], i - j);
            i = j;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::value::Kind;
    use super::*;

    fn contents(e: &Entry) -> Vec<Vec<u8>> {
        ListRef::of(e).iter().map(|x| x.to_vec()).collect()
    }

    fn check(e: &Entry, model: &VecDeque<Vec<u8>>) {
        let want: Vec<Vec<u8>> = model.iter().cloned().collect();
        assert_eq!(contents(e), want);
        let l = ListRef::of(e);
        assert_eq!(l.len(), model.len());
        let mut rev: Vec<Vec<u8>> = l.iter_from(0, true).map(|x| x.to_vec()).collect();
        rev.reverse();
        assert_eq!(rev, want);
        for i in [
            0,
            1,
            model.len() / 3,
            model.len() / 2,
            model.len().saturating_sub(1),
        ] {
            assert_eq!(l.get(i).map(|x| x.to_vec()), model.get(i).cloned());
            let tail: Vec<Vec<u8>> = l.iter_from(i, false).map(|x| x.to_vec()).collect();
            assert_eq!(tail, want[i.min(want.len())..].to_vec());
        }
        if let ListRef::Quick(q) = l {
            assert_eq!(q.nodes.iter().map(|n| n.count).sum::<usize>(), q.len);
            for n in &q.nodes {
                assert!(n.count > 0);
                assert!(n.count == 1 || n.pack.len() <= LIST_MAX_NODE_BYTES);
                assert_eq!(pack::count(&n.pack), n.count);
            }
            assert_eq!(q.heap_bytes(), q.walk_heap_bytes(), "running byte count");
            assert_eq!(q.clone().heap_bytes(), q.clone().walk_heap_bytes());
        }
    }

    #[test]
    fn every_operation_matches_a_model_across_forms() {
        let mut e = Entry::new_container(b"l", Kind::List);
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let mut x: u64 = 5;
        let mut saw_quick = false;
        for step in 0..30_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = x >> 33;
            let v = match r % 5 {
                0 => format!("{}", r % 100),
                1 => "x".repeat((r % 200) as usize),
                _ => format!("v{}", r % 37),
            }
            .into_bytes();
            let mut l = ListMut::new(&mut e);
            // Grow more than shrink for the first half, then shrink.
            let grow = step < 15_000;
            match (r >> 8) % 10 {
                0..=2 if grow || r.is_multiple_of(3) => {
                    l.push(&v, false);
                    model.push_back(v);
                }
                3..=4 if grow || r.is_multiple_of(3) => {
                    l.push(&v, true);
                    model.push_front(v);
                }
                5 => assert_eq!(l.pop(true), model.pop_front()),
                6 => assert_eq!(l.pop(false), model.pop_back()),
                7 if !model.is_empty() => {
                    let i = (r as usize >> 3) % model.len();
                    assert!(l.set(i, &v));
                    model[i] = v;
                }
                8 if !model.is_empty() => {
                    let i = (r as usize >> 3) % (model.len() + 1);
                    l.insert_at(i, &v);
                    model.insert(i, v);
                }
                9 => {
                    let count = (r % 5) as i64 - 2;
                    let n = l.remove(&v, count);
                    let limit = if count == 0 {
                        usize::MAX
                    } else {
                        count.unsigned_abs() as usize
                    };
                    let mut idx: Vec<usize> = (0..model.len()).filter(|&i| model[i] == v).collect();
                    if count < 0 {
                        idx.reverse();
                    }
                    idx.truncate(limit);
                    idx.sort_unstable();
                    for &i in idx.iter().rev() {
                        model.remove(i);
                    }
                    assert_eq!(n, idx.len());
                }
                _ => {
                    let _ = l.pop(false).map(|_| model.pop_back());
                }
            }
            saw_quick |= matches!(ListRef::of(&e), ListRef::Quick(_));
            if step % 211 == 0 {
                check(&e, &model);
            }
        }
        check(&e, &model);
        assert!(saw_quick);
        assert_eq!(e.encoding(), "quicklist");
    }

    #[test]
    fn trim_and_linsert() {
        for n in [10usize, 5000] {
            let mut e = Entry::new_container(b"l", Kind::List);
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for i in 0..n {
                let v = format!("e{i}").into_bytes();
                ListMut::new(&mut e).push(&v, false);
                model.push_back(v);
            }
            let mut l = ListMut::new(&mut e);
            assert_eq!(l.insert(b"e3", b"new", true), Some(n + 1));
            model.insert(4, b"new".to_vec());
            assert_eq!(l.insert(b"nope", b"x", false), None);
            assert_eq!(l.insert(b"e0", b"first", false), Some(n + 2));
            model.push_front(b"first".to_vec());
            l.trim(2, n - 1, true);
            let kept: VecDeque<Vec<u8>> = model.drain(..).skip(2).take(n - 2).collect();
            check(&e, &kept);
            ListMut::new(&mut e).trim(0, 0, false);
            assert!(ListRef::of(&e).is_empty());
        }
    }

    #[test]
    fn a_huge_element_gets_its_own_node() {
        let mut e = Entry::new_container(b"l", Kind::List);
        let big = vec![b'b'; 3 * LIST_MAX_NODE_BYTES];
        let mut l = ListMut::new(&mut e);
        l.push(b"a", false);
        l.push(&big, false);
        l.push(b"c", false);
        l.set(0, &big);
        assert_eq!(l.len(), 3);
        assert_eq!(l.as_ref().get(0).unwrap().to_vec(), big);
        assert_eq!(l.as_ref().get(2).unwrap().to_vec(), b"c");
        assert_eq!(l.pop(false), Some(b"c".to_vec()));
        assert_eq!(l.pop(false).map(|v| v.len()), Some(big.len()));
        assert_eq!(l.pop(false).map(|v| v.len()), Some(big.len()));
        assert!(l.is_empty());
    }
}
