//! The `zones` collector: memory figures per NUMA node and zone with
//! each zone's lowmem protection (`/proc/zoneinfo`, `mem.zoneinfo.*`),
//! and the buddy allocator's free blocks per zone, order and node
//! (`/proc/buddyinfo`, `mem.buddyinfo.*`). It owns those three instance
//! domains.

pub mod buddyinfo;
pub mod zoneinfo;

use std::fmt::Write as _;

use pcp_core::{LabelSet, PmError};

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::rows::Rows;
use crate::system::System;
use crate::value::Put;
use buddyinfo::BuddyRow;
use zoneinfo::{ProtRow, ZoneRow, Zoneinfo};

/// /proc/zoneinfo.
const ZONEINFO: Need = Need::new(Id::Zones, 0);
/// /proc/buddyinfo.
const BUDDYINFO: Need = Need::new(Id::Zones, 1);

/// The collector's state.
#[derive(Debug)]
pub struct Zones {
    pagesize: u64,
    /// Node and zone figures (hidden zones keep an id but are not listed).
    zones: Rows<ZoneRow>,
    /// Protection figures.
    protection: Rows<ProtRow>,
    buddy: Vec<BuddyRow>,
    /// (row of `buddy`, order) pairs, by instance.
    orders: Rows<(usize, usize)>,
}

impl Zones {
    pub(crate) fn new(sys: &System) -> Zones {
        Zones {
            pagesize: sys.pagesize,
            zones: Rows::seeded(sys.root(), descs::ZONEINFO.serial),
            protection: Rows::default(),
            buddy: Vec::new(),
            orders: Rows::seeded(sys.root(), descs::BUDDYINFO.serial),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & ZONEINFO.bit != 0 {
            let (zones, protection) = (&mut self.zones, &mut self.protection);
            sys.parse(ZONEINFO, "proc/zoneinfo", |b| {
                let z = Zoneinfo::parse(b)?;
                zones.set(z.rows, |r| &r.name);
                protection.set(z.prot, |r| &r.name);
                Ok(())
            });
        }
        if want & BUDDYINFO.bit != 0 {
            let (buddy, orders) = (&mut self.buddy, &mut self.orders);
            sys.parse(BUDDYINFO, "proc/buddyinfo", |b| {
                *buddy = buddyinfo::parse(b)?;
                let pairs = buddy
                    .iter()
                    .enumerate()
                    .flat_map(|(r, row)| (0..row.free.len()).map(move |o| (r, o)));
                orders.set_named(pairs, |&(r, o), key| buddy_name(&buddy[r], o, key));
                Ok(())
            });
        }
    }

    /// Pages in Kbytes.
    fn kb(&self, pages: u64) -> u64 {
        pages.wrapping_mul(self.pagesize) / 1024
    }
}

fn buddy_name(r: &BuddyRow, order: usize, key: &mut String) -> std::fmt::Result {
    write!(key, "{}::order{order}::node{}", r.zone, r.node)
}

/// /proc/zoneinfo keys whose metric names differ, and what some figures
/// mean.
fn zone_help(name: &str) -> (String, String) {
    let field = name.trim_start_matches("mem.zoneinfo.");
    if field == "nr_free_pages" {
        return (
            "free pages counter (no values)".into(),
            "The zone's nr_free_pages counter of /proc/zoneinfo. It is not reported (there are no values), as in pmdalinux: the same figure is mem.zoneinfo.free.".into(),
        );
    }
    let key = match field {
        "free" => "pages free",
        "workingset_active_anon" => "workingset_activate_anon",
        "workingset_active_file" => "workingset_activate_file",
        other => other,
    };
    let what = match field {
        "free" => "free memory".to_string(),
        "min" => "min watermark: below it only atomic and emergency allocations succeed".into(),
        "low" => "low watermark: below it kswapd starts reclaiming".into(),
        "high" => "high watermark: kswapd reclaims until free memory is back above it".into(),
        "scanned" => "pages scanned since the last reclaim (older kernels)".into(),
        "spanned" => "memory spanned by the zone, holes included".into(),
        "present" => "memory physically present in the zone".into(),
        "managed" => "memory the page allocator manages in the zone".into(),
        "cma" => "memory reserved for the contiguous memory allocator".into(),
        _ => format!("the {key} figure"),
    };
    (
        format!("{what} per node or zone, from /proc/zoneinfo"),
        format!("The {key} line of /proc/zoneinfo, converted from pages to Kbytes. Figures the kernel keeps per NUMA node (the per-node stats section) are reported for the node's instance nodeN; the others per zone, for ZONE::nodeN. No value where the kernel does not print the line."),
    )
}

fn buddy(c: &Collectors, kbytes: bool, out: &mut pcp_core::agent::Sink<'_>) -> Result<(), PmError> {
    let z = &c.zones;
    z.orders.put_u64(out, |&(r, order)| {
        let free = *z.buddy.get(r)?.free.get(order)?;
        Some(if kbytes {
            // Blocks of 2^order pages, in Kbytes.
            free.saturating_mul(z.pagesize << order.min(40)) / 1024
        } else {
            free
        })
    });
    Ok(())
}

/// The zones collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family(
        "mem.zoneinfo.",
        &[ZONEINFO],
        |_, rest, _| zoneinfo::metric_item(rest).map(|i| i as u32),
        |c, item, out| {
            let z = &c.zones;
            for (id, r) in z.zones.iter().filter(|(_, r)| !r.hidden) {
                if let Some(Some(v)) = r.values.get(item as usize) {
                    out.put_u64(id, z.kb(*v));
                }
            }
            Ok(())
        },
    )
    .made_help(zone_help),
    Binding::new("mem.zoneinfo.protection", &[ZONEINFO], |c, _, out| {
        let z = &c.zones;
        z.protection.put_u64(out, |r| Some(z.kb(r.pages)));
        Ok(())
    })
    .help(
        "lowmem reserve of each zone",
        "The lowmem protection figures of each zone (the protection list in /proc/zoneinfo): memory an allocation that could have been served from a higher zone must leave free in this zone. Converted from pages to Kbytes; one instance per zone and list position.",
    ),
    Binding::new("mem.buddyinfo.pages", &[BUDDYINFO], |c, _, out| buddy(c, false, out)).help(
        "free blocks per zone, order and node",
        "Free blocks of 2^order contiguous pages in each memory zone of each NUMA node, from /proc/buddyinfo.",
    ),
    Binding::new("mem.buddyinfo.total", &[BUDDYINFO], |c, _, out| buddy(c, true, out)).help(
        "free memory per zone, order and node",
        "Free memory held in blocks of 2^order pages in each zone of each NUMA node, in Kbytes: the block count times the block size.",
    ),
]];

/// The zone, protection and buddy instance domains.
pub(crate) const INDOMS: &[IndomBinding] = &[
    IndomBinding::new(descs::ZONEINFO.serial, &[ZONEINFO], |c| {
        let z = &c.zones.zones;
        z.iter()
            .filter(|(_, r)| !r.hidden)
            .map(|(id, r)| pcp_core::Instance::new(id, r.name.clone()))
            .collect()
    })
    .help(
        "set of NUMA nodes and their memory zones",
        "One instance per NUMA node for the figures the kernel keeps per node, named nodeN, and one per memory zone with pages present, named ZONE::nodeN (DMA::node0, Normal::node0), from /proc/zoneinfo.",
    )
    .labels(&["memory", "numa_node"], "per zone per numa_node")
    .instance_labels(|c, _| {
        c.zones
            .zones
            .iter()
            .filter(|(_, r)| !r.hidden)
            .map(|(id, r)| {
                let mut l = LabelSet::new().with("numa_node", r.node);
                if let Some(z) = &r.zone {
                    l = l.with("zone", z.as_str());
                }
                (id, l)
            })
            .collect()
    }),
    IndomBinding::new(descs::ZONEINFO_PROTECTION.serial, &[ZONEINFO], |c| {
        c.zones.protection.instances(|r| r.name.clone())
    })
    .help(
        "set of lowmem protection figures per zone",
        "One instance per entry of each zone's protection list in /proc/zoneinfo, named ZONE::nodeN::lowmem_reservedK for the K-th entry.",
    )
    .instance_labels(|c, _| {
        c.zones
            .protection
            .iter()
            .map(|(id, r)| {
                let l = LabelSet::new()
                    .with("lowmem_reserved", r.lowmem)
                    .with("numa_node", r.node)
                    .with("zone", r.zone.as_str());
                (id, l)
            })
            .collect()
    }),
    IndomBinding::new(descs::BUDDYINFO.serial, &[BUDDYINFO], |c| {
        let z = &c.zones;
        z.orders.instances(|&(r, order)| {
            let mut name = String::new();
            let _ = buddy_name(&z.buddy[r], order, &mut name);
            name
        })
    })
    .help(
        "set of free block sizes per zone and node",
        "One instance per memory zone, block order and NUMA node in /proc/buddyinfo, named ZONE::orderN::nodeM.",
    )
    .labels(&["memory", "numa_node"], "per buddy per numa_node")
    .instance_labels(|c, _| {
        let z = &c.zones;
        z.orders
            .iter()
            .map(|(id, &(r, order))| {
                let row = &z.buddy[r];
                let l = LabelSet::new()
                    .with("numa_node", row.node)
                    .with("zone", row.zone.as_str())
                    .with("order", order as u64);
                (id, l)
            })
            .collect()
    }),
];
