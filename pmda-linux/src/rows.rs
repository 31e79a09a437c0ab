//! Instance ids: the name-to-id maps that keep them stable ([`InstMap`])
//! and the rows of a source each with the id of its instance ([`Rows`]).
//!
//! pmdalinux gives fixed ids where the kernel has a number (CPU `cpuN` is
//! id N, NUMA node `nodeN` is N, load average "1 minute" is 1) and uses
//! `pmdaCache` elsewhere: a new name gets the next unused id, and an id is
//! never reused for another name. For disks, partitions, device-mapper,
//! md devices and network interfaces it also saves the cache under
//! `$PCP_VAR_DIR/config/pmda/60.<serial>`, so ids survive restarts.
//! [`InstMap`] behaves the same way: ids in order of first sighting, never
//! reused while the agent lives, and seeded at start-up from pmdalinux's
//! saved cache (`ROOT/var/lib/pcp/config/pmda/60.<serial>`) when there is
//! one, so that on a host where pmdalinux ran the ids are the same.

use std::collections::HashMap;
use std::path::Path;

use pcp_core::agent::Sink;
use pcp_core::{Instance, Value};

use crate::value::{typed_f64, typed_u64};

/// Names to instance ids for one instance domain: ids in order of first
/// sighting, never reused.
#[derive(Debug, Clone, Default)]
pub struct InstMap {
    by_name: HashMap<String, u32>,
    next: u32,
}

impl InstMap {
    /// An empty map.
    pub fn new() -> InstMap {
        InstMap::default()
    }

    /// A map seeded from a pmdaCache save file (`ROOT/var/lib/pcp/config/
    /// pmda/60.<serial>`), if it exists and parses; empty otherwise. The
    /// file's first line is a header; each further line is `id stamp name`.
    pub fn seeded(root: &Path, serial: u32) -> InstMap {
        let mut m = InstMap::new();
        let file = root.join(format!("var/lib/pcp/config/pmda/60.{serial}"));
        if let Ok(text) = std::fs::read_to_string(file) {
            for line in text.lines().skip(1) {
                let mut it = line.splitn(3, ' ');
                let (Some(id), Some(_stamp), Some(name)) = (it.next(), it.next(), it.next()) else {
                    continue;
                };
                let Ok(id) = id.parse::<u32>() else { continue };
                if name.is_empty()
                    || m.by_name.contains_key(name)
                    || m.by_name.values().any(|&v| v == id)
                {
                    continue;
                }
                m.by_name.insert(name.to_string(), id);
                m.next = m.next.max(id.saturating_add(1));
            }
        }
        m
    }

    /// The id of `name` if it has one already.
    pub fn peek(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The id of `name`, giving it the next unused id on first sight.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.next;
        self.next = self.next.saturating_add(1);
        self.by_name.insert(name.to_string(), id);
        id
    }
}

/// The rows of one source as last read (disks, interfaces, slab caches,
/// interrupt lines...), each with the id its name has in the instance
/// domain. The rows and their ids are replaced together, so they never
/// disagree; ids come from the [`InstMap`], so they stay stable.
#[derive(Debug, Clone)]
pub struct Rows<T> {
    ids: InstMap,
    rows: Vec<(u32, T)>,
    key: String,
}

impl<T> Default for Rows<T> {
    fn default() -> Rows<T> {
        Rows::new(InstMap::new())
    }
}

impl<T> Rows<T> {
    /// No rows yet, ids from `ids`.
    pub fn new(ids: InstMap) -> Rows<T> {
        Rows {
            ids,
            rows: Vec::new(),
            key: String::new(),
        }
    }

    /// No rows yet, ids seeded from pmdalinux's saved cache of instance
    /// domain `serial` under `root` (see [`InstMap::seeded`]).
    pub fn seeded(root: &Path, serial: u32) -> Rows<T> {
        Rows::new(InstMap::seeded(root, serial))
    }

    /// Replaces the rows with `items`, each given the id of its name.
    pub fn set(&mut self, items: impl IntoIterator<Item = T>, name: impl Fn(&T) -> &str) {
        self.rows.clear();
        for t in items {
            let id = self.ids.id(name(&t));
            self.rows.push((id, t));
        }
    }

    /// Replaces the rows with `items`, each named by what `name` writes
    /// (for names built from several parts, `LINE::cpuN`).
    pub fn set_named(
        &mut self,
        items: impl IntoIterator<Item = T>,
        name: impl Fn(&T, &mut String) -> std::fmt::Result,
    ) {
        self.rows.clear();
        for t in items {
            self.key.clear();
            let _ = name(&t, &mut self.key);
            let id = self.ids.id(&self.key);
            self.rows.push((id, t));
        }
    }

    /// Adds one row (a name seen for the first time keeps its place).
    pub fn push(&mut self, name: &str, t: T) -> u32 {
        let id = self.ids.id(name);
        self.rows.push((id, t));
        id
    }

    /// Drops every row (ids stay reserved for their names).
    pub fn clear(&mut self) {
        self.rows.clear();
    }

    /// The id `name` has, if it was ever seen.
    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.ids.peek(name)
    }

    /// The rows with their ids.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        self.rows.iter().map(|(id, t)| (*id, t))
    }

    /// The rows, without ids.
    pub fn items(&self) -> impl Iterator<Item = &T> + '_ {
        self.rows.iter().map(|(_, t)| t)
    }

    /// The row at position `i`.
    pub fn get(&self, i: usize) -> Option<(u32, &T)> {
        self.rows.get(i).map(|(id, t)| (*id, t))
    }

    /// The row whose id is `id`.
    pub fn by_id(&self, id: u32) -> Option<&T> {
        self.rows.iter().find(|(i, _)| *i == id).map(|(_, t)| t)
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows as an instance list, each named by `name`.
    pub fn instances(&self, name: impl Fn(&T) -> String) -> Vec<Instance> {
        self.rows
            .iter()
            .map(|(id, t)| Instance::new(*id, name(t)))
            .collect()
    }

    /// Puts `value` of each row that has one into `out` (an integer,
    /// narrowed to the metric's type as pmdalinux's C assignments do).
    pub fn put_u64(&self, out: &mut Sink<'_>, value: impl Fn(&T) -> Option<u64>) {
        let ty = out.desc().ty;
        for (id, t) in &self.rows {
            if let Some(v) = value(t) {
                out.put(*id, typed_u64(v, ty));
            }
        }
    }

    /// Puts `value` of each row that has one into `out` (a real number).
    pub fn put_f64(&self, out: &mut Sink<'_>, value: impl Fn(&T) -> Option<f64>) {
        let ty = out.desc().ty;
        for (id, t) in &self.rows {
            if let Some(v) = value(t) {
                out.put(*id, typed_f64(v, ty));
            }
        }
    }

    /// Puts the string `value` of each row that has one into `out`.
    pub fn put_str(&self, out: &mut Sink<'_>, value: impl Fn(&T) -> Option<String>) {
        for (id, t) in &self.rows {
            if let Some(v) = value(t) {
                out.put(*id, Value::String(v));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_first_sighting_and_stick() {
        let mut m = InstMap::new();
        assert_eq!(m.id("lo"), 0);
        assert_eq!(m.id("eth0"), 1);
        assert_eq!(m.id("lo"), 0);
    }

    #[test]
    fn seeded_from_pmda_cache_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("var/lib/pcp/config/pmda");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("60.3"),
            "2 0 2147483647\n0 1795450929 lo\n3 1795450929 eth0\nbad line\n",
        )
        .unwrap();
        let mut m = InstMap::seeded(dir.path(), 3);
        assert_eq!(m.id("eth0"), 3);
        assert_eq!(m.id("lo"), 0);
        assert_eq!(m.id("wlan0"), 4);
    }

    #[test]
    fn rows_keep_ids_when_they_come_and_go() {
        let mut r: Rows<&str> = Rows::default();
        r.set(["sda", "sdb"], |s| s);
        assert_eq!(r.iter().map(|(i, _)| i).collect::<Vec<_>>(), [0, 1]);
        r.set(["sdb", "sdc"], |s| s);
        assert_eq!(
            r.iter().collect::<Vec<_>>(),
            [(1, &"sdb"), (2, &"sdc")],
            "sdb keeps 1, sdc gets a new id, 0 is not reused"
        );
        let mut p: Rows<(&str, u32)> = Rows::default();
        p.set_named([("NMI", 2)], |(l, c), k| {
            use std::fmt::Write as _;
            write!(k, "{l}::cpu{c}")
        });
        assert_eq!(p.instances(|_| String::new())[0].id, 0);
        assert_eq!(p.id_of("NMI::cpu2"), Some(0));
    }
}
