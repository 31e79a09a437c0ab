//! The agent on frozen /proc and /sys trees:
//! - `fixtures/vm`: captured from this machine by `fixtures/capture.sh`;
//! - `fixtures/multi`: assembled by `fixtures/build_multi.sh` from real
//!   file formats, with several disks, partitions, device-mapper and md
//!   devices, several interfaces, two NUMA nodes and an offline CPU.
//!
//! Expected values are computed here from the raw files with deliberately
//! simple code, not taken from the agent's output. One module per
//! collector family (whole-tree checks in `trees`, failure handling in
//! `errors`), sharing the helpers below.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pcp_core::{
    ClientContext, FetchRequest, PmError, Pmda, Profile, TextKind, TextTarget, Value, PM_IN_NULL,
};
use pmda_linux::{LinuxConfig, LinuxPmda};

mod access;
mod containers;
mod cpu;
mod devices;
mod errors;
mod interrupts;
mod ipc;
mod kernel;
mod memory;
mod network;
mod nfs;
mod trees;
mod zones;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn agent(root: &Path) -> LinuxPmda {
    pmda_linux::new(LinuxConfig {
        root: root.to_path_buf(),
        ..Default::default()
    })
    .expect("agent builds")
}

/// Fetches one metric as a root client (pmcd reports user id 0), so the
/// root-only figures are read too: instance name (or "" for singular) ->
/// value.
fn fetch(a: &mut LinuxPmda, name: &str) -> Result<BTreeMap<String, Value>, PmError> {
    fetch_as(a, name, &ClientContext::user(0, 0))
}

/// Fetches one metric as `client`: instance name (or "" for singular) ->
/// value.
fn fetch_as(
    a: &mut LinuxPmda,
    name: &str,
    client: &ClientContext,
) -> Result<BTreeMap<String, Value>, PmError> {
    let pmid = a
        .namespace()
        .lookup(name)
        .unwrap_or_else(|| panic!("no metric {name}"));
    let profile = Profile::all();
    let r = a
        .fetch(&FetchRequest {
            pmids: &[pmid],
            profile: &profile,
            client,
        })
        .remove(0)?;
    let desc = a.desc(pmid).unwrap();
    let names = if desc.indom.is_null() {
        Vec::new()
    } else {
        a.instances(desc.indom, &pcp_core::ClientContext::local())
            .unwrap()
    };
    Ok(r.into_iter()
        .map(|(id, v)| {
            let n = if id == PM_IN_NULL {
                String::new()
            } else {
                names
                    .iter()
                    .find(|i| i.id == id)
                    .unwrap_or_else(|| panic!("{name}: no instance {id}"))
                    .name
                    .clone()
            };
            (n, v)
        })
        .collect())
}

fn one(a: &mut LinuxPmda, name: &str) -> Value {
    fetch(a, name)
        .unwrap()
        .remove("")
        .unwrap_or_else(|| panic!("{name}: no singular value"))
}

fn u(v: &Value) -> u64 {
    v.as_f64().expect("numeric") as u64
}

fn ids(a: &mut LinuxPmda, name: &str) -> BTreeMap<String, u32> {
    let pmid = a.namespace().lookup(name).unwrap();
    let indom = a.desc(pmid).unwrap().indom;
    a.instances(indom, &pcp_core::ClientContext::local())
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.id))
        .collect()
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// `key value` or `Key: value kB` lookups, written independently.
fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?.trim_end_matches(':');
            (k == key).then(|| it.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {key}"))
}

/// A diskstats column (1-based as in the kernel documentation, after the
/// name: 1 = reads completed) for `dev`.
fn diskcol(text: &str, dev: &str, col: usize) -> u64 {
    let l = text
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(dev))
        .unwrap();
    l.split_whitespace().nth(2 + col).unwrap().parse().unwrap()
}

fn netcol(text: &str, ifname: &str, col: usize) -> u64 {
    let l = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{ifname}:")))
        .unwrap();
    l.split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(col)
        .unwrap()
        .parse()
        .unwrap()
}

fn hz() -> u64 {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as u64
}

fn unsigned_pagesize() -> usize {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as usize
}

#[test]
fn agent_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<LinuxPmda>();
}

/// A scratch copy of a fixture tree.
fn copy_tree(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", root.display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}
