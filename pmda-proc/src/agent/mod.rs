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
use crate::cgroups::{CgMetric, Cgroups};
use crate::hotproc::{HotProc, Preds, Totals};
use crate::load::load;
use crate::pidtab::{file, PidTable};
use crate::procfs::ProcDir;
use crate::psvalues::{self, cluster, Lookups, Units};
use crate::runq::Runq;
use pcp_core::container::{Containers, Scope};

mod answers;
mod store;

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
    /// True for the metrics a client's container narrows (processes and
    /// control groups, not the agent's controls or process accounting).
    pub fn scoped(self) -> bool {
        match self {
            Handle::Proc(c, _) => c != cluster::CONTROL && c != cluster::AUTOGROUP,
            Handle::Hot(..) | Handle::HotPred(_) | Handle::Cgroup(_) => true,
            Handle::HotGlobal(_) | Handle::Acct(_) => false,
        }
    }

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
    containers: Containers,
    /// The container of the current request's client: its group, or why
    /// it has none (`PM_ERR_NOCONTAINER`).
    scope: Result<Option<Scope>, PmError>,
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
        let dir_root = &dir.root().to_path_buf();
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
            containers: Containers::new(dir_root),
            scope: Ok(None),
        }
    }

    fn opts(&self, slot: u32) -> ClientOpts {
        self.clients.get(&slot).cloned().unwrap_or_default()
    }

    /// The container `client` asked for (its `container=` attribute):
    /// `None` for the whole host.
    fn scope_of(&mut self, client: &ClientContext) -> Result<Option<Scope>, PmError> {
        let Some(name) = client.container.as_deref() else {
            return Ok(None);
        };
        self.cg.refresh_mounts(&self.dir);
        self.containers.resolve(name, &self.cg.mounts).map(Some)
    }

    /// The group path of the current request's container, if any.
    fn scope_group(&self) -> Option<String> {
        match &self.scope {
            Ok(Some(s)) => Some(s.cgroup.clone()),
            _ => None,
        }
    }

    /// Keeps in `pids` only the processes of the client's container, if
    /// it has one.
    fn scope_pids(&self, client: &ClientContext, pids: &mut Vec<u32>) {
        if let Ok(Some(scope)) = &self.scope {
            let opts = self.opts(client.slot);
            let inside = scope.pids(self.settings.threads || opts.threads);
            pids.retain(|p| inside.contains(p));
        }
    }

    /// Lists the processes `client` sees (its container, threads and
    /// cgroup settings applied) into `self.visible`; `self.scope` must be
    /// the client's.
    fn list(&mut self, client: &ClientContext) {
        let opts = self.opts(client.slot);
        let threads = self.settings.threads || opts.threads;
        if self.scope.is_err() {
            self.visible.clear();
            return;
        }
        self.visible = self.table.refresh(&mut self.dir, threads, &mut self.buf);
        let mut visible = std::mem::take(&mut self.visible);
        self.scope_pids(client, &mut visible);
        self.visible = visible;
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
        self.scope = self.scope_of(client);
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
            let scope = self.scope_group();
            self.cg.refresh(&self.dir, &cg_need, scope.as_deref());
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
            let mut visible = std::mem::take(&mut self.visible);
            self.scope_pids(client, &mut visible);
            self.visible = visible;
        } else if per_process || needs_listing {
            self.list(client);
        }
        let (buf, table, dir) = (&mut self.buf, &mut self.table, &self.dir);
        self.hot_visible
            .retain(|(pid, _)| table.ensure(dir, *pid, buf));
        if let Ok(Some(scope)) = &self.scope {
            let inside = scope.pids(false);
            self.hot_visible.retain(|(pid, _)| inside.contains(pid));
        }
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
        if let Err(e) = self.scope {
            if m.scoped() {
                return Err(e);
            }
        }
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
                let pids = std::mem::take(&mut self.visible);
                let answer = self.per_process(c, item, &pids, out);
                self.visible = pids;
                answer?;
            }
        }
        Ok(())
    }

    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom.serial() != 40 {
            self.scope = self.scope_of(client);
            self.scope.clone()?;
        }
        if indom.serial() == HOTPROC_INDOM {
            let mut hot: Vec<u32> = self.hot.state().lock().hot.iter().map(|h| h.0).collect();
            self.scope_pids(client, &mut hot);
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
        self.store_control(m, value, client)
    }

    fn client_closed(&mut self, slot: u32) {
        self.clients.remove(&slot);
    }
}
