#!/usr/bin/env python3
#
# t/061-frontend-fields.t -- the fields of the original MiniCPM-o gateway
# that its pages read, added beside the seed's (issue 10, point 3; see
# docs/api.md), with a master and two nginx processes and two fake workers:
#   - /workers: total, worker_id, host, port, gpu_id, total_requests and
#     avg_inference_time_ms after a few requests, last_heartbeat,
#     current_request_type, task_started_at, and "state" in the original's
#     words (idle, duplex_active, ...);
#   - /status: gateway_healthy, duplex_workers, paused_workers,
#     loading/error/offline_workers, max_queue_size, running_tasks[] with
#     estimated_remaining_s = max(0, eta - elapsed);
#   - /api/queue: max_queue_size, items[] (request_type, position,
#     estimated_wait_s, wait_elapsed_s, ...) and running_tasks[] while two
#     duplex sessions hold both workers and three tickets wait;
#   - /api/config/eta: config{}, ema_alpha, ema_*; PUT with the admin
#     page's stale eta_streaming_s accepted and reported in "ignored", the
#     original's ema_alpha, bad input still refused with nothing changed;
#   - the seed's fields are all still there, with their words.

import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
import vgtest  # noqa: E402
from vgtest import (SLOW, FakeWorker, Nginx, free_port, get, is_,  # noqa
                    like, never_two, ok, request, tap, wait_for, workdir)
import ws_client as wsc  # noqa: E402

ISO_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"
TICKET_RE = r"^tk_[0-9a-f]{16}$"

SEED_WORKER = {"url", "index", "status", "current_task",
               "current_session_id", "cached_hash", "busy_since"}
ORIGINAL_WORKER = {"worker_id", "host", "port", "gpu_id", "total_requests",
                   "avg_inference_time_ms", "last_heartbeat",
                   "current_request_type", "task_started_at", "state"}
SEED_ENTRY = {"ticket_id", "position", "task_type", "eta_seconds"}
SEED_RUNNING = {"worker_url", "task_type", "session_id", "started_at",
                "elapsed_s"}
ITEM = {"ticket_id", "request_type", "session_id", "position",
        "estimated_wait_s", "enqueued_at", "wait_elapsed_s"}
RUNNING_TASK = {"worker_id", "request_type", "started_at", "elapsed_s",
                "estimated_remaining_s"}

d = workdir("061-frontend-fields")
port = free_port()
w0 = FakeWorker(d, args=["--chat-ms", "300"]).start()
w1 = FakeWorker(d, args=["--chat-ms", "300"]).start()
FAKES = {w0.port: w0, w1.port: w1}

ngx = Nginx(os.path.join(d, "ngx"), """
    voicegw_zone  vg_fields 4m;
    voicegw_store logs/vg.db;
    voicegw_eta   chat=15 half_duplex=180 audio_duplex=120 omni_duplex=90
                  min_samples=100;
    upstream fp {
        voicegw_pool queue=7 queue_timeout=60s health_interval=1s
                     health_timeout=1s;
        server 127.0.0.1:%(w0)d;
        server 127.0.0.1:%(w1)d;
    }
    server {
        listen 127.0.0.1:%(port)d reuseport;
        proxy_http_version 1.1;
        proxy_buffering    off;
        proxy_set_header   Upgrade $http_upgrade;
        proxy_set_header   Connection "upgrade";
        location = /chat {
            voicegw_task chat;
            proxy_pass   http://fp/chat;
        }
        location = /hdx {
            voicegw_task half_duplex session=$arg_session_id;
            proxy_pass   http://fp/chat;
        }
        location = /omni {
            voicegw_task omni_duplex session=$arg_session_id;
            proxy_pass   http://fp/ws/duplex;
        }
        location = /adx {
            voicegw_task audio_duplex session=$arg_session_id;
            proxy_pass   http://fp/ws/duplex;
        }
        location / { voicegw_api; }
    }
""" % {"w0": w0.port, "w1": w1.port, "port": port},
            workers=2).start(wait_ports=[port])


def near(got, want, tol=0.25):
    return isinstance(got, (int, float)) and abs(got - want) <= tol


def workers():
    return get(port, "/workers").json()["workers"]


def all_idle():
    return all(w["status"] == "idle" and w["state"] == "idle"
               for w in workers())


def eta_get():
    return get(port, "/api/config/eta").json()


def eta_put(body):
    return request("PUT", port, "/api/config/eta", body=body)


ok(wait_for(all_idle, timeout=10 * SLOW), "both workers are idle")

# ============================================================================
# 1. idle: /workers and /status
# ============================================================================

j = get(port, "/workers").json()
is_(j.get("total"), 2, "/workers: total 2")
ws = j["workers"]
is_([w.get("worker_id") for w in ws], ["worker_0", "worker_1"],
    "/workers: worker_id worker_<index>")
is_([w.get("gpu_id") for w in ws], [0, 1], "/workers: gpu_id is the index")
is_([(w.get("host"), w.get("port")) for w in ws],
    [("127.0.0.1", w0.port), ("127.0.0.1", w1.port)],
    "/workers: host and port of each server line")
is_([w.get("state") for w in ws], ["idle", "idle"], "/workers: state idle")
is_([(w.get("total_requests"), w.get("avg_inference_time_ms")) for w in ws],
    [(0, 0.0), (0, 0.0)], "/workers: no request yet, average 0.0")
is_([(w.get("current_request_type"), w.get("task_started_at")) for w in ws],
    [(None, None), (None, None)], "/workers: no task: both null")
ok(all(re.match(ISO_RE, w.get("last_heartbeat") or "") for w in ws),
   "/workers: last_heartbeat is an ISO time (%s)"
   % [w.get("last_heartbeat") for w in ws])
ok(all(SEED_WORKER <= set(w) for w in ws)
   and [w["url"] for w in ws] == ["http://127.0.0.1:%d" % w0.port,
                                  "http://127.0.0.1:%d" % w1.port]
   and [w["index"] for w in ws] == [0, 1]
   and [w["status"] for w in ws] == ["idle", "idle"],
   "/workers: the seed's fields are all there, unchanged")

s = get(port, "/status").json()
is_({k: s.get(k) for k in ("gateway_healthy", "total_workers",
                           "idle_workers", "busy_workers", "duplex_workers",
                           "paused_workers", "loading_workers",
                           "error_workers", "offline_workers",
                           "queue_length", "max_queue_size",
                           "running_tasks")},
    {"gateway_healthy": True, "total_workers": 2, "idle_workers": 2,
     "busy_workers": 0, "duplex_workers": 0, "paused_workers": 0,
     "loading_workers": 0, "error_workers": 0, "offline_workers": 0,
     "queue_length": 0, "max_queue_size": 7, "running_tasks": []},
    "/status idle: the seed's counts and the original's")
is_(len(s.get("workers") or []), 2, "/status: the seed's workers list")

e = eta_get()
is_(e.get("config"), {"eta_chat_s": 15.0, "eta_half_duplex_s": 180.0,
                      "eta_audio_duplex_s": 120.0, "eta_omni_duplex_s": 90.0,
                      "ema_alpha": 0.3},
    "/api/config/eta: the original's config{}")
is_((e.get("ema_alpha"), e.get("ema_chat_s"), e.get("ema_chat_samples"),
     e.get("ema_omni_duplex_s"), e.get("ema_omni_duplex_samples")),
    (0.3, None, 0, None, 0),
    "/api/config/eta: ema_alpha, ema_* null before a sample")
ok(list(e)[:6] == ["eta_chat_s", "eta_half_duplex_s", "eta_audio_duplex_s",
                   "eta_omni_duplex_s", "eta_ema_alpha",
                   "eta_ema_min_samples"]
   and e["eta_ema_min_samples"] == 100 and "ignored" not in e,
   "/api/config/eta: the seed's flat fields first, no 'ignored' in GET")

# ============================================================================
# 2. a few requests: total_requests and avg_inference_time_ms
# ============================================================================

for i in range(4):
    r = request("POST", port, "/chat", body={"messages": []})
    is_(r.status, 200, "chat request %d" % (i + 1))

ok(wait_for(all_idle, timeout=10 * SLOW), "idle again")
ws = workers()
served = {w["port"]: FAKES[w["port"]].stats()["served"] for w in ws}
is_(sum(w["total_requests"] for w in ws), 4,
    "/workers: total_requests add up to the 4 requests")
is_({w["port"]: w["total_requests"] for w in ws}, served,
    "/workers: each worker's total_requests is what its fake served")
is_([w["total_requests"] for w in ws], [w["tasks_served"] for w in ws],
    "/workers: total_requests and the older tasks_served agree")
ok(all(300 <= w["avg_inference_time_ms"] < 300 + 1500 * SLOW
       for w in ws if w["total_requests"]),
   "/workers: avg_inference_time_ms about the fake's 300 ms (%s)"
   % [w["avg_inference_time_ms"] for w in ws])
e = eta_get()
ok(e["ema_chat_samples"] == 4 and near(e["ema_chat_s"], 0.3, 0.5),
   "/api/config/eta: 4 chat samples, ema_chat_s %s" % e["ema_chat_s"])

# ============================================================================
# 3. both workers in duplex sessions, three tickets queued
# ============================================================================

omni = wsc.WSClient.connect("ws://127.0.0.1:%d/omni?session_id=omni_a" % port,
                            timeout=10 * SLOW)
is_(omni.status, 101, "an omni_duplex session takes a worker")
adx = wsc.WSClient.connect("ws://127.0.0.1:%d/adx?session_id=adx_b" % port,
                           timeout=10 * SLOW)
is_(adx.status, 101, "an audio_duplex session takes the other")

parked = []
for i, (path, body) in enumerate((("/chat", {"messages": []}),
                                  ("/hdx?session_id=hdx_q", {}),
                                  ("/chat", {"messages": []}))):
    c = vgtest.Conn(port)
    c.send(path, body)
    parked.append(c)
    ok(wait_for(lambda: get(port, "/api/queue").json()["queue_length"]
                == i + 1, timeout=5 * SLOW), "%s waits in the queue" % path)

# a little later, so that the times have moved
ok(wait_for(lambda: all(t["elapsed_s"] >= 1.5 for t in
                        get(port, "/status").json()["running_tasks"]),
            timeout=10 * SLOW), "the sessions have run 1.5 s")

s = get(port, "/status").json()
is_({k: s.get(k) for k in ("total_workers", "idle_workers", "busy_workers",
                           "duplex_workers", "paused_workers",
                           "queue_length", "max_queue_size")},
    {"total_workers": 2, "idle_workers": 0, "busy_workers": 2,
     "duplex_workers": 2, "paused_workers": 0, "queue_length": 3,
     "max_queue_size": 7},
    "/status busy: busy_workers 2, of them duplex_workers 2, none paused")
rt = sorted(s["running_tasks"], key=lambda t: t["request_type"])
is_([t["request_type"] for t in rt], ["audio_duplex", "omni_duplex"],
    "/status running_tasks: the two sessions' request_type")
ok(all(RUNNING_TASK <= set(t) for t in rt)
   and sorted(t["worker_id"] for t in rt) == ["worker_0", "worker_1"],
   "/status running_tasks: every field, one per worker")
ok(all(re.match(ISO_RE, t["started_at"]) for t in rt),
   "/status running_tasks: started_at ISO")
ok(all(near(t["estimated_remaining_s"], est - t["elapsed_s"], 0.11)
       and t["elapsed_s"] >= 1.5
       for t, est in zip(rt, (120.0, 90.0))),
   "/status running_tasks: estimated_remaining_s = eta - elapsed_s (%s)"
   % [(t["elapsed_s"], t["estimated_remaining_s"]) for t in rt])
by_type = {t["request_type"]: t for t in rt}

ws = workers()
is_(sorted((w["state"], w["current_request_type"]) for w in ws),
    [("duplex_active", "audio_duplex"), ("duplex_active", "omni_duplex")],
    "/workers busy: state duplex_active, current_request_type")
ok(all(w["task_started_at"] == w["busy_since"]
       and re.match(ISO_RE, w["task_started_at"]) for w in ws),
   "/workers busy: task_started_at is the seed's busy_since")
ok(all(w["status"] == "busy" and w["current_task"] == w["current_request_type"]
       for w in ws),
   "/workers busy: the seed's status and current_task keep their words")
ok(all(by_type[w["current_request_type"]]["worker_id"] == w["worker_id"]
       for w in ws),
   "running_tasks name the workers that /workers shows busy")

q = get(port, "/api/queue").json()
is_(q.get("max_queue_size"), 7, "/api/queue: max_queue_size")
items = q.get("items") or []
is_([i.get("request_type") for i in items],
    ["chat", "half_duplex_audio", "chat"],
    "/api/queue items: the original's request_type words, in FIFO order")
is_([i.get("position") for i in items], [1, 2, 3],
    "/api/queue items: positions 1, 2, 3")
is_([i.get("session_id") for i in items], [None, "hdx_q", None],
    "/api/queue items: session_id")
ok(all(ITEM <= set(i) for i in items)
   and all(re.match(TICKET_RE, i["ticket_id"]) for i in items)
   and all(re.match(ISO_RE, i["enqueued_at"]) for i in items),
   "/api/queue items: every field, ticket ids and ISO times")
is_([i["ticket_id"] for i in items], [x["ticket_id"] for x in q["entries"]],
    "/api/queue items: the same tickets as the seed's entries")
is_([i["estimated_wait_s"] for i in items],
    [x["eta_seconds"] for x in q["entries"]],
    "/api/queue items: estimated_wait_s is the seed's eta_seconds")
waits = [i["wait_elapsed_s"] for i in items]
ok(waits[0] >= waits[1] >= waits[2] >= 1.0 and waits[0] < 30,
   "/api/queue items: wait_elapsed_s counts from each enqueue (%s)" % waits)

# heap {90 - eo, 120 - ea}: chat takes 90 - eo (back: 105 - eo), the
# half-duplex 105 - eo (back: 285 - eo), the last chat 120 - ea
qrt = {t["request_type"]: t for t in q.get("running_tasks") or []}
eo = qrt.get("omni_duplex", {}).get("elapsed_s")
ea = qrt.get("audio_duplex", {}).get("elapsed_s")
etas = [i["estimated_wait_s"] for i in items]
ok(eo is not None and ea is not None
   and near(etas[0], 90 - eo) and near(etas[1], 105 - eo)
   and near(etas[2], 120 - ea),
   "/api/queue items: estimated_wait_s 90-eo, 105-eo, 120-ea (%s, eo %s, "
   "ea %s)" % (etas, eo, ea))
ok(set(qrt) == {"omni_duplex", "audio_duplex"}
   and all(RUNNING_TASK <= set(t) for t in qrt.values())
   and qrt["omni_duplex"]["worker_id"] == by_type["omni_duplex"]["worker_id"]
   and near(qrt["omni_duplex"]["estimated_remaining_s"], 90 - eo, 0.11),
   "/api/queue running_tasks: as in /status")

ok(all(SEED_ENTRY <= set(x) for x in q["entries"])
   and [x["task_type"] for x in q["entries"]]
   == ["chat", "half_duplex", "chat"]
   and [x["position"] for x in q["entries"]] == [1, 2, 3],
   "/api/queue: the seed's entries[] with its task_type words")
ok(len(q["running"]) == 2 and all(SEED_RUNNING <= set(x)
                                  for x in q["running"])
   and sorted(x["task_type"] for x in q["running"])
   == ["audio_duplex", "omni_duplex"],
   "/api/queue: the seed's running[]")

# ============================================================================
# 4. PUT /api/config/eta as the original admin page sends it
# ============================================================================

r = eta_put({"eta_chat_s": 20, "eta_audio_duplex_s": 120,
             "eta_omni_duplex_s": 0.5, "eta_streaming_s": 20,
             "ema_alpha": None})
is_(r.status, 200, "PUT with the stale eta_streaming_s is accepted")
p = r.json()
is_(p.get("ignored"), ["eta_streaming_s", "ema_alpha"],
    "PUT: the fields that changed nothing are listed in 'ignored'")
is_((p.get("eta_chat_s"), p.get("eta_omni_duplex_s"),
     p.get("eta_half_duplex_s"), p.get("eta_ema_alpha")),
    (20.0, 0.5, 180.0, 0.3),
    "PUT: the named fields changed, the others kept (null ema_alpha too)")
is_((p["config"]["eta_chat_s"], p["config"]["eta_omni_duplex_s"]),
    (20.0, 0.5), "PUT: config{} shows them")
ok("eta_streaming_s" not in p and "eta_streaming_s" not in p["config"],
   "PUT: eta_streaming_s is not taken up anywhere")

# the omni_duplex session has overrun its 0.5 s estimate: nothing remains in
# running_tasks, while the queue counts it as 15 s (SPEC 3.5)
s = get(port, "/status").json()
t = [x for x in s["running_tasks"] if x["request_type"] == "omni_duplex"]
is_([x["estimated_remaining_s"] for x in t], [0.0],
    "/status: an overrun task has estimated_remaining_s 0.0")
items = get(port, "/api/queue").json()["items"]
is_([i["estimated_wait_s"] for i in items][:1], [15.0],
    "/api/queue: the head waits 15.0 s behind the overrun task")

r = eta_put({"ema_alpha": 0.5})
is_((r.status, r.json().get("eta_ema_alpha"), r.json().get("ema_alpha"),
     r.json()["config"].get("ema_alpha"), r.json().get("ignored")),
    (200, 0.5, 0.5, 0.5, []),
    "PUT ema_alpha (the original's name) sets the alpha")
r = eta_put({"eta_ema_alpha": 0.4, "ema_alpha": 0.9})
is_((r.status, r.json().get("eta_ema_alpha"), r.json().get("ignored")),
    (200, 0.4, ["ema_alpha"]),
    "PUT: with both names, eta_ema_alpha wins and ema_alpha is ignored")

before = eta_get()
r = eta_put({"eta_chat_s": 33, "eta_streaming_s": 20, "eta_omni_duplex_s": -1})
is_((r.status, r.json().get("error")), (400, "invalid_field"),
    "PUT with eta_streaming_s and a bad value: 400 invalid_field")
like(r.json().get("detail", ""), r"eta_omni_duplex_s", "naming the field")
r = eta_put({"eta_video_s": 5, "eta_streaming_s": 20})
is_((r.status, r.json().get("error")), (400, "unknown_field"),
    "PUT: another unknown field is still refused")
r = eta_put({"ema_alpha": "0.5"})
is_((r.status, r.json().get("error")), (400, "invalid_field"),
    "PUT: ema_alpha must be a number")
r = eta_put({"ema_alpha": 2})
is_((r.status, r.json().get("error")), (400, "invalid_field"),
    "PUT: ema_alpha in (0, 1]")
after = eta_get()
is_({k: after[k] for k in after if not k.startswith("ema_")},
    {k: before[k] for k in before if not k.startswith("ema_")},
    "the refused PUTs changed nothing")

r = eta_put(after)
is_(r.status, 200, "PUT of a whole GET answer is accepted")
is_(sorted(r.json().get("ignored")),
    sorted(k for k in after if k.startswith("ema_") or k == "config"),
    "PUT of a GET answer: config, ema_alpha and the ema_* fields ignored")

# ============================================================================
# 5. the end: queue left, sessions closed
# ============================================================================

for c in parked:
    c.close()
ok(wait_for(lambda: get(port, "/api/queue").json()["items"] == [],
            timeout=5 * SLOW), "the parked clients left: no items")
omni.close()
adx.close()
ok(wait_for(all_idle, timeout=15 * SLOW), "sessions closed: idle again")
s = get(port, "/status").json()
is_((s["running_tasks"], s["duplex_workers"], s["busy_workers"]),
    ([], 0, 0), "/status: no running task, no duplex worker")
ws = workers()
is_(sum(w["total_requests"] for w in ws), 6,
    "/workers: total_requests count the two sessions too")
ok(never_two(w0) and never_two(w1), "no fake worker ran two tasks at once")
ok(ngx.stop(), "nginx stopped")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg]")

rc = tap.done()
if rc == 0:
    for f in (w0, w1):
        f.stop()
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
