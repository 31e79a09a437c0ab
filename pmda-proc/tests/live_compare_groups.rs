//! Compares this agent with PCP's pmdaproc through the running pmcd on
//! the live machine, for everything but per-process values (those are
//! `live_compare.rs`'s): every name of the `proc`, `hotproc`, `cgroup` and
//! `acct` trees, `pminfo -dml` (descriptor, PMID, the agent's metric
//! labels) for each and instance labels by instance name; and the
//! control groups' values against the kernel's files.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use pcp_core::render::pminfo::{render, Flags};
use pcp_core::{ClientContext, Host};
use pmda_proc::{proc_pmda, ProcConfig};
use support::*;

const TREES: &[&str] = &["proc", "hotproc", "cgroup", "acct"];

/// Names pmdaproc serves that come from PCP's derived-metric
/// configuration (`/etc/pcp/derived/proc.conf`), not from the agent.
const DERIVED: &[&str] = &["proc.hog.", "proc.io.total_bytes", "proc.psinfo.age"];

fn ours_host() -> Host {
    let mut host = Host::new().with_client(ClientContext::user(0, 0));
    host.load(Box::new(proc_pmda(ProcConfig::default()).unwrap()))
        .unwrap();
    host
}

#[test]
fn names_descriptors_and_labels_match_pmdaproc() {
    if !have_pmdaproc() {
        return;
    }
    let trees: Vec<String> = TREES.iter().map(|s| s.to_string()).collect();
    let theirs_names: BTreeSet<String> = pminfo(&[], &trees)
        .lines()
        .map(str::to_string)
        .filter(|n| !DERIVED.iter().any(|d| n.starts_with(d)))
        .collect();
    let host = ours_host();
    let mut ours = Vec::new();
    for t in TREES {
        ours.extend(host.traverse(t).unwrap());
    }
    let ours_names: BTreeSet<String> = ours.iter().map(|(n, _)| n.clone()).collect();
    let missing: Vec<&String> = theirs_names.difference(&ours_names).collect();
    let extra: Vec<&String> = ours_names.difference(&theirs_names).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "names missing: {missing:?}\nnames extra: {extra:?}"
    );
    let names: Vec<String> = ours_names.iter().cloned().collect();
    let flags = Flags {
        desc: true,
        pmid: true,
        labels: true,
        ..Default::default()
    };
    let ours_shown = parse(&render(&host, &ours, flags));
    let theirs = parse(&pminfo(&["-dml"], &names));
    let mut problems = Vec::new();
    let mut inst_compared = 0;
    for n in &names {
        let (a, b) = (&ours_shown[n], &theirs[n]);
        if a.head != b.head || a.desc != b.desc {
            problems.push(format!(
                "{n}: descriptor\n  ours   {} {:?}\n  theirs {} {:?}",
                a.head, a.desc, b.head, b.desc
            ));
        }
        if a.labels != b.labels {
            problems.push(format!(
                "{n}: labels\n  ours   {:?}\n  theirs {:?}",
                a.labels, b.labels
            ));
        }
        // Instance labels of instances both list (processes and groups
        // come and go between the two reads).
        for (inst, theirs_l) in &b.inst_labels {
            if let Some(ours_l) = a.inst_labels.get(inst) {
                inst_compared += 1;
                if ours_l != theirs_l {
                    problems.push(format!(
                        "{n} [{inst}]: instance labels\n  ours   {ours_l}\n  theirs {theirs_l}"
                    ));
                }
            }
        }
    }
    eprintln!(
        "compared {} names (pminfo -dml), {inst_compared} instance label sets, {} problems",
        names.len(),
        problems.len()
    );
    assert!(
        inst_compared > 100,
        "too few instances in common: {inst_compared}"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// How one control-group metric is read from the kernel's files.
struct FromFile {
    metric: &'static str,
    /// The v1 controller whose mount holds the file (None: the unified
    /// hierarchy).
    controller: Option<&'static str>,
    file: &'static str,
    /// The key of a keyed file (`memory.stat`'s `rss`).
    key: Option<&'static str>,
    /// A string metric (pminfo quotes it).
    string: bool,
    /// A file value that means "no value" (a quota of -1 is none, as
    /// pmdaproc answers it).
    none: Option<&'static str>,
    /// Percent a figure that goes up and down (memory in use) may move
    /// beyond the range of the two reads around ours.
    slack: f64,
}

const fn f(metric: &'static str, controller: Option<&'static str>, file: &'static str) -> FromFile {
    FromFile {
        metric,
        controller,
        file,
        key: None,
        string: false,
        none: None,
        slack: 0.0,
    }
}

const fn keyed(
    metric: &'static str,
    controller: Option<&'static str>,
    file: &'static str,
    key: &'static str,
) -> FromFile {
    FromFile {
        key: Some(key),
        ..f(metric, controller, file)
    }
}

const FROM_FILES: &[FromFile] = &[
    FromFile {
        slack: 1.0,
        ..f(
            "cgroup.memory.usage",
            Some("memory"),
            "memory.usage_in_bytes",
        )
    },
    f(
        "cgroup.memory.limit",
        Some("memory"),
        "memory.limit_in_bytes",
    ),
    f("cgroup.memory.failcnt", Some("memory"), "memory.failcnt"),
    FromFile {
        slack: 1.0,
        ..keyed(
            "cgroup.memory.stat.rss",
            Some("memory"),
            "memory.stat",
            "rss",
        )
    },
    FromFile {
        slack: 1.0,
        ..keyed(
            "cgroup.memory.stat.cache",
            Some("memory"),
            "memory.stat",
            "cache",
        )
    },
    keyed(
        "cgroup.memory.stat.pgfault",
        Some("memory"),
        "memory.stat",
        "pgfault",
    ),
    FromFile {
        string: true,
        ..f("cgroup.cpuset.cpus", Some("cpuset"), "cpuset.cpus")
    },
    FromFile {
        string: true,
        ..f("cgroup.cpuset.mems", Some("cpuset"), "cpuset.mems")
    },
    f("cgroup.cpuacct.usage", Some("cpuacct"), "cpuacct.usage"),
    f("cgroup.cpusched.shares", Some("cpu"), "cpu.shares"),
    FromFile {
        none: Some("-1"),
        ..f("cgroup.cpusched.cfs_quota", Some("cpu"), "cpu.cfs_quota_us")
    },
    f(
        "cgroup.cpusched.cfs_period",
        Some("cpu"),
        "cpu.cfs_period_us",
    ),
    keyed("cgroup.cpu.stat.usage", None, "cpu.stat", "usage_usec"),
    keyed("cgroup.cpu.stat.user", None, "cpu.stat", "user_usec"),
];

/// The mount of a v1 controller (or of the unified hierarchy).
fn mount_of(controller: Option<&str>) -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        let hit = match controller {
            Some(c) => w.get(2) == Some(&"cgroup") && w[3].split(',').any(|o| o == c),
            None => w.get(2) == Some(&"cgroup2"),
        };
        hit.then(|| std::path::PathBuf::from(w[1]))
    })
}

/// Every group's value of one file (or one key of it), by group name.
fn read_files(base: &std::path::Path, from: &FromFile) -> BTreeMap<String, String> {
    let (file, key) = (from.file, from.key);
    let mut out = BTreeMap::new();
    for entry in walk(base) {
        let Ok(text) = std::fs::read_to_string(entry.join(file)) else {
            continue;
        };
        let value = match key {
            None => text.trim().to_string(),
            Some(k) => match text
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(' '))
            {
                Some(v) => v.trim().to_string(),
                None => continue,
            },
        };
        let value = if from.string {
            format!("\"{value}\"")
        } else {
            value
        };
        let rel = entry
            .strip_prefix(base)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        out.insert(format!("/{rel}"), value);
    }
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i]) {
            let mut subs: Vec<_> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            subs.sort();
            out.extend(subs);
        }
        i += 1;
    }
    out
}

/// True when `ours` is within `slack` percent of the range of the reads.
fn close(ours: &str, before: &str, after: &str, slack: f64) -> bool {
    let (Ok(o), Ok(b), Ok(a)) = (
        ours.parse::<f64>(),
        before.parse::<f64>(),
        after.parse::<f64>(),
    ) else {
        return false;
    };
    let (lo, hi) = (b.min(a), b.max(a));
    o >= lo * (1.0 - slack / 100.0) && o <= hi * (1.0 + slack / 100.0)
}

/// Control-group values against the kernel's own files, read before and
/// after ours. Not against pmdaproc: on a host with v1 controllers and a
/// unified hierarchy mounted side by side (this one), pmdaproc 6.0.3
/// reads the unified hierarchy alone for every controller, so it lists
/// the unified hierarchy's groups and answers no memory figures, empty
/// cpusets, a quota of -2 and zero block I/O; its answers on pure v1 and
/// pure v2 trees are compared in `qa_cgroups.rs`.
#[test]
fn control_group_values_match_the_kernel() {
    let host = ours_host();
    let mut problems = Vec::new();
    let mut compared = 0;
    for from in FROM_FILES {
        let metric = from.metric;
        let Some(base) = mount_of(from.controller) else {
            continue;
        };
        let before = read_files(&base, from);
        let pmid = host.lookup(metric).unwrap();
        let ours = parse(&render(
            &host,
            &[(metric.to_string(), pmid)],
            Flags {
                fetch: true,
                ..Default::default()
            },
        ));
        let ours: BTreeMap<String, String> = ours[metric].values.values().cloned().collect();
        let after = read_files(&base, from);
        for (group, b) in &before {
            let Some(a) = after.get(group) else { continue };
            if from.none.is_some_and(|n| n == b && n == a) {
                compared += 1;
                if let Some(o) = ours.get(group) {
                    problems.push(format!(
                        "{metric} [{group}]: ours {o} where the file says {b} (none)"
                    ));
                }
                continue;
            }
            let Some(o) = ours.get(group) else {
                problems.push(format!(
                    "{metric} [{group}]: no value from ours, the file says {b}"
                ));
                continue;
            };
            compared += 1;
            if !within(o, b, a) && !close(o, b, a, from.slack) {
                problems.push(format!("{metric} [{group}]: ours {o}, the file {b} / {a}"));
            }
        }
        for group in ours.keys() {
            if !before.contains_key(group) && !after.contains_key(group) {
                problems.push(format!("{metric} [{group}]: no such group"));
            }
        }
    }
    eprintln!(
        "compared {compared} control-group values with the kernel's files, {} problems",
        problems.len()
    );
    assert!(compared > 20, "too few values compared: {compared}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
