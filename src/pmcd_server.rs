//! `pcp-agent pmcd`: the host served to PCP's own clients over pmcd's
//! client protocol ([`pcp_core::server`]), so `pminfo -h NODE`, `pmrep`,
//! `pmlogger` and a central `pmproxy` reach this node's agents with no PCP
//! installed on it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pcp_core::server::{Access, Server, ServerOptions};
use pcp_core::Host;

/// The command line of `pcp-agent pmcd`.
#[derive(Debug, Clone, clap::Args)]
pub struct PmcdArgs {
    /// TCP address to listen on (repeatable); pmcd's port is 44321.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:44321")]
    pub listen: Vec<SocketAddr>,
    /// Also listen on this unix-domain socket (pmcd's is /run/pcp/pmcd.socket);
    /// its clients are known by their user and group.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Access rules in pmcd's `[access]` syntax (allow/disallow hosts : fetch, store, all).
    #[arg(long, value_name = "FILE")]
    pub access: Option<PathBuf>,
    /// Allow every client to store values (pmstore), unless the access rules deny it.
    #[arg(long)]
    pub allow_store: bool,
    /// Clients connected at once; more are refused.
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub max_connections: usize,
    /// Seconds a client has for its handshake, each request once started, and each reply.
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub client_timeout: f64,
    /// Close a client that sends nothing for this many seconds (default: never, as pmcd).
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<f64>,
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum PmcdError {
    /// An option is out of range.
    #[error("{0}")]
    Option(String),
    /// The access file could not be read or parsed.
    #[error("{path}: {message}")]
    Access {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Binding or loading failed.
    #[error(transparent)]
    Server(#[from] pcp_core::server::ServerError),
    /// The listeners failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

fn seconds(what: &str, s: f64) -> Result<Duration, PmcdError> {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| PmcdError::Option(format!("{what} must be a positive number of seconds")))
}

impl PmcdArgs {
    /// The server options these arguments describe.
    pub fn options(&self) -> Result<ServerOptions, PmcdError> {
        let mut access = match &self.access {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| PmcdError::Access {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                Access::parse(&text).map_err(|e| PmcdError::Access {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => Access::default(),
        };
        if self.allow_store {
            access = access.with_store_allowed();
        }
        if self.max_connections == 0 {
            return Err(PmcdError::Option(
                "--max-connections must be at least 1".into(),
            ));
        }
        Ok(ServerOptions {
            listen: self.listen.clone(),
            socket: self.socket.clone(),
            max_connections: self.max_connections,
            client_timeout: seconds("--client-timeout", self.client_timeout)?,
            idle_timeout: self
                .idle_timeout
                .map(|s| seconds("--idle-timeout", s))
                .transpose()?,
            access,
            version: env!("CARGO_PKG_VERSION").to_string(),
            ..ServerOptions::default()
        })
    }
}

/// Serves `host` until the process is stopped.
pub fn run(host: Host, args: &PmcdArgs) -> Result<(), PmcdError> {
    let opts = args.options()?;
    let server = Server::bind(host, opts.clone())?;
    for a in server.tcp_addrs() {
        eprintln!("pcp-agent pmcd: listening on {a}");
    }
    if let Some(p) = &opts.socket {
        eprintln!("pcp-agent pmcd: listening on {}", p.display());
    }
    server.run()?;
    Ok(())
}
