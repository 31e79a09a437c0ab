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

use crate::agent::{Agent, Metrics, Sink, Spec, TablePmda};
use crate::desc::{Semantics, Type, Units};
use crate::error::PmError;
use crate::id::InDom;
use crate::indom::Instance;
use crate::pdu::types;
use crate::pmda::ClientContext;
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

/// Where a metric's value comes from (the agent's handle for a metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Always zero (flags and triggers this server does not have).
    Zero,
    /// The data segment size.
    DataSize,
    /// The number of agents.
    NumAgents,
    /// The number of clients.
    NumClients,
    /// The agent deadline.
    Timeout,
    /// The timezone.
    Timezone,
    /// The zoneinfo name.
    Zoneinfo,
    /// The architecture.
    Simabi,
    /// The server version.
    Version,
    /// The services running.
    Services,
    /// The highest open descriptor.
    OpenFds,
    /// The build.
    Build,
    /// The host name.
    Hostname,
    /// The process id.
    Pid,
    /// The configuration sequence number.
    Seqnum,
    /// Configured context labels.
    Labels,
    /// The registers.
    Register,
    /// PDUs received of a type (`None`: all).
    PduIn(Option<u32>),
    /// PDUs sent of a type (`None`: all).
    PduOut(Option<u32>),
    /// How each agent is attached.
    AgentType,
    /// Each agent's state.
    AgentStatus,
    /// Each agent's name.
    AgentName,
    /// Whether each agent is fenced.
    AgentFenced,
    /// An instance domain this server never fills.
    NoInstances,
    /// Each client's identity.
    ClientWhoami,
    /// Each client's start.
    ClientStart,
    /// Each client's container.
    ClientContainer,
    /// CPU time.
    CpuTotal,
    /// CPU time per PDU.
    CpuPerPdu,
    /// A feature, on or off.
    Feature(bool),
    /// Whether a unix socket is served.
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

/// `pmcd.control.*`, first in pmcd's namespace (PCP's `root_pmcd` order,
/// which `pminfo pmcd` follows).
#[rustfmt::skip]
const CONTROL: &[Row] = &[
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

/// The metrics after the PDU counters, in pmcd's namespace order.
#[rustfmt::skip]
const REST: &[Row] = &[
    ("pmcd.datasize", 0, 1, U32, None, Instant, Units::KBYTES, S::DataSize, "Data segment size of the server process"),
    ("pmcd.numagents", 0, 2, U32, None, Instant, NONE, S::NumAgents, "Number of agents the server hosts"),
    ("pmcd.agent.type", 4, 0, U32, Some(serial::AGENTS), Discrete, NONE, S::AgentType, "How each agent is attached: 0 in process, 4 a pipe agent"),
    ("pmcd.agent.status", 4, 1, I32, Some(serial::AGENTS), Discrete, NONE, S::AgentStatus, "State of each agent: 0 when it answers"),
    ("pmcd.agent.fenced", 4, 2, U32, Some(serial::AGENTS), Instant, NONE, S::AgentFenced, "Whether each agent is fenced off from requests (never here)"),
    ("pmcd.agent.name", 4, 3, STR, Some(serial::AGENTS), Discrete, NONE, S::AgentName, "Name of each agent"),
    ("pmcd.numclients", 0, 3, U32, None, Instant, NONE, S::NumClients, "Number of clients connected now"),
    ("pmcd.pmlogger.host", 3, 3, STR, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Host of each registered pmlogger (none register here)"),
    ("pmcd.pmlogger.port", 3, 0, U32, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Control port of each registered pmlogger"),
    ("pmcd.pmlogger.archive", 3, 2, STR, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Archive of each registered pmlogger"),
    ("pmcd.pmlogger.pmcd_host", 3, 1, STR, Some(serial::PMLOGGERS), Discrete, NONE, S::NoInstances, "Host each registered pmlogger collects from"),
    ("pmcd.timezone", 0, 5, STR, None, Discrete, NONE, S::Timezone, "Timezone of the host, in the form PCP writes into archives"),
    ("pmcd.zoneinfo", 0, 26, STR, None, Discrete, NONE, S::Zoneinfo, "Zoneinfo name of the host's timezone, or empty"),
    ("pmcd.simabi", 0, 6, STR, None, Discrete, NONE, S::Simabi, "Processor architecture the server was built for"),
    ("pmcd.version", 0, 7, STR, None, Discrete, NONE, S::Version, "Version of the server"),
    ("pmcd.services", 0, 16, STR, None, Instant, NONE, S::Services, "PCP services running on this host"),
    ("pmcd.openfds", 0, 17, U32, None, Instant, NONE, S::OpenFds, "Highest open file descriptor of the server"),
    ("pmcd.build", 0, 20, STR, None, Discrete, NONE, S::Build, "Build of the server"),
    ("pmcd.hostname", 0, 21, STR, None, Discrete, NONE, S::Hostname, "Name of this host"),
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
    ("pmcd.sighups", 0, 22, U32, None, Counter, COUNT, S::Zero, "Reconfiguration signals received (none: this server reloads nothing)"),
    ("pmcd.pid", 0, 23, Type::U64, None, Discrete, NONE, S::Pid, "Process id of the server"),
    ("pmcd.seqnum", 0, 24, U32, None, Discrete, NONE, S::Seqnum, "Configuration sequence number: moves when the namespace changes"),
    ("pmcd.labels", 0, 25, STR, None, Instant, NONE, S::Labels, "Context labels added by configuration (none here)"),
];

/// The `pmcd` agent's data: the server's state and this host's name.
#[derive(Debug)]
pub struct PmcdData {
    state: Arc<ServerState>,
    hostname: String,
}

/// The `pmcd` agent: [`PmcdData`] on the table-driven layer.
pub type PmcdAgent = TablePmda<PmcdData>;

fn add_row(table: &mut Metrics<Source>, row: &Row) {
    let &(name, cluster, item, ty, indom, sem, units, src, help) = row;
    let spec = Spec {
        cluster,
        item,
        ty,
        sem,
        units,
        indom,
    };
    let r = table
        .add(name, spec, src)
        .expect("the pmcd table has unique names and PMIDs");
    r.oneline = help.into();
    r.storable = matches!(src, S::ClientWhoami | S::Register);
}

/// The `pmcd` agent publishing `state`.
pub fn pmcd_agent(state: Arc<ServerState>) -> PmcdAgent {
    let mut table = Metrics::new(PMCD_DOMAIN);
    for row in CONTROL {
        add_row(&mut table, row);
    }
    for (cluster, dir, what) in [(1, "pdu_in", "received"), (2, "pdu_out", "sent")] {
        for (k, &(suffix, ty)) in PDUS.iter().enumerate() {
            let help = match ty {
                Some(t) => format!("{} PDUs {what}", crate::pdu::type_name(t)),
                None => format!("PDUs {what} in all"),
            };
            let spec = Spec {
                cluster,
                // pmcd skips item 11 (the retired 0x700b).
                item: if k < 11 { k as u32 } else { k as u32 + 1 },
                ty: U32,
                sem: Counter,
                units: COUNT,
                indom: None,
            };
            let src = if cluster == 1 {
                S::PduIn(ty)
            } else {
                S::PduOut(ty)
            };
            let r = table
                .add(format!("pmcd.{dir}.{suffix}"), spec, src)
                .expect("the pmcd table has unique names and PMIDs");
            r.oneline = help.into();
        }
    }
    for row in REST {
        add_row(&mut table, row);
    }
    for (serial, what) in [
        (
            serial::PMLOGGERS,
            "Instances: pmloggers registered with the server",
        ),
        (
            serial::REGISTERS,
            "Instances: the registers of pmcd.control.register",
        ),
        (
            serial::AGENTS,
            "Instances: the agents the server hosts, by domain",
        ),
        (
            serial::PMIES,
            "Instances: pmie processes registered with the server",
        ),
        (serial::BUFFERS, "Instances: PDU buffer sizes"),
        (serial::CLIENTS, "Instances: connected clients, by slot"),
    ] {
        table.set_indom_text(serial, what, "");
    }
    let data = PmcdData {
        state,
        hostname: facts::hostname(),
    };
    TablePmda::with_table("pmcd", data, table)
}

impl Agent for PmcdData {
    type Metric = Source;

    fn value(&mut self, src: Source, out: &mut Sink<'_>) -> Result<(), PmError> {
        let s = &self.state;
        match src {
            S::Zero => match out.desc().ty {
                Type::I32 => out.set(0i32),
                _ => out.set(0u32),
            },
            S::DataSize => out.set(facts::data_kib()),
            S::NumAgents => out.set(s.agents().len() as u32),
            S::NumClients => out.set(s.clients().len() as u32),
            S::Timeout => out.set(s.timeout_secs),
            S::Timezone => out.set(facts::timezone()),
            S::Zoneinfo => out.set(facts::zoneinfo()),
            S::Simabi => out.set(std::env::consts::ARCH),
            S::Version => out.set(s.version.as_str()),
            S::Services => out.set("pmcd"),
            S::OpenFds => out.set(facts::highest_fd()),
            S::Build => out.set("pcp-agent"),
            S::Hostname => out.set(self.hostname.as_str()),
            S::Pid => out.set(u64::from(s.pid)),
            S::Seqnum => out.set(s.seqnum()),
            S::Labels => out.set(""),
            S::Register => out.put_all(
                s.registers()
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i as u32, *v)),
            ),
            S::PduIn(ty) => out.set(ty.map_or(s.total_in(), |t| s.pdus_in(t).unwrap_or(0)) as u32),
            S::PduOut(ty) => {
                out.set(ty.map_or(s.total_out(), |t| s.pdus_out(t).unwrap_or(0)) as u32)
            }
            S::AgentType => out.put_all(s.agent_types().into_iter().map(|(d, t, _)| (d, t))),
            S::AgentFenced => out.put_all(s.agents().iter().map(|(_, d)| (*d, 0u32))),
            S::AgentStatus => out.put_all(s.agent_types().into_iter().map(|(d, _, st)| (d, st))),
            S::AgentName => out.put_all(s.agents().into_iter().map(|(n, d)| (d, n))),
            S::NoInstances => {}
            S::ClientWhoami => out.put_all(s.clients().into_iter().map(|(i, r)| (i, r.whoami))),
            S::ClientStart => out.put_all(
                s.clients()
                    .into_iter()
                    .map(|(i, r)| (i, facts::ctime(r.start))),
            ),
            S::ClientContainer => {
                out.put_all(s.clients().into_iter().map(|(i, r)| (i, r.container)))
            }
            S::CpuTotal => out.set(facts::cpu_millis()),
            S::CpuPerPdu => {
                let pdus = s.total_in().max(1) as f64;
                out.set(facts::cpu_millis() as f64 * 1000.0 / pdus)
            }
            S::Feature(on) => out.set(u32::from(on)),
            S::UnixSockets => out.set(u32::from(s.unix_socket)),
        }
        Ok(())
    }

    fn instances(
        &mut self,
        indom: InDom,
        _client: &ClientContext,
    ) -> Result<Vec<Instance>, PmError> {
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

    fn store(
        &mut self,
        src: Source,
        inst: u32,
        value: &Value,
        client: &ClientContext,
    ) -> Result<(), PmError> {
        match (src, value) {
            // The client's own row, whatever instance it names (pmcd does
            // the same: libpcp stores it with PM_IN_NULL).
            (S::ClientWhoami, Value::String(who)) => {
                let who = who.clone();
                self.state.update_client(client.slot, |r| r.whoami = who);
                Ok(())
            }
            (S::Register, Value::I32(v)) if inst < 16 => {
                self.state.set_register(inst as usize, *v);
                Ok(())
            }
            (S::Register, _) => Err(PmError::INST),
            _ => Err(PmError::PERMISSION),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{Pmid, PM_IN_NULL};
    use crate::testing::check_agent;
    use crate::Pmda;

    fn agent() -> (PmcdAgent, Arc<ServerState>) {
        let state = Arc::new(ServerState::new("9.9", 5, true));
        state.set_agents(vec![("pmcd".into(), 2), ("simple".into(), 253)]);
        (pmcd_agent(Arc::clone(&state)), state)
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
        assert!(a
            .store(pid, &[(PM_IN_NULL, Value::U64(1))], &client)
            .is_err());
    }
}
