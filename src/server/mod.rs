//! The front end: everything between a client's socket and the node.
//!
//! It owns request framing (RESP2 multibulk and inline commands), reply encoding for the
//! protocol version each client chose, and per-client session state. It knows nothing of Raft
//! beyond asking the node to read or to write; it never touches the store directly.
//!
//! Invariant: replies leave a connection in the order its commands arrived.

pub mod protocol;
