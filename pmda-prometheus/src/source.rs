//! One source's state: its metrics (one per sample name), their
//! descriptors, instances and latest values, its counters for the control
//! metrics, and the step that turns a parsed document into all of that.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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
use crate::fetch::FetchFailure;
pub use crate::ingest::{Ingest, Outcome};
use crate::log::{log, Level, Repeats};
use crate::parse::{help_text, LabelValue, Line, MetricType, Parser};
use crate::units::{openmetrics_unit, parse_units};
use crate::DOMAIN;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Largest instance id (the limit: 4194304 instances per metric).
pub const MAX_INSTANCE_ID: u32 = 4_194_303;
/// Largest item number (1024 metrics per source).
pub const MAX_ITEM: u32 = 1023;

/// Size limits applied to every source. Together they bound a source's
/// memory: a document is read in pieces of [`READ_CHUNK`] bytes and parsed
/// as it arrives, so reading holds at most one piece and one unfinished
/// line (`max_line`); what a source keeps between fetches (its instances,
/// their names and labels, names it refused) is held under `max_state`.
/// One source therefore takes at most about
/// `max_state + 2 * READ_CHUNK + max_line` bytes, whatever it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest document read, in bytes (the rest is not read; the last
    /// partial line is dropped).
    pub max_body: usize,
    /// Most samples taken from one document.
    pub max_samples: usize,
    /// Longest line read, in bytes; longer lines are skipped (and counted
    /// as parse errors). PCP's label sets are limited to 64 KiB of JSON,
    /// so a longer line could not be given its labels anyway.
    pub max_line: usize,
    /// Most memory (estimated) a source's kept state may take: instances
    /// past it are refused until the source is removed.
    pub max_state: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 64 << 20,
            max_samples: 1_000_000,
            max_line: 64 << 10,
            max_state: 64 << 20,
        }
    }
}

/// The size of the pieces a document is read and parsed in.
pub const READ_CHUNK: usize = 256 << 10;

/// The bytes an instance costs beyond its name and labels (its slot,
/// index entries and allocation headers), for the state budget; measured
/// with a counting allocator in `tests::instance_cost_is_as_estimated`.
pub const INSTANCE_OVERHEAD: usize = 320;

/// How long a source that keeps timing out is answered with its last good
/// values (marked stale); Prometheus's own staleness horizon.
pub const MAX_STALE: Duration = Duration::from_secs(300);

/// Saves a cache if it changed, logging failures.
pub fn save(cache: &mut IdCache, root: &str) {
    if cache.is_dirty() {
        if let Err(e) = cache.save() {
            log(Level::Error, root, &format!("saving ids: {e}"));
        }
    }
}

#[derive(Debug, Default)]
struct SaverQueue {
    pending: HashMap<PathBuf, pcp_core::CacheSnapshot>,
    writing: bool,
    stop: bool,
}

/// Writes id caches on a thread of its own, latest version of each file
/// only, so that scrapes never wait on the disk (a large source's first
/// document may bring a thousand caches). Dropping it writes what is
/// still pending.
#[derive(Debug)]
pub struct Saver {
    queue: Arc<(Mutex<SaverQueue>, parking_lot::Condvar)>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Saver {
    /// Starts the saver's thread.
    pub fn new(root: &str) -> Saver {
        let queue: Arc<(Mutex<SaverQueue>, parking_lot::Condvar)> = Arc::default();
        let q = Arc::clone(&queue);
        let r = root.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("{root}-ids"))
            .spawn(move || {
                let (lock, cv) = &*q;
                let mut g = lock.lock();
                loop {
                    if g.pending.is_empty() {
                        if g.stop {
                            return;
                        }
                        cv.wait(&mut g);
                        continue;
                    }
                    let batch: Vec<_> = g.pending.drain().map(|(_, s)| s).collect();
                    g.writing = true;
                    drop(g);
                    for s in batch {
                        if let Err(e) = s.write() {
                            log(Level::Error, &r, &format!("saving ids: {e}"));
                        }
                    }
                    g = lock.lock();
                    g.writing = false;
                    cv.notify_all();
                }
            })
            .ok();
        Saver {
            queue,
            thread: Mutex::new(thread),
        }
    }

    /// Queues a snapshot (replacing an older one of the same file).
    pub fn submit(&self, s: pcp_core::CacheSnapshot) {
        let (lock, cv) = &*self.queue;
        let mut g = lock.lock();
        if self.thread.lock().is_none() {
            drop(g);
            if let Err(e) = s.write() {
                log(Level::Error, "prometheus", &format!("saving ids: {e}"));
            }
            return;
        }
        g.pending.insert(s.file().to_path_buf(), s);
        cv.notify_all();
    }

    /// Waits until everything queued is written.
    pub fn flush(&self) {
        let (lock, cv) = &*self.queue;
        let mut g = lock.lock();
        while !g.pending.is_empty() || g.writing {
            if self.thread.lock().is_none() {
                return;
            }
            cv.wait(&mut g);
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        let (lock, cv) = &*self.queue;
        lock.lock().stop = true;
        cv.notify_all();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
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
    /// The values last answered were older than the fetch that asked (its
    /// scrape ran past the deadline, or timed out).
    pub stale: bool,
    /// Fetches answered from the last scrape without scraping (the
    /// source's minimum interval had not passed).
    pub cache_hits: u64,
    /// Scrapes that waited for a free worker or connection slot.
    pub pool_waits: u64,
    /// Fetches that answered before this source's scrape ended.
    pub deadline_misses: u64,
    /// Metric names of the last document ignored for a limit or a bad
    /// name (each name counted once per document).
    pub ignored_names: u64,
}

/// One instance's values. A document is read in pieces with the source
/// unlocked in between, so readers must still see the last complete
/// document while a newer one is half read: `prev` keeps the value of the
/// last complete document when the one being read replaces `value`.
struct Slot {
    id: u32,
    gen: u64,
    /// Position of its sample in the document of generation `gen`.
    seq: u64,
    value: Value,
    prev: (u64, Value),
    labels: PackedLabels,
    /// Its labels name it (not an `instname`): they also go to the
    /// metric's labels, as the reference's do.
    merged: bool,
}

impl Slot {
    fn new(id: u32, labels: PackedLabels, merged: bool) -> Slot {
        Slot {
            id,
            gen: 0,
            seq: 0,
            value: Value::Double(0.0),
            prev: (0, Value::Double(0.0)),
            labels,
            merged,
        }
    }

    /// The value of document `good`, if this instance had one.
    fn value_of(&self, good: u64) -> Option<&Value> {
        if self.gen == good {
            Some(&self.value)
        } else if self.prev.0 == good {
            Some(&self.prev.1)
        } else {
            None
        }
    }

    /// Stores the value of document `gen`, keeping the last complete
    /// document's value (`good`) aside.
    fn set(&mut self, gen: u64, good: u64, value: Value) {
        if self.gen != gen && self.gen == good {
            self.prev = (self.gen, std::mem::replace(&mut self.value, value));
        } else {
            self.value = value;
        }
        self.gen = gen;
    }
}

/// An instance's labels packed in one allocation (`name`, `value`, each
/// preceded by its length and a colon), made into a [`LabelSet`] only
/// when asked: a source may keep a million instances.
#[derive(Debug, Clone, Default)]
struct PackedLabels(Option<Box<str>>);

impl PackedLabels {
    fn pack(pairs: &[(&str, LabelValue<'_>)]) -> PackedLabels {
        let mut out = String::new();
        let mut value = String::new();
        for (k, v) in pairs {
            if *k == "instname" {
                continue;
            }
            value.clear();
            v.unescape_into(&mut value);
            for part in [*k, value.as_str()] {
                out.push_str(&part.len().to_string());
                out.push(':');
                out.push_str(part);
            }
        }
        PackedLabels((!out.is_empty()).then(|| out.into_boxed_str()))
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest = self.0.as_deref().unwrap_or("");
        let mut next = move || {
            let (len, tail) = rest.split_once(':')?;
            let len: usize = len.parse().ok()?;
            let part = tail.get(..len)?;
            rest = &tail[len..];
            Some(part)
        };
        std::iter::from_fn(move || Some((next()?, next()?)))
    }

    fn to_set(&self) -> LabelSet {
        let mut set = LabelSet::new();
        for (k, v) in self.pairs() {
            set.insert(k, v);
        }
        set
    }
}

struct Insts {
    cache: IdCache,
    /// Instance key to slot; the key text is shared with the id cache.
    index: FastMap<Arc<str>, u32>,
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
    single: Slot,
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
    /// Its scrape in progress, if any, and when it last ran (scheduling).
    pub scrape: Mutex<Tracker>,
    /// Metrics, values and counters.
    pub state: Mutex<SourceState>,
}

/// A source's scrape in progress and recent history, for scheduling. At
/// most one scrape of a source runs at a time; fetches that want the
/// source while it runs wait for that scrape (until their deadline)
/// instead of starting another.
#[derive(Debug, Default)]
pub struct Tracker {
    /// A scrape is running.
    pub in_flight: bool,
    /// When the last scrape started.
    pub started: Option<Instant>,
    /// When the last scrape ended.
    pub finished: Option<Instant>,
    /// The last scrape timed out or ran past a fetch's deadline: the next
    /// one waits behind the others for a slot.
    pub suspect: bool,
    /// Who waits for the running scrape (each hears the cluster number).
    pub waiters: Vec<crossbeam_channel::Sender<u32>>,
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
    /// Names refused, why, and the last document that had them (to count
    /// each once per document).
    excluded: FastMap<Box<str>, (Refusal, u64)>,
    label_actions: FastMap<Box<str>, FilterAction>,
    items: IdCache,
    /// Leaves of this source, to catch `a` vs `a.b` collisions.
    leaves: Namespace,
    gen: u64,
    good_gen: u64,
    /// When the last complete document was read.
    good_at: Option<Instant>,
    /// Estimated bytes of kept state (instances, refused names), held
    /// under `Limits::max_state`.
    kept_bytes: usize,
    /// Control counters.
    pub stats: Stats,
    /// Cluster-level labels.
    pub labels: LabelSet,
    /// True once the labels changed (URL edited).
    pub labels_changed: bool,
    /// Names added since the agent last looked.
    pub names_added: bool,
    /// The status as last logged (the log repeats it at most once per
    /// `log::REPEAT_INTERVAL`).
    logged: Repeats,
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
            good_at: None,
            kept_bytes: 0,
            stats: Stats {
                status: "unknown".into(),
                ..Stats::default()
            },
            labels,
            labels_changed: false,
            names_added: false,
            logged: Repeats::default(),
        };
        Source {
            name: file.name.clone(),
            cluster,
            file,
            scrape: Mutex::new(Tracker::default()),
            state: Mutex::new(state),
        }
    }
}

impl SourceState {
    /// How old the values answered are: the time since the last complete
    /// document (`None` when the source has no values).
    pub fn age(&self) -> Option<Duration> {
        self.good_at
            .filter(|_| self.good_gen != 0)
            .map(|t| t.elapsed())
    }

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

    /// Records a failed attempt. A source that was slow (a timeout) keeps
    /// answering with its last good values, marked stale, for up to
    /// [`MAX_STALE`]; any other failure (refused, HTTP error, script
    /// failure) leaves it without values until the next success, as the
    /// reference agent does.
    pub fn record_failure(&mut self, what: &str, failure: &FetchFailure, root: &str, source: &str) {
        self.stats.calls += 1;
        self.stats.failures += 1;
        self.stats.up = false;
        self.stats.status_code = failure.1;
        self.stats.status = format!(
            "failed to fetch URL or execute script {what}: {}",
            failure.0
        );
        let keep = failure.0.is_timeout() && self.good_at.is_some_and(|t| t.elapsed() < MAX_STALE);
        if !keep {
            self.good_gen = 0;
            self.good_at = None;
        }
        let text = format!("source {source}: {}", self.stats.status);
        if !self
            .logged
            .log(Level::Warning, root, &self.stats.status, &text)
        {
            log(Level::Debug, root, &text);
        }
    }

    /// Records a successful attempt whose document was read (with
    /// [`Ingest`]): the counters, and the status text, which is also what
    /// the log says (once per condition, see [`Repeats`]).
    pub fn record_success(&mut self, done: &Outcome, source: &str, ctx: &Ctx) {
        let report = &done.report;
        self.stats.calls += 1;
        self.stats.fetch_us += done.fetch_time.as_micros() as u64;
        self.stats.parse_us += done.parse_time.as_micros() as u64;
        self.stats.bytes += done.bytes;
        self.stats.status_code = done.status_code;
        self.stats.samples = report.samples;
        self.stats.parse_errors += report.errors;
        self.stats.ignored_names = report.ignored_names();
        let (key, notes, names) = report.notes(done.truncated, &ctx.limits);
        self.stats.status = if notes.is_empty() {
            "success".into()
        } else {
            format!("success; {notes}")
        };
        self.stats.up = true;
        self.stats.last_success = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if !key.is_empty() {
            let text = match names.is_empty() {
                true => format!("source {source}: {}", self.stats.status),
                false => format!("source {source}: {}; {names}", self.stats.status),
            };
            self.logged.log(Level::Warning, &ctx.root, &key, &text);
        } else if self.logged.active() {
            log(
                Level::Info,
                &ctx.root,
                &format!("source {source}: success again"),
            );
            self.logged.clear();
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

    /// Parses a whole document into this source's metrics (the pieces of
    /// [`Ingest`] at once). Bad lines are skipped and counted.
    pub fn ingest(&mut self, doc: &str, src: &Source, ctx: &Ctx) -> IngestReport {
        let mut d = self.begin();
        self.feed(&mut d, doc, src, ctx);
        self.finish(d, ctx)
    }

    /// Starts reading a new document.
    pub fn begin(&mut self) -> Document {
        self.gen += 1;
        Document {
            gen: self.gen,
            metrics_before: self.metrics.len(),
            names_added_before: self.names_added,
            ..Document::default()
        }
    }

    /// Drops a document that failed part way (a script that exited with a
    /// failure, a connection cut): the metrics it created go again, as if
    /// it had never been read (its values are never answered: the last
    /// complete document's are).
    pub fn abandon(&mut self, d: Document) {
        for m in self.metrics.drain(d.metrics_before..) {
            self.by_key.remove(&m.key);
            self.by_item.remove(&m.desc.pmid.item());
            self.leaves.remove(&m.leaf);
        }
        self.names_added = d.names_added_before;
    }

    /// Ends a document: its values become the ones answered, and new ids
    /// are saved.
    pub fn finish(&mut self, d: Document, ctx: &Ctx) -> IngestReport {
        self.good_gen = d.gen;
        self.good_at = Some(Instant::now());
        ctx.ids.save_later(&mut self.items, &ctx.root);
        for m in &mut self.metrics {
            if let Some(i) = m.insts.as_mut() {
                i.cache.set_flag(!m.pcp_mode || i.prefix_mode);
                ctx.ids.save_later(&mut i.cache, &ctx.root);
            }
        }
        d.report
    }

    /// Reads `text` (whole lines) of document `d` into this source's
    /// metrics. Bad lines are skipped and counted.
    pub fn feed(&mut self, d: &mut Document, text: &str, src: &Source, ctx: &Ctx) {
        if d.ended {
            return;
        }
        let gen = d.gen;
        let good = self.good_gen;
        let cfg = self.url.clone();
        let cfg = cfg.as_deref();
        let mut scratch: Vec<(&str, LabelValue<'_>)> = Vec::with_capacity(16);
        let mut key = String::with_capacity(128);
        let mut parser = Parser::new(text);
        loop {
            let before = parser.remaining().len();
            let Some(line) = parser.next() else { break };
            if before - parser.remaining().len() > ctx.limits.max_line + 1 {
                d.report.long_lines += 1;
                d.report.errors += 1;
                continue;
            }
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    d.report.errors += 1;
                    if d.logged_errors < 3 {
                        log(
                            Level::Debug,
                            &ctx.root,
                            &format!("source {}: {e}", src.name),
                        );
                        d.logged_errors += 1;
                    }
                    continue;
                }
            };
            let s = match line {
                Line::Sample(s) => s,
                Line::Eof => {
                    d.ended = true;
                    break;
                }
                other => {
                    if d.after_samples {
                        // A comment after samples starts a new block: the
                        // metadata of the last one ends (as in the reference).
                        d.pcp = None;
                        d.family.clear();
                        d.after_samples = false;
                    }
                    match other {
                        Line::Help { name, text } => d.family.set(name).help.set(text),
                        Line::Type { name, ty } => d.family.set(name).ty = Some(ty),
                        Line::Unit { name, unit } => d.family.set(name).unit.set(unit),
                        Line::Pcp { name, rest } => d.pcp = Some(PcpMeta::new(name, rest, false)),
                        Line::Pcp5 { name, rest } => d.pcp = Some(PcpMeta::new(name, rest, true)),
                        _ => {}
                    }
                    continue;
                }
            };
            d.after_samples = true;
            d.report.samples += 1;
            if d.report.samples as usize > ctx.limits.max_samples {
                d.report.sample_limit = true;
                d.report.samples -= 1;
                d.ended = true;
                break;
            }
            let idx = match self.by_key.get(s.name) {
                Some(&i) => i,
                None => {
                    if let Some((why, seen)) = self.excluded.get_mut(s.name) {
                        if *seen != gen {
                            *seen = gen;
                            d.report.refused(*why, s.name);
                        }
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
                        &d.family,
                        d.pcp.as_ref(),
                        cfg,
                        src,
                        ctx,
                        &mut d.report,
                    ) {
                        Ok(i) => i,
                        Err(why) => {
                            d.report.refused(why, s.name);
                            let cost = s.name.len() + 64;
                            if self.kept_bytes + cost <= ctx.limits.max_state {
                                self.kept_bytes += cost;
                                self.excluded.insert(s.name.into(), (why, gen));
                            }
                            continue;
                        }
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
                d.report.errors += 1;
                continue;
            };
            let Some(insts) = m.insts.as_mut() else {
                m.single.set(gen, good, value);
                m.single.seq = d.report.samples;
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
                    let sl = &mut insts.slots[i as usize];
                    // An instance restored from the id cache after a restart
                    // has its id but not yet its labels; one named by its
                    // instname keeps the labels it came with last.
                    if (named || sl.labels.is_empty()) && !scratch.is_empty() {
                        self.kept_bytes = self.kept_bytes.saturating_sub(sl.labels.bytes());
                        sl.labels = PackedLabels::pack(&scratch);
                        self.kept_bytes += sl.labels.bytes();
                    }
                    sl.merged = !named;
                    sl
                }
                None => {
                    let labels = PackedLabels::pack(&scratch);
                    let cost = INSTANCE_OVERHEAD + key.len() + labels.bytes();
                    if self.kept_bytes + cost > ctx.limits.max_state {
                        d.report.state_limit = true;
                        continue;
                    }
                    let id = match insts.cache.assign(&key) {
                        Ok(id) => id,
                        Err(_) => {
                            d.report.instance_limit = true;
                            continue;
                        }
                    };
                    self.kept_bytes += cost;
                    let shared = insts
                        .cache
                        .shared_name(id)
                        .unwrap_or_else(|| key.as_str().into());
                    insts.index.insert(shared, insts.slots.len() as u32);
                    insts.slots.push(Slot::new(id, labels, !named));
                    insts.slots.last_mut().expect("just pushed")
                }
            };
            slot.set(gen, good, value);
            slot.seq = d.report.samples;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_metric(
        &mut self,
        name: &str,
        first: LabelSet,
        notes: LabelSet,
        family: &Family,
        pcp: Option<&PcpMeta>,
        cfg: Option<&UrlConfig>,
        src: &Source,
        ctx: &Ctx,
        report: &mut IngestReport,
    ) -> Result<usize, Refusal> {
        // Refusals are counted by the caller and reported once per
        // document with their count (never a line per name per fetch).
        let reject = |why: Refusal| {
            log(
                Level::Debug,
                &ctx.root,
                &format!("source {}: metric {name:?} {}", src.name, why.text()),
            );
            Err(why)
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
                return reject(Refusal::Filtered);
            }
        }
        let leaf = match pcp {
            Some(p) => p.name.to_string(),
            None => name.replace(':', "."),
        };
        if !valid_name(&leaf) {
            report.errors += 1;
            return reject(Refusal::BadName);
        }
        let item = match self.items.assign(name) {
            Ok(i) => i,
            Err(_) => return reject(Refusal::MetricLimit),
        };
        let pmid = Pmid::from_parts(DOMAIN, src.cluster, item);
        if let Err(e) = self.leaves.insert(&leaf, pmid) {
            report.errors += 1;
            log(
                Level::Debug,
                &ctx.root,
                &format!("source {}: metric {name:?}: {e}", src.name),
            );
            return reject(Refusal::NameClash);
        }
        // Type, semantics, units: heuristics, then PCP lines, then METADATA.
        let fam = family.matching(name);
        let ty_decl = fam.and_then(|f| f.ty);
        let mut ty = Type::Double;
        let (mut sem, mut units) = heuristics(name, ty_decl);
        if let Some(u) = fam.and_then(|f| f.unit.get()).and_then(openmetrics_unit) {
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
            .and_then(|f| f.help.get())
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
                let shared = cache.shared_name(id).unwrap_or_else(|| k.into());
                self.kept_bytes += INSTANCE_OVERHEAD + k.len();
                index.insert(shared, slots.len() as u32);
                slots.push(Slot::new(id, PackedLabels::default(), false));
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
            single: Slot::new(pcp_core::PM_IN_NULL, PackedLabels::default(), false),
            labels: first,
            notes,
            insts,
        });
        let idx = self.metrics.len() - 1;
        self.by_key.insert(name.into(), idx);
        self.by_item.insert(item, idx);
        self.names_added = true;
        Ok(idx)
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
            None => match m.single.value_of(g) {
                Some(v) => Ok(vec![(pcp_core::PM_IN_NULL, v.clone())]),
                None => Err(PmError::AGAIN),
            },
            Some(i) => {
                let v: Vec<(u32, Value)> = i
                    .slots
                    .iter()
                    .filter_map(|s| Some((s.id, s.value_of(g)?.clone())))
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
                let mut l = s.labels.to_set();
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
                for (k, v) in s.labels.pairs() {
                    out.insert(k, v);
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

/// Why a metric name was refused (each is counted per document and
/// reported once, with its count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A `FILTER: EXCLUDE METRIC` rule (not reported: asked for).
    Filtered,
    /// Not a valid PCP name.
    BadName,
    /// The source already has [`MAX_ITEM`]` + 1` metrics.
    MetricLimit,
    /// Its name collides with another metric's (`a` and `a.b`).
    NameClash,
}

impl Refusal {
    fn text(self) -> &'static str {
        match self {
            Refusal::Filtered => "excluded by config filters",
            Refusal::BadName => "is unsuitable for the PCP namespace, ignored",
            Refusal::MetricLimit => "ignored: the source has its limit of metrics",
            Refusal::NameClash => "ignored: its name collides with another metric's",
        }
    }
}

/// What one document brought: counts for the control metrics and the one
/// status line per fetch (limits hit are counted, never logged per item).
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// Samples read.
    pub samples: u64,
    /// Lines skipped and values that did not convert.
    pub errors: u64,
    /// The sample limit cut the document.
    pub sample_limit: bool,
    /// Metric names refused for the per-source limit.
    pub over_metric_limit: u64,
    /// Metric names refused as invalid PCP names.
    pub bad_names: u64,
    /// Metric names refused for colliding with another.
    pub name_clashes: u64,
    /// The first name refused and why, for the report.
    pub first_refused: Option<(Refusal, String)>,
    /// An instance was refused for the per-metric limit.
    pub instance_limit: bool,
    /// Instances were refused for the source's memory limit.
    pub state_limit: bool,
    /// Lines skipped for their length.
    pub long_lines: u64,
}

impl IngestReport {
    fn refused(&mut self, why: Refusal, name: &str) {
        match why {
            Refusal::Filtered => return,
            Refusal::BadName => self.bad_names += 1,
            Refusal::MetricLimit => self.over_metric_limit += 1,
            Refusal::NameClash => self.name_clashes += 1,
        }
        if self.first_refused.is_none() {
            self.first_refused = Some((why, name.chars().take(80).collect()));
        }
    }

    /// Metric names refused (all reasons but filters).
    pub fn ignored_names(&self) -> u64 {
        self.over_metric_limit + self.bad_names + self.name_clashes
    }

    /// What to say about this document beyond "success": (the conditions,
    /// as a key for rate limiting; the limits reached, for the status; the
    /// names ignored, for the log beside the status).
    pub fn notes(&self, truncated: bool, limits: &Limits) -> (String, String, String) {
        let mut key = Vec::new();
        let mut notes = Vec::new();
        if truncated {
            key.push("body");
            notes.push(format!(
                "body-size limit {} bytes reached, rest skipped",
                limits.max_body
            ));
        }
        if self.sample_limit {
            key.push("samples");
            notes.push(format!(
                "sample limit {} reached, rest skipped",
                limits.max_samples
            ));
        }
        if self.long_lines > 0 {
            key.push("lines");
            notes.push(format!(
                "{} lines longer than {} bytes skipped",
                self.long_lines, limits.max_line
            ));
        }
        let example = |why: Refusal| match &self.first_refused {
            Some((w, n)) if *w == why => format!(" (first {n:?})"),
            _ => String::new(),
        };
        if self.over_metric_limit > 0 {
            key.push("metrics");
            notes.push(format!(
                "metric limit {} per source reached: {} names ignored{}",
                MAX_ITEM + 1,
                self.over_metric_limit,
                example(Refusal::MetricLimit)
            ));
        }
        if self.instance_limit {
            key.push("instances");
            notes.push(format!(
                "instance limit {} per metric reached",
                MAX_INSTANCE_ID as u64 + 1
            ));
        }
        if self.state_limit {
            key.push("state");
            notes.push(format!(
                "memory limit {} bytes per source reached, new instances ignored",
                limits.max_state
            ));
        }
        let status = notes.join("; ");
        notes.clear();
        if self.bad_names > 0 {
            key.push("names");
            notes.push(format!(
                "{} names unsuitable for the PCP namespace ignored{}",
                self.bad_names,
                example(Refusal::BadName)
            ));
        }
        if self.name_clashes > 0 {
            key.push("clashes");
            notes.push(format!(
                "{} names colliding with other metrics' ignored{}",
                self.name_clashes,
                example(Refusal::NameClash)
            ));
        }
        (key.join(","), status, notes.join("; "))
    }
}

/// A document being read: what the reader remembers from one piece to
/// the next (the family being read, positional PCP metadata) and what it
/// saw so far.
#[derive(Debug, Default)]
pub struct Document {
    gen: u64,
    metrics_before: usize,
    names_added_before: bool,
    family: Family,
    pcp: Option<PcpMeta>,
    after_samples: bool,
    /// `# EOF` seen or the sample limit reached: the rest is not read.
    ended: bool,
    logged_errors: u32,
    /// What was seen so far.
    pub report: IngestReport,
}

impl Document {
    /// True once the rest of the document would be ignored (`# EOF`, or
    /// the sample limit reached): the reader may stop.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[derive(Debug, Default, Clone)]
struct FamilyMeta {
    name: String,
    ty: Option<MetricType>,
    help: Kept,
    unit: Kept,
}

/// A text kept from one line for later ones, its buffer reused (a
/// document has a HELP line per family: no allocation each).
#[derive(Debug, Default, Clone)]
struct Kept {
    text: String,
    set: bool,
}

impl Kept {
    fn set(&mut self, t: &str) {
        self.text.clear();
        self.text.push_str(t);
        self.set = true;
    }

    fn clear(&mut self) {
        self.set = false;
    }

    fn get(&self) -> Option<&str> {
        self.set.then_some(self.text.as_str())
    }
}

/// The metadata of the block being read: the HELP, TYPE and UNIT lines
/// since the last sample. As in pmdaopenmetrics, they apply to every sample
/// of the block that follows, whatever the name the lines give (so
/// `# HELP x_bytes` describes `x_bytes_total`, and a summary's HELP its
/// `_sum` and `_count` parts), and a comment after samples starts a new
/// block. For well-formed exposition text this is the family's metadata.
/// Owned, since a block's samples may come in a later piece than its
/// HELP line.
#[derive(Debug, Default)]
struct Family {
    cur: FamilyMeta,
}

impl Family {
    fn set(&mut self, name: &str) -> &mut FamilyMeta {
        if self.cur.name != name {
            self.cur.name.clear();
            self.cur.name.push_str(name);
        }
        &mut self.cur
    }

    /// Starts a new block: nothing known.
    fn clear(&mut self) {
        self.cur.name.clear();
        self.cur.ty = None;
        self.cur.help.clear();
        self.cur.unit.clear();
    }

    /// The block's metadata, if it has any.
    fn matching(&self, _sample: &str) -> Option<&FamilyMeta> {
        (!self.cur.name.is_empty()).then_some(&self.cur)
    }
}

#[derive(Debug)]
struct PcpMeta {
    name: String,
    rest: String,
    v5: bool,
}

impl PcpMeta {
    fn new(name: &str, rest: &str, v5: bool) -> PcpMeta {
        PcpMeta {
            name: name.to_string(),
            rest: rest.to_string(),
            v5,
        }
    }
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
