#!/usr/bin/env python3
"""Holds N connections to an HTTP server, each having sent half a request
head, for SECONDS; a connection the server answers or closes is replaced
at once by a new one. Prints "open K" each second (connections open at
that moment) and, at the end, "answers STATUS COUNT" lines.

    scripts/slow-heads.py HOST PORT N SECONDS

Used by scripts/serve-bench.sh to measure a server's other clients while
slow clients occupy it (the "slowloris" pattern).
"""
import collections
import resource
import selectors
import socket
import sys
import time

HALF_HEAD = b"GET /metrics HTTP/1.1\r\nHost: x\r\n"


def main():
    host, port, n, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1024), hard))
    sel = selectors.DefaultSelector()
    answers = collections.Counter()

    def open_one():
        s = socket.socket()
        try:
            s.connect((host, port))
            s.sendall(HALF_HEAD)
        except OSError:
            s.close()
            answers["connect failed"] += 1
            return False
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        return True

    for _ in range(n):
        open_one()
    end = time.monotonic() + seconds
    next_report = time.monotonic()
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            try:
                data = s.recv(64)
            except OSError:
                data = b""
            status = data.split(b" ")[1].decode() if data.startswith(b"HTTP/") else "closed"
            answers[status] += 1
            sel.unregister(s)
            s.close()
            open_one()
        if time.monotonic() >= next_report:
            print(f"open {len(sel.get_map())}", flush=True)
            next_report += 1.0
    for status, count in sorted(answers.items()):
        print(f"answers {status} {count}", flush=True)


if __name__ == "__main__":
    main()
