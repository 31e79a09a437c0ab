//! `pcp-agent watch`'s instance selection against PCP 6.0.3's `pmrep`,
//! side by side on this machine (pmrep reads the system pmcd, where
//! pmdaproc serves `proc.*`; ours runs `--agents linux,proc`):
//! `-i` by pid, process name and regular expression on `:pidstat` for
//! processes the test starts, instance specifications on other metrics
//! (`-i cpu0`, `-i 1` for `"1 minute"`, a metric spec's quoted instance
//! list), `--rank`, `--limit-filter`, `--live-filter` (with an instance
//! that appears later) and `--invert-filter`, and a selection that matches
//! nothing. And in process: a static selection is the fetch profile, so
//! the proc agent is asked for the selected processes only.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pcp_agent::watch::{self, WatchOptions};
use pcp_core::derive::{DerivedContext, Registry};
use pcp_core::namespace::Child as NsChild;
use pcp_core::pmda::{LabelTarget, TextKind, TextTarget};
use pcp_core::testing::{have_program, require};
use pcp_core::{
    Desc, FetchResult, Host, InDom, Instance, LabelSet, PmError, Pmapi, Pmid, Profile, Value,
};

/// pmrep under PCP's Python, loading PCP's derived metrics as a PCP
/// client does by default.
fn pmrep() -> Command {
    let mut c = Command::new("/usr/bin/pmrep");
    c.env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin")
        .env_remove("PCP_DERIVED_CONFIG");
    c
}

fn pmrep_serves_proc() -> bool {
    have_program("/usr/bin/pmrep")
        && pmrep()
            .args(["-s", "1", "proc.nprocs"])
            .output()
            .is_ok_and(|o| o.status.success())
}

fn need_pmrep() -> bool {
    require(
        "pmrep with pmdaproc",
        pmrep_serves_proc(),
        "PCP's pmrep (package pcp, python3-pcp) and the system pmcd with pmdaproc are needed",
    )
}

fn ours() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pcp-agent"));
    c.env_remove("PCP_DERIVED_CONFIG")
        .args(["--agents", "linux,proc", "watch"]);
    c
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs ours and pmrep with the same arguments at once, both aligned to
/// the same second, and returns (ours, pmrep).
fn both(args: &[&str]) -> (Output, Output) {
    let mut a = ours();
    a.args(["-A", "1"]).args(args);
    let mut b = pmrep();
    b.args(["-A", "1"]).args(args);
    let h = std::thread::spawn(move || b.output().expect("run pmrep"));
    let mine = a.output().expect("run pcp-agent watch");
    (mine, h.join().unwrap())
}

/// Both succeeded; their standard outputs.
fn both_ok(args: &[&str]) -> (String, String) {
    let (m, t) = both(args);
    assert!(m.status.success(), "ours {args:?} failed: {}", err(&m));
    assert!(t.status.success(), "pmrep {args:?} failed: {}", err(&t));
    (out(&m), out(&t))
}

/// Processes the test starts: copies of sleep under a name of the test's
/// own, killed when dropped.
struct Sleepers {
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Sleepers {
    fn new() -> Sleepers {
        Sleepers {
            dir: tempfile::tempdir().unwrap(),
            children: Vec::new(),
        }
    }

    /// Starts one process called `name` (a copy of sleep); its pid.
    fn start(&mut self, name: &str) -> u32 {
        let exe = self.dir.path().join(name);
        if !exe.exists() {
            let sleep = ["/usr/bin/sleep", "/bin/sleep"]
                .into_iter()
                .find(|p| Path::new(p).exists())
                .expect("sleep(1)");
            std::fs::copy(sleep, &exe).unwrap();
        }
        // Another test thread forking while the copy was open for writing
        // holds that descriptor until its child execs: the kernel refuses
        // to run the file meanwhile (ETXTBSY). It passes; try again.
        let mut tries = 0;
        let child = loop {
            match Command::new(&exe).arg("120").stdout(Stdio::null()).spawn() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 50 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => break other.unwrap(),
            }
        };
        let pid = child.id();
        self.children.push(child);
        // Until it has exec'd: /proc/PID/comm names the copy.
        for _ in 0..100 {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if name.starts_with(comm.trim()) && !comm.trim().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        pid
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A name no other process on the machine has.
fn unique_name(tag: &str) -> String {
    format!("w{tag}{}", std::process::id())
}

/// Two :pidstat data lines agree: the same fields, percentages within
/// `tol` of each other (or both N/A), the CPU column free (a process may
/// move between the two reads), and the same width.
fn pidstat_lines_agree(a: &str, b: &str, tol: f64) -> Result<(), String> {
    // Time, pid, name cut to the column, UID, %usr %system %guest %wait
    // %CPU, CPU, Command.
    let (fa, fb): (Vec<&str>, Vec<&str>) = (
        a.split_whitespace().skip(1).collect(),
        b.split_whitespace().skip(1).collect(),
    );
    if fa.len() != fb.len() || a.len() != b.len() {
        return Err(format!("ours:  {a}\npmrep: {b}"));
    }
    let n = fa.len();
    for (i, (x, y)) in fa.iter().zip(&fb).enumerate() {
        let is_pct = i + 7 >= n && i + 2 < n;
        let ok = if i == n - 2 {
            true
        } else if is_pct && x != y {
            match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(p), Ok(q)) => (p - q).abs() <= tol,
                _ => false,
            }
        } else {
            x == y
        };
        if !ok {
            return Err(format!("field {i}:\nours:  {a}\npmrep: {b}"));
        }
    }
    Ok(())
}

#[test]
fn pidstat_selected_by_pid_and_regex_as_pmrep() {
    if !need_pmrep() {
        return;
    }
    let mut s = Sleepers::new();
    let name = unique_name("p");
    let a = s.start(&name);
    let b = s.start(&name);
    // A pid, and a regular expression over the "NNNNNN name" instance
    // names (the form of issue 14's command line).
    let sel = format!("{a},{b:06}.*");
    let (mine, theirs) = both_ok(&["-s", "3", "-t", "1", "-i", &sel, ":pidstat"]);
    let (m, t): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), theirs.lines().collect());
    assert_eq!(m.len(), 7, "ours:\n{mine}\npmrep:\n{theirs}");
    assert_eq!(m.len(), t.len(), "ours:\n{mine}\npmrep:\n{theirs}");
    assert_eq!(m[0], t[0], "header\nours:\n{mine}\npmrep:\n{theirs}");
    // In the order asked: a first, then b; N/A on the first sample.
    for (i, (x, y)) in m[1..].iter().zip(&t[1..]).enumerate() {
        let pid = if i % 2 == 0 { a } else { b };
        assert!(x.contains(&format!(" {pid:06} ")), "line {i}: {x}");
        assert_eq!(x.contains("N/A"), i < 2, "line {i}: {x}");
        pidstat_lines_agree(x, y, 1.0).unwrap();
    }
    println!("ours:\n{mine}pmrep:\n{theirs}");
}

#[test]
fn pidstat_selected_by_process_name_as_pmrep() {
    if !need_pmrep() {
        return;
    }
    let mut s = Sleepers::new();
    let name = unique_name("n");
    let pids = [s.start(&name), s.start(&name)];
    let (mine, theirs) = both_ok(&["-s", "2", "-t", "1", "-i", &name, ":pidstat"]);
    let (m, t): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), theirs.lines().collect());
    assert_eq!(m.len(), 5, "ours:\n{mine}\npmrep:\n{theirs}");
    assert_eq!(m.len(), t.len(), "ours:\n{mine}\npmrep:\n{theirs}");
    assert_eq!(m[0], t[0], "header");
    // Each sample's lines, in pid order (the instance domains' orders
    // differ between the agents).
    for sample in [1..3, 3..5] {
        let mut a: Vec<&str> = m[sample.clone()].to_vec();
        let mut b: Vec<&str> = t[sample].to_vec();
        let key = |l: &&str| l.split_whitespace().nth(1).unwrap_or("").to_string();
        a.sort_by_key(key);
        b.sort_by_key(key);
        for (x, y) in a.iter().zip(&b) {
            pidstat_lines_agree(x, y, 1.0).unwrap();
        }
        for p in pids {
            assert!(a.iter().any(|l| l.contains(&format!(" {p:06} "))), "{a:?}");
        }
    }
}

/// pmrep's report of plain metrics: the header lines identical, then the
/// same number of lines, each with the same fields (N/A in the same
/// places) and width.
fn same_report(what: &str, mine: &str, theirs: &str, header: usize) {
    let (m, t): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), theirs.lines().collect());
    assert_eq!(
        m.len(),
        t.len(),
        "{what}: lines\nours:\n{mine}\npmrep:\n{theirs}"
    );
    assert_eq!(
        m[..header],
        t[..header],
        "{what}: header\nours:\n{mine}\npmrep:\n{theirs}"
    );
    for (a, b) in m[header..].iter().zip(&t[header..]) {
        let na = |l: &str| l.split_whitespace().map(|f| f == "N/A").collect::<Vec<_>>();
        assert_eq!(na(a), na(b), "{what}\nours:  {a}\npmrep: {b}");
        assert_eq!(a.len(), b.len(), "{what}\nours:  {a}\npmrep: {b}");
    }
    println!("{what}:\n{mine}");
}

#[test]
fn instance_specs_on_other_metrics_as_pmrep() {
    if !need_pmrep() {
        return;
    }
    for args in [
        // A regular expression (here a plain name) on per-CPU metrics; a
        // metric without the instance (the load average) is left out.
        &[
            "-s",
            "2",
            "-i",
            "cpu0",
            "kernel.percpu.cpu.user",
            "kernel.all.load",
        ][..],
        &["-s", "2", "-i", "cpu.*", "kernel.percpu.cpu.user"][..],
        // A number selects the instance whose name starts with it.
        &["-s", "2", "-i", "1", "kernel.all.load"][..],
        // A metric spec's quoted instance list, and a singular metric
        // that ignores -i.
        &[
            "-s",
            "2",
            "-i",
            "cpu1",
            "kernel.all.load,,\"1 minute\",\"15 minute\"",
            "kernel.percpu.cpu.sys",
            "hinv.ncpu",
        ][..],
    ] {
        let (mine, theirs) = both_ok(args);
        same_report(&format!("{args:?}"), &mine, &theirs, 3);
    }
}

#[test]
fn rank_limit_and_filters_as_pmrep() {
    if !need_pmrep() {
        return;
    }
    // The load averages are instant and read within the same second by
    // both: ranks and limits pick the same instances.
    for args in [
        &["-s", "2", "-J", "2", "kernel.all.load"][..],
        &["-s", "2", "-J", "-1", "kernel.all.load"][..],
        &["-s", "2", "-J", "2", "-1", "kernel.all.load"][..],
        &["-s", "2", "-8", "1", "kernel.all.load", "hinv.ncpu"][..],
        &["-s", "2", "-9", "-1000", "kernel.all.load,,,,,,,1"][..],
        // Live: filter, then rank; inverted: rank, then filter.
        &[
            "-s",
            "2",
            "-j",
            "-i",
            "1 minute",
            "-J",
            "1",
            "kernel.all.load",
        ][..],
        &[
            "-s",
            "2",
            "-j",
            "-n",
            "-i",
            "1 minute",
            "-J",
            "1",
            "kernel.all.load",
        ][..],
        &[
            "-s",
            "2",
            "-j",
            "-n",
            "-i",
            "15 minute",
            "-J",
            "-1",
            "kernel.all.load",
        ][..],
    ] {
        let (mine, theirs) = both_ok(args);
        let header = if args.contains(&"-1") { 0 } else { 3 };
        same_report(&format!("{args:?}"), &mine, &theirs, header);
    }
}

#[test]
fn live_filter_shows_a_process_that_starts_later_as_pmrep() {
    if !need_pmrep() {
        return;
    }
    let mut s = Sleepers::new();
    let name = unique_name("l");
    let first = s.start(&name);
    let args = ["-s", "5", "-t", "1", "-j", "-1", "-i", &name, ":pidstat"];
    let mut a = ours();
    a.args(["-A", "1"]).args(args);
    let mut b = pmrep();
    b.args(["-A", "1"]).args(args);
    let ha = std::thread::spawn(move || a.output().unwrap());
    let hb = std::thread::spawn(move || b.output().unwrap());
    // pmrep takes over a second to start; the second process comes while
    // both are sampling.
    std::thread::sleep(Duration::from_millis(2500));
    let second = s.start(&name);
    let (mine, theirs) = (ha.join().unwrap(), hb.join().unwrap());
    assert!(mine.status.success(), "{}", err(&mine));
    assert!(theirs.status.success(), "{}", err(&theirs));
    let (mine, theirs) = (out(&mine), out(&theirs));
    // The last sample: both processes, under the same header.
    let last = |t: &str| -> (String, Vec<String>) {
        let lines: Vec<&str> = t.lines().collect();
        let start = lines.iter().rposition(|l| l.contains("PID")).unwrap();
        let mut rows: Vec<String> = lines[start + 1..].iter().map(|l| l.to_string()).collect();
        let stamp = rows.last().map(|l| l[..8].to_string()).unwrap_or_default();
        rows.retain(|l| l.starts_with(&stamp));
        rows.sort_by_key(|l| l.split_whitespace().nth(1).unwrap_or("").to_string());
        (lines[start].to_string(), rows)
    };
    let (hm, rm) = last(&mine);
    let (ht, rt) = last(&theirs);
    assert_eq!(hm, ht, "ours:\n{mine}\npmrep:\n{theirs}");
    assert_eq!(rm.len(), 2, "ours:\n{mine}\npmrep:\n{theirs}");
    assert_eq!(rt.len(), 2, "ours:\n{mine}\npmrep:\n{theirs}");
    for (x, y) in rm.iter().zip(&rt) {
        pidstat_lines_agree(x, y, 1.0).unwrap();
    }
    for p in [first, second] {
        assert!(
            rm.iter().any(|l| l.contains(&format!(" {p:06} "))),
            "{rm:?}"
        );
    }
    // The first sample had the first process only.
    let first_row = mine.lines().find(|l| l.contains(&name[..2])).unwrap_or("");
    assert!(first_row.contains(&format!("{first:06}")), "{mine}");
}

#[test]
fn a_selection_that_matches_nothing_exits_as_pmrep() {
    if !need_pmrep() {
        return;
    }
    for args in [
        &["-s", "1", "-i", "no_such_process_x", ":pidstat"][..],
        &["-s", "1", "-i", "cpu9,'a b'", "kernel.percpu.cpu.user"][..],
        &["-s", "1", "kernel.all.load,,nosuch"][..],
    ] {
        let (m, t) = both(args);
        assert_eq!(m.status.code(), Some(1), "ours {args:?}: {}", err(&m));
        assert_eq!(t.status.code(), Some(1), "pmrep {args:?}: {}", err(&t));
        assert_eq!(out(&m), out(&t), "{args:?}: standard output");
        assert_eq!(err(&t), "No matching instances found.\n");
        assert!(
            err(&m).trim_end().ends_with("No matching instances found."),
            "{args:?}: {}",
            err(&m)
        );
    }
}

/// A host that records the profiles it is asked to fetch with.
struct Recording {
    host: Host,
    profiles: Mutex<Vec<Profile>>,
}

impl Pmapi for Recording {
    fn lookup(&self, name: &str) -> Result<Pmid, PmError> {
        self.host.lookup(name)
    }
    fn names_of(&self, pmid: Pmid) -> Result<Vec<String>, PmError> {
        self.host.names_of(pmid)
    }
    fn children(&self, name: &str) -> Result<Vec<NsChild>, PmError> {
        self.host.children(name)
    }
    fn traverse(&self, name: &str) -> Result<Vec<(String, Pmid)>, PmError> {
        self.host.traverse(name)
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.host.desc(pmid)
    }
    fn instances(&self, indom: InDom) -> Result<Vec<Instance>, PmError> {
        self.host.instances(indom)
    }
    fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError> {
        self.host.text(target, kind)
    }
    fn labels(&self, domain: u32, target: LabelTarget) -> Result<LabelSet, PmError> {
        self.host.labels(domain, target)
    }
    fn metric_labels(&self, pmid: Pmid) -> Result<LabelSet, PmError> {
        self.host.metric_labels(pmid)
    }
    fn instance_labels(&self, indom: InDom) -> Result<Vec<(u32, LabelSet)>, PmError> {
        self.host.instance_labels(indom)
    }
    fn context_labels(&self) -> &LabelSet {
        self.host.context_labels()
    }
    fn fetch_with(&self, pmids: &[Pmid], profile: &Profile) -> FetchResult {
        self.profiles.lock().unwrap().push(profile.clone());
        self.host.fetch_with(pmids, profile)
    }
    fn store(&self, pmid: Pmid, values: &[(u32, Value)]) -> Result<(), PmError> {
        self.host.store(pmid, values)
    }
    fn metadata_generation(&self) -> u64 {
        self.host.metadata_generation()
    }
    fn wait_ready(&self, timeout: Duration) {
        self.host.wait_ready(timeout)
    }
}

#[test]
fn a_static_selection_is_the_fetch_profile() {
    let mut s = Sleepers::new();
    let name = unique_name("f");
    let pid = s.start(&name);
    let mut opts = pcp_agent::agents::AgentOptions::defaults();
    opts.agents = vec!["proc".into()];
    let rec = Recording {
        host: opts.build_host().unwrap(),
        profiles: Mutex::new(Vec::new()),
    };
    let indom = rec
        .host
        .desc(rec.host.lookup("proc.psinfo.utime").unwrap())
        .unwrap()
        .indom;
    let run = |names: &[&str], instances: &[&str], live: bool| {
        rec.profiles.lock().unwrap().clear();
        let w = WatchOptions {
            names: names.iter().map(|s| s.to_string()).collect(),
            samples: Some(2),
            json: true,
            interval: Some(Duration::from_millis(100)),
            instances: instances.iter().map(|s| s.to_string()).collect(),
            overrides: if live {
                vec![("live_filter".into(), "yes".into())]
            } else {
                Vec::new()
            },
            ..WatchOptions::default()
        };
        let derived = DerivedContext::new(Arc::new(Registry::new()));
        watch::run(&rec, &derived, &w).unwrap();
        let p = rec.profiles.lock().unwrap().clone();
        assert_eq!(p.len(), 2);
        p[0].clone()
    };
    // By name and by pid: only that process is asked for.
    for sel in [name.as_str(), &pid.to_string()] {
        let p = run(&["proc.psinfo.utime", "proc.psinfo.cmd"], &[sel], false);
        assert_eq!(
            p,
            Profile::only(indom, [pid]),
            "-i {sel}: the fetch profile"
        );
        assert!(!p.wants(indom, 1));
    }
    // A metric of the same domain without a selection needs them all.
    let spec = format!("proc.psinfo.cmd,,{pid}");
    let p = run(&["proc.psinfo.utime", &spec], &[], false);
    assert!(p.is_all(), "{p:?}");
    // A live filter looks at every process on every sample.
    let p = run(&["proc.psinfo.utime"], &[&name], true);
    assert!(p.is_all(), "{p:?}");
    // A selection that matches nothing is refused before any fetch.
    let derived = DerivedContext::new(Arc::new(Registry::new()));
    let w = WatchOptions {
        names: vec!["proc.psinfo.utime".into()],
        samples: Some(1),
        instances: vec!["no_such_process_x".into()],
        ..WatchOptions::default()
    };
    assert_eq!(
        watch::run(&rec, &derived, &w).unwrap_err(),
        "No matching instances found."
    );
}
