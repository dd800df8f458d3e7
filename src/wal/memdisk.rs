//! An in-memory `Disk` that injects the faults a real disk has, for tests and for the Raft
//! simulation: writes lost because they were not synced, torn writes, bit flips, a failing
//! sync and a full disk. Every random choice comes from the seed it was made with, so a run
//! replays exactly.
//!
//! The model:
//! - Each file has its durable bytes and its cached bytes (what a process reads). A mapped
//!   `SegmentFile` works on its own copy and hands it to the cache when dropped; `flush_range`
//!   makes exactly that byte range durable (and cached).
//! - Creations, renames and removals are cached until `sync_dir` of their directory. On a crash
//!   a seeded prefix of the pending ones survives, in the order they were made (a metadata
//!   journal), the rest is lost.
//! - `crash()` is a power loss: each file keeps its durable bytes, and each page
//!   (`page_bytes`, default 512) whose cached bytes differ from them independently keeps none,
//!   all, or a seeded-length prefix of its cached bytes (a torn write). Drop every `Wal` using
//!   the disk first: a file still mapped when `crash()` runs has its writes since its last
//!   flush counted as never made. Dropping a `Wal` without `crash()` is a process crash
//!   (`kill -9`): the cache survives whole.
//! - A failed sync (`fail_next_sync`) makes nothing durable, and the bytes it was asked to
//!   flush are dropped from the cache's write-back, as Linux does after an fsync error: a later
//!   flush of them reports success without writing them, and a crash loses them. (On Linux,
//!   writing those pages again would make them dirty again; a map's writes are invisible here,
//!   so the model keeps them dropped until the crash, which only errs on the harsh side.)
//! - A created file takes its full length from the capacity (`set_capacity`) at once, as the
//!   WAL's preallocation does on a real disk; a creation that does not fit fails with ENOSPC.
//!   Writes into a mapped file never fail.
//! - `corrupt` flips a bit of the stored bytes (durable and cached): media damage. Call it with
//!   the files closed; an open map keeps the bytes it read.
//! - `cut_power_after(n)` lets `n` more changes (creation, rename, removal, flush, directory
//!   sync) happen and then fails every operation until `crash()`: a crash in the middle of
//!   whatever the WAL was doing, recovery included.
//!
//! Use: `let disk = MemDisk::new(seed); Wal::open_with(opts, Box::new(disk.clone()))`, one
//! `MemDisk` per simulated machine (a crash is the whole machine's); to crash, drop the `Wal`,
//! call `disk.crash()`, and open again with a fresh clone.
//!
//! What it does not model: sizes changing after creation, directories as objects (any path is
//! a file in its parent's listing), or several processes.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::disk::{Disk, SegmentFile};

/// Pages smaller than this make the per-page crash model slow without adding coverage.
pub const MEM_PAGE_BYTES_MIN: usize = 8;
const DEFAULT_PAGE_BYTES: usize = 512;

type FileId = u64;

/// An in-memory disk. Clones share the same files; each clone is a separate owner for
/// `lock_dir` (give one clone to each `Wal`), and a clone made before a `crash()` stops
/// working (its operations fail), as a dead process's handles do.
pub struct MemDisk {
    state: Arc<Mutex<State>>,
    owner: u64,
    generation: u64,
}

#[derive(Default)]
struct FileData {
    durable: Vec<u8>,
    cached: Vec<u8>,
    /// Byte ranges a failed flush dropped from write-back: they stay as cached until a crash,
    /// which reverts them to their durable bytes.
    dropped: Vec<(usize, usize)>,
}

/// One directory change: the names it sets (to a file) or clears (to `None`), applied at once.
type DirOp = Vec<(PathBuf, Option<FileId>)>;

struct State {
    rng: u64,
    page_bytes: usize,
    files: BTreeMap<FileId, FileData>,
    live: BTreeMap<PathBuf, FileId>,
    durable: BTreeMap<PathBuf, FileId>,
    pending: Vec<DirOp>,
    locks: BTreeMap<PathBuf, u64>,
    generation: u64,
    next_id: u64,
    fail_syncs: u32,
    capacity: Option<u64>,
    /// Changes left before the power goes.
    power_left: Option<u64>,
    /// A change was attempted with none left: everything fails until the crash.
    power_out: bool,
}

static NEXT_OWNER: AtomicU64 = AtomicU64::new(1);

fn new_owner() -> u64 {
    NEXT_OWNER.fetch_add(1, Ordering::Relaxed)
}

impl State {
    /// splitmix64: any seed, zero included, gives a good sequence.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_random() % n
        }
    }

    fn used_bytes(&self) -> u64 {
        let mut ids: Vec<FileId> = self.live.values().copied().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .filter_map(|id| self.files.get(id))
            .map(|f| f.cached.len() as u64)
            .sum()
    }

    fn change_dir(&mut self, op: DirOp) {
        for (path, id) in &op {
            match id {
                Some(id) => self.live.insert(path.clone(), *id),
                None => self.live.remove(path),
            };
        }
        self.pending.push(op);
    }

    /// Forgets files no name refers to, durably or not. A map of one keeps its own bytes.
    fn collect_garbage(&mut self) {
        let mut referenced: Vec<FileId> = self
            .live
            .values()
            .chain(self.durable.values())
            .copied()
            .chain(
                self.pending
                    .iter()
                    .flat_map(|op| op.iter().filter_map(|(_, id)| *id)),
            )
            .collect();
        referenced.sort_unstable();
        referenced.dedup();
        self.files
            .retain(|id, _| referenced.binary_search(id).is_ok());
    }

    /// Counts one change against `cut_power_after`; fails once the power is gone.
    fn take_change(&mut self) -> io::Result<()> {
        match self.power_left {
            Some(0) => {
                self.power_out = true;
                Err(power_lost())
            }
            Some(n) => {
                self.power_left = Some(n - 1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn take_sync_failure(&mut self) -> io::Result<()> {
        if self.fail_syncs > 0 {
            self.fail_syncs -= 1;
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

fn dead() -> io::Error {
    io::Error::other("memdisk: this handle's process crashed")
}

fn power_lost() -> io::Error {
    io::Error::other("memdisk: power lost")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("memdisk: no file {}", path.display()),
    )
}

impl MemDisk {
    /// An empty disk whose random choices (which unsynced bytes survive a crash, which bit
    /// `corrupt` flips) follow `seed`.
    pub fn new(seed: u64) -> MemDisk {
        let state = State {
            rng: seed,
            page_bytes: DEFAULT_PAGE_BYTES,
            files: BTreeMap::new(),
            live: BTreeMap::new(),
            durable: BTreeMap::new(),
            pending: Vec::new(),
            locks: BTreeMap::new(),
            generation: 0,
            next_id: 1,
            fail_syncs: 0,
            capacity: None,
            power_left: None,
            power_out: false,
        };
        MemDisk {
            state: Arc::new(Mutex::new(state)),
            owner: new_owner(),
            generation: 0,
        }
    }

    /// The unit in which unsynced bytes survive a crash (at least `MEM_PAGE_BYTES_MIN`).
    pub fn set_page_bytes(&self, page_bytes: usize) {
        self.state.lock().page_bytes = page_bytes.max(MEM_PAGE_BYTES_MIN);
    }

    /// Loses power: see the module header for what survives. Every handle cloned before now
    /// stops working and every directory lock is released.
    pub fn crash(&self) {
        let mut st = self.state.lock();
        st.generation += 1;
        st.locks.clear();
        st.power_left = None;
        st.power_out = false;
        let pending = std::mem::take(&mut st.pending);
        let kept = st.below(pending.len() as u64 + 1) as usize;
        for op in &pending[..kept] {
            for (path, id) in op {
                match id {
                    Some(id) => st.durable.insert(path.clone(), *id),
                    None => st.durable.remove(path),
                };
            }
        }
        st.live = st.durable.clone();
        st.collect_garbage();
        let page = st.page_bytes;
        let ids: Vec<FileId> = st.files.keys().copied().collect();
        for id in ids {
            let Some(mut f) = st.files.remove(&id) else {
                continue;
            };
            let mut candidate = std::mem::take(&mut f.cached);
            for &(from, to) in &f.dropped {
                candidate[from..to].copy_from_slice(&f.durable[from..to]);
            }
            let mut at = 0;
            while at < candidate.len() {
                let end = candidate.len().min(at + page);
                if candidate[at..end] != f.durable[at..end] {
                    let keep = match st.below(3) {
                        0 => 0,
                        1 => end - at,
                        _ => st.below((end - at) as u64 + 1) as usize,
                    };
                    f.durable[at..at + keep].copy_from_slice(&candidate[at..at + keep]);
                }
                at = end;
            }
            f.cached = f.durable.clone();
            f.dropped.clear();
            st.files.insert(id, f);
        }
    }

    /// Lets `changes` more changes happen, then fails every operation until `crash()`.
    pub fn cut_power_after(&self, changes: u64) {
        self.state.lock().power_left = Some(changes);
    }

    /// Cancels a `cut_power_after` that has not struck yet.
    pub fn keep_power(&self) {
        let mut st = self.state.lock();
        if !st.power_out {
            st.power_left = None;
        }
    }

    /// Makes the next `n` syncs (`flush_range` or `sync_dir`, whichever come) fail with EIO.
    pub fn fail_next_syncs(&self, n: u32) {
        self.state.lock().fail_syncs = n;
    }

    /// Makes the next sync fail with EIO.
    pub fn fail_next_sync(&self) {
        self.fail_next_syncs(1);
    }

    /// Caps the total bytes of all files; `None` for no limit. Files already there stay.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        self.state.lock().capacity = bytes;
    }

    /// Flips a seeded-random bit of byte `offset` of `path`, durably. False when there is no
    /// such byte.
    pub fn corrupt(&self, path: &Path, offset: usize) -> bool {
        let mut st = self.state.lock();
        let bit = st.below(8) as u32;
        let Some(&id) = st.live.get(path) else {
            return false;
        };
        let Some(f) = st.files.get_mut(&id) else {
            return false;
        };
        if offset >= f.cached.len() {
            return false;
        }
        f.cached[offset] ^= 1 << bit;
        f.durable[offset] ^= 1 << bit;
        true
    }

    /// The files there are now (synced or not), with their lengths, in path order.
    pub fn files(&self) -> Vec<(PathBuf, usize)> {
        let st = self.state.lock();
        st.live
            .iter()
            .filter_map(|(p, id)| st.files.get(id).map(|f| (p.clone(), f.cached.len())))
            .collect()
    }

    /// The bytes of `path` as a process would read them now.
    pub fn read(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.state.lock();
        let id = st.live.get(path)?;
        st.files.get(id).map(|f| f.cached.clone())
    }

    fn live_state(&self) -> io::Result<parking_lot::MutexGuard<'_, State>> {
        let st = self.state.lock();
        if st.generation != self.generation {
            return Err(dead());
        }
        if st.power_out {
            return Err(power_lost());
        }
        Ok(st)
    }

    /// `live_state` for an operation that changes something.
    fn changing_state(&self) -> io::Result<parking_lot::MutexGuard<'_, State>> {
        let mut st = self.live_state()?;
        st.take_change()?;
        Ok(st)
    }

    fn map(&self, id: FileId, bytes: Vec<u8>) -> Box<dyn SegmentFile> {
        Box::new(MemFile {
            state: self.state.clone(),
            id,
            generation: self.generation,
            bytes,
        })
    }
}

impl Clone for MemDisk {
    /// Another owner of the same files, alive as of now.
    fn clone(&self) -> MemDisk {
        let generation = self.state.lock().generation;
        MemDisk {
            state: self.state.clone(),
            owner: new_owner(),
            generation,
        }
    }
}

impl Drop for MemDisk {
    fn drop(&mut self) {
        let owner = self.owner;
        self.state.lock().locks.retain(|_, o| *o != owner);
    }
}

impl Disk for MemDisk {
    fn create_dir_all(&mut self, _dir: &Path) -> io::Result<()> {
        self.live_state().map(drop)
    }

    fn lock_dir(&mut self, dir: &Path) -> io::Result<()> {
        let mut st = self.live_state()?;
        match st.locks.get(dir) {
            Some(&o) if o != self.owner => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("wal directory {} is in use by another wal", dir.display()),
            )),
            _ => {
                st.locks.insert(dir.to_path_buf(), self.owner);
                Ok(())
            }
        }
    }

    fn list_dir(&mut self, dir: &Path) -> io::Result<Vec<String>> {
        let st = self.live_state()?;
        Ok(st
            .live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn create(&mut self, path: &Path, len: u64) -> io::Result<Box<dyn SegmentFile>> {
        let mut st = self.changing_state()?;
        let len_bytes = usize::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
        let replaced = st
            .live
            .get(path)
            .and_then(|id| st.files.get(id))
            .map_or(0, |f| f.cached.len() as u64);
        if let Some(cap) = st.capacity {
            if st.used_bytes() - replaced + len > cap {
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
        }
        let id = st.next_id;
        st.next_id += 1;
        st.files.insert(
            id,
            FileData {
                durable: vec![0; len_bytes],
                cached: vec![0; len_bytes],
                dropped: Vec::new(),
            },
        );
        st.change_dir(vec![(path.to_path_buf(), Some(id))]);
        st.collect_garbage();
        drop(st);
        Ok(self.map(id, vec![0; len_bytes]))
    }

    fn open(&mut self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let st = self.live_state()?;
        let id = *st.live.get(path).ok_or_else(|| not_found(path))?;
        let bytes = st
            .files
            .get(&id)
            .ok_or_else(|| not_found(path))?
            .cached
            .clone();
        drop(st);
        Ok(self.map(id, bytes))
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.changing_state()?;
        let id = *st.live.get(from).ok_or_else(|| not_found(from))?;
        st.change_dir(vec![
            (from.to_path_buf(), None),
            (to.to_path_buf(), Some(id)),
        ]);
        st.collect_garbage();
        Ok(())
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        let mut st = self.changing_state()?;
        if !st.live.contains_key(path) {
            return Err(not_found(path));
        }
        st.change_dir(vec![(path.to_path_buf(), None)]);
        st.collect_garbage();
        Ok(())
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        let mut st = self.changing_state()?;
        st.take_sync_failure()?;
        let pending = std::mem::take(&mut st.pending);
        for op in pending {
            if op.iter().all(|(p, _)| p.parent() == Some(dir)) {
                for (path, id) in op {
                    match id {
                        Some(id) => st.durable.insert(path, id),
                        None => st.durable.remove(&path),
                    };
                }
            } else {
                st.pending.push(op);
            }
        }
        st.collect_garbage();
        Ok(())
    }
}

/// A file of a `MemDisk`, mapped: its own copy of the bytes.
struct MemFile {
    state: Arc<Mutex<State>>,
    id: FileId,
    generation: u64,
    bytes: Vec<u8>,
}

impl SegmentFile for MemFile {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn write_at(&mut self, offset: usize, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len())
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write out of range"))?;
        self.bytes[offset..end].copy_from_slice(data);
        Ok(())
    }

    fn flush_range(&mut self, offset: usize, len: usize) -> io::Result<()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "flush out of range"))?;
        let mut st = self.state.lock();
        if st.generation != self.generation {
            return Err(dead());
        }
        st.take_change()?;
        let failed = st.take_sync_failure();
        // A file no name refers to any more: flushing it makes nothing reachable durable.
        let Some(f) = st.files.get_mut(&self.id) else {
            return failed;
        };
        f.cached[offset..end].copy_from_slice(&self.bytes[offset..end]);
        if failed.is_err() {
            f.dropped.push((offset, end));
            return failed;
        }
        // Bytes a failed flush dropped are not written back by this one.
        let mut at = offset;
        while at < end {
            let next_dropped = f
                .dropped
                .iter()
                .filter(|&&(from, to)| to > at && from < end)
                .map(|&(from, to)| (from.max(at), to))
                .min();
            match next_dropped {
                Some((from, to)) if from <= at => at = to.min(end),
                Some((from, _)) => {
                    f.durable[at..from].copy_from_slice(&self.bytes[at..from]);
                    at = from;
                }
                None => {
                    f.durable[at..end].copy_from_slice(&self.bytes[at..end]);
                    at = end;
                }
            }
        }
        Ok(())
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        let mut st = self.state.lock();
        if st.generation != self.generation {
            return;
        }
        if let Some(f) = st.files.get_mut(&self.id) {
            f.cached.copy_from_slice(&self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PathBuf {
        Path::new("/d").join(name)
    }

    fn write(file: &mut Box<dyn SegmentFile>, at: usize, data: &[u8]) {
        file.write_at(at, data).unwrap();
    }

    #[test]
    fn synced_bytes_and_synced_names_survive_a_crash() {
        for seed in 0..50 {
            let disk = MemDisk::new(seed);
            let mut d = disk.clone();
            let mut f = d.create(&path("a"), 64).unwrap();
            d.sync_dir(Path::new("/d")).unwrap();
            write(&mut f, 0, b"synced");
            f.flush_range(0, 6).unwrap();
            write(&mut f, 6, b"unsynced");
            drop(f);
            disk.crash();
            let bytes = disk.read(&path("a")).unwrap();
            assert_eq!(&bytes[..6], b"synced", "seed {seed}");
            // Whatever survived of the unsynced write is a prefix of it, per page.
            let tail = &bytes[6..14];
            let kept = tail.iter().take_while(|&&b| b != 0).count();
            assert_eq!(&tail[..kept], &b"unsynced"[..kept], "seed {seed}");
            assert!(tail[kept..].iter().all(|&b| b == 0), "seed {seed}");
        }
    }

    #[test]
    fn crash_outcomes_vary_with_the_seed_and_repeat_with_it() {
        let run = |seed: u64| {
            let disk = MemDisk::new(seed);
            disk.set_page_bytes(8);
            let mut d = disk.clone();
            let mut f = d.create(&path("a"), 64).unwrap();
            d.sync_dir(Path::new("/d")).unwrap();
            write(&mut f, 0, &[0xff; 64]);
            drop(f);
            disk.crash();
            disk.read(&path("a")).unwrap()
        };
        let outcomes: Vec<Vec<u8>> = (0..20).map(run).collect();
        assert_eq!(outcomes[3], run(3));
        // Whole pages kept, whole pages lost, and pages torn part way.
        let pages = || outcomes.iter().flat_map(|o| o.chunks(8));
        assert!(pages().any(|p| p.iter().all(|&b| b == 0xff)));
        assert!(pages().any(|p| p.iter().all(|&b| b == 0)));
        let distinct: std::collections::BTreeSet<&Vec<u8>> = outcomes.iter().collect();
        assert!(distinct.len() > 10, "{} distinct outcomes", distinct.len());
        assert!(pages().any(|p| p[0] == 0xff && p[7] == 0));
    }

    #[test]
    fn unsynced_names_may_vanish_in_order() {
        let mut saw = [false; 3];
        for seed in 0..60 {
            let disk = MemDisk::new(seed);
            let mut d = disk.clone();
            drop(d.create(&path("a"), 8).unwrap());
            d.rename(&path("a"), &path("b")).unwrap();
            drop(d);
            disk.crash();
            let names: Vec<PathBuf> = disk.files().into_iter().map(|(p, _)| p).collect();
            let case = if names.is_empty() {
                0
            } else if names == [path("a")] {
                1
            } else {
                assert_eq!(names, [path("b")], "seed {seed}");
                2
            };
            saw[case] = true;
        }
        assert_eq!(saw, [true; 3]);
    }

    #[test]
    fn process_crash_keeps_the_cache() {
        let disk = MemDisk::new(1);
        let mut d = disk.clone();
        let mut f = d.create(&path("a"), 16).unwrap();
        write(&mut f, 0, b"cached");
        drop(f);
        drop(d);
        assert_eq!(&disk.read(&path("a")).unwrap()[..6], b"cached");
    }

    #[test]
    fn a_failed_flush_is_not_written_back_by_a_later_one() {
        for seed in 0..30 {
            let disk = MemDisk::new(seed);
            let mut d = disk.clone();
            let mut f = d.create(&path("a"), 32).unwrap();
            d.sync_dir(Path::new("/d")).unwrap();
            write(&mut f, 0, b"lost");
            disk.fail_next_sync();
            assert_eq!(
                f.flush_range(0, 4).unwrap_err().raw_os_error(),
                Some(libc::EIO)
            );
            // A retry "succeeds", but the kernel dropped those pages.
            f.flush_range(0, 4).unwrap();
            write(&mut f, 8, b"kept");
            f.flush_range(0, 12).unwrap();
            drop(f);
            disk.crash();
            let bytes = disk.read(&path("a")).unwrap();
            assert_eq!(&bytes[..4], &[0; 4], "seed {seed}");
            assert_eq!(&bytes[8..12], b"kept", "seed {seed}");
        }
    }

    #[test]
    fn a_full_disk_refuses_creation_with_enospc() {
        let disk = MemDisk::new(1);
        disk.set_capacity(Some(100));
        let mut d = disk.clone();
        drop(d.create(&path("a"), 60).unwrap());
        let err = d.create(&path("b"), 60).err().unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::ENOSPC));
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        // Replacing a file reuses its space; removing one frees it.
        drop(d.create(&path("a"), 90).unwrap());
        d.remove(&path("a")).unwrap();
        drop(d.create(&path("b"), 100).unwrap());
    }

    #[test]
    fn handles_from_before_a_crash_stop_working() {
        let disk = MemDisk::new(1);
        let mut d = disk.clone();
        let mut f = d.create(&path("a"), 8).unwrap();
        d.sync_dir(Path::new("/d")).unwrap();
        disk.crash();
        assert!(f.flush_range(0, 8).is_err());
        assert!(d.list_dir(Path::new("/d")).is_err());
        let mut fresh = disk.clone();
        assert_eq!(fresh.list_dir(Path::new("/d")).unwrap(), ["a"]);
    }

    #[test]
    fn a_dir_lock_is_exclusive_until_its_owner_goes() {
        let disk = MemDisk::new(1);
        let mut a = disk.clone();
        let mut b = disk.clone();
        a.lock_dir(Path::new("/d")).unwrap();
        a.lock_dir(Path::new("/d")).unwrap();
        let err = b.lock_dir(Path::new("/d")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(a);
        b.lock_dir(Path::new("/d")).unwrap();
    }

    #[test]
    fn cut_power_fails_everything_after_the_allowed_changes_until_the_crash() {
        let disk = MemDisk::new(1);
        let mut d = disk.clone();
        disk.cut_power_after(2);
        let mut f = d.create(&path("a"), 8).unwrap();
        d.sync_dir(Path::new("/d")).unwrap();
        assert!(f.flush_range(0, 8).is_err());
        assert!(d.list_dir(Path::new("/d")).is_err());
        disk.crash();
        let mut fresh = disk.clone();
        assert_eq!(fresh.list_dir(Path::new("/d")).unwrap(), ["a"]);
        drop(fresh.create(&path("b"), 8).unwrap());
    }

    #[test]
    fn corrupt_flips_one_stored_bit() {
        let disk = MemDisk::new(9);
        let mut d = disk.clone();
        drop(d.create(&path("a"), 8).unwrap());
        assert!(disk.corrupt(&path("a"), 3));
        assert!(!disk.corrupt(&path("a"), 8));
        assert!(!disk.corrupt(&path("zz"), 0));
        let bytes = disk.read(&path("a")).unwrap();
        assert_eq!(bytes.iter().map(|b| b.count_ones()).sum::<u32>(), 1);
        assert_ne!(bytes[3], 0);
    }
}
