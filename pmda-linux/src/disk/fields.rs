//! The I/O figures of a block device (`disk.dev.read`, `zram.aveq`,
//! `disk.wwid.write_bytes`...): each suffix's value from the device's
//! diskstats line, and its help, shared by the `disk`, `zram` and
//! `multipath` collectors.

use procfs::DiskStat;

/// One figure: the metric name's last part, its value, its help.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DiskField {
    /// The name's last part (`read_bytes`).
    pub(crate) name: &'static str,
    /// The value from the device's counters.
    pub(crate) value: fn(&DiskStat) -> u64,
    oneline: &'static str,
    help: &'static str,
}

const fn f(
    name: &'static str,
    value: fn(&DiskStat) -> u64,
    oneline: &'static str,
    help: &'static str,
) -> DiskField {
    DiskField {
        name,
        value,
        oneline,
        help,
    }
}

/// The figures of /proc/diskstats, in no particular order.
pub(crate) const FIELDS: &[DiskField] = &[
    f("read", |s| s.reads, "read requests completed", "Count of read requests that completed, from /proc/diskstats."),
    f("write", |s| s.writes, "write requests completed", "Count of write requests that completed, from /proc/diskstats."),
    f("total", |s| s.reads.wrapping_add(s.writes), "read and write requests completed", "Reads plus writes completed, from /proc/diskstats."),
    f("blkread", |s| s.sectors_read, "512-byte sectors read", "Sectors (512 bytes each, whatever the device's block size) read, from /proc/diskstats."),
    f("blkwrite", |s| s.sectors_written, "512-byte sectors written", "Sectors (512 bytes each) written, from /proc/diskstats."),
    f("blktotal", |s| s.sectors_read.wrapping_add(s.sectors_written), "512-byte sectors read or written", "Sectors read plus sectors written, from /proc/diskstats."),
    f("read_bytes", |s| s.sectors_read / 2, "Kbytes read", "Data read in Kbytes: sectors read halved."),
    f("write_bytes", |s| s.sectors_written / 2, "Kbytes written", "Data written in Kbytes: sectors written halved."),
    f("total_bytes", |s| s.sectors_read.wrapping_add(s.sectors_written) / 2, "Kbytes read or written", "Data transferred in Kbytes: sectors read plus written, halved."),
    f("read_merge", |s| s.merged, "read requests merged", "Adjacent read requests the block layer merged before issuing them."),
    f("write_merge", |s| s.writes_merged, "write requests merged", "Adjacent write requests the block layer merged before issuing them."),
    f("avactive", |s| s.time_in_progress, "time the device had I/O in flight", "Milliseconds during which at least one request was outstanding on the device (io_ticks). Its rate is the device utilisation."),
    f("aveq", |s| s.weighted_time_in_progress, "time-weighted count of requests in flight", "Milliseconds spent doing I/O multiplied by the number of requests outstanding (weighted io_ticks); its rate is the average queue length."),
    f("read_rawactive", |s| s.time_reading, "time spent on reads", "Total milliseconds read requests spent from issue to completion, summed over requests."),
    f("write_rawactive", |s| s.time_writing, "time spent on writes", "Total milliseconds write requests spent from issue to completion, summed over requests."),
    f("total_rawactive", |s| s.time_reading.wrapping_add(s.time_writing), "time spent on reads and writes", "Read plus write request milliseconds."),
    f("discard", |s| s.discards.unwrap_or(0), "discard requests completed", "Count of discard (TRIM/unmap) requests completed."),
    f("blkdiscard", |s| s.sectors_discarded.unwrap_or(0), "512-byte sectors discarded", "Sectors covered by completed discard requests."),
    f("discard_bytes", |s| s.sectors_discarded.unwrap_or(0) / 2, "Kbytes discarded", "Kbytes covered by completed discard requests: sectors discarded halved."),
    f("discard_merge", |s| s.discards_merged.unwrap_or(0), "discard requests merged", "Adjacent discard requests merged before issue."),
    f("discard_rawactive", |s| s.time_discarding.unwrap_or(0), "time spent on discards", "Total milliseconds spent on discard requests."),
    f("flush", |s| s.flushes.unwrap_or(0), "flush requests completed", "Count of cache flush requests completed."),
    f("flush_rawactive", |s| s.time_flushing.unwrap_or(0), "time spent on flushes", "Total milliseconds spent on cache flush requests."),
    f("inflight", |s| s.in_progress, "requests in flight now", "Requests issued to the device driver and not yet completed."),
];

/// Help of the figures not in [`FIELDS`].
const OTHER_HELP: [(&str, &str, &str); 2] = [
    ("capacity", "size of the device", "Size of the block device in Kbytes, from /proc/partitions (zram devices: their disksize in sysfs, zero until sized)."),
    ("scheduler", "I/O scheduler in use", "The active I/O scheduler of the device, from /sys/block/DEV/queue/scheduler."),
];

/// What the devices of each metric prefix are.
const SCOPES: [(&str, &str); 7] = [
    ("disk.dev.", "per disk"),
    ("disk.all.", "summed over all disks"),
    ("disk.partitions.", "per partition"),
    ("disk.dm.", "per device-mapper device"),
    ("disk.md.", "per multi-device (software RAID) device"),
    ("zram.", "per zram (compressed RAM disk) device"),
    ("disk.wwid.", "per WWID, summed over its SCSI paths"),
];

/// The index in [`FIELDS`] of the figure named `name`.
pub(crate) fn index(name: &str) -> Option<u32> {
    FIELDS.iter().position(|f| f.name == name).map(|i| i as u32)
}

/// Help of a block device figure, from its full metric name: the
/// figure's text and what devices it covers.
pub(crate) fn help(name: &str) -> (String, String) {
    let (prefix, scope) = SCOPES
        .iter()
        .find(|(p, _)| name.starts_with(p))
        .copied()
        .unwrap_or(("", ""));
    let field = &name[prefix.len()..];
    let (one, long) = FIELDS
        .iter()
        .find(|f| f.name == field)
        .map(|f| (f.oneline, f.help))
        .or_else(|| {
            OTHER_HELP
                .iter()
                .find(|(n, _, _)| *n == field)
                .map(|(_, o, h)| (*o, *h))
        })
        .unwrap_or(("", ""));
    (
        format!("{one}, {scope}"),
        format!("{long} Reported {scope}."),
    )
}
