//! Parse throughput of the exposition-format parser against the published
//! Rust parsers (`nom-openmetrics`, `prometheus-parse`) and PCP's own
//! Python parser, all measured in the same run on the same payloads:
//! a real node_exporter document (tests/fixtures) and a 2 MB synthetic one
//! from `../shared/bench/gen_payload.py`.
//!
//! Run: `cargo bench -p pmda-prometheus --bench parse`
//! (env `PCP_BENCH_SHARED` = the shared/bench directory, default
//! `../shared/bench` beside the repository). Each result is also printed
//! as a `SUMMARY {json}` line for `scripts/bench-summary.sh`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pmda_prometheus::config::{SourceFile, SourceKind};
use pmda_prometheus::parse::{Line, Parser};
use pmda_prometheus::source::{Ctx, IdSource, Limits, Source};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug, Clone, Copy)]
struct Figures {
    mb_s: f64,
    samples_s: f64,
    allocs_per_sample: f64,
    samples: usize,
}

/// Runs `f` (which returns its sample count) repeatedly for about `budget`
/// and reports the median of the per-run throughputs.
fn measure(bytes: usize, budget: Duration, mut f: impl FnMut() -> usize) -> Figures {
    let samples = f(); // warm up
    let a0 = ALLOCS.load(Ordering::Relaxed);
    let n0 = f();
    let allocs = ALLOCS.load(Ordering::Relaxed) - a0;
    let mut times = Vec::new();
    let start = Instant::now();
    while start.elapsed() < budget || times.len() < 5 {
        let t = Instant::now();
        black_box(f());
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = times[times.len() / 2];
    Figures {
        mb_s: bytes as f64 / 1e6 / med,
        samples_s: samples as f64 / med,
        allocs_per_sample: allocs as f64 / n0.max(1) as f64,
        samples,
    }
}

fn ours(text: &str) -> usize {
    let mut n = 0;
    let mut acc = 0usize;
    for l in Parser::new(text) {
        if let Ok(Line::Sample(s)) = l {
            n += 1;
            acc = acc.wrapping_add(s.value.to_bits() as usize);
            for (k, v) in s.labels() {
                acc = acc.wrapping_add(k.len() + v.raw().len());
            }
        }
    }
    black_box(acc);
    n
}

fn nom_openmetrics(text: &str) -> usize {
    match nom_openmetrics::parser::prometheus(text) {
        Ok((_, fams)) => fams.iter().map(|f| f.samples.len()).sum(),
        Err(_) => 0,
    }
}

fn prometheus_parse(text: &str) -> usize {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    match prometheus_parse::Scrape::parse(lines) {
        Ok(s) => s.samples.len(),
        Err(_) => 0,
    }
}

fn python_reference(script: &Path, file: &Path) -> Option<(f64, f64)> {
    let out = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(file)
        .arg("5")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.parse::<f64>().ok())
    };
    Some((field("MB/s=")?, field("samples/s=")?))
}

fn payloads(shared: &Path, tmp: &Path) -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    let node = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/node_exporter.txt");
    v.push(("node_exporter 1.5.0 (real, fixture)".to_string(), node));
    let synth = tmp.join("synthetic-2MB.txt");
    let ok = Command::new("python3")
        .arg(shared.join("gen_payload.py"))
        .arg(&synth)
        .arg("2.0")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        v.push(("synthetic gen_payload.py scale 2.0".to_string(), synth));
    } else {
        eprintln!(
            "gen_payload.py not found under {}: synthetic payload skipped",
            shared.display()
        );
    }
    v
}

/// One result for `scripts/bench-summary.sh` (strings are plain ASCII,
/// so Rust's debug quoting is JSON's).
#[allow(clippy::too_many_arguments)]
fn summary(
    group: &str,
    what: &str,
    ours: f64,
    unit: &str,
    reference: &str,
    ref_value: f64,
    note: &str,
) {
    println!(
        "SUMMARY {{\"group\":{group:?},\"what\":{what:?},\"ours\":{ours},\"unit\":{unit:?},\"ref\":{reference:?},\"ref_value\":{ref_value},\"ratio\":{},\"note\":{note:?}}}",
        ours / ref_value
    );
}

fn main() {
    // The shared bench directory: the variable, else ../shared/bench
    // beside the repository.
    let shared = std::env::var_os("PCP_BENCH_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench"));
    let tmp = std::env::temp_dir().join(format!("pmda-prometheus-bench-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let budget = Duration::from_millis(
        std::env::var("BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1500),
    );
    for (label, path) in payloads(&shared, &tmp) {
        let text = std::fs::read_to_string(&path).unwrap();
        let bytes = text.len();
        println!("\n== {label}: {bytes} bytes ==");
        let o = measure(bytes, budget, || ours(&text));
        let ctx = Ctx {
            root: "prometheus".into(),
            ids: IdSource::Memory,
            limits: Limits::default(),
        };
        let src = Source::new(
            SourceFile {
                name: "bench".into(),
                path: path.clone(),
                kind: SourceKind::Url,
            },
            1,
            &ctx,
        );
        let ing = measure(bytes, budget, || {
            src.state.lock().ingest(&text, &src, &ctx).samples as usize
        });
        let nm = measure(bytes, budget, || nom_openmetrics(&text));
        let pp = measure(bytes, budget, || prometheus_parse(&text));
        let py = python_reference(&shared.join("pcp_om_parse_bench.py"), &path);
        let row = |name: &str, f: &Figures| {
            println!(
                "{name:<44} {:>9.1} MB/s {:>12.0} samples/s {:>7.2} allocs/sample  ({} samples)",
                f.mb_s, f.samples_s, f.allocs_per_sample, f.samples
            );
        };
        row("pmda-prometheus parse::Parser", &o);
        row("pmda-prometheus ingest (agent, steady state)", &ing);
        row("nom-openmetrics 0.3 (prometheus())", &nm);
        row("prometheus-parse 0.2 (Scrape::parse)", &pp);
        let (group, what) = if label.starts_with("node_exporter") {
            (
                "parse-node",
                "exposition parsing, real node_exporter payload (58 kB)",
            )
        } else {
            (
                "parse-synthetic",
                "exposition parsing, 2 MB synthetic payload",
            )
        };
        let note = format!("{:.2} allocations/sample", o.allocs_per_sample);
        summary(
            group,
            what,
            o.mb_s,
            "MB/s",
            "nom-openmetrics 0.3",
            nm.mb_s,
            &note,
        );
        summary(
            group,
            what,
            o.mb_s,
            "MB/s",
            "prometheus-parse 0.2",
            pp.mb_s,
            &note,
        );
        if let Some((mb, _)) = py {
            summary(
                group,
                what,
                o.mb_s,
                "MB/s",
                "PCP 6.0.3 pmdaopenmetrics parser (Python)",
                mb,
                &note,
            );
        }
        match py {
            Some((mb, sps)) => println!(
                "{:<44} {mb:>9.1} MB/s {sps:>12.0} samples/s",
                "pmdaopenmetrics 6.0.3 SampleLineParser loop"
            ),
            None => {
                println!("pmdaopenmetrics Python parser: not measured (script or python3 missing)")
            }
        }
        println!(
            "ratios: parser vs nom-openmetrics {:.1}x, vs prometheus-parse {:.1}x{}; ingest vs Python parse {}",
            o.mb_s / nm.mb_s,
            o.mb_s / pp.mb_s,
            py.map_or(String::new(), |(mb, _)| format!(", vs PCP Python {:.0}x", o.mb_s / mb)),
            py.map_or("-".to_string(), |(mb, _)| format!("{:.0}x", ing.mb_s / mb)),
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
