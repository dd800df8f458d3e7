//! Sorted set values: a listpack of member, score, member, score... in (score, member) order
//! while small, a skiplist indexed by a member table past Redis's limits (t_zset.c).
//!
//! The skiplist is Redis's (`zslInsert`, `zslDeleteNode`, `zslGetRank`, ...: spans give ranks
//! in O(log n)), with its nodes stored in the member `Table`: a node's index in the table is
//! its address, so one allocation per member holds the member bytes and its levels, and the
//! member lookup (ZSCORE, ZSCAN) and the order (ZRANGE, ZRANK) share it. When a removal moves
//! the table's last node into the hole, the links to it are rewritten (`fix_moved`).
//!
//! Order: by score, then by member bytes (memcmp), as Redis. Scores are never NaN (commands
//! refuse NaN before they get here).
//!
//! Determinism: node levels come from a generator seeded with a constant and advanced once per
//! insert, so replicas that applied the same writes build the same skiplist; the replies never
//! depend on levels anyway, only the speed does.
//!
//! Conversions: a packed set converts to a skiplist when a new member would make it longer than
//! `ZSET_MAX_LISTPACK_ENTRIES` or is longer than `ZSET_MAX_LISTPACK_VALUE` bytes (`insert`), or
//! when a command asks before adding (`ZSetMut::reserve(size_hint, max_len)`): Redis 7.0's ZADD
//! creates a missing key as a skiplist when its *first* member is longer than the value limit
//! (`reserve(0, first.len())`; it ignores how many members follow), and its *STORE commands
//! size the result (`reserve(n, longest)`). `shrink_to_fit` converts back when a result fits
//! (Redis's `zsetConvertToListpackIfNeeded`).
//!
//! Not here: parsing ranges and options, replies (the sorted set commands).

use std::cmp::Ordering;

use super::mem::alloc_size;
use super::pack::{self, Item};
use super::table::{Keyed, Moved, Table};
use super::value::{Big, Entry, TAG_ZSET_PACK};

pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
pub const ZSET_MAX_LISTPACK_VALUE: usize = 64;

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
/// The skiplist's header, as a node address.
const HEAD: u32 = u32::MAX - 1;

/// A score interval (ZRANGEBYSCORE's min and max, `(` making a bound exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    #[inline]
    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    #[inline]
    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }

    /// Whether no score can be in the range (Redis's `zslIsInRange` first test).
    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }
}

/// One end of a lexicographic interval (ZRANGEBYLEX's `-`, `+`, `[x`, `(x`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LexBound<'a> {
    NegInf,
    PosInf,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

/// A lexicographic interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexRange<'a> {
    pub min: LexBound<'a>,
    pub max: LexBound<'a>,
}

impl LexRange<'_> {
    pub fn gte_min(&self, v: &[u8]) -> bool {
        match self.min {
            LexBound::NegInf => true,
            LexBound::PosInf => false,
            LexBound::Incl(m) => v >= m,
            LexBound::Excl(m) => v > m,
        }
    }

    pub fn lte_max(&self, v: &[u8]) -> bool {
        match self.max {
            LexBound::PosInf => true,
            LexBound::NegInf => false,
            LexBound::Incl(m) => v <= m,
            LexBound::Excl(m) => v < m,
        }
    }

    /// Whether no string can be in the range (Redis's `zslIsInLexRange` first test: `-` and
    /// `+` are exclusive infinities).
    pub fn is_empty(&self) -> bool {
        fn parts<'b>(b: LexBound<'b>) -> (i8, &'b [u8], bool) {
            match b {
                LexBound::NegInf => (-1, &[], true),
                LexBound::PosInf => (1, &[], true),
                LexBound::Incl(m) => (0, m, false),
                LexBound::Excl(m) => (0, m, true),
            }
        }
        let (a, am, aex) = parts(self.min);
        let (b, bm, bex) = parts(self.max);
        let cmp = a
            .cmp(&b)
            .then_with(|| if a == 0 { am.cmp(bm) } else { Ordering::Equal });
        cmp == Ordering::Greater || (cmp == Ordering::Equal && (aex || bex))
    }
}

/// What `ZSetMut::insert` did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Inserted {
    Added,
    /// The member was there with this other score.
    Updated(f64),
    /// The member was there with the same score.
    Unchanged,
}

/// A skiplist node: `blob` is the level count (one byte), then (forward, span) per level as
/// little-endian u32s, then the member bytes.
#[derive(Clone)]
struct ZNode {
    blob: Box<[u8]>,
    score: f64,
    backward: u32,
}

impl ZNode {
    fn new(member: &[u8], score: f64, levels: &[(u32, u32)], backward: u32) -> ZNode {
        let mut b = Vec::with_capacity(1 + levels.len() * 8 + member.len());
        b.push(levels.len() as u8);
        for &(f, s) in levels {
            b.extend_from_slice(&f.to_le_bytes());
            b.extend_from_slice(&s.to_le_bytes());
        }
        b.extend_from_slice(member);
        ZNode {
            blob: b.into_boxed_slice(),
            score,
            backward,
        }
    }

    #[inline]
    fn levels(&self) -> usize {
        usize::from(self.blob[0])
    }

    #[inline]
    fn word(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.blob[at..at + 4].try_into().expect("4 bytes"))
    }

    #[inline]
    fn set_word(&mut self, at: usize, v: u32) {
        self.blob[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[inline]
    fn forward(&self, i: usize) -> u32 {
        self.word(1 + i * 8)
    }

    #[inline]
    fn span(&self, i: usize) -> u32 {
        self.word(5 + i * 8)
    }

    #[inline]
    fn member(&self) -> &[u8] {
        &self.blob[1 + self.levels() * 8..]
    }
}

impl Keyed for ZNode {
    #[inline]
    fn key(&self) -> &[u8] {
        self.member()
    }

    fn heap_bytes(&self) -> usize {
        alloc_size(self.blob.len())
    }
}

#[derive(Clone, Copy)]
struct Level {
    forward: u32,
    span: u32,
}

/// The skiplist form.
#[derive(Clone)]
pub struct ZSkip {
    nodes: Table<ZNode>,
    head: [Level; MAX_LEVEL],
    tail: u32,
    level: usize,
    rng: u64,
}

/// (score, member) of a node against (score, member): the skiplist's order.
#[inline]
fn cmp_key(score: f64, member: &[u8], s: f64, m: &[u8]) -> Ordering {
    score
        .partial_cmp(&s)
        .unwrap_or(Ordering::Equal)
        .then_with(|| member.cmp(m))
}

impl ZSkip {
    pub(super) fn new() -> ZSkip {
        ZSkip {
            nodes: Table::new(),
            head: [Level {
                forward: NIL,
                span: 0,
            }; MAX_LEVEL],
            tail: NIL,
            level: 1,
            rng: 0x853c_49e6_748f_ea9b,
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    #[inline]
    fn fwd(&self, x: u32, i: usize) -> u32 {
        if x == HEAD {
            self.head[i].forward
        } else {
            self.nodes.get(x).forward(i)
        }
    }

    #[inline]
    fn span(&self, x: u32, i: usize) -> u32 {
        if x == HEAD {
            self.head[i].span
        } else {
            self.nodes.get(x).span(i)
        }
    }

    fn set_fwd(&mut self, x: u32, i: usize, v: u32) {
        if x == HEAD {
            self.head[i].forward = v;
        } else {
            self.nodes.get_mut(x).set_word(1 + i * 8, v);
        }
    }

    fn set_span(&mut self, x: u32, i: usize, v: u32) {
        if x == HEAD {
            self.head[i].span = v;
        } else {
            self.nodes.get_mut(x).set_word(5 + i * 8, v);
        }
    }

    #[inline]
    fn node(&self, x: u32) -> &ZNode {
        self.nodes.get(x)
    }

    /// Redis's `zslRandomLevel` (p = 1/4), from the list's own generator (xorshift64*).
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
            // Two bits per level: 1 in 4 goes up.
            let mut bits = r;
            for _ in 0..32 {
                if level >= MAX_LEVEL || bits & 3 != 0 {
                    return level;
                }
                level += 1;
                bits >>= 2;
            }
        }
    }

    /// Whether node `x` sorts before (s, m).
    #[inline]
    fn before(&self, x: u32, s: f64, m: &[u8]) -> bool {
        let n = self.node(x);
        cmp_key(n.score, n.member(), s, m) == Ordering::Less
    }

    /// Insert a member that is not in the list (`zslInsert`). Returns its address.
    pub(super) fn insert(&mut self, score: f64, member: &[u8]) -> u32 {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let f = self.fwd(x, i);
                if f == NIL || !self.before(f, score, member) {
                    break;
                }
                rank[i] += self.span(x, i);
                x = f;
            }
            update[i] = x;
        }
        let lvl = self.random_level();
        let len = self.len() as u32;
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                self.head[i].span = len;
            }
            self.level = lvl;
        }
        let idx = len;
        let mut levels = [(0u32, 0u32); MAX_LEVEL];
        for i in 0..lvl {
            levels[i] = (
                self.fwd(update[i], i),
                self.span(update[i], i) - (rank[0] - rank[i]),
            );
        }
        let backward = if update[0] == HEAD { NIL } else { update[0] };
        let got = self
            .nodes
            .insert(ZNode::new(member, score, &levels[..lvl], backward));
        debug_assert_eq!(got, idx);
        for (i, &u) in update.iter().enumerate().take(lvl) {
            self.set_fwd(u, i, idx);
            self.set_span(u, i, rank[0] - rank[i] + 1);
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            let s = self.span(u, i);
            self.set_span(u, i, s + 1);
        }
        let f0 = self.fwd(idx, 0);
        if f0 != NIL {
            self.nodes.get_mut(f0).backward = idx;
        } else {
            self.tail = idx;
        }
        idx
    }

    /// The update vector for (s, m): at each level, the last node before it.
    fn predecessors(&self, s: f64, m: &[u8]) -> [u32; MAX_LEVEL] {
        let mut update = [HEAD; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL || !self.before(f, s, m) {
                    break;
                }
                x = f;
            }
            update[i] = x;
        }
        update
    }

    /// Unlink node `x` given its predecessors (`zslDeleteNode`), then drop it from the table.
    fn delete_node(&mut self, x: u32, update: &[u32; MAX_LEVEL]) -> ZNode {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            if self.fwd(u, i) == x {
                let s = self.span(u, i) + self.span(x, i) - 1;
                self.set_span(u, i, s);
                let f = self.fwd(x, i);
                self.set_fwd(u, i, f);
            } else {
                let s = self.span(u, i) - 1;
                self.set_span(u, i, s);
            }
        }
        let f0 = self.fwd(x, 0);
        let back = self.node(x).backward;
        if f0 != NIL {
            self.nodes.get_mut(f0).backward = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.head[self.level - 1].forward == NIL {
            self.level -= 1;
        }
        let (node, moved) = self.nodes.remove(x);
        if let Some(m) = moved {
            self.fix_moved(m);
        }
        node
    }

    /// After the table moved a node, point its predecessors and successor at its new address.
    fn fix_moved(&mut self, Moved { from, to }: Moved) {
        let (s, levels) = (self.node(to).score, self.node(to).levels());
        let m = self.node(to).member().to_vec();
        let map = |p: u32| if p == from { to } else { p };
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = map(self.fwd(x, i));
                if f == NIL || f == to || !self.before(f, s, &m) {
                    break;
                }
                x = f;
            }
            if i < levels {
                debug_assert_eq!(self.fwd(x, i), from);
                self.set_fwd(x, i, to);
            }
        }
        let f0 = self.fwd(to, 0);
        if f0 != NIL {
            self.nodes.get_mut(f0).backward = to;
        } else {
            self.tail = to;
        }
    }

    /// Remove member `m` whose score is `s`.
    fn remove(&mut self, s: f64, m: &[u8]) -> Option<ZNode> {
        let update = self.predecessors(s, m);
        let x = self.fwd(update[0], 0);
        if x == NIL || self.node(x).member() != m {
            return None;
        }
        Some(self.delete_node(x, &update))
    }

    /// Change the score of member `m` from `old` to `new` (`zslUpdateScore`).
    fn update_score(&mut self, old: f64, m: &[u8], new: f64) {
        let update = self.predecessors(old, m);
        let x = self.fwd(update[0], 0);
        debug_assert!(x != NIL && self.node(x).member() == m);
        let back = self.node(x).backward;
        let next = self.fwd(x, 0);
        if (back == NIL || self.node(back).score < new)
            && (next == NIL || self.node(next).score > new)
        {
            self.nodes.get_mut(x).score = new;
            return;
        }
        self.delete_node(x, &update);
        self.insert(new, m);
    }

    /// 1-based rank of member `m` with score `s` (`zslGetRank`), 0 if absent.
    fn rank_of(&self, s: f64, m: &[u8]) -> usize {
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL {
                    break;
                }
                let n = self.node(f);
                if cmp_key(n.score, n.member(), s, m) == Ordering::Greater {
                    break;
                }
                rank += self.span(x, i) as usize;
                x = f;
            }
            if x != HEAD && self.node(x).member() == m {
                return rank;
            }
        }
        0
    }

    /// The node at 1-based `rank` (`zslGetElementByRank`), NIL if out of range.
    fn by_rank(&self, rank: usize) -> u32 {
        if rank == 0 || rank > self.len() {
            return NIL;
        }
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL || traversed + self.span(x, i) as usize > rank {
                    break;
                }
                traversed += self.span(x, i) as usize;
                x = f;
            }
            if traversed == rank {
                return x;
            }
        }
        NIL
    }

    /// First node whose score is in `r`, NIL if none (`zslFirstInRange`).
    fn first_in_score(&self, r: &ScoreRange) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL || r.gte_min(self.node(f).score) {
                    break;
                }
                x = f;
            }
        }
        let x = self.fwd(x, 0);
        if x == NIL || !r.lte_max(self.node(x).score) {
            return NIL;
        }
        x
    }

    /// Last node whose score is in `r`, NIL if none (`zslLastInRange`).
    fn last_in_score(&self, r: &ScoreRange) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL || !r.lte_max(self.node(f).score) {
                    break;
                }
                x = f;
            }
        }
        if x == HEAD || !r.gte_min(self.node(x).score) {
            return NIL;
        }
        x
    }

    fn first_in_lex(&self, r: &LexRange<'_>) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL || r.gte_min(self.node(f).member()) {
                    break;
                }
                x = f;
            }
        }
        let x = self.fwd(x, 0);
        if x == NIL || !r.lte_max(self.node(x).member()) {
            return NIL;
        }
        x
    }

    fn last_in_lex(&self, r: &LexRange<'_>) -> u32 {
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL || !r.lte_max(self.node(f).member()) {
                    break;
                }
                x = f;
            }
        }
        if x == HEAD || !r.gte_min(self.node(x).member()) {
            return NIL;
        }
        x
    }

    /// Heap bytes of the nodes and their table, as the allocator counts them. O(1).
    pub(super) fn heap_bytes(&self) -> usize {
        self.nodes.heap_bytes()
    }

    #[cfg(test)]
    pub(super) fn walk_heap_bytes(&self) -> usize {
        self.nodes.walk_heap_bytes()
    }
}

/// The listpack entry of a score: an integer when Redis's `double2ll` takes it (whole and
/// within +-LLONG_MAX/2, so 1e17 is packed as the integer 100000000000000000, which ZSCAN
/// shows), else the double. -0 is the integer 0: a packed -0 reads back as 0 (a skiplist keeps
/// -0), as in Redis.
fn score_item(s: f64) -> Item<'static> {
    const LIMIT: f64 = 4_611_686_018_427_387_904.0;
    if (-LIMIT..=LIMIT).contains(&s) && (s as i64) as f64 == s {
        Item::Int(s as i64)
    } else {
        Item::Float(s)
    }
}

/// Byte offsets (member entry, score entry, end of score entry) and the score of `member`.
fn pack_find(buf: &[u8], member: &[u8]) -> Option<(usize, usize, usize, f64)> {
    let needle = Item::of(member);
    let mut pos = 0;
    while pos < buf.len() {
        let (m, spos) = pack::read(buf, pos);
        let (s, end) = pack::read(buf, spos);
        if m.matches(&needle) {
            return Some((pos, spos, end, s.as_f64()));
        }
        pos = end;
    }
    None
}

/// Byte offset where (score, member) goes in a packed set.
fn pack_insert_pos(buf: &[u8], score: f64, member: &[u8]) -> usize {
    let mut pos = 0;
    while pos < buf.len() {
        let (m, spos) = pack::read(buf, pos);
        let (s, end) = pack::read(buf, spos);
        let sc = s.as_f64();
        if sc > score || (sc == score && m.cmp_bytes(member) == Ordering::Greater) {
            return pos;
        }
        pos = end;
    }
    buf.len()
}

/// A sorted set, read only.
#[derive(Clone, Copy)]
pub enum ZSetRef<'a> {
    /// member, score, member, score... ascending.
    Pack(&'a [u8]),
    Skip(&'a ZSkip),
}

impl<'a> ZSetRef<'a> {
    pub(super) fn of(e: &'a Entry) -> ZSetRef<'a> {
        match e.big() {
            Some(Big::ZSet(z)) => ZSetRef::Skip(z),
            _ => ZSetRef::Pack(e.payload()),
        }
    }

    /// Whether the set is packed (ZSCAN then returns it whole, cursor 0).
    pub fn is_packed(&self) -> bool {
        matches!(self, ZSetRef::Pack(_))
    }

    pub fn len(&self) -> usize {
        match self {
            ZSetRef::Pack(b) => pack::count(b) / 2,
            ZSetRef::Skip(z) => z.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSetRef::Pack(b) => pack_find(b, member).map(|(.., s)| s),
            ZSetRef::Skip(z) => z.nodes.find(member).map(|i| z.node(i).score),
        }
    }

    /// 0-based rank of `member` (from the highest score when `rev`), with its score.
    pub fn rank(&self, member: &[u8], rev: bool) -> Option<(usize, f64)> {
        let len = self.len();
        let (r, s) = match self {
            ZSetRef::Pack(b) => {
                let needle = Item::of(member);
                let mut it = pack::Iter::new(b);
                let mut r = 0;
                loop {
                    let m = it.next()?;
                    let s = it.next()?.as_f64();
                    if m.matches(&needle) {
                        break (r, s);
                    }
                    r += 1;
                }
            }
            ZSetRef::Skip(z) => {
                let s = z.node(z.nodes.find(member)?).score;
                (z.rank_of(s, member) - 1, s)
            }
        };
        Some((if rev { len - 1 - r } else { r }, s))
    }

    /// Every (member, score), ascending.
    pub fn iter(&self) -> ZIter<'a> {
        self.from_rank(0, false)
    }

    /// (member, score) from 0-based `start` onwards, ascending, or descending from the
    /// highest score when `rev` (ZRANGE start stop [REV]; take `stop - start + 1`).
    pub fn from_rank(&self, start: usize, rev: bool) -> ZIter<'a> {
        let cursor = if start >= self.len() {
            Cursor::Done
        } else {
            match *self {
                ZSetRef::Pack(b) => {
                    if rev {
                        let mut it = pack::RevIter::new(b);
                        for _ in 0..start * 2 {
                            it.next();
                        }
                        Cursor::PackRev(it)
                    } else {
                        let pos = pack::offset_of(b, start * 2).unwrap_or(b.len());
                        Cursor::PackFwd(pack::Iter::at(b, pos))
                    }
                }
                ZSetRef::Skip(z) => {
                    let rank = if rev { z.len() - start } else { start + 1 };
                    Cursor::Skip {
                        z,
                        node: z.by_rank(rank),
                        rev,
                    }
                }
            }
        };
        ZIter {
            cursor,
            stop: Stop::Never,
        }
    }

    /// The members whose score is in `r`, ascending (from the highest score when `rev`).
    pub fn by_score(&self, r: ScoreRange, rev: bool) -> ZIter<'a> {
        if r.is_empty() {
            return ZIter::done();
        }
        let cursor = match *self {
            ZSetRef::Pack(b) => {
                pack_seek(b, rev, |_, s| if rev { r.lte_max(s) } else { r.gte_min(s) })
            }
            ZSetRef::Skip(z) => Cursor::Skip {
                z,
                node: if rev {
                    z.last_in_score(&r)
                } else {
                    z.first_in_score(&r)
                },
                rev,
            },
        };
        ZIter {
            cursor,
            stop: Stop::Score(r, rev),
        }
    }

    /// The members in the lexicographic range `r`, ascending (descending when `rev`). As in
    /// Redis, meaningful when all members have the same score.
    pub fn by_lex(&self, r: LexRange<'a>, rev: bool) -> ZIter<'a> {
        if r.is_empty() {
            return ZIter::done();
        }
        let cursor = match *self {
            ZSetRef::Pack(b) => pack_seek(b, rev, |m, _| {
                let mut buf = pack::IntBuf::default();
                let m = m.as_bytes(&mut buf);
                if rev {
                    r.lte_max(m)
                } else {
                    r.gte_min(m)
                }
            }),
            ZSetRef::Skip(z) => Cursor::Skip {
                z,
                node: if rev {
                    z.last_in_lex(&r)
                } else {
                    z.first_in_lex(&r)
                },
                rev,
            },
        };
        ZIter {
            cursor,
            stop: Stop::Lex(r, rev),
        }
    }

    /// How many members have a score in `r` (ZCOUNT).
    pub fn count_by_score(&self, r: ScoreRange) -> usize {
        match *self {
            ZSetRef::Skip(z) if !r.is_empty() => {
                let first = z.first_in_score(&r);
                if first == NIL {
                    return 0;
                }
                let last = z.last_in_score(&r);
                let n = z.node(first);
                let l = z.node(last);
                z.rank_of(l.score, l.member()) - z.rank_of(n.score, n.member()) + 1
            }
            _ => self.by_score(r, false).count(),
        }
    }

    /// How many members are in the lexicographic range `r` (ZLEXCOUNT).
    pub fn count_by_lex(&self, r: LexRange<'_>) -> usize {
        match *self {
            ZSetRef::Skip(z) if !r.is_empty() => {
                let first = z.first_in_lex(&r);
                if first == NIL {
                    return 0;
                }
                let last = z.last_in_lex(&r);
                let n = z.node(first);
                let l = z.node(last);
                z.rank_of(l.score, l.member()) - z.rank_of(n.score, n.member()) + 1
            }
            ZSetRef::Skip(_) => 0,
            ZSetRef::Pack(b) => {
                let mut n = 0;
                let mut it = pack::Iter::new(b);
                while let (Some(m), Some(_)) = (it.next(), it.next()) {
                    let mut buf = pack::IntBuf::default();
                    let m = m.as_bytes(&mut buf);
                    if r.gte_min(m) && r.lte_max(m) {
                        n += 1;
                    }
                }
                n
            }
        }
    }

    /// One step of ZSCAN over the skiplist's table: the (member, score) pairs of the bucket at
    /// `cursor`, and the next cursor. A packed set visits everything and returns 0.
    pub fn scan_step(&self, cursor: u64, mut visit: impl FnMut(Item<'a>, f64)) -> u64 {
        match *self {
            ZSetRef::Pack(_) => {
                for (m, s) in self.iter() {
                    visit(m, s);
                }
                0
            }
            ZSetRef::Skip(z) => z
                .nodes
                .scan(cursor, |n| visit(Item::Bytes(n.member()), n.score)),
        }
    }
}

/// A cursor at the first entry (in the direction) for which `at_or_after(member, score)`
/// holds: forward, the first with the predicate true; backward, the last.
fn pack_seek<'a>(buf: &'a [u8], rev: bool, pred: impl Fn(Item<'a>, f64) -> bool) -> Cursor<'a> {
    if rev {
        let mut it = pack::RevIter::new(buf);
        loop {
            let end = it.end();
            let (Some(s), Some(m)) = (it.next(), it.next()) else {
                return Cursor::Done;
            };
            if pred(m, s.as_f64()) {
                return Cursor::PackRev(pack::RevIter::at(buf, end));
            }
        }
    } else {
        let mut it = pack::Iter::new(buf);
        loop {
            let pos = it.pos();
            let (Some(m), Some(s)) = (it.next(), it.next()) else {
                return Cursor::Done;
            };
            if pred(m, s.as_f64()) {
                return Cursor::PackFwd(pack::Iter::at(buf, pos));
            }
        }
    }
}

enum Cursor<'a> {
    Done,
    PackFwd(pack::Iter<'a>),
    PackRev(pack::RevIter<'a>),
    Skip { z: &'a ZSkip, node: u32, rev: bool },
}

enum Stop<'a> {
    Never,
    /// The range and the direction (`true`: descending).
    Score(ScoreRange, bool),
    Lex(LexRange<'a>, bool),
}

/// Iterator over (member, score) in order; see `ZSetRef`'s range methods.
pub struct ZIter<'a> {
    cursor: Cursor<'a>,
    stop: Stop<'a>,
}

impl ZIter<'_> {
    fn done() -> ZIter<'static> {
        ZIter {
            cursor: Cursor::Done,
            stop: Stop::Never,
        }
    }
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (Item<'a>, f64);
    fn next(&mut self) -> Option<(Item<'a>, f64)> {
        let (m, s) = match &mut self.cursor {
            Cursor::Done => return None,
            Cursor::PackFwd(it) => {
                let m = it.next()?;
                (m, it.next()?.as_f64())
            }
            Cursor::PackRev(it) => {
                let s = it.next()?.as_f64();
                (it.next()?, s)
            }
            Cursor::Skip { z, node, rev } => {
                if *node == NIL {
                    return None;
                }
                let n = z.node(*node);
                *node = if *rev { n.backward } else { n.forward(0) };
                (Item::Bytes(n.member()), n.score)
            }
        };
        let inside = match &self.stop {
            Stop::Never => true,
            Stop::Score(r, false) => r.lte_max(s),
            Stop::Score(r, true) => r.gte_min(s),
            Stop::Lex(r, rev) => {
                let mut buf = pack::IntBuf::default();
                let mb = m.as_bytes(&mut buf);
                if *rev {
                    r.gte_min(mb)
                } else {
                    r.lte_max(mb)
                }
            }
        };
        if !inside {
            self.cursor = Cursor::Done;
            return None;
        }
        Some((m, s))
    }
}

/// A sorted set, for writing. Obtained from a live entry of kind ZSet.
pub struct ZSetMut<'a> {
    e: &'a mut Entry,
}

impl<'a> ZSetMut<'a> {
    pub(super) fn new(e: &'a mut Entry) -> ZSetMut<'a> {
        ZSetMut { e }
    }

    pub fn as_ref(&self) -> ZSetRef<'_> {
        ZSetRef::of(self.e)
    }

    pub fn len(&self) -> usize {
        self.as_ref().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_packed(&self) -> bool {
        self.e.tag() == Some(TAG_ZSET_PACK)
    }

    fn convert_to_skiplist(&mut self) {
        let mut z = ZSkip::new();
        for (m, s) in ZSetRef::Pack(self.e.payload()).iter() {
            z.insert(s, &m.to_vec());
        }
        self.e.promote(Big::ZSet(Box::new(z)));
    }

    /// Convert a new (or packed) set to a skiplist now if a command is about to add
    /// `size_hint` members, the longest `max_len` bytes long (Redis's `zsetTypeCreate`).
    pub fn reserve(&mut self, size_hint: usize, max_len: usize) {
        if self.is_packed()
            && (self.len() + size_hint > ZSET_MAX_LISTPACK_ENTRIES
                || max_len > ZSET_MAX_LISTPACK_VALUE)
        {
            self.convert_to_skiplist();
        }
    }

    /// Convert a skiplist back to a listpack if it fits the packed limits (Redis's
    /// `zsetConvertToListpackIfNeeded` with the set's own size and longest member).
    pub fn shrink_to_fit(&mut self) {
        let ZSetRef::Skip(z) = self.as_ref() else {
            return;
        };
        let fits = z.len() <= ZSET_MAX_LISTPACK_ENTRIES
            && z.nodes
                .iter()
                .all(|n| n.member().len() <= ZSET_MAX_LISTPACK_VALUE);
        if fits {
            let payload = pack::encode_all(
                ZSetRef::Skip(z)
                    .iter()
                    .flat_map(|(m, s)| [m, score_item(s)]),
            );
            self.e.demote(TAG_ZSET_PACK, &payload);
        }
    }

    /// Set `member`'s score to `score` (NaN is refused by the caller), adding it if absent.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Inserted {
        debug_assert!(!score.is_nan());
        if self.is_packed() {
            if let Some((mpos, _, end, old)) = pack_find(self.e.payload(), member) {
                // C's comparison, as Redis: -0 and 0 are the same score.
                if old == score {
                    return Inserted::Unchanged;
                }
                // Remove and re-insert at the new position (as `zzlDelete` + `zzlInsert`).
                self.e.edit_payload(|v, base| {
                    v.drain(base + mpos..base + end);
                });
                self.pack_insert(member, score);
                return Inserted::Updated(old);
            }
            if self.len() + 1 > ZSET_MAX_LISTPACK_ENTRIES || member.len() > ZSET_MAX_LISTPACK_VALUE
            {
                self.convert_to_skiplist();
            } else {
                self.pack_insert(member, score);
                return Inserted::Added;
            }
        }
        let Some(Big::ZSet(z)) = self.e.big_mut() else {
            unreachable!("a sorted set is packed or a skiplist");
        };
        match z.nodes.find(member) {
            Some(i) => {
                let old = z.node(i).score;
                if old == score {
                    return Inserted::Unchanged;
                }
                z.update_score(old, member, score);
                Inserted::Updated(old)
            }
            None => {
                z.insert(score, member);
                Inserted::Added
            }
        }
    }

    fn pack_insert(&mut self, member: &[u8], score: f64) {
        let enc = pack::encode_all([Item::of(member), score_item(score)]);
        self.e.edit_payload(|v, base| {
            let at = base + pack_insert_pos(&v[base..], score, member);
            v.reserve_exact(enc.len());
            v.splice(at..at, enc);
        });
    }

    /// Remove `member`; its score if it was there. The caller deletes the key if the set is
    /// now empty.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        if self.is_packed() {
            let (mpos, _, end, s) = pack_find(self.e.payload(), member)?;
            self.e.edit_payload(|v, base| {
                v.drain(base + mpos..base + end);
            });
            return Some(s);
        }
        let Some(Big::ZSet(z)) = self.e.big_mut() else {
            unreachable!("a sorted set is packed or a skiplist");
        };
        let s = z.node(z.nodes.find(member)?).score;
        z.remove(s, member);
        Some(s)
    }

    /// Remove and return the member with the lowest score (the highest when `max`).
    pub fn pop(&mut self, max: bool) -> Option<(Vec<u8>, f64)> {
        let (m, s) = {
            let r = self.as_ref();
            let (m, s) = if max {
                r.from_rank(0, true).next()?
            } else {
                r.iter().next()?
            };
            (m.to_vec(), s)
        };
        self.remove(&m);
        Some((m, s))
    }

    /// Remove the members whose 0-based ranks are in `start..=stop` (ascending order; the
    /// caller has clamped them); returns how many.
    pub fn remove_by_rank(&mut self, start: usize, stop: usize) -> usize {
        let victims: Vec<Vec<u8>> = self
            .as_ref()
            .from_rank(start, false)
            .take(stop.saturating_sub(start) + 1)
            .map(|(m, _)| m.to_vec())
            .collect();
        self.remove_all(&victims)
    }

    /// Remove the members whose score is in `r`; returns how many.
    pub fn remove_by_score(&mut self, r: ScoreRange) -> usize {
        let victims: Vec<Vec<u8>> = self
            .as_ref()
            .by_score(r, false)
            .map(|(m, _)| m.to_vec())
            .collect();
        self.remove_all(&victims)
    }

    /// Remove the members in the lexicographic range `r`; returns how many.
    pub fn remove_by_lex(&mut self, r: LexRange<'_>) -> usize {
        let victims: Vec<Vec<u8>> = self
            .as_ref()
            .by_lex(r, false)
            .map(|(m, _)| m.to_vec())
            .collect();
        self.remove_all(&victims)
    }

    fn remove_all(&mut self, members: &[Vec<u8>]) -> usize {
        members.iter().filter(|m| self.remove(m).is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::value::Kind;
    use super::*;

    /// The model: a sorted vector of (score, member).
    fn model_sorted(m: &std::collections::BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut v: Vec<(Vec<u8>, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
        v.sort_by(|a, b| cmp_key(a.1, &a.0, b.1, &b.0));
        v
    }

    fn all(z: ZSetRef<'_>) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    fn check_skiplist(z: &ZSkip) {
        // Spans: walking level i from the header, the sum of spans reaches each node's rank.
        for i in 0..z.level {
            let mut x = HEAD;
            let mut rank = 0usize;
            loop {
                let f = z.fwd(x, i);
                if f == NIL {
                    break;
                }
                rank += z.span(x, i) as usize;
                let n = z.node(f);
                assert_eq!(z.by_rank(rank), f, "level {i} rank {rank}");
                assert_eq!(z.rank_of(n.score, n.member()), rank);
                x = f;
            }
        }
        // Backward links mirror level 0.
        let mut x = z.fwd(HEAD, 0);
        let mut prev = NIL;
        while x != NIL {
            assert_eq!(z.node(x).backward, prev);
            prev = x;
            x = z.fwd(x, 0);
        }
        assert_eq!(z.tail, prev);
    }

    fn run_model(seed: u64, members: u64, steps: usize, force_skip: bool) {
        let mut e = Entry::new_container(b"z", Kind::ZSet);
        if force_skip {
            ZSetMut::new(&mut e).reserve(1000, 0);
        }
        let mut model = std::collections::BTreeMap::new();
        let mut x = seed;
        for step in 0..steps {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let m = format!("m{}", (x >> 33) % members).into_bytes();
            let score = ((x >> 40) % 50) as f64 / 4.0 - 3.0;
            let mut z = ZSetMut::new(&mut e);
            match (x >> 20) % 5 {
                0 => assert_eq!(z.remove(&m), model.remove(&m)),
                1 if !model.is_empty() => {
                    let want = model_sorted(&model).into_iter().next();
                    let got = z.pop(false);
                    assert_eq!(got, want);
                    model.remove(&want.unwrap().0);
                }
                _ => {
                    let want = match model.insert(m.clone(), score) {
                        None => Inserted::Added,
                        Some(old) if old == score => Inserted::Unchanged,
                        Some(old) => Inserted::Updated(old),
                    };
                    assert_eq!(z.insert(&m, score), want, "step {step}");
                }
            }
            if step % 97 == 0 {
                assert_eq!(all(ZSetRef::of(&e)), model_sorted(&model), "step {step}");
                if let Some(Big::ZSet(z)) = e.big() {
                    check_skiplist(z);
                }
            }
        }
        let sorted = model_sorted(&model);
        let z = ZSetRef::of(&e);
        assert_eq!(all(z), sorted);
        for (i, (m, s)) in sorted.iter().enumerate() {
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.rank(m, false), Some((i, *s)));
            assert_eq!(z.rank(m, true), Some((sorted.len() - 1 - i, *s)));
        }
        // Ranges by rank, both directions.
        for start in [
            0,
            1,
            sorted.len() / 2,
            sorted.len().saturating_sub(1),
            sorted.len(),
        ] {
            let fwd: Vec<_> = z
                .from_rank(start, false)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
            assert_eq!(fwd, sorted[start.min(sorted.len())..].to_vec());
            let rev: Vec<_> = z
                .from_rank(start, true)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
            let mut want: Vec<_> = sorted.iter().rev().cloned().collect();
            want.drain(..start.min(want.len()));
            assert_eq!(rev, want);
        }
        // Ranges by score, every bound kind, both directions.
        for (min, max) in [
            (-3.0, 9.0),
            (0.0, 2.5),
            (1.25, 1.25),
            (5.0, -1.0),
            (-10.0, 100.0),
        ] {
            for (minex, maxex) in [(false, false), (true, false), (false, true), (true, true)] {
                let r = ScoreRange {
                    min,
                    max,
                    minex,
                    maxex,
                };
                let want: Vec<_> = sorted
                    .iter()
                    .filter(|(_, s)| r.gte_min(*s) && r.lte_max(*s))
                    .cloned()
                    .collect();
                let got: Vec<_> = z.by_score(r, false).map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(got, want, "{r:?}");
                let got: Vec<_> = z.by_score(r, true).map(|(m, s)| (m.to_vec(), s)).collect();
                assert_eq!(
                    got,
                    want.iter().rev().cloned().collect::<Vec<_>>(),
                    "{r:?} rev"
                );
                assert_eq!(z.count_by_score(r), want.len());
            }
        }
    }

    #[test]
    fn packed_set_matches_a_model() {
        run_model(1, 60, 3000, false);
    }

    #[test]
    fn skiplist_matches_a_model_with_moves_and_score_updates() {
        run_model(2, 400, 20_000, true);
    }

    #[test]
    fn converts_at_redis_thresholds_and_back() {
        let mut e = Entry::new_container(b"z", Kind::ZSet);
        for i in 0..ZSET_MAX_LISTPACK_ENTRIES {
            ZSetMut::new(&mut e).insert(format!("m{i}").as_bytes(), i as f64);
        }
        assert_eq!(e.encoding(), "listpack");
        ZSetMut::new(&mut e).insert(b"m0", -1.0);
        assert_eq!(e.encoding(), "listpack");
        ZSetMut::new(&mut e).insert(b"new", 0.5);
        assert_eq!(e.encoding(), "skiplist");
        ZSetMut::new(&mut e).remove(b"new");
        ZSetMut::new(&mut e).shrink_to_fit();
        assert_eq!(e.encoding(), "listpack");
        assert_eq!(ZSetRef::of(&e).rank(b"m0", false), Some((0, -1.0)));
        let long = vec![b'x'; ZSET_MAX_LISTPACK_VALUE + 1];
        ZSetMut::new(&mut e).insert(&long, 3.0);
        assert_eq!(e.encoding(), "skiplist");
        ZSetMut::new(&mut e).shrink_to_fit();
        assert_eq!(e.encoding(), "skiplist");
        let mut e = Entry::new_container(b"z", Kind::ZSet);
        ZSetMut::new(&mut e).reserve(ZSET_MAX_LISTPACK_ENTRIES + 1, 1);
        assert_eq!(e.encoding(), "skiplist");
    }

    #[test]
    fn scores_keep_their_sign_and_precision_when_packed() {
        let mut e = Entry::new_container(b"z", Kind::ZSet);
        let mut z = ZSetMut::new(&mut e);
        for (m, s) in [
            ("negzero", -0.0),
            ("tenth", 0.1),
            ("big", 1e300),
            ("int", 42.0),
            ("inf", f64::INFINITY),
            ("ninf", f64::NEG_INFINITY),
        ] {
            z.insert(m.as_bytes(), s);
        }
        let r = ZSetRef::of(&e);
        // As in Redis's listpack, -0 is stored as 0.
        assert!(r.score(b"negzero").unwrap().is_sign_positive());
        assert_eq!(r.score(b"tenth"), Some(0.1));
        assert_eq!(r.score(b"big"), Some(1e300));
        assert_eq!(r.iter().next().unwrap().1, f64::NEG_INFINITY);
        assert_eq!(r.from_rank(0, true).next().unwrap().1, f64::INFINITY);
        // -0 and 0 are the same score to Redis: no update.
        assert_eq!(
            ZSetMut::new(&mut e).insert(b"negzero", -0.0),
            Inserted::Unchanged
        );
        // A skiplist keeps the sign, as Redis's does.
        let mut e = Entry::new_container(b"z", Kind::ZSet);
        ZSetMut::new(&mut e).reserve(1000, 0);
        ZSetMut::new(&mut e).insert(b"negzero", -0.0);
        assert!(ZSetRef::of(&e)
            .score(b"negzero")
            .unwrap()
            .is_sign_negative());
    }

    #[test]
    fn lex_ranges_and_removals() {
        for skip in [false, true] {
            let mut e = Entry::new_container(b"z", Kind::ZSet);
            if skip {
                ZSetMut::new(&mut e).reserve(1000, 0);
            }
            for m in ["a", "b", "c", "d", "e", "f", "g"] {
                ZSetMut::new(&mut e).insert(m.as_bytes(), 0.0);
            }
            let names = |it: ZIter<'_>| -> String {
                it.map(|(m, _)| String::from_utf8(m.to_vec()).unwrap())
                    .collect()
            };
            let z = ZSetRef::of(&e);
            let r = LexRange {
                min: LexBound::Incl(b"b"),
                max: LexBound::Excl(b"e"),
            };
            assert_eq!(names(z.by_lex(r, false)), "bcd");
            assert_eq!(names(z.by_lex(r, true)), "dcb");
            assert_eq!(z.count_by_lex(r), 3);
            let all = LexRange {
                min: LexBound::NegInf,
                max: LexBound::PosInf,
            };
            assert_eq!(names(z.by_lex(all, true)), "gfedcba");
            let empty = LexRange {
                min: LexBound::PosInf,
                max: LexBound::PosInf,
            };
            assert!(empty.is_empty());
            assert_eq!(z.count_by_lex(empty), 0);
            let mut zm = ZSetMut::new(&mut e);
            assert_eq!(zm.remove_by_lex(r), 3);
            assert_eq!(zm.remove_by_rank(0, 1), 2);
            assert_eq!(names(zm.as_ref().iter()), "fg");
            let r = ScoreRange {
                min: 0.0,
                max: 0.0,
                minex: false,
                maxex: false,
            };
            assert_eq!(zm.remove_by_score(r), 2);
            assert!(zm.is_empty());
        }
    }
}
