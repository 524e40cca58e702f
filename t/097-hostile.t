#!/usr/bin/env python3
#
# t/097-hostile.t -- issue 13, point 4: hostile clients, as a user sees
# them, against nginx with a master and two worker processes
# (docs/hostile-clients.md has the figures and what to set):
#   - slowloris: headers and bodies trickled on an API route, chat routes
#     of the pool and a WebSocket route; nginx's client_header_timeout and
#     client_body_timeout end them, no pool worker is held meanwhile (a
#     task's body is read before its worker is reserved), other clients
#     are served;
#   - pipelined requests (API and chat in one write): answered in order;
#   - huge headers and bodies: nginx's 400/414/413 and the module's 413,
#     in JSON; a broken body closes the connection;
#   - 10,000 idle connections: the gateway still answers API and chat
#     requests at once; a second round reuses the first one's memory;
#   - clients that never read (WebSocket through the pool's relay, through
#     nginx's own pump, a realtime provider session; SSE): the gateway's
#     memory stays put, the sender is held back, send_timeout (also for a
#     client that keeps sending) or the client's going ends the session
#     and frees the worker;
#   - clients that close in every phase (queued, upstream connect, request
#     sent, mid-stream, mid-WebSocket, API body), then 800 of them at
#     random: every worker idle, the queue empty, memory flat;
#   - big chat bodies parked: they wait in their temporary files, not in
#     memory;
#   and no [alert] in the error log.

import json
import os
import random
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
import vgtest  # noqa: E402
from vgtest import (SLOW, VALGRIND, FakeWorker, FakeWSProvider, Nginx,  # noqa
                    SlowClient, at_cleanup, diag, finished, free_port, get,
                    is_, like, never_two, ok, request, tap, wait_for,
                    wait_steady, workdir)
import ws_client as wsc  # noqa: E402

d = workdir("097-hostile")
port = free_port()              # the gateway: nginx's default timeouts
slow = free_port()              # the same routes with 2 s client timeouts
SEED = int(os.environ.get("VG_SEED") or time.time())
random.seed(SEED)
diag("VG_SEED=%d" % SEED)

IDLE = 1000 if VALGRIND else 10000
KEY = "sk-hostile-3f9a0c"

# the test's own descriptors: 10,000 sockets and then some; nginx's
# worker_rlimit_nofile is the same (both stay within the hard limit: a
# container may not let even root raise it)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < IDLE + 2000:
    IDLE = max(1000, hard - 2000)
    diag("RLIMIT_NOFILE's hard limit is %d: %d idle connections" %
         (hard, IDLE))
NOFILE = IDLE + 2000
resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, hard))


def fake(*args):
    f = FakeWorker(d, args=["--chat-ms", "100"] + list(args)).start()
    f.url = "http://127.0.0.1:%d" % f.port
    return f


W1, W2 = fake(), fake()         # pool main
W3 = fake()                     # pool solo: one worker, for queueing
ST = vgtest.StallingWorker()    # pool stall: the connect phase
fakes = [W1, W2, W3]
prov = FakeWSProvider(d, KEY)


# the routes of both servers
LOCATIONS = """
        location = /pid { return 200 "$pid"; }
        location = /_voicegw_error { internal; voicegw_error; }
        location = /api/chat {
            voicegw_task chat pool=main affinity=messages;
            client_max_body_size 64k;
            proxy_pass http://main/chat;
        }
        location = /chat {
            voicegw_task chat pool=main;
            proxy_pass http://main/chat;
        }
        location = /solo/chat {
            voicegw_task chat pool=solo;
            proxy_pass http://solo/chat;
        }
        location = /solo/api/chat {
            voicegw_task chat pool=solo affinity=messages;
            client_max_body_size 16m;
            proxy_pass http://solo/chat;
        }
        location = /stall/chat {
            voicegw_task chat pool=stall;
            proxy_connect_timeout 20s;
            proxy_pass http://stall/chat;
        }
        location ~ "^/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=main session=$1 queue_frames=on;
            proxy_pass http://main/ws/duplex?session_id=$1;
        }
        location ~ "^/solo/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=solo session=$1 queue_frames=on;
            proxy_pass http://solo/ws/duplex?session_id=$1;
        }
        location ~ "^/pump/ws/duplex/([A-Za-z0-9_-]+)$" {
            voicegw_task omni_duplex pool=main session=$1;
            proxy_pass http://main/ws/duplex?session_id=$1;
        }
        location /v1/proxy/ { voicegw_proxy; }
        location / { voicegw_api; }
"""


CONF = """
    voicegw_zone  vg_hostile 8m;
    voicegw_store data/vg.db flush=100ms;
    voicegw_provider_destinations public loopback;
    voicegw_provider dg type=deepgram key=%(key)s base_url=%(prov)s;
    voicegw_model dg/aura-2 modality=tts price_per_character=0.001;

    upstream main {
        voicegw_pool queue=100 queue_timeout=30s health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(w1)d;
        server 127.0.0.1:%(w2)d;
    }
    upstream solo {
        voicegw_pool queue=100 queue_timeout=30s health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(w3)d;
    }
    upstream stall {
        voicegw_pool queue=10 queue_timeout=30s health_interval=60s
                     health_timeout=3s;
        server 127.0.0.1:%(st)d;
    }

    map $http_upgrade $vg_connection { default upgrade; '' close; }
    error_page 400 408 413 414 494 500 502 503 504 /_voicegw_error;

    proxy_http_version 1.1;
    proxy_buffering    off;
    proxy_set_header   Upgrade $http_upgrade;
    proxy_set_header   Connection $vg_connection;
    proxy_read_timeout 60s;
    send_timeout       3s;

    server {
        listen 127.0.0.1:%(port)d;
        location = /stub { stub_status; }
        %(locations)s
    }

    server {
        listen 127.0.0.1:%(slow)d;
        client_header_timeout 2s;
        client_body_timeout   2s;
        proxy_read_timeout    3s;
        %(locations)s
    }
""" % {"key": KEY, "prov": prov.url, "w1": W1.port, "w2": W2.port,
       "w3": W3.port, "st": ST.port, "port": port, "slow": slow,
       "locations": LOCATIONS}

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=2,
            main_config="worker_rlimit_nofile %d;\n" % NOFILE,
            events="worker_connections %d;" % (IDLE + 2000)).start(
                wait_ports=[port, slow])


# -- helpers -------------------------------------------------------------------

def workers():
    return get(port, "/workers").json()["workers"]


def queue():
    return get(port, "/api/queue").json()


def all_idle():
    """Every worker idle and free, nothing queued or running."""
    ws = workers()
    q = queue()
    return (all(w["status"] == "idle" and w["ticket_id"] is None
                for w in ws)
            and q["queue_length"] == 0 and q["running"] == [])


def settled(label, timeout=8):
    """The common end of a scenario: every worker idle, the queue empty,
    no fake running a task or having run two at once."""
    ok(wait_for(all_idle, timeout=timeout),
       "%s: every worker idle, nothing queued or running (%r)"
       % (label, [(w["url"][-5:], w["status"], w["ticket_id"])
                  for w in workers()]))
    ok(wait_for(lambda: all(f.stats()["running"] == 0 for f in fakes),
                timeout=timeout) and all(never_two(f) for f in fakes),
       "%s: no fake runs a task, none ever ran two at once" % label)


def active():
    """nginx's count of open client connections (stub_status)."""
    r = get(port, "/stub")
    return int(r.text.split("\n")[0].split(":")[1])


def body(content, **extra):
    b = {"messages": [{"role": "user", "content": content}]}
    b.update(extra)
    return json.dumps(b).encode()


def chat(path="/api/chat", content="hello", p=None, **extra):
    return request("POST", p or port, path, body=body(content, **extra),
                   headers={"Content-Type": "application/json"})


def kb(x):
    return "%.1f MB" % (x / 1024.0)


def fake_named(name):
    for f in fakes:
        t = f.task(name)
        if t:
            return t
    return None


def sock(p=None):
    s = socket.create_connection(("127.0.0.1", p or port), timeout=10 * SLOW)
    at_cleanup(lambda: wsc.close_socket(s))
    return s


ok(wait_for(lambda: all(w["status"] == "idle" for w in workers()),
            timeout=10), "every worker is idle after the first health check")
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")

# -- 1. slowloris ----------------------------------------------------------------

diag("slowloris")
H = b"Host: x\r\n"
heads = {
    "API": b"GET /status HTTP/1.1\r\n" + H,
    "chat": b"POST /api/chat HTTP/1.1\r\n" + H
            + b"Content-Type: application/json\r\nContent-Length: 60\r\n",
    "WebSocket": b"GET /ws/duplex/slowloris HTTP/1.1\r\n" + H
                 + b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                 + b"Sec-WebSocket-Version: 13\r\n",
}
trickles = {name: SlowClient(slow, h, b"X-Slow: 1\r\n") for name, h in
            heads.items()}
trickles["no"] = SlowClient(slow, b"")
for t in trickles.values():
    t.start()

# a body trickled a byte every 0.5 s for 3 s, then nothing
BODY = json.dumps({"messages": [{"role": "user", "content": "slow"}]})
bodies = {
    "API": b"PUT /api/config/eta HTTP/1.1\r\n" + H
           + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    "chat": (b"POST /api/chat HTTP/1.1\r\n" + H
             + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
             % (len(BODY) + 50)) + BODY[:-1].encode(),
    "chat (no affinity)": (b"POST /chat HTTP/1.1\r\n" + H
                           + b"Content-Length: %d\r\n\r\n"
                           % (len(BODY) + 50)) + BODY[:-1].encode(),
}
btrickles = {name: SlowClient(slow, h, b" ", pieces=6) for name, h in
             bodies.items()}
for t in btrickles.values():
    t.start()

t0 = time.monotonic()
r = chat(content="served meanwhile")
t_chat = time.monotonic() - t0
ok(r.status == 200 and (r.json() or {}).get("worker_port"),
   "a chat request is served while they trickle (%.2f s)" % t_chat)
is_(get(port, "/status").status, 200, "and an API request")
r = chat(content="served meanwhile, slow port", p=slow)
is_(r.status, 200, "on their own server too")
time.sleep(1.0)                 # deliberately: the trickles are under way
q = queue()
ok(all(w["status"] == "idle" for w in workers())
   and q["queue_length"] == 0 and q["running"] == [],
   "while chat bodies trickle in, no worker is reserved and nothing "
   "queued (admission reads a task's body first)")

ok(finished(list(trickles.values()), timeout=15 * SLOW),
   "every header trickler was closed by nginx")
for name, t in trickles.items():
    ok(t.closed and t.got == b"" and t.t_closed < 4 * SLOW,
       "%s: closed by client_header_timeout 2s after %.1f s, no answer "
       "(%r)" % ("headers trickled on the %s route (a line every 0.5 s)"
                 % name if name != "no" else "a connection that sends "
                 "nothing", t.t_closed, t.got[:40]))
ok(finished(list(btrickles.values()), timeout=15 * SLOW),
   "every body trickler was closed by nginx")
t = btrickles.pop("API")
rs = vgtest.responses(t.got)
ok(t.closed and len(rs) == 1 and rs[0].status == 408
   and (rs[0].json() or {}).get("error") == "body_timeout"
   and b"Connection: close" in t.got,
   "a body trickled on the API route for 3 s, then stalled: 408 "
   "body_timeout in JSON after %.1f s, and the connection closed (%r)"
   % (t.t_closed, t.got[-80:]))
for name, t in btrickles.items():
    ok(t.closed and t.got == b"" and 4 < t.t_closed < 8 * SLOW,
       "a body trickled on the %s route for 3 s, then stalled: closed by "
       "client_body_timeout 2s after %.1f s, no answer (nginx's 408) (%r)"
       % (name, t.t_closed, t.got[:60]))
settled("slowloris")

# a WebSocket session whose client trickles a frame holds its worker (that
# is what a session is: every byte re-arms the timers, as in nginx's own
# WebSocket proxying); once it stops, the worker's silence ends it after
# proxy_read_timeout (3s on this server)
c = wsc.WSClient.connect("ws://127.0.0.1:%d/ws/duplex/trickle" % slow,
                         timeout=10 * SLOW)
is_(c.recv_json(5 * SLOW), {"type": "queue_done"},
    "a WebSocket session on the slow server holds a worker")
frame = wsc.encode_frame(wsc.OP_TEXT, json.dumps({"type": "prepare",
                                                  "pad": "x" * 40}),
                         mask=True)
for i in range(10):
    c.send_raw(frame[i:i + 1])
    t0 = time.monotonic()
    if c.recv(0.5) is not None:
        break
busy = [w["status"] for w in workers() if w["ticket_id"]]
is_(busy, ["busy"], "its client trickled 10 bytes of a frame over 5 s: the "
    "session and its worker are still there")
m = c.recv(10 * SLOW)
gone = time.monotonic() - t0 if m is not None else None
ok(gone is not None and 2.5 < gone < 6 * SLOW,
   "it stops: proxy_read_timeout 3s after its last byte the session is "
   "closed (%s s)"
   % (gone and "%.1f" % gone))
c.abort()
settled("a trickled WebSocket frame")

# -- 2. pipelined requests ------------------------------------------------------

diag("pipelined requests")


def post(path, data, last=False):
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n%s\r\n%s"
            % (path.encode(), len(data),
               b"Connection: close\r\n" if last else b"", data))


def get_req(path, last=False):
    return (b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n"
            % (path.encode(), b"Connection: close\r\n" if last else b""))


s = sock()
s.sendall(get_req("/health") + get_req("/api/config/eta")
          + post("/api/chat", body("pipelined chat")) + get_req("/api/queue")
          + post("/chat", body("pipelined again"))
          + get_req("/health", last=True))
got, closed = vgtest.read_until_close(s, 20 * SLOW)
rs = vgtest.responses(got)
is_([r.status for r in rs], [200] * 6,
    "six requests in one write on one connection: six answers")
if len(rs) == 6:
    js = [r.json() or {} for r in rs]
    ok(js[0].get("status") == "ok" and "eta_chat_s" in js[1]
       and js[2].get("messages", [{}])[-1].get("content") == "pipelined chat"
       and "queue_length" in js[3]
       and js[4].get("messages", [{}])[-1].get("content")
       == "pipelined again" and js[5].get("status") == "ok",
       "in order, each the right one: health, eta, the chat, the queue, "
       "the second chat, health")
ok(closed, "and the connection closed after the last (Connection: close)")
settled("pipelined")

# -- 3. huge headers and bodies -------------------------------------------------

diag("huge headers and bodies")


def raw(data, p=None):
    """data sent (on a thread: the server may answer before it has read
    it all), the answer read until the server closes."""
    t = SlowClient(p or port, data, pieces=0)
    t.start()
    t.join(30 * SLOW)
    rs = vgtest.responses(t.got)
    return rs[0] if rs else None, t


r, _ = raw(b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000
           + b"\r\n\r\n")
ok(r and r.status == 400 and (r.json() or {}).get("error") == "bad_request",
   "a 20 KB header line (large_client_header_buffers 4 8k): 400 in JSON "
   "(%r)" % (r and (r.status, r.body[:80]),))
r, _ = raw(b"GET /status HTTP/1.1\r\nHost: x\r\n"
           + b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 200) for i in range(200))
           + b"\r\n")
ok(r and r.status == 400 and (r.json() or {}).get("error") == "bad_request",
   "200 header lines, 40 KB in all: 400 in JSON (%r)"
   % (r and (r.status, r.body[:80]),))
r, _ = raw(b"GET /status?" + b"q" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
ok(r and r.status == 414 and (r.json() or {}).get("error"),
   "a 20 KB request line: 414 in JSON (%r)" % (r and (r.status, r.body[:80]),))

r, _ = raw(b"PUT /api/config/eta HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nContent-Length: 100000000\r\n"
           b"\r\n{")
ok(r and r.status == 413
   and (r.json() or {}).get("error") == "body_too_large",
   "an API body declared at 100 MB: 413 body_too_large in JSON (%r)"
   % (r and r.body[:90]))
chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
r, t = raw(b"PUT /api/config/eta HTTP/1.1\r\nHost: x\r\n"
           b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
           b"\r\n" + chunk * 64 + b"0\r\n\r\n")
ok(r and r.status == 413
   and (r.json() or {}).get("error") == "body_too_large",
   "a chunked API body of 4 MB: 413 body_too_large in JSON once it passes "
   "the limit (%r)" % (r and r.body[:90]))
r, _ = raw(post("/api/chat", b"{" + b" " * 200000 + b"}"))
ok(r and r.status == 413
   and (r.json() or {}).get("error") == "body_too_large",
   "a 200 KB chat body (client_max_body_size 64k): nginx's 413, in JSON "
   "(%r)" % (r and (r.status, r.body[:90]),))
r, t = raw(b"PUT /api/config/eta HTTP/1.1\r\nHost: x\r\n"
           b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n"
           + get_req("/health"))
rs = vgtest.responses(t.got)
ok(len(rs) == 1 and rs[0].status == 400
   and (rs[0].json() or {}).get("error") == "invalid_body"
   and rs[0].header("Connection") == "close",
   "a broken chunked API body with a request behind it: one answer, 400 "
   "invalid_body, and the connection closed; what followed is not taken "
   "for a request (%r)" % ([(x.status, x.body[:60]) for x in rs],))

settled("huge headers and bodies")

# -- 4. 10,000 idle connections -------------------------------------------------

diag("%d idle connections" % IDLE)


def idle_round(label):
    """IDLE connections opened, the gateway asked meanwhile, all closed:
    the worker processes' memory before, with them, and after."""
    n0 = active()
    base = ngx.memory()
    idle = []
    for i in range(IDLE):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        idle.append(s)
        if i % 500 == 499:  # paced: no SYN dropped at a full accept queue
            wait_for(lambda: active() >= n0 + i - 200, timeout=10)
    ok(wait_for(lambda: active() >= n0 + IDLE, timeout=30),
       "%s: nginx holds %d idle connections (stub_status: %d active)"
       % (label, IDLE, active()))
    t0 = time.monotonic()
    r = get(port, "/status")
    t_api = time.monotonic() - t0
    t0 = time.monotonic()
    rc = chat(content="among the idle")
    t_chat = time.monotonic() - t0
    ok(r.status == 200 and t_api < 2 * SLOW,
       "%s: an API request is answered at once meanwhile (%.3f s)"
       % (label, t_api))
    ok(rc.status == 200 and t_chat < 2 * SLOW,
       "%s: and a chat request (%.3f s)" % (label, t_chat))
    held = ngx.memory()
    for s in idle:
        s.close()
    ok(wait_for(lambda: active() <= n0, timeout=30),
       "%s: all closed, nginx's count is back (%d active)"
       % (label, active()))
    after = ngx.memory()
    diag("%s: worker processes' VmRSS %s before, %s with %d idle "
         "connections, %s after (RssAnon %s, %s, %s)"
         % (label, kb(base["VmRSS"]), kb(held["VmRSS"]), IDLE,
            kb(after["VmRSS"]), kb(base["RssAnon"]), kb(held["RssAnon"]),
            kb(after["RssAnon"])))
    return base, held, after


b1, h1, a1 = idle_round("first round")
b2, h2, a2 = idle_round("second round")
if not VALGRIND:
    # their own heap (RssAnon): what else the processes touch meanwhile
    # (the zone, the store's files) does not blur it
    per = (h1["RssAnon"] - b1["RssAnon"]) * 1024.0 / IDLE
    ok(per < 2048, "an idle connection costs the worker processes %.0f "
       "bytes" % per)
    top1 = max(h1["RssAnon"], a1["RssAnon"])
    top2 = max(h2["RssAnon"], a2["RssAnon"])
    ok(top2 - top1 < max(2048, (top1 - b1["RssAnon"]) / 2),
       "a second round of %d reuses that memory: the heap at most %s "
       "(first round: %s; one that kept nothing would take as much "
       "again)" % (IDLE, kb(top2), kb(top1)))
settled("idle connections")

# -- 5. clients that never read -----------------------------------------------------

diag("clients that never read")
URL = "ws://127.0.0.1:%d" % port


def fake_task(sid):
    """The fakes' record of the WebSocket task of session sid."""
    for f in fakes:
        for t in f.stats(tasks=True)["tasks"]:
            if t.get("session_id") == sid:
                return t
    return None


def flood(c, n, message):
    """n messages the peer answers with much more; the client's sends
    give up after 5 s (they never should).  The client's receive buffer
    is kept small: the kernel's autotuning would otherwise take tens of
    MB of what it never reads."""
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.send_timeout = 5 * SLOW
    sent = 0
    try:
        for i in range(n):
            c.send_json(message)
            sent += 1
    except OSError:
        pass
    return sent


N, BIG = 150, 1 << 20               # 150 answers of 1 MB: 150 MB asked
ASK = {"type": "audio_chunk", "audio_base64": "AAAA", "_big_frame": BIG}
GROW = 4096                         # kB the gateway may grow by, at most


def running(sid):
    return (fake_task(sid) or {}).get("status") == "running"


def chatter(c, sid, seconds):
    """The client sends a small frame every 0.5 s (and reads nothing)
    until its session ends or "seconds" (times SLOW) pass: whether it
    ended."""
    stop = threading.Event()

    def talk():
        i = 0
        while not stop.wait(0.5):           # a frame every 0.5 s
            try:
                c.send_json({"type": "client_diagnostic", "n": i})
            except OSError:
                return
            i += 1
    t = threading.Thread(target=talk, daemon=True)
    t.start()
    ended = wait_for(lambda: not running(sid), timeout=seconds)
    stop.set()
    t.join(5)
    return ended


def never_reads(label, path, sid, end):
    """A client on a pool WebSocket route floods the worker with requests
    for big answers and reads none.  "end": what it does then: "silent",
    "chatty" (keeps sending a small frame every 0.5 s) or "leaves"."""
    base = ngx.memory()
    c = wsc.WSClient.connect(URL + path + sid, timeout=10 * SLOW)
    if path == "/ws/duplex/":
        c.recv_json(5 * SLOW)               # queue_done; then never again
    ok(c.status == 101 and flood(c, N, ASK) == N,
       "%s: the client asked for %d answers of 1 MB (%.0f MB)"
       % (label, N, N * BIG / 1048576.0))
    out, t0 = wait_steady(lambda: (fake_task(sid) or {}).get("frames_out"))
    grown = ngx.memory()["VmRSS"] - base["VmRSS"]
    ok(out is not None and 1 < out < N,
       "%s: the worker's sends block after %s answers (%.1f MB in socket "
       "buffers on the way): it is not read any more" %
       (label, out, (out or 0) * BIG / 1048576.0))
    ok(VALGRIND or grown < GROW,
       "%s: the gateway's worker processes grew by %s meanwhile"
       % (label, kb(grown)))
    if end == "leaves":
        t0 = time.monotonic()
        c.abort()
        how = "the client's going"
        over = wait_for(lambda: not running(sid), timeout=10)
    elif end == "chatty":
        how = "send_timeout 3s, although the client keeps sending,"
        over = chatter(c, sid, 10)
    else:
        how = "send_timeout 3s"
        over = wait_for(lambda: not running(sid), timeout=10)
    ok(over, "%s: %s ends the session %.1f s after the last progress (%s)"
       % (label, how, time.monotonic() - t0,
          (fake_task(sid) or {}).get("status")))
    c.abort()
    settled(label)


RELAY, PUMP = "the pool's relay (queue_frames)", "nginx's own pump"
never_reads(RELAY, "/ws/duplex/", "nr_relay", "silent")
never_reads(RELAY + ", a chatty client", "/ws/duplex/", "nr_chatty", "chatty")
never_reads(RELAY + ", the client leaves", "/ws/duplex/", "nr_gone", "leaves")
never_reads(PUMP, "/pump/ws/duplex/", "nr_pump", "silent")

# nginx's pump re-arms send_timeout on any event: a client that keeps
# sending is never timed out there (docs/hostile-clients.md)
# (not under valgrind: the fake worker's own send gives up after 30 s)
if VALGRIND:
    ok(True, "# SKIP nginx's pump and a chatty client: not under valgrind")
else:
    c = wsc.WSClient.connect(URL + "/pump/ws/duplex/nr_pump_chatty",
                             timeout=10)
    flood(c, N, ASK)
    wait_steady(lambda: (fake_task("nr_pump_chatty") or {})
                .get("frames_out"))
    ok(not chatter(c, "nr_pump_chatty", 8),
       "%s, a chatty client: still open after 8 s (nginx's send_timeout is "
       "put off by the client's frames; queue_frames=on routes use the "
       "relay)" % PUMP)
    c.abort()
settled(PUMP + ", a chatty client that leaves")

# an SSE stream (200,000 events, sent as fast as the worker can) to a
# client that reads nothing: nginx's unbuffered proxying stops reading the
# worker once its buffer waits; send_timeout ends it
base = ngx.memory()
s = sock()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(post("/chat", body("sse never read", streaming=True,
                             _chunks=200000, _interval_ms=0)))
ok(wait_for(lambda: fake_named("sse never read")), "an SSE stream starts")
t0 = time.monotonic()
ok(wait_for(lambda: (fake_named("sse never read") or {}).get("status")
            != "running", timeout=20),
   "its client reads nothing: send_timeout ends it (%.1f s, %s)"
   % (time.monotonic() - t0, (fake_named("sse never read") or {})
      .get("status")))
grown = ngx.memory()["VmRSS"] - base["VmRSS"]
ok(VALGRIND or grown < GROW,
   "SSE: the gateway's worker processes grew by %s" % kb(grown))
s.close()
settled("an SSE client that never reads")

# a realtime provider session: Deepgram speech, 64 KB of audio per Speak
before = ngx.memory()
n_seen = len(prov.seen())
c = wsc.WSClient.connect(URL + "/v1/proxy/dg/v1/speak?model=aura-2",
                         timeout=10 * SLOW)
m = c.recv(5 * SLOW)
ok(c.status == 101 and m is not None and m.kind == "text",
   "realtime: a Deepgram speech session opens (Metadata)")
NS = 2000
SPEAK = {"type": "Speak", "text": "a" * 700}
ok(flood(c, NS, SPEAK) == NS, "realtime: the client sends %d Speak "
   "messages (%.1f MB of audio asked) and reads nothing" %
   (NS, NS * 65536 / 1048576.0))
t0 = time.monotonic()
time.sleep(2)                       # deliberately: the stream fills up
grown = ngx.memory()["VmRSS"] - before["VmRSS"]
ok(VALGRIND or grown < GROW,
   "realtime: the gateway's worker processes grew by %s" % kb(grown))
rec = prov.wait_seen(n_seen + 1, timeout=15)
s = rec[-1] if len(rec) > n_seen else {}
ok(s.get("server_messages") is not None and s["server_messages"] < NS / 2,
   "realtime: send_timeout ended the session (%.1f s); the provider could "
   "send %s of %d answers before its sends blocked (ended_by %s)"
   % (time.monotonic() - t0, s.get("server_messages"), NS,
      s.get("ended_by")))
ok(wait_for(lambda: [x for x in get(port, "/v1/logs?limit=5").json()
                     if x["provider"] == "dg"], timeout=10),
   "realtime: the session is on the books")
x = [x for x in get(port, "/v1/logs?limit=5").json()
     if x["provider"] == "dg"][0]
is_((x["status"], x["http_status"]), ("timeout", 504),
    "realtime: as a timeout (504), as docs/realtime.md says")
c.abort()

# -- 6. clients that close in every phase ---------------------------------------

diag("clients that close in every phase")


def ticket(tid):
    r = get(port, "/api/queue/" + tid)
    return r.json() if r.status == 200 else None


def new_ticket(where, before, pool=None):
    """A ticket that was not in before, queued ("entries") or running."""
    def find():
        return [e["ticket_id"] for e in queue()[where]
                if e["ticket_id"] not in before
                and (pool is None or e.get("pool") == pool
                     or e.get("worker_url") == pool)]
    got = wait_for(find)
    return got[0] if got else None


def tickets():
    q = queue()
    return set(e["ticket_id"] for e in q["entries"] + q["running"])


# queued: the only worker of pool solo runs a task; an HTTP client and a
# WebSocket client park behind it and leave
occ = threading.Thread(target=lambda: request(
    "POST", port, "/solo/chat", body=body("occupier", _task_ms=3000)),
    daemon=True)
occ.start()
ok(wait_for(lambda: W3.stats()["running"] == 1), "pool solo's worker is busy")
before = tickets()
s = sock()
s.sendall(post("/solo/chat", body("parked")))
tid = new_ticket("entries", before)
ok(tid, "an HTTP client is parked")
s.close()
ok(wait_for(lambda: (ticket(tid) or {}).get("status") == "abandoned",
            timeout=2), "it closes while queued: its ticket is abandoned "
   "at once")
before = tickets()
c = wsc.WSClient.connect(URL + "/solo/ws/duplex/parked_ws", timeout=10)
m = c.recv_json(5)
tid = m and m.get("ticket_id")
ok(m and m.get("type") == "queued", "a WebSocket client is queued")
c.abort(rst=True)
ok(tid and wait_for(lambda: (ticket(tid) or {}).get("status")
                    == "abandoned", timeout=2),
   "it drops its connection while queued: its ticket is abandoned at once")
occ.join(10)
is_(W3.served(["occupier", "parked"]), ["occupier"],
    "the parked client that left never reached the worker")

# the upstream connect: the worker's accept queue is full, nginx's SYN
# waits (proxy_connect_timeout 20s)
ST.stall()
before = tickets()
s = sock()
s.sendall(post("/stall/chat", body("connecting")))
tid = new_ticket("running", before)
ok(tid, "a chat request got the stalled worker: nginx connects to it")
time.sleep(0.5)                 # deliberately: nginx's connect is pending
s.close()
t0 = time.monotonic()
ok(wait_for(lambda: (ticket(tid) or {}).get("finished_at"), timeout=5),
   "the client closes during the upstream connect: the task is released "
   "(%.2f s)" % (time.monotonic() - t0))
ST.resume()
like(ngx.error_log(), r"client prematurely closed connection, so upstream "
     r"connection is closed too while connecting to upstream",
     "(nginx's log says so: while connecting to upstream)")

# the request is sent, the answer not yet there
before = tickets()
s = sock()
s.sendall(post("/chat", body("waiting", _task_ms=5000)))
ok(wait_for(lambda: (fake_named("waiting") or {}).get("status")
            == "running"), "a chat request reached its worker")
s.close()
ok(wait_for(lambda: (fake_named("waiting") or {}).get("status")
            == "aborted", timeout=3),
   "the client closes before the answer: the worker's task is aborted")

# mid-stream (SSE, chunked)
s = sock()
s.sendall(post("/chat", body("streaming", streaming=True, _chunks=50,
                             _interval_ms=100)))
got = b""
s.settimeout(5)
while got.count(b"text_delta") < 2:
    data = s.recv(4096)
    if not data:
        break
    got += data
ok(got.count(b"text_delta") >= 2, "an SSE stream flows")
s.close()
ok(wait_for(lambda: (fake_named("streaming") or {}).get("status")
            == "aborted", timeout=3),
   "the client closes mid-stream: the worker's task is aborted")

# mid-WebSocket, through the relay and through nginx's pump
for path, sid in (("/ws/duplex/", "mid_relay"),
                  ("/pump/ws/duplex/", "mid_pump")):
    c = wsc.WSClient.connect(URL + path + sid, timeout=10)
    c.send_json({"type": "prepare"})
    m, _ = c.recv_until("prepared", 5)
    ok(m, "a WebSocket session on %s is prepared" % path)
    c.abort()
    ok(wait_for(lambda: (fake_task(sid) or {}).get("status") != "running",
                timeout=3),
       "its client drops the connection: the worker's session ends")

# the API's body read
s = sock()
s.sendall(b"PUT /api/config/eta HTTP/1.1\r\nHost: x\r\nContent-Type: "
          b"application/json\r\nContent-Length: 1000\r\n\r\n{\"eta_chat_s\"")
time.sleep(0.2)                 # deliberately: nginx reads what came
s.close()
is_(get(port, "/api/config/eta").status, 200,
    "a client closes during an API body: the API answers the next one")
settled("closes in every phase", timeout=10)
ok(wait_for(lambda: [w for w in workers() if w["url"] == ST.url
                     and w["status"] == "idle"], timeout=10),
   "the stalled worker is idle again once it accepts")

# -- 7. 800 of them: memory flat ------------------------------------------------

diag("clients giving up in every phase, in numbers")


def quitter(i):
    """One client of a random kind that leaves at a random moment; what
    happened, for the summary."""
    kind = random.choice(["chat", "chat", "sse", "ws", "ws", "api", "head"])
    wait = random.uniform(0, 0.4)
    try:
        if kind == "ws":
            c = wsc.WSClient.connect(URL + random.choice(
                ["/ws/duplex/", "/pump/ws/duplex/"]) + "q%d" % i,
                timeout=10 * SLOW)
            c.send_json({"type": "prepare"})
            c.recv(wait)
            c.abort(rst=random.random() < 0.3)
            return kind
        s = socket.create_connection(("127.0.0.1", port), timeout=10 * SLOW)
        if kind == "chat":
            s.sendall(post("/chat", body("q%d" % i, _task_ms=random.randint(
                20, 300))))
        elif kind == "sse":
            s.sendall(post("/chat", body("q%d" % i, streaming=True,
                                         _chunks=20, _interval_ms=30)))
        elif kind == "api":
            s.sendall(b"PUT /api/config/eta HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 100\r\n\r\n{")
        else:
            s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\nX-A: ")
        s.settimeout(wait)
        try:
            s.recv(4096)
        except socket.timeout:
            pass
        if random.random() < 0.3:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()
        return kind
    except Exception as e:                      # noqa: BLE001
        return "%s: %r" % (kind, e)


def crowd(n, width=8):
    results = []
    lock = threading.Lock()
    todo = list(range(n))

    def run():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            r = quitter(i)
            with lock:
                results.append(r)
    ts = [threading.Thread(target=run, daemon=True) for _ in range(width)]
    for t in ts:
        t.start()
    finished(ts, timeout=120)
    return results


WARM, MANY = (20, 100) if VALGRIND else (100, 800)
crowd(WARM)
settled("a first %d" % WARM, timeout=15)
warm = ngx.memory()
t0 = time.monotonic()
res = crowd(MANY)
odd = [r for r in res if ":" in r]
diag("%d clients in %.1f s: %s" % (len(res), time.monotonic() - t0,
                                    ", ".join("%s %d" % (k, res.count(k))
                                              for k in sorted(set(res))
                                              if ":" not in k)))
ok(len(res) == MANY and not odd, "%d clients came and left (%r)"
   % (len(res), odd[:3]))
settled("%d clients" % MANY, timeout=15)
end = ngx.memory()
grown = end["VmRSS"] - warm["VmRSS"]
diag("worker processes' VmRSS %s after the first %d, %s after %d more "
     "(RssAnon %s, %s)" % (kb(warm["VmRSS"]), WARM, kb(end["VmRSS"]), MANY,
                           kb(warm["RssAnon"]), kb(end["RssAnon"])))
anon = end["RssAnon"] - warm["RssAnon"]
ok(VALGRIND or (grown < 3072 and anon < 1536),
   "memory flat: the worker processes grew by %s over %d clients, %s of "
   "it their own heap (the rest: finished tickets the zone keeps for 5 "
   "minutes)" % (kb(grown), MANY, kb(anon)))

# -- 8. big chat bodies, parked ---------------------------------------------------

# (last: the memory figures above are taken before these bodies' parsing
# leaves its high-water mark in the worker processes' heap)
diag("big chat bodies, parked")
# behind a busy worker: each body waits in its temporary file; what
# affinity=messages read of it is gone once the chain is made
occ = threading.Thread(target=lambda: request(
    "POST", port, "/solo/chat", body=body("big occupier", _task_ms=4000)),
    daemon=True)
occ.start()
ok(wait_for(lambda: W3.stats()["running"] == 1), "pool solo's worker is busy")
NB, NM = (2, 4000) if VALGRIND else (6, 40000)
BIG_CHAT = json.dumps({"messages": [{"role": "user", "content": "m" * 90}]
                       * NM}).encode()
base = ngx.memory()
parked = []
for i in range(NB):
    s = sock()
    s.sendall(post("/solo/api/chat", BIG_CHAT))
    parked.append(s)
ok(wait_for(lambda: queue()["queue_length"] == NB, timeout=20 * SLOW),
   "%d chats of %.1f MB each (%d messages) are parked"
   % (NB, len(BIG_CHAT) / 1048576.0, NM))
grown = ngx.memory()["RssAnon"] - base["RssAnon"]
ok(VALGRIND or grown < 16384,
   "the worker processes hold %s for them: not the copies and JSON trees "
   "of their bodies (%.0f MB of JSON)"
   % (kb(grown), NB * len(BIG_CHAT) / 1048576.0))
for s in parked:
    s.close()
ok(wait_for(lambda: queue()["queue_length"] == 0, timeout=5),
   "they leave: the queue is empty")
occ.join(10)
settled("big chat bodies, parked")

# -- the end -----------------------------------------------------------------------

ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
