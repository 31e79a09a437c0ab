//! A test agent run as a daemon PMDA under a real pmcd: every value type,
//! an instance domain, a counter, help and labels at every level, a
//! storable metric, a metric that fails, the client's credentials, and a
//! dynamic name that appears after a store. The tests of the PDU loop
//! (pcp-core/tests/pdu_daemon.rs, tests/pmcd_*.rs) run it under pmcd and
//! compare what PCP's own tools print with what the in-process host gives.
//!
//! ```text
//! pdu_test_pmda [pmda NAME] [--domain N] [--notready] [--credentials] [--slow-start MS] [--trace]
//! ```
//!
//! pmcd.conf: `pdutest 490 pipe binary notready /path/pdu_test_pmda --notready`
//! and in the PMNS root: `pdutest 490:*:*`.

use std::time::Duration;

use pcp_core::daemon::{run_stdio_with, DaemonOptions};

#[allow(dead_code)]
pub mod agent {
    //! The agent itself, shared with the tests through `#[path]`.

    use std::time::Instant;

    use pcp_core::agent::{IndomDef, MetricDef, Metrics, Spec};
    use pcp_core::*;

    /// The test agent's default domain.
    pub const DOMAIN: u32 = 490;

    /// The agent.
    #[derive(Debug)]
    pub struct TestAgent {
        table: Metrics<()>,
        domain: u32,
        started: Instant,
        stored: u32,
        names_changed: bool,
        labels_changed: bool,
        next_item: u32,
    }

    /// The instance domain of `pdutest.double` (its instances are listed
    /// by the agent, below).
    const GREEK: IndomDef = IndomDef::new(0, "greek letters")
        .help("Three instances; the third has a space in its name.");

    const DEFS: &[MetricDef] = &[
        MetricDef::new("pdutest.counter", 0, 0, Type::U32)
            .semantics(Semantics::Counter)
            .units(Units::COUNT)
            .oneline("milliseconds since start, as a counter")
            .help("Grows by about 1000 a second, so rate tools show ~1000."),
        MetricDef::new("pdutest.i32", 0, 1, Type::I32)
            .oneline("always -42")
            .help("A negative 32-bit value."),
        MetricDef::new("pdutest.i64", 0, 2, Type::I64).oneline("always -2^33"),
        MetricDef::new("pdutest.u64", 0, 3, Type::U64)
            .units(Units::KBYTES)
            .oneline("a big number in KiB")
            .help("2^40 + 7 kilobytes."),
        MetricDef::new("pdutest.float", 0, 4, Type::Float)
            .units(Units::MILLISEC)
            .oneline("a float in milliseconds")
            .help("Always 0.25."),
        MetricDef::new("pdutest.double", 0, 5, Type::Double)
            .indom(&GREEK)
            .oneline("a double per instance")
            .help("1.5 times (instance id + 1)."),
        MetricDef::new("pdutest.string", 0, 6, Type::String)
            .semantics(Semantics::Discrete)
            .oneline("a string")
            .help("Always \"hello pmcd\"."),
        MetricDef::new("pdutest.aggregate", 0, 7, Type::Aggregate)
            .semantics(Semantics::Discrete)
            .oneline("opaque bytes"),
        MetricDef::new("pdutest.unavailable", 0, 8, Type::U32)
            .oneline("never has a value")
            .help("Fails with PM_ERR_AGAIN, as a source that is down."),
        MetricDef::new("pdutest.control.value", 1, 0, Type::U32)
            .semantics(Semantics::Discrete)
            .oneline("storable value")
            .help("pmstore sets it; fetch returns the last value stored."),
        MetricDef::new("pdutest.control.add", 1, 1, Type::String)
            .semantics(Semantics::Discrete)
            .oneline("storing NAME adds pdutest.dynamic.NAME"),
        MetricDef::new("pdutest.client.uid", 2, 0, Type::U32)
            .semantics(Semantics::Discrete)
            .oneline("the asking client's user id")
            .help("From pmcd's PDU_ATTR; PM_ERR_AGAIN when pmcd did not say."),
    ];

    const INSTANCES: [(u32, &str); 3] = [(0, "alpha"), (1, "beta"), (2, "gamma delta")];

    impl TestAgent {
        /// The agent at its default domain.
        pub fn new() -> TestAgent {
            TestAgent::with_domain(DOMAIN)
        }

        /// The agent at `domain`.
        pub fn with_domain(domain: u32) -> TestAgent {
            let mut table = Metrics::new(domain);
            for def in DEFS {
                table.add_def(def, ()).expect("test rows are valid");
            }
            if let Some(m) = table.get_mut(Pmid::from_parts(domain, 0, 5)) {
                m.labels.insert("units_hint", "none");
                m.labels.insert_optional("note", "optional label");
            }
            TestAgent {
                table,
                domain,
                started: Instant::now(),
                stored: 0,
                names_changed: false,
                labels_changed: false,
                next_item: 0,
            }
        }

        fn pmid(&self, cluster: u32, item: u32) -> Pmid {
            Pmid::from_parts(self.domain, cluster, item)
        }
    }

    impl Default for TestAgent {
        fn default() -> TestAgent {
            TestAgent::new()
        }
    }

    impl Pmda for TestAgent {
        fn name(&self) -> &str {
            "pdutest"
        }

        fn domain(&self) -> u32 {
            self.domain
        }

        fn namespace(&self) -> &Namespace {
            self.table.namespace()
        }

        fn refresh_namespace(&mut self) -> bool {
            std::mem::take(&mut self.names_changed)
        }

        fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
            self.table.desc(pmid)
        }

        fn instances(
            &mut self,
            indom: InDom,
            _client: &ClientContext,
        ) -> Result<Vec<Instance>, PmError> {
            if indom != InDom::from_parts(self.domain, 0) {
                return Err(PmError::INDOM);
            }
            Ok(INSTANCES
                .iter()
                .map(|&(id, n)| Instance::new(id, n))
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

        fn labels(
            &self,
            target: LabelTarget,
            _client: &ClientContext,
        ) -> Result<LabelSet, PmError> {
            Ok(match target {
                LabelTarget::Domain => LabelSet::new()
                    .with("agent", "pdutest")
                    .with("role", "testing"),
                LabelTarget::InDom(i) if i == InDom::from_parts(self.domain, 0) => {
                    LabelSet::new().with("kind", "greek")
                }
                LabelTarget::Cluster(0) => LabelSet::new().with("cluster", "zero"),
                LabelTarget::Item(p) => self
                    .table
                    .get(p)
                    .map(|r| r.labels.clone())
                    .unwrap_or_default(),
                _ => LabelSet::new(),
            })
        }

        fn instance_labels(
            &mut self,
            indom: InDom,
            _client: &ClientContext,
        ) -> Result<Vec<(u32, LabelSet)>, PmError> {
            if indom != InDom::from_parts(self.domain, 0) {
                return Err(PmError::INDOM);
            }
            Ok(vec![
                (0, LabelSet::new().with("letter", "a")),
                (2, LabelSet::new().with("letter", "g").with("spaced", true)),
            ])
        }

        fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
            let one = |v: Value| Ok(vec![(PM_IN_NULL, v)]);
            req.pmids
                .iter()
                .map(|&p| match (p.cluster(), p.item()) {
                    _ if p.domain() != self.domain => Err(PmError::PMID),
                    (0, 0) => one(Value::U32(self.started.elapsed().as_millis() as u32)),
                    (0, 1) => one(Value::I32(-42)),
                    (0, 2) => one(Value::I64(-(1 << 33))),
                    (0, 3) => one(Value::U64((1 << 40) + 7)),
                    (0, 4) => one(Value::Float(0.25)),
                    (0, 5) => Ok(INSTANCES
                        .iter()
                        .filter(|(id, _)| req.profile.wants(InDom::from_parts(self.domain, 0), *id))
                        .map(|&(id, _)| (id, Value::Double(1.5 * (id + 1) as f64)))
                        .collect()),
                    (0, 6) => one(Value::String("hello pmcd".into())),
                    (0, 7) => one(Value::Aggregate(vec![1, 2, 3, 4, 5])),
                    (0, 8) => Err(PmError::AGAIN),
                    (1, 0) => one(Value::U32(self.stored)),
                    (1, 1) => one(Value::String(String::new())),
                    (2, 0) => req
                        .client
                        .user_id
                        .map(Value::U32)
                        .map_or(Err(PmError::AGAIN), one),
                    (3, _) if self.table.get(p).is_some() => one(Value::U32(p.item() + 1)),
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
            let v = values.first().map(|(_, v)| v).ok_or(PmError::BADSTORE)?;
            if pmid == self.pmid(1, 0) {
                self.stored = match v {
                    Value::U32(x) => *x,
                    _ => return Err(PmError::TYPE),
                };
                return Ok(());
            }
            if pmid == self.pmid(1, 1) {
                let name = v.as_str().ok_or(PmError::TYPE)?;
                let full = format!("pdutest.dynamic.{name}");
                let p = self.pmid(3, self.next_item);
                let spec = Spec {
                    cluster: p.cluster(),
                    item: p.item(),
                    ty: Type::U32,
                    sem: Semantics::Instant,
                    units: Units::NONE,
                    indom: None,
                };
                self.table
                    .add(full, spec, ())
                    .map_err(|_| PmError::BADSTORE)?
                    .oneline = "a metric added by a store".into();
                self.next_item += 1;
                self.names_changed = true;
                self.labels_changed = true;
                return Ok(());
            }
            Err(PmError::PERMISSION)
        }

        fn labels_changed(&mut self) -> bool {
            std::mem::take(&mut self.labels_changed)
        }
    }
}

fn main() {
    let mut opts = DaemonOptions::default();
    let mut domain = agent::DOMAIN;
    let mut slow = Duration::ZERO;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--notready" => opts.notready = true,
            "--credentials" => opts.credentials = true,
            "--trace" => opts.trace = true,
            // `pcp-agent pmda NAME` as install writes it: accept and ignore.
            "pmda" => {
                args.next();
            }
            "--domain" => domain = args.next().and_then(|d| d.parse().ok()).unwrap_or(domain),
            "--slow-start" => {
                let ms = args.next().and_then(|d| d.parse().ok()).unwrap_or(0);
                slow = Duration::from_millis(ms);
            }
            other => {
                eprintln!("pdu_test_pmda: unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let factory = move || -> Result<Box<dyn pcp_core::Pmda>, String> {
        std::thread::sleep(slow);
        Ok(Box::new(agent::TestAgent::with_domain(domain)))
    };
    if let Err(e) = run_stdio_with(factory, &opts) {
        eprintln!("pdu_test_pmda: {e}");
        std::process::exit(1);
    }
}
