//! A complete small PMDA written against the `Pmda` trait, run in the
//! host: a singular metric, an instance-domain metric, a counter, a string
//! and a storable metric, in about sixty lines of agent code.
//!
//! Run: `cargo run --example simple_pmda`

use pcp_core::render::pminfo::{self, Flags};
use pcp_core::*;

const DOMAIN: u32 = 499;

struct Demo {
    table: MetricTable,
    fetches: u64,
    threshold: u32,
}

impl Demo {
    fn new() -> Demo {
        let mut t = MetricTable::new(DOMAIN);
        let planets = InDom::new(DOMAIN, 0).unwrap();
        let rows = [
            (
                "demo.threshold",
                Type::U32,
                InDom::NULL,
                Semantics::Discrete,
                Units::NONE,
                "a storable setting",
            ),
            (
                "demo.gravity",
                Type::Double,
                planets,
                Semantics::Instant,
                Units::NONE,
                "surface gravity, in g",
            ),
            (
                "demo.fetches",
                Type::U64,
                InDom::NULL,
                Semantics::Counter,
                Units::COUNT,
                "fetches answered",
            ),
            (
                "demo.motd",
                Type::String,
                InDom::NULL,
                Semantics::Discrete,
                Units::NONE,
                "message of the day",
            ),
        ];
        for (item, (name, ty, indom, sem, units, help)) in rows.into_iter().enumerate() {
            let desc = Desc::new(
                Pmid::new(DOMAIN, 0, item as u32).unwrap(),
                ty,
                indom,
                sem,
                units,
            );
            t.add(name, desc, help, "").unwrap();
        }
        Demo {
            table: t,
            fetches: 0,
            threshold: 10,
        }
    }
}

const PLANETS: [(&str, f64); 3] = [("mercury", 0.38), ("earth", 1.0), ("jupiter", 2.53)];

impl Pmda for Demo {
    fn name(&self) -> &str {
        "demo"
    }
    fn domain(&self) -> u32 {
        DOMAIN
    }
    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }
    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        self.table.text(target, kind)
    }

    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        match indom.serial() {
            0 => Ok(PLANETS
                .iter()
                .enumerate()
                .map(|(i, p)| Instance::new(i as u32, p.0))
                .collect()),
            _ => Err(PmError::INDOM),
        }
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        self.fetches += 1;
        let one = |v| Ok(vec![(PM_IN_NULL, v)]);
        req.pmids
            .iter()
            .map(|p| match p.item() {
                0 => one(Value::U32(self.threshold)),
                1 => Ok(PLANETS
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (i as u32, Value::Double(p.1)))
                    .collect()),
                2 => one(Value::U64(self.fetches)),
                3 => one(Value::String("hello from a Rust PMDA".into())),
                _ => Err(PmError::PMID),
            })
            .collect()
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        _: &ClientContext,
    ) -> Result<(), PmError> {
        match (pmid.item(), values) {
            (0, [(_, v)]) => match v.convert(Type::U32)? {
                Value::U32(x) => {
                    self.threshold = x;
                    Ok(())
                }
                _ => Err(PmError::BADSTORE),
            },
            (0, _) => Err(PmError::BADSTORE),
            _ => Err(PmError::PERMISSION),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut host = Host::new();
    host.load(Box::new(Demo::new()))?;
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
