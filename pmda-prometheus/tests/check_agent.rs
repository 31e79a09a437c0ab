//! pcp-core's conformance walk (`check_agent`) over the agent with real
//! sources: an HTTP endpoint on 127.0.0.1, `file://` documents, a script,
//! a source that cannot be reached, names that collide across sources
//! (`a.url`'s `b:x` and `a/b.url`'s `x` are both `ROOT.a.b.x`) and within
//! one (`x` and `x:y`), odd label values and metrics without help; with
//! the root and control metrics of both modes (`-r prometheus` with ours,
//! `-r openmetrics` with pmdaopenmetrics's six).

mod common;

use common::*;
use pcp_core::testing::{check_agent, check_agent_with, CheckOptions};
use pcp_core::{Pmda, TextKind, TextTarget};
use pmda_prometheus::{prometheus_pmda, PrometheusConfig, PrometheusPmda};

const WEB: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027
http_requests_total{code="400",method="post"} 3
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

/// Odd names and values: a name that is also a prefix of another (the
/// second is refused), label values with quotes, backslashes, unicode and
/// spaces, instances that differ only after a space, NaN and infinities,
/// no help at all.
const ODD: &str = "x 1\n\
x:y 2\n\
odd{path=\"/a \\\"b\\\" c\\\\d\",emoji=\"\u{fc}\u{1f600}\"} 3\n\
spaced{who=\"a b\"} 4\n\
spaced{who=\"a c\"} 5\n\
nan NaN\n\
inf{sign=\"+\"} +Inf\n\
inf{sign=\"-\"} -Inf\n\
b:x 6\n";

fn agent(dir: &std::path::Path, root: &str, extended: bool) -> PrometheusPmda {
    prometheus_pmda(PrometheusConfig {
        config_dir: dir.to_path_buf(),
        root: root.into(),
        extended_control: extended,
        ..PrometheusConfig::default()
    })
    .expect("agent starts")
}

fn sources(dir: &std::path::Path, srv: &Server) {
    srv.route("/metrics", Reply::ok(WEB));
    write(dir, "web.url", &format!("{}\n", srv.url("/metrics")), 0o644);
    let odd = write(dir, "docs/odd.prom", ODD, 0o644);
    write(dir, "a.url", &format!("file://{}\n", odd.display()), 0o644);
    let inner = write(dir, "docs/inner.prom", "x 7\n# HELP y why\ny 8\n", 0o644);
    write(
        dir,
        "a/b.url",
        &format!("file://{}\n", inner.display()),
        0o644,
    );
    write(
        dir,
        "script.sh",
        "#!/bin/sh\necho '# TYPE made counter'\necho 'made{n=\"1\"} 1'\n",
        0o755,
    );
    // Nothing listens on port 1: a source with no names, only control values.
    write(dir, "down.url", "http://127.0.0.1:1/metrics\n", 0o644);
}

#[test]
fn agent_with_real_sources_passes_check_agent() {
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    sources(d.path(), &srv);
    for (root, extended) in [("prometheus", true), ("openmetrics", false)] {
        let mut a = agent(d.path(), root, extended);
        let opts = CheckOptions {
            require_help: false,
            ..CheckOptions::default()
        };
        let report = check_agent_with(&mut a, &opts).unwrap_or_else(|e| panic!("{root}: {e}"));
        let ns = a.namespace();
        for name in [
            "web.http_requests_total",
            "web.job.rate.m5",
            "a.x",
            "a.odd",
            "a.spaced",
            "a.inf",
            "script.made",
            "control.calls",
        ] {
            assert!(
                ns.lookup(&format!("{root}.{name}")).is_some(),
                "{root}.{name} is served"
            );
        }
        assert!(
            ns.lookup(&format!("{root}.a.x.y")).is_none(),
            "x:y clashes with x"
        );
        // Two sources claim ROOT.a.b.x: the second (`a/b.url`) overlaps
        // the first and is refused, the first's `b:x` keeps the name.
        let names: Vec<String> = a.agent().sources().into_iter().map(|s| s.1).collect();
        assert_eq!(names, ["a", "down", "script", "web"]);
        assert!(ns.lookup(&format!("{root}.a.b.x")).is_some());
        assert!(ns.lookup(&format!("{root}.a.b.y")).is_none());
        assert!(report.metrics >= 14, "{root}: {report:?}");
        assert!(report.indoms >= 5, "{root}: {report:?}");
        assert!(report.values >= 20, "{root}: {report:?}");
    }
}

#[test]
fn metrics_without_help_answer_empty_text_which_the_strict_check_refuses() {
    let srv = Server::start();
    let d = tempfile::tempdir().unwrap();
    sources(d.path(), &srv);
    let mut a = agent(d.path(), "prometheus", true);
    let p = a.namespace().lookup("prometheus.a.x").unwrap();
    let client = pcp_core::ClientContext::local();
    for kind in [TextKind::OneLine, TextKind::Help] {
        assert_eq!(
            a.text(TextTarget::Metric(p), kind, &client),
            Ok(String::new())
        );
    }
    let failed = check_agent(&mut a).expect_err("empty help is not help");
    assert!(failed
        .violations
        .iter()
        .any(|v| v.subject == "prometheus.a.x" && v.problem.contains("help")));
    assert!(!failed
        .violations
        .iter()
        .any(|v| v.subject.starts_with("prometheus.control.")));
}
