//! The `numa` collector: per-node memory figures from
//! `/sys/devices/system/node/nodeN/{meminfo,numastat,online}`, the
//! administrator's memory bandwidth per node (pmdalinux's
//! `bandwidth.conf`) and each node's unusable free space index (debugfs).
//! It owns the NUMA node instance domain (`nodeN` with id N), whose list
//! is the `cpu` collector's node map.

pub mod parse;

use pcp_core::agent::Sink;
use pcp_core::{Instance, LabelSet, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::cpu::{Cpu, NODES};
use crate::descs;
use crate::memory::MEMINFO;
use crate::system::System;
use crate::value::Put;
use parse::{NodeMem, MEMINFO_KEYS, NUMASTAT_KEYS};

/// Each node's meminfo and numastat files.
const NODEMEM: Need = Need::new(Id::Numa, 0);
/// Each node's `online` file.
const ONLINE: Need = Need::new(Id::Numa, 1);
/// pmdalinux's bandwidth.conf.
const BANDWIDTH: Need = Need::new(Id::Numa, 2);
/// debugfs's extfrag/unusable_index.
const EXTFRAG: Need = Need::new(Id::Numa, 3);

/// The collector's state.
#[derive(Debug, Default)]
pub struct Numa {
    nodes: Vec<NodeMem>,
    online: Vec<(u32, u64)>,
    bandwidth: Vec<(u32, f64)>,
    extfrag: Vec<(u32, f64)>,
}

impl Numa {
    pub(crate) fn new(_: &System) -> Numa {
        Numa::default()
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32, cpu: &Cpu) {
        let nodes: Vec<u32> = cpu.node_numbers().collect();
        if want & NODEMEM.bit != 0 {
            // A node whose files are missing has no values for them, as
            // pmdalinux reports it.
            self.nodes = nodes
                .iter()
                .map(|&node| {
                    let mut n = NodeMem {
                        node,
                        ..Default::default()
                    };
                    let dir = format!("sys/devices/system/node/node{node}");
                    if let Ok(b) = sys.read(&format!("{dir}/meminfo")) {
                        parse::scan(b, &MEMINFO_KEYS, &mut n.meminfo);
                    }
                    if let Ok(b) = sys.read(&format!("{dir}/numastat")) {
                        parse::scan(b, &NUMASTAT_KEYS, &mut n.numastat);
                    }
                    n
                })
                .collect();
            sys.done(NODEMEM, Ok(()));
        }
        if want & ONLINE.bit != 0 {
            self.online = nodes
                .iter()
                .map(|&n| {
                    let rel = format!("sys/devices/system/node/node{n}/online");
                    (n, crate::cpu::online(sys, &rel))
                })
                .collect();
            sys.done(ONLINE, Ok(()));
        }
        if want & BANDWIDTH.bit != 0 {
            // An administrator's file; none, no values.
            self.bandwidth = std::fs::read_to_string(sys.root().join(parse::BANDWIDTH_CONF))
                .map(|text| parse::parse_bandwidth(&text, &nodes))
                .unwrap_or_default();
            sys.done(BANDWIDTH, Ok(()));
        }
        if want & EXTFRAG.bit != 0 {
            // debugfs, usually mounted only by hand: no file, no values.
            let rel = "sys/kernel/debug/extfrag/unusable_index";
            self.extfrag = std::fs::read_to_string(sys.root().join(rel))
                .map(|text| parse::extfrag_normal(&text))
                .unwrap_or_default();
            self.extfrag.retain(|(n, _)| nodes.contains(n));
            sys.done(EXTFRAG, Ok(()));
        }
    }
}

/// The name after `mem.numa.util.` of each node meminfo key.
const UTIL: [(&str, &str); 32] = [
    ("total", "MemTotal:"),
    ("free", "MemFree:"),
    ("used", "MemUsed:"),
    ("active", "Active:"),
    ("inactive", "Inactive:"),
    ("active_anon", "Active(anon):"),
    ("inactive_anon", "Inactive(anon):"),
    ("active_file", "Active(file):"),
    ("inactive_file", "Inactive(file):"),
    ("highTotal", "HighTotal:"),
    ("highFree", "HighFree:"),
    ("lowTotal", "LowTotal:"),
    ("lowFree", "LowFree:"),
    ("unevictable", "Unevictable:"),
    ("mlocked", "Mlocked:"),
    ("dirty", "Dirty:"),
    ("writeback", "Writeback:"),
    ("filePages", "FilePages:"),
    ("mapped", "Mapped:"),
    ("anonpages", "AnonPages:"),
    ("shmem", "Shmem:"),
    ("kernelStack", "KernelStack:"),
    ("pageTables", "PageTables:"),
    ("NFS_Unstable", "NFS_Unstable:"),
    ("bounce", "Bounce:"),
    ("writebackTmp", "WritebackTmp:"),
    ("slab", "Slab:"),
    ("slabReclaimable", "SReclaimable:"),
    ("slabUnreclaimable", "SUnreclaim:"),
    ("hugepagesTotal", "HugePages_Total:"),
    ("hugepagesFree", "HugePages_Free:"),
    ("hugepagesSurp", "HugePages_Surp:"),
];

/// The slot in [`MEMINFO_KEYS`] of a `mem.numa.util.` name.
fn util_slot(name: &str) -> Option<u32> {
    let key = UTIL.iter().find(|(n, _)| *n == name)?.1;
    MEMINFO_KEYS
        .iter()
        .position(|k| *k == key)
        .map(|i| i as u32)
}

/// The slot in [`NUMASTAT_KEYS`] of a `mem.numa.alloc.` name.
fn alloc_slot(name: &str) -> Option<u32> {
    let key = match name {
        "hit" => "numa_hit",
        "miss" => "numa_miss",
        "foreign" => "numa_foreign",
        other => other,
    };
    NUMASTAT_KEYS
        .iter()
        .position(|k| *k == key)
        .map(|i| i as u32)
}

fn util_help(name: &str) -> (String, String) {
    let f = name.trim_start_matches("mem.numa.util.");
    let unit = if f.starts_with("hugepages") {
        "pages"
    } else {
        "Kbytes"
    };
    (
        format!("{f} per NUMA node"),
        format!("The node's {f} memory figure from /sys/devices/system/node/nodeN/meminfo, in {unit}. Keys are found the way pmdalinux finds them, anywhere in a line, so a key that is also the tail of a later key (Mapped, PageTables) takes that later line's figure. One instance per NUMA node."),
    )
}

fn bytes_help(name: &str) -> (String, String) {
    let f = name
        .trim_start_matches("mem.numa.util.")
        .trim_end_matches("Bytes");
    (
        format!("{f} per node in bytes"),
        format!("The node's {f} huge page count times the huge page size (Hugepagesize of /proc/meminfo). One instance per NUMA node."),
    )
}

fn alloc_help(name: &str) -> (String, String) {
    let f = name.trim_start_matches("mem.numa.alloc.");
    let what = match f {
        "hit" => "allocations satisfied on the node they were meant for",
        "miss" => "allocations meant for another node that were satisfied on this node",
        "foreign" => "allocations meant for this node that were satisfied on another node",
        "interleave_hit" => "interleave-policy allocations satisfied on the intended node",
        "local_node" => "allocations on this node by a process running on it",
        _ => "allocations on this node by a process running on another node",
    };
    (
        format!("{f} page allocations per node"),
        format!("Page {what}, from /sys/devices/system/node/nodeN/numastat. One instance per NUMA node."),
    )
}

/// A huge page count of each node times the huge page size in bytes
/// (no values without the size in /proc/meminfo).
fn huge_bytes(c: &Collectors, key: &str, out: &mut Sink<'_>) -> Result<(), PmError> {
    let Some(size) = c.memory.kb("hugepagesize") else {
        return Ok(());
    };
    let huge = size.saturating_mul(1024);
    let slot = MEMINFO_KEYS.iter().position(|k| *k == key).unwrap_or(0);
    for n in &c.numa.nodes {
        if let Some(v) = n.meminfo[slot] {
            out.put_u64(n.node, v.wrapping_mul(huge));
        }
    }
    Ok(())
}

const NODE_FILES: &[Need] = &[NODES, NODEMEM];
const HUGE: &[Need] = &[MEMINFO, NODES, NODEMEM];

/// The numa collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::new("hinv.nnode", &[NODES], |c, _, out| {
        out.set_u64(c.cpu.node_numbers().count() as u64);
        Ok(())
    })
    .help(
        "number of NUMA nodes",
        "Number of NUMA nodes under /sys/devices/system/node (one when there is no NUMA information).",
    ),
    Binding::new("hinv.node.online", &[NODES, ONLINE], |c, _, out| {
        for (n, v) in &c.numa.online {
            out.put_u64(*n, *v);
        }
        Ok(())
    })
    .help(
        "NUMA node online (1) or offline (0)",
        "Whether each NUMA node is online, from /sys/devices/system/node/nodeN/online; a node without that file counts as online.",
    ),
    Binding::family(
        "mem.numa.util.",
        NODE_FILES,
        |_, rest, _| util_slot(rest),
        |c, slot, out| {
            for n in &c.numa.nodes {
                if let Some(v) = n.meminfo[slot as usize] {
                    out.put_u64(n.node, v);
                }
            }
            Ok(())
        },
    )
    .made_help(util_help),
    Binding::new("mem.numa.util.hugepagesTotalBytes", HUGE, |c, _, out| {
        huge_bytes(c, "HugePages_Total:", out)
    })
    .made_help(bytes_help),
    Binding::new("mem.numa.util.hugepagesFreeBytes", HUGE, |c, _, out| {
        huge_bytes(c, "HugePages_Free:", out)
    })
    .made_help(bytes_help),
    Binding::new("mem.numa.util.hugepagesSurpBytes", HUGE, |c, _, out| {
        huge_bytes(c, "HugePages_Surp:", out)
    })
    .made_help(bytes_help),
    Binding::family(
        "mem.numa.alloc.",
        NODE_FILES,
        |_, rest, _| alloc_slot(rest),
        |c, slot, out| {
            for n in &c.numa.nodes {
                if let Some(v) = n.numastat[slot as usize] {
                    out.put_u64(n.node, v);
                }
            }
            Ok(())
        },
    )
    .made_help(alloc_help),
    Binding::new("mem.numa.max_bandwidth", &[NODES, BANDWIDTH], |c, _, out| {
        for (n, v) in &c.numa.bandwidth {
            out.put_f64(*n, *v);
        }
        Ok(())
    })
    .help(
        "memory bandwidth limit per node",
        "The memory bandwidth of each NUMA node in Mbytes per second, as the administrator configures it in /var/lib/pcp/pmdas/linux/bandwidth.conf (a Version:1.0 line, then nodeN:BANDWIDTH lines; see samplebandwidth.conf there). No values without the file, or for a node whose bandwidth is not above zero.",
    ),
    Binding::new("sysfs.kernel.debug.extfrag_unusable", &[NODES, EXTFRAG], |c, _, out| {
        for (n, v) in &c.numa.extfrag {
            out.put_f64(*n, *v);
        }
        Ok(())
    })
    .help(
        "unusable free space index per node",
        "How unusable the free memory of each node's Normal zone is for large allocations because of fragmentation: the kernel's unusable free space indexes (0 to 1) of every allocation order, summed, from /sys/kernel/debug/extfrag/unusable_index. No values without debugfs mounted, or for a node without a Normal zone.",
    ),
]];

/// The NUMA node instance domain.
pub(crate) const INDOMS: &[IndomBinding] =
    &[IndomBinding::new(descs::NODE.serial, &[NODES], |c| {
        c.cpu
            .node_numbers()
            .map(|n| Instance::new(n, format!("node{n}")))
            .collect()
    })
    .help(
        "set of NUMA nodes",
        "One instance per NUMA node, named nodeN with id N.",
    )
    .labels(&["numa_node"], "per numa_node")
    .instance_labels(|_, insts| {
        insts
            .iter()
            .map(|i| (i.id, LabelSet::new().with("numa_node", i.id)))
            .collect()
    })];
