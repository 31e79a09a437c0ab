#!/usr/bin/env python3
"""Compares this agent with PCP's own pmdalinux on a fixture tree.

pmdalinux reads its files under $LINUX_STATSPATH when that is set (a QA
setting of PCP), so PCP's agent can be run on the same frozen tree as ours:
dbpmda starts it, fetches each metric (twice: some clusters fill their
instance domains on the first fetch only) and lists the instance names;
`pcp-agent info -f --linux-root` does the same for ours. Values are
compared by instance name (instance ids come from each agent's own caches
and may differ).

Usage (from the workspace, after `cargo build --bin pcp-agent`):
    python3 pmda-linux/tools/compare_fixture.py ROOT [NAME|SUBTREE ...]
with ROOT a fixture tree (e.g. pmda-linux/tests/fixtures/multi). Names
default to the whole linux namespace. Set PCP_AGENT to the binary's path if
it is not target/debug/pcp-agent; LINUX_MDADM is passed on to pmdalinux.

pmdalinux runs with a private PCP_VAR_DIR, so its instance caches
(normally /var/lib/pcp/config/pmda) are written there, not over the
system's.

Known limits of the comparison, not of either agent: pmdalinux takes
uname, IPC limits and totals (system calls), IPC owners, statfs figures of
mount points and, without ROOT/sys/class/net/IF, interface figures
(ioctls) from the live system rather than from ROOT; it answers 0 for
figures of files ROOT lacks, where ours fails with ENOENT; the client
having no credentials, it gives no slab or serial line figures.
LINUX_NCPUS is set to ROOT's CPU count (pmdalinux otherwise takes the live
machine's). tests/pcp_testsuite.rs runs the same comparison in the test
suite, with each artifact listed.
"""
import os
import re
import shutil
import tempfile
import subprocess
import sys


AGENT = os.path.abspath("target/debug/pcp-agent")


def pminfo_names(prefixes):
    """The linux agent's names (domain 60) under the prefixes, from pmcd."""
    out = subprocess.run(["pminfo", "-h", "localhost", "-m", *prefixes],
                         capture_output=True, text=True).stdout
    return [l.split()[0] for l in out.splitlines() if " PMID: 60." in l]


def real_values(root, names):
    # pmdalinux saves its instance caches under $PCP_VAR_DIR/config/pmda:
    # a private directory keeps the fixture's names out of the system's
    # caches (which the running pmdalinux and this agent's live tests use).
    var = tempfile.mkdtemp(prefix="compare-fixture-")
    os.makedirs(os.path.join(var, "config", "pmda"))
    env = dict(os.environ, LINUX_STATSPATH=root, PCP_VAR_DIR=var)
    try:
        with open(os.path.join(root, "proc/stat")) as f:
            ncpu = sum(1 for l in f if re.match(r"cpu\d", l))
        if ncpu:
            env["LINUX_NCPUS"] = str(ncpu)
    except OSError:
        pass
    cmds = ["open pipe /var/lib/pcp/pmdas/linux/pmdalinux -d 60"]
    for n in names:
        cmds += [f"desc {n}", f"fetch {n}", f"fetch {n}"]
    out = subprocess.run(["dbpmda", "-n", "/var/lib/pcp/pmns/root", "-ie"],
                         input="\n".join(cmds) + "\n", capture_output=True,
                         text=True, env=env).stdout
    values, indoms, cur = {}, {}, None
    for line in out.splitlines():
        m = re.match(r"dbpmda> desc (\S+)", line)
        if m:
            cur = m.group(1)
            continue
        m = re.match(r"\s+Data Type: .*InDom: (\S+)", line)
        if m and cur:
            indoms[cur] = m.group(1)
            continue
        m = re.match(r"\s+\S+ \((\S+)\): (.*)", line)
        if m:
            cur = m.group(1)
            values[cur] = {}  # the second fetch replaces the first
            continue
        m = re.match(r"\s+inst \[(\d+) or [^\]]*\] value (.*)", line)
        if m and cur:
            values[cur][int(m.group(1))] = m.group(2)
            continue
        m = re.match(r"\s+value (.*)", line)
        if m and cur:
            values[cur][None] = m.group(1)
    # Instance names of every indom seen.
    wanted = sorted({d for d in indoms.values() if d != "PM_INDOM_NULL"})
    if wanted:
        cmds = ["open pipe /var/lib/pcp/pmdas/linux/pmdalinux -d 60"]
        cmds += [f"fetch {n}" for n in names] + [f"instance {d}" for d in wanted]
        out = subprocess.run(["dbpmda", "-n", "/var/lib/pcp/pmns/root", "-ie"],
                             input="\n".join(cmds) + "\n", capture_output=True,
                             text=True, env=env).stdout
    shutil.rmtree(var, ignore_errors=True)
    inames, dom = {}, None
    for line in out.splitlines():
        m = re.match(r"pmInDom: (\S+)", line)
        if m:
            dom = m.group(1)
            inames.setdefault(dom, {})
            continue
        m = re.match(r"\[\s*\d+\] inst: (\d+) name: \"(.*)\"", line)
        if m and dom:
            inames[dom][int(m.group(1))] = m.group(2)
    named = {}
    for n, vals in values.items():
        names_of = inames.get(indoms.get(n, ""), {})
        named[n] = {("" if k is None else names_of.get(k, f"#{k}")): first(v)
                    for k, v in vals.items()}
    return named


def first(v):
    v = v.strip()
    if v.startswith('"'):
        return v
    return v.split()[0]


def our_values(root, names):
    agent = os.environ.get("PCP_AGENT", AGENT)
    out = subprocess.run([agent, "--agents", "linux", "--linux-root", root,
                          "info", "-f", *names], capture_output=True, text=True).stdout
    values, cur = {}, None
    for line in out.splitlines():
        if line and not line.startswith(" "):
            cur = line.strip()
            values[cur] = {}
            continue
        m = re.match(r"\s+inst \[\d+ or \"(.*)\"\] value (.*)", line)
        if m and cur:
            values[cur][m.group(1)] = m.group(2).strip()
            continue
        m = re.match(r"\s+value (.*)", line)
        if m and cur:
            values[cur][""] = m.group(1).strip()
    return values


def same(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    # dbpmda shows 32-bit signed values unsigned.
    if x >= 2**31 and x < 2**32:
        x -= 2**32
    return abs(x - y) <= 1e-6 * max(abs(x), abs(y))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = os.path.abspath(sys.argv[1])
    names = pminfo_names(sys.argv[2:])
    # pmdalinux writes linux.log in its working directory.
    os.chdir(os.environ.get("TMPDIR", "/tmp"))
    real, ours = real_values(root, names), our_values(root, names)
    diffs = 0
    for n in names:
        r, o = real.get(n, {}), ours.get(n, {})
        keys = set(r) | set(o)
        bad = [k for k in sorted(keys) if not same(r.get(k, "-"), o.get(k, "-"))]
        if bad:
            diffs += 1
            shown = ", ".join(f"{k or '.'}: real {r.get(k, '-')} ours {o.get(k, '-')}"
                              for k in bad[:4])
            print(f"{n}: {shown}")
    print(f"compared {len(names)} metrics, {diffs} differ")


main()
