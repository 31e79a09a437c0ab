//! `pcp-agent install` and `remove`, run as a user runs them, against a
//! real pmcd 6.0.3 (a private instance: its own port, pmcd.conf and PMNS,
//! so the system pmcd is never touched):
//!
//! - install returns once pmcd serves the agent, whatever its names hold
//!   ("InErrors"), and takes none of the agent's state;
//! - one agent at two domains (`--domain`), and another agent moved, all
//!   under one pmcd, answer as the in-process host does at those domains;
//! - `install --replace` then `remove` gives back PCP's own agent (linux,
//!   openmetrics, bpftrace): the same pmcd.conf, the same namespace, and
//!   PCP's agent answering again.

mod pmcd_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use pcp_agent::agents::AgentOptions;
use pcp_core::render::pminfo::{render, Flags};
use pmcd_support::*;

/// The binary under test.
const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");

/// `pcp-agent ARGS` with its output, bounded (an install waits 20 s at most).
fn cli(args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("PCP_DERIVED_CONFIG", "");
    run_bounded(&mut cmd, Duration::from_secs(90))
}

/// The options that aim install/remove at the private pmcd.
fn at(p: &PrivatePmcd) -> Vec<String> {
    vec![
        "--pmcd-conf".into(),
        p.conf.display().to_string(),
        "--pmns-dir".into(),
        p.pmns_dir.display().to_string(),
        "--pmcd-pid".into(),
        p.pid().to_string(),
        "--pmcd-host".into(),
        p.host(),
    ]
}

/// Runs `pcp-agent GLOBAL... COMMAND AGENT ARGS... --pmcd-*` and asserts
/// success; returns its output.
fn admin(p: &PrivatePmcd, global: &[&str], command: &str, args: &[&str]) -> Output {
    let mut all: Vec<String> = global.iter().map(|s| s.to_string()).collect();
    all.push(command.into());
    all.extend(args.iter().map(|s| s.to_string()));
    all.extend(at(p));
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let out = cli(&refs);
    assert!(
        out.status.success(),
        "pcp-agent {}: failed\n{}{}\npmcd log:\n{}",
        refs.join(" "),
        stdout(&out),
        stderr(&out),
        p.log()
    );
    out
}

/// A prometheus config.d with one file source: a gauge with two
/// instances and metrics whose names hold "Error" (node_exporter's do).
fn prometheus_config(dir: &Path, name: &str) -> PathBuf {
    let conf = dir.join(format!("{name}.d"));
    std::fs::create_dir_all(&conf).unwrap();
    let doc = dir.join(format!("{name}.prom"));
    std::fs::write(
        &doc,
        "# HELP temperature_celsius Room temperature\n\
         # TYPE temperature_celsius gauge\n\
         temperature_celsius{room=\"kitchen\"} 21.5\n\
         temperature_celsius{room=\"hall\"} 19\n\
         # HELP node_netstat_Udp_InErrors Statistic UdpInErrors.\n\
         # TYPE node_netstat_Udp_InErrors untyped\n\
         node_netstat_Udp_InErrors 3\n\
         # HELP node_netstat_Icmp_InErrors Statistic IcmpInErrors.\n\
         # TYPE node_netstat_Icmp_InErrors untyped\n\
         node_netstat_Icmp_InErrors 0\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("static.url"),
        format!("file://{}\n", doc.display()),
    )
    .unwrap();
    conf
}

fn pminfo(p: &PrivatePmcd, args: &[&str]) -> String {
    let out = p.run(p.client("pminfo").args(args));
    format!("{}{}", stdout(&out), stderr(&out))
}

/// The command lines of pmcd's agents.
fn agent_cmdlines(p: &PrivatePmcd) -> Vec<String> {
    p.agent_pids()
        .iter()
        .filter_map(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .collect()
}

/// The pids of pmcd's agents whose command line holds `what`.
fn agent_pids_running(p: &PrivatePmcd, what: &str) -> Vec<u32> {
    p.agent_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| {
                    String::from_utf8_lossy(&c)
                        .replace('\0', " ")
                        .contains(what)
                })
                .unwrap_or(false)
        })
        .collect()
}

#[test]
fn install_waits_for_the_agent_and_takes_no_agent_state() {
    if !require_pmcd("install into a private pmcd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = prometheus_config(dir.path(), "node");
    let state = dir.path().join("state");
    let p = PrivatePmcd::start_empty();
    let global = [
        "--state-dir",
        state.to_str().unwrap(),
        "--prometheus-config",
        conf.to_str().unwrap(),
        "--prometheus-root",
        "openmetrics",
    ];
    // pminfo lists openmetrics.static.node_netstat_Udp_InErrors: install
    // must see the agent serving (it took "Error" for a failure and timed
    // out after 20 s while pmcd served every name).
    let out = admin(&p, &global, "install", &["prometheus"]);
    assert!(
        stderr(&out).is_empty(),
        "the installer wrote:\n{}",
        stderr(&out)
    );
    assert!(
        pminfo(&p, &["-f", "openmetrics.static.node_netstat_Udp_InErrors"]).contains("value 3")
    );
    // The agent pmcd started holds the state directory, not the installer.
    let lock = std::fs::read_to_string(state.join("openmetrics").join(".lock")).unwrap();
    let holder: u32 = lock.trim().parse().unwrap();
    assert!(p.agent_pids().contains(&holder), "lock held by {holder}");
    // Again, while the agent runs: nothing to change, and nothing said
    // about the agent's state (it said "pmdaopenmetrics(PID) Warning:
    // state directory ... is in use by another process").
    let out = admin(&p, &global, "install", &["prometheus"]);
    assert_eq!(stdout(&out).trim(), "nothing to change");
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    // An install that cannot start is refused before pmcd is touched.
    let before = std::fs::read_to_string(&p.conf).unwrap();
    let mut args = vec![
        "--prometheus-config".to_string(),
        "/nonexistent/config.d".into(),
        "install".into(),
        "prometheus".into(),
    ];
    args.extend(at(&p));
    let out = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("config directory /nonexistent/config.d does not exist"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&p.conf).unwrap(), before);
}

/// `pminfo -dmtTl` of `root` through pmcd (over the unix socket, so the
/// context labels match the in-process host's) and the same for the
/// in-process host.
fn pminfo_pair(p: &PrivatePmcd, opts: &AgentOptions, root: &str) -> (String, String) {
    let host = opts.build_host().expect("in-process host");
    host.wait_ready(Duration::from_secs(10));
    let metrics = host.traverse(root).expect("in-process names");
    let flags = Flags {
        desc: true,
        pmid: true,
        oneline: true,
        help: true,
        labels: true,
        ..Default::default()
    };
    let out = p.run(
        client("pminfo")
            .arg("-h")
            .arg(p.unix_host())
            .arg("-dmtTl")
            .arg(root),
    );
    (stdout(&out), render(&host, &metrics, flags))
}

#[test]
fn one_agent_at_two_domains_and_a_moved_agent_under_one_pmcd() {
    if !require_pmcd("agents at other domains under a private pmcd") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let s = state.to_str().unwrap();
    let (ca, cb) = (
        prometheus_config(dir.path(), "a"),
        prometheus_config(dir.path(), "b"),
    );
    let p = PrivatePmcd::start_empty();
    let a = [
        "--state-dir",
        s,
        "--prometheus-config",
        ca.to_str().unwrap(),
        "--prometheus-root",
        "prom_a",
    ];
    let b = [
        "--state-dir",
        s,
        "--prometheus-config",
        cb.to_str().unwrap(),
        "--prometheus-root",
        "prom_b",
    ];
    admin(&p, &a, "install", &["prometheus"]);
    admin(&p, &b, "install", &["prometheus", "--domain", "498"]);
    admin(
        &p,
        &["--state-dir", s],
        "install",
        &["simple", "--domain", "499"],
    );
    let conf = std::fs::read_to_string(&p.conf).unwrap();
    for want in [
        "prometheus\t144\t",
        "prometheus_498\t498\t",
        "pmda prometheus --notready -d 498 ",
        "simple_499\t499\t",
        "pmda simple --notready -d 499",
    ] {
        assert!(conf.contains(want), "{want:?} not in\n{conf}");
    }

    // Every identifier in its own domain.
    let pmids = pminfo(&p, &["-m", "prom_a", "prom_b", "simple"]);
    for line in pmids.lines().filter(|l| !l.is_empty()) {
        let want = match line.split('.').next() {
            Some("prom_a") => "PMID: 144.",
            Some("prom_b") => "PMID: 498.",
            Some("simple") => "PMID: 499.",
            _ => panic!("unexpected line {line:?}"),
        };
        assert!(line.contains(want), "{line}");
    }
    let desc = pminfo(
        &p,
        &["-d", "prom_b.static.temperature_celsius", "simple.color"],
    );
    assert!(desc.contains("InDom: 498."), "{desc}");
    assert!(desc.contains("InDom: 499.0"), "{desc}");
    let values = pminfo(
        &p,
        &["-f", "prom_b.static.temperature_celsius", "simple.color"],
    );
    for want in [
        "inst [0 or \"0 room:kitchen\"] value 21.5",
        "inst [1 or \"1 room:hall\"] value 19",
        "inst [0 or \"red\"]",
        "inst [2 or \"blue\"]",
    ] {
        assert!(values.contains(want), "{want:?} not in\n{values}");
    }
    // Descriptors, help (metric and instance domain), labels: as the
    // in-process host serves the same agents at the same domains.
    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["prometheus".into(), "simple".into()];
    opts.state_dir = Some(dir.path().join("state-in-process"));
    opts.prometheus_config = Some(cb.clone());
    opts.prometheus_root = "prom_b".into();
    opts.agent_domain = vec!["prometheus=498".into(), "simple=499".into()];
    for root in ["prom_b.static", "simple"] {
        let (through_pmcd, in_process) = pminfo_pair(&p, &opts, root);
        assert_eq!(through_pmcd, in_process, "{root}");
    }
    let help = pminfo(&p, &["-T", "simple.color"]);
    assert!(help.contains("each fetch adds 1 to red"), "{help}");

    // Stores reach the moved agents.
    for (metric, value) in [("prom_b.control.debug", "1"), ("simple.numfetch", "7000")] {
        let out = p.run(p.client("pmstore").args([metric, value]));
        assert!(
            stdout(&out).contains(&format!("new value={value}")),
            "{metric}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    assert!(pminfo(&p, &["-f", "prom_b.control.debug"]).contains("value 1"));

    // Removing the copy at 498 leaves the one at 144 serving.
    admin(&p, &b, "remove", &["prometheus", "--domain", "498"]);
    assert!(!pminfo(&p, &["prom_b"]).contains("prom_b."));
    assert!(pminfo(&p, &["-f", "prom_a.static.node_netstat_Udp_InErrors"]).contains("value 3"));
    let conf = std::fs::read_to_string(&p.conf).unwrap();
    assert!(!conf.contains("prometheus_498"), "{conf}");
    assert!(conf.contains("prometheus\t144\t"), "{conf}");
}

/// The names and PMIDs of a PMNS file (`pminfo -n FILE -m`), sorted:
/// pmnsadd may put a restored subtree elsewhere in the file.
fn pmns_listing(root: &Path) -> Vec<String> {
    let out = run_bounded(
        client("pminfo").arg("-n").arg(root).arg("-m"),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut v: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    v.sort();
    v
}

/// `install AGENT --replace` over PCP's own agent in `p`, then `remove`:
/// while installed our agent runs at its domain; after, pmcd.conf is what
/// it was byte for byte, the namespace has the same names and PMIDs, and
/// PCP's agent (its command line holds `theirs`) runs and answers again,
/// `answers` says how.
fn replace_then_remove(
    p: &PrivatePmcd,
    global: &[&str],
    agent: &str,
    theirs: &str,
    answers: &dyn Fn(&PrivatePmcd) -> bool,
) {
    let conf_before = std::fs::read_to_string(&p.conf).unwrap();
    let root = p.pmns_dir.join("root");
    let pmns_before = pmns_listing(&root);
    assert!(
        answers(p),
        "PCP's agent does not answer at first:\n{}",
        p.log()
    );

    let theirs_before = agent_pids_running(p, theirs);
    assert!(!theirs_before.is_empty(), "PCP's agent does not run");

    admin(p, global, "install", &[agent, "--replace"]);
    let cmdlines = agent_cmdlines(p);
    assert!(
        cmdlines
            .iter()
            .any(|c| c.contains(BIN) && c.contains(&format!(" pmda {agent} "))),
        "our agent does not run: {cmdlines:?}"
    );
    // PCP's agent is gone: pmcd closed its pipe, and install stopped it if
    // it lingered (pmdabpftrace's Python child holds the pipe open).
    assert!(
        wait_until(Duration::from_secs(5), || agent_pids_running(p, theirs)
            .is_empty()),
        "PCP's agent still runs: {:?}",
        agent_cmdlines(p)
    );
    let record = p
        .conf
        .with_file_name(format!("pmcd.conf.replaced-by-pcp-agent-{agent}"));
    assert!(record.exists(), "nothing kept for remove");

    let out = admin(p, global, "remove", &[agent]);
    assert!(stdout(&out).contains("restore agent"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(&p.conf).unwrap(),
        conf_before,
        "pmcd.conf differs after install --replace and remove"
    );
    assert_eq!(pmns_listing(&root), pmns_before, "the namespace differs");
    assert!(!record.exists());
    // A new process of PCP's agent, and none of ours.
    assert!(
        agent_pids_running(p, theirs)
            .iter()
            .any(|pid| !theirs_before.contains(pid)),
        "PCP's agent was not started again: {:?}",
        agent_cmdlines(p)
    );
    assert!(
        wait_until(Duration::from_secs(10), || agent_pids_running(p, BIN)
            .is_empty()),
        "ours still runs: {:?}",
        agent_cmdlines(p)
    );
    assert!(
        wait_until(Duration::from_secs(30), || answers(p)),
        "PCP's agent does not answer again:\n{}",
        p.log()
    );
}

#[test]
fn replace_and_remove_give_back_pmdalinux() {
    let pmdalinux = "/var/lib/pcp/pmdas/linux/pmdalinux";
    let system_root = "/var/lib/pcp/pmns/root";
    if !require_pmcd("pmdalinux's stand-in under a private pmcd")
        || !pcp_core::testing::require(
            "pmdalinux",
            Path::new(pmdalinux).exists() && Path::new(system_root).exists(),
            "PCP's linux agent and PMNS",
        )
    {
        return;
    }
    let root = std::fs::read_to_string(system_root).unwrap();
    let p = PrivatePmcd::start_with(
        &[
            PMCD_DSO_LINE.to_string(),
            format!("linux\t60\tpipe\tbinary\t\t{pmdalinux}"),
        ],
        &root,
        &[],
    );
    let state = tempfile::tempdir().unwrap();
    replace_then_remove(
        &p,
        &["--state-dir", state.path().to_str().unwrap()],
        "linux",
        pmdalinux,
        &|p| pminfo(p, &["-f", "kernel.all.load"]).contains("inst [15 or \"15 minute\"] value"),
    );
}

#[test]
fn replace_and_remove_give_back_pmdaopenmetrics() {
    let script = "/var/lib/pcp/pmdas/openmetrics/pmdaopenmetrics.python";
    let python_ok = Command::new("/usr/bin/python3")
        .args(["-c", "import pcp.pmda, requests"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !require_pmcd("pmdaopenmetrics's stand-in under a private pmcd")
        || !pcp_core::testing::require(
            "pmdaopenmetrics",
            Path::new(script).exists() && python_ok,
            "PCP's openmetrics agent with python3-pcp and python3-requests",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = prometheus_config(dir.path(), "node");
    let p = PrivatePmcd::start(
        &[
            PMCD_DSO_LINE.to_string(),
            format!(
                "openmetrics\t144\tpipe\tbinary notready\t/usr/bin/python3 {script} -c {}",
                conf.display()
            ),
        ],
        &["openmetrics\t144:*:*".to_string()],
    );
    assert!(
        p.wait_for("openmetrics.static", Duration::from_secs(30)),
        "{}",
        p.log()
    );
    replace_then_remove(
        &p,
        &[
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "--prometheus-config",
            conf.to_str().unwrap(),
            "--prometheus-root",
            "openmetrics",
        ],
        "prometheus",
        "pmdaopenmetrics.python",
        &|p| pminfo(p, &["-f", "openmetrics.static.temperature_celsius"]).contains("value 21.5"),
    );
}

#[test]
fn replace_and_remove_give_back_pmdabpftrace() {
    let script = "/var/lib/pcp/pmdas/bpftrace/pmdabpftrace.python";
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require_pmcd("pmdabpftrace's stand-in under a private pmcd")
        || !pcp_core::testing::require(
            "pmdabpftrace",
            Path::new(script).exists() && have_python_pcp(),
            "PCP's bpftrace agent with python3-pcp",
        )
        || !pcp_core::testing::require(
            "bpftrace",
            root && pcp_core::testing::have_program("bpftrace"),
            "bpftrace, as root",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // PCP's agent reads autostart scripts from $PCP_SYSCONF_DIR/bpftrace/autostart.
    let etc = dir.path().join("etc");
    let autostart = etc.join("bpftrace").join("autostart");
    std::fs::create_dir_all(&autostart).unwrap();
    std::fs::write(
        autostart.join("ticks.bt"),
        "// name: ticks\ninterval:ms:100 { @ticks = count(); }\n",
    )
    .unwrap();
    let p = PrivatePmcd::start(
        &[
            PMCD_DSO_LINE.to_string(),
            format!(
                "bpftrace\t151\tpipe\tbinary\t/usr/bin/env PCP_SYSCONF_DIR={} /usr/bin/python3 {script}",
                etc.display()
            ),
        ],
        &["bpftrace\t151:*:*".to_string()],
    );
    let ticking = |p: &PrivatePmcd| {
        pminfo(p, &["-f", "bpftrace.scripts.ticks.data.ticks"]).contains("value ")
    };
    assert!(
        wait_until(Duration::from_secs(30), || ticking(&p)),
        "PCP's pmdabpftrace never ran the script:\n{}",
        p.log()
    );
    replace_then_remove(
        &p,
        &[
            "--state-dir",
            dir.path().join("state").to_str().unwrap(),
            "--bpftrace-autostart",
            autostart.to_str().unwrap(),
        ],
        "bpftrace",
        "pmdabpftrace.python",
        &ticking,
    );
}
