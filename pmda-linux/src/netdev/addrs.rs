//! Network interface addresses (`network.interface.inet_addr`,
//! `ipv6_addr`, `ipv6_scope`, `hw_addr`), gathered as pmdalinux does:
//! hardware addresses from `/sys/class/net/IF/address` (in directory
//! order), IPv4 addresses from the kernel's interface list (`getifaddrs`
//! on the live host; on a fixture tree, the file `ROOT/ifaddrs` with
//! `NAME ADDRESS` lines), IPv6 addresses and scopes from
//! `/proc/net/if_inet6` (the last line of an interface wins).
//! One instance per interface seen by any of the three.

use std::net::Ipv6Addr;
use std::path::Path;

use pcp_core::PmError;

use crate::read::read_attr;

/// The addresses of one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfAddr {
    /// Interface name (an IPv4 alias keeps its label, `eth0:1`).
    pub name: String,
    /// IPv4 address, dotted.
    pub inet: Option<String>,
    /// IPv6 address with its prefix length (`fe80::1/64`).
    pub ipv6: Option<String>,
    /// IPv6 scope: Global, Host, Link, Site, Compat or Unknown.
    pub scope: Option<String>,
    /// Hardware address as sysfs prints it.
    pub hw: Option<String>,
}

fn entry<'a>(out: &'a mut Vec<IfAddr>, name: &str) -> &'a mut IfAddr {
    let i = match out.iter().position(|a| a.name == name) {
        Some(i) => i,
        None => {
            out.push(IfAddr {
                name: name.to_string(),
                ..Default::default()
            });
            out.len() - 1
        }
    };
    &mut out[i]
}

/// The scope name pmdalinux gives an if_inet6 scope value.
pub fn scope_name(scope: u32) -> &'static str {
    match scope {
        0x00 => "Global",
        0x10 => "Host",
        0x20 => "Link",
        0x40 => "Site",
        0x80 => "Compat",
        _ => "Unknown",
    }
}

/// Parses /proc/net/if_inet6 lines (`ADDR32HEX IFINDEX PLEN SCOPE FLAGS
/// NAME`, numbers in hex) into `out`. Lines that do not parse are skipped.
pub fn parse_if_inet6(text: &str, out: &mut Vec<IfAddr>) {
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[0].len() != 32 {
            continue;
        }
        let Ok(bits) = u128::from_str_radix(f[0], 16) else {
            continue;
        };
        let (Ok(plen), Ok(scope)) = (u32::from_str_radix(f[2], 16), u32::from_str_radix(f[3], 16))
        else {
            continue;
        };
        let e = entry(out, f[5]);
        e.ipv6 = Some(format!("{}/{plen}", Ipv6Addr::from(bits)));
        e.scope = Some(scope_name(scope).to_string());
    }
}

/// IPv4 addresses of the interfaces of the calling thread's network
/// namespace (`getifaddrs`): (label, address), the first address of each
/// label.
pub fn live_inet() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list freed below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut p = head;
    while !p.is_null() {
        // SAFETY: p is a node of the list getifaddrs returned.
        let ifa = unsafe { &*p };
        p = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr points to a sockaddr of at least its family's size.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: AF_INET addresses are sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        let addr = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
        // SAFETY: ifa_name is a NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        if !out.iter().any(|(n, _)| *n == name) {
            out.push((name, addr.to_string()));
        }
    }
    // SAFETY: head came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    out
}

/// The `NAME ADDRESS` lines of a fixture tree's `ifaddrs` file, standing
/// in for `getifaddrs`.
pub fn parse_ifaddrs(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let (n, a) = l.trim().split_once(' ')?;
            Some((n.to_string(), a.trim().to_string()))
        })
        .collect()
}

/// Gathers the addresses of every interface: hardware addresses from
/// `sys/class/net` below `view_root` (the directory the namespace's
/// mounts see as `/`), the IPv4 addresses `inet` gives (from
/// [`live_inet`] or [`parse_ifaddrs`]; its error is the answer) and the
/// IPv6 ones of `root/if_inet6` (`proc/net/if_inet6`, or a container
/// process's `proc/PID/net/if_inet6`).
pub fn gather(
    view_root: &Path,
    inet: impl FnOnce() -> Result<Vec<(String, String)>, PmError>,
    root: &Path,
    if_inet6: &str,
    scratch: &mut Vec<u8>,
) -> Result<Vec<IfAddr>, PmError> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(view_root.join("sys/class/net")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let hw = read_attr(&e.path().join("address"), scratch);
            entry(&mut out, &name).hw = hw;
        }
    }
    for (name, addr) in inet()? {
        entry(&mut out, &name).inet = Some(addr);
    }
    if let Ok(text) = std::fs::read_to_string(root.join(if_inet6)) {
        parse_if_inet6(&text, &mut out);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_inet6_last_line_wins_and_scopes() {
        let mut v = Vec::new();
        parse_if_inet6(
            "fd000000000000000000000000000002 04 40 00 82     eth0\n\
             00000000000000000000000000000001 01 80 10 80       lo\n\
             fe8000000000000000fc00fffe000001 04 40 20 80     eth0\n\
             junk\n",
            &mut v,
        );
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].ipv6.as_deref(), Some("fe80::fc:ff:fe00:1/64"));
        assert_eq!(v[0].scope.as_deref(), Some("Link"));
        assert_eq!(v[1].ipv6.as_deref(), Some("::1/128"));
        assert_eq!(v[1].scope.as_deref(), Some("Host"));
    }

    #[test]
    fn live_host_has_loopback() {
        let v = live_inet();
        if let Some((_, a)) = v.iter().find(|(n, _)| n == "lo") {
            assert_eq!(a, "127.0.0.1");
        }
    }
}
