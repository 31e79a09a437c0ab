//! Prometheus text (0.0.4) and OpenMetrics 1.0 text of fetched metrics,
//! in pmproxy's shape: one family per PCP metric, the instance name and
//! id as `instname` and `instid` labels, the metric's and instance's PCP
//! labels as labels (an instance's label over the metric's of the same
//! name, as PCP's label hierarchy has it). Names follow
//! [`super::names`]: pmproxy's wherever they are valid, one to one over
//! the namespace.
//!
//! - Prometheus text: each family has pmproxy's `# PCP5` line (so PCP's
//!   own openmetrics agent can read the metadata back), `# HELP` and
//!   `# TYPE`; a counter's family is named as its samples (`..._total`).
//! - OpenMetrics text (`application/openmetrics-text`): `# HELP`,
//!   `# TYPE` and, where the PCP units are a base unit the family name
//!   already ends in (`_bytes` with units of bytes, `_seconds` with
//!   seconds), `# UNIT`; a counter's family is named without `_total`
//!   and its samples with it; the text ends in `# EOF`. A counter sample
//!   the format cannot carry (negative, or NaN: a Total "MUST be
//!   monotonically non-decreasing ... starting from 0") is left out of
//!   OpenMetrics text; Prometheus text and JSON still give it. No `_created`
//!   samples: PCP does not know when a counter started, and the format
//!   makes them optional. No `# PCP5` lines: the format allows no other
//!   comments.
//!
//! Every family has a `# HELP` line (the PCP name when the agent has no
//! help text), since Prometheus's linter asks for one. String and
//! aggregate metrics have no number and are left out.

use std::fmt::Write as _;

use crate::desc::{space, time, Desc, Semantics, Type, Units};
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::pmda::MetricResult;
use crate::value::Value;

use super::names::{label_name, ExpositionName};
use super::number::push_value;

pub use super::exposition::{render_host, ExpositionCache};
pub use super::names::{exposition_name, NameMap};

/// Which exposition text to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    #[default]
    Prometheus,
    /// OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// The Content-Type of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an HTTP `Accept` header asks for: OpenMetrics when the
    /// client weighs `application/openmetrics-text` (version 1.0.0, or no
    /// version) at least as high as anything that gives Prometheus text
    /// (`text/plain`, `*/*`), else Prometheus text.
    pub fn negotiate(accept: &str) -> Format {
        let mut om = 0.0f32;
        let mut text = 0.0f32;
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let mut q = 1.0f32;
            let mut version: Option<String> = None;
            for p in parts {
                if let Some((k, v)) = p.split_once('=') {
                    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().trim_matches('"'));
                    if k == "q" {
                        q = v.parse().unwrap_or(0.0);
                    } else if k == "version" {
                        version = Some(v.to_string());
                    }
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if version.as_deref().is_none_or(|v| v.starts_with("1.0")) =>
                {
                    om = om.max(q)
                }
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
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

/// Escapes HELP text: backslash and newline, and in OpenMetrics the
/// double quote too.
fn escape_help(v: &str, format: Format, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
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

/// The OpenMetrics unit of PCP units, when they are one of its base
/// units at scale one (bytes, seconds).
fn openmetrics_unit(u: Units) -> Option<&'static str> {
    match (u.dim_space, u.dim_time, u.dim_count) {
        (1, 0, 0) if u.scale_space == space::BYTE => Some("bytes"),
        (0, 1, 0) if u.scale_time == time::SEC => Some("seconds"),
        _ => None,
    }
}

/// Labels left out of the exposition: the client's credentials, which say
/// nothing about the metric.
const SKIPPED_LABELS: [&str; 2] = ["userid", "groupid"];

/// Label pairs (exposition name, `name="value"` text) of a label set,
/// one per exposition name (a later label over an earlier one).
fn label_pairs(labels: &LabelSet) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for l in labels.iter() {
        if SKIPPED_LABELS.contains(&l.name.as_str()) {
            continue;
        }
        let name = label_name(&l.name).into_owned();
        let mut text = String::with_capacity(name.len() + 16);
        text.push_str(&name);
        text.push_str("=\"");
        match &l.value {
            serde_json::Value::String(s) => escape_label_value(s, &mut text),
            other => escape_label_value(&other.to_string(), &mut text),
        }
        text.push('"');
        match pairs.iter_mut().find(|p| p.0 == name) {
            Some(p) => p.1 = text,
            None => pairs.push((name, text)),
        }
    }
    pairs
}

/// The label text of one instance: its own labels, `instname` (when the
/// name is known) and `instid`, and the exposition names of its own
/// labels (which take the place of a metric label of the same name).
#[derive(Debug, Clone, Default)]
pub(crate) struct InstanceText {
    /// `a="x",instname="...",instid="N"`.
    pub text: String,
    /// Exposition names of the instance's own labels.
    pub own: Box<[String]>,
}

impl InstanceText {
    pub(crate) fn new(inst: u32, labels: Option<&LabelSet>, name: Option<&str>) -> InstanceText {
        let mut text = String::new();
        let pairs = labels.map(label_pairs).unwrap_or_default();
        for (_, t) in &pairs {
            text.push_str(t);
            text.push(',');
        }
        if let Some(n) = name {
            text.push_str("instname=\"");
            escape_label_value(n, &mut text);
            text.push_str("\",");
        }
        let _ = write!(text, "instid=\"{inst}\"");
        InstanceText {
            text,
            own: pairs.into_iter().map(|p| p.0).collect(),
        }
    }
}

/// A family's text that does not change from scrape to scrape: the
/// metadata lines of each format and the start of every sample line.
#[derive(Debug)]
pub(crate) struct FamilyText {
    /// `# PCP5`, `# HELP` and `# TYPE` lines of Prometheus text.
    head_prometheus: String,
    /// `# HELP`, `# TYPE` and `# UNIT` lines of OpenMetrics text.
    head_openmetrics: String,
    /// The sample name.
    series: String,
    /// The metric's labels.
    labels: Vec<(String, String)>,
    /// `series{metric labels` (without the closing brace).
    sample_start: String,
    /// Whether the metric is a counter.
    counter: bool,
}

impl FamilyText {
    pub(crate) fn new(
        pcp_name: &str,
        names: &ExpositionName,
        desc: &Desc,
        help: Option<&str>,
        labels: &LabelSet,
    ) -> FamilyText {
        let counter = desc.sem == Semantics::Counter;
        let kind = if counter { "counter" } else { "gauge" };
        let help = help.filter(|h| !h.is_empty());
        let help_line = |format: Format, family: &str, out: &mut String| {
            out.push_str("# HELP ");
            out.push_str(family);
            out.push(' ');
            match help {
                Some(h) => escape_help(h, format, out),
                None => escape_help(&format!("PCP metric {pcp_name}"), format, out),
            }
            out.push('\n');
        };
        let mut head_prometheus = String::new();
        let _ = writeln!(
            head_prometheus,
            "# PCP5 {} {} {} {} {} {}",
            pcp_name,
            desc.pmid,
            type_name(desc.ty),
            desc.indom,
            desc.sem,
            desc.units
        );
        help_line(Format::Prometheus, &names.series, &mut head_prometheus);
        let _ = writeln!(head_prometheus, "# TYPE {} {kind}", names.series);
        let mut head_openmetrics = String::new();
        help_line(Format::OpenMetrics, &names.family, &mut head_openmetrics);
        let _ = writeln!(head_openmetrics, "# TYPE {} {kind}", names.family);
        if let Some(unit) = openmetrics_unit(desc.units) {
            if names
                .family
                .strip_suffix(unit)
                .is_some_and(|rest| rest.ends_with('_'))
            {
                let _ = writeln!(head_openmetrics, "# UNIT {} {unit}", names.family);
            }
        }
        let labels = label_pairs(labels);
        let mut sample_start = names.series.clone();
        sample_start.push('{');
        for (i, (_, t)) in labels.iter().enumerate() {
            if i > 0 {
                sample_start.push(',');
            }
            sample_start.push_str(t);
        }
        FamilyText {
            head_prometheus,
            head_openmetrics,
            series: names.series.clone(),
            labels,
            sample_start,
            counter,
        }
    }

    /// Whether `format` can carry `value` as a sample of this family: any
    /// number in Prometheus text, and in OpenMetrics no negative or NaN
    /// counter total.
    pub(crate) fn carries(&self, format: Format, value: &Value) -> bool {
        if format == Format::Prometheus || !self.counter {
            return true;
        }
        match value {
            Value::I32(x) => *x >= 0,
            Value::I64(x) => *x >= 0,
            Value::Float(x) => *x >= 0.0,
            Value::Double(x) => *x >= 0.0,
            _ => true,
        }
    }

    /// The metadata lines of `format`.
    pub(crate) fn head(&self, format: Format) -> &str {
        match format {
            Format::Prometheus => &self.head_prometheus,
            Format::OpenMetrics => &self.head_openmetrics,
        }
    }

    /// Appends one sample line: the instance's labels (none for a metric
    /// without instances) and the value.
    pub(crate) fn push_sample(&self, out: &mut String, inst: Option<&InstanceText>, value: &Value) {
        match inst {
            None => out.push_str(&self.sample_start),
            Some(i) if !i.own.iter().any(|n| self.labels.iter().any(|l| &l.0 == n)) => {
                out.push_str(&self.sample_start);
                if !self.labels.is_empty() {
                    out.push(',');
                }
            }
            Some(i) => {
                // The instance has a label of a metric label's name: its
                // own takes the metric's place.
                out.push_str(&self.series);
                out.push('{');
                for (name, text) in &self.labels {
                    if !i.own.contains(name) {
                        out.push_str(text);
                        out.push(',');
                    }
                }
            }
        }
        if let Some(i) = inst {
            out.push_str(&i.text);
        }
        out.push_str("} ");
        push_value(out, value);
        out.push('\n');
    }
}

/// One metric to expose by itself.
#[derive(Debug)]
pub struct Family<'a> {
    /// PCP name.
    pub name: &'a str,
    /// Its exposition names: [`exposition_name`] for a metric alone, a
    /// [`NameMap`]'s for one of a namespace.
    pub names: &'a ExpositionName,
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

/// Appends one family to `out` in `format` (without OpenMetrics' final
/// `# EOF`). Returns false (and writes nothing) for a metric with no
/// numeric value to show. [`ExpositionCache::render`] writes whole
/// scrapes.
pub fn render_family(out: &mut String, f: &Family<'_>, format: Format) -> bool {
    let Ok(values) = f.values else { return false };
    if !f.desc.ty.is_numeric() || values.is_empty() {
        return false;
    }
    let text = FamilyText::new(f.name, f.names, f.desc, f.help, f.labels);
    out.push_str(text.head(format));
    for (inst, value) in values {
        if !text.carries(format, value) {
            continue;
        }
        if f.desc.indom.is_null() {
            text.push_sample(out, None, value);
            continue;
        }
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
        let it = InstanceText::new(*inst, labels, name);
        text.push_sample(out, Some(&it), value);
    }
    true
}

#[cfg(test)]
mod tests;
