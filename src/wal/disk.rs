//! The WAL's only door to the file system: creating, preallocating, mapping, writing,
//! flushing, renaming and removing segment files, and syncing and locking their directory.
//!
//! Everything the WAL does to a disk goes through the `Disk` and `SegmentFile` traits, so a
//! simulation can put an in-memory disk that loses unsynced bytes or fails a flush
//! (`memdisk::MemDisk`) in place of `FsDisk`. The traits know nothing of the segment format.
//!
//! Invariants of `FsDisk`:
//! - A created file has all its blocks allocated up front (`posix_fallocate`), so a write
//!   cannot fail later for lack of space.
//! - A segment is read through a read-only shared map and written with `pwrite`. Linux keeps
//!   one page cache per file, so the map sees every write at once. Writing through the map
//!   instead costs, after each sync, a TLB shootdown on every core running the process (the
//!   kernel write-protects the pages it cleaned) and a page fault on the next write to each
//!   page: measured at about 5% of a node's CPU under group commit (docs/ARCHITECTURE.md).
//! - `flush_range` returns only once the range is durable (`fdatasync`).
//! - The directory is locked (an exclusive `flock` on `LOCK`) for as long as the `FsDisk` lives,
//!   so no other process maps, truncates or removes its segments underneath us.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

/// A segment file: its bytes, readable in place, and writes to it.
pub trait SegmentFile: Send {
    /// The whole file, including every `write_at` so far.
    fn bytes(&self) -> &[u8];
    /// Writes `data` at `offset` (inside the file; it never grows). Not durable until a
    /// `flush_range` covers it; once this returns, a crash of the process alone (not of the
    /// machine) keeps it.
    fn write_at(&mut self, offset: usize, data: &[u8]) -> io::Result<()>;
    /// Makes `bytes()[offset..offset + len]` durable before returning.
    fn flush_range(&mut self, offset: usize, len: usize) -> io::Result<()>;
}

pub trait Disk: Send {
    fn create_dir_all(&mut self, dir: &Path) -> io::Result<()>;
    /// Takes exclusive ownership of `dir` until this disk is dropped.
    fn lock_dir(&mut self, dir: &Path) -> io::Result<()>;
    /// The names of the files in `dir`.
    fn list_dir(&mut self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates (or truncates) `path`, allocates `len` zeroed bytes for it and opens it.
    fn create(&mut self, path: &Path, len: u64) -> io::Result<Box<dyn SegmentFile>>;
    /// Opens the whole of an existing file.
    fn open(&mut self, path: &Path) -> io::Result<Box<dyn SegmentFile>>;
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    fn remove(&mut self, path: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Default)]
pub struct FsDisk {
    lock: Option<File>,
}

struct MappedFile {
    file: File,
    /// Read-only: nothing is ever written through it (see the module's invariants).
    map: Mmap,
}

impl SegmentFile for MappedFile {
    fn bytes(&self) -> &[u8] {
        &self.map
    }

    fn write_at(&mut self, offset: usize, data: &[u8]) -> io::Result<()> {
        if offset
            .checked_add(data.len())
            .is_none_or(|end| end > self.map.len())
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write past the end of a segment",
            ));
        }
        self.file.write_all_at(data, offset as u64)
    }

    fn flush_range(&mut self, _offset: usize, _len: usize) -> io::Result<()> {
        // Only written ranges are dirty, and writes to a segment are few between flushes:
        // syncing the file's data is syncing the range.
        self.file.sync_data()
    }
}

fn map(file: File) -> io::Result<Box<dyn SegmentFile>> {
    // SAFETY: the mapping is only sound while nobody else truncates or rewrites the file. The
    // directory is locked against other processes (`lock_dir`), and within this process only
    // the WAL that owns this disk touches its segment files, never truncating one it has
    // open. The map is read-only, so no store through it can race the `pwrite`s.
    let map = unsafe { MmapOptions::new().map(&file)? };
    Ok(Box::new(MappedFile { file, map }))
}

/// Allocates the first `len` bytes of `file` (which is empty) so they read as zeros and need no
/// allocation when written.
#[cfg(target_os = "linux")]
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let len_off = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment too large"))?;
    loop {
        // SAFETY: the descriptor belongs to `file`, which outlives the call; no pointers are
        // passed.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len_off) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            libc::EOPNOTSUPP | libc::ENOSYS => return write_zeros(file, len),
            err => return Err(io::Error::from_raw_os_error(err)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    write_zeros(file, len)
}

/// The fallback when the file system cannot preallocate: `set_len` alone would leave a sparse
/// file whose holes could fail to allocate on a full disk once written, so the zeros are
/// written for real.
fn write_zeros(file: &File, len: u64) -> io::Result<()> {
    use std::io::Write;
    file.set_len(0)?;
    let chunk = vec![0u8; 1 << 20];
    let mut w = file;
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.set_len(len)
}

impl Disk for FsDisk {
    fn create_dir_all(&mut self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    fn lock_dir(&mut self, dir: &Path) -> io::Result<()> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("LOCK"))?;
        file.try_lock().map_err(|e| match e {
            fs::TryLockError::WouldBlock => io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("wal directory {} is in use by another wal", dir.display()),
            ),
            fs::TryLockError::Error(e) => e,
        })?;
        self.lock = Some(file);
        Ok(())
    }

    fn list_dir(&mut self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for item in fs::read_dir(dir)? {
            if let Ok(name) = item?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }

    fn create(&mut self, path: &Path, len: u64) -> io::Result<Box<dyn SegmentFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        preallocate(&file, len)?;
        map(file)
    }

    fn open(&mut self, path: &Path) -> io::Result<Box<dyn SegmentFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        map(file)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}
