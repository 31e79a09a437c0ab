//! Root-only figures (slab caches, serial lines) go to root clients
//! only, and no request from anyone else re-reads their lists.

use super::*;

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
