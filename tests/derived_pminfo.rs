//! `pcp-agent info` against PCP 6.0.3's `pminfo` for every derived metric
//! of PCP's shipped configuration (/etc/pcp/derived/*.conf, which libpcp
//! reads through $PCP_VAR_DIR/config/derived) that pminfo resolves here:
//! the descriptor (-d), PMID (-m), one-line and long help (-t, -T) and
//! labels (-l, instances included) must be byte for byte the same, with
//! the normalisation of tests/pminfo_parity.rs (pminfo over TCP, the
//! client's userid/groupid labels taken out of ours).
//!
//! Ours runs the linux and proc agents (pmdalinux's and pmdaproc's
//! stand-ins), so PCP's `proc.*` definitions are compared too (all but
//! their per-process labels). A metric
//! pminfo resolves but we cannot must owe it to an operand that none of
//! our agents serves: the test checks that this is the reason for each,
//! and names them.

use std::process::Command;

use pcp_core::derive::{LoadReport, Registry};
use pcp_core::testing::{have_program, require};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pmcd_up() -> bool {
    have_program("pminfo")
        && Command::new("pminfo")
            .args(["-f", "hinv.ncpu"])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Removes `"groupid":N` and `"userid":N` from every label set.
fn without_credentials(text: &str) -> String {
    let mut out = text.to_string();
    for key in ["\"groupid\":", "\"userid\":"] {
        while let Some(start) = out.find(key) {
            let end = out[start + key.len()..]
                .find([',', '}'])
                .map_or(out.len(), |i| start + key.len() + i);
            let (from, to) = if out[end..].starts_with(',') {
                (start, end + 1)
            } else if out[..start].ends_with(',') {
                (start - 1, end)
            } else {
                (start, end)
            };
            out.replace_range(from..to, "");
        }
    }
    out
}

fn ours(args: &[&str], names: &[String]) -> String {
    run(Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "linux,proc", "info"])
        .args(args)
        .args(names))
}

#[test]
fn derived_descriptors_help_and_labels_match_pminfo() {
    if !require("pmcd", pmcd_up(), "pminfo and a running pmcd are needed") {
        return;
    }
    let mut registry = Registry::new();
    let mut report = LoadReport::default();
    let from = registry.load_default(&[], &mut report);
    let names: Vec<String> = registry
        .definitions()
        .iter()
        .filter(|d| !d.anon)
        .map(|d| d.name.clone())
        .collect();
    assert!(names.len() >= 40, "{from}: {names:?}");
    // The ones pminfo resolves on this machine, and the ones we resolve
    // (each prints the names it knows, one per line).
    let listed = |out: String| -> Vec<String> { out.lines().map(str::to_string).collect() };
    let resolved = listed(run(Command::new("pminfo").args(&names)));
    let known = listed(ours(&[], &resolved));
    let (both, only_pcp): (Vec<String>, Vec<String>) =
        resolved.iter().cloned().partition(|n| known.contains(n));
    for n in &only_pcp {
        let def = registry.get(n).unwrap();
        let mut operands = Vec::new();
        def.expr.names(&mut operands);
        let served = listed(ours(&[], &operands));
        let missing: Vec<&String> = operands.iter().filter(|o| !served.contains(o)).collect();
        assert!(
            !missing.is_empty(),
            "{n}: pminfo resolves it and we do not, though we serve every operand"
        );
        println!("not compared: {n} (no agent of ours serves {missing:?})");
    }
    assert!(both.len() >= 40, "only {} comparable: {both:?}", both.len());
    // Labels of the per-process ones are not compared: one set per process
    // (thousands, coming and going between the two runs), which pminfo
    // lists in pmdaproc's hash order and names "DISAPPEARED" when asked
    // over TCP; pmda-proc/tests/live_compare_groups.rs compares the proc
    // agent's labels with pmdaproc's by instance name.
    let labelled: Vec<String> = both
        .iter()
        .filter(|n| !n.starts_with("proc."))
        .cloned()
        .collect();
    for flags in ["-d", "-m", "-t", "-T", "-l", "-dmtTl", "-dmtT"] {
        let names = if flags.contains('l') {
            &labelled
        } else {
            &both
        };
        let theirs = run(Command::new("pminfo")
            .args(["-h", "localhost", flags])
            .args(names));
        let mine = without_credentials(&ours(&[flags], names));
        if theirs != mine {
            let diff: Vec<String> = theirs
                .lines()
                .zip(mine.lines())
                .filter(|(a, b)| a != b)
                .take(10)
                .map(|(a, b)| format!("pminfo: {a}\nours:   {b}"))
                .collect();
            panic!(
                "pminfo {flags} differs ({} vs {} lines):\n{}",
                theirs.lines().count(),
                mine.lines().count(),
                diff.join("\n")
            );
        }
    }
    println!(
        "{} derived metrics identical to pminfo's (-d -m -t -T -l)",
        both.len()
    );
}
