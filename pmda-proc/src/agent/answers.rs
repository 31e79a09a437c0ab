//! The answers of the agent's families other than plain per-process
//! figures: hot processes, control groups, process accounting.

use pcp_core::agent::Sink;
use pcp_core::{PmError, Value};

use super::ProcAgent;
use crate::access::Access;
use crate::cgroups::{self, CgMetric};
use crate::psvalues::{self, cluster, Got};

impl ProcAgent {
    /// Puts the values of (`c`, `item`) for `pids` into `out`; with no
    /// value at all, the last process's error is the metric's, as
    /// libpcp_pmda makes it.
    pub(super) fn per_process(
        &mut self,
        c: u32,
        item: u32,
        pids: &[u32],
        out: &mut Sink<'_>,
    ) -> Result<(), PmError> {
        if self.access == Access::Denied {
            return Err(PmError::PERMISSION);
        }
        let mut last: Option<PmError> = None;
        for &pid in pids {
            if !out.wants(pid) {
                continue;
            }
            let Some(e) = self.table.get(pid) else {
                continue;
            };
            match psvalues::value(c, item, e, &self.units, &mut self.look) {
                Got::Val(v) => {
                    out.put(pid, v);
                    last = None;
                }
                Got::None => last = None,
                Got::Err(err) => last = Some(err),
            }
        }
        match last {
            Some(err) if out.is_empty() => Err(err),
            _ => Ok(()),
        }
    }

    pub(super) fn hot_value(
        &mut self,
        c: u32,
        item: u32,
        out: &mut Sink<'_>,
    ) -> Result<(), PmError> {
        if (c, item) == (cluster::STAT, 99) {
            out.set(self.hot_visible.len() as u32);
            return Ok(());
        }
        let pids: Vec<u32> = self.hot_visible.iter().map(|h| h.0).collect();
        self.per_process(c, item, &pids, out)
    }

    pub(super) fn acct_value(&mut self, item: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
        let c = self.acct.controls;
        match item {
            23 => out.set(c.open_retry_interval),
            24 => out.set(c.check_acct_interval),
            25 => out.set(c.file_size_threshold),
            26 => out.set(c.lifetime),
            27 => out.set(c.refresh),
            28 => out.set(u32::from(c.enable_acct)),
            _ => {
                if self.access == Access::Denied {
                    return Ok(());
                }
                let hz = self.acct.hertz();
                for r in self.acct.records() {
                    let v: Value = match item {
                        0 => u32::from(r.tty).into(),
                        1 => r.exitcode.into(),
                        2 => r.uid.into(),
                        3 => r.gid.into(),
                        4 => r.pid.into(),
                        5 => r.ppid.into(),
                        6 => r.btime.into(),
                        7 => (r.etime / hz).into(),
                        8 => (r.utime as f32 / hz).into(),
                        9 => (r.stime as f32 / hz).into(),
                        10 => r.mem.into(),
                        11 => r.io.into(),
                        12 => r.rw.into(),
                        13 => r.minflt.into(),
                        14 => r.majflt.into(),
                        15 => r.swaps.into(),
                        16 => self.look.ttys.name(u32::from(r.tty)).into(),
                        17 => self.look.ids.user(r.uid).into(),
                        18 => self.look.ids.group(r.gid).into(),
                        19..=22 => {
                            let bit = [1u8, 2, 8, 16][item as usize - 19];
                            u32::from(r.flag & bit != 0).into()
                        }
                        _ => return Err(PmError::PMID),
                    };
                    out.put(r.pid, v);
                }
            }
        }
        Ok(())
    }

    pub(super) fn cgroup_value(&mut self, m: CgMetric, out: &mut Sink<'_>) -> Result<(), PmError> {
        let mut got = Vec::new();
        if let Some(v) =
            cgroups::metric::values(m, &self.cg, |serial, name, v| got.push((serial, name, v)))?
        {
            out.set(v);
            return Ok(());
        }
        for (serial, name, v) in got {
            if let Some(id) = self.cg.id(serial, &name) {
                out.put(id, v);
            }
        }
        Ok(())
    }

    /// The instances of a control-group instance domain, read afresh.
    pub(super) fn cgroup_instances(&mut self, serial: u32) -> Result<Vec<(u32, String)>, PmError> {
        use cgroups::Group;
        let probe = match serial {
            37 => CgMetric::Subsys(0),
            38 => CgMetric::Mounts(false),
            22 => CgMetric::PerCpu,
            27 => CgMetric::Blkio {
                per_dev: true,
                file: "io_serviced",
                op: 4,
            },
            17 => CgMetric::Io(0),
            s => {
                let g = [
                    Group::Cpuset,
                    Group::Cpuacct,
                    Group::Cpusched,
                    Group::Memory,
                    Group::NetCls,
                    Group::Blkio,
                    Group::V2,
                ]
                .into_iter()
                .find(|g| g.indom() == s)
                .ok_or(PmError::INDOM)?;
                CgMetric::Container(g)
            }
        };
        let need: Vec<Group> = probe.group().into_iter().collect();
        let scope = self.scope_group();
        self.cg.refresh(&self.dir, &need, scope.as_deref());
        let mut names = Vec::new();
        if let CgMetric::Container(g) = probe {
            names = self
                .cg
                .groups
                .get(&g)
                .map(|v| v.iter().map(|d| d.name.clone()).collect())
                .unwrap_or_default();
        } else if matches!(probe, CgMetric::Blkio { per_dev: true, .. }) {
            // Every (group, device) pair any block I/O file lists.
            for d in self.cg.groups.get(&Group::Blkio).into_iter().flatten() {
                for dv in cgroups::metric::blkio_devices(d, &self.cg) {
                    if let Some(dev) = self.cg.device(dv) {
                        names.push(format!("{}::{dev}", d.name));
                    }
                }
            }
        } else {
            cgroups::metric::values(probe, &self.cg, |_, name, _| names.push(name))?;
        }
        Ok(names
            .into_iter()
            .filter_map(|n| Some((self.cg.id(serial, &n)?, n)))
            .collect())
    }

    pub(super) fn hot_global(&mut self, item: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
        let t = self.hot_totals.unwrap_or_default();
        let s = self.hot.state().lock();
        match item {
            1 => out.set(s.interval),
            8 => out.set(s.config.as_str()),
            9 => out.set(s.config_gen),
            10 => out.set(0u32),
            2 => out.set(t.cpuidle as f32),
            3 => out.set(t.active as f32),
            4 => out.set(t.transient as f32),
            5 => out.set(t.inactive as f32),
            6 => out.set((t.inactive + t.transient) as f32),
            7 => {
                let other = t.transient + t.inactive;
                let busy = other + t.active;
                out.set(if busy == 0.0 {
                    0.0f32
                } else {
                    (other / busy * 100.0) as f32
                });
            }
            _ => return Err(PmError::PMID),
        }
        Ok(())
    }
}
