//! The `zram` collector: compressed RAM disks. Their I/O figures come
//! from `/proc/diskstats` (the `disk` collector reads it and gives them
//! their instance ids), their size and statistics from
//! `/sys/block/zramN/{disksize,mm_stat,io_stat,bd_stat}`.

use pcp_core::agent::Sink;
use pcp_core::PmError;

use crate::binding::{Binding, IndomBinding, Need};
use crate::collectors::{Collectors, Id};
use crate::descs;
use crate::disk::{fields, per_device, Disk, DISKSTATS};
use crate::parse::{fields as words, parse_u64_wrapping};
use crate::system::System;
use crate::value::Put;

/// Each device's disksize.
const CAPACITY: Need = Need::new(Id::Zram, 0);
/// The statistics files, in [`FILES`] order.
const STATS: [Need; 3] = [
    Need::new(Id::Zram, 1),
    Need::new(Id::Zram, 2),
    Need::new(Id::Zram, 3),
];
/// The statistics files of each device.
const FILES: [&str; 3] = ["mm_stat", "io_stat", "bd_stat"];

/// The collector's state.
#[derive(Debug)]
pub struct Zram {
    page_kb: u64,
    /// Each device's size in Kbytes, by instance.
    capacity: Vec<(u32, u64)>,
    /// Each device's numbers in each statistics file, by instance; `None`
    /// for a device without the file.
    stats: [Vec<(u32, Option<Vec<u64>>)>; 3],
}

impl Zram {
    pub(crate) fn new(sys: &System) -> Zram {
        Zram {
            page_kb: sys.pagesize / 1024,
            capacity: Vec::new(),
            stats: Default::default(),
        }
    }

    pub(crate) fn refresh(&mut self, sys: &mut System, want: u32, disk: &Disk) {
        if want & CAPACITY.bit != 0 {
            // Zero for a device not sized yet, or without the attribute, as
            // pmdalinux reports it.
            self.capacity = disk
                .zram
                .iter()
                .map(|(id, d)| {
                    let rel = format!("sys/block/{}/disksize", d.kname);
                    (id, sys.attr_u64(&rel).unwrap_or(0) / 1024)
                })
                .collect();
            sys.done(CAPACITY, Ok(()));
        }
        for (i, need) in STATS.iter().enumerate() {
            if want & need.bit == 0 {
                continue;
            }
            self.stats[i] = disk
                .zram
                .iter()
                .map(|(id, d)| {
                    let rel = format!("sys/block/{}/{}", d.kname, FILES[i]);
                    let nums = sys
                        .read(&rel)
                        .ok()
                        .map(|b| words(b).map_while(parse_u64_wrapping).collect());
                    (id, nums)
                })
                .collect();
            sys.done(*need, Ok(()));
        }
    }
}

/// Column `col` of statistics file `file` of each device that has it:
/// byte figures in Kbytes, page counts in Kbytes of pages.
fn stat(c: &Collectors, file: usize, col: usize, out: &mut Sink<'_>) -> Result<(), PmError> {
    let page_kb = c.zram.page_kb;
    for (id, nums) in &c.zram.stats[file] {
        let Some(&v) = nums.as_ref().and_then(|n| n.get(col)) else {
            continue;
        };
        let v = match (file, col) {
            (0, 0..=4) => v / 1024,
            (0, _) | (2, _) => v.wrapping_mul(page_kb),
            _ => v,
        };
        out.put_u64(*id, v);
    }
    Ok(())
}

macro_rules! zram_stat {
    ($name:literal, $file:literal, $col:literal, $one:literal, $help:literal) => {
        Binding::new($name, &[DISKSTATS, STATS[$file]], |c, _, out| stat(c, $file, $col, out))
            .help(
                concat!("zram ", $one),
                concat!(
                    $help,
                    ", from /sys/block/zramN. One instance per zram device; no value for a device without the file."
                ),
            )
    };
}

/// The zram collector's metrics.
pub(crate) const BINDINGS: &[&[Binding]] = &[&[
    Binding::family(
        "zram.",
        &[DISKSTATS],
        |_, rest, _| fields::index(rest),
        |c, f, out| per_device(&c.disk.zram, f, out),
    )
    .made_help(fields::help),
    Binding::new("zram.capacity", &[DISKSTATS, CAPACITY], |c, _, out| {
        for (id, kb) in &c.zram.capacity {
            out.put_u64(*id, *kb);
        }
        Ok(())
    })
    .made_help(fields::help),
    zram_stat!("zram.mm_stat.data_size.original", 0, 0, "data stored, uncompressed", "Data stored in the device before compression, in Kbytes (orig_data_size of mm_stat)"),
    zram_stat!("zram.mm_stat.data_size.compressed", 0, 1, "data stored, compressed", "Data stored in the device after compression, in Kbytes (compr_data_size of mm_stat)"),
    zram_stat!("zram.mm_stat.mem.used_total", 0, 2, "memory used", "Memory the device uses for its data and metadata, in Kbytes (mem_used_total of mm_stat)"),
    zram_stat!("zram.mm_stat.mem.limit", 0, 3, "memory limit", "The most memory the device may use, in Kbytes, zero for no limit (mem_limit of mm_stat)"),
    zram_stat!("zram.mm_stat.mem.max_used", 0, 4, "peak memory used", "The most memory the device has used, in Kbytes (mem_used_max of mm_stat)"),
    zram_stat!("zram.mm_stat.pages.same", 0, 5, "same-filled pages", "Pages filled with one repeated value, stored without memory, in Kbytes of pages (same_pages of mm_stat)"),
    zram_stat!("zram.mm_stat.pages.compacted", 0, 6, "pages freed by compaction", "Pages freed by compaction, in Kbytes of pages (pages_compacted of mm_stat)"),
    zram_stat!("zram.mm_stat.pages.huge", 0, 7, "incompressible pages", "Pages stored uncompressed because they do not compress, in Kbytes of pages (huge_pages of mm_stat)"),
    zram_stat!("zram.io_stat.failed.reads", 1, 0, "failed reads", "Reads that failed (failed_reads of io_stat)"),
    zram_stat!("zram.io_stat.failed.writes", 1, 1, "failed writes", "Writes that failed (failed_writes of io_stat)"),
    zram_stat!("zram.io_stat.invalid", 1, 2, "invalid requests", "Requests that were not properly aligned (invalid_io of io_stat)"),
    zram_stat!("zram.io_stat.notify_free", 1, 3, "freed slots", "Slots freed because the data they held was discarded or freed (notify_free of io_stat)"),
    zram_stat!("zram.bd_stat.count", 2, 0, "data on the backing device", "Data written back to the backing device and held there, in Kbytes of pages (bd_count of bd_stat)"),
    zram_stat!("zram.bd_stat.reads", 2, 1, "reads from the backing device", "Data read from the backing device, in Kbytes of pages (bd_reads of bd_stat)"),
    zram_stat!("zram.bd_stat.writes", 2, 2, "writes to the backing device", "Data written to the backing device, in Kbytes of pages (bd_writes of bd_stat)"),
]];

/// The zram devices (ids given by the `disk` collector).
pub(crate) const INDOMS: &[IndomBinding] = &[IndomBinding::new(descs::ZRAM.serial, &[DISKSTATS], |c| {
    c.disk.zram.instances(|d| d.name.clone())
})
.help(
    "set of zram devices",
    "One instance per compressed RAM disk (zramN) in /proc/diskstats, named as the kernel names it.",
)];
