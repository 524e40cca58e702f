#!/usr/bin/env python3
#
# bench/proxy_ab.py -- the accounted proxy against plain proxy_pass in
# short alternating runs: "bench/run.sh proxy_ab".
#
# Why: bench/proxy.py's rounds run each path for DURATION seconds, one
# after the other; on this shared 2-core VM the host's speed drifts by 20
# to 30 % within a minute, so a round's ratio moves by as much as a change
# to the module would.  Here the two paths take turns every D seconds
# (plain first, then accounted first, and so on), PAIRS times, and each
# figure is the median over the pairs of the difference within a pair:
# the drift is shared by the two runs of a pair.  It is the tool to tell
# which part of the accounting costs what (apply a change, run it, compare
# the median added CPU), not the target, which bench/proxy.py
# measures.
#
# What: the gateway and the fake provider of bench/proxy.py, KIND (json)
# calls with wrk -t1 -c32; per run the requests per second and the
# gateway's CPU per call, event-loop thread alone and all threads (with the store's SQLite
# thread).  Report: the median of accounted / plain req/s over the pairs,
# the median added event-loop CPU per call, each pair's figures.
#
# Environment: KIND (json or sse), PAIRS (16), D (3, seconds a run).
# Runtime files: var/bench-pool/proxy/ (the bench's).

import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy as P  # noqa: E402
from pool import wrk  # noqa: E402
from records import main_cpu  # noqa: E402

KIND = os.environ.get("KIND", "json")
PAIRS = int(os.environ.get("PAIRS", "16"))
D = int(os.environ.get("D", "3"))


def run(s, path):
    pid = s.gateway(path).pid
    loop0, all0 = main_cpu([pid]), P.proc_cpu(pid)
    r = wrk(s.url(KIND, path), conns=P.CONNS, script=s.scripts[KIND],
            duration=D)
    n = max(r["requests"], 1)
    if r["non2xx"] or r["errors"]:
        sys.exit("proxy_ab: %s: %d non-2xx, %d socket errors"
                 % (path, r["non2xx"], r["errors"]))
    return (r["rps"], (main_cpu([pid]) - loop0) / n * 1e6,
            (P.proc_cpu(pid) - all0) / n * 1e6)


def main():
    s = P.Setup()
    pairs = []
    try:
        for i in range(PAIRS):
            order = ("plain", "accounted") if i % 2 == 0 else ("accounted",
                                                               "plain")
            got = {path: run(s, path) for path in order}
            pairs.append((got["plain"], got["accounted"]))
    finally:
        s.close()

    ratio = [a[0] / p[0] for p, a in pairs]
    loop = [a[1] - p[1] for p, a in pairs]
    every = [a[2] - p[2] for p, a in pairs]
    print("proxy_ab: %s, %d pairs of %d s runs, wrk -c%d" % (KIND, PAIRS, D,
                                                             P.CONNS))
    print("proxy_ab: req/s accounted / plain: median %.3f (pairs: %s)"
          % (statistics.median(ratio), " ".join("%.2f" % x for x in ratio)))
    print("proxy_ab: added CPU per call: event loop median %+.1f us "
          "(pairs: %s); all threads %+.1f us; plain's event loop %.1f us"
          % (statistics.median(loop), " ".join("%.1f" % x for x in loop),
             statistics.median(every),
             statistics.median(p[1] for p, a in pairs)))


if __name__ == "__main__":
    main()
