#!/usr/bin/env python3
#
# t/049-proxy.t -- the provider proxy (issue 9): "voicegw_proxy" in front
# of our fake provider (t/support/fake_provider.py), two nginx processes.
#   - the key goes in the provider's own header; the client's credentials
#     and X-VoiceGW-* headers never reach the provider; Host is the
#     provider's; Accept-Encoding is identity; redirects are passed on;
#   - every call is on the books (/v1/logs): provider, provider/model,
#     modality, tokens from the JSON answer, from an SSE stream (whole or
#     split byte by byte), Anthropic's two events, cost from the model's
#     prices, TTFB and latency, a provider's 500, a timeout;
#   - unknown provider or project: 404 JSON; no key: 502 JSON;
#   - a provider created through the API is usable at once in every
#     process; upstream connections are kept alive (100 calls, a few
#     connections); the key is in no answer and no log line.

import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeProvider, Nginx, free_port, is_, like,  # noqa
                    ok, request, tap, wait_for, workdir,
                    secret_key)

d = workdir("049-proxy")
port = free_port()

KEY = "sk-PROXY-5c1e0b7a9d2f4e83"          # the providers' key
KEY_API = "sk-APIKEY-0f9e8d7c6b5a4321"     # a key set through the API
CLIENT = "Bearer client-own-secret-77"     # what the client sends

fake = FakeProvider(d, KEY)
fake_api = FakeProvider(d, KEY_API)

secret = secret_key(d)

CONF = """
    voicegw_zone  vg_proxy 4m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db flush=100ms;
    voicegw_secret %(secret)s;
    voicegw_provider oai type=openai key=%(key)s base_url=%(url)s;
    voicegw_provider ant type=anthropic key=%(key)s base_url=%(url)s;
    voicegw_provider nokey type=openai base_url=%(url)s;
    voicegw_model oai/gpt-4o-mini modality=llm
                  price_per_1k_input_tokens=0.15
                  price_per_1k_output_tokens=0.6;
    voicegw_model ant/claude-x modality=llm price_per_1k_input_tokens=3
                  price_per_1k_output_tokens=15;
    voicegw_project acme name=Acme;
    server {
        listen 127.0.0.1:%(port)d;
        proxy_read_timeout 2s;
        error_page 404 500 502 504 /_voicegw_error;
        location = /_voicegw_error { internal; voicegw_error; }
        location /v1/proxy/ { voicegw_proxy; }
        location /tight/ { voicegw_proxy; client_body_buffer_size 16k; }
        location / { voicegw_api; }
    }
""" % {"port": port, "key": KEY, "url": fake.url, "secret": secret}

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=2).start(
    wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")


def chat(provider="oai", body=None, headers=None, path="/v1/chat/completions"):
    h = {"Content-Type": "application/json", "Authorization": CLIENT,
         "X-VoiceGW-Project": "acme", "X-VoiceGW-Model": "gpt-4o-mini"}
    h.update(headers or {})
    b = body if body is not None else {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}]}
    return request("POST", port, "/v1/proxy/%s%s" % (provider, path), b, h)


def logs():
    r = request("GET", port, "/v1/logs?limit=1000")
    return r.json() if r.status == 200 else []


def booked(n):
    """Waits for the n-th record, returns the newest."""
    ok(wait_for(lambda: len(logs()) >= n, timeout=5),
       "record %d is on the books" % n)
    return logs()[0]


def last_seen(f=fake):
    s = f.seen()
    return s[-1] if s else {}


def close(a, b):
    return a is not None and abs(a - b) <= 1e-9 + 1e-6 * abs(b)


# -- a JSON answer -----------------------------------------------------------

r = chat()
is_(r.status, 200, "a chat call through the proxy: 200")
j = r.json() or {}
is_((j.get("usage") or {}).get("prompt_tokens"), 13,
    "the provider's answer reaches the client")

s = last_seen()
h = s.get("headers", {})
is_(s.get("path"), "/v1/chat/completions", "the provider gets the path")
is_(h.get("authorization"), "Bearer " + KEY,
    "the key goes in Authorization: Bearer, the client's is replaced")
is_([k for k in h if k.startswith("x-voicegw-")], [],
    "no X-VoiceGW-* header reaches the provider")
is_(h.get("host"), "127.0.0.1:%d" % fake.port, "Host is the provider's")
is_(h.get("accept-encoding"), "identity", "Accept-Encoding: identity")

rec = booked(1)
is_((rec["provider"], rec["model_id"], rec["modality"], rec["project"],
     rec["status"], rec["http_status"]),
    ("oai", "oai/gpt-4o-mini", "llm", "acme", "success", 200),
    "the call is on the books: provider, model, modality, project, status")
is_((rec["input_units"], rec["output_units"]), (13, 3),
    "units: the answer's prompt and completion tokens")
ok(close(rec["cost_usd"], 13 / 1000 * 0.15 + 3 / 1000 * 0.6),
   "cost from the model's prices (%r)" % rec["cost_usd"])
ok(rec["ttfb_ms"] is not None and rec["total_latency_ms"] is not None
   and 0 <= rec["ttfb_ms"] <= rec["total_latency_ms"],
   "TTFB and latency are recorded (%r, %r)" % (rec["ttfb_ms"],
                                               rec["total_latency_ms"]))

# -- SSE, whole and split byte by byte ---------------------------------------

n = 1
for split in ("0", "1"):
    r = chat(body={"model": "gpt-4o-mini", "stream": True,
                   "stream_options": {"include_usage": True},
                   "messages": [{"role": "user", "content": "hi"}]},
             headers={"X-Fake-Events": "20", "X-Fake-Split": split})
    n += 1
    is_(r.status, 200, "SSE (split=%s): 200" % split)
    body = r.body.decode()
    ok(body.count("data: ") == 24 and body.rstrip().endswith("[DONE]"),
       "SSE (split=%s): every event reaches the client" % split)
    rec = booked(n)
    is_((rec["input_units"], rec["output_units"], rec["status"]),
        (13, 20, "success"),
        "SSE (split=%s): the usage chunk's tokens are booked" % split)

# -- Anthropic: x-api-key, the version, two events ---------------------------

r = chat("ant", body={"model": "claude-x", "stream": True, "max_tokens": 9,
                      "messages": [{"role": "user", "content": "hi"}]},
         headers={"X-VoiceGW-Model": "claude-x", "X-Fake-Events": "7",
                  "X-Fake-Split": "1"},
         path="/v1/messages")
n += 1
is_(r.status, 200, "Anthropic SSE: 200")
h = last_seen().get("headers", {})
is_((h.get("x-api-key"), h.get("anthropic-version"), h.get("authorization")),
    (KEY, "2023-06-01", None),
    "Anthropic: x-api-key and anthropic-version, no Authorization")
rec = booked(n)
is_((rec["model_id"], rec["input_units"], rec["output_units"]),
    ("ant/claude-x", 13, 7),
    "Anthropic: input from message_start, output from message_delta")
ok(close(rec["cost_usd"], 13 / 1000 * 3 + 7 / 1000 * 15),
   "Anthropic: priced")

# -- refusals: nothing reaches a provider ------------------------------------

before = len(fake.seen())
for path, hdrs, status, code, what in (
        ("/v1/proxy/nope/v1/models", {}, 404, "not_found",
         "an unknown provider"),
        ("/v1/proxy/oai/v1/models", {"X-VoiceGW-Project": "ghost"}, 404,
         "not_found", "an unknown project"),
        ("/v1/proxy/nokey/v1/models", {}, 502, "provider_unavailable",
         "a provider without a key"),
        ("/v1/proxy/", {}, 404, "not_found", "no provider in the path")):
    r = request("GET", port, path, headers=hdrs)
    is_((r.status, (r.json() or {}).get("error")), (status, code),
        "%s: %d %s" % (what, status, code))
like((r.json() or {}).get("detail", ""), r"provider_id",
     "the error says what the path should be")
is_(len(fake.seen()), before, "nothing refused reached the provider")

# -- a provider's error, a redirect, a provider that never answers -----------

r = chat(headers={"X-Fake-Status": "500"})
n += 1
is_(r.status, 500, "the provider's 500 reaches the client")
rec = booked(n)
is_((rec["status"], rec["http_status"]), ("error", 500),
    "booked as an error with the provider's status")

before = len(fake.seen())
r = chat(headers={"X-Fake-Redirect": "http://127.0.0.1:%d/elsewhere"
                  % fake_api.port})
n += 1
is_((r.status, r.header("location")),
    (302, "http://127.0.0.1:%d/elsewhere" % fake_api.port),
    "a redirect goes back to the client as it is")
is_((len(fake.seen()) - before, fake_api.seen()), (1, []),
    "and it is not followed (no request, no key, to its target)")
booked(n)

t0 = time.time()
r = chat(headers={"X-Fake-Hang": "1"})
n += 1
is_((r.status, (r.json() or {}).get("error")), (504, "gateway_timeout"),
    "a provider that never answers: 504 JSON after proxy_read_timeout")
rec = booked(n)
is_(rec["status"], "upstream_failed", "booked as upstream_failed")

# -- keep-alive --------------------------------------------------------------

before = len(fake.seen())
for i in range(100):
    r = chat()
    if r.status != 200:
        break
is_(r.status, 200, "100 sequential calls")
conns = set(s.get("conn") for s in fake.seen()[before:])
ok(len(conns) <= 4, "they used %d upstream connections (at most 4)"
   % len(conns))
n += 100

# -- a long conversation: a body past client_body_buffer_size ---------------
#
# nginx buffers such a body in a temporary file and sends it on in several
# writes; without TCP_NODELAY on the provider's connection the last one
# waited for the provider's delayed ACK: 40 ms more on every such call.

long_body = {"model": "gpt-4o-mini", "messages": [
    {"role": "user" if i % 2 == 0 else "assistant",
     "content": "turn %d: %s" % (i, "the quick brown fox " * 20)}
    for i in range(100)]}
ok(len(json.dumps(long_body)) > 40000, "a 40 KB conversation")
times = {"long": [], "short": []}
before = len(fake.seen())
for i in range(16):
    for what, body in (("long", long_body), ("short", None)):
        t0 = time.monotonic()
        r = chat(body=body)
        times[what].append((time.monotonic() - t0) * 1000)
        if r.status != 200:
            break
is_(r.status, 200, "16 long and 16 short calls, alternating")


def as_json(b):
    try:
        return json.loads(b) if isinstance(b, str) else b
    except ValueError:
        return None


got = [as_json(s.get("body")) for s in fake.seen()[before:]]
is_(got.count(long_body), 16, "the long body reaches the provider whole")
mid = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
ok(mid["long"] - mid["short"] < 25,
   "a long body costs no delayed-ACK wait: median %.1f ms against %.1f ms "
   "for a short one" % (mid["long"], mid["short"]))
n += 32
TEMP = "a client request body is buffered to a temporary file"
ok(TEMP not in ngx.error_log(), "the location kept the 40 KB bodies in "
   "memory (client_body_buffer_size left at nginx's default: 128k)")
r = request("POST", port, "/tight/oai/v1/chat/completions", long_body,
            {"Content-Type": "application/json", "X-VoiceGW-Project": "acme"})
is_(r.status, 200, "a location's own client_body_buffer_size 16k: 200")
ok(wait_for(lambda: TEMP in ngx.error_log()),
   "and its 40 KB body went through a temporary file, as it says")
n += 1

# -- a provider created through the API: at once, in every process ----------

r = request("POST", port, "/v1/providers",
            {"provider_id": "viaapi", "provider_type": "openai",
             "api_key": KEY_API, "base_url": fake_api.url})
is_(r.status, 200, "a provider is created through the API")
codes = [chat("viaapi").status for i in range(6)]
is_(codes, [200] * 6, "it is proxied at once, by every process")
h = last_seen(fake_api).get("headers", {})
is_(h.get("authorization"), "Bearer " + KEY_API,
    "with the key set through the API (decrypted)")
n += 6

r = request("PATCH", port, "/v1/providers/viaapi",
            {"base_url": fake.url})
is_(r.status, 200, "its base_url is changed through the API")
r = chat("viaapi")
is_((r.status, (r.json() or {}).get("error")), (502, "provider_unavailable"),
    "without a key again, it is refused: the key went with the old URL")

# each process keeps the base URLs it has parsed: a changed base_url is
# used by the next call, in every process, and so is the old one again
for there, key, other, what in (
        (fake, KEY, fake_api, "the new base_url"),
        (fake_api, KEY_API, fake, "the first base_url again")):
    r = request("PATCH", port, "/v1/providers/viaapi",
                {"base_url": there.url, "api_key": key})
    is_(r.status, 200, "the base_url and a key set again: %s" % what)
    seen = (len(there.seen()), len(other.seen()))
    codes = [chat("viaapi").status for i in range(6)]
    is_((codes, len(there.seen()) - seen[0], len(other.seen()) - seen[1]),
        ([200] * 6, 6, 0), "the next 6 calls all go to %s" % what)

# -- the key, nowhere --------------------------------------------------------

time.sleep(0.3)
ok(ngx.stop(), "nginx stopped")
for name in ("error.log", "access.log"):
    path = os.path.join(d, "nginx", "logs", name)
    text = open(path, errors="replace").read() if os.path.exists(path) \
        else ""
    ok(KEY not in text and KEY_API not in text,
       "no key in %s (%d bytes)" % (name, len(text)))
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
