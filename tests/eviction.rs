//! maxmemory on real processes: the leader evicts (or refuses) and every replica ends with the
//! same data.
//! - an eviction storm on three nodes, written through every node: identical DEBUG DIGEST and
//!   evicted_keys everywhere, and used memory never past maxmemory by more than one batch;
//! - noeviction: denyoom writes refused with Redis's -OOM (also when a follower forwards them,
//!   inside MULTI, and in a pipeline that also deletes), reads and deletes still served;
//! - each policy evicts only what it may: volatile-* never a key without a TTL, and refuses
//!   writes once no key with a TTL is left;
//! - reads served by followers reach the leader's LRU view (access hints).

mod common;

use std::time::{Duration, Instant};

use common::{bulk, is_err, ok, write_all, Client, Cluster, Frame};

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn info_u64(c: &mut Client, field: &str) -> u64 {
    let Frame::BulkString(text) = c.cmd(&["INFO", "all"]) else {
        panic!("INFO did not answer a bulk string")
    };
    let text = String::from_utf8(text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in INFO"))
        .trim()
        .parse()
        .unwrap()
}

/// DEBUG DIGEST of every node once they agree, or their last answers after 20 s.
fn wait_identical_digests(cluster: &Cluster) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let digests = cluster.converged_digests(Duration::from_secs(20));
        if digests.windows(2).all(|d| d[0] == d[1]) || Instant::now() > deadline {
            return digests;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// Pipelined SETs of `value_len`-byte values under `prefix:<n>`, retried while there is no
/// leader (`write_all`); every reply must be OK.
fn set_batch(c: &mut Client, prefix: &str, from: usize, n: usize, value_len: usize, ttl: bool) {
    let cmds: Vec<Vec<String>> = (from..from + n)
        .map(|i| {
            let mut w = vec!["SET".into(), format!("{prefix}:{i}"), "v".repeat(value_len)];
            if ttl {
                w.extend(["EX".into(), "100000".into()]);
            }
            w
        })
        .collect();
    write_all(c, &cmds);
}

/// Upper bound of what one of the batches below may add beyond maxmemory: its own cost (50
/// SETs of 100-byte values: nodes, keys and values at the allocator's sizes) and the doubling
/// of the bucket array of a shard it may trigger.
const BATCH: usize = 50;
const BATCH_SLACK_BYTES: u64 = (BATCH as u64) * 256 + 32 * 1024;

#[test]
fn an_eviction_storm_leaves_replicas_identical_and_memory_under_the_limit() {
    let maxmemory: u64 = 2 << 20;
    let cluster = Cluster::start(
        3,
        &[
            "--maxmemory",
            "2mb",
            "--maxmemory-policy",
            "allkeys-lru",
            "--maxmemory-samples",
            "5",
        ],
    );
    cluster.wait_leader(Duration::from_secs(20));
    // One writer per node: followers forward their writes; reads keep some keys hot.
    let writers: Vec<_> = cluster
        .nodes
        .iter()
        .enumerate()
        .map(|(w, node)| {
            let port = node.port;
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                for b in 0..120 {
                    set_batch(&mut c, &format!("w{w}"), b * BATCH, BATCH, 100, b % 3 == 0);
                    let reads: Vec<Vec<String>> = (0..10)
                        .map(|i| vec!["GET".into(), format!("w{w}:{i}")])
                        .collect();
                    c.pipeline(&reads);
                }
            })
        })
        .collect();
    for t in writers {
        t.join().expect("writer");
    }
    // The leader may still evict once the last batch has applied (it is over the limit by up
    // to one batch): compare when the group is quiet. A divergence would never go away.
    let digests = wait_identical_digests(&cluster);
    assert!(digests.windows(2).all(|d| d[0] == d[1]), "{digests:?}");
    let mut evicted = Vec::new();
    for n in &cluster.nodes {
        let mut c = n.client();
        let used = info_u64(&mut c, "used_memory");
        let peak = info_u64(&mut c, "used_memory_peak");
        evicted.push(info_u64(&mut c, "evicted_keys"));
        println!(
            "node {}: used {used}, peak {peak}, over by {}",
            n.id,
            peak.saturating_sub(maxmemory)
        );
        assert!(used <= maxmemory, "node {}: used {used}", n.id);
        assert!(
            peak <= maxmemory + BATCH_SLACK_BYTES,
            "node {}: peak {peak} is past maxmemory {maxmemory} by more than a batch",
            n.id
        );
    }
    // 18000 keys of about 190 bytes were written into 2 MB: most were evicted, and every
    // replica deleted the same ones.
    assert!(evicted[0] > 5000, "evicted {evicted:?}");
    assert!(evicted.windows(2).all(|e| e[0] == e[1]), "{evicted:?}");
}

#[test]
fn noeviction_refuses_denyoom_writes_but_serves_reads_and_deletes() {
    let cluster = Cluster::start(
        3,
        &["--maxmemory", "1mb", "--maxmemory-policy", "noeviction"],
    );
    let leader = cluster.wait_leader(Duration::from_secs(20));
    let follower = (leader + 1) % 3;
    let mut l = cluster.nodes[leader].client();
    let mut f = cluster.nodes[follower].client();
    // Fill until the leader refuses.
    let mut n = 0;
    loop {
        let cmds: Vec<Vec<String>> = (n..n + BATCH)
            .map(|i| vec!["SET".into(), format!("k:{i}"), "v".repeat(100)])
            .collect();
        let replies = l.pipeline(&cmds);
        n += BATCH;
        if replies.iter().any(|r| is_err(r, "OOM")) {
            assert!(replies
                .iter()
                .all(|r| *r == ok() || *r == Frame::Error(OOM.into())));
            break;
        }
        assert!(n < 100_000, "never refused");
    }
    assert_eq!(info_u64(&mut l, "evicted_keys"), 0);
    let keys = int(&l.cmd(&["DBSIZE"]));
    // Refused on the leader and, forwarded, on a follower; reads and non-denyoom writes run.
    assert_eq!(l.cmd(&["SET", "new", "v"]), Frame::Error(OOM.into()));
    assert_eq!(f.cmd(&["SET", "new", "v"]), Frame::Error(OOM.into()));
    assert_eq!(f.cmd(&["INCR", "counter"]), Frame::Error(OOM.into()));
    assert_eq!(f.cmd(&["GET", "k:0"]), bulk(&"v".repeat(100)));
    assert_eq!(l.cmd(&["EXPIRE", "k:1", "1000"]), Frame::Integer(1));
    assert_eq!(f.cmd(&["PERSIST", "k:1"]), Frame::Integer(1));
    // A transaction holding a denyoom command is refused whole.
    for c in [&mut l, &mut f] {
        assert_eq!(c.cmd(&["MULTI"]), ok());
        c.cmd(&["DEL", "k:2"]);
        c.cmd(&["SET", "x", "y"]);
        assert_eq!(
            c.cmd(&["EXEC"]),
            Frame::Error(format!("EXECABORT Transaction discarded because of: {OOM}"))
        );
    }
    assert_eq!(f.cmd(&["EXISTS", "k:2"]), Frame::Integer(1));
    // In one pipeline (one proposal), the SET is refused and the DEL runs.
    let replies = f.pipeline(&[
        vec!["SET".to_string(), "x".into(), "y".into()],
        vec!["DEL".into(), "k:2".into()],
    ]);
    assert_eq!(replies, vec![Frame::Error(OOM.into()), Frame::Integer(1)]);
    assert_eq!(int(&l.cmd(&["DBSIZE"])), keys - 1);
    // Deleting frees room: writes are accepted again.
    let dels: Vec<Vec<String>> = (0..n / 2)
        .map(|i| vec!["DEL".into(), format!("k:{i}")])
        .collect();
    f.pipeline(&dels);
    assert_eq!(f.cmd(&["SET", "new", "v"]), ok());
    assert_eq!(l.cmd(&["GET", "new"]), bulk("v"));
    let digests = wait_identical_digests(&cluster);
    assert!(digests.windows(2).all(|d| d[0] == d[1]), "{digests:?}");
}

#[test]
fn each_policy_evicts_only_what_it_may() {
    let cluster = Cluster::start(1, &["--maxmemory", "1mb"]);
    cluster.wait_leader(Duration::from_secs(20));
    let mut c = cluster.nodes[0].client();
    let maxmemory: u64 = 1 << 20;
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
    ] {
        assert_eq!(c.cmd(&["FLUSHALL"]), ok());
        assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-policy", policy]), ok());
        // As Redis: with maxmemory and an LRU or LFU policy, small integers are not shared.
        assert_eq!(c.cmd(&["SET", "int", "5"]), ok());
        let shared = !(policy.ends_with("lru") || policy.ends_with("lfu"));
        assert_eq!(
            int(&c.cmd(&["OBJECT", "REFCOUNT", "int"])),
            if shared { i64::from(i32::MAX) } else { 1 },
            "{policy}"
        );
        let evicted0 = info_u64(&mut c, "evicted_keys");
        // 2000 keys without a TTL (about 400 KB), then keys with one, well past the limit.
        for b in 0..2000 / BATCH {
            set_batch(&mut c, "keep", b * BATCH, BATCH, 100, false);
        }
        for b in 0..6000 / BATCH {
            set_batch(&mut c, "ttl", b * BATCH, BATCH, 100, true);
        }
        let evicted = info_u64(&mut c, "evicted_keys") - evicted0;
        assert!(evicted > 1000, "{policy}: evicted {evicted}");
        let used = info_u64(&mut c, "used_memory");
        assert!(
            used <= maxmemory + BATCH_SLACK_BYTES,
            "{policy}: used {used}"
        );
        let exists: Vec<String> = std::iter::once("EXISTS".to_string())
            .chain((0..2000).map(|i| format!("keep:{i}")))
            .collect();
        let kept = int(&c.cmd(&exists));
        if policy.starts_with("volatile") {
            assert_eq!(kept, 2000, "{policy} evicted a key without a TTL");
            // Persistent keys only from now on: once no key with a TTL is left, the policy
            // has nothing to evict and writes are refused.
            let mut refused = false;
            for b in 0..400 {
                let cmds: Vec<Vec<String>> = (0..BATCH)
                    .map(|i| {
                        vec![
                            "SET".into(),
                            format!("more:{}", b * BATCH + i),
                            "v".repeat(100),
                        ]
                    })
                    .collect();
                let replies = c.pipeline(&cmds);
                if replies.iter().any(|r| *r == Frame::Error(OOM.into())) {
                    refused = true;
                    break;
                }
            }
            assert!(refused, "{policy}: writes never refused");
            // The last keys with a TTL were proposed for eviction with the refusal: they are
            // gone once that entry applies.
            let ttl_left: Vec<String> = std::iter::once("EXISTS".to_string())
                .chain((0..6000).map(|i| format!("ttl:{i}")))
                .collect();
            common::wait_for(
                &format!("{policy}: the last keys with a TTL to be evicted"),
                Duration::from_secs(5),
                || (int(&c.cmd(&ttl_left)) == 0).then_some(()),
            );
            assert_eq!(int(&c.cmd(&exists)), 2000, "{policy}");
            // Reads and deletes still run.
            assert_eq!(c.cmd(&["GET", "keep:0"]), bulk(&"v".repeat(100)));
            assert_eq!(c.cmd(&["DEL", "keep:0"]), Frame::Integer(1));
        } else {
            // allkeys-*: old keys without a TTL go too; the newest keys are there.
            assert!(kept < 2000, "{policy}: kept {kept}");
            assert_eq!(
                c.cmd(&["EXISTS", "ttl:5999"]),
                Frame::Integer(1),
                "{policy}"
            );
        }
    }
}

#[test]
fn reads_served_by_followers_reach_the_leaders_lru_view() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(20));
    let follower = (leader + 1) % 3;
    let mut l = cluster.nodes[leader].client();
    let mut f = cluster.nodes[follower].client();
    for k in ["hot", "cold", "unreported"] {
        assert_eq!(l.cmd(&["SET", k, "v"]), ok());
    }
    // The follower stops reporting for a while: its reads of "unreported" stay its own.
    assert_eq!(f.cmd(&["CONFIG", "SET", "raft-access-hints", "0"]), ok());
    std::thread::sleep(Duration::from_millis(2500));
    for _ in 0..5 {
        assert_eq!(f.cmd(&["GET", "unreported"]), bulk("v"));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        f.cmd(&["CONFIG", "SET", "raft-access-hints", "50000"]),
        ok()
    );
    for _ in 0..5 {
        assert_eq!(f.cmd(&["GET", "hot"]), bulk("v"));
    }
    // One hint interval (100 ms) and the message's trip.
    std::thread::sleep(Duration::from_millis(400));
    let idle = |c: &mut Client, k: &str| int(&c.cmd(&["OBJECT", "IDLETIME", k]));
    assert!(idle(&mut l, "hot") <= 1, "hot: {}", idle(&mut l, "hot"));
    assert!(idle(&mut l, "cold") >= 2);
    assert!(idle(&mut l, "unreported") >= 2);
    // The follower's own view has both reads.
    assert!(idle(&mut f, "unreported") <= 1);
}
