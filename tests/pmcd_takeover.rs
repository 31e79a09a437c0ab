//! `install prometheus --replace` keeps pmdaopenmetrics's numbers: under
//! one private pmcd, with pmlogger recording across the switch, PCP's own
//! pmdaopenmetrics serves two sources (numbered in the order it met them,
//! its instances in the order it saw them), then our agent replaces it at
//! domain 144. The same names keep the same PMIDs, instance domains and
//! instance ids, and the archive reads straight through across the switch.
//! Back the other way, `remove prometheus` restores pmdaopenmetrics, which
//! keeps the ids ours gave to the sources and instances it met meanwhile
//! (met in an order pmdaopenmetrics alone would number differently).
//! pmlogger is stopped before that: it exits when it revalidates its
//! metrics while a restarted agent is not ready yet (PM_ERR_AGAIN), which
//! pmdaopenmetrics's start-up nearly always causes; ours is ready with its
//! handshake, and pmlogger must go through the switch to it.
//!
//! Our agent, run by pmcd without `--state-dir`, keeps its ids in
//! pmdaopenmetrics's own tables (`$PCP_VAR_DIR/config/pmda/144.*.py`; the
//! private pmcd points `PCP_VAR_DIR` into its scratch directory).

mod install_support;
mod pmcd_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use install_support::install_options;
use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd;
use pmcd_support::*;

const SCRIPT: &str = "/var/lib/pcp/pmdas/openmetrics/pmdaopenmetrics.python";

fn doc(instances: &[(&str, f64)], extra: f64) -> String {
    let mut s = String::from("# HELP jobs_queued Jobs waiting\n# TYPE jobs_queued gauge\n");
    for (q, v) in instances {
        s.push_str(&format!("jobs_queued{{queue=\"{q}\"}} {v}\n"));
    }
    s.push_str(&format!(
        "# HELP jobs_done_total Jobs finished\n# TYPE jobs_done_total counter\njobs_done_total {extra}\n"
    ));
    s
}

fn write_source(conf: &Path, name: &str, body: &str) {
    let file = conf.join(format!("{name}.prom"));
    std::fs::write(&file, body).unwrap();
    let url = conf.join(format!("{name}.url"));
    if !url.exists() {
        std::fs::write(url, format!("file://{}\n", file.display())).unwrap();
    }
}

/// name -> PMID, and for instance metrics instance name -> id, as pminfo
/// shows them through pmcd, for every source's metrics (not the control
/// ones).
fn numbering(p: &PrivatePmcd) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    let out = p.run(p.client("pminfo").args(["-mf", "openmetrics"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let mut map = BTreeMap::new();
    for b in blocks(&stdout(&out)) {
        if b.name.starts_with("openmetrics.control.") {
            continue;
        }
        let pmid = b.lines[0]
            .split("PMID: ")
            .nth(1)
            .unwrap_or("")
            .trim()
            .to_string();
        let mut insts = BTreeMap::new();
        for l in &b.lines {
            // inst [3 or "1 queue:x"] value 7
            if let Some(rest) = l.trim().strip_prefix("inst [") {
                let (id, rest) = rest.split_once(" or \"").unwrap();
                let name = rest.split("\"]").next().unwrap();
                insts.insert(name.to_string(), id.to_string());
            }
        }
        map.insert(b.name.clone(), (pmid, insts));
    }
    map
}

#[test]
fn install_replace_keeps_pmdaopenmetrics_ids_across_a_running_pmlogger() {
    let python_ok = Command::new("/usr/bin/python3")
        .args(["-c", "import pcp.pmda, requests"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !require_pmcd("replacing pmdaopenmetrics under a private pmcd")
        || !pcp_core::testing::require(
            "pmdaopenmetrics",
            Path::new(SCRIPT).exists() && python_ok,
            "PCP's openmetrics agent with python3-pcp and python3-requests",
        )
        || !pcp_core::testing::require(
            "pmlogger",
            pcp_core::testing::have_program("pmlogger")
                && pcp_core::testing::have_program("pmlogcheck"),
            "an archive recorded across the switch",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("config.d");
    std::fs::create_dir_all(&conf).unwrap();
    // "beta" first: pmdaopenmetrics gives it cluster 1, where a fresh
    // agent would sort "alpha" first.
    write_source(&conf, "beta", &doc(&[("zeta", 1.0), ("eta", 2.0)], 10.0));
    let p = PrivatePmcd::start(
        &[format!(
            "openmetrics\t144\tpipe\tbinary notready\t/usr/bin/python3 {SCRIPT} -c {}",
            conf.display()
        )],
        &["openmetrics\t144:*:*".to_string()],
    );
    assert!(
        p.wait_for("openmetrics.beta", Duration::from_secs(30)),
        "{}",
        p.log()
    );
    write_source(&conf, "alpha", &doc(&[("q2", 3.0)], 20.0));
    assert!(
        wait_until(Duration::from_secs(30), || numbering(&p)
            .keys()
            .any(|n| n.starts_with("openmetrics.alpha"))),
        "pmdaopenmetrics never served alpha:\n{}",
        p.log()
    );
    // A new instance of beta, seen after the others.
    write_source(
        &conf,
        "beta",
        &doc(&[("zeta", 1.0), ("eta", 2.0), ("alef", 5.0)], 11.0),
    );
    assert!(wait_until(Duration::from_secs(15), || numbering(&p)
        .get("openmetrics.beta.jobs_queued")
        .is_some_and(|(_, i)| i.len() == 3)));
    let archive = dir.path().join("archive");
    let mut logger = p.logger(
        "log mandatory on 200 msec {\n    openmetrics.alpha\n    openmetrics.beta\n}\n",
        &archive,
    );
    std::thread::sleep(Duration::from_millis(1500));
    let before = numbering(&p);
    assert_eq!(before.len(), 4, "{before:?}");
    assert_ne!(
        before["openmetrics.beta.jobs_queued"].0,
        before["openmetrics.alpha.jobs_queued"].0
    );

    // Ours takes over, as `pcp-agent install prometheus --replace
    // --prometheus-root openmetrics` does (no --state-dir).
    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["prometheus".into()];
    opts.prometheus_config = Some(conf.clone());
    opts.prometheus_root = "openmetrics".into();
    let mut io = install_options(&p, "prometheus", 144, vec!["openmetrics".into()]);
    io.agent_args = opts.args_for("prometheus");
    assert!(!io.agent_args.iter().any(|a| a == "--state-dir"));
    io.replace = true;
    pmcd::install(&io).unwrap_or_else(|e| panic!("install --replace: {e}\n{}", p.log()));
    let pmcd_conf = std::fs::read_to_string(&p.conf).unwrap();
    assert!(!pmcd_conf.contains(SCRIPT), "{pmcd_conf}");
    assert!(
        wait_until(Duration::from_secs(30), || numbering(&p).len() == 4),
        "our agent did not serve both sources:\n{}",
        p.log()
    );
    // The document changes after the switch: values move, the instances
    // come in another order.
    write_source(
        &conf,
        "beta",
        &doc(&[("alef", 6.0), ("eta", 7.0), ("zeta", 8.0)], 12.0),
    );
    assert!(wait_until(Duration::from_secs(15), || {
        let out = p.run(
            p.client("pminfo")
                .args(["-f", "openmetrics.beta.jobs_done_total"]),
        );
        stdout(&out).contains("value 12")
    }));
    let after = numbering(&p);
    assert_eq!(after, before, "PMIDs or instance ids changed at the switch");
    std::thread::sleep(Duration::from_millis(1500));
    // pmlogger went through the switch: our agent was ready as soon as
    // pmcd registered it, so pmlogger's check of its metrics after the
    // agent changed did not meet PM_ERR_AGAIN (which it takes as fatal).
    let survived = logger.running();
    let log = logger.stop();
    assert!(survived, "pmlogger exited at the switch:\n{log}");

    // Ours meets new sources and instances, in an order pmdaopenmetrics
    // would not number them in by itself (it reads the sources sorted,
    // instances in document order), and writes their ids into its tables:
    // gamma before delta, bet before gimel.
    write_source(&conf, "gamma", &doc(&[("g1", 4.0)], 30.0));
    write_source(
        &conf,
        "beta",
        &doc(
            &[("alef", 6.0), ("eta", 7.0), ("zeta", 8.0), ("bet", 9.0)],
            13.0,
        ),
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            let n = numbering(&p);
            n.len() == 6
                && n.get("openmetrics.beta.jobs_queued")
                    .is_some_and(|(_, i)| i.len() == 4)
        }),
        "our agent did not serve gamma and bet:\n{}",
        p.log()
    );
    write_source(&conf, "delta", &doc(&[("d1", 1.0)], 40.0));
    write_source(
        &conf,
        "beta",
        &doc(
            &[
                ("gimel", 1.0),
                ("alef", 6.0),
                ("eta", 7.0),
                ("zeta", 8.0),
                ("bet", 9.0),
            ],
            14.0,
        ),
    );
    assert!(
        wait_until(Duration::from_secs(30), || {
            let n = numbering(&p);
            n.len() == 8
                && n.get("openmetrics.beta.jobs_queued")
                    .is_some_and(|(_, i)| i.len() == 5)
        }),
        "our agent did not serve delta and gimel:\n{}",
        p.log()
    );
    let ours = numbering(&p);
    for (name, (pmid, inst)) in &before {
        assert_eq!(&ours[name].0, pmid, "{name}");
        for (i, id) in inst {
            assert_eq!(&ours[name].1[i], id, "{name} {i}");
        }
    }
    let cluster = |name: &str| -> u32 { ours[name].0.split('.').nth(1).unwrap().parse().unwrap() };
    assert!(
        cluster("openmetrics.gamma.jobs_queued") < cluster("openmetrics.delta.jobs_queued"),
        "{ours:?}"
    );
    let beta = &ours["openmetrics.beta.jobs_queued"].1;
    let id = |i: &str| -> u32 { beta[i].parse().unwrap() };
    assert!(id("3 queue:bet") < id("4 queue:gimel"), "{beta:?}");
    std::thread::sleep(Duration::from_millis(1000));

    // ... and `remove prometheus` gives pmcd back to pmdaopenmetrics,
    // which takes every id from those tables, ours included.
    pmcd::remove(&io).unwrap_or_else(|e| panic!("remove: {e}\n{}", p.log()));
    let pmcd_conf = std::fs::read_to_string(&p.conf).unwrap();
    assert!(pmcd_conf.contains(SCRIPT), "{pmcd_conf}");
    assert!(
        wait_until(Duration::from_secs(30), || numbering(&p) == ours),
        "pmdaopenmetrics after remove numbers differently:\nours {ours:?}\ntheirs {:?}\n{}",
        numbering(&p),
        p.log()
    );

    // One archive, readable straight through: one PMID per name, and one
    // instance series that holds values from both agents.
    let arch = logger.archive_arg();
    let out = p.run(client("pmlogcheck").arg(&arch));
    assert!(
        out.status.success(),
        "pmlogcheck: {}{}\npmlogger log:\n{log}",
        stdout(&out),
        stderr(&out)
    );
    let out = p.run(client("pminfo").args(["-a", &arch, "-m", "openmetrics"]));
    let listed = stdout(&out);
    for (name, (pmid, _)) in &before {
        assert!(
            listed.contains(&format!("{name} PMID: {pmid}")),
            "{name} {pmid} not in the archive:\n{listed}"
        );
    }
    let inst = before["openmetrics.beta.jobs_queued"].1["2 queue:alef"].clone();
    assert_eq!(inst, "2", "pmdaopenmetrics numbered alef third");
    let out = p.run(client("pmval").args([
        "-a",
        &arch,
        "-t",
        "0.2",
        "-i",
        "\"2 queue:alef\"",
        "-f",
        "1",
        "openmetrics.beta.jobs_queued",
    ]));
    let series = report_numbers(&stdout(&out));
    assert!(
        series.contains(&5.0) && series.contains(&6.0),
        "the series of alef lacks one agent's values: {series:?}\n{}{}\npmlogger log:\n{log}",
        stdout(&out),
        stderr(&out)
    );
}
