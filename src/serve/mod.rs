//! `pcp-agent serve`: the host over HTTP (being built: issue 6).

use std::net::SocketAddr;
use std::time::Duration;

use pcp_core::Host;

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (loopback by default).
    pub listen: SocketAddr,
    /// Allow `/pmapi/store`.
    pub allow_store: bool,
    /// Requests handled at once.
    pub max_connections: usize,
    /// Deadline for one request.
    pub request_timeout: Duration,
    /// Largest response body, in bytes.
    pub max_response_bytes: usize,
}

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        message: String,
    },
}

/// Serves `host` until the process is stopped.
pub fn run(host: Host, opts: ServeOptions) -> Result<(), ServeError> {
    let _ = host;
    Err(ServeError::Bind {
        addr: opts.listen,
        message: "serve is not built yet".into(),
    })
}
