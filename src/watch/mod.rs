//! `pcp-agent watch`: live values as pmrep(1) reports them.
//!
//! Metrics are named as on pmrep's command line: names or subtrees,
//! compact specifications (`name,label,instances,unit,type,width,precision`)
//! and `:metricset` presets read from pmrep's configuration
//! ([`config`]: `-c FILE`, pmrep's default places, or the shipped copy;
//! `:iostat` is also accepted for pmrep's `[iostat-dktx]`). Options come
//! from pmrep's defaults, the configuration's `[options]` and presets,
//! then the command line. Counters are shown as rates (the first sample
//! of a rate has none: `N/A`), values in the preset's or the metric's
//! units, laid out as pmrep lays them out ([`layout`]); instances that
//! appear after the start are shown by rewriting the header (pmrep's
//! dynamic header). `--json` prints one object per sample instead.
//!
//! Derived metrics are available as everywhere; a preset's formulas define
//! derived metrics in this context only.

pub mod config;
pub mod layout;
pub mod metrics;
pub mod options;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use pcp_core::derive::DerivedContext;
use pcp_core::{InDom, Pmapi, Pmid, Value, PM_IN_NULL};
use serde_json::{json, Map, Value as Json};

use self::config::{Config, MetricSpec};
use self::layout::{Layout, Row};
use self::metrics::{Cell, Metric};
use self::options::{Options, KEYS};

/// The previous sample: its time and every value by (PMID, instance).
type Previous = (SystemTime, HashMap<(Pmid, u32), Value>);

/// One metric's instances in a sample: (instance, name, value if any).
type Sampled = Vec<(u32, Option<String>, Option<Cell>)>;

/// What to watch and how.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    /// Metric names, subtrees, compact specifications or `:presets`.
    pub names: Vec<String>,
    /// Time between samples (default: the configuration's, else 1 s).
    pub interval: Option<Duration>,
    /// Number of samples (default: the configuration's, else until
    /// interrupted).
    pub samples: Option<u64>,
    /// One JSON object per sample instead of columns.
    pub json: bool,
    /// pmrep configuration file or directory (`-c`).
    pub config: Option<PathBuf>,
    /// Options from the command line, as pmrep configuration keys
    /// (`timestamp` = `yes`, `width` = `8`), applied last.
    pub overrides: Vec<(String, String)>,
    /// Align the first sample to a multiple of this many seconds of the
    /// wall clock (pmrep's `-A`).
    pub align: Option<Duration>,
}

/// pmrep presets known by a shorter name: `[iostat-dktx]` is pmrep's
/// `iostat -dktx`, the one `:iostat` means here (pmrep 6.0.3 has no
/// `[iostat]` section).
const ALIASES: &[(&str, &str)] = &[("iostat", "iostat-dktx")];

fn preset_name<'a>(config: &Config, name: &'a str) -> &'a str {
    if config.section(name).is_some() {
        return name;
    }
    ALIASES
        .iter()
        .find(|(a, _)| *a == name)
        .map_or(name, |(_, real)| real)
}

/// The report: its options, metrics (leaves) and the derived metrics its
/// presets define.
struct Plan {
    opts: Options,
    metrics: Vec<Metric>,
}

fn compact(spec: &str) -> MetricSpec {
    let parts: Vec<&str> = spec.splitn(8, ',').collect();
    let field = |i: usize| {
        parts
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    MetricSpec {
        name: parts[0].trim().to_string(),
        label: field(1),
        instances: field(2).map(|s| vec![s]).unwrap_or_default(),
        unit: field(3),
        raw: field(4).map(|t| t == "raw"),
        width: field(5).and_then(|w| w.parse().ok()),
        precision: field(6).and_then(|p| p.parse().ok()),
    }
}

fn plan(
    host: &dyn Pmapi,
    derived: &DerivedContext,
    base: &dyn Pmapi,
    w: &WatchOptions,
) -> Result<Plan, String> {
    let config = Config::load(w.config.as_deref())?;
    let mut opts = Options::default();
    for (k, v, source) in &config.options {
        opts.set(k, v)
            .map_err(|e| format!("Failed to read configuration file '{source}':\n{e}"))?;
    }
    let mut specs: Vec<MetricSpec> = Vec::new();
    let mut formulas: Vec<(String, String)> = Vec::new();
    for n in &w.names {
        let Some(preset) = n.strip_prefix(':') else {
            specs.push(compact(n));
            continue;
        };
        let real = preset_name(&config, preset);
        let section = config
            .section(real)
            .ok_or_else(|| format!("Metricset definition ':{preset}' not found."))?;
        for (k, v) in &section.entries {
            if KEYS.contains(&k.as_str()) {
                opts.set(k, v).map_err(|e| {
                    format!(
                        "Failed to read configuration file '{}':\n{e}",
                        section.source
                    )
                })?;
            }
        }
        let set = config.metricset(real, KEYS)?;
        formulas.extend(set.formulas);
        specs.extend(set.metrics);
    }
    for (k, v) in &w.overrides {
        opts.set(k, v)?;
    }
    if opts.globals {
        if let Some(g) = config.section("global") {
            let set = config::parse_metricset(g, KEYS)?;
            formulas.extend(set.formulas);
            let mut all = set.metrics;
            all.extend(specs);
            specs = all;
        }
    }
    for d in &opts.derived {
        if let Some((name, expr)) = d.split_once('=') {
            formulas.push((name.trim().to_string(), expr.trim().to_string()));
        }
    }
    // pmrep defines a formula only when its name is not a metric already.
    for (name, expr) in formulas {
        if host.lookup(&name).is_ok() {
            continue;
        }
        derived.add(base, &name, &expr).map_err(|e| {
            format!(
                "Failed to register derived metric:\n{}.",
                e.message.trim_end()
            )
        })?;
    }
    let mut metrics: Vec<Metric> = Vec::new();
    for spec in &specs {
        let leaves = match host.lookup(&spec.name) {
            Ok(p) => vec![(spec.name.clone(), p)],
            Err(_) => host
                .traverse(&spec.name)
                .map_err(|e| format!("Invalid metric {} ({e}).", spec.name))?,
        };
        if leaves.is_empty() {
            return Err(format!(
                "Invalid metric {} (Unknown metric name).",
                spec.name
            ));
        }
        for (name, pmid) in leaves {
            if metrics.iter().any(|m| m.pmid == pmid) {
                continue;
            }
            metrics.push(metrics::setup(host, &name, pmid, spec, &opts)?);
        }
    }
    if metrics.is_empty() {
        return Err("No metrics specified.".into());
    }
    Ok(Plan { opts, metrics })
}

/// Local time as strftime(3) formats it.
fn strftime(t: SystemTime, fmt: &str) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    let Ok(cfmt) = std::ffi::CString::new(fmt) else {
        return String::new();
    };
    // SAFETY: localtime_r fills the struct we pass; strftime writes at
    // most buf.len() bytes and returns how many.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&secs, &mut tm);
        let mut buf = [0u8; 256];
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// Instance names, asked again when a fetch returns an id not seen yet.
struct Names<'a> {
    host: &'a dyn Pmapi,
    known: HashMap<InDom, HashMap<u32, String>>,
}

impl Names<'_> {
    fn name(&mut self, indom: InDom, id: u32) -> Option<String> {
        if indom.is_null() || id == PM_IN_NULL {
            return None;
        }
        let fresh = |host: &dyn Pmapi| -> HashMap<u32, String> {
            host.instances(indom)
                .unwrap_or_default()
                .into_iter()
                .map(|i| (i.id, i.name))
                .collect()
        };
        if !self.known.get(&indom).is_some_and(|m| m.contains_key(&id)) {
            let map = fresh(self.host);
            self.known.insert(indom, map);
        }
        self.known.get(&indom).and_then(|m| m.get(&id).cloned())
    }
}

/// Runs the watch loop on `host` (a host seen through `derived`), printing
/// to standard output. `base` is the host itself, for defining the
/// presets' formulas in `derived`.
pub fn run(base: &dyn Pmapi, derived: &DerivedContext, w: &WatchOptions) -> Result<(), String> {
    let host = derived.view(base);
    let Plan { opts, metrics } = plan(&host, derived, base, w)?;
    let interval = w
        .interval
        .or(opts.interval)
        .unwrap_or(Duration::from_secs(1));
    let samples = w.samples.or(opts.samples);
    let pmids: Vec<Pmid> = metrics.iter().map(|m| m.pmid).collect();
    let mut names = Names {
        host: &host,
        known: HashMap::new(),
    };
    let ts_width = strftime(SystemTime::now(), &opts.timefmt).chars().count();
    let mut layout = Layout::new(opts.clone(), &metrics, ts_width);
    let mut out = String::new();
    if !w.json {
        layout.start(&mut out, &metrics);
        flush(&mut out);
    }
    if let Some(a) = w.align.filter(|a| !a.is_zero()) {
        let now = SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let into = now.as_secs_f64() % a.as_secs_f64();
        std::thread::sleep(Duration::from_secs_f64(a.as_secs_f64() - into));
    }
    let mut prev: Option<Previous> = None;
    let mut n = 0u64;
    let start = Instant::now();
    while samples.is_none_or(|s| n < s) {
        let result = host.fetch(&pmids);
        let dt = prev
            .as_ref()
            .and_then(|(t, _)| result.timestamp.duration_since(*t).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        // Every named instance of each metric, with its value if it has one.
        let mut all: Vec<Sampled> = Vec::with_capacity(metrics.len());
        let mut current = HashMap::new();
        for (m, (_, r)) in metrics.iter().zip(result.values.iter()) {
            let mut row = Vec::new();
            if let Ok(list) = r {
                for (inst, v) in list {
                    current.insert((m.pmid, *inst), v.clone());
                    let name = names.name(m.desc.indom, *inst);
                    // pmrep skips transient instances it cannot name.
                    if !m.desc.indom.is_null() && name.is_none() {
                        continue;
                    }
                    let before = prev.as_ref().and_then(|(_, p)| p.get(&(m.pmid, *inst)));
                    row.push((*inst, name, m.cell(v, before, dt)));
                }
            }
            all.push(row);
        }
        let stamp = strftime(result.timestamp, &opts.timefmt);
        if w.json {
            println!("{}", sample_json(&metrics, &result, &all, &stamp));
        } else {
            // pmrep's results hold only the values it could compute.
            let rows: Vec<Row> = all
                .into_iter()
                .map(|r| {
                    r.into_iter()
                        .filter_map(|(i, n, c)| Some((i, n, c?)))
                        .collect()
                })
                .collect();
            layout.sample(&mut out, &metrics, &rows, &stamp);
            flush(&mut out);
        }
        prev = Some((result.timestamp, current));
        n += 1;
        if samples.is_some_and(|s| n >= s) {
            break;
        }
        // pmrep paces samples from the first: start + n * interval.
        let next = start + interval.mul_f64(n as f64);
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
    }
    Ok(())
}

fn flush(out: &mut String) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    out.clear();
}

fn cell_json(c: Option<&Cell>) -> Json {
    match c {
        Some(Cell::Int(i)) => serde_json::Number::from_f64(*i as f64)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Some(Cell::Float(x)) => serde_json::Number::from_f64(*x)
            .map(Json::Number)
            .unwrap_or(Json::Null),
        Some(Cell::Str(s)) => Json::String(s.clone()),
        None => Json::Null,
    }
}

/// One sample as JSON: `{"timestamp", "time", "values": {name: value or
/// {instance: value}}}` (null where there is no value yet, an
/// `{"error"}` object for a metric whose fetch failed).
fn sample_json(
    metrics: &[Metric],
    result: &pcp_core::FetchResult,
    rows: &[Sampled],
    stamp: &str,
) -> Json {
    let mut values = Map::new();
    for ((m, (_, r)), row) in metrics.iter().zip(result.values.iter()).zip(rows) {
        let entry = match r {
            Err(e) => json!({ "error": e.to_string() }),
            Ok(_) if m.desc.indom.is_null() => cell_json(row.first().and_then(|e| e.2.as_ref())),
            Ok(_) => Json::Object(
                row.iter()
                    .filter_map(|(_, name, cell)| Some((name.clone()?, cell_json(cell.as_ref()))))
                    .collect(),
            ),
        };
        values.insert(m.name.clone(), entry);
    }
    let ts = result
        .timestamp
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    json!({ "timestamp": ts, "time": stamp, "values": values })
}
