//! `pcp-agent info` against PCP 6.0.3's real `pminfo` on the same metrics:
//! the text must be byte for byte identical. PCP's pmdalinux (through the
//! local pmcd) and our linux agent serve the same metrics; descriptors,
//! PMIDs, listing order and labels are compared for a broad set, values for metrics whose
//! values do not move (discrete ones). Help text is ours, in our own words,
//! so -t/-T are not compared.

use std::process::Command;

use pcp_core::testing::{have_program, require};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run command");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn pmcd_up() -> bool {
    have_program("pminfo")
        && Command::new("pminfo")
            .args(["-f", "hinv.ncpu"])
            .output()
            .is_ok_and(|o| o.status.success())
}

fn compare(flags: &str, metrics: &[&str]) {
    // PCP_DERIVED_CONFIG="" keeps libpcp's derived metrics (disk.dev.await
    // and friends, PMIDs 511.*) out: they are computed by the client library,
    // not served by any agent.
    let real = run(Command::new("pminfo")
        .env("PCP_DERIVED_CONFIG", "")
        .arg(flags)
        .args(metrics));
    let ours = run(Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .args(["--agents", "linux", "info", flags])
        .args(metrics));
    assert!(!real.is_empty());
    if real != ours {
        let diff: Vec<String> = real
            .lines()
            .zip(ours.lines())
            .filter(|(a, b)| a != b)
            .take(10)
            .map(|(a, b)| format!("pminfo: {a}\nours:   {b}"))
            .collect();
        panic!(
            "pminfo {flags} differs:\n{}\n(pminfo {} lines, ours {})",
            diff.join("\n"),
            real.lines().count(),
            ours.lines().count()
        );
    }
}

#[test]
fn descriptors_pmids_and_labels_match_pminfo() {
    if !require(
        "pmcd with pmdalinux",
        pmcd_up(),
        "pminfo -f hinv.ncpu failed",
    ) {
        return;
    }
    compare(
        "-dml",
        &[
            "kernel.all.load",
            "kernel.all.cpu",
            "kernel.percpu.cpu.user",
            "mem.util",
            "disk.dev",
            "disk.all",
            "network.interface.in",
            "network.tcp",
            "swap",
            "vfs",
            "hinv.ncpu",
            "filesys.capacity",
        ],
    );
}

#[test]
fn discrete_values_match_pminfo() {
    if !require(
        "pmcd with pmdalinux",
        pmcd_up(),
        "pminfo -f hinv.ncpu failed",
    ) {
        return;
    }
    compare(
        "-dfm",
        &[
            "hinv.ncpu",
            "hinv.pagesize",
            "hinv.physmem",
            "kernel.uname",
            "network.interface.mtu",
            "filesys.mountdir",
            "filesys.blocksize",
        ],
    );
}
