//! A metric table: one row per metric (name, descriptor, help), from which
//! an agent's namespace, descriptors and help text all come. Adding a metric
//! is adding a row.

use std::collections::HashMap;

use crate::desc::{Desc, Semantics, Type, Units};
use crate::error::{NamespaceError, PmError};
use crate::id::{InDom, Pmid};
use crate::labels::LabelSet;
use crate::namespace::Namespace;
use crate::pmda::{TextKind, TextTarget};

/// One row of a static metric table, suitable for a `const` array.
#[derive(Debug, Clone, Copy)]
pub struct MetricRow {
    /// Full dotted name.
    pub name: &'static str,
    /// Cluster number.
    pub cluster: u32,
    /// Item number.
    pub item: u32,
    /// Data type.
    pub ty: Type,
    /// Instance-domain serial, or `None` for a singular metric.
    pub indom: Option<u32>,
    /// Semantics.
    pub sem: Semantics,
    /// Units.
    pub units: Units,
    /// One-line help.
    pub oneline: &'static str,
    /// Long help (empty: the one-line text serves).
    pub help: &'static str,
}

/// A metric's descriptor and help text, as held by a [`MetricTable`].
#[derive(Debug, Clone)]
pub struct MetricInfo {
    /// The full name.
    pub name: String,
    /// The descriptor.
    pub desc: Desc,
    /// One-line help.
    pub oneline: String,
    /// Long help (may be empty).
    pub help: String,
    /// Item-level labels.
    pub labels: LabelSet,
}

/// An agent's metrics: namespace, descriptors, help and item labels.
#[derive(Debug, Clone, Default)]
pub struct MetricTable {
    domain: u32,
    ns: Namespace,
    metrics: HashMap<Pmid, MetricInfo>,
    indom_text: HashMap<InDom, (String, String)>,
}

impl MetricTable {
    /// An empty table for `domain`.
    pub fn new(domain: u32) -> MetricTable {
        MetricTable {
            domain,
            ..Default::default()
        }
    }

    /// A table built from static rows. Fails on a duplicate name or an
    /// out-of-range identifier.
    pub fn from_rows(domain: u32, rows: &[MetricRow]) -> Result<MetricTable, NamespaceError> {
        let mut t = MetricTable::new(domain);
        for r in rows {
            let pmid = Pmid::from_parts(domain, r.cluster, r.item);
            let indom = r
                .indom
                .map_or(InDom::NULL, |s| InDom::from_parts(domain, s));
            t.add(
                r.name,
                Desc::new(pmid, r.ty, indom, r.sem, r.units),
                r.oneline,
                r.help,
            )?;
        }
        Ok(t)
    }

    /// The domain.
    pub fn domain(&self) -> u32 {
        self.domain
    }

    /// Adds a metric. Fails if the name is taken or conflicts with another.
    pub fn add(
        &mut self,
        name: &str,
        desc: Desc,
        oneline: impl Into<String>,
        help: impl Into<String>,
    ) -> Result<&mut MetricInfo, NamespaceError> {
        if let Some(other) = self.metrics.get(&desc.pmid) {
            return Err(NamespaceError::PmidInUse {
                pmid: desc.pmid,
                name: name.to_string(),
                other: other.name.clone(),
            });
        }
        self.ns.insert(name, desc.pmid)?;
        let info = MetricInfo {
            name: name.to_string(),
            desc,
            oneline: oneline.into(),
            help: help.into(),
            labels: LabelSet::new(),
        };
        Ok(self.metrics.entry(desc.pmid).or_insert(info))
    }

    /// Removes a metric by PMID.
    pub fn remove(&mut self, pmid: Pmid) -> Option<MetricInfo> {
        let info = self.metrics.remove(&pmid)?;
        self.ns.remove(&info.name);
        Some(info)
    }

    /// Sets the help text of an instance domain.
    pub fn set_indom_text(&mut self, indom: InDom, oneline: &str, help: &str) {
        self.indom_text
            .insert(indom, (oneline.to_string(), help.to_string()));
    }

    /// The namespace of the table's metrics.
    pub fn namespace(&self) -> &Namespace {
        &self.ns
    }

    /// A metric's row.
    pub fn get(&self, pmid: Pmid) -> Option<&MetricInfo> {
        self.metrics.get(&pmid)
    }

    /// A metric's row, mutable (to set labels or help after adding).
    pub fn get_mut(&mut self, pmid: Pmid) -> Option<&mut MetricInfo> {
        self.metrics.get_mut(&pmid)
    }

    /// Every metric.
    pub fn iter(&self) -> impl Iterator<Item = &MetricInfo> {
        self.metrics.values()
    }

    /// Number of metrics.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The descriptor, or [`PmError::PMID`].
    pub fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.metrics.get(&pmid).map(|m| m.desc).ok_or(PmError::PMID)
    }

    /// Help text for a metric or instance domain, or [`PmError::TEXT`].
    /// Long help falls back to the one-line text when there is none.
    pub fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError> {
        let (oneline, help) = match target {
            TextTarget::Metric(p) => {
                let m = self.metrics.get(&p).ok_or(PmError::TEXT)?;
                (&m.oneline, &m.help)
            }
            TextTarget::InDom(i) => {
                let t = self.indom_text.get(&i).ok_or(PmError::TEXT)?;
                (&t.0, &t.1)
            }
        };
        let s = match kind {
            TextKind::OneLine => oneline,
            TextKind::Help if help.is_empty() => oneline,
            TextKind::Help => help,
        };
        if s.is_empty() {
            Err(PmError::TEXT)
        } else {
            Ok(s.clone())
        }
    }

    /// Item-level labels of a metric (empty if it has none or is unknown).
    pub fn item_labels(&self, pmid: Pmid) -> LabelSet {
        self.metrics
            .get(&pmid)
            .map(|m| m.labels.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROWS: &[MetricRow] = &[
        MetricRow {
            name: "demo.one",
            cluster: 0,
            item: 0,
            ty: Type::U32,
            indom: None,
            sem: Semantics::Instant,
            units: Units::NONE,
            oneline: "first",
            help: "",
        },
        MetricRow {
            name: "demo.two",
            cluster: 0,
            item: 1,
            ty: Type::U64,
            indom: Some(0),
            sem: Semantics::Counter,
            units: Units::COUNT,
            oneline: "second",
            help: "second, at length",
        },
    ];

    #[test]
    fn rows_give_names_descs_and_help() {
        let t = MetricTable::from_rows(400, ROWS).unwrap();
        let p = t.namespace().lookup("demo.two").unwrap();
        assert_eq!(p.to_string(), "400.0.1");
        assert_eq!(t.desc(p).unwrap().indom, InDom::from_parts(400, 0));
        assert_eq!(
            t.text(TextTarget::Metric(p), TextKind::Help).unwrap(),
            "second, at length"
        );
        let p1 = t.namespace().lookup("demo.one").unwrap();
        assert_eq!(
            t.text(TextTarget::Metric(p1), TextKind::Help).unwrap(),
            "first"
        );
        assert_eq!(t.desc(Pmid::from_parts(400, 9, 9)), Err(PmError::PMID));
    }

    #[test]
    fn duplicate_pmid_is_rejected() {
        let mut rows = ROWS.to_vec();
        rows[1].item = 0;
        rows[1].name = "demo.three";
        assert!(matches!(
            MetricTable::from_rows(400, &rows),
            Err(NamespaceError::PmidInUse { .. })
        ));
    }
}
