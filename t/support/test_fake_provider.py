#!/usr/bin/env python3
# t/support/test_fake_provider.py -- the self-test of the fake cloud
# provider (fake_provider.py). Run: python3 t/support/test_fake_provider.py
#
# Starts fake providers on free ports, drives every route and knob over
# http.client and raw sockets, and checks the answers' wire shapes and
# usage, keep-alive, the --record lines, the command-line defaults, --tls
# and SIGTERM. Not part of the suite. Prints one "ok"/"not ok" line per
# check, exits 1 if any failed. Every process it starts is stopped by its
# pid at the end.

import base64
import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from selftest import (FakeProcess, check,  # noqa: E402
                      free_port, stop_all, summary, until)
FAKE = os.path.join(HERE, "fake_provider.py")
TMP = tempfile.mkdtemp(prefix="fake_provider_test.")
KEY = "sk-FAKE-selftest-0123456789"
PATTERN = bytes(range(256)) * 64                 # 16 KiB of the fake audio


# ---------------------------------------------------------------------------
# harness

class Fake(FakeProcess):
    script = FAKE
    key = KEY
    tmp = TMP

    def last(self):
        s = self.seen()
        return s[-1] if s else {}

    def settled(self, n):
        """Record n once its end has been booked."""
        def get():
            for r in self.seen():
                if r["n"] == n and r.get("outcome") is not None:
                    return r
            return None
        return until(get)

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=timeout)

    def req(self, method, path, body=None, headers=None, auth=True,
            conn=None, timeout=10):
        """(status, headers with lower-case names, body bytes)."""
        c = conn or self.conn(timeout)
        h = {}
        if auth:
            h["Authorization"] = "Bearer " + KEY
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def jreq(self, method, path, body=None, headers=None, **kw):
        st, h, data = self.req(method, path, body, headers, **kw)
        try:
            return st, h, json.loads(data)
        except ValueError:
            return st, h, data


def raw(port, data, timeout=10, tls=False):
    """Sends raw bytes, returns [(seconds since send, bytes)] until EOF."""
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


def raw_post(path, body, headers=(), version="HTTP/1.1", close=True):
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    h = ["POST %s %s" % (path, version), "Host: fake",
         "Authorization: Bearer " + KEY,
         "Content-Type: application/json",
         "Content-Length: %d" % len(body)]
    if close:
        h.append("Connection: close")
    h += list(headers)
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def split_response(data):
    """(status, headers, body as sent) of one raw answer."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, body


def dechunk(body):
    """(data, complete): the data of a chunked body, and whether its last
    chunk came."""
    out = b""
    while True:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return out, False
        n = int(line, 16)
        if n == 0:
            return out, True
        if len(rest) < n + 2:
            return out + rest[:n], False
        out += rest[:n]
        body = rest[n + 2:]


def chunk_sizes(body):
    sizes = []
    while True:
        line, sep, rest = body.partition(b"\r\n")
        if not sep:
            return sizes
        n = int(line, 16)
        sizes.append(n)
        if n == 0:
            return sizes
        body = rest[n + 2:]


def sse(data):
    """[{"event":..., "data":...}] of an SSE body (LF or CRLF)."""
    text = data.decode("utf-8").replace("\r\n", "\n")
    events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        ev = {"event": None, "data": ""}
        for line in block.split("\n"):
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            if k == "event":
                ev["event"] = v
            elif k == "data":
                ev["data"] += v
        events.append(ev)
    return events


def sse_json(data):
    return [json.loads(e["data"]) for e in sse(data) if e["data"] != "[DONE]"]


def wav(seconds, rate=16000, channels=1, bits=16, extensible=False,
        junk=False, data_size=None, fmt_tag=1):
    align = channels * bits // 8
    n = int(round(seconds * rate)) * align
    data = (b"\x01\x02" * (n // 2 + 1))[:n]
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else fmt_tag,
                      channels, rate, rate * align, align, bits)
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, 3) + struct.pack("<H", 1) + \
            b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if junk:
        chunks += b"LIST" + struct.pack("<I", 5) + b"abcde\x00"
    chunks += b"data" + struct.pack("<I", n if data_size is None
                                    else data_size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def multipart(parts):
    """parts: (name, value bytes) or (name, value, filename, ctype)."""
    b = b"----fakeSelfTest7MA4YWxkTrZu0gW"
    out = b""
    for p in parts:
        out += b"--" + b + b"\r\n"
        if len(p) == 2:
            out += (b'Content-Disposition: form-data; name="%s"\r\n\r\n'
                    % p[0].encode()) + p[1] + b"\r\n"
        else:
            out += (b'Content-Disposition: form-data; name="%s"; '
                    b'filename="%s"\r\nContent-Type: %s\r\n\r\n'
                    % (p[0].encode(), p[2].encode(), p[3].encode())) + \
                p[1] + b"\r\n"
    out += b"--" + b + b"--\r\n"
    return out, "multipart/form-data; boundary=" + b.decode()


CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user",
                                              "content": "hi"}]}


# ---------------------------------------------------------------------------
# tests

def test_health_and_keys(f):
    for hdrs, name, scheme in (
            ({"Authorization": "Bearer " + KEY}, "authorization", "Bearer"),
            ({"Authorization": "Token " + KEY}, "authorization", "Token"),
            ({"Authorization": KEY}, "authorization", ""),
            ({"x-api-key": KEY}, "x-api-key", ""),
            ({"xi-api-key": KEY}, "xi-api-key", ""),
            ({"x-goog-api-key": KEY}, "x-goog-api-key", "")):
        st, h, j = f.jreq("GET", "/v1/models", headers=hdrs, auth=False)
        s = f.last()
        check(st == 200 and j == {"ok": True, "models": []} and
              s.get("key_header") == name and s.get("key_scheme") == scheme,
              "key in %s %s: 200, recorded" % (name, scheme or "(raw)"),
              (st, j, s.get("key_header"), s.get("key_scheme")))
    st, h, j = f.jreq("GET", "/v1/models",
                      headers={"Authorization": "Bearer sk-WRONG"},
                      auth=False)
    check(st == 401 and j == {"error": "invalid credentials"} and
          f.last().get("key_header") is None, "wrong key: 401 JSON",
          (st, j))
    st, h, j = f.jreq("GET", "/v1/models", auth=False)
    check(st == 401, "no key: 401")
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      headers={"x-api-key": "nope"}, auth=False)
    check(st == 401 and h.get("content-type") == "application/json",
          "POST without the key: 401 JSON")
    st, h, j = f.jreq("GET", "/proxy/v1/models?x=1")
    s = f.last()
    check(st == 200 and s["path"] == "/proxy/v1/models?x=1" and
          s["method"] == "GET" and s["route"] == "health",
          "any GET is a health check; the path keeps its query")
    st, h, data = f.req("HEAD", "/v1/voices")
    check(st == 200 and data == b"" and h.get("content-length") == "23",
          "HEAD: the health headers, no body", (st, h))


def test_record(f):
    c = f.conn()
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      headers={"X-Custom": "v"}, conn=c)
    port = c.sock.getsockname()[1]
    c.close()
    s = f.settled(f.last()["n"])
    check(s["client_port"] == port, "record: client_port is the client's "
          "source port", (s["client_port"], port))
    check(s["method"] == "POST" and s["path"] == "/v1/chat/completions" and
          s["headers"].get("x-custom") == "v" and
          s["headers"].get("authorization") == "Bearer " + KEY and
          all(k == k.lower() for k in s["headers"]),
          "record: method, path, lower-case headers")
    check(s["body_bytes"] == len(json.dumps(CHAT)) and
          json.loads(s["body"]) == CHAT, "record: JSON body as a string")
    check(s["status"] == 200 and s["route"] == "openai.chat" and
          s["arrived"] <= s["first_byte"] <= s["end"] and
          s["outcome"] == "complete" and s["version"] == "HTTP/1.1",
          "record: status, route, arrived <= first_byte <= end",
          {k: s.get(k) for k in ("status", "arrived", "first_byte", "end",
                                 "outcome")})
    w = wav(0.5)
    st, h, data = f.req("POST", "/v1/listen?model=nova-3", w,
                        {"Content-Type": "audio/wav",
                         "Authorization": "Token " + KEY}, auth=False)
    s = f.last()
    check(s["body_bytes"] == len(w) and s["body"] is None,
          "record: audio body counted, not recorded")
    big = json.dumps(dict(CHAT, pad="x" * 70000))
    f.req("POST", "/v1/chat/completions", big,
          {"Content-Type": "application/json"})
    s = f.last()
    check(s["body_bytes"] == len(big) and s["body"] is None,
          "record: a body of 64 KiB or more is not recorded")
    mp, ctype = multipart([("model", b"whisper-1"),
                           ("file", w, "a.wav", "audio/wav")])
    f.req("POST", "/v1/audio/transcriptions", mp, {"Content-Type": ctype})
    s = f.last()
    check(s.get("form", {}).get("model") == "whisper-1" and
          s["form"].get("file", {}).get("bytes") == len(w) and
          s["form"]["file"].get("filename") == "a.wav",
          "record: multipart form summarised", s.get("form"))
    st, h, j = f.jreq("POST", "/nowhere", {"a": 1})
    s = f.settled(f.last()["n"])
    check(st == 404 and isinstance(j.get("error"), dict) and
          s["status"] == 404 and s["route"] is None,
          "unknown POST: 404 JSON, recorded", (st, j))


def test_keepalive(f):
    c = f.conn()
    n0 = len(f.seen())
    got = []
    got.append(f.req("GET", "/v1/models", conn=c))
    got.append(f.req("POST", "/v1/chat/completions", CHAT, conn=c))
    got.append(f.req("POST", "/v1/chat/completions",
                     dict(CHAT, stream=True), conn=c))
    got.append(f.req("POST", "/v1/audio/speech",
                     {"model": "tts-1", "input": "hi", "voice": "x"},
                     conn=c))
    got.append(f.req("POST", "/nowhere", {"a": 1}, conn=c))
    port = c.sock.getsockname()[1]
    c.close()
    recs = f.seen()[n0:]
    check(len(recs) == 5 and all(r["client_port"] == port for r in recs) and
          len({r["conn"] for r in recs}) == 1 and
          [r["conn_req"] for r in recs] == [1, 2, 3, 4, 5],
          "keep-alive: 5 answers on one connection (one client port)",
          [(r["client_port"], r["conn"], r["conn_req"]) for r in recs])
    check(all("content-length" in h for st, h, d in
              (got[0], got[1], got[4])) and
          got[2][1].get("transfer-encoding") == "chunked" and
          got[3][1].get("transfer-encoding") == "chunked",
          "Content-Length on whole answers, chunked on streams")
    # many connections at once: one client port each
    n0 = len(f.seen())
    ports, lock = [], threading.Lock()

    def one():
        c = f.conn()
        f.req("POST", "/v1/chat/completions", dict(CHAT, stream=True),
              conn=c)
        with lock:
            ports.append(c.sock.getsockname()[1])
        c.close()

    ths = [threading.Thread(target=one) for _ in range(20)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    recs = f.seen()[n0:]
    check(len(recs) == 20 and
          sorted(r["client_port"] for r in recs) == sorted(ports) and
          len({r["conn"] for r in recs}) == 20,
          "20 parallel connections: 20 distinct client ports recorded")
    # HTTP/1.0: the stream ends at the close, not chunked
    out = raw(f.port, raw_post("/v1/chat/completions",
                               dict(CHAT, stream=True), version="HTTP/1.0",
                               close=False))
    st, h, body = split_response(b"".join(d for _, d in out))
    ev = sse(body)
    check(st == 200 and "transfer-encoding" not in h and
          h.get("connection") == "close" and ev[-1]["data"] == "[DONE]",
          "HTTP/1.0: stream not chunked, ended by the close", h)
    # HTTP/1.0 with keep-alive, a whole answer
    s = socket.create_connection(("127.0.0.1", f.port), timeout=5)
    s.sendall(raw_post("/v1/chat/completions", CHAT, version="HTTP/1.0",
                       close=False, headers=["Connection: keep-alive"]))
    time.sleep(0.3)
    data = s.recv(65536)
    s.sendall(b"GET /v1/models HTTP/1.0\r\nConnection: keep-alive\r\n"
              b"x-api-key: " + KEY.encode() + b"\r\n\r\n")
    time.sleep(0.3)
    data2 = s.recv(65536)
    s.close()
    check(b"Connection: keep-alive" in data and data2.startswith(
        b"HTTP/1.1 200"), "HTTP/1.0 keep-alive: a second request answered")
    # chunked request body
    body = json.dumps(CHAT).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
           b"Authorization: Bearer " + KEY.encode() +
           b"\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
           b"%x\r\n" % 10 + body[:10] + b"\r\n" +
           b"%x\r\n" % (len(body) - 10) + body[10:] + b"\r\n0\r\n\r\n")
    out = raw(f.port, req)
    st, h, b2 = split_response(b"".join(d for _, d in out))
    s = f.last()
    check(st == 200 and s["body_bytes"] == len(body) and
          json.loads(s["body"]) == CHAT, "chunked request body read")
    # Expect: 100-continue
    out = raw(f.port, raw_post("/v1/chat/completions", CHAT,
                               headers=["Expect: 100-continue"]))
    data = b"".join(d for _, d in out)
    check(data.startswith(b"HTTP/1.1 100") and b"HTTP/1.1 200" in data,
          "Expect: 100-continue answered")


def test_chat(f):
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT)
    u = j.get("usage", {})
    check(st == 200 and j["object"] == "chat.completion" and
          j["model"] == "gpt-4o-mini" and
          j["choices"][0]["message"]["content"] == "tok0 tok1 tok2 " and
          u.get("prompt_tokens") == 13 and u.get("completion_tokens") == 3 and
          u.get("total_tokens") == 16 and
          u["prompt_tokens_details"]["cached_tokens"] == 0 and
          h.get("x-request-id"), "chat: usage 13/3/16, cached 0", j)
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT, {
        "X-Fake-Prompt-Tokens": "1000", "X-Fake-Completion-Tokens": "250",
        "X-Fake-Cached-Tokens": "400"})
    u = j["usage"]
    check(u["prompt_tokens"] == 1000 and u["completion_tokens"] == 250 and
          u["total_tokens"] == 1250 and
          u["prompt_tokens_details"]["cached_tokens"] == 400,
          "chat: token knobs", u)

    st, h, data = f.req("POST", "/v1/chat/completions",
                        dict(CHAT, stream=True))
    ev = sse(data)
    js = [json.loads(e["data"]) for e in ev[:-1]]
    check(st == 200 and h["content-type"].startswith("text/event-stream")
          and len(ev) == 6 and ev[-1]["data"] == "[DONE]" and
          js[0]["choices"][0]["delta"].get("role") == "assistant" and
          [x["choices"][0]["delta"].get("content") for x in js[1:4]] ==
          ["tok0 ", "tok1 ", "tok2 "] and
          js[4]["choices"][0]["finish_reason"] == "stop" and
          all("usage" in x and x["usage"] is None for x in js),
          "chat stream: role, 3 contents, finish, [DONE]; usage null "
          "everywhere", [e["data"][:60] for e in ev])
    for opts in ({"include_usage": False}, {}):
        st, h, data = f.req("POST", "/v1/chat/completions",
                            dict(CHAT, stream=True, stream_options=opts))
        check(all(x["usage"] is None for x in sse_json(data)),
              "chat stream, stream_options %r: no usage chunk" % opts)
    st, h, data = f.req("POST", "/v1/chat/completions",
                        dict(CHAT, stream=True,
                             stream_options={"include_usage": True}),
                        {"X-Fake-Events": "5"})
    ev = sse(data)
    last = json.loads(ev[-2]["data"])
    check(len(ev) == 9 and ev[-1]["data"] == "[DONE]" and
          last["choices"] == [] and last["usage"]["completion_tokens"] == 5
          and last["usage"]["prompt_tokens"] == 13 and
          all(json.loads(e["data"])["usage"] is None for e in ev[:-2]),
          "chat stream with include_usage, 5 events: usage-only chunk "
          "before [DONE], completion 5", last)
    for body, name in ((dict(CHAT, stream_options={"include_usage": True}),
                        "no stream"),
                       (dict(CHAT, stream=False,
                             stream_options={"include_usage": True}),
                        "stream false")):
        st, h, j = f.jreq("POST", "/v1/chat/completions", body)
        check(st == 400 and j["error"]["param"] == "stream_options" and
              "only allowed when 'stream' is enabled" in
              j["error"]["message"], "stream_options with %s: 400" % name)
    st, h, j = f.jreq("POST", "/v1/chat/completions", {"messages": []})
    check(st == 400 and j["error"]["param"] == "model", "no model: 400")
    st, h, j = f.jreq("POST", "/v1/chat/completions", "{not json",
                      {"Content-Type": "application/json"})
    check(st == 400 and "error" in j, "broken JSON: 400")

    # Groq
    st, h, j = f.jreq("POST", "/openai/v1/chat/completions",
                      dict(CHAT, model="llama-3.3-70b-versatile"))
    check(st == 200 and j["usage"]["total_tokens"] == 16 and
          "queue_time" in j["usage"] and j["x_groq"]["id"],
          "groq chat: usage with timings, x_groq.id", j.get("usage"))
    st, h, data = f.req("POST", "/openai/v1/chat/completions",
                        dict(CHAT, stream=True))
    js = sse_json(data)
    check(f.last()["route"] == "groq.chat" and
          js[0]["x_groq"].get("id") and "usage" not in js[0]["x_groq"] and
          js[-1]["choices"][0]["finish_reason"] == "stop" and
          js[-1]["x_groq"]["usage"]["completion_tokens"] == 3 and
          js[-1]["usage"] is None,
          "groq stream without include_usage: final chunk has "
          "x_groq.usage", js[-1])
    st, h, data = f.req("POST", "/openai/v1/chat/completions",
                        dict(CHAT, stream=True,
                             stream_options={"include_usage": True}))
    js = sse_json(data)
    check(js[-1]["choices"] == [] and js[-1]["usage"]["total_tokens"] == 16
          and js[-2]["x_groq"]["usage"]["total_tokens"] == 16,
          "groq stream with include_usage: both usages")
    st, h, j = f.jreq("POST", "/proxy/v1/chat/completions", CHAT)
    check(st == 200 and f.last()["route"] == "openai.chat",
          "a base_url path prefix is allowed")


def test_responses(f):
    body = {"model": "gpt-5.4", "input": "hi"}
    st, h, j = f.jreq("POST", "/v1/responses", body,
                      {"X-Fake-Cached-Tokens": "5"})
    check(st == 200 and j["object"] == "response" and
          j["usage"]["input_tokens"] == 13 and
          j["usage"]["output_tokens"] == 3 and
          j["usage"]["total_tokens"] == 16 and
          j["usage"]["input_tokens_details"]["cached_tokens"] == 5,
          "responses: usage", j.get("usage"))
    st, h, data = f.req("POST", "/v1/responses", dict(body, stream=True))
    ev = sse(data)
    names = [e["event"] for e in ev]
    js = [json.loads(e["data"]) for e in ev]
    check(names[0] == "response.created" and
          names[-1] == "response.completed" and
          names.count("response.output_text.delta") == 3 and
          all(e["event"] == j["type"] for e, j in zip(ev, js)) and
          [j["sequence_number"] for j in js] == list(range(len(js))),
          "responses stream: named events, created ... completed", names)
    check(js[0]["response"]["usage"] is None and
          js[-1]["response"]["usage"]["total_tokens"] == 16 and
          js[-1]["response"]["output"][0]["content"][0]["text"] ==
          "tok0 tok1 tok2 ", "responses stream: usage only on completed")


def test_anthropic(f):
    body = {"model": "claude-haiku-4-5", "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}]}
    knobs = {"X-Fake-Prompt-Tokens": "25", "X-Fake-Completion-Tokens": "120",
             "X-Fake-Cached-Tokens": "2048",
             "X-Fake-Cache-Write-Tokens": "7"}
    st, h, j = f.jreq("POST", "/v1/messages", body, dict(
        knobs, **{"x-api-key": KEY}), auth=False)
    u = j.get("usage", {})
    check(st == 200 and j["type"] == "message" and
          j["content"][0]["text"] == "tok0 tok1 tok2 " and
          u.get("input_tokens") == 25 and u.get("output_tokens") == 120 and
          u.get("cache_read_input_tokens") == 2048 and
          u.get("cache_creation_input_tokens") == 7 and
          h.get("request-id"), "anthropic: usage with cache counts", u)
    st, h, data = f.req("POST", "/v1/messages", dict(body, stream=True),
                        dict(knobs, **{"X-Fake-Events": "4"}))
    ev = sse(data)
    names = [e["event"] for e in ev]
    js = [json.loads(e["data"]) for e in ev]
    check(names == ["message_start", "ping", "content_block_start"] +
          ["content_block_delta"] * 4 +
          ["content_block_stop", "message_delta", "message_stop"] and
          all(e["event"] == j["type"] for e, j in zip(ev, js)),
          "anthropic stream: event order", names)
    mu = js[0]["message"]["usage"]
    check(mu["input_tokens"] == 25 and mu["output_tokens"] == 1 and
          mu["cache_read_input_tokens"] == 2048 and
          mu["cache_creation_input_tokens"] == 7 and
          js[-2]["usage"] == {"output_tokens": 120} and
          b"data: [DONE]" not in data,
          "anthropic stream: placeholder output 1, then cumulative 120",
          (mu, js[-2].get("usage")))
    st, h, data = f.req("POST", "/v1/messages", dict(body, stream=True),
                        dict(knobs, **{"X-Fake-Delta-Usage": "full"}))
    du = sse_json(data)[-2]["usage"]
    check(du == {"input_tokens": 25, "cache_creation_input_tokens": 7,
                 "cache_read_input_tokens": 2048, "output_tokens": 120},
          "anthropic stream, X-Fake-Delta-Usage full", du)
    st, h, j = f.jreq("POST", "/v1/messages", {"messages": []})
    check(st == 400 and j.get("type") == "error", "anthropic: no model: 400")


def test_gemini(f):
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}]}
    st, h, j = f.jreq("POST", path, body, {"x-goog-api-key": KEY,
                                           "X-Fake-Thoughts-Tokens": "9",
                                           "X-Fake-Cached-Tokens": "4"},
                      auth=False)
    u = j.get("usageMetadata", {})
    check(st == 200 and u.get("promptTokenCount") == 13 and
          u.get("candidatesTokenCount") == 3 and
          u.get("thoughtsTokenCount") == 9 and
          u.get("cachedContentTokenCount") == 4 and
          u.get("totalTokenCount") == 25 and
          j["modelVersion"] == "gemini-2.5-flash",
          "gemini: usageMetadata", u)
    spath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    st, h, data = f.req("POST", spath, body, {"X-Fake-Events": "4",
                                              "X-Fake-Completion-Tokens":
                                              "10"})
    js = sse_json(data)
    usages = [x.get("usageMetadata") for x in js]
    check(st == 200 and b"\r\n\r\n" in data and len(js) == 5 and
          [u["candidatesTokenCount"] for u in usages[:4]] == [2, 5, 7, 10]
          and all(u["promptTokenCount"] == 13 for u in usages[:4]) and
          usages[4] is None and
          js[4]["candidates"][0]["finishReason"] == "STOP",
          "gemini stream: running totals, then a chunk with none", usages)
    st, h, data = f.req("POST", spath.replace("?alt=sse", ""), body)
    arr = json.loads(data)
    check(st == 200 and isinstance(arr, list) and len(arr) == 4 and
          arr[2]["usageMetadata"]["candidatesTokenCount"] == 3,
          "gemini stream without alt=sse: a JSON array")


def test_deepgram(f):
    auth = {"Authorization": "Token " + KEY}

    def listen(body, query="model=nova-3", ctype="audio/wav", extra=None):
        h = dict(auth, **{"Content-Type": ctype})
        h.update(extra or {})
        return f.jreq("POST", "/v1/listen?" + query, body, h, auth=False)

    st, h, j = listen(wav(2.5))
    m = j.get("metadata", {})
    check(st == 200 and m.get("duration") == 2.5 and m.get("channels") == 1
          and h.get("dg-request-id") and
          j["results"]["channels"][0]["alternatives"][0]["transcript"] ==
          "tok0 tok1 tok2", "deepgram: 2.5 s mono WAV", m)
    st, h, j = listen(wav(1.0, rate=8000, channels=2),
                      "model=nova-3&multichannel=true")
    check(j["metadata"]["duration"] == 1.0 and
          j["metadata"]["channels"] == 2 and
          len(j["results"]["channels"]) == 2,
          "deepgram: stereo with multichannel=true: 2 channels",
          j["metadata"])
    st, h, j = listen(wav(1.0, channels=2))
    check(j["metadata"]["channels"] == 1 and
          j["metadata"]["duration"] == 1.0,
          "deepgram: stereo without multichannel: 1 channel")
    st, h, j = listen(wav(3.0, extensible=True, junk=True, bits=24))
    check(j["metadata"]["duration"] == 3.0,
          "deepgram: extensible fmt, a LIST chunk before data",
          j["metadata"])
    st, h, j = listen(wav(0.75, data_size=0xFFFFFFFF))
    check(j["metadata"]["duration"] == 0.75,
          "deepgram: streamed WAV (size 0xFFFFFFFF) clamped", j["metadata"])
    st, h, j = listen(b"\xff\xfb" + b"\x00" * 500, ctype="audio/mpeg",
                      extra={"X-Fake-Duration": "7.25"})
    check(j["metadata"]["duration"] == 7.25, "deepgram: mp3 body, "
          "X-Fake-Duration", j["metadata"])
    st, h, j = listen(wav(2.0, fmt_tag=2), extra={"X-Fake-Duration": "4"})
    check(j["metadata"]["duration"] == 4.0,
          "deepgram: compressed WAV: X-Fake-Duration")
    st, h, j = listen(b"OggS" + b"\x00" * 100, ctype="audio/ogg")
    check(j["metadata"]["duration"] == 1.5, "deepgram: default 1.5 s")
    st, h, j = listen(json.dumps({"url": "https://x/a.wav"}),
                      ctype="application/json")
    check(st == 200 and j["metadata"]["duration"] == 1.5,
          "deepgram: URL body: 1.5 s")
    text = "h\u00e9llo \U0001F44B"
    st, h, data = f.req("POST", "/v1/speak?model=aura-2-thalia-en",
                        {"text": text}, auth, auth=False)
    check(st == 200 and h.get("dg-char-count") == "7" and
          h.get("content-type") == "audio/mpeg" and data == PATTERN and
          h.get("transfer-encoding") == "chunked" and
          h.get("dg-model-name") == "aura-2-thalia-en",
          "deepgram speak: audio, dg-char-count in code points (7)",
          (h, len(data)))


def test_transcription(f):
    w = wav(2.5)

    def post(path, parts, extra=None):
        body, ctype = multipart(parts)
        h = {"Content-Type": ctype}
        h.update(extra or {})
        return f.jreq("POST", path, body, h)

    st, h, j = post("/v1/audio/transcriptions",
                    [("file", w, "a.wav", "audio/wav"),
                     ("model", b"whisper-1")])
    check(st == 200 and j == {"text": "tok0 tok1 tok2", "usage": {
        "type": "duration", "seconds": 3}},
        "whisper-1 json: usage duration 3 s (ceil 2.5); model after file",
        j)
    st, h, j = post("/v1/audio/transcriptions",
                    [("model", b"whisper-1"),
                     ("response_format", b"verbose_json"),
                     ("file", w, "a.wav", "audio/wav")])
    check(st == 200 and j.get("duration") == 2.5 and
          j.get("usage") == {"type": "duration", "seconds": 3},
          "whisper-1 verbose_json: duration 2.5 and usage", j)
    mp, ctype = multipart([("model", b"whisper-1"),
                           ("response_format", b"text"),
                           ("file", w, "a.wav", "audio/wav")])
    st, h, data = f.req("POST", "/v1/audio/transcriptions", mp,
                        {"Content-Type": ctype})
    check(st == 200 and data == b"tok0 tok1 tok2\n" and
          h["content-type"].startswith("text/plain"),
          "response_format text: plain text, no usage", data)
    st, h, j = post("/v1/audio/transcriptions",
                    [("model", b"gpt-4o-mini-transcribe"),
                     ("file", b"ID3" + b"\x00" * 300, "a.mp3",
                      "audio/mpeg")],
                    {"X-Fake-Prompt-Tokens": "14",
                     "X-Fake-Completion-Tokens": "101"})
    check(st == 200 and j["usage"]["type"] == "tokens" and
          j["usage"]["input_tokens"] == 14 and
          j["usage"]["output_tokens"] == 101 and
          j["usage"]["total_tokens"] == 115,
          "gpt-4o-mini-transcribe: usage tokens", j)
    st, h, j = post("/v1/audio/transcriptions",
                    [("model", b"gpt-4o-transcribe"),
                     ("response_format", b"verbose_json"),
                     ("file", w, "a.wav", "audio/wav")])
    check(st == 400, "gpt-4o-transcribe verbose_json: 400")
    mp, ctype = multipart([("model", b"gpt-4o-transcribe"),
                           ("stream", b"true"),
                           ("file", w, "a.wav", "audio/wav")])
    st, h, data = f.req("POST", "/v1/audio/transcriptions", mp,
                        {"Content-Type": ctype})
    js = sse_json(data)
    check(js[-1]["type"] == "transcript.text.done" and
          js[-1]["usage"]["type"] == "tokens" and
          [x["type"] for x in js[:-1]] == ["transcript.text.delta"] * 3,
          "gpt-4o-transcribe stream: deltas, done with usage")
    st, h, j = post("/openai/v1/audio/transcriptions",
                    [("model", b"whisper-large-v3-turbo"),
                     ("file", wav(11.2), "a.wav", "audio/wav")])
    check(st == 200 and j["usage"] == {"type": "duration", "seconds": 12}
          and j["x_groq"]["id"] and f.last()["route"] ==
          "groq.transcription", "groq whisper-large-v3-turbo: 12 s", j)
    st, h, j = post("/v1/audio/transcriptions", [("model", b"whisper-1")])
    check(st == 400 and j["error"]["param"] == "file", "no file: 400")
    st, h, j = post("/v1/audio/transcriptions",
                    [("file", w, "a.wav", "audio/wav")])
    check(st == 400 and j["error"]["param"] == "model", "no model: 400")


def test_speech(f):
    body = {"model": "tts-1", "input": "hello", "voice": "alloy"}
    st, h, data = f.req("POST", "/v1/audio/speech", body)
    check(st == 200 and h.get("content-type") == "audio/mpeg" and
          h.get("transfer-encoding") == "chunked" and data == PATTERN,
          "openai speech: 16 KiB of the pattern, chunked audio/mpeg")
    out = raw(f.port, raw_post("/v1/audio/speech", body,
                               ["X-Fake-Events: 4",
                                "X-Fake-Audio-Bytes: 1000"]))
    st, hd, b = split_response(b"".join(d for _, d in out))
    check(chunk_sizes(b) == [250, 250, 250, 250, 0],
          "speech: X-Fake-Events 4, X-Fake-Audio-Bytes 1000: 4 chunks",
          chunk_sizes(b))
    st, h, data = f.req("POST", "/v1/audio/speech",
                        dict(body, model="gpt-4o-mini-tts",
                             stream_format="sse"))
    js = sse_json(data)
    audio = b"".join(base64.b64decode(x["audio"]) for x in js[:-1])
    check(audio == PATTERN and js[-1]["type"] == "speech.audio.done" and
          js[-1]["usage"]["total_tokens"] == 16,
          "speech sse: deltas then done with usage")
    st, h, j = f.jreq("POST", "/openai/v1/audio/speech",
                      {"model": "playai-tts", "voice": "x"})
    check(st == 400, "groq speech without input: 400")


def test_elevenlabs(f):
    xi = {"xi-api-key": KEY}
    text = "Gr\u00fc\u00df dich \u2014 ok"
    for path in ("/v1/text-to-speech/voice123",
                 "/v1/text-to-speech/voice123/stream?output_format="
                 "mp3_44100_128"):
        st, h, data = f.req("POST", path, {"text": text,
                                           "model_id": "eleven_flash_v2_5"},
                            xi, auth=False)
        check(st == 200 and h.get("character-cost") == str(len(text)) and
              h.get("request-id") and data == PATTERN and
              h.get("content-type") == "audio/mpeg",
              "elevenlabs %s: character-cost %d" % (path.split("?")[0],
                                                    len(text)), h)
    st, h, data = f.req("POST", "/v1/text-to-speech/v", {"text": "abcd"},
                        dict(xi, **{"X-Fake-Character-Cost": "2"}),
                        auth=False)
    check(h.get("character-cost") == "2", "X-Fake-Character-Cost")


def test_cartesia(f):
    body = {"model_id": "sonic-3", "transcript": "hello there",
            "voice": {"mode": "id", "id": "v"},
            "output_format": {"container": "wav", "encoding": "pcm_s16le",
                              "sample_rate": 16000}}
    st, h, j = f.jreq("POST", "/tts/bytes", body)
    check(st == 400, "cartesia tts without Cartesia-Version: 400")
    st, h, data = f.req("POST", "/tts/bytes", body,
                        {"Cartesia-Version": "2026-08-14"})
    check(st == 200 and data == PATTERN and
          h.get("content-type") == "audio/wav", "cartesia tts: audio")
    mp, ctype = multipart([("model", b"ink-whisper"),
                           ("file", wav(4.0), "a.wav", "audio/wav")])
    st, h, j = f.jreq("POST", "/stt", mp, {"Content-Type": ctype,
                                           "Cartesia-Version": "2026-08-14"})
    check(st == 200 and j.get("type") == "transcript" and
          j.get("duration") == 4.0 and j.get("text"),
          "cartesia stt multipart: duration 4.0", j)
    st, h, j = f.jreq("POST", "/stt", wav(1.25),
                      {"Content-Type": "audio/wav",
                       "Cartesia-Version": "2026-08-14",
                       "X-Api-Key": KEY}, auth=False)
    check(st == 200 and j.get("duration") == 1.25,
          "cartesia stt raw body: duration 1.25", j)


def test_assemblyai(f):
    a = {"Authorization": KEY}
    st, h, j = f.jreq("POST", "/v2/transcript",
                      {"audio_url": "https://x/a.wav"}, a, auth=False)
    check(st == 200 and j["id"] == "t1" and j["status"] == "queued" and
          j["audio_duration"] is None, "assemblyai submit: t1 queued", j)
    st, h, j = f.jreq("GET", "/v2/transcript/t1", None, a, auth=False)
    check(st == 200 and j["status"] == "completed" and
          j["audio_duration"] == 12 and j["id"] == "t1",
          "assemblyai get: completed, 12 s", j)
    st, h, j = f.jreq("GET", "/v2/transcript/t1", None,
                      dict(a, **{"X-Fake-Duration": "30"}), auth=False)
    check(j["audio_duration"] == 30, "assemblyai get: X-Fake-Duration 30")
    st, h, j = f.jreq("POST", "/v2/transcript", {"audio_url": "u"},
                      dict(a, **{"X-Fake-Duration": "45.4"}), auth=False)
    tid = j["id"]
    st, h, j = f.jreq("GET", "/v2/transcript/" + tid, None, a, auth=False)
    check(tid == "t2" and j["audio_duration"] == 45,
          "assemblyai: the duration given at submit", j)
    st, h, j = f.jreq("GET", "/v2/transcript/t9", None,
                      dict(a, **{"X-Fake-Transcript-Status": "processing"}),
                      auth=False)
    check(j["status"] == "processing" and j["audio_duration"] is None,
          "assemblyai: X-Fake-Transcript-Status processing")
    st, h, j = f.jreq("GET", "/v2/transcript?limit=1", None, a, auth=False)
    check(st == 200 and j == {"ok": True, "models": []},
          "assemblyai health path: health answer")


def test_knobs(f):
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      {"X-Fake-Status": "500"})
    check(st == 500 and j["error"]["code"] == 500 and
          h.get("content-length"), "X-Fake-Status 500: JSON error")
    st, h, j = f.jreq("POST", "/v1/messages", CHAT,
                      {"X-Fake-Status": "429"})
    check(st == 429 and h.get("retry-after") == "1", "X-Fake-Status 429")
    st, h, j = f.jreq("GET", "/v1/models", None,
                      {"X-Fake-Status": "503"})
    check(st == 503, "X-Fake-Status on a health check")
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      {"X-Fake-Redirect": "http://127.0.0.1:1/elsewhere"})
    check(st == 302 and h.get("location") == "http://127.0.0.1:1/elsewhere",
          "X-Fake-Redirect: 302 with Location")
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      {"X-Fake-Events": "many"})
    check(st == 400 and j["error"]["type"] == "fake_knob_error",
          "a broken knob: 400", j)

    # gzip
    st, h, data = f.req("POST", "/v1/chat/completions", CHAT,
                        {"X-Fake-Gzip": "1", "Accept-Encoding": "gzip"})
    check(h.get("content-encoding") == "gzip" and
          json.loads(gzip.decompress(data))["usage"]["total_tokens"] == 16,
          "X-Fake-Gzip with gzip offered: gzipped JSON")
    st, h, data = f.req("POST", "/v1/chat/completions", CHAT,
                        {"X-Fake-Gzip": "1", "Accept-Encoding": "identity"})
    check("content-encoding" not in h and json.loads(data)["usage"],
          "X-Fake-Gzip with identity: plain")
    st, h, data = f.req("POST", "/v1/chat/completions", CHAT,
                        {"X-Fake-Gzip": "1", "Accept-Encoding": "gzip;q=0"})
    check("content-encoding" not in h, "X-Fake-Gzip with gzip;q=0: plain")
    st, h, data = f.req("POST", "/v1/messages",
                        dict(CHAT, stream=True),
                        {"X-Fake-Gzip": "1",
                         "Accept-Encoding": "br, gzip, deflate"})
    names = [e["event"] for e in sse(gzip.decompress(data))]
    check(h.get("content-encoding") == "gzip" and data[:2] == b"\x1f\x8b"
          and names[-1] == "message_stop",
          "X-Fake-Gzip on a stream: gzipped SSE", names)

    # delay between events
    out = raw(f.port, raw_post("/v1/chat/completions",
                               dict(CHAT, stream=True),
                               ["X-Fake-Delay-Ms: 150"]))
    times = []
    for t, d in out:
        times += [t] * d.count(b"data:")
    check(len(times) == 6 and times[-1] - times[0] >= 0.7 and
          times[1] - times[0] >= 0.12, "X-Fake-Delay-Ms 150: 5 gaps",
          ["%.3f" % t for t in times])
    t0 = time.monotonic()
    f.req("GET", "/v1/models", headers={"X-Fake-Hold-Ms": "300"})
    check(time.monotonic() - t0 >= 0.3, "X-Fake-Hold-Ms 300 holds")

    # close mid-stream
    out = raw(f.port, raw_post("/v1/chat/completions",
                               dict(CHAT, stream=True),
                               ["X-Fake-Close-Mid: 2"]))
    st, h, b = split_response(b"".join(d for _, d in out))
    data, complete = dechunk(b)
    ev = sse(data)
    check(st == 200 and len(ev) == 2 and not complete,
          "X-Fake-Close-Mid 2: two events, then the close", (len(ev),
                                                             complete))
    s = f.settled(f.last()["n"])
    check(s and s["outcome"] == "closed_mid", "record: outcome closed_mid")
    try:
        f.req("POST", "/v1/audio/speech",
              {"model": "tts-1", "input": "x", "voice": "v"},
              {"X-Fake-Close-Mid": "1"})
        check(False, "X-Fake-Close-Mid on audio: incomplete read")
    except http.client.IncompleteRead as e:
        check(len(e.partial) == 16384 // 3,
              "X-Fake-Close-Mid 1 on audio: one chunk, incomplete read",
              len(e.partial))
    st, h, data = f.req("POST", "/v1/chat/completions", CHAT,
                        {"X-Fake-Close-Mid": "1"})
    check(st == 200 and json.loads(data)["usage"],
          "X-Fake-Close-Mid on a whole answer: ignored")
    try:
        f.req("POST", "/v1/chat/completions", CHAT,
              {"X-Fake-Truncate": "20"})
        check(False, "X-Fake-Truncate: incomplete read")
    except http.client.IncompleteRead as e:
        check(len(e.partial) == 20, "X-Fake-Truncate 20: 20 bytes, close")
    s = f.settled(f.last()["n"])
    check(s and s["outcome"] == "truncated", "record: outcome truncated")

    # split
    req = raw_post("/v1/messages", dict(CHAT, stream=True),
                   ["X-Fake-Split: 1", "X-Api-Key: " + KEY])
    out = raw(f.port, req)
    whole = b"".join(d for _, d in out)
    st, h, b = split_response(whole)
    data, complete = dechunk(b)
    names = [e["event"] for e in sse(data)]
    check(st == 200 and complete and names[-1] == "message_stop" and
          len(out) > 50, "X-Fake-Split: the whole answer in %d reads"
          % len(out), names)
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      {"X-Fake-Split": "1"})
    check(st == 200 and j["usage"]["total_tokens"] == 16,
          "X-Fake-Split: http.client reads a split answer")

    # hang
    n0 = len(f.seen())
    c = f.conn(timeout=0.5)
    try:
        f.req("POST", "/v1/chat/completions", CHAT, {"X-Fake-Hang": "1"},
              conn=c)
        check(False, "X-Fake-Hang: no answer")
    except socket.timeout:
        check(True, "X-Fake-Hang: no answer")
    s = f.seen()[n0]
    check(s["first_byte"] is None and s["outcome"] is None,
          "X-Fake-Hang: recorded, no first byte", s)
    c.close()
    s = f.settled(s["n"])
    check(s and s["outcome"] == "peer_closed" and s["end"] and
          s["first_byte"] is None, "X-Fake-Hang: peer close booked")


def test_cli():
    f = Fake("--sse-events", "5", "--delay-ms", "60",
             "--prompt-tokens", "50", "--completion-tokens", "7",
             "--cached-tokens", "2", "--duration", "9")
    out = raw(f.port, raw_post("/v1/chat/completions",
                               dict(CHAT, stream=True,
                                    stream_options={"include_usage": True})))
    times = []
    for t, d in out:
        times += [t] * d.count(b"data:")
    st, h, b = split_response(b"".join(d for _, d in out))
    js = sse_json(dechunk(b)[0])
    check(len(js) == 8 and js[-1]["usage"]["prompt_tokens"] == 50 and
          js[-1]["usage"]["completion_tokens"] == 7 and
          js[-1]["usage"]["prompt_tokens_details"]["cached_tokens"] == 2 and
          times[-1] - times[0] >= 7 * 0.055,
          "--sse-events 5, --delay-ms 60, token defaults", len(js))
    st, h, j = f.jreq("POST", "/v1/listen", b"xx",
                      {"Content-Type": "audio/mpeg"})
    check(j["metadata"]["duration"] == 9.0, "--duration default")
    st, h, data = f.req("POST", "/v1/chat/completions",
                        dict(CHAT, stream=True), {"X-Fake-Events": "1",
                                                  "X-Fake-Delay-Ms": "0"})
    check(len(sse(data)) == 4, "headers override the defaults")
    check(f.stop() == 0, "SIGTERM: exit 0")

    # --delay holds every answer; the request is recorded before
    f = Fake("--delay", "1.0")
    res = {}

    def get():
        res["t0"] = time.monotonic()
        res["r"] = f.req("GET", "/v1/models")
        res["t1"] = time.monotonic()

    th = threading.Thread(target=get)
    th.start()
    check(until(lambda: len(f.seen()) == 1, 0.8) and "r" not in res,
          "--delay: recorded before the answer")
    th.join()
    check(res["r"][0] == 200 and res["t1"] - res["t0"] >= 0.95,
          "--delay 1.0: answered after a second")
    # a connection kept open at SIGTERM does not stop the exit
    s = socket.create_connection(("127.0.0.1", f.port))
    c = f.conn(timeout=5)
    c.request("POST", "/v1/chat/completions", json.dumps(CHAT),
              {"X-Fake-Hang": "1", "Authorization": "Bearer " + KEY})
    time.sleep(0.2)
    check(f.stop() == 0, "SIGTERM with open and hanging connections: exit 0")
    s.close()
    c.close()

    # --tls
    cert = os.path.join(TMP, "cert.pem")
    key = os.path.join(TMP, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if p.returncode != 0:
        print("# skipped: --tls (no openssl)")
        return
    f = Fake("--tls", cert, key)
    try:
        ctx = ssl.create_default_context()
        c = http.client.HTTPSConnection("127.0.0.1", f.port, timeout=5,
                                        context=ctx)
        c.request("GET", "/v1/voices", headers={"xi-api-key": KEY})
        c.getresponse().read()
        check(False, "--tls: an untrusted certificate is refused")
    except ssl.SSLError:
        check(len(f.seen()) == 0, "--tls: untrusted: no request recorded")
    ctx = ssl.create_default_context(cafile=cert)
    c = http.client.HTTPSConnection("127.0.0.1", f.port, timeout=5,
                                    context=ctx)
    st, h, j = f.jreq("GET", "/v1/voices", None, {"xi-api-key": KEY},
                      auth=False, conn=c)
    st2, h2, data = f.req("POST", "/v1/messages", dict(CHAT, stream=True),
                          conn=c)
    c.close()
    recs = f.seen()
    check(st == 200 and st2 == 200 and len(recs) == 2 and
          recs[0]["conn"] == recs[1]["conn"] and
          sse(data)[-1]["event"] == "message_stop",
          "--tls: health and a stream on one kept-alive https connection")
    st, h, j = f.jreq("POST", "/v1/chat/completions", CHAT,
                      {"X-Fake-Split": "1"}, conn=http.client.HTTPSConnection(
                          "127.0.0.1", f.port, timeout=10, context=ctx))
    check(st == 200 and j["usage"]["total_tokens"] == 16,
          "--tls with X-Fake-Split")
    check(f.stop() == 0, "--tls fake: SIGTERM exit 0")


def main():
    t0 = time.monotonic()
    f = None
    try:
        f = Fake()
        for t in (test_health_and_keys, test_record, test_keepalive,
                  test_chat, test_responses, test_anthropic, test_gemini,
                  test_deepgram, test_transcription, test_speech,
                  test_elevenlabs, test_cartesia, test_assemblyai,
                  test_knobs):
            try:
                t(f)
            except Exception:
                check(False, t.__name__, traceback.format_exc())
        check(f.stop() == 0, "main fake stopped cleanly by SIGTERM")
        errs = open(f.err.name).read()
        check(errs == "", "nothing on the fake's stderr", errs[-2000:])
        try:
            test_cli()
        except Exception:
            check(False, "test_cli", traceback.format_exc())
    finally:
        stop_all()
    return summary(t0, TMP)


if __name__ == "__main__":
    sys.exit(main())
