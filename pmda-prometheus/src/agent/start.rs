//! Starting the agent: the config directory, where ids are kept, the
//! control rows for the chosen root, the scrape machinery, and a first
//! scrape of every source so their names exist.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_core::agent::{Agent, TablePmda};
use pcp_core::{StateDir, StoreError};

use crate::agent::{control, Prometheus, PrometheusPmda, FETCH_DEADLINE, POOL_SIZE};
use crate::fetch::RunAs;
use crate::log::{log, set_debug, Level};
use crate::scrape::{Settings, Shared};
use crate::source::{Ctx, IdSource, Limits, Saver};
use crate::{PrometheusConfig, PrometheusError};

/// Starts the agent: resolves the config directory, opens the id store,
/// scans the sources and fetches each once (bounded by the fetch
/// deadline) so their names exist; with
/// [`PrometheusConfig::scrape_interval`], starts the background scraper.
///
/// ```no_run
/// use pmda_prometheus::{prometheus_pmda, PrometheusConfig};
/// let agent = prometheus_pmda(PrometheusConfig {
///     config_dir: "config.d".into(),
///     ..PrometheusConfig::default()
/// }).unwrap();
/// println!("{:?}", agent.agent().sources());
/// ```
pub fn prometheus_pmda(config: PrometheusConfig) -> Result<PrometheusPmda, PrometheusError> {
    let mut agent = Prometheus::start(&config)?;
    // The first scrape of every source, so that their names exist.
    let new = agent.rescan();
    agent
        .shared
        .gather(&new, Instant::now() + agent.fetch_deadline, false);
    agent.reread_sources();
    let mut table = agent.control.clone();
    agent.refresh_names(&mut table);
    if let Some(interval) = config.scrape_interval {
        agent.start_background(interval.max(Duration::from_millis(100)));
    }
    let root = config.root.clone();
    Ok(TablePmda::with_table(root, agent, table))
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

/// Where the ids live: memory, pmdaopenmetrics's tables, or a state
/// directory (seeded from PCP's tables when it has none yet; read-only
/// when another process holds it).
fn id_source(config: &PrometheusConfig) -> Result<IdSource, PrometheusError> {
    let root = &config.root;
    Ok(match (&config.state_dir, &config.pcp_tables) {
        (None, None) => IdSource::Memory,
        (None, Some(dir)) => {
            log(
                Level::Info,
                root,
                &format!("ids kept in pmdaopenmetrics's tables in {}", dir.display()),
            );
            IdSource::Pcp {
                dir: dir.clone(),
                saver: Arc::new(Saver::new(root)),
            }
        }
        (Some(dir), tables) => {
            let path = dir.join(root);
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
                        saver: Arc::new(Saver::new(root)),
                    }
                }
                Err(e @ StoreError::Locked { .. }) => {
                    log(
                        Level::Warning,
                        root,
                        &format!("{e}; using its ids read-only"),
                    );
                    IdSource::ReadOnly(path)
                }
                Err(e) => return Err(e.into()),
            }
        }
    })
}

impl Prometheus {
    fn start(config: &PrometheusConfig) -> Result<Prometheus, PrometheusError> {
        let root = config.root.clone();
        if config.debug {
            set_debug(true);
        }
        let config_dir = resolve_config_dir(&config.config_dir, &root);
        let ids = id_source(config)?;
        let run_as = config.user.as_deref().map(RunAs::lookup).transpose()?;
        let mut clusters = ids.cache(&root, "clusters", 0, pcp_core::id::MAX_CLUSTER);
        clusters.assign("control")?;
        crate::source::save(&mut clusters, &root);
        let control = control::table(&root, config.extended_control)
            .map_err(|_| PrometheusError::UnknownUser(format!("invalid root name {root:?}")))?;
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
        log(
            Level::Info,
            &root,
            &format!("config directory {}", config_dir.display()),
        );
        Ok(Prometheus {
            watcher: crate::watch::Watcher::new(&config_dir),
            shared: Arc::new(shared),
            config_dir,
            nosort: config.nosort,
            background: None,
            clusters,
            control,
            last_scan: Instant::now(),
            last_probe: Instant::now(),
            scan_errors: HashSet::new(),
            debug: config.debug,
            fetch_deadline: config
                .deadline
                .map_or(FETCH_DEADLINE, |d| d.max(FETCH_DEADLINE)),
        })
    }
}
