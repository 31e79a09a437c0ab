//! What the agent asks of a script's data: metric names, descriptors and
//! help, values and instances.

use std::borrow::Cow;

use pcp_core::{Desc, InDom, Instance, PmError, Pmid, Semantics, Type, Value, PM_IN_NULL};

use super::folded::folded;
use super::table::{part_value, table_values};
use super::{Part, ScriptData, Shape, Val, VarDef};

impl ScriptData {
    /// The metrics: name below `bpftrace.scripts.NAME.` and PMID.
    pub fn names(&self) -> Vec<(String, Pmid)> {
        let mut out = Vec::new();
        for v in &self.vars {
            let d = &v.def;
            let pmid = |item| Pmid::from_parts(self.domain, self.cluster, item);
            match d.stats_items {
                Some((a, t)) => {
                    out.push((format!("data.{}.count", d.leaf), pmid(d.item)));
                    out.push((format!("data.{}.average", d.leaf), pmid(a)));
                    out.push((format!("data.{}.total", d.leaf), pmid(t)));
                }
                None => out.push((format!("data.{}", d.leaf), pmid(d.item))),
            }
            if let Some(f) = d.folded_item {
                out.push((format!("folded.{}", d.leaf), pmid(f)));
            }
        }
        out
    }

    /// The variable definitions, in definition order.
    pub fn defs(&self) -> impl Iterator<Item = &VarDef> {
        self.vars.iter().map(|v| &v.def)
    }

    fn indom_of(&self, d: &VarDef) -> InDom {
        if d.keyed || d.shape == Shape::Histogram {
            InDom::from_parts(self.domain, self.cluster * 1000 + d.item)
        } else {
            InDom::NULL
        }
    }

    /// Descriptor of a data item (what every fetch checks: no help text
    /// is built).
    pub fn metric_desc(&self, item: u32) -> Option<Desc> {
        let &(idx, part) = self.by_item.get(&item)?;
        let d = &self.vars[idx].def;
        let pmid = Pmid::from_parts(self.domain, self.cluster, item);
        let indom = self.indom_of(d);
        let (ty, sem, indom) = match part {
            Part::Main if d.shape == Shape::Stats => (Type::U64, Semantics::Counter, indom),
            Part::Main => (d.ty, d.sem, indom),
            Part::Average => (Type::I64, Semantics::Instant, indom),
            Part::Total => (Type::I64, Semantics::Counter, indom),
            Part::Folded => (Type::String, Semantics::Instant, InDom::NULL),
        };
        Some(Desc::new(pmid, ty, indom, sem, d.units(part)))
    }

    /// Descriptor, help text and metrictype label of a data item.
    pub fn desc(&self, item: u32) -> Option<(Desc, String, Option<&'static str>)> {
        let desc = self.metric_desc(item)?;
        let &(idx, part) = self.by_item.get(&item)?;
        let d = &self.vars[idx].def;
        let (help, mt) = match part {
            Part::Main if d.shape == Shape::Stats => (
                format!("number of values added to the stats() map {}", d.name),
                d.metrictype(),
            ),
            // pmdabpftrace's words, for its maps and its @output.
            Part::Main => (
                format!("{} variable of bpftrace script", d.name),
                d.metrictype(),
            ),
            Part::Average => (
                format!("integer average of the stats() map {}", d.name),
                d.metrictype(),
            ),
            Part::Total => (
                format!("sum of the values of the stats() map {}", d.name),
                d.metrictype(),
            ),
            Part::Folded => (
                format!(
                    "the stacks of {} as folded stacks with their counts, for flame graphs",
                    d.name
                ),
                Some("folded"),
            ),
        };
        Some((desc, help, mt))
    }

    /// The values of a data item.
    pub fn fetch(&self, item: u32) -> Result<Vec<(u32, Value)>, PmError> {
        self.values(item).map(Cow::into_owned)
    }

    /// The values of a data item, borrowed where they are kept: a keyed
    /// map's values between two prints are lent, not copied, so a fetch
    /// copies them once, into its answer.
    pub fn values(&self, item: u32) -> Result<Cow<'_, [(u32, Value)]>, PmError> {
        let &(idx, part) = self.by_item.get(&item).ok_or(PmError::PMID)?;
        let var = &self.vars[idx];
        if var.def.is_output() {
            return match &self.output {
                Some((_, buf)) if var.has_value => {
                    Ok(Cow::Owned(vec![(PM_IN_NULL, Value::String(buf.text()))]))
                }
                _ => Err(PmError::VALUE),
            };
        }
        let singular = !(var.def.keyed || var.def.shape == Shape::Histogram);
        if singular {
            let v = var.single.as_ref().ok_or(PmError::VALUE)?;
            return Ok(Cow::Owned(vec![(PM_IN_NULL, part_value(v, part))]));
        }
        if part == Part::Folded {
            let text = folded(var.table.current().filter_map(|e| match &e.val {
                Val::One(v) => v.as_f64().map(|c| (e.name.to_string(), c as i128)),
                Val::Stats(_) => None,
            }));
            return Ok(Cow::Owned(vec![(PM_IN_NULL, Value::String(text))]));
        }
        if part == Part::Main {
            let values = var.values.get_or_init(|| table_values(&var.table, part));
            return Ok(Cow::Borrowed(values));
        }
        Ok(Cow::Owned(table_values(&var.table, part)))
    }

    /// The instances of a data indom, in pmdabpftrace's order (keys as
    /// strings, buckets numerically), or `None` if the indom is not ours.
    pub fn instances(&mut self, serial: u32) -> Option<Vec<Instance>> {
        let item = serial.checked_sub(self.cluster * 1000)?;
        let &(idx, _) = self.by_item.get(&item)?;
        let var = &mut self.vars[idx];
        if var.def.item != item || !(var.def.keyed || var.def.shape == Shape::Histogram) {
            return None;
        }
        if var.sorted.is_none() {
            var.sorted = Some(
                var.table
                    .sorted()
                    .iter()
                    .map(|e| Instance::new(e.id, &*e.name))
                    .collect(),
            );
        }
        var.sorted.clone()
    }

    /// Whether any values arrived since the last start.
    pub fn has_data(&self) -> bool {
        self.vars.iter().any(|v| v.has_value)
    }
}
