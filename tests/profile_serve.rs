//! `pcp-agent serve --profile` end to end: the profiler runs on C and Rust
//! workloads; `/debug/pprof/profile` (with `service_name=` and `pid=`)
//! gives files whose top entry in `go tool pprof` is the hot function;
//! `/profiles` counts what the profiles hold; the flame-graph page,
//! rendered by headless Chromium, shows the hot function (a screenshot
//! goes to docs/profile-flamegraph.png with
//! `PCP_AGENT_UPDATE_SCREENSHOT=1`, see scripts/profile-screenshot.sh);
//! the diff view of two intervals renders; and every interval is pushed
//! to a local receiver standing in for Pyroscope.

mod profile_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use profile_support::*;

/// Request lines and bodies the receiver got.
type Pushed = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Records the request line and body of each request; answers 200.
fn receiver() -> (SocketAddr, Pushed) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let got: Pushed = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                r.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            g.lock().unwrap().push((line.trim().to_string(), body));
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (addr, got)
}

fn json(addr: SocketAddr, target: &str) -> serde_json::Value {
    let (st, body) = http_get(addr, target);
    assert_eq!(st, 200, "{target}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn serve_profile_pages_pprof_flame_graph_diff_and_push() {
    if !requirements()
        || !pcp_core::testing::require(
            "chromium",
            pcp_core::testing::have_program("chromium"),
            "Debian's chromium is not installed (scripts/serve-setup.sh installs it)",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let workloads = build_some(dir.path(), &["c", "rustv0"]);
    let running = Running::start(&workloads);
    let (c_pid, rust_pid) = (running.pid(0), running.pid(1));
    let (push_addr, pushed) = receiver();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = dir.path().join("serve.log");
    let mut serve = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args([
            "--agents",
            "simple,bpftrace",
            "serve",
            "--listen",
            &addr.to_string(),
        ])
        .args(["--profile", "--collect-interval", "1s", "--off-cpu"])
        .args(["--targets", &format!("c=pid:{c_pid}")])
        .args(["--targets", &format!("rust=pid:{rust_pid}")])
        .args(["--pyroscope-url", &format!("http://{push_addr}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _guard = Kill(&mut serve);
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    // Wait for three CPU intervals of each group.
    let deadline = Instant::now() + Duration::from_secs(90);
    let listing = loop {
        assert!(
            Instant::now() < deadline,
            "no profiles in time:\n{}",
            log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        let (st, body) = http_get(addr, "/profiles");
        if st != 200 {
            continue;
        }
        let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let count = |svc: &str| {
            j["profiles"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["service_name"] == svc && p["type"] == "cpu")
                .count()
        };
        if count("c") >= 3 && count("rust") >= 3 {
            break j;
        }
    };
    // Listed totals are the profiler's per-target counts.
    let profiles = listing["profiles"].as_array().unwrap();
    for svc in ["c", "rust"] {
        let listed: i64 = profiles
            .iter()
            .filter(|p| p["service_name"] == svc && p["type"] == "cpu")
            .map(|p| p["total"].as_i64().unwrap())
            .sum();
        assert_eq!(
            listing["stats"]["targets"][svc]["samples"].as_i64(),
            Some(listed),
            "{listing:#}"
        );
    }
    assert_eq!(listing["stats"]["lost_samples"], 0, "{listing:#}");

    // /debug/pprof/profile, by service and by pid.
    for (target, hot) in [
        (
            "/debug/pprof/profile?seconds=120&service_name=c".to_string(),
            "hot_c_spin",
        ),
        (
            format!("/debug/pprof/profile?seconds=120&pid={rust_pid}"),
            "hot::burner::spin_the_cpu",
        ),
    ] {
        let (st, body) = http_get(addr, &target);
        assert_eq!(st, 200, "{target}: {}", String::from_utf8_lossy(&body));
        let f = save(dir.path(), "window.pb.gz", &body);
        let (top, err, ok) = pprof(&["-top", "-symbolize=none"], &[&f]);
        assert!(ok && err.trim().is_empty(), "{err}");
        assert_eq!(top_entry(&top).as_deref(), Some(hot), "{target}:\n{top}");
    }
    let (st, _) = http_get(addr, "/debug/pprof/profile?seconds=120&pid=1");
    assert_eq!(st, 404, "pid 1 is not a target");
    let (st, _) = http_get(addr, "/debug/pprof/profile?seconds=abc");
    assert_eq!(st, 400);
    let (st, body) = http_get(
        addr,
        "/debug/pprof/profile?seconds=120&type=off_cpu&service_name=c",
    );
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let f = save(dir.path(), "off.pb.gz", &body);
    let (raw, err, ok) = pprof(&["-raw"], &[&f]);
    assert!(ok && err.trim().is_empty(), "{err}");
    assert!(raw.contains("off_cpu/nanoseconds"), "{raw}");

    // The flame-graph page, as Chromium renders it.
    let page = format!("http://{addr}/profiles/flamegraph?service_name=rust&seconds=300");
    let dom = chromium(&["--dump-dom".to_string()], &page, Duration::from_secs(120)).unwrap();
    assert!(dom.contains("pcp-agent profiles"), "{dom}");
    assert!(
        dom.contains("hot::burner::spin_the_cpu"),
        "the hot function is not on the page:\n{dom}"
    );
    let shot: PathBuf = if std::env::var("PCP_AGENT_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/profile-flamegraph.png")
    } else {
        dir.path().join("profile-flamegraph.png")
    };
    chromium(
        &[
            "--window-size=1200,900".to_string(),
            format!("--screenshot={}", shot.display()),
        ],
        &page,
        Duration::from_secs(120),
    )
    .unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000);

    // The diff view of two intervals of one group.
    let ids: Vec<u64> = profiles
        .iter()
        .filter(|p| p["service_name"] == "c" && p["type"] == "cpu")
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    let (st, body) = http_get(
        addr,
        &format!("/profiles/flamegraph?base={}&compare={}", ids[0], ids[1]),
    );
    let body = String::from_utf8_lossy(&body);
    assert_eq!(st, 200, "{body}");
    assert!(
        body.contains("diff: c cpu") && body.contains("<svg"),
        "{body}"
    );
    let (st, body) = http_get(addr, &format!("/profiles/folded?id={}", ids[0]));
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&body).contains("hot_c_spin "));
    let j = json(addr, "/profiles");
    assert!(j["stats"]["intervals"].as_u64().unwrap() >= 3);

    // The profiler's counters as the bpftrace agent's metrics.
    let (st, body) = http_get(
        addr,
        "/metrics?names=bpftrace.profiler.samples,bpftrace.profiler.intervals,bpftrace.profiler.running",
    );
    let text = String::from_utf8_lossy(&body);
    assert_eq!(st, 200, "{text}");
    for svc in ["c", "rust"] {
        let line = text
            .lines()
            .find(|l| {
                l.starts_with("bpftrace_profiler_samples_total{")
                    && l.contains(&format!("instname=\"{svc}\""))
            })
            .unwrap_or_else(|| panic!("no samples for {svc}:\n{text}"));
        let v: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(v > 0.0, "{line}");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("bpftrace_profiler_running") && l.ends_with(" 1")),
        "{text}"
    );

    // Every profile was pushed to the stand-in for Pyroscope.
    let deadline = Instant::now() + Duration::from_secs(30);
    while j["stats"]["push_sent"].as_u64().unwrap_or(0) > pushed.lock().unwrap().len() as u64
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = pushed.lock().unwrap().clone();
    assert!(got.len() >= 4, "pushed: {}", got.len());
    let cpu_c = got
        .iter()
        .find(|(l, _)| l.starts_with("POST /ingest?name=c%7B") && l.contains("format=pprof"))
        .expect("a push for group c");
    assert!(
        cpu_c.1.windows(4).any(|w| w == b"\x1f\x8b\x08\x00"),
        "no gzip body"
    );
    drop(running);
}
