//! INFO: sections server, clients, memory, persistence, stats, replication, keyspace and raft,
//! with Redis's field names where they apply. `INFO` and `INFO default` give every section
//! but none that Redis keeps out of the default set; `INFO all` / `INFO everything` give all.

use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::Server;

/// The Redis version raftis speaks (its commands, replies and errors follow it). Clients read
/// this to decide which features they may use.
pub const REDIS_VERSION: &str = "7.0.15";

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "keyspace",
    "raft",
];

pub fn render(server: &Server, args: &[Bytes]) -> String {
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default");
    let mut out = String::new();
    for section in SECTIONS {
        if !all && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => server_section(server, &mut out),
            "clients" => clients_section(server, &mut out),
            "memory" => memory_section(server, &mut out),
            "persistence" => persistence_section(server, &mut out),
            "stats" => stats_section(server, &mut out),
            "replication" => replication_section(server, &mut out),
            "keyspace" => keyspace_section(server, &mut out),
            "raft" => raft_section(server, &mut out),
            _ => {}
        }
    }
    out
}

fn server_section(server: &Server, out: &mut String) {
    let s = server.node.settings().read();
    let uptime = server.started.elapsed().as_secs();
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nraftis_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{now_us}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nexecutable:{exe}\r\nconfig_file:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        std::process::id(),
        server.run_id,
        s.port,
        uptime / 86_400,
        server.config_file,
    );
}

fn clients_section(server: &Server, out: &mut String) {
    let maxclients = server.node.settings().read().maxclients;
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{maxclients}\r\nblocked_clients:{}\r\n",
        server.stats.connected_clients.load(Ordering::Relaxed),
        server.node.blocked().count(),
    );
}

/// Resident set size from /proc (0 where unavailable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// Redis's INFO memory fields, from the store's running counts (`Store::memory`):
/// `used_memory` is what eviction compares with `maxmemory` (the store's fixed structures, its
/// tables and the dataset, at the allocator's sizes); the Raft log, connection buffers and the
/// process itself are outside it, as Redis leaves replication buffers out, and show in
/// `used_memory_rss` and `mem_fragmentation_ratio` (RSS / used_memory, as Redis computes it).
fn memory_section(server: &Server, out: &mut String) {
    let m = server.node.store().memory();
    let used = m.total();
    let rss = rss_bytes();
    let (maxmemory, policy) = {
        let s = server.node.settings().read();
        (s.maxmemory, s.maxmemory_policy)
    };
    let perc = |a: u64, b: u64| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let frag = if used == 0 {
        0.0
    } else {
        rss as f64 / used as f64
    };
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{}\r\nused_memory_peak_human:{}\r\nused_memory_peak_perc:{:.2}%\r\nused_memory_overhead:{}\r\nused_memory_startup:{}\r\nused_memory_dataset:{}\r\nused_memory_dataset_perc:{:.2}%\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{frag:.2}\r\nmem_fragmentation_bytes:{}\r\nmem_not_counted_for_evict:0\r\nmem_allocator:mimalloc\r\nlazyfreed_objects:{}\r\n",
        human(used),
        human(rss),
        m.peak,
        human(m.peak),
        perc(used, m.peak),
        m.startup + m.tables,
        m.startup,
        m.dataset,
        perc(m.dataset, used - m.startup),
        human(maxmemory),
        policy.as_str(),
        rss as i64 - used as i64,
        crate::store::lazyfreed(),
    );
}

fn persistence_section(server: &Server, out: &mut String) {
    let s = server.node.settings().read();
    let status = server.node.status();
    let _ = write!(
        out,
        "# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\naof_last_write_status:{}\r\nappendfsync:{}\r\nraft_wal_syncs:{}\r\nraft_snapshot_index:{}\r\n",
        status.applied_index.saturating_sub(server.node.snapshot_index()),
        u8::from(server.node.saving()),
        server.node.last_save_unix(),
        if status.wal_error.is_some() { "err" } else { "ok" },
        s.appendfsync.as_str(),
        server.node.stats().wal_syncs.load(Ordering::Relaxed),
        server.node.snapshot_index(),
    );
}

fn stats_section(server: &Server, out: &mut String) {
    let st = &server.stats;
    let ns = server.node.stats();
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\ntotal_error_replies:{}\r\nexpired_keys_proposed:{}\r\nevicted_keys:{}\r\nevicted_keys_proposed:{}\r\nraft_proposals:{}\r\nraft_entries_applied:{}\r\nraft_lease_reads:{}\r\nraft_read_index_requests:{}\r\nraft_uncertain_writes:{}\r\n",
        st.total_connections_received.load(Ordering::Relaxed),
        st.total_commands_processed.load(Ordering::Relaxed),
        st.total_net_input_bytes.load(Ordering::Relaxed),
        st.total_net_output_bytes.load(Ordering::Relaxed),
        st.rejected_connections.load(Ordering::Relaxed),
        st.total_error_replies.load(Ordering::Relaxed),
        ns.expired_keys_proposed.load(Ordering::Relaxed),
        server.node.store().evicted_keys(),
        ns.evicted_keys_proposed.load(Ordering::Relaxed),
        ns.proposals.load(Ordering::Relaxed),
        ns.entries_applied.load(Ordering::Relaxed),
        ns.lease_reads.load(Ordering::Relaxed),
        ns.read_index_requests.load(Ordering::Relaxed),
        ns.uncertain_writes.load(Ordering::Relaxed),
    );
}

fn replication_section(server: &Server, out: &mut String) {
    // Every node holds the whole dataset; the Raft leader plays Redis's master.
    let role = if server.node.is_leader() {
        "master"
    } else {
        "slave"
    };
    let _ = write!(out, "# Replication\r\nrole:{role}\r\n");
}

fn keyspace_section(server: &Server, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    let store = server.node.store();
    for db in 0..store.databases() {
        let (keys, expires) = store.db_stats(db as u32);
        if keys > 0 {
            let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}

fn raft_section(server: &Server, out: &mut String) {
    let st = server.node.status();
    let ts = server.node.transport_stats();
    let _ = write!(
        out,
        "# Raft\r\nraft_node_id:{}\r\nraft_role:{}\r\nraft_leader_id:{}\r\nraft_term:{}\r\nraft_commit_index:{}\r\nraft_applied_index:{}\r\nraft_peers:{}\r\nraft_bus_messages_sent:{}\r\nraft_bus_messages_received:{}\r\nraft_bus_messages_dropped:{}\r\n",
        st.node_id,
        st.role,
        st.leader_id,
        st.term,
        st.commit_index,
        st.applied_index,
        st.members.iter().filter(|m| m.voter).count(),
        ts.sent.load(Ordering::Relaxed),
        ts.received.load(Ordering::Relaxed),
        ts.dropped.load(Ordering::Relaxed),
    );
    for (i, m) in st.members.iter().enumerate() {
        let role = if m.voter { "voter" } else { "learner" };
        let _ = write!(
            out,
            "raft_member{i}:id={},addr={},role={role}",
            m.id, m.addr
        );
        if let (Some(matched), Some(contact)) = (m.matched, m.last_contact_ms) {
            let _ = write!(out, ",match_index={matched},last_contact_ms={contact}");
        }
        out.push_str("\r\n");
    }
}
