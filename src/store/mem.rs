//! What the keyspace costs in memory, from the store's own bookkeeping.
//!
//! Every allocation the store makes is counted at the size the allocator really hands out:
//! `alloc_size` models mimalloc's size classes (the process's global allocator), so the sums
//! track the allocator's view instead of undercounting by the rounding. Each structure keeps its
//! own total current as it changes (`Table` its items, `QuickList` its nodes, `Dict` its
//! entries, each shard the in-place growth of its entries), so reading a shard's memory is O(1)
//! and nothing is ever scanned to answer INFO or MEMORY USAGE.
//!
//! Invariant: a shard's counted bytes equal `Shard::walk_bytes`, the same sum recomputed by
//! walking everything (the tests check it after random command sequences).
//!
//! Not counted here: the process's code, stacks, connection buffers, the Raft log (see INFO's
//! fields in `server::info`).

/// Bytes above which mimalloc serves an allocation from its own pages (`MI_LARGE_MAX_OBJ_SIZE`,
/// 512 KiB), rounded to its 64 KiB arena slices.
const LARGE_OBJ_MAX: usize = 512 * 1024;
const ARENA_SLICE: usize = 64 * 1024;

/// The bytes mimalloc (v3, as built for this process) reserves for a request of `n` bytes:
/// 8 bytes, then multiples of 16 up to 64 (it aligns small blocks to two words), then four
/// size classes per power of two (at most 25% rounding), then whole 64 KiB slices past 512
/// KiB. Zero bytes allocate nothing (Rust does not call the allocator for empty boxes and
/// vectors). `tests/memory_accounting.rs` checks it against `mi_usable_size` for every size
/// up to 1 MiB.
#[inline]
pub fn alloc_size(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    if n <= 8 {
        return 8;
    }
    if n <= 64 {
        return n.div_ceil(16) * 16;
    }
    if n > LARGE_OBJ_MAX {
        return n.div_ceil(ARENA_SLICE) * ARENA_SLICE;
    }
    let words = n.div_ceil(8);
    // mimalloc's `mi_bin`: the bin of `words` is fixed by its top three bits; the class size
    // is the largest word count with the same top bits.
    let w = words - 1;
    let shift = (usize::BITS - 1 - w.leading_zeros()) - 2;
    (((w >> shift) + 1) << shift) * 8
}

/// The allocation of a vector of `capacity` elements of `T`.
#[inline]
pub fn vec_bytes<T>(capacity: usize) -> usize {
    alloc_size(capacity * std::mem::size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sizes_round_to_double_words() {
        assert_eq!(alloc_size(0), 0);
        assert_eq!(alloc_size(1), 8);
        assert_eq!(alloc_size(8), 8);
        assert_eq!(alloc_size(9), 16);
        assert_eq!(alloc_size(17), 32);
        assert_eq!(alloc_size(40), 48);
        assert_eq!(alloc_size(64), 64);
    }

    #[test]
    fn medium_sizes_use_four_classes_per_power_of_two() {
        // mimalloc's bins past 64 bytes: 80, 96, 112, 128, 160, 192, 224, 256, 320, ...
        let classes: Vec<usize> = [65, 81, 97, 113, 129, 161, 193, 225, 257]
            .iter()
            .map(|&n| alloc_size(n))
            .collect();
        assert_eq!(classes, [80, 96, 112, 128, 160, 192, 224, 256, 320]);
        for n in 1..=LARGE_OBJ_MAX {
            let a = alloc_size(n);
            assert!(a >= n && a <= n + n / 4 + 16, "{n} -> {a}");
            assert_eq!(alloc_size(a), a, "a class size is its own class");
        }
    }

    #[test]
    fn large_sizes_round_to_arena_slices() {
        assert_eq!(alloc_size(LARGE_OBJ_MAX + 1), LARGE_OBJ_MAX + ARENA_SLICE);
        assert_eq!(alloc_size(10 << 20), 10 << 20);
        assert_eq!(vec_bytes::<u64>(3), 32);
    }
}
