#!/usr/bin/env python3
# t/support/fake_worker.py -- owns the fake inference worker of the test suite.
#
# It speaks the worker side of the MiniCPM-o API (GET /health, POST /chat,
# WS /ws/chat, /ws/half_duplex, /ws/duplex; see the reference digest, section
# 7) well enough for the gateway's tests, and adds /_fake/* endpoints to steer
# it (knobs) and to inspect what it saw (stats).
#
# The one idea: a real worker serves one task at a time, and the gateway must
# never give it two. This fake does NOT refuse a second task (unless the
# reject_when_busy knob says so); it runs them side by side and records the
# highest number it ever ran at once (max_concurrent), so a test can prove
# the gateway kept to one.
#
# Must never: print to stdout (only to --log), depend on anything outside the
# Python 3 standard library and t/support/ws_client.py (the RFC 6455 codec),
# or let one broken connection take the process down.
# Usage and knobs: docs/testing-fakes.md.

import argparse
import errno
import hashlib
import http
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from collections import deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ws_client as wsp  # noqa: E402  (the shared RFC 6455 codec)


MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
KEEPALIVE_IDLE_S = 75.0
TASKS_KEPT = 1000
CRASH_EXIT = 1

BUSY_STATUS = {
    "chat": "busy_chat",
    "chat_sse": "busy_chat",
    "stream": "busy_chat",
    "ws_chat": "busy_chat",
    "half_duplex": "busy_half_duplex",
    "duplex": "duplex_active",
}

# name: (default, accepted types, meaning) -- documented in
# docs/testing-fakes.md; POST /_fake/control takes any subset.
KNOBS = {
    "worker_status": (None, (str, type(None)),
                      "force /health worker_status; null = automatic"),
    "health_http_status": (200, (int,), "HTTP status of /health"),
    "health_delay_ms": (0, (int,), "delay before /health answers"),
    "health_hang": (False, (bool,), "/health never answers while true"),
    "health_body": (None, (str, type(None)),
                    "raw /health body instead of JSON"),
    "health_extra": ({}, (dict,), "fields merged into the /health JSON"),
    "health_drop": ([], (list,), "fields removed from the /health JSON"),
    "chat_ms": (100, (int,), "task time of POST /chat"),
    "chat_http_status": (200, (int,), "answer POST /chat with this status"),
    "chat_detail": (None, (str, type(None)), "detail of an error answer"),
    "chunks": (5, (int,), "events of SSE and chunks of /ws/chat"),
    "interval_ms": (100, (int,), "gap between SSE events / ws chunks"),
    "frame_delay_ms": (0, (int,), "sleep before every WS data frame sent"),
    "big_frame_bytes": (0, (int,),
                        "pad done/result/chunk WS messages to this size"),
    "ws_reject_next": (0, (int,), "refuse the next N WS handshakes"),
    "ws_reject_status": (403, (int,), "status used to refuse them"),
    "ws_reject_path": (None, (str, type(None)),
                       "only refuse WS paths starting with this"),
    "session_timeout_ms": (0, (int,),
                           "duplex/half_duplex: send timeout, close"),
    "reject_when_busy": (False, (bool,),
                         "behave like the real worker when a task runs"),
    "busy_wait_ms": (0, (int,), "with reject_when_busy: wait this first"),
    "crash_after_ms": (None, (int, type(None)),
                       "exit N ms into the next task (then cleared)"),
    "crash_rst": (False, (bool,), "crash with RST instead of FIN"),
    "drop_next": (0, (int,),
                  "close the next N worker-API requests unanswered"),
    "extra_headers": ({}, (dict,), "headers added to worker-API answers"),
}


def knob_defaults():
    return {k: json.loads(json.dumps(v[0])) for k, v in KNOBS.items()}


class Task(object):
    def __init__(self, tid, kind, method, path, query, session_id, client,
                 headers, conn=None, accepted=None):
        self.id = tid
        self.kind = kind
        self.method = method
        self.path = path
        self.query = query
        self.session_id = session_id
        self.client = client
        self.headers = headers
        self.start = time.time()
        self.t0 = time.monotonic()
        self.end = None
        self.end_mono = None
        # the task's interval on the monotonic clock (see interval()):
        # from the accept of the connection that carried it ...
        self.conn = conn
        self.accepted = accepted if accepted is not None else self.t0
        self.duration_ms = None
        self.status = "running"
        self.http_status = None
        self.n_messages = None
        self.first_message = None
        self.last_message = None
        self.body_sha256 = None
        self.body_bytes = 0
        self.concurrent_at_start = 0
        self.frames_in = 0
        self.frames_out = 0
        self.close_code = None
        self.paused = False
        self.note = None

    def interval(self):
        """(accepted, closed, closed_by) on the fake's monotonic clock:
        the task holds the worker from the accept of its connection until
        the first of: the task's end was booked (answer or session over),
        the fake saw nginx close that connection, the fake closed it.
        closed is None while neither happened."""
        closed, by = self.end_mono, "task ended"
        c = self.conn
        if c is not None and c.closed is not None and \
                c.closed >= self.accepted and \
                (closed is None or c.closed < closed):
            closed, by = c.closed, c.closed_by
        return self.accepted, closed, (by if closed is not None else None)

    def to_json(self):
        accepted, closed, closed_by = self.interval()
        return {
            "id": self.id, "kind": self.kind, "method": self.method,
            "path": self.path, "query": self.query,
            "session_id": self.session_id, "client": self.client,
            "start": self.start, "end": self.end,
            "duration_ms": self.duration_ms, "status": self.status,
            "http_status": self.http_status, "n_messages": self.n_messages,
            "first_message": self.first_message,
            "last_message": self.last_message,
            "body_sha256": self.body_sha256, "body_bytes": self.body_bytes,
            "concurrent_at_start": self.concurrent_at_start,
            "frames_in": self.frames_in, "frames_out": self.frames_out,
            "close_code": self.close_code, "note": self.note,
            "headers": self.headers,
            "accepted": accepted, "closed": closed, "closed_by": closed_by,
        }


class State(object):
    """Everything shared by the connection threads, under one lock."""

    def __init__(self, host, port, gpu_id, knobs, log):
        self.lock = threading.Lock()
        self.idle_cond = threading.Condition(self.lock)
        self.host = host
        self.port = port
        self.gpu_id = gpu_id
        self.cli_knobs = knobs
        self.knobs = json.loads(json.dumps(knobs))
        self.log_file = log
        self.log_lock = threading.Lock()
        self.started_at = time.time()
        self.open_socks = set()
        self.open_conns = set()     # every accepted connection not closed yet
        self.reset_counters()

    def reset_counters(self):
        self.next_id = 1
        self.served = 0
        self.finished = 0
        self.running = []
        self.max_concurrent = 0
        self.overlaps = 0
        self.tasks = deque(maxlen=TASKS_KEPT)
        self.total_ms = 0.0
        self.health_checks = 0
        self.requests = 0
        self.connections = 0
        self.ws_handshakes = 0
        self.ws_rejected = 0
        self.busy_rejected = 0
        self.dropped = 0

    def log(self, msg):
        if not self.log_file:
            return
        line = "%s [%d] %s\n" % (time.strftime("%H:%M:%S"), self.port, msg)
        with self.log_lock:
            try:
                with open(self.log_file, "a") as f:
                    f.write(line)
            except OSError:
                pass

    def knob(self, name):
        with self.lock:
            return self.knobs[name]

    # -- tasks -----------------------------------------------------------

    def begin_task(self, kind, req, session_id):
        with self.lock:
            t = Task(self.next_id, kind, req.method, req.path, req.query,
                     session_id, req.client, req.headers, req.conn,
                     req.accepted)
            self.next_id += 1
            if self.running:
                self.overlaps += 1
            self.running.append(t)
            t.concurrent_at_start = len(self.running)
            self.max_concurrent = max(self.max_concurrent, len(self.running))
            self.served += 1
            self.tasks.append(t)
            crash = self.knobs["crash_after_ms"]
            if crash is not None:
                self.knobs["crash_after_ms"] = None
        self.log("task %d begin %s %s session=%s running=%d" %
                 (t.id, kind, req.path, session_id, t.concurrent_at_start))
        if crash is not None:
            timer = threading.Timer(crash / 1000.0, self.crash,
                                    args=("crash_after_ms during task %d" %
                                          t.id,))
            timer.daemon = True
            timer.start()
        return t

    def end_task(self, t, status="done"):
        with self.lock:
            if t.end is not None:
                return
            t.end_mono = time.monotonic()
            t.end = time.time()
            t.duration_ms = round((t.end_mono - t.t0) * 1000.0, 3)
            t.status = status
            if t in self.running:
                self.running.remove(t)
            self.finished += 1
            self.total_ms += t.duration_ms
            self.idle_cond.notify_all()
        self.log("task %d end %s %.1f ms" % (t.id, status, t.duration_ms))

    def watched(self):
        """The open connections whose close has not been seen yet: the
        accept loop polls them with the listener (see Server.serve)."""
        with self.lock:
            return [c for c in self.open_conns if c.closed is None]

    def wait_idle(self, ms):
        """True when no task runs (waiting up to ms for it)."""
        deadline = time.monotonic() + ms / 1000.0
        with self.lock:
            while self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.idle_cond.wait(left)
            return True

    def worker_status(self):
        with self.lock:
            forced = self.knobs["worker_status"]
            if forced is not None:
                return forced
            if not self.running:
                return "idle"
            t = self.running[-1]
            if t.kind == "duplex" and t.paused:
                return "duplex_paused"
            return BUSY_STATUS.get(t.kind, "busy_chat")

    def health(self):
        status = self.worker_status()
        with self.lock:
            sid = self.running[-1].session_id if self.running else None
            avg = self.total_ms / self.finished if self.finished else 0.0
            body = {
                "status": "healthy", "worker_status": status,
                "gpu_id": self.gpu_id, "model_loaded": True,
                "current_session_id": sid,
                "total_requests": self.finished,
                "avg_inference_time_ms": round(avg, 3),
                "kv_cache_length": 0,
            }
            body.update(self.knobs["health_extra"])
            for k in self.knobs["health_drop"]:
                body.pop(k, None)
        return body

    def stats(self, with_tasks=True):
        with self.lock:
            out = {
                "port": self.port, "pid": os.getpid(),
                "served": self.served, "finished": self.finished,
                "running": len(self.running),
                "max_concurrent": self.max_concurrent,
                "overlaps": self.overlaps,
                "health_checks": self.health_checks,
                "requests": self.requests,
                "connections": self.connections,
                "ws_handshakes": self.ws_handshakes,
                "ws_rejected": self.ws_rejected,
                "busy_rejected": self.busy_rejected,
                "dropped": self.dropped,
                "started_at": self.started_at,
                "knobs": json.loads(json.dumps(self.knobs)),
            }
            if with_tasks:
                out["tasks"] = [t.to_json() for t in self.tasks]
        return out

    def crash(self, why):
        self.log("CRASH: %s" % why)
        with self.lock:
            rst = self.knobs["crash_rst"]
            socks = list(self.open_socks)
        if rst:
            for s in socks:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                except OSError:
                    pass
        os._exit(CRASH_EXIT)


# ---------------------------------------------------------------------------
# HTTP/1.x

class BadRequest(Exception):
    def __init__(self, status, detail):
        Exception.__init__(self, detail)
        self.status = status
        self.detail = detail


class PeerGone(Exception):
    pass


class Request(object):
    def __init__(self):
        self.method = ""
        self.target = ""
        self.path = ""
        self.query = ""
        self.args = {}
        self.version = "HTTP/1.1"
        self.headers = {}
        self.body = b""
        self.client = ""
        self.conn = None
        self.accepted = None

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def keep_alive(self):
        conn = self.header("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn

    def json_body(self):
        if not self.body:
            return None
        return json.loads(self.body.decode("utf-8"))


POLLRDHUP = getattr(select, "POLLRDHUP", 0x2000)
CLOSED_EVENTS = POLLRDHUP | select.POLLHUP | select.POLLERR
CLOSE_LOCK = threading.Lock()


class Conn(object):
    """One accepted TCP connection with a read buffer, and when the fake
    accepted it and first saw it closed (monotonic clock)."""

    def __init__(self, sock, addr, accepted=None):
        self.sock = sock
        self.buf = b""
        self.client = "%s:%s" % (addr[0], addr[1])
        self.accepted = accepted if accepted is not None \
            else time.monotonic()
        self.requests = 0
        self.closed = None
        self.closed_by = None

    def mark_closed(self, how):
        """Books the first moment the fake saw this connection closed."""
        now = time.monotonic()
        with CLOSE_LOCK:
            if self.closed is None:
                self.closed, self.closed_by = now, how

    def _recv(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise
        except (ConnectionResetError, ConnectionAbortedError,
                BrokenPipeError):
            data = b""
        if not data:
            self.mark_closed("seen closed by its thread")
            raise PeerGone()
        self.buf += data

    def read_request(self):
        """Next request, or None when the peer closed between requests."""
        while True:
            # tolerate stray CRLFs between requests (RFC 7230 3.5)
            self.buf = self.buf.lstrip(b"\r\n")
            if b"\r\n\r\n" in self.buf:
                break
            if len(self.buf) > MAX_HEAD:
                raise BadRequest(431, "Request header too large")
            try:
                self._recv(KEEPALIVE_IDLE_S if not self.buf else 30.0)
            except PeerGone:
                if self.buf.strip():
                    raise
                return None
            except socket.timeout:
                if self.buf:
                    raise
                return None
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("iso-8859-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest(400, "Bad request line")
        req = Request()
        req.client = self.client
        req.conn = self
        self.requests += 1
        # a task holds the worker from its connection's accept; a later
        # request on a kept-alive connection from when its head was read
        req.accepted = self.accepted if self.requests == 1 \
            else time.monotonic()
        req.method, req.target, req.version = parts
        if req.version not in ("HTTP/1.0", "HTTP/1.1"):
            raise BadRequest(505, "HTTP version not supported")
        u = urllib.parse.urlsplit(req.target)
        req.path = u.path
        req.query = u.query
        req.args = {k: v[-1] for k, v in
                    urllib.parse.parse_qs(u.query,
                                          keep_blank_values=True).items()}
        for line in lines[1:]:
            if not line:
                continue
            k, sep, v = line.partition(":")
            if not sep:
                raise BadRequest(400, "Bad header line")
            k = k.strip().lower()
            v = v.strip()
            req.headers[k] = req.headers[k] + ", " + v \
                if k in req.headers else v
        return req

    def read_body(self, req):
        te = req.header("transfer-encoding", "").lower()
        expect = req.header("expect", "").lower()
        has_body = "chunked" in te or req.header("content-length")
        if has_body and expect == "100-continue" and req.version == "HTTP/1.1":
            self.send_all(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in te:
            body = b""
            while True:
                line = self._read_line()
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest(400, "Bad chunk size")
                if size == 0:
                    while self._read_line() != b"":   # trailers
                        pass
                    break
                if len(body) + size > MAX_BODY:
                    raise BadRequest(413, "Request body too large")
                body += self._read_exact(size)
                if self._read_exact(2) != b"\r\n":
                    raise BadRequest(400, "Bad chunk end")
            req.body = body
            return
        cl = req.header("content-length")
        if cl is None:
            req.body = b""
            return
        try:
            n = int(cl)
        except ValueError:
            raise BadRequest(400, "Bad Content-Length")
        if n < 0:
            raise BadRequest(400, "Bad Content-Length")
        if n > MAX_BODY:
            raise BadRequest(413, "Request body too large")
        req.body = self._read_exact(n)

    def _read_line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_HEAD:
                raise BadRequest(400, "Line too long")
            self._recv(30.0)
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._recv(30.0)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send_all(self, data):
        self.sock.settimeout(60.0)
        self.sock.sendall(data)

    def readable(self, seconds):
        """poll(), not select(): fds past 1024 must work under load."""
        p = select.poll()
        p.register(self.sock, select.POLLIN | select.POLLHUP |
                   select.POLLERR)
        return bool(p.poll(max(0, int(seconds * 1000))))

    def peer_gone(self):
        """True if the peer closed its side (EOF readable now)."""
        if self.buf:
            return False
        try:
            if not self.readable(0):
                return False
            self.sock.settimeout(0)
            data = self.sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, socket.timeout):
            return False
        except OSError:
            data = b""
        if data == b"":
            self.mark_closed("seen closed by its thread")
            return True
        return False

    def sleep_watching(self, seconds):
        """Sleep, but return True early if the peer closes meanwhile."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.buf:
                time.sleep(left)
                return False
            try:
                r = self.readable(min(left, 0.05))
            except (OSError, ValueError):
                self.mark_closed("seen closed by its thread")
                return True
            if r and self.peer_gone():
                return True
            if r:
                # pipelined data: stop watching, just sleep
                time.sleep(max(0.0, deadline - time.monotonic()))
                return False


def reason_phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Status %d" % status


class Response(object):
    """Writes answers on a Conn, honouring the request's HTTP version."""

    def __init__(self, state, conn, req):
        self.state = state
        self.conn = conn
        self.req = req
        self.keep_alive = req.keep_alive() if req else False
        self.chunked = False
        self.started = False
        self.status = None

    def head(self, status, headers, length=None, stream=False,
             extra=True):
        self.status = status
        lines = ["HTTP/1.1 %d %s" % (status, reason_phrase(status))]
        hdrs = list(headers)
        if extra and self.state is not None:
            for k, v in self.state.knob("extra_headers").items():
                hdrs.append((k, str(v)))
        hdrs.append(("Server", "fake-worker"))
        if stream:
            if self.req.version == "HTTP/1.1":
                self.chunked = True
                hdrs.append(("Transfer-Encoding", "chunked"))
            else:
                # HTTP/1.0 has no chunked coding: the body ends at close
                self.keep_alive = False
        else:
            hdrs.append(("Content-Length", str(length or 0)))
        if self.keep_alive:
            if self.req.version == "HTTP/1.0":
                hdrs.append(("Connection", "keep-alive"))
        else:
            hdrs.append(("Connection", "close"))
        for k, v in hdrs:
            lines.append("%s: %s" % (k, v))
        self.conn.send_all(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        self.started = True

    def send(self, status, body, ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        hdrs = [("Content-Type", ctype)] + list(headers)
        self.head(status, hdrs, length=len(body))
        if self.req is None or self.req.method != "HEAD":
            self.conn.send_all(body)

    def json(self, status, obj, headers=()):
        self.send(status, json.dumps(obj, separators=(",", ":"),
                                     ensure_ascii=False), headers=headers)

    def chunk(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not data:
            return
        if self.chunked:
            self.conn.send_all(b"%x\r\n%s\r\n" % (len(data), data))
        else:
            self.conn.send_all(data)

    def finish(self):
        if self.chunked:
            self.conn.send_all(b"0\r\n\r\n")


# ---------------------------------------------------------------------------
# worker API

def describe_messages(body):
    """(n_messages, first, last) from a chat body, contents as short text."""
    msgs = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(msgs, list):
        return None, None, None

    def text(m):
        c = m.get("content") if isinstance(m, dict) else m
        s = c if isinstance(c, str) else json.dumps(c, ensure_ascii=False)
        return s[:200]
    if not msgs:
        return 0, None, None
    return len(msgs), text(msgs[0]), text(msgs[-1])


def int_param(req, body, field, header, default):
    """A per-request override: body field, then header, then query arg."""
    v = None
    if isinstance(body, dict) and field in body:
        v = body[field]
    elif req.header(header) is not None:
        v = req.header(header)
    elif field.lstrip("_") in req.args:
        v = req.args[field.lstrip("_")]
    if v is None:
        return default
    try:
        return int(v)
    except (TypeError, ValueError):
        raise BadRequest(400, "bad %s: %r" % (field, v))


class Worker(object):
    def __init__(self, state):
        self.state = state

    def worker_info(self):
        return {"port": self.state.port, "host": self.state.host,
                "pid": os.getpid(), "gpu_id": self.state.gpu_id}

    # -- /health ---------------------------------------------------------

    def health(self, conn, req, resp):
        st = self.state
        with st.lock:
            st.health_checks += 1
        delay = st.knob("health_delay_ms")
        if delay > 0:
            time.sleep(delay / 1000.0)
        while st.knob("health_hang"):
            if conn.peer_gone():
                raise PeerGone()
            time.sleep(0.05)
        status = st.knob("health_http_status")
        raw = st.knob("health_body")
        if raw is not None:
            resp.send(status, raw, ctype="text/plain")
            return
        resp.json(status, st.health())

    # -- POST /chat ------------------------------------------------------

    def chat(self, conn, req, resp):
        st = self.state
        try:
            body = req.json_body() if req.body else {}
        except (ValueError, UnicodeDecodeError):
            body = None
        sse = (isinstance(body, dict) and body.get("streaming") is True) or \
            "text/event-stream" in req.header("accept", "")
        sid = None
        if isinstance(body, dict) and isinstance(body.get("session_id"), str):
            sid = body["session_id"]
        sid = sid or req.args.get("session_id") or req.header("x-session-id")

        if st.knob("reject_when_busy") and \
                not st.wait_idle(st.knob("busy_wait_ms")):
            with st.lock:
                st.busy_rejected += 1
            resp.json(429, {"detail": "Worker busy after waiting 5s, "
                                      "status: %s" % st.worker_status()})
            return

        t = st.begin_task("chat_sse" if sse else "chat", req, sid)
        t.body_bytes = len(req.body)
        t.body_sha256 = hashlib.sha256(req.body).hexdigest()
        outcome = "done"
        try:
            if body is None or not isinstance(body, dict):
                t.http_status = 422
                resp.json(422, {"detail": [{"type": "json_invalid",
                                            "loc": ["body"],
                                            "msg": "JSON object expected"}]})
                outcome = "error"
                return
            n, first, last = describe_messages(body)
            t.n_messages, t.first_message, t.last_message = n, first, last
            status = int_param(req, body, "_status", "x-fake-status",
                               st.knob("chat_http_status"))
            if status != 200:
                detail = st.knob("chat_detail")
                if detail is None:
                    detail = ("Worker busy after waiting 5s, status: "
                              "busy_chat" if status == 429 else
                              "Fake worker error %d" % status)
                t.http_status = status
                resp.json(status, {"detail": detail})
                outcome = "error"
                return
            if sse:
                outcome = self.chat_sse(conn, req, resp, body, t)
                return
            task_ms = int_param(req, body, "_task_ms", "x-fake-task-ms",
                                st.knob("chat_ms"))
            if task_ms > 0 and conn.sleep_watching(task_ms / 1000.0):
                outcome = "aborted"
                return
            msgs = body.get("messages")
            text = "fake reply from worker %d to %s messages" % (
                st.port, n if n is not None else 0)
            out = {
                "text": text, "audio_path": None, "audio_data": None,
                "audio_sample_rate": 24000,
                "tokens_generated": len(text.split()),
                "duration_ms": round((time.monotonic() - t.t0) * 1000.0, 3),
                "prompt": None, "token_stats": {},
                "recording_session_id": None, "error": None, "success": True,
                "worker": self.worker_info(), "worker_port": st.port,
                "task_id": t.id, "n_messages": n, "session_id": sid,
                "messages": msgs, "body_sha256": t.body_sha256,
                "request_headers": req.headers,
            }
            t.http_status = 200
            # like a real worker: idle as it answers, not after the close
            st.end_task(t, "done")
            resp.json(200, out)
        except (OSError, PeerGone):
            outcome = "aborted"
            raise
        except BadRequest:
            outcome = "error"
            raise
        finally:
            st.end_task(t, outcome)

    def chat_sse(self, conn, req, resp, body, t):
        st = self.state
        chunks = int_param(req, body, "_chunks", "x-fake-chunks",
                           st.knob("chunks"))
        interval = int_param(req, body, "_interval_ms", "x-fake-interval-ms",
                             st.knob("interval_ms"))
        first = int_param(req, body, "_first_delay_ms",
                          "x-fake-first-delay-ms", 0)
        t.http_status = 200
        if first > 0 and conn.sleep_watching(first / 1000.0):
            return "aborted"
        resp.head(200, [("Content-Type", "text/event-stream"),
                        ("Cache-Control", "no-cache")], stream=True)
        text = ""
        for i in range(chunks):
            if i > 0 and interval > 0 and \
                    conn.sleep_watching(interval / 1000.0):
                return "aborted"
            delta = "tok%d " % i
            text += delta
            ev = {"type": "chunk", "index": i, "text_delta": delta,
                  "worker_port": st.port, "task_id": t.id,
                  "ts": time.time()}
            resp.chunk("data: %s\n\n" % json.dumps(ev, separators=(",", ":")))
        done = {"type": "done", "text": text, "worker_port": st.port,
                "task_id": t.id, "n_messages": t.n_messages,
                "session_id": t.session_id}
        resp.chunk("data: %s\n\n" % json.dumps(done, separators=(",", ":")))
        resp.chunk("data: [DONE]\n\n")
        st.end_task(t, "done")
        resp.finish()
        return "done"

    # -- GET /stream -----------------------------------------------------

    def stream(self, conn, req, resp):
        st = self.state
        chunks = int_param(req, None, "_chunks", "x-fake-chunks",
                           st.knob("chunks"))
        interval = int_param(req, None, "_interval_ms", "x-fake-interval-ms",
                             st.knob("interval_ms"))
        t = st.begin_task("stream", req, req.args.get("session_id"))
        outcome = "done"
        try:
            t.http_status = 200
            resp.head(200, [("Content-Type", "text/plain")], stream=True)
            for i in range(chunks):
                if i > 0 and interval > 0 and \
                        conn.sleep_watching(interval / 1000.0):
                    outcome = "aborted"
                    return
                resp.chunk("chunk %d %.6f\n" % (i, time.time()))
            st.end_task(t, "done")
            resp.finish()
        except (OSError, PeerGone):
            outcome = "aborted"
            raise
        finally:
            st.end_task(t, outcome)

    # -- WebSocket -------------------------------------------------------

    def websocket(self, conn, req, resp):
        st = self.state
        if req.header("upgrade", "").lower() != "websocket":
            resp.json(400, {"detail": "WebSocket upgrade expected"})
            return
        if "upgrade" not in req.header("connection", "").lower() or \
                req.version != "HTTP/1.1" or req.method != "GET":
            resp.json(400, {"detail": "Bad WebSocket handshake"})
            return
        key = req.header("sec-websocket-key")
        if not key or req.header("sec-websocket-version") != "13":
            resp.keep_alive = False
            resp.send(400, "", headers=[("Sec-WebSocket-Version", "13")])
            return
        with st.lock:
            st.ws_handshakes += 1
            rpath = st.knobs["ws_reject_path"]
            reject = st.knobs["ws_reject_next"] > 0 and \
                (rpath is None or req.path.startswith(rpath))
            if reject:
                st.knobs["ws_reject_next"] -= 1
                st.ws_rejected += 1
                rstatus = st.knobs["ws_reject_status"]
        if reject:
            st.log("ws handshake %s rejected with %d" % (req.path, rstatus))
            resp.keep_alive = False
            resp.send(rstatus, b"", ctype="text/plain")
            return

        kind = {"/ws/chat": "ws_chat", "/ws/half_duplex": "half_duplex",
                "/ws/duplex": "duplex"}[req.path]
        sid = req.args.get("session_id")

        if st.knob("reject_when_busy") and kind != "ws_chat":
            wait = st.knob("busy_wait_ms") if kind == "duplex" else 0
            if not st.wait_idle(wait):
                with st.lock:
                    st.busy_rejected += 1
                resp.keep_alive = False
                resp.send(403, b"", ctype="text/plain")
                return

        hdrs = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                "Connection: Upgrade",
                "Sec-WebSocket-Accept: %s" % wsp.accept_key(key),
                "Server: fake-worker"]
        for k, v in st.knob("extra_headers").items():
            hdrs.append("%s: %s" % (k, v))
        conn.send_all(("\r\n".join(hdrs) + "\r\n\r\n").encode("utf-8"))
        ws = wsp.WebSocket(conn.sock, is_client=False, leftover=conn.buf)
        conn.buf = b""
        resp.keep_alive = False

        busy_reject = False
        if kind == "ws_chat" and st.knob("reject_when_busy") and \
                not st.wait_idle(st.knob("busy_wait_ms")):
            busy_reject = True
            with st.lock:
                st.busy_rejected += 1

        t = None if busy_reject else st.begin_task(kind, req, sid)
        session = WSSession(self, ws, t, sid)
        outcome = "done"
        try:
            if busy_reject:
                session.send({"type": "error", "error": "Worker busy"})
                session.server_close(1000)
                return
            if kind == "ws_chat":
                outcome = session.run_chat()
            else:
                outcome = session.run_duplex(kind)
        except wsp.WSProtocolError as e:
            outcome = "protocol_error"
            if t:
                t.note = "%d %s" % (e.code, e.reason)
        except (OSError, PeerGone):
            outcome = "aborted"
        except (ValueError, TypeError, AttributeError) as e:
            # a client message the fake cannot use (e.g. "_chunks":"x")
            outcome = "error"
            if t:
                t.note = repr(e)
        finally:
            # the task ends before the socket goes, as a real worker's does
            if t:
                st.end_task(t, outcome)
            ws.shutdown()


class WSSession(object):
    """One WebSocket task on the worker side."""

    def __init__(self, worker, ws, task, sid):
        self.worker = worker
        self.state = worker.state
        self.ws = ws
        self.t = task
        self.sid = sid
        self.index = 0

    def send(self, obj, pad=0):
        st = self.state
        delay = st.knob("frame_delay_ms")
        if delay > 0:
            time.sleep(delay / 1000.0)
        big = max(pad, st.knob("big_frame_bytes"))
        text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        if big > 0 and obj.get("type") in ("done", "result", "chunk") \
                and len(text) < big:
            obj = dict(obj)
            obj["audio_data"] = ""
            base = len(json.dumps(obj, separators=(",", ":"),
                                  ensure_ascii=False).encode("utf-8"))
            obj["audio_data"] = "A" * max(0, big - base)
            text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
        self.ws.send_text(text)
        if self.t:
            self.t.frames_out += 1

    def conn_closed(self, how):
        """Books the moment the connection closed (see Task.interval)."""
        if self.t is not None and self.t.conn is not None:
            self.t.conn.mark_closed(how)

    def server_close(self, code=1000, reason=""):
        """Send close, wait briefly for the client's close."""
        self.ws.close(code, reason, timeout=2.0)
        self.conn_closed("closed by the fake")
        if self.t:
            self.t.close_code = code

    def recv_obj(self, timeout=None):
        """Next client message as (obj, error text). obj None + error None
        means the client closed (close code recorded)."""
        m = self.ws.recv(timeout)
        if m is None:
            return "timeout", None
        if m.kind == "close":
            # the client's close frame, or 1006: TCP ended
            self.conn_closed("seen closed by its thread")
            if self.t:
                self.t.close_code = m.code
            self.ws.close(timeout=0.5)
            return None, None
        if self.t:
            self.t.frames_in += 1
        if m.kind == "binary":
            return {}, "Binary frames are not supported"
        try:
            obj = json.loads(m.data)
        except ValueError:
            return {}, "Invalid JSON"
        if not isinstance(obj, dict):
            return {}, "Invalid JSON"
        return obj, None

    def tag(self, out, msg):
        if "_tag" in msg:
            out["_tag"] = msg["_tag"]
        return out

    def run_chat(self):
        st = self.state
        t = self.t
        obj, err = self.recv_obj()
        if obj is None:
            return "aborted"
        if err:
            self.send({"type": "error", "error": err})
            self.server_close(1000)
            return "error"
        raw = json.dumps(obj, sort_keys=True).encode("utf-8")
        t.body_sha256 = hashlib.sha256(raw).hexdigest()
        t.body_bytes = len(raw)
        n, first, last = describe_messages(obj)
        t.n_messages, t.first_message, t.last_message = n, first, last
        if isinstance(obj.get("session_id"), str) and not t.session_id:
            t.session_id = obj["session_id"]
        pad = int(obj.get("_big_frame") or 0)
        prefill = int(obj.get("_task_ms") or 0)
        chunks = int(obj.get("_chunks", st.knob("chunks")))
        interval = int(obj.get("_interval_ms", st.knob("interval_ms")))
        if prefill > 0:
            time.sleep(prefill / 1000.0)
        words = sum(len((m.get("content") if isinstance(m.get("content"), str)
                         else json.dumps(m.get("content"))).split())
                    for m in (obj.get("messages") or [])
                    if isinstance(m, dict))
        in_tokens = words + 4 * (n or 0)
        self.send({"type": "prefill_done", "input_tokens": in_tokens})
        text = ""
        if obj.get("streaming", True) is not False:
            for i in range(chunks):
                if i > 0 and interval > 0:
                    time.sleep(interval / 1000.0)
                delta = "tok%d " % i
                text += delta
                self.send({"type": "chunk", "text_delta": delta,
                           "chunk_index": i})
        else:
            if interval > 0:
                time.sleep(interval * chunks / 1000.0)
            text = "".join("tok%d " % i for i in range(chunks))
        done = {"type": "done", "text": text,
                "generated_tokens": len(text.split()),
                "input_tokens": in_tokens, "worker_port": st.port,
                "task_id": t.id, "n_messages": n, "session_id": t.session_id,
                "messages": obj.get("messages")}
        if obj.get("streaming") is False:
            done["audio_data"] = None
        self.send(done, pad=pad)
        self.server_close(1000)
        return "done"

    def run_duplex(self, kind):
        st = self.state
        t = self.t
        duplex = kind == "duplex"
        timeout_ms = st.knob("session_timeout_ms")
        deadline = time.monotonic() + timeout_ms / 1000.0 \
            if timeout_ms > 0 else None
        first = True
        while True:
            wait = None
            if deadline is not None:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    self.send({"type": "timeout",
                               "reason": "session timeout",
                               "elapsed_s": timeout_ms / 1000.0})
                    self.server_close(1000)
                    return "timeout"
            msg, err = self.recv_obj(wait)
            if msg == "timeout":
                continue
            if msg is None:
                return "done"
            if err:
                self.send({"type": "error", "error": err})
                continue
            if first:
                t.first_message = json.dumps(msg, sort_keys=True)[:200]
                first = False
            typ = msg.get("type")
            pad = int(msg.get("_big_frame") or 0) \
                if isinstance(msg.get("_big_frame"), int) else 0
            if typ == "prepare":
                out = {"type": "prepared", "session_id": self.sid,
                       "worker_port": st.port, "task_id": t.id}
                if duplex:
                    sp = msg.get("system_prompt") or ""
                    out["prompt_length"] = len(str(sp).split())
                else:
                    out["timeout_s"] = (timeout_ms / 1000.0
                                        if timeout_ms else 300)
                self.send(self.tag(out, msg))
            elif typ == "audio_chunk":
                if duplex and t.paused:
                    self.send(self.tag({"type": "error",
                                        "error": "Worker is paused"}, msg))
                    continue
                i = self.index
                self.index += 1
                if duplex:
                    out = {"type": "result", "is_listen": False,
                           "text": "heard chunk %d" % i, "audio_data": None,
                           "end_of_turn": False, "current_time": i,
                           "cost_llm_ms": 0, "cost_tts_prep_ms": 0,
                           "cost_tts_ms": 0, "cost_token2wav_ms": 0,
                           "cost_all_ms": 0, "n_tokens": 1,
                           "n_tts_tokens": 0, "server_send_ts": time.time(),
                           "wall_clock_ms": 0, "kv_cache_length": 0,
                           "vision_slices": 0, "vision_tokens": 0,
                           "chunk_index": i, "session_id": self.sid,
                           "worker_port": st.port}
                else:
                    out = {"type": "chunk", "chunk_index": i,
                           "text_delta": "heard chunk %d" % i,
                           "audio_data": None, "audio_sample_rate": 24000,
                           "is_final": False, "duration_ms": 0,
                           "session_id": self.sid, "worker_port": st.port}
                self.send(self.tag(out, msg), pad=pad)
            elif typ == "pause":
                with st.lock:
                    t.paused = True
                self.send(self.tag({"type": "paused",
                                    "timeout": msg.get("timeout", 60)}, msg))
            elif typ == "resume":
                with st.lock:
                    t.paused = False
                self.send(self.tag({"type": "resumed"}, msg))
            elif typ == "stop":
                self.send(self.tag({"type": "stopped"}, msg))
                self.server_close(1000)
                return "done"
            elif typ == "_close":
                # fake-only: the worker closes with the given code
                self.server_close(int(msg.get("code", 1000)),
                                  str(msg.get("reason", "")))
                return "done"
            elif typ == "_drop":
                # fake-only: the worker drops TCP without a close frame
                self.ws.abort(rst=bool(msg.get("rst")))
                self.conn_closed("closed by the fake")
                return "dropped"
            else:
                self.send(self.tag({"type": "error",
                                    "error": "Unknown message type: %s"
                                    % typ}, msg))


# ---------------------------------------------------------------------------
# control endpoints

def coerce_knob(name, value):
    default, types, _ = KNOBS[name]
    if isinstance(value, bool) and bool not in types:
        raise BadRequest(400, "knob %s: wrong type" % name)
    if not isinstance(value, types):
        raise BadRequest(400, "knob %s: expected %s" %
                         (name, "/".join(t.__name__ for t in types)))
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        raise BadRequest(400, "knob %s: must be >= 0" % name)
    return value


class Control(object):
    def __init__(self, state, server):
        self.state = state
        self.server = server

    def handle(self, conn, req, resp):
        st = self.state
        p = req.path
        if p == "/_fake/stats" and req.method == "GET":
            with_tasks = req.args.get("tasks", "1") not in ("0", "false")
            out = st.stats(with_tasks)
            if "last" in req.args and with_tasks:
                out["tasks"] = out["tasks"][-int(req.args["last"]):]
            resp.json(200, out)
        elif p == "/_fake/control" and req.method == "GET":
            resp.json(200, {"knobs": st.stats(False)["knobs"]})
        elif p == "/_fake/control" and req.method == "POST":
            body = self.body(req)
            new = {}
            for k, v in body.items():
                if k not in KNOBS:
                    raise BadRequest(400, "unknown knob: %s" % k)
                new[k] = coerce_knob(k, v)
            with st.lock:
                st.knobs.update(new)
                st.idle_cond.notify_all()
            st.log("control %s" % json.dumps(new))
            resp.json(200, {"knobs": st.stats(False)["knobs"]})
        elif p == "/_fake/reset" and req.method == "POST":
            body = self.body(req)
            knobs = body.get("knobs") or req.args.get("knobs") in ("1",
                                                                   "true")
            with st.lock:
                st.reset_counters()
                if knobs:
                    st.knobs = json.loads(json.dumps(st.cli_knobs))
            st.log("reset knobs=%s" % bool(knobs))
            resp.json(200, {"reset": True, "knobs_reset": bool(knobs)})
        elif p == "/_fake/crash" and req.method == "POST":
            body = self.body(req)
            delay = int(body.get("delay_ms", 0))
            if "rst" in body:
                with st.lock:
                    st.knobs["crash_rst"] = bool(body["rst"])
            resp.keep_alive = False
            resp.json(200, {"crashing": True, "pid": os.getpid(),
                            "delay_ms": delay})
            if delay > 0:
                timer = threading.Timer(delay / 1000.0, st.crash,
                                        args=("/_fake/crash",))
                timer.daemon = True
                timer.start()
            else:
                st.crash("/_fake/crash")
        elif p == "/_fake/refuse" and req.method == "POST":
            body = self.body(req)
            ms = int(body.get("ms", 1000))
            ok = self.server.refuse_for(ms)
            resp.json(200, {"refusing_ms": ms, "listener_closed": ok})
        elif p in ("/_fake/stats", "/_fake/control", "/_fake/reset",
                   "/_fake/crash", "/_fake/refuse"):
            resp.json(405, {"detail": "Method Not Allowed"})
        else:
            resp.json(404, {"detail": "Not Found"})

    def body(self, req):
        if not req.body.strip():
            return {}
        try:
            obj = json.loads(req.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise BadRequest(400, "body is not JSON")
        if not isinstance(obj, dict):
            raise BadRequest(400, "body must be a JSON object")
        return obj


# ---------------------------------------------------------------------------
# server

ROUTES = {
    "/health": ("GET", "health"),
    "/chat": ("POST", "chat"),
    "/stream": ("GET", "stream"),
    "/ws/chat": ("GET", "websocket"),
    "/ws/half_duplex": ("GET", "websocket"),
    "/ws/duplex": ("GET", "websocket"),
}


class Server(object):
    def __init__(self, state, host, port):
        self.state = state
        self.host = host
        self.port = port
        self.stop = False
        self.listener = None
        self.refuse_until = 0.0
        self.refuse_ack = threading.Event()
        self.worker = Worker(state)
        self.control = Control(state, self)

    def listen(self):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(1024)
        self.port = s.getsockname()[1]
        self.listener = s

    def refuse_for(self, ms):
        self.refuse_ack.clear()
        self.refuse_until = time.monotonic() + ms / 1000.0
        return self.refuse_ack.wait(2.0)

    def serve(self):
        while not self.stop:
            if self.refuse_until and time.monotonic() < self.refuse_until:
                if self.listener is not None:
                    self.listener.close()
                    self.listener = None
                    self.state.log("listener closed (refusing)")
                self.refuse_ack.set()
                time.sleep(min(0.02, max(0.0, self.refuse_until -
                                         time.monotonic())))
                continue
            if self.listener is None:
                try:
                    self.listen()
                    self.state.log("listener reopened")
                except OSError:
                    time.sleep(0.05)
                    continue
                self.refuse_until = 0.0
            # one poll() for the listener and for the close (FIN or RST
            # received) of every open connection: a close is booked as soon
            # as it is seen, and a close seen together with a new
            # connection is booked before that connection's accept (see
            # Task.interval)
            conns = {}
            try:
                poller = select.poll()
                for c in self.state.watched():
                    fd = c.sock.fileno()
                    if fd < 0:                  # the fake closed it
                        c.mark_closed("closed by the fake")
                        continue
                    poller.register(fd, CLOSED_EVENTS)
                    conns[fd] = c
                lfd = self.listener.fileno()
                poller.register(lfd, select.POLLIN)
                r = poller.poll(100)
            except (OSError, ValueError):
                continue
            incoming = False
            for fd, ev in r:
                if fd == lfd:
                    incoming = True
                elif ev & select.POLLNVAL:      # the fake closed it
                    conns[fd].mark_closed("closed by the fake")
                else:
                    conns[fd].mark_closed("seen closed by the accept loop")
            if not incoming:
                continue
            try:
                sock, addr = self.listener.accept()
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    time.sleep(0.05)
                continue
            conn = Conn(sock, addr, time.monotonic())
            # watched by the next poll of this loop
            with self.state.lock:
                self.state.open_conns.add(conn)
            th = threading.Thread(target=self.connection, args=(conn,),
                                  daemon=True)
            th.start()

    def connection(self, conn):
        st = self.state
        sock = conn.sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with st.lock:
            st.connections += 1
            st.open_socks.add(sock)
        try:
            while True:
                req = None
                resp = Response(st, conn, None)
                try:
                    req = conn.read_request()
                    if req is None:
                        break
                    resp = Response(st, conn, req)
                    with st.lock:
                        st.requests += 1
                    conn.read_body(req)
                    st.log("%s %s %s from %s" % (req.method, req.target,
                                                 req.version, conn.client))
                    if not self.dispatch(conn, req, resp):
                        break
                except BadRequest as e:
                    if resp.started:
                        break
                    if req is None:
                        resp.req = Request()
                        resp.req.version = "HTTP/1.0"
                    resp.keep_alive = False
                    resp.json(e.status, {"detail": e.detail})
                    break
                if not resp.keep_alive:
                    break
        except (PeerGone, socket.timeout, OSError):
            pass
        except Exception as e:  # never let one connection kill the process
            st.log("internal error: %r" % e)
        finally:
            with st.lock:
                st.open_socks.discard(sock)
                st.open_conns.discard(conn)
            conn.mark_closed("closed by the fake")
            try:
                sock.close()
            except OSError:
                pass

    def dispatch(self, conn, req, resp):
        """Serve one request. False when the connection must end."""
        st = self.state
        if req.path.startswith("/_fake/"):
            self.control.handle(conn, req, resp)
            return True
        route = ROUTES.get(req.path)
        if route is None:
            resp.json(404, {"detail": "Not Found"})
            return True
        with st.lock:
            drop = st.knobs["drop_next"] > 0
            if drop:
                st.knobs["drop_next"] -= 1
                st.dropped += 1
                rst = st.knobs["crash_rst"]
        if drop:
            st.log("dropping %s %s" % (req.method, req.path))
            if rst:
                conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            return False
        method, name = route
        if req.method != method:
            resp.json(405, {"detail": "Method Not Allowed"},
                      headers=[("Allow", method)])
            return True
        getattr(self.worker, name)(conn, req, resp)
        return True


def write_file_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None):
    p = argparse.ArgumentParser(description="Fake MiniCPM-o inference worker")
    p.add_argument("--port", type=int, required=True,
                   help="port to listen on (0: any, see --portfile)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--status", default="idle",
                   help="worker_status to report; 'idle'/'auto' (default) "
                        "means automatic (idle or the busy value of the "
                        "running task), anything else is forced")
    p.add_argument("--chat-ms", type=int, default=100,
                   help="task time of POST /chat in ms (default 100)")
    p.add_argument("--gpu-id", type=int, default=0)
    p.add_argument("--pidfile", help="written (atomically) once listening")
    p.add_argument("--portfile",
                   help="the port actually bound, once listening")
    p.add_argument("--log", help="append a line per request/event here")
    a = p.parse_args(argv)

    knobs = knob_defaults()
    knobs["chat_ms"] = a.chat_ms
    if a.status not in ("idle", "auto"):
        knobs["worker_status"] = a.status
    state = State(a.host, a.port, a.gpu_id, knobs, a.log)
    server = Server(state, a.host, a.port)
    try:
        server.listen()
    except OSError as e:
        sys.stderr.write("fake_worker: cannot listen on %s:%d: %s\n" %
                         (a.host, a.port, e))
        return 1
    state.port = server.port

    def on_term(signum, frame):
        server.stop = True
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    if a.portfile:
        write_file_atomic(a.portfile, "%d\n" % server.port)
    if a.pidfile:
        write_file_atomic(a.pidfile, "%d\n" % os.getpid())
    state.log("listening on %s:%d pid %d" % (a.host, server.port,
                                             os.getpid()))
    try:
        server.serve()
    finally:
        if server.listener is not None:
            server.listener.close()
        state.log("exiting on signal")
        for f in (a.pidfile, a.portfile):
            if f:
                try:
                    os.unlink(f)
                except OSError:
                    pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
