//! The agent against PCP 6.0.3's pmdaopenmetrics on the same documents:
//! the reference's own parsing and metric-creation code (loaded from the
//! installed PMDA by tests/reference_parse.py, with stubs for pmcd) gives
//! names, PMIDs, types, semantics, units, instance names, values and help;
//! the agent with `root = "openmetrics"` must give the same.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use pcp_core::{TextKind, TextTarget, Value};
use serde_json::Value as Json;

const REFERENCE: &str = "/var/lib/pcp/pmdas/openmetrics/pmdaopenmetrics.python";

fn reference(doc: &Path, source: &str) -> Result<Vec<Json>, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference_parse.py");
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(doc)
        .arg(source)
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("its output is not JSON: {e}"))
}

fn compare(doc: &Path) {
    let available = Path::new(REFERENCE).exists() && Path::new("/usr/bin/python3").exists();
    if !pcp_core::testing::require(
        "pmdaopenmetrics",
        available,
        "PCP 6.0.3's pmdaopenmetrics.python and /usr/bin/python3 are needed",
    ) {
        return;
    }
    // The reference is there (checked above): its failing to run is a
    // failure, not a missing system.
    let refm = reference(doc, "node")
        .unwrap_or_else(|e| panic!("reference_parse.py failed on {}: {e}", doc.display()));
    assert!(refm.len() > 50, "reference made {} metrics", refm.len());
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "node.url",
        &format!("file://{}\n", doc.display()),
        0o644,
    );
    let h = host(d.path(), |c| c.root = "openmetrics".into());
    let ours = names(&h, "openmetrics.node");
    assert_eq!(ours.len(), refm.len(), "metric count");
    for m in &refm {
        let name = m["name"].as_str().unwrap();
        let pmid = h.lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(pmid.cluster(), 1, "{name}");
        assert_eq!(
            pmid.item() as u64,
            m["pmid_item"].as_u64().unwrap(),
            "{name} item"
        );
        let desc = h.desc(pmid).unwrap();
        assert_eq!(
            desc.ty.code() as i64,
            m["type"].as_i64().unwrap(),
            "{name} type"
        );
        assert_eq!(
            desc.sem.code() as i64,
            m["sem"].as_i64().unwrap(),
            "{name} semantics"
        );
        let u = desc.units;
        let units = [
            u.dim_space as i64,
            u.dim_time as i64,
            u.dim_count as i64,
            u.scale_space as i64,
            u.scale_time as i64,
            u.scale_count as i64,
        ];
        let want: Vec<i64> = m["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        assert_eq!(units.as_slice(), want.as_slice(), "{name} units");
        let singular = m["singular"].as_bool().unwrap();
        assert_eq!(desc.indom.is_null(), singular, "{name} singular");
        let insts = m["instances"].as_object().unwrap();
        let got = if singular {
            let v = fetch(&h, name).unwrap();
            v.into_iter()
                .map(|(_, v)| ("PM_IN_NULL".to_string(), v))
                .collect::<std::collections::HashMap<_, _>>()
        } else {
            values_by_name(&h, name)
        };
        assert_eq!(got.len(), insts.len(), "{name} instance count");
        for (iname, want) in insts {
            let v = got
                .get(iname)
                .unwrap_or_else(|| panic!("{name}: no instance {iname:?}; have {:?}", got.keys()));
            let Value::Double(x) = v else {
                panic!("{name}: {v:?} is not a double")
            };
            let w: f64 = want.as_str().unwrap().parse().unwrap();
            if w.is_nan() {
                assert!(x.is_nan(), "{name}[{iname}] NaN");
            } else {
                assert_eq!(*x, w, "{name}[{iname}]");
            }
        }
        let oneline = h
            .text(TextTarget::Metric(pmid), TextKind::OneLine)
            .unwrap_or_default();
        assert_eq!(oneline, m["oneline"].as_str().unwrap(), "{name} help");
    }
}

#[test]
fn same_as_pmdaopenmetrics_on_node_exporter() {
    compare(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node_exporter.txt"));
}

#[test]
fn same_as_pmdaopenmetrics_on_prometheus_self_metrics() {
    compare(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus.txt"));
}

#[test]
fn same_as_pmdaopenmetrics_on_a_live_node_exporter_capture() {
    let url = std::env::var("PCP_AGENT_NODE_EXPORTER_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:9100/metrics".into());
    let body = ureq::get(&url)
        .timeout(std::time::Duration::from_secs(5))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok());
    if !pcp_core::testing::require(
        "node_exporter",
        body.is_some(),
        &format!("{url} unreachable"),
    ) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("capture.txt");
    std::fs::write(&f, body.unwrap()).unwrap();
    compare(&f);
}
