#!/usr/bin/env python3
#
# t/032-streaming.t -- streams through a voicegw_task location (SPEC 3,
# issue item 7), with proxy_http_version 1.1 and proxy_buffering off:
# plain chunked HTTP arrives chunk by chunk and SSE event by event (each
# piece reaches the client within a moment of the worker writing it);
# WebSocket sessions on /ws/duplex, /ws/half_duplex and /ws/chat work both
# ways (text, binary, ping, big frames, a close started by the worker); a
# WebSocket session keeps its worker busy (/workers shows the task, also
# while the worker's health says idle) while a second one queues, until it
# closes, and then the queued one gets it at once (also when the worker
# ends the session and its health lags behind); an inference worker killed
# mid-session ends the client's stream and goes offline at once, and the
# queue moves on when it comes back; no fake ever ran two tasks at once.

import calendar
import json
import os
import re
import shutil
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (SLOW, FakeWorker, Nginx, diag, free_port, get, is_,  # noqa
                    like, never_two, ok, request, tap, wait_for, workdir)
import ws_client as wsc  # noqa: E402

d = workdir("032-streaming")
port = free_port()

w1 = FakeWorker(d).start()          # pool "main"
w2 = FakeWorker(d).start()          # pool "main"
ws = FakeWorker(d).start()          # pool "solo": one worker

CONF = """
    voicegw_zone  vg_stream 4m;
    voicegw_store data/vg.db;

    upstream main {
        voicegw_pool queue=100 queue_timeout=60s health_interval=3s
                     health_timeout=1s;
        server 127.0.0.1:%(w1)d;
        server 127.0.0.1:%(w2)d;
    }
    upstream solo {
        voicegw_pool queue=100 queue_timeout=60s health_interval=3s
                     health_timeout=1s;
        server 127.0.0.1:%(ws)d;
    }

    map $http_upgrade $vg_connection { default upgrade; '' close; }

    server {
        listen 127.0.0.1:%(port)d;

        proxy_http_version 1.1;
        proxy_buffering    off;
        proxy_set_header   Upgrade $http_upgrade;
        proxy_set_header   Connection $vg_connection;
        proxy_read_timeout 60s;

        location = /stream {
            voicegw_task chat pool=main;
            proxy_pass   http://main;
        }
        location = /chat {
            voicegw_task chat pool=main;
            proxy_pass   http://main;
        }
        location = /ws/duplex {
            voicegw_task omni_duplex pool=main session=$arg_session_id;
            proxy_pass   http://main;
        }
        location = /ws/half_duplex {
            voicegw_task half_duplex pool=main session=$arg_session_id;
            proxy_pass   http://main;
        }
        location = /ws/chat {
            voicegw_task chat pool=main;
            proxy_pass   http://main;
        }
        location = /solo/ws/duplex {
            voicegw_task omni_duplex pool=solo session=$arg_session_id;
            proxy_pass   http://solo/ws/duplex;
        }
        location / {
            voicegw_api;
        }
    }
""" % {"w1": w1.port, "w2": w2.port, "ws": ws.port, "port": port}

ngx = Nginx(d, CONF, workers=2).start(wait_ports=[port])
URL = "ws://127.0.0.1:%d" % port


def workers():
    return {w["url"]: w for w in get(port, "/workers").json()["workers"]}


def wurl(fake):
    return "http://127.0.0.1:%d" % fake.port


def worker(fake):
    return workers()[wurl(fake)]


def overlaps(stats):
    """The tasks of a fake that started while another was running, with
    the one(s) still running then and by how much they overlapped."""
    tasks = stats.get("tasks", [])
    out = []
    for t in tasks:
        if t["concurrent_at_start"] > 1:
            for o in tasks:
                if o is not t and o["start"] <= t["start"] and \
                        (o["end"] is None or o["end"] > t["start"]):
                    out.append("task %d %s %s?%s started %.1f ms before "
                               "task %d %s %s?%s (%s) ended" %
                               (t["id"], t["kind"], t["path"], t["query"],
                                ((o["end"] or time.time()) - t["start"])
                                * 1000, o["id"], o["kind"], o["path"],
                                o["query"], o["status"]))
    return out


def all_idle():
    return all(w["status"] == "idle" for w in workers().values())


ok(wait_for(all_idle, timeout=5), "the three fake workers are idle")


# -- a streaming HTTP client that timestamps what it gets ---------------------

class Stream:
    """Sends one request on a raw socket and reads the answer, decoding
    chunked transfer coding as it comes; every complete body line is kept
    with the wall-clock time it arrived."""

    def __init__(self, method, path, body=None, headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        body = (body or "").encode()
        lines = ["%s %s HTTP/1.1" % (method, path),
                 "Host: 127.0.0.1:%d" % port, "Connection: close"]
        lines += ["%s: %s" % h for h in headers]
        if body or method == "POST":
            lines.append("Content-Length: %d" % len(body))
            lines.append("Content-Type: application/json")
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sent_at = time.time()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.raw = b""
        self.status = None
        self.headers = {}
        self.chunked = False
        self.body = b""          # decoded body
        self.lines = []          # (arrival time, line)
        self.pending = b""       # decoded bytes not yet a whole line
        self.complete = False    # the terminating chunk was seen
        self.eof = False
        self.error = None

    def header(self, name):
        return self.headers.get(name.lower())

    def _parse(self, now):
        if self.status is None:
            i = self.raw.find(b"\r\n\r\n")
            if i < 0:
                return
            head = self.raw[:i].decode("latin-1").split("\r\n")
            self.status = int(head[0].split()[1])
            for h in head[1:]:
                k, _, v = h.partition(":")
                self.headers[k.strip().lower()] = v.strip()
            self.chunked = "chunked" in self.headers.get(
                "transfer-encoding", "").lower()
            self.raw = self.raw[i + 4:]
        while self.raw and not self.complete:
            if not self.chunked:
                data, self.raw = self.raw, b""
            else:
                i = self.raw.find(b"\r\n")
                if i < 0:
                    return
                size = int(self.raw[:i].split(b";")[0], 16)
                if size == 0:
                    if self.raw[i + 2:i + 4] == b"\r\n":
                        self.complete = True
                        self.raw = b""
                    return
                if len(self.raw) < i + 2 + size + 2:
                    return
                data = self.raw[i + 2:i + 2 + size]
                self.raw = self.raw[i + 2 + size + 2:]
            self.body += data
            self.pending += data
            while b"\n" in self.pending:
                line, _, self.pending = self.pending.partition(b"\n")
                self.lines.append((now, line.decode("utf-8", "replace")))

    def read(self, until=None, timeout=15):
        """Reads until EOF, or until until(self) is true."""
        deadline = time.time() + timeout * SLOW
        while not self.eof and not (until and until(self)):
            left = deadline - time.time()
            if left <= 0:
                self.error = "timeout"
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                self.error = "timeout"
                break
            except OSError as e:
                self.error = str(e)
                data = b""
            now = time.time()
            if not data:
                self.eof = True
                break
            self.raw += data
            self._parse(now)
        return self

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# -- plain chunked HTTP ------------------------------------------------------

s = Stream("GET", "/stream?chunks=6&interval_ms=300").read()
s.close()
is_(s.status, 200, "GET /stream through the gateway: 200")
ok(s.chunked, "answered with Transfer-Encoding: chunked")
ok(s.complete and s.eof, "the chunked body ended properly")
got = [l for _, l in s.lines]
is_([l.split()[:2] for l in got], [["chunk", str(i)] for i in range(6)],
    "all six chunks arrived, in order")
if len(s.lines) == 6:
    lags = [t - float(l.split()[2]) for t, l in s.lines]
    ok(max(lags) < 0.15 * SLOW, "each chunk reached the client within "
       "150 ms of the worker writing it (max %.3f s)" % max(lags))
    first, last = s.lines[0][0], s.lines[-1][0]
    ok(first - s.sent_at < 0.3 * SLOW,
       "the first chunk came %.3f s after the request" % (first - s.sent_at))
    ok(last - first > 1.3, "the last came %.3f s after the first: nothing "
       "was held back" % (last - first))
like(s.header("x-voicegw-ticket") or "", r"^tk_[0-9a-f]{16}$",
     "the streamed answer carries its ticket")

# -- SSE ---------------------------------------------------------------------

body = {"messages": [{"role": "user", "content": "count to six"}],
        "streaming": True, "_chunks": 6, "_interval_ms": 300}
s = Stream("POST", "/chat", body).read()
s.close()
is_(s.status, 200, "POST /chat with streaming: 200")
like(s.header("content-type") or "", r"^text/event-stream",
     "Content-Type: text/event-stream")
ok(s.chunked and s.complete, "chunked, and complete")
events = [(t, l[6:]) for t, l in s.lines if l.startswith("data: ")]
types = []
for _, e in events:
    types.append("[DONE]" if e == "[DONE]" else json.loads(e).get("type"))
is_(types, ["chunk"] * 6 + ["done", "[DONE]"],
    "six chunk events, done, [DONE]")
if len(events) == 8:
    lags = [t - json.loads(e)["ts"] for t, e in events[:6]]
    ok(max(lags) < 0.15 * SLOW, "each SSE event reached the client within "
       "150 ms of the worker sending it (max %.3f s)" % max(lags))
    ok(events[0][0] - s.sent_at < 0.3 * SLOW,
       "the first event came %.3f s after the request"
       % (events[0][0] - s.sent_at))
    ok(events[5][0] - events[0][0] > 1.3,
       "the sixth came %.3f s after the first"
       % (events[5][0] - events[0][0]))
    ok(s.body.endswith(b"data: [DONE]\n\n"), "the stream ends with [DONE]")

# -- WebSocket: duplex, both ways ---------------------------------------------

c = wsc.WSClient.connect(URL + "/ws/duplex?session_id=s032_duplex",
                         timeout=10 * SLOW)
is_(c.status, 101, "WS /ws/duplex?session_id=...: 101 Switching Protocols")
like(c.headers.get("x-voicegw-ticket", ""), r"^tk_[0-9a-f]{16}$",
     "the 101 carries X-VoiceGW-Ticket")
like(c.headers.get("x-voicegw-queue-wait-ms", ""), r"^\d+$",
     "and X-VoiceGW-Queue-Wait-Ms")
sent = 0
c.send_json({"type": "prepare", "system_prompt": "hi", "_tag": "p"})
sent += 1
m = c.recv_json(5)
ok(m is not None and m.get("type") == "prepared"
   and m.get("session_id") == "s032_duplex" and m.get("_tag") == "p",
   "prepare -> prepared, for our session id")
duplex_port = m and m.get("worker_port")
tags = []
for i in range(3):
    c.send_json({"type": "audio_chunk", "audio_base64": "AAAA",
                 "_tag": "a%d" % i})
    sent += 1
for i in range(3):
    m = c.recv_json(5)
    tags.append(m and (m.get("type"), m.get("chunk_index"), m.get("_tag")))
is_(tags, [("result", i, "a%d" % i) for i in range(3)],
    "three audio chunks -> three results, in order")
c.send_binary(b"\x00\x01\x02")
sent += 1
m = c.recv_json(5)
is_(m and m.get("error"), "Binary frames are not supported",
    "a binary frame reaches the worker")
c.ping(b"hello")
c.send_json({"type": "pause", "timeout": 30})
sent += 1
m = c.recv_json(5)
is_(m and m.get("type"), "paused", "pause -> paused")
is_(c.pongs_received, 1, "a ping is answered with a pong through the relay")
big = "A" * 300000
c.send_json({"type": "resume"})
sent += 1
m = c.recv_json(5)
is_(m and m.get("type"), "resumed", "resume -> resumed")
c.send_json({"type": "audio_chunk", "audio_base64": big, "_big_frame": 600000,
             "_tag": "big"})
sent += 1
m = c.recv(10)
ok(m is not None and m.kind == "text" and m.size >= 600000
   and m.json().get("_tag") == "big",
   "a 300 kB message up and a 600 kB message down (%s bytes)"
   % (m and m.size))
c.send_json({"type": "stop"})
sent += 1
m, seen = c.recv_until("stopped", timeout=5)
ok(m is not None, "stop -> stopped")
m = c.recv(5)
ok(m is not None and m.kind == "close" and m.code == 1000,
   "then the worker's close 1000 reaches the client")
c.shutdown()

fake = {w1.port: w1, w2.port: w2}.get(duplex_port)
ok(fake is not None, "the session ran on one of the pool's workers")
task = None
if fake:
    ok(wait_for(lambda: fake.stats()["running"] == 0, timeout=3),
       "the worker's duplex task ended")
    tasks = get(fake.port, "/_fake/stats").json()["tasks"]
    task = [t for t in tasks if t["kind"] == "duplex"]
    task = task[-1] if task else None
ok(task is not None and task["path"] == "/ws/duplex"
   and task["query"] == "session_id=s032_duplex"
   and task["session_id"] == "s032_duplex",
   "the worker saw /ws/duplex?session_id=s032_duplex")
is_(task and task["frames_in"], sent,
    "every message the client sent reached the worker")
is_(task and task["close_code"], 1000, "the worker's task ended with 1000")

# a close started by the worker, with its code and reason
c = wsc.WSClient.connect(URL + "/ws/duplex?session_id=s032_close",
                         timeout=10 * SLOW)
is_(c.status, 101, "another duplex session")
c.send_json({"type": "_close", "code": 4001, "reason": "worker says bye"})
m = c.recv(5)
ok(m is not None and m.kind == "close" and m.code == 4001
   and m.reason == "worker says bye",
   "the worker's close frame (4001, reason) is relayed unchanged (%r)"
   % ((m and (m.kind, m.code, m.reason)),))
c.shutdown()

# -- WebSocket: half duplex ---------------------------------------------------

c = wsc.WSClient.connect(URL + "/ws/half_duplex?session_id=s032_half",
                         timeout=10 * SLOW)
is_(c.status, 101, "WS /ws/half_duplex: 101")
c.send_json({"type": "prepare"})
m = c.recv_json(5)
ok(m and m.get("type") == "prepared" and "timeout_s" in m
   and m.get("session_id") == "s032_half", "half duplex: prepared")
c.send_json({"type": "audio_chunk", "audio_base64": "AAAA"})
m = c.recv_json(5)
ok(m and m.get("type") == "chunk" and m.get("text_delta") == "heard chunk 0",
   "half duplex: audio_chunk -> chunk")
c.send_json({"type": "stop"})
m, _ = c.recv_until("stopped", timeout=5)
ok(m is not None, "half duplex: stop -> stopped")
m = c.recv(5)
ok(m is not None and m.kind == "close" and m.code == 1000,
   "half duplex: closed 1000 by the worker")
c.shutdown()

# -- WebSocket: /ws/chat streams token by token -------------------------------

c = wsc.WSClient.connect(URL + "/ws/chat", timeout=10 * SLOW)
is_(c.status, 101, "WS /ws/chat: 101")
c.send_json({"messages": [{"role": "user", "content": "stream please"}],
             "streaming": True, "_chunks": 4, "_interval_ms": 250})
arrivals = []
while True:
    m = c.recv(5)
    if m is None or m.kind == "close":
        break
    arrivals.append((time.time(), json.loads(m.data).get("type")))
is_([t for _, t in arrivals], ["prefill_done"] + ["chunk"] * 4 + ["done"],
    "/ws/chat: prefill_done, four chunks, done")
ok(m is not None and m.kind == "close" and m.code == 1000,
   "/ws/chat: then close 1000")
if len(arrivals) == 6:
    ok(arrivals[4][0] - arrivals[1][0] > 0.6,
       "/ws/chat: the chunks arrived as they were sent (%.3f s apart)"
       % (arrivals[4][0] - arrivals[1][0]))
c.shutdown()

ok(wait_for(all_idle, timeout=3), "every worker is idle again")

# -- a WebSocket session keeps its worker busy; the next one queues -----------

SOLO = URL + "/solo/ws/duplex?session_id=%s"


class Parked(threading.Thread):
    """A WebSocket handshake that may have to wait in the queue."""

    def __init__(self, url):
        threading.Thread.__init__(self, daemon=True)
        self.url = url
        self.client = None
        self.error = None
        self.done_at = None
        self.start()

    def run(self):
        try:
            self.client = wsc.WSClient.connect(self.url, timeout=30)
        except Exception as e:                  # noqa: BLE001
            self.error = repr(e)
        self.done_at = time.time()


a = wsc.WSClient.connect(SOLO % "sA", timeout=10 * SLOW)
is_(a.status, 101, "session sA on the one-worker pool: 101")
a_ticket = a.headers.get("x-voicegw-ticket")
a.send_json({"type": "prepare"})
m = a.recv_json(5)
is_(m and m.get("type"), "prepared", "sA is prepared")

w = worker(ws)
is_(w["status"], "busy", "/workers: the worker is busy")
is_(w["current_task"], "omni_duplex", "current_task omni_duplex")
is_(w["current_session_id"], "sA", "current_session_id sA")
is_(w.get("ticket_id"), a_ticket, "ticket_id is the 101's ticket")
ok(isinstance(w["busy_since"], str) and
   re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", w["busy_since"]),
   "busy_since is ISO-8601 UTC (%r)" % w["busy_since"])
if isinstance(w["busy_since"], str):
    since = calendar.timegm(time.strptime(w["busy_since"][:19],
                                          "%Y-%m-%dT%H:%M:%S"))
    ok(abs(since - time.time()) < 3, "and is now")

# the worker says "idle" on its health endpoint: still ours until it closes
ws.control(worker_status="idle")
before = ws.stats()["health_checks"]
ok(wait_for(lambda: ws.stats()["health_checks"] >= before + 2, timeout=8),
   "two health checks answered idle during the session")
is_(worker(ws)["status"], "busy", "the session's worker stays busy")
ws.control(worker_status=None)

b = Parked(SOLO % "sB")
queued = wait_for(lambda: get(port, "/api/queue").json()["queue_length"] == 1,
                  timeout=5)
ok(queued, "a second session (sB) queues")
q = get(port, "/api/queue").json()
ok(q["entries"] and q["entries"][0]["session_id"] == "sB"
   and q["entries"][0]["task_type"] == "omni_duplex",
   "/api/queue shows sB waiting for omni_duplex")
ok(q["running"] and q["running"][0]["session_id"] == "sA",
   "and sA running")
time.sleep(1.0)     # deliberately: nothing may happen meanwhile
ok(b.done_at is None, "sB is still waiting after a second")
is_(ws.stats()["served"], 1, "the worker has seen one task only")

a.send_json({"type": "audio_chunk", "audio_base64": "AAAA"})
m = a.recv_json(5)
is_(m and m.get("type"), "result", "sA still works while sB waits")
closed_at = time.time()
a.close()
ok(wait_for(lambda: b.done_at is not None, timeout=5),
   "sA closed: sB got the worker")
ok(b.client is not None and b.client.status == 101,
   "sB: 101 (%s)" % (b.error or (b.client and b.client.status)))
if b.done_at:
    ok(b.done_at - closed_at < 1.0 * SLOW,
       "%.3f s after sA closed" % (b.done_at - closed_at))
if b.client is not None and b.client.open:
    wait_ms = int(b.client.headers.get("x-voicegw-queue-wait-ms", "-1"))
    ok(wait_ms >= 1000, "sB's X-VoiceGW-Queue-Wait-Ms shows its wait (%d)"
       % wait_ms)
    w = worker(ws)
    ok(w["status"] == "busy" and w["current_session_id"] == "sB",
       "/workers: busy with sB now")
    b.client.send_json({"type": "prepare"})
    m = b.client.recv_json(5)
    ok(m and m.get("type") == "prepared" and m.get("session_id") == "sB",
       "sB talks to the worker")
    b.client.close()
ok(wait_for(lambda: worker(ws)["status"] == "idle", timeout=1),
   "sB closed: the worker is idle (%s)" % worker(ws)["status"])
w = worker(ws)
ok(w["current_task"] is None and w["current_session_id"] is None
   and w["busy_since"] is None, "with no task, session or busy_since")
# more hand-overs: each queued session gets the worker as soon as the one
# before it closes, and the worker is idle as soon as a session ends
handover, idle_after, missed = [], [], []
for i in range(6):
    if not wait_for(lambda: worker(ws)["status"] == "idle", timeout=4):
        missed.append("the worker idle before sA%d" % i)
    a = wsc.WSClient.connect(SOLO % ("sA%d" % i), timeout=10 * SLOW)
    b = Parked(SOLO % ("sB%d" % i))
    if not wait_for(lambda: get(port, "/api/queue").json()["queue_length"]
                    == 1, timeout=5):
        missed.append("sB%d queued" % i)
    closed_at = time.time()
    a.close()
    b.join(35)
    handover.append(round((b.done_at or time.time()) - closed_at, 3))
    if b.client is not None and b.client.open:
        b.client.close()
    closed_at = time.time()
    if not wait_for(lambda: worker(ws)["status"] == "idle", timeout=4):
        missed.append("the worker idle after sB%d" % i)
    idle_after.append(round(time.time() - closed_at, 3))
is_(missed, [], "six more hand-overs: every wait was met")
ok(max(handover) < 0.5 * SLOW, "six more hand-overs, each within 0.5 s "
   "(seconds: %s)" % handover)
ok(max(idle_after) < 0.5 * SLOW, "the worker was idle within 0.5 s after each "
   "session (seconds: %s)" % idle_after)

# the usual end of a duplex session: the client sends "stop", the worker
# answers "stopped" and closes; a worker may go on reporting the session on
# /health for a moment while it cleans up (here 100 ms): the queued session
# must still get the worker at once, not a health interval later
ok(wait_for(lambda: worker(ws)["status"] == "idle", timeout=4),
   "the worker is idle before sE")
a = wsc.WSClient.connect(SOLO % "sE", timeout=10 * SLOW)
b = Parked(SOLO % "sF")
ok(wait_for(lambda: get(port, "/api/queue").json()["queue_length"] == 1,
            timeout=5), "sF queues behind sE")
ws.control(worker_status="duplex_active")
a.send_json({"type": "stop"})
m, _ = a.recv_until("stopped", timeout=5)
m = a.recv(5)
ended = time.time()
ok(m is not None and m.kind == "close", "sE: stop -> stopped, and the "
   "worker closes the session")
time.sleep(0.1)     # deliberately: /health reports the session 100 ms more
ws.control(worker_status=None)
ok(wait_for(lambda: b.done_at is not None, timeout=1.0),
   "sF, queued, got the worker within 1 s of the end (%.3f s; /workers "
   "says %s, worker_status %s)"
   % (time.time() - ended, worker(ws)["status"],
      worker(ws)["worker_status"]))
a.shutdown()
b.join(35)
if b.client is not None and b.client.open:
    b.client.close()

tasks = get(ws.port, "/_fake/stats").json()["tasks"][:2]
ok(len(tasks) == 2 and tasks[0]["session_id"] == "sA"
   and tasks[1]["session_id"] == "sB"
   and tasks[1]["start"] >= tasks[0]["end"],
   "the worker ran sA, then sB, one after the other")
ok(never_two(ws), "never two at once")

# -- a worker killed mid-session ----------------------------------------------

a = wsc.WSClient.connect(SOLO % "sC", timeout=10 * SLOW)
is_(a.status, 101, "session sC: 101")
a.send_json({"type": "prepare"})
m = a.recv_json(5)
is_(m and m.get("type"), "prepared", "sC is prepared")
b = Parked(SOLO % "sD")
ok(wait_for(lambda: get(port, "/api/queue").json()["queue_length"] == 1,
            timeout=5), "sD queues behind sC")
pre_crash_solo = get(ws.port, "/_fake/stats").json()
crash_at = time.time()
r = request("POST", ws.port, "/_fake/crash", body={})
is_(r.status, 200, "the worker is killed (/_fake/crash)")
m = a.recv(5)
ok(m is not None and m.kind == "close",
   "the client's session ends (%r)" % ((m and (m.kind, m.code)),))
offline = wait_for(lambda: worker(ws)["status"] == "offline", timeout=1.0)
ok(offline, "the worker is offline within 1 s of the crash (%.3f s: %s)"
   % (time.time() - crash_at, worker(ws)["status"]))
a.shutdown()
w = worker(ws)
ok(w["current_task"] is None and w["current_session_id"] is None,
   "the dead worker holds no task")
time.sleep(0.5)     # deliberately: nothing may happen meanwhile
ok(b.done_at is None and get(port, "/api/queue").json()["queue_length"] == 1,
   "sD keeps waiting: no worker is idle")

ws = FakeWorker(d, port=ws.port).start()
ok(wait_for(lambda: b.done_at is not None, timeout=5),
   "the worker comes back: sD gets it")
ok(b.client is not None and b.client.status == 101, "sD: 101")
if b.client is not None and b.client.open:
    b.client.send_json({"type": "prepare"})
    m = b.client.recv_json(5)
    ok(m and m.get("type") == "prepared" and m.get("session_id") == "sD",
       "sD talks to the restarted worker")
    b.client.close()
ok(wait_for(lambda: worker(ws)["status"] == "idle", timeout=1),
   "and the worker is idle when sD ends (%s)" % worker(ws)["status"])

# an HTTP stream whose worker dies: the client gets a truncated answer

s = Stream("GET", "/stream?chunks=40&interval_ms=100")
s.read(until=lambda x: len(x.lines) >= 3, timeout=5)
ticket = s.header("x-voicegw-ticket")
t = get(port, "/api/queue/%s" % ticket).json() if ticket else {}
victim = {wurl(w1): w1, wurl(w2): w2}.get(t.get("worker_url"))
ok(victim is not None and t.get("status") == "assigned",
   "GET /api/queue/{ticket} names the stream's worker")
pre_crash = {}
if victim:
    pre_crash[victim.port] = get(victim.port, "/_fake/stats").json()
    crash_at = time.time()
    request("POST", victim.port, "/_fake/crash", body={})
    s.read(timeout=5)
    ok(s.eof and not s.complete,
       "the client's chunked answer ends without its last chunk")
    ok(3 <= len(s.lines) < 40, "after %d of 40 lines" % len(s.lines))
    ok(wait_for(lambda: worker(victim)["status"] == "offline",
                timeout=1.0),
       "the worker is offline within 1 s of the crash (%.3f s: %s)"
       % (time.time() - crash_at, worker(victim)["status"]))
    other = w2 if victim is w1 else w1
    r = request("POST", port, "/chat",
                body={"messages": [{"role": "user", "content": "still up?"}]})
    ok(r.status == 200 and r.json()["worker_port"] == other.port,
       "the next task goes to the other worker")
    restarted = FakeWorker(d, port=victim.port).start()
    if victim is w1:
        w1 = restarted
    else:
        w2 = restarted
    ok(wait_for(all_idle, timeout=5), "the restarted worker is idle again")
s.close()

# -- nothing was double-booked ------------------------------------------------

# two tasks at once: each worker of "main" (one restarted) runs one of them
both = [threading.Thread(target=request, args=("POST", port, "/chat"),
                         kwargs={"body": {"messages": [], "_task_ms": 500}})
        for _ in range(2)]
for th in both:
    th.start()
for th in both:
    th.join()


def no_double_booking(stats, name):
    if not ok(never_two(stats), "never two tasks at once on %s" % name):
        diag("overlapping tasks: %s" % overlaps(stats))


for name, f in (("main worker 1", w1), ("main worker 2", w2),
                ("the solo worker", ws)):
    no_double_booking(get(f.port, "/_fake/stats").json(), name)
for p, st in pre_crash.items():
    no_double_booking(st, "worker %d before it was killed" % p)
no_double_booking(pre_crash_solo, "the solo worker before it was killed")

ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

rc = tap.done()
if rc == 0:
    for f in (w1, w2, ws):
        f.stop()
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
