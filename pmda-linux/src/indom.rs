//! Instance domains: pmdalinux's serials, their help text, and the
//! name-to-id maps that keep instance ids stable.
//!
//! pmdalinux gives fixed ids where the kernel has a number (CPU `cpuN` is
//! id N, NUMA node `nodeN` is N, load average "1 minute" is 1) and uses
//! `pmdaCache` elsewhere: a new name gets the next unused id, and an id is
//! never reused for another name. For disks, partitions, device-mapper,
//! md devices and network interfaces it also saves the cache under
//! `$PCP_VAR_DIR/config/pmda/60.<serial>`, so ids survive restarts.
//! [`InstMap`] behaves the same way: ids in order of first sighting, never
//! reused while the agent lives, and seeded at start-up from pmdalinux's
//! saved cache (`ROOT/var/lib/pcp/config/pmda/60.<serial>`) when there is
//! one, so that on a host where pmdalinux ran the ids are the same.

use std::collections::HashMap;
use std::path::Path;

use pcp_core::{Instance, LabelSet};

/// CPUs (`cpuN`, id N).
pub const CPU: u32 = 0;
/// Disks.
pub const DISK: u32 = 1;
/// Load average periods (1, 5, 15).
pub const LOADAVG: u32 = 2;
/// Network interfaces.
pub const NET_DEV: u32 = 3;
/// Mounted filesystems.
pub const FILESYS: u32 = 5;
/// Disk partitions.
pub const PARTITIONS: u32 = 10;
/// NUMA nodes (`nodeN`, id N).
pub const NODE: u32 = 19;
/// Device-mapper devices.
pub const DM: u32 = 24;
/// Multi-device (md) devices.
pub const MD: u32 = 25;
/// Pressure stall averaging periods (10, 60, 300 seconds).
pub const PRESSURE: u32 = 37;
/// Interrupt lines (/proc/interrupts rows).
pub const INTERRUPTS: u32 = 4;
/// Swap devices.
pub const SWAPDEV: u32 = 6;
/// Mounted tmpfs filesystems.
pub const TMPFS: u32 = 18;
/// Disks by World Wide Identifier (multipath aggregation).
pub const WWID: u32 = 42;
/// SCSI tape drives.
pub const TAPE: u32 = 34;
/// Fibre Channel hosts.
pub const FCHOST: u32 = 39;
/// zram devices.
pub const ZRAM: u32 = 38;
/// System V shared memory segments.
pub const IPC_SHM: u32 = 28;
/// System V message queues.
pub const IPC_MSG: u32 = 29;
/// System V semaphore arrays.
pub const IPC_SEM: u32 = 30;
/// SCSI devices (hinv.map.scsi).
pub const SCSI: u32 = 11;
/// Slab caches.
pub const SLAB: u32 = 12;
/// Network interface addresses.
pub const NET_ADDR: u32 = 17;
/// Buddy allocator free areas per node, zone and order.
pub const BUDDYINFO: u32 = 31;
/// Memory zones per node.
pub const ZONEINFO: u32 = 32;
/// Lowmem protection figures per zone.
pub const ZONEINFO_PROTECTION: u32 = 33;
/// Soft interrupt kinds.
pub const SOFTIRQS: u32 = 36;
/// ICMP message types (`TypeN`, id N, 0 to 255).
pub const ICMPMSG: u32 = 23;
/// NFSv2 request types.
pub const NFS: u32 = 7;
/// NFSv3 request types.
pub const NFS3: u32 = 8;
/// NFSv4 client request types.
pub const NFS4_CLIENT: u32 = 14;
/// NFSv4 server operations.
pub const NFS4_SERVER: u32 = 15;
/// Serial ports.
pub const TTY: u32 = 35;
/// Interrupt lines per CPU.
pub const INTERRUPT_CPU: u32 = 40;
/// Soft interrupt kinds per CPU.
pub const SOFTIRQ_CPU: u32 = 41;

/// Help text of each instance domain: (serial, one-line, long).
pub const INDOM_HELP: &[(u32, &str, &str)] = &[
    (CPU, "set of CPUs", "One instance per CPU listed in /proc/stat, named cpuN with id N."),
    (DISK, "set of disks", "One instance per whole disk in /proc/diskstats, named as the kernel names the device."),
    (LOADAVG, "load average periods", "Three instances: \"1 minute\", \"5 minute\" and \"15 minute\", with ids 1, 5 and 15."),
    (NET_DEV, "set of network interfaces", "One instance per interface in /proc/net/dev, named as the kernel names it."),
    (FILESYS, "set of mounted filesystems", "One instance per mounted block-device filesystem, named by its device path."),
    (PARTITIONS, "set of disk partitions", "One instance per partition in /proc/diskstats."),
    (NODE, "set of NUMA nodes", "One instance per NUMA node, named nodeN with id N."),
    (DM, "set of device-mapper devices", "One instance per device-mapper device, named by its persistent name (as under /dev/mapper)."),
    (MD, "set of multi-device devices", "One instance per md (software RAID) device, named by its persistent name when it has one."),
    (NET_ADDR, "set of network interfaces with addresses", "One instance per interface that has a hardware, IPv4 or IPv6 address, named as the kernel names it (an IPv4 alias keeps its label, eth0:1)."),
    (BUDDYINFO, "set of free block sizes per zone and node", "One instance per memory zone, block order and NUMA node in /proc/buddyinfo, named ZONE::orderN::nodeM."),
    (INTERRUPTS, "set of interrupt lines", "One instance per row of /proc/interrupts (the ERR and MIS totals excepted), named by the row's label: an IRQ number or a name such as LOC or NMI."),
    (SOFTIRQS, "set of soft interrupt kinds", "One instance per row of /proc/softirqs, named by the kind (TIMER, NET_RX, ...)."),
    (INTERRUPT_CPU, "set of interrupt lines on each CPU", "One instance per row of /proc/interrupts and CPU, named LINE::cpuN."),
    (SOFTIRQ_CPU, "set of soft interrupt kinds on each CPU", "One instance per row of /proc/softirqs and CPU, named KIND::cpuN."),
    (NFS, "NFSv2 request types", "One instance per NFS version 2 procedure (null, getattr, ...), with fixed ids from 0."),
    (NFS3, "NFSv3 request types", "One instance per NFS version 3 procedure (null, getattr, ... commit), with fixed ids from 0."),
    (NFS4_CLIENT, "NFSv4 client request types", "One instance per NFS version 4 client request type, with fixed ids from 0 (null) in the kernel's counting order."),
    (NFS4_SERVER, "NFSv4 server operations", "One instance per NFS version 4 server operation, with fixed ids from 1 in the order of the kernel's proc4ops line."),
    (TTY, "set of serial ports", "One instance per serial port of /proc/tty/driver/serial with a known UART, named by its line number."),
    (ZONEINFO, "set of NUMA nodes and their memory zones", "One instance per NUMA node for the figures the kernel keeps per node, named nodeN, and one per memory zone with pages present, named ZONE::nodeN (DMA::node0, Normal::node0), from /proc/zoneinfo."),
    (ZONEINFO_PROTECTION, "set of lowmem protection figures per zone", "One instance per entry of each zone's protection list in /proc/zoneinfo, named ZONE::nodeN::lowmem_reservedK for the K-th entry."),
    (SLAB, "set of slab caches", "One instance per kernel slab cache listed in /proc/slabinfo, named as the kernel names the cache."),
    (ICMPMSG, "ICMP message types", "256 instances, one per ICMP message type number: TypeN with id N, for N from 0 to 255."),
    (SCSI, "set of SCSI devices", "One instance per device of /proc/scsi/scsi that has a block device, named scsiH:C:I:L followed by the device type; a device stays listed once seen."),
    (WWID, "set of disks by WWID", "One instance per World Wide Identifier of the disks (hinv.map.scsi_id), named by it; the SCSI paths to the same device share one instance."),
    (TAPE, "set of SCSI tape drives", "One instance per tape drive stN under /sys/class/scsi_tape that has statistics (the nst and mode aliases share them and are not listed)."),
    (FCHOST, "set of Fibre Channel hosts", "One instance per host under /sys/class/fc_host that has statistics, named as the kernel names it (host0, ...)."),
    (ZRAM, "set of zram devices", "One instance per compressed RAM disk (zramN) in /proc/diskstats, named as the kernel names it."),
    (SWAPDEV, "set of swap areas", "One instance per active swap device or file listed in /proc/swaps, named by its path."),
    (TMPFS, "set of mounted tmpfs filesystems", "One instance per mounted tmpfs filesystem in /proc/mounts, named by its mount point; a mount point mounted more than once is one instance."),
    (IPC_SHM, "set of System V shared memory segments", "One instance per segment in /proc/sysvipc/shm, named by its shmid in decimal."),
    (IPC_MSG, "set of System V message queues", "One instance per queue in /proc/sysvipc/msg, named by its msqid in decimal."),
    (IPC_SEM, "set of System V semaphore arrays", "One instance per array in /proc/sysvipc/sem, named by its semid in decimal."),
    (PRESSURE, "pressure stall averaging periods", "Three instances: \"10 second\", \"1 minute\" and \"5 minute\", with ids 10, 60 and 300."),
];

/// The instance domain labels pmdalinux attaches: what kind of device an
/// instance is (`device_type`) and what the instances are (`indom_name`).
/// Empty for the indoms that have none (load average, filesystems, ...).
pub fn indom_labels(serial: u32) -> LabelSet {
    let (ty, name): (&[&str], &str) = match serial {
        CPU => (&["cpu"], "per cpu"),
        DISK | SCSI => (&["block"], "per disk"),
        PARTITIONS => (&["block"], "per partition"),
        DM => (&["block"], "per dm device"),
        MD => (&["block"], "per md device"),
        NODE => (&["numa_node"], "per numa_node"),
        NET_DEV | NET_ADDR => (&["interface"], "per interface"),
        INTERRUPTS => (&["irq"], "per irq"),
        SOFTIRQS => (&[], "per softirq"),
        INTERRUPT_CPU => (&["irq", "cpu"], "per cpu, per irq"),
        SOFTIRQ_CPU => (&["cpu"], "per cpu, per softirq"),
        SLAB => (&["memory"], "per slab"),
        SWAPDEV => (&["block", "memory"], "per swap device"),
        BUDDYINFO => (&["memory", "numa_node"], "per buddy per numa_node"),
        ZONEINFO => (&["memory", "numa_node"], "per zone per numa_node"),
        _ => return LabelSet::new(),
    };
    let mut l = LabelSet::new();
    match ty {
        [] => {}
        [one] => {
            l.insert("device_type", *one);
        }
        many => {
            l.insert("device_type", many.to_vec());
        }
    }
    l.insert("indom_name", name);
    l
}

/// The labels of one instance, for the indoms whose instances pmdalinux
/// labels: CPUs (`cpu`), NUMA nodes (`numa_node`), disks (`device_name`)
/// and network interfaces (`interface`).
pub fn instance_labels(serial: u32, inst: &Instance) -> Option<LabelSet> {
    Some(match serial {
        CPU => LabelSet::new().with("cpu", inst.id),
        NODE => LabelSet::new().with("numa_node", inst.id),
        DISK => LabelSet::new().with("device_name", inst.name.as_str()),
        NET_DEV => LabelSet::new().with("interface", inst.name.as_str()),
        _ => return None,
    })
}

/// Load average instances, as pmdalinux numbers them.
pub const LOADAVG_INSTANCES: [(u32, &str); 3] =
    [(1, "1 minute"), (5, "5 minute"), (15, "15 minute")];
/// Pressure average instances, as pmdalinux numbers them.
pub const PRESSURE_INSTANCES: [(u32, &str); 3] =
    [(10, "10 second"), (60, "1 minute"), (300, "5 minute")];

/// NFSv2 request types (ids from 0).
pub const NFS_NAMES: [&str; 18] = [
    "null", "getattr", "setattr", "root", "lookup", "readlink", "read", "wrcache", "write",
    "create", "remove", "rename", "link", "symlink", "mkdir", "rmdir", "readdir", "statfs",
];
/// NFSv3 request types (ids from 0).
pub const NFS3_NAMES: [&str; 22] = [
    "null", "getattr", "setattr", "lookup", "access", "readlink", "read", "write", "create",
    "mkdir", "symlink", "mknod", "remove", "rmdir", "rename", "link", "readdir", "readdir+",
    "statfs", "fsinfo", "pathconf", "commit",
];
/// NFSv4 client request types (ids from 0).
pub const NFS4_CLIENT_NAMES: [&str; 56] = [
    "null",
    "read",
    "write",
    "commit",
    "open",
    "open_conf",
    "open_noat",
    "open_dgrd",
    "close",
    "setattr",
    "fsinfo",
    "renew",
    "setclntid",
    "confirm",
    "lock",
    "lockt",
    "locku",
    "access",
    "getattr",
    "lookup",
    "lookup_root",
    "remove",
    "rename",
    "link",
    "symlink",
    "create",
    "pathconf",
    "statfs",
    "readlink",
    "readdir",
    "server_caps",
    "delegreturn",
    "getacl",
    "setacl",
    "fs_locations",
    "rel_lkowner",
    "secinfo",
    "fsid_present",
    "exchange_id",
    "create_ses",
    "destroy_ses",
    "sequence",
    "get_lease_t",
    "reclaim_comp",
    "layoutget",
    "getdevinfo",
    "layoutcommit",
    "secinfononam",
    "test_stateid",
    "free_stateid",
    "getdevlist",
    "bind_ses",
    "destroy_clntid",
    "seek",
    "allocate",
    "deallocate",
];
/// NFSv4 server operations (ids from 1).
pub const NFS4_SERVER_NAMES: [&str; 71] = [
    "op0-unused",
    "op1-unused",
    "op2-future",
    "access",
    "close",
    "commit",
    "create",
    "delegpurge",
    "delegreturn",
    "getattr",
    "getfh",
    "link",
    "lock",
    "lockt",
    "locku",
    "lookup",
    "lookup_root",
    "nverify",
    "open",
    "openattr",
    "open_conf",
    "open_dgrd",
    "putfh",
    "putpubfh",
    "putrootfh",
    "read",
    "readdir",
    "readlink",
    "remove",
    "rename",
    "renew",
    "restorefh",
    "savefh",
    "secinfo",
    "setattr",
    "setcltid",
    "setcltidconf",
    "verify",
    "write",
    "rellockowner",
    "bc_ctl",
    "bind_conn",
    "exchange_id",
    "create_ses",
    "destroy_ses",
    "free_stateid",
    "getdirdeleg",
    "getdevinfo",
    "getdevlist",
    "layoutcommit",
    "layoutget",
    "layoutreturn",
    "secinfononam",
    "sequence",
    "set_ssv",
    "test_stateid",
    "want_deleg",
    "destroy_clid",
    "reclaim_comp",
    "allocate",
    "copy",
    "copy_notify",
    "deallocate",
    "io_advise",
    "layouterror",
    "layoutstats",
    "offload_cancel",
    "offload_status",
    "read_plus",
    "seek",
    "write_same",
];

/// The fixed instances of an NFS indom: (first id, names).
pub fn nfs_instances(serial: u32) -> Option<(u32, &'static [&'static str])> {
    Some(match serial {
        NFS => (0, &NFS_NAMES),
        NFS3 => (0, &NFS3_NAMES),
        NFS4_CLIENT => (0, &NFS4_CLIENT_NAMES),
        NFS4_SERVER => (1, &NFS4_SERVER_NAMES),
        _ => return None,
    })
}

/// Names to instance ids for one instance domain: ids in order of first
/// sighting, never reused.
#[derive(Debug, Clone, Default)]
pub struct InstMap {
    by_name: HashMap<String, u32>,
    next: u32,
}

impl InstMap {
    /// An empty map.
    pub fn new() -> InstMap {
        InstMap::default()
    }

    /// A map seeded from a pmdaCache save file (`ROOT/var/lib/pcp/config/
    /// pmda/60.<serial>`), if it exists and parses; empty otherwise. The
    /// file's first line is a header; each further line is `id stamp name`.
    pub fn seeded(root: &Path, serial: u32) -> InstMap {
        let mut m = InstMap::new();
        let file = root.join(format!("var/lib/pcp/config/pmda/60.{serial}"));
        if let Ok(text) = std::fs::read_to_string(file) {
            for line in text.lines().skip(1) {
                let mut it = line.splitn(3, ' ');
                let (Some(id), Some(_stamp), Some(name)) = (it.next(), it.next(), it.next()) else {
                    continue;
                };
                let Ok(id) = id.parse::<u32>() else { continue };
                if name.is_empty()
                    || m.by_name.contains_key(name)
                    || m.by_name.values().any(|&v| v == id)
                {
                    continue;
                }
                m.by_name.insert(name.to_string(), id);
                m.next = m.next.max(id.saturating_add(1));
            }
        }
        m
    }

    /// The id of `name` if it has one already.
    pub fn peek(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    /// The id of `name`, giving it the next unused id on first sight.
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.next;
        self.next = self.next.saturating_add(1);
        self.by_name.insert(name.to_string(), id);
        id
    }

    /// Replaces `out` with the ids of `names`, in order ([`InstMap::id`]
    /// for each).
    pub fn assign<S: AsRef<str>>(
        &mut self,
        names: impl IntoIterator<Item = S>,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        out.extend(names.into_iter().map(|n| self.id(n.as_ref())));
    }
}

/// Parses a sysfs CPU list (`0-3,8,10-11`) into CPU numbers.
pub fn parse_cpulist(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    if b >= a && b - a < 65536 {
                        out.extend(a..=b);
                    }
                }
            }
            None => {
                if let Ok(a) = part.parse() {
                    out.push(a);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_first_sighting_and_stick() {
        let mut m = InstMap::new();
        assert_eq!(m.id("lo"), 0);
        assert_eq!(m.id("eth0"), 1);
        assert_eq!(m.id("lo"), 0);
    }

    #[test]
    fn seeded_from_pmda_cache_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("var/lib/pcp/config/pmda");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("60.3"),
            "2 0 2147483647\n0 1795450929 lo\n3 1795450929 eth0\nbad line\n",
        )
        .unwrap();
        let mut m = InstMap::seeded(dir.path(), 3);
        assert_eq!(m.id("eth0"), 3);
        assert_eq!(m.id("lo"), 0);
        assert_eq!(m.id("wlan0"), 4);
    }

    #[test]
    fn cpulists() {
        assert_eq!(parse_cpulist("0-2,5\n"), vec![0, 1, 2, 5]);
        assert_eq!(parse_cpulist(""), Vec::<u32>::new());
    }
}
