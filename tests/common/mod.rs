//! Process-level test harness: raftis nodes as real processes on 127.0.0.1 free ports, each
//! killed by its own PID when dropped, with a small blocking RESP client (replies decoded by
//! redis-protocol) and condition waits with deadlines.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod cut;
pub mod history;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis_protocol::resp2::decode::decode;
pub use redis_protocol::resp2::types::OwnedFrame as Frame;

static DIRS: AtomicU64 = AtomicU64::new(0);

/// `n` free ports for nodes to bind, with the listeners that hold them until the caller drops
/// them just before starting the nodes.
///
/// The ports come from below the kernel's ephemeral range (`ip_local_port_range`), never from
/// `bind(0)`: the kernel hands ephemeral ports to every outgoing connection (clients, the peer
/// bus), so a port freed for a node to bind could be taken by another test's connection in the
/// moment between, and the node would fail with "Address already in use". Ports below the range
/// are only ever bound on purpose. A process-wide counter, started at an offset from the PID,
/// hands each port out once per test process, and a port some other process holds is skipped.
pub fn free_ports(n: usize) -> (Vec<u16>, Vec<TcpListener>) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let (low, high) = fixed_port_window();
    let span = u64::from(high - low);
    let start = u64::from(std::process::id()) * 211 % span;
    let _ = NEXT.compare_exchange(0, start + 1, Ordering::Relaxed, Ordering::Relaxed);
    let mut ports = Vec::with_capacity(n);
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..span {
        if ports.len() == n {
            break;
        }
        let port = low + ((NEXT.fetch_add(1, Ordering::Relaxed) - 1) % span) as u16;
        // Both the client port and the bus port are bound by number, so a port is only taken
        // once a listener holds it.
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            ports.push(port);
            listeners.push(l);
        }
    }
    assert_eq!(ports.len(), n, "no free ports in {low}..{high}");
    (ports, listeners)
}

/// The ports from 10000 up to the start of the ephemeral range. When the range cannot be read or
/// leaves no room below it, 20000..30000, where the race above is possible again.
fn fixed_port_window() -> (u16, u16) {
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok());
    match ephemeral_low {
        Some(l) if l >= 12000 => (10000, l),
        _ => (20000, 30000),
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "raftis-test-{}-{}-{}",
        tag,
        std::process::id(),
        DIRS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `f` until it returns Some, or panics with `what` at the deadline.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Proc {
    pub id: u64,
    /// A member of the group: expected to follow the leader. False for a node started to
    /// join until RAFT.NODE ADD takes it in, and for a removed node.
    pub member: bool,
    /// The loopback address it binds (127.0.0.1 unless the cluster was spread).
    pub ip: [u8; 4],
    pub port: u16,
    pub bus: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Proc {
    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("raftis.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_raftis"))
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn raftis");
        self.child = Some(child);
        let (ip, port) = (self.ip, self.port);
        let log = self.dir.join("raftis.log");
        let child = self.child.as_mut().unwrap();
        wait_for(
            "the node to accept connections",
            Duration::from_secs(20),
            || {
                if let Ok(Some(status)) = child.try_wait() {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    panic!("raftis on port {port} exited at start ({status}); its log:\n{log}");
                }
                TcpStream::connect(std::net::SocketAddr::from((ip, port)))
                    .ok()
                    .map(|_| ())
            },
        );
    }

    /// kill -9, by PID.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Waits for the process to exit by itself (after SIGTERM or SHUTDOWN), and reaps it;
    /// false if it is still running at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(c) = &mut self.child {
            if c.try_wait().ok().flatten().is_some() {
                self.child = None;
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }

    pub fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(c.id().to_string())
                .status();
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn client(&self) -> Client {
        Client::try_connect_to(self.ip, self.port)
            .unwrap_or_else(|| panic!("cannot connect to {:?}:{}", self.ip, self.port))
    }

    /// A field of INFO, or None if the node does not answer.
    pub fn info_field(&self, field: &str) -> Option<String> {
        let mut c = Client::try_connect_to(self.ip, self.port)?;
        let Frame::BulkString(text) = c.try_cmd(&["INFO", "all"])? else {
            return None;
        };
        let text = String::from_utf8(text).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("raftis.log")).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub struct Cluster {
    pub nodes: Vec<Proc>,
    root: PathBuf,
}

impl Cluster {
    /// `n` nodes (1 = a single node started with no --peers), each in its own data directory,
    /// with extra command-line arguments.
    pub fn start(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_on(n, extra, |_| [127, 0, 0, 1])
    }

    /// `start`, with node i (from 0) on its own loopback address 127.0.0.(i + 2), binding it
    /// and dialling the bus from it (`--bind`, `--bind-source-addr`), so that traffic between
    /// two nodes can be told from all other traffic by its addresses. Clients still connect
    /// from 127.0.0.1.
    pub fn start_spread(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_on(n, extra, |i| [127, 0, 0, i as u8 + 2])
    }

    fn start_on(n: usize, extra: &[&str], ip_of: impl Fn(usize) -> [u8; 4]) -> Cluster {
        let root = temp_dir("cluster");
        let (ports, listeners) = free_ports(2 * n);
        let dotted = |i: usize| {
            let [a, b, c, d] = ip_of(i);
            format!("{a}.{b}.{c}.{d}")
        };
        let peers: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{}@{}:{}@{}",
                    i + 1,
                    dotted(i),
                    ports[2 * i],
                    ports[2 * i + 1]
                )
            })
            .collect();
        let mut nodes = Vec::new();
        for i in 0..n {
            let dir = root.join(format!("n{}", i + 1));
            std::fs::create_dir_all(&dir).unwrap();
            let mut args: Vec<String> = vec![
                "--port".into(),
                ports[2 * i].to_string(),
                "--bus-port".into(),
                ports[2 * i + 1].to_string(),
                "--dir".into(),
                dir.display().to_string(),
                "--node-id".into(),
                (i + 1).to_string(),
                "--loglevel".into(),
                "verbose".into(),
            ];
            if ip_of(i) != [127, 0, 0, 1] {
                args.extend([
                    "--bind".into(),
                    dotted(i),
                    "--bind-source-addr".into(),
                    dotted(i),
                ]);
            }
            if n > 1 {
                args.push("--peers".into());
                args.push(peers.join(","));
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            nodes.push(Proc {
                id: i as u64 + 1,
                member: true,
                ip: ip_of(i),
                port: ports[2 * i],
                bus: ports[2 * i + 1],
                dir,
                args,
                child: None,
            });
        }
        drop(listeners);
        for n in &mut nodes {
            n.start();
        }
        Cluster { nodes, root }
    }

    /// Starts one more node that is not in the group yet (its id is not in `--peers`), so it
    /// waits to be added with RAFT.NODE ADD. Returns its index.
    pub fn start_joining_node(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let (ports, listeners) = free_ports(2);
        let dir = self.root.join(format!("n{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let peers: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}@{}", n.id, n.port, n.bus))
            .collect();
        let args: Vec<String> = [
            "--port",
            &ports[0].to_string(),
            "--bus-port",
            &ports[1].to_string(),
            "--dir",
            &dir.display().to_string(),
            "--node-id",
            &id.to_string(),
            "--loglevel",
            "verbose",
            "--peers",
            &peers.join(","),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        drop(listeners);
        let mut p = Proc {
            id,
            member: false,
            ip: [127, 0, 0, 1],
            port: ports[0],
            bus: ports[1],
            dir,
            args,
            child: None,
        };
        p.start();
        self.nodes.push(p);
        self.nodes.len() - 1
    }

    /// Index of the node every running node agrees leads, waiting up to `timeout`.
    pub fn wait_leader(&self, timeout: Duration) -> usize {
        let what = format!(
            "a leader all running members agree on (members: {:?})",
            self.nodes
                .iter()
                .filter(|n| n.is_running() && n.member)
                .map(|n| n.id)
                .collect::<Vec<_>>()
        );
        wait_for(&what, timeout, || {
            let mut leader = None;
            for n in self.nodes.iter().filter(|n| n.is_running() && n.member) {
                let l: u64 = n.info_field("raft_leader_id")?.parse().ok()?;
                if l == 0 || leader.is_some_and(|x| x != l) {
                    return None;
                }
                leader = Some(l);
            }
            let l = leader?;
            let idx = self.nodes.iter().position(|n| n.id == l)?;
            (self.nodes[idx].is_running() && self.nodes[idx].info_field("raft_role")? == "leader")
                .then_some(idx)
        })
    }

    /// Waits until every running node has applied the same index, then returns their
    /// DEBUG DIGEST replies.
    pub fn converged_digests(&self, timeout: Duration) -> Vec<String> {
        wait_for("all running nodes to apply the same index", timeout, || {
            let applied: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.is_running() && n.member)
                .map(|n| n.info_field("raft_applied_index"))
                .collect::<Option<_>>()?;
            let commit: Vec<String> = self
                .nodes
                .iter()
                .filter(|n| n.is_running() && n.member)
                .map(|n| n.info_field("raft_commit_index"))
                .collect::<Option<_>>()?;
            if !(applied.windows(2).all(|w| w[0] == w[1])
                && commit.iter().all(|c| *c == applied[0]))
            {
                return None;
            }
            // DEBUG DIGEST is a linearizable read: a node that restarted may have applied
            // everything before it has heard from the leader, and answers TRYAGAIN until then.
            self.nodes
                .iter()
                .filter(|n| n.is_running() && n.member)
                .map(|n| match n.client().cmd(&["DEBUG", "DIGEST"]) {
                    Frame::SimpleString(s) | Frame::BulkString(s) => {
                        Some(String::from_utf8(s).unwrap())
                    }
                    Frame::Error(e) if e.starts_with("TRYAGAIN") => None,
                    other => panic!("DEBUG DIGEST replied {other:?}"),
                })
                .collect::<Option<Vec<String>>>()
        })
    }

    /// `converged_digests`, asserting they are all equal (`what` names the moment in the
    /// failure message); returns them.
    pub fn assert_replicas_equal(&self, timeout: Duration, what: &str) -> Vec<String> {
        let digests = self.converged_digests(timeout);
        assert!(
            digests.windows(2).all(|w| w[0] == w[1]),
            "replicas differ {what}: {digests:?}"
        );
        digests
    }

    pub fn dump_logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("==== node {} ====\n{}", n.id, n.log()))
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill9();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.root);
        } else {
            eprintln!("test data and logs kept in {}", self.root.display());
        }
    }
}

/// A blocking RESP2 client.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        Client::try_connect(port).unwrap_or_else(|| panic!("cannot connect to 127.0.0.1:{port}"))
    }

    pub fn try_connect(port: u16) -> Option<Client> {
        Client::try_connect_to([127, 0, 0, 1], port)
    }

    pub fn try_connect_to(ip: [u8; 4], port: u16) -> Option<Client> {
        let stream = TcpStream::connect_timeout(&(ip, port).into(), Duration::from_secs(2)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        stream.set_nodelay(true).ok()?;
        Some(Client {
            stream,
            buf: Vec::new(),
        })
    }

    pub fn encode<S: AsRef<[u8]>>(args: &[S], out: &mut Vec<u8>) {
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> Option<()> {
        self.stream.write_all(bytes).ok()
    }

    pub fn read_reply(&mut self) -> Option<Frame> {
        loop {
            if let Ok(Some((frame, used))) = decode(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn try_cmd<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Option<Frame> {
        let mut out = Vec::new();
        Client::encode(args, &mut out);
        self.send_raw(&out)?;
        self.read_reply()
    }

    pub fn cmd<S: AsRef<[u8]>>(&mut self, args: &[S]) -> Frame {
        self.try_cmd(args).expect("connection closed")
    }

    /// Sends every command at once, then reads every reply.
    pub fn pipeline<S: AsRef<[u8]>>(&mut self, cmds: &[Vec<S>]) -> Vec<Frame> {
        let mut out = Vec::new();
        for c in cmds {
            Client::encode(c, &mut out);
        }
        self.send_raw(&out).expect("send");
        cmds.iter()
            .map(|_| self.read_reply().expect("reply"))
            .collect()
    }
}

pub fn bulk(s: &str) -> Frame {
    Frame::BulkString(s.as_bytes().to_vec())
}

pub fn ok() -> Frame {
    Frame::SimpleString(b"OK".to_vec())
}

/// True for an error reply starting with `prefix`.
pub fn is_err(f: &Frame, prefix: &str) -> bool {
    matches!(f, Frame::Error(e) if e.starts_with(prefix))
}

// ---- Additions for the linearizability tests (tests/linearizability.rs) ----

impl Client {
    /// How long a reply may take before `read_reply` gives up (None: wait forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Option<()> {
        self.stream.set_read_timeout(timeout).ok()
    }
}

/// `SET prefix:i vi` for i in 0..n.
pub fn set_cmds(prefix: &str, n: usize) -> Vec<Vec<String>> {
    (0..n)
        .map(|i| vec!["SET".into(), format!("{prefix}:{i}"), format!("v{i}")])
        .collect()
}

/// Writes through `c` in pipelined chunks until every write is acknowledged, retrying a chunk
/// whose writes were refused (TRYAGAIN) or have an unknown outcome (UNCERTAIN; these SETs are
/// idempotent, so a retry is harmless).
pub fn write_all(c: &mut Client, cmds: &[Vec<String>]) {
    for chunk in cmds.chunks(50) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let replies = c.pipeline(chunk);
            if replies.iter().all(|r| *r == ok()) {
                break;
            }
            assert!(
                replies
                    .iter()
                    .all(|r| *r == ok() || is_err(r, "TRYAGAIN") || is_err(r, "UNCERTAIN")),
                "unexpected replies {replies:?}"
            );
            assert!(
                Instant::now() < deadline,
                "writes kept failing: {replies:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
