//! The linux agent under a real pmcd answers for the client's container
//! (`pminfo --container=NAME`): pmcd passes the client's `container`
//! attribute on, and the agent reads the container's network and UTS
//! namespaces. The container is one this test makes: a control group
//! holding a process in new network and UTS namespaces, found by the
//! group's name. (pmda-linux's own tests check the families in process
//! and compare a podman container with PCP's pmdalinux.)

mod install_support;
mod pmcd_support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use install_support::install_options;
use pcp_agent::pmcd;
use pcp_core::Pmda;
use pmcd_support::*;

/// The hierarchy where a test group goes: the memory controller's (v1)
/// or else the unified one, as `/proc/self/mounts` lists them.
fn hierarchy() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    let mut v2 = None;
    for l in mounts.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.len() < 4 {
            continue;
        }
        if w[2] == "cgroup" && w[3].split(',').any(|o| o == "memory") {
            return Some(PathBuf::from(w[1]));
        }
        if w[2] == "cgroup2" && v2.is_none() {
            v2 = Some(PathBuf::from(w[1]));
        }
    }
    v2
}

/// A control group holding a `sleep` in new network and UTS namespaces
/// with host name `hostname`; removed on drop.
struct NetContainer {
    name: String,
    hostname: String,
    group: PathBuf,
    child: Child,
}

impl NetContainer {
    fn start(base: &Path) -> NetContainer {
        let name = format!("pcp-agent-linuxns-{}", std::process::id());
        let hostname = format!("linuxns-{}", std::process::id());
        let group = base.join(&name);
        std::fs::create_dir_all(&group).unwrap();
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec unshare --net --uts sh -c \
             'echo {hostname} > /proc/sys/kernel/hostname && exec sleep 600'",
            group.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let c = NetContainer {
            name,
            hostname,
            group,
            child,
        };
        let ready = wait_until(Duration::from_secs(10), || {
            c.pids().iter().any(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|s| s.trim() == "sleep")
            })
        });
        assert!(ready, "unshare and sleep in {}", c.group.display());
        c
    }

    fn pids(&self) -> BTreeSet<u32> {
        std::fs::read_to_string(self.group.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.parse().ok())
            .collect()
    }
}

impl Drop for NetContainer {
    fn drop(&mut self) {
        for pid in self.pids() {
            // SAFETY: kill has no memory effects.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        wait_until(Duration::from_secs(5), || self.pids().is_empty());
        let _ = std::fs::remove_dir(&self.group);
    }
}

/// Installs the linux agent at domain 60 in a private pmcd.
fn pmcd_with_linux() -> PrivatePmcd {
    let p = PrivatePmcd::start_empty();
    let agent = pmda_linux::new(pmda_linux::LinuxConfig::default()).unwrap();
    let io = install_options(
        &p,
        "linux",
        pmda_linux::DOMAIN,
        agent.namespace().top_level(),
    );
    pmcd::install(&io).unwrap_or_else(|e| panic!("install: {e}\n{}", p.log()));
    p
}

fn pminfo_in(p: &PrivatePmcd, container: Option<&str>, names: &[&str]) -> String {
    let mut cmd = Command::new("pminfo");
    cmd.arg("-h").arg(p.unix_host());
    if let Some(c) = container {
        cmd.arg(format!("--container={c}"));
    }
    let o = p.run(cmd.arg("-f").args(names));
    format!("{}{}", stdout(&o), stderr(&o))
}

#[test]
fn pmcd_passes_the_client_container_to_the_linux_agent() {
    if !require_pmcd("the linux agent under a private pmcd") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let base = hierarchy().filter(|_| root);
    let why = "run as root on a host with cgroups mounted, with util-linux's unshare";
    let ok = base.is_some() && pcp_core::testing::have_program("unshare");
    if !pcp_core::testing::require("root, a cgroup hierarchy and unshare", ok, why) {
        return;
    }
    let c = NetContainer::start(&base.unwrap());
    let p = pmcd_with_linux();
    let names = ["network.interface.in.bytes", "kernel.uname.nodename"];

    let inside = pminfo_in(&p, Some(&c.name), &names);
    assert!(
        inside.contains(" or \"lo\"] value "),
        "{inside}\n{}",
        p.log()
    );
    assert_eq!(inside.matches("inst [").count(), 1, "{inside}");
    assert!(
        inside.contains(&format!("value \"{}\"", c.hostname)),
        "{inside}"
    );

    let outside = pminfo_in(&p, None, &names);
    assert!(outside.matches("inst [").count() > 1, "{outside}");
    assert!(!outside.contains(&c.hostname), "{outside}");

    let nowhere = pminfo_in(&p, Some("no-such-container-here"), &names);
    assert!(nowhere.contains("Container not found"), "{nowhere}");
}
