//! Persistent ids shared with pmdaopenmetrics: its tables
//! (`$PCP_VAR_DIR/config/pmda/144.*.py`, Python pickles) are read and
//! written in place when the agent keeps no state directory (under pmcd),
//! adopted by a state directory that has no ids yet, and a reset of the
//! tables (PCP's QA moves `144.*` aside) resets the numbering.

mod common;

use std::path::Path;

use common::*;
use pcp_core::pytable::{decode, encode};
use pcp_core::Host;

fn table(dir: &Path, serial: u32, names: &[&str], flag: bool) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    std::fs::write(dir.join(format!("144.{serial}.py")), encode(&names, flag)).unwrap();
}

/// The table as written: ids are saved by the agent's saver thread, a
/// moment after the fetch that assigned them, so wait for `ok` (10 s at
/// most).
fn read_table(
    dir: &Path,
    serial: u32,
    ok: impl Fn(&(Vec<String>, Option<bool>)) -> bool,
) -> (Vec<String>, Option<bool>) {
    let file = dir.join(format!("144.{serial}.py"));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let got = std::fs::read(&file).ok().and_then(|b| decode(&b).ok());
        match got {
            Some(t) if ok(&t) || std::time::Instant::now() > end => return t,
            None if std::time::Instant::now() > end => panic!("{} not written", file.display()),
            _ => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
}

fn config(dir: &Path) {
    let doc = "# TYPE q gauge\nq{k=\"a\"} 1\nq{k=\"b\"} 2\nother 3\n";
    write(dir, "doc.prom", doc, 0o644);
    for src in ["alpha", "zz"] {
        write(
            dir,
            &format!("{src}.url"),
            &format!("file://{}/doc.prom\n", dir.display()),
            0o644,
        );
    }
}

fn pmid(h: &Host, name: &str) -> (u32, u32) {
    let p = h.lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    (p.cluster(), p.item())
}

fn inst_ids(h: &Host, name: &str) -> Vec<(u32, String)> {
    let mut v: Vec<(u32, String)> = instances(h, name)
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    v.sort();
    v
}

#[test]
fn pmdaopenmetrics_tables_are_used_in_place() {
    let conf = tempfile::tempdir().unwrap();
    let tables = tempfile::tempdir().unwrap();
    config(conf.path());
    // pmdaopenmetrics met zz first, "other" before "q" in it, and saw the
    // instance k:b before k:a.
    table(tables.path(), 0, &["control", "zz"], false);
    table(tables.path(), 1, &["other", "q"], false);
    table(tables.path(), 4096 + 1024 + 1, &["k:b", "k:a"], true);
    let h = host(conf.path(), |c| {
        c.root = "openmetrics".into();
        c.pcp_tables = Some(tables.path().to_path_buf());
    });
    assert_eq!(pmid(&h, "openmetrics.zz.other"), (1, 0));
    assert_eq!(pmid(&h, "openmetrics.zz.q"), (1, 1));
    assert_eq!(
        inst_ids(&h, "openmetrics.zz.q"),
        [(0, "0 k:b".to_string()), (1, "1 k:a".to_string())]
    );
    // alpha is new: the next cluster, recorded in PCP's format.
    assert_eq!(pmid(&h, "openmetrics.alpha.q").0, 2);
    let (clusters, _) = read_table(tables.path(), 0, |t| t.0.len() >= 3);
    assert_eq!(clusters, ["control", "zz", "alpha"]);
    let (items, _) = read_table(tables.path(), 2, |t| t.0.len() >= 2);
    assert_eq!(items.len(), 2, "{items:?}");
    let q_item = pmid(&h, "openmetrics.alpha.q").1;
    let (insts, prefix) = read_table(tables.path(), 4096 + 2 * 1024 + q_item, |t| t.0.len() >= 2);
    assert_eq!(insts, ["k:a", "k:b"]);
    assert_eq!(prefix, Some(true), "non-PCP instances carry their id");
    drop(h);

    // PCP's QA between tests: the tables are moved aside, numbering starts
    // again (sources in sorted order).
    for e in std::fs::read_dir(tables.path()).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    let h = host(conf.path(), |c| {
        c.root = "openmetrics".into();
        c.pcp_tables = Some(tables.path().to_path_buf());
    });
    assert_eq!(pmid(&h, "openmetrics.alpha.q").0, 1);
    assert_eq!(pmid(&h, "openmetrics.zz.q").0, 2);
}

#[test]
fn a_fresh_state_directory_starts_from_pmdaopenmetrics_tables() {
    let conf = tempfile::tempdir().unwrap();
    let tables = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    config(conf.path());
    table(tables.path(), 0, &["control", "zz"], false);
    table(tables.path(), 1, &["other", "q"], false);
    table(tables.path(), 4096 + 1024 + 1, &["k:b", "k:a"], true);
    let before = std::fs::read(tables.path().join("144.0.py")).unwrap();
    let start = || {
        host(conf.path(), |c| {
            c.root = "openmetrics".into();
            c.state_dir = Some(state.path().to_path_buf());
            c.pcp_tables = Some(tables.path().to_path_buf());
        })
    };
    let h = start();
    assert_eq!(pmid(&h, "openmetrics.zz.q"), (1, 1));
    assert_eq!(
        inst_ids(&h, "openmetrics.zz.q")[0],
        (0, "0 k:b".to_string())
    );
    assert_eq!(pmid(&h, "openmetrics.alpha.q").0, 2);
    drop(h);
    assert_eq!(
        std::fs::read(tables.path().join("144.0.py")).unwrap(),
        before,
        "PCP's tables are only read"
    );
    // Once ours has ids, PCP's tables no longer matter.
    table(tables.path(), 0, &["control", "alpha", "zz"], false);
    let h = start();
    assert_eq!(pmid(&h, "openmetrics.zz.q").0, 1);
    assert_eq!(pmid(&h, "openmetrics.alpha.q").0, 2);
}
