//! Configuration: the directive table, the command line, redis.conf files, CONFIG GET/SET.
//!
//! One table (`DIRECTIVES`) drives everything: the command line (`--name value`, built with
//! clap from the table), config files (redis.conf syntax), `CONFIG GET pattern` and
//! `CONFIG SET name value [name value ...]`. A directive is listed only if raftis honours it.
//! Error strings match redis-server 7.0's. Settings are per node (CONFIG SET is not
//! replicated, as in Redis).

use std::path::PathBuf;

use crate::glob;
use crate::store::AccessPolicy;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    Always,
    EverySec,
    No,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
            Fsync::No => "no",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Verbose => "verbose",
            LogLevel::Notice => "notice",
            LogLevel::Warning => "warning",
        }
    }
}

/// `maxmemory-policy`: what the leader evicts when used memory is over `maxmemory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Evict nothing: refuse `denyoom` writes with -OOM instead.
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    /// The `volatile-*` policies evict only keys with a TTL.
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    /// The key whose deadline is nearest first.
    VolatileTtl,
}

impl EvictionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }

    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    /// LRU or LFU: ranks keys by their access field (Redis's MAXMEMORY_FLAG_LRU | _LFU).
    pub fn ranks_by_access(self) -> bool {
        self.is_lfu()
            || matches!(
                self,
                EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru
            )
    }
}

/// In Redis's order (its CONFIG SET error lists them so).
const POLICIES: &[(&str, EvictionPolicy)] = &[
    ("volatile-lru", EvictionPolicy::VolatileLru),
    ("volatile-lfu", EvictionPolicy::VolatileLfu),
    ("volatile-random", EvictionPolicy::VolatileRandom),
    ("volatile-ttl", EvictionPolicy::VolatileTtl),
    ("allkeys-lru", EvictionPolicy::AllKeysLru),
    ("allkeys-lfu", EvictionPolicy::AllKeysLfu),
    ("allkeys-random", EvictionPolicy::AllKeysRandom),
    ("noeviction", EvictionPolicy::NoEviction),
];

/// A voter of the Raft group: its id and client address (`host:port`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: u64,
    pub host: String,
    pub port: u16,
    /// Its peer bus port when not client port + 10000 (`id@host:port@busport`).
    pub bus: Option<u16>,
}

impl Peer {
    pub fn bus_port(&self) -> u16 {
        self.bus.unwrap_or(self.port.wrapping_add(10000))
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub port: u16,
    pub dir: PathBuf,
    pub databases: usize,
    /// Threads serving client connections (the tokio workers); the Raft driver and the WAL
    /// have threads of their own.
    pub io_threads: usize,
    pub maxclients: usize,
    /// Close a client idle this many seconds (0 = never).
    pub timeout_s: u64,
    pub proto_max_bulk_len: u64,
    pub appendfsync: Fsync,
    /// With `appendfsync always`: report a sync's entries durable only once the sync marker
    /// after them is durable too (`wal::Wal::flush_marker`).
    pub wal_marker_before_ack: bool,
    pub loglevel: LogLevel,
    /// The default user's password (empty: no password, as Redis without requirepass).
    pub requirepass: String,
    /// Shared secret every node presents on the peer bus (empty: none).
    pub raft_secret: String,
    /// The address outgoing peer bus connections are made from (Redis 7's
    /// `bind-source-addr`); None lets the kernel choose.
    pub bind_source_addr: Option<std::net::IpAddr>,
    pub logfile: String,
    pub node_id: u64,
    pub peers: Vec<Peer>,
    /// The peer bus port; `None` = client port + 10000.
    pub bus_port: Option<u16>,
    pub election_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub lease_margin_ms: u64,
    /// How long a write may wait for its outcome before the client is told it is unknown.
    pub write_timeout_ms: u64,
    pub wal_segment_bytes: u64,
    pub raft_max_batch_bytes: u64,
    pub raft_max_inflight: usize,
    /// Take a snapshot once this many entries were applied since the last one.
    pub raft_snapshot_entries: u64,
    /// Snapshot once the entries applied since the last snapshot hold this many bytes.
    pub raft_snapshot_log_bytes: u64,
    /// Entries kept in memory (and in the WAL) behind a snapshot, for followers a little behind.
    pub raft_log_keep_entries: u64,
    /// Used memory the leader keeps the dataset under (0 = no limit).
    pub maxmemory: u64,
    pub maxmemory_policy: EvictionPolicy,
    /// Keys sampled per database for each eviction pool refill.
    pub maxmemory_samples: u32,
    pub lfu_log_factor: u32,
    /// Minutes per one-step decay of the LFU counter (0 = never decays).
    pub lfu_decay_time: u32,
    /// Keys a follower reports per second, at most, as read there, so the leader's LRU/LFU
    /// view includes reads it did not serve (0 = report nothing).
    pub access_hints: u32,
}

/// The most `io-threads` may be (Redis's limit too).
pub const IO_THREADS_MAX: usize = 128;

/// One thread for client connections per core, less one core left to the Raft driver and the
/// WAL, which a write crosses too: on a 2-core machine a second connection thread measured
/// more CPU per write (thread hand-offs) and no more writes per second.
fn default_io_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(1).clamp(1, IO_THREADS_MAX)
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            bind: "127.0.0.1".into(),
            port: 6379,
            dir: PathBuf::from("./raftis-data"),
            databases: 16,
            io_threads: default_io_threads(),
            maxclients: 10000,
            timeout_s: 0,
            proto_max_bulk_len: 512 << 20,
            appendfsync: Fsync::Always,
            wal_marker_before_ack: false,
            loglevel: LogLevel::Notice,
            requirepass: String::new(),
            raft_secret: String::new(),
            bind_source_addr: None,
            logfile: String::new(),
            node_id: 1,
            peers: Vec::new(),
            bus_port: None,
            election_timeout_ms: 500,
            heartbeat_interval_ms: 50,
            lease_margin_ms: 50,
            write_timeout_ms: 5000,
            wal_segment_bytes: 64 << 20,
            raft_max_batch_bytes: 1 << 20,
            raft_max_inflight: 64,
            raft_snapshot_entries: 100_000,
            raft_snapshot_log_bytes: 64 << 20,
            raft_log_keep_entries: 10_000,
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            access_hints: 10_000,
        }
    }
}

impl Settings {
    pub fn bus_port(&self) -> u16 {
        let listed = self
            .peers
            .iter()
            .find(|p| p.id == self.node_id)
            .and_then(|p| p.bus);
        self.bus_port
            .or(listed)
            .unwrap_or(self.port.wrapping_add(10000))
    }

    /// The membership a new group starts with: every `--peers` entry as a voter; a node
    /// started without `--peers` is a group of one; a node whose id is not in `--peers` starts
    /// with no membership and waits to be added (`RAFT.NODE ADD` on the leader). Once the log
    /// holds a membership change, the log decides, not the command line.
    pub fn bootstrap_membership(&self) -> crate::raft::Membership {
        let mut m = crate::raft::Membership::default();
        if self.peers.is_empty() {
            m.voters.insert(
                self.node_id,
                format!("{}:{}@{}", self.bind, self.port, self.bus_port()),
            );
        } else if self.peers.iter().any(|p| p.id == self.node_id) {
            for p in &self.peers {
                m.voters
                    .insert(p.id, format!("{}:{}@{}", p.host, p.port, p.bus_port()));
            }
        }
        m
    }

    /// What the keys' LRU/LFU field tracks under the current `maxmemory-policy`.
    pub fn access_policy(&self) -> AccessPolicy {
        if self.maxmemory_policy.is_lfu() {
            AccessPolicy::Lfu {
                log_factor: self.lfu_log_factor,
                decay_minutes: self.lfu_decay_time,
            }
        } else {
            AccessPolicy::Lru
        }
    }

    /// This node's advertised address (`host:port@busport`), as other nodes reach it.
    pub fn advertised_addr(&self) -> String {
        match self.peers.iter().find(|p| p.id == self.node_id) {
            Some(p) => format!("{}:{}@{}", p.host, p.port, self.bus_port()),
            None => format!("{}:{}@{}", self.bind, self.port, self.bus_port()),
        }
    }

    /// Checks relations between directives once all are read.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("node-id must be a positive integer".into());
        }
        let mut ids: Vec<u64> = self.peers.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.peers.len() {
            return Err("--peers lists a node id twice".into());
        }
        if self.heartbeat_interval_ms * 2 > self.election_timeout_ms {
            return Err(
                "raft-heartbeat-interval must be at most half of raft-election-timeout".into(),
            );
        }
        if self.lease_margin_ms >= self.election_timeout_ms {
            return Err("raft-lease-margin must be below raft-election-timeout".into());
        }
        Ok(())
    }
}

/// How a directive reads and writes its value.
pub struct Directive {
    pub name: &'static str,
    /// Settable with CONFIG SET at run time.
    pub mutable: bool,
    pub get: fn(&Settings) -> String,
    pub set: fn(&mut Settings, &str) -> Result<(), String>,
}

fn int_in(v: &str, min: i64, max: i64) -> Result<i64, String> {
    let n: i64 = v
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
    if n < min || n > max {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(n)
}

/// Redis's memory values: `1gb`, `100mb`, `42k`, plain bytes (memtoull).
pub fn parse_memory(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let split = lower
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(split);
    if num.is_empty() {
        return None;
    }
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Redis's `memtoull`, byte for byte: digits then an optional unit (b, k, kb, m, mb, g, gb in
/// any case); no sign, no spaces; an empty number is 0; a number past 2^64 - 1 saturates and
/// the unit's multiplication wraps, as in Redis.
pub fn memtoull(v: &str) -> Option<u64> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.len() >= 128 {
        return None;
    }
    let n = if num.is_empty() {
        0
    } else {
        num.parse::<u64>().unwrap_or(u64::MAX)
    };
    Some(n.wrapping_mul(mul))
}

fn memory_in(v: &str, min: u64) -> Result<u64, String> {
    let n = parse_memory(v).ok_or_else(|| "argument must be a memory value".to_string())?;
    if n < min {
        return Err(format!(
            "argument must be between {min} and 9223372036854775807 inclusive"
        ));
    }
    Ok(n)
}

/// A yes/no directive, with Redis's error for anything else.
fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".to_string()),
    }
}

fn yes_no_str(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

fn enum_of<T: Copy>(v: &str, options: &[(&str, T)]) -> Result<T, String> {
    options
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            format!(
                "argument(s) must be one of the following: {}",
                names.join(", ")
            )
        })
}

fn parse_peers(v: &str) -> Result<Vec<Peer>, String> {
    let bad = || format!("invalid peer list '{v}': expected id@host:port[@busport][,...]");
    let mut peers = Vec::new();
    for item in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (id, addr) = item.split_once('@').ok_or_else(bad)?;
        let (addr, bus) = match addr.split_once('@') {
            Some((a, b)) => (a, Some(b.parse::<u16>().map_err(|_| bad())?)),
            None => (addr, None),
        };
        let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
        let id: u64 = id.parse().map_err(|_| bad())?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if id == 0 || host.is_empty() {
            return Err(bad());
        }
        peers.push(Peer {
            id,
            host: host.to_string(),
            port,
            bus,
        });
    }
    Ok(peers)
}

macro_rules! directive {
    ($name:literal, $mutable:expr, |$s:ident| $get:expr, |$t:ident, $v:ident| $set:expr) => {
        Directive {
            name: $name,
            mutable: $mutable,
            get: |$s: &Settings| -> String { $get },
            set: |$t: &mut Settings, $v: &str| -> Result<(), String> {
                $set;
                Ok(())
            },
        }
    };
}

/// A read-only directive whose only value is `$value`.
macro_rules! fixed {
    ($name:literal, $value:literal) => {
        Directive {
            name: $name,
            mutable: false,
            get: |_: &Settings| -> String { $value.to_string() },
            set: |_: &mut Settings, v: &str| -> Result<(), String> {
                if v == $value {
                    Ok(())
                } else {
                    Err(format!("raftis only supports {:?}", $value))
                }
            },
        }
    };
}

const FSYNCS: &[(&str, Fsync)] = &[
    ("everysec", Fsync::EverySec),
    ("always", Fsync::Always),
    ("no", Fsync::No),
];
const LEVELS: &[(&str, LogLevel)] = &[
    ("debug", LogLevel::Debug),
    ("verbose", LogLevel::Verbose),
    ("notice", LogLevel::Notice),
    ("warning", LogLevel::Warning),
];

/// Every directive raftis honours. `appendonly` and `save` are read-only facts about how
/// raftis persists (always through its Raft log; no RDB schedule), so tools that ask, such as
/// redis-benchmark, get a truthful answer.
pub static DIRECTIVES: &[Directive] = &[
    directive!("bind", false, |s| s.bind.clone(), |s, v| s.bind =
        v.to_string()),
    directive!("port", false, |s| s.port.to_string(), |s, v| s.port =
        int_in(v, 0, 65535)? as u16),
    directive!("dir", false, |s| s.dir.display().to_string(), |s, v| s
        .dir =
        PathBuf::from(v)),
    directive!("databases", false, |s| s.databases.to_string(), |s, v| s
        .databases =
        int_in(v, 1, 1 << 20)? as usize),
    directive!("io-threads", false, |s| s.io_threads.to_string(), |s, v| {
        s.io_threads = int_in(v, 1, IO_THREADS_MAX as i64)? as usize
    }),
    directive!("maxclients", true, |s| s.maxclients.to_string(), |s, v| s
        .maxclients =
        int_in(v, 1, u32::MAX as i64)? as usize),
    directive!("timeout", true, |s| s.timeout_s.to_string(), |s, v| s
        .timeout_s =
        int_in(v, 0, i32::MAX as i64)? as u64),
    directive!(
        "proto-max-bulk-len",
        true,
        |s| s.proto_max_bulk_len.to_string(),
        |s, v| s.proto_max_bulk_len = memory_in(v, 1 << 20)?
    ),
    directive!("appendonly", false, |_s| "yes".to_string(), |_s, v| {
        enum_of(v, &[("yes", ())])?
    }),
    directive!("save", false, |_s| String::new(), |_s, v| enum_of(
        v,
        &[("", ())]
    )?),
    directive!(
        "appendfsync",
        true,
        |s| s.appendfsync.as_str().to_string(),
        |s, v| s.appendfsync = enum_of(v, FSYNCS)?
    ),
    directive!(
        "wal-marker-before-ack",
        true,
        |s| yes_no_str(s.wal_marker_before_ack),
        |s, v| s.wal_marker_before_ack = yes_no(v)?
    ),
    directive!("requirepass", true, |s| s.requirepass.clone(), |s, v| s
        .requirepass =
        v.to_string()),
    directive!("raft-secret", false, |s| s.raft_secret.clone(), |s, v| s
        .raft_secret =
        v.to_string()),
    directive!(
        "bind-source-addr",
        false,
        |s| s
            .bind_source_addr
            .map_or_else(String::new, |ip| ip.to_string()),
        |s, v| s.bind_source_addr = if v.is_empty() {
            None
        } else {
            Some(
                v.parse()
                    .map_err(|_| format!("bind-source-addr '{v}' is not an IP address"))?,
            )
        }
    ),
    directive!(
        "loglevel",
        true,
        |s| s.loglevel.as_str().to_string(),
        |s, v| s.loglevel = enum_of(v, LEVELS)?
    ),
    directive!("logfile", false, |s| s.logfile.clone(), |s, v| s.logfile =
        v.to_string()),
    directive!("node-id", false, |s| s.node_id.to_string(), |s, v| s
        .node_id =
        int_in(v, 1, i64::MAX)? as u64),
    directive!(
        "peers",
        false,
        |s| s
            .peers
            .iter()
            .map(|p| match p.bus {
                Some(b) => format!("{}@{}:{}@{b}", p.id, p.host, p.port),
                None => format!("{}@{}:{}", p.id, p.host, p.port),
            })
            .collect::<Vec<_>>()
            .join(","),
        |s, v| s.peers = parse_peers(v)?
    ),
    directive!("bus-port", false, |s| s.bus_port().to_string(), |s, v| s
        .bus_port =
        Some(int_in(v, 0, 65535)? as u16)),
    directive!(
        "raft-election-timeout",
        false,
        |s| s.election_timeout_ms.to_string(),
        |s, v| s.election_timeout_ms = int_in(v, 10, 60_000)? as u64
    ),
    directive!(
        "raft-heartbeat-interval",
        false,
        |s| s.heartbeat_interval_ms.to_string(),
        |s, v| s.heartbeat_interval_ms = int_in(v, 1, 30_000)? as u64
    ),
    directive!(
        "raft-lease-margin",
        false,
        |s| s.lease_margin_ms.to_string(),
        |s, v| s.lease_margin_ms = int_in(v, 0, 60_000)? as u64
    ),
    directive!(
        "raft-write-timeout",
        true,
        |s| s.write_timeout_ms.to_string(),
        |s, v| s.write_timeout_ms = int_in(v, 1, 3_600_000)? as u64
    ),
    directive!(
        "raft-max-batch-bytes",
        false,
        |s| s.raft_max_batch_bytes.to_string(),
        |s, v| s.raft_max_batch_bytes = memory_in(v, 1024)?
    ),
    directive!(
        "raft-max-inflight",
        false,
        |s| s.raft_max_inflight.to_string(),
        |s, v| s.raft_max_inflight = int_in(v, 1, 4096)? as usize
    ),
    directive!(
        "raft-snapshot-entries",
        true,
        |s| s.raft_snapshot_entries.to_string(),
        |s, v| s.raft_snapshot_entries = int_in(v, 100, i64::MAX)? as u64
    ),
    directive!(
        "raft-snapshot-log-size",
        true,
        |s| s.raft_snapshot_log_bytes.to_string(),
        |s, v| s.raft_snapshot_log_bytes = memory_in(v, 1 << 20)?
    ),
    directive!(
        "raft-log-keep-entries",
        true,
        |s| s.raft_log_keep_entries.to_string(),
        |s, v| s.raft_log_keep_entries = int_in(v, 0, i64::MAX)? as u64
    ),
    directive!(
        "wal-segment-size",
        false,
        |s| s.wal_segment_bytes.to_string(),
        |s, v| s.wal_segment_bytes = memory_in(v, 1 << 16)?
    ),
    directive!("maxmemory", true, |s| s.maxmemory.to_string(), |s, v| s
        .maxmemory =
        memtoull(v).ok_or("argument must be a memory value")?),
    directive!(
        "maxmemory-policy",
        true,
        |s| s.maxmemory_policy.as_str().to_string(),
        |s, v| s.maxmemory_policy = enum_of(v, POLICIES)?
    ),
    directive!(
        "maxmemory-samples",
        true,
        |s| s.maxmemory_samples.to_string(),
        |s, v| s.maxmemory_samples = int_in(v, 1, i32::MAX as i64)? as u32
    ),
    directive!(
        "lfu-log-factor",
        true,
        |s| s.lfu_log_factor.to_string(),
        |s, v| s.lfu_log_factor = int_in(v, 0, i32::MAX as i64)? as u32
    ),
    directive!(
        "lfu-decay-time",
        true,
        |s| s.lfu_decay_time.to_string(),
        |s, v| s.lfu_decay_time = int_in(v, 0, i32::MAX as i64)? as u32
    ),
    directive!(
        "raft-access-hints",
        true,
        |s| s.access_hints.to_string(),
        |s, v| s.access_hints = int_in(v, 0, 1 << 20)? as u32
    ),
    // The encodings' thresholds decide a value's layout, and so the order SCAN, SPOP and
    // SRANDMEMBER see: every replica must use the same ones. They are Redis 7.0's defaults,
    // read-only (a config file may only repeat them).
    fixed!("hash-max-listpack-entries", "512"),
    fixed!("hash-max-listpack-value", "64"),
    fixed!("hash-max-ziplist-entries", "512"),
    fixed!("hash-max-ziplist-value", "64"),
    fixed!("zset-max-listpack-entries", "128"),
    fixed!("zset-max-listpack-value", "64"),
    fixed!("zset-max-ziplist-entries", "128"),
    fixed!("zset-max-ziplist-value", "64"),
    fixed!("set-max-intset-entries", "512"),
    fixed!("list-max-listpack-size", "-2"),
    fixed!("list-max-ziplist-size", "-2"),
    fixed!("list-compress-depth", "0"),
    // Keyspace notifications are not implemented: off, as Redis's default.
    fixed!("notify-keyspace-events", ""),
];

pub fn directive(name: &str) -> Option<&'static Directive> {
    DIRECTIVES
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name))
}

/// Splits a redis.conf line into arguments (quotes as in sdssplitargs, simplified: double
/// quotes with backslash escapes, single quotes literal).
fn split_conf_line(line: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return Ok(args);
        };
        let mut arg = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unbalanced quotes in configuration line".into()),
                    Some(c) if c == first => break,
                    Some('\\') if first == '"' => match chars.next() {
                        Some('n') => arg.push('\n'),
                        Some('t') => arg.push('\t'),
                        Some('r') => arg.push('\r'),
                        Some(c) => arg.push(c),
                        None => return Err("unbalanced quotes in configuration line".into()),
                    },
                    Some(c) => arg.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
}

fn apply(s: &mut Settings, name: &str, values: &[String]) -> Result<(), String> {
    let d = directive(name)
        .ok_or_else(|| format!("Bad directive or wrong number of arguments: '{name}'"))?;
    let value = values.join(" ");
    (d.set)(s, &value).map_err(|e| format!("'{name}': {e}"))
}

/// Reads a config file in redis.conf syntax into `s`.
pub fn load_file(s: &mut Settings, path: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("can't open config file '{path}': {e}"))?;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let args = split_conf_line(line).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
        apply(s, &args[0], &args[1..]).map_err(|e| format!("{path}:{}: {e}", n + 1))?;
    }
    Ok(())
}

/// Parses the command line as redis-server does: an optional config file first, then
/// `--directive value` pairs, which override the file. Each directive takes one value (quote a
/// value with spaces); a value may start with `-`.
pub fn from_args(args: Vec<String>) -> Result<Settings, String> {
    let mut cmd = clap::Command::new("raftis")
        .about("A Redis-compatible cache server replicated by Raft")
        .version(env!("CARGO_PKG_VERSION"))
        .arg(
            clap::Arg::new("config-file")
                .help("a config file in redis.conf syntax")
                .index(1),
        );
    for d in DIRECTIVES {
        cmd = cmd.arg(
            clap::Arg::new(d.name)
                .long(d.name)
                .num_args(1)
                .allow_hyphen_values(true)
                .action(clap::ArgAction::Append)
                .value_name("VALUE"),
        );
    }
    let m = cmd.try_get_matches_from(args).map_err(|e| e.to_string())?;
    let mut s = Settings::default();
    if let Some(path) = m.get_one::<String>("config-file") {
        load_file(&mut s, path)?;
    }
    // Apply in command-line order, as redis-server does.
    let mut given: Vec<(usize, &Directive, Vec<String>)> = Vec::new();
    for d in DIRECTIVES {
        if let (Some(idx), Some(vals)) = (m.indices_of(d.name), m.get_occurrences::<String>(d.name))
        {
            for (i, occ) in idx.step_by(1).zip(vals) {
                given.push((i, d, occ.cloned().collect()));
            }
        }
    }
    given.sort_by_key(|(i, _, _)| *i);
    for (_, d, vals) in given {
        apply(&mut s, d.name, &vals)?;
    }
    s.validate()?;
    Ok(s)
}

/// CONFIG GET: every (name, value) whose name matches one of the patterns (case-insensitive),
/// each directive once. As in Redis, a pattern without glob characters is a plain name, and
/// the reply spells it as the client did when it is the first pattern to match.
pub fn config_get(s: &Settings, patterns: &[&[u8]]) -> Vec<(String, String)> {
    let is_glob = |p: &[u8]| p.iter().any(|c| b"*?[".contains(c));
    DIRECTIVES
        .iter()
        .filter_map(|d| {
            let name = d.name.as_bytes();
            let first = patterns.iter().find(|p| {
                if is_glob(p) {
                    glob::glob_match(p, name, true)
                } else {
                    p.eq_ignore_ascii_case(name)
                }
            })?;
            let shown = if is_glob(first) {
                d.name.to_string()
            } else {
                String::from_utf8_lossy(first).into_owned()
            };
            Some((shown, (d.get)(s)))
        })
        .collect()
}

/// CONFIG SET name value [name value ...]: all or nothing. The error is the full Redis error
/// line.
pub fn config_set(s: &mut Settings, pairs: &[(&str, &str)]) -> Result<(), String> {
    let mut next = s.clone();
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in pairs {
        let fail = |why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        let Some(d) = directive(name) else {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        };
        if seen.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(fail("duplicate parameter"));
        }
        seen.push(name);
        if !d.mutable {
            return Err(fail("can't set immutable config"));
        }
        (d.set)(&mut next, value).map_err(|e| fail(&e))?;
    }
    *s = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("raftis")
            .chain(a.iter().copied())
            .map(String::from)
            .collect()
    }

    #[test]
    fn defaults_are_a_single_local_node() {
        let s = from_args(args(&[])).unwrap();
        assert_eq!(s.port, 6379);
        assert_eq!(s.bind, "127.0.0.1");
        assert_eq!(
            s.bootstrap_membership()
                .voters
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(s.bus_port(), 16379);
    }

    #[test]
    fn three_node_command_line() {
        let s = from_args(args(&[
            "--port",
            "7002",
            "--node-id",
            "2",
            "--peers",
            "1@127.0.0.1:7001,2@127.0.0.1:7002,3@127.0.0.1:7003",
            "--dir",
            "d2",
        ]))
        .unwrap();
        assert_eq!(
            s.bootstrap_membership()
                .voters
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            s.peers[2],
            Peer {
                id: 3,
                host: "127.0.0.1".into(),
                port: 7003,
                bus: None
            }
        );
        assert_eq!(s.bus_port(), 17002);
        assert_eq!(s.dir, PathBuf::from("d2"));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        assert!(from_args(args(&["--port", "x"])).is_err());
        // A node whose id is not in --peers joins an existing group: no bootstrap membership.
        let joining = from_args(args(&["--node-id", "4", "--peers", "1@h:1,2@h:2"])).unwrap();
        assert!(joining.bootstrap_membership().voters.is_empty());
        assert!(from_args(args(&["--peers", "1@h:1,1@h:2"])).is_err());
        assert!(from_args(args(&["--no-such-directive", "1"])).is_err());
    }

    #[test]
    fn config_file_then_command_line_overrides() {
        let path = std::env::temp_dir().join(format!("raftis-conf-{}.conf", std::process::id()));
        std::fs::write(
            &path,
            "# comment\nport 7100\nloglevel \"warning\"\nappendfsync everysec\n",
        )
        .unwrap();
        let s = from_args(args(&[path.to_str().unwrap(), "--port", "7200"])).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(s.port, 7200);
        assert_eq!(s.loglevel, LogLevel::Warning);
        assert_eq!(s.appendfsync, Fsync::EverySec);
    }

    #[test]
    fn memory_values_like_redis() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("100MB"), Some(100 << 20));
        assert_eq!(parse_memory("1k"), Some(1000));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("abc"), None);
        assert_eq!(parse_memory("1tb"), None);
    }

    #[test]
    fn config_set_errors_match_redis() {
        let mut s = Settings::default();
        assert_eq!(
            config_set(&mut s, &[("foo", "bar")]).unwrap_err(),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        assert_eq!(
            config_set(&mut s, &[("port", "abc")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
        );
        assert_eq!(
            config_set(&mut s, &[("timeout", "-5")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be between 0 and 2147483647 inclusive"
        );
        assert_eq!(
            config_set(&mut s, &[("wal-marker-before-ack", "maybe")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'wal-marker-before-ack') - argument must be 'yes' or 'no'"
        );
        assert!(!s.wal_marker_before_ack);
        config_set(&mut s, &[("wal-marker-before-ack", "YES")]).unwrap();
        assert!(s.wal_marker_before_ack);
        assert_eq!(
            config_set(&mut s, &[("appendfsync", "foo")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no"
        );
        assert_eq!(
            config_set(&mut s, &[("proto-max-bulk-len", "100")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument must be between 1048576 and 9223372036854775807 inclusive"
        );
        assert_eq!(
            config_set(&mut s, &[("timeout", "5"), ("timeout", "6")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter"
        );
    }

    #[test]
    fn encoding_thresholds_are_redis_defaults_and_read_only() {
        let mut s = Settings::default();
        let got = config_get(&s, &[b"*-max-listpack-*", b"set-max-intset-entries"]);
        assert_eq!(
            got,
            [
                ("hash-max-listpack-entries", "512"),
                ("hash-max-listpack-value", "64"),
                ("zset-max-listpack-entries", "128"),
                ("zset-max-listpack-value", "64"),
                ("set-max-intset-entries", "512"),
                ("list-max-listpack-size", "-2"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(
            config_set(&mut s, &[("hash-max-ziplist-entries", "5")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'hash-max-ziplist-entries') - can't set immutable config"
        );
        // A config file may repeat the value, and only that.
        let d = directive("list-compress-depth").unwrap();
        assert!((d.set)(&mut s, "0").is_ok());
        assert!((d.set)(&mut s, "1").is_err());
    }

    #[test]
    fn config_set_is_all_or_nothing() {
        let mut s = Settings::default();
        assert!(config_set(&mut s, &[("timeout", "5"), ("maxclients", "0")]).is_err());
        assert_eq!(s.timeout_s, 0);
        config_set(&mut s, &[("timeout", "5"), ("maxclients", "7")]).unwrap();
        assert_eq!((s.timeout_s, s.maxclients), (5, 7));
    }

    #[test]
    fn config_get_by_pattern() {
        let s = Settings::default();
        let got = config_get(&s, &[b"appendonly", b"save"]);
        assert_eq!(
            got,
            vec![
                ("appendonly".into(), "yes".into()),
                ("save".into(), String::new())
            ]
        );
        assert!(config_get(&s, &[b"raft-*"]).len() >= 5);
        assert!(config_get(&s, &[b"nothing"]).is_empty());
        // A plain name is echoed as the client spelled it (the first pattern to match wins).
        assert_eq!(
            config_get(&s, &[b"TimeOut", b"time*"]),
            vec![("TimeOut".into(), "0".into())]
        );
        assert_eq!(
            config_get(&s, &[b"time*", b"TIMEOUT"]),
            vec![("timeout".into(), "0".into())]
        );
        // Without glob characters a name is not a pattern: a backslash does not escape.
        assert!(config_get(&s, &[b"time\\out"]).is_empty());
    }

    /// Values and answers recorded from redis-server 7.0.15 (CONFIG SET maxmemory <v>, then
    /// CONFIG GET maxmemory).
    #[test]
    fn maxmemory_parses_like_redis_memtoull() {
        for (v, want) in [
            ("100", Some(100)),
            ("1gb", Some(1 << 30)),
            ("1GB", Some(1 << 30)),
            ("10k", Some(10_000)),
            ("5Kb", Some(5120)),
            ("5g", Some(5_000_000_000)),
            ("007", Some(7)),
            ("1B", Some(1)),
            ("", Some(0)),
            ("kb", Some(0)),
            ("18446744073709551615", Some(u64::MAX)),
            ("18446744073709551616", Some(u64::MAX)),
            ("18446744073709551615kb", Some(18_446_744_073_709_550_592)),
            ("20000000000gb", Some(3_028_092_406_290_448_384)),
            ("-1", None),
            ("abc", None),
            ("1.5mb", None),
            ("100 ", None),
            ("+5", None),
            (" 5", None),
            ("1tb", None),
        ] {
            assert_eq!(memtoull(v), want, "{v:?}");
        }
        let mut s = Settings::default();
        assert_eq!(
            config_set(&mut s, &[("maxmemory", "1.5mb")]).unwrap_err(),
            "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
        );
        config_set(&mut s, &[("maxmemory", "5Kb")]).unwrap();
        assert_eq!(
            config_get(&s, &[b"maxmemory"]),
            vec![("maxmemory".into(), "5120".into())]
        );
    }

    #[test]
    fn eviction_directives_answer_as_redis() {
        let mut s = Settings::default();
        let got: Vec<(String, String)> = config_get(&s, &[b"maxmemory*", b"lfu*"]);
        assert_eq!(
            got,
            [
                ("maxmemory", "0"),
                ("maxmemory-policy", "noeviction"),
                ("maxmemory-samples", "5"),
                ("lfu-log-factor", "10"),
                ("lfu-decay-time", "1"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        config_set(&mut s, &[("maxmemory-policy", "ALLKEYS-LFU")]).unwrap();
        assert_eq!(s.maxmemory_policy, EvictionPolicy::AllKeysLfu);
        assert_eq!(
            s.access_policy(),
            AccessPolicy::Lfu {
                log_factor: 10,
                decay_minutes: 1
            }
        );
        config_set(&mut s, &[("maxmemory-policy", "volatile-ttl")]).unwrap();
        assert_eq!(s.access_policy(), AccessPolicy::Lru);
        for (name, value, why) in [
            (
                "maxmemory-policy",
                "foo",
                "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction",
            ),
            ("maxmemory-samples", "0", "argument must be between 1 and 2147483647 inclusive"),
            ("maxmemory-samples", "x", "argument couldn't be parsed into an integer"),
            (
                "maxmemory-samples",
                "2147483648",
                "argument must be between 1 and 2147483647 inclusive",
            ),
            ("lfu-log-factor", "-1", "argument must be between 0 and 2147483647 inclusive"),
            ("lfu-decay-time", "abc", "argument couldn't be parsed into an integer"),
        ] {
            assert_eq!(
                config_set(&mut s, &[(name, value)]).unwrap_err(),
                format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
            );
        }
        config_set(
            &mut s,
            &[
                ("maxmemory-samples", "2147483647"),
                ("lfu-log-factor", "0"),
                ("lfu-decay-time", "2147483647"),
            ],
        )
        .unwrap();
        assert_eq!(
            (s.maxmemory_samples, s.lfu_log_factor, s.lfu_decay_time),
            (i32::MAX as u32, 0, i32::MAX as u32)
        );
        // And on the command line.
        let s = from_args(args(&[
            "--maxmemory",
            "2mb",
            "--maxmemory-policy",
            "allkeys-lru",
        ]))
        .unwrap();
        assert_eq!(
            (s.maxmemory, s.maxmemory_policy),
            (2 << 20, EvictionPolicy::AllKeysLru)
        );
        assert!(from_args(args(&["--maxmemory-policy", "lru"])).is_err());
    }
}
