//! A real node whose Raft log lives on the fault-injecting in-memory disk (issue 6): a failed
//! sync or a full disk is never taken for success (the node answers MISCONF to writes from
//! then on and still serves reads), and what each `appendfsync` policy keeps across a power
//! loss: `always` every acknowledged write, `everysec` every write acknowledged before the last
//! sync, `no` whatever was synced at shutdown.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::{bulk, free_ports, is_err, ok, temp_dir, wait_for, Client, Frame};
use parking_lot::RwLock;
use raftis::node::Node;
use raftis::server::Server;
use raftis::wal::MemDisk;

/// One node served in this process, its WAL on `disk` (its snapshot file under `dir`).
struct InProc {
    node: Node,
    port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl InProc {
    fn start(dir: &Path, disk: &MemDisk, extra: &[&str]) -> InProc {
        let (ports, listeners) = free_ports(2);
        drop(listeners);
        let mut args: Vec<String> = [
            "raftis",
            "--port",
            &ports[0].to_string(),
            "--bus-port",
            &ports[1].to_string(),
            "--dir",
            &dir.display().to_string(),
            "--loglevel",
            "warning",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let settings = raftis::config::from_args(args).expect("settings");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let port = ports[0];
        let node = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            let node =
                Node::start_with_disk(Arc::new(RwLock::new(settings)), Box::new(disk.clone()))
                    .await
                    .expect("node starts");
            tokio::spawn(Server::new(node.clone(), String::new()).serve(listener));
            node
        });
        let p = InProc {
            node,
            port,
            runtime: Some(runtime),
        };
        wait_for("a leader", Duration::from_secs(10), || {
            p.client()
                .cmd(&["SET", "probe", "1"])
                .eq(&ok())
                .then_some(())
        });
        p
    }

    fn client(&self) -> Client {
        Client::connect(self.port)
    }

    fn info(&self, field: &str) -> String {
        let Frame::BulkString(b) = self.client().cmd(&["INFO", "everything"]) else {
            panic!("INFO is not a bulk string");
        };
        let text = String::from_utf8(b).unwrap();
        let prefix = format!("{field}:");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("INFO has no {field}"))
    }

    fn stop(mut self) {
        self.node.stop_and_wait();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn data_dir(tag: &str) -> PathBuf {
    let d = temp_dir(tag);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What a node started on `disk` after a power loss finds under `key` (after `stop`).
fn after_power_loss(dir: &Path, disk: &MemDisk, keys: &[&str]) -> Vec<Frame> {
    disk.crash();
    let n = InProc::start(dir, disk, &[]);
    let mut c = n.client();
    let got = keys.iter().map(|k| c.cmd(&["GET", k])).collect();
    n.stop();
    got
}

fn assert_misconf(f: &Frame) {
    assert!(
        is_err(f, "MISCONF Errors writing to the Raft log"),
        "expected MISCONF, got {f:?}"
    );
}

#[test]
fn a_failed_sync_stops_writes_with_misconf_and_is_never_taken_for_success() {
    let dir = data_dir("failed-sync");
    let disk = MemDisk::new(1);
    let n = InProc::start(&dir, &disk, &[]);
    let mut c = n.client();
    assert_eq!(c.cmd(&["SET", "before", "1"]), ok());
    disk.fail_next_sync();
    let reply = c.cmd(&["SET", "during", "2"]);
    assert_ne!(reply, ok(), "a write whose sync failed was acknowledged");
    // From now on every write is refused, with the reason, however many syncs would succeed.
    for _ in 0..3 {
        assert_misconf(&c.cmd(&["SET", "after", "3"]));
    }
    assert_misconf(&c.cmd(&["DEL", "before"]));
    // Reads go on from memory.
    assert_eq!(c.cmd(&["GET", "before"]), bulk("1"));
    assert_eq!(n.info("aof_last_write_status"), "err");
    n.stop();
    // After a restart, the write that was acknowledged is there; the refused ones are not.
    let got = after_power_loss(&dir, &disk, &["before", "after"]);
    assert_eq!(got, vec![bulk("1"), Frame::Null]);
}

#[test]
fn a_full_disk_stops_writes_with_misconf_and_keeps_what_was_acknowledged() {
    let dir = data_dir("full-disk");
    let disk = MemDisk::new(2);
    // Small segments: the disk fills when the WAL needs a new one.
    let n = InProc::start(&dir, &disk, &["--wal-segment-size", "64kb"]);
    let used: u64 = disk.files().iter().map(|(_, len)| *len as u64).sum();
    disk.set_capacity(Some(used));
    let mut c = n.client();
    let value = "v".repeat(1000);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..1000 {
        let key = format!("k{i}");
        let r = c.cmd(&["SET", key.as_str(), value.as_str()]);
        if r == ok() {
            acked.push(key);
        } else {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the disk never filled");
    assert!(!acked.is_empty());
    assert!(
        matches!(&refused, Frame::Error(_)),
        "expected an error, got {refused:?}"
    );
    assert_misconf(&c.cmd(&["SET", "more", "1"]));
    assert_eq!(c.cmd(&["GET", acked[0].as_str()]), bulk(&value));
    n.stop();
    disk.set_capacity(None);
    let keys: Vec<&str> = acked.iter().map(|s| s.as_str()).collect();
    let got = after_power_loss(&dir, &disk, &keys);
    assert!(
        got.iter().all(|f| *f == bulk(&value)),
        "an acked write is lost"
    );
}

#[test]
fn appendfsync_always_keeps_every_acknowledged_write_across_power_loss() {
    let dir = data_dir("fsync-always");
    let disk = MemDisk::new(3);
    let n = InProc::start(&dir, &disk, &["--appendfsync", "always"]);
    let mut c = n.client();
    let keys: Vec<String> = (0..50).map(|i| format!("a{i}")).collect();
    for k in &keys {
        assert_eq!(c.cmd(&["SET", k.as_str(), "x"]), ok());
    }
    // The power goes while the node runs: no shutdown sync.
    let keys: Vec<&str> = keys.iter().map(|s| s.as_str()).collect();
    let got = after_power_loss(&dir, &disk, &keys);
    n.stop();
    assert!(got.iter().all(|f| *f == bulk("x")), "{got:?}");
}

#[test]
fn appendfsync_everysec_keeps_what_the_last_sync_covered() {
    let dir = data_dir("fsync-everysec");
    let disk = MemDisk::new(4);
    let n = InProc::start(&dir, &disk, &["--appendfsync", "everysec"]);
    let mut c = n.client();
    let syncs = |n: &InProc| n.info("raft_wal_syncs").parse::<u64>().unwrap();
    assert_eq!(c.cmd(&["SET", "synced", "1"]), ok());
    let before = syncs(&n);
    // A sync follows within about a second, with no further write to trigger it.
    wait_for("the everysec sync", Duration::from_secs(5), || {
        (syncs(&n) > before).then_some(())
    });
    let got = after_power_loss(&dir, &disk, &["synced"]);
    n.stop();
    assert_eq!(got, vec![bulk("1")]);
}

#[test]
fn appendfsync_no_never_syncs_while_running_and_syncs_at_shutdown() {
    let dir = data_dir("fsync-no");
    let disk = MemDisk::new(5);
    let n = InProc::start(&dir, &disk, &["--appendfsync", "no"]);
    let before = n.info("raft_wal_syncs");
    let mut c = n.client();
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", format!("n{i}").as_str(), "x"]), ok());
    }
    assert_eq!(n.info("raft_wal_syncs"), before, "appendfsync no synced");
    // A clean shutdown syncs what the WAL holds, so a later power loss keeps it.
    n.stop();
    let got = after_power_loss(&dir, &disk, &["n0", "n99"]);
    assert_eq!(got, vec![bulk("x"), bulk("x")]);
}
