//! The write-ahead log: where a node makes its Raft log and hard state durable.
//!
//! A directory of segment files `wal-<seq>.log`, each preallocated to `segment_bytes`, read
//! through a map and written with positioned writes (see `disk`). `append` and `reset` encode
//! their records and write them to the current segment in one write; `sync` flushes
//! everything written since the last sync at once (group commit). The record
//! layout is in `format`; all file-system access goes through the `Disk` seam (`FsDisk` for
//! real files, `MemDisk` for tests and simulations).
//!
//! Invariants:
//! - The records of all segments, read in order, replay to the log: an entry with index `i`
//!   drops every entry `>= i` and takes its place (a Raft log conflict), the last hard state
//!   record wins, and a reset record empties the log, which continues after the entry it names
//!   (a snapshot installed). Entries stay contiguous; an index gap is corruption.
//! - A record never spans segments. Every segment starts with a hard state record holding the
//!   hard state of the moment it was created, so older segments can be deleted whole.
//! - Each segment header records the log's next index and last term at its creation; recovery
//!   checks that the segments before it replay to exactly that point.
//! - A segment is created whole (header, opening hard state record, sync marker, all synced
//!   before it is renamed into place), and only after the segment before it was flushed. So
//!   only the last segment can have a torn tail, and damage anywhere else is to durable bytes.
//! - Every successful `sync` ends by writing (not flushing) a sync marker after what it made
//!   durable; every record is placed so that a marker still fits after it in its segment. A
//!   marker found on disk proves that every byte before it, in its segment and the earlier
//!   ones, was durable: it was written only once they were.
//! - Once compaction has run, the `START` file names the first segment; older ones are
//!   leftovers of an interrupted compaction, removed at recovery.
//! - Recovery keeps the longest valid prefix of records, zeroes whatever follows it in its
//!   segment and removes later segments (newest first, each removal made durable), so later
//!   appends never sit next to old bytes. Before returning it flushes what it keeps that no
//!   marker proves durable, so everything it returns is durable.
//! - After a failed write or sync the `Wal` refuses every further append, reset, sync and
//!   compaction: what reached the disk is unknown, and retrying a failed fsync can report
//!   success for data the kernel already dropped. Reopening (recovery) is the way back.
//!
//! Damage and what was synced. Recovery reports the first damage it finds (`Damage`) and
//! whether records that had been durable, and so may have been acknowledged, were lost with it
//! (`lost_synced`). Valid records after a bad one do not prove that: dirty pages of a file
//! reach the disk in no particular order, so a crash can leave a later unsynced page written
//! and an earlier one not. The proof is a sync marker after the damage (in the same segment
//! or a later one). A missing segment (a gap in the sequence numbers, or the one `START`
//! names) is always a loss: segment files are created and removed in an order that never
//! leaves one, so something destroyed a durable file. A verdict of lost synced records is
//! itself made durable (a `LOST_SYNCED` file in the directory) before anything is cut, and
//! every later recovery reports it until `clear_lost_synced`: the evidence is gone after the
//! cut, the consequence is not.
//! Damage that erases durable records together with every marker after them (the last synced
//! batch and its marker, at the very end of the log) looks exactly like a tail that never
//! reached the disk and is reported as such; so does a removed last segment, and a removed
//! first segment of a log never compacted.
//!
//! What it does not do: it keeps no entries in memory (the Raft core does), serves no reads
//! after recovery, and decides nothing about which entries are committed or what a node with
//! lost synced records may do. It does not store snapshots: `reset` only records that the log
//! now continues after one, which the caller made durable first. `compact` only drops whole
//! old segments.

mod disk;
mod format;
mod memdisk;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::raft::{Entry, HardState};
pub use disk::{Disk, FsDisk, SegmentFile};
use format::{
    Decoded, Record, SegmentHeader, HARD_STATE_RECORD_BYTES, HEADER_BYTES, RESET_RECORD_BYTES,
    SYNC_MARKER_BYTES,
};
pub use memdisk::{MemDisk, MEM_PAGE_BYTES_MIN};

pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Smaller segments would hold little beyond their header, opening hard state record and
/// sync markers.
pub const MIN_SEGMENT_BYTES: u64 = 256;

/// The file that records a verdict of lost synced records until `clear_lost_synced`.
const LOST_SYNCED_FILE: &str = "LOST_SYNCED";
/// The file naming the log's first segment, written by compaction before it removes any.
const START_FILE: &str = "START";
/// What a small file is written as before it is renamed into place.
const SMALL_TMP_SUFFIX: &str = ".tmp";

/// The encoded-records buffer keeps at most this much capacity between appends.
const TAIL_KEEP_BYTES: usize = 4 << 20;

/// How far ahead of the log `Wal::zero_ahead` writes zeros.
const ZERO_AHEAD_BYTES: usize = 256 << 10;
static ZEROS: [u8; ZERO_AHEAD_BYTES] = [0; ZERO_AHEAD_BYTES];

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
    /// The term of entry `first_index - 1` (compacted, or the last of the snapshot the log
    /// continues after a reset); 0 for a log that starts at 1.
    pub prev_term: u64,
    /// Log records replayed: entries, hard states and resets (sync markers are not counted).
    pub records_replayed: u64,
    /// Where the tail was cut, why, and what was removed, if it was: a line for the log.
    pub cut: Option<String>,
    /// What this recovery found wrong, if anything.
    pub damage: Option<Damage>,
    /// Set while records that had been synced are known lost, found by this recovery or an
    /// earlier one, until `Wal::clear_lost_synced`: one line per finding. A node in this state
    /// may have acknowledged records it no longer has.
    pub lost_synced: Option<String>,
}

/// The first thing recovery found wrong. Recovery kept everything before it and cut the rest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    pub kind: DamageKind,
    /// The segment the damage is in (for `MissingSegment`, the first missing one).
    pub segment: u64,
    /// Offset in that segment of the first byte not kept; 0 when the whole segment is gone.
    pub offset: u64,
    /// Whether records that had been synced were lost (see the module header for how this is
    /// known). False means the damage is a tail that never reached the disk whole.
    pub lost_synced: bool,
    /// What exactly was wrong.
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DamageKind {
    /// A record whose length or CRC is wrong: a torn write, a flipped bit, garbage.
    BadRecord,
    /// A record with a valid CRC that breaks the log's rules (an index gap, an entry at or
    /// below the log's base). No crash produces one.
    InvalidRecord,
    /// Nonzero bytes after the end of a segment's data: a torn write whose start is missing.
    TrailingBytes,
    /// A segment header that is unreadable or names another sequence number.
    BadHeader,
    /// A segment whose header does not continue the log that the segments before it replay
    /// to: the end of the segment before it was lost.
    BrokenChain,
    /// A sequence number missing between two segments.
    MissingSegment,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "segment {} offset {}: {} ({}synced records lost)",
            format::segment_name(self.segment),
            self.offset,
            self.detail,
            if self.lost_synced { "" } else { "no " }
        )
    }
}

/// What the `Wal` remembers of a segment, for compaction.
#[derive(Clone, Copy, Debug)]
struct SegmentInfo {
    seq: u64,
    /// From the header: the log's next index when the segment was created.
    first_index: u64,
    /// Lowest index of the entry records before the segment's first reset record (MAX when
    /// none): these replay against the log the earlier segments built.
    min_index_before_reset: u64,
    /// Highest index of the entry records after the segment's last reset record (0 when
    /// none): the entries of the segment that are still part of the log if no later reset
    /// erased them.
    max_index_after_reset: u64,
    has_reset: bool,
}

impl SegmentInfo {
    fn new(seq: u64, first_index: u64) -> SegmentInfo {
        SegmentInfo {
            seq,
            first_index,
            min_index_before_reset: u64::MAX,
            max_index_after_reset: 0,
            has_reset: false,
        }
    }

    fn note_entry(&mut self, index: u64) {
        if !self.has_reset {
            self.min_index_before_reset = self.min_index_before_reset.min(index);
        }
        self.max_index_after_reset = self.max_index_after_reset.max(index);
    }

    fn note_reset(&mut self) {
        self.has_reset = true;
        self.max_index_after_reset = 0;
    }
}

/// A record about to be written.
#[derive(Clone, Copy)]
enum Put<'a> {
    Entry(&'a Entry),
    HardState(&'a HardState),
    Reset {
        index: u64,
        term: u64,
        hs: &'a HardState,
    },
}

impl Put<'_> {
    fn len(self) -> usize {
        match self {
            Put::Entry(e) => format::entry_record_len(e),
            Put::HardState(_) => HARD_STATE_RECORD_BYTES,
            Put::Reset { .. } => RESET_RECORD_BYTES,
        }
    }
}

/// An open WAL: appends go to the current segment, `sync` makes them durable.
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
    /// Records encoded but not yet written to `map`: they belong at `write_offset -
    /// tail.len()`. Written out before each append or reset returns, so it is empty between
    /// calls.
    tail: Vec<u8>,
    /// `map[..zeroed_to]` was written at least once, by records or by zeros (see `zero_ahead`).
    zeroed_to: usize,
    /// `map[..synced_offset]` is durable.
    synced_offset: usize,
    /// `write_offset` right after the sync marker the last sync wrote: while they are equal
    /// there is nothing to sync.
    idle_offset: usize,
    hard_state: HardState,
    /// The lowest index an entry may be written at: one past the log's base (the index before
    /// the first segment's first entry, gone to compaction or never written, or the index the
    /// latest reset named).
    first_index: u64,
    last_index: u64,
    last_term: u64,
    /// A reset was written since the last sync. Compaction must not rely on it yet: if it is
    /// lost, the segments before it are the log.
    reset_unsynced: bool,
    /// The `LOST_SYNCED` file exists.
    lost_synced_noted: bool,
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

/// A segment recovery keeps.
struct Kept {
    info: SegmentInfo,
    /// Its map, while some of it is not yet proven durable.
    map: Option<Box<dyn SegmentFile>>,
    /// Where its valid records end.
    end: usize,
    /// Where its bytes not proven durable start: its last sync marker (what precedes one is
    /// durable), or its first record.
    unproven_from: usize,
}

/// The damage recovery found, before it is judged.
struct Found {
    kind: DamageKind,
    segment: u64,
    offset: usize,
    detail: String,
    /// Position in the segment list of the first segment to remove.
    first_removed: usize,
    /// The damage is inside the last kept segment, at `offset`; else whole segments are bad.
    in_kept: bool,
}

impl Wal {
    /// Opens the WAL in `opts.dir` (created if missing), recovering what it holds.
    pub fn open(opts: WalOptions) -> io::Result<(Wal, Recovered)> {
        Wal::open_with(opts, Box::<FsDisk>::default())
    }

    /// Opens the WAL in `opts.dir` on `disk`, recovering what it holds. Everything the
    /// returned `Recovered` holds is durable.
    pub fn open_with(opts: WalOptions, mut disk: Box<dyn Disk>) -> io::Result<(Wal, Recovered)> {
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
        let mut noted = false;
        let mut has_start = false;
        for name in disk.list_dir(&dir)? {
            let small_tmp = [LOST_SYNCED_FILE, START_FILE]
                .iter()
                .any(|f| name.strip_suffix(SMALL_TMP_SUFFIX) == Some(f));
            if format::is_tmp_name(&name) || small_tmp {
                disk.remove(&dir.join(&name))?;
                dir_changed = true;
            } else if name == LOST_SYNCED_FILE {
                noted = true;
            } else if name == START_FILE {
                has_start = true;
            } else if let Some(seq) = format::parse_segment_name(&name) {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        // A damaged START file is ignored: the oldest segment is then the first, as before
        // any compaction.
        let start_seq = if has_start {
            let map = disk.open(&dir.join(START_FILE))?;
            format::decode_start(map.bytes())
        } else {
            None
        };
        if let Some(start) = start_seq {
            // Leftovers of a compaction that was interrupted after it wrote START.
            for &seq in seqs.iter().filter(|&&s| s < start) {
                disk.remove(&dir.join(format::segment_name(seq)))?;
                dir_changed = true;
            }
            seqs.retain(|&s| s >= start);
        }
        if dir_changed {
            disk.sync_dir(&dir)?;
        }
        let mut lost_synced = if noted {
            let map = disk.open(&dir.join(LOST_SYNCED_FILE))?;
            let text = String::from_utf8_lossy(map.bytes());
            Some(text.trim_end_matches(['\0', '\n']).to_string())
        } else {
            None
        };

        let mut replay = Replay::default();
        let mut kept: Vec<Kept> = Vec::new();
        let mut found: Option<Found> = None;
        if let (Some(start), Some(&first)) = (start_seq, seqs.first()) {
            if first != start {
                found = Some(Found {
                    kind: DamageKind::MissingSegment,
                    segment: start,
                    offset: 0,
                    detail: format!(
                        "missing: START names it as the first segment, but the first is {}",
                        format::segment_name(first)
                    ),
                    first_removed: 0,
                    in_kept: false,
                });
            }
        }
        for (i, &seq) in seqs.iter().enumerate() {
            if found.is_some() {
                break;
            }
            let name = format::segment_name(seq);
            if let Some(prev) = kept.last().map(|k| k.info.seq) {
                if seq != prev + 1 {
                    found = Some(Found {
                        kind: DamageKind::MissingSegment,
                        segment: prev + 1,
                        offset: 0,
                        detail: format!(
                            "missing: segment {name} follows segment {}",
                            format::segment_name(prev)
                        ),
                        first_removed: i,
                        in_kept: false,
                    });
                    break;
                }
            }
            let map = disk.open(&dir.join(&name))?;
            let header = match SegmentHeader::decode(map.bytes()) {
                Ok(h) if h.seq == seq => Ok(h),
                Ok(h) => Err(format!("header says sequence number {}", h.seq)),
                Err(why) => Err(why),
            };
            let header = match header {
                Ok(h) => h,
                Err(why) => {
                    found = Some(Found {
                        kind: DamageKind::BadHeader,
                        segment: seq,
                        offset: 0,
                        detail: why,
                        first_removed: i,
                        in_kept: false,
                    });
                    break;
                }
            };
            if let Err(why) = replay.enter_segment(&header, !kept.is_empty()) {
                found = Some(Found {
                    kind: DamageKind::BrokenChain,
                    segment: seq,
                    offset: 0,
                    detail: why,
                    first_removed: i,
                    in_kept: false,
                });
                break;
            }
            let mut info = SegmentInfo::new(seq, header.first_index);
            let scanned = scan_segment(map.bytes(), seq, &mut replay, &mut info);
            if scanned.last_marker.is_some() {
                // The marker proves every earlier segment durable.
                for k in &mut kept {
                    k.map = None;
                }
            }
            kept.push(Kept {
                info,
                map: Some(map),
                end: scanned.end,
                unproven_from: scanned.last_marker.unwrap_or(HEADER_BYTES),
            });
            if let Some((kind, detail)) = scanned.bad {
                found = Some(Found {
                    kind,
                    segment: seq,
                    offset: scanned.end,
                    detail,
                    first_removed: i + 1,
                    in_kept: true,
                });
                break;
            }
        }

        let mut damage = None;
        let mut cut = None;
        if let Some(found) = found {
            let lost = found.kind == DamageKind::MissingSegment
                || synced_after(disk.as_mut(), &dir, &seqs, &found, &kept)?;
            let d = Damage {
                kind: found.kind,
                segment: found.segment,
                offset: found.offset as u64,
                lost_synced: lost,
                detail: found.detail,
            };
            if lost {
                // Durable before the evidence is cut away.
                let mut text = lost_synced.take().map_or(String::new(), |t| t + "\n");
                text.push_str(&d.to_string());
                write_small_file(
                    disk.as_mut(),
                    &dir,
                    LOST_SYNCED_FILE,
                    format!("{text}\n").as_bytes(),
                )?;
                lost_synced = Some(text);
                noted = true;
            }
            let mut zeroed = 0;
            if found.in_kept {
                // The damage is inside the last kept segment: zero from it on.
                if let Some(map) = kept.last_mut().and_then(|k| k.map.as_mut()) {
                    zeroed = zero_from(map.as_mut(), found.offset)?;
                }
            }
            let removed = &seqs[found.first_removed..];
            // Newest first, each made durable: a crash leaves a contiguous run of segments.
            for &seq in removed.iter().rev() {
                disk.remove(&dir.join(format::segment_name(seq)))?;
                disk.sync_dir(&dir)?;
            }
            cut = Some(format!(
                "{d}; zeroed {zeroed} bytes after it, removed {} later segment(s)",
                removed.len()
            ));
            damage = Some(d);
        }

        let segment_bytes = opts.segment_bytes;
        let tail = kept.pop();
        // What was recovered may never have been synced (a process killed before its sync
        // leaves its writes in the page cache): make it durable before anyone relies on it.
        let mut sealed_flushed = false;
        for k in kept.iter_mut() {
            if let Some(mut map) = k.map.take() {
                if k.end > k.unproven_from {
                    rewrite(map.as_mut(), k.unproven_from, k.end)?;
                    map.flush_range(k.unproven_from, k.end - k.unproven_from)?;
                    sealed_flushed = true;
                }
            }
        }
        let (current, mut map, offset, unproven_from) = match tail {
            Some(Kept {
                info,
                map: Some(map),
                end,
                unproven_from,
            }) => (info, map, end, unproven_from),
            _ => {
                // Nothing usable: a new log, where START (if any) expects the first segment.
                let seq = start_seq.unwrap_or(1);
                let header = SegmentHeader {
                    seq,
                    first_index: 1,
                    prev_term: 0,
                };
                let hs = HardState::default();
                let (map, end) =
                    create_segment(disk.as_mut(), &dir, segment_bytes, &header, &hs, 0)?;
                (SegmentInfo::new(seq, 1), map, end, end - SYNC_MARKER_BYTES)
            }
        };
        // Nothing to sync when the log ends with a marker that nothing unproven precedes.
        let idle_offset = if !sealed_flushed && offset == unproven_from + SYNC_MARKER_BYTES {
            offset
        } else {
            rewrite(map.as_mut(), unproven_from, offset)?;
            0
        };
        let mut wal = Wal {
            disk,
            dir,
            segment_bytes,
            sealed: kept.into_iter().map(|k| k.info).collect(),
            current,
            map,
            write_offset: offset,
            tail: Vec::new(),
            zeroed_to: offset,
            synced_offset: unproven_from.min(offset),
            idle_offset,
            hard_state: replay.hard_state,
            first_index: replay.base_index + 1,
            last_index: replay.last_index(),
            last_term: replay.last_term(),
            reset_unsynced: false,
            lost_synced_noted: noted,
            failed: None,
        };
        if wal.write_offset == HEADER_BYTES {
            // Every segment opens with a hard state record; this one's was damaged.
            let hs = wal.hard_state;
            wal.put(Put::HardState(&hs))?;
        }
        wal.flush_and_mark()?;
        let recovered = Recovered {
            hard_state: replay.hard_state,
            first_index: replay.base_index + 1,
            prev_term: replay.base_term,
            entries: replay.entries,
            records_replayed: replay.records,
            cut,
            damage,
            lost_synced,
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
        self.write_out()
    }

    /// Empties the log: it now continues after entry `index` of `term` (a snapshot at `index`
    /// was installed, and made durable by the caller first), and `hs` is the hard state.
    /// The next entry appended must have index `index + 1`. Durable with the next `sync`;
    /// until then a crash may recover the log as it was before.
    ///
    /// `index` may be anywhere, before the log's start or past its end; `u64::MAX` is refused
    /// with `InvalidInput`.
    pub fn reset(&mut self, index: u64, term: u64, hs: &HardState) -> io::Result<()> {
        self.check_usable()?;
        if index == u64::MAX {
            return Err(invalid(format!("cannot reset the log to index {index}")));
        }
        if let Err(e) = self
            .put(Put::Reset { index, term, hs })
            .and_then(|()| self.write_out())
        {
            self.failed = Some(format!("reset failed: {e}"));
            return Err(e);
        }
        self.current.note_reset();
        self.hard_state = *hs;
        self.first_index = index + 1;
        self.last_index = index;
        self.last_term = term;
        self.reset_unsynced = true;
        Ok(())
    }

    /// Makes everything appended (and reset) so far durable: one msync of the current
    /// segment's new bytes (a roll already flushed the segment it sealed), then a sync marker
    /// is written after them, to be flushed by the next sync. Does nothing when nothing was
    /// written since the last sync.
    ///
    /// A failure leaves the `Wal` refusing all further writes.
    pub fn sync(&mut self) -> io::Result<()> {
        self.check_usable()?;
        self.flush_and_mark()
    }

    /// Makes durable the sync marker the last `sync` wrote after what it flushed (and anything
    /// written since). Until then, damage to what that sync covered looks exactly like a
    /// write that never reached the disk (nothing durable follows it); once it is, recovery
    /// reports it as lost synced records. So a caller that must never silently forget what it
    /// acknowledged reports a sync's records durable only after `flush_marker` (or after the next
    /// `sync`, which flushes the marker too).
    pub fn flush_marker(&mut self) -> io::Result<()> {
        self.check_usable()?;
        if let Err(e) = self.flush_current() {
            self.failed = Some(format!("sync failed: {e}"));
            return Err(e);
        }
        Ok(())
    }

    /// Flushes what is not yet durable, then writes a sync marker after it.
    fn flush_and_mark(&mut self) -> io::Result<()> {
        if self.write_offset == self.idle_offset {
            return Ok(());
        }
        if let Err(e) = self.flush_current() {
            self.failed = Some(format!("sync failed: {e}"));
            return Err(e);
        }
        self.reset_unsynced = false;
        // Every record left room for a marker after it; should that ever not hold, the proof
        // is only missing, nothing is wrong.
        if self.map.bytes().len() - self.write_offset >= SYNC_MARKER_BYTES {
            let at = self.write_offset;
            let mut marker = [0u8; SYNC_MARKER_BYTES];
            let n = format::encode_sync_marker(&mut marker, self.current.seq, at);
            if let Err(e) = self.map.write_at(at, &marker[..n]) {
                self.failed = Some(format!("writing a sync marker failed: {e}"));
                return Err(e);
            }
            self.write_offset += n;
        }
        self.idle_offset = self.write_offset;
        Ok(())
    }

    /// Writes the records encoded since the last write out to the current segment.
    fn write_out(&mut self) -> io::Result<()> {
        if self.tail.is_empty() {
            return Ok(());
        }
        let at = self.write_offset - self.tail.len();
        self.map.write_at(at, &self.tail)?;
        self.tail.clear();
        if self.tail.capacity() > TAIL_KEEP_BYTES {
            self.tail = Vec::new();
        }
        Ok(())
    }

    /// Writes zeros over the preallocated (already zero) bytes ahead of the log, a chunk at a
    /// time, before the log reaches them. A preallocated block is allocated but marked
    /// unwritten (ext4, XFS); the first write into it changes the file's extent map, so the
    /// sync after it must also write the inode: an extra disk write on most syncs when each
    /// batch is a few KB. Zeroing ahead pays that once per chunk, and the zeros ride on the
    /// next sync. Writing zeros over zeros changes no byte, so crashes see nothing new.
    fn zero_ahead(&mut self) -> io::Result<()> {
        if self.write_offset + ZERO_AHEAD_BYTES / 2 <= self.zeroed_to {
            return Ok(());
        }
        let from = self.zeroed_to.max(self.write_offset);
        let to = (self.write_offset + ZERO_AHEAD_BYTES).min(self.map.bytes().len());
        if to > from {
            self.map.write_at(from, &ZEROS[..to - from])?;
        }
        self.zeroed_to = to.max(from);
        Ok(())
    }

    /// Makes the current segment's bytes written since the last flush durable.
    fn flush_current(&mut self) -> io::Result<()> {
        self.write_out()?;
        self.zero_ahead()?;
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

    /// Forgets the verdict of lost synced records (`Recovered::lost_synced`), durably: call it
    /// once the records the node may have acknowledged are known to be back (or an operator
    /// accepts the loss). Does nothing when there is none.
    pub fn clear_lost_synced(&mut self) -> io::Result<()> {
        if self.lost_synced_noted {
            self.disk.remove(&self.dir.join(LOST_SYNCED_FILE))?;
            self.disk.sync_dir(&self.dir)?;
            self.lost_synced_noted = false;
        }
        Ok(())
    }

    /// Deletes the oldest segments the log no longer needs, never the current one: a segment
    /// goes when each of its entries either has an index `<= upto_index` or was erased by a
    /// later reset, and the segments that remain rebuild the same log on their own. The START
    /// file is made to name the new first segment before any is removed, so a crash in between
    /// leaves the log as it was or as it will be.
    ///
    /// A segment is kept, even if covered, when a later segment rewrote (log conflict) an index
    /// below where the first remaining segment would start, before any reset. While a reset is
    /// not yet synced, compaction waits (does nothing): should the reset be lost, the segments
    /// before it are the log.
    pub fn compact(&mut self, upto_index: u64) -> io::Result<()> {
        self.check_usable()?;
        if self.reset_unsynced {
            return Ok(());
        }
        let segs: Vec<SegmentInfo> = self
            .sealed
            .iter()
            .copied()
            .chain(std::iter::once(self.current))
            .collect();
        // Entries of segments before the latest reset are not part of the log.
        let last_reset = segs.iter().rposition(|s| s.has_reset);
        let covered = (0..self.sealed.len())
            .take_while(|&k| {
                last_reset.is_some_and(|r| k < r) || segs[k].max_index_after_reset <= upto_index
            })
            .count();
        // min_after[k]: the lowest entry index that segments k.. write before their first
        // reset; a log rebuilt from segment k must not reach below its first index.
        let mut min_after = vec![u64::MAX; segs.len()];
        for k in (0..segs.len()).rev() {
            let later = if segs[k].has_reset {
                u64::MAX
            } else {
                min_after.get(k + 1).copied().unwrap_or(u64::MAX)
            };
            min_after[k] = segs[k].min_index_before_reset.min(later);
        }
        let Some(doomed) = (0..=covered)
            .rev()
            .find(|&k| segs[k].first_index <= min_after[k])
        else {
            return Ok(());
        };
        if doomed == 0 {
            return Ok(());
        }
        // START first: once it names the new first segment, the ones before it are leftovers
        // whatever order they go in, and a crash between removals leaves a log that replays.
        let start = format::encode_start(segs[doomed].seq);
        let mut removed = write_small_file(self.disk.as_mut(), &self.dir, START_FILE, &start);
        for seg in self.sealed.iter().take(doomed) {
            if removed.is_err() {
                break;
            }
            removed = self
                .disk
                .remove(&self.dir.join(format::segment_name(seg.seq)));
        }
        if let Err(e) = removed.and_then(|()| self.disk.sync_dir(&self.dir)) {
            self.failed = Some(format!("compaction failed: {e}"));
            return Err(e);
        }
        self.sealed.drain(..doomed);
        // With a reset among the remaining segments, the log's start is the latest reset's.
        if last_reset.is_none_or(|r| r < doomed) {
            self.first_index = segs[doomed].first_index;
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

    /// Copies one record into the current segment, rolling to a new one if it does not fit
    /// with room for a sync marker after it.
    fn put(&mut self, rec: Put<'_>) -> io::Result<()> {
        let len = rec.len();
        if self.map.bytes().len() - self.write_offset < len + SYNC_MARKER_BYTES {
            self.roll(len)?;
        }
        let seq = self.current.seq;
        let start = self.tail.len();
        self.tail.resize(start + len, 0);
        let buf = &mut self.tail[start..];
        let written = match rec {
            Put::Entry(e) => format::encode_entry(buf, seq, e),
            Put::HardState(hs) => format::encode_hard_state(buf, seq, hs),
            Put::Reset { index, term, hs } => format::encode_reset(buf, seq, index, term, hs),
        };
        self.tail.truncate(start + written);
        self.write_offset += written;
        Ok(())
    }

    /// Seals the current segment and starts the next one, big enough for a `record_len` record
    /// after its opening hard state record and before a sync marker.
    ///
    /// The sealed segment is flushed first, so only the last segment can ever have a torn
    /// tail: a segment on disk proves every one before it whole.
    fn roll(&mut self, record_len: usize) -> io::Result<()> {
        self.flush_current()?;
        let header = SegmentHeader {
            seq: self.current.seq + 1,
            first_index: self.last_index + 1,
            prev_term: self.last_term,
        };
        let (map, end) = create_segment(
            self.disk.as_mut(),
            &self.dir,
            self.segment_bytes,
            &header,
            &self.hard_state,
            record_len,
        )?;
        self.map = map;
        let old = std::mem::replace(
            &mut self.current,
            SegmentInfo::new(header.seq, header.first_index),
        );
        self.sealed.push_back(old);
        self.write_offset = end;
        self.zeroed_to = end;
        self.synced_offset = end;
        self.idle_offset = end;
        Ok(())
    }
}

/// Creates segment `header.seq` so that it appears whole or not at all: a temp file is
/// preallocated, its header, opening hard state record `hs` and a sync marker written and
/// synced, then it is renamed into place and the directory synced. The marker is true: the
/// segments before this one were flushed by the caller. It is sized to `segment_bytes`, or
/// more to fit those, a `record_len` record and another sync marker. Returns the map and where
/// the next record goes.
fn create_segment(
    disk: &mut dyn Disk,
    dir: &Path,
    segment_bytes: u64,
    header: &SegmentHeader,
    hs: &HardState,
    record_len: usize,
) -> io::Result<(Box<dyn SegmentFile>, usize)> {
    let needed =
        (HEADER_BYTES + HARD_STATE_RECORD_BYTES + 2 * SYNC_MARKER_BYTES) as u64 + record_len as u64;
    let name = format::segment_name(header.seq);
    let path = dir.join(&name);
    let tmp = dir.join(format!("{name}{}", format::TMP_SUFFIX));
    let mut map = disk.create(&tmp, segment_bytes.max(needed))?;
    let mut bytes = [0u8; HEADER_BYTES + HARD_STATE_RECORD_BYTES + SYNC_MARKER_BYTES];
    bytes[..HEADER_BYTES].copy_from_slice(&header.encode());
    let mut end = HEADER_BYTES;
    end += format::encode_hard_state(&mut bytes[end..], header.seq, hs);
    end += format::encode_sync_marker(&mut bytes[end..], header.seq, end);
    map.write_at(0, &bytes[..end])?;
    map.flush_range(0, end)?;
    disk.rename(&tmp, &path)?;
    disk.sync_dir(dir)?;
    Ok((map, end))
}

/// Writes file `name` in `dir` with `bytes` (not empty), durably, replacing any earlier one
/// at once: through a temp file, synced, renamed into place, the directory synced.
fn write_small_file(disk: &mut dyn Disk, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}{SMALL_TMP_SUFFIX}"));
    let mut map = disk.create(&tmp, bytes.len() as u64)?;
    map.write_at(0, bytes)?;
    map.flush_range(0, bytes.len())?;
    drop(map);
    disk.rename(&tmp, &dir.join(name))?;
    disk.sync_dir(dir)
}

/// Whether a sync marker after the damage proves that the records it destroyed had been
/// synced: one past the damage in its own segment, or one anywhere in a later segment.
fn synced_after(
    disk: &mut dyn Disk,
    dir: &Path,
    seqs: &[u64],
    found: &Found,
    kept: &[Kept],
) -> io::Result<bool> {
    if found.in_kept {
        if let Some(map) = kept.last().and_then(|k| k.map.as_ref()) {
            if format::find_sync_marker(map.bytes(), found.segment, found.offset + 1).is_some() {
                return Ok(true);
            }
        }
    }
    for &seq in &seqs[found.first_removed..] {
        let map = disk.open(&dir.join(format::segment_name(seq)))?;
        let from = HEADER_BYTES.min(map.bytes().len());
        if format::find_sync_marker(map.bytes(), seq, from).is_some() {
            return Ok(true);
        }
    }
    Ok(false)
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

    /// Checks that a segment continues the log rebuilt so far (the first segment sets the
    /// base instead).
    fn enter_segment(&mut self, header: &SegmentHeader, has_prev: bool) -> Result<(), String> {
        if !has_prev {
            self.base_index = header.first_index - 1;
            self.base_term = header.prev_term;
            return Ok(());
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

    /// Replays one log record (not a sync marker).
    fn apply(&mut self, record: Record<'_>, info: &mut SegmentInfo) -> Result<(), String> {
        match record {
            Record::HardState(hs) => self.hard_state = hs,
            Record::Reset {
                index,
                term,
                hard_state,
            } => {
                self.entries.clear();
                self.base_index = index;
                self.base_term = term;
                self.hard_state = hard_state;
                info.note_reset();
            }
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
            Record::SyncMarker => return Ok(()),
        }
        self.records += 1;
        Ok(())
    }
}

/// What replaying one segment found.
struct Scanned {
    /// Where its valid records end.
    end: usize,
    /// The offset of the last sync marker among them.
    last_marker: Option<usize>,
    /// Why the scan stopped at `end` although the segment does not end there.
    bad: Option<(DamageKind, String)>,
}

/// Replays the records of one segment, up to the first unwritten one if every record before
/// it was valid and nothing follows, else up to the first bad record.
fn scan_segment(bytes: &[u8], seq: u64, replay: &mut Replay, info: &mut SegmentInfo) -> Scanned {
    let mut offset = HEADER_BYTES;
    let mut last_marker = None;
    let bad = loop {
        match format::decode(bytes, offset, seq) {
            Decoded::End => {
                break first_nonzero(bytes, offset).map(|at| {
                    (
                        DamageKind::TrailingBytes,
                        format!("nonzero bytes at offset {at} after the end of data"),
                    )
                });
            }
            Decoded::Bad(why) => break Some((DamageKind::BadRecord, why)),
            Decoded::Record {
                record: Record::SyncMarker,
                len,
            } => {
                last_marker = Some(offset);
                offset += len;
            }
            Decoded::Record { record, len } => {
                if let Err(why) = replay.apply(record, info) {
                    break Some((DamageKind::InvalidRecord, why));
                }
                offset += len;
            }
        }
    };
    Scanned {
        end: offset,
        last_marker,
        bad,
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

/// Writes `map[from..to]` over itself, so that its pages are dirty and the next flush writes
/// them. Bytes recovery read may be pages that a failed sync left clean in the page cache but
/// never wrote (Linux marks them clean after the error): flushing them alone would do nothing.
fn rewrite(map: &mut dyn SegmentFile, from: usize, to: usize) -> io::Result<()> {
    if from >= to {
        return Ok(());
    }
    let copy = map.bytes()[from..to].to_vec();
    map.write_at(from, &copy)
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
    for at in (first..=last).step_by(ZERO_AHEAD_BYTES) {
        let n = (last + 1 - at).min(ZERO_AHEAD_BYTES);
        map.write_at(at, &ZEROS[..n])?;
    }
    map.flush_range(first, last + 1 - first)?;
    Ok(last + 1 - first)
}
