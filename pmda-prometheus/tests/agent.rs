//! The agent end to end through pcp-core's host: config directories,
//! every `.url` keyword, scripts, rescans, restarts, control metrics.

mod common;

use std::time::{Duration, Instant};

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
fn scripts_good_failing_hanging_and_not_executable() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "good.sh",
        "#!/bin/sh\necho 'script_value{k=\"v\"} 42'\necho 'to the log' >&2\n",
        0o755,
    );
    let bad = write(
        d.path(),
        "bad.sh",
        "#!/bin/sh\necho 'lost 1'\nexit 3\n",
        0o755,
    );
    write(
        d.path(),
        "hang.sh",
        "#!/bin/sh\necho 'hang_value 1'\nsleep 30\n",
        0o755,
    );
    write(d.path(), "plain.sh", "#!/bin/sh\necho 'never 1'\n", 0o644);
    let noexec = write(d.path(), "broken.sh", "#!/nonexistent/interpreter\n", 0o755);
    let t = Instant::now();
    let h = host(d.path(), |c| c.timeout = Duration::from_millis(700));
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "start-up took {:?}",
        t.elapsed()
    );
    let srcs: Vec<String> = instances(&h, "prometheus.control.calls")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(srcs, ["control", "bad", "broken", "good", "hang"]);
    assert_eq!(
        values_by_name(&h, "prometheus.good.script_value")["0 k:v"],
        Value::Double(42.0)
    );
    // A failing script: the source exists, no metrics, failure status.
    assert!(names(&h, "prometheus.bad").is_empty());
    assert_eq!(
        control(&h, "prometheus", "status", "bad"),
        Some(Value::String(format!(
            "failed to fetch URL or execute script {}: script exited with exit status 3",
            bad.display()
        )))
    );
    let st = control(&h, "prometheus", "status", "broken").unwrap();
    assert!(
        st.as_str()
            .unwrap()
            .contains(&format!("cannot execute {}", noexec.display())),
        "{st:?}"
    );
    let st = control(&h, "prometheus", "status", "hang").unwrap();
    assert!(st.as_str().unwrap().contains("timed out"), "{st:?}");
    // A fetch of the good script is not held up by the hanging one.
    let good = h.lookup("prometheus.good.script_value").unwrap();
    let calls = h.lookup("prometheus.control.calls").unwrap();
    let t = Instant::now();
    let r = h.fetch(&[good, calls]);
    assert!(r.values[0].1.is_ok());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn rescan_on_add_edit_and_delete() {
    let d = tempfile::tempdir().unwrap();
    let doc_a = write(d.path(), "data/a.txt", "alpha 1\n", 0o644);
    let doc_b = write(d.path(), "data/b.txt", "beta 2\nbeta_two 3\n", 0o644);
    let h = host(d.path(), |_| {});
    assert!(names(&h, "prometheus")
        .iter()
        .all(|n| n.starts_with("control.")));
    // Add.
    write(
        d.path(),
        "one.url",
        &format!("file://{}\n", doc_a.display()),
        0o644,
    );
    write(
        d.path(),
        "sub/two.url",
        &format!("file://{}\n", doc_a.display()),
        0o644,
    );
    assert_eq!(names(&h, "prometheus.one"), ["alpha"]);
    assert_eq!(names(&h, "prometheus.sub.two"), ["alpha"]);
    // Edit: point one.url at the other document.
    std::thread::sleep(Duration::from_millis(20));
    write(
        d.path(),
        "one.url",
        &format!("file://{}\n", doc_b.display()),
        0o644,
    );
    let n = names(&h, "prometheus.one");
    assert!(
        n.contains(&"beta".to_string()) && n.contains(&"beta_two".to_string()),
        "{n:?}"
    );
    assert_eq!(
        fetch(&h, "prometheus.one.beta").unwrap()[0].1,
        Value::Double(2.0)
    );
    // The old metric stays named but has no value any more.
    assert_eq!(fetch(&h, "prometheus.one.alpha"), Err(PmError::AGAIN));
    // Delete.
    std::fs::remove_file(d.path().join("sub/two.url")).unwrap();
    assert!(names(&h, "prometheus.sub").is_empty());
    let srcs: Vec<String> = instances(&h, "prometheus.control.calls")
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(srcs, ["control", "one"]);
    // Re-add gets the same cluster back.
    let before = h.lookup("prometheus.one.beta").unwrap();
    write(
        d.path(),
        "sub/two.url",
        &format!("file://{}\n", doc_a.display()),
        0o644,
    );
    assert_eq!(names(&h, "prometheus.sub.two"), ["alpha"]);
    assert_eq!(h.lookup("prometheus.sub.two.alpha").unwrap().cluster(), 2);
    assert_eq!(h.lookup("prometheus.one.beta").unwrap(), before);
}

#[test]
fn restart_keeps_ids() {
    let d = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let doc = write(
        d.path(),
        "data/doc.txt",
        "m{a=\"1\"} 1\nm{a=\"2\"} 2\nother 3\n",
        0o644,
    );
    write(
        d.path(),
        "b.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    write(
        d.path(),
        "c.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let (pm, po, insts) = {
        let h = host(d.path(), |c| c.state_dir = Some(state.path().to_path_buf()));
        (
            h.lookup("prometheus.c.m").unwrap(),
            h.lookup("prometheus.c.other").unwrap(),
            instances(&h, "prometheus.c.m"),
        )
    };
    // A new source that sorts first, and a new instance order in the doc.
    std::fs::write(&doc, "other 3\nm{a=\"3\"} 3\nm{a=\"2\"} 2\nm{a=\"1\"} 1\n").unwrap();
    write(
        d.path(),
        "a.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let h = host(d.path(), |c| c.state_dir = Some(state.path().to_path_buf()));
    assert_eq!(h.lookup("prometheus.c.m").unwrap(), pm);
    assert_eq!(h.lookup("prometheus.c.other").unwrap(), po);
    assert_eq!(h.lookup("prometheus.a.m").unwrap().cluster(), 3);
    let now = instances(&h, "prometheus.c.m");
    assert_eq!(&now[..2], &insts[..]);
    assert_eq!(now[2].name, "2 a:3");
    let v = values_by_name(&h, "prometheus.c.m");
    assert_eq!(v["0 a:1"], Value::Double(1.0));
    // Instances restored from the id cache carry their labels again.
    let indom = h.desc(pm).unwrap().indom;
    let labels = h.instance_labels(indom).unwrap();
    for (id, want) in [(0, "1"), (1, "2"), (2, "3")] {
        let set = &labels
            .iter()
            .find(|(i, _)| *i == id)
            .unwrap_or_else(|| panic!("instance {id}: {labels:?}"))
            .1;
        assert_eq!(
            set.get("a").map(|l| l.value.clone()),
            Some(want.into()),
            "instance {id}"
        );
    }
    // A second agent on the same state directory uses the ids read-only.
    let h2 = host(d.path(), |c| c.state_dir = Some(state.path().to_path_buf()));
    assert_eq!(h2.lookup("prometheus.c.m").unwrap(), pm);
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

#[test]
fn sources_are_scraped_in_parallel() {
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    for i in 0..30 {
        srv.route(
            &format!("/s{i}"),
            Reply {
                status: 200,
                body: format!("v{i} {i}\n"),
                delay: Duration::from_millis(300),
            },
        );
        write(
            d.path(),
            &format!("s{i:02}.url"),
            &format!("{}\n", srv.url(&format!("/s{i}"))),
            0o644,
        );
    }
    let h = host(d.path(), |_| {});
    let pmids: Vec<_> = (0..30)
        .map(|i| h.lookup(&format!("prometheus.s{i:02}.v{i}")).unwrap())
        .collect();
    let t = Instant::now();
    let r = h.fetch(&pmids);
    let took = t.elapsed();
    assert!(r.values.iter().all(|(_, v)| v.is_ok()));
    // 30 x 300 ms in sequence would be 9 s.
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[test]
fn slow_source_misses_the_deadline_alone_and_answers_stale() {
    let srv = Server::start();
    srv.route("/fast", Reply::ok("fast 1\n"));
    srv.route("/slow", Reply::ok("slow 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "fast.url",
        &format!("{}\n", srv.url("/fast")),
        0o644,
    );
    write(
        d.path(),
        "slow.url",
        &format!("{}\nTIMEOUT: 0.3\n", srv.url("/slow")),
        0o644,
    );
    let h = host(d.path(), |_| {});
    srv.route(
        "/slow",
        Reply {
            status: 200,
            body: "slow 1\n".into(),
            delay: Duration::from_secs(3),
        },
    );
    let a = h.lookup("prometheus.fast.fast").unwrap();
    let b = h.lookup("prometheus.slow.slow").unwrap();
    let t = Instant::now();
    let r = h.fetch(&[a, b]);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(r.values[0].1.is_ok());
    // Its last good value, marked stale (it timed out: slow, not broken).
    assert_eq!(
        r.values[1].1,
        Ok(vec![(pcp_core::PM_IN_NULL, Value::Double(1.0))])
    );
    assert_eq!(
        control(&h, "prometheus", "stale", "slow"),
        Some(Value::U32(1))
    );
    // The fetch answered at the deadline; the scrape ends at its timeout
    // (the same 0.3 s here) and is then recorded.
    let mut st = control(&h, "prometheus", "status", "slow").unwrap();
    for _ in 0..100 {
        if st.as_str().unwrap().starts_with("failed") {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        st = control(&h, "prometheus", "status", "slow").unwrap();
    }
    assert!(st.as_str().unwrap().starts_with("failed"), "{st:?}");
    assert_eq!(
        control(&h, "prometheus", "stale", "fast"),
        Some(Value::U32(0))
    );
    let age = control(&h, "prometheus", "age", "slow")
        .unwrap()
        .as_f64()
        .unwrap();
    assert!(age >= 0.3, "{age}");
    let _ = PmError::AGAIN;
}

#[test]
fn limits_are_reported_in_the_status() {
    let d = tempfile::tempdir().unwrap();
    let mut doc = String::new();
    for i in 0..50 {
        doc.push_str(&format!("m{{i=\"{i}\"}} {i}\n"));
    }
    let p = write(d.path(), "doc.txt", &doc, 0o644);
    write(
        d.path(),
        "big.url",
        &format!("file://{}\n", p.display()),
        0o644,
    );
    let mut cfg = pmda_prometheus::PrometheusConfig {
        config_dir: d.path().to_path_buf(),
        ..Default::default()
    };
    cfg.timeout = Duration::from_secs(1);
    let agent = pmda_prometheus::prometheus_pmda(cfg).unwrap();
    agent.agent().set_limits(pmda_prometheus::Limits {
        max_body: 1 << 20,
        max_samples: 10,
        ..Default::default()
    });
    let mut h = pcp_core::Host::new();
    h.load(Box::new(agent)).unwrap();
    fetch(&h, "prometheus.big.m").unwrap();
    let v = values_by_name(&h, "prometheus.big.m");
    assert_eq!(v.len(), 10);
    let st = control(&h, "prometheus", "status", "big").unwrap();
    assert_eq!(
        st.as_str().unwrap(),
        "success; sample limit 10 reached, rest skipped"
    );
}

#[test]
fn background_scraping_serves_from_cache() {
    let srv = Server::start();
    srv.route("/m", Reply::ok("bg 1\n"));
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "bg.url", &format!("{}\n", srv.url("/m")), 0o644);
    let h = host(d.path(), |c| {
        c.scrape_interval = Some(Duration::from_millis(200))
    });
    let p = h.lookup("prometheus.bg.bg").unwrap();
    let before = srv.hits("/m");
    for _ in 0..20 {
        assert!(h.fetch(&[p]).values[0].1.is_ok());
    }
    // 20 fetches did not make 20 requests.
    assert!(srv.hits("/m") - before < 5);
    std::thread::sleep(Duration::from_millis(700));
    assert!(srv.hits("/m") > before, "background scrapes happen");
}

#[test]
fn example_config_dir_gives_loadavg() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.d");
    let h = host(&dir, |_| {});
    let before = std::fs::read_to_string("/proc/loadavg").unwrap();
    let v = values_by_name(&h, "prometheus.local.system.loadavg");
    let after = std::fs::read_to_string("/proc/loadavg").unwrap();
    let mut names: Vec<&String> = v.keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "0 interval:1-minute",
            "1 interval:5-minute",
            "2 interval:15-minute"
        ]
    );
    let one = v["0 interval:1-minute"].as_f64().unwrap();
    let lo: f64 = before.split(' ').next().unwrap().parse().unwrap();
    let hi: f64 = after.split(' ').next().unwrap().parse().unwrap();
    assert!(
        one >= lo.min(hi) - 0.01 && one <= lo.max(hi) + 0.01,
        "{one} vs {lo}..{hi}"
    );
}
