#!/usr/bin/env python3
"""Generate src/command/table.rs and the COMMAND fixtures from a live redis-server 7.0.

The command table's metadata (arity, flags, key positions, ACL categories, tips, key specs and
the COMMAND DOCS tree) is copied from what redis-server 7.0 itself answers to COMMAND INFO and
COMMAND DOCS, so raftis describes its commands exactly as Redis does. Which commands exist in
raftis, and which handler runs each, is the list EXEC below: to add a command, add its line,
write the handler constant in the family file, and run

    redis-server --port 0 --unixsocket /tmp/gen.sock --save '' &
    python3 src/command/gen_table.py /tmp/gen.sock

It also writes the raw RESP3 replies of COMMAND INFO / COMMAND DOCS for every command of the
table to src/command/testdata/, which the tests compare against the table's own replies.
"""

import os
import socket
import sys

# name -> the Rust expression of its `exec` (a constant in the family file), or SESSION for the
# commands the server module answers itself. Subcommands of a SESSION container are SESSION.
SESSION = "Exec::Session"
EXEC = {
    # strings.rs
    "get": "strings::GET",
    "set": "strings::SET",
    "mget": "strings::MGET",
    "mset": "strings::MSET",
    "incr": "strings::INCR",
    "incrby": "strings::INCRBY",
    "decr": "strings::DECR",
    "decrby": "strings::DECRBY",
    "setnx": "strings::SETNX",
    "setex": "strings::SETEX",
    "psetex": "strings::PSETEX",
    "getset": "strings::GETSET",
    "getdel": "strings::GETDEL",
    "getex": "strings::GETEX",
    "msetnx": "strings::MSETNX",
    "append": "strings::APPEND",
    "strlen": "strings::STRLEN",
    "getrange": "strings::GETRANGE",
    "substr": "strings::SUBSTR",
    "setrange": "strings::SETRANGE",
    "incrbyfloat": "strings::INCRBYFLOAT",
    "lcs": "strings::LCS",
    # bits.rs
    "setbit": "bits::SETBIT",
    "getbit": "bits::GETBIT",
    "bitcount": "bits::BITCOUNT",
    "bitpos": "bits::BITPOS",
    "bitop": "bits::BITOP",
    "bitfield": "bits::BITFIELD",
    "bitfield_ro": "bits::BITFIELD_RO",
    # keys.rs
    "del": "keys::DEL",
    "exists": "keys::EXISTS",
    "expire": "keys::EXPIRE",
    "pexpire": "keys::PEXPIRE",
    "ttl": "keys::TTL",
    "pttl": "keys::PTTL",
    "persist": "keys::PERSIST",
    "type": "keys::TYPE",
    "unlink": "keys::UNLINK",
    "touch": "keys::TOUCH",
    "expireat": "keys::EXPIREAT",
    "pexpireat": "keys::PEXPIREAT",
    "expiretime": "keys::EXPIRETIME",
    "pexpiretime": "keys::PEXPIRETIME",
    "keys": "keys::KEYS",
    "scan": "keys::SCAN",
    "randomkey": "keys::RANDOMKEY",
    # hashes.rs
    "hset": "hashes::HSET",
    "hsetnx": "hashes::HSETNX",
    "hget": "hashes::HGET",
    "hmget": "hashes::HMGET",
    "hmset": "hashes::HMSET",
    "hdel": "hashes::HDEL",
    "hlen": "hashes::HLEN",
    "hstrlen": "hashes::HSTRLEN",
    "hexists": "hashes::HEXISTS",
    "hkeys": "hashes::HKEYS",
    "hvals": "hashes::HVALS",
    "hgetall": "hashes::HGETALL",
    "hincrby": "hashes::HINCRBY",
    "hincrbyfloat": "hashes::HINCRBYFLOAT",
    "hrandfield": "hashes::HRANDFIELD",
    "hscan": "hashes::HSCAN",
    # sets.rs
    "sadd": "sets::SADD",
    "srem": "sets::SREM",
    "smembers": "sets::SMEMBERS",
    "sismember": "sets::SISMEMBER",
    "smismember": "sets::SMISMEMBER",
    "scard": "sets::SCARD",
    "spop": "sets::SPOP",
    "srandmember": "sets::SRANDMEMBER",
    "smove": "sets::SMOVE",
    "sinter": "sets::SINTER",
    "sintercard": "sets::SINTERCARD",
    "sinterstore": "sets::SINTERSTORE",
    "sunion": "sets::SUNION",
    "sunionstore": "sets::SUNIONSTORE",
    "sdiff": "sets::SDIFF",
    "sdiffstore": "sets::SDIFFSTORE",
    "sscan": "sets::SSCAN",
    # lists.rs (the blocking pops are real writes: the pop they perform when there is data)
    "lpush": "lists::LPUSH",
    "rpush": "lists::RPUSH",
    "lpushx": "lists::LPUSHX",
    "rpushx": "lists::RPUSHX",
    "lpop": "lists::LPOP",
    "rpop": "lists::RPOP",
    "llen": "lists::LLEN",
    "lrange": "lists::LRANGE",
    "lindex": "lists::LINDEX",
    "lset": "lists::LSET",
    "linsert": "lists::LINSERT",
    "lrem": "lists::LREM",
    "ltrim": "lists::LTRIM",
    "lpos": "lists::LPOS",
    "lmove": "lists::LMOVE",
    "rpoplpush": "lists::RPOPLPUSH",
    "lmpop": "lists::LMPOP",
    "blpop": "lists::BLPOP",
    "brpop": "lists::BRPOP",
    "blmove": "lists::BLMOVE",
    "brpoplpush": "lists::BRPOPLPUSH",
    "blmpop": "lists::BLMPOP",
    # zsets.rs
    "zadd": "zsets::ZADD",
    "zincrby": "zsets::ZINCRBY",
    "zrem": "zsets::ZREM",
    "zscore": "zsets::ZSCORE",
    "zmscore": "zsets::ZMSCORE",
    "zcard": "zsets::ZCARD",
    "zcount": "zsets::ZCOUNT",
    "zlexcount": "zsets::ZLEXCOUNT",
    "zrange": "zsets::ZRANGE",
    "zrangebyscore": "zsets::ZRANGEBYSCORE",
    "zrevrangebyscore": "zsets::ZREVRANGEBYSCORE",
    "zrevrange": "zsets::ZREVRANGE",
    "zrangebylex": "zsets::ZRANGEBYLEX",
    "zrevrangebylex": "zsets::ZREVRANGEBYLEX",
    "zrangestore": "zsets::ZRANGESTORE",
    "zrank": "zsets::ZRANK",
    "zrevrank": "zsets::ZREVRANK",
    "zpopmin": "zsets::ZPOPMIN",
    "zpopmax": "zsets::ZPOPMAX",
    "zmpop": "zsets::ZMPOP",
    "bzpopmin": "zsets::BZPOPMIN",
    "bzpopmax": "zsets::BZPOPMAX",
    "bzmpop": "zsets::BZMPOP",
    "zunion": "zsets::ZUNION",
    "zinter": "zsets::ZINTER",
    "zintercard": "zsets::ZINTERCARD",
    "zdiff": "zsets::ZDIFF",
    "zunionstore": "zsets::ZUNIONSTORE",
    "zinterstore": "zsets::ZINTERSTORE",
    "zdiffstore": "zsets::ZDIFFSTORE",
    "zremrangebyrank": "zsets::ZREMRANGEBYRANK",
    "zremrangebyscore": "zsets::ZREMRANGEBYSCORE",
    "zremrangebylex": "zsets::ZREMRANGEBYLEX",
    "zrandmember": "zsets::ZRANDMEMBER",
    "zscan": "zsets::ZSCAN",
    # keyspace.rs (generic key commands that need the value internals)
    "rename": "keyspace::RENAME",
    "renamenx": "keyspace::RENAMENX",
    "copy": "keyspace::COPY",
    "move": "keyspace::MOVE",
    "swapdb": "keyspace::SWAPDB",
    "object": "keyspace::OBJECT",
    "object|encoding": "keyspace::OBJECT_ENCODING",
    "object|freq": "keyspace::OBJECT_FREQ",
    "object|idletime": "keyspace::OBJECT_IDLETIME",
    "object|refcount": "keyspace::OBJECT_REFCOUNT",
    "object|help": "keyspace::OBJECT_HELP",
    "memory": "keyspace::MEMORY",
    "memory|usage": "keyspace::MEMORY_USAGE",
    "memory|help": "keyspace::MEMORY_HELP",
    # server.rs
    "dbsize": "server::DBSIZE",
    "flushdb": "server::FLUSHDB",
    "flushall": "server::FLUSHALL",
    # answered by the server module
    "ping": SESSION,
    "echo": SESSION,
    "hello": SESSION,
    "quit": SESSION,
    "select": SESSION,
    "config": SESSION,
    "info": SESSION,
    "command": SESSION,
    "debug": SESSION,
    "client": SESSION,
    "auth": SESSION,
    "reset": SESSION,
    "time": SESSION,
    "multi": SESSION,
    "exec": SESSION,
    "discard": SESSION,
    "watch": SESSION,
    "unwatch": SESSION,
    "save": SESSION,
    "bgsave": SESSION,
    "lastsave": SESSION,
    "subscribe": SESSION,
    "unsubscribe": SESSION,
    "psubscribe": SESSION,
    "punsubscribe": SESSION,
    "pubsub": SESSION,
    "publish": SESSION,
    "shutdown": SESSION,
}

# The subcommands raftis answers for the SESSION containers that have them (other containers
# list theirs in EXEC, as "object|encoding"). A subcommand not listed is left out of the table, so it gets Redis's "unknown subcommand" error instead of
# being described by COMMAND as if it worked.
SESSION_SUBCOMMANDS = {
    "client": ["getname", "help", "id", "info", "kill", "list", "reply", "setname"],
    "config": ["get", "help", "resetstat", "set"],
    "pubsub": ["channels", "help", "numpat", "numsub"],
}

# Commands whose keys (or the keys' flags) the key specs cannot tell alone (a spec flagged
# variable_flags or incomplete, or movablekeys): Redis gives them a getkeys_proc; so do we.
GETKEYS = {
    "set": "strings::set_keys",
    "bitfield": "bits::bitfield_keys",
    "sintercard": "sets::sintercard_keys",
    "lmpop": "lists::lmpop_keys",
    "blmpop": "lists::blmpop_keys_proc",
    "zmpop": "zsets::zmpop_keys",
    "bzmpop": "zsets::bzmpop_keys_proc",
    "zunion": "zsets::setop_keys",
    "zinter": "zsets::setop_keys",
    "zintercard": "zsets::setop_keys",
    "zdiff": "zsets::setop_keys",
    "zunionstore": "zsets::setop_store_keys",
    "zinterstore": "zsets::setop_store_keys",
    "zdiffstore": "zsets::setop_store_keys",
}

# Bit names, in the order Redis 7.0 prints them (src/server.c). The Rust side declares the same
# constants in spec.rs; may_replicate exists but Redis 7.0 never prints it.
CMD_FLAGS = [
    "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking",
    "loading", "stale", "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth",
    "no_mandatory_keys", "no_async_loading", "no_multi", "movablekeys", "allow_busy",
]
ACL_CATS = [
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous",
    "connection", "transaction", "scripting",
]
KEY_FLAGS = [
    "RO", "RW", "OW", "RM", "access", "update", "insert", "delete", "not_key", "incomplete",
    "variable_flags",
]
ARG_FLAGS = ["optional", "multiple", "multiple_token"]
DOC_FLAGS = ["deprecated", "syscmd"]


# --- RESP3 client -------------------------------------------------------------------------

def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(path)
        self.buf = b""
        self.raw = b""

    def _fill(self):
        data = self.sock.recv(1 << 16)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line, self.buf = self.buf[:i], self.buf[i + 2:]
        self.raw += line + b"\r\n"
        return line

    def _take(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        self.raw += data + b"\r\n"
        return data

    def _read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"$":
            n = int(rest)
            return ("nil",) if n < 0 else ("bulk", self._take(n).decode())
        if kind == b"=":
            return ("bulk", self._take(int(rest)).decode()[4:])
        if kind == b"+":
            return ("status", rest.decode())
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return ("int", int(rest))
        if kind == b"_":
            return ("nil",)
        if kind in (b"*", b"~"):
            items = [self._read() for _ in range(int(rest))]
            return ("array" if kind == b"*" else "set", items)
        if kind == b"%":
            return ("map", [(self._read(), self._read()) for _ in range(int(rest))])
        raise RuntimeError("unexpected RESP3 type %r" % kind)

    def call(self, *args):
        """Returns (parsed reply, raw bytes of the reply)."""
        self.sock.sendall(encode(args))
        self.raw = b""
        reply = self._read()
        return reply, self.raw


# --- RESP3 values -> Python ---------------------------------------------------------------

def val(r):
    kind = r[0]
    if kind in ("bulk", "status", "int"):
        return r[1]
    if kind == "nil":
        return None
    if kind in ("array", "set"):
        return [val(x) for x in r[1]]
    if kind == "map":
        return {val(k): val(v) for k, v in r[1]}
    raise RuntimeError(kind)


def ordered_keys(r):
    assert r[0] == "map", r
    return [val(k) for k, _ in r[1]]


# --- Rust emission ------------------------------------------------------------------------

def lit(s):
    if s is None:
        return "None"
    return "Some(%s)" % rstr(s)


def rstr(s):
    out = '"'
    for ch in s:
        if ch == "\\":
            out += "\\\\"
        elif ch == '"':
            out += '\\"'
        elif ch == "\n":
            out += "\\n"
        elif ord(ch) < 0x20:
            out += "\\u{%x}" % ord(ch)
        else:
            out += ch
    return out + '"'


def bits(names, table, prefix):
    for n in names:
        if n not in table:
            raise RuntimeError("unknown %s flag %r" % (prefix, n))
    # Redis prints flags in the table's order: check the live reply agrees with ours.
    idx = [table.index(n) for n in names]
    if idx != sorted(idx):
        raise RuntimeError("%s flags out of the expected order: %r" % (prefix, names))
    if not names:
        return "0"
    return " | ".join("%s::%s" % (prefix, n.upper()) for n in names)


def emit_key_spec(ks, ind):
    keys = list(ks.keys())
    expected = (["notes"] if "notes" in ks else []) + ["flags", "begin_search", "find_keys"]
    if keys != expected:
        raise RuntimeError("key spec fields %r" % keys)
    bs = ks["begin_search"]
    if bs["type"] == "index":
        begin = "BeginSearch::Index(%d)" % bs["spec"]["index"]
    elif bs["type"] == "keyword":
        begin = "BeginSearch::Keyword { keyword: %s, startfrom: %d }" % (
            rstr(bs["spec"]["keyword"]), bs["spec"]["startfrom"])
    else:
        begin = "BeginSearch::Unknown"
    fk = ks["find_keys"]
    if fk["type"] == "range":
        s = fk["spec"]
        find = "FindKeys::Range { lastkey: %d, keystep: %d, limit: %d }" % (
            s["lastkey"], s["keystep"], s["limit"])
    elif fk["type"] == "keynum":
        s = fk["spec"]
        find = "FindKeys::Keynum { keynumidx: %d, firstkey: %d, keystep: %d }" % (
            s["keynumidx"], s["firstkey"], s["keystep"])
    else:
        find = "FindKeys::Unknown"
    return "%sKeySpec {\n%s    notes: %s,\n%s    flags: %s,\n%s    begin: %s,\n%s    find: %s,\n%s}" % (
        ind, ind, lit(ks.get("notes")), ind, bits(ks["flags"], KEY_FLAGS, "key"), ind, begin,
        ind, find, ind)


ARG_FIELDS = ["name", "type", "key_spec_index", "token", "summary", "since", "deprecated_since",
              "flags", "arguments"]


def emit_args(args_raw, ind):
    if not args_raw:
        return "&[]"
    out = "&[\n"
    for a_raw in args_raw[1]:
        keys = ordered_keys(a_raw)
        if [k for k in ARG_FIELDS if k in keys] != keys:
            raise RuntimeError("argument fields %r" % keys)
        a = val(a_raw)
        sub = dict((val(k), v) for k, v in a_raw[1]).get("arguments")
        out += "%s    Arg {\n" % ind
        i2 = ind + "        "
        out += "%sname: %s,\n" % (i2, rstr(a["name"]))
        out += "%skind: ArgType::%s,\n" % (i2, arg_type(a["type"]))
        out += "%skey_spec_index: %d,\n" % (i2, a.get("key_spec_index", -1))
        out += "%stoken: %s,\n" % (i2, lit(a.get("token")))
        out += "%ssummary: %s,\n" % (i2, lit(a.get("summary")))
        out += "%ssince: %s,\n" % (i2, lit(a.get("since")))
        out += "%sdeprecated_since: %s,\n" % (i2, lit(a.get("deprecated_since")))
        out += "%sflags: %s,\n" % (i2, bits(a.get("flags", []), ARG_FLAGS, "arg"))
        out += "%sargs: %s,\n" % (i2, emit_args(sub, i2))
        out += "%s    },\n" % ind
    return out + ind + "]"


def arg_type(t):
    return {
        "string": "String", "integer": "Integer", "double": "Double", "key": "Key",
        "pattern": "Pattern", "unix-time": "UnixTime", "pure-token": "PureToken",
        "oneof": "OneOf", "block": "Block",
    }[t]


DOC_FIELDS = ["summary", "since", "group", "complexity", "doc_flags", "deprecated_since",
              "replaced_by", "history", "arguments", "subcommands"]


def emit_spec(info, docs_raw, exec_expr, ind):
    name, arity, flags, first, last, step, cats, tips, key_specs, subs = val(info)
    keys = ordered_keys(docs_raw)
    if [k for k in DOC_FIELDS if k in keys] != keys:
        raise RuntimeError("docs fields of %s: %r" % (name, keys))
    docs = val(docs_raw)
    docs_items = dict((val(k), v) for k, v in docs_raw[1])
    i2 = ind + "    "
    out = "%sCommandSpec {\n" % ind
    out += "%sname: %s,\n" % (i2, rstr(name))
    out += "%sarity: %d,\n" % (i2, arity)
    out += "%sflags: %s,\n" % (i2, bits(flags, CMD_FLAGS, "flag"))
    out += "%sfirst_key: %d,\n%slast_key: %d,\n%sstep: %d,\n" % (i2, first, i2, last, i2, step)
    out += "%sacl: %s,\n" % (i2, bits([c.lstrip("@") for c in cats], ACL_CATS, "acl"))
    out += "%stips: &[%s],\n" % (i2, ", ".join(rstr(t) for t in tips))
    if key_specs:
        out += "%skey_specs: &[\n%s\n%s],\n" % (
            i2, ",\n".join(emit_key_spec(k, i2 + "    ") for k in key_specs), i2)
    else:
        out += "%skey_specs: &[],\n" % i2
    out += "%sdocs: Docs {\n" % i2
    i3 = i2 + "    "
    out += "%ssummary: %s,\n" % (i3, lit(docs.get("summary")))
    out += "%ssince: %s,\n" % (i3, lit(docs.get("since")))
    out += "%sgroup: %s,\n" % (i3, rstr(docs["group"]))
    out += "%scomplexity: %s,\n" % (i3, lit(docs.get("complexity")))
    out += "%sdoc_flags: %s,\n" % (i3, bits(docs.get("doc_flags", []), DOC_FLAGS, "doc"))
    out += "%sdeprecated_since: %s,\n" % (i3, lit(docs.get("deprecated_since")))
    out += "%sreplaced_by: %s,\n" % (i3, lit(docs.get("replaced_by")))
    hist = docs.get("history") or []
    out += "%shistory: &[%s],\n" % (
        i3, ", ".join("(%s, %s)" % (rstr(v), rstr(t)) for v, t in hist))
    out += "%sargs: %s,\n" % (i3, emit_args(docs_items.get("arguments"), i3))
    out += "%s},\n" % i2
    if subs:
        sub_docs = dict((val(k), v) for k, v in docs_items["subcommands"][1])
        subs_sorted = sorted(subs, key=lambda s: s[0])
        if exec_expr == SESSION and name in SESSION_SUBCOMMANDS:
            wanted = ["%s|%s" % (name, n) for n in SESSION_SUBCOMMANDS[name]]
            subs_sorted = [x for x in subs_sorted if x[0] in wanted]
        elif exec_expr != SESSION:
            # A container's subcommands without a handler are left out, as for SESSION ones.
            subs_sorted = [x for x in subs_sorted if x[0] in EXEC]
        out += "%ssubcommands: &[\n" % i2
        for s in subs_sorted:
            info_raw = [x for x in info[1][9][1] if val(x)[0] == s[0]][0]
            out += emit_spec(info_raw, sub_docs[s[0]], SESSION if exec_expr == SESSION
                             else sub_exec(s[0]), i2 + "    ")
        out += "%s],\n" % i2
    else:
        out += "%ssubcommands: &[],\n" % i2
    needs_proc = "movablekeys" in flags or any(
        ("variable_flags" in k["flags"] or "incomplete" in k["flags"]) for k in key_specs)
    if needs_proc and name not in GETKEYS:
        raise RuntimeError("%s needs a GETKEYS function (its key specs are not enough)" % name)
    out += "%sgetkeys: %s,\n" % (i2, "Some(%s)" % GETKEYS[name] if name in GETKEYS else "None")
    out += "%sexec: %s,\n" % (i2, exec_expr)
    out += "%s},\n" % ind
    return out


def sub_exec(full):
    if full not in EXEC:
        raise RuntimeError("no exec for subcommand %s" % full)
    return EXEC[full]


def main():
    sock = sys.argv[1] if len(sys.argv) > 1 else "/tmp/gen.sock"
    here = os.path.dirname(os.path.abspath(__file__))
    conn = Conn(sock)
    conn.call("HELLO", "3")
    version = val(conn.call("INFO", "server")[0])
    redis_version = [l for l in version.splitlines() if l.startswith("redis_version:")][0]
    names = sorted(n for n in EXEC if "|" not in n)
    infos, info_raw = conn.call("COMMAND", "INFO", *names)
    docs, docs_raw = conn.call("COMMAND", "DOCS", *names)
    docs_by_name = dict((val(k), v) for k, v in docs[1])

    out = []
    out.append("//! The command table: one `CommandSpec` per command raftis knows, sorted by name.\n")
    out.append("//!\n")
    out.append("//! @generated by src/command/gen_table.py from %s's COMMAND INFO and\n" %
               redis_version.replace("redis_version:", "redis-server "))
    out.append("//! COMMAND DOCS. Do not edit by hand: edit the script's EXEC list and rerun it.\n\n")
    modules = sorted({e.split("::")[0] for e in EXEC.values() if e != SESSION})
    out.append("use super::spec::*;\nuse super::{%s, Exec};\n\n" % ", ".join(modules))
    out.append("pub(super) static TABLE: &[CommandSpec] = &[\n")
    for info in infos[1]:
        name = val(info)[0]
        out.append(emit_spec(info, docs_by_name[name], EXEC[name], "    "))
    out.append("];\n")
    with open(os.path.join(here, "table.rs"), "w") as f:
        f.write("".join(out))
    os.makedirs(os.path.join(here, "testdata"), exist_ok=True)
    with open(os.path.join(here, "testdata", "command_info.resp3"), "wb") as f:
        f.write(info_raw)
    with open(os.path.join(here, "testdata", "command_docs.resp3"), "wb") as f:
        f.write(docs_raw)
    print("wrote %d commands" % len(names))


if __name__ == "__main__":
    main()
