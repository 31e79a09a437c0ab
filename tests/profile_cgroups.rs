//! The profiler's `cgroup:` and `container:` targets on real processes:
//! the test makes a cgroup v2 tree of its own, puts three workloads
//! spinning in different hot functions into it, and checks with Go's
//! pprof that each target's profile holds its own workload's hot function
//! and none of the others':
//!
//! ```text
//! /pcp-profile-test-PID/a                     C workload      a=cgroup:.../a
//! /pcp-profile-test-PID/b/inner               C++ workload    b=cgroup:.../b (or below)
//! /pcp-profile-test-PID/pending               Rust workload,  pending=cgroup:.../pending
//!   moved while profiled to
//! /pcp-profile-test-PID/docker-ID.scope                       ctr=container:ID[..12]
//! ```
//!
//! The Rust workload is moved only after a profile of `pending` holding it
//! was written (the profiler has its facts by then): its later samples
//! must go to the container's group, as a process that a runtime or
//! `systemd-run --scope` moves is grouped by where it is now.
//!
//! On a hybrid host (v1 controllers beside the v2 hierarchy), a second
//! test puts a workload in a v1 `pids` group `.../docker/ID` only, as a
//! runtime's cgroupfs driver does there: `container:` finds it by that.

mod profile_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use profile_support::cgroup::{cgroup1_mount, cgroup2_mount, v2_path_of, TestCgroup};
use profile_support::*;

/// The hot functions as `--demangle simplified` names them.
const C_HOT: &str = "hot_c_spin";
const CPP_HOT: &str = "hotns::Spinner::spin";
const RUST_HOT: &str = "hot::burner::spin_the_cpu";

/// A group `name` of our own under `mount`, or `None` after saying why it
/// could not be made (a failure under CI).
fn own_cgroup(mount: &std::path::Path, name: &str) -> Option<TestCgroup> {
    let made = TestCgroup::create(mount, name);
    let why = format!(
        "cannot make {}: {:?}",
        mount.join(name).display(),
        made.as_ref().err()
    );
    if !pcp_core::testing::require("a cgroup of our own", made.is_ok(), &why) {
        return None;
    }
    made.ok()
}

#[test]
fn cgroup_and_container_targets_get_their_own_processes() {
    if !requirements() {
        return;
    }
    let mount = cgroup2_mount();
    if !pcp_core::testing::require(
        "cgroup2",
        mount.is_some(),
        "no cgroup v2 hierarchy is mounted (/proc/self/mountinfo)",
    ) {
        return;
    }
    let mount = mount.unwrap_or_default();
    let me = std::process::id();
    let name = format!("pcp-profile-test-{me}");
    // Declared before the workloads: dropped (removed) after they are
    // killed, also when an assertion fails.
    let Some(mut cg) = own_cgroup(&mount, &name) else {
        return;
    };
    let dir_a = cg.child("a");
    let dir_inner = cg.child("b/inner");
    let dir_pending = cg.child("pending");
    // A 64-hex-digit id in a scope named as docker's systemd driver names
    // it; the profiler reads the id from the cgroup path.
    let id = test_container_id(1);
    let dir_ctr = cg.child(&format!("docker-{id}.scope"));

    let tmp = tempfile::tempdir().unwrap();
    let workloads = build_some(tmp.path(), &["c", "cpp", "rustlegacy"]);
    let hot_of = |n: &str| match n {
        "c" => C_HOT,
        "cpp" => CPP_HOT,
        _ => RUST_HOT,
    };
    let running = Running::start(&workloads);
    let pid_of = |n: &str| running.pid(workloads.iter().position(|w| w.name == n).unwrap());
    let (c_pid, cpp_pid, rust_pid) = (pid_of("c"), pid_of("cpp"), pid_of("rustlegacy"));
    cg.move_into(&dir_a, c_pid);
    cg.move_into(&dir_inner, cpp_pid);
    cg.move_into(&dir_pending, rust_pid);

    // The paths as /proc/PID/cgroup shows them (relative to the cgroup
    // namespace's root) are what `cgroup:` takes.
    let path_a = v2_path_of(c_pid).unwrap();
    let path_inner = v2_path_of(cpp_pid).unwrap();
    let path_pending = v2_path_of(rust_pid).unwrap();
    assert!(path_a.ends_with(&format!("/{name}/a")), "{path_a}");
    assert!(path_inner.ends_with("/b/inner"), "{path_inner}");
    let path_b = path_inner.trim_end_matches("/inner").to_string();

    let out_dir = tmp.path().join("profiles");
    let mut profiler = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["profile", "--collect-interval", "2s", "--duration", "10s"])
        .args(["--demangle", "simplified", "--output"])
        .arg(&out_dir)
        .arg("--targets")
        .arg(format!("a=cgroup:{path_a}"))
        .arg("--targets")
        .arg(format!("b=cgroup:{path_b}"))
        .arg("--targets")
        .arg(format!("ctr=container:{}", &id[..12]))
        .arg("--targets")
        .arg(format!("pending=cgroup:{path_pending}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("pcp-agent profile starts");

    // `PATH TYPE SERVICE TOTAL` per file written, as they are written.
    let mut cpu_files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut moved = false;
    for line in BufReader::new(profiler.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "{line}");
        if f[1] != "cpu" {
            continue;
        }
        cpu_files
            .entry(f[2].to_string())
            .or_default()
            .push(f[0].into());
        if f[2] == "pending" && !moved {
            cg.move_into(&dir_ctr, rust_pid);
            assert_eq!(
                v2_path_of(rust_pid).unwrap(),
                format!(
                    "{}/docker-{id}.scope",
                    path_pending.trim_end_matches("/pending")
                )
            );
            moved = true;
        }
    }
    let out = profiler.wait_with_output().unwrap();
    drop(running);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "profile failed:\n{stderr}");
    assert!(
        moved,
        "no profile of the pending group was written:\n{stderr}"
    );

    for (service, workload) in [
        ("a", "c"),
        ("b", "cpp"),
        ("pending", "rustlegacy"),
        ("ctr", "rustlegacy"),
    ] {
        let paths = cpu_files
            .get(service)
            .unwrap_or_else(|| panic!("no CPU profile for {service}:\n{stderr}"));
        let paths: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
        let (top, err, ok) = pprof(&["-top", "-nodecount=100000", "-symbolize=none"], &paths);
        assert!(ok, "{err}");
        let hot = hot_of(workload);
        let first = top_entry(&top).unwrap_or_default();
        assert!(
            first.starts_with(hot),
            "{service}: top entry {first:?}, expected {hot:?}\n{top}"
        );
        // The group's labels, as comments: what the target selects.
        let label = match service {
            "a" => format!("cgroup={path_a}"),
            "b" => format!("cgroup={path_b}"),
            "ctr" => format!("container_id={}", &id[..12]),
            _ => format!("cgroup={path_pending}"),
        };
        let (comments, err, ok) = pprof(&["-comments"], &paths[..1]);
        assert!(ok, "{err}");
        assert!(
            comments.lines().any(|l| l.trim() == label),
            "{service}: no {label:?} in\n{comments}"
        );
        for other in [C_HOT, CPP_HOT, RUST_HOT] {
            assert!(
                other == hot || !top.contains(other),
                "{service} holds {other}, another group's hot function:\n{top}"
            );
        }
    }
    // Nothing else on the host matched: only these groups were written.
    let services: Vec<&str> = cpu_files.keys().map(String::as_str).collect();
    assert_eq!(services, ["a", "b", "ctr", "pending"]);
}

/// A 64-hex-digit id of this test run whose first 12 digits (the short
/// form the targets take) are `tag`'s and this process's alone.
fn test_container_id(tag: u8) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!("{tag:02x}{:08x}{nanos:016x}", std::process::id()).repeat(3)[..64].to_string()
}

#[test]
fn container_targets_find_ids_in_v1_groups_on_hybrid_hosts() {
    if !requirements() {
        return;
    }
    let Some(mount) = cgroup1_mount("pids") else {
        eprintln!("no cgroup v1 pids hierarchy: not a hybrid or legacy host, nothing to check");
        return;
    };
    let name = format!("pcp-profile-test-v1-{}", std::process::id());
    let Some(mut cg) = own_cgroup(&mount, &name) else {
        return;
    };
    let id = test_container_id(2);
    let dir = cg.child(&format!("docker/{id}"));
    let tmp = tempfile::tempdir().unwrap();
    let workloads = build_some(tmp.path(), &["c"]);
    let running = Running::start(&workloads);
    cg.move_into(&dir, running.pid(0));
    let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", running.pid(0))).unwrap();
    assert!(
        cgroups.contains(&format!(":pids:/{name}/docker/{id}\n")),
        "{cgroups}"
    );
    let v2 = v2_path_of(running.pid(0)).unwrap_or_default();
    assert!(!v2.contains(&id), "the v2 path {v2} names the id");

    let out_dir = tmp.path().join("profiles");
    let out = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["profile", "--collect-interval", "2s", "--duration", "5s"])
        .arg("--output")
        .arg(&out_dir)
        .arg("--targets")
        .arg(format!("ctr=container:{}", &id[..12]))
        .output()
        .expect("pcp-agent profile runs");
    drop(running);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "profile failed:\n{stderr}");
    let paths: Vec<PathBuf> = stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4 && f[1] == "cpu" && f[2] == "ctr").then(|| f[0].into())
        })
        .collect();
    assert!(
        !paths.is_empty(),
        "no CPU profile for ctr:\n{stdout}{stderr}"
    );
    let paths: Vec<&std::path::Path> = paths.iter().map(PathBuf::as_path).collect();
    let (top, err, ok) = pprof(&["-top", "-symbolize=none"], &paths);
    assert!(ok, "{err}");
    let first = top_entry(&top).unwrap_or_default();
    assert!(first.starts_with(C_HOT), "top entry {first:?}\n{top}");
}
