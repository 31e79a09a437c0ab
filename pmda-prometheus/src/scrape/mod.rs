//! Scheduling scrapes so that a fetch never blocks on a slow source:
//!
//! - plain `http://` sources go to the non-blocking client ([`crate::http`]),
//!   everything else (`file://`, scripts, `https://`, proxied URLs,
//!   redirects, host name look-ups) to a bounded pool of worker threads;
//! - a source has at most one scrape running; a fetch that wants it while
//!   it runs waits for that scrape rather than starting another;
//! - a fetch waits for each source until the source's deadline (`.url`
//!   `DEADLINE:`, else the agent's, else its timeout), never past the
//!   fetch's own deadline; sources still running then answer with their
//!   last good values, marked stale, and their scrape goes on in the
//!   background until its timeout, so the next fetch finds it done;
//! - a source whose last scrape timed out is *suspect*: its next scrape
//!   waits behind the others and suspects hold at most a quarter of the
//!   workers or connection slots, so dead endpoints never starve live ones;
//! - with a minimum interval (`.url` `MIN_INTERVAL:` or the agent's, off by
//!   default as in pmdaopenmetrics), fetches within the interval of the
//!   last scrape answer from it: N clients fetching once a second cost the
//!   endpoint one scrape a second, not N.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, RecvTimeoutError, Sender};
use parking_lot::{Mutex, RwLock};

use crate::config::{SourceKind, UrlConfig};
use crate::error::PrometheusError;
use crate::fetch::{HttpClient, RunAs};
use crate::http::{self, Target};
use crate::source::{Ctx, Limits, Source};

mod blocking;
mod exchange;
mod pool;
use blocking::Job;
use exchange::{complete, HttpScrape};
use pool::Pool;

/// Past a source's timeout, how long a fetch still waits to hear that the
/// scrape ended (a script is killed, a parse finishes its piece).
const TIMEOUT_GRACE: Duration = Duration::from_millis(250);

/// How long resolved host addresses are kept.
const RESOLVE_TTL: Duration = Duration::from_secs(30);

/// Flags the scrapes raise for the agent (new names, new labels).
#[derive(Debug, Default)]
pub(crate) struct Flags {
    pub(crate) names_dirty: AtomicBool,
    pub(crate) labels_dirty: AtomicBool,
}

/// Scrape settings (from [`crate::PrometheusConfig`]).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) root: String,
    /// Per-source timeout unless the `.url` file says.
    pub(crate) timeout: Duration,
    /// How long a fetch waits for a source unless the `.url` file says;
    /// `None`: the source's timeout.
    pub(crate) deadline: Option<Duration>,
    /// Minimum time between scrapes of a source unless the `.url` file
    /// says; zero: every fetch scrapes.
    pub(crate) min_interval: Duration,
    /// Worker threads for blocking scrapes.
    pub(crate) workers: usize,
    /// Most HTTP exchanges in flight at once.
    pub(crate) max_in_flight: usize,
}

/// What the scrapes share: settings, clients, the pool, the sources.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) ctx: Ctx,
    pub(crate) limits: RwLock<Limits>,
    pub(crate) run_as: Option<RunAs>,
    pub(crate) blocking: HttpClient,
    pub(crate) http: http::Client,
    pub(crate) pool: Pool,
    pub(crate) flags: Arc<Flags>,
    pub(crate) sources: RwLock<std::collections::BTreeMap<u32, Arc<Source>>>,
    resolved: Mutex<HashMap<String, (Vec<SocketAddr>, Instant)>>,
    proxied: bool,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("root", &self.settings.root)
            .finish_non_exhaustive()
    }
}

/// How a fetch found a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// A scrape runs (started now or earlier); wait for it.
    Running,
    /// Answered from the last scrape (minimum interval).
    Cached,
}

impl Shared {
    pub(crate) fn new(
        settings: Settings,
        ctx: Ctx,
        run_as: Option<RunAs>,
    ) -> std::io::Result<Shared> {
        let threads = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(1, 4);
        let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        Ok(Shared {
            http: http::Client::new(threads, settings.max_in_flight, &settings.root)?,
            pool: Pool::new(settings.workers, &settings.root),
            settings,
            ctx,
            limits: RwLock::new(Limits::default()),
            run_as,
            blocking: HttpClient::new(),
            flags: Arc::new(Flags::default()),
            sources: RwLock::new(Default::default()),
            resolved: Mutex::new(HashMap::new()),
            proxied,
        })
    }

    fn ctx(&self) -> Ctx {
        Ctx {
            limits: *self.limits.read(),
            ..self.ctx.clone()
        }
    }

    /// How long a fetch waits for a source. Without a deadline shorter
    /// than its timeout, the wait is the timeout and a little more, so
    /// that the scrape's own end (a failure at its timeout) is what the
    /// fetch sees.
    fn deadline_of(&self, cfg: Option<&UrlConfig>) -> Duration {
        let timeout = self.timeout_of(cfg);
        match cfg.and_then(|c| c.deadline).or(self.settings.deadline) {
            Some(d) if d < timeout => d,
            _ => timeout + TIMEOUT_GRACE,
        }
    }

    fn timeout_of(&self, cfg: Option<&UrlConfig>) -> Duration {
        cfg.and_then(|c| c.timeout).unwrap_or(self.settings.timeout)
    }

    pub(crate) fn min_interval_of(&self, cfg: Option<&UrlConfig>) -> Duration {
        cfg.and_then(|c| c.min_interval)
            .unwrap_or(self.settings.min_interval)
    }

    /// Starts a scrape of `src` unless one runs (then `notify` joins it)
    /// or, with `use_cache`, the last one is within the minimum interval.
    fn start(
        self: &Arc<Self>,
        src: &Arc<Source>,
        notify: Option<&Sender<u32>>,
        use_cache: bool,
    ) -> Start {
        let cfg = src.state.lock().url.clone();
        let mut t = src.scrape.lock();
        if t.in_flight {
            if let Some(n) = notify {
                t.waiters.push(n.clone());
            }
            return Start::Running;
        }
        let interval = self.min_interval_of(cfg.as_deref());
        if use_cache && !interval.is_zero() && t.started.is_some_and(|s| s.elapsed() < interval) {
            drop(t);
            src.state.lock().stats.cache_hits += 1;
            return Start::Cached;
        }
        t.in_flight = true;
        t.started = Some(Instant::now());
        if let Some(n) = notify {
            t.waiters.push(n.clone());
        }
        let suspect = t.suspect;
        drop(t);
        self.launch(src, suspect);
        Start::Running
    }

    /// Starts the scrape on the client or the pool.
    fn launch(self: &Arc<Self>, src: &Arc<Source>, suspect: bool) {
        if src.file.kind == SourceKind::Script {
            return self.on_pool(src, suspect, Job::Script);
        }
        let cfg = {
            let mut st = src.state.lock();
            st.refresh_url(&src.file.path, &self.settings.root, &src.name)
        };
        let cfg = match cfg {
            Ok(c) => c,
            Err(e) => {
                let failure = (
                    PrometheusError::Io {
                        path: src.file.path.clone(),
                        source: std::io::Error::other(e),
                    },
                    0,
                );
                let what = src.file.path.display().to_string();
                src.state
                    .lock()
                    .record_failure(&what, &failure, &self.settings.root, &src.name);
                return complete(&self.flags, src, false);
            }
        };
        let url = cfg.url.as_str();
        if let Some(path) = url.strip_prefix("file://") {
            return self.on_pool(src, suspect, Job::File(path.to_string()));
        }
        if !url.starts_with("http://") && !url.starts_with("https://") {
            let failure = (PrometheusError::BadUrl(url.to_string()), 0);
            src.state
                .lock()
                .record_failure(url, &failure, &self.settings.root, &src.name);
            return complete(&self.flags, src, false);
        }
        let target = (!self.proxied).then(|| Target::parse(url)).flatten();
        let Some(target) = target else {
            return self.on_pool(src, suspect, Job::Blocking(cfg));
        };
        match self.cached_addrs(&target.host) {
            Some(addrs) => self.submit_http(src, cfg, target, addrs, suspect),
            None => self.on_pool(src, suspect, Job::Resolve(cfg, target)),
        }
    }

    fn submit_http(
        self: &Arc<Self>,
        src: &Arc<Source>,
        cfg: Arc<UrlConfig>,
        target: Target,
        addrs: Vec<SocketAddr>,
        suspect: bool,
    ) {
        let timeout = self.timeout_of(Some(&cfg));
        let addrs = addrs
            .into_iter()
            .map(|mut a| {
                a.set_port(target.port);
                a
            })
            .collect();
        let req = http::Request {
            target,
            addrs,
            headers: cfg.headers.clone(),
            deadline: Instant::now() + timeout,
            timeout,
            suspect,
            patience: self.deadline_of(Some(&cfg)),
        };
        let ex = HttpScrape {
            shared: Arc::downgrade(self),
            flags: Arc::clone(&self.flags),
            src: Arc::clone(src),
            ctx: self.ctx(),
            ingest: None,
            url: cfg.url.clone(),
            suspect,
        };
        self.http.submit(req, Box::new(ex));
    }

    /// Scrapes `sources` (or joins their running scrapes) and waits for
    /// each until its deadline, never past `until`; returns the sources
    /// that had not finished by then (they answer stale). With
    /// `use_cache`, sources within their minimum interval are not scraped.
    pub(crate) fn gather(
        self: &Arc<Self>,
        sources: &[Arc<Source>],
        until: Instant,
        use_cache: bool,
    ) -> HashSet<u32> {
        let (tx, rx) = unbounded::<u32>();
        let now = Instant::now();
        let mut pending: HashMap<u32, Instant> = HashMap::with_capacity(sources.len());
        for src in sources {
            if self.start(src, Some(&tx), use_cache) == Start::Running {
                // After the start: a first scrape has just read the .url.
                let cfg = src.state.lock().url.clone();
                let deadline = (now + self.deadline_of(cfg.as_deref())).min(until);
                pending.insert(src.cluster, deadline);
            }
        }
        drop(tx);
        let mut late = HashSet::new();
        while !pending.is_empty() {
            let next = pending.values().min().copied().expect("not empty");
            match rx.recv_deadline(next) {
                Ok(c) => {
                    pending.remove(&c);
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    pending.retain(|&c, d| {
                        let keep = *d > now;
                        if !keep {
                            late.insert(c);
                        }
                        keep
                    });
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        for src in sources {
            let is_late = late.contains(&src.cluster);
            if is_late {
                // Its next scrape waits behind the punctual ones.
                src.scrape.lock().suspect = true;
            }
            let mut st = src.state.lock();
            if is_late {
                st.stats.deadline_misses += 1;
            }
            st.stats.stale = is_late || (!st.stats.up && st.age().is_some());
        }
        late
    }

    /// Starts scrapes of `sources` without waiting (background scraping,
    /// probes).
    pub(crate) fn kick(self: &Arc<Self>, sources: &[Arc<Source>]) {
        for src in sources {
            self.start(src, None, false);
        }
    }
}
