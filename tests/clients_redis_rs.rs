//! redis-rs (the sync API) against raftis started by the test on free ports: plain commands,
//! pipelines, MGET/MSET, error replies with Redis's codes and messages, RESP3, binary values,
//! and a three-node cluster used through a follower. Expectations are Redis 7.0's replies.

mod common;

use std::time::Duration;

use common::{wait_for, Cluster};
use redis::{Commands, Connection, RedisResult, Value};

const STARTUP: Duration = Duration::from_secs(30);

/// A connection to node `idx` that can already write (a leader is known).
fn connect(cluster: &Cluster, idx: usize, resp3: bool) -> Connection {
    let proto = if resp3 { "?protocol=resp3" } else { "" };
    let url = format!("redis://127.0.0.1:{}/{proto}", cluster.nodes[idx].port);
    let client = redis::Client::open(url).expect("client");
    let mut con = client.get_connection().expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    wait_for("the node to take writes", STARTUP, || {
        let r: RedisResult<()> = redis::cmd("SET").arg("probe").arg("1").query(&mut con);
        r.ok()
    });
    con
}

fn one_node() -> (Cluster, Connection) {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_leader(STARTUP);
    let mut con = connect(&cluster, 0, false);
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    (cluster, con)
}

#[test]
fn set_get_incr_with_the_command_api() {
    let (_cluster, mut con) = one_node();
    let _: () = con.set("greeting", "hello").unwrap();
    let got: String = con.get("greeting").unwrap();
    assert_eq!(got, "hello");
    let missing: Option<String> = con.get("missing").unwrap();
    assert_eq!(missing, None);
    assert_eq!(con.incr::<_, _, i64>("n", 1).unwrap(), 1);
    assert_eq!(con.incr::<_, _, i64>("n", 41).unwrap(), 42);
    assert_eq!(con.decr::<_, _, i64>("n", 2).unwrap(), 40);
    assert_eq!(
        con.exists::<_, i64>(&["n", "greeting", "missing"]).unwrap(),
        2
    );
    assert!(con.expire::<_, bool>("n", 100).unwrap());
    let ttl: i64 = con.ttl("n").unwrap();
    assert!((99..=100).contains(&ttl), "TTL {ttl}");
    assert_eq!(con.del::<_, i64>(&["n", "missing"]).unwrap(), 1);
}

#[test]
fn mset_then_mget_keeps_order_and_nils() {
    let (_cluster, mut con) = one_node();
    let _: () = con.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    let got: Vec<Option<String>> = con.mget(&["c", "missing", "a"]).unwrap();
    assert_eq!(got, vec![Some("3".into()), None, Some("1".into())]);
}

#[test]
fn pipeline_replies_come_back_in_order() {
    let (_cluster, mut con) = one_node();
    let mut p = redis::pipe();
    for i in 0..50 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    p.cmd("INCR")
        .arg("k7")
        .cmd("GET")
        .arg("k7")
        .cmd("MGET")
        .arg("k0")
        .arg("k49");
    let (incr, get, mget): (i64, String, Vec<String>) = p.query(&mut con).unwrap();
    assert_eq!((incr, get.as_str()), (8, "8"));
    assert_eq!(mget, vec!["0".to_string(), "49".to_string()]);
}

#[test]
fn error_replies_carry_redis_codes_and_messages() {
    let (_cluster, mut con) = one_node();
    let _: () = con.set("text", "abc").unwrap();
    let err = redis::cmd("INCR")
        .arg("text")
        .query::<i64>(&mut con)
        .unwrap_err();
    assert_eq!(err.code(), Some("ERR"));
    assert_eq!(
        err.detail(),
        Some("value is not an integer or out of range")
    );
    let err = redis::cmd("GET").query::<Value>(&mut con).unwrap_err();
    assert_eq!(
        err.detail(),
        Some("wrong number of arguments for 'get' command")
    );
    let err = redis::cmd("SELECT")
        .arg(99)
        .query::<Value>(&mut con)
        .unwrap_err();
    assert_eq!(err.detail(), Some("DB index is out of range"));
    // The connection stays usable after errors.
    let v: String = con.get("text").unwrap();
    assert_eq!(v, "abc");
}

#[test]
fn binary_keys_and_values_round_trip() {
    let (_cluster, mut con) = one_node();
    let key: &[u8] = b"\x00\xff key\r\n";
    let val: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let _: () = con.set(key, &val).unwrap();
    let got: Vec<u8> = con.get(key).unwrap();
    assert_eq!(got, val);
}

#[test]
fn resp3_connection_gets_maps_and_nulls() {
    let cluster = Cluster::start(1, &[]);
    cluster.wait_leader(STARTUP);
    let mut con = connect(&cluster, 0, true);
    let hello: Value = redis::cmd("HELLO").arg(3).query(&mut con).unwrap();
    let Value::Map(fields) = hello else {
        panic!("HELLO 3 replied {hello:?}")
    };
    let proto = fields
        .iter()
        .find(|(k, _)| *k == Value::BulkString(b"proto".to_vec()))
        .map(|(_, v)| v.clone());
    assert_eq!(proto, Some(Value::Int(3)));
    let missing: Value = redis::cmd("GET").arg("missing").query(&mut con).unwrap();
    assert_eq!(missing, Value::Nil);
    let cfg: Value = redis::cmd("CONFIG")
        .arg("GET")
        .arg("databases")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        cfg,
        Value::Map(vec![(
            Value::BulkString(b"databases".to_vec()),
            Value::BulkString(b"16".to_vec())
        )])
    );
    let _: () = con.set("k", "v").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "v");
}

#[test]
fn three_nodes_serve_through_a_follower() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_leader(STARTUP);
    let follower = (leader + 1) % 3;
    let mut f = connect(&cluster, follower, false);
    let _: () = f.set("k", "via follower").unwrap();
    for idx in 0..3 {
        let mut c = connect(&cluster, idx, false);
        let v: String = c.get("k").unwrap();
        assert_eq!(v, "via follower", "node {idx}");
    }
    let mut p = redis::pipe();
    for _ in 0..20 {
        p.cmd("INCR").arg("n");
    }
    let counts: Vec<i64> = p.query(&mut f).unwrap();
    assert_eq!(counts, (1..=20).collect::<Vec<i64>>());
}
