//! Prometheus/OpenMetrics text exposition of fetched metrics, named as
//! PCP's pmproxy names them: dots become underscores, the instance name and
//! id become `instname` and `instid` labels, and the metric's PCP labels
//! become labels too. Each family carries pmproxy's `# PCP5` line (so PCP's
//! own openmetrics agent can read the metadata back), `# HELP`, `# TYPE`
//! and `# UNIT`; counters are named with `_total` as Prometheus expects.
//! String and aggregate metrics have no numeric value and are left out.

use std::fmt::Write as _;

use crate::desc::{Desc, Semantics, Type};
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
    let mut name = metric_name(f.name);
    let counter = f.desc.sem == Semantics::Counter;
    if counter && !name.ends_with("_total") {
        name.push_str("_total");
    }
    let _ = writeln!(
        out,
        "# PCP5 {} {} {} {} {} {}",
        f.name,
        f.desc.pmid,
        type_name(f.desc.ty),
        f.desc.indom,
        f.desc.sem,
        f.desc.units
    );
    if let Some(h) = f.help {
        out.push_str("# HELP ");
        out.push_str(&name);
        out.push(' ');
        escape_help(h, out);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "# TYPE {name} {}",
        if counter { "counter" } else { "gauge" }
    );
    if !f.desc.units.is_dimensionless() {
        let _ = writeln!(
            out,
            "# UNIT {name} {}",
            f.desc.units.to_string().replace(' ', "")
        );
    }
    for (inst, value) in values {
        out.push_str(&name);
        out.push('{');
        let mut first = true;
        push_label_set(out, f.labels, &mut first);
        if !f.desc.indom.is_null() {
            if let Some(own) = f.instance_labels.iter().find(|(i, _)| i == inst) {
                push_label_set(out, &own.1, &mut first);
            }
            if let Some(i) = f.instances.iter().find(|i| i.id == *inst) {
                if !first {
                    out.push(',');
                }
                out.push_str("instname=\"");
                escape_label_value(&i.name, out);
                out.push('"');
                first = false;
            }
            if !first {
                out.push(',');
            }
            let _ = write!(out, "instid=\"{inst}\"");
        }
        out.push_str("} ");
        push_number(out, value);
        out.push('\n');
    }
    true
}

/// Instances of an indom and their labels.
type IndomInfo = (Vec<Instance>, Vec<(u32, LabelSet)>);

/// Renders every metric of `metrics` (names and PMIDs) from one batch fetch
/// of `host` as exposition text.
pub fn render_host(host: &crate::host::Host, metrics: &[(String, crate::id::Pmid)]) -> String {
    use std::collections::HashMap;
    let pmids: Vec<crate::id::Pmid> = metrics.iter().map(|m| m.1).collect();
    let result = host.fetch(&pmids);
    let mut out = String::with_capacity(metrics.len() * 256);
    let mut indoms: HashMap<crate::id::InDom, IndomInfo> = HashMap::new();
    for ((name, pmid), (_, values)) in metrics.iter().zip(result.values.iter()) {
        let Ok(desc) = host.desc(*pmid) else { continue };
        if !desc.ty.is_numeric() || values.is_err() {
            continue;
        }
        let labels = host.metric_labels(*pmid).unwrap_or_default();
        let help = host
            .text(
                crate::pmda::TextTarget::Metric(*pmid),
                crate::pmda::TextKind::OneLine,
            )
            .ok();
        let empty = (Vec::new(), Vec::new());
        let (insts, inst_labels) = if desc.indom.is_null() {
            &empty
        } else {
            indoms.entry(desc.indom).or_insert_with(|| {
                (
                    host.instances(desc.indom).unwrap_or_default(),
                    host.instance_labels(desc.indom).unwrap_or_default(),
                )
            })
        };
        render_family(
            &mut out,
            &Family {
                name,
                desc: &desc,
                help: help.as_deref(),
                labels: &labels,
                instances: insts,
                instance_labels: inst_labels,
                values,
            },
        );
    }
    out
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
