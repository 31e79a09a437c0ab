//! The proc agent answers for a client's container (`pminfo
//! --container=NAME`): in process through a client context, and under a
//! real pmcd, which passes the client's `container` attribute on.
//!
//! Two kinds of container: one this test makes (a control group of its
//! own and a process in new pid and mount namespaces, found by the
//! group's name), and a real podman container (found through podman's
//! state, by name and by short id).

mod install_support;
mod pmcd_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use install_support::install_options;
use pcp_agent::pmcd;
use pcp_core::{ClientContext, Host, PmError, Value};
use pmcd_support::*;
use pmda_proc::{proc_pmda, ProcConfig};

/// The hierarchy where a test group goes: the memory controller's (v1)
/// or the unified one, as `/proc/mounts` lists them.
fn hierarchy() -> Option<(PathBuf, bool)> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let mut v2 = None;
    for l in mounts.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 4 {
            continue;
        }
        if w[2] == "cgroup" && w[3].split(',').any(|o| o == "memory") {
            return Some((PathBuf::from(w[1]), false));
        }
        if w[2] == "cgroup2" && v2.is_none() {
            v2 = Some((PathBuf::from(w[1]), true));
        }
    }
    v2
}

/// A control group made by the test, with a process in new pid and
/// mount namespaces inside it; removed on drop.
struct TestContainer {
    name: String,
    group: PathBuf,
    child: Child,
}

impl TestContainer {
    fn start(base: &Path, tag: &str) -> TestContainer {
        let name = format!("pcp-agent-{tag}-{}", std::process::id());
        let group = base.join(&name);
        std::fs::create_dir_all(&group).unwrap();
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec unshare --pid --mount --fork --mount-proc sleep 600",
            group.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let t = TestContainer { name, group, child };
        // Two processes, and the second past its exec: unshare forks, the
        // child mounts its /proc, then becomes `sleep 600` (its command
        // line shows once the exec is done).
        let ready = wait_until(Duration::from_secs(10), || {
            let pids = t.pids();
            pids.len() == 2
                && pids.iter().any(|pid| {
                    std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
                        == b"sleep\x00600\x00"
                })
        });
        assert!(ready, "unshare and sleep in {}", t.group.display());
        t
    }

    /// The processes in the group (unshare and its child).
    fn pids(&self) -> BTreeSet<u32> {
        std::fs::read_to_string(self.group.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        for pid in self.pids() {
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.wait();
        wait_until(Duration::from_secs(5), || self.pids().is_empty());
        let _ = std::fs::remove_dir(&self.group);
    }
}

fn as_root_in(container: &str) -> ClientContext {
    ClientContext {
        user_id: Some(0),
        group_id: Some(0),
        container: Some(container.to_string()),
        ..Default::default()
    }
}

/// The instances and values of one metric for `client`.
fn fetch(
    host: &mut Host,
    name: &str,
    client: &ClientContext,
) -> Result<Vec<(u32, Value)>, PmError> {
    let id = host.lookup(name).unwrap();
    let r = host.fetch_as(client, &[id], &pcp_core::Profile::default());
    r.values.into_iter().next().unwrap().1
}

fn proc_host() -> Host {
    let mut host = Host::new();
    host.load(Box::new(proc_pmda(ProcConfig::default()).unwrap()))
        .unwrap();
    host
}

fn can_make_groups() -> Option<(PathBuf, bool)> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let h = hierarchy();
    let ok = pcp_core::testing::require(
        "root and a writable cgroup hierarchy",
        root && h.as_ref().is_some_and(|(p, _)| p.exists()),
        "run as root on a host with cgroups mounted",
    );
    let have_unshare = pcp_core::testing::have_program("unshare");
    let ok = ok && pcp_core::testing::require("unshare", have_unshare, "util-linux");
    if ok {
        h
    } else {
        None
    }
}

#[test]
fn a_test_made_container_scopes_proc_and_cgroup_in_process() {
    let Some((base, v2)) = can_make_groups() else {
        return;
    };
    let c = TestContainer::start(&base, "inproc");
    let mut host = proc_host();
    let inside = as_root_in(&c.name);

    let nprocs = fetch(&mut host, "proc.nprocs", &inside).unwrap();
    assert_eq!(nprocs, vec![(0xffff_ffff, Value::U32(2))]);
    let pids: BTreeSet<u32> = fetch(&mut host, "proc.psinfo.pid", &inside)
        .unwrap()
        .into_iter()
        .map(|(i, _)| i)
        .collect();
    assert_eq!(pids, c.pids());
    let cmds: BTreeSet<String> = fetch(&mut host, "proc.psinfo.cmd", &inside)
        .unwrap()
        .into_iter()
        .map(|(_, v)| match v {
            Value::String(s) => s,
            v => panic!("{v:?}"),
        })
        .collect();
    assert_eq!(cmds, ["sleep", "unshare"].map(String::from).into());
    // The sleep runs in a pid namespace of its own, as its pid 1
    // (NSpid: the host's pid, then the namespace's).
    let ns_pid = fetch(&mut host, "proc.namespaces.pid", &inside).unwrap();
    assert!(
        ns_pid
            .iter()
            .any(|(p, v)| *v == Value::String(format!("{p},1"))),
        "{ns_pid:?}"
    );

    // The control groups of the container only: its own.
    let metric = if v2 {
        "cgroup.memory.current"
    } else {
        "cgroup.memory.usage"
    };
    let indom = host.desc(host.lookup(metric).unwrap()).unwrap().indom;
    let groups: Vec<String> = host
        .instances_as(&inside, indom)
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(groups, [format!("/{}", c.name)]);

    // The whole host without a container.
    let host_wide = ClientContext {
        container: None,
        ..inside.clone()
    };
    let all = fetch(&mut host, "proc.nprocs", &host_wide).unwrap();
    assert!(matches!(all[0].1, Value::U32(n) if n > 2), "{all:?}");

    // An unknown container is PCP's error, for every scoped metric, and
    // the agent's own controls still answer.
    let nowhere = as_root_in("no-such-container-here");
    assert_eq!(
        fetch(&mut host, "proc.nprocs", &nowhere),
        Err(PmError::NOCONTAINER)
    );
    assert_eq!(
        fetch(&mut host, metric, &nowhere),
        Err(PmError::NOCONTAINER)
    );
    assert!(fetch(&mut host, "proc.control.all.threads", &nowhere).is_ok());
    assert!(host
        .instances_as(&nowhere, indom)
        .is_err_and(|e| e == PmError::NOCONTAINER));
}

/// Installs the proc agent at domain 3 in a private pmcd.
fn pmcd_with_proc() -> PrivatePmcd {
    let p = PrivatePmcd::start_empty();
    let io = install_options(
        &p,
        "proc",
        pmda_proc::DOMAIN,
        ["proc", "hotproc", "cgroup", "acct"]
            .map(String::from)
            .to_vec(),
    );
    pmcd::install(&io).unwrap_or_else(|e| panic!("install: {e}\n{}", p.log()));
    p
}

fn pminfo_in(p: &PrivatePmcd, container: &str, names: &[&str]) -> String {
    let o = p.run(
        Command::new("pminfo")
            .arg("-h")
            .arg(p.unix_host())
            .arg(format!("--container={container}"))
            .arg("-f")
            .args(names),
    );
    format!("{}{}", stdout(&o), stderr(&o))
}

#[test]
fn pmcd_passes_the_client_container_to_the_proc_agent() {
    if !require_pmcd("the proc agent under a private pmcd") {
        return;
    }
    let Some((base, _)) = can_make_groups() else {
        return;
    };
    let c = TestContainer::start(&base, "pmcd");
    let p = pmcd_with_proc();
    let out = pminfo_in(&p, &c.name, &["proc.nprocs", "proc.psinfo.cmd"]);
    assert!(
        out.contains("proc.nprocs\n    value 2\n"),
        "{out}\n{}",
        p.log()
    );
    for pid in c.pids() {
        assert!(
            out.contains(&format!("inst [{pid} or \"{pid:06}")),
            "{pid}: {out}"
        );
    }
    assert!(
        out.contains("value \"sleep\"") && out.contains("value \"unshare\""),
        "{out}"
    );
    let out = pminfo_in(&p, "no-such-container-here", &["proc.nprocs"]);
    assert!(out.contains("Container not found"), "{out}");
}

/// A busybox root file system for podman's `--rootfs`.
fn busybox_rootfs(dir: &Path) -> Option<PathBuf> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())?;
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    Some(root)
}

/// podman with the runc runtime (crun refuses this kernel's hybrid
/// cgroup layout) and limits within the machine's hard limits.
fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc"]);
    c
}

struct Podman {
    name: String,
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "-f", "-t", "0", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn a_podman_container_is_found_by_name_and_short_id() {
    let have = pcp_core::testing::have_program("podman") && pcp_core::testing::have_program("runc");
    if !pcp_core::testing::require(
        "podman",
        have,
        "podman, runc and busybox-static (scripts/setup-systems.sh installs them)",
    ) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = busybox_rootfs(tmp.path());
    if !pcp_core::testing::require("busybox", rootfs.is_some(), "busybox-static") {
        return;
    }
    let name = format!("pcp-agent-pod-{}", std::process::id());
    let guard = Podman { name: name.clone() };
    let o = run_bounded(
        podman()
            .args([
                "run",
                "-d",
                "--name",
                &name,
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=4096:4096",
                "--network",
                "none",
                "--rootfs",
            ])
            .arg(rootfs.unwrap())
            .args(["/bin/busybox", "sleep", "600"]),
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "podman run: {}", stderr(&o));
    let id = stdout(&o).trim().to_string();
    assert_eq!(id.len(), 64, "{id}");
    let o = run_bounded(
        podman().args(["inspect", "-f", "{{.State.Pid}}", &name]),
        Duration::from_secs(30),
    );
    let pid: u32 = stdout(&o).trim().parse().expect("container pid");

    let mut host = proc_host();
    for handle in [name.as_str(), &id[..12], id.as_str()] {
        let inside = as_root_in(handle);
        let got = fetch(&mut host, "proc.psinfo.cmd", &inside).unwrap();
        assert_eq!(got, vec![(pid, Value::from("busybox"))], "{handle}");
        let cid = fetch(&mut host, "proc.id.container", &inside).unwrap();
        assert_eq!(cid, vec![(pid, Value::from(id.as_str()))], "{handle}");
        let groups = fetch(&mut host, "cgroup.cpuacct.usage", &inside).unwrap_or_default();
        assert!(!groups.is_empty(), "{handle}: cpuacct groups");
        let ids = host.lookup("cgroup.cpuacct.usage").unwrap();
        let indom = host.desc(ids).unwrap().indom;
        for i in host.instances_as(&inside, indom).unwrap() {
            assert!(i.name.contains(&id), "{handle}: {}", i.name);
        }
    }
    drop(guard);
    let gone = fetch(&mut host, "proc.nprocs", &as_root_in(&name));
    assert_eq!(gone, Err(PmError::NOCONTAINER));
}
