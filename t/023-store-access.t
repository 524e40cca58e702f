#!/usr/bin/env python3
#
# t/023-store-access.t -- the store as the worker processes' user sees it
# (docs/directives.md, voicegw_store):
#
#   - a database the workers cannot use stops "nginx -t" and the start,
#     with the path and the reason; a reload that would break it is
#     refused and the old workers keep serving;
#   - the master (root) hands the database to the workers' user through
#     the file itself: a symbolic link is refused and its target left
#     alone, and nothing is changed when the owner is right already;
#   - the store's SQLite work runs on the "voicegw" thread pool when
#     nginx.conf declares one (else on "default").
#
# Runs as root only (the workers take another user's identity).

import os
import pwd
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (Nginx, free_port, get, is_, like, ok, request,  # noqa
                    tap, wait_for, workdir)

if os.geteuid() != 0:
    print("1..0 # SKIP needs root (workers running as another user)")
    sys.exit(0)

d = workdir("023-store-access")
port = free_port()
NOBODY = pwd.getpwnam("nobody").pw_uid

# the checkout may be in a folder "nobody" cannot enter: the databases of
# this test live in a folder of their own that everybody may traverse
base = tempfile.mkdtemp(prefix="vg023-")
os.chmod(base, 0o755)


def cleanup_base():
    shutil.rmtree(base, ignore_errors=True)


def conf(store, extra=""):
    return """
    voicegw_zone vg_store_access 4m;
    voicegw_store %s;
    %s
    server {
        listen 127.0.0.1:%d;
        location / { voicegw_api; }
    }
""" % (store, extra, port)


def folder(name, mode=0o755):
    p = os.path.join(base, name)
    os.makedirs(p)
    os.chmod(p, mode)
    return p


def threads(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def put_eta(value):
    return request("PUT", port, "/api/config/eta",
                   body={"eta_chat_s": value}).status


# -- a database the workers cannot reach --------------------------------------

closed = folder("closed", 0o700)
ngx = Nginx(os.path.join(d, "closed"),
            conf(os.path.join(closed, "data", "vg.db")), user="nobody nogroup")
rc, out = ngx.test_config()
ok(rc != 0, "nginx -t fails when the workers' user cannot reach the store")
like(out, r'\[emerg\] .*voicegw_store: the worker processes\' user "nobody" '
     r'cannot use "%s/data/vg\.db" .*: unable to open database file'
     % closed, "with the path, the user and SQLite's reason")

p = subprocess.run(ngx._cmd(), stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
ok(p.returncode != 0 and ngx.master_pid() is None
   and not wait_for(lambda: ngx.master_pid(), timeout=0.5),
   "nginx does not start either (exit status %d)" % p.returncode)
like(ngx.error_log() + p.stdout, r'cannot use "%s/data/vg\.db"' % closed,
     "and says why")
if ngx.master_pid():
    ngx.stop()

# -- a symbolic link ---------------------------------------------------------

linked = folder("linked")
target = os.path.join(linked, "target.db")
db = sqlite3.connect(target)
db.execute("create table mine (x)")
db.commit()
db.close()
before = open(target, "rb").read()
os.symlink(target, os.path.join(linked, "vg.db"))

ngx = Nginx(os.path.join(d, "linked"),
            conf(os.path.join(linked, "vg.db")), user="nobody nogroup")
rc, out = ngx.test_config()
ok(rc != 0, "nginx -t refuses a database that is a symbolic link")
like(out, r'voicegw_store: "%s/vg\.db" is a symbolic link, which is not '
     r'accepted' % linked, "and says so")
st = os.stat(target)
ok(st.st_uid == 0 and open(target, "rb").read() == before,
   "the link's target keeps its owner and its content")

# -- ownership: given once, then left alone ------------------------------------

owned = folder("owned")
path = os.path.join(owned, "data", "vg.db")
ngx = Nginx(os.path.join(d, "owned"), conf(path), user="nobody nogroup")
ngx.start(wait_ports=[port])
is_(put_eta(21), 200, "a store the workers can reach: writes work")
is_((os.stat(path).st_uid, os.stat(os.path.dirname(path)).st_uid),
    (NOBODY, NOBODY), "the database and its new folder belong to nobody")
ok(ngx.stop(), "stopped")

# the first "nginx -t" after a stop may write the database: SQLite
# checkpoints a WAL that the workers left (seen once, on a loaded machine);
# a chown is what must not happen, so the second one is watched
ngx.test_config()
ctime = os.stat(path).st_ctime_ns
time.sleep(0.05)   # a ctime set by a chown now would differ
rc, out = ngx.test_config()
is_(rc, 0, "nginx -t with the owner right already")
is_(os.stat(path).st_ctime_ns, ctime,
    "the database was not touched (its ctime is unchanged: no chown)")

os.chown(path, 0, 0)
rc, out = ngx.test_config()
ok(rc == 0 and os.stat(path).st_uid == NOBODY,
   "a database owned by someone else is given to the workers' user")

# -- a reload that would break the store ----------------------------------------

mark = len(ngx.error_log())
ngx.start(wait_ports=[port])
ok(wait_for(lambda: ngx.error_log()[mark:].count("ready, schema version")
            >= 2),
   "both workers opened the store again")
old = sorted(ngx.worker_pids())
data = os.path.dirname(path)


def refused(what):
    start = len(ngx.error_log())
    os.kill(ngx.master_pid(), 1)       # SIGHUP
    ok(wait_for(lambda: "[emerg]" in ngx.error_log()[start:]),
       "%s: the reload logs [emerg]" % what)
    new_log = ngx.error_log()[start:]
    like(new_log, r'cannot use "%s"' % path, "%s: with the path" % what)
    time.sleep(0.5)    # the time in which new workers would have started
    is_(sorted(ngx.worker_pids()), old,
        "%s: the reload was refused, the old workers run" % what)
    # the running workers' descriptors could still write, but a store that
    # has become read-only refuses writes, the same for every process
    # (issue 13: a clear 5xx that changes nothing; t/098 covers the rest)
    r = request("PUT", port, "/api/config/eta", body={"eta_chat_s": 22})
    is_((r.status, r.json().get("error")), (503, "store_read_only"),
        "%s: the running workers refuse writes: 503 store_read_only" % what)
    is_(request("GET", port, "/api/config/eta").status, 200,
        "%s: and still read" % what)


os.chmod(data, 0o555)
refused("folder read-only")
os.chmod(data, 0o755)
is_(put_eta(22), 200, "folder writable again: writes work, without a restart")

os.chmod(path, 0o444)
refused("file read-only")
os.chmod(path, 0o644)
is_(put_eta(22), 200, "file writable again: writes work, without a restart")

mark = len(ngx.error_log())
ok(ngx.reload(), "with the permissions back, the reload goes ahead")
is_(put_eta(23), 200, "and the new workers write to the store")

# a worker that starts while the file is read-only (respawned by the master
# after a crash) does not keep a read-only connection: once the file is
# fixed, its next write opens the store again
ok(wait_for(lambda: ngx.error_log()[mark:].count("ready, schema version")
            >= 2),
   "the new workers opened the store")
os.chmod(path, 0o444)
victim = ngx.worker_pids()[0]
start = len(ngx.error_log())
os.kill(victim, signal.SIGKILL)
ok(wait_for(lambda: victim not in ngx.worker_pids()
            and len(ngx.worker_pids()) == 2),
   "a worker killed with -9 is respawned")
ok(wait_for(lambda: "the file is read-only for this process"
            in ngx.error_log()[start:]),
   "the respawned worker finds the file read-only")
os.chmod(path, 0o644)
is_([put_eta(25 + i % 2) for i in range(20)], [200] * 20,
    "once the file is fixed, every write succeeds in both workers")
ok(ngx.stop(), "stopped")

# -- the thread pool -------------------------------------------------------------


def pool_threads(main_config, store_extra=""):
    name = "tp%d" % len(os.listdir(base))
    f = folder(name)
    n = Nginx(os.path.join(d, name),
              conf(os.path.join(f, "vg.db") + store_extra), workers=1,
              main_config=main_config)
    n.start(wait_ports=[port])
    ok(wait_for(lambda: "ready, schema version" in n.error_log()),
       "%s: the worker opened the store" % name)
    counts = [threads(p) for p in n.worker_pids()]
    status = put_eta(24)
    n.stop()
    return counts, status


counts, status = pool_threads("thread_pool voicegw threads=1;")
is_(counts, [2], "thread_pool voicegw threads=1: the worker runs 2 threads "
    "(its own and the store's)")
is_(status, 200, "and the store works on it")

counts, status = pool_threads("thread_pool vgdb threads=2;",
                              " thread_pool=vgdb")
is_(counts, [3], "voicegw_store ... thread_pool=vgdb: 1 + 2 threads")
is_(status, 200, "and the store works on it")

counts, status = pool_threads("")
is_(counts, [33], "no thread pool declared: nginx's \"default\" "
    "(32 threads) serves the store")
is_(status, 200, "and the store works on it")

cleanup_base()
sys.exit(tap.done())
