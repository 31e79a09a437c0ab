//! The runtime metric table of a table-driven agent: one [`Row`] per
//! metric (name, descriptor, help, item labels, storable flag and the
//! agent's own handle), the namespace built from the rows, and the help
//! and fixed instances of each instance domain. Static agents fill it from
//! [`MetricDef`]s once; agents whose names come from outside (config
//! files, scripts) add and remove rows as their sources change.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::agent::def::{IndomDef, MetricDef};
use crate::desc::{Desc, Semantics, Type, Units};
use crate::error::{NamespaceError, PmError};
use crate::id::{InDom, Pmid};
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::namespace::Namespace;
use crate::pmda::{TextKind, TextTarget};

/// Static or owned text, so static tables never allocate for their strings.
pub type Text = Cow<'static, str>;

/// One metric of a [`Metrics`] table.
#[derive(Debug, Clone)]
pub struct Row<M> {
    /// The full name.
    pub name: Text,
    /// The descriptor (its PMID and InDom in the table's domain).
    pub desc: Desc,
    /// One-line help.
    pub oneline: Text,
    /// Long help (empty: the one-line text serves).
    pub help: Text,
    /// Item-level labels.
    pub labels: LabelSet,
    /// Whether clients may store into it.
    pub storable: bool,
    /// Empty help is answered as empty text rather than `PM_ERR_TEXT`: for
    /// metrics passed through from a source that gave them no help, which
    /// PCP's pass-through agents (pmdaopenmetrics) answer with an empty
    /// entry (`pminfo -t` prints `<empty entry>`).
    pub empty_help: bool,
    /// The agent's handle for the metric.
    pub metric: M,
}

/// Help text and, for a fixed domain, the instances of an instance domain.
#[derive(Debug, Clone, Default)]
pub struct IndomInfo {
    /// One-line help.
    pub oneline: Text,
    /// Long help.
    pub help: Text,
    /// Fixed instances; `None` when the agent lists them.
    pub instances: Option<Vec<Instance>>,
}

/// What a new row needs besides its name and handle: cluster, item, type,
/// semantics, units and instance-domain serial (`None`: singular).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Cluster number.
    pub cluster: u32,
    /// Item number.
    pub item: u32,
    /// Data type.
    pub ty: Type,
    /// Semantics.
    pub sem: Semantics,
    /// Units.
    pub units: Units,
    /// Instance-domain serial in the table's domain, or `None`.
    pub indom: Option<u32>,
}

/// An agent's metrics: rows by PMID, the namespace, instance domains.
#[derive(Debug, Clone)]
pub struct Metrics<M> {
    domain: u32,
    ns: Namespace,
    rows: Vec<Row<M>>,
    by_pmid: HashMap<Pmid, usize>,
    indoms: HashMap<u32, IndomInfo>,
}

impl From<&Desc> for Spec {
    /// The spec of an existing descriptor (its PMID's cluster and item, its
    /// instance domain's serial), for a row in a table of the same domain.
    fn from(d: &Desc) -> Spec {
        Spec {
            cluster: d.pmid.cluster(),
            item: d.pmid.item(),
            ty: d.ty,
            sem: d.sem,
            units: d.units,
            indom: (!d.indom.is_null()).then(|| d.indom.serial()),
        }
    }
}

impl<M: Copy> Metrics<M> {
    /// An empty table for `domain`.
    pub fn new(domain: u32) -> Metrics<M> {
        Metrics {
            domain,
            ns: Namespace::new(),
            rows: Vec::new(),
            by_pmid: HashMap::new(),
            indoms: HashMap::new(),
        }
    }

    /// A table of `defs` for `domain`. Fails on a duplicate name or PMID.
    pub fn from_defs<'a>(
        domain: u32,
        defs: impl IntoIterator<Item = &'a (M, MetricDef)>,
    ) -> Result<Metrics<M>, NamespaceError>
    where
        M: 'a,
    {
        let mut t = Metrics::new(domain);
        for (m, def) in defs {
            t.add_def(def, *m)?;
        }
        Ok(t)
    }

    /// The domain.
    pub fn domain(&self) -> u32 {
        self.domain
    }

    /// Adds the metric `def` with handle `metric` (and its instance
    /// domain's help and fixed instances, the first time it is seen).
    pub fn add_def(&mut self, def: &MetricDef, metric: M) -> Result<&mut Row<M>, NamespaceError> {
        self.add_def_at(def.name, def.cluster, def, metric)
    }

    /// Adds the metric `def` under another name and cluster: for a group
    /// of metrics repeated per source (each script's, each service's),
    /// declared once as a template whose `name` is the leaf. Type,
    /// semantics, units, instance domain, item, help and storable flag come
    /// from `def`.
    ///
    /// ```
    /// use pcp_core::agent::{MetricDef, Metrics};
    ///
    /// // One row per script, declared once; the name is the leaf.
    /// const STATUS: MetricDef = MetricDef::string("status", 0, 0).oneline("status of a script");
    /// let mut table: Metrics<(u32, u8)> = Metrics::new(151);
    /// for (cluster, script) in [(100, "a"), (101, "b")] {
    ///     let name = format!("demo.scripts.{script}.{}", STATUS.name);
    ///     table.add_def_at(name, cluster, &STATUS, (cluster, 0)).unwrap();
    /// }
    /// let b = table.by_name("demo.scripts.b.status").unwrap();
    /// assert_eq!(b.desc.pmid.to_string(), "151.101.0");
    /// assert_eq!(b.oneline, "status of a script");
    /// assert_eq!(b.metric, (101, 0));
    /// ```
    pub fn add_def_at(
        &mut self,
        name: impl Into<Text>,
        cluster: u32,
        def: &MetricDef,
        metric: M,
    ) -> Result<&mut Row<M>, NamespaceError> {
        if let Some(indom) = def.indom {
            self.define_indom(indom);
        }
        let spec = Spec {
            cluster,
            item: def.item,
            ty: def.ty,
            sem: def.sem,
            units: def.units,
            indom: def.indom.map(|i| i.serial),
        };
        let row = self.add(name, spec, metric)?;
        row.oneline = Cow::Borrowed(def.oneline);
        row.help = Cow::Borrowed(def.help);
        row.storable = def.storable;
        Ok(row)
    }

    /// Records an instance domain's help and fixed instances.
    pub fn define_indom(&mut self, def: &IndomDef) {
        self.indoms.entry(def.serial).or_insert_with(|| IndomInfo {
            oneline: Cow::Borrowed(def.oneline),
            help: Cow::Borrowed(def.help),
            instances: (!def.instances.is_empty()).then(|| {
                def.instances
                    .iter()
                    .map(|(id, name)| Instance::new(*id, *name))
                    .collect()
            }),
        });
    }

    /// Sets the help of instance domain `serial` (for agents whose
    /// instance domains come and go).
    pub fn set_indom_text(&mut self, serial: u32, oneline: impl Into<Text>, help: impl Into<Text>) {
        let e = self.indoms.entry(serial).or_default();
        e.oneline = oneline.into();
        e.help = help.into();
    }

    /// Adds a metric with no help. Fails if the name or PMID is taken, or
    /// the name is not a valid PCP name.
    pub fn add(
        &mut self,
        name: impl Into<Text>,
        spec: Spec,
        metric: M,
    ) -> Result<&mut Row<M>, NamespaceError> {
        let name = name.into();
        let pmid = Pmid::from_parts(self.domain, spec.cluster, spec.item);
        if let Some(&i) = self.by_pmid.get(&pmid) {
            return Err(NamespaceError::PmidInUse {
                pmid,
                name: name.into_owned(),
                other: self.rows[i].name.to_string(),
            });
        }
        self.ns.insert(&name, pmid)?;
        let indom = spec
            .indom
            .map_or(InDom::NULL, |s| InDom::from_parts(self.domain, s));
        self.by_pmid.insert(pmid, self.rows.len());
        self.rows.push(Row {
            name,
            desc: Desc::new(pmid, spec.ty, indom, spec.sem, spec.units),
            oneline: Cow::Borrowed(""),
            help: Cow::Borrowed(""),
            labels: LabelSet::new(),
            storable: false,
            empty_help: false,
            metric,
        });
        let last = self.rows.len() - 1;
        Ok(&mut self.rows[last])
    }

    /// Removes a metric; returns its row.
    pub fn remove(&mut self, pmid: Pmid) -> Option<Row<M>> {
        let i = self.by_pmid.remove(&pmid)?;
        let row = self.rows.swap_remove(i);
        if let Some(moved) = self.rows.get(i) {
            self.by_pmid.insert(moved.desc.pmid, i);
        }
        self.ns.remove(&row.name);
        Some(row)
    }

    /// Removes every metric `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&Row<M>) -> bool) {
        let gone: Vec<Pmid> = self
            .rows
            .iter()
            .filter(|r| !keep(r))
            .map(|r| r.desc.pmid)
            .collect();
        for p in gone {
            self.remove(p);
        }
    }

    /// The namespace of the table's metrics.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// The row of `pmid`.
    pub fn get(&self, pmid: Pmid) -> Option<&Row<M>> {
        self.by_pmid.get(&pmid).map(|&i| &self.rows[i])
    }

    /// The row of `pmid`, mutable (to set help, labels, the storable flag).
    pub fn get_mut(&mut self, pmid: Pmid) -> Option<&mut Row<M>> {
        self.by_pmid.get(&pmid).map(|&i| &mut self.rows[i])
    }

    /// The position of `pmid`'s row (for the fetch path: one hash per PMID).
    pub(crate) fn index_of(&self, pmid: Pmid) -> Option<usize> {
        self.by_pmid.get(&pmid).copied()
    }

    /// The row at a position [`Metrics::index_of`] gave.
    pub(crate) fn row_at(&self, i: usize) -> &Row<M> {
        &self.rows[i]
    }

    /// The row of metric `name`.
    pub fn by_name(&self, name: &str) -> Option<&Row<M>> {
        self.get(self.ns.lookup(name)?)
    }

    /// Every row, in no particular order.
    pub fn rows(&self) -> impl Iterator<Item = &Row<M>> {
        self.rows.iter()
    }

    /// Number of metrics.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The descriptor of `pmid`, or [`PmError::PMID`].
    pub fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.get(pmid).map(|r| r.desc).ok_or(PmError::PMID)
    }

    /// The help and fixed instances of instance domain `serial`.
    pub fn indom(&self, serial: u32) -> Option<&IndomInfo> {
        self.indoms.get(&serial)
    }

    /// Help text of a metric or instance domain, or [`PmError::TEXT`];
    /// long help falls back to the one-line text. Empty help is
    /// `PM_ERR_TEXT`, unless the row says empty help is an answer
    /// ([`Row::empty_help`]).
    pub fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError> {
        let (oneline, help, empty_ok) = match target {
            TextTarget::Metric(p) => {
                let r = self.get(p).ok_or(PmError::TEXT)?;
                (&r.oneline, &r.help, r.empty_help)
            }
            TextTarget::InDom(i) if i.domain() == self.domain => {
                let info = self.indoms.get(&i.serial()).ok_or(PmError::TEXT)?;
                (&info.oneline, &info.help, false)
            }
            TextTarget::InDom(_) => return Err(PmError::TEXT),
        };
        let s = match kind {
            TextKind::Help if !help.is_empty() => help,
            _ => oneline,
        };
        if s.is_empty() && !empty_ok {
            Err(PmError::TEXT)
        } else {
            Ok(s.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISKS: IndomDef = IndomDef::new(3, "disks").instances(&[(0, "sda")]);
    const DEFS: &[(u8, MetricDef)] = &[
        (0, MetricDef::u32("demo.one", 0, 0).oneline("first")),
        (
            1,
            MetricDef::u64("demo.two", 0, 1)
                .counter()
                .indom(&DISKS)
                .oneline("second")
                .help("second, at length"),
        ),
    ];

    #[test]
    fn defs_give_names_descs_help_and_indoms() {
        let t = Metrics::from_defs(400, DEFS).unwrap();
        let p = t.namespace().lookup("demo.two").unwrap();
        assert_eq!(p.to_string(), "400.0.1");
        assert_eq!(t.get(p).unwrap().metric, 1);
        assert_eq!(t.desc(p).unwrap().indom, InDom::from_parts(400, 3));
        assert_eq!(
            t.text(TextTarget::Metric(p), TextKind::Help).unwrap(),
            "second, at length"
        );
        let one = t.namespace().lookup("demo.one").unwrap();
        assert_eq!(
            t.text(TextTarget::Metric(one), TextKind::Help).unwrap(),
            "first"
        );
        let indom = InDom::from_parts(400, 3);
        assert_eq!(
            t.text(TextTarget::InDom(indom), TextKind::OneLine).unwrap(),
            "disks"
        );
        assert_eq!(t.indom(3).unwrap().instances.as_ref().unwrap().len(), 1);
        // The same definitions at another domain: every id moves with it.
        let moved = Metrics::from_defs(498, DEFS).unwrap();
        assert_eq!(
            moved.namespace().lookup("demo.two").unwrap().to_string(),
            "498.0.1"
        );
    }

    #[test]
    fn empty_help_is_an_answer_only_where_the_row_says() {
        let mut t = Metrics::from_defs(400, DEFS).unwrap();
        let spec = Spec {
            cluster: 1,
            item: 0,
            ty: Type::Double,
            sem: Semantics::Instant,
            units: Units::NONE,
            indom: None,
        };
        let bare = t.add("demo.bare", spec, 2).unwrap().desc.pmid;
        let quiet = t
            .add("demo.quiet", Spec { item: 1, ..spec }, 3)
            .unwrap()
            .desc
            .pmid;
        t.get_mut(quiet).unwrap().empty_help = true;
        for kind in [TextKind::OneLine, TextKind::Help] {
            assert_eq!(t.text(TextTarget::Metric(bare), kind), Err(PmError::TEXT));
            assert_eq!(t.text(TextTarget::Metric(quiet), kind), Ok(String::new()));
        }
    }

    #[test]
    fn duplicates_are_rejected_and_removal_keeps_the_index() {
        let mut t = Metrics::from_defs(400, DEFS).unwrap();
        let dup = MetricDef::u32("demo.three", 0, 0);
        assert!(matches!(
            t.add_def(&dup, 2),
            Err(NamespaceError::PmidInUse { .. })
        ));
        let one = t.namespace().lookup("demo.one").unwrap();
        t.remove(one).unwrap();
        assert!(t.namespace().lookup("demo.one").is_none());
        let two = t.namespace().lookup("demo.two").unwrap();
        assert_eq!(t.get(two).unwrap().name, "demo.two");
        assert_eq!(t.len(), 1);
    }
}
