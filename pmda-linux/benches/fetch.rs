//! Benchmarks of a full fetch (every metric of the agent):
//!
//! 1. live, against a raw open/read/close of the same /proc and /sys
//!    files (and the same statfs calls) in the same run;
//! 2. on generated fixture trees with growing numbers of disks and
//!    network interfaces (up to 500 disks and 200 interfaces), to show
//!    the cost grows linearly.
//!
//! Run: `cargo bench -p pmda-linux --bench fetch` (`BENCH_LIVE_ONLY=1`:
//! the live part only).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pcp_core::{ClientContext, FetchRequest, Pmda, Pmid, Profile};
use pmda_linux::{LinuxConfig, LinuxPmda};

fn pmids(a: &LinuxPmda) -> Vec<Pmid> {
    a.namespace()
        .traverse("")
        .unwrap_or_default()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

fn fetch_all(a: &mut LinuxPmda, p: &[Pmid]) -> usize {
    let profile = Profile::all();
    let client = ClientContext::local();
    let r = a.fetch(&FetchRequest {
        pmids: p,
        profile: &profile,
        client: &client,
    });
    r.iter().filter(|x| x.is_ok()).count()
}

/// The files a full fetch reads under `root`, in the agent's terms.
fn files_read(root: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut files: Vec<PathBuf> = [
        "proc/stat",
        "proc/meminfo",
        "proc/vmstat",
        "proc/loadavg",
        "proc/diskstats",
        "proc/partitions",
        "proc/net/dev",
        "proc/self/mounts",
        "proc/net/sockstat",
        "proc/net/sockstat6",
        "proc/net/snmp",
        "proc/net/netstat",
        "proc/net/snmp6",
        "proc/cpuinfo",
        "proc/uptime",
        "proc/pressure/cpu",
        "proc/pressure/memory",
        "proc/pressure/io",
        "proc/pressure/irq",
        "proc/sys/fs/file-nr",
        "proc/sys/fs/inode-state",
        "proc/sys/fs/dentry-state",
        "proc/sys/fs/aio-nr",
        "proc/sys/fs/aio-max-nr",
        "proc/sys/kernel/random/entropy_avail",
        "proc/sys/kernel/random/poolsize",
        "proc/sys/kernel/pid_max",
        "proc/sys/kernel/pty/nr",
        "proc/sys/kernel/osrelease",
        "proc/sys/kernel/version",
        "proc/sys/kernel/ostype",
        "proc/sys/kernel/hostname",
        "proc/sys/kernel/arch",
        "etc/debian_version",
        "proc/interrupts",
        "proc/softirqs",
        "proc/net/softnet_stat",
        "proc/locks",
        "proc/net/tcp",
        "proc/net/tcp6",
        "proc/net/udp",
        "proc/net/udp6",
        "proc/net/if_inet6",
        "proc/net/rpc/nfs",
        "proc/net/rpc/nfsd",
        "proc/fs/nfsd/pool_threads",
        "proc/tty/driver/serial",
        "var/run/utmp",
        "proc/buddyinfo",
        "proc/zoneinfo",
        "proc/slabinfo",
        "proc/swaps",
        "proc/net/unix",
        "proc/net/raw",
        "proc/net/raw6",
        "proc/sysvipc/shm",
        "proc/sysvipc/msg",
        "proc/sysvipc/sem",
        "proc/sys/kernel/shmmax",
        "proc/sys/kernel/shmall",
        "proc/sys/kernel/shmmni",
        "proc/sys/kernel/msgmax",
        "proc/sys/kernel/msgmnb",
        "proc/sys/kernel/msgmni",
        "proc/sys/kernel/sem",
        "proc/scsi/scsi",
        "sys/kernel/uevent_seqnum",
        "sys/kernel/mm/ksm/full_scans",
        "sys/kernel/mm/ksm/merge_across_nodes",
        "sys/kernel/mm/ksm/pages_shared",
        "sys/kernel/mm/ksm/pages_sharing",
        "sys/kernel/mm/ksm/pages_to_scan",
        "sys/kernel/mm/ksm/pages_unshared",
        "sys/kernel/mm/ksm/pages_volatile",
        "sys/kernel/mm/ksm/run",
        "sys/kernel/mm/ksm/sleep_millisecs",
        "sys/kernel/debug/extfrag/unusable_index",
        "var/lib/pcp/pmdas/linux/bandwidth.conf",
    ]
    .iter()
    .map(|f| root.join(f))
    .collect();
    if let Ok(rd) = std::fs::read_dir(root.join("sys/devices/system/node")) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with("node") {
                for f in ["cpulist", "meminfo", "numastat", "online"] {
                    files.push(e.path().join(f));
                }
            }
        }
    }
    // Per CPU: online state, thermal throttling, frequency scaling.
    let stat = std::fs::read_to_string(root.join("proc/stat")).unwrap_or_default();
    for l in stat.lines() {
        let Some(n) = l
            .split_whitespace()
            .next()
            .and_then(|c| c.strip_prefix("cpu"))
        else {
            continue;
        };
        if n.is_empty() {
            continue;
        }
        let cpu = root.join(format!("sys/devices/system/cpu/cpu{n}"));
        for f in [
            "online",
            "thermal_throttle/core_throttle_count",
            "thermal_throttle/core_throttle_total_time_ms",
            "thermal_throttle/package_throttle_count",
            "thermal_throttle/package_throttle_total_time_ms",
            "cpufreq/stats/time_in_state",
            "cpufreq/scaling_cur_freq",
            "cpufreq/cpuinfo_max_freq",
            "cpufreq/cpuinfo_min_freq",
        ] {
            files.push(cpu.join(f));
        }
    }
    let netdev = std::fs::read_to_string(root.join("proc/net/dev")).unwrap_or_default();
    for l in netdev.lines().skip(2) {
        if let Some((name, _)) = l.split_once(':') {
            for a in [
                "mtu",
                "speed",
                "duplex",
                "flags",
                "operstate",
                "type",
                "address",
            ] {
                files.push(root.join("sys/class/net").join(name.trim()).join(a));
            }
        }
    }
    let ds = std::fs::read_to_string(root.join("proc/diskstats")).unwrap_or_default();
    for l in ds.lines() {
        if let Some(name) = l.split_whitespace().nth(2) {
            if name.starts_with("vd") || name.starts_with("sd") {
                files.push(root.join(format!("sys/block/{name}/queue/scheduler")));
                files.push(root.join(format!("sys/block/{name}/device/wwid")));
            }
            if name.starts_with("zram") {
                for f in ["mm_stat", "io_stat", "bd_stat", "disksize"] {
                    files.push(root.join(format!("sys/block/{name}/{f}")));
                }
            }
        }
    }
    let mounts = std::fs::read_to_string(root.join("proc/self/mounts")).unwrap_or_default();
    let dirs = mounts
        .lines()
        .filter(|l| l.starts_with("/dev") || l.split_whitespace().nth(2) == Some("tmpfs"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(PathBuf::from)
        .collect();
    (files, dirs)
}

fn raw_read(files: &[PathBuf], dirs: &[PathBuf], buf: &mut Vec<u8>) -> usize {
    let mut n = 0;
    for f in files {
        if let Ok(mut fh) = std::fs::File::open(f) {
            buf.clear();
            n += fh.read_to_end(buf).unwrap_or(0);
        }
    }
    for d in dirs {
        let c = std::ffi::CString::new(d.to_string_lossy().as_bytes()).unwrap();
        // SAFETY: valid path and a zeroed buffer statvfs fills in.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        n += unsafe { libc::statvfs(c.as_ptr(), &mut s) } as usize;
    }
    n
}

/// The live interface list the agent asks for IPv4 addresses.
fn ifaddrs_count() -> usize {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills head; freed right after counting.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return 0;
    }
    let mut n = 0;
    let mut p = head;
    while !p.is_null() {
        n += 1;
        // SAFETY: p is a node of the list.
        p = unsafe { (*p).ifa_next };
    }
    // SAFETY: head came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    n
}

fn time<F: FnMut() -> usize>(mut f: F, min: Duration) -> (Duration, usize) {
    for _ in 0..5 {
        std::hint::black_box(f());
    }
    let start = Instant::now();
    let mut iters = 0;
    while start.elapsed() < min || iters < 20 {
        std::hint::black_box(f());
        iters += 1;
    }
    (start.elapsed() / iters as u32, iters)
}

/// Interleaved measurement (A B A B ...) so both see the same machine.
fn compare(
    a: &mut dyn FnMut() -> usize,
    b: &mut dyn FnMut() -> usize,
    rounds: usize,
) -> (Duration, Duration) {
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        ta += time(&mut *a, Duration::from_millis(200)).0;
        tb += time(&mut *b, Duration::from_millis(200)).0;
    }
    (ta / rounds as u32, tb / rounds as u32)
}

fn disk_name(i: usize) -> String {
    // sda..sdz, sdaa..: names with no trailing digit, as disks have.
    let mut s = String::new();
    let mut n = i;
    loop {
        s.insert(0, (b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
        n -= 1;
    }
    format!("sd{s}")
}

/// A fixture tree like the captured one, with `disks` disks and `ifs`
/// network interfaces.
fn generated_tree(base: &Path, dest: &Path, disks: usize, ifs: usize) {
    copy_dir(base, dest);
    let mut ds = String::new();
    let mut parts = String::from("major minor  #blocks  name\n\n");
    for i in 0..disks {
        let n = disk_name(i);
        ds.push_str(&format!(
            "   8 {:7} {n} {} 120 {} 5000 4000 300 64000 7000 2 9000 12000 10 0 80 5 20 3\n",
            i * 16,
            9000 + i,
            720000 + i
        ));
        parts.push_str(&format!("   8 {:7} 488386584 {n}\n", i * 16));
        let q = dest.join(format!("sys/block/{n}/queue"));
        std::fs::create_dir_all(&q).unwrap();
        std::fs::write(q.join("scheduler"), "none [mq-deadline] kyber\n").unwrap();
    }
    std::fs::write(dest.join("proc/diskstats"), ds).unwrap();
    std::fs::write(dest.join("proc/partitions"), parts).unwrap();
    let mut nd = String::from("Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n");
    for i in 0..ifs {
        let n = format!("eth{i}");
        nd.push_str(&format!(
            "{n:>6}: {} 2247 0 0 0 0 0 0 116853 1273 0 0 0 0 0 0\n",
            84888519 + i
        ));
        let d = dest.join("sys/class/net").join(&n);
        std::fs::create_dir_all(&d).unwrap();
        for (f, v) in [
            ("mtu", "1500"),
            ("speed", "1000"),
            ("duplex", "full"),
            ("flags", "0x1003"),
            ("operstate", "up"),
            ("type", "1"),
        ] {
            std::fs::write(d.join(f), format!("{v}\n")).unwrap();
        }
    }
    std::fs::write(dest.join("proc/net/dev"), nd).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() == "block" || e.file_name() == "net" && from.ends_with("class") {
                continue;
            }
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// One result for `scripts/bench-summary.sh`: `ratio` as `ratio_text`
/// says (strings are plain ASCII, so Rust's debug quoting is JSON's).
#[allow(clippy::too_many_arguments, dead_code)]
fn summary(
    group: &str,
    what: &str,
    ours: f64,
    unit: &str,
    reference: &str,
    ref_value: f64,
    ratio: f64,
    ratio_text: &str,
    note: &str,
) {
    println!(
        "SUMMARY {{\"group\":{group:?},\"what\":{what:?},\"ours\":{ours},\"unit\":{unit:?},\"ref\":{reference:?},\"ref_value\":{ref_value},\"ratio\":{ratio},\"ratio_text\":{ratio_text:?},\"note\":{note:?}}}"
    );
}

fn main() {
    let root = PathBuf::from("/");
    let mut agent = pmda_linux::new(LinuxConfig {
        root: root.clone(),
        ..Default::default()
    })
    .expect("agent");
    let p = pmids(&agent);
    let (files, dirs) = files_read(&root);
    let mut buf = Vec::with_capacity(1 << 16);
    let (t_agent, t_raw) = compare(
        &mut || fetch_all(&mut agent, &p),
        &mut || raw_read(&files, &dirs, &mut buf) + ifaddrs_count(),
        5,
    );
    println!("live full fetch: {} metrics", p.len());
    println!("  agent fetch      {:>9.1} us", t_agent.as_secs_f64() * 1e6);
    println!(
        "  raw read         {:>9.1} us  ({} files, {} statvfs)",
        t_raw.as_secs_f64() * 1e6,
        files.len(),
        dirs.len()
    );
    println!(
        "  ratio            {:>9.2}x",
        t_agent.as_secs_f64() / t_raw.as_secs_f64()
    );
    summary(
        "linux-full",
        &format!("linux agent: full fetch of every metric ({})", p.len()),
        t_agent.as_secs_f64() * 1e6,
        "us",
        &format!(
            "raw open/read/close of the same {} /proc and /sys files",
            files.len()
        ),
        t_raw.as_secs_f64() * 1e6,
        t_agent.as_secs_f64() / t_raw.as_secs_f64(),
        "x the raw reads' time (goal < 1.5x)",
        "",
    );

    // tools/bench_before_after.sh reads the live figures only.
    if std::env::var_os("BENCH_LIVE_ONLY").is_some() {
        return;
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vm");
    println!("\ngenerated trees (fixture root, statfs from file):");
    println!("  disks  ifaces   agent us   raw us   ratio   agent us per (disk+iface)");
    for (disks, ifs) in [(50, 20), (125, 50), (250, 100), (500, 200)] {
        let dir = tempfile::tempdir().unwrap();
        generated_tree(&base, dir.path(), disks, ifs);
        let mut a = pmda_linux::new(LinuxConfig {
            root: dir.path().to_path_buf(),
            ..Default::default()
        })
        .unwrap();
        let p = pmids(&a);
        let (files, _) = files_read(dir.path());
        let mut buf = Vec::new();
        let (ta, tr) = compare(
            &mut || fetch_all(&mut a, &p),
            &mut || raw_read(&files, &[], &mut buf),
            3,
        );
        if disks == 500 {
            summary(
                "linux-devices",
                "linux agent: 500 disks + 200 interfaces (generated tree)",
                ta.as_secs_f64() * 1e6,
                "us",
                "raw reads of the same files",
                tr.as_secs_f64() * 1e6,
                ta.as_secs_f64() / tr.as_secs_f64(),
                "x the raw reads' time",
                &format!(
                    "{:.1} us per device",
                    ta.as_secs_f64() * 1e6 / (disks + ifs) as f64
                ),
            );
        }
        println!(
            "  {disks:>5}  {ifs:>6}  {:>9.1}  {:>7.1}  {:>6.2}   {:>6.2}",
            ta.as_secs_f64() * 1e6,
            tr.as_secs_f64() * 1e6,
            ta.as_secs_f64() / tr.as_secs_f64(),
            ta.as_secs_f64() * 1e6 / (disks + ifs) as f64
        );
    }
}
