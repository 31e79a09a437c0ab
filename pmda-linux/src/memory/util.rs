//! The `/proc/meminfo` metrics. A line the kernel prints as it is, in
//! Kbytes (or pages for the huge page counts), is one `meminfo!` binding:
//! the metric's name and the line's key.

use crate::binding::{Binding, Need};
use crate::collectors::Collectors;
use crate::value::Put;

use super::{AVAILABLE, MEMINFO};

/// The slot of meminfo key `key` (the line's name, any case).
fn slot(c: &mut Collectors, key: &str, _: u32) -> Option<u32> {
    Some(c.memory.meminfo.slot(&key.to_ascii_lowercase()) as u32)
}

/// A meminfo line as the kernel gives it, its help made from the key.
macro_rules! meminfo {
    ($name:literal, $key:literal) => {
        meminfo!($name, $key, "Kbytes")
    };
    ($name:literal, $key:literal, $unit:literal) => {
        Binding::new($name, &[MEMINFO], |c, slot, out| {
            out.set_opt(c.memory.meminfo.get(slot as usize));
            Ok(())
        })
        .key($key, slot)
        .help(
            concat!($key, " from /proc/meminfo"),
            concat!(
                "The ",
                $key,
                " line of /proc/meminfo, in ",
                $unit,
                "; no value when this kernel does not report it."
            ),
        )
    };
}

/// A meminfo figure computed from the lines (`None`: a line is missing).
fn set(out: &mut pcp_core::agent::Sink<'_>, v: Option<u64>) -> Result<(), pcp_core::PmError> {
    out.set_opt(v);
    Ok(())
}

/// A huge page count times the huge page size, in bytes.
fn huge_bytes(c: &Collectors, key: &str) -> Option<u64> {
    let m = &c.memory;
    Some(
        m.kb(key)?
            .saturating_mul(m.kb("hugepagesize")?.saturating_mul(1024)),
    )
}

const M: &[Need] = &[MEMINFO];

/// The meminfo metrics.
pub(crate) const BINDINGS: &[Binding] = &[
    Binding::new("hinv.physmem", M, |c, _, out| set(out, c.memory.kb("memtotal").map(|k| k >> 10)))
        .help("total memory in Mbytes", "MemTotal from /proc/meminfo in Mbytes."),
    Binding::new("hinv.pagesize", &[], |c, _, out| set(out, Some(c.memory.pagesize)))
        .help("memory page size", "Size in bytes of a memory page on this system."),
    Binding::new("hinv.hugepagesize", M, |c, _, out| {
        set(out, c.memory.kb("hugepagesize").map(|k| k.saturating_mul(1024)))
    })
    .help(
        "huge page size",
        "Size in bytes of a huge page (Hugepagesize in /proc/meminfo).",
    ),
    Binding::new("mem.physmem", M, |c, _, out| set(out, c.memory.kb("memtotal")))
        .help("total usable memory", "Total usable RAM (MemTotal in /proc/meminfo), in Kbytes."),
    Binding::new("mem.freemem", M, |c, _, out| set(out, c.memory.kb("memfree")))
        .help("free memory", "Memory not in use for anything (MemFree), in Kbytes."),
    Binding::new("swap.length", M, |c, _, out| {
        set(out, c.memory.kb("swaptotal").map(|k| k.saturating_mul(1024)))
    })
    .help("total swap space", "SwapTotal from /proc/meminfo, in bytes."),
    Binding::new("swap.free", M, |c, _, out| {
        set(out, c.memory.kb("swapfree").map(|k| k.saturating_mul(1024)))
    })
    .help("free swap space", "SwapFree from /proc/meminfo, in bytes."),
    Binding::new("swap.used", M, |c, _, out| {
        let m = &c.memory;
        let used = m.kb("swaptotal").zip(m.kb("swapfree")).map(|(t, f)| t.saturating_sub(f));
        set(out, used.map(|k| k.saturating_mul(1024)))
    })
    .help("swap space in use", "SwapTotal minus SwapFree, in bytes."),
    Binding::new("mem.util.used", M, |c, _, out| {
        let m = &c.memory;
        set(out, m.kb("memtotal").zip(m.kb("memfree")).map(|(t, f)| t.saturating_sub(f)))
    })
    .help(
        "memory in use",
        "MemTotal minus MemFree, in Kbytes: includes buffers and page cache.",
    ),
    meminfo!("mem.util.free", "MemFree")
        .help("free memory", "MemFree from /proc/meminfo, in Kbytes."),
    meminfo!("mem.util.shared", "MemShared").help(
        "shared memory (obsolete field)",
        "MemShared from /proc/meminfo; modern kernels no longer report it, so there is usually no value.",
    ),
    meminfo!("mem.util.bufmem", "Buffers").help(
        "memory in block device buffers",
        "Buffers from /proc/meminfo, in Kbytes.",
    ),
    meminfo!("mem.util.cached", "Cached").help(
        "page cache memory",
        "Cached from /proc/meminfo: file data held in memory, in Kbytes.",
    ),
    Binding::new("mem.util.other", M, |c, _, out| {
        let m = &c.memory;
        let other = (|| {
            let used = m.kb("memtotal")?.saturating_sub(m.kb("memfree")?);
            Some(used.saturating_sub(m.kb("cached")?).saturating_sub(m.kb("buffers")?))
        })();
        set(out, other)
    })
    .help(
        "memory in use other than buffers and page cache",
        "Used memory less page cache and buffers, in Kbytes.",
    ),
    meminfo!("mem.util.swapCached", "SwapCached"),
    meminfo!("mem.util.active", "Active"),
    meminfo!("mem.util.inactive", "Inactive"),
    meminfo!("mem.util.highTotal", "HighTotal"),
    meminfo!("mem.util.highFree", "HighFree"),
    meminfo!("mem.util.lowTotal", "LowTotal"),
    meminfo!("mem.util.lowFree", "LowFree"),
    meminfo!("mem.util.swapTotal", "SwapTotal"),
    meminfo!("mem.util.swapFree", "SwapFree"),
    meminfo!("mem.util.dirty", "Dirty"),
    meminfo!("mem.util.writeback", "Writeback"),
    meminfo!("mem.util.mapped", "Mapped"),
    meminfo!("mem.util.slab", "Slab"),
    meminfo!("mem.util.committed_AS", "Committed_AS"),
    meminfo!("mem.util.pageTables", "PageTables"),
    meminfo!("mem.util.reverseMaps", "ReverseMaps"),
    Binding::new("mem.util.cache_clean", M, |c, _, out| {
        let m = &c.memory;
        let clean = m.kb("cached").map(|cached| {
            cached
                .saturating_sub(m.kb("dirty").unwrap_or(0))
                .saturating_sub(m.kb("writeback").unwrap_or(0))
        });
        set(out, clean)
    })
    .help(
        "page cache that is neither dirty nor under writeback",
        "Cached minus Dirty minus Writeback, in Kbytes.",
    ),
    meminfo!("mem.util.anonpages", "AnonPages"),
    meminfo!("mem.util.commitLimit", "CommitLimit"),
    meminfo!("mem.util.bounce", "Bounce"),
    meminfo!("mem.util.NFS_Unstable", "NFS_Unstable"),
    meminfo!("mem.util.slabReclaimable", "SReclaimable"),
    meminfo!("mem.util.slabUnreclaimable", "SUnreclaim"),
    meminfo!("mem.util.active_anon", "Active(anon)"),
    meminfo!("mem.util.inactive_anon", "Inactive(anon)"),
    meminfo!("mem.util.active_file", "Active(file)"),
    meminfo!("mem.util.inactive_file", "Inactive(file)"),
    meminfo!("mem.util.unevictable", "Unevictable"),
    meminfo!("mem.util.mlocked", "Mlocked"),
    meminfo!("mem.util.shmem", "Shmem"),
    meminfo!("mem.util.kernelStack", "KernelStack"),
    meminfo!("mem.util.hugepagesTotal", "HugePages_Total", "pages"),
    meminfo!("mem.util.hugepagesFree", "HugePages_Free", "pages"),
    meminfo!("mem.util.hugepagesRsvd", "HugePages_Rsvd", "pages"),
    meminfo!("mem.util.hugepagesSurp", "HugePages_Surp", "pages"),
    meminfo!("mem.util.directMap4k", "DirectMap4k"),
    meminfo!("mem.util.directMap2M", "DirectMap2M"),
    meminfo!("mem.util.directMap1G", "DirectMap1G"),
    meminfo!("mem.util.vmallocTotal", "VmallocTotal"),
    meminfo!("mem.util.vmallocUsed", "VmallocUsed"),
    meminfo!("mem.util.vmallocChunk", "VmallocChunk"),
    meminfo!("mem.util.mmap_copy", "MmapCopy"),
    meminfo!("mem.util.quicklists", "Quicklists"),
    meminfo!("mem.util.corrupthardware", "HardwareCorrupted"),
    meminfo!("mem.util.anonhugepages", "AnonHugePages"),
    meminfo!("mem.util.zswap", "Zswap").help(
        "memory used by the zswap pool",
        "Memory the zswap compressed swap cache takes, compressed (Zswap in /proc/meminfo), in Kbytes; no value before Linux 5.19.",
    ),
    meminfo!("mem.util.zswapped", "Zswapped").help(
        "memory stored in the zswap pool",
        "Anonymous memory held in the zswap compressed swap cache, at its uncompressed size (Zswapped in /proc/meminfo), in Kbytes; no value before Linux 5.19.",
    ),
    Binding::new("mem.util.available", &[MEMINFO, AVAILABLE], |c, _, out| {
        set(out, c.memory.kb("memavailable").or(c.memory.estimate))
    })
    .help(
        "MemAvailable from /proc/meminfo",
        "The MemAvailable line of /proc/meminfo, in Kbytes; no value when this kernel does not report it.",
    ),
    Binding::new("mem.util.hugepagesTotalBytes", M, |c, _, out| {
        set(out, huge_bytes(c, "hugepages_total"))
    })
    .help(
        "huge page pool size in bytes",
        "HugePages_Total times the huge page size.",
    ),
    Binding::new("mem.util.hugepagesFreeBytes", M, |c, _, out| {
        set(out, huge_bytes(c, "hugepages_free"))
    })
    .help("free huge pages in bytes", "HugePages_Free times the huge page size."),
    Binding::new("mem.util.hugepagesRsvdBytes", M, |c, _, out| {
        set(out, huge_bytes(c, "hugepages_rsvd"))
    })
    .help(
        "reserved huge pages in bytes",
        "HugePages_Rsvd times the huge page size.",
    ),
    Binding::new("mem.util.hugepagesSurpBytes", M, |c, _, out| {
        set(out, huge_bytes(c, "hugepages_surp"))
    })
    .help(
        "surplus huge pages in bytes",
        "HugePages_Surp times the huge page size.",
    ),
];
