//! Freeing big values off the apply path (Redis's lazyfree.c).
//!
//! Dropping a container of millions of elements takes as long as building it; done inline, it
//! would stall apply (and every client waiting on later entries). Values whose free effort
//! (roughly, allocations to free) is above `LAZYFREE_THRESHOLD` are handed to one background
//! thread instead, through a bounded queue. When the queue is full (or the thread cannot be
//! started) the value is dropped inline: back-pressure, never unbounded growth (Rule 5).
//!
//! Freeing is invisible to the replicated state: the value has left the keyspace before it is
//! handed over, so where and when it is freed changes nothing but memory timing.
//!
//! Not here: deciding what is deleted.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crossbeam::channel::{bounded, Sender};

/// Free effort above which a value is freed in the background (Redis's `LAZYFREE_THRESHOLD`).
pub const LAZYFREE_THRESHOLD: usize = 64;
/// Values waiting to be freed at most; beyond, the caller frees inline.
const QUEUE_MAX: usize = 1024;

type Garbage = Box<dyn Send>;

static QUEUE: OnceLock<Option<Sender<Garbage>>> = OnceLock::new();
/// Values handed to the background thread so far (for tests and INFO).
static DEFERRED: AtomicU64 = AtomicU64::new(0);

fn queue() -> Option<&'static Sender<Garbage>> {
    QUEUE
        .get_or_init(|| {
            let (tx, rx) = bounded::<Garbage>(QUEUE_MAX);
            std::thread::Builder::new()
                .name("raftis-lazyfree".into())
                .spawn(move || {
                    for garbage in rx {
                        drop(garbage);
                    }
                })
                .ok()
                .map(|_| tx)
        })
        .as_ref()
}

/// Drop `value` on the background thread if `effort` is above the threshold, else here.
pub fn free<T: Send + 'static>(value: T, effort: usize) {
    if effort <= LAZYFREE_THRESHOLD {
        return;
    }
    if let Some(q) = queue() {
        if q.try_send(Box::new(value)).is_ok() {
            DEFERRED.fetch_add(1, Ordering::Relaxed);
        }
        // A full queue hands the value back inside the error, dropped here: inline free.
    }
}

/// How many values were freed in the background since the process started.
pub fn deferred() -> u64 {
    DEFERRED.load(Ordering::Relaxed)
}
