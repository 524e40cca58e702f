#!/usr/bin/env python3
#
# t/support/fake_dns.py -- a name server for tests: answers A queries for
# the names it is given with their IPv4 addresses, AAAA queries for them
# with no answer (NOERROR), anything else NXDOMAIN.  UDP only.  Every
# question it gets is appended to --record as "TYPE name" lines.
#
#   python3 t/support/fake_dns.py --listen 127.0.0.77 --port 53 \
#       --name api.fake.test=127.0.0.1 [--name ...] [--record FILE]
#
# Prints "ready" once it listens; SIGTERM stops it.

import argparse
import signal
import socket
import struct
import sys


def parse_name(data, off):
    labels = []
    while True:
        n = data[off]
        off += 1
        if n == 0:
            break
        labels.append(data[off:off + n].decode("ascii", "replace"))
        off += n
    return ".".join(labels).lower(), off


def answer(data, names, record):
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    name, off = parse_name(data, 12)
    qtype, qclass = struct.unpack("!HH", data[off:off + 4])
    question = data[12:off + 4]
    if record:
        with open(record, "a") as f:
            f.write("%s %s\n" % ({1: "A", 28: "AAAA"}.get(qtype, qtype),
                                 name))
    rcode, answers = 0, b""
    if name not in names:
        rcode = 3
    elif qtype == 1:
        answers = (b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 30, 4)
                   + socket.inet_aton(names[name]))
    head = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1,
                       1 if answers else 0, 0, 0)
    return head + question + answers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--name", action="append", default=[])
    ap.add_argument("--record")
    a = ap.parse_args()
    names = dict(n.lower().split("=", 1) for n in a.name)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((a.listen, a.port))
    signal.signal(signal.SIGTERM, lambda *x: sys.exit(0))
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(512)
        try:
            s.sendto(answer(data, names, a.record), peer)
        except (IndexError, struct.error):
            pass


if __name__ == "__main__":
    main()
