//! The WAL thread: makes what the Raft core hands out durable, in order, with one sync for
//! everything queued at once (group commit), then reports back to the driver.
//!
//! Each job is a Ready's hard state, entries and the messages that may only be sent once those
//! are durable. Jobs complete strictly in the order they were queued. With `appendfsync
//! always` a job completes only after its sync (and, with `wal-marker-before-ack yes`, the
//! sync marker written after it: see `run`); with `everysec` the log is synced at most a
//! second after the write and jobs complete once written (a crash of a majority within that
//! second may lose acknowledged writes); with `no` the kernel decides when to write back.
//! A failed write or sync stops the thread for good and is reported: the node then refuses
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

pub fn run(
    mut wal: Wal,
    jobs: Receiver<PersistJob>,
    done: Sender<PersistDone>,
    settings: Arc<RwLock<Settings>>,
) {
    let mut last_sync = Instant::now();
    let mut last_hs = wal.hard_state();
    let mut dirty = false;
    // With `wal-marker-before-ack yes` (and `appendfsync always`): a round synced whose sync
    // marker is not durable yet. It is reported once the next round's sync has flushed that
    // marker, or, when no job is waiting, right after a flush of the marker alone: a flipped
    // bit in a batch whose marker is durable is told from a torn write at recovery (lost
    // synced records), never cut silently. Without it, a round completes at its sync, and
    // damage to the last batch synced before a crash looks torn (docs/ARCHITECTURE.md).
    let mut unmarked: Option<PersistDone> = None;
    loop {
        let first = if unmarked.is_some() {
            match jobs.try_recv() {
                Ok(j) => Some(j),
                Err(TryRecvError::Empty) => {
                    if let Err(e) = wal.flush_marker() {
                        let _ = done.send(PersistDone::Failed(e.to_string()));
                        return;
                    }
                    let _ = done.send(unmarked.take().expect("checked"));
                    continue;
                }
                Err(TryRecvError::Disconnected) => {
                    let _ = wal.flush_marker();
                    return;
                }
            }
        } else {
            match jobs.recv_timeout(Duration::from_millis(200)) {
                Ok(j) => Some(j),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    if dirty {
                        let _ = wal.sync();
                    }
                    return;
                }
            }
        };
        let (policy, marker_before_ack) = {
            let s = settings.read();
            (s.appendfsync, s.wal_marker_before_ack)
        };
        let verify = policy == Fsync::Always && marker_before_ack;
        let mut batch: Vec<PersistJob> = first.into_iter().collect();
        while batch.len() < JOBS_PER_SYNC_MAX {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut last = None;
        let mut messages = Vec::new();
        let mut result = Ok(());
        let mut compact_upto = None;
        for job in batch.iter_mut() {
            if let Some(hs) = job.hard_state {
                last_hs = hs;
            }
            if let Some((index, term)) = job.reset {
                if let Err(e) = wal.reset(index, term, &last_hs) {
                    result = Err(e);
                    break;
                }
                dirty = true;
            }
            compact_upto = compact_upto.max(job.compact_upto);
            if job.hard_state.is_some() || !job.entries.is_empty() {
                if let Err(e) = wal.append(job.hard_state.as_ref(), &job.entries) {
                    result = Err(e);
                    break;
                }
                dirty = true;
            }
            if let Some(e) = job.entries.last() {
                last = Some((e.index, e.term));
            }
            messages.append(&mut job.messages);
        }
        let mut syncs = 0;
        if result.is_ok() && dirty {
            let due = match policy {
                Fsync::Always => true,
                Fsync::EverySec => last_sync.elapsed() >= Duration::from_secs(1),
                Fsync::No => false,
            };
            if due {
                result = wal.sync();
                syncs = 1;
                dirty = false;
                last_sync = Instant::now();
            }
        }
        if let (Ok(()), Some(upto)) = (&result, compact_upto) {
            result = wal.compact(upto);
        }
        // Rounds complete in order: one left unmarked goes first (this round's sync flushed
        // its marker; otherwise its marker is flushed now).
        if result.is_ok() && unmarked.is_some() && !(syncs > 0 && verify) {
            result = wal.flush_marker();
        }
        if let Err(e) = result {
            let _ = done.send(PersistDone::Failed(e.to_string()));
            return;
        }
        if let Some(prev) = unmarked.take() {
            let _ = done.send(prev);
        }
        // A sync on the timer (everysec) completes no job but is reported, for INFO.
        if !batch.is_empty() || syncs > 0 {
            let d = PersistDone::Durable {
                last,
                messages,
                syncs,
            };
            if syncs > 0 && verify {
                unmarked = Some(d);
            } else {
                let _ = done.send(d);
            }
        }
    }
}
