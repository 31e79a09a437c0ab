//! Our agents (simple, linux, prometheus, bpftrace) under
//! a real, unmodified pmcd 6.0.3 — a private instance on a free port, so
//! the system pmcd is never touched — registered by `pcp_agent::pmcd::install`
//! through the same pmcd.conf line `pcp-agent install` writes
//! (`pcp-agent pmda NAME --notready ...`).
//!
//! What PCP's own clients see through pmcd is compared with what our
//! in-process host gives for an agent built from the same options:
//! `pminfo -dfmtTl` (descriptors, help, labels, and values of stable
//! metrics), `pmprobe -v`; counters come out as rates in `pmval` and
//! `pmrep`; `pmstore` reaches storable metrics; a new prometheus source
//! appears in pminfo and in a running pmlogger's archive without a pmcd
//! restart; with our linux agent standing in for pmdalinux at domain 60,
//! pmrep's :vmstat, :sar, :iostat-dktx and :mpstat and `pcp dstat` print
//! values; and our prometheus agent under `-r openmetrics` serves what
//! PCP's own pmdaopenmetrics serves for the same config.d.

mod install_support;
mod pmcd_support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use install_support::install_options;
use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd::{self, InstallOptions};
use pcp_core::render::pminfo::{render, Flags};
use pcp_core::{Host, Semantics};
use pmcd_support::*;

/// The binary pmcd runs for our agents.
const BIN: &str = env!("CARGO_BIN_EXE_pcp-agent");

const ALL_FLAGS: Flags = Flags {
    desc: true,
    fetch: true,
    pmid: true,
    oneline: true,
    help: true,
    labels: true,
};

/// Agent options with a private state directory.
fn options(agent: &str, state: &Path) -> AgentOptions {
    let mut o = AgentOptions::defaults();
    o.agents = vec![agent.to_string()];
    o.state_dir = Some(state.to_path_buf());
    o
}

/// Registers agent `name` with the private pmcd as `pcp-agent install`
/// does (pmcd.conf line, dynamic PMNS entries, SIGHUP to this pmcd) and
/// waits until it serves its first top-level name.
fn install(
    p: &PrivatePmcd,
    name: &str,
    opts: &AgentOptions,
    domain: u32,
    prefixes: Vec<String>,
    replace: bool,
) -> InstallOptions {
    let mut io = install_options(p, name, domain, prefixes);
    io.agent_args = opts.args_for(name);
    io.replace = replace;
    let changes = pmcd::install(&io)
        .unwrap_or_else(|e| panic!("installing {name}: {e}\npmcd log:\n{}", p.log()));
    assert!(
        changes.iter().any(|c| c.contains("pmcd.conf: add line")),
        "{changes:?}"
    );
    let conf = std::fs::read_to_string(&p.conf).unwrap();
    assert!(conf.contains(&io.conf_line()), "{conf}");
    io
}

/// The domain and top-level names of an agent that needs no state (the
/// prometheus agent's are its root name at 144).
fn registration(opts: &AgentOptions, name: &str) -> (u32, Vec<String>) {
    if name == "prometheus" {
        return (144, vec![opts.prometheus_root.clone()]);
    }
    let a = opts.build_agent(name).expect("building the agent");
    (a.domain(), a.namespace().top_level())
}

/// A private pmcd (no agents) with agent `name` installed into it.
fn deployed(name: &str, opts: &AgentOptions) -> PrivatePmcd {
    let p = PrivatePmcd::start_empty();
    let (domain, prefixes) = registration(opts, name);
    install(&p, name, opts, domain, prefixes, false);
    p
}

/// The in-process host with the same agent (after pmcd's copy holds the
/// state directory, so ours reads the same persistent ids).
fn in_process(opts: &AgentOptions) -> Host {
    let host = opts.build_host().expect("in-process host");
    host.wait_ready(Duration::from_secs(10));
    host
}

/// `value ...` parts of value lines replaced by `value N`.
fn mask_values(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            if l.starts_with("    value ") {
                "    value N".to_string()
            } else if l.starts_with("    inst [") {
                match l.find("] value ") {
                    Some(at) => format!("{}] value N", &l[..at]),
                    None => l.clone(),
                }
            } else {
                l.clone()
            }
        })
        .collect()
}

/// `pminfo -dfmtTl` of `roots` through pmcd (over the unix socket, so pmcd
/// passes our credentials and the userid/groupid context labels match the
/// in-process host's) against the in-process rendering. Metrics for which
/// `unstable` says so have their values masked (instances still compared).
fn compare_pminfo(p: &PrivatePmcd, host: &Host, roots: &[String], unstable: &dyn Fn(&str) -> bool) {
    let mut metrics = Vec::new();
    for r in roots {
        metrics.extend(host.traverse(r).expect("in-process traverse"));
    }
    assert!(!metrics.is_empty());
    let out = p.run(
        client("pminfo")
            .arg("-h")
            .arg(p.unix_host())
            .arg("-dfmtTl")
            .args(roots),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let got = blocks(&stdout(&out));
    let want = blocks(&render(host, &metrics, ALL_FLAGS));
    let names = |b: &[Block]| b.iter().map(|b| b.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "metric lists differ");
    for (g, w) in got.iter().zip(&want) {
        if unstable(&g.name) {
            same_lines(&g.name, &mask_values(&g.lines), &mask_values(&w.lines));
        } else {
            same_lines(&g.name, &g.lines, &w.lines);
        }
    }
}

/// Asserts two blocks are equal, naming the first line that differs.
fn same_lines(name: &str, got: &[String], want: &[String]) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{name}: through pmcd and in-process differ at line {at}:\n  pmcd:       {:?}\n  in-process: {:?}\nwhole blocks:\n{}\n---\n{}",
        got.get(at),
        want.get(at),
        got.join("\n"),
        want.join("\n")
    );
}

/// `pmprobe -v` of `roots` through pmcd against in-process fetches: the
/// number of values (or the error code) of every metric, and the values of
/// stable ones.
fn compare_pmprobe(
    p: &PrivatePmcd,
    host: &Host,
    roots: &[String],
    unstable: &dyn Fn(&str) -> bool,
) {
    // Over the unix socket, as compare_pminfo: the in-process host asks as
    // this process's user, and agents answer root-only figures per user.
    let out = p.run(
        client("pmprobe")
            .arg("-h")
            .arg(p.unix_host())
            .arg("-v")
            .args(roots),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let mut checked = 0;
    for line in text.lines() {
        let mut f = line.splitn(3, ' ');
        let (name, numval, rest) = (
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
            f.next().unwrap_or(""),
        );
        let pmid = host
            .lookup(name)
            .unwrap_or_else(|e| panic!("{name} from pmprobe: {e}"));
        let got = host.fetch(&[pmid]).values.remove(0).1;
        match got {
            Ok(vals) => {
                assert_eq!(numval, vals.len().to_string(), "{line}");
                if !unstable(name) {
                    let want: Vec<String> = vals.iter().map(|(_, v)| v.to_string()).collect();
                    assert_eq!(rest, want.join(" "), "{line}");
                }
            }
            Err(e) => assert_eq!(numval, e.code().to_string(), "{line}"),
        }
        checked += 1;
    }
    assert!(checked > 0, "pmprobe listed nothing:\n{text}");
}

/// pmval and pmrep on a counter: pmval says it converts to a rate and
/// prints `samples` values, each checked by `ok`; pmrep's rows too (the
/// caller has required python3-pcp for pmrep).
fn check_rates(p: &PrivatePmcd, metric: &str, ok: &dyn Fn(f64) -> bool) {
    let out = p.run(p.client("pmval").args(["-s", "3", "-t", "0.4", metric]));
    let text = stdout(&out);
    assert!(
        text.contains("(converting to"),
        "{text}{}\n{}",
        stderr(&out),
        p.log()
    );
    let rates = report_numbers(&text);
    assert_eq!(rates.len(), 3, "{text}{}", stderr(&out));
    assert!(rates.iter().all(|r| ok(*r)), "{metric} rates {rates:?}");
    let out = p.run(p.client("pmrep").args(["-s", "3", "-t", "0.4", metric]));
    let rates = report_numbers(&stdout(&out));
    assert!(rates.len() >= 2, "{}{}", stdout(&out), stderr(&out));
    assert!(
        rates.iter().all(|r| ok(*r)),
        "pmrep {metric} rates {rates:?}"
    );
}

fn pminfo_value(p: &PrivatePmcd, metric: &str) -> String {
    let out = p.run(p.client("pminfo").args(["-f", metric]));
    stdout(&out)
}

#[test]
fn simple_under_pmcd_matches_the_in_process_host() {
    if !require_pmcd("the simple agent under a private pmcd")
        || !require_pmrep("pmrep shows counter rates")
    {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let opts = options("simple", state.path());
    let p = deployed("simple", &opts);
    let host = in_process(&opts);
    let roots = vec!["simple".to_string()];
    let unstable = |n: &str| n != "simple.version";
    compare_pminfo(&p, &host, &roots, &unstable);
    compare_pmprobe(&p, &host, &roots, &unstable);
    // CPU time of the agent: a utilisation, never above one CPU's worth.
    check_rates(&p, "simple.time.user", &|r| (0.0..=1.5).contains(&r));

    let out = p.run(p.client("pmstore").args(["simple.numfetch", "4000"]));
    assert!(
        stdout(&out).contains("new value=4000"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = pminfo_value(&p, "simple.numfetch");
    let v: u32 = text
        .split("value ")
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    assert!((4000..4010).contains(&v), "{text}");
    // A metric that is not storable says so.
    let out = p.run(p.client("pmstore").args(["simple.version", "x"]));
    assert!(!out.status.success() || !stdout(&out).contains("new value"));
}

#[test]
fn linux_under_pmcd_matches_the_in_process_host() {
    if !require_pmcd("the linux agent under a private pmcd")
        || !require_pmrep("pmrep shows counter rates")
    {
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let opts = options("linux", state.path());
    let p = deployed("linux", &opts);
    let host = in_process(&opts);
    let roots = host.namespace().top_level();
    assert!(roots.contains(&"kernel".to_string()), "{roots:?}");
    // Only descriptors' discrete metrics (hardware, uname) hold still.
    let unstable = |n: &str| {
        host.lookup(n)
            .and_then(|pmid| host.desc(pmid))
            .map(|d| d.sem != Semantics::Discrete)
            .unwrap_or(true)
    };
    compare_pminfo(&p, &host, &roots, &unstable);
    compare_pmprobe(&p, &host, &roots, &unstable);
    // Context switches per second: always some on a running system.
    check_rates(&p, "kernel.all.pswitch", &|r| r > 0.0);
}

/// A config.d with a scripted source (`gen`: a two-instance gauge and a
/// counter of milliseconds since the epoch, rate about 1000/s) and a file
/// source (`static`: counter, gauges with labels, a histogram, an untyped
/// metric).
fn prometheus_config(dir: &Path) -> PathBuf {
    let conf = dir.join("config.d");
    std::fs::create_dir_all(&conf).unwrap();
    let doc = dir.join("static.prom");
    std::fs::write(
        &doc,
        "# HELP http_requests_total Total HTTP requests\n\
         # TYPE http_requests_total counter\n\
         http_requests_total{method=\"get\",code=\"200\"} 1027\n\
         http_requests_total{method=\"post\",code=\"200\"} 3\n\
         # HELP temperature_celsius Room temperature\n\
         # TYPE temperature_celsius gauge\n\
         temperature_celsius{room=\"kitchen\"} 21.5\n\
         temperature_celsius{room=\"hall\"} 19\n\
         # TYPE build_info gauge\n\
         build_info{version=\"1.2.3\"} 1\n\
         # HELP request_duration_seconds Request latency\n\
         # TYPE request_duration_seconds histogram\n\
         request_duration_seconds_bucket{le=\"0.1\"} 5\n\
         request_duration_seconds_bucket{le=\"+Inf\"} 7\n\
         request_duration_seconds_sum 1.5\n\
         request_duration_seconds_count 7\n\
         untyped_thing 42\n",
    )
    .unwrap();
    std::fs::write(
        conf.join("static.url"),
        format!("file://{}\n", doc.display()),
    )
    .unwrap();
    let script = conf.join("gen.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         echo '# HELP queue_depth Items waiting'\n\
         echo '# TYPE queue_depth gauge'\n\
         echo 'queue_depth{queue=\"a\"} 4'\n\
         echo 'queue_depth{queue=\"b\"} 9'\n\
         echo '# HELP ticks_total Milliseconds since the epoch'\n\
         echo '# TYPE ticks_total counter'\n\
         echo \"ticks_total $(date +%s%3N)\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    conf
}

/// Prometheus metrics whose values move: the clock counter and the
/// agent's own bookkeeping (except the stored debug flag and statuses).
fn prometheus_unstable(n: &str) -> bool {
    n.ends_with(".ticks_total")
        || (n.contains(".control.")
            && !n.ends_with(".control.debug")
            && !n.ends_with(".control.status")
            && !n.ends_with(".control.status_code")
            && !n.ends_with(".control.up")
            && !n.ends_with(".control.metrics"))
}

#[test]
fn prometheus_under_pmcd_matches_the_in_process_host() {
    if !require_pmcd("the prometheus agent under a private pmcd")
        || !require_pmrep("pmrep shows counter rates")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options("prometheus", &dir.path().join("state"));
    opts.prometheus_config = Some(prometheus_config(dir.path()));
    let p = deployed("prometheus", &opts);
    assert!(
        p.wait_for("prometheus.static", Duration::from_secs(15)),
        "{}",
        p.log()
    );
    // A state directory of its own: both start from nothing and number
    // sources, metrics and instances alike. (Sharing pmcd's agent's one
    // read-only would lose instance labels: instances restored from the
    // id cache get no labels in pmda-prometheus.)
    let mut mine = opts.clone();
    mine.state_dir = Some(dir.path().join("state-in-process"));
    let host = in_process(&mine);
    let roots = vec!["prometheus".to_string()];
    compare_pminfo(&p, &host, &roots, &prometheus_unstable);
    compare_pmprobe(&p, &host, &roots, &prometheus_unstable);
    check_rates(&p, "prometheus.gen.ticks_total", &|r| {
        (500.0..1500.0).contains(&r)
    });

    let out = p.run(p.client("pmstore").args(["prometheus.control.debug", "1"]));
    assert!(
        stdout(&out).contains("new value=1"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(pminfo_value(&p, "prometheus.control.debug").contains("value 1"));
    let out = p.run(p.client("pmstore").args(["prometheus.control.debug", "0"]));
    assert!(stdout(&out).contains("new value=0"), "{}", stdout(&out));
    // Scraped metrics are not storable.
    let out = p.run(
        p.client("pmstore")
            .args(["prometheus.static.untyped_thing", "1"]),
    );
    assert!(
        format!("{}{}", stdout(&out), stderr(&out)).contains("No permission"),
        "{out:?}"
    );
}

#[test]
fn new_prometheus_source_appears_in_pminfo_and_a_running_pmlogger() {
    if !require_pmcd("dynamic names under a private pmcd")
        || !require_pmlogger("pmlogger picks up a new source's names")
        || !require_pmrep("pmrep reads the archive back")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options("prometheus", &dir.path().join("state"));
    let conf = prometheus_config(dir.path());
    opts.prometheus_config = Some(conf.clone());
    let p = deployed("prometheus", &opts);
    let simple = options("simple", &dir.path().join("state-simple"));
    install(&p, "simple", &simple, 253, vec!["simple".into()], false);
    assert!(p.wait_for("prometheus.gen", Duration::from_secs(15)));

    let archive = dir.path().join("archive");
    let mut logger = p.logger(
        "log mandatory on 200 msec {\n    prometheus\n    simple\n}\n",
        &archive,
    );
    std::thread::sleep(Duration::from_millis(1500));
    // A new source while pmcd and pmlogger run.
    let doc = dir.path().join("late.prom");
    std::fs::write(
        &doc,
        "# HELP late_jobs Jobs that arrived late\n# TYPE late_jobs gauge\nlate_jobs{kind=\"x\"} 17\n",
    )
    .unwrap();
    std::fs::write(conf.join("late.url"), format!("file://{}\n", doc.display())).unwrap();
    let appeared = wait_until(Duration::from_secs(15), || {
        pminfo_value(&p, "prometheus.late").contains("value 17")
    });
    assert!(appeared, "prometheus.late never appeared:\n{}", p.log());
    std::thread::sleep(Duration::from_millis(2000));
    let log = logger.stop();

    let arch = logger.archive_arg();
    let out = p.run(client("pminfo").args(["-a", &arch, "-f", "prometheus.late"]));
    assert!(
        stdout(&out).contains("prometheus.late.late_jobs") && stdout(&out).contains("value 17"),
        "new source not in the archive:\n{}{}\npmlogger log:\n{log}",
        stdout(&out),
        stderr(&out)
    );
    // pmdumplog and pmrep read our metrics back.
    let out = p.run(client("pmdumplog").args(["-a", &arch]));
    let dump = stdout(&out);
    for name in [
        "prometheus.static.temperature_celsius",
        "prometheus.gen.ticks_total",
        "simple.numfetch",
        "prometheus.late.late_jobs",
    ] {
        assert!(dump.contains(name), "{name} not in pmdumplog:\n{dump}");
    }
    let out = p.run(client("pmdumplog").args([&arch, "prometheus.static.temperature_celsius"]));
    assert!(stdout(&out).contains("21.5"), "{}", stdout(&out));
    {
        let out = p.run(client("pmrep").args([
            "-a",
            &arch,
            "-s",
            "5",
            "-t",
            "0.2",
            "prometheus.gen.ticks_total",
        ]));
        let rates = report_numbers(&stdout(&out));
        assert!(
            rates.len() >= 3 && rates.iter().all(|r| (500.0..1500.0).contains(r)),
            "{}{}",
            stdout(&out),
            stderr(&out)
        );
        let out = p.run(client("pmrep").args(["-a", &arch, "-s", "3", "simple.numfetch"]));
        assert!(report_numbers(&stdout(&out)).len() >= 2, "{}", stdout(&out));
    }
}

/// How many values domain 60 gives for its root-only figures (slab caches,
/// serial lines) to an anonymous client (TCP: pmcd passes no credentials)
/// and to this test's user over pmcd's unix socket (`pmprobe`'s count, or
/// its negative error code), and how many of their instances an anonymous
/// client is shown before and after that.
fn root_only_counts(p: &PrivatePmcd) -> Vec<(String, i64)> {
    let metrics = ["mem.slabinfo.objects.active", "tty.serial.rx"];
    let mut out = Vec::new();
    // Instances an anonymous client is shown (re-read for root only).
    let listed = |when: &str, out: &mut Vec<(String, i64)>| {
        for m in metrics {
            let run = p.run(client("pminfo").arg("-h").arg(p.host()).args(["-l", m]));
            assert!(run.status.success(), "pminfo: {}", stderr(&run));
            let n = stdout(&run).matches("inst [").count() as i64;
            out.push((format!("{m} instances listed over tcp {when}"), n));
        }
    };
    listed("before root asked", &mut out);
    for (how, host) in [("tcp", p.host()), ("unix socket", p.unix_host())] {
        let run = p.run(client("pmprobe").arg("-h").arg(&host).args(metrics));
        assert!(run.status.success(), "pmprobe: {}", stderr(&run));
        let text = stdout(&run);
        for m in metrics {
            let n = text
                .lines()
                .find_map(|l| l.strip_prefix(m)?.trim().parse::<i64>().ok())
                .unwrap_or_else(|| panic!("pmprobe gave no count for {m}:\n{text}"));
            out.push((format!("{m} over {how}"), n));
        }
    }
    listed("after root asked", &mut out);
    // Whatever this machine's credentials passing does, an anonymous
    // client sees none of them, nor their instances before root asked.
    assert!(
        out[..4].iter().all(|(_, n)| *n <= 0),
        "root-only figures over TCP: {out:?}"
    );
    out
}

/// PCP's own PMNS (as installed) in a private pmcd running PCP's pmdalinux
/// at 60; `install --replace` puts our linux agent in its place, as on a
/// real system. PCP's pmrep presets and `pcp dstat` then print values, and
/// the root-only figures go to the same clients as before.
#[test]
fn linux_stands_in_for_pmdalinux_for_pmrep_presets_and_dstat() {
    let pmdalinux = "/var/lib/pcp/pmdas/linux/pmdalinux";
    let system_root = "/var/lib/pcp/pmns/root";
    if !require_pmcd("pmdalinux's stand-in under a private pmcd")
        || !pcp_core::testing::require(
            "pmdalinux",
            Path::new(pmdalinux).exists() && Path::new(system_root).exists(),
            "PCP's linux agent and PMNS",
        )
        || !pcp_core::testing::require("python3-pcp", have_python_pcp(), "pmrep and pcp dstat")
    {
        return;
    }
    let root = std::fs::read_to_string(system_root).unwrap();
    let p = PrivatePmcd::start_with(
        &[format!("linux\t60\tpipe\tbinary\t{pmdalinux}")],
        &root,
        &[],
    );
    assert!(
        p.wait_for("kernel.all", Duration::from_secs(15)),
        "{}",
        p.log()
    );
    let reference_pid = p.agent_pids();
    let reference_gating = root_only_counts(&p);

    let state = tempfile::tempdir().unwrap();
    let opts = options("linux", state.path());
    let (domain, prefixes) = registration(&opts, "linux");
    assert_eq!(domain, 60);
    let io = install(&p, "linux", &opts, domain, prefixes.clone(), true);
    let conf = std::fs::read_to_string(&p.conf).unwrap();
    assert!(!conf.contains(pmdalinux), "pmdalinux not culled:\n{conf}");
    let pmns = std::fs::read_to_string(p.pmns_dir.join("root")).unwrap();
    for name in &prefixes {
        assert!(
            pmns.contains(&format!("{name}\t60:*:*")),
            "{name} not dynamic:\n{pmns}"
        );
    }
    // Domain 60 is our process now.
    let agents = p.agent_pids();
    assert!(
        agents.iter().all(|a| !reference_pid.contains(a)),
        "{agents:?}"
    );
    let ours = agents.iter().any(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
            .map(|c| c.contains("pcp-agent") && c.contains("linux"))
            .unwrap_or(false)
    });
    assert!(
        ours,
        "our agent is not running under pmcd: {agents:?}\n{}",
        p.log()
    );
    drop(io);

    // The root-only figures reach the same clients as pmdalinux's did.
    let ours_gating = root_only_counts(&p);
    for ((what, r), (_, o)) in reference_gating.iter().zip(&ours_gating) {
        assert_eq!(
            *r > 0,
            *o > 0,
            "{what}: pmdalinux gave {r} values, ours {o}"
        );
        // Slab caches come and go only now and then.
        assert!(
            r.abs_diff(*o) <= 1 + r.unsigned_abs() / 10,
            "{what}: {r} vs {o}"
        );
    }

    // The presets (iostat's is :iostat-dktx; PCP 6.0.3 has no bare :iostat)
    // and dstat, at once.
    let host = p.host();
    let runs: Vec<(String, Vec<String>)> = ["vmstat", "sar", "iostat-dktx", "mpstat"]
        .iter()
        .map(|preset| {
            (
                format!(":{preset}"),
                vec![
                    "-h".to_string(),
                    host.clone(),
                    "-t".into(),
                    "1".into(),
                    "-s".into(),
                    "2".into(),
                    format!(":{preset}"),
                ],
            )
        })
        .chain(std::iter::once((
            "pcp dstat".to_string(),
            vec![
                "-h".to_string(),
                host.clone(),
                "dstat".into(),
                "1".into(),
                "2".into(),
            ],
        )))
        .collect();
    let handles: Vec<_> = runs
        .into_iter()
        .map(|(label, args)| {
            std::thread::spawn(move || {
                let tool = if label == "pcp dstat" { "pcp" } else { "pmrep" };
                // The presets use PCP's derived metrics (kernel.cpu.util.*).
                let mut cmd = client(tool);
                cmd.env_remove("PCP_DERIVED_CONFIG");
                let out = run_bounded(cmd.args(&args), Duration::from_secs(40));
                (label, out)
            })
        })
        .collect();
    for h in handles {
        let (label, out) = h.join().expect("tool thread");
        let text = stdout(&out);
        assert!(
            out.status.success() && !stderr(&out).contains("Invalid metric"),
            "{label} failed:\n{text}{}",
            stderr(&out)
        );
        // The last row (the second sample: rates known) holds numbers.
        let last = text.lines().last().unwrap_or("");
        let numbers = last
            .split(|c: char| c.is_whitespace() || c == '|')
            .filter(|t| !t.is_empty())
            .filter(|t| {
                t.trim_end_matches(['k', 'M', 'G', 'B'])
                    .parse::<f64>()
                    .is_ok()
            })
            .count();
        assert!(
            numbers >= 3 && text.lines().count() >= 3,
            "{label} printed no values:\n{text}{}",
            stderr(&out)
        );
    }
}

/// PCP's pmdaopenmetrics and our prometheus agent as `-r openmetrics`, each
/// in its own private pmcd at domain 144 on the same config.d: the same
/// metric names, PMIDs, types, semantics, units, instance names, values,
/// help text (the reference's: a block's HELP covers every sample of the
/// block, the next untyped metric's too) and labels (the reference's: the
/// metric carries the labels of its first and latest samples, each
/// instance its own and an `instname` note). In this drop-in mode our
/// agent serves exactly the reference's six control metrics.
#[test]
fn prometheus_as_openmetrics_matches_pmdaopenmetrics() {
    let script = "/var/lib/pcp/pmdas/openmetrics/pmdaopenmetrics.python";
    let python_ok = Command::new("/usr/bin/python3")
        .args(["-c", "import pcp.pmda, requests"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !require_pmcd("pmdaopenmetrics comparison")
        || !pcp_core::testing::require(
            "pmdaopenmetrics",
            Path::new(script).exists() && python_ok,
            "PCP's openmetrics agent with python3-pcp and python3-requests",
        )
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = prometheus_config(dir.path());
    let root_entry = ["openmetrics\t144:*:*".to_string()];
    let reference = PrivatePmcd::start(
        &[format!(
            "openmetrics\t144\tpipe\tbinary notready\t/usr/bin/python3 {script} -c {}",
            conf.display()
        )],
        &root_entry,
    );
    let mut opts = options("prometheus", &dir.path().join("state"));
    opts.prometheus_config = Some(conf.clone());
    opts.prometheus_root = "openmetrics".into();
    let io = {
        let mut io = InstallOptions::system("prometheus", 144, PathBuf::from(BIN), vec![]);
        io.agent_args = opts.args_for("prometheus");
        io
    };
    let ours = PrivatePmcd::start(&[io.conf_line()], &root_entry);
    for (who, p) in [("pmdaopenmetrics", &reference), ("ours", &ours)] {
        assert!(
            p.wait_for("openmetrics.static", Duration::from_secs(30)),
            "{who} never served openmetrics.static:\n{}",
            p.log()
        );
    }
    let dump = |p: &PrivatePmcd| -> BTreeMap<String, Vec<String>> {
        let out = p.run(p.client("pminfo").args(["-dfmtTl", "openmetrics"]));
        assert!(out.status.success(), "{}", stderr(&out));
        blocks(&stdout(&out))
            .into_iter()
            .map(|b| (b.name, b.lines))
            .collect()
    };
    let (want, got) = (dump(&reference), dump(&ours));
    assert!(want.len() >= 10, "{want:?}");
    for (name, lines) in &want {
        let Some(ours) = got.get(name) else {
            panic!("{name} missing from our agent; we have {:?}", got.keys());
        };
        // The reference's timing counters move; everything else holds still.
        let moving = prometheus_unstable(name);
        if moving {
            assert_eq!(mask_values(ours), mask_values(lines), "{name}");
        } else {
            assert_eq!(ours, lines, "{name}");
        }
    }
    let extra: Vec<&String> = got.keys().filter(|n| !want.contains_key(*n)).collect();
    assert!(extra.is_empty(), "only in our agent: {extra:?}");
}

/// bpftrace: the same pminfo comparison on an autostarted script, values
/// included except those that move (the bpftrace process id, bytes read
/// from it, the scripts' JSON with both, and the counter, whose rate is
/// checked instead).
#[test]
fn bpftrace_under_pmcd_matches_the_in_process_host() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require_pmcd("the bpftrace agent under a private pmcd")
        || !pcp_core::testing::require(
            "bpftrace",
            root && pcp_core::testing::have_program("bpftrace"),
            "bpftrace (as root) for the bpftrace agent",
        )
        || !require_pmrep("pmrep shows counter rates")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("autostart");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::write(
        scripts.join("ticks.bt"),
        "// name: ticks\ninterval:ms:100 { @ticks = count(); }\n",
    )
    .unwrap();
    // Maps printed every 100 ms (1 s by default), so 0.4 s samples see
    // the counter move steadily.
    let config = dir.path().join("bpftrace.conf");
    std::fs::write(&config, "[bpftrace]\nprint_interval_ms = 100\n").unwrap();
    let mut opts = options("bpftrace", &dir.path().join("state"));
    opts.bpftrace_autostart = vec![scripts];
    opts.bpftrace_config = Some(config);
    let probe = opts
        .build_agent("bpftrace")
        .unwrap_or_else(|e| panic!("the bpftrace agent does not start: {e}"));
    let (domain, prefixes) = (probe.domain(), probe.namespace().top_level());
    drop(probe);
    let p = PrivatePmcd::start_empty();
    install(&p, "bpftrace", &opts, domain, prefixes.clone(), false);
    // The map's metric exists once bpftrace has printed it.
    let data = "bpftrace.scripts.ticks.data.ticks";
    assert!(
        wait_until(Duration::from_secs(20), || pminfo_value(&p, data)
            .contains("value ")),
        "{data} never appeared under pmcd:\n{}",
        p.log()
    );
    let mut mine = opts.clone();
    mine.state_dir = Some(dir.path().join("state-in-process"));
    let host = in_process(&mine);
    assert!(
        wait_until(Duration::from_secs(20), || {
            host.refresh_names();
            host.lookup(data).is_ok()
        }),
        "{data} never appeared in-process"
    );
    // What moves between two runs of a script: its bpftrace's pid, the
    // bytes read from it, the JSON summary holding both and its times,
    // and the counter (its rate is checked below). Every other value, and
    // descriptors, help, labels and instances, must be the same.
    let unstable = |n: &str| {
        n.ends_with(".pid")
            || n.ends_with(".data_bytes")
            || n == "bpftrace.info.scripts_json"
            || n == data
    };
    compare_pminfo(&p, &host, &prefixes, &unstable);
    // count() every 100 ms: a counter at about 10/s.
    check_rates(&p, data, &|r| (3.0..20.0).contains(&r));
}
