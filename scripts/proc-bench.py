#!/usr/bin/python3
"""The driver of scripts/proc-bench.sh (which builds the binaries and sets
the environment; see its header for what is measured). Run it through the
shell script."""
import atexit
import datetime
import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

# Set before PCP's library loads: the local context then has pmdaproc as a
# DSO (and no other agent), and no derived metrics join the names.
SCRATCH = os.environ["BENCH_SCRATCH"]
LOCAL_CONF = os.path.join(SCRATCH, "local-pmcd.conf")
with open(LOCAL_CONF, "w") as f:
    f.write("proc\t3\tdso\tproc_init\t/var/lib/pcp/pmdas/proc/pmda_proc.so\n")
os.environ["PCP_PMCDCONF_PATH"] = LOCAL_CONF
os.environ["PCP_DERIVED_CONFIG"] = ""
# A full fetch of 10,000 processes takes seconds on a loaded machine.
os.environ["PMCD_REQUEST_TIMEOUT"] = "300"

from pcp import pmapi  # noqa: E402
import cpmapi as c_api  # noqa: E402

AGENT = os.environ["BENCH_AGENT"]
HELPER = os.environ["BENCH_HELPER"]
WRITE = os.environ.get("BENCH_WRITE") == "1"
ROUNDS = max(3, int(os.environ.get("BENCH_ROUNDS", "3")))
COUNTS = [int(c) for c in os.environ.get("BENCH_COUNTS", "100,1000,10000").split(",")]
OUT = os.environ["BENCH_OUT"]
COMMAND = os.environ.get("BENCH_COMMAND", "scripts/proc-bench.sh")
SECS = float(os.environ.get("BENCH_SECS", "1.0"))
PMCD = "/usr/lib/pcp/bin/pmcd"
PMDAPROC = "/var/lib/pcp/pmdas/proc/pmdaproc"
EXPORTER = "prometheus-process-exporter"
OUR_DOMAIN = 203
PROFILE_PIDS = 10
# For quick checks while working on the agent: only the fetch sets whose
# label is listed (comma-separated), and no exporter comparison with
# BENCH_EXPORTER=0. The published tables use neither.
ONLY = [s for s in os.environ.get("BENCH_ONLY", "").split(",") if s]
EXPORTER_ON = os.environ.get("BENCH_EXPORTER", "1") != "0"

FULL = ["proc.psinfo", "proc.memory", "proc.io", "proc.schedstat", "proc.id"]
SETS = [
    ("utime+rss", "`proc.psinfo.utime`, `proc.memory.rss`",
     ["proc.psinfo.utime", "proc.memory.rss"], False),
    ("full", "every metric of " + ", ".join(f"`{n}`" for n in FULL), FULL, False),
    ("full, profile of 10 pids", "the full set, the client's profile naming 10 of the spawned processes",
     FULL, True),
]
# What process-exporter reports per group (with -threads=false and
# -gather-smaps=false), as pmdaproc's names: CPU time, faults, memory,
# I/O bytes, context switches, descriptors, start time, threads, state.
EXPORTER_SET = [
    "proc.psinfo.utime", "proc.psinfo.stime", "proc.psinfo.minflt",
    "proc.psinfo.maj_flt", "proc.psinfo.rss", "proc.psinfo.vsize",
    "proc.psinfo.start_time", "proc.psinfo.threads", "proc.psinfo.sname",
    "proc.psinfo.vctxsw", "proc.psinfo.nvctxsw", "proc.memory.vmswap",
    "proc.io.read_bytes", "proc.io.write_bytes", "proc.fd.count",
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


CLEANUP = []


def cleanup():
    for f in reversed(CLEANUP):
        try:
            f()
        except Exception as e:  # keep cleaning up
            log(f"cleanup: {e}")


atexit.register(cleanup)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, proc, what):
    deadline = time.time() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                raise SystemExit(f"{what} did not start")
            time.sleep(0.05)


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def children(pid):
    out = []
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            stat = open(f"/proc/{e}/stat").read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(e))
    return out


def vm_rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, TypeError):
        pass
    return None


def rss_disagreements():
    """Processes whose resident pages in `stat` (field 24) differ from
    `statm`'s (field 2, what pmdaproc's proc.memory.rss is), and the
    processes compared."""
    differ = compared = 0
    for e in os.listdir("/proc"):
        if not e.isdigit():
            continue
        try:
            stat = open(f"/proc/{e}/stat").read()
            statm = open(f"/proc/{e}/statm").read()
            a, b = int(stat.rsplit(")", 1)[1].split()[21]), int(statm.split()[1])
        except (OSError, ValueError, IndexError):
            continue
        compared += 1
        differ += a != b
    return differ, compared


def process_count():
    return sum(1 for e in os.listdir("/proc") if e.isdigit())


class Spawned:
    """N idle processes (proc_bench spawn), killed when closed."""

    def __init__(self, n):
        pid_max = int(open("/proc/sys/kernel/pid_max").read())
        if process_count() + n > pid_max * 0.9:
            raise SystemExit(f"pid_max {pid_max} leaves no room for {n} more processes")
        self.proc = subprocess.Popen([HELPER, "spawn", str(n)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        CLEANUP.append(self.close)
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "ready":
            raise SystemExit(f"spawning {n} processes failed")
        self.pids = [int(p) for p in line[1:]]

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait()


def pmid_parts(pmid):
    return (pmid >> 22) & 0x1FF, (pmid >> 10) & 0xFFF, pmid & 0x3FF


def pmns_text(leaves):
    """A PMNS root file: pmdaproc's proc tree at domain 3 and the same
    tree as `ours` at OUR_DOMAIN."""
    tree = {}
    for name, pmid in leaves:
        _, cluster, item = pmid_parts(pmid)
        for root, domain in (("proc", 3), ("ours", OUR_DOMAIN)):
            parts = [root] + name.split(".")[1:]
            node = tree
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = f"{domain}:{cluster}:{item}"
    lines = []

    def emit(path, node):
        lines.append(f"{path or 'root'} {{")
        for k, v in node.items():
            lines.append(f"\t{k}\t{v}" if isinstance(v, str) else f"\t{k}")
        lines.append("}")
        for k, v in node.items():
            if isinstance(v, dict):
                emit(f"{path}.{k}" if path else k, v)

    emit("", tree)
    return "\n".join(lines) + "\n"


class Pmcd:
    """A private pmcd (own port, socket, pmcd.conf, PMNS, directories)
    with pmdaproc at 3 and ours at OUR_DOMAIN."""

    def __init__(self, leaves):
        self.dir = os.path.join(SCRATCH, f"pmcd-{time.time_ns()}")
        for sub in ("run", "log", "tmp", "var/config/pmda"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        conf = os.path.join(self.dir, "pmcd.conf")
        with open(conf, "w") as f:
            f.write("pmcd\t2\tdso\tpmcd_init\t/var/lib/pcp/pmdas/pmcd/pmda_pmcd.so\n")
            f.write(f"proc\t3\tpipe\tbinary\t{PMDAPROC} -d 3\n")
            f.write(f"ours\t{OUR_DOMAIN}\tpipe\tbinary\t{AGENT} pmda proc -d {OUR_DOMAIN}\n")
            f.write('\n[access]\nallow ".*" : all;\nallow ":*" : all;\n')
        root = os.path.join(self.dir, "root")
        with open(root, "w") as f:
            f.write(pmns_text(leaves))
        self.port = free_port()
        self.socket = os.path.join(self.dir, "sock")
        env = dict(os.environ)
        env.update(PCP_VAR_DIR=os.path.join(self.dir, "var"), PCP_TMP_DIR=os.path.join(self.dir, "tmp"),
                   PCP_RUN_DIR=os.path.join(self.dir, "run"), PCP_LOG_DIR=os.path.join(self.dir, "log"),
                   PMCD_ROOT_AGENT="0", PMCD_RESTART_AGENTS="0")
        # -t: a full fetch of 10,000 processes takes pmdaproc seconds.
        self.proc = subprocess.Popen(
            [PMCD, "-f", "-A", "-U", "root", "-t", "60", "-c", conf, "-n", root, "-p", str(self.port),
             "-s", self.socket, "-l", os.path.join(self.dir, "pmcd.log")],
            cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        CLEANUP.append(lambda: stop(self.proc))
        wait_port(self.port, self.proc, "pmcd")
        deadline = time.time() + 10
        while not os.path.exists(self.socket) and time.time() < deadline:
            time.sleep(0.05)

    def agent_pid(self, marker):
        for pid in children(self.proc.pid):
            try:
                if marker in open(f"/proc/{pid}/cmdline").read():
                    return pid
            except OSError:
                pass
        return None

    def context(self):
        # The unix socket: pmcd passes the client's credentials (root), so
        # both agents read every process's files, as for `pminfo` run by root.
        return pmapi.pmContext(c_api.PM_CONTEXT_HOST, f"unix:{self.socket}")


def leaves_of(ctx, roots):
    out = []
    for r in roots:
        ctx.pmTraversePMNS(r, out.append)
    return out


def count_values(res):
    return sum(max(res.contents.get_numval(i), 0) for i in range(res.contents.numpmid))


def task_cpu(pid):
    """CPU seconds of every thread of process `pid` (schedstat)."""
    total = 0
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            try:
                total += int(open(f"/proc/{pid}/task/{t}/schedstat").read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        pass
    return total / 1e9


def self_cpu():
    import resource
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def time_fetches(ctx, pmids, cpu):
    """One warm-up fetch, then fetches for about SECS (3 to 200); the
    values per fetch, the median seconds per fetch and the CPU seconds
    per fetch of whoever `cpu()` counts."""
    res = ctx.pmFetch(pmids)
    values = count_values(res)
    ctx.pmFreeResult(res)
    secs = []
    cpu0 = cpu()
    start = time.perf_counter()
    while len(secs) < 3 or (len(secs) < 200 and time.perf_counter() - start < SECS):
        t = time.perf_counter()
        res = ctx.pmFetch(pmids)
        secs.append(time.perf_counter() - t)
        got = count_values(res)
        ctx.pmFreeResult(res)
        if got < values * 0.9:
            raise SystemExit(f"a fetch answered {got} values, the warm-up {values}")
    return values, statistics.median(secs), (cpu() - cpu0) / len(secs)


class Client:
    """A context with these names resolved and, for a profile, only these
    instances of their instance domain."""

    def __init__(self, ctx, names, profile_pids, cpu):
        self.ctx = ctx
        self.cpu = cpu
        leaves = leaves_of(ctx, names)
        self.pmids = ctx.pmLookupName(leaves)
        self.metrics = len(leaves)
        desc = ctx.pmLookupDesc(self.pmids[0])
        if profile_pids:
            ctx.pmDelProfile(desc, None)
            ctx.pmAddProfile(desc, profile_pids)
        else:
            ctx.pmAddProfile(desc, None)

    def measure(self):
        return time_fetches(self.ctx, self.pmids, self.cpu)


def ours_in_process(names, pids):
    args = [HELPER, "inproc", str(SECS), ",".join(names)]
    if pids:
        args.append(",".join(map(str, pids)))
    out = subprocess.run(args, capture_output=True, text=True, check=True)
    j = json.loads(out.stdout)
    if j["fewest"] < j["values"] * 0.9:
        raise SystemExit(f"an in-process fetch answered {j['fewest']} values, the warm-up {j['values']}")
    return j["values"], statistics.median(j["secs"]), j["cpu"]


def scrape(url):
    t = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as r:
        body = r.read()
    return time.perf_counter() - t, body


def time_scrapes(url, pid):
    _, body = scrape(url)  # warm-up (process-exporter names new processes)
    secs = []
    cpu0 = task_cpu(pid)
    start = time.perf_counter()
    while len(secs) < 3 or (len(secs) < 100 and time.perf_counter() - start < SECS):
        dt, body = scrape(url)
        secs.append(dt)
    return body, statistics.median(secs), (task_cpu(pid) - cpu0) / len(secs)


def series_count(body):
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


from proc_bench_report import table  # noqa: E402


class Settings:
    """What the report states about the run."""
    rounds = ROUNDS
    secs = SECS
    command = COMMAND
    exporter_set = EXPORTER_SET
    our_domain = OUR_DOMAIN
    sets = SETS


def run_count(n, leaves, local, rows):
    log(f"== {n} extra processes")
    spawned = Spawned(n)
    total = process_count()
    profile = spawned.pids[:PROFILE_PIDS]
    costs = []
    for _ in range(ROUNDS):
        out = subprocess.run([HELPER, "filecost"], capture_output=True, text=True, check=True)
        costs.append(json.loads(out.stdout))
    rows["filecost"].append({"n": n, "total": total, "rounds": costs, "rss_differ": rss_disagreements()})
    pmcd = Pmcd(leaves)
    ours_ctx, ref_ctx = pmcd.context(), pmcd.context()
    ours_pid, ref_pid = pmcd.agent_pid("pcp-agent"), pmcd.agent_pid("pmdaproc")
    for label, what, names, use_profile in SETS:
        if ONLY and label not in ONLY:
            continue
        pids = profile if use_profile else None
        ours = Client(ours_ctx, ["ours" + n[len("proc"):] for n in names], pids,
                      lambda: task_cpu(ours_pid))
        ref = Client(ref_ctx, names, pids, lambda: task_cpu(ref_pid))
        lref = Client(local, names, pids, self_cpu)
        r = {"n": n, "total": total, "set": label, "what": what, "metrics": (ours.metrics, ref.metrics),
             "pmcd": [], "local": [], "rss": []}
        for i in range(ROUNDS):
            pair = [("ours", ours), ("ref", ref)]
            got = {}
            for side, client in (pair if i % 2 == 0 else pair[::-1]):
                got[side] = client.measure()
            r["pmcd"].append((got["ours"], got["ref"]))
            r["rss"].append((vm_rss_kib(ours_pid), vm_rss_kib(ref_pid)))
            if i % 2 == 0:
                o = ours_in_process(names, pids)
                lr = lref.measure()
            else:
                lr = lref.measure()
                o = ours_in_process(names, pids)
            r["local"].append((o, lr))
            log(f"  {label} round {i + 1}: pmcd ours {got['ours'][1]:.4f}s ({got['ours'][2]:.4f}s CPU) "
                f"ref {got['ref'][1]:.4f}s ({got['ref'][2]:.4f}s CPU); in process ours {o[1]:.4f}s "
                f"({o[2]:.4f}s CPU) ref {lr[1]:.4f}s ({lr[2]:.4f}s CPU)")
        rows["fetch"].append(r)
    stop(pmcd.proc)
    if EXPORTER_ON:
        rows["exporter"].append(exporter_rows(n, total))
    spawned.close()


def exporter_rows(n, total):
    cfg = os.path.join(SCRATCH, "process-exporter.yml")
    with open(cfg, "w") as f:
        f.write('process_names:\n  - name: "{{.Comm}}:{{.PID}}"\n    cmdline:\n    - ".*"\n')
    eport, oport = free_port(), free_port()
    exporter = subprocess.Popen(
        [EXPORTER, "-web.listen-address", f"127.0.0.1:{eport}", "-config.path", cfg,
         "-threads=false", "-gather-smaps=false"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    CLEANUP.append(lambda: stop(exporter))
    ours = subprocess.Popen(
        [AGENT, "serve", "--agents", "proc", "--proc-all-access", "--listen", f"127.0.0.1:{oport}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    CLEANUP.append(lambda: stop(ours))
    wait_port(eport, exporter, EXPORTER)
    wait_port(oport, ours, "pcp-agent serve")
    ours_url = f"http://127.0.0.1:{oport}/metrics?names={','.join(EXPORTER_SET)}"
    ref_url = f"http://127.0.0.1:{eport}/metrics"
    r = {"n": n, "total": total, "rounds": [], "rss": []}
    for i in range(ROUNDS):
        pair = [("ours", ours_url, ours.pid), ("ref", ref_url, exporter.pid)]
        got = {}
        for side, url, pid in (pair if i % 2 == 0 else pair[::-1]):
            body, t, cpu = time_scrapes(url, pid)
            got[side] = (series_count(body), len(body), t, cpu)
        r["rounds"].append((got["ours"], got["ref"]))
        r["rss"].append((vm_rss_kib(ours.pid), vm_rss_kib(exporter.pid)))
        log(f"  exporter round {i + 1}: ours {got['ours'][2]:.4f}s ({got['ours'][3]:.4f}s CPU) "
            f"ref {got['ref'][2]:.4f}s ({got['ref'][3]:.4f}s CPU)")
    stop(ours)
    stop(exporter)
    return r


def main():
    local = pmapi.pmContext(c_api.PM_CONTEXT_LOCAL, None)
    names = []
    for root in FULL + ["proc.fd"]:
        local.pmTraversePMNS(root, names.append)
    leaves = list(zip(names, local.pmLookupName(names)))
    rows = {"fetch": [], "exporter": [], "filecost": []}
    for n in COUNTS:
        run_count(n, leaves, local, rows)
    text = table(rows, Settings())
    print(text)
    if WRITE:
        keep = ""
        if os.path.exists(OUT):
            old = open(OUT).read()
            marker = "\n## Notes"
            if marker in old:
                keep = old[old.index(marker):]
        with open(OUT, "w") as f:
            f.write(text + keep)
        log(f"wrote {OUT}")


main()
