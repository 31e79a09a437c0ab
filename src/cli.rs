//! The command line: `pcp-agent`'s subcommands and their options (clap).

use std::time::Duration;

use clap::{Parser, Subcommand};
use pcp_agent::agents::AgentOptions;

#[derive(Debug, Parser)]
#[command(
    name = "pcp-agent",
    version,
    about = "PCP-style metric agents: query, watch, serve, or run under pmcd"
)]
pub struct Cli {
    #[command(flatten)]
    pub agents: AgentOptions,
    #[command(flatten)]
    pub derived: pcp_agent::derived::DerivedOptions,
    #[command(subcommand)]
    pub command: Command,
}

/// Where pmcd keeps its configuration (PCP's defaults).
#[derive(Debug, Clone, clap::Args)]
pub struct PmcdPaths {
    /// pmcd's configuration file.
    #[arg(long, default_value = "/etc/pcp/pmcd/pmcd.conf")]
    pub pmcd_conf: std::path::PathBuf,
    /// pmcd's namespace directory.
    #[arg(long, default_value = "/var/lib/pcp/pmns")]
    pub pmns_dir: std::path::PathBuf,
    /// Signal this pmcd (pid) instead of every pmcd, e.g. a private one.
    #[arg(long, value_name = "PID")]
    pub pmcd_pid: Option<u32>,
    /// The pmcd to wait on after reloading (pminfo -h), e.g. localhost:44321.
    #[arg(long, value_name = "HOST")]
    pub pmcd_host: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe metrics, like pminfo.
    #[command(disable_help_flag = true)]
    Info {
        /// Print help about this subcommand.
        #[arg(long = "help", action = clap::ArgAction::Help)]
        _usage: Option<bool>,
        /// Print the descriptor (type, indom, semantics, units).
        #[arg(short = 'd')]
        desc: bool,
        /// Fetch and print values.
        #[arg(short = 'f')]
        fetch: bool,
        /// Print the one-line help.
        #[arg(short = 't')]
        oneline: bool,
        /// Print the long help.
        #[arg(short = 'T')]
        helptext: bool,
        /// Print labels.
        #[arg(short = 'l')]
        labels: bool,
        /// Print the PMID.
        #[arg(short = 'm')]
        pmid: bool,
        /// Metric names or subtrees (all metrics if none).
        names: Vec<String>,
    },
    /// Watch values, like pmval/pmrep: counters as rates.
    Watch {
        /// Seconds between samples (default 1, or the preset's).
        #[arg(short = 't', long = "interval")]
        interval: Option<f64>,
        /// Number of samples (default: until interrupted).
        #[arg(short = 's', long = "samples")]
        samples: Option<u64>,
        /// Print one JSON object per sample.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        report: Box<pcp_agent::watch::options::ReportArgs>,
        /// Metric names, subtrees, pmrep metric specs (name,label,...) or
        /// :presets of pmrep's configuration (:iostat, :vmstat, :sar, ...).
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Run one agent as a daemon PMDA under pmcd (PDUs on stdin/stdout).
    Pmda {
        /// The agent: linux, prometheus, bpftrace, nagios or simple.
        agent: String,
        /// Start not ready and tell pmcd when ready (the pmcd.conf line says `notready`).
        #[arg(long)]
        notready: bool,
        /// Write the log (standard error) to FILE.
        #[arg(short = 'l', value_name = "FILE")]
        log: Option<std::path::PathBuf>,
        /// Serve the agent at this domain (the one pmcd.conf gives it), as
        /// a PCP agent's `-d`: its PMIDs and instance domains are moved there.
        #[arg(short = 'd', value_name = "DOMAIN")]
        domain: Option<u32>,
        /// prometheus, as PCP's agent: the config directory.
        #[arg(short = 'c', value_name = "DIR")]
        config: Option<std::path::PathBuf>,
        /// prometheus, as PCP's agent: the root name.
        #[arg(short = 'r', value_name = "NAME")]
        root: Option<String>,
        /// prometheus, as PCP's agent: per-source timeout in seconds.
        #[arg(short = 't', value_name = "SECS")]
        timeout: Option<f64>,
        /// prometheus, as PCP's agent: run scripts as USER.
        #[arg(short = 'u', value_name = "USER")]
        user: Option<String>,
        /// prometheus, as PCP's agent: do not sort the config directory.
        #[arg(short = 'n')]
        nosort: bool,
        /// prometheus, as PCP's agent: debug logging.
        #[arg(short = 'D')]
        debug: bool,
    },
    /// Register an agent with the local pmcd (namespace and pmcd.conf), as PCP's Install does.
    Install {
        /// The agent: linux, prometheus, bpftrace, nagios or simple.
        agent: String,
        /// Serve the agent at this domain instead of its own (linux 60,
        /// prometheus 144, bpftrace 151, nagios 510, simple 253); its pmcd.conf label is
        /// then AGENT_DOMAIN, so one agent can be installed at several.
        #[arg(long)]
        domain: Option<u32>,
        /// Stand in for PCP's own agent at this domain (pmdalinux 60, pmdaopenmetrics 144, pmdabpftrace 151).
        #[arg(long)]
        replace: bool,
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        paths: PmcdPaths,
    },
    /// Unregister an agent from the local pmcd, as PCP's Remove does, and
    /// put back what `install --replace` replaced for it.
    Remove {
        /// The agent.
        agent: String,
        /// The domain it was installed at (as given to install --domain).
        #[arg(long)]
        domain: Option<u32>,
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        paths: PmcdPaths,
    },
    /// Push metrics to a Prometheus remote-write 1.0 receiver every interval.
    Push {
        #[command(flatten)]
        push: PushArgs,
        /// Metric names or subtrees (every metric if none).
        names: Vec<String>,
    },
    /// Serve PCP's client protocol, as pmcd does, for pminfo, pmrep, pmlogger and pmproxy.
    Pmcd(pcp_agent::pmcd_server::PmcdArgs),
    /// Serve /metrics (OpenMetrics) and pmproxy's REST API over HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:44323")]
        listen: std::net::SocketAddr,
        /// Allow storing values through /pmapi/store.
        #[arg(long)]
        allow_store: bool,
        /// Requests handled at once (worker threads).
        #[arg(long, default_value_t = 32)]
        max_connections: usize,
        /// Connections open at once; idle and slow ones are parked cheaply.
        #[arg(long, default_value_t = 4096)]
        max_clients: usize,
        /// Deadline for a request head from its first byte, in seconds.
        #[arg(long, default_value_t = 5.0)]
        head_timeout: f64,
        /// Deadline for one request, in seconds.
        #[arg(long, default_value_t = 10.0)]
        request_timeout: f64,
        /// Largest response body, in bytes.
        #[arg(long, default_value_t = 64 << 20)]
        max_response_bytes: usize,
        /// Also push to this Prometheus remote-write receiver (as `push` does).
        #[arg(long, value_name = "URL")]
        remote_write: Option<String>,
        /// With --remote-write: time between collections.
        #[arg(long, default_value = "15s")]
        push_interval: String,
        /// With --remote-write: a label added to every series (repeatable).
        #[arg(long, value_name = "NAME=VALUE")]
        push_label: Vec<String>,
        /// With --remote-write: a metric or subtree to push (repeatable; all if none).
        #[arg(long, value_name = "NAME")]
        push_metric: Vec<String>,
        /// Run the profiler too and serve /debug/pprof/profile, /profiles
        /// and /profiles/flamegraph (needs root).
        #[arg(long)]
        profile: bool,
        #[command(flatten)]
        profile_args: pcp_agent::profile::ProfileArgs,
    },
    /// Profile every process's stacks with bpftrace into pprof files (needs root).
    Profile {
        /// Stop after this long (15s, 1m...); default: until SIGINT/SIGTERM.
        #[arg(long, value_parser = pcp_profile::parse_duration)]
        duration: Option<Duration>,
        #[command(flatten)]
        args: pcp_agent::profile::ProfileArgs,
    },
}

/// Where and how to push (`push`, and `serve --remote-write`).
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// The receiver's URL, e.g. http://127.0.0.1:9090/api/v1/write.
    #[arg(long, value_name = "URL")]
    pub remote_write: String,
    /// Time between collections: 15s, 500ms, 1m.
    #[arg(long, default_value = "15s")]
    pub interval: String,
    /// A label added to every series that lacks it (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    pub external_label: Vec<String>,
    /// Most bytes the on-disk queue may hold (the oldest are dropped past it).
    #[arg(long, default_value_t = 256 << 20)]
    pub max_queue_bytes: u64,
    /// Print every sample queued (name{labels} value timestamp_ms).
    #[arg(long)]
    pub print: bool,
}

impl PushArgs {
    pub fn options(
        &self,
        names: Vec<String>,
        agents: &AgentOptions,
    ) -> Result<pcp_agent::push::PushOptions, String> {
        let interval = pcp_agent::push::parse_interval(&self.interval)?;
        let external_labels = self
            .external_label
            .iter()
            .map(|l| pcp_agent::push::parse_label(l))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(pcp_agent::push::PushOptions {
            url: self.remote_write.clone(),
            interval,
            names,
            external_labels,
            queue_dir: pcp_agent::push::queue_dir(&agents.state_dir(), &self.remote_write),
            max_queue_bytes: self.max_queue_bytes,
            print: self.print,
        })
    }
}
