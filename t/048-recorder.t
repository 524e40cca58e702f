#!/usr/bin/env python3
#
# t/048-recorder.t -- every request on the books (SPEC 6 and 7, docs/api.md
# "Reports"), with a master and two worker processes:
#
#   - worker-pool tasks, whatever their end (served, failed, timed out in
#     the queue, cancelled, abandoned, refused), are one record each, seen
#     through /v1/logs, /v1/costs, /v1/latency, /v1/projects/{id} and
#     /v1/metrics (which passes promtool check metrics);
#   - a full buffer drops records and counts them, and no request waits
#     for it; what was accepted is committed once the store is back;
#   - kill -9 of the process that commits (the lease holder) loses no
#     accepted record and commits none twice; another process takes over;
#   - nginx -s reload and nginx -s quit commit what is in the buffer first;
#   - retention deletes raw rows older than retention= and nothing else;
#     the rollups keep them.

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
import vgtest  # noqa: E402
import ws_client as wsc  # noqa: E402
from vgtest import (FakeWorker, Nginx, diag, flusher_pid, free_port,  # noqa
                    get, is_, metric, never_two, ok, request, tap, wait_for,
                    workdir)

d = workdir("048-recorder")
port = free_port()
DB = os.path.join(d, "data", "vg.db")
W = FakeWorker(d, args=["--chat-ms", "30"]).start()
DAY = 86400 * 1000


def conf(buffer="64k"):
    return """
    voicegw_zone vg_books 8m;
    voicegw_store %(db)s flush=100ms retention=30d buffer=%(buffer)s;
    voicegw_project alpha "name=Alpha" daily_budget=10;
    voicegw_app offapp enabled=off;

    upstream gpu {
        voicegw_pool queue=5 queue_timeout=1s health_interval=1s;
        server 127.0.0.1:%(w)d;
    }

    server {
        listen 127.0.0.1:%(port)d;
        proxy_http_version 1.1;
        location = /pid { return 200 "$pid"; }
        location = /chat {
            voicegw_task chat pool=gpu;
            proxy_pass http://gpu/chat;
        }
        location = /off {
            voicegw_task chat pool=gpu app=offapp;
            proxy_pass http://gpu/chat;
        }
        location = /ws/chat {
            voicegw_task chat pool=gpu;
            proxy_pass http://gpu/ws/chat;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_buffering off;
        }
        location / { voicegw_api; }
    }
""" % {"db": DB, "buffer": buffer, "w": W.port, "port": port}


def chat(name, ms=None, project=None, timeout=10):
    body = {"messages": [{"role": "user", "content": name}]}
    if ms is not None:
        body["_task_ms"] = ms
    headers = {"Content-Type": "application/json"}
    if project:
        headers["X-VoiceGW-Project"] = project
    return request("POST", port, "/chat", body=body, headers=headers,
                   timeout=timeout)


def logs(**q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    r = get(port, "/v1/logs?limit=1000" + ("&" + qs if qs else ""))
    return r.json() if r.status == 200 else None


def db_rows():
    c = sqlite3.connect(DB, timeout=10)
    try:
        return c.execute("SELECT id, status, project FROM requests"
                         " ORDER BY id").fetchall()
    finally:
        c.close()


def metrics():
    return get(port, "/v1/metrics").text


ngx = Nginx(d, conf(), workers=2)
ngx.start(wait_ports=[port])
ok(wait_for(lambda: (get(port, "/workers").json()["workers"][0]["status"]
                     == "idle")), "the worker is idle")

# -- 1. every kind of task end is one record --------------------------------

for i in range(3):
    is_(chat("ok-%d" % i, project="alpha").status, 200, "task %d served" % i)

W.control(chat_http_status=500)
is_(chat("fails").status, 500, "a task the worker fails")
W.control(chat_http_status=200)

is_(request("POST", port, "/off", body={"messages": []}).status, 403,
    "a task of a disabled app is refused")

# the worker busy for 2 s: one ticket times out in the queue, one is
# cancelled, one's client leaves
out = {}
busy = threading.Thread(target=lambda: out.update(busy=chat("busy", 2000)))
busy.start()
ok(wait_for(lambda: W.stats()["running"] == 1), "a long task runs")

timed = threading.Thread(target=lambda: out.update(t=chat("timed")))
timed.start()
ok(wait_for(lambda: len(get(port, "/api/queue").json()["entries"]) == 1),
   "a ticket waits")
timed.join(5)
is_(out["t"].status, 503, "it times out in the queue")

cancel = threading.Thread(target=lambda: out.update(c=chat("cancel")))
cancel.start()
ok(wait_for(lambda: len(get(port, "/api/queue").json()["entries"]) == 1),
   "another ticket waits")
tid = get(port, "/api/queue").json()["entries"][0]["ticket_id"]
is_(request("DELETE", port, "/api/queue/" + tid).status, 200,
    "it is cancelled")
cancel.join(5)

c = vgtest.Conn(port)
c.send("/chat", {"messages": [{"role": "user", "content": "leaves"}]})
ok(wait_for(lambda: len(get(port, "/api/queue").json()["entries"]) == 1),
   "a third ticket waits")
c.close(rst=True)
ok(wait_for(lambda: len(get(port, "/api/queue").json()["entries"]) == 0),
   "its client left")
busy.join(5)
is_(out["busy"].status, 200, "the long task was served")

want = {"success": 4, "error": 1, "rejected": 1, "timeout": 1,
        "cancelled": 1, "abandoned": 1}
got = {}


def statuses():
    rows = logs(modality="omni") or []
    got.clear()
    for r in rows:
        got[r["status"]] = got.get(r["status"], 0) + 1
    return got == want


ok(wait_for(statuses, timeout=5),
   "/v1/logs?modality=omni: one record per task, by how it ended (%r)"
   % got)
rows = logs(modality="omni")
served = [r for r in rows if r["status"] == "success"]
ok(all(r["model_id"] == "gpu" and r["provider"] == "pool"
       and r["modality"] == "omni" for r in rows),
   "model is the pool, provider \"pool\", modality omni")
is_(sorted(r["project"] for r in served),
    ["alpha", "alpha", "alpha", "default"],
    "project from X-VoiceGW-Project, else default")
ok(all(r["http_status"] == 200 and r["total_latency_ms"] is not None
       and r["total_latency_ms"] >= 25 for r in served),
   "served: http 200 and the task's time as total latency")
long_task = [r for r in served if r["total_latency_ms"] >= 1900]
is_(len(long_task), 1, "the 2 s task's latency is about 2 s")
err = [r for r in rows if r["status"] == "error"][0]
is_(err["http_status"], 500, "the failed task's http_status")
rej = [r for r in rows if r["status"] == "rejected"][0]
is_(rej["http_status"], 403, "the refused task's http_status")
to = [r for r in rows if r["status"] == "timeout"][0]
ok(to["total_latency_ms"] is None and to["http_status"] == 503,
   "the timed-out ticket: 503, no task time")
ids = [r["id"] for r in rows]
is_(len(set(ids)), len(ids), "every record has its own id")
# newest first: by timestamp (when the request came), then by id (when
# it was recorded) -- a task that started earlier may end later
order = [(r["timestamp"], r["id"]) for r in rows]
is_(order, sorted(order, reverse=True),
    "newest first (timestamp, then id)")

costs = get(port, "/v1/costs?period=today").json()
is_(costs["by_model"].get("gpu", {}).get("requests"), 9,
    "/v1/costs counts the pool's tasks")
is_(costs["by_project"].get("alpha", {}).get("requests"), 3,
    "and alpha's")
lat = get(port, "/v1/latency?period=today").json()
ok(lat.get("gpu", {}).get("request_count") == 9
   and lat["gpu"]["latency_percentiles"]["p99"] >= 1900,
   "/v1/latency of the pool (%r)" % lat.get("gpu"))
pj = get(port, "/v1/projects/alpha").json()
ok(pj.get("today", {}).get("requests_today") == 3
   and "gpu" in pj.get("costs_today", {}).get("by_model", {}),
   "/v1/projects/alpha: today's three tasks, by model (%s)"
   % json.dumps(pj)[:300])

text = metrics()
is_(metric(text, "voicegw_served_requests_total", model="gpu"), 9.0,
    "/v1/metrics: voicegw_served_requests_total of the pool")
is_(metric(text, "voicegw_served_requests_total", project="alpha",
           status="success"), 3.0, "by project and status")
is_(metric(text, "voicegw_latency_seconds_count", model="gpu"), 5.0,
    "latency histogram: the five tasks that ran")
is_(metric(text, "voicegw_queue_wait_seconds_count", model="gpu"), 8.0,
    "queue-wait histogram: every task with a ticket")
ok("tk_" not in text, "no ticket id anywhere in the metrics")
prom = subprocess.run(["promtool", "check", "metrics"], input=text,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      text=True)
is_((prom.returncode, prom.stdout.strip()), (0, ""),
    "promtool check metrics accepts /v1/metrics")

# -- SSE and WebSocket tasks too ----------------------------------------------

n_before = len(logs(modality="omni"))
r = request("POST", port, "/chat", headers={"Content-Type": "application/json"},
            body={"messages": [{"role": "user", "content": "sse"}],
                  "streaming": True, "_chunks": 3, "_interval_ms": 100})
ok(r.status == 200 and "event-stream" in (r.header("Content-Type") or ""),
   "an SSE task streams")
ws = wsc.WSClient.connect("ws://127.0.0.1:%d/ws/chat" % port, timeout=10)
is_(ws.status, 101, "a WebSocket task is upgraded")
ws.send_json({"messages": [{"role": "user", "content": "ws"}],
              "streaming": True, "_chunks": 3, "_interval_ms": 200})
while True:
    m = ws.recv(5)
    if m is None or m.kind == "close":
        break
ws.close()
ok(wait_for(lambda: len(logs(modality="omni")) == n_before + 2),
   "both are on the books")
new = logs(modality="omni")[:2]
ok(all(x["status"] == "success" for x in new)
   and any(x["http_status"] == 101 and x["total_latency_ms"] >= 350
           for x in new),
   "the WebSocket session: status 101, its whole length as latency (%r)"
   % [(x["http_status"], x["total_latency_ms"]) for x in new])

# -- 2. a full buffer drops and counts; requests do not wait -----------------

before = metric(metrics(), "voicegw_records_total", outcome="accepted")
lock = sqlite3.connect(DB, timeout=10, isolation_level=None)
lock.execute("BEGIN EXCLUSIVE")          # the store cannot commit now

N = 1200
t0 = time.time()
conn = vgtest.Conn(port)
slow = 0
for i in range(N):
    a = time.time()
    conn.c.request("POST", "/off", body="{}",
                   headers={"Content-Type": "application/json"})
    r = conn.c.getresponse()
    r.read()
    slow = max(slow, time.time() - a)
conn.close()
text = metrics()
accepted = metric(text, "voicegw_records_total", outcome="accepted") - before
dropped = metric(text, "voicegw_records_total", outcome="dropped")
ok(dropped > 0 and accepted + dropped == N,
   "a full buffer: %d accepted, %d dropped, of %d" % (accepted, dropped, N))
ok(slow < 0.5, "no request waited for the store (slowest %.3f s)" % slow)
used = metric(text, "voicegw_record_buffer_bytes", kind="used")
size = metric(text, "voicegw_record_buffer_bytes", kind="size")
ok(size == 65536 and used > 0.9 * size,
   "voicegw_record_buffer_bytes: %d of %d used" % (used, size))
ok(metric(text, "voicegw_record_flusher_lag_seconds") > 0,
   "the flusher lag shows")

lock.execute("ROLLBACK")
lock.close()
ok(wait_for(lambda: len([r for r in db_rows() if r[1] == "rejected"])
            == 1 + accepted, timeout=15),
   "once the store is back, every accepted record is committed")

# -- 3. kill -9 of the lease holder ------------------------------------------

log = ngx.error_log()
victim = flusher_pid(log)
ok(victim in ngx.worker_pids(), "one worker process holds the lease (%r)"
   % victim)
n0 = len(db_rows())
lock = sqlite3.connect(DB, timeout=10, isolation_level=None)
lock.execute("BEGIN EXCLUSIVE")
acc0 = metric(metrics(), "voicegw_records_total", outcome="accepted")
for i in range(20):
    chat("k-%d" % i)
# a request is recorded in nginx's log phase, just after its answer is
# written: the kill waits until the 20 are in the buffer, as a record the
# process had not yet written when it died was never accepted
ok(wait_for(lambda: metric(metrics(), "voicegw_records_total",
                           outcome="accepted") - acc0 >= 20),
   "the 20 requests are accepted before the kill")
os.kill(victim, signal.SIGKILL)
mark = len(ngx.error_log())
time.sleep(0.3)          # let the killed holder's lease run out meanwhile
lock.execute("ROLLBACK")
lock.close()
ok(wait_for(lambda: len(db_rows()) == n0 + 20, timeout=15),
   "after kill -9 of the holder, all 20 accepted records are committed "
   "(%d of 20)" % (len(db_rows()) - n0))
ids = [r[0] for r in db_rows()]
is_(len(ids), len(set(ids)), "none twice")
new = flusher_pid(ngx.error_log(), mark)
ok(new is not None and new != victim,
   "another process took the lease (%r)" % new)

# -- 4. reload and quit commit the buffer first -----------------------------

lock = sqlite3.connect(DB, timeout=10, isolation_level=None)
lock.execute("BEGIN EXCLUSIVE")
for i in range(10):
    chat("r-%d" % i)
n1 = len(db_rows())
lock.execute("ROLLBACK")
lock.close()
served = metric(metrics(), "voicegw_served_requests_total")
ok(ngx.reload(), "nginx -s reload")
ok(wait_for(lambda: len(db_rows()) == n1 + 10, timeout=15),
   "the records in the buffer at the reload are committed")
is_(metric(metrics(), "voicegw_served_requests_total"), served,
    "the metrics' counters survive the reload")

for i in range(10):
    chat("q-%d" % i)
n2 = n1 + 10
ok(ngx.stop(signal.SIGQUIT), "nginx -s quit")
is_(len(db_rows()), n2 + 10, "quit committed every record before exiting")
ok(never_two(W), "the worker never ran two tasks at once")
is_([a for a in ngx.alerts() if "exited on signal 9" not in a], [],
    "no [alert], [emerg] or [crit] in the error log but the kill -9")

# -- 5. retention ----------------------------------------------------------------

now = int(time.time() * 1000)
c = sqlite3.connect(DB)
base = c.execute("SELECT max(id) FROM requests").fetchone()[0]
for i, age in enumerate((40, 35, 31, 29, 1)):
    c.execute("INSERT INTO requests (id, ts, project, modality, model_id,"
              " provider, cost_usd, total_latency_ms, status)"
              " VALUES (?, ?, 'old', 'llm', 'x/y', 'x', 1.0, 100, 'success')",
              (base + 1 + i, now - age * DAY))
c.commit()
kept_before = c.execute("SELECT count(*) FROM requests WHERE project != 'old'"
                        ).fetchone()[0]
c.close()

restart = len(ngx.error_log())
ngx = Nginx(d, conf(), workers=2)
ngx.start(wait_ports=[port])


def old_left():
    cc = sqlite3.connect(DB)
    try:
        return [r[0] for r in cc.execute(
            "SELECT (? - ts) / 86400000 FROM requests WHERE project = 'old'"
            " ORDER BY ts", (now,))]
    finally:
        cc.close()


ok(wait_for(lambda: old_left() == [29, 1], timeout=10),
   "retention=30d deleted the rows of 40, 35 and 31 days ago (%r left)"
   % old_left())
c = sqlite3.connect(DB)
is_(c.execute("SELECT count(*) FROM requests WHERE project != 'old'"
              ).fetchone()[0], kept_before, "and nothing else")
is_(c.execute("SELECT sum(requests), total(cost_usd) FROM daily"
              " WHERE project = 'old'").fetchone(), (5, 5.0),
    "the daily rollups keep all five")
c.close()
ok(len([r for r in logs() if r["project"] == "old"]) == 2,
   "/v1/logs shows only the rows kept")
costs = get(port, "/v1/costs?period=all&project=old").json()
is_(costs.get("total"), 5.0, "/v1/costs?period=all still counts them")
is_([l for l in ngx.error_log()[restart:].splitlines()
     if "[alert]" in l or "[emerg]" in l or "[crit]" in l], [],
    "no [alert], [emerg] or [crit] after the restart")

# -- 6. a batch with a row already in the store -------------------------------
# (as when a batch is committed again after its holder died): a batch of
# 128 records or more goes in by statements of 16, and a statement that
# finds one of its rows there has the batch written again one row at a
# time; each new row is rolled up once, the row already there is left as
# it was

def alpha_books():
    cc = sqlite3.connect(DB, timeout=10)
    try:
        return (cc.execute("SELECT count(*) FROM requests"
                           " WHERE project = 'alpha'").fetchone()[0],
                cc.execute("SELECT total(requests) FROM daily"
                           " WHERE project = 'alpha'").fetchone()[0])
    finally:
        cc.close()


def one_batch(c, n, name):
    """n tasks of project alpha while c holds the store: one batch"""
    c.execute("BEGIN EXCLUSIVE")
    acc0 = metric(metrics(), "voicegw_records_total", outcome="accepted")
    for i in range(n):
        chat("%s-%d" % (name, i), ms=0, project="alpha")
    ok(wait_for(lambda: metric(metrics(), "voicegw_records_total",
                               outcome="accepted") - acc0 >= n),
       "%d records wait for the store" % n)
    # a batch begun before the last of them waits for the lock up to the
    # store's busy timeout (5 s) and fails; the one after has them all
    time.sleep(5.5)
    c.execute("ROLLBACK")


rows0, rolled0 = alpha_books()
c = sqlite3.connect(DB, timeout=10, isolation_level=None)
first = c.execute("SELECT max(id) FROM requests").fetchone()[0] + 1
there = first + 5
c.execute("INSERT INTO requests (id, ts, project, modality, model_id,"
          " provider, cost_usd, status) VALUES (?, ?, 'dup', 'llm', 'x/y',"
          " 'x', 0.5, 'success')", (there, int(time.time() * 1000)))
one_batch(c, 300, "dup")
ok(wait_for(lambda: alpha_books()[0] == rows0 + 299, timeout=10),
   "299 of them are new rows (%d)" % (alpha_books()[0] - rows0))
ids = [r[0] for r in c.execute("SELECT id FROM requests WHERE id >= ?"
                               " AND project = 'alpha' ORDER BY id",
                               (first,))]
is_(ids, [i for i in range(first, first + 300) if i != there],
    "they have the ids the recorder gave them, the one already there aside")
is_(c.execute("SELECT project, cost_usd FROM requests WHERE id = ?",
              (there,)).fetchone(), ("dup", 0.5),
    "the row already there is left as it was")
is_(alpha_books()[1] - rolled0, 299.0,
    "the daily rollup counts the 299 new rows once each")
is_(c.execute("SELECT total(requests) FROM daily WHERE project = 'dup'"
              ).fetchone()[0], 1.0,
    "and the row already there once, as it was inserted")
c.close()
rows1, rolled1 = alpha_books()

# and batches of new rows only, by statements of 16 (and one by one for
# the rest) and, below 128, one by one: every row rolled up once
for n in (263, 35):
    c = sqlite3.connect(DB, timeout=10, isolation_level=None)
    one_batch(c, n, "group%d" % n)
    c.close()
    ok(wait_for(lambda: alpha_books()[0] == rows1 + n, timeout=10),
       "a batch of %d new records: %d rows (%d)"
       % (n, n, alpha_books()[0] - rows1))
    is_(alpha_books()[1] - rolled1, float(n), "each rolled up once")
    rows1, rolled1 = alpha_books()

ngx.stop()
sys.exit(tap.done())
