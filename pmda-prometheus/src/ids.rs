//! Where the agent's persistent ids live: cluster numbers of sources,
//! item numbers of metrics, instance ids.
//!
//! - [`IdSource::Pcp`]: in pmdaopenmetrics's own tables,
//!   `$PCP_VAR_DIR/config/pmda/144.<n>.py` (clusters in `144.0.py`, the
//!   items of cluster C in `144.C.py`, the instances of item I of cluster C
//!   in `144.<4096 + C*1024 + I>.py`), read and written in its format. Under
//!   pmcd this is the default, so that switching between PCP's agent and
//!   this one (either way) keeps every PMID and instance id, and a reset of
//!   those tables (PCP's QA moves `144.*` aside between tests) resets ours.
//! - [`IdSource::Dir`]: a state directory of our own; when it has no ids
//!   yet and PCP's tables exist, it starts from PCP's assignments.
//! - [`IdSource::ReadOnly`], [`IdSource::Memory`]: a second process, or no
//!   persistence.

use std::path::PathBuf;
use std::sync::Arc;

use pcp_core::idstore::read_only_cache;
use pcp_core::{FileFormat, IdCache, StateDir};

use crate::log::{log, Level};
use crate::source::{save, Saver};
use crate::DOMAIN;

/// Where persistent ids come from.
#[derive(Debug, Clone)]
pub enum IdSource {
    /// A locked state directory of ours: ids are saved there. `seed` is
    /// PCP's table directory to start from while ours is empty.
    Dir {
        /// The state directory.
        state: Arc<StateDir>,
        /// PCP's tables to adopt (set only when ours had no ids).
        seed: Option<PathBuf>,
        /// Writes changed caches on its own thread.
        saver: Arc<Saver>,
    },
    /// pmdaopenmetrics's tables in this directory, shared with it.
    Pcp {
        /// The directory of the tables.
        dir: PathBuf,
        /// Writes changed tables on its own thread.
        saver: Arc<Saver>,
    },
    /// Another process holds the directory: ids are read, never saved.
    ReadOnly(PathBuf),
    /// No state directory: ids live in memory.
    Memory,
}

/// The file of pmdaopenmetrics's table for one of our caches
/// (`clusters`, `items.C`, `insts.C.I`).
pub fn pcp_table_file(name: &str) -> Option<String> {
    let mut parts = name.split('.');
    let serial: u64 = match (parts.next()?, parts.next(), parts.next(), parts.next()) {
        ("clusters", None, None, None) => 0,
        ("items", Some(c), None, None) => c.parse().ok()?,
        ("insts", Some(c), Some(i), None) => {
            4096 + c.parse::<u64>().ok()? * 1024 + i.parse::<u64>().ok()?
        }
        _ => return None,
    };
    Some(format!("{DOMAIN}.{serial}.py"))
}

/// True when `dir` holds pmdaopenmetrics's cluster table.
pub fn pcp_tables_exist(dir: &std::path::Path) -> bool {
    dir.join(pcp_table_file("clusters").unwrap_or_default())
        .is_file()
}

fn pcp_table(dir: &std::path::Path, name: &str, min: u32, max: u32) -> (IdCache, Vec<String>) {
    let Some(file) = pcp_table_file(name) else {
        return (IdCache::in_memory(name, min, max), Vec::new());
    };
    match IdCache::open_file(&dir.join(file), name, min, max, FileFormat::PythonTable) {
        Ok(x) => x,
        Err(e) => (
            IdCache::in_memory(name, min, max),
            vec![format!("id table {name}: {e}; ids kept in memory")],
        ),
    }
}

impl IdSource {
    /// Loads (or creates) a cache, logging what was wrong with its file.
    pub fn cache(&self, root: &str, name: &str, min: u32, max: u32) -> IdCache {
        let (mut cache, mut warnings) = match self {
            IdSource::Dir { state, .. } => match state.cache(name, min, max) {
                Ok(x) => x,
                Err(e) => {
                    log(Level::Error, root, &format!("id cache {name}: {e}"));
                    (IdCache::in_memory(name, min, max), Vec::new())
                }
            },
            IdSource::Pcp { dir, .. } => pcp_table(dir, name, min, max),
            IdSource::ReadOnly(p) => read_only_cache(p, name, min, max),
            IdSource::Memory => (IdCache::in_memory(name, min, max), Vec::new()),
        };
        if let IdSource::Dir {
            seed: Some(dir), ..
        } = self
        {
            if cache.is_empty() {
                if let Some(file) = pcp_table_file(name) {
                    // A read-only look: PCP's file is never rewritten from here.
                    let theirs = IdCache::read_file(
                        &dir.join(file),
                        name,
                        min,
                        max,
                        FileFormat::PythonTable,
                    );
                    match theirs {
                        Ok((theirs, w)) => {
                            warnings.extend(w);
                            if cache.seed_from(&theirs) {
                                log(
                                    Level::Info,
                                    root,
                                    &format!("ids of {name} taken over from {}", dir.display()),
                                );
                            }
                        }
                        Err(e) => warnings.push(e.to_string()),
                    }
                }
            }
        }
        for w in warnings {
            log(Level::Warning, root, &w);
        }
        cache
    }

    /// Saves a cache if it changed, on the saver's thread: the caller
    /// (a scrape, holding its source) never waits on the disk.
    pub fn save_later(&self, cache: &mut IdCache, root: &str) {
        match self {
            IdSource::Dir { saver, .. } | IdSource::Pcp { saver, .. } => {
                if let Some(s) = cache.snapshot() {
                    saver.submit(s);
                }
            }
            _ => save(cache, root),
        }
    }
}
