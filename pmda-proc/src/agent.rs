//! The agent: which processes a request is about, which of their files it
//! needs, and every metric's value. One fetch lists `/proc` once (or not
//! at all when the client's profile names its processes), reads each
//! needed file of each process once, as the client, and answers every
//! asked metric from what was read.

use std::collections::HashMap;

use pcp_core::agent::{Agent, Fetch, Sink};
use pcp_core::{ClientContext, InDom, Instance, LabelSet, PmError, Value};

use crate::access::{Access, AsUser};
use crate::load::load;
use crate::pidtab::{file, PidTable};
use crate::procfs::ProcDir;
use crate::psvalues::{self, cluster, Got, Lookups, Units};
use crate::runq::Runq;

/// The process instance domain's serial.
pub const PROC_INDOM: u32 = 9;

/// What a metric of the agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handle {
    /// A metric of the proc tree: (cluster, item).
    Proc(u32, u32),
}

impl Handle {
    /// The handle of metric (`cluster`, `item`) of pmdaproc's table.
    pub fn of(cluster: u32, item: u32) -> Option<Handle> {
        match cluster {
            8 | 9 | 10 | 11 | 12 | 13 | 24 | 31 | 32 | 33 | 51 | 62 | 69 | 72 | 74 => {
                Some(Handle::Proc(cluster, item))
            }
            _ => None,
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
}

impl ProcAgent {
    /// An agent at `domain` reading `dir` (`ROOT/proc`).
    pub fn new(dir: ProcDir, domain: u32, settings: Settings) -> ProcAgent {
        // SAFETY: sysconf has no preconditions.
        let (hz, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
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
        let mut per_process = false;
        let mut runq = false;
        let mut needs_listing = false;
        for m in fetch.metrics() {
            let Handle::Proc(c, item) = *m;
            match (c, item) {
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
            }
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
        self.table.clear_reads(&self.visible);
        if runq {
            need |= file::STAT;
        }
        if need == 0 || self.access == Access::Denied {
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
        self.runq =
            runq.then(|| Runq::count(self.visible.iter().filter_map(|p| self.table.get(*p))));
    }

    fn value(&mut self, m: Handle, out: &mut Sink<'_>) -> Result<(), PmError> {
        let Handle::Proc(c, item) = m;
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
        if indom.serial() != PROC_INDOM {
            return Err(PmError::INDOM);
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

    /// Each process is labelled with its pid, as pmdaproc labels it.
    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        Ok(self
            .instances(indom, client)?
            .into_iter()
            .map(|i| (i.id, LabelSet::new().with("pid", i.id)))
            .collect())
    }

    fn store(
        &mut self,
        m: Handle,
        _inst: u32,
        value: &Value,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let Handle::Proc(c, item) = m;
        if c != cluster::CONTROL {
            return Err(PmError::PERMISSION);
        }
        match item {
            1 => {
                if client.user_id.is_some_and(|u| u != 0) {
                    return Err(PmError::PERMISSION);
                }
                self.settings.threads = u32::try_from(value)? != 0;
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
