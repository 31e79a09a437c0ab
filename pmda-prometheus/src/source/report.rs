//! What one document brought: refused names by reason, counts for the
//! control metrics, and the one status line per fetch.

use super::{Limits, MAX_INSTANCE_ID, MAX_ITEM};

/// Why a metric name was refused (each is counted per document and
/// reported once, with its count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A `FILTER: EXCLUDE METRIC` rule (not reported: asked for).
    Filtered,
    /// Not a valid PCP name.
    BadName,
    /// The source already has [`MAX_ITEM`]` + 1` metrics.
    MetricLimit,
    /// Its name collides with another metric's (`a` and `a.b`).
    NameClash,
}

impl Refusal {
    pub(super) fn text(self) -> &'static str {
        match self {
            Refusal::Filtered => "excluded by config filters",
            Refusal::BadName => "is unsuitable for the PCP namespace, ignored",
            Refusal::MetricLimit => "ignored: the source has its limit of metrics",
            Refusal::NameClash => "ignored: its name collides with another metric's",
        }
    }
}

/// What one document brought: counts for the control metrics and the one
/// status line per fetch (limits hit are counted, never logged per item).
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// Samples read.
    pub samples: u64,
    /// Lines skipped and values that did not convert.
    pub errors: u64,
    /// The sample limit cut the document.
    pub sample_limit: bool,
    /// Metric names refused for the per-source limit.
    pub over_metric_limit: u64,
    /// Metric names refused as invalid PCP names.
    pub bad_names: u64,
    /// Metric names refused for colliding with another.
    pub name_clashes: u64,
    /// The first name refused and why, for the report.
    pub first_refused: Option<(Refusal, String)>,
    /// An instance was refused for the per-metric limit.
    pub instance_limit: bool,
    /// Instances were refused for the source's memory limit.
    pub state_limit: bool,
    /// Lines skipped for their length.
    pub long_lines: u64,
}

impl IngestReport {
    pub(super) fn refused(&mut self, why: Refusal, name: &str) {
        match why {
            Refusal::Filtered => return,
            Refusal::BadName => self.bad_names += 1,
            Refusal::MetricLimit => self.over_metric_limit += 1,
            Refusal::NameClash => self.name_clashes += 1,
        }
        if self.first_refused.is_none() {
            self.first_refused = Some((why, name.chars().take(80).collect()));
        }
    }

    /// Metric names refused (all reasons but filters).
    pub fn ignored_names(&self) -> u64 {
        self.over_metric_limit + self.bad_names + self.name_clashes
    }

    /// What to say about this document beyond "success": (the conditions,
    /// as a key for rate limiting; the limits reached, for the status; the
    /// names ignored, for the log beside the status).
    pub fn notes(&self, truncated: bool, limits: &Limits) -> (String, String, String) {
        let mut key = Vec::new();
        let mut notes = Vec::new();
        if truncated {
            key.push("body");
            notes.push(format!(
                "body-size limit {} bytes reached, rest skipped",
                limits.max_body
            ));
        }
        if self.sample_limit {
            key.push("samples");
            notes.push(format!(
                "sample limit {} reached, rest skipped",
                limits.max_samples
            ));
        }
        if self.long_lines > 0 {
            key.push("lines");
            notes.push(format!(
                "{} lines longer than {} bytes skipped",
                self.long_lines, limits.max_line
            ));
        }
        let example = |why: Refusal| match &self.first_refused {
            Some((w, n)) if *w == why => format!(" (first {n:?})"),
            _ => String::new(),
        };
        if self.over_metric_limit > 0 {
            key.push("metrics");
            notes.push(format!(
                "metric limit {} per source reached: {} names ignored{}",
                MAX_ITEM + 1,
                self.over_metric_limit,
                example(Refusal::MetricLimit)
            ));
        }
        if self.instance_limit {
            key.push("instances");
            notes.push(format!(
                "instance limit {} per metric reached",
                MAX_INSTANCE_ID as u64 + 1
            ));
        }
        if self.state_limit {
            key.push("state");
            notes.push(format!(
                "memory limit {} bytes per source reached, new instances ignored",
                limits.max_state
            ));
        }
        let status = notes.join("; ");
        notes.clear();
        if self.bad_names > 0 {
            key.push("names");
            notes.push(format!(
                "{} names unsuitable for the PCP namespace ignored{}",
                self.bad_names,
                example(Refusal::BadName)
            ));
        }
        if self.name_clashes > 0 {
            key.push("clashes");
            notes.push(format!(
                "{} names colliding with other metrics' ignored{}",
                self.name_clashes,
                example(Refusal::NameClash)
            ));
        }
        (key.join(","), status, notes.join("; "))
    }
}
