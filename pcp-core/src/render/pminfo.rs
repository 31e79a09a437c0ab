//! pminfo-style text: the layout of PCP 6.0.3's `pminfo` with its `-d`,
//! `-f`, `-m`, `-t`, `-T` and `-l` flags and their combinations, byte for
//! byte for the same data.
//!
//! Layout per metric (each part only when its flag is on):
//!
//! ```text
//! (blank line, in verbose mode: -d -f -T -l)
//! NAME[ PMID: D.C.I][ [one-line help]]
//!     Data Type: ...  InDom: ... 0x...
//!     Semantics: ...  Units: ...
//!     labels {...}
//! Help:
//! long help
//!     inst [ID or "NAME"] value V     (or "    value V", "No value(s) available!", "Error: ...")
//!     inst [ID or "NAME"] labels {...}
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::desc::Desc;
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::pmapi::Pmapi;
use crate::pmda::{MetricResult, TextKind, TextTarget};

/// Which parts to print, as pminfo's flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// `-d`: the descriptor.
    pub desc: bool,
    /// `-f`: fetch and print values.
    pub fetch: bool,
    /// `-m`: the PMID.
    pub pmid: bool,
    /// `-t`: one-line help.
    pub oneline: bool,
    /// `-T`: long help.
    pub help: bool,
    /// `-l`: labels.
    pub labels: bool,
}

impl Flags {
    fn verbose(&self) -> bool {
        self.desc || self.fetch || self.help || self.labels
    }
}

/// Renders `metrics` (full names and PMIDs) as pminfo would. Values are
/// fetched in one batch. Returns the text for standard output.
pub fn render(host: &dyn Pmapi, metrics: &[(String, Pmid)], flags: Flags) -> String {
    let mut out = String::new();
    let fetched: Vec<MetricResult> = if flags.fetch {
        let pmids: Vec<Pmid> = metrics.iter().map(|m| m.1).collect();
        host.fetch(&pmids).values.into_iter().map(|v| v.1).collect()
    } else {
        Vec::new()
    };
    let mut instance_cache: HashMap<InDom, Vec<Instance>> = HashMap::new();
    for (i, (name, pmid)) in metrics.iter().enumerate() {
        let desc = host.desc(*pmid);
        let mut instances = |indom: InDom| -> Vec<Instance> {
            instance_cache
                .entry(indom)
                .or_insert_with(|| host.instances(indom).unwrap_or_default())
                .clone()
        };
        let insts = match &desc {
            Ok(d) if !d.indom.is_null() && (flags.fetch || flags.labels) => instances(d.indom),
            _ => Vec::new(),
        };
        render_one(
            &mut out,
            MetricView {
                name,
                pmid: *pmid,
                desc: &desc,
                oneline: flags
                    .oneline
                    .then(|| host.text(TextTarget::Metric(*pmid), TextKind::OneLine)),
                help: flags
                    .help
                    .then(|| host.text(TextTarget::Metric(*pmid), TextKind::Help)),
                labels: flags.labels.then(|| host.metric_labels(*pmid)),
                instance_labels: match (&desc, flags.labels) {
                    (Ok(d), true) if !d.indom.is_null() => {
                        Some(host.instance_labels(d.indom).unwrap_or_default())
                    }
                    _ => None,
                },
                instance_base: match (&desc, flags.labels) {
                    (Ok(d), true) if !d.indom.is_null() && d.indom.domain() != pmid.domain() => {
                        Some(instance_base(host, *pmid, d.indom))
                    }
                    _ => None,
                },
                values: fetched.get(i),
                instances: &insts,
            },
            flags,
        );
    }
    out
}

/// Everything pminfo prints about one metric.
#[derive(Debug)]
pub struct MetricView<'a> {
    /// Full name.
    pub name: &'a str,
    /// PMID.
    pub pmid: Pmid,
    /// Descriptor (or why there is none).
    pub desc: &'a Result<Desc, PmError>,
    /// One-line help, when asked for.
    pub oneline: Option<Result<String, PmError>>,
    /// Long help, when asked for.
    pub help: Option<Result<String, PmError>>,
    /// Merged metric labels, when asked for.
    pub labels: Option<Result<LabelSet, PmError>>,
    /// Instance-level labels, when asked for (metrics with an indom).
    pub instance_labels: Option<Vec<(u32, LabelSet)>>,
    /// What each instance's labels are merged onto, when it differs from
    /// the metric's labels (a derived metric over another domain's
    /// instances: pminfo takes the domain labels of the instance domain's
    /// agent there).
    pub instance_base: Option<LabelSet>,
    /// Fetched values, when asked for.
    pub values: Option<&'a MetricResult>,
    /// The instances of the metric's indom (for names).
    pub instances: &'a [Instance],
}

fn inst_tag(out: &mut String, id: u32, instances: &[Instance]) {
    match instances.iter().find(|i| i.id == id) {
        Some(i) => {
            let _ = write!(out, "    inst [{} or \"{}\"]", id as i32, i.name);
        }
        None => {
            let _ = write!(out, "    inst [{}]", id as i32);
        }
    }
}

/// Renders one metric into `out`.
pub fn render_one(out: &mut String, m: MetricView<'_>, flags: Flags) {
    if flags.verbose() {
        out.push('\n');
    }
    out.push_str(m.name);
    if flags.pmid {
        let _ = write!(out, " PMID: {}", m.pmid);
    }
    if let Some(t) = &m.oneline {
        match t {
            Ok(s) => {
                let _ = write!(out, " [{s}]");
            }
            Err(e) => {
                let _ = write!(out, " One-line Help: Error: {e}");
            }
        }
    }
    out.push('\n');
    if flags.desc {
        match m.desc {
            Ok(d) => {
                let _ = writeln!(out, "    {}", d.to_string().replace('\n', "\n    "));
            }
            Err(e) => {
                let _ = writeln!(out, "Error: {e}");
            }
        }
    }
    if let Some(Ok(set)) = &m.labels {
        let _ = writeln!(out, "    labels {}", set.to_sorted_json());
    }
    if let Some(h) = &m.help {
        match h {
            Ok(s) if s.is_empty() => out.push_str("Help: <empty entry>\n"),
            Ok(s) => {
                out.push_str("Help:\n");
                out.push_str(s);
                if !s.ends_with('\n') {
                    out.push('\n');
                }
            }
            Err(e) => {
                let _ = writeln!(out, "Full Help: Error: {e}");
            }
        }
    }
    if let Some(values) = m.values {
        match values {
            Err(e) => {
                let _ = writeln!(out, "Error: {e}");
            }
            Ok(v) if v.is_empty() => out.push_str("No value(s) available!\n"),
            Ok(v) => {
                let singular = matches!(m.desc, Ok(d) if d.indom.is_null());
                for (inst, value) in v {
                    if singular {
                        out.push_str("    value ");
                    } else {
                        inst_tag(out, *inst, m.instances);
                        out.push_str(" value ");
                    }
                    let _ = writeln!(out, "{value}");
                }
            }
        }
    }
    if let (Some(inst_labels), Some(Ok(metric_labels))) = (&m.instance_labels, &m.labels) {
        let metric_labels = m.instance_base.as_ref().unwrap_or(metric_labels);
        for inst in m.instances {
            let own = inst_labels
                .iter()
                .find(|(i, _)| *i == inst.id)
                .map(|x| &x.1);
            let merged = match own {
                Some(o) => LabelSet::merge([metric_labels, o]),
                None => metric_labels.clone(),
            };
            inst_tag(out, inst.id, m.instances);
            let _ = writeln!(out, " labels {}", merged.to_sorted_json());
        }
    }
}

/// The labels pminfo merges each instance's own onto: the context's, the
/// instance domain's agent's, the instance domain's, and the metric's
/// cluster and item labels.
fn instance_base(host: &dyn Pmapi, pmid: Pmid, indom: InDom) -> LabelSet {
    use crate::pmda::LabelTarget;
    let sets = [
        host.context_labels().clone(),
        host.labels(indom.domain(), LabelTarget::Domain)
            .unwrap_or_default(),
        host.labels(indom.domain(), LabelTarget::InDom(indom))
            .unwrap_or_default(),
        host.labels(pmid.domain(), LabelTarget::Cluster(pmid.cluster()))
            .unwrap_or_default(),
        host.labels(pmid.domain(), LabelTarget::Item(pmid))
            .unwrap_or_default(),
    ];
    LabelSet::merge(sets.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desc::{Semantics, Type, Units};
    use crate::value::Value;

    // Expected text captured from PCP 6.0.3's pminfo on this project's build
    // machine (pminfo -dfmt kernel.all.load hinv.ncpu kernel.uname.sysname),
    // rendered here from the same data.
    #[test]
    fn matches_real_pminfo_dfmt() {
        let load = Desc::new(
            Pmid::from_parts(60, 2, 0),
            Type::Float,
            InDom::from_parts(60, 2),
            Semantics::Instant,
            Units::NONE,
        );
        let insts = vec![
            Instance::new(1, "1 minute"),
            Instance::new(5, "5 minute"),
            Instance::new(15, "15 minute"),
        ];
        let vals: MetricResult = Ok(vec![
            (1, Value::Float(0.71)),
            (5, Value::Float(0.24)),
            (15, Value::Float(0.08)),
        ]);
        let flags = Flags {
            desc: true,
            fetch: true,
            pmid: true,
            oneline: true,
            ..Default::default()
        };
        let mut out = String::new();
        let d = Ok(load);
        render_one(
            &mut out,
            MetricView {
                name: "kernel.all.load",
                pmid: load.pmid,
                desc: &d,
                oneline: Some(Ok("1, 5 and 15 minute load average".into())),
                help: None,
                labels: None,
                instance_labels: None,
                instance_base: None,
                values: Some(&vals),
                instances: &insts,
            },
            flags,
        );
        let sysname = Desc::new(
            Pmid::from_parts(60, 12, 2),
            Type::String,
            InDom::NULL,
            Semantics::Discrete,
            Units::NONE,
        );
        let d2 = Ok(sysname);
        let v2: MetricResult = Ok(vec![(crate::PM_IN_NULL, Value::String("Linux".into()))]);
        render_one(
            &mut out,
            MetricView {
                name: "kernel.uname.sysname",
                pmid: sysname.pmid,
                desc: &d2,
                oneline: Some(Ok(
                    "name of the implementation of the operating system".into()
                )),
                help: None,
                labels: None,
                instance_labels: None,
                instance_base: None,
                values: Some(&v2),
                instances: &[],
            },
            flags,
        );
        let expected = "
kernel.all.load PMID: 60.2.0 [1, 5 and 15 minute load average]
    Data Type: float  InDom: 60.2 0xf000002
    Semantics: instant  Units: none
    inst [1 or \"1 minute\"] value 0.70999998
    inst [5 or \"5 minute\"] value 0.23999999
    inst [15 or \"15 minute\"] value 0.079999998

kernel.uname.sysname PMID: 60.12.2 [name of the implementation of the operating system]
    Data Type: string  InDom: PM_INDOM_NULL 0xffffffff
    Semantics: discrete  Units: none
    value \"Linux\"
";
        assert_eq!(out, expected);
    }

    #[test]
    fn empty_and_error_values() {
        let d = Ok(Desc::new(
            Pmid::from_parts(60, 54, 0),
            Type::U64,
            InDom::from_parts(60, 19),
            Semantics::Counter,
            Units::COUNT,
        ));
        let empty: MetricResult = Ok(vec![]);
        let err: MetricResult = Err(PmError::APPVERSION);
        let mut out = String::new();
        for (name, v) in [("disk.dm.read", &empty), ("swap.in", &err)] {
            render_one(
                &mut out,
                MetricView {
                    name,
                    pmid: Pmid::from_parts(60, 54, 0),
                    desc: &d,
                    oneline: None,
                    help: None,
                    labels: None,
                    instance_labels: None,
                    instance_base: None,
                    values: Some(v),
                    instances: &[],
                },
                Flags {
                    fetch: true,
                    ..Default::default()
                },
            );
        }
        // As PCP 6.0.3's pminfo -f prints them.
        assert_eq!(
            out,
            "\ndisk.dm.read\nNo value(s) available!\n\nswap.in\nError: Metric not supported by this version of monitored application\n"
        );
    }
}
