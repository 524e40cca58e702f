#!/usr/bin/env python3
#
# t/080-realtime.t -- realtime provider streams on the books (issue 12):
# WebSocket sessions through voicegw_proxy to our fake WebSocket providers
# (t/support/fake_ws_provider.py), two nginx processes:
#   - the handshake: 101 through nginx's upstream, the provider's key in
#     the provider's header (the client's credentials, subprotocol and
#     query ones too, never sent on), no permessage-deflate offered; wss
#     with verification and SNI (a name through nginx's resolver);
#   - units per session: Deepgram live STT (the final Metadata, else the
#     audio sent, flagged estimated), AssemblyAI (Termination's session
#     seconds, else wall time), ElevenLabs and Cartesia (characters of the
#     text sent, code points), Deepgram speech (Speak's text), OpenAI
#     Realtime (the sum of every response.done's usage); one record each
#     with TTFB, duration, cost and status;
#   - how sessions end: ok, error with the provider's close code,
#     client_closed (a client that vanishes mid-stream);
#   - frames split at every byte, either way;
#   - budgets: block refuses with 429 before the upstream handshake,
#     a session crossing the budget is closed with 1008 "budget exceeded",
#     warn answers X-VoiceGW-Budget on the 101;
#   - interim records while a session is open (interim=1s), settled at
#     its end: the rows add up; /v1/metrics moves while it is open;
#   - no key in any log line.

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeWSProvider, Nginx, at_cleanup, free_port, is_,  # noqa
                    like, ok, request, tap, wait_for, workdir, secret_key)
import ws_client as wsc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

d = workdir("080-realtime")
port = free_port()

KEY = "sk-RT-5b8e2c1d9a7f4e30"
CLIENT_KEY = "client-own-key-77aa"
fake = FakeWSProvider(d, KEY)
secret = secret_key(d)

# wss: a certificate for a name, resolved by a fake name server (root only)
tls = None
resolv = os.path.join(d, "resolv.conf")
cert = os.path.join(d, "cert.pem")
certkey = os.path.join(d, "key.pem")

if os.geteuid() == 0:
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", certkey, "-out", cert, "-days", "2",
                    "-subj", "/CN=ws.fake.test",
                    "-addext", "subjectAltName=DNS:ws.fake.test"],
                   check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    tls = FakeWSProvider(d, KEY, "--tls", cert, certkey)
    dns = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "t", "support", "fake_dns.py"),
         "--listen", "127.0.0.77", "--port", "53",
         "--name", "ws.fake.test=127.0.0.1",
         "--name", "other.fake.test=127.0.0.1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    at_cleanup(dns.terminate)
    is_(dns.stdout.readline().strip(), "ready", "the fake name server listens")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.77\n")

CONF = """
    voicegw_zone  vg_rt 8m;
    voicegw_provider_destinations public loopback;
    voicegw_store data/vg.db flush=100ms;
    voicegw_secret %(secret)s;
    %(trusted)s
    voicegw_provider dg type=deepgram key=%(key)s base_url=%(url)s;
    voicegw_provider aai type=assemblyai key=%(key)s base_url=%(url)s;
    voicegw_provider el type=elevenlabs key=%(key)s base_url=%(url)s;
    voicegw_provider ca type=cartesia key=%(key)s base_url=%(url)s;
    voicegw_provider oai type=openai key=%(key)s base_url=%(url)s;
    %(tls_providers)s
    voicegw_model dg/nova-3 modality=stt price_per_minute=0.6;
    voicegw_model dg/aura-2 modality=tts price_per_character=0.001;
    voicegw_model aai/universal modality=stt price_per_minute=0.3;
    voicegw_model el/eleven_flash_v2_5 modality=tts price_per_character=0.01;
    voicegw_model ca/unknown modality=tts price_per_character=0.002;
    voicegw_model oai/gpt-realtime modality=llm
                  price_per_1k_input_tokens=4 price_per_1k_output_tokens=16;
    voicegw_project acme;
    voicegw_project blk daily_budget=0.05 budget_action=block;
    voicegw_project wrn daily_budget=0.05 budget_action=warn;
    server {
        listen 127.0.0.1:%(port)d;
        proxy_read_timeout 10s;
        error_page 404 500 502 504 /_voicegw_error;
        location = /_voicegw_error { internal; voicegw_error; }
        location /v1/proxy/ { voicegw_proxy interim=1s %(resolv)s; }
        location / { voicegw_api; }
    }
""" % {"port": port, "key": KEY, "url": fake.url, "secret": secret,
       "trusted": ("voicegw_provider_trusted_certificate %s;" % cert
                   if tls else ""),
       "tls_providers": ("voicegw_provider sdg type=deepgram key=%s "
                         "base_url=https://ws.fake.test:%d;\n"
                         "    voicegw_provider bad type=deepgram key=%s "
                         "base_url=https://other.fake.test:%d;"
                         % (KEY, tls.port, KEY, tls.port) if tls else ""),
       "resolv": ("resolv_conf=%s" % resolv) if tls else ""}

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=2).start(
    wait_ports=[port])
ok(wait_for(lambda: ngx.error_log().count("ready, schema version") >= 2),
   "both worker processes opened the store")

DG_Q = "model=nova-3&encoding=linear16&sample_rate=16000&channels=1"
SECOND = bytes(32000)          # 1 s of 16 kHz mono linear16


def url(provider, path):
    return "ws://127.0.0.1:%d/v1/proxy/%s%s" % (port, provider, path)


def connect(provider, path, project="acme", headers=None):
    h = [("X-VoiceGW-Project", project)] + list(headers or [])
    return wsc.WSClient.connect(url(provider, path), headers=h, timeout=10)


def logs(**q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    r = request("GET", port, "/v1/logs?limit=1000" + ("&" + qs if qs else ""))
    return r.json() if r.status == 200 else []


def rows(provider, project="acme"):
    return [x for x in logs() if x["provider"] == provider
            and x["project"] == project]


def final_rows(provider, project="acme"):
    return [x for x in rows(provider, project) if "interim" not in x["flags"]]


def booked(provider, n, project="acme"):
    """Waits until the provider has n final records; the newest."""
    ok(wait_for(lambda: len(final_rows(provider, project)) >= n, timeout=10),
       "%s: session %d is on the books" % (provider, n))
    got = final_rows(provider, project)
    return got[0] if got else {}


def mark():
    """The newest record id so far: rows after it are a new session's."""
    return max([x["id"] for x in logs()] or [0])


def since(provider, m, project="acme"):
    return [x for x in rows(provider, project) if x["id"] > m]


def drain(c, timeout=5):
    """Every message until the close; the close message last."""
    seen = []
    while True:
        m = c.recv(timeout)
        if m is None:
            break
        seen.append(m)
        if m.kind == "close":
            break
    return seen


def close(a, b, eps=1e-6):
    return a is not None and abs(a - b) <= eps + 1e-6 * abs(b)


def send_split(c, opcode, payload):
    """A client frame written one byte at a time."""
    for b in wsc.encode_frame(opcode, payload, mask=True):
        c.send_raw(bytes([b]))
        time.sleep(0.0005)


# -- 1. Deepgram live STT: the handshake, the Metadata --------------------

c = connect("dg", "/v1/listen?" + DG_Q,
            headers=[("Authorization", "Token " + CLIENT_KEY),
                     ("Sec-WebSocket-Extensions",
                      "permessage-deflate; client_max_window_bits"),
                     ("Sec-WebSocket-Protocol", "token, " + CLIENT_KEY),
                     ("X-Fake-Metadata-Duration", "12.5")])
is_(c.status, 101, "Deepgram live STT: 101 through the gateway")
ok("sec-websocket-extensions" not in c.headers,
   "no extension negotiated with the client")
is_(c.headers.get("sec-websocket-protocol"), "token",
    "Deepgram's subprotocol answer comes back")
for i in range(3):
    c.send_binary(SECOND)
    m = c.recv(5)
    ok(m is not None and m.json().get("type") == "Results",
       "Results %d relayed" % i)
c.send_json({"type": "CloseStream"})
got = drain(c)
ok(any(m.kind == "text" and m.json().get("type") == "Metadata" for m in got)
   and got[-1].kind == "close" and got[-1].code == 1000,
   "Metadata, then the provider's Close 1000")
c.close()

rec = booked("dg", 1)
is_(rec.get("status"), "success", "the session: success")
is_(rec.get("http_status"), 101, "its http_status: 101")
is_(rec.get("modality"), "stt", "modality stt")
is_(rec.get("model_id"), "dg/nova-3", "the model from ?model=")
dg_rows = rows("dg")
ok(close(sum(x["input_units"] for x in dg_rows), 12.5 / 60),
   "units: Metadata's 12.5 s, not the 3 s sent (%r)"
   % [x["input_units"] for x in dg_rows])
ok(close(sum(x["cost_usd"] for x in dg_rows), 12.5 / 60 * 0.6),
   "cost at the model's price per minute")
ok(rec.get("ttfb_ms") is not None and rec["ttfb_ms"] >= 0
   and rec.get("total_latency_ms", 0) >= rec["ttfb_ms"],
   "TTFB and the session's length (%r, %r)"
   % (rec.get("ttfb_ms"), rec.get("total_latency_ms")))
ok("estimated" not in rec["flags"], "not estimated")

s = fake.wait_seen(1) and fake.sessions()[-1]
is_(s.get("headers", {}).get("authorization"), "Token " + KEY,
    "the provider gets the gateway's key, Deepgram's way")
ok(not s.get("extensions_offered"),
   "permessage-deflate is not offered to the provider")
ok(CLIENT_KEY not in json.dumps(s),
   "the client's own key reaches the provider nowhere (header, "
   "subprotocol)")
is_(s.get("client_binary_bytes"), 3 * len(SECOND),
    "every audio byte reached the provider")

# -- 2. no Metadata: the audio sent, estimated -------------------------------

m0 = mark()
c = connect("dg", "/v1/listen?" + DG_Q, headers=[("X-Fake-No-Metadata", "1")])
for i in range(4):
    c.send_binary(SECOND[:16000])
    c.recv(5)
c.send_json({"type": "CloseStream"})
drain(c)
c.close()
rec = booked("dg", 2)
ok(close(sum(x["input_units"] for x in since("dg", m0)), 2.0 / 60),
   "without Metadata: the 2 s of audio sent (%r)"
   % [x["input_units"] for x in since("dg", m0)])
ok("estimated" in rec["flags"], "flagged estimated")
is_(rec["status"], "success", "and a success")

# -- 3. frames split at every byte, both ways --------------------------------

n_before = len(final_rows("dg"))
m0 = mark()
c = connect("dg", "/v1/listen?" + DG_Q,
            headers=[("X-Fake-Split", "1"),
                     ("X-Fake-Metadata-Duration", "7.25")])
send_split(c, wsc.OP_BINARY, SECOND[:3200])
m = c.recv(10)
ok(m is not None and m.json().get("type") == "Results",
   "a Results written a byte at a time arrives whole")
send_split(c, wsc.OP_TEXT, json.dumps({"type": "CloseStream"}).encode())
got = drain(c, 20)
ok(got and got[-1].kind == "close" and got[-1].code == 1000,
   "the split Metadata and Close arrive")
c.close()
rec = booked("dg", n_before + 1)
ok(close(sum(x["input_units"] for x in since("dg", m0)), 7.25 / 60),
   "split frames: Metadata's 7.25 s read (%r)"
   % [x["input_units"] for x in since("dg", m0)])

# -- 4. a client that vanishes mid-stream ------------------------------------

n_before = len(final_rows("dg"))
m0 = mark()
c = connect("dg", "/v1/listen?" + DG_Q)
for i in range(2):
    c.send_binary(SECOND)
    c.recv(5)
c.abort()
rec = booked("dg", n_before + 1)
ok(close(sum(x["input_units"] for x in since("dg", m0)), 2.0 / 60),
   "the units seen before it left: 2 s")
is_(rec.get("status"), "client_closed", "a client that vanishes: "
    "client_closed")
ok("partial" in rec["flags"] and "estimated" in rec["flags"],
   "flagged partial and estimated (%r)" % rec["flags"])
ok(wait_for(lambda: fake.sessions()[-1].get("ended_by") in
            ("client_vanished", "client_close", "server_close"), 5),
   "the provider's session ended too")

# -- 5. the provider closes with an error ------------------------------------

n_before = len(final_rows("dg"))
c = connect("dg", "/v1/listen?" + DG_Q,
            headers=[("X-Fake-Close-After", "2"),
                     ("X-Fake-Close-Code", "1011"),
                     ("X-Fake-Close-Reason", "NET-0001")])
c.send_binary(SECOND)
c.send_binary(SECOND)
got = drain(c)
ok(got and got[-1].kind == "close" and got[-1].code == 1011,
   "the provider's Close 1011 reaches the client (%r)"
   % [(m.kind, m.code) for m in got])
c.close()
rec = booked("dg", n_before + 1)
is_(rec.get("status"), "error", "the provider's error close: status error")
is_(rec.get("http_status"), 1011, "with its close code")

# -- 6. AssemblyAI: session seconds ------------------------------------------

AAI = "/v3/ws?sample_rate=16000&speech_model=universal"
c = connect("aai", AAI, headers=[("X-Fake-Session-Seconds", "42")])
m = c.recv(5)
ok(m is not None and m.json().get("type") == "Begin", "AssemblyAI: Begin")
c.send_binary(SECOND)
c.send_json({"type": "Terminate"})
drain(c)
c.close()
rec = booked("aai", 1)
is_(rec.get("model_id"), "aai/universal", "the model from ?speech_model=")
ok(close(sum(x["input_units"] for x in rows("aai")), 42 / 60),
   "Termination's session_duration_seconds: 42 s")
ok(close(sum(x["cost_usd"] for x in rows("aai")), 42 / 60 * 0.3),
   "priced per minute")
s = fake.sessions()[-1]
is_(s.get("headers", {}).get("authorization"), KEY,
    "AssemblyAI gets the raw key")

m0 = mark()
c = connect("aai", AAI)
c.recv(5)
c.send_binary(SECOND)
time.sleep(1.2)
c.close()
rec = booked("aai", 2)
total = sum(x["input_units"] for x in since("aai", m0))
ok(1.0 / 60 <= total <= 10.0 / 60 and "estimated" in rec["flags"],
   "no Termination: the time it was open, estimated (%.2f s)" % (total * 60))

# -- 7. ElevenLabs stream-input: characters ----------------------------------

EL = "/v1/text-to-speech/voice1/stream-input?model_id=eleven_flash_v2_5"
c = connect("el", EL, headers=[("xi-api-key", CLIENT_KEY)])
is_(c.status, 101, "ElevenLabs: 101")
c.send_json({"text": " ", "voice_settings": {"stability": 0.5}})
c.send_json({"text": "Hello there. "})
c.recv(5)
c.send_json({"text": "Grüße aus 東京 🎉"})      # 14 code points
c.recv(5)
c.send_json({"text": ""})
drain(c)
c.close()
rec = booked("el", 1)
is_(rec.get("modality"), "tts", "modality tts")
is_(rec.get("input_units"), 13 + 14,
    "characters: code points of the text sent, not the opening space")
ok(close(rec.get("cost_usd"), 27 * 0.01), "priced per character")
s = fake.sessions()[-1]
is_(s.get("headers", {}).get("xi-api-key"), KEY,
    "ElevenLabs gets the gateway's key in xi-api-key")

# a message in two frames, a ping between them, the second masked apart
c = connect("el", EL)
c.send_json({"text": " "})
whole = json.dumps({"text": "fragmented text", "flush": True}).encode()
c.send_raw(wsc.encode_frame(wsc.OP_TEXT, whole[:9], fin=False, mask=True))
c.send_raw(wsc.encode_frame(wsc.OP_PING, b"p", mask=True))
c.send_raw(wsc.encode_frame(wsc.OP_CONT, whole[9:], fin=True, mask=True))
got = []
while True:
    m = c.recv(5)
    if m is None or m.kind == "text":
        got.append(m)
        break
ok(got and got[-1] is not None, "a fragmented message reaches the provider "
   "whole")
c.send_json({"text": ""})
drain(c)
c.close()
rec = booked("el", 2)
is_(rec.get("input_units"), 15, "its text counted across the fragments "
    "(15 characters)")

# -- 8. Cartesia: transcripts -------------------------------------------------

c = connect("ca", "/tts/websocket")
is_(c.status, 101, "Cartesia: 101 (the gateway adds Cartesia-Version)")
c.send_json({"model_id": "sonic-3", "transcript": "abc def",
             "context_id": "c1", "continue": True})
c.recv(5)
c.send_json({"model_id": "sonic-3", "transcript": "ghij",
             "context_id": "c1", "continue": False})
c.recv(5)
c.recv(5)
c.close()
rec = booked("ca", 1)
is_(rec.get("input_units"), 11, "Cartesia: characters of every transcript")

# -- 9. Deepgram speech: Speak's text only -----------------------------------

c = connect("dg", "/v1/speak?model=aura-2")
c.recv(5)                                               # Metadata
c.send_json({"type": "Speak", "text": "Twelve chars"})
c.recv(5)
c.send_json({"type": "Flush"})
c.recv(5)
c.send_json({"type": "Close"})
drain(c)
c.close()
ok(wait_for(lambda: [x for x in final_rows("dg") if x["modality"] == "tts"],
            5), "Deepgram speech is on the books")
tts = [x for x in final_rows("dg") if x["modality"] == "tts"]
is_(tts and tts[0]["input_units"], 12, "Deepgram speech: Speak's text only")

# -- 10. OpenAI Realtime: the sum of response.done ---------------------------

c = connect("oai", "/v1/realtime?model=gpt-realtime",
            headers=[("Sec-WebSocket-Protocol",
                      "realtime, openai-insecure-api-key." + CLIENT_KEY)])
is_(c.headers.get("sec-websocket-protocol"), "realtime",
    "OpenAI: the realtime subprotocol, without the browser's key")
m = c.recv(5)
ok(m is not None and m.json().get("type") == "session.created",
   "session.created")
c.send_json({"type": "input_audio_buffer.append",
             "audio": "A" * 20000})
for i in range(3):
    c.send_json({"type": "response.create"})
    while True:
        m = c.recv(5)
        if m is None or m.json().get("type") == "response.done":
            break
ok(m is not None, "three responses done")
c.close()
rec = booked("oai", 1)
is_(rec.get("modality"), "llm", "a speech-to-speech session: tokens (llm)")
is_((rec.get("input_units"), rec.get("output_units")), (300.0, 150.0),
    "the sum of every response.done's usage: 3 x (100 in, 50 out)")
ok(close(rec.get("cost_usd"), 300 / 1000 * 4 + 150 / 1000 * 16),
   "priced per 1k tokens")
s = fake.sessions()[-1]
is_(s.get("headers", {}).get("authorization"), "Bearer " + KEY,
    "OpenAI gets the Bearer key")
ok(CLIENT_KEY not in json.dumps(s), "the browser's key is not sent on")

c = connect("oai", "/v1/realtime?model=gpt-realtime",
            headers=[("X-Fake-Split", "1")])
c.recv(20)
send_split(c, wsc.OP_TEXT, json.dumps({"type": "response.create"}).encode())
while True:
    m = c.recv(30)
    if m is None or m.json().get("type") == "response.done":
        break
ok(m is not None, "a response.done written a byte at a time")
c.close()
rec = booked("oai", 2)
is_((rec.get("input_units"), rec.get("output_units")), (100.0, 50.0),
    "its usage, read across every split")

# -- 11. budgets ------------------------------------------------------------

c = connect("dg", "/v1/listen?" + DG_Q, project="blk")
is_(c.status, 101, "a block project under budget: 101")
n_fake = len(fake.seen())
t0 = time.time()
got = []
for i in range(20):                  # 0.05 USD at 0.6/min: 5 s of audio
    try:
        c.send_binary(SECOND)
    except OSError:
        break
    m = c.recv(5)
    if m is None or m.kind == "close":
        got.append(m)
        break
if not got:
    got = drain(c)
last = got[-1] if got else None
ok(last is not None and last.kind == "close" and last.code == 1008
   and last.reason == "budget exceeded",
   "crossing the budget mid-session: Close 1008 \"budget exceeded\" (%r)"
   % ((last.code, last.reason) if last else None,))
c.close()
rec = booked("dg", 1, project="blk")
is_((rec.get("status"), rec.get("http_status")), ("error", 1008),
    "the record: error, 1008")
ok("budget" in rec["flags"], "flagged budget")
spent = sum(x["cost_usd"] for x in rows("dg", "blk"))
ok(0.05 <= spent <= 0.05 + 2 * 0.01,
   "it ended within a frame of the budget ($%.4f)" % spent)
ok(wait_for(lambda: fake.sessions()[-1].get("ended_by") is not None, 5),
   "the provider's connection was closed")

n_fake = len(fake.seen())
c = connect("dg", "/v1/listen?" + DG_Q, project="blk")
is_(c.status, 429, "a block project over budget: 429 before the handshake")
like((json.loads(c.body or b"{}") or {}).get("error", ""), r"budget",
     "budget_exceeded")
time.sleep(0.3)
is_(len(fake.seen()), n_fake, "the provider saw no handshake")

c = connect("dg", "/v1/listen?" + DG_Q, project="wrn")
ok(c.status == 101 and "x-voicegw-budget" not in c.headers,
   "warn, nothing spent: no X-VoiceGW-Budget")
for i in range(6):
    c.send_binary(SECOND)
    c.recv(5)
c.send_json({"type": "CloseStream"})
drain(c)
c.close()
booked("dg", 1, project="wrn")
c = connect("dg", "/v1/listen?" + DG_Q, project="wrn")
is_((c.status, c.headers.get("x-voicegw-budget")), (101, "exceeded"),
    "warn over budget: 101 with X-VoiceGW-Budget: exceeded")
c.close()

# -- 12. interim records ------------------------------------------------------

def metric_cost():
    r = request("GET", port, "/v1/metrics")
    total = 0.0
    for line in r.body.decode().splitlines():
        if line.startswith("voicegw_served_cost_usd_total{") \
                and 'provider="aai"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


before = metric_cost()
m0 = mark()
c = connect("aai", AAI, headers=[("X-Fake-Session-Seconds", "5")])
c.recv(5)
ok(wait_for(lambda: since("aai", m0), timeout=5),
   "an open session writes interim records (interim=1s)")
open_rows = since("aai", m0)
ok(open_rows and all("interim" in x["flags"] for x in open_rows),
   "flagged interim")
ok(wait_for(lambda: metric_cost() > before, timeout=5),
   "/v1/metrics moves while the session is open")
time.sleep(1.5)
c.send_json({"type": "Terminate"})
drain(c)
c.close()
rec = booked("aai", 3)
session = since("aai", m0)
ok(close(sum(x["input_units"] for x in session), 5 / 60),
   "the rows of the session add up to its 5 s (%r)"
   % [x["input_units"] for x in session])

# -- 13. wss: verification and SNI --------------------------------------------

if tls:
    c = connect("sdg", "/v1/listen?" + DG_Q,
                headers=[("X-Fake-Metadata-Duration", "3")])
    is_(c.status, 101, "wss to a provider by name: 101")
    c.send_binary(SECOND)
    c.recv(5)
    c.send_json({"type": "CloseStream"})
    drain(c)
    c.close()
    ok(tls.wait_seen(1), "the wss provider saw the session")
    s = tls.sessions()[-1] if tls.sessions() else {}
    is_(s.get("sni"), "ws.fake.test", "SNI: the provider's name")
    is_(s.get("headers", {}).get("authorization"), "Token " + KEY,
        "the key over wss")
    rec = booked("sdg", 1)
    ok(close(rec.get("input_units"), 3 / 60), "a wss session on the books")

    c = connect("bad", "/v1/listen?" + DG_Q)
    is_(c.status, 502, "a certificate for another name: 502, no session")
else:
    for i in range(6):
        ok(True, "# SKIP wss needs root (a name server on port 53)")

# -- 14. no key in the logs ---------------------------------------------------

text = ngx.error_log()
ok(KEY not in text and CLIENT_KEY not in text,
   "no key in the error log")

tap.done()
