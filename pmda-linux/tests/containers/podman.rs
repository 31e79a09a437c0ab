//! A podman container compared with PCP's pmdalinux through the system
//! pmcd (`pminfo --container=NAME`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use pcp_core::testing::{have_program, require};
use pcp_core::Value;

use super::*;

/// podman with the runc runtime (crun refuses this kernel's hybrid
/// cgroup layout), removing its container on drop.
struct Podman {
    name: String,
}

fn podman() -> Command {
    let mut c = Command::new("podman");
    c.args(["--runtime", "runc"]);
    c
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

/// `pminfo -f` output: per metric, the value text per instance name (""
/// for a singular metric); a metric without values maps to nothing.
fn parse_pminfo_f(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut metric = String::new();
    for l in text.lines() {
        let t = l.trim();
        if t.is_empty() {
            continue;
        }
        if !l.starts_with(' ') {
            metric = t.to_string();
            out.entry(metric.clone()).or_default();
        } else if let Some(v) = t.strip_prefix("value ") {
            out.entry(metric.clone())
                .or_default()
                .insert(String::new(), v.to_string());
        } else if let Some((name, v)) = t
            .strip_prefix("inst [")
            .and_then(|r| r.split_once(" or \""))
            .and_then(|(_, r)| r.split_once("\"] value "))
        {
            out.entry(metric.clone())
                .or_default()
                .insert(name.to_string(), v.to_string());
        }
    }
    out
}

/// A value as `pminfo -f` prints it (integers and strings only).
fn as_pminfo(v: &Value) -> String {
    match v {
        Value::I32(n) => n.to_string(),
        Value::U32(n) => n.to_string(),
        Value::I64(n) => n.to_string(),
        Value::U64(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        v => format!("{v:?}"),
    }
}

/// Metrics compared value for value with pmdalinux for an idle container
/// (a `sleep` without a network): nothing in them moves.
const SAME_VALUES: &[&str] = &[
    "network.interface.in.bytes",
    "network.interface.out.packets",
    "network.interface.mtu",
    "network.interface.up",
    "network.interface.hw_addr",
    "network.interface.inet_addr",
    "network.interface.ipv6_addr",
    "network.interface.ipv6_scope",
    "network.all.in.bytes",
    "network.tcpconn.listen",
    "network.tcpconn.established",
    "network.udpconn.listen",
    "network.sockstat.tcp.inuse",
    "network.sockstat.udp.inuse",
    "network.tcp.activeopens",
    "network.udp.indatagrams",
    "network.unix.stream.count",
    "network.rawconn.count",
    "kernel.uname.nodename",
    "kernel.uname.sysname",
    "kernel.uname.release",
    "filesys.mountdir",
    "hinv.nfilesys",
    "hinv.ninterface",
];

/// Metrics whose instances, not values, are compared: pmdalinux calls
/// statfs on a container's mount point outside its mount namespace (so
/// its figures are the host's path's), this agent through the
/// container's root.
const SAME_INSTANCES: &[&str] = &["tmpfs.capacity", "filesys.capacity"];

/// A podman container (its own network, UTS and mount namespaces, found
/// through podman's state by name) answers as PCP's pmdalinux answers for
/// it through the system pmcd (`pminfo --container=NAME`). Run under the
/// lock the tests that use the system pmcd share.
#[test]
fn a_podman_container_answers_as_pmdalinux_answers() {
    let have = have_program("podman") && have_program("runc") && have_program("pminfo");
    let why = "podman, runc, busybox-static (scripts/setup-systems.sh) and PCP's pminfo";
    if !require("podman and pminfo", have, why) {
        return;
    }
    let up = pcp_core::testing::port_open("127.0.0.1:44321");
    if !require("pmcd", up, "the system pmcd answers on 127.0.0.1:44321") {
        return;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    let Some(busybox) = busybox else {
        require("busybox", false, "busybox-static");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
    let name = format!("pcp-linux-pod-{}", std::process::id());
    let _guard = Podman { name: name.clone() };
    let o = podman()
        .args(["run", "-d", "--name", &name, "--network", "none"])
        .args([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
        ])
        .arg("--rootfs")
        .arg(&rootfs)
        .args(["/bin/busybox", "sleep", "600"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "podman run: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();

    let names: Vec<&str> = SAME_VALUES.iter().chain(SAME_INSTANCES).copied().collect();
    let o = Command::new("pminfo")
        .arg(format!("--container={name}"))
        .arg("-f")
        .args(&names)
        .output()
        .unwrap();
    let real = parse_pminfo_f(&String::from_utf8_lossy(&o.stdout));
    let mut host = linux_host();
    let inside = client(Some(&name));
    let mut problems = Vec::new();
    for metric in &names {
        let ours: BTreeMap<String, String> = values(&mut host, metric, &inside)
            .unwrap_or_default()
            .iter()
            .map(|(i, v)| (i.clone(), as_pminfo(v)))
            .collect();
        let theirs = real.get(*metric).cloned().unwrap_or_default();
        let same = if SAME_VALUES.contains(metric) {
            ours == theirs
        } else {
            ours.keys().eq(theirs.keys())
        };
        if !same {
            problems.push(format!(
                "{metric}:\n  pmdalinux {theirs:?}\n  ours      {ours:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The container's own figures, not the host's: its host name is its
    // short id, its interfaces lo only.
    let node = &real["kernel.uname.nodename"][""];
    assert_eq!(*node, format!("{:?}", &id[..12]));
    let ifs: Vec<&String> = real["network.interface.in.bytes"].keys().collect();
    assert_eq!(ifs, ["lo"]);
}
