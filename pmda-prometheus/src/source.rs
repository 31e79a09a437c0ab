//! One source's state: its metrics (one per sample name), their
//! descriptors, instances and latest values, its counters for the control
//! metrics, and the step that turns a parsed document into all of that.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use pcp_core::namespace::valid_name;
use pcp_core::{
    Desc, IdCache, InDom, Instance, LabelSet, Namespace, PmError, Pmid, Semantics, Type, Units,
    Value,
};

pub use crate::ids::IdSource;

use crate::config::{sem_word, type_word, FilterAction, SourceFile, SourceKind, UrlConfig};
use crate::fetch::{FetchFailure, Fetched};
use crate::log::{log, Level};
use crate::parse::{help_text, LabelValue, Line, MetricType, Parser};
use crate::units::{openmetrics_unit, parse_units};
use crate::DOMAIN;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Largest instance id (the limit: 4194304 instances per metric).
pub const MAX_INSTANCE_ID: u32 = 4_194_303;
/// Largest item number (1024 metrics per source).
pub const MAX_ITEM: u32 = 1023;

/// Size limits applied to every source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document kept, in bytes (the rest is cut at a line end).
    pub max_body: usize,
    /// Most samples taken from one document.
    pub max_samples: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 64 << 20,
            max_samples: 1_000_000,
        }
    }
}

/// Saves a cache if it changed, logging failures.
pub fn save(cache: &mut IdCache, root: &str) {
    if cache.is_dirty() {
        if let Err(e) = cache.save() {
            log(Level::Error, root, &format!("saving ids: {e}"));
        }
    }
}

/// The instance-domain serial of metric `item` of source `cluster`: the
/// reference's `4096 + cluster * 1024 + item`; clusters whose serials
/// would pass 22 bits use the serials 1..=4096 the reference leaves idle.
pub fn indom_serial(cluster: u32, item: u32) -> u32 {
    let s = 4096 + cluster * 1024 + item;
    if s <= pcp_core::id::MAX_SERIAL {
        s
    } else {
        1 + (cluster - 4092) * 1024 + item
    }
}

/// The (cluster, item) of an instance-domain serial (inverse of
/// [`indom_serial`]).
pub fn serial_metric(serial: u32) -> Option<(u32, u32)> {
    if serial >= 4096 + 1024 {
        let s = serial - 4096;
        Some((s / 1024, s % 1024))
    } else if (1..=4096).contains(&serial) {
        let s = serial - 1;
        Some((4092 + s / 1024, s % 1024))
    } else {
        None
    }
}

/// Counters behind the control metrics.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Attempts (URL GETs or script runs), failed ones included.
    pub calls: u64,
    /// Fetch time of successful attempts, microseconds.
    pub fetch_us: u64,
    /// Parse time, microseconds.
    pub parse_us: u64,
    /// "unknown", "success" or the failure text.
    pub status: String,
    /// HTTP status of the last attempt (0 for files, scripts, no answer).
    pub status_code: i32,
    /// Lines skipped as malformed, and values that did not convert.
    pub parse_errors: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Samples in the last document.
    pub samples: u64,
    /// When the last attempt succeeded (seconds since the epoch; 0 never).
    pub last_success: f64,
    /// True when the last attempt succeeded.
    pub up: bool,
    /// Failed attempts.
    pub failures: u64,
}

struct Slot {
    id: u32,
    gen: u64,
    /// Position of its sample in the document of generation `gen`.
    seq: u64,
    value: Value,
    labels: LabelSet,
    /// Its labels name it (not an `instname`): they also go to the
    /// metric's labels, as the reference's do.
    merged: bool,
}

struct Insts {
    cache: IdCache,
    index: FastMap<Box<str>, usize>,
    slots: Vec<Slot>,
    /// PCP5 metrics: instances are named by their `instname` label unless
    /// one lacks it, which turns on the "<id> labels" naming for all.
    prefix_mode: bool,
}

/// One metric of a source.
pub struct Metric {
    /// The sample name it comes from.
    pub key: Box<str>,
    /// The leaf under ROOT.SOURCE (`a.b` for sample `a:b`).
    pub leaf: String,
    /// Descriptor.
    pub desc: Desc,
    /// One-line help.
    pub oneline: String,
    /// Long help.
    pub help: String,
    pcp_mode: bool,
    /// Excluded by a (re-read) filter: keeps its name, gets no values.
    filtered: bool,
    single: (u64, Value),
    /// Labels of the first sample (filtered), as the metric's labels.
    labels: LabelSet,
    notes: LabelSet,
    insts: Option<Insts>,
}

impl std::fmt::Debug for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metric")
            .field("key", &self.key)
            .field("desc", &self.desc)
            .finish_non_exhaustive()
    }
}

/// A `.url` file's identity, to notice edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    mtime_ns: i128,
    ctime_ns: i128,
    size: u64,
    ino: u64,
}

impl FileStamp {
    /// The stamp of `path` (following symlinks).
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
            size: m.size(),
            ino: m.ino(),
        })
    }
}

/// A source: its file and, behind a lock, its state.
pub struct Source {
    /// The source name.
    pub name: String,
    /// Its cluster.
    pub cluster: u32,
    /// Its config file.
    pub file: SourceFile,
    /// True while a scrape is running (a second one is not queued behind).
    pub busy: AtomicBool,
    /// Metrics, values and counters.
    pub state: Mutex<SourceState>,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("name", &self.name)
            .field("cluster", &self.cluster)
            .field("file", &self.file)
            .finish_non_exhaustive()
    }
}

/// What the agent needs of its settings while ingesting.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The namespace root.
    pub root: String,
    /// Persistent ids.
    pub ids: IdSource,
    /// Limits.
    pub limits: Limits,
}

/// The mutable state of a source.
pub struct SourceState {
    /// The `.url` file as last read.
    pub url: Option<Arc<UrlConfig>>,
    url_stamp: Option<FileStamp>,
    /// Metrics by position; items map to positions through `by_item`.
    pub metrics: Vec<Metric>,
    by_key: FastMap<Box<str>, usize>,
    by_item: HashMap<u32, usize>,
    excluded: FastMap<Box<str>, ()>,
    label_actions: FastMap<Box<str>, FilterAction>,
    items: IdCache,
    /// Leaves of this source, to catch `a` vs `a.b` collisions.
    leaves: Namespace,
    gen: u64,
    good_gen: u64,
    /// Control counters.
    pub stats: Stats,
    /// Cluster-level labels.
    pub labels: LabelSet,
    /// True once the labels changed (URL edited).
    pub labels_changed: bool,
    /// Names added since the agent last looked.
    pub names_added: bool,
    last_logged_error: String,
}

impl std::fmt::Debug for SourceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceState")
            .field("metrics", &self.metrics.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn local_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    if !ok {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// Splits a URL into (URL without credentials, host without port).
pub fn url_parts(url: &str) -> (String, String) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), String::new());
    };
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (auth, path) = rest.split_at(auth_end);
    let hostport = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    let clean = format!("{scheme}://{hostport}{path}");
    let host = match host {
        "" if scheme == "file" => local_hostname(),
        "localhost" | "127.0.0.1" | "::1" => local_hostname(),
        h => h.to_string(),
    };
    (clean, host)
}

impl Source {
    /// A new source with its ids loaded.
    pub fn new(file: SourceFile, cluster: u32, ctx: &Ctx) -> Source {
        let items = ctx
            .ids
            .cache(&ctx.root, &format!("items.{cluster}"), 0, MAX_ITEM);
        let mut labels = LabelSet::new();
        if file.kind == SourceKind::Script {
            labels.insert("script", file.path.to_string_lossy().as_ref());
        }
        labels.insert("source", file.name.as_str());
        let state = SourceState {
            url: None,
            url_stamp: None,
            metrics: Vec::new(),
            by_key: FastMap::default(),
            by_item: HashMap::new(),
            excluded: FastMap::default(),
            label_actions: FastMap::default(),
            items,
            leaves: Namespace::new(),
            gen: 0,
            good_gen: 0,
            stats: Stats {
                status: "unknown".into(),
                ..Stats::default()
            },
            labels,
            labels_changed: false,
            names_added: false,
            last_logged_error: String::new(),
        };
        Source {
            name: file.name.clone(),
            cluster,
            file,
            busy: AtomicBool::new(false),
            state: Mutex::new(state),
        }
    }
}

impl SourceState {
    /// The stamp of the `.url` file as last read.
    pub fn url_stamp(&self) -> Option<FileStamp> {
        self.url_stamp
    }

    /// Re-reads the `.url` file if it changed; returns the config to use.
    pub fn refresh_url(
        &mut self,
        path: &Path,
        root: &str,
        source: &str,
    ) -> Result<Arc<UrlConfig>, String> {
        let stamp = FileStamp::of(path);
        if let (Some(cfg), true) = (&self.url, stamp == self.url_stamp) {
            return Ok(Arc::clone(cfg));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let cfg = UrlConfig::parse(&text);
        for w in &cfg.warnings {
            log(Level::Error, root, &format!("{}: {w}", path.display()));
        }
        let cfg = Arc::new(cfg);
        // New filters: forget cached decisions and re-check existing metrics.
        self.excluded.clear();
        self.label_actions.clear();
        for m in &mut self.metrics {
            m.filtered = cfg.metric_action(&m.key) == FilterAction::Exclude;
        }
        let (url, host) = url_parts(&cfg.url);
        let mut labels = LabelSet::new();
        labels.insert("hostname", host);
        labels.insert("source", source);
        labels.insert("url", url);
        for (k, v) in &cfg.labels {
            labels.insert(k, v.as_str());
        }
        if labels != self.labels {
            self.labels = labels;
            self.labels_changed = true;
        }
        self.url = Some(Arc::clone(&cfg));
        self.url_stamp = stamp;
        Ok(cfg)
    }

    /// Records a failed attempt: no values until the next success.
    pub fn record_failure(&mut self, what: &str, failure: &FetchFailure, root: &str, source: &str) {
        self.stats.calls += 1;
        self.stats.failures += 1;
        self.stats.up = false;
        self.stats.status_code = failure.1;
        self.stats.status = format!(
            "failed to fetch URL or execute script {what}: {}",
            failure.0
        );
        self.good_gen = 0;
        // Log a failure once, not on every scrape (log storms filled disks).
        if self.last_logged_error != self.stats.status {
            log(
                Level::Warning,
                root,
                &format!("source {source}: {}", self.stats.status),
            );
            self.last_logged_error = self.stats.status.clone();
        } else {
            log(
                Level::Debug,
                root,
                &format!("source {source}: {}", self.stats.status),
            );
        }
    }

    /// Records a successful attempt and ingests its document.
    pub fn record_success(
        &mut self,
        fetched: Fetched,
        fetch_time: Duration,
        src: &Source,
        ctx: &Ctx,
    ) {
        self.stats.calls += 1;
        self.stats.fetch_us += fetch_time.as_micros() as u64;
        self.stats.bytes += fetched.body.len() as u64;
        self.stats.status_code = fetched.status_code;
        let mut body = fetched.body;
        let mut notes = Vec::new();
        if fetched.truncated {
            // Keep whole lines only.
            let end = memchr::memrchr(b'\n', &body).map_or(0, |i| i + 1);
            body.truncate(end);
            notes.push(format!(
                "body-size limit {} bytes reached, rest skipped",
                ctx.limits.max_body
            ));
        }
        let t = Instant::now();
        let text = match std::str::from_utf8(&body) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(&body),
        };
        let report = self.ingest(&text, src, ctx);
        self.stats.parse_us += t.elapsed().as_micros() as u64;
        self.stats.samples = report.samples;
        self.stats.parse_errors += report.errors;
        if report.sample_limit {
            notes.push(format!(
                "sample limit {} reached, rest skipped",
                ctx.limits.max_samples
            ));
        }
        if report.metric_limit {
            notes.push(format!("metric limit {} per source reached", MAX_ITEM + 1));
        }
        if report.instance_limit {
            notes.push(format!(
                "instance limit {} per metric reached",
                MAX_INSTANCE_ID as u64 + 1
            ));
        }
        self.stats.status = if notes.is_empty() {
            "success".into()
        } else {
            format!("success; {}", notes.join("; "))
        };
        self.stats.up = true;
        self.stats.last_success = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if !self.last_logged_error.is_empty() {
            log(
                Level::Info,
                &ctx.root,
                &format!("source {}: success again", src.name),
            );
            self.last_logged_error.clear();
        }
    }

    fn label_action(&mut self, cfg: Option<&UrlConfig>, name: &str) -> FilterAction {
        let Some(cfg) = cfg.filter(|c| !c.label_filters.is_empty()) else {
            return FilterAction::Include;
        };
        if let Some(a) = self.label_actions.get(name) {
            return *a;
        }
        let a = cfg.label_action(name);
        self.label_actions.insert(name.into(), a);
        a
    }

    /// Parses `doc` into this source's metrics. Bad lines are skipped and
    /// counted.
    pub fn ingest(&mut self, doc: &str, src: &Source, ctx: &Ctx) -> IngestReport {
        self.gen += 1;
        let gen = self.gen;
        let cfg = self.url.clone();
        let cfg = cfg.as_deref();
        let mut report = IngestReport::default();
        let mut family = Family::default();
        let mut pcp: Option<PcpMeta<'_>> = None;
        let mut after_samples = false;
        let mut scratch: Vec<(&str, LabelValue<'_>)> = Vec::with_capacity(16);
        let mut key = String::with_capacity(128);
        let mut logged_errors = 0;
        for line in Parser::new(doc) {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    report.errors += 1;
                    if logged_errors < 3 {
                        log(
                            Level::Debug,
                            &ctx.root,
                            &format!("source {}: {e}", src.name),
                        );
                        logged_errors += 1;
                    }
                    continue;
                }
            };
            let s = match line {
                Line::Sample(s) => s,
                Line::Eof => break,
                other => {
                    if after_samples {
                        // A comment after samples starts a new block: the
                        // metadata of the last one ends (as in the reference).
                        pcp = None;
                        family = Family::default();
                        after_samples = false;
                    }
                    match other {
                        Line::Help { name, text } => family.set(name).help = Some(text),
                        Line::Type { name, ty } => family.set(name).ty = Some(ty),
                        Line::Unit { name, unit } => family.set(name).unit = Some(unit),
                        Line::Pcp { name, rest } => {
                            pcp = Some(PcpMeta {
                                name,
                                rest,
                                v5: false,
                            })
                        }
                        Line::Pcp5 { name, rest } => {
                            pcp = Some(PcpMeta {
                                name,
                                rest,
                                v5: true,
                            })
                        }
                        _ => {}
                    }
                    continue;
                }
            };
            after_samples = true;
            report.samples += 1;
            if report.samples as usize > ctx.limits.max_samples {
                report.sample_limit = true;
                report.samples -= 1;
                break;
            }
            let idx = match self.by_key.get(s.name) {
                Some(&i) => i,
                None => {
                    if self.excluded.contains_key(s.name) {
                        continue;
                    }
                    // Labels as filtered, to decide singular vs indom.
                    let mut first = LabelSet::new();
                    let mut notes = LabelSet::new();
                    for (k, v) in s.labels() {
                        match self.label_action(cfg, k) {
                            FilterAction::Include => {
                                first.insert(k, v.value().as_ref());
                            }
                            FilterAction::Optional => {
                                first.insert(k, v.value().as_ref());
                                notes.insert_optional(k, v.value().as_ref());
                            }
                            FilterAction::Exclude => {}
                        }
                    }
                    // No label left after the filters: a singular metric.
                    match self.create_metric(
                        s.name,
                        first,
                        notes,
                        &family,
                        pcp.as_ref(),
                        cfg,
                        src,
                        ctx,
                        &mut report,
                    ) {
                        Some(i) => i,
                        None => continue,
                    }
                }
            };
            // Borrow the pieces separately: label decisions need the
            // filter cache while a metric is held.
            let has_label_filters = cfg.is_some_and(|c| !c.label_filters.is_empty());
            let m = &mut self.metrics[idx];
            if m.filtered {
                continue;
            }
            let Some(value) = convert(m.desc.ty, s.value, s.value_text) else {
                report.errors += 1;
                continue;
            };
            let Some(insts) = m.insts.as_mut() else {
                m.single = (gen, value);
                continue;
            };
            scratch.clear();
            for (k, v) in s.labels() {
                let action = if has_label_filters {
                    match self.label_actions.get(k) {
                        Some(a) => *a,
                        None => {
                            let a = cfg.map_or(FilterAction::Include, |c| c.label_action(k));
                            self.label_actions.insert(k.into(), a);
                            a
                        }
                    }
                } else {
                    FilterAction::Include
                };
                if action == FilterAction::Include {
                    scratch.push((k, v));
                }
            }
            key.clear();
            let mut named = false;
            if m.pcp_mode {
                let inst = scratch
                    .iter()
                    .find(|(k, _)| *k == "instname")
                    .or_else(|| scratch.iter().find(|(k, _)| *k == "instance"));
                if let Some((_, v)) = inst {
                    v.unescape_into(&mut key);
                    named = true;
                } else {
                    insts.prefix_mode = true;
                }
            }
            if !named {
                if scratch.len() > 1 {
                    scratch.sort_unstable_by(|a, b| a.0.cmp(b.0));
                }
                for (i, (k, v)) in scratch.iter().enumerate() {
                    if i > 0 {
                        key.push(' ');
                    }
                    key.push_str(k);
                    key.push(':');
                    v.unescape_into(&mut key);
                }
            }
            let slot = match insts.index.get(key.as_str()) {
                Some(&i) => {
                    // An instance restored from the id cache after a restart
                    // has its id but not yet its labels; one named by its
                    // instname keeps the labels it came with last.
                    if (named || insts.slots[i].labels.is_empty()) && !scratch.is_empty() {
                        insts.slots[i].labels = instance_labels(&scratch);
                    }
                    insts.slots[i].merged = !named;
                    i
                }
                None => {
                    let id = match insts.cache.assign(&key) {
                        Ok(id) => id,
                        Err(_) => {
                            report.instance_limit = true;
                            continue;
                        }
                    };
                    insts.slots.push(Slot {
                        id,
                        gen: 0,
                        seq: 0,
                        value: Value::Double(0.0),
                        labels: instance_labels(&scratch),
                        merged: !named,
                    });
                    insts
                        .index
                        .insert(key.as_str().into(), insts.slots.len() - 1);
                    insts.slots.len() - 1
                }
            };
            let sl = &mut insts.slots[slot];
            sl.gen = gen;
            sl.seq = report.samples;
            sl.value = value;
        }
        self.good_gen = gen;
        save(&mut self.items, &ctx.root);
        for m in &mut self.metrics {
            if let Some(i) = m.insts.as_mut() {
                i.cache.set_flag(!m.pcp_mode || i.prefix_mode);
                save(&mut i.cache, &ctx.root);
            }
        }
        report
    }

    #[allow(clippy::too_many_arguments)]
    fn create_metric(
        &mut self,
        name: &str,
        first: LabelSet,
        notes: LabelSet,
        family: &Family<'_>,
        pcp: Option<&PcpMeta<'_>>,
        cfg: Option<&UrlConfig>,
        src: &Source,
        ctx: &Ctx,
        report: &mut IngestReport,
    ) -> Option<usize> {
        let reject = |this: &mut SourceState, why: Option<String>| {
            if let Some(why) = why {
                log(
                    Level::Warning,
                    &ctx.root,
                    &format!("source {}: metric {name:?} {why}", src.name),
                );
            }
            this.excluded.insert(name.into(), ());
            None
        };
        if let Some(c) = cfg {
            if c.metric_action(name) == FilterAction::Exclude {
                log(
                    Level::Debug,
                    &ctx.root,
                    &format!(
                        "source {}: metric {name} excluded by config filters",
                        src.name
                    ),
                );
                return reject(self, None);
            }
        }
        let leaf = match pcp {
            Some(p) => p.name.to_string(),
            None => name.replace(':', "."),
        };
        if !valid_name(&leaf) {
            report.errors += 1;
            return reject(
                self,
                Some("is unsuitable for the PCP namespace, ignored".into()),
            );
        }
        let item = match self.items.assign(name) {
            Ok(i) => i,
            Err(_) => {
                report.metric_limit = true;
                return reject(
                    self,
                    Some(format!(
                        "ignored: more than {} metrics in the source",
                        MAX_ITEM + 1
                    )),
                );
            }
        };
        let pmid = Pmid::from_parts(DOMAIN, src.cluster, item);
        if let Err(e) = self.leaves.insert(&leaf, pmid) {
            report.errors += 1;
            return reject(self, Some(format!("ignored: {e}")));
        }
        // Type, semantics, units: heuristics, then PCP lines, then METADATA.
        let fam = family.matching(name);
        let ty_decl = fam.and_then(|f| f.ty);
        let mut ty = Type::Double;
        let (mut sem, mut units) = heuristics(name, ty_decl);
        if let Some(u) = fam.and_then(|f| f.unit).and_then(openmetrics_unit) {
            units = u;
        }
        let mut singular = first.is_empty();
        let mut pcp_mode = false;
        if let Some(p) = pcp {
            pcp_mode = true;
            let words: Vec<&str> = p.rest.split_whitespace().collect();
            let (sem_i, units_i) = if p.v5 {
                // pmid type indom sem units...
                if let Some(t) = words.get(1) {
                    ty = type_word(t);
                }
                if let Some(ind) = words.get(2) {
                    singular = *ind == "PM_INDOM_NULL";
                }
                (3, 4)
            } else {
                (0, 1)
            };
            if let Some(s) = words.get(sem_i).and_then(|w| sem_word(w)) {
                sem = s;
            }
            if words.len() > units_i {
                if let Some(u) = parse_units(&words[units_i..].join(" ")) {
                    units = u;
                }
            }
        }
        if let Some(md) = cfg.and_then(|c| c.metadata_for(name)) {
            ty = md.ty;
            sem = md.sem;
            units = md.units;
            if md.singular {
                singular = true;
            }
        }
        // The reference collapses runs of white space in help text.
        let (oneline, help) = fam
            .and_then(|f| f.help)
            .map(|h| help_text(&h.split_whitespace().collect::<Vec<_>>().join(" ")))
            .unwrap_or_default();
        let insts = if singular {
            None
        } else {
            let cache = ctx.ids.cache(
                &ctx.root,
                &format!("insts.{}.{item}", src.cluster),
                0,
                MAX_INSTANCE_ID,
            );
            let mut index = FastMap::default();
            let mut slots = Vec::with_capacity(cache.len());
            // Instances known from earlier runs keep their ids and names.
            for (k, id) in cache.iter() {
                index.insert(k.into(), slots.len());
                slots.push(Slot {
                    id,
                    gen: 0,
                    seq: 0,
                    value: Value::Double(0.0),
                    labels: LabelSet::new(),
                    merged: false,
                });
            }
            // The table's flag: whether the names carry their id (always
            // for label-named instances; for PCP5 ones once one lacked an
            // instname), as pmdaopenmetrics records it.
            let prefix_mode = cache.flag();
            Some(Insts {
                cache,
                index,
                slots,
                prefix_mode,
            })
        };
        let indom = if singular {
            InDom::NULL
        } else {
            InDom::from_parts(DOMAIN, indom_serial(src.cluster, item))
        };
        let desc = Desc::new(pmid, ty, indom, sem, units);
        self.metrics.push(Metric {
            key: name.into(),
            leaf,
            desc,
            oneline,
            help,
            pcp_mode,
            filtered: false,
            single: (0, Value::Double(0.0)),
            labels: first,
            notes,
            insts,
        });
        let idx = self.metrics.len() - 1;
        self.by_key.insert(name.into(), idx);
        self.by_item.insert(item, idx);
        self.names_added = true;
        Some(idx)
    }

    /// The metric with `item`.
    pub fn metric(&self, item: u32) -> Option<&Metric> {
        self.by_item.get(&item).map(|&i| &self.metrics[i])
    }

    /// The current values of metric `item`: `PM_ERR_AGAIN` if the last
    /// attempt failed or the last document did not have the metric.
    pub fn values(&self, item: u32) -> Result<Vec<(u32, Value)>, PmError> {
        let m = self.metric(item).ok_or(PmError::PMID)?;
        if self.good_gen == 0 || m.filtered {
            return Err(PmError::AGAIN);
        }
        let g = self.good_gen;
        match &m.insts {
            None if m.single.0 == g => Ok(vec![(pcp_core::PM_IN_NULL, m.single.1.clone())]),
            None => Err(PmError::AGAIN),
            Some(i) => {
                let v: Vec<(u32, Value)> = i
                    .slots
                    .iter()
                    .filter(|s| s.gen == g)
                    .map(|s| (s.id, s.value.clone()))
                    .collect();
                if v.is_empty() {
                    Err(PmError::AGAIN)
                } else {
                    Ok(v)
                }
            }
        }
    }

    /// Every instance metric `item` ever had, named as the reference names
    /// them.
    pub fn instances(&self, item: u32) -> Option<Vec<Instance>> {
        let m = self.metric(item)?;
        let i = m.insts.as_ref()?;
        let prefix = !m.pcp_mode || i.prefix_mode;
        let mut v: Vec<Instance> = i
            .slots
            .iter()
            .map(|s| {
                let key = i.cache.name_of(s.id).unwrap_or("");
                let name = if !prefix {
                    key.to_string()
                } else if key.is_empty() {
                    s.id.to_string()
                } else {
                    format!("{} {key}", s.id)
                };
                Instance::new(s.id, name)
            })
            .collect();
        v.sort_by_key(|x| x.id);
        Some(v)
    }

    /// Labels of each instance of metric `item`: those of its sample (for
    /// instances seen in this run), and, as an optional label, `instname`:
    /// `"<id> <name>"` (the reference's note, always with the id).
    pub fn instance_labels(&self, item: u32) -> Vec<(u32, LabelSet)> {
        let Some(i) = self.metric(item).and_then(|m| m.insts.as_ref()) else {
            return Vec::new();
        };
        let mut v: Vec<(u32, LabelSet)> = i
            .slots
            .iter()
            .map(|s| {
                let mut l = s.labels.clone();
                let key = i.cache.name_of(s.id).unwrap_or("");
                l.insert_optional("instname", format!("{} {key}", s.id).as_str());
                (s.id, l)
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// Item-level labels, as the reference keeps them: the (filtered)
    /// labels of the metric's first sample, then the labels of every
    /// sample that named its instance by labels, in the order seen (the
    /// last one's values win), without the optional labels; the optional
    /// labels are notes.
    pub fn item_labels(&self, item: u32) -> LabelSet {
        let Some(m) = self.metric(item) else {
            return LabelSet::new();
        };
        let mut out = m.labels.clone();
        if let Some(i) = &m.insts {
            let mut seen: Vec<&Slot> = i.slots.iter().filter(|s| s.merged && s.gen > 0).collect();
            seen.sort_by_key(|s| (s.gen, s.seq));
            for s in seen {
                for l in s.labels.iter() {
                    out.insert(&l.name, l.value.clone());
                }
            }
        }
        let mut result = LabelSet::new();
        for l in out.iter() {
            if m.notes.get(&l.name).is_none() {
                result.insert(&l.name, l.value.clone());
            }
        }
        for n in m.notes.iter() {
            result.insert_optional(&n.name, n.value.clone());
        }
        result
    }
}

/// What one ingest saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestReport {
    /// Samples read.
    pub samples: u64,
    /// Lines skipped and values that did not convert.
    pub errors: u64,
    /// The sample limit cut the document.
    pub sample_limit: bool,
    /// A metric was refused for the 1024-per-source limit.
    pub metric_limit: bool,
    /// An instance was refused for the per-metric limit.
    pub instance_limit: bool,
}

#[derive(Default, Clone, Copy)]
struct FamilyMeta<'a> {
    name: &'a str,
    ty: Option<MetricType>,
    help: Option<&'a str>,
    unit: Option<&'a str>,
}

/// The metadata of the block being read: the HELP, TYPE and UNIT lines
/// since the last sample. As in pmdaopenmetrics, they apply to every sample
/// of the block that follows, whatever the name the lines give (so
/// `# HELP x_bytes` describes `x_bytes_total`, and a summary's HELP its
/// `_sum` and `_count` parts), and a comment after samples starts a new
/// block. For well-formed exposition text this is the family's metadata.
#[derive(Default)]
struct Family<'a> {
    cur: FamilyMeta<'a>,
}

impl<'a> Family<'a> {
    fn set(&mut self, name: &'a str) -> &mut FamilyMeta<'a> {
        self.cur.name = name;
        &mut self.cur
    }

    /// The block's metadata, if it has any.
    fn matching(&self, _sample: &str) -> Option<&FamilyMeta<'a>> {
        (!self.cur.name.is_empty()).then_some(&self.cur)
    }
}

struct PcpMeta<'a> {
    name: &'a str,
    rest: &'a str,
    v5: bool,
}

/// The reference's semantics and units heuristics (from the sample name
/// and the declared type).
pub fn heuristics(name: &str, ty: Option<MetricType>) -> (Semantics, Units) {
    let has = |p: &str| name.split('_').any(|x| x == p);
    let hist = ty == Some(MetricType::Histogram);
    let summ = ty == Some(MetricType::Summary);
    let counter = ty == Some(MetricType::Counter)
        || has("total")
        || has("count")
        || has("sum")
        || (hist && has("bucket"));
    let sem = if counter {
        Semantics::Counter
    } else {
        Semantics::Instant
    };
    let units = if ((hist || summ) && has("count")) || (hist && has("bucket")) {
        Units::COUNT
    } else if has("seconds") {
        Units::SEC
    } else if has("microseconds") {
        Units::new(0, 1, 0, 0, pcp_core::desc::time::USEC, 0)
    } else if has("bytes") {
        Units::BYTES
    } else {
        Units::NONE
    };
    (sem, units)
}

/// A sample value as a value of type `ty`: doubles as parsed; integers
/// from their text, or from an integral double.
pub fn convert(ty: Type, v: f64, text: &str) -> Option<Value> {
    fn int(v: f64, text: &str) -> Option<i128> {
        if let Ok(i) = text.parse::<i128>() {
            return Some(i);
        }
        (v.is_finite() && v.fract() == 0.0).then_some(v as i128)
    }
    Some(match ty {
        Type::Double => Value::Double(v),
        Type::Float => Value::Float(v as f32),
        Type::U64 => Value::U64(u64::try_from(int(v, text)?).ok()?),
        Type::I64 => Value::I64(i64::try_from(int(v, text)?).ok()?),
        Type::U32 => Value::U32(u32::try_from(int(v, text)?).ok()?),
        Type::I32 => Value::I32(i32::try_from(int(v, text)?).ok()?),
        Type::String => Value::String(text.to_string()),
        Type::Aggregate => Value::Aggregate(text.as_bytes().to_vec()),
        _ => Value::Double(v),
    })
}

/// The PCP labels of one instance: its (filtered) label set, without the
/// `instname` label that names PCP5-style instances.
fn instance_labels(scratch: &[(&str, LabelValue<'_>)]) -> LabelSet {
    let mut labels = LabelSet::new();
    for (k, v) in scratch {
        if *k != "instname" {
            labels.insert(k, v.value().as_ref());
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_round_trip() {
        for (c, i) in [
            (1, 0),
            (1, 1023),
            (5, 7),
            (4091, 1023),
            (4092, 0),
            (4095, 1023),
        ] {
            let s = indom_serial(c, i);
            assert!(s <= pcp_core::id::MAX_SERIAL);
            assert_eq!(serial_metric(s), Some((c, i)), "{c}.{i} -> {s}");
        }
        assert_eq!(indom_serial(1, 0), 5120);
        assert_eq!(serial_metric(0), None);
    }

    #[test]
    fn url_parts_strip_credentials_and_port() {
        let (u, h) = url_parts("http://user:pw@example.com:9100/metrics?x=1");
        assert_eq!(u, "http://example.com:9100/metrics?x=1");
        assert_eq!(h, "example.com");
        let (_, h) = url_parts("https://[2001:db8::1]:443/m");
        assert_eq!(h, "2001:db8::1");
        let (_, h) = url_parts("http://localhost:3000/metrics");
        assert_eq!(h, local_hostname());
    }

    #[test]
    fn reference_heuristics() {
        use MetricType::*;
        let c = |n, t| heuristics(n, t);
        assert_eq!(
            c("x_bucket", Some(Histogram)),
            (Semantics::Counter, Units::COUNT)
        );
        assert_eq!(
            c("x_seconds_sum", Some(Histogram)),
            (Semantics::Counter, Units::SEC)
        );
        assert_eq!(
            c("x_count", Some(Summary)),
            (Semantics::Counter, Units::COUNT)
        );
        assert_eq!(
            c("x_seconds", Some(Summary)),
            (Semantics::Instant, Units::SEC)
        );
        assert_eq!(
            c("jenkins_executor_count_value", Some(Gauge)),
            (Semantics::Counter, Units::NONE)
        );
        assert_eq!(
            c("sample_summary_count0002", None),
            (Semantics::Instant, Units::NONE)
        );
        assert_eq!(
            c("node_memory_MemFree_bytes", Some(Gauge)),
            (Semantics::Instant, Units::BYTES)
        );
        assert_eq!(
            c("requests", Some(Counter)),
            (Semantics::Counter, Units::NONE)
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(convert(Type::U32, 7.0, "7"), Some(Value::U32(7)));
        assert_eq!(convert(Type::U64, 7.0, "7.0"), Some(Value::U64(7)));
        assert_eq!(convert(Type::U64, 7.5, "7.5"), None);
        assert_eq!(convert(Type::U32, -1.0, "-1"), None);
        assert_eq!(convert(Type::I64, 1e3, "1e3"), Some(Value::I64(1000)));
    }
}
