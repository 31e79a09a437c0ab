//! PCP's own daemon PMDA, pmdasample (C), run by `pcp-agent pmcd` from a
//! pmcd.conf-style line (`--pipe-agents`), against the same pmdasample under a
//! private pmcd 6.0.3: `pminfo -dmtTl sample` gives the same text (names
//! in pmcd's order, dynamic subtrees included, descriptors, help, labels at
//! every level, instance labels), and a store reaches the agent.
//!
//! What differs, by design (and left out below): `sample.bad.nosupport`
//! (a descriptor with semantics 0, which our model does not hold),
//! `sample.secret.foo.bar.max.redirect` (a name in sample's subtree for a
//! metric of pmcd's domain: our host routes names to the agent that owns
//! them), and event-typed metrics' values (no event values in our model).

mod ours_support;
mod pmcd_support;

use std::time::Duration;

use ours_support::*;
use pmcd_support::*;

const PMDASAMPLE: &str = "/var/lib/pcp/pmdas/sample/pmdasample";

fn excluded(name: &str) -> bool {
    name == "sample.bad.nosupport" || name == "sample.secret.foo.bar.max.redirect"
}

/// A block's lines with instance-label lines sorted (sample.scramble.*
/// reorders its instances on purpose) and transient instances' lines out.
fn normal(b: &Block) -> Vec<String> {
    let mut head: Vec<String> = Vec::new();
    let mut insts: Vec<String> = Vec::new();
    for l in &b.lines {
        // pminfo's complaint about sample.bad.nosupport's descriptor lands
        // in the middle of another metric's block.
        if l.starts_with("sample.bad.nosupport:") {
            continue;
        }
        if l.starts_with("    inst [") {
            if !l.contains("\"transient\":true") {
                insts.push(l.clone());
            }
        } else {
            head.push(l.clone());
        }
    }
    insts.sort();
    head.extend(insts);
    head
}

#[test]
fn pmdasample_under_ours_matches_pmdasample_under_pmcd() {
    if !require_pmcd("pmdasample under pcp-agent pmcd and under a private pmcd")
        || !pcp_core::testing::require(
            "pmdasample",
            std::path::Path::new(PMDASAMPLE).exists(),
            "PCP's sample PMDA (package pcp)",
        )
    {
        return;
    }
    let line = format!("sample\t29\tpipe\tbinary\t{PMDASAMPLE} -d 29");
    let pmns = std::fs::read_to_string("/var/lib/pcp/pmdas/sample/pmns").unwrap();
    // pmcd's own names too, for pmcd.agent.*.
    let pmcd_names = std::fs::read_to_string("/usr/lib/pcp/pmns/root_pmcd").unwrap();
    let pmcd_body = pmcd_names
        .find("#ifndef PMCD")
        .map_or("", |i| &pmcd_names[i..]);
    let root = format!(
        "root {{\n\tpmcd\n\tsample\n}}\n{pmcd_body}\n{}",
        pmns.replace("SAMPLE:", "29:")
    );
    let p = PrivatePmcd::start_with(&[PMCD_DSO_LINE.to_string(), line.clone()], &root, &[]);
    assert!(p.wait_for("sample", Duration::from_secs(15)), "{}", p.log());

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("pmcd.conf");
    std::fs::write(&conf, format!("{line}\n")).unwrap();
    let mut global = global_args("simple", &dir.path().join("state"), None);
    global.extend(["--pipe-agents".to_string(), conf.display().to_string()]);
    let ours = Ours::start(&global, &["--allow-store"]);
    // pmdasample's log lands in the state directory, not where we run.
    let log = dir.path().join("state/pipe-agents/sample.log");
    assert!(log.is_file(), "no {}", log.display());

    let info = |host: &str| {
        let out = run_bounded(
            client("pminfo").args(["-h", host, "-dmtTl", "sample"]),
            Duration::from_secs(60),
        );
        blocks(&stdout(&out))
            .into_iter()
            // (The redirect's help, pmcd's own, has blank lines: its pieces are not names.)
            .filter(|b| b.name.starts_with("sample.") && !excluded(&b.name))
            .collect::<Vec<_>>()
    };
    let (o, t) = (info(&ours.tcp()), info(&p.host()));
    let names = |b: &[Block]| b.iter().map(|b| b.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&o), names(&t), "metric lists differ\n{}", ours.log());
    assert!(o.len() > 150, "{}", o.len());
    assert!(
        o.iter().any(|b| b.name.starts_with("sample.secret.")),
        "dynamic names"
    );
    for (a, b) in o.iter().zip(&t) {
        let (na, nb) = (normal(a), normal(b));
        if na != nb {
            let at = na
                .iter()
                .zip(&nb)
                .position(|(x, y)| x != y)
                .unwrap_or(na.len().min(nb.len()));
            panic!(
                "{}: line {at} differs:\n  ours: {:?}\n  pmcd: {:?}",
                a.name,
                na.get(at),
                nb.get(at)
            );
        }
    }

    // A store through ours reaches pmdasample.
    let out = run_bounded(
        client("pmstore").args(["-h", &ours.tcp(), "sample.write_me", "77"]),
        Duration::from_secs(30),
    );
    assert!(
        stdout(&out).contains("new value=77"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = run_bounded(
        client("pminfo").args([
            "-h",
            &ours.tcp(),
            "-f",
            "sample.write_me",
            "sample.long.hundred",
        ]),
        Duration::from_secs(30),
    );
    let text = stdout(&out);
    assert!(
        text.contains("value 77") && text.contains("value 100"),
        "{text}"
    );

    // pmcd.agent.type and pmcd.agent.status say what pmcd says of the
    // agent: a binary pipe agent that answers, then one killed by SIGKILL
    // (found by a request: "protocol failure", with the signal).
    let sample_rows = |host: &str| {
        let out = run_bounded(
            client("pminfo").args(["-h", host, "-f", "pmcd.agent.type", "pmcd.agent.status"]),
            Duration::from_secs(30),
        );
        stdout(&out)
            .lines()
            .filter(|l| l.contains("\"sample\"") || l.starts_with("pmcd."))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let running = sample_rows(&p.host());
    assert!(running.contains("value 4"), "{running}");
    assert_eq!(sample_rows(&ours.tcp()), running);
    let kill_sample = |parent: u32| {
        let pids: Vec<u32> = children_of(parent)
            .into_iter()
            .filter(|c| {
                std::fs::read_to_string(format!("/proc/{c}/comm"))
                    .is_ok_and(|c| c.trim() == "pmdasample")
            })
            .collect();
        assert_eq!(pids.len(), 1, "pmdasample under {parent}: {pids:?}");
        // SAFETY: kill(2) on a pid we just read, a child of our own process.
        unsafe { libc::kill(pids[0] as i32, libc::SIGKILL) };
    };
    kill_sample(p.pid());
    kill_sample(ours.pid());
    // Both find the agent gone at the next request to it, and say so.
    let fetch = |host: &str| {
        let out = run_bounded(
            client("pminfo").args(["-h", host, "-f", "sample.long.hundred"]),
            Duration::from_secs(30),
        );
        stdout(&out) + &stderr(&out)
    };
    let gone = fetch(&p.host());
    assert!(gone.contains("No PMCD agent"), "{gone}");
    assert_eq!(fetch(&ours.tcp()), gone);
    let killed = sample_rows(&p.host());
    let word = 8 | (libc::SIGKILL << 16);
    assert!(killed.contains(&format!("value {word}")), "{killed}");
    assert_eq!(sample_rows(&ours.tcp()), killed);
}
