//! Our bpftrace agent against PCP 6.0.3's own pmdabpftrace, under one
//! private pmcd at domain 151 on the same autostarted scripts: first
//! PCP's agent serves them, then `pcp-agent install bpftrace --replace`
//! puts ours in its place (as on a real system) and the same questions
//! are asked again; then `remove bpftrace` puts pmdabpftrace back and they
//! are asked a third time. The answers must agree:
//!
//! - the same metric names;
//! - the same PMIDs and descriptors (type, instance domain, semantics,
//!   units), and the same labels, metric and instance;
//! - the same instances (ids and names) and values, except values that
//!   move between two runs of a script: the bpftrace process id and the
//!   bytes read from it (both must be positive), the scripts' JSON summary
//!   (compared without its ids, times, pid and byte count), the tracepoint
//!   list (compared as a set), and the interval counter, whose rate over
//!   5 s (pmval) must be 10/s on both, within 6 to 14 (the maps come once
//!   a second, so a 5 s window holds 4 to 6 of them).
//!
//! Help text is compared by tests/bpftrace_descriptors.rs (`pminfo -T`).
//!
//! The scripts use what pmdabpftrace 6.0.3 serves: a scalar, a keyed map,
//! hist(), lhist(), min(), max(), sum(), printf() output and an interval
//! count(). avg() and stats() maps are left out: pmdabpftrace 6.0.3 gives
//! them no value ("Missing metric value(s)"), so there is nothing to
//! compare against.

mod pmcd_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pmcd_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");
const PMDABPFTRACE: &str = "/var/lib/pcp/pmdas/bpftrace/pmdabpftrace.python";

const FIXED: &str = "// name: fixed\n\
    BEGIN { @scalar = 42; @keyed[\"a\"] = 1; @keyed[\"b\"] = 2; @h = hist(5); @h = hist(100); \
    @lh = lhist(3, 0, 10, 2); @mx = max(7); @mn = min(3); @sm = sum(9); printf(\"hello %d\\n\", 1); }\n";
const TICKS: &str = "// name: ticks\ninterval:ms:100 { @ticks = count(); }\n";
const COUNTER: &str = "bpftrace.scripts.ticks.data.ticks";

/// What one agent answered: per metric, its `pminfo -dml` lines (PMID,
/// descriptor, labels), its instances and values (`inst [ID or "NAME"]`
/// or `-` for a singular metric, to the value text), and the counter's
/// rates.
#[derive(Debug)]
struct Snapshot {
    metrics: BTreeMap<String, Metric>,
    rates: Vec<f64>,
}

#[derive(Debug, Default, Clone)]
struct Metric {
    /// Every line but values: PMID, descriptor, labels.
    lines: Vec<String>,
    /// Instance to value text (`-` for a singular metric); a metric
    /// without values has its error text under `error`.
    values: BTreeMap<String, String>,
}

/// Splits `pminfo -dmfl` output into metrics. Values may span lines
/// (strings with newlines): a line that starts no new item continues the
/// last value.
fn parse(text: &str) -> BTreeMap<String, Metric> {
    let mut out = BTreeMap::new();
    for chunk in text.split("\n\n") {
        let mut lines = chunk.lines().filter(|l| !l.is_empty());
        let Some(first) = lines.next() else { continue };
        let name = first.split_whitespace().next().unwrap_or("").to_string();
        let mut m = Metric {
            lines: vec![first.to_string()],
            ..Default::default()
        };
        let mut last: Option<String> = None;
        for l in lines {
            if let Some(v) = l.strip_prefix("    value ") {
                m.values.insert("-".into(), v.to_string());
                last = Some("-".into());
            } else if let Some(rest) = l.strip_prefix("    inst [") {
                if let Some((inst, v)) = rest.split_once("] value ") {
                    m.values.insert(inst.to_string(), v.to_string());
                    last = Some(inst.to_string());
                } else {
                    // Instance labels.
                    m.lines.push(l.to_string());
                    last = None;
                }
            } else if l.starts_with("Error:") || l.starts_with(' ') {
                if l.starts_with("Error:") {
                    m.values.insert("error".into(), l.to_string());
                }
                if !l.starts_with("Error:") {
                    m.lines.push(l.to_string());
                }
                last = None;
            } else if let Some(k) = &last {
                // A multi-line string value goes on.
                let v = m.values.get_mut(k).expect("value just inserted");
                v.push('\n');
                v.push_str(l);
            } else {
                m.lines.push(l.to_string());
            }
        }
        out.insert(name, m);
    }
    out
}

fn snapshot(p: &PrivatePmcd) -> Snapshot {
    let out = p.run(p.client("pminfo").args(["-dmfl", "bpftrace"]));
    assert!(out.status.success(), "{}", stderr(&out));
    let metrics = parse(&stdout(&out));
    // Over 5 s: both agents pass bpftrace's maps on once a second, so
    // shorter samples see 0 and 20 by turns.
    let out = p.run(p.client("pmval").args(["-s", "1", "-t", "5", COUNTER]));
    let rates = report_numbers(&stdout(&out));
    Snapshot { metrics, rates }
}

/// Waits until the agent in `p` serves both scripts' data.
fn wait_for_scripts(p: &PrivatePmcd, who: &str) {
    let ready = wait_until(Duration::from_secs(40), || {
        let out =
            p.run(
                p.client("pminfo")
                    .args(["-f", "bpftrace.scripts.fixed.data.scalar", COUNTER]),
            );
        let text = stdout(&out);
        text.contains("value 42") && text.matches("value ").count() == 2
    });
    assert!(ready, "{who} never served both scripts:\n{}", p.log());
}

/// The scripts' JSON summary without what differs from run to run.
fn scripts_json_stable(v: &str) -> String {
    let text = v.trim_matches('"');
    let mut j: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("scripts_json ({e}): {text}"));
    if let Some(scripts) = j.as_array_mut() {
        for s in scripts {
            if let Some(o) = s.as_object_mut() {
                for k in ["script_id", "created_at", "last_accessed_at"] {
                    o.remove(k);
                }
                if let Some(state) = o.get_mut("state").and_then(|s| s.as_object_mut()) {
                    state.remove("pid");
                    state.remove("data_bytes");
                }
            }
        }
    }
    j.to_string()
}

/// Every difference between PCP's answers and ours.
fn differences(theirs: &Snapshot, ours: &Snapshot) -> Vec<String> {
    let mut d = Vec::new();
    let names = |s: &Snapshot| s.metrics.keys().cloned().collect::<BTreeSet<_>>();
    for n in names(theirs).difference(&names(ours)) {
        d.push(format!("{n}: served by pmdabpftrace only"));
    }
    for n in names(ours).difference(&names(theirs)) {
        d.push(format!("{n}: served by ours only"));
    }
    for (name, t) in &theirs.metrics {
        let Some(o) = ours.metrics.get(name) else {
            continue;
        };
        let (mut tl, mut ol) = (t.lines.clone(), o.lines.clone());
        tl.sort();
        ol.sort();
        for l in tl.iter().filter(|l| !ol.contains(l)) {
            d.push(format!("{name}: pmdabpftrace has {l:?}"));
        }
        for l in ol.iter().filter(|l| !tl.contains(l)) {
            d.push(format!("{name}: ours has {l:?}"));
        }
        let insts = |m: &Metric| m.values.keys().cloned().collect::<BTreeSet<_>>();
        if insts(t) != insts(o) {
            d.push(format!(
                "{name}: instances {:?} (pmdabpftrace) vs {:?} (ours)",
                insts(t),
                insts(o)
            ));
            continue;
        }
        for (inst, tv) in &t.values {
            let ov = &o.values[inst];
            let positive = |v: &str| v.parse::<f64>().is_ok_and(|x| x > 0.0);
            let same = if name.ends_with(".pid") || name.ends_with(".data_bytes") {
                positive(tv) && positive(ov)
            } else if name == "bpftrace.info.scripts_json" {
                scripts_json_stable(tv) == scripts_json_stable(ov)
            } else if name == "bpftrace.info.tracepoints" {
                let set = |v: &str| {
                    v.trim_matches('"')
                        .split(',')
                        .map(str::to_string)
                        .collect::<BTreeSet<_>>()
                };
                set(tv) == set(ov)
            } else if name == COUNTER {
                positive(tv) && positive(ov)
            } else {
                tv == ov
            };
            if !same {
                let (tv, ov) = if name == "bpftrace.info.scripts_json" {
                    (scripts_json_stable(tv), scripts_json_stable(ov))
                } else {
                    (tv.clone(), ov.clone())
                };
                // From a little before the first difference.
                let at = tv
                    .chars()
                    .zip(ov.chars())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0)
                    .saturating_sub(40);
                let short = |v: &str| v.chars().skip(at).take(160).collect::<String>();
                d.push(format!(
                    "{name} [{inst}]: pmdabpftrace {:?}, ours {:?}",
                    short(&tv),
                    short(&ov)
                ));
            }
        }
    }
    // The counter's rate: count() every 100 ms.
    let median = |r: &[f64]| {
        let mut r = r.to_vec();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (tr, or) = (median(&theirs.rates), median(&ours.rates));
    if !(6.0..=14.0).contains(&tr) || !(6.0..=14.0).contains(&or) {
        d.push(format!(
            "{COUNTER}: rates {:?} (pmdabpftrace) vs {:?} (ours): want 10/s on both (6 to 14 over 5 s)",
            theirs.rates, ours.rates
        ));
    }
    d
}

#[test]
fn bpftrace_agent_answers_as_pmdabpftrace_under_one_pmcd() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require_pmcd("pmdabpftrace and ours under a private pmcd")
        || !pcp_core::testing::require(
            "pmdabpftrace",
            Path::new(PMDABPFTRACE).exists() && have_python_pcp(),
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
    // pmdabpftrace reads autostart scripts from $PCP_SYSCONF_DIR/bpftrace/autostart.
    let etc = dir.path().join("etc");
    let autostart = etc.join("bpftrace").join("autostart");
    std::fs::create_dir_all(&autostart).unwrap();
    std::fs::write(autostart.join("fixed.bt"), FIXED).unwrap();
    std::fs::write(autostart.join("ticks.bt"), TICKS).unwrap();
    let p = PrivatePmcd::start(
        &[
            PMCD_DSO_LINE.to_string(),
            format!(
                "bpftrace\t151\tpipe\tbinary\t/usr/bin/env PCP_SYSCONF_DIR={} /usr/bin/python3 {PMDABPFTRACE}",
                etc.display()
            ),
        ],
        &["bpftrace\t151:*:*".to_string()],
    );
    wait_for_scripts(&p, "pmdabpftrace");
    let theirs = snapshot(&p);
    assert!(theirs.metrics.len() > 20, "{:?}", theirs.metrics.keys());

    // As an administrator would: no --state-dir, so ours keeps what it
    // keeps where PCP's agents do (the private pmcd's PCP_VAR_DIR).
    let admin = |command: &str| {
        let mut c = Command::new(BIN);
        c.arg("--bpftrace-autostart")
            .arg(&autostart)
            .args([command, "bpftrace"]);
        if command == "install" {
            c.arg("--replace");
        }
        c.arg("--pmcd-conf")
            .arg(&p.conf)
            .arg("--pmns-dir")
            .arg(&p.pmns_dir)
            .args(["--pmcd-pid", &p.pid().to_string(), "--pmcd-host", &p.host()]);
        let out = run_bounded(&mut c, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{command}: {}{}\n{}",
            stdout(&out),
            stderr(&out),
            p.log()
        );
    };
    admin("install");
    wait_for_scripts(&p, "ours");
    let ours = snapshot(&p);

    let diffs = differences(&theirs, &ours);
    assert!(
        diffs.is_empty(),
        "{} differences from pmdabpftrace 6.0.3:\n{}",
        diffs.len(),
        diffs.join("\n")
    );

    // And back: `remove bpftrace` restores pmdabpftrace, which gives the
    // same ids again.
    admin("remove");
    wait_for_scripts(&p, "pmdabpftrace again");
    let again = snapshot(&p);
    let diffs = differences(&again, &ours);
    assert!(
        diffs.is_empty(),
        "{} differences after pmdabpftrace came back:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The comparison finds what it is meant to find.
#[test]
fn the_comparison_reports_each_kind_of_difference() {
    let theirs = "\nbpftrace.x PMID: 151.100.10\n    Data Type: 64-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff\n    Semantics: instant  Units: none\n    value 42\n\
                  \nbpftrace.k PMID: 151.100.11\n    Data Type: 64-bit unsigned int  InDom: 151.100011 0x25c186ab\n    Semantics: instant  Units: none\n    inst [0 or \"a\"] value 1\n    inst [1 or \"b\"] value 2\n\
                  \nbpftrace.s.pid PMID: 151.100.1\n    Data Type: 32-bit unsigned int  InDom: PM_INDOM_NULL 0xffffffff\n    Semantics: instant  Units: none\n    value 100\n\
                  \nbpftrace.o PMID: 151.100.19\n    Data Type: string  InDom: PM_INDOM_NULL 0xffffffff\n    Semantics: instant  Units: none\n    value \"hello\n\"\n";
    let snap = |t: &str| Snapshot {
        metrics: parse(t),
        rates: vec![10.0, 10.0, 10.0],
    };
    let t = snap(theirs);
    assert_eq!(t.metrics["bpftrace.o"].values["-"], "\"hello\n\"");
    // The same, another pid: no difference.
    assert!(differences(&t, &snap(&theirs.replace("value 100", "value 7"))).is_empty());
    let cases = [
        (
            theirs.replace(
                "64-bit unsigned int  InDom: PM_INDOM",
                "64-bit int  InDom: PM_INDOM",
            ),
            "bpftrace.x: ours has",
        ),
        (
            theirs.replace("151.100.10", "151.100.20"),
            "PMID: 151.100.20",
        ),
        (theirs.replace("value 42", "value 43"), "bpftrace.x [-]"),
        (
            theirs.replace("inst [1 or \"b\"] value 2\n", ""),
            "bpftrace.k: instances",
        ),
        (
            theirs.replace("bpftrace.o PMID", "bpftrace.p PMID"),
            "bpftrace.o: served by pmdabpftrace only",
        ),
        (theirs.replace("hello", "bye"), "bpftrace.o [-]"),
        (theirs.replace("value 100", "value 0"), "bpftrace.s.pid"),
    ];
    for (ours, want) in cases {
        let d = differences(&t, &snap(&ours));
        assert!(d.iter().any(|x| x.contains(want)), "{want:?} not in {d:?}");
    }
    let mut slow = snap(theirs);
    slow.rates = vec![2.0, 2.0, 2.0];
    assert!(differences(&t, &slow).iter().any(|x| x.contains("rates")));
}
