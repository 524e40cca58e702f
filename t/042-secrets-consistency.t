#!/usr/bin/env python3
#
# t/042-secrets-consistency.t -- provider secrets and the consistency of the
# VoiceGateway entities across nginx processes, restarts and reloads (SPEC 5,
# issue 4 items 4 and 8), with two worker processes, a store and a
# voicegw_secret:
#   A. provider keys (of nginx.conf: key= and key_env=; of the API: POST,
#      PATCH with a new key) are only ever shown masked, and no key -- nor
#      its hex or base64 form -- is in any response (body or header), the
#      error log (info), the access logs, the audit log (changes.api_key is
#      "<redacted>") or the database files (read as bytes while nginx runs
#      and after a stop); the keys still reach the providers (the provider
#      test against fake providers that accept only the right key); with
#      another voicegw_secret the providers are still listed, masked, and
#      their test answers "failed" (the key cannot be decrypted), no crash;
#   B. a write's answer is seen by every later read, whichever worker
#      process serves it: 40 fresh connections right after a POST, a PATCH
#      and a DELETE, and a write/read ping-pong between the two processes;
#   C. after a stop (QUIT) and a start, every entity of the store and the
#      audit log are the same, and the keys still work;
#   D. a reload with a changed nginx.conf changes the config entities (added,
#      removed, changed) and nothing of the store; a config entity added
#      with the id of a store entity hides the store entity (lists, status,
#      GET, provider test with the config key; PATCH/DELETE 403, POST 409)
#      without touching it: when the config entity goes away again the
#      store entity is back, unchanged.
#
# Logs: the default access log ("combined": request line, status, referer,
# user agent) is kept, plus one with $pid.  No format with $request_body or
# $http_authorization: $request_body is what the client sent, which holds
# the key of a POST/PATCH by definition, so such a log leaking it would say
# nothing about the module.  What the module itself controls is checked:
# its answers, its own error-log lines, the variables in the access logs,
# the audit log and the store.

import base64
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (ROOT, SLOW, Nginx, at_cleanup, diag, free_port, is_,  # noqa
                    like, ok, request, tap, wait_for, workdir)

d = workdir("042-secrets-consistency")
port = free_port()
closed_port = free_port()          # nothing listens there
SECRET_FILE = os.path.join(d, "secret.key")
DATA = os.path.join(d, "data")
ENV_VAR = "VG042_PROVIDER_KEY"


def new_key():
    return "sk-SECRET-" + secrets.token_hex(12)


K_CFG = new_key()          # voicegw_provider cfgkey key=...
K_ENV = new_key()          # voicegw_provider cfgenv key_env=...
K_NEWCFG = new_key()       # voicegw_provider newcfg, added by the reload
K_DB1 = new_key()          # POST dbone
K_DB2_OLD = new_key()      # POST dbtwo, replaced by ...
K_DB2_NEW = new_key()      # ... PATCH dbtwo
K_GONE = new_key()         # POST dbgone, deleted later
K_CLOSED = new_key()       # POST dbclosed: base_url on a closed port
K_CLASH = new_key()        # POST clashprov, later hidden by a config one
K_BAD = [new_key() for _ in range(4)]   # sent in bodies that are refused
SHORT = "abcd1234"         # 8 characters: shown as 8 '*'
DB_KEYS = [K_DB1, K_DB2_OLD, K_DB2_NEW, K_GONE, K_CLOSED, K_CLASH]
ALL_KEYS = [K_CFG, K_ENV, K_NEWCFG] + DB_KEYS + K_BAD

S1 = secrets.token_bytes(32)
S2 = secrets.token_bytes(32)


def write_secret(raw):
    with open(SECRET_FILE, "wb") as f:
        f.write(raw)
    os.chmod(SECRET_FILE, 0o600)


def mask(k):
    if not k:
        return ""
    if len(k) <= 8:
        return "*" * len(k)
    return k[:4] + "..." + k[-4:]


# -- what must never be seen ------------------------------------------------

def forms(key):
    """The key and the forms it could be found in: itself, its random middle
    (not part of the masked form), upper/lower hex, base64 at each of the
    three alignments a buffer could put it at (standard and url-safe)."""
    raw = key.encode()
    out = {"raw": raw, "middle": key[4:-4].encode(),
           "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for o in range(3):
        part = raw[o:]
        part = part[:len(part) - len(part) % 3]
        b = base64.b64encode(part)
        out["b64+%d" % o] = b
        out["b64url+%d" % o] = base64.urlsafe_b64encode(part)
    return out


def secret_forms(raw):
    return {"secret-raw": raw, "secret-hex": raw.hex().encode(),
            "secret-HEX": raw.hex().upper().encode(),
            "secret-b64": base64.b64encode(raw)[:40]}


NEEDLES = []
for _k in ALL_KEYS:
    for _what, _b in forms(_k).items():
        NEEDLES.append(("%s..%s %s" % (_k[:4], _k[-4:], _what), _b))
for _s in (S1, S2):
    for _what, _b in secret_forms(_s).items():
        NEEDLES.append((_what, _b))


def leaks(data, keys_ok=()):
    """The needles found in data (bytes), except those of keys_ok."""
    allowed = set()
    for k in keys_ok:
        allowed.update(forms(k).values())
    return sorted({label for label, b in NEEDLES
                   if b not in allowed and b in data})


COLLECTED = []       # every answer: (what, status + headers + body)


def call(method, path, body=None, headers=None):
    r = request(method, port, path, body=body, headers=headers)
    head = "%d\n" % r.status + "".join("%s: %s\n" % (k, v)
                                       for k, v in r.headers)
    COLLECTED.append(("%s %s" % (method, path), head.encode() + r.body))
    return r


def getj(path):
    r = call("GET", path)
    return r.json()


def providers():
    return {p["provider_id"]: p for p in getj("/v1/providers")["providers"]}


def provider_list():
    return getj("/v1/providers")["providers"]


def projects_list():
    return getj("/v1/projects")["projects"]


def projects():
    return {p["id"]: p for p in projects_list()}


def audit():
    return getj("/v1/audit-log?limit=500")


def test_provider(pid):
    r = call("POST", "/v1/providers/%s/test" % pid)
    j = r.json() or {}
    return r.status, j


def parallel_gets(paths, threads=4):
    """GET each path on a fresh connection, `threads` at a time; answers in
    the order of paths."""
    out = [None] * len(paths)
    lock = threading.Lock()
    nxt = [0]

    def run():
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(paths):
                return
            try:
                out[i] = call("GET", paths[i])
            except Exception as e:          # noqa: BLE001
                out[i] = e

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    return out


def db_files():
    return [os.path.join(DATA, n) for n in ("vg.db", "vg.db-wal", "vg.db-shm")
            if os.path.exists(os.path.join(DATA, n))]


def read_all(paths):
    data = b""
    for p in paths:
        with open(p, "rb") as f:
            data += f.read()
    return data


def tree_files(top):
    out = []
    for base, _dirs, files in os.walk(top):
        out += [os.path.join(base, f) for f in files]
    return sorted(out)


# -- fake providers: each accepts one key ------------------------------------

class FakeProvider:
    def __init__(self, key):
        self.port = free_port()
        self.key = key
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(ROOT, "t", "support",
                                          "fake_provider.py"),
             "--port", str(self.port), "--key", key],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        at_cleanup(self.stop)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("fake provider did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None


F_CFG = FakeProvider(K_CFG)
F_ENV = FakeProvider(K_ENV)
F_NEWCFG = FakeProvider(K_NEWCFG)
F_DB1 = FakeProvider(K_DB1)
F_DB2 = FakeProvider(K_DB2_NEW)      # the old key of dbtwo gets a 401


def url(fake):
    return "http://127.0.0.1:%d" % fake.port


# -- nginx --------------------------------------------------------------------

def conf(entities):
    return """
    voicegw_zone   vg042 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store  data/vg.db;
    voicegw_secret secret.key;
    voicegw_provider_test_timeout 3s;

    log_format vgpid '$remote_addr "$request" $status pid=$pid';
    log_format vgproxy '"$request" $status $voicegw_proxy_url '
                       '$voicegw_proxy_host $voicegw_proxy_sni '
                       '$voicegw_proxy_provider $voicegw_proxy_project '
                       '$voicegw_proxy_model $upstream_addr '
                       '$upstream_status';

%s

    server {
        listen      127.0.0.1:%d reuseport;
        access_log  logs/access.log combined;
        access_log  logs/pid.log vgpid;
        add_header  X-Pid $pid always;

        location / {
            voicegw_api;
        }

        # provider calls: the same key search covers them
        location /v1/proxy/ {
            voicegw_proxy;
            proxy_read_timeout 3s;
            access_log logs/proxy.log vgproxy;
        }
    }
""" % (entities, port)


ENTITIES_1 = """
    voicegw_provider cfgkey type=openai key=%(kcfg)s base_url=%(fcfg)s;
    voicegw_provider cfgenv type=deepgram key_env=%(env)s base_url=%(fenv)s;
    voicegw_provider cfgshort type=elevenlabs key=%(short)s;
    voicegw_project  cfgproj "name=Config project" daily_budget=10
                     budget_action=block tags=prod;
    voicegw_project  cfgdrop "name=Dropped later";
""" % {"kcfg": K_CFG, "fcfg": url(F_CFG), "env": ENV_VAR, "fenv": url(F_ENV),
       "short": SHORT}

# the reload: newcfg added, cfgshort and cfgdrop removed, cfgproj's budget
# changed, and a provider and a project with the ids of store entities
ENTITIES_2 = """
    voicegw_provider cfgkey type=openai key=%(kcfg)s base_url=%(fcfg)s;
    voicegw_provider cfgenv type=deepgram key_env=%(env)s base_url=%(fenv)s;
    voicegw_provider newcfg type=groq key=%(knew)s base_url=%(fnew)s;
    voicegw_provider clashprov type=openai key=%(kcfg)s base_url=%(fcfg)s;
    voicegw_project  cfgproj "name=Config project" daily_budget=42.5
                     budget_action=block tags=prod;
    voicegw_project  cfgnew "name=New in config" tags=staging;
    voicegw_project  clashproj "name=Config clash" daily_budget=99;
""" % {"kcfg": K_CFG, "fcfg": url(F_CFG), "env": ENV_VAR, "fenv": url(F_ENV),
       "knew": K_NEWCFG, "fnew": url(F_NEWCFG)}

# the clash goes away again
ENTITIES_3 = """
    voicegw_provider cfgkey type=openai key=%(kcfg)s base_url=%(fcfg)s;
    voicegw_provider cfgenv type=deepgram key_env=%(env)s base_url=%(fenv)s;
    voicegw_provider newcfg type=groq key=%(knew)s base_url=%(fnew)s;
    voicegw_project  cfgproj "name=Config project" daily_budget=42.5
                     budget_action=block tags=prod;
    voicegw_project  cfgnew "name=New in config" tags=staging;
""" % {"kcfg": K_CFG, "fcfg": url(F_CFG), "env": ENV_VAR, "fenv": url(F_ENV),
       "knew": K_NEWCFG, "fnew": url(F_NEWCFG)}

write_secret(S1)
os.environ[ENV_VAR] = K_ENV          # the environment nginx starts with
ngx = Nginx(d, conf(ENTITIES_1), workers=2).start(wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")
with open(os.path.join(d, "conf", "nginx.conf")) as f:
    if K_ENV in f.read():                  # the test's own precondition
        raise RuntimeError("the key_env= key must not be in nginx.conf")

# == A. secrets ===============================================================

# -- config providers: masked -------------------------------------------------

ps = providers()
is_({k: (v["source"], v["provider_type"], v["api_key_masked"], v["base_url"])
     for k, v in ps.items()},
    {"cfgkey": ("config", "openai", mask(K_CFG), url(F_CFG)),
     "cfgenv": ("config", "deepgram", mask(K_ENV), url(F_ENV)),
     "cfgshort": ("config", "elevenlabs", "********", None)},
    "GET /v1/providers: the config providers, keys masked (key=, key_env=, "
    "an 8-character key as 8 '*')")

# -- db providers: POST, PATCH ------------------------------------------------

CREATED = [
    ("dbone", {"provider_id": "dbone", "provider_type": "elevenlabs",
               "api_key": K_DB1, "base_url": url(F_DB1) + "/"}),
    ("dbtwo", {"provider_id": "dbtwo", "provider_type": "anthropic",
               "api_key": K_DB2_OLD, "base_url": url(F_DB2)}),
    ("dbgone", {"provider_id": "dbgone", "provider_type": "cartesia",
                "api_key": K_GONE}),
    ("dbclosed", {"provider_id": "dbclosed", "provider_type": "openai",
                  "api_key": K_CLOSED,
                  "base_url": "http://127.0.0.1:%d" % closed_port}),
    ("clashprov", {"provider_id": "clashprov", "provider_type": "openai",
                   "api_key": K_CLASH, "base_url": url(F_CFG)}),
]
KEY_OF = {"dbone": K_DB1, "dbtwo": K_DB2_OLD, "dbgone": K_GONE,
          "dbclosed": K_CLOSED, "clashprov": K_CLASH}
for pid, body in CREATED:
    r = call("POST", "/v1/providers", body=body,
             headers={"Content-Type": "application/json"})
    is_((r.status, r.json()),
        (200, {"provider_id": pid, "source": "db",
               "api_key_masked": mask(KEY_OF[pid])}),
        "POST /v1/providers %s: 200, the key masked" % pid)

r = call("POST", "/v1/providers", body={"provider_id": "dbnokey",
                                        "provider_type": "whisper"})
is_((r.status, (r.json() or {}).get("api_key_masked")), (200, ""),
    "POST a provider without a key: api_key_masked \"\"")

# refused bodies that carry a key: the answer must not echo it
BAD = [
    ('{"provider_id":"dbbad","api_key":"%s" "base_url":1}' % K_BAD[0],
     400, "invalid_json", "malformed JSON"),
    ('{"provider_id":"dbbad","apikey":"%s"}' % K_BAD[1],
     400, "unknown_field", "an unknown field"),
    ('{"provider_id":"dbbad","provider_type":"openai",'
     '"api_key":"%s\\u0001"}' % K_BAD[2],
     400, "invalid_field", "a key with a control character"),
    ('{"provider_id":"cfgkey","provider_type":"openai","api_key":"%s"}'
     % K_BAD[3],
     409, "conflict", "the id of a config provider"),
]
for raw, status, err, what in BAD:
    r = call("POST", "/v1/providers", body=raw,
             headers={"Content-Type": "application/json"})
    is_((r.status, (r.json() or {}).get("error")), (status, err),
        "POST /v1/providers with %s: %d %s" % (what, status, err))

# PATCH: a new key; only the base_url; a config provider
r = call("PATCH", "/v1/providers/dbone", body={"base_url": url(F_DB1)})
is_((r.status, r.json()), (200, {"provider_id": "dbone", "updated": True}),
    "PATCH dbone: only base_url")
r = call("PATCH", "/v1/providers/cfgkey", body={"api_key": K_BAD[3]})
is_((r.status, (r.json() or {}).get("error")), (403, "read_only"),
    "PATCH of a config provider: 403 read_only")

ps = providers()
is_((ps["dbone"]["api_key_masked"], ps["dbone"]["base_url"]),
    (mask(K_DB1), url(F_DB1)),
    "dbone: key unchanged by a PATCH without api_key; base_url without the "
    "trailing /")
is_(ps["dbtwo"]["api_key_masked"], mask(K_DB2_OLD), "dbtwo: its first key")

# the provider test with the old key of dbtwo: the fake wants the new one
st, j = test_provider("dbtwo")
is_((st, j.get("status"), j.get("http_status")), (200, "failed", 401),
    "POST /v1/providers/dbtwo/test with the old key: failed, the provider "
    "answered 401")

# == B. consistency: a new key is used by both processes at once ==============

r = call("PATCH", "/v1/providers/dbtwo", body={"api_key": K_DB2_NEW})
is_((r.status, r.json()), (200, {"provider_id": "dbtwo", "updated": True}),
    "PATCH dbtwo: a new key")
KEY_OF["dbtwo"] = K_DB2_NEW
t0 = time.time()
tests = []
for _ in range(12):
    r = call("POST", "/v1/providers/dbtwo/test")
    tests.append((r.status, (r.json() or {}).get("status"),
                  (r.json() or {}).get("http_status"), r.header("X-Pid")))
elapsed = time.time() - t0
ok(all(t[:3] == (200, "ok", 200) for t in tests),
   "12 provider tests right after the PATCH, each on a fresh connection: "
   "all use the new key (%s)" % sorted(set(t[:3] for t in tests)))
is_(len({t[3] for t in tests}), 2,
    "  served by both worker processes (%s)" % sorted({t[3] for t in tests}))
ok(elapsed < 1.0 * SLOW, "  within 1 s of the PATCH's answer (%.3f s)"
   % elapsed)
is_(providers()["dbtwo"]["api_key_masked"], mask(K_DB2_NEW),
    "dbtwo: masked form of the new key")

# -- the provider tests -------------------------------------------------------

for pid in ("cfgkey", "cfgenv", "dbone", "dbtwo"):
    st, j = test_provider(pid)
    is_((st, j.get("status"), j.get("http_status")), (200, "ok", 200),
        "POST /v1/providers/%s/test: ok, the provider accepted the key "
        "(%s)" % (pid, j.get("message")))
st, j = test_provider("dbclosed")
is_((st, j.get("status"), j.get("http_status")), (200, "failed", None),
    "POST /v1/providers/dbclosed/test (a closed port): failed, no HTTP status")
like(j.get("message"), r"refused", "  the message says the connection was "
     "refused")
st, j = test_provider("cfgshort")
is_((st, j.get("status")), (200, "failed"),
    "POST /v1/providers/cfgshort/test (api.elevenlabs.io, no resolver): "
    "failed")
st, j = test_provider("nope")
is_((st, j.get("error")), (404, "not_found"), "test of an unknown provider: "
    "404")

# -- every other endpoint -----------------------------------------------------

r = call("POST", "/v1/models", body={"modality": "tts", "provider_id": "dbone",
                                     "model_name": "eleven_v2",
                                     "price_per_character": 0.00003})
is_(r.status, 200, "POST /v1/models dbone/eleven_v2")
r = call("DELETE", "/v1/providers/dbone")
is_((r.status, r.json()),
    (200, {"would_delete": {"provider_id": "dbone",
                            "models": ["dbone/eleven_v2"]}}),
    "DELETE /v1/providers/dbone (preview): its model")
r = call("DELETE", "/v1/providers/dbone?confirm=true")
is_((r.status, (r.json() or {}).get("error")), (409, "in_use"),
    "DELETE dbone?confirm=true with a model: 409 in_use")
r = call("DELETE", "/v1/providers/cfgkey")
is_((r.status, (r.json() or {}).get("error")), (403, "read_only"),
    "DELETE of a config provider (preview too): 403")
r = call("DELETE", "/v1/providers/dbgone")
is_((r.status, r.json()),
    (200, {"would_delete": {"provider_id": "dbgone", "models": []}}),
    "DELETE /v1/providers/dbgone (preview)")
r = call("GET", "/v1/providers/dbone")
is_((r.status, r.header("Allow") is not None), (405, True),
    "GET /v1/providers/dbone: 405 with Allow")
for path in ("/v1/status", "/v1/models", "/v1/projects", "/v1/audit-log",
             "/v1/metrics", "/v1/costs", "/v1/latency", "/v1/logs",
             "/health", "/status"):
    r = call("GET", path)
    is_(r.status, 200, "GET %s" % path)

st = getj("/v1/status")
is_({k: (v["source"], v["configured"]) for k, v in st["providers"].items()},
    {"cfgkey": ("config", True), "cfgenv": ("config", True),
     "cfgshort": ("config", True), "dbone": ("db", True),
     "dbtwo": ("db", True), "dbgone": ("db", True), "dbclosed": ("db", True),
     "clashprov": ("db", True), "dbnokey": ("db", True)},
    "GET /v1/status: every provider, configured")

# == B. consistency across processes ==========================================

r = call("POST", "/v1/projects", body={"project_id": "clashproj",
                                       "name": "DB clash",
                                       "daily_budget": 7, "tags": ["dev"]})
is_(r.status, 200, "POST /v1/projects clashproj")


def fresh_reads(what, paths, check):
    """paths read right after a write's answer; check(response) for each."""
    t0 = time.time()
    answers = parallel_gets(paths)
    elapsed = time.time() - t0
    bad = [(p, getattr(a, "status", a), getattr(a, "text", "")[:120])
           for p, a in zip(paths, answers)
           if isinstance(a, Exception) or not check(a)]
    pids = {a.header("X-Pid") for a in answers if not isinstance(a, Exception)}
    ok(not bad, "%s: all %d reads on fresh connections see it" %
       (what, len(paths)))
    for b in bad[:5]:
        diag("  stale or failed: %r" % (b,))
    is_(len(pids - {None}), 2, "  answered by both worker processes (%s)"
        % sorted(p for p in pids if p))
    ok(elapsed < 1.0 * SLOW, "  all within 1 s of the write's answer "
       "(%.3f s)" % elapsed)


LIVE = {"project_id": "live", "name": "Live one", "daily_budget": 3,
        "budget_action": "warn", "tags": ["prod", "voice"],
        "description": "made by 042"}
r = call("POST", "/v1/projects", body=LIVE)
is_((r.status, r.json()),
    (200, {"project_id": "live", "source": "db", "created": True}),
    "POST /v1/projects live")


def live_is(name, budget):
    def check(a):
        j = a.json() or {}
        if a.status != 200:
            return False
        if "projects" in j:
            m = [p for p in j["projects"] if p["id"] == "live"]
            return len(m) == 1 and (m[0]["name"], m[0]["daily_budget"]) == \
                (name, budget)
        return (j.get("name"), j.get("daily_budget")) == (name, budget)
    return check


fresh_reads("after POST /v1/projects live",
            ["/v1/projects/live", "/v1/projects"] * 20,
            live_is("Live one", 3))

r = call("PATCH", "/v1/projects/live", body={"name": "Live two",
                                             "daily_budget": 4.5})
is_((r.status, r.json()), (200, {"project_id": "live", "updated": True}),
    "PATCH /v1/projects/live")
fresh_reads("after PATCH /v1/projects/live",
            ["/v1/projects/live", "/v1/projects"] * 20,
            live_is("Live two", 4.5))

r = call("DELETE", "/v1/providers/dbgone?confirm=true")
is_((r.status, r.json()), (200, {"deleted": "dbgone"}),
    "DELETE /v1/providers/dbgone?confirm=true")


def dbgone_gone(a):
    j = a.json() or {}
    if a.status != 200:
        return False
    if "providers" in j and isinstance(j["providers"], list):
        return all(p["provider_id"] != "dbgone" for p in j["providers"])
    return "dbgone" not in j.get("providers", {"dbgone": 1})


fresh_reads("after DELETE dbgone", ["/v1/providers", "/v1/status"] * 20,
            dbgone_gone)
r = call("DELETE", "/v1/providers/dbgone")
is_(r.status, 404, "its preview is 404 now")

# ping-pong: each write answered by one process, read at once by a fresh
# connection (often the other process)
stale, cross = [], 0
for i in range(20):
    w = call("PATCH", "/v1/projects/live", body={"daily_budget": 100 + i})
    g = call("GET", "/v1/projects/live")
    if w.status != 200 or (g.json() or {}).get("daily_budget") != 100 + i:
        stale.append((i, w.status, g.status, (g.json() or {}).get(
            "daily_budget")))
    if w.header("X-Pid") != g.header("X-Pid"):
        cross += 1
ok(not stale, "20 PATCH-then-GET pairs: every GET sees its PATCH (%s)"
   % stale[:3])
ok(cross > 0, "  %d of them read in the other worker process" % cross)
r = call("PATCH", "/v1/projects/live", body={"daily_budget": 4.5})
is_(r.status, 200, "live back to 4.5")

# writes at the same time through both processes: none lost, none refused
NC = 32
answers = [None] * NC


def post_c(i):
    answers[i] = call("POST", "/v1/projects",
                      body={"project_id": "c-%02d" % i, "daily_budget": i,
                            "tags": ["test"]})


ths = [threading.Thread(target=lambda k=k: [post_c(i) for i in
                                            range(k, NC, 8)])
       for k in range(8)]
for t in ths:
    t.start()
for t in ths:
    t.join(30)
is_(sorted({a.status for a in answers if a is not None}), [200],
    "%d POST /v1/projects from 8 threads at once: all 200" % NC)
is_(len({a.header("X-Pid") for a in answers if a is not None}), 2,
    "  through both worker processes")
fresh_reads("after the concurrent POSTs", ["/v1/projects"] * 40,
            lambda a: a.status == 200 and sorted(
                (p["id"], p["daily_budget"]) for p in a.json()["projects"]
                if p["id"].startswith("c-")) ==
            [("c-%02d" % i, i) for i in range(NC)])
is_(len([e for e in getj("/v1/audit-log?limit=500&entity_type=project"
                         "&action=create")
         if e["entity_id"].startswith("c-")]), NC,
    "  and the audit log has each of them once")

# == A. provider calls through voicegw_proxy ==================================

# Each provider's key goes only to its provider; the answers (collected),
# the logs and the store are searched for every key at the end, as for
# the API's traffic.  The client's own credentials are replaced.

MSG = [{"role": "user", "content": "hi"}]
PROXIED = [
    ("cfgkey", "/v1/chat/completions", {"model": "gpt-4o-mini",
                                        "messages": MSG}, {}, 200),
    ("cfgkey", "/v1/chat/completions", {"model": "gpt-4o-mini",
                                        "stream": True, "messages": MSG},
     {"X-Fake-Split": "1"}, 200),
    ("cfgkey", "/v1/chat/completions", {"model": "gpt-4o-mini",
                                        "messages": MSG},
     {"X-Fake-Status": "500"}, 500),
    ("cfgenv", "/v1/listen?model=nova-3", "not audio", {}, 200),
    ("dbone", "/v1/text-to-speech/v1", {"text": "hello",
                                        "model_id": "eleven_v3"}, {}, 200),
    ("dbtwo", "/v1/messages", {"model": "claude-x", "max_tokens": 5,
                               "stream": True, "messages": MSG}, {}, 200),
    ("dbclosed", "/v1/chat/completions", {"model": "m", "messages": MSG},
     {}, 502),
]
got = []
for pid, path, body, hdrs, want in PROXIED:
    h = {"Authorization": "Bearer client-" + pid, "X-VoiceGW-Project":
         "cfgproj", "Content-Type": "application/json"}
    h.update(hdrs)
    r = call("POST", "/v1/proxy/%s%s" % (pid, path), body=body, headers=h)
    got.append((pid, r.status))
is_(got, [(p[0], p[4]) for p in PROXIED],
    "provider calls through voicegw_proxy: each provider accepts the key "
    "it was given, unreachable ones answer 502")
ok(wait_for(lambda: len([x for x in getj("/v1/logs?limit=1000")
                         if x["project"] == "cfgproj"]) >= len(PROXIED)),
   "  and they are on the books")

# == A. what is stored and logged =============================================

aud = audit()
keyed = [(e["entity_type"], e["entity_id"], e["action"])
         for e in aud if "api_key" in (e.get("changes") or {})]
is_(sorted(keyed),
    sorted([("provider", "dbone", "create"), ("provider", "dbtwo", "create"),
            ("provider", "dbgone", "create"),
            ("provider", "dbclosed", "create"),
            ("provider", "clashprov", "create"),
            ("provider", "dbtwo", "update")]),
    "the audit log has every write that carried a key")
ok(all(e["changes"]["api_key"] == "<redacted>"
       for e in aud if "api_key" in (e.get("changes") or {})),
   "  each with changes.api_key \"<redacted>\"")
e = [e for e in aud if (e["entity_id"], e["action"]) == ("dbone", "create")]
# (the base_url is recorded as stored, without the trailing "/" it was
# sent with: the check normalises the parsed body in place)
is_(e and e[0]["changes"],
    {"provider_id": "dbone", "provider_type": "elevenlabs",
     "api_key": "<redacted>", "base_url": url(F_DB1)},
    "  the other fields as sent (base_url as stored)")
e = [e for e in aud if (e["entity_id"], e["action"]) == ("dbone", "update")]
is_(e and e[0]["changes"], {"base_url": url(F_DB1)},
    "  a PATCH without a key: no api_key in changes")
e = [e for e in aud if (e["entity_id"], e["action"]) == ("dbgone", "delete")]
is_(e and (e[0]["changes"], e[0]["source"]), (None, "api"),
    "  the delete: changes null, source api")
ok(not any(e["entity_id"] in ("dbbad", "cfgkey") for e in aud),
   "  the refused writes are not in it")

db_running = db_files()
ok(os.path.join(DATA, "vg.db") in db_running,
   "the store's files while nginx runs: %s"
   % [os.path.basename(p) for p in db_running])
found = leaks(read_all(db_running))
is_(found, [], "  no key, nor its hex or base64, in their bytes")
for p in tree_files(os.path.join(d, "tmp")):
    diag("file in tmp/: %s" % p)
is_(leaks(read_all(tree_files(os.path.join(d, "tmp")))), [],
    "no key in nginx's temporary files")

# == C. restart ===============================================================

SNAP_PATHS = ["/v1/providers", "/v1/projects", "/v1/models", "/v1/status",
              "/v1/audit-log?limit=500", "/v1/projects/live",
              "/v1/projects/clashproj", "/v1/projects/cfgproj"]


def snapshot():
    return {p: getj(p) for p in SNAP_PATHS}


before = snapshot()
ok(len(before["/v1/audit-log?limit=500"]) >= 30,
   "the audit log has %d records" % len(before["/v1/audit-log?limit=500"]))
ok(ngx.stop(), "nginx stopped (QUIT)")
db_stopped = db_files()
found = leaks(read_all(db_stopped))
is_(found, [], "after the stop: no key in %s"
    % [os.path.basename(p) for p in db_stopped])

# the sealed keys, from a copy (the store's directory belongs to the workers)
cp = os.path.join(d, "dbcopy")
os.makedirs(cp)
for p in db_stopped:
    shutil.copy(p, cp)
con = sqlite3.connect(os.path.join(cp, "vg.db"))
rows = {r[0]: (r[1], r[2]) for r in
        con.execute("SELECT id, api_key_enc, api_key_masked FROM providers")}
con.close()
sealed_ok = []
for pid, key in (("dbone", K_DB1), ("dbtwo", K_DB2_NEW),
                 ("dbclosed", K_CLOSED), ("clashprov", K_CLASH)):
    enc, masked = rows.get(pid, ("", ""))
    try:
        blob = base64.b64decode(enc[3:]) if enc.startswith("v1:") else b""
    except ValueError:
        blob = b""
    sealed_ok.append((pid, enc[:3], len(blob) == 12 + len(key) + 16,
                      masked == mask(key)))
is_(sealed_ok, [(pid, "v1:", True, True) for pid in
                ("dbone", "dbtwo", "dbclosed", "clashprov")],
    "in the store: \"v1:\" + base64 of nonce, ciphertext and tag; the "
    "masked form")
is_(rows.get("dbnokey"), ("", ""), "no key: empty columns")

ngx.start(wait_ports=[port])
after = snapshot()
for p in SNAP_PATHS:
    is_(after[p], before[p], "after the restart: GET %s is the same" % p)
for pid in ("cfgkey", "cfgenv", "dbone", "dbtwo"):
    st, j = test_provider(pid)
    is_((j.get("status"), j.get("http_status")), ("ok", 200),
        "after the restart: the test of %s passes (the key still works)"
        % pid)

# == A. another voicegw_secret ================================================

ok(ngx.stop(), "nginx stopped")
write_secret(S2)
ngx.start(wait_ports=[port])
workers = ngx.worker_pids()
is_(provider_list(), before["/v1/providers"]["providers"],
    "with another secret: GET /v1/providers is the same (masked)")
for pid in ("dbone", "dbtwo", "dbclosed", "clashprov"):
    r = call("POST", "/v1/providers/%s/test" % pid)
    j = r.json() or {}
    is_((r.status, j.get("status"), j.get("http_status")),
        (200, "failed", None),
        "POST /v1/providers/%s/test: 200 {\"status\":\"failed\"}" % pid)
    like(j.get("message"), r"decrypt", "  the message: %r"
         % j.get("message"))
st, j = test_provider("cfgkey")
is_(j.get("status"), "ok", "a config provider's test still passes")
is_(getj("/v1/status"), before["/v1/status"], "GET /v1/status the same")
is_(ngx.worker_pids(), workers, "no worker process died")
ok(not [l for l in ngx.error_log().splitlines() if "exited on signal" in l],
   "no 'exited on signal' in the error log")

ok(ngx.stop(), "nginx stopped")
write_secret(S1)
ngx.start(wait_ports=[port])
st, j = test_provider("dbtwo")
is_(j.get("status"), "ok", "the right secret again: dbtwo's test passes")

# == D. reload ================================================================

db_before = {p: getj(p)
             for p in ("/v1/projects/live", "/v1/audit-log?limit=500")}
db_providers = {k: v for k, v in providers().items() if v["source"] == "db"}
db_projects = {k: v for k, v in projects().items() if v["source"] == "db"}
db_models = {k: v for k, v in getj("/v1/models")["models"].items()
             if v["source"] == "db"}
clash_db_project = getj("/v1/projects/clashproj")
clash_db_provider = db_providers["clashprov"]
st, j = test_provider("clashprov")
is_((j.get("status"), j.get("http_status")), ("failed", 401),
    "before the reload: clashprov (db) is tested with its own key, which "
    "the fake refuses")

ok(ngx.reload(conf(ENTITIES_2)), "nginx -s reload with a changed nginx.conf")
ps = providers()
is_(sorted((k, v["source"]) for k, v in ps.items()),
    sorted([("cfgkey", "config"), ("cfgenv", "config"), ("newcfg", "config"),
            ("clashprov", "config"), ("dbone", "db"), ("dbtwo", "db"),
            ("dbclosed", "db"), ("dbnokey", "db")]),
    "providers: newcfg added, cfgshort gone, clashprov now from nginx.conf")
is_((ps["newcfg"]["provider_type"], ps["newcfg"]["api_key_masked"]),
    ("groq", mask(K_NEWCFG)), "newcfg: groq, its key masked")
is_(ps["cfgenv"]["api_key_masked"], mask(K_ENV),
    "cfgenv: its key_env= key read again by the reload")
is_(ps["clashprov"], {"provider_id": "clashprov", "provider_type": "openai",
                      "source": "config", "api_key_masked": mask(K_CFG),
                      "base_url": url(F_CFG)},
    "clashprov: listed once, as nginx.conf has it (the store's is hidden)")
is_({k: v for k, v in ps.items() if v["source"] == "db"},
    {k: v for k, v in db_providers.items() if k != "clashprov"},
    "the other store providers are unchanged")
pj = projects()
is_(sorted((k, v["source"]) for k, v in pj.items()),
    sorted([("cfgproj", "config"), ("cfgnew", "config"),
            ("clashproj", "config"), ("live", "db")]
           + [("c-%02d" % i, "db") for i in range(NC)]),
    "projects: cfgnew added, cfgdrop gone, clashproj from nginx.conf")
is_((pj["cfgproj"]["daily_budget"], pj["cfgnew"]["name"],
     pj["cfgnew"]["accent"]), (42.5, "New in config", "#f1c40f"),
    "cfgproj's new daily_budget; cfgnew's values")
is_(pj["live"], db_projects["live"], "live (db) is unchanged")
r = call("GET", "/v1/projects/cfgdrop")
is_(r.status, 404, "GET /v1/projects/cfgdrop: 404")
r = call("GET", "/v1/projects/clashproj")
is_(((r.json() or {}).get("name"), (r.json() or {}).get("daily_budget"),
     (r.json() or {}).get("source")), ("Config clash", 99, "config"),
    "GET /v1/projects/clashproj: the nginx.conf one")
is_({k: v for k, v in getj("/v1/models")["models"].items()
     if v["source"] == "db"}, db_models, "the store's models are unchanged")
for method, path, body, status, err in (
        ("PATCH", "/v1/projects/clashproj", {"daily_budget": 1}, 403,
         "read_only"),
        ("DELETE", "/v1/projects/clashproj?confirm=true", None, 403,
         "read_only"),
        ("POST", "/v1/projects", {"project_id": "clashproj"}, 409,
         "conflict"),
        ("PATCH", "/v1/providers/clashprov", {"api_key": K_BAD[3]}, 403,
         "read_only"),
        ("DELETE", "/v1/providers/clashprov?confirm=true", None, 403,
         "read_only"),
        ("POST", "/v1/providers", {"provider_id": "clashprov",
                                   "provider_type": "openai"}, 409,
         "conflict")):
    r = call(method, path, body=body)
    is_((r.status, (r.json() or {}).get("error")), (status, err),
        "%s %s of a hidden store entity: %d %s" % (method, path[:34],
                                                  status, err))
st, j = test_provider("clashprov")
is_((j.get("status"), j.get("http_status")), ("ok", 200),
    "the test of clashprov uses nginx.conf's key now")
st, j = test_provider("newcfg")
is_(j.get("status"), "ok", "the test of newcfg passes")
st, j = test_provider("cfgenv")
is_(j.get("status"), "ok", "the test of cfgenv passes after the reload")
st = getj("/v1/status")
is_((st["providers"].get("clashprov", {}).get("source"),
     st["project_count"], "cfgshort" in st["providers"]),
    ("config", 4 + NC, False),
    "GET /v1/status: clashprov from nginx.conf, 3 + 1 + %d projects, no "
    "cfgshort" % NC)
m = re.search(r"^voicegw_providers_configured (\S+)$",
              call("GET", "/v1/metrics").text, re.M)
is_(m and float(m.group(1)), 8.0,
    "/v1/metrics voicegw_providers_configured: 4 of nginx.conf + 4 of the "
    "store not hidden")
is_({p: getj(p) for p in db_before}, db_before,
    "GET /v1/projects/live and the audit log are unchanged by the reload")

ok(ngx.reload(conf(ENTITIES_3)), "reload without the clashing entities")
ps = providers()
is_(ps.get("clashprov"), clash_db_provider,
    "clashprov: the store's one is back, unchanged")
is_(getj("/v1/projects/clashproj"), clash_db_project,
    "clashproj: the store's one is back, unchanged")
st, j = test_provider("clashprov")
is_((j.get("status"), j.get("http_status")), ("failed", 401),
    "the test of clashprov uses the store's key again")
is_({k: v for k, v in ps.items() if v["source"] == "db"}, db_providers,
    "all store providers as before the reloads")
is_({k: v for k, v in projects().items() if v["source"] == "db"},
    db_projects, "all store projects as before the reloads")

# == A. the whole run: answers, logs, store ===================================

ok(ngx.stop(), "nginx stopped")
bad = [(what, leaks(data)) for what, data in COLLECTED if leaks(data)]
is_(bad, [], "no key in any of the %d answers (status, headers, body)"
    % len(COLLECTED))
ok(any(mask(K_DB2_NEW).encode() in data for _, data in COLLECTED),
   "  (while the masked forms were in them)")
for name in ("error.log", "access.log", "pid.log"):
    with open(os.path.join(d, "logs", name), "rb") as f:
        data = f.read()
    is_(leaks(data), [], "no key in logs/%s (%d bytes)" % (name, len(data)))
is_(leaks(read_all(db_files())), [], "no key in the store's files at the end")
is_(leaks(read_all(tree_files(os.path.join(d, "tmp")))), [],
    "no key in nginx's temporary files at the end")

with open(os.path.join(d, "logs", "pid.log")) as f:
    logged_pids = {l.rsplit("pid=", 1)[-1] for l in f.read().splitlines()}
header_pids = set()
for _, data in COLLECTED:
    for line in data.split(b"\n"):
        if line.lower().startswith(b"x-pid: "):
            header_pids.add(line[7:].decode())
            break
is_(logged_pids, header_pids, "the access log's $pid are the X-Pid of the "
    "answers (%d worker processes over the starts and reloads)"
    % len(header_pids))
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

rc = tap.done()
if rc == 0:
    for f in (F_CFG, F_ENV, F_NEWCFG, F_DB1, F_DB2):
        f.stop()
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
