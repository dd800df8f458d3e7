//! Network partitions on loopback: the packets of a cut are steered into a traffic-control
//! class whose queue holds nothing (`tc`: htb, u32 and a pfifo of limit 0 on `lo`), so they
//! are silently dropped, as on a real network that lost a link: no reset, no error.
//!
//! Needs root and a kernel with sch_htb, sch_pfifo and cls_u32 (the CI machine has them).
//! Where `tc` cannot set the class up the test says so on stderr (`skipped: ...`) and returns:
//! it cannot cut a network it cannot touch. The tests take turns: one qdisc tree at a time.
//!
//! Two cuts:
//! - by port: every packet to or from the leader's bus port. One-way at the TCP level but
//!   total for Raft: nothing reaches the node's bus port, so nothing it sends is ever
//!   acknowledged. The node still sends: a leader cut off this way keeps heartbeating its
//!   followers, which is the case check-quorum and the lease exist for.
//! - by address: each node on its own loopback address (`Cluster::start_spread`, with
//!   `bind-source-addr`), and every packet between the leader's address and the others'
//!   dropped, both ways. Clients connect from 127.0.0.1 and are not cut.

mod common;

use std::time::{Duration, Instant};

use common::cut::{tc_turn, Cut};
use common::{bulk, ok, set_cmds, wait_for, write_all, Client, Cluster, Frame};

fn reads_back(c: &mut Client, prefix: &str, n: usize) -> bool {
    let cmds: Vec<Vec<String>> = (0..n)
        .map(|i| vec!["GET".into(), format!("{prefix}:{i}")])
        .collect();
    let replies = c.pipeline(&cmds);
    replies
        .iter()
        .enumerate()
        .all(|(i, r)| *r == bulk(&format!("v{i}")))
}

/// The scenario both cuts run: the leader is cut off (`cut` gets the cluster and the leader's
/// index) for `hold`. The other two elect a leader and take writes; the old leader must not
/// answer a read with the value the group overwrote, nor acknowledge a write; once the network
/// heals it must hold every write made without it within `heal_deadline`, not at TCP's next
/// retransmission; then the replicas converge.
fn leader_cut_off(
    cluster: &Cluster,
    cut: impl FnOnce(&Cluster, usize) -> Result<Cut, String>,
    hold: Duration,
    heal_deadline: Duration,
) {
    let old = cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[old].client();
    assert_eq!(c.cmd(&["SET", "k", "before"]), ok());
    write_all(&mut c, &set_cmds("before", 200));

    let cut = match cut(cluster, old) {
        Ok(cut) => cut,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let cut_at = Instant::now();
    let others: Vec<usize> = (0..3).filter(|&i| i != old).collect();
    let new = wait_for(
        "the two connected nodes to elect a leader",
        Duration::from_secs(20),
        || {
            others
                .iter()
                .copied()
                .find(|&i| cluster.nodes[i].info_field("raft_role").as_deref() == Some("leader"))
        },
    );
    eprintln!("new leader after {:?}", cut_at.elapsed());
    let mut c = cluster.nodes[new].client();
    assert_eq!(c.cmd(&["SET", "k", "after"]), ok());
    write_all(&mut c, &set_cmds("during", 300));

    // The old leader lost its lease before the others could elect anyone: whatever it
    // answers, it is not the value the group has overwritten, and no write is acknowledged.
    for cmd in [&["GET", "k"][..], &["SET", "k", "lost"][..]] {
        let mut cut_off = cluster.nodes[old].client();
        cut_off.set_read_timeout(Some(Duration::from_secs(20)));
        match cut_off.try_cmd(cmd) {
            Some(Frame::Error(_)) | None => {}
            Some(r) => panic!("the cut-off old leader answered {cmd:?} with {r:?}"),
        }
    }

    while cut_at.elapsed() < hold {
        std::thread::sleep(Duration::from_millis(200));
        write_all(&mut c, &set_cmds("during2", 1));
    }
    drop(cut);
    let healed_at = Instant::now();
    let mut back = cluster.nodes[old].client();
    wait_for(
        "the old leader to read back every write made without it",
        heal_deadline,
        || {
            (back.try_cmd(&["GET", "k"]) == Some(bulk("after"))
                && reads_back(&mut back, "during", 300))
            .then_some(())
        },
    );
    eprintln!(
        "the old leader caught up {:?} after the heal",
        healed_at.elapsed()
    );
    assert_eq!(c.cmd(&["GET", "k"]), bulk("after"));
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
}

/// The leader's bus port is cut for 30 s, long enough for TCP's retransmission backoff to
/// pass 10 s.
#[test]
fn a_leader_cut_off_by_a_partition_serves_no_stale_read_and_rejoins_soon_after_it_heals() {
    let _turn = tc_turn();
    let cluster = Cluster::start(3, &[]);
    leader_cut_off(
        &cluster,
        |cluster, old| Cut::port(cluster.nodes[old].bus),
        Duration::from_secs(30),
        Duration::from_secs(8),
    );
}

/// A symmetric partition: the leader, on its own loopback address, can neither send to nor
/// hear from the other two for 10 s.
#[test]
fn a_leader_isolated_both_ways_serves_no_stale_read_and_holds_every_write_after_the_heal() {
    let _turn = tc_turn();
    let cluster = Cluster::start_spread(3, &[]);
    leader_cut_off(
        &cluster,
        |cluster, old| {
            let others: Vec<[u8; 4]> = (0..3)
                .filter(|&i| i != old)
                .map(|i| cluster.nodes[i].ip)
                .collect();
            Cut::between(cluster.nodes[old].ip, &others)
        },
        Duration::from_secs(10),
        Duration::from_secs(10),
    );
}
