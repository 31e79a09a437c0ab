//! The agent: sources from the config directory, their scrapes (see
//! [`crate::scrape`]), the dynamic namespace, the control metrics, and the
//! [`Pmda`] implementation.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcp_core::{
    ClientContext, Desc, FetchRequest, IdCache, InDom, Instance, LabelSet, LabelTarget,
    MetricResult, MetricTable, Namespace, PmError, Pmda, Pmid, Semantics, StateDir, StoreError,
    TextKind, TextTarget, Type, Units, Value, PM_IN_NULL,
};

use crate::config::{scan, SourceFile, SourceKind};
use crate::fetch::RunAs;
use crate::log::{log, set_debug, Level};
use crate::scrape::{Settings, Shared};
use crate::source::{serial_metric, Ctx, FileStamp, IdSource, Limits, Saver, Source};
use crate::{PrometheusConfig, PrometheusError, DOMAIN};

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

/// Control metrics: (item, leaf, type, semantics, units, storable, help).
const CONTROL: &[(u32, &str, Type, Semantics, Units, &str)] = &[
    (1, "calls", Type::U64, Semantics::Counter, Units::COUNT, "Number of times each source was fetched (URL GET or script run), failures included"),
    (2, "fetch_time", Type::U64, Semantics::Counter, Units::MILLISEC, "Cumulative time spent fetching each source (successful attempts), milliseconds"),
    (3, "parse_time", Type::U64, Semantics::Counter, Units::MILLISEC, "Cumulative time spent parsing each source's documents, milliseconds"),
    (4, "debug", Type::U32, Semantics::Discrete, Units::NONE, "Debug flag: pmstore a non-zero value to turn verbose logging on, 0 to turn it off"),
    (5, "status", Type::String, Semantics::Instant, Units::NONE, "Status of the last fetch of each source: unknown, success, or why it failed"),
    (6, "status_code", Type::I32, Semantics::Discrete, Units::NONE, "HTTP status code of the last fetch of each source (0 for files, scripts and connection failures)"),
    (7, "parse_errors", Type::U64, Semantics::Counter, Units::COUNT, "Lines skipped as malformed and values that did not convert, per source"),
    (8, "bytes", Type::U64, Semantics::Counter, Units::BYTES, "Bytes of documents received, per source"),
    (9, "samples", Type::U64, Semantics::Instant, Units::COUNT, "Samples in the last document of each source"),
    (10, "last_success", Type::Double, Semantics::Instant, Units::SEC, "When each source was last fetched successfully, seconds since the epoch (0 if never)"),
    (11, "up", Type::U32, Semantics::Instant, Units::NONE, "1 if the last fetch of the source succeeded, else 0 (the control instance counts sources up)"),
    (12, "fetch_time_us", Type::U64, Semantics::Counter, Units::new(0, 1, 0, 0, pcp_core::desc::time::USEC, 0), "Cumulative fetch time of each source, microseconds"),
    (13, "parse_time_us", Type::U64, Semantics::Counter, Units::new(0, 1, 0, 0, pcp_core::desc::time::USEC, 0), "Cumulative parse time of each source, microseconds"),
    (14, "metrics", Type::U32, Semantics::Instant, Units::COUNT, "Number of metrics each source has"),
    (15, "failures", Type::U64, Semantics::Counter, Units::COUNT, "Number of failed fetches of each source"),
];

/// pmdaopenmetrics's one-line help of its control metric `item`.
fn pcp_control_text(item: u32, root: &str) -> Option<String> {
    Some(match item {
        1 => "per-end-point source call counter".into(),
        2 => "per-end-point source fetch time counter, excluding parse time".into(),
        3 => "per-end-point source parse time counter, excluding fetch time".into(),
        4 => format!(
            "debug flag to enable verbose log messages, to enable: pmstore {root}.control.debug 1"
        ),
        5 => "per-end-point source URL response status after the most recent fetch".into(),
        6 => "per-end-point source URL response status code after the most recent fetch".into(),
        _ => return None,
    })
}

/// pmdaopenmetrics's control metrics are items 1 to 6 (calls, fetch_time,
/// parse_time, debug, status, status_code).
const PCP_CONTROL_ITEMS: u32 = 6;

const CONTROL_INDOM: InDom = InDom::from_parts(DOMAIN, 0);

struct Background {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

/// The Prometheus/OpenMetrics agent (see the crate documentation).
pub struct PrometheusPmda {
    shared: Arc<Shared>,
    config_dir: PathBuf,
    nosort: bool,
    background: Option<Background>,
    clusters: IdCache,
    control: MetricTable,
    ns: Namespace,
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

impl std::fmt::Debug for PrometheusPmda {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrometheusPmda")
            .field("root", &self.shared.settings.root)
            .field("config_dir", &self.config_dir)
            .field("sources", &self.shared.sources.read().len())
            .field("metrics", &self.ns.len())
            .finish_non_exhaustive()
    }
}

impl Drop for PrometheusPmda {
    fn drop(&mut self) {
        if let Some(bg) = self.background.as_mut() {
            bg.stop.store(true, Ordering::Relaxed);
            if let Some(h) = bg.handle.take() {
                let _ = h.join();
            }
        }
    }
}

fn resolve_config_dir(dir: &Path, root: &str) -> PathBuf {
    if dir.is_absolute() || dir.exists() {
        return dir.to_path_buf();
    }
    let pmdas = std::env::var_os("PCP_PMDAS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/pcp/pmdas"));
    let candidate = pmdas.join(root).join(dir);
    if candidate.exists() {
        candidate
    } else {
        dir.to_path_buf()
    }
}

impl PrometheusPmda {
    /// Starts the agent: resolves the config directory, opens the id store,
    /// scans the sources and fetches each once (bounded by the fetch
    /// deadline) so their names exist.
    pub fn new(config: PrometheusConfig) -> Result<PrometheusPmda, PrometheusError> {
        let root = config.root.clone();
        if config.debug {
            set_debug(true);
        }
        let config_dir = resolve_config_dir(&config.config_dir, &root);
        let ids = match (&config.state_dir, &config.pcp_tables) {
            (None, None) => IdSource::Memory,
            (None, Some(dir)) => {
                log(
                    Level::Info,
                    &root,
                    &format!("ids kept in pmdaopenmetrics's tables in {}", dir.display()),
                );
                IdSource::Pcp {
                    dir: dir.clone(),
                    saver: Arc::new(Saver::new(&root)),
                }
            }
            (Some(dir), tables) => {
                let path = dir.join(&root);
                match StateDir::open(&path) {
                    Ok(s) => {
                        // Ours have none yet: start from PCP's, if it ran here.
                        let fresh = s
                            .cache("clusters", 0, pcp_core::id::MAX_CLUSTER)
                            .map(|(c, _)| c.len() <= 1)
                            .unwrap_or(false);
                        let seed = tables
                            .as_ref()
                            .filter(|t| fresh && crate::ids::pcp_tables_exist(t))
                            .cloned();
                        IdSource::Dir {
                            state: Arc::new(s),
                            seed,
                            saver: Arc::new(Saver::new(&root)),
                        }
                    }
                    Err(e @ StoreError::Locked { .. }) => {
                        log(
                            Level::Warning,
                            &root,
                            &format!("{e}; using its ids read-only"),
                        );
                        IdSource::ReadOnly(path)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let run_as = config.user.as_deref().map(RunAs::lookup).transpose()?;
        let mut clusters = ids.cache(&root, "clusters", 0, pcp_core::id::MAX_CLUSTER);
        clusters.assign("control")?;
        crate::source::save(&mut clusters, &root);
        let mut control = MetricTable::new(DOMAIN);
        // pmdaopenmetrics has items 1-6; the others only when asked for.
        let served = CONTROL
            .iter()
            .filter(|c| config.extended_control || c.0 <= PCP_CONTROL_ITEMS);
        for &(item, leaf, ty, sem, units, help) in served {
            let indom = if item == 4 {
                InDom::NULL
            } else {
                CONTROL_INDOM
            };
            let desc = Desc::new(Pmid::from_parts(DOMAIN, 0, item), ty, indom, sem, units);
            // pmdaopenmetrics's one-line texts for its six; our longer
            // words as the help, unless standing in for it exactly.
            let (oneline, long) = match pcp_control_text(item, &root) {
                Some(t) if config.extended_control => (t, help.to_string()),
                Some(t) => (t, String::new()),
                None => (help.to_string(), String::new()),
            };
            control
                .add(&format!("{root}.control.{leaf}"), desc, &oneline, &long)
                .map_err(|_| PrometheusError::UnknownUser(format!("invalid root name {root:?}")))?;
        }
        // Scheduling and scale (ours only), also only when asked for.
        let scale = crate::scrape::CONTROL
            .iter()
            .filter(|_| config.extended_control);
        for r in scale {
            let indom = if r.per_source {
                CONTROL_INDOM
            } else {
                InDom::NULL
            };
            let desc = Desc::new(
                Pmid::from_parts(DOMAIN, 0, r.item),
                r.ty,
                indom,
                r.sem,
                r.units,
            );
            control
                .add(&format!("{root}.control.{}", r.leaf), desc, r.help, "")
                .map_err(|_| PrometheusError::UnknownUser(format!("invalid root name {root:?}")))?;
        }
        control.set_indom_text(
            CONTROL_INDOM,
            "Sources of the agent, and the control instance with totals",
            "",
        );
        let settings = Settings {
            root: root.clone(),
            timeout: config.timeout,
            deadline: config.deadline,
            min_interval: config.min_interval.unwrap_or(Duration::ZERO),
            workers: POOL_SIZE,
            max_in_flight: config.max_in_flight.max(1),
        };
        let ctx = Ctx {
            root: root.clone(),
            ids,
            limits: Limits::default(),
        };
        let shared = Shared::new(settings, ctx, run_as).map_err(|e| PrometheusError::Io {
            path: "(scrape threads)".into(),
            source: e,
        })?;
        shared.flags.names_dirty.store(true, Ordering::Release);
        let shared = Arc::new(shared);
        log(
            Level::Info,
            &root,
            &format!("config directory {}", config_dir.display()),
        );
        let ns = control.namespace().clone();
        let mut agent = PrometheusPmda {
            watcher: crate::watch::Watcher::new(&config_dir),
            shared,
            config_dir,
            nosort: config.nosort,
            background: None,
            clusters,
            control,
            ns,
            last_scan: Instant::now(),
            last_probe: Instant::now(),
            scan_errors: HashSet::new(),
            debug: config.debug,
            fetch_deadline: config
                .deadline
                .map_or(FETCH_DEADLINE, |d| d.max(FETCH_DEADLINE)),
        };
        // The first scrape of every source, so that their names exist.
        let (_, new) = agent.rescan();
        agent
            .shared
            .gather(&new, Instant::now() + agent.fetch_deadline, false);
        agent.refresh_namespace();
        if let Some(interval) = config.scrape_interval {
            agent.start_background(interval.max(Duration::from_millis(100)));
        }
        Ok(agent)
    }

    /// Replaces the size limits (body bytes and samples per document).
    pub fn set_limits(&mut self, limits: Limits) {
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

    fn start_background(&mut self, interval: Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let sh = Arc::clone(&self.shared);
        let st = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name(format!("{}-background", sh.settings.root))
            .spawn(move || {
                let mut next = Instant::now() + interval;
                while !st.load(Ordering::Relaxed) {
                    let now = Instant::now();
                    if now < next {
                        std::thread::sleep((next - now).min(Duration::from_millis(50)));
                        continue;
                    }
                    next = now + interval;
                    let all: Vec<Arc<Source>> = sh.sources.read().values().cloned().collect();
                    sh.kick(&all);
                }
            })
            .ok();
        self.background = Some(Background { stop, handle });
    }

    /// Rescans the config directory; adds and removes sources. Returns the
    /// sources that need a scrape to learn their names (new ones, edited
    /// ones).
    fn rescan(&mut self) -> (bool, Vec<Arc<Source>>) {
        self.last_scan = Instant::now();
        let found = scan(&self.config_dir, self.nosort);
        self.watcher.rewatch();
        let root = self.shared.settings.root.clone();
        let mut errors = HashSet::new();
        for e in found.errors {
            if !self.scan_errors.contains(&e) {
                log(Level::Error, &root, &e);
            }
            errors.insert(e);
        }
        self.scan_errors = errors;
        let wanted: BTreeMap<String, SourceFile> = found
            .sources
            .into_iter()
            .map(|f| (f.name.clone(), f))
            .collect();
        let mut removed = false;
        let mut to_scrape = Vec::new();
        let mut sources = self.shared.sources.write();
        sources.retain(|_, s| {
            let keep = wanted.get(&s.name).is_some_and(|f| *f == s.file);
            if !keep {
                log(Level::Info, &root, &format!("source {} removed", s.name));
                removed = true;
            }
            keep
        });
        let present: BTreeSet<String> = sources.values().map(|s| s.name.clone()).collect();
        for (name, file) in wanted {
            if present.contains(&name) {
                continue;
            }
            let cluster = match self.clusters.assign(&name) {
                Ok(c) => c,
                Err(e) => {
                    log(Level::Error, &root, &format!("source {name} ignored: {e}"));
                    continue;
                }
            };
            log(
                Level::Info,
                &root,
                &format!(
                    "source {name} ({}) added as cluster {cluster}",
                    file.path.display()
                ),
            );
            let src = Arc::new(Source::new(file, cluster, &self.shared.ctx));
            to_scrape.push(Arc::clone(&src));
            sources.insert(cluster, src);
        }
        crate::source::save(&mut self.clusters, &root);
        // Edited .url files: scrape again so new names show up now.
        for s in sources.values() {
            if s.file.kind == SourceKind::Url {
                let edited = {
                    let st = s.state.lock();
                    st.url.is_some() && st.url_stamp() != FileStamp::of(&s.file.path)
                };
                if edited {
                    to_scrape.push(Arc::clone(s));
                }
            }
        }
        drop(sources);
        if removed {
            self.shared.flags.names_dirty.store(true, Ordering::Release);
            self.shared
                .flags
                .labels_dirty
                .store(true, Ordering::Release);
        }
        (removed, to_scrape)
    }

    /// Rebuilds the namespace from the control metrics and every source's
    /// metrics; true if the set of names changed.
    fn rebuild_namespace(&mut self) -> bool {
        let mut ns = self.control.namespace().clone();
        let root = &self.shared.settings.root;
        for s in self.shared.sources.read().values() {
            let st = s.state.lock();
            for m in &st.metrics {
                let name = format!("{root}.{}.{}", s.name, m.leaf);
                if let Err(e) = ns.insert(&name, m.desc.pmid) {
                    log(Level::Debug, root, &format!("name {name}: {e}"));
                }
            }
        }
        let changed = ns.len() != self.ns.len() || ns.traverse("") != self.ns.traverse("");
        self.ns = ns;
        changed
    }

    fn source(&self, cluster: u32) -> Option<Arc<Source>> {
        self.shared.sources.read().get(&cluster).cloned()
    }

    fn control_values(&self, item: u32) -> MetricResult {
        if item == 4 {
            return Ok(vec![(PM_IN_NULL, Value::U32(self.debug as u32))]);
        }
        if self
            .control
            .desc(Pmid::from_parts(DOMAIN, 0, item))
            .is_err()
        {
            return Err(PmError::PMID);
        }
        if let Some(r) = self.shared.control_values(item) {
            return r;
        }
        let sources: Vec<Arc<Source>> = self.shared.sources.read().values().cloned().collect();
        let mut out = Vec::with_capacity(sources.len() + 1);
        let mut total_u: u64 = 0;
        let mut total_f: f64 = 0.0;
        for s in &sources {
            let st = s.state.lock();
            let x = &st.stats;
            let v = match item {
                1 => Value::U64(x.calls),
                2 => Value::U64(x.fetch_us / 1000),
                3 => Value::U64(x.parse_us / 1000),
                5 => Value::String(x.status.clone()),
                6 => Value::I32(x.status_code),
                7 => Value::U64(x.parse_errors),
                8 => Value::U64(x.bytes),
                9 => Value::U64(x.samples),
                10 => Value::Double(x.last_success),
                11 => Value::U32(x.up as u32),
                12 => Value::U64(x.fetch_us),
                13 => Value::U64(x.parse_us),
                14 => Value::U32(st.metrics.len() as u32),
                _ => Value::U64(x.failures),
            };
            match &v {
                Value::U64(n) => total_u += n,
                Value::U32(n) => total_u += *n as u64,
                Value::Double(d) => total_f = total_f.max(*d),
                _ => {}
            }
            out.push((s.cluster, v));
        }
        let total = match item {
            2 | 3 => {
                // Totals in ms from the microsecond sums, not sums of truncations.
                let us: u64 = sources
                    .iter()
                    .map(|s| {
                        let st = s.state.lock();
                        if item == 2 {
                            st.stats.fetch_us
                        } else {
                            st.stats.parse_us
                        }
                    })
                    .sum();
                Value::U64(us / 1000)
            }
            5 => Value::String("none".into()),
            6 => Value::I32(0),
            10 => Value::Double(total_f),
            11 | 14 => Value::U32(total_u as u32),
            _ => Value::U64(total_u),
        };
        out.insert(0, (0, total));
        Ok(out)
    }
}

impl Pmda for PrometheusPmda {
    fn name(&self) -> &str {
        &self.shared.settings.root
    }

    fn domain(&self) -> u32 {
        DOMAIN
    }

    fn namespace(&self) -> &Namespace {
        &self.ns
    }

    fn refresh_namespace(&mut self) -> bool {
        let mut to_scrape = Vec::new();
        if self.watcher.changed() || self.last_scan.elapsed() >= SAFETY_RESCAN {
            let (_, s) = self.rescan();
            to_scrape = s;
        }
        if self.last_probe.elapsed() >= PROBE_INTERVAL {
            // Sources never reached have no names: retry them now and then.
            self.last_probe = Instant::now();
            // Their names appear when they answer, without waiting here.
            let idle: Vec<Arc<Source>> = self
                .shared
                .sources
                .read()
                .values()
                .filter(|s| s.state.lock().metrics.is_empty())
                .cloned()
                .collect();
            self.shared.kick(&idle);
        }
        if !to_scrape.is_empty() {
            to_scrape.sort_by_key(|s| s.cluster);
            to_scrape.dedup_by_key(|s| s.cluster);
            self.shared
                .gather(&to_scrape, Instant::now() + NAMES_WAIT, false);
        }
        if self.shared.flags.names_dirty.swap(false, Ordering::AcqRel) {
            return self.rebuild_namespace();
        }
        false
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        if pmid.domain() != DOMAIN {
            return Err(PmError::PMID);
        }
        if pmid.cluster() == 0 {
            return self.control.desc(pmid);
        }
        let src = self.source(pmid.cluster()).ok_or(PmError::PMID)?;
        let st = src.state.lock();
        st.metric(pmid.item()).map(|m| m.desc).ok_or(PmError::PMID)
    }

    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom.domain() != DOMAIN {
            return Err(PmError::INDOM);
        }
        if indom == CONTROL_INDOM {
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

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        match target {
            TextTarget::Metric(p) if p.cluster() == 0 => self.control.text(target, kind),
            TextTarget::InDom(i) if i == CONTROL_INDOM => self.control.text(target, kind),
            TextTarget::Metric(p) => {
                let src = self.source(p.cluster()).ok_or(PmError::TEXT)?;
                let st = src.state.lock();
                let m = st.metric(p.item()).ok_or(PmError::TEXT)?;
                // As the reference: a metric without HELP has empty texts
                // (pminfo prints "<empty entry>"), not missing ones.
                Ok(match kind {
                    TextKind::OneLine => m.oneline.clone(),
                    TextKind::Help if m.help.is_empty() => m.oneline.clone(),
                    TextKind::Help => m.help.clone(),
                })
            }
            TextTarget::InDom(i) => {
                let (c, item) = serial_metric(i.serial()).ok_or(PmError::TEXT)?;
                let src = self.source(c).ok_or(PmError::TEXT)?;
                let st = src.state.lock();
                let m = st.metric(item).ok_or(PmError::TEXT)?;
                Ok(format!(
                    "Instances of {}.{}.{}, one per label set",
                    self.shared.settings.root, src.name, m.leaf
                ))
            }
        }
    }

    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Domain => {
                LabelSet::new().with("agent", self.shared.settings.root.as_str())
            }
            LabelTarget::Cluster(0) => LabelSet::new(),
            LabelTarget::Cluster(c) => match self.source(c) {
                Some(s) => s.state.lock().labels.clone(),
                None => LabelSet::new(),
            },
            LabelTarget::InDom(i) if i == CONTROL_INDOM => LabelSet::new(),
            LabelTarget::InDom(i) => {
                match serial_metric(i.serial()).and_then(|(c, _)| self.source(c)) {
                    Some(s) => LabelSet::new().with("source", s.name.as_str()),
                    None => LabelSet::new(),
                }
            }
            LabelTarget::Item(p) if p.cluster() == 0 => LabelSet::new(),
            LabelTarget::Item(p) => match self.source(p.cluster()) {
                Some(s) => s.state.lock().item_labels(p.item()),
                None => LabelSet::new(),
            },
        })
    }

    fn instance_labels(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        if indom == CONTROL_INDOM {
            return Ok(Vec::new());
        }
        let (c, i) = serial_metric(indom.serial()).ok_or(PmError::INDOM)?;
        let src = self.source(c).ok_or(PmError::INDOM)?;
        let st = src.state.lock();
        Ok(st.instance_labels(i))
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        let wanted: BTreeSet<u32> = req
            .pmids
            .iter()
            .filter(|p| p.domain() == DOMAIN && p.cluster() != 0)
            .map(|p| p.cluster())
            .collect();
        let sources: Vec<Arc<Source>> = {
            let all = self.shared.sources.read();
            wanted.iter().filter_map(|c| all.get(c).cloned()).collect()
        };
        if self.background.is_none() {
            // Sources that miss their deadline answer with their last good
            // values, marked stale; sources that never had values give
            // PM_ERR_AGAIN.
            self.shared
                .gather(&sources, Instant::now() + self.fetch_deadline, true);
        }
        req.pmids
            .iter()
            .map(|&p| {
                if p.domain() != DOMAIN {
                    return Err(PmError::PMID);
                }
                if p.cluster() == 0 {
                    return self.control_values(p.item());
                }
                let src = self.source(p.cluster()).ok_or(PmError::PMID)?;
                let st = src.state.lock();
                st.values(p.item())
            })
            .collect()
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        _client: &ClientContext,
    ) -> Result<(), PmError> {
        if pmid == Pmid::from_parts(DOMAIN, 0, 4) {
            let v = values.first().ok_or(PmError::BADSTORE)?;
            let n = v.1.as_f64().ok_or(PmError::BADSTORE)?;
            if n < 0.0 {
                return Err(PmError::BADSTORE);
            }
            self.debug = n != 0.0;
            set_debug(self.debug);
            log(
                Level::Info,
                &self.shared.settings.root,
                &format!("debug {}", if self.debug { "on" } else { "off" }),
            );
            return Ok(());
        }
        if pmid.domain() == DOMAIN && pmid.cluster() < 4095 && pmid.item() < 1023 {
            Err(PmError::PERMISSION)
        } else {
            Err(PmError::PMID)
        }
    }

    fn labels_changed(&mut self) -> bool {
        self.shared.flags.labels_dirty.swap(false, Ordering::AcqRel)
    }

    fn wait_ready(&mut self, timeout: Duration) {
        let _ = timeout;
        self.refresh_namespace();
    }
}
