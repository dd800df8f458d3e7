//! Snapshots and log compaction with real processes (issue 5): a node restarts from its
//! snapshot plus the WAL after it, and a follower that fell behind the compacted log, or a new
//! node, catches up from the leader's snapshot.

mod common;

use std::time::Duration;

use common::{bulk, ok, Client, Cluster, Frame};

const SNAP: &[&str] = &[
    "--raft-snapshot-entries",
    "200",
    "--raft-log-keep-entries",
    "20",
];

/// `n` writes, each its own log entry (one command per round trip).
fn write_each(c: &mut Client, prefix: &str, n: usize) {
    for i in 0..n {
        let r = c.cmd(&["SET", &format!("{prefix}:{i}"), &format!("v{i}")]);
        assert_eq!(r, ok(), "{prefix}:{i}");
    }
}

fn reads_back(c: &mut Client, prefix: &str, n: usize) {
    let cmds: Vec<Vec<String>> = (0..n)
        .map(|i| vec!["GET".into(), format!("{prefix}:{i}")])
        .collect();
    for (k, r) in c.pipeline(&cmds).iter().enumerate() {
        assert_eq!(*r, bulk(&format!("v{k}")), "{prefix}:{k}");
    }
}

#[test]
fn a_node_restarts_from_its_snapshot_and_the_log_after_it() {
    let mut cluster = Cluster::start(1, SNAP);
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    write_each(&mut c, "k", 1000);
    assert_eq!(c.cmd(&["HSET", "h", "f", "v"]), Frame::Integer(1));
    common::wait_for("a snapshot", Duration::from_secs(10), || {
        cluster.nodes[0]
            .log()
            .contains("Snapshot at index")
            .then_some(())
    });
    cluster.nodes[0].kill9();
    cluster.nodes[0].start();
    cluster.wait_leader(Duration::from_secs(10));
    let log = cluster.nodes[0].log();
    assert!(
        log.contains("loaded in"),
        "the restart did not load the snapshot:\n{log}"
    );
    let mut c = cluster.nodes[0].client();
    reads_back(&mut c, "k", 1000);
    assert_eq!(c.cmd(&["HGET", "h", "f"]), bulk("v"));
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(1001));
}

#[test]
fn a_follower_behind_the_compacted_log_catches_up_from_a_snapshot() {
    let mut cluster = Cluster::start(3, SNAP);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let lagging = (leader + 1) % 3;
    cluster.nodes[lagging].kill9();
    let mut c = cluster.nodes[leader].client();
    write_each(&mut c, "k", 800);
    common::wait_for("the leader to snapshot", Duration::from_secs(10), || {
        cluster.nodes[leader]
            .log()
            .contains("Snapshot at index")
            .then_some(())
    });
    cluster.nodes[lagging].start();
    common::wait_for(
        "the follower to install a snapshot",
        Duration::from_secs(30),
        || {
            cluster.nodes[lagging]
                .log()
                .contains("Installed the snapshot")
                .then_some(())
        },
    );
    write_each(&mut c, "after", 50);
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
    let mut f = cluster.nodes[lagging].client();
    reads_back(&mut f, "k", 800);
    reads_back(&mut f, "after", 50);
    // Restarted again, it comes back from its own installed snapshot.
    cluster.nodes[lagging].kill9();
    cluster.nodes[lagging].start();
    cluster.assert_replicas_equal(Duration::from_secs(20), "after restart");
}

#[test]
fn a_new_node_joins_through_a_snapshot() {
    let mut cluster = Cluster::start(3, SNAP);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[leader].client();
    write_each(&mut c, "k", 600);
    common::wait_for("the leader to snapshot", Duration::from_secs(10), || {
        cluster.nodes[leader]
            .log()
            .contains("Snapshot at index")
            .then_some(())
    });
    let n4 = cluster.start_joining_node();
    let addr = format!(
        "127.0.0.1:{}@{}",
        cluster.nodes[n4].port, cluster.nodes[n4].bus
    );
    assert_eq!(c.cmd(&["RAFT.NODE", "ADD", "4", &addr]), ok());
    cluster.nodes[n4].member = true;
    common::wait_for(
        "the new node to install a snapshot",
        Duration::from_secs(30),
        || {
            cluster.nodes[n4]
                .log()
                .contains("Installed the snapshot")
                .then_some(())
        },
    );
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
    let mut n = cluster.nodes[n4].client();
    reads_back(&mut n, "k", 600);
}

/// SAVE writes a snapshot before it answers (the restart loads it), LASTSAVE moves, BGSAVE
/// answers as Redis does, and INFO persistence counts the changes since.
#[test]
fn save_and_bgsave_write_a_snapshot_on_demand() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    write_each(&mut c, "s", 50);
    let Frame::Integer(before) = c.cmd(&["LASTSAVE"]) else {
        panic!("LASTSAVE is not an integer")
    };
    assert_eq!(
        cluster.nodes[0]
            .info_field("rdb_bgsave_in_progress")
            .as_deref(),
        Some("0")
    );
    let changes: u64 = cluster.nodes[0]
        .info_field("rdb_changes_since_last_save")
        .unwrap()
        .parse()
        .unwrap();
    assert!(changes >= 50, "{changes} changes since the last save");
    assert_eq!(c.cmd(&["SAVE"]), ok());
    assert!(cluster.nodes[0].log().contains("Snapshot at index"));
    let Frame::Integer(after) = c.cmd(&["LASTSAVE"]) else {
        panic!("LASTSAVE is not an integer")
    };
    assert!(after >= before);
    assert_eq!(
        cluster.nodes[0]
            .info_field("rdb_changes_since_last_save")
            .as_deref(),
        Some("0")
    );
    assert!(common::is_err(
        &c.cmd(&["SAVE", "x"]),
        "ERR wrong number of arguments"
    ));
    assert!(common::is_err(
        &c.cmd(&["BGSAVE", "NOW"]),
        "ERR syntax error"
    ));
    write_each(&mut c, "t", 10);
    match c.cmd(&["BGSAVE"]) {
        Frame::SimpleString(s) => assert_eq!(s, b"Background saving started"),
        Frame::Error(e) => assert_eq!(e, "ERR Background save already in progress"),
        other => panic!("BGSAVE answered {other:?}"),
    }
    common::wait_for("the background save", Duration::from_secs(10), || {
        (cluster.nodes[0]
            .info_field("rdb_bgsave_in_progress")
            .as_deref()
            == Some("0"))
        .then_some(())
    });
    cluster.nodes[0].kill9();
    cluster.nodes[0].start();
    cluster.wait_leader(Duration::from_secs(10));
    assert!(cluster.nodes[0].log().contains("loaded in"));
    let mut c = cluster.nodes[0].client();
    reads_back(&mut c, "s", 50);
    reads_back(&mut c, "t", 10);
}

#[test]
fn large_values_trigger_a_snapshot_by_log_size_long_before_the_entry_count() {
    let mut cluster = Cluster::start(
        1,
        &[
            "--raft-snapshot-log-size",
            "1mb",
            "--raft-snapshot-entries",
            "100000",
        ],
    );
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    let value = "x".repeat(100 << 10);
    assert_eq!(
        cluster.nodes[0]
            .info_field("raft_snapshot_index")
            .as_deref(),
        Some("0")
    );
    // 30 entries of 100 KB: 3 MB of log, far below 100000 entries.
    for i in 0..30 {
        assert_eq!(c.cmd(&["SET", &format!("big:{i}"), &value]), ok());
    }
    let node = &cluster.nodes[0];
    common::wait_for("a snapshot by log size", Duration::from_secs(10), || {
        node.info_field("raft_snapshot_index")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&i| i > 0)
    });
    // And the node restarts from it with every value.
    cluster.nodes[0].kill9();
    cluster.nodes[0].start();
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    for i in 0..30 {
        assert_eq!(
            c.cmd(&["STRLEN", &format!("big:{i}")]),
            Frame::Integer(100 << 10)
        );
    }
}
