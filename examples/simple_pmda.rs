//! A complete small PMDA on the table-driven layer, run in the host: a
//! storable singular metric, an instance-domain metric and a counter. The agent code (table + state + refresh/value/store, between
//! the two rules below) is 30 lines; imports and `main` are not counted.
//!
//! Run: `cargo run --example simple_pmda`
//! The same agent under a real pmcd: `Session`/`run_daemon` in
//! `pcp_core::daemon` (see docs/WRITING-AN-AGENT.md).

use pcp_core::agent::{Agent, Fetch, IndomDef, MetricDef, Sink, TablePmda};
use pcp_core::render::pminfo::{self, Flags};
use pcp_core::{ClientContext, Host, PmError, Units, Value, PM_IN_NULL};

// ---- agent code starts ----
const PLANETS: IndomDef = IndomDef::new(0, "Planets").instances(&[(0, "earth"), (1, "mars")]);
pcp_core::metrics! {
    enum M {
        Threshold = MetricDef::u32("demo.threshold", 0, 0).storable().oneline("a storable setting"),
        Gravity = MetricDef::double("demo.gravity", 0, 1).indom(&PLANETS).oneline("surface gravity, in g"),
        Fetches = MetricDef::u64("demo.fetches", 0, 2).counter().units(Units::COUNT).oneline("fetches"),
    }
}
#[derive(Debug, Default)]
struct Demo {
    fetches: u64,
    threshold: u32,
}
impl Agent for Demo {
    type Metric = M;
    fn refresh(&mut self, _: &Fetch<'_, M>) {
        self.fetches += 1
    }
    fn value(&mut self, m: M, out: &mut Sink<'_>) -> Result<(), PmError> {
        match m {
            M::Threshold => out.set(self.threshold),
            M::Gravity => out.put_all([(0, 1.0), (1, 0.38)]),
            M::Fetches => out.set(self.fetches),
        }
        Ok(())
    }
    fn store(&mut self, _: M, _: u32, value: &Value, _: &ClientContext) -> Result<(), PmError> {
        u32::try_from(value).map(|v| self.threshold = v)
    }
}
// ---- agent code ends ----

/// The demo agent at `domain`, ready for a host or a pmcd session.
fn demo_agent(domain: u32) -> TablePmda<Demo> {
    TablePmda::new("demo", domain, Demo::default()).expect("the demo table is valid")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut agent = demo_agent(499);
    pcp_core::testing::check_agent(&mut agent)?;
    let mut host = Host::new();
    host.load(Box::new(agent))?;
    let threshold = host.lookup("demo.threshold")?;
    host.store(threshold, &[(PM_IN_NULL, Value::U32(42))])?;
    let metrics = host.traverse("demo")?;
    let flags = Flags {
        desc: true,
        fetch: true,
        pmid: true,
        oneline: true,
        ..Default::default()
    };
    print!("{}", pminfo::render(&host, &metrics, flags));
    Ok(())
}
