//! What each `cgroup.*` metric reads, worked out once from its name (the
//! names say it: `cgroup.memory.stat.total.rss` is `total_rss` of
//! `memory.stat`, `cgroup.blkio.dev.io_merged.read` the Read figure of
//! `blkio.io_merged` per device), and its value for one group.

use pcp_core::{PmError, Value};

use super::{mount_subsys, CgData, Cgroups};

/// A controller's groups: one instance domain each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// cpuset (indom 20).
    Cpuset,
    /// cpuacct (21; per CPU 22).
    Cpuacct,
    /// cpu, the scheduler (23).
    Cpusched,
    /// memory (24).
    Memory,
    /// net_cls (25).
    NetCls,
    /// blkio (26; per device 27).
    Blkio,
    /// The unified v2 hierarchy (16; per device 17).
    V2,
}

impl Group {
    /// The v1 controller name (`None` for v2).
    pub fn controller(self) -> Option<&'static str> {
        Some(match self {
            Group::Cpuset => "cpuset",
            Group::Cpuacct => "cpuacct",
            Group::Cpusched => "cpu",
            Group::Memory => "memory",
            Group::NetCls => "net_cls",
            Group::Blkio => "blkio",
            Group::V2 => return None,
        })
    }

    /// On a pure v2 host, the file a unified group must have to count as
    /// a group of this controller (`None`: every group), as pmdaproc
    /// decides.
    pub fn marker(self) -> Option<&'static str> {
        match self {
            Group::Cpuset | Group::Cpuacct | Group::V2 => None,
            Group::Cpusched => Some("cpu.shares"),
            Group::Memory => Some("memory.stat"),
            Group::NetCls => Some("net_cls.classid"),
            Group::Blkio => Some("blkio.time"),
        }
    }

    /// The group instance domain's serial.
    pub fn indom(self) -> u32 {
        match self {
            Group::Cpuset => 20,
            Group::Cpuacct => 21,
            Group::Cpusched => 23,
            Group::Memory => 24,
            Group::NetCls => 25,
            Group::Blkio => 26,
            Group::V2 => 16,
        }
    }
}

/// v1 block I/O statistics files (`blkio.NAME`).
pub const BLKIO_FILES: [&str; 10] = [
    "io_merged",
    "io_queued",
    "io_service_bytes",
    "io_service_time",
    "io_serviced",
    "io_wait_time",
    "sectors",
    "time",
    "throttle.io_service_bytes",
    "throttle.io_serviced",
];

/// What a `cgroup.*` metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgMetric {
    /// `cgroup.subsys.*`: 0 hierarchy, 1 count, 2 num_cgroups, 3 enabled.
    Subsys(u8),
    /// `cgroup.mounts.subsys` (false) or `.count` (true).
    Mounts(bool),
    /// `*.id.container` of a group.
    Container(Group),
    /// A one-line file of a group.
    Line(Group, &'static str),
    /// A field of a keyed statistics file of a group.
    Stat(Group, &'static str, &'static str),
    /// `cgroup.cpuacct.usage_percpu`.
    PerCpu,
    /// A v1 block I/O file: per device or summed, and its operation slot.
    Blkio {
        /// Per device (the `dev` tree) or over all devices.
        per_dev: bool,
        /// The file (`io_merged` ...).
        file: &'static str,
        /// The operation slot (0 Read .. 4 Total, or the one value).
        op: u8,
    },
    /// A v2 `io.stat` field per device.
    Io(u8),
    /// A v2 pressure figure: resource, full (or some), and the figure (0
    /// avg10, 1 avg60, 2 avg300, 3 total).
    Pressure(&'static str, bool, u8),
}

impl CgMetric {
    /// The metric a `cgroup.*` name is.
    pub fn of(name: &'static str) -> Option<CgMetric> {
        let rest = name.strip_prefix("cgroup.")?;
        let parts: Vec<&'static str> = rest.split('.').collect();
        let tail = |from: usize| -> &'static str {
            // The name from part `from` on, as a slice of the static name.
            let skip: usize = parts[..from].iter().map(|p| p.len() + 1).sum();
            &rest[skip..]
        };
        Some(match parts.as_slice() {
            ["subsys", f] => CgMetric::Subsys(match *f {
                "hierarchy" => 0,
                "count" => 1,
                "num_cgroups" => 2,
                "enabled" => 3,
                _ => return None,
            }),
            ["mounts", f] => CgMetric::Mounts(*f == "count"),
            [g, "id", "container"] => CgMetric::Container(group_of(g)?),
            ["cpuset", f @ ("cpus" | "mems")] => CgMetric::Line(
                Group::Cpuset,
                if *f == "cpus" {
                    "cpuset.cpus"
                } else {
                    "cpuset.mems"
                },
            ),
            ["cpuacct", "usage"] => CgMetric::Line(Group::Cpuacct, "cpuacct.usage"),
            ["cpuacct", "usage_percpu"] => CgMetric::PerCpu,
            ["cpuacct", "stat", f] => CgMetric::Stat(Group::Cpuacct, "cpuacct.stat", f),
            ["cpusched", "shares"] => CgMetric::Line(Group::Cpusched, "cpu.shares"),
            ["cpusched", "cfs_period"] => CgMetric::Line(Group::Cpusched, "cpu.cfs_period_us"),
            ["cpusched", "cfs_quota"] => CgMetric::Line(Group::Cpusched, "cpu.cfs_quota_us"),
            ["cpusched", "periods"] => CgMetric::Stat(Group::Cpusched, "cpu.stat", "nr_periods"),
            ["cpusched", "throttled"] => {
                CgMetric::Stat(Group::Cpusched, "cpu.stat", "nr_throttled")
            }
            ["cpusched", "throttled_time"] => {
                CgMetric::Stat(Group::Cpusched, "cpu.stat", "throttled_time")
            }
            ["memory", "usage"] => CgMetric::Line(Group::Memory, "memory.usage_in_bytes"),
            ["memory", "limit"] => CgMetric::Line(Group::Memory, "memory.limit_in_bytes"),
            ["memory", "failcnt"] => CgMetric::Line(Group::Memory, "memory.failcnt"),
            ["memory", "current"] => CgMetric::Line(Group::Memory, "memory.current"),
            ["memory", "stat", ..] => {
                // total.rss -> total_rss, recent.rotated_anon ->
                // recent_rotated_anon: the key with dots made underscores,
                // made once per metric for the agent's life.
                let key: &'static str = Box::leak(tail(2).replace('.', "_").into_boxed_str());
                CgMetric::Stat(Group::Memory, "memory.stat", key)
            }
            ["netclass", "classid"] => CgMetric::Line(Group::NetCls, "net_cls.classid"),
            ["blkio", scope @ ("dev" | "all"), ..] => {
                let per_dev = *scope == "dev";
                let last = *parts.last()?;
                let (file, op) = match super::files::OPS
                    .iter()
                    .position(|o| o.eq_ignore_ascii_case(last))
                {
                    Some(op) => (tail(2).rsplit_once('.')?.0, op as u8),
                    None => (tail(2), 4),
                };
                let file = BLKIO_FILES.iter().find(|f| **f == file)?;
                CgMetric::Blkio { per_dev, file, op }
            }
            ["cpu", "stat", f] => CgMetric::Stat(
                Group::V2,
                "cpu.stat",
                match *f {
                    "user" => "user_usec",
                    "system" => "system_usec",
                    "usage" => "usage_usec",
                    _ => return None,
                },
            ),
            ["io", "stat", f] => {
                CgMetric::Io(super::files::IO_KEYS.iter().position(|k| k == f)? as u8)
            }
            ["pressure", res, kind, stat] => CgMetric::Pressure(
                res,
                *kind == "full",
                match *stat {
                    "avg10sec" => 0,
                    "avg1min" => 1,
                    "avg5min" => 2,
                    "total" => 3,
                    _ => return None,
                },
            ),
            _ => return None,
        })
    }

    /// The controller whose groups the metric needs read.
    pub fn group(self) -> Option<Group> {
        match self {
            CgMetric::Subsys(_) | CgMetric::Mounts(_) => None,
            CgMetric::Container(g) | CgMetric::Line(g, _) | CgMetric::Stat(g, _, _) => Some(g),
            CgMetric::PerCpu => Some(Group::Cpuacct),
            CgMetric::Blkio { .. } => Some(Group::Blkio),
            CgMetric::Io(_) | CgMetric::Pressure(..) => Some(Group::V2),
        }
    }
}

fn group_of(g: &str) -> Option<Group> {
    Some(match g {
        "cpuset" => Group::Cpuset,
        "cpuacct" => Group::Cpuacct,
        "cpusched" => Group::Cpusched,
        "memory" => Group::Memory,
        "netclass" => Group::NetCls,
        "blkio" => Group::Blkio,
        _ => return None,
    })
}

/// Puts the metric's values into `put` (instance name, value); the
/// caller numbers the instances.
pub fn values(
    m: CgMetric,
    cg: &Cgroups,
    mut put: impl FnMut(u32, String, Value),
) -> Result<Option<Value>, PmError> {
    match m {
        CgMetric::Subsys(1) => return Ok(Some(Value::U32(cg.subsys.len() as u32))),
        CgMetric::Subsys(f) => {
            for s in &cg.subsys {
                let v = match f {
                    0 => s.hierarchy,
                    2 => s.num_cgroups,
                    _ => s.enabled,
                };
                put(37, s.name.clone(), Value::U32(v));
            }
        }
        CgMetric::Mounts(true) => return Ok(Some(Value::U32(cg.mounts.len() as u32))),
        CgMetric::Mounts(false) => {
            for mt in &cg.mounts {
                put(
                    38,
                    mt.path.clone(),
                    Value::String(mount_subsys(mt, &cg.subsys)),
                );
            }
        }
        CgMetric::PerCpu => {
            for d in cg.groups.get(&Group::Cpuacct).into_iter().flatten() {
                for (cpu, v) in d.percpu.iter().enumerate() {
                    put(22, format!("{}::cpu{cpu}", d.name), Value::U64(*v));
                }
            }
        }
        CgMetric::Blkio { per_dev, file, op } => {
            for d in cg.groups.get(&Group::Blkio).into_iter().flatten() {
                // blkio.time counts clock ticks and blkio.sectors 512-byte
                // sectors; the metrics are milliseconds and Kbytes.
                let scale = |v: u64| match file {
                    "time" => v * 1000 / cg.hertz.max(1),
                    "sectors" => v / 2,
                    _ => v,
                };
                let devs = d.blkio.get(file);
                let value_of = |dv: (u32, u32)| {
                    devs.and_then(|l| l.iter().find(|(x, _)| *x == dv))
                        .map_or(0, |(_, v)| v[op as usize])
                };
                if per_dev {
                    // Every known disk any block I/O file of the group
                    // lists, 0 where this file does not (as pmdaproc).
                    for dv in blkio_devices(d, cg) {
                        if let Some(dev) = cg.device(dv) {
                            put(
                                27,
                                format!("{}::{dev}", d.name),
                                Value::U64(scale(value_of(dv))),
                            );
                        }
                    }
                } else if let Some(list) = devs {
                    // Totals over known disks (RAM disks and loop devices
                    // are not counted).
                    let sum: u64 = list
                        .iter()
                        .filter(|(dv, _)| cg.device(*dv).is_some())
                        .map(|(_, v)| v[op as usize])
                        .sum();
                    put(26, d.name.clone(), Value::U64(scale(sum)));
                }
            }
        }
        CgMetric::Io(i) => {
            for d in cg.groups.get(&Group::V2).into_iter().flatten() {
                for (devt, vals) in &d.io {
                    if let Some(dev) = cg.device(*devt) {
                        put(
                            17,
                            format!("{}::{dev}", d.name),
                            Value::U64(vals[i as usize]),
                        );
                    }
                }
            }
        }
        _ => {
            let g = m.group().ok_or(PmError::PMID)?;
            for d in cg.groups.get(&g).into_iter().flatten() {
                if let Some(v) = group_value(m, d, cg.hertz) {
                    put(g.indom(), d.name.clone(), v);
                }
            }
        }
    }
    Ok(None)
}

/// The known disks any block I/O file of group `d` lists, in number order.
pub fn blkio_devices(d: &CgData, cg: &Cgroups) -> Vec<(u32, u32)> {
    let mut devs: Vec<(u32, u32)> = d
        .blkio
        .values()
        .flatten()
        .map(|(dv, _)| *dv)
        .filter(|dv| cg.device(*dv).is_some())
        .collect();
    devs.sort_unstable();
    devs.dedup();
    devs
}

/// The value of a per-group metric for one group, if it has one.
fn group_value(m: CgMetric, d: &CgData, hertz: u64) -> Option<Value> {
    match m {
        CgMetric::Container(_) => Some(Value::String(d.container.clone())),
        // A pure v2 group of the cpuset controller without the files has
        // empty lists (pmdaproc gives every unified group one).
        CgMetric::Line(Group::Cpuset, f) => {
            Some(Value::String(d.lines.get(f).cloned().unwrap_or_default()))
        }
        CgMetric::Line(_, f) => {
            let l = d.lines.get(f)?;
            // "No limit" (-1, or the largest number, or v2's "max") has no
            // value, as pmdaproc gives it.
            Some(match f {
                "cpuset.cpus" | "cpuset.mems" => Value::String(l.clone()),
                "cpu.cfs_quota_us" => match l.parse().ok()? {
                    -1 => return None,
                    q => Value::I64(q),
                },
                _ => match l.split_whitespace().next()?.parse::<u64>().ok()? {
                    u64::MAX => return None,
                    v => Value::U64(v),
                },
            })
        }
        CgMetric::Stat(_, file, key) => {
            let v = *d.stats.get(file)?.get(key)?;
            // cpuacct.stat counts clock ticks; the metrics are milliseconds.
            Some(Value::U64(if file == "cpuacct.stat" {
                v * 1000 / hertz.max(1)
            } else {
                v
            }))
        }
        CgMetric::Pressure(res, full, f) => {
            let (some, fulls) = d.pressure.get(res)?;
            let p = if full {
                fulls.as_ref()?
            } else {
                some.as_ref()?
            };
            Some(match f {
                0 => Value::Float(p.avg10),
                1 => Value::Float(p.avg60),
                2 => Value::Float(p.avg300),
                _ => Value::U64(p.total),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_to_read() {
        assert_eq!(
            CgMetric::of("cgroup.memory.stat.total.rss"),
            Some(CgMetric::Stat(Group::Memory, "memory.stat", "total_rss"))
        );
        assert_eq!(
            CgMetric::of("cgroup.blkio.dev.throttle.io_serviced.write"),
            Some(CgMetric::Blkio {
                per_dev: true,
                file: "throttle.io_serviced",
                op: 1
            })
        );
        assert_eq!(
            CgMetric::of("cgroup.blkio.all.sectors"),
            Some(CgMetric::Blkio {
                per_dev: false,
                file: "sectors",
                op: 4
            })
        );
        assert_eq!(
            CgMetric::of("cgroup.pressure.io.full.avg1min"),
            Some(CgMetric::Pressure("io", true, 1))
        );
        assert_eq!(CgMetric::of("cgroup.io.stat.wios"), Some(CgMetric::Io(3)));
        assert_eq!(
            CgMetric::of("cgroup.cpusched.id.container"),
            Some(CgMetric::Container(Group::Cpusched))
        );
        for d in crate::descs::METRICS
            .iter()
            .filter(|d| d.name.starts_with("cgroup."))
        {
            assert!(CgMetric::of(d.name).is_some(), "{} unmapped", d.name);
        }
    }
}
