//! A pmcd for PCP's own clients: the [`crate::Host`] served over pmcd 6.0.3's
//! client protocol on TCP and a unix-domain socket, so `pminfo`, `pmval`,
//! `pmrep`, `pmprobe`, `pmstore`, the Python PMAPI, `pmlogger` and
//! `pmproxy` work against it with no PCP installed on the node.
//!
//! - [`session`]: one client's conversation (handshake, credentials and
//!   container, profiles, every request), independent of sockets;
//! - `answer`: the answers, over the host, as the client;
//! - [`conn`]: one connection's bytes under its deadline;
//! - [`access`]: pmcd's `[access]` statements (allow/disallow by host and
//!   operation, connection limits);
//! - [`pmcd_agent`](mod@pmcd_agent): the `pmcd.*` metrics (domain 2) clients rely on;
//! - [`state`]: what the server publishes about itself.
//!
//! Each connection has a thread of its own, so a slow client delays no
//! other; connections are bounded by [`ServerOptions::max_connections`]
//! (more are refused with PM_ERR_CONNLIMIT, as pmcd refuses them), and each
//! by its deadline ([`conn`]). A client on the unix socket is known by its
//! peer credentials (SO_PEERCRED): the agents see its user and group, and
//! its context labels carry them, as pmcd's do. Storing is off unless the
//! access rules allow it. There is no TLS or SASL: no maintained Rust crate
//! speaks PCP's SASL exchange, and PCP's TLS upgrade needs its certificate
//! set-up on both sides; bind to loopback (the default) or a trusted
//! network.
//!
//! Memory per connection is bounded: a 64 KiB read buffer (the largest
//! PDU a client may send, pmcd's limit too), the reply buffer (shrunk back
//! after a reply over 1 MiB), at most [`SessionLimits::max_profiles`]
//! profiles holding [`SessionLimits::max_profile_insts`] instance ids.

pub mod access;
mod answer;
pub mod conn;
pub mod facts;
mod listen;
pub mod pmcd_agent;
pub mod session;
pub mod state;

pub use access::{Access, AccessError, Ops, Peer};
pub use listen::{Server, ServerError, ServerHandle};
pub use pmcd_agent::{pmcd_agent, PmcdAgent};
pub use session::{Outcome, Session, SessionLimits, FEATURES_OFFERED};
pub use state::ServerState;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// TCP addresses to listen on (pmcd's port is 44321).
    pub listen: Vec<SocketAddr>,
    /// A unix-domain socket to listen on too.
    pub socket: Option<PathBuf>,
    /// Clients connected at once; more are refused.
    pub max_connections: usize,
    /// Deadline for a client's handshake, for each PDU once it has
    /// started, and for taking each reply (pmcd's own timeout is 5 s).
    pub client_timeout: Duration,
    /// Close a connection that sends no request for this long (pmcd never
    /// does; `None` here too by default).
    pub idle_timeout: Option<Duration>,
    /// Largest PDU a client may send (pmcd: 64 KiB).
    pub max_pdu: usize,
    /// Who may connect and do what.
    pub access: Access,
    /// Per-client bounds.
    pub limits: SessionLimits,
    /// The version `pmcd.version` reports.
    pub version: String,
}

impl Default for ServerOptions {
    /// 127.0.0.1:44321, no socket, 128 clients, 5 s, no idle limit,
    /// 64 KiB PDUs, fetch for all and store for none.
    fn default() -> ServerOptions {
        ServerOptions {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 44321))],
            socket: None,
            max_connections: 128,
            client_timeout: Duration::from_secs(5),
            idle_timeout: None,
            max_pdu: 64 << 10,
            access: Access::default(),
            limits: SessionLimits::default(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}
