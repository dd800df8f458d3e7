//! The keyspace's hash function: deterministic, seeded with a constant.
//!
//! Every replica must place a key in the same shard and the same bucket, so that KEYS and SCAN
//! walk the keyspace in the same order on every node and a SCAN cursor from one node means the
//! same on another. So the hash is fixed: no per-process random seed (std's `RandomState`), and
//! no algorithm that may change with the Rust release (std's `DefaultHasher`). A change to this
//! function changes the layout of every store; the golden-value test guards it.
//!
//! The mixing step is the folded 64x64->128 multiply of wyhash/foldhash. It is fast and spreads
//! short keys well. It is not keyed by a secret, so it does not resist deliberate collision
//! flooding; each bucket chain is bounded only by what clients write.

const SEED: u64 = 0x243f_6a88_85a3_08d3;
const M0: u64 = 0xa076_1d64_78bd_642f;
const M1: u64 = 0xe703_7ed1_a0b4_28db;
const M2: u64 = 0x8ebc_6af0_9c88_c6e3;

#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

#[inline]
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    u64::from_le_bytes(w)
}

/// The hash of a key. High 32 bits choose the shard, low bits the bucket (see `store`).
#[inline]
pub fn hash_key(key: &[u8]) -> u64 {
    let mut h = SEED ^ fold_mul(key.len() as u64 ^ M0, M1);
    let mut chunks = key.chunks_exact(16);
    for c in &mut chunks {
        let a = word(&c[..8]);
        let b = word(&c[8..]);
        h = fold_mul(a ^ M0 ^ h, b ^ M1);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let (a, b) = if rest.len() > 8 {
            (word(&rest[..8]), word(&rest[8..]))
        } else {
            (word(rest), 0)
        };
        h = fold_mul(a ^ M0 ^ h, b ^ M2);
    }
    fold_mul(h ^ M2, M1 ^ (key.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_a_fixed_function_of_the_key() {
        // Golden values: if these change, stores built by an older binary lay keys out
        // differently, and a mixed-version cluster would disagree on SCAN order.
        assert_eq!(hash_key(b""), 0xaed7_6203_700a_10af);
        assert_eq!(hash_key(b"foo"), 0xee49_56fb_ee74_8880);
        assert_eq!(hash_key(b"key:000000000001"), 0xb594_8a42_9879_35cb);
    }

    #[test]
    fn hash_depends_on_every_byte_and_on_length() {
        let base = b"abcdefghijklmnopqrstuvwxyz0123456789".to_vec();
        let h = hash_key(&base);
        for i in 0..base.len() {
            let mut k = base.clone();
            k[i] ^= 1;
            assert_ne!(hash_key(&k), h, "flipping byte {i} did not change the hash");
        }
        assert_ne!(hash_key(b"a"), hash_key(b"a\0"));
        assert_ne!(hash_key(b""), hash_key(b"\0"));
    }

    #[test]
    fn sequential_keys_spread_evenly_over_buckets_and_shards() {
        let n = 64 * 1024;
        let mut low = vec![0u32; 1024];
        let mut high = vec![0u32; 64];
        for i in 0..n {
            let h = hash_key(format!("key:{i}").as_bytes());
            low[(h & 1023) as usize] += 1;
            high[(((h >> 32) * 64) >> 32) as usize] += 1;
        }
        // Expected 64 per bucket and 1024 per shard; a decent hash stays well within 2x.
        assert!(low.iter().all(|&c| (24..=110).contains(&c)), "{low:?}");
        assert!(high.iter().all(|&c| (850..=1200).contains(&c)), "{high:?}");
    }
}
