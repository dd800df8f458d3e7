//! What became of each proposal a node made: applied (the caller answers with the replies of
//! the entry), definitely not committed (safe to retry), or unknown.
//!
//! Two sources of facts. The core says where a proposal went (`ProposalOutcome`): placed at
//! `(term, index)`, refused, or forwarded in term T and never answered. The node reports every
//! entry it applies, with the proposal id the entry carries when this node proposed it (the
//! payload's origin tag), and every snapshot it installs from the leader. From these each
//! proposal is settled exactly once:
//!
//! - Applied: the entry applied at its index has its term, or the entry carries its id.
//! - Not committed: the entry applied at its index has another term; or it was forwarded in
//!   term T, unanswered, and an entry of a term above T was applied without its id having
//!   been seen. Both follow from log matching: a leader appends a forwarded proposal only in
//!   the term the follower sent it in (a message of another term is refused), terms never
//!   decrease along the committed log, and entries are applied in order, so had it committed
//!   it would have been applied (and recognised) before the first entry of a later term.
//!   A proposal placed in a term after the last entry of a snapshot that covers its index is
//!   not in that snapshot, for the same reason.
//! - Unknown: a snapshot installed since it was proposed may hold it (its replies are not in
//!   a snapshot), it carries no tag and was applied before its index was known, or its
//!   deadline passed.
//!
//! Sans-IO, like the core: the node keeps its client channels in `W`, the simulation keeps
//! values it checks.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::core::{ProposalOutcome, ProposeError};
use super::message::ProposalId;

/// How a proposal ended when it was not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It never was and never will be applied: safe to retry.
    NotCommitted,
    /// It may or may not be applied.
    Uncertain,
    /// The core refused or could not place it: nothing was appended.
    Failed(ProposeError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Handed to the core; no outcome yet.
    Proposed,
    Placed {
        index: u64,
    },
    /// Forwarded in `term` and never answered.
    Unanswered {
        term: u64,
    },
}

struct Open<W> {
    waiter: W,
    deadline_ms: u64,
    /// Its entry carries its id (a client write); a membership change does not.
    tagged: bool,
    /// `Tracker::installs` when it was proposed.
    installs: u64,
    state: State,
}

pub struct Tracker<W> {
    open: HashMap<ProposalId, Open<W>>,
    /// (index, id) -> term of the proposals placed and not applied yet.
    placed: BTreeMap<(u64, ProposalId), u64>,
    /// (term, id) of forwards never answered, not settled yet.
    unanswered: BTreeSet<(u64, ProposalId)>,
    applied_index: u64,
    applied_term: u64,
    /// Snapshots installed from the leader so far, and the highest term among them.
    installs: u64,
    installed_term: u64,
    settled: Vec<(W, Fate)>,
}

impl<W> Tracker<W> {
    /// A tracker for a node whose state machine is at `(applied_index, applied_term)`.
    pub fn new(applied_index: u64, applied_term: u64) -> Self {
        Tracker {
            open: HashMap::new(),
            placed: BTreeMap::new(),
            unanswered: BTreeSet::new(),
            applied_index,
            applied_term,
            installs: 0,
            installed_term: 0,
            settled: Vec::new(),
        }
    }

    /// Proposals not settled yet.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// Tracks proposal `id`, just handed to the core. `tagged`: its entry will carry `id`.
    pub fn propose(&mut self, id: ProposalId, waiter: W, deadline_ms: u64, tagged: bool) {
        let open = Open {
            waiter,
            deadline_ms,
            tagged,
            installs: self.installs,
            state: State::Proposed,
        };
        self.open.insert(id, open);
    }

    /// The core's word on where a proposal went.
    pub fn outcome(&mut self, o: ProposalOutcome) {
        let id = o.id;
        // Settled already (applied by its tag before its index was known, or expired).
        let Some(p) = self.open.get(&id) else {
            return;
        };
        // One outcome per proposal; a second would leave a stale index behind.
        if p.state != State::Proposed {
            return;
        }
        let tagged = p.tagged;
        // A snapshot installed since it was proposed may hold an entry of `term`.
        let since = p.installs != self.installs;
        let covered = |term: u64| since && self.installed_term >= term;
        match o.result {
            Ok((term, index)) if index > self.applied_index => {
                self.set_state(id, State::Placed { index });
                self.placed.insert((index, id), term);
            }
            // Its index was applied already and did not carry its id: another entry is there.
            Ok((term, _)) => {
                let fate = if tagged && !covered(term) {
                    Fate::NotCommitted
                } else {
                    Fate::Uncertain
                };
                self.settle(id, fate);
            }
            Err(ProposeError::Unanswered { term }) => {
                if !tagged || covered(term) {
                    self.settle(id, Fate::Uncertain);
                } else if self.applied_term > term {
                    self.settle(id, Fate::NotCommitted);
                } else {
                    self.set_state(id, State::Unanswered { term });
                    self.unanswered.insert((term, id));
                }
            }
            Err(e) => self.settle(id, Fate::Failed(e)),
        }
    }

    /// The node applied the entry `(index, term)`; `mine` is the proposal id it carries if
    /// this node proposed it. Returns the waiter of the proposal it holds, if any: the caller
    /// answers it with the entry's replies.
    pub fn applied(&mut self, index: u64, term: u64, mine: Option<ProposalId>) -> Option<W> {
        let mut hit = None;
        // Proposals placed at this index (rarely more than one): no allocation on the apply
        // path.
        while let Some((&(_, id), &t)) = self
            .placed
            .range((index, 0)..=(index, ProposalId::MAX))
            .next()
        {
            self.placed.remove(&(index, id));
            if t == term {
                hit = Some(id);
            } else {
                self.settle(id, Fate::NotCommitted);
            }
        }
        let hit = hit.or(mine.filter(|id| self.open.contains_key(id)));
        let waiter = hit.and_then(|id| self.take(id)).map(|p| p.waiter);
        self.applied_index = index;
        if term > self.applied_term {
            self.applied_term = term;
            while let Some(&(t, id)) = self.unanswered.first() {
                if t >= term {
                    break;
                }
                self.settle(id, Fate::NotCommitted);
            }
        }
        waiter
    }

    /// The node installed a snapshot from the leader, at `(index, term)`: what it covers was
    /// applied without this node seeing the entries.
    pub fn installed_snapshot(&mut self, index: u64, term: u64) {
        self.installs += 1;
        self.installed_term = self.installed_term.max(term);
        // Placed at an index the snapshot covers: in it, unless placed in a term after the
        // snapshot's last entry. Terms never decrease along the committed log, so the entry
        // the snapshot holds at that index is of `term` or earlier: not this proposal.
        let covered: Vec<(ProposalId, Fate)> = self
            .placed
            .range(..=(index, ProposalId::MAX))
            .map(|(&(_, id), &placed_term)| {
                let fate = if placed_term > term {
                    Fate::NotCommitted
                } else {
                    Fate::Uncertain
                };
                (id, fate)
            })
            .chain(
                self.unanswered
                    .iter()
                    .take_while(|(t, _)| *t <= term)
                    .map(|&(_, id)| (id, Fate::Uncertain)),
            )
            .collect();
        for (id, fate) in covered {
            self.settle(id, fate);
        }
        self.applied_index = self.applied_index.max(index);
        self.applied_term = self.applied_term.max(term);
    }

    /// Settles as unknown every proposal whose deadline is at or before `now_ms`.
    pub fn expire(&mut self, now_ms: u64) {
        let due: Vec<ProposalId> = self
            .open
            .iter()
            .filter(|(_, p)| p.deadline_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.settle(id, Fate::Uncertain);
        }
    }

    /// The proposals settled (not applied) since the last call.
    pub fn drain_settled(&mut self) -> std::vec::Drain<'_, (W, Fate)> {
        self.settled.drain(..)
    }

    fn set_state(&mut self, id: ProposalId, state: State) {
        if let Some(p) = self.open.get_mut(&id) {
            p.state = state;
        }
    }

    fn settle(&mut self, id: ProposalId, fate: Fate) {
        if let Some(p) = self.take(id) {
            self.settled.push((p.waiter, fate));
        }
    }

    fn take(&mut self, id: ProposalId) -> Option<Open<W>> {
        let p = self.open.remove(&id)?;
        match p.state {
            State::Proposed => {}
            State::Placed { index } => {
                self.placed.remove(&(index, id));
            }
            State::Unanswered { term } => {
                self.unanswered.remove(&(term, id));
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(id: ProposalId, term: u64, index: u64) -> ProposalOutcome {
        ProposalOutcome {
            id,
            result: Ok((term, index)),
        }
    }

    fn unanswered(id: ProposalId, term: u64) -> ProposalOutcome {
        ProposalOutcome {
            id,
            result: Err(ProposeError::Unanswered { term }),
        }
    }

    fn settled(t: &mut Tracker<&'static str>) -> Vec<(&'static str, Fate)> {
        let mut v: Vec<_> = t.drain_settled().collect();
        v.sort_by_key(|(w, _)| *w);
        v
    }

    #[test]
    fn the_entry_at_its_index_decides_by_term() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "a", 100, true);
        t.propose(2, "b", 100, true);
        t.outcome(placed(1, 2, 5));
        t.outcome(placed(2, 2, 6));
        assert_eq!(t.applied(5, 2, Some(1)), Some("a"));
        // Another leader's entry at index 6: ours was overwritten.
        assert_eq!(t.applied(6, 3, None), None);
        assert_eq!(settled(&mut t), vec![("b", Fate::NotCommitted)]);
        assert!(t.is_empty());
    }

    #[test]
    fn an_untagged_proposal_is_recognised_by_term_and_index() {
        let mut t = Tracker::new(0, 1);
        t.propose(9, "conf", 100, false);
        t.outcome(placed(9, 1, 3));
        assert_eq!(t.applied(3, 1, None), Some("conf"));
        assert!(t.is_empty());
    }

    #[test]
    fn two_proposals_placed_at_one_index_in_different_terms_settle_both() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "old", 100, true);
        t.propose(2, "new", 100, true);
        t.outcome(placed(1, 2, 4));
        t.outcome(placed(2, 3, 4));
        assert_eq!(t.applied(4, 3, Some(2)), Some("new"));
        assert_eq!(settled(&mut t), vec![("old", Fate::NotCommitted)]);
    }

    #[test]
    fn a_tagged_entry_applied_before_its_index_is_known_is_recognised() {
        let mut t = Tracker::new(0, 1);
        t.propose(7, "a", 100, true);
        assert_eq!(t.applied(1, 1, Some(7)), Some("a"));
        // The leader's answer arrives late: nothing left to settle.
        t.outcome(placed(7, 1, 1));
        assert!(settled(&mut t).is_empty());
    }

    #[test]
    fn an_index_applied_without_its_tag_holds_another_entry() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "tagged", 100, true);
        t.propose(2, "untagged", 100, false);
        t.applied(1, 2, None);
        t.applied(2, 2, None);
        t.outcome(placed(1, 1, 1));
        t.outcome(placed(2, 1, 2));
        assert_eq!(
            settled(&mut t),
            vec![
                ("tagged", Fate::NotCommitted),
                ("untagged", Fate::Uncertain)
            ]
        );
    }

    #[test]
    fn an_unanswered_forward_is_decided_by_the_first_entry_of_a_later_term() {
        let mut t = Tracker::new(10, 4);
        t.propose(1, "committed", 100, true);
        t.propose(2, "lost", 100, true);
        t.outcome(unanswered(1, 4));
        t.outcome(unanswered(2, 4));
        // More entries of term 4: still open.
        assert_eq!(t.applied(11, 4, None), None);
        assert_eq!(t.applied(12, 4, Some(1)), Some("committed"));
        assert!(settled(&mut t).is_empty());
        assert_eq!(t.len(), 1);
        assert_eq!(t.applied(13, 5, None), None);
        assert_eq!(settled(&mut t), vec![("lost", Fate::NotCommitted)]);
        // Given up after the later term is applied: decided at once.
        t.propose(3, "late", 100, true);
        t.outcome(unanswered(3, 4));
        assert_eq!(settled(&mut t), vec![("late", Fate::NotCommitted)]);
    }

    #[test]
    fn a_snapshot_install_leaves_what_it_may_hold_unknown() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "placed", 100, true);
        t.propose(2, "forwarded", 100, true);
        t.propose(3, "later", 100, true);
        t.propose(4, "in-flight", 100, true);
        t.outcome(placed(1, 1, 3));
        t.outcome(unanswered(2, 1));
        t.outcome(placed(3, 2, 20));
        t.installed_snapshot(10, 2);
        assert_eq!(
            settled(&mut t),
            vec![("forwarded", Fate::Uncertain), ("placed", Fate::Uncertain)]
        );
        // Placed at an index the snapshot covers, learned after the install.
        t.outcome(placed(4, 2, 9));
        assert_eq!(settled(&mut t), vec![("in-flight", Fate::Uncertain)]);
        // A proposal made after the install is decided as usual.
        t.propose(5, "after", 100, true);
        t.outcome(placed(5, 2, 21));
        assert_eq!(t.applied(20, 2, Some(3)), Some("later"));
        assert_eq!(t.applied(21, 3, None), None);
        assert_eq!(settled(&mut t), vec![("after", Fate::NotCommitted)]);
    }

    #[test]
    fn placed_in_a_term_after_the_snapshot_last_entry_it_is_not_in_the_snapshot() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "overwritten", 100, true);
        t.propose(2, "same-term", 100, true);
        // Placed by a leader of term 3 at index 8, which the snapshot (last entry of term 2)
        // covers: the entry it holds at 8 is of term 2 or earlier.
        t.outcome(placed(1, 3, 8));
        t.outcome(placed(2, 2, 9));
        t.installed_snapshot(10, 2);
        assert_eq!(
            settled(&mut t),
            vec![
                ("overwritten", Fate::NotCommitted),
                ("same-term", Fate::Uncertain)
            ]
        );
    }

    #[test]
    fn an_unanswered_forward_of_a_term_after_the_snapshot_is_not_covered() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "a", 100, true);
        t.installed_snapshot(10, 2);
        t.outcome(unanswered(1, 3));
        assert!(settled(&mut t).is_empty());
        t.applied(11, 4, None);
        assert_eq!(settled(&mut t), vec![("a", Fate::NotCommitted)]);
    }

    #[test]
    fn refusals_pass_through_and_deadlines_expire() {
        let mut t = Tracker::new(0, 1);
        t.propose(1, "refused", 100, true);
        t.propose(2, "slow", 50, true);
        t.propose(3, "fast", 200, true);
        t.outcome(ProposalOutcome {
            id: 1,
            result: Err(ProposeError::NoLeader),
        });
        t.outcome(placed(2, 1, 1));
        t.expire(60);
        assert_eq!(
            settled(&mut t),
            vec![
                ("refused", Fate::Failed(ProposeError::NoLeader)),
                ("slow", Fate::Uncertain)
            ]
        );
        // Settled ones are forgotten: the late apply finds nothing.
        assert_eq!(t.applied(1, 1, Some(2)), None);
        assert_eq!(t.len(), 1);
    }
}
