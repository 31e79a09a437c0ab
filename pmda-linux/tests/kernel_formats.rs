//! The agent on `fixtures/kernels/VERSION`: trees in the formats of Linux
//! 3.10, 4.19, 5.15 and 6.1 (see `fixtures/build_kernels.sh` for what each
//! mimics). Expected values are worked out here from the raw files with
//! deliberately simple code; `pcp_testsuite.rs` also runs PCP's pmdalinux
//! on the same trees.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pcp_core::{ClientContext, FetchRequest, PmError, Pmda, Profile, Value, PM_IN_NULL};
use pmda_linux::{LinuxConfig, LinuxPmda};

fn tree(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kernels")
        .join(version)
}

fn agent(version: &str) -> LinuxPmda {
    LinuxPmda::new(LinuxConfig {
        root: tree(version),
    })
    .expect("agent builds")
}

/// One metric: instance name ("" for singular) -> value.
fn fetch(a: &mut LinuxPmda, name: &str) -> Result<BTreeMap<String, Value>, PmError> {
    let pmid = a.namespace().lookup(name).expect(name);
    let client = ClientContext::user(0, 0);
    let r = a
        .fetch(&FetchRequest {
            pmids: &[pmid],
            profile: &Profile::all(),
            client: &client,
        })
        .remove(0)?;
    let indom = a.desc(pmid).unwrap().indom;
    let names = if indom.is_null() {
        Vec::new()
    } else {
        a.instances(indom, &client).unwrap()
    };
    Ok(r.into_iter()
        .map(|(id, v)| {
            let n = if id == PM_IN_NULL {
                String::new()
            } else {
                names.iter().find(|i| i.id == id).unwrap().name.clone()
            };
            (n, v)
        })
        .collect())
}

fn one(a: &mut LinuxPmda, name: &str) -> u64 {
    let v = fetch(a, name).unwrap();
    v[""].as_f64().unwrap_or_else(|| panic!("{name}: {v:?}")) as u64
}

fn read(version: &str, rel: &str) -> String {
    std::fs::read_to_string(tree(version).join(rel)).unwrap()
}

/// `key value` lines.
fn keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?.trim_end_matches(':').to_string();
            Some((k, it.next()?.parse().ok()?))
        })
        .collect()
}

fn sum_prefixed(vm: &BTreeMap<String, u64>, prefix: &str, except: &[&str]) -> u64 {
    vm.iter()
        .filter(|(k, _)| k.starts_with(prefix) && !except.contains(&k.as_str()))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn reclaim_totals_add_up_the_fields_each_kernel_has() {
    // 3.10: per-zone fields, summed; pgscan_direct_throttle counts in the
    // direct total as pmdalinux counts it.
    let vm = keyed(&read("3.10", "proc/vmstat"));
    let mut a = agent("3.10");
    assert_eq!(
        one(&mut a, "mem.vmstat.pgsteal_total"),
        sum_prefixed(&vm, "pgsteal_", &[])
    );
    assert_eq!(
        one(&mut a, "mem.vmstat.pgsteal_total"),
        12207 + 64019 + 331 + 2203
    );
    assert_eq!(
        one(&mut a, "mem.vmstat.pgscan_kswapd_total"),
        sum_prefixed(&vm, "pgscan_kswapd_", &[])
    );
    assert_eq!(
        one(&mut a, "mem.vmstat.pgscan_direct_total"),
        sum_prefixed(&vm, "pgscan_direct_", &[])
    );
    // One thp_split before 4.5.
    assert_eq!(one(&mut a, "mem.vmstat.thp_split"), vm["thp_split"]);
    assert!(fetch(&mut a, "mem.vmstat.thp_split_page")
        .unwrap()
        .is_empty());

    // 4.19: per-reclaimer fields; thp_split is its two halves.
    let vm = keyed(&read("4.19", "proc/vmstat"));
    let mut a = agent("4.19");
    assert_eq!(
        one(&mut a, "mem.vmstat.pgsteal_total"),
        vm["pgsteal_kswapd"] + vm["pgsteal_direct"]
    );
    assert_eq!(
        one(&mut a, "mem.vmstat.pgscan_direct_total"),
        vm["pgscan_direct"] + vm["pgscan_direct_throttle"]
    );
    assert_eq!(
        one(&mut a, "mem.vmstat.thp_split"),
        vm["thp_split_page"] + vm["thp_split_page_failed"]
    );
    assert!(fetch(&mut a, "mem.vmstat.pgsteal_kswapd_normal")
        .unwrap()
        .is_empty());

    // 5.15: pgsteal_file is one of pmdalinux's fields, so it is added in
    // too (pgsteal_anon is not).
    let vm = keyed(&read("5.15", "proc/vmstat"));
    let mut a = agent("5.15");
    assert_eq!(
        one(&mut a, "mem.vmstat.pgsteal_total"),
        vm["pgsteal_kswapd"] + vm["pgsteal_direct"] + vm["pgsteal_file"]
    );
}

#[test]
fn mem_available_is_estimated_before_3_14() {
    let mi = keyed(&read("3.10", "proc/meminfo"));
    assert!(!mi.contains_key("MemAvailable"));
    // The zones' low watermarks, in pages.
    let low: u64 = read("3.10", "proc/zoneinfo")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("low "))
        .map(|v| v.trim().parse::<u64>().unwrap())
        .sum();
    // SAFETY: sysconf reads a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as i64;
    let wmark = low as i64 * page / 1024;
    let cache = (mi["Active(file)"] + mi["Inactive(file)"]) as i64;
    let slab = mi["SReclaimable"] as i64;
    let want = mi["MemFree"] as i64 - wmark + cache - (cache / 2).min(wmark) + slab
        - (slab / 2).min(wmark);
    let mut a = agent("3.10");
    assert_eq!(one(&mut a, "mem.util.available"), want.max(0) as u64);
    // Where the kernel prints it, its figure.
    let mut a = agent("4.19");
    assert_eq!(
        one(&mut a, "mem.util.available"),
        keyed(&read("4.19", "proc/meminfo"))["MemAvailable"]
    );
}

#[test]
fn diskstats_of_14_18_and_20_fields() {
    // Fields a kernel does not print read 0, as pmdalinux's sscanf leaves
    // them: discard came in 4.18 (fields 15-18), flush in 5.5 (19-20).
    for (version, discard, flush) in [("3.10", 0, 0), ("4.19", 7220, 0), ("5.15", 7220, 40911)] {
        let mut a = agent(version);
        let disk = if version == "3.10" { "sda" } else { "nvme0n1" };
        let reads = fetch(&mut a, "disk.dev.read").unwrap();
        let want_reads = if version == "3.10" { 71324.0 } else { 138540.0 };
        assert_eq!(reads[disk].as_f64(), Some(want_reads), "{version}");
        let d = fetch(&mut a, "disk.dev.discard").unwrap();
        let f = fetch(&mut a, "disk.dev.flush").unwrap();
        assert_eq!(d[disk].as_f64(), Some(discard as f64), "{version}");
        assert_eq!(f[disk].as_f64(), Some(flush as f64), "{version}");
    }
}

#[test]
fn softnet_columns_of_each_kernel() {
    // 3.10: ten columns, so no flow_limit_count.
    let mut a = agent("3.10");
    assert_eq!(
        fetch(&mut a, "network.softnet.flow_limit_count"),
        Err(PmError::APPVERSION)
    );
    assert_eq!(one(&mut a, "network.softnet.received_rps"), 0x11 + 0x5);
    assert_eq!(one(&mut a, "network.softnet.processed"), 0x1a2b3 + 0xf00d);
    // 5.15: thirteen columns, the last the CPU number.
    let mut a = agent("5.15");
    let per = fetch(&mut a, "network.softnet.percpu.processed").unwrap();
    assert_eq!(per["cpu1"].as_f64(), Some(0xa0f12 as f64));
    assert_eq!(one(&mut a, "network.softnet.flow_limit_count"), 2);
}

#[test]
fn pressure_files_of_each_kernel() {
    // No /proc/pressure before 4.20: no values.
    let mut a = agent("4.19");
    assert!(fetch(&mut a, "kernel.all.pressure.cpu.some.total")
        .unwrap()
        .is_empty());
    // 5.15: cpu has a full line too (pmdalinux 6.0.3 reads only "some").
    let mut a = agent("5.15");
    assert_eq!(one(&mut a, "kernel.all.pressure.cpu.some.total"), 91442381);
    assert!(fetch(&mut a, "kernel.all.pressure.irq.full.total")
        .unwrap()
        .is_empty());
    // 6.1: irq pressure has a full line only.
    let mut a = agent("6.1");
    assert_eq!(one(&mut a, "kernel.all.pressure.irq.full.total"), 3512904);
    let avg = fetch(&mut a, "kernel.all.pressure.irq.full.avg").unwrap();
    assert_eq!(avg["10 second"], Value::Float(0.04));
    assert_eq!(avg["5 minute"], Value::Float(0.01));
}

#[test]
fn zoneinfo_before_and_after_per_node_counters() {
    for version in ["3.10", "4.19"] {
        let text = read(version, "proc/zoneinfo");
        let mut a = agent(version);
        let free = fetch(&mut a, "mem.zoneinfo.free").unwrap();
        let want: Vec<u64> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pages free"))
            .map(|v| v.trim().parse().unwrap())
            .collect();
        let mut got: Vec<(String, u64)> = free
            .iter()
            .map(|(k, v)| (k.clone(), v.as_f64().unwrap() as u64))
            .collect();
        got.sort();
        assert_eq!(got.len(), 3, "{version}: {got:?}");
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let mut want_named: Vec<(String, u64)> = ["DMA", "DMA32", "Normal"]
            .iter()
            .zip(&want)
            .map(|(z, v)| (format!("{z}::node0"), v * page / 1024))
            .collect();
        want_named.sort();
        assert_eq!(got, want_named, "{version}");
    }
}
