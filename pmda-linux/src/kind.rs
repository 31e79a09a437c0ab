//! What each metric is computed from: every row of the metric table is
//! resolved once, at start-up, by name, into a [`Kind`] that names its
//! source file and the field or formula behind it.

use crate::cpuinfo::CpuField;
use crate::keyed::Keyed;

/// A data source: one file (or one family of sysfs files) read at most
/// once per fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Src {
    /// /proc/stat.
    Stat,
    /// /proc/meminfo.
    Meminfo,
    /// /proc/vmstat.
    Vmstat,
    /// /proc/loadavg.
    Loadavg,
    /// /proc/diskstats.
    Diskstats,
    /// /proc/partitions (capacities).
    Partitions,
    /// /proc/net/dev.
    NetDev,
    /// /proc/self/mounts (where pmdalinux reads the mounts table).
    Mounts,
    /// /proc/net/sockstat.
    Sockstat,
    /// /proc/net/sockstat6.
    Sockstat6,
    /// /proc/net/snmp.
    Snmp,
    /// /proc/net/netstat.
    Netstat,
    /// /proc/net/snmp6.
    Snmp6,
    /// /proc/cpuinfo.
    Cpuinfo,
    /// /proc/uptime.
    Uptime,
    /// /sys/devices/system/node.
    Nodes,
    /// /proc/interrupts.
    Interrupts,
    /// /proc/softirqs.
    Softirqs,
    /// /proc/net/softnet_stat.
    Softnet,
    /// /proc/locks.
    Locks,
    /// /proc/net/tcp.
    Tcp,
    /// /proc/net/tcp6.
    Tcp6,
    /// /proc/net/udp.
    Udp,
    /// /proc/net/udp6.
    Udp6,
    /// Interface addresses (sysfs, the interface list, /proc/net/if_inet6).
    NetAddr,
    /// /proc/buddyinfo.
    Buddyinfo,
    /// /proc/net/rpc/nfs (NFS client and its RPC figures).
    RpcNfs,
    /// /proc/net/rpc/nfsd (NFS server and its RPC figures).
    RpcNfsd,
    /// /proc/fs/nfsd/pool_threads and pool_stats.
    NfsdThreads,
    /// /proc/tty/driver/serial.
    Tty,
    /// The utmp file (/var/run/utmp).
    Utmp,
    /// /proc/zoneinfo.
    Zoneinfo,
    /// /proc/slabinfo (root only).
    Slabinfo,
    /// /proc/swaps.
    Swaps,
    /// /proc/net/unix.
    NetUnix,
    /// /proc/net/raw.
    Raw,
    /// /proc/net/raw6.
    Raw6,
    /// /sys/devices/system/node/nodeN/{meminfo,numastat} of every node.
    NumaMem,
    /// /proc/sysvipc/shm.
    SysvShm,
    /// /proc/sysvipc/msg.
    SysvMsg,
    /// /proc/sysvipc/sem.
    SysvSem,
    /// /sys/class/scsi_tape/stN/stats of every tape drive.
    Tape,
    /// /sys/class/fc_host/hostN/statistics of every FC host.
    FcHost,
    /// /proc/scsi/scsi (with the block device names from sysfs).
    Scsi,
    /// /proc/pressure/cpu. The pressure sources come last (see [`Src::pressure`]).
    PressureCpu,
    /// /proc/pressure/memory.
    PressureMem,
    /// /proc/pressure/io.
    PressureIo,
    /// /proc/pressure/irq.
    PressureIrq,
}

/// Number of [`Src`] variants.
pub const NSRC: usize = 48;

impl Src {
    /// The file behind the source, relative to the root.
    pub fn path(self) -> &'static str {
        match self {
            Src::Stat => "proc/stat",
            Src::Meminfo => "proc/meminfo",
            Src::Vmstat => "proc/vmstat",
            Src::Loadavg => "proc/loadavg",
            Src::Diskstats => "proc/diskstats",
            Src::Partitions => "proc/partitions",
            Src::NetDev => "proc/net/dev",
            Src::Mounts => "proc/self/mounts",
            Src::Sockstat => "proc/net/sockstat",
            Src::Sockstat6 => "proc/net/sockstat6",
            Src::Snmp => "proc/net/snmp",
            Src::Netstat => "proc/net/netstat",
            Src::Snmp6 => "proc/net/snmp6",
            Src::Cpuinfo => "proc/cpuinfo",
            Src::Uptime => "proc/uptime",
            Src::Nodes => "sys/devices/system/node",
            Src::Interrupts => "proc/interrupts",
            Src::Softirqs => "proc/softirqs",
            Src::Softnet => "proc/net/softnet_stat",
            Src::Locks => "proc/locks",
            Src::Tcp => "proc/net/tcp",
            Src::Tcp6 => "proc/net/tcp6",
            Src::Udp => "proc/net/udp",
            Src::Udp6 => "proc/net/udp6",
            Src::NetAddr => "proc/net/if_inet6",
            Src::Buddyinfo => "proc/buddyinfo",
            Src::RpcNfs => "proc/net/rpc/nfs",
            Src::RpcNfsd => "proc/net/rpc/nfsd",
            Src::NfsdThreads => "proc/fs/nfsd/pool_threads",
            Src::Tty => "proc/tty/driver/serial",
            Src::Utmp => "var/run/utmp",
            Src::Zoneinfo => "proc/zoneinfo",
            Src::Slabinfo => "proc/slabinfo",
            Src::Swaps => "proc/swaps",
            Src::NetUnix => "proc/net/unix",
            Src::Raw => "proc/net/raw",
            Src::Raw6 => "proc/net/raw6",
            Src::NumaMem => "sys/devices/system/node",
            Src::SysvShm => "proc/sysvipc/shm",
            Src::SysvMsg => "proc/sysvipc/msg",
            Src::SysvSem => "proc/sysvipc/sem",
            Src::Tape => "sys/class/scsi_tape",
            Src::FcHost => "sys/class/fc_host",
            Src::Scsi => "proc/scsi/scsi",
            Src::PressureCpu => "proc/pressure/cpu",
            Src::PressureMem => "proc/pressure/memory",
            Src::PressureIo => "proc/pressure/io",
            Src::PressureIrq => "proc/pressure/irq",
        }
    }

    /// The pressure source for a resource index (cpu, memory, io, irq).
    pub fn pressure(i: usize) -> Src {
        [
            Src::PressureCpu,
            Src::PressureMem,
            Src::PressureIo,
            Src::PressureIrq,
        ][i.min(3)]
    }
}

/// Scope of a CPU time metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuScope {
    /// kernel.all.cpu.
    All,
    /// kernel.percpu.cpu.
    PerCpu,
    /// kernel.pernode.cpu.
    PerNode,
}

/// A CPU state or combination of states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuState {
    /// user (guest included).
    User,
    /// nice.
    Nice,
    /// sys.
    Sys,
    /// idle.
    Idle,
    /// iowait.
    Wait,
    /// irq + softirq.
    Intr,
    /// softirq.
    Soft,
    /// irq.
    Hard,
    /// steal.
    Steal,
    /// guest.
    Guest,
    /// guest_nice.
    GuestNice,
    /// user - guest.
    VUser,
    /// nice - guest_nice.
    VNice,
}

/// A disk counter or formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DField {
    /// Reads completed.
    Read,
    /// Writes completed.
    Write,
    /// Reads + writes.
    Total,
    /// Sectors read.
    BlkRead,
    /// Sectors written.
    BlkWrite,
    /// Sectors read + written.
    BlkTotal,
    /// Kbytes read.
    ReadBytes,
    /// Kbytes written.
    WriteBytes,
    /// Kbytes read + written.
    TotalBytes,
    /// Reads merged.
    ReadMerge,
    /// Writes merged.
    WriteMerge,
    /// io_ticks.
    Avactive,
    /// weighted io_ticks.
    Aveq,
    /// Read ticks.
    ReadRaw,
    /// Write ticks.
    WriteRaw,
    /// Read + write ticks.
    TotalRaw,
    /// Size in Kbytes.
    Capacity,
    /// Discards.
    Discard,
    /// Sectors discarded.
    BlkDiscard,
    /// Kbytes discarded.
    DiscardBytes,
    /// Discards merged.
    DiscardMerge,
    /// Discard ticks.
    DiscardRaw,
    /// Flushes.
    Flush,
    /// Flush ticks.
    FlushRaw,
    /// Requests in flight.
    Inflight,
}

impl DField {
    /// By the last component of a disk metric name.
    pub fn from_suffix(s: &str) -> Option<DField> {
        Some(match s {
            "read" => DField::Read,
            "write" => DField::Write,
            "total" => DField::Total,
            "blkread" => DField::BlkRead,
            "blkwrite" => DField::BlkWrite,
            "blktotal" => DField::BlkTotal,
            "read_bytes" => DField::ReadBytes,
            "write_bytes" => DField::WriteBytes,
            "total_bytes" => DField::TotalBytes,
            "read_merge" => DField::ReadMerge,
            "write_merge" => DField::WriteMerge,
            "avactive" => DField::Avactive,
            "aveq" => DField::Aveq,
            "read_rawactive" => DField::ReadRaw,
            "write_rawactive" => DField::WriteRaw,
            "total_rawactive" => DField::TotalRaw,
            "capacity" => DField::Capacity,
            "discard" => DField::Discard,
            "blkdiscard" => DField::BlkDiscard,
            "discard_bytes" => DField::DiscardBytes,
            "discard_merge" => DField::DiscardMerge,
            "discard_rawactive" => DField::DiscardRaw,
            "flush" => DField::Flush,
            "flush_rawactive" => DField::FlushRaw,
            "inflight" => DField::Inflight,
            _ => return None,
        })
    }
}

/// Which devices a disk metric covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskScope {
    /// One device kind, per instance.
    Per(crate::disk::DevKind),
    /// Summed over all disks.
    All,
}

/// A network counter or attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetF {
    /// One /proc/net/dev column.
    Col(usize),
    /// Sum of two columns.
    Sum(usize, usize),
    /// MTU.
    Mtu,
    /// Speed in Mbytes/s.
    Speed,
    /// Speed in bytes/s.
    Baudrate,
    /// Duplex.
    Duplex,
    /// Up flag.
    Up,
    /// Running flag.
    Running,
    /// Wireless.
    Wireless,
    /// Link type.
    Type,
    /// Virtual.
    Virtual,
}

/// A filesystem figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsF {
    /// Capacity.
    Capacity,
    /// Used.
    Used,
    /// Free.
    Free,
    /// Inodes total.
    MaxFiles,
    /// Inodes used.
    UsedFiles,
    /// Inodes free.
    FreeFiles,
    /// Mount point.
    MountDir,
    /// Percent full.
    Full,
    /// Block size.
    BlockSize,
    /// Available.
    Avail,
    /// Read-only flag.
    ReadOnly,
}

/// A meminfo formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemF {
    /// A field in Kbytes (or a count), as is.
    Field(usize),
    /// A field in Kbytes, as bytes.
    FieldBytes(usize),
    /// MemTotal - MemFree.
    Used,
    /// Used - Cached - Buffers.
    Other,
    /// Cached - Dirty - Writeback.
    CacheClean,
    /// SwapTotal - SwapFree, bytes.
    SwapUsed,
    /// MemTotal in Mbytes.
    PhysMb,
    /// The page size.
    PageSize,
    /// Hugepagesize in bytes.
    HugePageSize,
    /// A huge page count times the huge page size.
    HugeBytes(usize),
    /// MemAvailable, or on kernels before 3.14 the kernel's estimate of it
    /// from older fields (see `LinuxPmda::estimated_available`).
    Available,
}

/// An interrupt figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqF {
    /// Per line, summed over CPUs.
    Total,
    /// Per line and CPU.
    PerCpu,
    /// The ERR row.
    Errors,
    /// The MIS row.
    Missed,
    /// Per CPU, summed over lines.
    CpuSum,
}

/// A vmstat value that pmdalinux derives when the kernel lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derive {
    /// The field as the kernel reports it.
    None,
    /// Else the sum of these slots (any present).
    SumIfMissing(usize, usize),
    /// The sum of the slots of this group (see [`resolve`]'s `groups`)
    /// that are present, 0 if none is.
    Total(usize),
    /// Else this other slot.
    Fallback(usize),
    /// Else 0.
    OrZero,
}

/// How a metric is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// CPU time.
    Cpu(CpuScope, CpuState),
    /// intr total in /proc/stat.
    Intr,
    /// ctxt.
    Pswitch,
    /// processes.
    Sysfork,
    /// procs_running.
    Running,
    /// procs_blocked.
    Blocked,
    /// btime.
    Boottime,
    /// USER_HZ.
    Hz,
    /// Number of CPUs.
    Ncpu,
    /// Number of NUMA nodes.
    Nnode,
    /// Number of disks.
    Ndisk,
    /// A metric of old kernels only (PM_ERR_APPVERSION).
    OldKernel,
    /// A disk metric.
    Disk(DiskScope, DField),
    /// dm/md kernel names.
    DevKname(crate::disk::DevKind),
    /// disk.dev.scheduler.
    Scheduler,
    /// hinv.map.scsi_id.
    ScsiId,
    /// A meminfo metric.
    Mem(MemF),
    /// Load averages.
    Load,
    /// Last pid.
    LastPid,
    /// Runnable.
    Runnable,
    /// Tasks.
    Nprocs,
    /// Per-interface metric.
    Net(NetF),
    /// Sum over physical interfaces.
    NetAll(NetF),
    /// Number of interfaces.
    Ninterface,
    /// Per-filesystem metric.
    Fs(FsF),
    /// Number of filesystems.
    Nfilesys,
    /// A value from a keyed file.
    Key(Src, usize, Derive),
    /// A /proc/cpuinfo figure of each CPU of /proc/stat.
    CpuInfo(crate::cpuinfo::CpuField),
    /// Logical CPU number.
    CpuNum,
    /// NUMA node of a CPU.
    CpuNode,
    /// uname -m.
    Machine,
    /// Uptime.
    Uptime,
    /// Idle time.
    IdleTime,
    /// A /proc/sys/kernel file (uname fields).
    SysKernel(&'static str),
    /// The distribution.
    Distro,
    /// A number from a small /proc/sys file: (path, field index).
    SysNum(&'static str, usize),
    /// A number from a small file that some kernels lack: no values
    /// without it, as pmdalinux reports it.
    SysNumOpt(&'static str),
    /// A number from a small file, with pmdalinux's stand-in when the
    /// file is missing or holds no number (`kernel.all.pid_max`: the
    /// kernel's PID_MAX_LIMIT; `kernel.all.nptys`: 0 on kernels without
    /// Unix98 ptys).
    SysNumOr(&'static str, u64),
    /// Pressure: (resource 0..4, full?, total?).
    Pressure(usize, bool, bool),
    /// /proc/interrupts.
    Irq(IrqF),
    /// /proc/softirqs (Total, PerCpu or CpuSum).
    Softirq(IrqF),
    /// /proc/net/softnet_stat: (column index in
    /// [`crate::misc::SOFTNET_COLUMNS`], per CPU?).
    Softnet(usize, bool),
    /// /proc/locks: (class posix/flock/lease, mode read/write/count).
    Locks(usize, usize),
    /// Sockets of a /proc/net table in one state: (table, state).
    Conn(Src, usize),
    /// The kernel's uname fields in one string.
    PmdaUname,
    /// An interface address: 0 IPv4, 1 IPv6, 2 IPv6 scope, 3 hardware.
    NetAddr(u8),
    /// Free blocks per zone, order and node: as a count, or in Kbytes (true).
    Buddy(bool),
    /// An NFS or RPC figure.
    Rpc(RpcF),
    /// A serial line counter (index into [`crate::rpc::TtyCounts`]).
    Tty(usize),
    /// Login counts from utmp: users (0), root users (1), records (2).
    Login(usize),
    /// ICMP messages by type from /proc/net/snmp: received (0) or sent (1).
    IcmpMsg(usize),
    /// A /proc/zoneinfo figure per node or zone (pmdalinux's item number).
    Zone(usize),
    /// A zone's lowmem protection figures.
    ZoneProt,
    /// A slab cache figure (pmdalinux's item number in cluster 20).
    Slab(usize),
    /// A swap area figure: free (0), length (1), maxswap (2), vlength (3),
    /// priority (4).
    Swapdev(u8),
    /// A tmpfs filesystem figure.
    Tmpfs(FsF),
    /// Online state of each CPU (false) or NUMA node (true).
    Online(bool),
    /// A CPU's thermal throttling figure: core count (0), core time (1),
    /// package count (2), package time (3).
    Thermal(u8),
    /// The unusable free space index of each node's Normal zone.
    Extfrag,
    /// The configured memory bandwidth of each node.
    Bandwidth,
    /// A CPU's frequency scaling figure: count (0), time (1), max (2),
    /// min (3); see [`crate::cpufreq`].
    Freq(u8),
    /// The PCP version this agent stands in for.
    PmdaVersion,
    /// Unix domain sockets (index into [`crate::misc::UnixCounts`]).
    Unix(usize),
    /// Sockets of a raw socket table ([`Src::Raw`] or [`Src::Raw6`]).
    RawCount(Src),
    /// A per-node memory figure.
    Numa(NumaF),
    /// A System V IPC figure.
    Ipc(IpcF),
    /// A zram device figure from `/sys/block/zramN/`: file (0 mm_stat,
    /// 1 io_stat, 2 bd_stat) and column.
    ZramStat(u8, u8),
    /// A tape drive figure (index into [`crate::tapefc::TAPE_FIELDS`]).
    Tape(u8),
    /// Number of tape drives.
    NTape,
    /// An FC host figure (index into [`crate::tapefc::FCHOST_FIELDS`]).
    FcHost(u8),
    /// Number of FC hosts.
    NFcHost,
    /// The block device of each SCSI device (hinv.map.scsi).
    ScsiMap,
    /// A disk figure summed over the SCSI paths of each WWID (the discard
    /// Kbytes are the last path's, as pmdalinux reports them).
    Wwid(DField),
    /// The I/O scheduler of each WWID's last path.
    WwidScheduler,
    /// The SCSI paths (disk names) of each WWID.
    WwidPaths,
    /// `mdadm --detail --test` exit status of each md device.
    MdStatus,
    /// A fixed value (a limit the kernel reports as a constant).
    Const(u64),
    /// A metric that never has values here (its source is not supported
    /// or not present, as pmdalinux reports it on this kind of host).
    NoValues,
}

/// A System V IPC figure: per object (pmdalinux's item number in the
/// object cluster) or a total over the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcF {
    /// A shared memory segment figure: key, owner, perms, segsz, nattch,
    /// status, creator_pid, last_access_pid (0 to 7).
    Shm(u8),
    /// A message queue figure: key, owner, perms, msgsz, messages,
    /// last_send_pid, last_recv_pid (0 to 6).
    Msg(u8),
    /// A semaphore array figure: key, owner, perms, nsems (0 to 3).
    Sem(u8),
    /// Shared memory totals: tot, rss, swp, used_ids, swap_attempts,
    /// swap_successes (0 to 5).
    ShmInfo(u8),
    /// Message totals: used_queues, tot_msg, tot_bytes (0 to 2).
    MsgInfo(u8),
    /// Semaphore totals: used_sem (arrays), tot_sem (semaphores).
    SemInfo(u8),
}

/// A per-NUMA-node memory figure (cluster 36).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumaF {
    /// A meminfo figure (index into [`crate::numa::MEMINFO_KEYS`]).
    Mem(usize),
    /// A huge page count times the huge page size.
    HugeBytes(usize),
    /// A numastat counter (index into [`crate::numa::NUMASTAT_KEYS`]).
    Stat(usize),
}

/// An NFS or RPC figure (cluster 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcF {
    /// A client scalar (index into [`crate::rpc::CLIENT_FIELDS`]).
    Client(usize),
    /// A server scalar (index into [`crate::rpc::SERVER_FIELDS`]);
    /// pmdalinux reports the read-ahead ones as zero without a server.
    Server(usize),
    /// Requests of one NFS version (2, 3 or 4) summed over types: client
    /// (true) or server.
    Calls(bool, u8),
    /// Requests of one NFS version per type.
    Reqs(bool, u8),
    /// nfsd thread figure (index into [`crate::rpc::NfsdThreads::get`]).
    Threads(usize),
}

impl Kind {
    /// True for figures only a client with root's credentials may see.
    /// Their files are readable by root only (`/proc/slabinfo` is 0400,
    /// `/proc/tty/driver` 0500), so an agent running as root would
    /// otherwise hand them to anyone; pmdalinux answers these with no
    /// values unless pmcd says the client's user id is 0.
    pub fn needs_root(&self) -> bool {
        matches!(self, Kind::Slab(_) | Kind::Tty(_))
    }

    /// The sources this metric needs.
    pub fn sources(&self, out: &mut [bool; NSRC]) {
        let mut add = |s: Src| out[s as usize] = true;
        match *self {
            Kind::Cpu(CpuScope::PerNode, _) => {
                add(Src::Stat);
                add(Src::Nodes);
            }
            Kind::Cpu(..)
            | Kind::Intr
            | Kind::Pswitch
            | Kind::Sysfork
            | Kind::Running
            | Kind::Blocked
            | Kind::Boottime
            | Kind::Ncpu => add(Src::Stat),
            Kind::Nnode => add(Src::Nodes),
            Kind::Ndisk | Kind::DevKname(_) | Kind::Scheduler | Kind::ScsiId => add(Src::Diskstats),
            // zram sizes come from sysfs.
            Kind::Disk(DiskScope::Per(crate::disk::DevKind::Zram), DField::Capacity) => {
                add(Src::Diskstats)
            }
            Kind::Disk(_, DField::Capacity) => {
                add(Src::Diskstats);
                add(Src::Partitions);
            }
            Kind::Disk(..) => add(Src::Diskstats),
            Kind::Mem(MemF::PageSize) | Kind::Hz | Kind::OldKernel => {}
            Kind::Mem(_) => add(Src::Meminfo),
            Kind::Load | Kind::LastPid | Kind::Runnable | Kind::Nprocs => add(Src::Loadavg),
            Kind::Net(_) | Kind::NetAll(_) | Kind::Ninterface => add(Src::NetDev),
            Kind::Fs(_) | Kind::Nfilesys => add(Src::Mounts),
            Kind::Key(s, ..) => add(s),
            // The CPUs are those of /proc/stat, as pmdalinux's CPU
            // instance domain; cpuinfo describes them.
            Kind::CpuInfo(_) => {
                add(Src::Stat);
                add(Src::Cpuinfo);
            }
            Kind::CpuNum => add(Src::Stat),
            Kind::CpuNode => {
                add(Src::Stat);
                add(Src::Nodes);
            }
            Kind::Uptime | Kind::IdleTime => add(Src::Uptime),
            Kind::Pressure(r, ..) => add(Src::pressure(r)),
            Kind::Irq(_) => add(Src::Interrupts),
            Kind::Softirq(_) => add(Src::Softirqs),
            Kind::Softnet(..) => add(Src::Softnet),
            Kind::Locks(..) => add(Src::Locks),
            Kind::Conn(s, _) => add(s),
            Kind::NetAddr(_) => add(Src::NetAddr),
            Kind::Buddy(_) => add(Src::Buddyinfo),
            Kind::Rpc(RpcF::Client(_) | RpcF::Calls(true, _) | RpcF::Reqs(true, _)) => {
                add(Src::RpcNfs)
            }
            Kind::Rpc(RpcF::Server(_) | RpcF::Calls(false, _) | RpcF::Reqs(false, _)) => {
                add(Src::RpcNfsd)
            }
            Kind::Rpc(RpcF::Threads(_)) => add(Src::NfsdThreads),
            Kind::Tty(_) => add(Src::Tty),
            Kind::Login(_) => add(Src::Utmp),
            Kind::IcmpMsg(_) => add(Src::Snmp),
            Kind::Zone(_) | Kind::ZoneProt => add(Src::Zoneinfo),
            Kind::Slab(_) => add(Src::Slabinfo),
            Kind::Swapdev(_) => add(Src::Swaps),
            Kind::Tmpfs(_) => add(Src::Mounts),
            Kind::Online(false) | Kind::Thermal(_) | Kind::Freq(_) => add(Src::Stat),
            Kind::Online(true) => add(Src::Nodes),
            Kind::Unix(_) => add(Src::NetUnix),
            Kind::RawCount(s) => add(s),
            Kind::Numa(f) => {
                add(Src::Nodes);
                add(Src::NumaMem);
                if matches!(f, NumaF::HugeBytes(_)) {
                    add(Src::Meminfo);
                }
            }
            Kind::ZramStat(..) => add(Src::Diskstats),
            Kind::Tape(_) | Kind::NTape => add(Src::Tape),
            Kind::FcHost(_) | Kind::NFcHost => add(Src::FcHost),
            Kind::ScsiMap => add(Src::Scsi),
            Kind::Wwid(DField::Capacity) => {
                add(Src::Diskstats);
                add(Src::Partitions);
            }
            Kind::Wwid(_) | Kind::WwidScheduler | Kind::WwidPaths | Kind::MdStatus => {
                add(Src::Diskstats)
            }
            Kind::Ipc(IpcF::Shm(_) | IpcF::ShmInfo(_)) => add(Src::SysvShm),
            Kind::Ipc(IpcF::Msg(_) | IpcF::MsgInfo(_)) => add(Src::SysvMsg),
            Kind::Ipc(IpcF::Sem(_) | IpcF::SemInfo(_)) => add(Src::SysvSem),
            Kind::Extfrag | Kind::Bandwidth => add(Src::Nodes),
            Kind::PmdaVersion | Kind::NoValues | Kind::Const(_) => {}
            Kind::Machine
            | Kind::SysKernel(_)
            | Kind::Distro
            | Kind::SysNum(..)
            | Kind::SysNumOpt(_)
            | Kind::SysNumOr(..)
            | Kind::PmdaUname => {}
        }
    }
}

/// Meminfo keys (lowercase) the agent reads, in slot order.
pub const MEMINFO_KEYS: &[&str] = &[
    "memtotal",
    "memfree",
    "memshared",
    "buffers",
    "cached",
    "swapcached",
    "active",
    "inactive",
    "hightotal",
    "highfree",
    "lowtotal",
    "lowfree",
    "swaptotal",
    "swapfree",
    "dirty",
    "writeback",
    "mapped",
    "slab",
    "committed_as",
    "pagetables",
    "reversemaps",
    "anonpages",
    "commitlimit",
    "bounce",
    "nfs_unstable",
    "sreclaimable",
    "sunreclaim",
    "active(anon)",
    "inactive(anon)",
    "active(file)",
    "inactive(file)",
    "unevictable",
    "mlocked",
    "shmem",
    "kernelstack",
    "hugepages_total",
    "hugepages_free",
    "hugepages_rsvd",
    "hugepages_surp",
    "directmap4k",
    "directmap2m",
    "directmap1g",
    "vmalloctotal",
    "vmallocused",
    "vmallocchunk",
    "mmapcopy",
    "quicklists",
    "hardwarecorrupted",
    "anonhugepages",
    "memavailable",
    "hugepagesize",
];

/// A filesystem figure by its last name component (filesys.* and tmpfs.*).
fn fs_field(name: &str) -> Option<FsF> {
    Some(match name {
        "capacity" => FsF::Capacity,
        "used" => FsF::Used,
        "free" => FsF::Free,
        "maxfiles" => FsF::MaxFiles,
        "usedfiles" => FsF::UsedFiles,
        "freefiles" => FsF::FreeFiles,
        "mountdir" => FsF::MountDir,
        "full" => FsF::Full,
        "blocksize" => FsF::BlockSize,
        "avail" => FsF::Avail,
        "readonly" => FsF::ReadOnly,
        _ => return None,
    })
}

fn mem_slot(key: &str) -> usize {
    MEMINFO_KEYS.iter().position(|k| *k == key).unwrap_or(0)
}

/// Resolves a metric name to its [`Kind`], assigning keyed-file slots in
/// `keyed` (indexed by [`Src`]) as needed. `None` for a name the agent
/// does not know how to compute (a table/code mismatch, caught by tests).
/// Slot groups for summed values are appended to `groups`.
pub fn resolve(
    name: &str,
    cluster: u32,
    keyed: &mut [Keyed; NSRC],
    groups: &mut Vec<Vec<usize>>,
) -> Option<Kind> {
    let parts: Vec<&str> = name.split('.').collect();
    let cpu_state = |s: &str| -> Option<CpuState> {
        Some(match s {
            "user" => CpuState::User,
            "nice" => CpuState::Nice,
            "sys" => CpuState::Sys,
            "idle" => CpuState::Idle,
            "wait.total" => CpuState::Wait,
            "intr" => CpuState::Intr,
            "irq.soft" => CpuState::Soft,
            "irq.hard" => CpuState::Hard,
            "steal" => CpuState::Steal,
            "guest" => CpuState::Guest,
            "guest_nice" => CpuState::GuestNice,
            "vuser" => CpuState::VUser,
            "vnice" => CpuState::VNice,
            _ => return None,
        })
    };
    for (prefix, scope) in [
        ("kernel.all.cpu.", CpuScope::All),
        ("kernel.percpu.cpu.", CpuScope::PerCpu),
        ("kernel.pernode.cpu.", CpuScope::PerNode),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            return Some(Kind::Cpu(scope, cpu_state(rest)?));
        }
    }
    if let Some(rest) = name.strip_prefix("zram.") {
        let stat = match rest {
            "mm_stat.data_size.original" => Some((0, 0)),
            "mm_stat.data_size.compressed" => Some((0, 1)),
            "mm_stat.mem.used_total" => Some((0, 2)),
            "mm_stat.mem.limit" => Some((0, 3)),
            "mm_stat.mem.max_used" => Some((0, 4)),
            "mm_stat.pages.same" => Some((0, 5)),
            "mm_stat.pages.compacted" => Some((0, 6)),
            "mm_stat.pages.huge" => Some((0, 7)),
            "io_stat.failed.reads" => Some((1, 0)),
            "io_stat.failed.writes" => Some((1, 1)),
            "io_stat.invalid" => Some((1, 2)),
            "io_stat.notify_free" => Some((1, 3)),
            "bd_stat.count" => Some((2, 0)),
            "bd_stat.reads" => Some((2, 1)),
            "bd_stat.writes" => Some((2, 2)),
            _ => None,
        };
        if let Some((file, col)) = stat {
            return Some(Kind::ZramStat(file, col));
        }
    }
    if let Some(rest) = name.strip_prefix("disk.wwid.") {
        return Some(match rest {
            "scheduler" => Kind::WwidScheduler,
            "scsi_paths" => Kind::WwidPaths,
            // pmdalinux 6.0.3 reports no WWID capacities.
            "capacity" => Kind::NoValues,
            f => Kind::Wwid(DField::from_suffix(f)?),
        });
    }
    if name == "disk.md.status" {
        return Some(Kind::MdStatus);
    }
    for (prefix, scope) in [
        ("disk.dev.", DiskScope::Per(crate::disk::DevKind::Disk)),
        ("disk.all.", DiskScope::All),
        (
            "disk.partitions.",
            DiskScope::Per(crate::disk::DevKind::Partition),
        ),
        ("disk.dm.", DiskScope::Per(crate::disk::DevKind::Dm)),
        ("disk.md.", DiskScope::Per(crate::disk::DevKind::Md)),
        ("zram.", DiskScope::Per(crate::disk::DevKind::Zram)),
    ] {
        if let Some(rest) = name.strip_prefix(prefix) {
            if rest == "scheduler" {
                return Some(Kind::Scheduler);
            }
            return Some(Kind::Disk(scope, DField::from_suffix(rest)?));
        }
    }
    let addr = match name {
        "network.interface.inet_addr" => Some(0),
        "network.interface.ipv6_addr" => Some(1),
        "network.interface.ipv6_scope" => Some(2),
        "network.interface.hw_addr" => Some(3),
        _ => None,
    };
    if let Some(a) = addr {
        return Some(Kind::NetAddr(a));
    }
    if let Some(rest) = name
        .strip_prefix("network.interface.")
        .or_else(|| name.strip_prefix("network.all."))
    {
        use crate::net::col::*;
        let f = match rest {
            "in.bytes" => NetF::Col(RX_BYTES),
            "in.packets" => NetF::Col(RX_PACKETS),
            "in.errors" => NetF::Col(RX_ERRS),
            "in.drops" => NetF::Col(RX_DROP),
            "in.fifo" => NetF::Col(RX_FIFO),
            "in.frame" => NetF::Col(RX_FRAME),
            "in.compressed" => NetF::Col(RX_COMPRESSED),
            "in.mcasts" => NetF::Col(RX_MULTICAST),
            "out.bytes" => NetF::Col(TX_BYTES),
            "out.packets" => NetF::Col(TX_PACKETS),
            "out.errors" => NetF::Col(TX_ERRS),
            "out.drops" => NetF::Col(TX_DROP),
            "out.fifo" => NetF::Col(TX_FIFO),
            "collisions" => NetF::Col(TX_COLLS),
            "out.carrier" => NetF::Col(TX_CARRIER),
            "out.compressed" => NetF::Col(TX_COMPRESSED),
            "total.bytes" => NetF::Sum(RX_BYTES, TX_BYTES),
            "total.packets" => NetF::Sum(RX_PACKETS, TX_PACKETS),
            "total.errors" => NetF::Sum(RX_ERRS, TX_ERRS),
            "total.drops" => NetF::Sum(RX_DROP, TX_DROP),
            "total.mcasts" => NetF::Col(RX_MULTICAST),
            "mtu" => NetF::Mtu,
            "speed" => NetF::Speed,
            "baudrate" => NetF::Baudrate,
            "duplex" => NetF::Duplex,
            "up" => NetF::Up,
            "running" => NetF::Running,
            "wireless" => NetF::Wireless,
            "type" => NetF::Type,
            "virtual" => NetF::Virtual,
            _ => return None,
        };
        return Some(if name.starts_with("network.all.") {
            Kind::NetAll(f)
        } else {
            Kind::Net(f)
        });
    }
    if let Some(rest) = name.strip_prefix("filesys.") {
        return Some(Kind::Fs(fs_field(rest)?));
    }
    if let Some(rest) = name.strip_prefix("kernel.all.pressure.") {
        let p: Vec<&str> = rest.split('.').collect();
        let r = ["cpu", "memory", "io", "irq"]
            .iter()
            .position(|x| *x == p.first().copied().unwrap_or(""))?;
        return Some(Kind::Pressure(
            r,
            p.get(1) == Some(&"full"),
            p.get(2) == Some(&"total"),
        ));
    }
    if let Some(rest) = name.strip_prefix("mem.util.") {
        let f = match rest {
            "used" => MemF::Used,
            "other" => MemF::Other,
            "cache_clean" => MemF::CacheClean,
            "hugepagesTotalBytes" => MemF::HugeBytes(mem_slot("hugepages_total")),
            "hugepagesFreeBytes" => MemF::HugeBytes(mem_slot("hugepages_free")),
            "hugepagesRsvdBytes" => MemF::HugeBytes(mem_slot("hugepages_rsvd")),
            "hugepagesSurpBytes" => MemF::HugeBytes(mem_slot("hugepages_surp")),
            "available" => MemF::Available,
            _ => {
                let key = match rest {
                    "free" => "memfree",
                    "shared" => "memshared",
                    "bufmem" => "buffers",
                    "cached" => "cached",
                    "slabReclaimable" => "sreclaimable",
                    "slabUnreclaimable" => "sunreclaim",
                    "active_anon" => "active(anon)",
                    "inactive_anon" => "inactive(anon)",
                    "active_file" => "active(file)",
                    "inactive_file" => "inactive(file)",
                    "mmap_copy" => "mmapcopy",
                    "corrupthardware" => "hardwarecorrupted",
                    "available" => "memavailable",
                    "hugepagesTotal" => "hugepages_total",
                    "hugepagesFree" => "hugepages_free",
                    "hugepagesRsvd" => "hugepages_rsvd",
                    "hugepagesSurp" => "hugepages_surp",
                    other => {
                        let l = other.to_ascii_lowercase();
                        let k = MEMINFO_KEYS.iter().find(|k| **k == l)?;
                        k
                    }
                };
                MemF::Field(mem_slot(key))
            }
        };
        return Some(Kind::Mem(f));
    }
    if let Some(field) = name.strip_prefix("mem.vmstat.") {
        let k = &mut keyed[Src::Vmstat as usize];
        let s = k.slot(field);
        let d = match field {
            "nr_slab" => Derive::SumIfMissing(
                k.slot("nr_slab_reclaimable"),
                k.slot("nr_slab_unreclaimable"),
            ),
            // Split in two in 4.5; pmdalinux adds the halves back up.
            "thp_split" => {
                Derive::SumIfMissing(k.slot("thp_split_page"), k.slot("thp_split_page_failed"))
            }
            // pmdalinux's totals add up every field of its own vmstat
            // table that starts with the prefix and is in the file: per
            // zone before 4.8 (pgsteal_kswapd_normal...), per reclaimer
            // since (pgsteal_kswapd, pgsteal_direct), plus pgsteal_file
            // and pgscan_direct_throttle where the kernel has them; 0
            // when none is there.
            "pgscan_direct_total" | "pgscan_kswapd_total" | "pgsteal_total" => {
                let prefix = field.trim_end_matches("_total");
                let slots: Vec<usize> = crate::metrics::METRICS
                    .iter()
                    .filter_map(|m| m.name.strip_prefix("mem.vmstat."))
                    .filter(|f| f.starts_with(prefix) && !f.ends_with("_total"))
                    .map(|f| k.slot(f))
                    .collect();
                groups.push(slots);
                Derive::Total(groups.len() - 1)
            }
            _ => Derive::None,
        };
        return Some(Kind::Key(Src::Vmstat, s, d));
    }
    if let Some(rest) = name.strip_prefix("network.sockstat.") {
        let src = if cluster == 73 {
            Src::Sockstat6
        } else {
            Src::Sockstat
        };
        let key = if rest == "total" {
            "sockets.used".to_string()
        } else {
            rest.to_string()
        };
        let s = keyed[src as usize].slot(&key);
        return Some(Kind::Key(src, s, Derive::None));
    }
    if let Some(f) = name.strip_prefix("mem.slabinfo.") {
        let item = [
            "objects.active",
            "objects.total",
            "objects.size",
            "slabs.active",
            "slabs.total",
            "slabs.pages_per_slab",
            "slabs.objects_per_slab",
            "slabs.total_size",
        ]
        .iter()
        .position(|x| *x == f)?;
        return Some(Kind::Slab(item));
    }
    if let Some(f) = name.strip_prefix("mem.zoneinfo.") {
        if f == "protection" {
            return Some(Kind::ZoneProt);
        }
        return Some(Kind::Zone(crate::zoneinfo::metric_item(f)?));
    }
    match name {
        "network.icmpmsg.intype" => return Some(Kind::IcmpMsg(0)),
        "network.icmpmsg.outtype" => return Some(Kind::IcmpMsg(1)),
        _ => {}
    }
    if matches!(cluster, 14 | 53 | 58) && parts.len() == 3 && parts[0] == "network" {
        return Some(match cluster {
            58 => {
                let s = keyed[Src::Snmp6 as usize].slot(&format!("{}{}", parts[1], parts[2]));
                // pmdalinux's snmp6 table answers 0 for a counter the
                // kernel does not print (Ip6InCEPkts before 3.17,
                // Udp6IgnoredMulti before 3.19...).
                Kind::Key(Src::Snmp6, s, Derive::OrZero)
            }
            14 => {
                let field = match parts[2] {
                    "recvbuferrors" => "rcvbuferrors",
                    f => f,
                };
                let s = keyed[Src::Snmp as usize].slot(&format!("{}.{}", parts[1], field));
                Kind::Key(Src::Snmp, s, Derive::None)
            }
            _ => {
                let section = match parts[1] {
                    "ip" => "ipext",
                    "tcp" => "tcpext",
                    "mptcp" => "mptcpext",
                    other => other,
                };
                let k = &mut keyed[Src::Netstat as usize];
                // Fields whose pmdalinux names are not the kernel's.
                let field = match parts[2] {
                    "timewaited" => "tw",
                    "timewaitrecycled" => "twrecycled",
                    "timewaitkilled" => "twkilled",
                    "pawsactiverejected" => "pawsactive",
                    "pawsestabrejected" => "pawsestab",
                    "pawspassiverejected" => "pawspassive",
                    "prequeueddropped" => "tcpprequeuedropped",
                    "schedulerfail" => "tcpschedulerfailed",
                    "iprpfilter" => "ipreversepathfilter",
                    f => f,
                };
                let exact = format!("{section}.{field}");
                // TcpExt fields mostly carry a "TCP" prefix that pmdalinux's
                // names drop (TCPOFOQueue is network.tcp.ofoqueue); both
                // spellings are looked for.
                let s = k.slot(&exact);
                // Likewise IpExt's "In" prefix (InCEPkts is network.ip.cepkts).
                let alt = if section == "tcpext" && !field.starts_with("tcp") {
                    Some(k.slot(&format!("tcpext.tcp{field}")))
                } else if section == "ipext"
                    && !field.starts_with("in")
                    && !field.starts_with("out")
                {
                    Some(k.slot(&format!("ipext.in{field}")))
                } else {
                    None
                };
                Kind::Key(Src::Netstat, s, alt.map_or(Derive::None, Derive::Fallback))
            }
        });
    }
    if let Some(rest) = name
        .strip_prefix("network.softnet.percpu.")
        .map(|r| (r, true))
        .or_else(|| name.strip_prefix("network.softnet.").map(|r| (r, false)))
    {
        let col = [
            "processed",
            "dropped",
            "time_squeeze",
            "cpu_collision",
            "received_rps",
            "flow_limit_count",
        ]
        .iter()
        .position(|c| *c == rest.0)?;
        return Some(Kind::Softnet(col, rest.1));
    }
    if let Some(rest) = name.strip_prefix("vfs.locks.") {
        let (class, mode) = rest.split_once('.')?;
        let class = ["posix", "flock", "lease"]
            .iter()
            .position(|c| *c == class)?;
        let mode = ["read", "write", "count"].iter().position(|m| *m == mode)?;
        return Some(Kind::Locks(class, mode));
    }
    for (prefix, src) in [
        ("network.tcpconn.", Src::Tcp),
        ("network.tcpconn6.", Src::Tcp6),
        ("network.udpconn.", Src::Udp),
        ("network.udpconn6.", Src::Udp6),
    ] {
        if let Some(state) = name.strip_prefix(prefix) {
            // The kernel's socket states, numbered from 1.
            let st = [
                "established",
                "syn_sent",
                "syn_recv",
                "fin_wait1",
                "fin_wait2",
                "time_wait",
                "close",
                "close_wait",
                "last_ack",
                "listen",
                "closing",
            ]
            .iter()
            .position(|s| *s == state)?
                + 1;
            // An unconnected UDP socket sits in TCP_CLOSE: pmdalinux
            // counts those as listening.
            let st = if matches!(src, Src::Udp | Src::Udp6) && state == "listen" {
                7
            } else {
                st
            };
            return Some(Kind::Conn(src, st));
        }
    }
    if let Some(f) = name.strip_prefix("rpc.client.") {
        let i = crate::rpc::CLIENT_FIELDS.iter().position(|c| *c == f)?;
        return Some(Kind::Rpc(RpcF::Client(i)));
    }
    if let Some(f) = name.strip_prefix("rpc.server.") {
        return Some(Kind::Rpc(RpcF::Server(crate::rpc::server_slot(f)?)));
    }
    if let Some(f) = name.strip_prefix("nfs.server.threads.") {
        let i = [
            "total",
            "pools",
            "requests",
            "enqueued",
            "processed",
            "timedout",
        ]
        .iter()
        .position(|c| *c == f)?;
        return Some(Kind::Rpc(RpcF::Threads(i)));
    }
    if let [v @ ("nfs" | "nfs3" | "nfs4"), side @ ("client" | "server"), what] = parts.as_slice() {
        let ver = match *v {
            "nfs" => 2,
            "nfs3" => 3,
            _ => 4,
        };
        let client = *side == "client";
        return Some(Kind::Rpc(match *what {
            "calls" => RpcF::Calls(client, ver),
            "reqs" => RpcF::Reqs(client, ver),
            _ => return None,
        }));
    }
    if let Some(f) = name.strip_prefix("tty.serial.") {
        let i = ["tx", "rx", "frame", "parity", "brk", "overrun", "irq"]
            .iter()
            .position(|c| *c == f)?;
        return Some(Kind::Tty(i));
    }
    if let Some(f) = name.strip_prefix("swapdev.") {
        let i = ["free", "length", "maxswap", "vlength", "priority"]
            .iter()
            .position(|c| *c == f)?;
        return Some(Kind::Swapdev(i as u8));
    }
    if let Some(f) = name.strip_prefix("tmpfs.") {
        // The same statfs figures as filesys.*, for tmpfs mounts (pmdalinux
        // names seven of them).
        return Some(Kind::Tmpfs(fs_field(f)?));
    }
    if let Some(f) = name.strip_prefix("mem.ksm.") {
        let file = match f {
            "full_scans" => "sys/kernel/mm/ksm/full_scans",
            "merge_across_nodes" => "sys/kernel/mm/ksm/merge_across_nodes",
            "pages_shared" => "sys/kernel/mm/ksm/pages_shared",
            "pages_sharing" => "sys/kernel/mm/ksm/pages_sharing",
            "pages_to_scan" => "sys/kernel/mm/ksm/pages_to_scan",
            "pages_unshared" => "sys/kernel/mm/ksm/pages_unshared",
            "pages_volatile" => "sys/kernel/mm/ksm/pages_volatile",
            "run_state" => "sys/kernel/mm/ksm/run",
            "sleep_time" => "sys/kernel/mm/ksm/sleep_millisecs",
            _ => return None,
        };
        return Some(Kind::SysNum(file, 0));
    }
    if let Some(f) = name.strip_prefix("mem.numa.util.") {
        let (key, bytes) = match f.strip_suffix("Bytes") {
            Some(k) => (k, true),
            None => (f, false),
        };
        let key = match key {
            "total" => "MemTotal:",
            "free" => "MemFree:",
            "used" => "MemUsed:",
            "active" => "Active:",
            "inactive" => "Inactive:",
            "active_anon" => "Active(anon):",
            "inactive_anon" => "Inactive(anon):",
            "active_file" => "Active(file):",
            "inactive_file" => "Inactive(file):",
            "highTotal" => "HighTotal:",
            "highFree" => "HighFree:",
            "lowTotal" => "LowTotal:",
            "lowFree" => "LowFree:",
            "unevictable" => "Unevictable:",
            "mlocked" => "Mlocked:",
            "dirty" => "Dirty:",
            "writeback" => "Writeback:",
            "filePages" => "FilePages:",
            "mapped" => "Mapped:",
            "anonpages" => "AnonPages:",
            "shmem" => "Shmem:",
            "kernelStack" => "KernelStack:",
            "pageTables" => "PageTables:",
            "NFS_Unstable" => "NFS_Unstable:",
            "bounce" => "Bounce:",
            "writebackTmp" => "WritebackTmp:",
            "slab" => "Slab:",
            "slabReclaimable" => "SReclaimable:",
            "slabUnreclaimable" => "SUnreclaim:",
            "hugepagesTotal" => "HugePages_Total:",
            "hugepagesFree" => "HugePages_Free:",
            "hugepagesSurp" => "HugePages_Surp:",
            _ => return None,
        };
        let i = crate::numa::MEMINFO_KEYS.iter().position(|k| *k == key)?;
        return Some(Kind::Numa(if bytes {
            NumaF::HugeBytes(i)
        } else {
            NumaF::Mem(i)
        }));
    }
    if let Some(f) = name.strip_prefix("mem.numa.alloc.") {
        let key = match f {
            "hit" => "numa_hit",
            "miss" => "numa_miss",
            "foreign" => "numa_foreign",
            other => other,
        };
        let i = crate::numa::NUMASTAT_KEYS.iter().position(|k| *k == key)?;
        return Some(Kind::Numa(NumaF::Stat(i)));
    }
    if let Some(f) = name.strip_prefix("network.unix.") {
        let i = [
            "datagram.count",
            "stream.established",
            "stream.listen",
            "stream.count",
        ]
        .iter()
        .position(|c| *c == f)?;
        return Some(Kind::Unix(i));
    }
    if let Some((_, v)) = crate::ipc::CONSTANTS.iter().find(|(n, _)| *n == name) {
        return Some(Kind::Const(*v));
    }
    if let Some(rest) = name.strip_prefix("ipc.") {
        let (class, f) = rest.split_once('.')?;
        let pos = |l: &[&str]| l.iter().position(|c| *c == f).map(|i| i as u8);
        let sysctl = |file: &'static str, i: usize| Some(Kind::SysNum(file, i));
        return match (class, cluster) {
            ("shm", 64) => Some(Kind::Ipc(IpcF::Shm(pos(&[
                "key",
                "owner",
                "perms",
                "segsz",
                "nattch",
                "status",
                "creator_pid",
                "last_access_pid",
            ])?))),
            ("msg", 65) => Some(Kind::Ipc(IpcF::Msg(pos(&[
                "key",
                "owner",
                "perms",
                "msgsz",
                "messages",
                "last_send_pid",
                "last_recv_pid",
            ])?))),
            ("sem", 66) => Some(Kind::Ipc(IpcF::Sem(pos(&[
                "key", "owner", "perms", "nsems",
            ])?))),
            ("shm", 56) => Some(Kind::Ipc(IpcF::ShmInfo(pos(&[
                "tot",
                "rss",
                "swp",
                "used_ids",
                "swap_attempts",
                "swap_successes",
            ])?))),
            ("msg", 62) => Some(Kind::Ipc(IpcF::MsgInfo(pos(&[
                "used_queues",
                "tot_msg",
                "tot_bytes",
            ])?))),
            ("sem", 61) => Some(Kind::Ipc(IpcF::SemInfo(pos(&["used_sem", "tot_sem"])?))),
            _ => match name {
                "ipc.shm.max_segsz" => sysctl("proc/sys/kernel/shmmax", 0),
                "ipc.shm.max_seg" | "ipc.shm.max_segproc" => sysctl("proc/sys/kernel/shmmni", 0),
                "ipc.shm.max_shmsys" => sysctl("proc/sys/kernel/shmall", 0),
                "ipc.msg.max_msgsz" => sysctl("proc/sys/kernel/msgmax", 0),
                "ipc.msg.max_defmsgq" => sysctl("proc/sys/kernel/msgmnb", 0),
                "ipc.msg.max_msgqid" => sysctl("proc/sys/kernel/msgmni", 0),
                // /proc/sys/kernel/sem: SEMMSL SEMMNS SEMOPM SEMMNI.
                "ipc.sem.max_perid" => sysctl("proc/sys/kernel/sem", 0),
                "ipc.sem.max_sem" => sysctl("proc/sys/kernel/sem", 1),
                "ipc.sem.max_ops" => sysctl("proc/sys/kernel/sem", 2),
                "ipc.sem.max_semid" => sysctl("proc/sys/kernel/sem", 3),
                _ => None,
            },
        };
    }
    if let Some(f) = name.strip_prefix("tape.dev.") {
        let i = crate::tapefc::TAPE_FIELDS.iter().position(|c| *c == f)?;
        return Some(Kind::Tape(i as u8));
    }
    if let Some(f) = name.strip_prefix("fchost.") {
        let i = crate::tapefc::FCHOST_METRICS.iter().position(|c| *c == f)?;
        return Some(Kind::FcHost(i as u8));
    }
    let k = match name {
        "hinv.ntape" => Kind::NTape,
        "hinv.map.scsi" => Kind::ScsiMap,
        "hinv.nfchost" => Kind::NFcHost,
        "hinv.cpu.online" => Kind::Online(false),
        "hinv.node.online" => Kind::Online(true),
        "hinv.cpu.frequency_scaling.count" => Kind::Freq(0),
        "hinv.cpu.frequency_scaling.time" => Kind::Freq(1),
        "hinv.cpu.frequency_scaling.max" => Kind::Freq(2),
        "hinv.cpu.frequency_scaling.min" => Kind::Freq(3),
        "hinv.cpu.thermal_throttle.core.count" => Kind::Thermal(0),
        "hinv.cpu.thermal_throttle.core.time" => Kind::Thermal(1),
        "hinv.cpu.thermal_throttle.package.count" => Kind::Thermal(2),
        "hinv.cpu.thermal_throttle.package.time" => Kind::Thermal(3),
        "pmda.version" => Kind::PmdaVersion,
        "network.rawconn.count" => Kind::RawCount(Src::Raw),
        "network.rawconn6.count" => Kind::RawCount(Src::Raw6),
        "sysfs.kernel.uevent_seqnum" => Kind::SysNumOpt("sys/kernel/uevent_seqnum"),
        "sysfs.kernel.debug.extfrag_unusable" => Kind::Extfrag,
        "mem.numa.max_bandwidth" => Kind::Bandwidth,
        "kernel.all.interrupts.total" => Kind::Irq(IrqF::Total),
        "kernel.percpu.interrupts" => Kind::Irq(IrqF::PerCpu),
        "kernel.all.interrupts.errors" => Kind::Irq(IrqF::Errors),
        "kernel.all.interrupts.missed" => Kind::Irq(IrqF::Missed),
        "kernel.percpu.intr" => Kind::Irq(IrqF::CpuSum),
        "kernel.all.softirqs.total" => Kind::Softirq(IrqF::Total),
        "kernel.percpu.softirqs" => Kind::Softirq(IrqF::PerCpu),
        "kernel.percpu.sirq" => Kind::Softirq(IrqF::CpuSum),
        "pmda.uname" => Kind::PmdaUname,
        "kernel.all.nusers" => Kind::Login(0),
        "kernel.all.nroots" => Kind::Login(1),
        "kernel.all.nsessions" => Kind::Login(2),
        "mem.buddyinfo.pages" => Kind::Buddy(false),
        "mem.buddyinfo.total" => Kind::Buddy(true),
        "kernel.all.intr" => Kind::Intr,
        "kernel.all.pswitch" => Kind::Pswitch,
        "kernel.all.sysfork" => Kind::Sysfork,
        "kernel.all.running" => Kind::Running,
        "kernel.all.blocked" => Kind::Blocked,
        "kernel.all.boottime" => Kind::Boottime,
        "kernel.all.hz" => Kind::Hz,
        "hinv.ncpu" => Kind::Ncpu,
        "hinv.nnode" => Kind::Nnode,
        "hinv.ndisk" => Kind::Ndisk,
        "swap.in" | "swap.out" => Kind::OldKernel,
        "swap.pagesin" => Kind::Key(
            Src::Vmstat,
            keyed[Src::Vmstat as usize].slot("pswpin"),
            Derive::None,
        ),
        "swap.pagesout" => Kind::Key(
            Src::Vmstat,
            keyed[Src::Vmstat as usize].slot("pswpout"),
            Derive::None,
        ),
        "hinv.map.scsi_id" => Kind::ScsiId,
        "hinv.map.dmname" => Kind::DevKname(crate::disk::DevKind::Dm),
        "hinv.map.mdname" => Kind::DevKname(crate::disk::DevKind::Md),
        "mem.physmem" => Kind::Mem(MemF::Field(mem_slot("memtotal"))),
        "mem.freemem" => Kind::Mem(MemF::Field(mem_slot("memfree"))),
        "swap.length" => Kind::Mem(MemF::FieldBytes(mem_slot("swaptotal"))),
        "swap.free" => Kind::Mem(MemF::FieldBytes(mem_slot("swapfree"))),
        "swap.used" => Kind::Mem(MemF::SwapUsed),
        "hinv.physmem" => Kind::Mem(MemF::PhysMb),
        "hinv.pagesize" => Kind::Mem(MemF::PageSize),
        "hinv.hugepagesize" => Kind::Mem(MemF::HugePageSize),
        "kernel.all.load" => Kind::Load,
        "kernel.all.lastpid" => Kind::LastPid,
        "kernel.all.runnable" => Kind::Runnable,
        "kernel.all.nprocs" => Kind::Nprocs,
        "hinv.ninterface" => Kind::Ninterface,
        "hinv.nfilesys" => Kind::Nfilesys,
        "hinv.cpu.clock" => Kind::CpuInfo(CpuField::Clock),
        "hinv.cpu.vendor" => Kind::CpuInfo(CpuField::Vendor),
        "hinv.cpu.model" => Kind::CpuInfo(CpuField::Model),
        "hinv.cpu.stepping" => Kind::CpuInfo(CpuField::Stepping),
        "hinv.cpu.cache" => Kind::CpuInfo(CpuField::Cache),
        "hinv.cpu.bogomips" => Kind::CpuInfo(CpuField::Bogomips),
        "hinv.cpu.model_name" => Kind::CpuInfo(CpuField::ModelName),
        "hinv.cpu.flags" => Kind::CpuInfo(CpuField::Flags),
        "hinv.cpu.cache_alignment" => Kind::CpuInfo(CpuField::CacheAlign),
        "hinv.map.cpu_num" => Kind::CpuNum,
        "hinv.map.cpu_node" => Kind::CpuNode,
        "hinv.machine" | "kernel.uname.machine" => Kind::Machine,
        "kernel.all.uptime" => Kind::Uptime,
        "kernel.all.idletime" => Kind::IdleTime,
        "kernel.uname.release" => Kind::SysKernel("osrelease"),
        "kernel.uname.version" => Kind::SysKernel("version"),
        "kernel.uname.sysname" => Kind::SysKernel("ostype"),
        "kernel.uname.nodename" => Kind::SysKernel("hostname"),
        "kernel.uname.distro" => Kind::Distro,
        "vfs.files.count" => Kind::SysNum("proc/sys/fs/file-nr", 0),
        "vfs.files.free" => Kind::SysNum("proc/sys/fs/file-nr", 1),
        "vfs.files.max" => Kind::SysNum("proc/sys/fs/file-nr", 2),
        "vfs.inodes.count" => Kind::SysNum("proc/sys/fs/inode-state", 0),
        "vfs.inodes.free" => Kind::SysNum("proc/sys/fs/inode-state", 1),
        "vfs.dentry.count" => Kind::SysNum("proc/sys/fs/dentry-state", 0),
        "vfs.dentry.free" => Kind::SysNum("proc/sys/fs/dentry-state", 1),
        "vfs.aio.count" => Kind::SysNum("proc/sys/fs/aio-nr", 0),
        "vfs.aio.max" => Kind::SysNum("proc/sys/fs/aio-max-nr", 0),
        "kernel.all.entropy.avail" => Kind::SysNum("proc/sys/kernel/random/entropy_avail", 0),
        "kernel.all.entropy.poolsize" => Kind::SysNum("proc/sys/kernel/random/poolsize", 0),
        "kernel.all.pid_max" => Kind::SysNumOr("proc/sys/kernel/pid_max", 1 << 22),
        "kernel.all.nptys" => Kind::SysNumOr("proc/sys/kernel/pty/nr", 0),
        _ => return None,
    };
    Some(k)
}
