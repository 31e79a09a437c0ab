//! Reading a document into a source's metrics, piece by piece: the
//! [`Document`] being read (its family, its positional PCP metadata), each
//! sample matched to its metric and instance, filtered and converted.

use super::create::convert;
use super::report::IngestReport;
use super::slots::{PackedLabels, Slot};
use super::{Ctx, Source, SourceState, INSTANCE_OVERHEAD};
use crate::config::FilterAction;
use crate::log::{log, Level};
use crate::parse::{LabelValue, Line, MetricType, Parser};
use pcp_core::LabelSet;
use std::time::Instant;

impl SourceState {
    /// Parses a whole document into this source's metrics (the pieces of
    /// [`crate::ingest::Ingest`] at once). Bad lines are skipped and counted.
    pub fn ingest(&mut self, doc: &str, src: &Source, ctx: &Ctx) -> IngestReport {
        let mut d = self.begin();
        self.feed(&mut d, doc, src, ctx);
        self.finish(d, ctx)
    }

    /// Starts reading a new document.
    pub fn begin(&mut self) -> Document {
        self.gen += 1;
        Document {
            gen: self.gen,
            metrics_before: self.metrics.len(),
            names_added_before: self.names_added,
            ..Document::default()
        }
    }

    /// Drops a document that failed part way (a script that exited with a
    /// failure, a connection cut): the metrics it created go again, as if
    /// it had never been read (its values are never answered: the last
    /// complete document's are).
    pub fn abandon(&mut self, d: Document) {
        for m in self.metrics.drain(d.metrics_before..) {
            self.by_key.remove(&m.key);
            self.by_item.remove(&m.desc.pmid.item());
            self.leaves.remove(&m.leaf);
        }
        self.names_added = d.names_added_before;
    }

    /// Ends a document: its values become the ones answered, and new ids
    /// are saved.
    pub fn finish(&mut self, d: Document, ctx: &Ctx) -> IngestReport {
        self.good_gen = d.gen;
        self.good_at = Some(Instant::now());
        ctx.ids.save_later(&mut self.items, &ctx.root);
        for m in &mut self.metrics {
            if let Some(i) = m.insts.as_mut() {
                i.cache.set_flag(!m.pcp_mode || i.prefix_mode);
                ctx.ids.save_later(&mut i.cache, &ctx.root);
            }
        }
        d.report
    }

    /// Reads `text` (whole lines) of document `d` into this source's
    /// metrics. Bad lines are skipped and counted.
    pub fn feed(&mut self, d: &mut Document, text: &str, src: &Source, ctx: &Ctx) {
        if d.ended {
            return;
        }
        let gen = d.gen;
        let good = self.good_gen;
        let cfg = self.url.clone();
        let cfg = cfg.as_deref();
        let mut scratch: Vec<(&str, LabelValue<'_>)> = Vec::with_capacity(16);
        let mut key = String::with_capacity(128);
        let mut parser = Parser::new(text);
        loop {
            let before = parser.remaining().len();
            let Some(line) = parser.next() else { break };
            if before - parser.remaining().len() > ctx.limits.max_line + 1 {
                d.report.long_lines += 1;
                d.report.errors += 1;
                continue;
            }
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    d.report.errors += 1;
                    if d.logged_errors < 3 {
                        log(
                            Level::Debug,
                            &ctx.root,
                            &format!("source {}: {e}", src.name),
                        );
                        d.logged_errors += 1;
                    }
                    continue;
                }
            };
            let s = match line {
                Line::Sample(s) => s,
                Line::Eof => {
                    d.ended = true;
                    break;
                }
                other => {
                    if d.after_samples {
                        // A comment after samples starts a new block: the
                        // metadata of the last one ends (as in the reference).
                        d.pcp = None;
                        d.family.clear();
                        d.after_samples = false;
                    }
                    match other {
                        Line::Help { name, text } => d.family.set(name).help.set(text),
                        Line::Type { name, ty } => d.family.set(name).ty = Some(ty),
                        Line::Unit { name, unit } => d.family.set(name).unit.set(unit),
                        Line::Pcp { name, rest } => d.pcp = Some(PcpMeta::new(name, rest, false)),
                        Line::Pcp5 { name, rest } => d.pcp = Some(PcpMeta::new(name, rest, true)),
                        _ => {}
                    }
                    continue;
                }
            };
            d.after_samples = true;
            d.report.samples += 1;
            if d.report.samples as usize > ctx.limits.max_samples {
                d.report.sample_limit = true;
                d.report.samples -= 1;
                d.ended = true;
                break;
            }
            let idx = match self.by_key.get(s.name) {
                Some(&i) => i,
                None => {
                    if let Some((why, seen)) = self.excluded.get_mut(s.name) {
                        if *seen != gen {
                            *seen = gen;
                            d.report.refused(*why, s.name);
                        }
                        continue;
                    }
                    // Labels as filtered, to decide singular vs indom.
                    let mut first = LabelSet::new();
                    let mut notes = LabelSet::new();
                    for (k, v) in s.labels() {
                        match self.label_action(cfg, k) {
                            FilterAction::Include => {
                                first.insert(k, v.value().as_ref());
                            }
                            FilterAction::Optional => {
                                first.insert(k, v.value().as_ref());
                                notes.insert_optional(k, v.value().as_ref());
                            }
                            FilterAction::Exclude => {}
                        }
                    }
                    // No label left after the filters: a singular metric.
                    match self.create_metric(
                        s.name,
                        first,
                        notes,
                        &d.family,
                        d.pcp.as_ref(),
                        cfg,
                        src,
                        ctx,
                        &mut d.report,
                    ) {
                        Ok(i) => i,
                        Err(why) => {
                            d.report.refused(why, s.name);
                            let cost = s.name.len() + 64;
                            if self.kept_bytes + cost <= ctx.limits.max_state {
                                self.kept_bytes += cost;
                                self.excluded.insert(s.name.into(), (why, gen));
                            }
                            continue;
                        }
                    }
                }
            };
            // Borrow the pieces separately: label decisions need the
            // filter cache while a metric is held.
            let has_label_filters = cfg.is_some_and(|c| !c.label_filters.is_empty());
            let m = &mut self.metrics[idx];
            if m.filtered {
                continue;
            }
            let Some(value) = convert(m.desc.ty, s.value, s.value_text) else {
                d.report.errors += 1;
                continue;
            };
            let Some(insts) = m.insts.as_mut() else {
                m.single.set(gen, good, value);
                m.single.seq = d.report.samples;
                continue;
            };
            scratch.clear();
            for (k, v) in s.labels() {
                let action = if has_label_filters {
                    match self.label_actions.get(k) {
                        Some(a) => *a,
                        None => {
                            let a = cfg.map_or(FilterAction::Include, |c| c.label_action(k));
                            self.label_actions.insert(k.into(), a);
                            a
                        }
                    }
                } else {
                    FilterAction::Include
                };
                if action == FilterAction::Include {
                    scratch.push((k, v));
                }
            }
            key.clear();
            let mut named = false;
            if m.pcp_mode {
                let inst = scratch
                    .iter()
                    .find(|(k, _)| *k == "instname")
                    .or_else(|| scratch.iter().find(|(k, _)| *k == "instance"));
                if let Some((_, v)) = inst {
                    v.unescape_into(&mut key);
                    named = true;
                } else {
                    insts.prefix_mode = true;
                }
            }
            if !named {
                if scratch.len() > 1 {
                    scratch.sort_unstable_by(|a, b| a.0.cmp(b.0));
                }
                for (i, (k, v)) in scratch.iter().enumerate() {
                    if i > 0 {
                        key.push(' ');
                    }
                    key.push_str(k);
                    key.push(':');
                    v.unescape_into(&mut key);
                }
            }
            let slot = match insts.index.get(key.as_str()) {
                Some(&i) => {
                    let sl = &mut insts.slots[i as usize];
                    // An instance restored from the id cache after a restart
                    // has its id but not yet its labels; one named by its
                    // instname keeps the labels it came with last.
                    if (named || sl.labels.is_empty()) && !scratch.is_empty() {
                        self.kept_bytes = self.kept_bytes.saturating_sub(sl.labels.bytes());
                        sl.labels = PackedLabels::pack(&scratch);
                        self.kept_bytes += sl.labels.bytes();
                    }
                    sl.merged = !named;
                    sl
                }
                None => {
                    let labels = PackedLabels::pack(&scratch);
                    let cost = INSTANCE_OVERHEAD + key.len() + labels.bytes();
                    if self.kept_bytes + cost > ctx.limits.max_state {
                        d.report.state_limit = true;
                        continue;
                    }
                    let id = match insts.cache.assign(&key) {
                        Ok(id) => id,
                        Err(_) => {
                            d.report.instance_limit = true;
                            continue;
                        }
                    };
                    self.kept_bytes += cost;
                    let shared = insts
                        .cache
                        .shared_name(id)
                        .unwrap_or_else(|| key.as_str().into());
                    insts.index.insert(shared, insts.slots.len() as u32);
                    insts.slots.push(Slot::new(id, labels, !named));
                    insts.slots.last_mut().expect("just pushed")
                }
            };
            slot.set(gen, good, value);
            slot.seq = d.report.samples;
        }
    }
}

/// A document being read: what the reader remembers from one piece to
/// the next (the family being read, positional PCP metadata) and what it
/// saw so far.
#[derive(Debug, Default)]
pub struct Document {
    pub(super) gen: u64,
    pub(super) metrics_before: usize,
    pub(super) names_added_before: bool,
    pub(super) family: Family,
    pub(super) pcp: Option<PcpMeta>,
    pub(super) after_samples: bool,
    /// `# EOF` seen or the sample limit reached: the rest is not read.
    pub(super) ended: bool,
    pub(super) logged_errors: u32,
    /// What was seen so far.
    pub report: IngestReport,
}

impl Document {
    /// True once the rest of the document would be ignored (`# EOF`, or
    /// the sample limit reached): the reader may stop.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct FamilyMeta {
    pub(super) name: String,
    pub(super) ty: Option<MetricType>,
    pub(super) help: Kept,
    pub(super) unit: Kept,
}

/// A text kept from one line for later ones, its buffer reused (a
/// document has a HELP line per family: no allocation each).
#[derive(Debug, Default, Clone)]
pub(super) struct Kept {
    pub(super) text: String,
    pub(super) set: bool,
}

impl Kept {
    pub(super) fn set(&mut self, t: &str) {
        self.text.clear();
        self.text.push_str(t);
        self.set = true;
    }

    pub(super) fn clear(&mut self) {
        self.set = false;
    }

    pub(super) fn get(&self) -> Option<&str> {
        self.set.then_some(self.text.as_str())
    }
}

/// The metadata of the block being read: the HELP, TYPE and UNIT lines
/// since the last sample. As in pmdaopenmetrics, they apply to every sample
/// of the block that follows, whatever the name the lines give (so
/// `# HELP x_bytes` describes `x_bytes_total`, and a summary's HELP its
/// `_sum` and `_count` parts), and a comment after samples starts a new
/// block. For well-formed exposition text this is the family's metadata.
/// Owned, since a block's samples may come in a later piece than its
/// HELP line.
#[derive(Debug, Default)]
pub(super) struct Family {
    pub(super) cur: FamilyMeta,
}

impl Family {
    pub(super) fn set(&mut self, name: &str) -> &mut FamilyMeta {
        if self.cur.name != name {
            self.cur.name.clear();
            self.cur.name.push_str(name);
        }
        &mut self.cur
    }

    /// Starts a new block: nothing known.
    pub(super) fn clear(&mut self) {
        self.cur.name.clear();
        self.cur.ty = None;
        self.cur.help.clear();
        self.cur.unit.clear();
    }

    /// The block's metadata, if it has any.
    pub(super) fn matching(&self, _sample: &str) -> Option<&FamilyMeta> {
        (!self.cur.name.is_empty()).then_some(&self.cur)
    }
}

#[derive(Debug)]
pub(super) struct PcpMeta {
    pub(super) name: String,
    pub(super) rest: String,
    pub(super) v5: bool,
}

impl PcpMeta {
    pub(super) fn new(name: &str, rest: &str, v5: bool) -> PcpMeta {
        PcpMeta {
            name: name.to_string(),
            rest: rest.to_string(),
            v5,
        }
    }
}
