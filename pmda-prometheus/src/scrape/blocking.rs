//! Scrapes that block, run on the worker pool: `file://` reads, scripts,
//! `https://` and proxied URLs, and the host name look-ups (cached for a
//! while) before a plain `http://` scrape.

use super::exchange::complete;
use super::{Shared, RESOLVE_TTL};
use crate::config::UrlConfig;
use crate::error::PrometheusError;
use crate::fetch::{read_file, run_script};
use crate::http::Target;
use crate::ingest::Ingest;
use crate::log::{log, Level};
use crate::source::Source;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Instant;

impl Shared {
    pub(super) fn cached_addrs(&self, host: &str) -> Option<Vec<SocketAddr>> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Some(vec![SocketAddr::new(ip, 0)]);
        }
        let r = self.resolved.lock();
        r.get(host)
            .filter(|(_, t)| t.elapsed() < RESOLVE_TTL)
            .map(|(a, _)| a.clone())
    }

    pub(super) fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, String> {
        let addrs: Vec<SocketAddr> = (host, 0)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        if addrs.is_empty() {
            return Err(format!("no address for {host}"));
        }
        self.resolved
            .lock()
            .insert(host.to_string(), (addrs.clone(), Instant::now()));
        Ok(addrs)
    }
}

impl Shared {
    pub(super) fn on_pool(self: &Arc<Self>, src: &Arc<Source>, suspect: bool, job: Job) {
        let sh = Arc::clone(self);
        let s = Arc::clone(src);
        let waited = self.pool.submit(
            Box::new(move || {
                sh.run_blocking(&s, job, suspect);
            }),
            suspect,
        );
        if waited {
            src.state.lock().stats.pool_waits += 1;
        }
    }

    /// A scrape on a pool worker.
    pub(super) fn run_blocking(self: &Arc<Self>, src: &Arc<Source>, job: Job, suspect: bool) {
        let root = &self.settings.root;
        if let Job::Resolve(cfg, target) = job {
            // A look-up, then back to the non-blocking client.
            return match self.resolve(&target.host) {
                Ok(addrs) => self.submit_http(src, cfg, target, addrs, suspect),
                Err(e) => {
                    let failure = (PrometheusError::Transport(e), 0);
                    src.state
                        .lock()
                        .record_failure(&cfg.url, &failure, root, &src.name);
                    complete(&self.flags, src, false)
                }
            };
        }
        let mut ingest = Ingest::new(Arc::clone(src), self.ctx());
        let (what, result) = match job {
            Job::Resolve(..) => unreachable!("handled above"),
            Job::File(path) => {
                let r = read_file(&path, &mut |b: &[u8]| ingest.push(b)).map(|()| 0);
                (format!("file://{path}"), r)
            }
            Job::Blocking(cfg) => {
                let timeout = self.timeout_of(Some(&cfg));
                let r = self
                    .blocking
                    .get(&cfg.url, &cfg.headers, timeout, &mut |b: &[u8]| {
                        ingest.push(b)
                    });
                (cfg.url.clone(), r)
            }
            Job::Script => {
                let name = &src.name;
                let r = run_script(
                    &src.file.path,
                    self.run_as.as_ref(),
                    self.settings.timeout,
                    &mut |b: &[u8]| ingest.push(b),
                    &|line| log(Level::Info, root, &format!("source {name} stderr: {line}")),
                )
                .map(|()| 0);
                (src.file.path.display().to_string(), r)
            }
        };
        let timed_out = match result {
            Ok(code) => {
                ingest.finish(code);
                false
            }
            Err(f) => {
                let t = f.0.is_timeout();
                ingest.fail(&what, &f);
                t
            }
        };
        complete(&self.flags, src, timed_out);
    }
}

/// Blocking work a scrape needs.
pub(super) enum Job {
    File(String),
    Script,
    Blocking(Arc<UrlConfig>),
    Resolve(Arc<UrlConfig>, Target),
}
