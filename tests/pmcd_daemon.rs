//! A Rust agent under a real, unmodified pmcd 6.0.3 (a private instance):
//! PCP's own tools (pminfo, pmval, pmrep, pmstore, pmprobe, pmlogger,
//! pmdumplog) see exactly what the in-process host gives; install and
//! remove edit pmcd.conf and the PMNS as PCP's scripts do.

mod pmcd_support;

#[allow(dead_code)]
#[path = "../pcp-core/examples/pdu_test_pmda.rs"]
mod example;

use std::process::Command;
use std::time::{Duration, Instant};

use example::agent::TestAgent;
use pcp_agent::pmcd;
use pcp_core::render::pminfo::{render, Flags};
use pcp_core::{Host, Pmda, Value};
use pmcd_support::*;

const ROOT_ENTRY: &str = "pdutest\t490:*:*";

fn agent_line(bin: &std::path::Path, extra: &str) -> String {
    format!(
        "pdutest\t490\tpipe\tbinary notready\t{} --notready --credentials --slow-start 300 {extra}",
        bin.display()
    )
}

fn start() -> PrivatePmcd {
    let p = PrivatePmcd::start(&[agent_line(&test_pmda(), "")], &[ROOT_ENTRY.to_string()]);
    assert!(
        p.wait_for("pdutest", Duration::from_secs(20)),
        "agent never became ready:\n{}",
        p.log()
    );
    p
}

fn host_with(agent: TestAgent) -> Host {
    let mut host = Host::new();
    host.load(Box::new(agent)).unwrap();
    host
}

/// Drops what legitimately differs between pmcd and the in-process host:
/// the counter's value (time-based), and the user/group context labels
/// (the host adds its own; pmcd adds them only for some clients).
fn normalise(text: &str) -> String {
    let mut out = String::new();
    let mut metric = String::new();
    for line in text.lines() {
        if line.starts_with("pdutest.") {
            metric = line.split_whitespace().next().unwrap_or("").to_string();
        }
        let mut line = line.to_string();
        if metric == "pdutest.counter" && line.starts_with("    value ") {
            line = "    value N".into();
        }
        if let Some(at) = line.find("labels {") {
            let json = &line[at + 7..];
            let mut map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(json).expect("labels JSON");
            map.remove("userid");
            map.remove("groupid");
            line = format!("{}labels {}", &line[..at], serde_json::Value::Object(map));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[test]
fn pminfo_through_pmcd_matches_the_in_process_host() {
    if !require_pmcd("pminfo through a private pmcd") {
        return;
    }
    let p = start();
    // Over the unix socket pmcd passes the client's credentials, so the
    // uid metric has the same value as in-process.
    let out = p.run(
        Command::new("pminfo")
            .arg("-h")
            .arg(p.unix_host())
            .args(["-dfmtTl", "pdutest"]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = host_with(TestAgent::new());
    let metrics = host.traverse("pdutest").unwrap();
    let flags = Flags {
        desc: true,
        fetch: true,
        pmid: true,
        oneline: true,
        help: true,
        labels: true,
    };
    let want = render(&host, &metrics, flags);
    assert_eq!(normalise(&stdout(&out)), normalise(&want));
    assert!(stdout(&out).contains("inst [2 or \"gamma delta\"] value 4.5"));
    assert!(stdout(&out).contains("    value [0102030405]\n"));
}

/// The numbers of a pmval/pmrep report: lines that hold only numbers.
fn numbers(text: &str) -> Vec<f64> {
    text.lines()
        .filter(|l| l.starts_with(' ') || l.starts_with(|c: char| c.is_ascii_digit()))
        .filter_map(|l| l.split_whitespace().last()?.parse().ok())
        .collect()
}

#[test]
fn pmval_and_pmrep_show_counter_rates() {
    if !require_pmcd("pmval through a private pmcd")
        || !require_pmrep("pmrep shows the counter's rate")
    {
        return;
    }
    let p = start();
    let out = p.run(
        p.tool("pmval")
            .args(["-s", "3", "-t", "0.3", "pdutest.counter"]),
    );
    let text = stdout(&out);
    assert!(
        text.contains("converting to rate"),
        "{text}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        p.log()
    );
    let rates = numbers(&text);
    assert_eq!(
        rates.len(),
        3,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for r in rates {
        assert!((800.0..1200.0).contains(&r), "rate {r} in\n{text}");
    }
    // An instance picked by the name up to its first space.
    let out = p.run(
        p.tool("pmval")
            .args(["-s", "1", "-i", "gamma", "pdutest.double"]),
    );
    assert!(stdout(&out).contains("4.500"), "{}", stdout(&out));
    {
        let mut pmrep = client("pmrep");
        let out = p.run(pmrep.args(["-h", &p.host(), "-s", "3", "-t", "0.3", "pdutest.counter"]));
        let rates = numbers(&stdout(&out));
        assert!(
            rates.len() >= 2,
            "{}{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        );
        for r in rates {
            assert!((800.0..1200.0).contains(&r), "pmrep rate {r}");
        }
    }
}

#[test]
fn pmstore_pmprobe_and_dynamic_names() {
    if !require_pmcd("pmstore through a private pmcd") {
        return;
    }
    let p = start();
    let out = p.run(p.tool("pmstore").args(["pdutest.control.value", "77"]));
    assert!(stdout(&out).contains("new value=77"), "{}", stdout(&out));
    let out = p.run(p.tool("pmstore").args(["pdutest.i32", "5"]));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No permission")
            || stdout(&out).contains("No permission"),
        "{out:?}"
    );
    // A store that adds a metric: it appears without restarting pmcd.
    let out = p.run(p.tool("pminfo").arg("pdutest.dynamic"));
    assert!(!out.status.success() || stdout(&out).is_empty());
    p.run(p.tool("pmstore").args(["pdutest.control.add", "fresh"]));
    let out = p.run(p.tool("pminfo").args(["-f", "pdutest.dynamic"]));
    assert!(
        stdout(&out).contains("pdutest.dynamic.fresh\n    value 1"),
        "{}",
        stdout(&out)
    );

    // pmprobe -v agrees with the in-process host after the same stores.
    let mut agent = TestAgent::new();
    let client = pcp_core::ClientContext::default();
    let pmid = |n: &str| agent.namespace().lookup(n).unwrap();
    let (v, a) = (pmid("pdutest.control.value"), pmid("pdutest.control.add"));
    agent
        .store(v, &[(u32::MAX, Value::U32(77))], &client)
        .unwrap();
    agent
        .store(a, &[(u32::MAX, Value::String("fresh".into()))], &client)
        .unwrap();
    let host = host_with(agent);
    let out = p.run(p.tool("pmprobe").args(["-v", "pdutest"]));
    let text = stdout(&out);
    let mut checked = 0;
    for line in text.lines() {
        let mut f = line.splitn(3, ' ');
        let (name, numval, rest) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap_or(""));
        if matches!(
            name,
            "pdutest.counter" | "pdutest.client.uid" | "pdutest.aggregate"
        ) {
            continue;
        }
        let got = host.fetch(&[host.lookup(name).unwrap()]).values.remove(0).1;
        match got {
            Ok(vals) => {
                assert_eq!(numval, vals.len().to_string(), "{line}");
                let want: Vec<String> = vals.iter().map(|(_, v)| v.to_string()).collect();
                assert_eq!(rest, want.join(" "), "{line}");
            }
            Err(e) => assert_eq!(numval, e.code().to_string(), "{line}"),
        }
        checked += 1;
    }
    assert!(checked >= 10, "{text}");
}

#[test]
fn pmlogger_records_and_picks_up_new_names() {
    if !require_pmcd("pmlogger against a private pmcd")
        || !require_pmlogger("pmlogger records the test agent")
        || !require_pmrep("pmrep reads the archive back")
    {
        return;
    }
    let p = start();
    let d = p.dir.path();
    let config = d.join("logger.conf");
    std::fs::write(&config, "log mandatory on 100 msec {\n    pdutest\n}\n").unwrap();
    let archive = d.join("archive");
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    let mut logger = Command::new("pmlogger")
        .env("PCP_RUN_DIR", d.join("run"))
        .env("PCP_TMP_DIR", d.join("tmp"))
        .args(["-h", &p.host(), "-c"])
        .arg(&config)
        .arg("-l")
        .arg(d.join("pmlogger.log"))
        .arg(&archive)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("pmlogger");
    std::thread::sleep(Duration::from_millis(1500));
    p.run(p.tool("pmstore").args(["pdutest.control.add", "late"]));
    std::thread::sleep(Duration::from_millis(2500));
    let _ = Command::new("kill")
        .args(["-INT", &logger.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while logger.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = logger.kill();
    let _ = logger.wait();
    let log = std::fs::read_to_string(d.join("pmlogger.log")).unwrap_or_default();

    let arch = archive.to_string_lossy().to_string();
    let out = p.run(Command::new("pmdumplog").args(["-a", &arch]));
    let dump = stdout(&out);
    assert!(
        dump.contains("pdutest.i32"),
        "pmdumplog:\n{dump}\npmlogger log:\n{log}"
    );
    assert!(dump.contains("pdutest.string"), "{dump}");
    let out = p.run(Command::new("pminfo").args(["-a", &arch, "-f", "pdutest.double"]));
    assert!(
        stdout(&out).contains("inst [1 or \"beta\"] value 3"),
        "{}",
        stdout(&out)
    );
    {
        let mut pmrep = client("pmrep");
        let out = p.run(pmrep.args(["-a", &arch, "-s", "2", "pdutest.i32"]));
        assert!(stdout(&out).contains("-42"), "{}", stdout(&out));
    }
    // The metric added while logging: pmlogger saw pmcd's names-changed
    // flag and re-read the dynamic subtree.
    let out = p.run(Command::new("pminfo").args(["-a", &arch, "pdutest.dynamic"]));
    assert!(
        stdout(&out).contains("pdutest.dynamic.late"),
        "new name not in the archive:\n{}\npmlogger log:\n{log}",
        stdout(&out)
    );
}

#[test]
fn install_and_remove_edit_pmcd_conf_and_pmns_idempotently() {
    if !require_pmcd("install into a private pmcd") {
        return;
    }
    let bin = test_pmda();
    // A rival agent already holds our domain, as pmdalinux holds 60.
    let rival = format!(
        "rival\t490\tpipe\tbinary notready\t{} --notready",
        bin.display()
    );
    let p = PrivatePmcd::start(&[rival], &[]);
    let mut opts =
        pmcd::InstallOptions::system("pdutest", 490, bin.clone(), vec!["pdutest".into()]);
    opts.pmns_dir = p.pmns_dir.clone();
    opts.pmcd_conf = p.conf.clone();
    opts.reload = pmcd::Reload::Pid(p.pid());
    opts.host = Some(p.host());
    opts.agent_args = vec!["--credentials".into()];

    let err = pmcd::install(&opts).unwrap_err();
    assert!(err.contains("--replace"), "{err}");

    opts.replace = true;
    opts.dry_run = true;
    let conf_before = std::fs::read_to_string(&p.conf).unwrap();
    let planned = pmcd::install(&opts).unwrap();
    assert!(
        planned.iter().any(|c| c.contains("cull agent rival")),
        "{planned:?}"
    );
    assert!(
        planned.iter().any(|c| c.contains("add pdutest 490:*:*")),
        "{planned:?}"
    );
    assert_eq!(std::fs::read_to_string(&p.conf).unwrap(), conf_before);

    opts.dry_run = false;
    let done = pmcd::install(&opts).unwrap();
    assert!(
        done.iter().any(|c| c.contains("signalled pmcd")),
        "{done:?}"
    );
    let conf = std::fs::read_to_string(&p.conf).unwrap();
    assert!(!conf.contains("rival"), "{conf}");
    assert!(conf.contains(&opts.conf_line()), "{conf}");
    assert!(
        conf.find(&opts.conf_line()) < conf.find("[access]"),
        "agent line after [access]:\n{conf}"
    );
    let out = p.run(p.tool("pminfo").args(["-f", "pdutest.i32"]));
    assert!(
        stdout(&out).contains("value -42"),
        "{}\n{}",
        stdout(&out),
        p.log()
    );

    // Again: nothing to do.
    assert_eq!(pmcd::install(&opts).unwrap(), Vec::<String>::new());

    // What replace took out is kept beside pmcd.conf for remove.
    let record = std::fs::read_to_string(opts.saved_path()).unwrap();
    assert!(record.contains("rival\t490"), "{record}");

    let planned = {
        let mut o = opts.clone();
        o.dry_run = true;
        pmcd::remove(&o).unwrap()
    };
    assert!(
        planned.iter().any(|c| c.contains("restore agent rival")),
        "{planned:?}"
    );
    assert_eq!(std::fs::read_to_string(&p.conf).unwrap(), conf, "dry run");
    let done = pmcd::remove(&opts).unwrap();
    assert!(
        done.iter().any(|c| c.contains("delete pdutest 490:*:*")),
        "{done:?}"
    );
    let out = p.run(p.tool("pminfo").arg("pdutest"));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // The rival is back, in its own place, and runs again.
    assert_eq!(std::fs::read_to_string(&p.conf).unwrap(), conf_before);
    assert!(!opts.saved_path().exists());
    let rival_runs = wait_until(Duration::from_secs(10), || {
        p.agent_pids().iter().any(|pid| {
            // The rival's own arguments (a child of pmcd not yet past its
            // exec shows pmcd's, or none).
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.windows(10).any(|w| w == b"--notready"))
                .unwrap_or(false)
        })
    });
    assert!(rival_runs, "the rival does not run again:\n{}", p.log());
    assert_eq!(pmcd::remove(&opts).unwrap(), Vec::<String>::new());
    let root = std::fs::read_to_string(p.pmns_dir.join("root")).unwrap();
    assert!(!root.contains("pdutest"), "{root}");
}
