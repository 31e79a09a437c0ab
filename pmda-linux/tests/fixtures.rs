//! The agent on frozen /proc and /sys trees:
//! - `fixtures/vm`: captured from this machine by `fixtures/capture.sh`;
//! - `fixtures/multi`: assembled by `fixtures/build_multi.sh` from real
//!   file formats, with several disks, partitions, device-mapper and md
//!   devices, several interfaces, two NUMA nodes and an offline CPU.
//!
//! Expected values are computed here from the raw files with deliberately
//! simple code, not taken from the agent's output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pcp_core::{
    ClientContext, FetchRequest, PmError, Pmda, Profile, TextKind, TextTarget, Value, PM_IN_NULL,
};
use pmda_linux::{LinuxConfig, LinuxPmda};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn agent(root: &Path) -> LinuxPmda {
    LinuxPmda::new(LinuxConfig {
        root: root.to_path_buf(),
    })
    .expect("agent builds")
}

/// Fetches one metric as a root client (pmcd reports user id 0), so the
/// root-only figures are read too: instance name (or "" for singular) ->
/// value.
fn fetch(a: &mut LinuxPmda, name: &str) -> Result<BTreeMap<String, Value>, PmError> {
    fetch_as(a, name, &ClientContext::user(0, 0))
}

/// Fetches one metric as `client`: instance name (or "" for singular) ->
/// value.
fn fetch_as(
    a: &mut LinuxPmda,
    name: &str,
    client: &ClientContext,
) -> Result<BTreeMap<String, Value>, PmError> {
    let pmid = a
        .namespace()
        .lookup(name)
        .unwrap_or_else(|| panic!("no metric {name}"));
    let profile = Profile::all();
    let r = a
        .fetch(&FetchRequest {
            pmids: &[pmid],
            profile: &profile,
            client,
        })
        .remove(0)?;
    let desc = a.desc(pmid).unwrap();
    let names = if desc.indom.is_null() {
        Vec::new()
    } else {
        a.instances(desc.indom, &pcp_core::ClientContext::local())
            .unwrap()
    };
    Ok(r.into_iter()
        .map(|(id, v)| {
            let n = if id == PM_IN_NULL {
                String::new()
            } else {
                names
                    .iter()
                    .find(|i| i.id == id)
                    .unwrap_or_else(|| panic!("{name}: no instance {id}"))
                    .name
                    .clone()
            };
            (n, v)
        })
        .collect())
}

fn one(a: &mut LinuxPmda, name: &str) -> Value {
    fetch(a, name)
        .unwrap()
        .remove("")
        .unwrap_or_else(|| panic!("{name}: no singular value"))
}

fn u(v: &Value) -> u64 {
    v.as_f64().expect("numeric") as u64
}

fn ids(a: &mut LinuxPmda, name: &str) -> BTreeMap<String, u32> {
    let pmid = a.namespace().lookup(name).unwrap();
    let indom = a.desc(pmid).unwrap().indom;
    a.instances(indom, &pcp_core::ClientContext::local())
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.id))
        .collect()
}

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// `key value` or `Key: value kB` lookups, written independently.
fn field(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?.trim_end_matches(':');
            (k == key).then(|| it.next().unwrap().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no {key}"))
}

/// A diskstats column (1-based as in the kernel documentation, after the
/// name: 1 = reads completed) for `dev`.
fn diskcol(text: &str, dev: &str, col: usize) -> u64 {
    let l = text
        .lines()
        .find(|l| l.split_whitespace().nth(2) == Some(dev))
        .unwrap();
    l.split_whitespace().nth(2 + col).unwrap().parse().unwrap()
}

fn netcol(text: &str, ifname: &str, col: usize) -> u64 {
    let l = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{ifname}:")))
        .unwrap();
    l.split(':')
        .nth(1)
        .unwrap()
        .split_whitespace()
        .nth(col)
        .unwrap()
        .parse()
        .unwrap()
}

fn hz() -> u64 {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as u64
}

#[test]
fn captured_tree_values_match_raw_files() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let stat = read(&root, "proc/stat");
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(u(&one(&mut a, "kernel.all.cpu.user")), cpu[0] * 1000 / hz());
    assert_eq!(u(&one(&mut a, "kernel.all.cpu.sys")), cpu[2] * 1000 / hz());
    assert_eq!(
        u(&one(&mut a, "kernel.all.cpu.wait.total")),
        cpu[4] * 1000 / hz()
    );
    assert_eq!(
        u(&one(&mut a, "kernel.all.cpu.intr")),
        (cpu[5] + cpu[6]) * 1000 / hz()
    );
    assert_eq!(u(&one(&mut a, "kernel.all.pswitch")), field(&stat, "ctxt"));
    assert_eq!(u(&one(&mut a, "kernel.all.intr")), field(&stat, "intr"));
    let percpu = fetch(&mut a, "kernel.percpu.cpu.idle").unwrap();
    let ncpu = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(percpu.len(), ncpu);
    assert!(percpu.contains_key("cpu0"));
    assert_eq!(u(&one(&mut a, "hinv.ncpu")), ncpu as u64);

    let mem = read(&root, "proc/meminfo");
    assert_eq!(u(&one(&mut a, "mem.physmem")), field(&mem, "MemTotal"));
    assert_eq!(
        u(&one(&mut a, "mem.util.used")),
        field(&mem, "MemTotal") - field(&mem, "MemFree")
    );
    assert_eq!(
        u(&one(&mut a, "mem.util.other")),
        field(&mem, "MemTotal")
            - field(&mem, "MemFree")
            - field(&mem, "Cached")
            - field(&mem, "Buffers")
    );
    assert_eq!(
        u(&one(&mut a, "hinv.physmem")),
        field(&mem, "MemTotal") / 1024
    );
    assert_eq!(
        u(&one(&mut a, "swap.length")),
        field(&mem, "SwapTotal") * 1024
    );
    assert!(
        fetch(&mut a, "mem.util.shared").unwrap().is_empty(),
        "MemShared is absent: no values"
    );

    let vm = read(&root, "proc/vmstat");
    assert_eq!(u(&one(&mut a, "mem.vmstat.pgfault")), field(&vm, "pgfault"));
    assert_eq!(u(&one(&mut a, "swap.pagesin")), field(&vm, "pswpin"));

    let ds = read(&root, "proc/diskstats");
    let dev = fetch(&mut a, "disk.dev.read_bytes").unwrap();
    assert_eq!(
        dev.keys().collect::<Vec<_>>(),
        vec!["vda"],
        "loop and zram devices are not disks"
    );
    assert_eq!(u(&dev["vda"]), diskcol(&ds, "vda", 3) / 2);
    assert_eq!(u(&one(&mut a, "disk.all.read")), diskcol(&ds, "vda", 1));
    assert_eq!(
        u(&fetch(&mut a, "disk.dev.avactive").unwrap()["vda"]),
        diskcol(&ds, "vda", 10)
    );

    let nd = read(&root, "proc/net/dev");
    let inb = fetch(&mut a, "network.interface.in.bytes").unwrap();
    for (name, v) in &inb {
        assert_eq!(u(v), netcol(&nd, name, 0), "{name}");
    }
    assert_eq!(inb.len() as u64, u(&one(&mut a, "hinv.ninterface")));
    // Only lo is left out by pmdalinux's interfaces.conf pattern (the
    // ifb devices, virtual as they are, count).
    assert_eq!(
        u(&one(&mut a, "network.all.in.bytes")),
        ["eth0", "ifb0", "ifb1"]
            .iter()
            .map(|i| netcol(&nd, i, 0))
            .sum::<u64>()
    );

    let load: Vec<f32> = read(&root, "proc/loadavg")
        .split_whitespace()
        .take(3)
        .map(|x| x.parse().unwrap())
        .collect();
    let l = fetch(&mut a, "kernel.all.load").unwrap();
    assert_eq!(l["1 minute"], Value::Float(load[0]));
    assert_eq!(l["15 minute"], Value::Float(load[2]));
    assert_eq!(ids(&mut a, "kernel.all.load")["5 minute"], 5);

    let statfs = read(&root, "statfs");
    let f: Vec<u64> = statfs
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    let cap = fetch(&mut a, "filesys.capacity").unwrap();
    assert_eq!(u(&cap["/dev/vda"]), f[0] * f[1] / 1024);
    assert_eq!(
        fetch(&mut a, "filesys.mountdir").unwrap()["/dev/vda"],
        Value::String("/".into())
    );

    let snmp = read(&root, "proc/net/snmp");
    let tcp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Tcp:")).collect();
    let pos = tcp[0]
        .split_whitespace()
        .position(|x| x == "ActiveOpens")
        .unwrap();
    let want: u64 = tcp[1].split_whitespace().nth(pos).unwrap().parse().unwrap();
    assert_eq!(u(&one(&mut a, "network.tcp.activeopens")), want);

    assert_eq!(
        one(&mut a, "kernel.uname.release"),
        Value::String(read(&root, "proc/sys/kernel/osrelease").trim().into())
    );
    assert_eq!(
        one(&mut a, "kernel.uname.distro"),
        Value::String(format!(
            "Debian {}",
            read(&root, "etc/debian_version").trim()
        ))
    );
    assert_eq!(
        u(&one(&mut a, "vfs.files.max")),
        read(&root, "proc/sys/fs/file-nr")
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    );
}

#[test]
fn several_disks_partitions_dm_md_and_interfaces() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let ds = read(&root, "proc/diskstats");

    let disks = ids(&mut a, "disk.dev.read");
    assert_eq!(
        disks.keys().collect::<Vec<_>>(),
        vec!["nvme0n1", "sda", "sdb"]
    );
    assert_eq!(
        (disks["sda"], disks["sdb"], disks["nvme0n1"]),
        (0, 1, 2),
        "ids follow the file"
    );
    assert_eq!(u(&one(&mut a, "hinv.ndisk")), 3);
    let parts = fetch(&mut a, "disk.partitions.write").unwrap();
    assert_eq!(
        parts.keys().collect::<Vec<_>>(),
        vec!["nvme0n1p1", "sda1", "sda2"]
    );
    assert_eq!(u(&parts["sda2"]), diskcol(&ds, "sda2", 5));
    let dm = fetch(&mut a, "disk.dm.read_bytes").unwrap();
    assert_eq!(
        dm.keys().collect::<Vec<_>>(),
        vec!["vg0-root"],
        "dm-1 has no name and is skipped"
    );
    assert_eq!(u(&dm["vg0-root"]), diskcol(&ds, "dm-0", 3) / 2);
    assert_eq!(
        fetch(&mut a, "hinv.map.dmname").unwrap()["vg0-root"],
        Value::String("dm-0".into())
    );
    let md = fetch(&mut a, "disk.md.write").unwrap();
    assert_eq!(u(&md["data"]), diskcol(&ds, "md127", 5));
    assert_eq!(
        fetch(&mut a, "hinv.map.mdname").unwrap()["data"],
        Value::String("md127".into())
    );

    let sum = |col: usize| {
        ["sda", "sdb", "nvme0n1"]
            .iter()
            .map(|d| diskcol(&ds, d, col))
            .sum::<u64>()
    };
    assert_eq!(u(&one(&mut a, "disk.all.read")), sum(1));
    assert_eq!(
        u(&one(&mut a, "disk.all.write_bytes")),
        ["sda", "sdb", "nvme0n1"]
            .iter()
            .map(|d| diskcol(&ds, d, 7) / 2)
            .sum::<u64>()
    );
    assert_eq!(u(&one(&mut a, "disk.all.flush")), sum(16));
    assert_eq!(u(&one(&mut a, "disk.all.aveq")), sum(11));

    let partitions = read(&root, "proc/partitions");
    let size = |dev: &str| -> u64 {
        partitions
            .lines()
            .find(|l| l.split_whitespace().nth(3) == Some(dev))
            .unwrap()
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    let cap = fetch(&mut a, "disk.dev.capacity").unwrap();
    assert_eq!(u(&cap["sdb"]), size("sdb"));
    assert_eq!(
        u(&fetch(&mut a, "disk.partitions.capacity").unwrap()["sda1"]),
        size("sda1")
    );
    assert_eq!(
        u(&fetch(&mut a, "disk.dm.capacity").unwrap()["vg0-root"]),
        size("dm-0")
    );

    let sched = fetch(&mut a, "disk.dev.scheduler").unwrap();
    assert_eq!(sched["sda"], Value::String("mq-deadline".into()));
    assert_eq!(sched["nvme0n1"], Value::String("none".into()));
    assert_eq!(sched["sdb"], Value::String("unknown".into()));
    assert_eq!(
        fetch(&mut a, "hinv.map.scsi_id").unwrap()["sda"],
        Value::String("35000c500a1b2c3d4".into())
    );

    // Interfaces: ids seeded from pmdalinux's saved cache (lo 0, eth0 1,
    // a vanished interface holding 5), new ones after the highest.
    let nets = ids(&mut a, "network.interface.in.bytes");
    assert_eq!(nets["lo"], 0);
    assert_eq!(nets["eth0"], 1);
    assert_eq!((nets["eth1"], nets["wlan0"], nets["br0"]), (6, 7, 8));
    let nd = read(&root, "proc/net/dev");
    let drops = fetch(&mut a, "network.interface.total.drops").unwrap();
    assert_eq!(
        u(&drops["eth0"]),
        netcol(&nd, "eth0", 3) + netcol(&nd, "eth0", 11)
    );
    assert_eq!(
        u(&one(&mut a, "network.all.in.bytes")),
        ["eth0", "eth1", "wlan0", "br0"]
            .iter()
            .map(|i| netcol(&nd, i, 0))
            .sum::<u64>(),
        "lo is left out by pmdalinux's interfaces.conf pattern; br0 is not"
    );
    let baud = fetch(&mut a, "network.interface.baudrate").unwrap();
    assert_eq!(u(&baud["eth0"]), 1000 * 1_000_000 / 8);
    assert_eq!(
        u(&baud["eth1"]),
        u32::MAX as u64 * 1_000_000 / 8,
        "unknown speed reads as 2^32-1"
    );
    assert!(!baud.contains_key("br0"));
    let duplex = fetch(&mut a, "network.interface.duplex").unwrap();
    assert_eq!((u(&duplex["eth0"]), u(&duplex["wlan0"])), (2, 1));
    assert!(!duplex.contains_key("eth1"));
    let running = fetch(&mut a, "network.interface.running").unwrap();
    assert_eq!(
        (u(&running["lo"]), u(&running["eth0"]), u(&running["eth1"])),
        (1, 1, 0)
    );
    assert_eq!(
        u(&fetch(&mut a, "network.interface.wireless").unwrap()["wlan0"]),
        1
    );
    assert_eq!(
        u(&fetch(&mut a, "network.interface.mtu").unwrap()["eth1"]),
        9000
    );

    // Filesystems: block devices only, each once; no figures for /backup.
    let dirs = fetch(&mut a, "filesys.mountdir").unwrap();
    assert_eq!(
        dirs.keys().collect::<Vec<_>>(),
        vec![
            "/dev/mapper/vg0-root",
            "/dev/md127",
            "/dev/sda2",
            "/dev/sdb"
        ]
    );
    assert_eq!(u(&one(&mut a, "hinv.nfilesys")), 4);
    let used = fetch(&mut a, "filesys.used").unwrap();
    assert_eq!(u(&used["/dev/sda2"]), (1015880 - 800000) * 1024 / 1024);
    assert!(!used.contains_key("/dev/sdb"));
    assert_eq!(
        u(&fetch(&mut a, "filesys.readonly").unwrap()["/dev/md127"]),
        1
    );
    let full = fetch(&mut a, "filesys.full").unwrap();
    let f = full["/dev/sda2"].as_f64().unwrap();
    assert!((f - 100.0 * 215880.0 / (215880.0 + 747000.0)).abs() < 1e-9);

    // CPUs and NUMA nodes: cpu2 is offline.
    let stat = read(&root, "proc/stat");
    let cpu_user = |n: &str| -> u64 {
        stat.lines()
            .find(|l| l.starts_with(&format!("{n} ")))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    };
    let percpu = ids(&mut a, "kernel.percpu.cpu.user");
    assert_eq!(
        percpu,
        [
            ("cpu0".to_string(), 0),
            ("cpu1".to_string(), 1),
            ("cpu3".to_string(), 3)
        ]
        .into()
    );
    let node = fetch(&mut a, "kernel.pernode.cpu.user").unwrap();
    assert_eq!(
        u(&node["node0"]),
        (cpu_user("cpu0") + cpu_user("cpu1")) * 1000 / hz()
    );
    assert_eq!(u(&node["node1"]), cpu_user("cpu3") * 1000 / hz());
    assert_eq!(u(&one(&mut a, "hinv.nnode")), 2);
    let vuser = u(&one(&mut a, "kernel.all.cpu.vuser"));
    let all: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    assert_eq!(vuser, (all[0] - all[8]) * 1000 / hz(), "user minus guest");
}

#[test]
fn missing_files_fail_only_their_metrics() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("proc")).unwrap();
    std::fs::write(
        dir.path().join("proc/loadavg"),
        "0.50 0.25 0.10 2/300 4242\n",
    )
    .unwrap();
    let mut a = agent(dir.path());
    assert_eq!(u(&one(&mut a, "kernel.all.lastpid")), 4242);
    assert_eq!(
        fetch(&mut a, "mem.util.used"),
        Err(PmError::from_errno(libc::ENOENT))
    );
    assert_eq!(
        fetch(&mut a, "disk.dev.read"),
        Err(PmError::from_errno(libc::ENOENT))
    );
    assert_eq!(fetch(&mut a, "swap.in"), Err(PmError::APPVERSION));
    assert!(
        fetch(&mut a, "kernel.all.pressure.cpu.some.avg")
            .unwrap()
            .is_empty(),
        "no PSI: no values"
    );
    // A whole fetch of everything answers every metric without panicking.
    let pmids: Vec<_> = a
        .namespace()
        .traverse("")
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let profile = Profile::all();
    let client = ClientContext::user(0, 0);
    let r = a.fetch(&FetchRequest {
        pmids: &pmids,
        profile: &profile,
        client: &client,
    });
    assert_eq!(r.len(), pmids.len());
    assert!(r.iter().any(|x| x.is_ok()) && r.iter().any(|x| x.is_err()));
}

#[test]
fn surprising_formats_are_reported_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let garbage: &[&[u8]] = &[
        b"",
        b"\n\n",
        b"cpu x\n",
        b"\xff\xfe\x00garbage\n",
        b"Tcp: a b\nTcp: 1\n",
        b"x: y z\n",
        b"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n",
        b"Node 0, zone DMA\n  pages free\n  protection: (1, x\n",
    ];
    let files = [
        "proc/stat",
        "proc/meminfo",
        "proc/vmstat",
        "proc/loadavg",
        "proc/diskstats",
        "proc/partitions",
        "proc/net/dev",
        "proc/self/mounts",
        "proc/net/snmp",
        "proc/net/netstat",
        "proc/net/snmp6",
        "proc/net/sockstat",
        "proc/net/sockstat6",
        "proc/cpuinfo",
        "proc/uptime",
        "proc/pressure/cpu",
        "proc/zoneinfo",
        "proc/slabinfo",
        "statfs",
    ];
    for g in garbage {
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, g).unwrap();
        }
        let mut a = agent(root);
        let pmids: Vec<_> = a
            .namespace()
            .traverse("")
            .unwrap()
            .into_iter()
            .map(|(_, p)| p)
            .collect();
        let profile = Profile::all();
        let client = ClientContext::user(0, 0);
        let r = a.fetch(&FetchRequest {
            pmids: &pmids,
            profile: &profile,
            client: &client,
        });
        assert_eq!(r.len(), pmids.len());
    }
    std::fs::write(root.join("proc/stat"), "cpu x y\n").unwrap();
    let mut a = agent(root);
    assert_eq!(fetch(&mut a, "kernel.all.cpu.user"), Err(PmError::VALUE));
    assert!(a
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/stat")));
}

#[test]
fn every_metric_has_help_and_every_indom_has_text() {
    let mut a = agent(&fixture("vm"));
    for (name, pmid) in a.namespace().traverse("").unwrap() {
        let one = a
            .text(
                TextTarget::Metric(pmid),
                TextKind::OneLine,
                &pcp_core::ClientContext::local(),
            )
            .unwrap();
        let long = a
            .text(
                TextTarget::Metric(pmid),
                TextKind::Help,
                &pcp_core::ClientContext::local(),
            )
            .unwrap();
        assert!(!one.is_empty() && long.len() >= one.len() / 2, "{name}");
        let desc = a.desc(pmid).unwrap();
        if !desc.indom.is_null() {
            assert!(
                a.text(
                    TextTarget::InDom(desc.indom),
                    TextKind::OneLine,
                    &pcp_core::ClientContext::local()
                )
                .is_ok(),
                "{name} indom"
            );
            assert!(
                a.instances(desc.indom, &pcp_core::ClientContext::local())
                    .is_ok(),
                "{name} instances"
            );
        }
    }
    let labels = a
        .instance_labels(
            pcp_core::InDom::from_parts(60, 3),
            &pcp_core::ClientContext::local(),
        )
        .unwrap();
    assert!(labels
        .iter()
        .any(|(_, l)| l.to_string().contains("\"interface\":\"eth0\"")));
}

/// One row of /proc/interrupts: label, counts, description.
type IrqRow = (String, Vec<u64>, String);

/// Column sums of a /proc/interrupts-style file written independently:
/// (header CPUs, rows of (label, counts, description)).
fn irq_rows(text: &str) -> (Vec<String>, Vec<IrqRow>) {
    let mut lines = text.lines();
    let cpus: Vec<String> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|c| c.to_lowercase())
        .collect();
    let mut rows = Vec::new();
    for l in lines {
        let (label, rest) = l.split_once(':').unwrap();
        let words: Vec<&str> = rest.split_whitespace().collect();
        let k = words
            .iter()
            .take(cpus.len())
            .take_while(|w| w.parse::<u64>().is_ok())
            .count();
        let counts = words[..k].iter().map(|w| w.parse().unwrap()).collect();
        rows.push((label.trim().to_string(), counts, words[k..].join(" ")));
    }
    (cpus, rows)
}

#[test]
fn interrupts_and_softirqs_per_line_and_cpu() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let (cpus, rows) = irq_rows(&read(&root, "proc/interrupts"));
        let total = fetch(&mut a, "kernel.all.interrupts.total").unwrap();
        let percpu = fetch(&mut a, "kernel.percpu.interrupts").unwrap();
        let lines: Vec<&IrqRow> = rows
            .iter()
            .filter(|r| r.0 != "ERR" && r.0 != "MIS")
            .collect();
        assert_eq!(total.len(), lines.len(), "{tree}");
        for (label, counts, _) in &lines {
            assert_eq!(
                u(&total[label.as_str()]),
                counts.iter().sum::<u64>(),
                "{tree} {label}"
            );
            for (cpu, c) in cpus.iter().zip(counts) {
                // A 32-bit counter, as pmdalinux has it.
                assert_eq!(
                    percpu[&format!("{label}::{cpu}")],
                    Value::U32(*c as u32),
                    "{tree} {label} {cpu}"
                );
            }
        }
        let intr = fetch(&mut a, "kernel.percpu.intr").unwrap();
        for (i, cpu) in cpus.iter().enumerate() {
            let sum: u64 = lines.iter().map(|r| r.1.get(i).copied().unwrap_or(0)).sum();
            assert_eq!(u(&intr[cpu.as_str()]), sum, "{tree} {cpu}");
        }
        let (scpus, srows) = irq_rows(&read(&root, "proc/softirqs"));
        let stotal = fetch(&mut a, "kernel.all.softirqs.total").unwrap();
        let spercpu = fetch(&mut a, "kernel.percpu.softirqs").unwrap();
        let sirq = fetch(&mut a, "kernel.percpu.sirq").unwrap();
        for (label, counts, _) in &srows {
            assert_eq!(u(&stotal[label.as_str()]), counts.iter().sum::<u64>());
            for (cpu, c) in scpus.iter().zip(counts) {
                assert_eq!(u(&spercpu[&format!("{label}::{cpu}")]), *c);
            }
        }
        for (i, cpu) in scpus.iter().enumerate() {
            let sum: u64 = srows.iter().map(|r| r.1[i]).sum();
            assert_eq!(u(&sirq[cpu.as_str()]), sum);
        }
    }
    // The hand-built tree: an offline CPU, ERR/MIS, a value past 2^32 and
    // ids seeded from pmdalinux's saved cache.
    let root = fixture("multi");
    let mut a = agent(&root);
    assert_eq!(one(&mut a, "kernel.all.interrupts.errors"), Value::U32(5));
    assert_eq!(one(&mut a, "kernel.all.interrupts.missed"), Value::U32(6));
    let percpu = fetch(&mut a, "kernel.percpu.interrupts").unwrap();
    assert_eq!(percpu["LOC::cpu3"], Value::U32(4));
    assert!(!percpu.contains_key("LOC::cpu2"));
    let total = fetch(&mut a, "kernel.all.interrupts.total").unwrap();
    assert_eq!(total["LOC"], Value::U64(434087 + 445737 + 4294967300));
    let ids = ids(&mut a, "kernel.all.interrupts.total");
    assert_eq!(ids["LOC"], 7);
    assert_eq!((ids["0"], ids["24"], ids["NMI"]), (8, 9, 10));
    // Instance labels: the line, its description and the CPU.
    let labels = a
        .instance_labels(
            pcp_core::InDom::from_parts(60, 40),
            &pcp_core::ClientContext::local(),
        )
        .unwrap();
    let inst = a
        .instances(
            pcp_core::InDom::from_parts(60, 40),
            &pcp_core::ClientContext::local(),
        )
        .unwrap();
    let id = inst.iter().find(|i| i.name == "24::cpu3").unwrap().id;
    let l = &labels.iter().find(|(i, _)| *i == id).unwrap().1;
    assert_eq!(
        l.to_sorted_json(),
        r#"{"cpu":3,"irq":"24","irqtext":"PCI-MSIX-0000:00:01.0 3-edge virtio0-stats"}"#
    );
    let labels = a
        .instance_labels(
            pcp_core::InDom::from_parts(60, 41),
            &pcp_core::ClientContext::local(),
        )
        .unwrap();
    assert!(labels
        .iter()
        .any(|(_, l)| l.to_sorted_json() == r#"{"cpu":1,"softirq":"TIMER"}"#));
}

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

#[test]
fn buddyinfo_per_zone_order_and_node() {
    let page_kb = (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as u64 / 1024;
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let pages = fetch(&mut a, "mem.buddyinfo.pages").unwrap();
        let total = fetch(&mut a, "mem.buddyinfo.total").unwrap();
        let mut n = 0;
        for l in read(&root, "proc/buddyinfo").lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            let node = w[1].trim_end_matches(',');
            for (order, c) in w[4..].iter().enumerate() {
                let c: u64 = c.parse().unwrap();
                let inst = format!("{}::order{order}::node{node}", w[3]);
                assert_eq!(pages[&inst], Value::U64(c), "{tree} {inst}");
                assert_eq!(
                    u(&total[&inst]),
                    c * (1 << order) * page_kb,
                    "{tree} {inst}"
                );
                n += 1;
            }
        }
        assert_eq!(pages.len(), n);
    }
    let mut a = agent(&fixture("multi"));
    let indom = pcp_core::InDom::from_parts(60, 31);
    let inst = a
        .instances(indom, &pcp_core::ClientContext::local())
        .unwrap();
    let id = inst
        .iter()
        .find(|i| i.name == "Normal::order10::node1")
        .unwrap()
        .id;
    let labels = a
        .instance_labels(indom, &pcp_core::ClientContext::local())
        .unwrap();
    let l = &labels.iter().find(|(i, _)| *i == id).unwrap().1;
    assert_eq!(
        l.to_sorted_json(),
        r#"{"numa_node":1,"order":10,"zone":"Normal"}"#
    );
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
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/net/snmp") && e.to_string().contains("Junk4")));
}

/// Expected mem.zoneinfo values from a raw /proc/zoneinfo, written
/// independently: (metric suffix, instance) -> Kbytes, for zones with
/// pages present and the per-node sections; and the protection figures.
type ZoneExpect = (
    BTreeMap<(String, String), u64>,
    BTreeMap<String, u64>,
    Vec<String>,
);

fn zoneinfo_expected(text: &str) -> ZoneExpect {
    let page_kb = (unsigned_pagesize() / 1024) as u64;
    let mut vals = BTreeMap::new();
    let mut prot = BTreeMap::new();
    let mut order = Vec::new();
    // Per block: (zone instance, node instance, its values, present).
    type Block = (String, String, Vec<(String, bool, u64)>, u64);
    let mut blocks: Vec<Block> = Vec::new();
    let mut in_node = false;
    for l in text.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() == Some(&"Node") {
            let node = w[1].trim_end_matches(',');
            blocks.push((
                format!("{}::node{node}", w[3]),
                format!("node{node}"),
                vec![],
                0,
            ));
            in_node = false;
            continue;
        }
        let Some(b) = blocks.last_mut() else { continue };
        if l.starts_with("  per-node stats") {
            in_node = true;
            continue;
        }
        if l.starts_with("  pages free") {
            in_node = false;
            b.2.push(("free".into(), false, w[2].parse().unwrap()));
            continue;
        }
        if w.first() == Some(&"protection:") {
            let inner = l.split('(').nth(1).unwrap().trim_end_matches(')');
            for (k, v) in inner.split(", ").enumerate() {
                let name = format!("{}::lowmem_reserved{k}", b.0);
                prot.insert(name.clone(), v.parse::<u64>().unwrap() * page_kb);
            }
            continue;
        }
        if w.len() == 2 && !w[0].ends_with(':') {
            if let Ok(v) = w[1].parse::<u64>() {
                let m = match w[0] {
                    "workingset_activate_anon" => "workingset_active_anon",
                    "workingset_activate_file" => "workingset_active_file",
                    other => other,
                };
                if w[0] == "present" {
                    b.3 = v;
                }
                b.2.push((m.to_string(), in_node, v));
            }
        }
    }
    for (zone, node, values, present) in blocks {
        if values.iter().any(|(_, n, _)| *n) {
            order.push(node.clone());
        }
        if present > 0 {
            order.push(zone.clone());
        }
        for (m, on_node, v) in values {
            if on_node {
                vals.insert((m, node.clone()), v * page_kb);
            } else if present > 0 {
                vals.insert((m, zone.clone()), v * page_kb);
            }
        }
    }
    (vals, prot, order)
}

fn unsigned_pagesize() -> usize {
    // SAFETY: sysconf reads a constant.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }) as usize
}

#[test]
fn zoneinfo_per_node_and_zone() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let (want, want_prot, order) = zoneinfo_expected(&read(&root, "proc/zoneinfo"));
        let mut seen = 0;
        for (name, _) in a.namespace().traverse("mem.zoneinfo").unwrap() {
            let suffix = name.trim_start_matches("mem.zoneinfo.");
            let got = fetch(&mut a, &name).unwrap();
            if suffix == "protection" {
                let expect: BTreeMap<String, Value> = want_prot
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::U64(*v)))
                    .collect();
                assert_eq!(got, expect, "{tree} {name}");
                continue;
            }
            let expect: BTreeMap<String, Value> = want
                .iter()
                .filter(|((m, _), _)| m == suffix && suffix != "nr_free_pages")
                .map(|((_, i), v)| (i.clone(), Value::U64(*v)))
                .collect();
            seen += expect.len();
            assert_eq!(got, expect, "{tree} {name}");
        }
        assert!(seen > 100, "{tree}: only {seen} zoneinfo values");
        // Instances: nodes and zones with pages, ids in order of first
        // sighting (node before its first zone), empty zones left out.
        let ids = ids(&mut a, "mem.zoneinfo.free");
        let mut listed: Vec<(u32, String)> = ids.into_iter().map(|(n, i)| (i, n)).collect();
        listed.sort();
        let names: Vec<String> = listed.iter().map(|(_, n)| n.clone()).collect();
        assert_eq!(names, order, "{tree}");
        assert_eq!(listed[0].0, 0);
    }
    // Two nodes: ids of node 1 come after every zone of node 0, hidden
    // ones included (pmdalinux numbers them too).
    let mut a = agent(&fixture("multi"));
    let ids = ids(&mut a, "mem.zoneinfo.free");
    assert_eq!(ids["node1"], 6);
    assert_eq!(ids["Normal::node1"], 7);
    let indom = pcp_core::InDom::from_parts(60, 32);
    let labels = a
        .instance_labels(indom, &pcp_core::ClientContext::local())
        .unwrap();
    let l = |id: u32| {
        labels
            .iter()
            .find(|(i, _)| *i == id)
            .unwrap()
            .1
            .to_sorted_json()
    };
    assert_eq!(l(6), r#"{"numa_node":1}"#);
    assert_eq!(l(7), r#"{"numa_node":1,"zone":"Normal"}"#);
    let indom = pcp_core::InDom::from_parts(60, 33);
    let inst = a
        .instances(indom, &pcp_core::ClientContext::local())
        .unwrap();
    let last = inst.last().unwrap();
    assert_eq!(last.name, "Device::node1::lowmem_reserved4");
    let labels = a
        .instance_labels(indom, &pcp_core::ClientContext::local())
        .unwrap();
    let l = &labels.iter().find(|(i, _)| *i == last.id).unwrap().1;
    assert_eq!(
        l.to_sorted_json(),
        r#"{"lowmem_reserved":4,"numa_node":1,"zone":"Device"}"#
    );
}

#[test]
fn bad_zoneinfo_fails_only_zoneinfo() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(
        root.join("proc/meminfo"),
        "MemTotal: 100 kB\nMemFree: 40 kB\n",
    )
    .unwrap();
    std::fs::write(
        root.join("proc/zoneinfo"),
        "Node 0, zone DMA\n  pages free     many\n",
    )
    .unwrap();
    let mut a = agent(root);
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
    assert_eq!(fetch(&mut a, "mem.zoneinfo.free"), Err(PmError::VALUE));
    assert_eq!(
        fetch(&mut a, "mem.zoneinfo.protection"),
        Err(PmError::VALUE)
    );
    assert!(a
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/zoneinfo") && e.to_string().contains("many")));
    // No file at all: the metrics fail with the errno, the rest work.
    std::fs::remove_file(root.join("proc/zoneinfo")).unwrap();
    let mut a = agent(root);
    assert_eq!(
        fetch(&mut a, "mem.zoneinfo.free"),
        Err(PmError::from_errno(libc::ENOENT))
    );
}

#[test]
fn slab_caches() {
    let page = unsigned_pagesize() as u64;
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let text = read(&root, "proc/slabinfo");
        // name -> the eight figures, in pmdalinux's item order.
        let mut want: Vec<(String, [Option<u64>; 8])> = Vec::new();
        for l in text.lines().skip(1).filter(|l| !l.starts_with('#')) {
            let w: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| w[i].parse::<u64>().unwrap();
            let sd = w.iter().position(|x| *x == "slabdata").unwrap();
            let size = (n(4) != 0).then(|| n(5) * n(1) * page / n(4));
            want.push((
                w[0].to_string(),
                [
                    Some(n(1)),
                    Some(n(2)),
                    Some(n(3)),
                    Some(n(sd + 1)),
                    Some(n(sd + 2)),
                    Some(n(5)),
                    Some(n(4)),
                    size,
                ],
            ));
        }
        assert!(want.len() > 50, "{tree}: {} caches", want.len());
        for (item, metric) in [
            "objects.active",
            "objects.total",
            "objects.size",
            "slabs.active",
            "slabs.total",
            "slabs.pages_per_slab",
            "slabs.objects_per_slab",
            "slabs.total_size",
        ]
        .iter()
        .enumerate()
        {
            let name = format!("mem.slabinfo.{metric}");
            let got = fetch(&mut a, &name).unwrap();
            assert_eq!(got.len(), want.len(), "{tree} {name}");
            for (cache, v) in &want {
                assert_eq!(got.get(cache).map(u), v[item], "{tree} {name} {cache}");
            }
        }
        // Ids in file order (no saved pmdalinux cache in the tree).
        let ids = ids(&mut a, "mem.slabinfo.objects.active");
        for (i, (cache, _)) in want.iter().enumerate() {
            assert_eq!(ids[cache], i as u32, "{tree} {cache}");
        }
    }
}

#[test]
fn bad_slabinfo_fails_only_slabinfo() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("proc/meminfo"), "MemTotal: 100 kB\n").unwrap();
    std::fs::write(
        root.join("proc/slabinfo"),
        "slabinfo - version: 1.1\nfoo 1 2 3 4 5 6\n",
    )
    .unwrap();
    let mut a = agent(root);
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
    assert_eq!(
        fetch(&mut a, "mem.slabinfo.objects.active"),
        Err(PmError::VALUE)
    );
    assert!(a
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/slabinfo") && e.to_string().contains("version")));
    std::fs::remove_file(root.join("proc/slabinfo")).unwrap();
    let mut a = agent(root);
    assert_eq!(
        fetch(&mut a, "mem.slabinfo.objects.total"),
        Err(PmError::from_errno(libc::ENOENT))
    );
}

#[test]
fn agent_is_send() {
    fn assert_send<T: Send>() {}
    assert_send::<LinuxPmda>();
}

/// The numbers of the line of `text` starting with `key`, after the key.
fn line_nums(text: &str, key: &str) -> Vec<u64> {
    let l = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("no {key} line"));
    l.split_whitespace()
        .skip(1)
        .map(|w| w.split('.').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn nfs_client_server_and_rpc_figures() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let nfs = read(&root, "proc/net/rpc/nfs");
    let nfsd = read(&root, "proc/net/rpc/nfsd");
    let v = |a: &mut LinuxPmda, n: &str| u(&one(a, n));

    // Client: rpc CALLS RETRANS AUTHREFRESH, net PACKETS UDP TCP TCPCONN.
    let rpc = line_nums(&nfs, "rpc");
    let net = line_nums(&nfs, "net");
    assert_eq!(v(&mut a, "rpc.client.rpccnt"), rpc[0]);
    assert_eq!(v(&mut a, "rpc.client.rpcretrans"), rpc[1]);
    assert_eq!(v(&mut a, "rpc.client.rpcauthrefresh"), rpc[2]);
    assert_eq!(v(&mut a, "rpc.client.netcnt"), net[0]);
    assert_eq!(v(&mut a, "rpc.client.nettcpconn"), net[3]);
    // NFSv3 client requests: the count (22) then one number per type.
    let p3 = line_nums(&nfs, "proc3");
    let reqs = fetch(&mut a, "nfs3.client.reqs").unwrap();
    assert_eq!(reqs.len(), 22);
    assert_eq!(u(&reqs["getattr"]), p3[2]);
    assert_eq!(u(&reqs["readdir+"]), p3[18]);
    assert_eq!(u(&reqs["commit"]), p3[22]);
    assert_eq!(v(&mut a, "nfs3.client.calls"), p3[1..].iter().sum::<u64>());
    // No proc2 line in this client: zeros, as pmdalinux leaves them.
    assert_eq!(v(&mut a, "nfs.client.calls"), 0);
    // NFSv4 client: the kernel counts 69 types, pmdalinux the first 56.
    let p4 = line_nums(&nfs, "proc4");
    let reqs = fetch(&mut a, "nfs4.client.reqs").unwrap();
    assert_eq!(reqs.len(), 56);
    assert_eq!(u(&reqs["null"]), p4[1]);
    assert_eq!(u(&reqs["deallocate"]), p4[56]);
    assert_eq!(
        v(&mut a, "nfs4.client.calls"),
        p4[1..57].iter().sum::<u64>()
    );

    // Server: rc HITS MISSES NOCACHE; fh STALE ...; io READ WRITE; th
    // THREADS FULL; ra SIZE DEPTH0..9 MISSES; net; rpc CALLS ERR BADFMT
    // BADAUTH BADCLNT.
    let rc = line_nums(&nfsd, "rc");
    assert_eq!(v(&mut a, "rpc.server.rchits"), rc[0]);
    assert_eq!(v(&mut a, "rpc.server.rcmisses"), rc[1]);
    assert_eq!(v(&mut a, "rpc.server.rcnocache"), rc[2]);
    assert_eq!(v(&mut a, "rpc.server.fh_stale"), line_nums(&nfsd, "fh")[0]);
    let io = line_nums(&nfsd, "io");
    assert_eq!(v(&mut a, "rpc.server.io_read"), io[0]);
    assert_eq!(v(&mut a, "rpc.server.io_write"), io[1]);
    assert_eq!(v(&mut a, "rpc.server.th_cnt"), line_nums(&nfsd, "th")[0]);
    let ra = line_nums(&nfsd, "ra");
    assert_eq!(v(&mut a, "rpc.server.ra_size"), ra[0]);
    assert_eq!(
        v(&mut a, "rpc.server.ra_hits"),
        ra[1..11].iter().sum::<u64>()
    );
    assert_eq!(v(&mut a, "rpc.server.ra_misses"), ra[11]);
    let net = line_nums(&nfsd, "net");
    assert_eq!(v(&mut a, "rpc.server.netcnt"), net[0]);
    assert_eq!(v(&mut a, "rpc.server.nettcpcnt"), net[2]);
    let rpc = line_nums(&nfsd, "rpc");
    assert_eq!(v(&mut a, "rpc.server.rpccnt"), rpc[0]);
    assert_eq!(v(&mut a, "rpc.server.rpcerr"), rpc[1]);
    assert_eq!(v(&mut a, "rpc.server.rpcbadclnt"), rpc[4]);
    // NFSv2 server: null is the first count.
    assert_eq!(
        u(&fetch(&mut a, "nfs.server.reqs").unwrap()["null"]),
        line_nums(&nfsd, "proc2")[1]
    );
    // NFSv4 server operations: op N is instance N+1; the first 71 summed.
    let ops = line_nums(&nfsd, "proc4ops");
    let reqs = fetch(&mut a, "nfs4.server.reqs").unwrap();
    assert_eq!(reqs.len(), 71);
    assert_eq!(u(&reqs["access"]), ops[1 + 3]);
    assert_eq!(u(&reqs["write"]), ops[1 + 38]);
    assert_eq!(u(&reqs["write_same"]), ops[1 + 70]);
    assert_eq!(ids(&mut a, "nfs4.server.reqs")["access"], 4);
    assert_eq!(
        v(&mut a, "nfs4.server.calls"),
        ops[1..72].iter().sum::<u64>()
    );

    // Thread pools: pool_threads, then the pools of pool_stats summed.
    let pools: Vec<Vec<u64>> = read(&root, "proc/fs/nfsd/pool_stats")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().map(|w| w.parse().unwrap()).collect())
        .collect();
    let col = |c: usize| pools.iter().map(|p| p[c]).sum::<u64>();
    assert_eq!(v(&mut a, "nfs.server.threads.total"), 8);
    assert_eq!(v(&mut a, "nfs.server.threads.pools"), pools.len() as u64);
    assert_eq!(v(&mut a, "nfs.server.threads.requests"), col(1));
    assert_eq!(v(&mut a, "nfs.server.threads.enqueued"), col(2));
    assert_eq!(v(&mut a, "nfs.server.threads.processed"), col(3));
    assert_eq!(v(&mut a, "nfs.server.threads.timedout"), col(4));
}

#[test]
fn without_nfs_there_are_no_values_but_the_instances_exist() {
    // The captured host has neither NFS client nor server.
    let root = fixture("vm");
    assert!(!root.join("proc/net/rpc").exists());
    let mut a = agent(&root);
    for m in [
        "rpc.client.rpccnt",
        "rpc.server.rpccnt",
        "rpc.server.th_cnt",
        "nfs.client.calls",
        "nfs4.server.reqs",
        "nfs3.client.reqs",
        "nfs.server.threads.total",
    ] {
        assert!(fetch(&mut a, m).unwrap().is_empty(), "{m} has values");
    }
    // pmdalinux reports the read-ahead figures as zero regardless.
    assert_eq!(one(&mut a, "rpc.server.ra_size"), Value::U32(0));
    let n = ids(&mut a, "nfs4.server.reqs");
    assert_eq!(n.len(), 71);
    assert_eq!(n["op0-unused"], 1);
    assert_eq!(ids(&mut a, "nfs.client.reqs")["statfs"], 17);
}

#[test]
fn serial_lines() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let text = read(&root, "proc/tty/driver/serial");
        // Lines "N: uart:TYPE ... key:value ...", TYPE not "unknown".
        let mut ports = Vec::new();
        for l in text.lines().skip(1) {
            let (port, rest) = l.split_once(": ").unwrap();
            if rest.starts_with("uart:unknown") {
                continue;
            }
            let get = |k: &str| -> u64 {
                rest.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .map_or(0, |v| v.parse().unwrap())
            };
            ports.push((
                port.to_string(),
                [
                    get("tx:"),
                    get("rx:"),
                    get("fe:"),
                    get("pe:"),
                    get("brk:"),
                    get("oe:"),
                    get("irq:"),
                ],
            ));
        }
        assert!(!ports.is_empty());
        for (i, m) in ["tx", "rx", "frame", "parity", "brk", "overrun", "irq"]
            .iter()
            .enumerate()
        {
            let got = fetch(&mut a, &format!("tty.serial.{m}")).unwrap();
            assert_eq!(got.len(), ports.len(), "{tree} {m}");
            for (port, vals) in &ports {
                assert_eq!(
                    got[port.as_str()],
                    Value::U32(vals[i] as u32),
                    "{tree} {m} {port}"
                );
            }
        }
    }
    // Ids in order of first sighting, from 0.
    let mut a = agent(&fixture("multi"));
    let n = ids(&mut a, "tty.serial.rx");
    assert_eq!((n["0"], n["1"]), (0, 1));
    // No serial driver: no instances, no values, no error.
    let dir = tempfile::tempdir().unwrap();
    let mut a = agent(dir.path());
    assert!(fetch(&mut a, "tty.serial.tx").unwrap().is_empty());
}

/// The slab and serial-line figures come from files only root may read;
/// like pmdalinux, the agent gives them only to a client pmcd reports as
/// root, and no values (not an error) to anyone else, while the other
/// metrics answer every client alike; their instance lists are re-read
/// for root only, others see them as last read for root.
#[test]
fn root_only_figures_go_to_root_clients_only() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let others = [
        ("anonymous (TCP)", ClientContext::anonymous()),
        ("user 1000", ClientContext::user(1000, 1000)),
        ("group 0 only", ClientContext::user(1000, 0)),
    ];
    let listed = |a: &mut LinuxPmda, name: &str, client: &ClientContext| -> Vec<(u32, String)> {
        let pmid = a.namespace().lookup(name).unwrap();
        let indom = a.desc(pmid).unwrap().indom;
        a.instances(indom, client)
            .unwrap()
            .into_iter()
            .map(|i| (i.id, i.name))
            .collect()
    };
    for name in ["mem.slabinfo.objects.active", "tty.serial.rx"] {
        // Their instance lists too: nothing for others until root has
        // asked, then the list as read for root.
        for (who, client) in &others {
            assert!(listed(&mut a, name, client).is_empty(), "{name} as {who}");
        }
        let as_root = fetch_as(&mut a, name, &ClientContext::user(0, 0)).unwrap();
        assert!(!as_root.is_empty(), "{name}: root sees values");
        for (who, client) in &others {
            let got = fetch_as(&mut a, name, client);
            assert_eq!(got, Ok(BTreeMap::new()), "{name} as {who}");
        }
        let for_root = listed(&mut a, name, &ClientContext::user(0, 0));
        assert_eq!(for_root.len(), as_root.len(), "{name}");
        for (who, client) in &others {
            assert_eq!(listed(&mut a, name, client), for_root, "{name} as {who}");
        }
    }
    for name in ["mem.physmem", "kernel.all.load", "disk.dev.read"] {
        let as_root = fetch_as(&mut a, name, &ClientContext::user(0, 0)).unwrap();
        for (who, client) in &others {
            let got = fetch_as(&mut a, name, client).unwrap();
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                as_root.keys().collect::<Vec<_>>(),
                "{name} as {who}"
            );
        }
    }
}

/// A label request is answered from the instance list the client may see:
/// asking for instance labels as a non-root client must not re-read the
/// root-only slab and serial-line lists (it did once, through a direct
/// re-read that bypassed the root-only rule).
#[test]
fn label_requests_do_not_refresh_root_only_lists() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let anonymous = ClientContext::anonymous();
    for name in ["mem.slabinfo.objects.active", "tty.serial.rx"] {
        let pmid = a.namespace().lookup(name).unwrap();
        let indom = a.desc(pmid).unwrap().indom;
        let labels = a.instance_labels(indom, &anonymous).unwrap();
        assert!(labels.is_empty(), "{name}: labels of unseen instances");
        let seen = a.instances(indom, &anonymous).unwrap();
        assert!(
            seen.is_empty(),
            "{name}: a label request refreshed the list"
        );
        assert!(!a
            .instances(indom, &ClientContext::user(0, 0))
            .unwrap()
            .is_empty());
    }
}

#[test]
fn logins_from_utmp() {
    // A utmp file written through the C library's own record layout.
    fn rec(ty: i16, user: &str) -> Vec<u8> {
        // SAFETY: utmpx is plain old data; all-zero is a valid value.
        let mut u: libc::utmpx = unsafe { std::mem::zeroed() };
        u.ut_type = ty;
        for (d, s) in u.ut_user.iter_mut().zip(user.bytes()) {
            *d = s as libc::c_char;
        }
        let p = &u as *const libc::utmpx as *const u8;
        // SAFETY: reads the bytes of a live, initialised value.
        unsafe { std::slice::from_raw_parts(p, std::mem::size_of::<libc::utmpx>()) }.to_vec()
    }
    let dir = tempfile::tempdir().unwrap();
    let mut file = Vec::new();
    for (ty, user) in [
        (libc::BOOT_TIME, "reboot"),
        (libc::RUN_LVL, "runlevel"),
        (libc::LOGIN_PROCESS, "LOGIN"),
        (libc::USER_PROCESS, "root"),
        (libc::USER_PROCESS, "alice"),
        (libc::USER_PROCESS, "root"),
        (libc::USER_PROCESS, ""),
        (libc::DEAD_PROCESS, ""),
    ] {
        file.extend(rec(ty, user));
    }
    std::fs::create_dir_all(dir.path().join("var/run")).unwrap();
    std::fs::write(dir.path().join("var/run/utmp"), &file).unwrap();
    let mut a = agent(dir.path());
    assert_eq!(one(&mut a, "kernel.all.nusers"), Value::U32(3));
    assert_eq!(one(&mut a, "kernel.all.nroots"), Value::U32(2));
    // Every record but the nameless user process.
    assert_eq!(one(&mut a, "kernel.all.nsessions"), Value::U32(7));
    // No utmp at all: nobody logged in.
    let mut a = agent(&fixture("multi"));
    assert_eq!(one(&mut a, "kernel.all.nsessions"), Value::U32(0));
}

/// `/proc/swaps` rows: (path, size, used, priority), read independently.
fn swap_rows(text: &str) -> Vec<(String, u64, u64, i64)> {
    text.lines()
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w[0].to_string(),
                w[2].parse().unwrap(),
                w[3].parse().unwrap(),
                w[4].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn swap_areas() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let want = swap_rows(&read(&root, "proc/swaps"));
        if tree == "multi" {
            assert_eq!(want.len(), 2);
        }
        let free = fetch(&mut a, "swapdev.free").unwrap();
        let length = fetch(&mut a, "swapdev.length").unwrap();
        let maxswap = fetch(&mut a, "swapdev.maxswap").unwrap();
        let vlength = fetch(&mut a, "swapdev.vlength").unwrap();
        let prio = fetch(&mut a, "swapdev.priority").unwrap();
        assert_eq!(free.len(), want.len(), "{tree}");
        for (path, size, used, p) in &want {
            assert_eq!(u(&free[path]), size - used, "{tree} {path}");
            assert_eq!(u(&length[path]), *size);
            assert_eq!(u(&maxswap[path]), *size);
            assert_eq!(u(&vlength[path]), 0);
            assert_eq!(prio[path].as_f64().unwrap() as i64, *p);
        }
        let ids = ids(&mut a, "swapdev.free");
        for (i, (path, ..)) in want.iter().enumerate() {
            assert_eq!(ids[path], i as u32);
        }
    }
}

#[test]
fn tmpfs_filesystems() {
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let mut dirs: Vec<String> = Vec::new();
        for l in read(&root, "proc/self/mounts").lines() {
            let w: Vec<&str> = l.split_whitespace().collect();
            if w[2] == "tmpfs" && !dirs.iter().any(|d| d == w[1]) {
                dirs.push(w[1].to_string());
            }
        }
        assert!(!dirs.is_empty(), "{tree}");
        let statfs = read(&root, "statfs");
        let cap = fetch(&mut a, "tmpfs.capacity").unwrap();
        let used = fetch(&mut a, "tmpfs.used").unwrap();
        let free = fetch(&mut a, "tmpfs.free").unwrap();
        let maxfiles = fetch(&mut a, "tmpfs.maxfiles").unwrap();
        let usedfiles = fetch(&mut a, "tmpfs.usedfiles").unwrap();
        let freefiles = fetch(&mut a, "tmpfs.freefiles").unwrap();
        let full = fetch(&mut a, "tmpfs.full").unwrap();
        assert_eq!(cap.len(), dirs.len(), "{tree}");
        for d in &dirs {
            let f: Vec<u64> = statfs
                .lines()
                .find(|l| l.split_whitespace().next() == Some(d.as_str()))
                .unwrap()
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap())
                .collect();
            let (bsize, blocks, bfree, bavail, files, ffree) = (f[0], f[1], f[2], f[3], f[4], f[5]);
            assert_eq!(u(&cap[d]), blocks * bsize / 1024, "{tree} {d}");
            assert_eq!(u(&used[d]), (blocks - bfree) * bsize / 1024);
            assert_eq!(u(&free[d]), bfree * bsize / 1024);
            assert_eq!(u(&maxfiles[d]), files);
            assert_eq!(u(&usedfiles[d]), files - ffree);
            assert_eq!(u(&freefiles[d]), ffree);
            let pct = 100.0 * (blocks - bfree) as f64 / ((blocks - bfree) + bavail) as f64;
            assert!((full[d].as_f64().unwrap() - pct).abs() < 1e-9, "{tree} {d}");
        }
    }
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

/// A node's `Node N KEY: VALUE [kB]` figures by exact key.
fn node_figures(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (k, v) = if w.first() == Some(&"Node") {
                (w[2], w[3])
            } else {
                (w[0], w[1])
            };
            Some((k.trim_end_matches(':').to_string(), v.parse().ok()?))
        })
        .collect()
}

#[test]
fn numa_memory_per_node() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let hugepagesize = field(&read(&root, "proc/meminfo"), "Hugepagesize") * 1024;
    for node in [0u32, 1] {
        let inst = format!("node{node}");
        let dir = format!("sys/devices/system/node/node{node}");
        let m = node_figures(&read(&root, &format!("{dir}/meminfo")));
        let s = node_figures(&read(&root, &format!("{dir}/numastat")));
        // pmdalinux finds keys anywhere in a line and the last line wins:
        // Mapped reads the later ShmemPmdMapped/FilePmdMapped lines and
        // PageTables the later SecPageTables line when the kernel has them.
        let last = |keys: &[&str]| {
            let text = read(&root, &format!("{dir}/meminfo"));
            text.lines()
                .rev()
                .filter_map(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    keys.contains(&w[2].trim_end_matches(':'))
                        .then(|| w[3].parse::<u64>().unwrap())
                })
                .next()
        };
        for (metric, key) in [
            ("total", "MemTotal"),
            ("free", "MemFree"),
            ("used", "MemUsed"),
            ("active", "Active"),
            ("inactive_file", "Inactive(file)"),
            ("dirty", "Dirty"),
            ("filePages", "FilePages"),
            ("anonpages", "AnonPages"),
            ("shmem", "Shmem"),
            ("slabReclaimable", "SReclaimable"),
            ("slabUnreclaimable", "SUnreclaim"),
            ("hugepagesTotal", "HugePages_Total"),
            ("writebackTmp", "WritebackTmp"),
        ] {
            let got = fetch(&mut a, &format!("mem.numa.util.{metric}")).unwrap();
            assert_eq!(
                got.get(&inst).map(u),
                m.get(key).copied(),
                "{inst} {metric}"
            );
        }
        let mapped = fetch(&mut a, "mem.numa.util.mapped").unwrap();
        assert_eq!(
            mapped.get(&inst).map(u),
            last(&["Mapped", "ShmemPmdMapped", "FilePmdMapped"])
        );
        let pt = fetch(&mut a, "mem.numa.util.pageTables").unwrap();
        assert_eq!(pt.get(&inst).map(u), last(&["PageTables", "SecPageTables"]));
        // Lines this kernel does not print have no values.
        assert!(fetch(&mut a, "mem.numa.util.highTotal").unwrap().is_empty());
        let bytes = fetch(&mut a, "mem.numa.util.hugepagesFreeBytes").unwrap();
        assert_eq!(u(&bytes[&inst]), m["HugePages_Free"] * hugepagesize);
        for (metric, key) in [
            ("hit", "numa_hit"),
            ("miss", "numa_miss"),
            ("foreign", "numa_foreign"),
            ("interleave_hit", "interleave_hit"),
            ("local_node", "local_node"),
            ("other_node", "other_node"),
        ] {
            let got = fetch(&mut a, &format!("mem.numa.alloc.{metric}")).unwrap();
            assert_eq!(u(&got[&inst]), s[key], "{inst} {metric}");
        }
    }
    // The administrator's bandwidths: NODE:MBYTES_PER_SEC after the
    // version line.
    let conf = read(&root, "var/lib/pcp/pmdas/linux/bandwidth.conf");
    let bw = fetch(&mut a, "mem.numa.max_bandwidth").unwrap();
    let want: BTreeMap<String, Value> = conf
        .lines()
        .skip_while(|l| !l.starts_with("Version:"))
        .skip(1)
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_string(), Value::Double(v.parse().unwrap()))
        })
        .collect();
    assert_eq!(bw, want);
    assert!(fetch(&mut agent(&fixture("vm")), "mem.numa.max_bandwidth")
        .unwrap()
        .is_empty());
    let total = fetch(&mut a, "mem.numa.util.total").unwrap();
    assert_eq!(total.len(), 2);
}

#[test]
fn online_cpus_and_nodes() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let cpus = fetch(&mut a, "hinv.cpu.online").unwrap();
    // CPUs of /proc/stat: cpu0 has no online file (counts as online).
    assert_eq!(
        cpus.keys().cloned().collect::<Vec<_>>(),
        ["cpu0", "cpu1", "cpu3"]
    );
    for (cpu, v) in &cpus {
        let f = root.join(format!("sys/devices/system/{}/{cpu}/online", "cpu"));
        let want = std::fs::read_to_string(f).map_or(1, |t| t.trim().parse().unwrap());
        assert_eq!(u(v), want, "{cpu}");
    }
    let nodes = fetch(&mut a, "hinv.node.online").unwrap();
    assert_eq!(nodes.len(), 2);
    assert!(nodes.values().all(|v| u(v) == 1));
    // An offline CPU's 0, and an unreadable file's default.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("proc")).unwrap();
    std::fs::write(
        r.join("proc/stat"),
        "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\ncpu1 0 0 0 0 0 0 0 0 0 0\ncpu2 0 0 0 0 0 0 0 0 0 0\n",
    )
    .unwrap();
    for (cpu, text) in [("cpu1", "0\n"), ("cpu2", "garbage\n")] {
        let d = r.join(format!("sys/devices/system/cpu/{cpu}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("online"), text).unwrap();
    }
    let mut a = agent(r);
    let cpus = fetch(&mut a, "hinv.cpu.online").unwrap();
    let got: Vec<u64> = cpus.values().map(u).collect();
    assert_eq!(got, [1, 0, 1]);
}

#[test]
fn ksm_uevents_and_version() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let num = |rel: &str| read(&root, rel).trim().parse::<u64>().unwrap();
    for (metric, file) in [
        ("full_scans", "full_scans"),
        ("merge_across_nodes", "merge_across_nodes"),
        ("pages_shared", "pages_shared"),
        ("pages_sharing", "pages_sharing"),
        ("pages_to_scan", "pages_to_scan"),
        ("pages_unshared", "pages_unshared"),
        ("pages_volatile", "pages_volatile"),
        ("run_state", "run"),
        ("sleep_time", "sleep_millisecs"),
    ] {
        let v = one(&mut a, &format!("mem.ksm.{metric}"));
        assert_eq!(u(&v), num(&format!("sys/kernel/mm/ksm/{file}")), "{metric}");
    }
    assert_eq!(
        u(&one(&mut a, "sysfs.kernel.uevent_seqnum")),
        num("sys/kernel/uevent_seqnum")
    );
    assert_eq!(
        one(&mut a, "pmda.version"),
        Value::String("6.0.3".to_string())
    );
    assert!(fetch(&mut a, "sysfs.kernel.debug.extfrag_unusable")
        .unwrap()
        .is_empty());
}

#[test]
fn missing_or_bad_files_fail_only_their_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/net")).unwrap();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    std::fs::write(root.join("proc/meminfo"), "MemTotal: 100 kB\n").unwrap();
    std::fs::write(root.join("proc/self/mounts"), "tmpfs /run tmpfs rw 0 0\n").unwrap();
    let mut a = agent(root);
    let enoent = Err(PmError::from_errno(libc::ENOENT));
    // No swap support, no uevent counter: no values, as pmdalinux says.
    assert!(fetch(&mut a, "swapdev.free").unwrap().is_empty());
    assert!(fetch(&mut a, "sysfs.kernel.uevent_seqnum")
        .unwrap()
        .is_empty());
    assert!(ids(&mut a, "swapdev.free").is_empty());
    for m in [
        "network.unix.stream.count",
        "network.rawconn.count",
        "network.rawconn6.count",
        "mem.ksm.pages_shared",
        // No statfs figures for the only tmpfs mount.
        "tmpfs.capacity",
    ] {
        assert_eq!(fetch(&mut a, m).map(|v| v.len()), enoent, "{m}");
    }
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
    // No node files: one node, with no values, as pmdalinux reports it.
    assert!(fetch(&mut a, "mem.numa.util.total").unwrap().is_empty());
    assert_eq!(ids(&mut a, "tmpfs.used").len(), 1);
    // A swap size that is not a number is reported, and fails swapdev only.
    std::fs::write(
        root.join("proc/swaps"),
        "Filename Type Size Used Priority\n/dev/x partition lots 0 -2\n",
    )
    .unwrap();
    assert_eq!(fetch(&mut a, "swapdev.length"), Err(PmError::VALUE));
    assert!(a
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/swaps")));
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
}

/// `ROOT/etc/passwd` user name of `uid`, or the number.
fn user_name(root: &Path, uid: &str) -> String {
    read(root, "etc/passwd")
        .lines()
        .find(|l| l.split(':').nth(2) == Some(uid))
        .map_or(uid.to_string(), |l| {
            l.split(':').next().unwrap().to_string()
        })
}

/// An IPC key column as pmdalinux shows it.
fn key_hex(key: &str) -> String {
    let k: i64 = key.parse().unwrap();
    format!("0x{:08x}", if k < 0 { k + (1 << 32) } else { k })
}

#[test]
fn sysv_ipc_objects_and_totals() {
    let page = unsigned_pagesize() as u64;
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let rows = |file: &str| -> Vec<Vec<String>> {
            read(&root, file)
                .lines()
                .skip(1)
                .map(|l| l.split_whitespace().map(str::to_string).collect())
                .collect()
        };
        let get = |a: &mut LinuxPmda, m: &str| fetch(a, m).unwrap();
        let str_of = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        // Shared memory segments.
        let shm = rows("proc/sysvipc/shm");
        assert!(!shm.is_empty(), "{tree}");
        let (key, owner, perms, segsz, nattch, status, cpid, lpid) = (
            get(&mut a, "ipc.shm.key"),
            get(&mut a, "ipc.shm.owner"),
            get(&mut a, "ipc.shm.perms"),
            get(&mut a, "ipc.shm.segsz"),
            get(&mut a, "ipc.shm.nattch"),
            get(&mut a, "ipc.shm.status"),
            get(&mut a, "ipc.shm.creator_pid"),
            get(&mut a, "ipc.shm.last_access_pid"),
        );
        assert_eq!(key.len(), shm.len());
        let (mut pages, mut rss, mut swap) = (0, 0, 0);
        for r in &shm {
            let id = &r[1];
            assert_eq!(str_of(&key[id]), key_hex(&r[0]), "{tree} {id}");
            assert_eq!(str_of(&owner[id]), user_name(&root, &r[7]));
            let p = &r[2];
            assert_eq!(u(&perms[id]), p[p.len() - 3..].parse::<u64>().unwrap());
            let want = match (p.len() == 4).then(|| &p[..1]) {
                Some("3") => "dest locked",
                Some("2") => "locked",
                Some("1") => "dest",
                _ => "",
            };
            assert_eq!(str_of(&status[id]), want, "{tree} {id}");
            let size: u64 = r[3].parse().unwrap();
            assert_eq!(u(&segsz[id]), size);
            assert_eq!(u(&cpid[id]), r[4].parse::<u64>().unwrap());
            assert_eq!(u(&lpid[id]), r[5].parse::<u64>().unwrap());
            assert_eq!(u(&nattch[id]), r[6].parse::<u64>().unwrap());
            pages += size.div_ceil(page);
            rss += r[14].parse::<u64>().unwrap();
            swap += r[15].parse::<u64>().unwrap();
        }
        assert_eq!(u(&one(&mut a, "ipc.shm.tot")), pages * page);
        assert_eq!(u(&one(&mut a, "ipc.shm.rss")), rss);
        assert_eq!(u(&one(&mut a, "ipc.shm.swp")), swap);
        assert_eq!(u(&one(&mut a, "ipc.shm.used_ids")), shm.len() as u64);
        assert_eq!(u(&one(&mut a, "ipc.shm.swap_attempts")), 0);
        // Message queues.
        let msg = rows("proc/sysvipc/msg");
        let (mkey, mowner, msz, mnum, mls, mlr) = (
            get(&mut a, "ipc.msg.key"),
            get(&mut a, "ipc.msg.owner"),
            get(&mut a, "ipc.msg.msgsz"),
            get(&mut a, "ipc.msg.messages"),
            get(&mut a, "ipc.msg.last_send_pid"),
            get(&mut a, "ipc.msg.last_recv_pid"),
        );
        assert_eq!(mkey.len(), msg.len());
        let (mut bytes, mut count) = (0, 0);
        for r in &msg {
            let id = &r[1];
            assert_eq!(str_of(&mkey[id]), key_hex(&r[0]));
            assert_eq!(str_of(&mowner[id]), user_name(&root, &r[7]));
            assert_eq!(u(&msz[id]), r[3].parse::<u64>().unwrap());
            assert_eq!(u(&mnum[id]), r[4].parse::<u64>().unwrap());
            assert_eq!(u(&mls[id]), r[5].parse::<u64>().unwrap());
            assert_eq!(u(&mlr[id]), r[6].parse::<u64>().unwrap());
            bytes += r[3].parse::<u64>().unwrap();
            count += r[4].parse::<u64>().unwrap();
        }
        assert_eq!(u(&one(&mut a, "ipc.msg.used_queues")), msg.len() as u64);
        assert_eq!(u(&one(&mut a, "ipc.msg.tot_msg")), count);
        assert_eq!(u(&one(&mut a, "ipc.msg.tot_bytes")), bytes);
        // Semaphore arrays.
        let sem = rows("proc/sysvipc/sem");
        let (skey, sowner, sperms, nsems) = (
            get(&mut a, "ipc.sem.key"),
            get(&mut a, "ipc.sem.owner"),
            get(&mut a, "ipc.sem.perms"),
            get(&mut a, "ipc.sem.nsems"),
        );
        assert_eq!(skey.len(), sem.len());
        let mut total = 0;
        for r in &sem {
            let id = &r[1];
            assert_eq!(str_of(&skey[id]), key_hex(&r[0]));
            assert_eq!(str_of(&sowner[id]), user_name(&root, &r[4]));
            assert_eq!(u(&sperms[id]), r[2].parse::<u64>().unwrap() % 1000);
            assert_eq!(u(&nsems[id]), r[3].parse::<u64>().unwrap());
            total += r[3].parse::<u64>().unwrap();
        }
        assert_eq!(u(&one(&mut a, "ipc.sem.used_sem")), sem.len() as u64);
        assert_eq!(u(&one(&mut a, "ipc.sem.tot_sem")), total);
        // Instance ids in file order (no saved cache in the trees).
        let ids = ids(&mut a, "ipc.shm.key");
        for (i, r) in shm.iter().enumerate() {
            assert_eq!(ids[&r[1]], i as u32);
        }
    }
    let multi = fixture("multi");
    let owners = fetch(&mut agent(&multi), "ipc.shm.owner").unwrap();
    assert_eq!(owners["33"], Value::String("4321".into()));
    assert_eq!(owners["32"], Value::String("root".into()));
}

#[test]
fn sysv_ipc_limits() {
    let root = fixture("vm");
    let mut a = agent(&root);
    let num = |f: &str| {
        read(&root, &format!("proc/sys/kernel/{f}"))
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let sem: Vec<u64> = read(&root, "proc/sys/kernel/sem")
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    for (metric, want) in [
        // 32-bit metrics: SHMMAX and SHMALL keep their low 32 bits.
        ("ipc.shm.max_segsz", num("shmmax") % (1 << 32)),
        ("ipc.shm.max_shmsys", num("shmall") % (1 << 32)),
        ("ipc.shm.max_seg", num("shmmni")),
        ("ipc.shm.max_segproc", num("shmmni")),
        ("ipc.shm.min_segsz", 1),
        ("ipc.msg.max_msgsz", num("msgmax")),
        ("ipc.msg.max_defmsgq", num("msgmnb")),
        ("ipc.msg.max_msgqid", num("msgmni")),
        ("ipc.msg.sz_pool", 512_000),
        ("ipc.msg.mapent", 16384),
        ("ipc.msg.max_msgseg", 16),
        ("ipc.msg.num_smsghdr", 16384),
        ("ipc.msg.max_seg", 65535),
        ("ipc.sem.max_perid", sem[0]),
        ("ipc.sem.max_sem", sem[1]),
        ("ipc.sem.max_ops", sem[2]),
        ("ipc.sem.max_semid", sem[3]),
        ("ipc.sem.max_semmap", 1_024_000_000),
        ("ipc.sem.num_undo", 1_024_000_000),
        ("ipc.sem.max_undoent", 500),
        ("ipc.sem.sz_semundo", 20),
        ("ipc.sem.max_semval", 32767),
        ("ipc.sem.max_exit", 32767),
    ] {
        assert_eq!(u(&one(&mut a, metric)), want, "{metric}");
    }
}

#[test]
fn missing_or_bad_ipc_tables_fail_only_their_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("proc/sysvipc")).unwrap();
    std::fs::write(root.join("proc/meminfo"), "MemTotal: 100 kB\n").unwrap();
    std::fs::write(
        root.join("proc/sysvipc/sem"),
        "       key      semid perms      nsems   uid\n         0          1   6x0          3     0\n",
    )
    .unwrap();
    let mut a = agent(root);
    let enoent = Err(PmError::from_errno(libc::ENOENT));
    assert_eq!(fetch(&mut a, "ipc.shm.used_ids").map(|v| v.len()), enoent);
    // No message queue table: no queues (no values), but the totals
    // computed from it fail.
    assert_eq!(fetch(&mut a, "ipc.msg.key").map(|v| v.len()), Ok(0));
    assert_eq!(
        fetch(&mut a, "ipc.msg.used_queues").map(|v| v.len()),
        enoent
    );
    assert_eq!(fetch(&mut a, "ipc.shm.max_segsz").map(|v| v.len()), enoent);
    assert_eq!(fetch(&mut a, "ipc.sem.nsems"), Err(PmError::VALUE));
    assert!(a
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/sysvipc/sem")));
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
    assert_eq!(u(&one(&mut a, "ipc.sem.max_semval")), 32767);
}

/// Expected value of a per-device metric, by device name.
type Expect<'a> = Box<dyn Fn(&str) -> u64 + 'a>;

#[test]
fn zram_devices() {
    let page_kb = unsigned_pagesize() as u64 / 1024;
    for tree in ["vm", "multi"] {
        let root = fixture(tree);
        let mut a = agent(&root);
        let stats = read(&root, "proc/diskstats");
        let devs: Vec<String> = stats
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .filter(|n| n.starts_with("zram"))
            .map(str::to_string)
            .collect();
        assert_eq!(devs.len(), if tree == "vm" { 1 } else { 2 }, "{tree}");
        let col = |d: &str, c: usize| diskcol(&stats, d, c);
        let checks: Vec<(&str, Expect<'_>)> = vec![
            ("read", Box::new(|d| col(d, 1))),
            ("write", Box::new(|d| col(d, 5))),
            ("total", Box::new(|d| col(d, 1) + col(d, 5))),
            ("blkread", Box::new(|d| col(d, 3))),
            ("blkwrite", Box::new(|d| col(d, 7))),
            ("blktotal", Box::new(|d| col(d, 3) + col(d, 7))),
            ("read_bytes", Box::new(|d| col(d, 3) / 2)),
            ("write_bytes", Box::new(|d| col(d, 7) / 2)),
            ("read_merge", Box::new(|d| col(d, 2))),
            ("write_merge", Box::new(|d| col(d, 6))),
            ("read_rawactive", Box::new(|d| col(d, 4))),
            ("write_rawactive", Box::new(|d| col(d, 8))),
            ("inflight", Box::new(|d| col(d, 9))),
            ("avactive", Box::new(|d| col(d, 10))),
            ("aveq", Box::new(|d| col(d, 11))),
            ("discard", Box::new(|d| col(d, 12))),
            ("blkdiscard", Box::new(|d| col(d, 14))),
            ("flush", Box::new(|d| col(d, 16))),
            (
                // From sysfs (bytes), not /proc/partitions; zero unsized.
                "capacity",
                Box::new(|d| {
                    std::fs::read_to_string(root.join(format!("sys/block/{d}/disksize")))
                        .map_or(0, |t| t.trim().parse::<u64>().unwrap() / 1024)
                }),
            ),
        ];
        for (metric, want) in &checks {
            let got = fetch(&mut a, &format!("zram.{metric}")).unwrap();
            assert_eq!(got.len(), devs.len(), "{tree} {metric}");
            for d in &devs {
                assert_eq!(u(&got[d]), want(d), "{tree} zram.{metric} {d}");
            }
        }
        // The sysfs statistics files, where the device has them.
        for (file, names) in [
            (
                "mm_stat",
                &[
                    "mm_stat.data_size.original",
                    "mm_stat.data_size.compressed",
                    "mm_stat.mem.used_total",
                    "mm_stat.mem.limit",
                    "mm_stat.mem.max_used",
                    "mm_stat.pages.same",
                    "mm_stat.pages.compacted",
                    "mm_stat.pages.huge",
                ][..],
            ),
            (
                "io_stat",
                &[
                    "io_stat.failed.reads",
                    "io_stat.failed.writes",
                    "io_stat.invalid",
                    "io_stat.notify_free",
                ][..],
            ),
            (
                "bd_stat",
                &["bd_stat.count", "bd_stat.reads", "bd_stat.writes"][..],
            ),
        ] {
            for (i, name) in names.iter().enumerate() {
                let got = fetch(&mut a, &format!("zram.{name}")).unwrap();
                for d in &devs {
                    let text = std::fs::read_to_string(root.join(format!("sys/block/{d}/{file}")));
                    let want = text.ok().map(|t| {
                        let raw: u64 = t.split_whitespace().nth(i).unwrap().parse().unwrap();
                        match (file, i) {
                            ("mm_stat", 0..=4) => raw / 1024,
                            ("mm_stat", _) | ("bd_stat", _) => raw * page_kb,
                            _ => raw,
                        }
                    });
                    assert_eq!(got.get(d).map(u), want, "{tree} zram.{name} {d}");
                }
            }
        }
    }
    // Not in the disk metrics.
    let mut a = agent(&fixture("multi"));
    assert!(!fetch(&mut a, "disk.dev.read")
        .unwrap()
        .contains_key("zram0"));
}

#[test]
fn thermal_throttling_per_cpu() {
    let root = fixture("multi");
    let mut a = agent(&root);
    for (metric, file) in [
        ("core.count", "core_throttle_count"),
        ("core.time", "core_throttle_total_time_ms"),
        ("package.count", "package_throttle_count"),
        ("package.time", "package_throttle_total_time_ms"),
    ] {
        let got = fetch(&mut a, &format!("hinv.cpu.thermal_throttle.{metric}")).unwrap();
        assert_eq!(got.len(), 3);
        for (cpu, v) in &got {
            let f = root.join(format!(
                "sys/devices/system/cpu/{cpu}/thermal_throttle/{file}"
            ));
            let want = std::fs::read_to_string(f).map_or(0, |t| t.trim().parse().unwrap());
            assert_eq!(u(v), want, "{metric} {cpu}");
        }
        assert_ne!(u(&got["cpu3"]), 0);
    }
}

#[test]
fn tape_drives_and_fc_hosts() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let tape = |f: &str| -> u64 {
        read(&root, &format!("sys/class/scsi_tape/st0/stats/{f}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert_eq!(u(&one(&mut a, "hinv.ntape")), 1);
    for f in [
        "in_flight",
        "io_ns",
        "other_cnt",
        "read_byte_cnt",
        "read_cnt",
        "read_ns",
        "resid_cnt",
        "write_byte_cnt",
        "write_cnt",
        "write_ns",
    ] {
        let got = fetch(&mut a, &format!("tape.dev.{f}")).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["st0"], "{f}");
        assert_eq!(u(&got["st0"]), tape(f), "{f}");
    }
    let fc = |f: &str| -> u64 {
        let t = read(&root, &format!("sys/class/fc_host/host2/statistics/{f}"));
        u64::from_str_radix(t.trim().trim_start_matches("0x"), 16).unwrap()
    };
    assert_eq!(u(&one(&mut a, "hinv.nfchost")), 1);
    for (metric, want) in [
        // pmdalinux 6.0.3 answers out.frames with the received bytes and
        // in.bytes with the sent frames; so does the agent.
        ("in.frames", fc("rx_frames")),
        ("out.frames", fc("rx_words") * 4),
        ("in.bytes", fc("tx_frames")),
        ("out.bytes", fc("tx_words") * 4),
        ("lip_count", fc("lip_count")),
        // All ones: the driver does not count it.
        ("nos_count", 0),
        ("error_frames", fc("error_frames")),
        ("dumped_frames", fc("dumped_frames")),
    ] {
        let got = fetch(&mut a, &format!("fchost.{metric}")).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["host2"], "{metric}");
        assert_eq!(u(&got["host2"]), want, "{metric}");
    }
    // Neither on the vm tree: no values, counts zero.
    let mut a = agent(&fixture("vm"));
    assert_eq!(u(&one(&mut a, "hinv.ntape")), 0);
    assert_eq!(u(&one(&mut a, "hinv.nfchost")), 0);
    assert!(fetch(&mut a, "tape.dev.read_cnt").unwrap().is_empty());
    assert!(fetch(&mut a, "fchost.in.frames").unwrap().is_empty());
}

#[test]
fn scsi_device_map() {
    let root = fixture("multi");
    let mut a = agent(&root);
    // Independently: each Host line's address, the device type two lines
    // on, and the block directory in sysfs when there is one.
    let text = read(&root, "proc/scsi/scsi");
    let lines: Vec<&str> = text.lines().collect();
    let mut want = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.strip_prefix("Host: scsi") else {
            continue;
        };
        let w: Vec<&str> = rest.split_whitespace().collect();
        let n = |s: &str| s.parse::<u32>().unwrap();
        let addr = format!("{}:{}:{}:{}", n(w[0]), n(w[2]), n(w[4]), n(w[6]));
        let ty = lines[i + 2].split_whitespace().nth(1).unwrap();
        let dir = root.join(format!("sys/class/scsi_device/{addr}/device/block"));
        if let Ok(mut rd) = std::fs::read_dir(dir) {
            let dev = rd.next().unwrap().unwrap().file_name();
            want.insert(
                format!("scsi{addr} {ty}"),
                Value::String(dev.to_string_lossy().into_owned()),
            );
        }
    }
    assert_eq!(want.len(), 2);
    assert_eq!(fetch(&mut a, "hinv.map.scsi").unwrap(), want);
    assert!(fetch(&mut agent(&fixture("vm")), "hinv.map.scsi")
        .unwrap()
        .is_empty());
}

#[test]
fn disks_by_wwid_and_md_status() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let stats = read(&root, "proc/diskstats");
    // Disks with a WWID file, grouped by its canonical form (naa. -> 3,
    // eui. -> 2, t10. -> 1), in diskstats order.
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for dev in ["sda", "sdb", "nvme0n1"] {
        let w = std::fs::read_to_string(root.join(format!("sys/block/{dev}/device/wwid")))
            .or_else(|_| std::fs::read_to_string(root.join(format!("sys/block/{dev}/wwid"))))
            .unwrap();
        let w = w.trim();
        let id = if let Some(r) = w.strip_prefix("naa.") {
            format!("3{r}")
        } else if let Some(r) = w.strip_prefix("eui.") {
            format!("2{r}")
        } else {
            w.to_string()
        };
        match groups.iter_mut().find(|(g, _)| *g == id) {
            Some((_, p)) => p.push(dev.to_string()),
            None => groups.push((id, vec![dev.to_string()])),
        }
    }
    assert_eq!(groups.len(), 2);
    let paths = fetch(&mut a, "disk.wwid.scsi_paths").unwrap();
    let read_ops = fetch(&mut a, "disk.wwid.read").unwrap();
    let wbytes = fetch(&mut a, "disk.wwid.write_bytes").unwrap();
    let sched = fetch(&mut a, "disk.wwid.scheduler").unwrap();
    for (id, devs) in &groups {
        assert_eq!(paths[id], Value::String(devs.join(" ")), "{id}");
        let sum = |c: usize| devs.iter().map(|d| diskcol(&stats, d, c)).sum::<u64>();
        assert_eq!(u(&read_ops[id]), sum(1), "{id}");
        assert_eq!(
            u(&wbytes[id]),
            devs.iter().map(|d| diskcol(&stats, d, 7) / 2).sum::<u64>()
        );
        // The last path's scheduler ("unknown" without the file), and the
        // last path's discard Kbytes, as pmdalinux reports them.
        let last = devs.last().unwrap();
        let want = std::fs::read_to_string(root.join(format!("sys/block/{last}/queue/scheduler")))
            .map_or("unknown".to_string(), |s| {
                s[s.find('[').unwrap() + 1..s.find(']').unwrap()].to_string()
            });
        assert_eq!(sched[id], Value::String(want));
        let dbytes = fetch(&mut a, "disk.wwid.discard_bytes").unwrap();
        assert_eq!(u(&dbytes[id]), diskcol(&stats, last, 14) / 2);
    }
    let wwid_ids = ids(&mut a, "disk.wwid.read");
    assert_eq!(wwid_ids[&groups[0].0], 0);
    assert_eq!(wwid_ids[&groups[1].0], 1);
    // disk.md.status: the stand-in mdadm's exit status for each md device.
    let status = fetch(&mut a, "disk.md.status").unwrap();
    // mdadm is given /dev/ and the instance name (here the persistent
    // name, as pmdalinux gives it).
    let md = ids(&mut a, "disk.md.read");
    let name = md.keys().next().unwrap().clone();
    assert_eq!(name, "data");
    let want = std::process::Command::new(root.join("sbin/mdadm"))
        .args(["--detail", "--test", &format!("/dev/{name}")])
        .status()
        .unwrap()
        .code()
        .unwrap();
    // The wait status, as pmdalinux reports it: the exit code times 256.
    assert_eq!(status.len(), 1);
    assert_eq!(
        status.values().next().unwrap().as_f64(),
        Some((want * 256) as f64)
    );
    assert!(fetch(&mut a, "disk.wwid.capacity").unwrap().is_empty());
    // Without md devices, or without WWIDs: no values.
    let mut vm = agent(&fixture("vm"));
    assert!(fetch(&mut vm, "disk.md.status").unwrap().is_empty());
    assert!(fetch(&mut vm, "disk.wwid.read").unwrap().is_empty());
    // Without mdadm: -1 for each md device, as pmdalinux says.
    let copy = copy_tree(&root);
    std::fs::remove_file(copy.path().join("sbin/mdadm")).unwrap();
    let mut a = agent(copy.path());
    let status = fetch(&mut a, "disk.md.status").unwrap();
    assert_eq!(
        status.into_iter().collect::<Vec<_>>(),
        [("data".to_string(), Value::I32(-1))]
    );
}

/// A scratch copy of a fixture tree.
fn copy_tree(root: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", root.display()))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    dir
}

#[test]
fn cpu_frequency_scaling() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let dir = |cpu: &str| root.join(format!("sys/devices/system/cpu/{cpu}/cpufreq"));
    let num = |cpu: &str, f: &str| -> Option<u64> {
        std::fs::read_to_string(dir(cpu).join(f))
            .ok()
            .map(|t| t.trim().parse().unwrap())
    };
    let count = fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap();
    let time = fetch(&mut a, "hinv.cpu.frequency_scaling.time").unwrap();
    let max = fetch(&mut a, "hinv.cpu.frequency_scaling.max").unwrap();
    let min = fetch(&mut a, "hinv.cpu.frequency_scaling.min").unwrap();
    // cpu0: from the statistics; MHz (kHz / 1000) times time, summed.
    let tis = read(
        &root,
        "sys/devices/system/cpu/cpu0/cpufreq/stats/time_in_state",
    );
    let rows: Vec<(u64, u64)> = tis
        .lines()
        .map(|l| {
            let mut w = l.split_whitespace().map(|x| x.parse::<u64>().unwrap());
            (w.next().unwrap() / 1000, w.next().unwrap())
        })
        .collect();
    assert_eq!(
        u(&count["cpu0"]),
        rows.iter().map(|(f, t)| f * t).sum::<u64>()
    );
    assert_eq!(u(&time["cpu0"]), rows.iter().map(|(_, t)| t).sum::<u64>());
    assert_eq!(u(&max["cpu0"]), rows.iter().map(|(f, _)| *f).max().unwrap());
    assert_eq!(u(&min["cpu0"]), rows.iter().map(|(f, _)| *f).min().unwrap());
    // cpu1: no statistics: current, highest and lowest frequency in MHz.
    assert_eq!(
        u(&count["cpu1"]),
        num("cpu1", "scaling_cur_freq").unwrap() / 1000
    );
    assert!(!time.contains_key("cpu1"));
    assert_eq!(
        u(&max["cpu1"]),
        num("cpu1", "cpuinfo_max_freq").unwrap() / 1000
    );
    assert_eq!(
        u(&min["cpu1"]),
        num("cpu1", "cpuinfo_min_freq").unwrap() / 1000
    );
    // cpu3: no cpufreq at all.
    assert!(!count.contains_key("cpu3") && !max.contains_key("cpu3"));

    // Sampled once, until a fetch includes a /proc/cpuinfo figure.
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir_all(r.join("proc")).unwrap();
    std::fs::write(
        r.join("proc/stat"),
        "cpu  1 0 1 1 0 0 0 0 0 0\ncpu0 1 0 1 1 0 0 0 0 0 0\n",
    )
    .unwrap();
    std::fs::write(
        r.join("proc/cpuinfo"),
        "processor\t: 0\ncpu MHz\t\t: 2000.000\n\n",
    )
    .unwrap();
    let f = r.join("sys/devices/system/cpu/cpu0/cpufreq");
    std::fs::create_dir_all(&f).unwrap();
    std::fs::write(f.join("scaling_cur_freq"), "2000000\n").unwrap();
    let mut a = agent(r);
    assert_eq!(
        u(&fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap()["cpu0"]),
        2000
    );
    std::fs::write(f.join("scaling_cur_freq"), "3000000\n").unwrap();
    assert_eq!(
        u(&fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap()["cpu0"]),
        2000
    );
    assert!(!fetch(&mut a, "hinv.cpu.clock").unwrap().is_empty());
    assert_eq!(
        u(&fetch(&mut a, "hinv.cpu.frequency_scaling.count").unwrap()["cpu0"]),
        3000
    );
}

#[test]
fn extfrag_unusable_per_node() {
    let root = fixture("multi");
    let mut a = agent(&root);
    let text = read(&root, "sys/kernel/debug/extfrag/unusable_index");
    let got = fetch(&mut a, "sysfs.kernel.debug.extfrag_unusable").unwrap();
    assert_eq!(got.len(), 2);
    for node in [0u32, 1] {
        // The Normal zone's indexes of the node, summed in single precision.
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("Node {node},")) && l.contains("zone   Normal"))
            .unwrap();
        let want: f32 = line
            .split_whitespace()
            .skip(4)
            .map(|x| x.parse::<f32>().unwrap())
            .sum();
        assert_eq!(
            got[&format!("node{node}")],
            Value::Float(want),
            "node{node}"
        );
    }
    assert!(fetch(
        &mut agent(&fixture("vm")),
        "sysfs.kernel.debug.extfrag_unusable"
    )
    .unwrap()
    .is_empty());
}
