//! Snapshot files: the keyspace at a log index, with the Raft metadata needed to continue the
//! log after it.
//!
//! Layout: `RAFTISNP` magic, format version u32, index u64, term u64, membership (`[len
//! u32][Membership::encode]`), databases u32, keyspace length u64, the keyspace
//! (`Store::serialize`), then a crc32 of every byte before it. A file is written whole to a
//! temporary name, synced, renamed into place and its directory synced, so `snapshot` in the
//! data directory is always a complete, checked snapshot (or absent).
//!
//! A follower receives the same bytes from the leader in chunks into `snapshot.recv` and
//! checks them the same way before it installs them.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::{Buf, BufMut};

use crate::raft::{Membership, SnapshotMeta};

const MAGIC: &[u8; 8] = b"RAFTISNP";
const VERSION: u32 = 1;
pub const FILE_NAME: &str = "snapshot";
pub const RECV_NAME: &str = "snapshot.recv";

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The whole file's bytes for a snapshot of `keyspace` taken at `meta`.
#[cfg(test)]
pub fn encode(meta: &SnapshotMeta, time_ms: u64, databases: usize, keyspace: &[u8]) -> Vec<u8> {
    let (head, crc) = frame(meta, time_ms, databases, keyspace);
    let mut out = Vec::with_capacity(head.len() + keyspace.len() + crc.len());
    out.put_slice(&head);
    out.put_slice(keyspace);
    out.put_slice(&crc);
    out
}

/// What goes before and after `keyspace` in the file: the header, and the CRC of both.
/// `write_parts(dir, &[&head, keyspace, &crc])` writes the same file as `encode` without
/// copying a keyspace that may be most of the node's memory.
pub fn frame(
    meta: &SnapshotMeta,
    time_ms: u64,
    databases: usize,
    keyspace: &[u8],
) -> (Vec<u8>, [u8; 4]) {
    let members = meta.membership.encode();
    let mut head = Vec::with_capacity(members.len() + 64);
    head.put_slice(MAGIC);
    head.put_u32_le(VERSION);
    head.put_u64_le(meta.index);
    head.put_u64_le(meta.term);
    head.put_u32_le(members.len() as u32);
    head.put_slice(&members);
    head.put_u64_le(time_ms);
    head.put_u32_le(databases as u32);
    head.put_u64_le(keyspace.len() as u64);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&head);
    crc.update(keyspace);
    (head, crc.finalize().to_le_bytes())
}

/// What a snapshot file says besides the keyspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub meta: SnapshotMeta,
    /// The time of the last entry it covers: a new leader never stamps an earlier one.
    pub time_ms: u64,
    pub databases: usize,
}

/// Checks a whole file's bytes: its header and where the keyspace lies.
pub fn decode(bytes: &[u8]) -> Result<(Header, std::ops::Range<usize>), String> {
    if bytes.len() < MAGIC.len() + 4 + 8 + 8 + 4 + 8 + 4 + 8 + 4 {
        return Err("snapshot file too short".into());
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err("snapshot checksum mismatch".into());
    }
    let mut r = body;
    if &r[..8] != MAGIC {
        return Err("not a raftis snapshot".into());
    }
    r.advance(8);
    let version = r.get_u32_le();
    if version != VERSION {
        return Err(format!(
            "snapshot format version {version} is not supported"
        ));
    }
    let index = r.get_u64_le();
    let term = r.get_u64_le();
    let mlen = r.get_u32_le() as usize;
    if r.remaining() < mlen + 20 {
        return Err("snapshot file truncated".into());
    }
    let membership = Membership::decode(&r[..mlen]).ok_or("bad membership in snapshot")?;
    r.advance(mlen);
    let time_ms = r.get_u64_le();
    let databases = r.get_u32_le() as usize;
    let klen = r.get_u64_le() as usize;
    if r.remaining() != klen {
        return Err("snapshot keyspace length mismatch".into());
    }
    let start = body.len() - klen;
    let meta = SnapshotMeta {
        index,
        term,
        membership,
    };
    Ok((
        Header {
            meta,
            time_ms,
            databases,
        },
        start..body.len(),
    ))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes the concatenation of `parts` as the data directory's snapshot, atomically (a
/// temporary file, synced, renamed into place, the directory synced).
pub fn write_parts(dir: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let tmp = dir.join("snapshot.tmp");
    {
        let mut f = File::create(&tmp)?;
        for part in parts {
            f.write_all(part)?;
        }
        f.sync_all()?;
    }
    fs::rename(&tmp, path(dir))?;
    sync_dir(dir)
}

/// Reads and checks the data directory's snapshot, if there is one.
pub fn read(dir: &Path) -> Result<Option<Vec<u8>>, String> {
    match fs::read(path(dir)) {
        Ok(b) => {
            decode(&b).map_err(|e| format!("{}: {e}", path(dir).display()))?;
            Ok(Some(b))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("can't read {}: {e}", path(dir).display())),
    }
}

/// A snapshot being received from the leader, chunk by chunk.
pub struct Receiving {
    pub index: u64,
    pub received: u64,
    file: File,
}

impl Receiving {
    pub fn start(dir: &Path, index: u64) -> io::Result<Receiving> {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(dir.join(RECV_NAME))?;
        Ok(Receiving {
            index,
            received: 0,
            file,
        })
    }

    pub fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.received += data.len() as u64;
        Ok(())
    }

    /// Syncs the received file and returns its bytes, checked.
    pub fn finish(self, dir: &Path) -> Result<Vec<u8>, String> {
        self.file.sync_all().map_err(|e| e.to_string())?;
        drop(self.file);
        let bytes = fs::read(dir.join(RECV_NAME)).map_err(|e| e.to_string())?;
        decode(&bytes)?;
        Ok(bytes)
    }

    /// Makes the received file the data directory's snapshot.
    pub fn install(dir: &Path) -> io::Result<()> {
        fs::rename(dir.join(RECV_NAME), path(dir))?;
        sync_dir(dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detected() {
        let mut m = Membership::default();
        m.voters.insert(1, "h:1@2".into());
        let meta = SnapshotMeta {
            index: 42,
            term: 3,
            membership: m,
        };
        let bytes = encode(&meta, 77, 16, b"keyspace bytes");
        let (h, range) = decode(&bytes).unwrap();
        assert_eq!(
            h,
            Header {
                meta,
                time_ms: 77,
                databases: 16
            }
        );
        assert_eq!(&bytes[range], b"keyspace bytes");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            assert!(decode(&bad).is_err(), "flip at {i} not detected");
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn write_then_read_and_receive_in_chunks() {
        let dir = std::env::temp_dir().join(format!("raftis-snapfile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        assert!(read(&dir).unwrap().is_none());
        let meta = SnapshotMeta {
            index: 7,
            term: 1,
            membership: Membership::default(),
        };
        let keyspace = [9u8; 1000];
        let bytes = encode(&meta, 5, 2, &keyspace);
        let (head, crc) = frame(&meta, 5, 2, &keyspace);
        write_parts(&dir, &[&head, &keyspace, &crc]).unwrap();
        assert_eq!(read(&dir).unwrap().unwrap(), bytes);
        let mut r = Receiving::start(&dir, 7).unwrap();
        for c in bytes.chunks(100) {
            r.append(c).unwrap();
        }
        assert_eq!(r.finish(&dir).unwrap(), bytes);
        Receiving::install(&dir).unwrap();
        assert_eq!(read(&dir).unwrap().unwrap(), bytes);
        fs::remove_dir_all(&dir).unwrap();
    }
}
