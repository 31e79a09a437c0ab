//! The continuous profiler's own metrics, `bpftrace.profiler.*` (cluster
//! 2), present when the host hands the agent a [`ProfilerSource`] (the
//! profiler of `pcp-agent serve --profile`, or the one `pcp-agent pmda
//! bpftrace --bpftrace-profile FILE` runs under pmcd). The profiler lives
//! in the `pcp-profile` crate; this agent only reads its counters through
//! the trait, so neither crate depends on the other.
//!
//! ```text
//! bpftrace.profiler.running            151.2.0   1 while bpftrace samples
//! bpftrace.profiler.intervals          151.2.1   collect intervals done
//! bpftrace.profiler.samples            151.2.2   CPU samples kept, per target group
//! bpftrace.profiler.interval_samples   151.2.3   CPU samples of the last interval, per target group
//! bpftrace.profiler.lost_samples       151.2.4   samples taken but not kept
//! bpftrace.profiler.stack_errors       151.2.5   stacks bpftrace could not look up
//! bpftrace.profiler.symbolize_misses   151.2.6   user frames without a symbol
//! bpftrace.profiler.push.errors        151.2.7   failed Pyroscope push attempts
//! bpftrace.profiler.push.dropped       151.2.8   profiles dropped from the push queue
//! bpftrace.profiler.push.queue_depth   151.2.9   profiles waiting to be pushed
//! bpftrace.profiler.push.sent          151.2.10  profiles pushed
//! ```

use std::sync::Arc;

use pcp_core::agent::{IndomDef, MetricDef, Sink};
use pcp_core::{Instance, Units};

/// The cluster of the profiler's metrics.
pub const CLUSTER: u32 = 2;
/// The serial of the target-group instance domain (151.2).
pub const INDOM_SERIAL: u32 = 2;

/// What the profiler says about itself at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfilerSnapshot {
    /// Whether bpftrace is sampling.
    pub running: bool,
    /// Collect intervals done.
    pub intervals: u64,
    /// Per target group (`service_name`): CPU samples since the start and
    /// in the last interval.
    pub targets: Vec<(String, u64, u64)>,
    /// Samples taken but not kept.
    pub lost_samples: u64,
    /// Stacks bpftrace could not look up.
    pub stack_errors: u64,
    /// User frames left without a symbol.
    pub symbolize_misses: u64,
    /// Failed push attempts.
    pub push_errors: u64,
    /// Profiles dropped from the push queue.
    pub push_dropped: u64,
    /// Profiles waiting to be pushed.
    pub push_queue_depth: u64,
    /// Profiles pushed.
    pub push_sent: u64,
}

/// A running profiler, as this agent sees it.
pub trait ProfilerSource: Send + Sync + std::fmt::Debug {
    /// Its counters now.
    fn snapshot(&self) -> ProfilerSnapshot;
}

/// Instances of the per-target metrics: the profiler's target groups,
/// numbered in the order first seen.
pub const TARGETS: IndomDef = IndomDef::new(
    INDOM_SERIAL,
    "target groups of the continuous profiler (service_name)",
);

pcp_core::metrics! {
    /// The profiler's metrics; item `i` is the `i`-th.
    pub enum ProfilerMetric {
        /// 1 while sampling.
        Running = MetricDef::u32("bpftrace.profiler.running", CLUSTER, 0)
            .oneline("1 while the profiler's bpftrace is sampling, else 0"),
        /// Intervals done.
        Intervals = MetricDef::u64("bpftrace.profiler.intervals", CLUSTER, 1)
            .counter()
            .units(Units::COUNT)
            .oneline("collect intervals gathered into profiles"),
        /// Samples kept, per target group.
        Samples = MetricDef::u64("bpftrace.profiler.samples", CLUSTER, 2)
            .counter()
            .units(Units::COUNT)
            .indom(&TARGETS)
            .oneline("CPU stack samples kept, per target group"),
        /// Samples of the last interval, per target group.
        IntervalSamples = MetricDef::u64("bpftrace.profiler.interval_samples", CLUSTER, 3)
            .units(Units::COUNT)
            .indom(&TARGETS)
            .oneline("CPU stack samples of the last collect interval, per target group"),
        /// Samples not kept.
        LostSamples = MetricDef::u64("bpftrace.profiler.lost_samples", CLUSTER, 4)
            .counter()
            .units(Units::COUNT)
            .oneline("CPU samples taken but not kept (bpftrace's stack map was full)"),
        /// Stacks not looked up.
        StackErrors = MetricDef::u64("bpftrace.profiler.stack_errors", CLUSTER, 5)
            .counter()
            .units(Units::COUNT)
            .oneline("samples whose stack bpftrace could not look up (shown as [unknown])"),
        /// User frames without a symbol.
        SymbolizeMisses = MetricDef::u64("bpftrace.profiler.symbolize_misses", CLUSTER, 6)
            .counter()
            .units(Units::COUNT)
            .oneline("user frames without a symbol (shown as module+0xoffset or [unknown])"),
        /// Failed pushes.
        PushErrors = MetricDef::u64("bpftrace.profiler.push.errors", CLUSTER, 7)
            .counter()
            .units(Units::COUNT)
            .oneline("failed attempts to push a profile to Pyroscope (each retry counts)"),
        /// Profiles dropped.
        PushDropped = MetricDef::u64("bpftrace.profiler.push.dropped", CLUSTER, 8)
            .counter()
            .units(Units::COUNT)
            .oneline("profiles dropped from the push queue (full, or out of retries)"),
        /// Profiles waiting.
        PushQueueDepth = MetricDef::u64("bpftrace.profiler.push.queue_depth", CLUSTER, 9)
            .units(Units::COUNT)
            .oneline("profiles waiting to be pushed to Pyroscope"),
        /// Profiles pushed.
        PushSent = MetricDef::u64("bpftrace.profiler.push.sent", CLUSTER, 10)
            .counter()
            .units(Units::COUNT)
            .oneline("profiles pushed to Pyroscope"),
    }
}

/// The metrics over one source: one snapshot per fetch, target instance
/// ids kept stable.
#[derive(Debug)]
pub struct ProfilerMetrics {
    source: Arc<dyn ProfilerSource>,
    /// Instance id = index.
    names: Vec<String>,
    /// The snapshot of the fetch under way.
    now: Option<ProfilerSnapshot>,
}

impl ProfilerMetrics {
    /// Metrics of `source`.
    pub fn new(source: Arc<dyn ProfilerSource>) -> ProfilerMetrics {
        ProfilerMetrics {
            source,
            names: Vec::new(),
            now: None,
        }
    }

    /// Takes the snapshot the values of the next fetch come from.
    pub fn refresh(&mut self) {
        self.now = Some(self.source.snapshot());
    }

    fn id_of(&mut self, name: &str) -> u32 {
        match self.names.iter().position(|n| n == name) {
            Some(i) => i as u32,
            None => {
                self.names.push(name.to_string());
                (self.names.len() - 1) as u32
            }
        }
    }

    /// The target groups seen so far.
    pub fn instances(&mut self) -> Vec<Instance> {
        for (n, _, _) in self.source.snapshot().targets {
            self.id_of(&n);
        }
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| Instance::new(i as u32, n.clone()))
            .collect()
    }

    /// The values of `m`, from the snapshot [`ProfilerMetrics::refresh`]
    /// took (a fresh one if none was).
    pub fn value(&mut self, m: ProfilerMetric, out: &mut Sink<'_>) {
        let s = match &self.now {
            Some(s) => s.clone(),
            None => self.source.snapshot(),
        };
        match m {
            ProfilerMetric::Running => out.set(u32::from(s.running)),
            ProfilerMetric::Intervals => out.set(s.intervals),
            ProfilerMetric::Samples | ProfilerMetric::IntervalSamples => {
                for (n, total, last) in &s.targets {
                    let v = if m == ProfilerMetric::Samples {
                        *total
                    } else {
                        *last
                    };
                    let id = self.id_of(n);
                    out.put(id, v);
                }
            }
            ProfilerMetric::LostSamples => out.set(s.lost_samples),
            ProfilerMetric::StackErrors => out.set(s.stack_errors),
            ProfilerMetric::SymbolizeMisses => out.set(s.symbolize_misses),
            ProfilerMetric::PushErrors => out.set(s.push_errors),
            ProfilerMetric::PushDropped => out.set(s.push_dropped),
            ProfilerMetric::PushQueueDepth => out.set(s.push_queue_depth),
            ProfilerMetric::PushSent => out.set(s.push_sent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcp_core::agent::{MetricSet, Metrics};
    use pcp_core::{ClientContext, InDom, Profile, Semantics, Value};

    #[derive(Debug)]
    struct Fixed;
    impl ProfilerSource for Fixed {
        fn snapshot(&self) -> ProfilerSnapshot {
            ProfilerSnapshot {
                running: true,
                intervals: 3,
                targets: vec![("web".into(), 300, 97), ("db".into(), 20, 0)],
                push_queue_depth: 2,
                ..ProfilerSnapshot::default()
            }
        }
    }

    #[test]
    fn per_target_values_keep_their_instance_ids() {
        let table = Metrics::from_defs(crate::DOMAIN, ProfilerMetric::defs()).unwrap();
        let desc = |name: &str| table.by_name(name).unwrap().desc;
        let samples = desc("bpftrace.profiler.samples");
        assert_eq!(
            samples.indom,
            InDom::from_parts(crate::DOMAIN, INDOM_SERIAL)
        );
        assert_eq!(samples.sem, Semantics::Counter);
        assert_eq!(samples.pmid.item(), 2);
        let depth = desc("bpftrace.profiler.push.queue_depth");
        assert_eq!((depth.sem, depth.units), (Semantics::Instant, Units::COUNT));
        assert_eq!(desc("bpftrace.profiler.running").units, Units::NONE);
        assert_eq!(ProfilerMetric::defs().len(), 11);

        let mut m = ProfilerMetrics::new(Arc::new(Fixed));
        let inst = m.instances();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst[1].name, "db");
        m.refresh();
        let (all, client) = (Profile::all(), ClientContext::local());
        let mut value = |metric: ProfilerMetric, name: &str| {
            let d = desc(name);
            let mut sink = Sink::new(&d, &all, &client);
            m.value(metric, &mut sink);
            sink.finish().unwrap()
        };
        let v = value(
            ProfilerMetric::IntervalSamples,
            "bpftrace.profiler.interval_samples",
        );
        assert_eq!(v, vec![(0, Value::U64(97)), (1, Value::U64(0))]);
        let running = value(ProfilerMetric::Running, "bpftrace.profiler.running");
        assert_eq!(running[0].1, Value::U32(1));
        let depth = value(
            ProfilerMetric::PushQueueDepth,
            "bpftrace.profiler.push.queue_depth",
        );
        assert_eq!(depth[0].1, Value::U64(2));
    }
}
