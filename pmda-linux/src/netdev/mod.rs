//! The `netdev` collector: network interfaces, their counters from
//! `/proc/net/dev` (`network.interface.*`, and summed over the physical
//! ones, `network.all.*`), their attributes from `/sys/class/net/IF`
//! and their addresses (`network.interface.{inet,ipv6,hw}_addr`), all in
//! the fetch's namespaces (a client's container's: `src/namespace.rs`).
//! It owns the interface and interface-address
//! instance domains.

pub mod addrs;
pub mod dev;

use pcp_core::agent::Sink;
use pcp_core::{LabelSet, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::namespace::Namespace;
use crate::rows::Rows;
use crate::system::System;
use crate::value::Put;
use addrs::IfAddr;
use dev::{col::*, AttrNeed, IfAttrs, NetIf};

/// /proc/net/dev.
const NETDEV: Need = Need::new(Id::Netdev, 0);
/// The interfaces' sysfs attributes, one source per group.
const MTU: Need = Need::new(Id::Netdev, 1);
const SPEED: Need = Need::new(Id::Netdev, 2);
const DUPLEX: Need = Need::new(Id::Netdev, 3);
const FLAGS: Need = Need::new(Id::Netdev, 4);
const TYPE: Need = Need::new(Id::Netdev, 5);
const KIND: Need = Need::new(Id::Netdev, 6);
/// The interfaces' addresses.
const ADDRS: Need = Need::new(Id::Netdev, 7);

/// The collector's state.
#[derive(Debug)]
pub struct Netdev {
    ifs: Rows<NetIf>,
    /// Each interface's attributes (same order as `ifs`): only the groups
    /// read in this fetch are current.
    attrs: Vec<IfAttrs>,
    addrs: Rows<IfAddr>,
    /// Interfaces left out of the `network.all.*` sums, read once at
    /// start-up as pmdalinux reads it.
    not_counted: regex::Regex,
    scratch: Vec<u8>,
}

impl Netdev {
    pub(crate) fn new(sys: &System) -> Netdev {
        let conf = std::fs::read_to_string(sys.root().join(dev::INTERFACES_CONF)).ok();
        Netdev {
            ifs: Rows::seeded(sys.root(), descs::NET_DEV.serial),
            attrs: Vec::new(),
            addrs: Rows::seeded(sys.root(), descs::NET_ADDR.serial),
            not_counted: dev::not_counted_pattern(conf.as_deref()),
            scratch: Vec::new(),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & NETDEV.bit != 0 {
            let ifs = &mut self.ifs;
            sys.parse_in_view(NETDEV, "proc/net/dev", |b| {
                ifs.set(dev::parse_net_dev(b)?, |n| &n.name);
                Ok(())
            });
        }
        let need = AttrNeed {
            mtu: want & MTU.bit != 0,
            speed: want & SPEED.bit != 0,
            duplex: want & DUPLEX.bit != 0,
            flags: want & FLAGS.bit != 0,
            ty: want & TYPE.bit != 0,
            kind: want & KIND.bit != 0,
        };
        if need.any() {
            self.read_attrs(sys, need);
            for n in [MTU, SPEED, DUPLEX, FLAGS, TYPE, KIND] {
                if want & n.bit != 0 {
                    sys.done(n, Ok(()));
                }
            }
        }
        if want & ADDRS.bit != 0 {
            let outcome = self.read_addrs(sys);
            sys.done(ADDRS, outcome);
        }
    }

    /// Reads the addresses of the interfaces of the fetch's network
    /// namespace; the error is why that namespace could not be joined.
    fn read_addrs(&mut self, sys: &System) -> Result<(), PmError> {
        let view_root = sys.view_root();
        let inet = || {
            if sys.live() {
                sys.in_namespace(Namespace::Net, addrs::live_inet)
            } else {
                let text = std::fs::read_to_string(view_root.join("ifaddrs"));
                Ok(addrs::parse_ifaddrs(&text.unwrap_or_default()))
            }
        };
        let inet6 = sys.view().proc_rel("proc/net/if_inet6");
        let found = addrs::gather(&view_root, inet, sys.root(), &inet6, &mut self.scratch)?;
        self.addrs.set(found, |a| &a.name);
        Ok(())
    }

    /// Reads the attribute groups of `need` of every interface (from the
    /// sysfs the fetch's mount namespace sees).
    fn read_attrs(&mut self, sys: &System, need: AttrNeed) {
        self.attrs.resize(self.ifs.len(), IfAttrs::default());
        let view_root = sys.view_root();
        for (t, n) in self.attrs.iter_mut().zip(self.ifs.items()) {
            let a = dev::read_attrs(&view_root, &n.name, need, &mut self.scratch);
            if need.mtu {
                t.mtu = a.mtu;
            }
            if need.speed {
                t.speed = a.speed;
            }
            if need.duplex {
                t.duplex = a.duplex;
            }
            if need.flags {
                t.up = a.up;
                t.running = a.running;
            }
            if need.ty {
                t.ty = a.ty;
            }
            if need.kind {
                t.wireless = a.wireless;
                t.virt = a.virt;
            }
        }
    }

    /// An attribute of each interface that has it.
    fn attr(&self, out: &mut Sink<'_>, f: impl Fn(&IfAttrs) -> Option<u64>) {
        for (i, (id, _)) in self.ifs.iter().enumerate() {
            if let Some(v) = self.attrs.get(i).and_then(&f) {
                out.put_u64(id, v);
            }
        }
    }
}

/// A counter of /proc/net/dev, or the sum of two.
#[derive(Debug, Clone, Copy)]
enum Counter {
    Col(usize),
    Sum(usize, usize),
}

impl Counter {
    fn of(self, n: &NetIf) -> u64 {
        match self {
            Counter::Col(c) => n.c[c],
            Counter::Sum(a, b) => n.c[a].wrapping_add(n.c[b]),
        }
    }
}

/// The counters after `network.interface.` (and `network.all.`), with
/// their help.
const COUNTERS: &[(&str, Counter, &str, &str)] = &[
    (
        "in.bytes",
        Counter::Col(RX_BYTES),
        "bytes received",
        "Bytes received on the interface, from /proc/net/dev.",
    ),
    (
        "in.packets",
        Counter::Col(RX_PACKETS),
        "packets received",
        "Packets received on the interface, from /proc/net/dev.",
    ),
    (
        "in.errors",
        Counter::Col(RX_ERRS),
        "receive errors",
        "Receive errors the driver reported, from /proc/net/dev.",
    ),
    (
        "in.drops",
        Counter::Col(RX_DROP),
        "received packets dropped",
        "Received packets dropped before reaching the stack, from /proc/net/dev.",
    ),
    (
        "in.fifo",
        Counter::Col(RX_FIFO),
        "receive FIFO overruns",
        "Receive FIFO buffer errors, from /proc/net/dev.",
    ),
    (
        "in.frame",
        Counter::Col(RX_FRAME),
        "receive framing errors",
        "Receive framing errors, from /proc/net/dev.",
    ),
    (
        "in.compressed",
        Counter::Col(RX_COMPRESSED),
        "compressed packets received",
        "Compressed packets received (CSLIP, PPP), from /proc/net/dev.",
    ),
    (
        "in.mcasts",
        Counter::Col(RX_MULTICAST),
        "multicast packets received",
        "Multicast frames received, from /proc/net/dev.",
    ),
    (
        "out.bytes",
        Counter::Col(TX_BYTES),
        "bytes sent",
        "Bytes transmitted on the interface, from /proc/net/dev.",
    ),
    (
        "out.packets",
        Counter::Col(TX_PACKETS),
        "packets sent",
        "Packets transmitted on the interface, from /proc/net/dev.",
    ),
    (
        "out.errors",
        Counter::Col(TX_ERRS),
        "transmit errors",
        "Transmit errors the driver reported, from /proc/net/dev.",
    ),
    (
        "out.drops",
        Counter::Col(TX_DROP),
        "transmitted packets dropped",
        "Packets dropped on the way out, from /proc/net/dev.",
    ),
    (
        "out.fifo",
        Counter::Col(TX_FIFO),
        "transmit FIFO errors",
        "Transmit FIFO buffer errors, from /proc/net/dev.",
    ),
    (
        "collisions",
        Counter::Col(TX_COLLS),
        "collisions on transmit",
        "Collisions detected while transmitting, from /proc/net/dev.",
    ),
    (
        "out.carrier",
        Counter::Col(TX_CARRIER),
        "carrier losses on transmit",
        "Transmit carrier errors, from /proc/net/dev.",
    ),
    (
        "out.compressed",
        Counter::Col(TX_COMPRESSED),
        "compressed packets sent",
        "Compressed packets transmitted, from /proc/net/dev.",
    ),
    (
        "total.bytes",
        Counter::Sum(RX_BYTES, TX_BYTES),
        "bytes received and sent",
        "Bytes received plus bytes sent.",
    ),
    (
        "total.packets",
        Counter::Sum(RX_PACKETS, TX_PACKETS),
        "packets received and sent",
        "Packets received plus packets sent.",
    ),
    (
        "total.errors",
        Counter::Sum(RX_ERRS, TX_ERRS),
        "receive and transmit errors",
        "Receive errors plus transmit errors.",
    ),
    (
        "total.drops",
        Counter::Sum(RX_DROP, TX_DROP),
        "packets dropped in either direction",
        "Received plus transmitted packets dropped.",
    ),
    (
        "total.mcasts",
        Counter::Col(RX_MULTICAST),
        "multicast packets",
        "Multicast packets received (the kernel counts no transmitted multicasts here).",
    ),
];

fn counter(_: &mut Collectors, rest: &str, _: u32) -> Option<u32> {
    COUNTERS.iter().position(|c| c.0 == rest).map(|i| i as u32)
}

fn counter_help(name: &str) -> (String, String) {
    let all = name.starts_with("network.all.");
    let rest = name
        .trim_start_matches("network.interface.")
        .trim_start_matches("network.all.");
    let (_, _, one, long) =
        COUNTERS
            .iter()
            .find(|c| c.0 == rest)
            .copied()
            .unwrap_or(("", Counter::Col(0), "", ""));
    if all {
        (
            format!("{one}, all physical interfaces"),
            format!("{long} Summed over all interfaces that are not virtual (loopback and other software devices are left out)."),
        )
    } else {
        (one.to_string(), long.to_string())
    }
}

/// An interface address of each interface that has one.
fn address(
    c: &Collectors,
    out: &mut Sink<'_>,
    f: fn(&IfAddr) -> Option<&String>,
) -> Result<(), PmError> {
    c.netdev.addrs.put_str(out, |a| f(a).cloned());
    Ok(())
}

macro_rules! attr {
    ($name:literal, $need:expr, $f:expr, $one:literal, $help:literal) => {
        Binding::new($name, &[NETDEV, $need], |c, _, out| {
            c.netdev.attr(out, $f);
            Ok(())
        })
        .help($one, $help)
    };
}

/// The netdev collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family("network.interface.", &[NETDEV], counter, |c, i, out| {
        let f = COUNTERS[i as usize].1;
        c.netdev.ifs.put_u64(out, |n| Some(f.of(n)));
        Ok(())
    })
    .made_help(counter_help),
    Binding::family("network.all.", &[NETDEV], counter, |c, i, out| {
        let f = COUNTERS[i as usize].1;
        let d = &c.netdev;
        let total = d
            .ifs
            .items()
            .filter(|n| !d.not_counted.is_match(&n.name))
            .fold(0u64, |a, n| a.wrapping_add(f.of(n)));
        out.set_u64(total);
        Ok(())
    })
    .made_help(counter_help),
    Binding::new("hinv.ninterface", &[NETDEV], |c, _, out| {
        out.set_u64(c.netdev.ifs.len() as u64);
        Ok(())
    })
    .help("number of network interfaces", "Number of network interfaces in /proc/net/dev."),
    attr!("network.interface.mtu", MTU, |a| Some(u64::from(a.mtu?)), "maximum transmission unit", "The interface MTU in bytes, from /sys/class/net/IF/mtu."),
    // The kernel's "unknown" speed (-1) reads as 2^32-1 Mbit/s through
    // pmdalinux's ethtool path; kept so values agree.
    Binding::new("network.interface.speed", &[NETDEV, SPEED], |c, _, out| {
        let d = &c.netdev;
        for (i, (id, _)) in d.ifs.iter().enumerate() {
            if let Some(s) = d.attrs.get(i).and_then(|a| a.speed) {
                out.put_f64(id, (s as u32 as u64 * 1_000_000 / 8) as f64 / 1_048_576.0);
            }
        }
        Ok(())
    })
    .help(
        "link speed in Mbytes per second",
        "Link speed as reported by the driver (/sys/class/net/IF/speed, Mbit/s) converted to Mbytes per second. No value for links without a speed.",
    ),
    attr!("network.interface.baudrate", SPEED, |a| Some(a.speed? as u32 as u64 * 1_000_000 / 8), "link speed in bytes per second", "Link speed as reported by the driver, in bytes per second."),
    attr!("network.interface.duplex", DUPLEX, |a| Some(u64::from(a.duplex?)), "link duplex: 1 half, 2 full", "Duplex mode of the link: 1 for half duplex, 2 for full duplex; no value when unknown."),
    attr!("network.interface.up", FLAGS, |a| Some(u64::from(a.up?)), "administratively up (1) or down (0)", "1 when the interface is configured up (IFF_UP), else 0."),
    attr!("network.interface.running", FLAGS, |a| Some(u64::from(a.running?)), "operationally running (1) or not (0)", "1 when the interface is up and its link is operational (IFF_RUNNING), else 0."),
    attr!("network.interface.wireless", KIND, |a| Some(u64::from(a.wireless)), "wireless interface (1) or not (0)", "1 when the interface is a wireless device, else 0."),
    attr!("network.interface.type", TYPE, |a| Some(u64::from(a.ty?)), "link-layer type", "The ARPHRD_* link-layer type of the interface (1 is Ethernet, 772 loopback)."),
    attr!("network.interface.virtual", KIND, |a| Some(u64::from(a.virt)), "virtual interface (1) or physical (0)", "1 for software interfaces with no backing device (loopback, bridges, tunnels), else 0."),
    Binding::new("network.interface.inet_addr", &[ADDRS], |c, _, out| address(c, out, |a| a.inet.as_ref()))
        .help(
            "IPv4 address",
            "The IPv4 address of each interface (the first one, for an interface with several); aliases appear under their own label.",
        ),
    Binding::new("network.interface.ipv6_addr", &[ADDRS], |c, _, out| address(c, out, |a| a.ipv6.as_ref()))
        .help(
            "IPv6 address and prefix length",
            "An IPv6 address of each interface with its prefix length, from /proc/net/if_inet6 (the last one listed, for an interface with several).",
        ),
    Binding::new("network.interface.ipv6_scope", &[ADDRS], |c, _, out| address(c, out, |a| a.scope.as_ref()))
        .help(
            "IPv6 address scope",
            "The scope of the address in network.interface.ipv6_addr: Global, Host, Link, Site, Compat or Unknown.",
        ),
    Binding::new("network.interface.hw_addr", &[ADDRS], |c, _, out| address(c, out, |a| a.hw.as_ref()))
        .help(
            "hardware address",
            "The link-layer (MAC) address of each interface, from /sys/class/net/IF/address.",
        ),
]];

/// The interface and interface-address instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::NET_DEV.serial, &[NETDEV], |c| c.netdev.ifs.instances(|n| n.name.clone()))
        .help(
            "set of network interfaces",
            "One instance per interface in /proc/net/dev, named as the kernel names it.",
        )
        .labels(&["interface"], "per interface")
        .instance_labels(|_, insts| {
            insts
                .iter()
                .map(|i| (i.id, LabelSet::new().with("interface", i.name.as_str())))
                .collect()
        }),
    IndomBinding::new(descs::NET_ADDR.serial, &[ADDRS], |c| c.netdev.addrs.instances(|a| a.name.clone()))
        .help(
            "set of network interfaces with addresses",
            "One instance per interface that has a hardware, IPv4 or IPv6 address, named as the kernel names it (an IPv4 alias keeps its label, eth0:1).",
        )
        .labels(&["interface"], "per interface"),
];
