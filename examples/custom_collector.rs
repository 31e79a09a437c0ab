//! A custom collector: links the library, loads agents, defines a derived
//! metric of its own in code, fetches every interval and writes each
//! sample's rates as one JSON line, ready for a log shipper.
//!
//! Run: `cargo run --example custom_collector -- [INTERVAL_SECS] [SAMPLES] [METRIC...]`
//! (defaults: 1 second, 3 samples, kernel.all.load, kernel.all.cpu.user and
//! the derived `collector.load_per_cpu` from the linux agent, or the simple
//! agent's metrics and `collector.color_total` if linux is absent).

use std::sync::Arc;
use std::time::Duration;

use pcp_agent::agents::AgentOptions;
use pcp_core::derive::{DerivedContext, Registry};
use pcp_core::rate::{Converted, RateConverter};
use pcp_core::{Desc, Host, Pmapi, Pmid, PM_IN_NULL};
use serde_json::{json, Map, Value as Json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let interval: f64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1.0);
    let samples: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(3);
    let mut names: Vec<String> = args.collect();

    let mut opts = AgentOptions::defaults();
    opts.agents = vec!["linux".into(), "simple".into()];
    let agents: Host = opts.build_host().or_else(|e| {
        eprintln!("collector: {e}; using the simple agent only");
        opts.agents = vec!["simple".into()];
        opts.build_host()
    })?;
    // A derived metric of our own, in PCP's expression language
    // (pmRegisterDerived(3)): computed from the agents' metrics at each
    // fetch, with a descriptor and help like any other metric.
    let linux = agents.lookup("kernel.all.load").is_ok();
    let mut registry = Registry::new();
    let derived = if linux {
        registry.register("collector.load_per_cpu", "kernel.all.load / hinv.ncpu")?;
        "collector.load_per_cpu"
    } else {
        registry.register("collector.color_total", "sum(simple.color)")?;
        "collector.color_total"
    };
    registry.set_attribute(
        derived,
        "oneline",
        "defined in examples/custom_collector.rs",
    )?;
    let context = DerivedContext::new(Arc::new(registry));
    // The host seen through the context: its metrics and the derived one.
    let view = context.view(&agents);
    let host: &dyn Pmapi = &view;
    if names.is_empty() {
        names = if linux {
            vec!["kernel.all.load".into(), "kernel.all.cpu.user".into()]
        } else {
            vec!["simple.color".into(), "simple.time.user".into()]
        };
        names.push(derived.into());
    }
    let metrics: Vec<(String, Pmid, Desc)> = names
        .iter()
        .map(|n| {
            let p = host.lookup(n).map_err(|e| format!("{n}: {e}"))?;
            Ok((n.clone(), p, host.desc(p).map_err(|e| format!("{n}: {e}"))?))
        })
        .collect::<Result<_, String>>()?;
    let pmids: Vec<Pmid> = metrics.iter().map(|m| m.1).collect();
    let mut rates = RateConverter::new();
    for i in 0..=samples {
        let result = host.fetch(&pmids);
        let mut out = Map::new();
        for ((name, _, desc), (_, r)) in metrics.iter().zip(&result.values) {
            let Some(conv) = rates.convert_result(desc, r, result.timestamp) else {
                continue;
            };
            let insts = if desc.indom.is_null() {
                Vec::new()
            } else {
                host.instances(desc.indom).unwrap_or_default()
            };
            let mut m = Map::new();
            for (inst, v) in conv {
                let key = match insts.iter().find(|x| x.id == inst) {
                    Some(x) => x.name.clone(),
                    None if inst == PM_IN_NULL => "value".into(),
                    None => inst.to_string(),
                };
                if let Some(Converted::Number(x)) = v {
                    m.insert(key, json!(x));
                }
            }
            if !m.is_empty() {
                out.insert(name.clone(), Json::Object(m));
            }
        }
        // The first fetch only primes the counters' rates.
        if i > 0 {
            let ts = result
                .timestamp
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs_f64();
            println!("{}", json!({"timestamp": ts, "rates": out}));
        }
        if i < samples {
            std::thread::sleep(Duration::from_secs_f64(interval));
        }
    }
    Ok(())
}
