//! The daemon-PMDA loop: serves any [`Pmda`] to a real pmcd over a pair of
//! byte streams (stdin/stdout when pmcd spawns the agent).
//!
//! The agent speaks first (PDU_CREDS within pmcd's 3-second limit), reads
//! pmcd's CREDS, optionally announces readiness (`notready` agents), then
//! answers each request with exactly one PDU until pmcd closes the pipe.
//! Per-client state (instance profile, credentials from PDU_ATTR) is kept
//! by pmcd's client slot (the header's `from`) and dropped when pmcd
//! reports the client gone (PDU_ERROR PM_ERR_NOTCONN).
//!
//! Only whole PDUs are ever written to the output; diagnostics go to
//! stderr (pmcd's log for the agent). Malformed or unknown PDUs are logged
//! and answered with a PDU_ERROR when pmcd waits for a reply, skipped
//! otherwise; an agent that panics inside a request gets the same
//! treatment instead of taking the daemon down.
//!
//! ```
//! use pcp_core::daemon::{DaemonOptions, Session};
//! use pcp_core::pdu::{decode, Encoder, Pdu};
//! use pcp_core::*;
//!
//! use pcp_core::agent::{Agent, MetricDef, Sink, TablePmda};
//!
//! pcp_core::metrics! {
//!     enum M { Answer = MetricDef::u32("hello.answer", 0, 0).oneline("the answer"), }
//! }
//! #[derive(Debug)]
//! struct Hello;
//! impl Agent for Hello {
//!     type Metric = M;
//!     fn value(&mut self, _: M, out: &mut Sink<'_>) -> Result<(), PmError> {
//!         out.set(42u32);
//!         Ok(())
//!     }
//! }
//! let mut agent = TablePmda::new("hello", 400, Hello).unwrap();
//! let pmid = Pmid::new(400, 0, 0).unwrap();
//! let mut session = Session::new(&mut agent, &DaemonOptions::default());
//! let mut req = Vec::new();
//! Encoder::default().encode(&Pdu::DescReq(pmid), 0, &mut req);
//! let reply = session.handle(&req).expect("DESC_REQ is answered");
//! let (_, Pdu::Desc(d)) = decode(reply).unwrap() else { panic!() };
//! assert_eq!(d.ty, Type::U32.code());
//! ```

use std::collections::HashMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::PmError;
use crate::id::{InDom, Pmid};
use crate::indom::Profile;
use crate::labels::LabelLevel;
use crate::pdu::frame::FrameError;
use crate::pdu::{
    self, decode, decode_header, reply, types, AttrPdu, DescPdu, Encoder, FetchPdu, IdentReq,
    InstanceReq, LabelPdu, Pdu, PmnsIdsPdu, PmnsNamePdu, PmnsNamesPdu, ResultPdu, VSetValues,
    MAX_BLOCK_PAYLOAD,
};
use crate::pmda::{ClientContext, FetchRequest, LabelTarget, MetricResult, Pmda};
use crate::value::Value;

/// How the daemon talks to pmcd.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Ask pmcd for client credentials and container names (CREDS flags
    /// AUTH and CONTAINER): pmcd then sends PDU_ATTR for each client, and
    /// the agent sees user/group ids in [`ClientContext`]. Agents that
    /// authorise requests (bpftrace's scripts) want this.
    pub credentials: bool,
    /// The pmcd.conf line says `notready`: announce readiness with
    /// PM_ERR_PMDAREADY once the agent is built. Must match pmcd.conf.
    pub notready: bool,
    /// The largest PDU accepted from pmcd.
    pub max_pdu: usize,
    /// How often a fetch re-reads the agent's names (to raise pmcd's
    /// names-changed flag for loggers when dynamic metrics appear).
    pub names_refresh: Duration,
    /// Log every PDU to stderr.
    pub trace: bool,
    /// How long [`run_daemon_with`] lets the agent build before it starts
    /// the handshake. pmcd waits for the handshake (its `creds_timeout`,
    /// 3 s by default) before it serves anyone again, so an agent built in
    /// that time is registered ready at once; only a slower one leaves a
    /// window in which pmcd answers PM_ERR_AGAIN for it, which pmlogger,
    /// revalidating its metrics after the agent (re)starts, takes as fatal.
    pub build_before_handshake: Duration,
}

impl Default for DaemonOptions {
    fn default() -> DaemonOptions {
        DaemonOptions {
            credentials: false,
            notready: false,
            max_pdu: pdu::DEFAULT_MAX_PDU,
            names_refresh: Duration::from_secs(1),
            trace: false,
            build_before_handshake: Duration::from_millis(500),
        }
    }
}

/// Why the daemon stopped (other than pmcd closing the pipe, which is a
/// normal exit).
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Writing to pmcd failed (pmcd went away mid-reply).
    #[error("writing to pmcd: {0}")]
    Write(#[source] io::Error),
    /// Reading from pmcd failed, or the stream is corrupt.
    #[error("{0}")]
    Read(#[from] FrameError),
    /// The agent could not be built.
    #[error("agent start-up failed: {0}")]
    Agent(String),
}

/// What the daemon keeps per pmcd client slot.
#[derive(Debug, Default)]
struct Client {
    profile: Profile,
    ctx: ClientContext,
}

/// The largest reply buffer kept between PDUs; a larger one is freed
/// once sent.
pub const KEEP_REPLY_BUFFER: usize = 1 << 20;

/// One agent's side of the conversation with pmcd: decodes a request,
/// asks the agent, encodes the reply. [`run_daemon`] drives it over
/// streams; tests and benchmarks call [`Session::handle`] directly.
pub struct Session<'a> {
    agent: &'a mut dyn Pmda,
    clients: HashMap<u32, Client>,
    enc: Encoder,
    out: Vec<u8>,
    names_changed: bool,
    last_refresh: Option<Instant>,
    names_refresh: Duration,
    trace: bool,
    tag: String,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("agent", &self.agent.name())
            .field("clients", &self.clients.len())
            .finish()
    }
}

/// Request types pmcd waits on a reply for.
fn wants_reply(ty: u32) -> bool {
    matches!(
        ty,
        types::FETCH
            | types::DESC_REQ
            | types::INSTANCE_REQ
            | types::TEXT_REQ
            | types::LABEL_REQ
            | types::PMNS_NAMES
            | types::PMNS_IDS
            | types::PMNS_CHILD
            | types::PMNS_TRAVERSE
            | types::RESULT
    )
}

impl<'a> Session<'a> {
    /// A session for `agent`.
    pub fn new(agent: &'a mut dyn Pmda, opts: &DaemonOptions) -> Session<'a> {
        let tag = format!("pmda {}[{}]", agent.name(), std::process::id());
        Session {
            agent,
            clients: HashMap::new(),
            enc: Encoder::default(),
            out: Vec::with_capacity(4096),
            names_changed: false,
            last_refresh: None,
            names_refresh: opts.names_refresh,
            trace: opts.trace,
            tag,
        }
    }

    /// Frees the reply buffer if the last reply made it larger than
    /// [`KEEP_REPLY_BUFFER`]: one large reply (a fetch of every process's
    /// memory maps) must not pin its buffer for the agent's life. Call it
    /// once the reply [`Session::handle`] returned is written.
    pub fn sent(&mut self) {
        if self.out.capacity() > KEEP_REPLY_BUFFER {
            self.out = Vec::with_capacity(4096);
        }
    }

    fn log(&self, msg: std::fmt::Arguments<'_>) {
        eprintln!("{}: {msg}", self.tag);
    }

    /// Handles one complete PDU from pmcd; returns the reply to send, if
    /// pmcd expects one.
    pub fn handle(&mut self, bytes: &[u8]) -> Option<&[u8]> {
        self.out.clear();
        let (h, p) = match decode(bytes) {
            Ok(x) => x,
            Err(e) => {
                let ty = decode_header(bytes, usize::MAX).map(|h| h.ty).unwrap_or(0);
                self.log(format_args!(
                    "bad PDU from pmcd ({e}), {} bytes",
                    bytes.len()
                ));
                if wants_reply(ty) {
                    self.enc.error(PmError::IPC.code(), &mut self.out);
                    return Some(&self.out);
                }
                return None;
            }
        };
        if self.trace {
            self.log(format_args!(
                "<- {} from {} ({} bytes)",
                pdu::type_name(h.ty),
                h.from,
                h.len
            ));
        }
        let replied = match catch_unwind(AssertUnwindSafe(|| self.dispatch(h.from, p))) {
            Ok(r) => r,
            Err(_) => {
                self.log(format_args!(
                    "agent panicked handling {}",
                    pdu::type_name(h.ty)
                ));
                self.out.clear();
                if wants_reply(h.ty) {
                    self.enc.error(PmError::GENERIC.code(), &mut self.out);
                    true
                } else {
                    false
                }
            }
        };
        replied.then_some(&self.out[..])
    }

    fn client(&mut self, from: u32) -> &mut Client {
        self.clients.entry(from).or_insert_with(|| Client {
            profile: Profile::all(),
            ctx: ClientContext {
                slot: from,
                ..Default::default()
            },
        })
    }

    fn reply(&mut self, pdu: &Pdu) -> bool {
        self.enc.encode(pdu, 0, &mut self.out);
        true
    }

    fn error(&mut self, e: PmError) -> bool {
        self.enc.error(e.code(), &mut self.out);
        true
    }

    /// Returns true when a reply was written to `self.out`.
    fn dispatch(&mut self, from: u32, p: Pdu) -> bool {
        match p {
            Pdu::Error(e) => {
                if e.code == PmError::NOTCONN.code() {
                    self.clients.remove(&from);
                    self.agent.client_closed(from);
                } else {
                    self.log(format_args!("pmcd sent error {} for client {from}", e.code));
                }
                false
            }
            Pdu::Profile(pr) => {
                self.client(from).profile = pr.to_profile();
                false
            }
            Pdu::Attr(a) => {
                self.attr(from, &a);
                false
            }
            Pdu::Fetch(f) => self.fetch(from, &f),
            Pdu::DescReq(pmid) => match self.agent.desc(pmid) {
                Ok(d) => self.reply(&Pdu::Desc(DescPdu::from(&d))),
                Err(e) => self.error(e),
            },
            Pdu::InstanceReq(r) => self.instance(from, &r),
            Pdu::TextReq(r) => self.text(from, r),
            Pdu::LabelReq(r) => self.labels(from, r),
            Pdu::PmnsNames(n) => self.name_to_pmid(&n),
            Pdu::PmnsIds(ids) => self.pmid_to_names(&ids),
            Pdu::PmnsChild(c) => self.children(&c),
            Pdu::PmnsTraverse(t) => self.traverse(&t),
            Pdu::Result(r) => self.store(from, &r),
            other => {
                self.log(format_args!(
                    "ignoring unexpected {} PDU from pmcd",
                    pdu::type_name(other.type_code())
                ));
                false
            }
        }
    }

    fn attr(&mut self, from: u32, a: &AttrPdu) {
        let text = a.text();
        let ctx = &mut self.client(from).ctx;
        match a.attr {
            pdu::attr::USERID => ctx.user_id = text.trim().parse().ok(),
            pdu::attr::GROUPID => ctx.group_id = text.trim().parse().ok(),
            pdu::attr::USERNAME => ctx.user_name = Some(text),
            pdu::attr::CONTAINER => ctx.container = Some(text),
            _ => {}
        }
    }

    /// Re-reads the agent's names; remembers a change for the next RESULT.
    fn refresh_names(&mut self) {
        self.last_refresh = Some(Instant::now());
        if self.agent.refresh_namespace() {
            self.names_changed = true;
        }
    }

    fn state_flags(&mut self) -> i32 {
        let due = self
            .last_refresh
            .is_none_or(|t| t.elapsed() >= self.names_refresh);
        if due {
            self.refresh_names();
        }
        let mut flags = 0;
        if std::mem::take(&mut self.names_changed) {
            flags |= pdu::PMCD_NAMES_CHANGE;
        }
        if self.agent.labels_changed() {
            flags |= pdu::PMCD_LABEL_CHANGE;
        }
        flags
    }

    fn fetch(&mut self, from: u32, f: &FetchPdu) -> bool {
        let flags = self.state_flags();
        self.client(from);
        let client = &self.clients[&from];
        let req = FetchRequest {
            pmids: &f.pmids,
            profile: &client.profile,
            client: &client.ctx,
        };
        let mut results = self.agent.fetch(&req);
        if results.len() != f.pmids.len() {
            eprintln!(
                "{}: agent answered {} of {} metrics",
                self.tag,
                results.len(),
                f.pmids.len()
            );
            results.resize_with(f.pmids.len(), || Err(PmError::VALUE));
        }
        let profile = &client.profile;
        let agent = &*self.agent;
        let vsets: Vec<(Pmid, MetricResult)> = f
            .pmids
            .iter()
            .zip(results)
            .map(|(&pmid, r)| (pmid, normalise(agent, profile, pmid, r)))
            .collect();
        self.enc.fetch_result(flags, &vsets, &mut self.out);
        true
    }

    fn instance(&mut self, from: u32, r: &InstanceReq) -> bool {
        let ctx = self.client(from).ctx.clone();
        let reply = self
            .agent
            .instances(r.indom, &ctx)
            .and_then(|list| reply::instance_reply(list, r));
        match reply {
            Ok(p) => self.reply(&Pdu::Instance(p)),
            Err(e) => self.error(e),
        }
    }

    fn text(&mut self, from: u32, r: IdentReq) -> bool {
        let (target, kind) = reply::text_request(r);
        let ctx = self.client(from).ctx.clone();
        match reply::text_reply(r, self.agent.text(target, kind, &ctx)) {
            Ok(t) => self.reply(&Pdu::Text(t)),
            Err(e) => self.error(e),
        }
    }

    fn labels(&mut self, from: u32, r: IdentReq) -> bool {
        let Some(level) = LabelLevel::from_code(r.kind) else {
            return self.error(PmError::TYPE);
        };
        let target = match level {
            LabelLevel::Context => {
                // pmcd answers context labels itself; nothing to add.
                return self.reply(&Pdu::Label(LabelPdu {
                    ident: r.ident,
                    kind: r.kind,
                    sets: Vec::new(),
                }));
            }
            LabelLevel::Domain => LabelTarget::Domain,
            LabelLevel::InDom => LabelTarget::InDom(InDom::from_raw(r.ident)),
            LabelLevel::Cluster => LabelTarget::Cluster(Pmid::from_raw(r.ident).cluster()),
            LabelLevel::Item => LabelTarget::Item(Pmid::from_raw(r.ident)),
            LabelLevel::Instances => return self.instance_labels(from, r),
        };
        let ctx = self.client(from).ctx.clone();
        let reply = self
            .agent
            .labels(target, &ctx)
            .and_then(|set| reply::label_reply(r, level, &set));
        match reply {
            Ok(l) => self.reply(&Pdu::Label(l)),
            Err(e) => self.error(e),
        }
    }

    /// One set per instance in the client's profile, empty where the agent
    /// has no labels for it (as libpcp_pmda does).
    fn instance_labels(&mut self, from: u32, r: IdentReq) -> bool {
        let indom = InDom::from_raw(r.ident);
        let ctx = self.client(from).ctx.clone();
        let list = match self.agent.instances(indom, &ctx) {
            Ok(l) => l,
            Err(e) => return self.error(e),
        };
        let labelled = match self.agent.instance_labels(indom, &ctx) {
            Ok(v) => v,
            Err(e) => return self.error(e),
        };
        let profile = &self.client(from).profile;
        match reply::instance_labels_reply(r, &list, labelled, |id| profile.wants(indom, id)) {
            Ok(l) => self.reply(&Pdu::Label(l)),
            Err(e) => self.error(e),
        }
    }

    /// A leaf's PMID, re-reading the agent's names once on a miss; only
    /// PMIDs of the agent's own domain (pmcd routes by it).
    fn lookup(&mut self, name: &str) -> Option<Pmid> {
        let domain = self.agent.domain();
        let found = |a: &dyn Pmda| a.namespace().lookup(name).filter(|p| p.domain() == domain);
        if let Some(p) = found(&*self.agent) {
            return Some(p);
        }
        self.refresh_names();
        found(&*self.agent)
    }

    fn name_to_pmid(&mut self, n: &PmnsNamesPdu) -> bool {
        if n.names.is_empty() {
            return self.error(PmError::NAME);
        }
        let mut pmids = Vec::with_capacity(n.names.len());
        for name in &n.names {
            let name = String::from_utf8_lossy(name);
            match self.lookup(&name) {
                Some(p) => pmids.push(p),
                None => return self.error(PmError::NAME),
            }
        }
        self.reply(&Pdu::PmnsIds(PmnsIdsPdu { status: 0, pmids }))
    }

    fn pmid_to_names(&mut self, ids: &PmnsIdsPdu) -> bool {
        let Some(&pmid) = ids.pmids.first() else {
            return self.error(PmError::PMID);
        };
        if self.agent.namespace().names_of(pmid).is_empty() {
            self.refresh_names();
        }
        let ns = self.agent.namespace();
        let names = ns.names_of(pmid);
        if names.is_empty() {
            return self.error(PmError::PMID);
        }
        self.enc
            .names(names.iter().map(|s| &**s), None, &mut self.out);
        true
    }

    fn children(&mut self, c: &PmnsNamePdu) -> bool {
        self.refresh_names();
        let name = String::from_utf8_lossy(&c.name);
        let Some(kids) = self.agent.namespace().children(&name) else {
            return self.error(PmError::NAME);
        };
        self.enc.children(&kids, c.subtype == 1, &mut self.out);
        true
    }

    fn traverse(&mut self, t: &PmnsNamePdu) -> bool {
        self.refresh_names();
        let name = String::from_utf8_lossy(&t.name);
        let mut names: Vec<String> = Vec::new();
        let known = self
            .agent
            .namespace()
            .for_each_leaf(&name, |n, _| names.push(n.to_string()));
        if !known {
            return self.error(PmError::NAME);
        }
        self.enc
            .names(names.iter().map(String::as_str), None, &mut self.out);
        true
    }

    fn store(&mut self, from: u32, r: &ResultPdu) -> bool {
        self.client(from);
        let mut status = 0;
        for vs in &r.vsets {
            let values = match self.store_values(vs.pmid, &vs.values) {
                Ok(v) => v,
                Err(e) => {
                    status = e.code();
                    break;
                }
            };
            let client = &self.clients[&from].ctx;
            if let Err(e) = self.agent.store(vs.pmid, &values, client) {
                status = e.code();
                break;
            }
        }
        // A store may have changed the agent's names (control metrics that
        // add sources): look again at the next fetch.
        self.last_refresh = None;
        self.enc.error(status, &mut self.out);
        true
    }

    /// The values of a store request, typed by the metric's descriptor.
    fn store_values(&self, pmid: Pmid, v: &VSetValues) -> Result<Vec<(u32, Value)>, PmError> {
        reply::store_values(&self.agent.desc(pmid)?, v)
    }
}

/// Makes one metric's answer fit its descriptor: instances outside the
/// client's profile dropped, values converted to the declared type (a vset
/// has one format, and clients decode by the descriptor), oversized blocks
/// refused.
/// The answer rules ([`crate::answer::normalise`]), then the wire's own
/// limit: a string or aggregate value must fit one pmValueBlock.
fn normalise(agent: &dyn Pmda, profile: &Profile, pmid: Pmid, r: MetricResult) -> MetricResult {
    let Ok(desc) = agent.desc(pmid) else {
        return r;
    };
    let vals = crate::answer::normalise(&desc, profile, r)?;
    for (_, v) in &vals {
        let big = match v {
            Value::String(s) => s.len() + 1,
            Value::Aggregate(b) => b.len(),
            _ => 0,
        };
        if big > MAX_BLOCK_PAYLOAD {
            return Err(PmError::TOOBIG);
        }
    }
    Ok(vals)
}

mod run;
pub use run::{claim_stdout, run_daemon, run_daemon_with, run_stdio, run_stdio_with};
