#!/usr/bin/env python3
#
# t/070-sessions-records.t -- issue 11, points 1 and 2: "voicegw_sessions
# PATH ...;" and the records a task with a session id leaves:
#   - "nginx -t" refuses a missing folder, a file, an unknown parameter,
#     and (run as root) a folder the workers' user cannot write to, with
#     the path and the reason;
#   - a task with a session id creates PATH/{id}/meta.json (session_id,
#     type, created_at ISO-8601 UTC, ended_at null, config) and a row in
#     the store's sessions index while it runs; when its worker is
#     released, ended_at is set in both;
#   - a meta.json a worker wrote first is left as it is;
#   - a bad session id is refused (400 JSON) and leaves no folder.

import json
import os
import re
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeWorker, Nginx, free_port, is_, like, ok,  # noqa
                    request, tap, wait_for, workdir)

d = workdir("070-sessions-records")
port = free_port()
sessions = os.path.join(d, "sessions")
os.makedirs(sessions)
db = os.path.join(d, "voicegw.db")

w = FakeWorker(d).start()

CONF = """
    voicegw_zone      vg_sess 4m;
    voicegw_store     %(db)s;
    voicegw_sessions  %(sessions)s max_upload=200m;

    upstream pool {
        voicegw_pool queue=10 queue_timeout=60s health_interval=3s
                     health_timeout=1s;
        server 127.0.0.1:%(w)d;
    }

    server {
        listen 127.0.0.1:%(port)d;

        location ~ "^/t/(?<sid>.*)$" {
            voicegw_task  omni_duplex session=$sid;
            rewrite       ^ /chat break;
            proxy_pass    http://pool;
        }

        location / {
            voicegw_api service;
        }
    }
"""

conf = dict(db=db, sessions=sessions, w=w.port, port=port)


def nginx_t(prefix, http):
    n = Nginx(os.path.join(d, prefix), http)
    return n.test_config()


# -- nginx -t ---------------------------------------------------------------

BASE = "voicegw_zone vg_t 1m; voicegw_sessions %s;"

rc, out = nginx_t("t-missing", BASE % os.path.join(d, "nowhere"))
ok(rc != 0, "a missing folder fails nginx -t")
like(out, r'voicegw_sessions: cannot use "\S+/nowhere" \(2: No such file',
     "... naming the path and the reason")

a_file = os.path.join(d, "a-file")
open(a_file, "w").close()
rc, out = nginx_t("t-file", BASE % a_file)
ok(rc != 0 and re.search(r'"\S+/a-file" is not a directory', out),
   "a file is not a folder")

rc, out = nginx_t("t-param", BASE % (sessions + " keep=1"))
ok(rc != 0 and 'invalid parameter "keep=1"' in out,
   "an unknown parameter is refused")

rc, out = nginx_t("t-size", BASE % (sessions + " max_upload=lots"))
ok(rc != 0 and 'invalid parameter "max_upload=lots"' in out,
   "a size that is no size is refused")

if os.geteuid() == 0:
    locked = os.path.join(d, "locked")
    os.makedirs(locked)
    os.chmod(locked, 0o755)
    n = Nginx(os.path.join(d, "t-locked"), BASE % locked, user="nobody nogroup")
    rc, out = n.test_config()
    ok(rc != 0, "a folder the workers' user cannot write fails nginx -t")
    like(out, r'the worker processes\' user "nobody" cannot write to '
         r'"\S+/locked"', "... naming the user and the path")
    os.chmod(locked, 0o777)
    rc, out = n.test_config()
    is_(rc, 0, "once it may write there, nginx -t passes")
else:
    ok(True, "# skip: not root, the workers' user is ours")
    ok(True, "# skip")
    ok(True, "# skip")

rc, out = nginx_t("t-ok", BASE % sessions)
is_(rc, 0, "an existing writable folder passes nginx -t")

# -- records ----------------------------------------------------------------

ngx = Nginx(os.path.join(d, "nginx"), CONF % conf)
ngx.start(wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "the store is ready in both processes")
ok(wait_for(lambda: request("GET", port, "/workers").json()["workers"][0]
            ["status"] == "idle", timeout=10), "the worker is idle")

w.control(chat_ms=1500)

answers = {}


def task(sid):
    answers[sid] = request("POST", port, "/t/" + sid,
                           body={"messages": [{"role": "user",
                                               "content": "hi"}]})


th = threading.Thread(target=task, args=("omni_abc123",))
th.start()

meta_path = os.path.join(sessions, "omni_abc123", "meta.json")
ok(wait_for(lambda: os.path.exists(meta_path), timeout=5),
   "meta.json appears while the task runs")
with open(meta_path) as f:
    meta = json.load(f)
is_(meta["session_id"], "omni_abc123", "meta: session_id")
is_(meta["type"], "omni_duplex", "meta: type")
ok(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", meta["created_at"]),
   "meta: created_at in ISO-8601 UTC (%s)" % meta["created_at"])
ok(abs(time.mktime(time.strptime(meta["created_at"], "%Y-%m-%dT%H:%M:%SZ"))
       - time.mktime(time.gmtime())) < 5, "meta: created_at is now")
is_(meta["ended_at"], None, "meta: ended_at null while it runs")
is_(meta["config"], {}, "meta: config")
ok(os.path.isdir(os.path.join(sessions, "omni_abc123")),
   "the session's folder exists")


def row(sid):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT session_id, type, created_at, ended_at "
                           "FROM sessions WHERE session_id = ?",
                           (sid,)).fetchone()
    finally:
        con.close()


ok(wait_for(lambda: row("omni_abc123") is not None, timeout=5),
   "the index has the session")
r = row("omni_abc123")
is_(list(r[:3]), ["omni_abc123", "omni_duplex", meta["created_at"]],
    "index: id, type, created_at")
is_(r[3], None, "index: ended_at null while it runs")

th.join(20)
is_(answers["omni_abc123"].status, 200, "the task is answered")


def ended():
    with open(meta_path) as f:
        return json.load(f).get("ended_at")


ok(wait_for(lambda: ended() is not None, timeout=5),
   "meta: ended_at once the worker is released")
with open(meta_path) as f:
    meta2 = json.load(f)
ok(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", meta2["ended_at"])
   and meta2["ended_at"] >= meta2["created_at"],
   "meta: ended_at in ISO-8601 UTC, not before created_at")
ok(isinstance(meta2["duration_s"], (int, float))
   and 0 <= meta2["duration_s"] <= 5, "meta: duration_s")
is_(meta2["session_id"], "omni_abc123", "meta: the rest unchanged")
ok(wait_for(lambda: row("omni_abc123")[3] is not None, timeout=5),
   "index: ended_at set")
is_(row("omni_abc123")[3], meta2["ended_at"], "index and meta agree")
ok(not [f for f in os.listdir(os.path.join(sessions, "omni_abc123"))
        if f != "meta.json"], "no temporary file is left")

# a worker's own meta.json stays

w.control(chat_ms=100)
os.makedirs(os.path.join(sessions, "omni_worker1"))
mine = '{\n  "session_id": "omni_worker1",\n  "ended_at": null\n}\n'
with open(os.path.join(sessions, "omni_worker1", "meta.json"), "w") as f:
    f.write(mine)
task("omni_worker1")
is_(answers["omni_worker1"].status, 200, "a second session's task")
ok(wait_for(lambda: row("omni_worker1") is not None
            and row("omni_worker1")[3] is not None, timeout=5),
   "it is indexed and ended")
with open(os.path.join(sessions, "omni_worker1", "meta.json")) as f:
    is_(f.read(), mine, "a worker's meta.json is left as it is")

# bad ids

r = request("POST", port, "/t/a.b", body={"messages": []})
is_(r.status, 400, "a session id with a dot: 400")
ok(r.json() and r.json().get("error") == "invalid_session", "... in JSON")
r = request("POST", port, "/t/" + "x" * 129, body={"messages": []})
is_(r.status, 400, "129 characters: 400")
is_(sorted(os.listdir(sessions)), ["omni_abc123", "omni_worker1"],
    "no folder for refused ids")

ngx.stop()
is_(ngx.alerts(), [], "no alerts")

sys.exit(tap.done())
