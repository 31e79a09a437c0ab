//! `pcp-agent`: hosts the workspace's metric agents.
//!
//! - `info`: like pminfo over the loaded agents;
//! - `watch`: like pmval/pmrep, counters as rates;
//! - `pmda`: run one agent as a daemon PMDA under a real pmcd;
//! - `install` / `remove`: register an agent with the local pmcd;
//! - `serve`: OpenMetrics `/metrics` and pmproxy's REST API over HTTP.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use pcp_agent::agents::AgentOptions;
use pcp_agent::watch::{self, WatchOptions};
use pcp_core::render::pminfo::{self, Flags};
use pcp_core::{Host, Pmid};

#[derive(Debug, Parser)]
#[command(
    name = "pcp-agent",
    version,
    about = "PCP-style metric agents: query, watch, serve, or run under pmcd"
)]
struct Cli {
    #[command(flatten)]
    agents: AgentOptions,
    #[command(subcommand)]
    command: Command,
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
        /// Seconds between samples.
        #[arg(short = 't', long = "interval", default_value_t = 1.0)]
        interval: f64,
        /// Number of samples (default: until interrupted).
        #[arg(short = 's', long = "samples")]
        samples: Option<u64>,
        /// Print one JSON object per sample.
        #[arg(long)]
        json: bool,
        /// Metric names or subtrees.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Serve /metrics (OpenMetrics) and pmproxy's REST API over HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:44323")]
        listen: std::net::SocketAddr,
        /// Allow storing values through /pmapi/store.
        #[arg(long)]
        allow_store: bool,
        /// Requests handled at once.
        #[arg(long, default_value_t = 32)]
        max_connections: usize,
        /// Deadline for one request, in seconds.
        #[arg(long, default_value_t = 10.0)]
        request_timeout: f64,
        /// Largest response body, in bytes.
        #[arg(long, default_value_t = 64 << 20)]
        max_response_bytes: usize,
    },
}

fn info(host: &Host, names: &[String], flags: Flags) -> ExitCode {
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
    if flags.fetch {
        host.wait_ready(Duration::from_secs(5));
    }
    print!("{}", pminfo::render(host, &metrics, flags));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve { .. }) {
        // Interactive commands: only the agents' warnings and errors.
        pmda_prometheus::log::set_quiet(true);
    }
    let host = match cli.agents.build_host() {
        Ok(h) => h,
        Err(e) => {
            eprintln!("pcp-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
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
            &host,
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
            request_timeout,
            max_response_bytes,
        } => {
            let opts = pcp_agent::serve::ServeOptions {
                listen,
                allow_store,
                max_connections: max_connections.max(1),
                request_timeout: Duration::try_from_secs_f64(request_timeout)
                    .unwrap_or(Duration::from_secs(10)),
                max_response_bytes,
            };
            match pcp_agent::serve::run(host, opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pcp-agent: serve: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Watch {
            interval,
            samples,
            json,
            names,
        } => {
            if !(interval > 0.0 && interval.is_finite()) {
                eprintln!("pcp-agent: watch: the interval must be a positive number of seconds");
                return ExitCode::FAILURE;
            }
            host.wait_ready(Duration::from_secs(5));
            let opts = WatchOptions {
                names,
                interval: Duration::from_secs_f64(interval),
                samples,
                json,
            };
            match watch::run(&host, &opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("pcp-agent: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
