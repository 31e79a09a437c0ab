//! [`TablePmda`]: any [`Agent`] with its [`Metrics`] table, as a [`Pmda`].

use std::collections::HashSet;

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
pub struct TablePmda<A: Agent> {
    name: String,
    table: Metrics<A::Metric>,
    agent: A,
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
        self.agent.refresh_names(&mut self.table)
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
        let positions: Vec<Option<usize>> =
            req.pmids.iter().map(|p| self.table.index_of(*p)).collect();
        let mut seen = HashSet::with_capacity(positions.len());
        let mut metrics = Vec::with_capacity(positions.len());
        let mut clusters = Vec::new();
        for &i in positions.iter().flatten() {
            if seen.insert(i) {
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
        for (inst, v) in values {
            self.agent.store(metric, *inst, &v.convert(ty)?, client)?;
        }
        Ok(())
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
