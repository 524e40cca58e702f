#!/usr/bin/env python3
#
# t/051-proxy-accounting.t -- what the provider proxy measures and decides
# before and after a call (issue 9), against our fake provider, two nginx
# processes:
#   - attribution: the model from X-VoiceGW-Model, else the JSON body's
#     "model", else a form upload's "model" field, else ?model=;
#     strict_models=on refuses an unregistered model (400) before anything
#     is sent;
#   - units: TTS characters (code points) of input/text/transcript and
#     ElevenLabs' character-cost; STT from the answer (Deepgram duration x
#     channels, OpenAI's usage in seconds or tokens), else the WAV header
#     of the upload (raw or multipart), else flagged unknown_units;
#   - an OpenAI chat stream without stream_options is asked for its usage
#     (the provider sees include_usage: true) and the client does not get
#     the extra usage-only chunk; include_usage: false is respected and
#     flagged no_usage;
#   - statuses: client_closed (partial, the units seen so far),
#     upstream_failed (nothing listening);
#   - Gemini's and Cartesia's keys go the providers' own way;
#   - budgets: block refuses with 429 budget_exceeded once spent (nothing
#     sent), warn answers X-VoiceGW-Budget warning / exceeded; 200
#     concurrent calls end at most one call's cost over a block budget;
#     the spend survives a restart (rebuilt from the store); rejections,
#     unpriced and partial calls are counted in /v1/metrics;
#   - no key in any log line.

import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeProvider, Nginx, free_port, is_, like,  # noqa
                    ok, request, tap, wait_for, workdir,
                    secret_key)

d = workdir("051-proxy-accounting")
port = free_port()
dead = free_port()                      # nothing listens there

KEY = "sk-ACCT-7d3f9a0c2b5e4d61"
fake = FakeProvider(d, KEY)

secret = secret_key(d)

CONF = """
    voicegw_zone  vg_acct 8m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db flush=100ms;
    voicegw_secret %(secret)s;
    voicegw_provider oai type=openai key=%(key)s base_url=%(url)s;
    voicegw_provider dg type=deepgram key=%(key)s base_url=%(url)s;
    voicegw_provider el type=elevenlabs key=%(key)s base_url=%(url)s;
    voicegw_provider ca type=cartesia key=%(key)s base_url=%(url)s;
    voicegw_provider gm type=gemini key=%(key)s base_url=%(url)s;
    voicegw_provider ant type=anthropic key=%(key)s base_url=%(url)s;
    voicegw_provider gone type=openai key=%(key)s
                     base_url=http://127.0.0.1:%(dead)d;
    voicegw_model oai/gpt-4o-mini modality=llm
                  price_per_1k_input_tokens=1 price_per_1k_output_tokens=2;
    voicegw_model oai/fixed modality=llm
                  price_per_1k_input_tokens=1 price_per_1k_output_tokens=0;
    voicegw_model oai/conc modality=llm
                  price_per_1k_input_tokens=1 price_per_1k_output_tokens=0;
    voicegw_model oai/tts-1 modality=tts price_per_character=0.001;
    voicegw_model dg/nova-3 modality=stt price_per_minute=0.6;
    voicegw_model oai/gpt-4o-transcribe modality=stt price_per_minute=0.006
                  price_per_1k_input_tokens=0.006
                  price_per_1k_output_tokens=0.01;
    voicegw_project acme;
    voicegw_project blk daily_budget=0.05 budget_action=block;
    voicegw_project conc daily_budget=0.5 budget_action=block;
    voicegw_project wrn daily_budget=0.05 budget_action=warn;
    server {
        listen 127.0.0.1:%(port)d;
        proxy_read_timeout 5s;
        error_page 404 500 502 504 /_voicegw_error;
        location = /_voicegw_error { internal; voicegw_error; }
        location /v1/proxy/ { voicegw_proxy; }
        location /strict/ { voicegw_proxy strict_models=on; }
        location / { voicegw_api; }
    }
""" % {"port": port, "key": KEY, "url": fake.url, "secret": secret,
       "dead": dead}

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=2).start(
    wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")


def call(provider, path, body=None, headers=None, project="acme",
         prefix="/v1/proxy/", method="POST"):
    h = {"X-VoiceGW-Project": project}
    if isinstance(body, (dict, list)):
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    return request(method, port, "%s%s%s" % (prefix, provider, path), body,
                   h)


def logs():
    r = request("GET", port, "/v1/logs?limit=1000")
    return r.json() if r.status == 200 else []


count = [0]


def booked(n=1):
    """Waits for n more records; the newest."""
    count[0] += n
    ok(wait_for(lambda: len(logs()) >= count[0], timeout=10),
       "record %d is on the books" % count[0])
    return logs()[0]


def last_seen():
    s = fake.seen()
    return s[-1] if s else {}


def close(a, b):
    return a is not None and abs(a - b) <= 1e-9 + 1e-6 * abs(b)


def wav(seconds, rate=16000, channels=1, bits=16, data_size=None):
    block = channels * bits // 8
    data = bytes(int(seconds * rate) * block)
    size = len(data) if data_size is None else data_size
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block,
                      bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
            + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", size) + data)


def multipart(fields, file_bytes, file_first=True):
    b = "----vgboundary7MA4YWxk"
    parts = []
    filepart = (b"--" + b.encode() + b"\r\nContent-Disposition: form-data; "
                b"name=\"file\"; filename=\"a.wav\"\r\nContent-Type: "
                b"audio/wav\r\n\r\n" + file_bytes + b"\r\n")
    for k, v in fields.items():
        parts.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\""
                      "\r\n\r\n%s\r\n" % (b, k, v)).encode())
    if file_first:
        parts.insert(0, filepart)
    else:
        parts.append(filepart)
    body = b"".join(parts) + ("--%s--\r\n" % b).encode()
    return body, "multipart/form-data; boundary=" + b


MSG = [{"role": "user", "content": "hi"}]

# -- attribution -------------------------------------------------------------

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "messages": MSG})
is_(r.status, 200, "a chat call naming its model only in the body: 200")
rec = booked()
is_(rec["model_id"], "oai/gpt-4o-mini", "the model from the JSON body")
ok(close(rec["cost_usd"], 13 / 1000 * 1 + 3 / 1000 * 2),
   "and it is priced as that model (%r)" % rec["cost_usd"])

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "messages": MSG},
         headers={"X-Fake-Split": "1", "X-Fake-Prompt-Tokens": "1234567",
                  "X-Fake-Completion-Tokens": "89"})
rec = booked()
is_((r.status, rec["input_units"], rec["output_units"]), (200, 1234567, 89),
    "a JSON answer sent byte by byte: the same usage")

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "messages": MSG},
         headers={"X-VoiceGW-Model": "fixed"})
rec = booked()
is_(rec["model_id"], "oai/fixed", "X-VoiceGW-Model wins over the body")

body, ct = multipart({"model": "whisper-1"}, wav(3.0))
r = call("oai", "/v1/audio/transcriptions", body,
         {"Content-Type": ct})
is_(r.status, 200, "a multipart transcription: 200")
rec = booked()
is_((rec["model_id"], rec["modality"]), ("oai/whisper-1", "stt"),
    "the model from the upload's \"model\" field")
ok(close(rec["input_units"], 3 / 60),
   "units: the answer's usage seconds, in minutes (%r)" % rec["input_units"])

body, ct = multipart({"model": "gpt-4o-transcribe"}, wav(2.0))
r = call("oai", "/v1/audio/transcriptions", body, {"Content-Type": ct})
rec = booked()
is_((rec["input_units"], rec["output_units"]), (13, 3),
    "a token-billed transcription: the answer's tokens")
ok(close(rec["cost_usd"], 13 / 1000 * 0.006 + 3 / 1000 * 0.01),
   "priced by its token prices, not per minute (%r)" % rec["cost_usd"])

r = call("dg", "/v1/listen?model=nova-3", wav(6.0),
         {"Content-Type": "audio/wav"})
is_(r.status, 200, "a Deepgram upload: 200")
rec = booked()
is_(rec["model_id"], "dg/nova-3", "the model from ?model=")
ok(close(rec["input_units"], 0.1) and close(rec["cost_usd"], 0.06),
   "Deepgram: metadata.duration in minutes, priced per minute (%r, %r)"
   % (rec["input_units"], rec["cost_usd"]))
h = last_seen().get("headers", {})
is_(h.get("authorization"), "Token " + KEY, "Deepgram: Authorization: Token")

r = call("dg", "/v1/listen?model=nova-3&multichannel=true",
         wav(3.0, channels=2), {"Content-Type": "audio/wav"})
rec = booked()
ok(close(rec["input_units"], 0.1),
   "Deepgram multichannel: duration x channels (%r)" % rec["input_units"])

# -- STT fallbacks: the WAV header, else unknown -----------------------------

body, ct = multipart({"model": "whisper-1", "response_format": "text"},
                     wav(4.5), file_first=False)
r = call("oai", "/v1/audio/transcriptions", body, {"Content-Type": ct})
is_(r.status, 200, "a transcription answered in plain text (no usage)")
rec = booked()
ok(close(rec["input_units"], 4.5 / 60),
   "units from the WAV header of the file part (%r)" % rec["input_units"])
is_(rec["flags"], ["unpriced", "estimated"],
    "flagged estimated (and unpriced: whisper-1 has no price here)")

body, ct = multipart({"model": "whisper-1", "response_format": "text"},
                     b"ID3\x03\x00 not a wav at all" * 20)
r = call("oai", "/v1/audio/transcriptions", body, {"Content-Type": ct})
rec = booked()
is_((rec["input_units"], "unknown_units" in rec["flags"]), (0, True),
    "a non-WAV upload and no usage: units flagged unknown_units")

r = call("oai", "/v1/audio/transcriptions", wav(2.0, data_size=0),
         {"Content-Type": "audio/wav", "X-VoiceGW-Model": "whisper-1"})
rec = booked()
ok(close(rec["input_units"], 2.0 / 60) or rec["status"] != "success",
   "a raw WAV with data size 0 counts to the end (%r)" % rec["input_units"])

# -- TTS characters ----------------------------------------------------------

text = "héllo wörld, ça va? 👋"
r = call("oai", "/v1/audio/speech",
         {"model": "tts-1", "input": text, "voice": "alloy"})
is_(r.status, 200, "an OpenAI speech call: 200")
rec = booked()
is_((rec["modality"], rec["input_units"]), ("tts", len(text)),
    "TTS: the input's code points (%d)" % len(text))
ok(close(rec["cost_usd"], len(text) * 0.001), "priced per character")

r = call("el", "/v1/text-to-speech/voice1",
         {"text": "abc", "model_id": "eleven_flash_v2_5"},
         headers={"X-Fake-Character-Cost": "42"})
rec = booked()
is_((rec["model_id"], rec["input_units"], rec["output_units"]),
    ("el/eleven_flash_v2_5", 3, 42),
    "ElevenLabs: model_id from the body; the text's characters, and the "
    "character-cost header beside them")
h = last_seen().get("headers", {})
is_(h.get("xi-api-key"), KEY, "ElevenLabs: xi-api-key")

r = call("ca", "/tts/bytes",
         {"model_id": "sonic-3", "transcript": "Grüße", "voice": {},
          "output_format": {"container": "wav"}})
is_(r.status, 200, "Cartesia TTS: 200")
h = last_seen().get("headers", {})
is_((h.get("authorization"), bool(h.get("cartesia-version"))),
    ("Bearer " + KEY, True),
    "Cartesia: Authorization: Bearer and Cartesia-Version")
rec = booked()
is_(rec["input_units"], 5, "Cartesia: the transcript's code points")

# -- Gemini ------------------------------------------------------------------

r = call("gm", "/v1beta/models/gemini-2.5-flash:generateContent",
         {"contents": [{"parts": [{"text": "hi"}]}]},
         headers={"X-VoiceGW-Model": "gemini-2.5-flash"})
is_(r.status, 200, "Gemini generateContent: 200")
h = last_seen().get("headers", {})
is_((h.get("x-goog-api-key"), h.get("authorization")), (KEY, None),
    "Gemini: x-goog-api-key")
rec = booked()
is_((rec["modality"], rec["input_units"], rec["output_units"]),
    ("llm", 13, 3), "Gemini: usageMetadata's tokens")

# -- include_usage -----------------------------------------------------------

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "stream": True, "messages": MSG},
         headers={"X-Fake-Events": "5", "X-Fake-Split": "1"})
is_(r.status, 200, "a chat stream without stream_options: 200")
seen = json.loads(last_seen().get("body") or "{}")
is_(seen.get("stream_options"), {"include_usage": True},
    "the provider was asked for the usage (include_usage: true)")
body = r.body.decode()
ok('"choices":[]' not in body.replace(" ", ""),
   "the client does not get the usage-only chunk it did not ask for")
ok(body.count("data: ") == 8 and body.rstrip().endswith("[DONE]"),
   "every other event reaches the client (%d)" % body.count("data: "))
rec = booked()
is_((rec["input_units"], rec["output_units"], rec["flags"]),
    (13, 5, []), "the stream's usage is booked")

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "stream": True, "messages": MSG},
         headers={"X-Fake-Events": "5", "X-Fake-Length": "1"})
body = r.body.decode()
ok(r.status == 200 and r.header("Content-Length") is None
   and '"choices":[]' not in body.replace(" ", "")
   and body.rstrip().endswith("[DONE]"),
   "a stream the provider sent with a Content-Length: the shortened "
   "answer goes without one, whole")
rec = booked()
is_((rec["input_units"], rec["output_units"]), (13, 5),
    "and its usage is booked")

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "stream": True,
          "stream_options": {"include_usage": True}, "messages": MSG},
         headers={"X-Fake-Events": "5"})
ok('"choices":[]' in r.body.decode().replace(" ", ""),
   "a client that asked for the usage chunk gets it")
booked()

r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "stream": True,
          "stream_options": {"include_usage": False}, "messages": MSG},
         headers={"X-Fake-Events": "5"})
seen = json.loads(last_seen().get("body") or "{}")
is_(seen.get("stream_options"), {"include_usage": False},
    "include_usage: false is sent as it is")
rec = booked()
is_((rec["input_units"], rec["output_units"], rec["flags"]),
    (0, 0, ["no_usage"]), "and the record is flagged no_usage")

# -- strict_models -----------------------------------------------------------

before = len(fake.seen())
r = call("oai", "/v1/chat/completions",
         {"model": "gpt-unknown", "messages": MSG}, prefix="/strict/")
is_((r.status, (r.json() or {}).get("error")), (400, "unknown_model"),
    "strict_models=on: an unregistered model is refused with 400")
like((r.json() or {}).get("detail", ""), r"oai/gpt-unknown",
     "the error names the model")
is_(len(fake.seen()), before, "nothing reached the provider")
r = call("oai", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "messages": MSG}, prefix="/strict/")
is_(r.status, 200, "a registered model passes")
booked()

# -- statuses ----------------------------------------------------------------

r = call("gone", "/v1/chat/completions",
         {"model": "gpt-4o-mini", "messages": MSG})
is_((r.status, (r.json() or {}).get("error")), (502, "bad_gateway"),
    "a provider that cannot be reached: 502 JSON")
rec = booked()
is_((rec["status"], rec["http_status"]), ("upstream_failed", 502),
    "booked upstream_failed")

# the client leaves in the middle of an Anthropic stream
s = socket.create_connection(("127.0.0.1", port))
body = json.dumps({"model": "claude-x", "stream": True, "max_tokens": 50,
                   "messages": MSG}).encode()
s.sendall(b"POST /v1/proxy/ant/v1/messages HTTP/1.1\r\nHost: x\r\n"
          b"Content-Type: application/json\r\nX-VoiceGW-Project: acme\r\n"
          b"X-Fake-Events: 40\r\nX-Fake-Delay-Ms: 100\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
got = b""
while b"content_block_delta" not in got:
    got += s.recv(4096)
s.close()
rec = booked()
is_((rec["status"], rec["http_status"], rec["flags"]),
    ("client_closed", 200, ["unpriced", "partial"]),
    "the client left mid-stream: client_closed, partial")
is_(rec["input_units"], 13, "with the units seen so far (message_start)")

# -- budgets: block ----------------------------------------------------------

# oai/fixed: 13 prompt tokens at $1/1k = $0.013 a call, budget $0.05
codes = []
for i in range(6):
    r = call("oai", "/v1/chat/completions",
             {"model": "fixed", "messages": MSG}, project="blk")
    codes.append(r.status)
is_(codes, [200, 200, 200, 200, 429, 429],
    "block: 4 calls spend $0.052, then 429")
j = r.json() or {}
is_(j.get("error"), "budget_exceeded", "429 {\"error\":\"budget_exceeded\"}")
like(j.get("detail", ""), r"blk", "its detail names the project")
before = len(fake.seen())
r = call("oai", "/v1/chat/completions",
         {"model": "fixed", "messages": MSG}, project="blk")
is_((r.status, len(fake.seen())), (429, before),
    "nothing of a refused call reaches the provider")
booked(7)
rej = [x for x in logs() if x["project"] == "blk" and x["status"] ==
       "rejected"]
is_((len(rej), rej[0]["http_status"], rej[0]["flags"]),
    (3, 429, ["budget"]), "refusals are on the books as rejected")

# -- budgets: warn -----------------------------------------------------------

def fixed_calls(n, project):
    """n calls of $0.013 each: their statuses and X-VoiceGW-Budget."""
    got = []
    for i in range(n):
        r = call("oai", "/v1/chat/completions",
                 {"model": "fixed", "messages": MSG}, project=project)
        got.append((r.status, r.header("X-VoiceGW-Budget")))
    booked(n)
    return got


is_(fixed_calls(6, "wrn"), [(200, None), (200, None), (200, None), (200, None),
           (200, "exceeded"), (200, "exceeded")],
    "warn: never refused; X-VoiceGW-Budget once spent")

r = request("POST", port, "/v1/projects",
            {"project_id": "wrn2", "name": "W2", "daily_budget": 0.03,
             "budget_action": "warn"})
is_(r.status, 200, "a warn project created through the API")
is_(fixed_calls(4, "wrn2"), [(200, None), (200, None), (200, "warning"), (200, "exceeded")],
    "warn: X-VoiceGW-Budget: warning from 80 %, exceeded from 100 %")

# -- budgets: 200 at once ----------------------------------------------------

results = []
lock = threading.Lock()


def one():
    try:
        r = call("oai", "/v1/chat/completions",
                 {"model": "conc", "messages": MSG}, project="conc",
                 headers={"X-Fake-Hold-Ms": "50"})
        st = r.status
    except Exception as e:                   # noqa: BLE001
        st = repr(e)
    with lock:
        results.append(st)


threads = [threading.Thread(target=one) for i in range(200)]
for t in threads:
    t.start()
for t in threads:
    t.join()
passed = results.count(200)
is_(passed + results.count(429), 200,
    "200 concurrent calls: each 200 or 429 (%d passed)" % passed)
booked(200)
spent = sum(x["cost_usd"] for x in logs() if x["project"] == "conc")
ok(0.5 <= spent <= 0.5 + 0.013 + 1e-9,
   "the block budget ends at most one call's cost over: $%.4f of $0.50"
   % spent)

# -- the metrics -------------------------------------------------------------

m = request("GET", port, "/v1/metrics").body.decode()
like(m, r'voicegw_budget_rejections_total\{project="blk"\} 3\b',
     "budget rejections are counted in /v1/metrics")
like(m, r'voicegw_unpriced_requests_total\{[^}]*model="oai/whisper-1"'
     r'[^}]*\} [1-9]', "unpriced calls are counted")
like(m, r'voicegw_partial_requests_total\{[^}]*provider="ant"[^}]*\} 1\.',
     "partial calls are counted")

# -- a restart: the spend comes back from the store --------------------------

time.sleep(0.5)
ok(ngx.stop(), "nginx stopped")
ngx.start(wait_ports=[port])
r = call("oai", "/v1/chat/completions",
         {"model": "fixed", "messages": MSG}, project="blk")
is_(r.status, 429, "after a restart the spent block budget still refuses")

# -- no key anywhere ---------------------------------------------------------

time.sleep(0.3)
ok(ngx.stop(), "nginx stopped")
for name in ("error.log", "access.log"):
    path = os.path.join(d, "nginx", "logs", name)
    text = open(path, errors="replace").read() if os.path.exists(path) \
        else ""
    ok(len(text) > 0 and KEY not in text,
       "no key in %s (%d bytes)" % (name, len(text)))
is_(ngx.alerts(), [], "no [alert], [crit] or [emerg] in the error log")

sys.exit(tap.done())
