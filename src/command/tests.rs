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
        Reply::Error(s) => format!("-{s}"),
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
    assert_eq!(t.len(), 105);
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
    let replies: Vec<String> = execute_transaction(&store, 1000, 7, &cmds)
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
            execute_transaction(&store, 0, 7, &cmds);
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
            "append auth dbsize decr decrby discard echo exists expire expireat expiretime get \
             getdel getex getset hdel hello hexists hget hincrby hincrbyfloat hlen hmget hmset \
             hset hsetnx hstrlen incr incrby incrbyfloat mget move multi persist pexpire pexpireat \
             pexpiretime ping pttl publish quit renamenx reset sadd scard select setnx sismember \
             smismember smove spop srem strlen swapdb time touch ttl type unlink",
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
            "client|kill client|list config|get config|resetstat config|set debug flushall flushdb \
             info keys raft.node raft.node|add raft.node|promote raft.node|remove \
             raft.transfer-leader shutdown swapdb",
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
    assert_eq!(command_cmd(&tokenize("COMMAND COUNT")), Reply::Int(105 + 2));
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
