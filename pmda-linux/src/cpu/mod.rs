//! The `cpu` collector: CPU time per state from `/proc/stat` (all CPUs,
//! each CPU, each NUMA node), the CPUs' hardware figures from
//! `/proc/cpuinfo`, and their online state, thermal throttling and
//! frequency scaling figures from `/sys/devices/system/cpu/cpuN`, and the
//! node map (which CPUs each NUMA node has, from
//! `/sys/devices/system/node/nodeN/cpulist`). It owns the CPU instance
//! domain (`cpuN` with id N, the CPUs of /proc/stat).

pub mod cpufreq;
pub mod cpuinfo;
pub mod stat;
mod states;

use std::collections::HashMap;

use pcp_core::{Instance, LabelSet, PmError, Value};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::system::System;
use crate::value::Put;
use cpuinfo::{CpuField, CpuInfo, CpuValue};
use stat::{CpuTicks, Stat};
use states::{state, state_help, STATES};

/// /proc/stat.
pub(crate) const STAT: Need = Need::new(Id::Cpu, 0);
/// /proc/cpuinfo.
pub(crate) const CPUINFO: Need = Need::new(Id::Cpu, 1);
/// Each CPU's `online` file.
const ONLINE: Need = Need::new(Id::Cpu, 2);
/// Each CPU's thermal throttle file of one figure (four sources).
const THERMAL: [Need; 4] = [
    Need::new(Id::Cpu, 3),
    Need::new(Id::Cpu, 4),
    Need::new(Id::Cpu, 5),
    Need::new(Id::Cpu, 6),
];
/// Each CPU's frequency scaling figures (sampled when not kept).
const FREQ: Need = Need::new(Id::Cpu, 7);
/// The node map. Without NUMA information pmdalinux reports one node
/// holding every CPU of /proc/stat, which is then read too.
pub(crate) const NODES: Need = Need::new(Id::Cpu, 9);
/// A metric of pmdalinux's cpuinfo cluster (18) was asked: pmdalinux then
/// samples the frequency scaling figures afresh (see [`cpufreq`]).
pub(crate) const RESAMPLE: Need = Need::new(Id::Cpu, 8);

/// The thermal throttle files, by figure.
const THERMAL_FILES: [&str; 4] = [
    "core_throttle_count",
    "core_throttle_total_time_ms",
    "package_throttle_count",
    "package_throttle_total_time_ms",
];

/// The collector's state.
#[derive(Debug)]
pub struct Cpu {
    hz: u64,
    /// The last /proc/stat read.
    pub stat: Stat,
    cpuinfo: CpuInfo,
    /// Each CPU's online flag (CPUs of `stat`).
    online: Vec<(u32, u64)>,
    /// Each CPU's thermal throttle figures, by figure.
    thermal: [Vec<(u32, u64)>; 4],
    /// Frequency scaling samples by CPU, kept until a fetch asks for a
    /// metric of the cpuinfo cluster.
    freq: HashMap<u32, cpufreq::Sample>,
    /// Each NUMA node and its CPUs, by node number.
    nodes: Vec<(u32, Vec<u32>)>,
}

impl Cpu {
    pub(crate) fn new(sys: &System) -> Cpu {
        Cpu {
            hz: sys.hz,
            stat: Stat::default(),
            cpuinfo: CpuInfo::default(),
            online: Vec::new(),
            thermal: Default::default(),
            freq: HashMap::new(),
            nodes: Vec::new(),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, mut want: u32) {
        if want & NODES.bit != 0 {
            want |= STAT.bit;
        }
        if want & RESAMPLE.bit != 0 {
            self.freq.clear();
            sys.done(RESAMPLE, Ok(()));
        }
        if want & STAT.bit != 0 {
            let stat = &mut self.stat;
            sys.parse(STAT, "proc/stat", |b| {
                *stat = Stat::parse(b)?;
                Ok(())
            });
        }
        if want & NODES.bit != 0 {
            self.nodes = node_map(sys, &self.stat);
            sys.done(NODES, Ok(()));
        }
        if want & CPUINFO.bit != 0 {
            let info = &mut self.cpuinfo;
            sys.load(CPUINFO, "proc/cpuinfo", |b| {
                info.parse(b?);
                Ok(())
            });
        }
        if want & ONLINE.bit != 0 {
            self.online = self
                .cpus()
                .map(|n| {
                    (
                        n,
                        online(sys, &format!("sys/devices/system/cpu/cpu{n}/online")),
                    )
                })
                .collect();
            sys.done(ONLINE, Ok(()));
        }
        for (i, need) in THERMAL.iter().enumerate() {
            if want & need.bit == 0 {
                continue;
            }
            // A CPU without thermal throttle reporting reads zero, as
            // pmdalinux reports it.
            self.thermal[i] = self
                .cpus()
                .map(|n| {
                    let rel = format!(
                        "sys/devices/system/cpu/cpu{n}/thermal_throttle/{}",
                        THERMAL_FILES[i]
                    );
                    (n, sys.attr_u64(&rel).unwrap_or(0))
                })
                .collect();
            sys.done(*need, Ok(()));
        }
        if want & FREQ.bit != 0 {
            let cpus: Vec<u32> = self.cpus().collect();
            for n in cpus {
                self.freq
                    .entry(n)
                    .or_insert_with(|| cpufreq::sample(sys.root(), n));
            }
            sys.done(FREQ, Ok(()));
        }
    }

    /// The CPUs of /proc/stat, in file order.
    pub(crate) fn cpus(&self) -> impl Iterator<Item = u32> + '_ {
        self.stat.cpus.iter().map(|(n, _)| *n)
    }

    /// The NUMA nodes, by number.
    pub(crate) fn node_numbers(&self) -> impl Iterator<Item = u32> + '_ {
        self.nodes.iter().map(|(n, _)| *n)
    }

    /// The NUMA node of `cpu` (0 for a CPU no node lists).
    pub(crate) fn node_of(&self, cpu: u32) -> u32 {
        self.nodes
            .iter()
            .find(|(_, cpus)| cpus.contains(&cpu))
            .map_or(0, |(n, _)| *n)
    }

    fn ms(&self, t: &CpuTicks, s: u32) -> u64 {
        stat::ticks_to_ms(STATES[s as usize].ticks(t), self.hz)
    }
}

/// Each node of `ROOT/sys/devices/system/node` with the CPUs of its
/// `cpulist`, by node number; without any, one node 0 with every CPU of
/// `stat`, as pmdalinux reports it.
fn node_map(sys: &mut System, stat: &Stat) -> Vec<(u32, Vec<u32>)> {
    let mut nodes = Vec::new();
    if let Ok(rd) = std::fs::read_dir(sys.root().join("sys/devices/system/node")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(n) = name
                .strip_prefix("node")
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let list = sys
                .attr(&format!("sys/devices/system/node/{name}/cpulist"))
                .unwrap_or_default();
            nodes.push((n, crate::parse::parse_cpulist(&list)));
        }
    }
    nodes.sort_by_key(|(n, _)| *n);
    if nodes.is_empty() {
        nodes.push((0, stat.cpus.iter().map(|(n, _)| *n).collect()));
    }
    nodes
}

/// The online flag in a sysfs `online` file: 1 unless the file says
/// otherwise (CPU 0 and single nodes usually have none).
pub(crate) fn online(sys: &mut System, rel: &str) -> u64 {
    match sys.read(rel) {
        Ok(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse::<u32>().ok())
            .map_or(1, u64::from),
        Err(_) => 1,
    }
}

/// A /proc/cpuinfo figure of each CPU of /proc/stat.
fn cpuinfo_value(c: &Collectors, f: CpuField, out: &mut pcp_core::agent::Sink<'_>) {
    for n in c.cpu.cpus() {
        match c.cpu.cpuinfo.value(n, f) {
            Some(CpuValue::Str(s)) => out.put(n, Value::String(s.to_string())),
            Some(CpuValue::U32(x)) => out.put_u64(n, u64::from(x)),
            Some(CpuValue::F32(x)) => out.put_f64(n, f64::from(x)),
            None => {}
        }
    }
}

const STAT_INFO: &[Need] = &[STAT, CPUINFO, RESAMPLE];

macro_rules! cpuinfo_binding {
    ($name:literal, $field:ident, $one:literal, $help:literal) => {
        Binding::new($name, STAT_INFO, |c, _, out| {
            cpuinfo_value(c, CpuField::$field, out);
            Ok(())
        })
        .help($one, $help)
    };
}

fn freq(c: &Collectors, i: u8, out: &mut pcp_core::agent::Sink<'_>) -> Result<(), PmError> {
    for n in c.cpu.cpus() {
        if let Some(v) = c.cpu.freq.get(&n).and_then(|s| s.get(i)) {
            out.put_u64(n, v);
        }
    }
    Ok(())
}

fn thermal(c: &Collectors, i: usize, out: &mut pcp_core::agent::Sink<'_>) -> Result<(), PmError> {
    for (n, v) in &c.cpu.thermal[i] {
        out.put_u64(*n, *v);
    }
    Ok(())
}

/// The cpu collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("kernel.all.cpu.", &[STAT], state, |c, s, out| {
        out.set_u64(c.cpu.ms(&c.cpu.stat.all, s));
        Ok(())
    })
    .made_help(state_help)
    .labels(|| LabelSet::new().with("device_type", "cpu")),
    Binding::family("kernel.percpu.cpu.", &[STAT], state, |c, s, out| {
        for (n, t) in &c.cpu.stat.cpus {
            out.put_u64(*n, c.cpu.ms(t, s));
        }
        Ok(())
    })
    .made_help(state_help),
    // A CPU that no node lists counts in node 0, as hinv.map.cpu_node
    // reports it.
    Binding::family("kernel.pernode.cpu.", &[STAT, NODES], state, |c, s, out| {
        for node in c.cpu.node_numbers() {
            let total = c
                .cpu
                .stat
                .cpus
                .iter()
                .filter(|(n, _)| c.cpu.node_of(*n) == node)
                .map(|(_, t)| c.cpu.ms(t, s))
                .sum();
            out.put_u64(node, total);
        }
        Ok(())
    })
    .made_help(state_help)
    .labels(|| LabelSet::new().with("device_type", vec!["numa_node", "cpu"])),
    Binding::new("hinv.ncpu", &[STAT], |c, _, out| {
        out.set_u64(c.cpu.stat.cpus.len() as u64);
        Ok(())
    })
    .help("number of CPUs", "Number of CPUs listed in /proc/stat."),
    Binding::new("kernel.all.hz", &[], |c, _, out| {
        out.set_u64(c.cpu.hz);
        Ok(())
    })
    .help(
        "clock ticks per second",
        "The kernel's USER_HZ: how many ticks make a second in /proc/stat.",
    ),
    cpuinfo_binding!(
        "hinv.cpu.clock",
        Clock,
        "CPU clock rate in MHz",
        "Clock rate of each CPU in MHz (cpu MHz in /proc/cpuinfo)."
    ),
    cpuinfo_binding!(
        "hinv.cpu.vendor",
        Vendor,
        "CPU vendor",
        "Vendor string of each CPU from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.model",
        Model,
        "CPU model number",
        "Model number of each CPU from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.stepping",
        Stepping,
        "CPU stepping",
        "Stepping (revision) of each CPU from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.cache",
        Cache,
        "CPU cache size",
        "Cache size of each CPU in Kbytes, from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.bogomips",
        Bogomips,
        "BogoMIPS rating",
        "The kernel's BogoMIPS calibration of each CPU, from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.model_name",
        ModelName,
        "CPU model name",
        "Marketing name of each CPU from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.flags",
        Flags,
        "CPU feature flags",
        "Feature flags of each CPU, space separated, from /proc/cpuinfo."
    ),
    cpuinfo_binding!(
        "hinv.cpu.cache_alignment",
        CacheAlign,
        "cache line alignment",
        "Cache alignment of each CPU in bytes, from /proc/cpuinfo."
    ),
    Binding::new("hinv.map.cpu_num", &[STAT, RESAMPLE], |c, _, out| {
        for n in c.cpu.cpus() {
            out.put_u64(n, u64::from(n));
        }
        Ok(())
    })
    .help("logical CPU number", "The logical number of each CPU."),
    Binding::new("hinv.map.cpu_node", &[STAT, NODES, RESAMPLE], |c, _, out| {
        for n in c.cpu.cpus() {
            out.put_u64(n, u64::from(c.cpu.node_of(n)));
        }
        Ok(())
    })
    .help("NUMA node of a CPU", "The NUMA node each CPU belongs to."),
    Binding::new("hinv.cpu.online", &[STAT, ONLINE], |c, _, out| {
        for (n, v) in &c.cpu.online {
            out.put_u64(*n, *v);
        }
        Ok(())
    })
    .help(
        "CPU online (1) or offline (0)",
        "Whether each CPU is online, from /sys/devices/system/cpu/cpuN/online; a CPU without that file (usually cpu0, which cannot be taken offline) counts as online.",
    ),
    Binding::new("hinv.cpu.thermal_throttle.core.count", &[STAT, THERMAL[0]], |c, _, out| thermal(c, 0, out))
        .help(
            "core thermal throttling events",
            "Times the CPU's core was throttled because it ran too hot, from thermal_throttle/core_throttle_count under /sys/devices/system/cpu/cpuN; zero when the CPU does not report it.",
        ),
    Binding::new("hinv.cpu.thermal_throttle.core.time", &[STAT, THERMAL[1]], |c, _, out| thermal(c, 1, out))
        .help(
            "core thermal throttling time",
            "Milliseconds the CPU's core spent throttled because it ran too hot, from thermal_throttle/core_throttle_total_time_ms under /sys/devices/system/cpu/cpuN; zero when the CPU does not report it.",
        ),
    Binding::new("hinv.cpu.thermal_throttle.package.count", &[STAT, THERMAL[2]], |c, _, out| thermal(c, 2, out))
        .help(
            "package thermal throttling events",
            "Times the CPU's package was throttled because it ran too hot, from thermal_throttle/package_throttle_count under /sys/devices/system/cpu/cpuN; zero when the CPU does not report it.",
        ),
    Binding::new("hinv.cpu.thermal_throttle.package.time", &[STAT, THERMAL[3]], |c, _, out| thermal(c, 3, out))
        .help(
            "package thermal throttling time",
            "Time the CPU's package spent throttled because it ran too hot, from thermal_throttle/package_throttle_total_time_ms under /sys/devices/system/cpu/cpuN; zero when the CPU does not report it.",
        ),
    Binding::new("hinv.cpu.frequency_scaling.count", &[STAT, FREQ], |c, _, out| freq(c, 0, out))
        .help(
            "CPU frequency times time",
            "With the kernel's cpufreq statistics, each frequency of /sys/devices/system/cpu/cpuN/cpufreq/stats/time_in_state in MHz times the time spent at it, summed; its rate divided by the rate of hinv.cpu.frequency_scaling.time is the average frequency. Without them, the current frequency (scaling_cur_freq) in MHz. Sampled once after each refresh of the hinv.cpu figures, as pmdalinux does.",
        ),
    Binding::new("hinv.cpu.frequency_scaling.time", &[STAT, FREQ], |c, _, out| freq(c, 1, out))
        .help(
            "time counted by the cpufreq statistics",
            "The time of all lines of /sys/devices/system/cpu/cpuN/cpufreq/stats/time_in_state summed, in the kernel's units; no value without the statistics. Sampled as hinv.cpu.frequency_scaling.count.",
        ),
    Binding::new("hinv.cpu.frequency_scaling.max", &[STAT, FREQ], |c, _, out| freq(c, 2, out))
        .help(
            "highest CPU frequency",
            "The highest frequency in MHz: the highest listed in the cpufreq statistics, else cpuinfo_max_freq. Sampled as hinv.cpu.frequency_scaling.count.",
        ),
    Binding::new("hinv.cpu.frequency_scaling.min", &[STAT, FREQ], |c, _, out| freq(c, 3, out))
        .help(
            "lowest CPU frequency",
            "The lowest frequency in MHz: the lowest listed in the cpufreq statistics, else cpuinfo_min_freq. Sampled as hinv.cpu.frequency_scaling.count.",
        ),
]];

/// The CPU instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::CPU.serial, &[STAT], |c| {
    c.cpu
        .cpus()
        .map(|n| Instance::new(n, format!("cpu{n}")))
        .collect()
})
.help(
    "set of CPUs",
    "One instance per CPU listed in /proc/stat, named cpuN with id N.",
)
.labels(&["cpu"], "per cpu")
.instance_labels(|_, insts| {
    insts
        .iter()
        .map(|i| (i.id, LabelSet::new().with("cpu", i.id)))
        .collect()
})];
