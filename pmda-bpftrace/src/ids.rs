//! Where the agent keeps its ids, and how scripts get their clusters.
//!
//! pmdabpftrace numbers every script from cluster 100 in the order it
//! registers; so does this agent on a fresh start. Scripts clients
//! register by name keep their cluster (and their data items) across
//! restarts in an [`IdStore`]: a state directory of our own, PCP's
//! `$PCP_VAR_DIR/config/pmda/151.*.ids` under pmcd, or memory.

use std::collections::{HashSet, VecDeque};
use std::path::PathBuf;

use pcp_core::idstore::read_only_cache;
use pcp_core::{IdCache, StateDir};

use crate::process::log;
use crate::DOMAIN;

/// First script cluster: pmdabpftrace numbers every script from 100 in the
/// order they register, and so does this agent on a fresh start; named
/// scripts then keep theirs across restarts (unnamed ones take the next
/// number no named script holds).
pub(crate) const FIRST_SCRIPT_CLUSTER: u32 = 100;
/// The last cluster (12 bits): past it, unnamed scripts reuse the clusters
/// of removed unnamed scripts (oldest first), where pmdabpftrace overflows
/// the cluster field.
pub(crate) const LAST_CLUSTER: u32 = 4095;

/// Where id caches live.
pub(crate) enum IdStore {
    /// Nowhere: ids last as long as the agent.
    Memory,
    /// Our own state directory (`--state-dir`), locked by this agent.
    Dir(StateDir),
    /// A state directory another agent holds: its ids, never written.
    ReadOnly(PathBuf),
    /// Files `151.<cache>.ids` in PCP's agents' cache directory (under pmcd).
    Pcp(PathBuf),
}

impl std::fmt::Debug for IdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdStore::Memory => f.write_str("Memory"),
            IdStore::Dir(d) => write!(f, "Dir({})", d.path().display()),
            IdStore::ReadOnly(p) => write!(f, "ReadOnly({})", p.display()),
            IdStore::Pcp(p) => write!(f, "Pcp({})", p.display()),
        }
    }
}

impl IdStore {
    /// The cache `name` of ids `min..=max`; one that cannot be opened is
    /// logged and kept in memory.
    pub(crate) fn cache(&self, name: &str, min: u32, max: u32) -> IdCache {
        let (cache, warnings) = match self {
            IdStore::Memory => (IdCache::in_memory(name, min, max), Vec::new()),
            IdStore::Dir(d) => match d.cache(name, min, max) {
                Ok(c) => c,
                Err(e) => (
                    IdCache::in_memory(name, min, max),
                    vec![format!("id cache {name}: {e}; ids kept in memory")],
                ),
            },
            IdStore::Pcp(dir) => {
                let file = dir.join(format!("{DOMAIN}.{name}.ids"));
                match IdCache::open_file(&file, name, min, max, pcp_core::FileFormat::Text) {
                    Ok(c) => c,
                    Err(e) => (
                        IdCache::in_memory(name, min, max),
                        vec![format!("id cache {name}: {e}; ids kept in memory")],
                    ),
                }
            }
            IdStore::ReadOnly(p) => read_only_cache(p, name, min, max),
        };
        for w in warnings {
            log(&w);
        }
        cache
    }
}

/// Script clusters: one sequence from 100 for every script, as
/// pmdabpftrace's. Autostart scripts take it in order, whatever was kept
/// (so ours numbers them as pmdabpftrace does on the same directories, and
/// the ids hold across a switch between the two either way); dynamically
/// registered named scripts also keep theirs in `named`, across restarts,
/// where no autostart script took it.
#[derive(Debug)]
pub(crate) struct Clusters {
    named: IdCache,
    next: u32,
    in_use: HashSet<u32>,
    free_unnamed: VecDeque<u32>,
}

impl Clusters {
    pub(crate) fn new(named: IdCache) -> Clusters {
        Clusters {
            named,
            next: FIRST_SCRIPT_CLUSTER,
            in_use: HashSet::new(),
            free_unnamed: VecDeque::new(),
        }
    }

    /// The next number of the sequence that no named script holds.
    fn fresh(&mut self) -> Option<u32> {
        while self.next <= LAST_CLUSTER {
            let c = self.next;
            self.next += 1;
            if !self.named.holds(c) && !self.in_use.contains(&c) {
                return Some(c);
            }
        }
        None
    }

    /// The next number of the sequence, for an autostart script.
    pub(crate) fn in_order(&mut self) -> Option<u32> {
        while self.next <= LAST_CLUSTER {
            let c = self.next;
            self.next += 1;
            if self.in_use.insert(c) {
                return Some(c);
            }
        }
        let c = self.free_unnamed.pop_front()?;
        self.in_use.insert(c);
        Some(c)
    }

    /// The cluster of a script a client registers by name: the one it had,
    /// unless an autostart script took it this time.
    pub(crate) fn named(&mut self, name: &str) -> Result<u32, String> {
        let c = match self.named.lookup(name) {
            Some(c) if !self.in_use.contains(&c) => c,
            // An autostart script has it this time: a fresh one, not kept
            // (the name gets its own back when it is free again).
            Some(_) => self
                .fresh()
                .ok_or_else(|| "no free cluster for another script".to_string())?,
            None => {
                let c = self
                    .fresh()
                    .ok_or_else(|| "no free cluster for another script".to_string())?;
                self.named.assign_id(name, c).map_err(|e| e.to_string())?;
                if let Err(e) = self.named.save() {
                    log(&format!("saving cluster ids: {e}"));
                }
                c
            }
        };
        self.in_use.insert(c);
        Ok(c)
    }

    /// The cluster of an unnamed script.
    pub(crate) fn unnamed(&mut self) -> Option<u32> {
        let c = self.fresh().or_else(|| self.free_unnamed.pop_front())?;
        self.in_use.insert(c);
        Some(c)
    }

    /// A script went away: its cluster is free (an unnamed one for reuse
    /// once the sequence runs out).
    pub(crate) fn release(&mut self, cluster: u32) {
        if self.in_use.remove(&cluster) && !self.named.holds(cluster) {
            self.free_unnamed.push_back(cluster);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clusters() -> Clusters {
        Clusters::new(IdCache::in_memory(
            "clusters",
            FIRST_SCRIPT_CLUSTER,
            LAST_CLUSTER,
        ))
    }

    #[test]
    fn unnamed_clusters_are_reused_only_when_exhausted() {
        let mut c = clusters();
        c.next = LAST_CLUSTER - 2;
        assert_eq!(c.named("a").unwrap(), LAST_CLUSTER - 2);
        let a = c.unnamed().unwrap();
        c.release(a);
        let b = c.unnamed().unwrap();
        assert_ne!(a, b, "a fresh cluster is preferred");
        assert_eq!(c.unnamed(), Some(a), "then the oldest freed one");
        assert_eq!(c.unnamed(), None);
    }

    #[test]
    fn every_script_numbered_in_order_from_100_and_named_ones_kept() {
        let mut c = clusters();
        assert_eq!(c.unnamed(), Some(100));
        assert_eq!(c.named("a").unwrap(), 101);
        assert_eq!(c.unnamed(), Some(102));
        // A restart: the named cache survives, the sequence starts again.
        let mut again = Clusters::new(c.named.clone());
        assert_eq!(again.unnamed(), Some(100));
        assert_eq!(again.unnamed(), Some(102), "101 stays a's");
        assert_eq!(again.named("a").unwrap(), 101);
        again.release(101);
        assert_eq!(again.named("a").unwrap(), 101);
    }

    #[test]
    fn autostart_scripts_take_the_sequence_whatever_was_kept() {
        let mut c = clusters();
        assert_eq!(c.named("dyn").unwrap(), 100);
        // A restart with two autostart scripts: 100 and 101, as
        // pmdabpftrace gives them, though "dyn" kept 100.
        let mut again = Clusters::new(c.named.clone());
        assert_eq!(again.in_order(), Some(100));
        assert_eq!(again.in_order(), Some(101));
        assert_eq!(again.named("dyn").unwrap(), 102, "100 is taken this time");
        assert_eq!(again.unnamed(), Some(103));
        // Once 100 is free again, "dyn" gets its own back.
        let mut third = Clusters::new(again.named.clone());
        assert_eq!(third.named("dyn").unwrap(), 100);
    }
}
