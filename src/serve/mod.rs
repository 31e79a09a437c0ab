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
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn serve(allow_store: bool) -> Serving {
        let mut host = Host::new();
        host.load(Box::new(crate::simple::simple_pmda()))
            .expect("simple loads");
        start(
            host,
            ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                allow_store,
                max_connections: 4,
                derived: Arc::new(pcp_core::derive::Registry::new()),
                request_timeout: Duration::from_secs(2),
                max_response_bytes: 1 << 20,
                ..ServeOptions::default()
            },
        )
        .expect("binds")
    }

    /// Sends raw bytes, returns (status, body).
    fn raw(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn get(addr: SocketAddr, target: &str) -> (u16, serde_json::Value) {
        let (status, body) = raw(
            addr,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let json = serde_json::from_str(body.trim()).unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    #[test]
    fn fetch_metric_indom_children_in_pmproxy_shapes() {
        let s = serve(false);
        let a = s.addr();
        let (st, j) = get(a, "/pmapi/fetch?names=simple.color,simple.numfetch,no.such");
        assert_eq!(st, 200, "{j}");
        assert!(j["context"].as_u64().unwrap() > 0);
        assert!(j["timestamp"].as_f64().unwrap() > 1e9);
        let v = j["values"].as_array().unwrap();
        assert_eq!(v.len(), 2, "unknown names are left out: {j}");
        assert_eq!(v[0]["name"], "simple.color");
        assert_eq!(v[0]["pmid"], "253.0.1");
        assert_eq!(v[0]["instances"].as_array().unwrap().len(), 3);
        assert!(v[1]["instances"][0]["instance"].is_null());

        let (st, j) = get(a, "/pmapi/metric?names=simple.time.user");
        assert_eq!(st, 200);
        let m = &j["metrics"][0];
        assert_eq!(m["sem"], "counter");
        assert_eq!(m["units"], "sec");
        assert_eq!(m["type"], "double");
        assert!(
            m.get("indom").is_none(),
            "singular metrics have no indom key"
        );
        assert_eq!(m["series"].as_str().unwrap().len(), 40);
        assert_eq!(m["labels"]["agent"], "simple");
        assert!(m["labels"].get("userid").is_none());

        let (st, j) = get(a, "/pmapi/metric?names=no.such");
        assert_eq!(st, 400);
        assert_eq!(
            j["message"],
            "no.such traversal failed - Unknown metric name"
        );
        assert_eq!(j["success"], false);

        let (st, j) = get(a, "/pmapi/indom?name=simple.color&iname=r*&match=glob");
        assert_eq!(st, 200, "{j}");
        assert_eq!(j["indom"], "253.0");
        assert_eq!(j["instances"].as_array().unwrap().len(), 1);
        assert_eq!(j["instances"][0]["name"], "red");

        let (st, j) = get(a, "/pmapi/children?prefix=simple");
        assert_eq!(st, 200);
        assert_eq!(j["nonleaf"], serde_json::json!(["time"]));
        assert!(j["leaf"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("color")));
        s.stop();
    }

    #[test]
    fn contexts_and_profiles() {
        let s = serve(false);
        let a = s.addr();
        let (_, j) = get(a, "/pmapi/context?polltimeout=30");
        let c = j["context"].as_u64().unwrap();
        assert_eq!(j["source"].as_str().unwrap().len(), 40);
        let (st, _) = get(
            a,
            &format!("/pmapi/profile?context={c}&expr=add&name=simple.color&iname=green"),
        );
        assert_eq!(st, 200);
        let (_, j) = get(a, &format!("/pmapi/{c}/fetch?names=simple.color"));
        assert_eq!(j["context"].as_u64(), Some(c));
        assert_eq!(j["values"][0]["instances"].as_array().unwrap().len(), 1);
        assert_eq!(j["values"][0]["instances"][0]["instance"], 1);
        let (st, j) = get(a, "/pmapi/fetch?names=simple.color&context=12345");
        assert_eq!(st, 400);
        assert_eq!(j["message"], "unknown context identifier: 12345");
        assert_eq!(j["context"], 12345);
        s.stop();
    }

    #[test]
    fn store_needs_allow_store() {
        let s = serve(false);
        let (st, j) = get(s.addr(), "/pmapi/store?name=simple.numfetch&value=0");
        assert_eq!(st, 403, "{j}");
        assert!(j["message"].as_str().unwrap().contains("--allow-store"));
        s.stop();
        let s = serve(true);
        let (st, j) = get(s.addr(), "/pmapi/store?name=simple.numfetch&value=100");
        assert_eq!(st, 200, "{j}");
        assert_eq!(j["success"], true);
        let (_, j) = get(s.addr(), "/pmapi/fetch?names=simple.numfetch");
        assert!(j["values"][0]["instances"][0]["value"].as_u64().unwrap() >= 100);
        let (st, j) = get(s.addr(), "/pmapi/store?name=simple.numfetch&value=abc");
        assert_eq!(st, 400);
        assert_eq!(
            j["message"],
            "failed to store value to metric simple.numfetch: Bad input to pmstore"
        );
        s.stop();
    }

    #[test]
    fn metrics_text_and_bad_requests() {
        let s = serve(false);
        let a = s.addr();
        let (st, body) = raw(
            a,
            b"GET /metrics?names=simple.color HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(st, 200);
        assert!(body.contains("# TYPE simple_color gauge"), "{body}");
        assert!(body.contains("instname=\"red\""));
        let (st, _) = get(a, "/metrics?names=no.such");
        assert_eq!(st, 400);
        let (st, body) = raw(
            a,
            b"GET /metrics?names=simple.color HTTP/1.1\r\nAccept: application/openmetrics-text\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(st, 200);
        assert!(
            body.ends_with("# EOF\n") && !body.contains("# PCP5"),
            "{body}"
        );
        let (st, body) = raw(
            a,
            b"GET /metrics?names=simple.color&format=prometheus HTTP/1.1\r\nAccept: application/openmetrics-text\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(st, 200);
        assert!(body.contains("# PCP5") && !body.contains("# EOF"), "{body}");
        let (st, j) = get(a, "/metrics?format=json");
        assert_eq!(st, 400);
        assert!(j["message"].as_str().unwrap().contains("'format'"), "{j}");
        let (st, j) = get(a, "/pmapi/fetch?names=a%ZZ");
        assert_eq!(st, 400);
        assert!(j["message"].as_str().unwrap().contains("percent escape"));
        let many = vec!["simple.color"; MAX_NAMES + 1].join(",");
        let (st, j) = get(a, &format!("/pmapi/fetch?names={many}"));
        assert_eq!(st, 400);
        assert!(j["message"].as_str().unwrap().contains("too many"));
        let (st, _) = get(a, "/pmapi/nosuch");
        assert_eq!(st, 400);
        let (st, _) = get(a, "/nosuch");
        assert_eq!(st, 404);
        let (st, _) = raw(a, b"DELETE / HTTP/1.1\r\n\r\n");
        assert_eq!(st, 405);
        let (st, _) = raw(a, b"garbage\r\n\r\n");
        assert_eq!(st, 400);
        let huge = format!(
            "GET /pmapi/fetch?names={} HTTP/1.1\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES + 10)
        );
        let (st, _) = raw(a, huge.as_bytes());
        assert_eq!(st, 414);
        let (st, body) = raw(a, b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(st, 200);
        assert!(body.contains("<!DOCTYPE html>"));
        s.stop();
    }

    #[test]
    fn slow_clients_get_408_and_do_not_block_others() {
        let s = serve(false);
        let a = s.addr();
        // Trickle half a request and stall.
        let mut slow = TcpStream::connect(a).unwrap();
        slow.write_all(b"GET /metr").unwrap();
        let t0 = std::time::Instant::now();
        let (st, _) = get(a, "/pmapi/fetch?names=simple.numfetch");
        assert_eq!(st, 200);
        // Answered before the slow client's deadline (2 s) passed: the
        // slow one has not been told anything yet. (Not a wall-clock bound
        // on the answer, which a loaded machine can stretch.)
        slow.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 16];
        assert!(
            matches!(slow.read(&mut probe), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the fast request waited for the slow client's deadline ({:?})",
            t0.elapsed()
        );
        slow.set_nonblocking(false).unwrap();
        slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut out = String::new();
        let _ = slow.read_to_string(&mut out);
        assert!(out.starts_with("HTTP/1.1 408"), "{out}");
        assert!(t0.elapsed() >= Duration::from_millis(1500));
        s.stop();
    }

    #[test]
    fn response_cap_is_enforced() {
        let mut host = Host::new();
        host.load(Box::new(crate::simple::simple_pmda())).unwrap();
        let s = start(
            host,
            ServeOptions {
                listen: "127.0.0.1:0".parse().unwrap(),
                max_response_bytes: 200,
                ..ServeOptions::default()
            },
        )
        .unwrap();
        let (st, j) = get(s.addr(), "/pmapi/metric");
        assert_eq!(st, 400);
        assert!(j["message"]
            .as_str()
            .unwrap()
            .contains("Result size exceeded"));
        s.stop();
    }

    #[test]
    fn keep_alive_serves_several_requests_on_one_connection() {
        let s = serve(false);
        let mut c = TcpStream::connect(s.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(
            b"GET /pmapi/children HTTP/1.1\r\n\r\nGET /pmapi/children?prefix=simple HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        assert_eq!(out.matches("HTTP/1.1 200 OK").count(), 2, "{out}");
        s.stop();
    }
}
