//! Sending queued requests to a remote-write receiver, oldest first, as
//! the remote-write 1.0 spec asks: a POST of the snappy-compressed
//! WriteRequest with its headers; 2xx is delivered; 5xx and 429 are
//! retried with exponential backoff (429's `Retry-After` honoured) until
//! delivered; any other 4xx means the receiver will never take the
//! request: it is dropped (counted as failed) and the next one goes.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::agent::PushStats;
use super::wal::{Queue, Record};

/// First wait before retrying a request.
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between retries (Prometheus's default too).
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Deadline of one request (Prometheus's `remote_timeout` default).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What one attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Delivered (2xx).
    Delivered,
    /// Try again (5xx, 429, no connection), after this long if the
    /// receiver said.
    Retry(Option<Duration>, String),
    /// The receiver refused it for good (4xx but 429).
    Refused(u16, String),
}

/// Posts one request body.
pub fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Attempt {
    let compressed = match snap::raw::Encoder::new().compress_vec(body) {
        Ok(c) => c,
        Err(e) => return Attempt::Refused(0, format!("snappy: {e}")),
    };
    let r = agent
        .post(url)
        .timeout(REQUEST_TIMEOUT)
        .set("Content-Encoding", "snappy")
        .set("Content-Type", "application/x-protobuf")
        .set("X-Prometheus-Remote-Write-Version", "0.1.0")
        .set(
            "User-Agent",
            concat!("pcp-agent/", env!("CARGO_PKG_VERSION")),
        )
        .send_bytes(&compressed);
    match r {
        Ok(_) => Attempt::Delivered,
        Err(ureq::Error::Status(code, resp)) => {
            let retry_after = resp
                .header("Retry-After")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = resp.into_string().unwrap_or_default();
            let text = format!(
                "HTTP {code}: {}",
                text.trim().chars().take(200).collect::<String>()
            );
            if code >= 500 || code == 429 {
                Attempt::Retry(retry_after, text)
            } else {
                Attempt::Refused(code, text)
            }
        }
        Err(ureq::Error::Transport(t)) => Attempt::Retry(None, t.to_string()),
    }
}

/// Sends everything the queue holds, as it comes, until the queue is
/// stopped; a request being retried when the queue stops stays queued.
pub fn run(queue: Arc<Queue>, url: String, stats: Arc<PushStats>, root: &str) {
    let agent = ureq::AgentBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .max_idle_connections_per_host(2)
        .build();
    let mut logged: Option<String> = None;
    loop {
        let rec: Record = match queue.next(Duration::from_millis(500)) {
            Ok(Some(r)) => r,
            Ok(None) if stats.stopping.load(Ordering::Acquire) => return,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("{root}: {e}");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let mut backoff = MIN_BACKOFF;
        loop {
            match post(&agent, &url, &rec.body) {
                Attempt::Delivered => {
                    queue.ack(&rec);
                    stats.sent.fetch_add(rec.samples as u64, Ordering::Relaxed);
                    stats.mark_success();
                    if logged.take().is_some() {
                        eprintln!("{root}: {url}: delivering again");
                    }
                    break;
                }
                Attempt::Refused(code, text) => {
                    // Never retried: the receiver will not take it.
                    eprintln!(
                        "{root}: {url} refused a request of {} samples ({code}): {text}",
                        rec.samples
                    );
                    queue.ack(&rec);
                    stats
                        .failed
                        .fetch_add(rec.samples as u64, Ordering::Relaxed);
                    break;
                }
                Attempt::Retry(after, text) => {
                    if logged.as_deref() != Some(text.as_str()) {
                        eprintln!("{root}: {url}: {text}; retrying with backoff");
                        logged = Some(text);
                    }
                    stats
                        .retried
                        .fetch_add(rec.samples as u64, Ordering::Relaxed);
                    let wait = after.unwrap_or(backoff).min(Duration::from_secs(60));
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if stats.stopping.load(Ordering::Acquire) {
                            return;
                        }
                        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A receiver answering each request with the next status of `codes`
    /// (then 204), recording the bodies.
    fn receiver(codes: Vec<u16>) -> (String, Arc<parking_lot::Mutex<Vec<Vec<u8>>>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api/v1/write", l.local_addr().unwrap());
        let got: Arc<parking_lot::Mutex<Vec<Vec<u8>>>> = Arc::default();
        let g = Arc::clone(&got);
        std::thread::spawn(move || {
            let mut codes = codes.into_iter();
            for mut c in l.incoming().flatten() {
                let mut buf = Vec::new();
                let mut b = [0u8; 4096];
                let body = loop {
                    let n = c.read(&mut b).unwrap_or(0);
                    if n == 0 {
                        break None;
                    }
                    buf.extend_from_slice(&b[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                        assert!(head.contains("content-encoding: snappy"), "{head}");
                        assert!(head.contains("content-type: application/x-protobuf"));
                        assert!(head.contains("x-prometheus-remote-write-version: 0.1.0"));
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length: "))
                            .unwrap()
                            .trim()
                            .parse()
                            .unwrap();
                        while buf.len() < i + 4 + len {
                            let n = c.read(&mut b).unwrap();
                            buf.extend_from_slice(&b[..n]);
                        }
                        break Some(buf[i + 4..i + 4 + len].to_vec());
                    }
                };
                let Some(body) = body else { continue };
                let code = codes.next().unwrap_or(204);
                if code == 204 {
                    g.lock()
                        .push(snap::raw::Decoder::new().decompress_vec(&body).unwrap());
                }
                let extra = if code == 429 {
                    "Retry-After: 0\r\n"
                } else {
                    ""
                };
                let _ = write!(
                    c,
                    "HTTP/1.1 {code} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        (url, got)
    }

    #[test]
    fn retries_5xx_and_429_but_not_4xx() {
        let (url, got) = receiver(vec![503, 429, 500, 204, 400, 204]);
        let d = tempfile::tempdir().unwrap();
        let q = Arc::new(Queue::open(d.path(), 1 << 30).unwrap());
        q.append(3, b"first").unwrap();
        q.append(5, b"refused").unwrap();
        q.append(7, b"third").unwrap();
        let stats = Arc::new(PushStats::default());
        let (q2, s2) = (Arc::clone(&q), Arc::clone(&stats));
        let t = std::thread::spawn(move || run(q2, url, s2, "test"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while q.depth().0 > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        stats.stopping.store(true, Ordering::Release);
        q.stop();
        t.join().unwrap();
        assert_eq!(*got.lock(), [b"first".to_vec(), b"third".to_vec()]);
        assert_eq!(stats.sent.load(Ordering::Relaxed), 10);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 5);
        assert_eq!(stats.retried.load(Ordering::Relaxed), 9);
    }
}
