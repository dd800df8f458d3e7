//! One client connection: read, decode every buffered command, run them in order, reply.
//!
//! Consecutive writes become one proposal (one log entry, one round of Raft) and their replies
//! come from its apply. Reads in a batch share one read barrier: every command in the batch
//! was sent before the barrier was taken, so one linearization point serves them all, and
//! reads after the batch's own writes see them because those replies came from this node's
//! apply. Replies go out in the order the commands came, written with one syscall per batch.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::clients::ClientInfo;
use super::help::{CLIENT_HELP, CONFIG_HELP, DEBUG_HELP, PUBSUB_HELP};
use super::protocol::{Limits, RequestParser};
use super::{info, Server};
use crate::command::{self, Exec};
use crate::config;
use crate::errors;
use crate::machine::Op;
use crate::node::pubsub::{PushMsg, Subscriber, SUBSCRIBER_QUEUE_MESSAGES_MAX};
use crate::raft;
use crate::reply::Reply;

/// What a RESP2 client in subscribed mode may still run (Redis's list).
const ALLOWED_WHILE_SUBSCRIBED: &[&str] = &[
    "subscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// Commands run per batch, at most, before replies are flushed (bounds reply memory).
const COMMANDS_PER_BATCH_MAX: usize = 1024;
/// Free space kept in the read buffer before a read.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// While blocked, a connection reads what the client sends (to see it disconnect) up to this.
const BLOCKED_READ_MAX_BYTES: usize = 64 << 20;
/// Buffers grown past this are released once drained.
const BUFFER_KEEP_BYTES: usize = 1 << 20;

pub async fn serve(server: Arc<Server>, stream: TcpStream, id: u64) {
    let maxclients = server.node.settings().read().maxclients;
    let n = server
        .stats
        .connected_clients
        .fetch_add(1, Ordering::AcqRel)
        + 1;
    let mut stream = stream;
    if n > maxclients {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
    } else {
        let addr = stream
            .peer_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        let laddr = stream
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into());
        let fd = {
            use std::os::fd::AsRawFd;
            stream.as_raw_fd()
        };
        let info = Arc::new(ClientInfo::new(id, addr, laddr, fd));
        server.clients.add(info.clone());
        let mut c = Conn {
            server: server.clone(),
            stream,
            id,
            info,
            reply_mode: ReplyMode::On,
            // As Redis: a client that connects while no password is set is authenticated, and
            // stays so when one is set later.
            authenticated: server.node.settings().read().requirepass.is_empty(),
            db: 0,
            resp3: false,
            rbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            wbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            parser: RequestParser::new(),
            closing: false,
            in_progress: None,
            barrier_taken: false,
            subs: None,
            multi: None,
            watched: Vec::new(),
        };
        let _ = c.run().await;
        if c.subs.is_some() {
            server.node.pubsub().drop_client(id);
        }
        server.clients.remove(id);
    }
    server
        .stats
        .connected_clients
        .fetch_sub(1, Ordering::AcqRel);
}

/// One batch in `Server::batches_in_progress`, while it lives.
struct InProgress(Arc<Server>);

impl InProgress {
    fn start(server: &Arc<Server>) -> InProgress {
        server.batches_in_progress.fetch_add(1, Ordering::SeqCst);
        InProgress(server.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.batches_in_progress.fetch_sub(1, Ordering::SeqCst);
    }
}

/// CLIENT REPLY.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ReplyMode {
    On,
    Off,
    /// Drop this many more replies (CLIENT REPLY SKIP: its own and the next command's).
    Skip(u8),
}

struct Conn {
    server: Arc<Server>,
    stream: TcpStream,
    id: u64,
    /// What CLIENT LIST shows of this connection.
    info: Arc<ClientInfo>,
    reply_mode: ReplyMode,
    /// Passed AUTH (or HELLO AUTH) with the default user's password.
    authenticated: bool,
    db: usize,
    resp3: bool,
    rbuf: BytesMut,
    wbuf: BytesMut,
    parser: RequestParser,
    /// QUIT: close once the replies so far are written.
    closing: bool,
    /// The batch being run, counted for a graceful shutdown (`Server::drain`).
    in_progress: Option<InProgress>,
    /// A read barrier was passed for the current batch.
    barrier_taken: bool,
    /// Channel and pattern subscriptions, and the queue the hub pushes messages into.
    subs: Option<Subscription>,
    /// Inside MULTI: what EXEC will run.
    multi: Option<Multi>,
    /// WATCHed keys with what they held then; EXEC runs only if none changed since.
    watched: Vec<command::Watched>,
}

struct Multi {
    queued: Vec<Queued>,
    /// A command was refused while queueing: EXEC aborts (EXECABORT).
    dirty: bool,
    /// The database the next queued command runs in (SELECT inside MULTI changes it).
    db: usize,
}

enum Queued {
    Keyspace { db: u32, args: Vec<Bytes> },
    Session(Vec<Bytes>),
}

struct Subscription {
    tx: Subscriber,
    rx: mpsc::Receiver<PushMsg>,
    channels: BTreeSet<Bytes>,
    patterns: BTreeSet<Bytes>,
}

impl Subscription {
    fn count(&self) -> i64 {
        (self.channels.len() + self.patterns.len()) as i64
    }
}

enum Input {
    Read(usize),
    Pushed(PushMsg),
    /// Idle timeout, or the hub dropped this subscriber (too far behind).
    Closed,
}

impl Conn {
    async fn run(&mut self) -> std::io::Result<()> {
        loop {
            if self.info.killed() {
                return Ok(());
            }
            let (limits, timeout_s) = {
                let s = self.server.node.settings().read();
                (
                    Limits {
                        proto_max_bulk_len: s.proto_max_bulk_len,
                        authenticated: self.authenticated || s.requirepass.is_empty(),
                    },
                    s.timeout_s,
                )
            };
            let mut batch = Vec::new();
            let mut protocol_error = None;
            while batch.len() < COMMANDS_PER_BATCH_MAX {
                match self.parser.parse(&mut self.rbuf, &limits) {
                    Ok(Some(args)) => batch.push(args),
                    Ok(None) => break,
                    Err(e) => {
                        protocol_error = Some(e);
                        break;
                    }
                }
            }
            let full = batch.len() == COMMANDS_PER_BATCH_MAX;
            // Counted until its replies are written (`Server::drain`).
            self.in_progress = (!batch.is_empty()).then(|| InProgress::start(&self.server));
            if !batch.is_empty() {
                if self.server.draining.load(Ordering::SeqCst) {
                    for _ in &batch {
                        self.reply(Reply::error(errors::SHUTTING_DOWN));
                    }
                } else {
                    self.execute(batch).await;
                }
            }
            if let Some(e) = protocol_error {
                e.encode(&mut self.wbuf);
                self.server
                    .stats
                    .total_error_replies
                    .fetch_add(1, Ordering::Relaxed);
                self.flush().await?;
                return Ok(());
            }
            self.flush().await?;
            self.in_progress = None;
            if self.closing {
                return Ok(());
            }
            if full {
                continue;
            }
            if self.rbuf.is_empty() && self.rbuf.capacity() > BUFFER_KEEP_BYTES {
                self.rbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
            }
            let want = self.parser.bytes_needed().clamp(READ_CHUNK_BYTES, 64 << 20);
            if self.rbuf.capacity() - self.rbuf.len() < want / 2 {
                self.rbuf.reserve(want);
            }
            let n = match self.wait_input(timeout_s).await? {
                Input::Read(n) => n,
                Input::Pushed(first) => {
                    self.push_messages(first);
                    self.flush().await?;
                    continue;
                }
                Input::Closed => return Ok(()),
            };
            if n == 0 {
                return Ok(());
            }
            self.server
                .stats
                .total_net_input_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// Waits for bytes from the client or, while subscribed, a message to push to it.
    async fn wait_input(&mut self, timeout_s: u64) -> std::io::Result<Input> {
        let stream = &mut self.stream;
        let rbuf = &mut self.rbuf;
        let info = &self.info;
        if let Some(sub) = &mut self.subs {
            // Subscribers are never timed out for idleness, as in Redis.
            return Ok(tokio::select! {
                r = stream.read_buf(rbuf) => Input::Read(r?),
                m = sub.rx.recv() => m.map_or(Input::Closed, Input::Pushed),
                _ = info.wait_killed() => Input::Closed,
            });
        }
        let idle = async {
            if timeout_s == 0 {
                std::future::pending::<()>().await
            } else {
                tokio::time::sleep(Duration::from_secs(timeout_s)).await
            }
        };
        Ok(tokio::select! {
            r = stream.read_buf(rbuf) => Input::Read(r?),
            _ = info.wait_killed() => Input::Closed,
            _ = idle => Input::Closed,
        })
    }

    /// Encodes `first` and every other message already queued for this subscriber.
    fn push_messages(&mut self, first: PushMsg) {
        let mut next = Some(first);
        let mut n = 0;
        while let Some(m) = next.take() {
            let r = match m {
                PushMsg::Message { channel, message } => Reply::Push(vec![
                    Reply::bulk("message"),
                    Reply::Bulk(channel),
                    Reply::Bulk(message),
                ]),
                PushMsg::PMessage {
                    pattern,
                    channel,
                    message,
                } => Reply::Push(vec![
                    Reply::bulk("pmessage"),
                    Reply::Bulk(pattern),
                    Reply::Bulk(channel),
                    Reply::Bulk(message),
                ]),
            };
            r.encode(self.resp3, &mut self.wbuf);
            n += 1;
            if n < COMMANDS_PER_BATCH_MAX {
                next = self.subs.as_mut().and_then(|s| s.rx.try_recv().ok());
            }
        }
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        self.stream.write_all(&self.wbuf).await?;
        self.server
            .stats
            .total_net_output_bytes
            .fetch_add(self.wbuf.len() as u64, Ordering::Relaxed);
        self.wbuf.clear();
        if self.wbuf.capacity() > BUFFER_KEEP_BYTES {
            self.wbuf = BytesMut::with_capacity(READ_CHUNK_BYTES);
        }
        Ok(())
    }

    fn reply(&mut self, r: Reply) {
        match self.reply_mode {
            ReplyMode::On => {}
            ReplyMode::Off => return,
            ReplyMode::Skip(n) => {
                self.reply_mode = if n > 1 {
                    ReplyMode::Skip(n - 1)
                } else {
                    ReplyMode::On
                };
                return;
            }
        }
        if r.is_error() {
            self.server
                .stats
                .total_error_replies
                .fetch_add(1, Ordering::Relaxed);
        }
        r.encode(self.resp3, &mut self.wbuf);
    }

    async fn execute(&mut self, batch: Vec<Vec<Bytes>>) {
        self.barrier_taken = false;
        let mut writes: Vec<Op> = Vec::new();
        for args in batch {
            self.server
                .stats
                .total_commands_processed
                .fetch_add(1, Ordering::Relaxed);
            let spec = match command::resolve(&args) {
                Ok(spec) => spec,
                Err(r) => {
                    self.flush_writes(&mut writes).await;
                    if args
                        .first()
                        .is_some_and(|a| a.eq_ignore_ascii_case(b"exec"))
                    {
                        // EXEC with arguments: refused as EXEC, in MULTI or not (as Redis).
                        let r = self.refuse("exec", errors::wrong_arity("exec"));
                        self.reply(r);
                        continue;
                    }
                    if let Some(m) = &mut self.multi {
                        // A command refused while queueing aborts the transaction.
                        m.dirty = true;
                    }
                    self.reply(r);
                    continue;
                }
            };
            self.info.touch(spec.name);
            let refused = if !self.authenticated
                && !spec.has(command::flag::NO_AUTH)
                && self.auth_required()
            {
                Some(errors::NOAUTH.to_string())
            } else if self.subscribed_resp2() && !ALLOWED_WHILE_SUBSCRIBED.contains(&spec.name) {
                Some(format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    spec.name
                ))
            } else {
                None
            };
            if let Some(why) = refused {
                self.flush_writes(&mut writes).await;
                let r = self.refuse(spec.name, why);
                self.reply(r);
                continue;
            }
            if let Some(m) = &mut self.multi {
                match spec.name {
                    "exec" | "discard" | "multi" | "watch" | "quit" | "reset" => {}
                    _ if spec.has(command::flag::NO_MULTI) => {
                        m.dirty = true;
                        self.reply(Reply::error("ERR Command not allowed inside a transaction"));
                        continue;
                    }
                    _ => {
                        let q = match spec.exec {
                            Exec::Session => Queued::Session(args),
                            _ => Queued::Keyspace {
                                db: m.db as u32,
                                args,
                            },
                        };
                        if let Queued::Session(a) = &q {
                            // SELECT inside MULTI changes the database of what follows.
                            if spec.name == "select" {
                                if let Some(db) = parse_i64(&a[1]).filter(|&d| d >= 0) {
                                    if (db as usize) < self.server.node.store().databases() {
                                        m.db = db as usize;
                                    }
                                }
                            }
                        }
                        m.queued.push(q);
                        self.reply(Reply::Status("QUEUED".into()));
                        continue;
                    }
                }
            }
            if spec.name == "exec" {
                self.flush_writes(&mut writes).await;
                let r = self.exec().await;
                self.reply(r);
                continue;
            }
            match spec.exec {
                Exec::Write { .. } if spec.is_blocking() => {
                    self.flush_writes(&mut writes).await;
                    let r = match command::blocking_keys(&args) {
                        Some(Ok(b)) => self.blocking(args, b).await,
                        Some(Err(r)) => Some(r),
                        None => Some(Reply::error(errors::UNCERTAIN)),
                    };
                    if let Some(r) = r {
                        self.reply(r);
                    }
                    if self.closing {
                        break;
                    }
                }
                Exec::Write { check, .. } => match check(&args) {
                    Ok(()) => writes.push(Op::Command {
                        db: self.db as u32,
                        args,
                    }),
                    Err(r) => {
                        self.flush_writes(&mut writes).await;
                        self.reply(r);
                    }
                },
                Exec::Read { .. } => {
                    self.flush_writes(&mut writes).await;
                    if let Err(r) = self.barrier().await {
                        self.reply(r);
                        continue;
                    }
                    let node = &self.server.node;
                    let r = command::execute_read(
                        node.store(),
                        spec,
                        self.db as u32,
                        node.read_time_ms(),
                        &args,
                    );
                    self.reply(r);
                }
                Exec::Session => {
                    self.flush_writes(&mut writes).await;
                    let r = self.session(&args).await;
                    self.reply(r);
                    if self.closing {
                        break;
                    }
                }
            }
        }
        self.flush_writes(&mut writes).await;
        self.publish_info();
    }

    /// A command refused before it runs: inside MULTI that aborts the transaction, and a
    /// refused EXEC says so (Redis's rejectCommand / execCommandAbort).
    fn refuse(&mut self, name: &str, why: String) -> Reply {
        if let Some(m) = &mut self.multi {
            m.dirty = true;
        }
        if name == "exec" {
            self.multi = None;
            self.watched.clear();
            let why = why.strip_prefix("ERR ").unwrap_or(&why).to_string();
            return Reply::error(format!("EXECABORT Transaction discarded because of: {why}"));
        }
        Reply::error(why)
    }

    /// Keeps what CLIENT LIST shows of this connection current.
    fn publish_info(&self) {
        let i = &self.info;
        i.db.store(self.db, Ordering::Relaxed);
        i.resp
            .store(if self.resp3 { 3 } else { 2 }, Ordering::Relaxed);
        i.multi.store(
            self.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
            Ordering::Relaxed,
        );
        let (ch, pat) = self
            .subs
            .as_ref()
            .map_or((0, 0), |s| (s.channels.len(), s.patterns.len()));
        i.subscriptions.store(ch, Ordering::Relaxed);
        i.patterns.store(pat, Ordering::Relaxed);
        i.query_buffer.store(self.rbuf.len(), Ordering::Relaxed);
    }

    /// EXEC: the queued keyspace commands go through the log as one entry and apply
    /// atomically on every node; queued session commands (PING, SELECT, ...) run here after
    /// it. One array of replies, in queued order.
    async fn exec(&mut self) -> Reply {
        let Some(m) = self.multi.take() else {
            return Reply::error("ERR EXEC without MULTI");
        };
        // EXEC ends the WATCH whatever happens next (Redis unwatches on abort too).
        let watched = std::mem::take(&mut self.watched);
        if m.dirty {
            return Reply::error("EXECABORT Transaction discarded because of previous errors.");
        }
        let keyspace: Vec<(u32, Vec<Bytes>)> = m
            .queued
            .iter()
            .filter_map(|q| match q {
                Queued::Keyspace { db, args } => Some((*db, args.clone())),
                Queued::Session(_) => None,
            })
            .collect();
        let mut applied = Vec::new().into_iter();
        if !keyspace.is_empty() || !watched.is_empty() {
            match self
                .server
                .node
                .write(&[Op::Transaction {
                    cmds: keyspace,
                    watched,
                }])
                .await
            {
                Ok(mut replies) => match replies.pop() {
                    Some(Reply::Array(v)) => applied = v.into_iter(),
                    Some(other) => return other,
                    None => return Reply::error(errors::UNCERTAIN),
                },
                Err(e) => return e.reply(),
            }
        }
        let mut out = Vec::with_capacity(m.queued.len());
        for q in m.queued {
            match q {
                Queued::Keyspace { .. } => out.push(applied.next().unwrap_or(Reply::Nil)),
                Queued::Session(args) => out.push(Box::pin(self.session(&args)).await),
            }
        }
        Reply::Array(out)
    }

    /// A blocking command (BLPOP and its kind) outside MULTI: proposed like any write; if it
    /// found nothing to pop, it waits until a write applied on this node touches one of its
    /// keys, and is proposed again, until it pops or its timeout passes. A pop in flight is
    /// always waited for (its element must reach the client); only the wait between attempts
    /// times out. Bytes the client sends meanwhile are buffered for after the reply, as in
    /// Redis; if it disconnects or is killed, the wait ends with no reply (`None`).
    async fn blocking(&mut self, args: Vec<Bytes>, b: command::Blocking) -> Option<Reply> {
        let node = self.server.node.clone();
        let mut first_attempt = true;
        let deadline = (b.timeout_ms > 0)
            .then(|| tokio::time::Instant::now() + Duration::from_millis(b.timeout_ms));
        let mut registration = node.blocked().register(&b.keys);
        loop {
            let op = Op::Command {
                db: self.db as u32,
                args: args.clone(),
            };
            let r = match node.write(std::slice::from_ref(&op)).await {
                Ok(mut replies) => replies.pop().unwrap_or(Reply::error(errors::UNCERTAIN)),
                Err(e) => return Some(e.reply()),
            };
            // Only the first attempt answers WRONGTYPE: once blocked, a key recreated with
            // another type leaves the client blocked, as in Redis 7.0, which serves a blocked
            // client only from a key of the type it waits for (a failed attempt changed
            // nothing).
            let wrong_type = !first_attempt && r == Reply::error(errors::WRONGTYPE);
            first_attempt = false;
            if !matches!(r, Reply::NilArray) && !wrong_type {
                return Some(r);
            }
            registration.blocking();
            loop {
                let until_deadline = async {
                    match deadline {
                        Some(d) => tokio::time::sleep_until(d).await,
                        None => std::future::pending().await,
                    }
                };
                let room = self.rbuf.len() < BLOCKED_READ_MAX_BYTES;
                // Nothing is in flight while it waits: unless replies of commands before it
                // are still to be written, a graceful shutdown need not wait for it (the
                // connection is closed under it, nothing popped).
                if self.wbuf.is_empty() {
                    self.in_progress = None;
                }
                let woken = tokio::select! {
                    _ = registration.woken() => true,
                    _ = until_deadline => return Some(self.unblocked(command::timeout_reply())),
                    _ = self.info.wait_killed() => {
                        // Killed (CLIENT KILL): closed without a reply, as Redis does.
                        self.closing = true;
                        return None;
                    }
                    n = self.stream.read_buf(&mut self.rbuf), if room => match n {
                        Ok(0) | Err(_) => {
                            self.closing = true;
                            return None;
                        }
                        Ok(n) => {
                            self.server
                                .stats
                                .total_net_input_bytes
                                .fetch_add(n as u64, Ordering::Relaxed);
                            false
                        }
                    },
                };
                self.count_again();
                if self.server.draining.load(Ordering::SeqCst) {
                    // Shutting down: no new attempt, as if the timeout had passed.
                    return Some(command::timeout_reply());
                }
                if woken {
                    break;
                }
            }
        }
    }

    /// A blocking command ends its wait with `r`: counted again for the rest of the batch.
    fn unblocked(&mut self, r: Reply) -> Reply {
        self.count_again();
        r
    }

    fn count_again(&mut self) {
        if self.in_progress.is_none() {
            self.in_progress = Some(InProgress::start(&self.server));
        }
    }

    async fn barrier(&mut self) -> Result<(), Reply> {
        if self.barrier_taken {
            return Ok(());
        }
        self.server
            .node
            .read_barrier()
            .await
            .map_err(|e| e.reply())?;
        self.barrier_taken = true;
        Ok(())
    }

    async fn flush_writes(&mut self, writes: &mut Vec<Op>) {
        if writes.is_empty() {
            return;
        }
        let n = writes.len();
        match self.server.node.write(writes).await {
            Ok(replies) => {
                debug_assert_eq!(replies.len(), n);
                for r in replies {
                    self.reply(r);
                }
            }
            Err(e) => {
                let r = e.reply();
                for _ in 0..n {
                    self.reply(r.clone());
                }
            }
        }
        writes.clear();
    }

    /// Commands answered by the connection itself.
    async fn session(&mut self, args: &[Bytes]) -> Reply {
        let name = args[0].to_ascii_lowercase();
        match &name[..] {
            b"ping" if args.len() > 2 => Reply::error(errors::wrong_arity("ping")),
            b"ping" if self.subscribed_resp2() => Reply::Array(vec![
                Reply::bulk("pong"),
                Reply::Bulk(args.get(1).cloned().unwrap_or_default()),
            ]),
            b"ping" => match args.len() {
                1 => Reply::Status("PONG".into()),
                _ => Reply::Bulk(args[1].clone()),
            },
            // A subscription changes at a point of the log: after this node has applied every
            // message committed before the command, so that, as on one Redis server, the
            // messages published before it are delivered before an UNSUBSCRIBE and none of them
            // after a SUBSCRIBE.
            b"subscribe" | b"psubscribe" | b"unsubscribe" | b"punsubscribe" => {
                if let Err(r) = self.barrier().await {
                    return r;
                }
                // Messages already delivered to this connection go out before the reply.
                if let Some(first) = self.subs.as_mut().and_then(|s| s.rx.try_recv().ok()) {
                    self.push_messages(first);
                }
                if name.starts_with(b"un") || name.starts_with(b"pun") {
                    self.unsubscribe(args, name[0] == b'p')
                } else {
                    self.subscribe(args, name[0] == b'p')
                }
            }
            b"pubsub" => self.pubsub_info(args),
            b"echo" => Reply::Bulk(args[1].clone()),
            b"quit" => {
                self.closing = true;
                Reply::OK
            }
            b"select" => match parse_i64(&args[1]) {
                None => Reply::error(errors::NOT_INTEGER),
                Some(db) if i32::try_from(db).is_err() => Reply::error(
                    "ERR value is out of range, value must between -2147483648 and 2147483647",
                ),
                Some(db) if db < 0 || db as usize >= self.server.node.store().databases() => {
                    Reply::error(errors::INVALID_DB)
                }
                Some(db) => {
                    self.db = db as usize;
                    Reply::OK
                }
            },
            b"hello" => self.hello(args),
            b"multi" => {
                if self.multi.is_some() {
                    return Reply::error("ERR MULTI calls can not be nested");
                }
                self.multi = Some(Multi {
                    queued: Vec::new(),
                    dirty: false,
                    db: self.db,
                });
                Reply::OK
            }
            b"discard" => match self.multi.take() {
                Some(_) => {
                    self.watched.clear();
                    Reply::OK
                }
                None => Reply::error("ERR DISCARD without MULTI"),
            },
            b"watch" => {
                if self.multi.is_some() {
                    return Reply::error("ERR WATCH inside MULTI is not allowed");
                }
                if let Err(r) = self.barrier().await {
                    return r;
                }
                let db = self.db as u32;
                let mut keys: Vec<Bytes> = Vec::new();
                for k in &args[1..] {
                    // A key watched already keeps what it held when first watched (Redis).
                    let seen = self.watched.iter().any(|(d, w, _)| *d == db && w == k)
                        || keys.contains(k);
                    if !seen {
                        keys.push(k.clone());
                    }
                }
                let node = &self.server.node;
                let fps = command::watch_fingerprints(node.store(), db, &keys, node.read_time_ms());
                self.watched
                    .extend(keys.into_iter().zip(fps).map(|(k, fp)| (db, k, fp)));
                Reply::OK
            }
            // Snapshots of this node (see the README: Snapshots and restarts).
            b"save" => match self.server.node.save(true).await {
                Ok(()) => Reply::OK,
                Err(e) => Reply::error(format!("ERR {e}")),
            },
            b"bgsave" => {
                if args.len() > 2 || (args.len() == 2 && !args[1].eq_ignore_ascii_case(b"schedule")) {
                    return Reply::error(errors::SYNTAX);
                }
                match self.server.node.save(false).await {
                    Ok(()) => Reply::Status("Background saving started".into()),
                    Err(e) => Reply::error(format!("ERR {e}")),
                }
            }
            b"lastsave" => Reply::Int(self.server.node.last_save_unix() as i64),
            b"unwatch" => {
                self.watched.clear();
                Reply::OK
            }
            b"publish" => {
                let op = Op::Publish {
                    items: vec![args[1].clone(), args[2].clone()],
                };
                match self.server.node.write(&[op]).await {
                    Ok(mut r) => r.pop().unwrap_or(Reply::Int(0)),
                    Err(e) => e.reply(),
                }
            }
            b"reset" => {
                self.unsubscribe_all();
                self.multi = None;
                self.watched.clear();
                // Back to the default user, who may need a password again.
                self.authenticated = !self.auth_required();
                self.db = 0;
                self.resp3 = false;
                *self.info.name.lock() = None;
                self.reply_mode = ReplyMode::On;
                Reply::Status("RESET".into())
            }
            b"auth" => match args.len() {
                2 if !self.auth_required() => Reply::error(
                    "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
                ),
                2 => self.authenticate(b"default", &args[1]),
                3 => self.authenticate(&args[1], &args[2]),
                _ => Reply::error(errors::SYNTAX),
            },
            b"time" => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                Reply::Array(vec![
                    Reply::Bulk(Bytes::from(now.as_secs().to_string())),
                    Reply::Bulk(Bytes::from(now.subsec_micros().to_string())),
                ])
            }
            b"client" => self.client(args),
            b"config" => self.config(args),
            b"command" => command::command_cmd(args),
            b"info" => {
                let text = info::render(&self.server, &args[1..]);
                if self.resp3 {
                    Reply::Verbatim("txt", Bytes::from(text))
                } else {
                    Reply::Bulk(Bytes::from(text))
                }
            }
            b"debug" => self.debug(args).await,
            b"shutdown" => {
                // SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]: every acknowledged write is
                // already durable, so SAVE and NOSAVE mean the same here.
                let (mut save, mut now, mut abort) = (0, false, false);
                for a in &args[1..] {
                    match &a.to_ascii_lowercase()[..] {
                        b"save" | b"nosave" => save += 1,
                        b"now" => now = true,
                        b"force" => {}
                        b"abort" => abort = true,
                        _ => return Reply::error(errors::SYNTAX),
                    }
                }
                if save > 1 || (abort && (save > 0 || now || args.len() > 2)) {
                    return Reply::error(errors::SYNTAX);
                }
                if abort {
                    return Reply::error("ERR No shutdown in progress.");
                }
                self.server.shutdown_now.store(now, Ordering::Relaxed);
                self.server.shutdown.notify_one();
                // As in Redis, a successful SHUTDOWN closes the connection without a reply.
                self.closing = true;
                self.reply_mode = ReplyMode::Skip(1);
                Reply::OK
            }
            b"raft.node" => self.raft_node(args).await,
            b"raft.transfer-leader" => {
                let to = match args.get(1).map(|a| parse_i64(a)) {
                    None => None,
                    Some(Some(id)) if id > 0 => Some(id as u64),
                    Some(_) => return Reply::error(errors::NOT_INTEGER),
                };
                match self.server.node.transfer_leader(to).await {
                    Ok(_) => Reply::OK,
                    Err(e) => Reply::error(format!("ERR {e}")),
                }
            }
            _ => Reply::error_bytes(errors::unknown_command(&args[0], &args[1..])),
        }
    }

    fn auth_required(&self) -> bool {
        !self.server.node.settings().read().requirepass.is_empty()
    }

    /// The default user is the only user: its password is `requirepass` (any password when
    /// none is set, as Redis's default user with `nopass`).
    fn authenticate(&mut self, user: &[u8], password: &[u8]) -> Reply {
        let required = self.server.node.settings().read().requirepass.clone();
        let ok = user.eq_ignore_ascii_case(b"default")
            && (required.is_empty() || password == required.as_bytes());
        if ok {
            self.authenticated = true;
            Reply::OK
        } else {
            Reply::error("WRONGPASS invalid username-password pair or user is disabled.")
        }
    }

    /// RESP2 clients with a subscription may only (un)subscribe, PING, QUIT and RESET.
    fn subscribed_resp2(&self) -> bool {
        !self.resp3 && self.subs.as_ref().is_some_and(|s| s.count() > 0)
    }

    fn subscription(&mut self) -> &mut Subscription {
        self.subs.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(SUBSCRIBER_QUEUE_MESSAGES_MAX);
            Subscription {
                tx,
                rx,
                channels: BTreeSet::new(),
                patterns: BTreeSet::new(),
            }
        })
    }

    /// SUBSCRIBE / PSUBSCRIBE: one confirmation per channel, the last one returned.
    fn subscribe(&mut self, args: &[Bytes], pattern: bool) -> Reply {
        let kind = if pattern { "psubscribe" } else { "subscribe" };
        let (id, node) = (self.id, self.server.node.clone());
        let mut last = Reply::Nil;
        for (i, name) in args[1..].iter().enumerate() {
            let sub = self.subscription();
            let tx = sub.tx.clone();
            if pattern {
                if node.pubsub().psubscribe(id, name.clone(), &tx) {
                    sub.patterns.insert(name.clone());
                }
            } else if node.pubsub().subscribe(id, name.clone(), &tx) {
                sub.channels.insert(name.clone());
            }
            let r = Reply::Push(vec![
                Reply::bulk(kind),
                Reply::Bulk(name.clone()),
                Reply::Int(sub.count()),
            ]);
            if i + 2 < args.len() {
                self.reply(r);
            } else {
                last = r;
            }
        }
        last
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE [name ...]: without names, from every one.
    fn unsubscribe(&mut self, args: &[Bytes], pattern: bool) -> Reply {
        let kind = if pattern {
            "punsubscribe"
        } else {
            "unsubscribe"
        };
        let names: Vec<Bytes> = if args.len() > 1 {
            args[1..].to_vec()
        } else {
            match &self.subs {
                Some(s) if pattern => s.patterns.iter().cloned().collect(),
                Some(s) => s.channels.iter().cloned().collect(),
                None => Vec::new(),
            }
        };
        let count = |c: &Conn| c.subs.as_ref().map_or(0, Subscription::count);
        if names.is_empty() {
            return Reply::Push(vec![Reply::bulk(kind), Reply::Nil, Reply::Int(count(self))]);
        }
        let (id, node) = (self.id, self.server.node.clone());
        let mut last = Reply::Nil;
        let n = names.len();
        for (i, name) in names.into_iter().enumerate() {
            if let Some(sub) = &mut self.subs {
                if pattern {
                    node.pubsub().punsubscribe(id, &name);
                    sub.patterns.remove(&name);
                } else {
                    node.pubsub().unsubscribe(id, &name);
                    sub.channels.remove(&name);
                }
            }
            let r = Reply::Push(vec![
                Reply::bulk(kind),
                Reply::Bulk(name),
                Reply::Int(count(self)),
            ]);
            if i + 1 < n {
                self.reply(r);
            } else {
                last = r;
            }
        }
        last
    }

    fn unsubscribe_all(&mut self) {
        if self.subs.take().is_some() {
            self.server.node.pubsub().drop_client(self.id);
        }
    }

    /// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT, for this node's subscribers.
    fn pubsub_info(&mut self, args: &[Bytes]) -> Reply {
        let hub = self.server.node.pubsub();
        match &args[1].to_ascii_lowercase()[..] {
            // The table's arity allows more; Redis's handler takes at most one pattern.
            b"channels" if args.len() > 3 => Reply::error_bytes(errors::with_arg(
                "ERR unknown subcommand or wrong number of arguments for '",
                &args[1],
                128,
                "'. Try PUBSUB HELP.",
            )),
            b"channels" => Reply::Array(
                hub.channels(args.get(2).map(|p| &p[..]))
                    .into_iter()
                    .map(Reply::Bulk)
                    .collect(),
            ),
            b"numsub" => Reply::Array(
                args[2..]
                    .iter()
                    .flat_map(|c| [Reply::Bulk(c.clone()), Reply::Int(hub.numsub(c))])
                    .collect(),
            ),
            b"numpat" => Reply::Int(hub.numpat()),
            _ => Reply::Array(
                PUBSUB_HELP
                    .iter()
                    .map(|l| Reply::Status((*l).into()))
                    .collect(),
            ),
        }
    }

    fn hello(&mut self, args: &[Bytes]) -> Reply {
        let mut proto = if self.resp3 { 3 } else { 2 };
        let mut i = 1;
        if args.len() > 1 {
            match parse_i64(&args[1]) {
                Some(v) if v == 2 || v == 3 => proto = v,
                Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
                None => {
                    return Reply::error("ERR Protocol version is not an integer or out of range")
                }
            }
            i = 2;
        }
        let mut new_name = None;
        while i < args.len() {
            let opt = args[i].to_ascii_lowercase();
            let more = args.len() - i - 1;
            if opt == b"auth" && more >= 2 {
                let r = self.authenticate(&args[i + 1].clone(), &args[i + 2].clone());
                if r.is_error() {
                    return r;
                }
                i += 3;
            } else if opt == b"setname" && more >= 1 {
                if let Err(r) = valid_client_name(&args[i + 1]) {
                    return r;
                }
                new_name = Some(args[i + 1].clone());
                i += 2;
            } else {
                return Reply::error_bytes(errors::with_arg(
                    "ERR Syntax error in HELLO option '",
                    &args[i],
                    usize::MAX,
                    "'",
                ));
            }
        }
        if !self.authenticated && self.auth_required() {
            return Reply::error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
            );
        }
        if let Some(n) = new_name {
            *self.info.name.lock() = if n.is_empty() { None } else { Some(n) };
        }
        self.resp3 = proto == 3;
        let role = if self.server.node.is_leader() {
            "master"
        } else {
            "replica"
        };
        Reply::Map(vec![
            (Reply::bulk("server"), Reply::bulk("redis")),
            (Reply::bulk("version"), Reply::bulk(info::REDIS_VERSION)),
            (Reply::bulk("proto"), Reply::Int(proto)),
            (Reply::bulk("id"), Reply::Int(self.id as i64)),
            (Reply::bulk("mode"), Reply::bulk("standalone")),
            (Reply::bulk("role"), Reply::bulk(role)),
            (Reply::bulk("modules"), Reply::Array(Vec::new())),
        ])
    }

    fn client(&mut self, args: &[Bytes]) -> Reply {
        let sub = args[1].to_ascii_lowercase();
        let arity = |n: usize, name: &str| {
            if args.len() != n {
                Err(Reply::error(errors::wrong_arity(&format!("client|{name}"))))
            } else {
                Ok(())
            }
        };
        match &sub[..] {
            b"id" => arity(2, "id")
                .map(|_| Reply::Int(self.id as i64))
                .unwrap_or_else(|e| e),
            b"getname" => arity(2, "getname")
                .map(|_| match self.info.name.lock().clone() {
                    Some(n) => Reply::Bulk(n),
                    None => Reply::Nil,
                })
                .unwrap_or_else(|e| e),
            b"setname" => {
                if let Err(e) = arity(3, "setname") {
                    return e;
                }
                if let Err(r) = valid_client_name(&args[2]) {
                    return r;
                }
                *self.info.name.lock() = if args[2].is_empty() {
                    None
                } else {
                    Some(args[2].clone())
                };
                Reply::OK
            }
            b"info" => Reply::Verbatim("txt", Bytes::from(self.info.describe() + "\n")),
            b"list" => self.client_list(args),
            b"kill" => self.client_kill(args),
            b"reply" => match &args[2].to_ascii_lowercase()[..] {
                b"on" => {
                    self.reply_mode = ReplyMode::On;
                    Reply::OK
                }
                b"off" => {
                    self.reply_mode = ReplyMode::Off;
                    // This command's own reply is dropped too.
                    Reply::OK
                }
                b"skip" => {
                    // Skips the reply of the next command; this one's is dropped as well.
                    self.reply_mode = ReplyMode::Skip(2);
                    Reply::OK
                }
                _ => Reply::error(errors::SYNTAX),
            },
            b"help" => Reply::Array(
                CLIENT_HELP
                    .iter()
                    .map(|l| Reply::Status((*l).into()))
                    .collect(),
            ),
            _ => Reply::error_bytes(errors::unknown_subcommand(&args[1], "client")),
        }
    }

    /// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID id ...]
    fn client_list(&self, args: &[Bytes]) -> Reply {
        let mut kind: Option<Vec<u8>> = None;
        let mut ids: Option<Vec<u64>> = None;
        let mut i = 2;
        while i < args.len() {
            match &args[i].to_ascii_lowercase()[..] {
                b"type" if i + 1 < args.len() => {
                    let t = args[i + 1].to_ascii_lowercase();
                    if !matches!(
                        &t[..],
                        b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
                    ) {
                        return Reply::error_bytes(errors::with_arg(
                            "ERR Unknown client type '",
                            &args[i + 1],
                            usize::MAX,
                            "'",
                        ));
                    }
                    kind = Some(t);
                    i += 2;
                }
                b"id" if i + 1 < args.len() => {
                    let mut v = Vec::new();
                    for a in &args[i + 1..] {
                        match parse_i64(a).filter(|&n| n > 0) {
                            Some(n) => v.push(n as u64),
                            None => return Reply::error("ERR Invalid client ID"),
                        }
                    }
                    ids = Some(v);
                    i = args.len();
                }
                _ => return Reply::error(errors::SYNTAX),
            }
        }
        let mut out = String::new();
        for c in self.server.clients.all() {
            let matches_kind = match kind.as_deref() {
                None => true,
                Some(b"normal") => !c.is_pubsub(),
                Some(b"pubsub") => c.is_pubsub(),
                Some(_) => false,
            };
            if matches_kind && ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
                out.push_str(&c.describe());
                out.push('\n');
            }
        }
        Reply::Verbatim("txt", Bytes::from(out))
    }

    /// CLIENT KILL ip:port, or CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port]
    /// [TYPE type] [USER name] [SKIPME yes|no]: closes the matching connections.
    fn client_kill(&mut self, args: &[Bytes]) -> Reply {
        if args.len() == 3 {
            // The old form: one address, an error if nobody matches.
            let addr = String::from_utf8_lossy(&args[2]).to_string();
            for c in self.server.clients.all() {
                if c.addr.to_string() == addr {
                    c.kill();
                    if c.id == self.id {
                        self.closing = true;
                    }
                    return Reply::OK;
                }
            }
            return Reply::error("ERR No such client");
        }
        if !args.len().is_multiple_of(2) {
            return Reply::error(errors::SYNTAX);
        }
        let (mut id, mut addr, mut laddr, mut kind, mut skipme) = (None, None, None, None, true);
        for kv in args[2..].chunks(2) {
            let v = String::from_utf8_lossy(&kv[1]).to_string();
            match &kv[0].to_ascii_lowercase()[..] {
                b"id" => match parse_i64(&kv[1]).filter(|&n| n > 0) {
                    Some(n) => id = Some(n as u64),
                    None => return Reply::error("ERR client-id should be greater than 0"),
                },
                b"addr" => addr = Some(v),
                b"laddr" => laddr = Some(v),
                b"type" => {
                    let t = v.to_ascii_lowercase();
                    if !matches!(&t[..], "normal" | "master" | "replica" | "slave" | "pubsub") {
                        return Reply::error(format!("ERR Unknown client type '{v}'"));
                    }
                    kind = Some(t);
                }
                // The default user is the only one, and every client is it.
                b"user" if v != "default" => {
                    return Reply::error(format!("ERR No such user '{v}'"));
                }
                b"user" => {}
                b"skipme" => match v.to_ascii_lowercase().as_str() {
                    "yes" => skipme = true,
                    "no" => skipme = false,
                    _ => return Reply::error(errors::SYNTAX),
                },
                _ => return Reply::error(errors::SYNTAX),
            }
        }
        let mut killed = 0;
        for c in self.server.clients.all() {
            let hit = id.is_none_or(|i| i == c.id)
                && addr.as_ref().is_none_or(|a| *a == c.addr.to_string())
                && laddr.as_ref().is_none_or(|a| *a == c.laddr.to_string())
                && kind.as_deref().is_none_or(|k| match k {
                    "normal" => !c.is_pubsub(),
                    "pubsub" => c.is_pubsub(),
                    _ => false,
                })
                && !(skipme && c.id == self.id);
            if hit {
                c.kill();
                if c.id == self.id {
                    self.closing = true;
                }
                killed += 1;
            }
        }
        Reply::Int(killed)
    }

    fn config(&mut self, args: &[Bytes]) -> Reply {
        let sub = args[1].to_ascii_lowercase();
        let settings = self.server.node.settings();
        match &sub[..] {
            b"get" => {
                if args.len() < 3 {
                    return Reply::error(errors::wrong_arity("config|get"));
                }
                let patterns: Vec<&[u8]> = args[2..].iter().map(|a| &a[..]).collect();
                let pairs = config::config_get(&settings.read(), &patterns);
                Reply::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (Reply::bulk(k), Reply::bulk(v)))
                        .collect(),
                )
            }
            b"set" => {
                if args.len() < 4 || !args.len().is_multiple_of(2) {
                    return Reply::error(errors::wrong_arity("config|set"));
                }
                let mut pairs = Vec::new();
                for kv in args[2..].chunks(2) {
                    let Ok(k) = std::str::from_utf8(&kv[0]) else {
                        // No directive's name is anything but ASCII.
                        return Reply::error_bytes(errors::with_arg(
                            "ERR Unknown option or number of arguments for CONFIG SET - '",
                            &kv[0],
                            usize::MAX,
                            "'",
                        ));
                    };
                    let Ok(v) = std::str::from_utf8(&kv[1]) else {
                        return Reply::error_bytes(errors::with_arg(
                            "ERR CONFIG SET failed (possibly related to argument '",
                            &kv[0],
                            usize::MAX,
                            "') - argument must be valid text",
                        ));
                    };
                    pairs.push((k, v));
                }
                let mut s = settings.write();
                match config::config_set(&mut s, &pairs) {
                    Ok(()) => {
                        crate::logging::set_level(s.loglevel);
                        self.server.node.settings_changed(&s);
                        Reply::OK
                    }
                    Err(e) => Reply::error(e),
                }
            }
            b"help" => Reply::Array(
                CONFIG_HELP
                    .iter()
                    .map(|l| Reply::Status((*l).into()))
                    .collect(),
            ),
            b"resetstat" => {
                if args.len() != 2 {
                    return Reply::error(errors::wrong_arity("config|resetstat"));
                }
                let st = &self.server.stats;
                for c in [
                    &st.total_connections_received,
                    &st.rejected_connections,
                    &st.total_commands_processed,
                    &st.total_net_input_bytes,
                    &st.total_net_output_bytes,
                    &st.total_error_replies,
                ] {
                    c.store(0, Ordering::Relaxed);
                }
                Reply::OK
            }
            _ => Reply::error_bytes(errors::unknown_subcommand(&args[1], "config")),
        }
    }

    /// RAFT.NODE ADD <id> <host:port[@busport]> | PROMOTE <id> | REMOVE <id>: one
    /// membership change, answered once committed.
    async fn raft_node(&mut self, args: &[Bytes]) -> Reply {
        let Some(id) = parse_i64(&args[2]).filter(|&id| id > 0) else {
            return Reply::error(errors::NOT_INTEGER);
        };
        let node = &self.server.node;
        if !node.is_leader() {
            let st = node.status();
            let leader = st.members.iter().find(|m| m.id == st.leader_id);
            return Reply::error(match leader {
                Some(l) => format!(
                    "ERR membership changes must be sent to the leader: node {} at {}",
                    l.id, l.addr
                ),
                None => "ERR membership changes must be sent to the leader: no leader is known"
                    .to_string(),
            });
        }
        let id = id as u64;
        let change = match &args[1].to_ascii_lowercase()[..] {
            b"add" => {
                let addr = String::from_utf8_lossy(&args[3]).to_string();
                let (client, bus) = match addr.split_once('@') {
                    Some((c, b)) => (c.to_string(), b.parse::<u16>().ok()),
                    None => (addr.clone(), None),
                };
                let Some(port) = client
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                else {
                    return Reply::error("ERR invalid address: expected host:port[@busport]");
                };
                let bus = bus.unwrap_or(port.wrapping_add(10000));
                raft::ConfChange::AddLearner {
                    id,
                    addr: format!("{client}@{bus}"),
                }
            }
            b"promote" => raft::ConfChange::Promote { id },
            _ => raft::ConfChange::Remove { id },
        };
        match self.server.node.change_membership(change).await {
            Ok(()) => Reply::OK,
            Err(e) => e.reply(),
        }
    }

    async fn debug(&mut self, args: &[Bytes]) -> Reply {
        let sub = args[1].to_ascii_lowercase();
        match &sub[..] {
            b"digest" | b"digest-value" if sub == b"digest-value" || args.len() == 2 => {
                if let Err(r) = self.barrier().await {
                    return r;
                }
                let store = self.server.node.store();
                if sub == b"digest" {
                    command::debug_digest(store)
                } else {
                    command::debug_digest_value(store, self.db as u32, &args[2..])
                }
            }
            b"sleep" if args.len() == 3 => {
                // Redis blocks the whole server; raftis pauses this connection only.
                let secs = leading_float(&args[2]);
                if secs > 0.0 {
                    tokio::time::sleep(Duration::from_secs_f64(secs.min(3600.0))).await;
                }
                Reply::OK
            }
            b"help" if args.len() == 2 => Reply::Array(
                DEBUG_HELP
                    .iter()
                    .map(|l| Reply::Status((*l).into()))
                    .collect(),
            ),
            _ => Reply::error_bytes(errors::with_arg(
                "ERR unknown subcommand or wrong number of arguments for '",
                &args[1],
                128,
                "'. Try DEBUG HELP.",
            )),
        }
    }
}

fn valid_client_name(name: &[u8]) -> Result<(), Reply> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Reply::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// The number strtod would read at the start of `b` (0 when there is none), as DEBUG SLEEP
/// reads its argument.
fn leading_float(b: &[u8]) -> f64 {
    let s = String::from_utf8_lossy(b);
    let s = s.trim_start();
    let end = s
        .char_indices()
        .take_while(|(i, c)| {
            c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '-' || *c == '+'))
        })
        .map(|(i, c)| i + c.len_utf8())
        .last()
        .unwrap_or(0);
    s[..end].parse().unwrap_or(0.0)
}

/// Redis's string2ll: an optional '-', digits, no leading zeros, no spaces.
fn parse_i64(b: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty()
        || s.starts_with('+')
        || (s.len() > 1 && (s.starts_with('0') || s.starts_with("-0")))
    {
        return None;
    }
    s.parse().ok()
}
