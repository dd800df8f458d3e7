//! Clients blocked in BLPOP, BZPOPMIN and the other blocking commands, waiting for a key.
//!
//! A blocking command is an ordinary write: proposed, committed and applied on every node, it
//! pops if there is something to pop and otherwise changes nothing and answers "nothing"
//! (`Reply::NilArray`). The connection that sent it then waits here, on this node, until an
//! applied write touches one of its keys, and proposes the command again. Every node applies
//! every entry, so a client blocked on a follower is woken by a push sent to any node.
//!
//! The registry is keyed by key name alone, whatever the database: a write to the same name in
//! another database (or MOVE, COPY ... DB) wakes the waiter for nothing, which costs one retry
//! and is never wrong. A write with no keys (FLUSHALL, FLUSHDB, SWAPDB) or a snapshot install
//! wakes everyone. Pops that found nothing do not wake anyone (else two waiters on one key
//! would wake each other forever).
//!
//! Redis serves the clients blocked on a key in the order they blocked. Here every waiter on
//! the key is woken and their retries are ordered by the log; the first to commit gets the
//! element. With waiters spread over several nodes, no order fairer than that exists without a
//! queue on the leader.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::command;
use crate::reply::Reply;

/// The connections waiting on one key: (registration id, its wake-up).
type Waiters = Vec<(u64, Arc<Notify>)>;

#[derive(Default)]
pub struct Blocked {
    /// Registrations alive, for the applier's fast path.
    registered: AtomicUsize,
    /// Connections whose first attempt found nothing, for INFO's `blocked_clients` (Redis
    /// counts a client once it blocks, not while its command first runs).
    waiting: AtomicUsize,
    next_id: AtomicU64,
    keys: Mutex<HashMap<Bytes, Waiters>>,
}

/// A connection's place in the registry, for as long as it waits; dropping it leaves.
pub struct Registration {
    blocked: Arc<Blocked>,
    id: u64,
    keys: Vec<Bytes>,
    notify: Arc<Notify>,
    /// Counted in `Blocked::waiting`.
    counted: bool,
}

impl Blocked {
    /// Registers a waiter on `keys`. Register before proposing the first attempt: a write
    /// applied between that attempt and the wait then still wakes it.
    pub fn register(self: &Arc<Self>, keys: &[Bytes]) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        let mut keys: Vec<Bytes> = keys.to_vec();
        keys.sort();
        keys.dedup();
        {
            let mut map = self.keys.lock();
            for k in &keys {
                map.entry(k.clone()).or_default().push((id, notify.clone()));
            }
        }
        self.registered.fetch_add(1, Ordering::Relaxed);
        Registration {
            blocked: self.clone(),
            id,
            keys,
            notify,
            counted: false,
        }
    }

    /// How many connections are blocked on this node.
    pub fn count(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Called for every command applied on this node, with its reply.
    pub fn applied(&self, args: &[Bytes], reply: &Reply) {
        if self.registered.load(Ordering::Relaxed) == 0 || reply.is_error() {
            return;
        }
        let Ok(spec) = command::resolve(args) else {
            return;
        };
        if !spec.is_write() {
            return;
        }
        if spec.is_blocking() && matches!(reply, Reply::NilArray | Reply::Nil) {
            return;
        }
        if spec.key_specs.is_empty() && spec.getkeys.is_none() {
            self.wake_all();
            return;
        }
        let map = self.keys.lock();
        command::for_each_key(spec, args, |i, _| {
            if let Some(waiters) = args.get(i).and_then(|k| map.get(k)) {
                for (_, n) in waiters {
                    n.notify_one();
                }
            }
        });
    }

    /// Wakes every waiter (the keyspace was replaced, or a write without keys changed it).
    pub fn wake_all(&self) {
        if self.registered.load(Ordering::Relaxed) == 0 {
            return;
        }
        for waiters in self.keys.lock().values() {
            for (_, n) in waiters {
                n.notify_one();
            }
        }
    }
}

impl Registration {
    /// Its first attempt found nothing: the connection now counts as blocked.
    pub fn blocking(&mut self) {
        if !self.counted {
            self.counted = true;
            self.blocked.waiting.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Resolves once a write touching one of the keys has been applied since the last call
    /// (or since registering).
    pub async fn woken(&self) {
        self.notify.notified().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut map = self.blocked.keys.lock();
        for k in &self.keys {
            if let Some(v) = map.get_mut(k) {
                v.retain(|(id, _)| *id != self.id);
                if v.is_empty() {
                    map.remove(k);
                }
            }
        }
        drop(map);
        self.blocked.registered.fetch_sub(1, Ordering::Relaxed);
        if self.counted {
            self.blocked.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn args(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    async fn woken_soon(r: &Registration) -> bool {
        tokio::time::timeout(Duration::from_millis(50), r.woken())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_write_to_a_key_wakes_its_waiters_once() {
        let b = Arc::new(Blocked::default());
        let r1 = b.register(&args("a b"));
        let mut r2 = b.register(&args("c"));
        assert_eq!(
            b.count(),
            0,
            "not blocked before the first attempt found nothing"
        );
        r2.blocking();
        r2.blocking();
        assert_eq!(b.count(), 1);
        b.applied(&args("RPUSH b x"), &Reply::Int(1));
        assert!(woken_soon(&r1).await);
        assert!(!woken_soon(&r1).await, "one write, one wake");
        assert!(!woken_soon(&r2).await);
        // Every key of a multi-key write counts (RENAME's destination).
        b.applied(&args("RENAME z c"), &Reply::OK);
        assert!(woken_soon(&r2).await);
        drop(r1);
        assert_eq!(b.count(), 1);
        drop(r2);
        assert_eq!(b.count(), 0);
        assert!(b.keys.lock().get(&Bytes::from_static(b"a")).is_none());
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let b = Arc::new(Blocked::default());
        let r = b.register(&args("k"));
        b.applied(&args("LPUSH k v"), &Reply::Int(1));
        assert!(woken_soon(&r).await);
    }

    #[tokio::test]
    async fn empty_pops_errors_and_reads_wake_nobody_and_flushall_wakes_everyone() {
        let b = Arc::new(Blocked::default());
        let r = b.register(&args("k"));
        b.applied(&args("BLPOP k 0"), &Reply::NilArray);
        b.applied(&args("BLMOVE k d LEFT LEFT 0"), &Reply::Nil);
        b.applied(&args("LPUSH k v"), &Reply::error("WRONGTYPE x"));
        b.applied(&args("GET k"), &Reply::Nil);
        assert!(!woken_soon(&r).await);
        b.applied(&args("BLPOP k 0"), &Reply::Array(vec![]));
        assert!(
            woken_soon(&r).await,
            "a pop that took something changed the key"
        );
        b.applied(&args("FLUSHALL"), &Reply::OK);
        assert!(woken_soon(&r).await);
        b.applied(&args("SWAPDB 0 1"), &Reply::OK);
        assert!(woken_soon(&r).await);
    }
}
