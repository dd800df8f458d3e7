//! A follower's record of the keys its reads found, for the leader's eviction (see
//! `node::evict`): a bounded, uniform sample of the accesses of one interval.
//!
//! Reads record here exactly the accesses they record in the keys' LRU/LFU fields (a key that
//! was found; not a miss, not a LOOKUP_NOTOUCH read), so the leader learns what this node's
//! own fields learnt. Recording is off (`max == 0`) on the leader, which updates its fields
//! directly; a reader that finds the buffer busy skips its record rather than wait.
//!
//! Not here: sending the sample, or applying it on the leader (`node::evict`).

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// Keys longer than this are not recorded (a hint would cost more than the key's rank).
pub const KEY_BYTES_MAX: usize = 256;

#[derive(Default)]
pub struct AccessLog {
    /// Keys kept per interval at most; 0 = off.
    max: AtomicU32,
    buf: Mutex<Sample>,
}

#[derive(Default)]
struct Sample {
    keys: Vec<(u32, Bytes)>,
    /// Accesses in this interval (the reservoir's denominator).
    seen: u64,
    rng: u64,
}

impl Sample {
    /// Reservoir sampling: every access of the interval is equally likely to be kept.
    fn offer(&mut self, db: u32, key: &[u8], max: usize) {
        self.seen += 1;
        if self.keys.len() < max {
            self.keys.push((db, Bytes::copy_from_slice(key)));
            return;
        }
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let j = (z ^ (z >> 31)) % self.seen;
        if (j as usize) < max {
            self.keys[j as usize] = (db, Bytes::copy_from_slice(key));
        }
    }
}

impl AccessLog {
    /// Keep up to `max` keys per interval (0 turns recording off and drops what was kept).
    pub fn set_max(&self, max: u32) {
        self.max.store(max, Ordering::Relaxed);
        if max == 0 {
            self.take();
        }
    }

    /// An access to `key` of `db` found by a read.
    #[inline]
    pub fn note(&self, db: u32, key: &[u8]) {
        let max = self.max.load(Ordering::Relaxed) as usize;
        if max == 0 || key.len() > KEY_BYTES_MAX {
            return;
        }
        if let Some(mut s) = self.buf.try_lock() {
            s.offer(db, key, max);
        }
    }

    /// The interval's sample; a new interval starts.
    pub fn take(&self) -> Vec<(u32, Bytes)> {
        let mut s = self.buf.lock();
        s.seen = 0;
        std::mem::take(&mut s.keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_is_bounded_and_keeps_hot_keys_in_proportion() {
        let log = AccessLog::default();
        log.set_max(100);
        for i in 0..10_000u32 {
            // "hot" is half of all accesses.
            let key = if i % 2 == 0 {
                "hot".to_string()
            } else {
                format!("cold{i}")
            };
            log.note(0, key.as_bytes());
        }
        let keys = log.take();
        assert_eq!(keys.len(), 100);
        let hot = keys.iter().filter(|(_, k)| &k[..] == b"hot").count();
        assert!((30..70).contains(&hot), "{hot} of 100");
        assert!(log.take().is_empty(), "a new interval starts empty");
    }

    #[test]
    fn off_or_long_keys_record_nothing() {
        let log = AccessLog::default();
        log.note(0, b"k");
        assert!(log.take().is_empty());
        log.set_max(10);
        log.note(3, &[b'x'; KEY_BYTES_MAX + 1]);
        log.note(3, b"k");
        assert_eq!(log.take(), vec![(3, Bytes::from_static(b"k"))]);
        log.note(3, b"k");
        log.set_max(0);
        assert!(log.take().is_empty());
    }
}
