#!/usr/bin/env python3
"""Generates pmda-proc/src/descs.rs from pmdaproc-descs.tsv.

The TSV holds the descriptors of PCP 6.0.3's pmdaproc as `pminfo -dm`
prints them on a live host (name, PMID, type, indom, semantics, units),
in pminfo's traversal order (see capture_descs.sh): identifiers and
descriptors only. Rows keep that order, so the agent's namespace lists
children as pmdaproc's does. The help text is written here, in our own
words: one line per metric (families share a template), and the hotproc
tree reuses the proc tree's text for the hot processes.

Run from the crate directory:  python3 tools/gen_descs.py > src/descs.rs
"""
import sys

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
    "millisec": "Units::MILLISEC",
    "microsec": "Units::MICROSEC",
    "nanosec": "Units::NANOSEC",
    "sec": "Units::SEC",
    "count / sec": "Units::COUNT.per_time(time::SEC)",
    "Kbyte / sec": "Units::KBYTES.per_time(time::SEC)",
}

# Instance domains: serial -> (const name, one-line help).
INDOMS = {
    9: ("PROC", "Processes: one instance per process, named by pid and command"),
    16: ("CGROUP2", "Control groups of the unified (v2) hierarchy"),
    17: ("CGROUP2_PERDEV", "Control group (v2) and block device pairs"),
    20: ("CGROUP_CPUSET", "Control groups of the cpuset controller"),
    21: ("CGROUP_CPUACCT", "Control groups of the cpuacct controller"),
    22: ("CGROUP_PERCPUACCT", "Control group (cpuacct) and CPU pairs"),
    23: ("CGROUP_CPUSCHED", "Control groups of the cpu (scheduler) controller"),
    24: ("CGROUP_MEMORY", "Control groups of the memory controller"),
    25: ("CGROUP_NETCLS", "Control groups of the net_cls controller"),
    26: ("CGROUP_BLKIO", "Control groups of the blkio controller"),
    27: ("CGROUP_PERDEVBLKIO", "Control group (blkio) and block device pairs"),
    37: ("CGROUP_SUBSYS", "Control group subsystems the kernel knows"),
    38: ("CGROUP_MOUNTS", "Mounted control group hierarchies"),
    39: ("HOTPROC", "Hot processes: those the hotproc predicate selects"),
    40: ("ACCT", "Processes that exited, from the process accounting file"),
}

PSINFO = {
    "pid": "process identifier",
    "cmd": "command name (the kernel's comm, at most 15 characters)",
    "sname": "process state as one letter (R running, S sleeping, D disk wait, Z zombie, T stopped, ...)",
    "ppid": "parent process identifier",
    "pgrp": "process group identifier",
    "session": "session identifier",
    "tty": "controlling terminal device number (0 for none)",
    "tty_pgrp": "process group of the controlling terminal's foreground job",
    "flags": "kernel flags of the process (PF_* bits)",
    "minflt": "minor page faults (no disk read needed)",
    "cmin_flt": "minor page faults of waited-for children",
    "maj_flt": "major page faults (a page read from disk)",
    "cmaj_flt": "major page faults of waited-for children",
    "utime": "time spent in user mode",
    "stime": "time spent in kernel mode",
    "cutime": "user time of waited-for children",
    "cstime": "kernel time of waited-for children",
    "priority": "kernel scheduling priority",
    "nice": "nice value (19 lowest priority .. -20 highest)",
    "it_real_value": "obsolete interval-timer field, always 0 on current kernels",
    "start_time": "when the process started, in milliseconds after boot",
    "vsize": "virtual memory size",
    "rss": "resident set size (from /proc/PID/stat)",
    "rss_rlim": "limit on the resident set size",
    "start_code": "address above which program text can run",
    "end_code": "address below which program text can run",
    "start_stack": "address of the start (bottom) of the stack",
    "esp": "stack pointer (0 unless the process is being traced)",
    "eip": "instruction pointer (0 unless the process is being traced)",
    "signal": "bitmap of pending signals (obsolete form; see signal_s)",
    "blocked": "bitmap of blocked signals (obsolete form; see blocked_s)",
    "sigignore": "bitmap of ignored signals (obsolete form; see sigignore_s)",
    "sigcatch": "bitmap of caught signals (obsolete form; see sigcatch_s)",
    "wchan": "kernel address where the process waits (0 on current kernels)",
    "nswap": "pages swapped (not maintained by the kernel)",
    "cnswap": "pages swapped by children (not maintained by the kernel)",
    "exit_signal": "signal sent to the parent when the process dies",
    "processor": "CPU the process last ran on",
    "ttyname": "name of the controlling terminal, or ? for none",
    "wchan_s": "kernel function where the process waits",
    "psargs": "full command line, arguments separated by spaces",
    "rt_priority": "real-time scheduling priority",
    "policy": "scheduling policy number (0 normal, 1 FIFO, 2 RR, 3 batch, 5 idle, 6 deadline)",
    "delayacct_blkio_time": "time spent waiting for block I/O",
    "guest_time": "time spent running a virtual CPU of a guest",
    "cguest_time": "guest time of waited-for children",
    "environ": "environment of the process, variables separated by spaces",
    "policy_s": "scheduling policy name (NORMAL, FIFO, RR, BATCH, IDLE, DEADLINE)",
    "signal_s": "pending signals, as a hexadecimal mask",
    "blocked_s": "blocked signals, as a hexadecimal mask",
    "sigignore_s": "ignored signals, as a hexadecimal mask",
    "sigcatch_s": "caught signals, as a hexadecimal mask",
    "threads": "number of threads",
    "cgroups": "control groups of the process, as hierarchy:controllers:path entries",
    "labels": "security label (SELinux or AppArmor context) of the process",
    "vctxsw": "voluntary context switches (the process gave up the CPU)",
    "nvctxsw": "involuntary context switches (the process was preempted)",
    "cpusallowed": "CPUs the process may run on, as a list",
    "ngid": "NUMA group identifier (0 when NUMA balancing is off)",
    "tgid": "thread group identifier (the process id of its main thread)",
    "oom_score": "current out-of-memory killer score",
    "exe": "path of the executable",
    "cwd": "current working directory",
}
MEMORY = {
    "size": "total program size (from statm)",
    "rss": "resident set size (from statm)",
    "share": "resident shared pages, file-backed and shared memory (from statm)",
    "textrss": "resident program text (from statm)",
    "librss": "resident library pages (always 0 on kernels since 2.6)",
    "datrss": "data and stack size (from statm)",
    "dirty": "dirty pages (always 0 on kernels since 2.6)",
    "maps": "memory mappings, as /proc/PID/maps lists them",
    "vmsize": "virtual memory size (VmSize)",
    "vmlock": "locked memory (VmLck)",
    "vmrss": "resident set size (VmRSS)",
    "vmdata": "data segment size (VmData)",
    "vmstack": "stack size (VmStk)",
    "vmexe": "text segment size (VmExe)",
    "vmlib": "shared library code size (VmLib)",
    "vmswap": "swapped-out anonymous memory (VmSwap)",
    "vmpeak": "peak virtual memory size (VmPeak)",
    "vmpin": "pinned memory (VmPin)",
    "vmhwm": "peak resident set size, the high water mark (VmHWM)",
    "vmpte": "page table size (VmPTE)",
    "vmreal": "real memory in use: resident plus swapped (VmRSS + VmSwap)",
    "vmnonlib": "real memory in use, less shared library code (VmRSS + VmSwap - VmLib)",
}
IDS = {"uid": "real user", "euid": "effective user", "suid": "saved user",
       "fsuid": "filesystem user", "gid": "real group", "egid": "effective group",
       "sgid": "saved group", "fsgid": "filesystem group"}
IO = {
    "rchar": "bytes read through read-like system calls (cache hits included)",
    "wchar": "bytes written through write-like system calls",
    "syscr": "read-like system calls",
    "syscw": "write-like system calls",
    "read_bytes": "bytes the process caused to be read from storage",
    "write_bytes": "bytes the process caused to be sent to storage",
    "cancelled_write_bytes": "bytes of writes cancelled by truncation before reaching storage",
}
SCHEDSTAT = {
    "cpu_time": "time spent running on a CPU",
    "run_delay": "time spent runnable, waiting for a CPU",
    "pcount": "times the process was scheduled onto a CPU",
}
NAMESPACES = {
    "envid": "OpenVZ container identifier (only on OpenVZ kernels)",
    "tgid": "thread group identifier in each nested pid namespace, outermost first",
    "pid": "process identifier in each nested pid namespace, outermost first",
    "pgid": "process group identifier in each nested pid namespace",
    "sid": "session identifier in each nested pid namespace",
}
SMAPS = {
    "rss": "resident set size", "pss": "proportional set size (shared pages divided among their sharers)",
    "pss_anon": "proportional size of anonymous pages", "pss_file": "proportional size of file pages",
    "pss_shmem": "proportional size of shared memory pages", "shared_clean": "clean pages shared with other processes",
    "shared_dirty": "dirty pages shared with other processes", "private_clean": "clean pages used by this process only",
    "private_dirty": "dirty pages used by this process only", "referenced": "pages marked referenced or accessed",
    "anonymous": "anonymous pages", "lazyfree": "pages marked free with MADV_FREE, not yet reclaimed",
    "anonhugepages": "anonymous transparent huge pages", "shmempmdmapped": "shared memory mapped by huge page (PMD) entries",
    "filepmdmapped": "file pages mapped by huge page (PMD) entries", "shared_hugetlb": "shared hugetlbfs pages",
    "private_hugetlb": "private hugetlbfs pages", "swap": "swapped-out anonymous pages",
    "swappss": "proportional size of swapped-out pages", "locked": "pages locked in memory",
}
OTHER = {
    "proc.nprocs": "number of processes",
    "proc.fd.count": "open file descriptors of each process",
    "proc.id.container": "container the process runs in (from its control group path), if any",
    "proc.autogroup.enabled": "whether the kernel groups tasks by session for scheduling (sched_autogroup_enabled)",
    "proc.autogroup.id": "scheduling autogroup of the process",
    "proc.autogroup.nice": "nice value of the process's scheduling autogroup",
    "proc.runq.runnable": "processes running or ready to run (state R)",
    "proc.runq.blocked": "processes waiting uninterruptibly, usually for I/O (state D)",
    "proc.runq.sleeping": "processes sleeping (state S or I)",
    "proc.runq.stopped": "processes stopped or traced (state T or t)",
    "proc.runq.swapped": "processes with no resident memory (user processes swapped out)",
    "proc.runq.defunct": "zombie processes (state Z)",
    "proc.runq.unknown": "processes in any other state",
    "proc.runq.kernel": "kernel threads",
    "proc.control.all.threads": "whether the process instance domain includes threads, for every client (1 yes, 0 no)",
    "proc.control.perclient.threads": "whether this client's process instances include threads (storable, per client)",
    "proc.control.perclient.cgroups": "control group path this client's process instances are limited to (storable, per client)",
    "hotproc.control.refresh": "seconds between evaluations of the hot-process predicate (storable)",
    "hotproc.control.config": "the hot-process predicate (storable: a new predicate replaces it)",
    "hotproc.control.config_gen": "times the hot-process predicate has been set",
    "hotproc.control.reload_config": "store any value to re-read the hotproc configuration file",
    "hotproc.total.cpuidle": "fraction of CPU time idle in the last hotproc interval",
    "hotproc.total.cpuburn": "fraction of CPU time used by hot processes in the last interval",
    "hotproc.total.cpuother.transient": "fraction of CPU time used by processes that did not live through the interval",
    "hotproc.total.cpuother.not_cpuburn": "fraction of CPU time used by processes that are not hot",
    "hotproc.total.cpuother.total": "fraction of CPU time used by processes that are not hot, transient ones included",
    "hotproc.total.cpuother.percent": "percentage of non-idle CPU time used by processes that are not hot",
    "hotproc.predicate.ctxswitch": "context switches per second in the last interval",
    "hotproc.predicate.virtualsize": "virtual size at the last evaluation",
    "hotproc.predicate.residentsize": "resident size at the last evaluation",
    "hotproc.predicate.iodemand": "Kbytes read and written per second in the last interval",
    "hotproc.predicate.iowait": "fraction of the interval spent waiting for block I/O",
    "hotproc.predicate.schedwait": "fraction of the interval spent waiting for a CPU",
    "hotproc.predicate.cpuburn": "fraction of a CPU used in the last interval",
    "hotproc.nprocs": "number of hot processes",
    "acct.psinfo.tty": "controlling terminal of the exited process",
    "acct.psinfo.exitcode": "exit code of the exited process",
    "acct.psinfo.pid": "process identifier of the exited process",
    "acct.psinfo.ppid": "parent process identifier of the exited process",
    "acct.psinfo.btime": "when the exited process began, in seconds since the epoch",
    "acct.psinfo.etime": "elapsed time of the exited process",
    "acct.psinfo.utime": "user time of the exited process",
    "acct.psinfo.stime": "system time of the exited process",
    "acct.psinfo.mem": "average memory use of the exited process",
    "acct.psinfo.io": "characters transferred by the exited process",
    "acct.psinfo.rw": "blocks read or written by the exited process",
    "acct.psinfo.minflt": "minor page faults of the exited process",
    "acct.psinfo.majflt": "major page faults of the exited process",
    "acct.psinfo.swaps": "swaps of the exited process",
    "acct.psinfo.ttyname": "terminal name of the exited process",
    "acct.id.uid": "user id of the exited process",
    "acct.id.gid": "group id of the exited process",
    "acct.id.uid_nm": "user name of the exited process",
    "acct.id.gid_nm": "group name of the exited process",
    "acct.flag.fork": "the exited process forked but did not exec (1 yes)",
    "acct.flag.su": "the exited process used superuser privileges (1 yes)",
    "acct.flag.core": "the exited process dumped core (1 yes)",
    "acct.flag.xsig": "the exited process was killed by a signal (1 yes)",
    "acct.control.open_retry_interval": "seconds between attempts to open the accounting file",
    "acct.control.check_acct_interval": "seconds between checks that accounting is still on",
    "acct.control.file_size_threshold": "size of the accounting file at which it is restarted",
    "acct.control.lifetime": "seconds an exited process stays in the instance domain",
    "acct.control.refresh": "seconds between reads of the accounting file",
    "acct.control.enable_acct": "whether the agent turns process accounting on (1 yes)",
    "cgroup.subsys.hierarchy": "hierarchy id of the control group subsystem",
    "cgroup.subsys.count": "number of control group subsystems",
    "cgroup.subsys.num_cgroups": "number of control groups using the subsystem",
    "cgroup.subsys.enabled": "whether the subsystem is enabled (1 yes)",
    "cgroup.mounts.subsys": "subsystems of the mounted control group hierarchy",
    "cgroup.mounts.count": "number of mounted control group hierarchies",
    "cgroup.cpu.stat.user": "user CPU time of the group's tasks",
    "cgroup.cpu.stat.system": "system CPU time of the group's tasks",
    "cgroup.cpu.stat.usage": "total CPU time of the group's tasks",
    "cgroup.cpuset.cpus": "CPUs the group's tasks may use",
    "cgroup.cpuset.mems": "memory nodes the group's tasks may use",
    "cgroup.cpuacct.usage": "CPU time of the group's tasks",
    "cgroup.cpuacct.usage_percpu": "CPU time of the group's tasks on each CPU",
    "cgroup.cpuacct.stat.user": "user CPU time of the group's tasks",
    "cgroup.cpuacct.stat.system": "system CPU time of the group's tasks",
    "cgroup.cpusched.shares": "relative CPU share of the group",
    "cgroup.cpusched.periods": "enforcement periods elapsed for the group's CPU quota",
    "cgroup.cpusched.throttled": "periods in which the group was throttled",
    "cgroup.cpusched.throttled_time": "total time the group was throttled",
    "cgroup.cpusched.cfs_period": "length of the group's CPU quota period",
    "cgroup.cpusched.cfs_quota": "CPU time the group may use per period (-1 for no limit)",
    "cgroup.memory.usage": "memory in use by the group (v1 usage_in_bytes)",
    "cgroup.memory.limit": "memory limit of the group",
    "cgroup.memory.failcnt": "times the group hit its memory limit",
    "cgroup.memory.current": "memory in use by the group (v2 memory.current)",
    "cgroup.netclass.classid": "network class id tagged on the group's packets",
    "cgroup.io.stat.rbytes": "bytes read by the group, per device",
    "cgroup.io.stat.wbytes": "bytes written by the group, per device",
    "cgroup.io.stat.rios": "read operations of the group, per device",
    "cgroup.io.stat.wios": "write operations of the group, per device",
    "cgroup.io.stat.dbytes": "bytes discarded by the group, per device",
    "cgroup.io.stat.dios": "discard operations of the group, per device",
}
BLKIO = {
    "io_merged": "I/O requests merged", "io_queued": "I/O requests queued",
    "io_service_bytes": "bytes transferred", "io_service_time": "time between dispatch and completion of I/O",
    "io_serviced": "I/O operations issued", "io_wait_time": "time I/O spent waiting in the scheduler queues",
    "throttle.io_service_bytes": "bytes transferred (throttling layer)",
    "throttle.io_serviced": "I/O operations issued (throttling layer)",
}
PRESSURE = {"avg10sec": "averaged over 10 seconds", "avg1min": "averaged over 1 minute",
            "avg5min": "averaged over 5 minutes", "total": "total time"}


# Metrics clients may store into (pmdaproc's store callback accepts them).
STORABLE = {
    "proc.control.all.threads", "proc.control.perclient.threads", "proc.control.perclient.cgroups",
    "hotproc.control.refresh", "hotproc.control.config", "hotproc.control.reload_config",
    "acct.control.open_retry_interval", "acct.control.check_acct_interval",
    "acct.control.file_size_threshold", "acct.control.lifetime", "acct.control.refresh",
    "acct.control.enable_acct",
}


def help_for(name):
    """Our one-line help for a metric name."""
    if name in OTHER:
        return OTHER[name]
    parts = name.split(".")
    if parts[0] == "hotproc" and len(parts) > 2 and parts[1] not in ("control", "total", "predicate"):
        return help_for("proc." + ".".join(parts[1:])) + " (hot processes)"
    if parts[0] == "hotproc" and name == "hotproc.nprocs":
        return OTHER[name]
    group, leaf = parts[1] if len(parts) > 1 else "", parts[-1]
    if name.startswith("proc.psinfo."):
        return PSINFO[leaf]
    if name.startswith("proc.memory."):
        return MEMORY[leaf]
    if name.startswith("proc.id."):
        base = leaf[:-3] if leaf.endswith("_nm") else leaf
        what = IDS[base]
        return f"{what} {'name' if leaf.endswith('_nm') else 'id'} of the process"
    if name.startswith("proc.io."):
        return IO[leaf]
    if name.startswith("proc.schedstat."):
        return SCHEDSTAT[leaf]
    if name.startswith("proc.namespaces."):
        return NAMESPACES[leaf]
    if name.startswith("proc.smaps."):
        return SMAPS[leaf] + " (from smaps_rollup)"
    if name.endswith(".id.container"):
        return "container the control group belongs to, if any"
    if name.startswith("cgroup.memory.stat."):
        rest = ".".join(parts[3:])
        if rest.startswith("total."):
            return f"{rest[6:]} figure of memory.stat, this group and its descendants (v1 total_ field)"
        return f"{rest.replace('.', '_')} figure of the group's memory.stat"
    if name.startswith("cgroup.blkio."):
        scope = "per device" if parts[2] == "dev" else "all devices"
        rest = ".".join(parts[3:])
        if rest in ("sectors", "time"):
            what = "sectors transferred" if rest == "sectors" else "time with I/O access to the devices"
            return f"{what} by the group, {scope}"
        op = parts[-1]
        base = ".".join(parts[3:-1])
        return f"{BLKIO[base]} by the group, {op} operations, {scope}"
    if name.startswith("cgroup.pressure."):
        res, kind, stat = parts[2], parts[3], parts[4]
        who = "some task" if kind == "some" else "all tasks"
        return f"{PRESSURE[stat]} {who} of the group stalled on {res}" if stat == "total" else \
            f"share of time {who} of the group stalled on {res}, {PRESSURE[stat]}"
    raise SystemExit(f"no help for {name}")


def main():
    rows = [l.rstrip("\n").split("\t") for l in open("tools/pmdaproc-descs.tsv")]
    out = sys.stdout
    out.write("//! pmdaproc 6.0.3's metrics: names, PMIDs, types, instance domains,\n")
    out.write("//! semantics and units as `pminfo -dm` prints them on a live host, with\n")
    out.write("//! one-line help in our own words.\n//!\n")
    out.write("//! Generated by `tools/gen_descs.py` from `tools/pmdaproc-descs.tsv`; do not edit.\n\n")
    out.write("use pcp_core::agent::{IndomDef, MetricDef};\n")
    out.write("#[allow(unused_imports)]\nuse pcp_core::desc::time;\nuse pcp_core::{Semantics, Type, Units};\n\n")
    for serial, (const, text) in sorted(INDOMS.items()):
        out.write(f"/// {text}.\npub const {const}: IndomDef = IndomDef::new({serial}, \"{text}\");\n")
    out.write("\n/// Every metric, in pmdaproc's namespace order.\npub const METRICS: &[MetricDef] = &[\n")
    for name, pmid, ty, indom, sem, units in rows:
        _, cluster, item = pmid.split(".")
        text = help_for(name).replace('"', '\\"')
        text = text[0].upper() + text[1:]
        d = f"MetricDef::new(\"{name}\", {cluster}, {item}, Type::{TYPES[ty]})"
        d += f".semantics(Semantics::{SEMS[sem]})"
        if units != "none":
            d += f".units({UNITS[units]})"
        if indom != "PM_INDOM_NULL":
            d += f".indom(&{INDOMS[int(indom.split('.')[1])][0]})"
        d += f".oneline(\"{text}\")"
        if name in STORABLE:
            d += ".storable()"
        out.write(f"    {d},\n")
    out.write("];\n")


main()
