#!/usr/bin/env python3
#
# t/020-lifecycle.t -- the gateway across nginx's process lifecycle, with a
# master process and two workers: state kept in the zone survives
# "nginx -s reload" and resets on a restart; settings written through the
# API reach every process at once and survive restarts; the store is in WAL
# mode at the current schema version, owned by the worker user; a reload
# with a broken store path is refused while the old configuration serves.

import os
import re
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, diag, free_port, get, is_, like, ok, request,  # noqa
                    tap, wait_for, workdir)

d = workdir("020-lifecycle")
port = free_port()

CONF = """
    voicegw_zone  vg_life %(size)s;
    voicegw_store data/vg.db;
    voicegw_eta   chat=%(chat)s;
    server {
        listen 127.0.0.1:%(port)d;
        location / { voicegw_api; }
    }
"""


def conf(chat=15, size="1m"):
    return CONF % {"port": port, "chat": chat, "size": size}


def health():
    r = get(port, "/health")
    return r.json() if r.status == 200 else None


def eta():
    return get(port, "/api/config/eta").json()


ngx = Nginx(d, conf(), workers=2).start(wait_ports=[port])

# -- start -------------------------------------------------------------------

h = health()
ok(h is not None and h["status"] == "ok" and h["version"] == "0.1.0",
   "health answers ok with the version")
ok(isinstance(h["uptime_seconds"], (int, float))
   and 0 <= h["uptime_seconds"] < 30, "uptime_seconds is a small number")

SCHEMA = 5     # NGX_VOICEGW_STORE_SCHEMA
ready = wait_for(lambda: ngx.error_log().count(
    "ready, schema version %d" % SCHEMA) >= 2)
ok(ready, "each worker process opened its own store connection")

db = os.path.join(d, "data", "vg.db")
ok(os.path.isfile(db), "the store's directory and database were created")

def worker_uid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


uids = set(worker_uid(p) for p in ngx.worker_pids())
is_(len(uids), 1, "the worker processes run as one user")
uid = uids.pop()
is_(os.stat(db).st_uid, uid,
    "the database belongs to the worker processes' user")
is_(os.stat(os.path.dirname(db)).st_uid, uid, "so does its directory")

# -- reload keeps the zone ---------------------------------------------------

# a reset uptime must show: let it grow past 1 s first
ok(wait_for(lambda: health()["uptime_seconds"] >= 1.0),
   "uptime grows (1 s)")
before = health()["uptime_seconds"]
old_workers = ngx.worker_pids()
ok(ngx.reload(conf(chat=30)), "nginx -s reload replaced the workers")
ok(not set(old_workers) & set(ngx.worker_pids()), "with new processes")
after = health()["uptime_seconds"]
ok(after >= before, "uptime survived the reload (%.1f -> %.1f)" %
   (before, after))
is_(eta()["eta_chat_s"], 30.0, "a changed voicegw_eta took effect on reload")

# -- API writes reach every process, and the store ----------------------------

r = request("PUT", port, "/api/config/eta",
            body={"eta_half_duplex_s": 200, "eta_ema_min_samples": 5})
is_(r.status, 200, "PUT /api/config/eta")
is_(r.json()["eta_half_duplex_s"], 200.0, "the answer shows the new value")

views = []
for i in range(40):
    views.append(eta())
ok(all(v["eta_half_duplex_s"] == 200.0 and v["eta_ema_min_samples"] == 5
       for v in views), "40 fresh connections all see the change at once")

r = request("PUT", port, "/api/config/eta",
            body={"eta_half_duplex_s": 300, "eta_ema_alpha": 2})
is_(r.status, 400, "an invalid field fails the whole PUT")
is_(eta()["eta_half_duplex_s"], 200.0, "and changes nothing")

# -- what a restart keeps ----------------------------------------------------

ok(ngx.stop(), "nginx stopped")

con = sqlite3.connect(db)
is_(con.execute("PRAGMA journal_mode").fetchone()[0], "wal", "WAL mode")
is_(con.execute("PRAGMA user_version").fetchone()[0], SCHEMA,
    "schema version %d" % SCHEMA)
rows = dict(con.execute("SELECT key, value FROM settings"))
is_(float(rows.get("eta.eta_half_duplex_s", 0)), 200.0,
    "the change was committed")
ok("eta.eta_chat_s" not in rows, "fields never PUT are not stored")
ok("requests_modality" not in [r[0] for r in con.execute(
    "SELECT name FROM sqlite_master WHERE type = 'index'")],
   "no requests_modality index (no query used it: schema 5)")
# the store as version 4 left it: the next start migrates it
con.execute("CREATE INDEX requests_modality ON requests (modality, ts)")
con.execute("PRAGMA user_version = 4")
con.commit()
con.close()

ngx.start(wait_ports=[port])
con = sqlite3.connect(db)
is_((con.execute("PRAGMA user_version").fetchone()[0],
     [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE "
                                "type = 'index' AND tbl_name = 'requests'")]),
    (SCHEMA, ["requests_ts"]),
    "a version 4 store is migrated at start: its requests_modality goes")
con.close()
h = health()
ok(h["uptime_seconds"] < after, "a restart resets uptime (%.1f < %.1f)" %
   (h["uptime_seconds"], after))
e = eta()
is_(e["eta_half_duplex_s"], 200.0, "the API's change survived the restart")
is_(e["eta_ema_min_samples"], 5, "all of it")
is_(e["eta_chat_s"], 30.0, "fields not set by the API follow nginx.conf")

# -- a reload that cannot use its store is refused -----------------------------

# the fresh zone at the end must show: let the uptime grow past 1 s first
ok(wait_for(lambda: health()["uptime_seconds"] >= 1.0),
   "uptime grows again (1 s)")
before = health()["uptime_seconds"]
bad = conf(chat=40).replace("data/vg.db", "conf/nginx.conf/vg.db")
master = ngx.master_pid()
ngx.write_conf(bad)
rc, out = ngx.test_config()
ok(rc != 0, "nginx -t fails for an unusable store path")
like(out, r"voicegw_store: .*conf/nginx\.conf.* in .*nginx\.conf:\d+",
     "naming the path, the file and the line")
workers = ngx.worker_pids()
mark = len(ngx.error_log())
os.kill(master, 1)
# once the error is logged the master has given up the reload (only what
# was logged after the signal counts: the workers' "voicegw_store: ...
# ready" lines of the last reload would do otherwise, and a slow master,
# under valgrind, would then read the next configuration being written)
ok(wait_for(lambda: re.search(r"\[emerg\] .*voicegw_store",
                              ngx.error_log()[mark:])),
   "the reload logged the store error")
is_(ngx.worker_pids(), workers, "the old workers still serve")
is_(eta()["eta_chat_s"], 30.0, "with the old configuration")
ok(health()["uptime_seconds"] >= before, "and the old state")

# -- a changed zone size starts fresh ----------------------------------------

ngx.write_conf(conf(chat=30))
t0 = time.time()
ok(ngx.reload(conf(chat=30, size="2m")), "reload with a bigger zone")
up = health()["uptime_seconds"]
# the old zone would be older than "before" plus the time since
ok(up <= time.time() - t0 + 0.2 and up < before + (time.time() - t0),
   "a resized zone starts fresh (uptime %.1f s, the reload began %.1f s "
   "ago, the old zone was %.1f s old)" % (up, time.time() - t0, before))
is_(eta()["eta_half_duplex_s"], 200.0,
    "while the store keeps the API's changes")

ok(ngx.stop(), "nginx stopped")
is_([l for l in ngx.alerts() if "is not a directory" not in l], [],
    "no other [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
