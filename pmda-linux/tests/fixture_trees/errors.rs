//! Missing, unreadable and surprising files fail only the metrics that
//! need them; every metric and instance domain has help.

use super::*;

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
    // The instance list behind a missing file is empty, as pmdalinux
    // lists it (it was -ENOENT once; PCP QA's partial trees fail
    // check_agent on that); a file that is there but unreadable is the
    // answer.
    let root = ClientContext::user(0, 0);
    let indom_of = |a: &mut LinuxPmda, name: &str| {
        let pmid = a.namespace().lookup(name).unwrap();
        a.desc(pmid).unwrap().indom
    };
    let disk = indom_of(&mut a, "disk.dev.read");
    assert_eq!(a.instances(disk, &root), Ok(Vec::new()));
    assert_eq!(a.instance_labels(disk, &root), Ok(Vec::new()));
    std::fs::create_dir(dir.path().join("proc/swaps")).unwrap();
    let swap = indom_of(&mut a, "swapdev.free");
    assert_eq!(
        a.instances(swap, &root),
        Err(PmError::from_errno(libc::EISDIR))
    );
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
        .agent()
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
        .agent()
        .source_errors()
        .iter()
        .any(|e| e.to_string().contains("proc/swaps")));
    assert_eq!(u(&one(&mut a, "mem.physmem")), 100);
}
