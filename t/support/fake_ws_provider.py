#!/usr/bin/env python3
#
# t/support/fake_ws_provider.py -- the fake cloud providers of the tests
# on the WebSocket side: it owns the streaming routes the gateway's
# "voicegw_proxy" relays and meters (Deepgram live STT and WS TTS,
# ElevenLabs stream-input, Cartesia /tts/websocket, AssemblyAI v3
# streaming, OpenAI Realtime), with deterministic units so that a test can
# compute the expected usage and cost, and a record of every session.
# docs/testing-fakes.md section 5 is its guide.
#
#   fake_ws_provider.py --port N --key K [--record FILE] [--tls CERT KEY]
#                       [--selector]
#
# Every handshake must carry K in one of the providers' key headers, or
# it gets 401 (ElevenLabs may carry it in its first message instead).
# --record appends one JSON line per session when it ends (see RECORD).
# With --tls it speaks wss. With --selector one thread serves every open
# session (the benchmark's mode: 200 sessions at 50 frames/s); the
# handshakes still get a thread each. It prints "ready" on stdout once it
# listens, and nothing else; SIGTERM stops it (exit 0).
#
# Per-session knobs come in X-Fake-* handshake headers (the gateway
# forwards unknown client headers). It never negotiates an extension.
#
# Must never: depend on anything outside the Python 3 standard library
# and t/support/ws_client.py (the one RFC 6455 codec), or let one broken
# connection take the process down.

import argparse
import base64
import hashlib
import json
import os
import queue
import selectors
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_client as wsp  # noqa: E402  (the shared RFC 6455 codec)
from fake_provider import HeaderKnobs, KnobError  # noqa: E402

# the headers that may carry the key, and the schemes allowed before it
KEY_HEADERS = (
    ("authorization", ("Bearer ", "Token ", "")),
    ("xi-api-key", ("",)),
    ("x-api-key", ("",)),
)

HANDSHAKE_TIMEOUT = 10.0
CLOSE_WAIT = 2.0                 # after our Close, wait this for the peer's
TEXTS_KEPT = 200                 # client text messages kept in a record
SPLIT_EVERY = 5                  # X-Fake-Split: a sleep every this many bytes
SPLIT_SLEEP = 0.0005
ELEVEN_AUDIO_MAX = 1 << 20       # ElevenLabs: audio bytes per reply, at most
SPEAK_AUDIO_MAX = 64 * 1024      # Deepgram speak: audio bytes per Speak
CREATED = "2026-01-01T00:00:00.000Z"

ROUTES = {
    "/v1/listen": "deepgram.listen",
    "/v1/speak": "deepgram.speak",
    "/tts/websocket": "cartesia.tts",
    "/v3/ws": "assemblyai.stream",
    "/v1/realtime": "openai.realtime",
    "/realtime": "openai.realtime",
}
ELEVEN_PREFIX = "/v1/text-to-speech/"
ELEVEN_SUFFIX = "/stream-input"


def match_route(path):
    r = ROUTES.get(path)
    if r:
        return r, {}
    if path.startswith(ELEVEN_PREFIX) and path.endswith(ELEVEN_SUFFIX):
        voice = path[len(ELEVEN_PREFIX):-len(ELEVEN_SUFFIX)]
        if voice and "/" not in voice:
            return "elevenlabs.stream_input", {"voice_id": voice}
    return None, {}


def jdump(obj):
    return json.dumps(obj, separators=(",", ":"))


def b64zeros(n):
    return base64.b64encode(bytes(n)).decode("ascii")


class Knobs(HeaderKnobs):
    """The X-Fake-* headers of one handshake (lower-case dict)."""

    def __init__(self, headers):
        self.h = headers
        self.split = self.bool("split")
        self.close_after = self.int("close-after", None)
        self.close_code = self.int("close-code", 1000)
        self.close_reason = self.h.get("x-fake-close-reason", "")
        self.reject = self.int("reject", None)
        self.metadata_duration = self.num("metadata-duration", None)
        self.no_metadata = self.bool("no-metadata")
        self.quiet = self.bool("quiet")
        self.session_seconds = self.num("session-seconds", None)
        self.input_tokens = self.int("input-tokens", 100)
        self.output_tokens = self.int("output-tokens", 50)
        self.cached_tokens = self.int("cached-tokens", 20)
        self.input_audio = self.int("input-audio-tokens",
                                    int(round(self.input_tokens * 0.4)))
        self.output_audio = self.int("output-audio-tokens",
                                     int(round(self.output_tokens * 0.8)))
        self.transcript_chars = self.int("transcript-chars", 3000)
        if self.input_audio > self.input_tokens or \
                self.output_audio > self.output_tokens:
            raise KnobError("X-Fake-*-Audio-Tokens: more than the total")
        if self.close_code > 65535:
            raise KnobError("X-Fake-Close-Code: too big")


class ServerWS(wsp.WebSocket):
    """The codec's WebSocket, server side, that writes byte by byte under
    X-Fake-Split and remembers the close code it sent."""

    def __init__(self, sock, leftover, split):
        wsp.WebSocket.__init__(self, sock, is_client=False,
                               leftover=leftover)
        self.split = split
        self.split_count = 0
        self.close_code_sent = None

    def send_raw(self, data):
        if not self.split:
            wsp.WebSocket.send_raw(self, data)
            return
        with self.send_lock:
            self.sock.settimeout(self.send_timeout)
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])
                self.split_count += 1
                if self.split_count % SPLIT_EVERY == 0:
                    time.sleep(SPLIT_SLEEP)

    def send_close(self, code=1000, reason=""):
        if not self.close_sent:
            self.close_code_sent = code
        wsp.WebSocket.send_close(self, code, reason)


# ---------------------------------------------------------------------------
# RECORD: one JSON line per session (or refused handshake), appended in one
# write when it ends:
#   route, status (101, or the HTTP status of a refusal), path, query (dict,
#   last value of each name), headers (lower-case dict of the handshake),
#   key_header (where the key was: a header name, "xi_api_key" for the
#   ElevenLabs first message, null), subprotocol (echoed, or null),
#   extensions_offered (bool), client_binary_frames, client_binary_bytes,
#   client_text_count, client_text_messages (the first 200 texts, each
#   parsed when JSON), server_messages (data messages sent),
#   close_code_received, close_code_sent (int|null), ended_by
#   (client_close | server_close | client_vanished | error | rejected),
#   error (text, or null), t_open, t_close (unix time).


class Session(object):
    """One handshake and, after a 101, one WebSocket session. Route logic
    lives in the r_* methods (on open, per text message, per binary
    message); it sends through send_json / send_binary / server_close."""

    def __init__(self, srv, sock, client):
        self.srv = srv
        self.sock = sock
        self.client = client
        self.ws = None
        self.route = None
        self.params = {}
        self.k = None
        self.path = None
        self.query = {}
        self.headers = {}
        self.key_header = None
        self.key_pending = False
        self.subprotocol = None
        self.extensions_offered = False
        self.status = None
        self.binary_frames = 0
        self.binary_bytes = 0
        self.text_count = 0
        self.texts = []
        self.server_messages = 0
        self.close_code_received = None
        self.ended_by = None
        self.error = None
        self.server_closed = False
        self.close_deadline = None
        self.t_open = None
        self.t_close = None
        self.recorded = False
        with srv.lock:
            srv.seq += 1
            self.seq = srv.seq
        self.t0 = time.monotonic()
        self.state = {}

    # -- handshake ---------------------------------------------------------

    def handshake(self):
        """Reads the request and answers it. True when a session runs."""
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        head, rest = wsp.read_http_head(self.sock, deadline)
        line, hlist = wsp.parse_head(head)
        self.headers = wsp.headers_dict(hlist)
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            self.refuse(400, {"error": "bad request line"})
            return False
        method, target, version = parts
        u = urlsplit(target)
        self.path = u.path
        self.query = {k: v[-1] for k, v in
                      parse_qs(u.query, keep_blank_values=True).items()}
        self.route, self.params = match_route(u.path)
        h = self.headers
        self.extensions_offered = bool(h.get("sec-websocket-extensions"))
        if self.route is None:
            self.refuse(404, {"error": {"message": "no route for %s %s" % (
                method, u.path), "type": "not_found"}})
            return False
        if method != "GET":
            self.refuse(405, {"error": "method not allowed"},
                        [("Allow", "GET")])
            return False
        if h.get("upgrade", "").lower() != "websocket" or \
                version != "HTTP/1.1":
            self.refuse(426, {"error": "WebSocket upgrade expected"},
                        [("Upgrade", "websocket")])
            return False
        if "upgrade" not in h.get("connection", "").lower():
            self.refuse(400, {"error": "Connection: Upgrade expected"})
            return False
        if h.get("sec-websocket-version") != "13":
            self.refuse(426, {"error": "Sec-WebSocket-Version 13 expected"},
                        [("Sec-WebSocket-Version", "13")])
            return False
        key = h.get("sec-websocket-key", "")
        try:
            ok = len(base64.b64decode(key, validate=True)) == 16
        except ValueError:
            ok = False
        if not ok:
            self.refuse(400, {"error": "bad Sec-WebSocket-Key"})
            return False
        self.key_header = self.find_key()
        if self.key_header is None:
            if self.route == "elevenlabs.stream_input":
                self.key_pending = True       # may come in the 1st message
            else:
                self.refuse(401, {"error": "invalid credentials"})
                return False
        try:
            self.k = Knobs(h)
        except KnobError as e:
            self.refuse(400, {"error": {"message": str(e),
                                        "type": "fake_knob_error"}})
            return False
        if self.k.reject is not None:
            st = self.k.reject
            self.refuse(st, {"error": {"message": "fake reject %d" % st,
                                       "type": "fake_error", "code": st}})
            return False
        if self.route == "cartesia.tts" and not (
                h.get("cartesia-version") or
                self.query.get("cartesia_version")):
            self.refuse(400, {"error": "Cartesia-Version header or "
                              "cartesia_version query parameter required"})
            return False

        lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                 "Connection: Upgrade",
                 "Sec-WebSocket-Accept: %s" % wsp.accept_key(key),
                 "Server: fake-ws-provider"]
        protos = [p.strip() for p in
                  h.get("sec-websocket-protocol", "").split(",") if p.strip()]
        if protos:
            self.subprotocol = protos[0]
            lines.append("Sec-WebSocket-Protocol: %s" % protos[0])
        if self.route.startswith("deepgram."):
            lines.append("dg-request-id: %s" % self.uuid())
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.ws = ServerWS(self.sock, rest, self.k.split)
        self.ws.send_raw(data)
        self.status = 101
        self.t_open = time.time()
        self.t0 = time.monotonic()
        return True

    def find_key(self):
        key = self.srv.key
        for name, prefixes in KEY_HEADERS:
            v = self.headers.get(name)
            if v is None:
                continue
            for prefix in prefixes:
                if v == prefix + key:
                    return name
        return None

    def refuse(self, status, obj, extra=()):
        body = jdump(obj).encode()
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Server: fake-ws-provider",
                 "Content-Type: application/json",
                 "Content-Length: %d" % len(body), "Connection: close"]
        lines += ["%s: %s" % kv for kv in extra]
        self.status = status
        self.ended_by = "rejected"
        try:
            self.sock.settimeout(10)
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n")
                              .encode("latin-1") + body)
        except OSError:
            pass
        self.finish()

    # -- sending -----------------------------------------------------------

    def sent(self):
        self.server_messages += 1
        ca = self.k.close_after
        if ca is not None and self.server_messages >= ca:
            self.server_close(self.k.close_code, self.k.close_reason)

    def send_json(self, obj):
        self.send_text(jdump(obj))

    def send_text(self, text):
        if self.server_closed:
            return
        self.ws.send_text(text)
        self.sent()

    def send_binary(self, data):
        if self.server_closed:
            return
        self.ws.send_binary(data)
        self.sent()

    def server_close(self, code=1000, reason=""):
        if self.server_closed:
            return
        self.server_closed = True
        self.close_deadline = time.monotonic() + CLOSE_WAIT
        self.ws.send_close(code, reason)

    def uuid(self):
        return "00000000-0000-4000-8000-%012d" % self.seq

    # -- the session -------------------------------------------------------

    def opened(self):
        """Right after the 101: True when the session already ended."""
        if self.k.close_after == 0:
            self.server_close(self.k.close_code, self.k.close_reason)
        else:
            getattr(self, "o_" + self.route.split(".")[1], lambda: None)()
        return False

    def step(self, m):
        """One event from ws.recv(). True when the session is over."""
        if m.kind == "close":
            if self.ws.close_received:
                self.close_code_received = m.code
                self.ended_by = "server_close" if self.server_closed \
                    else "client_close"
            else:
                self.ended_by = "server_close" if self.server_closed \
                    else "client_vanished"
            return True
        if m.kind == "binary":
            self.binary_frames += 1
            self.binary_bytes += m.size
            if not self.server_closed:
                self.on_binary(m.data)
            return False
        self.text_count += 1
        try:
            obj = json.loads(m.data)
        except ValueError:
            obj = None
            if len(self.texts) < TEXTS_KEPT:
                self.texts.append(m.data)
        else:
            if len(self.texts) < TEXTS_KEPT:
                self.texts.append(obj)
        if not self.server_closed:
            self.on_text(obj if isinstance(obj, dict) else None)
        return False

    def fail(self, exc):
        """A protocol error (the codec sent its close) or a bug."""
        if isinstance(exc, wsp.WSProtocolError):
            self.error = "%d %s" % (exc.code, exc.reason)
        elif isinstance(exc, OSError):
            self.ended_by = "server_close" if self.server_closed \
                else "client_vanished"
            return
        else:
            self.error = repr(exc)
            traceback.print_exc()
            if self.ws is not None:
                self.ws.send_close(1011, "fake provider bug")
        self.ended_by = "error"

    def expired(self):
        """Our Close went out and the peer's never came."""
        self.ended_by = "server_close"

    def finish(self):
        if self.recorded:
            return
        self.recorded = True
        self.t_close = time.time()
        wsp.close_socket(self.sock)
        self.srv.write_record(self.record())

    def record(self):
        ws = self.ws
        return {"route": self.route, "status": self.status,
                "path": self.path, "query": self.query,
                "headers": self.headers, "key_header": self.key_header,
                "sni": getattr(self.sock, "vg_sni", None),
                "subprotocol": self.subprotocol,
                "extensions_offered": self.extensions_offered,
                "client_binary_frames": self.binary_frames,
                "client_binary_bytes": self.binary_bytes,
                "client_text_count": self.text_count,
                "client_text_messages": self.texts,
                "server_messages": self.server_messages,
                "close_code_received": self.close_code_received,
                "close_code_sent": ws.close_code_sent if ws else None,
                "ended_by": self.ended_by, "error": self.error,
                "t_open": self.t_open, "t_close": self.t_close}

    # -- dispatch ----------------------------------------------------------

    def on_text(self, obj):
        if self.key_pending:
            # ElevenLabs: the key may ride in the first message
            given = obj.get("xi_api_key", obj.get("xi-api-key")) \
                if obj else None
            self.key_pending = False
            if given != self.srv.key:
                self.server_close(1008, "invalid API key")
                return
            self.key_header = "xi_api_key"
        elif self.route == "elevenlabs.stream_input" and obj and \
                self.text_count == 1 and \
                obj.get("xi_api_key", obj.get("xi-api-key")) \
                not in (None, self.srv.key):
            self.server_close(1008, "invalid API key")
            return
        getattr(self, "t_" + self.route.split(".")[1])(obj)

    def on_binary(self, data):
        if self.key_pending:
            self.server_close(1008, "invalid API key")
            return
        f = getattr(self, "b_" + self.route.split(".")[1], None)
        if f is not None:
            f(data)

    # -- Deepgram live STT -------------------------------------------------

    def o_listen(self):
        q = self.query
        enc = q.get("encoding", "linear16").lower()
        width = 1 if enc in ("mulaw", "alaw") else 2
        try:
            rate = int(q.get("sample_rate", "16000"))
            ch = int(q.get("channels", "1"))
        except ValueError:
            rate, ch = 16000, 1
        self.state.update(bps=float(max(1, rate) * width * max(1, ch)),
                          channels=max(1, ch), total=0,
                          sha=hashlib.sha256(), uuid=self.uuid())

    def b_listen(self, data):
        s = self.state
        start = s["total"] / s["bps"]
        s["total"] += len(data)
        s["sha"].update(data)
        if self.k.quiet:
            return
        # start and duration unrounded (exact for 2**k byte rates); the
        # benchmark matches a reply to its frame by "seq": keep it last
        self.send_text(
            '{"type":"Results","channel_index":[0,1],"start":%s,'
            '"duration":%s,"is_final":true,"speech_final":false,'
            '"channel":{"alternatives":[{"transcript":"","confidence":1.0}]},'
            '"metadata":{"request_id":"%s"},"seq":%d}'
            % (start, len(data) / s["bps"], s["uuid"],
               self.binary_frames - 1))

    def t_listen(self, obj):
        t = obj.get("type") if obj else None
        if t != "CloseStream":
            return                    # KeepAlive, Finalize: no answer
        s = self.state
        if not self.k.no_metadata:
            dur = self.k.metadata_duration
            if dur is None:
                dur = round(s["total"] / s["bps"], 6)
            self.send_json({"type": "Metadata",
                            "transaction_key": "deprecated",
                            "request_id": s["uuid"],
                            "sha256": s["sha"].hexdigest(),
                            "created": CREATED, "duration": dur,
                            "channels": s["channels"]})
        self.server_close(1000)

    # -- Deepgram WS TTS ---------------------------------------------------

    def o_speak(self):
        self.state["flushes"] = 0
        self.send_json({"type": "Metadata", "request_id": self.uuid(),
                        "model_name": self.query.get("model",
                                                     "aura-2-thalia-en"),
                        "model_version": "fake", "model_uuid": self.uuid()})

    def t_speak(self, obj):
        t = obj.get("type") if obj else None
        if t == "Speak":
            text = obj.get("text")
            n = len(text) if isinstance(text, str) else 0
            self.send_binary(bytes(min(n * 100, SPEAK_AUDIO_MAX)))
        elif t == "Flush":
            self.send_json({"type": "Flushed",
                            "sequence_id": self.state["flushes"]})
            self.state["flushes"] += 1
        elif t == "Clear":
            self.send_json({"type": "Cleared",
                            "sequence_id": self.state["flushes"]})
        elif t == "Close":
            self.server_close(1000)

    # -- ElevenLabs stream-input -------------------------------------------

    def t_stream_input(self, obj):
        text = obj.get("text") if obj else None
        if not isinstance(text, str):
            return
        if text == "":
            self.send_json({"isFinal": True, "audio": None})
            self.server_close(1000)
            return
        if text == " " and self.text_count == 1:
            return                    # the init message
        n = min(len(text) * 50, ELEVEN_AUDIO_MAX)
        self.send_json({"audio": b64zeros(n), "isFinal": False,
                        "normalizedAlignment": None, "alignment": None})

    # -- Cartesia ----------------------------------------------------------

    def t_tts(self, obj):
        if obj is None:
            self.send_json({"type": "error", "done": True,
                            "status_code": 400,
                            "error": "message is not a JSON object"})
            return
        ctx = obj.get("context_id")
        if obj.get("cancel"):
            return
        tr = obj.get("transcript")
        if not isinstance(tr, str) or not isinstance(obj.get("model_id"),
                                                     str):
            self.send_json({"type": "error", "done": True,
                            "status_code": 400, "context_id": ctx,
                            "error": "model_id and transcript are required"})
            return
        self.send_json({"type": "chunk", "data": b64zeros(len(tr) * 50),
                        "done": False, "status_code": 200,
                        "step_time": 1.0, "context_id": ctx})
        if not obj.get("continue"):
            self.send_json({"type": "done", "done": True,
                            "status_code": 200, "context_id": ctx})

    # -- AssemblyAI v3 -----------------------------------------------------

    def o_stream(self):
        enc = self.query.get("encoding", "pcm_s16le").lower()
        try:
            rate = int(self.query.get("sample_rate", "16000"))
        except ValueError:
            rate = 16000
        self.state.update(bps=float(max(1, rate) *
                                    (1 if enc == "pcm_mulaw" else 2)),
                          total=0)
        self.send_json({"type": "Begin", "id": self.uuid(),
                        "expires_at": int(time.time()) + 3600})

    def b_stream(self, data):
        self.state["total"] += len(data)
        if self.binary_frames % 10 == 0:
            self.send_json({"type": "Turn", "turn_order": 0,
                            "turn_is_formatted": False,
                            "end_of_turn": False, "transcript": "",
                            "end_of_turn_confidence": 0.0, "words": []})

    def t_stream(self, obj):
        if (obj or {}).get("type") != "Terminate":
            return
        secs = self.k.session_seconds
        if secs is None:
            secs = int(round(time.monotonic() - self.t0))
        self.send_json({"type": "Termination",
                        "audio_duration_seconds": int(round(
                            self.state["total"] / self.state["bps"])),
                        "session_duration_seconds": secs})
        self.server_close(1000)

    # -- OpenAI Realtime ---------------------------------------------------

    def event_id(self):
        self.state["events"] = self.state.get("events", 0) + 1
        return "event_fake%d_%d" % (self.seq, self.state["events"])

    def o_realtime(self):
        self.state["responses"] = 0
        self.send_json({"type": "session.created",
                        "event_id": self.event_id(),
                        "session": {"object": "realtime.session",
                                    "id": "sess_fake%d" % self.seq,
                                    "type": "realtime",
                                    "model": self.query.get("model",
                                                            "gpt-realtime"),
                                    "output_modalities": ["audio"]}})

    def usage(self):
        k = self.k
        return {"total_tokens": k.input_tokens + k.output_tokens,
                "input_tokens": k.input_tokens,
                "output_tokens": k.output_tokens,
                "input_token_details": {
                    "text_tokens": k.input_tokens - k.input_audio,
                    "audio_tokens": k.input_audio,
                    "image_tokens": 0,
                    "cached_tokens": k.cached_tokens,
                    "cached_tokens_details": {"text_tokens": k.cached_tokens,
                                              "audio_tokens": 0,
                                              "image_tokens": 0}},
                "output_token_details": {
                    "text_tokens": k.output_tokens - k.output_audio,
                    "audio_tokens": k.output_audio}}

    def t_realtime(self, obj):
        t = (obj or {}).get("type")
        if t == "session.update":
            self.send_json({"type": "session.updated",
                            "event_id": self.event_id(),
                            "session": obj.get("session") or {}})
        elif t == "input_audio_buffer.commit":
            self.send_json({"type": "input_audio_buffer.committed",
                            "event_id": self.event_id(),
                            "item_id": "item_fake%d" % self.seq})
        elif t == "response.create":
            self.state["responses"] += 1
            rid = "resp_fake%d_%d" % (self.seq, self.state["responses"])
            item = "item_fake%d_%d" % (self.seq, self.state["responses"])
            base = {"object": "realtime.response", "id": rid}
            self.send_json({"type": "response.created",
                            "event_id": self.event_id(),
                            "response": dict(base, status="in_progress",
                                             output=[], usage=None)})
            for i in range(2):
                self.send_json({"type": "response.output_audio.delta",
                                "event_id": self.event_id(),
                                "response_id": rid, "item_id": item,
                                "output_index": 0, "content_index": 0,
                                "delta": b64zeros(4800)})
            words = ("fake transcript " * (self.k.transcript_chars // 16
                                           + 1))[:self.k.transcript_chars]
            resp = dict(base, status="completed", status_details=None,
                        output=[{"id": item, "object": "realtime.item",
                                 "type": "message", "status": "completed",
                                 "role": "assistant",
                                 "content": [{"type": "output_audio",
                                              "transcript": words}]}],
                        conversation_id="conv_fake%d" % self.seq,
                        output_modalities=["audio"],
                        max_output_tokens="inf", audio={},
                        usage=self.usage(), metadata=None)
            self.send_json({"type": "response.done",
                            "event_id": self.event_id(), "response": resp})


# ---------------------------------------------------------------------------
# drivers: a thread per session, or one selector loop for all of them

def run_threaded(s):
    try:
        if s.opened():
            return
        while True:
            timeout = None
            if s.server_closed:
                timeout = max(0.0, s.close_deadline - time.monotonic())
            m = s.ws.recv(timeout)
            if m is None:
                s.expired()
                return
            if s.step(m):
                return
    except Exception as e:                        # noqa: BLE001
        s.fail(e)


class Loop(object):
    """--selector: one thread reads every open session."""

    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.incoming = queue.Queue()
        self.rfd, self.wfd = socket.socketpair()
        self.rfd.setblocking(False)
        self.sel.register(self.rfd, selectors.EVENT_READ, None)
        self.closing = set()
        threading.Thread(target=self.run, daemon=True).start()

    def add(self, s):
        self.incoming.put(s)
        try:
            self.wfd.send(b"x")
        except OSError:
            pass

    def end(self, s):
        try:
            self.sel.unregister(s.sock)
        except (KeyError, ValueError, OSError):
            pass
        self.closing.discard(s)
        s.finish()

    def pump(self, s):
        """Handles the frames the decoder holds. True when s ended."""
        while True:
            m = s.ws.recv(0)
            if m is None:
                return False
            if s.step(m):
                return True

    def run(self):
        while True:
            for key, _ in self.sel.select(0.5):
                s = key.data
                if s is None:
                    try:
                        self.rfd.recv(4096)
                    except OSError:
                        pass
                    while not self.incoming.empty():
                        s = self.incoming.get()
                        try:
                            self.sel.register(s.sock, selectors.EVENT_READ,
                                              s)
                            done = s.opened() or self.pump(s)
                        except Exception as e:        # noqa: BLE001
                            s.fail(e)
                            done = True
                        if done:
                            self.end(s)
                        elif s.server_closed:
                            self.closing.add(s)
                    continue
                try:
                    try:
                        data = s.sock.recv(65536)
                    except (ConnectionError, socket.timeout):
                        data = b""
                    if data:
                        s.ws.decoder.feed(data)
                    else:
                        s.ws.eof = True
                    done = self.pump(s)
                except Exception as e:                # noqa: BLE001
                    s.fail(e)
                    done = True
                if done:
                    self.end(s)
                elif s.server_closed:
                    self.closing.add(s)
            now = time.monotonic()
            for s in [c for c in self.closing if c.close_deadline < now]:
                s.expired()
                self.end(s)


class Server(object):
    def __init__(self, a):
        self.key = a.key
        self.record = a.record
        self.lock = threading.Lock()
        self.seq = 0
        self.ssl_ctx = None
        if a.tls:
            self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ssl_ctx.load_cert_chain(a.tls[0], a.tls[1])
            # the server name the client asked for, for the record ("sni")
            self.ssl_ctx.sni_callback = (
                lambda sslsock, name, ctx: setattr(sslsock, "vg_sni", name))
        self.loop = Loop() if a.selector else None
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", a.port))
        self.lsock.listen(1024)

    def write_record(self, rec):
        if not self.record:
            return
        data = (json.dumps(rec) + "\n").encode()
        with self.lock:
            fd = os.open(self.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def serve(self):
        while True:
            try:
                sock, addr = self.lsock.accept()
            except OSError:
                time.sleep(0.01)
                continue
            threading.Thread(target=self.connection, args=(sock, addr),
                             daemon=True).start()

    def connection(self, sock, addr):
        s = None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_ctx is not None:
                sock.settimeout(HANDSHAKE_TIMEOUT)
                sock = self.ssl_ctx.wrap_socket(sock, server_side=True)
            s = Session(self, sock, addr)
            if not s.handshake():
                return
        except (OSError, ssl.SSLError, wsp.WSProtocolError, ValueError,
                UnicodeDecodeError):
            # a failed TLS handshake, a peer gone before its request, an
            # unreadable request: nothing to record
            try:
                sock.close()
            except OSError:
                pass
            return
        if self.loop is not None:
            self.loop.add(s)
            return
        try:
            run_threaded(s)
        finally:
            s.finish()


def main():
    ap = argparse.ArgumentParser(
        description="Fake WebSocket providers (see docs/testing-fakes.md)")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--record")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--selector", action="store_true",
                    help="one thread for every open session (no --tls)")
    a = ap.parse_args()
    if a.selector and a.tls:
        ap.error("--selector does not go with --tls")

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv = Server(a)
    print("ready", flush=True)
    try:
        srv.serve()
    finally:
        srv.lsock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
