//! The netdev, netproto, sockets and softnet collectors: interfaces,
//! addresses, ICMP messages, socket tables and per-CPU receive figures.

use super::*;

#[test]
fn softnet_locks_and_socket_states() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let rows: Vec<Vec<u64>> = read(&root, "proc/net/softnet_stat")
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .map(|h| u64::from_str_radix(h, 16).unwrap())
                    .collect()
            })
            .collect();
        for (name, col) in [
            ("processed", 0),
            ("dropped", 1),
            ("time_squeeze", 2),
            ("cpu_collision", 8),
            ("received_rps", 9),
            ("flow_limit_count", 10),
        ] {
            let all = u(&one(&mut a, &format!("network.softnet.{name}")));
            assert_eq!(
                all,
                rows.iter().map(|r| r[col]).sum::<u64>(),
                "{tree} {name}"
            );
            let per = fetch(&mut a, &format!("network.softnet.percpu.{name}")).unwrap();
            for r in &rows {
                // The 13th column names the CPU.
                assert_eq!(u(&per[&format!("cpu{}", r[12])]), r[col], "{tree} {name}");
            }
        }
        for (table, prefix) in [("tcp", "network.tcpconn"), ("tcp6", "network.tcpconn6")] {
            let text = read(&root, &format!("proc/net/{table}"));
            let count = |st: &str| {
                text.lines()
                    .skip(1)
                    .filter(|l| l.split_whitespace().nth(3) == Some(st))
                    .count() as u64
            };
            for (state, hex) in [
                ("established", "01"),
                ("time_wait", "06"),
                ("listen", "0A"),
                ("close_wait", "08"),
            ] {
                assert_eq!(
                    u(&one(&mut a, &format!("{prefix}.{state}"))),
                    count(hex),
                    "{tree} {table} {state}"
                );
            }
        }
    }
    let root = fixture("multi");
    let mut a = agent(&root);
    // proc/locks: two POSIX (one read, one write; the waiter is not a
    // lock) and an OFDLCK read, which pmdalinux counts as posix; one
    // FLOCK write, one LEASE read.
    for (name, want) in [
        ("posix.read", 2),
        ("posix.write", 1),
        ("posix.count", 3),
        ("flock.read", 0),
        ("flock.write", 1),
        ("flock.count", 1),
        ("lease.read", 1),
        ("lease.count", 1),
    ] {
        assert_eq!(
            one(&mut a, &format!("vfs.locks.{name}")),
            Value::U32(want),
            "{name}"
        );
    }
    // proc/net/udp: one connected socket, two bound but unconnected.
    assert_eq!(one(&mut a, "network.udpconn.established"), Value::U32(1));
    assert_eq!(one(&mut a, "network.udpconn.listen"), Value::U32(2));
    let hostname = read(&root, "proc/sys/kernel/hostname");
    let release = read(&root, "proc/sys/kernel/osrelease");
    match one(&mut a, "pmda.uname") {
        Value::String(s) => {
            assert!(
                s.starts_with(&format!("Linux {} {}", hostname.trim(), release.trim())),
                "{s}"
            );
        }
        v => panic!("pmda.uname {v:?}"),
    }
}

#[test]
fn interface_addresses() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let hw = fetch(&mut a, "network.interface.hw_addr").unwrap();
    for e in std::fs::read_dir(root.join("sys/class/net")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        let want = read(&root, &format!("sys/class/net/{name}/address"));
        assert_eq!(hw[&name], Value::String(want.trim().to_string()), "{name}");
    }
    let inet = fetch(&mut a, "network.interface.inet_addr").unwrap();
    for l in read(&root, "ifaddrs").lines() {
        let (n, addr) = l.split_once(' ').unwrap();
        assert_eq!(inet[n], Value::String(addr.to_string()));
    }
    assert_eq!(inet.len(), read(&root, "ifaddrs").lines().count());

    let root = fixture("multi");
    let mut a = agent(&root);
    let s = |v: &str| Value::String(v.to_string());
    let inet = fetch(&mut a, "network.interface.inet_addr").unwrap();
    assert_eq!(inet["eth0:1"], s("10.0.0.6"));
    let v6 = fetch(&mut a, "network.interface.ipv6_addr").unwrap();
    assert_eq!(v6["eth0"], s("fe80::5054:ff:fe12:3456/64"));
    assert_eq!(v6["lo"], s("::1/128"));
    assert_eq!(v6["wlan0"], s("fec0::1/64"));
    let scope = fetch(&mut a, "network.interface.ipv6_scope").unwrap();
    assert_eq!(
        (&scope["eth0"], &scope["lo"], &scope["wlan0"]),
        (&s("Link"), &s("Host"), &s("Site"))
    );
    assert!(!scope.contains_key("eth1"));
    let hw = fetch(&mut a, "network.interface.hw_addr").unwrap();
    assert_eq!(hw["wlan0"], s("3c:a9:f4:00:00:01"));
    assert!(!hw.contains_key("br0"));
    // Every interface with any address is an instance; eth0's id comes
    // from pmdalinux's saved cache.
    let ids = ids(&mut a, "network.interface.hw_addr");
    let names: Vec<&str> = ids.keys().map(|k| k.as_str()).collect();
    assert_eq!(names, ["br0", "eth0", "eth0:1", "eth1", "lo", "wlan0"]);
    assert_eq!(ids["eth0"], 4);
}

/// ICMP message counts per type, from the IcmpMsg line pairs of
/// /proc/net/snmp read independently: header names and values zipped.
fn icmpmsg_counts(snmp: &str) -> BTreeMap<(String, u32), u64> {
    let lines: Vec<&str> = snmp.lines().filter(|l| l.starts_with("IcmpMsg:")).collect();
    let mut out = BTreeMap::new();
    for pair in lines.chunks(2) {
        let names = pair[0].split_whitespace().skip(1);
        let vals = pair[1].split_whitespace().skip(1);
        for (n, v) in names.zip(vals) {
            let (dir, num) = match n.strip_prefix("InType") {
                Some(num) => ("in", num),
                None => ("out", n.strip_prefix("OutType").unwrap()),
            };
            out.insert((dir.to_string(), num.parse().unwrap()), v.parse().unwrap());
        }
    }
    out
}

#[test]
fn icmp_messages_by_type() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let want = icmpmsg_counts(&read(&root, "proc/net/snmp"));
        assert!(want.len() >= 2, "{tree}: the fixture lists ICMP types");
        for (dir, metric) in [
            ("in", "network.icmpmsg.intype"),
            ("out", "network.icmpmsg.outtype"),
        ] {
            let got = fetch(&mut a, metric).unwrap();
            let expect: BTreeMap<String, Value> = want
                .iter()
                .filter(|((d, _), _)| d == dir)
                .map(|((_, n), v)| (format!("Type{n}"), Value::U64(*v)))
                .collect();
            assert_eq!(got, expect, "{tree} {metric}");
        }
        // Every type number is an instance, TypeN with id N.
        let ids = ids(&mut a, "network.icmpmsg.intype");
        assert_eq!(ids.len(), 256);
        assert!((0..256u32).all(|n| ids[&format!("Type{n}")] == n));
    }
}

#[test]
fn bad_icmpmsg_lines_fail_only_icmpmsg() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/net")).unwrap();
    std::fs::write(
        root.join("proc/net/snmp"),
        "Ip: Forwarding DefaultTTL\nIp: 1 64\nIcmpMsg: InType3 Junk4\nIcmpMsg: 1 2\n",
    )
    .unwrap();
    let mut a = agent(root);
    assert_eq!(u(&one(&mut a, "network.ip.defaultttl")), 64);
    assert_eq!(fetch(&mut a, "network.icmpmsg.intype"), Err(PmError::VALUE));
    assert!(a
        .agent()
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/net/snmp") && e.to_string().contains("Junk4")));
}

#[test]
fn unix_and_raw_sockets() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let (mut dgram, mut est, mut listen, mut stream) = (0, 0, 0, 0);
        for l in read(&root, "proc/net/unix").lines().skip(1) {
            let w: Vec<&str> = l.split_whitespace().collect();
            match (w[4], w[5]) {
                ("0002", _) => dgram += 1,
                ("0001", st) => {
                    stream += 1;
                    if st == "01" {
                        listen += 1;
                    } else if st == "03" {
                        est += 1;
                    }
                }
                _ => {}
            }
        }
        assert!(stream > 0, "{tree}");
        assert_eq!(u(&one(&mut a, "network.unix.datagram.count")), dgram);
        assert_eq!(u(&one(&mut a, "network.unix.stream.established")), est);
        assert_eq!(u(&one(&mut a, "network.unix.stream.listen")), listen);
        assert_eq!(u(&one(&mut a, "network.unix.stream.count")), stream);
        for (file, metric) in [
            ("proc/net/raw", "network.rawconn.count"),
            ("proc/net/raw6", "network.rawconn6.count"),
        ] {
            let n = read(&root, file).lines().count() as u64 - 1;
            assert_eq!(u(&one(&mut a, metric)), n, "{tree} {metric}");
        }
    }
    assert_eq!(
        u(&one(&mut agent(&fixture("multi")), "network.rawconn.count")),
        2
    );
}
