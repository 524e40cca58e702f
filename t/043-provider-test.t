#!/usr/bin/env python3
#
# t/043-provider-test.t -- POST /v1/providers/{id}/test (issue 4 item 7):
# a real request from nginx to the provider type's health path at its
# base_url, with its key, against our fake provider (t/support/
# fake_provider.py):
#   - ok: 200 from the fake, which checks the key; the path, the key
#     header and the type's extra header are what the fake saw, for
#     config providers and for db providers (key decrypted);
#   - 401 with a wrong key; refused (nothing listening); slow past
#     voicegw_provider_test_timeout; https with a self-signed certificate
#     (refused, then trusted through voicegw_provider_trusted_certificate);
#     a host name with no resolver; an unknown provider (404);
#   - the event loop is not held while a test waits, a graceful reload
#     lets a pending test answer, and the key appears in no answer or log.

import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, SLOW, FakeProvider, Nginx,  # noqa
                    at_cleanup, free_port, is_,
                    like, ok, pid_alive, request, tap, wait_for, workdir,
                    secret_key)

d = workdir("043-provider-test")
port = free_port()

KEY_OK = "sk-PROBE-7f3a9c2e5b1d4f60"       # what the fakes accept
KEY_DB = "dg-PROBE-0a1b2c3d4e5f6789"


# a self-signed certificate for 127.0.0.1, for the https fake
cert = os.path.join(d, "cert.pem")
certkey = os.path.join(d, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                "-keyout", certkey, "-out", cert, "-days", "2",
                "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1"],
               check=True, stdout=subprocess.DEVNULL,
               stderr=subprocess.DEVNULL)

good = FakeProvider(d, KEY_OK)
slow = FakeProvider(d, KEY_OK, "--delay", str(3 * SLOW))
tls = FakeProvider(d, KEY_OK, "--tls", cert, certkey)
closed = free_port()

secret = secret_key(d)

TIMEOUT_MS = int(1000 * SLOW)


def http_config(trusted=False):
    return """
    voicegw_zone vg 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db;
    voicegw_secret %(secret)s;
    voicegw_provider_test_timeout %(timeout)dms;
    %(trusted)s

    voicegw_provider openai type=openai key=%(key)s
                     base_url=http://127.0.0.1:%(good)d/;
    voicegw_provider claude type=anthropic key=%(key)s
                     base_url=http://127.0.0.1:%(good)d/proxy;
    voicegw_provider wrong type=openai key=sk-WRONG-000000000000
                     base_url=http://127.0.0.1:%(good)d;
    voicegw_provider down type=openai key=%(key)s
                     base_url=http://127.0.0.1:%(closed)d;
    voicegw_provider late type=groq key=%(key)s
                     base_url=http://127.0.0.1:%(slow)d;
    voicegw_provider secure type=elevenlabs key=%(key)s
                     base_url=https://127.0.0.1:%(tls)d;
    voicegw_provider named type=openai key=%(key)s
                     base_url=http://provider.invalid:8080;
    voicegw_provider local type=ollama base_url=http://127.0.0.1:%(good)d;

    server {
        listen %(port)d;
        location / { voicegw_api; }
    }
""" % {"d": d, "secret": secret, "timeout": TIMEOUT_MS, "key": KEY_OK,
       "good": good.port, "slow": slow.port, "tls": tls.port,
       "closed": closed, "port": port,
       "trusted": ("voicegw_provider_trusted_certificate %s;" % cert
                   if trusted else "")}


ngx = Nginx(os.path.join(d, "nginx"), http_config(), workers=2)
ngx.start(wait_ports=[port])

answers = []


def probe(pid):
    r = request("POST", port, "/v1/providers/%s/test" % pid,
                timeout=10)
    answers.append(r.body)
    return r


def last_seen(fake):
    s = fake.seen()
    return s[-1] if s else {}


# -- ok, for a config provider --------------------------------------------

r = probe("openai")
is_(r.status, 200, "test of a config provider answers 200")
j = r.json()
is_(j.get("status"), "ok", "the fake accepted the key: ok")
is_(j.get("http_status"), 200, "http_status is the provider's 200")
ok(isinstance(j.get("latency_ms"), int) and 0 <= j["latency_ms"] < 1000,
   "latency_ms is a small whole number (%r)" % j.get("latency_ms"))
ok(isinstance(j.get("message"), str) and j["message"], "a message")
is_(sorted(j), ["http_status", "latency_ms", "message", "status"],
    "exactly the documented fields")

s = last_seen(good)
is_(s.get("method"), "GET", "the fake saw a GET")
is_(s.get("path"), "/v1/models", "on the openai health path")
is_(s.get("headers", {}).get("authorization"), "Bearer " + KEY_OK,
    "with the key as a Bearer token")
is_(s.get("headers", {}).get("host"), "127.0.0.1:%d" % good.port,
    "and the Host of the base URL")

r = probe("claude")
is_(r.json().get("status"), "ok", "anthropic type: ok")
s = last_seen(good)
is_(s.get("path"), "/proxy/v1/models",
    "the base URL's path prefixes the health path")
is_(s.get("headers", {}).get("x-api-key"), KEY_OK, "key in x-api-key")
is_(s.get("headers", {}).get("anthropic-version"), "2023-06-01",
    "and the type's extra header")
ok("authorization" not in s.get("headers", {}), "no Authorization header")

r = probe("local")
j = r.json()
is_(j.get("status"), "failed", "a local type sends no key: the fake says 401")
is_(j.get("http_status"), 401, "http_status 401")
s = last_seen(good)
is_(s.get("path"), "/api/tags", "on the ollama health path")
ok(not any(h in s.get("headers", {})
           for h in ("authorization", "x-api-key", "xi-api-key")),
   "and no key header at all")

# -- a db provider: its key decrypted for the request ----------------------

good_db = FakeProvider(d, KEY_DB)
r = request("POST", port, "/v1/providers",
            body={"provider_id": "dg-db", "provider_type": "deepgram",
                  "api_key": KEY_DB,
                  "base_url": "http://127.0.0.1:%d" % good_db.port})
is_(r.status, 200, "db provider created")
answers.append(r.body)

r = probe("dg-db")
j = r.json()
is_(j.get("status"), "ok", "test of a db provider: ok")
s = last_seen(good_db)
is_(s.get("path"), "/v1/projects", "on the deepgram health path")
is_(s.get("headers", {}).get("authorization"), "Token " + KEY_DB,
    "with the stored key, decrypted, after deepgram's 'Token '")

r = request("PATCH", port, "/v1/providers/dg-db",
            body={"api_key": "dg-CHANGED-99999999999"})
is_(r.status, 200, "key changed")
r = probe("dg-db")
is_(r.json().get("status"), "failed", "the fake refuses the new key")
is_(r.json().get("http_status"), 401, "with 401")
is_(last_seen(good_db).get("headers", {}).get("authorization"),
    "Token dg-CHANGED-99999999999", "the new key was sent")

# -- failures --------------------------------------------------------------

r = probe("wrong")
j = r.json()
is_(r.status, 200, "a failed test still answers 200")
is_(j.get("status"), "failed", "wrong key: failed")
is_(j.get("http_status"), 401, "wrong key: http_status 401")
like(j.get("message", ""), r"401", "the message says 401")

r = probe("down")
j = r.json()
is_(j.get("status"), "failed", "refused: failed")
is_(j.get("http_status"), None, "refused: http_status null")
like(j.get("message", ""), r"refused", "refused: the message says so")

t0 = time.monotonic()
r = probe("late")
took = time.monotonic() - t0
j = r.json()
is_(j.get("status"), "failed", "slow past the timeout: failed")
is_(j.get("http_status"), None, "slow: http_status null")
like(j.get("message", ""), r"no answer within %d ms" % TIMEOUT_MS,
     "slow: the message names the timeout")
ok(TIMEOUT_MS * 0.9 <= j.get("latency_ms", -1) <= TIMEOUT_MS + 1000 * SLOW,
   "slow: latency_ms is about the timeout (%r)" % j.get("latency_ms"))
ok(took < 2.5 * SLOW, "slow: answered after the timeout, not after the "
   "provider (%.2f s)" % took)

r = probe("secure")
j = r.json()
is_(j.get("status"), "failed", "self-signed https: failed")
like(j.get("message", ""), r"(?i)self.signed|certificate",
     "self-signed https: the message is about the certificate")
ok(not tls.seen(), "no request was sent over the untrusted connection")

r = probe("named")
j = r.json()
is_(j.get("status"), "failed", "a host name without a resolver: failed")
like(j.get("message", ""), r"no resolver defined to resolve provider\.invalid",
     "the message says nginx has no resolver")

r = probe("nobody")
is_(r.status, 404, "unknown provider: 404")
is_(r.json().get("error"), "not_found", "unknown provider: not_found")

r = request("GET", port, "/v1/providers/openai/test")
is_(r.status, 405, "GET of the test: 405")

# -- the event loop is free while a test waits -----------------------------

result = {}


def slow_probe():
    result["r"] = probe("late")


n = len(slow.seen())
th = threading.Thread(target=slow_probe)
th.start()
ok(wait_for(lambda: len(slow.seen()) > n),
   "the test waits for the slow provider")
fast = []
for i in range(10):
    t0 = time.monotonic()
    r = request("GET", port, "/v1/providers")
    fast.append((r.status, time.monotonic() - t0))
th.join()
ok(all(st == 200 for st, _ in fast), "reads answer while a test waits")
ok(max(t for _, t in fast) < 0.5 * SLOW,
   "and promptly (slowest %.3f s)" % max(t for _, t in fast))
is_(result["r"].json().get("status"), "failed", "the waiting test ends")

# -- a graceful reload lets a pending test answer --------------------------

n = len(slow.seen())
th = threading.Thread(target=slow_probe)
th.start()
ok(wait_for(lambda: len(slow.seen()) > n),
   "a test waits for the slow provider")
old = set(ngx.worker_pids())
ok(ngx.reload(http_config(trusted=True)), "reload with a trusted CA")
th.join()
r = result["r"]
is_(r.status, 200, "the test pending across the reload got its answer")
like(r.json().get("message", ""), r"no answer within",
     "its complete answer")
ok(wait_for(lambda: not any(pid_alive(p) for p in old), timeout=5 * SLOW),
   "the old workers then exit")

# -- https with the trusted certificate ------------------------------------

r = probe("secure")
j = r.json()
is_(j.get("status"), "ok", "https with voicegw_provider_trusted_certificate: ok")
is_(j.get("http_status"), 200, "https: 200")
s = last_seen(tls)
is_(s.get("path"), "/v1/voices", "on the elevenlabs health path")
is_(s.get("headers", {}).get("xi-api-key"), KEY_OK, "key in xi-api-key")

# -- auth: the test is a write ---------------------------------------------

ok(ngx.reload(http_config() + """
    voicegw_api_key 0123456789abcdef0123 scope=read name=ro;
    voicegw_api_key fedcba9876543210fedc scope=write name=rw;
"""), "reload with api keys")
r = request("POST", port, "/v1/providers/openai/test")
is_(r.status, 401, "with keys configured, no token: 401")
r = request("POST", port, "/v1/providers/openai/test",
            headers={"Authorization": "Bearer 0123456789abcdef0123"})
is_(r.status, 403, "read token: 403")
r = request("POST", port, "/v1/providers/openai/test",
            headers={"Authorization": "Bearer fedcba9876543210fedc"})
is_(r.json().get("status"), "ok", "write token: the test runs")

# -- nothing leaked, nothing broke ----------------------------------------

ok(ngx.stop(), "nginx stopped")
logs = ""
for name in ("error.log", "access.log"):
    with open(os.path.join(d, "nginx", "logs", name), errors="replace") as f:
        logs += f.read()
body = b"".join(answers).decode(errors="replace")
for key in (KEY_OK, KEY_DB, "dg-CHANGED-99999999999"):
    ok(key not in body, "key %s...: not in any answer" % key[:6])
    ok(key not in logs, "key %s...: not in the error or access log" % key[:6])
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
