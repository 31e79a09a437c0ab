//! Pushing profiles to Pyroscope by its documented ingest API:
//! `POST /ingest?name=APP{labels}&from=&until=&sampleRate=&spyName=&format=pprof`
//! with a `multipart/form-data` body holding the pprof file in the part
//! `profile` and the sample types in the part `sample_type_config`.
//!
//! One thread sends; the queue is bounded (`queue_size`): when full, the
//! oldest profile is dropped and counted. Each request has a deadline;
//! a failure that may pass (connection errors, 429, 5xx) is retried after
//! a backoff doubling from `min_backoff` to `max_backoff`, at most
//! `max_retries` times; other answers (4xx) drop the profile at once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::config::PushConfig;
use crate::model::ProfileKind;
use crate::stats::ProfilerStats;

/// One profile to push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushItem {
    /// The application name with its labels: `svc{host=a,pid=1}`.
    pub name: String,
    /// Start, Unix seconds.
    pub from: u64,
    /// End, Unix seconds.
    pub until: u64,
    /// Samples per second.
    pub sample_rate: u32,
    /// The profile type.
    pub kind: ProfileKind,
    /// The gzipped pprof file.
    pub pprof: Vec<u8>,
}

/// The `name` parameter: `service{k=v,...}` with characters Pyroscope's
/// name grammar does not allow replaced by `_`.
///
/// ```
/// let n = pcp_profile::push::app_name("my app", &[("host".into(), "a,b".into())]);
/// assert_eq!(n, "my_app{host=a_b}");
/// ```
pub fn app_name(service: &str, labels: &[(String, String)]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/' | ':') {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    let mut n = clean(service);
    n.push('{');
    let pairs: Vec<String> = labels
        .iter()
        .filter(|(k, _)| k != "service_name")
        .map(|(k, v)| format!("{}={}", clean(k), clean(v)))
        .collect();
    n.push_str(&pairs.join(","));
    n.push('}');
    n
}

/// The ingest URL for `item` under `base`.
pub fn ingest_url(base: &str, item: &PushItem) -> String {
    format!(
        "{}/ingest?name={}&from={}&until={}&sampleRate={}&spyName=ebpfspy&format=pprof",
        base.trim_end_matches('/'),
        percent_encode(&item.name),
        item.from,
        item.until,
        item.sample_rate
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Pyroscope's sample type configuration for a profile of `kind`.
pub fn sample_type_config(kind: ProfileKind) -> String {
    match kind {
        ProfileKind::Cpu => concat!(
            r#"{"samples":{"units":"samples","aggregation":"sum","display-name":"samples","sampled":true},"#,
            r#""cpu":{"units":"samples","aggregation":"sum","display-name":"cpu","sampled":true}}"#
        )
        .to_string(),
        ProfileKind::OffCpu => {
            r#"{"off_cpu":{"units":"samples","aggregation":"sum","display-name":"off_cpu","sampled":false}}"#
                .to_string()
        }
    }
}

/// The multipart body and its content type.
pub fn multipart_body(item: &PushItem) -> (String, Vec<u8>) {
    // A boundary that cannot occur in the parts: long, and checked.
    let mut n = 0u64;
    let boundary = loop {
        let b = format!(
            "pcp-profile-{:016x}{:08x}",
            item.from ^ 0x9e37_79b9_7f4a_7c15,
            n
        );
        let bb = b.as_bytes();
        if !item.pprof.windows(bb.len()).any(|w| w == bb) {
            break b;
        }
        n += 1;
    };
    let config = sample_type_config(item.kind);
    let mut body = Vec::with_capacity(item.pprof.len() + config.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&item.pprof);
    body.extend_from_slice(
        format!(
            "\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"sample_type_config\"; filename=\"sample_type_config.json\"\r\nContent-Type: application/json\r\n\r\n{config}\r\n--{boundary}--\r\n"
        )
        .as_bytes(),
    );
    (format!("multipart/form-data; boundary={boundary}"), body)
}

struct Queue {
    items: Mutex<VecDeque<PushItem>>,
    wake: Condvar,
    stop: AtomicBool,
}

/// The sending thread and its queue.
pub struct Pusher {
    queue: Arc<Queue>,
    capacity: usize,
    stats: Arc<ProfilerStats>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Pusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pusher")
            .field("queued", &self.queue.items.lock().len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Why one attempt failed.
enum Failure {
    /// Worth retrying.
    Transient(String),
    /// Not.
    Permanent(String),
}

impl Pusher {
    /// Starts the sending thread.
    pub fn start(config: PushConfig, stats: Arc<ProfilerStats>) -> std::io::Result<Pusher> {
        let queue = Arc::new(Queue {
            items: Mutex::new(VecDeque::new()),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let capacity = config.queue_size.max(1);
        let thread = {
            let queue = queue.clone();
            let stats = stats.clone();
            std::thread::Builder::new()
                .name("profile-push".into())
                .spawn(move || send_loop(&config, &queue, &stats))?
        };
        Ok(Pusher {
            queue,
            capacity,
            stats,
            thread: Some(thread),
        })
    }

    /// Queues `item`, dropping (and counting) the oldest if the queue is full.
    pub fn push(&self, item: PushItem) {
        let mut q = self.queue.items.lock();
        while q.len() >= self.capacity {
            q.pop_front();
            self.stats.push_dropped.fetch_add(1, Ordering::Relaxed);
        }
        q.push_back(item);
        self.stats
            .push_queue_depth
            .store(q.len() as u64, Ordering::Relaxed);
        drop(q);
        self.queue.wake.notify_one();
    }

    /// Stops the thread: what is queued is sent first for at most `grace`,
    /// then dropped (and counted).
    pub fn shutdown(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        loop {
            let empty = self.queue.items.lock().is_empty();
            if empty || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.queue.stop.store(true, Ordering::Release);
        self.queue.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mut q = self.queue.items.lock();
        self.stats
            .push_dropped
            .fetch_add(q.len() as u64, Ordering::Relaxed);
        q.clear();
        self.stats.push_queue_depth.store(0, Ordering::Relaxed);
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown(Duration::ZERO);
        }
    }
}

fn send_loop(config: &PushConfig, queue: &Queue, stats: &ProfilerStats) {
    let agent = ureq::AgentBuilder::new()
        .timeout(config.timeout)
        .redirects(0)
        .build();
    loop {
        let item = {
            let mut q = queue.items.lock();
            loop {
                if queue.stop.load(Ordering::Acquire) {
                    return;
                }
                if let Some(i) = q.pop_front() {
                    stats
                        .push_queue_depth
                        .store(q.len() as u64, Ordering::Relaxed);
                    break i;
                }
                queue.wake.wait_for(&mut q, Duration::from_millis(500));
            }
        };
        let mut backoff = config.min_backoff;
        let mut attempt = 0u32;
        loop {
            match send_one(&agent, config, &item) {
                Ok(()) => {
                    stats.push_sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(f) => {
                    stats.push_errors.fetch_add(1, Ordering::Relaxed);
                    let (msg, retry) = match f {
                        Failure::Transient(m) => (m, attempt < config.max_retries),
                        Failure::Permanent(m) => (m, false),
                    };
                    stats.set_error(format!("push to {}: {msg}", config.url));
                    if !retry {
                        stats.push_dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    attempt += 1;
                    // Sleep, but wake for a shutdown.
                    let mut q = queue.items.lock();
                    let until = Instant::now() + backoff;
                    while !queue.stop.load(Ordering::Acquire) && Instant::now() < until {
                        queue.wake.wait_until(&mut q, until);
                    }
                    if queue.stop.load(Ordering::Acquire) {
                        stats.push_dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    backoff = (backoff * 2).min(config.max_backoff);
                }
            }
        }
    }
}

fn send_one(agent: &ureq::Agent, config: &PushConfig, item: &PushItem) -> Result<(), Failure> {
    let url = ingest_url(&config.url, item);
    let (ctype, body) = multipart_body(item);
    let mut req = agent.post(&url).set("Content-Type", &ctype);
    if let Some(t) = &config.tenant_id {
        req = req.set("X-Scope-OrgID", t);
    }
    match req.send_bytes(&body) {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(code, r)) => {
            let text: String = r
                .into_string()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let msg = format!("HTTP {code}: {}", text.trim());
            if code == 429 || code >= 500 {
                Err(Failure::Transient(msg))
            } else {
                Err(Failure::Permanent(msg))
            }
        }
        Err(ureq::Error::Transport(t)) => Err(Failure::Transient(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(from: u64) -> PushItem {
        PushItem {
            name: app_name("svc", &[("host".into(), "h".into())]),
            from,
            until: from + 15,
            sample_rate: 97,
            kind: ProfileKind::Cpu,
            pprof: vec![0x1f, 0x8b, 1, 2, 3],
        }
    }

    #[test]
    fn url_and_body_follow_the_ingest_api() {
        let i = item(1000);
        let u = ingest_url("http://127.0.0.1:4040/", &i);
        assert_eq!(
            u,
            "http://127.0.0.1:4040/ingest?name=svc%7Bhost%3Dh%7D&from=1000&until=1015&sampleRate=97&spyName=ebpfspy&format=pprof"
        );
        let (ct, body) = multipart_body(&i);
        let boundary = ct.strip_prefix("multipart/form-data; boundary=").unwrap();
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("name=\"profile\""));
        assert!(text.contains("name=\"sample_type_config\""));
        assert!(text.ends_with(&format!("--{boundary}--\r\n")));
        let cfg: serde_json::Value =
            serde_json::from_str(&sample_type_config(ProfileKind::OffCpu)).unwrap();
        assert_eq!(cfg["off_cpu"]["aggregation"], "sum");
    }

    #[test]
    fn a_full_queue_drops_the_oldest_and_counts() {
        let stats = Arc::new(ProfilerStats::default());
        // Port 9 on loopback: nothing listens, every attempt fails fast.
        let mut cfg = PushConfig::new("http://127.0.0.1:9");
        cfg.queue_size = 2;
        cfg.max_retries = 0;
        cfg.min_backoff = Duration::from_secs(60);
        let mut p = Pusher::start(cfg, stats.clone()).unwrap();
        // Hold the queue lock's owner busy: push faster than it sends.
        for i in 0..10 {
            p.push(item(i));
        }
        assert!(stats.snapshot().push_queue_depth <= 2);
        p.shutdown(Duration::from_secs(5));
        let s = stats.snapshot();
        assert_eq!(s.push_sent, 0);
        assert_eq!(s.push_dropped, 10, "{s:?}");
        assert!(s.push_errors >= 1);
        assert_eq!(s.push_queue_depth, 0);
    }
}
