//! The Rust half of `scripts/proc-bench.sh` (which drives it; see
//! `pmda-proc/BENCHMARKS.md`):
//!
//! - `proc_bench spawn N`: forks N sleeping processes named
//!   `procbench-idle` (each dies with this process: `PR_SET_PDEATHSIG`),
//!   prints `ready` and their pids on one line, waits for its standard
//!   input to close, then kills and reaps them;
//! - `proc_bench filecost`: what the kernel charges for one small
//!   per-process file, read every way an agent can: for every process,
//!   `stat` opened (relative to a held `/proc` handle), read to its end
//!   (two reads), closed; the same with one read (this agent's way, see
//!   `procfs::Shape::Record`); read again with `pread` from a
//!   descriptor held open between rounds; and the utime+rss floor:
//!   `stat` opened, read once, closed, then `statm` the same, the least
//!   file work of any agent that answers exact `proc.psinfo.utime` and
//!   `proc.memory.rss` for every process. Prints one JSON object: the
//!   processes, and the CPU microseconds per process of each way (median
//!   of 5 passes);
//! - `proc_bench inproc SECONDS NAMES [PIDS]`: the agent in process (a
//!   `pcp_core::Host`, as root), one warm-up fetch of every metric below
//!   the comma-separated NAMES (restricted to the comma-separated PIDS
//!   when given, as a client's profile does), then timed fetches for
//!   about SECONDS (at least 3, at most 200); prints one JSON object: the
//!   metrics, the values of the warm-up fetch and the fewest of any
//!   timed fetch (a fetch that timed out has none), each fetch's seconds
//!   and the CPU seconds (user and system, every thread) per fetch.

use std::io::Read;
use std::time::Instant;

use pcp_core::{ClientContext, Host, InDom, Profile};
use pmda_proc::{proc_pmda, ProcConfig};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("spawn") => args.get(1).and_then(|n| n.parse().ok()).map(spawn),
        Some("filecost") => Some(filecost()),
        Some("inproc") => args.get(1).and_then(|n| n.parse().ok()).map(|secs| {
            inproc(
                secs,
                args.get(2).map_or("proc.psinfo", String::as_str),
                args.get(3).map(String::as_str),
            )
        }),
        _ => None,
    };
    match result {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            eprintln!("proc_bench: {e}");
            std::process::exit(1);
        }
        None => {
            eprintln!(
                "usage: proc_bench spawn N | proc_bench filecost | proc_bench inproc SECONDS NAMES [PIDS]"
            );
            std::process::exit(2);
        }
    }
}

/// Forks `n` idle children, reports them, and kills them when standard
/// input closes.
fn spawn(n: usize) -> Result<(), String> {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    let mut pids = Vec::with_capacity(n);
    for _ in 0..n {
        // SAFETY: this process is single-threaded here; the child only
        // makes async-signal-safe calls (prctl, getppid, pause, _exit).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            kill_all(&pids);
            return Err(format!(
                "fork after {} children: {}",
                pids.len(),
                std::io::Error::last_os_error()
            ));
        }
        if pid == 0 {
            // SAFETY: see above.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if libc::getppid() != parent {
                    libc::_exit(0);
                }
                libc::prctl(libc::PR_SET_NAME, c"procbench-idle".as_ptr());
                loop {
                    libc::pause();
                }
            }
        }
        pids.push(pid);
    }
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    println!("ready {}", list.join(" "));
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    kill_all(&pids);
    Ok(())
}

fn kill_all(pids: &[i32]) {
    for &p in pids {
        // SAFETY: signalling and reaping our own children.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    for &p in pids {
        // SAFETY: as above.
        unsafe { libc::waitpid(p, std::ptr::null_mut(), 0) };
    }
}

/// Times in-process fetches of every metric below `names` for about
/// `seconds`.
fn inproc(seconds: f64, names: &str, pids: Option<&str>) -> Result<(), String> {
    let agent = proc_pmda(ProcConfig::default()).map_err(|e| e.to_string())?;
    // pmcd's deadline (5 s) would cut off a full fetch of 10,000
    // processes on a loaded machine; the script gives pmcd 60 s too.
    let mut host = Host::new()
        .with_client(ClientContext::user(0, 0))
        .with_timeout(std::time::Duration::from_secs(60));
    host.load(Box::new(agent)).map_err(|e| e.to_string())?;
    let mut pmids = Vec::new();
    for n in names.split(',').filter(|n| !n.is_empty()) {
        let found = host.traverse(n).map_err(|e| format!("{n}: {e}"))?;
        pmids.extend(found.into_iter().map(|(_, p)| p));
    }
    let profile = match pids {
        Some(list) => {
            let indom = InDom::from_parts(pmda_proc::DOMAIN, pmda_proc::agent::PROC_INDOM);
            let ids: Vec<u32> = list.split(',').filter_map(|p| p.parse().ok()).collect();
            Profile::only(indom, ids)
        }
        None => Profile::all(),
    };
    let count = |host: &Host| {
        let r = host.fetch_with(&pmids, &profile);
        r.values
            .iter()
            .map(|(_, v)| v.as_ref().map_or(0, |v| v.len()))
            .sum::<usize>()
    };
    let values = count(&host);
    let mut secs = Vec::new();
    let mut fewest = values;
    let cpu_before = cpu_seconds();
    let start = Instant::now();
    while secs.len() < 3 || (secs.len() < 200 && start.elapsed().as_secs_f64() < seconds) {
        let t = Instant::now();
        let r = host.fetch_with(&pmids, &profile);
        secs.push(t.elapsed().as_secs_f64());
        let got: usize = r
            .values
            .iter()
            .map(|(_, v)| v.as_ref().map_or(0, |v| v.len()))
            .sum();
        fewest = fewest.min(got);
    }
    let cpu = (cpu_seconds() - cpu_before) / secs.len() as f64;
    let list: Vec<String> = secs.iter().map(|s| format!("{s:.6}")).collect();
    println!(
        "{{\"metrics\": {}, \"values\": {values}, \"fewest\": {fewest}, \"cpu\": {cpu:.6}, \"secs\": [{}]}}",
        pmids.len(),
        list.join(", ")
    );
    Ok(())
}

/// The CPU cost of reading `stat` of every process, three ways, and of
/// the utime+rss floor (`stat` then `statm`, each opened, read once,
/// closed).
fn filecost() -> Result<(), String> {
    use std::ffi::CString;
    // SAFETY: a valid path; the descriptor lives to the end of the process.
    let proc_fd = unsafe {
        libc::open(
            c"/proc".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if proc_fd < 0 {
        return Err(format!("/proc: {}", std::io::Error::last_os_error()));
    }
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    let paths: Vec<CString> = pids
        .iter()
        .map(|p| CString::new(format!("{p}/stat")).expect("no NUL"))
        .collect();
    let statm_paths: Vec<CString> = pids
        .iter()
        .map(|p| CString::new(format!("{p}/statm")).expect("no NUL"))
        .collect();
    // SAFETY (all blocks below): reading into our buffer, descriptors
    // opened here and closed here.
    let held: Vec<i32> = paths
        .iter()
        .map(|p| unsafe { libc::openat(proc_fd, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })
        .collect();
    let mut buf = vec![0u8; 4096];
    let ptr = buf.as_mut_ptr();
    let len = buf.len();
    let read = |fd: i32| unsafe { libc::read(fd, ptr.cast(), len) };
    let open_read_close = |p: &CString| {
        let fd = unsafe { libc::openat(proc_fd, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd >= 0 {
            read(fd);
            unsafe { libc::close(fd) };
        }
    };
    let mut ways: [Vec<f64>; 4] = Default::default();
    for _ in 0..5 {
        let t = cpu_seconds();
        for p in &paths {
            let fd = unsafe { libc::openat(proc_fd, p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd >= 0 {
                while read(fd) > 0 {}
                unsafe { libc::close(fd) };
            }
        }
        ways[0].push(cpu_seconds() - t);
        let t = cpu_seconds();
        paths.iter().for_each(open_read_close);
        ways[1].push(cpu_seconds() - t);
        let t = cpu_seconds();
        for &fd in held.iter().filter(|&&fd| fd >= 0) {
            unsafe { libc::pread(fd, ptr.cast(), len, 0) };
        }
        ways[2].push(cpu_seconds() - t);
        let t = cpu_seconds();
        for (stat, statm) in paths.iter().zip(&statm_paths) {
            open_read_close(stat);
            open_read_close(statm);
        }
        ways[3].push(cpu_seconds() - t);
    }
    for fd in held.into_iter().filter(|&fd| fd >= 0) {
        unsafe { libc::close(fd) };
    }
    let per = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2] / pids.len().max(1) as f64 * 1e6
    };
    let [a, b, c, d] = &mut ways;
    println!(
        "{{\"processes\": {}, \"open_read_to_end_close\": {:.3}, \"open_read_close\": {:.3}, \"held_pread\": {:.3}, \"stat_statm_floor\": {:.3}}}",
        pids.len(),
        per(a),
        per(b),
        per(c),
        per(d)
    );
    Ok(())
}

/// User and system time of this process (every thread), in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(r.ru_utime) + t(r.ru_stime)
}
