//! pmrep's reporting options: its defaults, the keys its configuration
//! files may set (in `[options]` or in a metricset), and how a value is
//! read (`yes`/`no`, numbers, quoted strings).

use std::time::Duration;

/// The configuration keys pmrep knows (a key of a metricset that is one of
/// these is an option, not a metric).
pub const KEYS: &[&str] = &[
    "source",
    "output",
    "derived",
    "header",
    "globals",
    "samples",
    "interval",
    "type",
    "precision",
    "daemonize",
    "timestamp",
    "unitinfo",
    "colxrow",
    "separate_header",
    "fixed_header",
    "delay",
    "width",
    "delimiter",
    "extcsv",
    "width_force",
    "extheader",
    "repeat_header",
    "timefmt",
    "interpol",
    "dynamic_header",
    "overall_rank",
    "overall_rank_alt",
    "sort_metric",
    "count_scale",
    "space_scale",
    "time_scale",
    "version",
    "count_scale_force",
    "space_scale_force",
    "time_scale_force",
    "type_prefer",
    "precision_force",
    "limit_filter",
    "limit_filter_force",
    "live_filter",
    "rank",
    "invert_filter",
    "predicate",
    "names_change",
    "speclocal",
    "instances",
    "ignore_incompat",
    "ignore_unknown",
    "omit_flat",
    "instinfo",
    "include_labels",
    "include_texts",
];

/// When the header is written again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// Never.
    Never,
    /// Every N samples.
    Every(usize),
    /// As often as the terminal's height allows (24 lines off a terminal).
    Auto,
}

/// The options that shape a report.
#[derive(Debug, Clone)]
pub struct Options {
    /// Print the header.
    pub header: bool,
    /// Print the instance names line.
    pub instinfo: bool,
    /// Print the units line.
    pub unitinfo: bool,
    /// Add the `[global]` metrics.
    pub globals: bool,
    /// Print a timestamp on each line.
    pub timestamp: bool,
    /// strftime format of the timestamp.
    pub timefmt: String,
    /// Digits after the decimal point.
    pub precision: usize,
    /// Digits after the decimal point, whatever a metric asks.
    pub precision_force: Option<usize>,
    /// Column width (0: the label's).
    pub width: usize,
    /// Column width, whatever a metric asks.
    pub width_force: Option<usize>,
    /// Between columns (two spaces by default).
    pub delimiter: Option<String>,
    /// Header repetition.
    pub repeat_header: Repeat,
    /// Swap columns and rows: one line per instance, this text heading the
    /// instance column.
    pub colxrow: Option<String>,
    /// Rewrite the header when the instances change.
    pub dynamic_header: bool,
    /// With colxrow: keep the header, let instances come and go.
    pub fixed_header: bool,
    /// Raw counter values (no rate conversion).
    pub raw: bool,
    /// Default units per dimension, and forced ones.
    pub count_scale: Option<String>,
    /// Forced count units.
    pub count_scale_force: Option<String>,
    /// Default space units.
    pub space_scale: Option<String>,
    /// Forced space units.
    pub space_scale_force: Option<String>,
    /// Default time units.
    pub time_scale: Option<String>,
    /// Forced time units.
    pub time_scale_force: Option<String>,
    /// Sampling interval, if the configuration sets one.
    pub interval: Option<Duration>,
    /// Number of samples, if the configuration sets one.
    pub samples: Option<u64>,
    /// Derived metric definitions (`name=expr;...` or files).
    pub derived: Vec<String>,
}

impl Default for Options {
    /// pmrep's built-in defaults.
    fn default() -> Options {
        Options {
            header: true,
            instinfo: true,
            unitinfo: true,
            globals: true,
            timestamp: false,
            timefmt: "%H:%M:%S".into(),
            precision: 3,
            precision_force: None,
            width: 0,
            width_force: None,
            delimiter: None,
            repeat_header: Repeat::Never,
            colxrow: None,
            dynamic_header: false,
            fixed_header: false,
            raw: false,
            count_scale: None,
            count_scale_force: None,
            space_scale: None,
            space_scale_force: None,
            time_scale: None,
            time_scale_force: None,
            interval: None,
            samples: None,
            derived: Vec::new(),
        }
    }
}

fn unquote(v: &str) -> &str {
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

fn flag(v: &str) -> Result<bool, String> {
    match v {
        "true" | "True" | "y" | "yes" | "Yes" | "1" => Ok(true),
        "false" | "False" | "n" | "no" | "No" | "0" => Ok(false),
        _ => Err(format!("expected yes or no, not {v:?}")),
    }
}

fn number(v: &str) -> Result<usize, String> {
    v.parse::<usize>()
        .map_err(|_| format!("Non-negative integer expected, not {v:?}"))
}

impl Options {
    /// Sets option `key` from a configuration value (pmconfig's set_attr).
    /// Keys pmrep knows but `watch` does not use are accepted and ignored.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        let v = value.trim();
        let bad = |e: String| format!("Error while reading option {key}: {e}.");
        match key {
            "header" => self.header = flag(v).map_err(bad)?,
            "instinfo" => self.instinfo = flag(v).map_err(bad)?,
            "unitinfo" => self.unitinfo = flag(v).map_err(bad)?,
            "globals" => self.globals = flag(v).map_err(bad)?,
            "timestamp" => self.timestamp = flag(v).map_err(bad)?,
            "dynamic_header" => self.dynamic_header = flag(v).map_err(bad)?,
            "fixed_header" => self.fixed_header = flag(v).map_err(bad)?,
            "precision" => self.precision = number(v).map_err(bad)?,
            "precision_force" => self.precision_force = Some(number(v).map_err(bad)?),
            "width" => self.width = number(v).map_err(bad)?,
            "width_force" => self.width_force = Some(number(v).map_err(bad)?),
            "delimiter" => self.delimiter = Some(unquote(v).to_string()),
            "timefmt" => self.timefmt = unquote(v).to_string(),
            "colxrow" => self.colxrow = Some(unquote(v).to_string()),
            "type" => self.raw = v == "raw",
            "repeat_header" => {
                self.repeat_header = match v {
                    "auto" => Repeat::Auto,
                    "0" => Repeat::Never,
                    n => Repeat::Every(number(n).map_err(bad)?),
                }
            }
            "count_scale" => self.count_scale = Some(unquote(v).to_string()),
            "count_scale_force" => self.count_scale_force = Some(unquote(v).to_string()),
            "space_scale" => self.space_scale = Some(unquote(v).to_string()),
            "space_scale_force" => self.space_scale_force = Some(unquote(v).to_string()),
            "time_scale" => self.time_scale = Some(unquote(v).to_string()),
            "time_scale_force" => self.time_scale_force = Some(unquote(v).to_string()),
            "samples" => self.samples = Some(number(v).map_err(bad)? as u64),
            "interval" => {
                let secs: f64 = v
                    .trim_end_matches(['s', 'e', 'c'])
                    .parse()
                    .map_err(|_| bad(format!("not a number of seconds: {v:?}")))?;
                if !(secs > 0.0 && secs.is_finite()) {
                    return Err(bad("the interval must be positive".into()));
                }
                self.interval = Some(Duration::from_secs_f64(secs));
            }
            "derived" => {
                let v = unquote(v);
                let sep = if v.contains(';') { ';' } else { ',' };
                self.derived
                    .extend(v.split(sep).filter(|s| !s.is_empty()).map(str::to_string));
            }
            k if KEYS.contains(&k) => {}
            k => return Err(format!("Unknown option {k} in [options]")),
        }
        Ok(())
    }

    /// The column delimiter (two spaces unless set).
    pub fn delim(&self) -> &str {
        self.delimiter.as_deref().unwrap_or("  ")
    }
}

/// pmrep's command-line options that `watch` takes, as configuration keys.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ReportArgs {
    /// pmrep configuration file or directory (default: pmrep's own places,
    /// else the shipped presets).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Print timestamps.
    #[arg(short = 'p', long = "timestamps")]
    pub timestamps: bool,
    /// strftime(3) format of the timestamps.
    #[arg(short = 'f', long = "timestamp-format", value_name = "STR")]
    pub timefmt: Option<String>,
    /// Omit headers.
    #[arg(short = 'H', long = "no-header")]
    pub no_header: bool,
    /// Omit the units line.
    #[arg(short = 'U', long = "no-unit-info")]
    pub no_unit_info: bool,
    /// Omit the instance names line.
    #[arg(long = "no-inst-info")]
    pub no_inst_info: bool,
    /// Omit the [global] metrics of the configuration.
    #[arg(short = 'G', long = "no-globals")]
    pub no_globals: bool,
    /// Raw counter values (no rate conversion).
    #[arg(short = 'r', long = "raw")]
    pub raw: bool,
    /// Default column width.
    #[arg(short = 'w', long = "width", value_name = "N")]
    pub width: Option<usize>,
    /// Column width for every metric.
    #[arg(short = 'W', long = "width-force", value_name = "N")]
    pub width_force: Option<usize>,
    /// Digits after the decimal point (default 3).
    #[arg(short = 'P', long = "precision", value_name = "N")]
    pub precision: Option<usize>,
    /// Digits after the decimal point for every metric.
    #[arg(short = '0', long = "precision-force", value_name = "N")]
    pub precision_force: Option<usize>,
    /// Column delimiter (default two spaces).
    #[arg(short = 'l', long = "delimiter", value_name = "STR")]
    pub delimiter: Option<String>,
    /// Swap columns and rows, STR heading the instance column.
    #[arg(short = 'X', long = "colxrow", value_name = "STR")]
    pub colxrow: Option<String>,
    /// Repeat the header every N samples (or "auto").
    #[arg(short = 'E', long = "repeat-header", value_name = "N")]
    pub repeat_header: Option<String>,
    /// Rewrite the header whenever the instances change.
    #[arg(short = '1', long = "dynamic-header")]
    pub dynamic_header: bool,
    /// With --colxrow: a fixed header, instances coming and going.
    #[arg(short = '7', long = "fixed-header")]
    pub fixed_header: bool,
    /// Default and forced count units.
    #[arg(short = 'q', long = "count-scale", value_name = "SCALE")]
    pub count_scale: Option<String>,
    /// Count units for every metric.
    #[arg(short = 'Q', long = "count-scale-force", value_name = "SCALE")]
    pub count_scale_force: Option<String>,
    /// Default space units.
    #[arg(short = 'b', long = "space-scale", value_name = "SCALE")]
    pub space_scale: Option<String>,
    /// Space units for every metric.
    #[arg(short = 'B', long = "space-scale-force", value_name = "SCALE")]
    pub space_scale_force: Option<String>,
    /// Default time units.
    #[arg(short = 'y', long = "time-scale", value_name = "SCALE")]
    pub time_scale: Option<String>,
    /// Time units for every metric.
    #[arg(short = 'Y', long = "time-scale-force", value_name = "SCALE")]
    pub time_scale_force: Option<String>,
    /// Align the first sample to a multiple of SECS seconds of the clock.
    #[arg(short = 'A', long = "align", value_name = "SECS")]
    pub align: Option<f64>,
    /// Derived metrics for this report: NAME=EXPRESSION (repeatable).
    #[arg(short = 'e', long = "derived-metric", value_name = "NAME=EXPR")]
    pub derived: Vec<String>,
}

impl ReportArgs {
    /// The options given, as pmrep configuration keys and values.
    pub fn overrides(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, val: String| v.push((k.to_string(), val));
        for (on, key, value) in [
            (self.timestamps, "timestamp", "yes"),
            (self.no_header, "header", "no"),
            (self.no_unit_info, "unitinfo", "no"),
            (self.no_inst_info, "instinfo", "no"),
            (self.no_globals, "globals", "no"),
            (self.raw, "type", "raw"),
            (self.dynamic_header, "dynamic_header", "yes"),
            (self.fixed_header, "fixed_header", "yes"),
        ] {
            if on {
                put(key, value.to_string());
            }
        }
        let opt = [
            ("timefmt", self.timefmt.clone()),
            ("width", self.width.map(|n| n.to_string())),
            ("width_force", self.width_force.map(|n| n.to_string())),
            ("precision", self.precision.map(|n| n.to_string())),
            (
                "precision_force",
                self.precision_force.map(|n| n.to_string()),
            ),
            ("delimiter", self.delimiter.clone()),
            ("colxrow", self.colxrow.clone()),
            ("repeat_header", self.repeat_header.clone()),
            ("count_scale", self.count_scale.clone()),
            ("count_scale_force", self.count_scale_force.clone()),
            ("space_scale", self.space_scale.clone()),
            ("space_scale_force", self.space_scale_force.clone()),
            ("time_scale", self.time_scale.clone()),
            ("time_scale_force", self.time_scale_force.clone()),
        ];
        for (k, val) in opt {
            if let Some(val) = val {
                put(k, val);
            }
        }
        for d in &self.derived {
            put("derived", format!("{d};"));
        }
        v
    }
}
