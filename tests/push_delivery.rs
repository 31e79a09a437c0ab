//! Exactly-once delivery of `pcp-agent push` across a receiver outage and
//! a SIGKILL, counted at the receiver. A real Prometheus (as in
//! `push_prometheus.rs`) stores a sample sent twice only once, so it
//! cannot show duplicates; this receiver, in the test, decodes every
//! request (snappy, protobuf), checks the spec's headers and counts each
//! sample it acknowledged. While "down" it answers 503 (the pusher must
//! retry, with backoff), and the pusher is killed with SIGKILL during that
//! outage and started again on the same queue: every sample either pusher
//! printed arrives once, none twice, none lost.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcp_agent::push::print_line;
use pcp_agent::push::proto::{TimeSeries, WriteRequest};
use prost::Message;

/// The receiver's record: each acknowledged sample (as `--print` writes
/// it) and how often it arrived; requests refused while down; header
/// faults seen.
#[derive(Default)]
struct Received {
    counts: Mutex<BTreeMap<String, u32>>,
    refused: AtomicU64,
    faults: Mutex<Vec<String>>,
}

/// A request's header lines (lower-cased names) and body.
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request; `None` when the client closed the
/// connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    if !line.starts_with("POST ") {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")?
        .1
        .parse()
        .ok()?;
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request { headers, body })
}

fn serve_connection(stream: TcpStream, down: &AtomicBool, rec: &Received) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(Request { headers, body }) = read_request(&mut reader) {
        if down.load(Ordering::SeqCst) {
            rec.refused.fetch_add(1, Ordering::SeqCst);
            let _ = writer.write_all(
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            return;
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        for (name, want) in [
            ("content-encoding", "snappy"),
            ("content-type", "application/x-protobuf"),
            ("x-prometheus-remote-write-version", "0.1.0"),
        ] {
            if header(name) != Some(want) {
                rec.faults
                    .lock()
                    .unwrap()
                    .push(format!("{name}: {:?}", header(name)));
            }
        }
        let request = snap::raw::Decoder::new()
            .decompress_vec(&body)
            .ok()
            .and_then(|raw| WriteRequest::decode(raw.as_slice()).ok());
        let Some(request) = request else {
            rec.faults.lock().unwrap().push("undecodable body".into());
            let _ = writer.write_all(
                b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
            return;
        };
        {
            let mut counts = rec.counts.lock().unwrap();
            for ts in &request.timeseries {
                for s in &ts.samples {
                    let one = TimeSeries {
                        labels: ts.labels.clone(),
                        samples: vec![s.clone()],
                    };
                    *counts.entry(print_line(&one)).or_default() += 1;
                }
            }
        }
        if writer
            .write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// A receiver on a free 127.0.0.1 port; its URL.
fn receiver(down: Arc<AtomicBool>, rec: Arc<Received>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let (down, rec) = (Arc::clone(&down), Arc::clone(&rec));
            std::thread::spawn(move || serve_connection(stream, &down, &rec));
        }
    });
    url
}

/// A running pusher and the samples it printed.
struct Pusher {
    child: Child,
    printed: Arc<Mutex<Vec<String>>>,
}

impl Pusher {
    fn start(url: &str, state: &Path) -> Pusher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
            .args(["--agents", "simple", "--state-dir"])
            .arg(state)
            .args(["push", "--remote-write", url, "--interval", "1s", "--print"])
            .args(["--external-label", "test=push_delivery", "simple"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start pcp-agent push");
        let out = child.stdout.take().unwrap();
        let printed: Arc<Mutex<Vec<String>>> = Arc::default();
        let p = Arc::clone(&printed);
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                p.lock().unwrap().push(line);
            }
        });
        Pusher { child, printed }
    }

    fn kill9(&mut self) {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
        // Let the reader take what the pipe still holds.
        std::thread::sleep(Duration::from_millis(200));
    }

    fn lines(&self) -> Vec<String> {
        self.printed.lock().unwrap().clone()
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The timestamp (ms) at the end of a printed sample line.
fn timestamp(line: &str) -> i64 {
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn queued_samples_arrive_once_through_an_outage_and_a_kill() {
    let down = Arc::new(AtomicBool::new(false));
    let rec = Arc::new(Received::default());
    let url = receiver(Arc::clone(&down), Arc::clone(&rec));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");

    // Up: batches are acknowledged as they come.
    let mut first = Pusher::start(&url, &state);
    std::thread::sleep(Duration::from_secs(4));
    // Down: 503 to everything; halfway through, SIGKILL and a restart on
    // the same queue.
    down.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(4));
    first.kill9();
    let first_lines = first.lines();
    let mut second = Pusher::start(&url, &state);
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        rec.refused.load(Ordering::SeqCst) > 0,
        "the pushers never tried during the outage"
    );
    // Up again: everything printed so far must arrive.
    down.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(2));
    let mut want = first_lines.clone();
    want.extend(second.lines());
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let counts = rec.counts.lock().unwrap();
        if want.iter().all(|l| counts.contains_key(l)) {
            break;
        }
        drop(counts);
        std::thread::sleep(Duration::from_millis(200));
    }
    second.kill9();
    let counts = rec.counts.lock().unwrap().clone();
    let faults = rec.faults.lock().unwrap().clone();
    assert!(faults.is_empty(), "header or body faults: {faults:?}");
    assert!(want.len() >= 40, "{} samples printed", want.len());

    // None lost: every printed sample was acknowledged once.
    let missing: Vec<&String> = want.iter().filter(|l| !counts.contains_key(*l)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} printed samples never arrived, e.g. {:?}",
        missing.len(),
        want.len(),
        missing.first()
    );
    // None twice.
    let twice: Vec<(&String, &u32)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} samples arrived more than once, e.g. {:?}",
        twice.len(),
        twice.first()
    );
    // Nothing else, but for one batch the killed pusher may have queued
    // (synced) and not yet printed, and what the second printed after the
    // snapshot above.
    let last_first = first_lines.iter().map(|l| timestamp(l)).max().unwrap();
    let first_second = second.lines().iter().map(|l| timestamp(l)).min().unwrap();
    let all_printed: std::collections::BTreeSet<String> =
        first_lines.into_iter().chain(second.lines()).collect();
    let unprinted: std::collections::BTreeSet<i64> = counts
        .keys()
        .filter(|l| !all_printed.contains(*l))
        .map(|l| timestamp(l))
        .collect();
    assert!(
        unprinted
            .iter()
            .all(|t| *t > last_first && *t < first_second),
        "samples never printed arrived at {unprinted:?}"
    );
    assert!(unprinted.len() <= 1, "unprinted batches at {unprinted:?}");
    eprintln!(
        "{} samples printed, {} acknowledged once each, {} requests refused during the outage",
        want.len(),
        counts.len(),
        rec.refused.load(Ordering::SeqCst)
    );
}
