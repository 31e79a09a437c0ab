//! The host: an in-process pmcd. It loads agents, each under its own
//! domain, routes every name, PMID, instance, help and label query to the
//! owning agent, and fans a fetch out to the agents involved, in parallel,
//! each under a deadline, so a slow or hung agent yields a timeout error for
//! its own metrics and never blocks the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime};

use crossbeam_channel::{unbounded, Sender};
use parking_lot::{Mutex, RwLock};

use crate::desc::Desc;
use crate::error::{NamespaceError, PmError};
use crate::id::{InDom, Pmid, MAX_DOMAIN};
use crate::indom::Instance;
use crate::labels::LabelSet;
use crate::namespace::{Child, Namespace};
use crate::pmda::{ClientContext, LabelTarget, MetricResult, Pmda, TextKind, TextTarget};
use crate::value::Value;

mod fetch;

/// Why an agent could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Two agents claim one domain.
    #[error("agent {name} wants domain {domain}, already used by agent {other}")]
    DuplicateDomain {
        /// The new agent.
        name: String,
        /// The domain.
        domain: u32,
        /// The agent already there.
        other: String,
    },
    /// The domain is outside 1..=510.
    #[error("agent {name}: domain {domain} out of range 1..=510")]
    BadDomain {
        /// The agent.
        name: String,
        /// The domain.
        domain: u32,
    },
    /// The agent's names collide with names already loaded.
    #[error("agent {name}: {source}")]
    Names {
        /// The agent.
        name: String,
        /// The collision.
        source: NamespaceError,
    },
    /// The agent's worker thread could not be started.
    #[error("agent {name}: cannot start its worker thread: {source}")]
    Thread {
        /// The agent.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// An agent's PMID is outside its own domain.
    #[error("agent {name} (domain {domain}) names {metric} with PMID {pmid} of another domain")]
    ForeignPmid {
        /// The agent.
        name: String,
        /// Its domain.
        domain: u32,
        /// The offending name.
        metric: String,
        /// The offending PMID.
        pmid: Pmid,
    },
}

type Job = Box<dyn FnOnce() + Send>;
/// Where one fetch job is: queued, running, done, or given up by its caller.
#[derive(Debug, Default)]
struct JobState {
    started: AtomicBool,
    finished: AtomicBool,
    abandoned: AtomicBool,
}

/// How long a fetch polls for replies before it sleeps on the channel.
const SPIN: Duration = Duration::from_micros(50);

/// A worker's answer: the group index, its results, and whether labels changed.
type GroupReply = (usize, Vec<MetricResult>, bool);
type SharedAgent = Arc<Mutex<Box<dyn Pmda>>>;

struct Slot {
    name: String,
    domain: u32,
    agent: SharedAgent,
    jobs: Sender<Job>,
    /// Set while a fetch job has outlived its caller's deadline and is
    /// still running: new fetches then fail at once instead of queueing.
    stuck: Arc<AtomicBool>,
    /// How the agent is attached, if not in process.
    attachment: Option<crate::pmda::Attachment>,
}

/// One fetch's answer: a value list or an error per requested PMID (in
/// request order) and one timestamp for the whole result.
#[derive(Debug, Clone)]
pub struct FetchResult {
    /// When the fetch was made.
    pub timestamp: SystemTime,
    /// Per requested PMID, in request order.
    pub values: Vec<(Pmid, MetricResult)>,
    /// Domains whose names changed since the previous fetch.
    pub names_changed: bool,
    /// Domains whose labels changed since the previous fetch.
    pub labels_changed: bool,
}

/// An in-process pmcd: a set of agents addressed by domain.
pub struct Host {
    slots: Vec<Slot>,
    by_domain: HashMap<u32, usize>,
    names: RwLock<Namespace>,
    timeout: Duration,
    client: ClientContext,
    context_labels: LabelSet,
    names_changed: AtomicBool,
    /// Bumped whenever an agent's names or labels change.
    metadata_generation: Arc<AtomicU64>,
    /// Bumped whenever an agent's names change.
    names_generation: AtomicU64,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field(
                "agents",
                &self
                    .slots
                    .iter()
                    .map(|s| (&s.name, s.domain))
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Host {
    fn default() -> Host {
        Host::new()
    }
}

impl Host {
    /// A host with no agents and a 5-second per-agent deadline (pmcd's).
    pub fn new() -> Host {
        Host {
            slots: Vec::new(),
            by_domain: HashMap::new(),
            names: RwLock::new(Namespace::new()),
            timeout: Duration::from_secs(5),
            client: ClientContext::local(),
            context_labels: context_labels(&ClientContext::local()),
            names_changed: AtomicBool::new(false),
            metadata_generation: Arc::new(AtomicU64::new(0)),
            names_generation: AtomicU64::new(0),
        }
    }

    /// Sets the per-agent deadline for every request.
    pub fn with_timeout(mut self, timeout: Duration) -> Host {
        self.timeout = timeout;
        self
    }

    /// Makes every request as `client` (by default this process's own
    /// user, as pmcd sees a local client on its unix socket). The context
    /// labels follow: `userid` and `groupid` appear only when the client
    /// has them, and agents withhold what needs a known user from a
    /// client without (see [`ClientContext::anonymous`]).
    pub fn with_client(mut self, client: ClientContext) -> Host {
        self.context_labels = context_labels(&client);
        self.client = client;
        self
    }

    /// The client requests are made as.
    pub fn client(&self) -> &ClientContext {
        &self.client
    }

    /// The per-agent deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Loads an agent. Fails on a domain out of range or taken, a PMID
    /// outside the agent's domain, or a name already loaded.
    pub fn load(&mut self, agent: Box<dyn Pmda>) -> Result<(), HostError> {
        let name = agent.name().to_string();
        let domain = agent.domain();
        if domain == 0 || domain > MAX_DOMAIN {
            return Err(HostError::BadDomain { name, domain });
        }
        if let Some(&i) = self.by_domain.get(&domain) {
            return Err(HostError::DuplicateDomain {
                name,
                domain,
                other: self.slots[i].name.clone(),
            });
        }
        let mut foreign = None;
        agent.namespace().for_each_leaf("", |metric, pmid| {
            if pmid.domain() != domain && foreign.is_none() {
                foreign = Some((metric.to_string(), pmid));
            }
        });
        if let Some((metric, pmid)) = foreign {
            return Err(HostError::ForeignPmid {
                name,
                domain,
                metric,
                pmid,
            });
        }
        // The worker first: if the names are refused, dropping `jobs` ends it.
        let (jobs, rx) = unbounded::<Job>();
        thread::Builder::new()
            .name(format!("agent-{name}"))
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .map_err(|e| HostError::Thread {
                name: name.clone(),
                source: e,
            })?;
        self.names
            .write()
            .merge(agent.namespace())
            .map_err(|source| HostError::Names {
                name: name.clone(),
                source,
            })?;
        self.by_domain.insert(domain, self.slots.len());
        self.slots.push(Slot {
            name,
            domain,
            attachment: agent.attachment(),
            agent: Arc::new(Mutex::new(agent)),
            jobs,
            stuck: Arc::new(AtomicBool::new(false)),
        });
        Ok(())
    }

    /// True when an agent is loaded at `domain`.
    pub fn has_agent(&self, domain: u32) -> bool {
        self.by_domain.contains_key(&domain)
    }

    /// The loaded agents, as (name, domain).
    pub fn agents(&self) -> Vec<(String, u32)> {
        self.slots
            .iter()
            .map(|s| (s.name.clone(), s.domain))
            .collect()
    }

    /// How the agent at `domain` is attached, when it is not called in
    /// process ([`Pmda::attachment`]).
    pub fn attachment(&self, domain: u32) -> Option<crate::pmda::Attachment> {
        self.slot(domain).ok()?.attachment.clone()
    }

    /// The context-level labels (hostname, domainname, machineid, and the
    /// user and group ids of this process), as pmcd gives them.
    pub fn context_labels(&self) -> &LabelSet {
        &self.context_labels
    }

    fn slot(&self, domain: u32) -> Result<&Slot, PmError> {
        self.by_domain
            .get(&domain)
            .map(|&i| &self.slots[i])
            .ok_or(PmError::NOAGENT)
    }

    /// Runs `f` on the agent of `domain` on the caller's thread, waiting at
    /// most the deadline for the agent to be free.
    fn with_agent<T>(
        &self,
        domain: u32,
        f: impl FnOnce(&mut dyn Pmda) -> Result<T, PmError>,
    ) -> Result<T, PmError> {
        let slot = self.slot(domain)?;
        let mut guard = slot
            .agent
            .try_lock_for(self.timeout)
            .ok_or(PmError::TIMEOUT)?;
        f(guard.as_mut())
    }

    /// Asks every agent whether its names changed, and takes the new names
    /// of those that did. Returns true if any did.
    pub fn refresh_names(&self) -> bool {
        let mut changed = false;
        for slot in &self.slots {
            let Some(mut agent) = slot.agent.try_lock_for(self.timeout) else {
                continue;
            };
            if agent.refresh_namespace() {
                let mut names = self.names.write();
                match names.replace_domain(slot.domain, agent.namespace()) {
                    Ok(()) => changed = true,
                    Err(e) => eprintln!("pcp-core host: agent {} names rejected: {e}", slot.name),
                }
            }
        }
        if changed {
            self.names_changed.store(true, Ordering::Relaxed);
            self.names_generation.fetch_add(1, Ordering::AcqRel);
            self.metadata_generation.fetch_add(1, Ordering::AcqRel);
        }
        changed
    }

    /// A counter that moves whenever any agent's names change (as seen by
    /// [`Host::refresh_names`]): what a server compares, per client, to
    /// tell each of its clients once that the namespace changed (the
    /// difference from [`Host::metadata_generation`] being label changes).
    pub fn names_generation(&self) -> u64 {
        self.names_generation.load(Ordering::Acquire)
    }

    /// A counter that moves whenever any agent's names or labels change
    /// (seen by [`Host::refresh_names`] or reported with a fetch), whoever
    /// asked: what caches of descriptors, labels and help text compare to
    /// know they are still good.
    pub fn metadata_generation(&self) -> u64 {
        self.metadata_generation.load(Ordering::Acquire)
    }

    /// The PMID of metric `name`.
    pub fn lookup(&self, name: &str) -> Result<Pmid, PmError> {
        if let Some(p) = self.names.read().lookup(name) {
            return Ok(p);
        }
        self.refresh_names();
        let names = self.names.read();
        match names.lookup(name) {
            Some(p) => Ok(p),
            None if names.is_inner(name) => Err(PmError::NONLEAF),
            None => Err(PmError::NAME),
        }
    }

    /// The names of `pmid`.
    pub fn names_of(&self, pmid: Pmid) -> Result<Vec<String>, PmError> {
        let names = self.names.read();
        let v: Vec<String> = names.names_of(pmid).iter().map(|s| s.to_string()).collect();
        if v.is_empty() {
            Err(PmError::PMID)
        } else {
            Ok(v)
        }
    }

    /// The immediate children of `name` (`""` for the root).
    pub fn children(&self, name: &str) -> Result<Vec<Child>, PmError> {
        self.refresh_names();
        self.names.read().children(name).ok_or(PmError::NAME)
    }

    /// Every leaf at or below `name` (`""` for all), with its PMID.
    pub fn traverse(&self, name: &str) -> Result<Vec<(String, Pmid)>, PmError> {
        self.refresh_names();
        self.names.read().traverse(name).ok_or(PmError::NAME)
    }

    /// A snapshot of the whole merged namespace.
    pub fn namespace(&self) -> Namespace {
        self.refresh_names();
        self.names.read().clone()
    }

    /// The descriptor of `pmid`.
    pub fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.with_agent(pmid.domain(), |a| a.desc(pmid))
    }

    /// The current instances of `indom`, as the host's client sees them.
    pub fn instances(&self, indom: InDom) -> Result<Vec<Instance>, PmError> {
        self.instances_as(&self.client, indom)
    }

    /// The current instances of `indom`, as `client` sees them.
    pub fn instances_as(
        &self,
        client: &ClientContext,
        indom: InDom,
    ) -> Result<Vec<Instance>, PmError> {
        self.with_agent(indom.domain(), |a| a.instances(indom, client))
    }

    /// Help text for a metric or an instance domain.
    pub fn text(&self, target: TextTarget, kind: TextKind) -> Result<String, PmError> {
        self.text_as(&self.client, target, kind)
    }

    /// Help text for a metric or an instance domain, as `client` sees it.
    pub fn text_as(
        &self,
        client: &ClientContext,
        target: TextTarget,
        kind: TextKind,
    ) -> Result<String, PmError> {
        let domain = match target {
            TextTarget::Metric(p) => p.domain(),
            TextTarget::InDom(i) => i.domain(),
        };
        self.with_agent(domain, |a| a.text(target, kind, client))
    }

    /// Labels at one level of the agent owning `domain`.
    pub fn labels(&self, domain: u32, target: LabelTarget) -> Result<LabelSet, PmError> {
        self.labels_as(&self.client, domain, target)
    }

    /// Labels at one level of the agent owning `domain`, as `client` sees them.
    pub fn labels_as(
        &self,
        client: &ClientContext,
        domain: u32,
        target: LabelTarget,
    ) -> Result<LabelSet, PmError> {
        self.with_agent(domain, |a| a.labels(target, client))
    }

    /// The merged labels of a metric, as pminfo -l shows them: context,
    /// domain, indom, cluster and item levels.
    pub fn metric_labels(&self, pmid: Pmid) -> Result<LabelSet, PmError> {
        self.metric_labels_as(&self.client, pmid)
    }

    /// The merged labels of a metric as `client` sees them (its context
    /// labels carry the client's user and group ids when it has them).
    pub fn metric_labels_as(
        &self,
        client: &ClientContext,
        pmid: Pmid,
    ) -> Result<LabelSet, PmError> {
        let context = if client == &self.client {
            self.context_labels.clone()
        } else {
            context_labels(client)
        };
        self.with_agent(pmid.domain(), |a| {
            let desc = a.desc(pmid)?;
            let mut sets = vec![context, a.labels(LabelTarget::Domain, client)?];
            if !desc.indom.is_null() {
                sets.push(a.labels(LabelTarget::InDom(desc.indom), client)?);
            }
            sets.push(a.labels(LabelTarget::Cluster(pmid.cluster()), client)?);
            sets.push(a.labels(LabelTarget::Item(pmid), client)?);
            Ok(LabelSet::merge(sets.iter()))
        })
    }

    /// The labels of each instance of `indom` (instance level only).
    pub fn instance_labels(&self, indom: InDom) -> Result<Vec<(u32, LabelSet)>, PmError> {
        self.instance_labels_as(&self.client, indom)
    }

    /// The labels of each instance of `indom`, as `client` sees them.
    pub fn instance_labels_as(
        &self,
        client: &ClientContext,
        indom: InDom,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        self.with_agent(indom.domain(), |a| a.instance_labels(indom, client))
    }

    /// The context-level labels pmcd would give `client`.
    pub fn context_labels_for(&self, client: &ClientContext) -> LabelSet {
        if client == &self.client {
            self.context_labels.clone()
        } else {
            context_labels(client)
        }
    }

    /// Stores values into a storable metric.
    pub fn store(&self, pmid: Pmid, values: &[(u32, Value)]) -> Result<(), PmError> {
        self.store_as(&self.client, pmid, values)
    }

    /// Stores values into a storable metric, as `client`.
    pub fn store_as(
        &self,
        client: &ClientContext,
        pmid: Pmid,
        values: &[(u32, Value)],
    ) -> Result<(), PmError> {
        self.with_agent(pmid.domain(), |a| a.store(pmid, values, client))
    }

    /// Tells every agent that the client in `slot` went away, so that
    /// what it set for itself (per-client controls) goes too. A server
    /// with several clients on one host calls this as each disconnects.
    pub fn client_closed(&self, slot: u32) {
        for s in &self.slots {
            if let Some(mut a) = s.agent.try_lock_for(self.timeout) {
                a.client_closed(slot);
            }
        }
    }

    /// Lets every agent wait (bounded) for a just-started source's first data.
    pub fn wait_ready(&self, timeout: Duration) {
        for slot in &self.slots {
            if let Some(mut a) = slot.agent.try_lock_for(self.timeout) {
                a.wait_ready(timeout);
            }
        }
    }
}

/// The context labels pmcd attaches: hostname, domainname, machineid,
/// the client's container when it named one, and its user and group ids
/// (optional labels, as pmcd marks them) when it knows them.
fn context_labels(client: &ClientContext) -> LabelSet {
    let mut set = LabelSet::new();
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success.
    let host = unsafe {
        if libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) == 0 {
            let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            "localhost".to_string()
        }
    };
    let domain = std::fs::read_to_string("/proc/sys/kernel/domainname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty() && s != "(none)")
        .unwrap_or_else(|| "localdomain".to_string());
    if let Some(c) = &client.container {
        set.insert("container", c.as_str());
    }
    set.insert("domainname", domain);
    if let Some(gid) = client.group_id {
        set.insert_optional("groupid", gid);
    }
    set.insert("hostname", host);
    if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
        let id = id.trim();
        if !id.is_empty() {
            set.insert("machineid", id);
        }
    }
    if let Some(uid) = client.user_id {
        set.insert_optional("userid", uid);
    }
    set
}
