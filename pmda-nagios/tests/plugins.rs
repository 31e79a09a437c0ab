//! Real monitoring-plugins (Debian's monitoring-plugins-basic) run by the
//! agent: every perfdata label a plugin printed becomes a metric with that
//! value and the unit its UOM names, and every state is the plugin's exit
//! code. Each plugin runs through a small wrapper that keeps a copy of
//! what it printed and its exit code, so the test compares the agent with
//! the plugin's own output of the same run.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use pcp_core::testing::{check_agent_with, require, CheckOptions};
use pcp_core::{Host, Value, PM_IN_NULL};
use pmda_nagios::{nagios_pmda, NagiosConfig};

const PLUGINS: &str = "/usr/lib/nagios/plugins";

fn plugins_installed() -> bool {
    require(
        "monitoring-plugins",
        Path::new(PLUGINS).join("check_load").exists(),
        "Debian's monitoring-plugins-basic is not installed (scripts/setup-systems.sh installs it)",
    )
}

/// The agent over the config directory `dir`, its plugins run once, in a
/// host.
fn host_of(dir: &Path) -> Host {
    let agent = nagios_pmda(NagiosConfig {
        config_dir: dir.to_path_buf(),
        ..Default::default()
    })
    .unwrap();
    agent
        .agent()
        .wait_for_first_results(Duration::from_secs(10));
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    host
}

/// The plugin's output as the test reads it: perfdata items split on
/// spaces (none of these plugins quotes a label), value and unit.
fn perfdata_of(output: &str) -> Vec<(String, f64, String)> {
    let Some((_, perf)) = output.lines().next().unwrap_or("").split_once('|') else {
        return Vec::new();
    };
    perf.split_whitespace()
        .filter_map(|item| {
            let (label, rest) = item.split_once('=')?;
            let first = rest.split(';').next()?;
            let end = first
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .unwrap_or(first.len());
            Some((
                label.to_string(),
                first[..end].parse().ok()?,
                first[end..].to_string(),
            ))
        })
        .collect()
}

fn component(label: &str) -> String {
    pcp_core::namespace::sanitize_component(label)
}

#[test]
fn real_plugins_become_metrics() {
    if !plugins_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    let keep = dir.path().join("keep");
    std::fs::create_dir_all(&conf).unwrap();
    std::fs::create_dir_all(&keep).unwrap();
    let wrapper = dir.path().join("keep.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nname=$1; shift\nout=$(\"$@\"); rc=$?\nprintf '%s\\n' \"$out\" > {k}/$name.out\necho $rc > {k}/$name.rc\nprintf '%s\\n' \"$out\"\nexit $rc\n",
            k = keep.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 64];
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = s.read(&mut buf);
        }
    });
    let checks = [
        ("load", "check_load -w 5,4,3 -c 10,8,6".to_string()),
        ("disk", "check_disk -w 20% -c 10% -p /".to_string()),
        ("users", "check_users -w 5 -c 10".to_string()),
        ("procs", "check_procs -w 250 -c 400".to_string()),
        ("swap", "check_swap -w 20% -c 10%".to_string()),
        ("dummy0", "check_dummy 0 fine".to_string()),
        ("dummy1", "check_dummy 1 careful".to_string()),
        ("dummy2", "check_dummy 2 broken".to_string()),
        ("dummy3", "check_dummy 3 unsure".to_string()),
        ("tcp", format!("check_tcp -H 127.0.0.1 -p {port}")),
    ];
    for (name, cmd) in &checks {
        let line = format!(
            "{} {name} {PLUGINS}/{cmd}\nINTERVAL: 600\nTIMEOUT: 20\n",
            wrapper.display()
        );
        std::fs::write(conf.join(format!("{name}.check")), line).unwrap();
    }
    let mut agent = nagios_pmda(NagiosConfig {
        config_dir: conf.clone(),
        state_dir: Some(dir.path().join("state")),
        ..Default::default()
    })
    .unwrap();
    agent
        .agent()
        .wait_for_first_results(Duration::from_secs(30));
    let opts = CheckOptions {
        require_help: true,
        ..Default::default()
    };
    check_agent_with(&mut agent, &opts).unwrap();
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    let leaves = host.traverse("nagios").unwrap();
    let pmids: Vec<_> = leaves.iter().map(|(_, p)| *p).collect();
    let result = host.fetch(&pmids);
    let values: BTreeMap<String, Value> = leaves
        .iter()
        .zip(&result.values)
        .filter(|((n, _), _)| !n.starts_with("nagios.control."))
        .filter_map(|((n, _), (_, r))| {
            let v = r.as_ref().ok()?;
            let (i, v) = v.first()?;
            assert_eq!(*i, PM_IN_NULL, "{n}");
            Some((n.clone(), v.clone()))
        })
        .collect();
    let mut labels_seen = 0;
    for (name, _) in &checks {
        let out = std::fs::read_to_string(keep.join(format!("{name}.out"))).unwrap();
        let rc: u32 = std::fs::read_to_string(keep.join(format!("{name}.rc")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            values[&format!("nagios.{name}.state")],
            Value::U32(rc),
            "{name}: {out}"
        );
        let text = ["OK", "WARNING", "CRITICAL", "UNKNOWN"][rc as usize];
        assert_eq!(
            values[&format!("nagios.{name}.state_text")],
            Value::String(text.into())
        );
        let status = out
            .lines()
            .next()
            .unwrap()
            .split('|')
            .next()
            .unwrap()
            .trim();
        assert_eq!(
            values[&format!("nagios.{name}.output")],
            Value::String(status.into())
        );
        assert_eq!(values[&format!("nagios.{name}.results")], Value::U64(1));
        for (label, value, uom) in perfdata_of(&out) {
            labels_seen += 1;
            let metric = format!("nagios.{name}.perf.{}.value", component(&label));
            assert_eq!(
                values.get(&metric),
                Some(&Value::Double(value)),
                "{metric}: {out}"
            );
            let pmid = host.lookup(&metric).unwrap();
            let units = host.desc(pmid).unwrap().units.to_string();
            let want = match uom.as_str() {
                "s" => "sec",
                "B" => "byte",
                "MB" => "Mbyte",
                "" | "%" => "none",
                other => panic!("{metric}: unexpected unit {other}"),
            };
            assert_eq!(units, want, "{metric}");
            let l = host.metric_labels(pmid).unwrap();
            assert_eq!(
                l.get("label").map(|l| l.value.clone()),
                Some(label.clone().into())
            );
        }
    }
    // One run each, as the control metrics count them.
    let calls = host.lookup("nagios.control.calls").unwrap();
    let per_source = host.fetch(&[calls]).values[0].1.clone().unwrap();
    assert_eq!(per_source.len(), checks.len());
    assert!(
        per_source.iter().all(|(_, v)| *v == Value::U64(1)),
        "{per_source:?}"
    );
    // load (3), disk (1), users (1), procs (1), swap (1), tcp (1).
    assert!(labels_seen >= 8, "only {labels_seen} perfdata labels");
    // Thresholds as metrics: check_load -w 5,4,3 -c 10,8,6.
    assert_eq!(
        values["nagios.load.perf.load1.warn_high"],
        Value::Double(5.0)
    );
    assert_eq!(
        values["nagios.load.perf.load5.crit_high"],
        Value::Double(8.0)
    );
}

#[test]
fn a_plugin_past_its_timeout_is_killed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("slow.check"),
        "sleep 30\nTIMEOUT: 1\nINTERVAL: 600\n",
    )
    .unwrap();
    let host = host_of(dir.path());
    let get = |name: &str| {
        let p = host.lookup(name).unwrap();
        host.fetch(&[p]).values[0].1.clone().unwrap()
    };
    assert_eq!(get("nagios.slow.state"), vec![(PM_IN_NULL, Value::U32(2))]);
    let out = get("nagios.slow.output");
    assert!(
        matches!(&out[0].1, Value::String(s) if s.starts_with("(Service check timed out after 1.")),
        "{out:?}"
    );
    let timeouts = get("nagios.control.timeouts");
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].1, Value::U64(1));
}

#[test]
fn values_from_status_text_by_regex() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("legacy.check"),
        "echo 'STATUS OK - 3 sessions, 12.5 ms average'\n\
         REGEX: (?P<sessions>\\d+) sessions, ([0-9.]+) ms\n\
         UNITS: 2=ms\nINTERVAL: 600\n",
    )
    .unwrap();
    let mut agent = nagios_pmda(NagiosConfig {
        config_dir: dir.path().to_path_buf(),
        ..Default::default()
    })
    .unwrap();
    agent
        .agent()
        .wait_for_first_results(Duration::from_secs(10));
    check_agent_with(&mut agent, &CheckOptions::default()).unwrap();
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    let value = |name: &str| {
        let p = host.lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v = host.fetch(&[p]).values[0].1.clone().unwrap();
        (v, host.desc(p).unwrap().units.to_string())
    };
    assert_eq!(
        value("nagios.legacy.perf.sessions.value"),
        (vec![(PM_IN_NULL, Value::Double(3.0))], "none".to_string())
    );
    assert_eq!(
        value("nagios.legacy.perf.x2.value"),
        (
            vec![(PM_IN_NULL, Value::Double(12.5))],
            "millisec".to_string()
        )
    );
}

#[test]
fn new_and_removed_check_files_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.check"),
        "echo 'A OK | a=1'\nINTERVAL: 600\n",
    )
    .unwrap();
    let host = host_of(dir.path());
    assert!(host.lookup("nagios.a.perf.a.value").is_ok());
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/b.check"),
        "echo 'B OK | b=2'\nINTERVAL: 600\n",
    )
    .unwrap();
    std::fs::remove_file(dir.path().join("a.check")).unwrap();
    let end = std::time::Instant::now() + Duration::from_secs(15);
    while host.lookup("nagios.sub.b.perf.b.value").is_err() {
        assert!(
            std::time::Instant::now() < end,
            "the new check never appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        host.lookup("nagios.a.state").is_err(),
        "the removed check is still there"
    );
    let p = host.lookup("nagios.sub.b.perf.b.value").unwrap();
    assert_eq!(
        host.fetch(&[p]).values[0].1,
        Ok(vec![(PM_IN_NULL, Value::Double(2.0))])
    );
}

/// `USER: nobody`: the plugin runs with that user's uid and gid (the
/// agent runs as root, as under pmcd); without it, as the agent's user.
#[test]
fn a_check_runs_as_its_user() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require("root", root, "running a check as another user needs root") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, user) in [("asnobody", "USER: nobody\n"), ("asroot", "")] {
        std::fs::write(
            dir.path().join(format!("{name}.check")),
            format!("/bin/sh -c 'echo \"OK | uid=$(id -u) gid=$(id -g)\"'\n{user}INTERVAL: 600\n"),
        )
        .unwrap();
    }
    let host = host_of(dir.path());
    let value = |name: &str| {
        let p = host.lookup(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        host.fetch(&[p]).values[0].1.clone().unwrap()
    };
    let nobody = |field: &str| -> f64 {
        let out = std::process::Command::new("id")
            .args([field, "nobody"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    assert_eq!(
        value("nagios.asnobody.perf.uid.value"),
        vec![(PM_IN_NULL, Value::Double(nobody("-u")))]
    );
    assert_eq!(
        value("nagios.asnobody.perf.gid.value"),
        vec![(PM_IN_NULL, Value::Double(nobody("-g")))]
    );
    assert_eq!(
        value("nagios.asroot.perf.uid.value"),
        vec![(PM_IN_NULL, Value::Double(0.0))]
    );
}
