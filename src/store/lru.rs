//! The 32-bit access field of every key: Redis's LRU clock or LFU counter (evict.c), which
//! OBJECT IDLETIME / OBJECT FREQ read and the leader's eviction (`node::evict`) ranks keys by.
//!
//! LRU: the field is the LRU clock, unix seconds modulo 2^24, when the key was last accessed.
//! LFU: the field is the time in minutes modulo 2^16 (high 16 of the low 24 bits) and a
//! logarithmic access counter (low 8 bits) that decays by one per `lfu-decay-time` minutes.
//! Both exactly as Redis computes them, so OBJECT IDLETIME and FREQ answer as Redis does.
//!
//! The field is node-local metadata: readers update it with a relaxed atomic store while they
//! hold only a shared lock, and it is outside the replicated state and the digest. Apply
//! updates it with the entry's time (and a seeded generator for LFU's coin), reads with the
//! node's clock.
//!
//! Not here: choosing eviction victims, the policy's configuration (the node sets it with
//! `Store::set_access_policy` from `maxmemory-policy`, `lfu-log-factor`, `lfu-decay-time`).

use std::sync::atomic::{AtomicU32, Ordering};

/// LRU clock resolution (`LRU_CLOCK_RESOLUTION`).
pub const LRU_CLOCK_RESOLUTION_MS: u64 = 1000;
/// The LRU clock wraps at 2^24 (`LRU_CLOCK_MAX`).
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// A new key's LFU counter (`LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u32 = 5;

/// What the access field holds, from `maxmemory-policy` (an `allkeys-lfu`/`volatile-lfu`
/// policy means LFU; every other policy, `noeviction` included, means LRU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessPolicy {
    Lru,
    Lfu {
        /// `lfu-log-factor` (Redis's default 10).
        log_factor: u32,
        /// `lfu-decay-time` in minutes (Redis's default 1; 0 never decays).
        decay_minutes: u32,
    },
}

impl AccessPolicy {
    pub fn is_lfu(self) -> bool {
        matches!(self, AccessPolicy::Lfu { .. })
    }
}

/// The LRU clock at `now_ms`.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / LRU_CLOCK_RESOLUTION_MS) & u64::from(LRU_CLOCK_MAX)) as u32
}

/// Milliseconds since the access recorded in `field` (`estimateObjectIdleTime`).
pub fn idle_ms(field: u32, now_ms: u64) -> u64 {
    let clock = u64::from(lru_clock(now_ms));
    let field = u64::from(field & LRU_CLOCK_MAX);
    let ticks = if clock >= field {
        clock - field
    } else {
        clock + (u64::from(LRU_CLOCK_MAX) - field)
    };
    ticks * LRU_CLOCK_RESOLUTION_MS
}

fn lfu_minutes(now_ms: u64) -> u32 {
    ((now_ms / 1000 / 60) & 65535) as u32
}

/// The LFU counter after decay (`LFUDecrAndReturn`): OBJECT FREQ.
pub fn lfu_counter(field: u32, now_ms: u64, decay_minutes: u32) -> u32 {
    let ldt = field >> 8;
    let counter = field & 255;
    let now = lfu_minutes(now_ms);
    let elapsed = if now >= ldt {
        now - ldt
    } else {
        65535 - ldt + now
    };
    let periods = elapsed.checked_div(decay_minutes).unwrap_or(0);
    counter.saturating_sub(periods)
}

/// `LFULogIncr`: the counter grows with probability 1 / ((counter - 5) * factor + 1); `coin`
/// is uniform in [0, 1).
fn lfu_log_incr(counter: u32, log_factor: u32, coin: f64) -> u32 {
    if counter >= 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if coin < p {
        counter + 1
    } else {
        counter
    }
}

/// The field of a key created at `now_ms`.
pub fn initial(policy: AccessPolicy, now_ms: u64) -> u32 {
    match policy {
        AccessPolicy::Lru => lru_clock(now_ms),
        AccessPolicy::Lfu { .. } => (lfu_minutes(now_ms) << 8) | LFU_INIT_VAL,
    }
}

/// Record an access at `now_ms` (Redis's lookupKey): `coin` is uniform in [0, 1).
pub fn touch(field: &AtomicU32, policy: AccessPolicy, now_ms: u64, coin: f64) {
    let old = field.load(Ordering::Relaxed);
    let new = match policy {
        AccessPolicy::Lru => lru_clock(now_ms),
        AccessPolicy::Lfu {
            log_factor,
            decay_minutes,
        } => {
            let c = lfu_counter(old, now_ms, decay_minutes);
            (lfu_minutes(now_ms) << 8) | lfu_log_incr(c, log_factor, coin)
        }
    };
    // Most reads of a hot key land in the same second: skip the store (and the cache line
    // write) when nothing changes.
    if new != old {
        field.store(new, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_time_counts_whole_seconds_and_survives_the_clock_wrap() {
        let t0 = 1_700_000_000_123;
        let f = lru_clock(t0);
        assert_eq!(idle_ms(f, t0), 0);
        assert_eq!(
            idle_ms(f, t0 + 999),
            if (t0 % 1000) + 999 >= 1000 { 1000 } else { 0 }
        );
        assert_eq!(idle_ms(f, t0 + 10_000), 10_000);
        // Just before the 24-bit clock wraps, then after it.
        let wrap_ms = u64::from(LRU_CLOCK_MAX + 1) * 1000;
        let f = lru_clock(wrap_ms - 3000);
        assert_eq!(f, LRU_CLOCK_MAX - 2);
        // Redis's formula counts one tick less across the wrap (LRU_CLOCK_MAX, not +1).
        assert_eq!(idle_ms(f, wrap_ms + 2000), 4000);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays_per_minute() {
        let policy = AccessPolicy::Lfu {
            log_factor: 10,
            decay_minutes: 1,
        };
        let t0 = 1_700_000_000_000;
        let f = AtomicU32::new(initial(policy, t0));
        assert_eq!(lfu_counter(f.load(Ordering::Relaxed), t0, 1), LFU_INIT_VAL);
        // A coin of 0 always increments; 0.99 increments only while p > 0.99 (counter <= 5).
        touch(&f, policy, t0, 0.0);
        assert_eq!(f.load(Ordering::Relaxed) & 255, 6);
        touch(&f, policy, t0, 0.99);
        assert_eq!(f.load(Ordering::Relaxed) & 255, 6);
        // Three minutes later, three periods have decayed.
        assert_eq!(lfu_counter(f.load(Ordering::Relaxed), t0 + 180_000, 1), 3);
        assert_eq!(lfu_counter(f.load(Ordering::Relaxed), t0 + 180_000, 0), 6);
        assert_eq!(lfu_log_incr(255, 10, 0.0), 255);
    }
}
