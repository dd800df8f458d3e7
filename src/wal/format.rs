//! The byte layout of a WAL segment: its file name, its header, and the record frame.
//!
//! All integers are little endian.
//!
//! ```text
//! segment header (HEADER_BYTES = 40):
//!   magic [8] "RAFTISWL" | version u32 | header crc32 u32 | seq u64 | first_index u64 | prev_term u64
//! record (RECORD_OVERHEAD = 25 bytes + payload):
//!   len u32 | crc32 u32 | kind u8 | term u64 | index u64 | payload
//! kinds: 1 entry Normal, 2 entry ConfChange, 3 hard state, 4 reset, 5 sync marker
//!   hard state: its term in `term`, index 0, payload term u64 | vote u64 | commit u64
//!   reset: the log's new previous entry in `term` and `index`, payload a hard state as above
//!   sync marker: term 0, index = the record's own offset in its segment, no payload
//! ```
//!
//! Invariants:
//! - `len` counts the bytes after the crc field (kind..payload), so it is at least 17.
//! - A record's crc32 covers the segment's sequence number followed by kind..payload. The same
//!   bytes therefore validate only in the segment they were written to: a record copied or left
//!   over from another segment (a reused file, a torn write that exposes old bytes) fails.
//! - A `len` of zero means "nothing written here": segments are preallocated with zeros and a
//!   record never has a zero length.
//! - The header crc covers every header byte except the crc field itself.
//! - `first_index` and `prev_term` are the log's next index and the term of its last entry when
//!   the segment was created. Records in the segment may still rewrite lower indexes (a log
//!   conflict), never indexes at or below the log's base (the first segment's
//!   `first_index - 1`, or the index of the latest reset record).
//! - A sync marker at offset `p` is written only after every byte before `p` in its segment,
//!   and every byte of the segments before it, was durable. Finding one on disk proves that.
//!   Its index field repeats `p`, so it validates only where it was written.
//!
//! ```text
//! START file (START_BYTES = 20): magic [8] "RAFTISST" | seq u64 | crc32 u32 of the 16 bytes before
//! ```
//! It names the log's first segment once compaction has run; older segments are leftovers.
//!
//! This module only encodes and decodes bytes in memory; it does no I/O and keeps no state.

use crate::raft::{Entry, EntryKind, HardState};

pub(super) const MAGIC: [u8; 8] = *b"RAFTISWL";
pub(super) const VERSION: u32 = 1;
pub(super) const HEADER_BYTES: usize = 40;

/// `len` + `crc` fields.
const FRAME_BYTES: usize = 8;
/// kind + term + index: the smallest legal `len`.
const BODY_MIN_BYTES: usize = 17;
/// Bytes a record costs beyond its payload.
pub(super) const RECORD_OVERHEAD: usize = FRAME_BYTES + BODY_MIN_BYTES;
const HARD_STATE_PAYLOAD_BYTES: usize = 24;
pub(super) const HARD_STATE_RECORD_BYTES: usize = RECORD_OVERHEAD + HARD_STATE_PAYLOAD_BYTES;
/// The largest entry payload whose `len` still fits the u32 field.
pub(super) const MAX_PAYLOAD_BYTES: usize = u32::MAX as usize - BODY_MIN_BYTES;

const KIND_NORMAL: u8 = 1;
const KIND_CONF_CHANGE: u8 = 2;
const KIND_HARD_STATE: u8 = 3;
const KIND_RESET: u8 = 4;
const KIND_SYNC_MARKER: u8 = 5;
/// A reset record carries a hard state payload, like a hard state record.
pub(super) const RESET_RECORD_BYTES: usize = HARD_STATE_RECORD_BYTES;
/// A sync marker has no payload.
pub(super) const SYNC_MARKER_BYTES: usize = RECORD_OVERHEAD;

const START_MAGIC: [u8; 8] = *b"RAFTISST";
pub(super) const START_BYTES: usize = 20;

const SEGMENT_PREFIX: &str = "wal-";
const SEGMENT_SUFFIX: &str = ".log";
pub(super) const TMP_SUFFIX: &str = ".tmp";

/// `wal-<seq as 16 hex digits>.log`: names sort in sequence order.
pub(super) fn segment_name(seq: u64) -> String {
    format!("{SEGMENT_PREFIX}{seq:016x}{SEGMENT_SUFFIX}")
}

/// The sequence number of a segment file name, or `None` for any other file.
pub(super) fn parse_segment_name(name: &str) -> Option<u64> {
    let hex = name
        .strip_prefix(SEGMENT_PREFIX)?
        .strip_suffix(SEGMENT_SUFFIX)?;
    if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// A leftover of a segment creation that did not reach its rename.
pub(super) fn is_tmp_name(name: &str) -> bool {
    name.strip_suffix(TMP_SUFFIX)
        .is_some_and(|n| parse_segment_name(n).is_some())
}

/// The START file naming segment `seq` as the log's first.
pub(super) fn encode_start(seq: u64) -> [u8; START_BYTES] {
    let mut b = [0u8; START_BYTES];
    b[0..8].copy_from_slice(&START_MAGIC);
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32fast::hash(&b[0..16]);
    b[16..20].copy_from_slice(&crc.to_le_bytes());
    b
}

/// The first segment a START file names, or `None` when the bytes are not a valid one.
pub(super) fn decode_start(b: &[u8]) -> Option<u64> {
    let valid = b.len() == START_BYTES
        && b[0..8] == START_MAGIC
        && crc32fast::hash(&b[0..16]) == u32_at(b, 16);
    valid.then(|| u64_at(b, 8))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SegmentHeader {
    pub seq: u64,
    /// The log's next index when the segment was created (>= 1).
    pub first_index: u64,
    /// The term of entry `first_index - 1` (0 when there is none).
    pub prev_term: u64,
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        b[32..40].copy_from_slice(&self.prev_term.to_le_bytes());
        let crc = header_crc(&b);
        b[12..16].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Reads the header at the start of `buf`, or says what is wrong with it.
    pub fn decode(buf: &[u8]) -> Result<SegmentHeader, String> {
        if buf.len() < HEADER_BYTES {
            return Err(format!(
                "file is {} bytes, shorter than a segment header",
                buf.len()
            ));
        }
        if buf[0..8] != MAGIC {
            return Err("bad magic".to_string());
        }
        let version = u32_at(buf, 8);
        if version != VERSION {
            return Err(format!("unsupported format version {version}"));
        }
        if u32_at(buf, 12) != header_crc(buf) {
            return Err("header crc mismatch".to_string());
        }
        let header = SegmentHeader {
            seq: u64_at(buf, 16),
            first_index: u64_at(buf, 24),
            prev_term: u64_at(buf, 32),
        };
        if header.first_index == 0 {
            return Err("header first index is 0".to_string());
        }
        Ok(header)
    }
}

fn header_crc(b: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&b[0..12]);
    h.update(&b[16..HEADER_BYTES]);
    h.finalize()
}

/// The checksum of a record body, bound to the segment it lives in.
fn record_crc(seq: u64, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&seq.to_le_bytes());
    h.update(body);
    h.finalize()
}

/// Bytes the record of `e` takes in a segment.
pub(super) fn entry_record_len(e: &Entry) -> usize {
    RECORD_OVERHEAD + e.data.len()
}

/// Writes the record of `e` at the start of `buf` (at least `entry_record_len(e)` long).
pub(super) fn encode_entry(buf: &mut [u8], seq: u64, e: &Entry) -> usize {
    let kind = match e.kind {
        EntryKind::Normal => KIND_NORMAL,
        EntryKind::ConfChange => KIND_CONF_CHANGE,
    };
    encode(buf, seq, kind, e.term, e.index, &e.data)
}

fn hard_state_payload(hs: &HardState) -> [u8; HARD_STATE_PAYLOAD_BYTES] {
    let mut payload = [0u8; HARD_STATE_PAYLOAD_BYTES];
    payload[0..8].copy_from_slice(&hs.term.to_le_bytes());
    payload[8..16].copy_from_slice(&hs.vote.to_le_bytes());
    payload[16..24].copy_from_slice(&hs.commit.to_le_bytes());
    payload
}

fn decode_hard_state_payload(payload: &[u8]) -> Option<HardState> {
    (payload.len() == HARD_STATE_PAYLOAD_BYTES).then(|| HardState {
        term: u64_at(payload, 0),
        vote: u64_at(payload, 8),
        commit: u64_at(payload, 16),
    })
}

/// Writes the record of `hs` at the start of `buf` (at least `HARD_STATE_RECORD_BYTES` long).
pub(super) fn encode_hard_state(buf: &mut [u8], seq: u64, hs: &HardState) -> usize {
    encode(
        buf,
        seq,
        KIND_HARD_STATE,
        hs.term,
        0,
        &hard_state_payload(hs),
    )
}

/// Writes a reset record at the start of `buf` (at least `RESET_RECORD_BYTES` long): the log is
/// empty and continues after entry `index` of `term`; `hs` is the hard state from then on.
pub(super) fn encode_reset(
    buf: &mut [u8],
    seq: u64,
    index: u64,
    term: u64,
    hs: &HardState,
) -> usize {
    encode(buf, seq, KIND_RESET, term, index, &hard_state_payload(hs))
}

/// Writes a sync marker at the start of `buf` (at least `SYNC_MARKER_BYTES` long), which sits
/// at `offset` in its segment.
pub(super) fn encode_sync_marker(buf: &mut [u8], seq: u64, offset: usize) -> usize {
    encode(buf, seq, KIND_SYNC_MARKER, 0, offset as u64, &[])
}

fn encode(buf: &mut [u8], seq: u64, kind: u8, term: u64, index: u64, payload: &[u8]) -> usize {
    let body_len = BODY_MIN_BYTES + payload.len();
    let total = FRAME_BYTES + body_len;
    let rec = &mut buf[..total];
    rec[8] = kind;
    rec[9..17].copy_from_slice(&term.to_le_bytes());
    rec[17..25].copy_from_slice(&index.to_le_bytes());
    rec[25..].copy_from_slice(payload);
    let crc = record_crc(seq, &rec[FRAME_BYTES..]);
    // The caller bounds payloads by MAX_PAYLOAD_BYTES, so the length fits.
    rec[0..4].copy_from_slice(&(body_len as u32).to_le_bytes());
    rec[4..8].copy_from_slice(&crc.to_le_bytes());
    total
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Record<'a> {
    Entry {
        kind: EntryKind,
        term: u64,
        index: u64,
        data: &'a [u8],
    },
    HardState(HardState),
    /// The log is empty from here on and continues after entry `index` of `term`.
    Reset {
        index: u64,
        term: u64,
        hard_state: HardState,
    },
    /// Everything before this record, in this segment and the ones before it, was durable.
    SyncMarker,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded<'a> {
    /// A valid record taking `len` bytes.
    Record { record: Record<'a>, len: usize },
    /// Nothing was written at this offset (a zero length, or too few bytes left for a frame).
    End,
    /// The bytes here are not a valid record of this segment; the reason.
    Bad(String),
}

/// Decodes the record at `offset` (<= `buf.len()`) of the segment numbered `seq`.
pub(super) fn decode(buf: &[u8], offset: usize, seq: u64) -> Decoded<'_> {
    let rest = &buf[offset..];
    if rest.len() < FRAME_BYTES {
        return Decoded::End;
    }
    let len = u32_at(rest, 0) as usize;
    if len == 0 {
        return Decoded::End;
    }
    if len < BODY_MIN_BYTES {
        return Decoded::Bad(format!("implausible record length {len}"));
    }
    if len > rest.len() - FRAME_BYTES {
        return Decoded::Bad(format!(
            "record length {len} runs past the end of the segment"
        ));
    }
    let body = &rest[FRAME_BYTES..FRAME_BYTES + len];
    if record_crc(seq, body) != u32_at(rest, 4) {
        return Decoded::Bad("crc mismatch".to_string());
    }
    let kind = body[0];
    let term = u64_at(body, 1);
    let index = u64_at(body, 9);
    let payload = &body[BODY_MIN_BYTES..];
    let record = match kind {
        KIND_NORMAL | KIND_CONF_CHANGE => Record::Entry {
            kind: if kind == KIND_NORMAL {
                EntryKind::Normal
            } else {
                EntryKind::ConfChange
            },
            term,
            index,
            data: payload,
        },
        KIND_HARD_STATE => match decode_hard_state_payload(payload) {
            Some(hs) if index == 0 && hs.term == term => Record::HardState(hs),
            _ => return Decoded::Bad("malformed hard state record".to_string()),
        },
        KIND_RESET => match decode_hard_state_payload(payload) {
            // The index after the reset must exist.
            Some(hard_state) if index < u64::MAX => Record::Reset {
                index,
                term,
                hard_state,
            },
            _ => return Decoded::Bad("malformed reset record".to_string()),
        },
        KIND_SYNC_MARKER => {
            if !payload.is_empty() || term != 0 || index != offset as u64 {
                return Decoded::Bad("malformed or misplaced sync marker".to_string());
            }
            Record::SyncMarker
        }
        other => return Decoded::Bad(format!("unknown record kind {other}")),
    };
    Decoded::Record {
        record,
        len: FRAME_BYTES + len,
    }
}

/// The offset of the first valid sync marker of segment `seq` at or after `from`, found by
/// trying every position (the record chain may be broken before it). Runs only on damage.
pub(super) fn find_sync_marker(buf: &[u8], seq: u64, from: usize) -> Option<usize> {
    const CHUNK: usize = 4096;
    // A marker starts with its length's low byte, which is nonzero.
    let len_byte = BODY_MIN_BYTES as u8;
    let mut chunk_start = from;
    while chunk_start < buf.len() {
        let chunk_end = buf.len().min(chunk_start + CHUNK);
        let chunk = &buf[chunk_start..chunk_end];
        if chunk.iter().fold(0u8, |a, &b| a | b) != 0 {
            for (i, _) in chunk.iter().enumerate().filter(|&(_, &b)| b == len_byte) {
                let at = chunk_start + i;
                let plausible = buf.len() - at >= SYNC_MARKER_BYTES
                    && u32_at(buf, at) == BODY_MIN_BYTES as u32
                    && buf[at + FRAME_BYTES] == KIND_SYNC_MARKER;
                if plausible
                    && matches!(
                        decode(buf, at, seq),
                        Decoded::Record {
                            record: Record::SyncMarker,
                            ..
                        }
                    )
                {
                    return Some(at);
                }
            }
        }
        chunk_start = chunk_end;
    }
    None
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::copy_from_slice(data),
        }
    }

    #[test]
    fn segment_names_round_trip_and_sort_by_seq() {
        assert_eq!(segment_name(1), "wal-0000000000000001.log");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert!(segment_name(0xf) < segment_name(0x10));
        assert_eq!(parse_segment_name("wal-1.log"), None);
        assert_eq!(parse_segment_name("wal-000000000000000g.log"), None);
        assert_eq!(parse_segment_name("LOCK"), None);
        assert!(is_tmp_name("wal-0000000000000001.log.tmp"));
        assert!(!is_tmp_name("wal-0000000000000001.log"));
    }

    #[test]
    fn header_round_trips_and_detects_damage() {
        let h = SegmentHeader {
            seq: 7,
            first_index: 42,
            prev_term: 3,
        };
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        for i in 0..HEADER_BYTES {
            let mut d = b;
            d[i] ^= 0x10;
            assert!(SegmentHeader::decode(&d).is_err(), "flip in byte {i}");
        }
        assert!(SegmentHeader::decode(&b[..HEADER_BYTES - 1]).is_err());
    }

    #[test]
    fn records_round_trip() {
        let mut buf = vec![0u8; 256];
        let e = Entry {
            kind: EntryKind::ConfChange,
            ..entry(9, 4, b"hello")
        };
        let n = encode_entry(&mut buf, 5, &e);
        assert_eq!(n, entry_record_len(&e));
        let hs = HardState {
            term: 4,
            vote: 2,
            commit: 8,
        };
        let m = encode_hard_state(&mut buf[n..], 5, &hs);
        assert_eq!(m, HARD_STATE_RECORD_BYTES);
        assert_eq!(
            decode(&buf, 0, 5),
            Decoded::Record {
                record: Record::Entry {
                    kind: EntryKind::ConfChange,
                    term: 4,
                    index: 9,
                    data: b"hello"
                },
                len: n
            }
        );
        assert_eq!(
            decode(&buf, n, 5),
            Decoded::Record {
                record: Record::HardState(hs),
                len: m
            }
        );
        assert_eq!(decode(&buf, n + m, 5), Decoded::End);
        assert_eq!(decode(&buf, buf.len() - 3, 5), Decoded::End);
    }

    #[test]
    fn record_crc_is_bound_to_its_segment() {
        let mut buf = vec![0u8; 64];
        encode_entry(&mut buf, 1, &entry(1, 1, b"x"));
        assert!(matches!(decode(&buf, 0, 1), Decoded::Record { .. }));
        assert_eq!(decode(&buf, 0, 2), Decoded::Bad("crc mismatch".into()));
    }

    #[test]
    fn every_single_bit_flip_in_a_record_is_detected() {
        let mut buf = vec![0u8; 64];
        let n = encode_entry(&mut buf, 3, &entry(2, 1, b"payload"));
        for bit in 0..n * 8 {
            let mut d = buf.clone();
            d[bit / 8] ^= 1 << (bit % 8);
            match decode(&d, 0, 3) {
                Decoded::Bad(_) | Decoded::End => {}
                Decoded::Record { .. } => panic!("bit {bit} flip accepted"),
            }
        }
    }

    #[test]
    fn start_file_round_trips_and_detects_damage() {
        let b = encode_start(0x1234_5678);
        assert_eq!(decode_start(&b), Some(0x1234_5678));
        for i in 0..START_BYTES {
            let mut d = b;
            d[i] ^= 4;
            assert_eq!(decode_start(&d), None, "flip in byte {i}");
        }
        assert_eq!(decode_start(&b[..START_BYTES - 1]), None);
    }

    #[test]
    fn reset_and_sync_marker_records_round_trip() {
        let mut buf = vec![0u8; 256];
        let hs = HardState {
            term: 7,
            vote: 3,
            commit: 40,
        };
        let n = encode_reset(&mut buf, 9, 40, 6, &hs);
        assert_eq!(n, RESET_RECORD_BYTES);
        let m = encode_sync_marker(&mut buf[n..], 9, n);
        assert_eq!(m, SYNC_MARKER_BYTES);
        assert_eq!(
            decode(&buf, 0, 9),
            Decoded::Record {
                record: Record::Reset {
                    index: 40,
                    term: 6,
                    hard_state: hs
                },
                len: n
            }
        );
        assert_eq!(
            decode(&buf, n, 9),
            Decoded::Record {
                record: Record::SyncMarker,
                len: m
            }
        );
        assert_eq!(find_sync_marker(&buf, 9, 0), Some(n));
        assert_eq!(find_sync_marker(&buf, 9, n + 1), None);
        // Bound to its segment.
        assert_eq!(find_sync_marker(&buf, 8, 0), None);
    }

    #[test]
    fn a_sync_marker_validates_only_where_it_was_written() {
        let mut buf = vec![0u8; 128];
        encode_sync_marker(&mut buf[10..], 1, 10);
        assert!(matches!(decode(&buf, 10, 1), Decoded::Record { .. }));
        let mut moved = vec![0u8; 128];
        moved[30..30 + SYNC_MARKER_BYTES].copy_from_slice(&buf[10..10 + SYNC_MARKER_BYTES]);
        assert!(matches!(decode(&moved, 30, 1), Decoded::Bad(s) if s.contains("sync marker")));
        assert_eq!(find_sync_marker(&moved, 1, 0), None);
    }

    #[test]
    fn find_sync_marker_skips_garbage_and_zero_pages() {
        let mut buf = vec![0u8; 3 * 4096 + 100];
        // Garbage full of the marker's first byte, then zero pages, then the marker.
        for (i, b) in buf[..4096].iter_mut().enumerate() {
            *b = if i % 3 == 0 { 17 } else { (i * 7) as u8 };
        }
        let at = 2 * 4096 + 4090;
        encode_sync_marker(&mut buf[at..], 5, at);
        assert_eq!(find_sync_marker(&buf, 5, 0), Some(at));
        assert_eq!(find_sync_marker(&buf, 5, at + 1), None);
    }

    #[test]
    fn implausible_lengths_and_kinds_are_bad() {
        let mut buf = vec![0u8; 64];
        buf[0] = 5;
        assert!(matches!(decode(&buf, 0, 1), Decoded::Bad(s) if s.contains("implausible")));
        buf[0..4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(matches!(decode(&buf, 0, 1), Decoded::Bad(s) if s.contains("past the end")));
        let mut buf = vec![0u8; 64];
        let n = encode(&mut buf, 1, 9, 1, 1, b"");
        assert!(n > 0);
        assert!(matches!(decode(&buf, 0, 1), Decoded::Bad(s) if s.contains("kind 9")));
    }
}
