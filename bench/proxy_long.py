#!/usr/bin/env python3
#
# bench/proxy_long.py -- a long conversation through the provider proxy
# (issue 9; not one of its target rows): "bench/run.sh proxy_long", or
# directly.  The setup of bench/proxy.py (one gateway nginx with the
# accounted location and a plain proxy_pass location to the same fake
# provider nginx, and the gateway without a recorder, "norec"), with a
# chat request of TURNS (60) messages, about 16 KB of JSON: past nginx's
# default client_body_buffer_size (8k), which is what a voice agent's
# calls look like after a few minutes of talk.  The answer is the small
# JSON one.
#
# Per round, the order of the paths alternating: wrk -t1 -c32 for DURATION
# (5 s): req/s; wrk -t1 -c1 --latency for DURATION: p50 and p99.  ROUNDS
# (3).  Prints the medians and the ratios to plain.  Every run must have
# no non-2xx answer.
#
# What it showed (bench/RESULTS.md, "a long conversation"): a 40 ms wait on
# every call (Nagle's algorithm against the provider's delayed ACK), then
# a temporary file per call, then the parse of the messages.

import json
import os
import statistics
import sys

sys.argv = sys.argv[:1]
os.environ.setdefault("NOREC", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proxy as P  # noqa: E402
from pool import out, wrk, wrk_post_script  # noqa: E402

NAME = "proxy_long"
TURNS = int(os.environ.get("TURNS", "60"))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
DURATION = int(os.environ.get("DURATION", "5").rstrip("s"))
PATHS = ("plain", "accounted", "norec")


def body():
    msgs = [{"role": "system", "content": "You are a helpful assistant."}]
    for i in range(TURNS):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant",
                     "content": "Turn %d: %s" % (
                         i, "the quick brown fox jumps over the lazy dog "
                         * 5)})
    return json.dumps({"model": P.MODEL, "messages": msgs})


def run(url, script, conns):
    r = wrk(url, conns=conns, duration=DURATION, script=script)
    return (r["rps"], r["lat"].get(50, 0) * 1000, r["lat"].get(99, 0) * 1000,
            r["non2xx"])


def main():
    s = P.Setup()
    try:
        b = body()
        script = wrk_post_script(s.d, "long", b,
                                 {"X-VoiceGW-Project": P.PROJECT})
        out(NAME, "request body %d bytes (%d messages)", len(b), TURNS + 1)
        res = {}
        for rnd in range(ROUNDS):
            order = PATHS[rnd % 3:] + PATHS[:rnd % 3]
            for path in order:
                rps = run(s.url("json", path), script, 32)
                one = run(s.url("json", path), script, 1)
                res.setdefault(path, []).append((rps[0], one[1], one[2],
                                                 rps[3] + one[3]))
        for path in PATHS:
            r = res[path]
            med = [statistics.median(x[i] for x in r) for i in range(3)]
            base = [statistics.median(x[i] for x in res["plain"])
                    for i in range(3)]
            out(NAME, "%-9s req/s %.0f (rounds %s) = %.2f x plain; -c1 p50 "
                "%.0f us, p99 %.0f us (+%.0f); non-2xx %d", path, med[0],
                "/".join("%.0f" % x[0] for x in r), med[0] / base[0],
                med[1], med[2], med[2] - base[2], sum(x[3] for x in r))
    finally:
        s.close()


if __name__ == "__main__":
    main()
