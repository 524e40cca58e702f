#!/usr/bin/env python3
#
# t/022-private-clone.t -- both README commands work from a folder the
# nginx worker user cannot enter, as a user would try them: the
# repository cloned into a "mktemp -d" folder (mode 0700, like /root),
# then "./build.sh test" (two test files) and "./build.sh run" with a
# write to the store.  Started by root, nginx must not run its workers
# as "nobody" there: the store would fail to open (docs/design.md, "Who
# the workers run as").
#
# The clone holds what is committed: run it after committing.

import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, get, is_, ok, port_open, request, tap,  # noqa
                    wait_for)

if port_open(8080) or port_open(8006):
    print("1..0 # SKIP ports 8006/8080 are in use (is ./build.sh run running?)")
    sys.exit(0)

if not os.path.isdir(os.path.join(ROOT, ".git")):
    print("1..0 # SKIP not a git checkout")
    sys.exit(0)

top = tempfile.mkdtemp(prefix="vg022-")
os.chmod(top, 0o700)
clone = os.path.join(top, "p")

# a clean environment: nothing of the outer test run leaks in
ENV = {k: v for k, v in os.environ.items()
       if k in ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "USER")}

p = subprocess.run(["git", "clone", "-q", ROOT, clone], env=ENV,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                   text=True)
is_(p.returncode, 0, "git clone into a private folder (%s)" % top)

# -- ./build.sh test ----------------------------------------------------------

p = subprocess.run([os.path.join(clone, "build.sh"), "test",
                    "t/001-health.t", "t/020-lifecycle.t"], cwd=clone,
                   env=ENV, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
summary = [l for l in p.stdout.splitlines() if l.startswith("SUMMARY:")]
ok(p.returncode == 0 and summary and summary[0].startswith("SUMMARY: PASS"),
   "./build.sh test t/001-health.t t/020-lifecycle.t passes in the clone "
   "(%s)" % (summary[0] if summary else "no summary"))
if p.returncode != 0:
    for line in p.stdout.splitlines()[-30:]:
        print("# " + line)

# -- ./build.sh run -----------------------------------------------------------

run = subprocess.Popen([os.path.join(clone, "build.sh"), "run"], cwd=clone,
                       env=ENV, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, start_new_session=True)


def answers():
    try:
        return get(8080, "/health", timeout=2).status == 200
    except Exception:       # noqa: BLE001  (not up yet)
        return False


up = wait_for(lambda: run.poll() is None and answers(), timeout=180)
ok(up, "./build.sh run serves /health from the clone")

if up:
    r = request("PUT", 8006, "/api/config/eta", tls=True,
                body={"eta_chat_s": 17})
    is_(r.status, 200, "a store write (PUT /api/config/eta) succeeds")
    r = get(8006, "/api/config/eta", tls=True)
    is_((r.json() or {}).get("eta_chat_s"), 17.0, "and reads back")
    is_(get(8080, "/v1/status").status, 200, "/v1/status answers on 8080")

    log = os.path.join(clone, "var", "logs", "error.log")
    with open(log, errors="replace") as f:
        text = f.read()
    ok("cannot open" not in text and "[emerg]" not in text
       and "[alert]" not in text,
       "the error log has no store failure, [emerg] or [alert]")

if run.poll() is None:
    run.send_signal(signal.SIGTERM)
    try:
        rc = run.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        rc = None
    is_(rc, 0, "SIGTERM stops it")

ok(wait_for(lambda: not port_open(8080) and not port_open(8006)),
   "the ports are closed again")

shutil.rmtree(top, ignore_errors=True)
sys.exit(tap.done())
