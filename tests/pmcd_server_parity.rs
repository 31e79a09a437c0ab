//! `pminfo -dfmtTl` over every metric of every agent (linux, prometheus,
//! simple) through `pcp-agent pmcd` gives the same text as `pcp-agent
//! info` and as the same agents under a real, private pmcd 6.0.3 (each
//! agent run by it as `pcp-agent pmda NAME`): over the unix socket (the
//! client's credentials known, as in process) and over TCP (anonymous).
//! pmcd's own `pmcd.*` metrics have pmcd's names, PMIDs and descriptors.
//! The nagios and bpftrace agents' metadata through ours equals `pcp-agent
//! info`'s and theirs under a real pmcd too, and so does the proc agent's
//! (every proc, hotproc, cgroup and acct metric; its instances, the
//! processes of the moment, left out).

mod install_support;
mod ours_support;
mod pmcd_support;

use std::path::Path;
use std::time::Duration;

use install_support::install_options;
use ours_support::*;
use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd;
use pmcd_support::*;

/// Agent options for one agent with its own state directory.
fn options(agent: &str, state: &Path, prom: &Path) -> AgentOptions {
    let mut o = AgentOptions::defaults();
    o.agents = vec![agent.to_string()];
    o.state_dir = Some(state.to_path_buf());
    o.prometheus_config = Some(prom.to_path_buf());
    o
}

/// Registers `name` with the private pmcd as `pcp-agent install` does.
fn install(p: &PrivatePmcd, name: &str, opts: &AgentOptions) {
    // (`install` does not know the proc agent yet: its domain and names
    // come from the agent itself.)
    let (domain, prefixes) = match opts.registration(name) {
        Ok(reg) => (reg.domain, reg.prefixes),
        Err(_) => {
            let a = opts.build_agent(name).expect("building the agent");
            (a.domain(), a.namespace().top_level())
        }
    };
    let mut io = install_options(p, name, domain, prefixes);
    io.agent_args = opts.args_for(name);
    pmcd::install(&io).unwrap_or_else(|e| panic!("installing {name}: {e}\n{}", p.log()));
}

/// A private pmcd whose namespace has pmcd's own `pmcd.*` subtree.
fn pmcd_with_its_names() -> PrivatePmcd {
    let ours = std::fs::read_to_string("/usr/lib/pcp/pmns/root_pmcd").expect("PCP's pmcd PMNS");
    let body = ours.find("#ifndef PMCD").map_or("", |i| &ours[i..]);
    let root = format!("root {{\n\tpmcd\n}}\n{body}");
    PrivatePmcd::start_with(&[PMCD_DSO_LINE.to_string()], &root, &[])
}

/// Values that move between two looks: everything but discrete metrics,
/// except the prometheus agent's file source (fixed) and its bookkeeping.
fn stable(b: &Block) -> bool {
    let bookkeeping = b.name.contains(".control.")
        && !b.name.ends_with(".control.debug")
        && !b.name.ends_with(".control.status")
        && !b.name.ends_with(".control.status_code")
        && !b.name.ends_with(".control.up")
        && !b.name.ends_with(".control.metrics");
    if b.name.starts_with("prometheus.") {
        return !bookkeeping;
    }
    b.lines.iter().any(|l| l.contains("Semantics: discrete"))
}

fn masked(b: &Block) -> Vec<String> {
    if stable(b) {
        return b.lines.clone();
    }
    b.lines
        .iter()
        .map(|l| {
            if l.starts_with("    value ") {
                "    value N".to_string()
            } else if let (true, Some(at)) = (l.starts_with("    inst ["), l.find("] value ")) {
                format!("{}] value N", &l[..at])
            } else {
                l.clone()
            }
        })
        .collect()
}

/// Compares two pminfo outputs block by block, naming the first difference.
fn same(what: &str, got: &str, want: &str) {
    let (g, w) = (blocks(got), blocks(want));
    let names = |b: &[Block]| b.iter().map(|b| b.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&g), names(&w), "{what}: metric lists differ");
    assert!(g.len() > 100, "{what}: only {} metrics", g.len());
    for (a, b) in g.iter().zip(&w) {
        let (ma, mb) = (masked(a), masked(b));
        assert!(
            ma == mb,
            "{what}: {} differs:\n{}\n---\n{}",
            a.name,
            ma.join("\n"),
            mb.join("\n")
        );
    }
}

fn pminfo(host: &str, roots: &[String]) -> String {
    let out = run_bounded(
        client("pminfo").args(["-h", host, "-dfmtTl"]).args(roots),
        Duration::from_secs(120),
    );
    assert!(out.status.success(), "pminfo -h {host}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn pminfo_through_ours_matches_pcp_agent_info_and_a_real_pmcd() {
    if !require_pmcd("pminfo against pcp-agent pmcd and a private pmcd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let prom = static_prometheus_config(tmp.path());
    let state = |n: &str| {
        let d = tmp.path().join(n);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    // Each process with a fresh state directory of its own: ids are given
    // in the same order everywhere, so they agree.
    let p = pmcd_with_its_names();
    for agent in ["linux", "prometheus", "simple"] {
        install(
            &p,
            agent,
            &options(agent, &state(&format!("pmcd-{agent}")), &prom),
        );
    }
    let agents = "linux,prometheus,simple";
    let ours = Ours::start(&global_args(agents, &state("ours"), Some(&prom)), &[]);
    let mut opts = options("linux", &state("roots"), &prom);
    opts.agents = agents.split(',').map(String::from).collect();
    let roots = opts.build_host().unwrap().namespace().top_level();
    assert!(roots.len() > 20, "{roots:?}");

    let info = run_bounded(
        std::process::Command::new(BIN)
            // No derived metrics: the PCP clients here load none either.
            .env("PCP_DERIVED_CONFIG", "")
            .args(global_args(agents, &state("info"), Some(&prom)))
            .args(["info", "-dfmtTl"])
            .args(&roots),
        Duration::from_secs(120),
    );
    assert!(info.status.success(), "{}", stderr(&info));
    let via_unix = pminfo(&ours.unix(), &roots);
    same(
        "ours (unix socket) against pcp-agent info",
        &via_unix,
        &stdout(&info),
    );
    same(
        "ours against a real pmcd, unix sockets",
        &via_unix,
        &pminfo(&p.unix_host(), &roots),
    );
    same(
        "ours against a real pmcd, TCP",
        &pminfo(&ours.tcp(), &roots),
        &pminfo(&p.host(), &roots),
    );

    // pmcd's own metrics: the same names, PMIDs and descriptors.
    let descs = |h: &str| {
        stdout(&run_bounded(
            client("pminfo").args(["-h", h, "-dm", "pmcd"]),
            Duration::from_secs(30),
        ))
    };
    let (o, r) = (descs(&ours.tcp()), descs(&p.host()));
    assert_eq!(blocks(&o).len(), 108);
    assert_eq!(o, r, "pmcd.* descriptors differ");
    let facts = |h: &str| {
        stdout(&run_bounded(
            client("pminfo").args([
                "-h",
                h,
                "-f",
                "pmcd.hostname",
                "pmcd.timezone",
                "pmcd.zoneinfo",
            ]),
            Duration::from_secs(30),
        ))
    };
    assert_eq!(facts(&ours.tcp()), facts(&p.host()));
}

/// The other agents (nagios with its default config.d, bpftrace): the
/// same names, descriptors, help and labels through ours as in process
/// and as under a real pmcd (their values come from plugins and scripts
/// that run on their own schedule).
#[test]
fn nagios_and_bpftrace_metadata_through_ours_match_pcp_agent_info_and_a_real_pmcd() {
    if !require_pmcd("pminfo against pcp-agent pmcd")
        || !pcp_core::testing::require(
            "bpftrace",
            pcp_core::testing::have_program("bpftrace"),
            "the bpftrace agent's program",
        )
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let agents = "nagios,bpftrace";
    let roots = ["nagios".to_string(), "bpftrace".to_string()];
    let ours = Ours::start(&global_args(agents, &tmp.path().join("ours"), None), &[]);
    let through = run_bounded(
        client("pminfo")
            .args(["-h", &ours.unix(), "-dmtTl"])
            .args(&roots),
        Duration::from_secs(60),
    );
    let info = run_bounded(
        std::process::Command::new(BIN)
            // No derived metrics: the PCP clients here load none either.
            .env("PCP_DERIVED_CONFIG", "")
            .args(global_args(agents, &tmp.path().join("info"), None))
            .args(["info", "-dmtTl"])
            .args(&roots),
        Duration::from_secs(60),
    );
    let (t, i) = (blocks(&stdout(&through)), blocks(&stdout(&info)));
    assert!(t.len() > 10, "{}{}", stdout(&through), stderr(&through));
    assert_eq!(t, i);

    let p = pmcd_with_its_names();
    for agent in ["nagios", "bpftrace"] {
        let mut o = AgentOptions::defaults();
        o.agents = vec![agent.to_string()];
        o.state_dir = Some(tmp.path().join(format!("pmcd-{agent}")));
        install(&p, agent, &o);
    }
    let real = run_bounded(
        client("pminfo")
            .args(["-h", &p.unix_host(), "-dmtTl"])
            .args(&roots),
        Duration::from_secs(60),
    );
    assert_eq!(t, blocks(&stdout(&real)), "{}", stderr(&real));
}

/// A block without its per-instance lines.
fn without_instances(b: &Block) -> Block {
    Block {
        name: b.name.clone(),
        lines: b
            .lines
            .iter()
            .filter(|l| !l.starts_with("    inst ["))
            .cloned()
            .collect(),
    }
}

/// The proc agent (domain 3): names, descriptors, help and metric labels
/// through ours as in process and as under a real pmcd, over unix
/// sockets (as root, so every process may be read). Instance lines are
/// left out: processes come and go between the three looks.
#[test]
fn proc_metadata_through_ours_matches_pcp_agent_info_and_a_real_pmcd() {
    if !require_pmcd("pminfo against pcp-agent pmcd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let roots: Vec<String> = ["proc", "hotproc", "cgroup", "acct"]
        .map(String::from)
        .to_vec();
    let ours = Ours::start(&global_args("proc", &tmp.path().join("ours"), None), &[]);
    let look = |c: &mut std::process::Command| {
        let out = run_bounded(c, Duration::from_secs(60));
        assert!(out.status.success(), "{}", stderr(&out));
        blocks(&stdout(&out))
            .iter()
            .map(without_instances)
            .collect::<Vec<_>>()
    };
    let through = look(
        client("pminfo")
            .args(["-h", &ours.unix(), "-dmtTl"])
            .args(&roots),
    );
    assert!(through.len() > 300, "{} proc metrics", through.len());
    let info = look(
        std::process::Command::new(BIN)
            // No derived metrics: the PCP clients here load none either.
            .env("PCP_DERIVED_CONFIG", "")
            .args(global_args("proc", &tmp.path().join("info"), None))
            .args(["info", "-dmtTl"])
            .args(&roots),
    );
    assert_eq!(through, info);

    let p = pmcd_with_its_names();
    let mut o = AgentOptions::defaults();
    o.agents = vec!["proc".to_string()];
    o.state_dir = Some(tmp.path().join("pmcd-proc"));
    install(&p, "proc", &o);
    let real = look(
        client("pminfo")
            .args(["-h", &p.unix_host(), "-dmtTl"])
            .args(&roots),
    );
    assert_eq!(through, real);
}
