//! `network.tcpconn.*` and `network.tcpconn6.*` on the live system, where
//! the agent counts sockets over the sock_diag netlink interface: the counts
//! must equal those of the text tables `/proc/net/tcp` and `/proc/net/tcp6`
//! (what pmdalinux reads), taken between two of the agent's fetches.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};

use pcp_core::{ClientContext, FetchRequest, Pmda, Profile, Value};
use pmda_linux::{LinuxConfig, LinuxPmda};

/// pmdalinux's state names in item order, with the kernel's state numbers.
const STATES: [(&str, usize); 11] = [
    ("established", 1),
    ("syn_sent", 2),
    ("syn_recv", 3),
    ("fin_wait1", 4),
    ("fin_wait2", 5),
    ("time_wait", 6),
    ("close", 7),
    ("close_wait", 8),
    ("last_ack", 9),
    ("listen", 10),
    ("closing", 11),
];

/// The agent's counts: "tcpconn.STATE" / "tcpconn6.STATE" -> count.
fn ours(a: &mut LinuxPmda) -> BTreeMap<String, u64> {
    let mut names = Vec::new();
    let mut pmids = Vec::new();
    for table in ["tcpconn", "tcpconn6"] {
        for (state, _) in STATES {
            let name = format!("{table}.{state}");
            pmids.push(
                a.namespace()
                    .lookup(&format!("network.{name}"))
                    .unwrap_or_else(|| panic!("no metric network.{name}")),
            );
            names.push(name);
        }
    }
    let profile = Profile::all();
    let client = ClientContext::local();
    let results = a.fetch(&FetchRequest {
        pmids: &pmids,
        profile: &profile,
        client: &client,
    });
    names
        .into_iter()
        .zip(results)
        .map(|(n, r)| {
            let values = r.unwrap_or_else(|e| panic!("{n}: {e}"));
            let v = match values.first() {
                Some((_, Value::U32(v))) => u64::from(*v),
                other => panic!("{n}: unexpected value {other:?}"),
            };
            (n, v)
        })
        .collect()
}

/// The same counts from the text tables.
fn from_proc() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (file, table) in [("tcp", "tcpconn"), ("tcp6", "tcpconn6")] {
        let text = std::fs::read_to_string(format!("/proc/net/{file}")).unwrap_or_default();
        let mut counts = [0u64; 12];
        for line in text.lines().skip(1) {
            let st = line
                .split_whitespace()
                .nth(3)
                .and_then(|s| usize::from_str_radix(s, 16).ok());
            if let Some(c) = st.and_then(|s| counts.get_mut(s)) {
                *c += 1;
            }
        }
        for (state, n) in STATES {
            out.insert(format!("{table}.{state}"), counts[n]);
        }
    }
    out
}

#[test]
fn live_counts_equal_the_proc_tables() {
    // Known sockets in both families: a listener and three connections
    // (each a connected pair) on loopback.
    let mut keep = Vec::new();
    let mut listeners = Vec::new();
    let mut v6 = false;
    for addr in [
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
    ] {
        let Ok(l) = TcpListener::bind(addr) else {
            // No IPv6 loopback here: IPv4 alone.
            continue;
        };
        v6 |= addr.is_ipv6();
        let at = l.local_addr().unwrap();
        for _ in 0..3 {
            let c = TcpStream::connect(at).unwrap();
            let (s, _) = l.accept().unwrap();
            keep.push((c, s));
        }
        listeners.push(l);
    }
    let mut a = pmda_linux::new(LinuxConfig::default()).expect("agent");
    // Other processes open and close sockets meanwhile: a round counts
    // only when the agent's two fetches around the file read agree.
    let mut last = None;
    for _ in 0..50 {
        let before = ours(&mut a);
        let text = from_proc();
        let after = ours(&mut a);
        if before == after && before == text {
            assert!(before["tcpconn.established"] >= 6, "{before:?}");
            assert!(before["tcpconn.listen"] >= 1, "{before:?}");
            if v6 {
                assert!(before["tcpconn6.established"] >= 6, "{before:?}");
                assert!(before["tcpconn6.listen"] >= 1, "{before:?}");
            }
            return;
        }
        last = Some((before, text, after));
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("the agent's counts never matched /proc/net/tcp{{,6}}: {last:?}");
}
