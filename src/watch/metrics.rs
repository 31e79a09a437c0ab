//! The metrics of a report and their values, as pmrep sets them up and
//! its fetchgroup converts them: each metric's label, units (the preset's
//! or the metric's own, `/ s` added for counters), column width and
//! precision; each sample's values rate-converted (counters, against the
//! previous sample) and rescaled to the report's units.

use pcp_core::desc::Units;
use pcp_core::units::{conv_scale, parse};
use pcp_core::{Desc, Instance, Pmapi, Pmid, Semantics, Type, Value, PM_IN_NULL};

use super::config::MetricSpec;
use super::options::Options;

/// pmrep's text for a value too wide for its column.
pub const TRUNC: &str = "xxx";

/// One reported metric (a leaf).
#[derive(Debug, Clone)]
pub struct Metric {
    /// Its name.
    pub name: String,
    /// Its PMID.
    pub pmid: Pmid,
    /// Its descriptor.
    pub desc: Desc,
    /// Column label.
    pub label: String,
    /// Units line text.
    pub unit_label: String,
    /// Rate-convert (counters, unless raw).
    pub rate: bool,
    /// Rescale to these units and multiply (None: report as fetched).
    pub convert: Option<(Units, f64)>,
    /// The type values are reported as.
    pub out_type: Type,
    /// Column width.
    pub width: usize,
    /// Digits after the decimal point.
    pub precision: usize,
    /// The instances when the report started (one `PM_IN_NULL` entry for a
    /// singular metric or an empty instance domain).
    pub insts: Vec<(u32, Option<String>)>,
}

/// One reported value, typed as pmrep's Python receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// An integer.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A string.
    Str(String),
}

/// pmrep's default label: every part but the last cut to its first letter.
pub fn short_label(name: &str) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let mut s = String::new();
    for p in &parts[..parts.len() - 1] {
        s.push_str(&p[..p.len().min(1)]);
        s.push('.');
    }
    s.push_str(parts[parts.len() - 1]);
    s
}

/// pmUnitsStr: `""` for dimensionless units (pminfo prints `none`).
pub fn units_str(u: Units) -> String {
    let s = u.to_string();
    if s == "none" {
        String::new()
    } else {
        s
    }
}

/// pmrep's shortening of a unit label that has a `/` (`millisec / sec`
/// becomes `ms/s`).
fn format_unit_label(label: &str) -> String {
    if !label.contains(" / ") {
        return label.to_string();
    }
    label
        .replace("nanosec", "ns")
        .replace("microsec", "us")
        .replace("millisec", "ms")
        .replace("sec", "s")
        .replace("hour", "h")
        .replace(" / ", "/")
}

fn one_dim(u: Units, space: i8, time: i8, count: i8) -> bool {
    u.dim_space == space && u.dim_time == time && u.dim_count == count
}

/// Sets up one metric leaf as pmrep's validate_metrics does.
pub fn setup(
    host: &dyn Pmapi,
    name: &str,
    pmid: Pmid,
    spec: &MetricSpec,
    opts: &Options,
) -> Result<Metric, String> {
    let desc = host
        .desc(pmid)
        .map_err(|e| format!("Invalid metric {name} ({e})."))?;
    if !desc.ty.is_numeric() && desc.ty != Type::String {
        return Err(format!(
            "Invalid metric {name} (Unknown or illegal metric type)."
        ));
    }
    let insts: Vec<(u32, Option<String>)> = if desc.indom.is_null() {
        vec![(PM_IN_NULL, None)]
    } else {
        let list: Vec<Instance> = host.instances(desc.indom).unwrap_or_default();
        if list.is_empty() {
            vec![(PM_IN_NULL, None)]
        } else {
            list.into_iter().map(|i| (i.id, Some(i.name))).collect()
        }
    };
    let raw = spec.raw.unwrap_or(opts.raw);
    let u = desc.units;
    let dim_default = |force: &Option<String>, dflt: &Option<String>| -> Option<String> {
        force
            .clone()
            .or_else(|| spec.unit.clone().or_else(|| dflt.clone()))
    };
    let unit_spec = if one_dim(u, 0, 0, 1) {
        dim_default(&opts.count_scale_force, &opts.count_scale)
    } else if one_dim(u, 1, 0, 0) {
        dim_default(&opts.space_scale_force, &opts.space_scale)
    } else if one_dim(u, 0, 1, 0) {
        dim_default(&opts.time_scale_force, &opts.time_scale)
    } else {
        spec.unit.clone()
    }
    .unwrap_or_else(|| units_str(u));
    let parsed = parse(&unit_spec).map_err(|e| format!("{e}: {unit_spec}."))?;
    let counter = desc.sem == Semantics::Counter;
    let mut label_units = unit_spec.clone();
    if !raw && desc.ty != Type::String && counter && !label_units.contains('/') {
        label_units.push_str(" / s");
    }
    let unit_label = format_unit_label(&label_units);
    // What the fetchgroup does with that scale text: none (an empty one)
    // rate-converts a counter only; else rescale to it, rate-converting
    // when its time dimension is one below the metric's.
    let string = desc.ty == Type::String;
    let (rate, convert) = if unit_label.is_empty() || string {
        (counter && !string, None)
    } else {
        let out = parse(&unit_label).map_err(|e| format!("{e}: {unit_label}."))?;
        let (ou, mut mult) = (out.units, out.multiplier);
        if one_dim(u, ou.dim_space, ou.dim_time, ou.dim_count) {
            (false, Some((ou, mult)))
        } else if one_dim(u, ou.dim_space, ou.dim_time + 1, ou.dim_count) {
            mult *= match ou.scale_time {
                0 => 1e-9,
                1 => 1e-6,
                2 => 1e-3,
                3 => 1.0,
                4 => 60.0,
                5 => 3600.0,
                _ => {
                    return Err(format!(
                        "Impossible value or scale conversion: {unit_label}."
                    ))
                }
            };
            let mut back = ou;
            back.dim_time += 1;
            (true, Some((back, mult)))
        } else {
            return Err(format!(
                "Impossible value or scale conversion: {unit_label}."
            ));
        }
    };
    let native = units_str(parsed.units) == units_str(u);
    let out_type = if desc.ty == Type::String {
        Type::String
    } else if rate || !native {
        Type::Double
    } else {
        desc.ty
    };
    let label = spec.label.clone().unwrap_or_else(|| short_label(name));
    let mut width = spec.width.unwrap_or(opts.width);
    if let Some(w) = opts.width_force {
        width = w;
    }
    if width == 0 {
        width = label.len();
    }
    width = width.max(TRUNC.len());
    let precision = opts
        .precision_force
        .unwrap_or(spec.precision.unwrap_or(opts.precision));
    Ok(Metric {
        name: name.to_string(),
        pmid,
        desc,
        label,
        unit_label,
        rate,
        convert,
        out_type,
        width,
        precision,
        insts,
    })
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// __pmStuffDoubleValue: a double back into the reported type.
fn stuff(x: f64, ty: Type) -> Option<Cell> {
    Some(match ty {
        Type::I32 => {
            if x > i32::MAX as f64 || x < i32::MIN as f64 {
                return None;
            }
            Cell::Int(x as i32 as i128)
        }
        Type::U32 => {
            if x > u32::MAX as f64 || x < 0.0 {
                return None;
            }
            Cell::Int(x as u32 as i128)
        }
        Type::I64 => Cell::Int(x as i64 as i128),
        Type::U64 => {
            if x < 0.0 {
                return None;
            }
            Cell::Int(x as u64 as i128)
        }
        Type::Float => Cell::Float(x as f32 as f64),
        _ => Cell::Float(x),
    })
}

fn native(v: &Value) -> Cell {
    match v {
        Value::I32(x) => Cell::Int(*x as i128),
        Value::U32(x) => Cell::Int(*x as i128),
        Value::I64(x) => Cell::Int(*x as i128),
        Value::U64(x) => Cell::Int(*x as i128),
        // The shortest decimal that reads back as the same 32-bit value
        // (0.06, not 0.05999999865889549, in --json).
        Value::Float(x) => Cell::Float(pcp_core::render::number::f32_decimal(*x)),
        Value::Double(x) => Cell::Float(*x),
        Value::String(s) => Cell::Str(s.clone()),
        Value::Aggregate(_) => Cell::Str(String::new()),
    }
}

impl Metric {
    /// One value as the fetchgroup gives it: `prev` is the same instance's
    /// value in the previous sample and `dt` the seconds between them.
    /// None where pmrep shows N/A (no previous sample, a counter that went
    /// backwards, a conversion that fails).
    pub fn cell(&self, v: &Value, prev: Option<&Value>, dt: f64) -> Option<Cell> {
        if self.desc.ty == Type::String {
            return Some(native(v));
        }
        let mut x = if self.rate {
            let d = as_f64(v)? - as_f64(prev?)?;
            if d < 0.0 {
                return None;
            }
            d / dt.max(1e-9)
        } else {
            match self.convert {
                None => return Some(native(v)),
                Some(_) => as_f64(v)?,
            }
        };
        if let Some((units, mult)) = self.convert {
            let scaled =
                conv_scale(Type::Double, &Value::Double(x), self.desc.units, units).ok()?;
            x = as_f64(&scaled)? * mult;
        }
        stuff(x, self.out_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_units_as_pmrep() {
        assert_eq!(short_label("kernel.all.cpu.user"), "k.a.c.user");
        assert_eq!(short_label("hinv.ncpu"), "h.ncpu");
        assert_eq!(format_unit_label("millisec / s"), "ms/s");
        assert_eq!(format_unit_label("count / s"), "count/s");
        assert_eq!(format_unit_label("Kbyte"), "Kbyte");
        assert_eq!(format_unit_label(" / s"), "/s");
        assert_eq!(units_str(Units::NONE), "");
    }
}
