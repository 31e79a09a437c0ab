#!/usr/bin/env python3
"""Builds seed corpora for the fuzz targets.

Usage: make-seeds.py CAPTURE_DIR OUT_DIR

From the golden PDU captures in CAPTURE_DIR: OUT_DIR/pdu_decode/ (one file
per captured PDU, both directions) and OUT_DIR/daemon_session/ (every
pmcd->PMDA PDU alone, plus each capture's whole pmcd->PMDA stream in order).

From the captures of PCP clients talking to pmcd (tests/fixtures/pmcd-clients/
beside this directory): OUT_DIR/pmcd_session/ (each connection's client->pmcd
stream) and OUT_DIR/client_pdu_decode/ (each PDU as its type selector byte and
body), and those PDUs in OUT_DIR/pdu_decode/ too.

From this machine: OUT_DIR/linux_procfs/ (real /proc and /sys files, each
prefixed with its parser's selector byte), OUT_DIR/prometheus_ingest/ (the
node_exporter and Prometheus expositions when they answer on 9100/9090, plus
small hand-written documents) and OUT_DIR/bpftrace_events/ (bpftrace -f json
lines as bpftrace prints them).

OUT_DIR must be outside git (or git-ignored): corpora are generated data and
never committed.
"""
import glob
import hashlib
import os
import subprocess
import sys
import urllib.request

# Selector byte -> files, in step with fuzz_targets/linux_procfs.rs.
LINUX = {
    0: ["/proc/meminfo"],
    1: ["/proc/vmstat", "/proc/net/snmp6"],
    2: ["/proc/net/snmp", "/proc/net/netstat"],
    3: ["/proc/net/sockstat", "/proc/net/sockstat6"],
    4: ["/proc/stat"],
    5: ["/proc/diskstats"],
    6: ["/proc/partitions"],
    7: ["/proc/zoneinfo"],
    8: ["/proc/slabinfo"],
    9: ["/proc/net/dev"],
    10: ["/proc/cpuinfo"],
    11: ["/proc/interrupts", "/proc/softirqs"],
    12: ["/proc/mounts"],
    13: ["/proc/net/softnet_stat"],
    14: ["/proc/locks"],
    15: ["/proc/net/tcp", "/proc/net/tcp6"],
    16: ["/proc/buddyinfo"],
    17: ["/var/run/utmp"],
    18: ["/proc/net/snmp"],
    19: ["/proc/net/rpc/nfs", "/proc/net/rpc/nfsd"],
    20: ["/proc/fs/nfsd/pool_threads", "/proc/fs/nfsd/pool_stats"],
    21: ["/proc/tty/driver/serial"],
    22: ["/proc/net/if_inet6"],
    23: ["/sys/devices/system/cpu/online"],
    24: ["/proc/swaps"],
    25: ["/proc/mounts"],
    26: ["/proc/net/unix", "/proc/net/raw", "/proc/net/raw6"],
    27: ["/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"],
    28: ["/sys/devices/system/node/node*/meminfo", "/sys/devices/system/node/node*/numastat",
         "/sys/kernel/debug/extfrag/unusable_index", "/var/lib/pcp/pmdas/linux/bandwidth.conf"],
    29: ["/sys/devices/system/cpu/cpu*/cpufreq/stats/time_in_state"],
    30: ["/proc/scsi/scsi"],
}

PROM_DOCS = [
    b"# HELP http_requests_total The total number of HTTP requests.\n"
    b"# TYPE http_requests_total counter\n"
    b'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
    b'http_requests_total{method="post",code="400"}    3 1395066363000\n'
    b'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9\n'
    b"metric_without_timestamp_and_labels 12.47\n"
    b'something_weird{problem="division by zero"} +Inf -3982045\n'
    b"# HELP rpc_duration_seconds A summary of the RPC duration in seconds.\n"
    b"# TYPE rpc_duration_seconds summary\n"
    b'rpc_duration_seconds{quantile="0.01"} 3102\n'
    b"rpc_duration_seconds_sum 1.7560473e+07\n"
    b"rpc_duration_seconds_count 2693\n"
    b"# TYPE h histogram\n"
    b'h_bucket{le="0.05"} 24054\n'
    b'h_bucket{le="+Inf"} 144320\n'
    b"h_sum 53423\nh_count 144320\n",
    b"# TYPE foo_seconds counter\n# UNIT foo_seconds seconds\n"
    b"# HELP foo_seconds help\nfoo_seconds_total 17.0 1520879607.789\n"
    b"foo_seconds_created 1520872607.123\n"
    b'# TYPE s stateset\ns{s="a"} 1\ns{s="bb"} 0\n'
    b'# TYPE i info\ni_info{name="x",version="1.0"} 1\n# EOF\n',
    b"# PCP kernel.all.load instant none\nkernel_all_load 0.5\n"
    b"# PCP5 kernel.all.cpu.user 60.0.20 u64 PM_INDOM_NULL counter millisec\n"
    b"kernel_all_cpu_user 12345\n",
    b"HEADER: Authorization: Bearer x\nFILTER: exclude METRIC go_.*\n"
    b"FILTER: include LABEL code\nMETADATA: foo type=u64 semantics=counter units=byte\n"
    b"\0http_requests_total{code=\"200\"} 1\ngo_gc 2\nfoo 3\n",
]

BPFTRACE = [
    (b"", [
        b'{"type": "attached_probes", "data": {"probes": 1}}',
        b'{"type": "map", "data": {"@reads": {"bash": 12, "sshd": 3}}}',
        b'{"type": "hist", "data": {"@bytes": [{"min": 0, "max": 0, "count": 1}, '
        b'{"min": 1, "max": 1, "count": 3}, {"min": 2, "max": 3, "count": 7}, '
        b'{"min": 1024, "max": 2047, "count": 2}]}}',
        b'{"type": "stats", "data": {"@st": {"count": 4, "average": 10, "total": 40}}}',
        b'{"type": "map", "data": {"@s": {"12": "hello", "99": "x\\ny"}}}',
        b'{"type": "hist", "data": {"@lat": [{"max": -1, "count": 1}, {"min": 0, "max": 9, "count": 2}, '
        b'{"min": 100, "count": 5}]}}',
        b'{"type": "printf", "data": "x\\n"}',
        b'{"type": "time", "data": "12:00:00\\n"}',
        b'{"type": "lost_events", "data": {"events": 3}}',
        b'{"type": "map", "data": {"@": 5}}',
    ]),
    (b"tracepoint:syscalls:sys_enter_* { @c[probe, comm] = count(); @k[kstack] = count(); }\0", [
        b'{"type": "map", "data": {"@c": {"tracepoint:syscalls:sys_enter_read,bash": 5}}}',
        b'{"type": "map", "data": {"@k": {"\\n        do_sys_open+1\\n        x+2\\n": 9}}}',
    ]),
    (b"// name: test\n// include: @a\nBEGIN { @a = 1; @b = avg(3); @m = max(2); @n = min(-5); @z = sum(1); }\0", [
        b'{"type": "map", "data": {"@a": 1}}',
        b'{"type": "map", "data": {"@b": 3}}',
        b'{"type": "map", "data": {"@m": 2}}',
        b'{"type": "map", "data": {"@n": -5}}',
        b'{"type": "map", "data": {"@z": 1}}',
    ]),
]


# Expressions over the derive_expr target's fake metrics (a, b.c, x_1, s,
# f, n): every operator and function of pmRegisterDerived(3).
DERIVE = [
    b"a + b.c", b"a * 2 - x_1 / 3", b"rate(b.c)", b"delta(x_1) == 0 ? 0 : rate(x_1) / delta(x_1)",
    b"instant(b.c) > 5 && a != 0", b"!a || -n < 0", b"avg(a) + sum(f) + count(x_1) + max(a) - min(f)",
    b"matchinst(/^i[12]/, a)", b"matchinst(!/inst/, x_1)", b"a[i1 inst] + scalar(f)",
    b"rescale(rate(x_1), \"mbyte/sec\")", b"mkconst(10, type=u64, semantics=counter, units=\"kbyte\")",
    b"defined(a) ? a : mkconst(0, type=u32)", b"anon(PM_TYPE_U64)", b"s", b"instant(s)",
    b"(a + (b.c * (x_1 - 1)))", b"delta(a) / delta(b.c)", b"1.5e3 * f", b"99999999999 + n",
]


def pdus(path):
    """Yields (direction, bytes) for each `hex:` line of a capture."""
    direction = None
    for line in open(path, errors="replace"):
        if not line.startswith(" "):
            direction = line.split(" ", 1)[0]
        elif line.strip().startswith("hex:"):
            words = line.split("hex:", 1)[1].split()
            yield direction, bytes.fromhex("".join(words))


# The client-side types, in step with fuzz_targets/client_pdu_decode.rs.
CLIENT_SIDE = [0x700c, 0x7011, 0x7002, 0x7003, 0x7014, 0x7016, 0x7004, 0x700e,
               0x700d, 0x700f, 0x7010, 0x7001, 0x7000, 0x7015, 0x7017]


def client_captures():
    """Yields the connections of the client captures: lists of (client?, bytes)."""
    here = os.path.dirname(os.path.abspath(__file__))
    for path in sorted(glob.glob(os.path.join(here, "..", "tests", "fixtures",
                                              "pmcd-clients", "*.pdus"))):
        conn = None
        for line in open(path):
            if line.startswith("# connection"):
                if conn:
                    yield conn
                conn = []
            elif line[:2] in ("> ", "< ") and conn is not None:
                conn.append((line[0] == ">", bytes.fromhex("".join(line[2:].split()))))
        if conn:
            yield conn


def write(d, data):
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    src, out = sys.argv[1], sys.argv[2]
    for name in sorted(os.listdir(src)):
        if not name.startswith("capture-"):
            continue
        stream = b""
        for direction, data in pdus(os.path.join(src, name)):
            write(os.path.join(out, "pdu_decode"), data)
            if direction == "pmcd->PMDA":
                write(os.path.join(out, "daemon_session"), data)
                stream += data
        write(os.path.join(out, "daemon_session"), stream)

    for conn in client_captures():
        stream = b""
        for client, data in conn:
            write(os.path.join(out, "pdu_decode"), data)
            ty = int.from_bytes(data[4:8], "big")
            if ty in CLIENT_SIDE:
                write(os.path.join(out, "client_pdu_decode"),
                      bytes([CLIENT_SIDE.index(ty)]) + data[12:])
            if client:
                stream += data
        write(os.path.join(out, "pmcd_session"), stream)

    for sel, paths in LINUX.items():
        for pattern in paths:
            for path in glob.glob(pattern):
                try:
                    with open(path, "rb") as f:
                        data = f.read(1 << 20)
                except OSError:
                    continue
                write(os.path.join(out, "linux_procfs"), bytes([sel]) + data)

    docs = list(PROM_DOCS)
    for url in ("http://127.0.0.1:9100/metrics", "http://127.0.0.1:9090/metrics"):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                docs.append(r.read())
        except OSError:
            pass
    for doc in docs:
        write(os.path.join(out, "prometheus_ingest"), doc)
        # Each family alone, so the fuzzer starts from small inputs too.
        for chunk in doc.split(b"# HELP ")[1:40]:
            write(os.path.join(out, "prometheus_ingest"), b"# HELP " + chunk)

    # Real bpftrace output captured by pmda-bpftrace's tests.
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "..", "pmda-bpftrace", "tests", "fixtures")
    for jsonl in sorted(glob.glob(os.path.join(fixtures, "*.jsonl"))):
        with open(jsonl, "rb") as f:
            output = f.read()
        code = b""
        bt = jsonl[: -len(".jsonl")] + ".bt"
        if os.path.exists(bt):
            with open(bt, "rb") as f:
                code = f.read() + b"\0"
        write(os.path.join(out, "bpftrace_events"), code + output)
        write(os.path.join(out, "bpftrace_events"), output)

    # The derived-metric language: expressions alone, and the shipped
    # configuration files (and PCP's, when installed) whole.
    for expr in DERIVE:
        write(os.path.join(out, "derive_expr"), expr)
    here = os.path.dirname(os.path.abspath(__file__))
    for conf in sorted(glob.glob(os.path.join(here, "..", "conf", "derived", "*.conf"))
                       + glob.glob("/etc/pcp/derived/*.conf")):
        with open(conf, "rb") as f:
            text = f.read()
        write(os.path.join(out, "derive_expr"), text)
        for line in text.splitlines():
            if b"=" in line and not line.startswith(b"#") and b"(oneline)" not in line \
                    and b"(helptext)" not in line:
                write(os.path.join(out, "derive_expr"), line.split(b"=", 1)[1].strip())

    for code, lines in BPFTRACE:
        write(os.path.join(out, "bpftrace_events"), code + b"\n".join(lines) + b"\n")
        for line in lines:
            write(os.path.join(out, "bpftrace_events"), code + line + b"\n")

    # Real Nagios plugin output (Debian's monitoring-plugins-basic), and
    # the perfdata file lines pmda-nagios's tests captured from Nagios.
    plugins = "/usr/lib/nagios/plugins"
    for argv in NAGIOS_PLUGINS:
        try:
            r = subprocess.run([os.path.join(plugins, argv[0])] + argv[1:],
                               capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        write(os.path.join(out, "nagios_perfdata"), r.stdout)
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            "..", "pmda-nagios", "tests", "fixtures")
    for path in sorted(glob.glob(os.path.join(fixtures, "**", "*"), recursive=True)):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                write(os.path.join(out, "nagios_perfdata"), f.read(1 << 16))


NAGIOS_PLUGINS = [
    ["check_load", "-w", "5,4,3", "-c", "9,8,7"],
    ["check_disk", "-w", "10%", "-c", "5%", "-p", "/"],
    ["check_procs", "-w", "500", "-c", "900"],
    ["check_users", "-w", "5", "-c", "10"],
    ["check_swap", "-w", "50%", "-c", "10%"],
    ["check_dummy", "1", "careful"],
    ["check_tcp", "-H", "127.0.0.1", "-p", "9100"],
    ["check_http", "-H", "127.0.0.1", "-p", "9100", "-u", "/metrics"],
]


if __name__ == "__main__":
    main()
