//! One fetch over a fleet of slow endpoints, through pmcd: ours (`pcp-agent
//! pmda prometheus --prometheus-root openmetrics`) against PCP's
//! pmdaopenmetrics, each under its own private pmcd 6.0.3 with the same
//! config.d, over the test bed of `tests/fleet_support` (endpoints in a
//! network namespace behind a delay line): 100, 500 and 1,000 endpoints at
//! 50 ms and at 200 ms round trip, and at 50 ms with 5% of them hanging
//! (they answered once, so both agents know their names, then stopped
//! answering); for that case ours also with `--prometheus-deadline 0.5`.
//! Each agent gets a fresh bed. Where pmdaopenmetrics fails (it never
//! gets its names), the larger fleets of the same kind are not tried again.
//! Per agent and case: the wall time of one pmFetch of every endpoint's
//! `endpoint` metric (PCP's Python PMAPI, three fetches after a first one
//! that creates the names, once the agent is quiet again), the values it
//! returned, the agent's CPU per fetch (schedstat of its threads) and its
//! resident memory.
//!
//! Run (root, PCP 6 with python3-pcp): `cargo bench -p pcp-agent --bench
//! fleet` (it re-runs itself under `unshare --net`); `BENCH_FLEET_SIZES`
//! (default `100,500,1000`) and `BENCH_FLEET_FETCHES` (default 3) change
//! the cases. Prints a Markdown table and `SUMMARY {json}` lines for
//! `scripts/bench-summary.sh`.

#[path = "../tests/fleet_support/mod.rs"]
mod fleet_support;
#[path = "../tests/pmcd_support/mod.rs"]
mod pmcd_support;

use std::process::Command;
use std::time::Duration;

use fleet_support::{Bed, Behaviour, Endpoint, Link, NETNS_VAR};

const PYTHON: &str = "/usr/bin/python3";

/// The client: waits until (most of) the endpoint names exist, then
/// fetches them all `reps` times; reads the agent's CPU (schedstat of its
/// threads) around the timed fetches and its memory after.
const CLIENT: &str = r#"
import json, os, sys, time
from pcp import pmapi
import cpmapi as c
host, want, reps, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def cpu_ns():
    t = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            t += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except (OSError, ValueError):
            pass
    return t
def status(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
out = dict(names=0, walls=[], values=[], error=None)
try:
    ctx = pmapi.pmContext(c.PM_CONTEXT_HOST, host)
    t0 = time.time()
    names = []
    while time.time() < t0 + 120:
        names = []
        try:
            ctx.pmTraversePMNS("openmetrics", lambda n: names.append(n))
        except pmapi.pmErr:
            pass
        names = [n for n in names if n.endswith(".endpoint")]
        if len(names) >= want:
            break
        # Names appear as sources are first fetched.
        if names:
            try:
                ctx.pmFreeResult(ctx.pmFetch(ctx.pmLookupName(names)))
            except pmapi.pmErr:
                pass
        time.sleep(1)
    out["names"] = len(names)
    out["names_s"] = time.time() - t0
    if not names:
        raise RuntimeError(f"no names within {time.time() - t0:.0f} s")
    ids = ctx.pmLookupName(names)
    ctx.pmFreeResult(ctx.pmFetch(ids))
    # The first documents leave work behind (new ids written to disk by
    # the agent's saver thread, a file per metric and instance domain):
    # the timed fetches start once the agent is quiet (under 5% of a core
    # over half a second, at most a minute), so they measure fetches only.
    t1 = time.time()
    while time.time() < t1 + 60:
        a = cpu_ns()
        time.sleep(0.5)
        if cpu_ns() - a < 25_000_000:
            break
    out["settle_s"] = time.time() - t1
    c0 = cpu_ns()
    for _ in range(reps):
        t = time.perf_counter()
        r = ctx.pmFetch(ids)
        out["walls"].append(time.perf_counter() - t)
        out["values"].append(sum(1 for i in range(r.contents.numpmid) if r.contents.get_numval(i) > 0))
        ctx.pmFreeResult(r)
    out["cpu_ms_per_fetch"] = (cpu_ns() - c0) / 1e6 / max(reps, 1)
    out["rss"] = status("VmRSS")
    out["hwm"] = status("VmHWM")
except Exception as e:
    out["error"] = str(e)
print(json.dumps(out))
"#;

#[derive(Debug, Clone)]
struct Case {
    n: usize,
    delay_ms: u64,
    hanging: bool,
}

impl Case {
    fn endpoints(&self) -> Vec<Endpoint> {
        (0..self.n)
            .map(|i| Endpoint {
                behaviour: if self.hanging && i % 20 == 19 {
                    Behaviour::HangAfter(1)
                } else {
                    Behaviour::Normal
                },
                link: Link::delay(self.delay_ms),
            })
            .collect()
    }

    fn label(&self) -> String {
        format!(
            "{} endpoints at {} ms{}",
            self.n,
            self.delay_ms,
            if self.hanging { ", 5% hanging" } else { "" }
        )
    }

    /// Endpoints with names (every one answers at least once).
    fn answering(&self) -> usize {
        self.n
    }
}

#[derive(Debug, Default)]
struct Measure {
    names: usize,
    walls: Vec<f64>,
    values: Vec<u64>,
    cpu_ms: f64,
    rss: u64,
    error: Option<String>,
}

/// Which agent, how set.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Ours,
    OursDeadline(f64),
    Reference,
}

impl Who {
    fn label(self) -> String {
        match self {
            Who::Ours => "pcp-agent".into(),
            Who::OursDeadline(d) => format!("pcp-agent, --prometheus-deadline {d}"),
            Who::Reference => "pmdaopenmetrics 6.0.3".into(),
        }
    }
}

fn measure(case: &Case, who: Who) -> Measure {
    let bed = Bed::start(case.endpoints());
    let ours = who != Who::Reference;
    let deadline = match who {
        Who::OursDeadline(d) => format!(" --prometheus-deadline {d}"),
        _ => String::new(),
    };
    let conf = tempfile::tempdir().unwrap();
    bed.write_config(conf.path(), "");
    let state = tempfile::tempdir().unwrap();
    let line = if ours {
        format!(
            "openmetrics\t144\tpipe\tbinary notready\t{} --state-dir {} pmda prometheus --notready --prometheus-root openmetrics --prometheus-config {}{deadline}",
            env!("CARGO_BIN_EXE_pcp-agent"),
            state.path().display(),
            conf.path().display()
        )
    } else {
        format!(
            "openmetrics\t144\tpipe\tbinary notready\t{PYTHON} /var/lib/pcp/pmdas/openmetrics/pmdaopenmetrics.python -c {}",
            conf.path().display()
        )
    };
    let pmcd = pmcd_support::PrivatePmcd::start(
        &[pmcd_support::PMCD_DSO_LINE.to_string(), line],
        &["openmetrics\t144:*:*".to_string()],
    );
    // The agent: pmcd's child running it.
    let marker = if ours {
        "pmda prometheus"
    } else {
        "pmdaopenmetrics"
    };
    let mut pid = None;
    for _ in 0..100 {
        pid = children(pmcd.pid()).into_iter().find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .map(|c| c.replace('\0', " ").contains(marker))
                .unwrap_or(false)
        });
        if pid.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(pid) = pid else {
        return Measure {
            error: Some(format!("agent did not start: {}", pmcd.log())),
            ..Measure::default()
        };
    };
    let reps: usize = std::env::var("BENCH_FLEET_FETCHES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let out = Command::new(PYTHON)
        .args(["-c", CLIENT, &pmcd.host()])
        .arg(case.answering().to_string())
        .arg(reps.to_string())
        .arg(pid.to_string())
        .output()
        .expect("python3");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(
        |_| serde_json::json!({"error": String::from_utf8_lossy(&out.stderr).to_string()}),
    );
    let mut m = Measure {
        names: v["names"].as_u64().unwrap_or(0) as usize,
        walls: v["walls"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
            .unwrap_or_default(),
        values: v["values"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
            .unwrap_or_default(),
        cpu_ms: v["cpu_ms_per_fetch"].as_f64().unwrap_or(f64::NAN),
        rss: v["rss"].as_u64().unwrap_or(0),
        error: v["error"].as_str().map(str::to_string),
    };
    let log = pmcd.log();
    if log.contains("not responding") || log.contains("timeout") || log.contains("Timeout") {
        let e = "pmcd gave up on the agent (its 5 s timeout)".to_string();
        m.error = Some(m.error.map_or(e.clone(), |x| format!("{e}; {x}")));
    }
    if m.error.is_some() {
        // What pmcd and the agent said, for the record: pmcd's log after
        // its start-up table, and the agent's own log (pmdaopenmetrics
        // writes one under pmcd's log directory).
        let mut said: Vec<String> = log
            .lines()
            .filter(|l| {
                let t = l.trim_start();
                !t.is_empty() && !t.starts_with("ok ") && !t.starts_with("Host access")
            })
            .map(str::to_string)
            .collect();
        if let Ok(rd) = std::fs::read_dir(pmcd.dir.path().join("log/pmcd")) {
            for e in rd.flatten() {
                let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                said.extend(
                    text.lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(|l| format!("{}: {l}", e.file_name().to_string_lossy())),
                );
            }
        }
        let tail = &said[said.len().saturating_sub(8)..];
        eprintln!(
            "fleet: {} {:?}: the logs end:\n{}",
            case.label(),
            who,
            tail.join("\n")
        );
    }
    m
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|x| x.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(p);
        }
    }
    out
}

fn median(v: &[f64]) -> f64 {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn show(m: &Measure, of: usize) -> String {
    if m.walls.is_empty() {
        return format!("failed: {}", m.error.as_deref().unwrap_or("no fetch"));
    }
    let ms: Vec<String> = m.walls.iter().map(|w| format!("{:.0}", w * 1e3)).collect();
    format!(
        "{:.0} ms ({}) | {} (of {of}; {} names) | {:.1} ms | {:.1} MiB{}",
        median(&m.walls) * 1e3,
        ms.join(", "),
        m.values
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        m.names,
        m.cpu_ms,
        m.rss as f64 / 1048576.0,
        m.error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if !fleet_support::available() || !std::path::Path::new(pmcd_support::PMCD).exists() {
        println!("fleet bench: needs root, /dev/net/tun, ip, unshare and PCP's pmcd; skipped");
        return;
    }
    if std::env::var_os(NETNS_VAR).is_none() {
        let exe = std::env::current_exe().unwrap();
        let status = Command::new("unshare")
            .args(["--net", "--"])
            .arg(exe)
            .args(std::env::args().skip(1))
            .env(NETNS_VAR, "1")
            .status()
            .expect("unshare");
        std::process::exit(status.code().unwrap_or(1));
    }
    let sizes: Vec<usize> = std::env::var("BENCH_FLEET_SIZES")
        .unwrap_or_else(|_| "100,500,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut cases = Vec::new();
    for (delay_ms, hanging) in [(50, false), (200, false), (50, true)] {
        for &n in &sizes {
            cases.push(Case {
                n,
                delay_ms,
                hanging,
            });
        }
    }
    println!("| case | agent | wall per fetch, median (each) | values returned (of) | agent CPU per fetch | agent RSS |");
    println!("|---|---|---|---|---|---|");
    // Where pmdaopenmetrics failed, a larger fleet of the same kind is not
    // tried again (each failure waits two minutes for names).
    let mut reference_failed: Vec<(u64, bool, usize)> = Vec::new();
    for case in &cases {
        let ours = measure(case, Who::Ours);
        let failed_before = reference_failed
            .iter()
            .find(|(d, h, n)| *d == case.delay_ms && *h == case.hanging && *n < case.n)
            .map(|(_, _, n)| *n);
        let reference = match failed_before {
            Some(n) => Measure {
                error: Some(format!("not tried (failed at {n} endpoints)")),
                ..Measure::default()
            },
            None => measure(case, Who::Reference),
        };
        if reference.walls.is_empty() && failed_before.is_none() {
            reference_failed.push((case.delay_ms, case.hanging, case.n));
        }
        let mut shown = vec![(Who::Ours, &ours), (Who::Reference, &reference)];
        let short;
        if case.hanging {
            short = measure(case, Who::OursDeadline(0.5));
            shown.insert(1, (Who::OursDeadline(0.5), &short));
            let ms: Vec<f64> = short.walls.iter().map(|w| w * 1e3).collect();
            println!(
                "SUMMARY {}",
                serde_json::json!({
                    "group": format!("fleet-50-hang-{}-deadline", case.n),
                    "what": format!("one fetch through pmcd, {}, ours with --prometheus-deadline 0.5", case.label()),
                    "ours": ms,
                    "unit": "ms wall",
                    "ref": "", "ref_value": null, "ratio": null, "ratio_text": "",
                    "note": format!("values {} of {} (the hung ones stale)", short.values.last().copied().unwrap_or(0), case.n),
                })
            );
        }
        for (who, m) in shown {
            println!(
                "| {} | {} | {} |",
                case.label(),
                who.label(),
                show(m, case.answering())
            );
        }
        let group = format!(
            "fleet-{}{}-{}",
            case.delay_ms,
            if case.hanging { "-hang" } else { "" },
            case.n
        );
        let ours_ms: Vec<f64> = ours.walls.iter().map(|w| w * 1e3).collect();
        let ref_ms: Vec<f64> = reference.walls.iter().map(|w| w * 1e3).collect();
        let ratio: Vec<f64> = ours_ms.iter().zip(&ref_ms).map(|(o, r)| r / o).collect();
        let mut note = format!(
            "values {} of {}; agent CPU/fetch {:.1} ms; RSS {:.1} MiB",
            ours.values.last().copied().unwrap_or(0),
            case.answering(),
            ours.cpu_ms,
            ours.rss as f64 / 1048576.0,
        );
        if reference.walls.is_empty() {
            let e = reference.error.as_deref().unwrap_or("no fetch");
            note += &format!(
                "; pmdaopenmetrics failed: {}",
                e.chars().take(120).collect::<String>()
            );
        } else {
            note += &format!(
                "; pmdaopenmetrics: values {} of {}, agent CPU/fetch {:.1} ms, RSS {:.1} MiB",
                reference.values.last().copied().unwrap_or(0),
                case.answering(),
                reference.cpu_ms,
                reference.rss as f64 / 1048576.0,
            );
        }
        println!(
            "SUMMARY {}",
            serde_json::json!({
                "group": group,
                "what": format!("one fetch through pmcd, {}", case.label()),
                "ours": ours_ms,
                "unit": "ms wall",
                "ref": "pmdaopenmetrics 6.0.3 (Python)",
                "ref_value": if ref_ms.is_empty() { serde_json::Value::Null } else { serde_json::json!(ref_ms) },
                "ratio": if ratio.is_empty() { serde_json::Value::Null } else { serde_json::json!(ratio) },
                "ratio_text": "x faster",
                "note": note,
            })
        );
    }
}
