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

/// The context labels pmcd adds only for a client whose credentials it
/// knows (one connected over its unix socket): `"groupid":N,` and
/// `"userid":N` (always between other labels, so with a separating comma).
const CREDENTIAL_LABELS: [&str; 2] = ["\"groupid\":", "\"userid\":"];

/// Removes the credential labels from every label set in `text`.
fn without_credentials(text: &str) -> String {
    let mut out = text.to_string();
    for key in CREDENTIAL_LABELS {
        while let Some(start) = out.find(key) {
            let value_end = out[start + key.len()..]
                .find([',', '}'])
                .map_or(out.len(), |i| start + key.len() + i);
            // Take the comma on one side with the label.
            let (from, to) = if out[value_end..].starts_with(',') {
                (start, value_end + 1)
            } else if out[..start].ends_with(',') {
                (start - 1, value_end)
            } else {
                (start, value_end)
            };
            out.replace_range(from..to, "");
        }
    }
    out
}

fn compare(flags: &str, metrics: &[&str]) {
    // PCP_DERIVED_CONFIG="" keeps derived metrics (disk.dev.await and
    // friends, PMIDs 511.*) out of both: they are computed on the client
    // side (tests/derived_pminfo.rs compares them).
    //
    // pminfo connects over TCP (`-h localhost`): which transport the default
    // `local:` ends up on depends on the machine (the unix socket first, TCP
    // when that fails), and pmcd adds the userid/groupid context labels only
    // on the unix socket. Our in-process host always knows its caller's
    // ids, so those two labels are taken out of ours; every other context
    // label (hostname, domainname, machineid) and every agent label is
    // compared as is.
    let real = run(Command::new("pminfo")
        .env("PCP_DERIVED_CONFIG", "")
        .args(["-h", "localhost", flags])
        .args(metrics));
    let ours = without_credentials(&run(Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
        .env("PCP_DERIVED_CONFIG", "")
        .args(["--agents", "linux", "info", flags])
        .args(metrics)));
    let ours = without_newer_metrics(&ours);
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

/// Ours without the blocks of metrics pmdalinux gained after 6.0.3
/// (`pmda-linux/tools/added-descs.tsv`), which the pmdalinux here lacks.
fn without_newer_metrics(text: &str) -> String {
    let added = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pmda-linux/tools/added-descs.tsv"
    ))
    .expect("pmda-linux/tools/added-descs.tsv");
    let names: std::collections::HashSet<&str> = added
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert!(!names.is_empty(), "no names in added-descs.tsv");
    let mut out = String::new();
    for block in text.split_inclusive("\n\n") {
        let name = block.split_whitespace().next().unwrap_or("");
        if !names.contains(name) {
            out.push_str(block);
        }
    }
    out
}

#[test]
fn credential_labels_are_taken_out_whole() {
    assert_eq!(
        without_credentials(
            r#"labels {"agent":"linux","groupid":0,"hostname":"vm","userid":1000}"#
        ),
        r#"labels {"agent":"linux","hostname":"vm"}"#
    );
    assert_eq!(without_credentials(r#"{"groupid":5,"userid":7}"#), "{}");
    assert_eq!(
        without_credentials("{\"agent\":\"x\"}"),
        "{\"agent\":\"x\"}"
    );
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
