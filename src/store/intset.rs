//! Sets of integers as a sorted array: Redis's intset.
//!
//! The integers are stored little endian, all with the same width (2, 4 or 8 bytes), the
//! smallest that holds every member; adding a member that needs more upgrades the whole array,
//! as intset.c does. Membership is a binary search; SMEMBERS lists members in ascending order,
//! as Redis does for this encoding.
//!
//! Invariants: the array is strictly ascending; its length is a multiple of the width; the
//! width is the one `width_for` gives for the widest member (or whatever it was upgraded to:
//! an intset never narrows, as in Redis).
//!
//! Not here: where the bytes live (after the key, in the entry's allocation: see `value`), and
//! when a set stops being an intset (see `sets`).

use std::cmp::Ordering;

/// The narrowest width that holds `v`.
pub fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Member `i` of an array of width `w`.
#[inline]
pub fn get(buf: &[u8], w: usize, i: usize) -> i64 {
    let b = &buf[i * w..(i + 1) * w];
    match w {
        2 => i64::from(i16::from_le_bytes([b[0], b[1]])),
        4 => i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => i64::from_le_bytes(b.try_into().expect("8-byte member")),
    }
}

fn put(out: &mut Vec<u8>, w: usize, v: i64) {
    out.extend_from_slice(&v.to_le_bytes()[..w]);
}

pub fn len(buf: &[u8], w: usize) -> usize {
    buf.len() / w
}

/// `Ok(index)` of `v`, or `Err(index where it would go)`.
pub fn search(buf: &[u8], w: usize, v: i64) -> Result<usize, usize> {
    let (mut lo, mut hi) = (0, len(buf, w));
    while lo < hi {
        let mid = (lo + hi) / 2;
        match get(buf, w, mid).cmp(&v) {
            Ordering::Less => lo = mid + 1,
            Ordering::Greater => hi = mid,
            Ordering::Equal => return Ok(mid),
        }
    }
    Err(lo)
}

/// Members in ascending order.
pub fn iter(buf: &[u8], w: usize) -> impl DoubleEndedIterator<Item = i64> + '_ {
    (0..len(buf, w)).map(move |i| get(buf, w, i))
}

/// Insert `v` into the array at `vec[base..]` of width `w`. Returns the new width, or `None`
/// if `v` was already a member (nothing changed).
pub fn insert(vec: &mut Vec<u8>, base: usize, w: usize, v: i64) -> Option<usize> {
    let nw = width_for(v).max(w);
    if nw != w {
        // Upgrade: the new member is beyond every current one (it needs more bits), so it goes
        // first if negative, last otherwise.
        let old: Vec<i64> = iter(&vec[base..], w).collect();
        vec.truncate(base);
        vec.reserve_exact((old.len() + 1) * nw);
        if v < 0 {
            put(vec, nw, v);
        }
        for x in old {
            put(vec, nw, x);
        }
        if v >= 0 {
            put(vec, nw, v);
        }
        return Some(nw);
    }
    let pos = search(&vec[base..], w, v).err()?;
    let at = base + pos * w;
    vec.reserve_exact(w);
    let bytes = v.to_le_bytes();
    vec.splice(at..at, bytes[..w].iter().copied());
    Some(w)
}

/// Remove member `i` from the array at `vec[base..]` of width `w`.
pub fn remove_at(vec: &mut Vec<u8>, base: usize, w: usize, i: usize) {
    let at = base + i * w;
    vec.drain(at..at + w);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn widths_upgrade_and_order_holds() {
        let mut v = b"key".to_vec();
        let mut w = 2;
        let mut model = BTreeSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..3000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let val = match i % 3 {
                0 => (x % 1000) as i64 - 500,
                1 => (x % 200_000) as i64 - 100_000,
                _ => x as i64 >> (x % 40),
            };
            let added = insert(&mut v, 3, w, val);
            assert_eq!(added.is_some(), model.insert(val));
            if let Some(nw) = added {
                assert!(nw >= w);
                w = nw;
            }
            if i % 7 == 0 {
                if let Some(&first) = model.iter().nth(model.len() / 2) {
                    let idx = search(&v[3..], w, first).unwrap();
                    remove_at(&mut v, 3, w, idx);
                    model.remove(&first);
                }
            }
        }
        assert_eq!(&v[..3], b"key");
        let got: Vec<i64> = iter(&v[3..], w).collect();
        assert_eq!(got, model.iter().copied().collect::<Vec<_>>());
        assert_eq!(w, 8);
    }

    #[test]
    fn width_is_the_narrowest_that_fits() {
        assert_eq!(width_for(32767), 2);
        assert_eq!(width_for(-32768), 2);
        assert_eq!(width_for(32768), 4);
        assert_eq!(width_for(i32::MIN as i64), 4);
        assert_eq!(width_for(i32::MAX as i64 + 1), 8);
        let mut v = Vec::new();
        assert_eq!(insert(&mut v, 0, 2, 5), Some(2));
        assert_eq!(insert(&mut v, 0, 2, 5), None);
        assert_eq!(insert(&mut v, 0, 2, -70000), Some(4));
        assert_eq!(iter(&v, 4).collect::<Vec<_>>(), vec![-70000, 5]);
        assert_eq!(v.len(), 8);
    }
}
