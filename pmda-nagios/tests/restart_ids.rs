//! Names keep their PMIDs, and hosts their instance ids, across a restart
//! of the agent with the same state directory, even when new checks and
//! hosts that sort first appear meanwhile (numbering by order would move
//! every id): what pmlogger archives and pmseries rely on.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use pcp_core::{Host, Pmid};
use pmda_nagios::{nagios_pmda, NagiosConfig};

/// A Nagios 4 service perfdata line (the default template).
fn line(host: &str, service: &str, perfdata: &str) -> String {
    format!(
        "[SERVICEPERFDATA]\t1733400000\t{host}\t{service}\t0.012\t0.101\t{service} OK\t{perfdata}\n"
    )
}

/// Every name of the agent (control metrics aside) with its PMID, and
/// every instance name with its id, once `expect` names are there.
fn ids(
    conf: &Path,
    state: &Path,
    expect: &[&str],
) -> (BTreeMap<String, Pmid>, BTreeMap<String, u32>) {
    let agent = nagios_pmda(NagiosConfig {
        config_dir: conf.to_path_buf(),
        state_dir: Some(state.to_path_buf()),
        ..Default::default()
    })
    .unwrap();
    agent
        .agent()
        .wait_for_first_results(Duration::from_secs(20));
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    while expect.iter().any(|n| host.lookup(n).is_err()) {
        assert!(Instant::now() < end, "never appeared: {expect:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let names: BTreeMap<String, Pmid> = host
        .traverse("nagios")
        .unwrap()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("nagios.control."))
        .collect();
    let mut insts = BTreeMap::new();
    for (n, p) in &names {
        let indom = host.desc(*p).unwrap().indom;
        if indom.is_null() {
            continue;
        }
        for i in host.instances(indom).unwrap() {
            insts.insert(format!("{n} {}", i.name), i.id);
        }
    }
    (names, insts)
}

#[test]
fn pmids_and_instance_ids_survive_a_restart_with_new_names_sorting_first() {
    let dir = tempfile::tempdir().unwrap();
    let (conf, state) = (dir.path().join("conf"), dir.path().join("state"));
    std::fs::create_dir(&conf).unwrap();
    let perf = dir.path().join("service-perfdata");
    std::fs::write(
        &perf,
        line("web2", "Load", "load1=0.5;5;10;0 load5=0.4;4;8;0")
            + &line("web3", "Load", "load1=0.7;5;10;0 load5=0.6;4;8;0")
            + &line("web2", "Disk", "'/ free'=51%;20;10;0;100"),
    )
    .unwrap();
    std::fs::write(conf.join("svc.perfdata"), format!("{}\n", perf.display())).unwrap();
    std::fs::write(
        conf.join("m.check"),
        "echo 'M OK | m=1s;2;3 n=4B'\nINTERVAL: 600\n",
    )
    .unwrap();
    let (names, insts) = ids(&conf, &state, &["nagios.m.perf.n.value"]);
    assert!(names.len() >= 10, "{names:?}");
    assert!(insts.len() >= 3, "{insts:?}");

    // Meanwhile: a check and a host that sort before every other, a new
    // label on an old check.
    std::fs::write(conf.join("a.check"), "echo 'A OK | a=1'\nINTERVAL: 600\n").unwrap();
    std::fs::write(
        conf.join("m.check"),
        "echo 'M OK | aa=0 m=1s;2;3 n=4B'\nINTERVAL: 600\n",
    )
    .unwrap();
    // Nagios's next round of results, with a new host first (the agent
    // goes on from where it stopped reading, so a series is back when its
    // next result is).
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&perf)
        .unwrap();
    let round = line("web1", "Load", "load1=0.1;5;10;0 load5=0.1;4;8;0")
        + &line("web2", "Load", "load1=0.5;5;10;0 load5=0.4;4;8;0")
        + &line("web3", "Load", "load1=0.7;5;10;0 load5=0.6;4;8;0")
        + &line("web2", "Disk", "'/ free'=50%;20;10;0;100");
    std::io::Write::write_all(&mut f, round.as_bytes()).unwrap();
    drop(f);
    let expect = [
        "nagios.a.perf.a.value",
        "nagios.m.perf.aa.value",
        "nagios.svc.Disk.age",
    ];
    let (after, after_insts) = ids(&conf, &state, &expect);
    for (n, p) in &names {
        assert_eq!(after.get(n), Some(p), "{n} moved");
    }
    for (k, id) in &insts {
        assert_eq!(after_insts.get(k), Some(id), "{k} renumbered");
    }
    assert!(after.len() > names.len(), "no new names: {after:?}");
    assert!(
        after_insts.keys().any(|k| k.ends_with(" web1")),
        "the new host is missing: {after_insts:?}"
    );
    // And without the state directory, ids would have been given afresh:
    // the new check, sorting first, takes the first cluster.
    let fresh = dir.path().join("fresh-state");
    // It reads the whole file, every series from its start.
    let (renumbered, _) = ids(&conf, &fresh, &expect);
    let moved = names
        .iter()
        .filter(|(n, p)| renumbered.get(*n) != Some(*p))
        .count();
    assert!(
        moved > 0,
        "the test cannot tell kept ids from renumbered ones"
    );
}
