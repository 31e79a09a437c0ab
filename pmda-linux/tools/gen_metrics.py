#!/usr/bin/env python3
"""Generates pmda-linux/src/metrics.rs from pmdalinux-descs.tsv.

The TSV holds the descriptors of PCP 6.0.3's pmdalinux as `pminfo -dm`
prints them on a live host (name, PMID, type, indom, semantics, units):
identifiers and descriptors only, in pminfo's traversal order (see
capture_descs.sh). Rows keep that order, so the agent's namespace lists
children in the order pmdalinux's does. Help text is written here, in our own
words, per family of metrics with overrides for the important ones.

Run from the crate directory:  python3 tools/gen_metrics.py > src/metrics.rs
"""
import sys

# Clusters this agent serves (pmdalinux's cluster numbers).
CLUSTERS = {0, 1, 2, 3, 4, 5, 7, 10, 11, 12, 14, 18, 19, 20, 26, 33, 67, 68, 70, 27, 28, 53, 54, 57, 58, 59, 63, 72, 73, 75, 76, 79, 80, 82, 83, 84, 85, 90, 93, 74, 25,
            6, 34, 35, 36, 55, 69, 77, 78, 81, 21, 22, 23, 56, 61, 62, 64, 65, 66,
            86, 87, 88, 89, 55, 71, 91, 15, 92, 60}
# Individual metrics left out of served clusters (need an indom we lack).
SKIP = set()

TYPES = {
    "32-bit int": "I32", "32-bit unsigned int": "U32", "64-bit int": "I64",
    "64-bit unsigned int": "U64", "float": "Float", "double": "Double",
    "string": "String",
}
SEMS = {"counter": "Counter", "instant": "Instant", "discrete": "Discrete"}
UNITS = {
    "none": "Units::NONE",
    "count": "Units::COUNT",
    "byte": "Units::BYTES",
    "Kbyte": "Units::KBYTES",
    "Mbyte": "Units::new(1, 0, 0, space::MBYTE, 0, 0)",
    "millisec": "Units::MILLISEC",
    "microsec": "Units::new(0, 1, 0, 0, time::USEC, 0)",
    "nanosec": "Units::new(0, 1, 0, 0, time::NSEC, 0)",
    "sec": "Units::SEC",
    "/ microsec": "Units::new(0, -1, 0, 0, time::USEC, 0)",
    "Mbyte / sec": "Units::new(1, -1, 0, space::MBYTE, time::SEC, 0)",
    "byte / sec": "Units::new(1, -1, 0, space::BYTE, time::SEC, 0)",
    "count / sec": "Units::new(0, -1, 1, 0, time::SEC, 0)",
}

CPU_STATES = {
    "user": ("time in user mode, guest time included",
             "Time the CPUs spent running user-space code, including time spent running guest virtual CPUs. Converted from the kernel's clock ticks in /proc/stat to milliseconds."),
    "nice": ("time in user mode at lowered priority (niced)",
             "Time spent running niced user-space code, including niced guests. Converted from clock ticks in /proc/stat to milliseconds."),
    "sys": ("time in kernel mode",
            "Time spent executing kernel code on behalf of processes (system time), from /proc/stat, in milliseconds."),
    "idle": ("idle time",
             "Time the CPUs had nothing to run and were not waiting on I/O, from /proc/stat, in milliseconds."),
    "wait.total": ("idle time with I/O outstanding",
                   "Time a CPU was idle while at least one task waited for block I/O (iowait in /proc/stat), in milliseconds."),
    "intr": ("time servicing interrupts, hard and soft",
             "Sum of the hard interrupt and soft interrupt (softirq) time from /proc/stat, in milliseconds."),
    "irq.soft": ("time servicing soft interrupts",
                 "Time spent in softirq handlers (the softirq column of /proc/stat), in milliseconds."),
    "irq.hard": ("time servicing hardware interrupts",
                 "Time spent in hardware interrupt handlers (the irq column of /proc/stat), in milliseconds."),
    "steal": ("time stolen by the hypervisor",
              "Time a virtual CPU was ready to run but the hypervisor ran something else (steal in /proc/stat), in milliseconds."),
    "guest": ("time running guest virtual CPUs",
              "Time spent running a virtual CPU for a guest operating system (guest in /proc/stat), in milliseconds. Also counted in user."),
    "guest_nice": ("time running niced guest virtual CPUs",
                   "Time spent running a niced guest virtual CPU (guest_nice in /proc/stat), in milliseconds. Also counted in nice."),
    "vuser": ("user time excluding guest time",
              "User-mode time with guest time taken out (user minus guest), in milliseconds."),
    "vnice": ("niced user time excluding niced guest time",
              "Niced user-mode time with niced guest time taken out (nice minus guest_nice), in milliseconds."),
}

DISK_FIELDS = {
    "read": ("read requests completed", "Count of read requests that completed, from /proc/diskstats."),
    "write": ("write requests completed", "Count of write requests that completed, from /proc/diskstats."),
    "total": ("read and write requests completed", "Reads plus writes completed, from /proc/diskstats."),
    "blkread": ("512-byte sectors read", "Sectors (512 bytes each, whatever the device's block size) read, from /proc/diskstats."),
    "blkwrite": ("512-byte sectors written", "Sectors (512 bytes each) written, from /proc/diskstats."),
    "blktotal": ("512-byte sectors read or written", "Sectors read plus sectors written, from /proc/diskstats."),
    "read_bytes": ("Kbytes read", "Data read in Kbytes: sectors read halved."),
    "write_bytes": ("Kbytes written", "Data written in Kbytes: sectors written halved."),
    "total_bytes": ("Kbytes read or written", "Data transferred in Kbytes: sectors read plus written, halved."),
    "read_merge": ("read requests merged", "Adjacent read requests the block layer merged before issuing them."),
    "write_merge": ("write requests merged", "Adjacent write requests the block layer merged before issuing them."),
    "avactive": ("time the device had I/O in flight", "Milliseconds during which at least one request was outstanding on the device (io_ticks). Its rate is the device utilisation."),
    "aveq": ("time-weighted count of requests in flight", "Milliseconds spent doing I/O multiplied by the number of requests outstanding (weighted io_ticks); its rate is the average queue length."),
    "read_rawactive": ("time spent on reads", "Total milliseconds read requests spent from issue to completion, summed over requests."),
    "write_rawactive": ("time spent on writes", "Total milliseconds write requests spent from issue to completion, summed over requests."),
    "total_rawactive": ("time spent on reads and writes", "Read plus write request milliseconds."),
    "capacity": ("size of the device", "Size of the block device in Kbytes, from /proc/partitions (zram devices: their disksize in sysfs, zero until sized)."),
    "discard": ("discard requests completed", "Count of discard (TRIM/unmap) requests completed."),
    "blkdiscard": ("512-byte sectors discarded", "Sectors covered by completed discard requests."),
    "discard_bytes": ("Kbytes discarded", "Kbytes covered by completed discard requests: sectors discarded halved."),
    "discard_merge": ("discard requests merged", "Adjacent discard requests merged before issue."),
    "discard_rawactive": ("time spent on discards", "Total milliseconds spent on discard requests."),
    "flush": ("flush requests completed", "Count of cache flush requests completed."),
    "flush_rawactive": ("time spent on flushes", "Total milliseconds spent on cache flush requests."),
    "inflight": ("requests in flight now", "Requests issued to the device driver and not yet completed."),
    "scheduler": ("I/O scheduler in use", "The active I/O scheduler of the device, from /sys/block/DEV/queue/scheduler."),
}
DISK_SCOPE = {
    "disk.dev": "per disk",
    "disk.all": "summed over all disks",
    "disk.partitions": "per partition",
    "disk.dm": "per device-mapper device",
    "disk.md": "per multi-device (software RAID) device",
    "zram": "per zram (compressed RAM disk) device",
    "disk.wwid": "per WWID, summed over its SCSI paths",
}

NETIF = {
    "in.bytes": ("bytes received", "Bytes received on the interface, from /proc/net/dev."),
    "in.packets": ("packets received", "Packets received on the interface, from /proc/net/dev."),
    "in.errors": ("receive errors", "Receive errors the driver reported, from /proc/net/dev."),
    "in.drops": ("received packets dropped", "Received packets dropped before reaching the stack, from /proc/net/dev."),
    "in.fifo": ("receive FIFO overruns", "Receive FIFO buffer errors, from /proc/net/dev."),
    "in.frame": ("receive framing errors", "Receive framing errors, from /proc/net/dev."),
    "in.compressed": ("compressed packets received", "Compressed packets received (CSLIP, PPP), from /proc/net/dev."),
    "in.mcasts": ("multicast packets received", "Multicast frames received, from /proc/net/dev."),
    "out.bytes": ("bytes sent", "Bytes transmitted on the interface, from /proc/net/dev."),
    "out.packets": ("packets sent", "Packets transmitted on the interface, from /proc/net/dev."),
    "out.errors": ("transmit errors", "Transmit errors the driver reported, from /proc/net/dev."),
    "out.drops": ("transmitted packets dropped", "Packets dropped on the way out, from /proc/net/dev."),
    "out.fifo": ("transmit FIFO errors", "Transmit FIFO buffer errors, from /proc/net/dev."),
    "collisions": ("collisions on transmit", "Collisions detected while transmitting, from /proc/net/dev."),
    "out.carrier": ("carrier losses on transmit", "Transmit carrier errors, from /proc/net/dev."),
    "out.compressed": ("compressed packets sent", "Compressed packets transmitted, from /proc/net/dev."),
    "total.bytes": ("bytes received and sent", "Bytes received plus bytes sent."),
    "total.packets": ("packets received and sent", "Packets received plus packets sent."),
    "total.errors": ("receive and transmit errors", "Receive errors plus transmit errors."),
    "total.drops": ("packets dropped in either direction", "Received plus transmitted packets dropped."),
    "total.mcasts": ("multicast packets", "Multicast packets received (the kernel counts no transmitted multicasts here)."),
    "mtu": ("maximum transmission unit", "The interface MTU in bytes, from /sys/class/net/IF/mtu."),
    "speed": ("link speed in Mbytes per second", "Link speed as reported by the driver (/sys/class/net/IF/speed, Mbit/s) converted to Mbytes per second. No value for links without a speed."),
    "baudrate": ("link speed in bytes per second", "Link speed as reported by the driver, in bytes per second."),
    "duplex": ("link duplex: 1 half, 2 full", "Duplex mode of the link: 1 for half duplex, 2 for full duplex; no value when unknown."),
    "up": ("administratively up (1) or down (0)", "1 when the interface is configured up (IFF_UP), else 0."),
    "running": ("operationally running (1) or not (0)", "1 when the interface is up and its link is operational (IFF_RUNNING), else 0."),
    "wireless": ("wireless interface (1) or not (0)", "1 when the interface is a wireless device, else 0."),
    "type": ("link-layer type", "The ARPHRD_* link-layer type of the interface (1 is Ethernet, 772 loopback)."),
    "virtual": ("virtual interface (1) or physical (0)", "1 for software interfaces with no backing device (loopback, bridges, tunnels), else 0."),
}

MEMINFO = {
    "mem.physmem": ("total usable memory", "Total usable RAM (MemTotal in /proc/meminfo), in Kbytes."),
    "mem.freemem": ("free memory", "Memory not in use for anything (MemFree), in Kbytes."),
    "mem.util.used": ("memory in use", "MemTotal minus MemFree, in Kbytes: includes buffers and page cache."),
    "mem.util.free": ("free memory", "MemFree from /proc/meminfo, in Kbytes."),
    "mem.util.shared": ("shared memory (obsolete field)", "MemShared from /proc/meminfo; modern kernels no longer report it, so there is usually no value."),
    "mem.util.bufmem": ("memory in block device buffers", "Buffers from /proc/meminfo, in Kbytes."),
    "mem.util.cached": ("page cache memory", "Cached from /proc/meminfo: file data held in memory, in Kbytes."),
    "mem.util.other": ("memory in use other than buffers and page cache", "Used memory less page cache and buffers, in Kbytes."),
    "mem.util.cache_clean": ("page cache that is neither dirty nor under writeback", "Cached minus Dirty minus Writeback, in Kbytes."),
    "hinv.physmem": ("total memory in Mbytes", "MemTotal from /proc/meminfo in Mbytes."),
    "hinv.pagesize": ("memory page size", "Size in bytes of a memory page on this system."),
    "hinv.hugepagesize": ("huge page size", "Size in bytes of a huge page (Hugepagesize in /proc/meminfo)."),
    "swap.length": ("total swap space", "SwapTotal from /proc/meminfo, in bytes."),
    "swap.used": ("swap space in use", "SwapTotal minus SwapFree, in bytes."),
    "swap.free": ("free swap space", "SwapFree from /proc/meminfo, in bytes."),
    "mem.util.hugepagesTotalBytes": ("huge page pool size in bytes", "HugePages_Total times the huge page size."),
    "mem.util.hugepagesFreeBytes": ("free huge pages in bytes", "HugePages_Free times the huge page size."),
    "mem.util.hugepagesRsvdBytes": ("reserved huge pages in bytes", "HugePages_Rsvd times the huge page size."),
    "mem.util.hugepagesSurpBytes": ("surplus huge pages in bytes", "HugePages_Surp times the huge page size."),
}
MEMINFO_FIELD = {
    "swapCached": "SwapCached", "active": "Active", "inactive": "Inactive",
    "highTotal": "HighTotal", "highFree": "HighFree", "lowTotal": "LowTotal",
    "lowFree": "LowFree", "swapTotal": "SwapTotal", "swapFree": "SwapFree",
    "dirty": "Dirty", "writeback": "Writeback", "mapped": "Mapped", "slab": "Slab",
    "committed_AS": "Committed_AS", "pageTables": "PageTables",
    "reverseMaps": "ReverseMaps", "anonpages": "AnonPages",
    "commitLimit": "CommitLimit", "bounce": "Bounce", "NFS_Unstable": "NFS_Unstable",
    "slabReclaimable": "SReclaimable", "slabUnreclaimable": "SUnreclaim",
    "active_anon": "Active(anon)", "inactive_anon": "Inactive(anon)",
    "active_file": "Active(file)", "inactive_file": "Inactive(file)",
    "unevictable": "Unevictable", "mlocked": "Mlocked", "shmem": "Shmem",
    "kernelStack": "KernelStack", "hugepagesTotal": "HugePages_Total",
    "hugepagesFree": "HugePages_Free", "hugepagesRsvd": "HugePages_Rsvd",
    "hugepagesSurp": "HugePages_Surp", "directMap4k": "DirectMap4k",
    "directMap2M": "DirectMap2M", "directMap1G": "DirectMap1G",
    "vmallocTotal": "VmallocTotal", "vmallocUsed": "VmallocUsed",
    "vmallocChunk": "VmallocChunk", "mmap_copy": "MmapCopy",
    "quicklists": "Quicklists", "corrupthardware": "HardwareCorrupted",
    "anonhugepages": "AnonHugePages", "available": "MemAvailable",
}

SIMPLE = {
    "pmda.version": ("version of the agent", "The Performance Co-Pilot release this agent is a drop-in for."),
    "hinv.cpu.online": ("CPU online (1) or offline (0)", "Whether each CPU is online, from /sys/devices/system/cpu/cpuN/online; a CPU without that file (usually cpu0, which cannot be taken offline) counts as online."),
    "hinv.node.online": ("NUMA node online (1) or offline (0)", "Whether each NUMA node is online, from /sys/devices/system/node/nodeN/online; a node without that file counts as online."),
    "sysfs.kernel.uevent_seqnum": ("kernel uevents sent", "Sequence number of the latest event the kernel sent to user space about devices (hot-plug and the like), from /sys/kernel/uevent_seqnum."),
    "sysfs.kernel.debug.extfrag_unusable": ("unusable free space index per node", "How unusable the free memory of each node's Normal zone is for large allocations because of fragmentation: the kernel's unusable free space indexes (0 to 1) of every allocation order, summed, from /sys/kernel/debug/extfrag/unusable_index. No values without debugfs mounted, or for a node without a Normal zone."),
    "network.unix.datagram.count": ("unix domain datagram sockets", "Datagram sockets in the unix (local) domain, counted from /proc/net/unix."),
    "network.unix.stream.established": ("connected unix domain stream sockets", "Stream sockets in the unix domain that are connected, counted from /proc/net/unix."),
    "network.unix.stream.listen": ("listening unix domain stream sockets", "Stream sockets in the unix domain waiting for connections, counted from /proc/net/unix."),
    "network.unix.stream.count": ("unix domain stream sockets", "All stream sockets in the unix domain, whatever their state, counted from /proc/net/unix."),
    "network.rawconn.count": ("raw IPv4 sockets", "Raw IPv4 sockets open, the rows of /proc/net/raw."),
    "network.rawconn6.count": ("raw IPv6 sockets", "Raw IPv6 sockets open, the rows of /proc/net/raw6."),
    "mem.numa.max_bandwidth": ("memory bandwidth limit per node", "The memory bandwidth of each NUMA node in Mbytes per second, as the administrator configures it in /var/lib/pcp/pmdas/linux/bandwidth.conf (a Version:1.0 line, then nodeN:BANDWIDTH lines; see samplebandwidth.conf there). No values without the file, or for a node whose bandwidth is not above zero."),
    "kernel.all.load": ("load average over 1, 5 and 15 minutes", "The kernel's exponentially damped run-queue length (runnable plus uninterruptible tasks), from /proc/loadavg, one instance per averaging period."),
    "kernel.all.lastpid": ("most recently assigned process id", "The last process id the kernel handed out, from /proc/loadavg."),
    "kernel.all.runnable": ("runnable tasks", "Tasks currently runnable, from the fourth field of /proc/loadavg."),
    "kernel.all.nprocs": ("tasks that exist", "Number of scheduling entities (processes and threads) that exist, from /proc/loadavg."),
    "kernel.all.intr": ("interrupts serviced", "Total interrupts serviced since boot, the first number of the intr line of /proc/stat."),
    "kernel.all.pswitch": ("context switches", "Context switches since boot (ctxt in /proc/stat)."),
    "kernel.all.sysfork": ("processes and threads created", "Forks and clones since boot (processes in /proc/stat)."),
    "kernel.all.running": ("tasks running now", "Tasks in the running state (procs_running in /proc/stat)."),
    "kernel.all.blocked": ("tasks blocked on I/O now", "Tasks blocked waiting for I/O (procs_blocked in /proc/stat)."),
    "kernel.all.boottime": ("boot time in seconds since the epoch", "When the system booted, as seconds since 1970-01-01 UTC (btime in /proc/stat)."),
    "kernel.all.hz": ("clock ticks per second", "The kernel's USER_HZ: how many ticks make a second in /proc/stat."),
    "kernel.all.uptime": ("seconds since boot", "Time since the system booted, from /proc/uptime."),
    "kernel.all.idletime": ("idle seconds since boot, summed over CPUs", "Idle time from the second field of /proc/uptime."),
    "kernel.all.entropy.avail": ("entropy available to the random pool", "Bits of entropy the kernel's random number generator holds, from /proc/sys/kernel/random/entropy_avail."),
    "kernel.all.entropy.poolsize": ("size of the entropy pool", "Size in bits of the kernel's entropy pool, from /proc/sys/kernel/random/poolsize."),
    "kernel.all.pid_max": ("largest process id plus one", "Process ids wrap at this value, from /proc/sys/kernel/pid_max."),
    "kernel.all.nptys": ("pseudo-terminals in use", "Pseudo-terminals currently allocated, from /proc/sys/kernel/pty/nr."),
    "hinv.ncpu": ("number of CPUs", "Number of CPUs listed in /proc/stat."),
    "hinv.ndisk": ("number of disks", "Number of disk devices in /proc/diskstats (partitions, loop, ram, dm and md devices excluded)."),
    "hinv.nnode": ("number of NUMA nodes", "Number of NUMA nodes under /sys/devices/system/node (one when there is no NUMA information)."),
    "hinv.ninterface": ("number of network interfaces", "Number of network interfaces in /proc/net/dev."),
    "hinv.nfilesys": ("number of mounted block-device filesystems", "Number of filesystems served by the filesys metrics."),
    "hinv.machine": ("hardware type", "The machine hardware name, as uname -m reports it."),
    "hinv.map.scsi_id": ("persistent SCSI identifier of a disk", "The WWID of a disk from sysfs, or \"unknown\" when the device has none."),
    "hinv.map.cpu_num": ("logical CPU number", "The logical number of each CPU."),
    "hinv.map.cpu_node": ("NUMA node of a CPU", "The NUMA node each CPU belongs to."),
    "hinv.map.dmname": ("device-mapper kernel name", "The kernel name (dm-N) behind each persistent device-mapper name."),
    "hinv.map.mdname": ("multi-device kernel name", "The kernel name (mdN) behind each persistent md device name."),
    "hinv.cpu.clock": ("CPU clock rate in MHz", "Clock rate of each CPU in MHz (cpu MHz in /proc/cpuinfo)."),
    "hinv.cpu.vendor": ("CPU vendor", "Vendor string of each CPU from /proc/cpuinfo."),
    "hinv.cpu.model": ("CPU model number", "Model number of each CPU from /proc/cpuinfo."),
    "hinv.cpu.stepping": ("CPU stepping", "Stepping (revision) of each CPU from /proc/cpuinfo."),
    "hinv.cpu.cache": ("CPU cache size", "Cache size of each CPU in Kbytes, from /proc/cpuinfo."),
    "hinv.cpu.bogomips": ("BogoMIPS rating", "The kernel's BogoMIPS calibration of each CPU, from /proc/cpuinfo."),
    "hinv.cpu.model_name": ("CPU model name", "Marketing name of each CPU from /proc/cpuinfo."),
    "hinv.cpu.flags": ("CPU feature flags", "Feature flags of each CPU, space separated, from /proc/cpuinfo."),
    "hinv.cpu.cache_alignment": ("cache line alignment", "Cache alignment of each CPU in bytes, from /proc/cpuinfo."),
    "kernel.uname.release": ("kernel release", "The kernel release, as uname -r prints it."),
    "kernel.uname.version": ("kernel build version", "The kernel version string, as uname -v prints it."),
    "kernel.uname.sysname": ("operating system name", "The kernel name, as uname -s prints it."),
    "kernel.uname.machine": ("hardware type", "The machine hardware name, as uname -m prints it."),
    "kernel.uname.nodename": ("host name", "The network node name, as uname -n prints it."),
    "kernel.uname.distro": ("Linux distribution", "Name and version of the installed distribution, from the release files under /etc."),
    "vfs.files.count": ("open file handles", "File handles allocated (first field of /proc/sys/fs/file-nr)."),
    "vfs.files.free": ("free file handles", "Allocated but unused file handles (second field of /proc/sys/fs/file-nr)."),
    "vfs.files.max": ("file handle limit", "The most file handles the kernel will allocate (third field of /proc/sys/fs/file-nr)."),
    "vfs.inodes.count": ("inodes allocated", "In-core inodes allocated, from /proc/sys/fs/inode-state."),
    "vfs.inodes.free": ("free inodes", "Allocated inodes that are unused, from /proc/sys/fs/inode-state."),
    "vfs.dentry.count": ("directory cache entries", "Entries in the directory cache, from /proc/sys/fs/dentry-state."),
    "vfs.dentry.free": ("unused directory cache entries", "Directory cache entries not in use, from /proc/sys/fs/dentry-state."),
    "vfs.aio.count": ("asynchronous I/O contexts in use", "Asynchronous I/O requests outstanding system-wide, from /proc/sys/fs/aio-nr."),
    "vfs.aio.max": ("asynchronous I/O limit", "The most asynchronous I/O requests allowed, from /proc/sys/fs/aio-max-nr."),
    "filesys.capacity": ("filesystem size", "Total size of the filesystem in Kbytes (statfs blocks times block size)."),
    "filesys.used": ("space in use", "Kbytes in use: total blocks less free blocks."),
    "filesys.free": ("free space", "Kbytes free, including space reserved for the superuser."),
    "filesys.avail": ("space available to ordinary users", "Kbytes free for unprivileged users (excludes reserved blocks)."),
    "filesys.maxfiles": ("inode limit", "Total inodes the filesystem can hold."),
    "filesys.usedfiles": ("inodes in use", "Total inodes less free inodes."),
    "filesys.freefiles": ("free inodes", "Inodes still available."),
    "filesys.mountdir": ("mount point", "The directory the filesystem is mounted on."),
    "filesys.full": ("percentage full", "Used space as a percentage of used plus user-available space, as df computes Use%."),
    "filesys.blocksize": ("block size", "Filesystem block size in bytes."),
    "filesys.readonly": ("mounted read-only (1) or read-write (0)", "1 when the filesystem is mounted read-only."),
    "swap.pagesin": ("pages swapped in", "Pages read in from swap (pswpin in /proc/vmstat)."),
    "swap.pagesout": ("pages swapped out", "Pages written out to swap (pswpout in /proc/vmstat)."),
    "swap.in": ("swap-in operations (old kernels)", "Swap-in operations from /proc/stat; Linux 2.6 and later do not report them."),
    "swap.out": ("swap-out operations (old kernels)", "Swap-out operations from /proc/stat; Linux 2.6 and later do not report them."),
}

SIMPLE.update({
    "mem.slabinfo.objects.active": ("objects in use per slab cache", "Objects of each slab cache that are allocated and in use (active_objs in /proc/slabinfo, readable by root only)."),
    "mem.slabinfo.objects.total": ("objects allocated per slab cache", "Objects each slab cache has room for in its slabs, in use or not (num_objs in /proc/slabinfo)."),
    "mem.slabinfo.objects.size": ("object size per slab cache", "Size in bytes of one object of each slab cache, alignment included (objsize in /proc/slabinfo)."),
    "mem.slabinfo.slabs.active": ("slabs in use per slab cache", "Slabs of each cache holding at least one object in use (active_slabs of the slabdata columns of /proc/slabinfo)."),
    "mem.slabinfo.slabs.total": ("slabs allocated per slab cache", "Slabs each cache has allocated (num_slabs of the slabdata columns of /proc/slabinfo)."),
    "mem.slabinfo.slabs.pages_per_slab": ("pages per slab", "Memory pages making up one slab of each cache (pagesperslab in /proc/slabinfo)."),
    "mem.slabinfo.slabs.objects_per_slab": ("objects per slab", "Objects one slab of each cache holds (objperslab in /proc/slabinfo)."),
    "mem.slabinfo.slabs.total_size": ("memory used by objects in use, per slab cache", "Bytes of slab memory taken by the objects in use of each cache: objects in use times pages per slab times the page size, divided by objects per slab."),
    "network.icmpmsg.intype": ("ICMP messages received, by message type", "Count of ICMP messages received of each ICMP type, from the IcmpMsg lines of /proc/net/snmp (the InTypeN columns). One instance per type number 0 to 255, named TypeN with id N; a type the kernel has not counted yet has no value."),
    "network.icmpmsg.outtype": ("ICMP messages sent, by message type", "Count of ICMP messages sent of each ICMP type, from the IcmpMsg lines of /proc/net/snmp (the OutTypeN columns). One instance per type number 0 to 255, named TypeN with id N; a type the kernel has not counted yet has no value."),
    "kernel.all.interrupts.total": ("interrupts per interrupt line", "Interrupts serviced on each line of /proc/interrupts, summed over all CPUs. One instance per line, named by its label (an IRQ number or a name such as LOC or NMI)."),
    "kernel.all.interrupts.errors": ("erroneous interrupts", "The ERR count of /proc/interrupts: interrupts the kernel could not attribute to a working handler."),
    "kernel.all.interrupts.missed": ("missed interrupts", "The MIS count of /proc/interrupts: interrupts lost by the interrupt controller."),
    "kernel.percpu.interrupts": ("interrupts per line and CPU", "Interrupts serviced on each line of /proc/interrupts by each CPU, one instance per line and CPU, named LINE::cpuN."),
    "kernel.all.softirqs.total": ("soft interrupts per kind", "Soft interrupts (deferred interrupt work) run of each kind in /proc/softirqs, summed over all CPUs."),
    "kernel.percpu.softirqs": ("soft interrupts per kind and CPU", "Soft interrupts of each kind in /proc/softirqs run by each CPU, one instance per kind and CPU, named KIND::cpuN."),
    "kernel.percpu.intr": ("interrupts per CPU", "Interrupts serviced by each CPU, summed over every line of /proc/interrupts."),
    "kernel.percpu.sirq": ("soft interrupts per CPU", "Soft interrupts run by each CPU, summed over every kind in /proc/softirqs."),
    "network.interface.inet_addr": ("IPv4 address", "The IPv4 address of each interface (the first one, for an interface with several); aliases appear under their own label."),
    "network.interface.ipv6_addr": ("IPv6 address and prefix length", "An IPv6 address of each interface with its prefix length, from /proc/net/if_inet6 (the last one listed, for an interface with several)."),
    "network.interface.ipv6_scope": ("IPv6 address scope", "The scope of the address in network.interface.ipv6_addr: Global, Host, Link, Site, Compat or Unknown."),
    "network.interface.hw_addr": ("hardware address", "The link-layer (MAC) address of each interface, from /sys/class/net/IF/address."),
    "mem.buddyinfo.pages": ("free blocks per zone, order and node", "Free blocks of 2^order contiguous pages in each memory zone of each NUMA node, from /proc/buddyinfo."),
    "mem.buddyinfo.total": ("free memory per zone, order and node", "Free memory held in blocks of 2^order pages in each zone of each NUMA node, in Kbytes: the block count times the block size."),
    "kernel.all.nusers": ("users logged in", "Login sessions of named users (root included): the USER_PROCESS records of the utmp file, /var/run/utmp."),
    "kernel.all.nroots": ("root users logged in", "Login sessions of the root user: the USER_PROCESS records of /var/run/utmp whose user is root."),
    "kernel.all.nsessions": ("utmp records", "Records in the utmp file /var/run/utmp (boot time, run level, login and dead process entries as well as user sessions), leaving out user process records with no user name."),
    "pmda.uname": ("the kernel's identification in one line", "Operating system name, host name, kernel release, kernel version and hardware type, separated by spaces, as uname -a prints the first five."),
})
RPC_CLIENT = {
    "rpccnt": ("RPC calls made", "Remote procedure calls this host's NFS client has issued"),
    "rpcretrans": ("RPC calls retransmitted", "Client RPC calls that had to be sent again after a timeout"),
    "rpcauthrefresh": ("RPC credential refreshes", "Times the client had to refresh its authentication credentials for an RPC call"),
    "netcnt": ("RPC packets sent and received", "Network packets of the client's RPC traffic, all transports"),
    "netudpcnt": ("RPC packets over UDP", "Network packets of the client's RPC traffic carried over UDP"),
    "nettcpcnt": ("RPC packets over TCP", "Network packets of the client's RPC traffic carried over TCP"),
    "nettcpconn": ("RPC TCP connections made", "TCP connections the client opened for RPC"),
}
RPC_SERVER = {
    "rpccnt": ("RPC calls received", "Remote procedure calls the NFS server has received"),
    "rpcerr": ("RPC calls rejected", "Server RPC calls that failed: the sum of bad format, bad authentication and bad client"),
    "rpcbadfmt": ("RPC calls malformed", "Server RPC calls rejected because they could not be decoded"),
    "rpcbadauth": ("RPC calls with bad credentials", "Server RPC calls rejected for failed authentication"),
    "rpcbadclnt": ("RPC calls from unknown clients", "Server RPC calls rejected because the client was not recognised"),
    "rchits": ("reply cache hits", "Requests answered from the server's duplicate request (reply) cache"),
    "rcmisses": ("reply cache misses", "Requests that were not found in the reply cache and had to be executed"),
    "rcnocache": ("requests not cached", "Requests whose replies the server does not cache (idempotent operations)"),
    "fh_cached": ("file handles found cached", "File handle lookups answered from the cache (older kernels only)"),
    "fh_valid": ("file handles validated", "File handles the server checked and found valid (older kernels only)"),
    "fh_fixup": ("file handles fixed up", "File handles the server had to repair (older kernels only)"),
    "fh_lookup": ("file handle lookups", "File handles the server had to look up in the filesystem"),
    "fh_stale": ("stale file handles", "Requests carrying a file handle that no longer refers to a file"),
    "fh_concurrent": ("concurrent file handle uses", "File handle lookups that raced with another user of the same handle (older kernels only)"),
    "netcnt": ("RPC packets received and sent", "Network packets of the server's RPC traffic, all transports"),
    "netudpcnt": ("RPC packets over UDP", "Network packets of the server's RPC traffic carried over UDP"),
    "nettcpcnt": ("RPC packets over TCP", "Network packets of the server's RPC traffic carried over TCP"),
    "nettcpconn": ("RPC packets over TCP (as pmdalinux reports it)", "Network packets of the server's RPC traffic carried over TCP (the net line's third number): pmdalinux 6.0.3 answers this metric, named for the TCP connections accepted, with that count, and this agent does the same so values agree"),
    "fh_anon": ("anonymous file handles", "File handles the server had to resolve without a directory path"),
    "fh_nocache_dir": ("uncached directory handles", "Directory file handles not found in the dentry cache"),
    "fh_nocache_nondir": ("uncached file handles", "Non-directory file handles not found in the dentry cache"),
    "io_read": ("bytes read by clients", "Bytes the server has read from disk on behalf of clients"),
    "io_write": ("bytes written by clients", "Bytes the server has written to disk on behalf of clients"),
    "th_cnt": ("server threads", "Number of nfsd threads, from the th line"),
    "th_fullcnt": ("times all threads were busy", "Times a request arrived while every nfsd thread was busy (older kernels; now always zero)"),
    "ra_size": ("read-ahead cache size", "Entries in the server's read-ahead cache (older kernels; zero when the kernel has no ra line)"),
    "ra_hits": ("read-ahead cache hits", "Read-ahead cache lookups that found an entry, summed over every depth (older kernels; zero otherwise)"),
    "ra_misses": ("read-ahead cache misses", "Read-ahead cache lookups that found nothing (older kernels; zero otherwise)"),
}
NFS_THREADS = {
    "total": ("nfsd threads running", "Number of nfsd server threads (first pool of /proc/fs/nfsd/pool_threads)"),
    "pools": ("nfsd thread pools", "Number of nfsd thread pools, counted from /proc/fs/nfsd/pool_stats"),
    "requests": ("requests arrived", "Network packets that arrived for the server, summed over its thread pools"),
    "enqueued": ("requests queued for a thread", "Times an arriving request had to wait because no thread was idle, summed over pools"),
    "processed": ("requests handed to an idle thread", "Times an idle thread was woken to handle an arriving request at once, summed over pools"),
    "timedout": ("idle thread timeouts", "Times an idle nfsd thread waited for work and timed out, summed over pools"),
}
TTY = {
    "tx": ("characters transmitted", "Characters (transmit interrupts) sent on each serial port"),
    "rx": ("characters received", "Characters (receive interrupts) received on each serial port"),
    "frame": ("framing errors", "Framing errors detected on each serial port"),
    "parity": ("parity errors", "Parity errors detected on each serial port"),
    "brk": ("breaks received", "Break conditions received on each serial port"),
    "overrun": ("overrun errors", "Receive overruns (characters lost) on each serial port"),
    "irq": ("interrupt line", "The interrupt request line each serial port uses"),
}
SOFTNET = {
    "processed": ("packets processed by the receive softirq", "Network frames the receive soft interrupt handled"),
    "dropped": ("packets dropped on a full backlog", "Frames dropped because the per-CPU input backlog queue was full"),
    "time_squeeze": ("receive rounds cut short", "Times the receive soft interrupt still had work when its budget or time ran out"),
    "cpu_collision": ("transmit lock collisions", "Times a CPU found the device transmit lock already taken"),
    "received_rps": ("receive packet steering wake-ups", "Times this CPU was woken by another to process packets (receive packet steering)"),
    "flow_limit_count": ("packets dropped by flow limiting", "Frames dropped by the per-flow backlog limit"),
}
TCP_STATES = ["established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2", "time_wait",
              "close", "close_wait", "last_ack", "listen", "closing"]

SNMP_SECTION = {
    "network.ip": "IP", "network.icmp": "ICMP", "network.tcp": "TCP",
    "network.udp": "UDP", "network.udplite": "UDP-Lite", "network.ip6": "IPv6",
    "network.icmp6": "ICMPv6", "network.udp6": "UDP over IPv6",
    "network.udplite6": "UDP-Lite over IPv6", "network.mptcp": "MPTCP",
}


# /proc/zoneinfo keys whose metric names differ, and what some figures mean.
ZONE_KEYS = {
    "free": "pages free",
    "workingset_active_anon": "workingset_activate_anon",
    "workingset_active_file": "workingset_activate_file",
}
ZONE_WHAT = {
    "free": "free memory",
    "min": "min watermark: below it only atomic and emergency allocations succeed",
    "low": "low watermark: below it kswapd starts reclaiming",
    "high": "high watermark: kswapd reclaims until free memory is back above it",
    "scanned": "pages scanned since the last reclaim (older kernels)",
    "spanned": "memory spanned by the zone, holes included",
    "present": "memory physically present in the zone",
    "managed": "memory the page allocator manages in the zone",
    "cma": "memory reserved for the contiguous memory allocator",
}


def zoneinfo_help(field):
    if field == "protection":
        return ("lowmem reserve of each zone",
                "The lowmem protection figures of each zone (the protection list in /proc/zoneinfo): memory an allocation that could have been served from a higher zone must leave free in this zone. Converted from pages to Kbytes; one instance per zone and list position.")
    if field == "nr_free_pages":
        return ("free pages counter (no values)",
                "The zone's nr_free_pages counter of /proc/zoneinfo. It is not reported (there are no values), as in pmdalinux: the same figure is mem.zoneinfo.free.")
    key = ZONE_KEYS.get(field, field)
    what = ZONE_WHAT.get(field, f"the {key} figure")
    return (f"{what} per node or zone, from /proc/zoneinfo",
            f"The {key} line of /proc/zoneinfo, converted from pages to Kbytes. Figures the kernel keeps per NUMA node (the per-node stats section) are reported for the node's instance nodeN; the others per zone, for ZONE::nodeN. No value where the kernel does not print the line.")

SWAPDEV = {
    "free": ("free space per swap area", "Size minus space in use of each swap device or file, in Kbytes, from /proc/swaps."),
    "length": ("size of each swap area", "Size of each swap device or file in Kbytes, from /proc/swaps."),
    "maxswap": ("largest size of each swap area", "The size each swap area may reach, in Kbytes: Linux swap areas do not grow, so this is their size."),
    "vlength": ("virtual swap size (always zero)", "Virtual swap space of each area; Linux has none, so the value is zero."),
    "priority": ("priority of each swap area", "The priority the kernel gives each swap area (higher is used first), from /proc/swaps."),
}
TMPFS = {
    "capacity": ("size of each tmpfs filesystem", "Total size of each mounted tmpfs, in Kbytes (statfs blocks times block size)."),
    "used": ("space used in each tmpfs filesystem", "Space in use in each mounted tmpfs, in Kbytes."),
    "free": ("space free in each tmpfs filesystem", "Free space in each mounted tmpfs, in Kbytes."),
    "maxfiles": ("inodes of each tmpfs filesystem", "Number of inodes (files) each mounted tmpfs can hold."),
    "usedfiles": ("inodes in use in each tmpfs filesystem", "Number of inodes in use in each mounted tmpfs."),
    "freefiles": ("inodes free in each tmpfs filesystem", "Number of inodes still free in each mounted tmpfs."),
    "full": ("percentage of each tmpfs filesystem used", "Space used as a percentage of space used plus space available, for each mounted tmpfs."),
}
KSM = {
    "full_scans": ("full scans of mergeable memory", "Times the kernel's same-page merging daemon (ksmd) has scanned all mergeable areas, from /sys/kernel/mm/ksm/full_scans."),
    "merge_across_nodes": ("merging across NUMA nodes allowed", "1 when pages from different NUMA nodes may be merged, 0 when only within a node, from /sys/kernel/mm/ksm/merge_across_nodes."),
    "pages_shared": ("shared pages in use", "Pages ksmd keeps shared (each standing in for several identical pages), from /sys/kernel/mm/ksm/pages_shared."),
    "pages_sharing": ("page references saved by sharing", "How many more places use the shared pages, roughly the pages saved, from /sys/kernel/mm/ksm/pages_sharing."),
    "pages_to_scan": ("pages scanned per wake-up", "Pages ksmd scans each time before it sleeps, from /sys/kernel/mm/ksm/pages_to_scan."),
    "pages_unshared": ("pages unique but checked repeatedly", "Pages ksmd found unique but keeps checking for merging, from /sys/kernel/mm/ksm/pages_unshared."),
    "pages_volatile": ("pages changing too fast to merge", "Pages whose contents change too quickly to be put in the merge tree, from /sys/kernel/mm/ksm/pages_volatile."),
    "run_state": ("ksmd state", "0 stopped, 1 running, 2 stopped and unmerging all merged pages, from /sys/kernel/mm/ksm/run."),
    "sleep_time": ("ksmd sleep between scans", "Milliseconds ksmd sleeps between batches of scanning, from /sys/kernel/mm/ksm/sleep_millisecs."),
}
NUMA_ALLOC = {
    "hit": "allocations satisfied on the node they were meant for",
    "miss": "allocations meant for another node that were satisfied on this node",
    "foreign": "allocations meant for this node that were satisfied on another node",
    "interleave_hit": "interleave-policy allocations satisfied on the intended node",
    "local_node": "allocations on this node by a process running on it",
    "other_node": "allocations on this node by a process running on another node",
}

IPC = {
    "ipc.sem.max_semmap": ("semaphore map entries", "Entries in the kernel's semaphore map (SEMMAP), a fixed kernel constant."),
    "ipc.sem.max_semid": ("most semaphore arrays", "The most semaphore arrays the system allows (SEMMNI, the fourth field of /proc/sys/kernel/sem)."),
    "ipc.sem.max_sem": ("most semaphores", "The most semaphores the system allows in all arrays together (SEMMNS, the second field of /proc/sys/kernel/sem)."),
    "ipc.sem.num_undo": ("undo structures", "Undo structures the system allows (SEMMNU), a fixed kernel constant."),
    "ipc.sem.max_perid": ("most semaphores per array", "The most semaphores one array may hold (SEMMSL, the first field of /proc/sys/kernel/sem)."),
    "ipc.sem.max_ops": ("most operations per semop call", "The most operations one semop call may carry (SEMOPM, the third field of /proc/sys/kernel/sem)."),
    "ipc.sem.max_undoent": ("undo entries per process", "The most undo entries a process may have (SEMUME), a fixed kernel constant."),
    "ipc.sem.sz_semundo": ("size of an undo structure", "Size of the kernel's semaphore undo structure (SEMUSZ), a fixed kernel constant."),
    "ipc.sem.max_semval": ("largest semaphore value", "The largest value a semaphore may hold (SEMVMX), a fixed kernel constant."),
    "ipc.sem.max_exit": ("largest adjust-on-exit value", "The largest adjustment recorded for undo on process exit (SEMAEM), a fixed kernel constant."),
    "ipc.msg.sz_pool": ("message pool size", "Size of the message pool in Kbytes (MSGPOOL), a fixed kernel constant."),
    "ipc.msg.mapent": ("message map entries", "Entries in the message map (MSGMAP), a fixed kernel constant."),
    "ipc.msg.max_msgsz": ("largest message", "The largest message in bytes a process may send (MSGMAX, /proc/sys/kernel/msgmax)."),
    "ipc.msg.max_defmsgq": ("default largest queue", "The default most bytes a message queue may hold (MSGMNB, /proc/sys/kernel/msgmnb)."),
    "ipc.msg.max_msgqid": ("most message queues", "The most message queues the system allows (MSGMNI, /proc/sys/kernel/msgmni)."),
    "ipc.msg.max_msgseg": ("message segment size", "Size of a message segment (MSGSSZ), a fixed kernel constant."),
    "ipc.msg.num_smsghdr": ("message headers", "Number of system message headers (MSGTQL), a fixed kernel constant."),
    "ipc.msg.max_seg": ("most message segments", "The most message segments (MSGSEG), a fixed kernel constant."),
    "ipc.shm.max_segsz": ("largest shared memory segment", "The largest shared memory segment in bytes (SHMMAX, /proc/sys/kernel/shmmax), reported in 32 bits: larger values keep their low 32 bits, as pmdalinux reports them."),
    "ipc.shm.min_segsz": ("smallest shared memory segment", "The smallest shared memory segment in bytes (SHMMIN), a fixed kernel constant."),
    "ipc.shm.max_seg": ("most shared memory segments", "The most shared memory segments the system allows (SHMMNI, /proc/sys/kernel/shmmni)."),
    "ipc.shm.max_segproc": ("most shared memory segments per process", "The most segments one process may attach; Linux applies the system-wide limit (SHMMNI, /proc/sys/kernel/shmmni)."),
    "ipc.shm.max_shmsys": ("shared memory pages allowed", "The most shared memory pages the system allows (SHMALL, /proc/sys/kernel/shmall), reported in 32 bits as pmdalinux reports it."),
    "ipc.shm.tot": ("shared memory allocated", "Bytes of shared memory allocated to all segments: the pages each segment spans, summed, times the page size."),
    "ipc.shm.rss": ("shared memory resident", "Bytes of shared memory resident in RAM, summed over the segments of /proc/sysvipc/shm."),
    "ipc.shm.swp": ("shared memory swapped out", "Bytes of shared memory swapped out, summed over the segments of /proc/sysvipc/shm."),
    "ipc.shm.used_ids": ("shared memory segments", "Number of shared memory segments that exist, the rows of /proc/sysvipc/shm."),
    "ipc.shm.swap_attempts": ("shared memory swap attempts (always zero)", "Swap attempts of shared memory pages; the kernel no longer counts them, so the value is zero."),
    "ipc.shm.swap_successes": ("shared memory swap successes (always zero)", "Successful swaps of shared memory pages; the kernel no longer counts them, so the value is zero."),
    "ipc.sem.used_sem": ("semaphore arrays", "Number of semaphore arrays that exist, the rows of /proc/sysvipc/sem."),
    "ipc.sem.tot_sem": ("semaphores", "Number of semaphores in all arrays together, summed from /proc/sysvipc/sem."),
    "ipc.msg.used_queues": ("message queues", "Number of message queues that exist, the rows of /proc/sysvipc/msg."),
    "ipc.msg.tot_msg": ("messages queued", "Messages waiting in all queues together, summed from /proc/sysvipc/msg."),
    "ipc.msg.tot_bytes": ("bytes queued", "Bytes of messages waiting in all queues together, summed from /proc/sysvipc/msg."),
}
IPC_OBJ = {
    "key": ("key", "The IPC key the {obj} was created with, as 0x and eight hex digits"),
    "owner": ("owner", "The user owning the {obj}: the user name, or the user id when it has no name"),
    "perms": ("access permissions", "The {obj}'s access bits as their octal digits (0640 shows as 640)"),
    "segsz": ("size in bytes", "The size of the {obj} in bytes"),
    "nattch": ("attaches", "Processes attached to the {obj}"),
    "status": ("status", "\"dest\" when the {obj} is marked for removal, \"locked\" when locked in memory, both, or empty"),
    "creator_pid": ("creator process id", "The process that created the {obj}"),
    "last_access_pid": ("last attaching process id", "The process that last attached or detached the {obj}"),
    "msgsz": ("bytes queued", "Bytes of messages waiting in the {obj}"),
    "messages": ("messages queued", "Messages waiting in the {obj}"),
    "last_send_pid": ("last sender process id", "The process that last sent to the {obj}"),
    "last_recv_pid": ("last receiver process id", "The process that last received from the {obj}"),
    "nsems": ("semaphores", "Semaphores in the {obj}"),
}

ZRAM_STAT = {
    "mm_stat.data_size.original": ("data stored, uncompressed", "Data stored in the device before compression, in Kbytes (orig_data_size of mm_stat)"),
    "mm_stat.data_size.compressed": ("data stored, compressed", "Data stored in the device after compression, in Kbytes (compr_data_size of mm_stat)"),
    "mm_stat.mem.used_total": ("memory used", "Memory the device uses for its data and metadata, in Kbytes (mem_used_total of mm_stat)"),
    "mm_stat.mem.limit": ("memory limit", "The most memory the device may use, in Kbytes, zero for no limit (mem_limit of mm_stat)"),
    "mm_stat.mem.max_used": ("peak memory used", "The most memory the device has used, in Kbytes (mem_used_max of mm_stat)"),
    "mm_stat.pages.same": ("same-filled pages", "Pages filled with one repeated value, stored without memory, in Kbytes of pages (same_pages of mm_stat)"),
    "mm_stat.pages.compacted": ("pages freed by compaction", "Pages freed by compaction, in Kbytes of pages (pages_compacted of mm_stat)"),
    "mm_stat.pages.huge": ("incompressible pages", "Pages stored uncompressed because they do not compress, in Kbytes of pages (huge_pages of mm_stat)"),
    "io_stat.failed.reads": ("failed reads", "Reads that failed (failed_reads of io_stat)"),
    "io_stat.failed.writes": ("failed writes", "Writes that failed (failed_writes of io_stat)"),
    "io_stat.invalid": ("invalid requests", "Requests that were not properly aligned (invalid_io of io_stat)"),
    "io_stat.notify_free": ("freed slots", "Slots freed because the data they held was discarded or freed (notify_free of io_stat)"),
    "bd_stat.count": ("data on the backing device", "Data written back to the backing device and held there, in Kbytes of pages (bd_count of bd_stat)"),
    "bd_stat.reads": ("reads from the backing device", "Data read from the backing device, in Kbytes of pages (bd_reads of bd_stat)"),
    "bd_stat.writes": ("writes to the backing device", "Data written to the backing device, in Kbytes of pages (bd_writes of bd_stat)"),
}
TAPE = {
    "in_flight": ("tape requests in flight", "Requests issued to the tape drive and not yet completed"),
    "io_ns": ("tape I/O time", "Nanoseconds the drive spent on all requests"),
    "other_cnt": ("tape other requests", "Requests that were neither reads nor writes (rewinds, seeks, ...)"),
    "read_byte_cnt": ("tape bytes read", "Bytes read from the drive"),
    "read_cnt": ("tape reads", "Read requests completed"),
    "read_ns": ("tape read time", "Nanoseconds spent on read requests"),
    "resid_cnt": ("tape residual counts", "Reads or writes that transferred less than asked (a residual count)"),
    "write_byte_cnt": ("tape bytes written", "Bytes written to the drive"),
    "write_cnt": ("tape writes", "Write requests completed"),
    "write_ns": ("tape write time", "Nanoseconds spent on write requests"),
}
FCHOST = {
    "lip_count": ("FC loop initializations", "Loop initialization primitive sequences seen on the port"),
    "nos_count": ("FC not-operational sequences", "Not-operational primitive sequences seen on the port"),
    "error_frames": ("FC frames in error", "Frames received with errors"),
    "dumped_frames": ("FC frames dropped", "Frames the port dropped"),
    "in.frames": ("FC frames received", "Frames received by the port"),
    "in.bytes": ("FC frames sent (as pmdalinux reports it)", "Frames transmitted by the port: pmdalinux 6.0.3 answers this metric with the sent frame count (tx_frames), and this agent does the same so values agree"),
    "out.frames": ("FC bytes received (as pmdalinux reports it)", "Bytes received by the port (rx_words, four bytes a word): pmdalinux 6.0.3 answers this metric with the received byte count, and this agent does the same so values agree"),
    "out.bytes": ("FC bytes sent", "Bytes transmitted by the port (the kernel counts four-byte words)"),
}

THERMAL = {
    "core.count": ("core thermal throttling events", "Times the CPU's core was throttled because it ran too hot, from thermal_throttle/core_throttle_count"),
    "core.time": ("core thermal throttling time", "Milliseconds the CPU's core spent throttled because it ran too hot, from thermal_throttle/core_throttle_total_time_ms"),
    "package.count": ("package thermal throttling events", "Times the CPU's package was throttled because it ran too hot, from thermal_throttle/package_throttle_count"),
    "package.time": ("package thermal throttling time", "Time the CPU's package spent throttled because it ran too hot, from thermal_throttle/package_throttle_total_time_ms"),
}


def help_for(name, cluster):
    if name in SIMPLE:
        return SIMPLE[name]
    parts = name.split(".")
    if name.startswith("zram.") and name[5:] in ZRAM_STAT:
        one, long = ZRAM_STAT[name[5:]]
        return (f"zram {one}", long + ", from /sys/block/zramN. One instance per zram device; no value for a device without the file.")
    if name == "disk.wwid.scsi_paths":
        return ("SCSI paths of each WWID", "The disk names (sda, sdb, ...) that lead to the device with each World Wide Identifier, separated by spaces: one for a disk reached one way, several for a multipath device.")
    if name == "disk.wwid.scheduler":
        return ("I/O scheduler of each WWID", "The active I/O scheduler of the last SCSI path (in /proc/diskstats order) of each World Wide Identifier, from /sys/block/DEV/queue/scheduler, as pmdalinux reports it.")
    if name == "disk.wwid.capacity":
        return ("capacity per WWID (no values)", "Capacity of the device behind each World Wide Identifier. pmdalinux 6.0.3 reports no values for it, and neither does this agent; see disk.dev.capacity per path.")
    if name == "disk.wwid.discard_bytes":
        return ("Kbytes discarded, last path of each WWID", "Kbytes covered by completed discard requests on the last SCSI path of each World Wide Identifier (sectors discarded halved), as pmdalinux reports it rather than a sum over the paths.")
    if name == "disk.md.status":
        return ("md device health per mdadm", "The wait status of mdadm --detail --test for each md device, as pmdalinux reports it: the exit code times 256, so 0 healthy, 256 degraded, 512 unusable, 1024 error. No values without mdadm.")
    if name == "hinv.map.scsi":
        return ("block device of each SCSI device", "The kernel name of the block device (sda, st0, ...) of each SCSI device of /proc/scsi/scsi, found under /sys/class/scsi_device.")
    if name == "hinv.ntape":
        return ("number of tape drives", "Number of SCSI tape drives with statistics under /sys/class/scsi_tape.")
    if name == "hinv.nfchost":
        return ("number of Fibre Channel hosts", "Number of Fibre Channel hosts with statistics under /sys/class/fc_host.")
    if name.startswith("tape.dev."):
        one, long = TAPE[name[len("tape.dev."):]]
        return (one, long + ", from /sys/class/scsi_tape/stN/stats. One instance per tape drive; a figure the drive does not report reads zero.")
    if name.startswith("fchost."):
        one, long = FCHOST[name[len("fchost."):]]
        return (one, long + ", from /sys/class/fc_host/hostN/statistics. One instance per FC host; a figure the host does not report reads zero.")
    if name.startswith("hinv.cpu.frequency_scaling."):
        return {
            "count": ("CPU frequency times time", "With the kernel's cpufreq statistics, each frequency of /sys/devices/system/cpu/cpuN/cpufreq/stats/time_in_state in MHz times the time spent at it, summed; its rate divided by the rate of hinv.cpu.frequency_scaling.time is the average frequency. Without them, the current frequency (scaling_cur_freq) in MHz. Sampled once after each refresh of the hinv.cpu figures, as pmdalinux does."),
            "time": ("time counted by the cpufreq statistics", "The time of all lines of /sys/devices/system/cpu/cpuN/cpufreq/stats/time_in_state summed, in the kernel's units; no value without the statistics. Sampled as hinv.cpu.frequency_scaling.count."),
            "max": ("highest CPU frequency", "The highest frequency in MHz: the highest listed in the cpufreq statistics, else cpuinfo_max_freq. Sampled as hinv.cpu.frequency_scaling.count."),
            "min": ("lowest CPU frequency", "The lowest frequency in MHz: the lowest listed in the cpufreq statistics, else cpuinfo_min_freq. Sampled as hinv.cpu.frequency_scaling.count."),
        }[parts[3]]
    if name.startswith("hinv.cpu.thermal_throttle."):
        one, long = THERMAL[name[len("hinv.cpu.thermal_throttle."):]]
        return (one, long + " under /sys/devices/system/cpu/cpuN; zero when the CPU does not report it.")
    if name in IPC:
        return IPC[name]
    if cluster in (64, 65, 66):
        obj, src = {64: ("shared memory segment", "shm"), 65: ("message queue", "msg"), 66: ("semaphore array", "sem")}[cluster]
        one, long = IPC_OBJ[parts[2]]
        return (f"{obj} {one}", long.format(obj=obj) + f", from /proc/sysvipc/{src}. One instance per {obj}, named by its id.")
    if name.startswith("swapdev."):
        return SWAPDEV[parts[1]]
    if name.startswith("tmpfs."):
        return TMPFS[parts[1]]
    if name.startswith("mem.ksm."):
        return KSM[parts[2]]
    if name.startswith("mem.numa.alloc."):
        what = NUMA_ALLOC[parts[3]]
        return (f"{parts[3]} page allocations per node", f"Page {what}, from /sys/devices/system/node/nodeN/numastat. One instance per NUMA node.")
    if name.startswith("mem.numa.util."):
        f = parts[3]
        if f.endswith("Bytes"):
            return (f"{f[:-5]} per node in bytes", f"The node's {f[:-5]} huge page count times the huge page size (Hugepagesize of /proc/meminfo). One instance per NUMA node.")
        unit = "pages" if f.startswith("hugepages") else "Kbytes"
        return (f"{f} per NUMA node", f"The node's {f} memory figure from /sys/devices/system/node/nodeN/meminfo, in {unit}. Keys are found the way pmdalinux finds them, anywhere in a line, so a key that is also the tail of a later key (Mapped, PageTables) takes that later line's figure. One instance per NUMA node.")
    if name.startswith("mem.zoneinfo."):
        return zoneinfo_help(name[len("mem.zoneinfo."):])
    if name in MEMINFO:
        return MEMINFO[name]
    parts = name.split(".")
    for prefix in ("kernel.all.cpu.", "kernel.percpu.cpu.", "kernel.pernode.cpu."):
        if name.startswith(prefix):
            state = name[len(prefix):]
            one, long = CPU_STATES[state]
            scope = {"kernel.all.cpu.": "summed over all CPUs",
                     "kernel.percpu.cpu.": "per CPU",
                     "kernel.pernode.cpu.": "per NUMA node"}[prefix]
            return (f"{one}, {scope}", f"{long} Reported {scope}.")
    if name.startswith("mem.util."):
        field = MEMINFO_FIELD.get(parts[2], parts[2])
        unit = "pages" if field.startswith("HugePages") else "Kbytes"
        return (f"{field} from /proc/meminfo",
                f"The {field} line of /proc/meminfo, in {unit}; no value when this kernel does not report it.")
    if name.startswith("mem.vmstat."):
        f = parts[2]
        return (f"{f} from /proc/vmstat",
                f"The kernel's {f} virtual memory statistic, read from /proc/vmstat; no value when this kernel does not report it.")
    for d, scope in DISK_SCOPE.items():
        if name.startswith(d + "."):
            one, long = DISK_FIELDS[name[len(d) + 1:]]
            return (f"{one}, {scope}", f"{long} Reported {scope}.")
    if name.startswith("network.interface."):
        return NETIF[name[len("network.interface."):]]
    if name.startswith("network.all."):
        key = name[len("network.all."):]
        one, long = NETIF[key]
        return (f"{one}, all physical interfaces",
                f"{long} Summed over all interfaces that are not virtual (loopback and other software devices are left out).")
    if name.startswith("network.sockstat."):
        proto = parts[2].upper().replace("6", "v6")
        what = {"inuse": "sockets in use", "orphan": "orphaned sockets", "tw": "sockets in TIME_WAIT",
                "alloc": "sockets allocated", "mem": "pages of socket buffer memory",
                "memory": "bytes of reassembly memory"}.get(parts[-1], parts[-1])
        if name == "network.sockstat.total":
            return ("sockets in use, all protocols", "Sockets in use across all protocols, from /proc/net/sockstat.")
        src = "/proc/net/sockstat6" if cluster == 73 else "/proc/net/sockstat"
        return (f"{proto} {what}", f"{proto} {what}, from {src}.")
    if name.startswith("kernel.all.pressure."):
        res, kind, stat = parts[3], parts[4], parts[5]
        who = "some tasks" if kind == "some" else "all non-idle tasks"
        if stat == "avg":
            return (f"{res} pressure averages ({kind})",
                    f"Percentage of time {who} were stalled waiting for {res}, averaged over 10 seconds, 1 and 5 minutes, from /proc/pressure/{res}.")
        return (f"{res} stall time ({kind})",
                f"Total microseconds {who} were stalled waiting for {res}, from /proc/pressure/{res}.")
    if name.startswith("network.softnet."):
        one, long = SOFTNET[parts[-1]]
        if parts[2] == "percpu":
            return (f"{one}, per CPU", f"{long}, from /proc/net/softnet_stat. Reported per CPU.")
        return (one, f"{long}, from /proc/net/softnet_stat, summed over all CPUs.")
    if name.startswith("vfs.locks."):
        cls, mode = parts[2], parts[3]
        what = {"read": "read (shared) locks", "write": "write (exclusive) locks", "count": "locks"}[mode]
        return (f"{cls} {what} held", f"Number of {cls.upper()} {what} currently held, from /proc/locks.")
    if parts[1] in ("tcpconn", "tcpconn6", "udpconn", "udpconn6"):
        proto = {"tcpconn": "TCP", "tcpconn6": "TCP over IPv6", "udpconn": "UDP", "udpconn6": "UDP over IPv6"}[parts[1]]
        table = "/proc/net/" + parts[1].replace("conn", "")
        state = parts[2].upper()
        if parts[1].startswith("udp") and parts[2] == "listen":
            return (f"{proto} sockets not connected", f"{proto} sockets bound but not connected (state CLOSE in {table}).")
        return (f"{proto} sockets in state {state}", f"Number of {proto} sockets in state {state}, counted from {table}.")
    if name.startswith("rpc.client."):
        one, long = RPC_CLIENT[parts[2]]
        return (f"client {one}", f"{long}, from /proc/net/rpc/nfs. No values without NFS client support.")
    if name.startswith("rpc.server."):
        one, long = RPC_SERVER[parts[2]]
        return (f"server {one}", f"{long}, from /proc/net/rpc/nfsd. No values without a kernel NFS server.")
    if name.startswith("nfs.server.threads."):
        one, long = NFS_THREADS[parts[3]]
        return (one, f"{long}. No values without a kernel NFS server.")
    if parts[0] in ("nfs", "nfs3", "nfs4") and parts[2] in ("calls", "reqs"):
        ver = {"nfs": "NFSv2", "nfs3": "NFSv3", "nfs4": "NFSv4"}[parts[0]]
        side = parts[1]
        src = "/proc/net/rpc/nfs" if side == "client" else "/proc/net/rpc/nfsd"
        line = {"nfs": "proc2", "nfs3": "proc3", "nfs4": "proc4" if side == "client" else "proc4ops"}[parts[0]]
        what = "operations" if (parts[0] == "nfs4" and side == "server") else "requests"
        if parts[2] == "calls":
            return (f"{ver} {side} {what}, all types",
                    f"Sum of the {ver} {side} {what} of every type (the {line} line of {src}). No values without NFS {side} support.")
        return (f"{ver} {side} {what} by type",
                f"{ver} {side} {what} of each type, one instance per type, from the {line} line of {src}. No values without NFS {side} support.")
    if name.startswith("tty.serial."):
        one, long = TTY[parts[2]]
        return (one, f"{long}, from /proc/tty/driver/serial (readable by root only). One instance per port with a known UART, named by its line number.")
    sec = ".".join(parts[:2])
    if sec in SNMP_SECTION:
        src = {14: "/proc/net/snmp", 53: "/proc/net/netstat", 58: "/proc/net/snmp6"}[cluster]
        return (f"{SNMP_SECTION[sec]} {parts[2]} counter",
                f"The {SNMP_SECTION[sec]} protocol statistic {parts[2]} from {src}, matched by name without regard to case.")
    raise SystemExit(f"no help for {name}")


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main():
    rows = []
    with open(sys.argv[1] if len(sys.argv) > 1 else "tools/pmdalinux-descs.tsv") as f:
        for line in f:
            name, pmid, ty, indom, sem, units = line.rstrip("\n").split("\t")
            _, cluster, item = (int(x) for x in pmid.split("."))
            if cluster not in CLUSTERS or name in SKIP:
                continue
            serial = "None" if indom == "PM_INDOM_NULL" else f"Some({int(indom.split('.')[1])})"
            one, long = help_for(name, cluster)
            rows.append((cluster, item, name, TYPES[ty], serial, SEMS[sem], UNITS[units], one, long))
    out = sys.stdout
    out.write("// @generated by tools/gen_metrics.py from tools/pmdalinux-descs.tsv; do not edit.\n")
    out.write("//! The metric table: one row per metric, with pmdalinux's names, PMIDs,\n")
    out.write("//! types, instance domains, semantics and units, and our own help text.\n\n")
    out.write("use pcp_core::desc::{space, time};\n")
    out.write("use pcp_core::{MetricRow, Semantics, Type, Units};\n\n")
    out.write("/// Every metric the agent serves, in pmdalinux's namespace order.\n")
    out.write("#[rustfmt::skip]\n")
    out.write("pub const METRICS: &[MetricRow] = &[\n")
    for (c, i, name, ty, serial, sem, units, one, long) in rows:
        out.write(f"    MetricRow {{ name: {rust_str(name)}, cluster: {c}, item: {i}, ty: Type::{ty}, "
                  f"indom: {serial}, sem: Semantics::{sem}, units: {units}, oneline: {rust_str(one)}, "
                  f"help: {rust_str(long)} }},\n")
    out.write("];\n")


main()
