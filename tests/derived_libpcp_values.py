#!/usr/bin/python3
"""Fetches derived metrics and their operands from the local pmcd with
PCP's own libpcp, in one pmFetch, twice, and prints what it got as JSON,
for tests/derived_values.rs: the raw operand values (with descriptors and
instance names) and the derived values libpcp computed from them.

Usage: derived_libpcp_values.py SECONDS NAME... (derived names first,
then "--", then operand names)
"""
import json
import sys
import time

from pcp import pmapi
import cpmapi as c

delay = float(sys.argv[1])
args = sys.argv[2:]
cut = args.index("--")
derived, operands = args[:cut], args[cut + 1:]
ctx = pmapi.pmContext()
names = derived + operands
pmids = ctx.pmLookupName(names)
descs = ctx.pmLookupDescs(pmids)


def value(vlist, valfmt, desc):
    t = desc.contents.type
    if t == c.PM_TYPE_STRING:
        return ctx.pmExtractValue(valfmt, vlist, t, t).cp
    atom = ctx.pmExtractValue(valfmt, vlist, t, t)
    return {
        c.PM_TYPE_32: lambda a: a.l,
        c.PM_TYPE_U32: lambda a: a.ul,
        c.PM_TYPE_64: lambda a: a.ll,
        c.PM_TYPE_U64: lambda a: a.ull,
        c.PM_TYPE_FLOAT: lambda a: a.f,
        c.PM_TYPE_DOUBLE: lambda a: a.d,
    }[t](atom)


samples = []
for n in range(2):
    if n:
        time.sleep(delay)
    r = ctx.pmFetchHighRes(pmids)
    ts = r.contents.timestamp
    sample = {"sec": ts.tv_sec, "nsec": ts.tv_nsec, "values": {}}
    for i, name in enumerate(names):
        vs = r.contents.get_vset(i)
        numval = r.contents.get_numval(i)
        if numval < 0:
            sample["values"][name] = {"error": numval}
            continue
        vals = []
        for j in range(numval):
            vl = r.contents.get_vlist(i, j)
            vals.append([vl.inst & 0xffffffff, value(vl, vs.contents.valfmt, descs[i])])
        sample["values"][name] = {"values": vals}
    samples.append(sample)

meta = {}
for i, name in enumerate(names):
    d = descs[i].contents
    insts = []
    if d.indom != c.PM_INDOM_NULL:
        try:
            ids, inames = ctx.pmGetInDom(descs[i])
            insts = [[a & 0xffffffff, b] for a, b in zip(ids or [], inames or [])]
        except pmapi.pmErr:
            pass
    u = d.units
    meta[name] = {
        "pmid": pmids[i] & 0xffffffff,
        "type": d.type,
        "indom": d.indom & 0xffffffff,
        "sem": d.sem,
        "units": [u.dimSpace, u.dimTime, u.dimCount, u.scaleSpace, u.scaleTime, u.scaleCount],
        "instances": insts,
    }
print(json.dumps({"meta": meta, "samples": samples}))
