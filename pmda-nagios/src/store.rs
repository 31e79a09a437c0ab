//! The latest results: per series (a plugin check, or one service of a
//! perfdata file), per host, the state, output, timings and performance
//! data, and per source the counts the control metrics report. The
//! background threads write it; fetches read it.
//!
//! Memory is bounded: at most [`MAX_SERIES`] series, [`MAX_HOSTS`] hosts
//! per series and [`MAX_PERF`] perfdata labels per series are kept (more
//! are counted as dropped, once per source), and an output text is cut at
//! [`MAX_OUTPUT_TEXT`] bytes.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::output::PluginOutput;
use crate::perfdata::{self, PerfItem, Range, Uom};

/// Most series kept.
pub const MAX_SERIES: usize = 10_000;
/// Most hosts kept per series.
pub const MAX_HOSTS: usize = 10_000;
/// Most perfdata labels kept per series.
pub const MAX_PERF: usize = 128;
/// Longest status text kept.
pub const MAX_OUTPUT_TEXT: usize = 4096;

/// What a series is: a plugin check, or a service (or the host checks) of
/// a perfdata file source.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// The source's name.
    pub source: String,
    /// The service: `None` for a plugin check, [`HOST_SERVICE`] for the
    /// host checks of a perfdata file.
    pub service: Option<String>,
    /// True for the host checks of a perfdata file (kept apart from a
    /// service that happens to be called [`HOST_SERVICE`]).
    pub host_checks: bool,
}

/// The service name under which a file's host check results are kept.
pub const HOST_SERVICE: &str = "host";

/// A perfdata label within a series (check_multi child and label).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PerfKey {
    /// check_multi child, if any.
    pub child: Option<String>,
    /// The label as the plugin wrote it.
    pub label: String,
}

/// What is known of a perfdata label across results: its unit (from the
/// first result that had it) and which threshold fields it ever had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerfInfo {
    /// The unit as the plugin wrote it.
    pub uom: String,
    /// Fields ever seen, a [`Part`] bit set.
    pub parts: u8,
    /// When the label was first seen, relative to the series' other labels
    /// (names are made in the order plugins print their labels).
    pub order: u32,
}

/// The parts of a perfdata item that become metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The value.
    Value = 0,
    /// Warning range low end.
    WarnLow = 1,
    /// Warning range high end.
    WarnHigh = 2,
    /// Critical range low end.
    CritLow = 3,
    /// Critical range high end.
    CritHigh = 4,
    /// Minimum.
    Min = 5,
    /// Maximum.
    Max = 6,
}

impl Part {
    /// Every part, in order.
    pub const ALL: [Part; 7] = [
        Part::Value,
        Part::WarnLow,
        Part::WarnHigh,
        Part::CritLow,
        Part::CritHigh,
        Part::Min,
        Part::Max,
    ];

    /// The metric name's last component.
    pub fn name(self) -> &'static str {
        match self {
            Part::Value => "value",
            Part::WarnLow => "warn_low",
            Part::WarnHigh => "warn_high",
            Part::CritLow => "crit_low",
            Part::CritHigh => "crit_high",
            Part::Min => "min",
            Part::Max => "max",
        }
    }
}

/// One perfdata item's latest numbers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PerfValue {
    /// The value (`None` for `U`).
    pub value: Option<f64>,
    /// Warning range.
    pub warn: Option<Range>,
    /// Critical range.
    pub crit: Option<Range>,
    /// Minimum.
    pub min: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
    /// The value's unit differs from the series' first unit and cannot be
    /// converted: no value.
    pub unit_mismatch: bool,
}

impl PerfValue {
    /// The number of `part`, if it has one (infinite range ends have none).
    pub fn part(&self, part: Part) -> Option<f64> {
        let finite = |v: f64| v.is_finite().then_some(v);
        match part {
            Part::Value if self.unit_mismatch => None,
            Part::Value => self.value,
            Part::WarnLow => self.warn.and_then(|r| finite(r.start)),
            Part::WarnHigh => self.warn.and_then(|r| finite(r.end)),
            Part::CritLow => self.crit.and_then(|r| finite(r.start)),
            Part::CritHigh => self.crit.and_then(|r| finite(r.end)),
            Part::Min => self.min,
            Part::Max => self.max,
        }
    }
}

/// One host's latest result in a series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HostResult {
    /// 0..3, when known.
    pub state: Option<u32>,
    /// The status text.
    pub output: String,
    /// Execution time, seconds.
    pub exec_time: Option<f64>,
    /// Scheduling latency, seconds.
    pub latency: Option<f64>,
    /// When the check ran.
    pub when: Option<SystemTime>,
    /// Results recorded.
    pub results: u64,
    /// Perfdata of the latest result.
    pub perf: BTreeMap<PerfKey, PerfValue>,
}

/// One series.
#[derive(Debug, Clone, Default)]
pub struct Series {
    /// Per host (`""` for a plugin check the agent runs itself).
    pub hosts: BTreeMap<String, HostResult>,
    /// Labels ever seen.
    pub perf: BTreeMap<PerfKey, PerfInfo>,
}

/// Per-source counts (the control metrics).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Plugin runs, or perfdata file polls that read something.
    pub calls: u64,
    /// Runs that could not start, or file reads that failed.
    pub errors: u64,
    /// Runs killed at their timeout.
    pub timeouts: u64,
    /// Perfdata items or file lines that did not parse.
    pub parse_errors: u64,
    /// Bytes of plugin output or perfdata file read.
    pub bytes: u64,
    /// Results recorded.
    pub results: u64,
    /// Perfdata file rotations followed.
    pub rotations: u64,
    /// Results, hosts or labels dropped at the store's limits.
    pub dropped: u64,
    /// The latest error, for the log and a control metric.
    pub last_error: String,
}

/// A result to record.
#[derive(Debug)]
pub struct NewResult<'a> {
    /// The series.
    pub key: SeriesKey,
    /// The host (`""` for a plugin check).
    pub host: &'a str,
    /// 0..3 when known.
    pub state: Option<u32>,
    /// The plugin output (status text, long text, perfdata).
    pub output: &'a str,
    /// Perfdata given apart from the output (perfdata files carry it in
    /// its own field).
    pub extra_perfdata: &'a str,
    /// Execution time.
    pub exec_time: Option<f64>,
    /// Latency.
    pub latency: Option<f64>,
    /// When it ran.
    pub when: SystemTime,
    /// Values taken from the status text by a regex, with their units.
    pub regex_values: Vec<(String, f64, String)>,
}

/// The latest results and counts.
#[derive(Debug, Default)]
pub struct Store {
    /// Every series.
    pub series: BTreeMap<SeriesKey, Series>,
    /// Per source.
    pub stats: BTreeMap<String, SourceStats>,
    /// Moves whenever a series, host or perfdata part appears or goes
    /// (the agent rebuilds its names then).
    pub names_generation: u64,
    /// Moves whenever a threshold label changes.
    pub labels_generation: u64,
}

impl Store {
    /// The counts of `source`.
    pub fn stats(&mut self, source: &str) -> &mut SourceStats {
        if !self.stats.contains_key(source) {
            self.stats
                .insert(source.to_string(), SourceStats::default());
        }
        self.stats.get_mut(source).expect("just inserted")
    }

    /// Records one result.
    pub fn record(&mut self, r: NewResult<'_>) {
        let source = r.key.source.clone();
        if !self.series.contains_key(&r.key) {
            if self.series.len() >= MAX_SERIES {
                self.stats(&source).dropped += 1;
                return;
            }
            self.series.insert(r.key.clone(), Series::default());
            self.names_generation += 1;
        }
        let series = self.series.get_mut(&r.key).expect("present");
        if !series.hosts.contains_key(r.host) {
            if series.hosts.len() >= MAX_HOSTS {
                self.stats(&source).dropped += 1;
                return;
            }
            series
                .hosts
                .insert(r.host.to_string(), HostResult::default());
            self.names_generation += 1;
        }
        let split = PluginOutput::split(r.output);
        let mut parse_errors = 0;
        let mut dropped = 0;
        let mut new_names = false;
        let mut new_labels = false;
        let mut perf = BTreeMap::new();
        let texts = split
            .perfdata
            .iter()
            .copied()
            .chain((!r.extra_perfdata.trim().is_empty()).then_some(r.extra_perfdata));
        for text in texts {
            for item in perfdata::parse(text) {
                match item {
                    Ok(it) => {
                        let key = PerfKey {
                            child: it.child.as_deref().map(str::to_string),
                            label: it.label.to_string(),
                        };
                        if !series.perf.contains_key(&key) && series.perf.len() >= MAX_PERF {
                            dropped += 1;
                            continue;
                        }
                        let v = perf_value(&it, series.perf.get(&key));
                        let order = series.perf.len() as u32;
                        let info = series.perf.entry(key.clone()).or_insert_with(|| {
                            new_names = true;
                            PerfInfo {
                                uom: it.uom.as_str().to_string(),
                                parts: 0,
                                order,
                            }
                        });
                        for part in Part::ALL {
                            if v.part(part).is_some() && info.parts & (1 << part as u8) == 0 {
                                info.parts |= 1 << part as u8;
                                new_names = true;
                            }
                        }
                        perf.insert(key, v);
                    }
                    Err(_) => parse_errors += 1,
                }
            }
        }
        for (label, value, uom) in r.regex_values {
            let key = PerfKey { child: None, label };
            let order = series.perf.len() as u32;
            let info = series.perf.entry(key.clone()).or_insert_with(|| {
                new_names = true;
                PerfInfo {
                    uom,
                    parts: 1,
                    order,
                }
            });
            info.parts |= 1;
            perf.insert(
                key,
                PerfValue {
                    value: Some(value),
                    ..Default::default()
                },
            );
        }
        let host = series.hosts.get_mut(r.host).expect("present");
        if host
            .perf
            .iter()
            .map(|(k, v)| (k, v.warn, v.crit, v.min, v.max))
            .ne(perf.iter().map(|(k, v)| (k, v.warn, v.crit, v.min, v.max)))
        {
            new_labels = true;
        }
        let mut text = split.status.to_string();
        if text.len() > MAX_OUTPUT_TEXT {
            let mut cut = MAX_OUTPUT_TEXT;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
        }
        host.state = r.state;
        host.output = text;
        host.exec_time = r.exec_time;
        host.latency = r.latency;
        host.when = Some(r.when);
        host.results += 1;
        host.perf = perf;
        if new_names {
            self.names_generation += 1;
        }
        if new_labels {
            self.labels_generation += 1;
        }
        let st = self.stats(&source);
        st.results += 1;
        st.parse_errors += parse_errors;
        st.dropped += dropped;
    }

    /// Forgets every series of sources not in `keep`.
    pub fn retain_sources(&mut self, keep: &dyn Fn(&str) -> bool) {
        let before = self.series.len();
        self.series.retain(|k, _| keep(&k.source));
        self.stats.retain(|s, _| keep(s));
        if self.series.len() != before {
            self.names_generation += 1;
        }
    }
}

/// The numbers of an item, in the unit the label was first seen with.
fn perf_value(it: &PerfItem<'_>, known: Option<&PerfInfo>) -> PerfValue {
    let mut v = PerfValue {
        value: it.value,
        warn: it.warn,
        crit: it.crit,
        min: it.min,
        max: it.max,
        unit_mismatch: false,
    };
    let Some(info) = known else { return v };
    if info.uom == it.uom.as_str() {
        return v;
    }
    let from = crate::units::units_of(it.uom);
    let to = crate::units::units_of(Uom::from_text(&info.uom));
    match from.0.conversion_factor(to.0) {
        Ok(f) if from.0 != pcp_core::Units::NONE => {
            let scale = |x: Option<f64>| x.map(|x| x * f);
            let scale_r = |r: Option<Range>| {
                r.map(|r| Range {
                    start: r.start * f,
                    end: r.end * f,
                    inside: r.inside,
                })
            };
            v.value = scale(v.value);
            v.min = scale(v.min);
            v.max = scale(v.max);
            v.warn = scale_r(v.warn);
            v.crit = scale_r(v.crit);
        }
        _ => v.unit_mismatch = true,
    }
    v
}
