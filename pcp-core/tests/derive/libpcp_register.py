#!/usr/bin/env python3
"""Registers derived metric expressions with PCP's own libpcp and prints
what pmRegisterDerivedMetric says about each, for the differential test
pcp-core/tests/derive_libpcp.rs.

Input (stdin): one JSON string per line, an expression.
Output (stdout): one JSON object per line: {"ok": bool, "message": str|null}.
Each expression is registered under a fresh name (t.eN), so duplicates of
an earlier success are not refused as duplicates.
"""
import ctypes
import json
import sys

lib = ctypes.CDLL("libpcp.so.3")
lib.pmRegisterDerivedMetric.argtypes = [
    ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p)]
lib.pmRegisterDerivedMetric.restype = ctypes.c_int

out = sys.stdout
for n, line in enumerate(sys.stdin):
    expr = json.loads(line)
    err = ctypes.c_char_p()
    name = ("t.e%d" % n).encode()
    sts = lib.pmRegisterDerivedMetric(name, expr.encode("utf-8", "surrogateescape"), ctypes.byref(err))
    msg = err.value.decode("utf-8", "replace") if err.value else None
    out.write(json.dumps({"ok": sts == 0, "message": msg}) + "\n")
    # libpcp's scanner keeps its "inside matchinst(" flag across calls
    # when a parse fails inside one: a good matchinst clears it, so each
    # expression is read from a clean state.
    lib.pmRegisterDerivedMetric(("t.r%d" % n).encode(), b"matchinst(/x/, a)", ctypes.byref(err))
out.flush()
