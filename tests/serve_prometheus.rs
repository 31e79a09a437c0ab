//! Real Prometheus (Debian's `prometheus` 2.x) scrapes `pcp-agent serve`:
//! a private Prometheus with its own config, data directory and port
//! scrapes our whole `/metrics` (the linux agent's metrics and more) every
//! second in both formats: job `pcp-agent` as Prometheus asks by default
//! (OpenMetrics first in its `Accept` header, so OpenMetrics text), job
//! `pcp-agent-text` with `format=prometheus` (Prometheus text 0.0.4).
//! After two successful scrapes of each, its HTTP API answers, for each
//! job, the gauge `kernel_all_load` (one series per instance) and the
//! `rate()` of the counters `kernel_all_cpu_user_total` and
//! `kernel_all_pswitch_total`, and its metadata shows the OpenMetrics
//! unit of a byte counter for the OpenMetrics job only.
//!
//! Robust on a busy machine: every wait is bounded but generous, requests
//! to Prometheus are retried while it starts (refused connections, 503s),
//! and the checks read the samples over the last minutes
//! (`last_over_time`, `rate(...[5m])`) so one slow scrape in between does
//! not hide the series.

mod serve_util;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_util::*;

/// How long any one wait may take: generous, for a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(120);

fn start_prometheus(target: SocketAddr) -> (Proc, SocketAddr) {
    // It listens before its storage is open (answering 503 meanwhile):
    // ready means /-/ready says 200.
    start_on_free_port(
        "prometheus",
        PATIENCE,
        |addr| {
            let dir = tempfile::Builder::new()
                .prefix("pcp-agent-prom")
                .tempdir()
                .expect("scratch dir");
            let config = dir.path().join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  \
                     evaluation_interval: 1s\n\
                     scrape_configs:\n  - job_name: pcp-agent\n    metrics_path: /metrics\n    \
                     static_configs:\n      - targets: ['{target}']\n  \
                     - job_name: pcp-agent-text\n    metrics_path: /metrics\n    \
                     params:\n      format: [prometheus]\n    \
                     static_configs:\n      - targets: ['{target}']\n"
                ),
            )
            .unwrap();
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
            Proc { child, log, dir }
        },
        |addr| matches!(get(addr, "/-/ready"), Ok((200, _))),
    )
}

fn encode(expr: &str) -> String {
    let mut enc = String::new();
    for b in expr.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~".contains(&b) {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    enc
}

/// An instant query's result vector (retried while Prometheus is busy).
fn query(prom: SocketAddr, expr: &str) -> Value {
    let (status, j) = get_json_patiently(
        prom,
        &format!("/api/v1/query?query={}", encode(expr)),
        PATIENCE,
    );
    assert_eq!(status, 200, "query {expr}: {j}");
    assert_eq!(j["status"], "success", "query {expr}: {j}");
    j["data"]["result"].clone()
}

/// The single number of a one-series query, 0 if there is none yet.
fn scalar(r: &Value) -> f64 {
    r[0]["value"][1]
        .as_str()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn targets(prom: SocketAddr) -> Value {
    get_json_patiently(prom, "/api/v1/targets", PATIENCE).1["data"]["activeTargets"].clone()
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
    if !pcp_core::testing::require(
        "linux agent",
        linux_agent_available(),
        "our linux agent does not load here (it serves kernel.all.load)",
    ) {
        return;
    }
    let (serve, serve_addr) = start_serve("linux,simple", &[]);
    let (prom, prom_addr) = start_prometheus(serve_addr);
    for job in ["pcp-agent", "pcp-agent-text"] {
        check_job(prom_addr, job, &prom, &serve);
    }
    // The OpenMetrics job's byte counter carries its unit (a UNIT line),
    // under its family name; Prometheus text has no units.
    let unit = |job: &str, metric: &str| {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let (_, meta) = get_json_patiently(
                prom_addr,
                &format!(
                    "/api/v1/targets/metadata?metric={metric}&match_target={}",
                    encode(&format!("{{job=\"{job}\"}}"))
                ),
                PATIENCE,
            );
            if let Some(m) = meta["data"].get(0) {
                break m["unit"].as_str().unwrap_or("").to_string();
            }
            assert!(
                Instant::now() < deadline,
                "no metadata for {metric} of {job}: {meta}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    assert_eq!(unit("pcp-agent", "network_interface_in_bytes"), "bytes");
    assert_eq!(
        unit("pcp-agent-text", "network_interface_in_bytes_total"),
        ""
    );
    drop(prom);
    drop(serve);
}

/// The checks on one job's scrapes.
fn check_job(prom_addr: SocketAddr, job: &str, prom: &Proc, serve: &Proc) {
    let up = format!("up{{job=\"{job}\"}}");

    // Two successful scrapes: `up` was 1 at least twice.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let n = scalar(&query(prom_addr, &format!("sum_over_time({up}[10m])")));
        if n >= 2.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus did not scrape {job} twice successfully in {PATIENCE:?}: targets {}\n\
             prometheus log:\n{}\nserve log:\n{}",
            targets(prom_addr),
            prom.log(),
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let sel = format!("{{job=\"{job}\"}}");

    // The gauge: one series per instance, named by instname, with PCP's
    // labels. Over the last minutes, so that a scrape that timed out on a
    // loaded machine (and marked the series stale) does not hide it.
    let g = query(
        prom_addr,
        &format!("last_over_time(kernel_all_load{sel}[10m])"),
    );
    let series = g.as_array().expect("vector");
    let mut names: Vec<&str> = series
        .iter()
        .filter_map(|s| s["metric"]["instname"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["1 minute", "15 minute", "5 minute"], "{job}: {g}");
    for s in series {
        assert!(s["metric"]["instid"].is_string(), "{s}");
        assert_eq!(s["metric"]["job"], job, "{s}");
        assert_eq!(s["metric"]["agent"], "linux", "{s}");
        assert!(s["metric"]["hostname"].is_string(), "{s}");
        let v: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
        assert!(v.is_finite() && v >= 0.0, "{s}");
    }

    // Counters' rates over the scrapes so far: CPU time in user mode
    // (milliseconds per second, at most 1000 per CPU) and context switches
    // (always some on a running system).
    let ncpu = scalar(&query(
        prom_addr,
        &format!("last_over_time(hinv_ncpu{sel}[10m])"),
    ));
    assert!(ncpu >= 1.0, "{job}: hinv_ncpu = {ncpu}");
    let r = query(
        prom_addr,
        &format!("rate(kernel_all_cpu_user_total{sel}[10m])"),
    );
    assert_eq!(r.as_array().map(Vec::len), Some(1), "{job}: {r}");
    let user = scalar(&r);
    assert!(
        user.is_finite() && user >= 0.0 && user <= 1000.0 * ncpu * 1.05,
        "{job}: rate(kernel_all_cpu_user_total) = {user} ms/s on {ncpu} CPUs"
    );
    let r = query(
        prom_addr,
        &format!("rate(kernel_all_pswitch_total{sel}[10m])"),
    );
    let pswitch = scalar(&r);
    assert!(
        pswitch > 0.0,
        "{job}: rate(kernel_all_pswitch_total) = {pswitch}: {r}"
    );

    // Prometheus kept the metadata: HELP and TYPE made it through (under
    // the family name: without _total in OpenMetrics).
    let family = if job == "pcp-agent" {
        "kernel_all_cpu_user"
    } else {
        "kernel_all_cpu_user_total"
    };
    let deadline = Instant::now() + PATIENCE;
    let meta = loop {
        let (_, meta) = get_json_patiently(
            prom_addr,
            &format!(
                "/api/v1/targets/metadata?metric={family}&match_target={}",
                encode(&sel)
            ),
            PATIENCE,
        );
        if meta["data"].get(0).is_some() || Instant::now() > deadline {
            break meta;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let m = &meta["data"][0];
    assert_eq!(m["type"], "counter", "{job}: {meta}");
    assert!(
        !m["help"].as_str().unwrap_or("").is_empty(),
        "{job}: {meta}"
    );
    eprintln!(
        "prometheus scraped {job}: kernel_all_load {names:?}; rate(kernel_all_cpu_user_total) = \
         {user:.1} ms/s, rate(kernel_all_pswitch_total) = {pswitch:.0}/s"
    );
}
