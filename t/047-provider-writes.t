#!/usr/bin/env python3
#
# t/047-provider-writes.t -- writes of providers through the API that could
# leak a stored key (docs/api.md, "PATCH /v1/providers/{provider_id}": "A
# key goes only where its owner sent it"), on a real nginx with two worker
# processes, a store and a secret, no voicegw_api_key (anyone may write),
# against fake providers (t/support/fake_provider.py) that record every
# header they receive:
#   a. a PATCH that only moves base_url to another server (the attacker's
#      fake B) drops the stored key: the answer says "api_key_dropped":true,
#      the provider test then reaches B without the key (in any header, from
#      either worker process), the list shows no key, /v1/status says the
#      provider is not configured, the audit record of the update has
#      "api_key_dropped":true, the error log a notice; setting the old
#      base_url back does not bring the key back;
#   b. the same for a change of provider_type alone (the key would go in
#      another header), and for base_url set back to null (the key would go
#      to the type's default host);
#   c. a PATCH that moves base_url (or changes the type) AND sets a new
#      api_key keeps that new key: no api_key_dropped, and the test reaches
#      the new server with the NEW key (never the old one);
#   d. a PATCH with the same base_url as stored (also with a trailing
#      slash), the same type, the same id or nothing, keeps the key: the test
#      still carries it to A; a PATCH refused with 400 keeps it too;
#   e. base URLs refused at write time (bad ports, a broken IPv6 address, no
#      host, user information, a query, a fragment, another scheme, spaces
#      and control characters, a unix socket) with 400 invalid_field in JSON,
#      at POST and at PATCH, and nothing stored (no provider, the patched
#      one unchanged with its key, no audit record); and accepted ones (an
#      address and port, https with a path, an IPv6 address) stored without
#      their trailing slashes;
#   and in the end: no [alert]/[crit]/[emerg], and neither key in any log,
#   any answer or the database file in clear.

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, FakeProvider, Nginx,  # noqa
                    at_cleanup, free_port, is_,
                    like, ok, request, tap, wait_for, workdir,
                    secret_key)

d = workdir("047-provider-writes")
port = free_port()

KEY_A = "sk-OWNER-5f1e2d3c4b5a6978"         # the owner's key, for A
KEY_NEW = "sk-MOVED-0a9b8c7d6e5f4132"       # a new key, for server C
KEY_B = "attacker-wants-your-key-0000"      # B accepts only this: never sent
KEYS = (KEY_A, KEY_NEW)


def masked(key):
    return key[:4] + "..." + key[-4:]


A = FakeProvider(d, KEY_A)     # where the owner sent the key
B = FakeProvider(d, KEY_B)     # the attacker's server
C = FakeProvider(d, KEY_NEW)   # where the owner moves the provider, new key

secret = secret_key(d)

ngx = Nginx(os.path.join(d, "nginx"), """
    voicegw_zone vg 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db;
    voicegw_secret %(secret)s;
    voicegw_provider_test_timeout 5s;

    server {
        listen %(port)d;
        location / { voicegw_api; }
    }
""" % {"secret": secret, "port": port}, workers=2)
ngx.start(wait_ports=[port])

answers = []                   # every answer body, for the leak check


def call(method, path, body=None):
    r = request(method, port, path, body=body)
    answers.append(r.body)
    return r


def providers():
    r = call("GET", "/v1/providers")
    return {p["provider_id"]: p for p in r.json()["providers"]}


def status_of(pid):
    return call("GET", "/v1/status").json()["providers"].get(pid)


def audit(pid=None):
    q = "/v1/audit-log?entity_type=provider&limit=500"
    if pid:
        q += "&entity_id=" + pid
    return call("GET", q).json()


def probe(pid):
    r = call("POST", "/v1/providers/%s/test" % pid)
    return r.json() or {}


def create(pid, key, base_url, ptype="openai"):
    body = {"provider_id": pid, "provider_type": ptype, "api_key": key}
    if base_url is not None:
        body["base_url"] = base_url
    r = call("POST", "/v1/providers", body)
    return r


def patch(pid, body):
    return call("PATCH", "/v1/providers/" + pid, body)


def is_json_error(r, status, code, name):
    j = r.json() or {}
    is_(r.status, status, name + ": %d" % status)
    is_(r.header("Content-Type"), "application/json", name + ": JSON")
    is_(j.get("error"), code, name + ": " + code)
    like(j.get("detail"), r"^base_url ", name + ": the detail is about "
         "base_url")


# -- a. base_url moved to the attacker's server: the key stays behind -----

r = create("victim", KEY_A, A.url)
is_(r.status, 200, "a: provider created with a key, pointing at A")
is_(r.json(), {"provider_id": "victim", "source": "db",
               "api_key_masked": masked(KEY_A)}, "a: create answer")

j = probe("victim")
is_(j.get("status"), "ok", "a: before: the test reaches A with the key")
is_(len(A.carrying(KEY_A)), 1, "a: before: A received the key once")
is_(A.seen()[-1]["headers"].get("authorization"), "Bearer " + KEY_A,
    "a: before: as openai's Bearer token")

r = patch("victim", {"base_url": B.url})
is_(r.status, 200, "a: PATCH of base_url alone: 200")
is_(r.json(), {"provider_id": "victim", "updated": True,
               "api_key_dropped": True},
    "a: the answer says api_key_dropped")

a_before = len(A.seen())
results = [probe("victim") for _ in range(6)]   # both worker processes
is_([x.get("status") for x in results], ["failed"] * 6,
    "a: the tests after the move fail (B wants a key it never gets)")
is_([x.get("http_status") for x in results], [401] * 6,
    "a: with B's 401: B answered every test")
is_(len(B.seen()), 6, "a: B received the 6 tests")
is_(B.carrying(KEY_A), [], "a: no request B received carries the key")
ok(all("authorization" not in s["headers"] for s in B.seen()),
   "a: B received no Authorization header at all")
is_(len(A.seen()), a_before, "a: nothing went to A any more")

p = providers().get("victim", {})
is_(p.get("api_key_masked"), "", "a: the list shows no key")
is_(p.get("base_url"), B.url, "a: and the new base_url")
is_((status_of("victim") or {}).get("configured"), False,
    "a: /v1/status: the provider is no longer configured")

log = audit("victim")
is_([e["action"] for e in log], ["update", "create"],
    "a: audit: the create and the update")
if log:
    is_(log[0]["changes"], {"base_url": B.url, "api_key_dropped": True},
        "a: audit: the update has api_key_dropped true in its changes")
    is_(log[-1]["changes"].get("api_key"), "<redacted>",
        "a: audit: the create has the key redacted")
ok(wait_for(lambda: [l for l in ngx.error_log().splitlines()
                     if "[notice]" in l and '"victim"' in l
                     and "dropped" in l], timeout=2),
   "a: the error log has a notice that the key of victim was dropped")

r = patch("victim", {"base_url": A.url})
is_(r.json(), {"provider_id": "victim", "updated": True},
    "a: base_url set back to A: nothing left to drop")
j = probe("victim")
is_((j.get("status"), j.get("http_status")), ("failed", 401),
    "a: the key does not come back: A answers 401")
ok("authorization" not in A.seen()[-1]["headers"],
   "a: A received no Authorization header")

# -- b. the type changed alone: the key stays behind -----------------------

create("typed", KEY_A, A.url)
is_(probe("typed").get("status"), "ok", "b: before: the test is ok")

r = patch("typed", {"provider_type": "anthropic"})
is_(r.status, 200, "b: PATCH of provider_type alone: 200")
is_(r.json(), {"provider_id": "typed", "updated": True,
               "api_key_dropped": True},
    "b: the answer says api_key_dropped")
n = len(A.seen())
j = probe("typed")
is_((j.get("status"), j.get("http_status")), ("failed", 401),
    "b: the test after the change: A answers 401")
s = A.seen()[n:]
is_([x["path"] for x in s], ["/v1/models"],
    "b: one request, on anthropic's health path")
ok(s and s[0]["headers"].get("anthropic-version") == "2023-06-01",
   "b: as anthropic (its version header)")
is_([x for x in s if any(KEY_A in v for v in x["headers"].values())], [],
    "b: without the key in any header")
ok(s and "x-api-key" not in s[0]["headers"], "b: no x-api-key header")
p = providers().get("typed", {})
is_((p.get("provider_type"), p.get("api_key_masked")), ("anthropic", ""),
    "b: the list: the new type, no key")
log = audit("typed")
ok(log and log[0]["changes"] == {"provider_type": "anthropic",
                                 "api_key_dropped": True},
   "b: audit: the update has api_key_dropped true (%r)"
   % (log and log[0]["changes"]))

# the type's default host: a type change with no base_url of its own
create("typed-default", KEY_A, None)
r = patch("typed-default", {"provider_type": "groq"})
is_(r.json(), {"provider_id": "typed-default", "updated": True,
               "api_key_dropped": True},
    "b: type changed, base_url the type's default: key dropped")
is_(providers().get("typed-default", {}).get("api_key_masked"), "",
    "b: the list shows no key")

# base_url back to the type's default host (null) is a move too
create("to-default", KEY_A, A.url)
r = patch("to-default", {"base_url": None})
is_(r.json(), {"provider_id": "to-default", "updated": True,
               "api_key_dropped": True},
    "b: base_url set to null (the type's default host): key dropped")
p = providers().get("to-default", {})
is_((p.get("base_url"), p.get("api_key_masked")), (None, ""),
    "b: the list: default base_url, no key")

# -- c. moved together with a new key: the new key goes along -------------

create("moved", KEY_A, A.url)
r = patch("moved", {"base_url": C.url, "api_key": KEY_NEW})
is_(r.status, 200, "c: PATCH of base_url and api_key: 200")
is_(r.json(), {"provider_id": "moved", "updated": True},
    "c: no api_key_dropped in the answer")
is_(providers().get("moved", {}).get("api_key_masked"), masked(KEY_NEW),
    "c: the list shows the new key, masked")
j = probe("moved")
is_((j.get("status"), j.get("http_status")), ("ok", 200),
    "c: the test reaches C and C accepts the key")
is_(C.seen()[-1]["headers"].get("authorization"), "Bearer " + KEY_NEW,
    "c: C received the NEW key")
is_(C.carrying(KEY_A), [], "c: C never received the old key")
log = audit("moved")
ok(log and log[0]["changes"] == {"base_url": C.url, "api_key": "<redacted>"},
   "c: audit: the new key redacted, no api_key_dropped (%r)"
   % (log and log[0]["changes"]))

r = patch("moved", {"provider_type": "anthropic", "api_key": KEY_NEW})
is_(r.json(), {"provider_id": "moved", "updated": True},
    "c: type and api_key together: no api_key_dropped")
j = probe("moved")
is_(j.get("status"), "ok", "c: the test is ok")
is_(C.seen()[-1]["headers"].get("x-api-key"), KEY_NEW,
    "c: C received the new key in anthropic's x-api-key")

# -- d. nothing moved: the key stays ----------------------------------------

create("stays", KEY_A, A.url)
for body, what in (({"base_url": A.url}, "the same base_url"),
                   ({"base_url": A.url + "/"},
                    "the same base_url with a trailing slash"),
                   ({"provider_type": "openai"}, "the same type"),
                   ({"provider_id": "stays"}, "the same id"),
                   ({}, "an empty body"),
                   ({"base_url": A.url, "provider_type": "openai"},
                    "the same base_url and type")):
    r = patch("stays", body)
    is_((r.status, r.json()), (200, {"provider_id": "stays",
                                     "updated": True}),
        "d: %s: 200, no api_key_dropped" % what)

r = patch("stays", {"name": "Stays"})
is_((r.status, (r.json() or {}).get("error")), (400, "unknown_field"),
    "d: a field providers do not have: 400 unknown_field")
r = patch("stays", {"base_url": B.url, "provider_type": "nosuchtype"})
is_(r.status, 400, "d: a move with an unknown type: refused with 400")

is_(providers().get("stays", {}).get("api_key_masked"), masked(KEY_A),
    "d: the list still shows the key")
is_(providers().get("stays", {}).get("base_url"), A.url,
    "d: and base_url A")
n = len(A.seen())
j = probe("stays")
is_((j.get("status"), j.get("http_status")), ("ok", 200),
    "d: the test still passes")
ok(len(A.seen()) == n + 1
   and A.seen()[-1]["headers"].get("authorization") == "Bearer " + KEY_A,
   "d: A received the old key")
ok(not any(e["changes"] and e["changes"].get("api_key_dropped")
           for e in audit("stays")),
   "d: no audit record of stays says api_key_dropped")

# -- e. base URLs checked at write time -------------------------------------

REFUSED = [
    ("http://h:99999/", "port over 65535"),
    ("http://h:65536/", "port 65536"),
    ("http://h:0/", "port 0"),
    ("http://h:-1/", "negative port"),
    ("http://h:4294967377/", "port that wraps around 2^32"),
    ("http://h:/", "empty port"),
    ("http://[::1", "unclosed IPv6 bracket"),
    ("http://[zz]/", "not an IPv6 address"),
    ("http:///x", "no host"),
    ("http://", "nothing after the scheme"),
    ("http://u:p@h/", "user information"),
    ("http://@h/", "empty user information"),
    ("http://h#frag", "a fragment"),
    ("http://h/?q=1", "a query"),
    ("ftp://h/", "ftp"),
    ("h/v1", "no scheme"),
    ("", "empty"),
    ("http://h/a\x01b", "a control character"),
    ("http://h/a\r\nX-Injected: 1", "CR LF (header injection)"),
    ("http://h/\tx", "a tab"),
    ("http://h h/", "a space"),
    (" http://h/", "a leading space"),
    ("http://h\x7f/", "DEL"),
    ("http://unix:/tmp/x.sock", "a unix socket"),
    ("http://h/\u00e9t\u00e9", "bytes beyond ASCII"),
]

# the detail says what is wrong, in a sentence
DETAILS = {
    "http://h:99999/": "has an invalid port",
    "http://h:-1/": "has an invalid port",
    "http://[::1": "has an invalid host",
    "http://[zz]/": "has an invalid IPv6 address",
    "http:///x": "has no host",
    "http://u:p@h/": "has user information",
    "http://h#frag": "has a query or a fragment",
    "ftp://h/": "is not an http:// or https:// URL",
    "http://h/a\x01b": "has spaces, control characters or bytes beyond "
                       "ASCII",
    "http://h/\u00e9t\u00e9": "has spaces, control characters or bytes "
                              "beyond ASCII",
    "http://unix:/tmp/x.sock": "names a unix socket",
}

create("target", KEY_A, A.url)
before = providers()
audit_before = len(audit())

for url, what in REFUSED:
    r = call("POST", "/v1/providers",
             {"provider_id": "refused", "provider_type": "openai",
              "api_key": KEY_A, "base_url": url})
    is_json_error(r, 400, "invalid_field", "e: POST, %s %r" % (what, url))
    r = patch("target", {"base_url": url})
    is_json_error(r, 400, "invalid_field", "e: PATCH, %s %r" % (what, url))
    if url in DETAILS:
        is_((r.json() or {}).get("detail"),
            "base_url must be an http:// or https:// URL of a host: it "
            + DETAILS[url], "e: %s: the detail says so" % what)

after = providers()
ok("refused" not in after, "e: no refused provider was stored")
is_(after.get("target"), before.get("target"),
    "e: the patched provider is unchanged (base_url A and its key)")
is_(len(audit()), audit_before, "e: no audit record for refused writes")
is_(probe("target").get("status"), "ok",
    "e: and its test still carries the key to A")

ACCEPTED = [
    ("http://127.0.0.1:9", "http://127.0.0.1:9"),
    ("https://api.example.test/v1/", "https://api.example.test/v1"),
    ("http://[::1]:8080/", "http://[::1]:8080"),
]

create("target2", None, None)
for i, (url, stored) in enumerate(ACCEPTED):
    pid = "accepted-%d" % i
    r = call("POST", "/v1/providers",
             {"provider_id": pid, "provider_type": "openai",
              "base_url": url})
    is_((r.status, r.json()), (200, {"provider_id": pid, "source": "db",
                                     "api_key_masked": ""}),
        "e: POST %r: 200" % url)
    is_(providers().get(pid, {}).get("base_url"), stored,
        "e: POST %r: stored as %r" % (url, stored))
    r = patch("target2", {"base_url": url})
    is_((r.status, r.json()), (200, {"provider_id": "target2",
                                     "updated": True}),
        "e: PATCH %r: 200" % url)
    is_(providers().get("target2", {}).get("base_url"), stored,
        "e: PATCH %r: stored as %r" % (url, stored))

# -- nothing leaked, nothing broke ------------------------------------------

ok(ngx.stop(), "nginx stops")
logs = ""
for name in ("error.log", "access.log"):
    with open(os.path.join(d, "nginx", "logs", name),
              errors="replace") as f:
        logs += f.read()
store = b""
for name in ("vg.db", "vg.db-wal"):
    try:
        with open(os.path.join(d, "nginx", "data", name), "rb") as f:
            store += f.read()
    except OSError:
        pass
body = b"".join(answers)
for key in KEYS:
    ok(key not in logs, "key %s...: in no line of the error or access log"
       % key[:8])
    ok(key.encode() not in body, "key %s...: in no answer" % key[:8])
    ok(key.encode() not in store, "key %s...: not in clear in the store"
       % key[:8])
is_(B.carrying(KEY_NEW), [], "B never received the new key either")
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
