//! pcp-core's conformance walker over the whole agent (proc, hotproc,
//! cgroup and acct trees), on this machine's /proc and /sys and on PCP
//! QA's recorded cgroup trees: every name, descriptor, help text, label,
//! instance list and one fetch of every metric obey PCP's rules.

use std::path::Path;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcp_core::testing::{check_agent_with, require, CheckOptions};
use pcp_core::ClientContext;
use pmda_proc::{proc_pmda, ProcConfig};

fn config(dir: &Path) -> ProcConfig {
    std::fs::write(
        dir.join("hotproc.conf"),
        "cpuburn > 0.0 || fname == \"init\"\n",
    )
    .unwrap();
    ProcConfig {
        hotproc_config: dir.join("hotproc.conf"),
        pacct: dir.join("no-system-pacct").to_string_lossy().into_owned(),
        pacct_own: dir.join("own-pacct").to_string_lossy().into_owned(),
        ..Default::default()
    }
}

/// Processes in a pid namespace of their own (`unshare --pid --fork
/// --mount --mount-proc`: a shell and two sleeps), whose /proc the agent
/// reads through `/proc/PID/root`: the kernel's real files, for a set of
/// processes nothing else on the machine changes between the checker's
/// questions (on the whole machine a process started between the
/// instance list and the labels is a new instance, not a fault).
struct Namespace(Child);

impl Namespace {
    fn start() -> Namespace {
        let child = Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--mount-proc", "--kill-child"])
            .args(["sh", "-c", "sleep 600 & sleep 600 & wait"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare");
        let ns = Namespace(child);
        // Until the namespace has mounted its own /proc, the path shows the
        // machine's (where pids 1-3 exist too): ready when it lists the
        // namespace's three processes and nothing else.
        let deadline = Instant::now() + Duration::from_secs(10);
        while ns.pids() != [1, 2, 3] {
            assert!(
                Instant::now() < deadline,
                "the namespace's processes did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        ns
    }

    /// The processes listed in the namespace's /proc, sorted.
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = std::fs::read_dir(self.root().join("proc"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        pids.sort_unstable();
        pids
    }

    fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.0.id()))
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_agent_obeys_the_rules_as_root_as_a_user_and_anonymous() {
    if !require(
        "unshare",
        pcp_core::testing::have_program("unshare") && unsafe { libc::geteuid() } == 0,
        "util-linux's unshare, run as root, for a pid namespace of the test's own",
    ) {
        return;
    }
    let ns = Namespace::start();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.root = ns.root();
    let mut agent = proc_pmda(cfg).unwrap();
    let report =
        check_agent_with(&mut agent, &CheckOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    // proc, hotproc, cgroup and acct names; the namespace's 3 processes.
    assert!(report.metrics > 500, "{report:?}");
    assert!(report.values > 300, "{report:?}");
    let nobody = CheckOptions {
        client: ClientContext::user(65534, 65534),
        ..Default::default()
    };
    let report = check_agent_with(&mut agent, &nobody).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.values > 300, "{report:?}");
    // No credentials at all: per-process figures are refused, and the
    // refusal obeys the rules too.
    let anonymous = CheckOptions {
        client: ClientContext::default(),
        ..Default::default()
    };
    check_agent_with(&mut agent, &anonymous).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn the_agent_on_recorded_trees_obeys_the_rules() {
    // PCP QA's recorded roots (pcp-testsuite): four cgroup hosts (v1,
    // unified, hybrids) and a host with pids beyond 16 bits.
    let qa = Path::new("/var/lib/pcp/testsuite/linux");
    let tgzs = [
        "cgroups-root-001.tgz",
        "cgroups-root-002.tgz",
        "cgroups-root-003.tgz",
        "cgroups-root-004.tgz",
        "proc-big-pid-001.tgz",
    ];
    let have = tgzs.iter().all(|t| qa.join(t).exists());
    if !require(
        "pcp-testsuite",
        have,
        "PCP QA's recorded /proc and /sys trees (Debian's pcp-testsuite)",
    ) {
        return;
    }
    for tgz in tgzs {
        let root = tempfile::tempdir().unwrap();
        let st = Command::new("tar")
            .arg("xf")
            .arg(qa.join(tgz))
            .arg("-C")
            .arg(root.path())
            .status()
            .unwrap();
        assert!(st.success(), "unpacking {tgz}");
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.root = root.path().to_path_buf();
        cfg.hertz = Some(100);
        let mut agent = proc_pmda(cfg).unwrap();
        check_agent_with(&mut agent, &CheckOptions::default())
            .unwrap_or_else(|e| panic!("{tgz}: {e}"));
    }
}
