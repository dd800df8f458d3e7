//! Persistence rounds: make what the Raft core hands out durable, in order, with one sync for
//! everything queued at once (group commit), then report back to the driver. A `Persister`
//! runs the rounds, either on the WAL thread (`run`) or inline in the driver (a group of one:
//! see `node::Persist`).
//!
//! Each job is a Ready's hard state, entries and the messages that may only be sent once those
//! are durable. Jobs complete strictly in the order they were queued. With `appendfsync
//! always` a job completes only after its sync (and, with `wal-marker-before-ack yes`, the
//! sync marker written after it: see `Persister::unmarked`); with `everysec` the log is synced at most a
//! second after the write and jobs complete once written (a crash of a majority within that
//! second may lose acknowledged writes); with `no` the kernel decides when to write back.
//! A failed write or sync ends the rounds for good and is reported: the node then refuses
//! writes (the fsync lesson: never retry a failed sync as if it succeeded).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use parking_lot::RwLock;

use crate::config::{Fsync, Settings};
use crate::raft::{Entry, HardState, Message};
use crate::wal::Wal;

pub struct PersistJob {
    /// A snapshot was installed whose index the log does not hold: the WAL continues after
    /// (index, term). Written before this job's hard state and entries.
    pub reset: Option<(u64, u64)>,
    /// A snapshot covering every entry up to this index is durable: drop the WAL segments it
    /// covers (after this round's sync).
    pub compact_upto: Option<u64>,
    pub hard_state: Option<HardState>,
    pub entries: Vec<Entry>,
    pub messages: Vec<Message>,
}

pub enum PersistDone {
    /// Everything queued up to and including these jobs is durable (per the fsync policy):
    /// the last entry written, if any, and the messages to send now.
    Durable {
        last: Option<(u64, u64)>,
        messages: Vec<Message>,
        syncs: u64,
    },
    Failed(String),
}

/// Jobs taken per round, at most, so completions flow back even under a flood.
const JOBS_PER_SYNC_MAX: usize = 4096;

/// The WAL and what the fsync policy needs to remember between rounds: a round writes a
/// batch of jobs and syncs once for all of them, whether it runs on the WAL thread (`run`) or
/// inline in the driver.
pub struct Persister {
    wal: Wal,
    settings: Arc<RwLock<Settings>>,
    last_sync: Instant,
    last_hs: HardState,
    /// Written since the last sync.
    dirty: bool,
    /// With `wal-marker-before-ack yes` (and `appendfsync always`): a round synced whose sync
    /// marker is not durable yet. It is reported once the next round's sync has flushed that
    /// marker, or, when no job is waiting, right after a flush of the marker alone
    /// (`release_unmarked`): a flipped bit in a batch whose marker is durable is told from a
    /// torn write at recovery (lost synced records), never cut silently. Without it, a round
    /// completes at its sync, and damage to the last batch synced before a crash looks torn
    /// (docs/ARCHITECTURE.md).
    unmarked: Option<PersistDone>,
}

impl Persister {
    pub fn new(wal: Wal, settings: Arc<RwLock<Settings>>) -> Persister {
        let last_hs = wal.hard_state();
        Persister {
            wal,
            settings,
            last_sync: Instant::now(),
            last_hs,
            dirty: false,
            unmarked: None,
        }
    }

    /// Writes `batch` in order and syncs as the policy says, pushing the rounds now complete
    /// onto `out` (none, when this round waits for its marker). An empty batch is a timer
    /// round: with `everysec` it syncs what is due. An error is final: the WAL is unusable.
    pub fn round(
        &mut self,
        batch: &mut [PersistJob],
        out: &mut Vec<PersistDone>,
    ) -> Result<(), String> {
        let (policy, marker_before_ack) = {
            let s = self.settings.read();
            (s.appendfsync, s.wal_marker_before_ack)
        };
        let verify = policy == Fsync::Always && marker_before_ack;
        let wal = &mut self.wal;
        let mut last = None;
        let mut messages = Vec::new();
        let mut compact_upto = None;
        let fail = |e: std::io::Error| e.to_string();
        for job in batch.iter_mut() {
            if let Some(hs) = job.hard_state {
                self.last_hs = hs;
            }
            if let Some((index, term)) = job.reset {
                wal.reset(index, term, &self.last_hs).map_err(fail)?;
                self.dirty = true;
            }
            compact_upto = compact_upto.max(job.compact_upto);
            if job.hard_state.is_some() || !job.entries.is_empty() {
                wal.append(job.hard_state.as_ref(), &job.entries)
                    .map_err(fail)?;
                self.dirty = true;
            }
            if let Some(e) = job.entries.last() {
                last = Some((e.index, e.term));
            }
            messages.append(&mut job.messages);
        }
        let mut syncs = 0;
        if self.dirty {
            let due = match policy {
                Fsync::Always => true,
                Fsync::EverySec => self.last_sync.elapsed() >= Duration::from_secs(1),
                Fsync::No => false,
            };
            if due {
                wal.sync().map_err(fail)?;
                syncs = 1;
                self.dirty = false;
                self.last_sync = Instant::now();
            }
        }
        if let Some(upto) = compact_upto {
            wal.compact(upto).map_err(fail)?;
        }
        // Rounds complete in order: one left unmarked goes first (this round's sync flushed
        // its marker; otherwise its marker is flushed now).
        if let Some(prev) = self.unmarked.take() {
            if !(syncs > 0 && verify) {
                wal.flush_marker().map_err(fail)?;
            }
            out.push(prev);
        }
        // A sync on the timer (everysec) completes no job but is reported, for INFO.
        if !batch.is_empty() || syncs > 0 {
            let d = PersistDone::Durable {
                last,
                messages,
                syncs,
            };
            if syncs > 0 && verify {
                self.unmarked = Some(d);
            } else {
                out.push(d);
            }
        }
        Ok(())
    }

    /// A round waits for its sync marker (see `unmarked`).
    pub fn has_unmarked(&self) -> bool {
        self.unmarked.is_some()
    }

    /// No job is waiting: flushes the marker of the round left unmarked and completes it.
    pub fn release_unmarked(&mut self, out: &mut Vec<PersistDone>) -> Result<(), String> {
        if let Some(d) = self.unmarked.take() {
            self.wal.flush_marker().map_err(|e| e.to_string())?;
            out.push(d);
        }
        Ok(())
    }

    /// The node stops: make what was written durable (best effort; nothing waits for it).
    pub fn close(&mut self) {
        if self.unmarked.take().is_some() {
            let _ = self.wal.flush_marker();
        } else if self.dirty {
            let _ = self.wal.sync();
        }
    }
}

/// The WAL thread: rounds of every job queued at once, completions sent back in order.
pub fn run(mut p: Persister, jobs: Receiver<PersistJob>, done: Sender<PersistDone>) {
    let mut out = Vec::new();
    loop {
        let first = if p.has_unmarked() {
            match jobs.try_recv() {
                Ok(j) => Some(j),
                Err(TryRecvError::Empty) => {
                    if let Err(e) = p.release_unmarked(&mut out) {
                        let _ = done.send(PersistDone::Failed(e));
                        return;
                    }
                    for d in out.drain(..) {
                        let _ = done.send(d);
                    }
                    continue;
                }
                Err(TryRecvError::Disconnected) => return p.close(),
            }
        } else {
            match jobs.recv_timeout(Duration::from_millis(200)) {
                Ok(j) => Some(j),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return p.close(),
            }
        };
        let mut batch: Vec<PersistJob> = first.into_iter().collect();
        while batch.len() < JOBS_PER_SYNC_MAX {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let r = p.round(&mut batch, &mut out);
        for d in out.drain(..) {
            let _ = done.send(d);
        }
        if let Err(e) = r {
            let _ = done.send(PersistDone::Failed(e));
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use bytes::Bytes;

    use super::*;
    use crate::raft::EntryKind;
    use crate::wal::{MemDisk, WalOptions};

    fn job(index: u64) -> PersistJob {
        PersistJob {
            reset: None,
            compact_upto: None,
            hard_state: (index == 1).then_some(HardState {
                term: 1,
                vote: 1,
                commit: 0,
            }),
            entries: vec![Entry {
                term: 1,
                index,
                kind: EntryKind::Normal,
                data: Bytes::from(format!("round-{index:04}-{}", "p".repeat(40))),
            }],
            messages: Vec::new(),
        }
    }

    /// Rounds of one entry each; after each, the round left unmarked is either released at
    /// once (nothing else waiting) or left for the next round's sync (more waiting), as the
    /// driver and the WAL thread do. Then a power loss, and one flipped bit in the middle of
    /// the last entry reported durable. Returns whether recovery reported lost synced
    /// records.
    fn flip_last_reported(seed: u64, marker_before_ack: bool) -> bool {
        let disk = MemDisk::new(seed);
        disk.set_page_bytes(16);
        let opts = WalOptions {
            dir: PathBuf::from("/wal"),
            segment_bytes: 1 << 16,
        };
        let (wal, _) = Wal::open_with(opts.clone(), Box::new(disk.clone())).unwrap();
        let settings = Arc::new(RwLock::new(Settings {
            wal_marker_before_ack: marker_before_ack,
            ..Settings::default()
        }));
        let mut p = Persister::new(wal, settings);
        let mut reported = 0;
        let mut out = Vec::new();
        for index in 1..=8u64 {
            p.round(&mut [job(index)], &mut out).unwrap();
            // Deterministic from the seed: is more work waiting after this round?
            let more_waiting = (seed >> (index % 8)) & 1 == 1 && index < 8;
            if !more_waiting {
                p.release_unmarked(&mut out).unwrap();
            }
            for d in out.drain(..) {
                if let PersistDone::Durable {
                    last: Some((i, _)), ..
                } = d
                {
                    assert!(i > reported, "rounds complete in order");
                    reported = i;
                }
            }
        }
        assert!(reported >= 1, "seed {seed}: nothing was reported durable");
        drop(p);
        disk.crash();
        let needle = format!("round-{reported:04}-");
        let (path, at) = disk
            .files()
            .into_iter()
            .find_map(|(path, _)| {
                let bytes = disk.read(&path)?;
                let at = bytes
                    .windows(needle.len())
                    .position(|w| w == needle.as_bytes())?;
                Some((path, at))
            })
            .expect("the last reported entry is on the disk");
        assert!(disk.corrupt(&path, at + needle.len() + 20));
        let (_, rec) = Wal::open_with(opts, Box::new(disk.clone())).unwrap();
        assert!(
            rec.entries.len() < reported as usize,
            "seed {seed}: the flipped entry survived recovery"
        );
        rec.lost_synced.is_some()
    }

    #[test]
    fn with_marker_before_ack_every_round_reported_durable_has_a_durable_marker_behind_it() {
        for seed in 0..64 {
            assert!(
                flip_last_reported(seed, true),
                "seed {seed}: a flipped bit in an acknowledged round was cut as torn"
            );
        }
    }

    #[test]
    fn without_marker_before_ack_some_power_losses_hide_damage_to_the_last_round() {
        let silent = (0..64).filter(|&s| !flip_last_reported(s, false)).count();
        assert!(silent > 0, "the check above could not fail");
    }
}
