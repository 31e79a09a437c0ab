//! The [`Pmda`] trait: what a metrics agent implements, and the types of
//! its requests and answers.
//!
//! An agent owns one domain: its names (a static table or a dynamic
//! subtree), descriptors, instance domains, help text and labels. A fetch
//! hands the agent every PMID asked for at once, so it can read each of its
//! sources once per request; each metric's answer is its own `Result`, so a
//! source that is down fails only the metrics behind it.

use std::sync::Arc;

use crate::desc::Desc;
use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::indom::{Instance, Profile};
use crate::labels::LabelSet;
use crate::namespace::Namespace;
use crate::value::Value;

/// How an agent is attached to its host, as pmcd reports it in
/// `pmcd.agent.type` (`(ipc << 1) | protocol`: 0 in process as a DSO, 4 a
/// binary pipe) and `pmcd.agent.status` (0 when it answers; the other bits
/// as pmcd's help text gives them). Agents called in process have none.
#[derive(Clone)]
pub struct Attachment {
    kind: u32,
    status: Arc<dyn Fn() -> i32 + Send + Sync>,
}

impl std::fmt::Debug for Attachment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attachment")
            .field("kind", &self.kind)
            .field("status", &self.status())
            .finish()
    }
}

impl Attachment {
    /// A daemon agent on a pipe, binary protocol (pmcd's type 4), whose
    /// current status word `status` gives; it is called from other threads
    /// and must not wait on the agent.
    pub fn pipe(status: impl Fn() -> i32 + Send + Sync + 'static) -> Attachment {
        Attachment {
            kind: 2 << 1,
            status: Arc::new(status),
        }
    }

    /// pmcd's type code (`pmcd.agent.type`).
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// pmcd's status word (`pmcd.agent.status`).
    pub fn status(&self) -> i32 {
        (self.status)()
    }
}

/// Which help text is wanted (`PM_TEXT_ONELINE` / `PM_TEXT_HELP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextKind {
    /// The one-line summary.
    OneLine,
    /// The long help.
    Help,
}

/// What a help text describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextTarget {
    /// A metric.
    Metric(Pmid),
    /// An instance domain.
    InDom(InDom),
}

/// What a label request is about (the instance level is
/// [`Pmda::instance_labels`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LabelTarget {
    /// The agent as a whole.
    Domain,
    /// An instance domain.
    InDom(InDom),
    /// A cluster of the agent's metrics.
    Cluster(u32),
    /// One metric.
    Item(Pmid),
}

/// Who is asking: a client of the host or of pmcd. Agents that authorise
/// (the bpftrace agent's dynamic scripts) read the credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientContext {
    /// pmcd's client slot (the PDU `from` field), or 0 in-process.
    pub slot: u32,
    /// The client's user id, when pmcd told us (PDU_ATTR USERID).
    pub user_id: Option<u32>,
    /// The client's group id, when known.
    pub group_id: Option<u32>,
    /// The client's user name, when known (PDU_ATTR USERNAME).
    pub user_name: Option<String>,
    /// The client's container name, when known.
    pub container: Option<String>,
}

impl ClientContext {
    /// The context of an in-process caller: this process's own user.
    pub fn local() -> ClientContext {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        ClientContext {
            slot: 0,
            user_id: Some(uid),
            group_id: Some(gid),
            ..Default::default()
        }
    }

    /// A client whose credentials are unknown, as pmcd sees one that
    /// connects over TCP: agents then withhold what needs a known user.
    pub fn anonymous() -> ClientContext {
        ClientContext::default()
    }

    /// A client with these user and group ids, as pmcd reports one that
    /// connects over its unix socket.
    pub fn user(uid: u32, gid: u32) -> ClientContext {
        ClientContext {
            user_id: Some(uid),
            group_id: Some(gid),
            ..Default::default()
        }
    }
}

/// One fetch: the PMIDs (all in the agent's domain, possibly repeated),
/// the instances wanted, and who asks.
#[derive(Debug, Clone, Copy)]
pub struct FetchRequest<'a> {
    /// The metrics, in the order the answer must follow.
    pub pmids: &'a [Pmid],
    /// The instances wanted; agents may use it to skip work (the host and
    /// the PDU loop filter answers by it anyway).
    pub profile: &'a Profile,
    /// The client.
    pub client: &'a ClientContext,
}

/// The values of one metric in a fetch: instance id ([`crate::PM_IN_NULL`] for
/// a singular metric) and value pairs.
pub type InstValues = Vec<(u32, Value)>;

/// One metric's answer: its values (possibly none) or the reason there are
/// none (`PM_ERR_AGAIN` for a source that is down, `PM_ERR_PMID` for an
/// unknown metric, ...).
pub type MetricResult = Result<InstValues, PmError>;

/// A metrics agent (a PMDA). Implement this to add a domain of metrics; the
/// host and the PDU loop do the rest.
///
/// Only [`Pmda::name`], [`Pmda::domain`], [`Pmda::namespace`],
/// [`Pmda::desc`] and [`Pmda::fetch`] are required; agents are normally
/// written on the table-driven layer ([`crate::agent::TablePmda`]), which
/// implements all of them from a metric table.
pub trait Pmda: Send {
    /// The agent's name (`linux`, `prometheus`): the `agent` label.
    fn name(&self) -> &str;

    /// The agent's domain number (1..=510).
    fn domain(&self) -> u32;

    /// The agent's current names, full dotted paths, every PMID in its domain.
    fn namespace(&self) -> &Namespace;

    /// Re-reads whatever the names come from (config dirs, scripts) and
    /// returns true if the names changed since the last call. Called by the
    /// host before name operations; keep it cheap when nothing changed.
    fn refresh_namespace(&mut self) -> bool {
        false
    }

    /// The descriptor of `pmid`, or [`PmError::PMID`].
    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError>;

    /// The instances of `indom` as `client` may see them, or
    /// [`PmError::INDOM`]. An agent whose instance list comes from a
    /// source only some users may read decides per client (the linux agent
    /// re-reads its slab-cache and serial-line lists only for root, as
    /// pmdalinux does, and shows others the list as last read).
    fn instances(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        let _ = (indom, client);
        Err(PmError::INDOM)
    }

    /// Help text, or [`PmError::TEXT`].
    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        client: &ClientContext,
    ) -> Result<String, PmError> {
        let _ = (target, kind, client);
        Err(PmError::TEXT)
    }

    /// Labels at the domain, indom, cluster or item level. The default gives
    /// the domain level `{"agent":NAME}` as libpcp_pmda does, and nothing
    /// elsewhere.
    fn labels(&self, target: LabelTarget, client: &ClientContext) -> Result<LabelSet, PmError> {
        let _ = client;
        Ok(match target {
            LabelTarget::Domain => LabelSet::new().with("agent", self.name()),
            _ => LabelSet::new(),
        })
    }

    /// Labels of each instance of `indom` (only instances that have any),
    /// as `client` may see them. Must not refresh what [`Pmda::instances`]
    /// refreshes only for some clients.
    fn instance_labels(
        &mut self,
        indom: InDom,
        client: &ClientContext,
    ) -> Result<Vec<(u32, LabelSet)>, PmError> {
        let _ = (indom, client);
        Ok(Vec::new())
    }

    /// Answers one fetch: exactly one [`MetricResult`] per requested PMID,
    /// in request order.
    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult>;

    /// Stores values into a storable metric (control metrics). The default
    /// refuses with [`PmError::PERMISSION`], as a read-only agent does.
    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        client: &ClientContext,
    ) -> Result<(), PmError> {
        let _ = (pmid, values, client);
        Err(PmError::PERMISSION)
    }

    /// True once since the agent's labels last changed (sets pmcd's
    /// labels-changed flag in the next result).
    fn labels_changed(&mut self) -> bool {
        false
    }

    /// A client went away: drop any state kept for `slot`.
    fn client_closed(&mut self, slot: u32) {
        let _ = slot;
    }

    /// How the agent is attached, when it is not called in process (a
    /// daemon PMDA driven over a pipe): read once when the host loads it.
    fn attachment(&self) -> Option<Attachment> {
        None
    }

    /// Waits (at most `timeout`) until data that a just-started source is
    /// producing has arrived, so a first fetch is not empty. Agents with
    /// nothing to wait for return at once.
    fn wait_ready(&mut self, timeout: std::time::Duration) {
        let _ = timeout;
    }
}

/// Answers a fetch for every PMID with the same error (an agent that is
/// down, or a PMID of the wrong domain).
pub fn all_failed(n: usize, err: PmError) -> Vec<MetricResult> {
    vec![Err(err); n]
}
