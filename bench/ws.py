#!/usr/bin/env python3
#
# bench/ws.py -- the WebSocket side of issue 10 (point 7), called by
# "bench/run.sh ws" ("./build.sh bench ws"), or directly.
#
#   rtt     a duplex session relayed by the gateway (voicegw_task
#           omni_duplex queue_frames=on: the gateway's handshake, queue
#           frames, the frame-aware relay) against plain nginx WebSocket
#           proxying (proxy_pass with Upgrade) of the same fake worker, in
#           the same nginx, alternating: per-frame round trip, the client
#           sending 1 s audio chunks as base64 JSON (16 kHz float32: 85 KB
#           frames, as the pages send) and the worker answering each with a
#           result frame of the same size.  ROUNDS (4) sessions per path of
#           FRAMES (150) frames each; p50 / p90 / p99 per path.
#                                       target: relay p99 <= 1.10 x plain p99
#   queued  SESSIONS (500) duplex sessions queued at once behind a busy
#           worker (each has its 101 and "queued", and has sent a small
#           "prepare" that waits for the worker), in a gateway whose zone is
#           SESSIONS x 4 KiB: all of them must be queued (no zone_full,
#           no queue full); the nginx worker's RSS growth per session.
#                     target: <= 4 KiB of zone, <= 64 KiB of memory each
#
# Python fakes and clients on both paths alike: the ratio is what counts.

import base64
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool import nginx, out, pct, proc_mem, stop, workdir  # noqa: E402
import vgtest as vg  # noqa: E402
import ws_client as wsc  # noqa: E402

ROUNDS = int(os.environ.get("ROUNDS", "4"))
FRAMES = int(os.environ.get("FRAMES", "150"))
SESSIONS = int(os.environ.get("SESSIONS", "500"))


def gateway_conf(port, fake_port, zone):
    return """
    voicegw_zone vg_bench %(zone)s;
    upstream vgpool {
        voicegw_pool queue=%(q)d queue_timeout=60m health_interval=60s;
        server 127.0.0.1:%(fp)d;
    }
    upstream plainws {
        server 127.0.0.1:%(fp)d;
    }
    map $http_upgrade $vg_connection { default upgrade; '' close; }
    server {
        listen 127.0.0.1:%(p)d;
        access_log off;
        proxy_http_version 1.1;
        proxy_buffering off;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $vg_connection;
        proxy_read_timeout 3600s;
        location ~ "^/plain/ws/duplex/([A-Za-z0-9_-]+)$" {
            proxy_pass http://plainws/ws/duplex?session_id=$1;
        }
        location ~ "^/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=vgpool session=$1 cache_key=$1
                         queue_frames=on;
            proxy_pass http://vgpool/ws/duplex?session_id=$1;
        }
        location / { voicegw_api; }
    }
    """ % {"zone": zone, "q": SESSIONS + 10, "fp": fake_port, "p": port}


def chunk_message():
    audio = base64.b64encode(os.urandom(16000 * 4)).decode("ascii")
    msg = {"type": "audio_chunk", "audio_base64": audio}
    size = len(json.dumps(msg))
    msg["_big_frame"] = size
    return msg, size


def session(port, path, sid, frames, msg):
    c = wsc.WSClient.connect("ws://127.0.0.1:%d%s%s" % (port, path, sid),
                             timeout=30)
    if c.status != 101:
        raise RuntimeError("%s: %s" % (path, c.status))
    if not path.startswith("/plain"):
        m = c.recv_json(10)
        if m.get("type") != "queue_done":
            raise RuntimeError("expected queue_done, got %r" % m)
    c.send_json({"type": "prepare"})
    m = c.recv_json(10)
    if m.get("type") != "prepared":
        raise RuntimeError("expected prepared, got %r" % m)
    text = json.dumps(msg)
    rtts, sizes = [], set()
    for _ in range(frames):
        t0 = time.perf_counter()
        c.send_text(text)
        r = c.recv(30)
        rtts.append((time.perf_counter() - t0) * 1e6)
        if r is None or r.kind != "text":
            raise RuntimeError("no answer: %r" % r)
        sizes.add(r.size)
    c.send_json({"type": "stop"})
    c.recv(5)
    c.close()
    return rtts, sizes


def bench_rtt(d, port, fake_port):
    name = "ws rtt"
    msg, size = chunk_message()
    out(name, "frames of %d bytes both ways, %d per session, %d sessions "
        "per path, alternating", size, FRAMES, ROUNDS)
    res = {"plain": [], "relay": []}
    for r in range(ROUNDS):
        order = ("plain", "relay") if r % 2 == 0 else ("relay", "plain")
        for p in order:
            path = "/plain/ws/duplex/" if p == "plain" else "/ws/duplex/"
            vg.wait_for(lambda: all(w["status"] == "idle" for w in
                                    vg.get(port, "/workers").json()
                                    ["workers"]), timeout=10)
            rtts, sizes = session(port, path, "b%s%d" % (p, r), FRAMES, msg)
            res[p] += rtts[5:]          # the first few warm up
            out(name, "round %d %-5s p50 %7.0f p99 %7.0f us (answers of %s "
                "bytes)", r, p, pct(rtts, 50), pct(rtts, 99),
                ",".join(str(s) for s in sorted(sizes)))
    for p in ("plain", "relay"):
        v = res[p]
        out(name, "%-5s n %d  p50 %7.0f  p90 %7.0f  p99 %7.0f  mean %7.0f us",
            p, len(v), pct(v, 50), pct(v, 90), pct(v, 99),
            statistics.mean(v))
    ratio = pct(res["relay"], 99) / pct(res["plain"], 99)
    out(name, "relay p99 / plain p99 = %.3f (p50 ratio %.3f) -> %s", ratio,
        pct(res["relay"], 50) / pct(res["plain"], 50),
        "MET" if ratio <= 1.10 else "MISSED")


def bench_queued(d):
    name = "ws queued"
    fake = vg.FakeWorker(d).start()
    port = vg.free_port()
    zone = "%dk" % (SESSIONS * 4)
    ng = nginx(d, gateway_conf(port, fake.port, zone), workers=1,
               conns=SESSIONS * 2 + 100).start(wait_ports=[port])
    clients = []
    try:
        vg.wait_for(lambda: vg.get(port, "/status").json()["idle_workers"]
                    == 1, timeout=10)
        holder = wsc.WSClient.connect("ws://127.0.0.1:%d/ws/duplex/hold"
                                      % port, timeout=10)
        holder.recv_json(5)
        pid = ng.worker_pids()[0]
        time.sleep(0.5)
        before = proc_mem(pid)
        bad = []
        t0 = time.time()
        for i in range(SESSIONS):
            c = wsc.WSClient.connect("ws://127.0.0.1:%d/ws/duplex/q%d"
                                     % (port, i), timeout=30)
            c.send_json({"type": "prepare", "system_prompt": "hi"})
            m = c.recv_json(10)
            if not m or m.get("type") != "queued":
                bad.append(m)
            clients.append(c)
        secs = time.time() - t0
        time.sleep(0.5)
        after = proc_mem(pid)
        st = vg.get(port, "/status").json()
        grow = (after["VmRSS"] - before["VmRSS"]) * 1024.0 / SESSIONS
        out(name, "%d sessions opened and queued in %.1f s, %d not queued "
            "(%s); queue_length %d", SESSIONS, secs, len(bad),
            bad[:2], st["queue_length"])
        out(name, "zone %s = %d x 4 KiB held them all: %s", zone, SESSIONS,
            "MET" if not bad and st["queue_length"] == SESSIONS
            else "MISSED")
        out(name, "worker RSS %d -> %d KiB: %.1f KiB per queued session "
            "-> %s", before["VmRSS"], after["VmRSS"], grow / 1024,
            "MET" if grow <= 64 * 1024 else "MISSED")
        errs = [l for l in ng.error_log().splitlines()
                if re.search(r"\[(crit|alert|emerg)\]", l)]
        out(name, "error.log: %d crit/alert lines", len(errs))
        holder.close()
    finally:
        for c in clients:
            try:
                c.abort()
            except OSError:
                pass
        stop(ng)
        fake.stop()


def main():
    d = workdir("ws")
    fake = vg.FakeWorker(d).start()
    port = vg.free_port()
    ng = nginx(d, gateway_conf(port, fake.port, "8m"),
               workers=1).start(wait_ports=[port])
    try:
        vg.wait_for(lambda: vg.get(port, "/status").json()["idle_workers"]
                    == 1, timeout=10)
        if "rtt" in sys.argv[1:] or len(sys.argv) == 1:
            bench_rtt(d, port, fake.port)
    finally:
        stop(ng)
        fake.stop()
    if "queued" in sys.argv[1:] or len(sys.argv) == 1:
        bench_queued(workdir("ws-queued"))


if __name__ == "__main__":
    main()
