//! The pusher's own metrics (`push.*`, domain 509), an agent on the
//! table-driven layer loaded into the pusher's host: they can be pushed,
//! served on `/metrics`, and watched like any others.
//!
//! | metric | what |
//! |---|---|
//! | `push.samples.collected` | samples taken from the host and queued |
//! | `push.samples.sent` | samples the receiver acknowledged |
//! | `push.samples.failed` | samples the receiver refused for good (4xx), not retried |
//! | `push.samples.retried` | sample sends tried again (5xx, 429, no connection) |
//! | `push.samples.dropped` | samples dropped because the queue was full |
//! | `push.queue.samples` | samples waiting in the on-disk queue |
//! | `push.queue.bytes` | bytes of the on-disk queue |
//! | `push.last_success` | when a request was last delivered, seconds since the epoch (0: never) |

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use pcp_core::agent::{Agent, Fetch, MetricDef, Sink, TablePmda};
use pcp_core::{PmError, Units};

use super::wal::Queue;

/// The push agent's domain (not among PCP's assigned domains).
pub const DOMAIN: u32 = 509;

/// Counters shared by the collecting loop, the sender and the agent.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Samples queued.
    pub collected: AtomicU64,
    /// Samples delivered.
    pub sent: AtomicU64,
    /// Samples refused for good.
    pub failed: AtomicU64,
    /// Sample sends retried.
    pub retried: AtomicU64,
    /// Samples dropped from a full queue.
    pub dropped: AtomicU64,
    /// Last delivery, milliseconds since the epoch (0 never).
    pub last_success_ms: AtomicU64,
    /// Set when the pusher stops.
    pub stopping: AtomicBool,
}

impl PushStats {
    /// Notes a delivery now.
    pub fn mark_success(&self) {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_success_ms.store(ms, Ordering::Relaxed);
    }
}

pcp_core::metrics! {
    /// The push agent's metrics.
    pub enum PushMetric {
        /// Samples queued.
        Collected = MetricDef::u64("push.samples.collected", 0, 0)
            .counter()
            .units(Units::COUNT)
            .oneline("Samples taken from the host and queued for the receiver"),
        /// Samples delivered.
        Sent = MetricDef::u64("push.samples.sent", 0, 1)
            .counter()
            .units(Units::COUNT)
            .oneline("Samples the remote-write receiver acknowledged (2xx)"),
        /// Samples refused.
        Failed = MetricDef::u64("push.samples.failed", 0, 2)
            .counter()
            .units(Units::COUNT)
            .oneline("Samples the receiver refused for good (4xx other than 429), not retried"),
        /// Sends retried.
        Retried = MetricDef::u64("push.samples.retried", 0, 3)
            .counter()
            .units(Units::COUNT)
            .oneline("Sample sends tried again after a 5xx, a 429 or no connection"),
        /// Samples dropped.
        Dropped = MetricDef::u64("push.samples.dropped", 0, 4)
            .counter()
            .units(Units::COUNT)
            .oneline("Samples dropped because the on-disk queue was full"),
        /// Queue depth in samples.
        QueueSamples = MetricDef::u64("push.queue.samples", 1, 0)
            .units(Units::COUNT)
            .oneline("Samples waiting in the on-disk queue"),
        /// Queue size in bytes.
        QueueBytes = MetricDef::u64("push.queue.bytes", 1, 1)
            .units(Units::BYTES)
            .oneline("Bytes of the on-disk queue"),
        /// Last delivery.
        LastSuccess = MetricDef::double("push.last_success", 2, 0)
            .units(Units::SEC)
            .oneline("When a request was last delivered, seconds since the epoch (0: never)"),
    }
}

/// The agent's state: the shared counters and the queue.
#[derive(Debug)]
pub struct PushAgent {
    stats: Arc<PushStats>,
    queue: Arc<Queue>,
}

/// The push agent, ready for a host.
pub fn push_pmda(stats: Arc<PushStats>, queue: Arc<Queue>) -> TablePmda<PushAgent> {
    TablePmda::new("push", DOMAIN, PushAgent { stats, queue }).expect("the push table is valid")
}

impl Agent for PushAgent {
    type Metric = PushMetric;

    fn refresh(&mut self, _: &Fetch<'_, PushMetric>) {}

    fn value(&mut self, m: PushMetric, out: &mut Sink<'_>) -> Result<(), PmError> {
        let s = &self.stats;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        match m {
            PushMetric::Collected => out.set(get(&s.collected)),
            PushMetric::Sent => out.set(get(&s.sent)),
            PushMetric::Failed => out.set(get(&s.failed)),
            PushMetric::Retried => out.set(get(&s.retried)),
            PushMetric::Dropped => out.set(get(&s.dropped)),
            PushMetric::QueueSamples => out.set(self.queue.depth().0),
            PushMetric::QueueBytes => out.set(self.queue.depth().1),
            PushMetric::LastSuccess => out.set(get(&s.last_success_ms) as f64 / 1000.0),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_conformance_check() {
        let d = tempfile::tempdir().unwrap();
        let q = Arc::new(Queue::open(d.path(), 1 << 20).unwrap());
        pcp_core::testing::check_agent(&mut push_pmda(Arc::default(), q)).unwrap();
    }
}
