//! What the profiler says about itself: one set of counters, shared by the
//! profiler's threads and read by whoever exports them (the bpftrace
//! agent's `bpftrace.profiler.*` metrics, the `/profiles` listing).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;

/// Counters of one target group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetStats {
    /// CPU samples since the start.
    pub samples: u64,
    /// CPU samples in the last interval.
    pub interval_samples: u64,
    /// Nanoseconds off CPU since the start.
    pub off_cpu_ns: u64,
    /// Nanoseconds off CPU in the last interval.
    pub interval_off_cpu_ns: u64,
}

/// The live counters.
#[derive(Debug, Default)]
pub struct ProfilerStats {
    running: AtomicBool,
    intervals: AtomicU64,
    samples: AtomicU64,
    lost_samples: AtomicU64,
    stack_errors: AtomicU64,
    lost_events: AtomicU64,
    parse_errors: AtomicU64,
    symbolize_hits: AtomicU64,
    symbolize_misses: AtomicU64,
    pub(crate) push_sent: AtomicU64,
    pub(crate) push_errors: AtomicU64,
    pub(crate) push_dropped: AtomicU64,
    pub(crate) push_queue_depth: AtomicU64,
    files_written: AtomicU64,
    write_errors: AtomicU64,
    targets: Mutex<BTreeMap<String, TargetStats>>,
    last_error: Mutex<String>,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Whether bpftrace is running.
    pub running: bool,
    /// Intervals collected.
    pub intervals: u64,
    /// CPU samples kept, all groups.
    pub samples: u64,
    /// CPU samples taken but not kept (bpftrace's map full, or taken while
    /// the map was being printed and cleared).
    pub lost_samples: u64,
    /// Samples whose stack bpftrace could not look up (shown as `[unknown]`).
    pub stack_errors: u64,
    /// Events bpftrace reported lost.
    pub lost_events: u64,
    /// Output lines of bpftrace that could not be parsed.
    pub parse_errors: u64,
    /// User frames resolved to a symbol.
    pub symbolize_hits: u64,
    /// User frames left as `module+0xoffset` or `[unknown]`.
    pub symbolize_misses: u64,
    /// Profiles pushed to Pyroscope.
    pub push_sent: u64,
    /// Failed push attempts (each retry counts).
    pub push_errors: u64,
    /// Profiles dropped from the push queue (full, or out of retries).
    pub push_dropped: u64,
    /// Profiles waiting to be pushed.
    pub push_queue_depth: u64,
    /// Profile files written.
    pub files_written: u64,
    /// Profile files that could not be written.
    pub write_errors: u64,
    /// Per target group (`service_name`).
    pub targets: BTreeMap<String, TargetStats>,
    /// The last error, if any.
    pub last_error: String,
}

impl ProfilerStats {
    /// A copy of every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            running: self.running.load(Ordering::Relaxed),
            intervals: l(&self.intervals),
            samples: l(&self.samples),
            lost_samples: l(&self.lost_samples),
            stack_errors: l(&self.stack_errors),
            lost_events: l(&self.lost_events),
            parse_errors: l(&self.parse_errors),
            symbolize_hits: l(&self.symbolize_hits),
            symbolize_misses: l(&self.symbolize_misses),
            push_sent: l(&self.push_sent),
            push_errors: l(&self.push_errors),
            push_dropped: l(&self.push_dropped),
            push_queue_depth: l(&self.push_queue_depth),
            files_written: l(&self.files_written),
            write_errors: l(&self.write_errors),
            targets: self.targets.lock().clone(),
            last_error: self.last_error.lock().clone(),
        }
    }

    pub(crate) fn set_running(&self, on: bool) {
        self.running.store(on, Ordering::Relaxed);
    }

    pub(crate) fn set_error(&self, e: impl Into<String>) {
        *self.last_error.lock() = e.into();
    }

    /// Records one interval: the samples and off-CPU time per group (every
    /// known group, so a group that went quiet shows 0 for the interval).
    pub(crate) fn record_interval(&self, groups: &BTreeMap<String, (u64, u64)>, lost: u64) {
        self.intervals.fetch_add(1, Ordering::Relaxed);
        self.lost_samples.fetch_add(lost, Ordering::Relaxed);
        let mut t = self.targets.lock();
        for v in t.values_mut() {
            v.interval_samples = 0;
            v.interval_off_cpu_ns = 0;
        }
        for (name, &(samples, off)) in groups {
            let e = t.entry(name.clone()).or_default();
            e.samples += samples;
            e.interval_samples = samples;
            e.off_cpu_ns += off;
            e.interval_off_cpu_ns = off;
            self.samples.fetch_add(samples, Ordering::Relaxed);
        }
    }

    /// Sets the counters the runner and symbolizer keep (running totals).
    pub(crate) fn set_totals(
        &self,
        stack_errors: u64,
        lost_events: u64,
        parse_errors: u64,
        hits: u64,
        misses: u64,
    ) {
        self.stack_errors.store(stack_errors, Ordering::Relaxed);
        self.lost_events.store(lost_events, Ordering::Relaxed);
        self.parse_errors.store(parse_errors, Ordering::Relaxed);
        self.symbolize_hits.store(hits, Ordering::Relaxed);
        self.symbolize_misses.store(misses, Ordering::Relaxed);
    }

    pub(crate) fn file_written(&self, ok: bool) {
        if ok {
            self.files_written.fetch_add(1, Ordering::Relaxed);
        } else {
            self.write_errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quiet_group_shows_zero_for_the_interval() {
        let s = ProfilerStats::default();
        let mut g = BTreeMap::new();
        g.insert("a".to_string(), (10, 0));
        s.record_interval(&g, 2);
        g.clear();
        g.insert("b".to_string(), (5, 7));
        s.record_interval(&g, 0);
        let snap = s.snapshot();
        assert_eq!(snap.intervals, 2);
        assert_eq!(snap.samples, 15);
        assert_eq!(snap.lost_samples, 2);
        assert_eq!(snap.targets["a"].samples, 10);
        assert_eq!(snap.targets["a"].interval_samples, 0);
        assert_eq!(snap.targets["b"].interval_off_cpu_ns, 7);
    }
}
