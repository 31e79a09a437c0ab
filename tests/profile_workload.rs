//! The profiler on known workloads: C, a stripped copy of it, stripped
//! copies with their symbols in a debug file found by debug link and by
//! build id, C++ and Rust (legacy and v0 mangling) programs spinning in
//! one named hot function, profiled for a few seconds by `pcp-agent
//! profile`. Go's own pprof is the judge: `go tool pprof -top` names the
//! hot function first, demangled (`module+0xoffset` for the stripped
//! copy, the name from the debug file for the other two); `-raw` reads
//! every file we wrote without a warning, and its sample totals are the
//! profiler's own counts. (Each demangle mode is checked on the same
//! names in pcp-profile's `demangle` tests.)

mod profile_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use profile_support::*;

#[test]
fn go_pprof_names_each_hot_function_first_and_reads_every_file() {
    if !requirements() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let workloads = build_workloads(dir.path());
    let running = Running::start(&workloads);
    let out_dir = dir.path().join("profiles");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcp-agent"));
    cmd.args(["profile", "--collect-interval", "2s", "--duration", "6s"])
        .args(["--demangle", "templates", "--off-cpu"])
        .arg("--debug-dir")
        .arg(dir.path().join("debug"))
        .arg("--output")
        .arg(&out_dir);
    for (i, w) in workloads.iter().enumerate() {
        cmd.arg("--targets")
            .arg(format!("{}=pid:{}", w.name, running.pid(i)));
    }
    let out = cmd.output().expect("pcp-agent profile runs");
    drop(running);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "profile failed:\n{stderr}");

    // `PATH TYPE SERVICE TOTAL` per file written.
    let mut files: Vec<(PathBuf, String, String, i64)> = Vec::new();
    for line in stdout.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 4, "{line}");
        files.push((f[0].into(), f[1].into(), f[2].into(), f[3].parse().unwrap()));
    }
    assert!(!files.is_empty(), "no profile written:\n{stderr}");

    // -raw reads every file with nothing on stderr; the totals are ours.
    for (path, kind, _, total) in &files {
        assert!(path.starts_with(&out_dir));
        let (raw, err, ok) = pprof(&["-raw"], &[path]);
        assert!(ok && err.trim().is_empty(), "{}: {err}", path.display());
        assert!(
            raw.contains(&format!("PeriodType: {kind} nanoseconds")),
            "{raw}"
        );
        assert_eq!(raw_total(&raw), *total, "{}:\n{raw}", path.display());
    }
    // And the profiler's summary counts the same CPU samples.
    let cpu_total: i64 = files.iter().filter(|f| f.1 == "cpu").map(|f| f.3).sum();
    assert!(
        stderr.contains(&format!(" {cpu_total} samples, 0 lost")),
        "summary disagrees with the files ({cpu_total} samples):\n{stderr}"
    );
    // Every file in the directory was announced.
    let on_disk = std::fs::read_dir(&out_dir).unwrap().count();
    assert_eq!(on_disk, files.len());

    // Per workload: all its CPU files together, hot function first.
    let mut by_service: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    for (path, kind, svc, _) in &files {
        if kind == "cpu" {
            by_service.entry(svc.as_str()).or_default().push(path);
        }
    }
    for w in &workloads {
        let paths = by_service
            .get(w.name)
            .unwrap_or_else(|| panic!("no CPU profile for {}", w.name));
        let (top, err, ok) = pprof(&["-top", "-symbolize=none"], paths);
        assert!(ok, "{err}");
        let first = top_entry(&top).unwrap_or_default();
        // `--demangle templates` keeps C++ template arguments (the
        // default, none, would show _ZN5hotns7SpinnerImE4spinEm).
        let hot = if w.name == "cpp" {
            "hotns::Spinner<unsigned long>::spin"
        } else {
            w.hot
        };
        assert!(
            first.starts_with(hot),
            "{}: top entry {first:?}, expected {:?}\n{top}",
            w.name,
            hot
        );
        if w.name == "stripped" {
            // module+0xoffset, never an empty or bare-address frame.
            let rest = first.trim_start_matches(w.hot);
            assert!(
                !rest.is_empty() && rest.chars().all(|c| c.is_ascii_hexdigit()),
                "{first}"
            );
            assert!(!top.contains(" 0x"), "bare addresses in:\n{top}");
        }
    }
    // Off-CPU profiles exist for the workloads (they are preempted).
    assert!(files.iter().any(|f| f.1 == "off_cpu" && f.3 > 0));
}
