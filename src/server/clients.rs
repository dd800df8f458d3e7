//! The registry of this node's client connections, for CLIENT LIST / INFO / KILL and INFO
//! clients. Each connection owns an `Arc<ClientInfo>` and keeps its public fields current;
//! the registry only reads them (and can ask a connection to close).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

pub struct ClientInfo {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    pub fd: i32,
    pub created: Instant,
    /// Milliseconds after `created` of the last command.
    pub last_interaction_ms: AtomicU64,
    pub name: Mutex<Option<Bytes>>,
    pub db: AtomicUsize,
    pub subscriptions: AtomicUsize,
    pub patterns: AtomicUsize,
    /// Commands queued in MULTI, or -1 outside a transaction.
    pub multi: AtomicI64,
    pub resp: AtomicU8,
    pub query_buffer: AtomicUsize,
    pub last_command: Mutex<&'static str>,
    killed: AtomicBool,
    kill: Notify,
}

impl ClientInfo {
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: i32) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_interaction_ms: AtomicU64::new(0),
            name: Mutex::new(None),
            db: AtomicUsize::new(0),
            subscriptions: AtomicUsize::new(0),
            patterns: AtomicUsize::new(0),
            multi: AtomicI64::new(-1),
            resp: AtomicU8::new(2),
            query_buffer: AtomicUsize::new(0),
            last_command: Mutex::new("NULL"),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        }
    }

    pub fn touch(&self, command: &'static str) {
        self.last_interaction_ms
            .store(self.created.elapsed().as_millis() as u64, Ordering::Relaxed);
        *self.last_command.lock() = command;
    }

    pub fn is_pubsub(&self) -> bool {
        self.subscriptions.load(Ordering::Relaxed) + self.patterns.load(Ordering::Relaxed) > 0
    }

    /// CLIENT KILL: the connection closes at its next turn (it is woken if idle).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    pub fn killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves when the connection is asked to close.
    pub async fn wait_killed(&self) {
        if !self.killed() {
            self.kill.notified().await;
        }
    }

    /// One line of CLIENT LIST, in Redis 7.0's field order.
    pub fn describe(&self) -> String {
        let age = self.created.elapsed().as_secs();
        let idle_ms = (self.created.elapsed().as_millis() as u64)
            .saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed));
        let multi = self.multi.load(Ordering::Relaxed);
        let mut flags = String::new();
        if self.is_pubsub() {
            flags.push('P');
        }
        if multi >= 0 {
            flags.push('x');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let name = self.name.lock().clone().unwrap_or_default();
        let qbuf = self.query_buffer.load(Ordering::Relaxed);
        let mut s = String::with_capacity(300);
        let _ = write!(
            s,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 \
             multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 \
             tot-mem=0 events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            String::from_utf8_lossy(&name),
            age,
            idle_ms / 1000,
            flags,
            self.db.load(Ordering::Relaxed),
            self.subscriptions.load(Ordering::Relaxed),
            self.patterns.load(Ordering::Relaxed),
            multi,
            qbuf,
            self.last_command.lock(),
            self.resp.load(Ordering::Relaxed),
        );
        s
    }
}

#[derive(Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

impl Clients {
    pub fn add(&self, c: Arc<ClientInfo>) {
        self.map.lock().insert(c.id, c);
    }

    pub fn remove(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    /// Every client, by id.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    pub fn count(&self) -> usize {
        self.map.lock().len()
    }

    pub fn pubsub_count(&self) -> usize {
        self.map.lock().values().filter(|c| c.is_pubsub()).count()
    }
}
