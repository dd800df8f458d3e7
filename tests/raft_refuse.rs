//! `Raft::refuse_forwarded`: a leader answers writes a follower forwarded without appending
//! them (the node refused them, e.g. out of memory), and the follower's proposal ends with
//! `ProposeError::Refused` carrying the node's code. Two cores on a perfect network, persisted
//! at once.

use bytes::Bytes;
use raftis::raft::{Body, Config, Membership, Message, ProposeError, Raft, Ready, Restored, Role};

fn config(id: u64) -> Config {
    Config {
        id,
        election_timeout_ms: 100,
        heartbeat_interval_ms: 20,
        lease_margin_ms: 10,
        max_msg_bytes: 1 << 20,
        max_inflight_msgs: 4,
        seed: id * 7919,
    }
}

/// A proposal's id and where it went (or why not).
type Outcome = (u64, Result<(u64, u64), ProposeError>);

struct Net {
    nodes: Vec<Raft>,
    now: u64,
    /// Messages in flight; a filter may take Propose messages out for the test to handle.
    queue: Vec<Message>,
    outcomes: Vec<Outcome>,
}

impl Net {
    fn new() -> Net {
        let mut m = Membership::default();
        m.voters.insert(1, "127.0.0.1:1@11".into());
        m.voters.insert(2, "127.0.0.1:2@12".into());
        let nodes = (1..=2)
            .map(|id| Raft::new(config(id), Restored::default(), m.clone(), 0))
            .collect();
        Net {
            nodes,
            now: 0,
            queue: Vec::new(),
            outcomes: Vec::new(),
        }
    }

    fn handle(&mut self, i: usize, rd: Ready) {
        self.queue.extend(rd.messages);
        self.queue.extend(rd.persist_messages);
        if let Some(e) = rd.entries.last() {
            let (index, term) = (e.index, e.term);
            self.nodes[i].persisted(index, term);
        }
        self.outcomes
            .extend(rd.proposals.into_iter().map(|p| (p.id, p.result)));
    }

    /// Run until quiet; `intercept` sees every message first and may consume it.
    fn run(&mut self, ms: u64, intercept: &mut dyn FnMut(&mut Vec<Raft>, &Message) -> bool) {
        for _ in 0..ms {
            self.now += 1;
            for n in &mut self.nodes {
                n.tick(self.now);
            }
            loop {
                for i in 0..self.nodes.len() {
                    while self.nodes[i].has_ready() {
                        let rd = self.nodes[i].ready();
                        self.handle(i, rd);
                    }
                }
                if self.queue.is_empty() {
                    break;
                }
                for m in std::mem::take(&mut self.queue) {
                    if intercept(&mut self.nodes, &m) {
                        continue;
                    }
                    let to = (m.to - 1) as usize;
                    self.nodes[to].step(m);
                }
            }
        }
    }
}

#[test]
fn a_refused_forwarded_write_ends_refused_with_the_code_and_appends_nothing() {
    let mut net = Net::new();
    net.run(1000, &mut |_, _| false);
    let leader = net
        .nodes
        .iter()
        .position(|n| n.role() == Role::Leader)
        .expect("a leader");
    let follower = 1 - leader;
    let last = net.nodes[leader].last_index();

    // The leader's node refuses what it is forwarded: it answers instead of stepping.
    net.nodes[follower].propose(77, Bytes::from_static(b"write"));
    net.run(50, &mut |nodes, m| match &m.body {
        Body::Propose { proposals } => {
            let ids = proposals.iter().map(|(id, _)| *id).collect();
            nodes[(m.to - 1) as usize].refuse_forwarded(m.from, ids, 9);
            true
        }
        _ => false,
    });
    assert_eq!(
        net.outcomes
            .iter()
            .filter(|(id, _)| *id == 77)
            .collect::<Vec<_>>(),
        vec![&(77, Err(ProposeError::Refused(9)))]
    );
    assert_eq!(net.nodes[leader].last_index(), last, "nothing appended");

    // The same write, not refused, lands in the log.
    net.nodes[follower].propose(78, Bytes::from_static(b"write"));
    net.run(50, &mut |_, _| false);
    assert!(net.outcomes.iter().any(|(id, r)| *id == 78 && r.is_ok()));
    assert_eq!(net.nodes[leader].last_index(), last + 1);

    // A follower cannot refuse for the leader: the call does nothing there.
    net.nodes[follower].refuse_forwarded(leader as u64 + 1, vec![1], 9);
    assert!(
        !net.nodes[follower].has_ready() || {
            let rd = net.nodes[follower].ready();
            rd.messages
                .iter()
                .all(|m| !matches!(m.body, Body::ProposeRefused { .. }))
        }
    );
}
