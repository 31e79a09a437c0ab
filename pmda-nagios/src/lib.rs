//! `pmda-nagios`: Nagios plugins and Nagios perfdata files as PCP metrics
//! (domain 510), without a perfdata-processing pipeline in between.
//!
//! - **Plugins**: each `NAME.check` file of the configuration directory
//!   names a Nagios plugin command line; the agent runs it on its interval
//!   (bounded concurrency, a timeout, optionally as another user) and
//!   serves its state, status text, timings and every performance-data
//!   label ([`perfdata`]) as metrics, thresholds and min/max included.
//! - **Perfdata files**: each `NAME.perfdata` file names a Nagios
//!   `service_perfdata_file` (or `host_perfdata_file`); the agent follows
//!   it across Nagios's rename-and-reopen rotation ([`follow`]) and serves
//!   each service's results (and the host checks', as the service
//!   [`store::HOST_SERVICE`]) with the hosts as instances.
//!
//! Names: `nagios.CHECK.{state,state_text,output,exec_time,latency,age,results}`
//! and `nagios.CHECK.perf.LABEL.{value,warn_low,warn_high,crit_low,crit_high,min,max}`;
//! for files `nagios.SOURCE.SERVICE.*`; `nagios.control.*` per source.
//! Units follow the perfdata UOM (`s`/`ms`/`us` time, `B`/`KB`/... space,
//! `c` a counter). PMIDs and instance ids persist in the state directory.
//!
//! Domain 510: PCP's `stdpmid` reserves 385–510 for PMDAs outside PCP's own
//! packages, to be allocated from the top down; no PCP 6.0.3 agent uses
//! it. `pcp-agent --agent-domain nagios=N` (and `install nagios --domain N`) moves it.
#![warn(missing_docs, missing_debug_implementations, rust_2018_idioms)]

pub mod agent;
pub mod config;
pub mod engine;
pub mod follow;
pub mod handles;
mod ids;
pub mod output;
pub mod perfdata;
pub mod runner;
pub mod store;
pub mod template;
pub mod units;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use pcp_core::agent::{Agent, Metrics, TablePmda};

pub use agent::Nagios;
pub use engine::{EngineOptions, Shared};
pub use handles::Handle;

/// The agent's default domain.
pub const DOMAIN: u32 = 510;

/// How the agent is set up.
#[derive(Debug, Clone)]
pub struct NagiosConfig {
    /// The configuration directory of `.check` and `.perfdata` files.
    pub config_dir: PathBuf,
    /// The host's state directory; the agent keeps its ids and perfdata
    /// file positions in its `nagios/` subdirectory. `None`: in memory.
    pub state_dir: Option<PathBuf>,
    /// Plugins run at once, at most.
    pub workers: usize,
    /// How often perfdata files are polled.
    pub poll: Duration,
    /// The agent's domain.
    pub domain: u32,
}

impl Default for NagiosConfig {
    fn default() -> NagiosConfig {
        NagiosConfig {
            config_dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/config.d")),
            state_dir: None,
            workers: 4,
            poll: Duration::from_secs(1),
            domain: DOMAIN,
        }
    }
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum NagiosError {
    /// A background thread could not be started.
    #[error("starting the agent's threads: {0}")]
    Threads(#[from] std::io::Error),
}

/// The Nagios agent as a PMDA.
pub type NagiosPmda = TablePmda<Nagios>;

/// Starts the agent: reads the configuration, starts running plugins and
/// following perfdata files, and builds its names.
pub fn nagios_pmda(config: NagiosConfig) -> Result<NagiosPmda, NagiosError> {
    let state = config.state_dir.as_ref().map(|d| d.join("nagios"));
    let (ids, warnings) = ids::Ids::open(state);
    for w in warnings {
        eprintln!("pmda-nagios: {w}");
    }
    let engine = engine::Engine::start(EngineOptions {
        config_dir: config.config_dir.clone(),
        state_dir: ids.dir().map(PathBuf::from),
        workers: config.workers.max(1),
        poll: config.poll,
        rescan: Duration::from_secs(2),
    })?;
    let mut agent = Nagios::new(engine, "nagios".into(), ids);
    let mut table = Metrics::new(config.domain);
    agent.add_control(&mut table);
    agent.refresh_names(&mut table);
    Ok(TablePmda::with_table("nagios", agent, table))
}

impl Nagios {
    /// Waits (at most `timeout`) until every configured plugin has run
    /// once, so a first fetch has values.
    pub fn wait_for_first_results(&self, timeout: Duration) {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            let sources = self.shared().sources.read().clone();
            let store = self.shared().store.lock();
            let pending = sources.iter().any(|s| match s {
                config::Source::Check(c) => store.stats.get(&c.name).is_none_or(|s| s.calls == 0),
                config::Source::File(_) => false,
            });
            drop(store);
            if !pending {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
