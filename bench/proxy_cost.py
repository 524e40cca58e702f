#!/usr/bin/env python3
#
# bench/proxy_cost.py -- the accounted proxy's own cost in instructions per
# call, counted by valgrind's callgrind: "bench/run.sh proxy_cost".
#
# Why: bench/proxy.py's ratios are what issue 9 asks for, but on a shared
# 2-core VM the plain path's own CPU per call moves by 30 % and more
# between runs (bench/RESULTS.md), more than the difference a change to
# the module makes.  Instructions executed do not move: the same calls
# give the same count to within a few per cent, so a change's effect shows
# even on a busy machine.  They are not time (a cache miss, a syscall, a
# wake-up cost more than an instruction), only the module's own work.
#
# How: the gateway of bench/proxy.py (same configuration, same fake
# provider) is started under callgrind, once per path; WARM calls, then N
# calls (default 3000) one after the other on one keep-alive connection,
# then nginx stops and callgrind writes its counts (all threads: the
# event loop and the store's SQLite thread).  Instructions per call =
# (count of the run with N calls - count of a run with WARM calls only)
# / N, per shared object; the accounted path's figure minus the plain
# path's is what the accounting adds.
#
# Environment: N (3000), WARM (50), KINDS (json,sse).  Needs valgrind.
# Runtime files: var/bench-pool/proxy/ (the bench's), var/bench-cost/.

import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy as P  # noqa: E402
from pool import stop  # noqa: E402
import vgtest as vg  # noqa: E402

N = int(os.environ.get("N", "3000"))
WARM = int(os.environ.get("WARM", "50"))
KINDS = os.environ.get("KINDS", "json,sse").split(",")
OUT = os.path.join(vg.ROOT, "var", "bench-cost")
GROUPS = (("module", "ngx_voicegw_module"), ("yajl", "libyajl"),
          ("sqlite", "libsqlite3"), ("libc", "libc.so"),
          ("nginx", "/nginx"))


def calls(s, kind, path, n):
    """n calls on one keep-alive connection; every answer 200, read whole"""
    body = P.jdump(P.BODIES[kind]).encode()
    req = (("POST %s HTTP/1.1\r\nHost: bench\r\n"
            "Content-Type: application/json\r\nX-VoiceGW-Project: %s\r\n"
            "Content-Length: %d\r\n\r\n")
           % (s.path(kind, path), P.PROJECT, len(body))).encode() + body
    c = socket.create_connection(("127.0.0.1", s.gw.port), timeout=60)
    f = c.makefile("rb")
    for _ in range(n):
        c.sendall(req)
        status = f.readline()
        if b" 200 " not in status:
            raise RuntimeError("%s %s: %r" % (kind, path, status))
        length, chunked = 0, False
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            k, v = h.split(b":", 1)
            if k.strip().lower() == b"content-length":
                length = int(v)
            elif k.strip().lower() == b"transfer-encoding":
                chunked = b"chunked" in v.lower()
        if chunked:
            while True:
                size = int(f.readline().split(b";")[0], 16)
                f.read(size + 2)
                if size == 0:
                    break
        else:
            f.read(length)
    c.close()


def counted(s, kind, path, n):
    """instructions of a whole gateway run with WARM + n calls, by object"""
    out = os.path.join(OUT, "%s.%s.%d.%%p" % (kind, path, n))
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
         vg.NGINX, "-p", s.gw.ng.prefix + "/", "-c", "conf/nginx.conf",
         "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not vg.wait_for(lambda: vg.port_open(s.gw.port), timeout=120):
            raise RuntimeError("the gateway under callgrind does not answer")
        if s.gw.store:
            vg.wait_for(lambda: "ready, schema version"
                        in s.gw.ng.error_log(), timeout=60)
        calls(s, kind, path, WARM + n)
        time.sleep(1.0)         # the recorder's last batch
    finally:
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=120)
    by = collections.Counter()
    for f in os.listdir(OUT):
        if not f.startswith("%s.%s.%d." % (kind, path, n)):
            continue
        by.update(objects(os.path.join(OUT, f)))
        os.unlink(os.path.join(OUT, f))
    return by


def objects(f):
    """instructions per shared object of one callgrind output file"""
    r = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100",
                        f],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    by = collections.Counter()
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name, n = m.group(2), int(m.group(1).replace(",", ""))
        group = "other"
        for g, needle in GROUPS:
            if needle in name:
                group = g
                break
        by[group] += n
    return by


def main():
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        print("proxy_cost: valgrind is not installed")
        return 1
    os.makedirs(OUT, exist_ok=True)
    s = P.Setup()
    try:
        stop(s.gw.ng)
        if s.norec:
            stop(s.norec.ng)
        print("proxy_cost: %d calls per path after %d, callgrind, "
              "instructions per call (all threads)" % (N, WARM))
        for kind in KINDS:
            per = {}
            for path in ("plain", "accounted"):
                base = counted(s, kind, path, 0)
                full = counted(s, kind, path, N)
                per[path] = {g: (full[g] - base[g]) / N
                             for g in set(full) | set(base)}
            groups = [g for g, _ in GROUPS] + ["other"]
            print("proxy_cost: %-5s %-10s %s  total" % (
                kind, "", " ".join("%8s" % g for g in groups)))
            for path in ("plain", "accounted"):
                print("proxy_cost: %-5s %-10s %s %8.0f" % (
                    kind, path, " ".join("%8.0f" % per[path].get(g, 0)
                                         for g in groups),
                    sum(per[path].values())))
            print("proxy_cost: %-5s %-10s %s %+8.0f" % (
                kind, "added", " ".join(
                    "%+8.0f" % (per["accounted"].get(g, 0)
                                - per["plain"].get(g, 0)) for g in groups),
                sum(per["accounted"].values()) - sum(per["plain"].values())))
    finally:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
