//! The profiler's own cost on a busy machine: CPU per second and peak
//! memory of `pcp-agent profile` (97 Hz, 15 s intervals, files written)
//! and of the bpftrace it runs, against bpftrace alone running the same
//! program (its output thrown away) and against nothing, each for `SECS`
//! seconds; `RUNS` rounds with the modes interleaved; median and min-max.
//!
//! The machine is kept busy by a workload started here: two processes
//! spinning in a C function and a shell compressing a file over and over
//! (a new process every few milliseconds, so the profiler keeps meeting
//! new pids and their shared libraries). The workload's own CPU per
//! second shows what each mode takes from it.
//!
//! Each mode is read `SECS` after it started (bpftrace's compilation
//! included), before it is stopped: utime + stime of the process itself
//! (not of children it reaped) and its VmHWM.
//!
//! `cargo bench -p pcp-agent --bench profile_overhead [-- SECS RUNS]`
//! (root, bpftrace, gcc; defaults 60 s and 3 runs).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcp_profile::ProfilerConfig;

fn ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// The fields of `/proc/PID/stat` after the command name (state is 0).
fn stat_fields(pid: u32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(')')
        .map_or("", |(_, a)| a)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// CPU seconds of `pid`: utime + stime, plus cutime + cstime (children
/// it waited for) when `with_children`.
fn cpu_secs(pid: u32, with_children: bool) -> f64 {
    let f: Vec<f64> = stat_fields(pid)
        .iter()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 15 {
        return 0.0;
    }
    let own = f[11] + f[12];
    let children = if with_children { f[13] + f[14] } else { 0.0 };
    (own + children) / ticks()
}

/// A `/proc/PID/status` field in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// VmHWM (peak RSS) of `pid` in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM")
}

/// The children of `parent` whose command is `comm`.
fn children_named(parent: u32, comm: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = tail.split_whitespace().nth(1).unwrap_or("");
        if ppid == parent.to_string() && head.ends_with(&format!("({comm}")) {
            out.push(pid);
        }
    }
    out
}

/// Stops `child` with SIGINT (as a user would) and waits for it.
fn interrupt(mut child: Child) {
    // SAFETY: kill has no memory effects; the child is not yet reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let _ = child.wait();
}

/// The processes keeping the machine busy, killed on drop.
struct Workload(Vec<Child>);

impl Workload {
    fn start(dir: &Path) -> Workload {
        let src = dir.join("spin.c");
        std::fs::write(
            &src,
            "__attribute__((noinline)) unsigned long spin(unsigned long n){volatile unsigned long x=0;\
             for(unsigned long i=0;i<n;i++)x+=i*i;return x;}\
             int main(void){unsigned long t=0;for(;;)t+=spin(10000000UL);return (int)t;}",
        )
        .unwrap();
        let bin = dir.join("spin");
        let ok = Command::new("gcc")
            .args(["-O1", "-fno-omit-frame-pointer", "-o"])
            .arg(&bin)
            .arg(&src)
            .status()
            .expect("gcc runs")
            .success();
        assert!(ok, "gcc failed");
        let blob = dir.join("blob");
        std::fs::write(&blob, vec![7u8; 4 << 20]).unwrap();
        let gzip_loop = format!("while :; do gzip -c {} > /dev/null; done", blob.display());
        // Each in its own process group, killed whole (the shell's gzip
        // included) before the directory goes.
        let spawn = |c: &mut Command| c.process_group(0).spawn().unwrap();
        Workload(vec![
            spawn(&mut Command::new(&bin)),
            spawn(&mut Command::new(&bin)),
            spawn(Command::new("sh").arg("-c").arg(gzip_loop)),
        ])
    }

    /// CPU seconds so far, the shell's reaped gzips included.
    fn cpu(&self) -> f64 {
        self.0.iter().map(|c| cpu_secs(c.id(), true)).sum()
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        for c in &mut self.0 {
            // SAFETY: kill has no memory effects; the group is ours.
            unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) };
            let _ = c.wait();
        }
    }
}

/// One mode's figures over one run.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    agent_cpu: f64,
    bpftrace_cpu: f64,
    workload_cpu: f64,
    agent_rss_kib: u64,
    /// The agent's anonymous RSS when read (its heap: what the caches
    /// hold); the rest of its RSS is file pages (its binary, the ELF
    /// files it reads symbols from), shared with the page cache.
    agent_anon_kib: u64,
    bpftrace_rss_kib: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Nothing,
    BpftraceAlone,
    Agent,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Nothing => "nothing",
            Mode::BpftraceAlone => "bpftrace alone (same program)",
            Mode::Agent => "`pcp-agent profile`",
        }
    }
}

fn measure(mode: Mode, secs: u64, work: &Workload, out: &Path) -> Sample {
    let mut s = Sample::default();
    let w0 = work.cpu();
    let t0 = Instant::now();
    let wait = || std::thread::sleep(Duration::from_secs(secs).saturating_sub(t0.elapsed()));
    let read_workload = |s: &mut Sample| {
        let el = t0.elapsed().as_secs_f64();
        s.workload_cpu = (work.cpu() - w0) / el;
        el
    };
    match mode {
        Mode::Nothing => {
            wait();
            read_workload(&mut s);
        }
        Mode::BpftraceAlone => {
            let config = ProfilerConfig::default();
            let mut cmd = Command::new("bpftrace");
            cmd.args(["-f", "json", "-e", &pcp_profile::script::program(&config)])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in pcp_profile::script::environment(&config) {
                cmd.env(k, v);
            }
            let child = cmd.spawn().expect("bpftrace starts");
            wait();
            let el = read_workload(&mut s);
            s.bpftrace_cpu = cpu_secs(child.id(), false) / el;
            s.bpftrace_rss_kib = peak_rss_kib(child.id());
            interrupt(child);
        }
        Mode::Agent => {
            let child = Command::new(env!("CARGO_BIN_EXE_pcp-agent"))
                .args([
                    "profile",
                    "--sample-rate",
                    "97",
                    "--collect-interval",
                    "15s",
                ])
                .arg("--output")
                .arg(out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("pcp-agent profile starts");
            wait();
            let el = read_workload(&mut s);
            let bpftrace = children_named(child.id(), "bpftrace");
            assert_eq!(bpftrace.len(), 1, "pcp-agent profile runs one bpftrace");
            s.agent_cpu = cpu_secs(child.id(), false) / el;
            s.agent_rss_kib = peak_rss_kib(child.id());
            s.agent_anon_kib = status_kib(child.id(), "RssAnon");
            s.bpftrace_cpu = cpu_secs(bpftrace[0], false) / el;
            s.bpftrace_rss_kib = peak_rss_kib(bpftrace[0]);
            interrupt(child);
            let written = std::fs::read_dir(out).map_or(0, |d| d.count());
            assert!(written > 0, "pcp-agent profile wrote no profile");
        }
    }
    s
}

/// `median (min–max)` of `v`.
fn stats(mut v: Vec<f64>, decimals: usize) -> String {
    v.sort_by(f64::total_cmp);
    let d = decimals;
    format!(
        "{:.d$} ({:.d$}–{:.d$})",
        v[v.len() / 2],
        v[0],
        v[v.len() - 1]
    )
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let secs: u64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(60);
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3);
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("profile_overhead: needs root (bpftrace); skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = Workload::start(dir.path());
    std::thread::sleep(Duration::from_secs(2));
    let modes = [Mode::Nothing, Mode::BpftraceAlone, Mode::Agent];
    let mut results: Vec<Vec<Sample>> = vec![Vec::new(); modes.len()];
    for run in 0..runs {
        for (i, &m) in modes.iter().enumerate() {
            let out = dir.path().join(format!("out-{run}-{i}"));
            let s = measure(m, secs, &work, &out);
            eprintln!("run {run} {}: {s:?}", m.label());
            results[i].push(s);
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "`cargo bench -p pcp-agent --bench profile_overhead -- {secs} {runs}`: {secs} s per mode, \
         {runs} runs interleaved, 97 Hz, 15 s intervals, {} CPUs, load average at the end {load}; \
         median (min–max)\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "| mode | agent CPU s/s | agent peak RSS MiB | agent anonymous RSS MiB | bpftrace CPU s/s | bpftrace peak RSS MiB | workload CPU s/s |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, m) in modes.iter().enumerate() {
        let col = |f: &dyn Fn(&Sample) -> f64, d| stats(results[i].iter().map(f).collect(), d);
        let dash = |cell: String, present: bool| if present { cell } else { "—".into() };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            m.label(),
            dash(col(&|s| s.agent_cpu, 4), *m == Mode::Agent),
            dash(
                col(&|s| s.agent_rss_kib as f64 / 1024.0, 1),
                *m == Mode::Agent
            ),
            dash(
                col(&|s| s.agent_anon_kib as f64 / 1024.0, 1),
                *m == Mode::Agent
            ),
            dash(col(&|s| s.bpftrace_cpu, 4), *m != Mode::Nothing),
            dash(
                col(&|s| s.bpftrace_rss_kib as f64 / 1024.0, 1),
                *m != Mode::Nothing
            ),
            col(&|s| s.workload_cpu, 3)
        );
    }
    let agent = &results[2];
    let alone = &results[1];
    let ratio: Vec<f64> = agent
        .iter()
        .zip(alone)
        .map(|(a, b)| (a.agent_cpu + a.bpftrace_cpu) / b.bpftrace_cpu.max(1e-9))
        .collect();
    println!(
        "\nagent + its bpftrace, CPU against bpftrace alone, per run: {}",
        stats(ratio.clone(), 2)
    );
    // One line for scripts/bench-summary.sh (lists: one value per run).
    let ms = |v: Vec<f64>| v.into_iter().map(|x| x * 1e3).collect::<Vec<f64>>();
    let heap: Vec<f64> = agent
        .iter()
        .map(|s| s.agent_anon_kib as f64 / 1024.0)
        .collect();
    println!(
        "SUMMARY {}",
        serde_json::json!({
            "group": "profile-overhead",
            "what": "profiler at 97 Hz, whole machine, busy 2 cores (`pcp-agent profile`): agent + its bpftrace",
            "ours": ms(agent.iter().map(|s| s.agent_cpu + s.bpftrace_cpu).collect()),
            "unit": "ms CPU/s",
            "ref": "bpftrace alone, same program",
            "ref_value": ms(alone.iter().map(|s| s.bpftrace_cpu).collect()),
            "ratio": ratio,
            "ratio_text": "x bpftrace alone's CPU",
            "note": format!("agent heap (anonymous RSS) {} MiB", stats(heap, 1)),
        })
    );
}
