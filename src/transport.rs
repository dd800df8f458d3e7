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
//! node it claimed to be is disconnected, never obeyed. Reconnection backs off up to half a
//! second.
//!
//! A partition drops packets silently: nothing resets the connection, TCP retransmits with a
//! backoff that reaches minutes, and a connection that outlived a partition would deliver
//! again only at its next retransmission, long after the network healed. So a bus socket gives
//! up once its bytes stay unacknowledged for `BUS_STALL` (TCP_USER_TIMEOUT, and a write that
//! makes no progress at all for as long), probes an idle connection (keepalive), and the
//! sender dials again: the group hears a healed node within about two seconds of the repair.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
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
/// How long a bus connection may go without the peer acknowledging what it was sent before it
/// is dropped and dialled again (see the module header). Well above any round trip of a
/// working LAN, well below TCP's own retransmission backoff.
pub const BUS_STALL: Duration = Duration::from_secs(2);
/// The longest wait between two attempts to dial a peer (each attempt may take a second more
/// when the peer's host does not answer).
const RECONNECT_BACKOFF_MAX_MS: u64 = 500;
/// How long an accepted bus connection has to present its handshake.
const BUS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// An idle bus connection is probed after this long, then every `BUS_KEEPALIVE` again.
const BUS_KEEPALIVE: Duration = Duration::from_secs(1);

/// Makes a bus socket notice a silent peer (a partition, a host that lost power): bytes left
/// unacknowledged for `BUS_STALL` close it, and keepalive probes an idle one so that a
/// receiving end does not wait forever on a sender that is gone.
fn watch_for_silence(stream: &TcpStream) {
    let sock = socket2::SockRef::from(stream);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(BUS_KEEPALIVE)
        .with_interval(BUS_KEEPALIVE)
        .with_retries(2);
    if let Err(e) = sock.set_tcp_keepalive(&keepalive) {
        log_verbose!("bus socket: keepalive not set: {e}");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Err(e) = sock.set_tcp_user_timeout(Some(BUS_STALL)) {
        log_verbose!("bus socket: TCP_USER_TIMEOUT not set: {e}");
    }
}

/// Counters for INFO.
#[derive(Default)]
pub struct TransportStats {
    pub sent: AtomicU64,
    pub dropped: AtomicU64,
    pub received: AtomicU64,
}

pub struct Transport {
    inner: Arc<Inner>,
    pub stats: Arc<TransportStats>,
}

/// State shared by the driver (sending) and the accept tasks (which learn addresses).
struct Inner {
    /// Who this node is on the bus; each send loop dials with a copy.
    dialer: Dialer,
    runtime: tokio::runtime::Handle,
    stats: Arc<TransportStats>,
    /// Where each known node is reached, and the queue of its sender task.
    peers: Mutex<HashMap<NodeId, Peer>>,
}

struct Peer {
    addr: String,
    queue: mpsc::Sender<Message>,
}

impl Inner {
    /// Starts (or restarts, if the address changed) the sender task for `id`.
    fn ensure_peer(&self, id: NodeId, addr: &str) {
        if id == self.dialer.me || addr.is_empty() {
            return;
        }
        let mut peers = self.peers.lock();
        if peers.get(&id).is_some_and(|p| p.addr == addr) {
            return;
        }
        let (tx, rx) = mpsc::channel(PEER_QUEUE_MESSAGES_MAX);
        self.runtime.spawn(send_loop(
            self.dialer.clone(),
            id,
            addr.to_string(),
            rx,
            self.stats.clone(),
        ));
        // Replacing the entry drops the old queue: its task ends.
        peers.insert(
            id,
            Peer {
                addr: addr.to_string(),
                queue: tx,
            },
        );
    }
}

impl Transport {
    /// Binds the bus listener. `advertised` is this node's bus address as peers dial it.
    /// Received messages are handed to `deliver` (which must not block).
    pub async fn start(
        me: NodeId,
        listen: SocketAddr,
        advertised: String,
        secret: String,
        source: Option<IpAddr>,
        deliver: Arc<dyn Fn(Message) + Send + Sync>,
    ) -> std::io::Result<Transport> {
        let listener = TcpListener::bind(listen).await?;
        let stats = Arc::new(TransportStats::default());
        let inner = Arc::new(Inner {
            dialer: Dialer {
                me,
                advertised,
                secret,
                source,
            },
            runtime: tokio::runtime::Handle::current(),
            stats: stats.clone(),
            peers: Mutex::new(HashMap::new()),
        });
        tokio::spawn(accept_loop(listener, inner.clone(), deliver));
        Ok(Transport { inner, stats })
    }

    /// The nodes to keep connections to (the members), with their bus addresses. With
    /// `exclusive`, senders to nodes no longer listed stop; without it (a node that is not a
    /// member yet, joining) the peers learned from incoming handshakes are kept, since the
    /// leader that dialed in may be missing from what this node knows of the membership.
    pub fn set_peers(&self, peers: &[(NodeId, String)], exclusive: bool) {
        for (id, addr) in peers {
            self.inner.ensure_peer(*id, addr);
        }
        if exclusive {
            self.inner
                .peers
                .lock()
                .retain(|id, _| peers.iter().any(|(p, _)| p == id));
        }
    }

    /// Queues a message for its peer; drops it if the queue is full or the peer unknown.
    pub fn send(&self, m: Message) {
        debug_assert_eq!(m.from, self.inner.dialer.me);
        let peers = self.inner.peers.lock();
        let sent = match peers.get(&m.to) {
            Some(p) => p.queue.try_send(m).is_ok(),
            None => false,
        };
        let counter = if sent {
            &self.stats.sent
        } else {
            &self.stats.dropped
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// `RAFTIS01`, sender id, receiver id, the sender's advertised bus address, the secret.
fn handshake(from: NodeId, to: NodeId, advertised: &str, secret: &str) -> BytesMut {
    let mut b = BytesMut::with_capacity(28 + advertised.len() + secret.len());
    b.put_slice(MAGIC);
    b.put_u64_le(from);
    b.put_u64_le(to);
    b.put_u16_le(advertised.len() as u16);
    b.put_slice(advertised.as_bytes());
    b.put_u16_le(secret.len() as u16);
    b.put_slice(secret.as_bytes());
    b
}

/// Who a send loop dials as: this node's id, the bus address others reach it at (sent in
/// every handshake), the cluster secret, and the address outgoing connections are made from
/// (`bind-source-addr`; None lets the kernel choose).
#[derive(Clone)]
struct Dialer {
    me: NodeId,
    advertised: String,
    secret: String,
    source: Option<IpAddr>,
}

/// Connects to `addr` ("host:port"), from `source` when one is set.
async fn dial(source: Option<IpAddr>, addr: &str) -> std::io::Result<TcpStream> {
    let Some(ip) = source else {
        return TcpStream::connect(addr).await;
    };
    let mut last = None;
    for target in tokio::net::lookup_host(addr).await? {
        if target.is_ipv4() != ip.is_ipv4() {
            continue;
        }
        let sock = if ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        sock.bind(SocketAddr::new(ip, 0))?;
        match sock.connect(target).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{addr} has no address of the family of bind-source-addr {ip}"),
        )
    }))
}

async fn send_loop(
    dialer: Dialer,
    peer: NodeId,
    addr: String,
    mut rx: mpsc::Receiver<Message>,
    stats: Arc<TransportStats>,
) {
    let Dialer {
        me,
        advertised,
        secret,
        source,
    } = dialer;
    let mut backoff_ms = 20;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut was_connected = false;
    loop {
        let stream = match tokio::time::timeout(Duration::from_secs(1), dial(source, &addr)).await {
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
                back_off(&mut backoff_ms).await;
                if rx.is_closed() {
                    return;
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        watch_for_silence(&stream);
        let mut stream = stream;
        let hello = handshake(me, peer, &advertised, &secret);
        if !matches!(
            tokio::time::timeout(BUS_STALL, stream.write_all(&hello)).await,
            Ok(Ok(()))
        ) {
            back_off(&mut backoff_ms).await;
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
            match write_with_progress(&mut stream, &buf).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    log_notice!("bus connection to node {peer} at {addr} failed: {e}");
                    break;
                }
                Err(_) => {
                    log_notice!(
                        "bus connection to node {peer} at {addr} made no progress for {} ms: dialling again",
                        BUS_STALL.as_millis()
                    );
                    break;
                }
            }
            if buf.capacity() > 8 * WRITE_BATCH_BYTES_MAX {
                buf = BytesMut::with_capacity(64 * 1024);
            }
        }
    }
}

/// Waits before the next dial, twice as long each time up to `RECONNECT_BACKOFF_MAX_MS`.
async fn back_off(backoff_ms: &mut u64) {
    tokio::time::sleep(Duration::from_millis(*backoff_ms)).await;
    *backoff_ms = (*backoff_ms * 2).min(RECONNECT_BACKOFF_MAX_MS);
}

/// `write_all`, giving up (the outer `Err`) when one write makes no progress for `BUS_STALL`.
/// A large batch on a slow link may take longer than that in all, and must not be cut.
async fn write_with_progress(
    stream: &mut TcpStream,
    mut buf: &[u8],
) -> Result<std::io::Result<()>, tokio::time::error::Elapsed> {
    while !buf.is_empty() {
        match tokio::time::timeout(BUS_STALL, stream.write(buf)).await? {
            Ok(0) => return Ok(Err(std::io::ErrorKind::WriteZero.into())),
            Ok(n) => buf = &buf[n..],
            Err(e) => return Ok(Err(e)),
        }
    }
    Ok(Ok(()))
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
    inner: Arc<Inner>,
    deliver: Arc<dyn Fn(Message) + Send + Sync>,
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
        watch_for_silence(&stream);
        let inner = inner.clone();
        let deliver = deliver.clone();
        tokio::spawn(async move {
            if let Err(why) = receive(stream, &inner, &*deliver).await {
                log_verbose!("bus connection from {addr} closed: {why}");
            }
        });
    }
}

async fn read_string(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let len = stream.read_u16_le().await.map_err(|e| e.to_string())? as usize;
    if len > SECRET_BYTES_MAX {
        return Err("bad handshake".into());
    }
    let mut v = vec![0u8; len];
    stream.read_exact(&mut v).await.map_err(|e| e.to_string())?;
    Ok(v)
}

/// Sender id, receiver id, the sender's advertised address and the secret it presented.
async fn read_handshake(
    stream: &mut TcpStream,
) -> Result<(NodeId, NodeId, Vec<u8>, Vec<u8>), String> {
    let mut head = [0u8; 24];
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
    let their_addr = read_string(stream).await?;
    let their_secret = read_string(stream).await?;
    Ok((from, to, their_addr, their_secret))
}

async fn receive(
    mut stream: TcpStream,
    inner: &Inner,
    deliver: &(dyn Fn(Message) + Send + Sync),
) -> Result<(), String> {
    let stats = &inner.stats;
    let me = inner.dialer.me;
    // A connection that does not introduce itself promptly is not a peer: it must not hold a
    // task (and a socket) open for as long as it likes.
    let (from, to, their_addr, their_secret) =
        tokio::time::timeout(BUS_HANDSHAKE_TIMEOUT, read_handshake(&mut stream))
            .await
            .map_err(|_| "no handshake within 5 s".to_string())??;
    if to != me || from == 0 || from == me {
        return Err(format!(
            "handshake from node {from} to node {to}: this is node {me}"
        ));
    }
    if their_secret != inner.dialer.secret.as_bytes() {
        log_warning!("bus connection from node {from} refused: wrong cluster secret");
        return Err("wrong secret".into());
    }
    // A node we have no address for (one joining the group, or a leader a joining node has
    // not heard of yet) can now be answered.
    if let Ok(addr) = String::from_utf8(their_addr) {
        if !inner.peers.lock().contains_key(&from) {
            inner.ensure_peer(from, &addr);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::Body;

    async fn node(me: NodeId) -> (Transport, String, mpsc::UnboundedReceiver<Message>) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let (tx, rx) = mpsc::unbounded_channel();
        let t = Transport::start(
            me,
            addr,
            addr.to_string(),
            String::new(),
            None,
            Arc::new(move |m| {
                let _ = tx.send(m);
            }),
        )
        .await
        .unwrap();
        (t, addr.to_string(), rx)
    }

    fn heartbeat(from: NodeId, to: NodeId, round: u64) -> Message {
        Message {
            from,
            to,
            term: 1,
            body: Body::HeartbeatResp { round },
        }
    }

    async fn received(rx: &mut mpsc::UnboundedReceiver<Message>) -> Option<Message> {
        tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// With bind-source-addr the bus dials from that address (on loopback any 127.0.0.x is
    /// this host's, and the kernel would otherwise pick 127.0.0.1).
    #[tokio::test]
    async fn outgoing_connections_come_from_bind_source_addr() {
        let peer = tokio::net::TcpListener::bind("127.0.0.3:0").await.unwrap();
        let peer_addr = peer.local_addr().unwrap().to_string();
        let source: IpAddr = "127.0.0.2".parse().unwrap();
        let (stream, from) = tokio::join!(dial(Some(source), &peer_addr), peer.accept());
        stream.unwrap();
        assert_eq!(from.unwrap().1.ip(), source);
        let (plain, from) = tokio::join!(dial(None, &peer_addr), peer.accept());
        plain.unwrap();
        assert_eq!(from.unwrap().1.ip().to_string(), "127.0.0.1");
    }

    /// A joining node learns the leader from the leader's handshake; its own (empty)
    /// membership must not make it forget that peer, or its answers never reach the leader.
    #[tokio::test]
    async fn a_joining_node_keeps_the_peer_that_dialed_in() {
        let (leader, _, mut leader_rx) = node(1).await;
        let (joining, joining_addr, mut joining_rx) = node(4).await;
        leader.set_peers(&[(4, joining_addr)], true);
        leader.send(heartbeat(1, 4, 1));
        assert_eq!(received(&mut joining_rx).await.unwrap().from, 1);
        // The joining node's first membership: empty, and it is not in it.
        joining.set_peers(&[], false);
        joining.send(heartbeat(4, 1, 2));
        let m = received(&mut leader_rx)
            .await
            .expect("the answer reached the leader");
        assert_eq!((m.from, m.body), (4, Body::HeartbeatResp { round: 2 }));
        // A member's membership is exclusive: a node no longer listed is dropped.
        joining.set_peers(&[], true);
        joining.send(heartbeat(4, 1, 3));
        assert_eq!(joining.stats.dropped.load(Ordering::Relaxed), 1);
    }
}
