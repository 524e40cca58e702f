#!/usr/bin/env python3
# t/support/test_fake_worker.py -- owns the self-test of the test fakes
# (fake_worker.py and ws_client.py). Run: python3 t/support/test_fake_worker.py
#
# Starts fake workers on free ports, drives them over raw sockets, http.client
# and the ws_client CLI/module, and checks the worker API, the knobs, the
# stats, crashing and SIGTERM. When /usr/sbin/nginx exists it also puts a
# plain nginx proxy in front (HTTP/1.0, 1.1 keepalive, SSE, WebSocket).
# Prints one "ok"/"not ok" line per check, exits 1 if any failed. Every
# process it starts is killed by its pid at the end.

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ws_client as wsc  # noqa: E402
from selftest import (PROCS, RESULTS, check, free_port,  # noqa: E402
                      stop_all, summary, until)

FAKE = os.path.join(HERE, "fake_worker.py")
CLIENT = os.path.join(HERE, "ws_client.py")
TMP = tempfile.mkdtemp(prefix="fake_worker_test.")


# ---------------------------------------------------------------------------
# harness

class Worker(object):
    def __init__(self, *args, **kw):
        self.port = kw.get("port") or free_port()
        self.pidfile = os.path.join(TMP, "w%d.pid" % self.port)
        self.log = os.path.join(TMP, "w%d.log" % self.port)
        cmd = [sys.executable, FAKE, "--port", str(self.port),
               "--pidfile", self.pidfile, "--log", self.log] + list(args)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        PROCS.append(self.proc)
        deadline = time.monotonic() + 5
        while not os.path.exists(self.pidfile):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("fake worker did not start: %r" %
                                   (self.proc.stderr.read()
                                    if self.proc.poll() is not None else ""))
            time.sleep(0.02)
        self.pid = int(open(self.pidfile).read())

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def req(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def jreq(self, method, path, body=None, headers=None, timeout=10):
        st, h, data = self.req(method, path, body, headers, timeout)
        return st, json.loads(data) if data else None

    def health(self):
        return self.jreq("GET", "/health")[1]

    def stats(self):
        return self.jreq("GET", "/_fake/stats")[1]

    def control(self, **knobs):
        st, out = self.jreq("POST", "/_fake/control", knobs)
        assert st == 200, (st, out)
        return out

    def reset(self, knobs=True):
        return self.jreq("POST", "/_fake/reset", {"knobs": knobs})

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_cli(*args, timeout=30):
    p = subprocess.run([sys.executable, CLIENT] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    events = [json.loads(l) for l in p.stdout.decode().splitlines() if l]
    return p.returncode, events, p.stderr.decode()


def raw_http(port, data, timeout=10):
    """Send raw bytes, return [(seconds since send, bytes)] until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    t0 = time.monotonic()
    s.sendall(data)
    out = []
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out.append((time.monotonic() - t0, d))
    s.close()
    return out


def dechunk(body):
    out = b""
    while True:
        line, _, body = body.partition(b"\r\n")
        n = int(line, 16)
        if n == 0:
            return out
        out += body[:n]
        body = body[n + 2:]


def sse_request(path, body, version="HTTP/1.1", extra=""):
    b = json.dumps(body).encode()
    return (("POST %s %s\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: %d\r\nConnection: close\r\n%s\r\n")
            % (path, version, len(b), extra)).encode() + b


def data_arrivals(pieces):
    """Time at which each 'data:' line arrived."""
    times = []
    for t, d in pieces:
        times += [t] * d.count(b"data:")
    return times


# ---------------------------------------------------------------------------
# tests

def test_codec():
    check(wsc.accept_key("dGhlIHNhbXBsZSBub25jZQ==") ==
          "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "codec: RFC 6455 accept key")
    check(wsc.encode_frame(wsc.OP_TEXT, b"Hello") ==
          bytes.fromhex("810548656c6c6f"), "codec: unmasked Hello")
    masked = wsc.encode_frame(wsc.OP_TEXT, b"Hello", mask=True,
                              mask_key=bytes.fromhex("37fa213d"))
    check(masked == bytes.fromhex("818537fa213d7f9f4d5158"),
          "codec: masked Hello (RFC 5.7)")
    check(wsc.encode_frame(wsc.OP_TEXT, b"Hel", fin=False) ==
          bytes.fromhex("010348656c") and
          wsc.encode_frame(wsc.OP_CONT, b"lo") == bytes.fromhex("80026c6f"),
          "codec: fragmented Hel+lo")
    check(wsc.encode_frame(wsc.OP_PING, b"Hello") ==
          bytes.fromhex("890548656c6c6f"), "codec: ping")
    check(wsc.encode_frame(wsc.OP_BINARY, b"\0" * 256)[:4] ==
          bytes.fromhex("827e0100"), "codec: 16-bit length")
    check(wsc.encode_frame(wsc.OP_BINARY, b"\0" * 65536)[:10] ==
          bytes.fromhex("827f0000000000010000"), "codec: 64-bit length")
    d = wsc.FrameDecoder(require_mask=True)
    got = None
    for b in masked:
        d.feed(bytes([b]))
        f = d.next()
        got = got or f
    check(got is not None and got.payload == b"Hello" and got.fin,
          "codec: byte-by-byte decode of a masked frame")
    for name, data, code in (
            ("unmasked client frame", bytes.fromhex("810548656c6c6f"), 1002),
            ("non-minimal length", bytes.fromhex("817e0005") + b"Hello",
             1002),
            ("RSV bit", bytes.fromhex("c10548656c6c6f"), 1002),
            ("fragmented ping", bytes.fromhex("0900"), 1002)):
        d = wsc.FrameDecoder(require_mask=True if "unmasked" in name
                             else None)
        d.feed(data)
        try:
            d.next()
            check(False, "codec: rejects %s" % name)
        except wsc.WSProtocolError as e:
            check(e.code == code, "codec: rejects %s" % name, e)


def test_health_idle(w):
    st, h, data = w.req("GET", "/health")
    body = json.loads(data)
    check(st == 200 and h.get("content-type") == "application/json",
          "health: 200 JSON")
    want = {"status": "healthy", "worker_status": "idle", "gpu_id": 0,
            "model_loaded": True, "current_session_id": None,
            "total_requests": 0, "avg_inference_time_ms": 0.0,
            "kv_cache_length": 0}
    check(body == want, "health: idle body", body)
    st, _ = w.jreq("POST", "/health")
    check(st == 405, "health: POST is 405")
    st, b = w.jreq("GET", "/nope")
    check(st == 404 and b == {"detail": "Not Found"}, "unknown path 404")


def test_chat(w):
    w.reset()
    res = {}
    body = {"messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hello there"}],
            "session_id": "s1", "_task_ms": 800}

    def go():
        t0 = time.monotonic()
        res["r"] = w.jreq("POST", "/chat", body)
        res["t"] = time.monotonic() - t0
    th = threading.Thread(target=go)
    th.start()
    busy = None
    for _ in range(50):
        h = w.health()
        if h["worker_status"] != "idle":
            busy = h
            break
        time.sleep(0.02)
    check(busy is not None and busy["worker_status"] == "busy_chat" and
          busy["current_session_id"] == "s1", "chat: health busy_chat "
          "with session during the task", busy)
    s = w.stats()
    check(s["running"] == 1 and s["served"] == 1 and s["finished"] == 0,
          "chat: stats running=1 during the task", s["running"])
    th.join()
    st, out = res["r"]
    check(st == 200 and res["t"] >= 0.75, "chat: 200 after the task time",
          (st, res["t"]))
    check(out["worker_port"] == w.port and out["n_messages"] == 2 and
          out["session_id"] == "s1" and out["messages"] == body["messages"]
          and out["success"] is True and out["worker"]["pid"] == w.pid,
          "chat: answer names the worker, counts and echoes", out)
    h = w.health()
    check(h["worker_status"] == "idle" and h["total_requests"] == 1 and
          h["avg_inference_time_ms"] >= 750 and
          h["current_session_id"] is None, "chat: idle again after", h)
    t = w.stats()["tasks"][-1]
    check(t["kind"] == "chat" and t["status"] == "done" and
          t["n_messages"] == 2 and t["first_message"] == "be brief" and
          t["last_message"] == "hello there" and t["session_id"] == "s1" and
          len(t["body_sha256"]) == 64 and t["end"] > t["start"],
          "chat: task record", t)
    t0 = time.monotonic()
    st, out = w.jreq("POST", "/chat", {"messages": []},
                     headers={"X-Fake-Task-Ms": "300"})
    el = time.monotonic() - t0
    check(st == 200 and 0.3 <= el < 1.0, "chat: X-Fake-Task-Ms header", el)
    t0 = time.monotonic()
    st, out = w.jreq("POST", "/chat", {"messages": []})
    el = time.monotonic() - t0
    check(st == 200 and 0.1 <= el < 0.6, "chat: --chat-ms default", el)
    st, out = w.jreq("POST", "/chat", "{not json")
    check(st == 422, "chat: bad JSON is 422", st)


def test_sse(w):
    body = {"messages": [{"role": "user", "content": "x"}],
            "streaming": True, "_chunks": 5, "_interval_ms": 200}
    pieces = raw_http(w.port, sse_request("/chat", body))
    raw = b"".join(d for _, d in pieces)
    head, _, rest = raw.partition(b"\r\n\r\n")
    check(b"Transfer-Encoding: chunked" in head and
          b"Content-Type: text/event-stream" in head,
          "sse: chunked text/event-stream", head)
    events = [l[6:] for l in dechunk(rest).decode().split("\n\n")
              if l.startswith("data: ")]
    check(len(events) == 7 and events[-1] == "[DONE]" and
          json.loads(events[0])["type"] == "chunk" and
          json.loads(events[-2])["type"] == "done",
          "sse: 5 chunks + done + [DONE]", events)
    times = data_arrivals(pieces)
    check(len(times) == 7 and times[0] < 0.2 and times[-1] >= 0.75,
          "sse: first event long before the last (flushed)", times)
    body2 = {"messages": [], "_chunks": 2, "_interval_ms": 10}
    pieces = raw_http(w.port, sse_request(
        "/chat", body2, extra="Accept: text/event-stream\r\n"))
    raw = b"".join(d for _, d in pieces)
    check(b"text/event-stream" in raw and raw.count(b"data:") == 4,
          "sse: chosen by Accept header too")
    pieces = raw_http(w.port, sse_request("/chat", body, "HTTP/1.0"))
    raw = b"".join(d for _, d in pieces)
    head, _, rest = raw.partition(b"\r\n\r\n")
    check(b"chunked" not in head and b"Connection: close" in head and
          rest.count(b"data:") == 7 and rest.endswith(b"data: [DONE]\n\n"),
          "sse: HTTP/1.0 gets a close-delimited body", head)
    times = data_arrivals(pieces)
    check(times and times[0] < 0.2 and times[-1] >= 0.75,
          "sse: HTTP/1.0 stream flushed too", times)


def test_stream(w):
    pieces = raw_http(w.port, b"GET /stream?chunks=4&interval_ms=200 "
                      b"HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    raw = b"".join(d for _, d in pieces)
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = dechunk(rest).decode().splitlines()
    check(b"Transfer-Encoding: chunked" in head and len(lines) == 4 and
          lines[0].startswith("chunk 0 "), "stream: 4 chunked lines", lines)
    times = [t for t, d in pieces for _ in range(d.count(b"chunk "))]
    check(len(times) == 4 and times[0] < 0.2 and times[-1] >= 0.55,
          "stream: each chunk flushed", times)


def test_ws_duplex(w):
    w.reset()
    rc, ev, err = run_cli(
        w.url("/ws/duplex?session_id=sess1"),
        "--send", '{"type":"prepare","system_prompt":"hi there"}',
        "--send", '{"type":"audio_chunk","audio_base64":"AAAA"}',
        "--send", '{"type":"stop"}', "--send-wait", "--expect-close")
    kinds = [e.get("type") or e["event"] for e in ev]
    check(rc == 0 and kinds == ["handshake", "prepared", "result",
                                "stopped", "close"],
          "ws duplex (cli): prepare/result/stop sequence", (rc, kinds, err))
    check(ev[0].get("status") == 101 and ev[1]["data"]["session_id"] ==
          "sess1" and ev[1]["data"]["prompt_length"] == 2 and
          ev[2]["data"]["text"] == "heard chunk 0" and
          ev[-1]["code"] == 1000, "ws duplex (cli): fields", ev)
    s = w.stats()
    check(s["served"] == 1 and s["running"] == 0 and
          s["tasks"][-1]["kind"] == "duplex" and
          s["tasks"][-1]["session_id"] == "sess1" and
          s["tasks"][-1]["close_code"] == 1000, "ws duplex: task recorded",
          s["tasks"])

    c = wsc.WSClient.connect(w.url("/ws/duplex?session_id=sess2"))
    c.send_json({"type": "prepare", "_tag": 7})
    m = c.recv_json(5)
    check(m["type"] == "prepared" and m["_tag"] == 7,
          "ws duplex: _tag echoed")
    h = w.health()
    check(h["worker_status"] == "duplex_active" and
          h["current_session_id"] == "sess2",
          "ws duplex: health duplex_active while open", h)
    c.send_json({"type": "pause"})
    check(c.recv_json(5)["type"] == "paused", "ws duplex: pause->paused")
    check(w.health()["worker_status"] == "duplex_paused",
          "ws duplex: health duplex_paused")
    c.send_json({"type": "audio_chunk", "audio_base64": "AA"})
    check(c.recv_json(5) == {"type": "error", "error": "Worker is paused"},
          "ws duplex: audio while paused is an error")
    c.send_json({"type": "resume"})
    check(c.recv_json(5)["type"] == "resumed" and
          w.health()["worker_status"] == "duplex_active",
          "ws duplex: resume->resumed")
    c.send_json({"type": "frobnicate"})
    check(c.recv_json(5) == {"type": "error",
                             "error": "Unknown message type: frobnicate"},
          "ws duplex: unknown type error")
    c.send_text("not json")
    check(c.recv_json(5)["type"] == "error", "ws duplex: bad JSON error")
    time.sleep(0.3)     # deliberately: nothing may end it meanwhile
    check(w.stats()["running"] == 1, "ws duplex: session stays a task")
    seen = c.close(1000)
    check(seen and seen[-1].kind == "close" and seen[-1].code == 1000,
          "ws duplex: client close echoed", seen)
    until(lambda: w.health()["worker_status"] == "idle")
    h = w.health()
    check(h["worker_status"] == "idle", "ws duplex: idle after close", h)


def test_ws_half_duplex(w):
    c = wsc.WSClient.connect(w.url("/ws/half_duplex?session_id=hd1"))
    c.send_json({"type": "prepare", "system_content": []})
    m = c.recv_json(5)
    check(m["type"] == "prepared" and m["session_id"] == "hd1" and
          m["timeout_s"] == 300, "ws half_duplex: prepared", m)
    check(w.health()["worker_status"] == "busy_half_duplex",
          "ws half_duplex: health busy_half_duplex")
    c.send_json({"type": "audio_chunk", "audio_base64": "AA"})
    m = c.recv_json(5)
    check(m["type"] == "chunk" and m["chunk_index"] == 0,
          "ws half_duplex: audio_chunk->chunk", m)
    c.send_json({"type": "stop"})
    m = c.recv_json(5)
    e = c.recv(5)
    check(m["type"] == "stopped" and e.kind == "close" and e.code == 1000,
          "ws half_duplex: stop->stopped, close 1000", (m, e))
    c.shutdown()


def test_ws_chat(w):
    c = wsc.WSClient.connect(w.url("/ws/chat"))
    c.send_json({"messages": [{"role": "user", "content": "one two"}],
                 "_chunks": 3, "_interval_ms": 10})
    msgs = []
    while True:
        m = c.recv(5)
        if m is None or m.kind == "close":
            break
        msgs.append(json.loads(m.data))
    types = [m["type"] for m in msgs]
    check(types == ["prefill_done", "chunk", "chunk", "chunk", "done"] and
          m is not None and m.code == 1000, "ws chat: sequence", types)
    check(msgs[-1]["text"] == "tok0 tok1 tok2 " and
          msgs[-1]["n_messages"] == 1 and
          msgs[-1]["worker_port"] == w.port, "ws chat: done", msgs[-1])
    c.shutdown()
    c = wsc.WSClient.connect(w.url("/ws/chat"))
    c.send_json({"messages": [], "streaming": False, "_chunks": 2,
                 "_interval_ms": 1})
    a = c.recv_json(5)
    b = c.recv_json(5)
    check(a["type"] == "prefill_done" and b["type"] == "done" and
          "audio_data" in b, "ws chat: non-streaming single done", b)
    c.shutdown()


def test_ws_protocol(w):
    c = wsc.WSClient.connect(w.url("/ws/duplex?session_id=p"))
    msg = json.dumps({"type": "prepare"}).encode()
    c.send_raw(wsc.encode_frame(wsc.OP_TEXT, msg[:5], fin=False, mask=True))
    c.send_raw(wsc.encode_frame(wsc.OP_PING, b"pp", mask=True))
    c.send_raw(wsc.encode_frame(wsc.OP_CONT, msg[5:9], fin=False, mask=True))
    c.send_raw(wsc.encode_frame(wsc.OP_CONT, msg[9:], fin=True, mask=True))
    m = c.recv_json(5)
    check(m["type"] == "prepared" and c.pongs_received == 1,
          "ws: fragmented message with an interleaved ping", m)
    big = json.dumps({"type": "audio_chunk", "audio_base64": "A" * 70000})
    c.send_text(big)
    check(c.recv_json(5)["type"] == "result", "ws: 64-bit length frame")
    mid = json.dumps({"type": "audio_chunk", "audio_base64": "A" * 300})
    c.send_text(mid)
    check(c.recv_json(5)["type"] == "result", "ws: 16-bit length frame")
    c.send_binary(b"\x00\x01")
    check(c.recv_json(5)["error"] == "Binary frames are not supported",
          "ws: binary frame answered with an error")
    c.send_raw(wsc.encode_frame(wsc.OP_TEXT, b"{}", mask=False))
    m = c.recv(5)
    check(m is not None and m.kind == "close" and m.code == 1002,
          "ws: unmasked client frame -> close 1002", m)
    c.shutdown()
    until(lambda: w.stats()["running"] == 0)
    s = w.stats()
    check(s["running"] == 0 and s["tasks"][-1]["status"] ==
          "protocol_error", "ws: protocol error ends the task",
          s["tasks"][-1])
    # plain GET on a WS path, and a handshake without a key
    st, b = w.jreq("GET", "/ws/duplex")
    check(st == 400, "ws: plain GET on a WS path is 400")
    st, h, b = w.req("GET", "/ws/chat", headers={"Upgrade": "websocket",
                                                  "Connection": "Upgrade"})
    check(st == 400, "ws: handshake without key is 400")


def test_max_concurrent(w):
    w.reset()
    out = []

    def go():
        out.append(w.jreq("POST", "/chat", {"messages": [],
                                            "_task_ms": 600}))
    ths = [threading.Thread(target=go) for _ in range(2)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    s = w.stats()
    check(len(out) == 2 and all(o[0] == 200 for o in out) and
          s["max_concurrent"] == 2 and s["overlaps"] == 1 and
          s["served"] == 2 and s["finished"] == 2 and s["running"] == 0,
          "max_concurrent: two overlapping /chat -> 2", s)
    check(sorted(t["concurrent_at_start"] for t in s["tasks"]) == [1, 2],
          "max_concurrent: concurrent_at_start per task")
    a, b = sorted(s["tasks"], key=lambda t: t["accepted"])
    check(a["closed"] is not None and a["closed"] > b["accepted"],
          "accepted/closed: the two intervals overlap", (a, b))
    w.reset()
    for _ in range(2):
        w.jreq("POST", "/chat", {"messages": [], "_task_ms": 50})
    s = w.stats()
    check(s["max_concurrent"] == 1 and s["served"] == 2 and
          len(s["tasks"]) == 2, "max_concurrent: sequential -> 1", s)
    a, b = s["tasks"]
    check(a["accepted"] <= a["closed"] <= b["accepted"] <= b["closed"] and
          a["closed_by"] == b["closed_by"] == "task ended" and
          a["closed"] - a["accepted"] >= 0.05,
          "accepted/closed: sequential intervals, closed as answered",
          (a, b))
    st, s0 = w.reset(knobs=False)
    s = w.stats()
    check(s["served"] == 0 and s["max_concurrent"] == 0 and
          s["tasks"] == [] and s["health_checks"] == 0,
          "reset: counters back to zero", s)


def test_knobs(w):
    w.reset()
    w.control(worker_status="loading")
    check(w.health()["worker_status"] == "loading", "knob worker_status")
    w.control(worker_status="idle")
    res = {}
    th = threading.Thread(target=lambda: res.setdefault(
        "r", w.jreq("POST", "/chat", {"messages": [], "_task_ms": 400})))
    th.start()
    until(lambda: w.stats()["running"] == 1)
    check(w.health()["worker_status"] == "idle" and
          w.stats()["running"] == 1,
          "knob worker_status: forced idle while a task runs")
    th.join()
    w.control(worker_status=None)

    w.control(health_http_status=500)
    st, _, _ = w.req("GET", "/health")
    check(st == 500, "knob health_http_status")
    w.control(health_http_status=200, health_delay_ms=400)
    t0 = time.monotonic()
    w.health()
    check(time.monotonic() - t0 >= 0.4, "knob health_delay_ms")
    w.control(health_delay_ms=0, health_hang=True)
    try:
        w.req("GET", "/health", timeout=0.5)
        check(False, "knob health_hang")
    except socket.timeout:
        check(True, "knob health_hang")
    w.control(health_hang=False)
    check(w.health()["worker_status"] == "idle", "health_hang released")
    w.control(health_body="not json")
    st, h, b = w.req("GET", "/health")
    check(st == 200 and b == b"not json", "knob health_body")
    w.control(health_body=None, health_extra={"status": "initializing"},
              health_drop=["worker_status"])
    h = w.health()
    check(h["status"] == "initializing" and "worker_status" not in h,
          "knobs health_extra / health_drop", h)
    w.control(health_extra={}, health_drop=[])

    w.control(chat_http_status=429)
    st, b = w.jreq("POST", "/chat", {"messages": []})
    check(st == 429 and b["detail"].startswith("Worker busy"),
          "knob chat_http_status 429", b)
    w.control(chat_http_status=500, chat_detail="boom")
    st, b = w.jreq("POST", "/chat", {"messages": []})
    check(st == 500 and b == {"detail": "boom"}, "knob chat_detail", b)
    w.control(chat_http_status=200, chat_detail=None)
    st, b = w.jreq("POST", "/chat", {"messages": []},
                   headers={"X-Fake-Status": "503"})
    check(st == 503 and "detail" in b, "X-Fake-Status per request")
    w.control(chat_ms=0)
    t0 = time.monotonic()
    w.jreq("POST", "/chat", {"messages": []})
    check(time.monotonic() - t0 < 0.1, "knob chat_ms")
    w.control(chunks=2, interval_ms=10)
    pieces = raw_http(w.port, sse_request("/chat", {"streaming": True}))
    check(b"".join(d for _, d in pieces).count(b"data:") == 4,
          "knobs chunks / interval_ms")

    w.control(ws_reject_next=2)
    r1 = run_cli(w.url("/ws/duplex?session_id=r"), "--timeout", "5")
    r2 = run_cli(w.url("/ws/duplex?session_id=r"), "--timeout", "5")
    r3 = run_cli(w.url("/ws/duplex?session_id=r"),
                 "--send", '{"type":"prepare"}', "--send-wait")
    check(r1[0] == 0 and r1[1][0]["event"] == "handshake" and
          r1[1][0]["status"] == 403 and r1[1][0]["body"] == "" and
          r2[1][0]["status"] == 403 and r3[1][0]["status"] == 101 and
          r3[1][1]["type"] == "prepared",
          "knob ws_reject_next: 403, 403, then 101", (r1, r2, r3))
    check(w.stats()["ws_rejected"] == 2, "stats ws_rejected")
    w.control(ws_reject_next=1, ws_reject_path="/ws/chat",
              ws_reject_status=503)
    r = run_cli(w.url("/ws/duplex?session_id=r"))
    check(r[1][0]["status"] == 101, "knob ws_reject_path spares others")
    r = run_cli(w.url("/ws/chat"))
    check(r[1][0]["status"] == 503, "knob ws_reject_status")
    w.control(ws_reject_path=None)

    w.control(big_frame_bytes=(1 << 20) + 1000)
    c = wsc.WSClient.connect(w.url("/ws/chat"))
    c.send_json({"messages": [], "_chunks": 0})
    c.recv_json(5)
    m = c.recv(5)
    check(m.kind == "text" and m.size >= (1 << 20) + 1000 and
          json.loads(m.data)["type"] == "done",
          "knob big_frame_bytes: done frame > 1 MiB", m.size)
    c.shutdown()
    w.control(big_frame_bytes=0)
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=b"),
                        "--send", '{"type":"audio_chunk",'
                        '"_big_frame":1100000}', "--send-wait")
    check(ev[1]["size"] >= 1100000 and ev[1].get("truncated") and
          ev[1]["type"] == "result", "per-message _big_frame", ev[1])

    w.control(frame_delay_ms=200)
    c = wsc.WSClient.connect(w.url("/ws/duplex?session_id=d"))
    t0 = time.monotonic()
    c.send_json({"type": "prepare"})
    c.recv_json(5)
    check(time.monotonic() - t0 >= 0.2, "knob frame_delay_ms")
    c.close()
    w.control(frame_delay_ms=0, session_timeout_ms=300)
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=t"),
                        "--send", '{"type":"prepare"}', "--expect-close")
    check([e.get("type") or e["event"] for e in ev] ==
          ["handshake", "prepared", "timeout", "close"],
          "knob session_timeout_ms", ev)
    w.control(session_timeout_ms=0)

    w.control(reject_when_busy=True, busy_wait_ms=0)
    th = threading.Thread(target=lambda: w.jreq(
        "POST", "/chat", {"messages": [], "_task_ms": 600}))
    th.start()
    check(until(lambda: w.stats()["running"] == 1),
          "knob reject_when_busy: a task runs")
    st, b = w.jreq("POST", "/chat", {"messages": []})
    check(st == 429 and "busy_chat" in b["detail"],
          "knob reject_when_busy: /chat 429", b)
    r = run_cli(w.url("/ws/duplex?session_id=x"))
    check(r[1][0]["status"] == 403, "knob reject_when_busy: duplex 403")
    rc, ev, _ = run_cli(w.url("/ws/chat"), "--send", '{"messages":[]}',
                        "--expect-close")
    check(ev[1]["data"] == {"type": "error", "error": "Worker busy"},
          "knob reject_when_busy: /ws/chat error", ev)
    th.join()
    w.control(busy_wait_ms=1000)
    th = threading.Thread(target=lambda: w.jreq(
        "POST", "/chat", {"messages": [], "_task_ms": 300}))
    th.start()
    check(until(lambda: w.stats()["running"] == 1),
          "knob busy_wait_ms: a task runs")
    st, b = w.jreq("POST", "/chat", {"messages": []})
    check(st == 200, "knob busy_wait_ms: waits for idle")
    th.join()
    check(w.stats()["busy_rejected"] == 3 and
          w.stats()["max_concurrent"] == 1, "stats busy_rejected")
    w.control(reject_when_busy=False, busy_wait_ms=0)

    w.control(drop_next=1)
    try:
        w.req("POST", "/chat", {"messages": []})
        check(False, "knob drop_next")
    except (http.client.RemoteDisconnected, ConnectionResetError):
        check(True, "knob drop_next")
    check(w.req("GET", "/health")[0] == 200, "drop_next only once")

    w.control(extra_headers={"X-Test": "1"})
    st, h, _ = w.req("GET", "/health")
    check(h.get("x-test") == "1", "knob extra_headers")

    st, b = w.jreq("POST", "/_fake/control", {"nope": 1})
    check(st == 400 and "unknown knob" in b["detail"], "unknown knob 400")
    st, b = w.jreq("POST", "/_fake/control", {"chat_ms": "x"})
    check(st == 400, "wrong knob type 400")
    st, b = w.jreq("POST", "/_fake/control", {"health_hang": 1})
    check(st == 400, "int for a bool knob 400")
    st, b = w.jreq("GET", "/_fake/control")
    check(st == 200 and b["knobs"]["extra_headers"] == {"X-Test": "1"},
          "GET /_fake/control lists knobs")
    w.reset(knobs=True)
    k = w.jreq("GET", "/_fake/control")[1]["knobs"]
    check(k["extra_headers"] == {} and k["chat_ms"] == 100,
          "reset with knobs restores the CLI defaults", k)


def test_http(w):
    w.reset()
    c = http.client.HTTPConnection("127.0.0.1", w.port, timeout=5)
    for _ in range(3):
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
    c.request("POST", "/chat", body=json.dumps({"messages": [],
                                                "_task_ms": 1}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    ok = r.status == 200 and json.loads(r.read())["n_messages"] == 0
    c.close()
    s = w.stats()
    # the /_fake/stats request itself is the 2nd connection, 5th request
    check(ok and s["connections"] == 2 and s["requests"] == 5,
          "http: keep-alive reuses one connection",
          (s["connections"], s["requests"]))
    raw = b"".join(d for _, d in raw_http(
        w.port, b"GET /health HTTP/1.0\r\n\r\n"))
    check(raw.startswith(b"HTTP/1.1 200") and b"Connection: close" in raw,
          "http: HTTP/1.0 request gets Connection: close and EOF")
    raw = b"".join(d for _, d in raw_http(
        w.port, b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"GET /health HTTP/1.0\r\n\r\n"))
    check(raw.count(b"HTTP/1.1 200") == 2 and
          b"Connection: keep-alive" in raw,
          "http: HTTP/1.0 keep-alive then close")
    body = json.dumps({"messages": [{"role": "user", "content": "c"}],
                       "_task_ms": 1}).encode()
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7]),
                                          body[i:i + 7])
                       for i in range(0, len(body), 7)) + b"0\r\n\r\n"
    raw = b"".join(d for _, d in raw_http(
        w.port, b"POST /chat HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
        b"chunked\r\nConnection: close\r\n\r\n" + chunked))
    check(b"200 OK" in raw and b'"n_messages":1' in raw,
          "http: chunked request body")
    s = socket.create_connection(("127.0.0.1", w.port), timeout=5)
    s.sendall(b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
              b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
              % len(body))
    first = s.recv(100)
    s.sendall(body)
    rest = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    s.close()
    check(first.startswith(b"HTTP/1.1 100 Continue") and b"200 OK" in
          first + rest, "http: Expect 100-continue")
    one = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
    raw = b"".join(d for _, d in raw_http(
        w.port, one + one + b"GET /health HTTP/1.1\r\nHost: x\r\n"
        b"Connection: close\r\n\r\n"))
    check(raw.count(b"HTTP/1.1 200") == 3, "http: pipelined requests")
    raw = b"".join(d for _, d in raw_http(w.port, b"BROKEN\r\n\r\n"))
    check(raw.startswith(b"HTTP/1.1 400"), "http: bad request line 400")
    # many connections at once
    errs = []

    def many():
        try:
            for _ in range(10):
                w.req("GET", "/health")
        except Exception as e:  # noqa
            errs.append(e)
    ths = [threading.Thread(target=many) for _ in range(30)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    check(not errs, "http: 300 health checks from 30 threads", errs[:3])


def test_client_abort(w):
    w.reset()
    s = socket.create_connection(("127.0.0.1", w.port))
    b = json.dumps({"messages": [], "_task_ms": 3000}).encode()
    s.sendall(b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
              % len(b) + b)
    check(until(lambda: w.stats()["running"] == 1),
          "client abort: the task runs")
    s.close()
    until(lambda: w.stats()["running"] == 0)
    st = w.stats()
    check(st["running"] == 0 and st["tasks"][-1]["status"] == "aborted",
          "client abort ends the /chat task early", st["tasks"])
    t = st["tasks"][-1]
    check(t["closed_by"] in ("seen closed by its thread",
                             "seen closed by the accept loop") and
          t["closed"] < t["accepted"] + 3.0,
          "client abort: the close booked as seen", t)
    # a close the task's thread has not seen yet is booked before the next
    # connection's accept: a long task, closed, and at once a new task
    w.reset()
    bad = []
    for i in range(20):
        s1 = socket.create_connection(("127.0.0.1", w.port))
        s1.sendall(b"POST /chat HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: %d\r\n\r\n" % len(b) + b)
        if not until(lambda: w.stats()["running"] == 1):
            bad.append("round %d: the long task did not run" % i)
        s1.close()
        w.jreq("POST", "/chat", {"messages": [], "_task_ms": 1})
    ts = sorted(w.stats()["tasks"], key=lambda t: t["accepted"])
    bad += [(x["id"], x["closed"], x["closed_by"], y["id"], y["accepted"])
            for x, y in zip(ts, ts[1:])
            if x["closed"] is None or x["closed"] > y["accepted"]]
    check(len(ts) == 40 and not bad, "client abort then a new task at once: "
          "each close booked before the next accept (by: %s)"
          % sorted(set(x["closed_by"] for x in ts)), bad)
    c = wsc.WSClient.connect(w.url("/ws/duplex?session_id=ab"))
    c.send_json({"type": "prepare"})
    c.recv_json(5)
    c.abort()
    until(lambda: w.stats()["running"] == 0)
    st = w.stats()
    check(st["running"] == 0 and st["tasks"][-1]["close_code"] == 1006,
          "client TCP drop ends the WS task (1006)", st["tasks"][-1])


def test_refuse(w):
    st, b = w.jreq("POST", "/_fake/refuse", {"ms": 700})
    check(st == 200 and b["listener_closed"], "refuse: listener closed")
    try:
        socket.create_connection(("127.0.0.1", w.port), timeout=1).close()
        check(False, "refuse: connection refused")
    except ConnectionRefusedError:
        check(True, "refuse: connection refused")
    def back():
        try:
            socket.create_connection(("127.0.0.1", w.port),
                                     timeout=1).close()
            return True
        except OSError:
            return False
    until(back, timeout=3)
    check(w.health()["status"] == "healthy", "refuse: back after ms")


def test_fake_only_ws(w):
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=c"),
                        "--send", '{"type":"_close","code":1011,'
                        '"reason":"bye"}', "--expect-close")
    check(ev[-1] == {"event": "close", "code": 1011, "reason": "bye"},
          "ws _close: worker-initiated close code", ev)
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=c"),
                        "--send", '{"type":"_drop"}', "--expect-close")
    check(rc == 0 and ev[-1]["code"] == 1006 and ev[-1]["abnormal"],
          "ws _drop: abnormal closure reported", ev)


def test_cli_misc(w):
    rc, ev, _ = run_cli(w.url("/nope"))
    check(rc == 0 and ev[0]["status"] == 404 and
          json.loads(ev[0]["body"]) == {"detail": "Not Found"},
          "cli: refused handshake prints status and body", ev)
    rc, ev, _ = run_cli("ws://127.0.0.1:%d/ws/chat" % free_port())
    check(rc == 1 and ev[0]["event"] == "error", "cli: connect error rc 1")
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=h"),
                        "--header", "X-Foo: bar", "--send",
                        '{"type":"prepare"}', "--hold-ms", "300")
    t = w.stats()["tasks"][-1]
    check(rc == 0 and t["headers"].get("x-foo") == "bar" and
          t["duration_ms"] >= 290 and ev[1]["type"] == "prepared" and
          ev[-1]["event"] == "close", "cli: --header, --hold-ms", (ev, t))
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=h"),
                        "--send", '{"type":"prepare"}', "--send-wait",
                        "--abort")
    check(rc == 0 and ev[-1] == {"event": "aborted"}, "cli: --abort")
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=h"),
                        "--send-binary", "AAE=", "--send-wait")
    check(ev[1]["data"]["error"] == "Binary frames are not supported",
          "cli: --send-binary")
    rc, ev, _ = run_cli(w.url("/ws/chat"), "--send", '{"messages":[]}',
                        "--send-wait")
    kinds = [e.get("type") or e["event"] for e in ev]
    check(rc == 0 and kinds == ["handshake", "prefill_done"] +
          ["chunk"] * 5 + ["done", "close"],
          "cli: messages after --send-wait are still printed", kinds)
    w.control(frame_delay_ms=1500)
    rc, ev, _ = run_cli(w.url("/ws/duplex?session_id=h"), "--send",
                        '{"type":"prepare"}', "--send-wait",
                        "--timeout", "0.3")
    check(rc == 3 and ev[-1]["event"] == "timeout", "cli: timeout rc 3")
    w.control(frame_delay_ms=0)


class TLSRelay(object):
    """A TLS terminator in front of a plain port, to test wss://."""

    def __init__(self, target_port, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.target = target_port
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(s,),
                             daemon=True).start()

    def conn(self, s):
        try:
            t = self.ctx.wrap_socket(s, server_side=True)
        except (ssl.SSLError, OSError):
            s.close()
            return
        u = socket.create_connection(("127.0.0.1", self.target))

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for x in (a, b):
                try:
                    x.close()
                except OSError:
                    pass
        threading.Thread(target=pump, args=(u, t), daemon=True).start()
        pump(t, u)


def test_wss(w):
    if not shutil.which("openssl"):
        print("ok - wss # SKIP no openssl")
        return
    cert = os.path.join(TMP, "c.pem")
    key = os.path.join(TMP, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                    "-subj", "/CN=localhost"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    relay = TLSRelay(w.port, cert, key)
    url = "wss://127.0.0.1:%d/ws/duplex?session_id=tls" % relay.port
    rc, ev, _ = run_cli(url, "--insecure", "--send", '{"type":"prepare"}',
                        "--send-wait")
    check(rc == 0 and ev[0]["status"] == 101 and
          ev[1]["data"]["session_id"] == "tls" and
          ev[-1]["event"] == "close", "wss --insecure", ev)
    rc, ev, _ = run_cli(url)
    check(rc == 1 and "CERTIFICATE_VERIFY_FAILED" in ev[0]["error"],
          "wss verifies certificates without --insecure", ev)


def test_crash():
    w = Worker("--chat-ms", "50")
    w.control(crash_after_ms=350)
    body = {"streaming": True, "_chunks": 5, "_interval_ms": 200}
    pieces = raw_http(w.port, sse_request("/chat", body))
    raw = b"".join(d for _, d in pieces)
    n = raw.count(b"data:")
    check(1 <= n < 5 and b"[DONE]" not in raw,
          "crash_after_ms: stream cut mid-way", n)
    try:
        rc = w.proc.wait(3)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 1, "crash_after_ms: process exited with 1", rc)
    check(os.path.exists(w.pidfile), "crash leaves its pid file (like a "
          "real death)")

    w = Worker()
    c = wsc.WSClient.connect(w.url("/ws/duplex?session_id=z"))
    c.send_json({"type": "prepare"})
    c.recv_json(5)
    st, b = w.jreq("POST", "/_fake/crash", {"rst": True})
    check(st == 200 and b["crashing"] and b["pid"] == w.pid,
          "/_fake/crash answers first")
    m = c.recv(5)
    check(m is not None and m.kind == "close" and m.code == 1006,
          "/_fake/crash drops the open WS session (1006)", m)
    c.shutdown()
    try:
        rc = w.proc.wait(3)
    except subprocess.TimeoutExpired:
        rc = None
    check(rc == 1, "/_fake/crash: process gone", rc)
    try:
        socket.create_connection(("127.0.0.1", w.port), timeout=1).close()
        check(False, "crashed worker refuses connections")
    except ConnectionRefusedError:
        check(True, "crashed worker refuses connections")


def test_sigterm_and_portfile():
    pf = os.path.join(TMP, "port0")
    pid = os.path.join(TMP, "p0.pid")
    p = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--portfile",
                          pf, "--pidfile", pid, "--status", "loading"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    PROCS.append(p)
    deadline = time.monotonic() + 5
    while not os.path.exists(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    port = int(open(pf).read())
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/health")
    h = json.loads(c.getresponse().read())
    c.close()
    check(h["worker_status"] == "loading", "--port 0/--portfile, --status")
    ws = wsc.WSClient.connect("ws://127.0.0.1:%d/ws/duplex?session_id=q"
                              % port)
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(3)
    except subprocess.TimeoutExpired:
        rc = None
    out = p.stdout.read()
    check(rc == 0 and not os.path.exists(pid) and not os.path.exists(pf),
          "SIGTERM: exit 0, pid file removed, with a session open", rc)
    check(out == b"", "nothing printed on stdout", out)
    ws.abort()


NGINX_CONF = """
daemon off;
master_process off;
worker_processes 1;
error_log %(dir)s/error.log info;
pid %(dir)s/nginx.pid;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %(dir)s/cbt; proxy_temp_path %(dir)s/pt;
  fastcgi_temp_path %(dir)s/ft; uwsgi_temp_path %(dir)s/ut;
  scgi_temp_path %(dir)s/st;
  upstream w { server 127.0.0.1:%(wport)d; keepalive 4; }
  server {
    listen 127.0.0.1:%(port)d;
    location /h10/ { proxy_pass http://127.0.0.1:%(wport)d/;
                     proxy_buffering off; }
    location /h11/ { proxy_pass http://w/; proxy_http_version 1.1;
                     proxy_set_header Connection ""; proxy_buffering off; }
    location /ws/ { proxy_pass http://127.0.0.1:%(wport)d;
                    proxy_http_version 1.1;
                    proxy_set_header Upgrade $http_upgrade;
                    proxy_set_header Connection "upgrade"; }
  }
}
"""


def test_behind_nginx(w):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if not nginx:
        print("ok - behind nginx # SKIP no nginx")
        return
    d = os.path.join(TMP, "nginx")
    os.makedirs(d)
    port = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"dir": d, "port": port, "wport": w.port})
    p = subprocess.Popen([nginx, "-p", d, "-c", os.path.join(d, "nginx.conf")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    PROCS.append(p)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if p.poll() is not None:
                break
            time.sleep(0.05)
    if p.poll() is not None:
        check(False, "nginx started", p.stderr.read())
        return
    w.reset()
    try:
        for prefix in ("/h10", "/h11"):
            for _ in range(3):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("POST", prefix + "/chat",
                          body=json.dumps({"messages": [{"role": "user",
                                                         "content": "n"}],
                                           "_task_ms": 1}))
                r = c.getresponse()
                b = json.loads(r.read())
                c.close()
                check(r.status == 200 and b["worker_port"] == w.port,
                      "nginx %s: /chat" % prefix)
        s = w.stats()
        ver = [t["headers"].get("connection") for t in s["tasks"]]
        check(ver[:3] == ["close"] * 3 and s["connections"] <= 5,
              "nginx: HTTP/1.0 close then 1.1 keepalive upstream", (ver, s))
        for prefix in ("/h10", "/h11"):
            body = {"streaming": True, "_chunks": 4, "_interval_ms": 200}
            pieces = raw_http(port, sse_request(prefix + "/chat", body))
            times = data_arrivals(pieces)
            check(len(times) == 6 and times[0] < 0.2 and times[-1] >= 0.55,
                  "nginx %s: SSE arrives event by event" % prefix, times)
        rc, ev, _ = run_cli("ws://127.0.0.1:%d/ws/duplex?session_id=n"
                            % port, "--send", '{"type":"prepare"}',
                            "--send", '{"type":"audio_chunk",'
                            '"_big_frame":1200000}', "--send",
                            '{"type":"stop"}', "--send-wait",
                            "--expect-close")
        kinds = [e.get("type") or e["event"] for e in ev]
        check(rc == 0 and kinds == ["handshake", "prepared", "result",
                                    "stopped", "close"] and
              ev[2]["size"] >= 1200000, "nginx: WS duplex relayed", kinds)
        check(w.stats()["max_concurrent"] == 1, "nginx: one task at a time")
        err = open(os.path.join(d, "error.log")).read()
        bad = [l for l in err.splitlines() if "[error]" in l or
               "[alert]" in l or "[crit]" in l]
        check(not bad, "nginx: no error in its log", bad[:3])
    finally:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()


def main():
    t0 = time.monotonic()
    w = None
    try:
        test_codec()
        w = Worker()
        for t in (test_health_idle, test_chat, test_sse, test_stream,
                  test_ws_duplex, test_ws_half_duplex, test_ws_chat,
                  test_ws_protocol, test_max_concurrent, test_knobs,
                  test_http, test_client_abort, test_fake_only_ws,
                  test_cli_misc, test_refuse, test_wss, test_behind_nginx):
            try:
                w.reset(knobs=True)
                t(w)
            except Exception:
                check(False, t.__name__, traceback.format_exc())
        w.stop()
        check(w.proc.returncode == 0, "main worker stopped cleanly")
        for t in (test_crash, test_sigterm_and_portfile):
            try:
                t()
            except Exception:
                check(False, t.__name__, traceback.format_exc())
    finally:
        stop_all()
        if RESULTS["fail"] and w is not None and os.path.exists(w.log):
            print("# last lines of the fake's log (%s):" % w.log)
            for line in open(w.log).read().splitlines()[-15:]:
                print("#   " + line)
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    return summary(t0)


if __name__ == "__main__":
    sys.exit(main())
