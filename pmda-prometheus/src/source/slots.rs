//! What a metric keeps per instance: its values across the document being
//! read and the last complete one ([`Slot`]), its labels packed into one
//! string, and the instance table of a metric with instances.

use super::FastMap;
use crate::parse::LabelValue;
use pcp_core::{IdCache, LabelSet, Value};
use std::sync::Arc;

/// One instance's values. A document is read in pieces with the source
/// unlocked in between, so readers must still see the last complete
/// document while a newer one is half read: `prev` keeps the value of the
/// last complete document when the one being read replaces `value`.
pub(super) struct Slot {
    pub(super) id: u32,
    pub(super) gen: u64,
    /// Position of its sample in the document of generation `gen`.
    pub(super) seq: u64,
    pub(super) value: Value,
    pub(super) prev: (u64, Value),
    pub(super) labels: PackedLabels,
    /// Its labels name it (not an `instname`): they also go to the
    /// metric's labels, as the reference's do.
    pub(super) merged: bool,
}

impl Slot {
    pub(super) fn new(id: u32, labels: PackedLabels, merged: bool) -> Slot {
        Slot {
            id,
            gen: 0,
            seq: 0,
            value: Value::Double(0.0),
            prev: (0, Value::Double(0.0)),
            labels,
            merged,
        }
    }

    /// The value of document `good`, if this instance had one.
    pub(super) fn value_of(&self, good: u64) -> Option<&Value> {
        if self.gen == good {
            Some(&self.value)
        } else if self.prev.0 == good {
            Some(&self.prev.1)
        } else {
            None
        }
    }

    /// Stores the value of document `gen`, keeping the last complete
    /// document's value (`good`) aside.
    pub(super) fn set(&mut self, gen: u64, good: u64, value: Value) {
        if self.gen != gen && self.gen == good {
            self.prev = (self.gen, std::mem::replace(&mut self.value, value));
        } else {
            self.value = value;
        }
        self.gen = gen;
    }
}

/// An instance's labels packed in one allocation (`name`, `value`, each
/// preceded by its length and a colon), made into a [`LabelSet`] only
/// when asked: a source may keep a million instances.
#[derive(Debug, Clone, Default)]
pub(super) struct PackedLabels(Option<Box<str>>);

impl PackedLabels {
    pub(super) fn pack(pairs: &[(&str, LabelValue<'_>)]) -> PackedLabels {
        let mut out = String::new();
        let mut value = String::new();
        for (k, v) in pairs {
            if *k == "instname" {
                continue;
            }
            value.clear();
            v.unescape_into(&mut value);
            for part in [*k, value.as_str()] {
                out.push_str(&part.len().to_string());
                out.push(':');
                out.push_str(part);
            }
        }
        PackedLabels((!out.is_empty()).then(|| out.into_boxed_str()))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    pub(super) fn bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |s| s.len())
    }

    pub(super) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest = self.0.as_deref().unwrap_or("");
        let mut next = move || {
            let (len, tail) = rest.split_once(':')?;
            let len: usize = len.parse().ok()?;
            let part = tail.get(..len)?;
            rest = &tail[len..];
            Some(part)
        };
        std::iter::from_fn(move || Some((next()?, next()?)))
    }

    pub(super) fn to_set(&self) -> LabelSet {
        let mut set = LabelSet::new();
        for (k, v) in self.pairs() {
            set.insert(k, v);
        }
        set
    }
}

pub(super) struct Insts {
    pub(super) cache: IdCache,
    /// Instance key to slot; the key text is shared with the id cache.
    pub(super) index: FastMap<Arc<str>, u32>,
    pub(super) slots: Vec<Slot>,
    /// PCP5 metrics: instances are named by their `instname` label unless
    /// one lacks it, which turns on the "<id> labels" naming for all.
    pub(super) prefix_mode: bool,
}
