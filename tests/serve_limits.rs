//! `pcp-agent serve` under hostile or heavy use, from outside the process:
//! idle and slow connections are parked (the thread count stays fixed
//! however many arrive, and other clients go on being served), silent
//! clients get 408 at the request deadline and slow heads at the head
//! deadline, connections beyond `--max-clients` get 503 at once,
//! malformed requests get clear 4xx answers, parallel clients are all
//! served, and nothing panics.

mod serve_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serve_util::*;

fn threads_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sends raw bytes and reads the answer (up to 5 s); returns the status.
fn raw_status(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Raises this test process's open-file limit to its hard limit, and
/// returns the limit in force.
fn raise_files() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct we pass.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Whether `s` has something to read (or was closed): non-blocking peek.
fn answered(s: &TcpStream) -> Option<Vec<u8>> {
    s.set_nonblocking(true).ok()?;
    let mut buf = [0u8; 64];
    let r = match (&*s).read(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(_) => Some(Vec::new()),
    };
    let _ = s.set_nonblocking(false);
    r
}

#[test]
fn idle_connections_are_parked_and_only_those_beyond_max_clients_get_503() {
    let (serve, addr) = start_serve(
        "simple",
        &[
            "--max-connections",
            "2",
            "--max-clients",
            "50",
            "--request-timeout",
            "2",
        ],
    );
    let pid = serve.child.id();
    assert_eq!(get(addr, "/pmapi/context").unwrap().0, 200);
    let before = threads_of(pid);
    // 40 clients connect and send nothing: parked, with no thread each;
    // a client that asks is answered meanwhile.
    let idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(threads_of(pid), before, "threads grew with connections");
    assert_eq!(get(addr, "/pmapi/context").unwrap().0, 200);
    assert!(
        idle.iter().all(|s| answered(s).is_none()),
        "an idle connection was answered before its deadline"
    );
    // Beyond 50 open connections, new ones are told 503 at once.
    let mut extra: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let mut busy = 0;
    for s in &mut extra {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 503") {
                busy += 1;
            }
        }
    }
    assert!((10..=20).contains(&busy), "{busy} of 20 got 503");
    drop(extra);
    // The silent ones get 408 at the 2 s request deadline.
    std::thread::sleep(Duration::from_millis(2500));
    let mut timed_out = 0;
    for s in &idle {
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = (&*s).read(&mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 408") {
                timed_out += 1;
            }
        }
    }
    assert_eq!(timed_out, 40, "silent clients were not timed out");
    assert_eq!(get(addr, "/pmapi/context").unwrap().0, 200);
    assert!(!serve.log().contains("panicked"), "{}", serve.log());
}

/// Half a request head: the request line and one header, no blank line.
const HALF_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\n";

#[test]
fn a_thousand_slow_heads_do_not_stop_other_clients() {
    // With serve's defaults (32 requests at once, 5 s for a head): 1,000
    // connections send half a request head and wait; cut at the head
    // deadline, each comes back at once and does it again. A normal
    // client's requests go on being answered meanwhile.
    const SLOW: usize = 1000;
    const RUN: Duration = Duration::from_secs(12);
    let files = raise_files();
    assert!(
        files > SLOW as u64 + 100,
        "this test needs {} open files, the limit is {files}",
        SLOW + 100
    );
    let (serve, addr) = start_serve("simple", &[]);
    let pid = serve.child.id();
    assert_eq!(get(addr, "/pmapi/context").unwrap().0, 200);
    let threads = threads_of(pid);
    let rss_before = rss_kib(pid);

    let slow = std::thread::spawn(move || {
        let open = || {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(HALF_HEAD).expect("write half a head");
            s
        };
        let mut conns: Vec<TcpStream> = (0..SLOW).map(|_| open()).collect();
        let parked_at = Instant::now();
        let (mut cut_408, mut refused_503, mut other) = (0, 0, 0);
        let started = Instant::now();
        while started.elapsed() < RUN {
            for c in conns.iter_mut() {
                if let Some(answer) = answered(c) {
                    if answer.starts_with(b"HTTP/1.1 408") {
                        cut_408 += 1;
                    } else if answer.starts_with(b"HTTP/1.1 503") {
                        refused_503 += 1;
                    } else {
                        other += 1;
                    }
                    *c = open();
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        (conns, parked_at, cut_408, refused_503, other)
    });

    // The normal client, after the slow ones are in: one request per
    // connection, as a scraper without keep-alive does.
    std::thread::sleep(Duration::from_millis(1500));
    let rss_parked = rss_kib(pid);
    let threads_parked = threads_of(pid);
    let mut latencies = Vec::new();
    let mut failures = Vec::new();
    let started = Instant::now();
    while started.elapsed() < RUN - Duration::from_millis(2000) {
        let t = Instant::now();
        match get(addr, "/pmapi/fetch?names=simple.numfetch") {
            Ok((200, _)) => latencies.push(t.elapsed()),
            other => failures.push(format!("{other:?}")),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (conns, _, cut_408, refused_503, other) = slow.join().unwrap();
    drop(conns);

    latencies.sort();
    assert!(
        failures.is_empty(),
        "the normal client failed {} times (and succeeded {} times); first failures: {:?}",
        failures.len(),
        latencies.len(),
        &failures[..failures.len().min(3)]
    );
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    eprintln!(
        "{SLOW} slow heads: the normal client got {} answers, 0 failures; latency \
         median {:?}, p99 {:?}, max {:?}; slow connections cut with 408: {cut_408}, \
         refused 503: {refused_503}; server threads {threads} -> {threads_parked}; \
         RSS {rss_before} KiB -> {rss_parked} KiB with {SLOW} parked ({:.0} bytes each)",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies.last().unwrap(),
        (rss_parked.saturating_sub(rss_before) * 1024) as f64 / SLOW as f64
    );
    assert!(latencies.len() >= 100, "only {} answers", latencies.len());
    assert_eq!(threads_parked, threads, "threads grew with connections");
    // Every slow connection was cut at the head deadline once at least
    // (5 s, twice in the run), none was refused, and none got anything
    // but 408.
    assert!(cut_408 >= SLOW, "{cut_408} of {SLOW} slow heads were cut");
    assert_eq!((refused_503, other), (0, 0));
    // Parked connections are cheap: well under 8 KiB each (the server
    // keeps 128 bytes and the bytes received for each).
    assert!(
        rss_parked.saturating_sub(rss_before) < 8 * SLOW as u64,
        "RSS grew from {rss_before} KiB to {rss_parked} KiB with {SLOW} parked connections"
    );
    assert!(!serve.log().contains("panicked"), "{}", serve.log());
}

#[test]
fn parallel_clients_are_all_served() {
    // More workers than clients: every request of these four clients can
    // be with a worker at once. A 503 (a stray connection from elsewhere
    // on the machine filling the queue) is retried as its Retry-After
    // asks; what must not happen is an answer with an agent's error (a
    // fetch refused because another was running).
    let (serve, addr) = start_serve("simple", &["--max-connections", "8"]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let (mut ok, mut retried) = (0, 0);
                for i in 0..50 {
                    let target = if i % 2 == 0 {
                        "/pmapi/fetch?names=simple.color,simple.numfetch"
                    } else {
                        "/metrics?names=simple"
                    };
                    for _ in 0..5 {
                        match get(addr, target) {
                            // Every value there: no agent reported busy.
                            Ok((200, body))
                                if body.contains("simple") && !body.contains("\"error\"") =>
                            {
                                ok += 1;
                                break;
                            }
                            Ok((503, _)) => {
                                retried += 1;
                                std::thread::sleep(Duration::from_millis(200));
                            }
                            other => {
                                eprintln!("{target}: {other:?}");
                                break;
                            }
                        }
                    }
                }
                (ok, retried)
            })
        })
        .collect();
    let (mut ok, mut retried) = (0, 0);
    for h in handles {
        let (o, r) = h.join().unwrap();
        ok += o;
        retried += r;
    }
    assert_eq!(ok, 200, "({retried} retried after 503)\n{}", serve.log());
}

#[test]
fn malformed_requests_get_clear_errors_and_nothing_panics() {
    let (serve, addr) = start_serve("simple", &["--request-timeout", "2"]);
    let long_names = vec!["simple.color"; 5000].join(",");
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (b"\x00\x01\x02\xff\r\n\r\n".to_vec(), 400, "request head is not valid UTF-8"),
        (b"GET\r\n\r\n".to_vec(), 400, "malformed request line"),
        (b"GET / HTTP/9.9\r\n\r\n".to_vec(), 505, "not supported"),
        (b"BREW /pot HTTP/1.1\r\n\r\n".to_vec(), 405, "not allowed"),
        (b"GET / HTTP/1.1\r\nbad header\r\n\r\n".to_vec(), 400, "malformed header"),
        (
            b"POST /pmapi/store?name=simple.numfetch HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n".to_vec(),
            413,
            "exceeds the limit",
        ),
        (
            b"POST /pmapi/store?name=simple.numfetch HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(),
            501,
            "chunked",
        ),
        (
            b"GET /pmapi/fetch?names=simple.color%G1 HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "bad percent escape",
        ),
        (
            b"GET /pmapi/fetch?names=%C3%28 HTTP/1.1\r\n\r\n".to_vec(),
            400,
            "does not decode to UTF-8",
        ),
        (
            format!("GET /pmapi/fetch?names={long_names} HTTP/1.1\r\n\r\n").into_bytes(),
            400,
            "too many items in names: 5000 given, the limit is 4096",
        ),
        (
            format!("GET /metrics?names={long_names} HTTP/1.1\r\n\r\n").into_bytes(),
            400,
            "too many items",
        ),
        (
            format!("GET /pmapi/fetch?names={} HTTP/1.1\r\n\r\n", "x".repeat(300_000)).into_bytes(),
            414,
            "request line longer than",
        ),
        (
            format!("GET / HTTP/1.1\r\n{}\r\n", "X-Filler: y\r\n".repeat(30_000)).into_bytes(),
            431,
            "request head longer than",
        ),
        (b"GET /pmapi/fetch HTTP/1.1\r\n\r\n".to_vec(), 400, "needs names="),
        (b"GET /pmapi/fetch?names=no.such,also.not HTTP/1.1\r\n\r\n".to_vec(), 200, "\"values\":[]"),
        (b"GET /pmapi/metric?names=no.such HTTP/1.1\r\n\r\n".to_vec(), 400, "Unknown metric name"),
        (b"GET /pmapi/indom?indom=garbage HTTP/1.1\r\n\r\n".to_vec(), 400, "failed to lookup indom garbage"),
        (b"GET /pmapi/fetch?pmids=garbage HTTP/1.1\r\n\r\n".to_vec(), 200, "\"values\":[]"),
        (b"GET /pmapi/1x/fetch?names=a HTTP/1.1\r\n\r\n".to_vec(), 400, "unknown servlet"),
        (b"GET /pmapi/fetch?names=a&context=-1 HTTP/1.1\r\n\r\n".to_vec(), 400, "invalid context identifier"),
        (b"GET /pmapi/indom?name=simple.color&match=regex&iname=^r.d$ HTTP/1.1\r\n\r\n".to_vec(), 200, "\"name\":\"red\""),
        (b"GET /pmapi/indom?name=simple.color&match=regex&iname=(re HTTP/1.1\r\n\r\n".to_vec(), 400, "(re - invalid regular expression in 'iname': unclosed group"),
        (b"GET /pmapi/indom?name=simple.color&match=regex&iname=a{1000}{1000}{1000} HTTP/1.1\r\n\r\n".to_vec(), 400, "invalid regular expression"),
        (b"GET /pmapi/indom?name=simple.color&match=perl&iname=red HTTP/1.1\r\n\r\n".to_vec(), 400, "perl - invalid 'match' parameter value"),
        (b"GET /metrics?names=no.such HTTP/1.1\r\n\r\n".to_vec(), 400, "Unknown metric name"),
        (b"GET /nope HTTP/1.1\r\n\r\n".to_vec(), 404, "no such page"),
    ];
    for (bytes, want, text) in &cases {
        let (status, answer) = raw_status(addr, bytes);
        let shown: String = String::from_utf8_lossy(&bytes[..bytes.len().min(60)]).into_owned();
        assert_eq!(status, *want, "{shown:?}: {answer}");
        assert!(
            answer.contains(text),
            "{shown:?}: wanted {text:?} in {answer}"
        );
    }
    // A client that sends half a request and stalls gets 408.
    let (status, _) = {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        (
            out.split(' ')
                .nth(1)
                .and_then(|x| x.parse::<u16>().ok())
                .unwrap_or(0),
            out,
        )
    };
    assert_eq!(status, 408);
    assert_eq!(get(addr, "/pmapi/context").unwrap().0, 200);
    assert!(!serve.log().contains("panicked"), "{}", serve.log());
}
