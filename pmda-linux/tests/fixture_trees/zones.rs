//! The zones collector: zoneinfo, buddyinfo and extfrag per node and zone.

use super::*;

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
        .agent()
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
