//! `pcp-agent watch` against PCP 6.0.3's `pmrep` on this machine, run side
//! by side on the same metrics: the same header (labels, instance names,
//! units), the same columns in each line, the same `N/A` of the first
//! sample; only the values differ, by timing. Presets come from pmrep's
//! own configuration (/etc/pcp/pmrep); `:iostat` is pmrep's
//! `:iostat-dktx`.
//!
//! And issue 10's case: instances that appear and vanish between samples
//! are shown (the header is rewritten, as pmrep's dynamic header), and no
//! column is ever named after PM_IN_NULL.

use std::process::{Command, Output};
use std::time::Duration;

use pcp_core::testing::{have_program, require};

/// pmrep runs under PCP's Python: with PCP's python3 first on PATH.
fn pmrep() -> Command {
    let mut c = Command::new("/usr/bin/pmrep");
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("/usr/bin:/bin:{path}"));
    c
}

fn pmrep_works() -> bool {
    have_program("/usr/bin/pmrep")
        && pmrep()
            .args(["-s", "1", "hinv.ncpu"])
            .output()
            .is_ok_and(|o| o.status.success())
}

fn ours() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pcp-agent"));
    c.args(["--agents", "linux"]);
    c
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs both at once (aligned to the same second) and returns their
/// standard outputs.
fn side_by_side(ours_args: &[&str], pmrep_args: &[&str]) -> (String, String) {
    let mut a = ours();
    a.arg("watch").args(["-A", "1"]).args(ours_args);
    let mut b = pmrep();
    b.args(["-A", "1"]).args(pmrep_args);
    let h = std::thread::spawn(move || b.output().expect("run pmrep"));
    let mine = a.output().expect("run pcp-agent watch");
    let theirs = h.join().unwrap();
    assert!(
        mine.status.success(),
        "ours failed: {}",
        String::from_utf8_lossy(&mine.stderr)
    );
    assert!(
        theirs.status.success(),
        "pmrep failed: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    (text(&mine), text(&theirs))
}

/// The layout of a line: its length and where each field starts (values
/// are right-aligned in fixed columns, so the field ends are fixed).
fn shape(line: &str) -> (usize, Vec<usize>) {
    let ends: Vec<usize> = line
        .char_indices()
        .filter(|(i, c)| !c.is_whitespace() && line[i + c.len_utf8()..].starts_with(' '))
        .map(|(i, _)| i)
        .collect();
    (line.len(), ends)
}

fn compare(name: &str, mine: &str, theirs: &str, header_lines: usize, timestamps: bool) {
    let (m, t): (Vec<&str>, Vec<&str>) = (mine.lines().collect(), theirs.lines().collect());
    assert_eq!(
        m.len(),
        t.len(),
        "{name}: line counts\nours:\n{mine}\npmrep:\n{theirs}"
    );
    assert_eq!(
        m[..header_lines],
        t[..header_lines],
        "{name}: header\nours:\n{mine}\npmrep:\n{theirs}"
    );
    for (i, (a, b)) in m[header_lines..].iter().zip(&t[header_lines..]).enumerate() {
        // Columns and field ends equal; the timestamp may differ by a
        // second at most.
        let strip = |l: &str| {
            if timestamps {
                l.get(8..).unwrap_or("").to_string()
            } else {
                l.to_string()
            }
        };
        let (a, b) = (strip(a), strip(b));
        if i == 0 && (a.contains("N/A") || b.contains("N/A")) {
            let na = |l: &str| l.split_whitespace().map(|f| f == "N/A").collect::<Vec<_>>();
            assert_eq!(
                na(&a),
                na(&b),
                "{name}: first sample's N/A\nours:  {a}\npmrep: {b}"
            );
        }
        assert_eq!(
            a.split_whitespace().count(),
            b.split_whitespace().count(),
            "{name}: fields of line {i}\nours:  {a}\npmrep: {b}"
        );
        assert_eq!(
            shape(&a).0,
            shape(&b).0,
            "{name}: width of line {i}\nours:  {a}\npmrep: {b}"
        );
    }
    println!("{name}: {} lines, header identical\n{mine}", m.len());
}

#[test]
fn presets_print_pmreps_columns() {
    if !require(
        "pmrep",
        pmrep_works(),
        "PCP's pmrep (package pcp, python3-pcp) and pmcd are needed",
    ) {
        return;
    }
    // iostat: colxrow with one line per device, timestamps.
    let (mine, theirs) = side_by_side(&["-s", "3", ":iostat"], &["-s", "3", ":iostat-dktx"]);
    compare(":iostat", &mine, &theirs, 1, true);
    let (mine2, _) = side_by_side(&["-s", "1", ":iostat-dktx"], &["-s", "1", ":iostat-dktx"]);
    assert_eq!(
        mine.lines().next(),
        mine2.lines().next(),
        ":iostat is :iostat-dktx"
    );
    for (preset, header, ts) in [
        (":vmstat", 1, false),
        (":sar", 1, true),
        (":mpstat", 1, true),
    ] {
        let (mine, theirs) = side_by_side(&["-s", "2", preset], &["-s", "2", preset]);
        compare(preset, &mine, &theirs, header, ts);
    }
}

#[test]
fn plain_metrics_print_pmreps_header() {
    if !require(
        "pmrep",
        pmrep_works(),
        "PCP's pmrep (package pcp, python3-pcp) and pmcd are needed",
    ) {
        return;
    }
    let metrics = [
        "kernel.all.cpu.user",
        "kernel.all.load",
        "disk.dev.read_bytes",
        "hinv.ncpu",
        "kernel.uname.release",
        "disk.dev.await",
        "kernel.cpu.util.user",
    ];
    let mut a = vec!["-s", "2"];
    a.extend(metrics);
    let (mine, theirs) = side_by_side(&a, &a);
    compare("plain metrics", &mine, &theirs, 3, false);
    // With options: timestamps, a width, raw counters, KB.
    let mut a = vec!["-s", "2", "-p", "-w", "12", "-r", "-b", "KB"];
    a.extend(metrics);
    let (mine, theirs) = side_by_side(&a, &a);
    compare("options -p -w 12 -r -b KB", &mine, &theirs, 3, true);
}

#[test]
fn instances_that_come_and_go_are_shown() {
    // A script source whose family has "alpha" at first, none on the
    // second scrape, both next, then only "beta".
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    let counter = dir.path().join("n");
    let script = cfg.join("churn.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nn=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}\n\
             echo '# TYPE jobs gauge'\n\
             case $n in\n  1) echo 'jobs{{name=\"alpha\"}} 1' ;;\n  2) ;;\n  \
             3) echo 'jobs{{name=\"alpha\"}} 2'; echo 'jobs{{name=\"beta\"}} 3' ;;\n  \
             *) echo 'jobs{{name=\"beta\"}} 4' ;;\nesac\n",
            c = counter.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "prometheus", "--prometheus-config"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["watch", "-t", "0.2", "-s", "6", "prometheus.churn.jobs"])
        .output()
        .unwrap();
    let t = text(&out);
    assert!(
        out.status.success(),
        "{t}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !t.contains("4294967295"),
        "PM_IN_NULL printed as an instance:\n{t}"
    );
    let lines: Vec<&str> = t.lines().collect();
    // alpha at the start; beta appears (a new header with both), alpha
    // goes (a new header with beta alone) and beta's values follow.
    let header_with = |a: bool, b: bool| {
        lines
            .iter()
            .any(|l| l.contains("name:a") == a && l.contains("name:b") == b && l.contains("name:"))
    };
    assert!(header_with(true, false), "{t}");
    assert!(header_with(true, true), "{t}");
    assert!(header_with(false, true), "{t}");
    assert!(lines.last().unwrap().trim() == "4.000", "{t}");
    // The instances appear in the JSON form too.
    std::fs::remove_file(&counter).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "prometheus", "--prometheus-config"])
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args([
            "watch",
            "--json",
            "-t",
            "0.2",
            "-s",
            "4",
            "prometheus.churn.jobs",
        ])
        .output()
        .unwrap();
    let samples: Vec<serde_json::Value> = text(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys = |s: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = s["values"]["prometheus.churn.jobs"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        k.sort();
        k
    };
    let seen: Vec<Vec<String>> = samples.iter().map(keys).collect();
    assert!(seen.iter().any(|k| k.len() == 2), "{seen:?}");
    assert!(
        seen.last().unwrap() == &vec!["1 name:beta".to_string()],
        "{seen:?}"
    );
    let _ = Duration::from_secs(0);
}
