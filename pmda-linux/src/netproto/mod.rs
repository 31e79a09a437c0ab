//! The `netproto` collector: protocol counters of IP, ICMP, TCP, UDP,
//! UDP-Lite (`/proc/net/snmp`, cluster 14), their extensions and MPTCP
//! (`/proc/net/netstat`, cluster 53), the IPv6 ones (`/proc/net/snmp6`,
//! cluster 58), and ICMP messages by type (`network.icmpmsg.*`). Metric
//! names are matched to the files' keys without regard to case. The files
//! are those of the fetch's network namespace (a client's container's:
//! `src/namespace.rs`). It owns the ICMP message type instance domain.

pub mod icmpmsg;

use pcp_core::agent::Sink;
use pcp_core::{Instance, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::keyed::{Derive, Field, Keyed};
use crate::parse::ParseError;
use crate::system::System;
use crate::value::Put;
use icmpmsg::{IcmpMsg, ICMPMSG_TYPES};

/// /proc/net/snmp.
const SNMP: Need = Need::new(Id::Netproto, 0);
/// /proc/net/netstat.
const NETSTAT: Need = Need::new(Id::Netproto, 1);
/// /proc/net/snmp6.
const SNMP6: Need = Need::new(Id::Netproto, 2);
/// The IcmpMsg lines of /proc/net/snmp (their format errors are reported
/// only when their metrics are asked).
const ICMPMSG: Need = Need::new(Id::Netproto, 3);

/// One keyed file and the field of each of its metrics.
#[derive(Debug, Default)]
struct Table {
    keyed: Keyed,
    fields: Vec<Field>,
}

impl Table {
    fn add(&mut self, key: &str, derive: impl FnOnce(&mut Keyed) -> Derive) -> u32 {
        let slot = self.keyed.slot(key);
        let derive = derive(&mut self.keyed);
        self.fields.push(Field { slot, derive });
        (self.fields.len() - 1) as u32
    }

    fn value(&self, f: u32, out: &mut Sink<'_>) -> Result<(), PmError> {
        out.set_opt(
            self.fields
                .get(f as usize)
                .and_then(|f| self.keyed.value(f)),
        );
        Ok(())
    }
}

/// The collector's state.
#[derive(Debug, Default)]
pub struct Netproto {
    snmp: Table,
    netstat: Table,
    snmp6: Table,
    icmpmsg: IcmpMsg,
    /// What was wrong with the IcmpMsg lines, when the rest of
    /// /proc/net/snmp parsed: it fails the icmpmsg metrics only.
    icmpmsg_err: Option<ParseError>,
}

impl Netproto {
    pub(crate) fn new(_: &System) -> Netproto {
        Netproto::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & SNMP.bit != 0 {
            let (k, msg, err) = (
                &mut self.snmp.keyed,
                &mut self.icmpmsg,
                &mut self.icmpmsg_err,
            );
            sys.parse_in_view(SNMP, "proc/net/snmp", |b| {
                k.parse_header_pairs(b, true)?;
                match icmpmsg::parse(b) {
                    Ok(m) => {
                        *msg = m;
                        *err = None;
                    }
                    Err(e) => *err = Some(e),
                }
                Ok(())
            });
        }
        if want & NETSTAT.bit != 0 {
            let k = &mut self.netstat.keyed;
            sys.parse_in_view(NETSTAT, "proc/net/netstat", |b| {
                k.parse_header_pairs(b, true)
            });
        }
        if want & SNMP6.bit != 0 {
            let k = &mut self.snmp6.keyed;
            sys.parse_in_view(SNMP6, "proc/net/snmp6", |b| k.parse_space(b));
        }
        if want & ICMPMSG.bit != 0 {
            let outcome = match self.icmpmsg_err.clone() {
                Some(e) => Err(sys.format_error("proc/net/snmp", e)),
                None => Ok(()),
            };
            sys.done(ICMPMSG, outcome);
        }
    }
}

/// `SECTION.FIELD` after `network.`: the two parts.
fn parts(rest: &str) -> Option<(&str, &str)> {
    let (section, field) = rest.split_once('.')?;
    (!field.contains('.')).then_some((section, field))
}

fn snmp(c: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    let (section, field) = parts(rest)?;
    let field = match field {
        "recvbuferrors" => "rcvbuferrors",
        f => f,
    };
    Some(
        c.netproto
            .snmp
            .add(&format!("{section}.{field}"), |_| Derive::None),
    )
}

fn snmp6(c: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    let (section, field) = parts(rest)?;
    // pmdalinux's snmp6 table answers 0 for a counter the kernel does not
    // print (Ip6InCEPkts before 3.17, Udp6IgnoredMulti before 3.19...).
    Some(
        c.netproto
            .snmp6
            .add(&format!("{section}{field}"), |_| Derive::OrZero),
    )
}

fn netstat(c: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    let (section, field) = parts(rest)?;
    let section = match section {
        "ip" => "ipext",
        "tcp" => "tcpext",
        "mptcp" => "mptcpext",
        other => other,
    };
    // Fields whose pmdalinux names are not the kernel's.
    let field = match field {
        "timewaited" => "tw",
        "timewaitrecycled" => "twrecycled",
        "timewaitkilled" => "twkilled",
        "pawsactiverejected" => "pawsactive",
        "pawsestabrejected" => "pawsestab",
        "pawspassiverejected" => "pawspassive",
        "prequeueddropped" => "tcpprequeuedropped",
        "schedulerfail" => "tcpschedulerfailed",
        "iprpfilter" => "ipreversepathfilter",
        f => f,
    };
    // TcpExt fields mostly carry a "TCP" prefix that pmdalinux's names
    // drop (TCPOFOQueue is network.tcp.ofoqueue), and IpExt's an "In"
    // prefix (InCEPkts is network.ip.cepkts): both spellings are looked
    // for.
    let alt = if section == "tcpext" && !field.starts_with("tcp") {
        Some(format!("tcpext.tcp{field}"))
    } else if section == "ipext" && !field.starts_with("in") && !field.starts_with("out") {
        Some(format!("ipext.in{field}"))
    } else {
        None
    };
    Some(
        c.netproto
            .netstat
            .add(&format!("{section}.{field}"), |k| match alt {
                Some(a) => Derive::Fallback(k.slot(&a)),
                None => Derive::None,
            }),
    )
}

/// The protocol each section of the names is.
fn protocol(section: &str) -> &str {
    match section {
        "ip" => "IP",
        "icmp" => "ICMP",
        "tcp" => "TCP",
        "udp" => "UDP",
        "udplite" => "UDP-Lite",
        "ip6" => "IPv6",
        "icmp6" => "ICMPv6",
        "udp6" => "UDP over IPv6",
        "udplite6" => "UDP-Lite over IPv6",
        "mptcp" => "MPTCP",
        other => other,
    }
}

fn help_from(name: &str, file: &str) -> (String, String) {
    let (section, field) = parts(name.trim_start_matches("network.")).unwrap_or(("", ""));
    let p = protocol(section);
    (
        format!("{p} {field} counter"),
        format!("The {p} protocol statistic {field} from {file}, matched by name without regard to case."),
    )
}

fn icmpmsg(c: &Collectors, dir: usize, out: &mut Sink<'_>) -> Result<(), PmError> {
    for (n, counts) in c.netproto.icmpmsg.types.iter().enumerate() {
        if let Some(v) = counts[dir] {
            out.put_u64(n as u32, v);
        }
    }
    Ok(())
}

/// The netproto collector's metrics: one family per file.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("network.", &[SNMP], snmp, |c, f, out| c.netproto.snmp.value(f, out))
        .cluster(14)
        .made_help(|n| help_from(n, "/proc/net/snmp")),
    Binding::family("network.", &[NETSTAT], netstat, |c, f, out| c.netproto.netstat.value(f, out))
        .cluster(53)
        .made_help(|n| help_from(n, "/proc/net/netstat")),
    Binding::family("network.", &[SNMP6], snmp6, |c, f, out| c.netproto.snmp6.value(f, out))
        .cluster(58)
        .made_help(|n| help_from(n, "/proc/net/snmp6")),
    Binding::new("network.icmpmsg.intype", &[SNMP, ICMPMSG], |c, _, out| icmpmsg(c, 0, out)).help(
        "ICMP messages received, by message type",
        "Count of ICMP messages received of each ICMP type, from the IcmpMsg lines of /proc/net/snmp (the InTypeN columns). One instance per type number 0 to 255, named TypeN with id N; a type the kernel has not counted yet has no value.",
    ),
    Binding::new("network.icmpmsg.outtype", &[SNMP, ICMPMSG], |c, _, out| icmpmsg(c, 1, out)).help(
        "ICMP messages sent, by message type",
        "Count of ICMP messages sent of each ICMP type, from the IcmpMsg lines of /proc/net/snmp (the OutTypeN columns). One instance per type number 0 to 255, named TypeN with id N; a type the kernel has not counted yet has no value.",
    ),
]];

/// The ICMP message types.
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::ICMPMSG.serial, &[], |_| {
    (0..ICMPMSG_TYPES as u32)
        .map(|n| Instance::new(n, format!("Type{n}")))
        .collect()
})
.help(
    "ICMP message types",
    "256 instances, one per ICMP message type number: TypeN with id N, for N from 0 to 255.",
)];
