//! Whole trees: every figure of the captured machine (`fixtures/vm`) and
//! of the assembled one with several disks, interfaces and nodes
//! (`fixtures/multi`) against its raw files.

use super::*;

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
