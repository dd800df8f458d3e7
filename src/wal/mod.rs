//! The write-ahead log: where a node makes its Raft log and hard state durable.
//!
//! A directory of segment files `wal-<seq>.log`, each preallocated to `segment_bytes` and
//! mapped read-write. `append` copies records into the map of the current segment; `sync`
//! flushes everything appended since the last sync at once (group commit). The record layout
//! is in `format`; all file-system access goes through the `disk` seam.
//!
//! Invariants:
//! - The records of all segments, read in order, replay to the log: an entry with index `i`
//!   drops every entry `>= i` and takes its place (a Raft log conflict), the last hard state
//!   record wins. Entries stay contiguous; an index gap is corruption.
//! - A record never spans segments. Every segment starts with a hard state record holding the
//!   hard state of the moment it was created, so older segments can be deleted whole.
//! - Each segment header records the log's next index and last term at its creation; recovery
//!   checks that the segments before it replay to exactly that point. A segment written back
//!   before the tail of the previous one cannot then splice onto an older log.
//! - Recovery keeps the longest valid prefix of records, zeroes whatever follows it in its
//!   segment and removes later segments, so later appends never sit next to old bytes.
//! - After a failed write or sync the `Wal` refuses every further append, sync and compaction:
//!   what reached the disk is unknown, and retrying a failed fsync can report success for data
//!   the kernel already dropped. Reopening (recovery) is the way back.
//!
//! What it does not do: it keeps no entries in memory (the Raft core does), serves no reads
//! after recovery, and decides nothing about which entries are committed. It does not install
//! a snapshot (moving the log's start past its end); `compact` only drops whole old segments.

mod disk;
mod format;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::raft::{Entry, HardState};
use disk::{Disk, FsDisk, SegmentFile};
use format::{Decoded, Record, SegmentHeader, HARD_STATE_RECORD_BYTES, HEADER_BYTES};

pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Smaller segments would hold little beyond their header and opening hard state record.
pub const MIN_SEGMENT_BYTES: u64 = 128;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalOptions {
    pub dir: PathBuf,
    /// Size of a segment file; a single record larger than this gets a segment of its own.
    pub segment_bytes: u64,
}

impl WalOptions {
    pub fn new(dir: impl Into<PathBuf>) -> WalOptions {
        WalOptions {
            dir: dir.into(),
            segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// What `Wal::open` found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    /// The last hard state recorded; the default if none was.
    pub hard_state: HardState,
    /// Contiguous, ascending indexes starting at `first_index`.
    pub entries: Vec<Entry>,
    /// Index of `entries[0]`, or `last_index + 1` when empty (1 for a new log).
    pub first_index: u64,
    pub records_replayed: u64,
    /// Where the tail was cut and why, if it was.
    pub cut: Option<String>,
}

/// What the `Wal` remembers of a segment.
#[derive(Clone, Copy, Debug)]
struct SegmentInfo {
    seq: u64,
    /// From the header: the log's next index when the segment was created.
    first_index: u64,
    /// Lowest and highest index of the entry records in the segment (MAX and 0 when none).
    min_index: u64,
    max_index: u64,
}

impl SegmentInfo {
    fn new(seq: u64, first_index: u64) -> SegmentInfo {
        SegmentInfo {
            seq,
            first_index,
            min_index: u64::MAX,
            max_index: 0,
        }
    }

    fn note_entry(&mut self, index: u64) {
        self.min_index = self.min_index.min(index);
        self.max_index = self.max_index.max(index);
    }
}

/// A record about to be written.
#[derive(Clone, Copy)]
enum Put<'a> {
    Entry(&'a Entry),
    HardState(&'a HardState),
}

impl Put<'_> {
    fn len(self) -> usize {
        match self {
            Put::Entry(e) => format::entry_record_len(e),
            Put::HardState(_) => HARD_STATE_RECORD_BYTES,
        }
    }
}

/// An open WAL: appends go to the current segment's map, `sync` makes them durable.
/// Not shared between threads; the node's persistence step owns it.
pub struct Wal {
    disk: Box<dyn Disk>,
    dir: PathBuf,
    segment_bytes: u64,
    /// Segments before the current one, oldest first, with consecutive sequence numbers.
    sealed: VecDeque<SegmentInfo>,
    current: SegmentInfo,
    map: Box<dyn SegmentFile>,
    /// Where the next record goes in `map`.
    write_offset: usize,
    /// `map[..synced_offset]` is durable.
    synced_offset: usize,
    /// Sealed segments whose last appends are not yet durable: (map, from, to).
    unsynced: Vec<(Box<dyn SegmentFile>, usize, usize)>,
    hard_state: HardState,
    /// The lowest index an entry may be written at: one past the log's base (the index before
    /// the first segment's first entry, gone to compaction or never written).
    first_index: u64,
    last_index: u64,
    last_term: u64,
    /// Why the `Wal` refuses writes, once a write or sync failed.
    failed: Option<String>,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.dir)
            .field("segment_seq", &self.current.seq)
            .field("first_index", &self.first_index)
            .field("last_index", &self.last_index)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

impl Wal {
    /// Opens the WAL in `opts.dir` (created if missing), recovering what it holds.
    pub fn open(opts: WalOptions) -> io::Result<(Wal, Recovered)> {
        Wal::open_with(opts, Box::<FsDisk>::default())
    }

    fn open_with(opts: WalOptions, mut disk: Box<dyn Disk>) -> io::Result<(Wal, Recovered)> {
        if opts.segment_bytes < MIN_SEGMENT_BYTES || usize::try_from(opts.segment_bytes).is_err() {
            return Err(invalid(format!(
                "segment_bytes {} is out of range (at least {MIN_SEGMENT_BYTES})",
                opts.segment_bytes
            )));
        }
        let dir = opts.dir;
        disk.create_dir_all(&dir)?;
        disk.lock_dir(&dir)?;
        let mut dir_changed = false;
        let mut seqs = Vec::new();
        for name in disk.list_dir(&dir)? {
            if format::is_tmp_name(&name) {
                disk.remove(&dir.join(&name))?;
                dir_changed = true;
            } else if let Some(seq) = format::parse_segment_name(&name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();

        let mut replay = Replay::default();
        let mut kept: Vec<SegmentInfo> = Vec::new();
        // The map of the last kept segment and where its data ends.
        let mut tail: Option<(Box<dyn SegmentFile>, usize)> = None;
        // Why recovery stopped early, and the position in `seqs` of the first segment removed.
        let mut stop: Option<(String, usize)> = None;
        let mut zeroed = 0usize;
        for (i, &seq) in seqs.iter().enumerate() {
            let name = format::segment_name(seq);
            let mut map = disk.open(&dir.join(&name))?;
            let header = match SegmentHeader::decode(map.bytes()) {
                Ok(h) => h,
                Err(why) => {
                    stop = Some((format!("segment {name}: {why}"), i));
                    break;
                }
            };
            if let Err(why) = replay.enter_segment(&header, seq, kept.last()) {
                stop = Some((format!("segment {name}: {why}"), i));
                break;
            }
            let mut info = SegmentInfo::new(seq, header.first_index);
            let end = scan_segment(map.bytes(), seq, &mut replay, &mut info);
            kept.push(info);
            match end {
                Ok(offset) => tail = Some((map, offset)),
                Err((offset, why)) => {
                    zeroed = zero_from(map.as_mut(), offset)?;
                    stop = Some((format!("segment {name} offset {offset}: {why}"), i + 1));
                    tail = Some((map, offset));
                    break;
                }
            }
        }

        let mut cut = None;
        if let Some((why, first_removed)) = stop {
            let removed = &seqs[first_removed..];
            // Newest first: an interrupted removal leaves a sequence gap, which the next
            // recovery treats as the cut point again.
            for &seq in removed.iter().rev() {
                disk.remove(&dir.join(format::segment_name(seq)))?;
                dir_changed = true;
            }
            cut = Some(format!(
                "{why}; zeroed {zeroed} bytes after it, removed {} later segment(s)",
                removed.len()
            ));
        }
        if dir_changed {
            disk.sync_dir(&dir)?;
        }

        let segment_bytes = opts.segment_bytes;
        let (current, map, offset) = match (kept.pop(), tail) {
            (Some(info), Some((map, offset))) => (info, map, offset),
            _ => {
                // Nothing usable: a new log.
                let header = SegmentHeader {
                    seq: 1,
                    first_index: 1,
                    prev_term: 0,
                };
                let map = create_segment(disk.as_mut(), &dir, segment_bytes, &header, 0)?;
                (SegmentInfo::new(1, 1), map, HEADER_BYTES)
            }
        };
        let mut wal = Wal {
            disk,
            dir,
            segment_bytes,
            sealed: kept.into(),
            current,
            map,
            write_offset: offset,
            synced_offset: offset,
            unsynced: Vec::new(),
            hard_state: replay.hard_state,
            first_index: replay.base_index + 1,
            last_index: replay.last_index(),
            last_term: replay.last_term(),
            failed: None,
        };
        if wal.write_offset == HEADER_BYTES {
            // Every segment opens with a hard state record: a new log's first one too, and one
            // whose creation was interrupted before its first record was synced.
            let hs = wal.hard_state;
            wal.put(Put::HardState(&hs))?;
        }
        let recovered = Recovered {
            hard_state: replay.hard_state,
            first_index: replay.base_index + 1,
            entries: replay.entries,
            records_replayed: replay.records,
            cut,
        };
        Ok((wal, recovered))
    }

    /// Writes `hs` (if given) and then `entries` to the log, without making them durable.
    ///
    /// Each entry's index must be at most one past the previous one (or the log's last index
    /// for the first) and not below `first_index()`; an index at or below the last index
    /// replaces the log from there on. A batch that breaks this is refused whole, with
    /// `InvalidInput`, and nothing is written.
    pub fn append(&mut self, hs: Option<&HardState>, entries: &[Entry]) -> io::Result<()> {
        self.check_usable()?;
        let mut last = self.last_index;
        for e in entries {
            if e.index < self.first_index || e.index > last + 1 {
                return Err(invalid(format!(
                    "entry index {} cannot follow last index {last} (first index {})",
                    e.index, self.first_index
                )));
            }
            if e.data.len() > format::MAX_PAYLOAD_BYTES {
                return Err(invalid(format!(
                    "entry {} payload of {} bytes is too large",
                    e.index,
                    e.data.len()
                )));
            }
            last = e.index;
        }
        let result = self.append_checked(hs, entries);
        if let Err(e) = &result {
            self.failed = Some(format!("append failed: {e}"));
        }
        result
    }

    fn append_checked(&mut self, hs: Option<&HardState>, entries: &[Entry]) -> io::Result<()> {
        if let Some(hs) = hs {
            self.put(Put::HardState(hs))?;
            self.hard_state = *hs;
        }
        for e in entries {
            self.put(Put::Entry(e))?;
            self.current.note_entry(e.index);
            self.last_index = e.index;
            self.last_term = e.term;
        }
        Ok(())
    }

    /// Makes everything appended so far durable: one msync of the current segment's new
    /// bytes (plus one per segment rolled away from since the last sync).
    ///
    /// A failure leaves the `Wal` refusing all further writes.
    pub fn sync(&mut self) -> io::Result<()> {
        self.check_usable()?;
        let result = self.flush_unsynced();
        if let Err(e) = &result {
            self.failed = Some(format!("sync failed: {e}"));
        }
        result
    }

    fn flush_unsynced(&mut self) -> io::Result<()> {
        for (mut map, from, to) in std::mem::take(&mut self.unsynced) {
            map.flush_range(from, to - from)?;
        }
        if self.write_offset > self.synced_offset {
            self.map
                .flush_range(self.synced_offset, self.write_offset - self.synced_offset)?;
            self.synced_offset = self.write_offset;
        }
        Ok(())
    }

    /// The index of the last entry in the log (the base index when it holds none).
    pub fn last_index(&self) -> u64 {
        self.last_index
    }

    /// The lowest index an entry may be appended at.
    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    /// The hard state last appended (or recovered).
    pub fn hard_state(&self) -> HardState {
        self.hard_state
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deletes the oldest segments all of whose entries have indexes `<= upto_index`, never the
    /// current one. Segments go oldest first, each removal made durable before the next, so a
    /// crash leaves a contiguous run of segments.
    ///
    /// A segment is kept, even if covered, when a later segment rewrote (log conflict) an index
    /// below where the first remaining segment would start: the log could not be rebuilt from
    /// what remains.
    pub fn compact(&mut self, upto_index: u64) -> io::Result<()> {
        self.check_usable()?;
        let covered = self
            .sealed
            .iter()
            .take_while(|s| s.max_index <= upto_index)
            .count();
        // min_after[k]: the lowest entry index in sealed[k..] and the current segment.
        let mut min_after = vec![self.current.min_index; self.sealed.len() + 1];
        for k in (0..self.sealed.len()).rev() {
            min_after[k] = min_after[k + 1].min(self.sealed[k].min_index);
        }
        let first_of = |k: usize| {
            self.sealed
                .get(k)
                .map_or(self.current.first_index, |s| s.first_index)
        };
        let Some(doomed) = (0..=covered).rev().find(|&k| first_of(k) <= min_after[k]) else {
            return Ok(());
        };
        let new_first_index = first_of(doomed);
        for _ in 0..doomed {
            let Some(seg) = self.sealed.front().copied() else {
                break;
            };
            let path = self.dir.join(format::segment_name(seg.seq));
            let removed = self
                .disk
                .remove(&path)
                .and_then(|()| self.disk.sync_dir(&self.dir));
            if let Err(e) = removed {
                self.failed = Some(format!("compaction failed: {e}"));
                return Err(e);
            }
            self.sealed.pop_front();
        }
        if doomed > 0 {
            self.first_index = new_first_index;
        }
        Ok(())
    }

    fn check_usable(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(why) => Err(io::Error::other(format!(
                "wal refuses writes after an earlier failure ({why}); reopen it to recover"
            ))),
        }
    }

    /// Copies one record into the current segment, rolling to a new one if it does not fit.
    fn put(&mut self, rec: Put<'_>) -> io::Result<()> {
        let len = rec.len();
        if self.map.bytes().len() - self.write_offset < len {
            self.roll(len)?;
        }
        let seq = self.current.seq;
        let buf = &mut self.map.bytes_mut()[self.write_offset..];
        let written = match rec {
            Put::Entry(e) => format::encode_entry(buf, seq, e),
            Put::HardState(hs) => format::encode_hard_state(buf, seq, hs),
        };
        self.write_offset += written;
        Ok(())
    }

    /// Seals the current segment and starts the next one, big enough for a `record_len` record
    /// after its opening hard state record.
    fn roll(&mut self, record_len: usize) -> io::Result<()> {
        let header = SegmentHeader {
            seq: self.current.seq + 1,
            first_index: self.last_index + 1,
            prev_term: self.last_term,
        };
        let map = create_segment(
            self.disk.as_mut(),
            &self.dir,
            self.segment_bytes,
            &header,
            record_len,
        )?;
        let old_map = std::mem::replace(&mut self.map, map);
        if self.write_offset > self.synced_offset {
            self.unsynced
                .push((old_map, self.synced_offset, self.write_offset));
        }
        let old = std::mem::replace(
            &mut self.current,
            SegmentInfo::new(header.seq, header.first_index),
        );
        self.sealed.push_back(old);
        self.write_offset = HEADER_BYTES;
        self.synced_offset = HEADER_BYTES;
        let hs = self.hard_state;
        self.put(Put::HardState(&hs))
    }
}

/// Creates segment `header.seq` so that it appears whole or not at all: a temp file is
/// preallocated, its header written and synced, then it is renamed into place and the
/// directory synced. It is sized to `segment_bytes`, or more to fit its opening hard state
/// record and a `record_len` record.
fn create_segment(
    disk: &mut dyn Disk,
    dir: &Path,
    segment_bytes: u64,
    header: &SegmentHeader,
    record_len: usize,
) -> io::Result<Box<dyn SegmentFile>> {
    let needed = (HEADER_BYTES + HARD_STATE_RECORD_BYTES) as u64 + record_len as u64;
    let name = format::segment_name(header.seq);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}{}", format::TMP_SUFFIX));
    let mut map = disk.create(&tmp, segment_bytes.max(needed))?;
    map.bytes_mut()[..HEADER_BYTES].copy_from_slice(&header.encode());
    map.flush_range(0, HEADER_BYTES)?;
    disk.rename(&tmp, &path)?;
    disk.sync_dir(dir)?;
    Ok(map)
}

/// The log as rebuilt so far by recovery.
#[derive(Default)]
struct Replay {
    hard_state: HardState,
    /// Entries `base_index + 1 ..`.
    entries: Vec<Entry>,
    base_index: u64,
    base_term: u64,
    records: u64,
}

impl Replay {
    fn last_index(&self) -> u64 {
        self.base_index + self.entries.len() as u64
    }

    fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.base_term, |e| e.term)
    }

    /// Checks that segment `seq` continues the log rebuilt so far (the first segment sets the
    /// base instead).
    fn enter_segment(
        &mut self,
        header: &SegmentHeader,
        seq: u64,
        prev: Option<&SegmentInfo>,
    ) -> Result<(), String> {
        if header.seq != seq {
            return Err(format!("header says sequence number {}", header.seq));
        }
        let Some(prev) = prev else {
            self.base_index = header.first_index - 1;
            self.base_term = header.prev_term;
            return Ok(());
        };
        if seq != prev.seq + 1 {
            return Err(format!(
                "follows segment {} (a segment is missing)",
                prev.seq
            ));
        }
        if header.first_index != self.last_index() + 1 || header.prev_term != self.last_term() {
            return Err(format!(
                "starts after index {} term {}, but the segments before it end at index {} term {}",
                header.first_index - 1,
                header.prev_term,
                self.last_index(),
                self.last_term()
            ));
        }
        Ok(())
    }

    fn apply(&mut self, record: Record<'_>, info: &mut SegmentInfo) -> Result<(), String> {
        match record {
            Record::HardState(hs) => self.hard_state = hs,
            Record::Entry {
                kind,
                term,
                index,
                data,
            } => {
                let last = self.last_index();
                if index <= self.base_index {
                    return Err(format!(
                        "entry index {index} is at or below the log's base index {}",
                        self.base_index
                    ));
                }
                if index > last + 1 {
                    return Err(format!(
                        "entry index {index} leaves a gap after last index {last}"
                    ));
                }
                self.entries
                    .truncate((index - self.base_index - 1) as usize);
                self.entries.push(Entry {
                    term,
                    index,
                    kind,
                    data: Bytes::copy_from_slice(data),
                });
                info.note_entry(index);
            }
        }
        self.records += 1;
        Ok(())
    }
}

/// Replays the records of one segment. Returns where its data ends when every record up to
/// the first unwritten one was valid and nothing follows; otherwise where the first bad
/// record starts and why.
fn scan_segment(
    bytes: &[u8],
    seq: u64,
    replay: &mut Replay,
    info: &mut SegmentInfo,
) -> Result<usize, (usize, String)> {
    let mut offset = HEADER_BYTES;
    loop {
        match format::decode(bytes, offset, seq) {
            Decoded::End => {
                return match first_nonzero(bytes, offset) {
                    None => Ok(offset),
                    Some(at) => Err((
                        offset,
                        format!("nonzero bytes at offset {at} after the end of data"),
                    )),
                };
            }
            Decoded::Bad(why) => return Err((offset, why)),
            Decoded::Record { record, len } => {
                replay.apply(record, info).map_err(|why| (offset, why))?;
                offset += len;
            }
        }
    }
}

const SCAN_CHUNK: usize = 4096;

/// Position of the first nonzero byte of `bytes[from..]`. Whole chunks are OR-folded first:
/// this runs over the unused part of every segment at startup.
fn first_nonzero(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = &bytes[from..];
    let chunk = rest
        .chunks(SCAN_CHUNK)
        .position(|c| c.iter().fold(0u8, |a, &b| a | b) != 0)?;
    let start = chunk * SCAN_CHUNK;
    let end = rest.len().min(start + SCAN_CHUNK);
    rest[start..end]
        .iter()
        .position(|&b| b != 0)
        .map(|p| from + start + p)
}

/// Position of the last nonzero byte of `bytes[from..]`.
fn last_nonzero(bytes: &[u8], from: usize) -> Option<usize> {
    let rest = &bytes[from..];
    let chunk = rest
        .rchunks(SCAN_CHUNK)
        .position(|c| c.iter().fold(0u8, |a, &b| a | b) != 0)?;
    let end = rest.len() - chunk * SCAN_CHUNK;
    let start = end.saturating_sub(SCAN_CHUNK);
    rest[start..end]
        .iter()
        .rposition(|&b| b != 0)
        .map(|p| from + start + p)
}

/// Zeroes `map[from..]` (only the span that holds nonzero bytes) and makes that durable.
/// Returns how many bytes were rewritten.
fn zero_from(map: &mut dyn SegmentFile, from: usize) -> io::Result<usize> {
    let (Some(first), Some(last)) = (
        first_nonzero(map.bytes(), from),
        last_nonzero(map.bytes(), from),
    ) else {
        return Ok(0);
    };
    map.bytes_mut()[first..=last].fill(0);
    map.flush_range(first, last + 1 - first)?;
    Ok(last + 1 - first)
}
