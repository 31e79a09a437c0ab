//! Test helpers: an agent in a host, a tiny HTTP server on 127.0.0.1, and
//! config-dir writers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcp_core::{Host, Instance, LabelTarget, MetricResult, Value};
use pmda_prometheus::{prometheus_pmda, PrometheusConfig};

/// An agent over `dir` loaded in a host; `tweak` edits the config.
pub fn host(dir: &Path, tweak: impl FnOnce(&mut PrometheusConfig)) -> Host {
    let mut cfg = PrometheusConfig {
        config_dir: dir.to_path_buf(),
        ..PrometheusConfig::default()
    };
    tweak(&mut cfg);
    let agent = prometheus_pmda(cfg).expect("agent starts");
    let mut h = Host::new();
    h.load(Box::new(agent)).expect("agent loads");
    h
}

/// Writes a file (creating directories) with a mode.
pub fn write(dir: &Path, rel: &str, text: &str, mode: u32) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

/// Leaf names under `prefix`, without the prefix.
pub fn names(h: &Host, prefix: &str) -> Vec<String> {
    h.traverse(prefix)
        .map(|v| {
            v.into_iter()
                .map(|(n, _)| {
                    n.strip_prefix(&format!("{prefix}."))
                        .unwrap_or(&n)
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Fetches one metric by name.
pub fn fetch(h: &Host, name: &str) -> MetricResult {
    let p = h.lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    h.fetch(&[p]).values.remove(0).1
}

/// The instances of a metric, by name.
pub fn instances(h: &Host, name: &str) -> Vec<Instance> {
    let p = h.lookup(name).unwrap();
    let d = h.desc(p).unwrap();
    h.instances(d.indom).unwrap()
}

/// Values of a metric keyed by instance name.
pub fn values_by_name(h: &Host, name: &str) -> HashMap<String, Value> {
    let insts = instances(h, name);
    let vals = fetch(h, name).unwrap_or_else(|e| panic!("{name}: {e}"));
    vals.into_iter()
        .map(|(id, v)| {
            let n = insts
                .iter()
                .find(|i| i.id == id)
                .map(|i| i.name.clone())
                .unwrap_or_else(|| format!("?{id}"));
            (n, v)
        })
        .collect()
}

/// One control metric's value for a source (or "control" for totals).
pub fn control(h: &Host, root: &str, leaf: &str, source: &str) -> Option<Value> {
    let name = format!("{root}.control.{leaf}");
    let by = values_by_name(h, &name);
    by.get(source).cloned()
}

/// Cluster labels of a source's metric.
pub fn cluster_labels(h: &Host, metric: &str) -> pcp_core::LabelSet {
    let p = h.lookup(metric).unwrap();
    h.labels(p.domain(), LabelTarget::Cluster(p.cluster()))
        .unwrap()
}

/// Requests seen: (path, headers).
pub type RequestLog = Mutex<Vec<(String, Vec<(String, String)>)>>;

/// What the test server answers on a path.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
    /// Delay before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn ok(body: &str) -> Reply {
        Reply {
            status: 200,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (one thread per connection,
/// `Connection: close`, or kept alive), recording request headers.
pub struct Server {
    pub addr: String,
    pub routes: Arc<Mutex<HashMap<String, Reply>>>,
    pub requests: Arc<RequestLog>,
    pub connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(false)
    }

    /// A server that keeps connections open for further requests.
    pub fn start_keep_alive() -> Server {
        Server::start_with(true)
    }

    fn start_with(keep: bool) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let requests: Arc<RequestLog> = Arc::default();
        let connections: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (r, q, n) = (
            Arc::clone(&routes),
            Arc::clone(&requests),
            Arc::clone(&connections),
        );
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let (r, q) = (Arc::clone(&r), Arc::clone(&q));
                std::thread::spawn(move || {
                    let mut conn = conn;
                    while serve(&mut conn, &r, &q, keep) && keep {}
                });
            }
        });
        Server {
            addr,
            routes,
            requests,
            connections,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn route(&self, path: &str, reply: Reply) {
        self.routes.lock().unwrap().insert(path.to_string(), reply);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Headers of the last request to `path`.
    pub fn last_headers(&self, path: &str) -> Option<Vec<(String, String)>> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
    }

    pub fn hits(&self, path: &str) -> usize {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .count()
    }
}

/// Answers one request; false when the connection is done.
fn serve(
    conn: &mut TcpStream,
    routes: &Mutex<HashMap<String, Reply>>,
    requests: &RequestLog,
    keep: bool,
) -> bool {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1];
    // Byte by byte: a kept-alive connection's next request must not be
    // read into this one.
    while !buf.ends_with(b"\r\n\r\n") {
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let mut lines = text.split("\r\n");
    let path = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("/")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    requests.lock().unwrap().push((path.clone(), headers));
    let reply = routes.lock().unwrap().get(&path).cloned().unwrap_or(Reply {
        status: 404,
        body: "not found\n".into(),
        delay: Duration::ZERO,
    });
    std::thread::sleep(reply.delay);
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n{}\r\n",
        reply.status,
        reply.body.len(),
        if keep { "" } else { "Connection: close\r\n" }
    );
    conn.write_all(head.as_bytes()).is_ok() && conn.write_all(reply.body.as_bytes()).is_ok()
}
