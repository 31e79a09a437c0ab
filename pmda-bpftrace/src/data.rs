//! A script's data: the metrics made from its maps and output, kept up to
//! date from parsed [`Event`]s.
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

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock};

use pcp_core::{
    Desc, IdCache, InDom, Instance, PmError, Pmid, Semantics, Type, Units, Value, PM_IN_NULL,
};

use crate::code::{CodeInfo, Func, SYNC_MARKER};
use crate::event::{Bucket, Event, MapData, Scalar, Stats, TextKind};

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

/// FxHash (rustc's hasher): map keys come from our own bpftrace, and the
/// table is rebuilt from each print, so a fast non-keyed hash is right.
#[derive(Debug, Default, Clone, Copy)]
struct Fx(u64);

impl std::hash::Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ b as u64).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<Fx>;

/// One instance of a keyed map (or bucket of a histogram).
#[derive(Debug)]
struct Slot {
    name: Arc<str>,
    id: u32,
    /// The print it was last seen in: only slots of the current print are
    /// instances.
    stamp: u64,
    /// Sorting: `name[..key_len]` (the map key), then `rank` (the bucket's
    /// lower bound).
    key_len: u32,
    rank: i64,
    val: Val,
}

/// The instances of a keyed map: each name keeps its id for the agent's
/// lifetime (ids are never reused), values are updated in place at each
/// print, and names missing from the print drop out.
#[derive(Debug, Default)]
struct Table {
    index: HashMap<Arc<str>, u32, FxBuild>,
    slots: Vec<Slot>,
    next_id: u32,
    stamp: u64,
    live: usize,
}

impl Table {
    /// Starts a new print of the map.
    fn begin(&mut self) {
        self.stamp += 1;
        self.live = 0;
    }

    /// Sets `name`'s value in the current print (a key printed twice keeps
    /// the last value).
    fn set(&mut self, name: &str, key_len: usize, rank: i64, val: Val) {
        if let Some(&i) = self.index.get(name) {
            let s = &mut self.slots[i as usize];
            if s.stamp != self.stamp {
                s.stamp = self.stamp;
                self.live += 1;
            }
            s.key_len = key_len as u32;
            s.rank = rank;
            s.val = val;
            return;
        }
        let name: Arc<str> = Arc::from(name);
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.index.insert(name.clone(), self.slots.len() as u32);
        self.slots.push(Slot {
            name,
            id,
            stamp: self.stamp,
            key_len: key_len as u32,
            rank,
            val,
        });
        self.live += 1;
    }

    /// Ends a print: names long gone are forgotten when the table grows
    /// well past the current count (maps keyed by pid or similar do not
    /// grow memory for ever); a forgotten name that comes back gets a new id.
    fn finish(&mut self) {
        if self.slots.len() > (self.live * 2).max(4096) {
            let stamp = self.stamp;
            self.slots.retain(|s| s.stamp == stamp);
            self.index.clear();
            for (i, s) in self.slots.iter().enumerate() {
                self.index.insert(s.name.clone(), i as u32);
            }
        }
    }

    /// The current instances.
    fn current(&self) -> impl Iterator<Item = &Slot> {
        let stamp = self.stamp;
        self.slots.iter().filter(move |s| s.stamp == stamp)
    }

    /// The current slots in instance order: by map key, then by bucket
    /// (pmdabpftrace's indom order, in which it also answers fetches).
    fn sorted(&self) -> Vec<&Slot> {
        let mut order: Vec<&Slot> = self.current().collect();
        order.sort_by(|a, b| {
            a.name[..a.key_len as usize]
                .cmp(&b.name[..b.key_len as usize])
                .then(a.rank.cmp(&b.rank))
        });
        order
    }
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

/// Text that keeps its first and last bytes within a bound (stderr).
#[derive(Debug, Clone, Default)]
pub struct BoundedText {
    head: String,
    tail: String,
    omitted: u64,
    max: usize,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl BoundedText {
    /// Keeps at most about `max` bytes.
    pub fn new(max: usize) -> BoundedText {
        BoundedText {
            max: max.max(64),
            ..Default::default()
        }
    }

    /// Appends text.
    pub fn push(&mut self, text: &str) {
        let half = self.max / 2;
        let mut text = text;
        if self.head.len() < half {
            let room = floor_boundary(text, (half - self.head.len()).min(text.len()));
            let room = if room == 0 && self.head.len() + text.len() <= half {
                text.len()
            } else {
                room
            };
            self.head.push_str(&text[..room]);
            text = &text[room..];
        }
        if text.is_empty() {
            return;
        }
        self.tail.push_str(text);
        if self.tail.len() > half {
            let cut = self.tail.len() - half / 2;
            let mut cut = floor_boundary(&self.tail, cut);
            if let Some(nl) = self.tail[cut..].find('\n') {
                if nl < half / 4 {
                    cut += nl + 1;
                }
            }
            self.omitted += cut as u64;
            self.tail.drain(..cut);
        }
    }

    /// Replaces the text.
    pub fn set(&mut self, text: &str) {
        self.clear();
        self.push(text);
    }

    /// Empties the text.
    pub fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.omitted = 0;
    }

    /// Whether there is no text.
    pub fn is_empty(&self) -> bool {
        self.head.is_empty() && self.tail.is_empty()
    }

    /// The kept text, with a note where bytes were left out.
    pub fn text(&self) -> String {
        if self.omitted == 0 {
            return format!("{}{}", self.head, self.tail);
        }
        format!(
            "{}\n[... {} bytes omitted ...]\n{}",
            self.head, self.omitted, self.tail
        )
    }
}

/// printf output: bounded, optionally a header plus the last N lines.
#[derive(Debug, Clone)]
pub struct OutputBuf {
    retain: Option<usize>,
    max_bytes: usize,
    header: String,
    header_done: bool,
    lines: VecDeque<String>,
    bytes: usize,
}

impl OutputBuf {
    /// With `retain = Some(n)`, keeps the first line and the last `n` lines
    /// (a trailing partial line counts); always at most about `max_bytes`.
    pub fn new(retain: Option<usize>, max_bytes: usize) -> OutputBuf {
        OutputBuf {
            retain,
            max_bytes: max_bytes.max(1),
            header: String::new(),
            header_done: retain.is_none(),
            lines: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Appends output text.
    pub fn push(&mut self, mut text: &str) {
        if !self.header_done {
            match text.find('\n') {
                Some(nl) => {
                    self.header.push_str(&text[..=nl]);
                    self.header_done = true;
                    text = &text[nl + 1..];
                }
                None => {
                    self.header.push_str(text);
                    return;
                }
            }
        }
        while !text.is_empty() {
            let (piece, rest) = match text.find('\n') {
                Some(nl) => text.split_at(nl + 1),
                None => (text, ""),
            };
            match self.lines.back_mut() {
                Some(last) if !last.ends_with('\n') => last.push_str(piece),
                _ => self.lines.push_back(piece.to_string()),
            }
            self.bytes += piece.len();
            text = rest;
        }
        if let Some(n) = self.retain {
            while self.lines.len() > n {
                if let Some(l) = self.lines.pop_front() {
                    self.bytes -= l.len();
                }
            }
        }
        while self.bytes + self.header.len() > self.max_bytes && self.lines.len() > 1 {
            if let Some(l) = self.lines.pop_front() {
                self.bytes -= l.len();
            }
        }
        if self.bytes + self.header.len() > self.max_bytes {
            if let Some(last) = self.lines.back_mut() {
                let keep = self.max_bytes.saturating_sub(self.header.len());
                let cut = last.len().saturating_sub(keep);
                let mut cut = cut;
                while cut < last.len() && !last.is_char_boundary(cut) {
                    cut += 1;
                }
                last.drain(..cut);
                self.bytes = last.len();
            }
        }
    }

    /// The kept text.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.header.len() + self.bytes);
        s.push_str(&self.header);
        for l in &self.lines {
            s.push_str(l);
        }
        s
    }
}

/// Renders a stack map as folded stacks: one line per key, frames from the
/// outermost to the leaf joined by `;` (offsets `+123` dropped), other key
/// parts (comm, pid) first, then a space and the count. Lines are sorted.
pub fn folded(entries: impl Iterator<Item = (String, i128)>) -> String {
    let mut merged: HashMap<String, i128> = HashMap::new();
    for (key, count) in entries {
        *merged.entry(fold_key(&key)).or_default() += count;
    }
    let mut lines: Vec<(String, i128)> = merged.into_iter().collect();
    lines.sort();
    let mut out = String::new();
    for (k, c) in lines {
        out.push_str(&k);
        out.push(' ');
        out.push_str(&c.to_string());
        out.push('\n');
    }
    out
}

fn strip_offset(frame: &str) -> &str {
    match frame.rfind('+') {
        Some(p)
            if p > 0
                && frame[p + 1..]
                    .strip_prefix("0x")
                    .unwrap_or(&frame[p + 1..])
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit())
                && p + 1 < frame.len() =>
        {
            &frame[..p]
        }
        _ => frame,
    }
}

/// Splits bpftrace's rendering of a key into its parts: a stack is a
/// newline, then one indented frame per line; other parts end at a comma.
fn fold_key(key: &str) -> String {
    let mut plain: Vec<&str> = Vec::new();
    let mut frames: Vec<&str> = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(mut s) = rest.strip_prefix('\n') {
            let mut stack: Vec<&str> = Vec::new();
            while s.starts_with(' ') || s.starts_with('\t') {
                let end = s.find('\n').unwrap_or(s.len());
                let frame = s[..end].trim();
                if !frame.is_empty() {
                    stack.push(strip_offset(frame));
                }
                s = s.get(end + 1..).unwrap_or("");
            }
            // bpftrace prints the leaf first; folded stacks start at the root.
            frames.extend(stack.into_iter().rev());
            rest = s.strip_prefix(',').unwrap_or(s);
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let part = &rest[..end];
            if !part.is_empty() {
                plain.push(part);
            }
            rest = rest.get(end + 1..).unwrap_or("");
        }
    }
    let mut out: Vec<&str> = plain;
    out.extend(frames);
    if out.is_empty() {
        // An empty stack (a kernel stack sampled in user mode): flame graph
        // tools' name for an unknown frame.
        return "[unknown]".into();
    }
    out.join(";")
}

fn leaf_of(name: &str) -> String {
    let bare = name.trim_start_matches('@');
    if bare.is_empty() {
        return "root".into();
    }
    pcp_core::namespace::sanitize_component(bare)
}

fn convert(s: &Scalar, ty: Type) -> Option<Value> {
    Some(match ty {
        Type::I64 => Value::I64(match s {
            Scalar::Int(v) => *v,
            Scalar::UInt(v) => *v as i64,
            Scalar::Float(v) => *v as i64,
            Scalar::Str(t) | Scalar::Text(t) => t.trim().parse().ok()?,
        }),
        Type::U64 => Value::U64(match s {
            Scalar::Int(v) => *v as u64,
            Scalar::UInt(v) => *v,
            Scalar::Float(v) => *v as u64,
            Scalar::Str(t) | Scalar::Text(t) => t.trim().parse().ok()?,
        }),
        Type::Double => Value::Double(match s {
            Scalar::Int(v) => *v as f64,
            Scalar::UInt(v) => *v as f64,
            Scalar::Float(v) => *v,
            Scalar::Str(t) | Scalar::Text(t) => t.trim().parse().ok()?,
        }),
        _ => Value::String(match s {
            Scalar::Int(v) => v.to_string(),
            Scalar::UInt(v) => v.to_string(),
            Scalar::Float(v) => v.to_string(),
            Scalar::Str(t) | Scalar::Text(t) => t.clone(),
        }),
    })
}

/// The type a printed value needs: `U64` for what pmdabpftrace's `U64`
/// holds, else signed, double or string.
fn type_needed(s: &Scalar) -> Type {
    match s {
        Scalar::Int(v) if *v < 0 => Type::I64,
        Scalar::Int(_) | Scalar::UInt(_) => Type::U64,
        Scalar::Float(_) => Type::Double,
        Scalar::Str(_) | Scalar::Text(_) => Type::String,
    }
}

/// The widest of two types in the order U64 < I64 < Double < String.
fn wider(a: Type, b: Type) -> Type {
    let rank = |t: Type| match t {
        Type::U64 => 0,
        Type::I64 => 1,
        Type::Double => 2,
        _ => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// pmdabpftrace's descriptor of a map the code assigns: `U64`, counters for
/// `count()`, `hist()` and `lhist()` (stats() is ours: its count).
fn func_type(func: Option<Func>) -> Option<(Type, Semantics)> {
    Some(match func? {
        Func::Count | Func::Hist | Func::Lhist => (Type::U64, Semantics::Counter),
        Func::Stats => (Type::I64, Semantics::Instant),
        Func::Sum | Func::Min | Func::Max | Func::Avg | Func::Plain => {
            (Type::U64, Semantics::Instant)
        }
    })
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
        let &(idx, part) = self.by_item.get(&item).ok_or(PmError::PMID)?;
        let var = &self.vars[idx];
        if var.def.is_output() {
            return match &self.output {
                Some((_, buf)) if var.has_value => {
                    Ok(vec![(PM_IN_NULL, Value::String(buf.text()))])
                }
                _ => Err(PmError::VALUE),
            };
        }
        let singular = !(var.def.keyed || var.def.shape == Shape::Histogram);
        if singular {
            let v = var.single.as_ref().ok_or(PmError::VALUE)?;
            return Ok(vec![(PM_IN_NULL, part_value(v, part))]);
        }
        if part == Part::Folded {
            let text = folded(var.table.current().filter_map(|e| match &e.val {
                Val::One(v) => v.as_f64().map(|c| (e.name.to_string(), c as i128)),
                Val::Stats(_) => None,
            }));
            return Ok(vec![(PM_IN_NULL, Value::String(text))]);
        }
        if part == Part::Main {
            let values = var.values.get_or_init(|| table_values(&var.table, part));
            return Ok(values.clone());
        }
        Ok(table_values(&var.table, part))
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

fn looks_like_stack(key: &str) -> bool {
    key.starts_with("\n    ") || key.contains("\n,") && key.contains("\n    ")
}

fn push_buckets(table: &mut Table, key: Option<&str>, buckets: &[Bucket]) {
    for b in buckets {
        let bname = b.name();
        let rank = b.min.unwrap_or(i64::MIN);
        match key {
            Some(k) => table.set(
                &format!("{k} {bname}"),
                k.len(),
                rank,
                Val::One(Value::U64(b.count)),
            ),
            None => table.set(&bname, 0, rank, Val::One(Value::U64(b.count))),
        }
    }
}

/// The current instances' values of one part of a keyed map.
fn table_values(table: &Table, part: Part) -> Vec<(u32, Value)> {
    // Sized up front: a 1,000-key map would otherwise regrow ten times.
    let mut out = Vec::with_capacity(table.live);
    out.extend(
        table
            .sorted()
            .into_iter()
            .map(|e| (e.id, part_value(&e.val, part))),
    );
    out
}

fn part_value(v: &Val, part: Part) -> Value {
    match (v, part) {
        (Val::One(v), _) => v.clone(),
        (Val::Stats(s), Part::Main) => Value::U64(s.count as u64),
        (Val::Stats(s), Part::Average) => Value::I64(s.average),
        (Val::Stats(s), _) => Value::I64(s.total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::analyse;
    use crate::event::parse_line;

    fn data_for(code: &str) -> ScriptData {
        let info = Arc::new(analyse(code).unwrap());
        ScriptData::new(
            151,
            100,
            info,
            IdCache::in_memory("items", FIRST_DATA_ITEM, LAST_DATA_ITEM),
            1 << 20,
        )
    }

    fn feed(d: &mut ScriptData, line: &str) -> Applied {
        d.apply(parse_line(line.as_bytes()).unwrap().unwrap())
    }

    fn item(d: &ScriptData, name: &str) -> u32 {
        d.names()
            .into_iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .item()
    }

    #[test]
    fn assigned_maps_exist_before_data_as_pmdabpftraces() {
        let mut d =
            data_for("tracepoint:raw_syscalls:sys_enter { @calls[comm] = count(); @x = 1; }");
        let names: Vec<String> = d.names().into_iter().map(|n| n.0).collect();
        assert_eq!(names, ["data.calls", "data.x"], "in the order of the code");
        let it = item(&d, "data.calls");
        assert_eq!(it, 10);
        let (desc, help, mt) = d.desc(it).unwrap();
        assert_eq!(
            (desc.ty, desc.sem, desc.units, mt),
            (Type::U64, Semantics::Counter, Units::NONE, None)
        );
        assert_eq!(help, "@calls variable of bpftrace script");
        assert_eq!(desc.indom, InDom::from_parts(151, 100_010));
        assert_eq!(d.fetch(it).unwrap(), vec![]);
        let a = feed(
            &mut d,
            r#"{"type": "map", "data": {"@calls": {"sshd": 5, "bash": 7}}}"#,
        );
        assert!(a.data && !a.names);
        let insts = d.instances(100_010).unwrap();
        assert_eq!(
            insts.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["bash", "sshd"]
        );
        let x = item(&d, "data.x");
        assert_eq!(x, 11);
        let (desc, _, _) = d.desc(x).unwrap();
        assert_eq!((desc.ty, desc.sem), (Type::U64, Semantics::Instant));
        feed(&mut d, r#"{"type": "map", "data": {"@x": 3}}"#);
        assert_eq!(d.fetch(x).unwrap(), vec![(PM_IN_NULL, Value::U64(3))]);
        // A value pmdabpftrace's U64 cannot hold: the metric turns signed.
        feed(&mut d, r#"{"type": "map", "data": {"@x": -5}}"#);
        assert_eq!(item(&d, "data.x"), 11, "same PMID");
        assert_eq!(d.desc(x).unwrap().0.ty, Type::I64);
        assert_eq!(d.fetch(x).unwrap(), vec![(PM_IN_NULL, Value::I64(-5))]);
    }

    #[test]
    fn fetches_between_prints_see_the_latest_print() {
        let mut d = data_for("BEGIN { @k[1] = count(); @h = hist(1); }");
        let k = item(&d, "data.k");
        feed(
            &mut d,
            r#"{"type": "map", "data": {"@k": {"a": 1, "b": 2}}}"#,
        );
        let first = d.fetch(k).unwrap();
        assert_eq!(d.fetch(k).unwrap(), first, "repeated fetches agree");
        let ids: Vec<u32> = first.iter().map(|v| v.0).collect();
        feed(&mut d, r#"{"type": "map", "data": {"@k": {"b": 5}}}"#);
        assert_eq!(d.fetch(k).unwrap(), vec![(ids[1], Value::U64(5))]);
        feed(
            &mut d,
            r#"{"type": "hist", "data": {"@h": [{"min": 1, "max": 1, "count": 3}]}}"#,
        );
        let h = item(&d, "data.h");
        assert_eq!(d.fetch(h).unwrap().len(), 1);
        assert_eq!(d.fetch(k).unwrap(), vec![(ids[1], Value::U64(5))]);
        let marker = format!(
            r#"{{"type": "printf", "data": "{}"}}"#,
            SYNC_MARKER.replace('\n', "\\n")
        );
        feed(&mut d, &marker);
        assert_eq!(d.fetch(h).unwrap().len(), 1, "printed in the block");
        feed(&mut d, r#"{"type": "map", "data": {"@k": {"a": 9}}}"#);
        assert_eq!(d.fetch(k).unwrap(), vec![(ids[0], Value::U64(9))]);
        feed(&mut d, &marker);
        assert_eq!(
            d.fetch(h).unwrap(),
            vec![],
            "not printed in the block: empty"
        );
        assert_eq!(d.fetch(k).unwrap(), vec![(ids[0], Value::U64(9))]);
        d.reset();
        assert_eq!(d.fetch(k).unwrap(), vec![]);
    }

    #[test]
    fn instance_ids_are_stable_and_maps_empty_at_the_marker() {
        let mut d = data_for("BEGIN { @k[1] = count(); }");
        feed(
            &mut d,
            r#"{"type": "map", "data": {"@k": {"1": 1, "2": 2}}}"#,
        );
        feed(
            &mut d,
            r#"{"type": "printf", "data": "__pcp_agent_bpftrace_sync__\n"}"#,
        );
        let first = d.instances(100_010).unwrap();
        feed(
            &mut d,
            r#"{"type": "map", "data": {"@k": {"2": 3, "3": 1}}}"#,
        );
        let second = d.instances(100_010).unwrap();
        assert_eq!(first[1], second[0], "instance 2 keeps its id");
        assert!(second[1].id > first[1].id, "new keys get new ids");
        // The next block prints nothing for @k: it was cleared.
        feed(
            &mut d,
            r#"{"type": "printf", "data": "__pcp_agent_bpftrace_sync__\n"}"#,
        );
        feed(
            &mut d,
            r#"{"type": "printf", "data": "__pcp_agent_bpftrace_sync__\n"}"#,
        );
        assert_eq!(d.instances(100_010).unwrap(), vec![]);
        assert!(d.output.is_none(), "the marker is not output");
    }

    #[test]
    fn a_key_printed_twice_keeps_the_last_value() {
        let mut d = data_for("BEGIN { @k[1] = count(); }");
        feed(
            &mut d,
            r#"{"type": "map", "data": {"@k": {"a": 1, "b": 2, "a": 3}}}"#,
        );
        let it = item(&d, "data.k");
        let v = d.fetch(it).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].1, Value::U64(3));
    }

    #[test]
    fn histograms_are_numeric_and_keyed_histograms_work() {
        let mut d = data_for("BEGIN { @h = hist(1); @kh[comm] = lhist(1, 0, 10, 1); }");
        feed(
            &mut d,
            r#"{"type": "hist", "data": {"@h": [{"max": -1, "count": 1}, {"min": 0, "max": 0, "count": 2}, {"min": 2, "max": 3, "count": 4}, {"min": 1024, "count": 5}]}}"#,
        );
        let h = item(&d, "data.h");
        let (desc, _, mt) = d.desc(h).unwrap();
        assert_eq!(
            (desc.ty, desc.sem, mt),
            (Type::U64, Semantics::Counter, Some("histogram"))
        );
        let names: Vec<String> = d
            .instances(100_000 + h)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["-inf--1", "0-0", "2-3", "1024-inf"]);
        feed(
            &mut d,
            r#"{"type": "hist", "data": {"@kh": {"b": [{"min": 10, "count": 1}], "a": [{"max": -1, "count": 2}, {"min": 1, "max": 1, "count": 3}]}}}"#,
        );
        let kh = item(&d, "data.kh");
        let names: Vec<String> = d
            .instances(100_000 + kh)
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(names, ["a -inf--1", "a 1-1", "b 10-inf"]);
        let vals = d.fetch(kh).unwrap();
        assert_eq!(vals.len(), 3);
    }

    #[test]
    fn stats_become_three_metrics() {
        let mut d = data_for("BEGIN { @st = stats(10); @ks[pid] = stats(1); }");
        let names: Vec<String> = d.names().into_iter().map(|n| n.0).collect();
        assert_eq!(
            names,
            [
                "data.st.count",
                "data.st.average",
                "data.st.total",
                "data.ks.count",
                "data.ks.average",
                "data.ks.total"
            ]
        );
        feed(
            &mut d,
            r#"{"type": "stats", "data": {"@st": {"count": 2, "average": -15, "total": -30}}}"#,
        );
        assert_eq!(
            d.fetch(item(&d, "data.st.count")).unwrap(),
            vec![(PM_IN_NULL, Value::U64(2))]
        );
        assert_eq!(
            d.fetch(item(&d, "data.st.average")).unwrap(),
            vec![(PM_IN_NULL, Value::I64(-15))]
        );
        assert_eq!(
            d.fetch(item(&d, "data.st.total")).unwrap(),
            vec![(PM_IN_NULL, Value::I64(-30))]
        );
        let (desc, _, _) = d.desc(item(&d, "data.st.total")).unwrap();
        assert_eq!(desc.sem, Semantics::Counter);
    }

    #[test]
    fn strings_and_unsigned_values_are_faithful() {
        let mut d = data_for("BEGIN { @s = comm; @u = 1; @t[1] = (1, \"a\"); }");
        feed(&mut d, r#"{"type": "map", "data": {"@s": "bash"}}"#);
        feed(
            &mut d,
            r#"{"type": "map", "data": {"@u": 18446744073709551615}}"#,
        );
        feed(&mut d, r#"{"type": "map", "data": {"@t": {"1": [1,"a"]}}}"#);
        assert_eq!(
            d.fetch(item(&d, "data.s")).unwrap(),
            vec![(PM_IN_NULL, Value::String("bash".into()))]
        );
        assert_eq!(
            d.fetch(item(&d, "data.u")).unwrap(),
            vec![(PM_IN_NULL, Value::U64(u64::MAX))]
        );
        assert_eq!(
            d.fetch(item(&d, "data.t")).unwrap()[0].1,
            Value::String("(1, a)".into())
        );
    }

    #[test]
    fn stack_maps_have_folded_rendering() {
        let mut d = data_for("profile:hz:99 { @st[kstack, comm] = count(); }");
        feed(
            &mut d,
            r#"{"type": "map", "data": {"@st": {"\n    leaf+11\n    mid+5\n    root+0\n,swapper/0": 29, "\n    other+1\n    root+0\n,bash": 2, ",idle": 1, "": 4}}}"#,
        );
        let st = item(&d, "data.st");
        assert_eq!(d.desc(st).unwrap().2, Some("stacks"));
        let f = item(&d, "folded.st");
        let text = d.fetch(f).unwrap().remove(0).1;
        assert_eq!(
            text,
            Value::String(
                "[unknown] 4\nbash;root;other 2\nidle 1\nswapper/0;root;mid;leaf 29\n".into()
            )
        );
    }

    #[test]
    fn output_is_bounded_and_retains_table_lines() {
        let mut d = data_for("// table-retain-lines: 2\nBEGIN { printf(\"a,b\\n\"); }");
        let out = item(&d, "data.output");
        assert_eq!(d.desc(out).unwrap().2, Some("output"));
        assert_eq!(d.fetch(out), Err(PmError::VALUE));
        for l in ["h1,h2\n", "1,1\n", "2,2\n", "3,", "3\n", "4,4"] {
            feed(
                &mut d,
                &format!(
                    r#"{{"type": "printf", "data": "{}"}}"#,
                    l.replace('\n', "\\n")
                ),
            );
        }
        assert_eq!(
            d.fetch(out).unwrap()[0].1,
            Value::String("h1,h2\n3,3\n4,4".into())
        );
        let mut b = OutputBuf::new(None, 10);
        for _ in 0..10 {
            b.push("12345\n");
        }
        assert_eq!(b.text(), "12345\n");
        b.push("abcdefghijklmnop");
        assert_eq!(b.text(), "ghijklmnop");
    }

    #[test]
    fn bounded_text_keeps_head_and_tail() {
        let mut t = BoundedText::new(100);
        t.push("first line\n");
        for i in 0..100 {
            t.push(&format!("noise {i}\n"));
        }
        let s = t.text();
        assert!(s.starts_with("first line\n"));
        assert!(s.contains("bytes omitted"));
        assert!(s.ends_with("noise 99\n"));
        assert!(s.len() < 200);
    }

    #[test]
    fn include_limits_exported_maps() {
        let mut d =
            data_for("// include: @a\nBEGIN { @a = count(); @b = count(); printf(\"x\"); }");
        feed(&mut d, r#"{"type": "map", "data": {"@b": 1}}"#);
        feed(&mut d, r#"{"type": "printf", "data": "x"}"#);
        let names: Vec<String> = d.names().into_iter().map(|n| n.0).collect();
        assert_eq!(names, ["data.a"]);
    }
}
