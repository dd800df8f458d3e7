//! Set values: an intset while every member is an integer and there are at most
//! `SET_MAX_INTSET_ENTRIES` of them, a `Table` of members otherwise (Redis 7.0's t_set.c; 7.0
//! has no listpack form for sets, so a small set of strings is a "hashtable", as in Redis).
//!
//! A set converts to a table, for good, when a non-integer member is added or the intset would
//! grow past the limit, at the same moments Redis converts.
//!
//! Random choices: `pick` chooses a member from a random number by content alone (an intset
//! is sorted; a table's `pick` orders by hash), so a write that pops at random (SPOP) removes
//! the same member on every replica given the same number, whatever the table's history.
//!
//! Not here: command parsing and replies (`command::sets`), where the random numbers come from.

use super::intset;
use super::pack::{parse_i64, IntBuf, Item};
use super::table::Table;
use super::value::{Big, Entry, Kind, TAG_SET_INT16, TAG_SET_INT32, TAG_SET_INT64};

pub const SET_MAX_INTSET_ENTRIES: usize = 512;

fn width_of(tag: u32) -> Option<usize> {
    match tag {
        TAG_SET_INT16 => Some(2),
        TAG_SET_INT32 => Some(4),
        TAG_SET_INT64 => Some(8),
        _ => None,
    }
}

fn tag_of(width: usize) -> u32 {
    match width {
        2 => TAG_SET_INT16,
        4 => TAG_SET_INT32,
        _ => TAG_SET_INT64,
    }
}

impl Entry {
    /// A set entry holding `members` (repeats ignored), encoded as Redis encodes a set built by
    /// adding them one by one to an empty intset (SUNIONSTORE and friends, and the temporary set
    /// whose order SUNION and SDIFF reply in).
    pub fn new_set<'i>(key: &[u8], members: impl IntoIterator<Item = Item<'i>>) -> Entry {
        let mut e = Entry::new_container(key, Kind::Set);
        let mut buf = IntBuf::default();
        for m in members {
            SetMut::new(&mut e).add(m.as_bytes(&mut buf));
        }
        e
    }
}

/// A set, read only.
#[derive(Clone, Copy)]
pub enum SetRef<'a> {
    Ints { buf: &'a [u8], width: usize },
    Table(&'a Table<Box<[u8]>>),
}

impl<'a> SetRef<'a> {
    pub(super) fn of(e: &'a Entry) -> SetRef<'a> {
        match (e.big(), e.tag().and_then(width_of)) {
            (Some(Big::Set(t)), _) => SetRef::Table(t),
            (_, Some(width)) => SetRef::Ints {
                buf: e.payload(),
                width,
            },
            _ => unreachable!("SetRef::of on an entry that is not a set"),
        }
    }

    /// Whether the set is an intset (SSCAN then returns it whole, cursor 0).
    pub fn is_intset(&self) -> bool {
        matches!(self, SetRef::Ints { .. })
    }

    pub fn len(&self) -> usize {
        match self {
            SetRef::Ints { buf, width } => intset::len(buf, *width),
            SetRef::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            SetRef::Ints { buf, width } => {
                parse_i64(member).is_some_and(|v| intset::search(buf, *width, v).is_ok())
            }
            SetRef::Table(t) => t.find(member).is_some(),
        }
    }

    /// Every member: ascending for an intset, table order otherwise.
    pub fn iter(&self) -> SetIter<'a> {
        match *self {
            SetRef::Ints { buf, width } => SetIter::Ints {
                buf,
                width,
                next: 0,
            },
            SetRef::Table(t) => SetIter::Table(Box::new(t.iter())),
        }
    }

    /// The member at position `i` of `iter()`, in O(1) (for random reads).
    pub fn nth(&self, i: usize) -> Option<Item<'a>> {
        match *self {
            SetRef::Ints { buf, width } => {
                (i < intset::len(buf, width)).then(|| Item::Int(intset::get(buf, width, i)))
            }
            SetRef::Table(t) => (i < t.len()).then(|| Item::Bytes(t.get(i as u32))),
        }
    }

    /// A member chosen from the random number `r` by the set's content alone (see the module
    /// header); `None` for an empty set.
    pub fn pick(&self, r: u64) -> Option<Item<'a>> {
        match *self {
            SetRef::Ints { buf, width } => {
                let n = intset::len(buf, width);
                (n > 0).then(|| Item::Int(intset::get(buf, width, (r % n as u64) as usize)))
            }
            SetRef::Table(t) => t.pick(r as u32).map(|i| Item::Bytes(t.get(i))),
        }
    }

    /// One step of SSCAN over a table: the members of the bucket at `cursor`, and the next
    /// cursor. An intset visits everything and returns 0.
    pub fn scan_step(&self, cursor: u64, mut visit: impl FnMut(Item<'a>)) -> u64 {
        match *self {
            SetRef::Ints { .. } => {
                for m in self.iter() {
                    visit(m);
                }
                0
            }
            SetRef::Table(t) => t.scan(cursor, |m| visit(Item::Bytes(m))),
        }
    }
}

/// Iterator over a set's members.
pub enum SetIter<'a> {
    Ints {
        buf: &'a [u8],
        width: usize,
        next: usize,
    },
    Table(Box<dyn Iterator<Item = &'a Box<[u8]>> + 'a>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Item<'a>;
    fn next(&mut self) -> Option<Item<'a>> {
        match self {
            SetIter::Ints { buf, width, next } => {
                if *next >= intset::len(buf, *width) {
                    return None;
                }
                *next += 1;
                Some(Item::Int(intset::get(buf, *width, *next - 1)))
            }
            SetIter::Table(it) => it.next().map(|m| Item::Bytes(m)),
        }
    }
}

/// A set, for writing. Obtained from a live entry of kind Set.
pub struct SetMut<'a> {
    e: &'a mut Entry,
}

impl<'a> SetMut<'a> {
    pub(super) fn new(e: &'a mut Entry) -> SetMut<'a> {
        SetMut { e }
    }

    pub fn as_ref(&self) -> SetRef<'_> {
        SetRef::of(self.e)
    }

    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn convert(&mut self) {
        let r = self.as_ref();
        let mut t = Table::with_capacity(r.len() + 1);
        for m in r.iter() {
            t.insert(m.to_vec().into_boxed_slice());
        }
        self.e.promote(Big::Set(t));
    }

    /// Add `member`; true if it is new (Redis's `setTypeAdd`).
    pub fn add(&mut self, member: &[u8]) -> bool {
        if let Some(w) = self.e.tag().and_then(width_of) {
            match parse_i64(member) {
                Some(v) => {
                    let Some(nw) = self
                        .e
                        .edit_payload(|vec, base| intset::insert(vec, base, w, v))
                    else {
                        return false;
                    };
                    if nw != w {
                        self.e.set_tag(tag_of(nw));
                    }
                    if self.len() > SET_MAX_INTSET_ENTRIES {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match self.e.big_mut() {
            Some(Big::Set(t)) => {
                if t.find(member).is_some() {
                    return false;
                }
                t.insert(member.into());
                true
            }
            _ => unreachable!("a set is an intset or a table"),
        }
    }

    /// Remove `member`; true if it was there. The caller deletes the key if the set is now
    /// empty.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        if let Some(w) = self.e.tag().and_then(width_of) {
            let Some(v) = parse_i64(member) else {
                return false;
            };
            return self
                .e
                .edit_payload(|vec, base| match intset::search(&vec[base..], w, v) {
                    Ok(i) => {
                        intset::remove_at(vec, base, w, i);
                        true
                    }
                    Err(_) => false,
                });
        }
        match self.e.big_mut() {
            Some(Big::Set(t)) => t.remove_key(member).is_some(),
            _ => unreachable!("a set is an intset or a table"),
        }
    }

    /// Remove and return the member `pick(r)` chooses (SPOP).
    pub fn pop(&mut self, r: u64) -> Option<Vec<u8>> {
        let m = self.as_ref().pick(r)?.to_vec();
        self.remove(&m);
        Some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::super::value::Kind;
    use super::*;
    use std::collections::BTreeSet;

    fn members(e: &Entry) -> BTreeSet<Vec<u8>> {
        SetRef::of(e).iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn integers_stay_an_intset_until_a_string_or_the_limit() {
        let mut e = Entry::new_container(b"s", Kind::Set);
        let mut s = SetMut::new(&mut e);
        assert!(s.add(b"3"));
        assert!(s.add(b"-1"));
        assert!(!s.add(b"3"));
        assert!(s.add(b"100000"));
        assert_eq!(e.encoding(), "intset");
        let order: Vec<Vec<u8>> = SetRef::of(&e).iter().map(|m| m.to_vec()).collect();
        assert_eq!(
            order,
            vec![b"-1".to_vec(), b"3".to_vec(), b"100000".to_vec()]
        );
        // "03" is not an integer's canonical form: a string member.
        assert!(SetMut::new(&mut e).add(b"03"));
        assert_eq!(e.encoding(), "hashtable");
        assert_eq!(members(&e).len(), 4);
        assert!(SetRef::of(&e).contains(b"100000"));

        let mut e = Entry::new_container(b"s", Kind::Set);
        for i in 0..SET_MAX_INTSET_ENTRIES {
            SetMut::new(&mut e).add(i.to_string().as_bytes());
        }
        assert_eq!(e.encoding(), "intset");
        SetMut::new(&mut e).add(b"-5");
        assert_eq!(e.encoding(), "hashtable");
        assert_eq!(SetRef::of(&e).len(), SET_MAX_INTSET_ENTRIES + 1);
    }

    #[test]
    fn both_forms_agree_with_a_model() {
        for strings in [false, true] {
            let mut e = Entry::new_container(b"s", Kind::Set);
            let mut model = BTreeSet::new();
            let mut x: u64 = 99;
            for _ in 0..4000 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let n = (x >> 33) % 400;
                let m = if strings && n.is_multiple_of(50) {
                    format!("s{n}")
                } else {
                    format!("{}", n as i64 - 200)
                }
                .into_bytes();
                let mut s = SetMut::new(&mut e);
                if (x >> 20).is_multiple_of(3) {
                    assert_eq!(s.remove(&m), model.remove(&m));
                } else {
                    assert_eq!(s.add(&m), model.insert(m.clone()));
                }
                assert_eq!(SetRef::of(&e).len(), model.len());
            }
            assert_eq!(members(&e), model);
            assert_eq!(e.encoding(), if strings { "hashtable" } else { "intset" });
        }
    }

    #[test]
    fn pop_is_a_function_of_content_and_the_number() {
        let build = |order: &mut dyn Iterator<Item = i32>| {
            let mut e = Entry::new_container(b"s", Kind::Set);
            for i in order {
                SetMut::new(&mut e).add(format!("m{i}").as_bytes());
            }
            e
        };
        let mut a = build(&mut (0..100));
        let mut b = build(&mut (0..100).rev());
        for r in 0..100u64 {
            let r = r.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(SetMut::new(&mut a).pop(r), SetMut::new(&mut b).pop(r));
        }
        assert!(SetRef::of(&a).is_empty());
        assert_eq!(SetMut::new(&mut a).pop(1), None);
    }
}
