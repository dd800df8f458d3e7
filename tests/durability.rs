//! Damage to a stopped node's WAL files, and what the node does about it (issue 6): a torn
//! tail is cut and the node starts with the intact prefix; damage to records that were synced
//! (and so possibly acknowledged) makes the node refuse to start, with a log line saying why.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{bulk, ok, Cluster, Frame};

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

/// A single node with small WAL segments, filled with `n` acknowledged writes, then killed.
fn filled_node(n: usize) -> Cluster {
    let mut cluster = Cluster::start(1, &["--wal-segment-size", "64kb"]);
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    let value = "v".repeat(100);
    let cmds: Vec<Vec<String>> = (0..n)
        .map(|i| vec!["SET".into(), format!("k{i}"), format!("{value}{i}")])
        .collect();
    for chunk in cmds.chunks(100) {
        assert!(c.pipeline(chunk).iter().all(|r| *r == ok()));
    }
    cluster.nodes[0].kill9();
    cluster
}

#[test]
fn every_acknowledged_write_survives_kill_9_across_segments() {
    let mut cluster = filled_node(3000);
    assert!(
        segments(&cluster.nodes[0].dir).len() >= 3,
        "expected several segments"
    );
    cluster.nodes[0].start();
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(3000));
    assert_eq!(
        c.cmd(&["GET", "k2999"]),
        bulk(&format!("{}2999", "v".repeat(100)))
    );
}

#[test]
fn a_flipped_bit_in_synced_records_makes_the_node_refuse_to_start() {
    let mut cluster = filled_node(3000);
    let segs = segments(&cluster.nodes[0].dir);
    let victim = &segs[segs.len() / 2];
    let mut bytes = std::fs::read(victim).unwrap();
    // Somewhere in the middle of the records of a sealed segment.
    let at = bytes.len() / 3;
    bytes[at] ^= 0x10;
    std::fs::write(victim, bytes).unwrap();

    let p = &mut cluster.nodes[0];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftis"))
        .args(["--port", "0", "--bus-port", "0", "--dir"])
        .arg(&p.dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the node started over damaged synced records:\n{log}"
    );
    assert!(
        log.contains("Refusing to start") && log.contains("synced"),
        "no clear reason:\n{log}"
    );
}

#[test]
fn a_deleted_middle_segment_makes_the_node_refuse_to_start() {
    let cluster = filled_node(3000);
    let segs = segments(&cluster.nodes[0].dir);
    assert!(segs.len() >= 3);
    std::fs::remove_file(&segs[1]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_raftis"))
        .args(["--port", "0", "--bus-port", "0", "--dir"])
        .arg(&cluster.nodes[0].dir)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the node started without a middle segment:\n{log}"
    );
    assert!(log.contains("Refusing to start"), "no clear reason:\n{log}");
}

#[test]
fn a_torn_tail_is_cut_and_the_node_starts_with_the_intact_prefix() {
    let mut cluster = filled_node(3000);
    let segs = segments(&cluster.nodes[0].dir);
    let last = segs.last().unwrap();
    // Tear the end of what was written in the last segment: zero its final written bytes.
    let mut bytes = std::fs::read(last).unwrap();
    let end = bytes.iter().rposition(|&b| b != 0).unwrap();
    for b in &mut bytes[end.saturating_sub(40)..=end] {
        *b = 0;
    }
    std::fs::write(last, bytes).unwrap();
    cluster.nodes[0].start();
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    let Frame::Integer(n) = c.cmd(&["DBSIZE"]) else {
        panic!("DBSIZE")
    };
    // The tear reached at most the last batch; everything before it is intact.
    assert!((2900..=3000).contains(&n), "{n} keys after a torn tail");
    assert_eq!(
        c.cmd(&["GET", "k0"]),
        bulk(&format!("{}0", "v".repeat(100)))
    );
    assert!(
        cluster.nodes[0].log().contains("cut"),
        "no log line about the cut"
    );
}
