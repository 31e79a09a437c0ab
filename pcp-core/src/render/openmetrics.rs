//! Prometheus/OpenMetrics text exposition of fetched metrics, named as
//! PCP's pmproxy names them: dots become underscores, the instance name and
//! id become `instname` and `instid` labels, and the metric's PCP labels
//! become labels too. Each family carries pmproxy's `# PCP5` line (so PCP's
//! own openmetrics agent can read the metadata back), `# HELP`, `# TYPE`
//! and `# UNIT`; counters are named with `_total` as Prometheus expects.
//! String and aggregate metrics have no numeric value and are left out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::desc::{Desc, Semantics, Type};
use crate::id::{InDom, Pmid};
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::pmda::MetricResult;
use crate::value::Value;

/// The exposition name of a PCP metric: `kernel.all.load` becomes
/// `kernel_all_load`; any other character not allowed in a Prometheus name
/// becomes `_`.
pub fn metric_name(pcp_name: &str) -> String {
    let mut s: String = pcp_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes HELP text: backslash and newline.
fn escape_help(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The short type name pmproxy and PCP5 lines use (`u64`, `float`, `string`).
pub fn type_name(ty: Type) -> &'static str {
    match ty {
        Type::I32 => "32",
        Type::U32 => "u32",
        Type::I64 => "64",
        Type::U64 => "u64",
        Type::Float => "float",
        Type::Double => "double",
        Type::String => "string",
        Type::Aggregate | Type::AggregateStatic => "aggregate",
        _ => "unknown",
    }
}

/// One metric to expose.
#[derive(Debug)]
pub struct Family<'a> {
    /// PCP name.
    pub name: &'a str,
    /// Descriptor.
    pub desc: &'a Desc,
    /// One-line help.
    pub help: Option<&'a str>,
    /// Merged metric labels (context, domain, indom, cluster, item).
    pub labels: &'a LabelSet,
    /// Instances of the indom, for names.
    pub instances: &'a [Instance],
    /// Instance-level labels.
    pub instance_labels: &'a [(u32, LabelSet)],
    /// The fetched values.
    pub values: &'a MetricResult,
}

/// Labels left out of the exposition: the client's credentials, which say
/// nothing about the metric.
const SKIPPED_LABELS: [&str; 2] = ["userid", "groupid"];

fn push_label_set(out: &mut String, labels: &LabelSet, first: &mut bool) {
    for l in labels.iter() {
        if SKIPPED_LABELS.contains(&l.name.as_str()) {
            continue;
        }
        if !*first {
            out.push(',');
        }
        *first = false;
        out.push_str(&l.name);
        out.push_str("=\"");
        match &l.value {
            serde_json::Value::String(s) => escape_label_value(s, out),
            other => escape_label_value(&other.to_string(), out),
        }
        out.push('"');
    }
}

/// Appends one family to `out`. Returns false (and writes nothing) for a
/// metric with no numeric value to show.
pub fn render_family(out: &mut String, f: &Family<'_>) -> bool {
    let Ok(values) = f.values else { return false };
    if !f.desc.ty.is_numeric() || values.is_empty() {
        return false;
    }
    let text = FamilyText::new(f.name, f.desc, f.help, f.labels);
    out.push_str(&text.head);
    let mut inst_text = String::new();
    for (inst, value) in values {
        inst_text.clear();
        if !f.desc.indom.is_null() {
            let labels = f
                .instance_labels
                .iter()
                .find(|(i, _)| i == inst)
                .map(|l| &l.1);
            let name = f
                .instances
                .iter()
                .find(|i| i.id == *inst)
                .map(|i| i.name.as_str());
            push_instance_labels(&mut inst_text, *inst, labels, name);
        }
        text.push_sample(out, &inst_text, value);
    }
    true
}

/// A family's text that does not change from scrape to scrape: the
/// metadata lines and the start of every sample line.
#[derive(Debug)]
struct FamilyText {
    /// `# PCP5`, `# HELP`, `# TYPE` and `# UNIT` lines.
    head: String,
    /// `name{metric labels` (the exposition name and the merged metric
    /// labels), without the closing brace.
    sample_start: String,
    /// Whether `sample_start` ends in a label (an instance's labels then
    /// follow after a comma).
    has_labels: bool,
}

impl FamilyText {
    fn new(pcp_name: &str, desc: &Desc, help: Option<&str>, labels: &LabelSet) -> FamilyText {
        let mut name = metric_name(pcp_name);
        let counter = desc.sem == Semantics::Counter;
        if counter && !name.ends_with("_total") {
            name.push_str("_total");
        }
        let mut head = String::new();
        let _ = writeln!(
            head,
            "# PCP5 {} {} {} {} {} {}",
            pcp_name,
            desc.pmid,
            type_name(desc.ty),
            desc.indom,
            desc.sem,
            desc.units
        );
        if let Some(h) = help {
            head.push_str("# HELP ");
            head.push_str(&name);
            head.push(' ');
            escape_help(h, &mut head);
            head.push('\n');
        }
        let _ = writeln!(
            head,
            "# TYPE {name} {}",
            if counter { "counter" } else { "gauge" }
        );
        if !desc.units.is_dimensionless() {
            let _ = writeln!(
                head,
                "# UNIT {name} {}",
                desc.units.to_string().replace(' ', "")
            );
        }
        let mut sample_start = name;
        sample_start.push('{');
        let mut first = true;
        push_label_set(&mut sample_start, labels, &mut first);
        FamilyText {
            head,
            sample_start,
            has_labels: !first,
        }
    }

    /// Appends one sample line: the instance's own label text (empty for a
    /// metric without instances) and the value.
    fn push_sample(&self, out: &mut String, inst_text: &str, value: &Value) {
        out.push_str(&self.sample_start);
        if !inst_text.is_empty() {
            if self.has_labels {
                out.push(',');
            }
            out.push_str(inst_text);
        }
        out.push_str("} ");
        push_number(out, value);
        out.push('\n');
    }
}

/// Appends an instance's labels: its own PCP labels, `instname` (when the
/// name is known) and `instid`.
fn push_instance_labels(
    out: &mut String,
    inst: u32,
    labels: Option<&LabelSet>,
    name: Option<&str>,
) {
    let mut first = true;
    if let Some(own) = labels {
        push_label_set(out, own, &mut first);
    }
    if let Some(n) = name {
        if !first {
            out.push(',');
        }
        out.push_str("instname=\"");
        escape_label_value(n, out);
        out.push('"');
        first = false;
    }
    if !first {
        out.push(',');
    }
    let _ = write!(out, "instid=\"{inst}\"");
}

/// Renders every metric of `metrics` (names and PMIDs) from one batch fetch
/// of `host` as exposition text, asking the agents for every descriptor,
/// label set, help text and instance list. [`ExpositionCache::render`]
/// gives the same text and keeps that metadata between calls.
pub fn render_host(
    host: &dyn crate::pmapi::Pmapi,
    metrics: &[(String, crate::id::Pmid)],
) -> String {
    ExpositionCache::new().render(host, metrics)
}

/// How long cached metadata is trusted even when no agent reports a change.
const CACHE_MAX_AGE: Duration = Duration::from_secs(60);

/// Metadata and pre-rendered text kept between scrapes: per metric its
/// metadata lines and labelled sample prefix, per instance its label text.
///
/// Everything is dropped when the host's metadata generation moves (an
/// agent's names or labels changed) and at the latest after a minute. An
/// instance id that a fetch returns and the cache does not know makes its
/// instance domain be asked again; an instance id keeps its name for the
/// life of its domain (PCP's rule, which the persistent id store keeps),
/// so known ids need no new question.
#[derive(Debug)]
pub struct ExpositionCache {
    inner: Mutex<CacheState>,
}

/// Label text of each instance of one instance domain, by instance id,
/// and whether the agent listed the id (an unlisted id is asked about
/// again at the next scrape that returns it).
type InstanceTexts = HashMap<u32, (Arc<str>, bool)>;

/// A family's cached text and its instance domain.
type CachedFamily = (Arc<FamilyText>, InDom);

/// What one metric of a scrape is written from: its family text and, for
/// a metric with instances, their label texts.
type Part = (Arc<FamilyText>, Option<Arc<InstanceTexts>>);

#[derive(Debug)]
struct CacheState {
    generation: u64,
    since: Instant,
    /// Per PMID: the name it was rendered under, and its text and instance
    /// domain (`None`: not a numeric metric, nothing to show).
    families: HashMap<Pmid, (String, Option<CachedFamily>)>,
    /// Per instance domain: the label text of each instance.
    instances: HashMap<InDom, Arc<InstanceTexts>>,
}

impl Default for ExpositionCache {
    fn default() -> ExpositionCache {
        ExpositionCache::new()
    }
}

impl ExpositionCache {
    /// An empty cache.
    pub fn new() -> ExpositionCache {
        ExpositionCache {
            inner: Mutex::new(CacheState {
                generation: 0,
                since: Instant::now(),
                families: HashMap::new(),
                instances: HashMap::new(),
            }),
        }
    }

    /// Renders every metric of `metrics` (names and PMIDs) from one batch
    /// fetch of `host`, as [`render_host`] does. The cache is locked only
    /// to look metadata up (and to ask agents for what it lacks); the text
    /// is written outside the lock.
    pub fn render(&self, host: &dyn crate::pmapi::Pmapi, metrics: &[(String, Pmid)]) -> String {
        let pmids: Vec<Pmid> = metrics.iter().map(|m| m.1).collect();
        let result = host.fetch(&pmids);
        let generation = host.metadata_generation();
        let mut parts: Vec<Option<Part>> = Vec::with_capacity(metrics.len());
        {
            let mut st = self.inner.lock();
            if st.generation != generation || st.since.elapsed() > CACHE_MAX_AGE {
                st.generation = generation;
                st.since = Instant::now();
                st.families.clear();
                st.instances.clear();
            }
            for ((name, pmid), (_, values)) in metrics.iter().zip(result.values.iter()) {
                let part = match values {
                    Ok(values) if !values.is_empty() => {
                        st.family(host, name, *pmid).map(|(text, indom)| {
                            let insts =
                                (!indom.is_null()).then(|| st.instance_texts(host, indom, values));
                            (text, insts)
                        })
                    }
                    _ => None,
                };
                parts.push(part);
            }
        }
        let mut out = String::with_capacity(metrics.len() * 256);
        for (part, (_, values)) in parts.iter().zip(result.values.iter()) {
            let (Some((text, insts)), Ok(values)) = (part, values) else {
                continue;
            };
            out.push_str(&text.head);
            for (inst, value) in values {
                let inst_text = insts
                    .as_ref()
                    .and_then(|m| m.get(inst))
                    .map_or("", |t| &*t.0);
                text.push_sample(&mut out, inst_text, value);
            }
        }
        out
    }
}

impl CacheState {
    /// The family text of `pmid` under `name` and its instance domain,
    /// from the cache or built from the agent's metadata; `None` for a
    /// metric with nothing to show (not numeric, or no descriptor).
    fn family(
        &mut self,
        host: &dyn crate::pmapi::Pmapi,
        name: &str,
        pmid: Pmid,
    ) -> Option<CachedFamily> {
        if let Some((n, cached)) = self.families.get(&pmid) {
            if n == name {
                return cached.clone();
            }
        }
        let built = host
            .desc(pmid)
            .ok()
            .filter(|d| d.ty.is_numeric())
            .map(|desc| {
                let labels = host.metric_labels(pmid).unwrap_or_default();
                let help = host
                    .text(
                        crate::pmda::TextTarget::Metric(pmid),
                        crate::pmda::TextKind::OneLine,
                    )
                    .ok();
                (
                    Arc::new(FamilyText::new(name, &desc, help.as_deref(), &labels)),
                    desc.indom,
                )
            });
        self.families
            .insert(pmid, (name.to_string(), built.clone()));
        built
    }

    /// The label texts of `indom`'s instances, asked of the agent again
    /// when `values` holds an instance id the agent has not listed. Every
    /// id in `values` gets a text (an id the agent does not list gets its
    /// labels and `instid` without `instname`, as [`render_family`] gives
    /// it).
    fn instance_texts(
        &mut self,
        host: &dyn crate::pmapi::Pmapi,
        indom: InDom,
        values: &[(u32, Value)],
    ) -> Arc<InstanceTexts> {
        if let Some(known) = self.instances.get(&indom) {
            if values
                .iter()
                .all(|(i, _)| known.get(i).is_some_and(|t| t.1))
            {
                return Arc::clone(known);
            }
        }
        let insts = host.instances(indom).unwrap_or_default();
        let labels = host.instance_labels(indom).unwrap_or_default();
        let labels: HashMap<u32, &LabelSet> = labels.iter().map(|(i, l)| (*i, l)).collect();
        let mut map = InstanceTexts::with_capacity(insts.len());
        let mut text = String::new();
        for i in &insts {
            text.clear();
            push_instance_labels(&mut text, i.id, labels.get(&i.id).copied(), Some(&i.name));
            map.insert(i.id, (Arc::from(text.as_str()), true));
        }
        for (id, _) in values {
            map.entry(*id).or_insert_with(|| {
                text.clear();
                push_instance_labels(&mut text, *id, labels.get(id).copied(), None);
                (Arc::from(text.as_str()), false)
            });
        }
        let map = Arc::new(map);
        self.instances.insert(indom, Arc::clone(&map));
        map
    }
}

fn push_number(out: &mut String, v: &Value) {
    match v {
        Value::Float(x) => push_float(out, *x as f64),
        Value::Double(x) => push_float(out, *x),
        other => {
            let _ = write!(out, "{other}");
        }
    }
}

fn push_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::Units;
    use crate::id::{InDom, Pmid};

    #[test]
    fn counters_get_total_and_labels_are_escaped() {
        let desc = Desc::new(
            Pmid::from_parts(60, 0, 38),
            Type::U64,
            InDom::from_parts(60, 1),
            Semantics::Counter,
            Units::KBYTES,
        );
        let labels = LabelSet::new()
            .with("hostname", "vm")
            .with("userid", 0)
            .with("odd", "a\"b\\c\nd");
        let insts = vec![Instance::new(0, "vda")];
        let values: MetricResult = Ok(vec![(0, Value::U64(1644253))]);
        let mut out = String::new();
        assert!(render_family(
            &mut out,
            &Family {
                name: "disk.dev.read_bytes",
                desc: &desc,
                help: Some("per-disk count of bytes read"),
                labels: &labels,
                instances: &insts,
                instance_labels: &[],
                values: &values,
            }
        ));
        assert_eq!(
            out,
            "# PCP5 disk.dev.read_bytes 60.0.38 u64 60.1 counter Kbyte\n\
             # HELP disk_dev_read_bytes_total per-disk count of bytes read\n\
             # TYPE disk_dev_read_bytes_total counter\n\
             # UNIT disk_dev_read_bytes_total Kbyte\n\
             disk_dev_read_bytes_total{hostname=\"vm\",odd=\"a\\\"b\\\\c\\nd\",instname=\"vda\",instid=\"0\"} 1644253\n"
        );
    }

    #[test]
    fn strings_are_left_out() {
        let desc = Desc::new(
            Pmid::from_parts(60, 12, 0),
            Type::String,
            InDom::NULL,
            Semantics::Discrete,
            Units::NONE,
        );
        let values: MetricResult = Ok(vec![(crate::PM_IN_NULL, Value::String("x".into()))]);
        let mut out = String::new();
        let labels = LabelSet::new();
        assert!(!render_family(
            &mut out,
            &Family {
                name: "a.b",
                desc: &desc,
                help: None,
                labels: &labels,
                instances: &[],
                instance_labels: &[],
                values: &values
            }
        ));
        assert!(out.is_empty());
    }

    #[test]
    fn names() {
        assert_eq!(metric_name("kernel.all.load"), "kernel_all_load");
        assert_eq!(metric_name("a-b.c d"), "a_b_c_d");
    }
}
