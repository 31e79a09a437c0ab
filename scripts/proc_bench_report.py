"""The report of scripts/proc-bench.py: pmda-proc/BENCHMARKS.md's tables
from the rows the benchmark collected (kept apart from the measuring)."""

import datetime
import statistics

def spread(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "n/a"
    m = statistics.median(xs)
    if len(xs) == 1:
        return fmt(m)
    return f"{fmt(m)} ({fmt(min(xs))}-{fmt(max(xs))})"


def ms(x):
    return f"{x * 1000:.3g}" if x < 1 else f"{x * 1000:.0f}"


def ratio(x):
    return f"{x:.2f}x"


def mib(k):
    return f"{k / 1024:.1f}"


def pair_cells(p, wall, cpu):
    """ours / reference wall time, their ratio, ours / reference CPU, their
    ratio, over rounds."""
    return (f"{spread([o[wall] for o, _ in p], ms)} | {spread([f[wall] for _, f in p], ms)} | "
            f"{spread([f[wall] / o[wall] for o, f in p], ratio)} | "
            f"{spread([o[cpu] for o, _ in p], ms)} | {spread([f[cpu] for _, f in p], ms)} | "
            f"{spread([f[cpu] / o[cpu] for o, f in p if o[cpu] > 0], ratio)}")


def pct(x):
    return f"{x * 100:.0f}%"


def floor_table(rows, cfg):
    """The utime+rss floor (filecost's stat_statm_floor times its
    processes) against the utime+rss fetch's CPU, round by round."""
    out = []
    w = out.append
    w("\n## The utime+rss floor\n")
    w("The least work the kernel does for any agent that answers `proc.psinfo.utime` and `proc.memory.rss`")
    w("exactly as pmdaproc does: utime is only in `/proc/PID/stat`, and pmdaproc's rss is `statm`'s resident")
    w("pages, so for every process `stat` is opened, read once and closed, then `statm` the same (the")
    w("`stat`, then `statm` column of the previous section). *Floor ms* is that per-process cost times the")
    w("processes `proc_bench filecost` read, per fetch. It leaves out listing `/proc`, parsing and answering,")
    w("so a real agent's fetch costs more than its floor. The issue's goal is half of pmdaproc's CPU per")
    w("fetch (the *goal* column); where the floor is above half of pmdaproc's figure (*floor / pmdaproc*")
    w("above 50%), no agent reading those files can reach the goal. Shares are per round (the round's")
    w("filecost against the same round's fetch).\n")
    w("`stat` has a resident-pages field too, but it need not equal `statm`'s (the kernel keeps the counts")
    w("per CPU, and the two files need not add them up alike), so `stat` alone does not give pmdaproc's")
    w("figure; the last column counts the processes whose two figures differed, each process's pair read")
    w("once after the filecost rounds.\n")
    w("| processes | measured | floor ms | CPU ms pmdaproc | goal ms (half of pmdaproc) | CPU ms ours "
      "| floor / pmdaproc | floor / ours | stat rss ≠ statm rss |")
    w("|---|---|---|---|---|---|---|---|---|")
    for fc in rows["filecost"]:
        fetch = next((r for r in rows["fetch"] if r["n"] == fc["n"] and r["set"] == "utime+rss"), None)
        if fetch is None:
            continue
        floor = [c["stat_statm_floor"] * c["processes"] / 1e6 for c in fc["rounds"]]
        differ, compared = fc["rss_differ"]
        for where, key in (("through pmcd", "pmcd"), ("in process", "local")):
            p = fetch[key]
            ours = [o[2] for o, _ in p]
            ref = [f[2] for _, f in p]
            w(f"| {fc['n']:,} ({fc['total']:,}) | {where} | {spread(floor, ms)} | {spread(ref, ms)} | "
              f"{spread([x / 2 for x in ref], ms)} | {spread(ours, ms)} | "
              f"{spread([a / b for a, b in zip(floor, ref) if b > 0], pct)} | "
              f"{spread([a / b for a, b in zip(floor, ours) if b > 0], pct)} | {differ:,} of {compared:,} |")
    return out


def table(rows, cfg):
    today = datetime.date.today().isoformat()
    out = []
    w = out.append
    w("# pmda-proc benchmarks\n")
    w(f"`{cfg.command}` (release build), {today}, on the project machine (2 cores shared with other")
    w("builds and tests). Every figure is the median of "
      f"{cfg.rounds} rounds with the min-max over rounds in parentheses; within a round each")
    w("time is the median of a measurement's fetches (one warm-up fetch, then fetches for about "
      f"{cfg.secs:g} s, 3 at least)")
    w("and each CPU figure the measurement's CPU time divided by its fetches. Rounds alternate which side")
    w("goes first. Ratios are per round, the reference's figure over ours (above 1: ours is faster or")
    w("cheaper).\n")
    w("*Wall* is the client's time per fetch: it moves with the machine's load (other work runs on")
    w("both cores), so read the ratios. *CPU* is the time the agent process spent (every thread,")
    w("`/proc/PID/task/*/schedstat`; in process, the whole measuring process's user and system time),")
    w("which the load hardly moves. Nearly all of it is the kernel's: opening, generating and closing")
    w("each process's files, the same files for both agents (see the last two sections).\n")
    w("The processes are extra idle processes forked for the run (`proc_bench spawn N`, killed after it);")
    w("the figure in parentheses is how many the machine had in all. The fetches:\n")
    for label, what, _, _ in cfg.sets:
        w(f"- **{label}**: {what};")
    w("- **exporter set**: " + ", ".join(f"`{n}`" for n in cfg.exporter_set)
      + " (what process-exporter reports per group).\n")
    w("## Through one pmcd\n")
    w(f"One private pmcd 6.0.3 with PCP's pmdaproc at domain 3 and ours (`pcp-agent pmda proc -d {cfg.our_domain}`) at")
    w(f"{cfg.our_domain}, both pipe agents; one client (PCP's Python PMAPI, `pmFetch`) on pmcd's unix socket, so both")
    w("agents read as root. VmRSS is each agent process's resident memory after each round.\n")
    w("| processes | fetch | values/fetch ours / ref | wall ms ours | wall ms pmdaproc | wall ratio "
      "| CPU ms ours | CPU ms pmdaproc | CPU ratio | VmRSS MiB ours | VmRSS MiB pmdaproc |")
    w("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows["fetch"]:
        p = r["pmcd"]
        w(f"| {r['n']:,} ({r['total']:,}) | {r['set']} | {p[0][0][0]:,} / {p[0][1][0]:,} | "
          f"{pair_cells(p, 1, 2)} | "
          f"{spread([a for a, _ in r['rss']], mib)} | {spread([b for _, b in r['rss']], mib)} |")
    w("\n## In process\n")
    w("Ours in a `pcp_core::Host` (`proc_bench inproc`: the agent, no pmcd, no PDUs, as root); PCP's pmdaproc as")
    w("its DSO (`pmda_proc.so`) in a `PM_CONTEXT_LOCAL` context of the same Python client (a pmcd.conf naming")
    w("only it, `PCP_PMCDCONF_PATH`), as root.\n")
    w("| processes | fetch | values/fetch ours / ref | wall ms ours | wall ms pmdaproc | wall ratio "
      "| CPU ms ours | CPU ms pmdaproc | CPU ratio |")
    w("|---|---|---|---|---|---|---|---|---|")
    for r in rows["fetch"]:
        p = r["local"]
        w(f"| {r['n']:,} ({r['total']:,}) | {r['set']} | {p[0][0][0]:,} / {p[0][1][0]:,} | "
          f"{pair_cells(p, 1, 2)} |")
    if rows["exporter"]:
        w("\n## Against prometheus-process-exporter\n")
        w("One HTTP scrape: `pcp-agent serve --agents proc --proc-all-access` (`/metrics?names=` the exporter set)")
        w("against Debian's prometheus-process-exporter 0.7.10 with one group per process")
        w("(`name: \"{{.Comm}}:{{.PID}}\"`, every command line), `-threads=false -gather-smaps=false`, both on")
        w("127.0.0.1, both as root. Series are the sample lines of one response (the exporter's include its own")
        w("process metrics); CPU is each server process's per scrape; VmRSS each server's after each round.\n")
        w("| processes | series ours / exporter | bytes ours / exporter | wall ms ours | wall ms exporter "
          "| wall ratio | CPU ms ours | CPU ms exporter | CPU ratio | VmRSS MiB ours | VmRSS MiB exporter |")
        w("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows["exporter"]:
            p = r["rounds"]
            w(f"| {r['n']:,} ({r['total']:,}) | {p[0][0][0]:,} / {p[0][1][0]:,} | "
              f"{p[0][0][1]:,} / {p[0][1][1]:,} | {pair_cells(p, 2, 3)} | "
              f"{spread([a for a, _ in r['rss']], mib)} | {spread([b for _, b in r['rss']], mib)} |")
    w("\n## What one file costs the kernel\n")
    w("`proc_bench filecost`: CPU microseconds per process to read `/proc/PID/stat` of every process, opened")
    w("relative to a held `/proc` descriptor: read to its end (two reads: pmdaproc's way, and this agent's")
    w("before it learnt that a short read ends a one-record file), with one read (this agent's way), and")
    w("with `pread` on a descriptor held open between passes (no agent's way); and `stat` then `statm`,")
    w("each opened, read once and closed (the utime+rss floor, next section). Within a round each figure is")
    w("the median of 5 passes over every process.\n")
    w("| processes | open, read to end, close µs | open, one read, close µs | held descriptor, pread µs "
      "| `stat`, then `statm`: open, one read, close µs |")
    w("|---|---|---|---|---|")
    for r in rows["filecost"]:
        p = r["rounds"]
        us = lambda x: f"{x:.2f}"  # noqa: E731
        w(f"| {r['n']:,} ({r['total']:,}) | {spread([c['open_read_to_end_close'] for c in p], us)} | "
          f"{spread([c['open_read_close'] for c in p], us)} | {spread([c['held_pread'] for c in p], us)} | "
          f"{spread([c['stat_statm_floor'] for c in p], us)} |")
    out.extend(floor_table(rows, cfg))
    return "\n".join(out) + "\n"
