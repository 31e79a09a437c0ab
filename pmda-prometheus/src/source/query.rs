//! What the agent asks of a source's metrics: values of the last complete
//! document, instances named as the reference names them, and labels at
//! each level.

use super::slots::Slot;
use super::{Metric, SourceState};
use pcp_core::{Instance, LabelSet, PmError, Value};

impl SourceState {
    /// The metric with `item`.
    pub fn metric(&self, item: u32) -> Option<&Metric> {
        self.by_item.get(&item).map(|&i| &self.metrics[i])
    }

    /// The current values of metric `item`: `PM_ERR_AGAIN` if the last
    /// attempt failed or the last document did not have the metric.
    pub fn values(&self, item: u32) -> Result<Vec<(u32, Value)>, PmError> {
        let m = self.metric(item).ok_or(PmError::PMID)?;
        if self.good_gen == 0 || m.filtered {
            return Err(PmError::AGAIN);
        }
        let g = self.good_gen;
        match &m.insts {
            None => match m.single.value_of(g) {
                Some(v) => Ok(vec![(pcp_core::PM_IN_NULL, v.clone())]),
                None => Err(PmError::AGAIN),
            },
            Some(i) => {
                let v: Vec<(u32, Value)> = i
                    .slots
                    .iter()
                    .filter_map(|s| Some((s.id, s.value_of(g)?.clone())))
                    .collect();
                if v.is_empty() {
                    Err(PmError::AGAIN)
                } else {
                    Ok(v)
                }
            }
        }
    }

    /// Every instance metric `item` ever had, named as the reference names
    /// them.
    pub fn instances(&self, item: u32) -> Option<Vec<Instance>> {
        let m = self.metric(item)?;
        let i = m.insts.as_ref()?;
        let prefix = !m.pcp_mode || i.prefix_mode;
        let mut v: Vec<Instance> = i
            .slots
            .iter()
            .map(|s| {
                let key = i.cache.name_of(s.id).unwrap_or("");
                let name = if !prefix {
                    key.to_string()
                } else if key.is_empty() {
                    s.id.to_string()
                } else {
                    format!("{} {key}", s.id)
                };
                Instance::new(s.id, name)
            })
            .collect();
        v.sort_by_key(|x| x.id);
        Some(v)
    }

    /// Labels of each instance of metric `item`: those of its sample (for
    /// instances seen in this run), and, as an optional label, `instname`:
    /// `"<id> <name>"` (the reference's note, always with the id).
    pub fn instance_labels(&self, item: u32) -> Vec<(u32, LabelSet)> {
        let Some(i) = self.metric(item).and_then(|m| m.insts.as_ref()) else {
            return Vec::new();
        };
        let mut v: Vec<(u32, LabelSet)> = i
            .slots
            .iter()
            .map(|s| {
                let mut l = s.labels.to_set();
                let key = i.cache.name_of(s.id).unwrap_or("");
                l.insert_optional("instname", format!("{} {key}", s.id).as_str());
                (s.id, l)
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }

    /// Item-level labels, as the reference keeps them: the (filtered)
    /// labels of the metric's first sample, then the labels of every
    /// sample that named its instance by labels, in the order seen (the
    /// last one's values win), without the optional labels; the optional
    /// labels are notes.
    pub fn item_labels(&self, item: u32) -> LabelSet {
        let Some(m) = self.metric(item) else {
            return LabelSet::new();
        };
        let mut out = m.labels.clone();
        if let Some(i) = &m.insts {
            let mut seen: Vec<&Slot> = i.slots.iter().filter(|s| s.merged && s.gen > 0).collect();
            seen.sort_by_key(|s| (s.gen, s.seq));
            for s in seen {
                for (k, v) in s.labels.pairs() {
                    out.insert(k, v);
                }
            }
        }
        let mut result = LabelSet::new();
        for l in out.iter() {
            if m.notes.get(&l.name).is_none() {
                result.insert(&l.name, l.value.clone());
            }
        }
        for n in m.notes.iter() {
            result.insert_optional(&n.name, n.value.clone());
        }
        result
    }
}
