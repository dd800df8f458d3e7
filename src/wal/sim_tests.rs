//! Seeded histories on a `MemDisk`: appends (with log conflicts and oversized entries), resets,
//! syncs, compactions, process kills, power losses (between calls and in the middle of one,
//! recovery included), failed syncs, a full disk and flipped bits, each checked against a
//! model of the log.
//!
//! The model is the list of states the log went through, one per record written (a hard state,
//! an entry, a reset). Every recovery must return one of them:
//! - after a power loss, one at or after the last state a successful sync covered;
//! - after a process kill, the last one;
//! - after a flipped bit (read back by a restarted process), any one, and when it is before
//!   the last synced state, `lost_synced` must say so.
//!
//! `lost_synced` must never be reported without a flipped bit.
//!
//! A failure names its seed and the trace of operations that led to it; `run(seed, flips)`
//! replays it exactly.

use super::*;
use crate::raft::EntryKind;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The log after some record.
#[derive(Clone, Debug)]
struct State {
    hs: HardState,
    /// The index before the first entry, and its term.
    base: u64,
    base_term: u64,
    entries: Vec<Entry>,
    /// Resets written before this state: compactions are judged per generation.
    generation: usize,
}

impl State {
    fn last(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.base {
            return Some(self.base_term);
        }
        let at = index.checked_sub(self.base + 1)? as usize;
        self.entries.get(at).map(|e| e.term)
    }

    fn append(&mut self, e: &Entry) {
        self.entries.truncate((e.index - self.base - 1) as usize);
        self.entries.push(e.clone());
    }
}

/// Whether `rec` is the log of `x`, seen from a start that compaction may have moved up to
/// `floor + 1` (the highest index compacted in `x`'s generation).
fn show_entries(entries: &[Entry]) -> String {
    let v: Vec<String> = entries
        .iter()
        .map(|e| format!("{}/{}", e.index, e.term))
        .collect();
    v.join(" ")
}

fn show_state(x: &State) -> String {
    format!(
        "hs {:?} base {}/{} gen {} [{}]",
        x.hs,
        x.base,
        x.base_term,
        x.generation,
        show_entries(&x.entries)
    )
}

fn show_recovered(r: &Recovered) -> String {
    format!(
        "hs {:?} first {} prev_term {} [{}] cut {:?} lost {:?}",
        r.hard_state,
        r.first_index,
        r.prev_term,
        show_entries(&r.entries),
        r.cut,
        r.lost_synced
    )
}

fn recovered_is(rec: &Recovered, x: &State, floor: u64) -> bool {
    let first = rec.first_index;
    first > x.base
        && first <= x.last() + 1
        && first <= x.base.max(floor) + 1
        && rec.hard_state == x.hs
        && rec.entries[..] == x.entries[(first - x.base - 1) as usize..]
        && x.term_at(first - 1) == Some(rec.prev_term)
}

struct Sim {
    seed: u64,
    rng: Rng,
    disk: MemDisk,
    opts: WalOptions,
    wal: Option<Wal>,
    /// The states along the log's path, the initial empty log first.
    history: Vec<State>,
    /// `history[synced]` and everything before it is durable.
    synced: usize,
    /// Per generation, the highest `upto_index` compaction was asked for.
    floors: Vec<u64>,
    term: u64,
    /// A flipped bit made recovery report lost synced records, and nobody cleared it.
    noted: bool,
    trace: Vec<String>,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed);
        let disk = MemDisk::new(seed);
        disk.set_page_bytes([16, 64, 512][rng.below(3) as usize]);
        let opts = WalOptions {
            dir: PathBuf::from("/node/wal"),
            segment_bytes: MIN_SEGMENT_BYTES + rng.below(900),
        };
        let initial = State {
            hs: HardState::default(),
            base: 0,
            base_term: 0,
            entries: Vec::new(),
            generation: 0,
        };
        let mut sim = Sim {
            seed,
            rng,
            disk,
            opts,
            wal: None,
            history: vec![initial],
            synced: 0,
            floors: vec![0],
            term: 1,
            noted: false,
            trace: Vec::new(),
        };
        sim.reopen(Restart::Kill);
        sim
    }

    fn ctx(&self) -> String {
        format!(
            "seed {} (segment_bytes {}): {}",
            self.seed,
            self.opts.segment_bytes,
            self.trace.join("; ")
        )
    }

    fn cur(&self) -> &State {
        self.history
            .last()
            .expect("history starts with the empty log")
    }

    fn wal(&mut self) -> &mut Wal {
        self.wal.as_mut().expect("wal is open")
    }

    fn append(&mut self) -> io::Result<()> {
        let first = self.wal().first_index();
        let last = self.cur().last();
        let start = if first <= last && self.rng.chance(20) {
            self.term += 1;
            first + self.rng.below(last - first + 1)
        } else {
            last + 1
        };
        let count = self.rng.below(6);
        let mut batch = Vec::new();
        for index in start..start + count {
            let size = if self.rng.chance(5) {
                self.opts.segment_bytes + 50
            } else {
                self.rng.below(60)
            };
            let kind = if self.rng.chance(10) {
                EntryKind::ConfChange
            } else {
                EntryKind::Normal
            };
            batch.push(Entry {
                term: self.term,
                index,
                kind,
                data: Bytes::from(vec![(index ^ self.seed) as u8; size as usize]),
            });
        }
        let hs = self.rng.chance(30).then(|| HardState {
            term: self.term,
            vote: self.rng.below(4),
            commit: self.rng.below(last + 1),
        });
        self.trace
            .push(format!("append {start}+{count} hs {}", hs.is_some()));
        let mut state = self.cur().clone();
        if let Some(hs) = hs {
            state.hs = hs;
            self.history.push(state.clone());
        }
        for e in &batch {
            state.append(e);
            self.history.push(state.clone());
        }
        self.wal().append(hs.as_ref(), &batch)
    }

    fn reset(&mut self) -> io::Result<()> {
        let last = self.cur().last();
        let index = (last + self.rng.below(8)).saturating_sub(4);
        self.term += self.rng.below(2);
        let hs = HardState {
            term: self.term,
            vote: self.rng.below(4),
            commit: index,
        };
        self.trace.push(format!("reset {index}"));
        let generation = self.floors.len();
        self.floors.push(0);
        self.history.push(State {
            hs,
            base: index,
            base_term: self.term,
            entries: Vec::new(),
            generation,
        });
        let term = self.term;
        self.wal().reset(index, term, &hs)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.trace.push("sync".into());
        self.wal().sync()?;
        self.synced = self.history.len() - 1;
        Ok(())
    }

    fn compact(&mut self) -> io::Result<()> {
        let upto = self.rng.below(self.cur().last() + 2);
        self.trace.push(format!("compact {upto}"));
        let generation = self.cur().generation;
        let floor = &mut self.floors[generation];
        *floor = (*floor).max(upto);
        self.wal().compact(upto)
    }

    /// One random operation on the open log.
    fn step(&mut self) -> io::Result<()> {
        match self.rng.below(100) {
            0..=44 => self.append(),
            45..=69 => self.sync(),
            70..=76 => self.reset(),
            _ => self.compact(),
        }
    }

    /// Stops the process and opens the log again, checking what recovery returns.
    fn reopen(&mut self, how: Restart) {
        self.trace.push(format!("{how:?}"));
        drop(self.wal.take());
        if how == Restart::PowerLoss {
            self.disk.crash();
        }
        let opened = loop {
            // Sometimes the power goes again while recovering.
            let cut = how == Restart::PowerLoss && self.rng.chance(25);
            if cut {
                self.disk.cut_power_after(self.rng.below(8));
            }
            match Wal::open_with(self.opts.clone(), Box::new(self.disk.clone())) {
                Ok(opened) => {
                    self.disk.keep_power();
                    break opened;
                }
                Err(e) => {
                    assert!(cut, "{}: open failed: {e}", self.ctx());
                    self.trace.push(format!("power lost in recovery: {e}"));
                    self.disk.crash();
                }
            }
        };
        let (wal, rec) = opened;
        let ctx = self.ctx();
        // The latest state it matches: equal states have equal futures.
        let matched = (0..self.history.len()).rev().find(|&k| {
            let x = &self.history[k];
            recovered_is(&rec, x, self.floors[x.generation])
        });
        let k = match (matched, how) {
            (Some(k), Restart::Kill) => {
                assert_eq!(k, self.history.len() - 1, "{ctx}: {}", show_recovered(&rec));
                k
            }
            (Some(k), Restart::PowerLoss | Restart::KillAfterError) => {
                assert!(
                    k >= self.synced,
                    "{ctx}: lost synced state: {}",
                    show_recovered(&rec)
                );
                k
            }
            (Some(k), Restart::AfterBitFlip) => {
                assert!(
                    k >= self.synced || rec.lost_synced.is_some(),
                    "{ctx}: loss not reported: {}",
                    show_recovered(&rec)
                );
                k
            }
            // A flipped bit in the first segment after a compaction can leave a log that
            // never was (the records it started with are gone, and with them the hard state):
            // allowed only with the loss reported. The model restarts from it.
            (None, Restart::AfterBitFlip) if rec.lost_synced.is_some() => {
                self.floors.push(0);
                self.history = vec![State {
                    hs: rec.hard_state,
                    base: rec.first_index - 1,
                    base_term: rec.prev_term,
                    entries: rec.entries.clone(),
                    generation: self.floors.len() - 1,
                }];
                0
            }
            (None, _) => panic!(
                "{ctx}: recovered a log that never was: {}\nlast state {}",
                show_recovered(&rec),
                show_state(self.cur())
            ),
        };
        if rec.damage.as_ref().is_some_and(|d| d.lost_synced) {
            assert_eq!(
                how,
                Restart::AfterBitFlip,
                "{ctx}: {}",
                show_recovered(&rec)
            );
            self.noted = true;
        }
        assert_eq!(
            rec.lost_synced.is_some(),
            self.noted,
            "{ctx}: {}",
            show_recovered(&rec)
        );
        assert_eq!(wal.first_index(), rec.first_index, "{ctx}");
        assert_eq!(wal.last_index(), self.history[k].last(), "{ctx}");
        self.history.truncate(k + 1);
        // Recovery made what it returned durable.
        self.synced = k;
        self.wal = Some(wal);
        if self.noted && self.rng.chance(30) {
            self.wal().clear_lost_synced().expect("clear");
            self.noted = false;
            self.trace.push("cleared".into());
        }
    }

    /// Flips a bit somewhere in the files of a stopped process, then restarts it.
    fn flip_a_bit(&mut self) {
        drop(self.wal.take());
        let files: Vec<(PathBuf, usize)> = self
            .disk
            .files()
            .into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e == "log"))
            .collect();
        let (path, len) = files[self.rng.below(files.len() as u64) as usize].clone();
        let at = self.rng.below(len as u64) as usize;
        // Mostly where the data is, not the preallocated zeros.
        let at = if self.rng.chance(80) {
            at % self.data_end(&path).max(1)
        } else {
            at
        };
        assert!(self.disk.corrupt(&path, at));
        self.trace.push(format!(
            "flip {}@{at}",
            path.file_name().unwrap().to_string_lossy()
        ));
        self.reopen(Restart::AfterBitFlip);
    }

    /// Where a segment's records end, as a restarted process reads it.
    fn data_end(&self, path: &Path) -> usize {
        let bytes = self.disk.read(path).unwrap_or_default();
        let Some(seq) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(format::parse_segment_name)
        else {
            return bytes.len();
        };
        let mut at = HEADER_BYTES.min(bytes.len());
        while let Decoded::Record { len, .. } = format::decode(&bytes, at, seq) {
            at += len;
        }
        at
    }

    /// Every call fails once a sync failed, until a restart (here a power loss, so that the
    /// pages the failed sync dropped are really gone).
    fn failed_sync(&mut self) {
        self.trace.push("failing sync".into());
        self.disk.fail_next_sync();
        if self.append().is_ok() && self.sync().is_ok() {
            // The sync had nothing to flush; the failure is still armed for recovery's.
            self.disk.fail_next_syncs(0);
            return;
        }
        self.disk.fail_next_syncs(0);
        let hs = self.cur().hs;
        let last = self.cur().last();
        let wal = self.wal();
        let e = Entry {
            term: 1,
            index: last + 1,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        };
        assert!(wal.sync().is_err());
        assert!(wal.append(None, &[e]).is_err());
        assert!(wal.append(Some(&hs), &[]).is_err());
        assert!(wal.reset(last, 1, &hs).is_err());
        assert!(wal.compact(0).is_err());
        self.reopen(Restart::PowerLoss);
    }

    /// A full disk: appends fail with ENOSPC once a segment cannot be created, without a
    /// panic; then space is freed and the process restarted.
    fn full_disk(&mut self) {
        let used: usize = self.disk.files().iter().map(|(_, len)| len).sum();
        let cap = used as u64 + self.rng.below(2 * self.opts.segment_bytes);
        self.trace.push(format!("capacity {cap}"));
        self.disk.set_capacity(Some(cap));
        let mut failed = None;
        for _ in 0..200 {
            let result = if self.rng.chance(70) {
                self.append()
            } else {
                self.sync()
            };
            if let Err(e) = result {
                failed = Some(e);
                break;
            }
        }
        let e = failed.expect("a full disk never failed an append");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull, "{}: {e}", self.ctx());
        self.disk.set_capacity(None);
        self.reopen(Restart::KillAfterError);
    }

    fn power_cut_during_calls(&mut self) {
        self.disk.cut_power_after(self.rng.below(6));
        self.trace.push("power cut armed".into());
        for _ in 0..20 {
            if self.step().is_err() {
                break;
            }
        }
        self.reopen(Restart::PowerLoss);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Restart {
    /// The process dies; the page cache survives.
    Kill,
    /// The process dies after a failed call, which may have written part of what it was given.
    KillAfterError,
    /// The machine loses power: only what was synced is sure to survive.
    PowerLoss,
    /// A restart after a bit flipped on the disk.
    AfterBitFlip,
}

fn run(seed: u64, flips: bool) {
    let mut sim = Sim::new(seed);
    for _ in 0..30 + sim.rng.below(30) {
        match sim.rng.below(100) {
            0..=79 => {
                let r = sim.step();
                assert!(r.is_ok(), "{}: {r:?}", sim.ctx());
            }
            80..=87 => sim.reopen(Restart::PowerLoss),
            88..=91 => sim.reopen(Restart::Kill),
            92..=94 => sim.power_cut_during_calls(),
            95..=96 => sim.failed_sync(),
            97 => sim.full_disk(),
            _ if flips => sim.flip_a_bit(),
            _ => sim.reopen(Restart::PowerLoss),
        }
    }
    sim.reopen(Restart::PowerLoss);
}

#[test]
fn crashes_keep_everything_synced_and_return_a_prefix_of_what_was_written() {
    for seed in 0..2500 {
        run(seed, false);
    }
}

#[test]
fn flipped_bits_lose_synced_records_only_with_a_lost_synced_verdict() {
    for seed in 10_000..11_500 {
        run(seed, true);
    }
}
