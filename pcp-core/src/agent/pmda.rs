//! [`TablePmda`]: any [`Agent`] with its [`Metrics`] table, as a [`Pmda`].

use crate::agent::def::MetricSet;
use crate::agent::sink::{Fetch, Sink};
use crate::agent::table::Metrics;
use crate::agent::Agent;
use crate::desc::Desc;
use crate::error::{NamespaceError, PmError};
use crate::id::{InDom, Pmid};
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::namespace::Namespace;
use crate::pmda::{
    ClientContext, FetchRequest, LabelTarget, MetricResult, Pmda, TextKind, TextTarget,
};
use crate::value::Value;

/// A table-driven [`Agent`] served as a [`Pmda`]: the table answers names,
/// descriptors, help and the default labels; fetches call
/// [`Agent::refresh`] once and [`Agent::value`] per metric through a
/// [`Sink`]; stores reach [`Agent::store`] with values of the metric's
/// type, for rows marked storable only.
///
/// [`Agent::refresh_names`] runs before name operations, before each fetch
/// (so a fetch answers with the descriptors of now) and after each store
/// (a store may add or remove metrics); a change seen at a fetch or a
/// store is reported by the next [`Pmda::refresh_namespace`], which first
/// lets the agent re-read where its names come from
/// ([`Agent::refresh_sources`]).
pub struct TablePmda<A: Agent> {
    name: String,
    table: Metrics<A::Metric>,
    agent: A,
    /// The names changed at a fetch or store since the host last asked.
    names_changed: bool,
}

impl<A: Agent> std::fmt::Debug for TablePmda<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TablePmda")
            .field("name", &self.name)
            .field("domain", &self.table.domain())
            .field("metrics", &self.table.len())
            .finish()
    }
}

impl<A: Agent> TablePmda<A>
where
    A::Metric: MetricSet,
{
    /// The agent `agent`, called `name`, at `domain`, with the metrics its
    /// [`crate::metrics!`] enum declares. Fails on a duplicate name or PMID
    /// in the table.
    pub fn new(name: impl Into<String>, domain: u32, agent: A) -> Result<Self, NamespaceError> {
        let table = Metrics::from_defs(domain, A::Metric::defs())?;
        Ok(TablePmda::with_table(name, agent, table))
    }
}

impl<A: Agent> TablePmda<A> {
    /// The agent with a table it built itself (its domain is the table's).
    pub fn with_table(name: impl Into<String>, agent: A, table: Metrics<A::Metric>) -> Self {
        TablePmda {
            name: name.into(),
            table,
            agent,
            names_changed: false,
        }
    }

    /// The agent.
    pub fn agent(&self) -> &A {
        &self.agent
    }

    /// The agent, mutable.
    pub fn agent_mut(&mut self) -> &mut A {
        &mut self.agent
    }

    /// The metric table.
    pub fn table(&self) -> &Metrics<A::Metric> {
        &self.table
    }

    /// The metric table, mutable.
    pub fn table_mut(&mut self) -> &mut Metrics<A::Metric> {
        &mut self.table
    }
}

impl<A: Agent> Pmda for TablePmda<A> {
    fn name(&self) -> &str {
        &self.name
    }

    fn domain(&self) -> u32 {
        self.table.domain()
    }

    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }

    fn refresh_namespace(&mut self) -> bool {
        self.agent.refresh_sources();
        let changed = self.agent.refresh_names(&mut self.table);
        std::mem::take(&mut self.names_changed) | changed
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }

    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom.domain() != self.table.domain() {
            return Err(PmError::INDOM);
        }
        match self.table.indom(indom.serial()) {
            Some(info) if info.instances.is_some() => {
                Ok(info.instances.clone().unwrap_or_default())
            }
            _ => self.agent.instances(indom, client),
        }
    }

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        self.table.text(target, kind)
    }

    fn labels(&self, target: LabelTarget, client: &ClientContext) -> Result<LabelSet, PmError> {
        let base = match target {
            LabelTarget::Domain => LabelSet::new().with("agent", self.name.as_str()),
            LabelTarget::Item(p) => self
                .table
                .get(p)
                .map(|r| r.labels.clone())
                .unwrap_or_default(),
            LabelTarget::InDom(_) | LabelTarget::Cluster(_) => LabelSet::new(),
        };
        let extra = self.agent.labels(target, client);
        Ok(if extra.is_empty() {
            base
        } else {
            LabelSet::merge([&base, &extra])
        })
    }

    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        self.agent.instance_labels(indom, client)
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        self.names_changed |= self.agent.refresh_names(&mut self.table);
        let positions: Vec<Option<usize>> =
            req.pmids.iter().map(|p| self.table.index_of(*p)).collect();
        let mut seen = FirstSeen::new(positions.len(), self.table.len());
        let mut metrics = Vec::with_capacity(positions.len());
        let mut clusters = Vec::new();
        for (k, &i) in positions.iter().enumerate() {
            let Some(i) = i else { continue };
            if seen.first(&positions[..k], i) {
                let row = self.table.row_at(i);
                metrics.push(row.metric);
                clusters.push(row.desc.pmid.cluster());
            }
        }
        clusters.sort_unstable();
        clusters.dedup();
        self.agent.refresh(&Fetch {
            metrics: &metrics,
            clusters: &clusters,
            client: req.client,
            profile: req.profile,
        });
        positions
            .iter()
            .map(|pos| {
                let Some(i) = *pos else {
                    return Err(PmError::PMID);
                };
                let row = self.table.row_at(i);
                let mut sink = Sink::new(&row.desc, req.profile, req.client);
                self.agent.value(row.metric, &mut sink)?;
                sink.finish()
            })
            .collect()
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let row = self.table.get(pmid).ok_or(PmError::PMID)?;
        if !row.storable {
            return Err(PmError::PERMISSION);
        }
        let (ty, metric) = (row.desc.ty, row.metric);
        if values.is_empty() {
            return Err(PmError::BADSTORE);
        }
        let mut result = Ok(());
        for (inst, v) in values {
            result = self
                .agent
                .store_value(metric, v, ty)
                .and_then(|v| self.agent.store(metric, *inst, &v, client));
            if result.is_err() {
                break;
            }
        }
        self.names_changed |= self.agent.refresh_names(&mut self.table);
        result
    }

    fn labels_changed(&mut self) -> bool {
        self.agent.labels_changed()
    }

    fn client_closed(&mut self, slot: u32) {
        self.agent.client_closed(slot)
    }

    fn wait_ready(&mut self, timeout: std::time::Duration) {
        self.agent.wait_ready(timeout)
    }
}

/// Which rows of a fetch are asked for the first time. A request names a
/// few metrics: looking back over the ones before costs less than hashing
/// (and allocates nothing); a long one marks a bitmap of the table's rows.
enum FirstSeen {
    Scan,
    Bits(Vec<u64>),
}

impl FirstSeen {
    /// Requests longer than this use the bitmap.
    const SCAN_MAX: usize = 16;

    fn new(asked: usize, rows: usize) -> FirstSeen {
        if asked <= FirstSeen::SCAN_MAX {
            FirstSeen::Scan
        } else {
            FirstSeen::Bits(vec![0; rows.div_ceil(64)])
        }
    }

    /// True the first time row `i` is asked; `before` is what was asked
    /// before it.
    fn first(&mut self, before: &[Option<usize>], i: usize) -> bool {
        match self {
            FirstSeen::Scan => !before.contains(&Some(i)),
            FirstSeen::Bits(bits) => {
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                let fresh = bits[word] & bit == 0;
                bits[word] |= bit;
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::{MetricDef, Spec};
    use crate::desc::{Semantics, Type, Units};
    use crate::indom::Profile;

    /// Storing a count into `demo.add` makes that many `demo.n.mK` metrics;
    /// a background change (`pending`) retypes them as strings.
    #[derive(Debug, Default)]
    struct Growing {
        count: u32,
        strings: bool,
        built: Option<(u32, bool)>,
    }

    const ADD: MetricDef = MetricDef::u32("demo.add", 0, 0).storable().oneline("add");

    impl Agent for Growing {
        type Metric = u32;
        fn value(&mut self, m: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
            if self.strings {
                out.set(m.to_string());
            } else {
                out.set(m);
            }
            Ok(())
        }
        fn store(&mut self, _: u32, _: u32, v: &Value, _: &ClientContext) -> Result<(), PmError> {
            self.count = u32::try_from(v)?;
            Ok(())
        }
        fn refresh_names(&mut self, table: &mut Metrics<u32>) -> bool {
            let now = (self.count, self.strings);
            if self.built == Some(now) {
                return false;
            }
            let mut t = Metrics::new(table.domain());
            t.add_def(&ADD, 0).unwrap();
            let ty = if self.strings {
                Type::String
            } else {
                Type::U32
            };
            for k in 1..=self.count {
                let spec = Spec {
                    cluster: 1,
                    item: k,
                    ty,
                    sem: Semantics::Instant,
                    units: Units::NONE,
                    indom: None,
                };
                t.add(format!("demo.n.m{k}"), spec, k).unwrap();
            }
            *table = t;
            self.built = Some(now);
            true
        }
    }

    fn fetch<A: Agent>(p: &mut TablePmda<A>, pmid: Pmid) -> MetricResult {
        let (profile, client) = (Profile::all(), ClientContext::local());
        let req = FetchRequest {
            pmids: &[pmid],
            profile: &profile,
            client: &client,
        };
        p.fetch(&req).remove(0)
    }

    #[test]
    fn names_follow_stores_and_fetches_and_the_host_hears_once() {
        let mut table = Metrics::new(400);
        let mut agent = Growing::default();
        agent.refresh_names(&mut table);
        let mut p = TablePmda::with_table("grow", agent, table);
        assert!(!p.refresh_namespace());
        let add = p.namespace().lookup("demo.add").unwrap();
        let client = ClientContext::local();
        p.store(add, &[(crate::id::PM_IN_NULL, Value::U32(2))], &client)
            .unwrap();
        // The store's new names are there at once, and reported once.
        let two = p
            .namespace()
            .lookup("demo.n.m2")
            .expect("named after the store");
        assert!(p.refresh_namespace());
        assert!(!p.refresh_namespace());
        assert_eq!(
            fetch(&mut p, two),
            Ok(vec![(crate::id::PM_IN_NULL, Value::U32(2))])
        );
        // A change behind the agent's back: the next fetch answers with the
        // descriptors of now, not the table's old ones.
        p.agent_mut().strings = true;
        assert_eq!(
            fetch(&mut p, two),
            Ok(vec![(crate::id::PM_IN_NULL, Value::String("2".into()))])
        );
        assert_eq!(p.desc(two).unwrap().ty, Type::String);
        assert!(
            p.refresh_namespace(),
            "the change seen at the fetch is reported"
        );
    }

    /// Counts how often the host asked it to re-read its sources; takes
    /// any number into its storable `demo.add` as a count (a negative one
    /// is a bad store, not a sign error).
    #[derive(Debug, Default)]
    struct Rereading {
        rereads: u32,
        count: u32,
    }

    impl Agent for Rereading {
        type Metric = u32;
        fn value(&mut self, _: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
            out.set(self.count);
            Ok(())
        }
        fn store_value(&self, _: u32, v: &Value, _: Type) -> Result<Value, PmError> {
            match v.as_f64() {
                Some(n) if n >= 0.0 => Ok(Value::U32(n as u32)),
                _ => Err(PmError::BADSTORE),
            }
        }
        fn store(&mut self, _: u32, _: u32, v: &Value, _: &ClientContext) -> Result<(), PmError> {
            self.count = u32::try_from(v)?;
            Ok(())
        }
        fn refresh_sources(&mut self) {
            self.rereads += 1;
        }
    }

    #[test]
    fn sources_are_reread_for_names_only_and_stores_convert_the_agents_way() {
        let mut table = Metrics::new(400);
        table.add_def(&ADD, 0).unwrap();
        let mut p = TablePmda::with_table("reread", Rereading::default(), table);
        let add = p.namespace().lookup("demo.add").unwrap();
        assert_eq!(
            fetch(&mut p, add),
            Ok(vec![(crate::id::PM_IN_NULL, Value::U32(0))])
        );
        assert_eq!(p.agent().rereads, 0, "a fetch does not re-read sources");
        p.refresh_namespace();
        assert_eq!(p.agent().rereads, 1);
        let client = ClientContext::local();
        let null = crate::id::PM_IN_NULL;
        assert_eq!(
            p.store(add, &[(null, Value::I32(-1))], &client),
            Err(PmError::BADSTORE)
        );
        p.store(add, &[(null, Value::Double(7.5))], &client)
            .unwrap();
        assert_eq!(p.agent().count, 7);
        assert_eq!(p.agent().rereads, 1, "a store does not re-read sources");
    }

    /// Records what each refresh was asked.
    #[derive(Debug, Default)]
    struct Recorder {
        refreshed: Vec<u32>,
    }

    impl Agent for Recorder {
        type Metric = u32;
        fn refresh(&mut self, fetch: &Fetch<'_, u32>) {
            self.refreshed = fetch.metrics().to_vec();
        }
        fn value(&mut self, m: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
            out.set(m);
            Ok(())
        }
    }

    #[test]
    fn refresh_gets_each_metric_once_in_first_asked_order() {
        let mut table = Metrics::new(400);
        for k in 0..100 {
            let spec = Spec {
                cluster: k / 10,
                item: k % 10,
                ty: Type::U32,
                sem: Semantics::Instant,
                units: Units::NONE,
                indom: None,
            };
            table.add(format!("demo.m{k}"), spec, k).unwrap();
        }
        let mut p = TablePmda::with_table("recorder", Recorder::default(), table);
        let (profile, client) = (Profile::all(), ClientContext::local());
        let pmid = |k: u32| Pmid::from_parts(400, k / 10, k % 10);
        let unknown = Pmid::from_parts(400, 50, 0);
        // A short request (looked back over) and a long one (a bitmap over
        // the table), each with repeats and an unknown PMID.
        let short = [7, 3, 7, 99, 3, 0];
        let long: Vec<u32> = (0..40).rev().chain(0..40).chain([64, 99, 64]).collect();
        for asked in [&short[..], &long[..]] {
            let mut pmids: Vec<Pmid> = asked.iter().map(|&k| pmid(k)).collect();
            pmids.insert(1, unknown);
            let req = FetchRequest {
                pmids: &pmids,
                profile: &profile,
                client: &client,
            };
            let answers = p.fetch(&req);
            let mut once: Vec<u32> = Vec::new();
            for &k in asked {
                if !once.contains(&k) {
                    once.push(k);
                }
            }
            assert_eq!(p.agent().refreshed, once, "asked {asked:?}");
            let mut want: Vec<MetricResult> = asked
                .iter()
                .map(|&k| Ok(vec![(crate::id::PM_IN_NULL, Value::U32(k))]))
                .collect();
            want.insert(1, Err(PmError::PMID));
            assert_eq!(answers, want, "every PMID asked is answered");
        }
    }
}
