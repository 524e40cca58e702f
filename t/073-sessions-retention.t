#!/usr/bin/env python3
#
# t/073-sessions-retention.t -- issue 11, point 8: "voicegw_sessions ...
# retention= max_size=":
#   - retention=2s: sessions whose created_at (meta.json), or meta.json's
#     mtime when it has none, is older are deleted within seconds, the
#     newer stay until their turn; the store's index follows (rows
#     deleted) and GET /api/sessions/{id} answers 404;
#   - never deleted: a folder without meta.json, a name that is not a
#     session id, a symbolic link (nor what it points to);
#   - max_size=: past it, the oldest sessions go first and the newest
#     stay; the lease goes from the old workers to the new on reload;
#   - one process at a time deletes (the zone's lease).

import datetime
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, SLOW, diag, free_port, get, is_, ok,  # noqa
                    sessions_conf, tap, wait_for, workdir)

d = workdir("073-sessions-retention")
port = free_port()
S = os.path.join(d, "sessions")
db = os.path.join(d, "voicegw.db")
os.makedirs(S)


def iso(t):
    return datetime.datetime.fromtimestamp(
        t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def session(sid, created=None, size=0, meta=True, mtime=None):
    p = os.path.join(S, sid)
    os.makedirs(os.path.join(p, "user_audio"), exist_ok=True)
    if meta:
        m = {"session_id": sid} if created is None else \
            '{\n  "session_id": "%s",\n  "created_at": "%s"\n}' % (
                sid, iso(created))
        with open(os.path.join(p, "meta.json"), "w") as f:
            f.write(m if isinstance(m, str) else str(m).replace("'", '"'))
        if mtime:
            os.utime(os.path.join(p, "meta.json"), (mtime, mtime))
    if size:
        with open(os.path.join(p, "user_audio", "000.wav"), "wb") as f:
            f.write(b"\0" * size)


def exists(sid):
    return get(port, "/api/sessions/%s" % sid).status == 200


def rows():
    con = sqlite3.connect(db)
    try:
        return sorted(r[0] for r in
                      con.execute("SELECT session_id FROM sessions"))
    finally:
        con.close()


def index(*ids):
    con = sqlite3.connect(db, timeout=10)
    with con:
        for sid in ids:
            con.execute("INSERT INTO sessions (session_id, type, created_at)"
                        " VALUES (?, 'omni_duplex', ?)", (sid, iso(0)))
    con.close()


now = time.time()
session("old1", created=now - 86400 * 400)
session("old2", mtime=now - 3600)              # no created_at: the mtime
session("fresh", created=now + 3)
session("nometa", meta=False)
os.utime(os.path.join(S, "nometa"), (now - 86400, now - 86400))
session("not.an.id", created=now - 86400 * 400)
outside = os.path.join(d, "outside")
os.makedirs(outside)
with open(os.path.join(outside, "meta.json"), "w") as f:
    f.write('{"created_at": "2000-01-01T00:00:00Z"}')
os.symlink(outside, os.path.join(S, "linked"))


def conf(params):
    return sessions_conf("vg_sret", S + params, port,
                         "voicegw_store %s flush=100ms;" % db)


ngx = Nginx(os.path.join(d, "nginx"), conf(" retention=2s"), workers=2)
ngx.start(wait_ports=[port])
ok(wait_for(lambda: os.path.exists(db) and rows() == [], timeout=5 * SLOW),
   "the store is ready")
index("old1", "old2", "fresh")

ok(wait_for(lambda: not exists("old1") and not exists("old2"),
            timeout=6 * SLOW),
   "retention=2s: sessions created long ago (created_at; meta.json's mtime "
   "without one) are deleted within seconds: 404")
ok(exists("fresh"), "a session newer than 2 s stays")
ok(not os.path.exists(os.path.join(S, "old1"))
   and not any(n.startswith(".deleting") for n in os.listdir(S)),
   "their folders are gone, nothing half-deleted left")
ok(wait_for(lambda: rows() == ["fresh"], timeout=5 * SLOW),
   "the index follows: their rows are deleted, the fresh one's stays "
   "(%r)" % rows())

ok(wait_for(lambda: not exists("fresh"), timeout=10 * SLOW),
   "the fresh session goes once it is 2 s old")
ok(wait_for(lambda: rows() == [], timeout=5 * SLOW), "... and its row")

ok(os.path.isdir(os.path.join(S, "nometa")),
   "a folder without meta.json is never deleted")
ok(os.path.isdir(os.path.join(S, "not.an.id")),
   "a name that is not a session id is left alone")
ok(os.path.islink(os.path.join(S, "linked"))
   and os.path.exists(os.path.join(outside, "meta.json")),
   "a symbolic link is not followed: it and its target stay")

log = ngx.error_log()
pids = set(l.split("#")[0].split()[-1] for l in log.splitlines()
           if "retention deleted" in l)
ok(len(pids) >= 1, "the passes are logged (%d lines)"
   % sum("retention deleted" in l for l in log.splitlines()))
is_(len(pids), 1, "one process deletes: the lease's holder")

# -- max_size: the oldest first ------------------------------------------------

MB = 1024 * 1024
ok(ngx.reload(conf(" retention=1000d")), "reload: long retention first")
now = time.time()
for i in range(4):
    session("m%d" % i, created=now - 400 + 100 * i, size=MB)
index("m0", "m1", "m2", "m3")

ok(ngx.reload(conf(" max_size=2500k")), "reload with max_size=2500k "
   "(4 sessions of 1 MiB)")
ok(wait_for(lambda: not exists("m0") and not exists("m1"),
            timeout=8 * SLOW),
   "past max_size, the two oldest are deleted")
ok(exists("m2") and exists("m3"), "the two newest stay")
ok(wait_for(lambda: rows() == ["m2", "m3"], timeout=5 * SLOW),
   "the index follows (%r)" % rows())
time.sleep(1.5)
ok(exists("m2") and exists("m3"), "under max_size, nothing more goes")

is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")
ngx.stop()
sys.exit(tap.done())
