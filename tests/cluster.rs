//! Process-level tests: real raftis processes on loopback, killed with SIGKILL and restarted.
//! Every acknowledged write must read back from every node.

mod common;

use std::time::{Duration, Instant};

use common::{bulk, is_err, ok, set_cmds, write_all, Client, Cluster, Frame};

fn assert_reads_back(c: &mut Client, prefix: &str, n: usize) {
    let cmds: Vec<Vec<String>> = (0..n)
        .map(|i| vec!["GET".into(), format!("{prefix}:{i}")])
        .collect();
    for (chunk_no, chunk) in cmds.chunks(100).enumerate() {
        let replies = c.pipeline(chunk);
        for (j, r) in replies.iter().enumerate() {
            let i = chunk_no * 100 + j;
            assert_eq!(*r, bulk(&format!("v{i}")), "{prefix}:{i}");
        }
    }
}

#[test]
fn single_node_keeps_acknowledged_writes_across_kill_9() {
    let mut cluster = Cluster::start(1, &[]);
    let node = &cluster.nodes[0];
    let mut c = node.client();
    assert_eq!(c.cmd(&["PING"]), Frame::SimpleString(b"PONG".to_vec()));
    write_all(&mut c, &set_cmds("k", 2000));
    let incrs: Vec<Vec<&str>> = (0..300).map(|_| vec!["INCR", "counter"]).collect();
    let replies = c.pipeline(&incrs);
    assert_eq!(replies.last(), Some(&Frame::Integer(300)));
    assert_eq!(c.cmd(&["SET", "ttl", "x", "EX", "1000"]), ok());

    cluster.nodes[0].kill9();
    cluster.nodes[0].start();
    cluster.wait_leader(Duration::from_secs(10));
    let mut c = cluster.nodes[0].client();
    assert_reads_back(&mut c, "k", 2000);
    assert_eq!(c.cmd(&["GET", "counter"]), bulk("300"));
    match c.cmd(&["TTL", "ttl"]) {
        Frame::Integer(t) => assert!((990..=1000).contains(&t), "ttl {t}"),
        other => panic!("TTL replied {other:?}"),
    }
    assert_eq!(c.cmd(&["DBSIZE"]), Frame::Integer(2002));
}

#[test]
fn three_nodes_replicate_through_every_node_and_survive_leader_kill() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));

    // Any node accepts any command: followers forward writes to the leader.
    for i in 0..3 {
        let mut c = cluster.nodes[i].client();
        write_all(&mut c, &set_cmds(&format!("n{i}"), 300));
    }
    // Linearizable reads on every node see every acknowledged write at once.
    for i in 0..3 {
        let mut c = cluster.nodes[i].client();
        for j in 0..3 {
            assert_reads_back(&mut c, &format!("n{j}"), 300);
        }
    }

    // Kill the leader: a new one takes over and writes continue.
    let killed_at = Instant::now();
    cluster.nodes[leader].kill9();
    let new_leader = cluster.wait_leader(Duration::from_secs(10));
    assert_ne!(new_leader, leader);
    let survivor = (0..3).find(|&i| i != leader && i != new_leader).unwrap();
    let mut c = cluster.nodes[survivor].client();
    write_all(&mut c, &set_cmds("after", 300));
    eprintln!(
        "writes accepted again {:?} after the leader was killed",
        killed_at.elapsed()
    );
    for i in [new_leader, survivor] {
        let mut c = cluster.nodes[i].client();
        for j in 0..3 {
            assert_reads_back(&mut c, &format!("n{j}"), 300);
        }
        assert_reads_back(&mut c, "after", 300);
    }

    // The old leader comes back, catches up, and holds the same data.
    cluster.nodes[leader].start();
    let digests = cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
    assert_eq!(digests.len(), 3);
    let mut c = cluster.nodes[leader].client();
    assert_reads_back(&mut c, "after", 300);
}

#[test]
fn without_a_quorum_commands_fail_fast_instead_of_hanging() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let lone = (leader + 1) % 3;
    for i in 0..3 {
        if i != lone {
            cluster.nodes[i].kill9();
        }
    }
    let mut c = cluster.nodes[lone].client();
    // Once the lone node knows it has no leader, every command answers at once.
    common::wait_for(
        "the lone node to give up its leader",
        Duration::from_secs(10),
        || (cluster.nodes[lone].info_field("raft_leader_id")? == "0").then_some(()),
    );
    for cmd in [vec!["SET", "a", "1"], vec!["GET", "a"]] {
        let t = Instant::now();
        let r = c.cmd(&cmd);
        assert!(is_err(&r, "TRYAGAIN"), "{cmd:?} replied {r:?}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "{cmd:?} took {:?}",
            t.elapsed()
        );
    }
    // Commands that need no quorum still work.
    assert_eq!(c.cmd(&["PING"]), Frame::SimpleString(b"PONG".to_vec()));
}

#[test]
fn redis_benchmark_completes_against_leader_and_follower() {
    let Ok(out) = std::process::Command::new("redis-benchmark")
        .arg("--version")
        .output()
    else {
        assert!(
            std::env::var("CI").is_err(),
            "redis-benchmark must be installed in CI"
        );
        eprintln!(
            "redis-benchmark is not installed: skipped (the README's test command installs it)"
        );
        return;
    };
    assert!(out.status.success());
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let follower = (leader + 1) % 3;
    for i in [leader, follower] {
        let out = std::process::Command::new("redis-benchmark")
            .args([
                "-p",
                &cluster.nodes[i].port.to_string(),
                "-t",
                "set,get,incr,mset",
                "-P",
                "16",
                "-c",
                "50",
            ])
            .args(["-n", "20000", "-q"])
            .output()
            .expect("run redis-benchmark");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "redis-benchmark failed: {text}");
        for t in ["SET:", "GET:", "INCR:", "MSET (10 keys):"] {
            let line = text
                .lines()
                .flat_map(|l| l.split('\r'))
                .find(|l| l.trim_start().starts_with(t) && l.contains("requests per second"));
            assert!(line.is_some(), "no {t} result in: {text}");
        }
        assert!(!text.to_lowercase().contains("error"), "errors in: {text}");
    }
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
}

#[test]
fn sigterm_on_the_leader_hands_leadership_over_first() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let term: u64 = cluster.nodes[leader]
        .info_field("raft_term")
        .unwrap()
        .parse()
        .unwrap();
    let mut c = cluster.nodes[(leader + 1) % 3].client();
    write_all(&mut c, &set_cmds("before", 100));

    cluster.nodes[leader].signal("TERM");
    common::wait_for("the old leader to exit", Duration::from_secs(10), || {
        common::Client::try_connect(cluster.nodes[leader].port)
            .is_none()
            .then_some(())
    });
    cluster.nodes[leader].kill9();
    let log = cluster.nodes[leader].log();
    assert!(
        log.contains("Leadership handed to node"),
        "no handoff in the log:\n{log}"
    );
    let new_leader = cluster.wait_leader(Duration::from_secs(10));
    assert_ne!(new_leader, leader);
    // A handoff is one election, started at once by the target: exactly one term later.
    let new_term: u64 = cluster.nodes[new_leader]
        .info_field("raft_term")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(new_term, term + 1, "{}", cluster.dump_logs());
    let mut c = cluster.nodes[new_leader].client();
    assert_reads_back(&mut c, "before", 100);
    write_all(&mut c, &set_cmds("after", 100));
}

/// Sends a RAFT.NODE command to the leader until it succeeds (a learner may need a moment to
/// catch up before it can be promoted).
fn raft_node(cluster: &Cluster, args: &[&str]) {
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let leader = cluster.wait_leader(Duration::from_secs(10));
        let mut c = cluster.nodes[leader].client();
        let mut cmd = vec!["RAFT.NODE"];
        cmd.extend_from_slice(args);
        let r = c.cmd(&cmd);
        if r == ok() {
            return;
        }
        last = Some(r);
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "RAFT.NODE {args:?} kept failing: {last:?}\n{}",
        cluster.dump_logs()
    );
}

/// A client thread that SETs `<prefix>:<i>` to `i` for i = 0, 1, ... until stopped, keeping
/// the values it saw acknowledged.
struct Writer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    acked: std::sync::Arc<std::sync::Mutex<Vec<u64>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Writer {
    fn start(port: u16, prefix: &'static str) -> Writer {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let thread = {
            let (stop, acked) = (stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("{prefix}:{i}");
                    if c.try_cmd(&["SET", &key, &i.to_string()]) == Some(ok()) {
                        acked.lock().unwrap().push(i);
                    }
                    i += 1;
                }
            })
        };
        Writer {
            stop,
            acked,
            thread,
        }
    }

    /// Stops the thread; the values acknowledged, in order.
    /// Waits until `more` writes beyond those acknowledged so far are acknowledged, so that
    /// what the test does next happens under load (a condition, not a sleep).
    fn wait_progress(&self, more: usize) {
        let target = self.acked.lock().unwrap().len() + more;
        common::wait_for(
            &format!("the writer to reach {target} acknowledged writes"),
            Duration::from_secs(20),
            || (self.acked.lock().unwrap().len() >= target).then_some(()),
        );
    }

    fn stop(self) -> Vec<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap();
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

#[test]
fn membership_changes_under_write_load_keep_every_acknowledged_write() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    // A writer through one follower for the whole test.
    let writer_node = (leader + 1) % 3;
    let port = cluster.nodes[writer_node].port;
    let writer = Writer::start(port, "w");

    // Add a fourth node: it joins as a learner, catches up, and is promoted.
    let n4 = cluster.start_joining_node();
    let addr4 = format!(
        "127.0.0.1:{}@{}",
        cluster.nodes[n4].port, cluster.nodes[n4].bus
    );
    writer.wait_progress(20);
    raft_node(&cluster, &["ADD", "4", &addr4]);
    cluster.nodes[n4].member = true;
    writer.wait_progress(20);
    raft_node(&cluster, &["PROMOTE", "4"]);
    assert_eq!(
        cluster.nodes[leader].info_field("raft_peers").as_deref(),
        Some("4")
    );

    // Remove one of the original voters (not the leader, not the writer's node).
    let leader = cluster.wait_leader(Duration::from_secs(10));
    let gone = (0..3).find(|&i| i != leader && i != writer_node).unwrap();
    writer.wait_progress(20);
    raft_node(&cluster, &["REMOVE", &cluster.nodes[gone].id.to_string()]);
    cluster.nodes[gone].member = false;
    cluster.nodes[gone].kill9();
    assert_eq!(
        cluster.nodes[leader].info_field("raft_peers").as_deref(),
        Some("3")
    );

    writer.wait_progress(20);
    let acked = writer.stop();
    assert!(
        acked.len() > 10,
        "the writer made little progress: {}",
        acked.len()
    );

    // Every acknowledged write reads back from every remaining member, the new one included.
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
    for i in (0..cluster.nodes.len()).filter(|&i| cluster.nodes[i].member) {
        let mut c = cluster.nodes[i].client();
        let cmds: Vec<Vec<String>> = acked
            .iter()
            .map(|v| vec!["GET".into(), format!("w:{v}")])
            .collect();
        for (chunk, vals) in cmds.chunks(200).zip(acked.chunks(200)) {
            let replies = c.pipeline(chunk);
            for (r, v) in replies.iter().zip(vals) {
                assert_eq!(
                    *r,
                    bulk(&v.to_string()),
                    "w:{v} on node {}",
                    cluster.nodes[i].id
                );
            }
        }
    }
}

/// A node started alone writes its log inline; once the group has other members it hands the
/// log to the WAL thread mid-flight. No acknowledged write may be lost across that switch: the
/// original node is killed at the end and the two it took in must hold every one.
#[test]
fn a_single_node_grows_into_a_group_under_write_load_and_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::start(1, &[]);
    cluster.wait_leader(Duration::from_secs(10));
    let port = cluster.nodes[0].port;
    let writer = Writer::start(port, "g");
    for id in ["2", "3"] {
        let n = cluster.start_joining_node();
        let addr = format!(
            "127.0.0.1:{}@{}",
            cluster.nodes[n].port, cluster.nodes[n].bus
        );
        raft_node(&cluster, &["ADD", id, &addr]);
        cluster.nodes[n].member = true;
        raft_node(&cluster, &["PROMOTE", id]);
    }
    let acked = writer.stop();
    assert!(
        acked.len() > 10,
        "the writer made little progress: {}",
        acked.len()
    );
    assert!(
        cluster.nodes[0].log().contains("written by the WAL thread"),
        "node 1 never moved its log to the WAL thread:\n{}",
        cluster.nodes[0].log()
    );

    cluster.nodes[0].kill9();
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[leader].client();
    let cmds: Vec<Vec<String>> = acked
        .iter()
        .map(|v| vec!["GET".into(), format!("g:{v}")])
        .collect();
    for (chunk, vals) in cmds.chunks(200).zip(acked.chunks(200)) {
        for (r, v) in c.pipeline(chunk).iter().zip(vals) {
            assert_eq!(*r, bulk(&v.to_string()), "g:{v} after node 1 was killed");
        }
    }

    // Node 1 restarts with the membership in its log (and the WAL thread from the start).
    cluster.nodes[0].start();
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
}

#[test]
fn a_killed_node_is_replaced_by_a_new_one() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[leader].client();
    write_all(&mut c, &set_cmds("k", 200));
    let dead = (leader + 1) % 3;
    cluster.nodes[dead].kill9();
    raft_node(&cluster, &["REMOVE", &cluster.nodes[dead].id.to_string()]);
    cluster.nodes[dead].member = false;
    let n4 = cluster.start_joining_node();
    let addr4 = format!(
        "127.0.0.1:{}@{}",
        cluster.nodes[n4].port, cluster.nodes[n4].bus
    );
    raft_node(&cluster, &["ADD", "4", &addr4]);
    cluster.nodes[n4].member = true;
    raft_node(&cluster, &["PROMOTE", "4"]);
    let digests = cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
    assert_eq!(digests.len(), 3);
    let mut c = cluster.nodes[n4].client();
    assert_reads_back(&mut c, "k", 200);
    // The group of {two originals, the new node} survives the loss of one more.
    let leader = cluster.wait_leader(Duration::from_secs(10));
    let other = (0..cluster.nodes.len())
        .find(|&i| i != leader && cluster.nodes[i].member)
        .unwrap();
    cluster.nodes[other].kill9();
    cluster.nodes[other].member = false;
    let mut c = cluster.nodes[leader].client();
    write_all(&mut c, &set_cmds("after", 50));
}

#[test]
fn a_paused_leader_never_serves_a_stale_read_after_it_resumes() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let mut old = cluster.nodes[leader].client();
    assert_eq!(old.cmd(&["SET", "k", "old"]), ok());
    assert_eq!(old.cmd(&["GET", "k"]), bulk("old"));

    // SIGSTOP the leader for longer than an election timeout; the others elect a new leader
    // and overwrite the key.
    cluster.nodes[leader].signal("STOP");
    let other = (leader + 1) % 3;
    let mut c = cluster.nodes[other].client();
    common::wait_for(
        "a write through the others while the leader is stopped",
        Duration::from_secs(10),
        || (c.cmd(&["SET", "k", "new"]) == ok()).then_some(()),
    );

    // The read reaches the stopped leader's socket first; it runs the moment the process
    // resumes, before it has heard of the new term.
    let mut buf = Vec::new();
    Client::encode(&["GET", "k"], &mut buf);
    old.send_raw(&buf).unwrap();
    cluster.nodes[leader].signal("CONT");
    let r = old.read_reply().expect("reply");
    assert!(
        r == bulk("new") || is_err(&r, "TRYAGAIN"),
        "the resumed old leader answered {r:?}: a stale read"
    );
    // And once it has caught up it serves the new value.
    common::wait_for(
        "the old leader to serve the new value",
        Duration::from_secs(10),
        || (old.cmd(&["GET", "k"]) == bulk("new")).then_some(()),
    );
    let _ = &mut cluster;
}

#[test]
fn a_subscriber_on_any_node_receives_every_message_once_in_log_order() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_leader(Duration::from_secs(15));
    let mut subs: Vec<Client> = (0..3).map(|i| cluster.nodes[i].client()).collect();
    for s in subs.iter_mut() {
        assert_eq!(
            s.cmd(&["SUBSCRIBE", "news"]),
            Frame::Array(vec![bulk("subscribe"), bulk("news"), Frame::Integer(1)])
        );
    }
    // Publishers on every node, interleaved.
    let mut pubs: Vec<Client> = (0..3).map(|i| cluster.nodes[i].client()).collect();
    for n in 0..30 {
        let r = pubs[n % 3].cmd(&["PUBLISH", "news", &format!("m{n}")]);
        assert!(matches!(r, Frame::Integer(1)), "PUBLISH replied {r:?}");
    }
    for s in subs.iter_mut() {
        for n in 0..30 {
            let m = s.read_reply().expect("message");
            assert_eq!(
                m,
                Frame::Array(vec![bulk("message"), bulk("news"), bulk(&format!("m{n}"))])
            );
        }
    }
}

#[test]
fn exec_applies_atomically_through_a_follower() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[(leader + 1) % 3].client();
    let replies = c.pipeline(&[
        vec!["MULTI"],
        vec!["SET", "a", "1"],
        vec!["INCR", "a"],
        vec!["GET", "a"],
        vec!["EXEC"],
    ]);
    assert_eq!(
        replies[4],
        Frame::Array(vec![ok(), Frame::Integer(2), bulk("2")])
    );
    let mut l = cluster.nodes[leader].client();
    assert_eq!(l.cmd(&["GET", "a"]), bulk("2"));
}

/// One load client of the rolling restart: idempotent SETs of its own keys, each retried
/// (on the next node) after a closed connection, TRYAGAIN or UNCERTAIN, as a real client
/// with retries would. Returns the acknowledged writes, the retries and any other failure.
fn rolling_client(
    t: usize,
    ports: &[u16],
    stop: &std::sync::atomic::AtomicBool,
    acked_total: &std::sync::atomic::AtomicU64,
) -> (Vec<usize>, u64, Vec<String>) {
    use std::sync::atomic::Ordering;
    let mut node = t % ports.len();
    let mut conn: Option<Client> = None;
    let (mut acked, mut retries, mut failures) = (Vec::new(), 0u64, Vec::new());
    for i in 0..1_000_000 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (key, value) = (format!("roll:{t}:{i}"), format!("v{i}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if Instant::now() > deadline {
                failures.push(format!("{key}: no answer within 20 s of retries"));
                break;
            }
            if conn.is_none() {
                conn = Client::try_connect(ports[node]);
                if let Some(c) = &conn {
                    c.set_read_timeout(Some(Duration::from_secs(10)));
                } else {
                    // Down (restarting): the next node, after a short back-off.
                    node = (node + 1) % ports.len();
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
            match conn
                .as_mut()
                .unwrap()
                .try_cmd(&["SET", key.as_str(), value.as_str()])
            {
                Some(f) if f == ok() => {
                    acked.push(i);
                    acked_total.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Some(f) if is_err(&f, "TRYAGAIN") || is_err(&f, "UNCERTAIN") => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Some(f) => {
                    failures.push(format!("{key}: {f:?}"));
                    break;
                }
                None => {
                    conn = None;
                    node = (node + 1) % ports.len();
                    retries += 1;
                }
            }
        }
    }
    (acked, retries, failures)
}

/// Issue 5: a rolling restart of every node (SIGTERM, which hands leadership over first;
/// start again; wait until it has caught up; next) under write load through every node. No
/// client operation fails except for retries, and every acknowledged write is on every node.
#[test]
fn a_rolling_restart_under_load_fails_no_client_operation_except_retries() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let mut cluster = Cluster::start(3, &[]);
    cluster.wait_leader(Duration::from_secs(15));
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
    let stop = AtomicBool::new(false);
    let acked_total = AtomicU64::new(0);
    const CLIENTS: usize = 4;
    let results = std::thread::scope(|s| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|t| {
                let (ports, stop, acked_total) = (&ports, &stop, &acked_total);
                s.spawn(move || rolling_client(t, ports, stop, acked_total))
            })
            .collect();
        let progress = |what: &str, from: u64| {
            common::wait_for(what, Duration::from_secs(20), || {
                (acked_total.load(Ordering::Relaxed) >= from + 50).then_some(())
            });
        };
        progress("writes before the restarts", 0);
        for i in 0..cluster.nodes.len() {
            cluster.nodes[i].signal("TERM");
            assert!(
                cluster.nodes[i].wait_exit(Duration::from_secs(15)),
                "node {} did not exit on SIGTERM",
                i + 1
            );
            let during = acked_total.load(Ordering::Relaxed);
            cluster.nodes[i].start();
            // Caught up: applied at least what the others had committed when it came back.
            let target = (0..cluster.nodes.len())
                .filter(|&j| j != i)
                .filter_map(|j| cluster.nodes[j].info_field("raft_commit_index"))
                .filter_map(|v| v.parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            let node = &cluster.nodes[i];
            common::wait_for(
                "the restarted node to catch up",
                Duration::from_secs(20),
                || {
                    node.info_field("raft_applied_index")
                        .and_then(|v| v.parse::<u64>().ok())
                        .filter(|&a| a >= target)
                },
            );
            progress("writes after the restart", during);
        }
        stop.store(true, Ordering::Relaxed);
        clients
            .into_iter()
            .map(|c| c.join().unwrap())
            .collect::<Vec<_>>()
    });
    let failures: Vec<&String> = results.iter().flat_map(|r| &r.2).collect();
    assert!(
        failures.is_empty(),
        "client operations failed: {failures:?}\n{}",
        cluster.dump_logs()
    );
    let retries: u64 = results.iter().map(|r| r.1).sum();
    let acked: usize = results.iter().map(|r| r.0.len()).sum();
    eprintln!("rolling restart: {acked} writes acknowledged, {retries} retries");
    // Every acknowledged write, on every node.
    for node in &cluster.nodes {
        let mut c = node.client();
        for (t, r) in results.iter().enumerate() {
            let cmds: Vec<Vec<String>> =
                r.0.iter()
                    .map(|i| vec!["GET".into(), format!("roll:{t}:{i}")])
                    .collect();
            for (k, reply) in c.pipeline(&cmds).iter().enumerate() {
                assert_eq!(*reply, bulk(&format!("v{}", r.0[k])), "node {}", node.id);
            }
        }
    }
    cluster.assert_replicas_equal(Duration::from_secs(20), "at the end");
}

/// Issue 5: the whole cluster restarts, once gracefully (SIGTERM to every node at once) and
/// once by kill -9 of every node: each time a leader is elected again and every acknowledged
/// write reads back through every node.
#[test]
fn the_whole_cluster_restarts_gracefully_and_after_kill_9_of_all() {
    let mut cluster = Cluster::start(3, &["--raft-snapshot-entries", "200"]);
    cluster.wait_leader(Duration::from_secs(15));
    let mut c = cluster.nodes[1].client();
    write_all(&mut c, &set_cmds("whole", 500));
    drop(c);
    for round in ["graceful", "kill -9"] {
        if round == "graceful" {
            for n in &cluster.nodes {
                n.signal("TERM");
            }
            for n in &mut cluster.nodes {
                assert!(n.wait_exit(Duration::from_secs(15)), "{round}: no exit");
            }
        } else {
            for n in &mut cluster.nodes {
                n.kill9();
            }
        }
        for n in &mut cluster.nodes {
            n.start();
        }
        cluster.wait_leader(Duration::from_secs(15));
        for n in &cluster.nodes {
            let mut c = n.client();
            // The first reads may meet an election still settling: wait for one answer.
            common::wait_for("a read after the restart", Duration::from_secs(15), || {
                (c.cmd(&["GET", "whole:0"]) == bulk("v0")).then_some(())
            });
            assert_reads_back(&mut c, "whole", 500);
        }
        cluster.assert_replicas_equal(Duration::from_secs(20), &format!("after {round}"));
        let mut c = cluster.nodes[2].client();
        write_all(&mut c, &set_cmds(&format!("after-{}", round.len()), 50));
    }
}
