//! `pcp-agent watch` over a real bpftrace map: the agent starts an
//! autostart script, waits for its first output, and the counter map shows
//! as per-second rates.

use std::process::Command;

use pcp_core::testing::{have_program, require};

#[test]
fn watch_shows_live_rates_of_a_bpftrace_map() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require(
        "bpftrace (as root)",
        have_program("bpftrace") && root,
        "bpftrace missing or not root",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ticks.bt"),
        "// name: ticks\nprofile:hz:50 { @ticks = count(); }\n",
    )
    .unwrap();
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "bpftrace", "--state-dir"])
        .arg(state.path())
        .arg("--bpftrace-autostart")
        .arg(dir.path())
        .args([
            "watch",
            "--json",
            "-t",
            "1",
            "-s",
            "6",
            "bpftrace.scripts.ticks.data.ticks",
        ])
        .output()
        .expect("run pcp-agent");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(samples.len(), 6, "{stdout}");
    // The first sample primes the counter; later ones are rates. bpftrace
    // may take a few seconds to attach on a loaded machine, and until its
    // first output the map's value stays where it is (rate 0, or none
    // before the map exists), so the last two samples are judged.
    // profile:hz:50 fires 50 times a second on each CPU.
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    for s in &samples[4..] {
        let rate = s["values"]["bpftrace.scripts.ticks.data.ticks"]
            .as_f64()
            .unwrap_or_else(|| panic!("no rate in {s}\n{stdout}"));
        assert!(
            rate > 10.0 && rate < 60.0 * ncpu,
            "rate {rate} in {s}\n{stdout}"
        );
    }
}
