#!/usr/bin/env python3
"""
bench/stopwatch_worker.py -- a minimal inference worker for benchmarks whose
bookkeeping is exact: one thread, one event loop (selectors), so that "the
task ended" is recorded in the same step that writes the answer, before any
other request is looked at.  t/support/fake_worker.py runs a thread per
connection, and its time stamps are taken by threads that wait for the GIL
(they can be late by milliseconds when many connections are busy).  Here an
overlap can only be a second task that really arrived while one was
running, and the times of the grant benchmark are exact to the event loop.

    python3 bench/stopwatch_worker.py --port P [--task-ms N] [--pidfile F]

GET /health        {"worker_status":"idle"|"busy_chat"}   (not a task)
POST /chat         a task: waits _task_ms of the JSON body (else --task-ms),
                   answers {"ok":true,...} with Content-Length; HTTP/1.0 or
                   "Connection: close" closes after the answer
GET /_stats        {"served","overlaps","max_concurrent","running",
                    "tasks":[{"start","end","headers"},...]}  (unix times;
                    the request's X-* headers; the last 10000 tasks)
POST /_reset       zeroes the counters and the task list
"""

import argparse
import heapq
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections import deque


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.close_after = False
        self.busy = False          # a task of this connection is running


class Worker:
    def __init__(self, port, task_ms):
        self.task_ms = task_ms
        self.sel = selectors.DefaultSelector()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(1024)
        self.ls.setblocking(False)
        self.sel.register(self.ls, selectors.EVENT_READ, None)
        self.timers = []           # (due, seq, conn, start)
        self.seq = 0
        self.reset()

    def reset(self):
        self.served = 0
        self.overlaps = 0
        self.max_concurrent = 0
        self.running = 0
        self.tasks = deque(maxlen=10000)

    def run(self):
        while True:
            timeout = None
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, ev in self.sel.select(timeout):
                if key.data is None:
                    self.accept()
                else:
                    self.io(key.data, ev)
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, c, task = heapq.heappop(self.timers)
                self.finish(c, task)

    def accept(self):
        while True:
            try:
                s, _ = self.ls.accept()
            except BlockingIOError:
                return
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(s)
            self.sel.register(s, selectors.EVENT_READ, c)

    def io(self, c, ev):
        if ev & selectors.EVENT_WRITE:
            self.flush(c)
            return
        try:
            data = c.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self.drop(c)
            return
        c.buf += data
        self.parse(c)

    def parse(self, c):
        while not c.busy:
            head, sep, rest = c.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = (lines[0].split(" ") + ["", ""])[:3]
            hdrs = {}
            for l in lines[1:]:
                k, _, v = l.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0") or 0)
            if len(rest) < n:
                return
            body, c.buf = rest[:n], rest[n:]
            conn_hdr = hdrs.get("connection", "").lower()
            c.close_after = (version == "HTTP/1.0"
                             and conn_hdr != "keep-alive") \
                or conn_hdr == "close"
            path = target.split("?")[0]
            if method == "POST" and path == "/chat":
                self.begin(c, body, {k: v for k, v in hdrs.items()
                                     if k.startswith("x-")})
            elif path == "/health":
                self.answer(c, 200, {"status": "healthy", "worker_status":
                                     "busy_chat" if self.running else "idle"})
            elif path == "/_stats":
                self.answer(c, 200, {
                    "served": self.served, "overlaps": self.overlaps,
                    "max_concurrent": self.max_concurrent,
                    "running": self.running, "tasks": list(self.tasks)})
            elif path == "/_reset":
                self.reset()
                self.answer(c, 200, {"reset": True})
            else:
                self.answer(c, 404, {"detail": "Not Found"})

    def begin(self, c, body, xh):
        start = time.time()
        if self.running:
            self.overlaps += 1
        self.running += 1
        self.served += 1
        self.max_concurrent = max(self.max_concurrent, self.running)
        c.busy = True
        ms = self.task_ms
        try:
            ms = float(json.loads(body or b"{}").get("_task_ms", ms))
        except (ValueError, AttributeError):
            pass
        self.seq += 1
        heapq.heappush(self.timers, (time.monotonic() + ms / 1000.0,
                                     self.seq, c, (start, xh)))

    def finish(self, c, task):
        if not c.busy:                 # the client went away meanwhile
            return
        c.busy = False
        self.answer(c, 200, {"ok": True, "text": "stopwatch reply"})
        # the answer is written (or queued): the task has ended
        self.running -= 1
        self.tasks.append({"start": task[0], "end": time.time(),
                           "headers": task[1]})
        self.parse(c)

    def answer(self, c, status, obj):
        body = json.dumps(obj, separators=(",", ":")).encode()
        c.out += (("HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\nConnection: %s\r\n\r\n")
                  % (status, len(body),
                     "close" if c.close_after else "keep-alive")).encode() \
            + body
        self.flush(c)

    def flush(self, c):
        try:
            n = c.sock.send(c.out)
        except BlockingIOError:
            n = 0
        except OSError:
            self.drop(c)
            return
        c.out = c.out[n:]
        if c.out:
            self.sel.modify(c.sock, selectors.EVENT_READ |
                            selectors.EVENT_WRITE, c)
            return
        try:
            self.sel.modify(c.sock, selectors.EVENT_READ, c)
        except (KeyError, ValueError):
            return
        if c.close_after and not c.busy:
            self.drop(c)

    def drop(self, c):
        if c.busy:                     # aborted: it ends now
            c.busy = False
            self.running -= 1
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--task-ms", type=float, default=0.0)
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    w = Worker(a.port, a.task_ms)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if a.pidfile:
        tmp = a.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.rename(tmp, a.pidfile)
    w.run()


if __name__ == "__main__":
    main()
