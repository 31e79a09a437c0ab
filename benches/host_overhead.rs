//! Host fetch overhead: the time per value fetched through the host
//! (grouping by domain, a worker thread per agent, the deadline, merging)
//! against calling the same agent's `fetch` directly, in the same run.
//!
//! Run: `cargo bench -p pcp-agent --bench host_overhead`
//!
//! Two agents: `simple` (cheap: values from memory plus one getrusage) and
//! `linux` (real /proc and /sys reads) when it is built.

use std::hint::black_box;
use std::time::{Duration, Instant};

use pcp_agent::agents::AgentOptions;
use pcp_core::{ClientContext, FetchRequest, Host, Pmid, Profile};

fn time_per_round(mut f: impl FnMut(), min: Duration) -> Duration {
    for _ in 0..20 {
        f();
    }
    let mut rounds = 0u32;
    let t = Instant::now();
    while t.elapsed() < min || rounds < 50 {
        f();
        rounds += 1;
    }
    t.elapsed() / rounds
}

fn bench_agent(name: &str) {
    let opts = AgentOptions::defaults();
    let (mut direct, hosted) = match (opts.build_agent(name), opts.build_agent(name)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            println!("{name}: skipped ({e})");
            return;
        }
    };
    let pmids: Vec<Pmid> = direct
        .namespace()
        .traverse("")
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut host = Host::new();
    host.load(hosted).unwrap();
    let profile = Profile::all();
    let client = ClientContext::local();
    let values: usize = direct
        .fetch(&FetchRequest {
            pmids: &pmids,
            profile: &profile,
            client: &client,
        })
        .iter()
        .map(|r| r.as_ref().map_or(0, |v| v.len()))
        .sum();
    let d = time_per_round(
        || {
            black_box(direct.fetch(&FetchRequest {
                pmids: &pmids,
                profile: &profile,
                client: &client,
            }));
        },
        Duration::from_secs(2),
    );
    let h = time_per_round(
        || {
            black_box(host.fetch(&pmids));
        },
        Duration::from_secs(2),
    );
    let per = |t: Duration| t.as_nanos() as f64 / values.max(1) as f64;
    println!(
        "{name}: {} metrics, {values} values per fetch: direct {:.1} us/fetch ({:.1} ns/value), host {:.1} us/fetch ({:.1} ns/value), ratio {:.2}x",
        pmids.len(),
        d.as_secs_f64() * 1e6,
        per(d),
        h.as_secs_f64() * 1e6,
        per(h),
        h.as_secs_f64() / d.as_secs_f64()
    );
    println!(
        "SUMMARY {{\"group\":\"host-overhead-{name}\",\"what\":\"{name} agent: one fetch of every metric through the host\",\"ours\":{},\"unit\":\"us\",\"ref\":\"the agent's fetch called directly\",\"ref_value\":{},\"ratio\":{},\"ratio_text\":\"x its time\",\"note\":\"{values} values\"}}",
        h.as_secs_f64() * 1e6,
        d.as_secs_f64() * 1e6,
        h.as_secs_f64() / d.as_secs_f64()
    );
}

fn main() {
    for agent in ["simple", "linux"] {
        bench_agent(agent);
    }
}
