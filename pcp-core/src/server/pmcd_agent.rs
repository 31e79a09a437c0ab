//! The `pmcd` agent (domain 2): what pmcd says about itself, with pmcd
//! 6.0.3's names, PMIDs, types, instance domains, semantics and units, so
//! clients that read them (libpcp's `pmcd.hostname`, `pmcd.timezone` and
//! `pmcd.zoneinfo`; pmlogger's `pmcd.pid` and `pmcd.seqnum`; every client's
//! store of `pmcd.client.whoami`; pmlc's `pmcd.pmlogger.port`) find them.
//! Help text is our own.
//!
//! Values come from the server's [`ServerState`] and from the process.
//! What this server does not have reads as nothing: no pmloggers or pmie
//! processes register with it (`pmcd.pmlogger.*`, `pmcd.pmie.*` have no
//! instances), it has no PDU buffer pool (`pmcd.buf.*`), no tracing or
//! debug flags (zero), no TLS, SASL or compression (`pmcd.feature.*`).
//! Stores: `pmcd.client.whoami` (the storing client's own row) and
//! `pmcd.control.register`; other metrics are read-only.

use std::sync::Arc;

use crate::desc::{Desc, Semantics, Type, Units};
use crate::error::PmError;
use crate::id::{InDom, Pmid, PM_IN_NULL};
use crate::indom::Instance;
use crate::namespace::Namespace;
use crate::pdu::types;
use crate::pmda::{ClientContext, FetchRequest, MetricResult, Pmda, TextKind, TextTarget};
use crate::table::MetricTable;
use crate::value::Value;

use super::facts;
use super::state::ServerState;

/// pmcd's domain.
pub const PMCD_DOMAIN: u32 = 2;

/// Instance-domain serials, as pmcd numbers them.
mod serial {
    pub const PMLOGGERS: u32 = 1;
    pub const REGISTERS: u32 = 2;
    pub const AGENTS: u32 = 3;
    pub const PMIES: u32 = 4;
    pub const BUFFERS: u32 = 5;
    pub const CLIENTS: u32 = 6;
}

/// Where a metric's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Zero,
    DataSize,
    NumAgents,
    NumClients,
    Timeout,
    Timezone,
    Zoneinfo,
    Simabi,
    Version,
    Services,
    OpenFds,
    Build,
    Hostname,
    Pid,
    Seqnum,
    Labels,
    Register,
    PduIn(Option<u32>),
    PduOut(Option<u32>),
    AgentType,
    AgentStatus,
    AgentName,
    AgentFenced,
    /// An instance domain this server never fills.
    NoInstances,
    ClientWhoami,
    ClientStart,
    ClientContainer,
    CpuTotal,
    CpuPerPdu,
    Feature(bool),
    UnixSockets,
}

use Semantics::{Counter, Discrete, Instant};
use Source as S;

const U32: Type = Type::U32;
const I32: Type = Type::I32;
const STR: Type = Type::String;
const NONE: Units = Units::NONE;
const COUNT: Units = Units::COUNT;

/// One metric: name, cluster, item, type, indom serial, semantics, units,
/// value source, help.
type Row = (
    &'static str,
    u32,
    u32,
    Type,
    Option<u32>,
    Semantics,
    Units,
    Source,
    &'static str,
);

/// The metrics in pmcd's namespace order (as `pminfo pmcd` lists them).
#[rustfmt::skip]
const ROWS: &[Row] = &[
    ("pmcd.datasize", 0, 1, U32, None, Instant, Units::KBYTES, S::DataSize, "Data segment size of the server process"),
    ("pmcd.numagents", 0, 2, U32, None, Instant, NONE, S::NumAgents, "Number of agents the server hosts"),
    ("pmcd.numclients", 0, 3, U32, None, Instant, NONE, S::NumClients, "Number of clients connected now"),
    ("pmcd.timezone", 0, 5, STR, None, Discrete, NONE, S::Timezone, "Timezone of the host, in the form PCP writes into archives"),
    ("pmcd.zoneinfo", 0, 26, STR, None, Discrete, NONE, S::Zoneinfo, "Zoneinfo name of the host's timezone, or empty"),
    ("pmcd.simabi", 0, 6, STR, None, Discrete, NONE, S::Simabi, "Processor architecture the server was built for"),
    ("pmcd.version", 0, 7, STR, None, Discrete, NONE, S::Version, "Version of the server"),
    ("pmcd.services", 0, 16, STR, None, Instant, NONE, S::Services, "PCP services running on this host"),
    ("pmcd.openfds", 0, 17, U32, None, Instant, NONE, S::OpenFds, "Highest open file descriptor of the server"),
    ("pmcd.build", 0, 20, STR, None, Discrete, NONE, S::Build, "Build of the server"),
    ("pmcd.hostname", 0, 21, STR, None, Discrete, NONE, S::Hostname, "Name of this host"),
    ("pmcd.sighups", 0, 22, U32, None, Counter, COUNT, S::Zero, "Reconfiguration signals received (none: this server reloads nothing)"),
    ("pmcd.pid", 0, 23, Type::U64, None, Discrete, NONE, S::Pid, "Process id of the server"),
    ("pmcd.seqnum", 0, 24, U32, None, Discrete, NONE, S::Seqnum, "Configuration sequence number: moves when the namespace changes"),
    ("pmcd.labels", 0, 25, STR, None, Instant, NONE, S::Labels, "Context labels added by configuration (none here)"),
    ("pmcd.control.debug", 0, 0, I32, None, Discrete, NONE, S::Zero, "Debug flags (always 0 here)"),
    ("pmcd.control.timeout", 0, 4, U32, None, Discrete, NONE, S::Timeout, "Seconds an agent has to answer a request"),
    ("pmcd.control.register", 0, 8, I32, Some(serial::REGISTERS), Discrete, NONE, S::Register, "Sixteen registers any client allowed to store may set"),
    ("pmcd.control.traceconn", 0, 9, I32, None, Discrete, NONE, S::Zero, "Connection tracing (not supported, always 0)"),
    ("pmcd.control.tracepdu", 0, 10, I32, None, Discrete, NONE, S::Zero, "PDU tracing (not supported, always 0)"),
    ("pmcd.control.tracenobuf", 0, 14, I32, None, Discrete, NONE, S::Zero, "Unbuffered tracing (not supported, always 0)"),
    ("pmcd.control.tracebufs", 0, 11, I32, None, Discrete, NONE, S::Zero, "Trace buffers (not supported, always 0)"),
    ("pmcd.control.dumptrace", 0, 12, I32, None, Discrete, NONE, S::Zero, "Trace dump trigger (not supported, always 0)"),
    ("pmcd.control.dumpconn", 0, 13, I32, None, Discrete, NONE, S::Zero, "Connection dump trigger (not supported, always 0)"),
    ("pmcd.control.sighup", 0, 15, I32, None, Discrete, NONE, S::Zero, "Reconfiguration trigger (not supported, always 0)"),
];

/// PDU counters: name suffix and type code (`None`: the total).
const PDUS: &[(&str, Option<u32>)] = &[
    ("error", Some(types::ERROR)),
    ("result", Some(types::RESULT)),
    ("profile", Some(types::PROFILE)),
    ("fetch", Some(types::FETCH)),
    ("desc_req", Some(types::DESC_REQ)),
    ("desc", Some(types::DESC)),
    ("instance_req", Some(types::INSTANCE_REQ)),
    ("instance", Some(types::INSTANCE)),
    ("text_req", Some(types::TEXT_REQ)),
    ("text", Some(types::TEXT)),
    ("control_req", Some(types::CONTROL_REQ)),
    ("creds", Some(types::CREDS)),
    ("pmns_ids", Some(types::PMNS_IDS)),
    ("pmns_names", Some(types::PMNS_NAMES)),
    ("pmns_child", Some(types::PMNS_CHILD)),
    ("total", None),
    ("pmns_traverse", Some(types::PMNS_TRAVERSE)),
    ("auth", Some(types::ATTR)),
    ("label_req", Some(types::LABEL_REQ)),
    ("label", Some(types::LABEL)),
    ("highres_fetch", Some(types::HIGHRES_FETCH)),
    ("highres_result", Some(types::HIGHRES_RESULT)),
    ("desc_ids", Some(types::DESC_IDS)),
    ("descs", Some(types::DESCS)),
];

/// The metrics after the PDU counters.
#[rustfmt::skip]
const MORE_ROWS: &[Row] = &[
    ("pmcd.agent.type", 4, 0, U32, Some(serial::AGENTS), Discrete, NONE, S::AgentType, "How each agent is attached: 0, in process"),
    ("pmcd.agent.status", 4, 1, I32, Some(serial::AGENTS), Discrete, NONE, S::AgentStatus, "State of each agent: 0 when it answers"),
    ("pmcd.agent.fenced", 4, 2, U32, Some(serial::AGENTS), Instant, NONE, S::AgentFenced, "Whether each agent is fenced off from requests (never here)"),
    ("pmcd.agent.name", 4, 3, STR, Some(serial::AGENTS), Discrete, NONE, S::AgentName, "Name of each agent"),
    ("pmcd.pmlogger.host", 3, 3, STR, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Host of each registered pmlogger (none register here)"),
    ("pmcd.pmlogger.port", 3, 0, U32, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Control port of each registered pmlogger"),
    ("pmcd.pmlogger.archive", 3, 2, STR, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Archive of each registered pmlogger"),
    ("pmcd.pmlogger.pmcd_host", 3, 1, STR, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Host each registered pmlogger collects from"),
    ("pmcd.pmie.configfile", 5, 0, STR, Some(serial::PMIES), Discrete, NONE, S::NoInstances, "Rules file of each registered pmie (none register here)"),
    ("pmcd.pmie.logfile", 5, 1, STR, Some(serial::PMIES), Discrete, NONE, S::NoInstances, "Log of each registered pmie"),
    ("pmcd.pmie.pmcd_host", 5, 2, STR, Some(serial::PMIES), Discrete, NONE, S::NoInstances, "Host each registered pmie evaluates"),
    ("pmcd.pmie.numrules", 5, 3, U32, Some(serial::PMIES), Discrete, NONE, S::NoInstances, "Rules of each registered pmie"),
    ("pmcd.pmie.actions", 5, 4, U32, Some(serial::PMIES), Counter, COUNT, S::NoInstances, "Actions fired by each registered pmie"),
    ("pmcd.pmie.eval.true", 5, 5, U32, Some(serial::PMIES), Counter, COUNT, S::NoInstances, "Rules found true by each registered pmie"),
    ("pmcd.pmie.eval.false", 5, 6, U32, Some(serial::PMIES), Counter, COUNT, S::NoInstances, "Rules found false by each registered pmie"),
    ("pmcd.pmie.eval.unknown", 5, 7, U32, Some(serial::PMIES), Counter, COUNT, S::NoInstances, "Rules each registered pmie could not decide"),
    ("pmcd.pmie.eval.expected", 5, 8, Type::Float, Some(serial::PMIES), Discrete, Units::new(0, -1, 1, 0, crate::desc::time::SEC, 0), S::NoInstances, "Evaluations per second each registered pmie expects"),
    ("pmcd.pmie.eval.actual", 5, 9, U32, Some(serial::PMIES), Counter, COUNT, S::NoInstances, "Evaluations each registered pmie made"),
    ("pmcd.buf.alloc", 0, 18, I32, Some(serial::BUFFERS), Instant, COUNT, S::NoInstances, "PDU buffers in use, by size (this server keeps no pool)"),
    ("pmcd.buf.free", 0, 19, I32, Some(serial::BUFFERS), Instant, COUNT, S::NoInstances, "PDU buffers free, by size (this server keeps no pool)"),
    ("pmcd.client.whoami", 6, 0, STR, Some(serial::CLIENTS), Discrete, NONE, S::ClientWhoami, "What each connected client says it is"),
    ("pmcd.client.start_date", 6, 1, STR, Some(serial::CLIENTS), Discrete, NONE, S::ClientStart, "When each client connected"),
    ("pmcd.client.container", 6, 2, STR, Some(serial::CLIENTS), Instant, NONE, S::ClientContainer, "Container each client named, or empty"),
    ("pmcd.cputime.total", 7, 0, Type::U64, None, Counter, Units::MILLISEC, S::CpuTotal, "CPU time of the server process, user and system"),
    ("pmcd.cputime.per_pdu_in", 7, 1, Type::Double, None, Instant, Units::new(0, 1, -1, 0, crate::desc::time::USEC, 0), S::CpuPerPdu, "CPU time per PDU received, on average since start"),
    ("pmcd.feature.secure", 8, 0, U32, None, Instant, NONE, S::Feature(false), "Whether TLS is offered (no)"),
    ("pmcd.feature.compress", 8, 1, U32, None, Instant, NONE, S::Feature(false), "Whether compression is offered (no)"),
    ("pmcd.feature.ipv6", 8, 2, U32, None, Instant, NONE, S::Feature(true), "Whether IPv6 is supported"),
    ("pmcd.feature.authentication", 8, 3, U32, None, Instant, NONE, S::Feature(false), "Whether SASL authentication is offered (no)"),
    ("pmcd.feature.creds_required", 8, 4, U32, None, Instant, NONE, S::Feature(false), "Whether clients must send credentials (no)"),
    ("pmcd.feature.unix_domain_sockets", 8, 5, U32, None, Instant, NONE, S::UnixSockets, "Whether a unix-domain socket is served"),
    ("pmcd.feature.service_discovery", 8, 6, U32, None, Instant, NONE, S::Feature(false), "Whether the server advertises itself (no)"),
    ("pmcd.feature.containers", 8, 7, U32, None, Instant, NONE, S::Feature(true), "Whether clients may name a container"),
    ("pmcd.feature.local", 8, 8, U32, None, Instant, NONE, S::Feature(false), "Whether the server only listens locally by design (no)"),
    ("pmcd.feature.client_cert_required", 8, 9, U32, None, Instant, NONE, S::Feature(false), "Whether clients need a certificate (no)"),
];

/// The `pmcd` agent over a server's state.
pub struct PmcdAgent {
    table: MetricTable,
    sources: std::collections::HashMap<Pmid, Source>,
    state: Arc<ServerState>,
    hostname: String,
}

impl std::fmt::Debug for PmcdAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PmcdAgent")
            .field("metrics", &self.table.len())
            .finish()
    }
}

fn indom(serial: u32) -> InDom {
    InDom::from_parts(PMCD_DOMAIN, serial)
}

impl PmcdAgent {
    /// The agent publishing `state`.
    pub fn new(state: Arc<ServerState>) -> PmcdAgent {
        let mut table = MetricTable::new(PMCD_DOMAIN);
        let mut sources = std::collections::HashMap::new();
        let mut add =
            |name: &str, cluster, item, ty, serial: Option<u32>, sem, units, src, help: &str| {
                let pmid = Pmid::from_parts(PMCD_DOMAIN, cluster, item);
                let indom = serial.map_or(InDom::NULL, indom);
                table
                    .add(name, Desc::new(pmid, ty, indom, sem, units), help, "")
                    .expect("the pmcd table has unique names and PMIDs");
                sources.insert(pmid, src);
            };
        for &(name, c, i, ty, ind, sem, units, src, help) in ROWS {
            add(name, c, i, ty, ind, sem, units, src, help);
        }
        for (cluster, dir, what) in [(1, "pdu_in", "received"), (2, "pdu_out", "sent")] {
            for (k, &(suffix, ty)) in PDUS.iter().enumerate() {
                let name = format!("pmcd.{dir}.{suffix}");
                let help = match ty {
                    Some(t) => format!("{} PDUs {what}", crate::pdu::type_name(t)),
                    None => format!("PDUs {what} in all"),
                };
                let src = if cluster == 1 {
                    S::PduIn(ty)
                } else {
                    S::PduOut(ty)
                };
                let item = if k < 11 { k as u32 } else { k as u32 + 1 };
                add(&name, cluster, item, U32, None, Counter, COUNT, src, &help);
            }
        }
        for &(name, c, i, ty, ind, sem, units, src, help) in MORE_ROWS {
            add(name, c, i, ty, ind, sem, units, src, help);
        }
        for (serial, what) in [
            (
                serial::PMLOGGERS,
                "pmloggers registered with the server, by process id",
            ),
            (
                serial::REGISTERS,
                "the sixteen registers of pmcd.control.register",
            ),
            (serial::AGENTS, "agents the server hosts, by domain"),
            (serial::PMIES, "pmie processes registered with the server"),
            (serial::BUFFERS, "PDU buffer sizes"),
            (serial::CLIENTS, "connected clients, by slot"),
        ] {
            table.set_indom_text(indom(serial), &format!("Instances: {what}"), "");
        }
        PmcdAgent {
            table,
            sources,
            state,
            hostname: facts::hostname(),
        }
    }

    fn value(&self, src: Source, pmid: Pmid) -> MetricResult {
        let one = |v: Value| Ok(vec![(PM_IN_NULL, v)]);
        let s = &self.state;
        match src {
            S::Zero => match self.table.desc(pmid)?.ty {
                Type::I32 => one(Value::I32(0)),
                _ => one(Value::U32(0)),
            },
            S::DataSize => one(Value::U32(facts::data_kib())),
            S::NumAgents => one(Value::U32(s.agents().len() as u32)),
            S::NumClients => one(Value::U32(s.clients().len() as u32)),
            S::Timeout => one(Value::U32(s.timeout_secs)),
            S::Timezone => one(Value::String(facts::timezone())),
            S::Zoneinfo => one(Value::String(facts::zoneinfo())),
            S::Simabi => one(Value::String(std::env::consts::ARCH.to_string())),
            S::Version => one(Value::String(s.version.clone())),
            S::Services => one(Value::String("pmcd".into())),
            S::OpenFds => one(Value::U32(facts::highest_fd())),
            S::Build => one(Value::String("pcp-agent".into())),
            S::Hostname => one(Value::String(self.hostname.clone())),
            S::Pid => one(Value::U64(u64::from(s.pid))),
            S::Seqnum => one(Value::U32(s.seqnum())),
            S::Labels => one(Value::String(String::new())),
            S::Register => Ok(s
                .registers()
                .iter()
                .enumerate()
                .map(|(i, v)| (i as u32, Value::I32(*v)))
                .collect()),
            S::PduIn(ty) => one(Value::U32(match ty {
                Some(t) => s.pdus_in(t).unwrap_or(0),
                None => s.total_in(),
            } as u32)),
            S::PduOut(ty) => one(Value::U32(match ty {
                Some(t) => s.pdus_out(t).unwrap_or(0),
                None => s.total_out(),
            } as u32)),
            S::AgentType => Ok(s
                .agents()
                .iter()
                .map(|(_, d)| (*d, Value::U32(0)))
                .collect()),
            S::AgentStatus => Ok(s
                .agents()
                .iter()
                .map(|(_, d)| (*d, Value::I32(0)))
                .collect()),
            S::AgentFenced => Ok(s
                .agents()
                .iter()
                .map(|(_, d)| (*d, Value::U32(0)))
                .collect()),
            S::AgentName => Ok(s
                .agents()
                .into_iter()
                .map(|(n, d)| (d, Value::String(n)))
                .collect()),
            S::NoInstances => Ok(Vec::new()),
            S::ClientWhoami => Ok(s
                .clients()
                .into_iter()
                .map(|(i, r)| (i, Value::String(r.whoami)))
                .collect()),
            S::ClientStart => Ok(s
                .clients()
                .into_iter()
                .map(|(i, r)| (i, Value::String(facts::ctime(r.start))))
                .collect()),
            S::ClientContainer => Ok(s
                .clients()
                .into_iter()
                .map(|(i, r)| (i, Value::String(r.container)))
                .collect()),
            S::CpuTotal => one(Value::U64(facts::cpu_millis())),
            S::CpuPerPdu => {
                let pdus = s.total_in().max(1) as f64;
                one(Value::Double(facts::cpu_millis() as f64 * 1000.0 / pdus))
            }
            S::Feature(on) => one(Value::U32(u32::from(on))),
            S::UnixSockets => one(Value::U32(u32::from(s.unix_socket))),
        }
    }
}

impl Pmda for PmcdAgent {
    fn name(&self) -> &str {
        "pmcd"
    }

    fn domain(&self) -> u32 {
        PMCD_DOMAIN
    }

    fn namespace(&self) -> &Namespace {
        self.table.namespace()
    }

    fn desc(&self, pmid: Pmid) -> Result<Desc, PmError> {
        self.table.desc(pmid)
    }

    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
        if indom.domain() != PMCD_DOMAIN {
            return Err(PmError::INDOM);
        }
        let s = &self.state;
        Ok(match indom.serial() {
            serial::REGISTERS => (0..16).map(|i| Instance::new(i, i.to_string())).collect(),
            serial::AGENTS => s
                .agents()
                .into_iter()
                .map(|(n, d)| Instance::new(d, n))
                .collect(),
            serial::CLIENTS => s
                .clients()
                .into_iter()
                .map(|(i, _)| Instance::new(i, i.to_string()))
                .collect(),
            serial::PMLOGGERS | serial::PMIES | serial::BUFFERS => Vec::new(),
            _ => return Err(PmError::INDOM),
        })
    }

    fn text(
        &self,
        target: TextTarget,
        kind: TextKind,
        _client: &ClientContext,
    ) -> Result<String, PmError> {
        self.table.text(target, kind)
    }

    fn fetch(&mut self, req: &FetchRequest<'_>) -> Vec<MetricResult> {
        req.pmids
            .iter()
            .map(|p| match self.sources.get(p) {
                Some(&src) => self.value(src, *p),
                None => Err(PmError::PMID),
            })
            .collect()
    }

    fn store(
        &mut self,
        pmid: Pmid,
        values: &[(u32, Value)],
        client: &ClientContext,
    ) -> Result<(), PmError> {
        match self.sources.get(&pmid) {
            Some(S::ClientWhoami) => {
                let Some((_, Value::String(who))) = values.first() else {
                    return Err(PmError::TYPE);
                };
                let who = who.clone();
                self.state.update_client(client.slot, |r| r.whoami = who);
                Ok(())
            }
            Some(S::Register) => {
                for (inst, v) in values {
                    let Value::I32(v) = v else {
                        return Err(PmError::TYPE);
                    };
                    if *inst >= 16 {
                        return Err(PmError::INST);
                    }
                    self.state.set_register(*inst as usize, *v);
                }
                Ok(())
            }
            Some(_) => Err(PmError::PERMISSION),
            None => Err(PmError::PMID),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::check_agent;

    fn agent() -> (PmcdAgent, Arc<ServerState>) {
        let state = Arc::new(ServerState::new("9.9", 5, true));
        state.set_agents(vec![("pmcd".into(), 2), ("simple".into(), 253)]);
        (PmcdAgent::new(Arc::clone(&state)), state)
    }

    #[test]
    fn answers_follow_every_rule() {
        let (mut a, state) = agent();
        state.add_client();
        let report = check_agent(&mut a).expect("pmcd agent obeys the answer rules");
        assert_eq!(report.metrics, 108, "pmcd 6.0.3 has 108 pmcd.* metrics");
    }

    #[test]
    fn pdu_counters_sit_at_pmcds_items() {
        let (a, _) = agent();
        let ns = a.namespace();
        let at = |n: &str| ns.lookup(n).unwrap();
        assert_eq!(at("pmcd.pdu_in.control_req"), Pmid::from_parts(2, 1, 10));
        assert_eq!(at("pmcd.pdu_in.creds"), Pmid::from_parts(2, 1, 12));
        assert_eq!(at("pmcd.pdu_in.total"), Pmid::from_parts(2, 1, 16));
        assert_eq!(at("pmcd.pdu_out.pmns_traverse"), Pmid::from_parts(2, 2, 17));
        assert_eq!(at("pmcd.pdu_out.descs"), Pmid::from_parts(2, 2, 24));
    }

    #[test]
    fn whoami_is_the_storing_clients_own() {
        let (mut a, state) = agent();
        let me = state.add_client();
        let other = state.add_client();
        let whoami = a.namespace().lookup("pmcd.client.whoami").unwrap();
        let client = ClientContext {
            slot: other,
            ..Default::default()
        };
        a.store(
            whoami,
            &[(PM_IN_NULL, Value::String("pmval".into()))],
            &client,
        )
        .unwrap();
        let rows = state.clients();
        assert_eq!(rows[me as usize].1.whoami, "");
        assert_eq!(rows[other as usize].1.whoami, "pmval");
        let pid = a.namespace().lookup("pmcd.pid").unwrap();
        assert_eq!(
            a.store(pid, &[(PM_IN_NULL, Value::U64(1))], &client),
            Err(PmError::PERMISSION)
        );
    }
}
