//! The keyspace as bytes, for Raft snapshots: every key of every database with its deadline,
//! its LRU/LFU field and its value.
//!
//! Inline values (strings and small packed containers) are written as their exact bytes and
//! form, so OBJECT ENCODING reads the same after a restore. Big containers are written as their
//! elements and rebuilt in the same big form (a hash that grew past the listpack limits stays a
//! hashtable, as in Redis, even if it is small again). The element order of a rebuilt
//! hashtable may differ from the original's (replies Redis leaves unordered, and SCAN cursors,
//! may then differ between replicas); the data, and so DEBUG DIGEST, is identical.
//!
//! Format (little endian): per key `[db u32][key][deadline u64][lru u32][form u8][body]`, then
//! `[u32::MAX]`. `[x]` for bytes is `[len u32][bytes]`. Integrity (a checksum) and the snapshot's
//! metadata are the caller's (the node's snapshot file).
//!
//! The caller guarantees that no write runs while `serialize` does (the node's driver thread
//! pauses apply); concurrent readers are fine.

use bytes::Buf;

use super::hashes::FieldValue;
use super::lists::QuickList;
use super::table::Table;
use super::value::{Big, Entry, Kind};
use super::zsets::ZSkip;
use super::{hash_key, Item, Store};

const FORM_INLINE: u8 = 0;
const FORM_HASH: u8 = 1;
const FORM_SET: u8 = 2;
const FORM_ZSET: u8 = 3;
const FORM_LIST: u8 = 4;
const END: u32 = u32::MAX;

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn put_item(out: &mut Vec<u8>, it: &Item<'_>) {
    match it {
        Item::Bytes(b) => put_bytes(out, b),
        other => put_bytes(out, &other.to_vec()),
    }
}

fn put_entry(out: &mut Vec<u8>, db: u32, e: &Entry) {
    out.extend_from_slice(&db.to_le_bytes());
    put_bytes(out, e.key());
    out.extend_from_slice(&e.deadline_ms().to_le_bytes());
    out.extend_from_slice(
        &e.lru()
            .load(std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    if let Some(tag) = e.tag() {
        out.push(FORM_INLINE);
        out.push(tag as u8);
        put_bytes(out, e.payload());
        return;
    }
    match e.kind() {
        Kind::Hash => {
            let h = e.as_hash().expect("a hash");
            out.push(FORM_HASH);
            out.extend_from_slice(&(h.len() as u32).to_le_bytes());
            for (f, v) in h.iter() {
                put_item(out, &f);
                put_item(out, &v);
            }
        }
        Kind::Set => {
            let s = e.as_set().expect("a set");
            out.push(FORM_SET);
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            for m in s.iter() {
                put_item(out, &m);
            }
        }
        Kind::ZSet => {
            let z = e.as_zset().expect("a sorted set");
            out.push(FORM_ZSET);
            out.extend_from_slice(&(z.len() as u32).to_le_bytes());
            for (m, score) in z.iter() {
                put_item(out, &m);
                out.extend_from_slice(&score.to_bits().to_le_bytes());
            }
        }
        Kind::List => {
            let l = e.as_list().expect("a list");
            out.push(FORM_LIST);
            out.extend_from_slice(&(l.len() as u32).to_le_bytes());
            for it in l.iter() {
                put_item(out, &it);
            }
        }
        Kind::String => unreachable!("strings are always inline"),
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, String> {
        (self.0.remaining() >= 1)
            .then(|| self.0.get_u8())
            .ok_or_else(truncated)
    }
    fn u32(&mut self) -> Result<u32, String> {
        (self.0.remaining() >= 4)
            .then(|| self.0.get_u32_le())
            .ok_or_else(truncated)
    }
    fn u64(&mut self) -> Result<u64, String> {
        (self.0.remaining() >= 8)
            .then(|| self.0.get_u64_le())
            .ok_or_else(truncated)
    }
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return Err(truncated());
        }
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(b)
    }
}

fn truncated() -> String {
    "snapshot data truncated".to_string()
}

fn read_entry(r: &mut Reader<'_>, key: &[u8], deadline_ms: u64) -> Result<Entry, String> {
    let form = r.u8()?;
    let (kind, big) = match form {
        FORM_INLINE => {
            let tag = u32::from(r.u8()?);
            let payload = r.bytes()?;
            return Ok(Entry::inline(key, tag, payload, deadline_ms));
        }
        FORM_HASH => {
            let n = r.u32()?;
            let mut t = Table::new();
            for _ in 0..n {
                let (f, v) = (r.bytes()?, r.bytes()?);
                t.insert(FieldValue::new(f, v));
            }
            (Kind::Hash, Big::Hash(t))
        }
        FORM_SET => {
            let n = r.u32()?;
            let mut t = Table::new();
            for _ in 0..n {
                t.insert(Box::<[u8]>::from(r.bytes()?));
            }
            (Kind::Set, Big::Set(t))
        }
        FORM_ZSET => {
            let n = r.u32()?;
            let mut z = ZSkip::new();
            for _ in 0..n {
                let m = r.bytes()?;
                let score = f64::from_bits(r.u64()?);
                z.insert(score, m);
            }
            (Kind::ZSet, Big::ZSet(Box::new(z)))
        }
        FORM_LIST => {
            let n = r.u32()?;
            let mut items = Vec::with_capacity(n.min(1 << 20) as usize);
            for _ in 0..n {
                items.push(r.bytes()?);
            }
            (
                Kind::List,
                Big::List(QuickList::from_items(items.into_iter().map(Item::Bytes))),
            )
        }
        f => return Err(format!("unknown value form {f} in snapshot")),
    };
    let mut e = Entry::new_container(key, kind);
    e.set_deadline(deadline_ms);
    e.promote(big);
    Ok(e)
}

impl Store {
    /// Appends every key of every database to `out` (see the module header for the format
    /// and for what the caller must guarantee).
    pub fn serialize(&self, out: &mut Vec<u8>) {
        for db in 0..self.databases() as u32 {
            for i in self.db_shards(db) {
                let shard = self.slots[i as usize].0.read();
                for e in shard.dict.iter() {
                    put_entry(out, db, e);
                }
            }
        }
        out.extend_from_slice(&END.to_le_bytes());
    }

    /// A store holding what `serialize` wrote.
    pub fn deserialize(
        databases: usize,
        shards_per_db: usize,
        data: &[u8],
    ) -> Result<Store, String> {
        let store = Store::new(databases, shards_per_db);
        let mut r = Reader(data);
        loop {
            let db = r.u32()?;
            if db == END {
                break;
            }
            if db as usize >= databases {
                return Err(format!(
                    "snapshot holds database {db}; this node has {databases}"
                ));
            }
            let key = r.bytes()?;
            let deadline_ms = r.u64()?;
            let lru = r.u32()?;
            let e = read_entry(&mut r, key, deadline_ms)?;
            e.lru().store(lru, std::sync::atomic::Ordering::Relaxed);
            let h = hash_key(key);
            let mut shard = store.slots[store.shard_of(db, h) as usize].0.write();
            if deadline_ms != 0 {
                shard.volatile += 1;
            }
            if shard.dict.insert(h, e).is_some() {
                return Err("snapshot holds a key twice".to_string());
            }
        }
        if r.0.has_remaining() {
            return Err("trailing bytes after the snapshot's keys".to_string());
        }
        // The shards were filled directly: their memory counts are right, the totals not yet.
        store.recount();
        Ok(store)
    }

    /// Replaces the contents of every database with `other`'s. Readers see the old keyspace
    /// or the new one, never a mix: every shard is write-locked (in ascending order) before the
    /// first is swapped.
    pub fn replace_with(&self, other: Store) {
        assert_eq!(self.databases(), other.databases());
        assert_eq!(self.shards_per_db(), other.shards_per_db());
        let mut guards: Vec<_> = self.slots.iter().map(|s| s.0.write()).collect();
        let mut keys = 0;
        for (mine, theirs) in guards.iter_mut().zip(other.slots.iter()) {
            let mut theirs = theirs.0.write();
            std::mem::swap(&mut **mine, &mut *theirs);
            keys += theirs.dict.len();
        }
        drop(guards);
        // The shards moved with their own memory counts; the store's totals follow them.
        self.recount();
        // `other` now holds the old keyspace: free it off this thread when it is large.
        super::lazyfree::free(other, keys * 64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command;
    use crate::machine::{self, NoEffects, Op};
    use bytes::Bytes;

    fn run(store: &Store, index: u64, cmds: &[&[&str]]) {
        let ops: Vec<Op> = cmds
            .iter()
            .map(|c| Op::Command {
                db: 0,
                args: c
                    .iter()
                    .map(|s| Bytes::copy_from_slice(s.as_bytes()))
                    .collect(),
            })
            .collect();
        let mut replies = Vec::new();
        machine::apply(
            store,
            index,
            &machine::encode(1000, &ops),
            &mut replies,
            &mut NoEffects,
        );
        for r in replies {
            assert!(!r.is_error(), "{r:?}");
        }
    }

    fn encoding(store: &Store, key: &str) -> Bytes {
        let args = [
            Bytes::from_static(b"OBJECT"),
            Bytes::from_static(b"ENCODING"),
            Bytes::copy_from_slice(key.as_bytes()),
        ];
        let spec = command::resolve(&args).unwrap();
        match command::execute_read(store, spec, 0, 2000, &args) {
            crate::reply::Reply::Bulk(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_type_and_form_survives_a_round_trip() {
        let a = Store::new(4, 8);
        let long = "x".repeat(100);
        let mut big_hash = vec!["HSET", "bighash"];
        let fields: Vec<String> = (0..300).map(|i| format!("f{i}")).collect();
        for f in &fields {
            big_hash.push(f);
            big_hash.push("v");
        }
        let members: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
        let mut big_set = vec!["SADD", "bigset"];
        big_set.extend(members.iter().map(String::as_str));
        run(
            &a,
            1,
            &[
                &["SET", "s", "hello", "PX", "99000"],
                &["SET", "n", "12345"],
                &["APPEND", "raw", "x"],
                &["APPEND", "raw", "y"],
                &["HSET", "h", "a", "1", "b", "2"],
                &big_hash,
                &["HSET", "grown", "f", &long],
                &["HSET", "grown", "g", "1"],
                &["HDEL", "grown", "f"],
                &["SADD", "ints", "1", "2", "3"],
                &["SADD", "strs", "a", "b"],
                &big_set,
            ],
        );
        let mut data = Vec::new();
        a.serialize(&mut data);
        let b = Store::deserialize(4, 8, &data).unwrap();
        assert_eq!(a.digest(), b.digest());
        // The memory counts are right in the restored store (inline forms cost the same).
        b.check_accounting();
        assert_eq!(b.db_counts(0), a.db_counts(0));
        for key in [
            "s", "n", "raw", "h", "bighash", "grown", "ints", "strs", "bigset",
        ] {
            assert_eq!(encoding(&a, key), encoding(&b, key), "{key}");
        }
        assert_eq!(encoding(&b, "grown"), Bytes::from_static(b"hashtable"));
        // A different shard count gives the same data.
        let c = Store::deserialize(4, 3, &data).unwrap();
        assert_eq!(a.digest(), c.digest());
    }

    #[test]
    fn replace_with_swaps_the_whole_keyspace() {
        let a = Store::new(2, 4);
        run(&a, 1, &[&["SET", "old", "1"]]);
        let b = Store::new(2, 4);
        run(
            &b,
            1,
            &[&["SET", "new", "2"], &["SET", "k", "v", "PX", "5000"]],
        );
        let want = b.digest();
        let used = b.memory();
        a.replace_with(b);
        assert_eq!(a.digest(), want);
        assert_eq!(a.db_stats(0), (2, 1));
        // The store's totals follow the shards it took.
        a.check_accounting();
        assert_eq!(a.memory().dataset, used.dataset);
        assert_eq!(a.db_counts(0), (2, 1));
    }

    #[test]
    fn damaged_data_is_an_error_not_a_panic() {
        let a = Store::new(2, 2);
        run(&a, 1, &[&["SET", "k", "v"], &["HSET", "h", "f", "v"]]);
        let mut data = Vec::new();
        a.serialize(&mut data);
        for cut in 0..data.len() {
            assert!(
                Store::deserialize(2, 2, &data[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        assert!(Store::deserialize(1, 2, &[0, 0, 0, 5]).is_err());
    }
}
