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

use pcp_core::{Desc, InDom, Instance, MetricResult, PmError, Pmid, Semantics, Type, Units, Value};

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

struct Row {
    leaf: &'static str,
    ty: Type,
    sem: Semantics,
    per_target: bool,
    help: &'static str,
}

const fn row(leaf: &'static str, sem: Semantics, per_target: bool, help: &'static str) -> Row {
    Row {
        leaf,
        ty: Type::U64,
        sem,
        per_target,
        help,
    }
}

/// Item `i` is `ROWS[i]`.
const ROWS: [Row; 11] = [
    Row {
        leaf: "running",
        ty: Type::U32,
        sem: Semantics::Instant,
        per_target: false,
        help: "1 while the profiler's bpftrace is sampling, else 0",
    },
    row(
        "intervals",
        Semantics::Counter,
        false,
        "collect intervals gathered into profiles",
    ),
    row(
        "samples",
        Semantics::Counter,
        true,
        "CPU stack samples kept, per target group",
    ),
    row(
        "interval_samples",
        Semantics::Instant,
        true,
        "CPU stack samples of the last collect interval, per target group",
    ),
    row(
        "lost_samples",
        Semantics::Counter,
        false,
        "CPU samples taken but not kept (bpftrace's stack map was full)",
    ),
    row(
        "stack_errors",
        Semantics::Counter,
        false,
        "samples whose stack bpftrace could not look up (shown as [unknown])",
    ),
    row(
        "symbolize_misses",
        Semantics::Counter,
        false,
        "user frames without a symbol (shown as module+0xoffset or [unknown])",
    ),
    row(
        "push.errors",
        Semantics::Counter,
        false,
        "failed attempts to push a profile to Pyroscope (each retry counts)",
    ),
    row(
        "push.dropped",
        Semantics::Counter,
        false,
        "profiles dropped from the push queue (full, or out of retries)",
    ),
    row(
        "push.queue_depth",
        Semantics::Instant,
        false,
        "profiles waiting to be pushed to Pyroscope",
    ),
    row(
        "push.sent",
        Semantics::Counter,
        false,
        "profiles pushed to Pyroscope",
    ),
];

/// The metrics over one source; keeps target instance ids stable.
#[derive(Debug)]
pub struct ProfilerMetrics {
    source: Arc<dyn ProfilerSource>,
    /// Instance id = index.
    names: Vec<String>,
}

impl ProfilerMetrics {
    /// Metrics of `source`.
    pub fn new(source: Arc<dyn ProfilerSource>) -> ProfilerMetrics {
        ProfilerMetrics {
            source,
            names: Vec::new(),
        }
    }

    /// The instance domain of target groups.
    pub fn indom() -> InDom {
        InDom::from_parts(crate::DOMAIN, INDOM_SERIAL)
    }

    /// Names and PMIDs.
    pub fn names(&self) -> Vec<(String, Pmid)> {
        ROWS.iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    format!("bpftrace.profiler.{}", r.leaf),
                    Pmid::from_parts(crate::DOMAIN, CLUSTER, i as u32),
                )
            })
            .collect()
    }

    /// The descriptor of `p` (cluster 2).
    pub fn desc(&self, p: Pmid) -> Result<Desc, PmError> {
        let r = ROWS.get(p.item() as usize).ok_or(PmError::PMID)?;
        let indom = if r.per_target {
            Self::indom()
        } else {
            InDom::NULL
        };
        let units = if r.sem == Semantics::Counter || r.per_target || p.item() == 9 {
            Units::count(0)
        } else {
            Units::NONE
        };
        Ok(Desc::new(p, r.ty, indom, r.sem, units))
    }

    /// The help text of `p`.
    pub fn help(&self, p: Pmid) -> Result<String, PmError> {
        ROWS.get(p.item() as usize)
            .map(|r| r.help.to_string())
            .ok_or(PmError::TEXT)
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

    /// The values of `p`.
    pub fn fetch(&mut self, p: Pmid) -> MetricResult {
        let s = self.source.snapshot();
        let one = |v: u64| Ok(vec![(pcp_core::PM_IN_NULL, Value::U64(v))]);
        match p.item() {
            0 => Ok(vec![(
                pcp_core::PM_IN_NULL,
                Value::U32(u32::from(s.running)),
            )]),
            1 => one(s.intervals),
            2 | 3 => Ok(s
                .targets
                .iter()
                .map(|(n, total, last)| {
                    let v = if p.item() == 2 { *total } else { *last };
                    (self.id_of(n), Value::U64(v))
                })
                .collect()),
            4 => one(s.lost_samples),
            5 => one(s.stack_errors),
            6 => one(s.symbolize_misses),
            7 => one(s.push_errors),
            8 => one(s.push_dropped),
            9 => one(s.push_queue_depth),
            10 => one(s.push_sent),
            _ => Err(PmError::PMID),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut m = ProfilerMetrics::new(Arc::new(Fixed));
        let names = m.names();
        assert_eq!(names.len(), ROWS.len());
        assert_eq!(names[2].0, "bpftrace.profiler.samples");
        let p = |i| Pmid::from_parts(crate::DOMAIN, CLUSTER, i);
        assert_eq!(m.desc(p(2)).unwrap().indom, ProfilerMetrics::indom());
        assert_eq!(m.desc(p(2)).unwrap().sem, Semantics::Counter);
        assert_eq!(m.desc(p(9)).unwrap().sem, Semantics::Instant);
        assert!(m.desc(p(11)).is_err());
        let inst = m.instances();
        assert_eq!(inst.len(), 2);
        assert_eq!(inst[1].name, "db");
        let v = m.fetch(p(3)).unwrap();
        assert_eq!(v, vec![(0, Value::U64(97)), (1, Value::U64(0))]);
        assert_eq!(m.fetch(p(0)).unwrap()[0].1, Value::U32(1));
        assert_eq!(m.fetch(p(9)).unwrap()[0].1, Value::U64(2));
    }
}
