//! A followed perfdata file, figure by figure: a check's execution time,
//! latency and age from the line's fields, and the source's control
//! counters (bytes read, lines and items that did not parse, rotations
//! followed) against what the test wrote.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcp_core::{Host, Value};
use pmda_nagios::{nagios_pmda, NagiosConfig};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A Nagios 4 service perfdata line (the default template).
fn line(t: u64, host: &str, service: &str, exec: &str, latency: &str, perfdata: &str) -> String {
    format!(
        "[SERVICEPERFDATA]\t{t}\t{host}\t{service}\t{exec}\t{latency}\t{service} OK\t{perfdata}\n"
    )
}

/// The value of `name` for instance `inst`, as f64.
fn value(host: &Host, name: &str, inst: &str) -> Option<f64> {
    let p = host.lookup(name).ok()?;
    let indom = host.desc(p).ok()?.indom;
    let id = host
        .instances(indom)
        .ok()?
        .into_iter()
        .find(|i| i.name == inst)?
        .id;
    let r = host.fetch(&[p]).values.into_iter().next()?.1.ok()?;
    let v = r.into_iter().find(|(i, _)| *i == id)?.1;
    Some(match v {
        Value::U64(x) => x as f64,
        Value::U32(x) => x as f64,
        Value::Double(x) => x,
        Value::Float(x) => x as f64,
        other => panic!("{name}: {other:?}"),
    })
}

fn wait_for(host: &Host, name: &str, inst: &str, want: impl Fn(f64) -> bool) -> f64 {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let v = value(host, name, inst);
        if v.is_some_and(&want) {
            return v.unwrap();
        }
        assert!(Instant::now() < end, "{name}[{inst}]: {v:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The agent in a host, following `perf` as source `svc` (configured in
/// `conf`).
fn following(conf: &Path, perf: &Path) -> Host {
    std::fs::write(conf.join("svc.perfdata"), format!("{}\n", perf.display())).unwrap();
    let agent = nagios_pmda(NagiosConfig {
        config_dir: conf.to_path_buf(),
        ..Default::default()
    })
    .unwrap();
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    host
}

#[test]
fn times_and_control_counters_follow_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let perf = dir.path().join("service-perfdata");
    let t = now() - 30;
    let first = line(t, "web2", "Load", "0.012", "0.101", "load1=0.5;5;10;0 load5=0.4;4;8;0")
        // One item with a comma decimal: skipped, the other kept.
        + &line(t, "web3", "Load", "1.500", "0.250", "load1=0,7;5;10;0 load5=0.6;4;8;0")
        // A line that is not in the template.
        + "this is not a perfdata line\n";
    append(&perf, &first);
    let host = following(&conf, &perf);

    let bytes = wait_for(&host, "nagios.control.bytes", "svc", |b| b > 0.0);
    assert_eq!(bytes, first.len() as f64);
    assert_eq!(
        value(&host, "nagios.control.parse_errors", "svc"),
        Some(2.0)
    );
    assert_eq!(
        value(&host, "nagios.svc.Load.exec_time", "web2"),
        Some(0.012)
    );
    assert_eq!(value(&host, "nagios.svc.Load.latency", "web2"), Some(0.101));
    assert_eq!(value(&host, "nagios.svc.Load.exec_time", "web3"), Some(1.5));
    assert_eq!(
        value(&host, "nagios.svc.Load.perf.load5.value", "web3"),
        Some(0.6)
    );
    assert_eq!(
        value(&host, "nagios.svc.Load.perf.load1.value", "web2"),
        Some(0.5)
    );
    let age = value(&host, "nagios.svc.Load.age", "web2").unwrap();
    assert!(
        (29.0..120.0).contains(&age),
        "age {age} of a result 30 s old"
    );
    assert_eq!(value(&host, "nagios.control.rotations", "svc"), Some(0.0));

    // Nagios's processing command renames the file; Nagios opens a new one.
    std::fs::rename(&perf, dir.path().join("service-perfdata.1")).unwrap();
    let second = line(
        now(),
        "web2",
        "Load",
        "0.020",
        "0.050",
        "load1=0.9;5;10;0 load5=0.8;4;8;0",
    );
    append(&perf, &second);
    wait_for(&host, "nagios.control.rotations", "svc", |r| r == 1.0);
    let bytes = wait_for(&host, "nagios.control.bytes", "svc", |b| {
        b > first.len() as f64
    });
    assert_eq!(bytes, (first.len() + second.len()) as f64);
    wait_for(&host, "nagios.svc.Load.perf.load1.value", "web2", |v| {
        v == 0.9
    });
    assert_eq!(
        value(&host, "nagios.svc.Load.exec_time", "web2"),
        Some(0.02)
    );
    let age = value(&host, "nagios.svc.Load.age", "web2").unwrap();
    assert!(age < 29.0, "age {age} of a fresh result");
    assert_eq!(
        value(&host, "nagios.control.parse_errors", "svc"),
        Some(2.0)
    );
}

/// A Nagios 4 host perfdata line (the default template).
fn host_line(t: u64, host: &str, exec: &str, perfdata: &str) -> String {
    format!("[HOSTPERFDATA]\t{t}\t{host}\t{exec}\tPING OK\t{perfdata}\n")
}

#[test]
fn host_checks_and_a_service_called_host_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let perf = dir.path().join("perfdata");
    let t = now() - 5;
    // One file with both kinds of line, as a single perfdata file (or a
    // processing command merging the two) gives them.
    append(
        &perf,
        &(host_line(t, "web2", "0.010", "rta=1.5ms;100;500;0 pl=0%;20;60;0")
            + &line(t, "web2", "host", "0.250", "0.010", "load1=0.5;5;10;0")),
    );
    let host = following(&conf, &perf);
    wait_for(&host, "nagios.control.bytes", "svc", |b| b > 0.0);

    // Two series under nagios.svc: one with the host check's figures, one
    // with the service's, each with its own execution time.
    let names: Vec<String> = host
        .traverse("nagios.svc")
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    let prefix_of = |leaf: &str| -> Vec<String> {
        names
            .iter()
            .filter_map(|n| n.strip_suffix(leaf).map(str::to_string))
            .collect()
    };
    let rta = prefix_of(".perf.rta.value");
    let load = prefix_of(".perf.load1.value");
    assert_eq!((rta.len(), load.len()), (1, 1), "{names:?}");
    assert_ne!(
        rta[0], load[0],
        "host checks and the service share a series"
    );
    for (prefix, other_leaf) in [
        (&rta[0], ".perf.load1.value"),
        (&load[0], ".perf.rta.value"),
    ] {
        assert!(
            !names.contains(&format!("{prefix}{other_leaf}")),
            "{prefix} holds both series' figures: {names:?}"
        );
    }
    assert_eq!(
        value(&host, &format!("{}.perf.rta.value", rta[0]), "web2"),
        Some(1.5)
    );
    assert_eq!(
        value(&host, &format!("{}.exec_time", rta[0]), "web2"),
        Some(0.01)
    );
    assert_eq!(
        value(&host, &format!("{}.perf.load1.value", load[0]), "web2"),
        Some(0.5)
    );
    assert_eq!(
        value(&host, &format!("{}.exec_time", load[0]), "web2"),
        Some(0.25)
    );
}
