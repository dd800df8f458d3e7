//! The raftis server binary: `raftis [config-file] [--directive value ...]`.

use std::sync::Arc;

use mimalloc::MiMalloc;
use parking_lot::RwLock;
use raftis::config;
use raftis::node::Node;
use raftis::server::Server;
use raftis::{log_notice, log_warning};

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config_file = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_default();
    let settings = match config::from_args(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = raftis::logging::init(settings.loglevel, &settings.logfile) {
        eprintln!("can't open logfile {}: {e}", settings.logfile);
        std::process::exit(1);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.io_threads)
        .enable_all()
        .thread_name("raftis-io")
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(run(settings, config_file));
    std::process::exit(code);
}

async fn run(settings: config::Settings, config_file: String) -> i32 {
    log_notice!(
        "raftis {} starting, pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    let client_addr = format!("{}:{}", settings.bind, settings.port);
    // Bind the client port first: a second node on the same port fails before it touches
    // the data directory.
    let listener = match tokio::net::TcpListener::bind(&client_addr).await {
        Ok(l) => l,
        Err(e) => {
            log_warning!("Could not bind {client_addr}: {e}");
            return 1;
        }
    };
    let settings = Arc::new(RwLock::new(settings));
    let node = match Node::start(settings).await {
        Ok(n) => n,
        Err(e) => {
            log_warning!("{e}");
            return 1;
        }
    };
    let server = Server::new(node.clone(), config_file);
    let serving = tokio::spawn(server.clone().serve(listener));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("signal handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => log_notice!("Received SIGINT scheduling shutdown..."),
        _ = term.recv() => log_notice!("Received SIGTERM scheduling shutdown..."),
        _ = serving => log_warning!("client listener stopped"),
        _ = server.shutdown.notified() => log_notice!("User requested shutdown..."),
    }
    let now = server
        .shutdown_now
        .load(std::sync::atomic::Ordering::Relaxed);
    if !now && node.is_leader() && node.status().members.len() > 1 {
        // Hand leadership over first, so a rolling restart has no election-timeout gap.
        match node.transfer_leader(None).await {
            Ok(to) => log_notice!("Leadership handed to node {to}"),
            Err(e) => log_warning!("Leadership transfer before shutdown failed: {e}"),
        }
    }
    if !now {
        // Answer what the connections are running (a write forwarded to the leader commits
        // meanwhile) before the node stops under it; anything newer is refused with TRYAGAIN.
        // A write or read gives up after raft-write-timeout: its answer has a second more.
        let write_timeout_ms = node.settings().read().write_timeout_ms;
        let timeout = std::time::Duration::from_millis(write_timeout_ms + 1000);
        let cut = server.drain(timeout).await;
        if cut > 0 {
            log_warning!("{cut} client batches still running at shutdown");
        }
    }
    // The WAL thread syncs what it holds when the driver closes its queue.
    let stopping = node.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.stop_and_wait()).await;
    log_notice!("raftis is now ready to exit, bye bye...");
    0
}
