//! PCP 6.0.3's own tools against `pcp-agent pmcd` (our linux and simple
//! agents, no PCP daemon involved): pmval converts counters to rates,
//! pmprobe, pmstore (allowed on the unix socket, refused over TCP by the
//! access rules), the Python PMAPI, pmrep's :vmstat, :sar and
//! :iostat-dktx presets, pmlogger writing an archive pmdumplog reads back,
//! and a private pmproxy serving /pmapi/fetch and /metrics from us.

mod ours_support;
mod pmcd_support;
mod serve_util;

use std::time::Duration;

use ours_support::*;
use pmcd_support::*;

/// Store on the unix socket only, as pmcd's stock configuration has it.
const ACCESS: &str = "disallow \".*\" : store;\nallow \"unix:\" : all;\n";

fn start() -> (Ours, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let access = dir.path().join("access");
    std::fs::write(&access, ACCESS).unwrap();
    let ours = Ours::start(
        &global_args("linux,simple", &dir.path().join("state"), None),
        &["--access", access.to_str().unwrap()],
    );
    (ours, dir)
}

fn tool(program: &str, host: &str) -> std::process::Command {
    let mut c = client(program);
    c.arg("-h").arg(host);
    c
}

fn run(c: &mut std::process::Command) -> (bool, String) {
    let out = run_bounded(c, Duration::from_secs(60));
    (out.status.success(), stdout(&out) + &stderr(&out))
}

#[test]
fn pmval_pmprobe_pmstore_and_the_python_pmapi() {
    if !require_pmcd("PCP's clients against pcp-agent pmcd") {
        return;
    }
    let (ours, _dir) = start();
    let h = ours.tcp();
    // A counter comes out as a rate.
    let (ok, text) = run(tool("pmval", &h).args(["-s", "3", "-t", "0.3", "kernel.all.pswitch"]));
    assert!(ok && text.contains("(converting to"), "{text}");
    let rates = report_numbers(&text);
    assert_eq!(rates.len(), 3, "{text}");
    assert!(rates.iter().all(|r| *r > 0.0), "{text}");
    // An instance domain, narrowed with -i (a profile).
    let (ok, text) = run(tool("pmval", &h).args(["-s", "1", "-i", "red,blue", "simple.color"]));
    assert!(
        ok && text.contains("red") && !text.contains("green"),
        "{text}"
    );

    let (ok, text) = run(tool("pmprobe", &h).args(["-v", "simple", "pmcd.numclients"]));
    assert!(ok, "{text}");
    assert!(text.contains("simple.color 3 "), "{text}");
    assert!(text.contains("simple.version 1 \"0.1.0\""), "{text}");
    assert!(text.contains("pmcd.numclients 1 "), "{text}");

    // Stores: refused over TCP, allowed on the unix socket.
    let (_, text) = run(tool("pmstore", &h).args(["simple.numfetch", "4000"]));
    assert!(text.contains("No permission"), "{text}");
    let (ok, text) = run(tool("pmstore", &ours.unix()).args(["simple.numfetch", "4000"]));
    assert!(ok && text.contains("new value=4000"), "{text}");
    let (_, text) = run(tool("pminfo", &h).args(["-f", "simple.numfetch"]));
    let v: u32 = text
        .split("value ")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!((4000..4010).contains(&v), "{text}");

    if pcp_core::testing::require("python3-pcp", have_python_pcp(), "the Python PMAPI") {
        let script = r#"
import sys
from pcp import pmapi
import cpmapi as c
ctx = pmapi.pmContext(c.PM_CONTEXT_HOST, sys.argv[1])
names = ("simple.color", "simple.version", "kernel.all.load")
pmids = ctx.pmLookupName(names)
descs = ctx.pmLookupDescs(pmids)
res = ctx.pmFetch(pmids)
for i, n in enumerate(names):
    for j in range(res.contents.get_numval(i)):
        v = ctx.pmExtractValue(res.contents.get_valfmt(i), res.contents.get_vlist(i, j), descs[i].type, descs[i].type)
        print(n, res.contents.get_inst(i, j), v.dref(descs[i].type))
print("indom", ctx.pmGetInDom(descs[0])[1])
print("text", ctx.pmLookupText(pmids[0]))
print("labels", ctx.pmLookupLabels(pmids[1]))
print("children", ctx.pmGetChildren("simple"))
print("host", ctx.pmGetContextHostName())
"#;
        let (ok, text) = run(client("/usr/bin/python3").args(["-c", script, &h]));
        assert!(ok, "{text}");
        assert!(text.contains("simple.color 2 "), "{text}");
        assert!(text.contains("simple.version -1 0.1.0"), "{text}");
        assert!(text.contains("kernel.all.load 15 "), "{text}");
        assert!(text.contains("indom ['red', 'green', 'blue']"), "{text}");
        assert!(text.contains("'agent': 'simple'"), "{text}");
        assert!(
            text.contains("children ['numfetch', 'color', 'time', 'version']"),
            "{text}"
        );
        let host = pcp_core::server::facts::hostname();
        assert!(text.contains(&format!("host {host}")), "{text}");
    }
}

#[test]
fn pmrep_presets_print_values() {
    if !require_pmcd("pmrep against pcp-agent pmcd")
        || !pcp_core::testing::require("python3-pcp", have_python_pcp(), "pmrep")
    {
        return;
    }
    let (ours, _dir) = start();
    for preset in [":vmstat", ":sar", ":iostat-dktx"] {
        let mut cmd = tool("pmrep", &ours.tcp());
        // The presets use PCP's derived metrics (kernel.cpu.util.*).
        cmd.env_remove("PCP_DERIVED_CONFIG");
        let (ok, text) = run(cmd.args(["-t", "0.5", "-s", "2", preset]));
        assert!(ok && !text.contains("Invalid metric"), "{preset}:\n{text}");
        // The last row (the second sample: rates known) holds numbers.
        let last = text.lines().last().unwrap_or("");
        let numbers = last
            .split(|c: char| c.is_whitespace() || c == '|')
            .filter(|t| {
                t.trim_end_matches(['k', 'M', 'G', 'B'])
                    .parse::<f64>()
                    .is_ok()
            })
            .count();
        assert!(
            numbers >= 3 && text.lines().count() >= 3,
            "{preset}:\n{text}"
        );
    }
}

#[test]
fn pmlogger_writes_an_archive_pmdumplog_reads() {
    if !require_pmcd("pmlogger against pcp-agent pmcd")
        || !pcp_core::testing::require(
            "pmlogger",
            pcp_core::testing::have_program("pmlogger"),
            "pmlogger",
        )
    {
        return;
    }
    let (ours, dir) = start();
    let conf = dir.path().join("logger.conf");
    std::fs::write(
        &conf,
        "log mandatory on every 1 second {\n    simple.color\n    simple.numfetch\n    kernel.all.load\n}\n",
    )
    .unwrap();
    let archive = dir.path().join("arch");
    let run_dir = dir.path().join("run");
    std::fs::create_dir_all(&run_dir).unwrap();
    let (ok, text) = run(client("pmlogger")
        .env("PCP_RUN_DIR", &run_dir)
        .env("PCP_TMP_DIR", &run_dir)
        .args(["-h", &ours.tcp(), "-s", "3", "-c"])
        .arg(&conf)
        .arg("-l")
        .arg(dir.path().join("logger.log"))
        .arg(&archive));
    let log = std::fs::read_to_string(dir.path().join("logger.log")).unwrap_or_default();
    assert!(ok, "{text}\n{log}");
    let arch = archive.display().to_string();
    let (ok, dump) = run(client("pmdumplog").args(["-a", &arch]));
    assert!(ok, "{dump}");
    for want in [
        "simple.color",
        "simple.numfetch",
        "kernel.all.load",
        "pmcd.pid",
        "\"red\"",
        "\"1 minute\"",
    ] {
        assert!(dump.contains(want), "{want} not in pmdumplog:\n{dump}");
    }
    let host = pcp_core::server::facts::hostname();
    assert!(
        dump.contains(&format!("Performance metrics from host {host}")),
        "{dump}"
    );
    // Three samples of simple.color, each with its three colours.
    let (ok, values) = run(client("pmdumplog").args([&arch, "simple.color"]));
    assert!(ok, "{values}");
    assert_eq!(values.matches("simple.color").count(), 3, "{values}");
    assert_eq!(
        values.matches("inst [2 or \"blue\"]").count(),
        3,
        "{values}"
    );
}

#[test]
fn pmproxy_reaches_our_host_for_fetch_and_metrics() {
    if !require_pmcd("pmproxy against pcp-agent pmcd")
        || !pcp_core::testing::require(
            "pmproxy",
            std::path::Path::new(serve_util::PMPROXY).exists(),
            "pmproxy (package pcp)",
        )
    {
        return;
    }
    let (ours, _dir) = start();
    let (_pmproxy, addr) = serve_util::start_pmproxy();
    let spec = ours.tcp();
    let (status, body) = serve_util::get(
        addr,
        &format!("/pmapi/fetch?hostspec={spec}&names=simple.color,simple.version,kernel.all.load"),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let values = v["values"].as_array().unwrap_or_else(|| panic!("{body}"));
    assert_eq!(values.len(), 3, "{body}");
    assert_eq!(values[0]["name"], "simple.color");
    assert_eq!(values[0]["instances"].as_array().unwrap().len(), 3);
    assert_eq!(values[1]["instances"][0]["value"], "0.1.0");
    assert_eq!(values[2]["pmid"], "60.2.0");
    let (status, body) = serve_util::get(
        addr,
        &format!("/metrics?hostspec={spec}&names=simple,kernel.all.load"),
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("# PCP5 simple.color 253.0.1 32 253.0 instant none"),
        "{body}"
    );
    assert!(body.contains("instname=\"blue\""), "{body}");
    assert!(body.contains("kernel_all_load{"), "{body}");
}
