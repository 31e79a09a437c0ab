#!/usr/bin/python3
"""Run PCP 6.0.3 pmdaopenmetrics' own document handling on one file.

Loads the classes SampleLineParser, Metric and Source out of the installed
PMDA (its code, unmodified) and drives Source.parse_lines() with stubs in
place of the pmcd connection and the pickle id tables. Prints, as JSON, every
metric the reference would create: name, type, semantics, units, whether it
is singular, and its instances (named as the reference names them) with
values as the reference converts them at fetch time.

Usage: reference_parse.py DOC SOURCE_NAME
"""
import ast
import json
import re
import sys

PMDA = "/var/lib/pcp/pmdas/openmetrics/pmdaopenmetrics.python"

from pcp.pmapi import pmUnits, pmContext  # noqa: E402
from pcp.pmda import pmdaMetric  # noqa: E402
import cpmapi as c_api  # noqa: E402

tree = ast.parse(open(PMDA).read())
wanted = {"SampleLineParser", "Metric", "Source"}
body = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name in wanted]
consts = [n for n in tree.body if isinstance(n, ast.Assign)
          and all(isinstance(t, ast.Name) and t.id.isupper() for t in n.targets)]


class PersistentNameTable(object):
    """Stub: ids in order of first sight, nothing saved."""
    def __init__(self, thispmda, indom, maxnum):
        self.names = []
        self.prefix_mode = False

    def intern_lookup_value(self, name):
        if name not in self.names:
            self.names.append(name)
        return self.names.index(name)

    def save(self):
        pass


ns = {"re": re, "pmUnits": pmUnits, "pmContext": pmContext, "pmdaMetric": pmdaMetric,
      "c_api": c_api, "PersistentNameTable": PersistentNameTable}
exec(compile(ast.Module(body=consts + body, type_ignores=[]), PMDA, "exec"), ns)


class FakePMDA(object):
    dbg = False

    def __init__(self):
        self.metrics = {}
        self.regex = {}

    def pmid(self, cluster, item):
        return (144 << 22) | (cluster << 10) | item

    def indom(self, n):
        return (144 << 22) | n

    def add_metric(self, name, obj, oneline, text):
        self.metrics[name] = (oneline, text)

    def lookup_regex(self, pat):
        return self.regex.setdefault(pat, re.compile(pat))

    def set_need_refresh(self):
        pass

    def set_notify_change(self):
        pass

    def debug(self, s):
        pass

    def log(self, s):
        pass

    def err(self, s):
        sys.stderr.write("reference: %s\n" % s)


def main():
    doc, source_name = sys.argv[1], sys.argv[2]
    pmda = FakePMDA()
    src = ns["Source"].__new__(ns["Source"])
    src.name = source_name
    src.cluster = 1
    src.pmda = pmda
    src.metrics_by_name = {}
    src.metrics_by_num = {}
    src.filterlist = None
    src.metadatalist = None
    src.pmids_table = PersistentNameTable(pmda, 1, 0x3ff)
    src.parse_error = False
    text = open(doc).read()
    src.parse_lines(text)
    out = []
    for m in src.metrics_by_num.values():
        insts = {}
        for inst, raw in m.values.items():
            # As text (repr round-trips exactly): JSON float parsers may not.
            val = repr(float(raw))
            if m.singular:
                insts["PM_IN_NULL"] = val
            else:
                name = m.indom_table.names[inst]
                if m.indom_table.prefix_mode:
                    name = "%d %s" % (inst, name)
                insts[name] = val
        u = m.munits
        out.append({
            "name": m.mname, "pmid_item": m.metricnum, "type": m.mtype, "sem": m.msem,
            "units": [u.dimSpace, u.dimTime, u.dimCount, u.scaleSpace, u.scaleTime, u.scaleCount],
            "singular": bool(m.singular), "instances": insts,
            "oneline": pmda.metrics.get(m.mname, ("", ""))[0],
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
