//! This node's pub/sub hub: which local connections listen to which channels and patterns.
//!
//! PUBLISH goes through the Raft log; when its entry is applied, every node hands the message
//! to its own subscribers here, so a subscriber on any node receives every message once, in
//! log order. Subscriptions themselves are local connection state (not replicated), as in a
//! Redis Cluster node: PUBSUB CHANNELS / NUMSUB / NUMPAT count this node's subscribers.
//!
//! Bounds: each subscriber has a queue of `SUBSCRIBER_QUEUE_MESSAGES_MAX` messages; a
//! subscriber that falls that far behind is dropped (its connection closes), as Redis closes a
//! client over `client-output-buffer-limit pubsub`. Publishing never blocks apply.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::glob::glob_match;

/// Messages queued for one subscriber, at most.
pub const SUBSCRIBER_QUEUE_MESSAGES_MAX: usize = 65_536;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushMsg {
    Message {
        channel: Bytes,
        message: Bytes,
    },
    PMessage {
        pattern: Bytes,
        channel: Bytes,
        message: Bytes,
    },
}

pub type Subscriber = mpsc::Sender<PushMsg>;

#[derive(Default)]
pub struct PubSub {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    channels: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
    patterns: BTreeMap<Bytes, BTreeMap<u64, Subscriber>>,
}

impl Inner {
    fn drop_client(&mut self, client: u64) {
        self.channels.retain(|_, subs| {
            subs.remove(&client);
            !subs.is_empty()
        });
        self.patterns.retain(|_, subs| {
            subs.remove(&client);
            !subs.is_empty()
        });
    }
}

impl PubSub {
    /// Returns false if the client was already subscribed to `channel`.
    pub fn subscribe(&self, client: u64, channel: Bytes, tx: &Subscriber) -> bool {
        let mut g = self.inner.lock();
        g.channels
            .entry(channel)
            .or_default()
            .insert(client, tx.clone())
            .is_none()
    }

    pub fn unsubscribe(&self, client: u64, channel: &[u8]) -> bool {
        let mut g = self.inner.lock();
        let Some(subs) = g.channels.get_mut(channel) else {
            return false;
        };
        let removed = subs.remove(&client).is_some();
        if subs.is_empty() {
            g.channels.remove(channel);
        }
        removed
    }

    pub fn psubscribe(&self, client: u64, pattern: Bytes, tx: &Subscriber) -> bool {
        let mut g = self.inner.lock();
        g.patterns
            .entry(pattern)
            .or_default()
            .insert(client, tx.clone())
            .is_none()
    }

    pub fn punsubscribe(&self, client: u64, pattern: &[u8]) -> bool {
        let mut g = self.inner.lock();
        let Some(subs) = g.patterns.get_mut(pattern) else {
            return false;
        };
        let removed = subs.remove(&client).is_some();
        if subs.is_empty() {
            g.patterns.remove(pattern);
        }
        removed
    }

    /// Forgets every subscription of a client (it disconnected).
    pub fn drop_client(&self, client: u64) {
        self.inner.lock().drop_client(client);
    }

    /// Hands a message to every local subscriber of `channel` and of a matching pattern;
    /// returns how many received it (Redis's PUBLISH reply, counted on this node).
    pub fn publish(&self, channel: &[u8], message: &Bytes) -> i64 {
        let mut g = self.inner.lock();
        let mut received = 0;
        let mut overflowed = Vec::new();
        let channel_bytes = Bytes::copy_from_slice(channel);
        if let Some(subs) = g.channels.get(channel) {
            for (client, tx) in subs {
                let m = PushMsg::Message {
                    channel: channel_bytes.clone(),
                    message: message.clone(),
                };
                match tx.try_send(m) {
                    Ok(()) => received += 1,
                    Err(_) => overflowed.push(*client),
                }
            }
        }
        for (pattern, subs) in &g.patterns {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            for (client, tx) in subs {
                let m = PushMsg::PMessage {
                    pattern: pattern.clone(),
                    channel: channel_bytes.clone(),
                    message: message.clone(),
                };
                match tx.try_send(m) {
                    Ok(()) => received += 1,
                    Err(_) => overflowed.push(*client),
                }
            }
        }
        for client in overflowed {
            // Too far behind (or gone): drop every subscription so its queue closes and the
            // connection ends.
            g.drop_client(client);
        }
        received
    }

    /// PUBSUB CHANNELS [pattern]: active channels (with at least one subscriber).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let g = self.inner.lock();
        let mut v: Vec<Bytes> = g
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect();
        v.sort();
        v
    }

    /// PUBSUB NUMSUB: subscribers of a channel (patterns not counted, as in Redis).
    pub fn numsub(&self, channel: &[u8]) -> i64 {
        self.inner
            .lock()
            .channels
            .get(channel)
            .map_or(0, |s| s.len() as i64)
    }

    /// PUBSUB NUMPAT: patterns subscribed to by any client (unique patterns, as Redis 7).
    pub fn numpat(&self) -> i64 {
        self.inner.lock().patterns.len() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_and_pattern_subscribers_receive_in_order() {
        let hub = PubSub::default();
        let (tx1, mut rx1) = mpsc::channel(8);
        let (tx2, mut rx2) = mpsc::channel(8);
        assert!(hub.subscribe(1, Bytes::from_static(b"news"), &tx1));
        assert!(!hub.subscribe(1, Bytes::from_static(b"news"), &tx1));
        assert!(hub.psubscribe(2, Bytes::from_static(b"n*"), &tx2));
        assert_eq!(hub.publish(b"news", &Bytes::from_static(b"a")), 2);
        assert_eq!(hub.publish(b"news", &Bytes::from_static(b"b")), 2);
        assert_eq!(hub.publish(b"other", &Bytes::from_static(b"c")), 0);
        for want in [b"a", b"b"] {
            assert_eq!(
                rx1.try_recv().unwrap(),
                PushMsg::Message {
                    channel: Bytes::from_static(b"news"),
                    message: Bytes::from_static(want)
                }
            );
            assert!(matches!(rx2.try_recv().unwrap(), PushMsg::PMessage { .. }));
        }
        assert_eq!(hub.numsub(b"news"), 1);
        assert_eq!(hub.numpat(), 1);
        assert_eq!(hub.channels(Some(b"n*")), vec![Bytes::from_static(b"news")]);
        hub.drop_client(1);
        assert_eq!(hub.numsub(b"news"), 0);
        assert!(hub.channels(None).is_empty());
    }

    #[test]
    fn a_subscriber_too_far_behind_is_dropped() {
        let hub = PubSub::default();
        let (tx, mut rx) = mpsc::channel(2);
        hub.subscribe(7, Bytes::from_static(b"c"), &tx);
        drop(tx);
        for _ in 0..2 {
            assert_eq!(hub.publish(b"c", &Bytes::from_static(b"x")), 1);
        }
        assert_eq!(hub.publish(b"c", &Bytes::from_static(b"x")), 0);
        assert_eq!(hub.numsub(b"c"), 0);
        // Its queue closes once drained: the connection ends.
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_ok());
        assert!(rx.try_recv().is_err());
    }
}
