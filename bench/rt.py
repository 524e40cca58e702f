#!/usr/bin/env python3
#
# bench/rt.py -- the cost of accounting real-time streams (issue 12, point
# 6), called by "bench/run.sh rt" ("./build.sh bench rt"), or directly.
#
# SESSIONS (200) concurrent Deepgram live STT sessions, each sending 16 kHz
# mono linear16 PCM in real time (one 640-byte binary frame, 20 ms of
# audio, every 20 ms), through one nginx (worker_processes WORKERS, 2) with
# two locations to the same fake provider (t/support/fake_ws_provider.py
# --selector, its own process):
#
#   accounted  location /p/ { voicegw_proxy; }: provider dg type=deepgram,
#              model dg/nova-3 priced per minute, voicegw_store with
#              flush=100ms: the gateway's frame-aware relay, the units read
#              from the stream, one record per session
#   plain      location /plain/ { proxy_pass ...; } with Upgrade and the
#              key header: nginx's own WebSocket proxying
#
# ROUNDS (3) rounds of SECONDS (20) per path, alternating the order of the
# paths, in the same nginx and the same run. The client is one Python
# process (asyncio protocols, one timer for all sessions: 20 groups 1 ms
# apart), the same on both paths. Per path:
#   latency   per frame: from the write of binary frame K to the arrival
#             of the fake's Results with "seq":K (client side, monotonic
#             clock); p50 / p90 / p99 over every frame of every session
#   CPU       utime + stime of every nginx worker process over the round
#             (connects, streaming, CloseStream and close) / SESSIONS
# At the end of each round every client sends {"type":"CloseStream"} and
# waits for the Metadata and the Close (checked: its duration is the audio
# sent), so each accounted session becomes one record.
# Report: added p99 (accounted p99 - plain p99; target <= 100 us) and CPU
# per session accounted / plain (target <= 1.10), both over all rounds and
# paired per round. Also shown: the client's lateness against its
# schedule and the CPU share of the client and the fake (on few cores they
# compete with nginx; a busy fake or a late client shows up in both paths
# alike, but makes the latency figures noisier).
#
# Environment: ROUNDS (3), SECONDS (20), SESSIONS (200), WORKERS (2),
# PATHS (plain,accounted; "plain" alone runs without the voicegw
# directives, so with an nginx that does not load the module:
# TEST_NGINX_LOAD_MODULES= PATHS=plain python3 bench/rt.py), FAKE_SELECTOR
# (1; 0 runs the fake with a thread per session: at 200 sessions it then
# needs ~90% of a core instead of ~40%, and its latency dominates).
# Runtime files: var/bench-pool/rt/.

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pool import nginx, out, pct, stop, workdir  # noqa: E402
from proxy import proc_cpu, loadavg  # noqa: E402
import vgtest as vg  # noqa: E402
import ws_client as wsc  # noqa: E402

NAME = "rt"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SECONDS = float(os.environ.get("SECONDS", "20"))
SESSIONS = int(os.environ.get("SESSIONS", "200"))
WORKERS = int(os.environ.get("WORKERS", "2"))
FAKE_SELECTOR = os.environ.get("FAKE_SELECTOR", "1") != "0"
PATHS = [p for p in os.environ.get("PATHS", "plain,accounted").split(",")
         if p]
KEY = "dg-bench-0123456789abcdef"
QUERY = "model=nova-3&encoding=linear16&sample_rate=16000&channels=1"
FRAME_BYTES = 640                     # 20 ms of 16 kHz mono linear16
PERIOD = 0.020
GROUPS = 20                           # send groups, 1 ms apart
CLOSE_STREAM = wsc.encode_frame(wsc.OP_TEXT, b'{"type":"CloseStream"}',
                                mask=True)


def gateway_conf(port, fake_port, d, secret):
    vgw = ""
    if "accounted" in PATHS:
        vgw = """
    voicegw_zone vg_rt 16m;
    voicegw_provider_destinations public loopback;
    voicegw_store %(d)s/vg.db flush=100ms;
    voicegw_secret %(secret)s;
    voicegw_provider dg type=deepgram key=%(key)s
                     base_url=http://127.0.0.1:%(fp)d;
    voicegw_model dg/nova-3 modality=stt price_per_minute=0.0048;
""" % {"d": d, "secret": secret, "key": KEY, "fp": fake_port}
    acc = "location /p/ { voicegw_proxy; }" if "accounted" in PATHS else ""
    return vgw + """
    server {
        listen 127.0.0.1:%(p)d;
        access_log off;
        %(acc)s
        location /plain/ {
            proxy_pass http://127.0.0.1:%(fp)d/;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection upgrade;
            proxy_set_header Authorization "Token %(key)s";
            proxy_read_timeout 60s;
        }
    }
""" % {"p": port, "fp": fake_port, "key": KEY, "acc": acc}


def workers_cpu(ng):
    total = 0.0
    for pid in ng.worker_pids():
        try:
            total += proc_cpu(pid)
        except OSError:
            pass
    return total


def self_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# -- the client ----------------------------------------------------------------

class Stream(asyncio.Protocol):
    """One STT session: handshake, then frames parsed as they come; the
    latency of each Results is booked against the write of its frame."""

    def __init__(self, rt, target):
        self.rt = rt
        self.target = target
        self.buf = bytearray()
        self.open = False
        self.sent = {}
        self.metadata = None
        self.close_code = None
        self.results = 0
        self.error = None
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self.done = loop.create_future()
        self.frame = wsc.encode_frame(wsc.OP_BINARY,
                                      os.urandom(FRAME_BYTES), mask=True)
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        key = "dGhlIHNhbXBsZSBub25jZQ=="
        transport.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n"
                         % (self.target, key)).encode())

    def fail(self, why):
        if self.error is None:
            self.error = why
        for f in (self.ready, self.done):
            if not f.done():
                f.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data):
        now = time.monotonic()
        buf = self.buf
        buf += data
        if not self.open:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(buf[:i])
            del buf[:i + 4]
            if not head.startswith(b"HTTP/1.1 101"):
                self.fail("handshake: %r" % head.split(b"\r\n")[0])
                return
            self.open = True
            self.ready.set_result(True)
        lat = self.rt.lat
        sent = self.sent
        while len(buf) >= 2:
            op = buf[0] & 0x0F
            n = buf[1] & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n = (buf[2] << 8) | buf[3]
                pos = 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n = int.from_bytes(buf[2:10], "big")
                pos = 10
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos:pos + n])
            del buf[:pos + n]
            if op == wsc.OP_TEXT:
                j = payload.rfind(b'"seq":')
                if j >= 0:
                    seq = int(payload[j + 6:payload.index(b"}", j)])
                    t = sent.pop(seq, None)
                    if t is not None:
                        lat.append(now - t)
                        self.results += 1
                elif b'"Metadata"' in payload:
                    self.metadata = json.loads(payload)
            elif op == wsc.OP_CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") \
                    if len(payload) >= 2 else 1005
                self.transport.write(wsc.encode_frame(
                    wsc.OP_CLOSE, payload[:2], mask=True))
                self.transport.close()
                return

    def connection_lost(self, exc):
        for f in (self.ready, self.done):
            if not f.done():
                f.set_result(self.close_code is not None)


class Round(object):
    def __init__(self, port, path):
        self.port = port
        self.path = path
        self.lat = []
        self.late = []

    async def run(self):
        loop = asyncio.get_running_loop()
        target = ("/p/dg/v1/listen?" if self.path == "accounted"
                  else "/plain/v1/listen?") + QUERY
        streams = []

        async def connect():
            s = Stream(self, target)
            await loop.create_connection(lambda: s, "127.0.0.1", self.port)
            streams.append(s)
            return await asyncio.wait_for(s.ready, 30)

        oks = await asyncio.gather(*[connect() for _ in range(SESSIONS)],
                                   return_exceptions=True)
        failed = [o for o in oks if o is not True]
        if failed:
            raise RuntimeError("%s: %d of %d handshakes failed: %r" % (
                self.path, len(failed), SESSIONS,
                [s.error for s in streams if s.error][:3] or failed[:3]))
        groups = [streams[g::GROUPS] for g in range(GROUPS)]
        frames = int(round(SECONDS / PERIOD))
        t0 = loop.time() + 0.05
        mono0 = time.monotonic() + 0.05
        for k in range(frames):
            for g, group in enumerate(groups):
                due = k * PERIOD + g * (PERIOD / GROUPS)
                wait = t0 + due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                now = time.monotonic()
                self.late.append(now - (mono0 + due))
                for s in group:
                    s.sent[k] = now
                    s.transport.write(s.frame)
        # the last answers, then CloseStream -> Metadata + Close
        deadline = time.monotonic() + 5
        while any(s.sent for s in streams) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for s in streams:
            s.transport.write(CLOSE_STREAM)
        await asyncio.wait_for(asyncio.gather(*[s.done for s in streams]),
                               30)
        self.frames = frames
        self.streams = streams
        return self


def run_round(port, path, ng, fake_pid):
    cpu0, me0, fake0 = workers_cpu(ng), self_cpu(), proc_cpu(fake_pid)
    w0 = time.monotonic()
    r = asyncio.run(Round(port, path).run())
    wall = time.monotonic() - w0
    cpu1, me1, fake1 = workers_cpu(ng), self_cpu(), proc_cpu(fake_pid)
    missing = sum(len(s.sent) for s in r.streams)
    want = r.frames * FRAME_BYTES / 32000.0
    bad_meta = [s.metadata for s in r.streams
                if not s.metadata or abs(s.metadata["duration"] - want)
                > 1e-6]
    bad_close = [s.close_code for s in r.streams if s.close_code != 1000]
    lat = [v * 1e6 for v in r.lat]
    res = {"path": path, "n": len(lat), "missing": missing,
           "p50": pct(lat, 50), "p90": pct(lat, 90), "p99": pct(lat, 99),
           "mean": statistics.mean(lat) if lat else float("nan"),
           "cpu": cpu1 - cpu0, "cpu_session": (cpu1 - cpu0) / SESSIONS,
           "client_busy": (me1 - me0) / wall,
           "fake_busy": (fake1 - fake0) / wall, "wall": wall,
           "late_p99": pct([v * 1e6 for v in r.late], 99),
           "bad_meta": len(bad_meta), "bad_close": len(bad_close),
           "lat": lat}
    if bad_meta or bad_close:
        out(NAME, "WARNING %s: %d sessions without the right Metadata "
            "(%r), %d without Close 1000 (%r)", path, len(bad_meta),
            bad_meta[:2], len(bad_close), bad_close[:3])
    return res


def show(r, tag):
    out(NAME, "%s %-9s p50 %6.0f  p90 %6.0f  p99 %6.0f  mean %6.0f us "
        "(n %d, %d unanswered)  nginx CPU %.2f s = %.2f ms/session  "
        "client %.0f%% fake %.0f%% of a core, client late p99 %.0f us",
        tag, r["path"], r["p50"], r["p90"], r["p99"], r["mean"], r["n"],
        r["missing"], r["cpu"], r["cpu_session"] * 1e3,
        r["client_busy"] * 100, r["fake_busy"] * 100, r["late_p99"])


def main():
    d = workdir(NAME)
    fake = vg.FakeWSProvider(d, KEY, *(["--selector"] if FAKE_SELECTOR
                                       else []))
    secret = vg.secret_key(d) if "accounted" in PATHS else None
    port = vg.free_port()
    ng = nginx(d, gateway_conf(port, fake.port, d, secret), workers=WORKERS,
               conns=SESSIONS * 2 + 100)
    out(NAME, "%d sessions x %d-byte frames every %d ms (%d frames/s each "
        "way), %g s per round, %d rounds, paths %s, nginx workers %d; "
        "load %s, %d cores", SESSIONS, FRAME_BYTES, PERIOD * 1000,
        SESSIONS / PERIOD, SECONDS, ROUNDS, ",".join(PATHS), WORKERS,
        loadavg(), os.cpu_count())
    res = {p: [] for p in PATHS}
    try:
        try:
            ng.start(wait_ports=[port])
        except (subprocess.CalledProcessError, RuntimeError):
            out(NAME, "nginx did not start (see its message above; the "
                "accounted path needs the module with voicegw_proxy "
                "WebSocket support, PATHS=plain does not)")
            raise SystemExit(1)
        for rnd in range(ROUNDS):
            order = PATHS if rnd % 2 == 0 else list(reversed(PATHS))
            for p in order:
                n0 = len(fake.seen())
                r = run_round(port, p, ng, fake.proc.pid)
                vg.wait_for(lambda: len(fake.seen()) >= n0 + SESSIONS,
                            timeout=10)
                recs = fake.seen()[n0:]
                ended = sum(1 for x in recs if x["ended_by"] ==
                            "server_close" and x["close_code_sent"] == 1000)
                res[p].append(r)
                show(r, "round %d" % rnd)
                if ended != SESSIONS:
                    out(NAME, "WARNING round %d %s: the fake recorded %d "
                        "sessions ended by its Close 1000, not %d", rnd, p,
                        ended, SESSIONS)
                time.sleep(1)
        for p in PATHS:
            allr = res[p]
            lat = [v for r in allr for v in r["lat"]]
            out(NAME, "%-9s p50 %6.0f  p90 %6.0f  p99 %6.0f  mean %6.0f us "
                "(n %d, %d unanswered)  nginx CPU %.2f ms/session",
                p, pct(lat, 50), pct(lat, 90), pct(lat, 99),
                statistics.mean(lat), len(lat),
                sum(r["missing"] for r in allr),
                statistics.mean(r["cpu_session"] for r in allr) * 1e3)
        if "plain" in res and "accounted" in res:
            pl = [v for r in res["plain"] for v in r["lat"]]
            ac = [v for r in res["accounted"] for v in r["lat"]]
            added = pct(ac, 99) - pct(pl, 99)
            cpu_p = sum(r["cpu"] for r in res["plain"])
            cpu_a = sum(r["cpu"] for r in res["accounted"])
            ratio = cpu_a / cpu_p if cpu_p else float("nan")
            for i, (a, b) in enumerate(zip(res["accounted"], res["plain"])):
                out(NAME, "round %d paired: added p99 %+6.0f us (p50 %+5.0f)"
                    ", CPU accounted/plain %.3f", i, a["p99"] - b["p99"],
                    a["p50"] - b["p50"], a["cpu"] / b["cpu"]
                    if b["cpu"] else float("nan"))
            out(NAME, "added p99 = %+.0f us -> %s (target <= 100 us)",
                added, "MET" if added <= 100 else "MISSED")
            out(NAME, "CPU per session accounted / plain = %.3f -> %s "
                "(target <= 1.10)", ratio, "MET" if ratio <= 1.10
                else "MISSED")
        errs = [l for l in ng.error_log().splitlines()
                if "[error]" in l or "[alert]" in l or "[crit]" in l or
                "[emerg]" in l]
        out(NAME, "error.log: %d error/crit/alert lines%s", len(errs),
            (": " + errs[0][:200]) if errs else "")
    finally:
        stop(ng)
        fake.stop()


if __name__ == "__main__":
    main()
