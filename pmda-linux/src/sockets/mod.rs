//! The `sockets` collector: sockets in use per protocol
//! (`/proc/net/sockstat`, `sockstat6`), TCP and UDP sockets by state
//! (`network.tcpconn*`, `network.udpconn*`), unix domain sockets by type
//! and state (`network.unix.*`) and raw sockets (`network.rawconn*`).
//!
//! On the live system TCP sockets of both families are counted with one
//! sock_diag netlink dump ([`sockdiag`]) instead of reading
//! `/proc/net/tcp` and `tcp6` (the kernel walks its TCP hash table once
//! instead of twice, and formats no text); where netlink is unavailable,
//! and on fixture trees, the files are read.
//!
//! For a client's container (`src/namespace.rs`) every file is its
//! network namespace's, read through one of its processes
//! (`/proc/PID/net/tcp`...): the agent's netlink socket is the host's.

pub mod sockdiag;
pub mod tables;

use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::keyed::{Derive, Field, Keyed};
use crate::namespace::View;
use crate::system::System;
use crate::value::Put;
use tables::UnixCounts;

/// /proc/net/sockstat and sockstat6.
const SOCKSTAT: Need = Need::new(Id::Sockets, 0);
const SOCKSTAT6: Need = Need::new(Id::Sockets, 1);
/// The socket tables counted by state, in [`TABLES`] order.
const CONNS: [Need; 4] = [
    Need::new(Id::Sockets, 2),
    Need::new(Id::Sockets, 3),
    Need::new(Id::Sockets, 4),
    Need::new(Id::Sockets, 5),
];
/// /proc/net/unix.
const UNIX: Need = Need::new(Id::Sockets, 6);
/// /proc/net/raw and raw6.
const RAW: Need = Need::new(Id::Sockets, 7);
const RAW6: Need = Need::new(Id::Sockets, 8);

/// The socket tables counted by state: metric prefix and file.
const TABLES: [(&str, &str); 4] = [
    ("network.tcpconn.", "proc/net/tcp"),
    ("network.tcpconn6.", "proc/net/tcp6"),
    ("network.udpconn.", "proc/net/udp"),
    ("network.udpconn6.", "proc/net/udp6"),
];

/// The kernel's socket states, numbered from 1.
const STATES: [&str; 11] = [
    "established",
    "syn_sent",
    "syn_recv",
    "fin_wait1",
    "fin_wait2",
    "time_wait",
    "close",
    "close_wait",
    "last_ack",
    "listen",
    "closing",
];

/// Where the live system's TCP counts come from.
#[derive(Debug)]
enum TcpDiag {
    /// Not tried yet: the netlink socket opens on first use.
    Untried,
    /// Counting over this netlink socket.
    Open(sockdiag::SockDiag),
    /// Not the live system, or netlink failed: the files are read.
    Unavailable,
}

/// The collector's state.
#[derive(Debug)]
pub struct Sockets {
    sockstat: [(Keyed, Vec<Field>); 2],
    /// Sockets per state of each of [`TABLES`].
    conns: [[u64; 12]; 4],
    unix: UnixCounts,
    raw: [u64; 2],
    diag: TcpDiag,
}

impl Sockets {
    pub(crate) fn new(sys: &System) -> Sockets {
        Sockets {
            sockstat: Default::default(),
            conns: [[0; 12]; 4],
            unix: [0; 4],
            raw: [0; 2],
            diag: if sys.live() {
                TcpDiag::Untried
            } else {
                TcpDiag::Unavailable
            },
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, mut want: u32) {
        for (i, (need, rel)) in [
            (SOCKSTAT, "proc/net/sockstat"),
            (SOCKSTAT6, "proc/net/sockstat6"),
        ]
        .into_iter()
        .enumerate()
        {
            if want & need.bit != 0 {
                let k = &mut self.sockstat[i].0;
                sys.parse_in_view(need, rel, |b| k.parse_sockstat(b, true));
            }
        }
        // A container's sockets are counted from its files: the netlink
        // socket is the host's namespace's.
        let host = sys.view() == View::Host;
        if want & (CONNS[0].bit | CONNS[1].bit) != 0 && host && self.tcp_diag() {
            sys.done(CONNS[0], Ok(()));
            sys.done(CONNS[1], Ok(()));
            want &= !(CONNS[0].bit | CONNS[1].bit);
        }
        for (i, need) in CONNS.iter().enumerate() {
            if want & need.bit != 0 {
                let c = &mut self.conns[i];
                sys.parse_in_view(*need, TABLES[i].1, |b| {
                    *c = tables::parse_sockets(b)?;
                    Ok(())
                });
            }
        }
        if want & UNIX.bit != 0 {
            let u = &mut self.unix;
            sys.parse_in_view(UNIX, "proc/net/unix", |b| {
                *u = tables::count_unix(b);
                Ok(())
            });
        }
        for (i, (need, rel)) in [(RAW, "proc/net/raw"), (RAW6, "proc/net/raw6")]
            .into_iter()
            .enumerate()
        {
            if want & need.bit != 0 {
                let r = &mut self.raw[i];
                sys.parse_in_view(need, rel, |b| {
                    *r = tables::count_raw(b);
                    Ok(())
                });
            }
        }
    }

    /// Counts the live system's TCP sockets (both families) over
    /// netlink; false when that is unavailable (then the files are read).
    fn tcp_diag(&mut self) -> bool {
        if matches!(self.diag, TcpDiag::Untried) {
            self.diag = match sockdiag::SockDiag::open() {
                Ok(s) => TcpDiag::Open(s),
                Err(e) => {
                    eprintln!(
                        "pmda-linux: sock_diag netlink unavailable ({e}); reading /proc/net/tcp"
                    );
                    TcpDiag::Unavailable
                }
            };
        }
        let TcpDiag::Open(diag) = &mut self.diag else {
            return false;
        };
        match diag.tcp_states() {
            Ok([v4, v6]) => {
                self.conns[0] = v4;
                self.conns[1] = v6;
                true
            }
            Err(e) => {
                eprintln!(
                    "pmda-linux: sock_diag dump failed ({e}); reading /proc/net/tcp from now on"
                );
                self.diag = TcpDiag::Unavailable;
                false
            }
        }
    }
}

/// A `network.sockstat.` metric: its key in sockstat (cluster 11) or
/// sockstat6 (cluster 73); the argument is the field's index, plus 1024
/// for sockstat6.
fn sockstat(c: &mut Collectors, rest: &str, cluster: u32) -> Option<u32> {
    let six = usize::from(cluster == 73);
    let key = if rest == "total" {
        "sockets.used"
    } else {
        rest
    };
    let (k, fields) = &mut c.sockets.sockstat[six];
    let slot = k.slot(key);
    fields.push(Field {
        slot,
        derive: Derive::None,
    });
    Some((fields.len() - 1) as u32 + 1024 * six as u32)
}

fn sockstat_help(name: &str) -> (String, String) {
    if name == "network.sockstat.total" {
        return (
            "sockets in use, all protocols".into(),
            "Sockets in use across all protocols, from /proc/net/sockstat.".into(),
        );
    }
    let parts: Vec<&str> = name.split('.').collect();
    let proto = parts[2].to_uppercase().replace('6', "v6");
    let last = parts[parts.len() - 1];
    let what = match last {
        "inuse" => "sockets in use",
        "orphan" => "orphaned sockets",
        "tw" => "sockets in TIME_WAIT",
        "alloc" => "sockets allocated",
        "mem" => "pages of socket buffer memory",
        "memory" => "bytes of reassembly memory",
        other => other,
    };
    let src = if parts[2].ends_with('6') {
        "/proc/net/sockstat6"
    } else {
        "/proc/net/sockstat"
    };
    (
        format!("{proto} {what}"),
        format!("{proto} {what}, from {src}."),
    )
}

/// A state's number in the socket tables; an unconnected UDP socket sits
/// in TCP_CLOSE, which pmdalinux counts as listening.
fn state(table: usize, rest: &str) -> Option<u32> {
    let st = STATES.iter().position(|s| *s == rest)? as u32 + 1;
    Some(if table >= 2 && rest == "listen" {
        7
    } else {
        st
    })
}

fn conn_help(name: &str) -> (String, String) {
    let parts: Vec<&str> = name.split('.').collect();
    let (table, state) = (parts[1], parts[2]);
    let proto = match table {
        "tcpconn" => "TCP",
        "tcpconn6" => "TCP over IPv6",
        "udpconn" => "UDP",
        _ => "UDP over IPv6",
    };
    let file = format!("/proc/net/{}", table.replace("conn", ""));
    if table.starts_with("udp") && state == "listen" {
        return (
            format!("{proto} sockets not connected"),
            format!("{proto} sockets bound but not connected (state CLOSE in {file})."),
        );
    }
    let st = state.to_uppercase();
    (
        format!("{proto} sockets in state {st}"),
        format!("Number of {proto} sockets in state {st}, counted from {file}."),
    )
}

fn conns(
    c: &Collectors,
    table: usize,
    st: u32,
    out: &mut pcp_core::agent::Sink<'_>,
) -> Result<(), PmError> {
    out.set_u64(c.sockets.conns[table][st as usize]);
    Ok(())
}

macro_rules! unix {
    ($name:literal, $i:literal, $one:literal, $help:literal) => {
        Binding::new($name, &[UNIX], |c, _, out| {
            out.set_u64(c.sockets.unix[$i]);
            Ok(())
        })
        .help($one, $help)
    };
}

/// The sockets collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("network.sockstat.", &[SOCKSTAT], sockstat, |c, f, out| {
        let (k, fields) = &c.sockets.sockstat[0];
        out.set_opt(fields.get(f as usize).and_then(|f| k.value(f)));
        Ok(())
    })
    .cluster(11)
    .made_help(sockstat_help),
    Binding::family("network.sockstat.", &[SOCKSTAT6], sockstat, |c, f, out| {
        let (k, fields) = &c.sockets.sockstat[1];
        out.set_opt(fields.get(f as usize - 1024).and_then(|f| k.value(f)));
        Ok(())
    })
    .cluster(73)
    .made_help(sockstat_help),
    Binding::family(
        "network.tcpconn.",
        &[CONNS[0]],
        |_, r, _| state(0, r),
        |c, s, out| conns(c, 0, s, out),
    )
    .made_help(conn_help),
    Binding::family(
        "network.tcpconn6.",
        &[CONNS[1]],
        |_, r, _| state(1, r),
        |c, s, out| conns(c, 1, s, out),
    )
    .made_help(conn_help),
    Binding::family(
        "network.udpconn.",
        &[CONNS[2]],
        |_, r, _| state(2, r),
        |c, s, out| conns(c, 2, s, out),
    )
    .made_help(conn_help),
    Binding::family(
        "network.udpconn6.",
        &[CONNS[3]],
        |_, r, _| state(3, r),
        |c, s, out| conns(c, 3, s, out),
    )
    .made_help(conn_help),
    unix!(
        "network.unix.datagram.count",
        0,
        "unix domain datagram sockets",
        "Datagram sockets in the unix (local) domain, counted from /proc/net/unix."
    ),
    unix!(
        "network.unix.stream.established",
        1,
        "connected unix domain stream sockets",
        "Stream sockets in the unix domain that are connected, counted from /proc/net/unix."
    ),
    unix!(
        "network.unix.stream.listen",
        2,
        "listening unix domain stream sockets",
        "Stream sockets in the unix domain waiting for connections, counted from /proc/net/unix."
    ),
    unix!(
        "network.unix.stream.count",
        3,
        "unix domain stream sockets",
        "All stream sockets in the unix domain, whatever their state, counted from /proc/net/unix."
    ),
    Binding::new("network.rawconn.count", &[RAW], |c, _, out| {
        out.set_u64(c.sockets.raw[0]);
        Ok(())
    })
    .help(
        "raw IPv4 sockets",
        "Raw IPv4 sockets open, the rows of /proc/net/raw.",
    ),
    Binding::new("network.rawconn6.count", &[RAW6], |c, _, out| {
        out.set_u64(c.sockets.raw[1]);
        Ok(())
    })
    .help(
        "raw IPv6 sockets",
        "Raw IPv6 sockets open, the rows of /proc/net/raw6.",
    ),
]];

/// The sockets collector lists no instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[];
