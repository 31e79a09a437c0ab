//! Getting a source's document, streamed in pieces to a sink (which
//! parses them as they come): blocking HTTP(S) GET with keep-alive (for
//! `https://` and proxied URLs; plain `http://` goes through the
//! non-blocking client in [`crate::http`]), `file://` reads, and script
//! runs (no shell, optional user switch, a timeout that kills the script's
//! whole process group, stderr to the log).

use std::io::Read;

use std::time::Duration;

use crate::error::PrometheusError;
use crate::source::READ_CHUNK;

mod script;
pub use script::{run_script, RunAs};

/// A failed fetch: the error and the HTTP status code seen, if any.
pub type FetchFailure = (PrometheusError, i32);

/// Where a document's bytes go as they arrive; returns false when it
/// wants no more (the reader then stops reading).
pub type Sink<'a> = dyn FnMut(&[u8]) -> bool + 'a;

/// The `Accept` header sent to endpoints: OpenMetrics first, then the
/// Prometheus text format, as Prometheus itself asks.
pub const ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1";

/// The `User-Agent` header sent to endpoints.
pub const USER_AGENT: &str = concat!("pcp-agent-pmda-prometheus/", env!("CARGO_PKG_VERSION"));

/// The HTTP client: one keep-alive connection pool for every source.
#[derive(Debug, Clone)]
pub struct HttpClient {
    agent: ureq::Agent,
}

impl Default for HttpClient {
    fn default() -> HttpClient {
        HttpClient::new()
    }
}

impl HttpClient {
    /// A client with a keep-alive pool, redirects followed and proxy
    /// settings taken from the environment.
    pub fn new() -> HttpClient {
        let agent = ureq::AgentBuilder::new()
            .max_idle_connections(256)
            .max_idle_connections_per_host(16)
            .try_proxy_from_env(true)
            .user_agent(USER_AGENT)
            .build();
        HttpClient { agent }
    }

    /// GETs `url` with `headers`, the whole exchange bounded by `timeout`,
    /// handing the body to `sink` as it arrives; returns the HTTP status.
    pub fn get(
        &self,
        url: &str,
        headers: &[(String, String)],
        timeout: Duration,
        sink: &mut Sink<'_>,
    ) -> Result<i32, FetchFailure> {
        let mut req = self.agent.get(url).timeout(timeout).set("Accept", ACCEPT);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                return Err((
                    PrometheusError::HttpStatus {
                        code,
                        text: r.status_text().to_string(),
                    },
                    code as i32,
                ))
            }
            Err(ureq::Error::Transport(t)) => {
                return Err((PrometheusError::Transport(t.to_string()), 0))
            }
        };
        let code = resp.status() as i32;
        let mut reader = resp.into_reader();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if !sink(&buf[..n]) {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = if e.kind() == std::io::ErrorKind::TimedOut
                        || e.to_string().contains("timed out")
                    {
                        PrometheusError::Timeout(timeout)
                    } else {
                        PrometheusError::Transport(format!("reading body: {e}"))
                    };
                    return Err((err, code));
                }
            }
        }
        Ok(code)
    }
}

/// Reads a `file://` source (everything after the seven characters
/// `file://` is the path, as the reference takes it) into `sink`.
pub fn read_file(path: &str, sink: &mut Sink<'_>) -> Result<(), FetchFailure> {
    let io = |source| {
        (
            PrometheusError::Io {
                path: path.into(),
                source,
            },
            0,
        )
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        match f.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                if !sink(&buf[..n]) {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
}

#[cfg(test)]
mod tests;
