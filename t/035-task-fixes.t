#!/usr/bin/env python3
#
# t/035-task-fixes.t -- three behaviours of a task that its structure must
# guarantee (docs/pool.md):
#
#   1. a request runs one task at most: an error_page to a named location
#      that proxies to the pool again, or to a plain URI, does not start a
#      second task, and $voicegw_ticket / $voicegw_worker stay set for the
#      access log;
#   2. durations come from a monotonic clock: the wall clock stepped back
#      or forward (libfaketime) while a task runs and a ticket waits does
#      not poison the ETA average, queue_wait_ms or elapsed_s;
#   3. a worker whose request timed out is released as failed: its health
#      is checked before it gets another task, and the duration is no ETA
#      sample.

import os
import re
import sys
import threading
import time
from email.utils import parsedate_to_datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
import vgtest  # noqa: E402
from vgtest import (VALGRIND, FakeWorker, Nginx, diag, free_port, get,  # noqa
                    is_, never_two, ok, request, tap, wait_for, workdir)

d = workdir("035-task-fixes")
port = free_port()

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
CLOCK = os.path.join(d, "faketime")


def fake():
    f = FakeWorker(d, args=["--chat-ms", "100"]).start()
    f.url = "http://127.0.0.1:%d" % f.port
    return f


W1, W2, W3 = fake(), fake(), fake()

CONF = """
    voicegw_zone vg_fixes 8m;
    voicegw_eta chat=15 alpha=1 min_samples=1;
    log_format vgf '$status ticket=$voicegw_ticket worker=$voicegw_worker '
                   'wait=$voicegw_queue_wait_ms "$request_uri"';

    upstream redir {
        voicegw_pool queue=10 queue_timeout=10s health_interval=1s;
        server 127.0.0.1:%(w1)d;
    }
    upstream clock {
        voicegw_pool queue=10 queue_timeout=30s health_interval=1s;
        server 127.0.0.1:%(w2)d;
    }
    upstream slow {
        voicegw_pool queue=10 queue_timeout=10s health_interval=600s;
        server 127.0.0.1:%(w3)d;
    }

    server {
        listen 127.0.0.1:%(port)d;
        access_log logs/vg.log vgf;
        proxy_http_version 1.1;

        # the worker answers 500; the answer is intercepted and the request
        # goes to a named location that proxies to the same pool
        location = /redir {
            voicegw_task chat pool=redir;
            proxy_pass http://redir/chat;
            proxy_intercept_errors on;
            error_page 500 = @again;
        }
        location @again {
            voicegw_task chat pool=redir;
            rewrite ^ /chat break;
            proxy_pass http://redir;
        }

        # ... or to a plain URI
        location = /redir_uri {
            voicegw_task chat pool=redir;
            proxy_pass http://redir/chat;
            proxy_intercept_errors on;
            error_page 500 =200 /fallback;
        }
        location = /fallback {
            return 200 "fallback\\n";
        }

        location = /clock {
            voicegw_task chat pool=clock;
            proxy_pass http://clock/chat;
        }

        location = /slow {
            voicegw_task chat pool=slow;
            proxy_pass http://slow/chat;
            proxy_read_timeout 500ms;
        }

        location / { voicegw_api; }
    }
""" % {"w1": W1.port, "w2": W2.port, "w3": W3.port, "port": port}

# nginx (and only nginx) runs with libfaketime: its wall clock follows the
# offset in CLOCK, read at every call; its monotonic clock stays true
with open(CLOCK, "w") as f:
    f.write("+0\n")
FAKE_ENV = {"LD_PRELOAD": FAKETIME, "FAKETIME_TIMESTAMP_FILE": CLOCK,
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
MAIN = "".join("env %s;\n" % k for k in FAKE_ENV)

ngx = Nginx(d, CONF, workers=2, main_config=MAIN)
saved = dict(os.environ)
os.environ.update(FAKE_ENV)
try:
    ngx.start(wait_ports=[port])
finally:
    os.environ.clear()
    os.environ.update(saved)


def post(path, name, task_ms=None, timeout=30):
    body = {"messages": [{"role": "user", "content": name}]}
    if task_ms is not None:
        body["_task_ms"] = task_ms
    return request("POST", port, path, body=body, timeout=timeout,
                   headers={"Content-Type": "application/json"})


def worker(f):
    for w in get(port, "/workers").json()["workers"]:
        if w["url"] == f.url:
            return w
    return None


def idle(f):
    w = worker(f)
    return w is not None and w["status"] == "idle" and w["ticket_id"] is None


def eta():
    return get(port, "/api/config/eta").json()


def log_line(uri, n=1):
    """The n-th access log line of uri (waits for it)."""
    path = os.path.join(d, "logs", "vg.log")

    def lines():
        try:
            with open(path) as f:
                found = [l for l in f if l.rstrip().endswith('"%s"' % uri)]
        except OSError:
            return None
        return found[n - 1] if len(found) >= n else None
    return wait_for(lines)


def wall_offset(spec):
    with open(CLOCK + ".tmp", "w") as f:
        f.write(spec + "\n")
    os.rename(CLOCK + ".tmp", CLOCK)


ok(wait_for(lambda: all(idle(f) for f in (W1, W2, W3))),
   "the three workers are idle")

# -- 1. one task per request, also through error_page ------------------------

W1.control(chat_http_status=500)

r = post("/redir", "named")
is_(r.status, 502, "/redir: the named location finds no worker for a "
    "second task (502)")
ok(wait_for(lambda: W1.stats()["served"] >= 1), "the worker served the task")
# nothing to wait for: the time in which a second task would have started
time.sleep(0.3)
is_(W1.stats()["served"], 1,
    "error_page to a named location started no second task on the worker")
line = log_line("/redir")
ok(line is not None and re.search(r"ticket=tk_[0-9a-f]{16} ", line)
   and ("worker=http://127.0.0.1:%d " % W1.port) in line,
   "the access log shows the task's ticket and worker after the redirect "
   "(%r)" % (line and line.strip()))

ok(wait_for(lambda: idle(W1)), "the worker is idle again")
r = post("/redir_uri", "uri")
ok(r.status == 200 and r.text == "fallback\n",
   "/redir_uri: the error_page URI answered")
ok(wait_for(lambda: W1.stats()["served"] == 2), "one more task, one only")
line = log_line("/redir_uri")
ok(line is not None and re.search(r"^200 ticket=tk_[0-9a-f]{16} ", line)
   and ("worker=http://127.0.0.1:%d " % W1.port) in line,
   "the access log of the redirected request keeps $voicegw_ticket and "
   "$voicegw_worker (%r)" % (line and line.strip()))

ok(wait_for(lambda: idle(W1)), "the worker is idle again")
r = post("/redir_uri", "again")
ok(r.status == 200 and W1.stats()["served"] == 3,
   "a new request is a new task")
line2 = log_line("/redir_uri", 2)
ok(line2 is not None and line2.split()[1] != line.split()[1],
   "with a ticket of its own")
ok(never_two(W1), "the worker never ran two tasks at once")
W1.control(chat_http_status=200)

# -- 2. a wall clock that jumps ---------------------------------------------

if VALGRIND:
    diag("the clock steps run without valgrind only (LD_PRELOAD)")
else:
    ok(wait_for(lambda: idle(W2)), "clock: the worker is idle")
    out = {}

    def run(key, name, ms):
        out[key] = post("/clock", name, ms)

    a = threading.Thread(target=run, args=("a", "long", 1500))
    a.start()
    ok(wait_for(lambda: W2.stats()["running"] == 1), "task A runs")
    b = threading.Thread(target=run, args=("b", "queued", 1500))
    b.start()
    ok(wait_for(lambda: len(get(port, "/api/queue").json()["entries"]) == 1),
       "ticket B waits behind it")

    wall_offset("-1h")

    def nginx_behind():
        date = get(port, "/api/config/eta").header("Date")
        return abs(time.time() - 3600
                   - parsedate_to_datetime(date).timestamp()) < 5
    ok(wait_for(nginx_behind), "nginx's wall clock went back 1 h")
    q = get(port, "/api/queue").json()
    el = q["running"][0]["elapsed_s"] if q["running"] else None
    ok(el is not None and 0 <= el < 5,
       "elapsed_s of the running task stays true (%r)" % el)
    eta_b = q["entries"][0]["eta_seconds"] if q["entries"] else None
    ok(eta_b is not None and 0 <= eta_b <= 15,
       "the queued ticket's ETA stays sane (%r)" % eta_b)

    a.join(10)
    ok(wait_for(lambda: W2.stats()["running"] == 1
                and W2.stats()["served"] >= 2), "then task B runs")
    e = eta()
    ok(e["ema_chat_s"] is not None and 1.2 <= e["ema_chat_s"] <= 4,
       "the ETA sample of a task that ran across a step back is its true "
       "duration (ema_chat_s %r; alpha=1: the last sample)"
       % e["ema_chat_s"])
    b.join(10)
    ok(out.get("a") is not None and out["a"].status == 200
       and out.get("b") is not None and out["b"].status == 200,
       "both tasks were served")
    lb = log_line("/clock", 2)
    m = lb and re.search(r"wait=(-?\d+)", lb)
    wait_ms = int(m.group(1)) if m else None
    ok(wait_ms is not None and 1000 <= wait_ms <= 5000,
       "$voicegw_queue_wait_ms of the waiting ticket is true (%r)" % wait_ms)

    # and forward: +2 h at once
    ok(wait_for(lambda: idle(W2)), "clock: the worker is idle again")
    samples = eta()["ema_chat_samples"]
    c = threading.Thread(target=run, args=("c", "forward", 1000))
    c.start()
    ok(wait_for(lambda: W2.stats()["running"] == 1), "task C runs")
    wall_offset("+1h")
    c.join(10)
    e = eta()
    is_(e["ema_chat_samples"], samples + 1, "task C is one sample")
    ok(e["ema_chat_s"] is not None and 0.8 <= e["ema_chat_s"] <= 4,
       "the sample of a task that ran across a step forward is its true "
       "duration (ema_chat_s %r)" % e["ema_chat_s"])
    wall_offset("+0")

# -- 3. a request that timed out --------------------------------------------

ok(wait_for(lambda: idle(W3)), "slow: the worker is idle")
before = eta()
checks = W3.stats()["health_checks"]

# the next health check of this worker fails, and there is no periodic one
# for 600 s: only a release as failed checks it
W3.control(health_http_status=500)
r = post("/slow", "too slow", 3000, timeout=10)
is_(r.status, 504, "proxy_read_timeout: 504")
ok(wait_for(lambda: W3.stats()["health_checks"] > checks),
   "the worker's health was checked after the timeout")
ok(wait_for(lambda: (worker(W3) or {}).get("status") in ("offline", "error")),
   "the failed check keeps it from the next task (status %r)"
   % (worker(W3) or {}).get("status"))
after = eta()
ok(after["ema_chat_samples"] == before["ema_chat_samples"]
   and after["ema_chat_s"] == before["ema_chat_s"],
   "the timed-out task is no ETA sample (%r -> %r samples)"
   % (before["ema_chat_samples"], after["ema_chat_samples"]))

ok(never_two(W2) and never_two(W3), "no worker ever ran two tasks at once")
is_(ngx.alerts(), [], "no [alert], [emerg] or [crit] in the error log")

ngx.stop()
sys.exit(tap.done())
