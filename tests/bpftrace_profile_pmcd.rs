//! The continuous profiler run by the bpftrace agent under a real, private
//! pmcd (`--bpftrace-profile FILE`, as `pcp-agent install bpftrace`
//! registers it): two busy processes, one chosen by pid and one by command
//! name, are sampled; PCP's pminfo reads `bpftrace.profiler.*` with samples
//! for both target groups, and the profiler writes its pprof files.

mod install_support;
mod pmcd_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use install_support::install_options;
use pcp_agent::agents::AgentOptions;
use pcp_agent::pmcd;
use pmcd_support::*;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A shell spinning on the CPU, run from a copy of /bin/sh named `name`
/// (the kernel's command name is the executable's).
fn spinner(dir: &std::path::Path, name: &str) -> Killed {
    let exe = dir.join(name);
    std::fs::copy("/bin/sh", &exe).unwrap();
    Killed(
        Command::new(&exe)
            .args(["-c", "while :; do :; done"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// `(instance name, value)` pairs of `pminfo -f` output for one metric.
fn values(text: &str, metric: &str) -> Vec<(String, f64)> {
    let mut out = Vec::new();
    let mut inside = false;
    for l in text.lines() {
        if !l.starts_with(' ') {
            inside = l == metric;
            continue;
        }
        if !inside {
            continue;
        }
        let l = l.trim();
        let v = l.rsplit(' ').next().and_then(|v| v.parse().ok());
        let name = l.split('"').nth(1).unwrap_or("").to_string();
        if let Some(v) = v {
            out.push((name, v));
        }
    }
    out
}

#[test]
fn the_agents_profiler_under_pmcd_samples_pid_and_comm_targets() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !require_pmcd("the bpftrace agent's profiler under a private pmcd")
        || !pcp_core::testing::require(
            "bpftrace",
            root && pcp_core::testing::have_program("bpftrace"),
            "the profiler runs bpftrace, as root",
        )
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let by_pid = spinner(tmp.path(), "spinbypid");
    let _by_comm = spinner(tmp.path(), "spinbycomm");
    let output = tmp.path().join("profiles");
    let options = tmp.path().join("profile.conf");
    std::fs::write(
        &options,
        format!(
            "# the profiler's options, one per line\n--collect-interval 1s\n\
             --targets pid=pid:{}\n--targets comm=comm:^spinbycomm$\n--output {}\n",
            by_pid.0.id(),
            output.display()
        ),
    )
    .unwrap();
    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["bpftrace".into()];
    opts.state_dir = Some(tmp.path().join("state"));
    opts.bpftrace_profile = Some(options);
    let p = PrivatePmcd::start_empty();
    let mut io = install_options(
        &p,
        "bpftrace",
        pmda_bpftrace::DOMAIN,
        vec!["bpftrace".into()],
    );
    io.agent_args = opts.args_for("bpftrace");
    pmcd::install(&io).unwrap_or_else(|e| panic!("install: {e}\n{}", p.log()));

    let names = [
        "bpftrace.profiler.running",
        "bpftrace.profiler.intervals",
        "bpftrace.profiler.samples",
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let o = p.run(p.tool("pminfo").arg("-f").args(names));
        let text = stdout(&o);
        let samples = values(&text, "bpftrace.profiler.samples");
        let both = ["pid", "comm"]
            .iter()
            .all(|t| samples.iter().any(|(n, v)| n == t && *v > 0.0));
        let intervals = values(&text, "bpftrace.profiler.intervals");
        if (both && intervals.first().is_some_and(|(_, v)| *v >= 2.0)) || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(
        values(&text, "bpftrace.profiler.running"),
        [(String::new(), 1.0)],
        "{text}\n{}",
        p.log()
    );
    let samples = values(&text, "bpftrace.profiler.samples");
    for target in ["pid", "comm"] {
        assert!(
            samples.iter().any(|(n, v)| n == target && *v > 0.0),
            "no samples for {target}: {text}\n{}",
            p.log()
        );
    }
    // Its pprof files: gzip, one per interval per target group.
    let files: Vec<PathBuf> = std::fs::read_dir(&output)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let gz: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.to_string_lossy().ends_with(".pb.gz"))
        .collect();
    assert!(gz.len() >= 2, "{files:?}");
    for f in &gz {
        let bytes = std::fs::read(f).unwrap();
        assert!(
            bytes.starts_with(&[0x1f, 0x8b]),
            "{} is not gzip",
            f.display()
        );
    }
    assert!(
        gz.iter().any(|f| f.to_string_lossy().contains("comm")),
        "no file for the comm target: {gz:?}"
    );
}
