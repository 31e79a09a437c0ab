//! One binary per node: `pcp-agent pmcd` started where PCP is not
//! installed. The test hides every PCP file (its configuration, /var/lib/pcp,
//! /usr/lib/pcp, /usr/share/pcp, /usr/libexec/pcp, /run/pcp, pcp.conf and
//! libpcp's shared objects) in a mount namespace of its own and starts our
//! binary there, alone; PCP's clients outside the namespace (the machine's
//! network is shared) then reach it as they reach a node's pmcd: `pminfo`
//! values, `pmval` rates and `pmrep :vmstat` rows.

mod ours_support;
mod pmcd_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pmcd_support::*;

const PCP_PATHS: &[&str] = &[
    "/etc/pcp",
    "/var/lib/pcp",
    "/usr/lib/pcp",
    "/usr/share/pcp",
    "/usr/libexec/pcp",
    "/run/pcp",
];

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn can_unshare_mounts() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The shell line that hides PCP, checks it is gone, and execs our pmcd.
fn hide_pcp_and_run(bin: &str, port: u16, state: &Path) -> String {
    let mut s = String::from("set -e\n");
    for p in PCP_PATHS {
        s += &format!("if [ -d {p} ]; then mount -t tmpfs none {p}; fi\n");
    }
    for f in ["/etc/pcp.conf", "/etc/pcp.env"] {
        s += &format!("if [ -e {f} ]; then mount --bind /dev/null {f}; fi\n");
    }
    s += "for f in /usr/lib/*/libpcp*.so* /usr/lib/libpcp*.so*; do \
          if [ -f \"$f\" ]; then mount --bind /dev/null \"$f\"; fi; done\n";
    // Nothing of PCP is left to read.
    s += "if find /etc/pcp /var/lib/pcp /usr/lib/pcp -mindepth 1 2>/dev/null | grep -q .; then exit 8; fi\n";
    s += "if [ -s /etc/pcp.conf ]; then exit 8; fi\n";
    s += &format!(
        "exec {bin} --agents linux,simple --state-dir {} pmcd --listen 127.0.0.1:{port}\n",
        state.display()
    );
    s
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

#[test]
fn pcps_clients_reach_the_binary_alone_with_pcp_hidden() {
    if !require_pmcd("PCP's clients against pcp-agent pmcd")
        || !pcp_core::testing::require(
            "unshare -m (root)",
            can_unshare_mounts(),
            "a mount namespace hides PCP's files",
        )
        || !pcp_core::testing::require("python3-pcp", have_python_pcp(), "pmrep")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pmcd.log");
    let port = free_port();
    let script = hide_pcp_and_run(
        env!("CARGO_BIN_EXE_pcp-agent"),
        port,
        &dir.path().join("state"),
    );
    let child = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env_remove("PCP_DERIVED_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut ours = Killed(child);
    let addr = format!("127.0.0.1:{port}");
    let end = Instant::now() + Duration::from_secs(30);
    while !pcp_core::testing::port_open(&addr) {
        if let Ok(Some(status)) = ours.0.try_wait() {
            panic!(
                "pcp-agent pmcd ended ({status}): {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < end, "pcp-agent pmcd never listened");
        std::thread::sleep(Duration::from_millis(100));
    }

    let run = |program: &str, args: &[&str]| -> String {
        let mut c = client(program);
        c.arg("-h").arg(&addr).args(args);
        let out = run_bounded(&mut c, Duration::from_secs(60));
        let text = stdout(&out) + &stderr(&out);
        assert!(out.status.success(), "{program} {args:?}:\n{text}");
        text
    };
    // Values, as a node's pmcd gives them.
    let text = run(
        "pminfo",
        &["-f", "hinv.ncpu", "kernel.all.load", "simple.color"],
    );
    let ncpu = std::thread::available_parallelism().unwrap().get();
    assert!(
        text.contains(&format!("hinv.ncpu\n    value {ncpu}\n")),
        "{text}"
    );
    assert!(text.contains("inst [1 or \"1 minute\"] value "), "{text}");
    assert!(text.contains("inst [2 or \"blue\"] value "), "{text}");
    // pmcd's own metrics, which clients and pmproxy read.
    let text = run("pminfo", &["-f", "pmcd.numagents", "pmcd.version"]);
    assert!(text.contains("pmcd.numagents\n    value "), "{text}");
    // A counter as a rate.
    let text = run("pmval", &["-t", "0.5", "-s", "3", "kernel.all.pswitch"]);
    let rates: Vec<f64> = text
        .lines()
        .filter_map(|l| l.trim().parse::<f64>().ok())
        .collect();
    assert!(rates.len() >= 2, "{text}");
    // pmrep's :vmstat preset (PCP's derived metrics are the client's).
    let mut c = client("pmrep");
    c.env_remove("PCP_DERIVED_CONFIG")
        .args(["-h", &addr, "-t", "0.5", "-s", "2", ":vmstat"]);
    let out = run_bounded(&mut c, Duration::from_secs(60));
    let text = stdout(&out) + &stderr(&out);
    assert!(out.status.success(), "pmrep :vmstat:\n{text}");
    let last = text.lines().last().unwrap_or("");
    let numbers = last
        .split_whitespace()
        .filter(|t| t.trim_end_matches(['k', 'M', 'G']).parse::<f64>().is_ok())
        .count();
    assert!(numbers >= 10, "pmrep :vmstat:\n{text}");
    // And it is still running, alone in its namespace.
    assert!(ours.0.try_wait().unwrap().is_none());
}
