//! One profile: samples of one profile type for one target group over one
//! interval (or several, merged), with functions, mappings and locations
//! deduplicated as pprof wants them. The pprof encoder, the folded-stack
//! writer and the in-memory store all work on this.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The kind of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProfileKind {
    /// CPU samples (`samples`/`count` and `cpu`/`nanoseconds`).
    Cpu,
    /// Time blocked off CPU (`off_cpu`/`nanoseconds`).
    OffCpu,
}

impl ProfileKind {
    /// The name used in file names, URLs and Pyroscope: `cpu`, `off_cpu`.
    pub fn name(self) -> &'static str {
        match self {
            ProfileKind::Cpu => "cpu",
            ProfileKind::OffCpu => "off_cpu",
        }
    }

    /// The kind named `s`.
    pub fn from_name(s: &str) -> Option<ProfileKind> {
        match s {
            "cpu" => Some(ProfileKind::Cpu),
            "off_cpu" | "offcpu" => Some(ProfileKind::OffCpu),
            _ => None,
        }
    }
}

/// A function (pprof `Function`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Function {
    /// The name shown (demangled as configured, or `module+0xoffset`).
    pub name: String,
    /// The name in the binary (mangled), or the shown name.
    pub system_name: String,
    /// Source file, if the debug information says.
    pub filename: String,
}

/// A mapped object (pprof `Mapping`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MappingInfo {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub limit: u64,
    /// File offset of `start`.
    pub offset: u64,
    /// The object's path (or `[kernel.kallsyms]`, `[vdso]`).
    pub filename: String,
    /// Its build id in hexadecimal, or empty.
    pub build_id: String,
}

/// A resolved frame, as the symbolizer hands it over.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The instruction (leaf) or return address.
    pub address: u64,
    /// What is there.
    pub function: Arc<Function>,
    /// Source line, 0 if unknown.
    pub line: i64,
    /// The object it lies in, if any.
    pub mapping: Option<Arc<MappingInfo>>,
}

/// A location (pprof `Location`): indexes into the profile's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// Index of the mapping plus one; 0 for none.
    pub mapping: u32,
    /// The address.
    pub address: u64,
    /// Index of the function.
    pub function: u32,
    /// Source line, 0 if unknown.
    pub line: i64,
}

/// Aggregated samples of one stack in one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Location indexes, leaf first.
    pub locations: Vec<u32>,
    /// Process id.
    pub pid: u32,
    /// The thread's command name.
    pub comm: Arc<str>,
    /// Sample count (CPU) or nanoseconds (off-CPU).
    pub value: i64,
}

/// One profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its kind.
    pub kind: ProfileKind,
    /// The target group's `service_name`.
    pub service_name: String,
    /// The group's labels (`service_name`, `host`, target facts).
    pub labels: Vec<(String, String)>,
    /// When the first interval began.
    pub start: SystemTime,
    /// How long it covers.
    pub duration: Duration,
    /// Nanoseconds between CPU samples (pprof `period`).
    pub period_nanos: i64,
    /// Functions.
    pub functions: Vec<Function>,
    /// Mappings.
    pub mappings: Vec<MappingInfo>,
    /// Locations.
    pub locations: Vec<Location>,
    /// Samples.
    pub samples: Vec<Sample>,
    function_ids: HashMap<Function, u32>,
    mapping_ids: HashMap<MappingInfo, u32>,
    location_ids: HashMap<Location, u32>,
    sample_ids: HashMap<(Vec<u32>, u32, Arc<str>), usize>,
}

impl Profile {
    /// An empty profile.
    pub fn new(
        kind: ProfileKind,
        service_name: impl Into<String>,
        labels: Vec<(String, String)>,
        start: SystemTime,
        duration: Duration,
        period_nanos: i64,
    ) -> Profile {
        Profile {
            kind,
            service_name: service_name.into(),
            labels,
            start,
            duration,
            period_nanos,
            functions: Vec::new(),
            mappings: Vec::new(),
            locations: Vec::new(),
            samples: Vec::new(),
            function_ids: HashMap::new(),
            mapping_ids: HashMap::new(),
            location_ids: HashMap::new(),
            sample_ids: HashMap::new(),
        }
    }

    fn function_id(&mut self, f: &Function) -> u32 {
        if let Some(&i) = self.function_ids.get(f) {
            return i;
        }
        let i = self.functions.len() as u32;
        self.functions.push(f.clone());
        self.function_ids.insert(f.clone(), i);
        i
    }

    fn mapping_id(&mut self, m: &MappingInfo) -> u32 {
        if let Some(&i) = self.mapping_ids.get(m) {
            return i + 1;
        }
        let i = self.mappings.len() as u32;
        self.mappings.push(m.clone());
        self.mapping_ids.insert(m.clone(), i);
        i + 1
    }

    fn location_id(&mut self, loc: Location) -> u32 {
        if let Some(&i) = self.location_ids.get(&loc) {
            return i;
        }
        let i = self.locations.len() as u32;
        self.locations.push(loc);
        self.location_ids.insert(loc, i);
        i
    }

    /// Adds `value` for the stack `frames` (leaf first) of `pid`.
    pub fn add(&mut self, frames: &[Frame], pid: u32, comm: &Arc<str>, value: i64) {
        let mut locs = Vec::with_capacity(frames.len());
        for f in frames {
            let function = self.function_id(&f.function);
            let mapping = f.mapping.as_ref().map_or(0, |m| self.mapping_id(m));
            locs.push(self.location_id(Location {
                mapping,
                address: f.address,
                function,
                line: f.line,
            }));
        }
        self.add_locations(locs, pid, comm, value);
    }

    fn add_locations(&mut self, locs: Vec<u32>, pid: u32, comm: &Arc<str>, value: i64) {
        let key = (locs, pid, comm.clone());
        match self.sample_ids.get(&key) {
            Some(&i) => self.samples[i].value = self.samples[i].value.saturating_add(value),
            None => {
                self.sample_ids.insert(key.clone(), self.samples.len());
                self.samples.push(Sample {
                    locations: key.0,
                    pid,
                    comm: key.2,
                    value,
                });
            }
        }
    }

    /// Adds every sample of `other` (same kind) and widens the time span.
    pub fn merge(&mut self, other: &Profile) {
        let fmap: Vec<u32> = other
            .functions
            .iter()
            .map(|f| self.function_id(f))
            .collect();
        let mmap: Vec<u32> = other.mappings.iter().map(|m| self.mapping_id(m)).collect();
        let lmap: Vec<u32> = other
            .locations
            .iter()
            .map(|l| {
                self.location_id(Location {
                    mapping: if l.mapping == 0 {
                        0
                    } else {
                        mmap[(l.mapping - 1) as usize]
                    },
                    address: l.address,
                    function: fmap[l.function as usize],
                    line: l.line,
                })
            })
            .collect();
        for s in &other.samples {
            let locs = s.locations.iter().map(|&l| lmap[l as usize]).collect();
            self.add_locations(locs, s.pid, &s.comm, s.value);
        }
        let end = self.end().max(other.end());
        self.start = self.start.min(other.start);
        self.duration = end.duration_since(self.start).unwrap_or_default();
    }

    /// When the profile ends.
    pub fn end(&self) -> SystemTime {
        self.start + self.duration
    }

    /// The sum of the sample values (samples for CPU, nanoseconds off CPU).
    pub fn total(&self) -> i64 {
        self.samples.iter().map(|s| s.value).sum()
    }

    /// The same profile restricted to process `pid`.
    pub fn only_pid(&self, pid: u32) -> Profile {
        let mut p = Profile::new(
            self.kind,
            self.service_name.clone(),
            self.labels.clone(),
            self.start,
            self.duration,
            self.period_nanos,
        );
        let mut one = self.clone();
        one.samples.retain(|s| s.pid == pid);
        p.merge(&one);
        p.start = self.start;
        p.duration = self.duration;
        p
    }

    /// Distinct processes sampled.
    pub fn pids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.samples.iter().map(|s| s.pid).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// A rough count of the bytes the profile holds, for the store's bound.
    pub fn approx_bytes(&self) -> usize {
        let f: usize = self
            .functions
            .iter()
            .map(|f| f.name.len() + f.system_name.len() + f.filename.len() + 96)
            .sum();
        let m: usize = self
            .mappings
            .iter()
            .map(|m| m.filename.len() + m.build_id.len() + 96)
            .sum();
        let s: usize = self
            .samples
            .iter()
            .map(|s| s.locations.len() * 8 + 96)
            .sum();
        f + m + s + self.locations.len() * 64
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn frame(name: &str, addr: u64) -> Frame {
        Frame {
            address: addr,
            function: Arc::new(Function {
                name: name.into(),
                system_name: name.into(),
                filename: String::new(),
            }),
            line: 0,
            mapping: Some(Arc::new(MappingInfo {
                start: 0x1000,
                limit: 0x9000,
                offset: 0,
                filename: "/bin/x".into(),
                build_id: "abcd".into(),
            })),
        }
    }

    pub(crate) fn sample_profile() -> Profile {
        let mut p = Profile::new(
            ProfileKind::Cpu,
            "svc",
            vec![("service_name".into(), "svc".into())],
            SystemTime::UNIX_EPOCH + Duration::from_secs(1000),
            Duration::from_secs(15),
            10_309_278,
        );
        let comm: Arc<str> = Arc::from("x");
        p.add(&[frame("hot", 0x1100), frame("main", 0x1200)], 7, &comm, 90);
        p.add(
            &[frame("cold", 0x1300), frame("main", 0x1200)],
            7,
            &comm,
            10,
        );
        p.add(&[frame("hot", 0x1100), frame("main", 0x1200)], 7, &comm, 5);
        p.add(&[frame("hot", 0x1100), frame("main", 0x1200)], 8, &comm, 1);
        p
    }

    #[test]
    fn tables_are_deduplicated() {
        let p = sample_profile();
        assert_eq!(p.functions.len(), 3);
        assert_eq!(p.mappings.len(), 1);
        assert_eq!(p.locations.len(), 3);
        assert_eq!(p.samples.len(), 3, "same stack and pid aggregate");
        assert_eq!(p.total(), 106);
        assert_eq!(p.pids(), vec![7, 8]);
        assert_eq!(p.only_pid(8).total(), 1);
    }

    #[test]
    fn merging_adds_and_widens() {
        let a = sample_profile();
        let mut b = sample_profile();
        b.start += Duration::from_secs(15);
        let mut m = a.clone();
        m.merge(&b);
        assert_eq!(m.total(), 212);
        assert_eq!(m.samples.len(), 3);
        assert_eq!(m.functions.len(), 3);
        assert_eq!(m.duration, Duration::from_secs(30));
    }
}
