//! The slab, swapdev, numa and memory collectors: slab caches, swap
//! areas, per-node memory and KSM.

use super::*;

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
        .agent()
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
