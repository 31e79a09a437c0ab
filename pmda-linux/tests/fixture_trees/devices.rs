//! The zram, scsi and multipath collectors: zram devices, tape drives,
//! FC hosts, the SCSI device map, disks by WWID and md status.

use super::*;

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
