#!/usr/bin/env python3
#
# t/098-storage-faults.t -- the store's faults (issue 13, point 3), with a
# master and two worker processes, under steady traffic:
#
#   - the database's folder, then the file itself, become read-only (for
#     the workers' user, "nobody");
#   - the disk fills up (a small tmpfs; skipped where mounting is not
#     allowed);
#   - the WAL file is deleted while requests write;
#   - the database is corrupted between two starts.
#
# During a fault API writes answer a clear 5xx JSON error and change
# nothing, reads answer, the worker pool and the provider proxy serve,
# request records wait in the buffer or are counted as dropped (no request
# waits for them), and the error log says so once, not once per request.
# Once the fault is removed, everything works again without a restart and
# the buffered records are committed.  "nginx -t" refuses a corrupt
# database with the reason.  See docs/storage-faults.md.

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
import vgtest  # noqa: E402
from vgtest import (FakeProvider, FakeWorker, Nginx, diag, free_port,  # noqa
                    get, is_, like, ok, request, wait_for, workdir)

d = workdir("098-storage-faults")
KEY = "sk-FAULT-5c1e0b7d9a2f4e68"
fake = FakeProvider(d, KEY)
W = FakeWorker(d, args=["--chat-ms", "5"]).start()
port = free_port()

# a folder the workers' user can reach (the checkout may sit in /root)
tmp = tempfile.mkdtemp(prefix="vg098-", dir="/tmp")
os.chmod(tmp, 0o755)
vgtest.at_cleanup(lambda: shutil.rmtree(tmp, ignore_errors=True))

NOBODY = 65534


def conf(db):
    return """
    voicegw_zone vg_faults 8m;
    voicegw_provider_destinations public loopback;
    voicegw_store %(db)s flush=100ms buffer=64k;
    voicegw_provider oai type=openai key=%(key)s base_url=%(url)s;
    voicegw_model oai/gpt-4o-mini modality=llm
                  price_per_1k_input_tokens=1 price_per_1k_output_tokens=2;
    voicegw_project acme;

    upstream gpu {
        voicegw_pool queue=5 queue_timeout=2s health_interval=1s;
        server 127.0.0.1:%(w)d;
    }

    server {
        listen 127.0.0.1:%(port)d;
        proxy_http_version 1.1;
        location = /chat {
            voicegw_task chat pool=gpu;
            proxy_pass http://gpu/chat;
        }
        location /v1/proxy/ { voicegw_proxy; }
        location / { voicegw_api; }
    }
""" % {"db": db, "key": KEY, "url": fake.url, "w": W.port, "port": port}


def started(name, db, user=None):
    """nginx with the store at db, once both worker processes opened it."""
    n = Nginx(os.path.join(d, name), conf(db), user=user)
    n.start(wait_ports=[port])
    ok(wait_for(lambda: n.error_log().count("ready, schema version") >= 2),
       "%s: both worker processes opened the store" % name)
    return n


def new_project(name):
    r = request("POST", port, "/v1/projects",
                body={"project_id": name, "name": name.upper()})
    return r


def project_ids():
    r = get(port, "/v1/projects")
    if r.status != 200:
        return None
    return sorted(p["id"] for p in r.json()["projects"])


def chat():
    return request("POST", port, "/chat",
                   body={"messages": [{"role": "user", "content": "hi"}]},
                   timeout=10).status


def proxied():
    return request("POST", port, "/v1/proxy/oai/v1/chat/completions",
                   body={"model": "gpt-4o-mini",
                         "messages": [{"role": "user", "content": "hi"}]},
                   headers={"X-VoiceGW-Project": "acme"}).status


def records():
    """voicegw_records_total by outcome, from /v1/metrics."""
    out = {}
    for line in get(port, "/v1/metrics").text.splitlines():
        if line.startswith("voicegw_records_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            out[outcome] = int(float(line.split()[-1]))
    return out


def condition_lines(ngx, mark, words):
    return [l for l in ngx.error_log()[mark:].splitlines()
            if "[error]" in l and "voicegw_store:" in l and words in l]


def during_fault(ngx, what, fault_status, fault_code, words, burst):
    """The checks every fault shares; returns (log mark, names refused)."""
    before = project_ids()
    mark = len(ngx.error_log())
    refused = []
    statuses = set()
    for i in range(12):
        name = "%s-%d" % (what.replace(" ", "-"), i)
        r = new_project(name)
        statuses.add((r.status, r.json().get("error")))
        refused.append(name)
    is_(sorted(statuses), [(fault_status, fault_code)],
        "%s: 12 API writes all answer %d %s" % (what, fault_status,
                                                fault_code))
    r = new_project(what.replace(" ", "-") + "-x")
    like(r.json().get("detail", ""), r"; nothing was changed$",
         "%s: the error says that nothing was changed" % what)
    is_(project_ids(), before, "%s: reads answer, and nothing changed" % what)
    is_([chat() for _ in range(5)], [200] * 5,
        "%s: the worker pool serves" % what)
    is_([proxied() for _ in range(burst)], [200] * burst,
        "%s: the provider proxy serves (%d calls)" % (what, burst))
    ok(wait_for(lambda: len(condition_lines(ngx, mark, words)) >= 1),
       "%s: the error log says what happened" % what)
    time.sleep(1.5)        # the flusher fails at every tick meanwhile
    lines = condition_lines(ngx, mark, words)
    is_(len(lines), 1,
        "%s: once, though 13 writes and every flush failed" % what)
    diag(lines[0] if lines else "(no line)")
    ok("[alert]" not in ngx.error_log()[mark:], "%s: no [alert]" % what)
    return mark


def recovered(ngx, mark, what):
    name = what.replace(" ", "-") + "-fixed"
    is_(new_project(name).status, 200,
        "%s removed: writes work again, without a restart" % what)
    ok(name in (project_ids() or []), "%s removed: and are read back" % what)

    def drained():
        r = records()
        return r.get("committed", 0) == r.get("accepted", 0)
    ok(wait_for(drained, timeout=10),
       "%s removed: every accepted record is committed (%s)"
       % (what, records()))

    # the end of the condition is said once writes have worked for a second
    def said():
        new_project(name + "-%d" % int(time.time() * 1000))
        return "works again" in ngx.error_log()[mark:]
    ok(wait_for(said, timeout=10, interval=0.3),
       "%s removed: the error log says the store works again" % what)


# -- a read-only folder, then a read-only file (workers as nobody) -------------

data = os.path.join(tmp, "ro")
os.makedirs(data)
os.chown(data, NOBODY, NOBODY)
db = os.path.join(data, "vg.db")
ngx = started("ro", db, user="nobody nogroup")
is_(new_project("first").status, 200, "a healthy store takes writes")

for what, path, mode, named in (
        ("folder read-only", data, 0o755, 'its folder "%s"' % data),
        ("file read-only", db, 0o644, 'the file "%s"' % db)):
    os.chmod(path, mode & 0o555)
    m = during_fault(ngx, what, 503, "store_read_only", "cannot be written",
                     20)
    like(condition_lines(ngx, m, "cannot be written")[0],
         r"%s is not writable: Permission denied" % named,
         "%s: the line names it and the reason" % what)
    os.chmod(path, mode)
    recovered(ngx, m, what)

# records dropped, never waited for: a read-only store and a full buffer
os.chmod(db, 0o444)
before = records()
t0 = time.time()
n = 900
is_([proxied() for _ in range(n)].count(200), n,
    "a read-only store: %d proxied calls all answered" % n)
took = time.time() - t0
after = records()
dropped = after.get("dropped", 0) - before.get("dropped", 0)
ok(dropped > 0,
   "the 64k buffer filled: %d records counted as dropped" % dropped)
is_(after.get("accepted", 0) - before.get("accepted", 0) + dropped, n,
    "every call is a record accepted or counted as dropped")
diag("%d calls in %.2f s with the store read-only and the buffer full"
     % (n, took))
os.chmod(db, 0o644)
ok(wait_for(lambda: records().get("committed") == records().get("accepted"),
            timeout=10),
   "file writable again: the accepted records are committed")
ok(ngx.stop(), "stopped")

# -- the disk fills up ----------------------------------------------------------

mnt = os.path.join(tmp, "small")
os.makedirs(mnt)
mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0755",
                          "vg098", mnt], stderr=subprocess.PIPE).returncode == 0
if not mounted:
    diag("SKIP the disk-full case: cannot mount a tmpfs here")
else:
    vgtest.at_cleanup(lambda: subprocess.run(["umount", "-l", mnt]))
    os.chown(mnt, NOBODY, NOBODY)
    db = os.path.join(mnt, "vg.db")
    ngx = started("full", db, user="nobody nogroup")
    is_(new_project("before-full").status, 200, "full: writes work before")
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    m = during_fault(ngx, "disk full", 507, "store_full", "is full", 20)
    os.unlink(filler)
    recovered(ngx, m, "disk full")
    ok(ngx.stop(), "full: stopped")

# -- the WAL file is deleted while requests write ------------------------------

db = os.path.join(d, "wal", "data", "vg.db")
ngx = started("wal", db)

answered = {}
created = []
lock = threading.Lock()


def writer(base):
    for i in range(80):
        name = "w%d-%d" % (base, i)
        r = new_project(name)
        with lock:
            key = (r.status, r.json().get("error"))
            answered[key] = answered.get(key, 0) + 1
            if r.status == 200:
                created.append(name)
        if base == 0 and i == 25:
            os.unlink(db + "-wal")


mark = len(ngx.error_log())
threads = [threading.Thread(target=writer, args=(b,)) for b in range(3)]
for t in threads:
    t.start()
chats = [chat() for _ in range(10)]
for t in threads:
    t.join()
diag("writes while the WAL was deleted: %s" % answered)
ok(set(answered) <= {(200, None), (503, "store_unavailable")},
   "wal: every write answered 200, or 503 store_unavailable while it was "
   "being recovered")
ok(answered.get((200, None), 0) >= 200,
   "wal: nearly all of the 240 writes succeeded (%d)"
   % answered.get((200, None), 0))
is_(chats, [200] * 10, "wal: the worker pool served meanwhile")
lost = [l for l in ngx.error_log()[mark:].splitlines()
        if "lost its WAL file" in l]
is_(len(lost), 1, "wal: the error log says it once")
like(lost[0] if lost else "", r"committed frames were copied into the "
     r"database, and a new WAL file started", "wal: and what was done")
ok(os.path.exists(db + "-wal"), "wal: a new WAL file is there")
is_(new_project("after-wal").status, 200, "wal: writes work afterwards")
ok(ngx.stop(), "wal: stopped")
ok(ngx.start(wait_ports=[port]), "wal: started again")
ids = project_ids() or []
missing = [n for n in created + ["after-wal"] if n not in ids]
is_(missing, [], "wal: every project whose write answered 200 (%d) is in "
    "the store after a restart" % (len(created) + 1))
ok(ngx.stop(), "wal: stopped again")
c = sqlite3.connect(db)
is_(c.execute("PRAGMA integrity_check").fetchall(), [("ok",)],
    "wal: the database passes integrity_check")
c.close()

# -- corrupted between two starts ------------------------------------------------

good = db + ".good"
shutil.copyfile(db, good)
size = os.path.getsize(db)
with open(db, "r+b") as f:
    # page 1 (the header and the schema) is left alone: the damage is
    # where only a check of every page finds it
    f.seek(4096 * 2)
    f.write(os.urandom(min(4096 * 4, size - 4096 * 2)))
rc, out = ngx.test_config()
ok(rc != 0, "corrupt: nginx -t fails")
like(out, r'\[emerg\] .*voicegw_store: cannot use "%s": the database is '
     r'corrupt \(quick_check: .+\); restore it from a backup'
     % db.replace(".", r"\."), "corrupt: with the path and SQLite's finding")
try:
    ngx.start(wait_ports=[port])
    started = True
except Exception:
    started = False
ok(not started, "corrupt: nginx does not start on it")
shutil.copyfile(good, db)
rc, out = ngx.test_config()
is_(rc, 0, "corrupt: the backup put back, nginx -t passes")

vgtest.tap.done()
