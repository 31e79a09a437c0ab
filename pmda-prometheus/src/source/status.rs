//! A source's status between scrapes: how old its values are, its `.url`
//! file re-read when edited, and each scrape's outcome recorded in the
//! counters behind the control metrics (failures logged once until the
//! source recovers).

use super::{url_parts, Ctx, FileStamp, SourceState, MAX_STALE};
use crate::config::{FilterAction, UrlConfig};
use crate::fetch::FetchFailure;
use crate::ingest::Outcome;
use crate::log::{log, Level};
use pcp_core::LabelSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

impl SourceState {
    /// How old the values answered are: the time since the last complete
    /// document (`None` when the source has no values).
    pub fn age(&self) -> Option<Duration> {
        self.good_at
            .filter(|_| self.good_gen != 0)
            .map(|t| t.elapsed())
    }

    /// The stamp of the `.url` file as last read.
    pub fn url_stamp(&self) -> Option<FileStamp> {
        self.url_stamp
    }

    /// Re-reads the `.url` file if it changed; returns the config to use.
    pub fn refresh_url(
        &mut self,
        path: &Path,
        root: &str,
        source: &str,
    ) -> Result<Arc<UrlConfig>, String> {
        let stamp = FileStamp::of(path);
        if let (Some(cfg), true) = (&self.url, stamp == self.url_stamp) {
            return Ok(Arc::clone(cfg));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let cfg = UrlConfig::parse(&text);
        for w in &cfg.warnings {
            log(Level::Error, root, &format!("{}: {w}", path.display()));
        }
        let cfg = Arc::new(cfg);
        // New filters: forget cached decisions and re-check existing metrics.
        self.excluded.clear();
        self.label_actions.clear();
        for m in &mut self.metrics {
            m.filtered = cfg.metric_action(&m.key) == FilterAction::Exclude;
        }
        let (url, host) = url_parts(&cfg.url);
        let mut labels = LabelSet::new();
        labels.insert("hostname", host);
        labels.insert("source", source);
        labels.insert("url", url);
        for (k, v) in &cfg.labels {
            labels.insert(k, v.as_str());
        }
        if labels != self.labels {
            self.labels = labels;
            self.labels_changed = true;
        }
        self.url = Some(Arc::clone(&cfg));
        self.url_stamp = stamp;
        Ok(cfg)
    }

    /// Records a failed attempt. A source that was slow (a timeout) keeps
    /// answering with its last good values, marked stale, for up to
    /// [`MAX_STALE`]; any other failure (refused, HTTP error, script
    /// failure) leaves it without values until the next success, as the
    /// reference agent does.
    pub fn record_failure(&mut self, what: &str, failure: &FetchFailure, root: &str, source: &str) {
        self.stats.calls += 1;
        self.stats.failures += 1;
        self.stats.up = false;
        self.stats.status_code = failure.1;
        self.stats.status = format!(
            "failed to fetch URL or execute script {what}: {}",
            failure.0
        );
        let keep = failure.0.is_timeout() && self.good_at.is_some_and(|t| t.elapsed() < MAX_STALE);
        if !keep {
            self.good_gen = 0;
            self.good_at = None;
        }
        let text = format!("source {source}: {}", self.stats.status);
        if !self
            .logged
            .log(Level::Warning, root, &self.stats.status, &text)
        {
            log(Level::Debug, root, &text);
        }
    }

    /// Records a successful attempt whose document was read (with
    /// [`crate::ingest::Ingest`]): the counters, and the status text, which is also what
    /// the log says (once per condition, see [`crate::log::Repeats`]).
    pub fn record_success(&mut self, done: &Outcome, source: &str, ctx: &Ctx) {
        let report = &done.report;
        self.stats.calls += 1;
        self.stats.fetch_us += done.fetch_time.as_micros() as u64;
        self.stats.parse_us += done.parse_time.as_micros() as u64;
        self.stats.bytes += done.bytes;
        self.stats.status_code = done.status_code;
        self.stats.samples = report.samples;
        self.stats.parse_errors += report.errors;
        self.stats.ignored_names = report.ignored_names();
        let (key, notes, names) = report.notes(done.truncated, &ctx.limits);
        self.stats.status = if notes.is_empty() {
            "success".into()
        } else {
            format!("success; {notes}")
        };
        self.stats.up = true;
        self.stats.last_success = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        if !key.is_empty() {
            let text = match names.is_empty() {
                true => format!("source {source}: {}", self.stats.status),
                false => format!("source {source}: {}; {names}", self.stats.status),
            };
            self.logged.log(Level::Warning, &ctx.root, &key, &text);
        } else if self.logged.active() {
            log(
                Level::Info,
                &ctx.root,
                &format!("source {source}: success again"),
            );
            self.logged.clear();
        }
    }

    pub(super) fn label_action(&mut self, cfg: Option<&UrlConfig>, name: &str) -> FilterAction {
        let Some(cfg) = cfg.filter(|c| !c.label_filters.is_empty()) else {
            return FilterAction::Include;
        };
        if let Some(a) = self.label_actions.get(name) {
            return *a;
        }
        let a = cfg.label_action(name);
        self.label_actions.insert(name.into(), a);
        a
    }
}
