#!/usr/bin/env python3
#
# t/030-queue.t -- the pool's FIFO queue (SPEC 3.4) with a master process
# and two worker processes: grants follow arrival order whichever process
# accepted the request; ticket ids and the queue-wait header; queue full and
# queue timeout; a client that leaves while parked; the queue API
# (GET /api/queue, GET and DELETE /api/queue/{id}); kill -9 of a process
# that holds parked requests; nginx -s reload with requests queued and
# running.  No fake worker ever runs two tasks at once.
#
# Every request is sent over a connection whose nginx process is known
# (GET /pid on the same keep-alive connection first), so that both
# processes park requests in every scenario.

import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
import vgtest  # noqa: E402
from vgtest import (SLOW, FakeWorker, Nginx, diag, finished, free_port,  # noqa
                    get, is_, like, never_two, ok, request, tap, wait_for,
                    workdir)

TICKET_RE = r"^tk_[0-9a-f]{16}$"
ISO_RE = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$"

d = workdir("030-queue")
port = free_port()

w1 = FakeWorker(d, args=["--chat-ms", "100"]).start()     # pool "main"
w2 = FakeWorker(d, args=["--chat-ms", "100"]).start()     # pool "short"
URL1 = "http://127.0.0.1:%d" % w1.port
URL2 = "http://127.0.0.1:%d" % w2.port

CONF = """
    voicegw_zone vg_queue 8m;
    log_format vgq '$pid $status $voicegw_ticket wait=$voicegw_queue_wait_ms '
                   'worker=$voicegw_worker "$request"';
    upstream main {
        voicegw_pool queue=5 queue_timeout=10s health_interval=1s;
        server 127.0.0.1:%(w1)d;
    }
    upstream short {
        voicegw_pool queue=1 queue_timeout=2s health_interval=1s;
        server 127.0.0.1:%(w2)d;
    }
    server {
        listen 127.0.0.1:%(port)d reuseport;
        access_log logs/vg.log vgq;
        proxy_http_version 1.1;
        proxy_buffering off;
        location = /chat {
            voicegw_task chat pool=main;
            proxy_pass http://main/chat;
        }
        location = /short {
            voicegw_task chat pool=short;
            proxy_pass http://short/chat;
        }
        location = /pid { return 200 "$pid"; }
        location / { voicegw_api; }
    }
""" % {"w1": w1.port, "w2": w2.port, "port": port}


# -- helpers -----------------------------------------------------------------

def Conn(timeout=30):
    return vgtest.Conn(port, timeout=timeout)


def conn_in(pid):
    return vgtest.conn_in(port, pid)


class Task(threading.Thread):
    """POST a chat task on a connection and wait for the answer."""

    def __init__(self, conn, name, task_ms, path="/chat"):
        super().__init__(daemon=True)
        self.conn, self.name, self.path = conn, name, path
        self.body = {"messages": [{"role": "user", "content": name}],
                     "_task_ms": task_ms}
        self.status = self.headers = self.data = self.error = None
        self.t0 = self.t1 = None

    def run(self):
        self.t0 = time.time()
        try:
            self.conn.send(self.path, self.body)
            self.status, self.headers, self.data = self.conn.response()
        except Exception as e:                  # noqa: BLE001
            self.error = e
        self.t1 = time.time()

    def json(self):
        try:
            return json.loads(self.data)
        except (TypeError, ValueError):
            return None

    def ticket(self):
        return (self.headers or {}).get("x-voicegw-ticket")

    def wait_ms(self):
        v = (self.headers or {}).get("x-voicegw-queue-wait-ms")
        return int(v) if v is not None and v.isdigit() else None


def queue(pool="main"):
    q = get(port, "/api/queue").json()
    q["entries"] = [e for e in q["entries"] if e.get("pool") == pool]
    q["running"] = [e for e in q["running"]
                    if e.get("worker_url") in ((URL1,) if pool == "main"
                                               else (URL2,))]
    return q


def queued_ids(pool="main"):
    return [e["ticket_id"] for e in queue(pool)["entries"]]


def running_ids(pool="main"):
    return [e["ticket_id"] for e in queue(pool)["running"]]


def enqueue(conn, name, task_ms, path="/chat", pool="main"):
    """Start a task that must park; returns it with its ticket id once it
    shows up at the tail of the queue."""
    before = set(queued_ids(pool))
    t = Task(conn, name, task_ms, path)
    t.start()
    new = wait_for(lambda: [i for i in queued_ids(pool) if i not in before])
    t.tid = new[-1] if new else None
    if not new:
        diag("task %s did not show up in the queue" % name)
    return t


def occupy(conn, name, task_ms, path="/chat", pool="main"):
    """Start a task that gets the (idle) worker at once."""
    before = set(running_ids(pool))
    t = Task(conn, name, task_ms, path)
    t.start()
    new = wait_for(lambda: [i for i in running_ids(pool) if i not in before])
    t.tid = new[0] if new else None
    if not new:
        diag("task %s did not start running" % name)
    return t


def worker(url):
    for w in get(port, "/workers").json()["workers"]:
        if w["url"] == url:
            return w
    return None


def ticket(tid):
    r = get(port, "/api/queue/" + tid)
    return r.status, r.json()


def idle(url):
    w = worker(url)
    return w is not None and w["status"] == "idle" and w["ticket_id"] is None


# -- start ---------------------------------------------------------------------

ngx = Nginx(d, CONF, workers=2).start(wait_ports=[port])

ok(wait_for(lambda: idle(URL1) and idle(URL2), timeout=10),
   "both fake workers are idle after the first health check")

pids = set()
for _ in range(300):
    c = Conn()
    pids.add(c.pid())
    c.close()
    if len(pids) == 2:
        break
is_(len(pids), 2, "both nginx processes accept connections")
PA, PB = sorted(pids)

views = []
for p in (PA, PB):
    c = conn_in(p)
    c.c.request("GET", "/status")
    r = c.c.getresponse()
    views.append(json.loads(r.read()))
    c.close()
ok(all(v["total_workers"] == 2 and v["idle_workers"] == 2
       and v["queue_length"] == 0 for v in views),
   "/status agrees in both processes: 2 workers idle, queue empty")

# -- a task with a free worker ---------------------------------------------------

t = Task(conn_in(PA), "first", 50)
t.run()
is_(t.status, 200, "a task with an idle worker is served")
like(t.ticket(), TICKET_RE, "X-VoiceGW-Ticket is tk_ and 16 lowercase hex")
ok(t.wait_ms() is not None and t.wait_ms() <= 100,
   "X-VoiceGW-Queue-Wait-Ms of an unqueued task is about 0 (%r)"
   % t.wait_ms())
is_((t.json() or {}).get("worker_port"), w1.port, "served by the pool's worker")
st, tk = ticket(t.ticket())
is_(st, 200, "the ticket of a finished task is queryable")
ok(tk and tk["status"] == "assigned" and tk["worker_url"] == URL1,
   "it is assigned to the worker (%r)" % (tk,))
ok(wait_for(lambda: ticket(t.ticket())[1]["finished_at"] is not None),
   "finished_at is set once the worker is released")

# -- strict FIFO order across both processes -------------------------------------

diag("FIFO order across processes")
eta_conf = get(port, "/api/config/eta").json()
est = (eta_conf["ema_chat_s"]
       if eta_conf["ema_chat_samples"] >= eta_conf["eta_ema_min_samples"]
       else eta_conf["eta_chat_s"])

occ = occupy(conn_in(PA), "occupier", 2500)
ok(occ.tid is not None, "the occupying task runs on the worker")
w = worker(URL1)
ok(w["status"] == "busy" and w["ticket_id"] == occ.tid
   and w["current_task"] == "chat",
   "/workers shows the worker busy with that ticket")
st, tk = ticket(occ.tid)
ok(st == 200 and tk["status"] == "assigned" and tk["worker_url"] == URL1
   and re.match(ISO_RE, tk["assigned_at"] or "") and tk["finished_at"] is None
   and tk["position"] == 0,
   "its ticket: assigned, worker_url, assigned_at, no finished_at yet (%r)"
   % (tk,))

order = []
for i in range(5):
    pid = (PB, PA)[i % 2]
    order.append(enqueue(conn_in(pid), "order-%d" % i, 100))
    order[-1].pid = pid
tids = [t.tid for t in order]
ok(all(tids), "5 tasks queued, alternately in both processes")
ok(all(re.match(TICKET_RE, x or "") for x in tids),
   "their ticket ids in /api/queue match ^tk_[0-9a-f]{16}$")
is_(len(set(tids)), 5, "ticket ids are distinct")

q = queue()
is_(q["queue_length"], 5, "queue_length is 5")
is_([e["ticket_id"] for e in q["entries"]], tids,
    "entries are in arrival order")
is_([e["position"] for e in q["entries"]], [1, 2, 3, 4, 5],
    "positions 1..5")
ok(all(e["task_type"] == "chat" and e["session_id"] is None
       and re.match(ISO_RE, e["enqueued_at"] or "")
       and isinstance(e["eta_seconds"], (int, float))
       for e in q["entries"]),
   "each entry has task_type, session_id, enqueued_at (ISO-8601 UTC), "
   "eta_seconds")
is_(len(q["running"]), 1, "one task running")
rn = q["running"][0] if q["running"] else {}
ok(rn.get("worker_url") == URL1 and rn.get("task_type") == "chat"
   and "session_id" in rn and rn.get("session_id") is None
   and re.match(ISO_RE, rn.get("started_at") or "")
   and isinstance(rn.get("elapsed_s"), (int, float))
   and 0 <= rn["elapsed_s"] < 3,
   "running entry: worker_url, task_type, session_id, started_at, "
   "elapsed_s (%r)" % (rn,))
etas = [e["eta_seconds"] for e in q["entries"]]
first = max(est - rn.get("elapsed_s", 0), 0)
ok(abs(etas[0] - first) <= 0.25 and
   all(abs(etas[i + 1] - etas[i] - est) <= 0.15 for i in range(4)),
   "eta_seconds: the running task's remaining time, then +%.1f s each (%r)"
   % (est, etas))

st, tk = ticket(tids[2])
ok(st == 200 and tk["status"] == "queued" and tk["position"] == 3
   and tk["worker_url"] is None and tk["ticket_id"] == tids[2],
   "GET /api/queue/{id} of the third: queued, position 3 (%r)" % (tk,))

# queue full
full = Task(conn_in(PB), "overflow", 100)
full.run()
is_(full.status, 503, "a sixth task with queue=5 is refused: 503")
ok(isinstance(full.json(), dict), "with a JSON body (%r)" % (full.data,))
is_((full.json() or {}).get("error"), "queue_full", "error queue_full")
like((full.headers or {}).get("content-type"), r"^application/json",
     "Content-Type application/json")
ok(full.t1 - full.t0 < 1.0, "at once (%.2f s)" % (full.t1 - full.t0))
is_(queued_ids(), tids, "the refused task left no ticket in the queue")

ok(finished([occ] + order), "every queued task finished")
is_([t.status for t in [occ] + order], [200] * 6,
    "all of them were served with 200")
is_([t.ticket() for t in order], tids,
    "each response carries the ticket it had in the queue")
is_(w1.served(["order-%d" % i for i in range(5)]),
    ["order-%d" % i for i in range(5)],
    "the fake worker served them in arrival order")
seq = [w1.task(n) for n in ["occupier"] + [t.name for t in order]]
gaps = [round((b["start"] - a["end"]) * 1000, 1) for a, b in zip(seq, seq[1:])]
ok(all(g < 100 * SLOW for g in gaps),
   "each freed worker went to the next task at once, also in the other "
   "process (gaps %r ms; the 250 ms backstop timer would show)" % (gaps,))
grants = sorted(order, key=lambda t: w1.task(t.name)["start"])
is_([t.pid for t in grants], [t.pid for t in order],
    "parked in alternating processes, granted alternately")
waits = [t.wait_ms() for t in order]
ok(all(x is not None for x in waits)
   and all(waits[i] < waits[i + 1] for i in range(4)),
   "X-VoiceGW-Queue-Wait-Ms grows along the queue (%r)" % (waits,))
ok(all(x is not None and
       (t.t1 - t.t0) * 1000 - 100 - 600 <= x <= (t.t1 - t.t0) * 1000 + 20
       for t, x in zip(order, waits)),
   "and each is the wait the client saw, minus the 100 ms task (%r vs %r)"
   % (waits, [int((t.t1 - t.t0) * 1000) for t in order]))

ok(wait_for(lambda: all(ticket(x)[1]["finished_at"] for x in tids)),
   "all their tickets get finished_at")
tk = ticket(tids[4])[1]
ok(tk["status"] == "assigned" and tk["worker_url"] == URL1
   and re.match(ISO_RE, tk["assigned_at"] or "")
   and re.match(ISO_RE, tk["finished_at"] or "")
   and tk["queue_wait_ms"] == waits[4],
   "a finished ticket stays assigned, with worker_url, assigned_at, "
   "finished_at and queue_wait_ms (%r)" % (tk,))
ok(wait_for(lambda: idle(URL1)), "the worker is idle again")
is_(queue()["queue_length"], 0, "the queue is empty")

log = open(os.path.join(d, "logs", "vg.log")).read()
logged = dict((m.group(2), int(m.group(1))) for m in
              re.finditer(r"^(\d+) 200 (tk_[0-9a-f]{16}) ", log, re.M))
is_([logged.get(x) for x in tids], [t.pid for t in order],
    "the access log ($voicegw_ticket, $pid) confirms which process served "
    "each")

# -- cancel, abandon, timeout, the ticket API ------------------------------------

diag("cancel, abandon, timeout")
occ = occupy(conn_in(PA), "occupier-2", 3000)
occ2 = occupy(conn_in(PB), "short-occupier", 4000, path="/short",
              pool="short")
ok(occ.tid and occ2.tid, "both workers are busy")

tmo = enqueue(conn_in(PA), "timeout-me", 100, path="/short", pool="short")
cnl = enqueue(conn_in(PA), "cancel-me", 100)
abd = enqueue(conn_in(PB), "abandon-me", 100)
keep = enqueue(conn_in(PA), "keep-me", 100)
ok(all(t.tid for t in (tmo, cnl, abd, keep)), "four tasks parked")

full = Task(conn_in(PB), "overflow-short", 100, path="/short")
full.run()
ok(full.status == 503 and (full.json() or {}).get("error") == "queue_full",
   "queue=1 is full with one parked task: 503 queue_full (%r %r)"
   % (full.status, full.data))

r = request("DELETE", port, "/api/queue/" + cnl.tid)
is_(r.status, 200, "DELETE of a queued ticket: 200")
is_(r.json(), {"ticket_id": cnl.tid, "cancelled": True},
    'body {"ticket_id":..,"cancelled":true}')
cnl.join(3)
is_(cnl.status, 503, "the cancelled request is answered 503")
is_((cnl.json() or {}).get("error"), "cancelled", 'with {"error":"cancelled"}')
like((cnl.headers or {}).get("content-type"), r"^application/json",
     "Content-Type application/json")
ok(cnl.t1 is not None and time.time() - cnl.t1 < 3,
   "at once, not at the end of the occupier")
is_(cnl.ticket(), cnl.tid, "the 503 carries the ticket")
is_(ticket(cnl.tid)[1]["status"], "cancelled", "its status is cancelled")
r = request("DELETE", port, "/api/queue/" + cnl.tid)
is_(r.status, 409, "DELETE of a cancelled ticket: 409")
is_((r.json() or {}).get("error"), "not_queued", "not_queued")

is_(queued_ids(), [abd.tid, keep.tid], "the queue closed up")
is_(ticket(keep.tid)[1]["position"], 2, "keep-me is second")

t0 = time.time()
abd.conn.close()
gone = wait_for(lambda: abd.tid not in queued_ids(), timeout=2, interval=0.01)
dt = time.time() - t0
ok(gone and dt < 0.5,
   "a client that leaves while parked is gone from the queue at once "
   "(%.3f s)" % dt)
is_(ticket(abd.tid)[1]["status"], "abandoned", "its status is abandoned")
ok(wait_for(lambda: re.search(r"^\d+ 499 %s " % abd.tid,
                              open(os.path.join(d, "logs", "vg.log")).read(),
                              re.M)),
   "nginx logged 499 for it")
r = request("DELETE", port, "/api/queue/" + abd.tid)
is_(r.status, 409, "DELETE of an abandoned ticket: 409")
is_(ticket(keep.tid)[1]["position"], 1, "keep-me moved to the head")

r = request("DELETE", port, "/api/queue/" + occ.tid)
is_(r.status, 409, "DELETE of a running (assigned) ticket: 409")
is_((r.json() or {}).get("error"), "not_queued", "not_queued")
is_(running_ids(), [occ.tid], "and it keeps running")

for tid in ("tk_0000000000000000", "tk_" + "f" * 16):
    is_(get(port, "/api/queue/" + tid).status, 404,
        "GET of an unknown ticket %s: 404" % tid)
    is_(request("DELETE", port, "/api/queue/" + tid).status, 404,
        "DELETE of an unknown ticket %s: 404" % tid)
for bad in ("tk_123", "tk_" + keep.tid[3:].upper(), keep.tid + "0",
            keep.tid[:-1] + "g", "TK_" + keep.tid[3:], "abc", keep.tid + "/x",
            "%20" + keep.tid):
    r = get(port, "/api/queue/" + bad)
    ok(r.status == 404 and (r.json() or {}).get("error") == "not_found",
       "GET of a malformed id %r: JSON 404 (%d)" % (bad, r.status))
r = request("DELETE", port, "/api/queue/tk_xyz")
is_(r.status, 404, "DELETE of a malformed id: 404")
ok(keep.tid in queued_ids(), "none of that touched the queue")

tmo.join(5)
is_(tmo.status, 503, "a task parked past queue_timeout=2s gets 503")
is_((tmo.json() or {}).get("error"), "queue_timeout", "error queue_timeout")
like((tmo.headers or {}).get("content-type"), r"^application/json",
     "Content-Type application/json")
el = (tmo.t1 - tmo.t0) if tmo.t1 else -1
ok(1.8 <= el <= 3.0, "after about 2 s (%.2f s)" % el)
is_(tmo.ticket(), tmo.tid, "the 503 carries the ticket")
is_(ticket(tmo.tid)[1]["status"], "timed_out", "its status is timed_out")

ok(finished([occ, occ2, keep]), "the rest finished")
is_([occ.status, occ2.status, keep.status], [200, 200, 200],
    "occupiers and keep-me served")
is_(w1.served(["occupier-2", "cancel-me", "abandon-me", "keep-me"]),
    ["occupier-2", "keep-me"],
    "the worker never saw the cancelled or the abandoned task")
is_(w2.served(["short-occupier", "timeout-me"]), ["short-occupier"],
    "nor the timed-out one")
ok(wait_for(lambda: idle(URL1) and idle(URL2)), "both workers idle again")

# -- kill -9 of a process holding parked requests ---------------------------------

diag("kill -9")
victim, survivor = PA, PB
occ = occupy(conn_in(victim), "k-occupier", 20000)
ka1 = enqueue(conn_in(victim), "k-victim-1", 200)
kb1 = enqueue(conn_in(survivor), "k-survivor-1", 200)
ka2 = enqueue(conn_in(victim), "k-victim-2", 200)
kb2 = enqueue(conn_in(survivor), "k-survivor-2", 200)
ok(occ.tid and all(t.tid for t in (ka1, kb1, ka2, kb2)),
   "the worker runs a task of process %d; 4 tasks parked in both processes"
   % victim)

t_kill = time.time()
os.kill(victim, signal.SIGKILL)

ok(finished([occ, ka1, ka2], timeout=5),
   "the killed process's clients are answered")
ok(all(t.error is not None and t.status is None for t in (occ, ka1, ka2)),
   "by their connections closing (%r)" %
   ([(t.status, repr(t.error)) for t in (occ, ka1, ka2)],))
gone = wait_for(lambda: not ({ka1.tid, ka2.tid} & set(queued_ids())),
                timeout=5, interval=0.05)
dt = time.time() - t_kill
ok(gone, "their tickets leave the queue (%.2f s after the kill)" % dt)
ok(dt < 2.5, "within about 2 s (%.2f s)" % dt)
is_([ticket(ka1.tid)[1]["status"], ticket(ka2.tid)[1]["status"]],
    ["abandoned", "abandoned"], "with status abandoned")
ok(wait_for(lambda: len(ngx.worker_pids()) == 2
            and victim not in ngx.worker_pids(), timeout=5),
   "the master respawned the process")
ok(wait_for(lambda: (w1.task("k-occupier") or {}).get("status")
            == "aborted", timeout=3),
   "the dead process's running task was aborted on the fake")

ok(finished([kb1, kb2], timeout=10), "the surviving parked tasks finished")
is_([kb1.status, kb2.status], [200, 200],
    "and were served: the queue keeps moving")
is_(w1.served(["k-occupier", "k-survivor-1", "k-survivor-2"]),
    ["k-occupier", "k-survivor-1", "k-survivor-2"], "in order")
ok(kb1.t1 - t_kill < 5, "soon after the kill (%.2f s)" % (kb1.t1 - t_kill))
st, tk = ticket(occ.tid)
ok(st == 200 and tk["status"] == "assigned" and tk["finished_at"],
   "the dead process's running ticket was released (%r)" % (tk,))
newpid = [p for p in ngx.worker_pids() if p != survivor]
later = Task(conn_in(newpid[0]) if newpid else Conn(), "k-later", 50)
later.run()
is_(later.status, 200, "a later request (in the respawned process) is served")
ok(wait_for(lambda: idle(URL1)), "no worker leaked: the worker is idle")
is_(queue()["queue_length"], 0, "the queue is empty")
PA, PB = sorted(ngx.worker_pids())

# -- nginx -s reload with tasks queued and running ----------------------------------

diag("reload")
occ = occupy(conn_in(PA), "r-occupier", 3000)
rq = [enqueue(conn_in(p), "r-%d" % i, 150)
      for i, p in enumerate((PA, PB, PA))]
ok(occ.tid and all(t.tid for t in rq), "one task running, three parked")
q_before = queued_ids()
eta_before = get(port, "/api/config/eta").json()
w_before = worker(URL1)
old = set(ngx.worker_pids())
master = ngx.master_pid()
os.kill(master, signal.SIGHUP)
ok(wait_for(lambda: len(set(ngx.worker_pids()) - old) >= 2, timeout=10),
   "nginx -s reload started new worker processes")
new = sorted(set(ngx.worker_pids()) - old)
still = running_ids() == [occ.tid]
ok(still, "the running task still runs after the reload")
is_(queued_ids(), q_before, "the queue survived, same tickets, same order")
w_after = worker(URL1)
ok(w_after["status"] == "busy" and w_after["ticket_id"] == occ.tid
   and w_after["busy_since"] == w_before["busy_since"],
   "the worker table survived (busy with the same ticket)")
eta_after = get(port, "/api/config/eta").json()
keys = [k for k in eta_before if k.startswith("ema_")]
is_(dict((k, eta_after[k]) for k in keys),
    dict((k, eta_before[k]) for k in keys),
    "the ETA statistics survived (ema_*_s, ema_*_samples)")
ok(eta_before["ema_chat_samples"] >= 10,
   "(with %d chat samples)" % eta_before["ema_chat_samples"])
is_(ticket(rq[1].tid)[1]["status"], "queued",
    "a ticket of an old process is still queued")

late = enqueue(conn_in(new[0]), "r-late", 100)
ok(late.tid is not None, "a task of a new process parks behind them")
ok(finished([occ] + rq + [late], timeout=15), "all of them finished")
is_([t.status for t in [occ] + rq + [late]], [200] * 5,
    "no request failed: those parked in the old processes were served")
is_(w1.served(["r-occupier", "r-0", "r-1", "r-2", "r-late"]),
    ["r-occupier", "r-0", "r-1", "r-2", "r-late"], "in arrival order")
ok(wait_for(lambda: not (old & set(ngx.worker_pids())), timeout=10),
   "the old processes exited")
ok(wait_for(lambda: idle(URL1)), "the worker is idle again")
eta_end = get(port, "/api/config/eta").json()
is_(eta_end["ema_chat_samples"], eta_before["ema_chat_samples"] + 5,
    "the five tasks were counted in the same ETA statistics")

# -- the end ---------------------------------------------------------------------

s1, s2 = w1.stats(), w2.stats()
ok(never_two(w1), "fake worker 1 never ran two tasks at once "
   "(max_concurrent %d)" % s1["max_concurrent"])
ok(never_two(w2), "fake worker 2 never ran two tasks at once "
   "(max_concurrent %d)" % s2["max_concurrent"])
is_(s1["running"] + s2["running"], 0, "no task runs on the fakes")
is_(queue()["queue_length"], 0, "the queue is empty")

ok(ngx.stop(), "nginx stopped")
alerts = [l for l in ngx.alerts()
          if not re.search(r"\[alert\].* worker process %d exited on signal 9"
                           % victim, l)]
is_(alerts, [], "no [alert], [crit] or [emerg] in the error log "
    "(but the kill -9 we did)")

sys.exit(tap.done())
