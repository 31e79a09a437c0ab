//! The `simple` agent (domain 253): a small, complete PMDA in the spirit of
//! PCP's own "simple" agent, and the worked example of the [`Pmda`] trait.
//!
//! | metric | type | what |
//! |---|---|---|
//! | `simple.numfetch` | u32 instant, storable | fetches answered since start (or since the last store) |
//! | `simple.color` | 32 instant, indom red/green/blue | three values that step on every fetch |
//! | `simple.time.user` | double counter, sec | user CPU time of this process |
//! | `simple.time.sys` | double counter, sec | system CPU time of this process |
//! | `simple.version` | string discrete | the agent's version |

use pcp_core::desc::time;
use pcp_core::*;

/// The domain of the simple agent (PCP's own simple PMDA uses it too).
pub const DOMAIN: u32 = 253;

const COLOR_INDOM: u32 = 0;

const ROWS: &[MetricRow] = &[
    MetricRow {
        name: "simple.numfetch",
        cluster: 0,
        item: 0,
        ty: Type::U32,
        indom: None,
        sem: Semantics::Instant,
        units: Units::NONE,
        oneline: "Number of fetches answered by the simple agent",
        help: "How many fetches the simple agent has answered since it started, or since\n\
               a value was last stored into this metric (pmstore simple.numfetch 0).",
    },
    MetricRow {
        name: "simple.color",
        cluster: 0,
        item: 1,
        ty: Type::I32,
        indom: Some(COLOR_INDOM),
        sem: Semantics::Instant,
        units: Units::NONE,
        oneline: "Three values that step on every fetch",
        help: "One value per colour; each fetch adds 1 to red, 2 to green and 3 to blue,\n\
               wrapping at 256. Useful to watch values change.",
    },
    MetricRow {
        name: "simple.time.user",
        cluster: 1,
        item: 2,
        ty: Type::Double,
        indom: None,
        sem: Semantics::Counter,
        units: Units::SEC,
        oneline: "User CPU time used by the agent's process",
        help: "",
    },
    MetricRow {
        name: "simple.time.sys",
        cluster: 1,
        item: 3,
        ty: Type::Double,
        indom: None,
        sem: Semantics::Counter,
        units: Units::new(0, 1, 0, 0, time::SEC, 0),
        oneline: "System CPU time used by the agent's process",
        help: "",
    },
    MetricRow {
        name: "simple.version",
        cluster: 2,
        item: 0,
        ty: Type::String,
        indom: None,
        sem: Semantics::Discrete,
        units: Units::NONE,
        oneline: "Version of the simple agent",
        help: "",
    },
];

const COLORS: [&str; 3] = ["red", "green", "blue"];

/// The simple agent.
#[derive(Debug)]
pub struct SimplePmda {
    table: MetricTable,
    numfetch: u32,
    colors: [i32; 3],
}

impl Default for SimplePmda {
    fn default() -> Self {
        SimplePmda::new()
    }
}

impl SimplePmda {
    /// A fresh agent.
    pub fn new() -> SimplePmda {
        let mut table =
            MetricTable::from_rows(DOMAIN, ROWS).expect("the simple agent's table is valid");
        table.set_indom_text(
            InDom::from_parts(DOMAIN, COLOR_INDOM),
            "Three colours",
            "The instances red, green and blue of simple.color.",
        );
        SimplePmda {
            table,
            numfetch: 0,
            colors: [0, 100, 200],
        }
    }

    fn cpu_times() -> (f64, f64) {
        // SAFETY: getrusage fills the struct we pass and has no other effect.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return (0.0, 0.0);
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (secs(ru.ru_utime), secs(ru.ru_stime))
    }
}

impl Pmda for SimplePmda {
    fn name(&self) -> &str {
        "simple"
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

    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom != InDom::from_parts(DOMAIN, COLOR_INDOM) {
            return Err(PmError::INDOM);
        }
        Ok(COLORS
            .iter()
            .enumerate()
            .map(|(i, c)| Instance::new(i as u32, *c))
            .collect())
    }

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        self.table.text(target, kind)
    }

    fn labels(&self, target: LabelTarget, _client: &ClientContext) -> Result<LabelSet, PmError> {
        Ok(match target {
            LabelTarget::Domain => LabelSet::new()
                .with("agent", "simple")
                .with("role", "example"),
            LabelTarget::InDom(_) => LabelSet::new().with("indom_name", "colour"),
            _ => LabelSet::new(),
        })
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        self.numfetch = self.numfetch.wrapping_add(1);
        for (i, step) in [1, 2, 3].into_iter().enumerate() {
            self.colors[i] = (self.colors[i] + step) % 256;
        }
        let (user, sys) = Self::cpu_times();
        req.pmids
            .iter()
            .map(|pmid| match (pmid.cluster(), pmid.item()) {
                (0, 0) => Ok(vec![(PM_IN_NULL, Value::U32(self.numfetch))]),
                (0, 1) => Ok(self
                    .colors
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i as u32, Value::I32(*v)))
                    .collect()),
                (1, 2) => Ok(vec![(PM_IN_NULL, Value::Double(user))]),
                (1, 3) => Ok(vec![(PM_IN_NULL, Value::Double(sys))]),
                (2, 0) => Ok(vec![(
                    PM_IN_NULL,
                    Value::String(env!("CARGO_PKG_VERSION").to_string()),
                )]),
                _ => Err(PmError::PMID),
            })
            .collect()
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        _client: &ClientContext,
    ) -> Result<(), PmError> {
        if (pmid.cluster(), pmid.item()) != (0, 0) {
            return Err(if self.table.get(pmid).is_some() {
                PmError::PERMISSION
            } else {
                PmError::PMID
            });
        }
        let [(_, v)] = values else {
            return Err(PmError::BADSTORE);
        };
        match v.convert(Type::U32)? {
            Value::U32(n) => {
                self.numfetch = n;
                Ok(())
            }
            _ => Err(PmError::BADSTORE),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numfetch_counts_and_stores() {
        let mut host = Host::new();
        host.load(Box::new(SimplePmda::new())).unwrap();
        let p = host.lookup("simple.numfetch").unwrap();
        host.fetch(&[p]);
        let r = host.fetch(&[p]);
        assert_eq!(r.values[0].1, Ok(vec![(PM_IN_NULL, Value::U32(2))]));
        host.store(p, &[(PM_IN_NULL, Value::U32(40))]).unwrap();
        let r = host.fetch(&[p]);
        assert_eq!(r.values[0].1, Ok(vec![(PM_IN_NULL, Value::U32(41))]));
        let c = host.lookup("simple.color").unwrap();
        assert_eq!(
            host.store(c, &[(0, Value::I32(1))]),
            Err(PmError::PERMISSION)
        );
    }

    #[test]
    fn profile_limits_instances() {
        let mut host = Host::new();
        host.load(Box::new(SimplePmda::new())).unwrap();
        let c = host.lookup("simple.color").unwrap();
        let indom = host.desc(c).unwrap().indom;
        let r = host.fetch_with(&[c], &Profile::only(indom, [2]));
        let v = r.values[0].1.as_ref().unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, 2);
    }
}
