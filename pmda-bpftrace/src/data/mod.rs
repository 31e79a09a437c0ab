//! A script's data: the metrics made from its maps and output, kept up to
//! date from parsed [`Event`](crate::event::Event)s.
//!
//! Maps become metrics under `bpftrace.scripts.NAME`:
//! - a map without keys is a singular metric `data.VAR`; a keyed map has an
//!   instance per key, named by bpftrace's rendering of the key;
//! - `hist()` / `lhist()` have an instance per bucket (`-inf--1`, `0-0`,
//!   `2-3`, ..., `1024-inf`, in numeric order); keyed histograms have
//!   `KEY BUCKET` instances;
//! - as in pmdabpftrace, every map the code assigns is a `U64` metric from
//!   registration on, with no units: `count()`, `hist()` and `lhist()`
//!   counters, everything else instant; where pmdabpftrace cannot serve the
//!   values (a negative number, a string, a fraction), the metric becomes a
//!   signed 64-bit, string or double metric the first time one is printed;
//! - `stats()` is three metrics, `data.VAR.count` (counter),
//!   `data.VAR.average` (instant) and `data.VAR.total` (counter);
//! - a map keyed by `kstack`/`ustack` also has `folded.VAR`, the folded-stack
//!   text (`outer;inner;leaf count` lines) flame-graph tools read;
//! - text output (printf, time, cat, ...) is the string `data.output`,
//!   bounded in size and honouring `// table-retain-lines`.
//!
//! Metrics appear when statically known (an aggregation function fixes the
//! type) or when bpftrace first prints the map. Items are numbered from 10
//! through the script's item id cache, persistent for named scripts.

mod apply;
mod folded;
mod query;
mod table;
#[cfg(test)]
mod tests;
mod text;
mod types;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use pcp_core::{IdCache, Instance, Semantics, Type, Units, Value};

use crate::code::{CodeInfo, Func};
use crate::event::Stats;

pub use folded::folded;
pub use text::{BoundedText, OutputBuf};

use table::Table;
use types::func_type;

/// First item number of data metrics (items 0-9 describe the script).
pub const FIRST_DATA_ITEM: u32 = 10;
/// Last item number.
pub const LAST_DATA_ITEM: u32 = 1023;

/// How a map's values are shaped, decided by the message that printed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One value per key (or a single value).
    Value,
    /// Histogram buckets.
    Histogram,
    /// stats(): count, average, total.
    Stats,
}

/// Which metric of a variable an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The values (for stats: the count).
    Main,
    /// stats() average.
    Average,
    /// stats() total.
    Total,
    /// Folded stacks text.
    Folded,
}

/// A variable's definition: how its metrics look.
#[derive(Debug, Clone, PartialEq)]
pub struct VarDef {
    /// The map's name with `@` (`@output` for text output).
    pub name: String,
    /// Metric leaf (`@` alone gives `root`).
    pub leaf: String,
    /// The aggregation function, when known from the code.
    pub func: Option<Func>,
    /// Whether the map has keys.
    pub keyed: bool,
    /// Keys hold stacks.
    pub stacks: bool,
    /// Value shape.
    pub shape: Shape,
    /// Value type of the main metric.
    pub ty: Type,
    /// Semantics of the main metric.
    pub sem: Semantics,
    /// Item of the main metric.
    pub item: u32,
    /// Items of the average and total metrics (stats only).
    pub stats_items: Option<(u32, u32)>,
    /// Item of the folded-stack metric (stack maps only).
    pub folded_item: Option<u32>,
}

impl VarDef {
    /// The `metrictype` label value, as pmdabpftrace (and grafana-pcp) use it.
    pub fn metrictype(&self) -> Option<&'static str> {
        if self.name == "@output" && self.ty == Type::String && !self.keyed {
            return Some("output");
        }
        match self.shape {
            Shape::Histogram => Some("histogram"),
            Shape::Stats => Some("stats"),
            Shape::Value if self.stacks => Some("stacks"),
            Shape::Value => None,
        }
    }

    fn is_output(&self) -> bool {
        self.name == "@output"
    }

    fn units(&self, part: Part) -> Units {
        // pmdabpftrace gives its metrics no units; stats() is ours alone.
        match (self.shape, part) {
            (Shape::Stats, Part::Main) => Units::COUNT,
            _ => Units::NONE,
        }
    }
}

#[derive(Debug, Clone)]
enum Val {
    One(Value),
    Stats(Stats),
}

#[derive(Debug)]
struct Var {
    def: VarDef,
    table: Table,
    single: Option<Val>,
    has_value: bool,
    sorted: Option<Vec<Instance>>,
    /// The main metric's values since the last print (fetches between
    /// two prints copy this dense list instead of walking the table).
    values: OnceLock<Vec<(u32, Value)>>,
}

impl Var {
    fn new(def: VarDef) -> Var {
        Var {
            def,
            table: Table::default(),
            single: None,
            has_value: false,
            sorted: None,
            values: OnceLock::new(),
        }
    }

    fn clear(&mut self) {
        self.table.begin();
        self.single = None;
        self.has_value = false;
        self.sorted = None;
        self.values.take();
    }
}

fn leaf_of(name: &str) -> String {
    let bare = name.trim_start_matches('@');
    if bare.is_empty() {
        return "root".into();
    }
    pcp_core::namespace::sanitize_component(bare)
}

/// What applying an event changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Map data or output arrived.
    pub data: bool,
    /// Metrics were added or redefined.
    pub names: bool,
}

/// Everything the agent keeps about a script's maps and output.
#[derive(Debug)]
pub struct ScriptData {
    domain: u32,
    cluster: u32,
    info: Arc<CodeInfo>,
    items: IdCache,
    vars: Vec<Var>,
    by_name: HashMap<String, usize>,
    by_item: HashMap<u32, (usize, Part)>,
    leaves: HashSet<String>,
    output: Option<(usize, OutputBuf)>,
    max_output: usize,
    seen: HashSet<usize>,
    /// Messages to log (item ids exhausted and the like), drained by the caller.
    pub warnings: Vec<String>,
}

impl ScriptData {
    /// Data for a script in `cluster`, with metrics for the maps whose type
    /// the code fixes (aggregation functions) and for text output.
    pub fn new(
        domain: u32,
        cluster: u32,
        info: Arc<CodeInfo>,
        items: IdCache,
        max_output: usize,
    ) -> ScriptData {
        let mut d = ScriptData {
            domain,
            cluster,
            info: info.clone(),
            items,
            vars: Vec::new(),
            by_name: HashMap::new(),
            by_item: HashMap::new(),
            leaves: HashSet::new(),
            output: None,
            max_output,
            seen: HashSet::new(),
            warnings: Vec::new(),
        };
        // Every assigned map, in the order of the code, as pmdabpftrace.
        for m in &info.maps {
            let shape = match m.func {
                Some(Func::Hist | Func::Lhist) => Shape::Histogram,
                Some(Func::Stats) => Shape::Stats,
                None => continue,
                _ => Shape::Value,
            };
            if let Some((ty, sem)) = func_type(m.func) {
                let _ = d.define(&m.name, shape, m.keyed, m.stacks, ty, sem, m.func);
            }
        }
        if info.has_output && info.exports_output() {
            d.ensure_output();
        }
        d
    }

    /// The script's cluster.
    pub fn cluster(&self) -> u32 {
        self.cluster
    }

    fn assign_item(&mut self, key: &str) -> Option<u32> {
        match self.items.assign(key) {
            Ok(i) => {
                if let Err(e) = self.items.save() {
                    self.warnings.push(format!("saving item ids: {e}"));
                }
                Some(i)
            }
            Err(e) => {
                self.warnings.push(format!("no metric for {key}: {e}"));
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn define(
        &mut self,
        name: &str,
        shape: Shape,
        keyed: bool,
        stacks: bool,
        ty: Type,
        sem: Semantics,
        func: Option<Func>,
    ) -> Option<usize> {
        let item = self.assign_item(name)?;
        let stats_items = if shape == Shape::Stats {
            Some((
                self.assign_item(&format!("{name}#average"))?,
                self.assign_item(&format!("{name}#total"))?,
            ))
        } else {
            None
        };
        let folded_item = if stacks && keyed && shape == Shape::Value {
            self.assign_item(&format!("{name}#folded"))
        } else {
            None
        };
        if let Some(&idx) = self.by_name.get(name) {
            // Redefinition (the printed shape contradicts the code): keep
            // the leaf and the items, change the descriptor.
            let v = &mut self.vars[idx];
            v.def.shape = shape;
            v.def.keyed = keyed;
            v.def.stacks = stacks;
            v.def.ty = ty;
            v.def.sem = sem;
            v.def.func = func;
            v.def.stats_items = stats_items;
            v.def.folded_item = folded_item;
            v.clear();
            self.index_items(idx);
            return Some(idx);
        }
        let mut leaf = leaf_of(name);
        if self.leaves.contains(&leaf) {
            leaf = format!("{leaf}_{item}");
        }
        self.leaves.insert(leaf.clone());
        let def = VarDef {
            name: name.to_string(),
            leaf,
            func,
            keyed,
            stacks,
            shape,
            ty,
            sem,
            item,
            stats_items,
            folded_item,
        };
        let idx = self.vars.len();
        self.vars.push(Var::new(def));
        self.by_name.insert(name.to_string(), idx);
        self.index_items(idx);
        Some(idx)
    }

    fn index_items(&mut self, idx: usize) {
        self.by_item.retain(|_, (v, _)| *v != idx);
        let def = &self.vars[idx].def;
        self.by_item.insert(def.item, (idx, Part::Main));
        if let Some((a, t)) = def.stats_items {
            self.by_item.insert(a, (idx, Part::Average));
            self.by_item.insert(t, (idx, Part::Total));
        }
        if let Some(f) = def.folded_item {
            self.by_item.insert(f, (idx, Part::Folded));
        }
    }

    fn ensure_output(&mut self) -> Option<usize> {
        if let Some((idx, _)) = &self.output {
            return Some(*idx);
        }
        let idx = self.define(
            "@output",
            Shape::Value,
            false,
            false,
            Type::String,
            Semantics::Instant,
            None,
        )?;
        self.output = Some((
            idx,
            OutputBuf::new(self.info.metadata.table_retain_lines, self.max_output),
        ));
        Some(idx)
    }

    /// Forgets all values (a restart), keeping the metrics.
    pub fn reset(&mut self) {
        for v in &mut self.vars {
            v.clear();
        }
        if let Some((_, buf)) = &mut self.output {
            *buf = OutputBuf::new(self.info.metadata.table_retain_lines, self.max_output);
        }
        self.seen.clear();
    }
}
