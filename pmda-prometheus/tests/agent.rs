//! The agent end to end through pcp-core's host: names, instances, types,
//! help and labels, every `.url` keyword, failing sources, the control
//! metrics and the `openmetrics` root (sources over time: agent_sources.rs).

mod common;

use std::time::Duration;

use common::*;
use pcp_core::{LabelTarget, PmError, Semantics, TextKind, TextTarget, Type, Units, Value};

const DOC: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027
http_requests_total{code="400",method="post"} 3
# HELP temperature_celsius Current temperature.
# TYPE temperature_celsius gauge
temperature_celsius 21.5
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
# TYPE req_seconds histogram
req_seconds_bucket{le="0.05"} 24054
req_seconds_bucket{le="+Inf"} 144320
req_seconds_sum 53423
req_seconds_count 144320
job:rate:m5 0.5
"#;

#[test]
fn names_instances_types_and_help_as_the_reference() {
    let d = tempfile::tempdir().unwrap();
    let doc = write(d.path(), "doc.txt", DOC, 0o644);
    write(
        d.path(),
        "web.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let h = host(d.path(), |_| {});
    let mut n = names(&h, "prometheus.web");
    n.sort();
    assert_eq!(
        n,
        [
            "http_requests_total",
            "job.rate.m5",
            "req_seconds_bucket",
            "req_seconds_count",
            "req_seconds_sum",
            "rpc_duration_seconds",
            "rpc_duration_seconds_count",
            "rpc_duration_seconds_sum",
            "temperature_celsius"
        ]
    );
    // Label order does not matter; keys are sorted; the id comes first.
    let v = values_by_name(&h, "prometheus.web.http_requests_total");
    assert_eq!(v.len(), 2);
    assert_eq!(v["0 code:200 method:post"], Value::Double(1027.0));
    assert_eq!(v["1 code:400 method:post"], Value::Double(3.0));
    let b = values_by_name(&h, "prometheus.web.req_seconds_bucket");
    assert_eq!(b["1 le:+Inf"], Value::Double(144320.0));
    let q = values_by_name(&h, "prometheus.web.rpc_duration_seconds");
    assert!(q.contains_key("0 quantile:0.5"));
    // A label-free sample is singular.
    assert_eq!(
        fetch(&h, "prometheus.web.temperature_celsius").unwrap(),
        vec![(pcp_core::PM_IN_NULL, Value::Double(21.5))]
    );
    let desc = |n: &str| h.desc(h.lookup(n).unwrap()).unwrap();
    let c = desc("prometheus.web.http_requests_total");
    assert_eq!(
        (c.ty, c.sem, c.units),
        (Type::Double, Semantics::Counter, Units::NONE)
    );
    assert_eq!(c.pmid.to_string(), "144.1.0");
    assert_eq!(c.indom.to_string(), format!("144.{}", 4096 + 1024));
    let b = desc("prometheus.web.req_seconds_bucket");
    assert_eq!((b.sem, b.units), (Semantics::Counter, Units::COUNT));
    let s = desc("prometheus.web.req_seconds_sum");
    assert_eq!((s.sem, s.units), (Semantics::Counter, Units::SEC));
    let q = desc("prometheus.web.rpc_duration_seconds");
    assert_eq!((q.sem, q.units), (Semantics::Instant, Units::SEC));
    let t = desc("prometheus.web.temperature_celsius");
    assert_eq!(
        (t.sem, t.units, t.indom),
        (Semantics::Instant, Units::NONE, pcp_core::InDom::NULL)
    );
    let p = h.lookup("prometheus.web.http_requests_total").unwrap();
    assert_eq!(
        h.text(TextTarget::Metric(p), TextKind::OneLine).unwrap(),
        "The total number of HTTP requests."
    );
}

#[test]
fn bad_lines_are_skipped_and_counted_and_the_rest_is_kept() {
    let d = tempfile::tempdir().unwrap();
    let doc = write(
        d.path(),
        "doc.txt",
        "first 1\n<html>garbage</html>\nbroken{a=\"x\" b=\"y\"} 2\nsecond{x=\"1\",} 3\n_under 4\nthird 5 # {t=\"a\"} 1\n",
        0o644,
    );
    write(
        d.path(),
        "g.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let h = host(d.path(), |_| {});
    let mut n = names(&h, "prometheus.g");
    n.sort();
    assert_eq!(n, ["first", "second", "third"]);
    assert_eq!(
        control(&h, "prometheus", "parse_errors", "g"),
        Some(Value::U64(3))
    );
    assert_eq!(
        control(&h, "prometheus", "samples", "g"),
        Some(Value::U64(4))
    );
    assert_eq!(
        control(&h, "prometheus", "status", "g"),
        Some(Value::String("success".into()))
    );
}

#[test]
fn every_url_keyword() {
    let srv = Server::start();
    let body = "# TYPE m1 gauge\nm1{keep=\"a\",drop=\"b\",note=\"n1\"} 1\nm1{keep=\"b\",drop=\"c\",note=\"n2\"} 2\n\
metric10 10\nmetric1 1\njob:rate:5m 5\nstatus_total{code=\"200\"} 7\ntemp_x{cpu=\"0\"} 40\n";
    srv.route("/metrics", Reply::ok(body));
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "svc.url",
        &format!(
            "{}\r\n\r\n# a comment\r\n\
HEADER: Authorization: Bearer abc:def\r\n\
HEADER: X-Some: has: colons: in it\r\n\
FILTER: INCLUDE METRIC metric1$\r\n\
FILTER: EXCLUDE METRIC metric1\r\n\
FILTER: EXCLUDE METRIC job:rate:.*\r\n\
FILTER: EXCLUDE LABEL drop\r\n\
FILTER: OPTIONAL LABEL note\r\n\
METADATA: status_total u32 response counter count\r\n\
METADATA: temp_.* float PM_INDOM_NULL instant none\r\n\
LABEL: team=infra\r\n\
TIMEOUT: 1.5\r\n\
NOPE: whatever\r\n",
            srv.url("/metrics")
        ),
        0o644,
    );
    let h = host(d.path(), |_| {});
    let mut n = names(&h, "prometheus.svc");
    n.sort();
    assert_eq!(n, ["m1", "metric1", "status_total", "temp_x"]);
    let hdrs = srv.last_headers("/metrics").unwrap();
    let get = |k: &str| {
        hdrs.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|x| x.1.clone())
    };
    assert_eq!(get("authorization").as_deref(), Some("Bearer abc:def"));
    assert_eq!(get("x-some").as_deref(), Some("has: colons: in it"));
    // EXCLUDE LABEL merges label sets out of names; OPTIONAL keeps notes.
    let v = values_by_name(&h, "prometheus.svc.m1");
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v["0 keep:a"], Value::Double(1.0));
    let p = h.lookup("prometheus.svc.m1").unwrap();
    let item = h.labels(144, LabelTarget::Item(p)).unwrap();
    let note = item.get("note").expect("note label");
    assert!(note.optional);
    assert!(item.get("drop").is_none());
    let il = h.instance_labels(h.desc(p).unwrap().indom).unwrap();
    // pmdaopenmetrics's note: every instance's name with its id.
    assert_eq!(il[0].1.to_json(), r#"{"keep":"a","instname":"0 keep:a"}"#);
    assert!(il[0].1.get("instname").unwrap().optional);
    // METADATA: type, semantics, units, singular.
    let s = h
        .desc(h.lookup("prometheus.svc.status_total").unwrap())
        .unwrap();
    assert_eq!(
        (s.ty, s.sem, s.units),
        (Type::U32, Semantics::Counter, Units::COUNT)
    );
    assert_eq!(
        values_by_name(&h, "prometheus.svc.status_total")["0 code:200"],
        Value::U32(7)
    );
    let t = h.desc(h.lookup("prometheus.svc.temp_x").unwrap()).unwrap();
    assert!(t.indom.is_null());
    assert_eq!(t.ty, Type::Float);
    assert_eq!(
        fetch(&h, "prometheus.svc.temp_x").unwrap()[0].1,
        Value::Float(40.0)
    );
    // LABEL: and the URL-derived labels (no port in hostname).
    let cl = cluster_labels(&h, "prometheus.svc.m1");
    assert_eq!(cl.get("team").unwrap().value, "infra");
    assert_eq!(cl.get("source").unwrap().value, "svc");
    assert_eq!(cl.get("url").unwrap().value, srv.url("/metrics").as_str());
    assert!(!cl
        .get("hostname")
        .unwrap()
        .value
        .as_str()
        .unwrap()
        .contains(':'));
}

#[test]
fn labels_are_valid_json_and_urls_lose_credentials() {
    let srv = Server::start();
    srv.route(
        "/m",
        Reply::ok("m{path=\"C:\\\\dir \\\"q\\\"\",nl=\"a\\nb\"} 1\n"),
    );
    let d = tempfile::tempdir().unwrap();
    let url = srv.url("/m").replace("http://", "http://user:secret@");
    write(d.path(), "j.url", &format!("{url}\n"), 0o644);
    let h = host(d.path(), |_| {});
    let p = h.lookup("prometheus.j.m").unwrap();
    let il = h.instance_labels(h.desc(p).unwrap().indom).unwrap();
    let json = il[0].1.to_json();
    let back: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(back["path"], "C:\\dir \"q\"");
    assert_eq!(back["nl"], "a\nb");
    let cl = cluster_labels(&h, "prometheus.j.m");
    assert!(!cl.to_json().contains("secret"));
    let insts = instances(&h, "prometheus.j.m");
    assert_eq!(insts[0].name, "0 nl:a\nb path:C:\\dir \"q\"");
}

#[test]
fn http_errors_and_down_sources_fail_only_their_metrics() {
    let srv = Server::start();
    srv.route("/ok", Reply::ok("up_metric 1\n"));
    srv.route("/flaky", Reply::ok("flaky_metric 2\n"));
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "ok.url", &format!("{}\n", srv.url("/ok")), 0o644);
    write(
        d.path(),
        "flaky.url",
        &format!("{}\n", srv.url("/flaky")),
        0o644,
    );
    write(d.path(), "down.url", "http://127.0.0.1:9/metrics\n", 0o644);
    let h = host(d.path(), |_| {});
    assert_eq!(
        fetch(&h, "prometheus.flaky.flaky_metric").unwrap()[0].1,
        Value::Double(2.0)
    );
    srv.route(
        "/flaky",
        Reply {
            status: 503,
            body: "busy".into(),
            delay: Duration::ZERO,
        },
    );
    let a = h.lookup("prometheus.ok.up_metric").unwrap();
    let b = h.lookup("prometheus.flaky.flaky_metric").unwrap();
    let r = h.fetch(&[a, b]);
    assert!(r.values[0].1.is_ok());
    assert_eq!(r.values[1].1, Err(PmError::AGAIN));
    assert_eq!(
        control(&h, "prometheus", "status_code", "flaky"),
        Some(Value::I32(503))
    );
    let st = control(&h, "prometheus", "status", "flaky").unwrap();
    assert!(
        st.as_str().unwrap().starts_with(&format!(
            "failed to fetch URL or execute script {}: HTTP status 503",
            srv.url("/flaky")
        )),
        "{st:?}"
    );
    assert_eq!(
        control(&h, "prometheus", "up", "flaky"),
        Some(Value::U32(0))
    );
    assert_eq!(control(&h, "prometheus", "up", "ok"), Some(Value::U32(1)));
    // The never-reached source exists as a control instance only.
    assert!(names(&h, "prometheus.down").is_empty());
    let st = control(&h, "prometheus", "status", "down").unwrap();
    assert!(
        st.as_str().unwrap().starts_with("failed to fetch URL"),
        "{st:?}"
    );
    // The metric stays in the namespace while the source is failing.
    assert!(h.lookup("prometheus.flaky.flaky_metric").is_ok());
}

#[test]
fn openmetrics_root_is_a_drop_in() {
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "s.sh", "#!/bin/sh\necho 'x_total 1'\n", 0o755);
    let h = host(d.path(), |c| c.root = "openmetrics".into());
    assert_eq!(h.agents(), [("openmetrics".to_string(), 144)]);
    let pm = |n: &str| {
        h.lookup(&format!("openmetrics.control.{n}"))
            .unwrap()
            .to_string()
    };
    assert_eq!(
        [
            "calls",
            "fetch_time",
            "parse_time",
            "debug",
            "status",
            "status_code"
        ]
        .map(pm),
        ["144.0.1", "144.0.2", "144.0.3", "144.0.4", "144.0.5", "144.0.6"]
    );
    let d6 = h
        .desc(h.lookup("openmetrics.control.status_code").unwrap())
        .unwrap();
    assert_eq!((d6.ty, d6.sem), (Type::I32, Semantics::Discrete));
    let d2 = h
        .desc(h.lookup("openmetrics.control.fetch_time").unwrap())
        .unwrap();
    assert_eq!(
        (d2.ty, d2.sem, d2.units),
        (Type::U64, Semantics::Counter, Units::MILLISEC)
    );
    assert_eq!(
        h.lookup("openmetrics.s.x_total").unwrap().to_string(),
        "144.1.0"
    );
    assert_eq!(
        control(&h, "openmetrics", "calls", "s"),
        Some(Value::U64(1))
    );
    assert_eq!(
        control(&h, "openmetrics", "status", "control"),
        Some(Value::String("none".into()))
    );
    // debug: stored, and refused when negative; other metrics refuse stores.
    let dbg = h.lookup("openmetrics.control.debug").unwrap();
    h.store(dbg, &[(pcp_core::PM_IN_NULL, Value::U32(1))])
        .unwrap();
    assert_eq!(
        fetch(&h, "openmetrics.control.debug").unwrap()[0].1,
        Value::U32(1)
    );
    assert_eq!(
        h.store(dbg, &[(pcp_core::PM_IN_NULL, Value::I32(-1))]),
        Err(PmError::BADSTORE)
    );
    h.store(dbg, &[(pcp_core::PM_IN_NULL, Value::U32(0))])
        .unwrap();
    let calls = h.lookup("openmetrics.control.calls").unwrap();
    assert_eq!(
        h.store(calls, &[(0, Value::U64(1))]),
        Err(PmError::PERMISSION)
    );
    // Control metrics do not trigger a scrape.
    assert_eq!(
        control(&h, "openmetrics", "calls", "s"),
        Some(Value::U64(1))
    );
    fetch(&h, "openmetrics.s.x_total").unwrap();
    assert_eq!(
        control(&h, "openmetrics", "calls", "s"),
        Some(Value::U64(2))
    );
}
