#!/usr/bin/env python3
#
# t/034-affinity-eta.t -- KV-cache affinity and the ETA of queued tickets
# (SPEC 3.3, 3.5, issue items 5-6), with three nginx instances (master and
# two workers each) running side by side:
#   - affinity=messages: a conversation's follow-up turns go back to the
#     worker that served the previous turn while the other one is idle,
#     also with two conversations interleaved; a new conversation takes a
#     worker with an empty cache, else the least recently used one; the
#     holder being busy does not make a follow-up wait; cache_key= ($arg_,
#     regex capture) gives exact-match stickiness; /api/cache (cached_hash,
#     hits, misses, hit_rate), /workers cached_hash, $voicegw_cache;
#   - the worked example of SPEC 3.5: one worker 30 s into an omni_duplex
#     session (baseline 90), queue [chat, audio_duplex, chat] -> eta_seconds
#     60.0, 75.0, 195.0 in /api/queue and /api/queue/{id} (and 90-e, 105-e,
#     225-e early on);
#   - the moving average: ema = alpha*d + (1-alpha)*ema in /api/config/eta,
#     the baseline until min_samples, the average from then on, 15 s for a
#     task that overran its estimate.

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

d = workdir("034-affinity-eta")
HEX16 = r"^[0-9a-f]{16}$"


def near(got, want, tol=0.2):
    return isinstance(got, (int, float)) and abs(got - want) <= tol


def url(fake):
    return "http://127.0.0.1:%d" % fake.port


def idle(port):
    return all(w["status"] == "idle"
               for w in get(port, "/workers").json()["workers"])


class Parked:
    """A request sent on a raw socket and not read: it waits in the queue
    until the socket is closed (or read with finish())."""

    def __init__(self, port, method, path, body=None):
        body = json.dumps(body).encode() if body is not None else b""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" % (
            method, path)
        if method == "POST":
            head += ("Content-Type: application/json\r\n"
                     "Content-Length: %d\r\n" % len(body))
        self.sock.sendall(head.encode() + b"\r\n" + body)

    def finish(self, timeout=30):
        self.sock.settimeout(timeout)
        data = b""
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    break
                data += b
        except OSError:
            pass
        self.sock.close()
        status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") \
            else None
        return status, data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ============================================================================
# 1. the worked example of SPEC 3.5 starts first: it needs 30 s of a session
# ============================================================================

eport = free_port()
we = FakeWorker(d).start()
ngx_eta = Nginx(os.path.join(d, "eta"), """
    voicegw_zone vg_eta 4m;
    voicegw_eta  omni_duplex=90 chat=15 audio_duplex=120;
    upstream etapool {
        voicegw_pool queue=100 queue_timeout=10m health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(w)d;
    }
    server {
        listen 127.0.0.1:%(port)d;
        proxy_http_version 1.1;
        proxy_buffering    off;
        proxy_set_header   Upgrade $http_upgrade;
        proxy_set_header   Connection "upgrade";
        location = /ws/duplex {
            voicegw_task omni_duplex session=$arg_session_id;
            proxy_pass   http://etapool;
        }
        location = /chat {
            voicegw_task chat;
            proxy_pass   http://etapool;
        }
        location = /adx {
            voicegw_task audio_duplex session=$arg_session_id;
            proxy_pass   http://etapool/stream;
        }
        location / { voicegw_api; }
    }
""" % {"w": we.port, "port": eport}, workers=2).start(wait_ports=[eport])

ok(wait_for(lambda: idle(eport), timeout=5), "ETA: the worker is idle")
session = wsc.WSClient.connect("ws://127.0.0.1:%d/ws/duplex?session_id=o1"
                               % eport, timeout=10 * SLOW)
t_session = time.time()
is_(session.status, 101, "ETA: an omni_duplex session runs on the only worker")

eta_parked = []
for i, (path, body) in enumerate((("/chat", {"messages": []}),
                                  ("/adx?session_id=adx_q", None),
                                  ("/chat", {"messages": []}))):
    eta_parked.append(Parked(eport, "POST" if body is not None else "GET",
                             path, body))
    ok(wait_for(lambda: get(eport, "/api/queue").json()["queue_length"]
                == i + 1, timeout=5), "ETA: %s parks" % path)
q = get(eport, "/api/queue").json()
is_([e["task_type"] for e in q["entries"]], ["chat", "audio_duplex", "chat"],
    "ETA: queue [chat, audio_duplex, chat]")
is_([e["position"] for e in q["entries"]], [1, 2, 3], "positions 1, 2, 3")
tickets = [e["ticket_id"] for e in q["entries"]]
ok(len(tickets) == 3 and all(re.match(r"^tk_[0-9a-f]{16}$", t)
                             for t in tickets), "three tickets")

# a little later, so that e is not 0: the ETAs count down with it
ok(wait_for(lambda: ((get(eport, "/api/queue").json()["running"] or [{}])[0]
                     .get("elapsed_s") or 0) >= 2.3, timeout=5),
   "ETA: the session has run 2.3 s")
q = get(eport, "/api/queue").json()
e = q["running"][0]["elapsed_s"] if q["running"] else None
etas = [x["eta_seconds"] for x in q["entries"]]
ok(e is not None and 2.3 <= e < 5 and len(etas) == 3
   and near(etas[0], 90 - e) and near(etas[1], 105 - e)
   and near(etas[2], 225 - e),
   "early on (elapsed %s s): eta_seconds 90-e, 105-e, 225-e (%s)"
   % (e, etas))
for i, t in enumerate(tickets):
    j = get(eport, "/api/queue/" + t).json()
    ok(j.get("status") == "queued" and j.get("position") == i + 1
       and near(j.get("eta_seconds"), etas[i]),
       "GET /api/queue/%s: queued, position %d, eta %s (%s)"
       % (t, i + 1, etas[i], j.get("eta_seconds")))

at30 = {}


def look_at_30():
    delay = t_session + 30.0 - time.time()
    if delay > 0:
        time.sleep(delay)       # deliberately: a look at 30 s
    at30["queue"] = get(eport, "/api/queue").json()
    at30["tickets"] = [get(eport, "/api/queue/" + t).json() for t in tickets]
    at30["when"] = time.time() - t_session


watcher = threading.Thread(target=look_at_30, daemon=True)
watcher.start()

# ============================================================================
# 2. affinity, while the ETA session runs
# ============================================================================

aport = free_port()
a1, a2 = FakeWorker(d).start(), FakeWorker(d).start()
k1, k2 = FakeWorker(d).start(), FakeWorker(d).start()
AFF = {a1.port: a1, a2.port: a2}
KEYS = {k1.port: k1, k2.port: k2}

ngx_aff = Nginx(os.path.join(d, "aff"), """
    voicegw_zone vg_aff 4m;
    upstream aff {
        voicegw_pool queue=100 queue_timeout=60s health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(a1)d;
        server 127.0.0.1:%(a2)d;
    }
    upstream keyp {
        voicegw_pool queue=100 queue_timeout=60s health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(k1)d;
        server 127.0.0.1:%(k2)d;
    }
    log_format vg '$request_uri $status cache=$voicegw_cache '
                  'worker=$voicegw_worker ticket=$voicegw_ticket';
    server {
        listen 127.0.0.1:%(port)d;
        access_log logs/vg.log vg;
        proxy_http_version 1.1;
        location = /api/chat {
            voicegw_task chat pool=aff affinity=messages;
            proxy_pass   http://aff/chat;
        }
        location = /plain {
            voicegw_task chat pool=aff;
            proxy_pass   http://aff/chat;
        }
        location = /sess {
            voicegw_task chat pool=keyp cache_key=$arg_sid;
            proxy_pass   http://keyp/chat;
        }
        location ~ "^/conv/([A-Za-z0-9]+)$" {
            voicegw_task chat pool=keyp cache_key=$1;
            proxy_pass   http://keyp/chat?conv=$1;
        }
        location / { voicegw_api; }
    }
""" % {"a1": a1.port, "a2": a2.port, "k1": k1.port, "k2": k2.port,
       "port": aport}, workers=2).start(wait_ports=[aport])

ok(wait_for(lambda: idle(aport), timeout=5), "affinity: four idle workers")
logged = []      # (uri, cache, worker url) expected in the access log


def cache():
    # a task's worker is released just after its answer: let it settle
    ok(wait_for(lambda: idle(aport), timeout=3),
       "affinity: the workers are idle before GET /api/cache")
    return get(aport, "/api/cache").json()


def cached_hash(fake, where="/api/cache"):
    ok(wait_for(lambda: idle(aport), timeout=3),
       "affinity: the workers are idle before GET %s" % where)
    for w in get(aport, where).json()["workers"]:
        if w["url"] == url(fake):
            return w["cached_hash"]
    return "?"


class Conv:
    """A conversation: each turn sends the history plus a new user message
    and appends the worker's reply."""

    def __init__(self, name, system):
        self.name = name
        self.messages = [{"role": "system", "content": system}]
        self.turns = 0

    def turn(self, path="/api/chat", task_ms=20):
        self.turns += 1
        self.messages.append({"role": "user", "content":
                              "%s, question %d: what comes next?"
                              % (self.name, self.turns)})
        ok(wait_for(lambda: idle(aport), timeout=3),
           "affinity: the workers are idle before %s's turn %d"
           % (self.name, self.turns))
        r = request("POST", aport, path,
                    body={"messages": self.messages, "_task_ms": task_ms})
        j = r.json() or {}
        self.messages.append({"role": "assistant",
                              "content": j.get("text", "")})
        return j.get("worker_port"), r


def chat(conv, expect_port, expect_cache, what):
    p, r = conv.turn()
    is_(p, expect_port, what)
    if p in AFF:
        logged.append(("/api/chat", expect_cache, "http://127.0.0.1:%d" % p))
    return p


A = Conv("Alice", "Alice's assistant answers questions about the weather "
         "in short sentences and always politely.")
B = Conv("Bob", "Bob's assistant translates everything into French, one "
         "line at a time, keeping the tone.")
C = Conv("Carol", "Carol's helper summarises news stories in three bullet "
         "points with no commentary.")

c0 = cache()
is_([w["cached_hash"] for w in c0["workers"]], [None] * 4,
    "/api/cache: no worker has a cache yet")
px, r = A.turn()
ok(px in AFF, "A, turn 1: served by a worker of the pool")
py = [p for p in AFF if p != px][0]
logged.append(("/api/chat", "miss", "http://127.0.0.1:%d" % px))
wx, wy = AFF.get(px), AFF[py]
h1 = cached_hash(wx)
like(h1 or "", HEX16, "the worker's cached_hash: 16 hex digits")
is_(cached_hash(wx, "/workers"), h1, "/workers shows the same cached_hash")
is_(cached_hash(wy), None, "the other worker's cache is empty")

chat(B, py, "miss", "B, turn 1 (unrelated): the worker with an empty cache")
hb = cached_hash(wy)
like(hb or "", HEX16, "which now has a cached_hash")
ok(hb != h1, "a different one")

for turn in (2, 3, 4):
    chat(A, px, "hit", "A, turn %d: back to A's worker, the other being idle"
         % turn)
    if turn == 2:
        h2 = cached_hash(wx)
        ok(h2 != h1 and re.match(HEX16, h2 or ""),
           "A's worker's cached_hash moved on with the conversation")
    chat(B, py, "hit", "B, turn %d: back to B's worker" % turn)

c = cache()
aff_workers = [w for w in c["workers"] if w["url"] in (url(wx), url(wy))]
is_((c["hits"] - c0["hits"], c["misses"] - c0["misses"]), (6, 2),
    "/api/cache: 6 hits, 2 misses")
ok(near(c["hit_rate"], c["hits"] / float(c["hits"] + c["misses"]), 1e-6),
   "hit_rate = hits / (hits + misses) (%s)" % c["hit_rate"])
is_(sorted(w["status"] for w in aff_workers), ["idle", "idle"],
    "both workers idle")
ok(all(w.get("last_used_at") for w in aff_workers), "both have last_used_at")

chat(C, px, "miss", "C (new, no empty cache): the least recently used "
     "worker, A's")
chat(A, py, "miss", "A again, its cache evicted: the least recently used "
     "worker now, B's")
chat(C, px, "hit", "C, turn 2: back to C's worker")
chat(A, py, "hit", "A, next turn: sticks to its new worker")

# a follow-up does not wait for its worker when that one is busy
slow = threading.Thread(target=C.turn, kwargs={"task_ms": 1500})
slow.start()
ok(wait_for(lambda: any(w["status"] == "busy" and w["url"] == url(wx)
                        for w in get(aport, "/workers").json()["workers"]),
            timeout=3), "C's worker is busy with a long turn")
A.messages.append({"role": "user", "content": "quick one"})
r = request("POST", aport, "/api/chat",
            body={"messages": A.messages, "_task_ms": 20})
is_((r.json() or {}).get("worker_port"), py,
    "A's follow-up while the other worker is busy: A's worker")
slow.join()
logged.append(("/api/chat", "hit", url(wy)))
logged.append(("/api/chat", "hit", url(wx)))
ok(wait_for(lambda: idle(aport), timeout=3), "affinity: the workers are idle")
busy = threading.Thread(target=request, args=("POST", aport, "/api/chat"),
                        kwargs={"body": {"messages": A.messages + [
                            {"role": "user", "content": "y" * 80}],
                            "_task_ms": 1500}})
busy.start()
ok(wait_for(lambda: any(w["status"] == "busy" and w["url"] == url(wy)
                        for w in get(aport, "/workers").json()["workers"]),
            timeout=3), "A's worker is busy")
t0 = time.time()
r = request("POST", aport, "/api/chat",
            body={"messages": A.messages + [{"role": "user",
                                             "content": "z" * 80}],
                  "_task_ms": 20})
is_((r.json() or {}).get("worker_port"), px,
    "a follow-up whose worker is busy takes the idle one at once")
ok(time.time() - t0 < 1.0 * SLOW,
   "without waiting (%.3f s)" % (time.time() - t0))
is_(r.header("X-VoiceGW-Queue-Wait-Ms"), "0", "X-VoiceGW-Queue-Wait-Ms: 0")
busy.join()
logged.append(("/api/chat", "hit", url(wy)))
logged.append(("/api/chat", "miss", url(wx)))

# a task without affinity logs no cache
r = request("POST", aport, "/plain", body={"messages": [], "_task_ms": 10})
is_(r.status, 200, "a task without affinity")
logged.append(("/plain", "-", "http://127.0.0.1:%d" % r.json()["worker_port"]))

# -- cache_key: exact-match stickiness ----------------------------------------

c0 = cache()


def keyed(path, expect_port, expect_cache, what):
    ok(wait_for(lambda: idle(aport), timeout=3),
       "affinity: the workers are idle before %s" % path)
    r = request("POST", aport, path, body={"messages": [], "_task_ms": 10})
    p = (r.json() or {}).get("worker_port")
    is_(p, expect_port, what)
    logged.append((path, expect_cache, "http://127.0.0.1:%d" % (p or 0)))
    return p


r = request("POST", aport, "/sess?sid=alpha",
            body={"messages": [], "_task_ms": 10})
ka = (r.json() or {}).get("worker_port")
ok(ka in KEYS, "cache_key=$arg_sid: sid=alpha gets a worker")
kb = [p for p in KEYS if p != ka][0]
logged.append(("/sess?sid=alpha", "miss", "http://127.0.0.1:%d" % ka))
ha = cached_hash(KEYS[ka])
like(ha or "", HEX16, "its cached_hash is 16 hex digits")
keyed("/sess?sid=beta", kb, "miss", "sid=beta: the worker with an empty cache")
keyed("/sess?sid=alpha", ka, "hit", "sid=alpha again: alpha's worker")
is_(cached_hash(KEYS[ka]), ha, "the same key, the same cached_hash")
keyed("/sess?sid=beta", kb, "hit", "sid=beta again: beta's worker")
keyed("/sess?sid=alpha", ka, "hit", "sid=alpha again: alpha's worker")
keyed("/conv/alpha", ka, "hit", "a regex capture with the same key value: "
      "alpha's worker")
keyed("/conv/beta", kb, "hit", "/conv/beta: beta's worker")
keyed("/sess?sid=alphabet", ka, "miss", "sid=alphabet (only a prefix of "
      "nothing cached; exact match only): the least recently used worker")
keyed("/conv/beta", kb, "hit", "/conv/beta still on beta's worker")
keyed("/sess?sid=alpha", ka, "miss", "sid=alpha: its worker now holds "
      "alphabet, so the least recently used")
c = cache()
is_((c["hits"] - c0["hits"], c["misses"] - c0["misses"]), (6, 4),
    "/api/cache counted 6 hits and 4 misses for the keys")
ok(near(c["hit_rate"], c["hits"] / float(c["hits"] + c["misses"]), 1e-6),
   "hit_rate = hits / (hits + misses)")
is_(c["hits"] + c["misses"], 26, "26 tasks with affinity in all")

ok(ngx_aff.stop(), "affinity: nginx stopped")
LINE = re.compile(r"^(\S+) (\d+) cache=(\S+) worker=(\S+) ticket=(\S+)$")
got = []
for line in open(os.path.join(d, "aff", "logs", "vg.log")).read().splitlines():
    m = LINE.match(line)
    if m and (m.group(1).startswith(("/api/chat", "/sess", "/conv",
                                     "/plain"))):
        got.append((m.group(1), m.group(3), m.group(4)))
is_(sorted(got), sorted(logged),
    "the access log's $voicegw_cache and $voicegw_worker of every task")
for f in list(AFF.values()) + list(KEYS.values()):
    ok(never_two(f), "never two tasks at once on worker %d" % f.port)
is_(ngx_aff.alerts(), [], "affinity: no [alert], [crit] or [emerg]")

# ============================================================================
# 3. the moving average
# ============================================================================

mport = free_port()
wm = FakeWorker(d).start()
ngx_ema = Nginx(os.path.join(d, "ema"), """
    voicegw_zone vg_ema 4m;
    voicegw_eta  alpha=0.5 min_samples=2 chat=100;
    upstream emapool {
        voicegw_pool queue=100 queue_timeout=60s health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(w)d;
    }
    server {
        listen 127.0.0.1:%(port)d;
        proxy_http_version 1.1;
        location = /chat {
            voicegw_task chat;
            proxy_pass   http://emapool;
        }
        location / { voicegw_api; }
    }
""" % {"w": wm.port, "port": mport}, workers=2).start(wait_ports=[mport])
ok(wait_for(lambda: idle(mport), timeout=5), "EMA: the worker is idle")


def eta_cfg():
    return get(mport, "/api/config/eta").json()


def run_chat(ms):
    return request("POST", mport, "/chat", body={"messages": [],
                                                 "_task_ms": ms}, timeout=30)


def in_background(ms):
    t = threading.Thread(target=run_chat, args=(ms,), daemon=True)
    t.start()
    return t


def queue_m():
    return get(mport, "/api/queue").json()


def running_for(secs):
    """Waits until the running task has been running secs seconds."""
    ok(wait_for(lambda: ((queue_m()["running"] or [{}])[0].get("elapsed_s")
                         or 0) >= secs, timeout=5),
       "EMA: the running task has run %s s" % secs)


e0 = eta_cfg()
ok(e0["eta_chat_s"] == 100.0 and e0["eta_ema_alpha"] == 0.5
   and e0["eta_ema_min_samples"] == 2,
   "EMA: voicegw_eta alpha=0.5 min_samples=2 chat=100")
ok(e0["ema_chat_s"] is None and e0["ema_chat_samples"] == 0,
   "no chat sample yet: ema_chat_s null")

r = run_chat(1000)
is_(r.status, 200, "a chat task of 1.0 s")
ok(wait_for(lambda: eta_cfg()["ema_chat_samples"] == 1, timeout=2),
   "is the first sample")
e1 = eta_cfg()
ok(e1["ema_chat_samples"] == 1 and near(e1["ema_chat_s"], 1.0, 0.15 * SLOW),
   "the first sample sets the average: %s s, 1 sample"
   % e1["ema_chat_s"])
ema = e1["ema_chat_s"] or 1.0

# samples (1) < min_samples (2): the queue uses the 100 s baseline
t2 = in_background(2000)
ok(wait_for(lambda: queue_m()["running"], timeout=3), "a 2.0 s task runs")
t3 = in_background(1000)
ok(wait_for(lambda: queue_m()["queue_length"] == 1, timeout=3),
   "a 1.0 s task waits behind it")
running_for(0.5)
q = queue_m()
el = q["running"][0]["elapsed_s"] if q["running"] else 0
eta = q["entries"][0]["eta_seconds"] if q["entries"] else None
ok(near(eta, 100 - el), "below min_samples, a queued chat waits the "
   "baseline: 100 - %s = %s s" % (el, eta))

ok(wait_for(lambda: eta_cfg()["ema_chat_samples"] == 2, timeout=5),
   "the 2.0 s task is the second sample")
e2 = eta_cfg()
want = 0.5 * 2.0 + 0.5 * ema
ok(near(e2["ema_chat_s"], want, 0.15 * SLOW),
   "ema = 0.5*2.0 + 0.5*%.3f = %.3f (%s)" % (ema, want, e2["ema_chat_s"]))
ema = e2["ema_chat_s"] or want

# samples (2) == min_samples: the queue uses the average
t4 = in_background(3000)
ok(wait_for(lambda: queue_m()["queue_length"] == 1, timeout=3),
   "a 3.0 s task waits behind the 1.0 s one")
running_for(0.4)
q = queue_m()
el = q["running"][0]["elapsed_s"] if q["running"] else 0
eta = q["entries"][0]["eta_seconds"] if q["entries"] else None
ok(near(eta, max(ema - el, 0), 0.25) and eta < 5,
   "from min_samples on, a queued chat waits the average: %.2f - %s = %s s"
   % (ema, el, eta))
t3.join()
ok(wait_for(lambda: eta_cfg()["ema_chat_samples"] == 3, timeout=5),
   "the 1.0 s task is the third sample")
e3 = eta_cfg()
want = 0.5 * 1.0 + 0.5 * ema
ok(near(e3["ema_chat_s"], want, 0.15 * SLOW),
   "ema = 0.5*1.0 + 0.5*%.3f = %.3f (%s)" % (ema, want, e3["ema_chat_s"]))
ema = e3["ema_chat_s"] or want

# the 3.0 s task runs now; one more waits behind it
ok(wait_for(lambda: queue_m()["running"], timeout=3), "a 3.0 s task runs")
p5 = Parked(mport, "POST", "/chat", {"messages": [], "_task_ms": 10})
ok(wait_for(lambda: queue_m()["queue_length"] == 1, timeout=3),
   "one more waits behind it")
running_for(0.5)
q = queue_m()
el = q["running"][0]["elapsed_s"] if q["running"] else 0
eta = q["entries"][0]["eta_seconds"] if q["entries"] else None
ok(el < ema - 0.2 and near(eta, ema - el, 0.25),
   "queued behind it: %.2f - %s = %s s" % (ema, el, eta))
ok(wait_for(lambda: (queue_m()["running"] or [{}])[0].get("elapsed_s", 0)
            > ema + 0.3, timeout=5), "the task overruns its estimate")
q = queue_m()
is_(q["entries"] and q["entries"][0]["eta_seconds"], 15.0,
    "an overrun task counts 15 s: eta_seconds 15.0")
tk = q["entries"][0]["ticket_id"] if q["entries"] else "tk_"
is_(get(mport, "/api/queue/" + tk).json().get("eta_seconds"), 15.0,
    "GET /api/queue/{id}: 15.0 too")
r = request("DELETE", mport, "/api/queue/" + tk)
is_(r.status, 200, "the waiting ticket is cancelled")
status, data = p5.finish(5)
is_(status, 503, "its request gets 503")
t4.join()
ok(wait_for(lambda: eta_cfg()["ema_chat_samples"] == 4, timeout=5),
   "the 3.0 s task is the fourth sample")
e4 = eta_cfg()
want = 0.5 * 3.0 + 0.5 * ema
ok(near(e4["ema_chat_s"], want, 0.15 * SLOW),
   "ema = 0.5*3.0 + 0.5*%.3f = %.3f (%s)" % (ema, want, e4["ema_chat_s"]))
is_(e4["eta_chat_s"], 100.0, "the baseline itself is unchanged")
t2.join()
ok(never_two(wm), "EMA: never two tasks at once")
ok(ngx_ema.stop(), "EMA: nginx stopped")
is_(ngx_ema.alerts(), [], "EMA: no [alert], [crit] or [emerg]")

# ============================================================================
# 4. back to the worked example: 30 s into the session
# ============================================================================

watcher.join(40)
q = at30.get("queue") or {}
etas = [x["eta_seconds"] for x in q.get("entries", [])]
el = q["running"][0]["elapsed_s"] if q.get("running") else None
diag("looked at %.3f s; elapsed_s %s" % (at30.get("when", -1), el))
ok(len(etas) == 3 and near(etas[0], 60.0) and near(etas[1], 75.0)
   and near(etas[2], 195.0),
   "30 s into the omni_duplex session: eta_seconds 60.0, 75.0, 195.0 (%s)"
   % etas)
ok(el is not None and len(etas) == 3 and near(etas[0], 90 - el)
   and near(etas[1], 105 - el) and near(etas[2], 225 - el),
   "= 90-e, 105-e, 225-e for the elapsed_s shown (%s)" % el)
for i, j in enumerate(at30.get("tickets", [])):
    ok(j.get("status") == "queued" and j.get("position") == i + 1
       and len(etas) == 3 and near(j.get("eta_seconds"), etas[i]),
       "GET /api/queue/%s: position %d, eta_seconds %s"
       % (j.get("ticket_id"), i + 1, j.get("eta_seconds")))

for p in eta_parked:
    p.close()
ok(wait_for(lambda: get(eport, "/api/queue").json()["queue_length"] == 0,
            timeout=3), "the waiting clients left: the queue is empty")
is_([get(eport, "/api/queue/" + t).json().get("status") for t in tickets],
    ["abandoned"] * 3, "their tickets are abandoned")
session.close()
ok(wait_for(lambda: idle(eport), timeout=3), "the session ended: idle")
ok(never_two(we), "ETA: never two tasks at once")
is_(we.stats()["served"], 1, "ETA: the worker ran the session only")
ok(ngx_eta.stop(), "ETA: nginx stopped")
is_(ngx_eta.alerts(), [], "ETA: no [alert], [crit] or [emerg]")

rc = tap.done()
if rc == 0:
    for f in (we, a1, a2, k1, k2, wm):
        f.stop()
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
