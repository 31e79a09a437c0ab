//! A container this test makes: a control group of its own holding a
//! process in new network, UTS and mount namespaces, found by the group's
//! name. PCP's container lookup (pmdaroot) knows only engines' containers
//! (docker, podman, lxc), not a bare control group, so this one is checked
//! against what the test set up, not against pmdalinux.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use pcp_core::testing::{have_program, require};
use pcp_core::{PmError, Value};

use super::*;

/// The hierarchy where a test group goes: the memory controller's (v1),
/// else the unified one, as `/proc/self/mounts` lists them.
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

/// Root, a control-group hierarchy to make groups in, and unshare.
fn can_make_containers() -> Option<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let h = hierarchy();
    let ok = require(
        "root and a writable cgroup hierarchy",
        root && h.as_ref().is_some_and(|p| p.exists()),
        "run as root on a host with cgroups mounted",
    );
    (ok && require("unshare", have_program("unshare"), "util-linux")).then_some(h?)
}

/// A control group made by the test holding one process (a `sleep`) in
/// new network, UTS and mount namespaces, with its own host name, its own
/// sysfs (showing its network namespace's interfaces: `lo` only) and a
/// 1 MiB tmpfs at `tmpfs`, seen by no one else. Removed on drop, test
/// failure or not.
struct NsContainer {
    name: String,
    hostname: String,
    tmpfs: PathBuf,
    group: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl NsContainer {
    fn start(base: &Path) -> NsContainer {
        let name = format!("pcp-linux-ns-{}", std::process::id());
        let hostname = format!("inside-{}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        let tmpfs = dir.path().join("mnt");
        std::fs::create_dir(&tmpfs).unwrap();
        let group = base.join(&name);
        std::fs::create_dir_all(&group).unwrap();
        let inner = format!(
            "echo {hostname} > /proc/sys/kernel/hostname && mount -t sysfs sysfs /sys && \
             mount -t tmpfs -o size=1m pcpns {} && exec sleep 600",
            tmpfs.display()
        );
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec unshare --net --uts --mount --propagation private sh -c '{inner}'",
            group.display()
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let c = NsContainer {
            name,
            hostname,
            tmpfs,
            group,
            child,
            _dir: dir,
        };
        let ready = wait_until(Duration::from_secs(10), || {
            let pids = c.pids();
            pids.len() == 1
                && pids.iter().all(|p| {
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

impl Drop for NsContainer {
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

/// An empty control group, removed on drop.
struct EmptyGroup(PathBuf);

impl Drop for EmptyGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// This process's host name.
fn this_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_namespace_container_answers_for_its_network_mounts_and_host_name() {
    let Some(base) = can_make_containers() else {
        return;
    };
    // A listening socket of the host's, none of the container's.
    let _listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let c = NsContainer::start(&base);
    let mut host = linux_host();
    let inside = client(Some(&c.name));
    let outside = client(None);

    // Interfaces: the namespace's lo only, not the host's.
    let lo: BTreeSet<String> = ["lo".to_string()].into();
    let bytes = values(&mut host, "network.interface.in.bytes", &inside).unwrap();
    assert_eq!(keys(&bytes), lo, "{bytes:?}");
    let host_ifs = keys(&values(&mut host, "network.interface.in.bytes", &outside).unwrap());
    assert!(
        host_ifs.len() > 1 && host_ifs.contains("lo"),
        "{host_ifs:?}"
    );
    // Attributes through the container's own sysfs.
    let mtu = values(&mut host, "network.interface.mtu", &inside).unwrap();
    assert_eq!(mtu, [("lo".to_string(), Value::U32(65536))].into());
    // Addresses: lo is down there, so only its hardware address.
    let hw = values(&mut host, "network.interface.hw_addr", &inside).unwrap();
    assert_eq!(keys(&hw), lo, "{hw:?}");
    let inet = values(&mut host, "network.interface.inet_addr", &inside).unwrap();
    assert!(inet.is_empty(), "{inet:?}");
    let host_hw = keys(&values(&mut host, "network.interface.hw_addr", &outside).unwrap());
    assert_eq!(host_hw, host_ifs);
    // Sockets and protocol counters of the namespace: nothing listens,
    // nothing was ever opened.
    let listen = values(&mut host, "network.tcpconn.listen", &inside).unwrap();
    assert_eq!(listen, [(String::new(), Value::U32(0))].into());
    let host_listen = values(&mut host, "network.tcpconn.listen", &outside).unwrap();
    assert!(
        matches!(host_listen.get(""), Some(Value::U32(n)) if *n >= 1),
        "{host_listen:?}"
    );
    let opens = values(&mut host, "network.tcp.activeopens", &inside).unwrap();
    assert_eq!(opens, [(String::new(), Value::U64(0))].into());
    let udp = values(&mut host, "network.sockstat.udp.inuse", &inside).unwrap();
    assert_eq!(udp, [(String::new(), Value::I32(0))].into());

    // The UTS namespace's host name; the kernel's other fields.
    let node = values(&mut host, "kernel.uname.nodename", &inside).unwrap();
    assert_eq!(node[""], Value::from(c.hostname.as_str()));
    let node = values(&mut host, "kernel.uname.nodename", &outside).unwrap();
    assert_eq!(node[""], Value::from(this_hostname().as_str()));
    let release = |who| values(&mut linux_host(), "kernel.uname.release", who).unwrap();
    assert_eq!(release(&inside), release(&outside));

    // Mounts: the container's tmpfs, with its own size (through its
    // root), which the host does not have.
    let dir = c.tmpfs.to_string_lossy().into_owned();
    let cap = values(&mut host, "tmpfs.capacity", &inside).unwrap();
    assert_eq!(cap.get(&dir), Some(&Value::U64(1024)), "{cap:?}");
    let host_cap = values(&mut host, "tmpfs.capacity", &outside).unwrap();
    assert!(!host_cap.contains_key(&dir), "{host_cap:?}");
    let dirs = values(&mut host, "filesys.mountdir", &inside).unwrap();
    assert!(dirs.values().any(|v| *v == Value::from("/")), "{dirs:?}");

    // What is not namespaced is the host's, container or not.
    let load = values(&mut host, "kernel.all.load", &inside).unwrap();
    assert_eq!(load.len(), 3, "{load:?}");
    let cpus = values(&mut host, "hinv.ncpu", &inside).unwrap();
    assert_eq!(cpus, values(&mut host, "hinv.ncpu", &outside).unwrap());
    // And the host's answers are still the host's after a container's.
    let again = keys(&values(&mut host, "network.interface.in.bytes", &outside).unwrap());
    assert_eq!(again, host_ifs);

    // A container without processes is refused as pmdalinux refuses one
    // it cannot find.
    let empty = EmptyGroup(base.join(format!("pcp-linux-empty-{}", std::process::id())));
    std::fs::create_dir_all(&empty.0).unwrap();
    let name = empty.0.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        values(
            &mut host,
            "network.interface.in.bytes",
            &client(Some(&name))
        ),
        Err(PmError::NOCONTAINER)
    );
}
