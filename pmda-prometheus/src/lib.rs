//! The Prometheus/OpenMetrics agent (domain 144): scrapes the HTTP(S)
//! endpoints, files and scripts listed in a config directory and turns
//! every sample into PCP metrics, as PCP's pmdaopenmetrics (formerly
//! pmdaprometheus) does, with the same names, PMIDs, instance names and
//! control metrics when run with `root = "openmetrics"`.
//!
//! - [`config`]: config.d scanning and `.url` files (`HEADER:`, `FILTER:`,
//!   `METADATA:`, plus `LABEL:`, `TIMEOUT:`, `DEADLINE:` and
//!   `MIN_INTERVAL:` extensions);
//! - [`parse`]: the zero-copy exposition-format parser (Prometheus 0.0.4
//!   and OpenMetrics 1.0);
//! - [`scrape`](crate::PrometheusConfig::deadline): scheduling, so a fetch
//!   costs about its slowest source within the deadline and late sources
//!   answer with their last values, marked stale;
//! - [`http`]: the non-blocking HTTP client (a thousand endpoints at once,
//!   kept-alive connections, a bounded and fair number in flight);
//! - [`fetch`]: blocking HTTPS, `file://`, scripts with a timeout that
//!   kills their process group, all streamed;
//! - [`ingest`], [`stream`]: documents parsed as they arrive, never held
//!   whole;
//! - [`source`]: a source's metrics, instances, persistent ids and
//!   counters;
//! - [`agent`]: the agent on pcp-core's table layer ([`Prometheus`]);
//!   [`prometheus_pmda`] serves it as a [`pcp_core::Pmda`].
//!
//! ```no_run
//! use pmda_prometheus::{prometheus_pmda, PrometheusConfig};
//! let agent = prometheus_pmda(PrometheusConfig {
//!     config_dir: "config.d".into(),
//!     ..PrometheusConfig::default()
//! }).unwrap();
//! ```
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod agent;
pub mod config;
pub mod error;
pub mod fetch;
pub mod http;
pub mod ids;
pub mod ingest;
pub mod log;
pub mod parse;
mod scrape;
pub mod source;
pub mod stream;
pub mod units;
pub mod watch;

use std::path::PathBuf;
use std::time::Duration;

pub use agent::{
    prometheus_pmda, Prometheus, PrometheusPmda, FETCH_DEADLINE, MAX_IN_FLIGHT, NAMES_WAIT,
    POOL_SIZE,
};
pub use error::PrometheusError;
pub use source::Limits;

/// The agent's domain (PCP's pmdaopenmetrics uses 144 too).
pub const DOMAIN: u32 = 144;

/// The agent's settings (the reference's `-c -r -t -u -n -D`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusConfig {
    /// `-c`: the config directory; a relative path that does not exist is
    /// looked up under `$PCP_PMDAS_DIR/<root>/` as the reference does.
    pub config_dir: PathBuf,
    /// `-r`: the namespace root and agent name (default `prometheus`;
    /// `openmetrics` makes a drop-in for PCP 6's pmdaopenmetrics).
    pub root: String,
    /// `-t`: per-source timeout (default 2 s): a scrape still running
    /// then is abandoned.
    pub timeout: Duration,
    /// How long a fetch waits for a source before answering with its last
    /// good values, marked stale (`.url` `DEADLINE:` per source); `None`:
    /// the source's timeout. A fetch waits at most [`FETCH_DEADLINE`] (to
    /// answer pmcd in time), or this deadline if it is longer: set so, it
    /// is for in-process use only (`info`, a custom collector).
    pub deadline: Option<Duration>,
    /// Scrape a source at most this often (`.url` `MIN_INTERVAL:` per
    /// source): fetches in between answer from the last scrape, so many
    /// clients cost the endpoint one scrape per interval. `None` (the
    /// default, as pmdaopenmetrics): every fetch scrapes.
    pub min_interval: Option<Duration>,
    /// Most HTTP scrapes in flight at once (default [`MAX_IN_FLIGHT`]);
    /// more wait their turn.
    pub max_in_flight: usize,
    /// `-u`: run scripts as this user (privileges are dropped when the
    /// agent runs as root).
    pub user: Option<String>,
    /// `-n`: do not sort the config files (sorting decides which cluster a
    /// new source gets).
    pub nosort: bool,
    /// Where persistent ids live (`<state_dir>/<root>/`); `None` keeps them
    /// in `pcp_tables`, or in memory without those. If another process
    /// holds the directory, its ids are used read-only.
    pub state_dir: Option<PathBuf>,
    /// pmdaopenmetrics's id tables (`$PCP_VAR_DIR/config/pmda`, see
    /// [`ids`]): without `state_dir`, the ids are kept there, shared with
    /// PCP's agent; with one, a state directory that has no ids yet starts
    /// from PCP's assignments.
    pub pcp_tables: Option<PathBuf>,
    /// Scrape every source in the background at this interval and answer
    /// fetches from the cache, so endpoint load does not grow with clients.
    /// `None` scrapes on demand, inside each fetch (the reference's way).
    pub scrape_interval: Option<Duration>,
    /// `-D`: debug logging.
    pub debug: bool,
    /// Serve the control metrics pmdaopenmetrics does not have
    /// (`control.{bytes,failures,fetch_time_us,last_success,metrics,
    /// parse_errors,parse_time_us,samples,up}`, items 7-15) besides its six
    /// (items 1-6). Off by default when standing in for pmdaopenmetrics
    /// (root `openmetrics`), so that a pmlogger configuration logging
    /// `openmetrics` records the same metrics with either agent.
    pub extended_control: bool,
}

impl Default for PrometheusConfig {
    fn default() -> PrometheusConfig {
        PrometheusConfig {
            config_dir: PathBuf::from("config.d"),
            root: "prometheus".to_string(),
            timeout: Duration::from_secs(2),
            deadline: None,
            min_interval: None,
            max_in_flight: MAX_IN_FLIGHT,
            user: None,
            nosort: false,
            state_dir: None,
            pcp_tables: None,
            scrape_interval: None,
            debug: false,
            extended_control: true,
        }
    }
}
