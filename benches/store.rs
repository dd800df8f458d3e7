//! Micro-benchmarks of the per-command hot paths that do not touch the network: applying a
//! committed entry of pipelined SETs, a linearizable GET on the local store once the read
//! barrier has passed, encoding a proposal, and the Raft core's propose -> commit cycle for a
//! single node. Run with `cargo bench`; compare runs of the same machine only.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use raftis::command;
use raftis::machine::{self, Op};
use raftis::raft::{Config, Membership, Raft, Restored};
use raftis::reply::Reply;
use raftis::store::Store;

fn set_ops(n: usize, round: usize) -> Vec<Op> {
    (0..n)
        .map(|i| Op::Command {
            db: 0,
            args: vec![
                Bytes::from_static(b"SET"),
                Bytes::from(format!("key:{:012}", (round * n + i) % 100_000)),
                Bytes::from_static(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            ],
        })
        .collect()
}

fn bench_apply(c: &mut Criterion) {
    let store = Store::new(16, 64);
    let payloads: Vec<Bytes> = (0..64)
        .map(|r| machine::encode(1, &set_ops(16, r)))
        .collect();
    let mut g = c.benchmark_group("apply");
    g.throughput(Throughput::Elements(16));
    let mut replies: Vec<Reply> = Vec::new();
    let mut i = 0;
    g.bench_function("entry of 16 SETs", |b| {
        b.iter(|| {
            replies.clear();
            machine::apply(
                &store,
                i as u64,
                &payloads[i % payloads.len()],
                &mut replies,
                &mut machine::NoEffects,
            );
            i += 1;
            black_box(&replies);
        })
    });
    g.finish();
}

fn bench_read(c: &mut Criterion) {
    let store = Store::new(16, 64);
    let mut replies = Vec::new();
    for r in 0..10_000 / 16 {
        machine::apply(
            &store,
            1,
            &machine::encode(1, &set_ops(16, r)),
            &mut replies,
            &mut machine::NoEffects,
        );
    }
    let spec = command::lookup(b"GET").unwrap();
    let args = vec![
        Bytes::from_static(b"GET"),
        Bytes::from(format!("key:{:012}", 42)),
    ];
    c.bench_function("GET on the local store", |b| {
        b.iter(|| black_box(command::execute_read(&store, spec, 0, 2, &args)))
    });
}

fn bench_encode(c: &mut Criterion) {
    let ops = set_ops(16, 0);
    c.bench_function("encode a proposal of 16 SETs", |b| {
        b.iter(|| black_box(machine::encode(1, &ops)))
    });
}

fn bench_raft_single_node(c: &mut Criterion) {
    let cfg = Config {
        id: 1,
        election_timeout_ms: 500,
        heartbeat_interval_ms: 50,
        lease_margin_ms: 50,
        max_msg_bytes: 1 << 20,
        max_inflight_msgs: 64,
        seed: 1,
    };
    let fresh = || {
        let mut members = Membership::default();
        members.voters.insert(1, "local".into());
        let mut raft = Raft::new(cfg.clone(), Restored::default(), members, 0);
        raft.tick(0);
        // Its own vote counts once "durable": loop it back, as the node does after the sync.
        for m in raft.ready().persist_messages {
            raft.step(m);
        }
        raft.ready();
        raft
    };
    let mut raft = fresh();
    let payload = machine::encode(1, &set_ops(16, 0));
    let mut id = 0;
    c.bench_function("raft propose -> persisted -> committed (1 node)", |b| {
        b.iter(|| {
            id += 1;
            if id % 100_000 == 0 {
                // The core keeps its log in memory until compaction exists: start over.
                raft = fresh();
            }
            raft.propose(id, payload.clone());
            let rd = raft.ready();
            let last = rd.entries.last().map(|e| (e.index, e.term)).unwrap();
            raft.persisted(last.0, last.1);
            black_box(raft.ready().committed.len())
        })
    });
}

criterion_group!(
    benches,
    bench_apply,
    bench_read,
    bench_encode,
    bench_raft_single_node
);
criterion_main!(benches);
