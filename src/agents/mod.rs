//! Which agents the host loads and how each is configured: the global
//! options every subcommand shares (`--agents`, `--state-dir`,
//! `--linux-root`, `--linux-disable`, `--prometheus-*`, `--bpftrace-*`), with embedded
//! defaults so that no option is needed on a fresh machine.

use std::path::PathBuf;
use std::time::Duration;

use pcp_core::pipe::{parse_conf, PipeAgent};
use pcp_core::{Host, Pmda};

use crate::simple::simple_pmda;

mod args;

/// Every agent this binary knows, in load order.
pub const ALL_AGENTS: &[&str] = &[
    "linux",
    "proc",
    "prometheus",
    "bpftrace",
    "nagios",
    "simple",
];

/// The agents loaded when `--agents` is not given.
pub const DEFAULT_AGENTS: &str = "linux,prometheus,simple";

/// Agent options, shared by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct AgentOptions {
    /// Agents to load, comma-separated: linux, proc, prometheus, bpftrace, nagios, simple.
    #[arg(long, global = true, value_delimiter = ',', default_value = DEFAULT_AGENTS)]
    pub agents: Vec<String>,

    /// Directory for persistent metric and instance ids.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Per-agent deadline for each request, in seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 5.0)]
    pub agent_timeout: f64,

    /// linux: a directory holding proc/ and sys/ to read instead of /.
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub linux_root: PathBuf,

    /// linux: collectors to switch off, comma-separated (their metrics are
    /// not served): cpu, numa, kernel, interrupts, pressure, memory,
    /// vmstat, zones, slab, swapdev, disk, multipath, zram, scsi, netdev,
    /// netproto, sockets, softnet, filesys, vfs, ipc, nfs, tty.
    #[arg(long, global = true, value_name = "NAME", value_delimiter = ',')]
    pub linux_disable: Vec<String>,

    /// prometheus: the config.d directory of *.url files and scripts.
    #[arg(long, global = true, value_name = "DIR")]
    pub prometheus_config: Option<PathBuf>,

    /// prometheus: root of the agent's names (openmetrics for a drop-in of PCP 6's agent).
    #[arg(long, global = true, value_name = "NAME", default_value = "prometheus")]
    pub prometheus_root: String,

    /// prometheus: per-source timeout in seconds.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 2.0)]
    pub prometheus_timeout: f64,

    /// prometheus: run scripts as this user.
    #[arg(long, global = true, value_name = "USER")]
    pub prometheus_user: Option<String>,

    /// prometheus: do not sort the config directory listing.
    #[arg(long, global = true)]
    pub prometheus_nosort: bool,

    /// prometheus: log debugging detail.
    #[arg(long, global = true)]
    pub prometheus_debug: bool,

    /// prometheus: also serve the control metrics pmdaopenmetrics does not
    /// have (bytes, failures, up, samples...), which are on by default
    /// except with `--prometheus-root openmetrics`.
    #[arg(long, global = true)]
    pub prometheus_extended_control: bool,

    /// prometheus: scrape in the background every SECS seconds and answer from a cache.
    #[arg(long, global = true, value_name = "SECS")]
    pub prometheus_scrape_interval: Option<f64>,

    /// prometheus: how long a fetch waits for a source before answering with its
    /// last values, marked stale (default: the source's timeout, at most 3.5 s;
    /// longer only when given, and then not for use under pmcd).
    #[arg(long, global = true, value_name = "SECS")]
    pub prometheus_deadline: Option<f64>,

    /// prometheus: scrape each source at most once per SECS seconds; fetches in
    /// between answer from the last scrape (default: every fetch scrapes).
    #[arg(long, global = true, value_name = "SECS")]
    pub prometheus_min_interval: Option<f64>,

    /// prometheus: most HTTP scrapes in flight at once; more wait their turn.
    #[arg(long, global = true, value_name = "N", default_value_t = pmda_prometheus::MAX_IN_FLIGHT)]
    pub prometheus_max_in_flight: usize,

    /// PCP daemon PMDAs to run beside our agents: their pipe lines in pmcd.conf syntax
    /// (`NAME DOMAIN pipe binary [notready] COMMAND ARGS`), e.g. PCP's pmdasample.
    /// (Not `--pmcd-conf`: that names the pmcd.conf `install` edits.)
    #[arg(long = "pipe-agents", global = true, value_name = "FILE")]
    pub pipe_agents_conf: Option<PathBuf>,

    /// bpftrace: a directory of *.bt scripts started with the agent (repeatable).
    #[arg(long, global = true, value_name = "DIR")]
    pub bpftrace_autostart: Vec<PathBuf>,

    /// bpftrace: the agent's configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub bpftrace_config: Option<PathBuf>,

    /// bpftrace: run the continuous profiler with the options in FILE (one
    /// per line, as `pcp-agent profile` takes them) and export its
    /// counters as bpftrace.profiler.*; root only, off by default.
    #[arg(long, global = true, value_name = "FILE")]
    pub bpftrace_profile: Option<PathBuf>,

    /// A profiler run by this process (`serve --profile`), whose counters
    /// the bpftrace agent exports.
    #[arg(skip)]
    pub profiler: Option<std::sync::Arc<dyn pmda_bpftrace::profiler::ProfilerSource>>,

    /// proc: a directory holding proc/ to read instead of / (pmdaproc's
    /// PROC_STATSPATH).
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub proc_root: PathBuf,

    /// proc: every client may read every process's files (pmdaproc's -A).
    #[arg(long, global = true)]
    pub proc_all_access: bool,

    /// proc: threads in the process instance domain for every client.
    #[arg(long, global = true)]
    pub proc_threads: bool,

    /// nagios: the directory of NAME.check (plugins to run) and
    /// NAME.perfdata (Nagios perfdata files to follow) files.
    #[arg(long, global = true, value_name = "DIR")]
    pub nagios_config: Option<PathBuf>,

    /// nagios: plugins run at once, at most.
    #[arg(long, global = true, value_name = "N", default_value_t = 4)]
    pub nagios_workers: usize,

    /// Serve agent NAME at DOMAIN instead of its own (linux 60, prometheus
    /// 144, bpftrace 151, nagios 510, simple 253), as a PCP agent's `-d`; repeatable or
    /// comma-separated, e.g. `--agent-domain simple=498,linux=61`.
    #[arg(long, global = true, value_name = "NAME=DOMAIN", value_delimiter = ',')]
    pub agent_domain: Vec<String>,

    /// Set when the agent runs under pmcd (`pcp-agent pmda`): without
    /// `--state-dir`, the prometheus and bpftrace agents then keep their ids
    /// where PCP's agents for their domains keep theirs
    /// (`$PCP_VAR_DIR/config/pmda`, see [`AgentOptions::pcp_tables`]).
    #[arg(skip)]
    pub under_pmcd: bool,
}

/// What pmcd needs to know of an agent to register it: its own domain and
/// the top-level names it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The domain the agent serves natively.
    pub own_domain: u32,
    /// The domain it is configured to be served at (`--agent-domain`).
    pub domain: u32,
    /// Its top-level names.
    pub prefixes: Vec<String>,
}

/// Why the host could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AgentsError {
    /// A name in `--agents` that is not an agent.
    #[error(
        "unknown agent {0:?}: the agents are linux, proc, prometheus, bpftrace, nagios, simple"
    )]
    Unknown(String),
    /// An agent failed to start.
    #[error("agent {agent}: {message}")]
    Start {
        /// The agent.
        agent: String,
        /// What went wrong.
        message: String,
    },
    /// The host refused an agent.
    #[error(transparent)]
    Host(#[from] pcp_core::HostError),
    /// A `--agent-domain` value that is not `NAME=DOMAIN` with a known
    /// agent and a domain in 1..=510.
    #[error("--agent-domain {0:?}: {1}")]
    BadDomain(String, String),
}

impl AgentOptions {
    /// Options with every default (as if no flag were given).
    pub fn defaults() -> AgentOptions {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            opts: AgentOptions,
        }
        Wrapper::parse_from(["pcp-agent"]).opts
    }

    /// The state directory: the option, else `$PCP_AGENT_STATE_DIR`, else
    /// `/var/lib/pcp-agent` for root and `~/.local/state/pcp-agent` for others.
    pub fn state_dir(&self) -> PathBuf {
        if let Some(d) = &self.state_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("PCP_AGENT_STATE_DIR") {
            return PathBuf::from(d);
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            return PathBuf::from("/var/lib/pcp-agent");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        home.join(".local/state/pcp-agent")
    }

    /// Where PCP's agents keep their id caches (`$PCP_VAR_DIR/config/pmda`),
    /// for agent `name` at its own domain, unless `--state-dir` was given:
    /// under pmcd our prometheus and bpftrace agents keep their ids there
    /// (pmdaopenmetrics's own tables for domain 144, `151.*` files for
    /// bpftrace), so that replacing PCP's agent keeps every PMID and
    /// instance id and PCP's resets apply; run otherwise, a state directory
    /// with no ids yet starts from PCP's. An agent moved to another domain
    /// (`--agent-domain`) is not PCP's stand-in and keeps its own.
    pub fn pcp_tables(&self, name: &str) -> Option<PathBuf> {
        let moved = match (self.domain_for(name), AgentOptions::own_domain(name)) {
            (Ok(Some(d)), Ok(own)) => d != own,
            _ => false,
        };
        (self.state_dir.is_none() && !moved).then(pcp_core::idstore::pmda_cache_dir)
    }

    /// The state directory agent `name` keeps its ids in: none under pmcd
    /// when they live in PCP's tables ([`AgentOptions::pcp_tables`]).
    fn agent_state_dir(&self, name: &str) -> Option<PathBuf> {
        if self.under_pmcd && self.pcp_tables(name).is_some() {
            None
        } else {
            Some(self.state_dir())
        }
    }

    /// The prometheus config dir: the option, else the one shipped with the
    /// agent's crate (an example source reading /proc/loadavg).
    pub fn prometheus_config(&self) -> PathBuf {
        self.prometheus_config.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/pmda-prometheus/config.d"
            ))
        })
    }

    /// The domain `--agent-domain` gives agent `name`, if any (the last
    /// one given wins).
    pub fn domain_for(&self, name: &str) -> Result<Option<u32>, AgentsError> {
        let mut found = None;
        for spec in &self.agent_domain {
            let spec = spec.trim();
            if spec.is_empty() {
                continue;
            }
            let bad = |why: &str| AgentsError::BadDomain(spec.to_string(), why.to_string());
            let (agent, domain) = spec
                .split_once('=')
                .ok_or_else(|| bad("expected NAME=DOMAIN"))?;
            let agent = agent.trim();
            if !ALL_AGENTS.contains(&agent) {
                return Err(bad(&format!(
                    "unknown agent: the agents are {}",
                    ALL_AGENTS.join(", ")
                )));
            }
            let domain: u32 = domain
                .trim()
                .parse()
                .map_err(|_| bad("the domain is not a number"))?;
            if !(1..=pcp_core::id::MAX_DOMAIN).contains(&domain) {
                return Err(bad("the domain must be in 1..=510"));
            }
            if agent == name {
                found = Some(domain);
            }
        }
        Ok(found)
    }

    /// Serves agent `name` at `domain` from now on (as `--agent-domain
    /// name=domain`).
    pub fn set_domain(&mut self, name: &str, domain: u32) {
        self.agent_domain.push(format!("{name}={domain}"));
    }

    /// The domain agent `name` serves natively.
    pub fn own_domain(name: &str) -> Result<u32, AgentsError> {
        match name {
            "simple" => Ok(crate::simple::DOMAIN),
            "linux" => Ok(pmda_linux::DOMAIN),
            "prometheus" => Ok(pmda_prometheus::DOMAIN),
            "bpftrace" => Ok(pmda_bpftrace::DOMAIN),
            "nagios" => Ok(pmda_nagios::DOMAIN),
            "proc" => Ok(pmda_proc::DOMAIN),
            other => Err(AgentsError::Unknown(other.to_string())),
        }
    }

    /// The agent's registration with pmcd (domains and top-level names),
    /// found without starting agents that keep state or run sources: the
    /// prometheus agent's one name is its root, the bpftrace and nagios
    /// agents' are `bpftrace` and `nagios`, the proc agent's its four
    /// trees (building it would start its hot-process thread); the linux
    /// and simple agents' names come from their static tables (building
    /// them reads /proc but writes nothing).
    pub fn registration(&self, name: &str) -> Result<Registration, AgentsError> {
        let own_domain = Self::own_domain(name)?;
        let domain = self.domain_for(name)?.unwrap_or(own_domain);
        let prefixes = match name {
            "prometheus" => vec![self.prometheus_root.clone()],
            "bpftrace" => vec!["bpftrace".to_string()],
            "nagios" => vec!["nagios".to_string()],
            "proc" => pmda_proc::TOP_LEVEL.iter().map(|s| s.to_string()).collect(),
            _ => self.build_own(name)?.namespace().top_level(),
        };
        Ok(Registration {
            own_domain,
            domain,
            prefixes,
        })
    }

    /// Checks what agent `name` would refuse at once on start-up (a
    /// missing config directory or file, a bad root name), so `install`
    /// does not register an agent that cannot start; without starting it.
    pub fn check_startable(&self, name: &str) -> Result<(), AgentsError> {
        let fail = |message: String| AgentsError::Start {
            agent: name.to_string(),
            message,
        };
        let missing = |what: &str, p: &std::path::Path| {
            fail(format!("{what} {} does not exist", p.display()))
        };
        match name {
            "prometheus" => {
                let dir = self.prometheus_config();
                if !dir.is_dir() {
                    return Err(missing("config directory", &dir));
                }
                if !pcp_core::namespace::valid_component(&self.prometheus_root) {
                    return Err(fail(format!(
                        "invalid root name {:?}",
                        self.prometheus_root
                    )));
                }
            }
            "bpftrace" => {
                for d in &self.bpftrace_autostart {
                    if !d.is_dir() {
                        return Err(missing("autostart directory", d));
                    }
                }
                if let Some(c) = &self.bpftrace_config {
                    if !c.is_file() {
                        return Err(missing("configuration file", c));
                    }
                }
            }
            "nagios" => {
                let dir = self.nagios_config();
                if !dir.is_dir() {
                    return Err(missing("config directory", &dir));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Builds one agent by name, at the domain `--agent-domain` gives it
    /// (its own by default).
    pub fn build_agent(&self, name: &str) -> Result<Box<dyn Pmda>, AgentsError> {
        let agent = self.build_own(name)?;
        match self.domain_for(name)? {
            Some(d) if d != agent.domain() => {
                let moved = pcp_core::AtDomain::new(agent, d).map_err(|e| AgentsError::Start {
                    agent: name.to_string(),
                    message: e.to_string(),
                })?;
                Ok(Box::new(moved))
            }
            _ => Ok(agent),
        }
    }

    /// Builds one agent by name at its own domain.
    fn build_own(&self, name: &str) -> Result<Box<dyn Pmda>, AgentsError> {
        let start = |e: &dyn std::fmt::Display| AgentsError::Start {
            agent: name.to_string(),
            message: e.to_string(),
        };
        match name {
            "simple" => Ok(Box::new(simple_pmda())),
            "linux" => {
                let cfg = pmda_linux::LinuxConfig {
                    root: self.linux_root.clone(),
                    disable: self.linux_disable.clone(),
                };
                Ok(Box::new(pmda_linux::new(cfg).map_err(|e| start(&e))?))
            }
            "prometheus" => {
                let cfg = pmda_prometheus::PrometheusConfig {
                    config_dir: self.prometheus_config(),
                    root: self.prometheus_root.clone(),
                    timeout: secs(self.prometheus_timeout),
                    user: self.prometheus_user.clone(),
                    nosort: self.prometheus_nosort,
                    state_dir: self.agent_state_dir(name),
                    pcp_tables: self.pcp_tables(name),
                    scrape_interval: self.prometheus_scrape_interval.map(secs),
                    deadline: self.prometheus_deadline.map(secs),
                    min_interval: self.prometheus_min_interval.map(secs),
                    max_in_flight: self.prometheus_max_in_flight,
                    debug: self.prometheus_debug,
                    extended_control: self.prometheus_extended_control
                        || self.prometheus_root != "openmetrics",
                };
                Ok(Box::new(
                    pmda_prometheus::prometheus_pmda(cfg).map_err(|e| start(&e))?,
                ))
            }
            "bpftrace" => {
                let profiler = match (&self.profiler, &self.bpftrace_profile) {
                    (Some(p), _) => Some(p.clone()),
                    (None, Some(file)) => {
                        Some(crate::profile::start_for_agent(file).map_err(|e| start(&e))?)
                    }
                    (None, None) => None,
                };
                let cfg = pmda_bpftrace::BpftraceConfig {
                    autostart_dirs: self.bpftrace_autostart.clone(),
                    config_file: self.bpftrace_config.clone(),
                    state_dir: self.agent_state_dir(name),
                    pcp_dir: self.pcp_tables(name),
                    profiler,
                };
                Ok(Box::new(
                    pmda_bpftrace::bpftrace_pmda(cfg).map_err(|e| start(&e))?,
                ))
            }
            "proc" => {
                let cfg = pmda_proc::ProcConfig {
                    root: self.proc_root.clone(),
                    all_access: self.proc_all_access,
                    threads: self.proc_threads,
                    ..Default::default()
                };
                Ok(Box::new(pmda_proc::proc_pmda(cfg).map_err(|e| start(&e))?))
            }
            "nagios" => {
                let cfg = pmda_nagios::NagiosConfig {
                    config_dir: self.nagios_config(),
                    state_dir: Some(self.state_dir()),
                    workers: self.nagios_workers,
                    ..Default::default()
                };
                let agent = pmda_nagios::nagios_pmda(cfg).map_err(|e| start(&e))?;
                Ok(Box::new(agent))
            }
            other => Err(AgentsError::Unknown(other.to_string())),
        }
    }

    /// The nagios config dir: the option, else the one shipped with the
    /// agent's crate (checks of this machine's load, disk and users).
    pub fn nagios_config(&self) -> PathBuf {
        self.nagios_config.clone().unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/pmda-nagios/config.d"))
        })
    }

    /// Builds a host with every agent of `--agents`.
    pub fn build_host(&self) -> Result<Host, AgentsError> {
        let mut host = Host::new().with_timeout(secs(self.agent_timeout));
        for name in &self.agents {
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            host.load(self.build_agent(name)?)?;
        }
        for agent in self.pipe_agents()? {
            host.load(Box::new(agent))?;
        }
        Ok(host)
    }

    /// The PCP daemon PMDAs of `--pipe-agents`, started.
    pub fn pipe_agents(&self) -> Result<Vec<PipeAgent>, AgentsError> {
        let Some(path) = &self.pipe_agents_conf else {
            return Ok(Vec::new());
        };
        let start = |message: String| AgentsError::Start {
            agent: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| start(e.to_string()))?;
        let specs = parse_conf(&text).map_err(|e| start(e.to_string()))?;
        // Their log files (pmdasample writes `sample.log` where it runs) go
        // to the state directory, as pmcd keeps them in $PCP_LOG_DIR/pmcd.
        let logs = self.state_dir().join("pipe-agents");
        std::fs::create_dir_all(&logs).map_err(|e| start(format!("{}: {e}", logs.display())))?;
        specs
            .into_iter()
            .map(|mut spec| {
                spec.work_dir = Some(logs.clone());
                let name = spec.name.clone();
                PipeAgent::start(spec, secs(self.agent_timeout)).map_err(|e| AgentsError::Start {
                    agent: name,
                    message: e.to_string(),
                })
            })
            .collect()
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s.max(0.0)).unwrap_or(Duration::from_secs(5))
}
