//! Check-quorum's vote refusal across a restart (thesis §6.4.1): a leader's lease may rest on a
//! follower's acknowledgement of a heartbeat round; if that follower crashes and restarts at
//! once it no longer knows it heard from a leader, and granting a vote then would let a second
//! leader commit while the first still serves lease reads. A node so refuses (pre-)votes for
//! one election timeout after it starts, whatever it remembers.

use raftis::raft::{Body, Config, HardState, Membership, Message, Raft, Restored};

const ELECTION_TIMEOUT_MS: u64 = 100;

fn config(id: u64) -> Config {
    Config {
        id,
        election_timeout_ms: ELECTION_TIMEOUT_MS,
        heartbeat_interval_ms: 20,
        lease_margin_ms: 10,
        max_msg_bytes: 1 << 20,
        max_inflight_msgs: 4,
        seed: id * 7919,
    }
}

fn membership() -> Membership {
    let mut m = Membership::default();
    for id in 1..=3 {
        m.voters.insert(id, format!("127.0.0.1:{id}@1{id}"));
    }
    m
}

/// Node 2, restarted at `start` with term 1 in its hard state, receives (pre-)vote requests
/// from node 3 for term 2 at `at`; true when it grants any.
fn grants_vote(start: u64, at: u64, pre: bool) -> bool {
    let restored = Restored {
        hard_state: HardState {
            term: 1,
            vote: 1,
            commit: 0,
        },
        ..Restored::default()
    };
    let mut n = Raft::new(config(2), restored, membership(), start);
    n.tick(at);
    n.step(Message {
        from: 3,
        to: 2,
        term: 2,
        body: Body::Vote {
            pre,
            last_index: 0,
            last_term: 0,
            transfer: false,
        },
    });
    let mut granted = false;
    while n.has_ready() {
        let rd = n.ready();
        for m in rd.messages.iter().chain(&rd.persist_messages) {
            if let Body::VoteResp { reject: false, .. } = m.body {
                granted = true;
            }
        }
    }
    granted
}

#[test]
fn a_restarted_node_refuses_votes_for_one_election_timeout_section_6_4_1() {
    let start = 10_000;
    for pre in [true, false] {
        assert!(
            !grants_vote(start, start + 1, pre),
            "pre={pre}: granted at once"
        );
        assert!(
            !grants_vote(start, start + ELECTION_TIMEOUT_MS - 1, pre),
            "pre={pre}: granted before an election timeout"
        );
        assert!(
            grants_vote(start, start + ELECTION_TIMEOUT_MS, pre),
            "pre={pre}: still refused after an election timeout"
        );
    }
}
