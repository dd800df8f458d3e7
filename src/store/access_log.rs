//! A follower's record of the keys its reads found, for the leader's eviction (see
//! `node::evict`): a bounded, uniform sample of the accesses of one interval.
//!
//! Reads record here exactly the accesses they record in the keys' LRU/LFU fields (a key that
//! was found; not a miss, not a LOOKUP_NOTOUCH read), so the leader learns what this node's
//! own fields learnt. Recording is off (`max == 0`) on the leader, which updates its fields
//! directly; a reader that finds the buffer busy skips its record rather than wait.
//!
//! Cost. Most reads take no lock: each is first kept with a probability (`rate`) that adapts
//! every interval so that about twice `max` reach the buffer, where a reservoir keeps `max` of
//! them. Both steps are uniform, so the sample is too: a key read twice as often is reported
//! twice as often.
//!
//! Not here: sending the sample, or applying it on the leader (`node::evict`).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// Keys longer than this are not recorded (a hint would cost more than the key's rank).
pub const KEY_BYTES_MAX: usize = 256;

pub struct AccessLog {
    /// Keys kept per interval at most; 0 = off.
    max: AtomicU32,
    /// A read is offered to the buffer with probability `rate / 2^32` (`u32::MAX`: always).
    rate: AtomicU32,
    buf: Mutex<Sample>,
}

impl Default for AccessLog {
    fn default() -> AccessLog {
        AccessLog {
            max: AtomicU32::new(0),
            rate: AtomicU32::new(u32::MAX),
            buf: Mutex::default(),
        }
    }
}

thread_local! {
    /// Each reader thread's coin for the first step (xorshift; any seed but 0).
    static COIN: Cell<u32> = const { Cell::new(0x9e37_79b9) };
}

fn coin() -> u32 {
    COIN.with(|c| {
        let mut x = c.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c.set(x);
        x
    })
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
        let rate = self.rate.load(Ordering::Relaxed);
        if rate != u32::MAX && coin() >= rate {
            return;
        }
        if let Some(mut s) = self.buf.try_lock() {
            s.offer(db, key, max);
        }
    }

    /// The interval's sample; a new interval starts, with the first step's rate set so that
    /// about `2 * max` reads would have reached the buffer in the interval that ended.
    pub fn take(&self) -> Vec<(u32, Bytes)> {
        let mut s = self.buf.lock();
        let max = u64::from(self.max.load(Ordering::Relaxed));
        let rate = u64::from(self.rate.load(Ordering::Relaxed));
        let next = (rate * 2 * max)
            .checked_div(s.seen)
            .map_or(u64::from(u32::MAX), |r| r.clamp(1, u64::from(u32::MAX)));
        self.rate.store(next as u32, Ordering::Relaxed);
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
    fn under_heavy_reads_few_take_the_lock_and_the_sample_stays_uniform() {
        let log = AccessLog::default();
        log.set_max(100);
        let mut hot = 0;
        for interval in 0..20 {
            for i in 0..100_000u32 {
                let key = if i % 4 == 0 {
                    "hot".to_string()
                } else {
                    format!("cold{i}")
                };
                log.note(0, key.as_bytes());
            }
            let offered = log.buf.lock().seen;
            let keys = log.take();
            assert_eq!(keys.len(), 100, "interval {interval}");
            if interval >= 5 {
                // The rate settled: about 2 * max reads reached the buffer, not 100000.
                assert!((100..=400).contains(&offered), "{offered} offered");
                hot += keys.iter().filter(|(_, k)| &k[..] == b"hot").count();
            }
        }
        // "hot" is a quarter of the reads: about 375 of the 1500 keys reported.
        assert!((300..450).contains(&hot), "{hot}");
        // Reads slow down: the rate rises again.
        log.note(0, b"k");
        log.take();
        assert_eq!(log.rate.load(Ordering::Relaxed), u32::MAX);
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
