//! The front end: the client listener, one tokio task per connection, RESP2/RESP3 framing and
//! per-client session state (selected database, protocol version, name).
//!
//! It knows nothing of Raft beyond `Node::write` (propose writes, get their replies once
//! applied) and `Node::read_barrier` (wait until a linearizable read may be served here). The
//! command table decides how each command runs (`Exec::Read`, `Exec::Write`, `Exec::Session`);
//! the front end never dispatches by name except for the session commands it answers itself.
//!
//! Pipelining: a connection decodes every command already buffered, runs them in order while
//! grouping consecutive writes into one proposal (one log entry) and consecutive reads behind
//! one read barrier, and writes all replies with one syscall.

pub mod clients;
mod conn;
mod help;
mod info;
pub mod protocol;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;

use crate::node::Node;
use crate::{log_notice, log_warning};

/// Counters for INFO, shared by all connections.
#[derive(Default)]
pub struct ServerStats {
    pub connected_clients: AtomicUsize,
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub total_net_input_bytes: AtomicU64,
    pub total_net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
}

pub struct Server {
    pub node: Node,
    pub clients: clients::Clients,
    pub stats: ServerStats,
    pub started: Instant,
    pub started_unix_s: u64,
    pub run_id: String,
    pub config_file: String,
    next_client_id: AtomicU64,
    /// SHUTDOWN asks the process to stop (main waits on it).
    pub shutdown: tokio::sync::Notify,
    /// SHUTDOWN NOW: skip the leadership handoff.
    pub shutdown_now: std::sync::atomic::AtomicBool,
    /// A graceful shutdown is draining: connections run no new batch (each command is
    /// answered `TRYAGAIN the node is shutting down`).
    pub draining: std::sync::atomic::AtomicBool,
    /// Batches of commands being run or having their replies written. A graceful shutdown
    /// waits until none is left before it stops the node, so no request it took is cut off.
    pub batches_in_progress: AtomicUsize,
}

impl Server {
    pub fn new(node: Node, config_file: String) -> Arc<Server> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let seed = now.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32);
        let mut x = seed | 1;
        let run_id: String = (0..40)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from_digit((x % 16) as u32, 16).unwrap_or('0')
            })
            .collect();
        Arc::new(Server {
            node,
            clients: clients::Clients::default(),
            stats: ServerStats::default(),
            started: Instant::now(),
            started_unix_s: now.as_secs(),
            run_id,
            config_file,
            next_client_id: AtomicU64::new(1),
            shutdown: tokio::sync::Notify::new(),
            shutdown_now: std::sync::atomic::AtomicBool::new(false),
            draining: std::sync::atomic::AtomicBool::new(false),
            batches_in_progress: AtomicUsize::new(0),
        })
    }

    /// Graceful shutdown, after the leadership handoff: no connection starts another batch,
    /// and this waits (up to `timeout`) until every batch already running has been answered.
    /// Returns how many were still running at the timeout (0: all were answered).
    pub async fn drain(&self, timeout: std::time::Duration) -> usize {
        // SeqCst here and in the connection: a batch that missed the flag is counted.
        self.draining.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let running = self.batches_in_progress.load(Ordering::SeqCst);
            if running == 0 || tokio::time::Instant::now() >= deadline {
                return running;
            }
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Accepts clients until the listener fails.
    pub async fn serve(self: Arc<Server>, listener: TcpListener) {
        log_notice!(
            "Ready to accept connections tcp on {}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        loop {
            let (stream, _addr) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    log_warning!("Accepting client connection: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            self.stats
                .total_connections_received
                .fetch_add(1, Ordering::Relaxed);
            let id = self.next_client_id.fetch_add(1, Ordering::Relaxed);
            let server = self.clone();
            tokio::spawn(async move {
                conn::serve(server, stream, id).await;
            });
        }
    }
}
