//! Jepsen-style tests against real raftis processes: concurrent clients run random reads,
//! writes, increments, swaps, conditional sets and deletes on a few keys (plus write-once keys,
//! Jepsen's set workload) while a nemesis kills, pauses, deposes and gracefully restarts nodes
//! (one after the other, or all at once) on a seeded schedule.
//! Then every fault is healed, every node is read back, and the whole history is checked for
//! linearizability (tests/common/history.rs) and the replicas for identical digests.
//!
//! Each test prints its seed, its fault schedule (planned and as applied, on the history's
//! clock), its op counts and the checker's verdict per key. `RAFTIS_JEPSEN_SEED=n` replays a
//! seed (the OS scheduling is not deterministic, the schedule of faults and ops is), and
//! `RAFTIS_JEPSEN_SECS=n` runs each test longer. On a violation the history is written to a
//! file named in the failure message, and the cluster's data and logs are kept.
//!
//! Partitions: each node runs on its own loopback address (`Cluster::start_spread`), and the
//! nemesis cuts the links between two sides of the cluster with traffic control
//! (tests/common/cut.rs), both ways or one way only (the leader deaf or mute), or cuts two
//! halves apart with a bridge node that reaches both, while the clients, on 127.0.0.1, still
//! reach every node: a node cut off may still be asked to read and write. At most one cut per
//! step, but a kill or a pause may come with it. That needs root and tc; where it cannot cut,
//! the partition test prints `skipped: ...` and returns. The other tests need neither.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::cut::{tc_turn, Cut};
use common::history::{self, Op, OpKind, Outcome, Recorder, Ret, Rng, Value};
use common::{Client, Cluster, Frame};

/// The tests run one at a time: two clusters at once on a 2-core machine would time each
/// other out more than the nemesis does.
static SERIAL: Mutex<()> = Mutex::new(());

/// A client gives up on a reply after this long (the op is then of unknown outcome).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(4);
/// raftis answers UNCERTAIN after this long, before the client gives up.
const WRITE_TIMEOUT_MS: &str = "2000";
/// Search steps per key before the checker answers unknown.
const CHECK_STEPS_MAX: u64 = 20_000_000;
/// Ops per client thread at most, whatever the duration.
const OPS_PER_CLIENT_MAX: u64 = 20_000;
/// Share of client turns that send a pipeline instead of one op, percent.
const PIPELINE_PERCENT: u64 = 15;
/// Ops in a pipeline at most.
const PIPELINE_OPS_MAX: u64 = 4;
/// Process ids of the final reads start here (node id added); client processes stay below.
const FINAL_PROCESS_BASE: u64 = 1_000_000;
/// Keys with fewer ops than this are summarized in one line (the write-once keys).
const SUMMARY_MIN_OPS: usize = 20;
/// What the schedule leaves a rolling restart per node (stop, start, catch up), ms.
const ROLLING_RESTART_BUDGET_MS_PER_NODE: u64 = 1500;
/// What the schedule leaves a graceful stop of every node before it holds them down, ms.
const TERM_ALL_BUDGET_MS: u64 = 1500;
/// A node that received SIGTERM must have exited within this.
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Once every node was stopped and started again, a leader must be elected within this, and
/// `SERVING_AGAIN_OPS` client ops acknowledged within as long again.
const LEADER_AGAIN_TIMEOUT: Duration = Duration::from_secs(20);
const SERVING_AGAIN_OPS: u64 = 50;
/// A restarted node must have caught up with the leader's commit index within this.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(20);
/// With `Expect::Retries`, an op refused this many times in a row is given up (a definitive
/// failure); with the client's back-off that is several seconds without a leader.
const RETRY_ATTEMPTS_MAX: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FaultKind {
    /// kill -9 the leader, restart it later.
    KillLeader,
    /// kill -9 any running node, restart it later.
    KillAny,
    /// kill -9 a majority of the nodes (no quorum until they are back), restart them later.
    KillMajority,
    /// kill -9 every node, restart them all: only what is on disk survives.
    KillAll,
    /// SIGSTOP the leader for longer than the longest election timeout, then SIGCONT: the
    /// others elect a new leader meanwhile.
    PauseLeader,
    /// SIGSTOP the leader for about an election timeout: its lease runs out, and the others
    /// may or may not have elected a new leader when it resumes.
    PauseLeaderBrief,
    /// SIGSTOP any node, then SIGCONT.
    PauseAny,
    /// RAFT.TRANSFER-LEADER on the leader, to a random voter or to its choice.
    Transfer,
    /// Cut the leader off from every other node, both ways, for longer than an election
    /// timeout: the others elect a new leader while clients still reach the old one.
    IsolateLeader,
    /// Cut a random minority (the leader among them or not) off from the rest, both ways.
    PartitionMinority,
    /// Cut a random majority off from the rest: on the minority side no leader can be elected
    /// (nor stay one), on the majority side one is.
    PartitionMajority,
    /// Drop every packet the other nodes send to the leader, one way: the leader's own
    /// messages still arrive (until its connections give up for want of acknowledgements), it
    /// hears no reply, vote or heartbeat. It must step down (check-quorum) while the others
    /// may keep hearing it.
    LeaderDeaf,
    /// Drop every packet the leader sends to the other nodes, one way: it still hears them.
    /// The others elect a new leader; the old one must not serve a read or acknowledge a
    /// write meanwhile.
    LeaderMute,
    /// Jepsen's bridge: the nodes but one split into two halves that cannot reach each other,
    /// and the remaining node (the leader or not) reaches both. With three nodes, two
    /// followers that cannot talk (or the leader and a follower) and a node between them.
    Bridge,
    /// A rolling restart: one node after the other, SIGTERM it (a leader hands leadership
    /// over first), wait until its process has exited, start it again and wait until it has
    /// caught up with the leader's commit index, then the next. Takes as long as it takes.
    RollingRestart,
    /// SIGTERM every node at once (a graceful stop of the whole cluster), wait until every
    /// process has exited, then start them all again.
    TermAll,
}

impl FaultKind {
    /// How long the fault lasts, ms (the election timeout is 500-1000 ms, the lease 450 ms).
    fn hold_ms(self, rng: &mut Rng) -> u64 {
        match self {
            FaultKind::KillLeader | FaultKind::KillAny => rng.range(100, 1500),
            FaultKind::KillMajority | FaultKind::KillAll | FaultKind::TermAll => {
                rng.range(100, 1000)
            }
            FaultKind::PauseLeader | FaultKind::PauseAny => rng.range(1100, 2000),
            FaultKind::PauseLeaderBrief => rng.range(300, 1100),
            FaultKind::IsolateLeader
            | FaultKind::PartitionMinority
            | FaultKind::PartitionMajority
            | FaultKind::LeaderDeaf
            | FaultKind::LeaderMute
            | FaultKind::Bridge => rng.range(1100, 3000),
            FaultKind::Transfer | FaultKind::RollingRestart => 0,
        }
    }

    /// How long the schedule leaves for the fault besides its hold: restarts take time.
    fn budget_ms(self, nodes: usize) -> u64 {
        match self {
            FaultKind::RollingRestart => ROLLING_RESTART_BUDGET_MS_PER_NODE * nodes as u64,
            FaultKind::TermAll => TERM_ALL_BUDGET_MS,
            _ => 0,
        }
    }

    fn is_partition(self) -> bool {
        matches!(
            self,
            FaultKind::IsolateLeader
                | FaultKind::PartitionMinority
                | FaultKind::PartitionMajority
                | FaultKind::LeaderDeaf
                | FaultKind::LeaderMute
                | FaultKind::Bridge
        )
    }

    fn is_kill(self) -> bool {
        matches!(
            self,
            FaultKind::KillLeader
                | FaultKind::KillAny
                | FaultKind::KillMajority
                | FaultKind::KillAll
        )
    }

    /// How many of `n` nodes it hits, and whether the leader goes first.
    fn targets(self, n: usize) -> (usize, bool) {
        match self {
            FaultKind::KillLeader | FaultKind::PauseLeader | FaultKind::PauseLeaderBrief => {
                (1, true)
            }
            FaultKind::KillAny | FaultKind::PauseAny => (1, false),
            FaultKind::IsolateLeader | FaultKind::LeaderDeaf | FaultKind::LeaderMute => (1, true),
            // The two halves; the node left over is the bridge.
            FaultKind::Bridge => (n - 1, false),
            FaultKind::PartitionMinority => ((n - 1) / 2, false),
            FaultKind::PartitionMajority => (n / 2 + 1, false),
            FaultKind::KillMajority => (n / 2 + 1, false),
            FaultKind::KillAll | FaultKind::TermAll => (n, false),
            // Run apart by the nemesis.
            FaultKind::Transfer | FaultKind::RollingRestart => (0, false),
        }
    }
}

/// Faults applied together, held, then healed together.
#[derive(Clone, Debug)]
struct Step {
    at_ms: u64,
    faults: Vec<FaultKind>,
    hold_ms: u64,
    /// Seeds the choices made when the step runs (which node, which transfer target).
    pick: u64,
}

struct Config {
    name: &'static str,
    seed: u64,
    nodes: usize,
    clients: usize,
    /// Register keys shared by all clients.
    keys: usize,
    run: Duration,
    faults: &'static [FaultKind],
    /// Faults per step at most (2 only where a majority survives two).
    faults_per_step_max: usize,
    /// What the clients' outcomes must be, besides a linearizable history.
    expect: Expect,
}

/// What a run asks of the outcomes of the client ops, beyond a linearizable history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    /// Anything: kills and pauses leave ops of unknown outcome.
    AnyOutcome,
    /// Every stop is graceful (SIGTERM), so a client sees nothing but retries: each op ends
    /// Ok or refused (TRYAGAIN, or its connection closed before the node ran it, see
    /// `no_reply`), and the clients retry refused ops until they succeed. No other error, no
    /// timeout, no op given up after `RETRY_ATTEMPTS_MAX` refusals, and no UNCERTAIN: a follower
    /// that forwarded a write to a leader that stopped before answering learns the outcome
    /// when it applies the entry, or an entry of a later term (`raft::fate`).
    Retries,
    /// As `AnyOutcome`, but no node answers UNCERTAIN: every node stays up and in touch, so
    /// each write's fate is learnt from the entries applied (`raft::fate`), whoever led when
    /// it was appended. An op may still end unknown by a connection lost.
    NoUncertainReply,
}

impl Expect {
    fn graceful(self) -> bool {
        self == Expect::Retries
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn schedule(cfg: &Config, rng: &mut Rng) -> Vec<Step> {
    let run_ms = cfg.run.as_millis() as u64;
    let mut steps = Vec::new();
    let mut t = rng.range(500, 900);
    loop {
        let n = 1 + rng.below(cfg.faults_per_step_max as u64) as usize;
        let mut faults: Vec<FaultKind> = (0..n)
            .map(|_| cfg.faults[rng.below(cfg.faults.len() as u64) as usize])
            .collect();
        // One cut per step: a second partition drawn for it is dropped.
        let mut cut = false;
        faults.retain(|f| !f.is_partition() || !std::mem::replace(&mut cut, true));
        let hold_ms = faults.iter().map(|f| f.hold_ms(rng)).max().unwrap_or(0);
        let budget_ms = faults
            .iter()
            .map(|f| f.budget_ms(cfg.nodes))
            .max()
            .unwrap_or(0);
        if t + hold_ms + budget_ms + 500 > run_ms {
            break;
        }
        steps.push(Step {
            at_ms: t,
            faults,
            hold_ms,
            pick: rng.next(),
        });
        t += hold_ms + budget_ms + rng.range(400, 1200);
    }
    steps
}

/// One client thread's view of the cluster and the shared recorder.
struct Shared<'a> {
    /// Where each node listens for clients (its own loopback address).
    addrs: Vec<([u8; 4], u16)>,
    node_ids: Vec<u64>,
    recorder: &'a Recorder,
    stop: &'a AtomicBool,
    /// Client ops acknowledged so far (the nemesis waits on it).
    oks: &'a AtomicU64,
    keys: usize,
    clients: u64,
    /// `Expect::graceful`: every stop is graceful, so a connection closed without a reply
    /// is a refusal (see `no_reply`); refused ops are retried.
    graceful: bool,
}

/// A register op or a write-once (set workload) op.
fn pick_op(rng: &mut Rng, value: Value, keys: usize, t: usize, seq: u64) -> (String, OpKind) {
    let r = rng.below(100);
    if r < 8 {
        return (format!("add:{t}:{seq}"), OpKind::Write(1));
    }
    let key = format!("r{}", rng.below(keys as u64));
    let kind = match r {
        8..=42 => OpKind::Read,
        43..=62 => OpKind::Write(value),
        63..=74 => OpKind::Incr(rng.range(1, 10) as Value),
        75..=84 => OpKind::GetSet(value),
        85..=89 => OpKind::SetNx(value),
        90..=94 => OpKind::SetXx(value),
        _ => OpKind::Del,
    };
    (key, kind)
}

fn command(key: &str, kind: OpKind) -> Vec<String> {
    let k = key.to_string();
    match kind {
        OpKind::Read => vec!["GET".into(), k],
        OpKind::Write(v) => vec!["SET".into(), k, v.to_string()],
        OpKind::Incr(n) => vec!["INCRBY".into(), k, n.to_string()],
        OpKind::GetSet(v) => vec!["SET".into(), k, v.to_string(), "GET".into()],
        OpKind::SetNx(v) => vec!["SET".into(), k, v.to_string(), "NX".into()],
        OpKind::SetXx(v) => vec!["SET".into(), k, v.to_string(), "XX".into()],
        OpKind::Del => vec!["DEL".into(), k],
    }
}

fn value_of(f: &Frame) -> Option<Ret> {
    match f {
        Frame::Null => Some(Ret::Value(None)),
        Frame::BulkString(b) => std::str::from_utf8(b)
            .ok()?
            .parse()
            .ok()
            .map(|v| Ret::Value(Some(v))),
        _ => None,
    }
}

/// The outcome of a reply to `kind`.
fn outcome(kind: OpKind, reply: Option<Frame>) -> Outcome {
    let Some(f) = reply else {
        return Outcome::Info("no reply: connection closed or timed out".into());
    };
    if let Frame::Error(e) = &f {
        if e.starts_with("TRYAGAIN") || e.starts_with("MISCONF") {
            return Outcome::Fail(e.clone());
        }
        if e.starts_with("UNCERTAIN") {
            return Outcome::Info(e.clone());
        }
    }
    let ok = f == Frame::SimpleString(b"OK".to_vec());
    let ret = match (kind, &f) {
        (OpKind::Read | OpKind::GetSet(_), _) => value_of(&f),
        (OpKind::Write(_), _) if ok => Some(Ret::Done),
        (OpKind::Incr(_) | OpKind::Del, Frame::Integer(n)) => Some(Ret::Int(*n)),
        (OpKind::SetNx(_) | OpKind::SetXx(_), Frame::Null) => Some(Ret::Applied(false)),
        (OpKind::SetNx(_) | OpKind::SetXx(_), _) if ok => Some(Ret::Applied(true)),
        _ => None,
    };
    Outcome::Ok(ret.unwrap_or_else(|| Ret::Unexpected(format!("{f:?}"))))
}

fn show_frame(f: &Frame) -> String {
    match f {
        Frame::SimpleString(b) | Frame::BulkString(b) => String::from_utf8_lossy(b).to_string(),
        Frame::Error(e) => format!("-{e}"),
        other => format!("{other:?}"),
    }
}

fn connect((ip, port): ([u8; 4], u16)) -> Option<Client> {
    let c = Client::try_connect_to(ip, port)?;
    c.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    Some(c)
}

/// Why an op got no reply: sent at `sent`, `send_ok` if the request was written out.
/// `graceful`: every node that stops shuts down gracefully, and a node that does answers
/// every command it runs before it stops (it refuses the rest with TRYAGAIN), so a
/// connection closed without a reply means the command was not run: the op failed, and the
/// history checks that claim. A timeout stays of unknown outcome.
fn no_reply(send_ok: bool, sent: Instant, graceful: bool) -> Outcome {
    if sent.elapsed() >= CLIENT_TIMEOUT {
        return Outcome::Info(format!("no reply: timed out after {CLIENT_TIMEOUT:?}"));
    }
    let why = if send_ok {
        "no reply: connection closed"
    } else {
        "no reply: the request could not be sent (connection closed)"
    };
    if graceful {
        Outcome::Fail(format!("{why} by a graceful shutdown: not run"))
    } else {
        Outcome::Info(why.into())
    }
}

/// Runs random ops until told to stop; returns how many it ran, and the ops it gave up on
/// after `RETRY_ATTEMPTS_MAX` refusals (with `graceful`).
fn client_loop(sh: &Shared<'_>, t: usize, seed: u64) -> (u64, Vec<String>) {
    let mut rng = Rng(seed ^ (t as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F));
    let mut process = t as u64;
    let mut conn: Option<(usize, Client)> = None;
    let mut seq = 0u64;
    // With `graceful`: the ops refused last time, sent again next, and how often in a row.
    let mut retry: Vec<(String, OpKind)> = Vec::new();
    let mut attempts = 0u32;
    let mut given_up = Vec::new();
    while !sh.stop.load(Ordering::Relaxed) && seq < OPS_PER_CLIENT_MAX {
        if conn.is_none() {
            let node = rng.below(sh.addrs.len() as u64) as usize;
            match connect(sh.addrs[node]) {
                Some(c) => conn = Some((node, c)),
                None => {
                    // Refused: nothing was sent; try again (maybe elsewhere) shortly.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
        }
        let Some((node, c)) = conn.as_mut() else {
            continue;
        };
        let node = *node;
        let ops = if retry.is_empty() {
            // Mostly one op at a time; sometimes a pipeline, which raftis runs as one batch
            // (consecutive writes in one log entry, reads behind one read barrier). Ops of
            // a pipeline overlap in time, so the checker orders them freely.
            let batch = if rng.below(100) < PIPELINE_PERCENT {
                rng.range(2, PIPELINE_OPS_MAX + 1)
            } else {
                1
            };
            (0..batch)
                .map(|_| {
                    seq += 1;
                    // Unique per write. Increments add at most 9 each, so they would reach
                    // another write's value only after thousands in a row; a repeated value
                    // could only hide a violation, never invent one.
                    let value = (t as Value + 1) * 1_000_000_000_000 + seq as Value * 100_000;
                    pick_op(&mut rng, value, sh.keys, t, seq)
                })
                .collect()
        } else {
            // The same ops again: refused ones certainly did not take effect, so a write
            // keeps its value unique.
            std::mem::take(&mut retry)
        };
        let mut bytes = Vec::new();
        for (key, kind) in &ops {
            Client::encode(&command(key, *kind), &mut bytes);
        }
        let pending: Vec<_> = ops
            .iter()
            .map(|(key, kind)| sh.recorder.invoke(process, sh.node_ids[node], key, *kind))
            .collect();
        // Once a reply is missing the connection is useless: the rest are unknown too.
        let sent = Instant::now();
        let send_ok = c.send_raw(&bytes).is_some();
        let mut alive = send_ok;
        let mut worst = Outcome::Ok(Ret::Done);
        for (p, (key, kind)) in pending.into_iter().zip(&ops) {
            let reply = if alive { c.read_reply() } else { None };
            alive &= reply.is_some();
            let outcome = match reply {
                Some(_) => outcome(*kind, reply),
                None => no_reply(send_ok, sent, sh.graceful),
            };
            let op = sh.recorder.complete(p, outcome);
            if matches!(op.outcome, Outcome::Ok(_)) {
                sh.oks.fetch_add(1, Ordering::Relaxed);
            }
            if sh.graceful && matches!(op.outcome, Outcome::Fail(_)) {
                retry.push((key.clone(), *kind));
            }
            let rank = |o: &Outcome| match o {
                Outcome::Ok(_) => 0,
                Outcome::Fail(_) => 1,
                Outcome::Info(_) => 2,
            };
            if rank(&op.outcome) > rank(&worst) {
                worst = op.outcome;
            }
        }
        if retry.is_empty() {
            attempts = 0;
        } else {
            attempts += 1;
            if attempts >= RETRY_ATTEMPTS_MAX {
                given_up.extend(retry.drain(..).map(|(key, kind)| {
                    format!("client {t}: {kind} on {key}: refused {attempts} times in a row")
                }));
                attempts = 0;
            }
        }
        let closed = !alive;
        // The batch's worst outcome decides what the client does next.
        match worst {
            Outcome::Info(_) => {
                // The op may still be in flight: carry on as a new process, as Jepsen does.
                process += sh.clients;
                if closed || rng.below(2) == 0 {
                    conn = None;
                }
            }
            Outcome::Fail(_) => {
                // No leader right now: back off a little, and maybe try another node.
                std::thread::sleep(Duration::from_millis(rng.range(10, 50)));
                if rng.below(2) == 0 {
                    conn = None;
                }
            }
            Outcome::Ok(_) => {
                if rng.below(50) == 0 {
                    conn = None;
                }
            }
        }
    }
    (seq, given_up)
}

/// The node every running, unpaused member calls leader, if they agree right now.
fn current_leader(cluster: &Cluster, paused: &[bool]) -> Option<usize> {
    (0..cluster.nodes.len()).find(|&i| {
        cluster.nodes[i].is_running()
            && !paused[i]
            && cluster.nodes[i].info_field("raft_role").as_deref() == Some("leader")
    })
}

/// `f` until it returns Some, or None at the deadline (the nemesis reports a problem rather
/// than panic while the clients run).
fn poll<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn info_u64(cluster: &Cluster, i: usize, field: &str) -> Option<u64> {
    cluster.nodes[i].info_field(field)?.parse().ok()
}

/// What the nemesis did (on the history's clock) and what went wrong while it did it.
#[derive(Default)]
struct NemesisLog {
    lines: Vec<String>,
    problems: Vec<String>,
    /// (node id, SIGTERM sent, exit seen) on the history's clock, ns: while a node shuts
    /// down gracefully.
    stopping: Vec<(u64, u64, u64)>,
}

impl NemesisLog {
    fn line(&mut self, recorder: &Recorder, text: String) {
        self.lines
            .push(format!("{:8.3}s {text}", recorder.now_ns() as f64 / 1e9));
    }

    fn problem(&mut self, recorder: &Recorder, text: String) {
        self.line(recorder, format!("PROBLEM: {text}"));
        self.problems.push(text);
    }
}

/// SIGTERM to node `i`; returns when, on the history's clock.
fn sigterm(cluster: &Cluster, i: usize, recorder: &Recorder) -> u64 {
    let at = recorder.now_ns();
    cluster.nodes[i].signal("TERM");
    at
}

/// After SIGTERM (sent at `since_ns`): waits until the process has exited (by its PID); a
/// problem if it did not in time (it is then killed, so the run can go on).
fn terminate(
    cluster: &mut Cluster,
    i: usize,
    since_ns: u64,
    log: &mut NemesisLog,
    recorder: &Recorder,
) {
    let id = cluster.nodes[i].id;
    let t = Instant::now();
    let exited = cluster.nodes[i].wait_exit(EXIT_TIMEOUT);
    log.stopping.push((id, since_ns, recorder.now_ns()));
    if exited {
        log.line(
            recorder,
            format!("node {id} exited after {:?}", t.elapsed()),
        );
    } else {
        log.problem(
            recorder,
            format!("node {id} did not exit within {EXIT_TIMEOUT:?} of SIGTERM"),
        );
        cluster.nodes[i].kill9();
    }
}

/// Waits until node `i` knows a leader and has applied the leader's commit index as it was
/// once `i` answered; returns that index.
fn wait_caught_up(cluster: &Cluster, i: usize) -> Option<u64> {
    let target = poll(CATCH_UP_TIMEOUT, || {
        let leader = current_leader(cluster, &vec![false; cluster.nodes.len()])?;
        info_u64(cluster, i, "raft_applied_index")?;
        info_u64(cluster, leader, "raft_commit_index")
    })?;
    poll(CATCH_UP_TIMEOUT, || {
        (info_u64(cluster, i, "raft_leader_id")? != 0
            && info_u64(cluster, i, "raft_applied_index")? >= target)
            .then_some(target)
    })
}

/// One node after the other: SIGTERM, wait for the exit, start again, wait until caught up.
/// Half of the turns take the current leader if it is still to go, the others a random node.
fn rolling_restart(
    cluster: &mut Cluster,
    rng: &mut Rng,
    log: &mut NemesisLog,
    recorder: &Recorder,
) {
    let n = cluster.nodes.len();
    let mut todo: Vec<usize> = (0..n).collect();
    let mut turn = 0;
    while !todo.is_empty() {
        let leader = current_leader(cluster, &vec![false; n]);
        let pos = match leader.and_then(|l| todo.iter().position(|&i| i == l)) {
            Some(p) if turn == 0 || rng.below(2) == 0 => p,
            _ => rng.below(todo.len() as u64) as usize,
        };
        turn += 1;
        let i = todo.remove(pos);
        let id = cluster.nodes[i].id;
        let role = match leader {
            Some(l) if l == i => "the leader",
            Some(_) => "a follower",
            None => "no leader known",
        };
        log.line(
            recorder,
            format!("rolling restart: SIGTERM node {id} ({role})"),
        );
        let since = sigterm(cluster, i, recorder);
        terminate(cluster, i, since, log, recorder);
        let t = Instant::now();
        cluster.nodes[i].start();
        log.line(recorder, format!("restarted node {id}"));
        match wait_caught_up(cluster, i) {
            Some(index) => log.line(
                recorder,
                format!(
                    "node {id} caught up (applied index {index}) {:?} after its start",
                    t.elapsed()
                ),
            ),
            None => log.problem(
                recorder,
                format!("node {id} did not catch up within {CATCH_UP_TIMEOUT:?}"),
            ),
        }
    }
}

/// Cuts the network as `shape` says around the nodes at the indexes in `side` (see
/// FaultKind), and logs it (or why it could not: a problem of the run).
fn partition(
    cluster: &Cluster,
    shape: FaultKind,
    side: &[usize],
    leader: Option<usize>,
    log: &mut NemesisLog,
    recorder: &Recorder,
) -> Option<Cut> {
    let ids = |group: &[usize]| {
        group
            .iter()
            .map(|&i| cluster.nodes[i].id)
            .collect::<Vec<_>>()
    };
    let ips = |group: &[usize]| {
        group
            .iter()
            .map(|&i| cluster.nodes[i].ip)
            .collect::<Vec<_>>()
    };
    let rest: Vec<usize> = (0..cluster.nodes.len())
        .filter(|i| !side.contains(i))
        .collect();
    let (what, cut) = match shape {
        FaultKind::LeaderDeaf => (
            format!(
                "one way: packets from {:?} to {:?} dropped",
                ids(&rest),
                ids(side)
            ),
            Cut::one_way(&ips(&rest), &ips(side)),
        ),
        FaultKind::LeaderMute => (
            format!(
                "one way: packets from {:?} to {:?} dropped",
                ids(side),
                ids(&rest)
            ),
            Cut::one_way(&ips(side), &ips(&rest)),
        ),
        FaultKind::Bridge => {
            let (a, b) = side.split_at(side.len() / 2);
            (
                format!("bridge {:?} | {:?} via {:?}", ids(a), ids(b), ids(&rest)),
                Cut::sides(&ips(a), &ips(b)),
            )
        }
        _ => (
            format!("partition {:?} | {:?}", ids(side), ids(&rest)),
            Cut::sides(&ips(side), &ips(&rest)),
        ),
    };
    let what = format!(
        "{what} (leader was {:?})",
        leader.map(|l| cluster.nodes[l].id)
    );
    match cut {
        Ok(cut) => {
            log.line(recorder, what);
            Some(cut)
        }
        Err(why) => {
            log.problem(recorder, format!("{what}: could not cut: {why}"));
            None
        }
    }
}

/// Applies the fault schedule; returns what was done, on the history's clock.
fn nemesis(
    cluster: &mut Cluster,
    steps: &[Step],
    recorder: &Recorder,
    oks: &AtomicU64,
    run: Duration,
) -> NemesisLog {
    let start = Instant::now();
    let mut log = NemesisLog::default();
    let n = cluster.nodes.len();
    for step in steps {
        let due = Duration::from_millis(step.at_ms);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut rng = Rng(step.pick);
        let mut paused = vec![false; n];
        let mut killed = Vec::new();
        let mut terminated = Vec::new();
        let mut taken = vec![false; n];
        // This step's partition, if it has one (one cut per step), and the nodes it is shaped
        // around.
        let mut shape = None;
        let mut side = Vec::new();
        let leader = current_leader(cluster, &paused);
        for &f in &step.faults {
            if f == FaultKind::RollingRestart {
                rolling_restart(cluster, &mut rng, &mut log, recorder);
                continue;
            }
            if f == FaultKind::Transfer {
                let Some(l) = leader else {
                    log.line(recorder, "transfer: no leader right now, skipped".into());
                    continue;
                };
                let others: Vec<u64> = (0..n)
                    .filter(|&i| i != l)
                    .map(|i| cluster.nodes[i].id)
                    .collect();
                let mut cmd = vec!["RAFT.TRANSFER-LEADER".to_string()];
                if rng.below(2) == 0 {
                    cmd.push(others[rng.below(others.len() as u64) as usize].to_string());
                }
                let now = |r: &Recorder| r.now_ns() as f64 / 1e9;
                let at = now(recorder);
                let node = &cluster.nodes[l];
                let reply = Client::try_connect_to(node.ip, node.port)
                    .and_then(|mut c| c.try_cmd(&cmd))
                    .map_or_else(|| "no reply".to_string(), |f| show_frame(&f));
                log.lines.push(format!(
                    "{at:8.3}s {} on node {} (the leader): {} at {:.3}s",
                    cmd.join(" "),
                    cluster.nodes[l].id,
                    reply,
                    now(recorder)
                ));
                continue;
            }
            let (count, leader_first) = f.targets(n);
            let mut targets = Vec::new();
            if let Some(l) = leader.filter(|&l| leader_first && !taken[l]) {
                targets.push(l);
                taken[l] = true;
            }
            while targets.len() < count {
                let free: Vec<usize> = (0..n).filter(|&i| !taken[i]).collect();
                if free.is_empty() {
                    break;
                }
                let t = free[rng.below(free.len() as u64) as usize];
                targets.push(t);
                taken[t] = true;
            }
            for target in targets {
                let role = match leader {
                    Some(l) if l == target => "the leader",
                    Some(_) => "a follower",
                    None => "no leader known",
                };
                let id = cluster.nodes[target].id;
                if f.is_partition() {
                    shape = Some(f);
                    side.push(target);
                } else if f.is_kill() {
                    cluster.nodes[target].kill9();
                    killed.push(target);
                    log.line(recorder, format!("kill -9 node {id} ({role})"));
                } else if f == FaultKind::TermAll {
                    terminated.push((target, sigterm(cluster, target, recorder)));
                    log.line(recorder, format!("SIGTERM node {id} ({role})"));
                } else {
                    cluster.nodes[target].signal("STOP");
                    paused[target] = true;
                    log.line(recorder, format!("SIGSTOP node {id} ({role})"));
                }
            }
        }
        for &(i, since) in &terminated {
            terminate(cluster, i, since, &mut log, recorder);
        }
        let cut = shape.and_then(|f| partition(cluster, f, &side, leader, &mut log, recorder));
        let hold = Instant::now();
        if let (Some(_), Some(l)) = (&cut, leader) {
            // How long the cut takes to move leadership (it may not: a bridge, a cut that leaves
            // the leader a majority, or one that leaves no side a majority).
            let hold_for = Duration::from_millis(step.hold_ms);
            let new_leader = || {
                (0..n).find(|&i| {
                    i != l
                        && !killed.contains(&i)
                        && !paused[i]
                        && cluster.nodes[i].info_field("raft_role").as_deref() == Some("leader")
                })
            };
            match poll(hold_for, new_leader) {
                Some(i) => log.line(
                    recorder,
                    format!(
                        "node {} leads, {} ms into the cut",
                        cluster.nodes[i].id,
                        hold.elapsed().as_millis()
                    ),
                ),
                None => log.line(recorder, "no other node led during the cut".into()),
            }
        }
        if let Some(rest) = Duration::from_millis(step.hold_ms).checked_sub(hold.elapsed()) {
            std::thread::sleep(rest);
        }
        if let Some(cut) = cut {
            drop(cut);
            log.line(recorder, "partition healed".into());
        }
        for (node, _) in cluster.nodes.iter().zip(&paused).filter(|(_, &p)| p) {
            node.signal("CONT");
            log.line(recorder, format!("SIGCONT node {}", node.id));
        }
        for &i in killed.iter().chain(terminated.iter().map(|(i, _)| i)) {
            cluster.nodes[i].start();
            log.line(recorder, format!("restarted node {}", cluster.nodes[i].id));
        }
        if killed.len() + terminated.len() == n {
            // The whole cluster was down: it must elect a leader again and serve.
            let t = Instant::now();
            match poll(LEADER_AGAIN_TIMEOUT, || current_leader(cluster, &paused)) {
                Some(l) => log.line(
                    recorder,
                    format!(
                        "node {} leads, {:?} after the last start",
                        cluster.nodes[l].id,
                        t.elapsed()
                    ),
                ),
                None => log.problem(
                    recorder,
                    format!("no leader within {LEADER_AGAIN_TIMEOUT:?} of restarting every node"),
                ),
            }
            let base = oks.load(Ordering::Relaxed);
            let serving = poll(LEADER_AGAIN_TIMEOUT, || {
                (oks.load(Ordering::Relaxed) >= base + SERVING_AGAIN_OPS).then_some(())
            });
            match serving {
                Some(()) => log.line(
                    recorder,
                    format!(
                        "serving again: {SERVING_AGAIN_OPS} client ops acknowledged {:?} after \
                         the last start",
                        t.elapsed()
                    ),
                ),
                None => log.problem(
                    recorder,
                    format!(
                        "fewer than {SERVING_AGAIN_OPS} client ops acknowledged within \
                         {LEADER_AGAIN_TIMEOUT:?} of a leader after restarting every node"
                    ),
                ),
            }
        }
    }
    if let Some(rest) = run.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    log
}

/// Reads every key from every node into the history (after the run, so they come last).
fn final_reads(cluster: &Cluster, recorder: &Recorder, keys: &[String]) -> Vec<Vec<Option<Value>>> {
    cluster
        .nodes
        .iter()
        .map(|node| {
            let mut c = connect((node.ip, node.port)).expect("connect for the final reads");
            let process = FINAL_PROCESS_BASE + node.id;
            keys.chunks(200)
                .flat_map(|chunk| {
                    let pending: Vec<_> = chunk
                        .iter()
                        .map(|k| recorder.invoke(process, node.id, k, OpKind::Read))
                        .collect();
                    let cmds: Vec<Vec<&str>> =
                        chunk.iter().map(|k| vec!["GET", k.as_str()]).collect();
                    let replies = c.pipeline(&cmds);
                    pending
                        .into_iter()
                        .zip(replies)
                        .map(|(p, r)| {
                            let op = recorder.complete(p, outcome(OpKind::Read, Some(r)));
                            match op.outcome {
                                Outcome::Ok(Ret::Value(v)) => v,
                                other => {
                                    panic!("final read of {} on node {}: {other}", op.key, node.id)
                                }
                            }
                        })
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .collect()
}

/// Write-once keys: every acknowledged one reads back on every node, every failed one on
/// none, and one of unknown outcome reads back everywhere or nowhere (`finals` agree is
/// checked apart).
fn check_set_workload(
    history: &[Op],
    keys: &[String],
    finals: &[Vec<Option<Value>>],
    node_ids: &[u64],
) -> Vec<String> {
    let writes: HashMap<&str, &Op> = history
        .iter()
        .filter(|o| o.key.starts_with("add:") && o.process < FINAL_PROCESS_BASE)
        .map(|o| (o.key.as_str(), o))
        .collect();
    let mut problems = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let Some(w) = writes.get(key.as_str()) else {
            continue;
        };
        for (vals, id) in finals.iter().zip(node_ids) {
            let v = vals[k];
            let bad = match w.outcome {
                Outcome::Ok(_) => v != Some(1),
                Outcome::Fail(_) => v.is_some(),
                Outcome::Info(_) => v.is_some_and(|x| x != 1),
            };
            if bad {
                problems.push(format!(
                    "{key}: the write of 1 ended {} but node {id} reads {v:?}",
                    w.outcome
                ));
            }
        }
    }
    problems
}

/// Acknowledged ops per second of the run, by completion time: where the faults cost
/// availability, and for how long.
fn ok_per_second(ops: &[Op]) -> Vec<String> {
    let mut per_second: Vec<u64> = Vec::new();
    for o in ops.iter().filter(|o| matches!(o.outcome, Outcome::Ok(_))) {
        let s = (o.complete_ns / 1_000_000_000) as usize;
        if per_second.len() <= s {
            per_second.resize(s + 1, 0);
        }
        per_second[s] += 1;
    }
    per_second.iter().map(u64::to_string).collect()
}

/// Client ops that ended neither Ok nor refused with TRYAGAIN or cut off unrun by a graceful
/// shutdown (which a client retries: the op certainly did not take effect), grouped by how
/// they ended, with the first few of each; then the ops given up after `RETRY_ATTEMPTS_MAX`
/// refusals. An UNCERTAIN from a node that was shutting down then (`stopping`, see
/// `NemesisLog`) is listed apart: a node that stops must answer what it runs.
fn beyond_retries(
    client_ops: &[Op],
    given_up: &[String],
    stopping: &[(u64, u64, u64)],
) -> Vec<String> {
    let mut by_reason: Vec<(String, Vec<&Op>)> = Vec::new();
    for o in client_ops {
        let uncertain = matches!(&o.outcome, Outcome::Info(why) if why.starts_with("UNCERTAIN"));
        let by_stopping_node = stopping
            .iter()
            .any(|&(id, from, to)| id == o.node && o.complete_ns >= from && o.invoke_ns <= to);
        let reason = match &o.outcome {
            Outcome::Info(why) if uncertain && by_stopping_node => {
                format!("unknown outcome, from a node shutting down: {why}")
            }
            Outcome::Ok(Ret::Unexpected(r)) => format!("unexpected reply {r}"),
            Outcome::Ok(_) => continue,
            // Refused, or cut off by a graceful shutdown before it ran (`no_reply`).
            Outcome::Fail(why) if why.starts_with("TRYAGAIN") || why.starts_with("no reply") => {
                continue
            }
            Outcome::Fail(why) => format!("failed: {why}"),
            Outcome::Info(why) => format!("unknown outcome: {why}"),
        };
        let class = if o.kind.is_read() { "reads" } else { "writes" };
        let reason = format!("{class}, {reason}");
        match by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, ops)) => ops.push(o),
            None => by_reason.push((reason, vec![o])),
        }
    }
    let mut lines = Vec::new();
    for (reason, ops) in &by_reason {
        let first: Vec<String> = ops
            .iter()
            .take(3)
            .map(|o| {
                format!(
                    "{} on {} via node {} at {:.3}s",
                    o.kind,
                    o.key,
                    o.node,
                    o.invoke_ns as f64 / 1e9
                )
            })
            .collect();
        lines.push(format!(
            "{} {reason} (e.g. {})",
            ops.len(),
            first.join("; ")
        ));
    }
    lines.extend(given_up.iter().map(|g| format!("given up: {g}")));
    lines
}

fn run(cfg: Config) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let seed = env_u64("RAFTIS_JEPSEN_SEED").unwrap_or(cfg.seed);
    let cfg = Config {
        seed,
        run: env_u64("RAFTIS_JEPSEN_SECS").map_or(cfg.run, Duration::from_secs),
        ..cfg
    };
    let mut rng = Rng(seed);
    let steps = schedule(&cfg, &mut rng);
    eprintln!(
        "==== {}: seed {seed} (RAFTIS_JEPSEN_SEED={seed} replays it), {} nodes, {} clients, {} keys, {:?}",
        cfg.name, cfg.nodes, cfg.clients, cfg.keys, cfg.run
    );
    eprintln!("fault schedule:");
    for s in &steps {
        eprintln!("  at {:6} ms {:?} for {} ms", s.at_ms, s.faults, s.hold_ms);
    }

    // Partitions need traffic control, and one qdisc tree on `lo` at a time.
    let _tc = if cfg.faults.iter().any(|f| f.is_partition()) {
        let turn = tc_turn();
        if let Err(why) = Cut::packets(&[]) {
            eprintln!("skipped: {why}");
            return;
        }
        Some(turn)
    } else {
        None
    };
    let mut cluster = Cluster::start_spread(cfg.nodes, &["--raft-write-timeout", WRITE_TIMEOUT_MS]);
    cluster.wait_leader(Duration::from_secs(20));
    let recorder = Recorder::new();
    let stop = AtomicBool::new(false);
    let oks = AtomicU64::new(0);
    let sh = Shared {
        oks: &oks,
        addrs: cluster.nodes.iter().map(|n| (n.ip, n.port)).collect(),
        node_ids: cluster.nodes.iter().map(|n| n.id).collect(),
        recorder: &recorder,
        stop: &stop,
        keys: cfg.keys,
        clients: cfg.clients as u64,
        graceful: cfg.expect.graceful(),
    };
    let (fault_log, given_up) = std::thread::scope(|s| {
        let clients: Vec<_> = (0..cfg.clients)
            .map(|t| {
                let sh = &sh;
                s.spawn(move || client_loop(sh, t, seed))
            })
            .collect();
        let log = nemesis(&mut cluster, &steps, &recorder, &oks, cfg.run);
        stop.store(true, Ordering::Relaxed);
        let given_up: Vec<String> = clients
            .into_iter()
            .flat_map(|c| c.join().expect("client thread").1)
            .collect();
        (log, given_up)
    });
    eprintln!("faults as applied (seconds on the history's clock):");
    for l in &fault_log.lines {
        eprintln!("  {l}");
    }

    // Heal: every node runs; wait until they agree and have applied the same index.
    cluster.wait_leader(Duration::from_secs(20));
    let digests = cluster.converged_digests(Duration::from_secs(30));
    let mut keys: Vec<String> = recorder.history().iter().map(|o| o.key.clone()).collect();
    keys.sort_unstable();
    keys.dedup();
    let finals = final_reads(&cluster, &recorder, &keys);
    let history = recorder.history();
    let client_ops: Vec<Op> = history
        .iter()
        .filter(|o| o.process < FINAL_PROCESS_BASE)
        .cloned()
        .collect();
    let c = history::counts(&client_ops);
    eprintln!(
        "{} client ops: {} ok, {} failed (refused, not run), {} unknown; {} final reads",
        client_ops.len(),
        c.ok,
        c.fail,
        c.info,
        history.len() - client_ops.len()
    );
    eprintln!(
        "ok ops per second: {}",
        ok_per_second(&client_ops).join(" ")
    );
    let not_retries = beyond_retries(&client_ops, &given_up, &fault_log.stopping);
    if !not_retries.is_empty() {
        eprintln!("client ops that ended otherwise than Ok or a refusal to retry:");
        for p in &not_retries {
            eprintln!("  {p}");
        }
    }

    let t = Instant::now();
    let report = history::check(&history, CHECK_STEPS_MAX);
    eprintln!(
        "checked in {:?}:\n{}",
        t.elapsed(),
        report.summary(SUMMARY_MIN_OPS)
    );
    let set_problems = check_set_workload(&history, &keys, &finals, &sh.node_ids);
    let replicas_agree = digests.windows(2).all(|w| w[0] == w[1]);
    let finals_agree = finals.windows(2).all(|w| w[0] == w[1]);

    let mut failures = fault_log.problems.clone();
    if cfg.expect.graceful() {
        // `no_reply` relies on each stop answering every batch it ran: one that gave up on
        // some (after raft-write-timeout) says so in its log.
        for n in &cluster.nodes {
            if let Some(l) = n
                .log()
                .lines()
                .find(|l| l.contains("still running at shutdown"))
            {
                failures.push(format!("node {} cut client batches off: {l}", n.id));
            }
        }
    }
    if cfg.expect == Expect::NoUncertainReply {
        let uncertain: Vec<String> = client_ops
            .iter()
            .filter(|o| matches!(&o.outcome, Outcome::Info(why) if why.starts_with("UNCERTAIN")))
            .take(5)
            .map(|o| format!("{:?} via node {}", o.kind, o.node))
            .collect();
        if !uncertain.is_empty() {
            failures.push(format!(
                "writes answered UNCERTAIN: {}",
                uncertain.join("; ")
            ));
        }
    }
    if cfg.expect.graceful() && !not_retries.is_empty() {
        failures.push(format!(
            "client ops ended otherwise than Ok or a refusal to retry (TRYAGAIN):\n{}",
            not_retries.join("\n")
        ));
    }
    for v in report.violations() {
        failures.push(v.to_string());
    }
    let unknown = report.unknown_keys();
    if !unknown.is_empty() {
        failures.push(format!(
            "the checker gave up on keys {unknown:?} (step or memory limit): neither proven nor refuted"
        ));
    }
    failures.extend(set_problems);
    if !replicas_agree {
        failures.push(format!("replicas differ after convergence: {digests:?}"));
    }
    if !finals_agree {
        failures.push("nodes read different final values".to_string());
    }
    assert!(
        c.ok > 100,
        "the clients made little progress ({} ok ops): the test checks nothing",
        c.ok
    );
    if !failures.is_empty() {
        let path = std::env::temp_dir().join(format!(
            "raftis-jepsen-{}-seed{seed}-{}.txt",
            cfg.name,
            std::process::id()
        ));
        let mut text = format!("# seed {seed}\n# faults:\n");
        for l in &fault_log.lines {
            text.push_str(&format!("# {l}\n"));
        }
        text.push_str(&history::dump(&history));
        let _ = std::fs::write(&path, text);
        panic!(
            "{}: seed {seed}: {} problem(s); full history in {} (check it again with \
             RAFTIS_JEPSEN_HISTORY=<file> cargo test --test linearizability recheck -- \
             --ignored)\n\n{}",
            cfg.name,
            failures.len(),
            path.display(),
            failures.join("\n\n")
        );
    }
}

#[test]
fn kill_9_of_leaders_followers_majorities_and_all_keeps_three_nodes_linearizable() {
    run(Config {
        name: "kill9",
        seed: 1,
        nodes: 3,
        clients: 8,
        keys: 5,
        run: Duration::from_secs(12),
        faults: &[
            FaultKind::KillLeader,
            FaultKind::KillAny,
            FaultKind::KillMajority,
            FaultKind::KillAll,
        ],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

#[test]
fn sigstop_of_the_leader_keeps_three_nodes_linearizable() {
    run(Config {
        name: "pause",
        seed: 2,
        nodes: 3,
        // Many clients: more reads in flight at the paused leader when it resumes.
        clients: 16,
        keys: 5,
        run: Duration::from_secs(12),
        // Mostly long pauses of the leader: a new leader takes over while the old one holds
        // reads it received before or during the pause.
        faults: &[
            FaultKind::PauseLeader,
            FaultKind::PauseLeader,
            FaultKind::PauseLeader,
            FaultKind::PauseLeaderBrief,
            FaultKind::PauseAny,
        ],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

/// Partitions of three nodes: the leader cut off from both followers (clients still reach it,
/// and it must neither read stale nor acknowledge a write the others do not hold), or any one
/// node cut off, mixed with a kill and a pause.
#[test]
fn partitions_keep_three_nodes_linearizable() {
    run(Config {
        name: "partition3",
        seed: 7,
        nodes: 3,
        clients: 12,
        keys: 5,
        run: Duration::from_secs(14),
        faults: &[
            FaultKind::IsolateLeader,
            FaultKind::IsolateLeader,
            FaultKind::PartitionMinority,
            FaultKind::KillAny,
            FaultKind::PauseAny,
        ],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

/// Partitions of five nodes: two against three (the leader on either side), or the leader
/// alone against four.
#[test]
fn partitions_keep_five_nodes_linearizable() {
    run(Config {
        name: "partition5",
        seed: 8,
        nodes: 5,
        clients: 12,
        keys: 5,
        run: Duration::from_secs(14),
        faults: &[
            FaultKind::PartitionMinority,
            FaultKind::PartitionMajority,
            FaultKind::IsolateLeader,
        ],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

/// One-way cuts and a bridge on three nodes: the leader deaf (it sends, hears nothing) or
/// mute (it hears, its messages are lost), or two nodes that cannot reach each other but both
/// reach the third.
#[test]
fn one_way_and_bridge_partitions_keep_three_nodes_linearizable() {
    run(Config {
        name: "oneway3",
        seed: 11,
        nodes: 3,
        clients: 12,
        keys: 5,
        run: Duration::from_secs(14),
        faults: &[
            FaultKind::LeaderDeaf,
            FaultKind::LeaderMute,
            FaultKind::Bridge,
        ],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

/// One-way cuts and a bridge on five nodes: two against two with a fifth node seeing both
/// (the leader among the halves or the bridge), the leader deaf or mute, and a plain
/// minority cut.
#[test]
fn one_way_and_bridge_partitions_keep_five_nodes_linearizable() {
    run(Config {
        name: "oneway5",
        seed: 10,
        nodes: 5,
        clients: 12,
        keys: 5,
        run: Duration::from_secs(14),
        faults: &[
            FaultKind::Bridge,
            FaultKind::Bridge,
            FaultKind::LeaderDeaf,
            FaultKind::LeaderMute,
            FaultKind::PartitionMinority,
        ],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

/// Partitions of every shape together with crashes and pauses on five nodes: up to two faults
/// a step, so a node is killed or paused while others are cut off (a cut-off minority and a
/// dead node leave the rest at a bare majority), and comes back into a healed network.
#[test]
fn partitions_with_crashes_keep_five_nodes_linearizable() {
    run(Config {
        name: "partition-crash5",
        seed: 12,
        nodes: 5,
        clients: 12,
        keys: 5,
        run: Duration::from_secs(16),
        faults: &[
            FaultKind::PartitionMinority,
            FaultKind::IsolateLeader,
            FaultKind::Bridge,
            FaultKind::LeaderDeaf,
            FaultKind::KillAny,
            FaultKind::KillLeader,
            FaultKind::PauseAny,
        ],
        faults_per_step_max: 2,
        expect: Expect::AnyOutcome,
    });
}

/// Leadership moves under load (RAFT.TRANSFER-LEADER): linearizable, and no write is left
/// of unknown outcome by a node's reply (a follower's forwards settle by their tags).
#[test]
fn leadership_transfers_keep_three_nodes_linearizable() {
    run(Config {
        name: "transfer",
        seed: 3,
        nodes: 3,
        clients: 8,
        keys: 5,
        run: Duration::from_secs(10),
        faults: &[FaultKind::Transfer],
        faults_per_step_max: 1,
        expect: Expect::NoUncertainReply,
    });
}

#[test]
fn mixed_faults_two_at_a_time_keep_five_nodes_linearizable() {
    run(Config {
        name: "mixed5",
        seed: 4,
        nodes: 5,
        clients: 10,
        keys: 6,
        run: Duration::from_secs(15),
        faults: &[
            FaultKind::KillLeader,
            FaultKind::KillAny,
            FaultKind::KillMajority,
            FaultKind::PauseLeader,
            FaultKind::PauseLeaderBrief,
            FaultKind::PauseAny,
            FaultKind::Transfer,
        ],
        faults_per_step_max: 2,
        expect: Expect::AnyOutcome,
    });
}

/// A rolling restart under load, twice over: each node in turn gets SIGTERM (a leader hands
/// leadership over first), exits, starts again and catches up before the next goes. The
/// history must be linearizable, and no client op may end otherwise than Ok or refused with
/// TRYAGAIN (retried until it succeeds): a graceful restart must never leave a client with
/// an op of unknown outcome or another error.
#[test]
fn a_rolling_restart_under_load_keeps_three_nodes_linearizable_with_nothing_but_retries() {
    run(Config {
        name: "rolling",
        seed: 5,
        nodes: 3,
        clients: 8,
        keys: 5,
        run: Duration::from_secs(12),
        faults: &[FaultKind::RollingRestart],
        faults_per_step_max: 1,
        expect: Expect::Retries,
    });
}

/// The whole cluster stops under load and starts again, gracefully (SIGTERM to every node at
/// once) or by kill -9 of every node: every acknowledged write survives (the write-once keys
/// read back through every node), the history is linearizable and the cluster serves again.
#[test]
fn stopping_the_whole_cluster_by_sigterm_or_kill_9_under_load_loses_no_acknowledged_write() {
    run(Config {
        name: "stopall",
        // Its schedule: SIGTERM to all, kill -9 of all, kill -9 of all, SIGTERM, kill -9.
        seed: 9,
        nodes: 3,
        clients: 8,
        keys: 5,
        run: Duration::from_secs(12),
        faults: &[FaultKind::TermAll, FaultKind::KillAll],
        faults_per_step_max: 1,
        expect: Expect::AnyOutcome,
    });
}

/// The set workload's check, on hand-made final states: each way it can fail, fails.
#[test]
fn set_workload_check_catches_lost_and_phantom_writes() {
    let recorder = Recorder::new();
    let write = |key: &str, outcome: Outcome| {
        let p = recorder.invoke(0, 1, key, OpKind::Write(1));
        recorder.complete(p, outcome)
    };
    let history = vec![
        write("add:0:1", Outcome::Ok(Ret::Done)),
        write("add:0:2", Outcome::Fail("TRYAGAIN no leader".into())),
        write("add:0:3", Outcome::Info("UNCERTAIN".into())),
    ];
    let keys: Vec<String> = history.iter().map(|o| o.key.clone()).collect();
    let ids = [1, 2];
    let good = vec![vec![Some(1), None, Some(1)], vec![Some(1), None, Some(1)]];
    assert!(check_set_workload(&history, &keys, &good, &ids).is_empty());
    let unknown_absent = vec![vec![Some(1), None, None], vec![Some(1), None, None]];
    assert!(check_set_workload(&history, &keys, &unknown_absent, &ids).is_empty());
    let lost = vec![vec![Some(1), None, None], vec![None, None, None]];
    let problems = check_set_workload(&history, &keys, &lost, &ids);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("add:0:1:") && problems[0].contains("node 2"));
    let phantom = vec![vec![Some(1), Some(1), None], vec![Some(1), None, None]];
    let problems = check_set_workload(&history, &keys, &phantom, &ids);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("add:0:2:") && problems[0].contains("node 1"));
    let garbage = vec![vec![Some(1), None, Some(7)], vec![Some(1), None, None]];
    assert_eq!(check_set_workload(&history, &keys, &garbage, &ids).len(), 1);
}

/// Checks a history written by a failed run again (`RAFTIS_JEPSEN_HISTORY=<file>`), e.g.
/// after a change to the checker, and prints the verdict.
#[test]
#[ignore = "needs RAFTIS_JEPSEN_HISTORY=<file of a failed run>"]
fn recheck_a_dumped_history() {
    let path = std::env::var("RAFTIS_JEPSEN_HISTORY").expect("RAFTIS_JEPSEN_HISTORY=<file>");
    let text = std::fs::read_to_string(&path).expect("read the history");
    let history = history::parse(&text).expect("parse the history");
    let t = Instant::now();
    let report = history::check(&history, CHECK_STEPS_MAX);
    eprintln!(
        "{} ops checked in {:?}:\n{}",
        history.len(),
        t.elapsed(),
        report.summary(SUMMARY_MIN_OPS)
    );
    for v in report.violations() {
        eprintln!("{v}");
    }
    assert!(report.is_linearizable(), "{path}: not proven linearizable");
}
