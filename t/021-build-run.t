#!/usr/bin/env python3
#
# t/021-build-run.t -- "./build.sh run", the README's first command: it
# creates var/ on its first run (logs, database, certificate, secret key),
# serves /health on https://localhost:8006 and http://localhost:8080 with
# two worker processes, stops cleanly on SIGTERM and on Ctrl-C (SIGINT),
# and a second run reuses var/.

import os
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, children, get, is_, like, ok, port_open,  # noqa
                    tap, wait_for)

VAR = os.path.join(ROOT, "var")

if port_open(8080) or port_open(8006):
    print("1..0 # SKIP ports 8006/8080 are in use (is ./build.sh run running?)")
    sys.exit(0)


def start():
    p = subprocess.Popen([os.path.join(ROOT, "build.sh"), "run"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         start_new_session=True)
    # an open port alone is not enough: nginx -t, or a master that is about
    # to fail, listens too; wait until both ports answer /health
    up = wait_for(lambda: p.poll() is None and answers(8080, False)
                  and answers(8006, True), timeout=120)
    return p, up


def answers(port, tls):
    try:
        return get(port, "/health", tls=tls, timeout=2).status == 200
    except Exception:   # refused, reset, a TLS or HTTP error: not yet
        return False


def read(path):
    with open(path, "rb") as f:
        return f.read()


def check_health(label):
    for port, tls in ((8006, True), (8080, False)):
        r = get(port, "/health", tls=tls)
        j = r.json() or {}
        ok(r.status == 200 and j.get("status") == "ok"
           and j.get("version") == "0.1.0"
           and isinstance(j.get("uptime_seconds"), (int, float)),
           "%s: %s://localhost:%d/health answers the seed's shape"
           % (label, "https" if tls else "http", port))


# -- first run -------------------------------------------------------------

ERROR_LOG = os.path.join(VAR, "logs", "error.log")
log_start = os.path.getsize(ERROR_LOG) if os.path.exists(ERROR_LOG) else 0

p, up = start()
ok(up, "first run: both ports answer")
check_health("first run")

ok(os.path.isdir(os.path.join(VAR, "logs")), "var/logs exists")
ok(os.path.getsize(os.path.join(VAR, "logs", "error.log")) > 0,
   "nginx logs into var/logs/error.log")
ok(os.path.isfile(os.path.join(VAR, "data", "voicegw.db")),
   "the SQLite database is in var/data")
secret = os.path.join(VAR, "secret.key")
is_(os.path.getsize(secret), 32, "var/secret.key holds 32 bytes")
is_(stat.S_IMODE(os.stat(secret).st_mode), 0o600, "with mode 0600")
cert = os.path.join(VAR, "tls", "cert.pem")
like(read(cert).decode(), "BEGIN CERTIFICATE", "a certificate in var/tls")
is_(len(children(p.pid)), 2, "worker_processes 2")

secret_bytes, cert_bytes = read(secret), read(cert)

p.send_signal(signal.SIGTERM)
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    rc = None
is_(rc, 0, "SIGTERM stops it cleanly (exit status 0)")
ok(wait_for(lambda: not port_open(8080) and not port_open(8006)),
   "and the ports are closed")

# -- second run reuses var/ -----------------------------------------------

p, up = start()
ok(up, "second run: both ports answer")
check_health("second run")
ok(read(secret) == secret_bytes, "the secret key was reused")
ok(read(cert) == cert_bytes, "the certificate was reused")

p.send_signal(signal.SIGINT)
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    rc = None
is_(rc, 0, "Ctrl-C (SIGINT) stops it cleanly")
ok(wait_for(lambda: not port_open(8080)), "and the ports are closed")

log = read(ERROR_LOG)[log_start:].decode(errors="replace")
ok("[alert]" not in log and "[emerg]" not in log,
   "no [alert] or [emerg] in var/logs/error.log")

if p.poll() is None:
    os.killpg(p.pid, signal.SIGKILL)

sys.exit(tap.done())
