//! What a leader knows of each follower: how far its log matches, what to send next, how many
//! AppendEntries are in flight, and when it last answered.
//!
//! A follower is in one of two states:
//! - `Probe`: the leader does not know where the logs match. It sends one AppendEntries at a
//!   time and waits for the answer (or the next heartbeat answer) before sending another.
//! - `Replicate`: the logs match at `matched`. The leader streams entries optimistically,
//!   advancing `next` as it sends, with at most `max_inflight` messages unacknowledged.
//! - `Snapshot`: the entries the follower needs were compacted away; the node streams it a
//!   snapshot at `pending` and nothing else is sent until that ends.
//!
//! Invariant: `matched < next`.

use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressState {
    Probe,
    Replicate,
    Snapshot { pending: u64 },
}

/// A bounded window of AppendEntries sent and not yet acknowledged, each remembered by the last
/// index it carried.
#[derive(Debug, Clone)]
pub struct Inflights {
    last_indexes: VecDeque<u64>,
    cap: usize,
}

impl Inflights {
    pub fn new(cap: usize) -> Inflights {
        Inflights {
            last_indexes: VecDeque::with_capacity(cap),
            cap: cap.max(1),
        }
    }

    pub fn full(&self) -> bool {
        self.last_indexes.len() >= self.cap
    }

    pub fn add(&mut self, last_index: u64) {
        debug_assert!(!self.full());
        self.last_indexes.push_back(last_index);
    }

    /// Frees every message whose last index is <= `index` (acknowledged).
    pub fn free_to(&mut self, index: u64) {
        while self.last_indexes.front().is_some_and(|&i| i <= index) {
            self.last_indexes.pop_front();
        }
    }

    pub fn reset(&mut self) {
        self.last_indexes.clear();
    }

    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.last_indexes.len()
    }
}

#[derive(Debug, Clone)]
pub struct Progress {
    pub matched: u64,
    pub next: u64,
    pub state: ProgressState,
    /// In `Probe`: an AppendEntries is outstanding; send no other until it is answered or a
    /// heartbeat answer arrives.
    pub probe_sent: bool,
    pub inflights: Inflights,
    /// Heard from since the leader's last check-quorum.
    pub recent_active: bool,
    /// The highest heartbeat round this follower acknowledged in the current term.
    pub acked_round: u64,
    /// Leader's clock (ms) when this follower last answered, for INFO.
    pub last_contact_ms: u64,
}

impl Progress {
    pub fn new(next: u64, max_inflight: usize) -> Progress {
        Progress {
            matched: 0,
            next,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(max_inflight),
            recent_active: false,
            acked_round: 0,
            last_contact_ms: 0,
        }
    }

    pub fn become_probe(&mut self) {
        self.state = ProgressState::Probe;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub fn become_snapshot(&mut self, pending: u64) {
        self.state = ProgressState::Snapshot { pending };
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next = self.matched + 1;
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// May the leader send an AppendEntries now?
    pub fn paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    /// Records that an AppendEntries ending at `last` was sent (with entries if `last >= next`).
    pub fn sent(&mut self, last: u64, carried_entries: bool) {
        match self.state {
            ProgressState::Replicate => {
                if carried_entries {
                    self.next = last + 1;
                    self.inflights.add(last);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot { .. } => {}
        }
    }

    /// A successful AppendEntries response says the follower matches up to `index`.
    /// Returns false if it is stale (tells nothing new).
    pub fn maybe_update(&mut self, index: u64) -> bool {
        let mut updated = false;
        if index > self.matched {
            self.matched = index;
            self.probe_sent = false;
            updated = true;
        }
        self.next = self.next.max(index + 1);
        updated
    }

    /// A rejected AppendEntries whose previous index was `rejected`; `hint` is the highest
    /// index the leader now believes may match. Returns false if the rejection is stale.
    pub fn maybe_decr_to(&mut self, rejected: u64, hint: u64) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.matched {
                    return false;
                }
                self.next = self.matched + 1;
                true
            }
            ProgressState::Probe => {
                if self.next - 1 != rejected {
                    return false;
                }
                self.next = (rejected.min(hint + 1)).max(self.matched + 1);
                self.probe_sent = false;
                true
            }
            ProgressState::Snapshot { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflights_window_frees_in_order() {
        let mut f = Inflights::new(3);
        f.add(5);
        f.add(9);
        f.add(12);
        assert!(f.full());
        f.free_to(9);
        assert_eq!(f.in_flight(), 1);
        f.free_to(100);
        assert_eq!(f.in_flight(), 0);
    }

    #[test]
    fn replicate_advances_next_optimistically() {
        let mut p = Progress::new(1, 2);
        p.maybe_update(4);
        p.become_replicate();
        assert_eq!(p.next, 5);
        p.sent(8, true);
        assert_eq!(p.next, 9);
        p.sent(10, true);
        assert!(p.paused());
        p.maybe_update(8);
        p.inflights.free_to(8);
        assert!(!p.paused());
    }

    #[test]
    fn probe_sends_one_at_a_time() {
        let mut p = Progress::new(10, 4);
        assert!(!p.paused());
        p.sent(12, true);
        assert!(p.paused());
        assert_eq!(p.next, 10);
        // a rejection of prev index 9 with hint 5 moves next back to 6
        assert!(p.maybe_decr_to(9, 5));
        assert_eq!(p.next, 6);
        assert!(!p.paused());
        // a stale rejection is ignored
        assert!(!p.maybe_decr_to(9, 2));
    }

    #[test]
    fn stale_rejection_in_replicate_is_ignored() {
        let mut p = Progress::new(1, 4);
        p.maybe_update(7);
        p.become_replicate();
        assert!(!p.maybe_decr_to(6, 0));
        assert!(p.maybe_decr_to(9, 0));
        assert_eq!(p.next, 8);
    }
}
