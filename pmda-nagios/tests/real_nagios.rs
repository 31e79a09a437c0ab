//! A real Nagios (Debian's nagios4-core) monitors three hosts (localhost,
//! web and db, all on loopback addresses) every 2 s: localhost with the
//! plugins the plugin test runs (check_load, check_disk, check_users,
//! check_procs, check_swap, check_dummy for each state, check_tcp against a
//! port the test opens), web and db with services whose names localhost
//! also has (`Current Load`, `Users`, and an `Echo` check on all three that
//! prints its host's id), and every host's own check with perfdata. Nagios
//! writes service and host perfdata to two files it rotates every 3 s
//! (rename to `FILE.$TIMET$`, then reopen), as GroundWork-style setups do.
//! The agent follows both files through several rotations, is restarted in
//! the middle (and misses a rotation while down), and in the end has
//! counted exactly the check results Nagios's own debug log records, per
//! host and service (and per host for host checks): no line lost, none read
//! twice, none put under another host. Its values, fetched per host
//! instance, are those of each host's last perfdata line.

mod nagios_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nagios_support::{
    configured, logged, nagios_cfg, objects, written, Key, ECHO_SCRIPT, HOSTS, HOST_SERIES,
    HOST_SOURCE, NAGIOS, PLUGINS, SERVICE_SOURCE,
};
use pcp_core::namespace::sanitize_component;
use pcp_core::testing::require;
use pcp_core::{Host, Value};
use pmda_nagios::store::PerfKey;
use pmda_nagios::{nagios_pmda, NagiosConfig, Shared};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Results per series in the agent's store.
fn counted(shared: &Shared) -> BTreeMap<Key, u64> {
    let store = shared.store.lock();
    let mut m = BTreeMap::new();
    for (k, s) in &store.series {
        let Some(svc) = &k.service else { continue };
        for (host, r) in &s.hosts {
            m.insert(Key::new(&k.source, host, svc), r.results);
        }
    }
    m
}

/// Each series' latest perfdata values in the agent's store, by label.
fn stored_values(shared: &Shared) -> BTreeMap<Key, BTreeMap<String, f64>> {
    let store = shared.store.lock();
    let mut m = BTreeMap::new();
    for (k, s) in &store.series {
        let Some(svc) = &k.service else { continue };
        for (host, r) in &s.hosts {
            let values = r
                .perf
                .iter()
                .filter_map(|(PerfKey { label, .. }, v)| Some((label.clone(), v.value?)))
                .collect();
            m.insert(Key::new(&k.source, host, svc), values);
        }
    }
    m
}

/// A metric's values through the host, by instance name.
fn fetch_by_host(host: &Host, name: &str) -> BTreeMap<String, Value> {
    let pmid = host
        .lookup(name)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    let indom = host.desc(pmid).unwrap().indom;
    let names: BTreeMap<u32, String> = host
        .instances(indom)
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    let r = host.fetch(&[pmid]).values[0].1.clone().unwrap();
    r.into_iter()
        .map(|(inst, v)| (names[&inst].clone(), v))
        .collect()
}

fn start_agent(conf: &Path, state: &Path) -> (Host, Arc<Shared>) {
    let agent = nagios_pmda(NagiosConfig {
        config_dir: conf.to_path_buf(),
        state_dir: Some(state.to_path_buf()),
        poll: Duration::from_millis(200),
        ..Default::default()
    })
    .unwrap();
    let shared = Arc::clone(agent.agent().shared());
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    (host, shared)
}

/// Rotations followed, the fewer of the two files'.
fn rotations(shared: &Shared) -> u64 {
    let store = shared.store.lock();
    [SERVICE_SOURCE, HOST_SOURCE]
        .iter()
        .map(|s| store.stats.get(*s).map_or(0, |s| s.rotations))
        .min()
        .unwrap_or(0)
}

fn wait_until(what: &str, secs: u64, mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !ok() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn add(total: &mut BTreeMap<Key, u64>, more: &BTreeMap<Key, u64>) {
    for (k, n) in more {
        *total.entry(k.clone()).or_insert(0) += n;
    }
}

/// The values of the shared-name series through the agent's names, per
/// host instance, against each host's last perfdata line in the files;
/// the echo checks' status texts and ids per host.
fn check_values_through_the_host(host: &Host, last: &BTreeMap<Key, BTreeMap<String, f64>>) {
    let shared_names = [
        (SERVICE_SOURCE, "Echo", "id"),
        (SERVICE_SOURCE, "Echo", "tick"),
        (SERVICE_SOURCE, "Current Load", "load1"),
        (SERVICE_SOURCE, "Current Load", "load15"),
        (SERVICE_SOURCE, "Users", "users"),
        (HOST_SOURCE, HOST_SERIES, "id"),
        (HOST_SOURCE, HOST_SERIES, "tick"),
    ];
    for (source, svc, label) in shared_names {
        let name = format!(
            "nagios.{source}.{}.perf.{label}.value",
            sanitize_component(svc)
        );
        let got: BTreeMap<String, f64> = fetch_by_host(host, &name)
            .into_iter()
            .map(|(h, v)| match v {
                Value::Double(d) => (h, d),
                other => panic!("{name} {h}: {other:?}"),
            })
            .collect();
        let want: BTreeMap<String, f64> = last
            .iter()
            .filter(|(k, _)| k.source == source && k.service == svc)
            .filter_map(|(k, labels)| Some((k.host.clone(), *labels.get(label)?)))
            .collect();
        assert!(want.len() >= 2, "{name}: a name on several hosts: {want:?}");
        assert_eq!(got, want, "{name}");
    }
    // Each host's status text, which names the host (Nagios's $HOSTNAME$).
    for name in ["nagios.nagios.Echo.output", "nagios.hosts.host.output"] {
        let texts = fetch_by_host(host, name);
        for h in &HOSTS {
            assert!(
                matches!(texts.get(h.name), Some(Value::String(t)) if *t == format!("{} echo", h.name)),
                "{name} of {}: {texts:?}",
                h.name
            );
        }
    }
    // Host checks are host-wide: one id per host, its own.
    let ids = fetch_by_host(host, "nagios.hosts.host.perf.id.value");
    for h in &HOSTS {
        assert!(
            matches!(ids.get(h.name), Some(Value::Double(v)) if *v == f64::from(h.id)),
            "host id of {}: {ids:?}",
            h.name
        );
    }
}

#[test]
fn follows_a_real_nagios_through_rotations_and_a_restart() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let have = Path::new(NAGIOS).exists() && Path::new(PLUGINS).join("check_load").exists();
    if !require(
        "nagios4",
        have && root,
        "needs Debian's nagios4-core and monitoring-plugins-basic, as root",
    ) {
        return;
    }
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nagios");
    std::fs::create_dir_all(dir.join("checkresults")).unwrap();
    // check_tcp's port: the kernel completes its connections from the
    // listen backlog, nothing needs to accept them.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp_port = listener.local_addr().unwrap().port();
    std::fs::write(dir.join("objects.cfg"), objects(&dir, tcp_port)).unwrap();
    std::fs::write(dir.join("nagios.cfg"), nagios_cfg(&dir)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("echo.sh"), ECHO_SCRIPT).unwrap();
    std::fs::set_permissions(dir.join("echo.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = Command::new("chown")
        .args(["-R", "nagios:nagios"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = tmp.path().join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    for (source, kind) in [(SERVICE_SOURCE, "service"), (HOST_SOURCE, "host")] {
        std::fs::write(
            conf.join(format!("{source}.perfdata")),
            format!("{}/{kind}-perfdata\n", dir.display()),
        )
        .unwrap();
    }
    let state = tmp.path().join("state");
    let every = configured();

    let (host, shared) = start_agent(&conf, &state);
    let nagios = Running(
        Command::new(NAGIOS)
            .arg(dir.join("nagios.cfg"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("two rotations of each file", 30, || rotations(&shared) >= 2);
    wait_until("every series' first result", 30, || {
        counted(&shared).keys().cloned().collect::<Vec<_>>() == every
    });
    // Each check_dummy's status line, state word first, as Nagios ran it;
    // check_tcp's response time as a metric in seconds.
    for (n, word) in ["OK", "WARNING", "CRITICAL", "UNKNOWN"].iter().enumerate() {
        let r = fetch_by_host(&host, &format!("nagios.nagios.Dummy{n}.output"));
        assert_eq!(r.keys().collect::<Vec<_>>(), ["localhost"], "Dummy{n}");
        assert!(
            matches!(&r["localhost"], Value::String(t) if t.starts_with(word) && t.contains(&format!("dummy{n}"))),
            "Dummy{n}: {r:?}"
        );
    }
    let time = host.lookup("nagios.nagios.TCP.perf.time.value").unwrap();
    assert_eq!(host.desc(time).unwrap().units.to_string(), "sec");
    // A shared service name is one metric, its hosts the instances.
    let load = host
        .lookup("nagios.nagios.Current_Load.perf.load1.value")
        .unwrap();
    let insts = host.instances(host.desc(load).unwrap().indom).unwrap();
    let mut names: Vec<&str> = insts.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["localhost", "web"]);
    let first_rotations = rotations(&shared);
    // Stop the agent (its follower finishes its poll and saves its place).
    drop(host);
    let first = counted(&shared);
    assert!(first.values().all(|&n| n > 0), "{first:?}");
    // A rotation happens while the agent is down.
    std::thread::sleep(Duration::from_secs(4));
    let (host, shared2) = start_agent(&conf, &state);
    wait_until("two more rotations", 30, || rotations(&shared2) >= 2);
    drop(nagios);
    // Nagios has stopped: let the agent read what it wrote last (as many
    // results as lines; which ones, the per-series checks below tell).
    let files = written(&dir);
    let lines: u64 = files.lines.values().sum();
    wait_until("the agent to read every line", 10, || {
        let mut total = first.clone();
        add(&mut total, &counted(&shared2));
        total.values().sum::<u64>() >= lines
    });
    check_values_through_the_host(&host, &files.last);
    drop(host);
    drop(listener);
    let second = counted(&shared2);
    let mut total = first.clone();
    add(&mut total, &second);
    let nagios_says = logged(&dir);
    assert_eq!(
        nagios_says.keys().cloned().collect::<Vec<_>>(),
        every,
        "{nagios_says:?}"
    );
    assert_eq!(total, nagios_says, "first run {first:?}, second {second:?}");
    assert_eq!(total, files.lines, "lines in the perfdata files");
    // Every label's latest value, per host and service, is the one in
    // that series' last line.
    assert_eq!(stored_values(&shared2), files.last);
    eprintln!(
        "{} hosts, {} series: followed {} rotations of each file ({} + {}): \
         {} results ({} host checks), as Nagios logged; {:.1} s",
        HOSTS.len(),
        every.len(),
        first_rotations + rotations(&shared2),
        first_rotations,
        rotations(&shared2),
        lines,
        total
            .iter()
            .filter(|(k, _)| k.source == HOST_SOURCE)
            .map(|(_, n)| n)
            .sum::<u64>(),
        started.elapsed().as_secs_f64()
    );
}
