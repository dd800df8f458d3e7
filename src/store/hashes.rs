//! Hash values: a listpack of field, value, field, value... while small, a `Table` of
//! field/value pairs past Redis's limits (t_hash.c).
//!
//! A hash starts packed and converts to a table, for good, when it would hold more than
//! `HASH_MAX_LISTPACK_ENTRIES` fields or a field or value longer than `HASH_MAX_LISTPACK_VALUE`
//! bytes, at the same moments Redis converts (`HashMut::prepare` before a command's writes, as
//! `hashTypeTryConversion`; `set` for every write, as `hashTypeSet`), so OBJECT ENCODING agrees
//! with Redis's. Packed fields keep insertion order (a changed value keeps its place), as in
//! Redis's listpack.
//!
//! Not here: command parsing and replies (`command::hashes`).

use super::mem::alloc_size;
use super::pack::{self, Item};
use super::table::{Keyed, Table};
use super::value::{Big, Entry, TAG_HASH_PACK};

/// Redis 7.0's compiled-in default (redis.conf ships 128).
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
pub const HASH_MAX_LISTPACK_VALUE: usize = 64;

/// One field and its value in one allocation: varint field length, field, value.
#[derive(Clone)]
pub struct FieldValue(Box<[u8]>);

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

impl FieldValue {
    pub fn new(field: &[u8], value: &[u8]) -> FieldValue {
        let mut b = Vec::with_capacity(varint_len(field.len()) + field.len() + value.len());
        let mut v = field.len();
        while v >= 0x80 {
            b.push((v as u8) | 0x80);
            v >>= 7;
        }
        b.push(v as u8);
        b.extend_from_slice(field);
        b.extend_from_slice(value);
        FieldValue(b.into_boxed_slice())
    }

    /// (start of the field, end of the field).
    #[inline]
    fn bounds(&self) -> (usize, usize) {
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = 0;
        loop {
            let b = self.0[i];
            len |= usize::from(b & 0x7f) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        (i, i + len)
    }

    pub fn field(&self) -> &[u8] {
        let (s, e) = self.bounds();
        &self.0[s..e]
    }

    pub fn value(&self) -> &[u8] {
        &self.0[self.bounds().1..]
    }
}

impl Keyed for FieldValue {
    #[inline]
    fn key(&self) -> &[u8] {
        self.field()
    }

    fn heap_bytes(&self) -> usize {
        alloc_size(self.0.len())
    }
}

/// A hash, read only.
#[derive(Clone, Copy)]
pub enum HashRef<'a> {
    /// field, value, field, value...
    Pack(&'a [u8]),
    Table(&'a Table<FieldValue>),
}

/// Byte offsets of a field's entry, its value's entry, and the end of the value's entry.
fn pack_find(buf: &[u8], field: &[u8]) -> Option<(usize, usize, usize)> {
    let needle = Item::of(field);
    let mut pos = 0;
    while pos < buf.len() {
        let (f, vpos) = pack::read(buf, pos);
        let (_, end) = pack::read(buf, vpos);
        if f.matches(&needle) {
            return Some((pos, vpos, end));
        }
        pos = end;
    }
    None
}

impl<'a> HashRef<'a> {
    pub(super) fn of(e: &'a Entry) -> HashRef<'a> {
        match e.big() {
            Some(Big::Hash(t)) => HashRef::Table(t),
            _ => HashRef::Pack(e.payload()),
        }
    }

    /// Whether the hash is packed (HSCAN then returns it whole, cursor 0).
    pub fn is_packed(&self) -> bool {
        matches!(self, HashRef::Pack(_))
    }

    pub fn len(&self) -> usize {
        match self {
            HashRef::Pack(b) => pack::count(b) / 2,
            HashRef::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            HashRef::Pack(b) => b.is_empty(),
            HashRef::Table(t) => t.is_empty(),
        }
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<Item<'a>> {
        match *self {
            HashRef::Pack(b) => pack_find(b, field).map(|(_, vpos, _)| pack::read(b, vpos).0),
            HashRef::Table(t) => t.find(field).map(|i| Item::Bytes(t.get(i).value())),
        }
    }

    /// Every (field, value), in the hash's order.
    pub fn iter(&self) -> HashIter<'a> {
        match *self {
            HashRef::Pack(b) => HashIter::Pack(pack::Iter::new(b)),
            HashRef::Table(t) => HashIter::Table(Box::new(t.iter())),
        }
    }

    /// The pair at position `i` of `iter()` (for random reads: O(1) for a table).
    pub fn nth(&self, i: usize) -> Option<(Item<'a>, Item<'a>)> {
        match *self {
            HashRef::Pack(_) => self.iter().nth(i),
            HashRef::Table(t) => (i < t.len()).then(|| {
                let fv = t.get(i as u32);
                (Item::Bytes(fv.field()), Item::Bytes(fv.value()))
            }),
        }
    }

    /// One step of HSCAN over a table: the pairs of the bucket at `cursor`, and the next
    /// cursor. A packed hash visits everything and returns 0.
    pub fn scan_step(&self, cursor: u64, mut visit: impl FnMut(Item<'a>, Item<'a>)) -> u64 {
        match *self {
            HashRef::Pack(_) => {
                for (f, v) in self.iter() {
                    visit(f, v);
                }
                0
            }
            HashRef::Table(t) => t.scan(cursor, |fv| {
                visit(Item::Bytes(fv.field()), Item::Bytes(fv.value()))
            }),
        }
    }
}

/// Iterator over (field, value) pairs.
pub enum HashIter<'a> {
    Pack(pack::Iter<'a>),
    Table(Box<dyn Iterator<Item = &'a FieldValue> + 'a>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (Item<'a>, Item<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(it) => {
                let f = it.next()?;
                let v = it
                    .next()
                    .expect("a packed hash has a value after each field");
                Some((f, v))
            }
            HashIter::Table(it) => {
                let fv = it.next()?;
                Some((Item::Bytes(fv.field()), Item::Bytes(fv.value())))
            }
        }
    }
}

/// A hash, for writing. Obtained from a live entry of kind Hash.
pub struct HashMut<'a> {
    e: &'a mut Entry,
}

impl<'a> HashMut<'a> {
    pub(super) fn new(e: &'a mut Entry) -> HashMut<'a> {
        HashMut { e }
    }

    pub fn as_ref(&self) -> HashRef<'_> {
        HashRef::of(self.e)
    }

    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_ref().is_empty()
    }

    pub fn get(&self, field: &[u8]) -> Option<Item<'_>> {
        HashRef::of(self.e).get(field)
    }

    /// Convert to a table now if any of `strings` (the fields and values a command is about
    /// to write) is too long for the packed form (Redis's `hashTypeTryConversion`).
    pub fn prepare<'s>(&mut self, strings: impl IntoIterator<Item = &'s [u8]>) {
        if self.e.tag() == Some(TAG_HASH_PACK)
            && strings
                .into_iter()
                .any(|s| s.len() > HASH_MAX_LISTPACK_VALUE)
        {
            self.convert();
        }
    }

    fn convert(&mut self) {
        let mut t = Table::with_capacity(self.len());
        for (f, v) in HashRef::Pack(self.e.payload()).iter() {
            t.insert(FieldValue::new(&f.to_vec(), &v.to_vec()));
        }
        self.e.promote(Big::Hash(t));
    }

    /// Set `field` to `value`; true if the field is new (Redis's `hashTypeSet`).
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if self.e.tag() == Some(TAG_HASH_PACK)
            && (field.len() > HASH_MAX_LISTPACK_VALUE || value.len() > HASH_MAX_LISTPACK_VALUE)
        {
            self.convert();
        }
        if let Some(Big::Hash(t)) = self.e.big_mut() {
            return match t.find(field) {
                Some(i) => {
                    t.replace(i, FieldValue::new(field, value));
                    false
                }
                None => {
                    t.insert(FieldValue::new(field, value));
                    true
                }
            };
        }
        let vitem = Item::of(value);
        let added = self
            .e
            .edit_payload(|v, base| match pack_find(&v[base..], field) {
                Some((_, vpos, end)) => {
                    let enc = pack::encode_all([vitem]);
                    let (vpos, end) = (base + vpos, base + end);
                    if enc.len() > end - vpos {
                        v.reserve_exact(enc.len() - (end - vpos));
                    }
                    v.splice(vpos..end, enc);
                    false
                }
                None => {
                    let enc = pack::encode_all([Item::of(field), vitem]);
                    v.reserve_exact(enc.len());
                    v.extend_from_slice(&enc);
                    true
                }
            });
        if added && self.len() > HASH_MAX_LISTPACK_ENTRIES {
            self.convert();
        }
        added
    }

    /// Delete `field`; true if it existed. The caller deletes the key if the hash is now empty.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        if let Some(Big::Hash(t)) = self.e.big_mut() {
            return t.remove_key(field).is_some();
        }
        self.e
            .edit_payload(|v, base| match pack_find(&v[base..], field) {
                Some((fpos, _, end)) => {
                    v.drain(base + fpos..base + end);
                    true
                }
                None => false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn hash(e: &mut Entry) -> HashMut<'_> {
        HashMut::new(e)
    }

    fn contents(e: &Entry) -> BTreeMap<Vec<u8>, Vec<u8>> {
        HashRef::of(e)
            .iter()
            .map(|(f, v)| (f.to_vec(), v.to_vec()))
            .collect()
    }

    #[test]
    fn field_value_splits_where_it_joined() {
        for flen in [0, 1, 127, 128, 300, 20000] {
            let f = vec![b'f'; flen];
            let fv = FieldValue::new(&f, b"value");
            assert_eq!((fv.field(), fv.value()), (&f[..], &b"value"[..]));
        }
    }

    #[test]
    fn packed_hash_keeps_order_and_replaces_in_place() {
        let mut e = Entry::new_container(b"h", super::super::value::Kind::Hash);
        let mut h = hash(&mut e);
        assert!(h.set(b"a", b"1"));
        assert!(h.set(b"b", b"two"));
        assert!(h.set(b"c", b"3"));
        assert!(!h.set(b"b", b"a much longer value"));
        assert!(!h.set(b"a", b"100000"));
        let order: Vec<Vec<u8>> = HashRef::of(&e).iter().map(|(f, _)| f.to_vec()).collect();
        assert_eq!(order, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(e.encoding(), "listpack");
        let mut h = hash(&mut e);
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.get(b"a"), Some(Item::Int(100000)));
        assert_eq!(h.get(b"c"), Some(Item::Int(3)));
        assert_eq!(h.len(), 2);
        assert_eq!(e.key(), b"h");
    }

    #[test]
    fn converts_past_the_entry_count_and_value_length_limits() {
        let mut e = Entry::new_container(b"h", super::super::value::Kind::Hash);
        let mut h = hash(&mut e);
        for i in 0..HASH_MAX_LISTPACK_ENTRIES {
            h.set(format!("f{i}").as_bytes(), b"v");
        }
        assert_eq!(e.encoding(), "listpack");
        let mut h = hash(&mut e);
        h.set(b"f0", b"changed");
        assert_eq!(e.encoding(), "listpack");
        let before = contents(&e);
        hash(&mut e).set(b"one more", b"v");
        assert_eq!(e.encoding(), "hashtable");
        let mut after = contents(&e);
        after.remove(&b"one more"[..]);
        assert_eq!(after, before);
        assert_eq!(e.key(), b"h");

        let mut e = Entry::new_container(b"h2", super::super::value::Kind::Hash);
        hash(&mut e).set(b"f", &[b'v'; HASH_MAX_LISTPACK_VALUE]);
        assert_eq!(e.encoding(), "listpack");
        hash(&mut e).set(b"f", &[b'v'; HASH_MAX_LISTPACK_VALUE + 1]);
        assert_eq!(e.encoding(), "hashtable");
        let mut e = Entry::new_container(b"h3", super::super::value::Kind::Hash);
        hash(&mut e).prepare([&b"short"[..], &[b'x'; 65][..]]);
        assert_eq!(e.encoding(), "hashtable");
    }

    #[test]
    fn both_forms_agree_with_a_model() {
        let mut e = Entry::new_container(b"h", super::super::value::Kind::Hash);
        let mut model = BTreeMap::new();
        let mut x: u64 = 12345;
        for step in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let f = format!("{}", (x >> 33) % 700).into_bytes();
            let v = format!("v{}", x >> 50).into_bytes();
            let mut h = hash(&mut e);
            if (x >> 20).is_multiple_of(4) {
                assert_eq!(h.remove(&f), model.remove(&f).is_some());
            } else {
                assert_eq!(h.set(&f, &v), model.insert(f.clone(), v).is_none());
            }
            assert_eq!(HashRef::of(&e).len(), model.len(), "step {step}");
        }
        assert_eq!(e.encoding(), "hashtable");
        assert_eq!(contents(&e), model);
        for (f, v) in &model {
            assert_eq!(HashRef::of(&e).get(f).map(|i| i.to_vec()), Some(v.clone()));
        }
    }
}
