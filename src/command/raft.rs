//! raftis's own commands, which Redis does not have: Raft membership and leadership. Written
//! by hand (the generated table holds only what redis-server itself describes) and answered by
//! the server module, which calls the node; listed by COMMAND like every other command.
//!
//! - `RAFT.NODE ADD <id> <host:port[@busport]>`: a new node joins as a learner.
//! - `RAFT.NODE PROMOTE <id>`: a learner that has caught up becomes a voter.
//! - `RAFT.NODE REMOVE <id>`: a voter or learner leaves.
//! - `RAFT.TRANSFER-LEADER [<id>]`: hand leadership to a voter (the most up-to-date one by
//!   default) and reply once it leads.

use super::spec::*;
use super::Exec;

const fn arg(name: &'static str, kind: ArgType, flags: u32) -> Arg {
    Arg {
        name,
        kind,
        key_spec_index: -1,
        token: None,
        summary: None,
        since: None,
        deprecated_since: None,
        flags,
        args: &[],
    }
}

const fn docs(summary: &'static str, args: &'static [Arg]) -> Docs {
    Docs {
        summary: Some(summary),
        since: Some("0.1.0"),
        group: "server",
        complexity: Some("O(1)"),
        doc_flags: 0,
        deprecated_since: None,
        replaced_by: None,
        history: &[],
        args,
    }
}

const fn admin(
    name: &'static str,
    arity: i32,
    docs: Docs,
    subcommands: &'static [CommandSpec],
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: flag::ADMIN | flag::NOSCRIPT | flag::NO_MULTI,
        first_key: 0,
        last_key: 0,
        step: 0,
        acl: acl::ADMIN | acl::SLOW | acl::DANGEROUS,
        tips: &[],
        key_specs: &[],
        docs,
        subcommands,
        getkeys: None,
        exec: Exec::Session,
    }
}

/// Sorted by name, like the generated table (subcommands too).
pub(super) static COMMANDS: &[CommandSpec] = &[
    admin(
        "raft.node",
        -2,
        docs("A container for Raft membership commands", &[]),
        &[
            admin(
                "raft.node|add",
                4,
                docs(
                    "Adds a node to the group as a learner",
                    &[
                        arg("id", ArgType::Integer, 0),
                        arg("address", ArgType::String, 0),
                    ],
                ),
                &[],
            ),
            admin(
                "raft.node|promote",
                3,
                docs(
                    "Makes a learner that has caught up a voter",
                    &[arg("id", ArgType::Integer, 0)],
                ),
                &[],
            ),
            admin(
                "raft.node|remove",
                3,
                docs(
                    "Removes a voter or learner from the group",
                    &[arg("id", ArgType::Integer, 0)],
                ),
                &[],
            ),
        ],
    ),
    admin(
        "raft.transfer-leader",
        -1,
        docs(
            "Hands leadership to another voter and waits until it leads",
            &[arg("id", ArgType::Integer, arg::OPTIONAL)],
        ),
        &[],
    ),
];
