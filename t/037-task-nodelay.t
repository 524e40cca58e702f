#!/usr/bin/env python3
#
# t/037-task-nodelay.t -- a task's body goes to its worker at once: the
# body is read before a worker is reserved, so nginx counts it as
# buffered and would send it with Nagle's algorithm on; a body past
# client_body_buffer_size (a turn with audio in base64) goes out of its
# temporary file in several writes, and the last one waited for the
# worker's delayed ACK (40 ms) on every such turn (core/ngx_voicegw_http.c,
# docs/directives.md "voicegw_task").  Seen with HTTP/1.1 to the worker
# (Connection ""), as a pool with "keepalive" is configured; the shipped
# configuration's "Connection: close" did not show it (t/033).

import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "support"))
from vgtest import (FakeWorker, Nginx, free_port, is_, ok, request,  # noqa
                    tap, wait_for, workdir)

d = workdir("037-task-nodelay")
port = free_port()
W = FakeWorker(d, args=["--chat-ms", "5"]).start()

CONF = """
    voicegw_zone vg_nodelay 1m;
    upstream minicpmo {
        voicegw_pool queue=10 queue_timeout=5s health_interval=1s;
        server 127.0.0.1:%(w)d;
        keepalive 4;
    }
    server {
        listen 127.0.0.1:%(port)d;
        location = /api/chat {
            voicegw_task chat;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://minicpmo/chat;
        }
        location / { voicegw_api; }
    }
""" % {"w": W.port, "port": port}

ngx = Nginx(os.path.join(d, "nginx"), CONF, workers=1).start(
    wait_ports=[port])


def idle():
    r = request("GET", port, "/status")
    return r.status == 200 and (r.json() or {}).get("idle_workers") == 1


audio = {"messages": [{"role": "user", "content": [
    {"type": "audio", "data": "UklGRg" + "A" * 60000}]}]}
short = {"messages": [{"role": "user", "content": "hello"}]}
times = {"audio": [], "short": []}
digests = set()
for i in range(10):
    for what, body in (("audio", audio), ("short", short)):
        wait_for(idle, timeout=3)
        t0 = time.monotonic()
        r = request("POST", port, "/api/chat", body=body)
        times[what].append((time.monotonic() - t0) * 1000)
        if r.status != 200:
            break
        if what == "audio":
            digests.add((r.json() or {}).get("body_sha256"))
is_(r.status, 200, "10 turns with 60 KB of audio and 10 short ones, "
    "alternating")
is_(digests, {hashlib.sha256(json.dumps(audio).encode()).hexdigest()},
    "the 60 KB turns reach the worker unchanged")
mid = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
ok(mid["audio"] - mid["short"] < 25,
   "a 60 KB turn waits for no delayed ACK: median %.1f ms against %.1f ms "
   "for a short one" % (mid["audio"], mid["short"]))

ngx.stop()
W.stop()
sys.exit(tap.done())
