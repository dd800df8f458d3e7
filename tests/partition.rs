//! A network partition on loopback: packets to and from one node's bus port are steered into a
//! traffic-control class whose queue holds nothing (`tc`: htb, u32 and a pfifo of limit 0 on
//! `lo`), so they are silently dropped, as on a real network that lost a link: no reset, no
//! error, TCP retransmits into the void with its backoff growing.
//!
//! Needs root and a kernel with sch_htb, sch_pfifo and cls_u32 (the CI machine has both). Where `tc`
//! cannot set the class up the test says so on stderr and returns: it cannot cut a network it
//! cannot touch.
//!
//! The cut is one-way at the TCP level but total for Raft: nothing reaches the node's bus port,
//! so nothing it sends is ever acknowledged (votes, appends and heartbeats all travel to the
//! receiver's bus port). The node still sends: a leader cut off this way keeps heartbeating its
//! followers, which is the case check-quorum and the lease exist for.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{bulk, is_err, ok, wait_for, Client, Cluster, Frame};

/// The partition, undone when dropped (also when the test fails).
struct Cut;

impl Cut {
    /// Cuts `port` off, or returns why it cannot.
    fn port(port: u16) -> Result<Cut, String> {
        if !tc(&[
            "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "10",
        ])? {
            return Err("tc cannot add an htb qdisc on lo (not root, or no sch_htb)".into());
        }
        let cut = Cut;
        let steps: Vec<Vec<String>> = vec![
            "class add dev lo parent 1: classid 1:10 htb rate 10gbit".into(),
            "class add dev lo parent 1: classid 1:20 htb rate 8bit ceil 8bit".into(),
            // A queue of no packets: each is dropped as it arrives. (Packets left queued in
            // the host are not lost to TCP: it sends them again the moment they are freed.)
            "qdisc add dev lo parent 1:20 handle 20: pfifo limit 0".into(),
            format!("filter add dev lo parent 1: protocol ip prio 1 u32 match ip dport {port} 0xffff flowid 1:20"),
            format!("filter add dev lo parent 1: protocol ip prio 1 u32 match ip sport {port} 0xffff flowid 1:20"),
        ]
        .into_iter()
        .map(|s: String| s.split(' ').map(String::from).collect())
        .collect();
        for args in &steps {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if !tc(&args)? {
                return Err(format!("tc {} failed", args.join(" ")));
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

/// The leader is cut off from the bus for 30 s (long enough for TCP's retransmission backoff
/// to pass 10 s). The other two elect a leader and take writes; the old leader must not answer
/// a read with the value it held before the cut; once the network heals it must be back in the
/// group, holding every write made without it, within seconds, not at TCP's next
/// retransmission.
#[test]
fn a_leader_cut_off_by_a_partition_serves_no_stale_read_and_rejoins_soon_after_it_heals() {
    let cluster = Cluster::start(3, &[]);
    let old = cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[old].client();
    assert_eq!(c.cmd(&["SET", "k", "before"]), ok());
    set_all(&mut c, "before", 200);

    let cut = match Cut::port(cluster.nodes[old].bus) {
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
    // answers, it is not the value the group has overwritten.
    let mut stale = cluster.nodes[old].client();
    stale.set_read_timeout(Some(Duration::from_secs(20)));
    match stale.try_cmd(&["GET", "k"]) {
        Some(Frame::Error(_)) | None => {}
        Some(r) => panic!("the cut-off old leader answered GET k with {r:?}"),
    }

    while cut_at.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(200));
        set_all(&mut c, "during2", 1);
    }
    drop(cut);
    let healed_at = Instant::now();
    let mut back = cluster.nodes[old].client();
    wait_for(
        "the old leader to read back every write made without it",
        Duration::from_secs(8),
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
    let digests = cluster.converged_digests(Duration::from_secs(20));
    assert!(
        digests.windows(2).all(|w| w[0] == w[1]),
        "replicas differ: {digests:?}"
    );
}
