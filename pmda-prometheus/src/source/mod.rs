//! One source's state: its metrics (one per sample name), their
//! descriptors, instances and latest values, its counters for the control
//! metrics, and the step that turns a parsed document into all of that.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pcp_core::{Desc, IdCache, LabelSet, Namespace};

pub use crate::ids::IdSource;

use crate::config::{FilterAction, SourceFile, SourceKind, UrlConfig};
pub use crate::ingest::{Ingest, Outcome};
use crate::log::Repeats;

mod create;
mod document;
mod query;
mod report;
mod saver;
mod slots;
mod status;
pub use create::{convert, heuristics};
pub use document::Document;
pub use report::{IngestReport, Refusal};
pub use saver::{save, Saver};
use slots::{Insts, Slot};

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

#[cfg(test)]
mod tests;
