//! `/proc/net/dev` counters and `/sys/class/net/IF/*` attributes.
//!
//! Parsed by hand rather than with `procfs::InterfaceDeviceStatus`, whose
//! map loses the file's order; pmdalinux numbers new interfaces in the
//! order the file lists them.

use std::path::Path;

use crate::read::{fields, lines, parse_u64, read_attr};

/// Receive bytes, packets, errs, drop, fifo, frame, compressed, multicast,
/// then transmit bytes, packets, errs, drop, fifo, colls, carrier,
/// compressed: the 16 columns of /proc/net/dev.
pub type IfCounters = [u64; 16];

/// Column indexes.
pub mod col {
    /// Bytes received.
    pub const RX_BYTES: usize = 0;
    /// Packets received.
    pub const RX_PACKETS: usize = 1;
    /// Receive errors.
    pub const RX_ERRS: usize = 2;
    /// Receive drops.
    pub const RX_DROP: usize = 3;
    /// Receive FIFO errors.
    pub const RX_FIFO: usize = 4;
    /// Receive frame errors.
    pub const RX_FRAME: usize = 5;
    /// Compressed received.
    pub const RX_COMPRESSED: usize = 6;
    /// Multicast received.
    pub const RX_MULTICAST: usize = 7;
    /// Bytes sent.
    pub const TX_BYTES: usize = 8;
    /// Packets sent.
    pub const TX_PACKETS: usize = 9;
    /// Transmit errors.
    pub const TX_ERRS: usize = 10;
    /// Transmit drops.
    pub const TX_DROP: usize = 11;
    /// Transmit FIFO errors.
    pub const TX_FIFO: usize = 12;
    /// Collisions.
    pub const TX_COLLS: usize = 13;
    /// Carrier errors.
    pub const TX_CARRIER: usize = 14;
    /// Compressed sent.
    pub const TX_COMPRESSED: usize = 15;
}

/// One interface line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetIf {
    /// Interface name.
    pub name: String,
    /// Its counters.
    pub c: IfCounters,
}

/// A line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine(pub String);

/// Parses /proc/net/dev into `out`, reusing its entries' allocations.
pub fn parse_net_dev(buf: &[u8], out: &mut Vec<NetIf>) -> Result<(), BadLine> {
    let mut n = 0;
    for line in lines(buf) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = std::str::from_utf8(&line[..colon])
            .map_err(|_| bad(line))?
            .trim();
        if name.is_empty() || name.contains('|') {
            continue;
        }
        let mut c = [0u64; 16];
        let mut k = 0;
        for (slot, f) in c.iter_mut().zip(fields(&line[colon + 1..])) {
            *slot = parse_u64(f).ok_or_else(|| bad(line))?;
            k += 1;
        }
        if k != 16 {
            return Err(bad(line));
        }
        if n < out.len() {
            let e = &mut out[n];
            if e.name != name {
                e.name.clear();
                e.name.push_str(name);
            }
            e.c = c;
        } else {
            out.push(NetIf {
                name: name.to_string(),
                c,
            });
        }
        n += 1;
    }
    out.truncate(n);
    Ok(())
}

fn bad(line: &[u8]) -> BadLine {
    BadLine(String::from_utf8_lossy(line).into_owned())
}

/// `IFF_UP`.
const IFF_UP: u64 = 0x1;

/// Sysfs facts about one interface, each `None` when unreadable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IfAttrs {
    /// MTU in bytes.
    pub mtu: Option<u32>,
    /// Speed in Mbit/s as the kernel reports it (-1 when unknown).
    pub speed: Option<i64>,
    /// 1 half, 2 full.
    pub duplex: Option<u32>,
    /// IFF_UP.
    pub up: Option<u32>,
    /// IFF_RUNNING as ioctl(SIOCGIFFLAGS) reports it: up and the
    /// operational state "up" or "unknown".
    pub running: Option<u32>,
    /// ARPHRD type.
    pub ty: Option<u32>,
    /// A wireless device.
    pub wireless: u32,
    /// A virtual (software) device.
    pub virt: u32,
}

/// Which attribute groups a fetch needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct AttrNeed {
    /// mtu.
    pub mtu: bool,
    /// speed/baudrate.
    pub speed: bool,
    /// duplex.
    pub duplex: bool,
    /// up/running (flags + operstate).
    pub flags: bool,
    /// type.
    pub ty: bool,
    /// wireless/virtual.
    pub kind: bool,
}

impl AttrNeed {
    /// True if anything is needed.
    pub fn any(&self) -> bool {
        self.mtu || self.speed || self.duplex || self.flags || self.ty || self.kind
    }
}

/// Reads the needed attributes of `name` from `ROOT/sys/class/net/NAME`.
pub fn read_attrs(root: &Path, name: &str, need: AttrNeed, scratch: &mut Vec<u8>) -> IfAttrs {
    let dir = root.join("sys/class/net").join(name);
    let mut a = IfAttrs::default();
    let num = |file: &str, scratch: &mut Vec<u8>| read_attr(&dir.join(file), scratch);
    if need.mtu {
        a.mtu = num("mtu", scratch).and_then(|s| s.parse().ok());
    }
    if need.speed {
        a.speed = num("speed", scratch).and_then(|s| s.parse().ok());
    }
    if need.duplex {
        a.duplex = num("duplex", scratch).and_then(|s| match s.as_str() {
            "half" => Some(1),
            "full" => Some(2),
            _ => None,
        });
    }
    if need.flags {
        let flags = num("flags", scratch)
            .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
        if let Some(f) = flags {
            let up = f & IFF_UP != 0;
            a.up = Some(up as u32);
            let oper = num("operstate", scratch).unwrap_or_default();
            a.running = Some((up && (oper == "up" || oper == "unknown")) as u32);
        }
    }
    if need.ty {
        a.ty = num("type", scratch).and_then(|s| s.parse().ok());
    }
    if need.kind {
        a.wireless = dir.join("wireless").exists() as u32;
        a.virt = is_virtual(root, name) as u32;
    }
    a
}

/// True for a software interface (its sysfs node lives under
/// `/sys/devices/virtual/net`).
pub fn is_virtual(root: &Path, name: &str) -> bool {
    root.join("sys/devices/virtual/net").join(name).exists()
}

/// pmdalinux's pattern of interfaces left out of the `network.all.*`
/// sums when its `interfaces.conf` is missing, empty or invalid.
pub const DEFAULT_NOT_COUNTED: &str = "^(lo|bond[0-9]+|team[0-9]+|face)$";

/// Where pmdalinux's pattern of interfaces left out of `network.all.*`
/// lives, under the root (`$PCP_SYSCONF_DIR/linux/interfaces.conf`, with
/// `PCP_SYSCONF_DIR=/etc/pcp` on Linux).
pub const INTERFACES_CONF: &str = "etc/pcp/linux/interfaces.conf";

/// The interfaces whose counters do not go into the `network.all.*`
/// sums, as pmdalinux decides it: the names matching a POSIX extended
/// regular expression, read from `interfaces.conf` with `#` comments and
/// every white space character removed (so the pattern may span lines).
pub fn not_counted_pattern(conf_text: Option<&str>) -> regex::Regex {
    let pattern: Option<String> = conf_text.map(|text| {
        text.lines()
            .flat_map(|l| l.split('#').next().unwrap_or("").chars())
            .filter(|c| !c.is_ascii_whitespace())
            .collect()
    });
    pattern
        .filter(|p| !p.is_empty())
        .and_then(|p| regex::Regex::new(&p).ok())
        .unwrap_or_else(|| regex::Regex::new(DEFAULT_NOT_COUNTED).expect("valid default"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_interfaces_follow_interfaces_conf() {
        let default = not_counted_pattern(None);
        for name in ["lo", "bond0", "team12", "face"] {
            assert!(default.is_match(name), "{name}");
        }
        for name in ["eth0", "lo0", "bond", "docker0", "br0"] {
            assert!(!default.is_match(name), "{name}");
        }
        // Debian's file: the pattern spans lines, with comments.
        let conf = "# comment (x|y)\n^(lo |\n  tun[0-9]+ |   # tunnels\n  veth[0-9]+ |\n  face)$\n";
        let p = not_counted_pattern(Some(conf));
        assert!(p.is_match("tun0") && p.is_match("veth3") && p.is_match("lo"));
        assert!(!p.is_match("eth0") && !p.is_match("x"));
        // Empty or invalid: the default.
        assert!(not_counted_pattern(Some("# only a comment\n")).is_match("bond1"));
        assert!(not_counted_pattern(Some("^(lo")).is_match("team0"));
    }

    #[test]
    fn parses_and_reuses() {
        let text = b"Inter-|   Receive                                                |  Transmit\n \
face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n\
    lo:  350315     258    0    0    0     0          0         0   350315     258    0    0    0     0       0          0\n\
  eth0: 84888519    2247    1    2    3     4          5         6   116853    1273    7    8    9    10       11          12\n";
        let mut v = Vec::new();
        parse_net_dev(text, &mut v).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].name, "eth0");
        assert_eq!(v[1].c[col::RX_BYTES], 84888519);
        assert_eq!(v[1].c[col::TX_COMPRESSED], 12);
        parse_net_dev(b"eth0: 1 2 3\n", &mut v).unwrap_err();
    }
}
