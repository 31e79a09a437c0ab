//! The agent's control metrics, `ROOT.control.*` in cluster 0: one row per
//! metric (leaf, item, type, semantics, units, help) and the value of each,
//! per source plus the `control` instance's total, from the sources'
//! counters and the HTTP client's.
//!
//! pmdaopenmetrics has items 1-6 (with its own one-line help, kept word
//! for word in meaning); items 7-15 and the scheduling items from 40 are
//! ours, served only with [`crate::PrometheusConfig::extended_control`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use pcp_core::agent::{IndomDef, MetricDef, MetricSet, Metrics, Sink};
use pcp_core::desc::time;
use pcp_core::{NamespaceError, Units, Value};

use crate::agent::Handle;
use crate::scrape::Shared;
use crate::source::{Source, SourceState};

/// Cluster of the control metrics.
pub const CLUSTER: u32 = 0;

/// The sources, plus instance 0, `control`, with the totals.
pub const SOURCES: IndomDef = IndomDef::new(
    0,
    "Sources of the agent, and the control instance with totals",
);

const USEC: Units = Units::new(0, 1, 0, 0, time::USEC, 0);

pcp_core::metrics! {
    /// The control metrics; each name is the leaf under `ROOT.control`.
    pub enum Control {
        /// Scrapes per source.
        Calls = MetricDef::u64("calls", CLUSTER, 1).counter().units(Units::COUNT).indom(&SOURCES)
            .oneline("Number of times each source was fetched (URL GET or script run), failures included"),
        /// Fetch time per source, ms.
        FetchTime = MetricDef::u64("fetch_time", CLUSTER, 2).counter().units(Units::MILLISEC).indom(&SOURCES)
            .oneline("Cumulative time spent fetching each source (successful attempts), milliseconds"),
        /// Parse time per source, ms.
        ParseTime = MetricDef::u64("parse_time", CLUSTER, 3).counter().units(Units::MILLISEC).indom(&SOURCES)
            .oneline("Cumulative time spent parsing each source's documents, milliseconds"),
        /// The debug flag (storable).
        Debug = MetricDef::u32("debug", CLUSTER, 4).discrete().storable()
            .oneline("Debug flag: pmstore a non-zero value to turn verbose logging on, 0 to turn it off"),
        /// Status of the last scrape per source.
        Status = MetricDef::string("status", CLUSTER, 5).indom(&SOURCES)
            .oneline("Status of the last fetch of each source: unknown, success, or why it failed"),
        /// HTTP status code of the last scrape per source.
        StatusCode = MetricDef::i32("status_code", CLUSTER, 6).discrete().indom(&SOURCES)
            .oneline("HTTP status code of the last fetch of each source (0 for files, scripts and connection failures)"),
        /// Malformed lines and unconvertible values per source.
        ParseErrors = MetricDef::u64("parse_errors", CLUSTER, 7).counter().units(Units::COUNT).indom(&SOURCES)
            .oneline("Lines skipped as malformed and values that did not convert, per source"),
        /// Bytes received per source.
        Bytes = MetricDef::u64("bytes", CLUSTER, 8).counter().units(Units::BYTES).indom(&SOURCES)
            .oneline("Bytes of documents received, per source"),
        /// Samples in the last document per source.
        Samples = MetricDef::u64("samples", CLUSTER, 9).units(Units::COUNT).indom(&SOURCES)
            .oneline("Samples in the last document of each source"),
        /// Time of the last good scrape per source.
        LastSuccess = MetricDef::double("last_success", CLUSTER, 10).units(Units::SEC).indom(&SOURCES)
            .oneline("When each source was last fetched successfully, seconds since the epoch (0 if never)"),
        /// Whether the last scrape of each source succeeded.
        Up = MetricDef::u32("up", CLUSTER, 11).indom(&SOURCES)
            .oneline("1 if the last fetch of the source succeeded, else 0 (the control instance counts sources up)"),
        /// Fetch time per source, µs.
        FetchTimeUs = MetricDef::u64("fetch_time_us", CLUSTER, 12).counter().units(USEC).indom(&SOURCES)
            .oneline("Cumulative fetch time of each source, microseconds"),
        /// Parse time per source, µs.
        ParseTimeUs = MetricDef::u64("parse_time_us", CLUSTER, 13).counter().units(USEC).indom(&SOURCES)
            .oneline("Cumulative parse time of each source, microseconds"),
        /// Metrics per source.
        Metrics = MetricDef::u32("metrics", CLUSTER, 14).units(Units::COUNT).indom(&SOURCES)
            .oneline("Number of metrics each source has"),
        /// Failed scrapes per source.
        Failures = MetricDef::u64("failures", CLUSTER, 15).counter().units(Units::COUNT).indom(&SOURCES)
            .oneline("Number of failed fetches of each source"),
        /// Whether the values last answered were stale.
        Stale = MetricDef::u32("stale", CLUSTER, 40).indom(&SOURCES)
            .oneline("1 if the values last answered for the source were older than the fetch that asked (its scrape ran past the deadline, or timed out and its last good values were kept), else 0; the control instance counts stale sources"),
        /// Age of each source's values.
        Age = MetricDef::double("age", CLUSTER, 41).units(Units::SEC).indom(&SOURCES)
            .oneline("Seconds since the source's values were read (its last complete document); sources without values have none; the control instance gives the oldest"),
        /// Whether a scrape of the source runs.
        InFlight = MetricDef::u32("in_flight", CLUSTER, 42).indom(&SOURCES)
            .oneline("1 while a scrape of the source runs; the control instance counts the scrapes running"),
        /// Fetches answered from the last scrape.
        CacheHits = MetricDef::u64("cache_hits", CLUSTER, 43).counter().units(Units::COUNT).indom(&SOURCES)
            .oneline("Fetches of the source answered from its last scrape without scraping it (its minimum interval had not passed)"),
        /// Scrapes that waited for a worker or a connection slot.
        PoolWaits = MetricDef::u64("pool_waits", CLUSTER, 44).counter().units(Units::COUNT).indom(&SOURCES)
            .oneline("Scrapes of the source that waited for a free worker thread or HTTP connection slot"),
        /// Fetches that answered before the scrape ended.
        DeadlineMisses = MetricDef::u64("deadline_misses", CLUSTER, 45).counter().units(Units::COUNT).indom(&SOURCES)
            .oneline("Fetches that answered before the source's scrape ended (with its last good values, marked stale, or none)"),
        /// Names of the last document that were ignored.
        IgnoredNames = MetricDef::u64("ignored_names", CLUSTER, 46).units(Units::COUNT).indom(&SOURCES)
            .oneline("Metric names of the source's last document that were ignored: past the per-source metric limit, unsuitable for PCP, or colliding with another"),
        /// Each source's minimum scrape interval.
        MinInterval = MetricDef::double("min_interval", CLUSTER, 47).discrete().units(Units::SEC).indom(&SOURCES)
            .oneline("The source's minimum scrape interval in seconds (0: every fetch scrapes it); the control instance gives the agent's default"),
        /// HTTP scrapes waiting for a connection slot.
        Queued = MetricDef::u32("queued", CLUSTER, 48)
            .oneline("HTTP scrapes waiting now for a free connection slot (at most MAX_IN_FLIGHT run at once)"),
        /// HTTP connections opened.
        Connections = MetricDef::u64("connections", CLUSTER, 49).counter().units(Units::COUNT)
            .oneline("HTTP connections opened (connections are kept alive and reused across fetches)"),
        /// Requests sent on a kept-alive connection.
        Reuses = MetricDef::u64("reuses", CLUSTER, 50).counter().units(Units::COUNT)
            .oneline("HTTP requests sent on a kept-alive connection"),
        /// Scrapes ended early to free a connection slot.
        Evictions = MetricDef::u64("evictions", CLUSTER, 51).counter().units(Units::COUNT)
            .oneline("HTTP scrapes past their deadline ended early to free a connection slot for waiting ones"),
    }
}

/// pmdaopenmetrics's control metrics are items 1 to 6.
const PCP_ITEMS: u32 = 6;

/// pmdaopenmetrics's one-line help of its control metric `c`.
fn pcp_oneline(c: Control, root: &str) -> Option<String> {
    Some(match c {
        Control::Calls => "per-end-point source call counter".into(),
        Control::FetchTime => {
            "per-end-point source fetch time counter, excluding parse time".into()
        }
        Control::ParseTime => {
            "per-end-point source parse time counter, excluding fetch time".into()
        }
        Control::Debug => format!(
            "debug flag to enable verbose log messages, to enable: pmstore {root}.control.debug 1"
        ),
        Control::Status => {
            "per-end-point source URL response status after the most recent fetch".into()
        }
        Control::StatusCode => {
            "per-end-point source URL response status code after the most recent fetch".into()
        }
        _ => return None,
    })
}

/// The control rows under `root`: pmdaopenmetrics's six, and with
/// `extended` ours too. pmdaopenmetrics's one-line texts for its six, our
/// longer words as their help, unless standing in for it exactly.
pub(crate) fn table(root: &str, extended: bool) -> Result<Metrics<Handle>, NamespaceError> {
    let mut t = Metrics::new(crate::DOMAIN);
    t.define_indom(&SOURCES);
    for (c, def) in Control::defs() {
        if !extended && def.item > PCP_ITEMS {
            continue;
        }
        let name = format!("{root}.control.{}", def.name);
        let row = t.add_def_at(name, CLUSTER, def, Handle::Control(*c))?;
        if let Some(pcp) = pcp_oneline(*c, root) {
            if extended {
                row.help = def.oneline.into();
            }
            row.oneline = pcp.into();
        }
    }
    Ok(t)
}

/// Puts the value(s) of control metric `c` into `out`.
pub(crate) fn value(shared: &Shared, debug: bool, c: Control, out: &mut Sink<'_>) {
    let http = shared.http.stats();
    match c {
        Control::Debug => return out.set(debug as u32),
        Control::Queued => return out.set(http.queued.load(Ordering::Relaxed) as u32),
        Control::Connections => return out.set(http.connects.load(Ordering::Relaxed)),
        Control::Reuses => return out.set(http.reuses.load(Ordering::Relaxed)),
        Control::Evictions => return out.set(http.evictions.load(Ordering::Relaxed)),
        _ => {}
    }
    let sources: Vec<Arc<Source>> = shared.sources.read().values().cloned().collect();
    let mut values = Vec::with_capacity(sources.len());
    let (mut sum, mut max, mut fetch_us, mut parse_us) = (0u64, 0f64, 0u64, 0u64);
    for s in &sources {
        let in_flight = c == Control::InFlight && s.scrape.lock().in_flight;
        let st = s.state.lock();
        fetch_us += st.stats.fetch_us;
        parse_us += st.stats.parse_us;
        let Some(v) = of_source(c, &st, in_flight, shared) else {
            continue;
        };
        match v {
            Value::U32(n) => sum += u64::from(n),
            Value::U64(n) => sum += n,
            Value::Double(d) => max = max.max(d),
            _ => {}
        }
        values.push((s.cluster, v));
    }
    // The control instance: totals (ms from the microsecond sums, not
    // sums of truncations), counts, or the largest.
    let total = match c {
        Control::FetchTime => Value::U64(fetch_us / 1000),
        Control::ParseTime => Value::U64(parse_us / 1000),
        Control::Status => Value::String("none".into()),
        Control::StatusCode => Value::I32(0),
        Control::Up | Control::Metrics | Control::Stale | Control::InFlight => {
            Value::U32(sum as u32)
        }
        Control::MinInterval => Value::Double(shared.settings.min_interval.as_secs_f64()),
        Control::LastSuccess | Control::Age => Value::Double(max),
        _ => Value::U64(sum),
    };
    out.put(0, total);
    out.put_all(values);
}

/// One source's value of per-source control metric `c` (none: the source
/// has no value, as a source never read has no age).
fn of_source(c: Control, st: &SourceState, in_flight: bool, shared: &Shared) -> Option<Value> {
    let x = &st.stats;
    Some(match c {
        Control::Calls => Value::U64(x.calls),
        Control::FetchTime => Value::U64(x.fetch_us / 1000),
        Control::ParseTime => Value::U64(x.parse_us / 1000),
        Control::Status => Value::String(x.status.clone()),
        Control::StatusCode => Value::I32(x.status_code),
        Control::ParseErrors => Value::U64(x.parse_errors),
        Control::Bytes => Value::U64(x.bytes),
        Control::Samples => Value::U64(x.samples),
        Control::LastSuccess => Value::Double(x.last_success),
        Control::Up => Value::U32(x.up as u32),
        Control::FetchTimeUs => Value::U64(x.fetch_us),
        Control::ParseTimeUs => Value::U64(x.parse_us),
        Control::Metrics => Value::U32(st.metrics.len() as u32),
        Control::Failures => Value::U64(x.failures),
        Control::Stale => Value::U32(x.stale as u32),
        Control::Age => Value::Double(st.age()?.as_secs_f64()),
        Control::InFlight => Value::U32(in_flight as u32),
        Control::CacheHits => Value::U64(x.cache_hits),
        Control::PoolWaits => Value::U64(x.pool_waits),
        Control::DeadlineMisses => Value::U64(x.deadline_misses),
        Control::IgnoredNames => Value::U64(x.ignored_names),
        Control::MinInterval => {
            Value::Double(shared.min_interval_of(st.url.as_deref()).as_secs_f64())
        }
        Control::Debug
        | Control::Queued
        | Control::Connections
        | Control::Reuses
        | Control::Evictions => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcp_core::{TextKind, TextTarget};

    fn text(t: &Metrics<Handle>, name: &str, kind: TextKind) -> String {
        let p = t.namespace().lookup(name).unwrap();
        t.text(TextTarget::Metric(p), kind).unwrap()
    }

    #[test]
    fn standing_in_serves_pmdaopenmetrics_six_with_its_help() {
        let t = table("openmetrics", false).unwrap();
        assert_eq!(t.len(), 6);
        assert_eq!(
            text(&t, "openmetrics.control.debug", TextKind::Help),
            "debug flag to enable verbose log messages, to enable: pmstore openmetrics.control.debug 1"
        );
        let ext = table("prometheus", true).unwrap();
        assert_eq!(ext.len(), Control::defs().len());
        assert_eq!(
            text(&ext, "prometheus.control.calls", TextKind::OneLine),
            "per-end-point source call counter"
        );
        assert!(text(&ext, "prometheus.control.calls", TextKind::Help).starts_with("Number of"));
        let p = ext
            .namespace()
            .lookup("prometheus.control.evictions")
            .unwrap();
        assert_eq!(p.to_string(), "144.0.51");
        assert!(ext.get(p).unwrap().desc.indom.is_null());
    }
}
