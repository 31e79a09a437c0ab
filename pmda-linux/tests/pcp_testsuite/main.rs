//! This agent and PCP's own pmdalinux on the /proc and /sys trees of real
//! machines that PCP's QA ships (Debian's `pcp-testsuite` package puts
//! them in /var/lib/pcp/testsuite/linux: the 56 `*-root-*.tgz` trees,
//! kernels 2.6.32 to 5.x, docker and lxc hosts, tape drives, FC hosts,
//! md, multipath, NUMA, pressure stall, SysV IPC, and the KSM and NUMA
//! sysfs trees). They are read where the package puts them and unpacked
//! into temporary directories, never copied into this repository.
//!
//! Each tree is read by pmdalinux under dbpmda (`LINUX_STATSPATH=TREE`,
//! `LINUX_NCPUS` the tree's CPU count rather than the live machine's, a
//! private `PCP_VAR_DIR` for its instance caches, the client given user id
//! 0 so the root-only figures are read) and by this agent in process
//! (`LinuxConfig::root = TREE`, a root client). Every metric value is
//! compared by instance name. A difference passes only if it is one of
//! the method's artifacts ([`ARTIFACTS`]: pmdalinux takes some figures
//! from system calls on the machine it runs on, which LINUX_STATSPATH does
//! not redirect) or one of the pmdalinux behaviours this agent does not
//! copy ([`NOT_COPIED`]), each listed with its reason; anything else
//! fails the test, and so does a listed reason that no longer occurs.
//!
//! `PCP_TESTSUITE_REPORT=FILE` writes the unexplained differences to FILE;
//! `PCP_TESTSUITE_TIMES=1` prints each tree's time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pcp_core::testing::{have_program, require};
use pcp_core::{ClientContext, FetchRequest, InDom, Pmda, Profile, Value, PM_IN_NULL};
use pmda_linux::LinuxConfig;

mod dbpmda;
mod ours;
mod reasons;

use dbpmda::{pmdalinux, pmdalinux_names};
use ours::ours;
use reasons::{describe, same, Diff, ARTIFACTS, FIXTURE_ONLY, NOT_COPIED};

/// Where Debian's pcp-testsuite puts PCP's QA files.
const TESTSUITE: &str = "/var/lib/pcp/testsuite/linux";
/// PCP's pmdalinux as the pcp package installs it.
const PMDALINUX: &str = "/var/lib/pcp/pmdas/linux/pmdalinux";
/// The system's PMNS, holding pmdalinux's names.
const PMNS: &str = "/var/lib/pcp/pmns/root";

/// The testsuite's other trees pmdalinux reads (KSM and NUMA sysfs);
/// its remaining archives are for other agents (pmdaproc, pmdazfs).
const SYS_TREES: &[&str] = &[
    "sysfs-ksm-001.tgz",
    "sysfs-ksm-002.tgz",
    "sysfs-numa-001.tgz",
];

/// One metric's answer: instance name ("" for a singular value) -> value
/// as text, or the error that came instead.
#[derive(Debug, Clone, Default)]
struct Answer {
    values: BTreeMap<String, String>,
    error: Option<String>,
}

fn trees() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(TESTSUITE)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.ends_with(".tgz")
                        && (n.contains("-root-") || SYS_TREES.iter().any(|t| n == *t))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn unpack(tgz: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pcp-testsuite-tree-")
        .tempdir()
        .unwrap();
    let st = Command::new("tar")
        .arg("xzf")
        .arg(tgz)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar runs");
    assert!(st.success(), "tar xzf {}", tgz.display());
    dir
}

/// The number of CPUs in the tree's /proc/stat (0 without one).
fn tree_cpus(root: &Path) -> usize {
    std::fs::read_to_string(root.join("proc/stat"))
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
                .count()
        })
        .unwrap_or(0)
}

/// True when the tree has NUMA node directories but none lists its CPUs
/// (the capture kept only their meminfo and numastat).
fn cpuless_nodes(root: &Path) -> bool {
    let Ok(nodes) = std::fs::read_dir(root.join("sys/devices/system/node")) else {
        return false;
    };
    !nodes.filter_map(|e| e.ok()).any(|node| {
        std::fs::read_dir(node.path())
            .map(|d| {
                d.filter_map(|e| e.ok()).any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("cpu") && n[3..].parse::<u32>().is_ok()
                })
            })
            .unwrap_or(false)
    })
}

/// Gives ours what pmdalinux reads from the live machine rather than
/// under LINUX_STATSPATH, where ours reads it under the root: user names
/// (getpwuid) and the pattern of interfaces left out of network.all.*.
fn share_live_config(root: &Path) {
    for (live, rel) in [
        ("/etc/passwd", "etc/passwd"),
        (
            "/etc/pcp/linux/interfaces.conf",
            "etc/pcp/linux/interfaces.conf",
        ),
    ] {
        let dest = root.join(rel);
        if Path::new(live).exists() && !dest.exists() {
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            std::fs::copy(live, dest).unwrap();
        }
    }
}

/// What one tree's comparison found.
#[derive(Debug, Default)]
struct TreeResult {
    compared: usize,
    agreed: usize,
    used: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
}

fn compare_tree(tgz: &Path) -> TreeResult {
    let tree = tgz
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tgz", "");
    let dir = unpack(tgz);
    compare_root(&tree, dir.path(), &[])
}

/// Both agents on the tree at `root`, for the metrics under `prefixes`
/// (all when empty); differences are reported under `label`.
fn compare_root(tree: &str, root: &Path, prefixes: &[&str]) -> TreeResult {
    share_live_config(root);
    let t0 = std::time::Instant::now();
    let ours = ours(root, prefixes);
    let t1 = t0.elapsed();
    let real = pmdalinux(root, &ours.groups, &ours.indoms);
    if std::env::var_os("PCP_TESTSUITE_TIMES").is_some() {
        eprintln!("{tree}: ours {t1:.1?}, pmdalinux {:.1?}", t0.elapsed() - t1);
    }
    let mut res = TreeResult::default();
    for (n, o) in &ours.answers {
        let r = &real[n];
        let keys: BTreeSet<&String> = r.values.keys().chain(o.values.keys()).collect();
        for k in keys {
            res.compared += 1;
            let (rv, ov) = (r.values.get(k), o.values.get(k));
            if same(rv.map_or("-", |v| v), ov.map_or("-", |v| v)) {
                res.agreed += 1;
                continue;
            }
            let d = Diff {
                root,
                metric: n,
                inst: k,
                real: rv.map(String::as_str),
                ours: ov.map(String::as_str),
                our_err: o.error.as_deref(),
            };
            match ARTIFACTS.iter().chain(NOT_COPIED).find(|a| (a.applies)(&d)) {
                Some(a) => *res.used.entry(a.name).or_default() += 1,
                None => res.unexplained.push(format!("{tree} {}", describe(&d))),
            }
        }
    }
    res
}

#[test]
fn pmdalinux_and_ours_agree_on_pcp_qa_trees() {
    let trees = trees();
    if !require(
        "pcp-testsuite",
        !trees.is_empty(),
        "Debian's pcp-testsuite package puts PCP's QA trees in /var/lib/pcp/testsuite/linux",
    ) || !require(
        "pmdalinux",
        Path::new(PMDALINUX).exists() && have_program("dbpmda"),
        "PCP's pmdalinux and dbpmda (package pcp)",
    ) {
        return;
    }
    let started = std::time::Instant::now();
    // Two trees at a time (pmdalinux under dbpmda and ours each use one
    // core).
    let results: Vec<TreeResult> = std::thread::scope(|scope| {
        let halves: Vec<_> = [0, 1]
            .into_iter()
            .map(|half| {
                let trees = &trees;
                scope.spawn(move || {
                    trees
                        .iter()
                        .skip(half)
                        .step_by(2)
                        .map(|t| compare_tree(t))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let used = summarise(&format!("{} trees", trees.len()), started, results);
    for a in ARTIFACTS
        .iter()
        .chain(NOT_COPIED)
        .filter(|a| !FIXTURE_ONLY.contains(&a.name))
    {
        assert!(
            used.contains_key(a.name),
            "artifact {:?} no longer occurs: take it out",
            a.name
        );
    }
}

/// Prints what the comparisons found, fails on any unexplained
/// difference and returns how often each listed reason served.
fn summarise(
    what: &str,
    started: std::time::Instant,
    results: Vec<TreeResult>,
) -> BTreeMap<&'static str, usize> {
    let mut unexplained = Vec::new();
    let mut used: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut compared, mut agreed) = (0usize, 0usize);
    for r in results {
        compared += r.compared;
        agreed += r.agreed;
        unexplained.extend(r.unexplained);
        for (k, v) in r.used {
            *used.entry(k).or_default() += v;
        }
    }
    let explained: usize = used.values().sum();
    eprintln!(
        "{} in {:.1?}: {compared} values, {agreed} agree, {explained} differ as listed, {} unexplained",
        what,
        started.elapsed(),
        unexplained.len()
    );
    for (title, list) in [
        ("artifacts of the method", ARTIFACTS),
        ("pmdalinux behaviours not copied", NOT_COPIED),
    ] {
        eprintln!("{title}:");
        for a in list {
            eprintln!(
                "  {:5} {}: {}",
                used.get(a.name).copied().unwrap_or(0),
                a.name,
                a.reason.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
    if let Ok(path) = std::env::var("PCP_TESTSUITE_REPORT") {
        std::fs::write(path, unexplained.join("\n")).unwrap();
    }
    assert!(
        unexplained.is_empty(),
        "{} differences are not explained:\n{}",
        unexplained.len(),
        unexplained[..unexplained.len().min(60)].join("\n")
    );
    used
}

/// The testsuite's single files of other machines and kernels: where each
/// goes in a tree, and the metrics read from it.
const QA_FILES: &[(&str, &str, &[&str])] = &[
    (
        "cpuinfo-",
        "proc/cpuinfo",
        &["hinv.cpu.", "hinv.map.cpu", "hinv.ncpu"],
    ),
    (
        "interrupts-",
        "proc/interrupts",
        &[
            "kernel.all.interrupts.",
            "kernel.percpu.interrupts",
            "kernel.percpu.intr",
        ],
    ),
    (
        "softirqs-",
        "proc/softirqs",
        &[
            "kernel.all.softirqs.",
            "kernel.percpu.softirqs",
            "kernel.percpu.sirq",
        ],
    ),
    (
        "procnet-snmp6-",
        "proc/net/snmp6",
        &[
            "network.ip6.",
            "network.icmp6.",
            "network.udp6.",
            "network.udplite6.",
        ],
    ),
    (
        "procnet-snmp-",
        "proc/net/snmp",
        &[
            "network.ip.",
            "network.icmp.",
            "network.icmpmsg.",
            "network.tcp.",
            "network.udp.",
            "network.udplite.",
        ],
    ),
    (
        "proc_net_netstat",
        "proc/net/netstat",
        &["network.ip.", "network.tcp.", "network.mptcp."],
    ),
    (
        "proc_net_sockstat6",
        "proc/net/sockstat6",
        &["network.sockstat."],
    ),
    (
        "proc_net_sockstat",
        "proc/net/sockstat",
        &["network.sockstat."],
    ),
    (
        "proc_serial_tty",
        "proc/tty/driver/serial",
        &["tty.serial."],
    ),
];

/// A /proc/stat of `n` idle CPUs, as PCP's QA makes one.
fn idle_stat(n: usize) -> String {
    let mut s = String::from("cpu 0 0 0 0 0 0 0 0 0\n");
    for c in 0..n {
        s.push_str(&format!("cpu{c} 0 0 0 0 0 0 0 0 0\n"));
    }
    s
}

#[test]
fn pmdalinux_and_ours_agree_on_pcp_qa_files() {
    let files: Vec<PathBuf> = std::fs::read_dir(TESTSUITE)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let mut cases: Vec<(PathBuf, &str, &[&str])> = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        // 1057 lines by 1152 CPUs: 1.2 million per-CPU instances, which
        // take both agents tens of seconds in a debug build; the 8- and
        // 16-CPU files have the same layout.
        if name.starts_with("interrupts-1152cpu") {
            continue;
        }
        if let Some((_, rel, prefixes)) = QA_FILES.iter().find(|(p, ..)| name.starts_with(p)) {
            cases.push((f.clone(), rel, prefixes));
        }
    }
    cases.sort();
    if !require(
        "pcp-testsuite",
        cases.len() >= 20,
        "Debian's pcp-testsuite package puts PCP's QA files in /var/lib/pcp/testsuite/linux",
    ) || !require(
        "pmdalinux",
        Path::new(PMDALINUX).exists() && have_program("dbpmda") && have_program("bzcat"),
        "PCP's pmdalinux and dbpmda (package pcp), bzcat (package bzip2)",
    ) {
        return;
    }
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for (file, rel, prefixes) in &cases {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::Builder::new()
            .prefix("pcp-testsuite-file-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        let dest = root.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if name.ends_with(".bz2") {
            let out = Command::new("bzcat")
                .arg(file)
                .output()
                .expect("bzcat runs");
            std::fs::write(&dest, out.stdout).unwrap();
        } else {
            std::fs::copy(file, &dest).unwrap();
        }
        // "cpuinfo-32cpu-4830": 32 CPUs; other files, one.
        let ncpu = name
            .split('-')
            .find_map(|w| w.strip_suffix("cpu")?.parse().ok())
            .unwrap_or(1);
        std::fs::write(root.join("proc/stat"), idle_stat(ncpu)).unwrap();
        results.push(compare_root(&name, root, prefixes));
    }
    summarise(&format!("{} files", cases.len()), started, results);
}

/// This crate's fixture trees in the formats of other kernels
/// (`tests/fixtures/kernels/VERSION`, made by `build_kernels.sh` from the
/// kernels' sources and documentation), read by both agents.
#[test]
fn pmdalinux_and_ours_agree_on_kernel_format_fixtures() {
    if !require(
        "pmdalinux",
        Path::new(PMDALINUX).exists() && have_program("dbpmda"),
        "PCP's pmdalinux and dbpmda (package pcp)",
    ) {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernels");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    versions.sort();
    let started = std::time::Instant::now();
    let mut results = Vec::new();
    for v in &versions {
        // A scratch copy: the comparison adds the live configuration.
        let copy = tempfile::Builder::new()
            .prefix("pcp-kernel-fixture-")
            .tempdir()
            .unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", v.display()))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(st.success());
        let name = format!("kernel {}", v.file_name().unwrap().to_string_lossy());
        results.push(compare_root(&name, copy.path(), &[]));
    }
    let used = summarise(
        &format!("{} kernel fixtures", versions.len()),
        started,
        results,
    );
    for name in FIXTURE_ONLY {
        assert!(
            used.contains_key(name),
            "reason {name:?} no longer occurs: take it out"
        );
    }
}
