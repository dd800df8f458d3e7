//! The Raft log as the core sees it: entries in memory, and the four positions that move
//! through it.
//!
//! ```text
//!   first_index ........ applied ... committed ... persisted ... last_index
//!                                                  ^ unpersisted_from (next to hand to the WAL)
//! ```
//!
//! Invariants:
//! - indexes are contiguous from `first_index` to `last_index`;
//! - `applied <= committed <= last_index` and `persisted <= last_index`;
//! - a committed entry is never truncated (a conflicting append below `committed` is a broken
//!   invariant and panics: the node must stop rather than diverge);
//! - `unpersisted_from - 1 <= last_index`: every entry below it was handed out for persistence.
//!
//! It does no I/O: the node persists what `take_unpersisted` hands out and reports back with
//! `persisted_to`.

use std::collections::VecDeque;

use super::types::Entry;

#[derive(Debug)]
pub struct RaftLog {
    entries: VecDeque<Entry>,
    /// Index of `entries[0]`; `last_index + 1` when empty.
    first_index: u64,
    /// Index and term of the entry just before `first_index` (0, 0 for a log that starts at 1).
    /// Kept so that AppendEntries consistency checks work at the log's front.
    prev_index: u64,
    prev_term: u64,
    pub committed: u64,
    /// Highest index handed out for apply.
    pub applied: u64,
    /// Highest index known durable in this node's WAL (as part of the current log).
    pub persisted: u64,
    /// First index not yet handed to the node for persistence.
    unpersisted_from: u64,
}

impl RaftLog {
    /// A log recovered from durable storage: `entries` start at `first_index` and are all
    /// persisted already.
    pub fn new(first_index: u64, prev_term: u64, entries: Vec<Entry>, committed: u64) -> RaftLog {
        debug_assert!(first_index >= 1);
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(
                e.index,
                first_index + i as u64,
                "recovered log is not contiguous"
            );
        }
        let last = first_index + entries.len() as u64 - 1;
        let committed = committed.min(last).max(first_index - 1);
        RaftLog {
            entries: entries.into(),
            first_index,
            prev_index: first_index - 1,
            prev_term,
            committed,
            applied: first_index - 1,
            persisted: last,
            unpersisted_from: last + 1,
        }
    }

    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    pub fn last_index(&self) -> u64 {
        self.first_index + self.entries.len() as u64 - 1
    }

    pub fn last_term(&self) -> u64 {
        self.entries.back().map_or(self.prev_term, |e| e.term)
    }

    /// The term of the entry at `index`, if this log knows it (including the entry just before
    /// the first one kept in memory).
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.prev_index {
            return Some(self.prev_term);
        }
        if index < self.first_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.first_index) as usize].term)
    }

    pub fn entry(&self, index: u64) -> Option<&Entry> {
        if index < self.first_index || index > self.last_index() {
            return None;
        }
        Some(&self.entries[(index - self.first_index) as usize])
    }

    /// True if the log holds an entry at `index` with `term`.
    pub fn matches(&self, index: u64, term: u64) -> bool {
        self.term(index) == Some(term)
    }

    /// Index and term of the entry just before the first one kept (a snapshot's, or 0, 0).
    pub fn prev(&self) -> (u64, u64) {
        (self.prev_index, self.prev_term)
    }

    /// Drops the entries up to `index` from memory: they are covered by a snapshot. Only
    /// applied, persisted entries may go.
    pub fn compact(&mut self, index: u64) {
        let index = index.min(self.applied).min(self.persisted);
        if index < self.first_index {
            return;
        }
        let term = self.term(index).expect("raft: compacting past the log");
        let drop = (index + 1 - self.first_index) as usize;
        self.entries.drain(..drop);
        self.first_index = index + 1;
        self.prev_index = index;
        self.prev_term = term;
    }

    /// Installs a snapshot at (index, term): entries after it that match are kept (§7: "If
    /// existing log entry has same index and term as snapshot's last included entry, retain log
    /// entries following it"), everything else is discarded. The snapshot's entries count as
    /// committed, applied and persisted. Returns whether the log was discarded entirely.
    pub fn restore(&mut self, index: u64, term: u64) -> bool {
        let keep = self.matches(index, term) && index >= self.first_index;
        if keep {
            let drop = (index + 1 - self.first_index) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.first_index = index + 1;
        self.prev_index = index;
        self.prev_term = term;
        self.committed = self.committed.max(index);
        self.applied = index;
        self.persisted = if keep {
            self.persisted.max(index)
        } else {
            index
        };
        self.unpersisted_from = if keep {
            self.unpersisted_from.max(index + 1)
        } else {
            index + 1
        };
        !keep
    }

    /// Raft §5.4.1: is a log ending at (last_term, last_index) at least as up-to-date as ours?
    pub fn is_up_to_date(&self, last_index: u64, last_term: u64) -> bool {
        last_term > self.last_term()
            || (last_term == self.last_term() && last_index >= self.last_index())
    }

    /// Appends an entry created by this node as leader.
    pub fn push(&mut self, entry: Entry) {
        debug_assert_eq!(entry.index, self.last_index() + 1);
        self.entries.push_back(entry);
    }

    /// Appends entries received from the leader after the consistency check passed at
    /// `entries[0].index - 1`. Entries already present with the same term are skipped; the first
    /// conflicting one truncates our suffix from there (Raft §5.3). Returns the last index the
    /// leader's message proves we match.
    pub fn append_from_leader(&mut self, entries: Vec<Entry>) -> u64 {
        let mut last_new = 0;
        for e in entries {
            last_new = e.index;
            match self.term(e.index) {
                Some(t) if t == e.term => continue,
                Some(_) => {
                    assert!(
                        e.index > self.committed,
                        "raft: leader overwrites committed entry {} (committed {})",
                        e.index,
                        self.committed
                    );
                    self.truncate_from(e.index);
                    self.entries.push_back(e);
                }
                None => {
                    if e.index == self.last_index() + 1 {
                        self.entries.push_back(e);
                    }
                    // An entry below first_index is already compacted (and therefore committed
                    // and matching); one beyond last+1 cannot happen after the consistency check.
                }
            }
        }
        last_new
    }

    fn truncate_from(&mut self, index: u64) {
        let keep = (index - self.first_index) as usize;
        self.entries.truncate(keep);
        self.persisted = self.persisted.min(index - 1);
        self.unpersisted_from = self.unpersisted_from.min(index);
    }

    /// Entries in `[from, to]`, at most `max_bytes` of them (but at least one).
    pub fn slice(&self, from: u64, to: u64, max_bytes: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        if from < self.first_index || from > to {
            return out;
        }
        let mut bytes = 0;
        for i in from..=to.min(self.last_index()) {
            let e = &self.entries[(i - self.first_index) as usize];
            bytes += e.size();
            if !out.is_empty() && bytes > max_bytes {
                break;
            }
            out.push(e.clone());
        }
        out
    }

    /// Hands out the entries that still need persisting, and marks them handed out.
    pub fn take_unpersisted(&mut self) -> Vec<Entry> {
        let from = self.unpersisted_from;
        let last = self.last_index();
        if from > last {
            return Vec::new();
        }
        self.unpersisted_from = last + 1;
        self.entries
            .range((from - self.first_index) as usize..)
            .cloned()
            .collect()
    }

    pub fn has_unpersisted(&self) -> bool {
        self.unpersisted_from <= self.last_index()
    }

    /// The WAL made everything up to `(index, term)` durable. Ignored when that entry has since
    /// been replaced (the log was truncated while the write was in flight).
    pub fn persisted_to(&mut self, index: u64, term: u64) -> bool {
        if index > self.persisted && index < self.unpersisted_from && self.matches(index, term) {
            self.persisted = index;
            return true;
        }
        false
    }

    pub fn commit_to(&mut self, index: u64) -> bool {
        let index = index.min(self.last_index());
        if index > self.committed {
            self.committed = index;
            return true;
        }
        false
    }

    pub fn has_unapplied(&self) -> bool {
        self.applied < self.committed
    }

    /// Hands out committed entries not yet applied, and marks them applied.
    pub fn take_committed(&mut self) -> Vec<Entry> {
        if self.applied >= self.committed {
            return Vec::new();
        }
        let from = (self.applied + 1 - self.first_index) as usize;
        let to = (self.committed + 1 - self.first_index) as usize;
        self.applied = self.committed;
        self.entries.range(from..to).cloned().collect()
    }

    /// The largest index <= `index` whose term is <= `term` (the Raft thesis's fast log
    /// backtracking: skip a whole term of conflicting entries per round trip).
    pub fn find_conflict_by_term(&self, index: u64, term: u64) -> u64 {
        let mut i = index.min(self.last_index());
        while i > self.prev_index {
            match self.term(i) {
                Some(t) if t > term => i -= 1,
                _ => break,
            }
        }
        i
    }

    /// Every entry in memory (for tests and checkers).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::EntryKind;
    use bytes::Bytes;

    fn e(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            kind: EntryKind::Normal,
            data: Bytes::new(),
        }
    }

    fn log_of(terms: &[u64]) -> RaftLog {
        let entries = terms
            .iter()
            .enumerate()
            .map(|(i, t)| e(i as u64 + 1, *t))
            .collect();
        RaftLog::new(1, 0, entries, 0)
    }

    #[test]
    fn empty_log_positions() {
        let l = RaftLog::new(1, 0, vec![], 0);
        assert_eq!(l.last_index(), 0);
        assert_eq!(l.last_term(), 0);
        assert_eq!(l.term(0), Some(0));
        assert_eq!(l.term(1), None);
    }

    #[test]
    fn conflicting_append_truncates_suffix_section_5_3() {
        let mut l = log_of(&[1, 1, 2, 2, 2]);
        let last = l.append_from_leader(vec![e(4, 3), e(5, 3), e(6, 3)]);
        assert_eq!(last, 6);
        let terms: Vec<u64> = l.entries().map(|e| e.term).collect();
        assert_eq!(terms, vec![1, 1, 2, 3, 3, 3]);
        assert_eq!(l.persisted, 3);
        assert_eq!(l.take_unpersisted().len(), 3);
    }

    #[test]
    fn matching_append_keeps_entries() {
        let mut l = log_of(&[1, 1, 2]);
        l.append_from_leader(vec![e(2, 1), e(3, 2)]);
        assert_eq!(l.last_index(), 3);
        assert!(!l.has_unpersisted());
    }

    #[test]
    #[should_panic(expected = "overwrites committed")]
    fn truncating_committed_entry_panics() {
        let mut l = log_of(&[1, 1, 2]);
        l.commit_to(3);
        l.append_from_leader(vec![e(3, 3)]);
    }

    #[test]
    fn up_to_date_compares_term_then_index_section_5_4_1() {
        let l = log_of(&[1, 2, 2]);
        assert!(l.is_up_to_date(3, 2));
        assert!(l.is_up_to_date(1, 3));
        assert!(!l.is_up_to_date(2, 2));
        assert!(!l.is_up_to_date(10, 1));
    }

    #[test]
    fn persisted_to_ignores_replaced_entries() {
        let mut l = log_of(&[]);
        l.push(e(1, 1));
        l.push(e(2, 1));
        assert_eq!(l.take_unpersisted().len(), 2);
        l.append_from_leader(vec![e(2, 2)]);
        assert!(!l.persisted_to(2, 1));
        assert!(l.persisted_to(1, 1));
        assert_eq!(l.take_unpersisted().len(), 1);
        assert!(l.persisted_to(2, 2));
        assert_eq!(l.persisted, 2);
    }

    #[test]
    fn find_conflict_by_term_skips_a_term() {
        let l = log_of(&[1, 1, 2, 2, 4, 4, 4]);
        assert_eq!(l.find_conflict_by_term(7, 3), 4);
        assert_eq!(l.find_conflict_by_term(7, 1), 2);
        assert_eq!(l.find_conflict_by_term(7, 0), 0);
        assert_eq!(l.find_conflict_by_term(3, 5), 3);
    }

    #[test]
    fn slice_respects_byte_limit_but_sends_one() {
        let l = log_of(&[1, 1, 1, 1]);
        assert_eq!(l.slice(1, 4, 0).len(), 1);
        assert_eq!(l.slice(1, 4, 48).len(), 2);
        assert_eq!(l.slice(2, 4, usize::MAX).len(), 3);
    }

    #[test]
    fn take_committed_hands_out_once() {
        let mut l = log_of(&[1, 1, 1]);
        l.commit_to(2);
        assert_eq!(l.take_committed().len(), 2);
        assert!(l.take_committed().is_empty());
        l.commit_to(9);
        assert_eq!(l.committed, 3);
        assert_eq!(l.take_committed().len(), 1);
    }
}
