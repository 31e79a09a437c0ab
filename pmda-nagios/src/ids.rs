//! The agent's persistent ids: a cluster per series, an item per metric of
//! a series, an instance id per host of a perfdata-file series and per
//! source, kept in the state directory (`nagios/` under the host's state
//! directory) so that names keep their PMIDs across restarts. With the
//! directory held by another process, the ids are read from it and new
//! ones live in memory only.

use std::collections::HashMap;
use std::path::PathBuf;

use pcp_core::idstore::read_only_cache;
use pcp_core::{IdCache, StateDir};

use crate::store::{SeriesKey, HOST_SERVICE};

/// Where the caches live.
#[derive(Debug)]
enum Backing {
    Memory,
    Dir(StateDir),
    ReadOnly(PathBuf),
}

/// Every id cache of the agent.
#[derive(Debug)]
pub struct Ids {
    backing: Backing,
    clusters: IdCache,
    sources: IdCache,
    items: HashMap<u32, IdCache>,
    hosts: HashMap<u32, IdCache>,
}

impl Ids {
    /// Ids kept in `dir` (`None`: in memory only). Returns warnings about
    /// damaged cache files, which are rebuilt.
    pub fn open(dir: Option<PathBuf>) -> (Ids, Vec<String>) {
        let mut warnings = Vec::new();
        let backing = match dir {
            None => Backing::Memory,
            Some(d) => match StateDir::open(&d) {
                Ok(s) => Backing::Dir(s),
                Err(e) => {
                    warnings.push(format!("{e}; using its ids read-only"));
                    Backing::ReadOnly(d)
                }
            },
        };
        let mut ids = Ids {
            clusters: IdCache::in_memory("clusters", 1, pcp_core::id::MAX_CLUSTER),
            sources: IdCache::in_memory("sources", 0, pcp_core::id::MAX_SERIAL),
            backing,
            items: HashMap::new(),
            hosts: HashMap::new(),
        };
        ids.clusters = ids.load("clusters", 1, pcp_core::id::MAX_CLUSTER, &mut warnings);
        ids.sources = ids.load("sources", 0, pcp_core::id::MAX_SERIAL, &mut warnings);
        (ids, warnings)
    }

    /// The state directory, when the agent holds it.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match &self.backing {
            Backing::Dir(s) => Some(s.path()),
            _ => None,
        }
    }

    fn load(&self, name: &str, min: u32, max: u32, warnings: &mut Vec<String>) -> IdCache {
        match &self.backing {
            Backing::Memory => IdCache::in_memory(name, min, max),
            Backing::Dir(s) => match s.cache(name, min, max) {
                Ok((c, w)) => {
                    warnings.extend(w);
                    c
                }
                Err(e) => {
                    warnings.push(e.to_string());
                    IdCache::in_memory(name, min, max)
                }
            },
            Backing::ReadOnly(d) => {
                let (c, w) = read_only_cache(d, name, min, max);
                warnings.extend(w);
                c
            }
        }
    }

    /// The cluster of a series (`None` when the cluster space is full).
    pub fn cluster(&mut self, key: &SeriesKey) -> Option<u32> {
        let name = match &key.service {
            None => format!("check:{}", key.source),
            // A service literally called like the host checks' series: a
            // name no service can have (perfdata lines are tab-separated).
            Some(s) if s == HOST_SERVICE && !key.host_checks => {
                format!("file:{}/{s}\tservice", key.source)
            }
            Some(s) => format!("file:{}/{s}", key.source),
        };
        self.clusters.assign(&name).ok()
    }

    /// The item of a perfdata part within a series (items 0..15 are the
    /// check's own metrics).
    pub fn item(&mut self, cluster: u32, key: &str) -> Option<u32> {
        if !self.items.contains_key(&cluster) {
            let c = self.load(
                &format!("items.{cluster}"),
                16,
                pcp_core::id::MAX_ITEM,
                &mut Vec::new(),
            );
            self.items.insert(cluster, c);
        }
        self.items.get_mut(&cluster)?.assign(key).ok()
    }

    /// The instance id of a host in a series.
    pub fn host(&mut self, cluster: u32, host: &str) -> Option<u32> {
        if !self.hosts.contains_key(&cluster) {
            let c = self.load(
                &format!("hosts.{cluster}"),
                0,
                pcp_core::id::MAX_SERIAL,
                &mut Vec::new(),
            );
            self.hosts.insert(cluster, c);
        }
        self.hosts.get_mut(&cluster)?.assign(host).ok()
    }

    /// The instance id of a source.
    pub fn source(&mut self, name: &str) -> Option<u32> {
        self.sources.assign(name).ok()
    }

    /// Writes every changed cache (in a state directory the agent holds).
    pub fn save(&mut self) {
        if !matches!(self.backing, Backing::Dir(_)) {
            return;
        }
        let caches = [&mut self.clusters, &mut self.sources]
            .into_iter()
            .chain(self.items.values_mut())
            .chain(self.hosts.values_mut());
        for c in caches {
            if c.is_dirty() {
                if let Err(e) = c.save() {
                    eprintln!("pmda-nagios: saving ids: {e}");
                }
            }
        }
    }
}
