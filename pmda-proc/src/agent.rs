//! The agent: which processes a request is about, which of their files it
//! needs, and every metric's value. One fetch lists `/proc` once (or not
//! at all when the client's profile names its processes), reads each
//! needed file of each process once, as the client, and answers every
//! asked metric from what was read.

use std::collections::HashMap;

use pcp_core::agent::{Agent, Fetch, Sink};
use pcp_core::{ClientContext, InDom, Instance, LabelSet, PmError, Value};

use crate::access::{Access, AsUser};
use crate::acct::Acct;
use crate::cgroups::{self, CgMetric, Cgroups};
use crate::hotproc::{HotProc, Preds, Totals};
use crate::load::load;
use crate::pidtab::{file, PidTable};
use crate::procfs::ProcDir;
use crate::psvalues::{self, cluster, Got, Lookups, Units};
use crate::runq::Runq;

/// The process instance domain's serial.
pub const PROC_INDOM: u32 = 9;

/// The hot-process instance domain's serial.
pub const HOTPROC_INDOM: u32 = 39;

/// What a metric of the agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handle {
    /// A metric of the proc tree: (cluster, item).
    Proc(u32, u32),
    /// A per-process metric of the hotproc tree, by its proc-tree
    /// (cluster, item); `hotproc.nprocs` is (8, 99).
    Hot(u32, u32),
    /// `hotproc.control.*` and `hotproc.total.*` (cluster 60).
    HotGlobal(u32),
    /// `hotproc.predicate.*` (cluster 61).
    HotPred(u32),
    /// A `cgroup.*` metric.
    Cgroup(CgMetric),
    /// An `acct.*` metric (cluster 70) by item.
    Acct(u32),
}

impl Handle {
    /// The handle of a metric of pmdaproc's table.
    pub fn of(def: &pcp_core::agent::MetricDef) -> Option<Handle> {
        let (cluster, item) = (def.cluster, def.item);
        if def.name.starts_with("cgroup.") {
            return CgMetric::of(def.name).map(Handle::Cgroup);
        }
        if cluster == 70 {
            return Some(Handle::Acct(item));
        }
        match cluster {
            8 | 9 | 10 | 11 | 12 | 13 | 24 | 31 | 32 | 33 | 51 | 62 | 69 | 72 | 74 => {
                Some(Handle::Proc(cluster, item))
            }
            60 => Some(Handle::HotGlobal(item)),
            61 => Some(Handle::HotPred(item)),
            c => psvalues::proc_cluster_of_hot(c).map(|pc| Handle::Hot(pc, item)),
        }
    }
}

/// What a client set for itself (`proc.control.perclient.*`).
#[derive(Debug, Clone, Default)]
struct ClientOpts {
    threads: bool,
    cgroups: String,
}

/// The agent's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// pmdaproc's `-A`: every client may read every process's files.
    pub all_access: bool,
    /// Threads in the process instance domain for every client.
    pub threads: bool,
    /// Clock ticks per second, when not this machine's.
    pub hertz: Option<u64>,
}

/// The proc agent.
#[derive(Debug)]
pub struct ProcAgent {
    dir: ProcDir,
    table: PidTable,
    buf: Vec<u8>,
    units: Units,
    look: Lookups,
    settings: Settings,
    clients: HashMap<u32, ClientOpts>,
    /// The processes of the current request, in listing order.
    visible: Vec<u32>,
    access: Access,
    runq: Option<Runq>,
    slot: u32,
    domain: u32,
    hot: HotProc,
    /// The hot processes of the current request, by pid.
    hot_visible: Vec<(u32, Preds)>,
    hot_totals: Option<Totals>,
    cg: Cgroups,
    acct: Acct,
}

impl ProcAgent {
    /// An agent at `domain` reading `dir` (`ROOT/proc`), with hot
    /// processes chosen by `hot`.
    pub fn new(
        dir: ProcDir,
        domain: u32,
        settings: Settings,
        hot: HotProc,
        acct: Acct,
    ) -> ProcAgent {
        // SAFETY: sysconf has no preconditions.
        let (hz, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        let hz = settings.hertz.map_or(hz, |h| h as i64);
        let mut buf = Vec::new();
        let ttys = dir
            .read_global("tty/drivers", &mut buf)
            .map(|_| crate::names::TtyNames::parse(&String::from_utf8_lossy(&buf)))
            .unwrap_or_default();
        ProcAgent {
            dir,
            table: PidTable::default(),
            buf,
            units: Units {
                hertz: hz.max(1) as u64,
                page_kb: (page.max(1024) / 1024) as u64,
            },
            look: Lookups {
                ids: Default::default(),
                ttys,
            },
            settings,
            clients: HashMap::new(),
            visible: Vec::new(),
            access: Access::Denied,
            runq: None,
            slot: 0,
            domain,
            hot,
            hot_visible: Vec::new(),
            hot_totals: None,
            cg: Cgroups::new(hz.max(1) as u64),
            acct,
        }
    }

    fn opts(&self, slot: u32) -> ClientOpts {
        self.clients.get(&slot).cloned().unwrap_or_default()
    }

    /// Lists the processes `client` sees (its threads and cgroup settings
    /// applied) into `self.visible`.
    fn list(&mut self, client: &ClientContext) {
        let opts = self.opts(client.slot);
        let threads = self.settings.threads || opts.threads;
        self.visible = self.table.refresh(&mut self.dir, threads, &mut self.buf);
        if !opts.cgroups.is_empty() {
            let want = opts.cgroups.clone();
            let mut keep = Vec::with_capacity(self.visible.len());
            for &pid in &self.visible {
                if let Some(e) = self.table.get_mut(pid) {
                    load(&mut self.dir, e, file::CGROUP, &mut self.buf);
                    let inside = e
                        .files
                        .cgroup
                        .as_ref()
                        .is_some_and(|(cg, _)| cg.split(';').any(|c| cgroup_matches(c, &want)));
                    if inside {
                        keep.push(pid);
                    }
                }
            }
            self.visible = keep;
        }
    }
}

impl ProcAgent {
    /// Puts the values of (`c`, `item`) for `pids` into `out`; with no
    /// value at all, the last process's error is the metric's, as
    /// libpcp_pmda makes it.
    fn per_process(
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

    fn hot_value(&mut self, c: u32, item: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
        if (c, item) == (cluster::STAT, 99) {
            out.set(self.hot_visible.len() as u32);
            return Ok(());
        }
        let pids: Vec<u32> = self.hot_visible.iter().map(|h| h.0).collect();
        self.per_process(c, item, &pids, out)
    }

    fn acct_value(&mut self, item: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
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

    fn cgroup_value(&mut self, m: CgMetric, out: &mut Sink<'_>) -> Result<(), PmError> {
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
    fn cgroup_instances(&mut self, serial: u32) -> Result<Vec<(u32, String)>, PmError> {
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
        self.cg.refresh(&self.dir, &need);
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

    fn hot_global(&mut self, item: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
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

/// True when a `controllers:path` entry is in control group `want`
/// (the group itself or below it).
fn cgroup_matches(entry: &str, want: &str) -> bool {
    let path = entry.split_once(':').map_or(entry, |(_, p)| p);
    path == want
        || path
            .strip_prefix(want)
            .is_some_and(|r| r.starts_with('/') || want.ends_with('/'))
}

impl Agent for ProcAgent {
    type Metric = Handle;

    fn refresh(&mut self, fetch: &Fetch<'_, Handle>) {
        let client = fetch.client();
        self.slot = client.slot;
        self.access = Access::of(client, self.settings.all_access);
        let mut need = 0u32;
        let mut need_hot = 0u32;
        let mut per_process = false;
        let mut runq = false;
        let mut needs_listing = false;
        let mut hot = false;
        let mut cgroups = false;
        let mut acct = false;
        let mut cg_need = Vec::new();
        for m in fetch.metrics() {
            match *m {
                Handle::Proc(c, item) => match (c, item) {
                    (cluster::STAT, 99) => needs_listing = true,
                    (cluster::RUNQ, _) => {
                        runq = true;
                        needs_listing = true;
                    }
                    (cluster::CONTROL, _) | (cluster::AUTOGROUP, 0) => {}
                    _ => {
                        per_process = true;
                        need |= psvalues::files_for(c, item);
                    }
                },
                Handle::Hot(c, item) => {
                    hot = true;
                    need_hot |= psvalues::files_for(c, item);
                }
                Handle::HotGlobal(_) | Handle::HotPred(_) => hot = true,
                Handle::Acct(_) => acct = true,
                Handle::Cgroup(cm) => {
                    cgroups = true;
                    if let Some(g) = cm.group() {
                        if !cg_need.contains(&g) {
                            cg_need.push(g);
                        }
                    }
                }
            }
        }
        if cgroups {
            self.cg.refresh(&self.dir, &cg_need);
        }
        // Exited processes are anyone's business only with credentials,
        // as pmdaproc decides.
        if acct && self.access != Access::Denied {
            self.acct.refresh();
        }
        if hot {
            let s = self.hot.state().lock();
            self.hot_visible = s.hot.clone();
            self.hot_totals = s.totals;
        }
        let indom = InDom::from_parts(self.domain, PROC_INDOM);
        let listed = fetch
            .profile()
            .indoms
            .get(&indom)
            .and_then(|(state, list)| {
                (*state == pcp_core::indom::ProfileState::OnlyListed).then(|| list.clone())
            });
        // A client that names its processes gets just those, without a
        // listing of /proc (pmrep -i, pcp-pidstat -p).
        let profile_only =
            listed.is_some() && !needs_listing && self.opts(client.slot).cgroups.is_empty();
        if profile_only {
            let pids = listed.unwrap_or_default();
            self.visible.clear();
            for pid in pids {
                if self.table.ensure(&self.dir, pid, &mut self.buf) {
                    self.visible.push(pid);
                }
            }
        } else if per_process || needs_listing {
            self.list(client);
        }
        let (buf, table, dir) = (&mut self.buf, &mut self.table, &self.dir);
        self.hot_visible
            .retain(|(pid, _)| table.ensure(dir, *pid, buf));
        self.table.clear_reads(&self.visible);
        let hot_pids: Vec<u32> = self.hot_visible.iter().map(|h| h.0).collect();
        self.table.clear_reads(&hot_pids);
        if runq {
            need |= file::STAT;
        }
        if (need == 0 && need_hot == 0) || self.access == Access::Denied {
            self.runq = None;
            return;
        }
        let Some(_as_client) = AsUser::enter(self.access) else {
            self.access = Access::Denied;
            return;
        };
        let wanted = |pid: u32| fetch.profile().wants(indom, pid);
        for &pid in &self.visible {
            // Runq counts every process; other figures only those asked.
            let bits = if runq || wanted(pid) { need } else { 0 };
            if let Some(e) = self.table.get_mut(pid) {
                load(&mut self.dir, e, bits, &mut self.buf);
            }
        }
        let hot_indom = InDom::from_parts(self.domain, HOTPROC_INDOM);
        for &pid in &hot_pids {
            if fetch.profile().wants(hot_indom, pid) {
                if let Some(e) = self.table.get_mut(pid) {
                    load(&mut self.dir, e, need_hot, &mut self.buf);
                }
            }
        }
        self.runq =
            runq.then(|| Runq::count(self.visible.iter().filter_map(|p| self.table.get(*p))));
    }

    fn value(&mut self, m: Handle, out: &mut Sink<'_>) -> Result<(), PmError> {
        let (c, item) = match m {
            Handle::Proc(c, item) => (c, item),
            Handle::Hot(c, item) => return self.hot_value(c, item, out),
            Handle::Cgroup(cm) => return self.cgroup_value(cm, out),
            Handle::Acct(item) => return self.acct_value(item, out),
            Handle::HotGlobal(item) => return self.hot_global(item, out),
            Handle::HotPred(item) => {
                for (pid, p) in &self.hot_visible {
                    match item {
                        1 => out.put(*pid, p.ctxswitch as f32),
                        2 => out.put(*pid, p.virtualsize),
                        3 => out.put(*pid, p.residentsize),
                        4 => out.put(*pid, p.iodemand as f32),
                        5 => out.put(*pid, p.iowait as f32),
                        6 => out.put(*pid, p.schedwait as f32),
                        7 => out.put(*pid, p.cpuburn as f32),
                        _ => return Err(PmError::PMID),
                    }
                }
                return Ok(());
            }
        };
        match (c, item) {
            (cluster::STAT, 99) => out.set(self.visible.len() as u32),
            (cluster::RUNQ, _) => {
                let r = self.runq.ok_or(PmError::AGAIN)?;
                out.set(r.get(item).ok_or(PmError::PMID)?);
            }
            (cluster::CONTROL, 1) => out.set(u32::from(self.settings.threads)),
            (cluster::CONTROL, 2) => out.set(u32::from(self.opts(self.slot).threads)),
            (cluster::CONTROL, 3) => out.set(self.opts(self.slot).cgroups),
            (cluster::AUTOGROUP, 0) => {
                self.dir
                    .read_global("sys/kernel/sched_autogroup_enabled", &mut self.buf)
                    .map_err(|_| PmError::APPVERSION)?;
                let v: u32 = String::from_utf8_lossy(&self.buf)
                    .trim()
                    .parse()
                    .map_err(|_| PmError::VALUE)?;
                out.set(v);
            }
            _ => {
                if self.access == Access::Denied {
                    return Err(PmError::PERMISSION);
                }
                let mut last: Option<PmError> = None;
                for &pid in &self.visible {
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
                // As libpcp_pmda: with no value at all, the last process's
                // error is the metric's.
                if out.is_empty() {
                    if let Some(err) = last {
                        return Err(err);
                    }
                }
            }
        }
        Ok(())
    }

    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom.serial() == HOTPROC_INDOM {
            let hot: Vec<u32> = self.hot.state().lock().hot.iter().map(|h| h.0).collect();
            let mut v = Vec::with_capacity(hot.len());
            for pid in hot {
                if self.table.ensure(&self.dir, pid, &mut self.buf) {
                    if let Some(e) = self.table.get(pid) {
                        v.push(Instance::new(pid, e.instname.clone()));
                    }
                }
            }
            return Ok(v);
        }
        if indom.serial() == 40 {
            if Access::of(client, self.settings.all_access) != Access::Denied {
                self.acct.refresh();
            }
            return Ok(self
                .acct
                .records()
                .map(|r| Instance::new(r.pid, r.comm.clone()))
                .collect());
        }
        if indom.serial() != PROC_INDOM {
            return Ok(self
                .cgroup_instances(indom.serial())?
                .into_iter()
                .map(|(id, n)| Instance::new(id, n))
                .collect());
        }
        self.list(client);
        Ok(self
            .visible
            .iter()
            .filter_map(|p| {
                self.table
                    .get(*p)
                    .map(|e| Instance::new(e.pid, e.instname.clone()))
            })
            .collect())
    }

    /// Each process (hot or not) is labelled with its pid, each control
    /// group with its path (and device or CPU), as pmdaproc labels them.
    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let serial = indom.serial();
        if serial == PROC_INDOM || serial == HOTPROC_INDOM {
            return Ok(self
                .instances(indom, client)?
                .into_iter()
                .map(|i| (i.id, LabelSet::new().with("pid", i.id)))
                .collect());
        }
        if matches!(serial, 37 | 38 | 40) {
            return Ok(Vec::new());
        }
        Ok(self
            .cgroup_instances(serial)?
            .into_iter()
            .map(|(id, name)| {
                let set = match (serial, name.rsplit_once("::")) {
                    (17 | 27, Some((cg, dev))) => {
                        LabelSet::new().with("cgroup", cg).with("device_name", dev)
                    }
                    (22, Some((cg, cpu))) => LabelSet::new()
                        .with("cgroup", cg)
                        .with("cpu", cpu.trim_start_matches("cpu")),
                    _ => LabelSet::new().with("cgroup", name.as_str()),
                };
                (id, set)
            })
            .collect())
    }

    /// Control-group instance domains say what kind of device they are.
    fn labels(&self, target: pcp_core::LabelTarget, _: &ClientContext) -> LabelSet {
        let pcp_core::LabelTarget::InDom(indom) = target else {
            return LabelSet::new();
        };
        let kind = match indom.serial() {
            20..=23 => "cpu",
            24 => "memory",
            25 => "interface",
            26 | 27 | 17 => "block",
            _ => return LabelSet::new(),
        };
        LabelSet::new().with("device_type", kind)
    }

    fn store(
        &mut self,
        m: Handle,
        _inst: u32,
        value: &Value,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        if let Handle::HotGlobal(item) = m {
            if client.user_id != Some(0) {
                return Err(PmError::PERMISSION);
            }
            return match item {
                1 => {
                    self.hot.set_interval(u32::try_from(value)?);
                    Ok(())
                }
                8 => self
                    .hot
                    .set_config(&String::try_from(value)?)
                    .map_err(|_| PmError::BADSTORE),
                10 => self.hot.reload().map_err(|_| PmError::BADSTORE),
                _ => Err(PmError::PERMISSION),
            };
        }
        if let Handle::Acct(item) = m {
            if client.user_id != Some(0) {
                return Err(PmError::PERMISSION);
            }
            let c = &mut self.acct.controls;
            match item {
                23 => c.open_retry_interval = u32::try_from(value)?,
                24 => c.check_acct_interval = u32::try_from(value)?,
                25 => c.file_size_threshold = u64::try_from(value)?,
                26 => c.lifetime = u32::try_from(value)?,
                27 => match u32::try_from(value)? {
                    0 => return Err(PmError::PERMISSION),
                    v => c.refresh = v,
                },
                28 => self.acct.set_enabled(u32::try_from(value)? != 0),
                _ => return Err(PmError::PERMISSION),
            }
            return Ok(());
        }
        let Handle::Proc(c, item) = m else {
            return Err(PmError::PERMISSION);
        };
        if c != cluster::CONTROL {
            return Err(PmError::PERMISSION);
        }
        match item {
            1 => {
                if Access::of(client, self.settings.all_access) == Access::Denied {
                    return Err(PmError::PERMISSION);
                }
                match u32::try_from(value)? {
                    v @ (0 | 1) => self.settings.threads = v == 1,
                    _ => return Err(PmError::BADSTORE),
                }
            }
            2 => self.clients.entry(client.slot).or_default().threads = u32::try_from(value)? != 0,
            3 => self.clients.entry(client.slot).or_default().cgroups = String::try_from(value)?,
            _ => return Err(PmError::PERMISSION),
        }
        Ok(())
    }

    fn client_closed(&mut self, slot: u32) {
        self.clients.remove(&slot);
    }
}
