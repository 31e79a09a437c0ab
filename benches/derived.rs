//! Derived metrics: the cost of pmrep's `:iostat-dktx` set (PCP's iostat
//! derived metrics and the preset's own formulas) over 500 disks, per
//! fetch, against fetching the raw disk metrics it is computed from, in
//! the same run, through the same host and linux agent (on a generated
//! fixture tree of 500 disks).
//!
//! Run: `cargo bench -p pcp-agent --bench derived` (prints a Markdown
//! table; `scripts/bench-derived.sh` writes it into BENCHMARKS.md).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcp_agent::watch::config::Config;
use pcp_agent::watch::options::KEYS;
use pcp_core::derive::{DerivedContext, LoadReport, Registry};
use pcp_core::{Host, Pmapi, Pmid};
use pmda_linux::{LinuxConfig, LinuxPmda};

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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("pmda-linux/tests/fixtures/vm");
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture, dir.path());
    tree(dir.path(), DISKS, 0);
    let mut host = Host::new();
    host.load(Box::new(
        LinuxPmda::new(LinuxConfig {
            root: dir.path().to_path_buf(),
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

    let time = |f: &mut dyn FnMut()| -> Duration {
        for _ in 0..5 {
            f();
        }
        let mut n = 0u32;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(1500) || n < 20 {
            f();
            n += 1;
        }
        t.elapsed() / n
    };
    let mut ratios = Vec::new();
    let (mut ta_all, mut tb_all) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let ta = time(&mut || {
            black_box(host.fetch(&raw));
        });
        let tb = time(&mut || {
            black_box(view.fetch(&iostat));
        });
        if std::env::var_os("DERIVED_BENCH_DETAIL").is_some() {
            let only: Vec<Pmid> = iostat
                .iter()
                .copied()
                .filter(|p| p.domain() == 511)
                .collect();
            let one: Vec<Pmid> = only[..1].to_vec();
            let td = time(&mut || {
                black_box(view.fetch(&only));
            });
            let t1 = time(&mut || {
                black_box(view.fetch(&one));
            });
            eprintln!("raw {ta:?} set {tb:?} derived-only {td:?} one-derived {t1:?}");
        }
        ratios.push(tb.as_secs_f64() / ta.as_secs_f64());
        ta_all.push(ta.as_secs_f64() * 1e6);
        tb_all.push(tb.as_secs_f64() * 1e6);
    }
    let min = ratios.iter().cloned().fold(f64::INFINITY, f64::min);
    let max = ratios.iter().cloned().fold(0.0, f64::max);
    println!(
        "| pmrep :iostat-dktx over {DISKS} disks: {} metrics ({derived_count} derived), {} values per fetch | {:.0} us per fetch (median of {RUNS} runs) | the {} raw metrics alone ({} values): {:.0} us | {:.3}x (min {:.3}, max {:.3}; goal < 1.20) |",
        iostat.len(),
        values(&check),
        median(tb_all),
        raw.len(),
        values(&host.fetch(&raw)),
        median(ta_all),
        median(ratios.clone()),
        min,
        max,
    );
}
