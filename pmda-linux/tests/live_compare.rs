//! Compares this agent with the real pmdalinux (through the running pmcd)
//! on the live machine, for every metric both serve: descriptors (PMID,
//! type, semantics, units, indom), instance ids and names, and values.
//!
//! The real agent is asked twice with `pminfo -dmf` (before and after our
//! fetch), so each value of ours is checked against the bracket the two
//! real answers give: counters must lie within the change over the
//! interval, instant values within that range widened by a small
//! tolerance, discrete values and strings must equal one of them.
//!
//! pminfo talks to pmcd over TCP (`-h localhost`), so pmcd passes no
//! credentials and the real agent treats it as an anonymous client; ours
//! is asked as the same anonymous client. (With root's credentials both
//! agents also give the root-only slab and serial-line figures: that is
//! compared under a private pmcd in the workspace's `pmcd_agents` tests.)

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use pcp_core::render::pminfo::{render, Flags};
use pcp_core::testing::{have_program, port_open, require};
use pcp_core::{ClientContext, FetchRequest, Host, Pmda, Profile, Semantics, Value, PM_IN_NULL};
use pmda_linux::{LinuxConfig, LinuxPmda};

/// One metric as pminfo -dmf printed it.
#[derive(Debug, Clone, Default)]
struct Shown {
    pmid: String,
    desc: Vec<String>,
    /// Instance id (PM_IN_NULL for singular) -> (name, value text).
    values: BTreeMap<u32, (String, String)>,
    /// "No value(s) available!" or an error line, if no values.
    none: Option<String>,
}

fn parse_pminfo(text: &str) -> BTreeMap<String, Shown> {
    let mut out = BTreeMap::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines().filter(|l| !l.trim().is_empty());
        let Some(head) = lines.next() else { continue };
        let Some((name, pmid)) = head.split_once(" PMID: ") else {
            continue;
        };
        let mut s = Shown {
            pmid: pmid.trim().to_string(),
            ..Default::default()
        };
        for l in lines {
            let t = l.trim();
            if t.starts_with("Data Type:") || t.starts_with("Semantics:") {
                s.desc.push(t.to_string());
            } else if let Some(v) = t.strip_prefix("value ") {
                s.values.insert(PM_IN_NULL, (String::new(), v.to_string()));
            } else if let Some(rest) = t.strip_prefix("inst [") {
                // inst [ID or "NAME"] value V
                let Some((id, rest)) = rest.split_once(" or \"") else {
                    continue;
                };
                let Some((iname, rest)) = rest.split_once("\"] value ") else {
                    continue;
                };
                if let Ok(id) = id.parse() {
                    s.values.insert(id, (iname.to_string(), rest.to_string()));
                }
            } else if t.starts_with("No value") || t.starts_with("Error:") {
                s.none = Some(t.to_string());
            }
        }
        out.insert(name.to_string(), s);
    }
    out
}

/// How pminfo reaches pmcd: TCP, so no credentials whatever the system's
/// unix socket does.
const PMCD_HOST: [&str; 2] = ["-h", "localhost"];

fn pminfo(names: &[String]) -> Option<String> {
    let out = Command::new("pminfo")
        .args(PMCD_HOST)
        .arg("-dmf")
        .args(names)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn num(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// Metrics whose values legitimately differ between two readers at
/// (almost) the same time by more than the bracket allows: fast-moving
/// gauges touched by the act of measuring (pminfo and pmcd run between
/// the reads) and sampled-CPU figures.
const VOLATILE: &[&str] = &[
    "kernel.all.running",
    "kernel.all.runnable",
    "kernel.all.nprocs",
    "kernel.all.lastpid",
    "kernel.all.sysfork",
    "kernel.all.blocked",
    "vfs.",
    "network.sockstat.",
    "mem.vmstat.nr_",
    "mem.util.",
    "mem.numa.util.",
    "network.unix.",
    "mem.zoneinfo.",
    "mem.slabinfo.",
    "mem.freemem",
    "kernel.all.pressure.",
    "network.tcp.currestab",
    "hinv.cpu.clock",
    "mem.buddyinfo.",
    "network.tcpconn",
    "network.udpconn",
    "vfs.locks.",
];

#[test]
fn matches_real_pmdalinux() {
    let up = have_program("pminfo") && port_open("127.0.0.1:44321");
    if !require(
        "pmcd",
        up,
        "pminfo and pmcd on 127.0.0.1:44321 are needed to compare with pmdalinux",
    ) {
        return;
    }
    let mut pmda = pmda_linux::new(LinuxConfig::default()).expect("agent");
    let all = pmda.namespace().traverse("").unwrap_or_default();
    let names: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
    let pmids: Vec<_> = all.iter().map(|(_, p)| *p).collect();

    let before = parse_pminfo(&pminfo(&names).expect("pminfo runs"));
    require(
        "pmdalinux",
        before.len() > 100,
        "pmcd answers for the linux agent",
    );
    let profile = Profile::all();
    let client = ClientContext::anonymous();
    let ours = pmda.fetch(&FetchRequest {
        pmids: &pmids,
        profile: &profile,
        client: &client,
    });
    std::thread::sleep(Duration::from_millis(50));
    let after = parse_pminfo(&pminfo(&names).expect("pminfo runs"));

    let mut problems = Vec::new();
    let mut compared = 0;
    for ((name, pmid), result) in all.iter().zip(ours) {
        let (Some(a), Some(c)) = (before.get(name), after.get(name)) else {
            continue;
        };
        compared += 1;
        let mut p = check(&mut pmda, name, *pmid, result, a, c);
        if !p.is_empty() {
            // pmdalinux's answers for some metrics depend on what else is
            // in the same request (its sysfs refresh is per request), so a
            // difference is checked again with the metric alone.
            let one = [name.clone()];
            let a = pminfo(&one).map(|t| parse_pminfo(&t));
            let ours = pmda.fetch(&FetchRequest {
                pmids: &[*pmid],
                profile: &profile,
                client: &client,
            });
            let c = pminfo(&one).map(|t| parse_pminfo(&t));
            if let (Some(a), Some(c), Some(r)) = (a, c, ours.into_iter().next()) {
                if let (Some(a), Some(c)) = (a.get(name), c.get(name)) {
                    p = check(&mut pmda, name, *pmid, r, a, c);
                }
            }
        }
        problems.extend(p);
    }
    eprintln!(
        "compared {compared} metrics with pmdalinux, {} problems",
        problems.len()
    );
    assert!(compared > 500, "only {compared} metrics compared");
    assert!(
        problems.is_empty(),
        "differences from pmdalinux:\n{}",
        problems.join("\n")
    );
}

/// Checks one metric of ours against two real answers; the problems found.
fn check(
    pmda: &mut LinuxPmda,
    name: &str,
    pmid: pcp_core::Pmid,
    result: pcp_core::MetricResult,
    a: &Shown,
    c: &Shown,
) -> Vec<String> {
    let mut problems = Vec::new();
    let pmid = &pmid;
    let desc = pmda.desc(*pmid).unwrap();
    if a.pmid != pmid.to_string() {
        problems.push(format!("{name}: PMID {} vs real {}", pmid, a.pmid));
    }
    let ours_desc: Vec<String> = desc
        .to_string()
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    if ours_desc != a.desc {
        problems.push(format!(
            "{name}: descriptor {ours_desc:?} vs real {:?}",
            a.desc
        ));
    }
    let result = match result {
        Ok(v) => v,
        Err(e) => {
            let want = a.none.clone().unwrap_or_default();
            if want != format!("Error: {e}") {
                problems.push(format!(
                    "{name}: error {e} vs real {want:?} / {} values",
                    a.values.len()
                ));
            }
            return problems;
        }
    };
    let volatile = VOLATILE.iter().any(|v| name.starts_with(v));
    // Instances: same ids and names (pmcd's instances at either time).
    let mut ours_ids: Vec<u32> = result.iter().map(|(i, _)| *i).collect();
    ours_ids.sort();
    let ids_a: Vec<u32> = a.values.keys().copied().collect();
    let ids_c: Vec<u32> = c.values.keys().copied().collect();
    if ours_ids != ids_a && ours_ids != ids_c {
        problems.push(format!("{name}: instances {ours_ids:?} vs real {ids_a:?}"));
        return problems;
    }
    if result.is_empty() {
        return problems;
    }
    let inst_names = if desc.indom.is_null() {
        Vec::new()
    } else {
        pmda.instances(desc.indom, &pcp_core::ClientContext::local())
            .unwrap_or_default()
    };
    for (inst, val) in &result {
        let (Some((an, av)), Some((_, cv))) = (a.values.get(inst), c.values.get(inst)) else {
            continue;
        };
        if *inst != PM_IN_NULL {
            let ours_name = inst_names
                .iter()
                .find(|i| i.id == *inst)
                .map(|i| i.name.as_str());
            if ours_name != Some(an.as_str()) {
                problems.push(format!(
                    "{name}: instance {inst} named {ours_name:?} vs real {an:?}"
                ));
            }
        }
        let ok = match val {
            Value::String(s) => format!("\"{s}\"") == *av || format!("\"{s}\"") == *cv,
            v => {
                let (Some(x), Some(lo), Some(hi)) = (v.as_f64(), num(av), num(cv)) else {
                    problems.push(format!("{name}[{inst}]: value {v} vs real {av}"));
                    continue;
                };
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                let slack = match desc.sem {
                    // Float rendering and ms-from-ticks rounding.
                    Semantics::Counter => 1e-6 * hi.abs() + 10.0,
                    _ if volatile => 0.10 * hi.abs() + 64.0,
                    _ => 1e-6 * hi.abs() + 0.01,
                };
                x >= lo - slack && x <= hi + slack
            }
        };
        if !ok {
            problems.push(format!("{name}[{inst}]: ours {val} vs real {av} .. {cv}"));
        }
    }
    problems
}

/// Metrics of the instance domains whose lists are refreshed for root only.
const ROOT_ONLY_LISTS: [&str; 2] = ["mem.slabinfo.objects.active", "tty.serial.tx"];

/// Runs pminfo with `args`; its standard output.
fn pminfo_with(args: &[&str], names: &[String]) -> Option<String> {
    let out = Command::new("pminfo")
        .args(PMCD_HOST)
        .args(args)
        .args(names)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The first lines where two texts differ, with a little context.
fn first_differences(real: &str, ours: &str) -> String {
    let (r, o): (Vec<&str>, Vec<&str>) = (real.lines().collect(), ours.lines().collect());
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..r.len().max(o.len()) {
        let (a, b) = (r.get(i).copied(), o.get(i).copied());
        if a != b {
            out.push_str(&format!("line {}:\n  real {a:?}\n  ours {b:?}\n", i + 1));
            shown += 1;
            if shown == 10 {
                break;
            }
        }
    }
    out
}

/// Byte-for-byte parity with `pminfo -dml` for every metric both serve:
/// the names in the order pmdalinux's namespace lists them, PMIDs,
/// descriptors, and labels at every level (context, agent, indom, item,
/// each instance). Ours is rendered through a [`Host`] with the renderer
/// `pcp-agent info` uses, asking as an anonymous client as pminfo's TCP
/// connection does (so neither side has the userid/groupid labels).
#[test]
fn pminfo_dml_is_byte_identical() {
    let up = have_program("pminfo") && port_open("127.0.0.1:44321");
    if !require(
        "pmcd",
        up,
        "pminfo and pmcd on 127.0.0.1:44321 are needed to compare with pmdalinux",
    ) {
        return;
    }
    let mut pmda = pmda_linux::new(LinuxConfig::default()).expect("agent");
    // The slab-cache and serial-line instance lists of both agents are
    // re-read for root only; others see them as last read for root (empty
    // before). pmdalinux's state depends on what root asked it before, so
    // it is asked as root now where pmcd's unix socket passes credentials,
    // and ours is put in the state the real one is then in.
    let _ = Command::new("pminfo")
        .args(["-h", "unix:/run/pcp/pmcd.socket", "-l"])
        .args(ROOT_ONLY_LISTS)
        .output();
    for name in ROOT_ONLY_LISTS {
        let real = pminfo_with(&["-l"], &[name.to_string()]).expect("pminfo runs");
        let pmid = pmda.namespace().lookup(name).expect("ours has it");
        let indom = pmda.desc(pmid).expect("desc").indom;
        if real.contains("inst [") {
            let _ = pmda.instances(indom, &ClientContext::user(0, 0));
        }
        eprintln!(
            "{name}: pmdalinux lists {} instances to an anonymous client",
            real.matches("inst [").count()
        );
    }
    let mut host = Host::new().with_client(ClientContext::anonymous());
    host.load(Box::new(pmda)).expect("load");
    let ours_all = host.namespace().traverse("").unwrap_or_default();

    // Which names the real agent serves, in its traversal order.
    let listing = pminfo_with(&["-m"], &[]).expect("pminfo runs");
    let real_order: Vec<String> = listing
        .lines()
        .filter_map(|l| l.split_once(" PMID: "))
        .filter(|(_, p)| p.starts_with("60."))
        .map(|(n, _)| n.to_string())
        .collect();
    require(
        "pmdalinux",
        real_order.len() > 100,
        "pmcd answers for the linux agent",
    );
    let real_set: std::collections::HashSet<&str> = real_order.iter().map(|s| s.as_str()).collect();
    let both: Vec<(String, pcp_core::Pmid)> = ours_all
        .into_iter()
        .filter(|(n, _)| real_set.contains(n.as_str()))
        .collect();
    let ours_set: std::collections::HashSet<&str> = both.iter().map(|(n, _)| n.as_str()).collect();
    let real_both: Vec<&str> = real_order
        .iter()
        .map(|s| s.as_str())
        .filter(|n| ours_set.contains(n))
        .collect();
    let ours_names: Vec<&str> = both.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        ours_names, real_both,
        "namespace order differs from pmdalinux's"
    );
    assert!(both.len() > 500, "only {} metrics in common", both.len());

    let names: Vec<String> = both.iter().map(|(n, _)| n.clone()).collect();
    let flags = Flags {
        desc: true,
        pmid: true,
        labels: true,
        ..Default::default()
    };
    // Instances (interfaces, mounts) may come and go between the two
    // answers: one retry with fresh answers on both sides.
    let mut last = String::new();
    for _ in 0..2 {
        let real = pminfo_with(&["-dml"], &names).expect("pminfo runs");
        let ours = render(&host, &both, flags);
        if real == ours {
            eprintln!("pminfo -dml identical for {} metrics", both.len());
            return;
        }
        last = first_differences(&real, &ours);
    }
    panic!("pminfo -dml differs from pmdalinux's:\n{last}");
}
