//! Every metric of every agent (linux, prometheus, bpftrace, nagios, simple) as
//! `pcp-agent serve` exposes it, checked by the formats' own checkers:
//!
//! - Prometheus text through `promtool check metrics` (Debian's
//!   prometheus 2.42): no parse error and no lint problem at all;
//! - OpenMetrics text (asked for with Prometheus's own `Accept` header)
//!   through the OpenMetrics parser of the Prometheus project's Python
//!   client (Debian's python3-prometheus-client), which enforces the
//!   format's rules (`# EOF`, `_total` samples of counters, no clashing
//!   names, units as name suffixes, no negative counter totals).
//!   `promtool check metrics` reads only Prometheus text: an OpenMetrics
//!   counter family `x` with samples `x_total` is two families to it, so
//!   it is not the checker for this format.
//!
//! The agents' names are chosen to clash: the prometheus agent reads a
//! source whose metric names differ only by `_total`, by case, by `.`
//! against `_` (sources `a/x_c` and `a_x/c` with the same metric), with
//! unit words and histogram/summary labels; the bpftrace agent runs a
//! script with a map named `bytes` (its data is `...data.bytes`, next to
//! the agent's own `...data_bytes`) and the shapes every bpftrace map
//! can take; the linux agent has `mem.vmstat.pgscan_direct` next to
//! `mem.vmstat.pgscan_direct_total` (both counters).

mod serve_util;

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pcp_core::testing::{have_program, require};
use serve_util::*;

/// What Prometheus 2.42 sends when it scrapes.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
    application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Debian's Python, which has Debian's python3-prometheus-client (a
/// python3 earlier on PATH, e.g. pyenv's, may not).
const PYTHON: &str = "/usr/bin/python3";

/// A prometheus source whose names clash once dots, case, suffixes and
/// unit words are taken into account.
const CLASHING_SOURCE: &str = "\
# HELP requests_total Requests served.
# TYPE requests_total counter
requests_total{code=\"200\"} 10
# HELP requests Requests, a counter named without the suffix.
# TYPE requests counter
requests 3
# HELP requests_created When the requests counter started.
# TYPE requests_created gauge
requests_created 1.7e9
# HELP queue_total Items queued now.
# TYPE queue_total gauge
queue_total 4
# HELP fetchTimeMs Fetch time in milliseconds.
# TYPE fetchTimeMs gauge
fetchTimeMs{diskName=\"sda\"} 12.5
# HELP fetch_time_ms Fetch time, in snake case.
# TYPE fetch_time_ms gauge
fetch_time_ms{disk_name=\"sda\"} 13.5
# HELP entropy_bits Entropy.
# TYPE entropy_bits gauge
entropy_bits 256
# HELP io_counter_ms IO time.
# TYPE io_counter_ms counter
io_counter_ms 77
# HELP latency_seconds A histogram.
# TYPE latency_seconds histogram
latency_seconds_bucket{le=\"0.1\"} 1
latency_seconds_bucket{le=\"+Inf\"} 2
latency_seconds_sum 0.3
latency_seconds_count 2
# HELP rpc_seconds A summary.
# TYPE rpc_seconds summary
rpc_seconds{quantile=\"0.5\"} 0.2
rpc_seconds_sum 1
rpc_seconds_count 5
# HELP odd_labels Labels the formats reserve.
# TYPE odd_labels gauge
odd_labels{instid=\"y\",le=\"q\",quantile=\"r\",fooBar=\"s\"} 1
# TYPE no_help gauge
no_help 5
";

/// A bpftrace script with a map named like the agent's own metrics, a
/// negative sum and a histogram; it exits at once, keeping its values.
const CLASHING_SCRIPT: &str = "\
// name: clash
BEGIN { @bytes = count(); @lost_events = count(); @total = sum(-5); @h = hist(3); exit(); }
";

fn prometheus_config(dir: &Path) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("pmda-prometheus/tests/fixtures");
    let url = |name: &str, target: &Path| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("file://{}\n", target.display())).unwrap();
    };
    let clash = dir.join("clash.txt.data");
    std::fs::write(&clash, CLASHING_SOURCE).unwrap();
    let x = dir.join("x.txt.data");
    std::fs::write(&x, "# HELP x A gauge.\n# TYPE x gauge\nx 1\n").unwrap();
    url("clash.url", &clash);
    url("a/x_c.url", &x);
    url("a_x/c.url", &x);
    url("node.url", &fixtures.join("node_exporter.txt"));
    url("promself.url", &fixtures.join("prometheus.txt"));
}

fn bpftrace_scripts(dir: &Path) {
    let shapes =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pmda-bpftrace/tests/fixtures/shapes.bt");
    std::fs::copy(shapes, dir.join("shapes.bt")).unwrap();
    std::fs::write(dir.join("clash.bt"), CLASHING_SCRIPT).unwrap();
}

/// `promtool check metrics` over `text`: its exit status and everything
/// it printed.
fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    // promtool stops reading at a parse error: a broken pipe here is its
    // verdict, read below.
    let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The Python client's OpenMetrics parser over `text`: the number of
/// families, or the parser's complaint.
fn openmetrics_parse(text: &str) -> Result<usize, String> {
    let mut child = Command::new(PYTHON)
        .args([
            "-c",
            "import sys\n\
             from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
             print(sum(1 for _ in text_string_to_metric_families(sys.stdin.read())))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|e| format!("{e}"))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn have_python_client() -> bool {
    Command::new(PYTHON)
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The sample names of Prometheus text (each sample line's name).
fn sample_names(text: &str) -> HashSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next().map(str::to_string))
        .collect()
}

#[test]
fn every_agent_passes_promtool_and_the_openmetrics_parser() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require(
        "promtool",
        have_program("promtool"),
        "Debian's prometheus package brings promtool (scripts/setup-systems.sh)",
    ) || !require(
        "python3-prometheus-client",
        have_python_client(),
        "Debian's python3-prometheus-client (scripts/setup-systems.sh)",
    ) || !require(
        "bpftrace (as root)",
        have_program("bpftrace") && root,
        "bpftrace missing or not root",
    ) || !require(
        "linux agent",
        linux_agent_available(),
        "our linux agent does not load here",
    ) {
        return;
    }
    let prom = tempfile::tempdir().unwrap();
    prometheus_config(prom.path());
    let bt = tempfile::tempdir().unwrap();
    bpftrace_scripts(bt.path());
    // Every agent the binary has (the nagios agent with its shipped
    // configuration).
    let agents = pcp_agent::agents::ALL_AGENTS.join(",");
    let (serve, addr) = start_serve(
        &agents,
        &[
            "--prometheus-config",
            prom.path().to_str().unwrap(),
            "--bpftrace-autostart",
            bt.path().to_str().unwrap(),
        ],
    );

    // Both scripts have run (they exit at once, keeping their maps).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = get(addr, "/metrics").expect("GET /metrics");
        assert_eq!(status, 200, "{body}");
        if body.contains("bpftrace_scripts_shapes_data_keyed")
            && body.contains("bpftrace_scripts_clash_data_lost_events")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the bpftrace scripts gave no values in 60 s:\n{}",
            serve.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Derived rates have a value from a context's second fetch on, so the
    // families settle after the first scrape: one more scrape, which the
    // OpenMetrics one below follows.
    let (status, text) = get(addr, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{text}");

    let families = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    let (ok, problems) = promtool(&text);
    assert!(
        ok && problems.trim().is_empty(),
        "promtool check metrics on {families} families:\n{problems}"
    );

    let (status, content_type, om) =
        request_accepting(addr, "GET", "/metrics", &[], PROMETHEUS_ACCEPT).unwrap();
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    assert!(
        om.ends_with("\n# EOF\n"),
        "{}",
        &om[om.len().saturating_sub(200)..]
    );
    let om_families = openmetrics_parse(&om).unwrap_or_else(|e| panic!("OpenMetrics: {e}"));
    assert_eq!(om_families, families, "the same families in both formats");

    // The clashes, each settled: every name below is a sample name.
    let names = sample_names(&text);
    for expected in [
        "mem_vmstat_pgscan_direct_total",
        "mem_vmstat_pgscan_direct_total_value_total",
        "mem_vmstat_pgscan_kswapd_total",
        "mem_vmstat_pgscan_kswapd_total_value_total",
        "prometheus_clash_requests_total",
        "prometheus_clash_requests_total_value_total",
        "prometheus_clash_requests_created_value",
        "mem_buddyinfo_total_value",
        "prometheus_a_x_c_x",
        "prometheus_a_x_c_x_value",
        "bpftrace_scripts_clash_data_bytes_total",
        "bpftrace_scripts_clash_data_bytes_value_total",
        "kernel_all_load",
        "simple_numfetch",
        "nagios_control_calls_total",
    ] {
        assert!(names.contains(expected), "no {expected} in /metrics");
    }
    assert!(
        text.contains("exported_le=\"0.1\"") && text.contains("foo_bar=\"s\""),
        "label names"
    );

    // Part of the namespace is named as in the whole of it.
    let (_, part) = get(addr, "/metrics?names=mem.vmstat,prometheus.a_x").unwrap();
    let part_names = sample_names(&part);
    assert!(part_names.contains("mem_vmstat_pgscan_direct_total_value_total"));
    assert!(part_names.contains("prometheus_a_x_c_x_value"));
    assert!(part_names.is_subset(&names));
    eprintln!(
        "promtool: {families} families clean; OpenMetrics parser: {om_families} families clean"
    );
}

/// A linux root whose /proc/loadavg holds loads no 32-bit float holds
/// exactly (0.06 is 0.05999999865889549 as a double).
fn load_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("proc")).unwrap();
    std::fs::write(
        root.path().join("proc/loadavg"),
        "0.06 0.58 0.26 1/234 5678\n",
    )
    .unwrap();
    root
}

#[test]
fn float_values_are_their_shortest_decimal_in_every_output() {
    let root = load_root();
    let (serve, addr) = start_serve("linux", &["--linux-root", root.path().to_str().unwrap()]);
    let (status, fetch) = get(addr, "/pmapi/fetch?names=kernel.all.load").unwrap();
    assert_eq!(status, 200, "{fetch}\n{}", serve.log());
    for v in ["0.06", "0.58", "0.26"] {
        assert!(fetch.contains(&format!("\"value\":{v}}}")), "{fetch}");
    }
    let (_, text) = get(addr, "/metrics?names=kernel.all.load").unwrap();
    let (_, _, om) = request_accepting(
        addr,
        "GET",
        "/metrics?names=kernel.all.load",
        &[],
        PROMETHEUS_ACCEPT,
    )
    .unwrap();
    for body in [&text, &om] {
        for v in ["0.06", "0.58", "0.26"] {
            assert!(body.contains(&format!("\"}} {v}\n")), "{body}");
        }
    }

    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "linux", "--linux-root"])
        .arg(root.path())
        .arg("--state-dir")
        .arg(state.path())
        .args(["watch", "--json", "-t", "0.1", "-s", "2", "kernel.all.load"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    for line in stdout.lines() {
        assert!(
            line.contains("{\"1 minute\":0.06,\"15 minute\":0.26,\"5 minute\":0.58}"),
            "{line}"
        );
    }
}

/// The PCP name, exposition family name and type of each family of
/// Prometheus text, from its `# PCP5` and `# TYPE` lines.
fn families(text: &str) -> std::collections::HashMap<String, (String, bool)> {
    let mut out = std::collections::HashMap::new();
    let mut pcp = None;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("# PCP5 ") {
            pcp = rest.split(' ').next().map(str::to_string);
        } else if let Some(rest) = l.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            if let (Some(p), Some(name), Some(kind)) = (pcp.take(), parts.next(), parts.next()) {
                out.insert(p, (name.to_string(), kind == "counter"));
            }
        }
    }
    out
}

#[test]
fn names_follow_pmproxy_where_they_are_valid() {
    if !require(
        "pmproxy, pmcd and curl",
        have_pmproxy_and_pmcd() && have_program("curl"),
        "PCP's pmproxy, a running pmcd and curl (scripts/setup-systems.sh)",
    ) || !require(
        "linux agent",
        linux_agent_available(),
        "our linux agent does not load here",
    ) {
        return;
    }
    // The subtrees with the cases: camelCase (mem.numa.util), twins
    // differing by _total (mem.vmstat), gauges ending in reserved words
    // (network.*.count, mem.buddyinfo.total), and plain names.
    let prefixes = "kernel.all,mem,network,disk.dev,hinv";
    let (proxy, proxy_addr) = start_pmproxy();
    let (serve, addr) = start_serve("linux", &[]);
    let target = format!("/metrics?names={prefixes}");
    // With `Connection: close` pmproxy 6.0.3 ends a chunked answer after
    // its first chunk; curl keeps the connection and reads it all.
    let theirs = Command::new("curl")
        .args(["-sf", &format!("http://{proxy_addr}{target}")])
        .output()
        .expect("run curl");
    assert!(theirs.status.success(), "curl pmproxy /metrics failed");
    let theirs = String::from_utf8_lossy(&theirs.stdout).into_owned();
    let (_, ours) = get(addr, &target).expect("serve /metrics");
    let (theirs, ours) = (families(&theirs), families(&ours));
    let mut same = 0;
    let mut why: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut common = 0;
    for (pcp, (p, counter)) in &theirs {
        let Some((o, _)) = ours.get(pcp) else {
            continue;
        };
        common += 1;
        // pmproxy names counters without _total; ours name the samples
        // FAMILY_total, the family being pmproxy's name less a _total.
        let plain = if *counter {
            format!("{}_total", p.strip_suffix("_total").unwrap_or(p))
        } else {
            p.clone()
        };
        let camel = p
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
        let reserved = ["_total", "_count", "_sum", "_bucket"]
            .iter()
            .any(|s| p.ends_with(s));
        let class = if *o == plain {
            same += 1;
            continue;
        } else if camel {
            "camelCase made snake_case"
        } else if !counter && reserved && *o == format!("{p}_value") {
            "non-counter with a reserved suffix, _value added"
        } else if o.ends_with("_value_total") || o.ends_with("_value") {
            "clash with another metric, _value added"
        } else {
            panic!("{pcp}: ours {o}, pmproxy {p}: no documented rule explains the difference");
        };
        why.entry(class)
            .or_default()
            .push(format!("{pcp} ({p} -> {o})"));
    }
    assert!(common > 500, "only {common} metrics in common");
    eprintln!(
        "{common} metrics named by both: {same} as pmproxy names them (counters with _total)"
    );
    for (class, names) in &why {
        eprintln!("  {} {class}, e.g. {}", names.len(), names[0]);
    }
    // The twins are one of the clashes.
    assert!(why["clash with another metric, _value added"]
        .iter()
        .any(|n| n.starts_with("mem.vmstat.pgscan_direct_total ")));
    drop((proxy, serve));
}
