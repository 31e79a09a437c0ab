//! The Nagios agent under a real, private pmcd (registered as `pcp-agent
//! install nagios` registers it), in `serve`'s `/metrics` with thresholds
//! as labels, and in `watch`: the same check results reach PCP's clients,
//! Prometheus's text format and the terminal.

mod install_support;
mod pmcd_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use install_support::install_options;
use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd;
use pmcd_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");

/// A config directory with check_dummy (a fixed state and output) and a
/// script plugin printing perfdata with thresholds.
fn config(dir: &Path) -> PathBuf {
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::write(
        conf.join("dummy.check"),
        "check_dummy 1 careful\nINTERVAL: 600\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("temp.check"),
        "echo 'TEMP OK | cpu=41.5;70;80;0;100 fan=1200rpm'\nINTERVAL: 600\n",
    )
    .unwrap();
    conf
}

fn have_plugins() -> bool {
    pcp_core::testing::require(
        "monitoring-plugins",
        Path::new("/usr/lib/nagios/plugins/check_dummy").exists(),
        "Debian's monitoring-plugins-basic (scripts/setup-systems.sh installs it)",
    )
}

#[test]
fn nagios_checks_reach_pcp_clients_through_pmcd() {
    if !require_pmcd("the nagios agent under a private pmcd") || !have_plugins() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["nagios".into()];
    opts.state_dir = Some(tmp.path().join("state"));
    opts.nagios_config = Some(config(tmp.path()));
    let p = PrivatePmcd::start_empty();
    let mut io = install_options(&p, "nagios", pmda_nagios::DOMAIN, vec!["nagios".into()]);
    io.agent_args = opts.args_for("nagios");
    pmcd::install(&io).unwrap_or_else(|e| panic!("install: {e}\n{}", p.log()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let o = p.run(p.tool("pminfo").args(["-f", "nagios.dummy", "nagios.temp"]));
        let text = stdout(&o);
        if text.contains("nagios.temp.perf.cpu.value") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        out.contains("nagios.dummy.state\n    value 1\n"),
        "{out}\n{}",
        p.log()
    );
    assert!(
        out.contains("nagios.dummy.output\n    value \"WARNING: careful\"\n"),
        "{out}"
    );
    assert!(
        out.contains("nagios.temp.perf.cpu.value\n    value 41.5\n"),
        "{out}"
    );
    assert!(
        out.contains("nagios.temp.perf.cpu.warn_high\n    value 70\n"),
        "{out}"
    );
    assert!(
        out.contains("nagios.temp.perf.fan.value\n    value 1200\n"),
        "{out}"
    );
    let labels = stdout(&p.run(p.tool("pminfo").args(["-l", "nagios.temp.perf.fan.value"])));
    assert!(labels.contains("\"uom\":\"rpm\""), "{labels}");
    let cpu = stdout(&p.run(p.tool("pminfo").args(["-l", "nagios.temp.perf.cpu.value"])));
    assert!(
        cpu.contains("\"warn\":\"70\"") && cpu.contains("\"crit\":\"80\""),
        "{cpu}"
    );
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn nagios_checks_in_serve_and_watch() {
    if !have_plugins() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let conf = config(tmp.path());
    let port = a_free_port();
    let mut serve = Command::new(BIN)
        .args(["--agents", "nagios", "--nagios-config"])
        .arg(&conf)
        .arg("--state-dir")
        .arg(tmp.path().join("state"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        if pcp_core::testing::port_open(&format!("127.0.0.1:{port}")) {
            let m = get(port, "/metrics");
            if m.contains("nagios_temp_perf_cpu_value") {
                break m;
            }
        }
        assert!(Instant::now() < deadline, "serve did not show the checks");
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = serve.kill();
    let _ = serve.wait();
    let line = metrics
        .lines()
        .find(|l| l.starts_with("nagios_temp_perf_cpu_value{"))
        .unwrap_or_else(|| panic!("{metrics}"));
    for want in [
        "crit=\"80\"",
        "warn=\"70\"",
        "label=\"cpu\"",
        "max=\"100\"",
        "min=\"0\"",
    ] {
        assert!(line.contains(want), "{want} missing: {line}");
    }
    assert!(line.ends_with(" 41.5"), "{line}");

    let out = Command::new(BIN)
        .args(["--agents", "nagios", "--nagios-config"])
        .arg(&conf)
        .args([
            "watch",
            "-s",
            "2",
            "-t",
            "0.5",
            "nagios.dummy.state",
            "nagios.temp.perf.cpu.value",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Sample rows as pmrep prints them (no timestamp unless asked): the
    // state and the temperature.
    let rows: Vec<Vec<f64>> = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let nums: Vec<f64> = w.iter().filter_map(|x| x.parse().ok()).collect();
            (w.len() == 2 && nums.len() == 2).then_some(nums)
        })
        .collect();
    assert_eq!(rows, vec![vec![1.0, 41.5], vec![1.0, 41.5]], "{text}");
}
