#!/usr/bin/env python3
#
# t/033-routes-apps.t -- the inference routes of the default configuration
# and the apps that gate them (SPEC 3.6, 4, issue items 8-9), with the
# server block of conf/voicegw.conf (plain HTTP, fake workers), two nginx
# worker processes and a store:
#   - POST /api/chat -> worker POST /chat with the body unchanged; WS
#     /ws/chat, /ws/half_duplex/{sid}, /ws/duplex/{sid} (adx_ -> task
#     audio_duplex, else omni_duplex) reach the right worker paths; session
#     ids outside [A-Za-z0-9_-]{1,128} get the API's JSON 404;
#   - GET /api/apps, /api/admin/apps, PUT /api/admin/apps[/{id}]; a disabled
#     app answers 403 {"error":"app_disabled"} (WebSocket handshakes too)
#     before any worker is reserved, also while others wait in the queue;
#     bad bodies change nothing; the switch reaches both processes at once
#     and survives a restart; voicegw_app ... enabled=off disables by default;
#   - /api/frontend_defaults and /api/presets from the configuration, and
#     their defaults;
#   - X-VoiceGW-Ticket / X-VoiceGW-Queue-Wait-Ms on task answers (and on
#     the 101), and $voicegw_ticket, $voicegw_queue_wait_ms,
#     $voicegw_worker, $voicegw_cache in the access log.

import hashlib
import json
import os
import re
import shutil
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (SLOW, FakeWorker, Nginx, diag, free_port, get, is_,  # noqa
                    like, never_two, ok, request, tap, wait_for, workdir)
import ws_client as wsc  # noqa: E402

d = workdir("033-routes-apps")
port = free_port()
w1 = FakeWorker(d).start()
w2 = FakeWorker(d).start()
FAKES = {w1.port: w1, w2.port: w2}

# the http{} level of conf/voicegw.conf, the pool pointed at our fakes
HTTP = """
    voicegw_zone   vg_routes 4m;
    voicegw_store  data/vg.db;
    voicegw_eta    chat=15 half_duplex=180 audio_duplex=120 omni_duplex=90
                   alpha=0.3 min_samples=3;
%(extra)s
    upstream minicpmo {
        voicegw_pool  queue=1000 queue_timeout=10m health_uri=/health
                      health_interval=1s health_timeout=1s;
        server 127.0.0.1:%(w1)d;
        server 127.0.0.1:%(w2)d;
    }

    map $http_upgrade $voicegw_connection {
        default  upgrade;
        ''       close;
    }

    log_format vg '$request_uri $status ticket=$voicegw_ticket '
                  'wait=$voicegw_queue_wait_ms worker=$voicegw_worker '
                  'cache=$voicegw_cache pid=$pid';
"""

# the server block of conf/voicegw.conf: same locations, plain HTTP
SERVER = """
    server {
        listen               127.0.0.1:%(port)d;
        server_name          localhost;
        access_log           logs/vg.log vg;
        add_header           X-Pid $pid always;

        proxy_http_version   1.1;
        proxy_buffering      off;
        proxy_set_header     Upgrade $http_upgrade;
        proxy_set_header     Connection $voicegw_connection;
        proxy_read_timeout   3600s;
        proxy_send_timeout   3600s;
        client_max_body_size 64m;

        # turn-based chat: affinity on the conversation
        location = /api/chat {
            voicegw_task  chat app=turnbased affinity=messages;
            proxy_pass    http://minicpmo/chat;
        }

        location = /ws/chat {
            voicegw_task  chat app=turnbased;
            proxy_pass    http://minicpmo/ws/chat;
        }

        location ~ "^/ws/half_duplex/([A-Za-z0-9_-]{1,128})$" {
            voicegw_task  half_duplex app=half_duplex_audio session=$1
                          cache_key=$1;
            proxy_pass    http://minicpmo/ws/half_duplex?session_id=$1;
        }

        # "adx_" sessions are audio-only duplex, the others omni duplex
        location ~ "^/ws/duplex/(adx_[A-Za-z0-9_-]{0,124})$" {
            voicegw_task  audio_duplex app=audio_duplex session=$1
                          cache_key=$1;
            proxy_pass    http://minicpmo/ws/duplex?session_id=$1;
        }

        location ~ "^/ws/duplex/([A-Za-z0-9_-]{1,128})$" {
            voicegw_task  omni_duplex app=omni session=$1 cache_key=$1;
            proxy_pass    http://minicpmo/ws/duplex?session_id=$1;
        }

        location / {
            voicegw_api;
        }
    }
"""

EXTRA_FIRST = """
    voicegw_app audio_duplex enabled=off;
    voicegw_frontend_defaults playback_delay_ms=350 chat_vocoder=cosyvoice
                              show_debug=true;
    voicegw_frontend_defaults playback_delay_ms=400 theme=dark;
    voicegw_preset default_en "name=English Assistant"
                   "system_prompt=You are a helpful assistant.";
    voicegw_preset brief_zh "name=Brief Chinese"
                   "system_prompt=Answer in Chinese, in one sentence.";
"""
EXTRA_SECOND = """
    voicegw_app audio_duplex enabled=off;
"""


def conf(extra):
    v = {"extra": extra, "w1": w1.port, "w2": w2.port, "port": port}
    return HTTP % v + SERVER % v


ngx = Nginx(d, conf(EXTRA_FIRST), workers=2).start(wait_ports=[port])
URL = "ws://127.0.0.1:%d" % port
ALL_APPS = ["turnbased", "half_duplex_audio", "omni", "audio_duplex"]


def workers():
    return {w["url"]: w for w in get(port, "/workers").json()["workers"]}


def worker_of(p):
    return workers()["http://127.0.0.1:%d" % p]


def all_idle():
    return all(w["status"] == "idle" for w in workers().values())


def served():
    return {p: f.stats()["served"] for p, f in FAKES.items()}


def fake_tasks(p):
    return FAKES[p].stats(tasks=True)["tasks"]


def enabled_apps():
    return [a["app_id"] for a in get(port, "/api/apps").json()["apps"]]


def admin_apps():
    return {a["app_id"]: a["enabled"]
            for a in get(port, "/api/admin/apps").json()["apps"]}


def put_app(body, app=None, raw=None):
    path = "/api/admin/apps" + ("/" + app if app else "")
    return request("PUT", port, path, body=raw if raw is not None else body,
                   headers={"Content-Type": "application/json"})


def queue():
    return get(port, "/api/queue").json()


def ws(path, **kw):
    return wsc.WSClient.connect(URL + path, timeout=kw.get("timeout",
                                                            10 * SLOW))


ok(wait_for(all_idle, timeout=5), "both fake workers are idle")

expect_log = []      # (request_uri, status, ticket, wait, worker, cache)


def expect(uri, status, ticket="-", wait="-", worker="-", cache="-"):
    expect_log.append((uri, str(status), ticket or "-", str(wait),
                       worker, cache))


# -- front-end defaults and presets from nginx.conf ---------------------------

r = get(port, "/api/frontend_defaults")
is_(r.status, 200, "GET /api/frontend_defaults")
like(r.header("Content-Type") or "", r"^application/json", "JSON")
is_(r.json(), {"playback_delay_ms": 400, "chat_vocoder": "cosyvoice",
               "show_debug": True, "theme": "dark"},
    "voicegw_frontend_defaults: numbers, booleans and strings; a later "
    "value replaces an earlier one")
r = get(port, "/api/presets")
is_(r.status, 200, "GET /api/presets")
is_(r.json(), [{"id": "default_en", "name": "English Assistant",
                "system_prompt": "You are a helpful assistant."},
               {"id": "brief_zh", "name": "Brief Chinese",
                "system_prompt": "Answer in Chinese, in one sentence."}],
    "voicegw_preset, in the order of the directives")

# -- apps as configured: audio_duplex off -------------------------------------

r = get(port, "/api/apps")
is_(r.status, 200, "GET /api/apps")
apps = r.json()["apps"]
is_([a["app_id"] for a in apps], ["turnbased", "half_duplex_audio", "omni"],
    "the enabled apps, in order: voicegw_app audio_duplex enabled=off "
    "hides audio_duplex")
is_([(a["name"], a["route"]) for a in apps],
    [("Turn-based Chat", "/turnbased"), ("Half-Duplex Audio", "/half_duplex"),
     ("Omni Full-Duplex", "/omni")], "with their names and routes")
r = get(port, "/api/admin/apps")
is_(r.status, 200, "GET /api/admin/apps")
is_([(a["app_id"], a["enabled"]) for a in r.json()["apps"]],
    [("turnbased", True), ("half_duplex_audio", True), ("omni", True),
     ("audio_duplex", False)], "the admin list has all four with enabled")

before = served()
c = ws("/ws/duplex/adx_cfg")
is_(c.status, 403, "WS /ws/duplex/adx_... of the disabled app: 403")
try:
    j = json.loads(c.body)
except ValueError:
    j = {}
is_(j.get("error"), "app_disabled",
    "with a JSON body {\"error\":\"app_disabled\"} (%r)" % c.body[:80])
expect("/ws/duplex/adx_cfg", 403)
is_(served(), before, "no worker saw a task")

# -- the routes ---------------------------------------------------------------

# POST /api/chat -> POST /chat, the body byte for byte
SYSTEM = ("You are a test assistant of the voice gateway. Answer briefly, "
          "and never mention that you are a test.")
raw = ('{"messages": [{"role": "system", "content": "%s"},\n' % SYSTEM +
       '  {"role": "user", "content": "h\\u00e9llo \u00e9t\u00e9  "}],'
       '"zeta": 1, "alpha": [true, null, 1.50], "session_id": "chat_1"}')
r = request("POST", port, "/api/chat", body=raw,
            headers={"Content-Type": "application/json"})
is_(r.status, 200, "POST /api/chat: 200")
j = r.json() or {}
chat_worker = j.get("worker_port")
ok(chat_worker in FAKES, "answered by one of the fake workers")
is_(j.get("body_sha256"), hashlib.sha256(raw.encode()).hexdigest(),
    "the worker got the body unchanged (sha256)")
t = fake_tasks(chat_worker)[-1] if chat_worker in FAKES else {}
is_((t.get("method"), t.get("path"), t.get("kind")), ("POST", "/chat", "chat"),
    "as POST /chat")
ticket = r.header("X-VoiceGW-Ticket")
like(ticket or "", r"^tk_[0-9a-f]{16}$", "X-VoiceGW-Ticket: tk_ + 16 hex")
like(r.header("X-VoiceGW-Queue-Wait-Ms") or "", r"^\d+$",
     "X-VoiceGW-Queue-Wait-Ms: a number")
ok(int(r.header("X-VoiceGW-Queue-Wait-Ms") or 99999) < 100,
   "small, as nothing waited")
expect("/api/chat", 200, ticket, r.header("X-VoiceGW-Queue-Wait-Ms"),
       "http://127.0.0.1:%d" % chat_worker, "miss")

# the follow-up turn goes back to the same worker: a cache hit
follow = {"messages": [{"role": "system", "content": SYSTEM},
                       {"role": "user",
                        "content": "h\u00e9llo \u00e9t\u00e9  "},
                       {"role": "assistant", "content": j.get("text", "")},
                       {"role": "user", "content": "and again"}]}
ok(wait_for(all_idle, timeout=3), "the workers are idle before the follow-up")
r = request("POST", port, "/api/chat", body=follow)
is_(r.status, 200, "POST /api/chat, the follow-up turn")
is_((r.json() or {}).get("worker_port"), chat_worker,
    "served by the same worker")
expect("/api/chat", 200, r.header("X-VoiceGW-Ticket"),
       r.header("X-VoiceGW-Queue-Wait-Ms"),
       "http://127.0.0.1:%d" % chat_worker, "hit")

# WS /ws/chat -> /ws/chat
ok(wait_for(all_idle, timeout=3), "the workers are idle before WS /ws/chat")
c = ws("/ws/chat")
is_(c.status, 101, "WS /ws/chat: 101")
like(c.headers.get("x-voicegw-ticket", ""), r"^tk_[0-9a-f]{16}$",
     "the 101 carries X-VoiceGW-Ticket")
like(c.headers.get("x-voicegw-queue-wait-ms", ""), r"^\d+$",
     "and X-VoiceGW-Queue-Wait-Ms")
c.send_json({"messages": [{"role": "user", "content": "hi"}],
             "streaming": True, "_chunks": 2, "_interval_ms": 10})
m, _ = c.recv_until("done", timeout=5)
p = m and m.get("worker_port")
ok(p in FAKES, "/ws/chat: done from a worker")
t = fake_tasks(p)[-1] if p in FAKES else {}
is_((t.get("kind"), t.get("path"), t.get("query")),
    ("ws_chat", "/ws/chat", ""), "the worker saw WS /ws/chat")
c.close()
if p in FAKES:
    expect("/ws/chat", 101, c.headers.get("x-voicegw-ticket"),
           c.headers.get("x-voicegw-queue-wait-ms"),
           "http://127.0.0.1:%d" % p, "-")


def session(path, task_type, sid, worker_path, cache=None):
    """Opens a duplex / half-duplex session, checks the worker and
    /workers, closes it. Returns the worker's port."""
    ok(wait_for(all_idle, timeout=3),
       "the workers are idle before WS %s" % path[:60])
    c = ws(path)
    is_(c.status, 101, "WS %s: 101" % path[:60])
    if c.status != 101:
        return None
    c.send_json({"type": "prepare"})
    m = c.recv_json(5) or {}
    p = m.get("worker_port")
    ok(m.get("type") == "prepared" and m.get("session_id") == sid,
       "  prepared, for session %s" % sid[:40])
    w = worker_of(p) if p in FAKES else {}
    is_((w.get("status"), w.get("current_task"), w.get("current_session_id")),
        ("busy", task_type, sid), "  /workers: busy with %s" % task_type)
    t = fake_tasks(p)[-1] if p in FAKES else {}
    is_((t.get("path"), t.get("query")),
        (worker_path, "session_id=" + sid),
        "  the worker saw %s?session_id=%s" % (worker_path, sid[:40]))
    c.close()
    if cache:
        expect(path, 101, c.headers.get("x-voicegw-ticket"),
               c.headers.get("x-voicegw-queue-wait-ms"),
               "http://127.0.0.1:%d" % p, cache)
    return p


session("/ws/half_duplex/hd_1", "half_duplex", "hd_1", "/ws/half_duplex",
        cache="miss")
p1 = session("/ws/duplex/omni_1", "omni_duplex", "omni_1", "/ws/duplex",
             cache="miss")
hits = get(port, "/api/cache").json()["hits"]
p2 = session("/ws/duplex/omni_1", "omni_duplex", "omni_1", "/ws/duplex",
             cache="hit")
is_(p2, p1, "the same session id again: the same worker (cache_key)")
ok(wait_for(all_idle, timeout=3), "the workers are idle after it")
is_(get(port, "/api/cache").json()["hits"], hits + 1,
    "counted as a cache hit in /api/cache")
session("/ws/duplex/" + "o" * 128, "omni_duplex", "o" * 128, "/ws/duplex")
session("/ws/duplex/x-Y_9", "omni_duplex", "x-Y_9", "/ws/duplex")

# session ids outside [A-Za-z0-9_-]{1,128}
before = served()
for path in ("/ws/duplex/" + "o" * 129, "/ws/duplex/adx_" + "a" * 125,
             "/ws/half_duplex/" + "h" * 129, "/ws/duplex/bad.id",
             "/ws/duplex/a%20b", "/ws/duplex/caf%C3%A9", "/ws/duplex/",
             "/ws/half_duplex/", "/ws/half_duplex/a/b", "/ws/duplex/a%2Fb"):
    r = get(port, path)
    j = r.json() or {}
    ok(r.status == 404 and j.get("error") == "not_found",
       "GET %s: JSON 404 (%d %s)" % (path[:40], r.status, r.text[:60]))
    c = ws(path)
    is_(c.status, 404, "  and its WebSocket handshake: 404")
is_(served(), before, "none of them reached a worker")

# audio_duplex: enabled through the API, then adx_ sessions run audio_duplex
r = put_app({"enabled": True}, app="audio_duplex")
is_(r.status, 200, "PUT /api/admin/apps/audio_duplex {\"enabled\":true}")
is_(r.json(), {"success": True,
               "app": {"app_id": "audio_duplex", "name": "Audio Full-Duplex",
                       "route": "/audio_duplex", "enabled": True}},
    "answers the app, enabled")
is_(enabled_apps(), ALL_APPS, "GET /api/apps lists all four now")
session("/ws/duplex/adx_1", "audio_duplex", "adx_1", "/ws/duplex",
        cache="miss")
session("/ws/duplex/adx_" + "a" * 124, "audio_duplex", "adx_" + "a" * 124,
        "/ws/duplex")
session("/ws/duplex/adx_", "audio_duplex", "adx_", "/ws/duplex")
session("/ws/duplex/adxz", "omni_duplex", "adxz", "/ws/duplex")

# -- switching an app off -----------------------------------------------------

ok(wait_for(all_idle, timeout=3), "the workers are idle")
r = put_app({"app_id": "omni", "enabled": False})
is_(r.status, 200,
    "PUT /api/admin/apps {\"app_id\":\"omni\",\"enabled\":false}")
is_(r.json(), {"success": True,
               "app": {"app_id": "omni", "name": "Omni Full-Duplex",
                       "route": "/omni", "enabled": False}},
    "answers the app, disabled")

# at once, in both nginx worker processes: fresh connections each time
pids, views, gates = set(), [], []
before = served()
busy_before = {u: w["tasks_served"] for u, w in workers().items()}
for i in range(30):
    r = get(port, "/api/apps")
    pids.add(r.header("X-Pid"))
    views.append([a["app_id"] for a in r.json()["apps"]])
    t0 = time.time()
    c = ws("/ws/duplex/omni_off%d" % i)
    gates.append((c.status, json.loads(c.body or b"{}").get("error"),
                  c.headers.get("x-pid"), time.time() - t0))
    pids.add(c.headers.get("x-pid"))
    expect("/ws/duplex/omni_off%d" % i, 403)
is_(len(pids - {None}), 2, "the requests were served by both nginx worker "
    "processes (%s)" % sorted(p for p in pids if p))
ok(all(v == ["turnbased", "half_duplex_audio", "audio_duplex"]
       for v in views), "all 30 GET /api/apps leave omni out")
ok(all(g[:2] == (403, "app_disabled") for g in gates),
   "all 30 omni handshakes: 403 app_disabled (%s)"
   % sorted(set(g[:2] for g in gates)))
ok(max(g[3] for g in gates) < 1.0 * SLOW, "each answered at once")
is_(served(), before, "no worker saw any of them")
is_({u: w["tasks_served"] for u, w in workers().items()}, busy_before,
    "and none was reserved (tasks_served unchanged)")
ok(all_idle(), "both workers still idle")
is_(admin_apps(), {"turnbased": True, "half_duplex_audio": True,
                   "omni": False, "audio_duplex": True},
    "GET /api/admin/apps: omni disabled")

# a disabled app's HTTP route: 403 JSON, while the queue is busy
hd = []
for sid in ("hd_q1", "hd_q2"):
    c = ws("/ws/half_duplex/" + sid)
    c.send_json({"type": "prepare"})
    c.recv_json(5)
    hd.append(c)
ok(not any(w["status"] == "idle" for w in workers().values()),
   "two half-duplex sessions hold both workers")


class Parked(threading.Thread):
    def __init__(self, fn):
        threading.Thread.__init__(self, daemon=True)
        self.fn = fn
        self.result = None
        self.start()

    def run(self):
        self.result = self.fn()


t_parked = time.time()
parked = Parked(lambda: request("POST", port, "/api/chat", timeout=30,
                                body={"messages": [{"role": "user",
                                                    "content": "parked"}]}))
ok(wait_for(lambda: queue()["queue_length"] == 1, timeout=5),
   "a chat waits in the queue")
t_queued = time.time()
q_before = queue()["entries"]
before = served()

r = put_app({"enabled": False}, app="turnbased")
is_(r.status, 200, "PUT /api/admin/apps/turnbased {\"enabled\":false}")
t0 = time.time()
r = request("POST", port, "/api/chat",
            body={"messages": [{"role": "user", "content": "gated"}]})
elapsed = time.time() - t0
is_(r.status, 403, "POST /api/chat of the disabled app: 403, not queued")
is_((r.json() or {}).get("error"), "app_disabled",
    "{\"error\":\"app_disabled\"}")
like(r.header("Content-Type") or "", r"^application/json", "in JSON")
ok(elapsed < 1.0 * SLOW, "at once (%.3f s)" % elapsed)
expect("/api/chat", 403)
c = ws("/ws/duplex/omni_q")
is_(c.status, 403, "WS /ws/duplex/omni_q of the disabled omni: 403 at once")
expect("/ws/duplex/omni_q", 403)
c = ws("/ws/chat")
is_(c.status, 403, "WS /ws/chat of the disabled turnbased: 403 at once")
expect("/ws/chat", 403)
def _no_eta(entries):
    # the ETA counts down by itself; the entries are what must not change
    return [{k: v for k, v in e.items() if k != "eta_seconds"}
            for e in entries]


is_(_no_eta(queue()["entries"]), _no_eta(q_before),
    "the queue did not change")
is_(served(), before, "the workers saw nothing")

r = put_app({"enabled": True}, app="turnbased")
is_(r.status, 200, "turnbased enabled again")
is_(queue()["queue_length"], 1, "the parked chat (queued before the switch) "
    "still waits")
time.sleep(0.5)     # deliberately: the parked chat waits a while
parked_ms = (time.time() - t_queued) * 1000
hd[0].close()
parked.join(10)
res = parked.result
ok(res is not None and res.status == 200,
   "a worker frees: the parked chat is served")
if res is not None and res.status == 200:
    wait_ms = int(res.header("X-VoiceGW-Queue-Wait-Ms") or -1)
    waited = (time.time() - t_parked) * 1000
    ok(parked_ms - 50 <= wait_ms <= waited + 50,
       "its X-VoiceGW-Queue-Wait-Ms is the time it waited (%d ms; it was "
       "parked for at least %d ms, at most %d ms)"
       % (wait_ms, parked_ms, waited))
    tk = get(port, "/api/queue/" + res.header("X-VoiceGW-Ticket")).json()
    expect("/api/chat", 200, res.header("X-VoiceGW-Ticket"), wait_ms,
           "http://127.0.0.1:%d" % res.json()["worker_port"], "miss")
hd[1].close()

# -- bad bodies change nothing ------------------------------------------------

ok(wait_for(all_idle, timeout=3), "the workers are idle")
state = admin_apps()
BAD = [
    (None, {"app_id": "omni", "enabled": "true"}, 400, "enabled a string"),
    (None, {"app_id": "omni", "enabled": 1}, 400, "enabled a number"),
    (None, {"app_id": "omni", "enabled": None}, 400, "enabled null"),
    (None, {"app_id": "omni"}, 400, "no enabled"),
    (None, {"enabled": True}, 400, "no app_id"),
    (None, {"app_id": 7, "enabled": True}, 400, "app_id a number"),
    (None, {"app_id": "nope", "enabled": True}, 404, "an unknown app"),
    (None, {"app_id": "OMNI", "enabled": True}, 404, "ids are case-sensitive"),
    (None, {"app_id": "omni", "enabled": True, "colour": "red"}, 400,
     "an unknown field"),
    (None, '{"app_id":"omni","enabled":tru', 400, "truncated JSON"),
    (None, '["omni", true]', 400, "not an object"),
    (None, "", 400, "an empty body"),
    ("omni", {"enabled": "yes"}, 400, "/omni: enabled a string"),
    ("omni", {}, 400, "/omni: no enabled"),
    ("omni", {"enabled": True, "x": 1}, 400, "/omni: an unknown field"),
    ("nope", {"enabled": True}, 404, "/nope: an unknown app"),
]
for app, body, status, what in BAD:
    raw = body if isinstance(body, str) else None
    r = put_app(body, app=app, raw=raw)
    j = r.json() or {}
    ok(r.status == status and isinstance(j.get("error"), str)
       and isinstance(j.get("detail"), str),
       "PUT %s with %s: %d JSON error (%d %s)"
       % ("/api/admin/apps" + ("/" + app if app else ""), what, status,
          r.status, r.text[:80]))
r = put_app({"app_id": "nope", "enabled": True})
is_((r.json() or {}).get("detail"), "Unknown app: nope",
    "the unknown app's detail names it")
is_(admin_apps(), state, "and nothing changed")
r = request("DELETE", port, "/api/admin/apps")
is_(r.status, 405, "DELETE /api/admin/apps: 405")

# -- a restart keeps the switches; the defaults without directives ------------

ok(ngx.stop(), "nginx stopped")
log_before_restart = open(os.path.join(d, "logs", "vg.log")).read()
ngx.write_conf(conf(EXTRA_SECOND))
ngx.start(wait_ports=[port])
is_(admin_apps(), {"turnbased": True, "half_duplex_audio": True,
                   "omni": False, "audio_duplex": True},
    "after a restart: omni still off (API), audio_duplex still on (the API "
    "wins over enabled=off)")
is_(get(port, "/api/frontend_defaults").json(),
    {"playback_delay_ms": 200, "chat_vocoder": "token2wav"},
    "without voicegw_frontend_defaults: the two defaults")
is_(get(port, "/api/presets").json(), [], "without voicegw_preset: []")
ok(wait_for(all_idle, timeout=5), "the workers are idle")
c = ws("/ws/duplex/omni_r")
is_(c.status, 403, "omni's WebSocket route is still 403")
expect("/ws/duplex/omni_r", 403)

r = put_app({"enabled": True}, app="omni")
is_(r.status, 200, "PUT /api/admin/apps/omni {\"enabled\":true}")
is_(r.json()["app"]["enabled"], True, "omni enabled")
views = [enabled_apps() for _ in range(20)]
ok(all(v == ALL_APPS for v in views), "20 fresh connections see all four")
session("/ws/duplex/omni_2", "omni_duplex", "omni_2", "/ws/duplex",
        cache="miss")

# -- the access log -----------------------------------------------------------

ok(ngx.stop(), "nginx stopped")
LINE = re.compile(r"^(\S+) (\d+) ticket=(\S+) wait=(\S+) worker=(\S+) "
                  r"cache=(\S+) pid=(\d+)$")
logged, api = [], []
for line in open(os.path.join(d, "logs", "vg.log")).read().splitlines():
    m = LINE.match(line)
    if not m:
        diag("unexpected access log line: %r" % line)
    elif m.group(1) == "/api/chat" or m.group(1).startswith("/ws/"):
        logged.append(m.groups()[:6])
    else:
        api.append(m.groups()[:6])
ok(api and all(g[2:6] == ("-", "-", "-", "-") for g in api),
   "API requests log no ticket, wait, worker or cache (%d lines)" % len(api))
missing = [e for e in expect_log if e not in logged]
ok(not missing, "the access log has the right $voicegw_ticket, "
   "$voicegw_queue_wait_ms, $voicegw_worker and $voicegw_cache for %d "
   "requests" % len(expect_log))
for e in missing:
    diag("missing: %s" % (e,))
    near = [g for g in logged if g[0] == e[0]]
    diag("  logged for that uri: %s" % near[:4])
tasks_logged = [g for g in logged if g[1] in ("101", "200")]
ok(tasks_logged and all(re.match(r"^tk_[0-9a-f]{16}$", g[2])
                        for g in tasks_logged),
   "every task's line has a ticket")

for p, f in FAKES.items():
    ok(never_two(f), "never two tasks at once on worker %d" % p)
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

rc = tap.done()
if rc == 0:
    for f in FAKES.values():
        f.stop()
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
