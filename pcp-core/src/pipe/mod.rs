//! PCP's own daemon PMDAs under our host: [`PipeAgent`] starts an agent
//! from a pmcd.conf-style line ([`conf`]) and is a [`Pmda`] by speaking
//! pmcd's side of the pipe protocol to it, so an existing PMDA (PCP's
//! `pmdasample`, `pmdasimple`, a Python PMDA) runs in `pcp-agent info`,
//! `serve` and `pmcd` beside our own agents.
//!
//! Names come from the agent's namespace file ([`pmns`]; `pmns` beside its
//! binary or in `/var/lib/pcp/pmdas/NAME/`), subtrees it marks
//! `DOMAIN:*:*` from the agent itself (PMNS_TRAVERSE, then PMNS_NAMES per
//! name, as pmcd asks). Everything else is a request to the agent, as pmcd
//! makes it: the client's slot in `from`, its attributes (user and group
//! ids, container) in PDU_ATTRs first when the agent asked for them, its
//! profile in a PDU_PROFILE before a fetch when it changed, PM_ERR_NOTCONN
//! when it leaves. An agent that breaks the protocol, misses the deadline
//! or exits is dropped (its metrics then answer PM_ERR_NOAGENT) and
//! restarted at most once a minute, as pmcd does.

pub mod conf;
mod convert;
mod link;
pub mod pmns;
mod status;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::desc::Desc;
use crate::error::PmError;
use crate::id::{InDom, Pmid, PM_IN_NULL};
use crate::indom::{Instance, Profile};
use crate::labels::{LabelLevel, LabelSet};
use crate::namespace::Namespace;
use crate::pdu::{
    labelset_from_wire, text, ErrorPdu, FetchPdu, IdentReq, InstanceReq, Pdu, PmnsNamePdu,
    PmnsNamesPdu, ProfilePdu, ResultPdu, VSet, VSetValues, PDU_FLAG_AUTH, PDU_FLAG_CONTAINER,
    PMCD_LABEL_CHANGE, PMCD_NAMES_CHANGE,
};
use crate::pmda::{
    Attachment, ClientContext, FetchRequest, LabelTarget, MetricResult, Pmda, TextKind, TextTarget,
};
use crate::value::Value;

pub use conf::{parse_conf, AgentSpec, ConfError};
pub use link::LinkError;

use convert::{attributes, reply_error, values_of};
use link::Link;
use status::{dropped, StatusWord, START_FAILED};

/// Shortest time between two starts of an agent (pmcd's restart limit).
const RESTART_EVERY: Duration = Duration::from_secs(60);

/// Why a pipe agent could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PipeError {
    /// Its namespace file is missing or unreadable.
    #[error("agent {agent}: {message}")]
    Names {
        /// The agent.
        agent: String,
        /// Why.
        message: String,
    },
    /// Its process could not be started.
    #[error("agent {agent}: {source}")]
    Start {
        /// The agent.
        agent: String,
        /// Why.
        source: LinkError,
    },
}

/// What changes with every request: the process, and what it was told.
struct State {
    link: Option<Link>,
    started: Instant,
    descs: HashMap<Pmid, Desc>,
    /// Client slots whose attributes the agent has.
    told: HashSet<u32>,
    /// The (slot, profile) the agent last got.
    profile: Option<(u32, Profile)>,
    labels_changed: bool,
    names_changed: bool,
}

/// A daemon PMDA run by us, as a [`Pmda`].
pub struct PipeAgent {
    spec: AgentSpec,
    timeout: Duration,
    /// The namespace file's entries, in pmcd's order.
    entries: Vec<pmns::Entry>,
    dynamic_roots: Vec<String>,
    ns: Namespace,
    last_names: Option<Instant>,
    /// Shared with the [`Attachment`] that reads the agent's status.
    state: Arc<Mutex<State>>,
    status: StatusWord,
}

impl std::fmt::Debug for PipeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipeAgent")
            .field("name", &self.spec.name)
            .field("domain", &self.spec.domain)
            .field("names", &self.ns.len())
            .finish()
    }
}

impl PipeAgent {
    /// Starts the agent of `spec`, with `timeout` for each reply, and reads
    /// its names. With `notready`, waits up to `timeout` for it to be
    /// ready (it answers PM_ERR_AGAIN until then).
    pub fn start(spec: AgentSpec, timeout: Duration) -> Result<PipeAgent, PipeError> {
        let names_err = |message: String| PipeError::Names {
            agent: spec.name.clone(),
            message,
        };
        let path = spec.pmns_path().ok_or_else(|| {
            names_err("no namespace file (pmns beside the agent's command)".into())
        })?;
        // Install scripts put the domain where the upper-cased name stands.
        let symbol = spec.name.to_ascii_uppercase();
        let file = pmns::read_pmns(&path, &[(symbol.as_str(), spec.domain)])
            .map_err(|e| names_err(format!("{}: {e}", path.display())))?;
        let leaves = file.leaves();
        let foreign = leaves.iter().find(|(_, p)| p.domain() != spec.domain);
        if let Some((n, p)) = foreign {
            return Err(names_err(format!(
                "{n} has PMID {p}, outside domain {}",
                spec.domain
            )));
        }
        let link = Link::start(&spec, timeout).map_err(|source| PipeError::Start {
            agent: spec.name.clone(),
            source,
        })?;
        let mut agent = PipeAgent {
            timeout,
            dynamic_roots: file
                .dynamic()
                .into_iter()
                .filter(|(_, d)| *d == spec.domain)
                .map(|(n, _)| n)
                .collect(),
            entries: file.entries,
            ns: Namespace::new(),
            last_names: None,
            status: StatusWord::default(),
            state: Arc::new(Mutex::new(State {
                link: Some(link),
                started: Instant::now(),
                descs: HashMap::new(),
                told: HashSet::new(),
                profile: None,
                labels_changed: false,
                names_changed: false,
            })),
            spec,
        };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let ready = agent.state.lock().link.as_mut().is_some_and(|l| {
                l.check_ready();
                l.ready
            });
            agent.status.set_ready(ready);
            if ready {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        agent.rebuild_names();
        Ok(agent)
    }

    /// The agent's specification.
    pub fn spec(&self) -> &AgentSpec {
        &self.spec
    }

    /// Runs `f` with a live link, restarting a dead agent when allowed.
    fn with_link<T>(
        &self,
        client: Option<&ClientContext>,
        f: impl FnOnce(&mut Link, &mut State) -> Result<T, PmError>,
    ) -> Result<T, PmError> {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        if let Some(ended) = st.link.as_mut().and_then(Link::exit_status) {
            self.status.set(dropped(Some(ended)));
            st.link = None;
        }
        if st.link.is_none() {
            if st.started.elapsed() < RESTART_EVERY {
                return Err(PmError::NOAGENT);
            }
            st.started = Instant::now();
            st.told.clear();
            st.profile = None;
            st.link = Some(Link::start(&self.spec, self.timeout).map_err(|e| {
                eprintln!("pcp-agent: agent {} did not restart: {e}", self.spec.name);
                self.status.set(START_FAILED);
                PmError::NOAGENT
            })?);
        }
        let mut link = st.link.take().ok_or(PmError::NOAGENT)?;
        let mut result = Ok(());
        if let Some(c) = client {
            if link.flags & (PDU_FLAG_AUTH | PDU_FLAG_CONTAINER) != 0 && !st.told.contains(&c.slot)
            {
                for a in attributes(c) {
                    result = result.and_then(|()| link.send(&Pdu::Attr(a), c.slot));
                }
                st.told.insert(c.slot);
            }
        }
        let out = result.and_then(|()| f(&mut link, st));
        match out {
            // The agent broke the protocol, missed its deadline or exited:
            // drop it.
            Err(e) if e == PmError::IPC || e == PmError::TIMEOUT => {
                eprintln!("pcp-agent: agent {} dropped: {e}", self.spec.name);
                let mut link = link;
                self.status.set(dropped(link.exit_status()));
            }
            _ => {
                self.status.set_ready(link.ready);
                st.link = Some(link);
            }
        }
        out
    }

    /// The file's names, with what the agent gives below its dynamic roots
    /// in their places.
    fn rebuild_names(&mut self) -> bool {
        self.last_names = Some(Instant::now());
        let mut names = Vec::new();
        for e in self.entries.clone() {
            match e {
                pmns::Entry::Leaf(n, p) => names.push((n, p)),
                pmns::Entry::Dynamic(root, d) if d == self.spec.domain => {
                    names.extend(self.dynamic_names(root));
                }
                pmns::Entry::Dynamic(..) => {}
            }
        }
        let mut ns = Namespace::new();
        for (n, p) in &names {
            if let Err(e) = ns.insert(n, *p) {
                eprintln!("pcp-agent: agent {}: name {n}: {e}", self.spec.name);
            }
        }
        let changed =
            ns.traverse("").unwrap_or_default() != self.ns.traverse("").unwrap_or_default();
        self.ns = ns;
        changed
    }

    /// The names below a dynamic root, as the agent gives them.
    fn dynamic_names(&self, root: String) -> Vec<(String, Pmid)> {
        let traverse = Pdu::PmnsTraverse(PmnsNamePdu {
            subtype: 0,
            name: root.into_bytes(),
        });
        let Ok(Pdu::PmnsNames(found)) = self.with_link(None, |l, _| l.request(&traverse, 0)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for name in found.names {
            let ask = Pdu::PmnsNames(PmnsNamesPdu {
                names: vec![name.clone()],
                status: None,
            });
            if let Ok(Pdu::PmnsIds(ids)) = self.with_link(None, |l, _| l.request(&ask, 0)) {
                if let Some(&p) = ids.pmids.first().filter(|p| p.domain() == self.spec.domain) {
                    out.push((String::from_utf8_lossy(&name).into_owned(), p));
                }
            }
        }
        out
    }

    fn desc_of(&self, st: &mut State, link: &mut Link, pmid: Pmid) -> Result<Desc, PmError> {
        if let Some(d) = st.descs.get(&pmid) {
            return Ok(*d);
        }
        match link.request(&Pdu::DescReq(pmid), 0)? {
            Pdu::Desc(d) => {
                let desc = d.to_desc()?;
                st.descs.insert(pmid, desc);
                Ok(desc)
            }
            Pdu::Error(e) => Err(PmError::from_code(e.code)),
            _ => Err(PmError::IPC),
        }
    }

    fn label_request(
        &self,
        ident: u32,
        level: LabelLevel,
        client: &ClientContext,
    ) -> Result<crate::pdu::LabelPdu, PmError> {
        let req = Pdu::LabelReq(IdentReq {
            ident,
            kind: i32::from(level.code()),
        });
        match self.with_link(Some(client), |l, _| l.request(&req, client.slot))? {
            Pdu::Label(l) => Ok(l),
            Pdu::Error(e) => Err(PmError::from_code(e.code)),
            _ => Err(PmError::IPC),
        }
    }
}

impl Pmda for PipeAgent {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn domain(&self) -> u32 {
        self.spec.domain
    }

    fn namespace(&self) -> &Namespace {
        &self.ns
    }

    fn refresh_namespace(&mut self) -> bool {
        let asked = std::mem::take(&mut self.state.lock().names_changed);
        let due = self
            .last_names
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if self.dynamic_roots.is_empty() || !(asked || due) {
            return false;
        }
        self.rebuild_names()
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.with_link(None, |l, st| self.desc_of(st, l, pmid))
    }

    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        let req = Pdu::InstanceReq(InstanceReq {
            indom,
            inst: PM_IN_NULL,
            name: Vec::new(),
        });
        match self.with_link(Some(client), |l, _| l.request(&req, client.slot))? {
            Pdu::Instance(i) => Ok(i
                .instances
                .into_iter()
                .map(|(id, n)| Instance::new(id, String::from_utf8_lossy(&n).into_owned()))
                .collect()),
            other => Err(reply_error(other)),
        }
    }

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        client: &ClientContext,
    ) -> Result<String, PmError> {
        let (ident, what) = match target {
            TextTarget::Metric(p) => (p.raw(), text::PMID),
            TextTarget::InDom(i) => (i.raw(), text::INDOM),
        };
        let how = match kind {
            TextKind::OneLine => text::ONELINE,
            TextKind::Help => text::HELP,
        };
        let req = Pdu::TextReq(IdentReq {
            ident,
            kind: what | how,
        });
        match self.with_link(Some(client), |l, _| l.request(&req, client.slot))? {
            Pdu::Text(t) => Ok(String::from_utf8_lossy(&t.text).into_owned()),
            other => Err(reply_error(other)),
        }
    }

    fn labels(&self, target: LabelTarget, client: &ClientContext) -> Result<LabelSet, PmError> {
        let (ident, level) = match target {
            LabelTarget::Domain => (self.spec.domain, LabelLevel::Domain),
            LabelTarget::InDom(i) => (i.raw(), LabelLevel::InDom),
            LabelTarget::Cluster(c) => (
                Pmid::from_parts(self.spec.domain, c, 0).raw(),
                LabelLevel::Cluster,
            ),
            LabelTarget::Item(p) => (p.raw(), LabelLevel::Item),
        };
        let l = self.label_request(ident, level, client)?;
        Ok(l.sets
            .first()
            .and_then(labelset_from_wire)
            .unwrap_or_default())
    }

    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let l = self.label_request(indom.raw(), LabelLevel::Instances, client)?;
        Ok(l.sets
            .iter()
            .filter_map(|s| Some((s.inst, labelset_from_wire(s)?)))
            .filter(|(_, s)| !s.is_empty())
            .collect())
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        let client = req.client;
        let answer = self.with_link(Some(client), |l, st| {
            if st.profile.as_ref() != Some(&(client.slot, req.profile.clone())) {
                let p = Pdu::Profile(ProfilePdu::from_profile(0, req.profile));
                l.send(&p, client.slot)?;
                st.profile = Some((client.slot, req.profile.clone()));
            }
            let fetch = Pdu::Fetch(FetchPdu {
                ctx: 0,
                pmids: req.pmids.to_vec(),
            });
            let r = match l.request(&fetch, client.slot)? {
                Pdu::Result(r) if r.vsets.len() == req.pmids.len() => r,
                Pdu::Result(_) => return Err(PmError::IPC),
                other => return Err(reply_error(other)),
            };
            // pmcd reads the low byte of tv_sec as state-change flags.
            let flags = r.tv_sec & 0xff;
            st.labels_changed |= flags & PMCD_LABEL_CHANGE != 0;
            st.names_changed |= flags & PMCD_NAMES_CHANGE != 0;
            let mut out = Vec::with_capacity(r.vsets.len());
            for vs in r.vsets {
                let desc = match &vs.values {
                    VSetValues::Insitu(_) => self.desc_of(st, l, vs.pmid).ok(),
                    _ => None,
                };
                out.push(values_of(desc.as_ref(), vs.values));
            }
            Ok(out)
        });
        answer.unwrap_or_else(|e| vec![Err(e); req.pmids.len()])
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let vals = convert::store_values(values);
        let req = Pdu::Result(ResultPdu {
            tv_sec: 0,
            tv_usec: 0,
            vsets: vec![VSet { pmid, values: vals }],
        });
        match self.with_link(Some(client), |l, _| l.request(&req, client.slot))? {
            Pdu::Error(ErrorPdu { code: 0, .. }) => Ok(()),
            other => Err(reply_error(other)),
        }
    }

    fn labels_changed(&mut self) -> bool {
        std::mem::take(&mut self.state.lock().labels_changed)
    }

    fn attachment(&self) -> Option<Attachment> {
        Some(status::attachment(
            Arc::downgrade(&self.state),
            self.status.clone(),
        ))
    }

    fn client_closed(&mut self, slot: u32) {
        let mut guard = self.state.lock();
        let st = &mut *guard;
        st.told.remove(&slot);
        if st.profile.as_ref().is_some_and(|(s, _)| *s == slot) {
            st.profile = None;
        }
        if let Some(l) = st.link.as_mut() {
            let notice = Pdu::Error(ErrorPdu {
                code: PmError::NOTCONN.code(),
                extra: None,
            });
            if l.ready {
                let _ = l.send(&notice, slot);
            }
        }
    }
}
