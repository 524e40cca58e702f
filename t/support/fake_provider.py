#!/usr/bin/env python3
#
# t/support/fake_provider.py -- a fake cloud provider for the tests: it
# answers the health checks of POST /v1/providers/{id}/test and fakes the
# wire shape of every provider call the gateway's proxy meters (OpenAI,
# Groq, Anthropic, Gemini, Deepgram, ElevenLabs, Cartesia, AssemblyAI),
# with deterministic usage so that a test can compute the expected units
# and cost. docs/testing-fakes.md section 4 is its guide.
#
#   fake_provider.py --port N --key K [--record FILE] [--delay SECONDS]
#                    [--tls CERT KEY] [--sse-events N] [--delay-ms N]
#                    [--prompt-tokens N] [--completion-tokens N]
#                    [--cached-tokens N] [--duration S] [--audio-bytes N]
#
# Every request must carry K in one of the providers' key headers, or it
# gets 401. Any GET that is not a route below answers the health check:
# 200 {"ok":true,"models":[]}. --record appends one JSON line per request
# (see RECORD below). --delay holds every answer (a provider slower than
# the test timeout). With --tls it speaks https with that certificate. It
# prints "ready" on stdout once it listens; SIGTERM stops it (exit 0).
#
# Per-request knobs come in X-Fake-* request headers (the gateway forwards
# unknown client headers); the options above are their defaults.

import argparse
import base64
import email.message
import gzip
import hashlib
import json
import math
import os
import re
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import zlib
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# the headers that may carry the key, and the schemes allowed before it
KEY_HEADERS = (
    ("authorization", ("Bearer ", "Token ", "")),
    ("x-api-key", ("",)),
    ("xi-api-key", ("",)),
    ("x-goog-api-key", ("",)),
)

BODY_RECORD_MAX = 64 * 1024      # bodies below this, JSON or text, recorded
SPLIT_EVERY = 5                  # X-Fake-Split: a sleep every this many bytes
SPLIT_SLEEP = 0.0005
CREATED = 1700000000             # every "created" timestamp: deterministic

# RECORD: one JSON line per request, written when the request (head and
# body) has been read, before any --delay. Its last members are two
# fixed-width regions patched in place later (JSON allows the padding
# spaces): "status"/"first_byte" just before the answer's first byte is
# written, "end"/"outcome" when the exchange ends. Until then they read null.
REGION1 = '"status": null, "first_byte": null'
REGION1_W = 64
REGION2 = '"end": null, "outcome": null'
REGION2_W = 64


class KnobError(Exception):
    pass


class CloseMid(Exception):
    """X-Fake-Close-Mid reached: drop the connection."""


class Answered(Exception):
    """A handler already sent its answer (an error)."""


# ---------------------------------------------------------------------------
# helpers

def jdump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def header_param(value, param):
    m = email.message.Message()
    m["x"] = value
    return m.get_param(param, header="x")


def wav_info(data):
    """Format of a WAV body whose duration can be computed (PCM, float,
    A-law, mu-law, or extensible with such a subformat), else None. The data
    size is clamped to the bytes present (streamed WAVs write 0 or
    0xFFFFFFFF there)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        pos += 8
        if cid == b"fmt ":
            if size < 16 or pos + 16 > len(data):
                return None
            tag, ch, rate, _, align, _ = struct.unpack_from("<HHIIHH",
                                                            data, pos)
            if tag == 0xFFFE:
                if size < 40 or pos + 26 > len(data):
                    return None
                tag = struct.unpack_from("<H", data, pos + 24)[0]
            fmt = (tag, ch, rate, align)
        elif cid == b"data":
            if fmt is None:
                return None
            tag, ch, rate, align = fmt
            avail = len(data) - pos
            if size in (0, 0xFFFFFFFF) or size > avail:
                size = avail
            if tag not in (1, 3, 6, 7) or not rate or not align or not ch:
                return None
            return {"channels": ch, "rate": rate, "block_align": align,
                    "data_bytes": size, "duration": size / (rate * align)}
        pos += size + (size & 1)
    return None


def parse_multipart(body, ctype):
    """[{name, filename, content_type, data}] of a multipart/form-data
    body, or None when it is not one."""
    if not ctype.lower().startswith("multipart/"):
        return None
    boundary = header_param(ctype, "boundary")
    if not boundary:
        return None
    parts = []
    for p in body.split(b"--" + boundary.encode())[1:]:
        if p.startswith(b"--"):
            break
        if p.startswith(b"\r\n"):
            p = p[2:]
        elif p.startswith(b"\n"):
            p = p[1:]
        if p.endswith(b"\r\n"):
            p = p[:-2]
        elif p.endswith(b"\n"):
            p = p[:-1]
        head, sep, data = p.partition(b"\r\n\r\n")
        if not sep:
            head, sep, data = p.partition(b"\n\n")
        hdrs = {}
        for line in head.decode("utf-8", "replace").splitlines():
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        cd = hdrs.get("content-disposition", "")
        parts.append({"name": header_param(cd, "name") if cd else None,
                      "filename": header_param(cd, "filename") if cd else None,
                      "content_type": hdrs.get("content-type"),
                      "data": data})
    return parts


def is_textual(ctype, body):
    c = (ctype or "").split(";")[0].strip().lower()
    if c and not (c.startswith("text/") or "json" in c or "xml" in c or
                  c == "application/x-www-form-urlencoded"):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def offers_gzip(accept):
    for tok in (accept or "").split(","):
        name, _, params = tok.strip().partition(";")
        name = name.strip().lower()
        if name not in ("gzip", "x-gzip", "*"):
            continue
        m = re.search(r"q\s*=\s*([0-9.]+)", params)
        if m is None or float(m.group(1)) > 0:
            return True
    return False


def audio_bytes(n):
    """The fixed audio pattern: bytes 0..255 over and over."""
    return (bytes(range(256)) * (n // 256 + 1))[:n]


def split_even(data, n):
    """data in n pieces (the remainder in the last), [] for n == 0."""
    if n <= 0:
        return []
    size = len(data) // n
    out = [data[i * size:(i + 1) * size] for i in range(n - 1)]
    out.append(data[(n - 1) * size:])
    return out


def openai_error(message, param=None, etype="invalid_request_error"):
    return {"error": {"message": message, "type": etype, "param": param,
                      "code": None}}


# ---------------------------------------------------------------------------
# routes: (method, path pattern, route name); a path may carry a prefix
# (a base_url path such as /proxy) before the pattern.

ROUTES = [
    ("POST", r"/openai/v1/chat/completions", "groq.chat"),
    ("POST", r"/v1/chat/completions", "openai.chat"),
    ("POST", r"/v1/responses", "openai.responses"),
    ("POST", r"/v1/messages", "anthropic.messages"),
    ("POST", r"/v1(?:beta)?/models/(?P<model>[^/:]+):generateContent",
     "gemini.generate"),
    ("POST", r"/v1(?:beta)?/models/(?P<model>[^/:]+):streamGenerateContent",
     "gemini.stream"),
    ("POST", r"/v1/listen", "deepgram.listen"),
    ("POST", r"/v1/speak", "deepgram.speak"),
    ("POST", r"/openai/v1/audio/transcriptions", "groq.transcription"),
    ("POST", r"/v1/audio/transcriptions", "openai.transcription"),
    ("POST", r"/openai/v1/audio/speech", "groq.speech"),
    ("POST", r"/v1/audio/speech", "openai.speech"),
    ("POST", r"/v1/text-to-speech/(?P<voice>[^/]+)(?P<stream>/stream)?",
     "elevenlabs.tts"),
    ("POST", r"/tts/bytes", "cartesia.tts"),
    ("POST", r"/stt", "cartesia.stt"),
    ("POST", r"/v2/transcript", "assemblyai.submit"),
    ("POST", r"/v2/upload", "assemblyai.upload"),
    ("GET", r"/v2/transcript/(?P<id>[^/]+)", "assemblyai.get"),
]
ROUTES = [(m, re.compile(r"(?:/.*?)?" + p), n) for m, p, n in ROUTES]


def match_route(method, path):
    for m, rx, name in ROUTES:
        if m != method:
            continue
        hit = rx.fullmatch(path)
        if hit:
            return name, {k: v for k, v in hit.groupdict().items()
                          if v is not None}
    if method in ("GET", "HEAD"):
        return "health", {}
    return None, {}


# ---------------------------------------------------------------------------
# knobs

class HeaderKnobs(object):
    """X-Fake-* request headers read as knobs (self.h: lower-case names);
    fake_ws_provider.py reads its handshake's with it too."""

    def raw(self, name):
        v = self.h.get("x-fake-" + name)
        return None if v is None else v.strip()

    def int(self, name, default):
        v = self.raw(name)
        if v is None:
            return default
        try:
            n = int(v)
        except ValueError:
            raise KnobError("X-Fake-%s: not a whole number: %r" % (name, v))
        if n < 0:
            raise KnobError("X-Fake-%s: negative: %r" % (name, v))
        return n

    def num(self, name, default):
        v = self.raw(name)
        if v is None:
            return default
        try:
            n = float(v)
        except ValueError:
            raise KnobError("X-Fake-%s: not a number: %r" % (name, v))
        if n < 0 or n != n:
            raise KnobError("X-Fake-%s: negative: %r" % (name, v))
        return n

    def bool(self, name):
        v = self.raw(name)
        if v is None:
            return False
        if v.lower() in ("1", "true", "yes", "on"):
            return True
        if v.lower() in ("0", "false", "no", "off", ""):
            return False
        raise KnobError("X-Fake-%s: not a boolean: %r" % (name, v))


class Knobs(HeaderKnobs):
    def __init__(self, headers, d):
        self.h = headers
        self.events = self.int("events", d.sse_events)
        self.delay_ms = self.num("delay-ms", d.delay_ms)
        self.hold_ms = self.num("hold-ms", 0)
        self.length = self.int("length", 0)
        self.prompt = self.int("prompt-tokens", d.prompt_tokens)
        comp = self.int("completion-tokens", d.completion_tokens)
        self.completion = self.events if comp is None else comp
        self.cached = self.int("cached-tokens", d.cached_tokens)
        self.cache_write = self.int("cache-write-tokens", 0)
        self.thoughts = self.int("thoughts-tokens", 0)
        self.duration = self.num("duration", d.duration)
        self.audio_bytes = self.int("audio-bytes", d.audio_bytes)
        self.char_cost = self.int("character-cost", None)
        self.status = self.int("status", None)
        self.hang = self.bool("hang")
        self.split = self.bool("split")
        self.redirect = self.h.get("x-fake-redirect")
        self.gzip = self.bool("gzip")
        self.close_mid = self.int("close-mid", None)
        self.truncate = self.int("truncate", None)
        self.transcript_status = self.h.get("x-fake-transcript-status")
        self.delta_usage = (self.h.get("x-fake-delta-usage") or "").lower()


class DefaultKnobs(Knobs):
    """The knobs of a request whose own knobs are broken."""

    def __init__(self, d):
        Knobs.__init__(self, {}, d)


# ---------------------------------------------------------------------------
# the handler

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/2"
    disable_nagle_algorithm = True          # TCP_NODELAY on every answer

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        srv = self.server
        if srv.ssl_ctx is not None:
            # the handshake here, in the connection's thread
            self.request.settimeout(10)
            self.request = srv.ssl_ctx.wrap_socket(self.request,
                                                   server_side=True)
            self.request.settimeout(None)
        BaseHTTPRequestHandler.setup(self)
        with srv.lock:
            srv.conn_seq += 1
            self.conn_id = srv.conn_seq
        self.conn_req = 0

    def parse_request(self):
        self.t_arrived = time.time()
        return BaseHTTPRequestHandler.parse_request(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = \
        do_OPTIONS = lambda self: self.dispatch()

    # -- the exchange ------------------------------------------------------

    def dispatch(self):
        srv = self.server
        self.conn_req += 1
        with srv.lock:
            srv.req_seq += 1
            self.seq = srv.req_seq
        self.rec = None
        self.first_sent = False
        self.split_count = 0
        self.k = DefaultKnobs(srv.defaults)
        self.truncated = False
        url = urlsplit(self.path)
        self.route_path = url.path
        self.query = parse_qs(url.query, keep_blank_values=True)

        bad_body = None
        try:
            self.body = self.read_body()
        except (ValueError, OSError) as e:
            self.body, bad_body = b"", str(e)
        self.route, self.params = match_route(self.command, url.path)
        key_header, key_scheme = self.find_key()
        knob_error = None
        try:
            self.k = Knobs(self.headers, srv.defaults)
        except KnobError as e:
            knob_error = str(e)
        self.record(key_header, key_scheme)

        outcome = "complete"
        try:
            if srv.delay:
                time.sleep(srv.delay)
            if self.k.hold_ms:
                time.sleep(self.k.hold_ms / 1000.0)
            if bad_body is not None:
                self.close_connection = True
                self.send_json(400, {"error": "bad request body: " +
                                     bad_body})
            elif key_header is None:
                self.send_json(401, {"error": "invalid credentials"})
            elif knob_error:
                self.send_json(400, {"error": {"message": knob_error,
                                               "type": "fake_knob_error"}})
            elif self.k.hang:
                outcome = self.hang()
            elif self.k.redirect:
                self.send_json(302, {"redirect": self.k.redirect},
                               {"Location": self.k.redirect})
            elif self.k.status is not None and self.k.status != 200:
                self.send_status_knob()
            else:
                handler = getattr(self, "r_" + (self.route or "none")
                                  .replace(".", "_"))
                try:
                    handler()
                except Answered:
                    pass
        except CloseMid:
            outcome = "closed_mid"
            self.drop()
        except (ConnectionError, ssl.SSLError, socket.timeout, OSError):
            outcome = "client_closed"
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            outcome = "fake_error"
            if not self.first_sent:
                try:
                    self.send_json(500, {"error": "fake provider bug"})
                except OSError:
                    pass
            self.close_connection = True
        if outcome == "complete" and self.truncated:
            outcome = "truncated"
        self.patch(2, '"end": %.6f, "outcome": "%s"' % (time.time(),
                                                         outcome))

    def read_body(self):
        te = (self.headers.get("transfer-encoding") or "").lower()
        if "chunked" in te:
            out = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("body ended inside a chunk size")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                data = self.rfile.read(size)
                if len(data) < size or self.rfile.read(2) != b"\r\n":
                    raise ValueError("body ended inside a chunk")
                out.append(data)
            while True:                                   # trailers
                line = self.rfile.readline(65537)
                if line in (b"\r\n", b"\n", b""):
                    break
            return b"".join(out)
        cl = self.headers.get("content-length")
        if cl is None:
            return b""
        n = int(cl)
        if n < 0:
            raise ValueError("negative Content-Length")
        data = self.rfile.read(n)
        if len(data) < n:
            raise ValueError("body shorter than its Content-Length")
        return data

    def find_key(self):
        key = self.server.key
        for name, prefixes in KEY_HEADERS:
            for value in self.headers.get_all(name) or ():
                for prefix in prefixes:
                    if value == prefix + key:
                        return name, prefix.strip()
        return None, None

    # -- the record --------------------------------------------------------

    def record(self, key_header, key_scheme):
        srv = self.server
        if not srv.record:
            return
        headers = {}
        for k, v in self.headers.items():
            k = k.lower()
            headers[k] = headers[k] + ", " + v if k in headers else v
        ctype = self.headers.get("content-type") or ""
        rec = {"n": self.seq, "conn": self.conn_id, "conn_req": self.conn_req,
               "client_port": self.client_address[1],
               "method": self.command, "path": self.path,
               "version": self.request_version, "headers": headers,
               "route": self.route, "key_header": key_header,
               "key_scheme": key_scheme, "body_bytes": len(self.body),
               "body": (is_textual(ctype, self.body)
                        if self.body and len(self.body) < BODY_RECORD_MAX
                        else None)}
        parts = parse_multipart(self.body, ctype) if self.body else None
        if parts is not None:
            form = {}
            for p in parts:
                text = None
                if p["filename"] is None and len(p["data"]) < 4096:
                    try:
                        text = p["data"].decode("utf-8")
                    except UnicodeDecodeError:
                        pass
                form[p["name"] or ""] = text if text is not None else {
                    "filename": p["filename"],
                    "content_type": p["content_type"],
                    "bytes": len(p["data"])}
            rec["form"] = form
        rec["arrived"] = round(self.t_arrived, 6)
        head = json.dumps(rec)[:-1] + ", "
        data = (head + REGION1.ljust(REGION1_W) + ", " +
                REGION2.ljust(REGION2_W) + "}\n").encode()
        hb = len(head.encode())
        with srv.lock:
            fd = os.open(srv.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                         0o644)
            try:
                off = os.fstat(fd).st_size
                os.write(fd, data)
            finally:
                os.close(fd)
        self.rec = (off + hb, off + hb + REGION1_W + 2)

    def patch(self, which, text):
        """Fills region 1 or 2 of this request's record line in place, if
        the line is still there as written."""
        if self.rec is None:
            return
        off = self.rec[which - 1]
        old = (REGION1.ljust(REGION1_W) if which == 1 else
               REGION2.ljust(REGION2_W)).encode()
        new = text.ljust(len(old)).encode()[:len(old)]
        srv = self.server
        with srv.lock:
            try:
                fd = os.open(srv.record, os.O_RDWR)
            except OSError:
                return
            try:
                if os.pread(fd, len(old), off) == old:
                    os.pwrite(fd, new, off)
            finally:
                os.close(fd)

    # -- writing -----------------------------------------------------------

    def send_raw(self, data):
        if not data:
            return
        if not self.first_sent:
            self.first_sent = True
            self.patch(1, '"status": %d, "first_byte": %.6f'
                       % (self.status_sent, time.time()))
        if not self.k.split:
            self.connection.sendall(data)
            return
        for i in range(len(data)):
            self.connection.sendall(data[i:i + 1])
            self.split_count += 1
            if self.split_count % SPLIT_EVERY == 0:
                time.sleep(SPLIT_SLEEP)

    def head(self, status, headers):
        self.status_sent = status
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = ["HTTP/1.1 %d %s" % (status, reason),
                 "Server: " + self.server_version,
                 "X-Fake-Route: %s" % (self.route or "none")]
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def send_body(self, status, ctype, body, headers=None):
        """A whole answer with Content-Length (gzipped when asked)."""
        h = {"Content-Type": ctype}
        h.update(headers or {})
        if self.k.gzip and offers_gzip(self.headers.get("accept-encoding")) \
                and body:
            body = gzip.compress(body, mtime=0)
            h["Content-Encoding"] = "gzip"
            h["Vary"] = "Accept-Encoding"
        h["Content-Length"] = str(len(body))
        if self.k.truncate is not None and self.k.truncate < len(body):
            self.close_connection = True
            self.truncated = True
            self.send_raw(self.head(status, h) + body[:self.k.truncate])
            self.drop()
            return
        if self.command == "HEAD" or status in (204, 304):
            body = b""
        self.send_raw(self.head(status, h) + body)

    def send_json(self, status, obj, headers=None):
        self.send_body(status, "application/json", jdump(obj), headers)

    def fail(self, status, obj, headers=None):
        self.send_json(status, obj, headers)
        raise Answered()

    def drop(self):
        """Ends the connection at once (FIN), whatever was under way."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def stream_begin(self, status, ctype, headers=None):
        """Starts a streamed answer: chunked to HTTP/1.1 clients, ended by
        the close for HTTP/1.0 ones."""
        self.chunked = self.request_version != "HTTP/1.0"
        self.pieces = 0
        h = {"Content-Type": ctype}
        h.update(headers or {})
        self.gz = None
        if self.k.gzip and offers_gzip(self.headers.get("accept-encoding")):
            self.gz = zlib.compressobj(6, zlib.DEFLATED, 31)
            h["Content-Encoding"] = "gzip"
            h["Vary"] = "Accept-Encoding"
        if self.chunked:
            h["Transfer-Encoding"] = "chunked"
        else:
            self.close_connection = True
        self.send_raw(self.head(status, h))

    def piece(self, data):
        """One SSE event or audio chunk."""
        if self.k.close_mid is not None and self.pieces >= self.k.close_mid:
            raise CloseMid()
        if self.pieces and self.k.delay_ms:
            time.sleep(self.k.delay_ms / 1000.0)
        self.pieces += 1
        if self.gz is not None:
            data = self.gz.compress(data) + self.gz.flush(zlib.Z_SYNC_FLUSH)
        if self.chunked and data:
            data = b"%x\r\n" % len(data) + data + b"\r\n"
        self.send_raw(data)

    def stream_end(self):
        if self.k.close_mid is not None:
            raise CloseMid()
        tail = self.gz.flush() if self.gz is not None else b""
        if self.chunked:
            tail = (b"%x\r\n" % len(tail) + tail + b"\r\n" if tail else b"") \
                + b"0\r\n\r\n"
        self.send_raw(tail)

    def sse(self, events, ctype="text/event-stream; charset=utf-8",
            headers=None):
        h = {"Cache-Control": "no-cache"}
        h.update(headers or {})
        if self.k.length:
            # X-Fake-Length: 1, the whole stream with a Content-Length
            self.send_body(200, ctype, b"".join(events), h)
            return
        self.stream_begin(200, ctype, h)
        for e in events:
            self.piece(e)
        self.stream_end()

    def audio(self, ctype, headers=None):
        self.stream_begin(200, ctype, headers)
        for p in split_even(audio_bytes(self.k.audio_bytes), self.k.events):
            self.piece(p)
        self.stream_end()

    # -- knobs answered before the route -----------------------------------

    def hang(self):
        """Never answers; keeps the socket until the peer closes it."""
        self.close_connection = True
        try:
            while self.connection.recv(65536):
                pass
        except OSError:
            pass
        return "peer_closed"

    def send_status_knob(self):
        st = self.k.status
        h = {"Retry-After": "1"} if st == 429 else {}
        self.send_json(st, {"error": {"message": "fake status %d" % st,
                                      "type": "fake_error", "code": st}}, h)

    # -- request helpers ---------------------------------------------------

    def json_body(self, error):
        try:
            obj = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.fail(400, error("the body is not valid JSON"))
        if not isinstance(obj, dict):
            self.fail(400, error("the body is not a JSON object"))
        return obj

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def req_id(self, prefix):
        return "%s%d" % (prefix, self.seq)

    def words(self):
        return ["tok%d " % i for i in range(self.k.events)]

    def duration_of(self, audio, default=1.5):
        """(seconds, wav info or None): from a PCM WAV, else the knob."""
        info = wav_info(audio) if audio else None
        if info is not None:
            return info["duration"], info
        return (self.k.duration if self.k.duration is not None
                else default), None

    def cartesia_version(self):
        if not self.headers.get("cartesia-version"):
            self.fail(400, {"error": "Cartesia-Version header is required"})

    # -- routes ------------------------------------------------------------

    def r_none(self):
        self.send_json(404, {"error": {"message": "no route for %s %s" % (
            self.command, self.route_path), "type": "not_found"}})

    def r_health(self):
        self.send_json(200, {"ok": True, "models": []})

    # OpenAI / Groq chat completions

    def oa_usage(self, groq):
        k = self.k
        u = {"prompt_tokens": k.prompt, "completion_tokens": k.completion,
             "total_tokens": k.prompt + k.completion,
             "prompt_tokens_details": {"cached_tokens": k.cached,
                                       "audio_tokens": 0},
             "completion_tokens_details": {
                 "reasoning_tokens": 0, "audio_tokens": 0,
                 "accepted_prediction_tokens": 0,
                 "rejected_prediction_tokens": 0}}
        if groq:
            u.update({"queue_time": 0.01, "prompt_time": 0.002,
                      "completion_time": 0.02, "total_time": 0.022})
        return u

    def r_openai_chat(self, groq=False):
        err = openai_error
        b = self.json_body(err)
        model = b.get("model")
        if not isinstance(model, str) or not model:
            self.fail(400, err("you must provide a model parameter",
                               "model"))
        if not isinstance(b.get("messages"), list):
            self.fail(400, err("'messages' is a required property",
                               "messages"))
        stream = b.get("stream") is True
        so = b.get("stream_options")
        if so is not None and not stream:
            self.fail(400, err("The 'stream_options' parameter is only "
                               "allowed when 'stream' is enabled.",
                               "stream_options"))
        cid = self.req_id("chatcmpl-fake")
        gid = self.req_id("req_fake")
        rid = {"x-request-id": self.req_id("req_fake")}
        words = self.words()
        if not stream:
            obj = {"id": cid, "object": "chat.completion",
                   "created": CREATED, "model": model,
                   "choices": [{"index": 0, "message": {
                       "role": "assistant", "content": "".join(words),
                       "refusal": None}, "logprobs": None,
                       "finish_reason": "stop"}],
                   "usage": self.oa_usage(groq),
                   "system_fingerprint": "fp_fake"}
            if groq:
                obj["x_groq"] = {"id": gid}
            self.send_json(200, obj, rid)
            return

        def chunk(choices, usage=None, x_groq=None):
            c = {"id": cid, "object": "chat.completion.chunk",
                 "created": CREATED, "model": model,
                 "system_fingerprint": "fp_fake", "choices": choices,
                 "usage": usage}
            if x_groq:
                c["x_groq"] = x_groq
            return b"data: " + jdump(c) + b"\n\n"

        def choice(delta, finish=None):
            return [{"index": 0, "delta": delta, "logprobs": None,
                     "finish_reason": finish}]

        ev = [chunk(choice({"role": "assistant", "content": "",
                            "refusal": None}),
                    x_groq={"id": gid} if groq else None)]
        ev += [chunk(choice({"content": w})) for w in words]
        ev.append(chunk(choice({}, "stop"), x_groq={
            "id": gid, "usage": self.oa_usage(True)} if groq else None))
        if isinstance(so, dict) and so.get("include_usage") is True:
            ev.append(chunk([], self.oa_usage(groq)))
        ev.append(b"data: [DONE]\n\n")
        self.sse(ev, headers=rid)

    def r_groq_chat(self):
        self.r_openai_chat(groq=True)

    # OpenAI Responses

    def r_openai_responses(self):
        b = self.json_body(openai_error)
        model = b.get("model")
        if not isinstance(model, str) or not model:
            self.fail(400, openai_error("Missing required parameter: "
                                        "'model'.", "model"))
        k = self.k
        rid = self.req_id("resp_fake")
        mid = self.req_id("msg_fake")
        words = self.words()
        text = "".join(words)
        usage = {"input_tokens": k.prompt,
                 "input_tokens_details": {"cached_tokens": k.cached,
                                          "cache_write_tokens":
                                              k.cache_write},
                 "output_tokens": k.completion,
                 "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": k.prompt + k.completion}
        part = {"type": "output_text", "text": text, "annotations": []}
        item = {"id": mid, "type": "message", "status": "completed",
                "role": "assistant", "content": [part]}

        def response(status, output, u):
            return {"id": rid, "object": "response", "created_at": CREATED,
                    "status": status, "model": model, "output": output,
                    "usage": u}

        hdr = {"x-request-id": self.req_id("req_fake")}
        if b.get("stream") is not True:
            self.send_json(200, response("completed", [item], usage), hdr)
            return
        seq = [0]

        def event(etype, **data):
            d = {"type": etype, "sequence_number": seq[0]}
            d.update(data)
            seq[0] += 1
            return (b"event: " + etype.encode() + b"\ndata: " + jdump(d) +
                    b"\n\n")

        ev = [event("response.created",
                    response=response("in_progress", [], None)),
              event("response.in_progress",
                    response=response("in_progress", [], None)),
              event("response.output_item.added", output_index=0,
                    item=dict(item, status="in_progress", content=[])),
              event("response.content_part.added", item_id=mid,
                    output_index=0, content_index=0,
                    part=dict(part, text=""))]
        ev += [event("response.output_text.delta", item_id=mid,
                     output_index=0, content_index=0, delta=w)
               for w in words]
        ev += [event("response.output_text.done", item_id=mid,
                     output_index=0, content_index=0, text=text),
               event("response.content_part.done", item_id=mid,
                     output_index=0, content_index=0, part=part),
               event("response.output_item.done", output_index=0,
                     item=item),
               event("response.completed",
                     response=response("completed", [item], usage))]
        self.sse(ev, headers=hdr)

    # Anthropic

    def r_anthropic_messages(self):
        def err(message):
            return {"type": "error", "error": {
                "type": "invalid_request_error", "message": message}}

        b = self.json_body(err)
        model = b.get("model")
        if not isinstance(model, str) or not model:
            self.fail(400, err("model: Field required"))
        if not isinstance(b.get("messages"), list):
            self.fail(400, err("messages: Field required"))
        k = self.k
        mid = self.req_id("msg_fake")
        hdr = {"request-id": self.req_id("req_fake")}
        words = self.words()
        usage = {"input_tokens": k.prompt, "output_tokens": k.completion,
                 "cache_creation_input_tokens": k.cache_write,
                 "cache_read_input_tokens": k.cached,
                 "cache_creation": {"ephemeral_5m_input_tokens":
                                    k.cache_write,
                                    "ephemeral_1h_input_tokens": 0},
                 "service_tier": "standard"}
        msg = {"id": mid, "type": "message", "role": "assistant",
               "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None}
        if b.get("stream") is not True:
            msg.update(content=[{"type": "text", "text": "".join(words)}],
                       stop_reason="end_turn", usage=usage)
            self.send_json(200, msg, hdr)
            return

        def event(etype, **data):
            d = {"type": etype}
            d.update(data)
            return (b"event: " + etype.encode() + b"\ndata: " + jdump(d) +
                    b"\n\n")

        start_usage = dict(usage, output_tokens=1)
        delta_usage = {"output_tokens": k.completion}
        if k.delta_usage == "full":
            delta_usage = {"input_tokens": k.prompt,
                           "cache_creation_input_tokens": k.cache_write,
                           "cache_read_input_tokens": k.cached,
                           "output_tokens": k.completion}
        ev = [event("message_start", message=dict(msg, usage=start_usage)),
              event("ping"),
              event("content_block_start", index=0,
                    content_block={"type": "text", "text": ""})]
        ev += [event("content_block_delta", index=0,
                     delta={"type": "text_delta", "text": w})
               for w in words]
        ev += [event("content_block_stop", index=0),
               event("message_delta", delta={"stop_reason": "end_turn",
                                             "stop_sequence": None},
                     usage=delta_usage),
               event("message_stop")]
        self.sse(ev, headers=hdr)

    # Gemini

    def gemini_usage(self, candidates):
        k = self.k
        u = {"promptTokenCount": k.prompt,
             "candidatesTokenCount": candidates,
             "totalTokenCount": k.prompt + candidates + k.thoughts,
             "promptTokensDetails": [{"modality": "TEXT",
                                      "tokenCount": k.prompt}]}
        if k.cached:
            u["cachedContentTokenCount"] = k.cached
        if k.thoughts:
            u["thoughtsTokenCount"] = k.thoughts
        return u

    def gemini_error(self, message):
        return {"error": {"code": 400, "message": message,
                          "status": "INVALID_ARGUMENT"}}

    def gemini_chunk(self, text, finish, usage):
        cand = {"content": {"parts": [{"text": text}], "role": "model"},
                "index": 0}
        if finish:
            cand["finishReason"] = "STOP"
        c = {"candidates": [cand]}
        if usage is not None:
            c["usageMetadata"] = usage
        c["modelVersion"] = self.params["model"]
        c["responseId"] = self.req_id("fake-resp-")
        return c

    def r_gemini_generate(self):
        self.json_body(self.gemini_error)
        self.send_json(200, self.gemini_chunk(
            "".join(self.words()), True,
            self.gemini_usage(self.k.completion)))

    def r_gemini_stream(self):
        """N chunks with running usage totals (the last of them with the
        full totals), then a finishing chunk with no usageMetadata."""
        self.json_body(self.gemini_error)
        words, n, c = self.words(), self.k.events, self.k.completion
        chunks = [self.gemini_chunk(w, False,
                                    self.gemini_usage(c * (i + 1) // n))
                  for i, w in enumerate(words)]
        chunks.append(self.gemini_chunk("", True, None))
        if self.q("alt") == "sse":
            self.sse([b"data: " + jdump(x) + b"\r\n\r\n" for x in chunks],
                     ctype="text/event-stream")
            return
        pieces = [(b"[" if i == 0 else b",\r\n") + jdump(x)
                  for i, x in enumerate(chunks)]
        pieces[-1] += b"]"
        self.sse(pieces, ctype="application/json; charset=UTF-8")

    # Deepgram

    def r_deepgram_listen(self):
        ctype = (self.headers.get("content-type") or "").lower()
        audio = b"" if "json" in ctype else self.body
        dur, info = self.duration_of(audio)
        channels = 1
        if info is not None and \
                self.q("multichannel", "").lower() == "true":
            channels = info["channels"]
        model = self.q("model", "nova-3")
        uuid = "00000000-0000-4000-8000-%012d" % self.seq
        words = self.words()
        alt = {"transcript": "".join(words).strip(), "confidence": 0.99,
               "words": []}
        obj = {"metadata": {
            "transaction_key": "deprecated", "request_id": uuid,
            "sha256": hashlib.sha256(self.body).hexdigest(),
            "created": "2026-01-01T00:00:00.000Z",
            "duration": round(dur, 6), "channels": channels,
            "models": ["fake-model-uuid"],
            "model_info": {"fake-model-uuid": {"name": model,
                                               "version": "fake",
                                               "arch": "fake"}}},
            "results": {"channels": [{"alternatives": [alt]}
                                     for _ in range(channels)]}}
        self.send_json(200, obj, {"dg-request-id": uuid})

    def r_deepgram_speak(self):
        def err(message):
            return {"err_code": "INVALID_QUERY_PARAMETER",
                    "err_msg": message, "request_id": str(self.seq)}

        b = self.json_body(err)
        text = b.get("text")
        if not isinstance(text, str):
            self.fail(400, err("text is required"))
        self.audio("audio/mpeg", {
            "dg-char-count": str(len(text)),
            "dg-model-name": self.q("model", "aura-2-thalia-en"),
            "dg-request-id": "00000000-0000-4000-8000-%012d" % self.seq})

    # OpenAI / Groq transcription

    def r_openai_transcription(self, groq=False):
        err = openai_error
        parts = parse_multipart(self.body,
                                self.headers.get("content-type") or "")
        if parts is None:
            self.fail(400, err("the body must be multipart/form-data"))
        form = {}
        for p in parts:
            form.setdefault(p["name"], p)

        def field(name, default=None):
            p = form.get(name)
            return p["data"].decode("utf-8", "replace") if p else default

        if "file" not in form:
            self.fail(400, err("Missing required parameter: 'file'.",
                               "file"))
        model = field("model")
        if not model:
            self.fail(400, err("Missing required parameter: 'model'.",
                               "model"))
        rf = field("response_format", "json")
        tokens = model.startswith("gpt-") and "transcribe" in model
        if tokens and rf != "json":
            self.fail(400, err("response_format '%s' is not compatible "
                               "with model '%s'. Use 'json'." % (rf, model),
                               "response_format"))
        dur, _ = self.duration_of(form["file"]["data"])
        words = self.words()
        text = "".join(words).strip()
        k = self.k
        if tokens:
            usage = {"type": "tokens", "input_tokens": k.prompt,
                     "input_token_details": {"text_tokens": 0,
                                             "audio_tokens": k.prompt},
                     "output_tokens": k.completion,
                     "total_tokens": k.prompt + k.completion}
        else:
            usage = {"type": "duration",
                     "seconds": int(math.ceil(round(dur, 6)))}
        hdr = {"x-request-id": self.req_id("req_fake")}
        if tokens and field("stream", "false").lower() == "true":
            ev = [b"data: " + jdump({"type": "transcript.text.delta",
                                     "delta": w}) + b"\n\n" for w in words]
            ev.append(b"data: " + jdump({"type": "transcript.text.done",
                                         "text": text, "usage": usage}) +
                      b"\n\n")
            self.sse(ev, headers=hdr)
            return
        if rf == "text":
            self.send_body(200, "text/plain; charset=utf-8",
                           (text + "\n").encode(), hdr)
            return
        if rf in ("srt", "vtt"):
            end = "00:00:%06.3f" % min(dur, 59.999)
            body = ("1\n00:00:00,000 --> %s\n%s\n" % (
                end.replace(".", ","), text) if rf == "srt" else
                "WEBVTT\n\n00:00:00.000 --> %s\n%s\n" % (end, text))
            self.send_body(200, "text/plain; charset=utf-8", body.encode(),
                           hdr)
            return
        if rf == "json":
            obj = {"text": text, "usage": usage}
        elif rf == "verbose_json":
            obj = {"task": "transcribe", "language": "english",
                   "duration": round(dur, 6), "text": text,
                   "segments": [{"id": 0, "start": 0.0,
                                 "end": round(dur, 6), "text": text}],
                   "usage": usage}
        else:
            self.fail(400, err("unknown response_format '%s'" % rf,
                               "response_format"))
        if groq:
            obj["x_groq"] = {"id": self.req_id("req_fake")}
        self.send_json(200, obj, hdr)

    def r_groq_transcription(self):
        self.r_openai_transcription(groq=True)

    # OpenAI / Groq speech

    def r_openai_speech(self):
        err = openai_error
        b = self.json_body(err)
        for name in ("model", "input"):
            if not isinstance(b.get(name), str) or not b[name]:
                self.fail(400, err("Missing required parameter: '%s'." %
                                   name, name))
        hdr = {"x-request-id": self.req_id("req_fake")}
        if b.get("stream_format") == "sse":
            k = self.k
            ev = [b"data: " + jdump({"type": "speech.audio.delta",
                                     "audio": base64.b64encode(p).decode()})
                  + b"\n\n"
                  for p in split_even(audio_bytes(k.audio_bytes), k.events)]
            ev.append(b"data: " + jdump({
                "type": "speech.audio.done",
                "usage": {"input_tokens": k.prompt,
                          "output_tokens": k.completion,
                          "total_tokens": k.prompt + k.completion}}) +
                b"\n\n")
            self.sse(ev, headers=hdr)
            return
        ctype = {"mp3": "audio/mpeg", "opus": "audio/opus",
                 "aac": "audio/aac", "flac": "audio/flac",
                 "wav": "audio/wav", "pcm": "audio/pcm"}.get(
                     b.get("response_format") or "mp3", "audio/mpeg")
        self.audio(ctype, hdr)

    r_groq_speech = r_openai_speech

    # ElevenLabs

    def r_elevenlabs_tts(self):
        def err(message):
            return {"detail": {"status": "invalid_request",
                               "message": message}}

        b = self.json_body(err)
        text = b.get("text")
        if not isinstance(text, str):
            self.fail(400, err("text is required"))
        fmt = self.q("output_format", "mp3_44100_128")
        ctype = ("audio/mpeg" if fmt.startswith("mp3") else
                 "audio/basic" if fmt.startswith("ulaw") else
                 "audio/pcm" if fmt.startswith("pcm") else
                 "application/octet-stream")
        cost = self.k.char_cost if self.k.char_cost is not None \
            else len(text)
        self.audio(ctype, {"character-cost": str(cost),
                           "request-id": self.req_id("xi-req-fake")})

    # Cartesia

    def r_cartesia_tts(self):
        self.cartesia_version()

        def err(message):
            return {"error": message}

        b = self.json_body(err)
        for name in ("model_id", "transcript"):
            if not isinstance(b.get(name), str):
                self.fail(400, err("%s is required" % name))
        of = b.get("output_format")
        container = of.get("container") if isinstance(of, dict) else None
        ctype = {"wav": "audio/wav", "mp3": "audio/mpeg"}.get(
            container, "application/octet-stream")
        self.audio(ctype)

    def r_cartesia_stt(self):
        self.cartesia_version()
        parts = parse_multipart(self.body,
                                self.headers.get("content-type") or "")
        audio = self.body
        if parts is not None:
            files = [p for p in parts if p["name"] == "file"]
            if not files:
                self.fail(400, {"error": "file is required"})
            audio = files[0]["data"]
        dur, _ = self.duration_of(audio)
        self.send_json(200, {"type": "transcript",
                             "text": "".join(self.words()).strip(),
                             "language": "en", "duration": round(dur, 6),
                             "request_id": self.req_id("cartesia-fake-")})

    # AssemblyAI

    def r_assemblyai_submit(self):
        b = self.json_body(lambda m: {"error": m})
        srv = self.server
        with srv.lock:
            srv.transcript_seq += 1
            tid = "t%d" % srv.transcript_seq
            srv.transcripts[tid] = self.k.duration
        self.send_json(200, {"id": tid, "status": "queued",
                             "audio_url": b.get("audio_url"),
                             "speech_model": b.get("speech_model"),
                             "audio_duration": None, "text": None})

    def r_assemblyai_upload(self):
        self.send_json(200, {"upload_url":
                             "https://cdn.example.invalid/upload/%d"
                             % self.seq})

    def r_assemblyai_get(self):
        tid = self.params["id"]
        status = (self.k.transcript_status or "completed").lower()
        dur = None
        if status == "completed":
            given = self.headers.get("x-fake-duration")
            with self.server.lock:
                stored = self.server.transcripts.get(tid)
            d = (self.k.duration if given is not None else
                 stored if stored is not None else
                 self.k.duration if self.k.duration is not None else 12)
            dur = int(round(d))
        obj = {"id": tid, "status": status, "audio_duration": dur,
               "text": "".join(self.words()).strip()
               if status == "completed" else None}
        if status == "error":
            obj["error"] = "fake transcription error"
        self.send_json(200, obj)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        e = sys.exc_info()[1]
        if isinstance(e, (OSError, ssl.SSLError)):
            return                    # a failed handshake, a reset: quiet
        ThreadingHTTPServer.handle_error(self, request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--record")
    ap.add_argument("--delay", type=float, default=0,
                    help="seconds every answer is held")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--sse-events", type=int, default=3,
                    help="default X-Fake-Events")
    ap.add_argument("--delay-ms", type=float, default=0,
                    help="default X-Fake-Delay-Ms")
    ap.add_argument("--prompt-tokens", type=int, default=13)
    ap.add_argument("--completion-tokens", type=int, default=None,
                    help="default: the number of events")
    ap.add_argument("--cached-tokens", type=int, default=0)
    ap.add_argument("--duration", type=float, default=None,
                    help="default X-Fake-Duration (else 1.5 s, and 12 s "
                    "for AssemblyAI)")
    ap.add_argument("--audio-bytes", type=int, default=16384)
    a = ap.parse_args()

    srv = Server(("127.0.0.1", a.port), Handler)
    srv.key = a.key
    srv.record = a.record
    srv.delay = a.delay
    srv.defaults = a
    srv.lock = threading.Lock()
    srv.conn_seq = srv.req_seq = srv.transcript_seq = 0
    srv.transcripts = {}
    srv.ssl_ctx = None
    if a.tls:
        srv.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        srv.ssl_ctx.load_cert_chain(a.tls[0], a.tls[1])

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
