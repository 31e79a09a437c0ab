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

use clap::Parser;
use pcp_agent::agents::AgentOptions;
use pcp_agent::watch::{self, WatchOptions};
use pcp_core::render::pminfo::{self, Flags};
use pcp_core::{Pmapi, Pmid};

mod cli;
use cli::{Cli, Command, PmcdPaths, PushArgs};

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
