//! Applying parsed events to a script's data: map prints, text output and
//! the end-of-print-block marker.

use pcp_core::{Semantics, Type};

use super::table::push_buckets;
use super::types::{convert, func_type, type_needed, wider};
use super::{Applied, ScriptData, Shape, Val};
use crate::code::{Func, SYNC_MARKER};
use crate::event::{Event, MapData, TextKind};

impl ScriptData {
    /// Applies one event.
    pub fn apply(&mut self, ev: Event<'_>) -> Applied {
        let mut out = Applied::default();
        match ev {
            Event::Text(kind, text) => {
                if kind == TextKind::Printf && text == SYNC_MARKER {
                    self.end_of_print_block();
                    return out;
                }
                if !self.info.exports_output() {
                    return out;
                }
                let had = self.output.is_some();
                if self.ensure_output().is_some() {
                    out.names = !had;
                    if let Some((idx, buf)) = &mut self.output {
                        buf.push(&text);
                        self.vars[*idx].has_value = true;
                    }
                    out.data = true;
                }
            }
            Event::Maps(maps) => {
                for (name, data) in maps {
                    if name == "@output" && self.output.is_some() {
                        continue;
                    }
                    if !self.info.exports(&name) {
                        continue;
                    }
                    let r = self.apply_map(&name, data);
                    out.data |= r.data;
                    out.names |= r.names;
                }
            }
            _ => {}
        }
        out
    }

    fn end_of_print_block(&mut self) {
        let printed: Vec<usize> = self
            .info
            .maps
            .iter()
            .filter_map(|m| self.by_name.get(&m.name).copied())
            .collect();
        for idx in printed {
            if !self.seen.contains(&idx) {
                self.vars[idx].clear();
            }
        }
        self.seen.clear();
    }

    fn apply_map(&mut self, name: &str, data: MapData<'_>) -> Applied {
        let mut applied = Applied {
            data: true,
            names: false,
        };
        let code = self.info.maps.iter().find(|m| m.name == name);
        let func = code.and_then(|m| m.func);
        let code_stacks = code.is_some_and(|m| m.stacks);
        let (shape, keyed) = match &data {
            MapData::Scalar(_) => (Shape::Value, false),
            MapData::Keyed(_) => (Shape::Value, true),
            MapData::Hist(_) => (Shape::Histogram, false),
            MapData::KeyedHist(_) => (Shape::Histogram, true),
            MapData::Stats(_) => (Shape::Stats, false),
            MapData::KeyedStats(_) => (Shape::Stats, true),
        };
        // The type the printed values need, for maps whose values pmdabpftrace's
        // U64 may not hold.
        let needed = match &data {
            MapData::Scalar(s) if func != Some(Func::Count) => Some(type_needed(s)),
            MapData::Keyed(e) if func != Some(Func::Count) => {
                e.iter().map(|(_, s)| type_needed(s)).reduce(wider)
            }
            _ => None,
        };
        let idx = match self.by_name.get(name).copied() {
            Some(idx)
                if self.vars[idx].def.shape == shape
                    && self.vars[idx].def.keyed == keyed
                    && needed.is_none_or(|t| {
                        wider(self.vars[idx].def.ty, t) == self.vars[idx].def.ty
                    }) =>
            {
                idx
            }
            existing => {
                let stacks = code_stacks
                    || matches!(&data, MapData::Keyed(e) if !e.is_empty() && e.iter().all(|(k, _)| looks_like_stack(k)));
                let (ty, sem) = match shape {
                    Shape::Histogram => (Type::U64, Semantics::Counter),
                    Shape::Stats => (Type::I64, Semantics::Instant),
                    Shape::Value => {
                        let (ty, sem) = func_type(func.or(Some(Func::Plain)))
                            .unwrap_or((Type::U64, Semantics::Instant));
                        let before = existing.map_or(ty, |i| self.vars[i].def.ty);
                        (wider(wider(ty, before), needed.unwrap_or(ty)), sem)
                    }
                };
                if existing.is_some_and(|i| {
                    self.vars[i].def.shape != shape || self.vars[i].def.keyed != keyed
                }) {
                    self.warnings.push(format!(
                        "{name}: bpftrace printed a different shape than expected; metric redefined"
                    ));
                }
                match self.define(name, shape, keyed, stacks, ty, sem, func) {
                    Some(idx) => {
                        applied.names = true;
                        idx
                    }
                    None => return Applied::default(),
                }
            }
        };
        self.seen.insert(idx);
        let var = &mut self.vars[idx];
        let ty = var.def.ty;
        var.table.begin();
        var.single = None;
        match data {
            MapData::Scalar(s) => var.single = convert(&s, ty).map(Val::One),
            MapData::Keyed(kv) => {
                for (k, s) in kv {
                    if let Some(v) = convert(&s, ty) {
                        var.table.set(&k, k.len(), 0, Val::One(v));
                    }
                }
            }
            MapData::Hist(buckets) => push_buckets(&mut var.table, None, &buckets),
            MapData::KeyedHist(kb) => {
                for (k, buckets) in kb {
                    push_buckets(&mut var.table, Some(&k), &buckets);
                }
            }
            MapData::Stats(s) => var.single = Some(Val::Stats(s)),
            MapData::KeyedStats(ks) => {
                for (k, s) in ks {
                    var.table.set(&k, k.len(), 0, Val::Stats(s));
                }
            }
        }
        var.table.finish();
        var.has_value = var.single.is_some() || var.table.live > 0;
        var.sorted = None;
        var.values.take();
        applied
    }
}

fn looks_like_stack(key: &str) -> bool {
    key.starts_with("\n    ") || key.contains("\n,") && key.contains("\n    ")
}
