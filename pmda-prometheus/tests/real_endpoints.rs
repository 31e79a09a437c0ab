//! The agent against the real endpoints the test script starts: Debian's
//! prometheus-node-exporter and the Prometheus server's own /metrics,
//! both on 127.0.0.1 (env PCP_AGENT_NODE_EXPORTER_URL and
//! PCP_AGENT_PROMETHEUS_URL override the addresses).

mod common;

use common::*;
use pcp_core::{Semantics, Units, Value};

fn endpoint(var: &str, default: &str) -> Option<String> {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let hostport = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
        .to_string();
    let up = pcp_core::testing::port_open(&hostport);
    pcp_core::testing::require(var, up, &format!("{url} is not answering")).then_some(url)
}

fn hostname() -> String {
    let h = pcp_core::Host::new();
    h.context_labels()
        .get("hostname")
        .and_then(|l| l.value.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[test]
fn node_exporter_metrics_instances_and_control() {
    let Some(url) = endpoint(
        "PCP_AGENT_NODE_EXPORTER_URL",
        "http://127.0.0.1:9100/metrics",
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "node.url", &format!("{url}\n"), 0o644);
    let h = host(d.path(), |_| {});
    let n = names(&h, "prometheus.node");
    for want in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_load1",
        "go_gc_duration_seconds",
        "go_gc_duration_seconds_count",
    ] {
        assert!(
            n.iter().any(|x| x == want),
            "{want} missing from {} names",
            n.len()
        );
    }
    let cpu = h
        .desc(h.lookup("prometheus.node.node_cpu_seconds_total").unwrap())
        .unwrap();
    assert_eq!((cpu.sem, cpu.units), (Semantics::Counter, Units::SEC));
    let v = values_by_name(&h, "prometheus.node.node_cpu_seconds_total");
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(v.len() >= ncpu * 8, "{} cpu instances", v.len());
    assert!(
        v.contains_key("0 cpu:0 mode:idle") || v.keys().any(|k| k.ends_with(" cpu:0 mode:idle"))
    );
    for name in v.keys() {
        let mut w = name.split(' ');
        assert!(w.next().unwrap().parse::<u32>().is_ok(), "{name}");
        let rest: Vec<&str> = w.collect();
        assert_eq!(rest.len(), 2, "{name}");
        assert!(
            rest[0].starts_with("cpu:") && rest[1].starts_with("mode:"),
            "{name}"
        );
    }
    // A value that does not move: MemTotal, against /proc/meminfo.
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: f64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    let mt = fetch(&h, "prometheus.node.node_memory_MemTotal_bytes").unwrap();
    assert_eq!(mt[0].1, Value::Double(kb * 1024.0));
    let md = h
        .desc(
            h.lookup("prometheus.node.node_memory_MemTotal_bytes")
                .unwrap(),
        )
        .unwrap();
    assert_eq!((md.sem, md.units), (Semantics::Instant, Units::BYTES));
    let q = values_by_name(&h, "prometheus.node.go_gc_duration_seconds");
    assert!(
        q.keys().any(|k| k.ends_with(" quantile:0.5")),
        "{:?}",
        q.keys()
    );
    assert_eq!(
        control(&h, "prometheus", "status", "node"),
        Some(Value::String("success".into()))
    );
    assert_eq!(
        control(&h, "prometheus", "status_code", "node"),
        Some(Value::I32(200))
    );
    assert_eq!(
        control(&h, "prometheus", "parse_errors", "node"),
        Some(Value::U64(0))
    );
    assert_eq!(control(&h, "prometheus", "up", "node"), Some(Value::U32(1)));
    let Some(Value::U64(bytes)) = control(&h, "prometheus", "bytes", "node") else {
        panic!("bytes")
    };
    assert!(bytes > 10_000);
    let cl = cluster_labels(&h, "prometheus.node.node_load1");
    if url.contains("127.0.0.1") || url.contains("localhost") {
        assert_eq!(cl.get("hostname").unwrap().value, hostname().as_str());
    }
    assert_eq!(cl.get("url").unwrap().value, url.as_str());
}

#[test]
fn prometheus_server_histograms_and_summaries() {
    let Some(url) = endpoint("PCP_AGENT_PROMETHEUS_URL", "http://127.0.0.1:9090/metrics") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "prom.url", &format!("{url}\n"), 0o644);
    let h = host(d.path(), |c| c.root = "openmetrics".into());
    let b = "openmetrics.prom.prometheus_http_request_duration_seconds_bucket";
    let desc = h.desc(h.lookup(b).unwrap()).unwrap();
    assert_eq!((desc.sem, desc.units), (Semantics::Counter, Units::COUNT));
    let v = values_by_name(&h, b);
    assert!(
        v.keys().any(|k| k.ends_with(" le:+Inf")),
        "{:?}",
        v.keys().take(5).collect::<Vec<_>>()
    );
    assert!(v
        .keys()
        .all(|k| k.contains(" handler:") && k.contains(" le:")));
    let s = h
        .desc(
            h.lookup("openmetrics.prom.prometheus_http_request_duration_seconds_sum")
                .unwrap(),
        )
        .unwrap();
    assert_eq!((s.sem, s.units), (Semantics::Counter, Units::SEC));
    let c = h
        .desc(
            h.lookup("openmetrics.prom.prometheus_http_request_duration_seconds_count")
                .unwrap(),
        )
        .unwrap();
    assert_eq!((c.sem, c.units), (Semantics::Counter, Units::COUNT));
    let info = values_by_name(&h, "openmetrics.prom.prometheus_build_info");
    assert_eq!(info.len(), 1);
    assert!(info.keys().next().unwrap().contains("version:"), "{info:?}");
    assert_eq!(
        control(&h, "openmetrics", "status_code", "prom"),
        Some(Value::I32(200))
    );
    assert_eq!(
        control(&h, "openmetrics", "parse_errors", "prom"),
        Some(Value::U64(0))
    );
}

#[test]
fn both_endpoints_in_one_fetch_with_a_script() {
    let (Some(node), Some(prom)) = (
        endpoint(
            "PCP_AGENT_NODE_EXPORTER_URL",
            "http://127.0.0.1:9100/metrics",
        ),
        endpoint("PCP_AGENT_PROMETHEUS_URL", "http://127.0.0.1:9090/metrics"),
    ) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "node.url", &format!("{node}\n"), 0o644);
    write(d.path(), "prom.url", &format!("{prom}\n"), 0o644);
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.d/local/system.sh");
    write(
        d.path(),
        "local/system.sh",
        &std::fs::read_to_string(example).unwrap(),
        0o755,
    );
    let h = host(d.path(), |_| {});
    let pmids = [
        h.lookup("prometheus.node.node_load1").unwrap(),
        h.lookup("prometheus.prom.prometheus_build_info").unwrap(),
        h.lookup("prometheus.local.system.loadavg").unwrap(),
    ];
    let t = std::time::Instant::now();
    let r = h.fetch(&pmids);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    for (p, v) in &r.values {
        assert!(v.is_ok(), "{p}: {v:?}");
    }
    let calls = values_by_name(&h, "prometheus.control.calls");
    assert_eq!(calls["control"], Value::U64(6), "{calls:?}");
}
