//! A new metric of a source: its leaf name, item, type, semantics, units
//! and instance table, from the sample's name and family, PCP's metadata
//! lines and `METADATA:`, else the reference's heuristics.

use super::document::{Family, PcpMeta};
use super::report::{IngestReport, Refusal};
use super::slots::{Insts, PackedLabels, Slot};
use super::{
    indom_serial, Ctx, FastMap, Metric, Source, SourceState, INSTANCE_OVERHEAD, MAX_INSTANCE_ID,
};
use crate::config::{sem_word, type_word, FilterAction, UrlConfig};
use crate::log::{log, Level};
use crate::parse::{help_text, MetricType};
use crate::units::{openmetrics_unit, parse_units};
use crate::DOMAIN;
use pcp_core::namespace::valid_name;
use pcp_core::{Desc, InDom, LabelSet, Pmid, Semantics, Type, Units, Value};

impl SourceState {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn create_metric(
        &mut self,
        name: &str,
        first: LabelSet,
        notes: LabelSet,
        family: &Family,
        pcp: Option<&PcpMeta>,
        cfg: Option<&UrlConfig>,
        src: &Source,
        ctx: &Ctx,
        report: &mut IngestReport,
    ) -> Result<usize, Refusal> {
        // Refusals are counted by the caller and reported once per
        // document with their count (never a line per name per fetch).
        let reject = |why: Refusal| {
            log(
                Level::Debug,
                &ctx.root,
                &format!("source {}: metric {name:?} {}", src.name, why.text()),
            );
            Err(why)
        };
        if let Some(c) = cfg {
            if c.metric_action(name) == FilterAction::Exclude {
                log(
                    Level::Debug,
                    &ctx.root,
                    &format!(
                        "source {}: metric {name} excluded by config filters",
                        src.name
                    ),
                );
                return reject(Refusal::Filtered);
            }
        }
        let leaf = match pcp {
            Some(p) => p.name.to_string(),
            None => name.replace(':', "."),
        };
        if !valid_name(&leaf) {
            report.errors += 1;
            return reject(Refusal::BadName);
        }
        let item = match self.items.assign(name) {
            Ok(i) => i,
            Err(_) => return reject(Refusal::MetricLimit),
        };
        let pmid = Pmid::from_parts(DOMAIN, src.cluster, item);
        if let Err(e) = self.leaves.insert(&leaf, pmid) {
            report.errors += 1;
            log(
                Level::Debug,
                &ctx.root,
                &format!("source {}: metric {name:?}: {e}", src.name),
            );
            return reject(Refusal::NameClash);
        }
        // Type, semantics, units: heuristics, then PCP lines, then METADATA.
        let fam = family.matching(name);
        let ty_decl = fam.and_then(|f| f.ty);
        let mut ty = Type::Double;
        let (mut sem, mut units) = heuristics(name, ty_decl);
        if let Some(u) = fam.and_then(|f| f.unit.get()).and_then(openmetrics_unit) {
            units = u;
        }
        let mut singular = first.is_empty();
        let mut pcp_mode = false;
        if let Some(p) = pcp {
            pcp_mode = true;
            let words: Vec<&str> = p.rest.split_whitespace().collect();
            let (sem_i, units_i) = if p.v5 {
                // pmid type indom sem units...
                if let Some(t) = words.get(1) {
                    ty = type_word(t);
                }
                if let Some(ind) = words.get(2) {
                    singular = *ind == "PM_INDOM_NULL";
                }
                (3, 4)
            } else {
                (0, 1)
            };
            if let Some(s) = words.get(sem_i).and_then(|w| sem_word(w)) {
                sem = s;
            }
            if words.len() > units_i {
                if let Some(u) = parse_units(&words[units_i..].join(" ")) {
                    units = u;
                }
            }
        }
        if let Some(md) = cfg.and_then(|c| c.metadata_for(name)) {
            ty = md.ty;
            sem = md.sem;
            units = md.units;
            if md.singular {
                singular = true;
            }
        }
        // The reference collapses runs of white space in help text.
        let (oneline, help) = fam
            .and_then(|f| f.help.get())
            .map(|h| help_text(&h.split_whitespace().collect::<Vec<_>>().join(" ")))
            .unwrap_or_default();
        let insts = if singular {
            None
        } else {
            let cache = ctx.ids.cache(
                &ctx.root,
                &format!("insts.{}.{item}", src.cluster),
                0,
                MAX_INSTANCE_ID,
            );
            let mut index = FastMap::default();
            let mut slots = Vec::with_capacity(cache.len());
            // Instances known from earlier runs keep their ids and names.
            for (k, id) in cache.iter() {
                let shared = cache.shared_name(id).unwrap_or_else(|| k.into());
                self.kept_bytes += INSTANCE_OVERHEAD + k.len();
                index.insert(shared, slots.len() as u32);
                slots.push(Slot::new(id, PackedLabels::default(), false));
            }
            // The table's flag: whether the names carry their id (always
            // for label-named instances; for PCP5 ones once one lacked an
            // instname), as pmdaopenmetrics records it.
            let prefix_mode = cache.flag();
            Some(Insts {
                cache,
                index,
                slots,
                prefix_mode,
            })
        };
        let indom = if singular {
            InDom::NULL
        } else {
            InDom::from_parts(DOMAIN, indom_serial(src.cluster, item))
        };
        let desc = Desc::new(pmid, ty, indom, sem, units);
        self.metrics.push(Metric {
            key: name.into(),
            leaf,
            desc,
            oneline,
            help,
            pcp_mode,
            filtered: false,
            single: Slot::new(pcp_core::PM_IN_NULL, PackedLabels::default(), false),
            labels: first,
            notes,
            insts,
        });
        let idx = self.metrics.len() - 1;
        self.by_key.insert(name.into(), idx);
        self.by_item.insert(item, idx);
        self.names_added = true;
        Ok(idx)
    }
}

/// The reference's semantics and units heuristics (from the sample name
/// and the declared type).
pub fn heuristics(name: &str, ty: Option<MetricType>) -> (Semantics, Units) {
    let has = |p: &str| name.split('_').any(|x| x == p);
    let hist = ty == Some(MetricType::Histogram);
    let summ = ty == Some(MetricType::Summary);
    let counter = ty == Some(MetricType::Counter)
        || has("total")
        || has("count")
        || has("sum")
        || (hist && has("bucket"));
    let sem = if counter {
        Semantics::Counter
    } else {
        Semantics::Instant
    };
    let units = if ((hist || summ) && has("count")) || (hist && has("bucket")) {
        Units::COUNT
    } else if has("seconds") {
        Units::SEC
    } else if has("microseconds") {
        Units::new(0, 1, 0, 0, pcp_core::desc::time::USEC, 0)
    } else if has("bytes") {
        Units::BYTES
    } else {
        Units::NONE
    };
    (sem, units)
}

/// A sample value as a value of type `ty`: doubles as parsed; integers
/// from their text, or from an integral double.
pub fn convert(ty: Type, v: f64, text: &str) -> Option<Value> {
    pub(super) fn int(v: f64, text: &str) -> Option<i128> {
        if let Ok(i) = text.parse::<i128>() {
            return Some(i);
        }
        (v.is_finite() && v.fract() == 0.0).then_some(v as i128)
    }
    Some(match ty {
        Type::Double => Value::Double(v),
        Type::Float => Value::Float(v as f32),
        Type::U64 => Value::U64(u64::try_from(int(v, text)?).ok()?),
        Type::I64 => Value::I64(i64::try_from(int(v, text)?).ok()?),
        Type::U32 => Value::U32(u32::try_from(int(v, text)?).ok()?),
        Type::I32 => Value::I32(i32::try_from(int(v, text)?).ok()?),
        Type::String => Value::String(text.to_string()),
        Type::Aggregate => Value::Aggregate(text.as_bytes().to_vec()),
        _ => Value::Double(v),
    })
}
