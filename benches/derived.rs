//! Derived metrics: the cost of pmrep's `:iostat-dktx` set (PCP's iostat
//! derived metrics and the preset's own formulas) over 500 disks, per
//! fetch, against fetching the raw disk metrics it is computed from, in
//! the same run, through the same host and linux agent (on a generated
//! fixture tree of 500 disks).
//!
//! Run: `cargo bench -p pcp-agent --bench derived` (prints a Markdown
//! table; `scripts/bench-derived.sh --write` puts it into BENCHMARKS.md).
//! `DERIVED_BENCH_RUNS` sets the number of runs (default 5, at least 3).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_agent::watch::config::Config;
use pcp_agent::watch::options::KEYS;
use pcp_core::derive::{DerivedContext, LoadReport, Registry};
use pcp_core::{Host, Pmapi, Pmid};
use pmda_linux::LinuxConfig;

const DISKS: usize = 500;
const RUNS: usize = 5;

fn disk_name(i: usize) -> String {
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

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() == "block" {
                continue;
            }
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// The captured fixture tree with `disks` disks in /proc/diskstats (every
/// field, discards and flushes included) and /sys/block.
fn tree(dest: &Path, disks: usize, round: usize) {
    let mut ds = String::new();
    for i in 0..disks {
        let n = disk_name(i);
        let r = round * 7 + i;
        ds.push_str(&format!(
            "   8 {:7} {n} {} 120 {} 5000 {} 300 64000 7000 2 {} 12000 {} 0 80 {} 20 3\n",
            i * 16,
            9000 + r,
            720000 + 8 * r,
            4000 + r,
            9000 + 2 * r,
            10 + r,
            5 + r,
        ));
        if round == 0 {
            let q = dest.join(format!("sys/block/{n}/queue"));
            std::fs::create_dir_all(&q).unwrap();
            std::fs::write(q.join("scheduler"), "none [mq-deadline] kyber\n").unwrap();
        }
    }
    std::fs::write(dest.join("proc/diskstats"), ds).unwrap();
}

fn main() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("pmda-linux/tests/fixtures/vm");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    tree(dir.path(), DISKS, 0);
    let mut host = Host::new();
    host.load(Box::new(
        pmda_linux::new(LinuxConfig {
            root: dir.path().to_path_buf(),
            ..Default::default()
        })
        .expect("linux agent on the fixture tree"),
    ))
    .unwrap();

    // PCP's iostat definitions (the shipped copy: the same expressions)
    // and the preset's formulas.
    let mut registry = Registry::new();
    let mut report = LoadReport::default();
    for (name, text) in pcp_agent::derived::SHIPPED {
        registry.load_text(name, text, &mut report);
    }
    let mut config = Config::default();
    for (n, t) in pcp_agent::watch::config::SHIPPED {
        config.add(n, t).unwrap();
    }
    let set = config.metricset("iostat-dktx", KEYS).unwrap();
    let ctx = DerivedContext::new(Arc::new(registry));
    for (name, expr) in &set.formulas {
        ctx.add(&host, name, expr).unwrap();
    }
    let view = ctx.view(&host);
    let iostat: Vec<Pmid> = set
        .metrics
        .iter()
        .map(|m| {
            view.lookup(&m.name)
                .unwrap_or_else(|e| panic!("{}: {e}", m.name))
        })
        .collect();
    // The raw metrics the set is computed from: its own raw columns and
    // every operand of its derived ones.
    let mut raw: Vec<Pmid> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for m in &set.metrics {
        if let Some(d) = ctx.registry().get(&m.name) {
            d.expr.names(&mut names);
        } else if host.lookup(&m.name).is_ok() {
            names.push(m.name.clone());
        }
    }
    for (_, expr) in &set.formulas {
        pcp_core::derive::parse(expr).unwrap().names(&mut names);
    }
    for n in names {
        let p = host.lookup(&n).unwrap();
        if !raw.contains(&p) {
            raw.push(p);
        }
    }
    let derived_count = iostat.iter().filter(|p| p.domain() == 511).count();
    let values = |r: &pcp_core::FetchResult| -> usize {
        r.values
            .iter()
            .map(|(_, v)| v.as_ref().map_or(0, |l| l.len()))
            .sum()
    };
    // Two fetches so delta()/rate() have history, with counters moving.
    tree(dir.path(), DISKS, 1);
    black_box(view.fetch(&iostat));
    tree(dir.path(), DISKS, 2);
    let check = view.fetch(&iostat);
    let derived_values: usize = check
        .values
        .iter()
        .filter(|(p, _)| p.domain() == 511)
        .map(|(_, v)| v.as_ref().map_or(0, |l| l.len()))
        .sum();
    assert!(
        derived_values >= derived_count * DISKS,
        "derived values missing: {derived_values}"
    );

    // Each run: wall time and the process's CPU time (both threads: ours
    // and the agent's) per fetch of each side, the two sides taking turns
    // in blocks of 10 fetches for about 3 s, so a change in the machine's
    // load during the run weighs on both alike. CPU time is the cost of
    // the work; wall time also holds the hand-offs to the agent's thread,
    // which on this shared 2-core machine wait for a CPU more often when
    // the client does anything between fetches.
    const BLOCK: u32 = 10;
    #[derive(Default)]
    struct Side {
        wall: Duration,
        cpu: Duration,
        fetches: u32,
    }
    impl Side {
        fn block(&mut self, f: &mut dyn FnMut()) {
            let (t, c) = (Instant::now(), cpu_time());
            for _ in 0..BLOCK {
                f();
            }
            self.wall += t.elapsed();
            self.cpu += cpu_time() - c;
            self.fetches += BLOCK;
        }
        /// (wall, CPU) microseconds per fetch.
        fn per_fetch(&self) -> (f64, f64) {
            let n = self.fetches.max(1) as f64;
            (
                self.wall.as_secs_f64() / n * 1e6,
                self.cpu.as_secs_f64() / n * 1e6,
            )
        }
    }
    let measure = |a: &mut dyn FnMut(), b: &mut dyn FnMut()| -> ((f64, f64), (f64, f64)) {
        for _ in 0..5 {
            a();
            b();
        }
        let (mut sa, mut sb) = (Side::default(), Side::default());
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(3000) || sa.fetches < 20 {
            sa.block(a);
            sb.block(b);
        }
        (sa.per_fetch(), sb.per_fetch())
    };
    let runs: usize = std::env::var("DERIVED_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS)
        .max(3);
    let (mut raw_wall, mut raw_cpu, mut set_wall, mut set_cpu) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut wall_ratio, mut cpu_ratio) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let ((rw, rc), (sw, sc)) = measure(
            &mut || {
                black_box(host.fetch(&raw));
            },
            &mut || {
                black_box(view.fetch(&iostat));
            },
        );
        raw_wall.push(rw);
        raw_cpu.push(rc);
        set_wall.push(sw);
        set_cpu.push(sc);
        wall_ratio.push(sw / rw);
        cpu_ratio.push(sc / rc);
    }
    let stats = |v: &[f64]| -> (f64, f64, f64) {
        let mut v = v.to_vec();
        v.sort_by(|a, b| a.total_cmp(b));
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (rows, cols) = (values(&check), values(&host.fetch(&raw)));
    println!(
        "| measure | the {} raw metrics alone ({cols} values) | the :iostat-dktx set ({} metrics, {derived_count} derived; {rows} values) | ratio, median (min-max) of {runs} runs |",
        raw.len(),
        iostat.len(),
    );
    println!("|---|---:|---:|---:|");
    for (what, raw, set, ratio) in [
        (
            "CPU time per fetch (process)",
            &raw_cpu,
            &set_cpu,
            &cpu_ratio,
        ),
        ("wall time per fetch", &raw_wall, &set_wall, &wall_ratio),
    ] {
        let (r, s, (m, lo, hi)) = (stats(raw).0, stats(set).0, stats(ratio));
        println!("| {what} | {r:.0} us | {s:.0} us | {m:.3}x ({lo:.3}-{hi:.3}) |");
    }
}

/// CPU time of the whole process so far (every thread).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}
