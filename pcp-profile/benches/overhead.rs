//! The profiler's own cost on a busy machine: CPU per second and memory of
//! the agent (this process running [`pcp_profile::Profiler`]) and of its
//! bpftrace, at 97 Hz with 15 s intervals, against bpftrace alone running
//! the same program (output to /dev/null) and against nothing, each for
//! `SECS` seconds, `RUNS` rounds interleaved; median and min-max.
//!
//! The machine is kept busy by a workload started here: two spinning
//! processes and a shell compressing a file over and over (new processes
//! all the time, so the profiler meets new pids and shared libraries).
//! Its CPU per second shows what each mode takes from it.
//!
//! `cargo bench -p pcp-profile --bench overhead [-- SECS RUNS]` (root,
//! bpftrace; defaults 60 s and 3 runs).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pcp_profile::{Profiler, ProfilerConfig};

fn ticks() -> f64 {
    // SAFETY: sysconf has no memory effects.
    unsafe { libc::sysconf(libc::_SC_CLK_TCK) as f64 }
}

/// utime + stime of `pid` in seconds, with its waited-for children.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<f64> = after
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // Fields after the comm: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
    (f[11] + f[12] + f[13] + f[14]) / ticks()
}

/// VmHWM (peak RSS) of `pid` in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn children_named(comm: &str) -> Vec<u32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let ppid = tail.split_whitespace().nth(1).unwrap_or("");
        if ppid == me && head.ends_with(&format!("({comm}")) {
            out.push(pid);
        }
    }
    out
}

struct Workload(Vec<Child>);

impl Workload {
    fn start(dir: &std::path::Path) -> Workload {
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
            .unwrap()
            .success();
        assert!(ok, "gcc failed");
        let blob = dir.join("blob");
        std::fs::write(&blob, vec![7u8; 4 << 20]).unwrap();
        let mut c = vec![
            Command::new(&bin).spawn().unwrap(),
            Command::new(&bin).spawn().unwrap(),
        ];
        c.push(
            Command::new("sh")
                .arg("-c")
                .arg(format!("while :; do gzip -c {} > /dev/null; done", blob.display()))
                .spawn()
                .unwrap(),
        );
        Workload(c)
    }

    fn cpu(&self) -> f64 {
        self.0.iter().map(|c| cpu_secs(c.id())).sum()
    }
}

impl Drop for Workload {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    agent_cpu: f64,
    bpftrace_cpu: f64,
    workload_cpu: f64,
    agent_rss: u64,
    bpftrace_rss: u64,
}

fn measure(mode: &str, secs: u64, work: &Workload, out: &std::path::Path) -> Sample {
    let me = std::process::id();
    let config = ProfilerConfig {
        output_dir: Some(out.to_path_buf()),
        ..ProfilerConfig::default()
    };
    let w0 = work.cpu();
    let t0 = Instant::now();
    let mut s = Sample::default();
    match mode {
        "nothing" => std::thread::sleep(Duration::from_secs(secs)),
        "bpftrace" => {
            let mut cmd = Command::new("bpftrace");
            cmd.args(["-f", "json", "-e", &pcp_profile::script::program(&config)])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            for (k, v) in pcp_profile::script::environment(&config) {
                cmd.env(k, v);
            }
            let mut child = cmd.spawn().expect("bpftrace starts");
            let pid = child.id();
            let c0 = cpu_secs(pid);
            std::thread::sleep(Duration::from_secs(secs));
            s.bpftrace_cpu = cpu_secs(pid) - c0;
            s.bpftrace_rss = peak_rss_kib(pid);
            // SAFETY: kill has no memory effects; the child is not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGINT) };
            let _ = child.wait();
        }
        _ => {
            let a0 = cpu_secs(me);
            let p = Profiler::start(config).expect("the profiler starts (root, bpftrace)");
            let bt = children_named("bpftrace");
            let b0: f64 = bt.iter().map(|&p| cpu_secs(p)).sum();
            std::thread::sleep(Duration::from_secs(secs));
            s.bpftrace_cpu = bt.iter().map(|&p| cpu_secs(p)).sum::<f64>() - b0;
            s.bpftrace_rss = bt.iter().map(|&p| peak_rss_kib(p)).sum();
            s.agent_cpu = cpu_secs(me) - a0;
            s.agent_rss = peak_rss_kib(me);
            drop(p);
        }
    }
    let el = t0.elapsed().as_secs_f64();
    s.workload_cpu = (work.cpu() - w0) / el;
    s.agent_cpu /= el;
    s.bpftrace_cpu /= el;
    s
}

fn stats(v: &mut [f64]) -> String {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    format!("{:.4} ({:.4}–{:.4})", v[v.len() / 2], v[0], v[v.len() - 1])
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
        eprintln!("overhead: needs root (bpftrace); skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = Workload::start(dir.path());
    std::thread::sleep(Duration::from_secs(2));
    let modes = ["nothing", "bpftrace", "agent"];
    let mut results: Vec<Vec<Sample>> = vec![Vec::new(); modes.len()];
    for run in 0..runs {
        for (i, m) in modes.iter().enumerate() {
            let out = dir.path().join(format!("out-{run}-{m}"));
            let s = measure(m, secs, &work, &out);
            eprintln!("run {run} {m}: {s:?}");
            results[i].push(s);
        }
    }
    println!(
        "profile overhead, {secs} s per mode, {runs} runs interleaved, 97 Hz, 15 s intervals; \
         median (min–max)\n"
    );
    println!("| mode | agent CPU s/s | bpftrace CPU s/s | agent peak RSS MiB | bpftrace peak RSS MiB | workload CPU s/s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (i, m) in modes.iter().enumerate() {
        let r = &results[i];
        let col = |f: &dyn Fn(&Sample) -> f64| stats(&mut r.iter().map(f).collect::<Vec<_>>());
        println!(
            "| {m} | {} | {} | {} | {} | {} |",
            col(&|s| s.agent_cpu),
            col(&|s| s.bpftrace_cpu),
            col(&|s| s.agent_rss as f64 / 1024.0),
            col(&|s| s.bpftrace_rss as f64 / 1024.0),
            col(&|s| s.workload_cpu)
        );
    }
}
