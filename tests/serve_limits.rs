//! `pcp-agent serve` under hostile or heavy use, from outside the process:
//! the thread count stays fixed however many connections arrive (extra
//! ones get 503 at once), silent clients get 408 at the request deadline,
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

#[test]
fn connections_beyond_the_pool_get_503_and_threads_stay_fixed() {
    let (serve, addr) = start_serve(
        "simple",
        &["--max-connections", "2", "--request-timeout", "2"],
    );
    let pid = serve.child.id();
    assert_eq!(get(addr, "/pmapi/context").unwrap().0, 200);
    let before = threads_of(pid);
    // 40 clients connect and send nothing.
    let mut idle: Vec<TcpStream> = (0..40)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let during = threads_of(pid);
    assert_eq!(during, before, "threads grew with connections");
    // Two are with workers, two queued; the rest were told 503 at once.
    let mut busy = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 503") {
                busy += 1;
            }
        }
    }
    assert!(busy >= 34, "only {busy} of 40 got 503");
    // The silent ones holding workers get 408 at the 2 s deadline, then the
    // queued ones too, and the server answers again.
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(15);
    loop {
        if let Ok((200, _)) = get(addr, "/pmapi/context") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "server never recovered:\n{}",
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut timed_out = 0;
    for s in &mut idle {
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = s.read(&mut buf) {
            if buf[..n].starts_with(b"HTTP/1.1 408") {
                timed_out += 1;
            }
        }
    }
    assert!(
        timed_out >= 2,
        "silent clients were not timed out ({timed_out})"
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
