//! Push: the host's metrics sent to a Prometheus remote-write 1.0
//! receiver (Prometheus with `--web.enable-remote-write-receiver`, Mimir,
//! Thanos, VictoriaMetrics) every interval, by `pcp-agent push` or as a
//! mode of `pcp-agent serve`.
//!
//! Each interval the metrics asked for are rendered exactly as `/metrics`
//! renders them (the same series names and labels), read back into
//! series, stamped with the fetch's time, and appended to an on-disk
//! queue ([`wal`]) before anything is sent; a sender thread ([`send`])
//! delivers the queue oldest first, retrying 5xx and 429 with backoff.
//! A receiver outage of minutes, or the pusher being killed and started
//! again, loses nothing: what was not acknowledged is sent again (at
//! least once, as the spec allows; Prometheus keeps one sample per
//! series and timestamp). A series of the previous interval that is gone
//! gets Prometheus's staleness marker.
//!
//! Remote-write 2.0 is not sent: the Prometheus this project tests
//! against (Debian's 2.42) has no 2.0 receiver, and the 2.0 spec is still
//! marked experimental by the Prometheus project.

pub mod agent;
pub mod proto;
pub mod send;
pub mod wal;

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use pcp_core::render::openmetrics::{ExpositionCache, Format};
use pcp_core::{Host, Pmid};
use pmda_prometheus::parse::{Line, MetricType, Parser};
use prost::Message;

use self::agent::PushStats;
use self::proto::{Label, MetricMetadata, Sample, TimeSeries, WriteRequest};
use self::wal::Queue;

/// Metadata is sent with the first batch and then this often.
const METADATA_EVERY: Duration = Duration::from_secs(60);

/// What to push, where, how often.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// The receiver's URL (`http://host:9090/api/v1/write`).
    pub url: String,
    /// Time between collections.
    pub interval: Duration,
    /// Metric names or subtrees (every metric if empty).
    pub names: Vec<String>,
    /// Labels added to every series that lacks them.
    pub external_labels: Vec<(String, String)>,
    /// The queue's directory.
    pub queue_dir: PathBuf,
    /// Most bytes the queue may hold; the oldest are dropped past it.
    pub max_queue_bytes: u64,
    /// Print every sample queued on standard output
    /// (`name{labels} value timestamp_ms`).
    pub print: bool,
}

/// Why pushing could not start.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The queue could not be opened.
    #[error(transparent)]
    Queue(#[from] wal::QueueError),
    /// A bad option.
    #[error("{0}")]
    Option(String),
}

/// Parses `15s`, `500ms`, `2m`, `1h` or plain seconds.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("bad interval {s:?}: expected 15s, 500ms, 2m"))?;
    let d = v * mult;
    if !(0.01..=86400.0).contains(&d) {
        return Err(format!("interval {s:?} out of range (10ms to 24h)"));
    }
    Ok(Duration::from_secs_f64(d))
}

/// Parses `name=value` external labels.
pub fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("bad label {s:?}: expected name=value"))?;
    let k = k.trim();
    let mut chars = k.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !k.starts_with("__");
    if !ok {
        return Err(format!("bad label name {k:?}"));
    }
    Ok((k.to_string(), v.to_string()))
}

/// The queue directory of a destination under the state directory.
pub fn queue_dir(state_dir: &std::path::Path, url: &str) -> PathBuf {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in url.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    state_dir.join("push").join(format!("{h:016x}"))
}

/// One collection's series.
#[derive(Debug, Default)]
pub struct Batch {
    /// The request.
    pub request: WriteRequest,
    /// Samples in it (staleness markers included).
    pub samples: u32,
}

/// Turns a `/metrics` text into series at `ts` (ms), with `external`
/// labels added where a series lacks them; series of `previous` missing
/// from it get a staleness marker. `previous` is replaced by this batch's
/// series.
pub fn batch_from_text(
    text: &str,
    ts: i64,
    external: &[(String, String)],
    previous: &mut HashMap<String, Vec<Label>>,
    with_metadata: bool,
) -> Batch {
    let mut b = Batch::default();
    let mut seen: HashMap<String, Vec<Label>> = HashMap::with_capacity(previous.len());
    let mut meta: HashMap<String, MetricMetadata> = HashMap::new();
    let mut value = String::new();
    for line in Parser::new(text) {
        let Ok(line) = line else { continue };
        match line {
            Line::Help { name, text } if with_metadata => {
                let mut help = String::new();
                pmda_prometheus::parse::unescape_into(text, &mut help, false);
                meta.entry(name.to_string()).or_default().help = help;
            }
            Line::Type { name, ty } if with_metadata => {
                let word = match ty {
                    MetricType::Counter => "counter",
                    MetricType::Gauge => "gauge",
                    MetricType::Histogram => "histogram",
                    MetricType::GaugeHistogram => "gaugehistogram",
                    MetricType::Summary => "summary",
                    MetricType::Info => "info",
                    MetricType::StateSet => "stateset",
                    _ => "unknown",
                };
                meta.entry(name.to_string()).or_default().r#type = proto::type_code(word);
            }
            Line::Unit { name, unit } if with_metadata => {
                meta.entry(name.to_string()).or_default().unit = unit.to_string();
            }
            Line::Sample(s) => {
                let mut labels = Vec::with_capacity(8);
                labels.push(Label {
                    name: "__name__".into(),
                    value: s.name.to_string(),
                });
                for (k, v) in s.labels() {
                    value.clear();
                    v.unescape_into(&mut value);
                    labels.push(Label {
                        name: k.to_string(),
                        value: value.clone(),
                    });
                }
                for (k, v) in external {
                    if !labels.iter().any(|l| &l.name == k) {
                        labels.push(Label {
                            name: k.clone(),
                            value: v.clone(),
                        });
                    }
                }
                labels.sort_by(|a, b| a.name.cmp(&b.name));
                let key = series_key(&labels);
                if seen.contains_key(&key) {
                    continue;
                }
                b.request.timeseries.push(TimeSeries {
                    labels: labels.clone(),
                    samples: vec![Sample {
                        value: s.value,
                        timestamp: ts,
                    }],
                });
                seen.insert(key, labels);
            }
            _ => {}
        }
    }
    for (key, labels) in previous.drain() {
        if !seen.contains_key(&key) {
            b.request.timeseries.push(TimeSeries {
                labels,
                samples: vec![Sample {
                    value: f64::from_bits(proto::STALE_NAN),
                    timestamp: ts,
                }],
            });
        }
    }
    *previous = seen;
    b.samples = b.request.timeseries.len() as u32;
    for (name, mut m) in meta {
        m.metric_family_name = name;
        b.request.metadata.push(m);
    }
    b.request
        .metadata
        .sort_by(|a, b| a.metric_family_name.cmp(&b.metric_family_name));
    b
}

fn series_key(labels: &[Label]) -> String {
    let mut k = String::new();
    for l in labels {
        k.push_str(&l.name);
        k.push('\0');
        k.push_str(&l.value);
        k.push('\0');
    }
    k
}

/// A sample as `--print` writes it: `name{k="v",...} value timestamp_ms`.
pub fn print_line(ts: &TimeSeries) -> String {
    let mut out = String::new();
    let name = ts
        .labels
        .iter()
        .find(|l| l.name == "__name__")
        .map_or("", |l| l.value.as_str());
    out.push_str(name);
    out.push('{');
    let mut first = true;
    for l in ts.labels.iter().filter(|l| l.name != "__name__") {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&l.name);
        out.push_str("=\"");
        for c in l.value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    for s in &ts.samples {
        let v = if s.value.to_bits() == proto::STALE_NAN {
            "stale".to_string()
        } else {
            format!("{:?}", s.value)
        };
        out.push_str(&format!(" {v} {}", s.timestamp));
    }
    out
}

/// The leaf metrics of `names` (all metrics if empty) now.
fn resolve(host: &Host, names: &[String]) -> Vec<(String, Pmid)> {
    let mut out = Vec::new();
    let roots: Vec<String> = if names.is_empty() {
        vec![String::new()]
    } else {
        names.to_vec()
    };
    for n in &roots {
        match host.lookup(n) {
            Ok(p) => out.push((n.clone(), p)),
            Err(_) => {
                if let Ok(leaves) = host.traverse(n) {
                    out.extend(leaves);
                }
            }
        }
    }
    out
}

/// A running pusher: the sender's thread and what it shares.
#[derive(Debug)]
pub struct Pusher {
    /// Counters (also the push agent's metrics).
    pub stats: Arc<PushStats>,
    /// The on-disk queue.
    pub queue: Arc<Queue>,
    opts: PushOptions,
    sender: Option<std::thread::JoinHandle<()>>,
    cache: ExpositionCache,
    previous: HashMap<String, Vec<Label>>,
    metadata_at: Option<Instant>,
}

impl Pusher {
    /// Opens the queue and starts sending what it holds; collections are
    /// made by [`Pusher::collect`] (or [`Pusher::run`]).
    pub fn start(opts: PushOptions) -> Result<Pusher, PushError> {
        if !(opts.url.starts_with("http://") || opts.url.starts_with("https://")) {
            return Err(PushError::Option(format!(
                "bad receiver URL {:?}: expected http:// or https://",
                opts.url
            )));
        }
        let queue = Arc::new(Queue::open(&opts.queue_dir, opts.max_queue_bytes)?);
        let stats = Arc::new(PushStats::default());
        let (q, s, url) = (Arc::clone(&queue), Arc::clone(&stats), opts.url.clone());
        let sender = std::thread::Builder::new()
            .name("push-sender".into())
            .spawn(move || send::run(q, url, s, "pcp-agent push"))
            .map_err(|e| PushError::Option(format!("cannot start the sender: {e}")))?;
        Ok(Pusher {
            stats,
            queue,
            opts,
            sender: Some(sender),
            cache: ExpositionCache::new(),
            previous: HashMap::new(),
            metadata_at: None,
        })
    }

    /// The push agent over this pusher's counters and queue, to load into
    /// the host.
    pub fn agent(&self) -> Box<dyn pcp_core::Pmda> {
        Box::new(agent::push_pmda(
            Arc::clone(&self.stats),
            Arc::clone(&self.queue),
        ))
    }

    /// Collects once from `host`: renders the metrics, queues the batch
    /// (synced to disk), and prints it with `--print`. Returns the samples
    /// queued.
    pub fn collect(&mut self, host: &Host) -> Result<u32, PushError> {
        let metrics = resolve(host, &self.opts.names);
        let ts = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let text = self.cache.render(host, &metrics, Format::Prometheus);
        let with_meta = self
            .metadata_at
            .is_none_or(|t| t.elapsed() >= METADATA_EVERY);
        if with_meta {
            self.metadata_at = Some(Instant::now());
        }
        let batch = batch_from_text(
            &text,
            ts,
            &self.opts.external_labels,
            &mut self.previous,
            with_meta,
        );
        if batch.samples == 0 {
            return Ok(0);
        }
        let body = batch.request.encode_to_vec();
        let dropped = self.queue.append(batch.samples, &body)?;
        self.stats
            .collected
            .fetch_add(batch.samples as u64, Ordering::Relaxed);
        self.stats.dropped.fetch_add(dropped, Ordering::Relaxed);
        if self.opts.print {
            let mut out = std::io::stdout().lock();
            for ts in &batch.request.timeseries {
                let _ = writeln!(out, "{}", print_line(ts));
            }
            let _ = out.flush();
        }
        Ok(batch.samples)
    }

    /// Collects every interval until `stop` says so (checked between
    /// collections).
    pub fn run(&mut self, host: &Host, stop: &dyn Fn() -> bool) -> Result<(), PushError> {
        let mut next = Instant::now();
        while !stop() {
            if let Err(e) = self.collect(host) {
                eprintln!("pcp-agent push: {e}");
            }
            next += self.opts.interval;
            let now = Instant::now();
            if next < now {
                next = now + self.opts.interval;
            }
            while Instant::now() < next {
                if stop() {
                    return Ok(());
                }
                std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for the queue to empty.
    pub fn flush(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while self.queue.depth().0 > 0 {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
}

impl Drop for Pusher {
    fn drop(&mut self) {
        self.stats.stopping.store(true, Ordering::Release);
        self.queue.stop();
        if let Some(t) = self.sender.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_becomes_sorted_series_with_external_labels_and_staleness() {
        let text = "# HELP kernel_all_load Load average\n# TYPE kernel_all_load gauge\n\
kernel_all_load{hostname=\"vm\",instname=\"1 minute\",instid=\"1\"} 0.5\n\
kernel_all_load{hostname=\"vm\",instname=\"5 minute\",instid=\"5\"} 0.25\n\
# TYPE disk_all_read_total counter\ndisk_all_read_total{hostname=\"vm\"} 7\n";
        let ext = vec![
            ("cluster".to_string(), "a".to_string()),
            ("hostname".to_string(), "x".to_string()),
        ];
        let mut prev = HashMap::new();
        let b = batch_from_text(text, 1000, &ext, &mut prev, true);
        assert_eq!(b.samples, 3);
        let first = &b.request.timeseries[0];
        let names: Vec<&str> = first.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(
            names,
            ["__name__", "cluster", "hostname", "instid", "instname"]
        );
        assert_eq!(first.labels[2].value, "vm", "a series' own label wins");
        assert_eq!(
            first.samples,
            [Sample {
                value: 0.5,
                timestamp: 1000
            }]
        );
        assert_eq!(
            print_line(first),
            "kernel_all_load{cluster=\"a\",hostname=\"vm\",instid=\"1\",instname=\"1 minute\"} 0.5 1000"
        );
        let meta: Vec<(&str, i32, &str)> = b
            .request
            .metadata
            .iter()
            .map(|m| (m.metric_family_name.as_str(), m.r#type, m.help.as_str()))
            .collect();
        assert_eq!(
            meta,
            [
                ("disk_all_read_total", 1, ""),
                ("kernel_all_load", 2, "Load average")
            ]
        );
        // The 5 minute instance goes: it gets a staleness marker.
        let text2 = "kernel_all_load{hostname=\"vm\",instname=\"1 minute\",instid=\"1\"} 0.75\n\
disk_all_read_total{hostname=\"vm\"} 9\n";
        let b = batch_from_text(text2, 2000, &ext, &mut prev, false);
        assert_eq!(b.samples, 3);
        let stale: Vec<&TimeSeries> = b
            .request
            .timeseries
            .iter()
            .filter(|t| t.samples[0].value.to_bits() == proto::STALE_NAN)
            .collect();
        assert_eq!(stale.len(), 1);
        assert!(print_line(stale[0]).contains("5 minute\"} stale 2000"));
        assert!(b.request.metadata.is_empty());
    }

    #[test]
    fn options_parse() {
        assert_eq!(parse_interval("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_interval("3"), Ok(Duration::from_secs(3)));
        assert!(parse_interval("0s").is_err());
        assert!(parse_interval("fast").is_err());
        assert_eq!(parse_label("dc=eu-1"), Ok(("dc".into(), "eu-1".into())));
        assert!(parse_label("__name__=x").is_err());
        assert!(parse_label("9x=y").is_err());
        assert!(parse_label("novalue").is_err());
    }
}
