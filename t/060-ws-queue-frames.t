#!/usr/bin/env python3
#
# t/060-ws-queue-frames.t -- issue 10, points 1, 2 and 6: WebSocket routes
# with "voicegw_task ... queue_frames=on" (the shipped /ws/half_duplex and
# /ws/duplex): the gateway answers the handshake itself and tells a queued
# client of its place in frames (queued, queue_update, queue_done), keeps
# what the client sends while queued and gives it to the worker first;
# refusals are an error frame and a close (cancel 4000, queue timeout
# 4008, queue full 1013, a worker refusing 1011); a client closing or
# leaving while queued abandons its ticket at once; no reservation leaks.
# The duplex relay drops client_diagnostic messages (also fragmented),
# passes the rest intact (fragmented, large, binary, ping), and shows
# pause on the worker.

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (SLOW, FakeWorker, Nginx, free_port, get, is_, ok,  # noqa
                    request, tap, wait_for, workdir)
import ws_client as wsc  # noqa: E402

d = workdir("060-ws-queue-frames")
port = free_port()

w1 = FakeWorker(d).start()          # pool "solo": one worker, queue of 2
w2 = FakeWorker(d).start()          # pool "quick": queue_timeout 2s
w3 = FakeWorker(d).start()          # pool "open": for relay tests

SESSIONS = os.path.join(d, "sessions")
os.makedirs(SESSIONS, exist_ok=True)

CONF = """
    voicegw_zone  vg_wsq 4m;
    voicegw_sessions %(sessions)s;

    upstream solo {
        voicegw_pool queue=2 queue_timeout=60s health_interval=3s
                     health_timeout=1s;
        server 127.0.0.1:%(w1)d;
    }
    upstream quick {
        voicegw_pool queue=10 queue_timeout=2s health_interval=3s
                     health_timeout=1s;
        server 127.0.0.1:%(w2)d;
    }
    upstream open {
        voicegw_pool queue=10 queue_timeout=60s health_interval=3s
                     health_timeout=1s;
        server 127.0.0.1:%(w3)d;
    }

    map $http_upgrade $vg_connection { default upgrade; '' close; }
    log_format wsf '$uri $voicegw_ws_client_frames $voicegw_ws_client_bytes '
                   '$voicegw_ws_worker_frames $voicegw_ws_worker_bytes '
                   '$voicegw_ws_dropped';

    server {
        listen 127.0.0.1:%(port)d;

        proxy_http_version 1.1;
        proxy_buffering    off;
        proxy_set_header   Upgrade $http_upgrade;
        proxy_set_header   Connection $vg_connection;
        proxy_read_timeout 60s;

        location ~ "^/ws/half_duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task half_duplex pool=solo session=$1 queue_frames=on
                         queue_update=1s;
            proxy_pass   http://solo/ws/half_duplex?session_id=$1;
        }
        location ~ "^/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=solo session=$1 queue_frames=on
                         queue_update=1s queue_buffer=64k;
            proxy_pass   http://solo/ws/duplex?session_id=$1;
        }
        location ~ "^/quick/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=quick session=$1 queue_frames=on;
            proxy_pass   http://quick/ws/duplex?session_id=$1;
        }
        location ~ "^/open/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=open session=$1 queue_frames=on
                         relay_buffer=4k;
            proxy_pass   http://open/ws/duplex?session_id=$1;
            access_log   %(log)s wsf;
        }
        location ~ "^/off/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=open session=$1;
            proxy_pass   http://open/ws/duplex?session_id=$1;
        }
        location / {
            voicegw_api;
        }
    }
""" % {"w1": w1.port, "w2": w2.port, "w3": w3.port, "port": port,
       "log": os.path.join(d, "ws.log"), "sessions": SESSIONS}

ngx = Nginx(d, CONF, workers=2).start(wait_ports=[port])
URL = "ws://127.0.0.1:%d" % port


def workers():
    return {w["url"]: w for w in get(port, "/workers").json()["workers"]}


def worker(fake):
    return workers()["http://127.0.0.1:%d" % fake.port]


def idle(fake):
    return wait_for(lambda: worker(fake)["status"] == "idle", timeout=5)


def queue_length():
    return get(port, "/api/queue").json()["queue_length"]


def connect(path, **kw):
    return wsc.WSClient.connect(URL + path, timeout=10 * SLOW, **kw)


def recv(c, timeout=5):
    m = c.recv(timeout * SLOW)
    if m is None:
        return None
    if m.kind == "close":
        return {"_close": m.code, "_reason": m.reason}
    if m.kind == "text":
        return json.loads(m.data)
    return {"_kind": m.kind, "_size": m.size}


ok(idle(w1) and idle(w2) and idle(w3), "the fake workers are idle")

# -- 1. a free worker: the gateway's 101, then only queue_done ---------------

a = connect("/ws/duplex/q060_free")
is_(a.status, 101, "a free worker: 101")
ok(a.headers.get("x-voicegw-ticket", "").startswith("tk_"),
   "the 101 carries the ticket (%s)" % a.headers.get("x-voicegw-ticket"))
ok("sec-websocket-extensions" not in a.headers, "and no extension")
m = recv(a)
is_(m, {"type": "queue_done"}, "the first frame is queue_done, alone")
a.send_json({"type": "prepare", "system_prompt": "hello there"})
m = recv(a)
is_(m and m.get("type"), "prepared", "then the worker's own answer")
a.close()
ok(idle(w1), "closed: the worker is idle")

# -- 2. queued: queued, queue_update, queue_done, the early prepare first ----

a = connect("/ws/duplex/q060_holder")
is_(recv(a), {"type": "queue_done"}, "A holds the worker")
a.send_json({"type": "prepare"})
is_(recv(a).get("type"), "prepared", "A is prepared")

t0 = time.time()
b = connect("/ws/half_duplex/q060_waiter")
is_(b.status, 101, "B: 101 at once, although no worker is free")
ok(time.time() - t0 < 2 * SLOW, "without waiting for a worker")
b.send_json({"type": "prepare", "config": {"n": 1}})
m = recv(b)
is_(m and m.get("type"), "queued", "B: queued")
if m:
    is_(m.get("position"), 1, "position 1")
    is_(m.get("queue_length"), 1, "queue_length 1")
    ok(isinstance(m.get("estimated_wait_s"), (int, float))
       and m["estimated_wait_s"] >= 0, "estimated_wait_s %r"
       % m.get("estimated_wait_s"))
    is_(m.get("ticket_id"), b.headers.get("x-voicegw-ticket"),
        "ticket_id is the 101's ticket")
    q = get(port, "/api/queue").json()
    ok(any(e.get("ticket_id") == m.get("ticket_id")
           for e in q.get("entries", [])), "and /api/queue lists it")
m = recv(b, 4)
is_(m and m.get("type"), "queue_update", "then queue_update (queue_update=1s)")
if m:
    ok(m.get("position") == 1 and "ticket_id" not in m
       and "estimated_wait_s" in m and m.get("queue_length") == 1,
       "with position, estimated_wait_s and queue_length (%r)" % m)
b.send_json({"type": "audio_chunk", "audio_base64": "AAAA", "_tag": "c1"})
a.close()
m = recv(b, 5)
while m and m.get("type") == "queue_update":
    m = recv(b, 5)
is_(m, {"type": "queue_done"}, "A closed: B gets queue_done")
m = recv(b)
is_(m and m.get("type"), "prepared",
    "then prepared: the prepare sent while queued reached the worker first")
m = recv(b)
is_(m and m.get("type"), "chunk", "then the audio chunk sent while queued")
st = w1.stats(tasks=True)
last = st["tasks"][-1] if st.get("tasks") else {}
ok("prepare" in (last.get("first_message") or ""),
   "the worker's first message from B is its prepare (%r)"
   % last.get("first_message"))
b.close()
ok(idle(w1), "B closed: the worker is idle")

# frames split byte by byte, while queued and through the relay
a = connect("/ws/duplex/q060_hold_split")
recv(a)
b = connect("/ws/duplex/q060_split")
is_(recv(b).get("type"), "queued", "split: B queued")
raw = wsc.encode_frame(wsc.OP_TEXT, json.dumps({"type": "prepare"}),
                       mask=True)
raw += wsc.encode_frame(wsc.OP_TEXT, json.dumps(
    {"type": "audio_chunk", "audio_base64": "D" * 300}), mask=True)
for i in range(len(raw)):
    b.send_raw(raw[i:i + 1])
    if i % 40 == 0:
        time.sleep(0.01)
a.close()
m = recv(b)
while m and m.get("type") == "queue_update":
    m = recv(b)
is_(m, {"type": "queue_done"}, "split: queue_done")
is_(recv(b).get("type"), "prepared", "two frames sent a byte at a time while "
    "queued reach the worker whole: prepared ...")
is_(recv(b).get("type"), "result", "... and result")
raw = wsc.encode_frame(wsc.OP_TEXT, json.dumps(
    {"type": "client_diagnostic", "x": 1}), mask=True)
raw += wsc.encode_frame(wsc.OP_TEXT, json.dumps(
    {"type": "audio_chunk", "audio_base64": "E" * 200}), mask=True)
for i in range(len(raw)):
    b.send_raw(raw[i:i + 1])
m = recv(b)
is_(m and m.get("type"), "result", "through the relay a byte at a time: the "
    "diagnostic dropped, the chunk answered")
b.close()
ok(idle(w1), "split: the worker is idle again")

# -- 3. cancel, queue full, client close and disconnect while queued --------

a = connect("/ws/duplex/q060_hold2")
recv(a)
b = connect("/ws/duplex/q060_cancel")
m = recv(b)
ticket = m and m.get("ticket_id")
r = request("DELETE", port, "/api/queue/%s" % ticket)
is_(r.status, 200, "DELETE /api/queue/{ticket}: 200")
m = recv(b)
is_(m, {"type": "error", "error": "Cancelled"}, "B: error frame Cancelled")
m = recv(b)
is_(m and m.get("_close"), 4000, "and close 4000")
b.close()

b = connect("/ws/duplex/q060_b")
c = connect("/ws/duplex/q060_c")
is_(recv(b).get("position"), 1, "B queued first")
is_(recv(c).get("position"), 2, "C second")
e = connect("/ws/duplex/q060_full")
is_(e.status, 101, "a third one (queue=2): 101")
m = recv(e)
is_(m, {"type": "error", "error": "Queue full"}, "then error Queue full")
m = recv(e)
is_(m and m.get("_close"), 1013, "and close 1013")

b.send_close(1000)
ok(wait_for(lambda: queue_length() == 1, timeout=2),
   "B sent a Close while queued: its ticket is gone at once")
c.abort()
ok(wait_for(lambda: queue_length() == 0, timeout=2),
   "C dropped its connection while queued: its ticket is gone at once")
served = w1.stats()["served"]
a.close()
ok(idle(w1), "A closed: the worker is idle")
time.sleep(0.5)
is_(w1.stats()["served"], served, "and none of the abandoned got it")

# over queue_buffer (64k) while queued: close 1009
a = connect("/ws/duplex/q060_hold3")
recv(a)
b = connect("/ws/duplex/q060_big")
recv(b)
b.send_json({"type": "prepare", "blob": "x" * 70000})
m = recv(b)
is_(m and m.get("_close"), 1009, "over queue_buffer while queued: close 1009")
ok(wait_for(lambda: queue_length() == 0, timeout=2), "and no ticket left")
a.close()
ok(idle(w1), "the worker is idle again")

# -- 4. queue timeout; a worker that refuses ---------------------------------

a = connect("/quick/ws/duplex/q060_qa")
recv(a)
b = connect("/quick/ws/duplex/q060_qb")
is_(recv(b).get("type"), "queued", "B queued on the 2 s pool")
m = recv(b, 5)
is_(m and m.get("type"), "error", "queue timeout: an error frame (%r)" % m)
m = recv(b)
is_(m and m.get("_close"), 4008, "and close 4008")
a.close()
ok(idle(w2), "the worker is idle")

w2.control(ws_reject_next=1, ws_reject_status=403)
b = connect("/quick/ws/duplex/q060_refused")
is_(recv(b), {"type": "queue_done"}, "queue_done")
m = recv(b)
is_(m, {"type": "error", "error": "Worker unavailable (HTTP 403)"},
    "the worker refused its handshake: an error frame")
m = recv(b)
is_(m and m.get("_close"), 1011, "and close 1011")
ok(wait_for(lambda: worker(w2)["status"] in ("idle", "loading"), timeout=5),
   "the reservation went back (%s)" % worker(w2)["status"])

# -- 5. the duplex relay ------------------------------------------------------

a = connect("/open/ws/duplex/q060_relay",
            headers=[("Sec-WebSocket-Extensions",
                      "permessage-deflate; client_max_window_bits")])
is_(a.status, 101, "relay: 101 although the client offered an extension")
ok("sec-websocket-extensions" not in a.headers, "which is declined")
recv(a)
sent = 1                    # frames the client sends, for the log below
a.send_json({"type": "prepare"})
is_(recv(a).get("type"), "prepared", "relay: prepared")
st = w3.stats(tasks=True)
hdrs = st["tasks"][-1].get("headers") or {}
ok(not any(k.lower() == "sec-websocket-extensions" for k in hdrs),
   "the worker was offered no extension (%s)" % sorted(hdrs))
a.send_json({"type": "client_diagnostic", "fps": 30, "note": "x" * 100})
a.send_json({"type": "audio_chunk", "audio_base64": "AAAA"})
sent += 2
m = recv(a)
is_(m and m.get("type"), "result",
    "client_diagnostic never reached the worker (no error), the next did")

diag = json.dumps({"type": "client_diagnostic", "data": "y" * 3000}).encode()
a.send_frame(wsc.OP_TEXT, diag[:40], fin=False)
a.ping(b"hi")
a.send_frame(wsc.OP_CONT, diag[40:2000], fin=False)
a.send_frame(wsc.OP_CONT, diag[2000:], fin=True)
msg = json.dumps({"type": "audio_chunk", "audio_base64": "B" * 5000}).encode()
a.send_frame(wsc.OP_TEXT, msg[:3], fin=False)
a.send_frame(wsc.OP_CONT, msg[3:4000], fin=False)
a.send_frame(wsc.OP_CONT, msg[4000:], fin=True)
sent += 7
m = recv(a)
is_(m and m.get("type"), "result", "a fragmented client_diagnostic (a ping "
    "between its frames) is dropped whole; a fragmented chunk crosses")
a.send_frame(wsc.OP_BINARY, b"\x00\x01\x02" * 1000)
sent += 1
m = recv(a)
is_(m, {"type": "error", "error": "Binary frames are not supported"},
    "a binary frame crosses (the fake answers that it takes none)")

big = json.dumps({"type": "audio_chunk", "audio_base64": "C" * 400000})
a.send_json(json.loads(big))
sent += 1
m = recv(a, 10)
is_(m and m.get("type"), "result",
    "a 400 KB frame crosses a 4k relay buffer in pieces")
w3.control(big_frame_bytes=300000)
a.send_json({"type": "audio_chunk", "audio_base64": "AAAA"})
sent += 1
m = a.recv(10 * SLOW)
ok(m is not None and m.kind == "text" and m.size >= 300000
   and json.loads(m.data).get("type") == "result",
   "a 300 KB worker frame arrives whole (%s bytes)"
   % (m and m.size))
# a client that reads slowly: the worker's frames wait in the relay's
# buffer, partly sent, while more arrive; all of them come through whole
for i in range(8):
    a.send_json({"type": "audio_chunk", "audio_base64": "AAAA"})
sent += 8
time.sleep(1.0)
slow = []
for i in range(8):
    m = a.recv(10 * SLOW)
    slow.append(m is not None and m.kind == "text" and m.size >= 300000
                and json.loads(m.data).get("type") == "result")
    time.sleep(0.05)
is_(slow, [True] * 8, "a slow reader gets eight 300 KB worker frames whole")
w3.control(big_frame_bytes=0)

a.send_json({"type": "pause"})
sent += 1
m = recv(a)
is_(m and m.get("type"), "paused", "pause is forwarded")
w = worker(w3)
ok(w.get("state") == "duplex_paused" or w.get("paused") is True,
   "/workers shows the worker paused (%r)"
   % {k: w.get(k) for k in ("status", "state", "paused")})
stat = get(port, "/status").json()
is_(stat.get("paused_workers"), 1, "/status: paused_workers 1")
a.send_json({"type": "resume"})
sent += 1
is_(recv(a).get("type"), "resumed", "resume is forwarded")
w = worker(w3)
ok(w.get("state") != "duplex_paused" and w.get("paused") is not True,
   "and the worker no longer shows paused")
a.send_json({"type": "stop"})
sent += 1
m = recv(a)
is_(m and m.get("type"), "stopped", "stop: stopped")
m = recv(a)
is_(m and m.get("_close"), 1000, "the worker's close reaches the client")
sent += 1                   # the client's answering close
a.close()
ok(idle(w3), "the worker is idle after the session")
line = ""
for _ in range(20):
    if os.path.exists(os.path.join(d, "ws.log")):
        line = [l for l in open(os.path.join(d, "ws.log")).read()
                .splitlines() if "q060_relay" in l]
        line = line[-1] if line else ""
    if line:
        break
    time.sleep(0.1)
f = line.split()
ok(len(f) == 6, "the access log has the relay's counts (%r)" % line)
if len(f) == 6:
    is_(int(f[1]), sent, "$voicegw_ws_client_frames: every frame the client "
        "sent after queue_done")
    ok(int(f[2]) > 400000, "$voicegw_ws_client_bytes %s" % f[2])
    ok(int(f[3]) >= 10, "$voicegw_ws_worker_frames %s" % f[3])
    ok(int(f[4]) > 300000, "$voicegw_ws_worker_bytes %s" % f[4])
    is_(f[5], "2", "$voicegw_ws_dropped: the two client_diagnostic messages")

# with voicegw_sessions, the WebSocket session has its record
meta_file = os.path.join(SESSIONS, "q060_relay", "meta.json")
ok(wait_for(lambda: os.path.exists(meta_file) and
            (json.load(open(meta_file)).get("ended_at") is not None),
            timeout=3), "the duplex session's meta.json, ended")
if os.path.exists(meta_file):
    meta = json.load(open(meta_file))
    is_((meta.get("session_id"), meta.get("type")),
        ("q060_relay", "omni_duplex"), "with its id and type")

# and the dropped diagnostics are the session's
diag_file = os.path.join(SESSIONS, "q060_relay", "client_diagnostic.jsonl")
ok(wait_for(lambda: os.path.exists(diag_file) and
            len(open(diag_file).read().splitlines()) == 2, timeout=3),
   "the two client_diagnostic messages are in the session's folder")
if os.path.exists(diag_file):
    lines = [json.loads(l) for l in open(diag_file).read().splitlines()]
    is_([(l.get("type"), len(l.get("note", l.get("data", "")))) for l in lines],
        [("client_diagnostic", 100), ("client_diagnostic", 3000)],
        "whole and in order, the fragmented one reassembled (unmasked)")

# hostile bytes: unmasked or reserved-bit frames, while queued and relayed
a = connect("/ws/duplex/q060_hold_bad")
recv(a)
b = connect("/ws/duplex/q060_bad_queued")
is_(recv(b).get("type"), "queued", "bad: B queued")
b.send_raw(wsc.encode_frame(wsc.OP_TEXT, b'{"type":"prepare"}', mask=False))
m = recv(b)
is_(m and m.get("_close"), 1002, "an unmasked frame while queued: close 1002")
ok(wait_for(lambda: queue_length() == 0, timeout=2), "and the ticket is gone")
a.close()
ok(idle(w1), "the worker is idle")

pids_before = sorted(ngx.worker_pids())
for n, junk in enumerate((b"\xf1\x85" + b"x" * 20,           # RSV bits
                          b"\x89\xfe\x00\xc8" + b"\0" * 300,  # long ping
                          b"\x83\x80abcd",                      # opcode 3
                          os.urandom(2000))):
    c = connect("/open/ws/duplex/q060_junk%d" % n)
    recv(c)
    c.send_json({"type": "prepare"})
    recv(c)
    c.send_raw(junk)
    m = c.recv(5 * SLOW)
    ok(m is None or m.kind == "close",
       "junk %d after prepare: the connection ends (%r)" % (n, m))
    c.abort()
ok(idle(w3), "the worker is idle after four broken sessions")
is_(sorted(ngx.worker_pids()), pids_before, "no nginx worker process died")

# queue_frames off: the handshake waits for a worker, as before
a = connect("/open/ws/duplex/q060_on")
recv(a)
t0 = time.time()
p = {}


def later():
    time.sleep(1.0)
    a.close()


import threading  # noqa: E402
threading.Thread(target=later).start()
b = connect("/off/ws/duplex/q060_off")
is_(b.status, 101, "queue_frames off: 101 ...")
ok(time.time() - t0 >= 0.9, "... only once the worker was free (%.2f s)"
   % (time.time() - t0))
b.send_json({"type": "prepare"})
is_(recv(b).get("type"), "prepared", "and the worker answers at once")
b.close()

ok(idle(w1) and idle(w2) and idle(w3) and queue_length() == 0,
   "in the end: every worker idle, no ticket left")
errors = [l for l in ngx.error_log().splitlines()
          if "[alert]" in l or "[crit]" in l or "[emerg]" in l]
is_(errors, [], "no alert in the error log")

tap.done()
