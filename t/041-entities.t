#!/usr/bin/env python3
#
# t/041-entities.t -- the VoiceGateway management API end to end (SPEC 5,
# 8, 11; issue 4 items 2, 3 and 6), on a real nginx with two worker
# processes, a store and a secret:
#   - full CRUD of providers, models and projects created through the API
#     ("source":"db") next to those of nginx.conf ("source":"config"): the
#     create answers, the lists with their exact contents, api_key_masked,
#     PATCH applied and visible from both worker processes, DELETE previews
#     that change nothing, confirmed deletes, 404 for unknown ids (GET,
#     PATCH, DELETE, /test), 409 for duplicates and config ids, 409 in_use
#     for a provider that store models still use, 403 for config entities,
#     /v1/models?project= filtering, /v1/status counts and providers map,
#     the provider test reaching a local fake with the decrypted key, the
#     same new id from 12 clients at once (one 200, eleven 409);
#   - the audit log: one entry per create/update/delete with the body as
#     sent (api_key "<redacted>"), ISO-8601 UTC timestamps, source, actor
#     (the client address; a key's name with voicegw_api_key), newest
#     first, the limit/entity_type/entity_id/action filters, 400 for bad
#     filters, no entry for previews or refused writes;
#   - a corpus of well over 50 bad bodies (malformed, truncated, non-object,
#     wrong types, unknown fields, bad ids, unknown types, negative values,
#     invalid UTF-8, NUL bytes, huge numbers, deep nesting, oversized and
#     chunked bodies) at every write endpoint: each a 4xx JSON error, and
#     afterwards the store, the audit log and the worker processes are
#     exactly as before, with nothing alarming in the error log;
#   - provider keys never in clear in the store file or any log, and the
#     whole state (and the sealed keys) survives a restart.

import datetime
import http.server
import itertools
import json
import os
import re
import shutil
import socket
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (SLOW, Nginx, Response, diag, free_port, is_,  # noqa
                    ok, pid_alive, request, tap, wait_for, workdir,
                    secret_key)

T0 = time.time()
d = workdir("041-entities")
port = free_port()

SECRET = secret_key(d)

LIMIT = 16384           # voicegw_api_body_limit 16k


# -- a fake provider for POST /v1/providers/{id}/test ------------------------

PROBES = []


class FakeProvider(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        PROBES.append((self.path, self.headers.get("Authorization")))
        body = b'{"data":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
fake.daemon_threads = True
threading.Thread(target=fake.serve_forever, daemon=True).start()
FAKE_URL = "http://127.0.0.1:%d" % fake.server_address[1]

CONF = """
    voicegw_zone   vg_entities 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store  data/vg.db;
    voicegw_secret %(secret)s;

    voicegw_provider deepgram key=dg-abcdefgh12345678;
    voicegw_model    deepgram/nova-3 modality=stt price_per_minute=0.0043;
    voicegw_stack    fast stt=deepgram/nova-3;
    voicegw_stack    full stt=deepgram/nova-3 llm=oa/gpt-4o-mini
                     tts=deepgram/aura-asteria-en;
    voicegw_project  support "name=Support line" daily_budget=25
                     default_stack=fast tags=prod;

    server {
        listen      127.0.0.1:%(port)d;
        add_header  X-Pid $pid always;

        location / {
            voicegw_api;
            voicegw_api_body_limit 16k;
        }
    }
""" % {"secret": SECRET, "port": port}

ngx = Nginx(d, CONF, workers=2).start(wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")


# -- helpers -----------------------------------------------------------------

NOT_UTF8 = []           # answers whose body is not valid UTF-8


def call(method, path, body=None, headers=None, on=None):
    r = request(method, on or port, path, body=body, headers=headers)
    try:
        r.body.decode("utf-8")
    except UnicodeDecodeError as e:
        NOT_UTF8.append("%s %s -> %d ...%r..." % (
            method, path, r.status, r.body[max(0, e.start - 40):e.start + 8]))
    return r


def js(r):
    return r.json()


def raw_http(data, pieces=None, delay=0.0, on=None, timeout=10):
    """Sends bytes as they are (optionally in pieces with a pause between
    them) and reads one answer: a Response, or None if there was none."""
    s = socket.create_connection(("127.0.0.1", on or port),
                                 timeout=timeout * SLOW)
    try:
        for i, piece in enumerate(pieces or [data]):
            if i and delay:
                time.sleep(delay)       # deliberately: a slow client
            try:
                s.sendall(piece)
            except OSError:
                break
        buf = b""
        while True:
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = [tuple(x.strip() for x in l.split(":", 1)) for l in lines[1:]
               if ":" in l]
    return Response(status, headers, rest)


def chunked(path, chunks, method="POST", extra=b""):
    """A chunked request, as the list of raw pieces to send."""
    head = ("%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            "Content-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n" % (method, path)).encode()
    out = [head]
    ident = fresh().encode()
    for c in chunks:
        c = c.replace(b"@ID", ident)
        out.append(b"%x\r\n%s\r\n" % (len(c), c))
    out.append(b"0\r\n\r\n" + extra)
    return out


# ids of bad requests: "bad1", "bad2", ... one per request
_ids = itertools.count(1)


def fresh():
    return "bad%d" % next(_ids)


def is_error(r, status, code, what):
    """A JSON error: exactly {"detail": non-empty string, "error": code}."""
    j = r.json() if r is not None else None
    good = (r is not None and r.status == status
            and (r.header("Content-Type") or "").startswith(
                "application/json")
            and isinstance(j, dict) and sorted(j) == ["detail", "error"]
            and j["error"] == code and isinstance(j["detail"], str)
            and j["detail"] != "")
    ok(good, "%s: %d %s" % (what, status, code))
    if not good:
        diag("    got: %s %s" % (r and r.status,
                                  r and r.text[:300].replace("\n", " ")))
    return good


LIST_PATHS = ["/v1/providers", "/v1/models", "/v1/projects", "/v1/status",
              "/v1/audit-log?limit=500"]


def snapshot():
    """Every list, every project, the audit log: what must not change."""
    snap = {}
    for p in LIST_PATHS:
        r = call("GET", p)
        snap[p] = (r.status, r.json())
    projects = (snap["/v1/projects"][1] or {}).get("projects", [])
    for pr in projects:
        p = "/v1/projects/" + pr["id"]
        r = call("GET", p)
        snap[p] = (r.status, r.json())
    return snap


def providers():
    return js(call("GET", "/v1/providers"))


def models(query=""):
    return js(call("GET", "/v1/models" + query))


def projects():
    return js(call("GET", "/v1/projects"))


def status():
    return js(call("GET", "/v1/status"))


def audit(query="limit=500"):
    return js(call("GET", "/v1/audit-log?" + query))


# what the audit log must hold, oldest first: (type, id, action, changes)
EXPECTED_AUDIT = []


def redacted(body):
    if not isinstance(body, dict):
        return body
    return {k: ("<redacted>" if k == "api_key" else v)
            for k, v in body.items()}


def write(method, path, body, expect, what, audit_as=None, dropped=False):
    """A write that must succeed with the answer expect; audit_as is the
    (entity_type, entity_id, action) it must leave in the audit log;
    dropped: the write drops the provider's stored key, and the audit
    record says so."""
    r = call(method, path, body=body)
    good = is_(r.status, 200, "%s: 200" % what)
    is_(r.json(), expect, "  answers %s" % json.dumps(expect)[:90])
    if good and audit_as:
        etype, eid, action = audit_as
        changes = (None if action == "delete"
                   else redacted(json.loads(json.dumps(body))))
        if dropped:
            changes["api_key_dropped"] = True
        EXPECTED_AUDIT.append((etype, eid, action, changes))
    return r


def db_provider(pid, ptype, masked, base_url=None):
    return {"provider_id": pid, "provider_type": ptype, "source": "db",
            "api_key_masked": masked, "base_url": base_url}


def model(modality, provider, name, source="db", display_name=None,
          lang=None, voice=None, **prices):
    pricing = {k: prices.get(k) for k in
               ("price_per_minute", "price_per_1k_input_tokens",
                "price_per_1k_output_tokens", "price_per_character")}
    return {"modality": modality, "provider": provider, "model": name,
            "source": source, "display_name": display_name,
            "default_language": lang, "default_voice": voice,
            "pricing": pricing}


def project(pid, name=None, description="", budget=0.0, action="warn",
            stack=None, tags=(), accent="#3498db", source="db"):
    return {"id": pid, "name": name if name is not None else pid,
            "description": description, "daily_budget": budget,
            "budget_action": action, "default_stack": stack,
            "tags": list(tags), "accent": accent, "source": source}


def project_detail(p):
    out = dict(p)
    out.update({"costs_today": {"by_provider": {}, "by_model": {},
                                "total": 0.0},
                "today_spend": 0.0, "budget_status": "ok",
                "today": {"cost_today": 0.0, "requests_today": 0}})
    return out


def status_entry(ptype, source, configured, kind="cloud"):
    return {"configured": configured, "type": kind, "provider_type": ptype,
            "source": source}


CFG_PROVIDER = {"provider_id": "deepgram", "provider_type": "deepgram",
                "source": "config", "api_key_masked": "dg-a...5678",
                "base_url": None}
CFG_MODEL = model("stt", "deepgram", "nova-3", source="config",
                  price_per_minute=0.0043)
CFG_PROJECT = project("support", name="Support line", budget=25.0,
                      stack="fast", tags=["prod"], accent="#2ecc71",
                      source="config")
ZERO = {"cost_today": 0.0, "requests_today": 0}


# -- A. the configuration's entities, before anything is written -------------

is_(providers(), {"providers": [CFG_PROVIDER]},
    "GET /v1/providers: the nginx.conf provider, key masked")
is_(models(), {"models": {"deepgram/nova-3": CFG_MODEL}, "project": None},
    "GET /v1/models: the nginx.conf model")
is_(projects(), {"projects": [CFG_PROJECT], "stats": {"support": ZERO}},
    "GET /v1/projects: the nginx.conf project")
is_(call("GET", "/v1/projects/support").json(),
    project_detail(CFG_PROJECT), "GET /v1/projects/support")
is_(status(), {"providers": {"deepgram": status_entry("deepgram", "config",
                                                      True)},
               "model_count": 1, "project_count": 1},
    "GET /v1/status: one provider, one model, one project")
is_(audit(), [], "the audit log is empty")

# -- A. providers ------------------------------------------------------------

KEYS = {
    "dg-staging": "sk-your-api-key",
    "oa": "sk-oa-0123456789abcdef",
    "openai": "12345678",
    "p" + "0" * 63: "abcdefghi",
    "probe-me": "sk-probe-secret-4242",
}
P64 = "p" + "0" * 63

write("POST", "/v1/providers",
      {"provider_id": "dg-staging", "provider_type": "deepgram",
       "api_key": KEYS["dg-staging"], "base_url": None},
      {"provider_id": "dg-staging", "source": "db",
       "api_key_masked": "sk-y...-key"},
      "POST /v1/providers dg-staging (the seed's body)",
      ("provider", "dg-staging", "create"))
write("POST", "/v1/providers",
      {"provider_id": "oa", "provider_type": "openai",
       "api_key": KEYS["oa"], "base_url": "https://oa.example.test"},
      {"provider_id": "oa", "source": "db", "api_key_masked": "sk-o...cdef"},
      "POST /v1/providers oa", ("provider", "oa", "create"))
write("POST", "/v1/providers",
      {"provider_id": "openai", "api_key": KEYS["openai"]},
      {"provider_id": "openai", "source": "db", "api_key_masked": "********"},
      "POST /v1/providers openai: no provider_type (the id is the type), "
      "an 8-character key", ("provider", "openai", "create"))
write("POST", "/v1/providers",
      {"provider_id": P64, "provider_type": "groq",
       "api_key": KEYS[P64]},
      {"provider_id": P64, "source": "db", "api_key_masked": "abcd...fghi"},
      "POST /v1/providers with a 64-character id and a 9-character key",
      ("provider", P64, "create"))
write("POST", "/v1/providers",
      {"provider_id": "llama.local-1", "provider_type": "ollama"},
      {"provider_id": "llama.local-1", "source": "db", "api_key_masked": ""},
      "POST /v1/providers llama.local-1: local, no key",
      ("provider", "llama.local-1", "create"))
write("POST", "/v1/providers",
      {"provider_id": "nokey", "provider_type": "elevenlabs", "api_key": ""},
      {"provider_id": "nokey", "source": "db", "api_key_masked": ""},
      "POST /v1/providers nokey: cloud, empty key",
      ("provider", "nokey", "create"))
write("POST", "/v1/providers",
      {"provider_id": "probe-me", "provider_type": "openai",
       "api_key": KEYS["probe-me"], "base_url": FAKE_URL},
      {"provider_id": "probe-me", "source": "db",
       "api_key_masked": "sk-p...4242"},
      "POST /v1/providers probe-me (base_url: a local fake)",
      ("provider", "probe-me", "create"))

before = snapshot()
is_error(call("POST", "/v1/providers",
              body={"provider_id": "dg-staging", "provider_type": "openai",
                    "api_key": "sk-other-key-000"}),
         409, "conflict", "POST /v1/providers dg-staging again")
is_error(call("POST", "/v1/providers",
              body={"provider_id": "deepgram", "provider_type": "deepgram",
                    "api_key": "sk-other-key-000"}),
         409, "conflict", "POST /v1/providers deepgram (an nginx.conf id)")
is_(snapshot(), before, "  the duplicates changed nothing")

DB_PROVIDERS = {
    "dg-staging": db_provider("dg-staging", "deepgram", "sk-y...-key"),
    "llama.local-1": db_provider("llama.local-1", "ollama", ""),
    "nokey": db_provider("nokey", "elevenlabs", ""),
    "oa": db_provider("oa", "openai", "sk-o...cdef",
                      "https://oa.example.test"),
    "openai": db_provider("openai", "openai", "********"),
    P64: db_provider(P64, "groq", "abcd...fghi"),
    "probe-me": db_provider("probe-me", "openai", "sk-p...4242", FAKE_URL),
}


def expected_providers():
    return {"providers": [CFG_PROVIDER] + [DB_PROVIDERS[k]
                                           for k in sorted(DB_PROVIDERS)]}


is_(providers(), expected_providers(),
    "GET /v1/providers: nginx.conf's first, then the store's by id, all "
    "\"source\":\"db\" with api_key_masked")

# PATCH
write("PATCH", "/v1/providers/oa", {"api_key": "sk-oa-NEWKEY-99999"},
      {"provider_id": "oa", "updated": True},
      "PATCH /v1/providers/oa {api_key}", ("provider", "oa", "update"))
DB_PROVIDERS["oa"]["api_key_masked"] = "sk-o...9999"
# a new type and base_url without a key: the stored key is dropped, so
# that it never goes where its owner did not send it
write("PATCH", "/v1/providers/dg-staging",
      {"provider_type": "openai", "base_url": "https://dg.example.test/v2"},
      {"provider_id": "dg-staging", "updated": True, "api_key_dropped": True},
      "PATCH /v1/providers/dg-staging {provider_type, base_url}",
      ("provider", "dg-staging", "update"), dropped=True)
DB_PROVIDERS["dg-staging"].update(provider_type="openai",
                                  base_url="https://dg.example.test/v2",
                                  api_key_masked="")
is_(providers(), expected_providers(),
    "  both PATCHes visible, the other fields kept")
write("PATCH", "/v1/providers/dg-staging", {"base_url": None},
      {"provider_id": "dg-staging", "updated": True},
      "PATCH /v1/providers/dg-staging {base_url: null}",
      ("provider", "dg-staging", "update"))
DB_PROVIDERS["dg-staging"]["base_url"] = None
write("PATCH", "/v1/providers/nokey",
      {"provider_id": "nokey", "api_key": "elevenlabs-key-1234"},
      {"provider_id": "nokey", "updated": True},
      "PATCH /v1/providers/nokey naming its own id, with a key",
      ("provider", "nokey", "update"))
DB_PROVIDERS["nokey"]["api_key_masked"] = "elev...1234"
write("PATCH", "/v1/providers/openai", {},
      {"provider_id": "openai", "updated": True},
      "PATCH /v1/providers/openai {} (touches nothing, still audited)",
      ("provider", "openai", "update"))
is_(providers(), expected_providers(), "  visible in GET /v1/providers")

before = snapshot()
is_error(call("PATCH", "/v1/providers/nope", body={"api_key": "sk-x-1234"}),
         404, "not_found", "PATCH /v1/providers/nope")
is_error(call("PATCH", "/v1/providers/deepgram",
              body={"api_key": "sk-x-1234"}),
         403, "read_only", "PATCH /v1/providers/deepgram (nginx.conf)")
is_(snapshot(), before, "  neither changed anything")

# the provider test reaches the fake with the key, decrypted
r = call("POST", "/v1/providers/probe-me/test")
j = r.json() or {}
ok(r.status == 200 and j.get("status") == "ok"
   and j.get("http_status") == 200 and isinstance(j.get("latency_ms"), int),
   "POST /v1/providers/probe-me/test: ok, 200 (%d %s)" % (r.status, r.text))
is_(PROBES[-1:], [("/v1/models", "Bearer " + KEYS["probe-me"])],
    "  the fake saw GET /v1/models with \"Authorization: Bearer <key>\"")
write("PATCH", "/v1/providers/probe-me", {"api_key": "sk-probe-rotated-77"},
      {"provider_id": "probe-me", "updated": True},
      "PATCH /v1/providers/probe-me: a new key",
      ("provider", "probe-me", "update"))
KEYS["probe-me-rotated"] = "sk-probe-rotated-77"
DB_PROVIDERS["probe-me"]["api_key_masked"] = "sk-p...d-77"
r = call("POST", "/v1/providers/probe-me/test")
ok(r.status == 200 and (r.json() or {}).get("status") == "ok",
   "  the test again: ok")
is_(PROBES[-1:], [("/v1/models", "Bearer sk-probe-rotated-77")],
    "  with the new key")
is_error(call("POST", "/v1/providers/nope/test"), 404, "not_found",
         "POST /v1/providers/nope/test")

# -- A. models ---------------------------------------------------------------

write("POST", "/v1/models",
      {"modality": "llm", "provider_id": "oa", "model_name": "gpt-4o-mini",
       "display_name": "GPT-4o mini", "price_per_1k_input_tokens": 0.00015,
       "price_per_1k_output_tokens": 0.0006},
      {"model_id": "oa/gpt-4o-mini", "source": "db", "created": True},
      "POST /v1/models oa/gpt-4o-mini (a store provider)",
      ("model", "oa/gpt-4o-mini", "create"))
write("POST", "/v1/models",
      {"modality": "tts", "provider_id": "deepgram",
       "model_name": "aura-asteria-en", "default_voice": "asteria",
       "price_per_character": 0.000015, "display_name": None},
      {"model_id": "deepgram/aura-asteria-en", "source": "db",
       "created": True},
      "POST /v1/models deepgram/aura-asteria-en (an nginx.conf provider)",
      ("model", "deepgram/aura-asteria-en", "create"))
write("POST", "/v1/models",
      {"modality": "stt", "provider_id": "dg-staging",
       "model_name": "nova-2-general", "default_language": "en",
       "price_per_minute": 0.0058},
      {"model_id": "dg-staging/nova-2-general", "source": "db",
       "created": True},
      "POST /v1/models dg-staging/nova-2-general (the seed's shape)",
      ("model", "dg-staging/nova-2-general", "create"))
write("POST", "/v1/models",
      {"modality": "llm", "provider_id": "llama.local-1",
       "model_name": "Llama-3.1:8b+q4", "price_per_minute": 0},
      {"model_id": "llama.local-1/Llama-3.1:8b+q4", "source": "db",
       "created": True},
      "POST /v1/models with upper case, ':' and '+' in the model name",
      ("model", "llama.local-1/Llama-3.1:8b+q4", "create"))

before = snapshot()
is_error(call("POST", "/v1/models",
              body={"modality": "llm", "provider_id": "oa",
                    "model_name": "gpt-4o-mini"}),
         409, "conflict", "POST /v1/models oa/gpt-4o-mini again")
is_error(call("POST", "/v1/models",
              body={"modality": "stt", "provider_id": "deepgram",
                    "model_name": "nova-3"}),
         409, "conflict", "POST /v1/models deepgram/nova-3 (nginx.conf)")
is_error(call("POST", "/v1/models",
              body={"modality": "stt", "provider_id": "ghost",
                    "model_name": "x"}),
         400, "unknown_provider", "POST /v1/models on an unknown provider")
is_(snapshot(), before, "  none of them changed anything")

DB_MODELS = {
    "oa/gpt-4o-mini": model("llm", "oa", "gpt-4o-mini",
                            display_name="GPT-4o mini",
                            price_per_1k_input_tokens=0.00015,
                            price_per_1k_output_tokens=0.0006),
    "deepgram/aura-asteria-en": model("tts", "deepgram", "aura-asteria-en",
                                      voice="asteria",
                                      price_per_character=0.000015),
    "dg-staging/nova-2-general": model("stt", "dg-staging", "nova-2-general",
                                       lang="en", price_per_minute=0.0058),
    "llama.local-1/Llama-3.1:8b+q4": model("llm", "llama.local-1",
                                           "Llama-3.1:8b+q4",
                                           price_per_minute=0.0),
}


def expected_models(only=None, proj=None):
    allm = dict(DB_MODELS)
    allm["deepgram/nova-3"] = CFG_MODEL
    if only is not None:
        allm = {k: v for k, v in allm.items() if k in only}
    return {"models": allm, "project": proj}


m = models()
is_(m, expected_models(), "GET /v1/models: the nginx.conf model and the "
    "four store models with their pricing, \"source\":\"db\"")
is_(list((m or {}).get("models", {})), ["deepgram/nova-3"] + sorted(DB_MODELS),
    "  nginx.conf's first, then the store's by id")

# -- A. projects -------------------------------------------------------------

# an astral character (json.dumps sends it as a surrogate pair) and a
# backslash before "ud800" (sent as "\\ud800", which is no escape)
CAF_NAME = "Caf\u00e9 \u00e9t\u00e9 \U0001f600 \\ud800"
NEW_APP = {"project_id": "new-app", "name": "New App",
           "description": "A new voice agent", "daily_budget": 5.0,
           "budget_action": "warn", "default_stack": "fast",
           "tags": ["staging"]}
write("POST", "/v1/projects", NEW_APP,
      {"project_id": "new-app", "source": "db", "created": True},
      "POST /v1/projects new-app (the seed's body)",
      ("project", "new-app", "create"))
write("POST", "/v1/projects", {"project_id": "bare"},
      {"project_id": "bare", "source": "db", "created": True},
      "POST /v1/projects bare (only an id)", ("project", "bare", "create"))
write("POST", "/v1/projects",
      {"project_id": "caf.eu_1", "name": CAF_NAME,
       "description": None, "daily_budget": 12.5, "budget_action": "block",
       "default_stack": "full", "tags": ["dev", "eu"], "accent": "#ABC"},
      {"project_id": "caf.eu_1", "source": "db", "created": True},
      "POST /v1/projects caf.eu_1: unicode name (an astral character as a "
      "surrogate pair, a backslash before ud800), block, stack full",
      ("project", "caf.eu_1", "create"))
write("POST", "/v1/projects",
      {"project_id": "x" * 64, "tags": ["qa-team"]},
      {"project_id": "x" * 64, "source": "db", "created": True},
      "POST /v1/projects with a 64-character id",
      ("project", "x" * 64, "create"))

before = snapshot()
is_error(call("POST", "/v1/projects", body={"project_id": "new-app"}),
         409, "conflict", "POST /v1/projects new-app again")
is_error(call("POST", "/v1/projects", body={"project_id": "support"}),
         409, "conflict", "POST /v1/projects support (nginx.conf)")
is_(snapshot(), before, "  neither changed anything")

# the same new id from 12 clients at once, through both worker processes
results = [None] * 12


def racer(i):
    try:
        results[i] = call("POST", "/v1/projects",
                          body={"project_id": "race", "daily_budget": i})
    except Exception as e:                      # noqa: BLE001
        results[i] = e


threads = [threading.Thread(target=racer, args=(i,)) for i in range(12)]
for t in threads:
    t.start()
for t in threads:
    t.join(20)
codes = sorted(getattr(r, "status", repr(r)) for r in results)
is_(codes, [200] + [409] * 11,
    "POST /v1/projects race from 12 clients at once: one 200, eleven 409")
ok(all(r.json().get("error") == "conflict" for r in results
       if getattr(r, "status", 0) == 409), "  the 409s say conflict")
winner = [i for i, r in enumerate(results) if getattr(r, "status", 0) == 200]
race_audit = audit("entity_id=race")
is_([(e["action"], e["changes"]) for e in race_audit],
    [("create", {"project_id": "race", "daily_budget": winner[0]})]
    if winner else [], "  one audit entry, the winner's body")
for e in reversed(race_audit):
    EXPECTED_AUDIT.append(("project", "race", "create", e["changes"]))
is_(call("GET", "/v1/projects/race").json().get("daily_budget"),
    float(winner[0]) if winner else None, "  and the winner's budget")
write("DELETE", "/v1/projects/race?confirm=true", None, {"deleted": "race"},
      "DELETE /v1/projects/race?confirm=true",
      ("project", "race", "delete"))

DB_PROJECTS = {
    "new-app": project("new-app", "New App", "A new voice agent", 5.0,
                       "warn", "fast", ["staging"], "#f1c40f"),
    "bare": project("bare"),
    "caf.eu_1": project("caf.eu_1", CAF_NAME,
                        "", 12.5, "block", "full", ["dev", "eu"], "#ABC"),
    "x" * 64: project("x" * 64, tags=["qa-team"], accent="#e84393"),
}


def expected_projects():
    ids = sorted(DB_PROJECTS)
    return {"projects": [CFG_PROJECT] + [DB_PROJECTS[k] for k in ids],
            "stats": dict([("support", ZERO)] + [(k, ZERO) for k in ids])}


is_(projects(), expected_projects(),
    "GET /v1/projects: the defaults filled in (name = id, budget 0, warn, "
    "no stack, no tags, accents from the first tag), \"source\":\"db\"")
for pid in ("new-app", "bare", "caf.eu_1"):
    is_(call("GET", "/v1/projects/" + pid).json(),
        project_detail(DB_PROJECTS[pid]), "GET /v1/projects/%s" % pid)
for pid in ("nope", "New-App", "support2"):
    is_error(call("GET", "/v1/projects/" + pid), 404, "not_found",
             "GET /v1/projects/%s" % pid)

# models?project=
is_(models("?project=support"),
    expected_models(["deepgram/nova-3"], "support"),
    "GET /v1/models?project=support: the models of stack fast")
is_(models("?project=new-app"),
    expected_models(["deepgram/nova-3"], "new-app"),
    "GET /v1/models?project=new-app (a store project on stack fast)")
is_(models("?project=caf.eu_1"),
    expected_models(["deepgram/nova-3", "oa/gpt-4o-mini",
                     "deepgram/aura-asteria-en"], "caf.eu_1"),
    "GET /v1/models?project=caf.eu_1: stack full, config and store models")
is_(models("?project=bare"), expected_models(None, "bare"),
    "GET /v1/models?project=bare (no stack): every model")
is_error(call("GET", "/v1/models?project=nope"), 404, "not_found",
         "GET /v1/models?project=nope")

# PATCH projects
write("PATCH", "/v1/projects/new-app",
      {"daily_budget": 10.0, "tags": ["production", "voice"],
       "description": None},
      {"project_id": "new-app", "updated": True},
      "PATCH /v1/projects/new-app {daily_budget, tags, description: null}",
      ("project", "new-app", "update"))
DB_PROJECTS["new-app"].update(daily_budget=10.0, description="",
                              tags=["production", "voice"], accent="#2ecc71")
is_(call("GET", "/v1/projects/new-app").json(),
    project_detail(DB_PROJECTS["new-app"]),
    "  visible in GET /v1/projects/new-app (accent follows the new tag)")
write("PATCH", "/v1/projects/new-app", {"default_stack": None},
      {"project_id": "new-app", "updated": True},
      "PATCH /v1/projects/new-app {default_stack: null}",
      ("project", "new-app", "update"))
DB_PROJECTS["new-app"]["default_stack"] = None
is_(models("?project=new-app"), expected_models(None, "new-app"),
    "  GET /v1/models?project=new-app: every model now")
write("PATCH", "/v1/projects/new-app",
      {"project_id": "new-app", "name": "Renamed", "budget_action": "block",
       "default_stack": "full", "accent": "#123456"},
      {"project_id": "new-app", "updated": True},
      "PATCH /v1/projects/new-app {name, budget_action, default_stack, "
      "accent}", ("project", "new-app", "update"))
DB_PROJECTS["new-app"].update(name="Renamed", budget_action="block",
                              default_stack="full", accent="#123456")
is_(projects(), expected_projects(), "  visible in GET /v1/projects")
is_(models("?project=new-app"),
    expected_models(["deepgram/nova-3", "oa/gpt-4o-mini",
                     "deepgram/aura-asteria-en"], "new-app"),
    "  GET /v1/models?project=new-app: stack full's models")

before = snapshot()
is_error(call("PATCH", "/v1/projects/nope", body={"daily_budget": 1}),
         404, "not_found", "PATCH /v1/projects/nope")
is_error(call("PATCH", "/v1/projects/support", body={"daily_budget": 1}),
         403, "read_only", "PATCH /v1/projects/support (nginx.conf)")
is_(snapshot(), before, "  neither changed anything")

is_(status(),
    {"providers": dict(
        [("deepgram", status_entry("deepgram", "config", True))]
        + [("dg-staging", status_entry("openai", "db", False)),
           ("llama.local-1", status_entry("ollama", "db", True, "local")),
           ("nokey", status_entry("elevenlabs", "db", True)),
           ("oa", status_entry("openai", "db", True)),
           ("openai", status_entry("openai", "db", True)),
           (P64, status_entry("groq", "db", True)),
           ("probe-me", status_entry("openai", "db", True))]),
     "model_count": 5, "project_count": 5},
    "GET /v1/status: every provider (local without a key is configured), "
    "5 models, 5 projects")

# a cloud provider without a key is not configured
write("POST", "/v1/providers", {"provider_id": "cartesia"},
      {"provider_id": "cartesia", "source": "db", "api_key_masked": ""},
      "POST /v1/providers cartesia, no key",
      ("provider", "cartesia", "create"))
DB_PROVIDERS["cartesia"] = db_provider("cartesia", "cartesia", "")
is_((status() or {}).get("providers", {}).get("cartesia"),
    status_entry("cartesia", "db", False),
    "  /v1/status: cartesia is not configured")

# -- A. deletes --------------------------------------------------------------

before = snapshot()
r = call("DELETE", "/v1/providers/oa")
is_((r.status, r.json()),
    (200, {"would_delete": {"provider_id": "oa",
                            "models": ["oa/gpt-4o-mini"]}}),
    "DELETE /v1/providers/oa: a preview naming its model")
is_(snapshot(), before, "  the preview changed nothing")
is_error(call("DELETE", "/v1/providers/oa?confirm=true"), 409, "in_use",
         "DELETE /v1/providers/oa?confirm=true while oa/gpt-4o-mini uses it")
is_(snapshot(), before, "  refused: nothing changed")
r = call("DELETE", "/v1/models/oa/gpt-4o-mini")
is_((r.status, r.json()),
    (200, {"would_delete": {"model_id": "oa/gpt-4o-mini"}}),
    "DELETE /v1/models/oa/gpt-4o-mini: a preview")
r = call("DELETE", "/v1/models/oa/gpt-4o-mini?confirm=false")
is_((r.status, r.json()),
    (200, {"would_delete": {"model_id": "oa/gpt-4o-mini"}}),
    "DELETE /v1/models/oa/gpt-4o-mini?confirm=false: a preview too")
is_(snapshot(), before, "  the previews changed nothing")

write("DELETE", "/v1/models/oa/gpt-4o-mini?confirm=true", None,
      {"deleted": "oa/gpt-4o-mini"},
      "DELETE /v1/models/oa/gpt-4o-mini?confirm=true",
      ("model", "oa/gpt-4o-mini", "delete"))
del DB_MODELS["oa/gpt-4o-mini"]
is_(models(), expected_models(), "  gone from GET /v1/models")
is_(models("?project=caf.eu_1"),
    expected_models(["deepgram/nova-3", "deepgram/aura-asteria-en"],
                    "caf.eu_1"),
    "  and from stack full's models")
is_error(call("DELETE", "/v1/models/oa/gpt-4o-mini"), 404, "not_found",
         "DELETE /v1/models/oa/gpt-4o-mini again (preview)")
is_error(call("DELETE", "/v1/models/oa/gpt-4o-mini?confirm=true"), 404,
         "not_found", "DELETE /v1/models/oa/gpt-4o-mini?confirm=true again")

r = call("DELETE", "/v1/providers/oa")
is_((r.status, r.json()),
    (200, {"would_delete": {"provider_id": "oa", "models": []}}),
    "DELETE /v1/providers/oa: a preview, no models left")
write("DELETE", "/v1/providers/oa?confirm=true", None, {"deleted": "oa"},
      "DELETE /v1/providers/oa?confirm=true", ("provider", "oa", "delete"))
del DB_PROVIDERS["oa"]
is_(providers(), expected_providers(), "  gone from GET /v1/providers")
ok("oa" not in (status() or {}).get("providers", {}),
   "  and from /v1/status")

r = call("DELETE", "/v1/projects/bare")
is_((r.status, r.json()), (200, {"would_delete": {"project_id": "bare"}}),
    "DELETE /v1/projects/bare: a preview")
is_(call("GET", "/v1/projects/bare").status, 200, "  bare is still there")
write("DELETE", "/v1/projects/bare?confirm=true", None, {"deleted": "bare"},
      "DELETE /v1/projects/bare?confirm=true", ("project", "bare", "delete"))
del DB_PROJECTS["bare"]
is_error(call("GET", "/v1/projects/bare"), 404, "not_found",
         "  GET /v1/projects/bare: 404")
is_error(call("GET", "/v1/models?project=bare"), 404, "not_found",
         "  GET /v1/models?project=bare: 404")
is_(projects(), expected_projects(), "  gone from GET /v1/projects")

before = snapshot()
for path, code, what in [
        ("/v1/providers/oa", 404, "not_found"),
        ("/v1/providers/oa?confirm=true", 404, "not_found"),
        ("/v1/providers/nope", 404, "not_found"),
        ("/v1/models/nope/x", 404, "not_found"),
        ("/v1/models/oa/gpt-4o-mini?confirm=true", 404, "not_found"),
        ("/v1/projects/bare", 404, "not_found"),
        ("/v1/projects/nope?confirm=true", 404, "not_found"),
        ("/v1/providers/deepgram", 403, "read_only"),
        ("/v1/providers/deepgram?confirm=true", 403, "read_only"),
        ("/v1/models/deepgram/nova-3", 403, "read_only"),
        ("/v1/models/deepgram/nova-3?confirm=true", 403, "read_only"),
        ("/v1/projects/support", 403, "read_only"),
        ("/v1/projects/support?confirm=true", 403, "read_only")]:
    is_error(call("DELETE", path), code, what, "DELETE %s" % path)
for path in ("/v1/providers/oa", "/v1/projects/bare"):
    is_error(call("PATCH", path, body={}), 404, "not_found",
             "PATCH %s after its delete" % path)
is_error(call("POST", "/v1/providers/oa/test"), 404, "not_found",
         "POST /v1/providers/oa/test after its delete")
is_(snapshot(), before, "  none of them changed anything")

is_(status(),
    {"providers": dict(
        [("deepgram", status_entry("deepgram", "config", True))]
        + [("cartesia", status_entry("cartesia", "db", False)),
           ("dg-staging", status_entry("openai", "db", False)),
           ("llama.local-1", status_entry("ollama", "db", True, "local")),
           ("nokey", status_entry("elevenlabs", "db", True)),
           ("openai", status_entry("openai", "db", True)),
           (P64, status_entry("groq", "db", True)),
           ("probe-me", status_entry("openai", "db", True))]),
     "model_count": 4, "project_count": 4},
    "GET /v1/status after the deletes: 4 models, 4 projects")

# both worker processes see the same, on fresh connections
pids, views = set(), []
for i in range(90):
    r = call("GET", ("/v1/providers", "/v1/models", "/v1/projects")[i % 3])
    pids.add(r.header("X-Pid"))
    views.append((i % 3, r.json()))
    if i >= 29 and len(pids - {None}) == 2:
        break
is_(len(pids - {None}), 2, "%d fresh GETs were served by both worker "
    "processes (%s)" % (len(views), sorted(p for p in pids if p)))
is_(sorted(set(json.dumps(v, sort_keys=True) for _, v in views)),
    sorted(json.dumps(v, sort_keys=True) for v in
           (expected_providers(), expected_models(), expected_projects())),
    "  and every answer was the one in this test's books")

# -- C. the audit log --------------------------------------------------------

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
full = audit("limit=500") or []
got = [(e.get("entity_type"), e.get("entity_id"), e.get("action"),
        e.get("changes")) for e in reversed(full)]
is_(len(full), len(EXPECTED_AUDIT),
    "GET /v1/audit-log: one entry per successful write (%d), none for "
    "previews or refused writes" % len(EXPECTED_AUDIT))
ok(got == EXPECTED_AUDIT,
   "  each with entity_type, entity_id, action and the body as sent "
   "(api_key \"<redacted>\", null for a delete), in order")
if got != EXPECTED_AUDIT:
    for i, (g, e) in enumerate(zip(got, EXPECTED_AUDIT)):
        if g != e:
            diag("first difference at entry %d:\n  got      %r\n  expected "
                 "%r" % (i, g, e))
            break
is_(sorted(set(tuple(sorted(e)) for e in full)),
    [("action", "actor", "changes", "entity_id", "entity_type", "id",
      "source", "timestamp")],
    "  every entry has exactly id, timestamp, entity_type, entity_id, "
    "action, changes, source, actor")
ids = [e.get("id") for e in full]
ok(all(isinstance(i, int) for i in ids)
   and all(a > b for a, b in zip(ids, ids[1:])),
   "  newest first: ids strictly decreasing")
stamps = [e.get("timestamp") or "" for e in full]
ok(all(TS.match(s) for s in stamps),
   "  timestamps are ISO-8601 UTC (%s)" % (stamps[:1],))


def epoch(s):
    try:
        t = datetime.datetime.strptime(s.rstrip("Z").split(".")[0],
                                       "%Y-%m-%dT%H:%M:%S")
        return t.replace(tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return None


ep = [epoch(s) for s in stamps]
ok(all(e is not None and T0 - 2 <= e <= time.time() + 2 for e in ep)
   and all(a >= b for a, b in zip(stamps, stamps[1:])),
   "  taken during this test, in UTC, non-increasing")
is_(sorted(set(e.get("source") for e in full)), ["api"],
    "  source \"api\" on every entry")
is_(sorted(set(e.get("actor") for e in full)), ["127.0.0.1"],
    "  actor: the client's address (no voicegw_api_key)")
deletes = [(e["entity_type"], e["entity_id"]) for e in full
           if e.get("action") == "delete"]
is_(sorted(deletes), [("model", "oa/gpt-4o-mini"), ("project", "bare"),
                      ("project", "race"), ("provider", "oa")],
    "  the four confirmed deletes, and no preview")
text = call("GET", "/v1/audit-log?limit=500").text
leaked = [k for k in KEYS.values() if k in text]
is_(leaked, [], "  no API key appears in the audit log")

# filters
is_(audit(""), full[:50], "default limit: the newest 50 (%d here)"
    % min(50, len(full)))
is_(audit("limit=3"), full[:3], "limit=3: the newest 3")
is_(audit("limit=1"), full[:1], "limit=1")
for etype in ("provider", "model", "project"):
    is_(audit("limit=500&entity_type=" + etype),
        [e for e in full if e["entity_type"] == etype],
        "entity_type=%s" % etype)
for action in ("create", "update", "delete"):
    is_(audit("limit=500&action=" + action),
        [e for e in full if e["action"] == action], "action=%s" % action)
is_(audit("entity_id=new-app"),
    [e for e in full if e["entity_id"] == "new-app"],
    "entity_id=new-app: its create and three updates")
is_(len(audit("entity_id=new-app")), 4, "  (4 entries)")
is_(audit("entity_id=oa%2Fgpt-4o-mini"),
    [e for e in full if e["entity_id"] == "oa/gpt-4o-mini"],
    "entity_id=oa%2Fgpt-4o-mini (escaped): its create and delete")
is_(audit("entity_type=project&action=update&limit=2"),
    [e for e in full if e["entity_type"] == "project"
     and e["action"] == "update"][:2],
    "entity_type=project&action=update&limit=2 combine")
is_(audit("entity_type=provider&entity_id=oa&action=delete"),
    [e for e in full if (e["entity_type"], e["entity_id"], e["action"])
     == ("provider", "oa", "delete")],
    "entity_type=provider&entity_id=oa&action=delete: exactly one")
is_(audit("entity_type=model&entity_id=oa"), [],
    "entity_type=model&entity_id=oa: none (the filters AND)")
is_(audit("entity_id=nope"), [], "entity_id=nope: []")
for q in ("limit=0", "limit=501", "limit=-1", "limit=abc", "limit=",
          "limit=1.5", "limit=10x", "limit=99999999999999999999",
          "entity_type=providers", "entity_type=", "action=created",
          "action=DELETE"):
    is_error(call("GET", "/v1/audit-log?" + q), 400, "invalid_query",
             "GET /v1/audit-log?%s" % q)
is_(len(audit("limit=500")), len(full), "reading the log added nothing")

# the audit log keeps the fields as applied: base_url without its trailing /
body = {"provider_id": "slash", "provider_type": "openai",
        "base_url": "http://127.0.0.1:9/"}
r = call("POST", "/v1/providers", body=body)
is_(r.status, 200, "POST /v1/providers slash with base_url "
    "\"http://127.0.0.1:9/\"")
DB_PROVIDERS["slash"] = db_provider("slash", "openai", "",
                                    "http://127.0.0.1:9")
is_(providers(), expected_providers(),
    "  the store keeps base_url without the trailing /")
newest = (audit("limit=1") or [{}])[0]
is_((newest.get("entity_id"), newest.get("action"), newest.get("changes")),
    ("slash", "create", dict(body, base_url="http://127.0.0.1:9")),
    "  its audit entry's changes are the fields as applied")

# -- B. bad input changes nothing --------------------------------------------

PV, MD, PJ = "/v1/providers", "/v1/models", "/v1/projects"
PVX, PJX = "/v1/providers/dg-staging", "/v1/projects/new-app"


def pad(obj, size):
    """obj as JSON, padded with spaces to exactly size bytes."""
    b = json.dumps(obj).encode()
    return b + b" " * (size - len(b))


# every bad request names an id of its own ("@ID" in raw bodies, see
# fresh()), so that one wrongly accepted cannot turn the next into 409s


def dg(**kw):
    return dict({"provider_id": fresh(), "provider_type": "deepgram"}, **kw)


def mm(**kw):
    return dict({"modality": "stt", "provider_id": "deepgram",
                 "model_name": fresh()}, **kw)


def pj(**kw):
    return dict({"project_id": fresh()}, **kw)


E400J, E400B, E400F = ((400, "invalid_json"), (400, "invalid_body"),
                       (400, "invalid_field"))
E400I, E400U = (400, "invalid_id"), (400, "unknown_field")
E413 = (413, "body_too_large")

CORPUS = [
    # -- POST /v1/providers
    ("POST", PV, b'{"provider_id":"@ID","provider_type":"deepgram"',
     E400J, "truncated JSON"),
    ("POST", PV, b'{"provider_id":', E400J, "truncated after a key"),
    ("POST", PV, b'{', E400J, "a lone {"),
    ("POST", PV, b'{"provider_id":"@ID",,}', E400J, "malformed JSON"),
    ("POST", PV, b"{'provider_id':'bad1'}", E400J, "single quotes"),
    ("POST", PV, b'{provider_id:"@ID"}', E400J, "a bare key"),
    ("POST", PV, b'[{"provider_id":"@ID"}]', E400B, "an array"),
    ("POST", PV, b'"@ID"', E400B, "a string"),
    ("POST", PV, b'42', E400B, "a number"),
    ("POST", PV, b'null', E400B, "null"),
    ("POST", PV, b'true', E400B, "true"),
    ("POST", PV, b'', E400B, "an empty body"),
    ("POST", PV, dg(provider_id=7), E400F, "provider_id a number"),
    ("POST", PV, dg(provider_id=None), E400F, "provider_id null"),
    ("POST", PV, dg(provider_type=["deepgram"]), E400F,
     "provider_type an array"),
    ("POST", PV, dg(api_key=12345), E400F, "api_key a number"),
    ("POST", PV, dg(api_key={"k": "v"}), E400F, "api_key an object"),
    ("POST", PV, dg(base_url=True), E400F, "base_url true"),
    ("POST", PV, dg(colour="red"), E400U, "an unknown field"),
    ("POST", PV, dg(Provider_id="bad2"), E400U, "a field in the wrong case"),
    ("POST", PV, {"provider_type": "deepgram"}, E400I, "no provider_id"),
    ("POST", PV, dg(provider_id="Bad1"), E400I, "id in upper case"),
    ("POST", PV, dg(provider_id=".bad"), E400I, "id with a leading dot"),
    ("POST", PV, dg(provider_id="-bad"), E400I, "id with a leading -"),
    ("POST", PV, dg(provider_id="b" * 65), E400I, "a 65-character id"),
    ("POST", PV, dg(provider_id="bad/1"), E400I, "id with a slash"),
    ("POST", PV, dg(provider_id="bad 1"), E400I, "id with a space"),
    ("POST", PV, dg(provider_id="caf\u00e9"), E400I, "id with unicode"),
    ("POST", PV, dg(provider_id=""), E400I, "an empty id"),
    ("POST", PV, dg(provider_id="bad1\u0000x"), E400F, "id with a NUL"),
    ("POST", PV, dg(provider_type="watson"), (400, "unknown_provider_type"),
     "unknown provider_type"),
    ("POST", PV, dg(provider_type="Deepgram"),
     (400, "unknown_provider_type"), "provider_type in the wrong case"),
    ("POST", PV, {"provider_id": "@ID"}, (400, "unknown_provider_type"),
     "no provider_type, and the id is no type"),
    ("POST", PV, dg(base_url="ftp://x.test"), E400F, "base_url ftp://"),
    ("POST", PV, dg(base_url="http://"), E400F, "base_url http:// alone"),
    ("POST", PV, dg(base_url="http://a b.test"), E400F,
     "base_url with a space"),
    ("POST", PV, dg(api_key="sk-\n-x"), E400F, "api_key with a newline"),
    ("POST", PV, dg(api_key="k" * 4097), E400F, "api_key of 4097 bytes"),
    ("POST", PV,
     b'{"provider_id":"@ID","provider_type":"deepgram","api_key":"\xff\xfe"}',
     E400J, "invalid UTF-8 (0xff 0xfe)"),
    ("POST", PV, b'{"provider_id":"@ID","provider_type":"deepgram"}\x00',
     E400J, "a NUL byte after the object"),
    # -- PATCH /v1/providers/dg-staging
    ("PATCH", PVX, {"provider_type": "nope"}, (400, "unknown_provider_type"),
     "unknown provider_type"),
    ("PATCH", PVX, {"provider_type": None}, E400F, "provider_type null"),
    ("PATCH", PVX, {"provider_id": "other"}, E400F, "another provider_id"),
    ("PATCH", PVX, {"base_url": "javascript:alert(1)"}, E400F,
     "base_url javascript:"),
    ("PATCH", PVX, {"api_key": ["a"]}, E400F, "api_key an array"),
    ("PATCH", PVX, {"api_key": "sk-x-1234", "extra": 1}, E400U,
     "an unknown field"),
    ("PATCH", PVX, b'{"api_key":"abc"', E400J, "truncated JSON"),
    ("PATCH", PVX, b'[]', E400B, "an empty array"),
    ("PATCH", PVX, b'', E400B, "an empty body"),
    ("PATCH", "/v1/providers/deepgram", {"provider_type": "nope"},
     (403, "read_only"), "an nginx.conf provider"),
    # -- POST /v1/models
    ("POST", MD, mm(modality="video"), (400, "unknown_modality"),
     "unknown modality"),
    ("POST", MD, mm(modality="STT"), (400, "unknown_modality"),
     "modality in upper case"),
    ("POST", MD, mm(modality=1), E400F, "modality a number"),
    ("POST", MD, mm(modality=True), E400F, "modality true"),
    ("POST", MD, {"provider_id": "deepgram", "model_name": "x"},
     (400, "missing_field"), "no modality"),
    ("POST", MD, {"modality": "stt", "model_name": "x"},
     (400, "missing_field"), "no provider_id"),
    ("POST", MD, {"modality": "stt", "provider_id": "deepgram"},
     (400, "missing_field"), "no model_name"),
    ("POST", MD, mm(provider_id="ghost"), (400, "unknown_provider"),
     "an unknown provider"),
    ("POST", MD, mm(provider_id="Deepgram"), E400I, "provider_id in upper "
     "case"),
    ("POST", MD, mm(model_name="a/b"), E400I, "model_name with a slash"),
    ("POST", MD, mm(model_name=""), E400I, "an empty model_name"),
    ("POST", MD, mm(model_name=".x"), E400I, "model_name with a leading ."),
    ("POST", MD, mm(model_name="m" * 129), E400I,
     "a 129-character model_name"),
    ("POST", MD, mm(model_name="n\u00f6va"), E400I, "model_name unicode"),
    ("POST", MD, mm(price_per_minute=-0.01), E400F,
     "a negative price_per_minute"),
    ("POST", MD, mm(price_per_1k_input_tokens=-1), E400F,
     "a negative price_per_1k_input_tokens"),
    ("POST", MD, mm(price_per_1k_output_tokens=1e7), E400F,
     "price_per_1k_output_tokens over 1e6"),
    ("POST", MD, mm(price_per_character="0.1"), E400F,
     "price_per_character a string"),
    ("POST", MD, mm(price_per_minute=[1]), E400F, "a price an array"),
    ("POST", MD,
     b'{"modality":"stt","provider_id":"deepgram","model_name":"@ID",'
     b'"price_per_minute":1e400}', E400J, "price_per_minute 1e400"),
    ("POST", MD, mm(display_name=123), E400F, "display_name a number"),
    ("POST", MD, mm(default_language={"en": 1}), E400F,
     "default_language an object"),
    ("POST", MD, mm(display_name="x" * 4097), E400F,
     "display_name of 4097 bytes"),
    ("POST", MD, mm(vendor="y"), E400U, "an unknown field"),
    ("POST", MD,
     b'{"modality":"stt","provider_id":"deepgram","model_name":"@ID",'
     b'"display_name":"a\xc0\xafb"}', E400J,
     "invalid UTF-8 (overlong 0xc0 0xaf)"),
    ("POST", MD, b'{"modality":"stt","provider_id":"deepgram",'
     b'"model_name":"@ID"', E400J, "truncated JSON"),
    # -- POST /v1/projects
    ("POST", PJ, pj(daily_budget=-1), E400F, "a negative daily_budget"),
    ("POST", PJ, pj(daily_budget=-0.01), E400F, "daily_budget -0.01"),
    ("POST", PJ, pj(daily_budget="5"), E400F, "daily_budget a string"),
    ("POST", PJ, pj(daily_budget=None), E400F, "daily_budget null"),
    ("POST", PJ, pj(daily_budget=1e10), E400F, "daily_budget 1e10"),
    ("POST", PJ, b'{"project_id":"@ID","daily_budget":1e400}', E400J,
     "daily_budget 1e400"),
    ("POST", PJ, b'{"project_id":"@ID","daily_budget":-1e400}', E400J,
     "daily_budget -1e400"),
    ("POST", PJ,
     b'{"project_id":"@ID","daily_budget":99999999999999999999999}',
     E400F, "daily_budget a 23-digit integer"),
    ("POST", PJ, b'{"project_id":"@ID","daily_budget":NaN}', E400J,
     "daily_budget NaN"),
    ("POST", PJ, b'{"project_id":"@ID","daily_budget":0x10}', E400J,
     "daily_budget in hex"),
    ("POST", PJ, pj(budget_action="stop"), E400F, "budget_action stop"),
    ("POST", PJ, pj(budget_action="WARN"), E400F, "budget_action WARN"),
    ("POST", PJ, pj(budget_action=None), E400F, "budget_action null"),
    ("POST", PJ, pj(accent="red"), E400F, "accent red"),
    ("POST", PJ, pj(accent="#12345"), E400F, "accent #12345"),
    ("POST", PJ, pj(accent="#ggg"), E400F, "accent #ggg"),
    ("POST", PJ, pj(accent=123456), E400F, "accent a number"),
    ("POST", PJ, pj(tags={"a": 1}), E400F, "tags an object"),
    ("POST", PJ, pj(tags=[1, 2]), E400F, "tags numbers"),
    ("POST", PJ, pj(tags="prod"), E400F, "tags a string"),
    ("POST", PJ, pj(tags=[""]), E400F, "an empty tag"),
    ("POST", PJ, pj(tags=["t" * 65]), E400F, "a 65-byte tag"),
    ("POST", PJ, pj(tags=["t"] * 65), E400F, "65 tags"),
    ("POST", PJ, pj(tags=[None]), E400F, "a null tag"),
    ("POST", PJ, pj(tags=["a\u0000b"]), E400F, "a tag with a NUL"),
    ("POST", PJ, pj(default_stack="nope"), (400, "unknown_stack"),
     "an unknown default_stack"),
    ("POST", PJ, pj(default_stack=5), E400F, "default_stack a number"),
    ("POST", PJ, pj(name=""), E400F, "an empty name"),
    ("POST", PJ, pj(name="n" * 257), E400F, "a 257-byte name"),
    ("POST", PJ, pj(name=5), E400F, "name a number"),
    ("POST", PJ, pj(name="a\u0000b"), E400F, "a NUL in name (\\u0000)"),
    ("POST", PJ, pj(description="d" * 4097), E400F,
     "a 4097-byte description"),
    ("POST", PJ, pj(owner="me"), E400U, "an unknown field"),
    ("POST", PJ, {"name": "x"}, E400I, "no project_id"),
    ("POST", PJ, pj(project_id="UPPER"), E400I, "id in upper case"),
    ("POST", PJ, pj(project_id="a" * 65), E400I, "a 65-character id"),
    ("POST", PJ, pj(project_id="\u00e9t\u00e9"), E400I, "id with unicode"),
    ("POST", PJ, pj(project_id="a b"), E400I, "id with a space"),
    ("POST", PJ, pj(project_id="a/b"), E400I, "id with a slash"),
    ("POST", PJ, pj(project_id=".hidden"), E400I, "id with a leading dot"),
    ("POST", PJ, pj(project_id="_x"), E400I, "id with a leading _"),
    ("POST", PJ, pj(project_id=["@ID"]), E400F, "project_id an array"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\x00b"}', E400J,
     "a raw NUL byte in a string"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\xffb"}', E400J,
     "invalid UTF-8 (0xff)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\x80b"}', E400J,
     "invalid UTF-8 (a lone continuation byte)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"\xe2\x82"}', E400J,
     "invalid UTF-8 (a truncated sequence)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\xc0\xafb"}', E400J,
     "invalid UTF-8 (overlong 0xc0 0xaf)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\xed\xa0\x80b"}', E400J,
     "invalid UTF-8 (an encoded surrogate, 0xed 0xa0 0x80)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\xf4\x90\x80\x80b"}', E400J,
     "invalid UTF-8 (past U+10FFFF, 0xf4 0x90 0x80 0x80)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\\ud800b"}', E400J,
     "a lone high surrogate escape (\\ud800)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"a\\udfffb"}', E400J,
     "a lone low surrogate escape (\\udfff)"),
    ("POST", PJ, b'{"project_id":"@ID","name":"\\udbff"}', E400J,
     "a high surrogate escape ending the string"),
    ("POST", PJ, b'{"project_id":"@ID","name":"\\ud83d\\u0041"}', E400J,
     "a high surrogate escape before a non-surrogate one"),
    ("POST", PJ, b'{"project_id":"@ID","name":"\\ud83d\\n\\ude00"}', E400J,
     "a high surrogate escape before \\n"),
    ("POST", PJ, b'{"project_id":"@ID","name":"\\ude00\\ud83d"}', E400J,
     "surrogate escapes in the wrong order"),
    ("POST", PJ, b'{"project_id":"@ID","\\ud800":1}', E400J,
     "a lone surrogate escape in a key"),
    ("POST", PJ, b'{"project_id":"@ID","tags":' + b"[" * 70 + b"]" * 70
     + b"}", E400J, "tags nested 70 deep"),
    ("POST", PJ, b"[" * 8000, E400J, "8000 ['s"),
    ("POST", PJ, b'{"a":' * 100 + b"1" + b"}" * 100, E400J,
     "objects nested 100 deep"),
    ("POST", PJ, b'{"project_id":"@ID"} {}', E400J, "two documents"),
    ("POST", PJ, b'\xef\xbb\xbf{"project_id":"@ID"}', E400J, "a BOM"),
    ("POST", PJ, b'/* hi */{"project_id":"@ID"}', E400J, "a comment"),
    ("POST", PJ, b'{"project_id":"@ID",}', E400J, "a trailing comma"),
    ("POST", PJ, b"   \r\n\t ", E400J, "only whitespace"),
    ("POST", PJ, pad(pj(), LIMIT + 1), E413,
     "a body of limit + 1 bytes"),
    ("POST", PJ, pad(pj(), 200000), E413,
     "a body of 200000 bytes"),
    # -- PATCH /v1/projects/new-app
    ("PATCH", PJX, {"project_id": "other"}, E400F, "another project_id"),
    ("PATCH", PJX, {"daily_budget": -5}, E400F, "a negative daily_budget"),
    ("PATCH", PJX, {"budget_action": "maybe"}, E400F, "budget_action maybe"),
    ("PATCH", PJX, {"accent": "#1234567"}, E400F, "accent #1234567"),
    ("PATCH", PJX, {"default_stack": "nope"}, (400, "unknown_stack"),
     "an unknown default_stack"),
    ("PATCH", PJX, {"tags": [["x"]]}, E400F, "tags nested"),
    ("PATCH", PJX, {"tags": None}, E400F, "tags null"),
    ("PATCH", PJX, {"name": None}, E400F, "name null"),
    ("PATCH", PJX, {"name": "ok", "x": 1}, E400U, "an unknown field"),
    ("PATCH", PJX, b'{"name":', E400J, "truncated JSON"),
    ("PATCH", PJX, b'"x"', E400B, "a string"),
    ("PATCH", PJX, b'{"daily_budget":1e999}', E400J, "daily_budget 1e999"),
    ("PATCH", PJX, pad({"name": "x"}, LIMIT + 1), E413,
     "a body of limit + 1 bytes"),
    ("PATCH", "/v1/projects/support", {"daily_budget": -1}, E400F,
     "an nginx.conf project, a negative budget"),
    ("PATCH", "/v1/projects/support", {"daily_budget": 1},
     (403, "read_only"), "an nginx.conf project"),
    # -- the wrong method, a bad confirm
    ("PUT", PJ, pj(), (405, "method_not_allowed"),
     "PUT on the list"),
    ("PATCH", "/v1/models/deepgram/aura-asteria-en", {"display_name": "x"},
     (405, "method_not_allowed"), "PATCH of a model"),
    ("DELETE", "/v1/projects/new-app?confirm=yes", None,
     (400, "invalid_query"), "confirm=yes"),
    ("DELETE", "/v1/providers/dg-staging?confirm=1", None,
     (400, "invalid_query"), "confirm=1"),
    ("DELETE", "/v1/models/deepgram/aura-asteria-en?confirm=", None,
     (400, "invalid_query"), "confirm="),
]

# raw requests: chunked bodies, no body at all
RAW = [
    (chunked(PJ, [b'{"project_id":', b'"@ID",', b'"daily_budget":-1}']),
     0, E400F, "POST /v1/projects chunked, a negative budget"),
    (chunked(PJ, [b'{"project_id":"@ID"', b',,}']), 0, E400J,
     "POST /v1/projects chunked, malformed JSON"),
    (chunked(PV, [b'[', b'1]']), 0, E400B,
     "POST /v1/providers chunked, an array"),
    (chunked(MD, [b'{"modality":"stt","provider_id":"deepgram",',
                  b'"model_name":"@ID","display_name":"a\xc0',
                  b'\xafb"}']), 0.05, E400J,
     "POST /v1/models chunked and slow, overlong UTF-8 across chunks"),
    (chunked(PJ, [b" " * 4096] * 5 + [b'{"project_id":"@ID"}']), 0, E413,
     "POST /v1/projects chunked, 20 KiB"),
    (chunked(PJ, [b" " * 8192] * 25 + [b'{"project_id":"@ID"}']), 0, E413,
     "POST /v1/projects chunked, 200 KiB"),
    (chunked(PJ, [b" " * 8192] * 25 + [b'{"project_id":"@ID"}']), 0.01,
     E413, "POST /v1/projects chunked, 200 KiB in slow pieces"),
    ([b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"], 0,
     (400, "invalid_body"), "POST /v1/projects, a bad chunk size"),
    ([b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"pro",
      b"\r\nzz\r\nxx\r\n0\r\n\r\n"], 0.2, (400, "invalid_body"),
     "POST /v1/projects, a bad chunk size after a pause"),
    ([b"PATCH /v1/projects/new-app HTTP/1.1\r\nHost: x\r\n"
      b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
      b"3\r\n{}}\r\n0\r\n\r\n"], 0, E400J,
     "PATCH /v1/projects/new-app chunked, trailing garbage"),
    ([b"POST /v1/providers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"],
     0, (400, "invalid_body"), "POST /v1/providers without any body"),
    ([b"POST /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
      b"Content-Length: 0\r\n\r\n"], 0, (400, "invalid_body"),
     "POST /v1/models with Content-Length: 0"),
    ([b"PATCH /v1/projects/new-app HTTP/1.1\r\nHost: x\r\n"
      b"Connection: close\r\nContent-Length: 999999999\r\n\r\n{}"], 0, E413,
     "PATCH /v1/projects/new-app declaring 999999999 bytes"),
]

before = snapshot()
pids_before = ngx.worker_pids()
is_(len(pids_before), 2, "two worker processes before the corpus")

for method, path, body, (code, err), what in CORPUS:
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    if isinstance(body, bytes):
        body = body.replace(b"@ID", fresh().encode())
    r = call(method, path, body=body)
    is_error(r, code, err, "%s %s, %s" % (method, path, what))

for pieces, delay, (code, err), what in RAW:
    ident = fresh().encode()
    r = raw_http(None, pieces=[p.replace(b"@ID", ident) for p in pieces],
                 delay=delay)
    is_error(r, code, err, what)

after = snapshot()
AUDIT_PATH = "/v1/audit-log?limit=500"
changed = sorted(p for p in set(before) | set(after)
                 if p != AUDIT_PATH and before.get(p) != after.get(p))
is_(changed, [], "after %d bad requests the store is unchanged: every "
    "list, every project, /v1/status" % (len(CORPUS) + len(RAW)))
for p in changed:
    diag("changed: %s\n  before %s\n  after  %s"
         % (p, json.dumps(before.get(p))[:300],
            json.dumps(after.get(p))[:300]))
last_id = max([e["id"] for e in before[AUDIT_PATH][1]] or [0])
is_([(e.get("entity_type"), e.get("entity_id"), e.get("action"))
     for e in (after.get(AUDIT_PATH) or (0, []))[1] or []
     if e.get("id", 0) > last_id], [],
    "the audit log has no new entry")
is_([e for e in (after.get(AUDIT_PATH) or (0, []))[1] or []
     if e.get("id", 0) <= last_id], before[AUDIT_PATH][1],
    "  and its old entries are as they were")
is_(ngx.worker_pids(), pids_before,
    "the same worker processes are alive (%s)" % pids_before)
ok(pid_alive(ngx.master_pid() or 0), "and the master process")
is_(NOT_UTF8, [], "every answer so far was valid UTF-8")
bad_lines = [l for l in ngx.error_log().splitlines()
             if re.search(r"\[(alert|crit|emerg)\]|segfault|exited on signal",
                          l)]
is_(bad_lines, [], "no [alert], [crit], [emerg] or crash in the error log")

# -- keys at rest and in the logs --------------------------------------------

db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "data", "vg.db"),
                     uri=True)
rows = dict(db.execute("SELECT id, api_key_enc FROM providers").fetchall())
db.close()
ok(all(rows.get(k, "").startswith("v1:") for k in
       ("openai", P64, "probe-me", "nokey")),
   "keys are sealed in the store (\"v1:...\")")
stored = b""
for name in ("vg.db", "vg.db-wal"):
    try:
        with open(os.path.join(d, "data", name), "rb") as f:
            stored += f.read()
    except OSError:
        pass
secrets = list(KEYS.values()) + ["sk-oa-NEWKEY-99999", "elevenlabs-key-1234"]
is_([k for k in secrets if k.encode() in stored], [],
    "no API key in clear in the database or its WAL")
logs = ngx.error_log()
try:
    with open(os.path.join(d, "logs", "access.log"), errors="replace") as f:
        logs += f.read()
except OSError:
    pass
is_([k for k in secrets if k in logs], [],
    "no API key in the error or access log")

# -- a restart keeps everything ----------------------------------------------

state = snapshot()
ok(ngx.stop(), "nginx stopped")
ngx.start(wait_ports=[port])
is_(snapshot(), state, "after a restart: every list, project and the audit "
    "log as before")
r = call("POST", "/v1/providers/probe-me/test")
ok(r.status == 200 and (r.json() or {}).get("status") == "ok",
   "the provider test still works after the restart")
is_(PROBES[-1:], [("/v1/models", "Bearer sk-probe-rotated-77")],
    "  with the stored key, unsealed")

# -- actors with voicegw_api_key ---------------------------------------------

d2 = os.path.join(d, "auth")
port2 = free_port()
OPS = "0123456789abcdef0123"
VIEWER = "readonly-0123456789abcdef"
ANON = "abcdefabcdefabcdef99"
ngx2 = Nginx(d2, """
    voicegw_zone  vg_entities_auth 1m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db;
    voicegw_api_key %s scope=write name=ops;
    voicegw_api_key %s scope=read name=viewer;
    voicegw_api_key %s;
    server {
        listen 127.0.0.1:%d;
        location / { voicegw_api; }
    }
""" % (OPS, VIEWER, ANON, port2), workers=2).start(wait_ports=[port2])
ok(wait_for(lambda: ngx2.error_log().count("ready, schema version") >= 2),
   "a second nginx with voicegw_api_key: both workers opened its store")


def bearer(t):
    return {"Authorization": "Bearer " + t}


r = call("POST", "/v1/projects", body={"project_id": "by-ops"},
         headers=bearer(OPS), on=port2)
is_((r.status, r.json()),
    (200, {"project_id": "by-ops", "source": "db", "created": True}),
    "POST /v1/projects with the ops key")
r = call("POST", "/v1/projects", body={"project_id": "anon"}, on=port2)
is_error(r, 401, "unauthorized", "POST /v1/projects without a token")
is_(r.header("WWW-Authenticate"), "Bearer", "  with WWW-Authenticate")
is_error(call("POST", "/v1/projects", body={"project_id": "anon"},
              headers=bearer("not-a-known-token-000"), on=port2),
         401, "unauthorized", "POST /v1/projects with an unknown token")
is_error(call("POST", "/v1/projects", body={"project_id": "anon"},
              headers=bearer(VIEWER), on=port2),
         403, "forbidden", "POST /v1/projects with the read-only key")
is_error(call("DELETE", "/v1/projects/by-ops?confirm=true", on=port2),
         401, "unauthorized", "DELETE without a token")
r = call("PATCH", "/v1/projects/by-ops", body={"daily_budget": 3},
         headers=bearer(ANON), on=port2)
is_((r.status, r.json()), (200, {"project_id": "by-ops", "updated": True}),
    "PATCH /v1/projects/by-ops with the unnamed write key")
r = call("GET", "/v1/audit-log", on=port2)
j = r.json() or []
is_([(e.get("entity_id"), e.get("action"), e.get("actor"),
      e.get("changes")) for e in j],
    [("by-ops", "update", "key-3", {"daily_budget": 3}),
     ("by-ops", "create", "ops", {"project_id": "by-ops"})],
    "its audit log: actor \"key-3\" (the unnamed key) and \"ops\", nothing "
    "for the refused writes")
is_([p["id"] for p in (call("GET", "/v1/projects", on=port2).json() or {})
     .get("projects", [])], ["by-ops"],
    "the refused writes created nothing")
ok(all(t not in ngx2.error_log() for t in (OPS, VIEWER, ANON)),
   "no token in its error log")
is_(ngx2.alerts(), [], "no [alert], [crit] or [emerg] in its error log")
ok(ngx2.stop(), "the second nginx stopped")

is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")
ok(ngx.stop(), "nginx stopped")
fake.shutdown()

rc = tap.done()
if rc == 0:
    shutil.rmtree(d, ignore_errors=True)
sys.exit(rc)
