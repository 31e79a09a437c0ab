//! The agent on pcp-core's table layer: [`Prometheus`] is a
//! [`pcp_core::agent::Agent`], and [`prometheus_pmda`] serves it as a
//! [`pcp_core::Pmda`].
//!
//! - [`control`]: the fixed control metrics, one row each, and their values;
//! - `names`: the table rebuilt from the control rows and every source's
//!   metrics (names made from scraped samples, PMIDs kept by [`crate::ids`])
//!   whenever a scrape adds names;
//! - `sources`: the config directory's sources, rescanned when it changes,
//!   and the background scraper;
//! - `start`: the constructor (config directory, id store, first scrapes).

pub mod control;
mod names;
mod sources;
mod start;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcp_core::agent::{Agent, Fetch, Metrics, Sink, TablePmda};
use pcp_core::{
    ClientContext, IdCache, InDom, Instance, LabelSet, LabelTarget, PmError, Type, Value,
    PM_IN_NULL,
};

use crate::log::{log, set_debug, Level};
use crate::scrape::Shared;
use crate::source::{serial_metric, Limits, Source};

pub use control::Control;
pub use start::prometheus_pmda;

/// The agent served as a [`pcp_core::Pmda`].
pub type PrometheusPmda = TablePmda<Prometheus>;

/// A fetch answers within this time whatever its sources do (pmcd gives
/// up on an agent after 5 s; a names refresh before it may take
/// [`NAMES_WAIT`]).
pub const FETCH_DEADLINE: Duration = Duration::from_millis(3500);
/// How long a names request waits for new or edited sources to answer
/// (their names appear later if they take longer).
pub const NAMES_WAIT: Duration = Duration::from_millis(1000);
/// Workers for blocking scrapes (files, scripts, https, proxies).
pub const POOL_SIZE: usize = 48;
/// Most HTTP exchanges in flight at once.
pub const MAX_IN_FLIGHT: usize = 1024;
/// How often sources with no metrics yet are retried for the namespace.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(10);
/// A full rescan of the config tree at least this often, even with inotify
/// (it cannot see a symlink's target change mode).
pub const SAFETY_RESCAN: Duration = Duration::from_secs(60);

/// The agent's handle for one metric of its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handle {
    /// A control metric (cluster 0).
    Control(Control),
    /// Metric `item` of the source in `cluster`.
    Source {
        /// The source's cluster.
        cluster: u32,
        /// The metric's item in it.
        item: u32,
    },
}

struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// The Prometheus/OpenMetrics agent (see the crate documentation).
pub struct Prometheus {
    shared: Arc<Shared>,
    config_dir: PathBuf,
    nosort: bool,
    background: Option<Background>,
    clusters: IdCache,
    /// The control rows, the start of every rebuilt table.
    control: Metrics<Handle>,
    watcher: crate::watch::Watcher,
    last_scan: Instant,
    last_probe: Instant,
    scan_errors: HashSet<String>,
    debug: bool,
    /// The longest a fetch waits: [`FETCH_DEADLINE`], or a longer deadline
    /// asked for explicitly (not for use under pmcd, which gives up on
    /// an agent after its own timeout, 5 s by default).
    fetch_deadline: Duration,
}

impl std::fmt::Debug for Prometheus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prometheus")
            .field("root", &self.shared.settings.root)
            .field("config_dir", &self.config_dir)
            .field("sources", &self.shared.sources.read().len())
            .finish_non_exhaustive()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(bg) = self.background.as_mut() {
            bg.stop.store(true, Ordering::Relaxed);
            if let Some(h) = bg.handle.take() {
                let _ = h.join();
            }
        }
    }
}

impl Prometheus {
    /// Replaces the size limits (body bytes and samples per document).
    pub fn set_limits(&self, limits: Limits) {
        *self.shared.limits.write() = limits;
    }

    /// The config directory in use.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// The names of the current sources, by cluster.
    pub fn sources(&self) -> Vec<(u32, String)> {
        self.shared
            .sources
            .read()
            .values()
            .map(|s| (s.cluster, s.name.clone()))
            .collect()
    }

    fn source(&self, cluster: u32) -> Option<Arc<Source>> {
        self.shared.sources.read().get(&cluster).cloned()
    }
}

impl Agent for Prometheus {
    type Metric = Handle;

    fn refresh(&mut self, fetch: &Fetch<'_, Handle>) {
        if self.background.is_some() {
            return;
        }
        let sources: Vec<Arc<Source>> = {
            let all = self.shared.sources.read();
            fetch
                .clusters()
                .iter()
                .filter(|c| **c != control::CLUSTER)
                .filter_map(|c| all.get(c).cloned())
                .collect()
        };
        // Sources that miss their deadline answer with their last good
        // values, marked stale; sources that never had values give
        // PM_ERR_AGAIN.
        self.shared
            .gather(&sources, Instant::now() + self.fetch_deadline, true);
    }

    fn value(&mut self, m: Handle, out: &mut Sink<'_>) -> Result<(), PmError> {
        match m {
            Handle::Control(c) => control::value(&self.shared, self.debug, c, out),
            Handle::Source { cluster, item } => {
                let src = self.source(cluster).ok_or(PmError::PMID)?;
                let values = src.state.lock().values(item)?;
                for (inst, v) in values {
                    if inst == PM_IN_NULL {
                        out.set(v);
                    } else {
                        out.put(inst, v);
                    }
                }
            }
        }
        Ok(())
    }

    fn instances(&mut self, indom: InDom, _: &ClientContext) -> Result<Vec<Instance>, PmError> {
        if indom.serial() == control::SOURCES.serial {
            let mut v = vec![Instance::new(0, "control")];
            v.extend(
                self.shared
                    .sources
                    .read()
                    .values()
                    .map(|s| Instance::new(s.cluster, s.name.clone())),
            );
            return Ok(v);
        }
        let (c, i) = serial_metric(indom.serial()).ok_or(PmError::INDOM)?;
        let src = self.source(c).ok_or(PmError::INDOM)?;
        let st = src.state.lock();
        st.instances(i).ok_or(PmError::INDOM)
    }

    fn labels(&self, target: LabelTarget, _: &ClientContext) -> LabelSet {
        match target {
            LabelTarget::Domain | LabelTarget::Cluster(control::CLUSTER) => LabelSet::new(),
            LabelTarget::Cluster(c) => match self.source(c) {
                Some(s) => s.state.lock().labels.clone(),
                None => LabelSet::new(),
            },
            LabelTarget::InDom(i) if i.serial() == control::SOURCES.serial => LabelSet::new(),
            LabelTarget::InDom(i) => {
                match serial_metric(i.serial()).and_then(|(c, _)| self.source(c)) {
                    Some(s) => LabelSet::new().with("source", s.name.as_str()),
                    None => LabelSet::new(),
                }
            }
            LabelTarget::Item(p) if p.cluster() == control::CLUSTER => LabelSet::new(),
            LabelTarget::Item(p) => match self.source(p.cluster()) {
                Some(s) => s.state.lock().item_labels(p.item()),
                None => LabelSet::new(),
            },
        }
    }

    fn instance_labels(
        &mut self,
        indom: InDom,
        _: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        if indom.serial() == control::SOURCES.serial {
            return Ok(Vec::new());
        }
        let (c, i) = serial_metric(indom.serial()).ok_or(PmError::INDOM)?;
        let src = self.source(c).ok_or(PmError::INDOM)?;
        let st = src.state.lock();
        Ok(st.instance_labels(i))
    }

    /// The debug flag takes any number; negative or not a number is a bad
    /// store (as pmdaopenmetrics).
    fn store_value(&self, m: Handle, value: &Value, ty: Type) -> Result<Value, PmError> {
        if m != Handle::Control(Control::Debug) {
            return value.convert(ty);
        }
        match value.as_f64() {
            Some(n) if n >= 0.0 => Ok(Value::U32((n != 0.0) as u32)),
            _ => Err(PmError::BADSTORE),
        }
    }

    fn store(
        &mut self,
        m: Handle,
        _: u32,
        value: &Value,
        _: &ClientContext,
    ) -> Result<(), PmError> {
        if m != Handle::Control(Control::Debug) {
            return Err(PmError::PERMISSION);
        }
        self.debug = value.as_f64().is_some_and(|n| n != 0.0);
        set_debug(self.debug);
        log(
            Level::Info,
            &self.shared.settings.root,
            &format!("debug {}", if self.debug { "on" } else { "off" }),
        );
        Ok(())
    }

    fn refresh_sources(&mut self) {
        self.reread_sources();
    }

    fn refresh_names(&mut self, table: &mut Metrics<Handle>) -> bool {
        if !self.shared.flags.names_dirty.swap(false, Ordering::AcqRel) {
            return false;
        }
        let before = table.namespace().traverse("").unwrap_or_default();
        *table = names::build(&self.control, &self.shared);
        table.namespace().traverse("").unwrap_or_default() != before
    }

    fn labels_changed(&mut self) -> bool {
        self.shared.flags.labels_dirty.swap(false, Ordering::AcqRel)
    }

    fn wait_ready(&mut self, _timeout: Duration) {
        self.reread_sources();
    }
}
