//! What the command table says about a command, and the COMMAND INFO / COMMAND DOCS replies
//! built from it.
//!
//! The shapes follow Redis 7.0 exactly (src/server.c: `addReplyCommandInfo`,
//! `addReplyCommandDocs`): the same fields in the same order, flags printed in Redis's order,
//! RESP3 sets and maps where Redis uses them (so RESP2 flattens them the same way). The table's
//! contents are generated from redis-server 7.0 (`table.rs`); tests compare the replies with
//! Redis's own, captured in `testdata/`.

use bytes::Bytes;

use super::Exec;

use crate::reply::Reply;

/// One command (or subcommand, whose `name` is `container|sub`).
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase full name.
    pub name: &'static str,
    /// Redis's convention: N means exactly N arguments (the name included), -N at least N.
    pub arity: i32,
    /// `flag::*` bits.
    pub flags: u32,
    /// Legacy key positions (COMMAND INFO fields 4-6); `key_specs` is the full description.
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// `acl::*` bits, implicit categories (`@write`, `@fast`, ...) included.
    pub acl: u32,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
    pub docs: Docs,
    /// Sorted by name.
    pub subcommands: &'static [CommandSpec],
    /// Finds the keys (with their flags) when the key specs cannot (Redis's `getkeys_proc`).
    pub getkeys: Option<GetKeysFn>,
    pub exec: Exec,
}

/// Calls its visitor with each key's argument index and `key::*` flags; false if the
/// arguments do not fit the command.
pub type GetKeysFn = fn(&[Bytes], &mut dyn FnMut(usize, u32)) -> bool;

impl CommandSpec {
    #[inline]
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// May change the dataset (proposed through Raft).
    pub fn is_write(&self) -> bool {
        self.has(flag::WRITE)
    }

    pub fn is_readonly(&self) -> bool {
        self.has(flag::READONLY)
    }

    /// May grow memory: refused when over maxmemory.
    pub fn is_denyoom(&self) -> bool {
        self.has(flag::DENYOOM)
    }

    pub fn is_fast(&self) -> bool {
        self.has(flag::FAST)
    }

    pub fn is_admin(&self) -> bool {
        self.has(flag::ADMIN)
    }

    /// Allowed before AUTH.
    pub fn is_no_auth(&self) -> bool {
        self.has(flag::NO_AUTH)
    }

    /// Refused inside MULTI.
    pub fn is_no_multi(&self) -> bool {
        self.has(flag::NO_MULTI)
    }

    /// Allowed while the dataset is loading.
    pub fn is_loading_ok(&self) -> bool {
        self.has(flag::LOADING)
    }

    /// Allowed on a replica whose data may be stale.
    pub fn is_stale_ok(&self) -> bool {
        self.has(flag::STALE)
    }

    pub fn is_blocking(&self) -> bool {
        self.has(flag::BLOCKING)
    }

    pub fn is_pubsub(&self) -> bool {
        self.has(flag::PUBSUB)
    }

    pub fn is_noscript(&self) -> bool {
        self.has(flag::NOSCRIPT)
    }

    /// Whether the command names keys (Redis's `doesCommandHaveKeys`).
    pub fn has_keys(&self) -> bool {
        self.key_specs.iter().any(|k| k.flags & key::NOT_KEY == 0) || self.has(flag::MOVABLEKEYS)
    }

    /// The part after `|` for a subcommand, the whole name otherwise.
    pub fn short_name(&self) -> &'static str {
        // On every command lookup: a plain byte scan beats a searcher for names this short.
        match self.name.bytes().position(|b| b == b'|') {
            Some(i) => &self.name[i + 1..],
            None => self.name,
        }
    }
}

/// The COMMAND DOCS part of a command.
#[derive(Debug)]
pub struct Docs {
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub group: &'static str,
    pub complexity: Option<&'static str>,
    /// `doc::*` bits.
    pub doc_flags: u32,
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    /// `(version, change)`.
    pub history: &'static [(&'static str, &'static str)],
    pub args: &'static [Arg],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl ArgType {
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// One argument in COMMAND DOCS.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    /// Index into the command's `key_specs`, -1 if the argument is not a key.
    pub key_spec_index: i32,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    /// `arg::*` bits.
    pub flags: u32,
    /// For `OneOf` and `Block`.
    pub args: &'static [Arg],
}

/// Where a command's keys are, Redis 7's key specs.
#[derive(Debug)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    /// `key::*` bits.
    pub flags: u32,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

#[derive(Debug)]
pub enum BeginSearch {
    /// The first key is at this argument index.
    Index(i32),
    /// The first key follows this keyword, searched from `startfrom` (negative: from the end).
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    Unknown,
}

#[derive(Debug)]
pub enum FindKeys {
    /// Keys from the first through `lastkey` (relative to the first; negative: from the end),
    /// every `keystep`; with `lastkey == -1`, `limit` > 0 keeps 1/limit of the remaining args.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// The argument at `keynumidx` (relative to the first) holds the number of keys, which
    /// start at `firstkey` (relative to the first).
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

macro_rules! bits {
    ($(#[$doc:meta])* $module:ident: $($name:ident = $bit:expr, $text:expr;)*) => {
        $(#[$doc])*
        pub mod $module {
            $(pub const $name: u32 = 1 << $bit;)*
            /// Every flag with the name Redis prints, in Redis's printing order.
            pub const NAMES: &[(u32, &str)] = &[$(($name, $text)),*];
        }
    };
}

bits! {
    /// Command flags (COMMAND INFO field 3).
    flag:
    WRITE = 0, "write";
    READONLY = 1, "readonly";
    DENYOOM = 2, "denyoom";
    MODULE = 3, "module";
    ADMIN = 4, "admin";
    PUBSUB = 5, "pubsub";
    NOSCRIPT = 6, "noscript";
    BLOCKING = 7, "blocking";
    LOADING = 8, "loading";
    STALE = 9, "stale";
    SKIP_MONITOR = 10, "skip_monitor";
    SKIP_SLOWLOG = 11, "skip_slowlog";
    ASKING = 12, "asking";
    FAST = 13, "fast";
    NO_AUTH = 14, "no_auth";
    NO_MANDATORY_KEYS = 15, "no_mandatory_keys";
    NO_ASYNC_LOADING = 16, "no_async_loading";
    NO_MULTI = 17, "no_multi";
    MOVABLEKEYS = 18, "movablekeys";
    ALLOW_BUSY = 19, "allow_busy";
}

bits! {
    /// ACL categories (COMMAND INFO field 7), in Redis's order.
    acl:
    KEYSPACE = 0, "keyspace";
    READ = 1, "read";
    WRITE = 2, "write";
    SET = 3, "set";
    SORTEDSET = 4, "sortedset";
    LIST = 5, "list";
    HASH = 6, "hash";
    STRING = 7, "string";
    BITMAP = 8, "bitmap";
    HYPERLOGLOG = 9, "hyperloglog";
    GEO = 10, "geo";
    STREAM = 11, "stream";
    PUBSUB = 12, "pubsub";
    ADMIN = 13, "admin";
    FAST = 14, "fast";
    SLOW = 15, "slow";
    BLOCKING = 16, "blocking";
    DANGEROUS = 17, "dangerous";
    CONNECTION = 18, "connection";
    TRANSACTION = 19, "transaction";
    SCRIPTING = 20, "scripting";
}

bits! {
    /// Key spec flags.
    key:
    RO = 0, "RO";
    RW = 1, "RW";
    OW = 2, "OW";
    RM = 3, "RM";
    ACCESS = 4, "access";
    UPDATE = 5, "update";
    INSERT = 6, "insert";
    DELETE = 7, "delete";
    NOT_KEY = 8, "not_key";
    INCOMPLETE = 9, "incomplete";
    VARIABLE_FLAGS = 10, "variable_flags";
}

bits! {
    /// Argument flags in COMMAND DOCS.
    arg:
    OPTIONAL = 0, "optional";
    MULTIPLE = 1, "multiple";
    MULTIPLE_TOKEN = 2, "multiple_token";
}

bits! {
    /// Documentation flags in COMMAND DOCS.
    doc:
    DEPRECATED = 0, "deprecated";
    SYSCMD = 1, "syscmd";
}

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

fn status(s: &'static str) -> Reply {
    Reply::Status(s.into())
}

/// Flags as a set of simple strings, in table order, with an optional prefix (`@` for ACL).
pub(super) fn flag_set(bits: u32, names: &'static [(u32, &'static str)], prefix: &str) -> Reply {
    Reply::Set(
        names
            .iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| {
                if prefix.is_empty() {
                    status(n)
                } else {
                    Reply::Status(format!("{prefix}{n}").into())
                }
            })
            .collect(),
    )
}

fn field(name: &'static str, value: Reply) -> (Reply, Reply) {
    (bulk(name), value)
}

fn key_spec_reply(ks: &KeySpec) -> Reply {
    let mut m = Vec::with_capacity(4);
    if let Some(n) = ks.notes {
        m.push(field("notes", bulk(n)));
    }
    m.push(field("flags", flag_set(ks.flags, key::NAMES, "")));
    let (bs_type, bs_spec) = match ks.begin {
        BeginSearch::Index(i) => ("index", vec![field("index", Reply::Int(i.into()))]),
        BeginSearch::Keyword { keyword, startfrom } => (
            "keyword",
            vec![
                field("keyword", bulk(keyword)),
                field("startfrom", Reply::Int(startfrom.into())),
            ],
        ),
        BeginSearch::Unknown => ("unknown", vec![]),
    };
    m.push(field(
        "begin_search",
        Reply::Map(vec![
            field("type", bulk(bs_type)),
            field("spec", Reply::Map(bs_spec)),
        ]),
    ));
    let (fk_type, fk_spec) = match ks.find {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => (
            "range",
            vec![
                field("lastkey", Reply::Int(lastkey.into())),
                field("keystep", Reply::Int(keystep.into())),
                field("limit", Reply::Int(limit.into())),
            ],
        ),
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => (
            "keynum",
            vec![
                field("keynumidx", Reply::Int(keynumidx.into())),
                field("firstkey", Reply::Int(firstkey.into())),
                field("keystep", Reply::Int(keystep.into())),
            ],
        ),
        FindKeys::Unknown => ("unknown", vec![]),
    };
    m.push(field(
        "find_keys",
        Reply::Map(vec![
            field("type", bulk(fk_type)),
            field("spec", Reply::Map(fk_spec)),
        ]),
    ));
    Reply::Map(m)
}

/// One command's COMMAND INFO entry (a 10-element array).
pub fn info_reply(spec: &CommandSpec) -> Reply {
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(vec![])
    } else {
        Reply::Array(spec.subcommands.iter().map(info_reply).collect())
    };
    Reply::Array(vec![
        bulk(spec.name),
        Reply::Int(spec.arity.into()),
        flag_set(spec.flags, flag::NAMES, ""),
        Reply::Int(spec.first_key.into()),
        Reply::Int(spec.last_key.into()),
        Reply::Int(spec.step.into()),
        flag_set(spec.acl, acl::NAMES, "@"),
        Reply::Set(spec.tips.iter().map(|t| bulk(t)).collect()),
        Reply::Set(spec.key_specs.iter().map(key_spec_reply).collect()),
        subcommands,
    ])
}

fn args_reply(args: &[Arg]) -> Reply {
    Reply::Array(
        args.iter()
            .map(|a| {
                let mut m = vec![
                    field("name", bulk(a.name)),
                    field("type", bulk(a.kind.name())),
                ];
                if a.key_spec_index >= 0 {
                    m.push(field("key_spec_index", Reply::Int(a.key_spec_index.into())));
                }
                let optional = [
                    ("token", a.token),
                    ("summary", a.summary),
                    ("since", a.since),
                    ("deprecated_since", a.deprecated_since),
                ];
                for (name, value) in optional {
                    if let Some(v) = value {
                        m.push(field(name, bulk(v)));
                    }
                }
                if a.flags != 0 {
                    m.push(field("flags", flag_set(a.flags, arg::NAMES, "")));
                }
                if matches!(a.kind, ArgType::OneOf | ArgType::Block) {
                    m.push(field("arguments", args_reply(a.args)));
                }
                Reply::Map(m)
            })
            .collect(),
    )
}

/// One command's COMMAND DOCS map.
pub fn docs_reply(spec: &CommandSpec) -> Reply {
    let d = &spec.docs;
    let mut m = Vec::with_capacity(10);
    if let Some(s) = d.summary {
        m.push(field("summary", bulk(s)));
    }
    if let Some(s) = d.since {
        m.push(field("since", bulk(s)));
    }
    m.push(field("group", bulk(d.group)));
    if let Some(s) = d.complexity {
        m.push(field("complexity", bulk(s)));
    }
    if d.doc_flags != 0 {
        m.push(field("doc_flags", flag_set(d.doc_flags, doc::NAMES, "")));
    }
    if let Some(s) = d.deprecated_since {
        m.push(field("deprecated_since", bulk(s)));
    }
    if let Some(s) = d.replaced_by {
        m.push(field("replaced_by", bulk(s)));
    }
    if !d.history.is_empty() {
        m.push(field(
            "history",
            Reply::Set(
                d.history
                    .iter()
                    .map(|(v, t)| Reply::Array(vec![bulk(v), bulk(t)]))
                    .collect(),
            ),
        ));
    }
    if !d.args.is_empty() {
        m.push(field("arguments", args_reply(d.args)));
    }
    if !spec.subcommands.is_empty() {
        m.push(field(
            "subcommands",
            Reply::Map(
                spec.subcommands
                    .iter()
                    .map(|s| (bulk(s.name), docs_reply(s)))
                    .collect(),
            ),
        ));
    }
    Reply::Map(m)
}
