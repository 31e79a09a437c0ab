//! Recent profiles in memory, for `serve`: the last `keep_intervals`
//! intervals of each target group and profile type, and at most
//! [`MAX_STORE_BYTES`] in all (oldest dropped first). Queries merge the
//! intervals of a time window (`/debug/pprof/profile?seconds=N`) or pick
//! one by id (the flame-graph page and its diff view).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;

use crate::model::{Profile, ProfileKind};
use crate::stats::ProfilerStats;

/// Most bytes of profiles kept in memory (estimated).
pub const MAX_STORE_BYTES: usize = 256 << 20;

/// A kept profile.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Its id (increasing).
    pub id: u64,
    /// The profile.
    pub profile: Arc<Profile>,
    /// The file it was written to, if any.
    pub file: Option<PathBuf>,
    bytes: usize,
}

/// What `/profiles` lists of a kept profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Its id.
    pub id: u64,
    /// The group's `service_name`.
    pub service_name: String,
    /// `cpu` or `off_cpu`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Start, milliseconds since the epoch.
    pub start_ms: u64,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// Samples (CPU) or nanoseconds (off-CPU) in it.
    pub total: i64,
    /// Processes sampled.
    pub pids: Vec<u32>,
    /// The group's labels.
    pub labels: Vec<(String, String)>,
    /// The file written, if any.
    pub file: Option<String>,
}

/// Which profiles a query wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this profile type (CPU if unset).
    pub kind: Option<ProfileKind>,
    /// Only this group.
    pub service_name: Option<String>,
    /// Only this process's samples.
    pub pid: Option<u32>,
}

/// The kept profiles and the profiler's facts `serve` shows.
#[derive(Debug)]
pub struct ProfileStore {
    entries: RwLock<VecDeque<Stored>>,
    next_id: std::sync::atomic::AtomicU64,
    keep_per_group: usize,
    /// The profiler's counters.
    pub stats: Arc<ProfilerStats>,
    /// Samples per second.
    pub sample_rate: u32,
    /// The collect interval.
    pub collect_interval: Duration,
}

impl ProfileStore {
    /// An empty store keeping `keep_per_group` intervals per group and type.
    pub fn new(
        keep_per_group: usize,
        stats: Arc<ProfilerStats>,
        sample_rate: u32,
        collect_interval: Duration,
    ) -> ProfileStore {
        ProfileStore {
            entries: RwLock::new(VecDeque::new()),
            next_id: std::sync::atomic::AtomicU64::new(1),
            keep_per_group: keep_per_group.max(1),
            stats,
            sample_rate,
            collect_interval,
        }
    }

    /// Keeps `p`; returns its id.
    pub fn add(&self, p: Profile, file: Option<PathBuf>) -> u64 {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = p.approx_bytes();
        let (svc, kind) = (p.service_name.clone(), p.kind);
        let mut e = self.entries.write();
        e.push_back(Stored {
            id,
            profile: Arc::new(p),
            file,
            bytes,
        });
        let same = e
            .iter()
            .filter(|s| s.profile.service_name == svc && s.profile.kind == kind)
            .count();
        if same > self.keep_per_group {
            if let Some(i) = e
                .iter()
                .position(|s| s.profile.service_name == svc && s.profile.kind == kind)
            {
                e.remove(i);
            }
        }
        let mut total: usize = e.iter().map(|s| s.bytes).sum();
        while total > MAX_STORE_BYTES && e.len() > 1 {
            if let Some(old) = e.pop_front() {
                total -= old.bytes;
            }
        }
        id
    }

    /// Every kept profile, oldest first.
    pub fn list(&self) -> Vec<Summary> {
        self.entries
            .read()
            .iter()
            .map(|s| {
                let p = &s.profile;
                let ms = |t: SystemTime| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as u64)
                };
                Summary {
                    id: s.id,
                    service_name: p.service_name.clone(),
                    kind: p.kind.name(),
                    start_ms: ms(p.start),
                    duration_ms: p.duration.as_millis() as u64,
                    total: p.total(),
                    pids: p.pids(),
                    labels: p.labels.clone(),
                    file: s.file.as_ref().map(|f| f.display().to_string()),
                }
            })
            .collect()
    }

    /// The profile with this id.
    pub fn get(&self, id: u64) -> Option<Arc<Profile>> {
        self.entries
            .read()
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.profile.clone())
    }

    /// The profiles matching `f` that end after `since`, merged into one
    /// (named after the group when there is one, else `all`); `None` if
    /// there are none.
    pub fn window(&self, since: SystemTime, f: &Filter) -> Option<Profile> {
        let kind = f.kind.unwrap_or(ProfileKind::Cpu);
        let e = self.entries.read();
        let mut out: Option<Profile> = None;
        for s in e.iter() {
            let p = &s.profile;
            if p.kind != kind
                || p.end() <= since
                || f.service_name
                    .as_ref()
                    .is_some_and(|n| *n != p.service_name)
            {
                continue;
            }
            let part = match f.pid {
                Some(pid) => p.only_pid(pid),
                None => (**p).clone(),
            };
            match &mut out {
                None => out = Some(part),
                Some(o) => {
                    if o.service_name != part.service_name {
                        o.service_name = "all".into();
                        o.labels.retain(|(k, _)| k == "host");
                    }
                    o.merge(&part);
                }
            }
        }
        if let (Some(o), Some(pid)) = (&mut out, f.pid) {
            if o.samples.is_empty() {
                return None;
            }
            o.labels.push(("pid".into(), pid.to_string()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample_profile;

    fn store() -> ProfileStore {
        ProfileStore::new(
            2,
            Arc::new(ProfilerStats::default()),
            97,
            Duration::from_secs(15),
        )
    }

    #[test]
    fn keeps_a_bounded_number_per_group_and_merges_windows() {
        let s = store();
        let base = sample_profile();
        for i in 0..3u64 {
            let mut p = base.clone();
            p.start += Duration::from_secs(15 * i);
            s.add(p, None);
        }
        let l = s.list();
        assert_eq!(l.len(), 2, "two kept per group");
        assert_eq!(l[0].id, 2);
        assert_eq!(l[0].kind, "cpu");
        assert_eq!(l[0].total, 106);
        assert!(s.get(1).is_none() && s.get(3).is_some());
        let all = s
            .window(SystemTime::UNIX_EPOCH, &Filter::default())
            .unwrap();
        assert_eq!(all.total(), 212);
        assert_eq!(all.duration, Duration::from_secs(30));
        // Only the last interval ends after this.
        let since = base.start + Duration::from_secs(40);
        assert_eq!(s.window(since, &Filter::default()).unwrap().total(), 106);
        let f = Filter {
            pid: Some(8),
            ..Filter::default()
        };
        assert_eq!(s.window(SystemTime::UNIX_EPOCH, &f).unwrap().total(), 2);
        let f = Filter {
            pid: Some(12345),
            ..Filter::default()
        };
        assert!(s.window(SystemTime::UNIX_EPOCH, &f).is_none());
        let f = Filter {
            kind: Some(ProfileKind::OffCpu),
            ..Filter::default()
        };
        assert!(s.window(SystemTime::UNIX_EPOCH, &f).is_none());
    }
}
