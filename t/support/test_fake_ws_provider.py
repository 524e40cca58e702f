#!/usr/bin/env python3
# t/support/test_fake_ws_provider.py -- the self-test of the fake WebSocket
# providers (fake_ws_provider.py). Run: python3 t/support/test_fake_ws_provider.py
#
# Starts fakes on free ports (the threaded one, and --selector for the
# routes again), connects straight to them with ws_client.WSClient (no
# nginx), and checks each route's exchange, the key headers and the 401,
# the 404, X-Fake-Reject, X-Fake-Close-After/Code, X-Fake-Split (frames
# still decode), the other knobs, the subprotocol echo, extensions never
# negotiated, a client's protocol error (1002), the --record lines, a
# client that vanishes, and SIGTERM. Not part of the suite. Prints one
# "ok"/"not ok" line per check, exits 1 if any failed. Every process it
# starts is stopped by its pid at the end.

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ws_client as wsc  # noqa: E402
from selftest import (FakeProcess, check,  # noqa: E402
                      free_port, stop_all, summary, until)

FAKE = os.path.join(HERE, "fake_ws_provider.py")
TMP = tempfile.mkdtemp(prefix="fake_ws_provider_test.")
KEY = "sk-FAKE-ws-selftest-0123456789"
LISTEN_Q = "?model=nova-3&encoding=linear16&sample_rate=16000&channels=1"


# ---------------------------------------------------------------------------
# harness

class Fake(FakeProcess):
    script = FAKE
    key = KEY
    tmp = TMP

    def __init__(self, *args):
        FakeProcess.__init__(self, *args)
        self.mark = 0

    def new(self, n=1, timeout=5.0):
        """The next n record lines after the ones already taken."""
        got = until(lambda: len(self.seen()) >= self.mark + n, timeout)
        lines = self.seen()[self.mark:]
        self.mark += len(lines) if got else 0
        return lines

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def connect(self, path, headers=(), auth=("Authorization",
                                              "Token " + KEY)):
        h = list(headers)
        if auth:
            h.append(auth)
        return wsc.WSClient.connect(self.url(path), headers=h, timeout=10)


def read_all(c, timeout=5.0):
    """Every message until the server's close (included) or timeout."""
    out = []
    deadline = time.monotonic() + timeout
    while True:
        m = c.recv(max(0.0, deadline - time.monotonic()))
        if m is None:
            return out
        out.append(m)
        if m.kind == "close":
            return out


def texts(msgs):
    return [json.loads(m.data) for m in msgs if m.kind == "text"]


# ---------------------------------------------------------------------------
# checks

def test_keys(f):
    for name, value in (("Authorization", "Bearer " + KEY),
                        ("Authorization", "Token " + KEY),
                        ("Authorization", KEY), ("xi-api-key", KEY),
                        ("X-API-Key", KEY)):
        c = f.connect("/v1/listen" + LISTEN_Q, auth=(name, value))
        ok = c.open
        if ok:
            c.close()
        rec = f.new()
        check(ok and rec and rec[-1]["key_header"] == name.lower(),
              "key in %s: %s" % (name, value.split(" ")[0]), rec)
    c = f.connect("/v1/listen" + LISTEN_Q, auth=None)
    body = json.loads(c.body) if not c.open else None
    check(not c.open and c.status == 401 and body == {
        "error": "invalid credentials"}, "no key: 401 with a JSON body",
        (c.status, c.body))
    c = f.connect("/v1/listen", auth=("Authorization", "Token wrong"))
    check(not c.open and c.status == 401, "wrong key: 401")
    recs = f.new(2)
    check(len(recs) == 2 and all(r["status"] == 401 and
                                 r["ended_by"] == "rejected" for r in recs),
          "refused handshakes are recorded (status 401, rejected)", recs)
    c = f.connect("/v1/nothing-here")
    check(not c.open and c.status == 404 and
          json.loads(c.body)["error"]["type"] == "not_found",
          "unknown path: 404", (c.status, c.body))
    f.new()
    c = f.connect("/v1/listen", headers=[("X-Fake-Reject", "403")])
    check(not c.open and c.status == 403 and
          json.loads(c.body)["error"]["code"] == 403,
          "X-Fake-Reject: 403 with a JSON body", (c.status, c.body))
    f.new()
    c = f.connect("/v1/listen", headers=[("X-Fake-Close-After", "x")])
    check(not c.open and c.status == 400 and "fake_knob_error" in
          c.body.decode(), "a knob that does not parse: 400")
    f.new()
    # a plain GET (no Upgrade)
    s = socket.create_connection(("127.0.0.1", f.port), timeout=5)
    s.sendall(b"GET /v1/listen HTTP/1.1\r\nHost: x\r\nAuthorization: Token "
              + KEY.encode() + b"\r\n\r\n")
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    s.close()
    check(data.startswith(b"HTTP/1.1 426 "), "GET without Upgrade: 426",
          data[:60])
    f.new()


def test_handshake_headers(f):
    c = f.connect("/v1/listen" + LISTEN_Q, headers=[
        ("Sec-WebSocket-Extensions",
         "permessage-deflate; client_max_window_bits"),
        ("Sec-WebSocket-Protocol", "token, " + KEY)])
    check(c.open and "sec-websocket-extensions" not in c.headers,
          "extensions offered: none negotiated", c.headers)
    check(c.headers.get("sec-websocket-protocol") == "token",
          "the first offered subprotocol is echoed", c.headers)
    c.close()
    rec = f.new()[0]
    check(rec["extensions_offered"] is True and rec["subprotocol"] ==
          "token", "record: extensions_offered, subprotocol", rec)
    c = f.connect("/v1/listen" + LISTEN_Q)
    c.close()
    rec = f.new()[0]
    check(rec["extensions_offered"] is False and rec["subprotocol"] is None
          and "sec-websocket-protocol" not in c.headers,
          "no offer: extensions_offered false, no subprotocol")


def test_deepgram_listen(f, split=False):
    tag = " (split)" if split else ""
    h = [("X-Fake-Split", "1")] if split else []
    c = f.connect("/v1/listen" + LISTEN_Q, headers=h)
    sizes = [640, 640, 3200, 1]
    for n in sizes:
        c.send_binary(bytes(n))
    c.send_json({"type": "KeepAlive"})
    c.send_json({"type": "Finalize"})
    res = []
    for _ in sizes:
        m = c.recv(5)
        res.append(json.loads(m.data) if m and m.kind == "text" else m)
    check(all(isinstance(r, dict) and r.get("type") == "Results"
              for r in res), "listen%s: one Results per binary frame" % tag,
          res)
    check([r.get("seq") for r in res] == [0, 1, 2, 3] and
          [r["duration"] for r in res] == [0.02, 0.02, 0.1, 0.00003125] and
          [r["start"] for r in res] == [0.0, 0.02, 0.04, 0.14] and
          res[0]["channel_index"] == [0, 1] and res[0]["is_final"] is True
          and res[0]["channel"]["alternatives"][0]["transcript"] == "",
          "listen%s: start, duration, seq from the bytes" % tag,
          [(r.get("start"), r.get("duration"), r.get("seq")) for r in res])
    c.send_json({"type": "CloseStream"})
    rest = read_all(c)
    t = texts(rest)
    check(len(t) == 1 and t[0]["type"] == "Metadata" and
          t[0]["duration"] == 0.140031 and t[0]["channels"] == 1 and
          t[0]["transaction_key"] == "deprecated" and
          rest[-1].kind == "close" and rest[-1].code == 1000,
          "listen%s: CloseStream -> Metadata with the total, Close 1000"
          % tag, rest)
    c.shutdown()
    rec = f.new()[0]
    check(rec["route"] == "deepgram.listen" and rec["path"] == "/v1/listen"
          and rec["query"]["sample_rate"] == "16000" and
          rec["client_binary_bytes"] == sum(sizes) and
          rec["client_binary_frames"] == 4 and
          rec["client_text_messages"] == [{"type": "KeepAlive"},
                                          {"type": "Finalize"},
                                          {"type": "CloseStream"}] and
          rec["server_messages"] == 5 and rec["close_code_sent"] == 1000 and
          rec["close_code_received"] == 1000 and
          rec["ended_by"] == "server_close" and
          rec["headers"]["authorization"] == "Token " + KEY and
          rec["t_close"] >= rec["t_open"] > 0,
          "listen%s: the record line" % tag, rec)


def test_deepgram_listen_knobs(f):
    # mulaw 8 kHz stereo: 16000 bytes/s
    c = f.connect("/v1/listen?encoding=mulaw&sample_rate=8000&channels=2",
                  headers=[("X-Fake-Metadata-Duration", "42.5")])
    c.send_binary(bytes(1600))
    r = c.recv_json(5)
    c.send_json({"type": "CloseStream"})
    t = texts(read_all(c))
    check(r["duration"] == 0.1 and t[0]["duration"] == 42.5 and
          t[0]["channels"] == 2,
          "listen: mulaw/8000/2 byte rate; X-Fake-Metadata-Duration", (r, t))
    f.new()
    c = f.connect("/v1/listen" + LISTEN_Q,
                  headers=[("X-Fake-No-Metadata", "1"),
                           ("X-Fake-Quiet", "1")])
    c.send_binary(bytes(640))
    c.send_json({"type": "CloseStream"})
    rest = read_all(c)
    check(len(rest) == 1 and rest[0].kind == "close" and
          rest[0].code == 1000,
          "listen: X-Fake-Quiet (no Results), X-Fake-No-Metadata (just "
          "Close 1000)", rest)
    f.new()


def test_close_after(f):
    c = f.connect("/v1/listen" + LISTEN_Q,
                  headers=[("X-Fake-Close-After", "2"),
                           ("X-Fake-Close-Code", "1011"),
                           ("X-Fake-Close-Reason", "fake overload")])
    for _ in range(4):
        try:
            c.send_binary(bytes(640))
        except OSError:
            break
    msgs = read_all(c)
    t = texts(msgs)
    check(len(t) == 2 and msgs[-1].kind == "close" and
          msgs[-1].code == 1011 and msgs[-1].reason == "fake overload",
          "X-Fake-Close-After 2 + Close-Code 1011 + Close-Reason", msgs)
    c.shutdown()
    rec = f.new()[0]
    check(rec["close_code_sent"] == 1011 and
          rec["ended_by"] == "server_close" and rec["server_messages"] == 2,
          "record: close_code_sent 1011, server_close", rec)
    c = f.connect("/v1/realtime?model=gpt-realtime",
                  headers=[("X-Fake-Close-After", "0"),
                           ("X-Fake-Close-Code", "4001")])
    msgs = read_all(c)
    check(len(msgs) == 1 and msgs[0].code == 4001,
          "X-Fake-Close-After 0: Close at once, before session.created",
          msgs)
    f.new()


def test_client_vanished(f):
    c = f.connect("/v1/listen" + LISTEN_Q)
    c.send_binary(bytes(640))
    c.recv(5)
    c.abort()
    rec = f.new()
    check(rec and rec[0]["ended_by"] == "client_vanished" and
          rec[0]["close_code_received"] is None and
          rec[0]["close_code_sent"] is None and
          rec[0]["client_binary_bytes"] == 640,
          "a client gone without a Close: client_vanished", rec)
    c = f.connect("/v3/ws?sample_rate=16000&speech_model=universal")
    c.recv(5)
    c.abort(rst=True)
    rec = f.new()
    check(rec and rec[0]["ended_by"] == "client_vanished",
          "a client gone with RST: client_vanished", rec)


def test_protocol_error(f):
    c = f.connect("/v1/listen" + LISTEN_Q)
    c.send_raw(wsc.encode_frame(wsc.OP_BINARY, bytes(10), mask=False))
    msgs = read_all(c)
    check(msgs and msgs[-1].kind == "close" and msgs[-1].code == 1002,
          "an unmasked client frame: Close 1002", msgs)
    c.shutdown()
    rec = f.new()[0]
    check(rec["ended_by"] == "error" and rec["close_code_sent"] == 1002 and
          "not masked" in rec["error"], "record: error, 1002", rec)


def test_client_close(f):
    c = f.connect("/v1/listen" + LISTEN_Q)
    c.send_binary(bytes(320))
    c.recv(5)
    seen = c.close(4000, "bye")
    rec = f.new()[0]
    check(seen and seen[-1].kind == "close" and seen[-1].code == 4000 and
          rec["ended_by"] == "client_close" and
          rec["close_code_received"] == 4000 and
          rec["close_code_sent"] == 4000,
          "client Close 4000: echoed, client_close", (seen, rec))


def test_deepgram_speak(f):
    c = f.connect("/v1/speak?model=aura-2-thalia-en")
    meta = c.recv_json(5)
    c.send_json({"type": "Speak", "text": "Hello there"})
    audio = c.recv(5)
    c.send_json({"type": "Speak", "text": "x" * 1000})
    big = c.recv(5)
    c.send_json({"type": "Flush"})
    fl = c.recv_json(5)
    c.send_json({"type": "Flush"})
    fl2 = c.recv_json(5)
    c.send_json({"type": "Close"})
    rest = read_all(c)
    c.shutdown()
    check(meta["type"] == "Metadata" and
          meta["model_name"] == "aura-2-thalia-en" and "request_id" in meta,
          "speak: Metadata after the handshake", meta)
    check(audio.kind == "binary" and audio.size == 1100 and
          big.size == 65536, "speak: len(text) x 100 bytes, capped 64 KiB",
          (audio, big.size))
    check(fl == {"type": "Flushed", "sequence_id": 0} and
          fl2["sequence_id"] == 1, "speak: Flush -> Flushed", (fl, fl2))
    check(rest and rest[-1].kind == "close" and rest[-1].code == 1000,
          "speak: Close -> Close 1000", rest)
    rec = f.new()[0]
    check(rec["route"] == "deepgram.speak" and rec["server_messages"] == 5
          and rec["client_text_messages"][0] == {"type": "Speak",
                                                 "text": "Hello there"},
          "speak: record", rec)


def test_elevenlabs(f):
    path = "/v1/text-to-speech/voice123/stream-input?model_id=eleven_flash_v2"
    c = f.connect(path, auth=("xi-api-key", KEY))
    c.send_json({"text": " ", "voice_settings": {"stability": 0.5},
                 "generation_config": {"chunk_length_schedule": [50]}})
    c.send_json({"text": "Hello world ", "try_trigger_generation": True})
    a = c.recv_json(5)
    c.send_json({"text": "Bye. "})
    b = c.recv_json(5)
    c.send_json({"text": ""})
    rest = read_all(c)
    c.shutdown()
    check(set(a) == {"audio", "isFinal", "normalizedAlignment",
                     "alignment"} and a["isFinal"] is False and
          len(base64.b64decode(a["audio"])) == 12 * 50 and
          len(base64.b64decode(b["audio"])) == 5 * 50,
          "elevenlabs: audio of len(text) x 50 bytes per text, none for "
          "the first ' '", (len(a["audio"]), len(b["audio"])))
    t = texts(rest)
    check(t == [{"isFinal": True, "audio": None}] and
          rest[-1].kind == "close" and rest[-1].code == 1000,
          "elevenlabs: {\"text\":\"\"} -> isFinal, Close 1000", rest)
    rec = f.new()[0]
    check(rec["route"] == "elevenlabs.stream_input" and
          rec["key_header"] == "xi-api-key" and rec["server_messages"] == 3
          and rec["client_text_messages"][1]["text"] == "Hello world ",
          "elevenlabs: record", rec)
    # the key in the first message
    c = f.connect(path, auth=None)
    check(c.open, "elevenlabs: no key header: upgrade (key may come in "
          "the first message)")
    c.send_json({"text": " ", "xi_api_key": KEY})
    c.send_json({"text": "Hi"})
    a = c.recv_json(5)
    c.close()
    rec = f.new()[0]
    check(len(base64.b64decode(a["audio"])) == 100 and
          rec["key_header"] == "xi_api_key",
          "elevenlabs: xi_api_key in the first message", rec)
    c = f.connect(path, auth=None)
    c.send_json({"text": " ", "xi_api_key": "wrong"})
    rest = read_all(c)
    check(rest and rest[-1].kind == "close" and rest[-1].code == 1008,
          "elevenlabs: wrong xi_api_key: Close 1008", rest)
    c.shutdown()
    f.new()
    c = f.connect(path, auth=None)
    c.send_json({"text": " "})
    rest = read_all(c)
    check(rest and rest[-1].code == 1008,
          "elevenlabs: no key anywhere: Close 1008", rest)
    c.shutdown()
    f.new()
    c = f.connect(path, auth=("xi-api-key", KEY))
    c.send_json({"text": " ", "xi_api_key": "wrong"})
    rest = read_all(c)
    check(rest and rest[-1].code == 1008,
          "elevenlabs: good header, wrong xi_api_key: Close 1008", rest)
    c.shutdown()
    f.new()


def test_cartesia(f):
    h = [("Cartesia-Version", "2025-04-16")]
    c = f.connect("/tts/websocket", headers=h,
                  auth=("X-API-Key", KEY))
    msg = {"model_id": "sonic-3", "transcript": "Hello, ", "voice": {
        "mode": "id", "id": "v1"}, "context_id": "c1", "continue": True,
        "output_format": {"container": "raw", "encoding": "pcm_s16le",
                          "sample_rate": 16000}}
    c.send_json(msg)
    a = c.recv_json(5)
    c.send_json(dict(msg, transcript="world.", **{"continue": False}))
    b = c.recv_json(5)
    d = c.recv_json(5)
    c.send_json({"model_id": "sonic-3", "transcript": "Again",
                 "context_id": "c2"})
    e = c.recv_json(5)
    g = c.recv_json(5)
    seen = c.close()
    check(a["type"] == "chunk" and a["done"] is False and
          a["status_code"] == 200 and a["context_id"] == "c1" and
          len(base64.b64decode(a["data"])) == 7 * 50,
          "cartesia: a chunk per message", a)
    check(b["type"] == "chunk" and d == {"type": "done", "done": True,
                                         "status_code": 200,
                                         "context_id": "c1"},
          "cartesia: continue false -> chunk and done", (b, d))
    check(e["context_id"] == "c2" and g["type"] == "done",
          "cartesia: continue absent -> done", (e, g))
    rec = f.new()[0]
    check(seen and seen[-1].code == 1000 and
          rec["ended_by"] == "client_close" and rec["server_messages"] == 5
          and rec["key_header"] == "x-api-key",
          "cartesia: client Close -> Close 1000; record", rec)
    c = f.connect("/tts/websocket?cartesia_version=2025-04-16",
                  auth=("Authorization", "Bearer " + KEY))
    check(c.open, "cartesia: the version in the query")
    c.close()
    f.new()
    c = f.connect("/tts/websocket")
    check(not c.open and c.status == 400,
          "cartesia: no version anywhere: 400", c.status)
    f.new()


def test_assemblyai(f):
    c = f.connect("/v3/ws?sample_rate=16000&speech_model=universal",
                  auth=("Authorization", KEY))
    begin = c.recv_json(5)
    for _ in range(25):
        c.send_binary(bytes(3200))      # 0.1 s each
    turns = []
    while len(turns) < 2:
        m = c.recv_json(5)
        if m is None:
            break
        turns.append(m)
    time.sleep(0.6)
    c.send_json({"type": "Terminate"})
    rest = read_all(c)
    c.shutdown()
    check(begin["type"] == "Begin" and begin["id"] and
          isinstance(begin["expires_at"], int), "assemblyai: Begin", begin)
    check(len(turns) == 2 and all(t["type"] == "Turn" and
                                  t["end_of_turn"] is False and
                                  t["words"] == [] for t in turns),
          "assemblyai: a Turn every 10th binary frame", turns)
    t = texts(rest)
    check(t == [{"type": "Termination", "audio_duration_seconds": 2,
                 "session_duration_seconds": 1}] and
          rest[-1].code == 1000,
          "assemblyai: Terminate -> Termination (audio 2.5 s -> 2, "
          "session ~0.6 s -> 1), Close 1000", t)
    f.new()
    c = f.connect("/v3/ws?sample_rate=16000&speech_model=universal",
                  headers=[("X-Fake-Session-Seconds", "3600")])
    c.recv_json(5)
    c.send_json({"type": "Terminate"})
    t = texts(read_all(c))
    c.shutdown()
    check(t and t[0]["session_duration_seconds"] == 3600,
          "assemblyai: X-Fake-Session-Seconds", t)
    f.new()


def test_openai(f):
    for path in ("/v1/realtime?model=gpt-realtime",
                 "/realtime?model=gpt-realtime"):
        c = f.connect(path, auth=("Authorization", "Bearer " + KEY))
        created = c.recv_json(5)
        c.send_json({"type": "input_audio_buffer.append",
                     "audio": base64.b64encode(bytes(4800)).decode()})
        dones = []
        for _ in range(3):
            c.send_json({"type": "response.create"})
            done, seen = c.recv_until("response.done", 5)
            dones.append((done, seen))
        c.close()
        rec = f.new()[0]
        check(created["type"] == "session.created" and
              created["session"]["model"] == "gpt-realtime",
              "realtime %s: session.created" % path.split("?")[0], created)
        kinds = [json.loads(m.data)["type"] for m in dones[0][1]]
        check(kinds == ["response.created", "response.output_audio.delta",
                        "response.output_audio.delta", "response.done"],
              "realtime: response.create -> created, 2 deltas, done", kinds)
        u = dones[0][0]["response"]["usage"]
        check(u == {"total_tokens": 150, "input_tokens": 100,
                    "output_tokens": 50,
                    "input_token_details": {
                        "text_tokens": 60, "audio_tokens": 40,
                        "image_tokens": 0, "cached_tokens": 20,
                        "cached_tokens_details": {"text_tokens": 20,
                                                  "audio_tokens": 0,
                                                  "image_tokens": 0}},
                    "output_token_details": {"text_tokens": 10,
                                             "audio_tokens": 40}} and
              all(d[0]["response"]["usage"] == u for d in dones) and
              dones[0][0]["response"]["status"] == "completed" and
              dones[0][0]["response"]["object"] == "realtime.response",
              "realtime: the default usage, the same in every "
              "response.done", u)
        raw = dones[0][1][-1].data
        check(raw.index('"usage"') > raw.index('"output"') and
              raw.index('"usage"') - raw.index('"output"') > 3000,
              "realtime: usage comes after a 3000-character output",
              len(raw))
        check(rec["route"] == "openai.realtime" and
              rec["server_messages"] == 13 and rec["client_text_count"] == 4
              and rec["ended_by"] == "client_close",
              "realtime: record", rec)
    c = f.connect("/v1/realtime?model=gpt-realtime",
                  headers=[("X-Fake-Input-Tokens", "1000"),
                           ("X-Fake-Output-Tokens", "500"),
                           ("X-Fake-Cached-Tokens", "0"),
                           ("X-Fake-Output-Audio-Tokens", "500"),
                           ("X-Fake-Transcript-Chars", "10")])
    c.recv_json(5)
    c.send_json({"type": "response.create"})
    done, seen = c.recv_until("response.done", 5)
    c.close()
    u = done["response"]["usage"]
    check(u["input_tokens"] == 1000 and u["total_tokens"] == 1500 and
          u["input_token_details"]["audio_tokens"] == 400 and
          u["input_token_details"]["cached_tokens"] == 0 and
          u["output_token_details"] == {"text_tokens": 0,
                                        "audio_tokens": 500} and
          len(done["response"]["output"][0]["content"][0]["transcript"])
          == 10, "realtime: the token knobs", u)
    f.new()


def test_split(f):
    test_deepgram_listen(f, split=True)
    c = f.connect("/v1/realtime?model=gpt-realtime",
                  headers=[("X-Fake-Split", "1")])
    c.recv_json(5)
    c.send_json({"type": "response.create"})
    done, seen = c.recv_until("response.done", 20)
    c.close()
    check(done is not None and
          done["response"]["usage"]["total_tokens"] == 150,
          "X-Fake-Split: a 3 KB response.done sent byte by byte decodes")
    f.new()


def test_selector():
    f = Fake("--selector")
    test_deepgram_listen(f)
    test_close_after(f)
    test_client_vanished(f)
    test_protocol_error(f)
    test_client_close(f)
    test_openai(f)
    # many sessions at once
    cs = [f.connect("/v1/listen" + LISTEN_Q) for _ in range(50)]
    for c in cs:
        c.send_binary(bytes(640))
    good = 0
    for c in cs:
        m = c.recv_json(5)
        good += m is not None and m["seq"] == 0
        c.send_json({"type": "CloseStream"})
    for c in cs:
        read_all(c)
        c.shutdown()
    recs = f.new(50)
    check(good == 50 and len(recs) == 50 and
          all(r["ended_by"] == "server_close" for r in recs),
          "--selector: 50 sessions at once", (good, len(recs)))
    check(f.stop() == 0, "--selector fake: SIGTERM exit 0")
    errs = open(f.err.name).read()
    check(errs == "", "--selector: nothing on stderr", errs[-2000:])


def main():
    t0 = time.monotonic()
    f = None
    try:
        f = Fake()
        for t in (test_keys, test_handshake_headers, test_deepgram_listen,
                  test_deepgram_listen_knobs, test_close_after,
                  test_client_vanished, test_protocol_error,
                  test_client_close, test_deepgram_speak, test_elevenlabs,
                  test_cartesia, test_assemblyai, test_openai, test_split):
            try:
                t(f)
            except Exception:
                check(False, t.__name__, traceback.format_exc())
                f.mark = len(f.seen())
        # a session still open when SIGTERM comes
        c = f.connect("/v1/listen" + LISTEN_Q)
        check(f.stop() == 0, "SIGTERM with a session open: exit 0")
        c.abort()
        rest = f.proc.stdout.read()
        check(rest == "", "nothing on stdout but 'ready'", rest)
        errs = open(f.err.name).read()
        check(errs == "", "nothing on the fake's stderr", errs[-2000:])
        try:
            test_selector()
        except Exception:
            check(False, "test_selector", traceback.format_exc())
    finally:
        stop_all()
    return summary(t0, TMP)


if __name__ == "__main__":
    sys.exit(main())
