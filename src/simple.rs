//! The `simple` agent (domain 253): a small, complete PMDA in the spirit of
//! PCP's own "simple" agent, written on the table-driven layer
//! ([`pcp_core::agent`]).
//!
//! | metric | type | what |
//! |---|---|---|
//! | `simple.numfetch` | u32 instant, storable | fetches answered since start (or since the last store) |
//! | `simple.color` | 32 instant, indom red/green/blue | three values that step on every fetch |
//! | `simple.time.user` | double counter, sec | user CPU time of this process |
//! | `simple.time.sys` | double counter, sec | system CPU time of this process |
//! | `simple.version` | string discrete | the agent's version |

use pcp_core::agent::{Agent, Fetch, IndomDef, MetricDef, Sink, TablePmda};
use pcp_core::{ClientContext, LabelSet, LabelTarget, PmError, Units, Value};

/// The domain of the simple agent (PCP's own simple PMDA uses it too).
pub const DOMAIN: u32 = 253;

const COLOURS: IndomDef = IndomDef::new(0, "Three colours")
    .help("The instances red, green and blue of simple.color.")
    .instances(&[(0, "red"), (1, "green"), (2, "blue")]);

pcp_core::metrics! {
    /// The simple agent's metrics.
    pub enum SimpleMetric {
        /// Fetches answered (storable).
        NumFetch = MetricDef::u32("simple.numfetch", 0, 0)
            .storable()
            .oneline("Number of fetches answered by the simple agent")
            .help("How many fetches the simple agent has answered since it started, or since\n\
                   a value was last stored into this metric (pmstore simple.numfetch 0)."),
        /// Three stepping values.
        Color = MetricDef::i32("simple.color", 0, 1)
            .indom(&COLOURS)
            .oneline("Three values that step on every fetch")
            .help("One value per colour; each fetch adds 1 to red, 2 to green and 3 to blue,\n\
                   wrapping at 256. Useful to watch values change."),
        /// User CPU time of the process.
        TimeUser = MetricDef::double("simple.time.user", 1, 2)
            .counter()
            .units(Units::SEC)
            .oneline("User CPU time used by the agent's process"),
        /// System CPU time of the process.
        TimeSys = MetricDef::double("simple.time.sys", 1, 3)
            .counter()
            .units(Units::SEC)
            .oneline("System CPU time used by the agent's process"),
        /// The agent's version.
        Version = MetricDef::string("simple.version", 2, 0)
            .discrete()
            .oneline("Version of the simple agent"),
    }
}

/// The simple agent's state.
#[derive(Debug)]
pub struct Simple {
    numfetch: u32,
    colors: [i32; 3],
    cpu: (f64, f64),
}

/// The simple agent, ready for a host or pmcd.
pub type SimplePmda = TablePmda<Simple>;

/// A fresh simple agent.
pub fn simple_pmda() -> SimplePmda {
    let state = Simple {
        numfetch: 0,
        colors: [0, 100, 200],
        cpu: (0.0, 0.0),
    };
    TablePmda::new("simple", DOMAIN, state).expect("the simple agent's table is valid")
}

impl Agent for Simple {
    type Metric = SimpleMetric;

    fn refresh(&mut self, fetch: &Fetch<'_, SimpleMetric>) {
        self.numfetch = self.numfetch.wrapping_add(1);
        for (c, step) in self.colors.iter_mut().zip([1, 2, 3]) {
            *c = (*c + step) % 256;
        }
        if fetch.asks_cluster(1) {
            self.cpu = cpu_times();
        }
    }

    fn value(&mut self, m: SimpleMetric, out: &mut Sink<'_>) -> Result<(), PmError> {
        match m {
            SimpleMetric::NumFetch => out.set(self.numfetch),
            SimpleMetric::Color => out.put_all((0..).zip(self.colors)),
            SimpleMetric::TimeUser => out.set(self.cpu.0),
            SimpleMetric::TimeSys => out.set(self.cpu.1),
            SimpleMetric::Version => out.set(env!("CARGO_PKG_VERSION")),
        }
        Ok(())
    }

    fn labels(&self, target: LabelTarget, _: &ClientContext) -> LabelSet {
        match target {
            LabelTarget::Domain => LabelSet::new().with("role", "example"),
            LabelTarget::InDom(_) => LabelSet::new().with("indom_name", "colour"),
            _ => LabelSet::new(),
        }
    }

    fn store(
        &mut self,
        _: SimpleMetric,
        _: u32,
        value: &Value,
        _: &ClientContext,
    ) -> Result<(), PmError> {
        u32::try_from(value).map(|n| self.numfetch = n)
    }
}

/// User and system CPU time of this process, in seconds.
fn cpu_times() -> (f64, f64) {
    // SAFETY: getrusage fills the struct we pass and has no other effect.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcp_core::{Host, Profile, PM_IN_NULL};

    #[test]
    fn numfetch_counts_and_stores() {
        let mut host = Host::new();
        host.load(Box::new(simple_pmda())).unwrap();
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
    fn passes_the_conformance_check() {
        pcp_core::testing::check_agent(&mut simple_pmda()).unwrap();
    }

    #[test]
    fn profile_limits_instances() {
        let mut host = Host::new();
        host.load(Box::new(simple_pmda())).unwrap();
        let c = host.lookup("simple.color").unwrap();
        let indom = host.desc(c).unwrap().indom;
        let r = host.fetch_with(&[c], &Profile::only(indom, [2]));
        let v = r.values[0].1.as_ref().unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].0, 2);
    }
}
