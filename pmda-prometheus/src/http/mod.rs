//! A non-blocking HTTP/1.1 client for scraping many plain `http://`
//! endpoints at once: a few reactor threads (mio) each multiplex
//! hundreds of connections, so a thousand endpoints 200 ms away cost one
//! round trip, not a thousand, and a hung endpoint holds a socket rather
//! than a thread.
//!
//! - connections are kept alive and reused per `host:port` (a request on a
//!   reused connection that the server had closed is retried once on a
//!   new one);
//! - the number of exchanges in flight is bounded; beyond it requests wait
//!   in first-come order, and requests marked *suspect* (their source timed
//!   out last time) wait behind the others and may hold at most a quarter
//!   of the slots; while requests wait, exchanges past their patience (the
//!   fetch gave up on them) beyond a quarter of the slots are ended as
//!   timed out, so dead endpoints never starve live ones;
//! - body bytes are handed to the caller's [`Exchange`] as they arrive,
//!   one read (at most [`READ_SIZE`] bytes) per connection per turn, so a
//!   huge document interleaves with the others instead of delaying them;
//! - every exchange has a deadline; past it the exchange ends with
//!   [`PrometheusError::Timeout`].
//!
//! `https://` and proxied URLs are fetched by the blocking client in
//! [`crate::fetch`] instead.

mod reactor;
pub mod response;
mod target;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::PrometheusError;
use crate::fetch::FetchFailure;

pub use target::Target;

/// Bytes read from one connection per turn.
pub const READ_SIZE: usize = 64 << 10;
/// How long an idle kept-alive connection is kept (Go's HTTP client keeps
/// them 90 s).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What the caller does with a response.
pub trait Exchange: Send {
    /// The request waited for a free slot before it could start.
    fn waited(&mut self) {}
    /// A piece of a successful (2xx) response's body; returns false to stop
    /// reading (the connection is then closed).
    fn body(&mut self, data: &[u8]) -> bool;
    /// The exchange ended: the status of a 2xx response, else why not.
    fn finish(self: Box<Self>, result: Result<u16, FetchFailure>);
}

/// One GET to make.
#[derive(Debug, Clone)]
pub struct Request {
    /// Where.
    pub target: Target,
    /// The addresses of the target's host, tried in order.
    pub addrs: Vec<SocketAddr>,
    /// Extra headers (`.url` `HEADER:` lines).
    pub headers: Vec<(String, String)>,
    /// The whole exchange must end by this time.
    pub deadline: Instant,
    /// The timeout the deadline came from (for the error text).
    pub timeout: Duration,
    /// Wait behind ordinary requests (the source timed out last time).
    pub suspect: bool,
    /// How long the fetch that asked waits for the answer: past it, the
    /// exchange may be ended early to free its slot for waiting requests.
    pub patience: Duration,
}

impl Request {
    /// The request head.
    fn head(&self) -> Vec<u8> {
        let t = &self.target;
        let mut h = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nAccept: {}\r\n",
            t.path,
            t.authority,
            crate::fetch::USER_AGENT,
            crate::fetch::ACCEPT
        );
        let has = |name: &str| {
            self.headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        if let Some(auth) = &t.basic_auth {
            if !has("authorization") {
                h.push_str(&format!("Authorization: Basic {auth}\r\n"));
            }
        }
        for (k, v) in &self.headers {
            // Framing is ours to decide.
            if ["host", "content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|x| k.eq_ignore_ascii_case(x))
            {
                continue;
            }
            if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
                continue;
            }
            h.push_str(k);
            h.push_str(": ");
            h.push_str(v);
            h.push_str("\r\n");
        }
        h.push_str("\r\n");
        h.into_bytes()
    }
}

/// Counters of the client, for the control metrics.
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Exchanges in flight now.
    pub in_flight: AtomicUsize,
    /// Requests waiting for a slot now.
    pub queued: AtomicUsize,
    /// Requests that had to wait for a slot, since start.
    pub waits: AtomicU64,
    /// Connections opened, since start.
    pub connects: AtomicU64,
    /// Requests sent on a kept-alive connection, since start.
    pub reuses: AtomicU64,
    /// Exchanges past their patience ended early to free a slot.
    pub evictions: AtomicU64,
}

/// The client: a handle on its reactor threads.
#[derive(Debug, Clone)]
pub struct Client {
    reactors: Arc<Vec<reactor::Handle>>,
    stats: Arc<ClientStats>,
}

impl Client {
    /// Starts `threads` reactors sharing at most `max_in_flight` exchanges.
    pub fn new(threads: usize, max_in_flight: usize, name: &str) -> std::io::Result<Client> {
        let threads = threads.max(1);
        let stats = Arc::new(ClientStats::default());
        let per = max_in_flight.div_ceil(threads).max(1);
        let mut reactors = Vec::with_capacity(threads);
        for i in 0..threads {
            reactors.push(reactor::Handle::start(
                &format!("{name}-http-{i}"),
                per,
                Arc::clone(&stats),
            )?);
        }
        Ok(Client {
            reactors: Arc::new(reactors),
            stats,
        })
    }

    /// Starts an exchange; `exchange` hears how it went (always exactly
    /// once, also if the reactor is gone).
    pub fn submit(&self, req: Request, exchange: Box<dyn Exchange>) {
        // The same host always goes to the same reactor, whose pool holds
        // its kept-alive connections.
        let key = req.target.host_key();
        let mut h: u64 = 0xcbf29ce484222325;
        for b in key.bytes() {
            h = (h ^ b as u64).wrapping_mul(0x100000001b3);
        }
        let r = &self.reactors[(h % self.reactors.len() as u64) as usize];
        r.submit(req, exchange);
    }

    /// The client's counters.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }
}

/// The error for an exchange that ran past its deadline.
pub(crate) fn timed_out(req: &Request) -> FetchFailure {
    (PrometheusError::Timeout(req.timeout), 0)
}
