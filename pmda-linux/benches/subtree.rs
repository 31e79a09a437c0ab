//! Per-subtree fetch cost: one fetch of every metric under each top-level
//! name (the grouping `scripts/bench-pmcd.sh` uses through pmcd), timed
//! in-process through `LinuxPmda::fetch`.
//!
//! Run: `cargo bench -p pmda-linux --bench subtree [-- PREFIX...]`.

use std::time::{Duration, Instant};

use pcp_core::{ClientContext, FetchRequest, Pmda, Pmid, Profile};
use pmda_linux::LinuxConfig;

fn main() {
    let mut agent = pmda_linux::new(LinuxConfig::default()).expect("agent");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = agent.namespace().traverse("").unwrap_or_default();
    let mut tops: Vec<String> = all
        .iter()
        .map(|(n, _)| n.split('.').next().unwrap_or("").to_string())
        .collect();
    tops.sort();
    tops.dedup();
    let prefixes: Vec<String> = if args.is_empty() { tops } else { args };
    let profile = Profile::all();
    let client = ClientContext::local();
    let each = std::env::var_os("SUBTREE_EACH").is_some();
    if each {
        // One metric per fetch, to see which ones cost.
        let mut rows = Vec::new();
        for pre in &prefixes {
            let dotted = format!("{pre}.");
            for (n, p) in all
                .iter()
                .filter(|(n, _)| n == pre || n.starts_with(&dotted))
            {
                let p = [*p];
                let start = Instant::now();
                let mut k = 0u32;
                while start.elapsed() < Duration::from_millis(40) {
                    std::hint::black_box(agent.fetch(&FetchRequest {
                        pmids: &p,
                        profile: &profile,
                        client: &client,
                    }));
                    k += 1;
                }
                rows.push(((start.elapsed() / k).as_secs_f64() * 1e6, n.clone()));
            }
        }
        rows.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (t, n) in rows.iter().take(40) {
            println!("{t:>9.1} us  {n}");
        }
        return;
    }
    println!("{:<14} {:>7} {:>10}", "subtree", "metrics", "us/fetch");
    for pre in &prefixes {
        let dotted = format!("{pre}.");
        let p: Vec<Pmid> = all
            .iter()
            .filter(|(n, _)| n == pre || n.starts_with(&dotted))
            .map(|(_, p)| *p)
            .collect();
        let mut f = || {
            let r = agent.fetch(&FetchRequest {
                pmids: &p,
                profile: &profile,
                client: &client,
            });
            std::hint::black_box(r.len())
        };
        for _ in 0..20 {
            f();
        }
        // Best of 5 rounds of 300 ms: the least disturbed by other jobs.
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let start = Instant::now();
            let mut n = 0u32;
            while start.elapsed() < Duration::from_millis(300) {
                f();
                n += 1;
            }
            best = best.min(start.elapsed() / n);
        }
        println!(
            "{:<14} {:>7} {:>10.1}",
            pre,
            p.len(),
            best.as_secs_f64() * 1e6
        );
    }
}
