//! The peer bus: Raft messages between nodes over TCP (client port + 10000 by default).
//!
//! Each node dials every peer for the messages it sends, and accepts connections on its bus
//! port for the messages it receives. A connection starts with a handshake
//! (`RAFTIS01`, sender id, receiver id, shared secret) and then carries frames
//! `[len u32 LE][message]`; many queued messages go out in one write.
//!
//! Rules: `send` never blocks the raft driver (a bounded queue per peer; when it is full, or
//! the peer is down, messages are dropped and Raft retransmits). A peer that sends a bad
//! handshake, a frame over the size limit, or bytes that do not decode as a message from the
//! node it claimed to be is disconnected, never obeyed. Reconnection backs off up to one
//! second.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::raft::{Message, NodeId};
use crate::{log_notice, log_verbose, log_warning};

const MAGIC: &[u8; 8] = b"RAFTIS01";
/// Messages queued per peer, at most, before new ones are dropped.
pub const PEER_QUEUE_MESSAGES_MAX: usize = 65_536;
/// Bytes written to a peer in one syscall, at most (a single larger message goes alone).
const WRITE_BATCH_BYTES_MAX: usize = 4 << 20;
/// A frame larger than this is a protocol violation. One entry may carry a value of up to
/// proto-max-bulk-len (512 MB by default), so the bound is generous.
pub const FRAME_BYTES_MAX: usize = 1 << 31;
const SECRET_BYTES_MAX: usize = 4096;

/// Counters for INFO.
#[derive(Default)]
pub struct TransportStats {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub received: AtomicU64,
}

pub struct Transport {
    me: NodeId,
    queues: HashMap<NodeId, mpsc::Sender<Message>>,
    pub stats: Arc<TransportStats>,
}

impl Transport {
    /// Binds the bus listener and starts one sender task per peer. Received messages are
    /// handed to `deliver` (which must not block).
    pub async fn start(
        me: NodeId,
        listen: SocketAddr,
        peers: Vec<(NodeId, String)>,
        secret: String,
        deliver: Arc<dyn Fn(Message) + Send + Sync>,
    ) -> std::io::Result<Transport> {
        let listener = TcpListener::bind(listen).await?;
        let stats = Arc::new(TransportStats::default());
        let known: Vec<NodeId> = peers.iter().map(|(id, _)| *id).collect();
        let secret = Arc::new(secret);
        tokio::spawn(accept_loop(
            listener,
            me,
            known,
            secret.clone(),
            deliver,
            stats.clone(),
        ));
        let mut queues = HashMap::new();
        for (id, addr) in peers {
            if id == me {
                continue;
            }
            let (tx, rx) = mpsc::channel(PEER_QUEUE_MESSAGES_MAX);
            tokio::spawn(send_loop(me, id, addr, secret.clone(), rx, stats.clone()));
            queues.insert(id, tx);
        }
        Ok(Transport { me, queues, stats })
    }

    /// Queues a message for its peer; drops it if the queue is full.
    pub fn send(&self, m: Message) {
        debug_assert_eq!(m.from, self.me);
        match self.queues.get(&m.to) {
            Some(q) => match q.try_send(m) {
                Ok(()) => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn handshake(from: NodeId, to: NodeId, secret: &str) -> BytesMut {
    let mut b = BytesMut::with_capacity(26 + secret.len());
    b.put_slice(MAGIC);
    b.put_u64_le(from);
    b.put_u64_le(to);
    b.put_u16_le(secret.len() as u16);
    b.put_slice(secret.as_bytes());
    b
}

async fn send_loop(
    me: NodeId,
    peer: NodeId,
    addr: String,
    secret: Arc<String>,
    mut rx: mpsc::Receiver<Message>,
    stats: Arc<TransportStats>,
) {
    let mut backoff_ms = 20;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut was_connected = false;
    loop {
        let stream =
            match tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&addr)).await {
                Ok(Ok(s)) => s,
                _ => {
                    if was_connected {
                        log_notice!("lost the bus connection to node {peer} at {addr}");
                        was_connected = false;
                    }
                    // Whatever queued while the peer was unreachable is stale: Raft resends.
                    while rx.try_recv().is_ok() {
                        stats.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
                    backoff_ms = (backoff_ms * 2).min(1000);
                    if rx.is_closed() {
                        return;
                    }
                    continue;
                }
            };
        let _ = stream.set_nodelay(true);
        let mut stream = stream;
        if stream
            .write_all(&handshake(me, peer, &secret))
            .await
            .is_err()
        {
            continue;
        }
        if !was_connected {
            log_verbose!("bus connected to node {peer} at {addr}");
            was_connected = true;
        }
        backoff_ms = 20;
        loop {
            let Some(first) = rx.recv().await else { return };
            buf.clear();
            put_frame(&mut buf, &first);
            while buf.len() < WRITE_BATCH_BYTES_MAX {
                match rx.try_recv() {
                    Ok(m) => put_frame(&mut buf, &m),
                    Err(_) => break,
                }
            }
            if stream.write_all(&buf).await.is_err() {
                break;
            }
            if buf.capacity() > 8 * WRITE_BATCH_BYTES_MAX {
                buf = BytesMut::with_capacity(64 * 1024);
            }
        }
    }
}

fn put_frame(buf: &mut BytesMut, m: &Message) {
    let at = buf.len();
    buf.put_u32_le(0);
    m.encode(buf);
    let len = (buf.len() - at - 4) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

async fn accept_loop(
    listener: TcpListener,
    me: NodeId,
    known: Vec<NodeId>,
    secret: Arc<String>,
    deliver: Arc<dyn Fn(Message) + Send + Sync>,
    stats: Arc<TransportStats>,
) {
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                log_warning!("bus accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let known = known.clone();
        let secret = secret.clone();
        let deliver = deliver.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            if let Err(why) = receive(stream, me, &known, &secret, &*deliver, &stats).await {
                log_verbose!("bus connection from {addr} closed: {why}");
            }
        });
    }
}

async fn receive(
    mut stream: TcpStream,
    me: NodeId,
    known: &[NodeId],
    secret: &str,
    deliver: &(dyn Fn(Message) + Send + Sync),
    stats: &TransportStats,
) -> Result<(), String> {
    let mut head = [0u8; 26];
    stream
        .read_exact(&mut head)
        .await
        .map_err(|e| e.to_string())?;
    let mut h = &head[..];
    if &h[..8] != MAGIC {
        return Err("bad handshake magic".into());
    }
    h.advance(8);
    let from = h.get_u64_le();
    let to = h.get_u64_le();
    let secret_len = h.get_u16_le() as usize;
    if secret_len > SECRET_BYTES_MAX {
        return Err("bad handshake".into());
    }
    let mut their_secret = vec![0u8; secret_len];
    stream
        .read_exact(&mut their_secret)
        .await
        .map_err(|e| e.to_string())?;
    if to != me || !known.contains(&from) {
        return Err(format!(
            "handshake from node {from} to node {to}: not a peer of node {me}"
        ));
    }
    if their_secret != secret.as_bytes() {
        log_warning!("bus connection from node {from} refused: wrong cluster secret");
        return Err("wrong secret".into());
    }
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        while buf.len() >= 4 {
            let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
            if len > FRAME_BYTES_MAX {
                return Err(format!("frame of {len} bytes from node {from}"));
            }
            if buf.len() < 4 + len {
                buf.reserve(4 + len - buf.len());
                break;
            }
            buf.advance(4);
            let frame = buf.split_to(len).freeze();
            match Message::decode(frame) {
                Some(m) if m.from == from && m.to == me => {
                    stats.received.fetch_add(1, Ordering::Relaxed);
                    deliver(m);
                }
                _ => {
                    log_warning!("node {from} sent an undecodable message: disconnecting it");
                    return Err("bad message".into());
                }
            }
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        let n = stream.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Ok(());
        }
    }
}
