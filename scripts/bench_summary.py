#!/usr/bin/env python3
"""Builds the summary table of BENCHMARKS.md from the results that
scripts/bench-summary.sh stored: every `SUMMARY {json}` line each
benchmark printed, per run. A row's figures are the median over its runs
(or the rounds a benchmark ran inside one run), with the minimum and
maximum beside; the ratio is the median of the per-run (per-round)
ratios. Nothing in the table is typed by hand.

    scripts/bench_summary.py RESULTS_DIR BENCHMARKS.md

Rows (and detail blocks) of benchmarks with no results in RESULTS_DIR are
kept as they stand, so re-measuring some benchmarks leaves the others'.
"""
import json
import math
import os
import re
import statistics
import sys
import time

BEGIN = "<!-- summary:begin (written by scripts/bench-summary.sh; do not edit) -->"
END = "<!-- summary:end -->"

# Order of the table: groups whose id starts with these, in this order.
ORDER = ["parse-", "fetch-", "fleet-", "pmcd-prometheus", "pmcd-shared", "linux-", "pmcd-linux",
         "bpftrace-", "pmcd-bpftrace", "pdu-", "pmcd-pipe", "pmcd-server-", "serve-", "exposition-", "namespace-",
         "host-overhead-", "nagios-", "profile-"]


def num(x):
    """A figure as text: three significant digits or so."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "?"
    a = abs(x)
    if a >= 100:
        return f"{x:,.0f}"
    if a >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def values(v):
    if v is None:
        return []
    if isinstance(v, list):
        return [x for x in v if isinstance(x, (int, float)) and not math.isnan(x)]
    if isinstance(v, (int, float)) and not math.isnan(v):
        return [v]
    return []


def spread(xs, unit=""):
    if not xs:
        return "—"
    m = statistics.median(xs)
    u = f" {unit}" if unit else ""
    if len(xs) == 1:
        return f"{num(m)}{u}"
    return f"{num(m)}{u} ({num(min(xs))}–{num(max(xs))})"


def load(results):
    """{group: {"what", "unit", "note", "command", "date", "runs", "refs": {ref: {...}}}}"""
    groups = {}
    for name in sorted(os.listdir(results)):
        if not name.endswith(".txt"):
            continue
        bench, _run, _ = name.rsplit(".", 2)
        path = os.path.join(results, name)
        try:
            command = open(os.path.join(results, bench + ".cmd")).read().strip()
        except OSError:
            command = bench
        date = time.strftime("%Y-%m-%d", time.localtime(os.path.getmtime(path)))
        for line in open(path, errors="replace"):
            if not line.startswith("SUMMARY "):
                continue
            try:
                s = json.loads(line[len("SUMMARY "):])
            except ValueError:
                continue
            g = groups.setdefault(s["group"], dict(what=s["what"], unit=s.get("unit", ""), notes=[],
                                                   command=command, dates=set(), runs=set(),
                                                   refs={}, ours_by_run={}))
            g["dates"].add(date)
            g["runs"].add((bench, name))
            if s.get("note"):
                g["notes"].append(s["note"])
            r = g["refs"].setdefault(s.get("ref") or "", dict(ref=[], ratio=[], text=s.get("ratio_text", "x")))
            # A run repeats its figure once per reference: keep one per run.
            g["ours_by_run"][name] = values(s.get("ours"))
            r["ref"].extend(values(s.get("ref_value")))
            r["ratio"].extend(values(s.get("ratio")))
    return groups


def finish(groups):
    for g in groups.values():
        g["ours"] = [x for v in g["ours_by_run"].values() for x in v]
    return groups


def order_key(group):
    """The ORDER prefix, then the id with its numbers compared as numbers
    (fleet-50-500 before fleet-50-1000)."""
    natural = [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", group)]
    for i, p in enumerate(ORDER):
        if group.startswith(p):
            return (i, natural)
    return (len(ORDER), natural)


def table(groups):
    rows = ["| what | ours | reference, same run | ratio | runs | command, date |",
            "|---|---|---|---|---|---|"]
    for gid in sorted(groups, key=order_key):
        g = groups[gid]
        refs = [(k, v) for k, v in g["refs"].items() if k]
        ref_text = "; ".join(f"{k}: {spread(v['ref'], g['unit'])}" for k, v in refs) or "—"
        ratio_text = " / ".join(f"{spread(v['ratio'])}{v['text'] if v['text'].startswith('x') else ' ' + v['text']}"
                                for _, v in refs if v["ratio"]) or "—"
        note = g["notes"][-1] if g["notes"] else ""
        ours = spread(g["ours"], g["unit"]) + (f"; {note}" if note else "")
        n = max(len(g["ours"]), 1)
        rows.append(f"| {g['what']} | {ours} | {ref_text} | {ratio_text} | {n} | "
                    f"`{g['command']}`, {', '.join(sorted(g['dates']))} |")
    return "\n".join(rows)


# Detail files: the whole output of these benchmarks (their runs, SUMMARY
# lines left out), between markers.
DETAILS = {"pmda-prometheus/BENCHMARKS.md": ["parse", "fetch", "fleet"],
           "pmda-linux/BENCHMARKS.md": ["linux", "subtree"],
           "pmda-bpftrace/BENCHMARKS.md": ["bpftrace", "bpftrace-fetch"],
           "pcp-core/BENCHMARKS-pdu.md": ["pdu"],
           "pmda-nagios/BENCHMARKS.md": ["nagios"],
           "pmcd-BENCHMARKS.md": ["bpftrace-cpu"],
           "BENCHMARKS.md": ["exposition", "namespace", "host-overhead", "profile"]}
DBEGIN = "<!-- details:begin (written by scripts/bench-summary.sh; do not edit) -->"
DEND = "<!-- details:end -->"


def merge_groups(old, new, key):
    """Items of `old` and `new` (lists), grouped by `key`: a group that
    `new` has replaces the old one where it stood; old groups `new` lacks
    stay (benchmarks not re-run keep their figures); new groups with no
    old place go last."""
    out, placed = [], set()
    new_keys = {key(x) for x in new}
    for item in old:
        k = key(item)
        if k not in new_keys:
            out.append(item)
        elif k not in placed:
            placed.add(k)
            out.extend(x for x in new if key(x) == k)
    out.extend(x for x in new if key(x) not in placed)
    return out


def part_command(part):
    """The command a detail part's heading names (### `CMD`, ...)."""
    m = re.match(r"### `([^`]*)`", part)
    return m.group(1) if m else part


def details(results, target, benches):
    parts = []
    for b in benches:
        try:
            cmd = open(os.path.join(results, b + ".cmd")).read().strip()
        except OSError:
            continue
        runs = sorted(n for n in os.listdir(results) if n.startswith(b + ".") and n.endswith(".txt"))
        for n in runs:
            path = os.path.join(results, n)
            date = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(path)))
            body = "".join(l for l in open(path, errors="replace") if not l.startswith("SUMMARY "))
            run = n.rsplit(".", 2)[1]
            if b in ("fleet", "profile"):  # Markdown tables
                parts.append(f"### `{cmd}`, {date}\n\n{body.strip()}\n")
            else:
                parts.append(f"### `{cmd}`, run {run}, {date}\n\n```\n{body.strip()}\n```\n")
    if not parts:
        return
    old = open(target).read() if os.path.exists(target) else ""
    if DBEGIN in old and DEND in old:
        inner = old.split(DBEGIN, 1)[1].split(DEND, 1)[0].strip("\n")
        old_parts = ["### " + p.strip("\n") + "\n" for p in re.split(r"^### ", inner, flags=re.M) if p.strip()]
        parts = merge_groups(old_parts, parts, part_command)
    block = DBEGIN + "\n\n" + "\n".join(parts) + "\n" + DEND
    if DBEGIN in old and DEND in old:
        new = old.split(DBEGIN)[0] + block + old.split(DEND, 1)[1]
    else:
        new = old.rstrip("\n") + "\n\n## Latest runs\n\n" + block + "\n"
    open(target, "w").write(new)


def row_command(row):
    """The command of a summary row (its last cell: `CMD`, DATES)."""
    m = re.search(r"\| `([^`]*)`, [^|]*\|$", row)
    return m.group(1) if m else row


def main():
    results, target = sys.argv[1], sys.argv[2]
    for f, benches in DETAILS.items():
        details(results, f, benches)
    groups = finish(load(results))
    text = table(groups)
    try:
        old = open(target).read()
    except OSError:
        old = ""
    if BEGIN in old and END in old:
        # Rows of benchmarks not re-run this time are kept as they were.
        old_rows = [l for l in old.split(BEGIN, 1)[1].split(END, 1)[0].splitlines()
                    if l.startswith("| ") and not l.startswith("| what |")]
        head, new_rows = text.splitlines()[:2], text.splitlines()[2:]
        text = "\n".join(head + merge_groups(old_rows, new_rows, row_command))
    head = (f"{BEGIN}\n\nProduced by `scripts/bench-summary.sh` (last run {time.strftime('%Y-%m-%d')}); "
            "each row names the command that measured it and the date. A figure is the median of "
            "the runs (or of the alternating rounds a benchmark makes inside one run: the `runs` "
            "column counts them), minimum–maximum in brackets; a ratio is the median of the "
            "per-run ratios, measured against the reference in the same run.\n\n")
    block = head + text + "\n\n" + END
    try:
        old = open(target).read()
    except OSError:
        old = "# Benchmarks\n\n## Summary\n\n" + BEGIN + "\n" + END + "\n"
    if BEGIN in old and END in old:
        new = old.split(BEGIN)[0] + block + old.split(END, 1)[1]
    else:
        marker = "## Summary\n"
        new = old.replace(marker, marker + "\n" + block + "\n", 1) if marker in old else old + "\n" + block + "\n"
    open(target, "w").write(new)
    print(text)


if __name__ == "__main__":
    main()
