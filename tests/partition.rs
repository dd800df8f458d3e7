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

use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{bulk, is_err, ok, wait_for, Client, Cluster, Frame};

/// One qdisc tree on `lo` at a time: the tests of this file take turns.
static TC: Mutex<()> = Mutex::new(());

fn tc_turn() -> MutexGuard<'static, ()> {
    TC.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The partition, undone when dropped (also when the test fails).
struct Cut;

impl Cut {
    /// Cuts `port` off: every packet to or from it is dropped. Or returns why it cannot.
    fn port(port: u16) -> Result<Cut, String> {
        Cut::packets(&[
            format!("match ip dport {port} 0xffff"),
            format!("match ip sport {port} 0xffff"),
        ])
    }

    /// Cuts every link between `ip` and each of `others`, both ways.
    fn between(ip: [u8; 4], others: &[[u8; 4]]) -> Result<Cut, String> {
        let dotted = |[a, b, c, d]: [u8; 4]| format!("{a}.{b}.{c}.{d}/32");
        let mut matches = Vec::new();
        for &o in others {
            matches.push(format!(
                "match ip src {} match ip dst {}",
                dotted(ip),
                dotted(o)
            ));
            matches.push(format!(
                "match ip src {} match ip dst {}",
                dotted(o),
                dotted(ip)
            ));
        }
        Cut::packets(&matches)
    }

    /// Drops every loopback packet one of the u32 `matches` selects.
    fn packets(matches: &[String]) -> Result<Cut, String> {
        if !tc(&[
            "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10",
        ])? {
            return Err("tc cannot add an htb qdisc on lo (not root, or no sch_htb)".into());
        }
        let cut = Cut;
        let mut steps: Vec<String> = vec![
            "class add dev lo parent 1: classid 1:10 htb rate 10gbit".into(),
            "class add dev lo parent 1: classid 1:20 htb rate 8bit ceil 8bit".into(),
            // A queue of no packets: each is dropped as it arrives. (Packets left queued in
            // the host are not lost to TCP: it sends them again the moment they are freed.)
            "qdisc add dev lo parent 1:20 handle 20: pfifo limit 0".into(),
        ];
        for m in matches {
            steps.push(format!(
                "filter add dev lo parent 1: protocol ip prio 1 u32 {m} flowid 1:20"
            ));
        }
        for step in &steps {
            let args: Vec<&str> = step.split(' ').collect();
            if !tc(&args)? {
                return Err(format!("tc {step} failed"));
            }
        }
        Ok(cut)
    }
}

impl Drop for Cut {
    fn drop(&mut self) {
        let _ = tc(&["qdisc", "del", "dev", "lo", "root"]);
    }
}

/// Runs `tc`; Ok(false) when it ran and failed, Err when it is not there.
fn tc(args: &[&str]) -> Result<bool, String> {
    let out = Command::new("tc")
        .args(args)
        .output()
        .map_err(|e| format!("tc: {e}"))?;
    if !out.status.success() {
        eprintln!(
            "tc {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out.status.success())
}

fn set_all(c: &mut Client, prefix: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 0..n {
        loop {
            let r = c.cmd(&["SET", &format!("{prefix}:{i}"), &format!("v{i}")]);
            if r == ok() {
                break;
            }
            // Idempotent: a write refused or of unknown outcome is simply sent again.
            assert!(
                is_err(&r, "TRYAGAIN") || is_err(&r, "UNCERTAIN"),
                "SET {prefix}:{i}: {r:?}"
            );
            assert!(Instant::now() < deadline, "writes kept failing: {r:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

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
    set_all(&mut c, "before", 200);

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
    set_all(&mut c, "during", 300);

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
        set_all(&mut c, "during2", 1);
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
    let digests = cluster.converged_digests(Duration::from_secs(20));
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {digests:?}"
    );
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
