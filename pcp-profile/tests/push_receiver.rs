//! The Pyroscope push path against a local HTTP receiver that checks each
//! request as Pyroscope's `/ingest` API documents it (POST, the query
//! parameters, a multipart body with the `profile` and
//! `sample_type_config` parts) and answers 503 to the first, so the retry
//! is exercised. The received pprof must satisfy Go's `go tool pprof`.
//! No Pyroscope server can be installed here (no package ships one).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use pcp_profile::model::{Frame, Function, MappingInfo};
use pcp_profile::push::{app_name, PushItem, Pusher};
use pcp_profile::{pprof, Profile, ProfileKind, ProfilerStats, PushConfig};

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub parts: HashMap<String, Vec<u8>>,
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn split_multipart(ct: &str, body: &[u8]) -> HashMap<String, Vec<u8>> {
    let boundary = ct
        .split("boundary=")
        .nth(1)
        .expect("multipart boundary")
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut parts = HashMap::new();
    let text = body;
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    };
    let mut pos = find(text, delim.as_bytes(), 0).expect("first boundary");
    loop {
        pos += delim.len();
        if text[pos..].starts_with(b"--") {
            break;
        }
        pos += 2; // CRLF
        let head_end = find(text, b"\r\n\r\n", pos).expect("part head");
        let head = String::from_utf8_lossy(&text[pos..head_end]).into_owned();
        let name = head
            .split("name=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("part name")
            .to_string();
        let data_start = head_end + 4;
        let next =
            find(text, format!("\r\n{delim}").as_bytes(), data_start).expect("next boundary");
        parts.insert(name, text[data_start..next].to_vec());
        pos = next + 2;
    }
    parts
}

/// Serves on a loopback port: answers the first request 503, the rest
/// 200, recording each.
fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().enumerate() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut it = line.split_whitespace();
            let method = it.next().unwrap_or("").to_string();
            let target = it.next().unwrap_or("").to_string();
            let mut headers = HashMap::new();
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                }
            }
            let len: usize = headers["content-length"].parse().unwrap();
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let (path, q) = target.split_once('?').unwrap_or((&target, ""));
            let query = q
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), decode(v)))
                .collect();
            let ct = headers.get("content-type").cloned().unwrap_or_default();
            g.lock().unwrap().push(Received {
                method,
                path: path.to_string(),
                query,
                parts: split_multipart(&ct, &body),
                content_type: ct,
            });
            let status = if n == 0 {
                "503 Service Unavailable"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (format!("http://{addr}"), got)
}

fn profile() -> Profile {
    let mapping = Some(Arc::new(MappingInfo {
        start: 0x400000,
        limit: 0x500000,
        offset: 0,
        filename: "/usr/bin/app".into(),
        build_id: "0123abcd".into(),
    }));
    let f = |name: &str, addr: u64| Frame {
        address: addr,
        function: Arc::new(Function {
            name: name.into(),
            system_name: name.into(),
            filename: String::new(),
        }),
        line: 0,
        mapping: mapping.clone(),
    };
    let mut p = Profile::new(
        ProfileKind::Cpu,
        "app",
        vec![
            ("service_name".into(), "app".into()),
            ("host".into(), "h1".into()),
        ],
        SystemTime::now() - Duration::from_secs(15),
        Duration::from_secs(15),
        1_000_000_000 / 97,
    );
    p.add(
        &[f("app::hot", 0x401000), f("main", 0x402000)],
        42,
        &Arc::from("app"),
        77,
    );
    p.add(&[f("main", 0x402010)], 42, &Arc::from("app"), 3);
    p
}

#[test]
fn push_follows_the_ingest_api_and_retries() {
    if !pcp_core_require_go() {
        return;
    }
    let (url, got) = receiver();
    let stats = Arc::new(ProfilerStats::default());
    let mut cfg = PushConfig::new(url);
    cfg.min_backoff = Duration::from_millis(50);
    cfg.timeout = Duration::from_secs(5);
    let mut pusher = Pusher::start(cfg, stats.clone()).unwrap();
    let p = profile();
    let item = PushItem {
        name: app_name(&p.service_name, &p.labels),
        from: 1000,
        until: 1015,
        sample_rate: 97,
        kind: p.kind,
        pprof: pprof::encode_gzip(&p),
    };
    pusher.push(item.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats.snapshot().push_sent < 1 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    pusher.shutdown(Duration::from_secs(1));
    let s = stats.snapshot();
    assert_eq!(
        (s.push_sent, s.push_errors, s.push_dropped),
        (1, 1, 0),
        "{s:?}"
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one refused, one retried");
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/ingest");
        assert_eq!(r.query["name"], "app{host=h1}");
        assert_eq!(r.query["from"], "1000");
        assert_eq!(r.query["until"], "1015");
        assert_eq!(r.query["sampleRate"], "97");
        assert_eq!(r.query["format"], "pprof");
        assert_eq!(r.query["spyName"], "ebpfspy");
        assert!(r.content_type.starts_with("multipart/form-data; boundary="));
        let cfg: serde_json::Value =
            serde_json::from_slice(&r.parts["sample_type_config"]).unwrap();
        assert_eq!(cfg["cpu"]["units"], "samples");
        assert_eq!(r.parts["profile"], item.pprof);
    }
    // What arrived is a pprof file Go's pprof reads without a word.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("received.pb.gz");
    std::fs::write(&f, &got[1].parts["profile"]).unwrap();
    let out = std::process::Command::new("go")
        .args(["tool", "pprof", "-raw"])
        .arg(&f)
        .env("HOME", dir.path())
        .output()
        .unwrap();
    let (raw, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success() && err.trim().is_empty(), "{err}");
    assert!(raw.contains("app::hot"), "{raw}");
    assert!(raw.contains("0123abcd"), "{raw}");
}

fn pcp_core_require_go() -> bool {
    pcp_core::testing::require(
        "go",
        pcp_core::testing::have_program("go"),
        "Go's pprof is not installed (golang-go; scripts/setup-systems.sh installs it)",
    )
}
