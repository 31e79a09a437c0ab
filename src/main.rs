//! `pcp-agent`: hosts the workspace's metric agents.
//!
//! - `info`: like pminfo over the loaded agents;
//! - `watch`: like pmval/pmrep, counters as rates;
//! - `pmda`: run one agent as a daemon PMDA under a real pmcd;
//! - `install` / `remove`: register an agent with the local pmcd;
//! - `serve`: OpenMetrics `/metrics` and pmproxy's REST API over HTTP
//!   (with `--profile`, the profiler's pprof and flame-graph pages);
//! - `push`: metrics to a Prometheus remote-write receiver;
//! - `pmcd`: pmcd's client protocol, for PCP's own tools and pmproxy;
//! - `profile`: continuous CPU (and off-CPU) profiling to pprof files.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pcp_agent::agents::AgentOptions;
use pcp_agent::watch::{self, WatchOptions};
use pcp_core::render::pminfo::{self, Flags};
use pcp_core::{Pmapi, Pmid};

#[derive(Debug, Parser)]
#[command(
    name = "pcp-agent",
    version,
    about = "PCP-style metric agents: query, watch, serve, or run under pmcd"
)]
struct Cli {
    #[command(flatten)]
    agents: AgentOptions,
    #[command(flatten)]
    derived: pcp_agent::derived::DerivedOptions,
    #[command(subcommand)]
    command: Command,
}

/// Where pmcd keeps its configuration (PCP's defaults).
#[derive(Debug, Clone, clap::Args)]
struct PmcdPaths {
    /// pmcd's configuration file.
    #[arg(long, default_value = "/etc/pcp/pmcd/pmcd.conf")]
    pmcd_conf: std::path::PathBuf,
    /// pmcd's namespace directory.
    #[arg(long, default_value = "/var/lib/pcp/pmns")]
    pmns_dir: std::path::PathBuf,
    /// Signal this pmcd (pid) instead of every pmcd, e.g. a private one.
    #[arg(long, value_name = "PID")]
    pmcd_pid: Option<u32>,
    /// The pmcd to wait on after reloading (pminfo -h), e.g. localhost:44321.
    #[arg(long, value_name = "HOST")]
    pmcd_host: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
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
struct PushArgs {
    /// The receiver's URL, e.g. http://127.0.0.1:9090/api/v1/write.
    #[arg(long, value_name = "URL")]
    remote_write: String,
    /// Time between collections: 15s, 500ms, 1m.
    #[arg(long, default_value = "15s")]
    interval: String,
    /// A label added to every series that lacks it (repeatable).
    #[arg(long, value_name = "NAME=VALUE")]
    external_label: Vec<String>,
    /// Most bytes the on-disk queue may hold (the oldest are dropped past it).
    #[arg(long, default_value_t = 256 << 20)]
    max_queue_bytes: u64,
    /// Print every sample queued (name{labels} value timestamp_ms).
    #[arg(long)]
    print: bool,
}

impl PushArgs {
    fn options(
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

/// Pushes until the process is stopped.
fn push(
    mut host: pcp_core::Host,
    args: &PushArgs,
    names: Vec<String>,
    agents: &AgentOptions,
) -> ExitCode {
    let opts = match args.options(names, agents) {
        Ok(o) => o,
        Err(e) => return fail(format!("push: {e}")),
    };
    let mut pusher = match pcp_agent::push::Pusher::start(opts) {
        Ok(p) => p,
        Err(e) => return fail(format!("push: {e}")),
    };
    if let Err(e) = host.load(pusher.agent()) {
        return fail(format!("push: {e}"));
    }
    host.wait_ready(Duration::from_secs(5));
    match pusher.run(&host, &|| false) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("push: {e}")),
    }
}

fn info(host: &dyn Pmapi, names: &[String], flags: Flags) -> ExitCode {
    // Agents whose names come from their first results (a plugin's
    // perfdata labels, a script's variables) get them before names are
    // resolved; agents with nothing to wait for return at once.
    host.wait_ready(Duration::from_secs(5));
    let mut metrics: Vec<(String, Pmid)> = Vec::new();
    let mut failed = false;
    let roots: Vec<String> = if names.is_empty() {
        vec![String::new()]
    } else {
        names.to_vec()
    };
    for n in &roots {
        match host.lookup(n) {
            Ok(p) => metrics.push((n.clone(), p)),
            Err(_) => match host.traverse(n) {
                Ok(leaves) if !leaves.is_empty() => metrics.extend(leaves),
                Ok(_) if n.is_empty() => {}
                _ => {
                    eprintln!("Error: {n}: Unknown metric name");
                    failed = true;
                }
            },
        }
    }
    print!("{}", pminfo::render(host, &metrics, flags));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Points standard error at a fresh log `path`, as PCP agents' `-l`
/// (pmOpenLog): an existing log is kept as `path.prev`.
fn redirect_stderr(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::io::AsRawFd;
    if path.is_file() {
        let mut prev = path.as_os_str().to_owned();
        prev.push(".prev");
        let _ = std::fs::rename(path, prev);
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: both descriptors are valid; dup2 replaces fd 2.
    if unsafe { libc::dup2(f.as_raw_fd(), 2) } < 0 {
        return Err(format!(
            "{}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("pcp-agent: {msg}");
    ExitCode::FAILURE
}

/// The pmcd registration of `agent` at `domain` (its own if none): its
/// domain and top-level names, found without starting it (the installer
/// takes no agent state and runs no sources).
fn install_options(
    opts: &AgentOptions,
    agent: &str,
    domain: Option<u32>,
    paths: PmcdPaths,
) -> Result<pcp_agent::pmcd::InstallOptions, String> {
    let mut opts = opts.clone();
    if let Some(d) = domain {
        opts.set_domain(agent, d);
    }
    let reg = opts.registration(agent).map_err(|e| e.to_string())?;
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let mut io = pcp_agent::pmcd::InstallOptions::system(agent, reg.own_domain, exe, reg.prefixes)
        .at_domain(reg.domain);
    io.agent_args = opts.args_for(agent);
    io.pmcd_conf = paths.pmcd_conf;
    io.pmns_dir = paths.pmns_dir;
    io.reload = paths.pmcd_pid.map_or(
        pcp_agent::pmcd::Reload::System,
        pcp_agent::pmcd::Reload::Pid,
    );
    io.host = paths.pmcd_host;
    Ok(io)
}

fn report_changes(result: Result<Vec<String>, String>, dry_run: bool) -> ExitCode {
    match result {
        Ok(changes) if changes.is_empty() => {
            println!("nothing to change");
            ExitCode::SUCCESS
        }
        Ok(changes) => {
            for c in changes {
                println!("{}{c}", if dry_run { "would: " } else { "" });
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    // `serve --profile`: the profiler runs as long as the server, and the
    // bpftrace agent (when loaded) exports its counters.
    let mut profiler = None;
    match &mut cli.command {
        Command::Serve {
            profile: true,
            profile_args,
            ..
        } => match pcp_profile::Profiler::start(profile_args.config()) {
            Ok(p) => {
                cli.agents.profiler = Some(std::sync::Arc::new(pcp_agent::profile::StatsSource(
                    p.stats().clone(),
                )));
                profiler = Some(p);
            }
            Err(e) => return fail(format!("serve: profile: {e}")),
        },
        Command::Serve { .. } | Command::Pmcd(_) => {}
        Command::Profile { duration, args } => {
            return match pcp_agent::profile::run(args, *duration) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            };
        }
        Command::Pmda {
            agent,
            notready,
            log,
            domain,
            config,
            root,
            timeout,
            user,
            nosort,
            debug,
        } => {
            if let Some(l) = log {
                if let Err(e) = redirect_stderr(l) {
                    return fail(e);
                }
            }
            let mut opts = cli.agents.clone();
            opts.under_pmcd = true;
            if let Some(c) = config.take() {
                opts.prometheus_config = Some(c);
            } else if opts.prometheus_config.is_none() {
                // As pmdaopenmetrics: config.d under $PCP_PMDAS_DIR/ROOT.
                opts.prometheus_config = Some("config.d".into());
            }
            if let Some(r) = root.take() {
                opts.prometheus_root = r;
            }
            if let Some(t) = *timeout {
                opts.prometheus_timeout = t;
            }
            if let Some(u) = user.take() {
                opts.prometheus_user = Some(u);
            }
            opts.prometheus_nosort |= *nosort;
            opts.prometheus_debug |= *debug;
            if let Some(d) = *domain {
                opts.set_domain(agent, d);
            }
            let (agent, notready) = (agent.clone(), *notready);
            let factory = move || -> Result<Box<dyn pcp_core::Pmda>, String> {
                // pmdaopenmetrics's start-up lines, which its users (and
                // PCP's QA) look for in the log.
                let say = |msg: &str| {
                    if agent == "prometheus" {
                        use pmda_prometheus::log::{log, Level};
                        log(Level::Info, &opts.prometheus_root, msg);
                    }
                };
                if notready {
                    say("Initializing ... currently in notready state.");
                }
                let a = opts.build_agent(&agent).map_err(|e| e.to_string())?;
                say("Ready to process requests");
                Ok(a)
            };
            return match pcp_agent::pmcd::run_pmda(factory, notready) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("pmda: {e}")),
            };
        }
        Command::Install {
            agent,
            domain,
            replace,
            dry_run,
            paths,
        } => {
            if let Err(e) = cli.agents.check_startable(agent) {
                return fail(e);
            }
            let mut io = match install_options(&cli.agents, agent, *domain, paths.clone()) {
                Ok(io) => io,
                Err(e) => return fail(e),
            };
            io.replace = *replace;
            io.dry_run = *dry_run;
            return report_changes(pcp_agent::pmcd::install(&io), *dry_run);
        }
        Command::Remove {
            agent,
            domain,
            dry_run,
            paths,
        } => {
            let mut io = match install_options(&cli.agents, agent, *domain, paths.clone()) {
                Ok(io) => io,
                Err(e) => return fail(e),
            };
            io.dry_run = *dry_run;
            return report_changes(pcp_agent::pmcd::remove(&io), *dry_run);
        }
        _ => {
            // Interactive commands: only the agents' warnings and errors.
            pmda_prometheus::log::set_quiet(true);
        }
    }
    let host = match cli.agents.build_host() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("pcp-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Clients see derived metrics, as PCP's clients do through libpcp.
    let registry = match cli.derived.load() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let context = pcp_core::derive::DerivedContext::new(registry.clone());
    match cli.command {
        // Handled above, before any host is built.
        Command::Pmda { .. }
        | Command::Install { .. }
        | Command::Remove { .. }
        | Command::Profile { .. } => ExitCode::SUCCESS,
        Command::Info {
            desc,
            fetch,
            oneline,
            helptext,
            labels,
            pmid,
            names,
            ..
        } => info(
            &context.view(&host),
            &names,
            Flags {
                desc,
                fetch,
                pmid,
                oneline,
                help: helptext,
                labels,
            },
        ),
        Command::Serve {
            listen,
            allow_store,
            max_connections,
            max_clients,
            head_timeout,
            request_timeout,
            max_response_bytes,
            remote_write,
            push_interval,
            push_label,
            push_metric,
            ..
        } => {
            let opts = pcp_agent::serve::ServeOptions {
                listen,
                allow_store,
                max_connections: max_connections.max(1),
                max_clients: max_clients.max(1),
                head_timeout: Duration::try_from_secs_f64(head_timeout)
                    .unwrap_or(Duration::from_secs(5)),
                request_timeout: Duration::try_from_secs_f64(request_timeout)
                    .unwrap_or(Duration::from_secs(10)),
                max_response_bytes,
                derived: registry.clone(),
            };
            // HTTP clients are anonymous, as pmcd's TCP clients are: what
            // an agent keeps for a known user (pmdalinux's root-only slab
            // and serial-line figures) is not served to them.
            let mut host = host.with_client(pcp_core::ClientContext::anonymous());
            let mut pusher = None;
            if let Some(url) = remote_write {
                let args = PushArgs {
                    remote_write: url,
                    interval: push_interval,
                    external_label: push_label,
                    max_queue_bytes: 256 << 20,
                    print: false,
                };
                let p = match args
                    .options(push_metric, &cli.agents)
                    .map_err(pcp_agent::push::PushError::Option)
                    .and_then(pcp_agent::push::Pusher::start)
                {
                    Ok(p) => p,
                    Err(e) => return fail(format!("serve: {e}")),
                };
                if let Err(e) = host.load(p.agent()) {
                    return fail(format!("serve: {e}"));
                }
                pusher = Some(p);
            }
            let host = std::sync::Arc::new(host);
            if let Some(mut p) = pusher {
                let h = std::sync::Arc::clone(&host);
                std::thread::spawn(move || {
                    h.wait_ready(Duration::from_secs(5));
                    if let Err(e) = p.run(&h, &|| false) {
                        eprintln!("pcp-agent: serve: push: {e}");
                    }
                });
            }
            let store = profiler.as_ref().map(|p| p.store().clone());
            match pcp_agent::serve::run_with_profiles(host, opts, store) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pcp-agent: serve: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Push { push: args, names } => push(host, &args, names, &cli.agents),
        Command::Pmcd(args) => match pcp_agent::pmcd_server::run(host, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(format!("pmcd: {e}")),
        },
        Command::Watch {
            interval,
            samples,
            json,
            report,
            names,
        } => {
            if interval.is_some_and(|i| !(i > 0.0 && i.is_finite())) {
                eprintln!("pcp-agent: watch: the interval must be a positive number of seconds");
                return ExitCode::FAILURE;
            }
            host.wait_ready(Duration::from_secs(5));
            let opts = WatchOptions {
                names,
                interval: interval.map(Duration::from_secs_f64),
                samples,
                json,
                config: report.config.clone(),
                overrides: report.overrides(),
                instances: report.instances(),
                align: report
                    .align
                    .filter(|a| *a > 0.0 && a.is_finite())
                    .map(Duration::from_secs_f64),
            };
            match watch::run(&host, &context, &opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pcp-agent: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
