//! `/metrics` rendering with and without the exposition cache, against the
//! fetch alone, in the same run: the linux agent's `kernel.all` and
//! `disk.dev` subtrees (the "large" set of `serve-BENCHMARKS.md`).
//!
//! Run: `cargo bench -p pcp-agent --bench exposition`

use std::hint::black_box;
use std::time::{Duration, Instant};

use pcp_agent::agents::AgentOptions;
use pcp_core::render::openmetrics::{render_host, ExpositionCache, Format};
use pcp_core::Host;

/// Mean time of `f` over at least `min` (and 50 calls), after a warm-up.
fn time(mut f: impl FnMut(), min: Duration) -> Duration {
    for _ in 0..20 {
        f();
    }
    let mut n = 0u32;
    let t = Instant::now();
    while t.elapsed() < min || n < 50 {
        f();
        n += 1;
    }
    t.elapsed() / n
}

fn main() {
    let opts = AgentOptions::defaults();
    let mut host = Host::new();
    match opts.build_agent("linux") {
        Ok(a) => host.load(a).expect("load"),
        Err(e) => {
            println!("linux agent unavailable: {e}");
            return;
        }
    }
    let mut metrics = host.traverse("kernel.all").unwrap_or_default();
    metrics.extend(host.traverse("disk.dev").unwrap_or_default());
    let pmids: Vec<_> = metrics.iter().map(|m| m.1).collect();
    let cache = ExpositionCache::new();
    let min = Duration::from_millis(500);
    println!(
        "{} metrics (kernel.all, disk.dev), us per /metrics body",
        metrics.len()
    );
    println!("round  uncached   cached   fetch alone   uncached/cached");
    let (mut cached, mut scratch, mut fetch) = (vec![], vec![], vec![]);
    for round in 1..=5 {
        let a = time(|| drop(black_box(render_host(&host, &metrics))), min);
        let b = time(
            || drop(black_box(cache.render(&host, &metrics, Format::Prometheus))),
            min,
        );
        let c = time(|| drop(black_box(host.fetch(&pmids))), min);
        println!(
            "{round:>5} {:>9.1} {:>8.1} {:>13.1} {:>17.2}x",
            a.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            c.as_secs_f64() * 1e6,
            a.as_secs_f64() / b.as_secs_f64()
        );
        scratch.push(a.as_secs_f64() * 1e6);
        cached.push(b.as_secs_f64() * 1e6);
        fetch.push(c.as_secs_f64() * 1e6);
    }
    let ratio: Vec<f64> = scratch.iter().zip(&cached).map(|(a, b)| a / b).collect();
    let mut sorted = fetch.clone();
    sorted.sort_by(f64::total_cmp);
    // One line for scripts/bench-summary.sh (lists: one value per round).
    println!(
        "SUMMARY {{\"group\":\"exposition-cache\",\"what\":\"/metrics body, kernel.all + disk.dev ({} metrics), in-process, with ExpositionCache\",\"ours\":{cached:?},\"unit\":\"us\",\"ref\":\"rendered from scratch\",\"ref_value\":{scratch:?},\"ratio\":{ratio:?},\"ratio_text\":\"x faster\",\"note\":\"the fetch alone {:.0} us\"}}",
        metrics.len(),
        sorted[sorted.len() / 2]
    );
}
