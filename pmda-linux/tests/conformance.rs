//! The linux agent against the library's conformance walker
//! (`pcp_core::testing::check_agent`): every name has a descriptor and
//! help, labels are valid, every answer obeys PCP's rules, asked as root
//! (so the root-only figures are walked too) and as an anonymous client,
//! on the live system, on every fixture tree (the trees of
//! `fixtures/kernels` hold only the files whose format they pin down; an
//! instance domain whose file is missing is empty, as pmdalinux lists it)
//! and on the /proc and /sys trees of real machines in PCP's QA (Debian's
//! `pcp-testsuite`).

use std::path::{Path, PathBuf};
use std::process::Command;

use pcp_core::testing::{check_agent_with, require, CheckOptions};
use pcp_core::ClientContext;
use pmda_linux::LinuxConfig;

fn roots() -> Vec<PathBuf> {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut roots = vec![PathBuf::from("/"), f.join("vm"), f.join("multi")];
    let mut kernels: Vec<PathBuf> = std::fs::read_dir(f.join("kernels"))
        .expect("fixtures/kernels")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    kernels.sort();
    assert!(!kernels.is_empty(), "no trees in fixtures/kernels");
    roots.extend(kernels);
    roots
}

#[test]
fn passes_the_conformance_check_everywhere() {
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kernels");
    for root in roots() {
        for client in [ClientContext::user(0, 0), ClientContext::anonymous()] {
            let mut a = pmda_linux::new(LinuxConfig {
                root: root.clone(),
                ..Default::default()
            })
            .unwrap();
            let opts = CheckOptions {
                client: client.clone(),
                ..Default::default()
            };
            let report = check_agent_with(&mut a, &opts)
                .unwrap_or_else(|e| panic!("{} as {client:?}: {e}", root.display()));
            assert!(report.metrics >= 1340, "{}: {report:?}", root.display());
            // The kernel-format trees hold a few files each.
            if !root.starts_with(&kernels) {
                assert!(report.values > 500, "{}: {report:?}", root.display());
            }
        }
    }
}

/// Where Debian's pcp-testsuite puts PCP's QA trees (see
/// `tests/pcp_testsuite/`): the `*-root-*.tgz` captures of whole machines.
const TESTSUITE: &str = "/var/lib/pcp/testsuite/linux";

#[test]
fn passes_the_conformance_check_on_pcp_qa_trees() {
    let mut trees: Vec<PathBuf> = std::fs::read_dir(TESTSUITE)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.ends_with(".tgz") && n.contains("-root-")
                })
                .collect()
        })
        .unwrap_or_default();
    if !require(
        "pcp-testsuite",
        !trees.is_empty(),
        "Debian's pcp-testsuite package puts PCP's QA trees in /var/lib/pcp/testsuite/linux",
    ) {
        return;
    }
    trees.sort();
    let mut failed = Vec::new();
    for tgz in &trees {
        let dir = tempfile::Builder::new()
            .prefix("pcp-qa-conformance-")
            .tempdir()
            .unwrap();
        let st = Command::new("tar")
            .arg("xzf")
            .arg(tgz)
            .arg("-C")
            .arg(dir.path())
            .status()
            .expect("tar runs");
        assert!(st.success(), "tar xzf {}", tgz.display());
        for client in [ClientContext::user(0, 0), ClientContext::anonymous()] {
            let mut a = pmda_linux::new(LinuxConfig {
                root: dir.path().to_path_buf(),
                ..Default::default()
            })
            .unwrap();
            let opts = CheckOptions {
                client: client.clone(),
                ..Default::default()
            };
            match check_agent_with(&mut a, &opts) {
                Ok(report) => assert!(report.metrics >= 1340, "{}: {report:?}", tgz.display()),
                Err(e) => failed.push(format!("{} as {client:?}: {e}", tgz.display())),
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!("{} PCP QA trees pass the conformance check", trees.len());
}
