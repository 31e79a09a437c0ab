//! The `memory` collector: `/proc/meminfo` (`mem.util.*`, `mem.physmem`,
//! `swap.length`, the memory `hinv.*` figures) and the kernel's same-page
//! merging figures from `/sys/kernel/mm/ksm` (`mem.ksm.*`). The bindings
//! are in [`util`] and [`ksm`].

pub mod util;

use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::Id;
use crate::keyed::Keyed;
use crate::sysfiles::SysFiles;
use crate::system::System;

/// /proc/meminfo.
pub(crate) const MEMINFO: Need = Need::new(Id::Memory, 0);
/// The estimate of available memory on kernels without MemAvailable
/// (reads /proc/zoneinfo's watermarks).
const AVAILABLE: Need = Need::new(Id::Memory, 1);
/// The KSM files, sources 2 on (see [`ksm::FILES`]).
const KSM_FIRST: u32 = 2;

/// The meminfo keys (lower case, without the colon) whose slots exist
/// from the start, so formulas can use them; bindings add their own.
const KEYS: &[&str] = &[
    "memtotal",
    "memfree",
    "buffers",
    "cached",
    "dirty",
    "writeback",
    "swaptotal",
    "swapfree",
    "active(file)",
    "inactive(file)",
    "sreclaimable",
    "memavailable",
    "hugepagesize",
    "hugepages_total",
    "hugepages_free",
    "hugepages_rsvd",
    "hugepages_surp",
];

/// The collector's state.
#[derive(Debug)]
pub struct Memory {
    pagesize: u64,
    meminfo: Keyed,
    /// MemAvailable as estimated for this fetch, on kernels without it.
    estimate: Option<u64>,
    ksm: SysFiles,
}

impl Memory {
    pub(crate) fn new(sys: &System) -> Memory {
        let mut meminfo = Keyed::new();
        for k in KEYS {
            meminfo.slot(k);
        }
        Memory {
            pagesize: sys.pagesize,
            meminfo,
            estimate: None,
            ksm: SysFiles::new(&ksm::FILES, KSM_FIRST),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32) {
        if want & MEMINFO.bit != 0 {
            let k = &mut self.meminfo;
            sys.parse(MEMINFO, "proc/meminfo", |b| k.parse_colon(b));
        }
        if want & AVAILABLE.bit != 0 {
            self.estimate = self.estimated_available(sys);
            sys.done(AVAILABLE, Ok(()));
        }
        self.ksm.refresh(sys, Id::Memory, want);
    }

    /// The value of meminfo line `key` (lower case, no colon): Kbytes, or
    /// pages for the huge page counts.
    pub(crate) fn kb(&self, key: &str) -> Option<u64> {
        self.meminfo.get(self.meminfo.existing_slot(key)?)
    }

    /// MemAvailable of a kernel before 3.14, estimated as pmdalinux does
    /// (after the kernel's own formula, commit 34e431b0ae): free memory
    /// above the zones' low watermarks, plus the page cache and the
    /// reclaimable slab less half of each (at most the watermark), at
    /// least 0; in Kbytes. The watermarks are the `low` pages of
    /// /proc/zoneinfo (0 without it). pmdalinux subtracts the watermark
    /// in bytes from figures in Kbytes; here it is in Kbytes.
    fn estimated_available(&self, sys: &System) -> Option<u64> {
        if self.kb("memavailable").is_some() {
            return None;
        }
        let free = self.kb("memfree")?;
        let active_file = self.kb("active(file)")?;
        let inactive_file = self.kb("inactive(file)")?;
        let slab_reclaimable = self.kb("sreclaimable")?;
        self.kb("memtotal")?;
        let low_pages: i64 = std::fs::read_to_string(sys.root().join("proc/zoneinfo"))
            .map(|t| crate::zones::zoneinfo::low_watermarks(&t))
            .unwrap_or(0);
        let wmark = low_pages.saturating_mul(self.pagesize as i64) / 1024;
        let mut avail = free as i64 - wmark;
        let pagecache = (active_file + inactive_file) as i64;
        avail += pagecache - (pagecache / 2).min(wmark);
        let slab = slab_reclaimable as i64;
        avail += slab - (slab / 2).min(wmark);
        Some(avail.max(0) as u64)
    }

    /// A KSM figure (file `i` of [`ksm::FILES`]).
    fn ksm(&self, i: usize) -> Result<u64, PmError> {
        self.ksm.number(i, 0)
    }
}

/// The kernel's same-page merging figures (`mem.ksm.*`).
pub mod ksm {
    use super::*;
    use crate::value::Put;

    /// The files under `/sys/kernel/mm/ksm`, in source order.
    pub(crate) const FILES: [&str; 9] = [
        "sys/kernel/mm/ksm/full_scans",
        "sys/kernel/mm/ksm/merge_across_nodes",
        "sys/kernel/mm/ksm/pages_shared",
        "sys/kernel/mm/ksm/pages_sharing",
        "sys/kernel/mm/ksm/pages_to_scan",
        "sys/kernel/mm/ksm/pages_unshared",
        "sys/kernel/mm/ksm/pages_volatile",
        "sys/kernel/mm/ksm/run",
        "sys/kernel/mm/ksm/sleep_millisecs",
    ];

    macro_rules! ksm {
        ($name:literal, $i:literal, $one:literal, $help:literal) => {
            Binding::new(
                $name,
                &[Need::new(Id::Memory, KSM_FIRST + $i)],
                |c, _, out| {
                    out.set_u64(c.memory.ksm($i)?);
                    Ok(())
                },
            )
            .help($one, $help)
        };
    }

    /// The KSM metrics.
    pub(crate) const BINDINGS: &[Binding] = &[
        ksm!("mem.ksm.full_scans", 0, "full scans of mergeable memory", "Times the kernel's same-page merging daemon (ksmd) has scanned all mergeable areas, from /sys/kernel/mm/ksm/full_scans."),
        ksm!("mem.ksm.merge_across_nodes", 1, "merging across NUMA nodes allowed", "1 when pages from different NUMA nodes may be merged, 0 when only within a node, from /sys/kernel/mm/ksm/merge_across_nodes."),
        ksm!("mem.ksm.pages_shared", 2, "shared pages in use", "Pages ksmd keeps shared (each standing in for several identical pages), from /sys/kernel/mm/ksm/pages_shared."),
        ksm!("mem.ksm.pages_sharing", 3, "page references saved by sharing", "How many more places use the shared pages, roughly the pages saved, from /sys/kernel/mm/ksm/pages_sharing."),
        ksm!("mem.ksm.pages_to_scan", 4, "pages scanned per wake-up", "Pages ksmd scans each time before it sleeps, from /sys/kernel/mm/ksm/pages_to_scan."),
        ksm!("mem.ksm.pages_unshared", 5, "pages unique but checked repeatedly", "Pages ksmd found unique but keeps checking for merging, from /sys/kernel/mm/ksm/pages_unshared."),
        ksm!("mem.ksm.pages_volatile", 6, "pages changing too fast to merge", "Pages whose contents change too quickly to be put in the merge tree, from /sys/kernel/mm/ksm/pages_volatile."),
        ksm!("mem.ksm.run_state", 7, "ksmd state", "0 stopped, 1 running, 2 stopped and unmerging all merged pages, from /sys/kernel/mm/ksm/run."),
        ksm!("mem.ksm.sleep_time", 8, "ksmd sleep between scans", "Milliseconds ksmd sleeps between batches of scanning, from /sys/kernel/mm/ksm/sleep_millisecs."),
    ];
}

/// The memory collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[util::BINDINGS, ksm::BINDINGS];

/// The memory collector lists no instance domain.
pub(crate) const INDOMS: &[IndomBinding] = &[];
