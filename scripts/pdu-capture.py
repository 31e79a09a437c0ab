#!/usr/bin/env python3
"""A recording relay between PCP clients and a pmcd.

Listens on a TCP port (or a unix socket), connects each client to the
upstream pmcd (TCP host:port or a unix socket path), relays bytes both ways
untouched and writes every whole PDU to a transcript, one file per
connection:

    # client: <label>
    > 00000014 0000700c ...     (client -> pmcd)
    < 00000014 00007000 ...     (pmcd -> client)

Used to make the client-side fixtures in tests/fixtures/pmcd-clients/
(see that directory's README). Standard library only.

usage: pdu-capture.py LISTEN UPSTREAM OUTDIR [LABEL]
  LISTEN    127.0.0.1:PORT or unix:/path
  UPSTREAM  127.0.0.1:PORT or unix:/path
"""
import os
import selectors
import socket
import struct
import sys
import threading


def endpoint(spec):
    if spec.startswith("unix:"):
        return socket.AF_UNIX, spec[5:]
    host, port = spec.rsplit(":", 1)
    return socket.AF_INET, (host, int(port))


class Splitter:
    """Cuts a byte stream into whole PDUs by their length word."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 4:
            (n,) = struct.unpack(">i", self.buf[:4])
            if n < 12:
                # Not PDU framing (a corrupt stream): dump the rest raw.
                out.append(self.buf)
                self.buf = b""
                break
            if len(self.buf) < n:
                break
            out.append(self.buf[:n])
            self.buf = self.buf[n:]
        return out


def hexwords(pdu):
    h = pdu.hex()
    return " ".join(h[i : i + 8] for i in range(0, len(h), 8))


def relay(client, upstream_spec, path, label):
    fam, addr = endpoint(upstream_spec)
    up = socket.socket(fam, socket.SOCK_STREAM)
    up.connect(addr)
    sel = selectors.DefaultSelector()
    sel.register(client, selectors.EVENT_READ, ("> ", up, Splitter()))
    sel.register(up, selectors.EVENT_READ, ("< ", client, Splitter()))
    with open(path, "w") as log:
        log.write("# client: %s\n" % label)
        live = True
        while live:
            for key, _ in sel.select():
                tag, peer, split = key.data
                try:
                    data = key.fileobj.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    live = False
                    break
                try:
                    peer.sendall(data)
                except OSError:
                    live = False
                for pdu in split.feed(data):
                    log.write(tag + hexwords(pdu) + "\n")
                log.flush()
    client.close()
    up.close()


def main():
    listen, upstream, outdir = sys.argv[1:4]
    label = sys.argv[4] if len(sys.argv) > 4 else ""
    os.makedirs(outdir, exist_ok=True)
    fam, addr = endpoint(listen)
    srv = socket.socket(fam, socket.SOCK_STREAM)
    if fam == socket.AF_INET:
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    elif os.path.exists(addr):
        os.unlink(addr)
    srv.bind(addr)
    srv.listen(64)
    n = 0
    while True:
        c, _ = srv.accept()
        n += 1
        path = os.path.join(outdir, "conn%03d.pdus" % n)
        threading.Thread(target=relay, args=(c, upstream, path, label), daemon=True).start()


if __name__ == "__main__":
    main()
