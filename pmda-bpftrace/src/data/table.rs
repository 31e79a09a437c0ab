//! The instances of a keyed map and their values: ids kept for the
//! agent's lifetime, values updated in place at each print.

use std::collections::HashMap;
use std::sync::Arc;

use pcp_core::Value;

use super::{Part, Val};
use crate::event::Bucket;

/// FxHash (rustc's hasher): map keys come from our own bpftrace, and the
/// table is rebuilt from each print, so a fast non-keyed hash is right.
#[derive(Debug, Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<Fx>;

/// One instance of a keyed map (or bucket of a histogram).
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) name: Arc<str>,
    pub(super) id: u32,
    /// The print it was last seen in: only slots of the current print are
    /// instances.
    stamp: u64,
    /// Sorting: `name[..key_len]` (the map key), then `rank` (the bucket's
    /// lower bound).
    key_len: u32,
    rank: i64,
    pub(super) val: Val,
}

/// The instances of a keyed map: each name keeps its id for the agent's
/// lifetime (ids are never reused), values are updated in place at each
/// print, and names missing from the print drop out.
#[derive(Debug, Default)]
pub(super) struct Table {
    index: HashMap<Arc<str>, u32, FxBuild>,
    slots: Vec<Slot>,
    next_id: u32,
    stamp: u64,
    pub(super) live: usize,
}

impl Table {
    /// Starts a new print of the map.
    pub(super) fn begin(&mut self) {
        self.stamp += 1;
        self.live = 0;
    }

    /// Sets `name`'s value in the current print (a key printed twice keeps
    /// the last value).
    pub(super) fn set(&mut self, name: &str, key_len: usize, rank: i64, val: Val) {
        if let Some(&i) = self.index.get(name) {
            let s = &mut self.slots[i as usize];
            if s.stamp != self.stamp {
                s.stamp = self.stamp;
                self.live += 1;
            }
            s.key_len = key_len as u32;
            s.rank = rank;
            s.val = val;
            return;
        }
        let name: Arc<str> = Arc::from(name);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.index.insert(name.clone(), self.slots.len() as u32);
        self.slots.push(Slot {
            name,
            id,
            stamp: self.stamp,
            key_len: key_len as u32,
            rank,
            val,
        });
        self.live += 1;
    }

    /// Ends a print: names long gone are forgotten when the table grows
    /// well past the current count (maps keyed by pid or similar do not
    /// grow memory for ever); a forgotten name that comes back gets a new id.
    pub(super) fn finish(&mut self) {
        if self.slots.len() > (self.live * 2).max(4096) {
            let stamp = self.stamp;
            self.slots.retain(|s| s.stamp == stamp);
            self.index.clear();
            for (i, s) in self.slots.iter().enumerate() {
                self.index.insert(s.name.clone(), i as u32);
            }
        }
    }

    /// The current instances.
    pub(super) fn current(&self) -> impl Iterator<Item = &Slot> {
        let stamp = self.stamp;
        self.slots.iter().filter(move |s| s.stamp == stamp)
    }

    /// The current slots in instance order: by map key, then by bucket
    /// (pmdabpftrace's indom order, in which it also answers fetches).
    pub(super) fn sorted(&self) -> Vec<&Slot> {
        let mut order: Vec<&Slot> = self.current().collect();
        order.sort_by(|a, b| {
            a.name[..a.key_len as usize]
                .cmp(&b.name[..b.key_len as usize])
                .then(a.rank.cmp(&b.rank))
        });
        order
    }
}

pub(super) fn push_buckets(table: &mut Table, key: Option<&str>, buckets: &[Bucket]) {
    for b in buckets {
        let bname = b.name();
        let rank = b.min.unwrap_or(i64::MIN);
        match key {
            Some(k) => table.set(
                &format!("{k} {bname}"),
                k.len(),
                rank,
                Val::One(Value::U64(b.count)),
            ),
            None => table.set(&bname, 0, rank, Val::One(Value::U64(b.count))),
        }
    }
}

/// The current instances' values of one part of a keyed map.
pub(super) fn table_values(table: &Table, part: Part) -> Vec<(u32, Value)> {
    // Sized up front: a 1,000-key map would otherwise regrow ten times.
    let mut out = Vec::with_capacity(table.live);
    out.extend(
        table
            .sorted()
            .into_iter()
            .map(|e| (e.id, part_value(&e.val, part))),
    );
    out
}

pub(super) fn part_value(v: &Val, part: Part) -> Value {
    match (v, part) {
        (Val::One(v), _) => v.clone(),
        (Val::Stats(s), Part::Main) => Value::U64(s.count as u64),
        (Val::Stats(s), Part::Average) => Value::I64(s.average),
        (Val::Stats(s), _) => Value::I64(s.total),
    }
}
