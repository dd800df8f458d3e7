//! Server commands over the keyspace (DBSIZE FLUSHDB FLUSHALL), the COMMAND command generated
//! from the table, and DEBUG DIGEST / DIGEST-VALUE for the server module to route to.

use bytes::Bytes;

use super::spec::{docs_reply, info_reply, key};
use super::{
    acl, all_commands, for_each_key, glob_match, lookup_full, resolve, CommandSpec, Exec, ReadCtx,
    Scope, WriteCtx,
};
use crate::errors;
use crate::reply::Reply;
use crate::store::{value_digest, Free, Store};

pub(super) const DBSIZE: Exec = Exec::Read {
    run: dbsize,
    scope: Scope::Db,
};
pub(super) const FLUSHDB: Exec = Exec::Write {
    check: flush_check,
    apply: flushdb,
    scope: Scope::Db,
};
pub(super) const FLUSHALL: Exec = Exec::Write {
    check: flush_check,
    apply: flushall,
    scope: Scope::All,
};

fn dbsize(ctx: &ReadCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Int(ctx.db_len() as i64)
}

/// Redis's `getFlushCommandFlags`: optional SYNC or ASYNC.
fn flush_mode(args: &[Bytes]) -> Result<Free, Reply> {
    match args {
        [_] => Ok(Free::Sync),
        [_, m] if m.eq_ignore_ascii_case(b"sync") => Ok(Free::Sync),
        [_, m] if m.eq_ignore_ascii_case(b"async") => Ok(Free::Async),
        _ => Err(Reply::error(errors::SYNTAX)),
    }
}

fn flush_check(args: &[Bytes]) -> Result<(), Reply> {
    flush_mode(args).map(|_| ())
}

fn flushdb(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match flush_mode(args) {
        Ok(free) => {
            ctx.clear_db(ctx.db(), free);
            Reply::OK
        }
        Err(e) => e,
    }
}

fn flushall(ctx: &mut WriteCtx<'_, '_>, args: &[Bytes]) -> Reply {
    match flush_mode(args) {
        Ok(free) => {
            for db in 0..ctx.databases() as u32 {
                ctx.clear_db(db, free);
            }
            Reply::OK
        }
        Err(e) => e,
    }
}

/// DEBUG DIGEST: the dataset's digest as a status reply (see `Store::digest`).
pub fn debug_digest(store: &Store) -> Reply {
    Reply::Status(store.digest().into())
}

/// DEBUG DIGEST-VALUE key...: each key's value digest, logically expired keys included (as
/// Redis: a debug command sees what is stored), zeros for a missing key.
pub fn debug_digest_value(store: &Store, db: u32, keys: &[Bytes]) -> Reply {
    if db as usize >= store.databases() {
        return Reply::error(errors::INVALID_DB);
    }
    let mut set = store.shards();
    for k in keys {
        set.add_key(db, k);
    }
    let locks = set.read();
    Reply::Array(
        keys.iter()
            .map(|k| Reply::Status(value_digest(locks.get_any(db, k)).into()))
            .collect(),
    )
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn bulk(s: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(s.as_bytes()))
}

/// Every command and subcommand, depth first.
fn all_specs() -> impl Iterator<Item = &'static CommandSpec> {
    all_commands().flat_map(|s| std::iter::once(s).chain(s.subcommands.iter()))
}

/// COMMAND and its subcommands, as Redis 7.0 answers them. `args[0]` is COMMAND.
pub fn command_cmd(args: &[Bytes]) -> Reply {
    let spec = match resolve(args) {
        Ok(spec) => spec,
        Err(e) => return e,
    };
    match spec.short_name() {
        "count" => Reply::Int(all_commands().count() as i64),
        "info" if args.len() > 2 => Reply::Array(
            args[2..]
                .iter()
                .map(|n| lookup_full(n).map_or(Reply::Nil, info_reply))
                .collect(),
        ),
        "docs" if args.len() > 2 => Reply::Map(
            args[2..]
                .iter()
                .filter_map(|n| lookup_full(n))
                .map(|s| (bulk(s.name), docs_reply(s)))
                .collect(),
        ),
        "docs" => Reply::Map(
            all_commands()
                .map(|s| (bulk(s.name), docs_reply(s)))
                .collect(),
        ),
        "list" => command_list(args),
        "getkeys" => getkeys(&args[2..], false),
        "getkeysandflags" => getkeys(&args[2..], true),
        "help" => Reply::Array(
            COMMAND_HELP
                .iter()
                .map(|l| Reply::Status((*l).into()))
                .collect(),
        ),
        // COMMAND and COMMAND INFO without names: every command.
        _ => Reply::Array(all_commands().map(info_reply).collect()),
    }
}

enum ListFilter<'a> {
    Module,
    AclCat(Option<u32>),
    Pattern(&'a [u8]),
}

fn command_list(args: &[Bytes]) -> Reply {
    let filter = match &args[2..] {
        [] => None,
        [by, kind, arg] if by.eq_ignore_ascii_case(b"filterby") => {
            if kind.eq_ignore_ascii_case(b"module") {
                Some(ListFilter::Module)
            } else if kind.eq_ignore_ascii_case(b"aclcat") {
                let cat = acl::NAMES
                    .iter()
                    .find(|(_, n)| arg.eq_ignore_ascii_case(n.as_bytes()))
                    .map(|(b, _)| *b);
                Some(ListFilter::AclCat(cat))
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                Some(ListFilter::Pattern(arg))
            } else {
                return Reply::error(errors::SYNTAX);
            }
        }
        _ => return Reply::error(errors::SYNTAX),
    };
    let keep = |s: &CommandSpec| match &filter {
        None => true,
        // raftis loads no modules.
        Some(ListFilter::Module) => false,
        Some(ListFilter::AclCat(cat)) => cat.is_some_and(|c| s.acl & c != 0),
        Some(ListFilter::Pattern(p)) => glob_match(p, s.name.as_bytes(), true),
    };
    Reply::Array(
        all_specs()
            .filter(|s| keep(s))
            .map(|s| bulk(s.name))
            .collect(),
    )
}

/// COMMAND GETKEYS / GETKEYSANDFLAGS on the command line `cmd` (Redis's
/// `getKeysSubcommandImpl`).
fn getkeys(cmd: &[Bytes], with_flags: bool) -> Reply {
    let found = super::lookup(&cmd[0]).and_then(|base| {
        if cmd.len() == 1 || base.subcommands.is_empty() {
            Some(base)
        } else {
            lookup_full(&[&cmd[0][..], b"|", &cmd[1][..]].concat())
        }
    });
    let Some(spec) = found else {
        return Reply::error(errors::GETKEYS_INVALID_COMMAND);
    };
    if !spec.has_keys() {
        return Reply::error(errors::GETKEYS_NO_KEYS);
    }
    if !super::arity_ok(spec, cmd.len()) {
        return Reply::error(errors::GETKEYS_BAD_ARITY);
    }
    let mut keys = Vec::new();
    if !for_each_key(spec, cmd, |i, flags| keys.push((i, flags))) {
        return if spec.has(super::flag::NO_MANDATORY_KEYS) {
            Reply::Array(vec![])
        } else {
            Reply::error(errors::GETKEYS_BAD_ARGS)
        };
    }
    Reply::Array(
        keys.into_iter()
            .map(|(i, flags)| {
                let k = Reply::Bulk(cmd[i].clone());
                if with_flags {
                    Reply::Array(vec![k, super::spec::flag_set(flags, key::NAMES, "")])
                } else {
                    k
                }
            })
            .collect(),
    )
}
