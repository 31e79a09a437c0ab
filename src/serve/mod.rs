//! `pcp-agent serve`: the host over HTTP.
//!
//! - `GET /metrics` (also `/pmapi/metrics`): every metric, or those under
//!   the `names=` prefixes, as Prometheus text exposition named as
//!   pmproxy names them (see [`pcp_core::render::openmetrics`]);
//! - `/pmapi/*`: pmproxy's REST API subset in pmproxy 6.0.3's JSON shapes
//!   (context, metric, fetch, indom, profile, children, store, label,
//!   derive), each request in its context with its derived metrics;
//! - `GET /`: a self-contained page listing the namespace with live values
//!   and sparklines, polling `/pmapi/fetch` from the browser.
//!
//! Every resource a client can take is bounded (see [`http`]): idle and
//! slow connections are parked on one event loop at a few hundred bytes
//! each, up to `max_clients`; `max_connections` worker threads answer
//! requests, with as many complete requests queued (more get `503`); a
//! request head has its own short deadline (`408`), as do bodies and the
//! first request of a connection; the request head and body, the number of
//! names per request (4096) and the response body have caps. Storing needs
//! `--allow-store`; the default address is loopback.

mod context;
mod derive;
mod http;
mod pmapi;
mod profile;
mod query;

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use pcp_core::render::openmetrics::{ExpositionCache, Format};
use pcp_core::{Host, PmError, Pmapi};

use self::context::Contexts;
use self::http::{Limits, Request, Response, Server};
use self::pmapi::{error_response, ident, Api, MAX_NAMES};
use self::query::{split_list, Query};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to listen on (loopback by default).
    pub listen: SocketAddr,
    /// Allow `/pmapi/store`.
    pub allow_store: bool,
    /// Requests handled at once (worker threads).
    pub max_connections: usize,
    /// Connections open at once (parked cheaply when idle or slow).
    pub max_clients: usize,
    /// Deadline for a request head, from its first byte.
    pub head_timeout: Duration,
    /// Deadline for one request.
    pub request_timeout: Duration,
    /// Largest response body, in bytes.
    pub max_response_bytes: usize,
    /// The global derived metrics every context sees (libpcp's two
    /// anonymous ones by default).
    pub derived: Arc<pcp_core::derive::Registry>,
}

impl Default for ServeOptions {
    /// The command line's defaults: 127.0.0.1:44323, no store, 32
    /// requests at once, 4096 connections, 5 s for a head, 10 s for a
    /// request, 64 MiB.
    fn default() -> ServeOptions {
        ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 44323)),
            allow_store: false,
            max_connections: 32,
            max_clients: 4096,
            head_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_response_bytes: 64 << 20,
            derived: Arc::new(pcp_core::derive::Registry::new()),
        }
    }
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

/// The page served at `/`.
const PAGE: &str = include_str!("page.html");

/// Largest request head (request line and headers): room for a names=
/// list of a few thousand metric names.
const MAX_HEAD_BYTES: usize = 256 * 1024;

/// Largest request body (only `/pmapi/store` reads one).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Bytes of unfinished requests held for all connections together: room
/// for 256 heads at their largest.
const MAX_BUFFERED_BYTES: usize = 64 << 20;

/// Answer bytes waiting for slow readers, all connections together, past
/// which new requests get 503.
const MAX_UNSENT_BYTES: usize = 256 << 20;

/// How long a kept-alive connection may idle between requests: longer
/// than the usual scrape interval (15 s), so that a scraper's connection
/// is reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything a request handler needs.
///
/// Concurrent requests fetch concurrently: the host queues fetches of one
/// agent behind each other, each under its own deadline.
#[derive(Debug)]
struct Service {
    host: Arc<Host>,
    /// /metrics metadata kept between scrapes.
    exposition: ExpositionCache,
    /// The context /metrics scrapes share (so a derived rate has a value
    /// from the second scrape on).
    scrape_context: pcp_core::derive::DerivedContext,
    contexts: Contexts,
    allow_store: bool,
    max_response_bytes: usize,
    source: String,
    hostspec: String,
    /// The profiler's kept profiles (`serve --profile`), see [`profile`].
    profiles: Option<Arc<pcp_profile::ProfileStore>>,
}

/// pmproxy's CORS headers, so a browser data source on another origin can
/// query us.
fn cors(r: Response) -> Response {
    r.with_header("Access-Control-Allow-Origin", "*")
        .with_header(
            "Access-Control-Allow-Headers",
            "Accept, Accept-Language, Content-Language, Content-Type",
        )
        .with_header("Access-Control-Max-Age", "86400")
}

impl Service {
    fn new(host: Arc<Host>, opts: &ServeOptions) -> Service {
        let labels = host.context_labels();
        let label = |k: &str| {
            labels
                .get(k)
                .and_then(|l| l.value.as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let hostspec = {
            let h = label("hostname");
            if h.is_empty() {
                "localhost".to_string()
            } else {
                h
            }
        };
        let source = ident(&format!("{hostspec}\n{}", label("machineid")));
        Service {
            host,
            exposition: ExpositionCache::new(),
            scrape_context: pcp_core::derive::DerivedContext::new(opts.derived.clone()),
            contexts: Contexts::with_registry(opts.derived.clone()),
            allow_store: opts.allow_store,
            max_response_bytes: opts.max_response_bytes,
            source,
            hostspec,
            profiles: None,
        }
    }

    fn handle(&self, req: &Request) -> Response {
        let r = match catch_unwind(AssertUnwindSafe(|| self.route(req))) {
            Ok(r) => r,
            Err(_) => error_response(
                500,
                None,
                "internal error while answering this request (reported on the server's stderr)",
            ),
        };
        let r = if r.body.len() > self.max_response_bytes {
            error_response(
                400,
                None,
                &format!(
                    "{}: the answer would be {} bytes, over the limit of {} bytes \
                     (--max-response-bytes); ask for fewer metrics",
                    PmError::TOOBIG,
                    r.body.len(),
                    self.max_response_bytes
                ),
            )
        } else {
            r
        };
        cors(r)
    }

    fn route(&self, req: &Request) -> Response {
        let method = req.method.as_str();
        if method == "OPTIONS" {
            return Response::new(200, "text/plain; charset=utf-8", Vec::new())
                .with_header("Allow", "GET, HEAD, POST, OPTIONS");
        }
        if !matches!(method, "GET" | "HEAD" | "POST") {
            return error_response(
                405,
                None,
                &format!("method {method} is not allowed: use GET (or POST for /pmapi/store)"),
            )
            .with_header("Allow", "GET, HEAD, POST, OPTIONS");
        }
        if let Some(r) = self.profiles.as_ref().and_then(|s| profile::route(s, req)) {
            return r;
        }
        let path = req.path.as_str();
        if let Some(rest) = path.strip_prefix("/pmapi/") {
            // `/pmapi/N/command` names a context in the path.
            let (ctx, command) = match rest.split_once('/') {
                Some((n, c)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                    (Some(n), c)
                }
                _ => (None, rest),
            };
            if command == "metrics" {
                return self.metrics(req);
            }
            let api = Api {
                host: &*self.host,
                base: &*self.host,
                contexts: &self.contexts,
                allow_store: self.allow_store,
                source: &self.source,
                hostspec: &self.hostspec,
            };
            return api.handle(command, ctx, req);
        }
        if method == "POST" {
            return error_response(405, None, "POST is only accepted by /pmapi/store")
                .with_header("Allow", "GET, HEAD, OPTIONS");
        }
        match path {
            "/metrics" => self.metrics(req),
            "/" | "/index.html" => Response::new(200, "text/html; charset=utf-8", PAGE)
                .with_header("Cache-Control", "no-cache"),
            _ => Response::text(
                404,
                format!(
                    "no such page: {path}\nthis server answers /, /metrics and /pmapi/* \
                     (context, metric, fetch, indom, profile, children, store, label)"
                ),
            ),
        }
    }

    /// `/metrics`: the exposition of every metric under the `names=`
    /// (or `name=`, `prefix=`, `target=`) prefixes, all if none, in
    /// OpenMetrics text when the `Accept` header asks for it first and
    /// Prometheus text otherwise; `format=openmetrics` or
    /// `format=prometheus` overrides the header.
    fn metrics(&self, req: &Request) -> Response {
        let q = match Query::parse(&req.query) {
            Ok(q) => q,
            Err(e) => return error_response(400, None, &e.to_string()),
        };
        let format = match q.get("format") {
            None => Format::negotiate(&req.accept),
            Some("openmetrics") => Format::OpenMetrics,
            Some("prometheus") => Format::Prometheus,
            Some(other) => {
                return error_response(
                    400,
                    None,
                    &format!(
                        "{other} - invalid 'format' parameter value: use openmetrics or prometheus"
                    ),
                )
            }
        };
        let mut prefixes = Vec::new();
        for key in ["names", "name", "prefix", "target"] {
            if let Some(v) = q.get(key) {
                match split_list(key, v, MAX_NAMES) {
                    Ok(l) => prefixes = l,
                    Err(e) => return error_response(400, None, &e.to_string()),
                }
                break;
            }
        }
        if prefixes.is_empty() {
            prefixes.push(String::new());
        }
        let view = self.scrape_context.view(&*self.host);
        let mut metrics = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in &prefixes {
            match view.traverse(p) {
                Ok(leaves) => {
                    for (name, pmid) in leaves {
                        if seen.insert(name.clone()) {
                            metrics.push((name, pmid));
                        }
                    }
                }
                Err(e) => return error_response(400, None, &format!("'{p}' - {e}")),
            }
        }
        let text = self.exposition.render(&view, &metrics, format);
        Response::new(200, format.content_type(), text)
    }
}

/// A running server (see [`start`]).
#[derive(Debug)]
pub struct Serving {
    server: Server,
}

impl Serving {
    /// The address served (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Stops accepting connections and waits for the acceptor to end.
    pub fn stop(mut self) {
        self.server.stop();
    }

    /// Blocks until the server stops.
    pub fn wait(self) {
        self.server.join();
    }
}

/// Starts serving `host` in the background and returns at once (a host
/// shared with others, a pusher say, as an `Arc<Host>`).
pub fn start(host: impl Into<Arc<Host>>, opts: ServeOptions) -> Result<Serving, ServeError> {
    start_with_profiles(host, opts, None)
}

/// [`start`], also serving the profiler's pages from `profiles`.
pub fn start_with_profiles(
    host: impl Into<Arc<Host>>,
    opts: ServeOptions,
    profiles: Option<Arc<pcp_profile::ProfileStore>>,
) -> Result<Serving, ServeError> {
    let host = host.into();
    let workers = opts.max_connections.max(1);
    let limits = Limits {
        workers,
        queue: workers,
        max_clients: opts.max_clients.max(1),
        head_timeout: opts.head_timeout.min(opts.request_timeout),
        request_timeout: opts.request_timeout,
        idle_timeout: IDLE_TIMEOUT,
        max_head_bytes: MAX_HEAD_BYTES,
        max_body_bytes: MAX_BODY_BYTES,
        max_buffered_bytes: MAX_BUFFERED_BYTES,
        max_unsent_bytes: MAX_UNSENT_BYTES,
    };
    let mut service = Service::new(host, &opts);
    service.profiles = profiles;
    let service = Arc::new(service);
    let handler: Arc<http::Handler> = Arc::new(move |req: &Request| service.handle(req));
    let server = Server::start(opts.listen, limits, handler).map_err(|e| ServeError::Bind {
        addr: opts.listen,
        message: e.to_string(),
    })?;
    Ok(Serving { server })
}

/// Serves `host` until the process is stopped.
pub fn run(host: impl Into<Arc<Host>>, opts: ServeOptions) -> Result<(), ServeError> {
    run_with_profiles(host, opts, None)
}

/// [`run`], also serving the profiler's pages from `profiles`.
pub fn run_with_profiles(
    host: impl Into<Arc<Host>>,
    opts: ServeOptions,
    profiles: Option<Arc<pcp_profile::ProfileStore>>,
) -> Result<(), ServeError> {
    let host: Arc<Host> = host.into();
    host.wait_ready(Duration::from_secs(5));
    let agents: Vec<String> = host.agents().into_iter().map(|(n, _)| n).collect();
    let loopback = opts.listen.ip().is_loopback();
    let allow_store = opts.allow_store;
    let serving = start_with_profiles(host, opts, profiles)?;
    eprintln!(
        "pcp-agent serve: listening on http://{}/ (agents: {}; store {})",
        serving.addr(),
        if agents.is_empty() {
            "none".to_string()
        } else {
            agents.join(", ")
        },
        if allow_store { "allowed" } else { "refused" }
    );
    if !loopback {
        eprintln!(
            "pcp-agent serve: warning: listening on a non-loopback address; \
             anyone who can reach it can read every metric{}",
            if allow_store { " and store values" } else { "" }
        );
    }
    serving.wait();
    Ok(())
}

#[cfg(test)]
mod tests;
