//! Control groups (`cgroup.*`): the subsystems the kernel knows
//! (`/proc/cgroups`), the mounted hierarchies (`/proc/mounts`), and per
//! control group the figures of each v1 controller (cpuset, cpuacct, cpu,
//! memory, net_cls, blkio) and of the unified v2 hierarchy (cpu.stat,
//! io.stat, memory.current and memory.stat, pressure), with the group's
//! path as the instance name (systemd's `\x2d` escapes undone) and the
//! container id found in it.
//!
//! On a host with v1 controllers and a unified v2 mount beside them (the
//! systemd "hybrid" layout, as on this project's build machine), each v1
//! controller is read from its own mount and the v2 figures from the
//! unified mount. pmdaproc 6.0.3 rescans the unified mount for every v1
//! controller and so loses all their groups there; this agent does not.

pub mod files;
pub mod metric;

use std::collections::HashMap;

use pcp_core::idstore::IdCache;
use pcp_core::PmError;

use crate::load::container_id;
use crate::procfs::ProcDir;
use files::Pressure;
pub use metric::{CgMetric, Group};

/// A control-group hierarchy as mounted.
pub type Mount = pcp_core::container::Hierarchy;

/// A subsystem of `/proc/cgroups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subsys {
    /// Name.
    pub name: String,
    /// Hierarchy id.
    pub hierarchy: u32,
    /// Groups.
    pub num_cgroups: u32,
    /// Enabled.
    pub enabled: u32,
}

/// What one control group of one controller read this fetch.
#[derive(Debug, Clone, Default)]
pub struct CgData {
    /// Path below the mount (`/`, `/system.slice/x.service`).
    pub name: String,
    /// Container id in the path, or empty.
    pub container: String,
    /// Single-line files by name (`memory.usage_in_bytes` ...).
    pub lines: HashMap<&'static str, String>,
    /// Keyed statistics files by name (`memory.stat`, `cpu.stat` ...).
    pub stats: HashMap<&'static str, HashMap<String, u64>>,
    /// Per-CPU usage.
    pub percpu: Vec<u64>,
    /// v1 block I/O files by name.
    pub blkio: HashMap<&'static str, Vec<DeviceCounts<5>>>,
    /// v2 io.stat.
    pub io: Vec<DeviceCounts<6>>,
    /// v2 pressure by resource: some and full.
    pub pressure: HashMap<&'static str, (Option<Pressure>, Option<Pressure>)>,
}

/// Counters of one block device, by (major, minor).
pub type DeviceCounts<const N: usize> = ((u32, u32), [u64; N]);

/// Control groups as last read, and instance ids.
#[derive(Debug)]
pub struct Cgroups {
    /// Subsystems.
    pub subsys: Vec<Subsys>,
    /// Mounts.
    pub mounts: Vec<Mount>,
    /// Groups per controller, in scan order.
    pub groups: HashMap<Group, Vec<CgData>>,
    /// Block devices by number, from `/proc/diskstats`.
    pub devices: HashMap<(u32, u32), String>,
    ids: HashMap<u32, IdCache>,
    buf: Vec<u8>,
    /// Clock ticks per second (cpuacct.stat).
    pub hertz: u64,
}

impl Cgroups {
    /// Empty, for a host with `hertz` clock ticks per second.
    pub fn new(hertz: u64) -> Cgroups {
        Cgroups {
            subsys: Vec::new(),
            mounts: Vec::new(),
            groups: HashMap::new(),
            devices: HashMap::new(),
            ids: HashMap::new(),
            buf: Vec::new(),
            hertz,
        }
    }

    /// The instance id of `name` in instance domain `serial` (kept for
    /// the agent's life, first seen first numbered).
    pub fn id(&mut self, serial: u32, name: &str) -> Option<u32> {
        self.ids
            .entry(serial)
            .or_insert_with(|| IdCache::in_memory("cgroup", 0, pcp_core::id::MAX_SERIAL))
            .assign(name)
            .ok()
    }

    /// Re-reads `/proc/mounts`.
    pub fn refresh_mounts(&mut self, dir: &ProcDir) {
        self.mounts = dir
            .read_global("mounts", &mut self.buf)
            .map(|_| parse_mounts(&self.buf))
            .unwrap_or_default();
    }

    /// Re-reads `/proc/cgroups` and `/proc/mounts`, and every group of the
    /// controllers in `need` with their files; with a `scope` (a client's
    /// container), only the groups at or below the scope's path.
    pub fn refresh(&mut self, dir: &ProcDir, need: &[Group], scope: Option<&str>) {
        self.subsys = dir
            .read_global("cgroups", &mut self.buf)
            .map(|_| parse_subsys(&self.buf))
            .unwrap_or_default();
        self.refresh_mounts(dir);
        self.groups.clear();
        let start = scope.unwrap_or("/");
        if need.iter().any(|g| *g == Group::Blkio || *g == Group::V2) {
            self.devices = dir
                .read_global("diskstats", &mut self.buf)
                .map(|_| parse_diskstats(&self.buf))
                .unwrap_or_default();
        }
        let root = dir.root().to_path_buf();
        let any_v1 = self.mounts.iter().any(|m| !m.v2);
        for &g in need {
            let mut out = Vec::new();
            let mut seen = std::collections::HashSet::new();
            // v1 controllers from their own mounts; the v2 figures from the
            // unified mount.
            for m in &self.mounts {
                let wanted = match g.controller() {
                    Some(ctl) => !m.v2 && m.options.iter().any(|o| o == ctl),
                    None => m.v2,
                };
                if !wanted {
                    continue;
                }
                let base = root.join(m.path.trim_start_matches('/'));
                for (path, name) in scan(&base, start) {
                    if seen.insert(name.clone()) {
                        out.push(read_group(g, &path, name, &mut self.buf));
                    }
                }
            }
            // A pure v2 host has no v1 mounts: the controllers' groups are
            // the unified hierarchy's, those with the controller's files.
            if !any_v1 && g != Group::V2 {
                for m in self.mounts.iter().filter(|m| m.v2) {
                    let base = root.join(m.path.trim_start_matches('/'));
                    for (path, name) in scan(&base, start) {
                        let has = g.marker().is_none_or(|f| path.join(f).exists());
                        if has && seen.insert(name.clone()) {
                            out.push(read_group(g, &path, name, &mut self.buf));
                        }
                    }
                }
            }
            self.groups.insert(g, out);
        }
    }

    /// The device name of `devt` (`sda`), as `/proc/diskstats` names it.
    pub fn device(&self, devt: (u32, u32)) -> Option<&str> {
        self.devices.get(&devt).map(String::as_str)
    }
}

/// The file names each controller reads.
fn read_group(g: Group, path: &std::path::Path, name: String, buf: &mut Vec<u8>) -> CgData {
    let mut d = CgData {
        container: container_id(&name).unwrap_or_default(),
        name,
        ..Default::default()
    };
    let read = |f: &str, buf: &mut Vec<u8>| -> bool {
        buf.clear();
        match std::fs::read(path.join(f)) {
            Ok(b) => {
                *buf = b;
                true
            }
            Err(_) => false,
        }
    };
    let lines: &[&'static str] = match g {
        Group::Cpuset => &["cpuset.cpus", "cpuset.mems"],
        Group::Cpuacct => &["cpuacct.usage"],
        Group::Cpusched => &["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"],
        Group::Memory => &[
            "memory.usage_in_bytes",
            "memory.limit_in_bytes",
            "memory.failcnt",
            "memory.current",
        ],
        Group::NetCls => &["net_cls.classid"],
        Group::Blkio | Group::V2 => &[],
    };
    for f in lines {
        if read(f, buf) {
            if let Some(l) = files::line(buf) {
                d.lines.insert(f, l);
            }
        }
    }
    let stats: &[&'static str] = match g {
        Group::Cpuacct => &["cpuacct.stat"],
        Group::Cpusched => &["cpu.stat"],
        Group::Memory => &["memory.stat"],
        Group::V2 => &["cpu.stat"],
        _ => &[],
    };
    for f in stats {
        if read(f, buf) {
            d.stats.insert(f, files::keyed(buf));
        }
    }
    match g {
        Group::Cpuacct if read("cpuacct.usage_percpu", buf) => {
            d.percpu = files::per_cpu(buf);
        }
        Group::Blkio => {
            for f in metric::BLKIO_FILES {
                if read(&format!("blkio.{f}"), buf) {
                    d.blkio.insert(f, files::blkio(buf));
                }
            }
        }
        Group::V2 => {
            if read("io.stat", buf) {
                d.io = files::io_stat(buf);
            }
            for res in ["cpu", "io", "memory", "irq"] {
                if read(&format!("{res}.pressure"), buf) {
                    d.pressure.insert(res, files::pressure(buf));
                }
            }
        }
        _ => {}
    }
    d
}

/// Every directory at or below group `start` (`/` for all) of the
/// hierarchy mounted at `base` (the group itself first), with its group
/// name (`/`, `/a`, `/a/b`), depth-first, at most 64 levels.
pub fn scan(base: &std::path::Path, start: &str) -> Vec<(std::path::PathBuf, String)> {
    fn walk(
        dir: &std::path::Path,
        name: &str,
        out: &mut Vec<(std::path::PathBuf, String)>,
        depth: usize,
    ) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        out.push((dir.to_path_buf(), unescape(name)));
        if depth >= 64 {
            return;
        }
        let mut subdirs: Vec<_> = rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        subdirs.sort();
        for s in subdirs {
            let child = if name == "/" {
                format!("/{s}")
            } else {
                format!("{name}/{s}")
            };
            walk(&dir.join(&s), &child, out, depth + 1);
        }
    }
    let mut out = Vec::new();
    let start = if start.trim_matches('/').is_empty() {
        "/"
    } else {
        start.trim_end_matches('/')
    };
    walk(
        &base.join(start.trim_start_matches('/')),
        start,
        &mut out,
        0,
    );
    out
}

pub use pcp_core::container::unescape;

fn parse_subsys(text: &[u8]) -> Vec<Subsys> {
    String::from_utf8_lossy(text)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            Some(Subsys {
                name: w.first()?.to_string(),
                hierarchy: w.get(1)?.parse().ok()?,
                num_cgroups: w.get(2)?.parse().ok()?,
                enabled: w.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn parse_mounts(text: &[u8]) -> Vec<Mount> {
    pcp_core::container::hierarchies(text)
}

fn parse_diskstats(text: &[u8]) -> HashMap<(u32, u32), String> {
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let name = *w.get(2)?;
            if name.starts_with("loop") || name.starts_with("ram") {
                return None;
            }
            Some((
                (w.first()?.parse().ok()?, w.get(1)?.parse().ok()?),
                name.to_string(),
            ))
        })
        .collect()
}

/// The v1 controller name of each mount, as `cgroup.mounts.subsys`
/// gives it (the controller options of the mount, joined by commas; `?`
/// for none).
pub fn mount_subsys(m: &Mount, subsys: &[Subsys]) -> String {
    if m.v2 {
        return "?".into();
    }
    let names: Vec<&str> = m
        .options
        .iter()
        .filter(|o| subsys.iter().any(|s| s.name == **o))
        .map(String::as_str)
        .collect();
    if names.is_empty() {
        "?".into()
    } else {
        names.join(",")
    }
}

/// No value (the file or field is not there) as pmdaproc reports it.
pub const NO_VALUE: PmError = PmError::VALUE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_mounts() {
        assert_eq!(
            unescape("/system.slice/a\\x2db.service"),
            "/system.slice/a-b.service"
        );
        let m = parse_mounts(b"cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\nproc /proc proc rw 0 0\n");
        assert_eq!(m.len(), 2);
        assert!(m[1].v2 && m[0].options.contains(&"cpuacct".to_string()));
        let s = parse_subsys(b"#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t2\t5\t1\n");
        assert_eq!(s[0].num_cgroups, 5);
        assert_eq!(mount_subsys(&m[0], &s), "cpu");
    }
}
