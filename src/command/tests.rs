//! Command tests. The scripts in `testdata/*.txt` hold commands with the replies redis-server
//! 7.0 gave them (recorded by `testdata/record.py`); each is replayed here against a store and
//! must get the same replies. `testdata/command_*.resp3` hold Redis's raw RESP3 replies to
//! COMMAND INFO / COMMAND DOCS for every command of the table (written by `gen_table.py`).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::*;

/// A client of a store: one database selected, a clock it can move. Writes go through `check`
/// and then `execute_write` at the current time, as a proposal that commits would.
struct Harness {
    store: Store,
    db: u32,
    now_ms: u64,
    /// The log index of the next write, for its random seed.
    index: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            store: Store::new(16, 4),
            db: 0,
            now_ms: 1_700_000_000_000,
            index: 1,
        }
    }

    fn run(&mut self, args: &[Bytes]) -> Reply {
        let spec = match resolve(args) {
            Ok(spec) => spec,
            Err(e) => return e,
        };
        match spec.exec {
            Exec::Read { .. } => execute_read(&self.store, spec, self.db, self.now_ms, args),
            Exec::Write { check, .. } => match check(args) {
                Err(e) => e,
                Ok(()) => {
                    self.index += 1;
                    let seed = op_seed(self.index, 0);
                    execute_write(&self.store, spec, self.db, self.now_ms, seed, args)
                }
            },
            Exec::Session => self.session(spec, args),
        }
    }

    /// The few session commands the scripts use, as the server module will answer them.
    fn session(&mut self, spec: &CommandSpec, args: &[Bytes]) -> Reply {
        match spec.name {
            "select" => {
                self.db = std::str::from_utf8(&args[1]).unwrap().parse().unwrap();
                Reply::OK
            }
            "debug" if args[1].eq_ignore_ascii_case(b"digest") => debug_digest(&self.store),
            "debug" => debug_digest_value(&self.store, self.db, &args[2..]),
            name if name.starts_with("command") => command_cmd(args),
            other => panic!("the test harness does not run {other}"),
        }
    }
}

/// Split a script line into arguments (see testdata/record.py for the syntax).
fn tokenize(line: &str) -> Vec<Bytes> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b' ' {
            i += 1;
        } else if b[i] == b'"' {
            i += 1;
            let mut arg = Vec::new();
            while b[i] != b'"' {
                if b[i] == b'\\' {
                    let (byte, len) = match b[i + 1] {
                        b'x' => (u8::from_str_radix(&line[i + 2..i + 4], 16).unwrap(), 4),
                        b'n' => (b'\n', 2),
                        b'r' => (b'\r', 2),
                        b't' => (b'\t', 2),
                        other => (other, 2),
                    };
                    arg.push(byte);
                    i += len;
                } else {
                    arg.push(b[i]);
                    i += 1;
                }
            }
            out.push(Bytes::from(arg));
            i += 1;
        } else {
            let end = line[i..].find(' ').map_or(b.len(), |j| i + j);
            out.push(Bytes::copy_from_slice(&b[i..end]));
            i = end;
        }
    }
    out
}

fn render_bytes(b: &[u8]) -> String {
    let mut s = String::from("\"");
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s.push('"');
    s
}

/// A reply as a RESP2 client sees it, in the scripts' notation.
fn render(r: &Reply) -> String {
    let list = |items: Vec<String>| format!("[{}]", items.join(", "));
    match r {
        Reply::Status(s) => format!("+{s}"),
        Reply::Error(s) => format!("-{}", String::from_utf8_lossy(s)),
        Reply::Int(n) => format!(":{n}"),
        Reply::Bulk(b) => render_bytes(b),
        Reply::Verbatim(_, b) => render_bytes(b),
        Reply::Nil => "(nil)".into(),
        Reply::NilArray => "(nilarray)".into(),
        Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => list(v.iter().map(render).collect()),
        Reply::Map(v) | Reply::Pairs(v) => {
            list(v.iter().flat_map(|(k, v)| [render(k), render(v)]).collect())
        }
        Reply::Bool(b) => format!(":{}", u8::from(*b)),
        Reply::Double(d) => render_bytes(crate::reply::format_double(*d).as_bytes()),
    }
}

fn run_script(name: &str, script: &str) {
    let mut h = Harness::new();
    let mut failures = Vec::new();
    for (n, line) in script.lines().enumerate() {
        // Keep trailing spaces: some of Redis's errors end with one.
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(ms) = line.strip_prefix("@advance ") {
            h.now_ms += ms.parse::<u64>().unwrap();
            continue;
        }
        let (cmd, expected) = line.split_once(" => ").expect("line without =>");
        let got = render(&h.run(&tokenize(cmd)));
        if got != expected {
            failures.push(format!(
                "{name}:{}: {cmd}\n  redis:  {expected}\n  raftis: {got}",
                n + 1
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn strings_reply_as_redis() {
    run_script("strings.txt", include_str!("testdata/strings.txt"));
}

#[test]
fn counters_reply_as_redis() {
    run_script("counters.txt", include_str!("testdata/counters.txt"));
}

#[test]
fn key_commands_reply_as_redis() {
    run_script("keys.txt", include_str!("testdata/keys.txt"));
}

#[test]
fn expired_keys_read_and_write_as_missing_like_redis() {
    run_script("expiry.txt", include_str!("testdata/expiry.txt"));
}

#[test]
fn server_commands_reply_as_redis() {
    run_script("server.txt", include_str!("testdata/server.txt"));
}

// Scripts of the string and key commands added with INCRBYFLOAT..SCAN, one per command group.

#[test]
fn setnx_setex_psetex_reply_as_redis() {
    run_script("setnx_setex.txt", include_str!("testdata/setnx_setex.txt"));
}

#[test]
fn getset_getdel_reply_as_redis() {
    run_script(
        "getset_getdel.txt",
        include_str!("testdata/getset_getdel.txt"),
    );
}

#[test]
fn getex_replies_as_redis() {
    run_script("getex.txt", include_str!("testdata/getex.txt"));
}

#[test]
fn msetnx_replies_as_redis() {
    run_script("msetnx.txt", include_str!("testdata/msetnx.txt"));
}

#[test]
fn append_strlen_reply_as_redis() {
    run_script(
        "append_strlen.txt",
        include_str!("testdata/append_strlen.txt"),
    );
}

#[test]
fn getrange_substr_setrange_reply_as_redis() {
    run_script(
        "getrange_setrange.txt",
        include_str!("testdata/getrange_setrange.txt"),
    );
}

#[test]
fn expireat_pexpireat_expiretime_reply_as_redis() {
    run_script(
        "expireat_expiretime.txt",
        include_str!("testdata/expireat_expiretime.txt"),
    );
}

#[test]
fn unlink_touch_reply_as_redis() {
    run_script(
        "unlink_touch.txt",
        include_str!("testdata/unlink_touch.txt"),
    );
}

#[test]
fn keys_scan_randomkey_reply_as_redis() {
    run_script(
        "keys_scan_random.txt",
        include_str!("testdata/keys_scan_random.txt"),
    );
}

/// Options, errors, and 300 seeded random pairs (testdata/lcs.py) with every reply form.
#[test]
fn lcs_replies_as_redis() {
    run_script("lcs.txt", include_str!("testdata/lcs.txt"));
}

/// SETBIT GETBIT BITCOUNT BITPOS BITOP BITFIELD BITFIELD_RO: errors, the 512 MB limit, edge
/// ranges, every overflow mode, and 600 seeded random commands (testdata/bits.py).
#[test]
fn bits_replies_as_redis() {
    run_script("bits.txt", include_str!("testdata/bits.txt"));
}

/// 2000 seeded operand pairs (testdata/incrbyfloat.py) and chains of increments, with the
/// replies of redis-server 7.0.15 on x86-64: the 80-bit long double emulation, byte for byte.
#[test]
fn incrbyfloat_matches_redis_on_a_seeded_sample() {
    run_script("incrbyfloat.txt", include_str!("testdata/incrbyfloat.txt"));
}

#[test]
fn hashes_reply_as_redis() {
    run_script("hashes.txt", include_str!("testdata/hashes.txt"));
}

#[test]
fn sets_reply_as_redis() {
    run_script("sets.txt", include_str!("testdata/sets.txt"));
}

#[test]
fn lists_reply_as_redis() {
    run_script("lists.txt", include_str!("testdata/lists.txt"));
}

#[test]
fn sorted_sets_reply_as_redis() {
    run_script("zsets.txt", include_str!("testdata/zsets.txt"));
}

#[test]
fn generic_key_commands_on_every_type_reply_as_redis() {
    run_script("keyspace.txt", include_str!("testdata/keyspace.txt"));
}

#[test]
fn the_script_runner_catches_a_wrong_reply() {
    let r = std::panic::catch_unwind(|| run_script("t", "SET k v => +NOTOK"));
    assert!(r.is_err());
}

/// Parse raw RESP3 into a `Reply`, keeping the order of map fields and set members.
fn parse_resp3(buf: &[u8], pos: &mut usize) -> Reply {
    let end = *pos + buf[*pos..].windows(2).position(|w| w == b"\r\n").unwrap();
    let line = &buf[*pos..end];
    *pos = end + 2;
    let num = || {
        std::str::from_utf8(&line[1..])
            .unwrap()
            .parse::<i64>()
            .unwrap()
    };
    match line[0] {
        b'+' => Reply::Status(String::from_utf8(line[1..].to_vec()).unwrap().into()),
        b':' => Reply::Int(num()),
        b'_' => Reply::Nil,
        b'$' => {
            let n = num() as usize;
            let data = Bytes::copy_from_slice(&buf[*pos..*pos + n]);
            *pos += n + 2;
            Reply::Bulk(data)
        }
        b'*' => Reply::Array((0..num()).map(|_| parse_resp3(buf, pos)).collect()),
        b'~' => Reply::Set((0..num()).map(|_| parse_resp3(buf, pos)).collect()),
        b'%' => Reply::Map(
            (0..num())
                .map(|_| (parse_resp3(buf, pos), parse_resp3(buf, pos)))
                .collect(),
        ),
        t => panic!("unexpected RESP3 type {}", t as char),
    }
}

/// Redis lists subcommands in its dict's (random) order; ours are sorted. Sort both.
fn sort_subcommands(r: &mut Reply) {
    match r {
        Reply::Array(v) if v.len() == 10 && matches!(v[0], Reply::Bulk(_)) => {
            if let Reply::Array(subs) = &mut v[9] {
                subs.iter_mut().for_each(sort_subcommands);
                subs.sort_by_key(render);
            }
        }
        Reply::Array(v) => v.iter_mut().for_each(sort_subcommands),
        Reply::Map(fields) => {
            for (k, v) in fields.iter_mut() {
                sort_subcommands(v);
                if render(k) == "\"subcommands\"" {
                    if let Reply::Map(subs) = v {
                        subs.sort_by_key(|(k, _)| render(k));
                    }
                }
            }
        }
        _ => {}
    }
}

fn all_names() -> Vec<Bytes> {
    table()
        .iter()
        .map(|s| Bytes::from_static(s.name.as_bytes()))
        .collect()
}

/// raftis leaves out the subcommands of its session containers that it does not answer
/// (gen_table.py's SESSION_SUBCOMMANDS): drop them from Redis's reply before comparing.
fn drop_unlisted_subcommands(r: &mut Reply) {
    let listed = |name: &Reply| match name {
        Reply::Bulk(b) => lookup_full(b).is_some(),
        _ => true,
    };
    match r {
        Reply::Array(v) if v.len() == 10 && matches!(v[0], Reply::Bulk(_)) => {
            if let Reply::Array(subs) = &mut v[9] {
                subs.retain(|s| match s {
                    Reply::Array(f) => listed(&f[0]),
                    _ => true,
                });
            }
        }
        Reply::Array(v) => v.iter_mut().for_each(drop_unlisted_subcommands),
        Reply::Map(fields) => {
            for (k, v) in fields.iter_mut() {
                if render(k) == "\"subcommands\"" {
                    if let Reply::Map(subs) = v {
                        subs.retain(|(k, _)| listed(k));
                    }
                } else {
                    drop_unlisted_subcommands(v);
                }
            }
        }
        _ => {}
    }
}

fn assert_same_reply(ours: Reply, fixture: &[u8]) {
    let mut pos = 0;
    let mut redis = parse_resp3(fixture, &mut pos);
    assert_eq!(pos, fixture.len());
    drop_unlisted_subcommands(&mut redis);
    let mut ours = ours;
    sort_subcommands(&mut redis);
    sort_subcommands(&mut ours);
    if ours != redis {
        // Find the first differing command for a readable failure.
        let (o, r) = (render(&ours), render(&redis));
        let at = o
            .bytes()
            .zip(r.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "differs at byte {at}:\n raftis: ...{}\n redis:  ...{}",
            &o[at.saturating_sub(200)..(at + 200).min(o.len())],
            &r[at.saturating_sub(200)..(at + 200).min(r.len())]
        );
    }
}

#[test]
fn command_info_equals_redis_for_every_command() {
    let mut args = vec![Bytes::from_static(b"COMMAND"), Bytes::from_static(b"INFO")];
    args.extend(all_names());
    assert_same_reply(
        command_cmd(&args),
        include_bytes!("testdata/command_info.resp3"),
    );
}

#[test]
fn command_docs_equals_redis_for_every_command() {
    let mut args = vec![Bytes::from_static(b"COMMAND"), Bytes::from_static(b"DOCS")];
    args.extend(all_names());
    assert_same_reply(
        command_cmd(&args),
        include_bytes!("testdata/command_docs.resp3"),
    );
}

#[test]
fn table_is_sorted_and_lookup_ignores_case() {
    let t = table();
    assert!(t.windows(2).all(|w| w[0].name < w[1].name));
    for s in t {
        assert!(s.subcommands.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(lookup(s.name.as_bytes()).map(|x| x.name), Some(s.name));
        assert_eq!(
            lookup(s.name.to_uppercase().as_bytes()).map(|x| x.name),
            Some(s.name)
        );
        for sub in s.subcommands {
            assert_eq!(
                lookup_full(sub.name.to_uppercase().as_bytes()).map(|x| x.name),
                Some(sub.name)
            );
        }
    }
    assert!(lookup(b"").is_none());
    assert!(lookup(b"ge").is_none());
    assert!(lookup(b"gett").is_none());
    assert!(
        lookup(b"config|get").is_none(),
        "subcommands are not top-level commands"
    );
    assert_eq!(lookup_full(b"config|get").map(|s| s.arity), Some(-3));
    assert_eq!(t.len(), 174);
}

#[test]
fn arity_follows_redis_convention() {
    let get = lookup(b"get").unwrap();
    assert!(!arity_ok(get, 1) && arity_ok(get, 2) && !arity_ok(get, 3));
    let del = lookup(b"del").unwrap();
    assert!(!arity_ok(del, 1) && arity_ok(del, 2) && arity_ok(del, 100));
}

#[test]
fn gates_can_decide_by_flag() {
    let f = |n: &str| lookup(n.as_bytes()).unwrap();
    assert!(f("set").is_write() && f("set").is_denyoom() && !f("set").is_fast());
    assert!(f("get").is_readonly() && f("get").is_fast() && !f("get").is_write());
    assert!(f("del").is_write() && !f("del").is_denyoom());
    assert!(f("auth").is_no_auth() && f("hello").is_no_auth());
    assert!(f("flushall").is_write() && !f("flushall").is_admin());
    assert!(lookup_full(b"config|set").unwrap().is_admin());
    // Every data command's exec agrees with its flags: reads never write (and are flagged
    // readonly when they read keys), writes are flagged.
    let specs = table()
        .iter()
        .flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()));
    for s in specs {
        match s.exec {
            Exec::Read { .. } => assert!(
                !s.is_write() && (s.is_readonly() || !s.has_keys()),
                "{}",
                s.name
            ),
            Exec::Write { .. } => assert!(s.is_write(), "{}", s.name),
            Exec::Session => assert!(!s.is_write() && !s.is_readonly(), "{}", s.name),
        }
    }
}

#[test]
fn resolve_finds_subcommands_and_checks_their_arity() {
    let args = |s: &str| tokenize(s);
    assert_eq!(resolve(&args("config get x")).unwrap().name, "config|get");
    assert_eq!(resolve(&args("CONFIG GET x")).unwrap().name, "config|get");
    assert_eq!(
        resolve(&args("config get")).unwrap_err(),
        Reply::error("ERR wrong number of arguments for 'config|get' command")
    );
    assert_eq!(resolve(&args("command")).unwrap().name, "command");
    assert_eq!(resolve(&args("get k")).unwrap().name, "get");
    assert!(resolve(&[]).is_err());
}

#[test]
fn parse_i64_is_redis_string2ll() {
    let ok = [
        ("0", 0),
        ("1", 1),
        ("-1", -1),
        ("10", 10),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ];
    for (s, v) in ok {
        assert_eq!(parse_i64(s.as_bytes()), Some(v), "{s}");
    }
    let bad = [
        "",
        "-",
        "+1",
        "01",
        "00",
        "-0",
        "-01",
        " 1",
        "1 ",
        "1.0",
        "1e3",
        "0x10",
        "9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "000000000000000000001",
        "1\0",
    ];
    for s in bad {
        assert_eq!(parse_i64(s.as_bytes()), None, "{s:?}");
    }
}

#[test]
fn key_specs_find_keys_like_redis() {
    let keys = |line: &str| {
        let args = tokenize(line);
        let spec = resolve(&args).unwrap();
        let mut found = Vec::new();
        let ok = for_each_key(spec, &args, |i, _| found.push(args[i].clone()));
        (ok, found)
    };
    assert_eq!(keys("GET a"), (true, vec![Bytes::from("a")]));
    assert_eq!(
        keys("MSET a 1 b 2").1,
        vec![Bytes::from("a"), Bytes::from("b")]
    );
    assert_eq!(keys("DEL a b c").1.len(), 3);
    assert_eq!(keys("PING"), (true, vec![]));
}

#[test]
fn commands_lock_only_what_they_declare_and_never_panic_on_odd_arguments() {
    // Every data command, with argument counts from its minimum to a few more: whatever the
    // reply, no key outside the locked shards is touched (that would panic).
    let mut h = Harness::new();
    h.store = Store::new(16, 64);
    for s in table() {
        if matches!(s.exec, Exec::Session) {
            continue;
        }
        let min = s.arity.unsigned_abs() as usize;
        let max = if s.arity < 0 { min + 6 } else { min };
        for argc in min..=max {
            for variant in 0..4 {
                let mut args = vec![Bytes::from_static(s.name.as_bytes())];
                for i in 1..argc {
                    args.push(Bytes::from(match (variant, i % 3) {
                        (0, _) => format!("key{i}"),
                        (1, 0) => "EX".to_string(),
                        (1, _) => format!("{i}"),
                        (2, _) => "GET".to_string(),
                        _ => format!("k{}", i * 7919),
                    }));
                }
                h.run(&args);
            }
        }
    }
}

#[test]
fn a_transaction_runs_reads_and_writes_in_order_at_one_time() {
    let store = Store::new(16, 8);
    let lines = [
        "SET a 1",
        "INCR a",
        "GET a",
        "PEXPIRE a 10",
        "PTTL a",
        "MGET a b",
        "DEL a b",
    ];
    let args: Vec<Vec<Bytes>> = lines.iter().map(|l| tokenize(l)).collect();
    let mut cmds: Vec<(u32, &'static CommandSpec, &[Bytes])> = args
        .iter()
        .map(|a| (0, resolve(a).unwrap(), &a[..]))
        .collect();
    let in_db3 = tokenize("SET a 3");
    cmds.push((3, resolve(&in_db3).unwrap(), &in_db3[..]));
    cmds.push((99, resolve(&in_db3).unwrap(), &in_db3[..]));
    let replies: Vec<String> = execute_transaction(&store, 1000, 7, &cmds, &[])
        .expect("nothing watched")
        .iter()
        .map(render)
        .collect();
    assert_eq!(
        replies,
        [
            "+OK",
            ":2",
            "\"2\"",
            ":1",
            ":10",
            "[\"2\", (nil)]",
            ":1",
            "+OK",
            "-ERR DB index is out of range"
        ]
    );
    assert_eq!(store.db_stats(3), (1, 0));
}

#[test]
fn a_transaction_is_atomic_for_a_concurrent_reader() {
    let store = Store::new(1, 16);
    let mget = tokenize("MGET a b c");
    let mget_spec = resolve(&mget).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut reads = 0u32;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || reads < 1000 {
                let Reply::Array(v) = execute_read(&store, mget_spec, 0, 0, &mget) else {
                    panic!("MGET did not reply with an array")
                };
                assert!(
                    v.windows(2).all(|w| w[0] == w[1]),
                    "torn transaction: {v:?}"
                );
                reads += 1;
            }
        });
        for n in 0..3000 {
            let lines: Vec<Vec<Bytes>> = ["a", "b", "c"]
                .iter()
                .map(|k| tokenize(&format!("SET {k} {n}")))
                .collect();
            let cmds: Vec<(u32, &'static CommandSpec, &[Bytes])> = lines
                .iter()
                .map(|a| (0, resolve(a).unwrap(), &a[..]))
                .collect();
            execute_transaction(&store, 0, 7, &cmds, &[]);
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        reader.join().unwrap();
    });
}

#[test]
fn command_list_filters_like_redis() {
    // Expected: redis-server 7.0's COMMAND LIST FILTERBY ..., restricted to raftis's commands.
    let cases = [
        (
            "ACLCAT string",
            "append decr decrby get getdel getex getrange getset incr incrby incrbyfloat lcs \
             mget mset msetnx psetex set setex setnx setrange strlen substr",
        ),
        (
            "ACLCAT keyspace",
            "copy dbsize del exists expire expireat expiretime flushall flushdb keys move \
             object|encoding object|freq object|help object|idletime object|refcount persist \
             pexpire pexpireat pexpiretime pttl randomkey rename renamenx scan swapdb touch ttl \
             type unlink",
        ),
        (
            "ACLCAT fast",
            "append auth bitfield_ro bzpopmax bzpopmin dbsize decr decrby discard echo exists \
             expire expireat expiretime get getbit getdel getex getset hdel hello hexists hget hincrby \
             hincrbyfloat hlen hmget hmset hset hsetnx hstrlen incr incrby incrbyfloat lastsave \
             llen lpop lpush lpushx mget move multi persist pexpire pexpireat pexpiretime ping pttl publish \
             quit renamenx reset rpop rpush rpushx sadd scard select setnx sismember smismember \
             smove spop srem strlen swapdb time touch ttl type unlink unwatch watch zadd zcard \
             zcount zincrby zlexcount zmscore zpopmax zpopmin zrank zrem zrevrank zscore",
        ),
        (
            "PATTERN c*g*",
            "client|getname command|getkeys command|getkeysandflags config config|get \
             config|help config|resetstat config|set",
        ),
        (
            "PATTERN *|get*",
            "client|getname command|getkeys command|getkeysandflags config|get",
        ),
        (
            "ACLCAT DANGEROUS",
            "bgsave client|kill client|list config|get config|resetstat config|set debug flushall \
             flushdb info keys lastsave raft.node raft.node|add raft.node|promote raft.node|remove \
             raft.transfer-leader save shutdown swapdb",
        ),
    ];
    for (filter, expected) in cases {
        let Reply::Array(names) =
            command_cmd(&tokenize(&format!("COMMAND LIST FILTERBY {filter}")))
        else {
            panic!("not an array")
        };
        let mut names: Vec<String> = names
            .iter()
            .map(|n| render(n).trim_matches('"').to_string())
            .collect();
        names.sort();
        assert_eq!(names.join(" "), expected, "{filter}");
    }
    let Reply::Array(all) = command_cmd(&tokenize("COMMAND LIST")) else {
        panic!("not an array")
    };
    // Redis's commands and raftis's own RAFT.* commands.
    let subcommands: usize = all_commands().map(|s| s.subcommands.len()).sum();
    assert_eq!(all.len(), all_commands().count() + subcommands);
    assert_eq!(command_cmd(&tokenize("COMMAND COUNT")), Reply::Int(174 + 2));
}

// SCAN, KEYS and RANDOMKEY on databases too large for recorded replies (whose order would be
// Redis's hash order): checked against a model instead.

/// xorshift64*, so every run is the same.
struct TestRng(u64);
impl TestRng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn bulk_strings(r: &Reply) -> Vec<Vec<u8>> {
    let Reply::Array(items) = r else {
        panic!("not an array: {r:?}")
    };
    items
        .iter()
        .map(|i| match i {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("not a bulk string: {other:?}"),
        })
        .collect()
}

fn run_line(h: &mut Harness, line: &str) -> Reply {
    h.run(&tokenize(line))
}

/// SCAN through the command, with writes, deletions and expirations applied between calls
/// (bounded, seeded): every key present from the first call to the last is returned, no key
/// is returned that was missing (deleted or expired) when its call ran, MATCH and TYPE filter.
#[test]
fn scan_full_iteration_returns_every_key_present_throughout_under_writes_between_calls() {
    for seed in 1..=10u64 {
        let mut rng = TestRng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut h = Harness::new();
        h.store = Store::new(16, 1 + (seed as usize % 16));
        for i in 0..300 {
            run_line(&mut h, &format!("SET stay{i} v"));
        }
        // Live keys in the model: key -> deadline (0: none).
        let mut live: BTreeMap<String, u64> = (0..300).map(|i| (format!("stay{i}"), 0)).collect();
        let mut seen = BTreeSet::new();
        let pattern = if seed % 2 == 0 { "MATCH stay*" } else { "" };
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let count = 1 + rng.next() % 30;
            let reply = run_line(&mut h, &format!("SCAN {cursor} COUNT {count} {pattern}"));
            let Reply::Array(parts) = &reply else {
                panic!("{reply:?}")
            };
            let Reply::Bulk(next) = &parts[0] else {
                panic!("{reply:?}")
            };
            let next = String::from_utf8(next.to_vec()).unwrap();
            for k in bulk_strings(&parts[1]) {
                let k = String::from_utf8(k).unwrap();
                let deadline = live
                    .get(&k)
                    .unwrap_or_else(|| panic!("seed {seed}: returned missing {k}"));
                assert!(
                    *deadline == 0 || *deadline > h.now_ms,
                    "seed {seed}: returned expired {k}"
                );
                if !pattern.is_empty() {
                    assert!(k.starts_with("stay"), "MATCH let {k} through");
                }
                seen.insert(k);
            }
            calls += 1;
            assert!(calls < 50_000, "seed {seed}: the scan does not end");
            if next == "0" {
                break;
            }
            cursor = next;
            for _ in 0..rng.next() % 40 {
                let k = format!("tmp{}", rng.next() % 3000);
                match rng.next() % 4 {
                    0 | 1 => {
                        run_line(&mut h, &format!("SET {k} v"));
                        live.insert(k, 0);
                    }
                    2 => {
                        run_line(&mut h, &format!("SET {k} v PX 5"));
                        live.insert(k, h.now_ms + 5);
                    }
                    _ => {
                        run_line(&mut h, &format!("DEL {k}"));
                        live.remove(&k);
                    }
                }
            }
            h.now_ms += rng.next() % 4;
            live.retain(|_, d| *d == 0 || *d > h.now_ms);
        }
        for i in 0..300 {
            assert!(
                seen.contains(&format!("stay{i}")),
                "seed {seed}: missed stay{i}"
            );
        }
    }
}

#[test]
fn keys_returns_exactly_the_live_keys_that_match() {
    let mut h = Harness::new();
    h.store = Store::new(16, 8);
    let mut rng = TestRng(5);
    let mut model = BTreeSet::new();
    for i in 0..2000 {
        let k = format!(
            "{}:{}",
            ["user", "item", "User"][i % 3],
            rng.next() % 100_000
        );
        if i % 7 == 0 {
            run_line(&mut h, &format!("SET {k} v PX 10"));
            model.remove(&k);
        } else {
            run_line(&mut h, &format!("SET {k} v"));
            model.insert(k);
        }
    }
    h.now_ms += 10;
    run_line(&mut h, "SELECT 1");
    run_line(&mut h, "SET user:other v");
    run_line(&mut h, "SELECT 0");
    for pattern in [
        "*",
        "user:*",
        "[uU]ser:1*",
        "*:?2",
        "item:[0-4]*",
        "nothing*",
    ] {
        let got: BTreeSet<String> = bulk_strings(&run_line(&mut h, &format!("KEYS {pattern}")))
            .into_iter()
            .map(|k| String::from_utf8(k).unwrap())
            .collect();
        let want: BTreeSet<String> = model
            .iter()
            .filter(|k| glob_match(pattern.as_bytes(), k.as_bytes(), false))
            .cloned()
            .collect();
        assert_eq!(got, want, "KEYS {pattern}");
    }
}

#[test]
fn randomkey_returns_live_keys_of_the_selected_database() {
    let mut h = Harness::new();
    assert_eq!(run_line(&mut h, "RANDOMKEY"), Reply::Nil);
    for i in 0..50 {
        run_line(&mut h, &format!("SET live{i} v"));
        run_line(&mut h, &format!("SET dying{i} v PX 10"));
    }
    run_line(&mut h, "SELECT 2");
    run_line(&mut h, "SET other v");
    run_line(&mut h, "SELECT 0");
    h.now_ms += 10;
    let mut seen = BTreeSet::new();
    for _ in 0..500 {
        let Reply::Bulk(k) = run_line(&mut h, "RANDOMKEY") else {
            panic!("no key")
        };
        assert!(k.starts_with(b"live"), "{k:?}");
        seen.insert(k);
    }
    assert!(seen.len() > 40, "only {} distinct keys", seen.len());
}

/// The new writes' `check` refuses, before anything is proposed, exactly what Redis refuses
/// before it looks the key up; what Redis refuses only after (so that WRONGTYPE or a missing
/// key answers first) passes `check` and is refused by apply. Apply does not trust `check`:
/// run alone, it gives the same errors.
#[test]
fn write_checks_refuse_what_redis_refuses_before_the_lookup() {
    let before_lookup = [
        ("SETEX k 0 v", "ERR invalid expire time in 'setex' command"),
        (
            "SETEX k abc v",
            "ERR value is not an integer or out of range",
        ),
        (
            "PSETEX k -1 v",
            "ERR invalid expire time in 'psetex' command",
        ),
        ("GETEX k EX 10 PX 10", "ERR syntax error"),
        ("GETEX k PERSIST EX 1", "ERR syntax error"),
        (
            "MSETNX a 1 b",
            "ERR wrong number of arguments for 'msetnx' command",
        ),
        ("SETRANGE k -1 x", "ERR offset is out of range"),
        (
            "SETRANGE k x x",
            "ERR value is not an integer or out of range",
        ),
        (
            "EXPIREAT k abc",
            "ERR value is not an integer or out of range",
        ),
        (
            "EXPIREAT k 9223372036854776",
            "ERR invalid expire time in 'expireat' command",
        ),
        ("PEXPIREAT k 1 FOO", "ERR Unsupported option FOO"),
        (
            "PEXPIREAT k 1 NX GT",
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ),
    ];
    for (line, err) in before_lookup {
        let args = tokenize(line);
        let spec = resolve(&args).unwrap();
        let Exec::Write { check, .. } = spec.exec else {
            panic!("{line} is not a write")
        };
        assert_eq!(check(&args), Err(Reply::error(err)), "check: {line}");
        let store = Store::new(16, 4);
        assert_eq!(
            execute_write(&store, spec, 0, 1000, 7, &args),
            Reply::error(err),
            "apply: {line}"
        );
        assert_eq!(store.digest(), "0".repeat(40), "{line} changed the store");
    }
    let after_lookup = [
        ("GETEX k EX abc", Reply::Nil),
        ("GETEX k PX 0", Reply::Nil),
        (
            "INCRBYFLOAT k abc",
            Reply::error("ERR value is not a valid float"),
        ),
        (
            "SETRANGE k 536870912 x",
            Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"),
        ),
        ("SETRANGE k 536870912 \"\"", Reply::Int(0)),
        ("APPEND k v", Reply::Int(1)),
    ];
    for (line, reply) in after_lookup {
        let args = tokenize(line);
        let spec = resolve(&args).unwrap();
        let Exec::Write { check, .. } = spec.exec else {
            panic!("{line} is not a write")
        };
        assert_eq!(check(&args), Ok(()), "check: {line}");
        let store = Store::new(16, 4);
        assert_eq!(
            execute_write(&store, spec, 0, 1000, 7, &args),
            reply,
            "apply: {line}"
        );
    }
}

/// INCRBYFLOAT's apply is integer code: two stores fed the same entries hold the same bytes.
#[test]
fn incrbyfloat_apply_gives_identical_bytes_on_every_replica() {
    let stores = [Store::new(16, 4), Store::new(16, 7)];
    let mut rng = TestRng(17);
    for _ in 0..2000 {
        let incr = format!(
            "{}{}.{}e{}",
            if rng.next().is_multiple_of(2) {
                "-"
            } else {
                ""
            },
            rng.next() % 1000,
            rng.next() % 1_000_000,
            (rng.next() % 40) as i64 - 20
        );
        let args = tokenize(&format!("INCRBYFLOAT f {incr}"));
        let spec = resolve(&args).unwrap();
        let replies: Vec<Reply> = stores
            .iter()
            .map(|s| execute_write(s, spec, 0, 1000, 7, &args))
            .collect();
        assert_eq!(replies[0], replies[1]);
    }
    assert_eq!(stores[0].digest(), stores[1].digest());
}

/// Words to a command line (no quoting needed).
fn line(words: &[String]) -> Vec<Bytes> {
    words
        .iter()
        .map(|w| Bytes::copy_from_slice(w.as_bytes()))
        .collect()
}

/// Run a full SCAN-family iteration (`cmd key cursor COUNT n`), calling `between` after each
/// call; returns every element seen (fields only for HSCAN).
fn full_scan(
    h: &mut Harness,
    cmd: &str,
    key: &str,
    count: usize,
    pairs: bool,
    mut between: impl FnMut(&mut Harness, usize),
) -> std::collections::BTreeSet<Vec<u8>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut calls = 0;
    loop {
        let words = [cmd, key, &cursor, "COUNT", &count.to_string()].map(String::from);
        let Reply::Array(parts) = h.run(&line(&words)) else {
            panic!("{cmd} did not reply with an array")
        };
        let (Reply::Bulk(next), Reply::Array(items)) = (&parts[0], &parts[1]) else {
            panic!("bad {cmd} reply: {parts:?}")
        };
        let step = if pairs { 2 } else { 1 };
        for item in items.iter().step_by(step) {
            let Reply::Bulk(b) = item else {
                panic!("{item:?}")
            };
            seen.insert(b.to_vec());
        }
        cursor = String::from_utf8(next.to_vec()).unwrap();
        calls += 1;
        if cursor == "0" {
            return seen;
        }
        between(h, calls);
        assert!(calls < 100_000, "{cmd} never ended");
    }
}

#[test]
fn hscan_and_sscan_return_every_element_present_throughout_despite_writes() {
    let mut h = Harness::new();
    let mut hset = vec!["HSET".to_string(), "h".to_string()];
    let mut sadd = vec!["SADD".to_string(), "s".to_string()];
    for i in 0..2000 {
        hset.push(format!("stay{i}"));
        hset.push("v".to_string());
        sadd.push(format!("stay{i}"));
    }
    assert_eq!(h.run(&line(&hset)), Reply::Int(2000));
    assert_eq!(h.run(&line(&sadd)), Reply::Int(2000));
    // Between calls: grow the table a lot, then shrink it, then churn.
    let churn = |h: &mut Harness, key: &str, add: &str, del: &str, call: usize| {
        let words: Vec<String> = match call {
            1..=20 => {
                let mut w = vec![add.to_string(), key.to_string()];
                for j in 0..500 {
                    w.push(format!("tmp{call}-{j}"));
                    if add == "HSET" {
                        w.push("x".to_string());
                    }
                }
                w
            }
            _ => {
                let mut w = vec![del.to_string(), key.to_string()];
                for c in 1..=20 {
                    for j in 0..500 {
                        w.push(format!("tmp{c}-{j}"));
                    }
                }
                w
            }
        };
        h.run(&line(&words));
    };
    let seen = full_scan(&mut h, "HSCAN", "h", 25, true, |h, c| {
        churn(h, "h", "HSET", "HDEL", c)
    });
    let seen_s = full_scan(&mut h, "SSCAN", "s", 25, false, |h, c| {
        churn(h, "s", "SADD", "SREM", c)
    });
    for i in 0..2000 {
        let k = format!("stay{i}").into_bytes();
        assert!(seen.contains(&k), "HSCAN missed stay{i}");
        assert!(seen_s.contains(&k), "SSCAN missed stay{i}");
    }
    // A stable table: each element once per full iteration, whatever COUNT.
    for count in [1, 10, 1000] {
        let got = full_scan(&mut h, "SSCAN", "s", count, false, |_, _| {});
        assert_eq!(got.len(), 2000, "COUNT {count}");
    }
}

#[test]
fn object_idletime_and_freq_follow_the_access_policy() {
    let mut h = Harness::new();
    let run = |h: &mut Harness, s: &str| h.run(&tokenize(s));
    run(&mut h, "HSET h f v");
    h.now_ms += 5_000;
    assert_eq!(run(&mut h, "OBJECT IDLETIME h"), Reply::Int(5));
    // OBJECT and TYPE do not count as accesses; a read does.
    assert_eq!(run(&mut h, "TYPE h"), Reply::Status("hash".into()));
    assert_eq!(run(&mut h, "OBJECT IDLETIME h"), Reply::Int(5));
    run(&mut h, "HGET h f");
    assert_eq!(run(&mut h, "OBJECT IDLETIME h"), Reply::Int(0));
    h.now_ms += 61_000;
    run(&mut h, "HSET h g w");
    assert_eq!(run(&mut h, "OBJECT IDLETIME h"), Reply::Int(0));
    assert_eq!(
        run(&mut h, "OBJECT FREQ h"),
        Reply::error(errors::LFU_NOT_SELECTED)
    );
    h.store.set_access_policy(crate::store::AccessPolicy::Lfu {
        log_factor: 10,
        decay_minutes: 1,
    });
    assert_eq!(
        run(&mut h, "OBJECT IDLETIME h"),
        Reply::error(errors::LFU_SELECTED)
    );
    run(&mut h, "SET fresh v");
    assert_eq!(run(&mut h, "OBJECT FREQ fresh"), Reply::Int(5));
    // Counter 5: the first access always counts (p = 1).
    run(&mut h, "GET fresh");
    assert_eq!(run(&mut h, "OBJECT FREQ fresh"), Reply::Int(6));
    // Two minutes idle: two decay periods.
    h.now_ms += 120_000;
    assert_eq!(run(&mut h, "OBJECT FREQ fresh"), Reply::Int(4));
}

#[test]
fn deleting_a_big_container_frees_it_off_the_apply_path() {
    let mut h = Harness::new();
    let mut sadd = vec!["SADD".to_string(), "big".to_string()];
    for i in 0..10_000 {
        sadd.push(format!("member{i}"));
    }
    h.run(&line(&sadd));
    let before = crate::store::lazyfreed();
    assert_eq!(h.run(&tokenize("DEL big")), Reply::Int(1));
    assert!(crate::store::lazyfreed() > before);
}

// Lists and sorted sets at sizes recorded scripts cannot cover (quicklists of many nodes,
// skiplists), against models; the blocking pops' two "nothing to pop" replies.

fn bulk(s: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s))
}

/// Redis's range normalization, for the models.
fn model_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end.min(len - 1) };
    (start <= end && start < len).then_some((start as usize, end as usize))
}

/// Every list command against a `Vec` model, seeded, with elements large enough to split the
/// quicklist into many nodes: each reply must be the model's.
#[test]
fn list_commands_match_a_model_across_quicklist_nodes() {
    let big = "x".repeat(3000);
    let pool = ["a", "b", "c", "1", "2", "01", "-5", "", &big];
    for seed in 1..=4u64 {
        let mut rng = TestRng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut h = Harness::new();
        let mut model: BTreeMap<&str, Vec<Vec<u8>>> = BTreeMap::new();
        for step in 0..6000u32 {
            let key = if rng.next().is_multiple_of(3) {
                "lb"
            } else {
                "la"
            };
            let v = pool[(rng.next() % pool.len() as u64) as usize]
                .as_bytes()
                .to_vec();
            let small = |r: u64| (r % 13) as i64 - 6;
            let l = model.entry(key).or_default();
            let len = l.len() as i64;
            let (words, want): (Vec<Vec<u8>>, Reply) = match rng.next() % 11 {
                0..=2 => {
                    let front = rng.next().is_multiple_of(2);
                    let n = 1 + rng.next() % 3;
                    let mut w = vec![
                        if front {
                            b"LPUSH".to_vec()
                        } else {
                            b"RPUSH".to_vec()
                        },
                        key.into(),
                    ];
                    for _ in 0..n {
                        let x = pool[(rng.next() % pool.len() as u64) as usize].as_bytes();
                        w.push(x.to_vec());
                        if front {
                            l.insert(0, x.to_vec());
                        } else {
                            l.push(x.to_vec());
                        }
                    }
                    (w, Reply::Int(l.len() as i64))
                }
                3 => {
                    let front = rng.next().is_multiple_of(2);
                    let n = rng.next() % 4;
                    let name = if front { "LPOP" } else { "RPOP" };
                    let want = if l.is_empty() {
                        Reply::NilArray
                    } else {
                        let n = (n as usize).min(l.len());
                        let out: Vec<Reply> = if front {
                            l.drain(..n).map(|x| bulk(&x)).collect()
                        } else {
                            let at = l.len() - n;
                            l.drain(at..).rev().map(|x| bulk(&x)).collect()
                        };
                        Reply::Array(out)
                    };
                    (vec![name.into(), key.into(), n.to_string().into()], want)
                }
                4 => {
                    let i = small(rng.next()) * (1 + len / 6);
                    let idx = if i < 0 { len + i } else { i };
                    let want = if (0..len).contains(&idx) {
                        bulk(&l[idx as usize])
                    } else {
                        Reply::Nil
                    };
                    (
                        vec!["LINDEX".into(), key.into(), i.to_string().into()],
                        want,
                    )
                }
                5 => {
                    let i = small(rng.next()) * (1 + len / 6);
                    let idx = if i < 0 { len + i } else { i };
                    let want = if l.is_empty() {
                        Reply::error(errors::NO_SUCH_KEY)
                    } else if (0..len).contains(&idx) {
                        l[idx as usize] = v.clone();
                        Reply::OK
                    } else {
                        Reply::error(errors::INDEX_OUT_OF_RANGE)
                    };
                    (
                        vec!["LSET".into(), key.into(), i.to_string().into(), v],
                        want,
                    )
                }
                6 => {
                    let after = rng.next().is_multiple_of(2);
                    let pivot = pool[(rng.next() % 4) as usize].as_bytes().to_vec();
                    let want = if l.is_empty() {
                        Reply::Int(0)
                    } else {
                        match l.iter().position(|x| *x == pivot) {
                            None => Reply::Int(-1),
                            Some(p) => {
                                l.insert(if after { p + 1 } else { p }, v.clone());
                                Reply::Int(l.len() as i64)
                            }
                        }
                    };
                    let kw = if after { "AFTER" } else { "BEFORE" };
                    (
                        vec!["LINSERT".into(), key.into(), kw.into(), pivot, v],
                        want,
                    )
                }
                7 => {
                    let count = small(rng.next()) / 2;
                    let mut hits: Vec<usize> = (0..l.len()).filter(|&i| l[i] == v).collect();
                    if count < 0 {
                        hits.reverse();
                    }
                    if count != 0 {
                        hits.truncate(count.unsigned_abs() as usize);
                    }
                    hits.sort_unstable();
                    for &i in hits.iter().rev() {
                        l.remove(i);
                    }
                    let want = Reply::Int(hits.len() as i64);
                    (
                        vec!["LREM".into(), key.into(), count.to_string().into(), v],
                        want,
                    )
                }
                8 => {
                    // Trim rarely, and mostly a little, so lists grow.
                    let (s, e) = if rng.next().is_multiple_of(4) {
                        (small(rng.next()), -1 - small(rng.next()).abs())
                    } else {
                        (0, -1)
                    };
                    match model_range(s, e, l.len()) {
                        None => l.clear(),
                        Some((a, b)) => {
                            l.truncate(b + 1);
                            l.drain(..a);
                        }
                    }
                    let w = vec![
                        "LTRIM".into(),
                        key.into(),
                        s.to_string().into(),
                        e.to_string().into(),
                    ];
                    (w, Reply::OK)
                }
                9 => {
                    let (s, e) = (small(rng.next()) * 7, small(rng.next()) * 7);
                    let want = Reply::Array(match model_range(s, e, l.len()) {
                        None => vec![],
                        Some((a, b)) => l[a..=b].iter().map(|x| bulk(x)).collect(),
                    });
                    let w = vec![
                        "LRANGE".into(),
                        key.into(),
                        s.to_string().into(),
                        e.to_string().into(),
                    ];
                    (w, want)
                }
                _ => {
                    let rank = [1i64, 2, -1, -2][(rng.next() % 4) as usize];
                    let count = (rng.next() % 3) as i64;
                    let maxlen = [0i64, 3, 50][(rng.next() % 3) as usize];
                    let order: Vec<usize> = if rank < 0 {
                        (0..l.len()).rev().collect()
                    } else {
                        (0..l.len()).collect()
                    };
                    let scanned = if maxlen == 0 {
                        order.len()
                    } else {
                        maxlen as usize
                    };
                    let found: Vec<Reply> = order
                        .into_iter()
                        .take(scanned)
                        .filter(|&i| l[i] == v)
                        .skip(rank.unsigned_abs() as usize - 1)
                        .take(if count == 0 {
                            usize::MAX
                        } else {
                            count as usize
                        })
                        .map(|i| Reply::Int(i as i64))
                        .collect();
                    let w = vec![
                        "LPOS".into(),
                        key.into(),
                        v,
                        "RANK".into(),
                        rank.to_string().into(),
                        "COUNT".into(),
                        count.to_string().into(),
                        "MAXLEN".into(),
                        maxlen.to_string().into(),
                    ];
                    (w, Reply::Array(found))
                }
            };
            let args: Vec<Bytes> = words.into_iter().map(Bytes::from).collect();
            let got = h.run(&args);
            assert_eq!(got, want, "seed {seed} step {step}: {args:?}");
            // LMOVE now and then, checked against the model too.
            if step.is_multiple_of(7) {
                let (src, dst) = if rng.next().is_multiple_of(2) {
                    ("la", "lb")
                } else {
                    ("lb", "la")
                };
                let (from, to) = (rng.next().is_multiple_of(2), rng.next().is_multiple_of(2));
                let popped = {
                    let s = model.entry(src).or_default();
                    if s.is_empty() {
                        None
                    } else if from {
                        Some(s.remove(0))
                    } else {
                        s.pop()
                    }
                };
                let want = match &popped {
                    None => Reply::Nil,
                    Some(x) => {
                        let d = model.entry(dst).or_default();
                        if to {
                            d.insert(0, x.clone());
                        } else {
                            d.push(x.clone());
                        }
                        bulk(x)
                    }
                };
                let end = |left: bool| if left { "LEFT" } else { "RIGHT" };
                let cmd = format!("LMOVE {src} {dst} {} {}", end(from), end(to));
                assert_eq!(
                    run_line(&mut h, &cmd),
                    want,
                    "seed {seed} step {step}: {cmd}"
                );
            }
        }
        for (key, l) in &model {
            let got = run_line(&mut h, &format!("LRANGE {key} 0 -1"));
            let want = Reply::Array(l.iter().map(|x| bulk(x)).collect());
            assert_eq!(got, want, "seed {seed}: final {key}");
            assert_eq!(
                run_line(&mut h, &format!("LLEN {key}")),
                Reply::Int(l.len() as i64)
            );
        }
    }
}

/// Sorted set commands against a sorted model, seeded, growing past the listpack limits (by
/// count and by long members) and shrinking again: each reply must be the model's.
#[test]
fn sorted_set_commands_match_a_model_across_encodings() {
    let long = "L".repeat(70);
    for seed in 1..=4u64 {
        let mut rng = TestRng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
        let mut h = Harness::new();
        // The model: member -> score; sorted on demand by (score, member).
        let mut m: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        let sorted = |m: &BTreeMap<Vec<u8>, f64>| -> Vec<(Vec<u8>, f64)> {
            let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
            v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
            v
        };
        let pairs = |v: &[(Vec<u8>, f64)]| {
            Reply::Pairs(
                v.iter()
                    .map(|(k, s)| (bulk(k), Reply::Double(*s)))
                    .collect(),
            )
        };
        let members = if seed % 2 == 0 { 300 } else { 100 };
        for step in 0..5000u32 {
            let member = |rng: &mut TestRng| -> Vec<u8> {
                if rng.next().is_multiple_of(97) {
                    format!("{long}{}", rng.next() % 3).into_bytes()
                } else {
                    format!("m{}", rng.next() % members).into_bytes()
                }
            };
            let score = |rng: &mut TestRng| ((rng.next() % 81) as f64 - 40.0) / 4.0;
            let fmt = |s: f64| crate::reply::format_double(s);
            let (line, want): (String, Reply) = match rng.next() % 10 {
                0..=3 => {
                    let (nx, xx, gt, lt, ch) = match rng.next() % 6 {
                        0 => (true, false, false, false, false),
                        1 => (false, true, false, false, true),
                        2 => (false, false, true, false, true),
                        3 => (false, true, false, true, false),
                        _ => (false, false, false, false, rng.next().is_multiple_of(2)),
                    };
                    let mut line = "ZADD z".to_string();
                    for (on, w) in [(nx, "NX"), (xx, "XX"), (gt, "GT"), (lt, "LT"), (ch, "CH")] {
                        if on {
                            line += " ";
                            line += w;
                        }
                    }
                    let (mut added, mut changed) = (0, 0);
                    for _ in 0..1 + rng.next() % 4 {
                        let (k, s) = (member(&mut rng), score(&mut rng));
                        line += &format!(" {} {}", fmt(s), String::from_utf8_lossy(&k));
                        match m.get(&k).copied() {
                            None if !xx => {
                                m.insert(k, s);
                                added += 1;
                            }
                            Some(cur) => {
                                let skipped = nx || (gt && s <= cur) || (lt && s >= cur);
                                if !skipped && s != cur {
                                    m.insert(k, s);
                                    changed += 1;
                                }
                            }
                            _ => {}
                        }
                    }
                    (line, Reply::Int(if ch { added + changed } else { added }))
                }
                4 => {
                    let (k, by) = (member(&mut rng), score(&mut rng));
                    let new = m.get(&k).copied().unwrap_or(0.0) + by;
                    m.insert(k.clone(), new);
                    let line = format!("ZINCRBY z {} {}", fmt(by), String::from_utf8_lossy(&k));
                    (line, Reply::Double(new))
                }
                5 => {
                    let k = member(&mut rng);
                    let removed = m.remove(&k).is_some();
                    let line = format!("ZREM z {}", String::from_utf8_lossy(&k));
                    (line, Reply::Int(i64::from(removed)))
                }
                6 => {
                    let v = sorted(&m);
                    let (s, e) = ((rng.next() % 40) as i64 - 20, (rng.next() % 40) as i64 - 20);
                    let want = match model_range(s, e, v.len()) {
                        None => Reply::Pairs(vec![]),
                        Some((a, b)) => pairs(&v[a..=b]),
                    };
                    (format!("ZRANGE z {s} {e} WITHSCORES"), want)
                }
                7 => {
                    let v = sorted(&m);
                    let (lo, hi) = (score(&mut rng), score(&mut rng));
                    let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                    let (off, cnt) = (rng.next() % 5, (rng.next() % 7) as i64 - 1);
                    let rev = rng.next().is_multiple_of(2);
                    let mut inside: Vec<(Vec<u8>, f64)> =
                        v.into_iter().filter(|(_, s)| lo < *s && *s <= hi).collect();
                    if rev {
                        inside.reverse();
                    }
                    let take = if cnt < 0 { usize::MAX } else { cnt as usize };
                    let chosen: Vec<_> = inside.into_iter().skip(off as usize).take(take).collect();
                    let (a, b) = if rev { (hi, lo) } else { (lo, hi) };
                    let (a, b) = if rev {
                        (fmt(a), format!("({}", fmt(b)))
                    } else {
                        (format!("({}", fmt(a)), fmt(b))
                    };
                    let r = if rev { " REV" } else { "" };
                    let line = format!("ZRANGE z {a} {b} BYSCORE{r} LIMIT {off} {cnt} WITHSCORES");
                    (line, pairs(&chosen))
                }
                8 => {
                    let v = sorted(&m);
                    let max = rng.next().is_multiple_of(2);
                    let n = (rng.next() % 4) as usize;
                    let chosen: Vec<(Vec<u8>, f64)> = if max {
                        v.iter().rev().take(n).cloned().collect()
                    } else {
                        v.iter().take(n).cloned().collect()
                    };
                    for (k, _) in &chosen {
                        m.remove(k);
                    }
                    let want = if v.is_empty() || n == 0 {
                        Reply::Array(vec![])
                    } else {
                        pairs(&chosen)
                    };
                    let name = if max { "ZPOPMAX" } else { "ZPOPMIN" };
                    (format!("{name} z {n}"), want)
                }
                _ => {
                    let v = sorted(&m);
                    let k = member(&mut rng);
                    let want = match v.iter().position(|(x, _)| *x == k) {
                        None => Reply::Nil,
                        Some(r) => Reply::Int((v.len() - 1 - r) as i64),
                    };
                    (format!("ZREVRANK z {}", String::from_utf8_lossy(&k)), want)
                }
            };
            assert_eq!(
                run_line(&mut h, &line),
                want,
                "seed {seed} step {step}: {line}"
            );
            if step.is_multiple_of(50) {
                let v = sorted(&m);
                assert_eq!(run_line(&mut h, "ZCARD z"), Reply::Int(v.len() as i64));
                if !v.is_empty() {
                    let lo = v[v.len() / 3].1;
                    let n = v.iter().filter(|(_, s)| *s >= lo).count();
                    let line = format!("ZCOUNT z {} +inf", fmt(lo));
                    assert_eq!(run_line(&mut h, &line), Reply::Int(n as i64), "{line}");
                }
            }
        }
        let v = sorted(&m);
        assert_eq!(run_line(&mut h, "ZRANGE z 0 -1 WITHSCORES"), pairs(&v));
        // Shrink by rank and by score, then all of it.
        let line = "ZREMRANGEBYRANK z 0 9";
        let n = v.len().min(10) as i64;
        assert_eq!(run_line(&mut h, line), Reply::Int(n));
        let rest = &v[n as usize..];
        let cut = rest.iter().filter(|(_, s)| *s <= 0.0).count() as i64;
        assert_eq!(
            run_line(&mut h, "ZREMRANGEBYSCORE z -inf 0"),
            Reply::Int(cut)
        );
        let left = rest.len() as i64 - cut;
        assert_eq!(
            run_line(&mut h, "ZREMRANGEBYSCORE z -inf +inf"),
            Reply::Int(left)
        );
        assert_eq!(run_line(&mut h, "EXISTS z"), Reply::Int(0));
    }
}

/// ZSCAN of a skiplist: every member present throughout is returned, whatever happens to the
/// set between calls; a packed set comes whole with cursor 0.
#[test]
fn zscan_returns_every_member_present_throughout_despite_writes() {
    let mut h = Harness::new();
    let mut zadd = vec!["ZADD".to_string(), "z".to_string()];
    for i in 0..2000 {
        zadd.push(i.to_string());
        zadd.push(format!("stay{i}"));
    }
    assert_eq!(h.run(&line(&zadd)), Reply::Int(2000));
    let seen = full_scan(&mut h, "ZSCAN", "z", 25, true, |h, call| {
        let words: Vec<String> = if call <= 20 {
            let mut w = vec!["ZADD".to_string(), "z".to_string()];
            for j in 0..500 {
                w.push("1.5".to_string());
                w.push(format!("tmp{call}-{j}"));
            }
            w
        } else {
            let mut w = vec!["ZREM".to_string(), "z".to_string()];
            for c in 1..=20 {
                for j in 0..500 {
                    w.push(format!("tmp{c}-{j}"));
                }
            }
            w
        };
        h.run(&line(&words));
    });
    for i in 0..2000 {
        assert!(
            seen.contains(format!("stay{i}").as_bytes()),
            "ZSCAN missed stay{i}"
        );
    }
    run_line(&mut h, "ZADD small 1 a 2 b");
    assert_eq!(
        run_line(&mut h, "ZSCAN small 0 COUNT 1"),
        Reply::Array(vec![
            bulk(b"0"),
            Reply::Array(vec![bulk(b"a"), bulk(b"1"), bulk(b"b"), bulk(b"2")])
        ])
    );
}

/// Two replicas applying the same writes agree on every reply and on the data, including
/// where the answer depends on the skiplist's shape (lex ranges over mixed scores) and on
/// random choices.
#[test]
fn replicas_applying_the_same_list_and_zset_writes_agree() {
    let mut rng = TestRng(77);
    let mut lines = Vec::new();
    for _ in 0..3000 {
        let m = format!(
            "{}{}",
            ["a", "b", "c", "dd"][(rng.next() % 4) as usize],
            rng.next() % 150
        );
        let s = (rng.next() % 20) as i64 - 10;
        let lex = ["-", "+", "[b", "(c5", "[dd"][(rng.next() % 5) as usize];
        let lex2 = ["-", "+", "[b", "(c5", "[dd"][(rng.next() % 5) as usize];
        lines.push(match rng.next() % 8 {
            0..=2 => format!("ZADD z {s} {m}"),
            3 => format!("ZRANGEBYLEX z {lex} {lex2}"),
            4 => format!("ZREMRANGEBYLEX z {lex} {lex2}"),
            5 => format!("ZLEXCOUNT z {lex} {lex2}"),
            6 => format!("RPUSH l {m}"),
            _ => format!("LMPOP 2 l z RIGHT COUNT {}", 1 + rng.next() % 3),
        });
    }
    let mut a = Harness::new();
    let mut b = Harness::new();
    for l in &lines {
        assert_eq!(run_line(&mut a, l), run_line(&mut b, l), "{l}");
    }
    assert_eq!(a.store.digest(), b.store.digest());
}

/// A blocking pop with data pops; without, it replies Redis's timeout reply (the connection's
/// cue to wait), or inside MULTI what Redis answers there.
#[test]
fn blocking_pops_with_nothing_to_pop_reply_as_redis_does_when_they_cannot_wait() {
    let mut h = Harness::new();
    for cmd in [
        "BLPOP a b 0",
        "BRPOP a 1",
        "BLMOVE a b LEFT RIGHT 0",
        "BRPOPLPUSH a b 0",
        "BLMPOP 0 2 a b LEFT",
        "BZPOPMIN a 0",
        "BZPOPMAX a b 0",
        "BZMPOP 0 1 a MIN COUNT 2",
    ] {
        assert_eq!(run_line(&mut h, cmd), timeout_reply(), "{cmd}");
        assert_eq!(run_line(&mut h, "DBSIZE"), Reply::Int(0));
    }
    let cmds: Vec<Vec<Bytes>> = [
        "BLMOVE a b LEFT RIGHT 0",
        "BRPOPLPUSH a b 0",
        "BLPOP a 0",
        "BZPOPMIN a 0",
        "BLMPOP 0 1 a LEFT",
        "BZMPOP 0 1 a MAX",
    ]
    .iter()
    .map(|l| tokenize(l))
    .collect();
    let batch: Vec<(u32, &'static CommandSpec, &[Bytes])> = cmds
        .iter()
        .map(|c| (0, resolve(c).unwrap(), &c[..]))
        .collect();
    let replies = execute_transaction(&h.store, 1000, 7, &batch, &[]).expect("nothing watched");
    assert_eq!(
        replies,
        vec![
            Reply::Nil,
            Reply::Nil,
            Reply::NilArray,
            Reply::NilArray,
            Reply::NilArray,
            Reply::NilArray
        ]
    );
    run_line(&mut h, "RPUSH b x");
    assert_eq!(
        run_line(&mut h, "BLPOP a b 0"),
        Reply::Array(vec![bulk(b"b"), bulk(b"x")])
    );
    run_line(&mut h, "ZADD z 1 m");
    assert_eq!(
        run_line(&mut h, "BZPOPMAX a z 5"),
        Reply::Array(vec![bulk(b"z"), bulk(b"m"), Reply::Double(1.0)])
    );
    assert_eq!(run_line(&mut h, "DBSIZE"), Reply::Int(0));
}

#[test]
fn blocking_keys_describe_the_wait_of_blocking_commands_only() {
    let keys = |l: &str| blocking_keys(&tokenize(l));
    assert_eq!(keys("GET a"), None);
    assert_eq!(keys("LPOP a"), None);
    assert_eq!(keys(""), None);
    let b = |ks: &[&str], timeout_ms| {
        Some(Ok(Blocking {
            keys: ks
                .iter()
                .map(|k| Bytes::copy_from_slice(k.as_bytes()))
                .collect(),
            timeout_ms,
        }))
    };
    assert_eq!(keys("blpop a b 1.5"), b(&["a", "b"], 1500));
    assert_eq!(keys("BRPOP a 0"), b(&["a"], 0));
    assert_eq!(keys("BLMOVE s d RIGHT LEFT 0.25"), b(&["s"], 250));
    assert_eq!(keys("BRPOPLPUSH s d 2"), b(&["s"], 2000));
    assert_eq!(keys("BLMPOP 3 2 x y LEFT COUNT 2"), b(&["x", "y"], 3000));
    assert_eq!(keys("BZPOPMIN x y 0"), b(&["x", "y"], 0));
    assert_eq!(keys("BZPOPMAX x 0.001"), b(&["x"], 1));
    assert_eq!(keys("BZMPOP 0 1 x MAX"), b(&["x"], 0));
    assert_eq!(
        keys("BZMPOP 0 1 x SIDEWAYS"),
        Some(Err(Reply::error(errors::SYNTAX)))
    );
    assert_eq!(
        keys("BLPOP a -2"),
        Some(Err(Reply::error(errors::TIMEOUT_NEGATIVE)))
    );
    assert_eq!(
        keys("BZPOPMIN a soon"),
        Some(Err(Reply::error(errors::TIMEOUT_NOT_FLOAT)))
    );
    // Every command flagged blocking that raftis runs has a description.
    for spec in table() {
        if spec.is_blocking() && !matches!(spec.exec, Exec::Session) {
            let args = tokenize(&format!("{} k 0", spec.name));
            assert!(blocking_keys(&args).is_some(), "{}", spec.name);
        }
    }
}

/// MEMORY USAGE: errors exactly as redis-server 7.0.15 answered them (options are checked
/// before the key is looked up); the value is the store's own count of the key.
#[test]
fn memory_usage_checks_options_like_redis_and_counts_the_key() {
    let mut h = Harness::new();
    let run = |h: &mut Harness, s: &str| h.run(&tokenize(s));
    run(&mut h, "SET k 12345678901234567890123456789012");
    for (args, want) in [
        ("MEMORY USAGE k SAMPLES -1", Reply::error(errors::SYNTAX)),
        (
            "MEMORY USAGE k SAMPLES x",
            Reply::error(errors::NOT_INTEGER),
        ),
        (
            "MEMORY USAGE k SAMPLES 9999999999999999999",
            Reply::error(errors::NOT_INTEGER),
        ),
        ("MEMORY USAGE k SAMPLES", Reply::error(errors::SYNTAX)),
        ("MEMORY USAGE k FOO 1", Reply::error(errors::SYNTAX)),
        (
            "MEMORY USAGE k SAMPLES 1 extra",
            Reply::error(errors::SYNTAX),
        ),
        (
            "MEMORY USAGE nokey SAMPLES x",
            Reply::error(errors::NOT_INTEGER),
        ),
        ("MEMORY USAGE nokey", Reply::Nil),
        (
            "MEMORY USAGE",
            Reply::error("ERR wrong number of arguments for 'memory|usage' command"),
        ),
        (
            "MEMORY",
            Reply::error("ERR wrong number of arguments for 'memory' command"),
        ),
        (
            "MEMORY FOO",
            Reply::error("ERR unknown subcommand 'FOO'. Try MEMORY HELP."),
        ),
    ] {
        assert_eq!(run(&mut h, args), want, "{args}");
    }
    // A 32-byte dictionary node, the key and value in one 33-byte blob (48 with the
    // allocator's rounding). Redis 7.0.15 answered 96.
    assert_eq!(run(&mut h, "MEMORY USAGE k"), Reply::Int(80));
    assert_eq!(run(&mut h, "MEMORY USAGE k SAMPLES 0"), Reply::Int(80));
    assert_eq!(
        run(&mut h, "MEMORY USAGE k samples 5 SAMPLES 3"),
        Reply::Int(80)
    );
    // A big container's count follows its writes, and the store's dataset is the sum.
    let mut sadd = vec!["SADD".to_string(), "s".to_string()];
    sadd.extend((0..1000).map(|i| format!("member:{i}")));
    h.run(&line(&sadd));
    let Reply::Int(set) = run(&mut h, "MEMORY USAGE s") else {
        panic!("not an integer")
    };
    assert!((40_000..80_000).contains(&set), "{set}");
    assert_eq!(h.store.memory().dataset, 80 + set as u64);
    run(&mut h, "SREM s member:1 member:2");
    let Reply::Int(smaller) = run(&mut h, "MEMORY USAGE s") else {
        panic!("not an integer")
    };
    assert!(smaller < set);
    let Reply::Array(help) = run(&mut h, "MEMORY HELP") else {
        panic!("not an array")
    };
    assert_eq!(help.len(), 14);
}
