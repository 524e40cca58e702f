#!/usr/bin/env python3
#
# t/021-build-run.t -- "./build.sh run", the README's first command: it
# creates var/ on its first run (logs, database, certificate, secret key),
# serves /health on https://localhost:8006 and http://localhost:8080 with
# two worker processes, stops cleanly on SIGTERM and on Ctrl-C (SIGINT),
# and a second run reuses var/.  The default configuration serves the
# VoiceGateway API (/v1) only on 127.0.0.1:8080, the public port 8006 only
# the service API and the inference routes, and nginx's own errors in JSON;
# run as root, its workers run as the checkout's owner.

import os
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, children, get, is_, like, ok, port_open,  # noqa
                    raw_request, request, tap, wait_for)

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

# -- who serves what --------------------------------------------------------


def listening(port):
    """The local addresses a TCP port listens on, as /proc/net shows them
    (hex, e.g. 0100007F for 127.0.0.1, 00000000 for every address)."""
    found = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            addr, hexport = cols[1].split(":")
            if int(hexport, 16) == port and cols[3] == "0A":
                found.append(addr)
    return sorted(set(found))


is_(listening(8080), ["0100007F"], "8080 listens on 127.0.0.1 only")
is_(listening(8006), ["00000000"], "8006 listens on every address")


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


if os.geteuid() == 0:
    is_(set(uid_of(w) for w in children(p.pid)), {os.stat(ROOT).st_uid},
        "started by root, the workers run as the checkout's owner")

for path in ("/v1/providers", "/v1/costs", "/v1/metrics", "/v1/status"):
    r = get(8006, path, tls=True)
    ok(r.status == 404 and (r.json() or {}).get("error") == "not_found",
       "8006 does not serve %s (404 in JSON)" % path)
r = request("POST", 8006, "/v1/providers", tls=True,
            body={"id": "stolen", "type": "openai", "name": "x",
                  "base_url": "http://127.0.0.1:9/"})
is_(r.status, 404, "nor a write: POST /v1/providers on 8006 is 404")
r = get(8080, "/v1/providers")
ok(r.status == 200 and isinstance((r.json() or {}).get("providers"), list)
   and not any(x.get("id") == "stolen" for x in r.json()["providers"]),
   "8080 serves /v1/providers, and nothing was created through 8006")
ok(get(8080, "/v1/status").status == 200, "8080 serves /v1/status")

# the workers reach the store wherever the checkout is: a write succeeds
eta = get(8006, "/api/config/eta", tls=True)
is_(eta.status, 200, "GET /api/config/eta on 8006")
r = request("PUT", 8006, "/api/config/eta", tls=True,
            body={"eta_chat_s": (eta.json() or {}).get("eta_chat_s")})
is_(r.status, 200, "PUT /api/config/eta is written to the store")

# nginx's own errors, in JSON
BAD = [
    (b"TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "TRACE"),
    (b"GET /v1/%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "%00 in the URI"),
    (b"POST /v1/providers HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n"
     b"\r\n", 400, "a bad Content-Length"),
    (b"POST /v1/providers HTTP/1.1\r\nHost: x\r\n"
     b"Transfer-Encoding: gzip\r\n\r\n", 501, "an unknown Transfer-Encoding"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414,
     "a URI too long"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"b" * 9000
     + b"\r\n\r\n", 400, "a header too large"),
]
for port, tls in ((8080, False), (8006, True)):
    for data, status, what in BAD:
        r = raw_request(port, data, tls=tls)
        j = r.json() if r else None
        ok(r is not None and r.status == status
           and (r.header("Content-Type") or "").startswith("application/json")
           and isinstance(j, dict) and set(j) == {"detail", "error"},
           "%d: %s answers %d in JSON {detail, error}" % (port, what, status))

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
