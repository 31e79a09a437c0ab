//! The interrupts collector: hard and soft interrupts per line and CPU.

use super::*;

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
