//! Real Prometheus (Debian's `prometheus` 2.x) scrapes `pcp-agent serve`:
//! a private Prometheus with its own config, data directory and port
//! scrapes our `/metrics` every second; after two scrapes its HTTP API
//! answers a gauge (`kernel_all_load`, or `simple_color` without the linux
//! agent) and the `rate()` of a counter.

mod serve_util;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_util::*;

fn start_prometheus(target: SocketAddr) -> (Proc, SocketAddr) {
    let dir = tempfile::Builder::new()
        .prefix("pcp-agent-prom")
        .tempdir()
        .expect("scratch dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: pcp-agent\n    metrics_path: /metrics\n    \
             static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let log = dir.path().join("prometheus.log");
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start prometheus");
    let p = Proc { child, log, dir };
    assert!(
        wait_port(addr, Duration::from_secs(30)),
        "prometheus did not listen:\n{}",
        p.log()
    );
    (p, addr)
}

fn query(prom: SocketAddr, expr: &str) -> Value {
    let mut enc = String::new();
    for b in expr.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    let (status, j) = get_json(prom, &format!("/api/v1/query?query={enc}"));
    assert_eq!(status, 200, "query {expr}: {j}");
    assert_eq!(j["status"], "success", "query {expr}: {j}");
    j["data"]["result"].clone()
}

#[test]
fn prometheus_scrapes_serve_and_answers_gauges_and_rates() {
    if !pcp_core::testing::require(
        "prometheus",
        pcp_core::testing::have_program("prometheus"),
        "Debian's prometheus server is not installed (scripts/setup-systems.sh)",
    ) {
        return;
    }
    let m = our_metrics();
    let (serve, serve_addr) = start_serve(m.agents, &[]);
    let (prom, prom_addr) = start_prometheus(serve_addr);
    let gauge = m.indom_gauge.replace('.', "_");
    let counter = format!("{}_total", m.counter.replace('.', "_"));

    // Two scrapes: the target's `up` series holds two samples.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = query(prom_addr, "count_over_time(up{job=\"pcp-agent\"}[5m])");
        let n = r[0]["value"][1]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
        if n >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape twice in 60 s: {r}\nprometheus log:\n{}\nserve log:\n{}",
            prom.log(),
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let up = query(prom_addr, "up{job=\"pcp-agent\"}");
    assert_eq!(up[0]["value"][1], "1", "target not up: {up}");
    let (_, targets) = get_json(prom_addr, "/api/v1/targets");
    let t = &targets["data"]["activeTargets"][0];
    assert_eq!(t["health"], "up", "{t}");
    assert_eq!(t["lastError"], "", "{t}");

    // The gauge: one series per instance, named by instname.
    let g = query(prom_addr, &gauge);
    let series = g.as_array().expect("vector");
    assert!(series.len() >= 3, "{gauge}: {g}");
    for s in series {
        assert!(s["metric"]["instname"].is_string(), "{s}");
        assert!(s["metric"]["instid"].is_string(), "{s}");
        assert_eq!(s["metric"]["job"], "pcp-agent");
        let v: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        assert!(v.is_finite(), "{s}");
    }

    // The counter's rate over the scrapes so far.
    let r = query(prom_addr, &format!("rate({counter}[30s])"));
    let rates = r.as_array().expect("vector");
    assert_eq!(rates.len(), 1, "rate({counter}): {r}");
    let rate: f64 = rates[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!(rate.is_finite() && rate >= 0.0, "rate({counter}) = {rate}");
    // Prometheus kept the metadata: HELP and TYPE made it through.
    let (_, meta) = get_json(prom_addr, &format!("/api/v1/metadata?metric={counter}"));
    assert_eq!(meta["data"][&counter][0]["type"], "counter", "{meta}");
    eprintln!(
        "prometheus scraped {} series of {gauge}; rate({counter}[30s]) = {rate}",
        series.len()
    );
    drop(prom);
    drop(serve);
}
